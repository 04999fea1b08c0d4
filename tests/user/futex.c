/*
 * futex: SYS_FUTEX_WAIT and SYS_FUTEX_WAKE in one process.
 *
 * Argument "" (the main test):
 *   errors    value mismatch -EAGAIN at once; misaligned -EINVAL (wait and
 *             wake); NULL, unmapped, kernel and non-canonical addresses
 *             -EFAULT
 *   timeout   -ETIMEDOUT no earlier than asked (and not absurdly late); a
 *             huge timeout must not wrap into an immediate one
 *   memory    a read-only page (rodata) and an untouched lazily-zeroed page
 *             can be waited on
 *   counts    wake with nobody waiting returns 0; three sleepers: wake(1)
 *             wakes exactly one, wake(10) the other two, then 0 again;
 *             every sleeper's wait returns 0
 *   ping-pong two threads hand a turn word back and forth ROUNDS times
 *             with wait/wake (on both CPUs when there are two)
 * Argument "exitwait": a second thread sleeps in SYS_FUTEX_WAIT with no
 *   timeout while the main thread calls sys_exit(7): the process must end
 *   with status 7 (the sleeper is interrupted), not hang.
 * Exits 0 if every check passed.
 */
#include <umem.h>
#include <utest.h>

#define BASE ((uint64_t)0x170000000)
#define PAGE U_PAGE_SIZE
#define SELF ALDER_HANDLE_SELF_SPACE
#define RW (ALDER_PROT_READ | ALDER_PROT_WRITE)
#define STACK_SIZE 16384
#define NSLEEPERS 3
#define ROUNDS 2000

static uint8_t stacks[NSLEEPERS + 2][STACK_SIZE] __attribute__((aligned(16)));
static const uint32_t ro_word = 0x5eed; /* in .rodata */

static uint32_t futex_word __attribute__((aligned(64)));

static void wait_until(unsigned *counter, unsigned want, const char *what)
{
	uint64_t deadline = u_now_ns() + 10 * U_NS_PER_SEC;

	while (u_atomic_load(counter) < want) {
		if (u_now_ns() > deadline) {
			u_printf("futex: %s: %u of %u after 10 s\n", what, u_atomic_load(counter), want);
			sys_exit(1);
		}
		sys_sleep(U_NS_PER_MS);
	}
}

static void test_errors(void)
{
	static const struct {
		const char *name;
		uint64_t addr;
	} bad[] = {
	    {"NULL", 0},
	    {"unmapped", 0x12345000},
	    {"kernel image", 0xffffffff80000000ull},
	    {"direct map", 0xffff800000000000ull},
	    {"non-canonical", 0x8000000000000000ull},
	    {"last user word", ULIB_USER_END - 4},
	};
	char what[80];

	futex_word = 5;
	EXPECT_ERR("wait(mismatch)", u_futex_wait(&futex_word, 6, 0), ALDER_EAGAIN);
	EXPECT_ERR("wait(mismatch, timeout)", u_futex_wait(&futex_word, 4, U_NS_PER_SEC), ALDER_EAGAIN);
	EXPECT_ERR("wait(high bits differ)", u_futex_wait(&futex_word, 5 | 0x80000000u, 0), ALDER_EAGAIN);

	const uint32_t *mis = (const uint32_t *)((uintptr_t)&futex_word + 1);
	EXPECT_ERR("wait(misaligned +1)", u_futex_wait(mis, 5, 0), ALDER_EINVAL);
	EXPECT_ERR("wait(misaligned +2)", u_futex_wait((const uint32_t *)((uintptr_t)&futex_word + 2), 5, 0),
		   ALDER_EINVAL);
	EXPECT_ERR("wake(misaligned +1)", u_futex_wake(mis, 1), ALDER_EINVAL);
	EXPECT_ERR("wake(misaligned +3)", u_futex_wake((const uint32_t *)((uintptr_t)&futex_word + 3), 1),
		   ALDER_EINVAL);
	for (size_t i = 0; i < U_ARRAY_SIZE(bad); i++) {
		const uint32_t *p = (const uint32_t *)(uintptr_t)bad[i].addr;
		u_snprintf(what, sizeof(what), "wait(%s)", bad[i].name);
		EXPECT_ERR(what, u_futex_wait(p, 0, U_NS_PER_MS), ALDER_EFAULT);
		u_snprintf(what, sizeof(what), "wake(%s)", bad[i].name);
		EXPECT_ERR2(what, u_futex_wake(p, 1), ALDER_EFAULT, ALDER_EINVAL);
	}
	/* A page that was mapped and is no longer. */
	long h = u_mem_create(PAGE, 0);
	CHECK(h > 0);
	CHECK_EQ(u_space_map(SELF, (alder_handle_t)h, 0, BASE, PAGE, RW), (long)BASE);
	*(volatile uint32_t *)BASE = 3;
	EXPECT_ERR("wait(mapped, mismatch)", u_futex_wait((const uint32_t *)BASE, 2, 0), ALDER_EAGAIN);
	CHECK_EQ(u_space_unmap(SELF, BASE, PAGE), 0);
	EXPECT_ERR("wait(after unmap)", u_futex_wait((const uint32_t *)BASE, 3, U_NS_PER_MS), ALDER_EFAULT);
	EXPECT(u_handle_close((alder_handle_t)h) == 0);

	/* Nobody waits: wake returns 0, whatever the count. */
	EXPECT(u_futex_wake(&futex_word, 1) == 0);
	EXPECT(u_futex_wake(&futex_word, 0xffffffffu) == 0);
	EXPECT(u_futex_wake(&futex_word, 0) == 0);
}

