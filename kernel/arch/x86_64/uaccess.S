/*
 * int arch_copy_user(void *dst, const void *src, size_t len): copy with an
 * exception-table entry, so a page fault on either side returns -1 instead
 * of oopsing. Callers (kernel/generic/uaccess.c) check the range first and
 * open the SMAP window around the call.
 */
	.text
	.globl arch_copy_user
arch_copy_user:
	mov %rdx, %rcx
copy_insn:
	rep movsb
	xor %eax, %eax
	ret
copy_fixup:
	mov $-1, %eax
	ret

	.section .extable, "a"
	.balign 8
	.quad copy_insn, copy_fixup
