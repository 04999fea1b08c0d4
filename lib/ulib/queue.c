/*
 * Wrappers for queues and events and the ring view (uqueue.h). The ring
 * protocol is abi/alder/queue.h's: entries before indices, indices with
 * release order; indices read with acquire order.
 */
#include <uqueue.h>

long u_queue_create(uint32_t sq_entries, uint32_t cq_entries, struct alder_queue_params *params)
{
	return u_syscall3(SYS_QUEUE_CREATE, sq_entries, cq_entries, (uint64_t)(uintptr_t)params);
}

long u_queue_enter(alder_handle_t queue, uint64_t to_submit, uint64_t min_complete, uint64_t timeout_ns)
{
	return u_syscall4(SYS_QUEUE_ENTER, (uint64_t)(int64_t)queue, to_submit, min_complete, timeout_ns);
}

long u_event_create(void)
{
	return u_syscall0(SYS_EVENT_CREATE);
}

long u_event_signal(alder_handle_t event)
{
	return u_syscall1(SYS_EVENT_SIGNAL, (uint64_t)(int64_t)event);
}

void u_queue_view(struct u_queue *q, alder_handle_t handle, const struct alder_queue_params *params)
{
	uint8_t *base = (uint8_t *)(uintptr_t)params->ring_addr;

	q->handle = handle;
	q->params = *params;
	q->hdr = (struct alder_queue_header *)base;
	q->sq = (struct alder_sqe *)(base + q->hdr->sq_offset);
	q->cq = (struct alder_cqe *)(base + q->hdr->cq_offset);
}

long u_queue_init(struct u_queue *q, uint32_t sq_entries, uint32_t cq_entries)
{
	struct alder_queue_params params;
	long h = u_queue_create(sq_entries, cq_entries, &params);

	if (h < 0)
		return h;
	u_queue_view(q, (alder_handle_t)h, &params);
	return 0;
}

uint32_t u_queue_sq_pending(const struct u_queue *q)
{
	return u_atomic_load_acq(&q->hdr->sq_tail) - u_atomic_load_acq(&q->hdr->sq_head);
}

uint32_t u_queue_cq_ready(const struct u_queue *q)
{
	return u_atomic_load_acq(&q->hdr->cq_tail) - u_atomic_load_acq(&q->hdr->cq_head);
}

long u_queue_push(struct u_queue *q, const struct alder_sqe *sqe)
{
	uint32_t tail = u_atomic_load_acq(&q->hdr->sq_tail);

	if (tail - u_atomic_load_acq(&q->hdr->sq_head) >= q->params.sq_entries)
		return -ALDER_EAGAIN;
	q->sq[tail & q->hdr->sq_mask] = *sqe;
	u_atomic_store_rel(&q->hdr->sq_tail, tail + 1);
	return 0;
}

bool u_queue_pop(struct u_queue *q, struct alder_cqe *out)
{
	uint32_t head = u_atomic_load_acq(&q->hdr->cq_head);

	if (head == u_atomic_load_acq(&q->hdr->cq_tail))
		return false;
	*out = q->cq[head & q->hdr->cq_mask];
	u_atomic_store_rel(&q->hdr->cq_head, head + 1);
	return true;
}

struct alder_sqe u_sqe_nop(uint64_t context)
{
	struct alder_sqe s = {.op = ALDER_OP_NOP, .context = context};
	return s;
}

struct alder_sqe u_sqe_timer(uint64_t context, uint64_t deadline_ns)
{
	struct alder_sqe s = {.op = ALDER_OP_TIMER, .context = context, .args = {deadline_ns}};
	return s;
}

struct alder_sqe u_sqe_cancel(uint64_t context, uint64_t target_context)
{
	struct alder_sqe s = {.op = ALDER_OP_CANCEL, .context = context, .args = {target_context}};
	return s;
}

struct alder_sqe u_sqe_event_wait(uint64_t context, alder_handle_t event)
{
	struct alder_sqe s = {.op = ALDER_OP_EVENT_WAIT, .handle = event, .context = context};
	return s;
}
