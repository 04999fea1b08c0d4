/*
 * Host unit tests of the lib/rt stream helpers (lib/rt/stream.c) on the
 * fake kernel's streams: action builders, chains, callback-style and
 * fibril-style single actions, request/response with a CHAIN offer, handle
 * passing, errors (EMSGSIZE, EPIPE, EPROTO, submission errors), cancelling
 * a pending action, shutdown, and two loops (two queues) talking; the chain
 * flags (DROP_LANE, NO_WRITEBACK), transient lanes and detached sends.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "../../lib/rt/host/rt_all.c"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* See test_rt_fibril.c: fibrils record failures, teardown reports them. */
static char fibril_failure[512];
#define FCHECK(cond)                                                                                         \
	do {                                                                                                 \
		if (!(cond) && !fibril_failure[0])                                                           \
			snprintf(fibril_failure, sizeof(fibril_failure), "%s:%d: %s", __FILE__, __LINE__,    \
				 #cond);                                                                     \
	} while (0)
#define FCHECK_EQ(a, b) FCHECK((int64_t)(a) == (int64_t)(b))

static int setup(void **state)
{
	(void)state;
	fake_reset();
	fibril_failure[0] = 0;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	if (fibril_failure[0])
		fail_msg("in a fibril: %s", fibril_failure);
	assert_int_equal(fake_stats.violations, 0);
	assert_int_equal(fake_stats.queues_live, 0);
	return 0;
}

static void loop_up(struct rt_loop *loop)
{
	struct rt_loop_config cfg = {.sq_entries = 8, .cq_entries = 16};
	assert_int_equal(rt_loop_init(loop, &cfg), 0);
}

static void loop_down(struct rt_loop *loop)
{
	assert_int_equal(rt_loop_shutdown(loop), 0);
	rt_loop_fini(loop);
	assert_int_equal(fake_pending_ops(), 0);
}

static void make_stream(alder_handle_t lanes[2])
{
	assert_int_equal(rt_stream_create(lanes), 0);
	assert_true(lanes[0] > 0 && lanes[1] > 0 && lanes[0] != lanes[1]);
}

static bool all_zero(const void *p, size_t n)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++)
		if (b[i])
			return false;
	return true;
}

/* ---- Builders --------------------------------------------------------------- */

static void test_builders(void **state)
{
	struct alder_action a;
	char buf[8];
	memset(&a, 0xee, sizeof(a));
	rt_action_send(&a, buf, sizeof(buf));
	assert_int_equal(a.type, ALDER_ACTION_SEND);
	assert_int_equal(a.flags, 0);
	assert_int_equal(a.buf, (uint64_t)(uintptr_t)buf);
	assert_int_equal(a.len, 8);
	assert_int_equal(a.handle, 0);
	assert_int_equal(a.rights, 0);
	assert_true(all_zero(a.reserved, sizeof(a.reserved)));
	assert_true(all_zero(&a.status, 16)); /* outputs start zero */

	memset(&a, 0xee, sizeof(a));
	assert_int_equal(rt_action_send_inline(&a, "hello", 5), 0);
	assert_int_equal(a.flags, ALDER_ACTION_INLINE);
	assert_int_equal(a.buf, 0);
	assert_int_equal(a.len, 5);
	assert_memory_equal(a.data, "hello", 5);
	assert_true(all_zero(a.data + 5, sizeof(a.data) - 5));
	char big[ALDER_ACTION_INLINE_MAX + 1] = {0};
	assert_int_equal(rt_action_send_inline(&a, big, sizeof(big)), -ALDER_EMSGSIZE);
	assert_int_equal(a.type, 0); /* unusable: a zero type is rejected */
	assert_int_equal(rt_action_receive_inline(&a, ALDER_ACTION_INLINE_MAX + 1), -ALDER_EMSGSIZE);
	assert_int_equal(rt_action_receive_inline(&a, 16), 0);
	assert_int_equal(a.type, ALDER_ACTION_RECEIVE);
	assert_int_equal(a.flags, ALDER_ACTION_INLINE);
	assert_int_equal(a.len, 16);

	struct alder_iovec iov[2];
	rt_action_receive_sg(&a, iov, 2);
	assert_int_equal(a.flags, ALDER_ACTION_SG);
	assert_int_equal(a.buf, (uint64_t)(uintptr_t)iov);
	assert_int_equal(a.len, 2);

	rt_action_offer(&a, true);
	assert_int_equal(a.type, ALDER_ACTION_OFFER);
	assert_int_equal(a.flags, ALDER_ACTION_CHAIN);
	rt_action_accept(&a, false);
	assert_int_equal(a.type, ALDER_ACTION_ACCEPT);
	assert_int_equal(a.flags, 0);
	rt_action_push(&a, 77, ALDER_RIGHT_READ);
	assert_int_equal(a.type, ALDER_ACTION_PUSH_HANDLE);
	assert_int_equal(a.handle, 77);
	assert_int_equal(a.rights, ALDER_RIGHT_READ);
	rt_action_pull(&a, ALDER_RIGHTS_ALL);
	assert_int_equal(a.type, ALDER_ACTION_PULL_HANDLE);
	assert_int_equal(a.handle, 0);
	rt_action_dismiss(&a);
	assert_int_equal(a.type, ALDER_ACTION_DISMISS);
	rt_action_imbue_creds(&a);
	assert_int_equal(a.type, ALDER_ACTION_IMBUE_CREDS);
	rt_action_extract_creds(&a);
	assert_int_equal(a.type, ALDER_ACTION_EXTRACT_CREDS);

	struct rt_op op = RT_OP_INIT;
	struct alder_action acts[3];
	rt_op_prep_stream(&op, 21, acts, 3);
	assert_int_equal(op.sqe.op, ALDER_OP_STREAM);
	assert_int_equal(op.sqe.handle, 21);
	assert_int_equal(op.sqe.args[0], (uint64_t)(uintptr_t)acts);
	assert_int_equal(op.sqe.args[1], 3);
	assert_int_equal(op.sqe.args[2], 0);
	assert_int_equal(op.sqe.args[3], 0);
}

/* ---- Callback style ----------------------------------------------------------- */

struct req_rec {
	struct rt_stream_req req;
	int calls;
	int64_t result;
};

static void req_done(struct rt_op *op)
{
	struct req_rec *r = rt_container_of(rt_stream_req_of(op), struct req_rec, req);
	r->calls++;
	r->result = op->result;
}

