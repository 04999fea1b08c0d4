/*
 * Host unit tests of lib/rt fibrils (lib/rt/fibril.c, ctx.c) on the fake
 * kernel: the context switch keeps callee-saved state, await parks only the
 * fibril, many fibrils awaiting, nested awaits and joins, yield order,
 * local-op hand-off between fibrils, shutdown with parked fibrils, the
 * stack guard (a real fault, observed in a child process), the stack cache.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "../../lib/rt/host/rt_all.c"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/*
 * Checks inside fibrils record the first failure instead of failing at
 * once: a cmocka failure longjmps, and a longjmp from a fibril stack to the
 * main stack leaves AddressSanitizer's view of the main stack stale, which
 * would hide the real message. teardown reports it from the main stack.
 */
static char fibril_failure[512];
#define FCHECK(cond)                                                                                         \
	do {                                                                                                 \
		if (!(cond) && !fibril_failure[0])                                                           \
			snprintf(fibril_failure, sizeof(fibril_failure), "%s:%d: %s", __FILE__, __LINE__,    \
				 #cond);                                                                     \
	} while (0)
#define FCHECK_EQ(a, b) FCHECK((int64_t)(a) == (int64_t)(b))

/* Stacks a failed earlier test leaked do not fail the later ones. */
static uint64_t stacks_base;

static int setup(void **state)
{
	(void)state;
	fake_reset();
	fibril_failure[0] = 0;
	stacks_base = fake_stats.stacks_live;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	if (fibril_failure[0])
		fail_msg("in a fibril: %s", fibril_failure);
	assert_int_equal(fake_stats.violations, 0);
	assert_int_equal(fake_stats.queues_live, 0);
	assert_int_equal(fake_stats.stacks_live, stacks_base);
	return 0;
}

static void loop_up(struct rt_loop *loop)
{
	struct rt_loop_config cfg = {.sq_entries = 16, .cq_entries = 32};
	assert_int_equal(rt_loop_init(loop, &cfg), 0);
}

static void loop_down(struct rt_loop *loop)
{
	assert_int_equal(rt_loop_shutdown(loop), 0);
	rt_loop_fini(loop);
}

/* ---- Start, run, exit ------------------------------------------------------- */

struct simple {
	struct rt_fibril f;
	struct rt_loop *loop;
	int ran, exits;
	bool inside_was_self;
};

static void simple_fn(void *arg)
{
	struct simple *s = arg;
	s->inside_was_self = rt_fibril_self(s->loop) == &s->f;
	s->ran++;
}

static void simple_exit(struct rt_fibril *f)
{
	struct simple *s = rt_container_of(f, struct simple, f);
	assert_false(rt_fibril_alive(f));
	s->exits++;
}

static void test_start_run_exit(void **state)
{
	struct rt_loop loop;
	struct simple s = {.loop = &loop};
	struct rt_fibril_opts opts = {.on_exit = simple_exit, .name = "simple"};
	loop_up(&loop);
	assert_int_equal(rt_fibril_start(&loop, &s.f, simple_fn, &s, &opts), 0);
	assert_true(rt_fibril_alive(&s.f));
	assert_int_equal(s.ran, 0); /* not inside start */
	assert_int_equal(rt_fibril_start(&loop, &s.f, simple_fn, &s, &opts), -ALDER_EBUSY);
	assert_null(rt_fibril_self(&loop));
	assert_int_equal(rt_loop_run(&loop), RT_LOOP_IDLE);
	assert_int_equal(s.ran, 1);
	assert_int_equal(s.exits, 1);
	assert_true(s.inside_was_self);
	assert_false(rt_fibril_alive(&s.f));
	/* An exited record can be started again. */
	assert_int_equal(rt_fibril_start(&loop, &s.f, simple_fn, &s, &opts), 0);
	assert_int_equal(rt_loop_run(&loop), RT_LOOP_IDLE);
	assert_int_equal(s.ran, 2);
	assert_int_equal(s.exits, 2);
	assert_int_equal(fake_stats.stacks_allocated, 1); /* reused from the cache */
	assert_int_equal(rt_fibril_start(&loop, &s.f, NULL, &s, NULL), -ALDER_EINVAL);
	assert_int_equal(rt_loop_shutdown(&loop), 0);
	assert_int_equal(rt_fibril_start(&loop, &s.f, simple_fn, &s, NULL), -ALDER_ECANCELED);
	assert_int_equal(rt_fibril_spawn(&loop, simple_fn, &s, 0), -ALDER_ECANCELED);
	rt_loop_fini(&loop);
}

/* ---- Callee-saved registers survive switches ------------------------------------ */

struct regs_check {
	struct rt_loop *loop;
	int rounds;
	bool ok;
};

/* Keep values live in callee-saved registers across several yields. */
static void __attribute__((noinline)) regs_fn(void *arg)
{
	struct regs_check *c = arg;
	register uint64_t a __asm__("rbx") = 0x1111111111111111ull;
	register uint64_t b __asm__("r12") = 0x2222222222222222ull;
	register uint64_t d __asm__("r13") = 0x3333333333333333ull;
	register uint64_t e __asm__("r14") = 0x4444444444444444ull;
	register uint64_t g __asm__("r15") = 0x5555555555555555ull;
	__asm__ volatile("" : "+r"(a), "+r"(b), "+r"(d), "+r"(e), "+r"(g));
	for (int i = 0; i < c->rounds; i++) {
		rt_fibril_yield_await(c->loop);
		__asm__ volatile("" : "+r"(a), "+r"(b), "+r"(d), "+r"(e), "+r"(g));
	}
	c->ok = a == 0x1111111111111111ull && b == 0x2222222222222222ull && d == 0x3333333333333333ull &&
		e == 0x4444444444444444ull && g == 0x5555555555555555ull;
}

/* The other fibril scribbles on the same registers. */
static void clobber_fn(void *arg)
{
	struct regs_check *c = arg;
	for (int i = 0; i < c->rounds; i++) {
		__asm__ volatile("movq $-1, %%rbx\n\tmovq $-1, %%r12\n\tmovq $-1, %%r13\n\t"
				 "movq $-1, %%r14\n\tmovq $-1, %%r15"
				 :
				 :
				 : "rbx", "r12", "r13", "r14", "r15");
		rt_fibril_yield_await(c->loop);
	}
}

static void test_registers_survive(void **state)
{
	struct rt_loop loop;
	struct rt_fibril f1, f2;
	memset(&f1, 0, sizeof(f1));
	memset(&f2, 0, sizeof(f2));
	struct regs_check c = {.loop = &loop, .rounds = 5};
	loop_up(&loop);
	assert_int_equal(rt_fibril_start(&loop, &f1, regs_fn, &c, NULL), 0);
	assert_int_equal(rt_fibril_start(&loop, &f2, clobber_fn, &c, NULL), 0);
	assert_int_equal(rt_loop_run(&loop), RT_LOOP_IDLE);
	assert_true(c.ok);
	loop_down(&loop);
}

/* MXCSR and the x87 control word are callee-saved: each fibril keeps its
 * own, starts with the defaults, and the dispatcher's is untouched. */
struct fpu_check {
	struct rt_loop *loop;
	uint32_t mxcsr_set;
	uint16_t fcw_set;
	uint32_t mxcsr_initial, mxcsr_after;
	uint16_t fcw_initial, fcw_after;
};

static uint32_t get_mxcsr(void)
{
	uint32_t v;
	__asm__ volatile("stmxcsr %0" : "=m"(v));
	return v;
}

static void set_mxcsr(uint32_t v)
{
	__asm__ volatile("ldmxcsr %0" : : "m"(v));
}

static uint16_t get_fcw(void)
{
	uint16_t v;
	__asm__ volatile("fnstcw %0" : "=m"(v));
	return v;
}

static void set_fcw(uint16_t v)
{
	__asm__ volatile("fldcw %0" : : "m"(v));
}

static void fpu_fn(void *arg)
{
	struct fpu_check *c = arg;
	c->mxcsr_initial = get_mxcsr();
	c->fcw_initial = get_fcw();
	set_mxcsr(c->mxcsr_set);
	set_fcw(c->fcw_set);
	for (int i = 0; i < 3; i++)
		rt_fibril_yield_await(c->loop);
	c->mxcsr_after = get_mxcsr();
	c->fcw_after = get_fcw();
	set_mxcsr(0x1f80);
	set_fcw(0x037f);
}

static void test_fpu_control_per_fibril(void **state)
{
	struct rt_loop loop;
	struct rt_fibril f1, f2;
	memset(&f1, 0, sizeof(f1));
	memset(&f2, 0, sizeof(f2));
	struct fpu_check a = {.loop = &loop, .mxcsr_set = 0x7f80, .fcw_set = 0x0c7f};
	struct fpu_check b = {.loop = &loop, .mxcsr_set = 0x3f80, .fcw_set = 0x047f};
	uint32_t mx = get_mxcsr();
	uint16_t fcw = get_fcw();
	loop_up(&loop);
	assert_int_equal(rt_fibril_start(&loop, &f1, fpu_fn, &a, NULL), 0);
	assert_int_equal(rt_fibril_start(&loop, &f2, fpu_fn, &b, NULL), 0);
	assert_int_equal(rt_loop_run(&loop), RT_LOOP_IDLE);
	assert_int_equal(a.mxcsr_initial, 0x1f80);
	assert_int_equal(b.mxcsr_initial, 0x1f80);
	assert_int_equal(a.fcw_initial, 0x037f);
	assert_int_equal(b.fcw_initial, 0x037f);
	assert_int_equal(a.mxcsr_after, 0x7f80);
	assert_int_equal(b.mxcsr_after, 0x3f80);
	assert_int_equal(a.fcw_after, 0x0c7f);
	assert_int_equal(b.fcw_after, 0x047f);
	assert_int_equal(get_mxcsr(), mx);
	assert_int_equal(get_fcw(), fcw);
	loop_down(&loop);
}

/* ---- Await -------------------------------------------------------------------------- */

struct sleeper {
	struct rt_fibril f;
	struct rt_loop *loop;
	uint64_t delay;
	int64_t result;
	uint64_t woke_at;
	int order;
};

static int wake_seq;

static void sleeper_fn(void *arg)
{
	struct sleeper *s = arg;
	s->result = rt_sleep_await(s->loop, s->delay);
	s->woke_at = rt_now_ns();
	s->order = wake_seq++;
}

static void test_await_timer(void **state)
{
	struct rt_loop loop;
	struct sleeper s = {.loop = &loop, .delay = 1000};
	loop_up(&loop);
	assert_int_equal(rt_fibril_start(&loop, &s.f, sleeper_fn, &s, NULL), 0);
	assert_int_equal(rt_loop_run(&loop), RT_LOOP_IDLE);
	assert_int_equal(s.result, 0);
	assert_int_equal(s.woke_at, 1000);
	loop_down(&loop);
}

/*
 * N fibrils sleep random delays. With a CQ big enough for all, they wake in
 * deadline order. With a small CQ the later timers reach the (fake)
 * kernel only as earlier ones complete, and the fake's clock jumps to the
 * earliest timer it has: then the check is that nobody wakes early and
 * the CQ is never overcommitted.
 */
static void many_sleepers(uint32_t cq, bool check_order)
{
	enum { N = 300 };
	struct rt_loop loop;
	struct sleeper *s = calloc(N, sizeof(*s));
	assert_non_null(s);
	struct rt_loop_config cfg = {.sq_entries = 8, .cq_entries = cq, .stack_size = 32 * 1024};
	assert_int_equal(rt_loop_init(&loop, &cfg), 0);
	wake_seq = 0;
	uint64_t x = 12345;
	for (int i = 0; i < N; i++) {
		x = x * 6364136223846793005ull + 1;
		s[i].loop = &loop;
		s[i].delay = (x >> 40) % 10000;
		assert_int_equal(rt_fibril_start(&loop, &s[i].f, sleeper_fn, &s[i], NULL), 0);
	}
	assert_int_equal(loop.fibrils_alive, N);
	assert_int_equal(rt_loop_run(&loop), RT_LOOP_IDLE);
	for (int i = 0; i < N; i++) {
		assert_int_equal(s[i].result, 0);
		assert_int_equal(s[i].order >= 0, 1);
		assert_true(s[i].woke_at >= s[i].delay);
		if (check_order)
			for (int j = 0; j < N; j++)
				if (s[i].delay < s[j].delay)
					assert_true(s[i].order < s[j].order);
	}
	assert_int_equal(wake_seq, N);
	assert_int_equal(loop.fibrils_alive, 0);
	assert_true(fake_stats.max_in_flight <= cq);
	loop_down(&loop);
	free(s);
}

static void test_many_fibrils_awaiting(void **state)
{
	many_sleepers(512, true);
	fake_reset();
	many_sleepers(16, false);
}

/* Several ops in flight from one fibril, awaited in reverse order: the
 * earlier ones finish before anyone awaits them (UNCLAIMED). */
struct multi {
	struct rt_loop *loop;
	int64_t results[3];
	int states_before[3];
};

static void multi_fn(void *arg)
{
	struct multi *m = arg;
	struct rt_op ops[3] = {RT_OP_INIT, RT_OP_INIT, RT_OP_INIT};
	for (int i = 0; i < 3; i++) {
		rt_op_prep_timer(&ops[i], rt_deadline_in(100 * (uint64_t)(i + 1)));
		FCHECK_EQ(rt_op_start(m->loop, &ops[i], NULL), 0);
	}
	for (int i = 2; i >= 0; i--) {
		m->states_before[i] = ops[i].state;
		m->results[i] = rt_await(&ops[i]);
	}
}

static void test_await_several_in_any_order(void **state)
{
	struct rt_loop loop;
	struct rt_fibril f;
	memset(&f, 0, sizeof(f));
	struct multi m = {.loop = &loop};
	loop_up(&loop);
	assert_int_equal(rt_fibril_start(&loop, &f, multi_fn, &m, NULL), 0);
	assert_int_equal(rt_loop_run(&loop), RT_LOOP_IDLE);
	for (int i = 0; i < 3; i++)
		assert_int_equal(m.results[i], 0);
	assert_int_equal(m.states_before[2], RT_OP_SUBMITTED);
	assert_int_equal(m.states_before[1], RT_OP_UNCLAIMED);
	assert_int_equal(m.states_before[0], RT_OP_UNCLAIMED);
	loop_down(&loop);
}

/* ---- Nested awaits and joins ------------------------------------------------------------ */

struct nest {
	struct rt_loop *loop;
	int depth_reached;
	int awaits;
	struct rt_fibril child;
	int child_awaits;
	int64_t join_result;
};

static void __attribute__((noinline)) nested(struct nest *n, int depth)
{
	char pad[256]; /* real frames on the fibril stack */
	memset(pad, depth, sizeof(pad));
	FCHECK_EQ(rt_sleep_await(n->loop, 10), 0);
	n->awaits++;
	if (depth > n->depth_reached)
		n->depth_reached = depth;
	if (depth < 30)
		nested(n, depth + 1);
	FCHECK_EQ(rt_sleep_await(n->loop, 10), 0);
	n->awaits++;
	for (size_t i = 0; i < sizeof(pad); i++)
		if (pad[i] != (char)depth)
			FCHECK(!"frame corrupted across an await");
}

static void child_fn(void *arg)
{
	struct nest *n = arg;
	for (int i = 0; i < 5; i++) {
		FCHECK_EQ(rt_sleep_await(n->loop, 7), 0);
		n->child_awaits++;
	}
}

static void parent_fn(void *arg)
{
	struct nest *n = arg;
	FCHECK_EQ(rt_fibril_start(n->loop, &n->child, child_fn, n, NULL), 0);
	nested(n, 1);
	n->join_result = rt_fibril_join_await(&n->child);
	FCHECK(!rt_fibril_alive(&n->child));
	FCHECK_EQ(rt_fibril_join_await(&n->child), 0); /* already exited: at once */
}

static void test_nested_awaits_and_join(void **state)
{
	struct rt_loop loop;
	struct rt_fibril f;
	memset(&f, 0, sizeof(f));
	struct nest n = {.loop = &loop};
	loop_up(&loop);
	assert_int_equal(rt_fibril_start(&loop, &f, parent_fn, &n, NULL), 0);
	assert_int_equal(rt_loop_run(&loop), RT_LOOP_IDLE);
	assert_int_equal(n.depth_reached, 30);
	assert_int_equal(n.awaits, 60);
	assert_int_equal(n.child_awaits, 5);
	assert_int_equal(n.join_result, 0);
	loop_down(&loop);
}

/* Join a fibril that has not run yet, and one that exits via rt_fibril_exit deep down. */
struct exiter {
	struct rt_loop *loop;
	struct rt_fibril a, b;
	int after_exit;
	int joined;
};

static void __attribute__((noinline)) deep_exit(struct exiter *e, int depth)
{
	if (depth == 0) {
		FCHECK_EQ(rt_sleep_await(e->loop, 5), 0);
		if (e->loop) /* always: keeps gcc from calling the recursion endless */
			rt_fibril_exit(e->loop);
	} else {
		deep_exit(e, depth - 1);
	}
	e->after_exit++; /* never reached */
}

static void exiter_fn(void *arg)
{
	struct exiter *e = arg;
	deep_exit(e, 10);
	e->after_exit++;
}

static void joiner_fn(void *arg)
{
	struct exiter *e = arg;
	FCHECK_EQ(rt_fibril_join_await(&e->a), 0);
	e->joined++;
}

static void test_exit_from_deep_and_join(void **state)
{
	struct rt_loop loop;
	struct exiter e = {.loop = &loop};
	loop_up(&loop);
	assert_int_equal(rt_fibril_start(&loop, &e.b, joiner_fn, &e, NULL), 0); /* joins a before it runs */
	assert_int_equal(rt_fibril_start(&loop, &e.a, exiter_fn, &e, NULL), 0);
	assert_int_equal(rt_loop_run(&loop), RT_LOOP_IDLE);
	assert_int_equal(e.after_exit, 0);
	assert_int_equal(e.joined, 1);
	struct rt_fibril never;
	memset(&never, 0, sizeof(never));
	assert_int_equal(rt_fibril_join_await(&never), -ALDER_EINVAL);
	loop_down(&loop);
}

/* ---- Yield ------------------------------------------------------------------------------- */

struct yielder {
	struct rt_loop *loop;
	char *log;
	size_t *len;
	char tag;
};

static void yielder_fn(void *arg)
{
	struct yielder *y = arg;
	for (int i = 0; i < 4; i++) {
		y->log[(*y->len)++] = y->tag;
		rt_fibril_yield_await(y->loop);
	}
}

static void test_yield_round_robin(void **state)
{
	struct rt_loop loop;
	struct rt_fibril f[3];
	memset(f, 0, sizeof(f));
	char log[64] = {0};
	size_t len = 0;
	struct yielder y[3] = {{&loop, log, &len, 'a'}, {&loop, log, &len, 'b'}, {&loop, log, &len, 'c'}};
	loop_up(&loop);
	for (int i = 0; i < 3; i++)
		assert_int_equal(rt_fibril_start(&loop, &f[i], yielder_fn, &y[i], NULL), 0);
	assert_int_equal(rt_loop_run(&loop), RT_LOOP_IDLE);
	assert_string_equal(log, "abcabcabcabc");
	loop_down(&loop);
}

/* A yielding fibril does not starve completions: a round reaps between. */
struct spinner {
	struct rt_loop *loop;
	struct rt_op op;
	int spins_until_done;
	bool done;
};

static void spinner_done(struct rt_op *op)
{
	struct spinner *s = rt_container_of(op, struct spinner, op);
	s->done = true;
}

static void spinner_fn(void *arg)
{
	struct spinner *s = arg;
	while (!s->done) {
		s->spins_until_done++;
		rt_fibril_yield_await(s->loop);
	}
}

static void test_yield_does_not_starve_completions(void **state)
{
	struct rt_loop loop;
	struct rt_fibril f;
	memset(&f, 0, sizeof(f));
	struct spinner s = {.loop = &loop};
	loop_up(&loop);
	rt_op_prep_nop(&s.op);
	assert_int_equal(rt_op_start(&loop, &s.op, spinner_done), 0);
	assert_int_equal(rt_fibril_start(&loop, &f, spinner_fn, &s, NULL), 0);
	assert_int_equal(rt_loop_run(&loop), RT_LOOP_IDLE);
	assert_true(s.done);
	assert_true(s.spins_until_done <= 2);
	loop_down(&loop);
}

/* ---- Hand-off and cancellation between fibrils --------------------------------------------- */

struct channel {
	struct rt_loop *loop;
	struct rt_op slot; /* the consumer's local op; the producer completes it */
	bool waiting;
	int64_t got[5];
	int n;
};

static void consumer_fn(void *arg)
{
	struct channel *c = arg;
	for (int i = 0; i < 5; i++) {
		FCHECK_EQ(rt_op_start_local(c->loop, &c->slot, NULL), 0);
		c->waiting = true;
		c->got[c->n++] = rt_await(&c->slot);
		c->waiting = false;
	}
}

static void producer_fn(void *arg)
{
	struct channel *c = arg;
	for (int i = 0; i < 5; i++) {
		while (!c->waiting)
			rt_fibril_yield_await(c->loop);
		c->waiting = false; /* the consumer re-arms before the next one */
		FCHECK(rt_op_complete(&c->slot, 100 + i));
		FCHECK(!rt_op_complete(&c->slot, -1));
		rt_fibril_yield_await(c->loop);
	}
}

static void test_local_op_hand_off(void **state)
{
	struct rt_loop loop;
	struct rt_fibril f[2];
	memset(f, 0, sizeof(f));
	struct channel c = {.loop = &loop};
	loop_up(&loop);
	assert_int_equal(rt_fibril_start(&loop, &f[0], consumer_fn, &c, NULL), 0);
	assert_int_equal(rt_fibril_start(&loop, &f[1], producer_fn, &c, NULL), 0);
	assert_int_equal(rt_loop_run(&loop), RT_LOOP_IDLE);
	assert_int_equal(c.n, 5);
	for (int i = 0; i < 5; i++)
		assert_int_equal(c.got[i], 100 + i);
	loop_down(&loop);
}

struct cancel_pair {
	struct rt_loop *loop;
	struct rt_op op;
	long ev;
	int64_t result;
	bool cancelled;
};

static void awaiting_fn(void *arg)
{
	struct cancel_pair *p = arg;
	rt_op_prep_event_wait(&p->op, (alder_handle_t)p->ev);
	p->result = rt_op_start_await(p->loop, &p->op);
}

static void canceller_fn(void *arg)
{
	struct cancel_pair *p = arg;
	FCHECK_EQ(rt_sleep_await(p->loop, 50), 0);
	p->cancelled = rt_op_cancel(&p->op);
}

static void test_await_cancelled_by_other_fibril(void **state)
{
	struct rt_loop loop;
	struct rt_fibril f[2];
	memset(f, 0, sizeof(f));
	struct cancel_pair p = {.loop = &loop};
	loop_up(&loop);
	p.ev = rt_event_create();
	assert_true(p.ev > 0);
	assert_int_equal(rt_fibril_start(&loop, &f[0], awaiting_fn, &p, NULL), 0);
	assert_int_equal(rt_fibril_start(&loop, &f[1], canceller_fn, &p, NULL), 0);
	assert_int_equal(rt_loop_run(&loop), RT_LOOP_IDLE);
	assert_true(p.cancelled);
	assert_int_equal(p.result, -ALDER_ECANCELED);
	loop_down(&loop);
}

/* ---- Shutdown ----------------------------------------------------------------------------- */

struct stubborn {
	struct rt_fibril f;
	struct rt_loop *loop;
	int64_t first, second;
	int exits;
};

static void stubborn_fn(void *arg)
{
	struct stubborn *s = arg;
	s->first = rt_sleep_await(s->loop, 1000000000ull);
	s->second = rt_sleep_await(s->loop, 1); /* refused at once */
}

static void stubborn_exit(struct rt_fibril *f)
{
	rt_container_of(f, struct stubborn, f)->exits++;
}

static void test_shutdown_resumes_parked_fibrils(void **state)
{
	enum { N = 20 };
	struct rt_loop loop;
	struct stubborn s[N];
	memset(s, 0, sizeof(s));
	struct rt_fibril_opts opts = {.on_exit = stubborn_exit};
	loop_up(&loop);
	for (int i = 0; i < N; i++) {
		s[i].loop = &loop;
		assert_int_equal(rt_fibril_start(&loop, &s[i].f, stubborn_fn, &s[i], &opts), 0);
	}
	assert_true(rt_loop_run_once(&loop, false) > 0); /* all parked in their sleeps */
	assert_int_equal(rt_loop_shutdown(&loop), 0);
	for (int i = 0; i < N; i++) {
		assert_int_equal(s[i].first, -ALDER_ECANCELED);
		assert_int_equal(s[i].second, -ALDER_ECANCELED);
		assert_int_equal(s[i].exits, 1);
	}
	assert_int_equal(fake_now(), 0); /* no timer fired: all cancelled */
	rt_loop_fini(&loop);
}

/* Two fibrils joining each other can never finish: shutdown says so, and
 * fini frees their stacks. */
struct deadlock {
	struct rt_fibril a, b;
};

static void join_b(void *arg)
{
	rt_fibril_join_await(&((struct deadlock *)arg)->b);
}

static void join_a(void *arg)
{
	rt_fibril_join_await(&((struct deadlock *)arg)->a);
}

static void test_shutdown_reports_stuck_fibrils(void **state)
{
	struct rt_loop loop;
	struct deadlock d;
	memset(&d, 0, sizeof(d));
	loop_up(&loop);
	assert_int_equal(rt_fibril_start(&loop, &d.a, join_b, &d, NULL), 0);
	assert_int_equal(rt_fibril_start(&loop, &d.b, join_a, &d, NULL), 0);
	assert_int_equal(rt_loop_run(&loop), RT_LOOP_IDLE);
	assert_true(rt_fibril_alive(&d.a) && rt_fibril_alive(&d.b));
	assert_int_equal(rt_loop_shutdown(&loop), -ALDER_EBUSY);
	rt_loop_fini(&loop);
	assert_false(rt_fibril_alive(&d.a));
	assert_int_equal(fake_stats.stacks_live, stacks_base);
}

/* ---- Detached fibrils and the stack cache -------------------------------------------------- */

struct counter {
	struct rt_loop *loop;
	int n;
};

static void spawned_fn(void *arg)
{
	struct counter *c = arg;
	FCHECK_EQ(rt_sleep_await(c->loop, 3), 0);
	c->n++;
}

static void test_spawn_detached(void **state)
{
	struct rt_loop loop;
	struct counter c = {.loop = &loop};
	struct rt_loop_config cfg = {.stack_cache = 4};
	assert_int_equal(rt_loop_init(&loop, &cfg), 0);
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < 10; i++)
			assert_int_equal(rt_fibril_spawn(&loop, spawned_fn, &c, 0), 0);
		assert_int_equal(rt_loop_run(&loop), RT_LOOP_IDLE);
	}
	assert_int_equal(c.n, 30);
	/* 10 stacks the first round; later rounds take 4 from the cache. */
	assert_int_equal(fake_stats.stacks_allocated, 10 + 6 + 6);
	assert_int_equal(fake_stats.stacks_live, stacks_base + 4);
	/* A non-default size bypasses the cache. */
	assert_int_equal(rt_fibril_spawn(&loop, spawned_fn, &c, 200 * 1024), 0);
	assert_int_equal(rt_loop_run(&loop), RT_LOOP_IDLE);
	assert_int_equal(fake_stats.stacks_live, stacks_base + 4);
	loop_down(&loop);
}

