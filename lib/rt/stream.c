/*
 * Stream action helpers (rt/stream.h): builders that fill struct
 * alder_action completely, chain submission, and single-action requests in
 * callback and fibril style. No protocol logic: that belongs to servers.
 */
#include "internal.h"

static void action_clear(struct alder_action *a, uint32_t type)
{
	__builtin_memset(a, 0, sizeof(*a));
	a->type = type;
}

/* ---- Builders ---------------------------------------------------------------- */

void rt_action_send(struct alder_action *a, const void *buf, size_t len)
{
	action_clear(a, ALDER_ACTION_SEND);
	a->buf = (uint64_t)(uintptr_t)buf;
	a->len = len;
}

int rt_action_send_inline(struct alder_action *a, const void *data, size_t len)
{
	action_clear(a, ALDER_ACTION_SEND);
	if (len > ALDER_ACTION_INLINE_MAX) {
		a->type = 0;
		return -ALDER_EMSGSIZE;
	}
	a->flags = ALDER_ACTION_INLINE;
	a->len = len;
	if (len)
		__builtin_memcpy(a->data, data, len);
	return 0;
}

void rt_action_send_sg(struct alder_action *a, const struct alder_iovec *iov, size_t count)
{
	action_clear(a, ALDER_ACTION_SEND);
	a->flags = ALDER_ACTION_SG;
	a->buf = (uint64_t)(uintptr_t)iov;
	a->len = count;
}

void rt_action_receive(struct alder_action *a, void *buf, size_t len)
{
	action_clear(a, ALDER_ACTION_RECEIVE);
	a->buf = (uint64_t)(uintptr_t)buf;
	a->len = len;
}

int rt_action_receive_inline(struct alder_action *a, size_t room)
{
	action_clear(a, ALDER_ACTION_RECEIVE);
	if (room > ALDER_ACTION_INLINE_MAX) {
		a->type = 0;
		return -ALDER_EMSGSIZE;
	}
	a->flags = ALDER_ACTION_INLINE;
	a->len = room;
	return 0;
}

void rt_action_receive_sg(struct alder_action *a, const struct alder_iovec *iov, size_t count)
{
	action_clear(a, ALDER_ACTION_RECEIVE);
	a->flags = ALDER_ACTION_SG;
	a->buf = (uint64_t)(uintptr_t)iov;
	a->len = count;
}

void rt_action_offer(struct alder_action *a, bool chain)
{
	action_clear(a, ALDER_ACTION_OFFER);
	a->flags = chain ? ALDER_ACTION_CHAIN : 0;
}

void rt_action_offer_transient(struct alder_action *a)
{
	action_clear(a, ALDER_ACTION_OFFER);
	a->flags = ALDER_ACTION_CHAIN | ALDER_ACTION_NO_HANDLE;
}

void rt_action_accept(struct alder_action *a, bool chain)
{
	action_clear(a, ALDER_ACTION_ACCEPT);
	a->flags = chain ? ALDER_ACTION_CHAIN : 0;
}

void rt_action_push(struct alder_action *a, alder_handle_t h, uint32_t rights)
{
	action_clear(a, ALDER_ACTION_PUSH_HANDLE);
	a->handle = h;
	a->rights = rights;
}

void rt_action_pull(struct alder_action *a, uint32_t rights)
{
	action_clear(a, ALDER_ACTION_PULL_HANDLE);
	a->rights = rights;
}

void rt_action_imbue_creds(struct alder_action *a)
{
	action_clear(a, ALDER_ACTION_IMBUE_CREDS);
}

void rt_action_extract_creds(struct alder_action *a)
{
	action_clear(a, ALDER_ACTION_EXTRACT_CREDS);
}

void rt_action_dismiss(struct alder_action *a)
{
	action_clear(a, ALDER_ACTION_DISMISS);
}

long rt_stream_create(alder_handle_t lanes[2])
{
	return rt_plat_stream_create(lanes);
}

