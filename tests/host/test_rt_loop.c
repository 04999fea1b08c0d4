/*
 * Host unit tests of the lib/rt event loop and operation records
 * (lib/rt/loop.c) on the fake kernel (lib/rt/host/fake_kernel.c):
 * delivery exactly once on every path (completion, cancel in each state,
 * the completion/cancel race in both CQE orders, shutdown), ordering,
 * back-pressure with tiny rings and a kernel that takes fewer SQEs than
 * offered, local ops, events, logging, and a randomised exactly-once check.
 * Fibrils are in test_rt_fibril.c, stream helpers in test_rt_stream.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "../../lib/rt/host/rt_all.c"

#include <stdlib.h>
#include <string.h>

/* ---- Fixtures -------------------------------------------------------------- */

/* An op with a record of its deliveries. */
struct rec {
	struct rt_op op;
	int calls;
	int64_t result;
	int order; /* global delivery sequence number */
};

static int delivery_seq;

static void rec_done(struct rt_op *op)
{
	struct rec *r = rt_container_of(op, struct rec, op);
	r->calls++;
	r->result = op->result;
	r->order = delivery_seq++;
}

static int setup(void **state)
{
	(void)state;
	fake_reset();
	delivery_seq = 0;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	assert_int_equal(fake_stats.violations, 0);
	assert_int_equal(fake_stats.queues_live, 0);
	assert_int_equal(fake_stats.stacks_live, 0);
	return 0;
}

static void loop_up(struct rt_loop *loop, uint32_t sq, uint32_t cq)
{
	struct rt_loop_config cfg = {.sq_entries = sq, .cq_entries = cq};
	assert_int_equal(rt_loop_init(loop, &cfg), 0);
}

static void loop_down(struct rt_loop *loop)
{
	assert_int_equal(rt_loop_shutdown(loop), 0);
	rt_loop_fini(loop);
	assert_int_equal(fake_pending_ops(), 0);
}

static void start_nop(struct rt_loop *loop, struct rec *r)
{
	rt_op_prep_nop(&r->op);
	assert_int_equal(rt_op_start(loop, &r->op, rec_done), 0);
}

static void start_timer(struct rt_loop *loop, struct rec *r, uint64_t deadline)
{
	assert_int_equal(rt_timer_start(loop, &r->op, deadline, rec_done), 0);
}

/* An op the fake never completes by itself: a wait on a fresh event. */
static void start_forever(struct rt_loop *loop, struct rec *r)
{
	long ev = rt_event_create();
	assert_true(ev > 0);
	assert_int_equal(rt_event_wait_start(loop, &r->op, (alder_handle_t)ev, rec_done), 0);
}

/* ---- Basics ----------------------------------------------------------------- */

static void test_init_rejects_bad_sizes(void **state)
{
	struct rt_loop loop;
	struct rt_loop_config bad[] = {
	    {.sq_entries = 3},	  {.cq_entries = 1},   {.cq_entries = 6},
	    {.sq_entries = 8192}, {.stack_size = 100},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(rt_loop_init(&loop, &bad[i]), -ALDER_EINVAL);
	assert_int_equal(fake_stats.queues_live, 0);
}

static void test_nop_delivered_once(void **state)
{
	struct rt_loop loop;
	struct rec r = {0};
	loop_up(&loop, 8, 8);
	start_nop(&loop, &r);
	assert_true(rt_op_busy(&r.op));
	assert_int_equal(r.calls, 0); /* never inline */
	assert_int_equal(rt_loop_run(&loop), RT_LOOP_IDLE);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.result, 0);
	assert_false(rt_op_busy(&r.op));
	assert_int_equal(rt_loop_run(&loop), RT_LOOP_IDLE);
	assert_int_equal(r.calls, 1);
	struct rt_loop_stats st = rt_loop_get_stats(&loop);
	assert_int_equal(st.started, 1);
	assert_int_equal(st.delivered, 1);
	assert_int_equal(st.cqes, 1);
	loop_down(&loop);
	assert_int_equal(r.calls, 1);
}

static void test_start_errors(void **state)
{
	struct rt_loop loop;
	struct rec r = {0}, c = {0};
	loop_up(&loop, 8, 8);
	start_nop(&loop, &r);
	assert_int_equal(rt_op_start(&loop, &r.op, rec_done), -ALDER_EBUSY);
	/* Cancels are the runtime's business. */
	rt_op_prep(&c.op, ALDER_OP_CANCEL, 0, (uint64_t)(uintptr_t)&r.op, 0, 0, 0);
	assert_int_equal(rt_op_start(&loop, &c.op, rec_done), -ALDER_EINVAL);
	assert_false(rt_op_busy(&c.op));
	assert_int_equal(rt_loop_run(&loop), RT_LOOP_IDLE);
	assert_int_equal(r.calls, 1);
	assert_int_equal(c.calls, 0);
	loop_down(&loop);
	/* After shutdown: refused, and never delivered. */
	struct rt_loop loop2;
	loop_up(&loop2, 8, 8);
	assert_int_equal(rt_loop_shutdown(&loop2), 0);
	rt_op_prep_nop(&r.op);
	assert_int_equal(rt_op_start(&loop2, &r.op, rec_done), -ALDER_ECANCELED);
	assert_int_equal(rt_op_start_local(&loop2, &r.op, rec_done), -ALDER_ECANCELED);
	assert_int_equal(rt_loop_shutdown(&loop2), 0); /* idempotent */
	rt_loop_fini(&loop2);
	assert_int_equal(r.calls, 1);
}

