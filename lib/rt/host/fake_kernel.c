/*
 * A deterministic fake of the kernel side of queues, timers, events and
 * streams, for host unit tests of lib/rt (see fake_kernel.h). Host only:
 * uses libc freely. Not a model of the real kernel's internals, only of the
 * behaviour abi/alder/queue.h and stream.h promise.
 *
 * Streams, the subset modelled: lanes and their FIFO matching; OFFER/ACCEPT
 * (with CHAIN), SEND/RECEIVE in all three buffer forms (-EMSGSIZE; a NULL
 * buffer with a length counts as a fault: -EFAULT here, -EIO at the peer),
 * PUSH/PULL (rights are ANDed), IMBUE/EXTRACT (creds of FAKE_PID), DISMISS,
 * -EPROTO on a mismatch, -EPIPE after a dismiss or when the last handle of a
 * lane is closed, submission checks with aux[1] = offending index, outputs
 * written back before the CQE. Cancelling a chain fails its unresolved
 * actions with -ECANCELED. The chain flags DROP_LANE (the handle is consumed
 * at submission, also by a refused chain; the chain holds the lane until it
 * completes), NO_WRITEBACK and NOWAIT (-EAGAIN unless every action meets or
 * fails at once), and NO_HANDLE on a chained OFFER/ACCEPT (the
 * chain holds that side's new lane and lets it go at completion), as
 * kernel/generic/stream.c does them. Destroying a queue cancels its ops
 * without posting anything, and their chains let go of what they held.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake_kernel.h"
#include "../internal.h"

struct fake_config fake_cfg;
struct fake_stats fake_stats;
char fake_log_buf[16384];
size_t fake_log_len;

static uint64_t fk_clock;
static uint64_t fk_seq;
static bool (*fk_idle_hook)(void *);
static void *fk_idle_arg;

#define ACQ(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define REL(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)

static void violation(const char *what)
{
	fake_stats.violations++;
	fprintf(stderr, "fake kernel: VIOLATION: %s\n", what);
}

/* ---- Handles ---------------------------------------------------------------- */

enum { FK_H_FREE, FK_H_QUEUE, FK_H_EVENT, FK_H_LANE };
#define FK_HANDLE_BASE 16
#define FK_MAX_HANDLES 512
#define LANE_RIGHTS (ALDER_RIGHT_READ | ALDER_RIGHT_WRITE | ALDER_RIGHT_TRANSFER | ALDER_RIGHT_DUPLICATE)
#define EVENT_RIGHTS LANE_RIGHTS

struct fk_handle {
	int type;
	void *obj;
	uint32_t rights;
};
static struct fk_handle fk_handles[FK_MAX_HANDLES];

static int32_t handle_new(int type, void *obj, uint32_t rights)
{
	for (int i = 0; i < FK_MAX_HANDLES; i++) {
		if (fk_handles[i].type == FK_H_FREE) {
			fk_handles[i] = (struct fk_handle){type, obj, rights};
			fake_stats.handles_live++;
			return FK_HANDLE_BASE + i;
		}
	}
	return -ALDER_EMFILE;
}

static struct fk_handle *handle_get(int32_t h, int type, long *err)
{
	if (h < FK_HANDLE_BASE || h >= FK_HANDLE_BASE + FK_MAX_HANDLES ||
	    fk_handles[h - FK_HANDLE_BASE].type == FK_H_FREE) {
		*err = -ALDER_EBADF;
		return NULL;
	}
	struct fk_handle *e = &fk_handles[h - FK_HANDLE_BASE];
	if (type && e->type != type) {
		*err = -ALDER_EBADFD;
		return NULL;
	}
	return e;
}

/* Remove handle h (which exists) from the table; the caller gets the
 * reference it held on its object. */
static void *handle_take(int32_t h)
{
	struct fk_handle *e = &fk_handles[h - FK_HANDLE_BASE];
	void *obj = e->obj;
	e->type = FK_H_FREE;
	e->obj = NULL;
	fake_stats.handles_live--;
	return obj;
}

/* ---- Queues and pending operations -------------------------------------------- */

struct fk_queue {
	struct alder_queue_header *hdr;
	struct alder_sqe *sq;
	struct alder_cqe *cq;
	uint32_t sq_n, cq_n;
	uint32_t in_flight; /* accepted, CQE not posted */
	bool dead;	    /* being destroyed: ops are cancelled, nothing is posted */
	void *mem;
	int32_t handle;
};

enum fk_kind { FK_TIMER, FK_EVENT_WAIT, FK_STREAM };

struct fk_chain;
struct fk_event {
	struct fk_event *next_all;
	uint64_t counter;
	int handles; /* handles naming it, plus pushes carrying it */
};

struct fk_pending {
	struct fk_pending *next, *prev; /* fk_pending_list, in acceptance order */
	struct fk_queue *q;
	uint64_t context;
	bool skip_success; /* ALDER_SQE_SKIP_SUCCESS */
	enum fk_kind kind;
	uint64_t seq;
	uint64_t deadline;
	struct fk_event *ev;
	struct fk_chain *chain;
	bool defer;    /* complete at the next enter instead of now (async cancel) */
	bool deferred; /* completed, CQE waiting for the next enter */
	int64_t d_result;
	uint64_t d_aux[2];
};

static struct fk_pending fk_pending_list = {.next = &fk_pending_list, .prev = &fk_pending_list};
static struct fk_event *fk_events;

static uint32_t unreaped(const struct fk_queue *q)
{
	return q->hdr->cq_tail - ACQ(&q->hdr->cq_head);
}

/* Complete one accepted op: its CQE at cq_tail, in the slot the acceptance
 * reserved. skip (ALDER_SQE_SKIP_SUCCESS) with res >= 0, or a dead queue:
 * only the slot is released, as post_locked does in kernel/generic/queue.c. */
