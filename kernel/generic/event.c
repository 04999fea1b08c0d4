/*
 * Events (ALDER_OBJ_EVENT): a counter that threads wait on through their
 * queues. sys_event_signal(event) adds one to the counter and completes
 * every ALDER_OP_EVENT_WAIT pending on the event with the new value.
 *
 * Semantics (edge-triggered, no memory): an EVENT_WAIT completes at the
 * first signal after it was submitted — signals before its submission do
 * not count — with result = the counter after that signal (1 for the first
 * signal ever). One signal completes every wait pending at that moment.
 * If the event's last handle is closed, pending waits complete with
 * -ALDER_EPIPE (nobody can signal it any more); a cancelled wait completes
 * with -ALDER_ECANCELED.
 *
 * Rights: SYS_EVENT_SIGNAL needs WRITE, EVENT_WAIT needs READ.
 *
 * Lifetime as for queues: obj.refs counts handles and lookups (the event
 * dies when it drops to zero); irefs counts the live kobj plus each wait
 * between kop_begin and release, and the memory goes with the last one.
 *
 * Not for: level-triggered state, masks or payloads.
 */
#include <kern/assert.h>
#include <kern/heap.h>
#include <kern/kqueue.h>
#include <kern/object.h>
#include <kern/process.h>
#include <kern/spinlock.h>
#include <kern/syscall.h>
#include <alder/errno.h>
#include <alder/handle.h>
#include <alder/queue.h>
#include <alder/syscall.h>

#define EVENT_RIGHTS (ALDER_RIGHT_READ | ALDER_RIGHT_WRITE | ALDER_RIGHT_TRANSFER | ALDER_RIGHT_DUPLICATE)

struct event {
	struct kobj obj; /* first: handles name it */
	uint32_t irefs;	 /* atomic */
	/* lock protects the fields below and every event_wait.link. */
	spinlock_t lock;
	bool dead;	     /* last handle gone */
	uint64_t counter;    /* signals so far */
	struct list waiters; /* struct event_wait.link, oldest first */
};

struct event_wait {
	struct kop kop;
	struct event *ev;	 /* holds an iref until release */
	struct list link;	 /* on ev->waiters while pending, under ev->lock */
	struct event_wait *next; /* batch being completed (private to one completer) */
};

static void event_destroy(struct kobj *o);
static const struct kobj_ops event_kobj_ops = {"event", event_destroy};

static void event_iget(struct event *ev)
{
	__atomic_add_fetch(&ev->irefs, 1, __ATOMIC_RELAXED);
}

static void event_iput(struct event *ev)
{
	if (__atomic_sub_fetch(&ev->irefs, 1, __ATOMIC_ACQ_REL) == 0) {
		assert(list_empty(&ev->waiters));
		kfree(ev);
	}
}

/*
 * Take every pending waiter off the list (under ev->lock) into a chain;
 * whoever unlinks a waiter completes it, so a concurrent cancel finds it
 * gone and does nothing.
 */
static struct event_wait *take_waiters_locked(struct event *ev)
{
	struct event_wait *head = NULL, **tail = &head;
	while (!list_empty(&ev->waiters)) {
		struct event_wait *w = list_entry(list_first(&ev->waiters), struct event_wait, link);
		list_remove(&w->link);
		w->next = NULL;
		*tail = w;
		tail = &w->next;
	}
	return head;
}

static void complete_chain(struct event_wait *w, int64_t result)
{
	while (w) {
		struct event_wait *next = w->next; /* w may be freed by kop_complete */
		kop_complete(&w->kop, result, 0, 0);
		w = next;
	}
}

/* Last handle gone; any context. */
static void event_destroy(struct kobj *o)
{
	struct event *ev = container_of(o, struct event, obj);
	unsigned long f = spin_lock_irqsave(&ev->lock);
	ev->dead = true;
	struct event_wait *chain = take_waiters_locked(ev);
	spin_unlock_irqrestore(&ev->lock, f);
	complete_chain(chain, -ALDER_EPIPE);
	event_iput(ev);
}