static void test_no_stack_cache(void **state)
{
	struct rt_loop loop;
	struct counter c = {.loop = &loop};
	struct rt_loop_config cfg = {.stack_cache = RT_LOOP_NO_STACK_CACHE};
	assert_int_equal(rt_loop_init(&loop, &cfg), 0);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(rt_fibril_spawn(&loop, spawned_fn, &c, 0), 0);
		assert_int_equal(rt_loop_run(&loop), RT_LOOP_IDLE);
		assert_int_equal(fake_stats.stacks_live, stacks_base);
	}
	assert_int_equal(fake_stats.stacks_allocated, 3);
	loop_down(&loop);
}

/* ---- Misuse is caught ------------------------------------------------------------------------ */

struct nosusp {
	struct rt_loop *loop;
};

static void nosuspend_fn(void *arg)
{
	struct nosusp *n = arg;
	rt_nosuspend_begin(n->loop);
	rt_nosuspend_begin(n->loop);
	rt_nosuspend_end(n->loop);
	rt_sleep_await(n->loop, 1); /* must trip */
}

static void ok_nosuspend_fn(void *arg)
{
	struct nosusp *n = arg;
	rt_nosuspend_begin(n->loop);
	rt_nosuspend_end(n->loop);
	assert_int_equal(rt_sleep_await(n->loop, 1), 0);
}