static void test_send_receive_callbacks(void **state)
{
	struct rt_loop loop;
	alder_handle_t lanes[2];
	struct req_rec snd = {0}, rcv = {0};
	char out[] = "ping", in[16];
	memset(in, '.', sizeof(in));
	loop_up(&loop);
	make_stream(lanes);
	assert_int_equal(rt_stream_receive(&loop, &rcv.req, lanes[1], in, sizeof(in), req_done), 0);
	assert_int_equal(rt_stream_send(&loop, &snd.req, lanes[0], out, 4, req_done), 0);
	assert_int_equal(rt_stream_send(&loop, &snd.req, lanes[0], out, 4, req_done), -ALDER_EBUSY);
	assert_int_equal(rt_loop_run(&loop), RT_LOOP_IDLE);
	assert_int_equal(snd.calls, 1);
	assert_int_equal(rcv.calls, 1);
	assert_int_equal(snd.result, 0);
	assert_int_equal(rcv.result, 0);
	assert_int_equal(rcv.req.op.aux[0], 1);
	assert_int_equal(rcv.req.action.status, 0);
	assert_int_equal(rcv.req.action.length, 4);
	assert_int_equal(snd.req.action.length, 4);
	assert_memory_equal(in, "ping....", 8);
	loop_down(&loop);
}

static void test_emsgsize_and_proto(void **state)
{
	struct rt_loop loop;
	alder_handle_t lanes[2];
	struct req_rec snd = {0}, rcv = {0}, pull = {0}, snd2 = {0};
	char out[10] = "0123456789", in[4];
	loop_up(&loop);
	make_stream(lanes);
	assert_int_equal(rt_stream_receive(&loop, &rcv.req, lanes[1], in, sizeof(in), req_done), 0);
	assert_int_equal(rt_stream_send(&loop, &snd.req, lanes[0], out, sizeof(out), req_done), 0);
	/* A send meeting a pull: both fail, matching goes on. */
	assert_int_equal(rt_stream_pull(&loop, &pull.req, lanes[1], ALDER_RIGHTS_ALL, req_done), 0);
	assert_int_equal(rt_stream_send(&loop, &snd2.req, lanes[0], out, 1, req_done), 0);
	assert_int_equal(rt_loop_run(&loop), RT_LOOP_IDLE);
	assert_int_equal(rcv.result, -ALDER_EMSGSIZE);
	assert_int_equal(rcv.req.action.length, 10); /* what the sender offered */
	assert_int_equal(snd.result, -ALDER_EMSGSIZE);
	assert_int_equal(snd.req.action.length, 4); /* the receiver's room */
	assert_int_equal(rcv.req.op.aux[0], 0);
	assert_int_equal(pull.result, -ALDER_EPROTO);
	assert_int_equal(snd2.result, -ALDER_EPROTO);
	loop_down(&loop);
}

static void test_dismiss_and_close_give_epipe(void **state)
{
	struct rt_loop loop;
	alder_handle_t lanes[2];
	struct req_rec rcv = {0}, dis = {0}, late = {0};
	char in[4];
	loop_up(&loop);
	make_stream(lanes);
	assert_int_equal(rt_stream_receive(&loop, &rcv.req, lanes[1], in, sizeof(in), req_done), 0);
	assert_int_equal(rt_stream_dismiss(&loop, &dis.req, lanes[0], req_done), 0);
	assert_int_equal(rt_loop_run(&loop), RT_LOOP_IDLE);
	assert_int_equal(dis.result, 0);
	assert_int_equal(rcv.result, -ALDER_EPIPE);
	assert_int_equal(rt_stream_receive(&loop, &late.req, lanes[1], in, sizeof(in), req_done), 0);
	assert_int_equal(rt_loop_run(&loop), RT_LOOP_IDLE);
	assert_int_equal(late.result, -ALDER_EPIPE);

	make_stream(lanes);
	assert_int_equal(rt_stream_receive(&loop, &rcv.req, lanes[1], in, sizeof(in), req_done), 0);
	assert_true(rt_loop_run_once(&loop, false) >= 0);
	assert_int_equal(rcv.calls, 1); /* pending */
	assert_int_equal(rt_handle_close(lanes[0]), 0);
	assert_int_equal(rt_loop_run(&loop), RT_LOOP_IDLE);
	assert_int_equal(rcv.calls, 2);
	assert_int_equal(rcv.result, -ALDER_EPIPE);
	loop_down(&loop);
}

static void test_cancel_pending_receive(void **state)
{
	for (int async = 0; async < 2; async++) {
		struct rt_loop loop;
		alder_handle_t lanes[2];
		struct req_rec rcv = {0}, snd = {0};
		char in[4] = "....";
		fake_reset();
		fake_cfg.async_cancel = async;
		loop_up(&loop);
		make_stream(lanes);
		assert_int_equal(rt_stream_receive(&loop, &rcv.req, lanes[1], in, sizeof(in), req_done), 0);
		assert_true(rt_loop_run_once(&loop, false) >= 0);
		assert_true(rt_op_cancel(&rcv.req.op));
		/* A send after the cancel must not reach the cancelled receive. */
		assert_int_equal(rt_stream_send(&loop, &snd.req, lanes[0], "abcd", 4, req_done), 0);
		assert_true(rt_loop_run_once(&loop, false) > 0); /* the cancel's CQE at least */
		if (async) /* the receive's own CQE comes at the next enter */
			assert_true(rt_loop_run_once(&loop, true) > 0);
		assert_int_equal(rcv.calls, 1);
		assert_int_equal(rcv.result, -ALDER_ECANCELED);
		assert_int_equal(rcv.req.action.status, -ALDER_ECANCELED);
		assert_memory_equal(in, "....", 4);
		assert_int_equal(snd.calls, 0); /* still waiting for a receiver */
		loop_down(&loop);
		assert_int_equal(snd.calls, 1);
		assert_int_equal(snd.result, -ALDER_ECANCELED);
	}
}

static void test_submission_error_names_the_action(void **state)
{
	struct rt_loop loop;
	alder_handle_t lanes[2];
	struct rt_op op = RT_OP_INIT;
	struct alder_action acts[3];
	loop_up(&loop);
	make_stream(lanes);
	rt_action_send(&acts[0], "x", 1);
	rt_action_dismiss(&acts[1]); /* DISMISS not last */
	rt_action_send(&acts[2], "y", 1);
	assert_int_equal(rt_stream_submit(&loop, &op, lanes[0], acts, 3, NULL), 0);
	assert_int_equal(rt_loop_run(&loop), RT_LOOP_IDLE);
	assert_int_equal(op.state, RT_OP_UNCLAIMED);
	assert_int_equal(op.result, -ALDER_EINVAL);
	assert_int_equal(op.aux[0], 0);
	assert_int_equal(op.aux[1], 1);
	/* A pushed handle that does not exist. */
	rt_action_push(&acts[0], 999, ALDER_RIGHTS_ALL);
	assert_int_equal(rt_stream_submit(&loop, &op, lanes[0], acts, 1, NULL), 0);
	assert_int_equal(rt_loop_run(&loop), RT_LOOP_IDLE);
	assert_int_equal(op.result, -ALDER_EBADF);
	/* A bad lane. */
	assert_int_equal(rt_stream_submit(&loop, &op, 4242, acts, 1, NULL), 0);
	assert_int_equal(rt_loop_run(&loop), RT_LOOP_IDLE);
	assert_int_equal(op.result, -ALDER_EBADF);
	loop_down(&loop);
}

