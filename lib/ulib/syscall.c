/*
 * Typed wrappers for the native system calls of abi/alder/syscall.h. Each is
 * one raw call; argument checking is the kernel's job (the tests rely on
 * these passing bad values through unchanged). The calls that must not
 * return trap if the kernel returns anyway, so a broken kernel shows up as a
 * #UD fault rather than as silently continuing.
 */
#include <ulib.h>

long sys_log(const char *buf, size_t len)
{
	return u_syscall2(SYS_LOG, (uint64_t)(uintptr_t)buf, len);
}

noreturn void sys_exit(int status)
{
	/* The kernel takes an int: pass it sign-extended, as C would. */
	u_syscall1(SYS_EXIT, (uint64_t)(int64_t)status);
	__builtin_trap();
}

long sys_yield(void)
{
	return u_syscall0(SYS_YIELD);
}

long sys_sleep(uint64_t ns)
{
	return u_syscall1(SYS_SLEEP, ns);
}

long sys_clock(uint64_t *ns_out)
{
	return u_syscall1(SYS_CLOCK, (uint64_t)(uintptr_t)ns_out);
}

long sys_spawn(const char *path, size_t path_len, const char *arg, size_t arg_len)
{
	return u_syscall5(SYS_SPAWN, (uint64_t)(uintptr_t)path, path_len, (uint64_t)(uintptr_t)arg, arg_len, 0);
}

long sys_spawn_with(const char *path, size_t path_len, const char *arg, size_t arg_len, alder_handle_t give)
{
	return u_syscall5(SYS_SPAWN, (uint64_t)(uintptr_t)path, path_len, (uint64_t)(uintptr_t)arg, arg_len,
			  (uint64_t)(int64_t)give);
}

long sys_wait(long pid, struct alder_exit_info *info)
{
	return u_syscall2(SYS_WAIT, (uint64_t)pid, (uint64_t)(uintptr_t)info);
}

long sys_info(unsigned what, uint64_t *out)
{
	return u_syscall2(SYS_INFO, what, (uint64_t)(uintptr_t)out);
}

long sys_thread_create(void (*entry)(void *), void *arg, void *stack_top)
{
	return u_syscall3(SYS_THREAD_CREATE, (uint64_t)(uintptr_t)entry, (uint64_t)(uintptr_t)arg,
			  (uint64_t)(uintptr_t)stack_top);
}

noreturn void sys_thread_exit(void)
{
	u_syscall0(SYS_THREAD_EXIT);
	__builtin_trap();
}

long sys_shutdown(unsigned code)
{
	return u_syscall1(SYS_SHUTDOWN, code);
}

long sys_console_read(char *buf, size_t len)
{
	return u_syscall2(SYS_CONSOLE_READ, (uint64_t)(uintptr_t)buf, len);
}
