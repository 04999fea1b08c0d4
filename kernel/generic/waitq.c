/*
 * Wait queues and per-CPU timers (kern/waitq.h).
 *
 * Lock order: wq->lock, then a run-queue lock (thread_wake). A timer
 * callback runs with no timer lock held, so it may take wait-queue locks.
 */
#include <kern/assert.h>
#include <kern/cpu.h>
#include <kern/clock.h>
#include <kern/process.h>
#include <kern/thread.h>
#include <kern/waitq.h>
#include <arch/cpu.h>


struct waiter {
	struct list link;     /* on wq->waiters while waiting, under wq->lock */
	struct thread *thread;
	struct waitq *wq;
	/* Set (release) by wake() after it took the waiter off the list and
	 * woke its thread: its last touch of the waiter, so the sleeper that
	 * sees it (acquire) may return without taking wq->lock. */
	bool woken;
	struct ktimer timer;  /* armed only with a deadline */
};

void waitq_init(struct waitq *wq)
{
	wq->lock = (spinlock_t)SPINLOCK_INIT;
	list_init(&wq->waiters);
}

static void waiter_timeout(struct ktimer *tm)
{
	struct waiter *w = container_of(tm, struct waiter, timer);
	unsigned long f = spin_lock_irqsave(&w->wq->lock);
	bool mine = list_linked(&w->link);
	if (mine)
		list_remove(&w->link);
	struct thread *t = w->thread;
	spin_unlock_irqrestore(&w->wq->lock, f);
	if (mine)
		thread_wake(t, WAKE_TIMEOUT);
}

uint32_t waitq_sleep_locked(struct waitq *wq, unsigned long flags, uint64_t deadline)
{
	struct thread *t = thread_current();
	struct waiter w;
	w.thread = t;
	w.wq = wq;
	w.woken = false;
	list_append(&wq->waiters, &w.link);
	t->wake_reason = WAKE_NONE;
	/* Armed before we block: it fires on this CPU, whose interrupts stay
	 * off until we have switched away. */
	if (deadline)
		ktimer_arm(&w.timer, deadline, waiter_timeout);
	if (sched_sleep(&wq->lock)) {
		if (deadline)
			ktimer_cancel(&w.timer);
		if (__atomic_load_n(&w.woken, __ATOMIC_ACQUIRE)) {
			/* Off the queue, and its waker is done with w. */
			uint32_t why = t->wake_reason;
			irq_restore(flags);
			return why == WAKE_NONE ? WAKE_SIGNAL : why;
		}
		spin_lock(&wq->lock);
	} else {
		/* Killed: not asleep at all. */
		t->wake_reason = WAKE_KILL;
		if (deadline) {
			/* Cannot have fired: interrupts are still off. */
			ktimer_cancel(&w.timer);
		}
	}
	/* Woken by a kill or the timer, or not asleep: leave the queue
	 * ourselves. */
	if (list_linked(&w.link))
		list_remove(&w.link);
	uint32_t why = t->wake_reason;
	spin_unlock_irqrestore(&wq->lock, flags);
	return why == WAKE_NONE ? WAKE_SIGNAL : why;
}

/* Inline: it is on every wake-up. */
static inline __attribute__((always_inline)) unsigned wake_locked(struct waitq *wq, bool all)
{
	unsigned n = 0;
	while (!list_empty(&wq->waiters)) {
		struct waiter *w = list_entry(list_first(&wq->waiters), struct waiter, link);
		list_remove(&w->link);
		thread_wake_irqoff(w->thread, WAKE_SIGNAL);
		__atomic_store_n(&w->woken, true, __ATOMIC_RELEASE); /* last touch of w */
		n++;
		if (!all)
			break;
	}
	return n;
}

static unsigned wake(struct waitq *wq, bool all)
{
	unsigned long f = spin_lock_irqsave(&wq->lock);
	unsigned n = wake_locked(wq, all);
	spin_unlock_irqrestore(&wq->lock, f);
	return n;
}

unsigned waitq_wake_one(struct waitq *wq) { return wake(wq, false); }
unsigned waitq_wake_all(struct waitq *wq) { return wake(wq, true); }
unsigned waitq_wake_all_locked(struct waitq *wq)
{
	assert(spin_held(&wq->lock) && !irq_enabled());
	return wake_locked(wq, true);
}

void waitq_interrupt(struct thread *t) { thread_wake(t, WAKE_KILL); }

/* ---- timers ---- */

void ktimer_arm(struct ktimer *t, uint64_t deadline, void (*fn)(struct ktimer *t))
{
	struct cpu *c = this_cpu();
	t->deadline = deadline;
	t->fn = fn;
	t->cpu = c->id;
	t->firing = false;
	unsigned long f = spin_lock_irqsave(&c->timer_lock);
	struct list *pos = &c->timers;
	list_for_each(it, &c->timers) {
		if (list_entry(it, struct ktimer, link)->deadline > deadline) {
			pos = it;
			break;
		}
	}
	list_insert_between(&t->link, pos->prev, pos);
	t->armed = true;
	spin_unlock_irqrestore(&c->timer_lock, f);
}

bool ktimer_cancel(struct ktimer *t)
{
	struct cpu *c = &cpus[t->cpu];
	unsigned long f = spin_lock_irqsave(&c->timer_lock);
	bool was_armed = t->armed;
	if (was_armed) {
		list_remove(&t->link);
		t->armed = false;
	}
	spin_unlock_irqrestore(&c->timer_lock, f);
	/* Fired: wait until its callback is done with the timer. */
	while (__atomic_load_n(&t->firing, __ATOMIC_ACQUIRE))
		cpu_relax();
	return was_armed;
}

void timer_run_expired(void)
{
	struct cpu *c = this_cpu();
	uint64_t now = clock_ns();
	for (;;) {
		spin_lock(&c->timer_lock);
		struct list *first = list_first(&c->timers);
		struct ktimer *t = first ? list_entry(first, struct ktimer, link) : NULL;
		if (!t || t->deadline > now) {
			spin_unlock(&c->timer_lock);
			return;
		}
		list_remove(&t->link);
		t->armed = false;
		t->firing = true;
		spin_unlock(&c->timer_lock);
		t->fn(t);
		__atomic_store_n(&t->firing, false, __ATOMIC_RELEASE);
	}
}
