/*
 * Streams: Alder's IPC (kernel/generic/stream.c).
 *
 * A stream is a conversation with two ends, its *lanes* (ALDER_OBJ_LANE
 * handles). SYS_STREAM_CREATE(alder_handle_t lanes[2]) makes one and installs
 * both lanes in the caller (rights READ | WRITE | TRANSFER | DUPLICATE); one
 * of them is usually pushed to another process over an existing stream.
 * Returns 0; -ALDER_EFAULT (lanes not writable: nothing is installed),
 * -ALDER_ENOMEM, -ALDER_EMFILE.
 *
 * Each side submits CHAINS of actions: one ALDER_OP_STREAM SQE (queue.h)
 * with handle = a lane, args[0] = user address of struct alder_action[],
 * args[1] = the number of actions (1..ALDER_STREAM_MAX_CHAIN), args[2] =
 * ALDER_STREAM_* chain flags (below), args[3] = 0. The lane handle needs
 * WRITE when the chain holds an action
 * that gives something (OFFER, SEND, PUSH_HANDLE, IMBUE_CREDS, DISMISS) and
 * READ when it holds one that takes something (ACCEPT, RECEIVE, PULL_HANDLE,
 * EXTRACT_CREDS).
 *
 * Matching. The actions of a lane form one FIFO: the actions of a chain, in
 * array order, then those of the next chain submitted on that lane. The
 * kernel pairs the first unmatched action of one lane with the first of the
 * other:
 *     OFFER <-> ACCEPT             a child conversation (a new stream); each
 *                                  side gets a lane of it in out_handle
 *     SEND <-> RECEIVE             data (any send form with any receive form)
 *     PUSH_HANDLE <-> PULL_HANDLE  a handle (copied; the sender keeps its own)
 *     IMBUE_CREDS <-> EXTRACT_CREDS  the imbuer's credentials, filled in by
 *                                  the kernel (the imbuer cannot forge them)
 * Any other pair fails both actions with -ALDER_EPROTO; matching then goes on
 * with the next pair (each action is resolved on its own, a failure does not
 * skip the rest of its chain).
 *
 * With ALDER_ACTION_CHAIN on an OFFER or ACCEPT, the actions after it in the
 * same chain act on the child stream (on the new lane) instead: they are
 * queued there, ahead of anything submitted later on the new lane, when the
 * offer and accept meet. If the offer/accept fails, they fail with the same
 * error.
 *
 * DISMISS needs no partner: when it is the first unmatched action of its lane
 * it completes with 0 and ends the conversation: every unmatched action on
 * either lane, and every later one, completes with -ALDER_EPIPE. It must be
 * the last action of its chain.
 *
 * Closing the last handle of a lane (which also happens when its process
 * dies) ends the conversation the same way: pending and later actions on the
 * other lane complete with -ALDER_EPIPE. A lane being carried by a pushed
 * handle is still open.
 *
 * Data is copied once, directly from the sender's memory to the receiver's
 * (page by page through the kernel's direct map, no intermediate buffer), at
 * the moment the actions meet, by whichever side completed the pair. A SEND
 * of at most ALDER_ACTION_INLINE_MAX bytes from a buffer is read when the
 * chain is submitted instead (like inline data), so a later change to the
 * buffer is not seen; the buffer must stay mapped until the CQE either way.
 *
 * Completion. A chain completes with ONE CQE when all its actions are
 * resolved: result = the status of the first failed action in array order,
 * or 0; aux[0] = the number of leading actions that succeeded (= count on
 * success); aux[1] = 0. Before the CQE is posted, the kernel writes each
 * action's outputs (the fields marked "kernel writes") back into the
 * submitter's array; if that write faults, a result of 0 becomes
 * -ALDER_EFAULT. The array must stay mapped and must not be modified until
 * the CQE arrives.
 *
 * Submission errors. The whole array (and each scatter-gather array) is
 * copied in and every field checked before anything is queued. If anything
 * is wrong, the chain completes at once with that error, nothing is matched,
 * nothing is written back, aux[0] = 0 and aux[1] = the index of the
 * offending action:
 *   -ALDER_EINVAL  count 0 or above the maximum, unknown type or flag, a
 *                  reserved field not 0, a length above a limit, a buffer
 *                  range not inside user space, DISMISS not last, CHAIN on
 *                  an action that is not OFFER/ACCEPT or on the last action
 *   -ALDER_EFAULT  the action array or a scatter-gather array unreadable
 *   -ALDER_EBADF / -ALDER_EBADFD / -ALDER_EACCES  PUSH_HANDLE of a handle
 *                  that does not exist / is a pseudo-handle / lacks
 *                  ALDER_RIGHT_TRANSFER; and the same for the lane handle
 *   -ALDER_ENOMEM
 *
 * Per-action errors (status):
 *   -ALDER_EPIPE    the conversation ended (dismissed, or a lane closed); or
 *                   one of the two processes of a copy is being killed
 *   -ALDER_EPROTO   the peer's matching action was of another kind
 *   -ALDER_EMSGSIZE the data does not fit the receiver's buffer; nothing is
 *                   copied; see alder_action.length
 *   -ALDER_EFAULT   this side's buffer faulted during the copy (bytes before
 *                   the fault are delivered: length says how many)
 *   -ALDER_EIO      the PEER's buffer faulted during the copy, or the peer
 *                   could not take the handle this side pushed
 *   -ALDER_EMFILE / -ALDER_ENOMEM  a received handle (pulled, or the new
 *                   lane of an OFFER/ACCEPT) could not be installed; for a
 *                   new lane, the peer's end then sees a closed conversation
 *   -ALDER_ECANCELED  the chain was cancelled (ALDER_OP_CANCEL, or its queue
 *                   died) before this action met its partner; actions that
 *                   had met complete normally, and the peer's actions behind
 *                   the cancelled ones move up in the FIFO
 *
 * Handles travel as copies: the sender keeps its handle, which is looked up
 * (with ALDER_RIGHT_TRANSFER) when the chain is submitted; the object is
 * held from then until the chain completes.
 *
 * Chain flags (args[2]):
 *   DROP_LANE     the lane handle is consumed: closed by the submission,
 *                 also when the chain is refused for its actions (an
 *                 unreadable array included). Nothing is closed when the
 *                 SQE is refused before the lane is looked up (bad args,
 *                 an array range outside user space), when the handle is
 *                 not a lane, or when the queue is dying (the SQE then
 *                 fails with -ECANCELED). The chain keeps the lane open
 *                 until it completes, then lets it go (the last holder
 *                 closes the side). "Reply and hang up" in one step,
 *                 without a race with the reply.
 *   NO_WRITEBACK  nothing is written back into the array: the CQE is the
 *                 only result, and the array is the caller's again as soon
 *                 as the submission returns. With ALDER_SQE_SKIP_SUCCESS and
 *                 inline data, a fire-and-forget SEND.
 *   NOWAIT        the chain runs only if it completes within its
 *                 submission: each action meets one already queued on the
 *                 other lane, or fails at once (-EPIPE on an ended
 *                 conversation, -EPROTO against a mismatch). Otherwise
 *                 nothing runs and the SQE fails with -ALDER_EAGAIN (aux
 *                 0, 0; nothing written back; a DROP_LANE handle is
 *                 consumed all the same). Such a chain never holds a
 *                 completion slot beyond its submission. Not with
 *                 ALDER_ACTION_CHAIN actions (-ALDER_EINVAL at the first):
 *                 their later segments depend on the child conversation.
 *
 * Transient lanes: ALDER_ACTION_NO_HANDLE on an OFFER or ACCEPT with
 * ALDER_ACTION_CHAIN installs no handle for this side's lane of the child
 * conversation (out_handle stays 0): the chain holds it while the rest of the
 * chain runs on it and lets it go when the chain completes, which closes
 * that side. A remote procedure call is then OFFER(CHAIN | NO_HANDLE),
 * SEND, RECEIVE with nothing to close afterwards.
 */
