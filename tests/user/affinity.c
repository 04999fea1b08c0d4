/*
 * affinity: ALDER_THREAD_SET_CPU (abi/alder/thread.h) and
 * ALDER_HANDLE_SELF_THREAD.
 *
 *   self    the calling thread pins itself to each CPU in turn: it is on
 *           that CPU when the call returns, and stays there across yields,
 *           sleeps and futex waits; ALDER_THREAD_ANY_CPU lets it go.
 *   other   a spinning thread (through its handle) moves to each CPU in
 *           turn and stays; one blocked in a futex wait runs on its new
 *           CPU when woken.
 *   bad     a CPU that does not exist, a handle that is not a thread, one
 *           without MANAGE, a stale one, a thread that has ended, an
 *           unknown operation; SYS_THREAD_REGS on the caller (not stopped).
 *
 * With one CPU everything runs on CPU 0 and CPU 1 is refused.
 */
#include <ulib.h>
#include <umem.h>
#include <uqueue.h>
#include <uthread.h>
#include <utest.h>

#define SELF ALDER_HANDLE_SELF_THREAD
#define STACK_SIZE 16384
#define MS U_NS_PER_MS

static uint64_t ncpus;

static uint64_t my_cpu(void)
{
	return u_info(ALDER_INFO_CPU_ID, UINT64_MAX);
}

static void case_self(void)
{
	for (int round = 0; round < 2; round++) {
		for (uint64_t cpu = 0; cpu < ncpus; cpu++) {
			CHECK_EQ(u_thread_ctl(SELF, ALDER_THREAD_SET_CPU, cpu), 0);
			CHECK_EQ(my_cpu(), cpu);
			for (int i = 0; i < 20; i++) {
				sys_yield();
				CHECK_EQ(my_cpu(), cpu);
			}
			CHECK_EQ(sys_sleep(2 * MS), 0);
			CHECK_EQ(my_cpu(), cpu);
			static uint32_t word;
			CHECK_EQ(u_futex_wait(&word, 0, 1 * MS), -ALDER_ETIMEDOUT);
			CHECK_EQ(my_cpu(), cpu);
		}
	}
	CHECK_EQ(u_thread_ctl(SELF, ALDER_THREAD_SET_CPU, ALDER_THREAD_ANY_CPU), 0);
	CHECK(my_cpu() < ncpus);
}

/* The helper: spins publishing its CPU, or (when asked) waits on the
 * futex word `park` until woken, then publishes again. */
static struct {
	uint64_t cpu;	/* last CPU seen */
	uint64_t seq;	/* bumped with every publication */
	uint32_t park;	/* 1: wait on it */
	uint32_t parked; /* 1: about to wait */
	uint32_t stop;
	uint32_t done;
} hs;
static uint8_t helper_stack[STACK_SIZE] __attribute__((aligned(16)));

static void helper(void *arg)
{
	(void)arg;
	while (!u_atomic_load(&hs.stop)) {
		if (u_atomic_load(&hs.park)) {
			u_atomic_store(&hs.parked, 1);
			while (u_atomic_load(&hs.park))
				(void)u_futex_wait(&hs.park, 1, 0);
			u_atomic_store(&hs.parked, 0);
		}
		u_atomic_store(&hs.cpu, my_cpu());
		u_atomic_fetch_add(&hs.seq, 1);
		sys_yield();
	}
	u_atomic_store(&hs.done, 1);
	u_futex_wake(&hs.done, 1);
}

/* Wait until the helper has published `fresh` times since now; return the
 * CPU it saw last. */
static uint64_t helper_cpu_after(uint64_t fresh)
{
	uint64_t seq0 = u_atomic_load(&hs.seq);
	uint64_t deadline = u_now_ns() + 5 * U_NS_PER_SEC;

	while (u_atomic_load(&hs.seq) - seq0 < fresh && u_now_ns() < deadline)
		sys_yield();
	CHECK(u_atomic_load(&hs.seq) - seq0 >= fresh);
	return u_atomic_load(&hs.cpu);
}

