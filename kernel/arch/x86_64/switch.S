/*
 * The first code of every new thread. The kernel-stack switch itself is
 * inline in the scheduler (arch/switch.h): it resumes here on a stack
 * prepared by thread_create_kernel() with rbp, the entry function and its
 * argument above the resume address (ARCH_INIT_*).
 */
	.text
	.globl thread_trampoline
thread_trampoline:
	popq %rbp
	popq %r12
	popq %r13
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
