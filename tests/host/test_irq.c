/*
 * Host tests of IRQ objects (kernel/generic/irq.c): the rounds and the
 * answer/unmask policy of abi/alder/hw.h, for edge and level lines, against
 * a model of the IOAPIC (mask bits; an edge on a masked pin is lost; a
 * level input that is still asserted is delivered again when unmasked) and
 * a stand-in for the queue layer that checks every operation completes
 * exactly once. The in-VM tests (srv/init/hwtest.c) can only drive an edge
 * line (the RTC); level lines are tested here.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <kern/assert.h>
#include <kern/log.h>
#include "shim/shim.h"

/* The heap, from the host. */
void *kmalloc(size_t n)
{
	return n ? malloc(n) : NULL;
}
void *kzalloc(size_t n)
{
	return n ? calloc(1, n) : NULL;
}
void kfree(void *p)
{
	free(p);
}

#include "../../kernel/generic/object.c"
#include "../../kernel/generic/irq.c"
#include <alder/memory.h> /* ALDER_HANDLE_ROOT */

/* ---- Stand-ins --------------------------------------------------------------- */

static struct process test_proc;
struct process *proc_current(void)
{
	return &test_proc;
}

/* The IOAPIC: 24 pins; GSI 4 is the kernel's. */
#define PINS 24
static struct pin {
	bool routed, masked, asserted; /* asserted: a level input held active */
	unsigned flags;
	uint8_t vector;
} pins[PINS];
static bool vec_used_host[256];
static bool vectors_exhausted;

bool ioapic_gsi_valid(uint32_t gsi)
{
	return gsi < PINS;
}
unsigned ioapic_gsi_default_flags(uint32_t gsi)
{
	return gsi < 16 ? 0 : IOAPIC_LEVEL | IOAPIC_ACTIVE_LOW;
}
int ioapic_route_gsi(uint32_t gsi, uint8_t vector, unsigned flags)
{
	if (gsi >= PINS)
		return -ALDER_EINVAL;
	if (gsi == 4)
		return -ALDER_EBUSY;
	pins[gsi].routed = true;
	pins[gsi].masked = true;
	pins[gsi].flags = flags;
	pins[gsi].vector = vector;
	return 0;
}
void ioapic_mask(uint32_t gsi)
{
	pins[gsi].masked = true;
}
void ioapic_unmask(uint32_t gsi)
{
	pins[gsi].masked = false;
}
static unsigned vec_next_host;
/* Next-fit, like ioapic.c: a just-freed vector is handed out last. */
int ioapic_vector_alloc(void)
{
	for (unsigned n = 0; n < IOAPIC_VEC_END - IOAPIC_VEC_FIRST && !vectors_exhausted; n++) {
		unsigned v = IOAPIC_VEC_FIRST + (vec_next_host + n) % (IOAPIC_VEC_END - IOAPIC_VEC_FIRST);
		if (!vec_used_host[v]) {
			vec_used_host[v] = true;
			vec_next_host = v + 1 - IOAPIC_VEC_FIRST;
			return (int)v;
		}
	}
	return -ALDER_ENOSPC;
}
void ioapic_vector_free(unsigned v)
{
	assert_true(vec_used_host[v]);
	vec_used_host[v] = false;
}

static struct {
	irq_handler_t fn;
	void *arg;
} handlers[256];
void irq_set_handler(unsigned vector, irq_handler_t h, void *arg)
{
	handlers[vector].fn = h;
	handlers[vector].arg = arg;
}

/* Deliver one interrupt from gsi as the IOAPIC would: not while masked. */
static bool deliver(uint32_t gsi)
{
	struct pin *p = &pins[gsi];
	if (!p->routed || p->masked)
		return false;
	struct trap_frame f = {.vector = p->vector};
	assert_non_null(handlers[p->vector].fn);
	handlers[p->vector].fn(&f, handlers[p->vector].arg);
	return true;
}

/* An edge: lost if the pin is masked. */
static bool edge(uint32_t gsi)
{
	return deliver(gsi);
}

/* A level input held active: delivered now and whenever it is unmasked
 * again while still held (call settle() after each call that may unmask). */
static void level_set(uint32_t gsi, bool active)
{
	pins[gsi].asserted = active;
	if (active)
		deliver(gsi);
}
static void settle(uint32_t gsi)
{
	for (int i = 0; i < 8 && pins[gsi].asserted && !pins[gsi].masked; i++)
		deliver(gsi);
}