static void post(struct fk_queue *q, uint64_t ctx, int64_t res, uint64_t a0, uint64_t a1, bool skip)
{
	uint32_t tail = q->hdr->cq_tail;
	uint32_t used = unreaped(q);
	if (q->dead || (skip && res >= 0)) {
		if (!q->dead)
			fake_stats.skipped++;
	} else if (used > q->cq_n) {
		violation("cq_head moved past cq_tail");
	} else if (used == q->cq_n) {
		violation("CQ overflow: a completion had no slot");
	} else {
		q->cq[tail & (q->cq_n - 1)] = (struct alder_cqe){ctx, res, {a0, a1}};
		REL(&q->hdr->cq_tail, tail + 1);
		fake_stats.cqes++;
	}
	if (q->in_flight == 0)
		violation("completion without an op in flight");
	else
		q->in_flight--;
	q->hdr->in_flight = q->in_flight;
}

/* An op that completes at once, with the SQE's flags. */
static void post_sqe(struct fk_queue *q, const struct alder_sqe *sqe, int64_t res, uint64_t a0, uint64_t a1)
{
	post(q, sqe->context, res, a0, a1, (sqe->flags & ALDER_SQE_SKIP_SUCCESS) != 0);
}

static struct fk_pending *pending_new(struct fk_queue *q, const struct alder_sqe *sqe, enum fk_kind kind)
{
	struct fk_pending *p = calloc(1, sizeof(*p));
	if (!p)
		abort();
	p->q = q;
	p->context = sqe->context;
	p->skip_success = (sqe->flags & ALDER_SQE_SKIP_SUCCESS) != 0;
	p->kind = kind;
	p->seq = fk_seq++;
	p->prev = fk_pending_list.prev;
	p->next = &fk_pending_list;
	fk_pending_list.prev->next = p;
	fk_pending_list.prev = p;
	return p;
}

static void pending_free(struct fk_pending *p)
{
	p->prev->next = p->next;
	p->next->prev = p->prev;
	free(p);
}

/* The op is over: post its CQE now, or keep it for the next enter. */
static void pending_done(struct fk_pending *p, int64_t res, uint64_t a0, uint64_t a1)
{
	if (p->defer) {
		p->deferred = true;
		p->d_result = res;
		p->d_aux[0] = a0;
		p->d_aux[1] = a1;
		return;
	}
	post(p->q, p->context, res, a0, a1, p->skip_success);
	pending_free(p);
}

static int run_deferred(void)
{
	int n = 0;
	struct fk_pending *p = fk_pending_list.next;
	while (p != &fk_pending_list) {
		struct fk_pending *next = p->next;
		if (p->deferred) {
			post(p->q, p->context, p->d_result, p->d_aux[0], p->d_aux[1], p->skip_success);
			pending_free(p);
			n++;
		}
		p = next;
	}
	return n;
}

/* Complete the earliest timer (ties: acceptance order) due at or before limit. */
static bool fire_one_timer(uint64_t limit)
{
	struct fk_pending *best = NULL;
	for (struct fk_pending *p = fk_pending_list.next; p != &fk_pending_list; p = p->next) {
		if (p->kind != FK_TIMER || p->deferred || p->deadline > limit)
			continue;
		if (!best || p->deadline < best->deadline)
			best = p;
	}
	if (!best)
		return false;
	if (best->deadline > fk_clock)
		fk_clock = best->deadline;
	pending_done(best, 0, 0, 0);
	return true;
}

uint64_t fake_now(void)
{
	return fk_clock;
}

void fake_advance(uint64_t ns)
{
	uint64_t limit = fk_clock + ns;
	while (fire_one_timer(limit))
		;
	fk_clock = limit;
}

void fake_set_idle_hook(bool (*hook)(void *arg), void *arg)
{
	fk_idle_hook = hook;
	fk_idle_arg = arg;
}

uint32_t fake_pending_ops(void)
{
	uint32_t n = 0;
	for (struct fk_pending *p = fk_pending_list.next; p != &fk_pending_list; p = p->next)
		n++;
	return n;
}

/* ---- Events ----------------------------------------------------------------------- */

long fake_event_create(void)
{
	struct fk_event *ev = calloc(1, sizeof(*ev));
	if (!ev)
		abort();
	ev->next_all = fk_events;
	fk_events = ev;
	ev->handles = 1;
	long h = handle_new(FK_H_EVENT, ev, EVENT_RIGHTS);
	return h;
}

/* The last handle is gone: nobody can signal it, pending waits fail. */
static void event_release(struct fk_event *ev)
{
	if (--ev->handles > 0)
		return;
	struct fk_pending *p = fk_pending_list.next;
	while (p != &fk_pending_list) {
		struct fk_pending *next = p->next;
		if (p->kind == FK_EVENT_WAIT && p->ev == ev && !p->deferred)
			pending_done(p, -ALDER_EPIPE, 0, 0);
		p = next;
	}
}

long fake_event_signal(int32_t event)
{
	long err;
	struct fk_handle *e = handle_get(event, FK_H_EVENT, &err);
	if (!e)
		return err;
	if (!(e->rights & ALDER_RIGHT_WRITE))
		return -ALDER_EACCES;
	struct fk_event *ev = e->obj;
	ev->counter++;
	/* Edge-triggered, no memory: only waits pending now see it. */
	struct fk_pending *p = fk_pending_list.next;
	while (p != &fk_pending_list) {
		struct fk_pending *next = p->next;
		if (p->kind == FK_EVENT_WAIT && p->ev == ev && !p->deferred)
			pending_done(p, (int64_t)ev->counter, 0, 0);
		p = next;
	}
	return 0;
}