/* ---- Chains ---------------------------------------------------------------- */

void rt_op_prep_stream(struct rt_op *op, alder_handle_t lane, struct alder_action *acts, uint32_t count)
{
	rt_op_prep(op, ALDER_OP_STREAM, lane, (uint64_t)(uintptr_t)acts, count, 0, 0);
}

int rt_stream_submit(struct rt_loop *loop, struct rt_op *op, alder_handle_t lane, struct alder_action *acts,
		     uint32_t count, rt_op_done_fn *done)
{
	if (rt_op_busy(op))
		return -ALDER_EBUSY;
	rt_op_prep_stream(op, lane, acts, count);
	return rt_op_start(loop, op, done);
}

int64_t rt_stream_submit_await(struct rt_loop *loop, alder_handle_t lane, struct alder_action *acts,
			       uint32_t count)
{
	struct rt_op op = RT_OP_INIT;
	rt_op_prep_stream(&op, lane, acts, count);
	return rt_op_start_await(loop, &op);
}

/* ---- Single actions, callback style ------------------------------------------------ */

static int req_submit(struct rt_loop *loop, struct rt_stream_req *req, alder_handle_t lane,
		      rt_op_done_fn *done)
{
	return rt_stream_submit(loop, &req->op, lane, &req->action, 1, done);
}

int rt_stream_send(struct rt_loop *loop, struct rt_stream_req *req, alder_handle_t lane, const void *buf,
		   size_t len, rt_op_done_fn *done)
{
	if (rt_op_busy(&req->op))
		return -ALDER_EBUSY;
	rt_action_send(&req->action, buf, len);
	return req_submit(loop, req, lane, done);
}

int rt_stream_receive(struct rt_loop *loop, struct rt_stream_req *req, alder_handle_t lane, void *buf,
		      size_t len, rt_op_done_fn *done)
{
	if (rt_op_busy(&req->op))
		return -ALDER_EBUSY;
	rt_action_receive(&req->action, buf, len);
	return req_submit(loop, req, lane, done);
}

int rt_stream_push(struct rt_loop *loop, struct rt_stream_req *req, alder_handle_t lane, alder_handle_t h,
		   uint32_t rights, rt_op_done_fn *done)
{
	if (rt_op_busy(&req->op))
		return -ALDER_EBUSY;
	rt_action_push(&req->action, h, rights);
	return req_submit(loop, req, lane, done);
}

int rt_stream_pull(struct rt_loop *loop, struct rt_stream_req *req, alder_handle_t lane, uint32_t rights,
		   rt_op_done_fn *done)
{
	if (rt_op_busy(&req->op))
		return -ALDER_EBUSY;
	rt_action_pull(&req->action, rights);
	return req_submit(loop, req, lane, done);
}

int rt_stream_offer(struct rt_loop *loop, struct rt_stream_req *req, alder_handle_t lane, rt_op_done_fn *done)
{
	if (rt_op_busy(&req->op))
		return -ALDER_EBUSY;
	rt_action_offer(&req->action, false);
	return req_submit(loop, req, lane, done);
}

int rt_stream_accept(struct rt_loop *loop, struct rt_stream_req *req, alder_handle_t lane,
		     rt_op_done_fn *done)
{
	if (rt_op_busy(&req->op))
		return -ALDER_EBUSY;
	rt_action_accept(&req->action, false);
	return req_submit(loop, req, lane, done);
}

int rt_stream_dismiss(struct rt_loop *loop, struct rt_stream_req *req, alder_handle_t lane,
		      rt_op_done_fn *done)
{
	if (rt_op_busy(&req->op))
		return -ALDER_EBUSY;
	rt_action_dismiss(&req->action);
	return req_submit(loop, req, lane, done);
}

/* ---- Single actions, fibril style ------------------------------------------------ */

