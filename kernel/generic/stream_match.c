/*
 * The matching core of streams: which actions meet, which fail, when a chain
 * is complete (contract in kern/stream_match.h, semantics in
 * abi/alder/stream.h). Not for: moving data, handles, locking, memory; that
 * is kernel/generic/stream.c.
 */
#include <kern/assert.h>
#include <kern/stream_match.h>

static void sm_run(struct sm_stream *s, struct sm_batch *b);

void sm_stream_init(struct sm_stream *s)
{
	for (unsigned i = 0; i < 2; i++) {
		list_init(&s->side[i].queue);
		s->side[i].closed = false;
	}
	s->ended = false;
}

void sm_batch_init(struct sm_batch *b)
{
	list_init(&b->resolved);
}

void sm_chain_init(struct sm_chain *c, struct sm_action *actions, uint32_t count)
{
	c->actions = actions;
	c->count = count;
	c->cursor = 0;
	c->remaining = count;
	for (uint32_t i = 0; i < count; i++) {
		struct sm_action *a = &actions[i];

		a->state = SM_IDLE;
		a->side = 0;
		list_init(&a->link);
		a->stream = NULL;
		a->chain = c;
		a->peer = NULL;
		a->made = NULL;
		a->status = 0;
	}
}

/* a leaves the matching with status (!= 0) and goes to the batch. */
static void sm_resolve_failed(struct sm_action *a, int32_t status, struct sm_batch *b)
{
	assert(status < 0);
	assert(a->state == SM_IDLE || a->state == SM_QUEUED);
	if (a->state == SM_QUEUED)
		list_remove(&a->link);
	a->state = SM_RESOLVED;
	a->status = status;
	a->peer = NULL;
	list_append(&b->resolved, &a->link);
}

/* The actions of c not queued yet can never run: they fail with status. */
static void sm_fail_rest(struct sm_chain *c, int32_t status, struct sm_batch *b)
{
	while (c->cursor < c->count)
		sm_resolve_failed(&c->actions[c->cursor++], status, b);
}

/* a fails; if the rest of its chain was to follow it into a child
 * conversation, that fails the same way. */
static void sm_fail(struct sm_action *a, int32_t status, struct sm_batch *b)
{
	sm_resolve_failed(a, status, b);
	if (a->descend)
		sm_fail_rest(a->chain, status, b);
}

/*
 * Queue the next segment of c on (s, side): the actions from the cursor up
 * to and including the first one with ALDER_ACTION_CHAIN (or to the end).
 */
static void sm_queue_segment(struct sm_stream *s, unsigned side, struct sm_chain *c, struct sm_batch *b)
{
	while (c->cursor < c->count) {
		struct sm_action *a = &c->actions[c->cursor++];

		assert(a->state == SM_IDLE);
		a->stream = s;
		a->side = (uint8_t)side;
		if (s->ended) {
			sm_fail(a, -ALDER_EPIPE, b);
		} else {
			a->state = SM_QUEUED;
			list_append(&s->side[side].queue, &a->link);
		}
		if (a->descend)
			break;
	}
}

/* The conversation is over: everything queued fails with -EPIPE. Keeps the
 * invariant "ended => both queues empty". */
static void sm_end(struct sm_stream *s, struct sm_batch *b)
{
	s->ended = true;
	for (unsigned i = 0; i < 2; i++) {
		struct list *l;

		while ((l = list_first(&s->side[i].queue)) != NULL)
			sm_fail(list_entry(l, struct sm_action, link), -ALDER_EPIPE, b);
	}
}

/* x (side 0) and y (side 1), both just taken off their queues, meet. */
static void sm_pair(struct sm_action *x, struct sm_action *y, struct sm_batch *b)
{
	x->state = y->state = SM_RESOLVED;
	x->status = y->status = 0;
	x->peer = y;
	y->peer = x;
	list_append(&b->resolved, &x->link);

	if (x->type != ALDER_ACTION_OFFER && x->type != ALDER_ACTION_ACCEPT)
		return;

	/* A child conversation: the offer side is its side 0. */
	struct sm_action *offer = x->type == ALDER_ACTION_OFFER ? x : y;
	struct sm_action *accept = offer == x ? y : x;
	struct sm_stream *child = offer->child;

	assert(child != NULL);
	x->made = y->made = child;
	if (offer->descend)
		sm_queue_segment(child, 0, offer->chain, b);
	if (accept->descend)
		sm_queue_segment(child, 1, accept->chain, b);
	/* Depth is bounded: every level consumes a CHAIN action of one of at
	 * most two chains of ALDER_STREAM_MAX_CHAIN actions. */
	sm_run(child, b);
}

