/*
 * Per-CPU data. Each CPU reaches its own struct cpu through GS base (in
 * kernel mode); other CPUs' structs through cpus[]. Fields are written only
 * by their own CPU unless a comment says otherwise.
 */
#ifndef KERN_CPU_H
#define KERN_CPU_H

#include <kern/list.h>
#include <kern/spinlock.h>
#include <kern/types.h>

#define MAX_CPUS 64
#define SCHED_PRIOS 8 /* 0 = highest */

struct thread;
struct heap_cpu;

struct runqueue {
	spinlock_t lock;            /* protects everything below, and the
	                               queued/state fields of threads on it */
	struct list queues[SCHED_PRIOS];
	uint32_t bitmap;            /* bit p set: queues[p] non-empty */
	struct thread *first;       /* the oldest queued thread, when it waits
	                               outside the lists (sched.c) */
	uint32_t nr;                /* threads queued */
	uint32_t nr_movable;        /* of those, queued while not pinned
	                               (thread.queued_movable); other CPUs
	                               read it without the lock */
};

/*
 * The 64-bit TSS followed by its I/O permission bitmap: one bit per port,
 * clear = user mode may use the port. The byte after the 8 KiB bitmap must
 * be all ones (the CPU reads two bytes for an access at the end). The bitmap
 * is all ones (deny) except while a thread that was given ports runs on this
 * CPU; only kernel/arch/x86_64/ioport.c writes it, with interrupts off on
 * this CPU (the context-switch hook and SYS_IOPORT_ENABLE).
 */
#define TSS_IOMAP_BYTES (65536 / 8)

struct tss {
	uint32_t reserved0;
	uint64_t rsp[3];
	uint64_t reserved1;
	uint64_t ist[7];
	uint64_t reserved2;
	uint16_t reserved3;
	uint16_t iomap_base;          /* offsetof(struct tss, iomap) */
	uint8_t iomap[TSS_IOMAP_BYTES + 1];
} __packed;
_Static_assert(__builtin_offsetof(struct tss, iomap) == 104, "TSS layout");

struct cpu {
	/* Read by assembly at fixed offsets (syscall.S): keep first. */
	struct cpu *self;           /* gs:0 */
	uint64_t kstack_top;        /* gs:8  kernel stack of the current thread */
	uint64_t user_rsp;          /* gs:16 scratch for SYSCALL entry */
	struct thread *current;     /* gs:24 */

	uint32_t id;                /* index in cpus[] */
	uint32_t apic_id;
	bool online;
	struct thread *idle;
	struct thread *prev;        /* thread switched away from; see sched.c */
	bool prev_moves;            /* prev stays runnable but may not run here: the
	                             * switch queues it on its own CPU (sched.c) */
	struct runqueue rq;

	/* Timers that expire on this CPU (kernel/generic/timer.c). */
	spinlock_t timer_lock;
	struct list timers;

	uint64_t ticks;
	uint64_t irq_count;
	uint64_t ctx_switches;
	/* Set (atomic exchange) by idle CPUs at their tick, cleared here at
	 * every switch: still set at a later tick means no switch since
	 * (sched.c, worth_stealing). */
	uint32_t steal_probe;
	volatile uint32_t need_resched; /* set by IPIs and wakeups; checked on IRQ return */

	/* The heap's magazines and counters while this CPU uses them, else
	 * NULL (heap.c only; read with this_cpu_heap()). */
	struct heap_cpu *heap;

	uint64_t gdt[8] __aligned(16);
	struct tss tss;
	uint8_t *ist_stacks[3];
};

extern struct cpu cpus[MAX_CPUS];
extern uint32_t cpu_count; /* CPUs online */

static inline struct cpu *this_cpu(void)
{
	struct cpu *c;
	__asm__ volatile("mov %%gs:0, %0" : "=r"(c));
	return c;
}

/*
 * this_cpu()->heap in one instruction, for the heap's fast paths. Unlike
 * this_cpu(), valid from kmain's first instruction on: kmain points GS at
 * cpus[0] before anything else, and the field is NULL until heap.c sets it
 * (self, read by this_cpu(), only becomes valid in cpu_setup_common).
 * Interrupts must be off for the result to stay this CPU's.
 */
static inline struct heap_cpu *this_cpu_heap(void)
{
	struct heap_cpu *h;
	__asm__ volatile("mov %%gs:%c1, %0" : "=r"(h) : "i"(__builtin_offsetof(struct cpu, heap)));
	return h;
}

#define CPU_OFF_KSTACK 8
#define CPU_OFF_USER_RSP 16
#define CPU_OFF_ID 32
_Static_assert(__builtin_offsetof(struct cpu, id) == CPU_OFF_ID, "spin_cpu_id reads gs:CPU_OFF_ID");

#endif
