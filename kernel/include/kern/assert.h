/*
 * assert() for the kernel's own invariants, panic() for corrupt kernel state.
 * Never use either for something a user program or device can cause.
 */
#ifndef KERN_ASSERT_H
#define KERN_ASSERT_H

#include <kern/types.h>

__noreturn void panic(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#define assert(x)                                                                  \
	do {                                                                       \
		if (unlikely(!(x)))                                                \
			panic("assertion failed: %s at %s:%d", #x, __FILE__, __LINE__); \
	} while (0)

#define static_assert _Static_assert

#endif
