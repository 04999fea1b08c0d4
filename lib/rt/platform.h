/*
 * The platform layer: everything lib/rt needs from below, so the same core
 * runs on Alder (plat_alder.c: system calls) and on the host in unit tests
 * (host/plat_host.c + host/fake_kernel.c: a deterministic fake kernel).
 * Private to lib/rt. Exactly one implementation is linked.
 */
#ifndef RT_PLATFORM_H
#define RT_PLATFORM_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdnoreturn.h>

#include "include/rt/fibril.h"

/*
 * Create a queue for the calling thread and fill ring (handle, header, both
 * arrays, the entry counts the kernel actually chose). Returns 0 or a
 * negative errno.
 */
int rt_plat_queue_create(uint32_t sq_entries, uint32_t cq_entries, struct rt_ring *ring);
void rt_plat_queue_destroy(struct rt_ring *ring);

/*
 * sys_queue_enter: offer to_submit SQEs (from hdr->sq_head) and, if
 * min_complete > 0, wait until at least that many CQEs are available, with
 * no timeout. Returns how many SQEs the kernel took (possibly fewer), or a
 * negative errno.
 */
long rt_plat_queue_enter(struct rt_ring *ring, uint32_t to_submit, uint32_t min_complete);

/*
 * A stack of at least size usable bytes (a multiple of RT_PAGE_SIZE) with
 * RT_STACK_GUARD inaccessible bytes directly below: fills st (top = the end
 * of the mapping). Returns 0 or a negative errno.
 */
int rt_plat_stack_alloc(size_t size, struct rt_stack *st);
void rt_plat_stack_free(struct rt_stack *st);

uint64_t rt_plat_now_ns(void);

/* One write to the log. */
long rt_plat_log_write(const char *buf, size_t len);
int rt_plat_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);

/* A broken invariant of lib/rt or of its caller: report and stop. */
noreturn void rt_plat_assert_fail(const char *expr, const char *file, int line);

/* Plain system calls behind the typed helpers. */
long rt_plat_event_create(void);
long rt_plat_event_signal(alder_handle_t event);
long rt_plat_handle_close(alder_handle_t h);
long rt_plat_stream_create(alder_handle_t lanes[2]);

#endif
