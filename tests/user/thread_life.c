/*
 * thread_life: how long a thread made by SYS_THREAD_NEW lives, and what
 * its handle still answers (abi/alder/thread.h). The argument picks a case:
 *   "drop_self"   never-started threads of our own process whose last
 *                 handle is closed end: ROUNDS of them, then the live
 *                 objects and free frames are back where they were; a
 *                 thread with a second handle is not ended by closing one
 *   "drop_child"  the same for new processes (NEW_PROCESS in our space,
 *                 SUPERVISED in a space of their own): more of them than
 *                 the process table has slots, so a slot kept per dropped
 *                 child makes THREAD_NEW fail
 *   "drop_observe" an OBSERVE in flight keeps a dropped thread: no EXITED
 *                 while it waits; cancelling it lets the thread go
 *   "emfile"      THREAD_NEW with a full handle table fails with -EMFILE
 *                 and leaves nothing behind (it used to kill the caller)
 *   "pid"         ALDER_THREAD_GETPID still answers after the thread
 *                 ended, so a parent can wait for the pid it learns late
 * Exits 0 if every check passed.
 */
#include <umem.h>
#include <uqueue.h>
#include <uthread.h>
#include <utest.h>

#define SELF ALDER_HANDLE_SELF_SPACE
#define ROUNDS 300 /* more than the kernel's process table (256) */
#define STACK_SIZE 4096

_Static_assert(SYS_THREAD_EXIT == 0x40000009 && SYS_EXIT == 0x40000001, "the stubs hard-code the numbers");

/* Code for threads we start without a C entry: end the thread, or end the
 * process with status 7. No stack use. */
void tl_thread_exit_stub(void);
void tl_exit7_stub(void);
__asm__(".text\n"
	".globl tl_thread_exit_stub\n"
	"tl_thread_exit_stub:\n"
	"\tmovl $0x40000009, %eax\n"
	"\tsyscall\n"
	"\tud2\n"
	".globl tl_exit7_stub\n"
	"tl_exit7_stub:\n"
	"\tmovl $7, %edi\n"
	"\tmovl $0x40000001, %eax\n"
	"\tsyscall\n"
	"\tud2\n");
#define THREAD_EXIT_STUB ((uint64_t)(uintptr_t)tl_thread_exit_stub)
#define EXIT7_STUB ((uint64_t)(uintptr_t)tl_exit7_stub)

static uint8_t stack[STACK_SIZE] __attribute__((aligned(16)));
#define STACK_TOP ((uint64_t)(uintptr_t)(stack + STACK_SIZE))

static struct alder_regs regs;

static uint64_t free_frames(void)
{
	uint64_t v = 0;
	CHECK_EQ(sys_info(ALDER_INFO_FREE_FRAMES, &v), 0);
	return v;
}

struct baseline {
	uint64_t objects, frames;
};

static struct baseline baseline(void)
{
	struct baseline b;
	b.objects = u_live_settled();
	b.frames = free_frames();
	return b;
}

/* Dropped threads end asynchronously (they are started only to exit):
 * wait up to a second for the counts to come back. */
static void expect_back(const char *what, struct baseline b)
{
	uint64_t deadline = u_now_ns() + U_NS_PER_SEC;
	uint64_t objs = u_live_settled(), frames = free_frames();
	while ((objs != b.objects || frames < b.frames) && u_now_ns() < deadline) {
		sys_sleep(10 * U_NS_PER_MS);
		objs = u_live_settled();
		frames = free_frames();
	}
	if (objs != b.objects)
		u_expect_fail(__FILE__, __LINE__, "%s: live objects %lu, %lu before", what, objs, b.objects);
	if (frames < b.frames)
		u_expect_fail(__FILE__, __LINE__, "%s: free frames %lu, %lu before", what, frames, b.frames);
}

/* Wait until the thread behind h has ended: control calls answer -ESRCH. */
static bool ended(alder_handle_t h)
{
	for (int i = 0; i < 1000; i++) {
		if (u_thread_regs(h, &regs, 0) == -ALDER_ESRCH)
			return true;
		sys_sleep(U_NS_PER_MS);
	}
	return false;
}

/* Warm-up for a case: n never-started threads made by new_thread, all
 * alive at once, then their handles closed; so the measured rounds, which
 * close each handle at once, find kernel stacks and slabs in the caches. */
#define WARM_MAX 200
static void warm_up(long (*new_thread)(int i), int n)
{
	static long h[WARM_MAX];
	for (int i = 0; i < n; i++)
		h[i] = u_must(new_thread(i), "thread_new (warm-up)");
	for (int i = 0; i < n; i++)
		CHECK_EQ(u_handle_close((alder_handle_t)h[i]), 0);
}

