/*
 * Wrappers for threads in any space, registers and observation
 * (abi/alder/thread.h).
 */
#ifndef ULIB_UTHREAD_H
#define ULIB_UTHREAD_H

#include <alder/handle.h>
#include <alder/thread.h>
#include <stdint.h>

long u_thread_new(alder_handle_t space, uint64_t entry, uint64_t stack, uint64_t arg, uint32_t flags);
long u_thread_ctl(alder_handle_t thread, uint32_t op, uint64_t arg);
long u_thread_regs(alder_handle_t thread, struct alder_regs *regs, int write);

#endif
