/*
 * queue: queues, timers, cancellation and events working as specified
 * (abi/alder/queue.h, kernel/generic/queue.c, event.c). The argument picks
 * the case; each is its own row in init's table:
 *   nop           create fills params and header; NOP round trips through
 *                 many index wraps; in_flight, sq_head published; enter with
 *                 nothing to do returns 0 at once
 *   timers        timers complete in deadline order, not before their
 *                 deadline; a past deadline completes at once
 *   timeout       enter with nothing coming: -ETIMEDOUT after the timeout;
 *                 with something submitted: the count, after the timeout
 *   cancel        CANCEL of a pending timer: the timer's CQE is -ECANCELED,
 *                 exactly once, the CANCEL's is 0; a second CANCEL, and one
 *                 of an unknown context, are -ENOENT; cancel of an EVENT_WAIT
 *   events        one signal completes every pending wait on two queues
 *                 (one consumer blocked in enter on another thread) with
 *                 the counter; signals before a wait do not count; closing
 *                 the event completes pending waits with -EPIPE
 *   backpressure  more SQEs than cq_entries: enter takes only what the CQ
 *                 has room for (counting unconsumed CQEs), the rest stay in
 *                 the SQ, nothing is lost or duplicated after draining
 *   close_inflight  close queues with timers and event waits in flight:
 *                 nothing completes into the dead ring, the handle is gone,
 *                 no frame leaks once the ring is unmapped
 *   close_waiter  another thread closes the queue while one waits in enter
 *                 (no timeout): the wait ends with -ECANCELED
 *   exit_waiting  the process exits while a thread waits in enter with no
 *                 timeout: the process must end (init expects status 0)
 *   race          two threads on their own queues: timers racing their
 *                 cancel, waits racing a signaller thread; every operation
 *                 completes exactly once with a consistent result
 *   close_race    queues closed while their timers fire and a signaller
 *                 thread completes their waits: no crash, no frame leak
 * Exits 0 if every check passed.
 */
#include <umem.h>
#include <uqueue.h>
#include <utest.h>

#define MS U_NS_PER_MS
#define SEC U_NS_PER_SEC
#define STACK_SIZE 16384
#define SELF ALDER_HANDLE_SELF_SPACE

static uint8_t stacks[4][STACK_SIZE] __attribute__((aligned(16)));

static uint64_t free_frames(void)
{
	uint64_t v;

	CHECK_EQ(sys_info(ALDER_INFO_FREE_FRAMES, &v), 0);
	return v;
}

static void init_queue(struct u_queue *q, uint32_t sq, uint32_t cq)
{
	long r = u_queue_init(q, sq, cq);

	if (r < 0) {
		u_printf("queue: queue_create(%u, %u): %ld (%s)\n", sq, cq, r, u_errname(r));
		sys_exit(1);
	}
}

static void push(struct u_queue *q, struct alder_sqe sqe)
{
	CHECK_EQ(u_queue_push(q, &sqe), 0);
}

/* Wait (up to 5 s) until n CQEs are ready, then pop them into out. */
static void collect(struct u_queue *q, struct alder_cqe *out, unsigned n)
{
	long r = u_queue_enter(q->handle, 0, n, 5 * SEC);

	if (r < 0 || u_queue_cq_ready(q) < n) {
		u_printf("queue: waiting for %u CQEs: enter %ld (%s), %u ready\n", n, r, u_errname(r),
			 u_queue_cq_ready(q));
		sys_exit(1);
	}
	for (unsigned i = 0; i < n; i++)
		CHECK(u_queue_pop(q, &out[i]));
}

/* No CQE arrives within ms milliseconds. */
static void expect_quiet(struct u_queue *q, uint64_t ms)
{
	EXPECT_ERR("enter expecting no completion", u_queue_enter(q->handle, 0, 1, ms * MS), ALDER_ETIMEDOUT);
	EXPECT(u_queue_cq_ready(q) == 0);
}

/* ---- nop ---------------------------------------------------------------- */

