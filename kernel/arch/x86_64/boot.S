/*
 * Multiboot2 entry. GRUB leaves us in 32-bit protected mode without paging
 * (EAX = magic, EBX = physical address of the boot information). We build a
 * throw-away set of page tables mapping the first 4 GiB three times —
 * identity (to survive enabling paging), at the direct map base (so kmain can
 * read the boot information) and the first 1 GiB at -2 GiB (the kernel image)
 * — switch to long mode and call kmain. kmain replaces these tables.
 */
#define KERNEL_VIRT 0xffffffff80000000
#define PHYS(x) ((x) - KERNEL_VIRT)

	.section .multiboot2, "a"
	.align 8
mb2_header:
	.long 0xe85250d6                /* magic */
	.long 0                         /* architecture: i386 protected mode */
	.long mb2_header_end - mb2_header
	.long -(0xe85250d6 + 0 + (mb2_header_end - mb2_header))
	/* end tag */
	.word 0
	.word 0
	.long 8
mb2_header_end:

	.section .boot.text, "ax"
	.code32
	.globl _start32
_start32:
	cli
	cld
	mov %eax, %edi                  /* magic -> first argument of kmain */
	mov %ebx, %esi                  /* info  -> second argument */
	mov $PHYS(boot_stack_top), %esp

	/* PD entries: 2048 x 2 MiB pages covering 0..4 GiB, present+write+PS. */
	mov $PHYS(boot_pd), %ebx
	xor %ecx, %ecx
1:	mov %ecx, %eax
	shl $21, %eax
	or $0x83, %eax
	mov %eax, (%ebx,%ecx,8)
	mov %ecx, %eax
	shr $11, %eax                   /* high dword: (i * 2 MiB) >> 32 */
	mov %eax, 4(%ebx,%ecx,8)
	inc %ecx
	cmp $2048, %ecx
	jne 1b

	/* PDPT (low): 4 entries, one per PD page. */
	mov $PHYS(boot_pdpt_low), %ebx
	mov $PHYS(boot_pd), %eax
	or $3, %eax
	mov %eax, 0(%ebx)
	add $4096, %eax
	mov %eax, 8(%ebx)
	add $4096, %eax
	mov %eax, 16(%ebx)
	add $4096, %eax
	mov %eax, 24(%ebx)

	/* PDPT (high): entry 510 = first GiB, for the -2 GiB kernel window. */
	mov $PHYS(boot_pdpt_high), %ebx
	mov $PHYS(boot_pd), %eax
	or $3, %eax
	mov %eax, 510*8(%ebx)

	/* PML4: 0 (identity) and 256 (direct map) -> low, 511 -> high. */
	mov $PHYS(boot_pml4), %ebx
	mov $PHYS(boot_pdpt_low), %eax
	or $3, %eax
	mov %eax, 0(%ebx)
	mov %eax, 256*8(%ebx)
	mov $PHYS(boot_pdpt_high), %eax
	or $3, %eax
	mov %eax, 511*8(%ebx)

	mov %ebx, %cr3
	mov %cr4, %eax
	or $(1 << 5), %eax              /* PAE */
	mov %eax, %cr4

	/* EFER: long mode, and NX when the CPU has it (CPUID 0x80000001 EDX.20). */
	mov $0x80000001, %eax
	cpuid
	mov %edx, %ebx
	mov $0xc0000080, %ecx
	rdmsr
	or $(1 << 8), %eax
	bt $20, %ebx
	jnc 2f
	or $(1 << 11), %eax
2:	wrmsr

	mov %cr0, %eax
	or $((1 << 31) | (1 << 16) | 1), %eax  /* PG, WP, PE */
	mov %eax, %cr0

	lgdt boot_gdtr
	ljmp $0x08, $long_mode32

	.code64
long_mode32:
	mov $0x10, %ax
	mov %ax, %ds
	mov %ax, %es
	mov %ax, %ss
	xor %ax, %ax
	mov %ax, %fs
	mov %ax, %gs
	movabs $long_mode_high, %rax
	jmp *%rax

	.section .boot.data, "aw"
	.align 16
boot_gdt:
	.quad 0
	.quad 0x00af9a000000ffff        /* 0x08: 64-bit code */
	.quad 0x00cf92000000ffff        /* 0x10: data */
boot_gdt_end:
boot_gdtr:
	.word boot_gdt_end - boot_gdt - 1
	.quad boot_gdt

	.text
long_mode_high:
	movabs $boot_stack_top, %rsp
	xor %rbp, %rbp
	mov %edi, %edi                  /* zero-extend magic and info */
	mov %esi, %esi
	call kmain
3:	cli
	hlt
	jmp 3b

	.bss
	.align 4096
	.globl boot_pml4
boot_pml4:      .skip 4096
boot_pdpt_low:  .skip 4096
boot_pdpt_high: .skip 4096
boot_pd:        .skip 4096 * 4
	.globl boot_stack_top
boot_stack:     .skip 16384
boot_stack_top:
