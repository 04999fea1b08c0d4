/*
 * lib/rt event loop and operation records: the one place an Alder server
 * thread waits.
 *
 * A loop owns one kernel queue (abi/alder/queue.h). Work is described by
 * operation records (struct rt_op) that the CALLER owns, usually embedded in
 * its own per-request struct: the runtime never allocates one. The SQE
 * context word is the record's address, so a completion finds its record
 * without a lookup.
 *
 * Exactly once. After rt_op_start (or rt_op_start_local) returns 0, the op's
 * completion is delivered exactly once: its done function runs, or (done ==
 * NULL) the fibril that awaits it resumes. That happens
 *   - when the kernel completes it (result = the CQE's result, aux = aux),
 *   - after rt_op_cancel: with -ALDER_ECANCELED, or with the real result if
 *     the op completed before the cancel reached it (the race is reported
 *     honestly: a receive that did receive is not turned into a cancel),
 *   - at rt_loop_shutdown: likewise, as for a cancel.
 * If rt_op_start returns an error the op was not started and nothing is
 * ever delivered.
 *
 * Context. Done functions run on the loop's thread, from the dispatcher
 * (inside rt_loop_run, rt_loop_run_once or rt_loop_shutdown), on the
 * thread's own stack, never inside rt_op_start/rt_op_cancel/rt_op_complete
 * and never on a fibril. A done function may start, cancel or complete any
 * op (including restarting its own), start fibrils, call rt_loop_stop, and
 * free the record: the runtime does not touch the record after calling done.
 * It must not wait (no rt_await, no rt_loop_run).
 *
 * Lifetime (Zircon async_wait): the caller keeps the record, and whatever
 * buffers the operation names, valid and unmoved from rt_op_start until its
 * completion has been delivered. Cancelling does not end that obligation:
 * the kernel may still be writing into a receive buffer until the op
 * completes. rt_loop_shutdown returns only after the kernel has handed every
 * op back, so after it no kernel access to any op's buffers remains.
 *
 * Threads. A loop and its ops belong to the thread that calls rt_loop_init
 * (the kernel queue is per thread). Nothing here is thread safe; wake a loop
 * from another thread with a kernel event (rt/event.h).
 *
 * Back-pressure. The kernel takes a submission only while it has room to
 * post its completion (queue.h). The loop keeps its own count so the CQ can
 * never overflow, and keeps one CQ slot for cancels (a cancel needs a slot
 * too; without the reserve a queue full of long ops could not be
 * cancelled). SQEs that do not fit in the ring, or that the budget forbids,
 * wait in a FIFO backlog inside the loop; when only ring space holds them,
 * the loop submits without waiting and refills the ring before it blocks.
 * SQEs the kernel declines stay in the ring for the next sys_queue_enter.
 * Nothing is ever dropped, and ops reach the kernel in the order they were
 * started.
 */
#ifndef RT_LOOP_H
#define RT_LOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <alder/errno.h>
#include <alder/handle.h>
#include <alder/queue.h>
#include <alder/stream.h>

/* clang-format off */
#define rt_container_of(ptr, type, member) ((type *)(void *)((char *)(ptr) - offsetof(type, member)))
/* clang-format on */

/* An intrusive doubly linked list node / head (private to lib/rt). A node
 * that is on no list points at itself or is all zero. */
struct rt_link {
	struct rt_link *next, *prev;
};

struct rt_loop;
struct rt_op;
struct rt_fibril;

/* Called exactly once per started op; see the file comment for context. */
typedef void rt_op_done_fn(struct rt_op *op);

/* States of an op (rt_op.state; private, shown for debugging). */
enum rt_op_state {
	RT_OP_IDLE = 0,	 /* not started, or its completion was delivered */
	RT_OP_BACKLOG,	 /* started; its SQE waits in the loop (ring or CQ budget full) */
	RT_OP_SUBMITTED, /* SQE written to the ring: the kernel owns the op */
	RT_OP_LOCAL,	 /* started with rt_op_start_local; waits for rt_op_complete */
	RT_OP_REAPED,	 /* CQE reaped; waiting for the CQE of its cancel */
	RT_OP_FINISHING, /* result fixed; delivery pending in the dispatcher */
	RT_OP_UNCLAIMED, /* done == NULL op finished before anyone awaited it */
};