static void test_nop(void)
{
	struct u_queue q;
	struct alder_cqe c;

	init_queue(&q, 8, 16);
	CHECK(q.handle > 0);
	CHECK_EQ(q.params.sq_entries, 8);
	CHECK_EQ(q.params.cq_entries, 16);
	CHECK(q.params.ring_addr != 0 && q.params.ring_addr % U_PAGE_SIZE == 0);
	CHECK(q.params.ring_addr < ULIB_USER_END);
	CHECK(q.params.ring_size % U_PAGE_SIZE == 0);
	CHECK_EQ(q.hdr->sq_mask, 7);
	CHECK_EQ(q.hdr->cq_mask, 15);
	CHECK(q.hdr->sq_offset >= sizeof(struct alder_queue_header));
	CHECK(q.hdr->cq_offset >= q.hdr->sq_offset + 8 * sizeof(struct alder_sqe));
	CHECK(q.hdr->cq_offset + 16 * sizeof(struct alder_cqe) <= q.params.ring_size);
	CHECK(q.hdr->sq_head == 0 && q.hdr->sq_tail == 0 && q.hdr->cq_head == 0 && q.hdr->cq_tail == 0);
	CHECK_EQ(q.hdr->in_flight, 0);

	struct alder_handle_info info;
	CHECK_EQ(u_handle_info(q.handle, &info), 0);
	CHECK_EQ(info.type, ALDER_OBJ_QUEUE);
	CHECK_EQ(info.rights,
		 ALDER_RIGHT_READ | ALDER_RIGHT_WRITE | ALDER_RIGHT_TRANSFER | ALDER_RIGHT_DUPLICATE);

	/* Nothing to do: returns at once. */
	CHECK_EQ(u_queue_enter(q.handle, 0, 0, 0), 0);
	CHECK_EQ(u_queue_enter(q.handle, 100, 0, 0), 0);

	/* Batches of 1..8 through 300 rounds: indices wrap many times. */
	uint64_t ctx = 1;
	for (unsigned round = 0; round < 300; round++) {
		unsigned n = 1 + round % 8;
		for (unsigned i = 0; i < n; i++)
			push(&q, u_sqe_nop(ctx + i));
		CHECK_EQ(u_queue_enter(q.handle, n, n, SEC), n);
		CHECK_EQ(u_atomic_load_acq(&q.hdr->sq_head), u_atomic_load_acq(&q.hdr->sq_tail));
		CHECK_EQ(q.hdr->in_flight, 0);
		for (unsigned i = 0; i < n; i++) {
			CHECK(u_queue_pop(&q, &c));
			CHECK_EQ(c.context, ctx + i);
			CHECK_EQ(c.result, 0);
			CHECK(c.aux[0] == 0 && c.aux[1] == 0);
		}
		CHECK(!u_queue_pop(&q, &c));
		ctx += n;
	}
	/* to_submit smaller than what is queued: the rest waits. */
	for (unsigned i = 0; i < 5; i++)
		push(&q, u_sqe_nop(1000 + i));
	CHECK_EQ(u_queue_enter(q.handle, 2, 0, 0), 2);
	CHECK_EQ(u_queue_sq_pending(&q), 3);
	CHECK_EQ(u_queue_enter(q.handle, ~0ull, 0, 0), 3);
	for (unsigned i = 0; i < 5; i++) {
		CHECK(u_queue_pop(&q, &c));
		CHECK_EQ(c.context, 1000 + i);
	}

	/* ALDER_SQE_SKIP_SUCCESS: a success posts nothing and frees its slot
	 * (at once, or when an asynchronous operation completes); a failure
	 * still posts its CQE. */
	struct alder_sqe skip = u_sqe_nop(2000);
	skip.flags = ALDER_SQE_SKIP_SUCCESS;
	push(&q, skip);
	CHECK_EQ(u_queue_enter(q.handle, 1, 0, 0), 1);
	CHECK_EQ(u_queue_cq_ready(&q), 0);
	CHECK_EQ(q.hdr->in_flight, 0);
	/* 200 ms: still pending when checked, even on a loaded host (a 5 ms
	 * timer once fired before the check). */
	struct alder_sqe tm = u_sqe_timer(2001, u_now_ns() + 200 * MS);
	tm.flags = ALDER_SQE_SKIP_SUCCESS;
	push(&q, tm);
	CHECK_EQ(u_queue_enter(q.handle, 1, 0, 0), 1);
	CHECK_EQ(q.hdr->in_flight, 1);
	/* It fires without a CQE: in_flight drops, nothing is posted. */
	for (int i = 0; i < 500 && q.hdr->in_flight; i++)
		expect_quiet(&q, 10);
	CHECK_EQ(q.hdr->in_flight, 0);
	struct alder_sqe bad = u_sqe_nop(2002);
	bad.flags = ALDER_SQE_SKIP_SUCCESS;
	bad.reserved = 1;
	push(&q, bad);
	CHECK_EQ(u_queue_enter(q.handle, 1, 1, SEC), 1);
	CHECK(u_queue_pop(&q, &c));
	CHECK_EQ(c.context, 2002);
	CHECK_EQ(c.result, -ALDER_EINVAL);

	CHECK_EQ(u_handle_close(q.handle), 0);
	EXPECT_ERR("enter on a closed queue", u_queue_enter(q.handle, 0, 0, 0), ALDER_EBADF);
}

