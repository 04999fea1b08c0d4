/*
 * Host tests of the stream matching core (kernel/generic/stream_match.c,
 * built into this file): every pairing, mismatches, dismiss, lane close,
 * chains of different lengths, child conversations (with and without
 * ALDER_ACTION_CHAIN, nested), cancel, and the exactly-once rules.
 *
 * The harness stands in for kernel/generic/stream.c: it carries out each
 * batch at once (a pair "transfers" nothing) and records, per action, what
 * happened to it and in which order, so tests can check the decisions.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "../../kernel/generic/stream_match.c"
#include <kern/log.h>
#include "shim/shim.h"

#include <string.h>

enum {
	OFFER = ALDER_ACTION_OFFER,
	ACCEPT = ALDER_ACTION_ACCEPT,
	SEND = ALDER_ACTION_SEND,
	RECV = ALDER_ACTION_RECEIVE,
	PUSH = ALDER_ACTION_PUSH_HANDLE,
	PULL = ALDER_ACTION_PULL_HANDLE,
	IMBUE = ALDER_ACTION_IMBUE_CREDS,
	EXTRACT = ALDER_ACTION_EXTRACT_CREDS,
	DISMISS = ALDER_ACTION_DISMISS,
};
#define CH 0x100 /* or'ed into a type: ALDER_ACTION_CHAIN */

#define MAXA ALDER_STREAM_MAX_CHAIN

struct tchain {
	struct sm_chain c;
	struct sm_action a[MAXA];
	struct sm_stream kids[MAXA]; /* children for the OFFERs */
	int completed;		     /* times the chain completed */
	/* Per action, as the harness saw it. */
	int finished[MAXA];
	int order[MAXA]; /* decision sequence number */
	struct sm_action *peer[MAXA];
};

static int seq;

/* Build a chain from a list of types (| CH for ALDER_ACTION_CHAIN). */
static void mk(struct tchain *t, int n, const int *types)
{
	memset(t, 0, sizeof(*t));
	for (int i = 0; i < n; i++) {
		t->a[i].type = (uint8_t)(types[i] & 0xff);
		t->a[i].descend = (types[i] & CH) != 0;
		if (t->a[i].type == OFFER) {
			sm_stream_init(&t->kids[i]);
			t->a[i].child = &t->kids[i];
		}
	}
	sm_chain_init(&t->c, t->a, (uint32_t)n);
}
#define MK(t, ...)                                                                                           \
	do {                                                                                                 \
		static const int types_[] = {__VA_ARGS__};                                                   \
		mk((t), (int)(sizeof(types_) / sizeof(types_[0])), types_);                                  \
	} while (0)

static struct tchain *tchain_of(struct sm_action *a)
{
	return (struct tchain *)((char *)a->chain - offsetof(struct tchain, c));
}

static void finish(struct sm_action *a, int32_t st)
{
	struct tchain *t = tchain_of(a);
	int i = (int)(a - t->a);

	t->finished[i]++;
	t->order[i] = ++seq;
	t->peer[i] = a->peer;
	if (sm_action_finish(a, st))
		t->completed++;
}

/* Carry out a batch: pairs succeed, failures keep their status. */
static void run(struct sm_batch *b)
{
	struct sm_action *a;

	while ((a = sm_batch_pop(b)) != NULL) {
		if (a->peer) {
			assert_int_not_equal(a->side, a->peer->side);
			assert_ptr_equal(a->stream, a->peer->stream);
			assert_true(sm_types_match(a->type, a->peer->type));
			struct sm_action *p = a->peer;
			finish(a, 0);
			finish(p, 0);
		} else {
			finish(a, a->status);
		}
	}
}

/* Every submission also checks sm_completes_now against what happens:
 * exact without descend actions, never a false yes with them. */