/* Match the heads of s's two queues until one is empty. */
static void sm_run(struct sm_stream *s, struct sm_batch *b)
{
	for (;;) {
		struct list *h0 = list_first(&s->side[0].queue);
		struct list *h1 = list_first(&s->side[1].queue);
		struct sm_action *x = h0 ? list_entry(h0, struct sm_action, link) : NULL;
		struct sm_action *y = h1 ? list_entry(h1, struct sm_action, link) : NULL;

		/* A dismiss at the head of either queue needs no partner. */
		struct sm_action *d = (x && x->type == ALDER_ACTION_DISMISS)   ? x
				      : (y && y->type == ALDER_ACTION_DISMISS) ? y
									       : NULL;
		if (d) {
			list_remove(&d->link);
			d->state = SM_RESOLVED;
			d->status = 0;
			d->peer = NULL;
			list_append(&b->resolved, &d->link);
			sm_end(s, b);
			return;
		}
		if (!x || !y)
			return; /* the invariant sm_cancel relies on: one queue is empty */

		if (sm_types_match(x->type, y->type)) {
			list_remove(&x->link);
			list_remove(&y->link);
			sm_pair(x, y, b);
		} else {
			sm_fail(x, -ALDER_EPROTO, b);
			sm_fail(y, -ALDER_EPROTO, b);
		}
	}
}

void sm_submit(struct sm_stream *s, unsigned side, struct sm_chain *c, struct sm_batch *b)
{
	assert(side < 2);
	assert(c->cursor == 0 && c->count > 0);
	sm_queue_segment(s, side, c, b);
	sm_run(s, b);
}

bool sm_completes_now(const struct sm_stream *s, unsigned side, const struct sm_chain *c)
{
	if (s->ended)
		return true; /* every action fails with -EPIPE as it is queued */
	for (uint32_t i = 0; i < c->count; i++)
		if (c->actions[i].descend)
			return false;
	if (!list_empty(&s->side[side].queue))
		return false; /* then the peer's is empty: nothing can meet */
	/* sm_run takes one action of each queue per step (a pair or two
	 * failures) until one queue is empty, and a dismiss at either head
	 * ends the stream, failing everything still queued. */
	const struct list *peer = &s->side[side ^ 1].queue;
	const struct list *l = peer->next;
	for (uint32_t i = 0; i < c->count; i++, l = l->next) {
		if (c->actions[i].type == ALDER_ACTION_DISMISS)
			return true;
		if (l == peer)
			return false;
		if (list_entry(l, struct sm_action, link)->type == ALDER_ACTION_DISMISS)
			return true;
	}
	return true;
}

bool sm_close(struct sm_stream *s, unsigned side, struct sm_batch *b)
{
	assert(side < 2);
	assert(!s->side[side].closed);
	s->side[side].closed = true;
	sm_end(s, b);
	return s->side[0].closed && s->side[1].closed;
}

uint32_t sm_cancel(struct sm_chain *c, int32_t status, struct sm_batch *b)
{
	struct sm_stream *s = NULL;
	uint32_t n = 0;

	for (uint32_t i = 0; i < c->cursor; i++) {
		struct sm_action *a = &c->actions[i];

		/* Atomic: sm_action_finish() may be moving a resolved action of
		 * c to DONE on another CPU right now (either value means "not
		 * queued" here). */
		if (__atomic_load_n(&a->state, __ATOMIC_RELAXED) != SM_QUEUED)
			continue;
		assert(!s || s == a->stream); /* one stream at a time, see the header */
		s = a->stream;
		sm_resolve_failed(a, status, b);
		n++;
	}
	while (c->cursor < c->count) {
		sm_resolve_failed(&c->actions[c->cursor++], status, b);
		n++;
	}
	/* No new match is possible: after every sm_run one of the two queues
	 * is empty, and the removed actions were all on the other one. But a
	 * dismiss that was queued behind them may now be at the head: it
	 * ends the conversation now, not at the next submission. */
	assert(!s || list_empty(&s->side[0].queue) || list_empty(&s->side[1].queue));
	if (s)
		sm_run(s, b);
	return n;
}
