/*
 * Page tables. paging_init() replaces the boot tables with the kernel's own:
 * a direct map of physical memory (2 MiB pages, no-execute), the kernel image
 * at -2 GiB with 4 KiB pages (text read-only, rodata read-only no-execute,
 * data no-execute) and the regions for kernel stacks and MMIO. The kernel
 * half of the PML4 is filled at init and never changes afterwards, so every
 * address space shares it by copying those 256 entries.
 */
#include <kern/assert.h>
#include <kern/log.h>
#include <kern/pmm.h>
#include <kern/spinlock.h>
#include <kern/string.h>
#include <kern/vm.h>
#include <alder/errno.h>
#include <arch/cpu.h>
#include <arch/paging.h>

paddr_t kernel_pml4;
bool cpu_has_nx, cpu_has_pge;

extern char _text_start[], _text_end[], _rodata_start[], _rodata_end[];
extern char _data_start[], _data_end[], _kernel_end[];

static spinlock_t kernel_pt_lock = SPINLOCK_INIT; /* kernel-half tables */
static spinlock_t mmio_lock = SPINLOCK_INIT;
static vaddr_t mmio_next = MMIO_REGION;

#define KERNEL_VIRT KERNEL_IMAGE_BASE

static inline uint64_t *table(paddr_t p) { return phys_to_virt(p & PTE_ADDR); }

static paddr_t new_table(void)
{
	paddr_t p = pmm_alloc();
	if (p)
		memset(phys_to_virt(p), 0, PAGE_SIZE);
	return p;
}

static uint64_t nx(void) { return cpu_has_nx ? PTE_NX : 0; }

static uint64_t pte_flags(unsigned flags)
{
	uint64_t f = PTE_P;
	if (flags & MAP_WRITE)
		f |= PTE_W;
	if (!(flags & MAP_EXEC))
		f |= nx();
	if (flags & MAP_USER)
		f |= PTE_U;
	else if (cpu_has_pge)
		f |= PTE_G;
	if (flags & MAP_UNCACHED)
		f |= PTE_PCD | PTE_PWT;
	return f;
}

/* Walk to the PTE for va, creating tables when create is set. */
static uint64_t *walk(paddr_t pml4, vaddr_t va, bool create, bool user)
{
	paddr_t t = pml4;
	for (int level = 3; level > 0; level--) {
		uint64_t *e = &table(t)[(va >> (12 + 9 * level)) & 511];
		if (!(*e & PTE_P)) {
			if (!create)
				return NULL;
			paddr_t n = new_table();
			if (!n)
				return NULL;
			*e = n | PTE_P | PTE_W | (user ? PTE_U : 0);
		} else if (*e & PTE_PS) {
			return NULL; /* inside a large page: not ours to split */
		}
		t = *e & PTE_ADDR;
	}
	return &table(t)[(va >> 12) & 511];
}

int paging_map(paddr_t pml4, vaddr_t va, paddr_t pa, unsigned flags)
{
	bool kernel = va >= KERNEL_DIRECT_MAP;
	unsigned long f = 0;
	if (kernel)
		f = spin_lock_irqsave(&kernel_pt_lock);
	int ret = 0;
	uint64_t *pte = walk(kernel ? kernel_pml4 : pml4, va, true, !kernel);
	if (!pte)
		ret = -ALDER_ENOMEM;
	else if (*pte & PTE_P)
		ret = -ALDER_EEXIST;
	else
		*pte = (pa & PTE_ADDR) | pte_flags(flags);
	if (kernel)
		spin_unlock_irqrestore(&kernel_pt_lock, f);
	return ret;
}

int paging_map_replace(paddr_t pml4, vaddr_t va, paddr_t pa, unsigned flags)
{
	assert(va < USER_TOP);
	uint64_t *pte = walk(pml4, va, true, true);
	if (!pte)
		return -ALDER_ENOMEM;
	*pte = (pa & PTE_ADDR) | pte_flags(flags);
	return 0;
}

bool paging_zap(paddr_t pml4, vaddr_t va)
{
	paddr_t t = pml4;
	for (int level = 3; level > 0; level--) {
		uint64_t e = __atomic_load_n(&table(t)[(va >> (12 + 9 * level)) & 511], __ATOMIC_ACQUIRE);
		if (!(e & PTE_P) || (e & PTE_PS))
			return false;
		t = e & PTE_ADDR;
	}
	uint64_t *pte = &table(t)[(va >> 12) & 511];
	return __atomic_exchange_n(pte, 0, __ATOMIC_ACQ_REL) & PTE_P;
}

paddr_t paging_unmap(paddr_t pml4, vaddr_t va)
{
	bool kernel = va >= KERNEL_DIRECT_MAP;
	unsigned long f = 0;
	if (kernel)
		f = spin_lock_irqsave(&kernel_pt_lock);
	paddr_t old = 0;
	uint64_t *pte = walk(kernel ? kernel_pml4 : pml4, va, false, false);
	if (pte && (*pte & PTE_P)) {
		old = *pte & PTE_ADDR;
		*pte = 0;
	}
	if (kernel)
		spin_unlock_irqrestore(&kernel_pt_lock, f);
	return old;
}

