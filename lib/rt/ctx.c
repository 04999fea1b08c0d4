/*
 * The fibril context switch, as top-level assembly in a C file so that the
 * same source builds into the library and into host unit tests that
 * #include the .c files (the host test build compiles one C file).
 * Only x86_64 SysV; nothing else lives here.
 *
 * rt_ctx_switch(void **save_sp, void *new_sp)
 *   Pushes the callee-saved state of the caller (rbp, rbx, r12-r15, and in
 *   one more slot MXCSR and the x87 control word, which the ABI also makes
 *   callee-saved), stores rsp in *save_sp, loads new_sp and pops the same
 *   frame from there, then returns on the new stack. Caller-saved registers
 *   need no saving: to the compiler this is an ordinary call.
 *
 *   Frame at new_sp, lowest address first (struct rt_ctx_frame):
 *     csr (mxcsr in bits 0-31, fpu cw in 32-47), r15, r14, r13, r12, rbx,
 *     rbp, return address.
 *
 * rt_ctx_trampoline
 *   Where a new fibril's first switch "returns" to: calls r13(r12) on a
 *   16-byte aligned stack with rbp = 0 (the end of backtraces). That call
 *   never returns (the fibril exits by switching away for good); ud2 if it
 *   does.
 */
#include <stdint.h>

#include "ctx.h"

_Static_assert(sizeof(struct rt_ctx_frame) == 64, "rt_ctx_frame matches the pushes in rt_ctx_switch");

__asm__(".text\n"
	".globl rt_ctx_switch\n"
	".hidden rt_ctx_switch\n"
	".type rt_ctx_switch, @function\n"
	".p2align 4\n"
	"rt_ctx_switch:\n"
	"\tpushq %rbp\n"
	"\tpushq %rbx\n"
	"\tpushq %r12\n"
	"\tpushq %r13\n"
	"\tpushq %r14\n"
	"\tpushq %r15\n"
	"\tsubq $8, %rsp\n"
	"\tstmxcsr (%rsp)\n"
	"\tfnstcw 4(%rsp)\n"
	"\tmovq %rsp, (%rdi)\n"
	"\tmovq %rsi, %rsp\n"
	"\tldmxcsr (%rsp)\n"
	"\tfldcw 4(%rsp)\n"
	"\taddq $8, %rsp\n"
	"\tpopq %r15\n"
	"\tpopq %r14\n"
	"\tpopq %r13\n"
	"\tpopq %r12\n"
	"\tpopq %rbx\n"
	"\tpopq %rbp\n"
	"\tret\n"
	".size rt_ctx_switch, . - rt_ctx_switch\n"
	"\n"
	".globl rt_ctx_trampoline\n"
	".hidden rt_ctx_trampoline\n"
	".type rt_ctx_trampoline, @function\n"
	".p2align 4\n"
	"rt_ctx_trampoline:\n"
	"\txorl %ebp, %ebp\n"
	"\tmovq %r12, %rdi\n"
	"\tandq $-16, %rsp\n"
	"\tcallq *%r13\n"
	"\tud2\n"
	".size rt_ctx_trampoline, . - rt_ctx_trampoline\n");

void rt_ctx_frame_init(struct rt_ctx_frame *fr, void (*entry)(void *), void *arg)
{
	/* Power-on defaults: all exceptions masked, round to nearest, 64-bit x87. */
	fr->csr = (uint64_t)0x037f << 32 | 0x1f80;
	fr->r15 = 0;
	fr->r14 = 0;
	fr->r13 = (uint64_t)(uintptr_t)entry;
	fr->r12 = (uint64_t)(uintptr_t)arg;
	fr->rbx = 0;
	fr->rbp = 0;
	fr->ret = (uint64_t)(uintptr_t)rt_ctx_trampoline;
}