/*
 * An operation record. Zero it (RT_OP_INIT or rt_op_init) before first use;
 * after its completion has been delivered it may be prepared and started
 * again. Fields marked private belong to the runtime while the op is busy.
 */
struct rt_op {
	/* Results: valid in the done function / after rt_await returns. */
	int64_t result;	 /* >= 0 success, -ALDER_E* failure */
	uint64_t aux[2]; /* op-specific (queue.h, stream.h); 0 for local ops */

	/* What to submit: written by rt_op_prep*, read at submission. */
	struct alder_sqe sqe;

	/* Private. */
	struct rt_loop *loop;
	rt_op_done_fn *done;
	struct rt_fibril *waiter;   /* fibril parked in rt_await */
	struct rt_link link;	    /* backlog, inflight or finishing list of the loop */
	struct rt_link cancel_link; /* loop->cancel_backlog while its cancel SQE waits */
	uint8_t state;		    /* enum rt_op_state */
	uint8_t flags;		    /* RT_OPF_* (loop.c) */
	uint16_t reserved0;
	uint32_t reserved1;
};

/* clang-format off */
#define RT_OP_INIT {0}
/* clang-format on */

/* The mapped kernel queue (private; filled by the platform layer). */
struct rt_ring {
	alder_handle_t handle;
	uint32_t sq_entries, cq_entries;
	struct alder_queue_header *hdr;
	struct alder_sqe *sq;
	struct alder_cqe *cq;
	uint64_t map_addr, map_size;
	void *plat; /* platform private (host: the fake queue) */
};

struct rt_loop_config {
	uint32_t sq_entries;  /* 0: RT_LOOP_DEFAULT_SQ */
	uint32_t cq_entries;  /* 0: RT_LOOP_DEFAULT_CQ; at least 2 (one is kept for cancels) */
	size_t stack_size;    /* default fibril stack (usable bytes); 0: RT_FIBRIL_DEFAULT_STACK */
	uint32_t stack_cache; /* default-size stacks kept for reuse; 0: RT_LOOP_DEFAULT_STACK_CACHE,
				 RT_LOOP_NO_STACK_CACHE for none */
};

#define RT_LOOP_DEFAULT_SQ 64u
#define RT_LOOP_DEFAULT_CQ 256u
#define RT_LOOP_DEFAULT_STACK_CACHE 8u
#define RT_LOOP_NO_STACK_CACHE UINT32_MAX

/* Counters for tests and diagnostics; never reset except by rt_loop_init. */
struct rt_loop_stats {
	uint64_t started;	 /* ops accepted by rt_op_start / rt_op_start_local */
	uint64_t delivered;	 /* completions delivered (done run or awaiter woken) */
	uint64_t cqes;		 /* CQEs reaped (ops and cancels) */
	uint64_t enters;	 /* sys_queue_enter calls */
	uint64_t short_enters;	 /* enters that took fewer SQEs than offered */
	uint64_t backlogged;	 /* SQEs (ops or cancels) that had to wait in the backlog */
	uint64_t cancels_sent;	 /* ALDER_OP_CANCEL SQEs written */
	uint64_t cancels_missed; /* ... that found nothing (-ALDER_ENOENT: the op had completed) */
	uint64_t switches;	 /* switches into fibrils */
	uint64_t detached;	 /* detached submissions written (rt_stream_send_detached) */
	uint64_t detached_failed; /* ... that completed with an error (their only CQE) */
};

/* Detached submissions in the SQ at once (each keeps its action in the
 * loop until the kernel has taken its SQE). */
#define RT_DETACHED_SLOTS 8