/* Suspends. One action (on the fibril's stack); outputs are written back into *a. */
static int64_t one_await(struct rt_loop *loop, alder_handle_t lane, struct alder_action *a)
{
	return rt_stream_submit_await(loop, lane, a, 1);
}

int64_t rt_stream_send_await(struct rt_loop *loop, alder_handle_t lane, const void *buf, size_t len)
{
	struct alder_action a;
	rt_action_send(&a, buf, len);
	return one_await(loop, lane, &a);
}

int64_t rt_stream_receive_await(struct rt_loop *loop, alder_handle_t lane, void *buf, size_t len, size_t *got)
{
	struct alder_action a;
	rt_action_receive(&a, buf, len);
	int64_t r = one_await(loop, lane, &a);
	if (got)
		*got = r == 0 || r == -ALDER_EMSGSIZE || r == -ALDER_EFAULT ? (size_t)a.length : 0;
	return r;
}

int64_t rt_stream_push_await(struct rt_loop *loop, alder_handle_t lane, alder_handle_t h, uint32_t rights)
{
	struct alder_action a;
	rt_action_push(&a, h, rights);
	return one_await(loop, lane, &a);
}

int64_t rt_stream_pull_await(struct rt_loop *loop, alder_handle_t lane, uint32_t rights, alder_handle_t *out)
{
	struct alder_action a;
	rt_action_pull(&a, rights);
	int64_t r = one_await(loop, lane, &a);
	if (out)
		*out = r == 0 ? a.out_handle : ALDER_HANDLE_NONE;
	return r;
}

int64_t rt_stream_offer_await(struct rt_loop *loop, alder_handle_t lane, alder_handle_t *child)
{
	struct alder_action a;
	rt_action_offer(&a, false);
	int64_t r = one_await(loop, lane, &a);
	if (child)
		*child = r == 0 ? a.out_handle : ALDER_HANDLE_NONE;
	return r;
}

int64_t rt_stream_accept_await(struct rt_loop *loop, alder_handle_t lane, alder_handle_t *child)
{
	struct alder_action a;
	rt_action_accept(&a, false);
	int64_t r = one_await(loop, lane, &a);
	if (child)
		*child = r == 0 ? a.out_handle : ALDER_HANDLE_NONE;
	return r;
}

int64_t rt_stream_imbue_creds_await(struct rt_loop *loop, alder_handle_t lane)
{
	struct alder_action a;
	rt_action_imbue_creds(&a);
	return one_await(loop, lane, &a);
}

int64_t rt_stream_extract_creds_await(struct rt_loop *loop, alder_handle_t lane, struct alder_creds *out)
{
	struct alder_action a;
	rt_action_extract_creds(&a);
	int64_t r = one_await(loop, lane, &a);
	if (out) {
		if (r == 0)
			*out = a.creds;
		else
			__builtin_memset(out, 0, sizeof(*out));
	}
	return r;
}

int64_t rt_stream_dismiss_await(struct rt_loop *loop, alder_handle_t lane)
{
	struct alder_action a;
	rt_action_dismiss(&a);
	return one_await(loop, lane, &a);
}

int64_t rt_stream_call_await(struct rt_loop *loop, alder_handle_t lane, const void *req, size_t req_len,
			     void *resp, size_t resp_room, size_t *resp_len)
{
	struct alder_action a[3];
	/* A transient offer: the chain holds this side's child lane and closes
	 * it when it completes, however it ends, so there is no handle to
	 * close here. Outputs not written back (a start or submission error)
	 * are still zero. */
	rt_action_offer_transient(&a[0]);
	rt_action_send(&a[1], req, req_len);
	rt_action_receive(&a[2], resp, resp_room);
	int64_t r = rt_stream_submit_await(loop, lane, a, 3);
	if (resp_len)
		*resp_len = a[2].status == 0 || a[2].status == -ALDER_EMSGSIZE ? (size_t)a[2].length : 0;
	return r;
}
