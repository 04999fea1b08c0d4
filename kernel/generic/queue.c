/*
 * Queues (ALDER_OBJ_QUEUE, abi/alder/queue.h; kernel interface in
 * kern/kqueue.h): sys_queue_create, sys_queue_enter, the dispatcher that
 * hands each SQE to its op handler, the completion path every asynchronous
 * operation ends in, and the queue's own operations (NOP, TIMER, CANCEL).
 * Events (EVENT_WAIT) live in event.c, streams in their own files.
 *
 * Not here: anything that waits on behalf of an operation. The only sleep
 * in this file is the caller's own wait for completions in queue_enter.
 *
 * Trust: the ring is shared with user space, which may write anything into
 * it at any time. The kernel keeps its own sq_head and cq_tail (the header
 * copies are only published for the user), reads sq_tail and cq_head once
 * per decision, copies each SQE into kernel memory before looking at it,
 * and writes only inside the ring (every index is masked).
 *
 * Lifetime: struct queue has two counts. obj.refs (kobj) counts handles and
 * short-lived lookups; when it drops to zero the queue dies (queue_destroy:
 * cancel everything, wake waiters). irefs counts the kobj itself while it
 * lives, each operation between kop_begin and release, and each
 * sys_queue_enter in progress; the memory goes with the last one
 * (queue_free). So a late kop_complete() on a dead queue is harmless.
 */
#include <kern/assert.h>
#include <kern/clock.h>
#include <kern/heap.h>
#include <kern/kqueue.h>
#include <kern/log.h>
#include <kern/object.h>
#include <kern/process.h>
#include <kern/selftest.h>
#include <kern/spinlock.h>
#include <kern/string.h>
#include <kern/syscall.h>
#include <kern/thread.h>
#include <kern/uaccess.h>
#include <kern/vm.h>
#include <kern/vmspace.h>
#include <kern/waitq.h>
#include <alder/errno.h>
#include <alder/queue.h>
#include <alder/syscall.h>

/* struct kop.state bits (under the queue's lock). */
#define KOP_STATE_ACTIVE 1u	    /* between kop_begin and kop_complete */
#define KOP_STATE_CANCEL 2u	    /* cancel was requested (called at most once) */
#define KOP_STATE_CANCEL_RUNNING 4u /* its callback is running: release waits */
#define KOP_STATE_DONE 8u	    /* kop_complete was called */

#define QUEUE_RIGHTS (ALDER_RIGHT_READ | ALDER_RIGHT_WRITE | ALDER_RIGHT_TRANSFER | ALDER_RIGHT_DUPLICATE)
#define QUEUE_ENTER_RIGHTS (ALDER_RIGHT_READ | ALDER_RIGHT_WRITE)

struct queue {
	struct kobj obj; /* first: handles name it */
	uint32_t irefs;	 /* atomic; see the top of the file */

	/* Set at creation, read-only afterwards. */
	struct memobj *mem; /* the ring's pages (one reference) */
	uint64_t ring_size;
	uint32_t npages;
	uint8_t **pages;		/* direct-map address of each ring page */
	struct alder_queue_header *hdr; /* == pages[0] */
	uint32_t sq_entries, cq_entries;
	uint32_t sq_offset, cq_offset;

	/* lock protects the fields below, and every kernel write to the ring. */
	spinlock_t lock;
	bool dead;		/* set once by queue_destroy; read unlocked by waiters (atomic) */
	uint32_t sq_head;	/* the kernel's own indices; published to hdr */
	uint32_t cq_tail;	/* written under lock; read atomically by waiters */
	uint32_t in_flight;	/* reserved CQ slots: accepted, not completed */
	struct list ops;	/* struct kop.link: active, no cancel requested */
	struct list cancelling; /* struct kop.link: active, cancel requested */

	struct waitq cq_wait; /* threads in sys_queue_enter waiting for CQEs */
};

static_assert(sizeof(struct alder_cqe) == 32 && PAGE_SIZE % sizeof(struct alder_cqe) == 0,
	      "a CQE never straddles a page");

