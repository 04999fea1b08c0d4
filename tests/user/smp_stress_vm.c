/*
 * smp_stress_vm: threads on different CPUs change and use one address space
 * at the same time, for about RUN_NS.
 *
 *   mapper   loops: create an object, map it at CHURN (4 pages), write and
 *            check every page, protect it read-only and check, unmap the
 *            middle page, check the rest, unmap, close; map the stable
 *            object at a kernel-chosen address and check it
 *   swapper  loops, holding the mutex: swap which of two objects (X, Y) is
 *            mapped at SWAP (unmap + map) and record which one it is; then
 *            waits (outside the lock) until the toucher has checked SWAP,
 *            so that every swap is checked and the mutex's unfairness
 *            cannot starve the others
 *   toucher  loops over the STABLE region (16 pages, mapped once, never
 *            changed) writing and checking its own word in each page; then,
 *            holding the mutex, reads SWAP and checks it shows the object
 *            the swapper recorded. Reading the old object there means the
 *            unmap did not shoot down this CPU's TLB entry (both objects
 *            stay alive, so a stale entry reads valid memory, not a fault)
 *   rw       loops SYS_SPACE_RW reads of STABLE (and writes of its own
 *            word), checking results
 * All four also add to a shared counter under the futex mutex (the mapper
 * only every 16th round, so that its churn does not wait for the lock). Nobody
 * touches CHURN but the mapper, so no access can fault. Pass: no check
 * failed, the counter equals the sum of the threads' own counts, each
 * thread made at least one round (the mutex is not fair, and with two
 * CPUs every TLB shootdown waits for the other CPU, which is slow under
 * emulation: round counts vary by orders of magnitude and are only
 * printed). The run lasts RUN_NS and until every worker made a round (at
 * most GIVE_UP_NS), so a stall of the whole VM cannot fail it.
 */
#include <umem.h>
#include <utest.h>

#define PAGE U_PAGE_SIZE
#define SELF ALDER_HANDLE_SELF_SPACE
#define RW (ALDER_PROT_READ | ALDER_PROT_WRITE)
#define STABLE ((uint64_t)0x190000000)
#define STABLE_PAGES 16
#define CHURN (STABLE + 64 * PAGE)
#define CHURN_PAGES 4
#define SWAP (STABLE + 128 * PAGE)
#define STACK_SIZE 16384
#define RUN_NS (1 * U_NS_PER_SEC)
#define GIVE_UP_NS (15 * U_NS_PER_SEC)
#define NWORKERS 4
#define MAGIC 0x57ab1e00u
#define X_WORD 0x58585858u
#define Y_WORD 0x59595959u

static uint8_t stacks[NWORKERS][STACK_SIZE] __attribute__((aligned(16)));

static alder_handle_t stable_mem, x_mem, y_mem; /* set by main before start */
static unsigned stop;				/* main sets it to end the run */

static u_mutex_t lock = U_MUTEX_INIT;
/* Protected by lock. */
static volatile unsigned long shared_count;
static volatile uint32_t swap_current;		    /* X_WORD or Y_WORD: what SWAP shows */
static volatile unsigned long swaps, swaps_checked; /* the toucher copies swaps */

static struct worker {
	const char *name;
	unsigned long rounds, mine;
	unsigned long failures;
	char first_failure[200];
	unsigned done;
} workers[NWORKERS] __attribute__((aligned(64)));

