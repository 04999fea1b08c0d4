/*
 * The event loop and operation records (rt/loop.h): submission into the
 * kernel queue, back-pressure, reaping, delivery exactly once, cancellation
 * and shutdown. Not for fibril switching (fibril.c) or typed helpers.
 *
 * Op life cycle (state, list the op's link is on):
 *
 *   IDLE --start--> BACKLOG (backlog) --flush--> SUBMITTED (inflight)
 *                     |                             |  CQE, no cancel out
 *                     | cancel / shutdown           |-------------------------> delivered
 *                     v                             |  CQE, cancel SQE out
 *                   FINISHING (finishing)           v
 *                     |                           REAPED (inflight) --cancel CQE--> delivered
 *                     v
 *                  delivered: done runs, or the awaiter wakes (-> IDLE),
 *                             or done == NULL and no awaiter (-> UNCLAIMED)
 *   IDLE --start_local--> LOCAL (inflight) --complete/cancel/shutdown--> FINISHING
 *
 * A cancel request is tracked beside the state in op->flags: QUEUED (its
 * SQE waits in loop->cancel_backlog, via cancel_link) or SENT (its SQE is in
 * the ring or kernel; its CQE is not reaped). An op is never delivered while
 * its cancel is SENT: both CQEs name the record, so the record must outlive
 * both. A QUEUED cancel is simply dropped if the op's CQE arrives first.
 */
#include "internal.h"

#define RT_OPF_CANCEL_QUEUED 0x1u
#define RT_OPF_CANCEL_SENT 0x2u

/* The low bit of a CQE context marks the completion of a cancel SQE; the
 * rest is the address of the op it targeted. Records are 8-byte aligned. */
#define RT_CTX_CANCEL 1u
#define RT_CTX_DETACHED 0u /* a detached submission (no op record) */

#define load_acquire(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define store_release(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)

static struct rt_op *op_of_link(struct rt_link *l)
{
	return rt_container_of(l, struct rt_op, link);
}

/* ---- Ring access ----------------------------------------------------------- */

/*
 * Budget: every SQE we write will produce one CQE, which needs a slot until
 * we reap it. ops_out + cancels_out counts exactly those SQEs, so keeping it
 * at most cq_entries means the CQ can never overflow (and a kernel that
 * counts the same way never has to decline). Ops may use all but one slot;
 * the last one is for cancels, so that a CQ full of ops that only a cancel
 * would end can still be cancelled.
 */
static bool budget_for_op(const struct rt_loop *loop)
{
	uint32_t total = loop->ops_out + loop->cancels_out;
	return loop->ops_out + 1 < loop->ring.cq_entries && total < loop->ring.cq_entries;
}

static bool budget_for_cancel(const struct rt_loop *loop)
{
	return loop->ops_out + loop->cancels_out < loop->ring.cq_entries;
}

static bool sq_has_room(const struct rt_loop *loop)
{
	uint32_t head = load_acquire(&loop->ring.hdr->sq_head);
	uint32_t used = loop->sq_tail - head;
	RT_ASSERT(used <= loop->ring.sq_entries); /* the kernel never runs ahead of sq_tail */
	return used < loop->ring.sq_entries;
}

/* Fill the next SQ slot and publish it (release: the kernel reads the entry
 * after it sees the new tail). */
static void sq_push(struct rt_loop *loop, const struct alder_sqe *sqe)
{
	loop->ring.sq[loop->sq_tail & (loop->ring.sq_entries - 1)] = *sqe;
	loop->sq_tail++;
	store_release(&loop->ring.hdr->sq_tail, loop->sq_tail);
}

static bool write_op(struct rt_loop *loop, struct rt_op *op)
{
	if (!budget_for_op(loop) || !sq_has_room(loop))
		return false;
	sq_push(loop, &op->sqe);
	loop->ops_out++;
	op->state = RT_OP_SUBMITTED;
	rt_link_add_tail(&loop->inflight, &op->link);
	return true;
}

