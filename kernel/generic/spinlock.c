/* Spinlocks (kern/spinlock.h): the waiting side of the ticket lock. */
#include <kern/spinlock.h>
#include <kern/assert.h>
#include <kern/cpu.h>
#include <arch/cpu.h>
#include <arch/apic.h>

extern bool smp_percpu_ready;

/*
 * Wait until ticket is served. While spinning, serve cross-CPU calls (TLB
 * shootdowns): the lock holder may be waiting for this CPU to flush, and
 * with interrupts off here the call IPI would never be taken — a deadlock
 * otherwise.
 */
void spin_lock_wait(spinlock_t *l, uint16_t ticket)
{
	volatile uint16_t *serving = (volatile uint16_t *)&l->tickets;

	assert(!irq_enabled()); /* see kern/spinlock.h */
	while (__atomic_load_n(serving, __ATOMIC_ACQUIRE) != ticket) {
		cpu_relax();
		if (smp_percpu_ready)
			smp_call_poll();
	}
}

void spin_force_unlock(spinlock_t *l)
{
	uint32_t t = __atomic_load_n(&l->tickets, __ATOMIC_RELAXED);

	__atomic_store_n(&l->tickets, (t & 0xffff0000u) | (t >> 16),
			 __ATOMIC_RELEASE);
}