static void test_malformed_op_completes_with_error(void **state)
{
	struct rt_loop loop;
	struct rec r = {0};
	loop_up(&loop, 8, 8);
	rt_op_prep(&r.op, 99, 0, 0, 0, 0, 0);
	assert_int_equal(rt_op_start(&loop, &r.op, rec_done), 0);
	rt_loop_run(&loop);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.result, -ALDER_EINVAL);
	/* A wait on something that is not an event. */
	rt_op_prep_event_wait(&r.op, 12345);
	assert_int_equal(rt_op_start(&loop, &r.op, rec_done), 0);
	rt_loop_run(&loop);
	assert_int_equal(r.calls, 2);
	assert_int_equal(r.result, -ALDER_EBADF);
	loop_down(&loop);
}

/* An SQE written beside the op records, as rt_stream_send_detached writes
 * them: context 0, so its CQE, if any, counts as a detached failure. */
static void push_detached_sqe(struct rt_loop *loop, uint32_t opcode, uint32_t flags, uint64_t a0)
{
	struct alder_sqe sqe = {.op = opcode, .flags = flags, .context = RT_CTX_DETACHED, .args = {a0}};
	sq_push(loop, &sqe);
}

/* ALDER_SQE_SKIP_SUCCESS: a success posts no CQE (the slot is released), a
 * failure still posts one; unknown flag bits fail the SQE. The loop counts
 * CQEs with context 0 as detached failures, beside its ops. */
static void test_skip_success_flag(void **state)
{
	struct rt_loop loop;
	struct rec r = {0};
	loop_up(&loop, 8, 8);
	push_detached_sqe(&loop, ALDER_OP_NOP, ALDER_SQE_SKIP_SUCCESS, 0);
	push_detached_sqe(&loop, ALDER_OP_TIMER, ALDER_SQE_SKIP_SUCCESS, 1000);	  /* waits */
	push_detached_sqe(&loop, ALDER_OP_CANCEL, ALDER_SQE_SKIP_SUCCESS, 12345); /* -ENOENT */
	push_detached_sqe(&loop, ALDER_OP_NOP, ALDER_SQE_SKIP_SUCCESS | 2u, 0);	  /* unknown bit */
	push_detached_sqe(&loop, ALDER_OP_NOP, 1u << 31, 0);
	start_nop(&loop, &r); /* an op among them is delivered as usual */
	assert_int_equal(rt_loop_run(&loop), RT_LOOP_IDLE);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.result, 0);
	struct rt_loop_stats st = rt_loop_get_stats(&loop);
	assert_int_equal(st.cqes, 4);
	assert_int_equal(st.detached_failed, 3);
	assert_int_equal(fake_stats.skipped, 1);
	assert_int_equal(fake_pending_ops(), 1); /* the timer */
	assert_int_equal(loop.ring.hdr->in_flight, 1);

	/* The timer's success is skipped too, its slot released. */
	fake_advance(1000);
	assert_int_equal(fake_pending_ops(), 0);
	assert_int_equal(fake_stats.skipped, 2);
	assert_int_equal(loop.ring.hdr->in_flight, 0);
	assert_int_equal(rt_loop_run(&loop), RT_LOOP_IDLE);
	assert_int_equal(rt_loop_get_stats(&loop).cqes, 4);

	/* A cancelled op fails: its CQE comes; the cancel's success does not. */
	push_detached_sqe(&loop, ALDER_OP_TIMER, ALDER_SQE_SKIP_SUCCESS, 5000);
	push_detached_sqe(&loop, ALDER_OP_CANCEL, ALDER_SQE_SKIP_SUCCESS, RT_CTX_DETACHED);
	assert_int_equal(rt_loop_run(&loop), RT_LOOP_IDLE);
	st = rt_loop_get_stats(&loop);
	assert_int_equal(st.cqes, 5);
	assert_int_equal(st.detached_failed, 4);
	assert_int_equal(fake_stats.skipped, 3);
	assert_int_equal(fake_stats.cancels_found, 1);
	assert_int_equal(fake_pending_ops(), 0);
	loop_down(&loop);
}

static void test_nops_in_start_order(void **state)
{
	struct rt_loop loop;
	struct rec r[50];
	memset(r, 0, sizeof(r));
	loop_up(&loop, 16, 64);
	for (int i = 0; i < 50; i++)
		start_nop(&loop, &r[i]);
	assert_int_equal(rt_loop_run(&loop), RT_LOOP_IDLE);
	for (int i = 0; i < 50; i++) {
		assert_int_equal(r[i].calls, 1);
		assert_int_equal(r[i].order, i);
	}
	loop_down(&loop);
}