static void queue_destroy(struct kobj *o);
static const struct kobj_ops queue_kobj_ops = {"queue", queue_destroy};

/* ---- references ------------------------------------------------------ */

static void queue_iget(struct queue *q)
{
	__atomic_add_fetch(&q->irefs, 1, __ATOMIC_RELAXED);
}

/* Any context: the last reference may go in a timer callback. */
static __attribute__((noinline)) void queue_free(struct queue *q)
{
	assert(list_empty(&q->ops) && list_empty(&q->cancelling));
	if (q->mem)
		kobj_put((struct kobj *)q->mem); /* struct memobj begins with its kobj */
	kfree(q->pages);
	kfree(q);
}

/* Inline: every sys_queue_enter and every completion drops one. */
static inline __attribute__((always_inline)) void queue_iput(struct queue *q)
{
	if (__atomic_sub_fetch(&q->irefs, 1, __ATOMIC_ACQ_REL) == 0)
		queue_free(q);
}

/* ---- ring access (through the kernel's direct map) ------------------- */

/* Copy len bytes at byte offset off of the ring; may cross pages. */
static void ring_read(const struct queue *q, uint64_t off, void *dst, size_t len)
{
	uint8_t *d = dst;
	while (len) {
		size_t in_page = PAGE_SIZE - (off & (PAGE_SIZE - 1));
		size_t n = MIN(len, in_page);
		memcpy(d, q->pages[off >> PAGE_SHIFT] + (off & (PAGE_SIZE - 1)), n);
		d += n;
		off += n;
		len -= n;
	}
}

static struct alder_cqe *cq_slot(const struct queue *q, uint32_t idx)
{
	uint64_t off = q->cq_offset + (uint64_t)(idx & (q->cq_entries - 1)) * sizeof(struct alder_cqe);
	return (struct alder_cqe *)(q->pages[off >> PAGE_SHIFT] + (off & (PAGE_SIZE - 1)));
}

static uint32_t user_sq_tail(const struct queue *q)
{
	return __atomic_load_n(&q->hdr->sq_tail, __ATOMIC_ACQUIRE);
}

static uint32_t user_cq_head(const struct queue *q)
{
	return __atomic_load_n(&q->hdr->cq_head, __ATOMIC_ACQUIRE);
}

/* Write one CQE and publish it, using the slot reserved for it; with
 * skip_success (ALDER_SQE_SKIP_SUCCESS) and result >= 0, only release the
 * slot. The caller holds q->lock. True when a CQE was posted (waiters to
 * wake). */
static inline bool post_locked(struct queue *q, uint64_t context, int64_t result, uint64_t aux0,
			       uint64_t aux1, bool skip_success)
{
	assert(spin_held(&q->lock));
	assert(q->in_flight > 0);
	q->in_flight--;
	__atomic_store_n(&q->hdr->in_flight, q->in_flight, __ATOMIC_RELAXED);
	if (q->dead || (skip_success && result >= 0))
		return false;
	struct alder_cqe *c = cq_slot(q, q->cq_tail);
	c->context = context;
	c->result = result;
	c->aux[0] = aux0;
	c->aux[1] = aux1;
	q->cq_tail++;
	__atomic_store_n(&q->hdr->cq_tail, q->cq_tail, __ATOMIC_RELEASE);
	return true;
}

/* ---- the kop protocol (kern/kqueue.h) --------------------------------- */

int kop_begin(struct kop *op, struct kop_submit *sub, const struct kop_ops *ops)
{
	struct queue *q = sub->queue;
	assert(!sub->started);
	assert(ops && ops->cancel && ops->release);
	op->context = sub->sqe.context;
	op->opcode = sub->sqe.op;
	op->skip_success = (sub->sqe.flags & ALDER_SQE_SKIP_SUCCESS) != 0;
	op->queue = q;
	op->ops = ops;
	unsigned long f = spin_lock_irqsave(&q->lock);
	if (q->dead) {
		spin_unlock_irqrestore(&q->lock, f);
		list_init(&op->link);
		return -ALDER_ECANCELED;
	}
	op->state = KOP_STATE_ACTIVE;
	list_append(&q->ops, &op->link);
	queue_iget(q); /* dropped after release */
	sub->started = true;
	spin_unlock_irqrestore(&q->lock, f);
	return 0;
}

