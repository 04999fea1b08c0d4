/* Kernel symbol lookup for backtraces (kernel/generic/ksyms.c). */
#ifndef KERN_KSYMS_H
#define KERN_KSYMS_H

#include <kern/types.h>

/* Name of the function containing addr and the offset into it, or NULL. */
const char *ksym_lookup(uint64_t addr, uint64_t *offset);

#endif
