/*
 * Spinlocks (kern/spinlock.h): ticket locks. A CPU takes the next ticket
 * with an atomic add and spins until the owner field shows it; unlock
 * advances the owner field. Tickets are 16 bits: far more than the CPUs
 * that can ever wait for one lock at once.
 */
#include <kern/assert.h>
#include <kern/spinlock.h>
#include <kern/cpu.h>
#include <arch/cpu.h>
#include <arch/apic.h>

extern bool smp_percpu_ready;

_Static_assert(sizeof(spinlock_t) == 8, "spinlock layout");

static inline uint32_t cpu_id_or_zero(void)
{
	return smp_percpu_ready ? this_cpu()->id : 0;
}

bool spin_trylock(spinlock_t *l)
{
	spinlock_t old, new;
	old.word = __atomic_load_n(&l->word, __ATOMIC_RELAXED);
	if (old.t.owner != old.t.next)
		return false;
	new.word = old.word;
	new.t.next++;
	if (!__atomic_compare_exchange_n(&l->word, &old.word, new.word, false, __ATOMIC_ACQUIRE,
					 __ATOMIC_RELAXED))
		return false;
	l->owner_cpu = cpu_id_or_zero();
	return true;
}

/*
 * Wait until the lock serves ticket. Meanwhile serve cross-CPU calls (TLB
 * shootdowns): the lock holder may be waiting for this CPU to flush, and
 * with interrupts off here the call IPI would never be taken — a deadlock
 * otherwise. Out of line: the uncontended path stays short.
 */
static __attribute__((noinline)) void wait_turn(spinlock_t *l, uint16_t ticket)
{
	while (__atomic_load_n(&l->t.owner, __ATOMIC_ACQUIRE) != ticket) {
		cpu_relax();
		if (smp_percpu_ready)
			smp_call_poll();
	}
}

static inline void take(spinlock_t *l)
{
	uint16_t ticket = __atomic_fetch_add(&l->t.next, 1, __ATOMIC_RELAXED);
	if (unlikely(__atomic_load_n(&l->t.owner, __ATOMIC_ACQUIRE) != ticket))
		wait_turn(l, ticket);
	l->owner_cpu = cpu_id_or_zero();
}

void spin_lock(spinlock_t *l)
{
	assert(!irq_enabled());
	take(l);
}

void spin_unlock(spinlock_t *l)
{
	l->owner_cpu = SPIN_NO_OWNER;
	/* Only the holder writes owner: a plain read, then a release store. */
	__atomic_store_n(&l->t.owner, (uint16_t)(l->t.owner + 1), __ATOMIC_RELEASE);
}

unsigned long spin_lock_irqsave(spinlock_t *l)
{
	unsigned long f = irq_save();
	take(l);
	return f;
}

void spin_unlock_irqrestore(spinlock_t *l, unsigned long flags)
{
	spin_unlock(l);
	irq_restore(flags);
}

bool spin_held(const spinlock_t *l)
{
	spinlock_t now;
	now.word = __atomic_load_n(&l->word, __ATOMIC_RELAXED);
	return now.t.owner != now.t.next && l->owner_cpu == cpu_id_or_zero();
}

uint32_t spin_waiters(const spinlock_t *l)
{
	spinlock_t now;
	now.word = __atomic_load_n(&l->word, __ATOMIC_RELAXED);
	uint16_t queued = (uint16_t)(now.t.next - now.t.owner);
	return queued ? queued - 1u : 0;
}

void spin_force_unlock(spinlock_t *l)
{
	l->owner_cpu = SPIN_NO_OWNER;
	__atomic_store_n(&l->word, 0, __ATOMIC_RELEASE);
}