/* ---- Chain flags and transient lanes (the fake's model of them) ------------------ */

static bool handle_alive(alder_handle_t h)
{
	long err;
	return handle_get(h, 0, &err) != NULL;
}

/* The conversation of lane has ended: a receive on it fails with -EPIPE. */
static void assert_ended(struct rt_loop *loop, alder_handle_t lane)
{
	struct req_rec rcv = {0};
	char buf[4];
	assert_int_equal(rt_stream_receive(loop, &rcv.req, lane, buf, sizeof(buf), req_done), 0);
	assert_int_equal(rt_loop_run(loop), RT_LOOP_IDLE);
	assert_int_equal(rcv.calls, 1);
	assert_int_equal(rcv.result, -ALDER_EPIPE);
}

/* Submit one chain with chain flags (args[2]); the op's result after the loop
 * went idle. */
static int64_t run_chain(struct rt_loop *loop, struct rt_op *op, alder_handle_t lane,
			 struct alder_action *acts, uint32_t count, uint64_t chain_flags)
{
	rt_op_prep(op, ALDER_OP_STREAM, lane, (uint64_t)(uintptr_t)acts, count, chain_flags, 0);
	assert_int_equal(rt_op_start(loop, op, NULL), 0);
	assert_int_equal(rt_loop_run(loop), RT_LOOP_IDLE);
	assert_int_equal(op->state, RT_OP_UNCLAIMED);
	return op->result;
}

static void test_chain_flag_errors(void **state)
{
	struct rt_loop loop;
	alder_handle_t lanes[2];
	struct rt_op op = RT_OP_INIT;
	struct alder_action acts[2];
	loop_up(&loop);
	make_stream(lanes);
	assert_int_equal(rt_action_send_inline(&acts[0], "x", 1), 0);
	/* Unknown chain flags, or a bad count: nothing happens to the lane. */
	assert_int_equal(run_chain(&loop, &op, lanes[0], acts, 1, 1u << 7), -ALDER_EINVAL);
	assert_int_equal(run_chain(&loop, &op, lanes[0], acts, 1, ALDER_STREAM_DROP_LANE | (1u << 3)),
			 -ALDER_EINVAL);
	assert_int_equal(run_chain(&loop, &op, lanes[0], acts, 0, ALDER_STREAM_DROP_LANE), -ALDER_EINVAL);
	assert_int_equal(run_chain(&loop, &op, lanes[0], NULL, 1, ALDER_STREAM_DROP_LANE), -ALDER_EFAULT);
	assert_true(handle_alive(lanes[0]));
	/* A lane handle that is none: nothing is closed. */
	long ev = rt_event_create();
	assert_true(ev > 0);
	assert_int_equal(run_chain(&loop, &op, (alder_handle_t)ev, acts, 1, ALDER_STREAM_DROP_LANE),
			 -ALDER_EBADFD);
	assert_true(handle_alive((alder_handle_t)ev));
	assert_int_equal(rt_handle_close((alder_handle_t)ev), 0);
	/* NO_HANDLE without CHAIN names the action. */
	rt_action_offer(&acts[1], false);
	acts[1].flags |= ALDER_ACTION_NO_HANDLE;
	assert_int_equal(run_chain(&loop, &op, lanes[0], acts, 2, 0), -ALDER_EINVAL);
	assert_int_equal(op.aux[0], 0);
	assert_int_equal(op.aux[1], 1);
	assert_int_equal(acts[1].status, 0); /* a refused chain writes nothing back */
	/* NO_HANDLE on the last action: CHAIN is refused there. */
	rt_action_offer_transient(&acts[1]);
	assert_int_equal(run_chain(&loop, &op, lanes[0], acts, 2, 0), -ALDER_EINVAL);
	assert_int_equal(op.aux[1], 1);
	/* A refused chain still consumes a dropped lane: the peer sees it closed. */
	struct req_rec rcv = {0};
	char in[4];
	assert_int_equal(rt_stream_receive(&loop, &rcv.req, lanes[1], in, sizeof(in), req_done), 0);
	acts[1].type = 99;
	assert_int_equal(run_chain(&loop, &op, lanes[0], acts, 2, ALDER_STREAM_DROP_LANE), -ALDER_EINVAL);
	assert_int_equal(op.aux[1], 1);
	assert_false(handle_alive(lanes[0]));
	assert_int_equal(rcv.calls, 1);
	assert_int_equal(rcv.result, -ALDER_EPIPE);
	assert_int_equal(rt_handle_close(lanes[1]), 0);
	loop_down(&loop);
}

/* DROP_LANE: the handle is gone at submission, the chain keeps the side open
 * until it completes. NO_WRITEBACK: the array is left as it was. */
static void test_drop_lane_and_no_writeback(void **state)
{
	struct rt_loop loop;
	alder_handle_t lanes[2];
	struct rt_op op = RT_OP_INIT;
	struct req_rec snd = {0}, late = {0};
	struct alder_action rx;
	uint64_t handles = fake_stats.handles_live;
	loop_up(&loop);
	make_stream(lanes);
	assert_int_equal(rt_action_receive_inline(&rx, 8), 0);
	rx.status = 12345;
	rt_op_prep(&op, ALDER_OP_STREAM, lanes[0], (uint64_t)(uintptr_t)&rx, 1,
		   ALDER_STREAM_DROP_LANE | ALDER_STREAM_NO_WRITEBACK, 0);
	assert_int_equal(rt_op_start(&loop, &op, NULL), 0);
	assert_true(rt_loop_run_once(&loop, false) >= 0);
	assert_false(handle_alive(lanes[0])); /* consumed at submission */
	assert_int_equal(op.state, RT_OP_SUBMITTED);
	/* The side is still open: a send meets the receive. */
	assert_int_equal(rt_stream_send(&loop, &snd.req, lanes[1], "abc", 3, req_done), 0);
	assert_int_equal(rt_loop_run(&loop), RT_LOOP_IDLE);
	assert_int_equal(snd.result, 0);
	assert_int_equal(op.result, 0);
	assert_int_equal(op.aux[0], 1);
	assert_int_equal(rx.status, 12345); /* nothing written back */
	assert_int_equal(rx.length, 0);
	/* The chain is complete: its side closed with it. */
	assert_int_equal(rt_stream_send(&loop, &late.req, lanes[1], "d", 1, req_done), 0);
	assert_int_equal(rt_loop_run(&loop), RT_LOOP_IDLE);
	assert_int_equal(late.result, -ALDER_EPIPE);
	assert_int_equal(rt_handle_close(lanes[1]), 0);
	assert_int_equal(fake_stats.handles_live, handles + 1); /* the loop's queue */
	loop_down(&loop);
}

