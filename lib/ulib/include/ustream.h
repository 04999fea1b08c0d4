/*
 * ustream: typed wrappers for streams (abi/alder/stream.h): the create call,
 * builders for each kind of action, the SQE that submits a chain, and one
 * blocking helper for tests and simple programs.
 *
 * Builders only fill a struct alder_action (every other field zero); they
 * check nothing, so tests can still hand the kernel anything by editing the
 * result. The caller owns the action array and must keep it mapped and
 * unchanged until the chain's CQE arrives (the kernel writes the results
 * back into it).
 */
#ifndef ULIB_USTREAM_H
#define ULIB_USTREAM_H

#include <ulib.h>
#include <uqueue.h>

#include <alder/handle.h>
#include <alder/stream.h>

/* SYS_STREAM_CREATE: fills lanes[0], lanes[1]; 0 or -ALDER_E*. */
long u_stream_create(alder_handle_t lanes[2]);

/* ---- Action builders ------------------------------------------------------ */
/* Inline, so a chain is built in place in the caller's array. */
static inline struct alder_action u_act_(uint32_t type, uint32_t flags, uint64_t buf, uint64_t len)
{
	return (struct alder_action){.type = type, .flags = flags, .buf = buf, .len = len};
}
/* chain: the rest of the chain acts on the new conversation. */
static inline struct alder_action u_act_offer(bool chain)
{
	return u_act_(ALDER_ACTION_OFFER, chain ? ALDER_ACTION_CHAIN : 0, 0, 0);
}
/* OFFER(CHAIN | NO_HANDLE): a child conversation for this chain only. */
static inline struct alder_action u_act_offer_transient(void)
{
	return u_act_(ALDER_ACTION_OFFER, ALDER_ACTION_CHAIN | ALDER_ACTION_NO_HANDLE, 0, 0);
}
static inline struct alder_action u_act_accept(bool chain)
{
	return u_act_(ALDER_ACTION_ACCEPT, chain ? ALDER_ACTION_CHAIN : 0, 0, 0);
}
static inline struct alder_action u_act_send(const void *buf, uint64_t len)
{
	return u_act_(ALDER_ACTION_SEND, 0, (uint64_t)(uintptr_t)buf, len);
}
static inline struct alder_action u_act_recv(void *buf, uint64_t len)
{
	return u_act_(ALDER_ACTION_RECEIVE, 0, (uint64_t)(uintptr_t)buf, len);
}
/* Inline: the data travels inside the action (len <= ALDER_ACTION_INLINE_MAX;
 * longer data is cut, the kernel would refuse it anyway). */
struct alder_action u_act_send_inline(const void *data, uint64_t len);
static inline struct alder_action u_act_recv_inline(uint64_t room)
{
	return u_act_(ALDER_ACTION_RECEIVE, ALDER_ACTION_INLINE, 0, room);
}
/* Scatter-gather: iov[n] must stay valid until the chain is submitted. */
static inline struct alder_action u_act_send_sg(const struct alder_iovec *iov, uint64_t n)
{
	return u_act_(ALDER_ACTION_SEND, ALDER_ACTION_SG, (uint64_t)(uintptr_t)iov, n);
}
static inline struct alder_action u_act_recv_sg(const struct alder_iovec *iov, uint64_t n)
{
	return u_act_(ALDER_ACTION_RECEIVE, ALDER_ACTION_SG, (uint64_t)(uintptr_t)iov, n);
}
static inline struct alder_action u_act_push(alder_handle_t h, uint32_t rights_mask)
{
	return (struct alder_action){.type = ALDER_ACTION_PUSH_HANDLE, .handle = h, .rights = rights_mask};
}
static inline struct alder_action u_act_pull(uint32_t rights_mask)
{
	return (struct alder_action){.type = ALDER_ACTION_PULL_HANDLE, .rights = rights_mask};
}
static inline struct alder_action u_act_imbue(void)
{
	return u_act_(ALDER_ACTION_IMBUE_CREDS, 0, 0, 0);
}
static inline struct alder_action u_act_extract(void)
{
	return u_act_(ALDER_ACTION_EXTRACT_CREDS, 0, 0, 0);
}
static inline struct alder_action u_act_dismiss(void)
{
	return u_act_(ALDER_ACTION_DISMISS, 0, 0, 0);
}

/* The SQE submitting acts[0..n) on lane. */
static inline struct alder_sqe u_sqe_stream(uint64_t context, alder_handle_t lane, struct alder_action *acts,
					    uint64_t n)
{
	return (struct alder_sqe){.op = ALDER_OP_STREAM,
				  .handle = lane,
				  .context = context,
				  .args = {(uint64_t)(uintptr_t)acts, n}};
}

/*
 * Submit acts[0..n) on lane through q and wait (up to timeout_ns, 0 = no
 * limit) for its CQE, which goes to *cqe. q must have no other operation in
 * flight (the first CQE is taken as this chain's). Returns the CQE's result,
 * or a negative errno from the queue calls (then *cqe is zeroed), or
 * -ALDER_ETIMEDOUT.
 */
long u_stream_run(struct u_queue *q, alder_handle_t lane, struct alder_action *acts, uint64_t n,
		  uint64_t timeout_ns, struct alder_cqe *cqe);

#endif
