/*
 * Spinlocks: ticket locks, so CPUs get a contended lock in the order they
 * asked for it (a CPU that releases a lock and asks again at once queues
 * behind the CPUs already waiting, instead of winning by having the line
 * in its cache).
 *
 * spin_lock_irqsave() disables interrupts on the local CPU before taking
 * the lock and spin_unlock_irqrestore() restores the previous state; use
 * those for any lock an interrupt handler may take. Plain spin_lock() is for
 * callers that have interrupts off already: a CPU holding a ticket must not
 * be preempted, or every CPU queued behind it would wait for it to be
 * scheduled again (asserted when a CPU has to wait).
 *
 * While a CPU waits for a lock it serves cross-CPU calls (smp_call_poll):
 * the holder may be waiting for this CPU to flush its TLB, and with
 * interrupts off the call IPI would never be taken.
 *
 * The uncontended paths are inline (a handful of instructions: the kernel
 * takes dozens of locks per system call); waiting is in spinlock.c.
 */
#ifndef KERN_SPINLOCK_H
#define KERN_SPINLOCK_H

#include <kern/types.h>
#include <arch/cpu.h>

typedef struct spinlock {
	/* Low half: the ticket being served; high half: the next ticket to
	 * hand out. Free when the two are equal. */
	volatile uint32_t tickets;
	uint32_t owner_cpu; /* valid while locked; for assertions */
} spinlock_t;

#define SPINLOCK_INIT { 0, 0 }
#define SPIN_TICKET_ONE (1u << 16)

void spin_lock_wait(spinlock_t *l, uint16_t ticket);

/* This CPU's id (struct cpu.id at gs:32, kern/cpu.h checks the offset;
 * kmain points GS at cpus[0] before anything takes a lock). */
static inline uint32_t spin_cpu_id(void)
{
	uint32_t id;

	__asm__ volatile("movl %%gs:32, %0" : "=r"(id));
	return id;
}
/* Release l whoever holds it (panic's last resort for the log lock). */
void spin_force_unlock(spinlock_t *l);

static inline void spin_lock(spinlock_t *l)
{
	uint32_t t = __atomic_fetch_add(&l->tickets, SPIN_TICKET_ONE, __ATOMIC_ACQUIRE);

	if ((uint16_t)(t >> 16) != (uint16_t)t)
		spin_lock_wait(l, (uint16_t)(t >> 16));
	l->owner_cpu = spin_cpu_id();
}

static inline void spin_unlock(spinlock_t *l)
{
	/* Only the holder writes the low half: a plain 16-bit increment. */
	volatile uint16_t *serving = (volatile uint16_t *)&l->tickets;

	__atomic_store_n(serving, (uint16_t)(*serving + 1), __ATOMIC_RELEASE);
}

static inline bool spin_trylock(spinlock_t *l)
{
	uint32_t t = __atomic_load_n(&l->tickets, __ATOMIC_RELAXED);

	if ((uint16_t)(t >> 16) != (uint16_t)t ||
	    !__atomic_compare_exchange_n(&l->tickets, &t, t + SPIN_TICKET_ONE, false, __ATOMIC_ACQUIRE,
					 __ATOMIC_RELAXED))
		return false;
	l->owner_cpu = spin_cpu_id();
	return true;
}

static inline unsigned long spin_lock_irqsave(spinlock_t *l)
{
	unsigned long f = irq_save();

	spin_lock(l);
	return f;
}

static inline void spin_unlock_irqrestore(spinlock_t *l, unsigned long flags)
{
	spin_unlock(l);
	irq_restore(flags);
}

/* CPUs waiting for the lock (not counting the holder); for tests. */
static inline uint32_t spin_waiters(const spinlock_t *l)
{
	uint32_t t = l->tickets;
	uint16_t d = (uint16_t)((uint16_t)(t >> 16) - (uint16_t)t);

	return d ? d - 1u : 0;
}

/* True when held by the calling CPU; for assert() in _locked functions. */
static inline bool spin_held(const spinlock_t *l)
{
	uint32_t t = l->tickets;

	return (uint16_t)(t >> 16) != (uint16_t)t && l->owner_cpu == spin_cpu_id();
}

#endif
