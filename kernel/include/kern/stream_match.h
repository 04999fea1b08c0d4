/*
 * The matching core of streams (kernel/generic/stream_match.c): pure
 * bookkeeping that decides which actions of the two lanes of a stream meet,
 * which fail, and when a chain is complete. It moves no data, touches no
 * user memory, allocates nothing and takes no lock, so it links into host
 * tests and the fuzzer; kernel/generic/stream.c wraps it with the lock,
 * the copies and the handles. The semantics are those of abi/alder/stream.h.
 *
 * Records (all owned by the caller):
 *   sm_stream  one conversation: a FIFO of queued actions per side.
 *   sm_chain   one submitted chain: an array of sm_action.
 *   sm_action  one action; action types and flags are the ABI's.
 *   sm_batch   the decisions of one call, for the caller to carry out after
 *              dropping its lock.
 *
 * Locking: the caller serializes every call on a stream and on every stream
 * reachable from it through a chain (the kernel uses one lock for all
 * streams). sm_action_finish() is the exception: it may run concurrently
 * from several CPUs for actions of the same chain (atomic count).
 *
 * Life of an action:
 *   IDLE     in its chain, not yet queued (a later segment of a chain waits
 *            for its OFFER/ACCEPT with ALDER_ACTION_CHAIN to meet)
 *   QUEUED   on a side's FIFO (link), stream set
 *   RESOLVED on a batch: either failed (status != 0) or paired (peer set,
 *            only one of the two is on the batch: the "leader")
 *   DONE     the caller has called sm_action_finish() on it
 * Every action goes through RESOLVED exactly once and DONE exactly once.
 *
 * Invariant: the QUEUED actions of a chain are all on one stream (a chain's
 * next segment is queued only when the CHAIN action that ends the current
 * segment meets, and that action is the last of its segment in FIFO order).
 */
#ifndef KERN_STREAM_MATCH_H
#define KERN_STREAM_MATCH_H

#include <alder/errno.h>
#include <alder/stream.h>
#include <kern/assert.h>
#include <kern/list.h>
#include <kern/types.h>

enum sm_state { SM_IDLE, SM_QUEUED, SM_RESOLVED, SM_DONE };

struct sm_stream;
struct sm_chain;

struct sm_action {
	/* Set by the caller before sm_submit(), then read-only. */
	uint8_t type;		 /* ALDER_ACTION_* */
	bool descend;		 /* ALDER_ACTION_CHAIN */
	struct sm_stream *child; /* OFFER: a fresh stream (sm_stream_init'ed)
				    that becomes the child conversation if the
				    offer meets an ACCEPT; the caller frees it
				    when the offer fails */

	/* Owned by the core (under the caller's lock). */
	uint8_t state;		  /* enum sm_state */
	uint8_t side;		  /* QUEUED/RESOLVED: the side it was on */
	struct list link;	  /* QUEUED: side FIFO; RESOLVED: batch list */
	struct sm_stream *stream; /* QUEUED / paired: the stream it was on */
	struct sm_chain *chain;
	struct sm_action *peer; /* paired: the other side's action */
	struct sm_stream *made; /* paired OFFER/ACCEPT: the child conversation
				   (offer's child); the offer side is side 0 */
	int32_t status;		/* RESOLVED: 0 (paired) or the error;
				   DONE: the final status */
};

struct sm_chain {
	struct sm_action *actions; /* set by the caller */
	uint32_t count;		   /* 1..ALDER_STREAM_MAX_CHAIN */
	/* Core-owned. */
	uint32_t cursor;    /* first action not yet queued (or failed) */
	uint32_t remaining; /* atomic: actions not yet DONE */
};

struct sm_side {
	struct list queue; /* sm_action.link, FIFO */
	bool closed;	   /* its lane is gone (sm_close) */
};

struct sm_stream {
	struct sm_side side[2];
	bool ended; /* dismissed or a side closed: every action
		       queued from now on fails with -EPIPE */
};

