/*
 * futex_shared: futexes are keyed by the physical page, so the same word
 * reached through two different mappings is one futex.
 *   - one object mapped at two addresses: a thread sleeps on the word at A,
 *     the main thread wakes it through the word at B (wake returns 1);
 *   - a slice: sleep through the slice's mapping, wake through the
 *     source's;
 *   - a different word of the same page, or the same offset in a different
 *     page, is a different futex (wake returns 0 and the sleeper stays
 *     asleep);
 *   - the futex mutex (u_mutex_*) used by two threads through two different
 *     mappings of its word still excludes.
 * Exits 0 if every check passed.
 */
#include <umem.h>
#include <utest.h>

#define BASE ((uint64_t)0x180000000)
#define PAGE U_PAGE_SIZE
#define SELF ALDER_HANDLE_SELF_SPACE
#define RW (ALDER_PROT_READ | ALDER_PROT_WRITE)
#define STACK_SIZE 16384
#define A (BASE)
#define B (BASE + 16 * PAGE)
#define SLICE_AT (BASE + 32 * PAGE)
#define ITERS 20000

static uint8_t stacks[4][STACK_SIZE] __attribute__((aligned(16)));

static struct {
	const uint32_t *addr; /* where the sleeper waits */
	uint32_t expect;
	unsigned ready, woken;
	long result;
} sl;

static void sleeper(void *arg)
{
	u_atomic_fetch_add(&sl.ready, 1);
	long r = u_futex_wait(sl.addr, sl.expect, 10 * U_NS_PER_SEC);
	u_atomic_store(&sl.result, r);
	u_atomic_fetch_add(&sl.woken, 1);
}

static void wait_until(unsigned *counter, unsigned want, const char *what)
{
	uint64_t deadline = u_now_ns() + 15 * U_NS_PER_SEC;

	while (u_atomic_load(counter) < want) {
		if (u_now_ns() > deadline) {
			u_printf("futex_shared: %s: timed out\n", what);
			sys_exit(1);
		}
		sys_sleep(U_NS_PER_MS);
	}
}

/* Start a sleeper on `at`, check the wrong addresses don't wake it, wake it
 * through `via`. */
static void sleep_and_wake(const char *what, uint64_t at, uint64_t via, const uint64_t *decoys,
			   size_t ndecoys, uint8_t *stack)
{
	sl.addr = (const uint32_t *)at;
	sl.expect = *(volatile uint32_t *)at;
	sl.ready = 0;
	sl.woken = 0;
	sl.result = 1;
	CHECK(u_thread_start(sleeper, NULL, stack, STACK_SIZE) > 0);
	wait_until(&sl.ready, 1, what);
	sys_sleep(50 * U_NS_PER_MS);

	for (size_t i = 0; i < ndecoys; i++) {
		long r = u_futex_wake((const uint32_t *)decoys[i], 10);
		if (r != 0)
			u_expect_fail(__FILE__, __LINE__, "%s: wake at decoy 0x%lx woke %ld", what, decoys[i],
				      r);
	}
	EXPECT(u_atomic_load(&sl.woken) == 0);

	uint64_t deadline = u_now_ns() + 5 * U_NS_PER_SEC;
	long r;
	while ((r = u_futex_wake((const uint32_t *)via, 1)) == 0 && u_now_ns() < deadline)
		sys_sleep(U_NS_PER_MS);
	if (r != 1)
		u_expect_fail(__FILE__, __LINE__, "%s: wake via 0x%lx returned %ld", what, via, r);
	wait_until(&sl.woken, 1, what);
	if (sl.result != 0)
		u_expect_fail(__FILE__, __LINE__, "%s: sleeper's wait returned %ld (%s)", what, sl.result,
			      u_errname(sl.result));
}

/* ---- Mutex through two mappings ---------------------------------------- */

static struct {
	unsigned long counter; /* protected by the mutex; plain accesses on purpose */
	unsigned done;
	long error;
} mx;

static void locker(void *arg)
{
	u_mutex_t *m = (u_mutex_t *)arg;

	for (unsigned i = 0; i < ITERS; i++) {
		long r = u_mutex_lock(m);
		if (r != 0) {
			u_atomic_store(&mx.error, r);
			break;
		}
		unsigned long v = *(volatile unsigned long *)&mx.counter;
		if ((i & 63) == 0)
			sys_yield(); /* hold the lock across a reschedule now and then */
		*(volatile unsigned long *)&mx.counter = v + 1;
		r = u_mutex_unlock(m);
		if (r != 0) {
			u_atomic_store(&mx.error, r);
			break;
		}
	}
	u_atomic_fetch_add(&mx.done, 1);
}

int main(const char *arg, size_t arg_len)
{
	long h = u_mem_create(4 * PAGE, 0);
	CHECK(h > 0);
	alder_handle_t mem = (alder_handle_t)h;
	CHECK_EQ(u_space_map(SELF, mem, 0, A, 4 * PAGE, RW), (long)A);
	CHECK_EQ(u_space_map(SELF, mem, 0, B, 4 * PAGE, RW), (long)B);
	long s = u_mem_create_slice(mem, 2 * PAGE, PAGE);
	CHECK(s > 0);
	CHECK_EQ(u_space_map(SELF, (alder_handle_t)s, 0, SLICE_AT, PAGE, RW), (long)SLICE_AT);

	/* Page 1, word at offset 64: sleep at A, wake at B. Decoys: the
	 * neighbouring word, the same offset one page on, both through B. */
	*(volatile uint32_t *)(A + PAGE + 64) = 11;
	uint64_t decoys1[] = {B + PAGE + 68, B + 2 * PAGE + 64, A + PAGE + 60};
	sleep_and_wake("two mappings", A + PAGE + 64, B + PAGE + 64, decoys1, U_ARRAY_SIZE(decoys1),
		       stacks[0]);

	/* Slice page 0 = object page 2: sleep in the slice, wake at A. */
	*(volatile uint32_t *)(A + 2 * PAGE + 8) = 22;
	uint64_t decoys2[] = {A + 8, SLICE_AT + 12, B + 3 * PAGE + 8};
	sleep_and_wake("slice", SLICE_AT + 8, A + 2 * PAGE + 8, decoys2, U_ARRAY_SIZE(decoys2), stacks[1]);

	/* Two threads, one mutex word, each through its own mapping. */
	u_mutex_t *ma = (u_mutex_t *)(A + 3 * PAGE), *mb = (u_mutex_t *)(B + 3 * PAGE);
	CHECK(u_thread_start(locker, ma, stacks[2], STACK_SIZE) > 0);
	CHECK(u_thread_start(locker, mb, stacks[3], STACK_SIZE) > 0);
	wait_until(&mx.done, 2, "mutex lockers");
	if (mx.error != 0)
		u_expect_fail(__FILE__, __LINE__, "mutex: %ld (%s)", mx.error, u_errname(mx.error));
	if (mx.counter != 2ul * ITERS)
		u_expect_fail(__FILE__, __LINE__, "mutex through two mappings: counter %lu, expected %lu",
			      mx.counter, 2ul * ITERS);
	EXPECT(ma->word == 0);

	EXPECT(u_space_unmap(SELF, BASE, 48 * PAGE) == 0);
	EXPECT(u_handle_close((alder_handle_t)s) == 0);
	EXPECT(u_handle_close(mem) == 0);
	return u_test_end("futex_shared");
}
