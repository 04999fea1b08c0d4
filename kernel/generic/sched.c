/*
 * The scheduler: per-CPU run queues with SCHED_PRIOS priority levels,
 * round-robin within a level, preemption when a time slice ends, and work
 * stealing by CPUs that have nothing to run: when they schedule, and at
 * every tick while idle (see worth_stealing).
 *
 * Invariants (see also struct thread):
 *  - A thread is on at most one run queue (on its lists or in its slot,
 *    runqueue.first), and only while RUNNING; `queued` says so. Both are
 *    changed under the lock of that queue's CPU.
 *  - t->cpu changes only under the lock of the queue it names before the
 *    change. A thread moved to another CPU's queue (a wake-up placed
 *    elsewhere, a pin, a switch away from a CPU it may not run on) gets
 *    its new CPU that way first and is queued there after: whoever locks
 *    the queue t->cpu names and still finds it named there sees t's
 *    queueing state right (queued means queued there).
 *  - on_cpu is set from the moment a CPU picks a thread until that CPU has
 *    switched away from it (sched_finish_switch). A queued thread with
 *    on_cpu set is the one its own CPU is switching away from; other CPUs
 *    never steal such a thread.
 *  - schedule() runs with interrupts disabled.
 */
#include <kern/assert.h>
#include <kern/clock.h>
#include <kern/cpu.h>
#include <kern/log.h>
#include <kern/process.h>
#include <kern/selftest.h>
#include <kern/thread.h>
#include <kern/waitq.h>
#include <kern/vmspace.h>
#include <arch/apic.h>
#include <arch/cpu.h>
#include <arch/ioport.h>
#include <arch/paging.h>
#include <arch/switch.h>
#include <arch/trap.h>

#define SLICE_TICKS 10 /* 10 ms at the 1 kHz tick */

void sched_finish_switch(void);

static inline bool may_run_on(const struct thread *t, uint32_t cpu)
{
	return t->pin == 0 || t->pin == cpu + 1;
}

/*
 * A run queue's oldest thread may wait in a slot of its own (first)
 * instead of on the lists: a thread queued while the lists and the slot
 * are empty goes there. That is the common hand-over — a thread wakes another on its CPU,
 * then blocks — and it then costs no list work. Everything queued later
 * goes on the lists, so the slot always holds the oldest queued thread: it
 * runs after listed threads of better priority and before the others, as
 * it would from its list. A slotted thread is queued like any other
 * (queued set, counted in nr and nr_movable, not in bitmap). Under the
 * queue's lock.
 */

/* The queue operations are on every block, wake and switch: inline. */
#define RQ_INLINE static inline __attribute__((always_inline))

RQ_INLINE void rq_enqueue_locked(struct cpu *c, struct thread *t)
{
	struct runqueue *rq = &c->rq;
	assert(spin_held(&rq->lock) && !t->queued);
	if (!rq->bitmap && !rq->first) {
		rq->first = t;
	} else {
		uint8_t prio = t->prio;
		list_append(&rq->queues[prio], &t->rq_link);
		rq->bitmap |= 1u << prio;
	}
	rq->nr++;
	t->queued_movable = !__atomic_load_n(&t->pin, __ATOMIC_RELAXED);
	if (t->queued_movable)
		rq->nr_movable++;
	t->queued = true;
}

RQ_INLINE void rq_remove_locked(struct cpu *c, struct thread *t)
{
	struct runqueue *rq = &c->rq;
	if (rq->first == t) {
		rq->first = NULL;
	} else {
		uint8_t prio = t->prio;
		list_remove(&t->rq_link);
		if (list_empty(&rq->queues[prio]))
			rq->bitmap &= ~(1u << prio);
	}
	rq->nr--;
	if (t->queued_movable)
		rq->nr_movable--;
	t->queued = false;
}

