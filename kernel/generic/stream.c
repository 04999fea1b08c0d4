/*
 * Streams (abi/alder/stream.h): lane objects (ALDER_OBJ_LANE),
 * SYS_STREAM_CREATE and the ALDER_OP_STREAM queue operation. Which actions
 * meet is decided by the pure core (stream_match.c); this file carries the
 * decisions out: data copied directly between the two address spaces,
 * handles installed in the receiver's table, credentials, write-back of the
 * per-action results and the chain's completion.
 *
 * Records:
 *   struct stream        one conversation (the core's sm_stream). Freed
 *                        when both of its sides are closed.
 *   struct lane          the kobj behind a lane handle: (stream, side).
 *                        Its destroy (last reference) closes the side.
 *   struct stream_chain  one ALDER_OP_STREAM submission: the kop, the
 *                        core's chain, a kernel copy of the actions and the
 *                        submitting process (held, for its address space,
 *                        handle table and pid). In-flight chains hold no
 *                        reference to the lane they were submitted on, so
 *                        closing the last lane handle ends the conversation
 *                        even with chains pending — except a chain with
 *                        ALDER_STREAM_DROP_LANE (it took over the handle's
 *                        reference) and the transient child lanes of
 *                        NO_HANDLE offers/accepts, which it lets go at
 *                        completion. A process's waiting chains are
 *                        cancelled when it ends (stream_process_gone).
 *
 * Locking: stream_lock (one for all streams, IRQ-saving) protects every
 * sm_stream and the matching state of every chain (sm_* calls other than
 * sm_action_finish, and stream_chain.submitted / cancel_requested). It is
 * held only for list manipulation: copies, handle installs, write-backs,
 * kop_complete, kobj_put and process_put all run after it is dropped (a
 * kobj_put may destroy a lane, which takes stream_lock). Nothing nests
 * inside it except the core.
 *
 * Contexts: matching happens under the lock wherever a chain is submitted,
 * cancelled or a lane closed. The decisions (an sm_batch) are carried out
 * by the submitting thread for submissions, and by the "streamd" kernel
 * thread for cancels and closes (those run in any context, possibly with
 * interrupts off, where a long copy or a user-memory write is not welcome).
 */
#include <kern/assert.h>
#include <kern/heap.h>
#include <kern/kqueue.h>
#include <kern/log.h>
#include <kern/process.h>
#include <kern/spinlock.h>
#include <kern/stream.h>
#include <kern/stream_match.h>
#include <kern/string.h>
#include <kern/syscall.h>
#include <kern/thread.h>
#include <kern/uaccess.h>
#include <kern/vmspace.h>
#include <kern/waitq.h>
#include <alder/errno.h>
#include <alder/handle.h>
#include <alder/queue.h>
#include <alder/stream.h>
#include <alder/syscall.h>
#include <arch/cpu.h>

#define LANE_RIGHTS (ALDER_RIGHT_READ | ALDER_RIGHT_WRITE | ALDER_RIGHT_TRANSFER | ALDER_RIGHT_DUPLICATE)

struct lane {
	struct kobj obj;
	struct stream *stream; /* alive while this lane is (its side is open) */
	unsigned side;	       /* 0 or 1 */
};

/* A conversation and the records of its two lanes, in one allocation: a
 * lane lives from lane_init until its destroy closes its side, and the
 * stream is freed when both sides are closed, so no lane outlives it. */
struct stream {
	struct sm_stream sm; /* under stream_lock */
	struct lane lanes[2];
};

/* One action of a chain (beside its core record, chain->sm.actions[i]). */
struct stream_act {
	struct sm_action *sm; /* the core's record of this action */
	struct stream_chain *chain;
	/* The user's action as copied in (in the chain's array of them).
	 * The executor fills the OUTPUT fields (status, out_handle, length,
	 * and data/creds where the type says so); chain_complete writes them
	 * back. */
	struct alder_action *u;
	uint64_t total;		 /* SEND/RECEIVE: bytes (sum of the iovecs for SG) */
	bool copied;		 /* SEND of a small user buffer: its bytes are in u->data
				    (which a SEND without INLINE does not use) */
	struct alder_iovec *iov; /* SG: kernel copy of the array (kmalloc) */
	struct kobj *push_obj;	 /* PUSH_HANDLE: reference taken at submission, dropped at completion */
	uint32_t push_rights;	 /* PUSH_HANDLE: the handle's rights & u.rights */
	struct stream *child;	 /* OFFER: the conversation it offers; ours until the offer
				    meets an ACCEPT, then its lanes own it */
	struct kobj *held_lane;	 /* OFFER/ACCEPT with NO_HANDLE: the new lane, let go at completion */
};