bool kop_queue_dying(const struct kop_submit *sub)
{
	return __atomic_load_n(&sub->queue->dead, __ATOMIC_ACQUIRE);
}

/* Hand op back to its owner and drop its queue reference. */
static void kop_release(struct kop *op)
{
	struct queue *q = op->queue;
	op->ops->release(op);
	queue_iput(q);
}

void kop_complete(struct kop *op, int64_t result, uint64_t aux0, uint64_t aux1)
{
	struct queue *q = op->queue;
	unsigned long f = spin_lock_irqsave(&q->lock);
	if (!(op->state & KOP_STATE_ACTIVE) || (op->state & KOP_STATE_DONE))
		panic("kop_complete: operation %p (op %u, state 0x%x) is not in flight", (void *)op,
		      op->opcode, op->state);
	op->state |= KOP_STATE_DONE;
	list_remove(&op->link);
	bool posted = post_locked(q, op->context, result, aux0, aux1, op->skip_success);
	bool release_now = !(op->state & KOP_STATE_CANCEL_RUNNING);
	/* The wake below needs q. When we release op, op's own reference
	 * covers it (release comes after the wake); otherwise the running
	 * cancel releases op, and with it that reference, as soon as the lock
	 * is dropped: take one of our own first. */
	if (!release_now)
		queue_iget(q);
	spin_unlock_irqrestore(&q->lock, f);
	if (posted)
		waitq_wake_all(&q->cq_wait);
	if (release_now)
		kop_release(op); /* drops op's reference */
	else
		queue_iput(q);
}

/*
 * Request cancellation of op, which is on q->ops. Called with q->lock held
 * (flags f); returns with it released. Runs the callback without the lock;
 * if the operation completed meanwhile, its release was held back for us.
 */
static void cancel_op_unlock(struct queue *q, struct kop *op, unsigned long f)
{
	assert(spin_held(&q->lock));
	assert(op->state == KOP_STATE_ACTIVE);
	op->state |= KOP_STATE_CANCEL | KOP_STATE_CANCEL_RUNNING;
	list_remove(&op->link);
	list_append(&q->cancelling, &op->link);
	spin_unlock_irqrestore(&q->lock, f);

	op->ops->cancel(op);

	f = spin_lock_irqsave(&q->lock);
	op->state &= ~KOP_STATE_CANCEL_RUNNING;
	bool done = op->state & KOP_STATE_DONE;
	spin_unlock_irqrestore(&q->lock, f);
	if (done)
		kop_release(op);
}

/* ---- the queue object ------------------------------------------------- */

/*
 * The last handle is gone. Any context (object.h): cancel everything in
 * flight, wake the waiters, drop the kobj's internal reference.
 */
static void queue_destroy(struct kobj *o)
{
	struct queue *q = container_of(o, struct queue, obj);
	unsigned long f = spin_lock_irqsave(&q->lock);
	__atomic_store_n(&q->dead, true, __ATOMIC_RELEASE);
	while (!list_empty(&q->ops)) {
		struct kop *op = list_entry(list_first(&q->ops), struct kop, link);
		cancel_op_unlock(q, op, f);
		f = spin_lock_irqsave(&q->lock);
	}
	spin_unlock_irqrestore(&q->lock, f);
	waitq_wake_all(&q->cq_wait);
	queue_iput(q);
}

static void queue_op_table_fill(void);

static bool entries_ok(uint64_t n)
{
	return n >= 1 && n <= ALDER_QUEUE_MAX_ENTRIES && (n & (n - 1)) == 0;
}

/* A new queue with populated ring memory and its header filled in; NULL
 * when out of memory. Not yet mapped or installed. */