/* ---- Streams ------------------------------------------------------------------------ */

struct fk_stream;
struct fk_act;

struct fk_lane {
	struct fk_stream *s;
	int side;
	int open;	     /* handles naming it, pushes carrying it, chains holding it */
	struct fk_act *head; /* unmatched actions, FIFO */
	struct fk_act *tail;
};

struct fk_stream {
	struct fk_stream *next_all;
	struct fk_lane lane[2];
	bool ended;
};
static struct fk_stream *fk_streams;

struct fk_act {
	struct fk_act *next; /* lane FIFO */
	struct fk_chain *c;
	uint32_t idx;
	struct fk_lane *lane; /* where it is queued (NULL: not queued) */
	bool resolved;
	uint32_t held_end;	 /* CHAIN: actions (idx, held_end) wait for the child */
	struct alder_iovec *iov; /* SG: copied at submission */
	int carried_type;	 /* PUSH: what the push carries */
	void *carried_obj;
	uint32_t carried_rights;
	struct fk_lane *held_lane; /* OFFER/ACCEPT with NO_HANDLE: its new lane, let go at completion */
};

struct fk_chain {
	struct fk_pending *p;
	struct alder_action *user; /* where outputs are written back */
	struct alder_action k[ALDER_STREAM_MAX_CHAIN];
	struct fk_act a[ALDER_STREAM_MAX_CHAIN];
	uint32_t count, unresolved;
	bool aborting;
	bool no_writeback;	   /* ALDER_STREAM_NO_WRITEBACK */
	struct fk_lane *lane_held; /* ALDER_STREAM_DROP_LANE: the lane, let go at completion */
};

static void match(struct fk_stream *s);
static void lane_release(struct fk_lane *l);

static struct fk_stream *stream_new(void)
{
	struct fk_stream *s = calloc(1, sizeof(*s));
	if (!s)
		abort();
	s->lane[0].s = s;
	s->lane[1].s = s;
	s->lane[1].side = 1;
	s->next_all = fk_streams;
	fk_streams = s;
	return s;
}

static void lane_push(struct fk_lane *l, struct fk_act *a)
{
	a->next = NULL;
	a->lane = l;
	if (l->tail)
		l->tail->next = a;
	else
		l->head = a;
	l->tail = a;
}

static struct fk_act *lane_pop(struct fk_lane *l)
{
	struct fk_act *a = l->head;
	if (a) {
		l->head = a->next;
		if (!l->head)
			l->tail = NULL;
		a->next = NULL;
		a->lane = NULL;
	}
	return a;
}

static void lane_unlink(struct fk_act *a)
{
	struct fk_lane *l = a->lane;
	struct fk_act **pp = &l->head, *prev = NULL;
	while (*pp && *pp != a) {
		prev = *pp;
		pp = &(*pp)->next;
	}
	if (*pp) {
		*pp = a->next;
		if (l->tail == a)
			l->tail = prev;
	}
	a->next = NULL;
	a->lane = NULL;
}

static void event_release(struct fk_event *ev);

static void release_carried(struct fk_act *a)
{
	if (a->carried_type == FK_H_LANE)
		lane_release(a->carried_obj);
	else if (a->carried_type == FK_H_EVENT)
		event_release(a->carried_obj);
	a->carried_type = FK_H_FREE;
	a->carried_obj = NULL;
}

/* Every action of c is resolved: write back (unless NO_WRITEBACK), complete,
 * free c, then let go of the lanes it held (a dropped lane handle, transient
 * child lanes): after the CQE, as the kernel does, since letting one go may
 * close a side and resolve other chains. */
static void chain_complete(struct fk_chain *c)
{
	int64_t result = 0;
	uint64_t ok = 0;
	bool failed = false;
	struct fk_lane *lanes[ALDER_STREAM_MAX_CHAIN + 1];
	uint32_t nlanes = 0;
	if (c->lane_held)
		lanes[nlanes++] = c->lane_held;
	for (uint32_t i = 0; i < c->count; i++) {
		struct alder_action *u = &c->user[i], *k = &c->k[i];
		if (!c->no_writeback) {
			u->status = k->status;
			u->out_handle = k->out_handle;
			u->length = k->length;
			if ((k->type == ALDER_ACTION_RECEIVE && (k->flags & ALDER_ACTION_INLINE)) ||
			    k->type == ALDER_ACTION_EXTRACT_CREDS)
				memcpy(u->data, k->data, sizeof(u->data));
		}
		if (!failed && k->status != 0) {
			failed = true;
			result = k->status;
		}
		if (!failed)
			ok++;
		free(c->a[i].iov);
		if (c->a[i].held_lane)
			lanes[nlanes++] = c->a[i].held_lane;
	}
	struct fk_pending *p = c->p;
	p->chain = NULL;
	free(c);
	pending_done(p, result, ok, 0);
	for (uint32_t i = 0; i < nlanes; i++)
		lane_release(lanes[i]);
}

static void resolve(struct fk_act *a, int32_t status, uint64_t length, int32_t out_handle,
		    struct fk_lane *child);

/* The actions held behind a CHAIN offer/accept: onto the child lane, or fail. */
static void release_held(struct fk_act *a, int32_t status, struct fk_lane *child)
{
	struct fk_chain *c = a->c;
	for (uint32_t i = a->idx + 1; i < a->held_end; i++) {
		struct fk_act *h = &c->a[i];
		if (status == 0)
			lane_push(child, h);
		else
			resolve(h, status, 0, 0, NULL);
	}
}