static bool write_cancel(struct rt_loop *loop, struct rt_op *op)
{
	if (!budget_for_cancel(loop) || !sq_has_room(loop))
		return false;
	struct alder_sqe sqe = {
	    .op = ALDER_OP_CANCEL,
	    .context = (uint64_t)(uintptr_t)op | RT_CTX_CANCEL,
	    .args = {(uint64_t)(uintptr_t)op},
	};
	sq_push(loop, &sqe);
	loop->cancels_out++;
	loop->stats.cancels_sent++;
	op->flags |= RT_OPF_CANCEL_SENT;
	return true;
}

/* Move waiting SQEs into the ring while ring and budget allow. Cancels
 * first: they free slots. Order within each backlog is kept. */
static void flush_backlogs(struct rt_loop *loop)
{
	while (!rt_link_empty(&loop->cancel_backlog)) {
		struct rt_op *op = rt_container_of(loop->cancel_backlog.next, struct rt_op, cancel_link);
		RT_ASSERT(op->state == RT_OP_SUBMITTED && (op->flags & RT_OPF_CANCEL_QUEUED));
		if (!write_cancel(loop, op))
			break;
		rt_link_remove(&op->cancel_link);
		op->flags &= (uint8_t)~RT_OPF_CANCEL_QUEUED;
	}
	while (!rt_link_empty(&loop->backlog)) {
		struct rt_link *first = loop->backlog.next;
		struct rt_op *op = op_of_link(first);
		RT_ASSERT(op->state == RT_OP_BACKLOG);
		rt_link_remove(first);
		if (!write_op(loop, op)) {
			/* Put it back at the head, keeping the order. */
			first->next = loop->backlog.next;
			first->prev = &loop->backlog;
			loop->backlog.next->prev = first;
			loop->backlog.next = first;
			break;
		}
	}
}

/* ---- Delivery ------------------------------------------------------------------ */

/*
 * Hand op's completion to its owner. The op is on no list. This is the one
 * place a done function is called, and the last time the runtime touches a
 * record that has one.
 */
static void deliver(struct rt_loop *loop, struct rt_op *op)
{
	rt_op_done_fn *done = op->done;
	struct rt_fibril *waiter = op->waiter;

	RT_ASSERT(!rt_link_linked(&op->link) && !rt_link_linked(&op->cancel_link));
	op->flags = 0;
	op->waiter = NULL;
	loop->stats.delivered++;
	if (done) {
		op->state = RT_OP_IDLE;
		done(op);
	} else if (waiter) {
		op->state = RT_OP_IDLE;
		rt__fibril_wake(waiter);
	} else {
		op->state = RT_OP_UNCLAIMED;
	}
}

/* The result is fixed without a CQE: queue the delivery for the dispatcher
 * (never deliver inline: the caller may be in the middle of something). */
static void finish_locally(struct rt_loop *loop, struct rt_op *op, int64_t result)
{
	op->result = result;
	op->aux[0] = 0;
	op->aux[1] = 0;
	op->state = RT_OP_FINISHING;
	rt_link_add_tail(&loop->finishing, &op->link);
}

/* Deliver the ops that were FINISHING when called; later ones wait for the
 * next call, so a done function that keeps completing local ops cannot
 * starve the kernel queue. */
static int deliver_finishing(struct rt_loop *loop)
{
	struct rt_link batch;
	int n = 0;

	rt_link_take_all(&batch, &loop->finishing);
	while (!rt_link_empty(&batch)) {
		struct rt_op *op = op_of_link(batch.next);
		RT_ASSERT(op->state == RT_OP_FINISHING);
		rt_link_remove(&op->link);
		deliver(loop, op);
		n++;
	}
	return n;
}