/* The queue layer: each started op must complete exactly once. */
#define MAX_OPS 64
static struct {
	struct kop *op;
	uint64_t context;
	bool done;
	int64_t result;
} ops[MAX_OPS];
static unsigned nops;
static bool queue_dead;
static struct kop *cancelling;	 /* its cancel callback is running */
static struct kop *held_release; /* completed during its cancel: release after */

int kop_begin(struct kop *op, struct kop_submit *sub, const struct kop_ops *o)
{
	if (queue_dead)
		return -ALDER_ECANCELED;
	assert_true(nops < MAX_OPS);
	op->context = sub->sqe.context;
	op->opcode = sub->sqe.op;
	op->ops = o;
	op->state = 1;
	sub->started = true;
	ops[nops].op = op;
	ops[nops].context = op->context;
	ops[nops].done = false;
	nops++;
	return 0;
}

void kop_complete(struct kop *op, int64_t result, uint64_t aux0, uint64_t aux1)
{
	for (unsigned i = 0; i < nops; i++) {
		if (ops[i].op == op && !ops[i].done) {
			ops[i].done = true;
			ops[i].result = result;
			ops[i].op = NULL;
			op->state = 0;
			if (op == cancelling)
				held_release = op; /* as queue.c: after the callback returns */
			else
				op->ops->release(op);
			return;
		}
	}
	fail_msg("kop_complete of an op not in flight (twice?)");
}

/* The op with context ctx: -1 while in flight, else its result. */
static int64_t op_result(uint64_t ctx, bool *done)
{
	for (unsigned i = 0; i < nops; i++) {
		if (ops[i].context == ctx) {
			*done = ops[i].done;
			return ops[i].result;
		}
	}
	fail_msg("no op with context %lu", (unsigned long)ctx);
	return 0;
}

static bool op_done(uint64_t ctx)
{
	bool done;
	op_result(ctx, &done);
	return done;
}

static int64_t op_res(uint64_t ctx)
{
	bool done;
	int64_t r = op_result(ctx, &done);
	assert_true(done);
	return r;
}

/* ALDER_OP_CANCEL of op ctx (in flight), with queue.c's guarantee that
 * release waits for the callback to return. */
static void cancel_op(uint64_t ctx)
{
	struct kop *op = NULL;
	for (unsigned i = 0; i < nops; i++)
		if (ops[i].context == ctx && !ops[i].done)
			op = ops[i].op;
	assert_non_null(op);
	const struct kop_ops *o = op->ops;
	cancelling = op;
	held_release = NULL;
	o->cancel(op);
	cancelling = NULL;
	if (held_release)
		o->release(held_release);
	held_release = NULL;
}

/* ---- Helpers ---------------------------------------------------------------------- */

static enum irq_line_state line_state(uint32_t gsi)
{
	for (unsigned i = 0; i < IRQ_LINES_MAX; i++)
		if (irq_lines[i].state != LINE_FREE && irq_lines[i].gsi == gsi)
			return irq_lines[i].state;
	return LINE_FREE;
}

static void root_destroy(struct kobj *o)
{
	free(o);
}
static const struct kobj_ops root_ops = {"root", root_destroy};

static int setup(void **state)
{
	memset(pins, 0, sizeof(pins));
	memset(vec_used_host, 0, sizeof(vec_used_host));
	vec_next_host = 0;
	memset(handlers, 0, sizeof(handlers));
	memset(irq_lines, 0, sizeof(irq_lines));
	nops = 0;
	queue_dead = false;
	vectors_exhausted = false;
	handle_table_init(&test_proc.handles);
	struct kobj *root = malloc(sizeof(*root));
	kobj_init(root, ALDER_OBJ_ROOT, &root_ops);
	assert_int_equal(handle_install(&test_proc.handles, root, ALDER_RIGHTS_ALL), ALDER_HANDLE_ROOT);
	return 0;
}

static int teardown(void **state)
{
	handle_table_destroy(&test_proc.handles);
	/* Every started op completed; every line released; no object left. */
	for (unsigned i = 0; i < nops; i++)
		assert_true(ops[i].done);
	for (unsigned i = 0; i < IRQ_LINES_MAX; i++)
		assert_int_equal(irq_lines[i].state, LINE_FREE);
	for (unsigned v = 0; v < 256; v++)
		assert_false(vec_used_host[v]);
	assert_int_equal(kobj_live(ALDER_OBJ_IRQ), 0);
	return 0;
}

