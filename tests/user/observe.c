/*
 * Supervision: a process runs a supervised child in a space it built by
 * hand, observes the child's foreign system calls and faults through a
 * queue, reads and writes its registers, answers the calls, resumes and
 * finally kills it. Also the error paths of the thread-control calls.
 */
#include <ulib.h>
#include <umem.h>
#include <uqueue.h>
#include <uthread.h>
#include <utest.h>
#include <alder/memory.h>

#define CODE 0x10000ull
#define STACK_TOP 0x30000ull

/* mov $39,%eax; syscall; mov %rax,%rdi; ud2; mov $60,%eax; syscall; jmp . */
static const uint8_t child_code[] = {
	0xb8, 0x27, 0x00, 0x00, 0x00, 0x0f, 0x05, 0x48, 0x89, 0xc7, 0x0f, 0x0b,
	0xb8, 0x3c, 0x00, 0x00, 0x00, 0x0f, 0x05, 0xeb, 0xfe,
};

static struct u_queue q;

static struct alder_cqe observe(alder_handle_t thread, uint64_t ctx)
{
	struct alder_sqe sqe = { .op = ALDER_OP_OBSERVE, .handle = thread, .context = ctx };
	struct alder_cqe cqe = { 0 };
	CHECK(u_queue_push(&q, &sqe) == 0);
	CHECK(u_queue_enter(q.handle, 1, 1, 5000000000ull) == 1);
	CHECK(u_queue_pop(&q, &cqe));
	CHECK(cqe.context == ctx);
	return cqe;
}

static struct alder_regs regs;

