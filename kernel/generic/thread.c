/*
 * Thread objects and their kernel stacks. Stacks live in the KSTACK_REGION,
 * one slot per stack with an unmapped guard page below it, so an overflow
 * faults (and becomes a double fault on the IST stack, which names it)
 * instead of silently corrupting the neighbour. Freed stacks keep their
 * frames and go on a free list for the next thread.
 */
#include <kern/assert.h>
#include <kern/heap.h>
#include <kern/log.h>
#include <kern/pmm.h>
#include <kern/process.h>
#include <kern/string.h>
#include <kern/thread.h>
#include <kern/waitq.h>
#include <kern/observe.h>
#include <arch/cpu.h>
#include <arch/paging.h>
#include <arch/switch.h>
#include <arch/trap.h>
#include <alder/errno.h>

#define KSTACK_SLOT (KSTACK_SIZE + PAGE_SIZE)
#define KSTACK_MAX_SLOTS 65536

void thread_trampoline(void);
void arch_enter_user(struct trap_frame *f);
struct thread *thread_alloc_struct(void);

static struct kmem_cache *thread_cache;
static spinlock_t kstack_lock = SPINLOCK_INIT;
static uint64_t kstack_next_slot;        /* under kstack_lock */
static struct list kstack_free = LIST_INIT(kstack_free);
static uint32_t next_tid = 1;

/* A free stack keeps a list node at its lowest address. */
static vaddr_t kstack_alloc(void)
{
	unsigned long f = spin_lock_irqsave(&kstack_lock);
	struct list *n = list_first(&kstack_free);
	if (n) {
		list_remove(n);
		spin_unlock_irqrestore(&kstack_lock, f);
		return (vaddr_t)(uintptr_t)n;
	}
	if (kstack_next_slot >= KSTACK_MAX_SLOTS) {
		spin_unlock_irqrestore(&kstack_lock, f);
		return 0;
	}
	uint64_t slot = kstack_next_slot++;
	spin_unlock_irqrestore(&kstack_lock, f);
	vaddr_t base = KSTACK_REGION + slot * KSTACK_SLOT + PAGE_SIZE;
	for (size_t i = 0; i < KSTACK_SIZE / PAGE_SIZE; i++) {
		paddr_t p = pmm_alloc();
		if (!p || paging_map(kernel_pml4, base + i * PAGE_SIZE, p, MAP_WRITE)) {
			/* Out of memory: give back what this slot got; the slot
			 * number itself stays used (fresh mappings need no flush). */
			if (p)
				pmm_free(p);
			while (i--)
				pmm_free(paging_unmap(kernel_pml4, base + i * PAGE_SIZE));
			return 0;
		}
	}
	return base;
}

static void kstack_release(vaddr_t base)
{
	struct list *n = (struct list *)(uintptr_t)base;
	unsigned long f = spin_lock_irqsave(&kstack_lock);
	list_init(n);
	list_append(&kstack_free, n);
	spin_unlock_irqrestore(&kstack_lock, f);
}

static void thread_destroy(struct kobj *o)
{
	struct thread *t = container_of(o, struct thread, obj);
	kmem_cache_free(thread_cache, t);
}

/*
 * Nothing but the thread itself names it any more (kobj.unreferenced).
 * A thread that was never started can now never be: end it. created only
 * ever goes from true to false, and nobody holds t->obs.lock while it is
 * true and drops a reference (observe.c), so the unlocked check is enough
 * to stay away from that lock when there is nothing to do.
 */
static void thread_unreferenced(struct kobj *o)
{
	struct thread *t = container_of(o, struct thread, obj);
	if (__atomic_load_n(&t->created, __ATOMIC_ACQUIRE))
		process_drop_unstarted(t);
}

static const struct kobj_ops thread_ops = { "thread", thread_destroy };

struct thread *thread_alloc_struct(void)
{
	if (!thread_cache) {
		thread_cache = kmem_cache_create("thread", sizeof(struct thread), 64);
		if (!thread_cache)
			return NULL;
	}
	struct thread *t = kmem_cache_alloc(thread_cache);
	if (!t)
		return NULL;
	memset(t, 0, sizeof(*t));
	list_init(&t->rq_link);
	list_init(&t->proc_link);
	waitq_init(&t->obs);
	kobj_init(&t->obj, ALDER_OBJ_THREAD, &thread_ops);
	t->obj.unreferenced = thread_unreferenced;
	t->tid = __atomic_fetch_add(&next_tid, 1, __ATOMIC_RELAXED);
	/* FXSAVE defaults: x87 control word 0x37f, MXCSR 0x1f80. */
	t->fpu[0] = 0x7f;
	t->fpu[1] = 0x03;
	t->fpu[24] = 0x80;
	t->fpu[25] = 0x1f;
	return t;
}