static long create(uint64_t gsi, uint64_t flags)
{
	return sys_irq_create(ALDER_HANDLE_ROOT, gsi, flags, 0, 0, 0);
}
static long ack(long h, uint64_t seq, uint64_t a)
{
	return sys_irq_ack((uint64_t)h, seq, a, 0, 0, 0);
}
static long close_h(long h)
{
	return handle_close(&test_proc.handles, (alder_handle_t)h);
}

/* Submit ALDER_OP_IRQ_WAIT; returns the handler's value (KOP_STARTED or an immediate result). */
static int64_t wait_op(long h, uint64_t ctx, uint64_t last)
{
	struct kop_submit sub = {.proc = &test_proc};
	sub.sqe.op = ALDER_OP_IRQ_WAIT;
	sub.sqe.handle = (alder_handle_t)h;
	sub.sqe.context = ctx;
	sub.sqe.args[0] = last;
	return irq_wait_op(&sub);
}

/* ---- Tests ---------------------------------------------------------------------------- */

static void test_bad_args(void **state)
{
	assert_int_equal(create(1ull << 32, 0), -ALDER_EINVAL);
	assert_int_equal(create(PINS, 0), -ALDER_EINVAL);
	assert_int_equal(create(8, 0x10), -ALDER_EINVAL);
	assert_int_equal(create(8, ALDER_IRQ_EDGE | ALDER_IRQ_LEVEL), -ALDER_EINVAL);
	assert_int_equal(create(8, ALDER_IRQ_HIGH | ALDER_IRQ_LOW), -ALDER_EINVAL);
	assert_int_equal(create(4, 0), -ALDER_EBUSY); /* the kernel's */
	assert_int_equal(sys_irq_create(0, 8, 0, 0, 0, 0), -ALDER_EBADF);
	assert_int_equal(sys_irq_create(77, 8, 0, 0, 0, 0), -ALDER_EBADF);
	assert_int_equal(sys_irq_create(1ull << 40, 8, 0, 0, 0, 0), -ALDER_EBADF);
	vectors_exhausted = true;
	assert_int_equal(create(8, 0), -ALDER_ENOSPC);
	vectors_exhausted = false;
	assert_false(pins[8].routed);

	long h = create(8, 0);
	assert_true(h > 0);
	assert_int_equal(pins[8].flags, 0); /* ISA: edge, active high */
	assert_false(pins[8].masked);
	assert_int_equal(create(8, ALDER_IRQ_LEVEL), -ALDER_EBUSY);
	assert_int_equal(create(8, ALDER_IRQ_LOW), -ALDER_EBUSY);
	long same = create(8, ALDER_IRQ_EDGE | ALDER_IRQ_HIGH);
	assert_true(same > 0);
	assert_int_equal(ack(h, 0, 1), -ALDER_EINVAL);
	assert_int_equal(ack(h, 1, 1), -ALDER_EINVAL); /* nothing happened yet */
	assert_int_equal(ack(h, 1, 2), -ALDER_EINVAL);
	assert_int_equal(ack(h + 100, 1, 1), -ALDER_EBADF);
	assert_int_equal(ack(ALDER_HANDLE_ROOT, 1, 1), -ALDER_EBADFD);
	assert_int_equal(wait_op(ALDER_HANDLE_ROOT, 1, 0), -ALDER_EBADFD);
	assert_int_equal(wait_op(h, 2, 5), KOP_STARTED); /* a sequence from the future */
	assert_int_equal(op_res(2), -ALDER_EINVAL);

	/* A PCI line defaults to level, active low; overrides apply. */
	long pci = create(20, 0);
	assert_true(pci > 0);
	assert_int_equal(pins[20].flags, IOAPIC_LEVEL | IOAPIC_ACTIVE_LOW);
	long pci2 = create(21, ALDER_IRQ_EDGE | ALDER_IRQ_HIGH);
	assert_true(pci2 > 0);
	assert_int_equal(pins[21].flags, 0);
	close_h(pci2);
	close_h(pci);
	close_h(same);
	close_h(h);
	assert_true(pins[8].masked);
}