static void test_timers_in_deadline_order(void **state)
{
	struct rt_loop loop;
	static const uint64_t deadlines[] = {500, 100, 300, 100, 900, 0, 200};
	enum { N = sizeof(deadlines) / sizeof(deadlines[0]) };
	struct rec r[N];
	memset(r, 0, sizeof(r));
	loop_up(&loop, 8, 16);
	for (int i = 0; i < N; i++)
		start_timer(&loop, &r[i], deadlines[i]);
	assert_int_equal(rt_loop_run(&loop), RT_LOOP_IDLE);
	for (int i = 0; i < N; i++) {
		assert_int_equal(r[i].calls, 1);
		assert_int_equal(r[i].result, 0);
		for (int j = 0; j < N; j++)
			if (deadlines[i] < deadlines[j] || (deadlines[i] == deadlines[j] && i < j))
				assert_true(r[i].order < r[j].order);
	}
	assert_int_equal(rt_now_ns(), 900);
	loop_down(&loop);
}

/* done restarts its own record: the runtime is done with it by then. */
struct again {
	struct rt_op op;
	struct rt_loop *loop;
	int left, calls;
};

static void again_done(struct rt_op *op)
{
	struct again *a = rt_container_of(op, struct again, op);
	a->calls++;
	assert_false(rt_op_busy(op));
	if (--a->left > 0) {
		rt_op_prep_nop(op);
		assert_int_equal(rt_op_start(a->loop, op, again_done), 0);
	}
}

static void test_restart_from_done(void **state)
{
	struct rt_loop loop;
	struct again a = {.loop = &loop, .left = 100};
	loop_up(&loop, 4, 4);
	rt_op_prep_nop(&a.op);
	assert_int_equal(rt_op_start(&loop, &a.op, again_done), 0);
	assert_int_equal(rt_loop_run(&loop), RT_LOOP_IDLE);
	assert_int_equal(a.calls, 100);
	loop_down(&loop);
}

/* done frees the record: nothing may touch it afterwards (ASan checks). */
struct heap_op {
	struct rt_op op;
	int *freed;
};

static void free_done(struct rt_op *op)
{
	struct heap_op *h = rt_container_of(op, struct heap_op, op);
	(*h->freed)++;
	free(h);
}

static struct heap_op *heap_op_new(int *freed)
{
	struct heap_op *h = calloc(1, sizeof(*h));
	assert_non_null(h);
	h->freed = freed;
	return h;
}

static void test_free_from_done(void **state)
{
	struct rt_loop loop;
	int freed = 0;
	loop_up(&loop, 4, 4);
	/* plain completion */
	struct heap_op *h = heap_op_new(&freed);
	rt_op_prep_nop(&h->op);
	assert_int_equal(rt_op_start(&loop, &h->op, free_done), 0);
	/* cancelled in the kernel, both CQE orders */
	for (int async = 0; async < 2; async++) {
		fake_cfg.async_cancel = async;
		h = heap_op_new(&freed);
		rt_op_prep_timer(&h->op, 1000000);
		assert_int_equal(rt_op_start(&loop, &h->op, free_done), 0);
		assert_true(rt_loop_run_once(&loop, false) >= 0);
		assert_true(rt_op_cancel(&h->op));
		assert_int_equal(rt_loop_run(&loop), RT_LOOP_IDLE);
	}
	/* completed, then cancel raced with it */
	h = heap_op_new(&freed);
	rt_op_prep_timer(&h->op, 10);
	assert_int_equal(rt_op_start(&loop, &h->op, free_done), 0);
	assert_true(rt_loop_run_once(&loop, false) >= 0);
	fake_advance(20);
	assert_true(rt_op_cancel(&h->op));
	assert_int_equal(rt_loop_run(&loop), RT_LOOP_IDLE);
	assert_int_equal(freed, 4);
	loop_down(&loop);
}

/* ---- Cancellation ------------------------------------------------------------ */

static void test_cancel_in_kernel(void **state)
{
	struct rt_loop loop;
	struct rec r = {0};
	loop_up(&loop, 8, 8);
	start_forever(&loop, &r);
	assert_true(rt_loop_run_once(&loop, false) >= 0); /* submitted */
	assert_int_equal(fake_pending_ops(), 1);
	assert_true(rt_op_cancel(&r.op));
	assert_false(rt_op_cancel(&r.op)); /* already being cancelled */
	assert_int_equal(r.calls, 0);
	assert_int_equal(rt_loop_run(&loop), RT_LOOP_IDLE);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.result, -ALDER_ECANCELED);
	struct rt_loop_stats st = rt_loop_get_stats(&loop);
	assert_int_equal(st.cancels_sent, 1);
	assert_int_equal(st.cancels_missed, 0);
	assert_int_equal(st.cqes, 2);
	assert_false(rt_op_cancel(&r.op)); /* after delivery: nothing to do */
	assert_int_equal(rt_loop_run(&loop), RT_LOOP_IDLE);
	assert_int_equal(r.calls, 1);
	assert_int_equal(rt_loop_get_stats(&loop).cancels_sent, 1);
	loop_down(&loop);
}

/* Cancelled while its SQE is in the ring and the kernel has not seen it:
 * the cancel goes behind it, the kernel takes both in order. */
