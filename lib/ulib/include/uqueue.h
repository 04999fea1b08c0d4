/*
 * uqueue: typed wrappers for queues and events (abi/alder/queue.h) and a
 * minimal ring helper for native programs and tests.
 *
 * The raw wrappers (u_queue_create, u_queue_enter, u_event_*) are one system
 * call each and return the kernel's result unchanged (>= 0 or -ALDER_E*);
 * handles are sign-extended like in umem.h, so tests can pass anything.
 *
 * struct u_queue is a view of one mapped queue: u_queue_push() writes an
 * SQE and publishes sq_tail (release); u_queue_pop() takes one CQE and
 * publishes cq_head (release). The view keeps no state of its own beyond
 * pointers: the indices live in the shared header, so a test may corrupt
 * them on purpose. One thread submits and one thread consumes per queue
 * (the helpers do not lock).
 */
#ifndef ULIB_UQUEUE_H
#define ULIB_UQUEUE_H

#include <ulib.h>

#include <alder/handle.h>
#include <alder/queue.h>

/* ---- Raw calls ------------------------------------------------------------ */
/* Returns the queue handle and fills *params. */
long u_queue_create(uint32_t sq_entries, uint32_t cq_entries, struct alder_queue_params *params);
/* Returns SQEs consumed; see kernel/generic/queue.c for the wait rules. */
long u_queue_enter(alder_handle_t queue, uint64_t to_submit, uint64_t min_complete, uint64_t timeout_ns);
long u_event_create(void);
long u_event_signal(alder_handle_t event);

/* ---- Ring view ------------------------------------------------------------- */
struct u_queue {
	alder_handle_t handle;
	struct alder_queue_params params;
	struct alder_queue_header *hdr;
	struct alder_sqe *sq;
	struct alder_cqe *cq;
};

/* Create a queue and fill q. Returns 0 or the create error. */
long u_queue_init(struct u_queue *q, uint32_t sq_entries, uint32_t cq_entries);
/* Fill q from an existing mapping (params as the kernel wrote them). */
void u_queue_view(struct u_queue *q, alder_handle_t handle, const struct alder_queue_params *params);
/* Write *sqe into the next SQ slot and publish it: 0, or -ALDER_EAGAIN if the SQ is full. */
long u_queue_push(struct u_queue *q, const struct alder_sqe *sqe);
/* Take the oldest CQE into *out: true, or false if the CQ is empty. */
bool u_queue_pop(struct u_queue *q, struct alder_cqe *out);
/* SQEs published and not yet consumed by the kernel; CQEs not yet popped. */
uint32_t u_queue_sq_pending(const struct u_queue *q);
uint32_t u_queue_cq_ready(const struct u_queue *q);
/* Shorthand SQE builders. */
struct alder_sqe u_sqe_nop(uint64_t context);
struct alder_sqe u_sqe_timer(uint64_t context, uint64_t deadline_ns);
struct alder_sqe u_sqe_cancel(uint64_t context, uint64_t target_context);
struct alder_sqe u_sqe_event_wait(uint64_t context, alder_handle_t event);

#endif
