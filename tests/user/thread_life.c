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
 *   "exit_unstarted" a child process whose last started thread leaves
 *                 with SYS_THREAD_EXIT while threads it made in itself
 *                 were never started ends (status 0; those threads never
 *                 run), and leaves nothing behind; a second started thread
 *                 keeps it alive and can still start one of them
 *   "fresh"       a new process made by THREAD_NEW, none of whose threads
 *                 was ever started, is not ended by that rule: it waits
 *                 for its creator's START
 *   "start_race"  START of a never-started thread against the exit of its
 *                 process's last started thread (and, every third round,
 *                 a KILL against both), many times: START either returns
 *                 0 and the thread runs, or -ESRCH and it never does; no
 *                 round hangs, nothing leaks
 *   "race_child"  (internal) the child of start_race
 * Exits 0 if every check passed.
 */
#include <umem.h>
#include <uqueue.h>
#include <ustream.h>
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
	/* The checks read registers into regs: its page (which it shares
	 * with whatever the linker puts next to it) must not be a first
	 * touch counted against them. */
	memset(&regs, 0, sizeof(regs));
	b.objects = u_live_settled();
	b.frames = free_frames();
	return b;
}

/* Dropped threads end asynchronously (they are started only to exit):
 * wait up to a second for the counts to come back. b.frames 0: objects
 * only (where the case itself touches fresh pages of our image, or has
 * more threads alive at once than before, which takes kernel stacks that
 * the kernel keeps for reuse). */
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