uint64_t paging_lookup(paddr_t pml4, vaddr_t va)
{
	/* Unrolled: this walk is on every kernel access to another space. */
	uint64_t e = table(pml4)[(va >> 39) & 511];
	if (!(e & PTE_P))
		return 0;
	e = table(e)[(va >> 30) & 511];
	if (!(e & PTE_P) || (e & PTE_PS))
		return e & PTE_P ? e : 0;
	e = table(e)[(va >> 21) & 511];
	if (!(e & PTE_P) || (e & PTE_PS))
		return e & PTE_P ? e : 0;
	e = table(e)[(va >> 12) & 511];
	return e & PTE_P ? e : 0;
}

void *paging_map_mmio(paddr_t pa, size_t len)
{
	paddr_t base = ALIGN_DOWN(pa, PAGE_SIZE);
	size_t pages = (ALIGN_UP(pa + len, PAGE_SIZE) - base) / PAGE_SIZE;
	unsigned long f = spin_lock_irqsave(&mmio_lock);
	vaddr_t va = mmio_next;
	mmio_next += (pages + 1) * PAGE_SIZE; /* one unmapped page between windows */
	spin_unlock_irqrestore(&mmio_lock, f);
	for (size_t i = 0; i < pages; i++)
		if (paging_map(kernel_pml4, va + i * PAGE_SIZE, base + i * PAGE_SIZE, MAP_WRITE | MAP_UNCACHED))
			return NULL;
	return (void *)(uintptr_t)(va + (pa - base));
}

static void map_image_range(char *start, char *end, unsigned flags)
{
	for (vaddr_t va = (vaddr_t)(uintptr_t)start; va < (vaddr_t)(uintptr_t)end; va += PAGE_SIZE)
		if (paging_map(kernel_pml4, va, va - KERNEL_VIRT, flags))
			panic("cannot map kernel image at %lx", va);
}

void paging_init(paddr_t max_ram)
{
	uint32_t a, b, c, d;
	cpuid(0x80000001, 0, &a, &b, &c, &d);
	cpu_has_nx = d & (1u << 20);
	cpuid(1, 0, &a, &b, &c, &d);
	cpu_has_pge = d & (1u << 13);

	/* Below 4 GiB: APs load it while still in 32-bit mode. */
	kernel_pml4 = pmm_alloc_contig(1, 1, 1ull << 32);
	if (!kernel_pml4)
		panic("no memory for the kernel page tables");
	memset(phys_to_virt(kernel_pml4), 0, PAGE_SIZE);
	uint64_t *pml4 = table(kernel_pml4);
	/* Every kernel-half PML4 slot the kernel uses gets its PDPT now. */
	static const unsigned slots[] = { 256, 257, 258, 259, 510, 511 };
	for (size_t i = 0; i < ARRAY_SIZE(slots); i++) {
		paddr_t p = new_table();
		if (!p)
			panic("no memory for the kernel page tables");
		pml4[slots[i]] = p | PTE_P | PTE_W;
	}

	/* Direct map: at least 4 GiB (MMIO, ACPI), 2 MiB pages. */
	paddr_t end = ALIGN_UP(MAX(max_ram, 1ull << 32), 1ull << 30);
	if (end > (4ull << 39))
		end = 4ull << 39;
	uint64_t big = PTE_P | PTE_W | PTE_PS | nx() | (cpu_has_pge ? PTE_G : 0);
	for (paddr_t p = 0; p < end; p += 1ull << 30) {
		vaddr_t va = KERNEL_DIRECT_MAP + p;
		uint64_t *pdpt = table(pml4[(va >> 39) & 511]);
		paddr_t pd = new_table();
		if (!pd)
			panic("no memory for the direct map");
		for (int i = 0; i < 512; i++)
			table(pd)[i] = (p + ((paddr_t)i << 21)) | big;
		pdpt[(va >> 30) & 511] = pd | PTE_P | PTE_W;
	}

	map_image_range(_text_start, _text_end, MAP_EXEC);
	map_image_range(_rodata_start, _rodata_end, MAP_READ);
	map_image_range(_data_start, _data_end, MAP_WRITE);
	map_image_range(_data_end, _kernel_end, MAP_READ); /* .ksyms */

	if (cpu_has_pge)
		write_cr4(read_cr4() | CR4_PGE);
	write_cr0(read_cr0() | CR0_WP);
	paging_activate(kernel_pml4);
	pmm_set_alloc_limit(0); /* all RAM is in the direct map now */
	log_info("paging: direct map of %lu MiB, NX %s, global pages %s", end >> 20,
		 cpu_has_nx ? "on" : "off", cpu_has_pge ? "on" : "off");
}

paddr_t paging_new_space(void)
{
	paddr_t p = new_table();
	if (!p)
		return 0;
	memcpy(table(p) + 256, table(kernel_pml4) + 256, 256 * sizeof(uint64_t));
	return p;
}

/* Free a table and the tables below it; leaf frames belong to memory
 * objects and are not touched. */
static void free_level(paddr_t t, int level)
{
	uint64_t *e = table(t);
	if (level > 0)
		for (int i = 0; i < 512; i++)
			if (e[i] & PTE_P)
				free_level(e[i] & PTE_ADDR, level - 1);
	pmm_free(t);
}

void paging_clear_user_half(paddr_t pml4)
{
	uint64_t *e = table(pml4);
	for (int i = 0; i < 256; i++) {
		if (e[i] & PTE_P)
			free_level(e[i] & PTE_ADDR, 2);
		e[i] = 0;
	}
}

void paging_free_space(paddr_t pml4)
{
	paging_clear_user_half(pml4);
	pmm_free(pml4);
}