static void expect_timeout(const uint32_t *addr, uint32_t val, uint64_t ns, const char *what)
{
	uint64_t t0 = u_now_ns();
	long r = u_futex_wait(addr, val, ns);
	uint64_t took = u_now_ns() - t0;

	EXPECT_ERR(what, r, ALDER_ETIMEDOUT);
	if (took < ns)
		u_expect_fail(__FILE__, __LINE__, "%s: timed out after %lu ns, asked for %lu", what, took,
			      ns);
	if (took > ns + 2 * U_NS_PER_SEC)
		u_expect_fail(__FILE__, __LINE__, "%s: timed out after %lu ms, asked for %lu ms", what,
			      took / U_NS_PER_MS, ns / U_NS_PER_MS);
}

static void test_timeouts(void)
{
	futex_word = 9;
	expect_timeout(&futex_word, 9, 30 * U_NS_PER_MS, "wait 30 ms");
	expect_timeout(&futex_word, 9, 1, "wait 1 ns");
	expect_timeout(&ro_word, 0x5eed, 10 * U_NS_PER_MS, "wait on rodata");
	EXPECT_ERR("wait on rodata, mismatch", u_futex_wait(&ro_word, 0, 0), ALDER_EAGAIN);

	/* An untouched lazily-zeroed page reads 0. */
	long h = u_mem_create(PAGE, 0);
	CHECK(h > 0);
	CHECK_EQ(u_space_map(SELF, (alder_handle_t)h, 0, BASE, PAGE, RW), (long)BASE);
	expect_timeout((const uint32_t *)(BASE + 64), 0, 10 * U_NS_PER_MS, "wait on an untouched page");
	EXPECT_ERR("wait on an untouched page, mismatch", u_futex_wait((const uint32_t *)(BASE + 128), 1, 0),
		   ALDER_EAGAIN);
	EXPECT(u_futex_wake((const uint32_t *)(BASE + 64), 1) == 0);
	CHECK_EQ(u_space_unmap(SELF, BASE, PAGE), 0);
	EXPECT(u_handle_close((alder_handle_t)h) == 0);
}

/* ---- Sleepers and wake counts ------------------------------------------- */

static struct {
	uint32_t word;
	unsigned ready, woken;
	long results[NSLEEPERS + 1];
} sl;

static void sleeper(void *arg)
{
	uintptr_t i = (uintptr_t)arg;

	u_atomic_fetch_add(&sl.ready, 1);
	long r = u_futex_wait(&sl.word, 0, 0);
	u_atomic_store(&sl.results[i], r);
	u_atomic_fetch_add(&sl.woken, 1);
}

/*
 * Wake up to count; a sleeper that announced itself may not be asleep yet,
 * so retry while nothing was woken. Returns the first non-zero result.
 */
static long wake_some(uint32_t count)
{
	uint64_t deadline = u_now_ns() + 5 * U_NS_PER_SEC;
	long r;

	while ((r = u_futex_wake(&sl.word, count)) == 0 && u_now_ns() < deadline)
		sys_sleep(U_NS_PER_MS);
	return r;
}

static void test_counts(void)
{
	for (uintptr_t i = 0; i < NSLEEPERS; i++)
		CHECK(u_thread_start(sleeper, (void *)i, stacks[i], STACK_SIZE) > 0);
	wait_until(&sl.ready, NSLEEPERS, "sleepers ready");
	sys_sleep(50 * U_NS_PER_MS); /* let them get to sleep */
	EXPECT(u_atomic_load(&sl.woken) == 0);

	long r = wake_some(1);
	EXPECT(r == 1);
	wait_until(&sl.woken, 1, "first wake");
	sys_sleep(50 * U_NS_PER_MS);
	if (u_atomic_load(&sl.woken) != 1)
		u_expect_fail(__FILE__, __LINE__, "wake(1) let %u sleepers go", u_atomic_load(&sl.woken));

	/* The other two, in one call (retrying only while it wakes none). */
	r = wake_some(10);
	long total = r;
	if (r == 1) /* one of them had not gone to sleep yet */
		total += wake_some(10);
	EXPECT(total == NSLEEPERS - 1);
	wait_until(&sl.woken, NSLEEPERS, "second wake");
	EXPECT(u_futex_wake(&sl.word, 10) == 0);
	for (int i = 0; i < NSLEEPERS; i++) {
		if (sl.results[i] != 0)
			u_expect_fail(__FILE__, __LINE__, "sleeper %d: wait returned %ld (%s)", i,
				      sl.results[i], u_errname(sl.results[i]));
	}
}

