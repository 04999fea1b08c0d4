/*
 * Timers and kernel events as operations (rt/timer.h): thin preparation
 * and start helpers; the waiting is the loop's and rt_await's business.
 */
#include "internal.h"

uint64_t rt_now_ns(void)
{
	return rt_plat_now_ns();
}

uint64_t rt_deadline_in(uint64_t ns)
{
	uint64_t now = rt_plat_now_ns();
	return ns > UINT64_MAX - now ? UINT64_MAX : now + ns;
}

void rt_op_prep_timer(struct rt_op *op, uint64_t deadline_ns)
{
	rt_op_prep(op, ALDER_OP_TIMER, ALDER_HANDLE_NONE, deadline_ns, 0, 0, 0);
}

int rt_timer_start(struct rt_loop *loop, struct rt_op *op, uint64_t deadline_ns, rt_op_done_fn *done)
{
	if (rt_op_busy(op))
		return -ALDER_EBUSY;
	rt_op_prep_timer(op, deadline_ns);
	return rt_op_start(loop, op, done);
}

int64_t rt_sleep_until_await(struct rt_loop *loop, uint64_t deadline_ns)
{
	struct rt_op op = RT_OP_INIT;
	rt_op_prep_timer(&op, deadline_ns);
	return rt_op_start_await(loop, &op);
}

int64_t rt_sleep_await(struct rt_loop *loop, uint64_t ns)
{
	return rt_sleep_until_await(loop, rt_deadline_in(ns));
}

long rt_event_create(void)
{
	return rt_plat_event_create();
}

long rt_event_signal(alder_handle_t event)
{
	return rt_plat_event_signal(event);
}

long rt_handle_close(alder_handle_t h)
{
	return rt_plat_handle_close(h);
}

void rt_op_prep_event_wait(struct rt_op *op, alder_handle_t event)
{
	rt_op_prep(op, ALDER_OP_EVENT_WAIT, event, 0, 0, 0, 0);
}

int rt_event_wait_start(struct rt_loop *loop, struct rt_op *op, alder_handle_t event, rt_op_done_fn *done)
{
	if (rt_op_busy(op))
		return -ALDER_EBUSY;
	rt_op_prep_event_wait(op, event);
	return rt_op_start(loop, op, done);
}

int64_t rt_event_wait_await(struct rt_loop *loop, alder_handle_t event)
{
	struct rt_op op = RT_OP_INIT;
	rt_op_prep_event_wait(&op, event);
	return rt_op_start_await(loop, &op);
}