/* A chain that dropped its lane is cancelled at shutdown: the side closes. */
static void test_drop_lane_released_by_cancel(void **state)
{
	struct rt_loop a, b;
	alder_handle_t lanes[2];
	struct rt_op op = RT_OP_INIT;
	struct alder_action rx;
	loop_up(&a);
	loop_up(&b);
	make_stream(lanes);
	assert_int_equal(rt_action_receive_inline(&rx, 8), 0);
	rt_op_prep(&op, ALDER_OP_STREAM, lanes[0], (uint64_t)(uintptr_t)&rx, 1, ALDER_STREAM_DROP_LANE, 0);
	assert_int_equal(rt_op_start(&a, &op, NULL), 0);
	assert_true(rt_loop_run_once(&a, false) >= 0);
	assert_int_equal(fake_pending_ops(), 1);
	loop_down(&a);
	assert_int_equal(op.result, -ALDER_ECANCELED);
	assert_ended(&b, lanes[1]);
	assert_int_equal(rt_handle_close(lanes[1]), 0);
	loop_down(&b);
}

/* A queue that dies cancels its chains and posts nothing; what they held (a
 * transient child lane, a dropped lane) is let go, so the peers see -EPIPE. */
static void test_queue_death_lets_go_of_lanes(void **state)
{
	struct rt_loop srv;
	struct rt_ring ring;
	alder_handle_t lanes[2], l2[2], child;
	struct rt_op acc_op = RT_OP_INIT;
	struct alder_action acc[2], call[3], rx;
	loop_up(&srv);
	make_stream(lanes);
	make_stream(l2);
	assert_int_equal(fake_queue_create(4, 4, &ring), 0);
	rt_action_accept(&acc[0], true);
	assert_int_equal(rt_action_receive_inline(&acc[1], 8), 0);
	assert_int_equal(rt_stream_submit(&srv, &acc_op, lanes[1], acc, 2, NULL), 0);
	assert_true(rt_loop_run_once(&srv, false) >= 0);

	rt_action_offer_transient(&call[0]);
	assert_int_equal(rt_action_send_inline(&call[1], "q", 1), 0);
	assert_int_equal(rt_action_receive_inline(&call[2], 8), 0);
	assert_int_equal(rt_action_receive_inline(&rx, 8), 0);
	struct alder_sqe sqes[2] = {
	    {.op = ALDER_OP_STREAM, .handle = lanes[0], .context = 1, .args = {(uintptr_t)call, 3}},
	    {.op = ALDER_OP_STREAM,
	     .handle = l2[0],
	     .context = 2,
	     .args = {(uintptr_t)&rx, 1, ALDER_STREAM_DROP_LANE}},
	};
	for (int i = 0; i < 2; i++)
		ring.sq[ring.hdr->sq_tail++ & (ring.sq_entries - 1)] = sqes[i];
	assert_int_equal(fake_queue_enter(&ring, 2, 0), 2);
	assert_int_equal(fake_pending_ops(), 2); /* the call waits for its reply */
	assert_int_equal(rt_loop_run(&srv), RT_LOOP_IDLE);
	assert_int_equal(acc_op.result, 0);
	child = acc[0].out_handle;

	uint64_t cqes = fake_stats.cqes;
	fake_queue_destroy(&ring);
	assert_int_equal(fake_stats.cqes, cqes); /* nothing posted */
	assert_int_equal(fake_pending_ops(), 0);
	assert_ended(&srv, child);
	assert_ended(&srv, l2[1]);
	assert_int_equal(rt_handle_close(child), 0);
	loop_down(&srv);
}

/* ---- Transient lanes ------------------------------------------------------------------ */

/* Submit acts (a chain that starts with a transient offer) on lanes[0] and
 * accept it on lanes[1]; the server's child lane. The chain still waits. */
static alder_handle_t call_accepted(struct rt_loop *loop, struct rt_op *op, const alder_handle_t lanes[2],
				    struct alder_action *acts, uint32_t count)
{
	struct req_rec acc = {0};
	assert_int_equal(rt_stream_submit(loop, op, lanes[0], acts, count, NULL), 0);
	assert_int_equal(rt_stream_accept(loop, &acc.req, lanes[1], req_done), 0);
	assert_true(rt_loop_run_once(loop, false) >= 0);
	assert_int_equal(acc.calls, 1);
	assert_int_equal(acc.result, 0);
	assert_true(acc.req.action.out_handle > 0);
	return acc.req.action.out_handle;
}

/* OFFER(CHAIN | NO_HANDLE), SEND, RECEIVE: a request/response with no handle
 * for the client; its side of the child conversation closes when the chain
 * completes. */
static void test_transient_offer_request_response(void **state)
{
	struct rt_loop loop;
	alder_handle_t lanes[2];
	struct rt_op call_op = RT_OP_INIT;
	struct alder_action call[3];
	struct req_rec rcv = {0}, snd = {0};
	char req[8];
	loop_up(&loop);
	make_stream(lanes);
	uint64_t handles = fake_stats.handles_live;
	rt_action_offer_transient(&call[0]);
	assert_int_equal(call[0].type, ALDER_ACTION_OFFER);
	assert_int_equal(call[0].flags, ALDER_ACTION_CHAIN | ALDER_ACTION_NO_HANDLE);
	assert_int_equal(rt_action_send_inline(&call[1], "ping", 4), 0);
	assert_int_equal(rt_action_receive_inline(&call[2], 8), 0);
	alder_handle_t child = call_accepted(&loop, &call_op, lanes, call, 3);
	assert_int_equal(fake_stats.handles_live, handles + 1); /* the server's lane only */
	assert_int_equal(rt_stream_receive(&loop, &rcv.req, child, req, sizeof(req), req_done), 0);
	assert_true(rt_loop_run_once(&loop, false) >= 0); /* the chain still waits */
	assert_int_equal(rcv.result, 0);
	assert_memory_equal(req, "ping", 4);
	assert_true(rt_op_busy(&call_op)); /* waits for the reply */
	assert_int_equal(rt_stream_send(&loop, &snd.req, child, "pong", 4, req_done), 0);
	assert_int_equal(rt_loop_run(&loop), RT_LOOP_IDLE);
	assert_int_equal(snd.result, 0);
	assert_int_equal(call_op.result, 0);
	assert_int_equal(call_op.aux[0], 3);
	assert_int_equal(call[0].status, 0);
	assert_int_equal(call[0].out_handle, 0); /* no handle */
	assert_int_equal(call[2].length, 4);
	assert_memory_equal(call[2].data, "pong", 4);
	assert_ended(&loop, child); /* the client's side closed with its chain */
	assert_int_equal(rt_handle_close(child), 0);
	assert_int_equal(fake_stats.handles_live, handles);
	loop_down(&loop);
}

/* The chain lets a transient lane go however it completes: cancelled after
 * the offer met, or failed because the offer never met. NO_HANDLE works on
 * an ACCEPT too. */