/* ---- EVENT_WAIT ------------------------------------------------------- */

static void event_wait_cancel(struct kop *op)
{
	struct event_wait *w = container_of(op, struct event_wait, kop);
	struct event *ev = w->ev;
	unsigned long f = spin_lock_irqsave(&ev->lock);
	bool mine = list_linked(&w->link);
	if (mine)
		list_remove(&w->link);
	spin_unlock_irqrestore(&ev->lock, f);
	if (mine)
		kop_complete(op, -ALDER_ECANCELED, 0, 0);
}

static void event_wait_release(struct kop *op)
{
	struct event_wait *w = container_of(op, struct event_wait, kop);
	event_iput(w->ev);
	kfree(w);
}

static const struct kop_ops event_wait_ops = {event_wait_cancel, event_wait_release};

/* ALDER_OP_EVENT_WAIT: handle = event (READ). */
static int64_t op_event_wait(struct kop_submit *sub)
{
	struct kobj *o;
	int r = handle_get(&sub->proc->handles, sub->sqe.handle, ALDER_OBJ_EVENT, ALDER_RIGHT_READ, &o, NULL);
	if (r)
		return r;
	struct event *ev = container_of(o, struct event, obj);
	struct event_wait *w = kzalloc(sizeof(*w));
	if (!w) {
		kobj_put(o);
		return -ALDER_ENOMEM;
	}
	list_init(&w->link);
	w->ev = ev;
	event_iget(ev);
	if (kop_begin(&w->kop, sub, &event_wait_ops)) {
		event_iput(ev);
		kfree(w);
		kobj_put(o);
		return -ALDER_ECANCELED;
	}
	unsigned long f = spin_lock_irqsave(&ev->lock);
	bool dead = ev->dead; /* cannot be: we hold a kobj reference; kept for clarity */
	if (!dead)
		list_append(&ev->waiters, &w->link);
	spin_unlock_irqrestore(&ev->lock, f);
	if (dead)
		kop_complete(&w->kop, -ALDER_EPIPE, 0, 0);
	kobj_put(o); /* may be the last reference: event_destroy completes w */
	return KOP_STARTED;
}

QUEUE_OP_REGISTER(ALDER_OP_EVENT_WAIT, op_event_wait);

/* ---- system calls ----------------------------------------------------- */

/* sys_event_create() -> event handle (READ, WRITE, TRANSFER, DUPLICATE). */
static long sys_event_create(uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5)
{
	struct event *ev = kzalloc(sizeof(*ev));
	if (!ev)
		return -ALDER_ENOMEM;
	kobj_init(&ev->obj, ALDER_OBJ_EVENT, &event_kobj_ops);
	ev->irefs = 1;
	ev->lock = (spinlock_t)SPINLOCK_INIT;
	list_init(&ev->waiters);
	long h = handle_install(&proc_current()->handles, &ev->obj, EVENT_RIGHTS);
	if (h < 0)
		kobj_put(&ev->obj);
	return h;
}

/* sys_event_signal(event): needs WRITE; returns 0. */
static long sys_event_signal(uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5)
{
	if (a0 > INT32_MAX)
		return -ALDER_EBADF;
	struct kobj *o;
	int r = handle_get(&proc_current()->handles, (alder_handle_t)a0, ALDER_OBJ_EVENT, ALDER_RIGHT_WRITE,
			   &o, NULL);
	if (r)
		return r;
	struct event *ev = container_of(o, struct event, obj);
	unsigned long f = spin_lock_irqsave(&ev->lock);
	uint64_t value = ++ev->counter;
	struct event_wait *chain = take_waiters_locked(ev);
	spin_unlock_irqrestore(&ev->lock, f);
	complete_chain(chain, (int64_t)value);
	kobj_put(o);
	return 0;
}

SYSCALL_REGISTER(SYS_EVENT_CREATE, sys_event_create);
SYSCALL_REGISTER(SYS_EVENT_SIGNAL, sys_event_signal);
