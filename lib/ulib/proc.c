/*
 * Conveniences built on the raw wrappers: one-value sys_info, the clock,
 * run-a-child-and-wait, thread start with a trampoline, and names for
 * errno values, exception vectors and exit reasons. Policy-free: callers
 * decide what a failure means.
 */
#include <ulib.h>
#include <alder/thread.h>

uint64_t u_info(unsigned what, uint64_t fallback)
{
	uint64_t v;

	return sys_info(what, &v) == 0 ? v : fallback;
}

uint64_t u_now_ns(void)
{
	uint64_t ns;

	return sys_clock(&ns) == 0 ? ns : 0;
}

long u_run(const char *path, const char *arg, struct alder_exit_info *info, const char **failed_call)
{
	long pid = sys_spawn(path, strlen(path), arg, strlen(arg));

	if (pid < 0) {
		if (failed_call != NULL)
			*failed_call = "spawn";
		return pid;
	}
	long r = sys_wait(pid, info);
	if (r < 0) {
		if (failed_call != NULL)
			*failed_call = "wait";
		return r;
	}
	return 0;
}

/* Start-up block the trampoline reads; lives at the top of the new stack. */
struct u_thread_block {
	void (*fn)(void *);
	void *arg;
};
_Static_assert(sizeof(struct u_thread_block) == 16, "crt0.S reads fn at 0, arg at 8");

/* The start-up block at the top of [stack, stack + size), or NULL when
 * the stack is too small. */
static struct u_thread_block *thread_block(void (*fn)(void *), void *arg, void *stack, size_t size)
{
	uintptr_t top = ((uintptr_t)stack + size) & ~(uintptr_t)15;

	if (size < 256 || top - sizeof(struct u_thread_block) < (uintptr_t)stack)
		return NULL;
	top -= sizeof(struct u_thread_block);
	struct u_thread_block *b = (struct u_thread_block *)top;
	b->fn = fn;
	b->arg = arg;
	return b;
}

long u_thread_start(void (*fn)(void *), void *arg, void *stack, size_t size)
{
	struct u_thread_block *b = thread_block(fn, arg, stack, size);

	if (!b)
		return -ALDER_EINVAL;
	/* The new thread reads the block after sys_thread_create's kernel entry,
	 * which orders these stores before it. */
	return sys_thread_create(u_thread_entry, b, b);
}

long u_thread_start_handle(void (*fn)(void *), void *arg, void *stack, size_t size)
{
	struct u_thread_block *b = thread_block(fn, arg, stack, size);

	if (!b)
		return -ALDER_EINVAL;
	long h = u_syscall5(SYS_THREAD_NEW, (uint64_t)ALDER_HANDLE_SELF_SPACE, (uint64_t)(uintptr_t)u_thread_entry,
			    (uint64_t)(uintptr_t)b, (uint64_t)(uintptr_t)b, 0);
	if (h < 0)
		return h;
	long r = u_syscall3(SYS_THREAD_CTL, (uint64_t)h, ALDER_THREAD_START, 0);
	if (r < 0) {
		(void)u_syscall1(SYS_HANDLE_CLOSE, (uint64_t)h);
		return r;
	}
	return h;
}

const char *u_errname(long err)
{
	static const struct {
		int num;
		const char *name;
	} names[] = {
	    {ALDER_EPERM, "EPERM"},
	    {ALDER_ENOENT, "ENOENT"},
	    {ALDER_ESRCH, "ESRCH"},
	    {ALDER_EINTR, "EINTR"},
	    {ALDER_EIO, "EIO"},
	    {ALDER_E2BIG, "E2BIG"},
	    {ALDER_ENOEXEC, "ENOEXEC"},
	    {ALDER_EBADF, "EBADF"},
	    {ALDER_ECHILD, "ECHILD"},
	    {ALDER_EAGAIN, "EAGAIN"},
	    {ALDER_ENOMEM, "ENOMEM"},
	    {ALDER_EACCES, "EACCES"},
	    {ALDER_EFAULT, "EFAULT"},
	    {ALDER_EBUSY, "EBUSY"},
	    {ALDER_EEXIST, "EEXIST"},
	    {ALDER_EINVAL, "EINVAL"},
	    {ALDER_ENOSPC, "ENOSPC"},
	    {ALDER_ERANGE, "ERANGE"},
	    {ALDER_ENAMETOOLONG, "ENAMETOOLONG"},
	    {ALDER_ENOSYS, "ENOSYS"},
	    {ALDER_EMLINK, "EMLINK"},
	    {ALDER_EPIPE, "EPIPE"},
	    {ALDER_ENOTTY, "ENOTTY"},
	    {ALDER_EOVERFLOW, "EOVERFLOW"},
	    {ALDER_EBADFD, "EBADFD"},
	    {ALDER_EMFILE, "EMFILE"},
	    {ALDER_EPROTO, "EPROTO"},
	    {ALDER_EMSGSIZE, "EMSGSIZE"},
	    {ALDER_EBADMSG, "EBADMSG"},
	    {ALDER_ENOTSUP, "ENOTSUP"},
	    {ALDER_ETIMEDOUT, "ETIMEDOUT"},
	    {ALDER_ECANCELED, "ECANCELED"},
	};

	if (err < 0)
		err = -err;
	for (size_t i = 0; i < U_ARRAY_SIZE(names); i++) {
		if (names[i].num == err)
			return names[i].name;
	}
	return "E?";
}

const char *u_vector_name(int vector)
{
	static const char *const names[] = {
	    "#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "#CSO", "#TS",
	    "#NP", "#SS", "#GP", "#PF", "#15", "#MF", "#AC", "#MC", "#XM", "#VE",  "#CP",
	};

	if (vector >= 0 && (size_t)vector < U_ARRAY_SIZE(names))
		return names[vector];
	return "#?";
}

int u_format_exit(char *buf, size_t size, const struct alder_exit_info *info)
{
	switch (info->how) {
	case ALDER_EXIT_NORMAL:
		return u_snprintf(buf, size, "exit status %d", info->status);
	case ALDER_EXIT_FAULT:
		return u_snprintf(buf, size, "fault %s (vector %d) at 0x%llx", u_vector_name(info->status),
				  info->status, info->fault_addr);
	case ALDER_EXIT_BADSYS:
		return u_snprintf(buf, size, "killed for a bad system call (status %d)", info->status);
	default:
		return u_snprintf(buf, size, "unknown end (how %d, status %d, addr 0x%llx)", info->how,
				  info->status, info->fault_addr);
	}
}