/* Take the oldest thread of the best priority queued, or NULL. */
RQ_INLINE struct thread *rq_pick_locked(struct cpu *c)
{
	struct runqueue *rq = &c->rq;
	struct thread *t = rq->first;
	uint32_t bitmap = rq->bitmap;
	if (t && (!bitmap || t->prio <= (unsigned)__builtin_ctz(bitmap))) {
		rq->first = NULL;
	} else {
		if (!bitmap)
			return NULL;
		unsigned p = (unsigned)__builtin_ctz(bitmap);
		struct list *head = &rq->queues[p];
		struct list *n = head->next;
		struct list *after = n->next;
		t = list_entry(n, struct thread, rq_link);
		/* rq_remove_locked(), knowing that t is first at level p. */
		head->next = after;
		after->prev = head;
		list_init(n);
		if (after == head)
			rq->bitmap = bitmap & ~(1u << p);
	}
	rq->nr--;
	if (t->queued_movable)
		rq->nr_movable--;
	t->queued = false;
	return t;
}

/* Whether me may take t from another CPU's queue. */
static inline bool stealable(const struct thread *t, const struct cpu *me)
{
	return !t->on_cpu && may_run_on(t, me->id);
}

/* Whether c runs its idle thread (a hint, read without c's lock). */
static inline bool cpu_idle(const struct cpu *c)
{
	return __atomic_load_n(&c->current, __ATOMIC_RELAXED) == c->idle;
}

/* Take a runnable thread from another CPU's queue (highest priority first,
 * oldest first within a priority). An idle CPU is no victim: what is queued
 * there was queued by a wake-up that kicked it, and it runs that itself as
 * soon as the kick arrives; taking it would only move the thread away from
 * the CPU the waker chose. */
static struct thread *steal(struct cpu *me)
{
	for (uint32_t i = 0; i < cpu_count; i++) {
		struct cpu *v = &cpus[i];
		if (v == me || !v->online || __atomic_load_n(&v->rq.nr, __ATOMIC_RELAXED) == 0 || cpu_idle(v))
			continue;
		if (!spin_trylock(&v->rq.lock))
			continue;
		struct thread *first = cpus[i].rq.first;
		struct thread *found = NULL;
		for (unsigned p = 0; p < SCHED_PRIOS && !found; p++) {
			if (first && first->prio == p && stealable(first, me)) {
				found = first;
				break;
			}
			list_for_each(it, &v->rq.queues[p]) {
				struct thread *t = list_entry(it, struct thread, rq_link);
				if (stealable(t, me)) {
					found = t;
					break;
				}
			}
		}
		if (found) {
			rq_remove_locked(v, found);
			found->cpu = me->id;
		}
		spin_unlock(&v->rq.lock);
		if (found)
			return found;
	}
	return NULL;
}

static void switch_to(struct cpu *c, struct thread *prev, struct thread *next)
{
	while (__atomic_load_n(&next->on_cpu, __ATOMIC_ACQUIRE))
		cpu_relax();
	next->on_cpu = 1;
	next->cpu = c->id;
	next->slice_ticks = 0;
	c->prev = prev;
	c->current = next;
	/* Pinned elsewhere while on its way here: schedule() moves it. The
	 * fence pairs with sched_set_pin's (store pin, fence, load current):
	 * either we see the pin or it sees us running it and kicks us. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (__builtin_expect(!may_run_on(next, c->id), 0))
		c->need_resched = 1;
	c->kstack_top = next->kstack_top;
	c->tss.rsp[0] = next->kstack_top;
	arch_switch_io_bitmap(prev, next); /* also frees a dead thread's bitmap */
	c->ctx_switches++;
	if (__atomic_load_n(&c->steal_probe, __ATOMIC_RELAXED))
		__atomic_store_n(&c->steal_probe, 0, __ATOMIC_RELAXED);

	struct vmspace *from = prev->proc ? prev->proc->space : NULL;
	struct vmspace *to = next->proc ? next->proc->space : NULL;
	if (from != to) {
		if (to)
			vmspace_activate(to, c->id);
		paging_activate(to ? vmspace_pml4(to) : kernel_pml4);
		if (from)
			vmspace_deactivate(from, c->id);
	}
	/* User state the kernel does not touch: FPU/SSE, FS base, and the
	 * user GS base (in KERNEL_GS_BASE while in the kernel, after swapgs). */
	if (prev->proc) {
		__asm__ volatile("fxsave64 %0" : "=m"(prev->fpu));
		prev->fs_base = rdmsr(MSR_FS_BASE);
		prev->gs_base = rdmsr(MSR_KERNEL_GS_BASE);
	}
	if (next->proc) {
		__asm__ volatile("fxrstor64 %0" ::"m"(next->fpu));
		wrmsr(MSR_FS_BASE, next->fs_base);
		wrmsr(MSR_KERNEL_GS_BASE, next->gs_base);
	}
	arch_context_switch(&prev->ctx_rsp, next->ctx_rsp);
	sched_finish_switch();
}