static void resolve(struct fk_act *a, int32_t status, uint64_t length, int32_t out_handle,
		    struct fk_lane *child)
{
	struct fk_chain *c = a->c;
	if (a->resolved) {
		violation("fake: action resolved twice");
		return;
	}
	a->resolved = true;
	c->k[a->idx].status = status;
	c->k[a->idx].length = length;
	c->k[a->idx].out_handle = out_handle;
	if (status != 0)
		release_carried(a);
	if (a->held_end > a->idx + 1)
		release_held(a, status, child);
	if (--c->unresolved == 0 && !c->aborting)
		chain_complete(c);
}

static uint64_t act_bytes(struct fk_act *a)
{
	struct alder_action *k = &a->c->k[a->idx];
	if (k->flags & ALDER_ACTION_SG) {
		uint64_t t = 0;
		for (uint64_t i = 0; i < k->len; i++)
			t += a->iov[i].len;
		return t;
	}
	return k->len;
}

/* Copy between the two sides; returns false on a NULL buffer (fault). */
static bool act_has_fault(struct fk_act *a)
{
	struct alder_action *k = &a->c->k[a->idx];
	if (k->flags & ALDER_ACTION_INLINE)
		return false;
	if (k->flags & ALDER_ACTION_SG) {
		for (uint64_t i = 0; i < k->len; i++)
			if (a->iov[i].len && !a->iov[i].base)
				return true;
		return false;
	}
	return k->len && !k->buf;
}

static void gather(struct fk_act *a, uint8_t *out, uint64_t n)
{
	struct alder_action *k = &a->c->k[a->idx];
	if (k->flags & ALDER_ACTION_INLINE) {
		memcpy(out, k->data, n);
	} else if (k->flags & ALDER_ACTION_SG) {
		for (uint64_t i = 0; i < k->len && n; i++) {
			uint64_t m = a->iov[i].len < n ? a->iov[i].len : n;
			memcpy(out, (void *)(uintptr_t)a->iov[i].base, m);
			out += m;
			n -= m;
		}
	} else {
		memcpy(out, (void *)(uintptr_t)k->buf, n);
	}
}

static void scatter(struct fk_act *a, const uint8_t *in, uint64_t n)
{
	struct alder_action *k = &a->c->k[a->idx];
	if (k->flags & ALDER_ACTION_INLINE) {
		memcpy(k->data, in, n);
	} else if (k->flags & ALDER_ACTION_SG) {
		for (uint64_t i = 0; i < k->len && n; i++) {
			uint64_t m = a->iov[i].len < n ? a->iov[i].len : n;
			memcpy((void *)(uintptr_t)a->iov[i].base, in, m);
			in += m;
			n -= m;
		}
	} else {
		memcpy((void *)(uintptr_t)k->buf, in, n);
	}
}

static void pair_data(struct fk_act *snd, struct fk_act *rcv)
{
	uint64_t bytes = act_bytes(snd), room = act_bytes(rcv);
	if (bytes > room) {
		resolve(snd, -ALDER_EMSGSIZE, room, 0, NULL);
		resolve(rcv, -ALDER_EMSGSIZE, bytes, 0, NULL);
		return;
	}
	if (act_has_fault(snd)) {
		resolve(snd, -ALDER_EFAULT, 0, 0, NULL);
		resolve(rcv, -ALDER_EIO, 0, 0, NULL);
		return;
	}
	if (act_has_fault(rcv)) {
		resolve(snd, -ALDER_EIO, 0, 0, NULL);
		resolve(rcv, -ALDER_EFAULT, 0, 0, NULL);
		return;
	}
	uint8_t *tmp = malloc(bytes ? bytes : 1);
	if (!tmp)
		abort();
	gather(snd, tmp, bytes);
	scatter(rcv, tmp, bytes);
	free(tmp);
	resolve(snd, 0, bytes, 0, NULL);
	resolve(rcv, 0, bytes, 0, NULL);
}

static void pair_handle(struct fk_act *push, struct fk_act *pull)
{
	uint32_t rights = push->carried_rights & push->c->k[push->idx].rights & pull->c->k[pull->idx].rights;
	long h = handle_new(push->carried_type, push->carried_obj, rights);
	if (h < 0) {
		resolve(push, (int32_t)h, 0, 0, NULL);
		resolve(pull, (int32_t)h, 0, 0, NULL);
		return;
	}
	push->carried_type = FK_H_FREE; /* the reference moved into the new handle */
	resolve(push, 0, 0, 0, NULL);
	resolve(pull, 0, 0, (int32_t)h, NULL);
}

/* This side's lane of a new child conversation: a handle in out_handle, or
 * with NO_HANDLE held by the chain until it completes (out_handle 0). */
static int32_t child_lane(struct fk_act *a, struct fk_lane *l)
{
	l->open = 1;
	if (a->c->k[a->idx].flags & ALDER_ACTION_NO_HANDLE) {
		a->held_lane = l;
		return 0;
	}
	long h = handle_new(FK_H_LANE, l, LANE_RIGHTS);
	if (h < 0)
		abort();
	return (int32_t)h;
}

static void pair_stream(struct fk_act *offer, struct fk_act *accept)
{
	struct fk_stream *child = stream_new();
	int32_t ho = child_lane(offer, &child->lane[0]);
	int32_t ha = child_lane(accept, &child->lane[1]);
	resolve(offer, 0, 0, ho, &child->lane[0]);
	resolve(accept, 0, 0, ha, &child->lane[1]);
	match(child);
}

