/*
 * The host platform layer (platform.h) for unit tests: kernel calls go to
 * the fake kernel (fake_kernel.c), stacks are mmap'd with a PROT_NONE guard
 * below (a real fault on overflow), the log goes to a buffer the tests read,
 * and assertion failures go through cmocka's mock_assert so that tests can
 * expect them (expect_assert_failure). Include after <cmocka.h>.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fake_kernel.h"
#include "../internal.h"

int rt_plat_queue_create(uint32_t sq_entries, uint32_t cq_entries, struct rt_ring *ring)
{
	return fake_queue_create(sq_entries, cq_entries, ring);
}

void rt_plat_queue_destroy(struct rt_ring *ring)
{
	fake_queue_destroy(ring);
}

long rt_plat_queue_enter(struct rt_ring *ring, uint32_t to_submit, uint32_t min_complete)
{
	return fake_queue_enter(ring, to_submit, min_complete);
}

int rt_plat_stack_alloc(size_t size, struct rt_stack *st)
{
	size_t total = size + RT_STACK_GUARD;
	void *map = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (map == MAP_FAILED)
		return -ALDER_ENOMEM;
	if (mprotect(map, RT_STACK_GUARD, PROT_NONE) != 0) {
		munmap(map, total);
		return -ALDER_ENOMEM;
	}
	st->map = map;
	st->map_size = total;
	st->lo = st->map + RT_STACK_GUARD;
	st->top = st->map + total;
	fake_stats.stacks_live++;
	fake_stats.stacks_allocated++;
	return 0;
}

void rt_plat_stack_free(struct rt_stack *st)
{
	if (munmap(st->map, st->map_size) != 0)
		abort();
	fake_stats.stacks_live--;
}

uint64_t rt_plat_now_ns(void)
{
	return fake_now();
}

long rt_plat_log_write(const char *buf, size_t len)
{
	size_t room = sizeof(fake_log_buf) - 1 - fake_log_len;
	size_t n = len < room ? len : room;
	memcpy(fake_log_buf + fake_log_len, buf, n);
	fake_log_len += n;
	fake_log_buf[fake_log_len] = 0;
	if (getenv("HOST_LOG"))
		fwrite(buf, 1, len, stderr);
	return (long)len;
}

int rt_plat_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
	return vsnprintf(buf, size, fmt, ap);
}

/* If >= 0, an assertion failure ends the process with this status instead
 * (for tests that provoke one in a child process). */
int rt_host_assert_exit = -1;

noreturn void rt_plat_assert_fail(const char *expr, const char *file, int line)
{
	if (rt_host_assert_exit >= 0)
		_exit(rt_host_assert_exit);
	/* Returns (by longjmp) into expect_assert_failure if one is active;
	 * otherwise fails the test. */
	mock_assert(0, expr, file, line);
	abort();
}

long rt_plat_event_create(void)
{
	return fake_event_create();
}

long rt_plat_event_signal(alder_handle_t event)
{
	return fake_event_signal(event);
}

long rt_plat_handle_close(alder_handle_t h)
{
	return fake_handle_close(h);
}

long rt_plat_stream_create(alder_handle_t lanes[2])
{
	return fake_stream_create(lanes);
}