static void enqueue_and_kick(struct thread *t, uint32_t cpu);
static void set_cpu_of(struct thread *t, uint32_t cpu);

/* First thing a thread does when switched to: release the thread we came
 * from, and free it if it was dead, or queue it on the CPU it is pinned
 * to if it may not run here (schedule() left it unqueued). */
void sched_finish_switch(void)
{
	struct cpu *c = this_cpu();
	struct thread *prev = c->prev;
	c->prev = NULL;
	if (!prev)
		return;
	bool dead = prev->state == THREAD_DEAD;
	bool moves = c->prev_moves;
	c->prev_moves = false;
	__atomic_store_n(&prev->on_cpu, 0, __ATOMIC_RELEASE);
	if (dead) {
		thread_free(prev);
	} else if (moves) {
		/* RUNNING, on no queue: other wakers leave it alone. */
		uint32_t pin = __atomic_load_n(&prev->pin, __ATOMIC_RELAXED);
		uint32_t to = pin ? pin - 1 : c->id;
		set_cpu_of(prev, to);
		enqueue_and_kick(prev, to);
	}
}

/*
 * The second half of every switch: with this CPU's queue lock held (and
 * prev queued again if it stays runnable), take the next thread, drop the
 * lock, and switch to it. Only a CPU that finds its own queue empty looks
 * at the others (steal() takes their locks, so ours is dropped first).
 */
RQ_INLINE void schedule_locked(struct cpu *c, struct thread *prev)
{
	struct thread *next = rq_pick_locked(c);
	spin_unlock(&c->rq.lock);
	if (!next) {
		next = steal(c);
		if (!next)
			next = c->idle;
	}
	if (next != prev)
		switch_to(c, prev, next);
}

void schedule(void)
{
	assert(!irq_enabled());
	struct cpu *c = this_cpu();
	struct thread *prev = c->current;
	c->need_resched = 0;

	spin_lock(&c->rq.lock);
	if (prev != c->idle && prev->state == THREAD_RUNNING && !prev->queued) {
		if (__builtin_expect(may_run_on(prev, c->id), 1))
			rq_enqueue_locked(c, prev);
		else
			c->prev_moves = true; /* pinned elsewhere: queued there after the switch */
	}
	schedule_locked(c, prev);
}

void sched_yield(void)
{
	unsigned long f = irq_save();
	schedule();
	irq_restore(f);
}

/*
 * At an idle CPU's tick: whether another CPU has a queued thread that may
 * run here (not pinned), and either more than one thread queued or no
 * switch since an idle CPU's earlier tick (steal_probe still set). A CPU
 * that has not switched is busy in the kernel (perhaps with interrupts
 * off) or runs one thread for a long slice, and the thread queued there,
 * even the only one, should not wait for it. A lone thread queued on a CPU
 * that switches all the time stays: it is usually one of two threads
 * handing work to each other there (one queued while the other runs), and
 * splitting them would make every hand-over cost an IPI. A hint read
 * without the locks; steal() checks under the lock.
 */