static void submit(struct sm_stream *s, unsigned side, struct tchain *t)
{
	struct sm_batch b;
	bool descends = false;
	for (uint32_t i = 0; i < t->c.count; i++)
		descends |= t->a[i].descend;
	bool now = sm_completes_now(s, side, &t->c);
	sm_batch_init(&b);
	sm_submit(s, side, &t->c, &b);
	run(&b);
	if (now || !descends)
		assert_int_equal(t->completed, now);
}

static bool close_side(struct sm_stream *s, unsigned side)
{
	struct sm_batch b;
	sm_batch_init(&b);
	bool dead = sm_close(s, side, &b);
	run(&b);
	return dead;
}

static uint32_t cancel(struct tchain *t, int32_t st)
{
	struct sm_batch b;
	sm_batch_init(&b);
	uint32_t n = sm_cancel(&t->c, st, &b);
	run(&b);
	return n;
}

static int32_t status(struct tchain *t, int i)
{
	return t->a[i].status;
}
static bool done(struct tchain *t, int i)
{
	return t->finished[i] == 1 && t->a[i].state == SM_DONE;
}

/* ---- Tests ---- */

static void test_every_pairing(void **state)
{
	static const int pairs[][2] = {{OFFER, ACCEPT}, {SEND, RECV}, {PUSH, PULL}, {IMBUE, EXTRACT}};

	for (unsigned k = 0; k < 4; k++) {
		for (unsigned order = 0; order < 4; order++) {
			struct sm_stream s;
			struct tchain x, y;
			/* Both roles on both sides, submitted in both orders. */
			int tx = pairs[k][order & 1], ty = pairs[k][!(order & 1)];
			mk(&x, 1, &tx);
			mk(&y, 1, &ty);
			sm_stream_init(&s);
			unsigned first = order >> 1;
			submit(&s, first, first ? &y : &x);
			assert_int_equal((first ? y : x).completed, 0);
			submit(&s, !first, first ? &x : &y);
			assert_int_equal(x.completed, 1);
			assert_int_equal(y.completed, 1);
			assert_int_equal(status(&x, 0), 0);
			assert_int_equal(status(&y, 0), 0);
			assert_ptr_equal(x.peer[0] ? x.peer[0] : y.peer[0]->peer, &y.a[0]);
			if (tx == OFFER || ty == OFFER) {
				struct tchain *of = tx == OFFER ? &x : &y;
				assert_ptr_equal(x.a[0].made, &of->kids[0]);
				assert_ptr_equal(y.a[0].made, &of->kids[0]);
			} else {
				assert_null(x.a[0].made);
			}
			assert_true(list_empty(&s.side[0].queue) && list_empty(&s.side[1].queue));
			assert_false(close_side(&s, 0));
			assert_true(close_side(&s, 1));
		}
	}
}

static void test_types_match_table(void **state)
{
	for (unsigned a = 0; a <= ALDER_ACTION_TYPE_COUNT; a++) {
		for (unsigned b = 0; b <= ALDER_ACTION_TYPE_COUNT; b++) {
			bool want = (a == OFFER && b == ACCEPT) || (a == ACCEPT && b == OFFER) ||
				    (a == SEND && b == RECV) || (a == RECV && b == SEND) ||
				    (a == PUSH && b == PULL) || (a == PULL && b == PUSH) ||
				    (a == IMBUE && b == EXTRACT) || (a == EXTRACT && b == IMBUE);
			assert_int_equal(sm_types_match(a, b), want);
		}
	}
}

