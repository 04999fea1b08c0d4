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
/* chain: the rest of the chain acts on the new conversation. */
struct alder_action u_act_offer(bool chain);
/* OFFER(CHAIN | NO_HANDLE): a child conversation for this chain only. */
struct alder_action u_act_offer_transient(void);
struct alder_action u_act_accept(bool chain);
struct alder_action u_act_send(const void *buf, uint64_t len);
struct alder_action u_act_recv(void *buf, uint64_t len);
/* Inline: the data travels inside the action (len <= ALDER_ACTION_INLINE_MAX;
 * longer data is cut, the kernel would refuse it anyway). */
struct alder_action u_act_send_inline(const void *data, uint64_t len);
struct alder_action u_act_recv_inline(uint64_t room);
/* Scatter-gather: iov[n] must stay valid until the chain is submitted. */
struct alder_action u_act_send_sg(const struct alder_iovec *iov, uint64_t n);
struct alder_action u_act_recv_sg(const struct alder_iovec *iov, uint64_t n);
struct alder_action u_act_push(alder_handle_t h, uint32_t rights_mask);
struct alder_action u_act_pull(uint32_t rights_mask);
struct alder_action u_act_imbue(void);
struct alder_action u_act_extract(void);
struct alder_action u_act_dismiss(void);

/* The SQE submitting acts[0..n) on lane. */
struct alder_sqe u_sqe_stream(uint64_t context, alder_handle_t lane, struct alder_action *acts, uint64_t n);

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