static void pair(struct fk_act *a, struct fk_act *b)
{
	uint32_t ta = a->c->k[a->idx].type, tb = b->c->k[b->idx].type;
	if (ta == ALDER_ACTION_OFFER && tb == ALDER_ACTION_ACCEPT)
		pair_stream(a, b);
	else if (ta == ALDER_ACTION_ACCEPT && tb == ALDER_ACTION_OFFER)
		pair_stream(b, a);
	else if (ta == ALDER_ACTION_SEND && tb == ALDER_ACTION_RECEIVE)
		pair_data(a, b);
	else if (ta == ALDER_ACTION_RECEIVE && tb == ALDER_ACTION_SEND)
		pair_data(b, a);
	else if (ta == ALDER_ACTION_PUSH_HANDLE && tb == ALDER_ACTION_PULL_HANDLE)
		pair_handle(a, b);
	else if (ta == ALDER_ACTION_PULL_HANDLE && tb == ALDER_ACTION_PUSH_HANDLE)
		pair_handle(b, a);
	else if ((ta == ALDER_ACTION_IMBUE_CREDS && tb == ALDER_ACTION_EXTRACT_CREDS) ||
		 (ta == ALDER_ACTION_EXTRACT_CREDS && tb == ALDER_ACTION_IMBUE_CREDS)) {
		struct fk_act *ex = ta == ALDER_ACTION_EXTRACT_CREDS ? a : b;
		struct alder_creds cr = {.pid = FAKE_PID};
		for (int i = 0; i < 16; i++)
			cr.id[i] = (uint8_t)(0xa0 + i);
		ex->c->k[ex->idx].creds = cr;
		resolve(a, 0, 0, 0, NULL);
		resolve(b, 0, 0, 0, NULL);
	} else {
		resolve(a, -ALDER_EPROTO, 0, 0, NULL);
		resolve(b, -ALDER_EPROTO, 0, 0, NULL);
	}
}

static void match(struct fk_stream *s)
{
	for (;;) {
		if (s->ended) {
			for (int side = 0; side < 2; side++) {
				struct fk_act *a;
				while ((a = lane_pop(&s->lane[side])))
					resolve(a, -ALDER_EPIPE, 0, 0, NULL);
			}
			return;
		}
		bool dismissed = false;
		for (int side = 0; side < 2 && !dismissed; side++) {
			struct fk_act *h = s->lane[side].head;
			if (h && h->c->k[h->idx].type == ALDER_ACTION_DISMISS) {
				lane_pop(&s->lane[side]);
				s->ended = true;
				resolve(h, 0, 0, 0, NULL);
				dismissed = true;
			}
		}
		if (dismissed)
			continue;
		if (!s->lane[0].head || !s->lane[1].head)
			return;
		struct fk_act *a = lane_pop(&s->lane[0]);
		struct fk_act *b = lane_pop(&s->lane[1]);
		pair(a, b);
	}
}

static void lane_release(struct fk_lane *l)
{
	if (--l->open == 0) {
		l->s->ended = true;
		match(l->s);
	}
}

static bool gives(uint32_t type)
{
	return type == ALDER_ACTION_OFFER || type == ALDER_ACTION_SEND || type == ALDER_ACTION_PUSH_HANDLE ||
	       type == ALDER_ACTION_IMBUE_CREDS || type == ALDER_ACTION_DISMISS;
}

/* Check one action as the kernel does at submission; 0 or the error. (The
 * lane's rights are checked after all actions, as in the kernel.) */
static long check_action(const struct alder_action *k, uint32_t i, uint32_t count)
{
	if (k->type == 0 || k->type >= ALDER_ACTION_TYPE_COUNT)
		return -ALDER_EINVAL;
	if (k->flags & ~ALDER_ACTION_FLAGS_ALL || k->reserved[0] || k->reserved[1])
		return -ALDER_EINVAL;
	bool data = k->type == ALDER_ACTION_SEND || k->type == ALDER_ACTION_RECEIVE;
	bool stream = k->type == ALDER_ACTION_OFFER || k->type == ALDER_ACTION_ACCEPT;
	if ((k->flags & ALDER_ACTION_CHAIN) && (!stream || i + 1 == count))
		return -ALDER_EINVAL;
	if ((k->flags & ALDER_ACTION_NO_HANDLE) && !(k->flags & ALDER_ACTION_CHAIN))
		return -ALDER_EINVAL;
	if ((k->flags & (ALDER_ACTION_INLINE | ALDER_ACTION_SG)) && !data)
		return -ALDER_EINVAL;
	if ((k->flags & ALDER_ACTION_INLINE) && (k->flags & ALDER_ACTION_SG))
		return -ALDER_EINVAL;
	if (k->type == ALDER_ACTION_DISMISS && i + 1 != count)
		return -ALDER_EINVAL;
	if (data) {
		if ((k->flags & ALDER_ACTION_INLINE) && (k->len > ALDER_ACTION_INLINE_MAX || k->buf))
			return -ALDER_EINVAL;
		if ((k->flags & ALDER_ACTION_SG) && k->len > ALDER_STREAM_MAX_IOV)
			return -ALDER_EINVAL;
		if (!(k->flags & (ALDER_ACTION_INLINE | ALDER_ACTION_SG)) &&
		    k->len > ALDER_STREAM_MAX_TRANSFER)
			return -ALDER_EINVAL;
	} else if (k->buf || k->len) {
		return -ALDER_EINVAL;
	}
	if (k->type != ALDER_ACTION_PUSH_HANDLE && k->handle)
		return -ALDER_EINVAL;
	if (k->type != ALDER_ACTION_PUSH_HANDLE && k->type != ALDER_ACTION_PULL_HANDLE && k->rights)
		return -ALDER_EINVAL;
	if (k->rights & ~ALDER_RIGHTS_ALL)
		return -ALDER_EINVAL;
	return 0;
}

/* Whether the actions of c (no CHAIN among them), queued on lane now, would
 * all meet or fail at once (the kernel's sm_completes_now): the stream has
 * ended, or the lane has nothing queued and each action finds a partner on
 * the other lane, or a DISMISS on either side ends the stream first. */