struct stream_chain {
	struct kop kop;
	struct sm_chain sm;
	struct process *proc;	  /* submitter, a reference (process_put at completion) */
	uint64_t uarray;	  /* the user's struct alder_action[] */
	bool submitted;		  /* under stream_lock: sm_submit was called */
	bool cancel_requested;	  /* under stream_lock */
	bool no_writeback;	  /* ALDER_STREAM_NO_WRITEBACK */
	bool nowait;		  /* ALDER_STREAM_NOWAIT */
	bool sync;		  /* completes within its submission (no kop, not
				     on live_chains, no process reference) */
	bool holds;		  /* some action took an iov array, a pushed object,
				     a child stream or a held lane (atomic: set by
				     executors, which may run on two CPUs); without
				     it completion and free skip the actions */
	bool sync_done;		  /* sync: chain_complete ran; the result: */
	int64_t sync_result;
	uint32_t sync_ok;
	struct kobj *lane_held;	  /* ALDER_STREAM_DROP_LANE: the lane, let go at completion */
	struct list live_link;	  /* under stream_lock: on live_chains from submission to completion */
	struct alder_action *uacts; /* [sm.count], the actions as copied in; same allocation */
	struct stream_act *acts;    /* [sm.count], ditto */
	struct sm_action *smacts;   /* [sm.count], the core's records, ditto */
};

static spinlock_t stream_lock = SPINLOCK_INIT;
/* Every submitted chain until it completes (live_link, under stream_lock),
 * so a process's chains can be cancelled when it ends. */
static struct list live_chains = LIST_INIT(live_chains);

/* Decisions to carry out in the streamd thread (sm_action.link, on
 * worker_wq.lock, which also guards the thread's sleep). */
static struct waitq worker_wq = WAITQ_INIT(worker_wq);
static struct list deferred = LIST_INIT(deferred);
static uint32_t worker_state; /* atomic: 0 none, 1 being created, 2 running */

static void stream_execute(struct sm_batch *b);

static inline struct stream_act *act_of(struct sm_action *a)
{
	struct stream_chain *c = container_of(a->chain, struct stream_chain, sm);
	return &c->acts[a - c->smacts];
}
static inline struct stream_chain *chain_of(struct stream_act *x)
{
	return x->chain;
}
static inline struct stream *stream_of(struct sm_stream *s)
{
	return container_of(s, struct stream, sm);
}


/* ---- Streams and lanes ---- */

static struct stream *stream_alloc(void)
{
	struct stream *s = kmalloc(sizeof(*s));

	if (s)
		sm_stream_init(&s->sm);
	return s;
}

static void lane_destroy(struct kobj *o);
static const struct kobj_ops lane_ops = {"lane", lane_destroy};

/* The lane of (s, side), with one reference (the caller's). */
static struct lane *lane_init(struct stream *s, unsigned side)
{
	struct lane *l = &s->lanes[side];

	l->stream = s;
	l->side = side;
	kobj_init(&l->obj, ALDER_OBJ_LANE, &lane_ops);
	return l;
}

/* Hand b's decisions to streamd. Any context, no lock held. */
static void stream_defer(struct sm_batch *b)
{
	struct sm_action *a;

	if (list_empty(&b->resolved))
		return;
	unsigned long f = spin_lock_irqsave(&worker_wq.lock);
	while ((a = sm_batch_pop(b)) != NULL)
		list_append(&deferred, &a->link);
	spin_unlock_irqrestore(&worker_wq.lock, f);
	waitq_wake_one(&worker_wq);
}

/* Close (s, side). Frees s when it was the last open side. The decisions
 * (-EPIPE for everything queued) go to b. */
static void stream_close_side(struct stream *s, unsigned side, struct sm_batch *b)
{
	unsigned long f = spin_lock_irqsave(&stream_lock);
	bool dead = sm_close(&s->sm, side, b);
	spin_unlock_irqrestore(&stream_lock, f);
	if (dead)
		kfree(s);
}

/* Context: any (the last kobj_put of a lane). */
static void lane_destroy(struct kobj *o)
{
	struct lane *l = container_of(o, struct lane, obj);
	struct sm_batch b;

	sm_batch_init(&b);
	stream_close_side(l->stream, l->side, &b); /* may free l with its stream */
	stream_defer(&b);
}

/* ---- The streamd thread ---- */

static __noreturn void streamd_main(void *arg)
{
	(void)arg;
	for (;;) {
		struct sm_batch b;

		sm_batch_init(&b);
		unsigned long f = spin_lock_irqsave(&worker_wq.lock);
		while (list_empty(&deferred)) {
			waitq_sleep_locked(&worker_wq, f, 0);
			f = spin_lock_irqsave(&worker_wq.lock);
		}
		struct list *l;
		while ((l = list_first(&deferred)) != NULL) {
			list_remove(l);
			list_append(&b.resolved, l);
		}
		spin_unlock_irqrestore(&worker_wq.lock, f);
		stream_execute(&b);
	}
}

static void streamd_entry(void *arg)
{
	streamd_main(arg);
}

/* Make sure streamd runs before the first stream exists (every deferral
 * needs a stream). Returns 0 or -ALDER_ENOMEM. */
static int streamd_ensure(void)
{
	for (;;) {
		uint32_t st = __atomic_load_n(&worker_state, __ATOMIC_ACQUIRE);
		if (st == 2)
			return 0;
		if (st == 1) {
			sched_yield(); /* another thread is creating it */
			continue;
		}
		if (!__atomic_compare_exchange_n(&worker_state, &st, 1, false, __ATOMIC_ACQ_REL,
						 __ATOMIC_ACQUIRE))
			continue;
		struct thread *t = thread_create_kernel("streamd", streamd_entry, NULL, PRIO_DEFAULT);
		if (!t) {
			__atomic_store_n(&worker_state, 0, __ATOMIC_RELEASE);
			return -ALDER_ENOMEM;
		}
		thread_start(t);
		__atomic_store_n(&worker_state, 2, __ATOMIC_RELEASE);
		return 0;
	}
}