/* ---- timers ------------------------------------------------------------- */

static void test_timers(void)
{
	struct u_queue q;
	struct alder_cqe c[5];
	uint64_t now = u_now_ns();
	/* Submitted out of order; ctx = rank. */
	static const struct {
		uint64_t ctx, offset_ms;
	} plan[] = {{4, 200}, {2, 100}, {0, 0}, {3, 150}, {1, 50}};

	init_queue(&q, 8, 8);
	for (unsigned i = 0; i < U_ARRAY_SIZE(plan); i++)
		push(&q, u_sqe_timer(plan[i].ctx, plan[i].offset_ms ? now + plan[i].offset_ms * MS : 0));
	CHECK_EQ(u_queue_enter(q.handle, 5, 0, 0), 5);
	/* The past deadline (0) completes at once. */
	collect(&q, c, 1);
	CHECK_EQ(c[0].context, 0);
	CHECK_EQ(c[0].result, 0);
	CHECK(q.hdr->in_flight <= 4);
	for (uint64_t rank = 1; rank <= 4; rank++) {
		collect(&q, c, 1);
		uint64_t t = u_now_ns();
		CHECK_EQ(c[0].context, rank);
		CHECK_EQ(c[0].result, 0);
		CHECK(t >= now + rank * 50 * MS);
	}
	CHECK_EQ(q.hdr->in_flight, 0);
	expect_quiet(&q, 20);
	CHECK_EQ(u_handle_close(q.handle), 0);
}

/* ---- timeout ------------------------------------------------------------ */

static void test_timeout(void)
{
	struct u_queue q;
	struct alder_cqe c[2];

	init_queue(&q, 4, 4);
	uint64_t t0 = u_now_ns();
	EXPECT_ERR("enter(0, 1, 30 ms) with nothing in flight", u_queue_enter(q.handle, 0, 1, 30 * MS),
		   ALDER_ETIMEDOUT);
	uint64_t dt = u_now_ns() - t0;
	EXPECT(dt >= 30 * MS && dt < 3 * SEC);

	/* A timer far away: enter submits it, waits out the timeout, returns 1. */
	push(&q, u_sqe_timer(7, u_now_ns() + 3600 * SEC));
	t0 = u_now_ns();
	CHECK_EQ(u_queue_enter(q.handle, 1, 1, 30 * MS), 1);
	dt = u_now_ns() - t0;
	EXPECT(dt >= 30 * MS && dt < 3 * SEC);
	CHECK_EQ(u_queue_cq_ready(&q), 0);

	/* Already satisfied: returns at once, even with a timeout. */
	push(&q, u_sqe_nop(8));
	CHECK_EQ(u_queue_enter(q.handle, 1, 1, 10 * SEC), 1);
	t0 = u_now_ns();
	CHECK_EQ(u_queue_enter(q.handle, 0, 1, 10 * SEC), 0);
	EXPECT(u_now_ns() - t0 < SEC);
	collect(&q, c, 1);
	CHECK_EQ(c[0].context, 8);

	push(&q, u_sqe_cancel(9, 7));
	CHECK_EQ(u_queue_enter(q.handle, 1, 2, SEC), 1);
	collect(&q, c, 2);
	CHECK(c[0].context == 7 && c[0].result == -ALDER_ECANCELED);
	CHECK(c[1].context == 9 && c[1].result == 0);
	CHECK_EQ(u_handle_close(q.handle), 0);
}

/* ---- cancel ------------------------------------------------------------- */