static void test_mismatch_fails_both_and_goes_on(void **state)
{
	struct sm_stream s;
	struct tchain x, y;

	sm_stream_init(&s);
	MK(&x, SEND, SEND, PUSH);
	MK(&y, SEND, RECV, PULL);
	submit(&s, 0, &x);
	submit(&s, 1, &y);
	assert_int_equal(x.completed, 1);
	assert_int_equal(y.completed, 1);
	assert_int_equal(status(&x, 0), -ALDER_EPROTO);
	assert_int_equal(status(&y, 0), -ALDER_EPROTO);
	assert_int_equal(status(&x, 1), 0);
	assert_int_equal(status(&y, 1), 0);
	assert_int_equal(status(&x, 2), 0);
	uint32_t ok;
	assert_int_equal(sm_chain_result(&x.c, &ok), -ALDER_EPROTO);
	assert_int_equal(ok, 0);
	/* Offer against a send: both fail, and no child is made. */
	struct tchain o, r;
	MK(&o, OFFER | CH, SEND, RECV);
	MK(&r, SEND);
	submit(&s, 0, &o);
	submit(&s, 1, &r);
	assert_int_equal(status(&o, 0), -ALDER_EPROTO);
	assert_int_equal(status(&o, 1), -ALDER_EPROTO); /* would have followed the offer */
	assert_int_equal(status(&o, 2), -ALDER_EPROTO);
	assert_int_equal(status(&r, 0), -ALDER_EPROTO);
	assert_null(o.a[0].made);
	assert_int_equal(o.completed, 1);
	close_side(&s, 0);
	close_side(&s, 1);
}

static void test_chains_of_different_lengths(void **state)
{
	struct sm_stream s;
	struct tchain a, b, r1, r2, r3, r4;

	sm_stream_init(&s);
	MK(&a, SEND, SEND, SEND);
	MK(&b, SEND);
	MK(&r1, RECV);
	MK(&r2, RECV, RECV);
	MK(&r3, RECV);
	submit(&s, 0, &a);
	submit(&s, 0, &b);
	submit(&s, 1, &r1);
	assert_int_equal(a.completed, 0);
	assert_int_equal(r1.completed, 1);
	submit(&s, 1, &r2);
	assert_int_equal(a.completed, 1);
	assert_int_equal(b.completed, 0);
	submit(&s, 1, &r3);
	assert_int_equal(b.completed, 1);
	/* In order: a0-r1, a1-r2.0, a2-r2.1, b0-r3. */
	assert_ptr_equal(r1.peer[0] ? r1.peer[0] : a.peer[0]->peer, &a.a[0]);
	assert_ptr_equal(a.a[1].peer, &r2.a[0]);
	assert_ptr_equal(a.a[2].peer, &r2.a[1]);
	assert_ptr_equal(b.a[0].peer, &r3.a[0]);
	/* A leftover receive waits; then the lane closes: -EPIPE. */
	MK(&r4, RECV, RECV);
	submit(&s, 1, &r4);
	assert_int_equal(r4.completed, 0);
	assert_false(close_side(&s, 0));
	assert_int_equal(r4.completed, 1);
	assert_int_equal(status(&r4, 0), -ALDER_EPIPE);
	assert_int_equal(status(&r4, 1), -ALDER_EPIPE);
	assert_true(close_side(&s, 1));
}

static void test_dismiss(void **state)
{
	struct sm_stream s;
	struct tchain d, r, later, mine;

	/* The dismiss waits for the actions ahead of it on its lane. */
	sm_stream_init(&s);
	MK(&d, SEND, DISMISS);
	submit(&s, 0, &d);
	assert_int_equal(d.completed, 0);
	MK(&r, RECV, RECV, RECV);
	submit(&s, 1, &r);
	assert_int_equal(d.completed, 1);
	assert_int_equal(status(&d, 0), 0);
	assert_int_equal(status(&d, 1), 0);
	assert_int_equal(status(&r, 0), 0);
	assert_int_equal(status(&r, 1), -ALDER_EPIPE);
	assert_int_equal(status(&r, 2), -ALDER_EPIPE);
	assert_true(s.ended);
	/* Later submissions on either side: -EPIPE at once. */
	MK(&later, RECV);
	submit(&s, 1, &later);
	assert_int_equal(status(&later, 0), -ALDER_EPIPE);
	MK(&mine, SEND, OFFER | CH, SEND);
	submit(&s, 0, &mine);
	assert_int_equal(mine.completed, 1);
	assert_int_equal(status(&mine, 0), -ALDER_EPIPE);
	assert_int_equal(status(&mine, 1), -ALDER_EPIPE);
	assert_int_equal(status(&mine, 2), -ALDER_EPIPE);
	assert_false(close_side(&s, 1));
	assert_true(close_side(&s, 0));

	/* A dismiss with the peer's actions pending fails them; a second
	 * dismiss after the first finds the conversation over. */
	struct tchain p, d1, d2;
	sm_stream_init(&s);
	MK(&p, RECV, PULL);
	submit(&s, 1, &p);
	MK(&d1, DISMISS);
	MK(&d2, DISMISS);
	submit(&s, 0, &d1);
	assert_int_equal(status(&d1, 0), 0);
	assert_int_equal(status(&p, 0), -ALDER_EPIPE);
	assert_int_equal(status(&p, 1), -ALDER_EPIPE);
	submit(&s, 1, &d2);
	assert_int_equal(status(&d2, 0), -ALDER_EPIPE);
	close_side(&s, 0);
	close_side(&s, 1);
}

