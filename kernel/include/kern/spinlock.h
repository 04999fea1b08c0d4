/*
 * Spinlocks. spin_lock_irqsave() disables interrupts on the local CPU before
 * taking the lock and spin_unlock_irqrestore() restores the previous state;
 * use those for any lock an interrupt handler may take. Plain spin_lock() is
 * for locks never taken in interrupt context.
 */
#ifndef KERN_SPINLOCK_H
#define KERN_SPINLOCK_H

#include <kern/types.h>

typedef struct spinlock {
	volatile uint32_t locked; /* 0 free, 1 held; atomic exchange */
	uint32_t owner_cpu;       /* valid while locked; for assertions */
} spinlock_t;

#define SPINLOCK_INIT { 0, 0 }

void spin_lock(spinlock_t *l);
void spin_unlock(spinlock_t *l);
bool spin_trylock(spinlock_t *l);
unsigned long spin_lock_irqsave(spinlock_t *l);
void spin_unlock_irqrestore(spinlock_t *l, unsigned long flags);
/* True when held by the calling CPU; for assert() in _locked functions. */
bool spin_held(const spinlock_t *l);

#endif