static void test_cancel_in_ring(void **state)
{
	struct rt_loop loop;
	struct rec r = {0};
	loop_up(&loop, 8, 8);
	start_forever(&loop, &r);
	assert_int_equal(fake_stats.enters, 0);
	assert_true(rt_op_cancel(&r.op));
	assert_int_equal(rt_loop_run(&loop), RT_LOOP_IDLE);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.result, -ALDER_ECANCELED);
	assert_int_equal(fake_stats.cancels_found, 1);
	loop_down(&loop);
}

/* Cancelled while still in the loop's backlog: the kernel never sees it. */
static void test_cancel_in_backlog(void **state)
{
	struct rt_loop loop;
	struct rec r[5];
	memset(r, 0, sizeof(r));
	loop_up(&loop, 2, 4);
	for (int i = 0; i < 5; i++)
		start_timer(&loop, &r[i], 1000 + i);
	assert_int_equal(r[4].op.state, RT_OP_BACKLOG);
	assert_true(rt_op_cancel(&r[4].op));
	assert_false(rt_op_cancel(&r[4].op));
	assert_int_equal(r[4].calls, 0);
	assert_true(rt_loop_run_once(&loop, false) >= 1);
	assert_int_equal(r[4].calls, 1);
	assert_int_equal(r[4].result, -ALDER_ECANCELED);
	assert_int_equal(rt_loop_run(&loop), RT_LOOP_IDLE);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(r[i].calls, 1);
		assert_int_equal(r[i].result, 0);
	}
	assert_int_equal(r[4].calls, 1);
	assert_int_equal(fake_stats.accepted, 4); /* the cancelled one never reached the kernel */
	assert_int_equal(rt_loop_get_stats(&loop).cancels_sent, 0);
	loop_down(&loop);
}

/* The op completed in the kernel (its CQE is posted, not yet reaped) when
 * the cancel is issued: the cancel finds nothing, the op keeps its result,
 * and it is delivered once — after the cancel's CQE. */
static void test_cancel_races_completion(void **state)
{
	struct rt_loop loop;
	struct rec r = {0};
	loop_up(&loop, 8, 8);
	start_timer(&loop, &r, 100);
	assert_true(rt_loop_run_once(&loop, false) >= 0);
	fake_advance(200); /* the CQE is now in the ring */
	assert_true(rt_op_cancel(&r.op));
	assert_int_equal(rt_loop_run(&loop), RT_LOOP_IDLE);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.result, 0);
	assert_int_equal(rt_loop_get_stats(&loop).cancels_missed, 1);
	assert_int_equal(fake_stats.cancels_missed, 1);
	loop_down(&loop);
}

/* The op's CQE was reaped while its cancel SQE sat in the ring: the op
 * waits (REAPED) for the cancel's CQE before it is delivered. */
static void test_op_waits_for_its_cancel_cqe(void **state)
{
	struct rt_loop loop;
	struct rec r = {0};
	loop_up(&loop, 8, 8);
	start_timer(&loop, &r, 100);
	assert_true(rt_loop_run_once(&loop, false) >= 0);
	assert_true(rt_op_cancel(&r.op)); /* cancel SQE in the ring */
	fake_advance(200);		  /* the timer's CQE posted first */
	fake_cfg.max_accept_per_enter = 0;
	/* Reap by hand the way iterate does, without entering: */
	dispatcher_enter(&loop);
	assert_int_equal(reap(&loop), 1);
	loop.depth--;
	assert_int_equal(r.op.state, RT_OP_REAPED);
	assert_int_equal(r.calls, 0);
	assert_int_equal(rt_loop_run(&loop), RT_LOOP_IDLE);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.result, 0);
	loop_down(&loop);
}

/* The kernel answers the cancel first and completes the op later. */
static void test_cancel_cqe_before_op_cqe(void **state)
{
	struct rt_loop loop;
	struct rec r = {0};
	loop_up(&loop, 8, 8);
	fake_cfg.async_cancel = true;
	start_forever(&loop, &r);
	assert_true(rt_loop_run_once(&loop, false) >= 0);
	assert_true(rt_op_cancel(&r.op));
	assert_true(rt_loop_run_once(&loop, false) >= 0); /* cancel CQE only */
	assert_int_equal(rt_loop_get_stats(&loop).cqes, 1);
	assert_int_equal(r.op.state, RT_OP_SUBMITTED);
	assert_int_equal(r.calls, 0);
	assert_int_equal(rt_loop_run(&loop), RT_LOOP_IDLE);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.result, -ALDER_ECANCELED);
	loop_down(&loop);
}

/* A CQ whose every op slot holds an op that only a cancel can end: the
 * reserved slot lets the cancels through one after another. */
static void test_cancel_with_cq_full_of_ops(void **state)
{
	struct rt_loop loop;
	struct rec r[12];
	memset(r, 0, sizeof(r));
	loop_up(&loop, 4, 4);
	for (int i = 0; i < 12; i++)
		start_forever(&loop, &r[i]);
	assert_true(rt_loop_run_once(&loop, false) >= 0);
	assert_int_equal(fake_pending_ops(), 3); /* cq_entries - 1 */
	for (int i = 0; i < 12; i++)
		assert_true(rt_op_cancel(&r[i].op));
	assert_int_equal(rt_loop_run(&loop), RT_LOOP_IDLE);
	for (int i = 0; i < 12; i++) {
		assert_int_equal(r[i].calls, 1);
		assert_int_equal(r[i].result, -ALDER_ECANCELED);
	}
	assert_true(fake_stats.max_in_flight <= 4);
	loop_down(&loop);
}