/* ---- Credentials ---- */

/* ---- Carrying out a pair ---- */

/* A walk over one side's data: kernel bytes (inline) or user segments. */
struct data_walk {
	struct vmspace *space; /* NULL: kernel memory at kbuf */
	uint8_t *kbuf;
	const struct alder_iovec *seg;
	uint32_t nseg;
	struct alder_iovec one; /* storage for a single user buffer */
	uint32_t i;		/* current segment */
	uint64_t off;		/* offset in it */
};

static void walk_init(struct data_walk *w, struct stream_act *x)
{
	w->i = 0;
	w->off = 0;
	if (x->u->flags & ALDER_ACTION_INLINE || x->copied) {
		w->space = NULL;
		w->kbuf = x->u->data;
		w->one.base = 0;
		w->one.len = x->total;
		w->seg = &w->one;
		w->nseg = 1;
		return;
	}
	w->space = chain_of(x)->proc->space;
	w->kbuf = NULL;
	if (x->u->flags & ALDER_ACTION_SG) {
		w->seg = x->iov;
		w->nseg = (uint32_t)x->u->len;
	} else {
		w->one.base = x->u->buf;
		w->one.len = x->u->len;
		w->seg = &w->one;
		w->nseg = 1;
	}
}

/* Bytes available at the current position (skipping empty segments); the
 * caller never asks past the total. */
static uint64_t walk_avail(struct data_walk *w)
{
	while (w->i < w->nseg && w->off == w->seg[w->i].len) {
		w->i++;
		w->off = 0;
	}
	assert(w->i < w->nseg);
	uint64_t n = w->seg[w->i].len - w->off;
	if (w->space) {
		uint64_t a = w->seg[w->i].base + w->off;
		n = MIN(n, PAGE_SIZE - (a & (PAGE_SIZE - 1))); /* one page at a time */
	}
	return n;
}

static uint64_t walk_addr(const struct data_walk *w)
{
	return w->seg[w->i].base + w->off;
}

/* How often (in pieces) a long copy checks whether either process is
 * being killed. */
#define COPY_KILL_CHECK 64

/*
 * Copy total bytes from the sender's data to the receiver's, directly
 * between the two address spaces, one page-bounded piece at a time (each
 * piece under both spaces' locks, in vmspace_copy; interrupts are on
 * between pieces, so a long copy is preemptible). Returns 0, or which side
 * faulted (1 sender, 2 receiver), -ALDER_ENOMEM, or -ALDER_EPIPE when one
 * of the two processes is being killed (a dying process does not keep the
 * copy going); *done = bytes copied.
 */
static int copy_data(struct stream_act *snd, struct stream_act *rcv, uint64_t total, uint64_t *done)
{
	struct data_walk s, d;
	uint64_t n_done = 0;
	unsigned pieces = 0;
	int r = 0;

	/* The common small case: the sender's bytes are in the kernel
	 * already (inline, or read at submission) and the receiver has one
	 * buffer. A fault falls through to the walk, which says where. */
	if ((snd->u->flags & ALDER_ACTION_INLINE) || snd->copied) {
		uint8_t *src = snd->u->data;
		if (rcv->u->flags & ALDER_ACTION_INLINE) {
			memcpy(rcv->u->data, src, total);
			*done = total;
			return 0;
		}
		if (!(rcv->u->flags & ALDER_ACTION_SG) &&
		    !vmspace_rw(chain_of(rcv)->proc->space, rcv->u->buf, src, total, true)) {
			*done = total;
			return 0;
		}
	}
	walk_init(&s, snd);
	walk_init(&d, rcv);
	while (n_done < total) {
		if (++pieces % COPY_KILL_CHECK == 0 &&
		    (process_killed(chain_of(snd)->proc) || process_killed(chain_of(rcv)->proc))) {
			r = -ALDER_EPIPE;
			break;
		}
		uint64_t n = MIN(walk_avail(&s), walk_avail(&d));
		n = MIN(n, total - n_done);
		uint64_t sa = walk_addr(&s), da = walk_addr(&d);

		if (s.space && d.space) {
			int e = vmspace_copy(d.space, da, s.space, sa, n);
			if (e == -ALDER_ENOMEM) {
				r = -ALDER_ENOMEM;
			} else if (e) {
				/* Whose page was it? A probe is enough to attribute
				 * the fault (the copy already failed). */
				r = vmspace_translate(s.space, sa, false) ? 2 : 1;
			}
		} else if (d.space) {
			if (vmspace_rw(d.space, da, s.kbuf + s.off, n, true))
				r = 2;
		} else if (s.space) {
			if (vmspace_rw(s.space, sa, d.kbuf + d.off, n, false))
				r = 1;
		} else {
			memcpy(d.kbuf + d.off, s.kbuf + s.off, n);
		}
		if (r)
			break;
		n_done += n;
		s.off += n;
		d.off += n;
	}
	*done = n_done;
	return r;
}

