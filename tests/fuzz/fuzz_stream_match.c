/*
 * libFuzzer target for the stream matching core
 * (kernel/generic/stream_match.c). The input is a script of operations on
 * a small world of streams: submit a random (valid) chain on an open side,
 * close a side, cancel a chain in flight, carry out some of the pending
 * decisions (decisions wait in a FIFO for a while, as they do when the
 * kernel defers them or another CPU carries them out). At the end every
 * side is closed and everything carried out.
 *
 * Invariants checked (__builtin_trap on violation, ASan for memory):
 *   - every action is decided once and finished once (the core asserts;
 *     the harness counts), every chain completes exactly once, and only
 *     when all its actions are DONE;
 *   - a pair joins two actions of matching types, from the two sides of
 *     the same stream;
 *   - on each side of each stream, actions are taken in FIFO order (their
 *     submission sequence numbers only grow);
 *   - a stream reports "both sides closed" once, and only then; children
 *     of offers that failed are never used; nothing leaks.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../kernel/generic/stream_match.c"
#include <kern/log.h> /* shim.h defines klog() */
#include "shim.h"

#define MAX_STREAMS 64
#define MAX_CHAINS 64
#define MAX_LEN 8

#define CHECK(x)                                                                                             \
	do {                                                                                                 \
		if (!(x))                                                                                    \
			__builtin_trap();                                                                    \
	} while (0)

struct fstream {
	struct sm_stream sm;
	bool open[2];	      /* a "lane" exists for the side */
	bool dead;	      /* sm_close said both closed */
	bool live;	      /* reachable: root, or made by a met offer */
	uint64_t last_seq[2]; /* FIFO check */
};

struct fchain {
	struct sm_chain c;
	struct sm_action a[MAX_LEN];
	uint64_t seq[MAX_LEN];
	struct fstream *kid[MAX_LEN]; /* OFFER children */
	int completed;
	int finished[MAX_LEN];
	bool in_use;
};

static struct fstream *streams[MAX_STREAMS]; /* every stream ever made, freed at the end */
static unsigned nstreams;
static struct fchain *chains[MAX_CHAINS];
static unsigned nchains;
static struct sm_batch pending;
static uint64_t next_seq;

struct input {
	const uint8_t *p;
	size_t n;
};

static unsigned take(struct input *in)
{
	if (!in->n)
		return 0;
	in->n--;
	return *in->p++;
}

static struct fstream *fs_of(struct sm_stream *s)
{
	return (struct fstream *)((char *)s - offsetof(struct fstream, sm));
}
static struct fchain *fc_of(struct sm_action *a)
{
	return (struct fchain *)((char *)a->chain - offsetof(struct fchain, c));
}

static struct fstream *new_stream(void)
{
	if (nstreams == MAX_STREAMS)
		return NULL;
	struct fstream *s = calloc(1, sizeof(*s));
	CHECK(s);
	sm_stream_init(&s->sm);
	streams[nstreams++] = s;
	return s;
}

static void absorb(struct sm_batch *b)
{
	struct sm_action *a;

	while ((a = sm_batch_pop(b)) != NULL)
		list_append(&pending.resolved, &a->link);
}

static void finish(struct sm_action *a, int32_t st)
{
	struct fchain *f = fc_of(a);
	unsigned i = (unsigned)(a - f->a);

	CHECK(a->state == SM_RESOLVED);
	f->finished[i]++;
	CHECK(f->finished[i] == 1);
	if (sm_action_finish(a, st)) {
		f->completed++;
		CHECK(f->completed == 1);
		for (unsigned k = 0; k < f->c.count; k++)
			CHECK(f->a[k].state == SM_DONE && f->finished[k] == 1);
	}
}

static void check_order(struct sm_action *a)
{
	struct fchain *f = fc_of(a);
	struct fstream *s = fs_of(a->stream);
	uint64_t q = f->seq[a - f->a];

	CHECK(q > s->last_seq[a->side]);
	s->last_seq[a->side] = q;
}

/* Carry out up to n pending decisions. */
static void execute(unsigned n)
{
	struct sm_action *a;

	while (n-- && (a = sm_batch_pop(&pending)) != NULL) {
		if (!a->peer) {
			CHECK(a->status < 0 || a->type == ALDER_ACTION_DISMISS);
			if (a->status == -ALDER_EPROTO &&
			    a->stream) /* not the rest of a chain that never got there */
				check_order(a);
			finish(a, a->status);
			continue;
		}
		struct sm_action *b = a->peer;
		CHECK(b->peer == a);
		CHECK(a->side == 0 && b->side == 1);
		CHECK(a->stream == b->stream);
		CHECK(sm_types_match(a->type, b->type));
		check_order(a);
		check_order(b);
		if (a->type == ALDER_ACTION_OFFER || a->type == ALDER_ACTION_ACCEPT) {
			struct sm_action *offer = a->type == ALDER_ACTION_OFFER ? a : b;
			struct fstream *kid = fs_of(offer->child);
			CHECK(a->made == offer->child && b->made == offer->child);
			CHECK(!kid->live);
			kid->live = true;
			kid->open[0] = kid->open[1] = true;
		}
		finish(a, 0);
		finish(b, 0);
	}
}