static void test_cancel(void)
{
	struct u_queue q;
	struct alder_cqe c[4];

	init_queue(&q, 8, 8);
	push(&q, u_sqe_timer(77, u_now_ns() + 10 * SEC));
	push(&q, u_sqe_timer(99, u_now_ns() + 10 * SEC));
	CHECK_EQ(u_queue_enter(q.handle, 2, 0, 0), 2);
	CHECK_EQ(q.hdr->in_flight, 2);
	CHECK_EQ(u_queue_cq_ready(&q), 0);

	push(&q, u_sqe_cancel(78, 77));
	CHECK_EQ(u_queue_enter(q.handle, 1, 2, SEC), 1);
	collect(&q, c, 2);
	/* The target completes inside the cancel, before the CANCEL itself. */
	CHECK_EQ(c[0].context, 77);
	CHECK_EQ(c[0].result, -ALDER_ECANCELED);
	CHECK_EQ(c[1].context, 78);
	CHECK_EQ(c[1].result, 0);
	CHECK_EQ(q.hdr->in_flight, 1);
	expect_quiet(&q, 30); /* exactly once */

	/* Again: nothing with that context is in flight any more. */
	push(&q, u_sqe_cancel(79, 77));
	push(&q, u_sqe_cancel(80, 123456));
	CHECK_EQ(u_queue_enter(q.handle, 2, 2, SEC), 2);
	collect(&q, c, 2);
	CHECK(c[0].context == 79 && c[0].result == -ALDER_ENOENT);
	CHECK(c[1].context == 80 && c[1].result == -ALDER_ENOENT);

	/* Cancel of an event wait; a later signal finds nothing. */
	long ev = u_event_create();
	CHECK(ev > 0);
	push(&q, u_sqe_event_wait(50, (alder_handle_t)ev));
	CHECK_EQ(u_queue_enter(q.handle, 1, 0, 0), 1);
	push(&q, u_sqe_cancel(51, 50));
	CHECK_EQ(u_queue_enter(q.handle, 1, 2, SEC), 1);
	collect(&q, c, 2);
	CHECK(c[0].context == 50 && c[0].result == -ALDER_ECANCELED);
	CHECK(c[1].context == 51 && c[1].result == 0);
	CHECK_EQ(u_event_signal((alder_handle_t)ev), 0);
	expect_quiet(&q, 20);

	/* The other timer is still there and still cancellable. */
	CHECK_EQ(q.hdr->in_flight, 1);
	push(&q, u_sqe_cancel(100, 99));
	CHECK_EQ(u_queue_enter(q.handle, 1, 2, SEC), 1);
	collect(&q, c, 2);
	CHECK(c[0].context == 99 && c[0].result == -ALDER_ECANCELED);
	CHECK(c[1].context == 100 && c[1].result == 0);
	CHECK_EQ(q.hdr->in_flight, 0);
	CHECK_EQ(u_handle_close((alder_handle_t)ev), 0);
	CHECK_EQ(u_handle_close(q.handle), 0);
}

/* ---- events ------------------------------------------------------------- */

struct waiter_arg {
	struct u_queue *q;
	long enter_result;
	struct alder_cqe cqe;
	unsigned got;
	unsigned done;
};

/* Block in enter until one CQE arrives (10 s at most), pop it. */
static void waiter_thread(void *p)
{
	struct waiter_arg *w = p;

	w->enter_result = u_queue_enter(w->q->handle, 0, 1, 10 * SEC);
	if (u_queue_pop(w->q, &w->cqe))
		w->got = 1;
	u_atomic_store(&w->done, 1);
}

static void wait_done(unsigned *flag)
{
	uint64_t deadline = u_now_ns() + 10 * SEC;

	while (!u_atomic_load(flag)) {
		CHECK(u_now_ns() < deadline);
		sys_sleep(MS);
	}
}

static void test_events(void)
{
	struct u_queue a, b;
	struct alder_cqe c[4];
	long ev = u_event_create();

	CHECK(ev > 0);
	struct alder_handle_info info;
	CHECK_EQ(u_handle_info((alder_handle_t)ev, &info), 0);
	CHECK_EQ(info.type, ALDER_OBJ_EVENT);

	init_queue(&a, 8, 8);
	init_queue(&b, 4, 4);
	for (uint64_t i = 1; i <= 3; i++)
		push(&a, u_sqe_event_wait(i, (alder_handle_t)ev));
	CHECK_EQ(u_queue_enter(a.handle, 3, 0, 0), 3);
	push(&b, u_sqe_event_wait(10, (alder_handle_t)ev));
	CHECK_EQ(u_queue_enter(b.handle, 1, 0, 0), 1);

	struct waiter_arg w = {.q = &b};
	CHECK(u_thread_start(waiter_thread, &w, stacks[0], STACK_SIZE) > 0);
	expect_quiet(&a, 30);
	EXPECT(!u_atomic_load(&w.done));

	CHECK_EQ(u_event_signal((alder_handle_t)ev), 0);
	collect(&a, c, 3);
	for (unsigned i = 0; i < 3; i++) {
		CHECK_EQ(c[i].context, i + 1);
		CHECK_EQ(c[i].result, 1);
	}
	wait_done(&w.done);
	CHECK_EQ(w.enter_result, 0);
	CHECK_EQ(w.got, 1);
	CHECK_EQ(w.cqe.context, 10);
	CHECK_EQ(w.cqe.result, 1);

	/* Waits were consumed: another signal completes nothing. */
	CHECK_EQ(u_event_signal((alder_handle_t)ev), 0);
	expect_quiet(&a, 20);
	/* Edge-triggered: counter is 2 now, a new wait needs a new signal. */
	push(&a, u_sqe_event_wait(20, (alder_handle_t)ev));
	CHECK_EQ(u_queue_enter(a.handle, 1, 0, 0), 1);
	expect_quiet(&a, 20);
	CHECK_EQ(u_event_signal((alder_handle_t)ev), 0);
	collect(&a, c, 1);
	CHECK(c[0].context == 20 && c[0].result == 3);

	/* A dup'ed handle reaches the same event. */
	long dup = u_handle_dup((alder_handle_t)ev, ALDER_RIGHTS_ALL);
	CHECK(dup > 0);
	push(&a, u_sqe_event_wait(21, (alder_handle_t)dup));
	CHECK_EQ(u_queue_enter(a.handle, 1, 0, 0), 1);
	CHECK_EQ(u_event_signal((alder_handle_t)ev), 0);
	collect(&a, c, 1);
	CHECK(c[0].context == 21 && c[0].result == 4);

	/* Closing one handle keeps the event; closing the last ends the waits. */
	push(&a, u_sqe_event_wait(22, (alder_handle_t)ev));
	push(&a, u_sqe_event_wait(23, (alder_handle_t)ev));
	CHECK_EQ(u_queue_enter(a.handle, 2, 0, 0), 2);
	CHECK_EQ(u_handle_close((alder_handle_t)dup), 0);
	expect_quiet(&a, 20);
	CHECK_EQ(u_handle_close((alder_handle_t)ev), 0);
	collect(&a, c, 2);
	CHECK(c[0].context == 22 && c[0].result == -ALDER_EPIPE);
	CHECK(c[1].context == 23 && c[1].result == -ALDER_EPIPE);
	CHECK_EQ(a.hdr->in_flight, 0);
	CHECK_EQ(u_handle_close(a.handle), 0);
	CHECK_EQ(u_handle_close(b.handle), 0);
}