static bool completes_now(const struct fk_lane *lane, const struct fk_chain *c)
{
	const struct fk_stream *s = lane->s;
	if (s->ended)
		return true;
	if (lane->head)
		return false;
	const struct fk_act *p = s->lane[lane->side ^ 1].head;
	for (uint32_t i = 0; i < c->count; i++, p = p->next) {
		if (c->k[i].type == ALDER_ACTION_DISMISS)
			return true;
		if (!p)
			return false;
		if (p->c->k[p->idx].type == ALDER_ACTION_DISMISS)
			return true;
	}
	return true;
}

/* Submission in the kernel's order (stream_op_submit): the SQE's args
 * (-EINVAL, -EFAULT: nothing happens), the lane handle (nothing happens),
 * then each action and the lane's rights (a refused chain: aux[1] = the
 * index, and a DROP_LANE handle is consumed all the same). */
static void stream_submit(struct fk_queue *q, const struct alder_sqe *sqe)
{
	long err = 0;
	uint32_t bad = 0;
	uint64_t count = sqe->args[1], flags = sqe->args[2];
	if ((flags & ~(uint64_t)ALDER_STREAM_FLAGS_ALL) || sqe->args[3] || count == 0 ||
	    count > ALDER_STREAM_MAX_CHAIN) {
		post_sqe(q, sqe, -ALDER_EINVAL, 0, 0);
		return;
	}
	if (!sqe->args[0]) { /* the fake's "not in user space" */
		post_sqe(q, sqe, -ALDER_EFAULT, 0, 0);
		return;
	}
	struct fk_handle *lh = handle_get(sqe->handle, FK_H_LANE, &err);
	if (!lh) {
		post_sqe(q, sqe, err, 0, 0);
		return;
	}
	struct fk_lane *lane = lh->obj;
	bool drop = (flags & ALDER_STREAM_DROP_LANE) != 0;
	struct fk_chain *c = calloc(1, sizeof(*c));
	if (!c)
		abort();
	c->user = (struct alder_action *)(uintptr_t)sqe->args[0];
	c->count = (uint32_t)count;
	c->no_writeback = (flags & ALDER_STREAM_NO_WRITEBACK) != 0;
	memcpy(c->k, c->user, count * sizeof(struct alder_action));

	uint32_t need = 0;
	for (uint32_t i = 0; i < c->count && !err; i++) {
		struct alder_action *k = &c->k[i];
		struct fk_act *a = &c->a[i];
		a->c = c;
		a->idx = i;
		err = check_action(k, i, c->count);
		if (!err && (flags & ALDER_STREAM_NOWAIT) && (k->flags & ALDER_ACTION_CHAIN))
			err = -ALDER_EINVAL;
		if (err) {
			bad = i;
			break;
		}
		need |= gives(k->type) ? ALDER_RIGHT_WRITE : ALDER_RIGHT_READ;
		if ((k->flags & ALDER_ACTION_SG) && k->len) {
			if (!k->buf) {
				err = -ALDER_EFAULT;
				bad = i;
				break;
			}
			a->iov = malloc(k->len * sizeof(struct alder_iovec));
			memcpy(a->iov, (void *)(uintptr_t)k->buf, k->len * sizeof(struct alder_iovec));
		}
		if (k->type == ALDER_ACTION_PUSH_HANDLE) {
			struct fk_handle *ph = handle_get(k->handle, 0, &err);
			if (ph && !(ph->rights & ALDER_RIGHT_TRANSFER))
				err = -ALDER_EACCES;
			if (err) {
				bad = i;
				break;
			}
			a->carried_type = ph->type;
			a->carried_obj = ph->obj;
			a->carried_rights = ph->rights;
		}
	}
	if (!err && (lh->rights & need) != need)
		err = -ALDER_EACCES; /* aux[1] = 0, as in the kernel */
	if (!err && (flags & ALDER_STREAM_NOWAIT) && !completes_now(lane, c))
		err = -ALDER_EAGAIN; /* it would wait: nothing runs */
	if (err) {
		for (uint32_t i = 0; i < c->count; i++)
			free(c->a[i].iov);
		free(c);
		post_sqe(q, sqe, err, 0, bad);
		if (drop) /* consumed either way; its side may close now */
			lane_release(handle_take(sqe->handle));
		return;
	}
	/* --- accepted: take the references, queue, match --- */
	for (uint32_t i = 0; i < c->count; i++) {
		if (c->a[i].carried_type == FK_H_LANE)
			((struct fk_lane *)c->a[i].carried_obj)->open++;
		else if (c->a[i].carried_type == FK_H_EVENT)
			((struct fk_event *)c->a[i].carried_obj)->handles++;
	}
	if (drop)
		c->lane_held = handle_take(sqe->handle); /* the handle's reference, now the chain's */
	struct fk_pending *p = pending_new(q, sqe, FK_STREAM);
	p->chain = c;
	c->p = p;
	c->unresolved = c->count;
	for (uint32_t i = 0; i < c->count;) {
		struct fk_act *a = &c->a[i];
		lane_push(lane, a);
		if (c->k[i].flags & ALDER_ACTION_CHAIN) {
			a->held_end = c->count; /* the rest go to the child lane */
			break;
		}
		i++;
	}
	match(lane->s);
}

/* Fail every unresolved action of a chain with status (a cancel), then
 * complete it once (resolve must not complete it midway: c is freed then). */
static void chain_abort(struct fk_chain *c, int32_t status)
{
	c->aborting = true;
	for (uint32_t i = 0; i < c->count; i++) {
		struct fk_act *a = &c->a[i];
		if (a->resolved)
			continue;
		if (a->lane)
			lane_unlink(a);
		resolve(a, status, 0, 0, NULL); /* cascades to held actions */
	}
	chain_complete(c);
}

