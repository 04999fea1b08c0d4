/*
 * Fibrils (rt/fibril.h): creation, the run queue, parking and waking,
 * await, join, exit, and the per-loop stack cache. The dispatcher calls
 * rt__fibril_run_ready once per round; every switch goes dispatcher ->
 * fibril -> dispatcher (two switches per hop, but only one place that
 * decides what runs next).
 *
 * Under AddressSanitizer every switch is announced with the sanitizer's
 * fiber interface, so that it knows which stack is live (otherwise its
 * stack-bounds checks and fake stacks misfire), and a stack is unpoisoned
 * before it is reused or freed.
 */
#include "internal.h"
#include "ctx.h"

#if defined(__SANITIZE_ADDRESS__)
void __sanitizer_start_switch_fiber(void **fake_stack_save, const void *bottom, size_t size);
void __sanitizer_finish_switch_fiber(void *fake_stack_save, const void **bottom_old, size_t *size_old);
void __asan_unpoison_memory_region(void const volatile *addr, size_t size);
#define san_start(save, bottom, size) __sanitizer_start_switch_fiber((save), (bottom), (size))
#define san_finish(save, bottom, size) __sanitizer_finish_switch_fiber((save), (bottom), (size))
#define san_unpoison(addr, size) __asan_unpoison_memory_region((addr), (size))
#else
#define san_start(save, bottom, size) ((void)(save), (void)(bottom), (void)(size))
#define san_finish(save, bottom, size) ((void)(save), (void)(bottom), (void)(size))
#define san_unpoison(addr, size) ((void)(addr), (void)(size))
#endif

/* ---- Stacks ------------------------------------------------------------------ */

/* A cached stack: the node sits at the top of the stack it describes. */
struct rt_stack_node {
	struct rt_stack_node *next;
	struct rt_stack stack;
};

static size_t stack_usable(const struct rt_stack *st)
{
	return (size_t)(st->map + st->map_size - st->lo);
}

static int stack_get(struct rt_loop *loop, size_t size, struct rt_stack *st)
{
	if (size == loop->stack_size && loop->stack_cache) {
		struct rt_stack_node *node = loop->stack_cache;
		loop->stack_cache = node->next;
		loop->stack_cache_len--;
		*st = node->stack;
		return 0;
	}
	int r = rt_plat_stack_alloc(size, st);
	if (r < 0)
		return r;
	RT_ASSERT(st->lo >= st->map + RT_STACK_GUARD && stack_usable(st) >= size);
	RT_ASSERT(st->top == st->map + st->map_size);
	return 0;
}

/* Called in the dispatcher once nothing runs on the stack any more. Frees
 * rather than allocates, so the dispatcher stays allocation free. */
static void stack_put(struct rt_loop *loop, const struct rt_stack *st)
{
	struct rt_stack copy = *st; /* st may live on this very stack */

	san_unpoison(copy.lo, stack_usable(&copy));
	if (stack_usable(&copy) == loop->stack_size && loop->stack_cache_len < loop->stack_cache_max &&
	    !loop->shut_down) {
		struct rt_stack_node *node =
		    (struct rt_stack_node *)(((uintptr_t)copy.top - sizeof(struct rt_stack_node)) &
					     ~(uintptr_t)15);
		node->stack = copy;
		node->next = loop->stack_cache;
		loop->stack_cache = node;
		loop->stack_cache_len++;
		return;
	}
	rt_plat_stack_free(&copy);
}

/* ---- Switching ------------------------------------------------------------------ */

/* Dispatcher side: run f until it suspends or exits. */
static void switch_to(struct rt_loop *loop, struct rt_fibril *f)
{
	RT_ASSERT(f->state == RT_FIBRIL_READY && loop->current == NULL);
	f->state = RT_FIBRIL_RUNNING;
	loop->current = f;
	loop->stats.switches++;
	san_start(&loop->san_fake, f->stack.lo, stack_usable(&f->stack));
	rt_ctx_switch(&loop->sched_sp, f->sp);
	san_finish(loop->san_fake, NULL, NULL);
	loop->current = NULL;
	RT_ASSERT(f->state != RT_FIBRIL_RUNNING);
}

/* Fibril side: back to the dispatcher. An exiting fibril never returns
 * from here (NULL fake-stack save tells ASan to drop its fake frames). */
static void switch_out(struct rt_fibril *f, bool exiting)
{
	struct rt_loop *loop = f->loop;
	san_start(exiting ? NULL : &f->san_fake, loop->san_bottom, loop->san_size);
	rt_ctx_switch(&f->sp, loop->sched_sp);
	san_finish(f->san_fake, &loop->san_bottom, &loop->san_size);
}