static struct baseline objects_baseline(void)
{
	struct baseline b = {u_live_settled(), 0};
	return b;
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

/* ---- Processes whose last started thread leaves ------------------------ */

#define WAIT_LIMIT (10 * U_NS_PER_SEC)
#define AUX_STACK 16384
#define UNSTARTED 4 /* never-started threads each leaving child makes */
#define LEAVERS 20  /* measured rounds of exit_unstarted */
#define RACE_ROUNDS 300
#define SELF_PATH "/tests/thread_life"

/* The watchdog: a wait that does not return within WAIT_LIMIT fails the
 * program instead of hanging the suite (the old kernel never ended such a
 * child). */
static volatile uint64_t watch_deadline; /* 0: nothing watched */
static const char *volatile watch_what;
static uint8_t watch_stack[AUX_STACK] __attribute__((aligned(16)));

static void watchdog(void *arg)
{
	(void)arg;
	for (;;) {
		sys_sleep(20 * U_NS_PER_MS);
		uint64_t d = watch_deadline;
		if (d && u_now_ns() > d) {
			u_printf("thread_life: %s: not ended after %lu s\n", watch_what,
				 WAIT_LIMIT / U_NS_PER_SEC);
			sys_exit(1);
		}
	}
}

static void watchdog_start(void)
{
	u_must(u_thread_start(watchdog, NULL, watch_stack, sizeof(watch_stack)), "thread_start watchdog");
}

static long wait_within(long pid, struct alder_exit_info *info, const char *what)
{
	watch_what = what;
	watch_deadline = u_now_ns() + WAIT_LIMIT;
	long r = sys_wait(pid, info);
	watch_deadline = 0;
	return r;
}

static void expect_exit(const char *what, const struct alder_exit_info *info, int how, int status)
{
	if (info->how != how || info->status != status)
		u_expect_fail(__FILE__, __LINE__, "%s: ended how %d status %d, expected how %d status %d",
			      what, info->how, info->status, how, status);
}

static void spin(uint64_t n)
{
	for (volatile uint64_t i = 0; i < n; i++)
		;
}

/*
 * The leaving child: a process of its own in our space, started by us. Its
 * first thread makes UNSTARTED threads in its own process (the first with
 * two handles), all on the exit-7 stub: if one ever ran, the child would
 * end with status 7. With keep, a second started thread outlives the
 * first and starts one of them (status 7 then). Failures are exit statuses:
 * nothing here prints.
 */
static uint8_t leaver_stack[AUX_STACK] __attribute__((aligned(16)));
static uint8_t keeper_stack[AUX_STACK] __attribute__((aligned(16)));

static void keeper(void *arg)
{
	sys_sleep(20 * U_NS_PER_MS); /* the first thread has left by now */
	if (u_thread_ctl((alder_handle_t)(uintptr_t)arg, ALDER_THREAD_START, 0) != 0)
		sys_exit(5);
	sys_thread_exit();
}

static noreturn void leaver(uint64_t keep)
{
	long first = 0;
	for (int i = 0; i < UNSTARTED; i++) {
		long h = u_thread_new(SELF, EXIT7_STUB, STACK_TOP, 0, 0);
		if (h < 0)
			sys_exit(3);
		if (i == 0) {
			first = h;
			if (u_handle_dup((alder_handle_t)h, ALDER_RIGHTS_ALL) < 0)
				sys_exit(4);
		}
	}
	if (keep && u_thread_start(keeper, (void *)(uintptr_t)first, keeper_stack, sizeof(keeper_stack)) < 0)
		sys_exit(6);
	sys_thread_exit();
}

static void run_leaver(bool keep, const char *what)
{
	uint64_t top = (uint64_t)(uintptr_t)(leaver_stack + AUX_STACK) - 8; /* as if called */
	long t = u_must(u_thread_new(SELF, (uint64_t)(uintptr_t)leaver, top, keep, ALDER_THREAD_NEW_PROCESS),
			"thread_new leaver");
	long pid = u_must(u_thread_ctl((alder_handle_t)t, ALDER_THREAD_GETPID, 0), "getpid");
	CHECK_EQ(u_thread_ctl((alder_handle_t)t, ALDER_THREAD_START, 0), 0);
	struct alder_exit_info info = {.how = -1};
	CHECK_EQ(wait_within(pid, &info, what), pid);
	expect_exit(what, &info, ALDER_EXIT_NORMAL, keep ? 7 : 0);
	CHECK(ended((alder_handle_t)t));
	CHECK_EQ(u_handle_close((alder_handle_t)t), 0);
}

static void exit_unstarted(void)
{
	watchdog_start();
	run_leaver(false, "warm-up leaver");
	struct baseline b = objects_baseline();
	for (int i = 0; i < LEAVERS; i++)
		run_leaver(false, "a child whose only started thread left");
	expect_back("children whose last started thread left", b);
	run_leaver(true, "a child with a second started thread");
	expect_back("a child kept alive by its second started thread", b);
}

/* New processes made by THREAD_NEW wait for their first START however
 * long it takes, while other processes come and go. */
static void fresh(void)
{
	watchdog_start();
	run_leaver(false, "warm-up leaver");
	struct baseline b = objects_baseline();
	long space = u_must(u_space_create(), "space_create");
	long t1 =
	    u_must(u_thread_new(SELF, EXIT7_STUB, STACK_TOP, 0, ALDER_THREAD_NEW_PROCESS), "thread_new");
	long t2 = u_must(u_thread_new((alder_handle_t)space, 0x10000, 0x20000, 0, ALDER_THREAD_SUPERVISED),
			 "thread_new supervised");
	long pid1 = u_must(u_thread_ctl((alder_handle_t)t1, ALDER_THREAD_GETPID, 0), "getpid");
	long pid2 = u_must(u_thread_ctl((alder_handle_t)t2, ALDER_THREAD_GETPID, 0), "getpid");
	run_leaver(false, "a leaver next to fresh children");
	sys_sleep(50 * U_NS_PER_MS);
	CHECK_EQ(u_thread_regs((alder_handle_t)t1, &regs, 0), 0);
	CHECK(regs.rip == EXIT7_STUB);
	CHECK_EQ(u_thread_regs((alder_handle_t)t2, &regs, 0), 0);
	CHECK(regs.rip == 0x10000);

	struct alder_exit_info info = {.how = -1};
	CHECK_EQ(u_thread_ctl((alder_handle_t)t1, ALDER_THREAD_START, 0), 0);
	CHECK_EQ(wait_within(pid1, &info, "a fresh child started late"), pid1);
	expect_exit("a fresh child started late", &info, ALDER_EXIT_NORMAL, 7);
	CHECK_EQ(u_thread_ctl((alder_handle_t)t2, ALDER_THREAD_KILL, 0), 0);
	CHECK_EQ(wait_within(pid2, &info, "a fresh supervised child killed"), pid2);
	expect_exit("a fresh supervised child killed", &info, ALDER_EXIT_KILLED, 0);
	CHECK_EQ(u_thread_ctl((alder_handle_t)t2, ALDER_THREAD_START, 0), -ALDER_ESRCH);
	CHECK_EQ(u_handle_close((alder_handle_t)t1), 0);
	CHECK_EQ(u_handle_close((alder_handle_t)t2), 0);
	CHECK_EQ(u_handle_close((alder_handle_t)space), 0);
	expect_back("fresh children", b);
}

/*
 * start_race. The child (race_child, spawned with one lane) makes a
 * never-started thread C in its own process on the exit-7 stub, pushes us
 * a copy of C's handle, receives how long to spin, spins and leaves with
 * SYS_THREAD_EXIT: its only started thread. We spin for our own while and
 * START C; on kill rounds, our killer thread KILLs through C meanwhile.
 */
static noreturn void race_child(void)
{
	struct u_queue q;
	if (u_queue_init(&q, 4, 4) != 0)
		sys_exit(3);
	long c = u_thread_new(SELF, EXIT7_STUB, STACK_TOP, 0, 0);
	if (c < 0)
		sys_exit(4);
	struct alder_action a[2] = {u_act_push((alder_handle_t)c, ALDER_RIGHTS_ALL), u_act_recv_inline(8)};
	struct alder_cqe cqe;
	uint64_t n;
	if (u_stream_run(&q, ALDER_HANDLE_BOOTSTRAP, a, 2, 0, &cqe) != 0 || a[1].length != sizeof(n))
		sys_exit(5);
	memcpy(&n, a[1].data, sizeof(n));
	spin(n);
	sys_thread_exit();
}

static volatile uint32_t kill_go, kill_done; /* round numbers; futexes */
static volatile alder_handle_t kill_target;
static volatile uint64_t kill_spin;
static volatile long kill_result;
static uint8_t killer_stack[AUX_STACK] __attribute__((aligned(16)));

static void killer(void *arg)
{
	(void)arg;
	uint32_t seen = 0;
	for (;;) {
		uint32_t g;
		while ((g = __atomic_load_n(&kill_go, __ATOMIC_ACQUIRE)) == seen)
			u_futex_wait((const uint32_t *)&kill_go, seen, 0);
		seen = g;
		spin(kill_spin);
		kill_result = u_thread_ctl(kill_target, ALDER_THREAD_KILL, 0);
		__atomic_store_n(&kill_done, g, __ATOMIC_RELEASE);
		u_futex_wake((const uint32_t *)&kill_done, 1);
	}
}

static uint64_t race_rng = 0x2545f4914f6cdd1dull;

static uint64_t race_rnd(uint64_t n)
{
	race_rng ^= race_rng << 13;
	race_rng ^= race_rng >> 7;
	race_rng ^= race_rng << 17;
	return race_rng % n;
}

struct race_tally {
	unsigned started, refused, killed;
};

static void race_round(struct u_queue *q, uint32_t round, struct race_tally *tally)
{
	alder_handle_t l[2];
	CHECK_EQ(u_stream_create(l), 0);
	long pid =
	    u_must(sys_spawn_with(SELF_PATH, strlen(SELF_PATH), "race_child", strlen("race_child"), l[1]),
		   "spawn race_child");
	CHECK_EQ(u_handle_close(l[1]), 0);
	uint64_t child_spin = race_rnd(3000), my_spin = race_rnd(3000);
	struct alder_action a[2] = {u_act_pull(ALDER_RIGHTS_ALL),
				    u_act_send_inline(&child_spin, sizeof(child_spin))};
	struct alder_cqe cqe;
	CHECK_EQ(u_stream_run(q, l[0], a, 2, 0, &cqe), 0);
	alder_handle_t c = a[0].out_handle;
	bool kill = round % 3 == 2;
	if (kill) {
		kill_target = c;
		kill_spin = race_rnd(3000);
		__atomic_store_n(&kill_go, round, __ATOMIC_RELEASE);
		u_futex_wake((const uint32_t *)&kill_go, 1);
	}
	spin(my_spin);
	long r = u_thread_ctl(c, ALDER_THREAD_START, 0);
	struct alder_exit_info info = {.how = -1};
	CHECK_EQ(wait_within(pid, &info, "race_child"), pid);
	long kr = 0;
	if (kill) {
		uint32_t d;
		while ((d = __atomic_load_n(&kill_done, __ATOMIC_ACQUIRE)) != round)
			u_futex_wait((const uint32_t *)&kill_done, d, 0);
		kr = kill_result;
	}
	/* START first: C runs (its exit 7) unless the kill gets it. The exit
	 * first: START is refused and C never runs. A kill status only from
	 * a kill that was accepted. */
	bool killed = info.how == ALDER_EXIT_KILLED;
	bool ok =
	    (r == 0 && ((info.how == ALDER_EXIT_NORMAL && info.status == 7) || (kill && killed))) ||
	    (r == -ALDER_ESRCH && ((info.how == ALDER_EXIT_NORMAL && info.status == 0) || (kill && killed)));
	if (!ok || (kill && kr != 0 && kr != -ALDER_ESRCH) || (killed && kr != 0))
		u_expect_fail(__FILE__, __LINE__,
			      "round %u: START %ld (%s), KILL %ld, child ended how %d status %d", round, r,
			      u_errname(r), kr, info.how, info.status);
	tally->started += r == 0;
	tally->refused += r == -ALDER_ESRCH;
	tally->killed += killed;
	CHECK_EQ(u_handle_close(c), 0);
	CHECK_EQ(u_handle_close(l[0]), 0);
}

static void start_race(void)
{
	struct u_queue q;
	struct race_tally tally = {0, 0, 0};
	CHECK_EQ(u_queue_init(&q, 4, 4), 0);
	watchdog_start();
	u_must(u_thread_start(killer, NULL, killer_stack, sizeof(killer_stack)), "thread_start killer");
	race_round(&q, 1, &tally); /* warm-up */
	struct baseline b = objects_baseline();
	uint64_t t0 = u_now_ns();
	for (uint32_t i = 2; i < 2 + RACE_ROUNDS && u_test_failures == 0; i++)
		race_round(&q, i, &tally);
	u_printf("thread_life: start_race: %u rounds in %lu ms: START first %u, exit first %u, killed %u\n",
		 RACE_ROUNDS + 1, (u_now_ns() - t0) / U_NS_PER_MS, tally.started, tally.refused,
		 tally.killed);
	expect_back("start_race children", b);
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
	else if (strcmp(arg, "exit_unstarted") == 0)
		exit_unstarted();
	else if (strcmp(arg, "fresh") == 0)
		fresh();
	else if (strcmp(arg, "start_race") == 0)
		start_race();
	else if (strcmp(arg, "race_child") == 0)
		race_child();
	else {
		u_printf("thread_life: unknown case \"%s\"\n", arg);
		return 2;
	}
	return u_test_end("thread_life");
}
