/*
 * Typed helpers for stream action chains (abi/alder/stream.h).
 *
 * Three layers:
 *  1. rt_action_*: fill one struct alder_action (zeroing it first), so no
 *     reserved field or flag is ever left behind.
 *  2. Chains: rt_stream_submit / rt_stream_submit_await submit a caller-
 *     owned array of actions as one ALDER_OP_STREAM op. The array, and every
 *     buffer it names, must stay valid and unmodified until the op's
 *     completion is delivered (stream.h: the kernel writes outputs back into
 *     it before the CQE). op->result is the first failed action's status or
 *     0; op->aux[0] the number of leading actions that succeeded; per-action
 *     outputs (status, length, out_handle, inline data) are in the array.
 *  3. Single actions: callback style with a caller-owned struct
 *     rt_stream_req (op + one action), and fibril style (*_await, which
 *     suspend the calling fibril; their op and action live on its stack).
 *
 * Lanes are plain handles; these helpers never close one except where
 * said (rt_stream_send_detached with ALDER_STREAM_DROP_LANE). The child
 * conversation of rt_stream_call_await is transient: no handle is made for
 * this side, and the kernel closes it when the chain completes.
 */
#ifndef RT_STREAM_H
#define RT_STREAM_H

#include <alder/stream.h>

#include "fibril.h"

/* ---- 1. Action builders -------------------------------------------------- */
void rt_action_send(struct alder_action *a, const void *buf, size_t len);
/* Inline forms: -ALDER_EMSGSIZE (a left zeroed) if len > ALDER_ACTION_INLINE_MAX. */
int rt_action_send_inline(struct alder_action *a, const void *data, size_t len);
void rt_action_send_sg(struct alder_action *a, const struct alder_iovec *iov, size_t count);
void rt_action_receive(struct alder_action *a, void *buf, size_t len);
int rt_action_receive_inline(struct alder_action *a, size_t room);
void rt_action_receive_sg(struct alder_action *a, const struct alder_iovec *iov, size_t count);
/* chain: the actions after this one in the chain act on the child stream. */
void rt_action_offer(struct alder_action *a, bool chain);
/* OFFER(CHAIN | NO_HANDLE): the child conversation lives only for this
 * chain (a remote procedure call: no lane to close afterwards). */
void rt_action_offer_transient(struct alder_action *a);
void rt_action_accept(struct alder_action *a, bool chain);
void rt_action_push(struct alder_action *a, alder_handle_t h, uint32_t rights);
void rt_action_pull(struct alder_action *a, uint32_t rights);
void rt_action_imbue_creds(struct alder_action *a);
void rt_action_extract_creds(struct alder_action *a);
void rt_action_dismiss(struct alder_action *a);

/*
 * A fire-and-forget SEND of len <= ALDER_ACTION_INLINE_MAX bytes of data on
 * lane, to a peer whose RECEIVE is already waiting (a reply to a request
 * whose chain receives the answer): one ALDER_OP_STREAM SQE with
 * ALDER_SQE_SKIP_SUCCESS, ALDER_STREAM_NO_WRITEBACK and ALDER_STREAM_NOWAIT,
 * no op record. The data is copied now; nothing is reported on success, and
 * a failure only counts in the loop's stats.detached_failed — including
 * -ALDER_EAGAIN when the peer was not waiting: then nothing was sent.
 * chain_flags may hold ALDER_STREAM_DROP_LANE (the lane handle is closed as
 * the kernel takes the SQE, also when the send fails: reply and hang up).
 * Goes to the kernel with the loop's next system call, in order with the
 * ops started before it. Returns 0, -ALDER_EAGAIN (the ring or the loop's
 * RT_DETACHED_SLOTS are full, or ops wait in the loop's backlog, which the
 * send must not overtake: use a normal op, which queues behind them),
 * -ALDER_EMSGSIZE, -ALDER_EINVAL (other chain flags) or -ALDER_ECANCELED
 * (shutting down). Not from other threads.
 *
 * Budget: the send completes (or fails) within the system call that
 * submits it (NOWAIT), so it never holds a CQ slot afterwards; a failure's
 * CQE is reaped with the others of that call.
 */
int rt_stream_send_detached(struct rt_loop *loop, alder_handle_t lane, const void *data, size_t len,
			    uint32_t chain_flags);

/* SYS_STREAM_CREATE: 0 and both lanes in lanes[], or a negative errno. */
long rt_stream_create(alder_handle_t lanes[2]);