/* Run the loop in a child; exit status 0 iff an rt assertion fired. */
static int child_expect_assert(void (*fn)(void *))
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct rt_loop loop;
		struct rt_fibril f;
		memset(&f, 0, sizeof(f));
		struct nosusp n = {&loop};
		loop_up(&loop);
		rt_fibril_start(&loop, &f, fn, &n, NULL);
		rt_host_assert_exit = 0;
		rt_loop_run(&loop);
		_exit(1);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void test_suspend_inside_nosuspend_asserts(void **state)
{
	assert_int_equal(child_expect_assert(nosuspend_fn), 0);
	assert_int_equal(child_expect_assert(ok_nosuspend_fn), 1);
}

/* ---- The stack guard ---------------------------------------------------------------------------- */

static char *guard_lo, *guard_hi;

static void segv_handler(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	char *a = si->si_addr;
	_exit(a >= guard_lo && a < guard_hi ? 42 : 43);
}

struct overflow {
	struct rt_loop *loop;
	int mode; /* 0: touch the byte below the stack; 1: recurse without end */
};

static volatile int recurse_limit = 1 << 30;

static int __attribute__((noinline)) recurse(volatile char *prev, int depth)
{
	volatile char frame[512];
	if (depth > recurse_limit)
		return 0;
	frame[0] = (char)depth;
	frame[511] = prev ? prev[0] : 0;
	return recurse(frame, depth + 1) + frame[3];
}