/* ROUNDS threads, each handle closed before the thread ever ran. */
static void drop_round(long (*new_thread)(int i))
{
	for (int i = 0; i < ROUNDS; i++)
		CHECK_EQ(u_handle_close((alder_handle_t)u_must(new_thread(i), "thread_new")), 0);
}

static long new_self(int i)
{
	(void)i;
	return u_thread_new(SELF, THREAD_EXIT_STUB, STACK_TOP, 0, 0);
}

static void drop_self(void)
{
	warm_up(new_self, WARM_MAX);
	struct baseline b = baseline();
	drop_round(new_self);
	expect_back("never-started threads of our own process", b);

	/* A second handle keeps the thread: it can still be started. */
	long t = u_must(new_self(0), "thread_new self");
	long d = u_must(u_handle_dup((alder_handle_t)t, ALDER_RIGHTS_ALL), "dup");
	CHECK_EQ(u_handle_close((alder_handle_t)t), 0);
	sys_sleep(10 * U_NS_PER_MS);
	CHECK_EQ(u_thread_regs((alder_handle_t)d, &regs, 0), 0);
	CHECK(regs.rip == THREAD_EXIT_STUB);
	CHECK_EQ(u_thread_ctl((alder_handle_t)d, ALDER_THREAD_START, 0), 0);
	CHECK(ended((alder_handle_t)d));
	CHECK_EQ(u_handle_close((alder_handle_t)d), 0);
	expect_back("a thread started through its second handle", b);
}

/* Children: in our space, or every third one supervised in a space of its
 * own. */
static long child_space;
static long new_child(int i)
{
	if (i % 3 == 2)
		return u_thread_new((alder_handle_t)child_space, 0x10000, 0x20000, 0,
				    ALDER_THREAD_SUPERVISED);
	return u_thread_new(SELF, THREAD_EXIT_STUB, STACK_TOP, 0, ALDER_THREAD_NEW_PROCESS);
}

static void drop_child(void)
{
	child_space = u_must(u_space_create(), "space_create");
	warm_up(new_child, WARM_MAX);
	struct baseline b = baseline();
	drop_round(new_child);
	expect_back("never-started children", b);

	/* Its pid, learned before the drop: the child ends killed, and a wait
	 * finds either that status or no child any more. */
	long t = u_must(new_child(0), "thread_new");
	long pid = u_must(u_thread_ctl((alder_handle_t)t, ALDER_THREAD_GETPID, 0), "getpid");
	CHECK_EQ(u_handle_close((alder_handle_t)t), 0);
	struct alder_exit_info info = {.how = -1};
	long r = sys_wait(pid, &info);
	CHECK(r == -ALDER_ECHILD || (r == pid && info.how == ALDER_EXIT_KILLED));
	expect_back("a dropped child whose pid we knew", b);
	CHECK_EQ(u_handle_close((alder_handle_t)child_space), 0);
}

/* One supervised child with an OBSERVE in flight; its handle closed. */
static void drop_observed(struct u_queue *q, long space)
{
	long t = u_must(u_thread_new((alder_handle_t)space, 0x10000, 0x20000, 0, ALDER_THREAD_SUPERVISED),
			"thread_new supervised");
	struct alder_sqe sqe = {.op = ALDER_OP_OBSERVE, .handle = (alder_handle_t)t, .context = 1};
	CHECK_EQ(u_queue_push(q, &sqe), 0);
	CHECK_EQ(u_queue_enter(q->handle, 1, 0, 0), 1);
	CHECK_EQ(u_handle_close((alder_handle_t)t), 0);
	/* The observation holds the thread: it must not end (EXITED) now. */
	CHECK_EQ(u_queue_enter(q->handle, 0, 1, 50 * U_NS_PER_MS), -ALDER_ETIMEDOUT);
	struct alder_cqe cqe;
	CHECK(!u_queue_pop(q, &cqe));

	struct alder_sqe cancel = u_sqe_cancel(2, 1);
	CHECK_EQ(u_queue_push(q, &cancel), 0);
	CHECK_EQ(u_queue_enter(q->handle, 1, 2, U_NS_PER_SEC), 1);
	for (int i = 0; i < 2; i++) {
		CHECK(u_queue_pop(q, &cqe));
		CHECK_EQ(cqe.result, cqe.context == 1 ? -ALDER_ECANCELED : 0);
	}
}

static void drop_observe(void)
{
	struct u_queue q;
	CHECK_EQ(u_queue_init(&q, 8, 8), 0);
	long space = u_must(u_space_create(), "space_create");
	drop_observed(&q, space); /* warm-up */
	struct baseline b = baseline();
	drop_observed(&q, space);
	expect_back("a dropped thread once its observation was cancelled", b);
	CHECK_EQ(u_handle_close((alder_handle_t)space), 0);
}