#ifndef ALDER_ABI_STREAM_H
#define ALDER_ABI_STREAM_H

#include <stdint.h>
#include <alder/handle.h>

/* Limits. */
#define ALDER_STREAM_MAX_CHAIN 32	       /* actions in one chain */
#define ALDER_ACTION_INLINE_MAX 64	       /* bytes of inline data */
#define ALDER_STREAM_MAX_IOV 64		       /* entries of a scatter-gather array */
#define ALDER_STREAM_MAX_TRANSFER (1ull << 30) /* bytes in one SEND/RECEIVE */

/* Action types (alder_action.type). 0 is invalid so that a zeroed action is
 * rejected. */
#define ALDER_ACTION_OFFER 1
#define ALDER_ACTION_ACCEPT 2
#define ALDER_ACTION_SEND 3
#define ALDER_ACTION_RECEIVE 4
#define ALDER_ACTION_PUSH_HANDLE 5
#define ALDER_ACTION_PULL_HANDLE 6
#define ALDER_ACTION_IMBUE_CREDS 7
#define ALDER_ACTION_EXTRACT_CREDS 8
#define ALDER_ACTION_DISMISS 9
#define ALDER_ACTION_TYPE_COUNT 10

/*
 * Flags (alder_action.flags).
 *   CHAIN   OFFER/ACCEPT: the rest of the chain acts on the child stream;
 *           not on the last action
 *   INLINE  SEND/RECEIVE: the data is in alder_action.data
 *   SG      SEND/RECEIVE: buf is a struct alder_iovec[], len its entry
 *           count (0..ALDER_STREAM_MAX_IOV)
 *   NO_HANDLE  OFFER/ACCEPT, only with CHAIN: no handle for the new lane
 *           (see "Transient lanes" at the top)
 */