/* Called from loop.c's dispatcher after switch_to returned for an exited fibril. */
static void release(struct rt_loop *loop, struct rt_fibril *f)
{
	struct rt_fibril *joiner = f->joiner;
	rt_fibril_exit_fn *on_exit = f->on_exit;
	struct rt_stack st = f->stack;
	bool detached = f->detached;

	rt_link_remove(&f->all);
	RT_ASSERT(loop->fibrils_alive > 0);
	loop->fibrils_alive--;
	f->joiner = NULL;
	if (!detached)
		f->state = RT_FIBRIL_EXITED;
	stack_put(loop, &st); /* a detached record is gone after this */
	if (joiner)
		rt__fibril_wake(joiner);
	if (on_exit)
		on_exit(f); /* last touch */
}

static noreturn void exit_now(struct rt_fibril *f)
{
	RT_ASSERT(f->state == RT_FIBRIL_RUNNING && f->loop->current == f);
	f->state = RT_FIBRIL_EXITING;
	switch_out(f, true);
	rt_plat_assert_fail("exited fibril resumed", __FILE__, __LINE__);
}

/* First code on a new fibril's stack (entered from rt_ctx_trampoline). */
static void fibril_main(void *arg)
{
	struct rt_fibril *f = arg;
	san_finish(NULL, &f->loop->san_bottom, &f->loop->san_size);
	f->fn(f->arg);
	exit_now(f);
}

int rt__fibril_run_ready(struct rt_loop *loop)
{
	struct rt_link batch;
	int n = 0;

	/* Only those ready now: one that yields goes behind the next reap. */
	rt_link_take_all(&batch, &loop->ready);
	while (!rt_link_empty(&batch)) {
		struct rt_fibril *f = rt_container_of(batch.next, struct rt_fibril, link);
		rt_link_remove(&f->link);
		switch_to(loop, f);
		if (f->state == RT_FIBRIL_EXITING)
			release(loop, f);
		n++;
	}
	return n;
}

void rt__fibril_wake(struct rt_fibril *f)
{
	RT_ASSERT(f->state == RT_FIBRIL_PARKED);
	f->state = RT_FIBRIL_READY;
	rt_link_add_tail(&f->loop->ready, &f->link);
}

/* Suspend the running fibril until someone calls rt__fibril_wake. */
static void park(struct rt_loop *loop)
{
	struct rt_fibril *f = loop->current;
	RT_ASSERT(f != NULL);	      /* suspending outside a fibril */
	RT_ASSERT(f->nosuspend == 0); /* suspending inside rt_nosuspend_begin/end */
	f->state = RT_FIBRIL_PARKED;
	switch_out(f, false);
	RT_ASSERT(f->state == RT_FIBRIL_RUNNING);
}

/* ---- Creation ------------------------------------------------------------------ */

static size_t round_stack(struct rt_loop *loop, size_t size)
{
	if (size == 0)
		return loop->stack_size;
	if (size < RT_FIBRIL_MIN_STACK)
		size = RT_FIBRIL_MIN_STACK;
	return (size + RT_PAGE_SIZE - 1) & ~(size_t)(RT_PAGE_SIZE - 1);
}

/* Common tail of start and spawn: the first frame, and onto the run queue.
 * frames_top: the highest address the fibril's frames may use. */
static void launch(struct rt_loop *loop, struct rt_fibril *f, char *frames_top)
{
	uintptr_t top = (uintptr_t)frames_top & ~(uintptr_t)15;
	/* 16 zero bytes above the first frame: a null return address for
	 * debuggers walking off the end. */
	top -= 16;
	__builtin_memset((void *)top, 0, 16);
	struct rt_ctx_frame *fr = (struct rt_ctx_frame *)(top - sizeof(struct rt_ctx_frame));
	rt_ctx_frame_init(fr, fibril_main, f);
	f->sp = fr;
	f->state = RT_FIBRIL_READY;
	rt_link_add_tail(&loop->fibrils, &f->all);
	rt_link_add_tail(&loop->ready, &f->link);
	loop->fibrils_alive++;
}

int rt_fibril_start(struct rt_loop *loop, struct rt_fibril *f, rt_fibril_fn *fn, void *arg,
		    const struct rt_fibril_opts *opts)
{
	RT_ASSERT(loop->ready_to_use);
	if (!fn)
		return -ALDER_EINVAL;
	if (f->state != RT_FIBRIL_NEW && f->state != RT_FIBRIL_EXITED)
		return -ALDER_EBUSY;
	if (loop->shutting_down)
		return -ALDER_ECANCELED;

	struct rt_stack st;
	int r = stack_get(loop, round_stack(loop, opts ? opts->stack_size : 0), &st);
	if (r < 0)
		return r;
	__builtin_memset(f, 0, sizeof(*f));
	f->loop = loop;
	f->fn = fn;
	f->arg = arg;
	f->on_exit = opts ? opts->on_exit : NULL;
	f->name = opts ? opts->name : NULL;
	f->stack = st;
	launch(loop, f, st.top);
	return 0;
}

