/*
 * Timers and kernel events as operations (ALDER_OP_TIMER,
 * ALDER_OP_EVENT_WAIT), in callback style and fibril style.
 *
 * A timer op completes with 0 when the monotonic clock passes its deadline
 * (at once if it already has), or with -ALDER_ECANCELED if cancelled first.
 *
 * Events are how another thread (or process) wakes this loop: it calls
 * rt_event_signal on a handle to an event this loop waits on. They are
 * edge-triggered with no memory (kernel/generic/event.c): a wait completes
 * at the first signal AFTER it was submitted, with the counter's new value;
 * a signal while no wait is pending is lost. So keep a wait posted, and
 * re-check your own shared state after every completion, not just the
 * counter. Closing the event's last handle fails pending waits with
 * -ALDER_EPIPE.
 */
#ifndef RT_TIMER_H
#define RT_TIMER_H

#include "fibril.h"

#define RT_NS_PER_MS ((uint64_t)1000000)
#define RT_NS_PER_SEC ((uint64_t)1000000000)

/* Monotonic time in nanoseconds (SYS_CLOCK; the fake clock on the host). */
uint64_t rt_now_ns(void);

/* Deadline ns from now, saturating instead of wrapping. */
uint64_t rt_deadline_in(uint64_t ns);

void rt_op_prep_timer(struct rt_op *op, uint64_t deadline_ns);
/* Prepare and start a timer op (rt_op_start's results). */
int rt_timer_start(struct rt_loop *loop, struct rt_op *op, uint64_t deadline_ns, rt_op_done_fn *done);
/* Suspend until the deadline (0) or until shut down (-ALDER_ECANCELED). The
 * op lives on the fibril's stack, so only shutdown can cancel it. */
int64_t rt_sleep_until_await(struct rt_loop *loop, uint64_t deadline_ns);
int64_t rt_sleep_await(struct rt_loop *loop, uint64_t ns);

/* SYS_EVENT_CREATE: returns a new event handle or a negative errno. */
long rt_event_create(void);
/* SYS_EVENT_SIGNAL: 0 or a negative errno. Any thread. */
long rt_event_signal(alder_handle_t event);
/* SYS_HANDLE_CLOSE. */
long rt_handle_close(alder_handle_t h);

void rt_op_prep_event_wait(struct rt_op *op, alder_handle_t event);
int rt_event_wait_start(struct rt_loop *loop, struct rt_op *op, alder_handle_t event, rt_op_done_fn *done);
/* Suspends: wait for the event; returns its counter or a negative errno. */
int64_t rt_event_wait_await(struct rt_loop *loop, alder_handle_t event);

#endif