static struct queue *queue_alloc(uint32_t sq_entries, uint32_t cq_entries)
{
	struct queue *q = kzalloc(sizeof(*q));
	if (!q)
		return NULL;
	queue_op_table_fill(); /* before any queue exists to dispatch on */
	kobj_init(&q->obj, ALDER_OBJ_QUEUE, &queue_kobj_ops);
	q->irefs = 1; /* the kobj's */
	q->lock = (spinlock_t)SPINLOCK_INIT;
	list_init(&q->ops);
	list_init(&q->cancelling);
	waitq_init(&q->cq_wait);
	q->sq_entries = sq_entries;
	q->cq_entries = cq_entries;
	q->sq_offset = sizeof(struct alder_queue_header);
	q->cq_offset = (uint32_t)ALIGN_UP(q->sq_offset + (uint64_t)sq_entries * sizeof(struct alder_sqe), 64);
	q->ring_size = ALIGN_UP(q->cq_offset + (uint64_t)cq_entries * sizeof(struct alder_cqe), PAGE_SIZE);
	q->npages = (uint32_t)(q->ring_size / PAGE_SIZE);

	/* From here on a failure is undone by kobj_put -> queue_destroy. */
	q->pages = kzalloc(q->npages * sizeof(*q->pages));
	q->mem = memobj_create_anon(q->ring_size);
	if (!q->pages || !q->mem || memobj_populate(q->mem))
		goto fail;
	for (uint32_t i = 0; i < q->npages; i++) {
		bool shared = false;
		paddr_t pa = memobj_frame(q->mem, i, true, &shared);
		if (!pa)
			goto fail;
		assert(!shared); /* anonymous memory owns its frames */
		q->pages[i] = phys_to_virt(pa);
	}
	q->hdr = (struct alder_queue_header *)q->pages[0];
	/* The frames are zeroed; the user cannot see them before the map. */
	q->hdr->sq_mask = sq_entries - 1;
	q->hdr->cq_mask = cq_entries - 1;
	q->hdr->sq_offset = q->sq_offset;
	q->hdr->cq_offset = q->cq_offset;
	return q;
fail:
	kobj_put(&q->obj);
	return NULL;
}

static long sys_queue_create(uint64_t sq_entries, uint64_t cq_entries, uint64_t uparams)
{
	struct process *p = proc_current();
	if (!entries_ok(sq_entries) || !entries_ok(cq_entries))
		return -ALDER_EINVAL;
	/* Probe the result first, so that a bad pointer costs nothing. */
	struct alder_queue_params params;
	memset(&params, 0, sizeof(params));
	if (copy_to_user(uparams, &params, sizeof(params)))
		return -ALDER_EFAULT;

	struct queue *q = queue_alloc((uint32_t)sq_entries, (uint32_t)cq_entries);
	if (!q)
		return -ALDER_ENOMEM;
	long r;
	int64_t addr = vmspace_map(p->space, q->mem, 0, 0, q->ring_size, VM_PROT_READ | VM_PROT_WRITE);
	if (addr < 0) {
		r = addr;
		goto fail_queue;
	}
	params.ring_addr = (uint64_t)addr;
	params.ring_size = q->ring_size;
	params.sq_entries = q->sq_entries;
	params.cq_entries = q->cq_entries;
	/* Again: another thread may have unmapped it meanwhile. */
	if (copy_to_user(uparams, &params, sizeof(params))) {
		r = -ALDER_EFAULT;
		goto fail_map;
	}
	/* --- point of no return: the handle is the last step --- */
	r = handle_install(&p->handles, &q->obj, QUEUE_RIGHTS);
	if (r < 0)
		goto fail_map;
	return r;
fail_map:
	vmspace_unmap(p->space, (uint64_t)addr, q->ring_size);
fail_queue:
	kobj_put(&q->obj);
	return r;
}

/* ---- dispatch ----------------------------------------------------------- */

/* Bounds of the "queue_ops" section (kern/kqueue.h); comparing them is the
 * linker-section idiom, as for .syscalls. */
extern const struct queue_op_entry __start_queue_ops[], __stop_queue_ops[];

/* The handlers by op code, filled from the section when the first queue is
 * made (every CPU that races to fill it writes the same values), so that
 * dispatch, which only ever runs on a queue, reads it without a check. */