/*
 * A loop. Private: use the functions below. Every field is touched only on
 * the owning thread; the ring fields are shared with the kernel as queue.h
 * says (sq_tail and cq_head published with release stores, sq_head and
 * cq_tail read with acquire loads).
 */
struct rt_loop {
	struct rt_ring ring;
	uint32_t sq_tail;     /* our copy of hdr->sq_tail */
	uint32_t cq_head;     /* our copy of hdr->cq_head */
	uint32_t ops_out;     /* op SQEs in the ring or kernel whose CQE is not reaped */
	uint32_t cancels_out; /* cancel SQEs likewise */

	struct rt_link backlog;	       /* RT_OP_BACKLOG ops, in start order */
	struct rt_link cancel_backlog; /* ops whose cancel SQE waits (via cancel_link) */
	struct rt_link inflight;       /* SUBMITTED, LOCAL and REAPED ops */
	struct rt_link finishing;      /* FINISHING ops, in completion order */

	struct rt_link ready;	   /* READY fibrils, FIFO */
	struct rt_link fibrils;	   /* every fibril started and not yet exited */
	struct rt_fibril *current; /* the running fibril; NULL in the dispatcher */
	void *sched_sp;		   /* dispatcher's stack pointer while a fibril runs */
	void *stack_cache;	   /* free default-size stacks (fibril.c) */
	uint32_t stack_cache_len, stack_cache_max;
	size_t stack_size;
	uint32_t fibrils_alive;

	uint32_t depth;	    /* > 0 while the dispatcher runs */
	bool stop;	    /* rt_loop_stop was called */
	bool shutting_down; /* rt_loop_shutdown has begun: starts are refused */
	bool shut_down;	    /* rt_loop_shutdown finished */
	bool ready_to_use;  /* rt_loop_init succeeded and rt_loop_fini not called */

	struct rt_loop_stats stats;

	/* Detached submissions (stream.h): the action of each, kept until the
	 * kernel has consumed the SQE at index detached_sq[i]. */
	struct alder_action detached[RT_DETACHED_SLOTS];
	uint32_t detached_sq[RT_DETACHED_SLOTS];
	uint8_t detached_busy[RT_DETACHED_SLOTS];
	uint32_t detached_next;

	/* AddressSanitizer fiber bookkeeping (fibril.c); unused otherwise. */
	void *san_fake;
	const void *san_bottom;
	size_t san_size;
};

/* rt_loop_run's results. */
#define RT_LOOP_IDLE 0	  /* nothing left that could make progress */
#define RT_LOOP_STOPPED 1 /* rt_loop_stop was called */

/*
 * Create the queue and initialise the loop (cfg may be NULL for defaults).
 * Returns 0, -ALDER_EINVAL (bad sizes), or the kernel's error.
 */
int rt_loop_init(struct rt_loop *loop, const struct rt_loop_config *cfg);

/*
 * Release the queue and cached stacks. Call after rt_loop_shutdown (asserted),
 * not from inside the loop. Fibrils still parked after a failed shutdown are
 * abandoned: their stacks are freed and nothing of theirs runs again. If
 * shutdown failed with a queue error, ops still in the kernel are never
 * delivered; closing the queue makes the kernel cancel them.
 */
void rt_loop_fini(struct rt_loop *loop);

/*
 * Dispatch until rt_loop_stop is called (RT_LOOP_STOPPED) or nothing could
 * make progress any more (RT_LOOP_IDLE: no op in the kernel, no fibril ready,
 * no completion pending; ops started with rt_op_start_local may remain).
 * Waits in sys_queue_enter when there is nothing else to do: this is the
 * only place a server thread blocks. Returns a negative errno if the queue
 * itself fails. Not from a done function or a fibril.
 */
int rt_loop_run(struct rt_loop *loop);

