/*
 * Queues, kernel side (kernel/generic/queue.c): the one path by which every
 * asynchronous operation in the kernel reports back to user space.
 *
 * A user queue (abi/alder/queue.h) is a ring pair shared with one process.
 * sys_queue_enter copies each submission (SQE) out of the ring, checks the
 * generic fields, and hands it to the handler registered for its op code
 * (QUEUE_OP_REGISTER below). The handler either answers at once (returns a
 * result) or starts an asynchronous operation: it embeds a struct kop in a
 * record it owns, calls kop_begin(), and later — from any context —
 * kop_complete() exactly once. This header is the contract between queue.c
 * and every subsystem that completes into queues (timers, events, streams,
 * IRQ objects, observation). It is not for user-visible layout: that is
 * abi/alder/queue.h.
 *
 * Back-pressure. The dispatcher accepts (consumes) an SQE only while
 *     in_flight + (cq_tail - cq_head) < cq_entries
 * i.e. only while the CQ has a slot for it that no accepted operation and
 * no unconsumed CQE already claims. It then reserves that slot for the SQE
 * (in_flight counts it from that moment). kop_begin() turns the reservation
 * into a running operation; an immediate result uses it at once. So
 * kop_begin() cannot run out of room, and kop_complete() always has a slot:
 * no completion is ever dropped while the queue is alive and user space
 * plays by the ring rules. (A process that moves cq_head past entries it has
 * not read overwrites its own CQEs; the kernel only ever writes inside the
 * ring.)
 *
 * Queue death. A queue dies when its last handle (kobj reference) goes.
 * Then every operation in flight is cancelled (its cancel callback runs, as
 * for ALDER_OP_CANCEL), waiters in sys_queue_enter return, and later
 * kop_complete() calls on its operations are accepted and dropped: the
 * completion goes nowhere, release still runs. The kernel's struct queue
 * stays allocated until the last operation on it is released, so an owner
 * that completes late never touches freed memory. The ring mapping in the
 * creator's address space is not removed (it is ordinary memory; the
 * process may unmap it).
 *
 * Lock order: a subsystem's own locks may be held while calling
 * kop_complete() (queue.c's lock is a leaf under them), but queue.c calls
 * cancel and release with none of its locks held, and release may run
 * inside kop_complete() — so release must not take a lock the caller of
 * kop_complete() may hold.
 */
#ifndef KERN_KQUEUE_H
#define KERN_KQUEUE_H

#include <alder/queue.h>
#include <kern/list.h>
#include <kern/types.h>

struct queue; /* opaque: queue.c */
struct process;
struct kop;

/* What a handler returns when it has called kop_begin() successfully. Any
 * other value is the operation's result, completed at once (aux from
 * kop_submit.aux). */
#define KOP_STARTED INT64_MIN

struct kop_ops {
	/*
	 * Ask the operation to finish early. The owner stops it if it still
	 * can and completes it with kop_complete(op, -ALDER_ECANCELED, ...) —
	 * inside this callback or later; if the operation is already finishing
	 * (it lost the race), the callback does nothing and the normal
	 * completion stands. Either way the operation still completes exactly
	 * once. A callback that can never stop its operation may be empty:
	 * the operation then completes normally whenever it does.
	 *
	 * Context: any, including interrupt context and with interrupts off
	 *   (it runs from ALDER_OP_CANCEL in the submitting thread, or from
	 *   the queue's destroy, i.e. wherever the last queue reference is
	 *   dropped). Must not sleep; take only IRQ-saving locks. No queue.c
	 *   lock is held.
	 * Invoked: at most once per operation, only between kop_begin() and
	 *   the release callback.
	 * Caller alive: op is valid for the whole call, even if kop_complete()
	 *   runs concurrently on another CPU (release is held back until the
	 *   callback returns).
	 * Races with: the owner's own completion path (a timer firing, a
	 *   signal, a stream match); the owner's lock or an atomic claim must
	 *   decide which of the two completes.
	 * Required (not NULL).
	 */
	void (*cancel)(struct kop *op);
	/*
	 * The queue layer is done with op: the owner may free (or reuse) it.
	 *
	 * Context: any, including interrupt context (it may run inside
	 *   kop_complete(), or at the end of a cancel). Must not sleep; take
	 *   only IRQ-saving locks; see the lock-order rule above.
	 * Invoked: exactly once per successful kop_begin(), after
	 *   kop_complete() and after any running cancel callback has returned.
	 * Caller alive: op is valid until this returns; never touched again by
	 *   queue.c afterwards.
	 * Beware: a ktimer callback must not free the ktimer that is firing
	 *   (timer_run_expired() writes to it after the callback returns);
	 *   an owner that completes from a ktimer callback must defer the free
	 *   (see queue.c's timer operations).
	 * Required (not NULL).
	 */
	void (*release)(struct kop *op);
};