static queue_op_fn queue_op_table[ALDER_OP_COUNT];
static bool queue_op_table_ready; /* atomic */

static void queue_op_table_fill(void)
{
	if (__atomic_load_n(&queue_op_table_ready, __ATOMIC_ACQUIRE))
		return;
	/* cppcheck-suppress comparePointers ; one section, linker-made bounds */
	for (const struct queue_op_entry *e = __start_queue_ops; e < __stop_queue_ops; e++)
		if (e->op < ALDER_OP_COUNT)
			queue_op_table[e->op] = e->fn;
	__atomic_store_n(&queue_op_table_ready, true, __ATOMIC_RELEASE);
}

/* Run the accepted SQE in sub (its CQ slot reserved). No locks held. */
static void dispatch(struct kop_submit *sub)
{
	struct queue *q = sub->queue;
	const struct alder_sqe *sqe = &sub->sqe;
	int64_t r;
	sub->started = false;
	sub->aux[0] = sub->aux[1] = 0;
	if ((sqe->flags & ~ALDER_SQE_FLAGS_ALL) || sqe->reserved || sqe->op >= ALDER_OP_COUNT) {
		r = -ALDER_EINVAL;
	} else {
		queue_op_fn fn = queue_op_table[sqe->op]; /* filled: q exists */
		r = fn ? fn(sub) : -ALDER_ENOSYS;
	}
	if (r == KOP_STARTED) {
		assert(sub->started);
		return;
	}
	assert(!sub->started);
	unsigned long f = spin_lock_irqsave(&q->lock);
	bool posted = post_locked(q, sqe->context, r, sub->aux[0], sub->aux[1],
				  (sqe->flags & ALDER_SQE_SKIP_SUCCESS) != 0);
	spin_unlock_irqrestore(&q->lock, f);
	if (posted)
		waitq_wake_all(&q->cq_wait);
}

/*
 * Take the next SQE if there is one and room for its completion:
 * in_flight + unconsumed CQEs < cq_entries (kern/kqueue.h); reserve the
 * slot. avail and used are the caller's reading of the user's indices
 * (sq_tail - sq_head and cq_tail - cq_head, already checked against the
 * ring sizes), taken under q->lock, which the caller holds. False when the
 * SQ is empty or the CQ is full.
 */
static bool take_sqe_locked(struct queue *q, uint32_t avail, uint32_t used, struct alder_sqe *out)
{
	assert(spin_held(&q->lock) && !q->dead);
	if (avail == 0 || q->in_flight + used >= q->cq_entries)
		return false;
	uint64_t off = q->sq_offset + (uint64_t)(q->sq_head & (q->sq_entries - 1)) * sizeof(struct alder_sqe);
	if ((off & (PAGE_SIZE - 1)) + sizeof(*out) <= PAGE_SIZE)
		*out = *(const struct alder_sqe *)(q->pages[off >> PAGE_SHIFT] + (off & (PAGE_SIZE - 1)));
	else
		ring_read(q, off, out, sizeof(*out)); /* straddles two pages */
	q->sq_head++;
	__atomic_store_n(&q->hdr->sq_head, q->sq_head, __ATOMIC_RELEASE);
	q->in_flight++;
	__atomic_store_n(&q->hdr->in_flight, q->in_flight, __ATOMIC_RELAXED);
	return true;
}

static void timer_graveyard_reap_slow(void);
static struct list timer_graveyard;

/* Free every buried timer (see struct timer_op). Any context but a timer
 * callback's own record (those are buried only after their callback
 * reaped). The emptiness test is inline: the graveyard is nearly always
 * empty, and sys_queue_enter looks at it on every call. */
static inline void timer_graveyard_reap(void)
{
	/* A timer buried meanwhile waits for the next reap. */
	if (__atomic_load_n(&timer_graveyard.next, __ATOMIC_RELAXED) != &timer_graveyard)
		timer_graveyard_reap_slow();
}

