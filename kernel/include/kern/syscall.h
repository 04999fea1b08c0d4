/*
 * Registering native system calls. Each group of calls lives in its own
 * file and registers its handlers with SYSCALL_REGISTER; syscall.c builds
 * the dispatch table from the .syscalls section at boot. A handler gets the
 * six argument registers and returns the result (>= 0, or -ALDER_E*).
 * Numbers in the ABI without a handler return -ALDER_ENOSYS; numbers
 * outside it kill the process (no supervisor) — see syscall.c.
 */
#ifndef KERN_SYSCALL_H
#define KERN_SYSCALL_H

#include <kern/types.h>

typedef long (*syscall_fn)(uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5);

struct syscall_entry {
	uint32_t nr;          /* index: number - ALDER_SYS_BASE */
	syscall_fn fn;
};

#define SYSCALL_REGISTER(number, handler)                                                       \
	static const struct syscall_entry syscall_entry_##handler                             \
		__attribute__((used, section(".syscalls"), aligned(8))) = { (number) - ALDER_SYS_BASE, handler }

void syscall_table_init(void);

#endif