static void test_transient_lane_ends_with_chain(void **state)
{
	struct rt_loop loop;
	alder_handle_t lanes[2];
	struct rt_op op = RT_OP_INIT;
	struct alder_action acts[2];
	struct req_rec snd = {0}, off = {0};
	loop_up(&loop);
	make_stream(lanes);
	uint64_t handles = fake_stats.handles_live;

	/* Cancelled while it waits on the child. */
	rt_action_offer_transient(&acts[0]);
	assert_int_equal(rt_action_receive_inline(&acts[1], 4), 0);
	alder_handle_t child = call_accepted(&loop, &op, lanes, acts, 2);
	assert_true(rt_op_cancel(&op));
	assert_int_equal(rt_loop_run(&loop), RT_LOOP_IDLE);
	assert_int_equal(op.result, -ALDER_ECANCELED);
	assert_int_equal(op.aux[0], 1); /* the offer had met */
	assert_int_equal(rt_stream_send(&loop, &snd.req, child, "x", 1, req_done), 0);
	assert_int_equal(rt_loop_run(&loop), RT_LOOP_IDLE);
	assert_int_equal(snd.result, -ALDER_EPIPE);
	assert_int_equal(rt_handle_close(child), 0);

	/* A transient ACCEPT: the server's chain receives one request and
	 * hangs up when it completes. */
	rt_action_accept(&acts[0], true);
	acts[0].flags |= ALDER_ACTION_NO_HANDLE;
	assert_int_equal(rt_action_receive_inline(&acts[1], 4), 0);
	assert_int_equal(rt_stream_submit(&loop, &op, lanes[1], acts, 2, NULL), 0);
	assert_int_equal(rt_stream_offer(&loop, &off.req, lanes[0], req_done), 0);
	assert_true(rt_loop_run_once(&loop, false) >= 0); /* the chain still waits */
	child = off.req.action.out_handle;
	assert_true(child > 0);
	assert_int_equal(rt_stream_send(&loop, &snd.req, child, "req", 3, req_done), 0);
	assert_int_equal(rt_loop_run(&loop), RT_LOOP_IDLE);
	assert_int_equal(op.result, 0);
	assert_int_equal(acts[0].out_handle, 0);
	assert_memory_equal(acts[1].data, "req", 3);
	assert_ended(&loop, child);
	assert_int_equal(rt_handle_close(child), 0);

	/* Nobody accepts: the parent conversation ends, so does the chain. */
	rt_action_offer_transient(&acts[0]);
	assert_int_equal(rt_action_receive_inline(&acts[1], 4), 0);
	assert_int_equal(rt_stream_submit(&loop, &op, lanes[0], acts, 2, NULL), 0);
	assert_true(rt_loop_run_once(&loop, false) >= 0);
	assert_int_equal(rt_handle_close(lanes[1]), 0);
	assert_int_equal(rt_loop_run(&loop), RT_LOOP_IDLE);
	assert_int_equal(op.result, -ALDER_EPIPE);
	assert_int_equal(acts[1].status, -ALDER_EPIPE);
	assert_int_equal(rt_handle_close(lanes[0]), 0);
	assert_int_equal(fake_stats.handles_live, handles - 2);
	loop_down(&loop);
}

/* ---- Detached sends ----------------------------------------------------------------- */

static void test_send_detached_success_posts_nothing(void **state)
{
	struct rt_loop loop;
	alder_handle_t lanes[2];
	struct req_rec rcv = {0};
	char msg[] = "hello", in[16];
	memset(in, '.', sizeof(in));
	loop_up(&loop);
	make_stream(lanes);
	assert_int_equal(rt_stream_receive(&loop, &rcv.req, lanes[1], in, sizeof(in), req_done), 0);
	assert_int_equal(rt_stream_send_detached(&loop, lanes[0], msg, 5, 0), 0);
	msg[0] = 'J'; /* copied at the call */
	assert_int_equal(rt_loop_run(&loop), RT_LOOP_IDLE);
	assert_int_equal(rcv.calls, 1);
	assert_int_equal(rcv.result, 0);
	assert_memory_equal(in, "hello...", 8);
	struct rt_loop_stats st = rt_loop_get_stats(&loop);
	assert_int_equal(st.detached, 1);
	assert_int_equal(st.detached_failed, 0);
	assert_int_equal(st.cqes, 1); /* the receive's only */
	assert_int_equal(fake_stats.skipped, 1);
	assert_true(handle_alive(lanes[0])); /* no DROP_LANE: kept */
	loop_down(&loop);
}

static void test_send_detached_drops_lane(void **state)
{
	struct rt_loop loop;
	alder_handle_t lanes[2];
	struct req_rec rcv = {0};
	char in[8];
	loop_up(&loop);
	make_stream(lanes);
	/* Reply and hang up: the receive waits, the send meets it, and the
	 * conversation ends with the dropped lane. */
	assert_int_equal(rt_stream_receive(&loop, &rcv.req, lanes[1], in, sizeof(in), req_done), 0);
	assert_true(rt_loop_run_once(&loop, false) >= 0);
	assert_int_equal(rt_stream_send_detached(&loop, lanes[0], "bye", 3, ALDER_STREAM_DROP_LANE), 0);
	assert_true(handle_alive(lanes[0])); /* still in the ring */
	assert_int_equal(rt_loop_run(&loop), RT_LOOP_IDLE);
	assert_false(handle_alive(lanes[0])); /* the kernel took it */
	assert_int_equal(fake_pending_ops(), 0);
	assert_int_equal(rcv.result, 0);
	assert_int_equal(rcv.req.action.length, 3);
	assert_memory_equal(in, "bye", 3);
	assert_ended(&loop, lanes[1]);
	assert_int_equal(rt_loop_get_stats(&loop).detached_failed, 0);
	assert_int_equal(rt_handle_close(lanes[1]), 0);

	/* Nobody waits: nothing is sent (-EAGAIN, counted), nothing stays in
	 * the kernel, and the lane is dropped all the same. */
	make_stream(lanes);
	assert_int_equal(rt_stream_send_detached(&loop, lanes[0], "bye", 3, ALDER_STREAM_DROP_LANE), 0);
	assert_int_equal(rt_loop_run(&loop), RT_LOOP_IDLE);
	assert_false(handle_alive(lanes[0]));
	assert_int_equal(fake_pending_ops(), 0);
	assert_int_equal(rt_loop_get_stats(&loop).detached_failed, 1);
	assert_ended(&loop, lanes[1]);
	assert_int_equal(rt_handle_close(lanes[1]), 0);
	loop_down(&loop);
}

