/*
 * Native system calls (abi/alder/syscall.h). Each handler validates every
 * argument before acting; user memory is touched only through uaccess.
 * An unknown system call number kills the process (there is no supervisor
 * to reflect it to yet).
 */
#include <kern/assert.h>
#include <kern/clock.h>
#include <kern/cpu.h>
#include <kern/heap.h>
#include <kern/object.h>
#include <kern/observe.h>
#include <alder/thread.h>
#include <kern/string.h>
#include <kern/syscall.h>
#include <kern/linux_shim.h>
#include <kern/log.h>
#include <kern/pmm.h>
#include <kern/process.h>
#include <kern/thread.h>
#include <kern/uaccess.h>
#include <alder/errno.h>
#include <alder/syscall.h>
#include <arch/apic.h>
#include <arch/cpu.h>
#include <arch/paging.h>
#include <arch/trap.h>

#define LOG_MAX (64 * 1024)
#define PATH_MAX_LEN 255
#define ARG_MAX_LEN 4000

void syscall_dispatch(struct trap_frame *f);
void trap_user_return(struct trap_frame *f);

uint32_t boot_flags;

/* All or nothing: the whole buffer is checked readable before any of it
 * reaches the log, so a bad pointer leaves no partial line behind. */
static long sys_log(uint64_t ubuf, uint64_t len)
{
	if (len > LOG_MAX)
		return -ALDER_EINVAL;
	if (!uaccess_range_ok(ubuf, len))
		return -ALDER_EFAULT;
	char chunk[256];
	for (int pass = 0; pass < 2; pass++) {
		for (uint64_t done = 0; done < len;) {
			size_t n = MIN(sizeof(chunk), len - done);
			if (copy_from_user(chunk, ubuf + done, n))
				return -ALDER_EFAULT;
			if (pass == 1)
				klog_write(chunk, n);
			done += n;
		}
	}
	return (long)len;
}

static long sys_sleep(uint64_t ns)
{
	uint64_t now = clock_ns();
	if (ns > UINT64_MAX - now)
		return -ALDER_EINVAL;
	if (ns == 0) {
		sched_yield();
		return 0;
	}
	return thread_sleep_until(now + ns);
}

static long copy_string_arg(uint64_t uptr, uint64_t len, size_t max, char *out, long toolong)
{
	if (len > max)
		return toolong;
	if (copy_from_user(out, uptr, len))
		return -ALDER_EFAULT;
	out[len] = 0;
	if (strnlen(out, len) != len)
		return -ALDER_EINVAL; /* embedded NUL */
	return 0;
}

static long sys_spawn(uint64_t upath, uint64_t path_len, uint64_t uarg, uint64_t arg_len, uint64_t give_h)
{
	char path[PATH_MAX_LEN + 1];
	if (path_len == 0)
		return -ALDER_EINVAL;
	long r = copy_string_arg(upath, path_len, PATH_MAX_LEN, path, -ALDER_ENAMETOOLONG);
	if (r)
		return r;
	if (arg_len > ARG_MAX_LEN)
		return -ALDER_E2BIG;
	char *arg = kmalloc(arg_len + 1);
	if (!arg)
		return -ALDER_ENOMEM;
	r = copy_string_arg(uarg, arg_len, ARG_MAX_LEN, arg, -ALDER_E2BIG);
	struct process *me = thread_current()->proc;
	struct kobj *give = NULL;
	uint32_t rights = 0;
	if (!r && give_h) {
		if ((int64_t)give_h <= 0 || (int64_t)give_h > INT32_MAX)
			r = -ALDER_EBADF;
		else
			r = handle_get(&me->handles, (alder_handle_t)give_h, 0, ALDER_RIGHT_TRANSFER, &give, &rights);
	}
	if (!r)
		r = process_spawn(path, arg, arg_len, me->pid, give, rights);
	if (give)
		kobj_put(give);
	kfree(arg);
	return r;
}

static long sys_wait(int64_t pid, uint64_t uinfo)
{
	if (!uaccess_range_ok(uinfo, sizeof(struct alder_exit_info)))
		return -ALDER_EFAULT;
	if (pid <= 0 || pid > UINT32_MAX)
		return -ALDER_ECHILD;
	struct alder_exit_info info;
	long r = process_wait((uint32_t)pid, &info);
	if (r < 0)
		return r;
	if (copy_to_user(uinfo, &info, sizeof(info)))
		return -ALDER_EFAULT;
	return r;
}

static long sys_info(uint64_t what, uint64_t uout)
{
	uint64_t v;
	switch (what) {
	case ALDER_INFO_CPU_ID:
		v = this_cpu()->id;
		break;
	case ALDER_INFO_CPU_COUNT:
		v = cpu_count;
		break;
	case ALDER_INFO_FREE_FRAMES:
		v = pmm_free_frames();
		break;
	case ALDER_INFO_PEAK_KIB:
		v = pmm_peak_used_frames() * (PAGE_SIZE / 1024);
		break;
	case ALDER_INFO_TSC:
		v = rdtsc();
		break;
	case ALDER_INFO_BOOT_FLAGS:
		v = boot_flags;
		break;
	case ALDER_INFO_LIVE_OBJECTS:
		v = 0;
		for (uint32_t type = 0; type < 16; type++)
			v += kobj_live(type);
		break;
	case ALDER_INFO_HEAP_BYTES: {
		struct heap_stats hs;
		heap_get_stats(&hs);
		v = hs.bytes_in_use;
		break;
	}
	default:
		return -ALDER_EINVAL;
	}
	return copy_to_user(uout, &v, sizeof(v));
}