static void pair_data(struct stream_act *x, struct stream_act *y)
{
	struct stream_act *snd = x->u->type == ALDER_ACTION_SEND ? x : y;
	struct stream_act *rcv = snd == x ? y : x;

	if (snd->total > rcv->total) {
		snd->u->status = rcv->u->status = -ALDER_EMSGSIZE;
		rcv->u->length = snd->total; /* what it would need */
		snd->u->length = rcv->total; /* what it had room for */
		return;
	}
	uint64_t done;
	int r = copy_data(snd, rcv, snd->total, &done);
	snd->u->length = rcv->u->length = done;
	if (r < 0) {
		snd->u->status = rcv->u->status = r;
	} else if (r) {
		snd->u->status = r == 1 ? -ALDER_EFAULT : -ALDER_EIO;
		rcv->u->status = r == 2 ? -ALDER_EFAULT : -ALDER_EIO;
	}
}

static void pair_handle(struct stream_act *x, struct stream_act *y)
{
	struct stream_act *push = x->u->type == ALDER_ACTION_PUSH_HANDLE ? x : y;
	struct stream_act *pull = push == x ? y : x;
	uint32_t rights = push->push_rights & pull->u->rights; /* never more than the sender had */

	long h = handle_install(&chain_of(pull)->proc->handles, kobj_get(push->push_obj), rights);
	if (h < 0) {
		kobj_put(push->push_obj); /* the reference handle_install did not take */
		pull->u->status = (int32_t)h;
		push->u->status = -ALDER_EIO;
		return;
	}
	pull->u->out_handle = (alder_handle_t)h;
}

static void pair_creds(struct stream_act *x, struct stream_act *y)
{
	struct stream_act *imbue = x->u->type == ALDER_ACTION_IMBUE_CREDS ? x : y;
	struct stream_act *extract = imbue == x ? y : x;
	struct process *p = chain_of(imbue)->proc;

	memset(&extract->u->creds, 0, sizeof(extract->u->creds));
	extract->u->creds.pid = p->pid;
	memcpy(extract->u->creds.id, p->cred_id, sizeof(p->cred_id));
}

/* The child conversation of a met OFFER/ACCEPT: each side gets its lane. A
 * side whose handle cannot be installed is closed at once (its queued
 * actions, and the peer's, fail with -EPIPE). */
static void pair_offer(struct stream_act *x, struct stream_act *y)
{
	struct stream *child = stream_of(x->sm->made);
	struct stream_act *sides[2];

	sides[0] = x->u->type == ALDER_ACTION_OFFER ? x : y;
	sides[1] = sides[0] == x ? y : x;
	sides[0]->child = NULL; /* the lanes own it now */
	for (unsigned i = 0; i < 2; i++) {
		struct stream_act *a = sides[i];
		struct lane *l = lane_init(child, i);
		if (a->u->flags & ALDER_ACTION_NO_HANDLE) {
			a->held_lane = &l->obj; /* the chain's until it completes */
			__atomic_store_n(&chain_of(a)->holds, true, __ATOMIC_RELAXED);
			continue;
		}
		long h = handle_install(&chain_of(a)->proc->handles, &l->obj, LANE_RIGHTS);
		if (h < 0) {
			a->u->status = (int32_t)h;
			kobj_put(&l->obj); /* closes the side */
			continue;
		}
		a->u->out_handle = (alder_handle_t)h;
	}
}

/* ---- Completion ---- */

/* Pieces a write-back hands to the address space at once. */
#define WRITE_BACK_BATCH 16

/* Write the outputs of every action of c back into the submitter's array:
 * status, out_handle and length, and the data a successful RECEIVE inline
 * or EXTRACT_CREDS produced. One lock hold and one translation per page
 * for up to WRITE_BACK_BATCH pieces. 0 or -ALDER_EFAULT. */
static int write_back(struct stream_chain *c)
{
	struct vm_piece pc[WRITE_BACK_BATCH];
	struct vmspace *s = c->proc->space;
	unsigned n = 0;
	int r = 0;

	for (uint32_t i = 0; i < c->sm.count && !r; i++) {
		const struct alder_action *u = &c->uacts[i];
		uint64_t at = c->uarray + (uint64_t)i * sizeof(*u);

		if (n + 2 > WRITE_BACK_BATCH) {
			r = vmspace_write_pieces(s, pc, n);
			n = 0;
		}
		pc[n++] = (struct vm_piece){at + offsetof(struct alder_action, status), &u->status,
					    offsetof(struct alder_action, reserved) -
						offsetof(struct alder_action, status)};
		if (u->status)
			continue;
		if (u->type == ALDER_ACTION_RECEIVE && (u->flags & ALDER_ACTION_INLINE) && u->length)
			pc[n++] = (struct vm_piece){at + offsetof(struct alder_action, data), u->data, u->length};
		else if (u->type == ALDER_ACTION_EXTRACT_CREDS)
			pc[n++] = (struct vm_piece){at + offsetof(struct alder_action, creds), &u->creds,
						    sizeof(u->creds)};
	}
	if (!r && n)
		r = vmspace_write_pieces(s, pc, n);
	return r;
}

/* Every action of c is DONE: write back, complete, let go of c. c may be
 * freed (release) as soon as kop_complete is called. Thread context. */