/* ---- Local ops ----------------------------------------------------------------- */

static void test_local_ops(void **state)
{
	struct rt_loop loop;
	struct rec a = {0}, b = {0}, c = {0};
	loop_up(&loop, 8, 8);
	assert_false(rt_op_complete(&a.op, 1)); /* never started */
	assert_int_equal(rt_op_start_local(&loop, &a.op, rec_done), 0);
	assert_int_equal(rt_op_start_local(&loop, &b.op, rec_done), 0);
	assert_int_equal(rt_op_start_local(&loop, &c.op, rec_done), 0);
	assert_int_equal(rt_op_start_local(&loop, &c.op, rec_done), -ALDER_EBUSY);
	assert_true(rt_op_complete(&a.op, 42));
	assert_false(rt_op_complete(&a.op, 43)); /* the second completer loses */
	assert_false(rt_op_cancel(&a.op));
	assert_true(rt_op_cancel(&b.op));
	assert_false(rt_op_complete(&b.op, 44));
	assert_int_equal(a.calls + b.calls, 0); /* never inline */
	/* c stays pending: the loop is idle anyway (nothing could complete it). */
	assert_int_equal(rt_loop_run(&loop), RT_LOOP_IDLE);
	assert_int_equal(a.calls, 1);
	assert_int_equal(a.result, 42);
	assert_int_equal(b.calls, 1);
	assert_int_equal(b.result, -ALDER_ECANCELED);
	assert_int_equal(c.calls, 0);
	assert_int_equal(a.op.aux[0], 0);
	loop_down(&loop); /* shutdown completes c */
	assert_int_equal(c.calls, 1);
	assert_int_equal(c.result, -ALDER_ECANCELED);
	assert_int_equal(fake_stats.accepted, 0);
}

/* ---- Back-pressure --------------------------------------------------------------- */

static void test_backpressure_tiny_rings(void **state)
{
	struct rt_loop loop;
	enum { N = 200 };
	struct rec *r = calloc(N, sizeof(*r));
	assert_non_null(r);
	loop_up(&loop, 2, 2); /* one op slot, one cancel slot */
	for (int i = 0; i < N; i++) {
		if (i % 10 == 9)
			start_timer(&loop, &r[i], (uint64_t)i);
		else
			start_nop(&loop, &r[i]);
	}
	assert_true(rt_loop_get_stats(&loop).backlogged >= N - 2);
	assert_int_equal(rt_loop_run(&loop), RT_LOOP_IDLE);
	for (int i = 0; i < N; i++) {
		assert_int_equal(r[i].calls, 1);
		assert_int_equal(r[i].order, i); /* kernel order = start order */
	}
	assert_true(fake_stats.max_in_flight <= 2);
	assert_int_equal(fake_stats.cqes, N);
	loop_down(&loop);
	free(r);
}

/* Ring space that frees up while older ops wait in the backlog goes to
 * the older ops: a new op never overtakes them. */
static void test_new_op_does_not_overtake_backlog(void **state)
{
	struct rt_loop loop;
	struct rec r[5];
	memset(r, 0, sizeof(r));
	loop_up(&loop, 2, 16);
	for (int i = 0; i < 4; i++)
		start_nop(&loop, &r[i]); /* 0, 1 in the ring; 2, 3 in the backlog */
	assert_int_equal(r[2].op.state, RT_OP_BACKLOG);
	/* The kernel takes the ring (as it may at any time on another CPU). */
	assert_int_equal(rt_plat_queue_enter(&loop.ring, 2, 0), 2);
	start_nop(&loop, &r[4]);
	assert_int_equal(r[4].op.state, RT_OP_BACKLOG);
	assert_int_equal(rt_loop_run(&loop), RT_LOOP_IDLE);
	for (int i = 0; i < 5; i++)
		assert_int_equal(r[i].order, i);
	loop_down(&loop);
}

static void test_backpressure_kernel_takes_fewer(void **state)
{
	struct rt_loop loop;
	enum { N = 40 };
	struct rec r[N];
	memset(r, 0, sizeof(r));
	fake_cfg.max_accept_per_enter = 3;
	loop_up(&loop, 8, 16);
	for (int i = 0; i < N; i++)
		start_nop(&loop, &r[i]);
	assert_int_equal(rt_loop_run(&loop), RT_LOOP_IDLE);
	for (int i = 0; i < N; i++) {
		assert_int_equal(r[i].calls, 1);
		assert_int_equal(r[i].order, i);
	}
	assert_true(rt_loop_get_stats(&loop).short_enters > 0);
	assert_true(fake_stats.declined_config > 0);
	loop_down(&loop);
}

/* ---- Shutdown ----------------------------------------------------------------------- */