static void handle_cqe(struct rt_loop *loop, const struct alder_cqe *cqe)
{
	loop->stats.cqes++;
	if (cqe->context == RT_CTX_DETACHED) {
		/* Only failures of detached submissions complete (their SQEs
		 * skip the CQE on success), and nobody waits for them. */
		loop->stats.detached_failed++;
		return;
	}
	if (cqe->context & RT_CTX_CANCEL) {
		struct rt_op *op = (struct rt_op *)(uintptr_t)(cqe->context & ~(uint64_t)RT_CTX_CANCEL);
		RT_ASSERT(op->loop == loop && (op->flags & RT_OPF_CANCEL_SENT));
		RT_ASSERT(loop->cancels_out > 0);
		loop->cancels_out--;
		op->flags &= (uint8_t)~RT_OPF_CANCEL_SENT;
		if (cqe->result == -ALDER_ENOENT)
			loop->stats.cancels_missed++;
		if (op->state == RT_OP_REAPED) {
			rt_link_remove(&op->link);
			deliver(loop, op);
		}
		/* Else SUBMITTED: the op's own CQE is still to come. */
		return;
	}

	struct rt_op *op = (struct rt_op *)(uintptr_t)cqe->context;
	RT_ASSERT(op != NULL && op->loop == loop && op->state == RT_OP_SUBMITTED);
	RT_ASSERT(loop->ops_out > 0);
	loop->ops_out--;
	op->result = cqe->result;
	op->aux[0] = cqe->aux[0];
	op->aux[1] = cqe->aux[1];
	if (op->flags & RT_OPF_CANCEL_QUEUED) {
		/* The cancel never left the loop: drop it. */
		rt_link_remove(&op->cancel_link);
		op->flags &= (uint8_t)~RT_OPF_CANCEL_QUEUED;
	}
	if (op->flags & RT_OPF_CANCEL_SENT) {
		op->state = RT_OP_REAPED; /* stays on inflight until the cancel's CQE */
		return;
	}
	rt_link_remove(&op->link);
	deliver(loop, op);
}

/*
 * Reap the CQEs posted so far. Each entry is copied and its slot released
 * (cq_head, release) before it is handled, so the kernel can reuse the slot
 * while done functions run. Entries posted during the pass wait for the
 * next one.
 */
static int reap(struct rt_loop *loop)
{
	uint32_t tail = load_acquire(&loop->ring.hdr->cq_tail);
	uint32_t head = loop->cq_head;
	int n = 0;

	RT_ASSERT(tail - head <= loop->ring.cq_entries);
	while (head != tail) {
		struct alder_cqe cqe = loop->ring.cq[head & (loop->ring.cq_entries - 1)];
		head++;
		loop->cq_head = head;
		store_release(&loop->ring.hdr->cq_head, head);
		handle_cqe(loop, &cqe);
		n++;
	}
	if (n && !(rt_link_empty(&loop->backlog) && rt_link_empty(&loop->cancel_backlog)))
		flush_backlogs(loop); /* slots were freed */
	return n;
}

/* ---- The dispatcher ------------------------------------------------------------- */

static bool nothing_runnable(const struct rt_loop *loop)
{
	return rt_link_empty(&loop->ready) && rt_link_empty(&loop->finishing);
}

static bool loop_idle(const struct rt_loop *loop)
{
	return nothing_runnable(loop) && loop->ops_out == 0 && loop->cancels_out == 0 &&
	       rt_link_empty(&loop->backlog) && rt_link_empty(&loop->cancel_backlog);
}

/* sys_queue_enter; SQEs the kernel does not take stay in the ring. */
static long enter(struct rt_loop *loop, uint32_t to_submit, uint32_t min_complete)
{
	long r = rt_plat_queue_enter(&loop->ring, to_submit, min_complete);
	loop->stats.enters++;
	if (r >= 0) {
		RT_ASSERT((uint64_t)r <= to_submit);
		if ((uint32_t)r < to_submit)
			loop->stats.short_enters++;
	}
	return r;
}

/*
 * One round. Order: completions the kernel has posted, then local ones,
 * then the fibrils that are ready (they see those completions), then what
 * the fibrils finished, then submit — and wait only if nothing is runnable,
 * something is in the kernel, and no one asked the loop to stop.
 */