static long sys_thread_create(uint64_t entry, uint64_t arg, uint64_t stack_top)
{
	if (entry < PAGE_SIZE || entry >= USER_TOP)
		return -ALDER_EFAULT;
	if (stack_top <= PAGE_SIZE || stack_top > USER_TOP)
		return -ALDER_EFAULT;
	if (stack_top & 15)
		return -ALDER_EINVAL;
	struct process *p = thread_current()->proc;
	return process_add_thread(p, entry, stack_top - 8, arg);
}

static long sys_console_read(uint64_t ubuf, uint64_t len)
{
	char buf[128];
	if (!uaccess_range_ok(ubuf, len))
		return -ALDER_EFAULT;
	if (len == 0)
		return 0;
	long n = console_read(buf, MIN(len, sizeof(buf)));
	if (n > 0 && copy_to_user(ubuf, buf, (size_t)n))
		return -ALDER_EFAULT;
	return n;
}

static long sys_log_fn(uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5)
{
	return sys_log(a0, a1);
}

static long sys_exit_fn(uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5)
{
	process_exit(ALDER_EXIT_NORMAL, (int)a0, 0);
}

static long sys_yield_fn(uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5)
{
	sched_yield();
	return 0;
}

static long sys_sleep_fn(uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5)
{
	return sys_sleep(a0);
}

static long sys_clock_fn(uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5)
{
	uint64_t now = clock_ns();
	return copy_to_user(a0, &now, sizeof(now));
}

static long sys_spawn_fn(uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5)
{
	return sys_spawn(a0, a1, a2, a3, a4);
}

static long sys_wait_fn(uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5)
{
	return sys_wait((int64_t)a0, a1);
}

static long sys_info_fn(uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5)
{
	return sys_info(a0, a1);
}

static long sys_thread_create_fn(uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5)
{
	return sys_thread_create(a0, a1, a2);
}

static long sys_thread_exit_fn(uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5)
{
	thread_exit();
}

static long sys_shutdown_fn(uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5)
{
	struct thread *t = thread_current();
	if (!t->proc || t->proc->pid != 1)
		return -ALDER_EPERM;
	log_info("shutdown requested by %s (code %lu)", t->proc->name, a0);
	arch_shutdown((unsigned)a0);
}

static long sys_console_read_fn(uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5)
{
	return sys_console_read(a0, a1);
}

SYSCALL_REGISTER(SYS_LOG, sys_log_fn);
SYSCALL_REGISTER(SYS_EXIT, sys_exit_fn);
SYSCALL_REGISTER(SYS_YIELD, sys_yield_fn);
SYSCALL_REGISTER(SYS_SLEEP, sys_sleep_fn);
SYSCALL_REGISTER(SYS_CLOCK, sys_clock_fn);
SYSCALL_REGISTER(SYS_SPAWN, sys_spawn_fn);
SYSCALL_REGISTER(SYS_WAIT, sys_wait_fn);
SYSCALL_REGISTER(SYS_INFO, sys_info_fn);
SYSCALL_REGISTER(SYS_THREAD_CREATE, sys_thread_create_fn);
SYSCALL_REGISTER(SYS_THREAD_EXIT, sys_thread_exit_fn);
SYSCALL_REGISTER(SYS_SHUTDOWN, sys_shutdown_fn);
SYSCALL_REGISTER(SYS_CONSOLE_READ, sys_console_read_fn);

extern const struct syscall_entry __syscalls_start[], __syscalls_end[];
static syscall_fn syscall_table[SYS_NATIVE_COUNT];

/* The handler of numbers in the ABI that nothing registered. */
static long sys_nosys(uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5)
{
	return -ALDER_ENOSYS;
}

/* Fills every entry, so that dispatch calls without a NULL test. */
void syscall_table_init(void)
{
	for (const struct syscall_entry *e = __syscalls_start; e < __syscalls_end; e++) {
		if (e->nr >= SYS_NATIVE_COUNT || syscall_table[e->nr])
			panic("system call %u registered twice or out of range", e->nr);
		syscall_table[e->nr] = e->fn;
	}
	for (uint32_t i = 0; i < SYS_NATIVE_COUNT; i++)
		if (!syscall_table[i])
			syscall_table[i] = sys_nosys;
}


/* A number outside the native table: the supervisor's, the Linux shim's,
 * or a bad one. Out of line, so that the native path stays short. */
static __attribute__((noinline)) void syscall_foreign(struct trap_frame *f)
{
	struct thread *t = thread_current();
	uint64_t nr = f->rax;
	if (observe_supervised()) {
		/* The supervisor answers: it sets rax and resumes us. */
		observe_stop(ALDER_OBS_SYSCALL, (uint32_t)nr, 0);
	} else if (linux_shim_dispatch(f)) {
		/* the shim set f->rax */
	} else {
		log_warn("bad system call 0x%lx from process %u (%s) at rip %lx; killed", nr,
			 t->proc ? t->proc->pid : 0, t->proc ? t->proc->name : "?", f->rip);
		process_exit(ALDER_EXIT_BADSYS, (int)nr, 0);
	}
}

/* From syscall.S, interrupts on; returns with them off (syscall.S leaves
 * by SYSRET or IRET at once). */
void syscall_dispatch(struct trap_frame *f)
{
	uint64_t i = f->rax - ALDER_SYS_BASE; /* below the base wraps: out of range */
	if (likely(i < SYS_NATIVE_COUNT)) {
		f->rax = (uint64_t)syscall_table[i](f->rdi, f->rsi, f->rdx, f->r10, f->r8, f->r9);
	} else {
		syscall_foreign(f);
	}
	irq_disable();
	trap_user_return(f);
}