static void chain_complete(struct stream_chain *c)
{
	uint32_t ok;
	int64_t result = sm_chain_result(&c->sm, &ok);
	struct process *p = c->proc;

	if (!c->no_writeback && !process_killed(p) && write_back(c) && result == 0)
		result = -ALDER_EFAULT;
	/* The lanes the chain held (a dropped lane handle, transient child
	 * lanes) go after the CQE: letting one go may close a side, and c may
	 * be freed by kop_complete. At most one child lane per action. */
	struct kobj *lanes[ALDER_STREAM_MAX_CHAIN + 1];
	uint32_t nlanes = 0;
	if (!c->sync) {
		unsigned long f = spin_lock_irqsave(&stream_lock);
		list_remove(&c->live_link);
		spin_unlock_irqrestore(&stream_lock, f);
	}
	if (c->lane_held)
		lanes[nlanes++] = c->lane_held;
	uint32_t held = __atomic_load_n(&c->holds, __ATOMIC_RELAXED) ? c->sm.count : 0;
	for (uint32_t i = 0; i < held; i++) {
		struct stream_act *x = &c->acts[i];
		if (x->push_obj) {
			kobj_put(x->push_obj);
			x->push_obj = NULL;
		}
		if (x->held_lane)
			lanes[nlanes++] = x->held_lane;
	}
	bool sync = c->sync;
	if (sync) {
		/* The submission, further up this thread, posts the result
		 * and frees c. */
		c->sync_result = result;
		c->sync_ok = ok;
		c->sync_done = true;
	} else {
		kop_complete(&c->kop, result, ok, 0);
		/* c may be gone now. */
	}
	for (uint32_t i = 0; i < nlanes; i++)
		kobj_put(lanes[i]);
	if (!sync)
		process_put(p);
}

static void act_finish(struct stream_act *x)
{
	if (sm_action_finish(x->sm, x->u->status))
		chain_complete(chain_of(x));
}

/*
 * Carry out the decisions in b: the copies and transfers of met pairs,
 * then each action's finish (which completes its chain when it is the
 * last). Thread context, no lock held. A chain may be freed as soon as its
 * last action is finished, so nothing of a pair is read after its finish.
 */
static void stream_execute(struct sm_batch *b)
{
	struct sm_action *a;

	while ((a = sm_batch_pop(b)) != NULL) {
		struct stream_act *x = act_of(a);

		if (!a->peer) {
			x->u->status = a->status;
			if (x->child) { /* an offer that never met */
				kfree(x->child);
				x->child = NULL;
			}
			act_finish(x);
			continue;
		}
		struct stream_act *y = act_of(a->peer);
		switch (x->u->type) {
		case ALDER_ACTION_OFFER:
		case ALDER_ACTION_ACCEPT:
			pair_offer(x, y);
			break;
		case ALDER_ACTION_SEND:
		case ALDER_ACTION_RECEIVE:
			pair_data(x, y);
			break;
		case ALDER_ACTION_PUSH_HANDLE:
		case ALDER_ACTION_PULL_HANDLE:
			pair_handle(x, y);
			break;
		case ALDER_ACTION_IMBUE_CREDS:
		case ALDER_ACTION_EXTRACT_CREDS:
			pair_creds(x, y);
			break;
		default:
			panic("stream: paired action of type %u", x->u->type);
		}
		act_finish(x);
		act_finish(y);
	}
}

/* ---- Cancel and release (kop_ops) ---- */

/* Context: any, possibly interrupts off (see kqueue.h). */
static void chain_cancel(struct kop *op)
{
	struct stream_chain *c = container_of(op, struct stream_chain, kop);
	struct sm_batch b;

	sm_batch_init(&b);
	unsigned long f = spin_lock_irqsave(&stream_lock);
	c->cancel_requested = true;
	if (c->submitted)
		sm_cancel(&c->sm, -ALDER_ECANCELED, &b);
	spin_unlock_irqrestore(&stream_lock, f);
	stream_defer(&b);
}

/* Free what submission allocated; drops no object references (those are
 * dropped in thread context, at completion or by the submission's unwind). */
static void chain_free(struct stream_chain *c)
{
	for (uint32_t i = 0; i < c->sm.count && c->holds; i++) {
		kfree(c->acts[i].iov);
		kfree(c->acts[i].child);
	}
	kfree(c);
}

/* Context: any. Every action is DONE; chain_complete dropped the rest. */
static void chain_release(struct kop *op)
{
	chain_free(container_of(op, struct stream_chain, kop));
}

static const struct kop_ops chain_ops = {chain_cancel, chain_release};

/* ---- Submission ---- */

/* What each action type may carry (act_prepare), by ALDER_ACTION_* type. */
#define RULE_VALID (1u << 0)
#define RULE_DATA (1u << 1)   /* buf and len (SEND/RECEIVE) */
#define RULE_HANDLE (1u << 2) /* handle (PUSH_HANDLE) */
#define RULE_RIGHTS (1u << 3) /* rights (PUSH/PULL_HANDLE) */
#define RULE_GIVES (1u << 4)  /* needs the lane's WRITE right (else READ) */
struct act_rule {
	uint8_t flags; /* the ALDER_ACTION_* flags the type allows */
	uint8_t rule;  /* RULE_* */
};
static const struct act_rule act_rules[ALDER_ACTION_TYPE_COUNT] = {
	[ALDER_ACTION_OFFER] = {ALDER_ACTION_CHAIN | ALDER_ACTION_NO_HANDLE, RULE_VALID | RULE_GIVES},
	[ALDER_ACTION_ACCEPT] = {ALDER_ACTION_CHAIN | ALDER_ACTION_NO_HANDLE, RULE_VALID},
	[ALDER_ACTION_SEND] = {ALDER_ACTION_INLINE | ALDER_ACTION_SG, RULE_VALID | RULE_DATA | RULE_GIVES},
	[ALDER_ACTION_RECEIVE] = {ALDER_ACTION_INLINE | ALDER_ACTION_SG, RULE_VALID | RULE_DATA},
	[ALDER_ACTION_PUSH_HANDLE] = {0, RULE_VALID | RULE_HANDLE | RULE_RIGHTS | RULE_GIVES},
	[ALDER_ACTION_PULL_HANDLE] = {0, RULE_VALID | RULE_RIGHTS},
	[ALDER_ACTION_IMBUE_CREDS] = {0, RULE_VALID | RULE_GIVES},
	[ALDER_ACTION_EXTRACT_CREDS] = {0, RULE_VALID},
	[ALDER_ACTION_DISMISS] = {0, RULE_VALID | RULE_GIVES},
};

