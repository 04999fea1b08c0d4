/*
 * 4-level page tables (kernel/arch/x86_64/paging.c). The kernel half (PML4
 * entries 256..511) is shared by every address space; the user half is
 * private. Page-table frames are reached through the direct map.
 */
#ifndef ARCH_PAGING_H
#define ARCH_PAGING_H

#include <kern/types.h>

#define PTE_P (1ull << 0)
#define PTE_W (1ull << 1)
#define PTE_U (1ull << 2)
#define PTE_PWT (1ull << 3)
#define PTE_PCD (1ull << 4)
#define PTE_A (1ull << 5)
#define PTE_D (1ull << 6)
#define PTE_PS (1ull << 7)
#define PTE_G (1ull << 8)
#define PTE_NX (1ull << 63)
#define PTE_ADDR 0x000ffffffffff000ull

#define USER_TOP 0x0000800000000000ull /* first address user space may not use */
#define KSTACK_REGION 0xffffff0000000000ull
#define MMIO_REGION 0xffffff8000000000ull

/* Mapping flags for paging_map (independent of the PTE bits). */
#define MAP_READ 0
#define MAP_WRITE 1u
#define MAP_EXEC 2u
#define MAP_USER 4u
#define MAP_UNCACHED 8u

extern paddr_t kernel_pml4;
extern bool cpu_has_nx, cpu_has_pge;

/* Build and load the kernel's page tables; the direct map covers
 * [0, max(max_ram, 4 GiB)). */
void paging_init(paddr_t max_ram);
/* Map one 4 KiB page. Returns 0, -ALDER_ENOMEM (no frame for a table) or
 * -ALDER_EEXIST (already mapped). Does not flush: fresh mappings need none. */
int paging_map(paddr_t pml4, vaddr_t va, paddr_t pa, unsigned flags);
/* Map or remap one user page, replacing whatever was there (the caller
 * flushes the old translation). 0 or -ALDER_ENOMEM. */
int paging_map_replace(paddr_t pml4, vaddr_t va, paddr_t pa, unsigned flags);
/* Clear the user PTE for va if present, without locks (a single atomic
 * store; tables are never freed while a space has mappings). Returns true
 * when something was cleared; the caller flushes. */
bool paging_zap(paddr_t pml4, vaddr_t va);
/* Remove a mapping; returns the frame that was mapped there or 0. The caller
 * flushes (tlb_shootdown) before reusing the frame. */
paddr_t paging_unmap(paddr_t pml4, vaddr_t va);
/* The PTE for va, or 0 when not mapped. */
uint64_t paging_lookup(paddr_t pml4, vaddr_t va);
/* Map device memory uncached into the kernel's MMIO window; NULL on failure. */
void *paging_map_mmio(paddr_t pa, size_t len);

/* A new user address space (kernel half shared). 0 on out-of-memory. */
paddr_t paging_new_space(void);
/* Free the user half's page tables (not the pages they map: those belong
 * to memory objects); the PML4 stays. */
void paging_clear_user_half(paddr_t pml4);
/* Free every user page table of a space, then the PML4 itself. The space
 * must not be loaded on any CPU. */
void paging_free_space(paddr_t pml4);

static inline void paging_activate(paddr_t pml4)
{
	__asm__ volatile("mov %0, %%cr3" ::"r"(pml4) : "memory");
}

/* Flush va..va+n pages on every CPU that may cache them (kernel mappings:
 * all CPUs), the caller's included wherever it runs. Waits until every CPU
 * has flushed. */
void tlb_shootdown(vaddr_t va, size_t npages);

#endif