/* ---- 2. Chains ------------------------------------------------------------ */
void rt_op_prep_stream(struct rt_op *op, alder_handle_t lane, struct alder_action *acts, uint32_t count);
/* Prepare and start (rt_op_start's results). */
int rt_stream_submit(struct rt_loop *loop, struct rt_op *op, alder_handle_t lane, struct alder_action *acts,
		     uint32_t count, rt_op_done_fn *done);
/* Suspends: submit and wait; returns the chain's result. */
int64_t rt_stream_submit_await(struct rt_loop *loop, alder_handle_t lane, struct alder_action *acts,
			       uint32_t count);

/* ---- 3a. Single actions, callback style ------------------------------------ */
struct rt_stream_req {
	struct rt_op op;
	struct alder_action action; /* outputs valid in done */
};

/* The request a done function was called for. */
static inline struct rt_stream_req *rt_stream_req_of(struct rt_op *op)
{
	return rt_container_of(op, struct rt_stream_req, op);
}

int rt_stream_send(struct rt_loop *loop, struct rt_stream_req *req, alder_handle_t lane, const void *buf,
		   size_t len, rt_op_done_fn *done);
/* In done: req->action.length = bytes received (on -ALDER_EMSGSIZE: bytes offered). */
int rt_stream_receive(struct rt_loop *loop, struct rt_stream_req *req, alder_handle_t lane, void *buf,
		      size_t len, rt_op_done_fn *done);
int rt_stream_push(struct rt_loop *loop, struct rt_stream_req *req, alder_handle_t lane, alder_handle_t h,
		   uint32_t rights, rt_op_done_fn *done);
/* In done: req->action.out_handle = the received handle. */
int rt_stream_pull(struct rt_loop *loop, struct rt_stream_req *req, alder_handle_t lane, uint32_t rights,
		   rt_op_done_fn *done);
/* In done: req->action.out_handle = this side's lane of the child stream. */
int rt_stream_offer(struct rt_loop *loop, struct rt_stream_req *req, alder_handle_t lane,
		    rt_op_done_fn *done);
int rt_stream_accept(struct rt_loop *loop, struct rt_stream_req *req, alder_handle_t lane,
		     rt_op_done_fn *done);
int rt_stream_dismiss(struct rt_loop *loop, struct rt_stream_req *req, alder_handle_t lane,
		      rt_op_done_fn *done);

/* ---- 3b. Single actions, fibril style (all suspend) ------------------------ */
/* Each returns 0 or the action's negative status (or a start error). */
int64_t rt_stream_send_await(struct rt_loop *loop, alder_handle_t lane, const void *buf, size_t len);
/* *got (may be NULL): bytes received; on -ALDER_EMSGSIZE the bytes the sender offered. */
int64_t rt_stream_receive_await(struct rt_loop *loop, alder_handle_t lane, void *buf, size_t len,
				size_t *got);
int64_t rt_stream_push_await(struct rt_loop *loop, alder_handle_t lane, alder_handle_t h, uint32_t rights);
/* *out: the received handle (ALDER_HANDLE_NONE on failure). */
int64_t rt_stream_pull_await(struct rt_loop *loop, alder_handle_t lane, uint32_t rights, alder_handle_t *out);
/* *child: this side's lane of the new stream (ALDER_HANDLE_NONE on failure). */
int64_t rt_stream_offer_await(struct rt_loop *loop, alder_handle_t lane, alder_handle_t *child);
int64_t rt_stream_accept_await(struct rt_loop *loop, alder_handle_t lane, alder_handle_t *child);
int64_t rt_stream_imbue_creds_await(struct rt_loop *loop, alder_handle_t lane);
int64_t rt_stream_extract_creds_await(struct rt_loop *loop, alder_handle_t lane, struct alder_creds *out);
int64_t rt_stream_dismiss_await(struct rt_loop *loop, alder_handle_t lane);

/*
 * A request/response exchange in one chain: a transient OFFER
 * (rt_action_offer_transient), then on the child stream SEND req and
 * RECEIVE into resp. No handle is installed for this side's child lane; the
 * kernel closes it when the chain completes (whatever the result), so the
 * server sees -ALDER_EPIPE on the child after its reply. The server side
 * accepts (rt_stream_accept_await), receives the request on its child lane,
 * sends the response there and closes its lane (or sends it with
 * rt_stream_send_detached and ALDER_STREAM_DROP_LANE). *resp_len (may be
 * NULL): bytes of response (on -ALDER_EMSGSIZE: the size the server
 * offered). Returns 0 or the first failure.
 */
int64_t rt_stream_call_await(struct rt_loop *loop, alder_handle_t lane, const void *req, size_t req_len,
			     void *resp, size_t resp_room, size_t *resp_len);

#endif