/* A done function that tries to start more work during shutdown. */
struct greedy {
	struct rt_op op;
	struct rt_loop *loop;
	struct rt_op extra;
	int calls;
	int64_t result;
	int restart;
};

static void greedy_done(struct rt_op *op)
{
	struct greedy *g = rt_container_of(op, struct greedy, op);
	g->calls++;
	g->result = op->result;
	rt_op_prep_nop(&g->extra);
	g->restart = rt_op_start(g->loop, &g->extra, rec_done);
}

static void test_shutdown_with_ops_everywhere(void **state)
{
	struct rt_loop loop;
	struct rec kern[3], back[4], local = {0}, cancelling = {0};
	struct greedy g = {.loop = &loop};
	memset(kern, 0, sizeof(kern));
	memset(back, 0, sizeof(back));
	loop_up(&loop, 4, 8); /* SQ of 4; 7 op slots */
	rt_op_prep_timer(&g.op, 5);
	assert_int_equal(rt_op_start(&loop, &g.op, greedy_done), 0);
	for (int i = 0; i < 3; i++)
		start_forever(&loop, &kern[i]);
	start_forever(&loop, &cancelling); /* the ring is full from here on */
	for (int i = 0; i < 4; i++)
		start_forever(&loop, &back[i]);
	assert_int_equal(cancelling.op.state, RT_OP_BACKLOG);
	assert_int_equal(rt_op_start_local(&loop, &local.op, rec_done), 0);
	assert_true(rt_loop_run_once(&loop, false) >= 0); /* g, kern[] to the kernel */
	assert_true(rt_loop_run_once(&loop, false) >= 0); /* cancelling, back[0..1] too */
	assert_int_equal(back[1].op.state, RT_OP_SUBMITTED);
	assert_int_equal(back[2].op.state, RT_OP_BACKLOG); /* no op slot left */
	assert_int_equal(fake_pending_ops(), 7);
	assert_true(rt_op_cancel(&cancelling.op)); /* a cancel already under way */
	fake_advance(10);			   /* g's CQE posted, not reaped */

	assert_int_equal(rt_loop_shutdown(&loop), 0);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(kern[i].calls, 1);
		assert_int_equal(kern[i].result, -ALDER_ECANCELED);
	}
	for (int i = 0; i < 4; i++) {
		assert_int_equal(back[i].calls, 1);
		assert_int_equal(back[i].result, -ALDER_ECANCELED);
	}
	assert_int_equal(local.calls, 1);
	assert_int_equal(local.result, -ALDER_ECANCELED);
	assert_int_equal(cancelling.calls, 1);
	assert_int_equal(cancelling.result, -ALDER_ECANCELED);
	/* Completed before shutdown reached it: keeps its real result; what its
	 * done function tried to start was refused. */
	assert_int_equal(g.calls, 1);
	assert_int_equal(g.result, 0);
	assert_int_equal(g.restart, -ALDER_ECANCELED);
	assert_int_equal(fake_pending_ops(), 0);
	/* 7 ops, the early cancel, and 5 shutdown cancels: g's cancel waited
	 * for a slot and was dropped when g's CQE came first. */
	assert_int_equal(fake_stats.accepted, 7 + 1 + 5);
	rt_loop_fini(&loop);
}

static void test_run_stop_and_idle(void **state)
{
	struct rt_loop loop;
	struct rec r = {0};
	loop_up(&loop, 8, 8);
	assert_int_equal(rt_loop_run(&loop), RT_LOOP_IDLE); /* nothing at all */
	rt_loop_stop(&loop);
	assert_int_equal(rt_loop_run(&loop), RT_LOOP_STOPPED);
	assert_int_equal(rt_loop_run(&loop), RT_LOOP_IDLE); /* the stop was consumed */
	start_nop(&loop, &r);
	assert_int_equal(rt_loop_run(&loop), RT_LOOP_IDLE);
	assert_int_equal(r.calls, 1);
	loop_down(&loop);
}

static void stop_done(struct rt_op *op)
{
	rec_done(op);
	rt_loop_stop(op->loop);
}

static void test_stop_from_done(void **state)
{
	struct rt_loop loop;
	struct rec a = {0}, b = {0};
	loop_up(&loop, 8, 8);
	rt_timer_start(&loop, &a.op, 10, stop_done);
	start_timer(&loop, &b, 20);
	assert_int_equal(rt_loop_run(&loop), RT_LOOP_STOPPED);
	assert_int_equal(a.calls, 1);
	assert_int_equal(b.calls, 0);
	assert_int_equal(rt_loop_run(&loop), RT_LOOP_IDLE);
	assert_int_equal(b.calls, 1);
	loop_down(&loop);
}

/* A loop that can only wait for something that never happens: the fake
 * reports what would be an endless wait; the op is still delivered once at
 * shutdown. */
static void test_wait_forever_reported(void **state)
{
	struct rt_loop loop;
	struct rec r = {0};
	loop_up(&loop, 8, 8);
	start_forever(&loop, &r);
	assert_int_equal(rt_loop_run(&loop), -ALDER_ETIMEDOUT);
	assert_int_equal(r.calls, 0);
	loop_down(&loop);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.result, -ALDER_ECANCELED);
}

