/* Spinlocks (kern/spinlock.h): test-and-test-and-set with pause. */
#include <kern/spinlock.h>
#include <kern/cpu.h>
#include <arch/cpu.h>
#include <arch/apic.h>

extern bool smp_percpu_ready;

static inline uint32_t cpu_id_or_zero(void)
{
	return smp_percpu_ready ? this_cpu()->id : 0;
}

bool spin_trylock(spinlock_t *l)
{
	if (__atomic_exchange_n(&l->locked, 1, __ATOMIC_ACQUIRE))
		return false;
	l->owner_cpu = cpu_id_or_zero();
	return true;
}

/*
 * While spinning, serve cross-CPU calls (TLB shootdowns): the lock holder
 * may be waiting for this CPU to flush, and with interrupts off here the
 * call IPI would never be taken — a deadlock otherwise.
 */
void spin_lock(spinlock_t *l)
{
	while (__atomic_exchange_n(&l->locked, 1, __ATOMIC_ACQUIRE))
		while (__atomic_load_n(&l->locked, __ATOMIC_RELAXED)) {
			cpu_relax();
			if (smp_percpu_ready)
				smp_call_poll();
		}
	l->owner_cpu = cpu_id_or_zero();
}

void spin_unlock(spinlock_t *l)
{
	__atomic_store_n(&l->locked, 0, __ATOMIC_RELEASE);
}

unsigned long spin_lock_irqsave(spinlock_t *l)
{
	unsigned long f = irq_save();
	spin_lock(l);
	return f;
}

void spin_unlock_irqrestore(spinlock_t *l, unsigned long flags)
{
	spin_unlock(l);
	irq_restore(flags);
}

bool spin_held(const spinlock_t *l)
{
	return l->locked && l->owner_cpu == cpu_id_or_zero();
}
