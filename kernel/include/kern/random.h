/*
 * Random bytes for the kernel (kernel/generic/random.c): RDRAND when the
 * CPU has it, else the TSC through a mixer. Unpredictable enough for a
 * stack-canary seed or an identifier nobody should guess; not a source for
 * keys.
 */
#ifndef KERN_RANDOM_H
#define KERN_RANDOM_H

#include <kern/types.h>

/* One random 64-bit value. Any context. */
uint64_t random_u64(void);
/* n random bytes at out. Any context. */
void random_bytes(void *out, size_t n);

#endif
