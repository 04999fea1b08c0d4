/*
 * Processes (kernel/generic/process.c): an address space, threads and an
 * exit status. This is the bootstrap model (spawn from the initramfs, wait);
 * the object model with handles replaces spawn/wait later.
 */
#ifndef KERN_PROCESS_H
#define KERN_PROCESS_H

#include <alder/syscall.h>
#include <kern/list.h>
#include <kern/object.h>
#include <kern/spinlock.h>
#include <kern/waitq.h>
#include <kern/types.h>

#define USER_STACK_TOP 0x00007fff00000000ull
#define USER_STACK_SIZE (64 * 1024)

struct process {
	uint32_t pid;
	uint32_t parent_pid;
	uint32_t supervisor_pid;          /* 0: none; else faults and foreign syscalls are observed */
	paddr_t pml4;
	struct vmspace *space;            /* the process's address space (holds a reference) */
	struct handle_table handles;
	char name[32];
	uint8_t cred_id[16];              /* immutable: the credential id streams deliver
	                                   * (alder_creds.id): the pid, then 8 random bytes */

	/* exited.lock protects the fields below. */
	struct waitq exited;              /* woken when nthreads drops to 0 */
	struct list threads;              /* struct thread.proc_link */
	uint32_t nthreads;                /* live threads */
	uint32_t ncreated;                /* of those, never started yet (t->created): when
	                                   * they are all that is left, p ends */
	bool exiting;                     /* first exit/kill seen, or the last thread that was
	                                   * ever started has left; status fixed, and no
	                                   * thread is waiting for its first start any more */
	bool started;                     /* a thread of it has ever been started */
	bool abandoned;                   /* never started, and its thread's last handle went:
	                                   * out of the table when it ends (set before that
	                                   * thread runs, read after it ended) */
	bool reaped;                      /* under table_lock: a waiter has it */
	struct alder_exit_info exit;
	uint32_t refs;                    /* atomic: table slot + each thread + waiters */
};

void process_init(const void *initramfs, size_t len);
/* The calling thread's process (NULL for kernel threads). */
struct process *proc_current(void);
/* Load path from the initramfs as a new process with the argument string.
 * give (optional) becomes the child's handle 1 with give_rights. */
long process_spawn(const char *path, const char *arg, size_t arg_len, uint32_t parent, struct kobj *give,
		   uint32_t give_rights);
/* Wait for child pid of the caller; fill info. */
long process_wait(uint32_t pid, struct alder_exit_info *info);
/*
 * A new process without threads in space (takes a reference), child of
 * parent, supervised by supervisor (0: none); it appears in the process
 * table at once. Add threads with process_add_thread_stopped(). Returns
 * the process (the table holds the reference) or NULL.
 */
struct process *process_create(struct vmspace *space, uint32_t parent, uint32_t supervisor, const char *name);
/* Undo process_create() for a process that never got a thread: it leaves
 * the table (status ALDER_EXIT_KILLED for a waiter that found it). */
void process_discard(struct process *p);
/* A new thread in p, created stopped (not queued; t->created, so that
 * ALDER_THREAD_START or a kill starts it): rip, rsp, rdi = arg. Returns it
 * with a reference for the caller (p's thread list holds it too) or NULL
 * (-ESRCH/-ENOMEM in *err). Dropping that reference without handing it on
 * ends the thread (thread_unreferenced). */
struct thread *process_add_thread_stopped(struct process *p, uint64_t rip, uint64_t rsp, uint64_t arg, int *err);
/*
 * The last outside reference to t (its handles, operations on it) went
 * while t had never been started (thread_unreferenced): start it only to
 * exit at once. If t's process never ran, t is its only thread and the
 * process ends with it: status ALDER_EXIT_KILLED, and it leaves the table
 * at once (a waiter already waiting still gets it). Nothing happens if t
 * was started meanwhile. Context: any (kobj.unreferenced); takes
 * p->exited.lock, t->obs.lock and a run-queue lock.
 */
void process_drop_unstarted(struct thread *t);
/*
 * ALDER_THREAD_START of t, made by process_add_thread_stopped(): 0 when
 * it starts (it runs, and keeps its process alive); -ALDER_EBUSY when it
 * was started already; -ALDER_ESRCH when it has ended, or its process is
 * ending (killed, exited, or its last started thread has left: t is then
 * started only to exit, or was). Decided under p->exited.lock, so a START
 * and the end of p's last started thread come in one order or the other.
 * The caller holds a reference to t. Takes t->obs.lock, p->exited.lock
 * and a run-queue lock.
 */
long process_start_thread(struct thread *t);
/* Kill p from outside (how = ALDER_EXIT_KILLED unless a status is set). */
void process_kill(struct process *p);
/* End the calling thread's process: the first caller sets the status. */
__noreturn void process_exit(int how, int status, uint64_t fault_addr);
/* Called by thread_exit for user threads. When the last thread that was
 * ever started leaves, p ends (status ALDER_EXIT_NORMAL, 0 unless one is
 * set) and threads that were never started are started only to exit;
 * when the last thread of all leaves, p's handles and stream chains go
 * and its waiters wake. */
void process_thread_gone(struct process *p);
/* p is being killed or is exiting: long operations on its behalf stop. */
static inline bool process_killed(struct process *p)
{
	return __atomic_load_n(&p->exiting, __ATOMIC_ACQUIRE);
}
/* A new thread in p entering user mode at rip with rsp and rdi = arg;
 * returns its tid, or -ALDER_ESRCH when p is exiting. */
long process_add_thread(struct process *p, uint64_t rip, uint64_t rsp, uint64_t arg);
/* Take a reference to p (the caller holds one already, or p's table slot
 * under the table lock); returns p. The process struct, its space and its
 * handle table stay until the matching process_put(). */
struct process *process_get(struct process *p);
/* Drop a reference (threads hold one each, the process table one). */
void process_put(struct process *p);
uint32_t process_count(void);

#endif
