/*
 * Application processor start-up code. smp.c copies this blob to a page
 * below 1 MiB, fills in the fields at the end (its own physical base, CR3,
 * EFER, the stack and struct cpu of the AP) and sends INIT-SIPI-SIPI. The AP
 * starts in real mode at base:0 and goes through protected mode into long
 * mode, then jumps to ap_entry(cpu) on its idle thread's stack.
 */
#define OFF(x) ((x) - ap_tramp_start)

	.section .rodata
	.globl ap_tramp_start, ap_tramp_end
	.code16
ap_tramp_start:
	cli
	cld
	mov %cs, %ax
	mov %ax, %ds
	movl OFF(tr_base), %ebx          /* physical base, for 32-bit addressing */
	lgdtl OFF(tr_gdtr)
	mov %cr0, %eax
	or $1, %eax
	mov %eax, %cr0
	ljmpl *OFF(tr_jmp32)

	.code32
ap_pm32:
	mov $0x10, %ax
	mov %ax, %ds
	mov %ax, %es
	mov %ax, %ss
	mov %cr4, %eax
	or $(1 << 5), %eax               /* PAE */
	mov %eax, %cr4
	mov OFF(tr_cr3)(%ebx), %eax
	mov %eax, %cr3
	mov $0xc0000080, %ecx
	mov OFF(tr_efer)(%ebx), %eax
	xor %edx, %edx
	wrmsr
	mov %cr0, %eax
	or $((1 << 31) | (1 << 16)), %eax /* PG, WP */
	mov %eax, %cr0
	ljmpl *OFF(tr_jmp64)(%ebx)

	.code64
ap_lm64:
	mov %ebx, %ebx                   /* upper half undefined after the mode switch */
	mov OFF(tr_stack)(%rbx), %rsp
	mov OFF(tr_cpu)(%rbx), %rdi
	movabs $ap_entry, %rax
	xor %rbp, %rbp
	jmp *%rax

	.balign 8
tr_gdt:
	.quad 0
	.quad 0x00cf9a000000ffff         /* 0x08: 32-bit code */
	.quad 0x00cf92000000ffff         /* 0x10: data */
	.quad 0x00af9a000000ffff         /* 0x18: 64-bit code */
tr_gdtr:
	.word 31
	.long 0                          /* patched: base + OFF(tr_gdt) */
	.balign 8
	.globl ap_tr_base, ap_tr_cr3, ap_tr_efer, ap_tr_stack, ap_tr_cpu, ap_tr_jmp32, ap_tr_jmp64, ap_tr_gdtr
ap_tr_base:
tr_base:  .long 0
ap_tr_cr3:
tr_cr3:   .long 0
ap_tr_efer:
tr_efer:  .long 0
	.long 0
ap_tr_stack:
tr_stack: .quad 0
ap_tr_cpu:
tr_cpu:   .quad 0
ap_tr_jmp32:
tr_jmp32: .long 0                   /* patched: base + OFF(ap_pm32) */
	.word 0x08
ap_tr_jmp64:
tr_jmp64: .long 0                   /* patched: base + OFF(ap_lm64) */
	.word 0x18
ap_tr_gdtr = tr_gdtr
	.globl ap_off_pm32, ap_off_lm64, ap_off_gdt
	.set ap_off_pm32, OFF(ap_pm32)
	.set ap_off_lm64, OFF(ap_lm64)
	.set ap_off_gdt, OFF(tr_gdt)
ap_tramp_end:
