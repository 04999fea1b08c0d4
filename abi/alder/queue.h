/*
 * Queues: the shape of all asynchronous I/O in Alder (like io_uring).
 *
 * A queue is one page-aligned block of memory shared by the kernel and the
 * process: a header, a submission ring (SQ) of struct alder_sqe and a
 * completion ring (CQ) of struct alder_cqe. sys_queue_create maps it into
 * the caller's address space. Ring sizes are powers of two; indices are free
 * running 32-bit counters, the slot is index & mask.
 *
 * Submitting: the user fills sq[sq_tail & sq_mask], then stores sq_tail + 1
 * with release order, then calls sys_queue_enter (which may also wait).
 * Completing: the kernel fills cq[cq_tail & cq_mask], then stores cq_tail + 1
 * with release order. The user reads entries up to cq_tail (acquire) and
 * stores cq_head with release order when it has consumed them.
 *
 * Back-pressure: the kernel accepts a submission only while
 *     in_flight + (cq_tail - cq_head) < cq_entries,
 * i.e. while the CQ has a slot that neither an accepted operation nor an
 * unread CQE already claims; so every completion has a slot and none is
 * ever dropped. sys_queue_enter returns how many it took; the rest stay in
 * the SQ for the next call. An ALDER_OP_CANCEL needs a slot too: size
 * cq_entries above the most operations you keep in flight.
 *
 * sys_queue_enter(queue, to_submit, min_complete, timeout_ns): consumes up
 * to to_submit SQEs, then waits until min_complete CQEs are unread or
 * timeout_ns (relative; 0 = none) passes. Returns the number consumed;
 * -ETIMEDOUT / -EINTR (killed) / -ECANCELED (the queue was closed by
 * another thread) only when it consumed nothing. -EINVAL without consuming
 * anything when the user's indices are impossible (sq_tail - sq_head >
 * entries, cq_tail - cq_head > entries) or min_complete > cq_entries. Needs
 * READ and WRITE. Closing the last queue handle cancels its operations; the
 * ring stays mapped (unmap it yourself).
 *
 * Timers complete with 0 at their deadline (at once if it has passed).
 * CANCEL completes with 0 when it found the target (whose -ECANCELED CQE
 * comes first) or -ENOENT. Events are edge-triggered: an EVENT_WAIT
 * completes at the first signal after it was submitted, with the counter
 * value after that signal; a signal with no wait pending is not stored.
 * Closing the last event handle completes pending waits with -EPIPE.
 *
 * Every operation completes exactly once: with its result, with
 * -ALDER_ECANCELED after a cancel, or with an error when its object goes
 * away (for example -ALDER_EPIPE when the peer lane is closed).
 */
#ifndef ALDER_ABI_QUEUE_H
#define ALDER_ABI_QUEUE_H

#include <stdint.h>
#include <alder/handle.h>

/* Operations (alder_sqe.op). */
#define ALDER_OP_NOP 0         /* completes at once with result 0 */
#define ALDER_OP_TIMER 1       /* args[0]: monotonic deadline in ns; result 0 when it passes */
#define ALDER_OP_CANCEL 2      /* args[0]: context of an op in flight on this queue;
                                  result 0, or -ENOENT if none (the op completes with -ECANCELED) */
#define ALDER_OP_EVENT_WAIT 3  /* handle: event; completes when it is signalled; result: its counter */
#define ALDER_OP_STREAM 4      /* handle: lane; args[0]: user pointer to struct alder_action[],
                                  args[1]: count (see stream.h) */
#define ALDER_OP_IRQ_WAIT 5    /* handle: IRQ; args[0]: last sequence seen */
#define ALDER_OP_OBSERVE 6     /* handle: thread; completes with the next observation */
#define ALDER_OP_COUNT 7

/*
 * SQE flags.
 *   SKIP_SUCCESS  post no CQE when the operation succeeds (result >= 0); a
 *                 failure still completes with a CQE. For requests whose
 *                 success needs no action (a reply sent and forgotten). The
 *                 slot the operation held is released either way.
 */
#define ALDER_SQE_SKIP_SUCCESS (1u << 0)
#define ALDER_SQE_FLAGS_ALL 0x1u

struct alder_sqe {            /* written by the user, read by the kernel */
	uint32_t op;              /* ALDER_OP_* */
	uint32_t flags;           /* ALDER_SQE_*; other bits must be 0 */
	alder_handle_t handle;    /* the object the operation acts on, if any */
	uint32_t reserved;        /* must be 0 */
	uint64_t context;         /* opaque to the kernel; returned in the CQE */
	uint64_t args[4];
};
_Static_assert(sizeof(struct alder_sqe) == 56, "alder_sqe layout");

struct alder_cqe {            /* written by the kernel, read by the user */
	uint64_t context;         /* from the SQE */
	int64_t result;           /* >= 0 on success, -ALDER_E* on failure */
	uint64_t aux[2];          /* op-specific */
};
_Static_assert(sizeof(struct alder_cqe) == 32, "alder_cqe layout");

struct alder_queue_header {
	uint32_t sq_head;   /* kernel writes (release), user reads (acquire) */
	uint32_t sq_tail;   /* user writes (release), kernel reads (acquire) */
	uint32_t cq_head;   /* user writes (release), kernel reads (acquire) */
	uint32_t cq_tail;   /* kernel writes (release), user reads (acquire) */
	uint32_t sq_mask;   /* kernel writes once at creation: entries - 1 */
	uint32_t cq_mask;
	uint32_t sq_offset; /* byte offset of the SQE array from the header */
	uint32_t cq_offset; /* byte offset of the CQE array */
	uint32_t in_flight; /* kernel writes: operations accepted and not completed */
	uint32_t reserved[7];
};
_Static_assert(sizeof(struct alder_queue_header) == 64, "alder_queue_header layout");

/* sys_queue_create result (written by the kernel). */
struct alder_queue_params {
	uint64_t ring_addr;    /* where the queue memory is mapped in the caller */
	uint64_t ring_size;    /* bytes */
	uint32_t sq_entries;
	uint32_t cq_entries;
};

#define ALDER_QUEUE_MAX_ENTRIES 4096

#endif
