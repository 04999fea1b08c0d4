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
 * Everything the direct map covers before paging_init() replaces the boot
 * page tables (kernel/arch/x86_64/boot.S maps the first 4 GiB). Until
 * pmm_set_alloc_limit() says otherwise, the allocator hands out nothing at
 * or above it, and its own bookkeeping always lies below it.
 */
#define PMM_BOOT_LIMIT (4ull << 30)

/*
 * Take the given usable regions (any order, may overlap, need not be aligned:
 * partial frames are dropped). The allocator's own bookkeeping is carved out of
 * the regions themselves (below PMM_BOOT_LIMIT) and reached through
 * phys_to_virt(). Regions the caller must keep (kernel image, boot modules,
 * boot info) are either not passed in, or passed as keep to
 * pmm_init_except(). Reserving them afterwards with pmm_reserve() is too
 * late: pmm_init writes its bookkeeping into usable memory at once and may
 * overwrite them.
 */
void pmm_init(const struct mem_region *regions, size_t count);
/* pmm_init, but the bookkeeping avoids the keep ranges, which are then
 * marked in use as by pmm_reserve() (and may be freed later, e.g. an
 * initramfs once unpacked). pmm_init(r, n) is pmm_init_except(r, n, NULL, 0). */
void pmm_init_except(const struct mem_region *regions, size_t count, const struct mem_region *keep,
		     size_t nkeep);
/* Hand out no frame at or above end (rounded down to 256 KiB); 0 lifts the
 * limit. pmm_init sets it to PMM_BOOT_LIMIT; call pmm_set_alloc_limit(0) once
 * the direct map covers all memory. pmm_alloc_contig's max_addr applies too. */
void pmm_set_alloc_limit(paddr_t end);
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
/* [*lo, *hi): from the first managed frame to the end of the last, holes
 * included (both 0 with no memory). Fixed by pmm_init. Every address in it is
 * in the direct map once paging_init has built it (kern/vm.h), so a check
 * against it is a cheap, if coarse, "could this be one of the allocator's
 * frames" before reading through a pointer. */
void pmm_span(paddr_t *lo, paddr_t *hi);

size_t pmm_free_frames(void);
/* Frames managed: the usable regions less frame 0 and the allocator's own
 * bookkeeping. Used = total - free, reserved frames included. */
size_t pmm_total_frames(void);
/* Highest number of frames in use at once since pmm_init. */
size_t pmm_peak_used_frames(void);

#endif