static void test_edge_rounds(void **state)
{
	long h = create(8, 0);
	assert_int_equal(wait_op(h, 1, 0), KOP_STARTED);
	assert_false(op_done(1));
	assert_true(edge(8));
	int64_t s = op_res(1);
	assert_true(s >= 1);
	/* Edge lines stay open during the round. */
	assert_false(pins[8].masked);
	/* A wait for something older completes at once; the same one waits. */
	assert_int_equal(wait_op(h, 2, 0), KOP_STARTED);
	assert_int_equal(op_res(2), s);
	assert_int_equal(wait_op(h, 3, (uint64_t)s), KOP_STARTED);
	assert_int_equal(ack(h, (uint64_t)s + 1, 1), -ALDER_EINVAL);
	assert_int_equal(ack(h, (uint64_t)s, 1), 0);
	assert_int_equal(ack(h, (uint64_t)s, 1), -ALDER_EINVAL); /* once */
	assert_false(op_done(3));
	assert_true(edge(8));
	assert_int_equal(op_res(3), s + 1);
	assert_int_equal(ack(h, (uint64_t)s + 1, 1), 0);
	close_h(h);
}

static void test_edge_replay(void **state)
{
	long h = create(8, 0);
	assert_int_equal(wait_op(h, 1, 0), KOP_STARTED);
	edge(8);
	int64_t s = op_res(1);
	/* A second edge during the round masks and is remembered; a third is lost. */
	assert_true(edge(8));
	assert_true(pins[8].masked);
	assert_false(edge(8));
	assert_int_equal(wait_op(h, 2, (uint64_t)s), KOP_STARTED);
	assert_false(op_done(2));
	assert_int_equal(ack(h, (uint64_t)s, 1), 0);
	/* The remembered edge is the next round, at once, and the line is open. */
	assert_int_equal(op_res(2), s + 1);
	assert_false(pins[8].masked);
	assert_int_equal(ack(h, (uint64_t)s + 1, 1), 0);
	assert_false(pins[8].masked);
	close_h(h);
}

static void test_level_masked_until_answered(void **state)
{
	long h = create(20, 0);
	assert_int_equal(wait_op(h, 1, 0), KOP_STARTED);
	level_set(20, true);
	int64_t s = op_res(1);
	assert_true(pins[20].masked);
	/* Still asserted when acked (a driver that acks too early): fires again. */
	assert_int_equal(wait_op(h, 2, (uint64_t)s), KOP_STARTED);
	assert_int_equal(ack(h, (uint64_t)s, 1), 0);
	settle(20);
	assert_int_equal(op_res(2), s + 1);
	assert_true(pins[20].masked);
	/* The device is quiet when the driver answers: no new round. */
	level_set(20, false);
	assert_int_equal(wait_op(h, 3, (uint64_t)s + 1), KOP_STARTED);
	assert_int_equal(ack(h, (uint64_t)s + 1, 1), 0);
	settle(20);
	assert_false(pins[20].masked);
	assert_false(op_done(3));
	close_h(h);
	assert_true(op_done(3));
	assert_int_equal(op_res(3), -ALDER_ECANCELED);
}

static void test_nack_parks_and_new_claim_rearms(void **state)
{
	long a = create(20, 0);
	assert_int_equal(wait_op(a, 1, 0), KOP_STARTED);
	level_set(20, true);
	int64_t s = op_res(1);
	assert_int_equal(ack(a, (uint64_t)s, 0), 0);
	settle(20);
	assert_true(pins[20].masked); /* nobody's: parked, not stormed */
	assert_int_equal(line_state(20), LINE_PARKED);
	assert_int_equal(ack(a, (uint64_t)s, 1), -ALDER_EINVAL);
	assert_int_equal(wait_op(a, 2, (uint64_t)s), KOP_STARTED);
	settle(20);
	assert_false(op_done(2));
	/* A new driver claims the line: it is unmasked and the held level fires. */
	long b = create(20, 0);
	assert_int_equal(wait_op(b, 3, 0), KOP_STARTED);
	settle(20);
	assert_int_equal(op_res(2), s + 1);
	assert_int_equal(op_res(3), s + 1);
	level_set(20, false);
	assert_int_equal(ack(a, (uint64_t)s + 1, 0), 0);
	assert_true(pins[20].masked); /* b has not answered */
	assert_int_equal(ack(b, (uint64_t)s + 1, 1), 0);
	assert_false(pins[20].masked);
	close_h(a);
	close_h(b);
}

