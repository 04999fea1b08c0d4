/*
 * The fibril context switch (ctx.c). Private to lib/rt.
 */
#ifndef RT_CTX_H
#define RT_CTX_H

#include <stdint.h>

/* What rt_ctx_switch leaves on a suspended stack, lowest address first. */
struct rt_ctx_frame {
	uint64_t csr; /* MXCSR (low 32 bits), x87 control word (bits 32-47) */
	uint64_t r15, r14, r13, r12, rbx, rbp;
	uint64_t ret;
};

/* Save the running context's callee-saved state on its stack and its rsp in
 * *save_sp; continue the context whose rsp is new_sp. Returns when some
 * later switch names save_sp's context again. */
void rt_ctx_switch(void **save_sp, void *new_sp) __attribute__((visibility("hidden")));

/* Not callable from C: the first "return address" of a new context. */
extern char rt_ctx_trampoline[] __attribute__((visibility("hidden")));

/* A first frame that makes rt_ctx_switch start entry(arg) on that stack. */
void rt_ctx_frame_init(struct rt_ctx_frame *fr, void (*entry)(void *), void *arg);

#endif