/* Check action i of c (copied in) and take what it needs: -ALDER_E* or 0;
 * ORs the lane right it needs into *need. On error, what was taken stays
 * in the act for unwind_acts(). */
static int act_prepare(struct stream_chain *c, uint32_t i, struct process *p, uint32_t *need)
{
	struct stream_act *x = &c->acts[i];
	struct alder_action *u = x->u;
	bool last = i + 1 == c->sm.count;
	uint32_t f = u->flags;

	if (u->type >= ALDER_ACTION_TYPE_COUNT)
		return -ALDER_EINVAL;
	struct act_rule rl = act_rules[u->type];
	if (!(rl.rule & RULE_VALID) || (f & ~(uint32_t)rl.flags) || (u->reserved[0] | u->reserved[1]))
		return -ALDER_EINVAL;
	/* CHAIN needs something after it, and no NOWAIT (which cannot vouch
	 * for a child conversation); NO_HANDLE needs CHAIN (a transient lane
	 * nothing would use); INLINE and SG exclude each other; DISMISS ends
	 * a chain. */
	if (((f & ALDER_ACTION_CHAIN) && (last || c->nowait)) ||
	    (f & (ALDER_ACTION_NO_HANDLE | ALDER_ACTION_CHAIN)) == ALDER_ACTION_NO_HANDLE ||
	    (f & (ALDER_ACTION_INLINE | ALDER_ACTION_SG)) == (ALDER_ACTION_INLINE | ALDER_ACTION_SG) ||
	    (u->type == ALDER_ACTION_DISMISS && !last))
		return -ALDER_EINVAL;
	if ((u->handle && !(rl.rule & RULE_HANDLE)) || (u->rights && !(rl.rule & RULE_RIGHTS)) ||
	    (u->rights & ~ALDER_RIGHTS_ALL) || (!(rl.rule & RULE_DATA) && (u->buf | u->len)))
		return -ALDER_EINVAL;
	*need |= rl.rule & RULE_GIVES ? ALDER_RIGHT_WRITE : ALDER_RIGHT_READ;

	/* Outputs start clean (what the user left there is ignored). */
	u->status = 0;
	u->out_handle = 0;
	u->length = 0;
	x->sm->type = (uint8_t)u->type;
	x->sm->descend = (u->flags & ALDER_ACTION_CHAIN) != 0;

	switch (u->type) {
	case ALDER_ACTION_SEND:
	case ALDER_ACTION_RECEIVE:
		if (u->flags & ALDER_ACTION_INLINE) {
			if (u->buf || u->len > ALDER_ACTION_INLINE_MAX)
				return -ALDER_EINVAL;
			x->total = u->len;
		} else if (u->flags & ALDER_ACTION_SG) {
			if (u->len > ALDER_STREAM_MAX_IOV)
				return -ALDER_EINVAL;
			if (u->len == 0) {
				if (u->buf)
					return -ALDER_EINVAL;
				x->total = 0;
				break;
			}
			size_t bytes = u->len * sizeof(struct alder_iovec);
			if (!uaccess_range_ok(u->buf, bytes))
				return -ALDER_EINVAL;
			x->iov = kmalloc(bytes);
			c->holds = true;
			if (!x->iov)
				return -ALDER_ENOMEM;
			if (copy_from_user(x->iov, u->buf, bytes))
				return -ALDER_EFAULT;
			uint64_t sum = 0;
			for (uint64_t k = 0; k < u->len; k++) {
				const struct alder_iovec *v = &x->iov[k];
				if (v->len > ALDER_STREAM_MAX_TRANSFER - sum ||
				    !uaccess_range_ok(v->base, v->len))
					return -ALDER_EINVAL;
				sum += v->len;
			}
			x->total = sum;
		} else {
			if (u->len > ALDER_STREAM_MAX_TRANSFER || !uaccess_range_ok(u->buf, u->len))
				return -ALDER_EINVAL;
			x->total = u->len;
			/* A small SEND is read now, here, where the sender's
			 * memory is at hand: the pair then writes only the
			 * receiver's space. (The buffer belongs to the kernel
			 * until the CQE either way.) */
			if (u->type == ALDER_ACTION_SEND && u->len <= sizeof(u->data)) {
				if (copy_from_user(u->data, u->buf, u->len))
					return -ALDER_EFAULT;
				x->copied = true;
			}
		}
		break;
	case ALDER_ACTION_PUSH_HANDLE: {
		uint32_t have;
		c->holds = true;
		int r = handle_get(&p->handles, u->handle, 0, ALDER_RIGHT_TRANSFER, &x->push_obj, &have);
		if (r) {
			x->push_obj = NULL;
			return r;
		}
		x->push_rights = have & u->rights;
		break;
	}
	case ALDER_ACTION_OFFER:
		c->holds = true;
		x->child = stream_alloc();
		if (!x->child)
			return -ALDER_ENOMEM;
		x->sm->child = &x->child->sm;
		break;
	default:
		break;
	}
	return 0;
}