static bool worth_stealing(struct cpu *me)
{
	bool any = false;
	for (uint32_t i = 0; i < cpu_count; i++) {
		struct cpu *v = &cpus[i];
		if (v == me || !v->online || !__atomic_load_n(&v->rq.nr_movable, __ATOMIC_RELAXED))
			continue;
		if (__atomic_load_n(&v->rq.nr, __ATOMIC_RELAXED) > 1 ||
		    __atomic_exchange_n(&v->steal_probe, 1, __ATOMIC_RELAXED))
			any = true;
	}
	return any;
}

void sched_tick(void)
{
	struct cpu *c = this_cpu();
	c->ticks++;
	struct thread *t = c->current;
	if (t == c->idle) {
		if (c->rq.nr || worth_stealing(c))
			c->need_resched = 1; /* schedule() steals */
		return;
	}
	if (++t->slice_ticks >= SLICE_TICKS) {
		t->slice_ticks = 0;
		c->need_resched = 1;
	}
}

/* Queue t (RUNNING, not queued) on a CPU's run queue and poke that CPU. */
static void enqueue_and_kick(struct thread *t, uint32_t cpu)
{
	struct cpu *target = &cpus[cpu];
	unsigned long f = spin_lock_irqsave(&target->rq.lock);
	t->cpu = cpu;
	rq_enqueue_locked(target, t);
	spin_unlock_irqrestore(&target->rq.lock, f);
	if (target == this_cpu())
		target->need_resched = 1;
	else
		ipi_send(cpu, VEC_IPI_RESCHED);
}

void thread_start(struct thread *t)
{
	/* Least loaded CPU (idle counts as empty), preferring the caller's. */
	uint32_t best = t->pin ? t->pin - 1 : this_cpu()->id;
	if (!t->pin) {
		uint32_t best_load = ~0u;
		for (uint32_t i = 0; i < cpu_count; i++) {
			if (!cpus[i].online)
				continue;
			uint32_t load = cpus[i].rq.nr + (cpus[i].current != cpus[i].idle);
			if (load < best_load) {
				best_load = load;
				best = i;
			}
		}
	}
	t->state = THREAD_RUNNING;
	set_cpu_of(t, best); /* a SET_CPU may be looking at it */
	enqueue_and_kick(t, best);
}

void thread_wake(struct thread *t, uint32_t reason)
{
	unsigned long f = irq_save();
	thread_wake_irqoff(t, reason);
	irq_restore(f);
}

/* t->cpu changes only under the lock of the queue it names: when t moved
 * while we waited for the lock of tc, drop it and lock t's new queue. */
static __attribute__((noinline)) struct cpu *relock_moved(struct thread *t, struct cpu *tc)
{
	while (t->cpu != tc->id) {
		spin_unlock(&tc->rq.lock);
		tc = &cpus[__atomic_load_n(&t->cpu, __ATOMIC_ACQUIRE)];
		spin_lock(&tc->rq.lock);
	}
	return tc;
}

/*
 * Where a thread woken while its last CPU tc, another CPU, runs another
 * thread should go instead: an idle CPU it may run on (preferring this one,
 * when a wake-up from an interrupt finds it idle), or tc when there is
 * none. Otherwise it would wait on tc until tc switches or an idle CPU's
 * tick takes it. Hints read without locks: a CPU that stops being idle
 * meanwhile just runs the thread a little later.
 */
static struct cpu *wake_target(const struct thread *t, struct cpu *tc)
{
	struct cpu *me = this_cpu();
	if (cpu_idle(me) && me != tc && may_run_on(t, me->id) && !me->rq.nr)
		return me;
	for (uint32_t i = 0; i < cpu_count; i++) {
		struct cpu *c = &cpus[i];
		if (c != tc && c->online && cpu_idle(c) && may_run_on(t, i) &&
		    !__atomic_load_n(&c->rq.nr, __ATOMIC_RELAXED))
			return c;
	}
	return tc;
}

/* Name cpu as the CPU of t, which is on no queue, under the lock of the
 * queue t->cpu names now (the rule at the top of the file). */