static void submit(struct input *in)
{
	if (!nstreams || nchains == MAX_CHAINS)
		return;
	struct fstream *s = streams[take(in) % nstreams];
	unsigned side = take(in) & 1;
	if (!s->live || !s->open[side])
		return;

	struct fchain *f = calloc(1, sizeof(*f));
	CHECK(f);
	unsigned n = 1 + take(in) % MAX_LEN;
	for (unsigned i = 0; i < n; i++) {
		unsigned b = take(in);
		unsigned type = 1 + b % (ALDER_ACTION_TYPE_COUNT - 1);
		if (type == ALDER_ACTION_DISMISS && i + 1 < n)
			type = ALDER_ACTION_SEND; /* the kernel refuses a dismiss that is not last */
		f->a[i].type = (uint8_t)type;
		f->a[i].descend =
		    (type == ALDER_ACTION_OFFER || type == ALDER_ACTION_ACCEPT) && (b & 0x80) && i + 1 < n;
		f->seq[i] = ++next_seq;
		if (type == ALDER_ACTION_OFFER) {
			f->kid[i] = new_stream();
			if (!f->kid[i]) {
				f->a[i].type = ALDER_ACTION_SEND; /* world full: no more offers */
				f->a[i].descend = false;
			} else {
				f->a[i].child = &f->kid[i]->sm;
			}
		}
	}
	sm_chain_init(&f->c, f->a, n);
	f->in_use = true;
	chains[nchains++] = f;

	struct sm_batch b;
	sm_batch_init(&b);
	bool now = sm_completes_now(&s->sm, side, &f->c);
	bool descends = false;
	sm_submit(&s->sm, side, &f->c, &b);
	/* sm_completes_now is exact for chains without descend actions and
	 * never claims one that would wait. */
	bool all_resolved = true;
	for (unsigned i = 0; i < n; i++) {
		descends |= f->a[i].descend;
		all_resolved &= f->a[i].state == SM_RESOLVED;
	}
	CHECK(!now || all_resolved);
	CHECK(descends || now == all_resolved);
	absorb(&b);
}

static void close_side(struct fstream *s, unsigned side)
{
	struct sm_batch b;

	sm_batch_init(&b);
	s->open[side] = false;
	bool dead = sm_close(&s->sm, side, &b);
	CHECK(dead == (!s->open[0] && !s->open[1]));
	CHECK(!s->dead);
	s->dead = dead;
	absorb(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in = {data, size};

	nstreams = nchains = 0;
	next_seq = 0;
	sm_batch_init(&pending);
	for (int i = 0; i < 2; i++) {
		struct fstream *root = new_stream();
		root->live = root->open[0] = root->open[1] = true;
	}

	while (in.n) {
		unsigned op = take(&in);
		switch (op % 5) {
		case 0:
		case 1:
			submit(&in);
			break;
		case 2: {
			if (!nstreams)
				break;
			struct fstream *s = streams[take(&in) % nstreams];
			unsigned side = take(&in) & 1;
			if (s->live && s->open[side])
				close_side(s, side);
			break;
		}
		case 3: {
			if (!nchains)
				break;
			struct fchain *f = chains[take(&in) % nchains];
			struct sm_batch b;
			sm_batch_init(&b);
			sm_cancel(&f->c, -ALDER_ECANCELED, &b);
			/* Cancel decides failures only. */
			for (struct list *l = b.resolved.next; l != &b.resolved; l = l->next)
				CHECK(!list_entry(l, struct sm_action, link)->peer);
			absorb(&b);
			break;
		}
		case 4:
			execute(take(&in) % 8);
			break;
		}
	}

	/* Wind down: carry everything out, close every side (children made
	 * meanwhile too), until nothing moves. */
	for (;;) {
		execute(~0u);
		bool any = false;
		for (unsigned i = 0; i < nstreams; i++) {
			for (unsigned side = 0; side < 2; side++) {
				if (streams[i]->live && streams[i]->open[side]) {
					close_side(streams[i], side);
					any = true;
				}
			}
		}
		if (!any && list_empty(&pending.resolved))
			break;
	}
	for (unsigned i = 0; i < nchains; i++) {
		struct fchain *f = chains[i];
		CHECK(f->completed == 1);
		free(f);
	}
	for (unsigned i = 0; i < nstreams; i++) {
		struct fstream *s = streams[i];
		/* Live streams all ended with both sides closed; the rest were
		 * children of offers that never met and were never used. */
		CHECK(s->live ? s->dead
			      : (list_empty(&s->sm.side[0].queue) && list_empty(&s->sm.side[1].queue)));
		CHECK(!s->live || (list_empty(&s->sm.side[0].queue) && list_empty(&s->sm.side[1].queue)));
		free(s);
	}
	return 0;
}