int rt_fibril_spawn(struct rt_loop *loop, rt_fibril_fn *fn, void *arg, size_t stack_size)
{
	RT_ASSERT(loop->ready_to_use);
	if (!fn)
		return -ALDER_EINVAL;
	if (loop->shutting_down)
		return -ALDER_ECANCELED;

	struct rt_stack st;
	int r = stack_get(loop, round_stack(loop, stack_size), &st);
	if (r < 0)
		return r;
	/* The record takes the top of the stack; frames grow below it. */
	struct rt_fibril *f =
	    (struct rt_fibril *)(((uintptr_t)st.top - sizeof(struct rt_fibril)) & ~(uintptr_t)63);
	__builtin_memset(f, 0, sizeof(*f));
	f->loop = loop;
	f->fn = fn;
	f->arg = arg;
	f->detached = true;
	f->stack = st;
	launch(loop, f, (char *)f);
	return 0;
}

/* ---- Fibril-side calls ---------------------------------------------------------- */

struct rt_fibril *rt_fibril_self(struct rt_loop *loop)
{
	return loop->current;
}

bool rt_fibril_alive(const struct rt_fibril *f)
{
	return f->state != RT_FIBRIL_NEW && f->state != RT_FIBRIL_EXITED;
}

int64_t rt_await(struct rt_op *op)
{
	struct rt_loop *loop = op->loop;
	RT_ASSERT(loop != NULL && loop->current != NULL); /* only from a fibril */
	RT_ASSERT(op->done == NULL);			  /* a done op is not awaited */
	if (op->state == RT_OP_UNCLAIMED) {
		op->state = RT_OP_IDLE;
		return op->result;
	}
	RT_ASSERT(rt_op_busy(op));     /* started and not yet claimed */
	RT_ASSERT(op->waiter == NULL); /* one awaiter per op */
	op->waiter = loop->current;
	park(loop);
	RT_ASSERT(op->state == RT_OP_IDLE);
	return op->result;
}

int64_t rt_op_start_await(struct rt_loop *loop, struct rt_op *op)
{
	RT_ASSERT(loop->current != NULL); /* only from a fibril */
	int r = rt_op_start(loop, op, NULL);
	if (r < 0)
		return r;
	return rt_await(op);
}

void rt_fibril_yield_await(struct rt_loop *loop)
{
	struct rt_fibril *f = loop->current;
	RT_ASSERT(f != NULL && f->nosuspend == 0);
	f->state = RT_FIBRIL_READY;
	rt_link_add_tail(&loop->ready, &f->link);
	switch_out(f, false);
	RT_ASSERT(f->state == RT_FIBRIL_RUNNING);
}

int rt_fibril_join_await(struct rt_fibril *f)
{
	if (f->state == RT_FIBRIL_NEW || f->detached)
		return -ALDER_EINVAL;
	if (f->state == RT_FIBRIL_EXITED)
		return 0;
	struct rt_loop *loop = f->loop;
	RT_ASSERT(loop->current != NULL && loop->current != f);
	RT_ASSERT(f->joiner == NULL); /* one joiner per fibril */
	f->joiner = loop->current;
	park(loop);
	RT_ASSERT(f->state == RT_FIBRIL_EXITED);
	return 0;
}

noreturn void rt_fibril_exit(struct rt_loop *loop)
{
	RT_ASSERT(loop->current != NULL);
	exit_now(loop->current);
}

void rt_nosuspend_begin(struct rt_loop *loop)
{
	if (loop->current)
		loop->current->nosuspend++;
}

void rt_nosuspend_end(struct rt_loop *loop)
{
	if (loop->current) {
		RT_ASSERT(loop->current->nosuspend > 0);
		loop->current->nosuspend--;
	}
}

/* ---- Tear-down ------------------------------------------------------------------- */

void rt__fibril_fini(struct rt_loop *loop)
{
	/* Fibrils that never exited (a failed shutdown): abandon them. */
	while (!rt_link_empty(&loop->fibrils)) {
		struct rt_fibril *f = rt_container_of(loop->fibrils.next, struct rt_fibril, all);
		struct rt_stack st = f->stack;
		rt_link_remove(&f->all);
		if (rt_link_linked(&f->link))
			rt_link_remove(&f->link);
		if (!f->detached)
			f->state = RT_FIBRIL_EXITED;
		loop->fibrils_alive--;
		san_unpoison(st.lo, stack_usable(&st));
		rt_plat_stack_free(&st);
	}
	while (loop->stack_cache) {
		struct rt_stack_node *node = loop->stack_cache;
		struct rt_stack st = node->stack;
		loop->stack_cache = node->next;
		loop->stack_cache_len--;
		rt_plat_stack_free(&st);
	}
}