static void case_other(void)
{
	long h = u_thread_start_handle(helper, NULL, helper_stack, sizeof(helper_stack));
	CHECK(h > 0);
	alder_handle_t t = (alder_handle_t)h;

	for (uint64_t cpu = ncpus; cpu-- > 0;) {
		CHECK_EQ(u_thread_ctl(t, ALDER_THREAD_SET_CPU, cpu), 0);
		/* One publication may still come from before the move. */
		(void)helper_cpu_after(2);
		for (int i = 0; i < 10; i++)
			CHECK_EQ(helper_cpu_after(1), cpu);
	}

	/* Moved while blocked: it runs on the new CPU when woken. */
	uint64_t target = ncpus - 1;
	CHECK_EQ(u_thread_ctl(t, ALDER_THREAD_SET_CPU, 0), 0);
	u_atomic_store(&hs.park, 1);
	uint64_t deadline = u_now_ns() + 5 * U_NS_PER_SEC;
	while (!u_atomic_load(&hs.parked) && u_now_ns() < deadline)
		sys_yield();
	CHECK(u_atomic_load(&hs.parked));
	CHECK_EQ(sys_sleep(5 * MS), 0); /* let it block in the wait */
	CHECK_EQ(u_thread_ctl(t, ALDER_THREAD_SET_CPU, target), 0);
	u_atomic_store(&hs.park, 0);
	u_futex_wake(&hs.park, 1);
	CHECK_EQ(helper_cpu_after(1), target);

	CHECK_EQ(u_thread_ctl(t, ALDER_THREAD_SET_CPU, ALDER_THREAD_ANY_CPU), 0);
	(void)helper_cpu_after(2);
	u_atomic_store(&hs.stop, 1);
	deadline = u_now_ns() + 5 * U_NS_PER_SEC;
	while (!u_atomic_load(&hs.done) && u_now_ns() < deadline)
		(void)u_futex_wait(&hs.done, 0, 10 * MS);
	CHECK(u_atomic_load(&hs.done));

	/* Ended (or about to): SET_CPU then fails with ESRCH, never hangs. */
	deadline = u_now_ns() + 5 * U_NS_PER_SEC;
	long r;
	while ((r = u_thread_ctl(t, ALDER_THREAD_SET_CPU, 0)) == 0 && u_now_ns() < deadline)
		sys_yield();
	EXPECT_ERR("SET_CPU on an ended thread", r, ALDER_ESRCH);
	CHECK_EQ(u_handle_close(t), 0);
}

static void case_bad(void)
{
	EXPECT_ERR("CPU count", u_thread_ctl(SELF, ALDER_THREAD_SET_CPU, ncpus), ALDER_EINVAL);
	EXPECT_ERR("CPU 1000", u_thread_ctl(SELF, ALDER_THREAD_SET_CPU, 1000), ALDER_EINVAL);
	EXPECT_ERR("CPU -2", u_thread_ctl(SELF, ALDER_THREAD_SET_CPU, UINT64_MAX - 1), ALDER_EINVAL);
	CHECK(my_cpu() < ncpus); /* nothing changed */
	EXPECT_ERR("unknown op", u_thread_ctl(SELF, 99, 0), ALDER_EINVAL);
	EXPECT_ERR("stale handle", u_thread_ctl(4000, ALDER_THREAD_SET_CPU, 0), ALDER_EBADF);
	EXPECT_ERR("handle -3", u_thread_ctl(-3, ALDER_THREAD_SET_CPU, 0), ALDER_EBADF);
	long ev = u_event_create();
	CHECK(ev > 0);
	EXPECT_ERR("not a thread", u_thread_ctl((alder_handle_t)ev, ALDER_THREAD_SET_CPU, 0), ALDER_EBADFD);
	CHECK_EQ(u_handle_close((alder_handle_t)ev), 0);
	/* A handle without MANAGE. */
	static uint8_t stack[STACK_SIZE] __attribute__((aligned(16)));
	hs.stop = 1;
	hs.done = 0;
	long h = u_thread_start_handle(helper, NULL, stack, sizeof(stack));
	CHECK(h > 0);
	long weak = u_handle_dup((alder_handle_t)h, ALDER_RIGHTS_ALL & ~ALDER_RIGHT_MANAGE);
	CHECK(weak > 0);
	EXPECT_ERR("no MANAGE", u_thread_ctl((alder_handle_t)weak, ALDER_THREAD_SET_CPU, 0), ALDER_EACCES);
	uint64_t deadline = u_now_ns() + 5 * U_NS_PER_SEC;
	while (!u_atomic_load(&hs.done) && u_now_ns() < deadline)
		(void)u_futex_wait(&hs.done, 0, 10 * MS);
	CHECK(u_atomic_load(&hs.done));
	CHECK_EQ(u_handle_close((alder_handle_t)weak), 0);
	CHECK_EQ(u_handle_close((alder_handle_t)h), 0);
	/* The caller is not stopped: its registers are not to be had. */
	struct alder_regs regs;
	EXPECT_ERR("own registers", u_thread_regs(SELF, &regs, 0), ALDER_EBUSY);
	CHECK(u_thread_ctl(SELF, ALDER_THREAD_GETPID, 0) > 0);
}

int main(const char *arg, size_t len)
{
	ncpus = u_info(ALDER_INFO_CPU_COUNT, 1);
	if (strcmp(arg, "self") == 0)
		case_self();
	else if (strcmp(arg, "other") == 0)
		case_other();
	else if (strcmp(arg, "bad") == 0)
		case_bad();
	else {
		u_printf("affinity: unknown case \"%s\"\n", arg);
		return 2;
	}
	return u_test_end(arg);
}
