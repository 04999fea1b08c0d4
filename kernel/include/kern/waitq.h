/*
 * Wait queues and timers (kernel/generic/waitq.c, timer.c).
 *
 * A wait queue is a list of sleeping threads under one IRQ-saving lock.
 * The caller checks its condition under wq->lock, then calls
 * waitq_sleep_locked(), which releases the lock and sleeps atomically: a wake
 * between the check and the sleep is never lost.
 *
 * Timers fire in interrupt context on the CPU that armed them. The callback
 * runs with no timer lock held. ktimer_cancel() returns false when the timer
 * already fired (or is firing right now on another CPU: the caller must then
 * not free the timer before the callback is done; waitq.c handles this with
 * the waiter's own lock).
 */
#ifndef KERN_WAITQ_H
#define KERN_WAITQ_H

#include <kern/list.h>
#include <kern/spinlock.h>
#include <kern/types.h>

#define WAKE_NONE 0
#define WAKE_SIGNAL 1   /* waitq_wake_* */
#define WAKE_TIMEOUT 2
#define WAKE_KILL 3     /* the process is being killed */

struct thread;

struct waitq {
	spinlock_t lock;
	struct list waiters;   /* struct waiter.link, under lock */
};

#define WAITQ_INIT(name) { SPINLOCK_INIT, LIST_INIT((name).waiters) }
void waitq_init(struct waitq *wq);

/*
 * Sleep on wq. Called with wq->lock held via spin_lock_irqsave(&wq->lock)
 * returning flags. Releases the lock, sleeps until woken, the deadline
 * (monotonic ns, 0 = none) passes, or the thread is killed; then restores
 * the IRQ state in flags. Returns WAKE_SIGNAL, WAKE_TIMEOUT or WAKE_KILL.
 * The lock is not held on return.
 */
uint32_t waitq_sleep_locked(struct waitq *wq, unsigned long flags, uint64_t deadline);
/* Wake one / all sleepers. Returns how many were woken. Any context. */
unsigned waitq_wake_one(struct waitq *wq);
unsigned waitq_wake_all(struct waitq *wq);
/* waitq_wake_all() for a caller that holds wq->lock (taken with
 * spin_lock_irqsave, as for waitq_sleep_locked). */
unsigned waitq_wake_all_locked(struct waitq *wq);
/* Wake t if it sleeps on any wait queue, with WAKE_KILL. */
void waitq_interrupt(struct thread *t);

struct ktimer {
	uint64_t deadline;     /* monotonic ns */
	void (*fn)(struct ktimer *t);
	struct list link;      /* on cpus[cpu].timers, under its timer_lock */
	uint32_t cpu;
	bool armed;            /* on the list; under the timer lock */
	volatile bool firing;  /* callback running; see ktimer_cancel */
};

void ktimer_arm(struct ktimer *t, uint64_t deadline, void (*fn)(struct ktimer *t));
bool ktimer_cancel(struct ktimer *t);
void timer_run_expired(void);  /* timer interrupt: fire this CPU's due timers */

#endif
