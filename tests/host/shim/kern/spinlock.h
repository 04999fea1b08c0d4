/* Host-test stand-in for kern/spinlock.h: single-threaded, tracks holding. */
#ifndef KERN_SPINLOCK_H
#define KERN_SPINLOCK_H

#include <kern/types.h>

typedef struct spinlock {
	volatile uint32_t locked;
	uint32_t owner_cpu;
} spinlock_t;

#define SPINLOCK_INIT { 0, 0 }

static inline void spin_lock(spinlock_t *l) { l->locked = 1; }
static inline void spin_unlock(spinlock_t *l) { l->locked = 0; }
static inline bool spin_trylock(spinlock_t *l) { if (l->locked) return false; l->locked = 1; return true; }
static inline unsigned long spin_lock_irqsave(spinlock_t *l) { l->locked = 1; return 0; }
static inline void spin_unlock_irqrestore(spinlock_t *l, unsigned long f) { (void)f; l->locked = 0; }
static inline bool spin_held(const spinlock_t *l) { return l->locked; }

#endif