/* ---- back-pressure ------------------------------------------------------ */

/* Pop every ready CQE, marking its context seen (each exactly once). */
static unsigned drain(struct u_queue *q, bool *seen, unsigned n, int64_t want_result)
{
	struct alder_cqe c;
	unsigned got = 0;

	while (u_queue_pop(q, &c)) {
		CHECK(c.context < n && !seen[c.context]);
		CHECK_EQ(c.result, want_result);
		seen[c.context] = true;
		got++;
	}
	return got;
}

static void test_backpressure(void)
{
	struct u_queue q;
	struct alder_cqe c;
	enum { N = 10, CQ = 4 };
	bool seen[N] = {false};
	long ev = u_event_create();

	CHECK(ev > 0);
	init_queue(&q, 16, CQ);

	/* Event waits: nothing completes until we signal, so every count
	 * is exact. */
	for (unsigned i = 0; i < N; i++)
		push(&q, u_sqe_event_wait(i, (alder_handle_t)ev));
	CHECK_EQ(u_queue_enter(q.handle, N, 0, 0), CQ);
	CHECK_EQ(u_queue_sq_pending(&q), N - CQ);
	CHECK_EQ(q.hdr->in_flight, CQ);
	CHECK_EQ(u_queue_enter(q.handle, N, 0, 0), 0); /* in_flight fills the CQ */
	CHECK_EQ(u_event_signal((alder_handle_t)ev), 0);
	CHECK_EQ(u_queue_cq_ready(&q), CQ);
	CHECK_EQ(q.hdr->in_flight, 0);
	CHECK_EQ(u_queue_enter(q.handle, N, 0, 0), 0); /* unconsumed CQEs fill it */
	CHECK_EQ(u_queue_sq_pending(&q), N - CQ);
	/* Consume one: exactly one more is taken. */
	CHECK(u_queue_pop(&q, &c));
	CHECK(c.context < N && c.result == 1);
	seen[c.context % N] = true;
	CHECK_EQ(u_queue_enter(q.handle, N, 0, 0), 1);
	CHECK_EQ(drain(&q, seen, N, 1), CQ - 1);
	CHECK_EQ(u_queue_enter(q.handle, N, 0, 0), CQ - 1);
	CHECK_EQ(u_queue_sq_pending(&q), N - 2 * CQ);
	CHECK_EQ(u_event_signal((alder_handle_t)ev), 0);
	CHECK_EQ(drain(&q, seen, N, 2), CQ);
	CHECK_EQ(u_queue_enter(q.handle, N, 0, 0), N - 2 * CQ);
	CHECK_EQ(u_event_signal((alder_handle_t)ev), 0);
	CHECK_EQ(drain(&q, seen, N, 3), N - 2 * CQ);
	for (unsigned i = 0; i < N; i++)
		CHECK(seen[i]);
	CHECK_EQ(q.hdr->in_flight, 0);

	/* Timers: however fast they fire, enter takes exactly CQ (a timer
	 * that completed still holds its CQ slot until consumed). */
	memset(seen, 0, sizeof(seen));
	uint64_t now = u_now_ns();
	for (unsigned i = 0; i < N; i++)
		push(&q, u_sqe_timer(i, now + (i + 1) * 5 * MS));
	CHECK_EQ(u_queue_enter(q.handle, N, 0, 0), CQ);
	CHECK_EQ(u_queue_sq_pending(&q), N - CQ);
	CHECK(q.hdr->in_flight <= CQ);
	unsigned completed = 0;
	uint64_t deadline = u_now_ns() + 10 * SEC;
	while (completed < N) {
		CHECK(u_now_ns() < deadline);
		CHECK(u_queue_enter(q.handle, N, 1, SEC) >= 0);
		completed += drain(&q, seen, N, 0);
	}
	CHECK_EQ(u_queue_sq_pending(&q), 0);
	CHECK_EQ(q.hdr->in_flight, 0);
	expect_quiet(&q, 20);

	/* Immediate completions obey the same rule. */
	for (unsigned i = 0; i < 8; i++)
		push(&q, u_sqe_nop(100 + i));
	CHECK_EQ(u_queue_enter(q.handle, 8, 0, 0), CQ);
	CHECK_EQ(u_queue_enter(q.handle, 8, 0, 0), 0);
	for (unsigned i = 0; i < CQ; i++) {
		CHECK(u_queue_pop(&q, &c));
		CHECK_EQ(c.context, 100 + i);
	}
	CHECK_EQ(u_queue_enter(q.handle, 8, CQ, SEC), CQ);
	for (unsigned i = CQ; i < 8; i++) {
		CHECK(u_queue_pop(&q, &c));
		CHECK_EQ(c.context, 100 + i);
	}
	CHECK_EQ(u_handle_close((alder_handle_t)ev), 0);
	CHECK_EQ(u_handle_close(q.handle), 0);
}

