/*
 * smp_stress_cow: copy-on-write page replacement with two threads of one
 * process, on different CPUs when there are two. Two phases of RUN_NS each.
 *
 * Private views: each thread loops: make a COW view of a shared, populated
 * source object, map it RW at its own address, and for every page first
 * read it (so the source's frame is entered read-only) and then write it (so
 * the kernel replaces that translation with a private copy and flushes the
 * old one on every CPU), check the page, then unmap and close. Both threads
 * fault in the same address space all the time, so a kernel that flushes
 * TLBs on other CPUs while holding the space's lock, and lets another CPU
 * spin on that lock with interrupts off, deadlocks here (the whole machine
 * stops; the harness reports a missing DONE).
 *
 * Shared view: per round, one view mapped twice: the reader thread reads
 * every page through mapping R (entering the source's frames in its CPU's
 * TLB) and says so; the writer then writes each page through mapping W
 * (the copy) and announces it; the reader must then see the write through
 * R. Seeing the source's data instead means the replaced frame's
 * translation in the other mapping was not cleared on the reader's CPU.
 *
 * Pass: no check failed, the source is unchanged, each thread made at least
 * one round in each phase (shootdowns are slow under emulation, so round
 * counts are only printed). A phase lasts RUN_NS and until both threads
 * made a round (at most GIVE_UP_NS), so a stall of the whole VM cannot
 * fail it.
 */
#include <umem.h>
#include <utest.h>

#define BASE ((uint64_t)0x1b0000000)
#define PAGE U_PAGE_SIZE
#define SELF ALDER_HANDLE_SELF_SPACE
#define RW (ALDER_PROT_READ | ALDER_PROT_WRITE)
#define NP 16
#define STACK_SIZE 16384
#define RUN_NS (1 * U_NS_PER_SEC)
#define GIVE_UP_NS (15 * U_NS_PER_SEC)
#define SRC_WORD(p) (0xc0de0000u + (p))
#define SRC_TAG 0x5a5a5a5au
#define SHARED_R (BASE + 256 * PAGE)
#define SHARED_W (BASE + 320 * PAGE)

static uint8_t stacks[4][STACK_SIZE] __attribute__((aligned(16)));
static alder_handle_t src; /* written by main before the threads start */
static unsigned stop;	   /* main sets it to end a phase */
static uint64_t give_up;   /* phase start + GIVE_UP_NS */

static struct worker {
	unsigned long rounds, failures;
	char first_failure[128];
	unsigned done;
} workers[4] __attribute__((aligned(64)));

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

static volatile uint32_t *page(uint64_t at, unsigned p)
{
	return (volatile uint32_t *)(at + p * PAGE);
}

/* ---- Private views ---------------------------------------------------------- */

static void private_worker(void *arg)
{
	struct worker *w = arg;
	uintptr_t me = (uintptr_t)(w - workers);
	const uint64_t at = BASE + (me + 1) * 64 * PAGE;

	while (!u_atomic_load(&stop) && w->failures == 0) {
		long v = u_mem_create_cow(src, 0, NP * PAGE);
		if (v <= 0) {
			fail(w, "cow: %ld (%s)", v, u_errname(v));
			break;
		}
		long r = u_space_map(SELF, (alder_handle_t)v, 0, at, NP * PAGE, RW);
		if (r != (long)at) {
			fail(w, "map: %ld (%s)", r, u_errname(r));
		} else {
			uint32_t tag = (uint32_t)(me << 16 | w->rounds);
			for (unsigned p = 0; p < NP; p++) {
				if (page(at, p)[0] != SRC_WORD(p)) /* read: the source's frame */
					fail(w, "page %u reads 0x%x before the write", p, page(at, p)[0]);
				page(at, p)[1] = tag; /* write: copy, flush */
				if (page(at, p)[0] != SRC_WORD(p) || page(at, p)[1] != tag)
					fail(w, "page %u wrong after the copy", p);
			}
			r = u_space_unmap(SELF, at, NP * PAGE);
			if (r != 0)
				fail(w, "unmap: %ld (%s)", r, u_errname(r));
		}
		r = u_handle_close((alder_handle_t)v);
		if (r != 0)
			fail(w, "close: %ld (%s)", r, u_errname(r));
		u_atomic_store(&w->rounds, w->rounds + 1); /* main watches progress */
	}
	u_atomic_store(&w->done, 1);
}

/* ---- Shared view -------------------------------------------------------------- */

/* Handshake for one round; all through u_atomic_*. */
static struct {
	unsigned round;	  /* writer: a new round's mappings are up */
	unsigned primed;  /* reader: read every page of this round through R */
	unsigned written; /* writer: pages 0..written-1 of this round copied */
	unsigned checked; /* reader: finished checking this round */
	unsigned stop;
} hs;

static bool wait_for(unsigned *what, unsigned want, struct worker *w, const char *name)
{
	while (u_atomic_load(what) != want) {
		if (u_atomic_load(&hs.stop))
			return false;
		if (u_now_ns() > give_up) {
			fail(w, "gave up waiting for %s", name);
			u_atomic_store(&hs.stop, 1);
			return false;
		}
		sys_yield();
	}
	return true;
}

