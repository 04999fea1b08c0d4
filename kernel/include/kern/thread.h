/*
 * Threads and the scheduler (kernel/generic/sched.c, thread.c).
 *
 * A thread is RUNNING (on a CPU or queued), BLOCKED (on a wait queue or
 * sleeping) or DEAD. Preemptive priority round-robin; each CPU has its own
 * run queue and steals from others when idle.
 */
#ifndef KERN_THREAD_H
#define KERN_THREAD_H

#include <kern/list.h>
#include <kern/object.h>
#include <kern/types.h>
#include <kern/waitq.h>

enum thread_state { THREAD_RUNNING, THREAD_BLOCKED, THREAD_DEAD };

#define KSTACK_SIZE (16 * 1024)
#define PRIO_DEFAULT 4
#define PRIO_IDLE (SCHED_PRIOS - 1)

struct process;
struct trap_frame;

struct thread {
	uint64_t ctx_rsp;             /* saved kernel rsp while switched out */
	uint64_t kstack_top;
	vaddr_t kstack_base;          /* lowest mapped byte (guard page below) */
	struct process *proc;         /* NULL for kernel threads */
	uint32_t tid;
	uint32_t pid;                 /* proc's pid, set when the thread joins it; kept after the
	                               * thread ends (ALDER_THREAD_GETPID); 0 for kernel threads */
	char name[24];

	/* Protected by the lock of the run queue of cpus[cpu]. */
	enum thread_state state;
	bool queued;                  /* on a run queue */
	bool queued_movable;          /* queued while unpinned: counted in that queue's
	                               * nr_movable (pin may change while queued) */
	uint32_t cpu;                 /* CPU it runs on or last ran on */
	uint8_t prio;
	uint32_t pin;                 /* 0: any CPU; else 1 + the only CPU it may run on */
	struct list rq_link;

	volatile uint32_t on_cpu;     /* set while a CPU is running it (incl. mid-switch) */
	volatile uint32_t wake_reason;/* set by the waker; see waitq.h */
	uint32_t slice_ticks;

	struct list proc_link;        /* process's thread list, under proc->exited.lock */
	uint64_t fs_base;             /* user FS/GS base, saved while switched out */
	uint64_t gs_base;

	/*
	 * The thread as an object (thread handles). The initial reference is
	 * the thread's own, dropped by thread_free(); handles add theirs, so
	 * the struct outlives the thread while handles to it remain. When
	 * the last of those goes before the thread was ever started, the
	 * thread is ended (thread.c, thread_unreferenced).
	 */
	struct kobj obj;

	/* Observation and control (kernel/generic/observe.c). obs.lock
	 * protects these, and the thread's register frame while stopped. */
	struct waitq obs;             /* the thread sleeps here while stopped */
	bool gone;                    /* exiting: no more control operations */
	bool created;                 /* made by SYS_THREAD_NEW, not started yet; goes
	                               * false once, never back (also read atomically),
	                               * with proc->exited.lock held too (process.c,
	                               * claim_created: proc->ncreated counts these) */
	bool dropped;                 /* its last handle went before it was started: it is
	                               * started only to exit (set before thread_start) */
	bool stopped;                 /* stopped for an observation */
	bool stop_requested;          /* ALDER_THREAD_STOP: stop at return to user */
	bool unreported;              /* stopped, and no OBSERVE has reported it */
	uint32_t obs_cause, obs_code; /* ALDER_OBS_*, syscall number or vector */
	uint64_t obs_addr;
	struct kop *obs_op;           /* a pending ALDER_OP_OBSERVE */

	uint8_t fpu[512] __aligned(16); /* FXSAVE image */
};

struct cpu;
/* Boot CPU: wrap the running boot code as a thread and create the idle
 * thread. Other CPUs: sched_prepare_cpu() creates the idle thread whose
 * stack the CPU starts on. */
void sched_init_boot_cpu(void);
void sched_prepare_cpu(struct cpu *c);
__noreturn void sched_idle_loop(void);
void schedule(void);           /* with IRQs disabled */
void sched_yield(void);
void sched_tick(void);         /* from the timer interrupt */
/* Block the current thread and switch away until it is woken (interrupts
 * off), dropping release (may be NULL) once it is marked blocked. Returns
 * false without sleeping, release still held, when its process is being
 * killed. See sched.c. */
bool sched_sleep(spinlock_t *release);
void sched_exit_current(void);  /* thread_exit: mark the current thread DEAD */
/* Make t RUNNING if it is BLOCKED, with reason as its wake_reason; else
 * nothing. Any context; _irqoff when interrupts are off already. */
void thread_wake(struct thread *t, uint32_t reason);
void thread_wake_irqoff(struct thread *t, uint32_t reason);
/* Queue a new thread for the first time. */
void thread_start(struct thread *t);
/* Let t run only on CPU pin - 1 (pin 0: on any). It moves at once: when
 * queued, to that CPU's queue; when running elsewhere, at a switch its CPU
 * is asked to make now (the current thread: before it returns to user
 * mode); when blocked, at its wake-up. Any context but interrupts. */
void sched_set_pin(struct thread *t, uint32_t pin);
static inline struct thread *thread_current(void);

struct thread *thread_create_kernel(const char *name, void (*fn)(void *), void *arg, uint8_t prio);
/* A thread that will enter user mode at rip with rsp, rdi, rsi. */
struct thread *thread_create_user(struct process *p, uint64_t rip, uint64_t rsp, uint64_t rdi, uint64_t rsi);
__noreturn void thread_exit(void);
/* Free a dead thread's memory; from the scheduler, on another stack. */
void thread_free(struct thread *t);
/* Sleep until the monotonic clock reaches deadline (ns). Returns 0, or
 * -ALDER_EINTR when the thread's process is being killed. */
int thread_sleep_until(uint64_t deadline);

#include <kern/cpu.h>
static inline struct thread *thread_current(void)
{
	struct thread *t;
	__asm__ volatile("mov %%gs:24, %0" : "=r"(t));
	return t;
}

#endif