#define ALDER_ACTION_CHAIN (1u << 0)
#define ALDER_ACTION_INLINE (1u << 1)
#define ALDER_ACTION_SG (1u << 2)
#define ALDER_ACTION_NO_HANDLE (1u << 3) /* OFFER/ACCEPT with CHAIN: see "Transient lanes" */
#define ALDER_ACTION_FLAGS_ALL 0xfu

/* Chain flags (ALDER_OP_STREAM args[2]); see the top of this file. */
#define ALDER_STREAM_DROP_LANE (1u << 0)
#define ALDER_STREAM_NO_WRITEBACK (1u << 1)
#define ALDER_STREAM_NOWAIT (1u << 2)
#define ALDER_STREAM_FLAGS_ALL 0x7u

/* One piece of a scatter-gather buffer (written by the user, copied in at
 * submission). Entries may have len 0; the total is at most
 * ALDER_STREAM_MAX_TRANSFER. */
struct alder_iovec {
	uint64_t base; /* user address */
	uint64_t len;  /* bytes */
};
_Static_assert(sizeof(struct alder_iovec) == 16, "alder_iovec layout");

/* Credentials of a process, as EXTRACT_CREDS delivers them (kernel writes). */
struct alder_creds {
	uint32_t pid;	   /* the imbuing process's pid */
	uint32_t reserved; /* 0 */
	uint8_t id[16];	   /* the imbuing process's credential id: unique per
			      process, never reused while the system runs,
			      and not derivable from another process's id */
};
_Static_assert(sizeof(struct alder_creds) == 24, "alder_creds layout");

/*
 * One action. Fields are either INPUT (the user writes them before
 * submitting, the kernel copies them in at submission and never reads them
 * again) or OUTPUT (the kernel writes them back before the chain's CQE; the
 * user reads them after it; their value at submission is ignored).
 */
struct alder_action {
	/* INPUT. */
	uint32_t type;	       /* ALDER_ACTION_* */
	uint32_t flags;	       /* ALDER_ACTION_*; only those the type allows:
				  CHAIN for OFFER/ACCEPT, INLINE or SG (not both)
				  for SEND/RECEIVE */
	uint64_t buf;	       /* SEND/RECEIVE: user address of the data (SG: of
				  the struct alder_iovec[]); 0 otherwise, and with
				  INLINE */
	uint64_t len;	       /* SEND/RECEIVE: bytes (at most
				  ALDER_STREAM_MAX_TRANSFER); SG: entry count;
				  INLINE: bytes in data[] (send) or room in data[]
				  (receive), at most ALDER_ACTION_INLINE_MAX; 0
				  otherwise */
	alder_handle_t handle; /* PUSH_HANDLE: the handle to send (needs
				  ALDER_RIGHT_TRANSFER); 0 otherwise */
	uint32_t rights;       /* PUSH_HANDLE / PULL_HANDLE: rights mask; the
				  received handle has (sender's rights & the
				  push mask & the pull mask); 0 otherwise */

	/* OUTPUT. */
	int32_t status;		   /* 0 or -ALDER_E* (see the top of this file) */
	alder_handle_t out_handle; /* OFFER/ACCEPT: the new lane (rights READ |
				      WRITE | TRANSFER | DUPLICATE); PULL_HANDLE:
				      the received handle; else 0 */
	uint64_t length;	   /* SEND/RECEIVE: bytes transferred; on
				      -ALDER_EMSGSIZE, at the receiver: the bytes the
				      sender offered (the room it needs), at the
				      sender: the receiver's room; else 0 */

	/* INPUT. */
	uint64_t reserved[2]; /* must be 0 */

	/* INPUT for SEND|INLINE (len bytes); OUTPUT for RECEIVE|INLINE (length
	 * bytes written, the rest untouched) and EXTRACT_CREDS (creds);
	 * ignored otherwise. */
	union {
		uint8_t data[ALDER_ACTION_INLINE_MAX];
		struct alder_creds creds;
	};
};
_Static_assert(sizeof(struct alder_action) == 128, "alder_action layout");
_Static_assert(__builtin_offsetof(struct alder_action, status) == 32, "alder_action outputs");
_Static_assert(__builtin_offsetof(struct alder_action, reserved) == 48, "alder_action reserved");
_Static_assert(__builtin_offsetof(struct alder_action, data) == 64, "alder_action data");

#endif