static void test_send_detached_failures_counted(void **state)
{
	struct rt_loop loop;
	alder_handle_t lanes[2];
	struct req_rec rcv = {0};
	char in[2];
	loop_up(&loop);
	make_stream(lanes);
	/* Too big for the receiver: both fail. */
	assert_int_equal(rt_stream_receive(&loop, &rcv.req, lanes[1], in, sizeof(in), req_done), 0);
	assert_int_equal(rt_stream_send_detached(&loop, lanes[0], "12345", 5, 0), 0);
	assert_int_equal(rt_loop_run(&loop), RT_LOOP_IDLE);
	assert_int_equal(rcv.result, -ALDER_EMSGSIZE);
	assert_int_equal(rt_loop_get_stats(&loop).detached_failed, 1);
	/* The peer is gone; and a lane handle that does not exist (nothing to
	 * drop). Each failure is one CQE, delivered to nobody. */
	assert_int_equal(rt_handle_close(lanes[1]), 0);
	assert_int_equal(rt_stream_send_detached(&loop, lanes[0], "x", 1, ALDER_STREAM_DROP_LANE), 0);
	assert_int_equal(rt_stream_send_detached(&loop, 4242, "x", 1, ALDER_STREAM_DROP_LANE), 0);
	uint64_t delivered = rt_loop_get_stats(&loop).delivered;
	assert_int_equal(rt_loop_run(&loop), RT_LOOP_IDLE);
	struct rt_loop_stats st = rt_loop_get_stats(&loop);
	assert_int_equal(st.detached, 3);
	assert_int_equal(st.detached_failed, 3);
	assert_int_equal(st.delivered, delivered);
	assert_false(handle_alive(lanes[0]));
	assert_int_equal(fake_stats.skipped, 0);
	loop_down(&loop);
}

/* Send n detached one-byte messages '0', '1', ... starting at *next. */
static void send_detached_n(struct rt_loop *loop, alder_handle_t lane, int n, char *next)
{
	for (int i = 0; i < n; i++, (*next)++)
		assert_int_equal(rt_stream_send_detached(loop, lane, next, 1, 0), 0);
}

/* -EAGAIN while the RT_DETACHED_SLOTS actions or the SQ are taken; both are
 * free again once the kernel has consumed the SQEs, which completes them
 * (each meets a waiting receive). */
static void test_send_detached_eagain(void **state)
{
	for (int ring_full = 0; ring_full < 2; ring_full++) {
		struct rt_loop loop;
		alder_handle_t lanes[2];
		uint32_t sq = ring_full ? RT_DETACHED_SLOTS / 2 : RT_DETACHED_SLOTS * 2;
		struct rt_loop_config cfg = {.sq_entries = sq, .cq_entries = 64};
		char next = '0';
		fake_reset();
		assert_int_equal(rt_loop_init(&loop, &cfg), 0);
		make_stream(lanes);
		int fits = ring_full ? (int)sq : RT_DETACHED_SLOTS;
		struct alder_action rx[16];
		struct rt_op rop = RT_OP_INIT;
		assert_true(fits + 2 <= 16);
		for (int i = 0; i < fits + 2; i++)
			assert_int_equal(rt_action_receive_inline(&rx[i], 1), 0);
		assert_int_equal(rt_stream_submit(&loop, &rop, lanes[1], rx, (uint32_t)fits + 2, NULL), 0);
		assert_true(rt_loop_run_once(&loop, false) >= 0); /* the receives wait */
		send_detached_n(&loop, lanes[0], fits, &next);
		assert_int_equal(rt_stream_send_detached(&loop, lanes[0], "x", 1, 0), -ALDER_EAGAIN);
		assert_int_equal(rt_loop_get_stats(&loop).detached, (uint64_t)fits);
		assert_true(rt_loop_run_once(&loop, false) >= 0);
		assert_int_equal(fake_pending_ops(), 1); /* the sends are done: only the receives wait */
		send_detached_n(&loop, lanes[0], 2, &next);
		assert_int_equal(rt_loop_run(&loop), RT_LOOP_IDLE);
		assert_int_equal(rop.result, 0);
		for (int i = 0; i < fits + 2; i++)
			assert_int_equal(rx[i].data[0], '0' + i);
		assert_int_equal(rt_loop_get_stats(&loop).detached_failed, 0);
		assert_int_equal(fake_stats.skipped, (uint64_t)fits + 2);
		loop_down(&loop);
	}
}

/* Ops waiting in the loop's backlog go first: a detached send behind them
 * is refused (-EAGAIN) rather than overtaking them on the lane. */
