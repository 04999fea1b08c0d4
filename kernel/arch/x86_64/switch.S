/*
 * void arch_context_switch(uint64_t *save_rsp, uint64_t new_rsp): save the
 * callee-saved registers on the current kernel stack, store rsp, load the
 * other thread's rsp and pop its registers. A new thread's stack is prepared
 * by arch_thread_setup() so that the first switch "returns" into
 * thread_trampoline with the entry function in r12 and its argument in r13.
 */
	.text
	.globl arch_context_switch
arch_context_switch:
	pushq %rbp
	pushq %rbx
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	mov %rsp, (%rdi)
	mov %rsi, %rsp
	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %rbx
	popq %rbp
	ret

	.globl thread_trampoline
thread_trampoline:
	call sched_finish_switch
	sti
	mov %r13, %rdi
	call *%r12
	call thread_exit
	ud2

/* Enter user mode from a prepared trap frame (rdi) at the top of the stack. */
	.globl arch_enter_user
arch_enter_user:
	mov %rdi, %rsp
	jmp trap_return