static void test_shared_waits_for_all(void **state)
{
	long a = create(20, 0), b = create(20, 0);
	assert_true(a > 0 && b > 0);
	assert_int_equal(wait_op(a, 1, 0), KOP_STARTED);
	assert_int_equal(wait_op(b, 2, 0), KOP_STARTED);
	level_set(20, true);
	int64_t s = op_res(1);
	assert_int_equal(op_res(2), s);
	level_set(20, false);
	assert_int_equal(ack(a, (uint64_t)s, 1), 0);
	assert_true(pins[20].masked);
	assert_int_equal(ack(b, (uint64_t)s, 0), 0);
	assert_false(pins[20].masked); /* every answer in, one ack */

	/* A participant destroyed without answering counts as a nack. */
	assert_int_equal(wait_op(a, 3, (uint64_t)s), KOP_STARTED);
	assert_int_equal(wait_op(b, 4, (uint64_t)s), KOP_STARTED);
	level_set(20, true);
	assert_int_equal(op_res(3), s + 1);
	level_set(20, false);
	assert_int_equal(ack(a, (uint64_t)s + 1, 1), 0);
	assert_true(pins[20].masked);
	close_h(b);
	assert_false(pins[20].masked);

	/* ... and when the last answer was a nack of everyone: parked. */
	long c = create(20, 0);
	assert_int_equal(wait_op(a, 5, (uint64_t)s + 1), KOP_STARTED);
	level_set(20, true);
	assert_int_equal(op_res(5), s + 2);
	assert_int_equal(ack(a, (uint64_t)s + 2, 0), 0);
	close_h(c);
	settle(20);
	assert_true(pins[20].masked);
	assert_int_equal(line_state(20), LINE_PARKED);
	level_set(20, false);
	close_h(a);
	assert_true(pins[20].masked);
}

static void test_newcomer_unmasks(void **state)
{
	long a = create(20, 0);
	assert_int_equal(wait_op(a, 1, 0), KOP_STARTED);
	level_set(20, true);
	int64_t s = op_res(1);
	/* b joins during the round: it owes nothing for s, and hears nothing of it. */
	long b = create(20, 0);
	assert_int_equal(ack(b, (uint64_t)s, 1), -ALDER_EINVAL);
	assert_int_equal(wait_op(b, 2, 0), KOP_STARTED);
	assert_false(op_done(2));
	level_set(20, false);
	assert_int_equal(ack(a, (uint64_t)s, 0), 0);
	/* Nobody acked, but b may own the device: unmasked for it. */
	assert_false(pins[20].masked);
	level_set(20, true);
	assert_int_equal(op_res(2), s + 1);
	level_set(20, false);
	close_h(a);
	close_h(b);
}

static void test_close_and_cancel(void **state)
{
	long h = create(8, 0);
	long d = handle_dup(&test_proc.handles, (alder_handle_t)h, ALDER_RIGHTS_ALL);
	assert_true(d > 0);
	assert_int_equal(wait_op(h, 1, 0), KOP_STARTED);
	assert_int_equal(wait_op(h, 2, 0), KOP_STARTED);
	/* Cancel one: -ECANCELED once; a late cancel does nothing. */
	cancel_op(2);
	assert_int_equal(op_res(2), -ALDER_ECANCELED);
	/* Closing one handle of two keeps the claim and the wait. */
	close_h(h);
	assert_false(op_done(1));
	assert_true(pins[8].routed && !pins[8].masked);
	/* The last one destroys the object: its waits end, the line goes. */
	close_h(d);
	assert_int_equal(op_res(1), -ALDER_ECANCELED);
	assert_true(pins[8].masked);

	/* The queue died before the wait started: not started, an error. */
	h = create(8, 0);
	queue_dead = true;
	assert_int_equal(wait_op(h, 3, 0), -ALDER_ECANCELED);
	queue_dead = false;
	close_h(h);
}

static void test_stray_deliveries(void **state)
{
	long h = create(8, 0);
	uint8_t v = pins[8].vector;
	close_h(h);
	/* A delivery in flight when the line was released does nothing. */
	pins[8].masked = false;
	assert_true(deliver(8));
	assert_int_equal(line_state(8), LINE_FREE);
	pins[8].masked = true;
	/* The slot reused for another GSI under another vector ignores the old one. */
	long h2 = create(9, 0);
	assert_int_not_equal(pins[9].vector, v);
	assert_int_equal(wait_op(h2, 1, 0), KOP_STARTED);
	struct trap_frame f = {.vector = v};
	if (handlers[v].fn)
		handlers[v].fn(&f, handlers[v].arg);
	assert_false(op_done(1));
	close_h(h2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_bad_args, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_edge_rounds, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_edge_replay, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_level_masked_until_answered, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_nack_parks_and_new_claim_rearms, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_shared_waits_for_all, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_newcomer_unmasks, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_close_and_cancel, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stray_deliveries, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