/* ---- Events ---------------------------------------------------------------------------- */

struct signaller {
	alder_handle_t ev;
	int left;
};

static bool signal_hook(void *arg)
{
	struct signaller *s = arg;
	if (s->left == 0)
		return false;
	s->left--;
	return fake_event_signal(s->ev) == 0;
}

static void test_event_wait(void **state)
{
	struct rt_loop loop;
	struct rec r = {0};
	loop_up(&loop, 8, 8);
	long ev = rt_event_create();
	assert_true(ev > 0);
	/* Signalled from "another thread" while the loop waits. */
	struct signaller s = {(alder_handle_t)ev, 1};
	fake_set_idle_hook(signal_hook, &s);
	assert_int_equal(rt_event_wait_start(&loop, &r.op, (alder_handle_t)ev, rec_done), 0);
	assert_int_equal(rt_loop_run(&loop), RT_LOOP_IDLE);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.result, 1);
	/* Edge-triggered: a signal before the wait is submitted is not seen. */
	assert_int_equal(rt_event_signal((alder_handle_t)ev), 0);
	assert_int_equal(rt_event_wait_start(&loop, &r.op, (alder_handle_t)ev, rec_done), 0);
	assert_int_equal(rt_loop_run(&loop), -ALDER_ETIMEDOUT); /* would wait forever */
	assert_int_equal(r.calls, 1);
	s.left = 1;
	assert_int_equal(rt_loop_run(&loop), RT_LOOP_IDLE);
	assert_int_equal(r.calls, 2);
	assert_int_equal(r.result, 3); /* the counter after the third signal */
	/* Closing the last handle fails pending waits. */
	assert_int_equal(rt_event_wait_start(&loop, &r.op, (alder_handle_t)ev, rec_done), 0);
	assert_true(rt_loop_run_once(&loop, false) >= 0);
	assert_int_equal(rt_handle_close((alder_handle_t)ev), 0);
	assert_int_equal(rt_loop_run(&loop), RT_LOOP_IDLE);
	assert_int_equal(r.calls, 3);
	assert_int_equal(r.result, -ALDER_EPIPE);
	assert_int_equal(rt_event_wait_start(&loop, &r.op, -5, rec_done), 0);
	assert_int_equal(rt_loop_run(&loop), RT_LOOP_IDLE);
	assert_int_equal(r.result, -ALDER_EBADF);
	assert_int_equal(rt_event_signal((alder_handle_t)ev), -ALDER_EBADF);
	loop_down(&loop);
}

/* ---- Misuse ------------------------------------------------------------------------------- */

static void test_await_outside_fibril_asserts(void **state)
{
	struct rt_loop loop;
	struct rt_op op = RT_OP_INIT;
	loop_up(&loop, 8, 8);
	rt_op_prep_nop(&op);
	assert_int_equal(rt_op_start(&loop, &op, NULL), 0);
	expect_assert_failure(rt_await(&op));
	expect_assert_failure(rt_op_start_await(&loop, &op));
	assert_int_equal(rt_loop_run(&loop), RT_LOOP_IDLE);
	assert_int_equal(op.state, RT_OP_UNCLAIMED);
	assert_false(rt_op_busy(&op));
	loop_down(&loop);
}

static void reenter_done(struct rt_op *op)
{
	expect_assert_failure(rt_loop_run(op->loop));
	expect_assert_failure(rt_loop_shutdown(op->loop));
	rec_done(op);
}

static void test_no_reentry_from_done(void **state)
{
	struct rt_loop loop;
	struct rec r = {0};
	loop_up(&loop, 8, 8);
	rt_op_prep_nop(&r.op);
	assert_int_equal(rt_op_start(&loop, &r.op, reenter_done), 0);
	assert_int_equal(rt_loop_run(&loop), RT_LOOP_IDLE);
	assert_int_equal(r.calls, 1);
	loop_down(&loop);
}

/* ---- Logging ------------------------------------------------------------------------------- */

static void test_log(void **state)
{
	rt_log_init("blk", RT_LOG_INFO);
	fake_log_clear();
	assert_int_equal(rt_log(RT_LOG_INFO, "disk %d ready", 3), (long)strlen("blk: info: disk 3 ready\n"));
	assert_string_equal(fake_log_buf, "blk: info: disk 3 ready\n");
	fake_log_clear();
	assert_int_equal(rt_log(RT_LOG_DEBUG, "hidden"), 0);
	assert_int_equal(fake_log_len, 0);
	rt_log(RT_LOG_ERROR, "ends in newline\n");
	assert_string_equal(fake_log_buf, "blk: error: ends in newline\n");
	fake_log_clear();
	char big[600];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	rt_log(RT_LOG_WARN, "%s", big);
	assert_int_equal(fake_log_len, RT_LOG_MAX - 1);
	assert_memory_equal(fake_log_buf, "blk: warn: xxx", 14);
	assert_string_equal(fake_log_buf + RT_LOG_MAX - 5, "...\n");
	rt_log_init(NULL, RT_LOG_DEBUG);
	fake_log_clear();
	rt_log(RT_LOG_DEBUG, "d");
	assert_string_equal(fake_log_buf, "rt: debug: d\n");
	rt_log_init(NULL, RT_LOG_INFO);
}

