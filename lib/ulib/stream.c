/* Stream wrappers and action builders (ustream.h). */
#include <ustream.h>

long u_stream_create(alder_handle_t lanes[2])
{
	return u_syscall1(SYS_STREAM_CREATE, (uint64_t)(uintptr_t)lanes);
}

struct alder_action u_act_send_inline(const void *data, uint64_t len)
{
	struct alder_action a = u_act_(ALDER_ACTION_SEND, ALDER_ACTION_INLINE, 0, 0);
	if (len > ALDER_ACTION_INLINE_MAX)
		len = ALDER_ACTION_INLINE_MAX;
	memcpy(a.data, data, len);
	a.len = len;
	return a;
}

long u_stream_run(struct u_queue *q, alder_handle_t lane, struct alder_action *acts, uint64_t n,
		  uint64_t timeout_ns, struct alder_cqe *cqe)
{
	struct alder_sqe s = u_sqe_stream((uint64_t)(uintptr_t)acts, lane, acts, n);
	uint64_t deadline = timeout_ns ? u_now_ns() + timeout_ns : 0;
	long r;

	memset(cqe, 0, sizeof(*cqe));
	r = u_queue_push(q, &s);
	if (r < 0)
		return r;
	r = u_queue_enter(q->handle, 1, 0, 0);
	if (r < 0)
		return r;
	while (!u_queue_pop(q, cqe)) {
		uint64_t left = 0;
		if (deadline) {
			uint64_t now = u_now_ns();
			if (now >= deadline)
				return -ALDER_ETIMEDOUT;
			left = deadline - now;
		}
		r = u_queue_enter(q->handle, 0, 1, left);
		if (r < 0 && r != -ALDER_ETIMEDOUT)
			return r;
	}
	return cqe->result;
}