/* Drop the object references a refused chain took (thread context). */
static void unwind_acts(struct stream_chain *c)
{
	for (uint32_t i = 0; i < c->sm.count && c->holds; i++) {
		if (c->acts[i].push_obj) {
			kobj_put(c->acts[i].push_obj);
			c->acts[i].push_obj = NULL;
		}
	}
}

/* Refuse c at once: the CQE is (err, 0, index); nothing ran. */
static int64_t refuse(struct stream_chain *c, struct kop_submit *sub, int err, uint32_t index)
{
	unwind_acts(c);
	chain_free(c);
	sub->aux[1] = index;
	return err;
}

/* Whether any action of c continues in a child conversation. */
static bool chain_descends(const struct stream_chain *c)
{
	for (uint32_t i = 0; i < c->sm.count; i++)
		if (c->smacts[i].descend)
			return true;
	return false;
}

/*
 * Submit c (checked, nothing taken that cannot be let go) in one step if
 * every action of it meets or fails right now: it then completes in this
 * call, without a queue record, a process reference or a place on
 * live_chains, and the result goes straight into the CQE. Returns false,
 * with nothing done, when c would wait (or the queue is dying): the caller
 * takes the general path. Only for chains without CHAIN actions, the only
 * ones sm_completes_now can vouch for.
 */
static bool submit_sync(struct stream_chain *c, struct kop_submit *sub, struct lane *lane, struct kobj *lo,
			uint64_t flags, int64_t *result)
{
	struct sm_batch b;

	if (chain_descends(c) || kop_queue_dying(sub))
		return false;
	sm_batch_init(&b);
	unsigned long f = spin_lock_irqsave(&stream_lock);
	if (!sm_completes_now(&lane->stream->sm, lane->side, &c->sm)) {
		spin_unlock_irqrestore(&stream_lock, f);
		return false;
	}
	c->sync = true;
	c->submitted = true;
	sm_submit(&lane->stream->sm, lane->side, &c->sm, &b);
	spin_unlock_irqrestore(&stream_lock, f);
	if (flags & ALDER_STREAM_DROP_LANE) {
		/* The chain holds the side open until it completes, below. */
		c->lane_held = lo;
		(void)handle_close_if(&sub->proc->handles, sub->sqe.handle, lo);
	}
	stream_execute(&b);
	assert(c->sync_done);
	*result = c->sync_result;
	sub->aux[0] = c->sync_ok;
	chain_free(c);
	return true;
}