/*
 * An operation in flight: embedded in the owner's record (for example a
 * timer, an event waiter, a stream action chain). The owner allocates and
 * frees it; queue.c owns the fields between kop_begin() and release. The
 * owner reads only context (and opcode) — the rest is private.
 */
struct kop {
	uint64_t context; /* from the SQE; read-only after kop_begin */
	uint32_t opcode;  /* ALDER_OP_*; read-only after kop_begin */
	bool skip_success; /* ALDER_SQE_SKIP_SUCCESS; read-only after kop_begin */
	/* Private to queue.c, under the queue's lock. */
	uint32_t state;	     /* KOP_STATE_* bits in queue.c */
	struct queue *queue; /* holds an internal reference until release */
	const struct kop_ops *ops;
	struct list link; /* queue's list of operations in flight */
};

/*
 * One accepted SQE, as handed to a handler. The dispatcher has already
 * checked op (in range), flags (known ALDER_SQE_* bits only) and reserved
 * == 0, and holds a CQ slot for it. Handler-specific fields (handle, args) are unchecked user input.
 */
struct kop_submit {
	struct queue *queue;  /* the queue; valid for the handler call */
	struct process *proc; /* the submitter (proc_current()): handles
				 in the SQE name its handle table */
	struct alder_sqe sqe; /* kernel copy; the user can no longer change it */
	uint64_t aux[2];      /* the CQE's aux for a result the handler returns
				 (not KOP_STARTED); 0 unless the handler sets them */
	bool started;	      /* private: kop_begin() was called */
};

/*
 * A handler for one op code.
 *
 * Context: the submitting thread, in sys_queue_enter, interrupts on, no
 *   locks held; may fault on user memory (copy_from_user) but should not
 *   block: everything that waits is an operation, not a sleep.
 * Returns: KOP_STARTED after a successful kop_begin(), else the result to
 *   complete the SQE with at once (>= 0 or -ALDER_E*), with sub->aux as the
 *   CQE's aux values.
 * Must not keep sub after returning (copy what it needs).
 */
typedef int64_t (*queue_op_fn)(struct kop_submit *sub);

struct queue_op_entry {
	uint32_t op; /* ALDER_OP_* */
	queue_op_fn fn;
};

/*
 * Register fn as the handler of op code op, in the file that implements
 * it, like SYSCALL_REGISTER. One handler per op code (a self-test checks);
 * an op code without a handler completes with -ALDER_ENOSYS.
 * Collected from the "queue_ops" section (the linker provides
 * __start_queue_ops / __stop_queue_ops).
 */
#define QUEUE_OP_REGISTER(opcode, handler)                                                                   \
	static const struct queue_op_entry queue_op_entry_##handler                                          \
	    __attribute__((used, section("queue_ops"), aligned(8))) = {(opcode), handler}

/*
 * Start an asynchronous operation for the SQE in sub: op takes the SQE's
 * context and the slot the dispatcher reserved, and goes on the queue's
 * list of operations in flight (so ALDER_OP_CANCEL and queue death find
 * it). ops->cancel and ops->release must be set.
 *
 * Context: the handler, at most once per handler call.
 * Returns: 0; or -ALDER_ECANCELED when the queue died meanwhile (its last
 *   handle was closed by another thread): the operation was not started,
 *   the owner still owns op, no callback will run; the handler cleans up
 *   and returns an error (which goes nowhere).
 * After 0, op must be completed with kop_complete() exactly once, and not
 * freed before release.
 */
int kop_begin(struct kop *op, struct kop_submit *sub, const struct kop_ops *ops);

/*
 * Whether sub's queue is dying (its last handle is gone), as kop_begin()
 * would see it now. For a handler that completes at once without
 * kop_begin() but must not start anything for a dying queue (its result
 * would go nowhere). The answer may be stale a moment later, as
 * kop_begin()'s may.
 */
bool kop_queue_dying(const struct kop_submit *sub);

/*
 * Complete op: write {context, result, aux0, aux1} into the next CQ slot
 * (nothing, only the slot released, for a successful result of an SQE with
 * ALDER_SQE_SKIP_SUCCESS)
 * (through the kernel's mapping of the ring), publish cq_tail with release
 * order, drop in_flight and wake threads waiting in sys_queue_enter. Into a
 * dead queue the completion is dropped. Then release runs — here, unless a
 * cancel callback is running, in which case it runs when that returns.
 *
 * Context: any, including interrupt context; the caller may hold its own
 *   IRQ-saving locks (see the lock-order rule at the top).
 * Exactly once per started operation (a second call panics: it is a
 * kernel bug). After the call, op belongs to queue.c until release.
 * Races with: cancel (see kop_ops.cancel) and queue death; both are safe.
 */
void kop_complete(struct kop *op, int64_t result, uint64_t aux0, uint64_t aux1);

#endif
