/* Host-test stand-in for kern/assert.h: panic() calls host_panic(), which a
 * test may arrange to longjmp out of (see host_expect_panic in shim.h). */
#ifndef KERN_ASSERT_H
#define KERN_ASSERT_H

#include <kern/types.h>

__noreturn void panic(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#define assert(x)                                                                  \
	do {                                                                       \
		if (!(x))                                                          \
			panic("assertion failed: %s at %s:%d", #x, __FILE__, __LINE__); \
	} while (0)

#define static_assert _Static_assert

#endif