static void test_close_fails_both_sides(void **state)
{
	struct sm_stream s;
	struct tchain mine, theirs, after;

	sm_stream_init(&s);
	MK(&mine, SEND, SEND);
	MK(&theirs, RECV);
	submit(&s, 0, &mine);
	submit(&s, 1, &theirs);
	assert_int_equal(status(&theirs, 0), 0);
	assert_int_equal(mine.completed, 0);
	/* Side 1 goes away: its peer's pending action fails. */
	assert_false(close_side(&s, 1));
	assert_int_equal(mine.completed, 1);
	assert_int_equal(status(&mine, 1), -ALDER_EPIPE);
	uint32_t ok;
	assert_int_equal(sm_chain_result(&mine.c, &ok), -ALDER_EPIPE);
	assert_int_equal(ok, 1);
	MK(&after, SEND);
	submit(&s, 0, &after);
	assert_int_equal(status(&after, 0), -ALDER_EPIPE);
	assert_true(close_side(&s, 0));
}

static void test_child_conversation_chained(void **state)
{
	struct sm_stream s;
	struct tchain c, v, c2, v2;

	sm_stream_init(&s);
	/* Client: offer, then on the child: send request, receive reply. */
	MK(&c, OFFER | CH, SEND, RECV);
	/* Server: accept, then on the child: receive request, send reply. */
	MK(&v, ACCEPT | CH, RECV, SEND);
	submit(&s, 0, &c);
	assert_int_equal(c.completed, 0);
	submit(&s, 1, &v);
	assert_int_equal(c.completed, 1);
	assert_int_equal(v.completed, 1);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(status(&c, i), 0);
		assert_int_equal(status(&v, i), 0);
		assert_true(done(&c, i));
	}
	struct sm_stream *child = &c.kids[0];
	assert_ptr_equal(c.a[0].made, child);
	assert_ptr_equal(c.a[1].stream, child);
	assert_ptr_equal(v.a[1].stream, child);
	assert_int_equal(c.a[1].side, 0);
	assert_int_equal(v.a[1].side, 1);
	assert_ptr_equal(c.a[1].peer, &v.a[1]);
	assert_ptr_equal(c.a[2].peer, &v.a[2]);
	/* The parent goes on independently. */
	assert_true(list_empty(&s.side[0].queue) && list_empty(&s.side[1].queue));
	MK(&c2, SEND);
	MK(&v2, RECV);
	submit(&s, 0, &c2);
	submit(&s, 1, &v2);
	assert_ptr_equal(c2.a[0].stream, &s);
	assert_int_equal(status(&v2, 0), 0);
	close_side(child, 0);
	assert_true(close_side(child, 1));
	close_side(&s, 0);
	assert_true(close_side(&s, 1));
}