static void overflow_fn(void *arg)
{
	struct overflow *o = arg;
	struct rt_fibril *self = rt_fibril_self(o->loop);
	guard_lo = self->stack.map;
	guard_hi = self->stack.lo;
	if (o->mode == 0) {
		volatile char *below = self->stack.lo - 1;
		*below = 1;
	} else {
		recurse(NULL, 0);
	}
}

static int child_overflow(int mode)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		static char altstack[64 * 1024];
		stack_t ss = {.ss_sp = altstack, .ss_size = sizeof(altstack)};
		sigaltstack(&ss, NULL);
		struct sigaction sa;
		memset(&sa, 0, sizeof(sa));
		sa.sa_sigaction = segv_handler;
		sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
		sigaction(SIGSEGV, &sa, NULL);
		sigaction(SIGBUS, &sa, NULL);
		struct rt_loop loop;
		struct rt_fibril f;
		memset(&f, 0, sizeof(f));
		struct overflow o = {&loop, mode};
		loop_up(&loop);
		rt_fibril_start(&loop, &f, overflow_fn, &o, NULL);
		rt_loop_run(&loop);
		_exit(0); /* no fault: the guard is missing */
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void test_stack_guard_faults(void **state)
{
	assert_int_equal(child_overflow(0), 42);
	assert_int_equal(child_overflow(1), 42);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_start_run_exit, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_registers_survive, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_fpu_control_per_fibril, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_await_timer, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_many_fibrils_awaiting, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_await_several_in_any_order, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_nested_awaits_and_join, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_exit_from_deep_and_join, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_yield_round_robin, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_yield_does_not_starve_completions, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_local_op_hand_off, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_await_cancelled_by_other_fibril, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_shutdown_resumes_parked_fibrils, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_shutdown_reports_stuck_fibrils, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_spawn_detached, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_no_stack_cache, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_suspend_inside_nosuspend_asserts, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stack_guard_faults, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