/* ---- Randomised exactly-once ------------------------------------------------------------- */

static uint64_t rng_state;

static uint32_t rng(void)
{
	rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
	return (uint32_t)(rng_state >> 33);
}

struct stress_op {
	struct rec r;
	bool started;
	bool local;
	int expected_calls;
};

/*
 * Random starts (NOP, timers, never-completing waits, local ops), cancels,
 * local completions, time steps and loop rounds, with random ring sizes
 * and fake behaviours. Every started op must be delivered exactly once by
 * the end of shutdown, and nothing more.
 */
static void test_random_exactly_once(void **state)
{
	enum { OPS = 64, STEPS = 3000 };
	struct rt_loop_stats sum = {0};
	uint64_t async_cancels = 0, declined = 0;
	for (uint64_t seed = 1; seed <= 40; seed++) {
		struct rt_loop loop;
		struct stress_op *o = calloc(OPS, sizeof(*o));
		assert_non_null(o);
		fake_reset();
		rng_state = seed;
		fake_cfg.async_cancel = rng() % 2;
		fake_cfg.max_accept_per_enter = rng() % 3;
		uint32_t sq = 1u << (rng() % 4), cq = 2u << (rng() % 4);
		loop_up(&loop, sq, cq);
		long ev = rt_event_create();
		assert_true(ev > 0);
		int started = 0;
		for (int step = 0; step < STEPS; step++) {
			struct stress_op *x = &o[rng() % OPS];
			switch (rng() % 8) {
			case 0:
			case 1: { /* start if idle */
				if (rt_op_busy(&x->r.op))
					break;
				int kind = (int)(rng() % 4);
				int r;
				x->local = kind == 3;
				if (kind == 0) {
					rt_op_prep_nop(&x->r.op);
					r = rt_op_start(&loop, &x->r.op, rec_done);
				} else if (kind == 1) {
					r = rt_timer_start(&loop, &x->r.op, fake_now() + rng() % 100,
							   rec_done);
				} else if (kind == 2) {
					r = rt_event_wait_start(&loop, &x->r.op, (alder_handle_t)ev,
								rec_done);
				} else {
					r = rt_op_start_local(&loop, &x->r.op, rec_done);
				}
				assert_int_equal(r, 0);
				x->expected_calls++;
				started++;
				break;
			}
			case 2:
				rt_op_cancel(&x->r.op);
				break;
			case 3:
				if (x->local)
					rt_op_complete(&x->r.op, 7);
				break;
			case 4:
				fake_advance(rng() % 50);
				break;
			case 5:
				if (rng() % 4 == 0)
					fake_event_signal((alder_handle_t)ev);
				break;
			default: {
				int r = rt_loop_run_once(&loop, false);
				assert_true(r >= 0);
				break;
			}
			}
			/* Invariant: never delivered more often than started. */
			assert_true(x->r.calls <= x->expected_calls);
		}
		assert_int_equal(rt_loop_shutdown(&loop), 0);
		for (int i = 0; i < OPS; i++) {
			assert_int_equal(o[i].r.calls, o[i].expected_calls);
			assert_false(rt_op_busy(&o[i].r.op));
		}
		struct rt_loop_stats st = rt_loop_get_stats(&loop);
		assert_int_equal(st.started, (uint64_t)started);
		assert_int_equal(st.delivered, (uint64_t)started);
		sum.cancels_sent += st.cancels_sent;
		sum.cancels_missed += st.cancels_missed;
		sum.backlogged += st.backlogged;
		sum.short_enters += st.short_enters;
		if (fake_cfg.async_cancel)
			async_cancels += fake_stats.cancels_found;
		declined += fake_stats.declined_budget + fake_stats.declined_config;
		rt_loop_fini(&loop);
		assert_int_equal(fake_pending_ops(), 0);
		assert_int_equal(fake_stats.violations, 0);
		free(o);
	}
	/* The paths this test exists for were taken. */
	assert_true(sum.cancels_sent > 100);
	assert_true(sum.cancels_missed > 10);
	assert_true(sum.backlogged > 100);
	assert_true(sum.short_enters > 10);
	assert_true(async_cancels > 10);
	assert_true(declined > 10);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_init_rejects_bad_sizes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_nop_delivered_once, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_start_errors, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_malformed_op_completes_with_error, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_skip_success_flag, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_nops_in_start_order, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_timers_in_deadline_order, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_restart_from_done, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_free_from_done, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cancel_in_kernel, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cancel_in_ring, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cancel_in_backlog, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cancel_races_completion, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_op_waits_for_its_cancel_cqe, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cancel_cqe_before_op_cqe, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cancel_with_cq_full_of_ops, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_local_ops, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_backpressure_tiny_rings, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_new_op_does_not_overtake_backlog, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_backpressure_kernel_takes_fewer, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_shutdown_with_ops_everywhere, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_run_stop_and_idle, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stop_from_done, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_wait_forever_reported, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_event_wait, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_await_outside_fibril_asserts, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_no_reentry_from_done, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_log, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_random_exactly_once, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
