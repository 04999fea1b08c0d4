/*
 * Process entry (_start) and the thread-start trampoline for native Alder
 * programs. Not for musl-linked programs, which bring their own crt1.
 *
 * Entry contract (kernel): rsp 16-byte aligned inside a 64 KiB stack,
 * rdi = argument string (NUL-terminated), rsi = its length, all other
 * registers zero, no return address on the stack. So _start must never
 * return: it passes main's result to sys_exit.
 */

	.section .text.start, "ax", @progbits
	.globl _start
	.type _start, @function
_start:
	/* Record the registers exactly as the kernel left them (ulib.h,
	 * ULIB_REG_* order) before anything changes them. */
	movq %rax, u_entry_regs + 0*8(%rip)
	movq %rbx, u_entry_regs + 1*8(%rip)
	movq %rcx, u_entry_regs + 2*8(%rip)
	movq %rdx, u_entry_regs + 3*8(%rip)
	movq %rsi, u_entry_regs + 4*8(%rip)
	movq %rdi, u_entry_regs + 5*8(%rip)
	movq %rbp, u_entry_regs + 6*8(%rip)
	movq %rsp, u_entry_regs + 7*8(%rip)
	movq %r8, u_entry_regs + 8*8(%rip)
	movq %r9, u_entry_regs + 9*8(%rip)
	movq %r10, u_entry_regs + 10*8(%rip)
	movq %r11, u_entry_regs + 11*8(%rip)
	movq %r12, u_entry_regs + 12*8(%rip)
	movq %r13, u_entry_regs + 13*8(%rip)
	movq %r14, u_entry_regs + 14*8(%rip)
	movq %r15, u_entry_regs + 15*8(%rip)

	xorl %ebp, %ebp         /* outermost frame for backtraces */
	andq $-16, %rsp         /* already aligned by contract; be defensive */
	/* rdi, rsi are already main(arg, arg_len). */
	call main
	movl %eax, %edi
	call sys_exit
	ud2                     /* sys_exit returned: fault loudly */
	.size _start, . - _start

/*
 * u_thread_entry(block): started by sys_thread_create from u_thread_start
 * with rdi = block = { fn, arg } stored at the top of the new stack and rsp
 * at or just below the block. Calls fn(arg) on a 16-byte aligned stack (as
 * the SysV ABI wants at a call), then ends the thread.
 */
	.text
	.globl u_thread_entry
	.type u_thread_entry, @function
u_thread_entry:
	xorl %ebp, %ebp
	movq 0(%rdi), %rax      /* fn */
	movq 8(%rdi), %rdi      /* arg */
	andq $-16, %rsp
	call *%rax
	call sys_thread_exit
	ud2
	.size u_thread_entry, . - u_thread_entry

	.bss
	.balign 16
	.globl u_entry_regs
	.type u_entry_regs, @object
u_entry_regs:
	.zero 16*8
	.size u_entry_regs, . - u_entry_regs

	.section .note.GNU-stack, "", @progbits