static int iterate(struct rt_loop *loop, bool wait)
{
	int n = 0;

	/* The empty checks keep an idle round short: most rounds of a busy
	 * server have one CQE and nothing else to do. */
	n += reap(loop);
	if (!rt_link_empty(&loop->finishing))
		n += deliver_finishing(loop);
	if (!rt_link_empty(&loop->ready)) {
		n += rt__fibril_run_ready(loop);
		if (!rt_link_empty(&loop->finishing))
			n += deliver_finishing(loop);
	}

	/*
	 * While SQEs wait in the backlog only because the ring was full, hand
	 * the ring to the kernel without waiting and refill it: an op must not
	 * wait for an unrelated op to complete merely because the SQ is small
	 * (a short timer behind a ring of long ones). Stops when the backlog
	 * is empty, the CQ budget is what holds it, or the kernel takes nothing.
	 */
	for (;;) {
		bool backlog = !rt_link_empty(&loop->backlog) || !rt_link_empty(&loop->cancel_backlog);
		if (!backlog)
			break;
		flush_backlogs(loop);
		uint32_t pending = loop->sq_tail - load_acquire(&loop->ring.hdr->sq_head);
		backlog = !rt_link_empty(&loop->backlog) || !rt_link_empty(&loop->cancel_backlog);
		if (pending < loop->ring.sq_entries || !backlog)
			break; /* ring not full: the CQ budget holds the backlog */
		long r = enter(loop, pending, 0);
		if (r < 0)
			return (int)r;
		n += reap(loop);
		if (r == 0)
			break;
	}

	uint32_t to_submit = loop->sq_tail - load_acquire(&loop->ring.hdr->sq_head);
	bool block = wait && !loop->stop && nothing_runnable(loop) && loop->ops_out + loop->cancels_out > 0;
	if (to_submit > 0 || block) {
		long r = enter(loop, to_submit, block ? 1 : 0);
		if (r < 0)
			return (int)r;
		n += reap(loop);
	}
	return n;
}

static void dispatcher_enter(struct rt_loop *loop)
{
	RT_ASSERT(loop->ready_to_use);
	RT_ASSERT(loop->depth == 0 && loop->current == NULL); /* not from done functions or fibrils */
	loop->depth++;
}

int rt_loop_run_once(struct rt_loop *loop, bool wait)
{
	dispatcher_enter(loop);
	int r = iterate(loop, wait);
	loop->depth--;
	return r;
}

int rt_loop_run(struct rt_loop *loop)
{
	int r;

	dispatcher_enter(loop);
	for (;;) {
		if (loop->stop) {
			r = RT_LOOP_STOPPED;
			break;
		}
		r = iterate(loop, true);
		if (r < 0)
			break;
		if (r == 0 && loop_idle(loop) && !loop->stop) {
			r = RT_LOOP_IDLE;
			break;
		}
	}
	loop->stop = false;
	loop->depth--;
	return r;
}

void rt_loop_stop(struct rt_loop *loop)
{
	loop->stop = true;
}

/* ---- Set-up and tear-down -------------------------------------------------------- */

static bool power_of_two(uint32_t v)
{
	return v != 0 && (v & (v - 1)) == 0;
}

int rt_loop_init(struct rt_loop *loop, const struct rt_loop_config *cfg)
{
	struct rt_loop_config c = {0};
	if (cfg)
		c = *cfg;
	uint32_t sq = c.sq_entries ? c.sq_entries : RT_LOOP_DEFAULT_SQ;
	uint32_t cq = c.cq_entries ? c.cq_entries : RT_LOOP_DEFAULT_CQ;
	size_t stack = c.stack_size ? c.stack_size : RT_FIBRIL_DEFAULT_STACK;

	__builtin_memset(loop, 0, sizeof(*loop));
	if (!power_of_two(sq) || !power_of_two(cq) || cq < 2 || sq > ALDER_QUEUE_MAX_ENTRIES ||
	    cq > ALDER_QUEUE_MAX_ENTRIES || stack < RT_FIBRIL_MIN_STACK || stack > ((size_t)1 << 30))
		return -ALDER_EINVAL;

	int r = rt_plat_queue_create(sq, cq, &loop->ring);
	if (r < 0)
		return r;
	/* The kernel may round sizes up; never below what the budget assumes. */
	RT_ASSERT(power_of_two(loop->ring.sq_entries) && power_of_two(loop->ring.cq_entries));
	RT_ASSERT(loop->ring.cq_entries >= 2);

	loop->sq_tail = loop->ring.hdr->sq_tail;
	loop->cq_head = loop->ring.hdr->cq_head;
	rt_link_init(&loop->backlog);
	rt_link_init(&loop->cancel_backlog);
	rt_link_init(&loop->inflight);
	rt_link_init(&loop->finishing);
	rt_link_init(&loop->ready);
	rt_link_init(&loop->fibrils);
	loop->stack_size = (stack + RT_PAGE_SIZE - 1) & ~(size_t)(RT_PAGE_SIZE - 1);
	if (c.stack_cache == RT_LOOP_NO_STACK_CACHE)
		loop->stack_cache_max = 0;
	else
		loop->stack_cache_max = c.stack_cache ? c.stack_cache : RT_LOOP_DEFAULT_STACK_CACHE;
	loop->ready_to_use = true;
	return 0;
}