static void set_cpu_of(struct thread *t, uint32_t cpu)
{
	unsigned long f = irq_save();
	struct cpu *tc = &cpus[__atomic_load_n(&t->cpu, __ATOMIC_ACQUIRE)];
	spin_lock(&tc->rq.lock);
	if (t->cpu != tc->id)
		tc = relock_moved(t, tc);
	assert(!t->queued);
	__atomic_store_n(&t->cpu, cpu, __ATOMIC_RELEASE);
	spin_unlock(&tc->rq.lock);
	irq_restore(f);
}

/* Queue the just-woken t (RUNNING, on no queue) on CPU `to` instead of tc,
 * whose lock the caller holds and this drops: t->cpu is named under it
 * (the rule at the top of the file), then t is queued there. */
static void wake_elsewhere(struct thread *t, struct cpu *tc, uint32_t to)
{
	__atomic_store_n(&t->cpu, to, __ATOMIC_RELEASE);
	spin_unlock(&tc->rq.lock);
	enqueue_and_kick(t, to);
}

void thread_wake_irqoff(struct thread *t, uint32_t reason)
{
	assert(!irq_enabled());
	struct cpu *tc = &cpus[__atomic_load_n(&t->cpu, __ATOMIC_ACQUIRE)];
	spin_lock(&tc->rq.lock);
	if (__builtin_expect(t->cpu != tc->id, 0))
		tc = relock_moved(t, tc);
	if (t->state != THREAD_BLOCKED) {
		spin_unlock(&tc->rq.lock);
		return;
	}
	t->state = THREAD_RUNNING;
	t->wake_reason = reason;
	if (__builtin_expect(t->pin && t->pin - 1 != tc->id && !t->queued, 0)) {
		/* Pinned to another CPU since it last ran. */
		wake_elsewhere(t, tc, t->pin - 1);
		return;
	}
	if (__builtin_expect(tc->id != spin_cpu_id() && !cpu_idle(tc) && !t->queued && !t->pin && !t->on_cpu, 0)) {
		/* Another CPU, busy with another thread. (On the waker's own
		 * CPU t stays: the waker usually blocks next, a hand-over
		 * without an IPI; if it does not, an idle CPU's tick takes
		 * t.) t, RUNNING but on no queue, is left alone by other
		 * wakers until wake_elsewhere() queues it on the chosen CPU. */
		struct cpu *to = wake_target(t, tc);
		if (to != tc) {
			wake_elsewhere(t, tc, to->id);
			return;
		}
	}
	if (!t->queued)
		rq_enqueue_locked(tc, t);
	spin_unlock(&tc->rq.lock);
	if (tc->id == spin_cpu_id())
		tc->need_resched = 1;
	else
		ipi_send(tc->id, VEC_IPI_RESCHED);
}

void sched_set_pin(struct thread *t, uint32_t pin)
{
	unsigned long f = irq_save();
	struct cpu *tc = &cpus[__atomic_load_n(&t->cpu, __ATOMIC_ACQUIRE)];
	spin_lock(&tc->rq.lock);
	if (t->cpu != tc->id)
		tc = relock_moved(t, tc);
	/* A queued thread is taken off and queued again (here or on its
	 * CPU). A thread between queues (RUNNING on none: a wake-up or a
	 * move in flight) may land on a CPU the new pin forbids; switch_to
	 * then has that CPU switch again at once. */
	bool was_queued = t->queued;
	if (was_queued)
		rq_remove_locked(tc, t);
	__atomic_store_n(&t->pin, pin, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_SEQ_CST); /* pairs with switch_to's */
	bool here = may_run_on(t, tc->id);
	bool move = false, kick = false;
	if (was_queued) {
		if (here) {
			rq_enqueue_locked(tc, t);
		} else {
			move = true; /* RUNNING, on no queue: other wakers leave it alone */
			__atomic_store_n(&t->cpu, pin - 1, __ATOMIC_RELEASE); /* under tc's lock */
		}
	} else if (!here && __atomic_load_n(&tc->current, __ATOMIC_RELAXED) == t) {
		kick = true; /* running there: its switch queues it on its own CPU */
	}
	spin_unlock(&tc->rq.lock);
	if (move)
		enqueue_and_kick(t, pin - 1);
	else if (kick && tc->id == spin_cpu_id())
		tc->need_resched = 1;
	else if (kick)
		ipi_send(tc->id, VEC_IPI_RESCHED);
	irq_restore(f);
}