struct sm_batch {
	struct list resolved; /* sm_action.link, in decision order */
};

void sm_stream_init(struct sm_stream *s);
void sm_batch_init(struct sm_batch *b);
/* Prepare c (actions[0..count) set by the caller) for sm_submit. */
void sm_chain_init(struct sm_chain *c, struct sm_action *actions, uint32_t count);
/*
 * Queue c's first segment on (s, side) and match what can be matched, on s
 * and on any child conversation that becomes ready. Decisions go to b.
 */
void sm_submit(struct sm_stream *s, unsigned side, struct sm_chain *c, struct sm_batch *b);
/*
 * Would sm_submit(s, side, c) resolve every action of c (pair or fail
 * them) within the call, so that c completes without waiting? Exact for a
 * chain without descend actions; false for one with them (their later
 * segments depend on child conversations). Reads only; for the kernel's
 * synchronous submission path, under the same lock hold as the submit.
 */
bool sm_completes_now(const struct sm_stream *s, unsigned side, const struct sm_chain *c);
/*
 * The lane of (s, side) is gone: the conversation ends, every queued action
 * (both sides) fails with -EPIPE. Returns true when both sides are now
 * closed: nothing refers to s any more and the caller may free it.
 */
bool sm_close(struct sm_stream *s, unsigned side, struct sm_batch *b);
/*
 * Cancel c: its QUEUED and IDLE actions fail with status (the caller's
 * choice, e.g. -ECANCELED); paired or finished ones are not affected. The
 * batch holds no pair (between calls, one of a stream's two queues is
 * always empty, so removing actions cannot make a match), only failures
 * and a dismiss of another chain that the removal brought to the head of
 * its queue (it ends the conversation: everything queued fails -EPIPE).
 * Returns the number of actions cancelled.
 */
uint32_t sm_cancel(struct sm_chain *c, int32_t status, struct sm_batch *b);
/* Take the next decision off b (NULL when empty). A paired action comes
 * once, as the leader (peer set); the caller finishes both. (This and the
 * next two run for every action: inline.) */
static inline struct sm_action *sm_batch_pop(struct sm_batch *b)
{
	struct list *l = list_first(&b->resolved);

	if (!l)
		return NULL;
	list_remove(l);
	return list_entry(l, struct sm_action, link);
}

/*
 * Record a's final status (for a paired action: what the transfer gave).
 * Returns true when it was the last action of its chain: the chain is
 * complete, the caller posts its completion. Any context, no lock needed.
 */
static inline bool sm_action_finish(struct sm_action *a, int32_t status)
{
	uint8_t was = __atomic_exchange_n(&a->state, (uint8_t)SM_DONE, __ATOMIC_RELAXED);

	assert(was == SM_RESOLVED); /* finished twice, or never resolved */
	(void)was;
	a->status = status;
	uint32_t left = __atomic_sub_fetch(&a->chain->remaining, 1, __ATOMIC_ACQ_REL);
	assert(left < a->chain->count);
	return left == 0;
}

/* For a complete chain: the first error in array order (or 0), and the
 * number of leading actions that succeeded. */
static inline int32_t sm_chain_result(const struct sm_chain *c, uint32_t *ok_count)
{
	uint32_t i = 0;

	while (i < c->count && c->actions[i].status == 0)
		i++;
	if (ok_count)
		*ok_count = i;
	return i < c->count ? c->actions[i].status : 0;
}

/* True when types a and b meet (OFFER/ACCEPT, SEND/RECEIVE, ...). */
static inline bool sm_types_match(unsigned a, unsigned b)
{
	if (a == ALDER_ACTION_DISMISS || b == ALDER_ACTION_DISMISS || a == 0 || b == 0)
		return false;
	/* Pairs are (odd, odd + 1) in the ABI numbering. */
	return (a & 1) ? b == a + 1 : a == b + 1;
}

#endif