static void test_send_detached_does_not_overtake_backlog(void **state)
{
	struct rt_loop a, b;
	struct rt_loop_config tiny = {.sq_entries = 8, .cq_entries = 2}; /* one op at a time */
	alder_handle_t lanes[2];
	struct req_rec s1 = {0}, s2 = {0};
	assert_int_equal(rt_loop_init(&a, &tiny), 0);
	loop_up(&b);
	make_stream(lanes);
	assert_int_equal(rt_stream_send(&a, &s1.req, lanes[0], "0", 1, req_done), 0);
	assert_int_equal(rt_stream_send(&a, &s2.req, lanes[0], "1", 1, req_done), 0);
	assert_int_equal(s2.req.op.state, RT_OP_BACKLOG);
	assert_int_equal(rt_stream_send_detached(&a, lanes[0], "2", 1, 0), -ALDER_EAGAIN);
	struct alder_action rx[3];
	struct rt_op rop = RT_OP_INIT;
	for (int i = 0; i < 3; i++)
		assert_int_equal(rt_action_receive_inline(&rx[i], 1), 0);
	assert_int_equal(rt_stream_submit(&b, &rop, lanes[1], rx, 3, NULL), 0);
	assert_true(rt_loop_run_once(&b, false) >= 0);
	assert_int_equal(rt_loop_run(&a), RT_LOOP_IDLE);
	assert_int_equal(s1.result, 0);
	assert_int_equal(s2.result, 0);
	assert_int_equal(rt_stream_send_detached(&a, lanes[0], "2", 1, 0), 0); /* the backlog is empty */
	assert_int_equal(rt_loop_run(&a), RT_LOOP_IDLE);
	assert_int_equal(rt_loop_run(&b), RT_LOOP_IDLE);
	assert_int_equal(rop.result, 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(rx[i].data[0], '0' + i);
	loop_down(&a);
	loop_down(&b);
}

static alder_handle_t detached_lane; /* for detached_during_shutdown_done */

static void detached_during_shutdown_done(struct rt_op *op)
{
	struct req_rec *r = rt_container_of(rt_stream_req_of(op), struct req_rec, req);
	r->calls++;
	r->result = rt_stream_send_detached(op->loop, detached_lane, "x", 1, 0);
}

static void test_send_detached_bad_calls(void **state)
{
	struct rt_loop loop;
	alder_handle_t lanes[2];
	char big[ALDER_ACTION_INLINE_MAX + 1];
	memset(big, 'b', sizeof(big));
	loop_up(&loop);
	make_stream(lanes);
	assert_int_equal(rt_stream_send_detached(&loop, lanes[0], big, sizeof(big), 0), -ALDER_EMSGSIZE);
	assert_int_equal(rt_stream_send_detached(&loop, lanes[0], "x", 1, ALDER_STREAM_NO_WRITEBACK),
			 -ALDER_EINVAL);
	assert_int_equal(rt_stream_send_detached(&loop, lanes[0], "x", 1,
						 ALDER_STREAM_DROP_LANE | ALDER_STREAM_NO_WRITEBACK),
			 -ALDER_EINVAL);
	assert_int_equal(rt_stream_send_detached(&loop, lanes[0], "x", 1, 1u << 7), -ALDER_EINVAL);
	assert_int_equal(rt_loop_get_stats(&loop).detached, 0);
	assert_int_equal(loop.sq_tail, loop.ring.hdr->sq_head); /* nothing written */
	/* The largest inline message goes. */
	struct req_rec big_rcv = {0};
	char big_in[ALDER_ACTION_INLINE_MAX];
	assert_int_equal(rt_stream_receive(&loop, &big_rcv.req, lanes[1], big_in, sizeof(big_in), req_done), 0);
	assert_true(rt_loop_run_once(&loop, false) >= 0);
	assert_int_equal(rt_stream_send_detached(&loop, lanes[0], big, ALDER_ACTION_INLINE_MAX, 0), 0);
	assert_int_equal(rt_loop_run(&loop), RT_LOOP_IDLE);
	assert_int_equal(big_rcv.result, 0);
	assert_int_equal(big_rcv.req.action.length, ALDER_ACTION_INLINE_MAX);
	assert_int_equal(rt_loop_get_stats(&loop).detached_failed, 0);

	/* While shutting down: refused, also from a done function that the
	 * shutdown runs. */
	struct req_rec rcv = {0};
	char in[4];
	assert_int_equal(
	    rt_stream_receive(&loop, &rcv.req, lanes[0], in, sizeof(in), detached_during_shutdown_done), 0);
	assert_true(rt_loop_run_once(&loop, false) >= 0);
	detached_lane = lanes[0];
	assert_int_equal(rt_loop_shutdown(&loop), 0);
	assert_int_equal(rcv.calls, 1);
	assert_int_equal(rcv.result, -ALDER_ECANCELED);
	assert_int_equal(rt_stream_send_detached(&loop, lanes[0], "x", 1, 0), -ALDER_ECANCELED);
	assert_int_equal(rt_loop_get_stats(&loop).detached, 1);
	rt_loop_fini(&loop);
}

/* ---- Fibril style ----------------------------------------------------------------- */

struct pair_ctx {
	struct rt_loop *client_loop, *server_loop;
	alder_handle_t client_lane, server_lane;
	char reply[32];
	size_t reply_len;
	int64_t client_result;
	int served;
	alder_handle_t pulled;
	int64_t event_counter;
	struct alder_creds creds;
	uint64_t handles_base; /* echo_server_fn: live handles before the first call */
};

static void echo_server_fn(void *arg)
{
	struct pair_ctx *p = arg;
	for (int i = 0; i < 2; i++) {
		alder_handle_t child;
		FCHECK_EQ(rt_stream_accept_await(p->server_loop, p->server_lane, &child), 0);
		/* The client's offer is transient: only our child lane has a handle. */
		FCHECK_EQ(fake_stats.handles_live, p->handles_base + 1);
		char req[16];
		size_t got = 0;
		memset(req, 'z', sizeof(req));
		FCHECK_EQ(rt_stream_receive_await(p->server_loop, child, req, sizeof(req), &got), 0);
		FCHECK_EQ(got, i == 0 ? 2 : 4);
		char resp[32];
		int n = snprintf(resp, sizeof(resp), "echo:%.*s", (int)got, req);
		/* The second client has room for 4 bytes only. */
		FCHECK_EQ(rt_stream_send_await(p->server_loop, child, resp, (size_t)n),
			  i == 0 ? 0 : -ALDER_EMSGSIZE);
		/* The client's chain is complete: its side is closed. */
		FCHECK_EQ(rt_stream_receive_await(p->server_loop, child, req, sizeof(req), NULL),
			  -ALDER_EPIPE);
		FCHECK_EQ(rt_handle_close(child), 0);
		p->served++;
	}
}

static void echo_client_fn(void *arg)
{
	struct pair_ctx *p = arg;
	p->client_result = rt_stream_call_await(p->client_loop, p->client_lane, "hi", 2, p->reply,
						sizeof(p->reply), &p->reply_len);
	/* A response bigger than the room: -EMSGSIZE with the size needed. */
	char small[4];
	size_t need = 0;
	FCHECK_EQ(
	    rt_stream_call_await(p->client_loop, p->client_lane, "long", 4, small, sizeof(small), &need),
	    -ALDER_EMSGSIZE);
	FCHECK_EQ(need, 9);
}

static void test_call_and_serve(void **state)
{
	struct rt_loop loop;
	alder_handle_t lanes[2];
	struct rt_fibril fs, fc;
	memset(&fs, 0, sizeof(fs));
	memset(&fc, 0, sizeof(fc));
	loop_up(&loop);
	make_stream(lanes);
	uint64_t handles_before = fake_stats.handles_live;
	struct pair_ctx p = {.client_loop = &loop,
			     .server_loop = &loop,
			     .client_lane = lanes[0],
			     .server_lane = lanes[1],
			     .handles_base = handles_before};
	assert_int_equal(rt_fibril_start(&loop, &fs, echo_server_fn, &p, NULL), 0);
	assert_int_equal(rt_fibril_start(&loop, &fc, echo_client_fn, &p, NULL), 0);
	assert_int_equal(rt_loop_run(&loop), RT_LOOP_IDLE);
	assert_int_equal(p.client_result, 0);
	assert_int_equal(p.reply_len, 7);
	assert_memory_equal(p.reply, "echo:hi", 7);
	assert_int_equal(p.served, 2);
	/* Both sides closed their child lanes. */
	assert_int_equal(fake_stats.handles_live, handles_before);
	loop_down(&loop);
}

static void pusher_fn(void *arg)
{
	struct pair_ctx *p = arg;
	long ev = rt_event_create();
	FCHECK(ev > 0);
	FCHECK_EQ(rt_stream_push_await(p->client_loop, p->client_lane, (alder_handle_t)ev,
				       ALDER_RIGHTS_ALL & ~ALDER_RIGHT_DUPLICATE),
		  0);
	FCHECK_EQ(rt_stream_imbue_creds_await(p->client_loop, p->client_lane), 0);
	/* Wake the puller's wait through our own handle. */
	FCHECK_EQ(rt_sleep_await(p->client_loop, 10), 0);
	FCHECK_EQ(rt_event_signal((alder_handle_t)ev), 0);
}

static void puller_fn(void *arg)
{
	struct pair_ctx *p = arg;
	FCHECK_EQ(rt_stream_pull_await(p->server_loop, p->server_lane, ALDER_RIGHTS_ALL & ~ALDER_RIGHT_WRITE,
				       &p->pulled),
		  0);
	FCHECK_EQ(rt_stream_extract_creds_await(p->server_loop, p->server_lane, &p->creds), 0);
	p->event_counter = rt_event_wait_await(p->server_loop, p->pulled);
}

static void test_push_pull_and_creds(void **state)
{
	struct rt_loop loop;
	alder_handle_t lanes[2];
	struct rt_fibril f1, f2;
	memset(&f1, 0, sizeof(f1));
	memset(&f2, 0, sizeof(f2));
	loop_up(&loop);
	make_stream(lanes);
	struct pair_ctx p = {
	    .client_loop = &loop, .server_loop = &loop, .client_lane = lanes[0], .server_lane = lanes[1]};
	assert_int_equal(rt_fibril_start(&loop, &f1, puller_fn, &p, NULL), 0);
	assert_int_equal(rt_fibril_start(&loop, &f2, pusher_fn, &p, NULL), 0);
	assert_int_equal(rt_loop_run(&loop), RT_LOOP_IDLE);
	assert_true(p.pulled > 0);
	assert_int_equal(p.event_counter, 1);
	assert_int_equal(p.creds.pid, FAKE_PID);
	assert_int_equal(p.creds.id[0], 0xa0);
	/* Rights: the sender's (an event's: READ WRITE TRANSFER DUPLICATE),
	 * ANDed with the push and pull masks. */
	long err;
	struct fk_handle *h = handle_get(p.pulled, FK_H_EVENT, &err);
	assert_non_null(h);
	assert_int_equal(h->rights, ALDER_RIGHT_READ | ALDER_RIGHT_TRANSFER);
	loop_down(&loop);
}

/* A chain mixing forms: inline send into a scatter-gather receive. */
static void test_inline_into_sg_chain(void **state)
{
	struct rt_loop loop;
	alder_handle_t lanes[2];
	struct rt_op so = RT_OP_INIT, ro = RT_OP_INIT;
	struct alder_action s[2], r[2];
	char a[3], b[10], tail[8];
	struct alder_iovec iov[2] = {{(uint64_t)(uintptr_t)a, sizeof(a)},
				     {(uint64_t)(uintptr_t)b, sizeof(b)}};
	loop_up(&loop);
	make_stream(lanes);
	assert_int_equal(rt_action_send_inline(&s[0], "abcdefgh", 8), 0);
	rt_action_send(&s[1], "tail", 4);
	rt_action_receive_sg(&r[0], iov, 2);
	assert_int_equal(rt_action_receive_inline(&r[1], sizeof(tail)), 0);
	assert_int_equal(rt_stream_submit(&loop, &ro, lanes[1], r, 2, NULL), 0);
	assert_int_equal(rt_stream_submit(&loop, &so, lanes[0], s, 2, NULL), 0);
	assert_int_equal(rt_loop_run(&loop), RT_LOOP_IDLE);
	assert_int_equal(so.result, 0);
	assert_int_equal(so.aux[0], 2);
	assert_int_equal(ro.result, 0);
	assert_int_equal(ro.aux[0], 2);
	assert_memory_equal(a, "abc", 3);
	assert_memory_equal(b, "defgh", 5);
	assert_int_equal(r[0].length, 8);
	assert_int_equal(r[1].length, 4);
	assert_memory_equal(r[1].data, "tail", 4); /* written back by the kernel */
	loop_down(&loop);
}

/* ---- Two loops, two queues ------------------------------------------------------------------ */

static void test_two_loops_talk(void **state)
{
	struct rt_loop client, server;
	alder_handle_t lanes[2];
	struct rt_fibril fs, fc;
	memset(&fs, 0, sizeof(fs));
	memset(&fc, 0, sizeof(fc));
	loop_up(&client);
	loop_up(&server);
	make_stream(lanes);
	struct pair_ctx p = {.client_loop = &client,
			     .server_loop = &server,
			     .client_lane = lanes[0],
			     .server_lane = lanes[1],
			     .handles_base = fake_stats.handles_live};
	assert_int_equal(rt_fibril_start(&server, &fs, echo_server_fn, &p, NULL), 0);
	assert_int_equal(rt_fibril_start(&client, &fc, echo_client_fn, &p, NULL), 0);
	/* One thread drives both, as two threads would, without waiting. */
	for (int i = 0; i < 100 && (rt_fibril_alive(&fs) || rt_fibril_alive(&fc)); i++) {
		assert_true(rt_loop_run_once(&client, false) >= 0);
		assert_true(rt_loop_run_once(&server, false) >= 0);
	}
	assert_false(rt_fibril_alive(&fs));
	assert_false(rt_fibril_alive(&fc));
	assert_int_equal(p.client_result, 0);
	assert_memory_equal(p.reply, "echo:hi", 7);
	assert_int_equal(p.served, 2);
	loop_down(&client);
	loop_down(&server);
}

/* ---- Shutdown with a pending chain ------------------------------------------------------------- */

static void waiting_receiver_fn(void *arg)
{
	struct pair_ctx *p = arg;
	char buf[4];
	size_t got = 99;
	p->client_result = rt_stream_receive_await(p->client_loop, p->client_lane, buf, sizeof(buf), &got);
	FCHECK_EQ(got, 0);
	p->served = 1;
}

static void test_shutdown_cancels_pending_chain(void **state)
{
	struct rt_loop loop;
	alder_handle_t lanes[2];
	struct rt_fibril f;
	memset(&f, 0, sizeof(f));
	loop_up(&loop);
	make_stream(lanes);
	struct pair_ctx p = {.client_loop = &loop, .client_lane = lanes[0]};
	assert_int_equal(rt_fibril_start(&loop, &f, waiting_receiver_fn, &p, NULL), 0);
	assert_int_equal(rt_loop_run(&loop), -ALDER_ETIMEDOUT); /* nobody will ever send */
	assert_int_equal(rt_loop_shutdown(&loop), 0);
	assert_int_equal(p.client_result, -ALDER_ECANCELED);
	assert_int_equal(p.served, 1);
	rt_loop_fini(&loop);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_builders, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_send_receive_callbacks, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_emsgsize_and_proto, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_dismiss_and_close_give_epipe, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cancel_pending_receive, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_submission_error_names_the_action, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_chain_flag_errors, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_drop_lane_and_no_writeback, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_drop_lane_released_by_cancel, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_queue_death_lets_go_of_lanes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_transient_offer_request_response, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_transient_lane_ends_with_chain, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_send_detached_success_posts_nothing, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_send_detached_drops_lane, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_send_detached_failures_counted, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_send_detached_eagain, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_send_detached_does_not_overtake_backlog, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_send_detached_bad_calls, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_call_and_serve, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_push_pull_and_creds, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_inline_into_sg_chain, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_two_loops_talk, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_shutdown_cancels_pending_chain, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