/*
 * Block the current thread and switch away until thread_wake(); interrupts
 * off. The kill check and the state change are made under this CPU's queue
 * lock, the lock a killer's thread_wake() takes to read the state after
 * setting the flag: either we see the flag, or it sees BLOCKED and wakes
 * us. release (may be NULL), the lock a waker takes before waking us, is
 * dropped once we are BLOCKED. When the process is being killed, returns
 * false at once, still RUNNING and with release still held.
 */
bool sched_sleep(spinlock_t *release)
{
	assert(!irq_enabled());
	struct cpu *c = this_cpu();
	struct thread *t = c->current;
	spin_lock(&c->rq.lock);
	if (t->proc && process_killed(t->proc)) {
		spin_unlock(&c->rq.lock);
		return false;
	}
	t->state = THREAD_BLOCKED;
	if (release)
		spin_unlock(release);
	c->need_resched = 0;
	schedule_locked(c, t);
	return true;
}

/* The current thread is ending: mark it DEAD under the queue lock, and take
 * it off the queue if a wake-up (a kill racing with the exit) put it back
 * there — else schedule() would pick a dead thread again. */
void sched_exit_current(void)
{
	struct cpu *c = this_cpu();
	struct thread *t = c->current;
	spin_lock(&c->rq.lock);
	if (t->queued)
		rq_remove_locked(c, t);
	t->state = THREAD_DEAD;
	spin_unlock(&c->rq.lock);
}

__noreturn void sched_idle_loop(void)
{
	for (;;) {
		irq_disable();
		struct cpu *c = this_cpu();
		if (c->need_resched || c->rq.nr) {
			schedule();
			irq_enable();
			continue;
		}
		/* sti takes effect after the next instruction: no lost wakeup. */
		__asm__ volatile("sti; hlt" ::: "memory");
	}
}

static void idle_main(void *arg) { sched_idle_loop(); }

static void init_rq(struct runqueue *rq)
{
	rq->lock = (spinlock_t)SPINLOCK_INIT;
	for (int p = 0; p < SCHED_PRIOS; p++)
		list_init(&rq->queues[p]);
	rq->bitmap = 0;
	rq->first = NULL;
	rq->nr = 0;
	rq->nr_movable = 0;
}

void sched_prepare_cpu(struct cpu *c)
{
	init_rq(&c->rq);
	list_init(&c->timers);
	c->timer_lock = (spinlock_t)SPINLOCK_INIT;
	char name[24];
	snprintf(name, sizeof(name), "idle%u", c->id);
	c->idle = thread_create_kernel(name, idle_main, NULL, PRIO_IDLE);
	if (!c->idle)
		panic("no memory for the idle thread of CPU %u", c->id);
	c->idle->cpu = c->id;
	c->idle->pin = c->id + 1;
}

extern char boot_stack_top[];
struct thread *thread_alloc_struct(void);

void sched_init_boot_cpu(void)
{
	struct cpu *c = &cpus[0];
	sched_prepare_cpu(c);
	struct thread *boot = thread_alloc_struct();
	if (!boot)
		panic("no memory for the boot thread");
	snprintf(boot->name, sizeof(boot->name), "kmain");
	boot->kstack_top = (uint64_t)(uintptr_t)boot_stack_top;
	boot->kstack_base = 0; /* not from the stack allocator: never freed */
	boot->state = THREAD_RUNNING;
	boot->on_cpu = 1;
	boot->cpu = 0;
	boot->prio = PRIO_DEFAULT;
	c->current = boot;
	c->kstack_top = boot->kstack_top;
	c->tss.rsp[0] = boot->kstack_top;
	c->online = true;
}

/* ---- self-test ---- */

static void steal_victim(void *arg)
{
	__atomic_store_n((volatile uint32_t *)arg, this_cpu()->id + 1, __ATOMIC_RELEASE);
}