int rt_loop_shutdown(struct rt_loop *loop)
{
	dispatcher_enter(loop);
	if (loop->shut_down) {
		loop->depth--;
		return 0;
	}
	loop->shutting_down = true;

	/* Never seen by the kernel: cancelled here. */
	while (!rt_link_empty(&loop->backlog)) {
		struct rt_op *op = op_of_link(loop->backlog.next);
		rt_link_remove(&op->link);
		finish_locally(loop, op, -ALDER_ECANCELED);
	}
	/* In the kernel: cancel (unless already being cancelled). Local: done. */
	struct rt_link *it = loop->inflight.next;
	while (it != &loop->inflight) {
		struct rt_op *op = op_of_link(it);
		it = it->next;
		if (op->state == RT_OP_LOCAL || op->state == RT_OP_SUBMITTED)
			(void)rt_op_cancel(op);
	}

	/*
	 * Dispatch until the kernel has returned every op and nothing is
	 * runnable. Completions and fibrils run as usual; anything they try to
	 * start is refused, so this ends once the kernel answers the cancels.
	 */
	int r = 0;
	for (;;) {
		loop->stop = false; /* a done function may call rt_loop_stop; it means nothing here */
		r = iterate(loop, true);
		if (r < 0)
			break;
		if (loop_idle(loop) && rt_link_empty(&loop->inflight)) {
			r = 0;
			break;
		}
		/* iterate waited for the kernel or ran something: go again. */
	}
	if (r == 0) {
		loop->shut_down = true;
		if (loop->fibrils_alive)
			r = -ALDER_EBUSY;
	}
	loop->stop = false;
	loop->depth--;
	return r;
}

void rt_loop_fini(struct rt_loop *loop)
{
	RT_ASSERT(loop->ready_to_use && loop->depth == 0 && loop->current == NULL);
	RT_ASSERT(loop->shutting_down);
	rt__fibril_fini(loop);
	rt_plat_queue_destroy(&loop->ring);
	loop->ready_to_use = false;
}

struct rt_loop_stats rt_loop_get_stats(const struct rt_loop *loop)
{
	return loop->stats;
}

/* ---- Operations ---------------------------------------------------------------------- */

void rt_op_init(struct rt_op *op)
{
	__builtin_memset(op, 0, sizeof(*op));
}

void rt_op_prep(struct rt_op *op, uint32_t opcode, alder_handle_t handle, uint64_t a0, uint64_t a1,
		uint64_t a2, uint64_t a3)
{
	RT_ASSERT(!rt_op_busy(op));
	struct alder_sqe sqe = {
	    .op = opcode,
	    .handle = handle,
	    .args = {a0, a1, a2, a3},
	};
	op->sqe = sqe;
}

void rt_op_prep_nop(struct rt_op *op)
{
	rt_op_prep(op, ALDER_OP_NOP, ALDER_HANDLE_NONE, 0, 0, 0, 0);
}

bool rt_op_busy(const struct rt_op *op)
{
	return op->state != RT_OP_IDLE && op->state != RT_OP_UNCLAIMED;
}

/* Checks shared by both kinds of start; on success the record is reset. */
static int start_common(struct rt_loop *loop, struct rt_op *op, rt_op_done_fn *done)
{
	RT_ASSERT(loop->ready_to_use);
	RT_ASSERT(((uintptr_t)op & RT_CTX_CANCEL) == 0);
	if (rt_op_busy(op))
		return -ALDER_EBUSY;
	if (loop->shutting_down)
		return -ALDER_ECANCELED;
	op->loop = loop;
	op->done = done;
	op->waiter = NULL;
	op->flags = 0;
	op->result = 0;
	op->aux[0] = 0;
	op->aux[1] = 0;
	op->link.next = op->link.prev = &op->link;
	op->cancel_link.next = op->cancel_link.prev = &op->cancel_link;
	loop->stats.started++;
	return 0;
}