static void shared_writer(void *arg)
{
	struct worker *w = arg;

	for (unsigned round = 1; !u_atomic_load(&stop) && w->failures == 0; round++) {
		long v = u_mem_create_cow(src, 0, NP * PAGE);
		if (v <= 0) {
			fail(w, "cow: %ld (%s)", v, u_errname(v));
			break;
		}
		long r1 = u_space_map(SELF, (alder_handle_t)v, 0, SHARED_R, NP * PAGE, ALDER_PROT_READ);
		long r2 = u_space_map(SELF, (alder_handle_t)v, 0, SHARED_W, NP * PAGE, RW);
		if (r1 != (long)SHARED_R || r2 != (long)SHARED_W) {
			fail(w, "map: %ld, %ld", r1, r2);
			break;
		}
		u_atomic_store(&hs.written, 0);
		u_atomic_store(&hs.round, round);
		if (!wait_for(&hs.primed, round, w, "the reader to prime"))
			break;
		for (unsigned p = 0; p < NP; p++) {
			page(SHARED_W, p)[1] = round; /* the copy */
			u_atomic_store(&hs.written, p + 1);
		}
		if (!wait_for(&hs.checked, round, w, "the reader to check"))
			break;
		if (u_space_unmap(SELF, SHARED_R, NP * PAGE) != 0 ||
		    u_space_unmap(SELF, SHARED_W, NP * PAGE) != 0 || u_handle_close((alder_handle_t)v) != 0)
			fail(w, "unmap or close failed in round %u", round);
		u_atomic_store(&w->rounds, w->rounds + 1); /* main watches progress */
	}
	u_atomic_store(&hs.stop, 1);
	u_atomic_store(&w->done, 1);
}

static void shared_reader(void *arg)
{
	struct worker *w = arg;

	for (unsigned round = 1;; round++) {
		if (!wait_for(&hs.round, round, w, "a round"))
			break;
		for (unsigned p = 0; p < NP; p++) {
			if (page(SHARED_R, p)[1] != SRC_TAG)
				fail(w, "round %u page %u: 0x%x before any write", round, p,
				     page(SHARED_R, p)[1]);
		}
		u_atomic_store(&hs.primed, round);
		for (unsigned p = 0; p < NP; p++) {
			/* Until the write is announced either value is fine; after,
			 * only the copy. */
			while (u_atomic_load(&hs.written) <= p) {
				uint32_t v = page(SHARED_R, p)[1];
				if (v != SRC_TAG && v != round)
					fail(w, "round %u page %u: 0x%x while being copied", round, p, v);
				if (u_atomic_load(&hs.stop))
					goto out;
			}
			uint32_t v = page(SHARED_R, p)[1];
			if (v != round)
				fail(w,
				     "round %u page %u: reads 0x%x through the other mapping after the copy "
				     "of 0x%x",
				     round, p, v, round);
		}
		u_atomic_store(&w->rounds, w->rounds + 1); /* main watches progress */
		u_atomic_store(&hs.checked, round);
	}
out:
	u_atomic_store(&w->done, 1);
}

/* ---- main ------------------------------------------------------------------------ */

static void run_phase(const char *name, void (*fn0)(void *), void (*fn1)(void *), unsigned first)
{
	uint64_t t0 = u_now_ns();

	u_atomic_store(&stop, 0);
	give_up = t0 + GIVE_UP_NS;
	CHECK(u_thread_start(fn0, &workers[first], stacks[first], STACK_SIZE) > 0);
	CHECK(u_thread_start(fn1, &workers[first + 1], stacks[first + 1], STACK_SIZE) > 0);
	/* Run for RUN_NS and until both made a round: the host may stall the
	 * whole VM for a while, and a fixed window alone could then leave a
	 * thread no turn at all. */
	for (;;) {
		bool all = u_atomic_load(&workers[first].rounds) > 0 &&
			   u_atomic_load(&workers[first + 1].rounds) > 0;
		uint64_t now = u_now_ns();
		if ((all && now >= t0 + RUN_NS) || now >= give_up)
			break;
		sys_sleep(5 * U_NS_PER_MS);
	}
	u_atomic_store(&stop, 1);
	for (unsigned i = first; i < first + 2; i++) {
		while (!u_atomic_load(&workers[i].done)) {
			if (u_now_ns() > give_up + 10 * U_NS_PER_SEC) {
				u_printf("smp_stress_cow: %s: thread %u stuck after %lu rounds\n", name,
					 i - first, u_atomic_load(&workers[i].rounds));
				sys_exit(1);
			}
			sys_sleep(5 * U_NS_PER_MS);
		}
	}
	u_printf("smp_stress_cow: %s: %lu ms, rounds %lu and %lu\n", name, (u_now_ns() - t0) / U_NS_PER_MS,
		 workers[first].rounds, workers[first + 1].rounds);
	for (unsigned i = first; i < first + 2; i++) {
		struct worker *w = &workers[i];
		if (w->failures != 0)
			u_expect_fail(__FILE__, __LINE__, "%s: thread %u: %lu failures, first: %s", name,
				      i - first, w->failures, w->first_failure);
		if (w->rounds == 0)
			u_expect_fail(__FILE__, __LINE__, "%s: thread %u made no progress", name, i - first);
	}
}

int main(const char *arg, size_t arg_len)
{
	long h = u_mem_create(NP * PAGE, 0);
	CHECK(h > 0);
	src = (alder_handle_t)h;
	CHECK_EQ(u_space_map(SELF, src, 0, BASE, NP * PAGE, RW), (long)BASE);
	for (unsigned p = 0; p < NP; p++) {
		page(BASE, p)[0] = SRC_WORD(p);
		page(BASE, p)[1] = SRC_TAG;
	}

	run_phase("private views", private_worker, private_worker, 0);
	run_phase("shared view", shared_writer, shared_reader, 2);

	for (unsigned p = 0; p < NP; p++) {
		if (page(BASE, p)[0] != SRC_WORD(p) || page(BASE, p)[1] != SRC_TAG) {
			u_expect_fail(__FILE__, __LINE__, "source page %u changed by a view's write", p);
			break;
		}
	}
	EXPECT(u_space_unmap(SELF, BASE, NP * PAGE) == 0);
	EXPECT(u_handle_close(src) == 0);
	return u_test_end("smp_stress_cow");
}