/* ---- closing with operations in flight ---------------------------------- */

static void one_close_inflight(alder_handle_t ev, bool unmap)
{
	struct u_queue q;

	init_queue(&q, 16, 16);
	for (unsigned i = 0; i < 8; i++)
		push(&q, u_sqe_timer(i, u_now_ns() + (i % 2 ? 3600 * SEC : 40 * MS)));
	for (unsigned i = 0; i < 4; i++)
		push(&q, u_sqe_event_wait(100 + i, ev));
	CHECK_EQ(u_queue_enter(q.handle, 12, 0, 0), 12);
	/* (A slow machine may already have fired a short timer.) */
	uint32_t tail = u_atomic_load_acq(&q.hdr->cq_tail);
	CHECK_EQ(u_handle_close(q.handle), 0);
	EXPECT_ERR("enter after close", u_queue_enter(q.handle, 0, 0, 0), ALDER_EBADF);
	/* Past the short timers' deadline and a signal: nothing lands in the
	 * dead ring. */
	CHECK_EQ(u_event_signal(ev), 0);
	sys_sleep(60 * MS);
	EXPECT(u_atomic_load_acq(&q.hdr->cq_tail) == tail);
	if (unmap)
		CHECK_EQ(u_space_unmap(SELF, q.params.ring_addr, q.params.ring_size), 0);
}

static void test_close_inflight(void)
{
	long ev = u_event_create();

	CHECK(ev > 0);
	/* Warm-up: kernel caches reach their steady size. */
	one_close_inflight((alder_handle_t)ev, true);
	one_close_inflight((alder_handle_t)ev, true);
	uint64_t before = free_frames();
	for (unsigned i = 0; i < 20; i++)
		one_close_inflight((alder_handle_t)ev, true);
	uint64_t deadline = u_now_ns() + SEC, after;
	while ((after = free_frames()) < before && u_now_ns() < deadline)
		sys_sleep(10 * MS);
	if (after < before)
		u_printf("queue: %lu frames fewer after 20 closed queues\n", before - after);
	EXPECT(after >= before);
	/* The event still works (its waiters on dead queues were cancelled). */
	CHECK_EQ(u_event_signal((alder_handle_t)ev), 0);
	CHECK_EQ(u_handle_close((alder_handle_t)ev), 0);
	/* And a queue left mapped after close is just memory. */
	long ev2 = u_event_create();
	CHECK(ev2 > 0);
	one_close_inflight((alder_handle_t)ev2, false);
	CHECK_EQ(u_handle_close((alder_handle_t)ev2), 0);
}

/* ---- closing under a waiter --------------------------------------------- */

struct forever_arg {
	alder_handle_t h;
	long result;
	unsigned started, done;
};

static void forever_thread(void *p)
{
	struct forever_arg *a = p;

	u_atomic_store(&a->started, 1);
	a->result = u_queue_enter(a->h, 0, 1, 0);
	u_atomic_store(&a->done, 1);
}