static void test_child_one_sided_chain(void **state)
{
	struct sm_stream s;
	struct tchain c, v, late;

	/* Only the acceptor chains; the offerer later submits on the child
	 * lane it was given, behind nothing. */
	sm_stream_init(&s);
	MK(&c, OFFER, SEND);
	MK(&v, ACCEPT | CH, RECV, RECV);
	submit(&s, 1, &v);
	submit(&s, 0, &c);
	/* c's SEND is on the parent: nobody receives it there yet. */
	assert_int_equal(c.completed, 0);
	assert_int_equal(status(&c, 0), 0);
	assert_int_equal(v.completed, 0);
	struct sm_stream *child = c.a[0].made;
	assert_ptr_equal(child, &c.kids[0]);
	assert_false(list_empty(&child->side[1].queue));
	MK(&late, SEND, SEND);
	submit(child, 0, &late);
	assert_int_equal(v.completed, 1);
	assert_int_equal(late.completed, 1);
	assert_ptr_equal(late.a[0].peer, &v.a[1]);
	/* The parent's pending send fails when the parent ends. */
	close_side(&s, 1);
	assert_int_equal(c.completed, 1);
	assert_int_equal(status(&c, 1), -ALDER_EPIPE);
	close_side(&s, 0);
	close_side(child, 0);
	close_side(child, 1);
}

static void test_child_nested_and_failed(void **state)
{
	struct sm_stream s;
	struct tchain c, v;

	sm_stream_init(&s);
	MK(&c, OFFER | CH, OFFER | CH, SEND, DISMISS);
	MK(&v, ACCEPT | CH, ACCEPT | CH, RECV, RECV);
	submit(&s, 0, &c);
	submit(&s, 1, &v);
	assert_int_equal(c.completed, 1);
	assert_int_equal(v.completed, 1);
	struct sm_stream *k1 = &c.kids[0], *k2 = &c.kids[1];
	assert_ptr_equal(c.a[0].made, k1);
	assert_ptr_equal(c.a[1].made, k2);
	assert_ptr_equal(c.a[1].stream, k1);
	assert_ptr_equal(c.a[2].stream, k2);
	assert_int_equal(status(&v, 2), 0);
	assert_int_equal(status(&c, 3), 0);	       /* the dismiss of k2 */
	assert_int_equal(status(&v, 3), -ALDER_EPIPE); /* ...ended v's last receive */
	assert_true(k2->ended);
	assert_false(k1->ended);

	/* The peer closes before the accept: the offer and all that was to
	 * follow it into the child fail with -EPIPE. */
	struct sm_stream t;
	struct tchain o;
	sm_stream_init(&t);
	MK(&o, SEND, OFFER | CH, SEND, RECV);
	submit(&t, 0, &o);
	assert_false(close_side(&t, 1));
	assert_int_equal(o.completed, 1);
	for (int i = 0; i < 4; i++)
		assert_int_equal(status(&o, i), -ALDER_EPIPE);
	assert_null(o.a[1].made);
	close_side(&t, 0);
	for (int i = 0; i < 2; i++) {
		close_side(k1, i);
		close_side(k2, i);
		close_side(&s, i);
	}
}

static void test_cancel(void **state)
{
	struct sm_stream s;
	struct tchain x, y, r;

	sm_stream_init(&s);
	MK(&x, SEND, SEND, SEND);
	MK(&y, SEND);
	submit(&s, 0, &x);
	submit(&s, 0, &y);
	MK(&r, RECV);
	submit(&s, 1, &r);
	assert_ptr_equal(x.a[0].peer, &r.a[0]);
	/* Cancel x midway: its two queued sends go, the paired one stands. */
	assert_int_equal(cancel(&x, -ALDER_ECANCELED), 2);
	assert_int_equal(x.completed, 1);
	assert_int_equal(status(&x, 0), 0);
	assert_int_equal(status(&x, 1), -ALDER_ECANCELED);
	assert_int_equal(status(&x, 2), -ALDER_ECANCELED);
	uint32_t ok;
	assert_int_equal(sm_chain_result(&x.c, &ok), -ALDER_ECANCELED);
	assert_int_equal(ok, 1);
	/* y moved up to the head: it meets the next receive. */
	struct tchain r2;
	MK(&r2, RECV);
	submit(&s, 1, &r2);
	assert_ptr_equal(y.a[0].peer, &r2.a[0]);
	/* Cancelling a complete chain does nothing. */
	assert_int_equal(cancel(&x, -ALDER_ECANCELED), 0);
	assert_int_equal(x.completed, 1);

	/* Cancel a chain whose tail waits for a child conversation. */
	struct tchain o;
	MK(&o, OFFER | CH, SEND);
	submit(&s, 0, &o);
	assert_int_equal(cancel(&o, -ALDER_ECANCELED), 2);
	assert_int_equal(o.completed, 1);
	assert_int_equal(status(&o, 0), -ALDER_ECANCELED);
	assert_int_equal(status(&o, 1), -ALDER_ECANCELED);
	assert_true(list_empty(&s.side[0].queue));
	close_side(&s, 0);
	close_side(&s, 1);
}

