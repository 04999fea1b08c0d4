/*
 * Per-CPU GDT and TSS. The TSS gives the kernel stack for interrupts from
 * user mode (rsp0, updated on every context switch), three IST stacks for
 * exceptions that must not run on a possibly broken stack: double fault
 * (IST1), NMI (IST2), machine check (IST3), and the I/O permission bitmap
 * (all ports denied here; see ioport.c).
 */
#include <kern/cpu.h>
#include <kern/pmm.h>
#include <kern/vm.h>
#include <kern/assert.h>
#include <kern/string.h>
#include <arch/apic.h>
#include <arch/trap.h>

#define IST_STACK_SIZE 8192

void gdt_init_cpu(struct cpu *c)
{
	c->gdt[0] = 0;
	c->gdt[GDT_KCODE / 8] = 0x00af9a000000ffffull;   /* 64-bit code, DPL 0 */
	c->gdt[GDT_KDATA / 8] = 0x00cf92000000ffffull;   /* data, DPL 0 */
	c->gdt[GDT_UCODE32 / 8] = 0x00cffa000000ffffull; /* 32-bit code, DPL 3 (SYSRET base) */
	c->gdt[GDT_UDATA / 8] = 0x00cff2000000ffffull;   /* data, DPL 3 */
	c->gdt[GDT_UCODE / 8] = 0x00affa000000ffffull;   /* 64-bit code, DPL 3 */

	memset(&c->tss, 0, sizeof(c->tss));
	for (int i = 0; i < 3; i++) {
		paddr_t p = pmm_alloc_contig(IST_STACK_SIZE / PAGE_SIZE, 1, 0);
		if (!p)
			panic("no memory for IST stacks of CPU %u", c->id);
		c->ist_stacks[i] = phys_to_virt(p);
		c->tss.ist[i] = (uint64_t)(uintptr_t)c->ist_stacks[i] + IST_STACK_SIZE;
	}
	/* The I/O bitmap denies every port; ioport.c opens ports for the threads
	 * that were given them, while they run. */
	memset(c->tss.iomap, 0xff, sizeof(c->tss.iomap));
	c->tss.iomap_base = (uint16_t)__builtin_offsetof(struct tss, iomap);

	uint64_t base = (uint64_t)(uintptr_t)&c->tss;
	uint64_t limit = sizeof(struct tss) - 1;
	c->gdt[GDT_TSS / 8] = (limit & 0xffff) | ((base & 0xffffff) << 16) | (0x89ull << 40) |
			      (((limit >> 16) & 0xf) << 48) | (((base >> 24) & 0xff) << 56);
	c->gdt[GDT_TSS / 8 + 1] = base >> 32;

	struct {
		uint16_t limit;
		uint64_t base;
	} __packed gdtr = { sizeof(c->gdt) - 1, (uint64_t)(uintptr_t)c->gdt };
	__asm__ volatile("lgdt %0\n"
			 "mov %1, %%ds\n mov %1, %%es\n mov %1, %%ss\n"
			 "pushq %2\n lea 1f(%%rip), %%rax\n pushq %%rax\n lretq\n1:\n"
			 "ltr %w3\n"
			 :
			 : "m"(gdtr), "r"(GDT_KDATA), "i"(GDT_KCODE), "r"(GDT_TSS)
			 : "rax", "memory");
}