/*
 * sys_queue_enter(queue, to_submit, min_complete, timeout_ns):
 *   consume up to to_submit SQEs (fewer when the SQ holds fewer or the CQ
 *   has no room: back-pressure), then, if min_complete > 0, wait until at
 *   least min_complete CQEs are unconsumed (cq_tail - cq_head), timeout_ns
 *   passes (0: no timeout; relative), the caller is killed, or the queue
 *   dies. Returns the number of SQEs consumed; when nothing was consumed,
 *   a wait that ended without its condition returns -ETIMEDOUT, -EINTR or
 *   -ECANCELED (the queue's last handle was closed). -EINTR wins over a
 *   count: the process is going away.
 * Errors before anything is consumed: the handle's (EBADF, EBADFD, EACCES:
 *   needs READ and WRITE), -EINVAL for min_complete > cq_entries or a ring
 *   whose user indices are impossible (sq_tail - sq_head > sq_entries, or
 *   cq_tail - cq_head > cq_entries).
 */
static long sys_queue_enter(uint64_t handle, uint64_t to_submit, uint64_t min_complete, uint64_t timeout_ns)
{
	struct process *p = thread_current()->proc;
	if (handle > INT32_MAX)
		return -ALDER_EBADF;
	timer_graveyard_reap();
	/* Hold the memory, not the object: closing the last handle while we
	 * wait must kill the queue and end our wait. The handle's reference
	 * keeps the queue alive while the table is locked, so irefs is taken
	 * right there (no kobj reference to take and drop). */
	const struct handle_slot *s;
	unsigned long f = spin_lock_irqsave(&p->handles.lock);
	int err = handle_lookup_locked(&p->handles, (alder_handle_t)handle, ALDER_OBJ_QUEUE,
				       QUEUE_ENTER_RIGHTS, &s);
	if (err) {
		spin_unlock_irqrestore(&p->handles.lock, f);
		return err;
	}
	struct queue *q = container_of(s->obj, struct queue, obj);
	queue_iget(q);
	/* Interrupts stay off (flags f) from the table's lock to the queue's. */
	spin_unlock(&p->handles.lock);

	long r;
	if (min_complete > q->cq_entries) {
		irq_restore(f);
		r = -ALDER_EINVAL;
		goto out;
	}

	/* Submit. The lock is held from the checks to each SQE's take, and
	 * dropped for its handler; after the last one it is not taken again. */
	uint64_t submitted = 0;
	spin_lock(&q->lock);
	if (q->dead) {
		spin_unlock_irqrestore(&q->lock, f);
		r = -ALDER_ECANCELED;
		goto out;
	}
	uint32_t avail = user_sq_tail(q) - q->sq_head;
	uint32_t used = q->cq_tail - user_cq_head(q);
	if (avail > q->sq_entries || used > q->cq_entries) {
		spin_unlock_irqrestore(&q->lock, f);
		r = -ALDER_EINVAL;
		goto out;
	}
	struct kop_submit sub; /* not zeroed: dispatch sets started, the SQE is copied in */
	sub.queue = q;
	sub.proc = p;
	while (submitted < to_submit && take_sqe_locked(q, avail, used, &sub.sqe)) {
		spin_unlock_irqrestore(&q->lock, f);
		dispatch(&sub);
		if (++submitted == to_submit)
			goto wait;
		f = spin_lock_irqsave(&q->lock);
		if (q->dead)
			break;
		/* The user may have broken its indices meanwhile: stop. */
		avail = user_sq_tail(q) - q->sq_head;
		used = q->cq_tail - user_cq_head(q);
		if (avail > q->sq_entries || used > q->cq_entries)
			break;
	}
	spin_unlock_irqrestore(&q->lock, f);

wait:
	r = (long)submitted;
	if (min_complete == 0)
		goto out;
	uint64_t deadline = 0;
	if (timeout_ns) {
		uint64_t now = clock_ns();
		deadline = timeout_ns > UINT64_MAX - now ? 0 : now + timeout_ns;
	}
	/*
	 * Each pass checks first without cq_wait.lock: when the condition
	 * already holds (the common case, and after every wake) no lock is
	 * needed. Only a pass that would sleep repeats the checks under the
	 * lock and sleeps from there. dead and cq_tail are published before
	 * the wake that would end our sleep (kop_complete and queue_destroy
	 * wake under cq_wait.lock), so nothing is lost in between.
	 */
	bool locked = false;
	for (;;) {
		if (__atomic_load_n(&q->dead, __ATOMIC_ACQUIRE)) {
			if (!submitted)
				r = -ALDER_ECANCELED;
			break;
		}
		uint32_t ready = __atomic_load_n(&q->cq_tail, __ATOMIC_ACQUIRE) - user_cq_head(q);
		if (ready >= min_complete)
			break;
		if (deadline && clock_ns() >= deadline) {
			if (!submitted)
				r = -ALDER_ETIMEDOUT;
			break;
		}
		if (!locked) {
			f = spin_lock_irqsave(&q->cq_wait.lock);
			locked = true;
			continue;
		}
		locked = false; /* waitq_sleep_locked drops it */
		if (waitq_sleep_locked(&q->cq_wait, f, deadline) == WAKE_KILL) {
			r = -ALDER_EINTR;
			break;
		}
	}
	if (locked)
		spin_unlock_irqrestore(&q->cq_wait.lock, f);
out:
	queue_iput(q);
	return r;
}