static void test_close_waiter(void)
{
	for (unsigned round = 0; round < 2; round++) {
		struct u_queue q;
		init_queue(&q, 4, 4);
		if (round == 1) {
			push(&q, u_sqe_timer(1, u_now_ns() + 3600 * SEC));
			CHECK_EQ(u_queue_enter(q.handle, 1, 0, 0), 1);
		}
		struct forever_arg a = {.h = q.handle};
		CHECK(u_thread_start(forever_thread, &a, stacks[round], STACK_SIZE) > 0);
		while (!u_atomic_load(&a.started))
			sys_yield();
		sys_sleep(30 * MS); /* let it block */
		EXPECT(!u_atomic_load(&a.done));
		CHECK_EQ(u_handle_close(q.handle), 0);
		wait_done(&a.done);
		EXPECT_ERR("enter while another thread closes the queue", a.result, ALDER_ECANCELED);
		EXPECT(q.hdr->cq_tail == 0);
		CHECK_EQ(u_space_unmap(SELF, q.params.ring_addr, q.params.ring_size), 0);
	}
}

/* ---- exit while waiting ------------------------------------------------- */

static void test_exit_waiting(void)
{
	static struct u_queue q;
	static struct forever_arg a;

	init_queue(&q, 4, 4);
	push(&q, u_sqe_timer(1, u_now_ns() + 3600 * SEC));
	CHECK_EQ(u_queue_enter(q.handle, 1, 0, 0), 1);
	a.h = q.handle;
	CHECK(u_thread_start(forever_thread, &a, stacks[0], STACK_SIZE) > 0);
	while (!u_atomic_load(&a.started))
		sys_yield();
	sys_sleep(20 * MS);
	sys_exit(0); /* the waiter is killed; the queue dies with the process */
}

/* ---- races ------------------------------------------------------------- */

#define RACE_ROUNDS 1500

struct race_arg {
	unsigned idx;
	alder_handle_t ev;
	unsigned failures;
	unsigned done;
	unsigned cancelled, fired; /* statistics */
};

static unsigned stop_signaller;

static void signaller_thread(void *p)
{
	alder_handle_t ev = *(alder_handle_t *)p;

	while (!u_atomic_load(&stop_signaller)) {
		u_event_signal(ev);
		sys_yield();
	}
	u_atomic_store(&stop_signaller, 2);
}

static void race_fail(struct race_arg *ra, const char *what, uint64_t round, const struct alder_cqe *c)
{
	if (ra->failures++ < 5)
		u_printf("queue: race %u round %lu: %s (context %lu result %ld)\n", ra->idx, round, what,
			 c ? c->context : 0, c ? (long)c->result : 0);
}

/* Submit an op and its cancel together; expect both CQEs, consistent. */
static void race_thread(void *p)
{
	struct race_arg *ra = p;
	struct u_queue q;
	struct alder_cqe c[2];

	if (u_queue_init(&q, 4, 4) < 0) {
		ra->failures++;
		u_atomic_store(&ra->done, 1);
		return;
	}
	for (uint64_t round = 0; round < RACE_ROUNDS; round++) {
		uint64_t target = round * 2 + 2, cancel = round * 2 + 3;
		struct alder_sqe op = round % 2 ? u_sqe_event_wait(target, ra->ev)
						: u_sqe_timer(target, u_now_ns() + (round % 7) * 150000);
		struct alder_sqe cn = u_sqe_cancel(cancel, target);
		u_queue_push(&q, &op);
		if (round % 3 == 0)
			sys_yield(); /* give the timer or the signaller a chance */
		u_queue_push(&q, &cn);
		long r = u_queue_enter(q.handle, 2, 2, 5 * SEC);
		if (r != 2 || u_queue_cq_ready(&q) != 2) {
			race_fail(ra, "enter", round, NULL);
			break;
		}
		u_queue_pop(&q, &c[0]);
		u_queue_pop(&q, &c[1]);
		const struct alder_cqe *t = c[0].context == target ? &c[0] : &c[1];
		const struct alder_cqe *k = c[0].context == cancel ? &c[0] : &c[1];
		if (t == k || t->context != target || k->context != cancel) {
			race_fail(ra, "contexts", round, &c[0]);
			continue;
		}
		int64_t ok_result = round % 2 ? (int64_t)1 : 0; /* counter >= 1 for waits */
		bool normal = round % 2 ? t->result >= ok_result : t->result == 0;
		if (!normal && t->result != -ALDER_ECANCELED)
			race_fail(ra, "target result", round, t);
		if (k->result != 0 && k->result != -ALDER_ENOENT)
			race_fail(ra, "cancel result", round, k);
		if (k->result == -ALDER_ENOENT && !normal)
			race_fail(ra, "-ENOENT but the target was cancelled", round, t);
		if (k->result == -ALDER_ENOENT && t != &c[0])
			race_fail(ra, "-ENOENT before the target completed", round, k);
		if (t->result == -ALDER_ECANCELED)
			ra->cancelled++;
		else
			ra->fired++;
		if (q.hdr->in_flight != 0)
			race_fail(ra, "in_flight not 0", round, NULL);
	}
	if (u_queue_cq_ready(&q) != 0)
		race_fail(ra, "extra CQE", RACE_ROUNDS, NULL);
	u_handle_close(q.handle);
	u_atomic_store(&ra->done, 1);
}

