/*
 * Physical frame allocator (kernel/generic/pmm.c).
 *
 * Manages 4 KiB frames from the usable regions of the boot memory map. Frame
 * 0 is never handed out, so 0 means "no frame". All functions are safe on any
 * CPU and in interrupt context (one IRQ-saving spinlock).
 *
 * Freeing a frame that is not allocated, or one outside the managed range, is
 * corrupt kernel state: panic() with the address.
 */
#ifndef KERN_PMM_H
#define KERN_PMM_H

#include <kern/types.h>

struct mem_region {
	paddr_t base;
	uint64_t len;
};

/*
 * Take the given usable regions (any order, may overlap, need not be aligned:
 * partial frames are dropped). The allocator's own bookkeeping is carved out of
 * the regions themselves and reached through phys_to_virt(). Regions the
 * caller must keep (kernel image, boot modules, boot info) are not passed in,
 * or are reserved afterwards with pmm_reserve().
 */
void pmm_init(const struct mem_region *regions, size_t count);
/* Mark [base, base+len) in use (rounded out to whole frames); no-op for
 * frames outside the managed range. Only during boot. */
void pmm_reserve(paddr_t base, uint64_t len);

/* One frame, or 0 when none is free. Takes from the highest memory first
 * (above 4 GiB, then above 16 MiB), leaving low memory for devices. */
paddr_t pmm_alloc(void);
/* count physically contiguous frames, the first aligned to align_frames
 * (a power of two), all below max_addr (0 = no limit). 0 on failure. */
paddr_t pmm_alloc_contig(size_t count, size_t align_frames, paddr_t max_addr);
void pmm_free(paddr_t frame);
void pmm_free_contig(paddr_t first, size_t count);

/* True if the frame holding addr is one the allocator manages (free or in
 * use). Lock-free: the managed set is fixed by pmm_init. */
bool pmm_is_managed(paddr_t addr);

size_t pmm_free_frames(void);
/* Frames managed: the usable regions less frame 0 and the allocator's own
 * bookkeeping. Used = total - free, reserved frames included. */
size_t pmm_total_frames(void);
/* Highest number of frames in use at once since pmm_init. */
size_t pmm_peak_used_frames(void);

#endif