/* ---- the queue's own operations ----------------------------------------- */

static int64_t op_nop(struct kop_submit *sub)
{
	return 0;
}

/*
 * ALDER_OP_CANCEL, args[0]: context. Cancels the oldest operation in
 * flight on this queue with that context. Result 0 when one was found (it
 * completes with -ECANCELED, or with its own result if it was already
 * finishing) or is already being cancelled; -ENOENT when none is in flight.
 */
static int64_t op_cancel(struct kop_submit *sub)
{
	struct queue *q = sub->queue;
	uint64_t ctx = sub->sqe.args[0];
	unsigned long f = spin_lock_irqsave(&q->lock);
	list_for_each(it, &q->ops)
	{
		struct kop *op = list_entry(it, struct kop, link);
		if (op->context == ctx) {
			cancel_op_unlock(q, op, f);
			return 0;
		}
	}
	int64_t r = -ALDER_ENOENT;
	list_for_each(it, &q->cancelling)
	{
		if (list_entry(it, struct kop, link)->context == ctx) {
			r = 0;
			break;
		}
	}
	spin_unlock_irqrestore(&q->lock, f);
	return r;
}

/*
 * ALDER_OP_TIMER, args[0]: monotonic deadline (ns). Completes with 0 when
 * the clock passes it (at once if it already has), on the CPU that
 * submitted it, with the LAPIC tick's resolution (1 ms).
 *
 * The ktimer fires in interrupt context and completes the kop from there.
 * timer_run_expired() still writes to the ktimer after the callback, so a
 * timer completed by its own callback is not freed by its release: it goes
 * to the graveyard, and whoever reaps it first waits for that write with
 * ktimer_cancel() (which spins while the callback is "firing").
 */
struct timer_op {
	struct kop kop;
	struct ktimer timer;
	spinlock_t lock;   /* protects armed and cancelled */
	bool armed;	   /* ktimer_arm was called */
	bool cancelled;	   /* cancel ran before the timer was armed */
	bool fired;	   /* set by the callback before it completes */
	struct list grave; /* on timer_graveyard once released by the callback */
};

static spinlock_t timer_grave_lock = SPINLOCK_INIT;
static struct list timer_graveyard = LIST_INIT(timer_graveyard);

/* timer_graveyard_reap() found the graveyard not empty. */
static void timer_graveyard_reap_slow(void)
{
	struct list local = LIST_INIT(local);
	unsigned long f = spin_lock_irqsave(&timer_grave_lock);
	if (list_empty(&timer_graveyard)) {
		spin_unlock_irqrestore(&timer_grave_lock, f);
		return;
	}
	/* Move the whole list to local. */
	local.next = timer_graveyard.next;
	local.prev = timer_graveyard.prev;
	local.next->prev = &local;
	local.prev->next = &local;
	list_init(&timer_graveyard);
	spin_unlock_irqrestore(&timer_grave_lock, f);
	list_for_each_safe(it, tmp, &local)
	{
		struct timer_op *t = list_entry(it, struct timer_op, grave);
		list_remove(&t->grave);
		ktimer_cancel(&t->timer); /* not armed: only waits out the callback's tail */
		kfree(t);
	}
}