int main(const char *arg, size_t len)
{
	CHECK(u_queue_init(&q, 8, 8) == 0);

	/* A space with the child's code and a stack. */
	long space = u_space_create();
	CHECK(space > 0);
	long code = u_mem_create(4096, 0), stack = u_mem_create(0x10000, 0);
	CHECK(code > 0 && stack > 0);
	CHECK(u_space_map(space, code, 0, CODE, 4096, ALDER_PROT_READ | ALDER_PROT_EXEC) == (long)CODE);
	CHECK(u_space_map(space, stack, 0, STACK_TOP - 0x10000, 0x10000, ALDER_PROT_READ | ALDER_PROT_WRITE) ==
	      (long)(STACK_TOP - 0x10000));
	/* The code mapping is read-only for the child: SPACE_RW honours that.
	 * Load the code through a writable mapping of our own instead. */
	CHECK(u_syscall5(SYS_SPACE_RW, space, CODE, (uint64_t)child_code, sizeof(child_code), 1) == -ALDER_EFAULT);
	long at = u_space_map(ALDER_HANDLE_SELF_SPACE, code, 0, 0, 4096, ALDER_PROT_READ | ALDER_PROT_WRITE);
	CHECK(at > 0);
	memcpy((void *)at, child_code, sizeof(child_code));
	CHECK(u_space_unmap(ALDER_HANDLE_SELF_SPACE, (uint64_t)at, 4096) == 0);
	uint8_t back[sizeof(child_code)];
	CHECK(u_syscall5(SYS_SPACE_RW, space, CODE, (uint64_t)back, sizeof(back), 0) == 0);
	CHECK(memcmp(back, child_code, sizeof(back)) == 0);

	long t = u_thread_new(space, CODE, STACK_TOP - 16, 0, ALDER_THREAD_SUPERVISED);
	CHECK(t > 0);
	/* Created stopped: registers readable, RESUME refused, START once. */
	CHECK(u_thread_regs(t, &regs, 0) == 0);
	CHECK(regs.rip == CODE && regs.rsp == STACK_TOP - 16);
	CHECK(u_thread_ctl(t, ALDER_THREAD_RESUME, 0) == -ALDER_EBUSY);
	CHECK(u_thread_ctl(t, 99, 0) == -ALDER_EINVAL);
	long pid = u_thread_ctl(t, ALDER_THREAD_GETPID, 0);
	CHECK(pid > 0);
	CHECK(u_thread_ctl(t, ALDER_THREAD_START, 0) == 0);
	CHECK(u_thread_ctl(t, ALDER_THREAD_START, 0) == -ALDER_EBUSY);

	/* 1. Linux getpid (39): observed, answered with 4242. */
	struct alder_cqe c = observe(t, 1);
	CHECK(c.result == ALDER_OBS_SYSCALL && c.aux[0] == 39);
	CHECK(u_thread_regs(t, &regs, 0) == 0);
	CHECK(regs.rax == 39 && regs.rip == CODE + 7);
	regs.rax = 4242;
	CHECK(u_thread_regs(t, &regs, 1) == 0);
	/* A bad register write changes nothing. */
	struct alder_regs bad = regs;
	bad.rip = 0xffff800000000000ull;
	CHECK(u_thread_regs(t, &bad, 1) == -ALDER_EINVAL);
	CHECK(u_thread_regs(t, (struct alder_regs *)0xffffffff80000000ull, 0) == -ALDER_EFAULT);
	CHECK(u_thread_ctl(t, ALDER_THREAD_RESUME, 0) == 0);

	/* 2. ud2: a fault observation; skip the instruction and resume. */
	c = observe(t, 2);
	CHECK(c.result == ALDER_OBS_FAULT && c.aux[0] == 6);
	CHECK(u_thread_regs(t, &regs, 0) == 0);
	CHECK(regs.rip == CODE + 10 && regs.rdi == 4242);
	regs.rip += 2;
	CHECK(u_thread_regs(t, &regs, 1) == 0);
	CHECK(u_thread_ctl(t, ALDER_THREAD_RESUME, 0) == 0);

	/* 3. exit (60) with our answer as its argument. */
	c = observe(t, 3);
	CHECK(c.result == ALDER_OBS_SYSCALL && c.aux[0] == 60);
	CHECK(u_thread_regs(t, &regs, 0) == 0);
	CHECK(regs.rdi == 4242);
	/* Running threads' registers are not readable; kill ends it all. */
	CHECK(u_thread_ctl(t, ALDER_THREAD_KILL, 0) == 0);
	struct alder_exit_info info;
	CHECK(sys_wait(pid, &info) == pid);
	CHECK(info.how == ALDER_EXIT_KILLED);
	CHECK(u_thread_ctl(t, ALDER_THREAD_RESUME, 0) == -ALDER_ESRCH);

	/* Wrong handles. */
	CHECK(u_thread_ctl(q.handle, ALDER_THREAD_START, 0) == -ALDER_EBADFD);
	CHECK(u_thread_ctl(0, ALDER_THREAD_START, 0) == -ALDER_EBADF);
	CHECK(u_thread_new(code, CODE, STACK_TOP, 0, 0) == -ALDER_EBADFD);
	CHECK(u_thread_new(space, 0xffffffff80000000ull, STACK_TOP, 0, 0) == -ALDER_EFAULT);
	CHECK(u_thread_new(space, CODE, STACK_TOP, 0, 0x80) == -ALDER_EINVAL);

	/* An unsupervised thread cannot be observed by us. */
	long t2 = u_thread_new(space, CODE, STACK_TOP - 16, 0, ALDER_THREAD_NEW_PROCESS);
	CHECK(t2 > 0);
	long pid2 = u_thread_ctl(t2, ALDER_THREAD_GETPID, 0);
	CHECK(pid2 > 0 && pid2 != pid);
	c = observe(t2, 4);
	CHECK(c.result == -ALDER_EPERM);
	/* Never started, killed: it still ends, and its parent can wait. */
	CHECK(u_thread_ctl(t2, ALDER_THREAD_KILL, 0) == 0);
	CHECK(sys_wait(pid2, &info) == pid2);
	CHECK(info.how == ALDER_EXIT_KILLED);
	CHECK(u_thread_ctl(t2, ALDER_THREAD_GETPID, 0) == pid2); /* kept after the end */
	CHECK(u_thread_ctl(t2, ALDER_THREAD_START, 0) == -ALDER_ESRCH);

	CHECK(u_handle_close(t) == 0);
	CHECK(u_handle_close(t2) == 0);
	u_printf("observe: ok\n");
	return 0;
}