static void fail(struct worker *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(struct worker *w, const char *fmt, ...)
{
	if (w->failures++ == 0) {
		va_list ap;
		va_start(ap, fmt);
		u_vsnprintf(w->first_failure, sizeof(w->first_failure), fmt, ap);
		va_end(ap);
	}
}

static volatile uint32_t *word_at(uint64_t base, unsigned page, unsigned idx)
{
	return (volatile uint32_t *)(base + page * PAGE) + idx;
}

/* Take the lock, bump the shared counter, run fn (may be NULL), unlock. */
static void locked_bump(struct worker *w, void (*fn)(struct worker *))
{
	long r = u_mutex_lock(&lock);

	if (r != 0) {
		fail(w, "mutex lock: %ld (%s)", r, u_errname(r));
		return;
	}
	shared_count = shared_count + 1;
	w->mine++;
	if (fn != NULL)
		fn(w);
	r = u_mutex_unlock(&lock);
	if (r != 0)
		fail(w, "mutex unlock: %ld (%s)", r, u_errname(r));
}

/* ---- mapper ---------------------------------------------------------------- */

static void swap_objects(struct worker *w)
{
	bool to_y = swap_current == X_WORD;
	long r = u_space_unmap(SELF, SWAP, PAGE);

	if (r != 0) {
		fail(w, "swap unmap: %ld (%s)", r, u_errname(r));
		return;
	}
	r = u_space_map(SELF, to_y ? y_mem : x_mem, 0, SWAP, PAGE, ALDER_PROT_READ);
	if (r != (long)SWAP) {
		fail(w, "swap map: %ld (%s)", r, u_errname(r));
		return;
	}
	swap_current = to_y ? Y_WORD : X_WORD;
	swaps = swaps + 1;
	if (*word_at(SWAP, 0, 0) != swap_current)
		fail(w, "mapper reads 0x%x at SWAP right after mapping 0x%x", *word_at(SWAP, 0, 0),
		     swap_current);
}

static void churn_once(struct worker *w, unsigned long n)
{
	long h = u_mem_create(CHURN_PAGES * PAGE, 0);
	if (h <= 0) {
		fail(w, "mem_create: %ld (%s)", h, u_errname(h));
		return;
	}
	long r = u_space_map(SELF, (alder_handle_t)h, 0, CHURN, CHURN_PAGES * PAGE, RW);
	if (r != (long)CHURN) {
		fail(w, "churn map: %ld (%s)", r, u_errname(r));
		goto close;
	}
	for (unsigned p = 0; p < CHURN_PAGES; p++) {
		uint32_t v = *word_at(CHURN, p, 5);
		if (v != 0) /* the value says whose: n * 8 + p of an earlier round? */
			fail(w, "round %lu: new object page %u not zero: word 5 is 0x%x, again 0x%x (CPU %lu)", n,
			     p, v, *word_at(CHURN, p, 5), u_info(ALDER_INFO_CPU_ID, UINT64_MAX));
		*word_at(CHURN, p, 5) = (uint32_t)(n * 8 + p);
	}
	r = u_space_protect(SELF, CHURN, CHURN_PAGES * PAGE, ALDER_PROT_READ);
	if (r != 0)
		fail(w, "churn protect: %ld (%s)", r, u_errname(r));
	r = u_space_unmap(SELF, CHURN + PAGE, PAGE);
	if (r != 0)
		fail(w, "churn partial unmap: %ld (%s)", r, u_errname(r));
	for (unsigned p = 0; p < CHURN_PAGES; p++) {
		if (p != 1 && *word_at(CHURN, p, 5) != (uint32_t)(n * 8 + p))
			fail(w, "round %lu: churn page %u lost its data", n, p);
	}
	r = u_space_unmap(SELF, CHURN, CHURN_PAGES * PAGE);
	if (r != 0)
		fail(w, "churn unmap: %ld (%s)", r, u_errname(r));

	/* The stable object again, wherever the kernel likes. */
	long at = u_space_map(SELF, stable_mem, 0, 0, STABLE_PAGES * PAGE, ALDER_PROT_READ);
	if (at <= 0) {
		fail(w, "kernel-chosen map: %ld (%s)", at, u_errname(at));
	} else {
		if (*word_at((uint64_t)at, STABLE_PAGES - 1, 0) != MAGIC + STABLE_PAGES - 1)
			fail(w, "stable object at 0x%lx: page %d wrong", at, STABLE_PAGES - 1);
		r = u_space_unmap(SELF, (uint64_t)at, STABLE_PAGES * PAGE);
		if (r != 0)
			fail(w, "unmap kernel-chosen: %ld (%s)", r, u_errname(r));
	}
close:
	r = u_handle_close((alder_handle_t)h);
	if (r != 0)
		fail(w, "close: %ld (%s)", r, u_errname(r));
}

static void mapper(void *arg)
{
	struct worker *w = arg;

	for (unsigned long n = 0; !u_atomic_load(&stop) && w->failures == 0; n++) {
		churn_once(w, n);
		if ((n & 15) == 0)
			locked_bump(w, NULL);
		u_atomic_store(&w->rounds, w->rounds + 1); /* main watches progress */
	}
	u_atomic_store(&w->done, 1);
}

static void swapper(void *arg)
{
	struct worker *w = arg;

	while (!u_atomic_load(&stop) && w->failures == 0) {
		locked_bump(w, swap_objects);
		u_atomic_store(&w->rounds, w->rounds + 1); /* main watches progress */
		/* Racy reads are fine here: only a hint to stop waiting. */
		while (swaps_checked != swaps && !u_atomic_load(&stop))
			sys_yield();
	}
	u_atomic_store(&w->done, 1);
}

/* ---- toucher ---------------------------------------------------------------- */

static void check_swap(struct worker *w)
{
	uint32_t seen = *word_at(SWAP, 0, 0);

	if (seen != swap_current)
		fail(w, "SWAP shows 0x%x, the swapper mapped 0x%x (stale TLB?)", seen, swap_current);
	swaps_checked = swaps;
}

static void toucher(void *arg)
{
	struct worker *w = arg;

	for (uint32_t n = 1; !u_atomic_load(&stop) && w->failures == 0; n++) {
		for (unsigned p = 0; p < STABLE_PAGES; p++) {
			*word_at(STABLE, p, 1) = n;
			if (*word_at(STABLE, p, 1) != n || *word_at(STABLE, p, 0) != MAGIC + p)
				fail(w, "stable page %u wrong in round %u", p, n);
		}
		/* SWAP is read only under the lock: the swapper swaps it under
		 * the lock, so it is always mapped here. The translation
		 * stays in this CPU's TLB between rounds. */
		locked_bump(w, check_swap);
		u_atomic_store(&w->rounds, w->rounds + 1); /* main watches progress */
	}
	u_atomic_store(&w->done, 1);
}

/* ---- rw ------------------------------------------------------------------------ */

static void rw_worker(void *arg)
{
	struct worker *w = arg;
	uint32_t buf[4];

	for (uint32_t n = 1; !u_atomic_load(&stop) && w->failures == 0; n++) {
		unsigned p = n % STABLE_PAGES;
		long r = u_space_rw(SELF, STABLE + p * PAGE, buf, sizeof(buf), false);
		if (r < 0 || buf[0] != MAGIC + p)
			fail(w, "rw read of stable page %u: %ld, word 0x%x", p, r, buf[0]);
		r = u_space_rw(SELF, STABLE + p * PAGE + 8, &n, sizeof(n), true);
		if (r < 0)
			fail(w, "rw write of stable page %u: %ld (%s)", p, r, u_errname(r));
		if (*word_at(STABLE, p, 2) != n)
			fail(w, "rw write of stable page %u not seen", p);
		locked_bump(w, NULL);
		u_atomic_store(&w->rounds, w->rounds + 1); /* main watches progress */
	}
	u_atomic_store(&w->done, 1);
}

static alder_handle_t create(uint64_t size)
{
	long h = u_mem_create(size, 0);

	CHECK(h > 0);
	return (alder_handle_t)h;
}

int main(const char *arg, size_t arg_len)
{
	stable_mem = create(STABLE_PAGES * PAGE);
	x_mem = create(PAGE);
	y_mem = create(PAGE);
	CHECK_EQ(u_space_map(SELF, stable_mem, 0, STABLE, STABLE_PAGES * PAGE, RW), (long)STABLE);
	for (unsigned p = 0; p < STABLE_PAGES; p++)
		*word_at(STABLE, p, 0) = MAGIC + p;
	CHECK_EQ(u_space_map(SELF, x_mem, 0, SWAP, PAGE, RW), (long)SWAP);
	*word_at(SWAP, 0, 0) = X_WORD;
	CHECK_EQ(u_space_unmap(SELF, SWAP, PAGE), 0);
	CHECK_EQ(u_space_map(SELF, y_mem, 0, SWAP, PAGE, RW), (long)SWAP);
	*word_at(SWAP, 0, 0) = Y_WORD;
	CHECK_EQ(u_space_unmap(SELF, SWAP, PAGE), 0);
	CHECK_EQ(u_space_map(SELF, x_mem, 0, SWAP, PAGE, ALDER_PROT_READ), (long)SWAP);
	swap_current = X_WORD;

	void (*const fns[NWORKERS])(void *) = {mapper, swapper, toucher, rw_worker};
	const char *const names[NWORKERS] = {"mapper", "swapper", "toucher", "rw"};
	uint64_t t0 = u_now_ns();
	for (int i = 0; i < NWORKERS; i++) {
		workers[i].name = names[i];
		CHECK(u_thread_start(fns[i], &workers[i], stacks[i], STACK_SIZE) > 0);
	}
	/* Run for RUN_NS and until every worker made a round: the host may
	 * stall the whole VM for a while, and a fixed window alone could then
	 * leave a worker no turn at all. */
	for (;;) {
		bool all = true;
		for (int i = 0; i < NWORKERS; i++)
			all = all && u_atomic_load(&workers[i].rounds) > 0;
		uint64_t now = u_now_ns();
		if ((all && now >= t0 + RUN_NS) || now >= t0 + GIVE_UP_NS)
			break;
		sys_sleep(5 * U_NS_PER_MS);
	}
	u_atomic_store(&stop, 1);
	for (int i = 0; i < NWORKERS; i++) {
		while (!u_atomic_load(&workers[i].done)) {
			if (u_now_ns() > t0 + GIVE_UP_NS + 10 * U_NS_PER_SEC) {
				u_printf("smp_stress_vm: %s stuck after %lu rounds\n", workers[i].name,
					 u_atomic_load(&workers[i].rounds));
				return 1;
			}
			sys_sleep(5 * U_NS_PER_MS);
		}
	}

	unsigned long sum = 0;
	for (int i = 0; i < NWORKERS; i++) {
		struct worker *w = &workers[i];
		sum += w->mine;
		if (w->failures != 0)
			u_expect_fail(__FILE__, __LINE__, "%s: %lu failures, first: %s", w->name, w->failures,
				      w->first_failure);
		if (w->rounds == 0)
			u_expect_fail(__FILE__, __LINE__, "%s made no progress", w->name);
	}
	u_printf("smp_stress_vm: %lu ms; rounds: mapper %lu, swapper %lu, toucher %lu, rw %lu; counter %lu\n",
		 (u_now_ns() - t0) / U_NS_PER_MS, workers[0].rounds, workers[1].rounds, workers[2].rounds,
		 workers[3].rounds, sum);
	if (shared_count != sum)
		u_expect_fail(__FILE__, __LINE__, "shared counter %lu, threads counted %lu", shared_count,
			      sum);
	EXPECT(u_space_unmap(SELF, STABLE, 256 * PAGE) == 0);
	EXPECT(u_handle_close(stable_mem) == 0);
	EXPECT(u_handle_close(x_mem) == 0);
	EXPECT(u_handle_close(y_mem) == 0);
	return u_test_end("smp_stress_vm");
}