/* The ALDER_OP_STREAM handler (kqueue.h: submitting thread, no locks). */
static int64_t stream_op_submit(struct kop_submit *sub)
{
	struct process *p = sub->proc;
	const struct alder_sqe *sqe = &sub->sqe;
	uint64_t uarray = sqe->args[0], count = sqe->args[1];
	struct kobj *lo;
	uint32_t lane_rights;

	uint64_t flags = sqe->args[2];

	if ((flags & ~(uint64_t)ALDER_STREAM_FLAGS_ALL) || sqe->args[3] || count == 0 ||
	    count > ALDER_STREAM_MAX_CHAIN)
		return -ALDER_EINVAL;
	if (!uaccess_range_ok(uarray, count * sizeof(struct alder_action)))
		return -ALDER_EFAULT;
	int r = handle_get(&p->handles, sqe->handle, ALDER_OBJ_LANE, 0, &lo, &lane_rights);
	if (r)
		return r;
	struct lane *lane = container_of(lo, struct lane, obj);

	struct stream_chain *c = kmalloc(sizeof(*c) + count * (sizeof(struct alder_action) +
							      sizeof(struct stream_act) + sizeof(struct sm_action)));
	if (!c) {
		kobj_put(lo);
		return -ALDER_ENOMEM;
	}
	c->proc = p;
	c->uarray = uarray;
	c->submitted = false;
	c->cancel_requested = false;
	c->no_writeback = (flags & ALDER_STREAM_NO_WRITEBACK) != 0;
	c->nowait = (flags & ALDER_STREAM_NOWAIT) != 0;
	c->sync = false;
	c->sync_done = false;
	c->holds = false;
	c->lane_held = NULL;
	c->uacts = (struct alder_action *)(c + 1);
	c->acts = (struct stream_act *)(c->uacts + count);
	c->smacts = (struct sm_action *)(c->acts + count);
	sm_chain_init(&c->sm, c->smacts, (uint32_t)count);
	for (uint32_t i = 0; i < count; i++) {
		struct stream_act *x = &c->acts[i];

		x->sm = &c->smacts[i];
		x->chain = c;
		x->u = &c->uacts[i];
		x->total = 0;
		x->copied = false;
		x->iov = NULL;
		x->push_obj = NULL;
		x->push_rights = 0;
		x->child = NULL;
		x->held_lane = NULL;
		x->sm->child = NULL;
	}

	int err = 0;
	uint32_t bad = 0;
	uint32_t need = 0;
	if (copy_from_user(c->uacts, uarray, count * sizeof(struct alder_action))) {
		/* Which one? The first that cannot be read. */
		err = -ALDER_EFAULT;
		while (bad + 1 < count && !copy_from_user(&c->uacts[bad], uarray + bad * sizeof(*c->uacts),
							  sizeof(*c->uacts)))
			bad++;
	}
	for (uint32_t i = 0; i < count && !err; i++) {
		err = act_prepare(c, i, p, &need);
		if (err)
			bad = i;
	}
	if (!err && (lane_rights & need) != need)
		err = -ALDER_EACCES;
	if (err) {
		if (flags & ALDER_STREAM_DROP_LANE)
			(void)handle_close_if(&p->handles, sqe->handle, lo); /* consumed either way */
		kobj_put(lo);
		return refuse(c, sub, err, bad);
	}

	/* --- POINT OF NO RETURN: the chain runs and completes exactly once
	 * (a NOWAIT chain that would wait is refused first, with nothing run). --- */
	int64_t result;
	if (submit_sync(c, sub, lane, lo, flags, &result)) {
		if (!(flags & ALDER_STREAM_DROP_LANE))
			kobj_put(lo);
		return result;
	}
	if (flags & ALDER_STREAM_NOWAIT) {
		/* It would wait: refused, nothing ran. A dying queue refuses
		 * every submission, without consuming the lane. */
		bool dying = kop_queue_dying(sub);
		if ((flags & ALDER_STREAM_DROP_LANE) && !dying)
			(void)handle_close_if(&p->handles, sqe->handle, lo);
		kobj_put(lo);
		return refuse(c, sub, dying ? -ALDER_ECANCELED : -ALDER_EAGAIN, 0);
	}
	(void)process_get(p); /* dropped at completion */
	if (kop_begin(&c->kop, sub, &chain_ops)) {
		process_put(p);
		unwind_acts(c);
		chain_free(c);
		kobj_put(lo);
		return -ALDER_ECANCELED;
	}
	if (flags & ALDER_STREAM_DROP_LANE) {
		/* Our reference keeps the side open until completion. */
		c->lane_held = lo;
		(void)handle_close_if(&p->handles, sqe->handle, lo);
	}

	struct sm_batch b;
	sm_batch_init(&b);
	unsigned long f = spin_lock_irqsave(&stream_lock);
	c->submitted = true;
	list_append(&live_chains, &c->live_link);
	if (c->cancel_requested)
		sm_cancel(&c->sm, -ALDER_ECANCELED, &b); /* cancelled before it was queued */
	else
		sm_submit(&lane->stream->sm, lane->side, &c->sm, &b);
	spin_unlock_irqrestore(&stream_lock, f);
	/* c may complete (and be freed) from here on, here or on another CPU. */
	stream_execute(&b);
	if (!(flags & ALDER_STREAM_DROP_LANE))
		kobj_put(lo);
	return KOP_STARTED;
}
QUEUE_OP_REGISTER(ALDER_OP_STREAM, stream_op_submit);

/*
 * p has no threads left (process.c, after its handles are gone): cancel
 * every chain it submitted that is still waiting. Without this a chain
 * that holds what would end it — a pushed handle of its own lane or of
 * its queue — would keep the conversation, the queue and the process's
 * memory forever. Thread context.
 */
void stream_process_gone(struct process *p)
{
	struct sm_batch b;

	sm_batch_init(&b);
	unsigned long f = spin_lock_irqsave(&stream_lock);
	list_for_each(it, &live_chains)
	{
		struct stream_chain *c = list_entry(it, struct stream_chain, live_link);
		if (c->proc == p)
			sm_cancel(&c->sm, -ALDER_ECANCELED, &b);
	}
	spin_unlock_irqrestore(&stream_lock, f);
	stream_defer(&b);
}

/* ---- SYS_STREAM_CREATE ---- */

static long sys_stream_create(uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5)
{
	struct process *p = proc_current();
	alder_handle_t out[2] = {0, 0};
	struct lane *l[2];
	long r = 0;

	if (!uaccess_range_ok(a0, sizeof(out)))
		return -ALDER_EFAULT;
	r = streamd_ensure();
	if (r)
		return r;
	struct stream *s = stream_alloc();
	if (!s)
		return -ALDER_ENOMEM;
	l[0] = lane_init(s, 0);
	l[1] = lane_init(s, 1);
	for (unsigned i = 0; i < 2; i++) {
		long h = handle_install(&p->handles, &l[i]->obj, LANE_RIGHTS);
		if (h < 0) {
			r = h;
			goto unwind;
		}
		l[i] = NULL; /* the table owns it */
		out[i] = (alder_handle_t)h;
	}
	if (copy_to_user(a0, out, sizeof(out))) {
		r = -ALDER_EFAULT;
		goto unwind;
	}
	return 0;

unwind:
	/* Closing a handle, or putting a lane not installed, closes its
	 * side; the second close frees the stream. */
	for (unsigned i = 0; i < 2; i++) {
		if (out[i])
			handle_close(&p->handles, out[i]);
		if (l[i])
			kobj_put(&l[i]->obj);
	}
	return r;
}
SYSCALL_REGISTER(SYS_STREAM_CREATE, sys_stream_create);