static void timer_fire(struct ktimer *kt)
{
	struct timer_op *t = container_of(kt, struct timer_op, timer);
	timer_graveyard_reap();
	t->fired = true;
	kop_complete(&t->kop, 0, 0, 0);
}

static void timer_cancel(struct kop *op)
{
	struct timer_op *t = container_of(op, struct timer_op, kop);
	unsigned long f = spin_lock_irqsave(&t->lock);
	bool armed = t->armed;
	if (!armed)
		t->cancelled = true; /* op_timer sees it and does not arm */
	spin_unlock_irqrestore(&t->lock, f);
	/* Fired (or firing: ktimer_cancel waits for it) means its completion stands. */
	if (armed && ktimer_cancel(&t->timer))
		kop_complete(op, -ALDER_ECANCELED, 0, 0);
}

static void timer_release(struct kop *op)
{
	struct timer_op *t = container_of(op, struct timer_op, kop);
	if (!t->fired) {
		kfree(t); /* never armed, or cancelled before firing: no callback tail */
		return;
	}
	unsigned long f = spin_lock_irqsave(&timer_grave_lock);
	list_append(&timer_graveyard, &t->grave);
	spin_unlock_irqrestore(&timer_grave_lock, f);
}

static const struct kop_ops timer_kop_ops = {timer_cancel, timer_release};

static int64_t op_timer(struct kop_submit *sub)
{
	uint64_t deadline = sub->sqe.args[0];
	if (deadline <= clock_ns())
		return 0;
	struct timer_op *t = kzalloc(sizeof(*t));
	if (!t)
		return -ALDER_ENOMEM;
	t->lock = (spinlock_t)SPINLOCK_INIT;
	list_init(&t->grave);
	if (kop_begin(&t->kop, sub, &timer_kop_ops)) {
		kfree(t);
		return -ALDER_ECANCELED;
	}
	unsigned long f = spin_lock_irqsave(&t->lock);
	bool cancelled = t->cancelled;
	if (!cancelled) {
		t->armed = true;
		ktimer_arm(&t->timer, deadline, timer_fire);
	}
	spin_unlock_irqrestore(&t->lock, f);
	if (cancelled)
		kop_complete(&t->kop, -ALDER_ECANCELED, 0, 0);
	return KOP_STARTED;
}

QUEUE_OP_REGISTER(ALDER_OP_NOP, op_nop);
QUEUE_OP_REGISTER(ALDER_OP_TIMER, op_timer);
QUEUE_OP_REGISTER(ALDER_OP_CANCEL, op_cancel);

/* ---- system calls ------------------------------------------------------- */

static long sys_queue_create_fn(uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5)
{
	return sys_queue_create(a0, a1, a2);
}

static long sys_queue_enter_fn(uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5)
{
	return sys_queue_enter(a0, a1, a2, a3);
}

SYSCALL_REGISTER(SYS_QUEUE_CREATE, sys_queue_create_fn);
SYSCALL_REGISTER(SYS_QUEUE_ENTER, sys_queue_enter_fn);

/* One handler per op code, all inside the ABI. */
SELFTEST(queue_op_table)
{
	/* cppcheck-suppress comparePointers ; one section, linker-made bounds */
	for (const struct queue_op_entry *e = __start_queue_ops; e < __stop_queue_ops; e++) {
		ST_CHECK(e->op < ALDER_OP_COUNT);
		ST_CHECK(e->fn != NULL);
		for (const struct queue_op_entry *d = e + 1; d < __stop_queue_ops; d++)
			ST_CHECK(d->op != e->op);
	}
	queue_op_table_fill();
	ST_CHECK(queue_op_table[ALDER_OP_NOP] == op_nop);
	return NULL;
}
