/*
 * Spinlocks: ticket locks, so CPUs get a contended lock in the order they
 * asked for it (a CPU that releases a lock and asks again at once queues
 * behind the CPUs already waiting, instead of winning by having the line
 * in its cache).
 *
 * spin_lock_irqsave() disables interrupts on the local CPU before taking
 * the lock and spin_unlock_irqrestore() restores the previous state; use
 * those for any lock an interrupt handler may take. Plain spin_lock() is for
 * callers that have interrupts off already. Every lock is taken with
 * interrupts off (asserted): a CPU holding a ticket must not be preempted,
 * or every CPU queued behind it would wait for it to be scheduled again.
 *
 * While a CPU waits for a lock it serves cross-CPU calls (smp_call_poll):
 * the holder may be waiting for this CPU to flush its TLB, and with
 * interrupts off the call IPI would never be taken.
 */
#ifndef KERN_SPINLOCK_H
#define KERN_SPINLOCK_H

#include <kern/types.h>

#define SPIN_NO_OWNER 0xffffffffu

typedef struct spinlock {
	union {
		uint32_t word; /* both tickets, for spin_trylock's compare-exchange */
		struct {
			uint16_t owner; /* ticket being served; written by the holder */
			uint16_t next;  /* next ticket to hand out; atomic add */
		} t;
	};
	uint32_t owner_cpu; /* holder's CPU, SPIN_NO_OWNER when free; for assertions */
} spinlock_t;

#define SPINLOCK_INIT { { 0 }, SPIN_NO_OWNER }

void spin_lock(spinlock_t *l);
void spin_unlock(spinlock_t *l);
/* Take the lock only if nobody holds it or waits for it. */
bool spin_trylock(spinlock_t *l);
unsigned long spin_lock_irqsave(spinlock_t *l);
void spin_unlock_irqrestore(spinlock_t *l, unsigned long flags);
/* True when held by the calling CPU; for assert() in _locked functions. */
bool spin_held(const spinlock_t *l);
/* CPUs waiting for the lock (not counting the holder); for tests. */
uint32_t spin_waiters(const spinlock_t *l);
/* Make the lock free whoever holds it: only for panic(), after the other
 * CPUs have been stopped. */
void spin_force_unlock(spinlock_t *l);

#endif
