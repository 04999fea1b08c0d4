/*
 * SYSCALL entry. Interrupts are off on entry (FMASK clears IF, DF, AC, TF).
 * Switch to the thread's kernel stack, build a struct trap_frame exactly like
 * isr.S does (vector VEC_SYSCALL), call syscall_dispatch(frame) with
 * interrupts on, and leave by SYSRET when the frame's return address is a
 * canonical user address, else by IRET. syscall_dispatch disables
 * interrupts before its last step (trap_user_return) and returns so.
 */
#include <arch/trap.h>

	.text
	.globl syscall_entry
syscall_entry:
	swapgs
	mov %rsp, %gs:16                 /* cpu->user_rsp */
	mov %gs:8, %rsp                  /* cpu->kstack_top */
	pushq $USER_SS
	pushq %gs:16
	pushq %r11                       /* user rflags */
	pushq $USER_CS
	pushq %rcx                       /* user rip */
	pushq $0
	pushq $VEC_SYSCALL
	pushq %rax
	pushq %rbx
	pushq %rcx
	pushq %rdx
	pushq %rsi
	pushq %rdi
	pushq %rbp
	pushq %r8
	pushq %r9
	pushq %r10
	pushq %r11
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	mov %rsp, %rdi
	sti
	call syscall_dispatch            /* returns with interrupts off */
	/* SYSRET would #GP in kernel mode on a non-canonical rip: use IRET. */
	mov TF_RIP(%rsp), %rcx
	shr $47, %rcx
	jnz trap_return
	cmpq $USER_CS, TF_CS(%rsp)
	jne trap_return
	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %r11
	popq %r10
	popq %r9
	popq %r8
	popq %rbp
	popq %rdi
	popq %rsi
	popq %rdx
	popq %rcx
	popq %rbx
	popq %rax
	addq $16, %rsp                   /* vector, error */
	mov 0(%rsp), %rcx                /* rip */
	mov 16(%rsp), %r11               /* rflags */
	mov 24(%rsp), %rsp               /* user rsp */
	swapgs
	sysretq