/*
 * A thread queued on a CPU that is busy in the kernel with interrupts off
 * (so it cannot switch) is taken by an idle CPU at its next tick, even
 * when it is the only thread queued there.
 */
SELFTEST(sched_idle_cpu_steals)
{
	if (cpu_count < 2)
		return NULL;
	static volatile uint32_t ran_on; /* 1 + the CPU the thread ran on */
	ran_on = 0;
	struct thread *t = thread_create_kernel("stealme", steal_victim, (void *)&ran_on, PRIO_DEFAULT);
	ST_CHECK(t);
	unsigned long f = irq_save();
	uint32_t me = this_cpu()->id;
	t->state = THREAD_RUNNING;
	enqueue_and_kick(t, me); /* queued here; this CPU will not switch */
	uint64_t deadline = clock_ns() + 2000000000ull;
	while (!__atomic_load_n(&ran_on, __ATOMIC_ACQUIRE) && clock_ns() < deadline) {
		cpu_relax();
		smp_call_poll();
	}
	uint32_t got = __atomic_load_n(&ran_on, __ATOMIC_ACQUIRE);
	irq_restore(f); /* when not stolen, it runs here now */
	ST_CHECK(got != 0);
	ST_CHECK(got != me + 1);
	return NULL;
}

/*
 * A thread's pin may change while it is queued (sched_set_pin racing with
 * a wake-up that is queueing it): taking it off the queue must undo what
 * queueing counted, whatever the pin is by then. Queued pinned here, then
 * unpinned behind the queue's back, it is picked or stolen: nr_movable
 * must not wrap below zero.
 */
static void pin_acct_fn(void *arg)
{
	__atomic_store_n((volatile uint32_t *)arg, 1, __ATOMIC_RELEASE);
}

SELFTEST(sched_pin_accounting)
{
	static volatile uint32_t ran;
	ran = 0;
	struct thread *t = thread_create_kernel("pinacct", pin_acct_fn, (void *)&ran, PRIO_DEFAULT);
	ST_CHECK(t);
	unsigned long f = irq_save();
	struct cpu *c = this_cpu();
	t->pin = c->id + 1;
	t->state = THREAD_RUNNING;
	enqueue_and_kick(t, c->id);
	__atomic_store_n(&t->pin, 0, __ATOMIC_RELAXED); /* the racing unpin */
	irq_restore(f);
	uint64_t deadline = clock_ns() + 2000000000ull;
	while (!__atomic_load_n(&ran, __ATOMIC_ACQUIRE) && clock_ns() < deadline)
		sched_yield();
	ST_CHECK(ran);
	ST_CHECK(__atomic_load_n(&c->rq.nr_movable, __ATOMIC_RELAXED) < 1000);
	return NULL;
}

/*
 * A thread woken while its last CPU is busy with another thread goes to an
 * idle CPU at once, not after the busy CPU switches or an idle CPU's tick
 * takes it. Here: CPU `busy` spins (interrupts off) while a timer on this
 * CPU, idle meanwhile, wakes a thread that last ran on `busy`.
 */
static struct {
	struct thread *woken;
	uint32_t busy;		/* the spinning CPU */
	volatile uint32_t spinning, release, placed, ran_on, idle_at_wake;
	uint32_t exited; /* atomic: the two threads that have finished */
	struct waitq wq;
} wp;

static void wp_spinner(void *arg)
{
	(void)arg;
	unsigned long f = irq_save();
	__atomic_store_n(&wp.spinning, 1, __ATOMIC_RELEASE);
	uint64_t deadline = clock_ns() + 500000000ull;
	while (!__atomic_load_n(&wp.release, __ATOMIC_ACQUIRE) && clock_ns() < deadline) {
		cpu_relax();
		smp_call_poll();
	}
	irq_restore(f);
	__atomic_add_fetch(&wp.exited, 1, __ATOMIC_RELEASE);
}