struct thread *thread_create_kernel(const char *name, void (*fn)(void *), void *arg, uint8_t prio)
{
	struct thread *t = thread_alloc_struct();
	if (!t)
		return NULL;
	t->kstack_base = kstack_alloc();
	if (!t->kstack_base) {
		kobj_put(&t->obj);
		return NULL;
	}
	t->kstack_top = t->kstack_base + KSTACK_SIZE;
	size_t n = strlen(name);
	if (n >= sizeof(t->name))
		n = sizeof(t->name) - 1;
	memcpy(t->name, name, n);
	t->prio = prio < SCHED_PRIOS ? prio : PRIO_DEFAULT;
	t->state = THREAD_BLOCKED; /* until thread_start */

	/* Initial stack as arch_context_switch resumes it (arch/switch.h):
	 * into thread_trampoline, which takes rbp, fn and arg from it. */
	uint64_t *sp = (uint64_t *)(uintptr_t)(t->kstack_top - 2 * sizeof(struct trap_frame));
	sp -= ARCH_INIT_WORDS;
	sp[ARCH_INIT_RESUME] = (uint64_t)(uintptr_t)thread_trampoline;
	sp[ARCH_INIT_RBP] = 0;
	sp[ARCH_INIT_FN] = (uint64_t)(uintptr_t)fn;
	sp[ARCH_INIT_ARG] = (uint64_t)(uintptr_t)arg;
	t->ctx_rsp = (uint64_t)(uintptr_t)sp;
	return t;
}

static void enter_user(void *arg)
{
	struct thread *t = arg;
	/* Killed before it ever ran (a created thread of a dying process), or
	 * its last handle went before anyone started it. */
	if (t->proc && (process_killed(t->proc) || t->dropped))
		thread_exit();
	irq_disable();
	arch_enter_user((struct trap_frame *)(uintptr_t)(t->kstack_top - sizeof(struct trap_frame)));
}

struct thread *thread_create_user(struct process *p, uint64_t rip, uint64_t rsp, uint64_t rdi, uint64_t rsi)
{
	struct thread *t = thread_create_kernel(p->name, enter_user, NULL, PRIO_DEFAULT);
	if (!t)
		return NULL;
	/* enter_user's argument is the thread itself. */
	((uint64_t *)(uintptr_t)t->ctx_rsp)[ARCH_INIT_ARG] = (uint64_t)(uintptr_t)t;
	t->proc = p;
	struct trap_frame *f = (struct trap_frame *)(uintptr_t)(t->kstack_top - sizeof(struct trap_frame));
	memset(f, 0, sizeof(*f));
	f->rip = rip;
	f->rsp = rsp;
	f->rdi = rdi;
	f->rsi = rsi;
	f->cs = USER_CS;
	f->ss = USER_SS;
	f->rflags = RFLAGS_IF | 2;
	return t;
}

__noreturn void thread_exit(void)
{
	struct thread *t = thread_current();
	if (t->proc) {
		observe_thread_exit(t);
		process_thread_gone(t->proc);
	}
	irq_disable();
	sched_exit_current();
	schedule();
	panic("dead thread %u scheduled", t->tid);
}

void thread_free(struct thread *t)
{
	assert(t->state == THREAD_DEAD && !t->on_cpu);
	struct process *p = t->proc;
	if (p) {
		unsigned long f = spin_lock_irqsave(&p->exited.lock);
		if (list_linked(&t->proc_link))
			list_remove(&t->proc_link);
		spin_unlock_irqrestore(&p->exited.lock, f);
	}
	if (t->kstack_base)
		kstack_release(t->kstack_base);
	t->kstack_base = 0;
	t->proc = NULL;
	if (p)
		process_put(p);
	kobj_put(&t->obj);
}

static void sleep_timeout(struct ktimer *tm);

struct sleeper {
	struct ktimer timer;
	struct thread *thread;
};

static void sleep_timeout(struct ktimer *tm)
{
	struct sleeper *s = container_of(tm, struct sleeper, timer);
	thread_wake(s->thread, WAKE_TIMEOUT);
}

int thread_sleep_until(uint64_t deadline)
{
	struct thread *t = thread_current();
	struct sleeper s = { .thread = t };
	unsigned long f = irq_save();
	t->wake_reason = WAKE_NONE;
	/* Armed before we block: it fires on this CPU, whose interrupts stay
	 * off until we have switched away. */
	ktimer_arm(&s.timer, deadline, sleep_timeout);
	bool slept = sched_sleep(NULL);
	ktimer_cancel(&s.timer);
	uint32_t why = slept ? t->wake_reason : WAKE_KILL;
	irq_restore(f);
	return why == WAKE_KILL ? -ALDER_EINTR : 0;
}