static void test_cancel_unblocks_peer(void **state)
{
	struct sm_stream t;
	struct tchain head, tail, rv;

	/* A PUSH at the head would mismatch the RECEIVE to come; cancelled,
	 * the SEND behind it meets the RECEIVE instead. */
	sm_stream_init(&t);
	MK(&head, PUSH);
	MK(&tail, SEND);
	submit(&t, 0, &head);
	submit(&t, 0, &tail);
	assert_int_equal(cancel(&head, -ALDER_ECANCELED), 1);
	MK(&rv, RECV);
	submit(&t, 1, &rv);
	assert_ptr_equal(tail.a[0].peer, &rv.a[0]);
	assert_int_equal(status(&head, 0), -ALDER_ECANCELED);

	close_side(&t, 0);
	close_side(&t, 1);
	(void)state;
}

/* A dismiss queued behind a cancelled chain runs as soon as it reaches the
 * head of its queue (it needs no partner), not at the next submission. */
static void test_cancel_exposes_dismiss(void **state)
{
	struct sm_stream s;
	struct tchain o, d, r;

	sm_stream_init(&s);
	MK(&o, SEND);
	MK(&d, DISMISS);
	submit(&s, 0, &o);
	submit(&s, 0, &d);
	assert_int_equal(d.completed, 0);
	assert_int_equal(cancel(&o, -ALDER_ECANCELED), 1);
	assert_int_equal(o.completed, 1);
	assert_int_equal(d.completed, 1);
	assert_int_equal(status(&d, 0), 0);
	assert_true(s.ended);
	MK(&r, RECV);
	submit(&s, 1, &r);
	assert_int_equal(status(&r, 0), -ALDER_EPIPE);
	assert_false(close_side(&s, 0));
	assert_true(close_side(&s, 1));
}

static void test_cancel_before_submit(void **state)
{
	struct tchain x;
	MK(&x, SEND, OFFER | CH, RECV);
	assert_int_equal(cancel(&x, -ALDER_ECANCELED), 3);
	assert_int_equal(x.completed, 1);
	for (int i = 0; i < 3; i++)
		assert_true(done(&x, i));
}

static void test_result_and_exactly_once(void **state)
{
	struct sm_stream s;
	struct tchain x, y;

	sm_stream_init(&s);
	MK(&x, SEND, IMBUE, SEND);
	MK(&y, RECV, EXTRACT, RECV);
	submit(&s, 0, &x);
	submit(&s, 1, &y);
	uint32_t ok = 99;
	assert_int_equal(sm_chain_result(&x.c, &ok), 0);
	assert_int_equal(ok, 3);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(x.finished[i], 1);
		assert_int_equal(y.finished[i], 1);
	}
	/* A second finish is a kernel bug: it must panic, not count. */
	if (setjmp(host_panic_jmp) == 0) {
		host_expect_panic = true;
		sm_action_finish(&x.a[0], 0);
		host_expect_panic = false;
		fail_msg("no panic on a second finish");
	}
	assert_non_null(strstr(host_panic_msg, "was == SM_RESOLVED"));
	close_side(&s, 0);
	close_side(&s, 1);
}