static void wp_woken(void *arg)
{
	(void)arg;
	unsigned long f = irq_save();
	uint32_t cpu = this_cpu()->id;
	irq_restore(f);
	__atomic_store_n(&wp.ran_on, cpu + 1, __ATOMIC_RELEASE);
	waitq_wake_all(&wp.wq);
	/* Stay until the test is done with this thread's record. */
	while (!__atomic_load_n(&wp.release, __ATOMIC_ACQUIRE))
		sched_yield();
	__atomic_add_fetch(&wp.exited, 1, __ATOMIC_RELEASE);
}

/* Let both threads of an attempt finish (they read wp), then whether they did. */
static bool wp_finish(void)
{
	__atomic_store_n(&wp.release, 1, __ATOMIC_RELEASE);
	uint64_t deadline = clock_ns() + 1000000000ull;
	while (__atomic_load_n(&wp.exited, __ATOMIC_ACQUIRE) < 2 && clock_ns() < deadline)
		sched_yield();
	return __atomic_load_n(&wp.exited, __ATOMIC_ACQUIRE) == 2;
}

static void wp_timer(struct ktimer *k)
{
	(void)k;
	wp.idle_at_wake = cpu_idle(this_cpu());
	thread_wake(wp.woken, 0);
	wp.placed = __atomic_load_n(&wp.woken->cpu, __ATOMIC_RELAXED) + 1;
}

SELFTEST(sched_wake_goes_to_idle_cpu)
{
	if (cpu_count < 2)
		return NULL;
	for (int attempt = 0; attempt < 3; attempt++) {
		unsigned long f = irq_save();
		uint32_t me = this_cpu()->id;
		irq_restore(f);
		wp.busy = me == 0 ? 1 : 0;
		wp.spinning = wp.release = wp.placed = wp.ran_on = wp.idle_at_wake = wp.exited = 0;
		waitq_init(&wp.wq);
		struct thread *s = thread_create_kernel("wp-spin", wp_spinner, NULL, PRIO_DEFAULT);
		wp.woken = thread_create_kernel("wp-woken", wp_woken, NULL, PRIO_DEFAULT);
		ST_CHECK(s && wp.woken);
		s->pin = wp.busy + 1;
		thread_start(s);
		uint64_t deadline = clock_ns() + 200000000ull;
		while (!__atomic_load_n(&wp.spinning, __ATOMIC_ACQUIRE) && clock_ns() < deadline)
			cpu_relax();
		ST_CHECK(wp.spinning);
		wp.woken->cpu = wp.busy; /* it "last ran" on the busy CPU; blocked, never run */

		/* Sleep, so that this CPU idles when the timer fires here. */
		struct ktimer k = {0};
		f = spin_lock_irqsave(&wp.wq.lock);
		if (this_cpu()->id == wp.busy) { /* moved meanwhile: try again */
			spin_unlock_irqrestore(&wp.wq.lock, f);
			__atomic_store_n(&wp.release, 1, __ATOMIC_RELEASE);
			thread_wake(wp.woken, 0);
			ST_CHECK(wp_finish());
			continue;
		}
		ktimer_arm(&k, clock_ns() + 5000000ull, wp_timer);
		while (!__atomic_load_n(&wp.ran_on, __ATOMIC_ACQUIRE) && clock_ns() < deadline + 200000000ull) {
			waitq_sleep_locked(&wp.wq, f, clock_ns() + 20000000ull);
			f = spin_lock_irqsave(&wp.wq.lock);
		}
		spin_unlock_irqrestore(&wp.wq.lock, f);
		bool pending = ktimer_cancel(&k);
		__atomic_store_n(&wp.release, 1, __ATOMIC_RELEASE);
		if (pending)
			thread_wake(wp.woken, 0); /* let it end */
		ST_CHECK(wp_finish());
		ST_CHECK(wp.ran_on);
		if (!wp.idle_at_wake)
			continue; /* this CPU was busy when the timer fired: try again */
		ST_CHECK(wp.placed != wp.busy + 1);
		ST_CHECK(wp.ran_on != wp.busy + 1);
		return NULL;
	}
	return "this CPU never idle when the timer fired";
}