/*
 * One round: reap completions, run the fibrils that are ready, submit, and
 * if wait is true and nothing else is runnable, wait for one completion.
 * Returns a count of the work done (CQEs reaped, local completions
 * delivered, fibril runs; 0: nothing happened), or a negative errno. Not
 * from a done function or a fibril.
 */
int rt_loop_run_once(struct rt_loop *loop, bool wait);

/* Make rt_loop_run return after the current round. Any context on the loop's thread. */
void rt_loop_stop(struct rt_loop *loop);

/*
 * Shut the loop down: from now on rt_op_start*, rt_fibril_start/spawn fail
 * with -ALDER_ECANCELED. Every op the kernel has not seen completes with
 * -ALDER_ECANCELED at once (delivered from the dispatcher as usual); every
 * local op likewise; every op in the kernel is cancelled, and the loop keeps
 * dispatching until the kernel has returned ALL of them and no fibril is
 * ready. Fibrils see -ALDER_ECANCELED from their awaits and are expected to
 * unwind and exit. Returns 0; -ALDER_EBUSY if fibrils are still parked when
 * nothing else can happen (waiting on each other); or the queue's error.
 * Not from a done function or a fibril. Idempotent.
 */
int rt_loop_shutdown(struct rt_loop *loop);

/* A copy of the loop's counters. */
struct rt_loop_stats rt_loop_get_stats(const struct rt_loop *loop);

/* ---- Operations -------------------------------------------------------- */

/* Zero a record (equivalent to = RT_OP_INIT). */
void rt_op_init(struct rt_op *op);

/* Describe what to submit. Overwrites op->sqe; only on an idle op. */
void rt_op_prep(struct rt_op *op, uint32_t opcode, alder_handle_t handle, uint64_t a0, uint64_t a1,
		uint64_t a2, uint64_t a3);
void rt_op_prep_nop(struct rt_op *op);

/*
 * Start op on loop. done == NULL means a fibril will rt_await it.
 * Returns 0 (the completion will be delivered exactly once), -ALDER_EBUSY
 * (op is still busy), -ALDER_EINVAL (opcode ALDER_OP_CANCEL: use
 * rt_op_cancel), -ALDER_ECANCELED (the loop is shutting down).
 * The SQE goes into the ring at once when it fits; the kernel sees it at the
 * loop's next sys_queue_enter. Any context on the loop's thread.
 */
int rt_op_start(struct rt_loop *loop, struct rt_op *op, rt_op_done_fn *done);

/*
 * Start an op that no kernel object completes: it stays in flight until
 * rt_op_complete, rt_op_cancel or shutdown. Use it to make anything
 * awaitable (a request handed from one fibril to another, a user-space
 * condition). Same results as rt_op_start.
 */
int rt_op_start_local(struct rt_loop *loop, struct rt_op *op, rt_op_done_fn *done);

/*
 * Complete a local op with result (aux = 0). Returns true if this call
 * completed it, false if it was not a local op in flight (already completed,
 * cancelled, or never started): so two racing completers cannot both win.
 * Delivery happens later, from the dispatcher.
 */
bool rt_op_complete(struct rt_op *op, int64_t result);

/*
 * Ask for op to end early. Returns true if this call did something:
 *   - op still in the loop's backlog (never seen by the kernel) or a local
 *     op: it completes with -ALDER_ECANCELED (delivered from the dispatcher);
 *   - op in the kernel: an ALDER_OP_CANCEL is submitted; op then completes
 *     with -ALDER_ECANCELED, or with its real result if it got there first.
 * Returns false, changing nothing, if op is idle, already completed (even if
 * not yet delivered) or already being cancelled. Either way the completion
 * is delivered exactly once, and not before the cancel's own CQE has been
 * reaped (so the record may be freed from done without a stray CQE naming
 * it later). Never delivers inline. Any context on the loop's thread.
 */
bool rt_op_cancel(struct rt_op *op);

/* True from a successful start until the completion has been delivered
 * (for a done == NULL op: until it finished). */
bool rt_op_busy(const struct rt_op *op);

#endif