static void test_completes_now(void **state)
{
	struct sm_stream s;
	struct tchain r, x, d, o, k;

	sm_stream_init(&s);
	MK(&r, RECV, RECV);
	assert_true(sm_completes_now(&s, 1, &r.c) == false); /* nobody sends */
	submit(&s, 1, &r);
	MK(&x, SEND, SEND, SEND);
	assert_false(sm_completes_now(&s, 0, &x.c)); /* the third would wait */
	MK(&x, SEND, PUSH);
	assert_true(sm_completes_now(&s, 0, &x.c)); /* a pair and a mismatch */
	assert_false(sm_completes_now(&s, 1, &x.c)); /* behind our own queue */
	submit(&s, 0, &x);
	assert_int_equal(status(&x, 1), -ALDER_EPROTO);
	/* A dismiss on either side ends everything still queued. */
	MK(&r, RECV, RECV, RECV);
	submit(&s, 1, &r);
	MK(&d, SEND, DISMISS);
	assert_true(sm_completes_now(&s, 0, &d.c));
	submit(&s, 0, &d);
	assert_int_equal(status(&r, 1), -ALDER_EPIPE);
	/* Ended: everything fails at once. */
	MK(&x, SEND, SEND);
	assert_true(sm_completes_now(&s, 0, &x.c));
	submit(&s, 0, &x);
	assert_int_equal(status(&x, 0), -ALDER_EPIPE);
	/* A chain that descends is never claimed. */
	struct sm_stream s2;
	sm_stream_init(&s2);
	MK(&k, ACCEPT | CH, RECV);
	submit(&s2, 1, &k);
	MK(&o, OFFER | CH, SEND);
	assert_false(sm_completes_now(&s2, 0, &o.c));
	submit(&s2, 0, &o);
	assert_int_equal(o.completed, 1);
	assert_int_equal(k.completed, 1);
	assert_false(close_side(&s, 0));
	assert_true(close_side(&s, 1));
}

static void test_full_length_chains(void **state)
{
	struct sm_stream s;
	struct tchain x, y;
	int tx[MAXA], ty[MAXA];

	for (int i = 0; i < MAXA; i++) {
		tx[i] = (i % 2) ? SEND : PUSH;
		ty[i] = (i % 2) ? RECV : PULL;
	}
	ty[MAXA - 1] = PULL; /* the last one mismatches */
	mk(&x, MAXA, tx);
	mk(&y, MAXA, ty);
	sm_stream_init(&s);
	submit(&s, 1, &y);
	submit(&s, 0, &x);
	uint32_t ok;
	assert_int_equal(sm_chain_result(&x.c, &ok), -ALDER_EPROTO);
	assert_int_equal(ok, MAXA - 1);
	assert_int_equal(x.completed, 1);
	assert_int_equal(y.completed, 1);
	close_side(&s, 0);
	close_side(&s, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_every_pairing),
	    cmocka_unit_test(test_types_match_table),
	    cmocka_unit_test(test_mismatch_fails_both_and_goes_on),
	    cmocka_unit_test(test_chains_of_different_lengths),
	    cmocka_unit_test(test_dismiss),
	    cmocka_unit_test(test_close_fails_both_sides),
	    cmocka_unit_test(test_child_conversation_chained),
	    cmocka_unit_test(test_child_one_sided_chain),
	    cmocka_unit_test(test_child_nested_and_failed),
	    cmocka_unit_test(test_cancel),
	    cmocka_unit_test(test_cancel_unblocks_peer),
	    cmocka_unit_test(test_cancel_exposes_dismiss),
	    cmocka_unit_test(test_cancel_before_submit),
	    cmocka_unit_test(test_result_and_exactly_once),
	    cmocka_unit_test(test_completes_now),
	    cmocka_unit_test(test_full_length_chains),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
