/*
 * Fibrils: small stackful tasks that run on a loop's thread, for code that
 * reads better sequentially than as a chain of callbacks.
 *
 * A fibril runs until it suspends: in rt_await (an op), rt_fibril_yield_await,
 * rt_fibril_join_await, or any helper named *_await. Every function that can
 * suspend the calling fibril says so in its name (_await) or comment; none
 * ever blocks the thread. The loop's dispatcher resumes fibrils between
 * completions: each round it reaps CQEs, then runs every fibril that was
 * ready at the start of the round, each until it suspends or exits.
 *
 * Stacks come from the platform layer with an inaccessible guard region
 * below (RT_STACK_GUARD bytes): overflowing a fibril stack faults instead of
 * silently corrupting memory. The switch saves only callee-saved registers,
 * rsp, MXCSR and the x87 control word (ctx.c).
 *
 * Records. struct rt_fibril is caller owned (rt_fibril_start), or lives at
 * the top of the fibril's own stack (rt_fibril_spawn, detached). A caller-
 * owned record must stay valid until on_exit has run, or, without on_exit,
 * until the fibril has exited (rt_fibril_alive false / join returned).
 *
 * Nothing here is thread safe: a fibril belongs to its loop's thread.
 */
#ifndef RT_FIBRIL_H
#define RT_FIBRIL_H

#include <stdnoreturn.h>

#include "loop.h"

#define RT_FIBRIL_DEFAULT_STACK ((size_t)64 * 1024)
#define RT_FIBRIL_MIN_STACK ((size_t)16 * 1024)
#define RT_STACK_GUARD ((size_t)16 * 1024) /* inaccessible bytes below every stack */
#define RT_PAGE_SIZE ((size_t)4096)

typedef void rt_fibril_fn(void *arg);
struct rt_fibril;
/* Runs once, in the dispatcher, after the fibril has exited and its stack
 * has been released; the record may be freed from here. */
typedef void rt_fibril_exit_fn(struct rt_fibril *f);

/* A stack mapping (private): [map, map + map_size) of which [map, lo) is the guard. */
struct rt_stack {
	char *map;
	size_t map_size;
	char *lo;  /* lowest usable byte */
	char *top; /* one past the highest byte the fibril's frames may use */
};

enum rt_fibril_state {
	RT_FIBRIL_NEW = 0, /* never started */
	RT_FIBRIL_READY,
	RT_FIBRIL_RUNNING,
	RT_FIBRIL_PARKED,
	RT_FIBRIL_EXITING, /* left its function; the dispatcher releases it */
	RT_FIBRIL_EXITED,
};

/* A fibril record. All fields are private. */
struct rt_fibril {
	void *sp; /* saved stack pointer while not running */
	struct rt_loop *loop;
	struct rt_link link; /* loop->ready while READY */
	struct rt_link all;  /* loop->fibrils while alive */
	rt_fibril_fn *fn;
	void *arg;
	rt_fibril_exit_fn *on_exit;
	struct rt_fibril *joiner; /* fibril parked in rt_fibril_join_await */
	const char *name;
	struct rt_stack stack;
	uint8_t state;	    /* enum rt_fibril_state */
	bool detached;	    /* record lives on its own stack */
	uint16_t nosuspend; /* rt_nosuspend_begin depth */
	void *san_fake;	    /* AddressSanitizer fake stack */
};

struct rt_fibril_opts {
	size_t stack_size;	    /* usable bytes; 0: the loop's default */
	rt_fibril_exit_fn *on_exit; /* may be NULL */
	const char *name;	    /* for diagnostics; may be NULL */
};

/*
 * Start fn(arg) as a new fibril on loop, with the caller-owned record f
 * (a NEW or EXITED one; its previous contents are overwritten). It first
 * runs in the dispatcher's next round, never inside this call. opts may be
 * NULL. Returns 0, -ALDER_EBUSY (f is alive), -ALDER_ECANCELED (the loop is
 * shutting down), -ALDER_EINVAL, or the platform's error for the stack
 * (-ALDER_ENOMEM...). Any context on the loop's thread.
 */
int rt_fibril_start(struct rt_loop *loop, struct rt_fibril *f, rt_fibril_fn *fn, void *arg,
		    const struct rt_fibril_opts *opts);

/* Start a detached fibril: its record lives on its own stack and is gone
 * when it exits (no join, no on_exit). stack_size 0: the loop's default. */
int rt_fibril_spawn(struct rt_loop *loop, rt_fibril_fn *fn, void *arg, size_t stack_size);

/* The running fibril, or NULL when called from the dispatcher (done functions). */
struct rt_fibril *rt_fibril_self(struct rt_loop *loop);

/* True between a successful rt_fibril_start and the fibril's exit. */
bool rt_fibril_alive(const struct rt_fibril *f);

/*
 * Suspends: park the calling fibril until op's completion is delivered and
 * return op->result (op->aux is valid too). op must have been started with
 * done == NULL; at most one fibril awaits an op. If it has already finished,
 * returns at once. Only from a fibril (asserted).
 */
int64_t rt_await(struct rt_op *op);

/* Suspends: rt_op_start(loop, op, NULL) then rt_await(op). A start error is
 * returned as the result without suspending. Only from a fibril. */
int64_t rt_op_start_await(struct rt_loop *loop, struct rt_op *op);

/* Suspends: let every other ready fibril, and the completions that arrive
 * meanwhile, run first. Only from a fibril. */
void rt_fibril_yield_await(struct rt_loop *loop);

/*
 * Suspends: wait until f has exited; returns 0, or -ALDER_EINVAL if f was
 * never started or is detached. At most one fibril joins a fibril. Only from
 * a fibril, and not f itself.
 */
int rt_fibril_join_await(struct rt_fibril *f);

/* End the calling fibril now (its function's frames are discarded, not
 * unwound). Only from a fibril. */
noreturn void rt_fibril_exit(struct rt_loop *loop);

/*
 * Bracket code that must not suspend (it holds some invariant that another
 * fibril must not see broken). Suspending inside trips an assertion. Nests.
 * No effect outside a fibril.
 */
void rt_nosuspend_begin(struct rt_loop *loop);
void rt_nosuspend_end(struct rt_loop *loop);

#endif