/* ---- Submission ------------------------------------------------------------------- */

static struct fk_pending *find_pending(const struct fk_queue *q, uint64_t ctx)
{
	for (struct fk_pending *p = fk_pending_list.next; p != &fk_pending_list; p = p->next)
		if (p->q == q && p->context == ctx && !p->deferred)
			return p;
	return NULL;
}

/* defer: the CQE at the next enter (fake_cfg.async_cancel). */
static void cancel_pending(struct fk_pending *p, bool defer)
{
	p->defer = defer;
	if (p->kind == FK_STREAM)
		chain_abort(p->chain, -ALDER_ECANCELED);
	else
		pending_done(p, -ALDER_ECANCELED, 0, 0);
}

static void process(struct fk_queue *q, const struct alder_sqe *sqe)
{
	long err;
	if ((sqe->flags & ~ALDER_SQE_FLAGS_ALL) || sqe->reserved) {
		post_sqe(q, sqe, -ALDER_EINVAL, 0, 0);
		return;
	}
	switch (sqe->op) {
	case ALDER_OP_NOP:
		post_sqe(q, sqe, 0, 0, 0);
		return;
	case ALDER_OP_TIMER:
		if (sqe->args[0] <= fk_clock) {
			post_sqe(q, sqe, 0, 0, 0);
		} else {
			struct fk_pending *p = pending_new(q, sqe, FK_TIMER);
			p->deadline = sqe->args[0];
		}
		return;
	case ALDER_OP_CANCEL: {
		struct fk_pending *t = find_pending(q, sqe->args[0]);
		if (!t) {
			fake_stats.cancels_missed++;
			post_sqe(q, sqe, -ALDER_ENOENT, 0, 0);
			return;
		}
		fake_stats.cancels_found++;
		cancel_pending(t, fake_cfg.async_cancel); /* sync: the target's CQE first; async: later */
		post_sqe(q, sqe, 0, 0, 0);
		return;
	}
	case ALDER_OP_EVENT_WAIT: {
		struct fk_handle *e = handle_get(sqe->handle, FK_H_EVENT, &err);
		if (!e) {
			post_sqe(q, sqe, err, 0, 0);
			return;
		}
		if (!(e->rights & ALDER_RIGHT_READ)) {
			post_sqe(q, sqe, -ALDER_EACCES, 0, 0);
			return;
		}
		struct fk_pending *p = pending_new(q, sqe, FK_EVENT_WAIT);
		p->ev = e->obj;
		return;
	}
	case ALDER_OP_STREAM:
		stream_submit(q, sqe);
		return;
	default:
		post_sqe(q, sqe, -ALDER_EINVAL, 0, 0);
		return;
	}
}

static long queue_enter(struct fk_queue *q, uint32_t to_submit, uint32_t min_complete)
{
	fake_stats.enters++;
	run_deferred();

	uint32_t head = q->hdr->sq_head;
	uint32_t tail = ACQ(&q->hdr->sq_tail);
	if (tail - head > q->sq_n) {
		violation("sq_tail more than sq_entries ahead of sq_head");
		return -ALDER_EINVAL;
	}
	if (to_submit > tail - head) {
		violation("to_submit beyond the SQEs in the ring");
		return -ALDER_EINVAL;
	}
	if (min_complete > q->cq_n)
		return -ALDER_EINVAL;

	uint32_t accepted = 0;
	bool declined_by_config = false;
	while (accepted < to_submit) {
		if (fake_cfg.max_accept_per_enter && accepted >= fake_cfg.max_accept_per_enter) {
			fake_stats.declined_config++;
			declined_by_config = true;
			break;
		}
		if (q->in_flight + unreaped(q) >= q->cq_n) {
			fake_stats.declined_budget++;
			break;
		}
		struct alder_sqe sqe = q->sq[head & (q->sq_n - 1)];
		head++;
		REL(&q->hdr->sq_head, head);
		q->in_flight++;
		q->hdr->in_flight = q->in_flight;
		accepted++;
		fake_stats.accepted++;
		uint64_t load = (uint64_t)q->in_flight + unreaped(q);
		if (load > fake_stats.max_in_flight)
			fake_stats.max_in_flight = load;
		process(q, &sqe);
	}

	/* The real kernel declines only for want of CQ room, so what it
	 * declines can never be what its wait depends on. The knob declines
	 * for no reason; waiting then could strand a cancel the wait needs, so
	 * it returns at once (the caller comes back). */
	if (declined_by_config)
		return accepted;
	for (unsigned guard = 0; unreaped(q) < min_complete; guard++) {
		if (guard > 1000000) {
			violation("idle hook keeps claiming progress");
			return -ALDER_ETIMEDOUT;
		}
		if (run_deferred())
			continue;
		if (fire_one_timer(UINT64_MAX))
			continue;
		if (fk_idle_hook && fk_idle_hook(fk_idle_arg))
			continue;
		return -ALDER_ETIMEDOUT; /* the real kernel would wait forever */
	}
	return accepted;
}

/* ---- Entry points for the host platform (plat_host.c) ---------------------------- */

