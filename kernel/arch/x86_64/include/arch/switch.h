/*
 * The kernel-stack switch, inline in the scheduler (kernel/generic/sched.c).
 *
 * A switched-out thread's stack holds, from its saved rsp up: the address
 * to resume at, then its rbp. Every other register is declared clobbered,
 * so the compiler keeps across the switch only what it needs, in its own
 * frame. A new thread's stack is prepared to resume at thread_trampoline
 * (switch.S; layout in thread.c, thread_create_kernel).
 */
#ifndef ARCH_SWITCH_H
#define ARCH_SWITCH_H

#include <kern/types.h>

/* Save the current thread's rsp in *save_rsp and resume the thread whose
 * saved rsp is new_rsp. Returns when some CPU switches back to us. */
static inline void arch_context_switch(uint64_t *save_rsp, uint64_t new_rsp)
{
	__asm__ volatile("pushq %%rbp\n\t"
			 "leaq 1f(%%rip), %%rax\n\t"
			 "pushq %%rax\n\t"
			 "movq %%rsp, (%%rdi)\n\t"
			 "movq %%rsi, %%rsp\n\t"
			 "ret\n"
			 "1:\n\t"
			 "popq %%rbp"
			 : "+D"(save_rsp), "+S"(new_rsp)
			 :
			 : "rax", "rbx", "rcx", "rdx", "r8", "r9", "r10", "r11", "r12", "r13", "r14",
			   "r15", "memory", "cc");
}

/* Words of a new thread's initial stack, from its saved rsp up. */
enum {
	ARCH_INIT_RESUME, /* thread_trampoline */
	ARCH_INIT_RBP,    /* 0: ends backtraces */
	ARCH_INIT_FN,     /* the thread's function ... */
	ARCH_INIT_ARG,    /* ... and its argument */
	ARCH_INIT_WORDS
};

#endif