int rt_op_start(struct rt_loop *loop, struct rt_op *op, rt_op_done_fn *done)
{
	if (op->sqe.op == ALDER_OP_CANCEL && !rt_op_busy(op))
		return -ALDER_EINVAL;
	int r = start_common(loop, op, done);
	if (r < 0)
		return r;
	op->sqe.context = (uint64_t)(uintptr_t)op;
	/* Straight into the ring unless older ops are still waiting. */
	if (!rt_link_empty(&loop->backlog) || !write_op(loop, op)) {
		op->state = RT_OP_BACKLOG;
		rt_link_add_tail(&loop->backlog, &op->link);
		loop->stats.backlogged++;
	}
	return 0;
}

int rt_op_start_local(struct rt_loop *loop, struct rt_op *op, rt_op_done_fn *done)
{
	int r = start_common(loop, op, done);
	if (r < 0)
		return r;
	op->state = RT_OP_LOCAL;
	rt_link_add_tail(&loop->inflight, &op->link);
	return 0;
}

bool rt_op_complete(struct rt_op *op, int64_t result)
{
	if (op->state != RT_OP_LOCAL)
		return false;
	rt_link_remove(&op->link);
	finish_locally(op->loop, op, result);
	return true;
}

bool rt_op_cancel(struct rt_op *op)
{
	struct rt_loop *loop = op->loop;

	switch (op->state) {
	case RT_OP_BACKLOG:
	case RT_OP_LOCAL:
		rt_link_remove(&op->link);
		finish_locally(loop, op, -ALDER_ECANCELED);
		return true;
	case RT_OP_SUBMITTED:
		if (op->flags & (RT_OPF_CANCEL_QUEUED | RT_OPF_CANCEL_SENT))
			return false;
		if (!rt_link_empty(&loop->cancel_backlog) || !write_cancel(loop, op)) {
			op->flags |= RT_OPF_CANCEL_QUEUED;
			rt_link_add_tail(&loop->cancel_backlog, &op->cancel_link);
			loop->stats.backlogged++;
		}
		return true;
	default:
		return false;
	}
}

/* ---- Detached submissions (rt/stream.h) ---------------------------------------- */

int rt_stream_send_detached(struct rt_loop *loop, alder_handle_t lane, const void *data, size_t len,
			    uint32_t chain_flags)
{
	RT_ASSERT(loop->ready_to_use);
	if (loop->shutting_down)
		return -ALDER_ECANCELED;
	if (chain_flags & ~(uint32_t)ALDER_STREAM_DROP_LANE)
		return -ALDER_EINVAL;
	uint32_t k = loop->detached_next % RT_DETACHED_SLOTS;
	uint32_t head = load_acquire(&loop->ring.hdr->sq_head);
	if (loop->detached_busy[k] && (int32_t)(head - loop->detached_sq[k]) <= 0)
		return -ALDER_EAGAIN; /* its SQE is still in the ring */
	if (!sq_has_room(loop))
		return -ALDER_EAGAIN;
	if (!rt_link_empty(&loop->backlog))
		return -ALDER_EAGAIN; /* ops started earlier wait: never overtake them */
	struct alder_action *a = &loop->detached[k];
	int r = rt_action_send_inline(a, data, len);
	if (r < 0)
		return r;
	struct alder_sqe sqe = {
	    .op = ALDER_OP_STREAM,
	    .flags = ALDER_SQE_SKIP_SUCCESS,
	    .handle = lane,
	    .context = RT_CTX_DETACHED,
	    .args = {(uint64_t)(uintptr_t)a, 1, chain_flags | ALDER_STREAM_NO_WRITEBACK | ALDER_STREAM_NOWAIT, 0},
	};
	loop->detached_sq[k] = loop->sq_tail;
	loop->detached_busy[k] = 1;
	loop->detached_next++;
	sq_push(loop, &sqe);
	loop->stats.detached++;
	return 0;
}
