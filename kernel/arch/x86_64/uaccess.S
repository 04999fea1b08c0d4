/*
 * int arch_copy_user(void *dst, const void *src, size_t len): copy with
 * exception-table entries, so a page fault on either side returns -1
 * instead of oopsing. Callers (kernel/generic/uaccess.c) check the range
 * first and open the SMAP window around the call. Eight bytes at a time,
 * then the tail.
 */
	.text
	.globl arch_copy_user
arch_copy_user:
	mov %rdx, %rcx
	shr $3, %rcx
copy_words:
	rep movsq
	mov %rdx, %rcx
	and $7, %rcx
copy_tail:
	rep movsb
	xor %eax, %eax
	ret
copy_fixup:
	mov $-1, %eax
	ret

	.section .extable, "a"
	.balign 8
	.quad copy_words, copy_fixup
	.quad copy_tail, copy_fixup
