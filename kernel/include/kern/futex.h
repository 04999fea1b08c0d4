/*
 * Futexes (kernel/generic/futex.c): wait until the 32-bit word at a user
 * address changes, keyed by the physical address of the word, so that the
 * same word mapped in two processes (shared memory) is the same futex.
 */
#ifndef KERN_FUTEX_H
#define KERN_FUTEX_H

#include <kern/types.h>

struct vmspace;

/*
 * If *uaddr == expected, sleep until woken, the deadline (monotonic ns,
 * 0 = none) passes or the thread is killed. Returns 0 (woken),
 * -ALDER_EAGAIN (value differed), -ALDER_ETIMEDOUT, -ALDER_EINTR,
 * -ALDER_EFAULT (unmapped / unaligned: -ALDER_EINVAL).
 */
int futex_wait(struct vmspace *s, uint64_t uaddr, uint32_t expected, uint64_t deadline);
/* Wake up to count waiters; returns how many were woken (or -errno). */
long futex_wake(struct vmspace *s, uint64_t uaddr, uint32_t count);

#endif