/* Dup h until the handle table is full; returns the first dup (the rest
 * follow it without gaps: handles are allocated lowest first). */
static long fill_table(long h, long *last)
{
	long first = 0, d;
	*last = 0;
	while ((d = u_handle_dup((alder_handle_t)h, ALDER_RIGHTS_ALL)) > 0) {
		if (!first)
			first = d;
		*last = d;
	}
	CHECK_EQ(d, -ALDER_EMFILE);
	return first;
}

static void close_range(long first, long last)
{
	for (long h = first; h <= last; h++)
		CHECK_EQ(u_handle_close((alder_handle_t)h), 0);
}

static void emfile(void)
{
	long space = u_must(u_space_create(), "space_create");
	long last = 0, first = fill_table(space, &last);
	close_range(first, last); /* the table's array has grown for good */
	struct baseline b = baseline();
	first = fill_table(space, &last);
	/* Full: no thread, and the caller lives on; no process slot stays. */
	CHECK_EQ(u_thread_new(SELF, THREAD_EXIT_STUB, STACK_TOP, 0, 0), -ALDER_EMFILE);
	for (int i = 0; i < ROUNDS; i++)
		CHECK_EQ(u_thread_new(SELF, THREAD_EXIT_STUB, STACK_TOP, 0, ALDER_THREAD_NEW_PROCESS),
			 -ALDER_EMFILE);
	close_range(first, last);
	expect_back("THREAD_NEW with a full handle table", b);
	/* The process table has room again. */
	long t = u_must(u_thread_new(SELF, THREAD_EXIT_STUB, STACK_TOP, 0, ALDER_THREAD_NEW_PROCESS),
			"thread_new after EMFILE");
	CHECK_EQ(u_handle_close((alder_handle_t)t), 0);
	CHECK_EQ(u_handle_close((alder_handle_t)space), 0);
}

static void pid(void)
{
	/* A child process (in our space) that exits 7 by itself; we ask for
	 * its pid only after it has ended. */
	long t = u_must(u_thread_new(SELF, EXIT7_STUB, STACK_TOP, 0, ALDER_THREAD_NEW_PROCESS),
			"thread_new child");
	CHECK_EQ(u_thread_ctl((alder_handle_t)t, ALDER_THREAD_START, 0), 0);
	CHECK(ended((alder_handle_t)t));
	CHECK_EQ(u_thread_ctl((alder_handle_t)t, ALDER_THREAD_RESUME, 0), -ALDER_ESRCH);
	long child = u_thread_ctl((alder_handle_t)t, ALDER_THREAD_GETPID, 0);
	CHECK(child > 0);
	struct alder_exit_info info = {.how = -1};
	CHECK_EQ(sys_wait(child, &info), child);
	CHECK(info.how == ALDER_EXIT_NORMAL && info.status == 7);
	CHECK_EQ(u_thread_ctl((alder_handle_t)t, ALDER_THREAD_GETPID, 0), child);
	CHECK_EQ(u_handle_close((alder_handle_t)t), 0);

	/* A thread of our own process: its pid is ours, before and after. */
	t = u_must(u_thread_new(SELF, THREAD_EXIT_STUB, STACK_TOP, 0, 0), "thread_new self");
	long mine = u_thread_ctl((alder_handle_t)t, ALDER_THREAD_GETPID, 0);
	CHECK(mine > 0 && mine != child);
	CHECK_EQ(u_thread_ctl((alder_handle_t)t, ALDER_THREAD_START, 0), 0);
	CHECK(ended((alder_handle_t)t));
	CHECK_EQ(u_thread_ctl((alder_handle_t)t, ALDER_THREAD_GETPID, 0), mine);
	CHECK_EQ(u_thread_ctl((alder_handle_t)t, ALDER_THREAD_START, 0), -ALDER_ESRCH);
	CHECK_EQ(u_handle_close((alder_handle_t)t), 0);
}

int main(const char *arg, size_t len)
{
	(void)len;
	if (strcmp(arg, "drop_self") == 0)
		drop_self();
	else if (strcmp(arg, "drop_child") == 0)
		drop_child();
	else if (strcmp(arg, "drop_observe") == 0)
		drop_observe();
	else if (strcmp(arg, "emfile") == 0)
		emfile();
	else if (strcmp(arg, "pid") == 0)
		pid();
	else {
		u_printf("thread_life: unknown case \"%s\"\n", arg);
		return 2;
	}
	return u_test_end("thread_life");
}