int fake_queue_create(uint32_t sq_entries, uint32_t cq_entries, struct rt_ring *ring)
{
	if (!sq_entries || !cq_entries || sq_entries > ALDER_QUEUE_MAX_ENTRIES ||
	    cq_entries > ALDER_QUEUE_MAX_ENTRIES || (sq_entries & (sq_entries - 1)) ||
	    (cq_entries & (cq_entries - 1)))
		return -ALDER_EINVAL;
	struct fk_queue *q = calloc(1, sizeof(*q));
	if (!q)
		abort();
	size_t sq_off = 64, cq_off = (sq_off + sq_entries * sizeof(struct alder_sqe) + 63) & ~(size_t)63;
	size_t size = (cq_off + cq_entries * sizeof(struct alder_cqe) + 4095) & ~(size_t)4095;
	q->mem = aligned_alloc(4096, size);
	if (!q->mem)
		abort();
	memset(q->mem, 0, size);
	q->hdr = q->mem;
	q->hdr->sq_mask = sq_entries - 1;
	q->hdr->cq_mask = cq_entries - 1;
	q->hdr->sq_offset = (uint32_t)sq_off;
	q->hdr->cq_offset = (uint32_t)cq_off;
	/* Start the free-running indices near the wrap, so that every test
	 * also crosses 2^32. */
	uint32_t start = UINT32_MAX - 5;
	q->hdr->sq_head = q->hdr->sq_tail = start;
	q->hdr->cq_head = q->hdr->cq_tail = start;
	q->sq = (struct alder_sqe *)((char *)q->mem + sq_off);
	q->cq = (struct alder_cqe *)((char *)q->mem + cq_off);
	q->sq_n = sq_entries;
	q->cq_n = cq_entries;
	long h = handle_new(FK_H_QUEUE, q, ALDER_RIGHTS_ALL);
	if (h < 0)
		abort();
	q->handle = (int32_t)h;
	fake_stats.queues_live++;

	ring->handle = q->handle;
	ring->sq_entries = sq_entries;
	ring->cq_entries = cq_entries;
	ring->hdr = q->hdr;
	ring->sq = q->sq;
	ring->cq = q->cq;
	ring->map_addr = (uint64_t)(uintptr_t)q->mem;
	ring->map_size = size;
	ring->plat = q;
	return 0;
}

static void queue_free(struct fk_queue *q)
{
	/* As in the kernel, its ops are cancelled and no CQE is posted any
	 * more; what their chains held (pushed handles, dropped and transient
	 * lanes) is let go, which may end conversations. Each cancel may
	 * complete other ops of q, so look for the first one again each time. */
	q->dead = true;
	for (;;) {
		struct fk_pending *p = fk_pending_list.next;
		while (p != &fk_pending_list && p->q != q)
			p = p->next;
		if (p == &fk_pending_list)
			break;
		if (p->deferred)
			pending_free(p); /* its CQE was never posted: the slot goes with q */
		else
			cancel_pending(p, false);
	}
	free(q->mem);
	free(q);
	fake_stats.queues_live--;
}

void fake_queue_destroy(struct rt_ring *ring)
{
	long err;
	struct fk_handle *e = handle_get(ring->handle, FK_H_QUEUE, &err);
	if (!e || e->obj != ring->plat) {
		violation("destroying a queue that does not exist");
		return;
	}
	e->type = FK_H_FREE;
	fake_stats.handles_live--;
	queue_free(ring->plat);
}

long fake_queue_enter(struct rt_ring *ring, uint32_t to_submit, uint32_t min_complete)
{
	long err;
	struct fk_handle *e = handle_get(ring->handle, FK_H_QUEUE, &err);
	if (!e)
		return err;
	return queue_enter(e->obj, to_submit, min_complete);
}

long fake_handle_close(int32_t h)
{
	long err;
	struct fk_handle *e = handle_get(h, 0, &err);
	if (!e)
		return err;
	int type = e->type;
	void *obj = handle_take(h);
	if (type == FK_H_LANE)
		lane_release(obj);
	else if (type == FK_H_EVENT)
		event_release(obj);
	else if (type == FK_H_QUEUE)
		queue_free(obj);
	return 0;
}

long fake_stream_create(int32_t lanes[2])
{
	if (!lanes)
		return -ALDER_EFAULT;
	struct fk_stream *s = stream_new();
	long a = handle_new(FK_H_LANE, &s->lane[0], LANE_RIGHTS);
	long b = handle_new(FK_H_LANE, &s->lane[1], LANE_RIGHTS);
	if (a < 0 || b < 0)
		abort();
	s->lane[0].open = 1;
	s->lane[1].open = 1;
	lanes[0] = (int32_t)a;
	lanes[1] = (int32_t)b;
	return 0;
}

void fake_log_clear(void)
{
	fake_log_len = 0;
	fake_log_buf[0] = 0;
}

void fake_reset(void)
{
	for (int i = 0; i < FK_MAX_HANDLES; i++) {
		if (fk_handles[i].type == FK_H_QUEUE)
			queue_free(fk_handles[i].obj);
		fk_handles[i] = (struct fk_handle){0};
	}
	while (fk_pending_list.next != &fk_pending_list) {
		struct fk_pending *p = fk_pending_list.next;
		if (p->kind == FK_STREAM && p->chain) {
			for (uint32_t i = 0; i < p->chain->count; i++)
				free(p->chain->a[i].iov);
			free(p->chain);
		}
		pending_free(p);
	}
	while (fk_streams) {
		struct fk_stream *s = fk_streams;
		fk_streams = s->next_all;
		free(s);
	}
	while (fk_events) {
		struct fk_event *ev = fk_events;
		fk_events = ev->next_all;
		free(ev);
	}
	uint64_t stacks_live = fake_stats.stacks_live;
	memset(&fake_stats, 0, sizeof(fake_stats));
	fake_stats.stacks_live = stacks_live; /* stacks are the platform's, not reset */
	memset(&fake_cfg, 0, sizeof(fake_cfg));
	fk_clock = 0;
	fk_seq = 0;
	fk_idle_hook = NULL;
	fk_idle_arg = NULL;
	fake_log_clear();
}
