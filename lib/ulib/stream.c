/* Stream wrappers and action builders (ustream.h). */
#include <ustream.h>

long u_stream_create(alder_handle_t lanes[2])
{
	return u_syscall1(SYS_STREAM_CREATE, (uint64_t)(uintptr_t)lanes);
}

static struct alder_action act(uint32_t type, uint32_t flags)
{
	struct alder_action a;

	memset(&a, 0, sizeof(a));
	a.type = type;
	a.flags = flags;
	return a;
}

struct alder_action u_act_offer(bool chain)
{
	return act(ALDER_ACTION_OFFER, chain ? ALDER_ACTION_CHAIN : 0);
}
struct alder_action u_act_offer_transient(void)
{
	return act(ALDER_ACTION_OFFER, ALDER_ACTION_CHAIN | ALDER_ACTION_NO_HANDLE);
}
struct alder_action u_act_accept(bool chain)
{
	return act(ALDER_ACTION_ACCEPT, chain ? ALDER_ACTION_CHAIN : 0);
}

struct alder_action u_act_send(const void *buf, uint64_t len)
{
	struct alder_action a = act(ALDER_ACTION_SEND, 0);
	a.buf = (uint64_t)(uintptr_t)buf;
	a.len = len;
	return a;
}

struct alder_action u_act_recv(void *buf, uint64_t len)
{
	struct alder_action a = act(ALDER_ACTION_RECEIVE, 0);
	a.buf = (uint64_t)(uintptr_t)buf;
	a.len = len;
	return a;
}

struct alder_action u_act_send_inline(const void *data, uint64_t len)
{
	struct alder_action a = act(ALDER_ACTION_SEND, ALDER_ACTION_INLINE);
	if (len > ALDER_ACTION_INLINE_MAX)
		len = ALDER_ACTION_INLINE_MAX;
	memcpy(a.data, data, len);
	a.len = len;
	return a;
}

struct alder_action u_act_recv_inline(uint64_t room)
{
	struct alder_action a = act(ALDER_ACTION_RECEIVE, ALDER_ACTION_INLINE);
	a.len = room;
	return a;
}

struct alder_action u_act_send_sg(const struct alder_iovec *iov, uint64_t n)
{
	struct alder_action a = act(ALDER_ACTION_SEND, ALDER_ACTION_SG);
	a.buf = (uint64_t)(uintptr_t)iov;
	a.len = n;
	return a;
}

struct alder_action u_act_recv_sg(const struct alder_iovec *iov, uint64_t n)
{
	struct alder_action a = act(ALDER_ACTION_RECEIVE, ALDER_ACTION_SG);
	a.buf = (uint64_t)(uintptr_t)iov;
	a.len = n;
	return a;
}

struct alder_action u_act_push(alder_handle_t h, uint32_t rights_mask)
{
	struct alder_action a = act(ALDER_ACTION_PUSH_HANDLE, 0);
	a.handle = h;
	a.rights = rights_mask;
	return a;
}

struct alder_action u_act_pull(uint32_t rights_mask)
{
	struct alder_action a = act(ALDER_ACTION_PULL_HANDLE, 0);
	a.rights = rights_mask;
	return a;
}

struct alder_action u_act_imbue(void)
{
	return act(ALDER_ACTION_IMBUE_CREDS, 0);
}
struct alder_action u_act_extract(void)
{
	return act(ALDER_ACTION_EXTRACT_CREDS, 0);
}
struct alder_action u_act_dismiss(void)
{
	return act(ALDER_ACTION_DISMISS, 0);
}

struct alder_sqe u_sqe_stream(uint64_t context, alder_handle_t lane, struct alder_action *acts, uint64_t n)
{
	struct alder_sqe s;

	memset(&s, 0, sizeof(s));
	s.op = ALDER_OP_STREAM;
	s.handle = lane;
	s.context = context;
	s.args[0] = (uint64_t)(uintptr_t)acts;
	s.args[1] = n;
	return s;
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
