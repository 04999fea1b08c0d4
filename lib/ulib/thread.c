/* Thread-control wrappers (uthread.h). */
#include <ulib.h>
#include <uthread.h>

long u_thread_new(alder_handle_t space, uint64_t entry, uint64_t stack, uint64_t arg, uint32_t flags)
{
	return u_syscall5(SYS_THREAD_NEW, (uint64_t)(int64_t)space, entry, stack, arg, flags);
}

long u_thread_ctl(alder_handle_t thread, uint32_t op, uint64_t arg)
{
	return u_syscall3(SYS_THREAD_CTL, (uint64_t)(int64_t)thread, op, arg);
}

long u_thread_regs(alder_handle_t thread, struct alder_regs *regs, int write)
{
	return u_syscall3(SYS_THREAD_REGS, (uint64_t)(int64_t)thread, (uint64_t)regs, (uint64_t)write);
}