static void test_race(void)
{
	long ev = u_event_create();
	static alder_handle_t evh;
	static struct race_arg ra[2];

	CHECK(ev > 0);
	evh = (alder_handle_t)ev;
	CHECK(u_thread_start(signaller_thread, &evh, stacks[2], STACK_SIZE) > 0);
	for (unsigned i = 0; i < 2; i++) {
		ra[i].idx = i;
		ra[i].ev = evh;
		CHECK(u_thread_start(race_thread, &ra[i], stacks[i], STACK_SIZE) > 0);
	}
	for (unsigned i = 0; i < 2; i++) {
		uint64_t deadline = u_now_ns() + 60 * SEC;
		while (!u_atomic_load(&ra[i].done)) {
			CHECK(u_now_ns() < deadline);
			sys_sleep(5 * MS);
		}
		u_printf("queue: race %u: %u cancelled, %u completed normally, %u failures\n", i,
			 ra[i].cancelled, ra[i].fired, ra[i].failures);
		EXPECT(ra[i].failures == 0);
	}
	u_atomic_store(&stop_signaller, 1);
	while (u_atomic_load(&stop_signaller) != 2)
		sys_sleep(MS);
	CHECK_EQ(u_handle_close(evh), 0);
}

/*
 * Queues closed while their timers fire and a signaller completes their
 * waits on another CPU: no crash, no leak (the rings are unmapped).
 */
static void test_close_race(void)
{
	long ev = u_event_create();
	static alder_handle_t evh;

	CHECK(ev > 0);
	evh = (alder_handle_t)ev;
	u_atomic_store(&stop_signaller, 0);
	CHECK(u_thread_start(signaller_thread, &evh, stacks[2], STACK_SIZE) > 0);
	uint64_t before = 0;
	for (unsigned round = 0; round < 300; round++) {
		if (round == 20)
			before = free_frames(); /* after the warm-up */
		struct u_queue q;
		init_queue(&q, 16, 16);
		uint64_t now = u_now_ns();
		for (unsigned i = 0; i < 8; i++)
			push(&q, u_sqe_timer(i, now + (i + round) % 4 * 300000));
		for (unsigned i = 0; i < 4; i++)
			push(&q, u_sqe_event_wait(100 + i, evh));
		CHECK_EQ(u_queue_enter(q.handle, 12, 0, 0), 12);
		if (round % 3)
			sys_sleep((round % 5) * 200000);
		CHECK_EQ(u_handle_close(q.handle), 0);
		CHECK_EQ(u_space_unmap(SELF, q.params.ring_addr, q.params.ring_size), 0);
	}
	u_atomic_store(&stop_signaller, 1);
	while (u_atomic_load(&stop_signaller) != 2)
		sys_sleep(MS);
	CHECK_EQ(u_handle_close(evh), 0);
	uint64_t deadline = u_now_ns() + SEC, after;
	while ((after = free_frames()) < before && u_now_ns() < deadline)
		sys_sleep(10 * MS);
	if (after < before)
		u_printf("queue: %lu frames fewer after 280 raced closes\n", before - after);
	EXPECT(after >= before);
}

int main(const char *arg, size_t arg_len)
{
	static const struct {
		const char *name;
		void (*fn)(void);
	} cases[] = {
	    {"nop", test_nop},
	    {"timers", test_timers},
	    {"timeout", test_timeout},
	    {"cancel", test_cancel},
	    {"events", test_events},
	    {"backpressure", test_backpressure},
	    {"close_inflight", test_close_inflight},
	    {"close_waiter", test_close_waiter},
	    {"exit_waiting", test_exit_waiting},
	    {"race", test_race},
	    {"close_race", test_close_race},
	};

	for (size_t i = 0; i < U_ARRAY_SIZE(cases); i++) {
		if (strcmp(arg, cases[i].name) == 0) {
			cases[i].fn();
			return u_test_end(arg);
		}
	}
	u_printf("queue: unknown case \"%s\"\n", arg);
	return 2;
}