/* A huge timeout must not wrap to an instant one: sleeper 3 waits with
 * ~0 ns and is woken. */
static void long_sleeper(void *arg)
{
	long r = u_futex_wait(&sl.word, 1, ~0ull);
	u_atomic_store(&sl.results[NSLEEPERS], r);
	u_atomic_fetch_add(&sl.woken, 1);
}

static void test_huge_timeout(void)
{
	sl.word = 1;
	sl.woken = 0;
	CHECK(u_thread_start(long_sleeper, NULL, stacks[NSLEEPERS], STACK_SIZE) > 0);
	sys_sleep(100 * U_NS_PER_MS);
	if (u_atomic_load(&sl.woken) != 0)
		u_expect_fail(__FILE__, __LINE__, "wait with timeout ~0 returned at once: %ld (%s)",
			      sl.results[NSLEEPERS], u_errname(sl.results[NSLEEPERS]));
	else {
		EXPECT(wake_some(1) == 1);
		wait_until(&sl.woken, 1, "huge-timeout sleeper");
		EXPECT(sl.results[NSLEEPERS] == 0);
	}
}

/* ---- Ping-pong across threads (and CPUs) ------------------------------- */

static struct {
	uint32_t turn; /* 0: main's turn, 1: the partner's */
	unsigned done;
	long error;
	uint64_t cpu_main, cpu_partner; /* last CPU each ran on */
	unsigned apart;			/* rounds seen on different CPUs */
} pp;

static long take_turn(uint32_t me)
{
	uint32_t t;

	while ((t = u_atomic_load(&pp.turn)) != me) {
		long r = u_futex_wait(&pp.turn, t, 0);
		if (r != 0 && r != -ALDER_EAGAIN)
			return r;
	}
	return 0;
}

static long give_turn(uint32_t to)
{
	u_atomic_store(&pp.turn, to);
	long r = u_futex_wake(&pp.turn, 1);
	return r < 0 ? r : 0;
}

static void partner(void *arg)
{
	for (unsigned i = 0; i < ROUNDS; i++) {
		long r = take_turn(1);
		if (r == 0) {
			uint64_t cpu = u_info(ALDER_INFO_CPU_ID, 0);
			u_atomic_store(&pp.cpu_partner, cpu);
			if (cpu != u_atomic_load(&pp.cpu_main))
				u_atomic_fetch_add(&pp.apart, 1);
			r = give_turn(0);
		}
		if (r != 0) {
			u_atomic_store(&pp.error, r);
			break;
		}
	}
	u_atomic_store(&pp.done, 1);
}

static void test_pingpong(void)
{
	uint64_t ncpus = u_info(ALDER_INFO_CPU_COUNT, 1);
	uint64_t t0 = u_now_ns();

	pp.turn = 0;
	CHECK(u_thread_start(partner, NULL, stacks[NSLEEPERS + 1], STACK_SIZE) > 0);
	for (unsigned i = 0; i < ROUNDS; i++) {
		long r = take_turn(0);
		if (r == 0) {
			u_atomic_store(&pp.cpu_main, u_info(ALDER_INFO_CPU_ID, 0));
			r = give_turn(1);
		}
		if (r != 0) {
			u_expect_fail(__FILE__, __LINE__, "ping-pong round %u: %ld (%s)", i, r, u_errname(r));
			return;
		}
		if (u_atomic_load(&pp.error) != 0)
			break;
	}
	wait_until(&pp.done, 1, "ping-pong partner");
	if (pp.error != 0)
		u_expect_fail(__FILE__, __LINE__, "ping-pong partner: %ld (%s)", pp.error,
			      u_errname(pp.error));
	u_printf("futex: ping-pong %u rounds in %lu ms, %u on different CPUs (%lu CPUs)\n", ROUNDS,
		 (u_now_ns() - t0) / U_NS_PER_MS, pp.apart, ncpus);
}

/* ---- exitwait ------------------------------------------------------------- */

static void forever(void *arg)
{
	u_atomic_fetch_add(&sl.ready, 1);
	u_futex_wait(&sl.word, 0, 0);
	u_printf("futex: the sleeper woke up before the process ended\n");
	sys_exit(1);
}

int main(const char *arg, size_t arg_len)
{
	if (strcmp(arg, "exitwait") == 0) {
		CHECK(u_thread_start(forever, NULL, stacks[0], STACK_SIZE) > 0);
		wait_until(&sl.ready, 1, "sleeper ready");
		sys_sleep(20 * U_NS_PER_MS);
		sys_exit(7);
	}
	test_errors();
	test_timeouts();
	test_counts();
	test_huge_timeout();
	test_pingpong();
	return u_test_end("futex");
}
