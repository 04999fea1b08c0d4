/*
 * Physical frame allocator: hands out 4 KiB frames of the usable memory the
 * boot memory map describes. It is the bottom of kernel memory management
 * (the heap and page tables are built on it); it knows nothing of virtual
 * memory beyond phys_to_virt() to reach its own bookkeeping.
 *
 * Design
 *  - One bit per frame, set = not available (allocated, reserved, or not
 *    usable memory at all), over frames [0, pmm_nframes), where pmm_nframes
 *    is the end of the highest usable region. Holes in the memory map are
 *    simply bits that are never cleared, so every search is a plain bitmap
 *    scan. Starting the bitmap at frame 0 rather than at the first usable
 *    frame costs a few bytes and makes a frame's bit index its frame number,
 *    so alignment is the same for both.
 *  - Which frames are managed at all (usable memory, minus frame 0, minus the
 *    bookkeeping) is kept as a sorted list of disjoint frame ranges, so
 *    pmm_free() can tell "double free" (managed, bit clear) from "not ours"
 *    (unmanaged) with a binary search and without a second bitmap.
 *  - The bitmap and the range list are carved from the top of the highest
 *    usable memory below the allocation limit that can hold them and
 *    overlaps nothing the caller asked to keep (pmm_init_except): they are
 *    written at once, before any pmm_reserve() could protect anything.
 *  - Allocation limit: until pmm_set_alloc_limit() lifts it, no frame at or
 *    above PMM_BOOT_LIMIT is handed out, because the boot page tables map
 *    only that much of the direct map (the same idea as Linux memblock's
 *    current_limit).
 *  - Zones: [0, 16 MiB), [16 MiB, 4 GiB), [4 GiB, end). pmm_alloc() takes from
 *    the highest zone that has a free frame, so ordinary allocations leave low
 *    memory to devices that can only address it (pmm_alloc_contig with a
 *    max_addr). Each zone keeps a free count and a next-free hint: every
 *    bitmap word of the zone below the hint is full. With those, pmm_alloc()
 *    is O(1) amortised even on 24 GiB (6M frames, a 768 KiB bitmap).
 *
 * Not for: anything user space can reach directly (callers validate), and
 * memory hot-plug (the managed span is fixed at pmm_init).
 */
#include <kern/assert.h>
#include <kern/log.h>
#include <kern/pmm.h>
#include <kern/spinlock.h>
#include <kern/string.h>
#include <kern/types.h>
#include <kern/vm.h>

/* x86_64 physical addresses are at most 52 bits (MAXPHYADDR). A region past
 * this is clamped rather than allowed to overflow the arithmetic. */
#define PMM_MAX_PHYS (1ull << 52)
#define PMM_BITS 64u

enum { ZONE_DMA, ZONE_DMA32, ZONE_NORMAL, PMM_NZONES };

/* First frame of each zone; zone z is [zone_start[z], zone_start[z+1]). All
 * are multiples of PMM_BITS, so a bitmap word never straddles two zones. */
static const uint64_t zone_start_pfn[PMM_NZONES] = {0, (16ull << 20) >> PAGE_SHIFT,
						    (4ull << 30) >> PAGE_SHIFT};
static_assert(((16ull << 20) >> PAGE_SHIFT) % PMM_BITS == 0 && ((4ull << 30) >> PAGE_SHIFT) % PMM_BITS == 0,
	      "zone boundaries must be word-aligned");

/* A run of managed frames [first, end). */
struct pmm_range {
	uint64_t first, end;
};

struct pmm_zone {
	uint64_t lo, hi; /* frames [lo, hi), clamped to [0, pmm_nframes) */
	/* Protected by pmm_lock: */
	uint64_t hint; /* word index; every word in [lo/64, hint) is full */
	size_t nfree;
};

static spinlock_t pmm_lock = SPINLOCK_INIT;

/* Set by pmm_init(), then read-only (the bitmap's contents are not): */
static uint64_t *pmm_bitmap;	     /* bit n set: frame n not available */
static uint64_t pmm_nframes;	     /* frames covered by the bitmap */
static uint64_t pmm_nwords;	     /* words of the bitmap */
static struct pmm_range *pmm_ranges; /* managed frames, sorted, disjoint */
static size_t pmm_nranges;
static size_t pmm_total;      /* managed frames */
static paddr_t pmm_meta_base; /* bookkeeping: [base, base+frames) */
static uint64_t pmm_meta_frames;

/* Protected by pmm_lock: the bitmap's bits, and: */
static struct pmm_zone pmm_zones[PMM_NZONES];
static size_t pmm_nfree;
static size_t pmm_peak;
static uint64_t pmm_limit; /* no frame at or past this is handed out; a multiple of PMM_BITS */

/* ---- Bitmap primitives. Callers hold pmm_lock or own the bitmap (init). ---- */

static inline bool bm_test(uint64_t n)
{
	return (pmm_bitmap[n / PMM_BITS] >> (n % PMM_BITS)) & 1;
}

/* Bits set in v. Not __builtin_popcountll: without -mpopcnt that is a
 * libgcc call, and the kernel links without libgcc. */
static inline unsigned popcount64(uint64_t v)
{
	v = v - ((v >> 1) & 0x5555555555555555ull);
	v = (v & 0x3333333333333333ull) + ((v >> 2) & 0x3333333333333333ull);
	v = (v + (v >> 4)) & 0x0f0f0f0f0f0f0f0full;
	return (unsigned)((v * 0x0101010101010101ull) >> 56);
}

/* Mask of bits [lo, hi) within one word, 0 <= lo < hi <= 64. */
static inline uint64_t bm_mask(unsigned lo, unsigned hi)
{
	uint64_t m = hi == PMM_BITS ? ~0ull : (1ull << hi) - 1;
	return m & ~((1ull << lo) - 1);
}

/* Set (used) or clear (free) bits [lo, hi). */
static void bm_fill(uint64_t lo, uint64_t hi, bool set)
{
	while (lo < hi) {
		uint64_t w = lo / PMM_BITS;
		unsigned b = lo % PMM_BITS;
		unsigned e = hi - w * PMM_BITS >= PMM_BITS ? PMM_BITS : (unsigned)(hi - w * PMM_BITS);
		uint64_t m = bm_mask(b, e);
		if (set)
			pmm_bitmap[w] |= m;
		else
			pmm_bitmap[w] &= ~m;
		lo = w * PMM_BITS + e;
	}
}

/* First bit in [lo, hi) equal to want (true: set), or hi if none. */
static uint64_t bm_find(uint64_t lo, uint64_t hi, bool want)
{
	while (lo < hi) {
		uint64_t w = lo / PMM_BITS;
		uint64_t v = want ? pmm_bitmap[w] : ~pmm_bitmap[w];
		v &= ~0ull << (lo % PMM_BITS);
		if (v) {
			uint64_t n = w * PMM_BITS + (uint64_t)__builtin_ctzll(v);
			return n < hi ? n : hi;
		}
		lo = (w + 1) * PMM_BITS;
	}
	return hi;
}

/* Number of clear (free) bits in [lo, hi). */
static uint64_t bm_count_clear(uint64_t lo, uint64_t hi)
{
	uint64_t n = 0;
	while (lo < hi) {
		uint64_t w = lo / PMM_BITS;
		unsigned b = lo % PMM_BITS;
		unsigned e = hi - w * PMM_BITS >= PMM_BITS ? PMM_BITS : (unsigned)(hi - w * PMM_BITS);
		n += popcount64(~pmm_bitmap[w] & bm_mask(b, e));
		lo = w * PMM_BITS + e;
	}
	return n;
}

/* ---- Helpers ---- */

static bool pmm_managed(uint64_t pfn, uint64_t count)
{
	size_t lo = 0, hi = pmm_nranges;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (pfn < pmm_ranges[mid].first)
			hi = mid;
		else if (pfn >= pmm_ranges[mid].end)
			lo = mid + 1;
		else
			return count <= pmm_ranges[mid].end - pfn;
	}
	return false;
}

static void pmm_note_used_locked(void)
{
	assert(spin_held(&pmm_lock));
	size_t used = pmm_total - pmm_nfree;
	if (used > pmm_peak)
		pmm_peak = used;
}

/*
 * Mark [lo, hi) used, all of which the caller has checked to be free, and
 * account for them zone by zone.
 */
static void pmm_take_locked(uint64_t lo, uint64_t hi)
{
	assert(spin_held(&pmm_lock));
	bm_fill(lo, hi, true);
	for (int z = 0; z < PMM_NZONES; z++) {
		struct pmm_zone *zn = &pmm_zones[z];
		uint64_t a = MAX(lo, zn->lo), b = MIN(hi, zn->hi);
		if (a < b) {
			assert(zn->nfree >= b - a);
			zn->nfree -= b - a;
		}
	}
	pmm_nfree -= hi - lo;
	pmm_note_used_locked();
}

/* Mark [lo, hi) free, all of which the caller has checked to be managed and
 * in use. */
static void pmm_give_locked(uint64_t lo, uint64_t hi)
{
	assert(spin_held(&pmm_lock));
	bm_fill(lo, hi, false);
	for (int z = 0; z < PMM_NZONES; z++) {
		struct pmm_zone *zn = &pmm_zones[z];
		uint64_t a = MAX(lo, zn->lo), b = MIN(hi, zn->hi);
		if (a < b) {
			zn->nfree += b - a;
			if (a / PMM_BITS < zn->hint)
				zn->hint = a / PMM_BITS;
		}
	}
	pmm_nfree += hi - lo;
}

/*
 * Lowest run of count clear bits that starts in [start_lo, start_hi), ends at
 * or below end_hi, and starts on a multiple of align. Returns the first frame
 * or UINT64_MAX. Each bit is looked at a bounded number of times: a failed
 * run resumes after the set bit that ended it.
 */
static uint64_t pmm_find_run(uint64_t start_lo, uint64_t start_hi, uint64_t end_hi, uint64_t count,
			     uint64_t align)
{
	uint64_t pos = start_lo;
	for (;;) {
		pos = bm_find(pos, start_hi, false);
		if (pos >= start_hi)
			return UINT64_MAX;
		uint64_t s = ALIGN_UP(pos, align);
		if (s >= start_hi || s > end_hi || end_hi - s < count)
			return UINT64_MAX;
		uint64_t busy = bm_find(s, s + count, true);
		if (busy == s + count)
			return s;
		pos = busy + 1;
	}
}

/* ---- Initialisation ---- */

/*
 * Frames of [base, base+len) below PMM_MAX_PHYS: partial frames dropped
 * (a usable region) or included (a range to keep). Returns [*first, *end).
 */
static void pmm_frames_of(paddr_t base, uint64_t len, bool round_out, uint64_t *first, uint64_t *end)
{
	uint64_t lo = base, hi = base + len;
	if (hi < lo) /* wrapped */
		hi = UINT64_MAX;
	lo = MIN(lo, PMM_MAX_PHYS);
	hi = MIN(hi, PMM_MAX_PHYS);
	if (round_out) {
		*first = ALIGN_DOWN(lo, PAGE_SIZE) >> PAGE_SHIFT;
		*end = ALIGN_UP(hi, PAGE_SIZE) >> PAGE_SHIFT;
	} else {
		*first = ALIGN_UP(lo, PAGE_SIZE) >> PAGE_SHIFT;
		*end = ALIGN_DOWN(hi, PAGE_SIZE) >> PAGE_SHIFT;
	}
	if (*end < *first || len == 0)
		*end = *first;
}

/*
 * The highest start for need frames within [first, end) (never frame 0)
 * that overlaps no keep range, or 0 if there is none. Each pass either
 * succeeds or moves end below the start of a keep range it hit.
 */
static uint64_t pmm_place(uint64_t first, uint64_t end, uint64_t need, const struct mem_region *keep,
			  size_t nkeep)
{
	first = MAX(first, 1);
	while (end > first && end - first >= need) {
		uint64_t s = end - need, clash = UINT64_MAX;
		for (size_t k = 0; k < nkeep; k++) {
			uint64_t kf, ke;
			pmm_frames_of(keep[k].base, keep[k].len, true, &kf, &ke);
			if (kf < ke && kf < end && ke > s)
				clash = MIN(clash, kf);
		}
		if (clash == UINT64_MAX)
			return s;
		end = clash;
	}
	return 0;
}

void pmm_init(const struct mem_region *regions, size_t count)
{
	pmm_init_except(regions, count, NULL, 0);
}

void pmm_init_except(const struct mem_region *regions, size_t count, const struct mem_region *keep,
		     size_t nkeep)
{
	/* Start from nothing (pmm_init also runs once per host test). */
	pmm_bitmap = NULL;
	pmm_ranges = NULL;
	pmm_nframes = pmm_nwords = 0;
	pmm_nranges = pmm_total = pmm_nfree = pmm_peak = 0;
	pmm_meta_base = 0;
	pmm_meta_frames = 0;
	pmm_limit = ALIGN_DOWN(PMM_BOOT_LIMIT >> PAGE_SHIFT, PMM_BITS);
	memset(pmm_zones, 0, sizeof(pmm_zones));

	/* Frame 0 alone is nothing to manage. */
	uint64_t top = 0;
	for (size_t i = 0; i < count; i++) {
		uint64_t f, e;
		pmm_frames_of(regions[i].base, regions[i].len, false, &f, &e);
		if (e > MAX(f, 1))
			top = MAX(top, e);
	}
	if (top == 0) {
		log_warn("pmm: no usable memory");
		return;
	}

	/*
	 * Bookkeeping: the bitmap, then room for the range list. The union of
	 * count intervals has at most count runs; cutting the bookkeeping
	 * block out of one adds at most one more (frame 0 only trims; kept
	 * ranges stay managed, merely in use).
	 */
	uint64_t nwords = (top + PMM_BITS - 1) / PMM_BITS;
	uint64_t bm_bytes = nwords * sizeof(uint64_t);
	uint64_t meta_bytes = bm_bytes + (count + 1) * sizeof(struct pmm_range);
	uint64_t meta_frames = (meta_bytes + PAGE_SIZE - 1) >> PAGE_SHIFT;

	/* Top-down, to keep low memory for devices, but below the allocation
	 * limit: the direct map may cover nothing more yet. */
	uint64_t meta_pfn = 0;
	for (size_t i = 0; i < count; i++) {
		uint64_t f, e;
		pmm_frames_of(regions[i].base, regions[i].len, false, &f, &e);
		meta_pfn = MAX(meta_pfn, pmm_place(f, MIN(e, pmm_limit), meta_frames, keep, nkeep));
	}
	if (meta_pfn == 0)
		panic("pmm: no usable memory below 0x%llx holds %llu frames of bookkeeping",
		      (unsigned long long)PMM_BOOT_LIMIT, (unsigned long long)meta_frames);

	pmm_nframes = top;
	pmm_nwords = nwords;
	pmm_meta_base = meta_pfn << PAGE_SHIFT;
	pmm_meta_frames = meta_frames;
	pmm_bitmap = phys_to_virt(pmm_meta_base);
	pmm_ranges = (struct pmm_range *)((char *)pmm_bitmap + bm_bytes);

	/* Everything used, then free what the regions cover (overlaps are
	 * harmless), then take back frame 0 and the bookkeeping. The tail of
	 * the last word past pmm_nframes stays set. */
	memset(pmm_bitmap, 0xff, bm_bytes);
	for (size_t i = 0; i < count; i++) {
		uint64_t f, e;
		pmm_frames_of(regions[i].base, regions[i].len, false, &f, &e);
		bm_fill(f, e, false);
	}
	bm_fill(0, 1, true);
	bm_fill(meta_pfn, meta_pfn + meta_frames, true);

	/* The managed ranges are exactly the runs of clear bits. */
	uint64_t pos = 0;
	for (;;) {
		uint64_t f = bm_find(pos, pmm_nframes, false);
		if (f >= pmm_nframes)
			break;
		uint64_t e = bm_find(f, pmm_nframes, true);
		assert(pmm_nranges < count + 1);
		pmm_ranges[pmm_nranges].first = f;
		pmm_ranges[pmm_nranges].end = e;
		pmm_nranges++;
		pmm_total += e - f;
		pos = e;
	}

	/* Kept frames are managed and in use, as if reserved. */
	for (size_t k = 0; k < nkeep; k++) {
		uint64_t f, e;
		pmm_frames_of(keep[k].base, keep[k].len, true, &f, &e);
		bm_fill(MIN(f, pmm_nframes), MIN(e, pmm_nframes), true);
	}

	for (int z = 0; z < PMM_NZONES; z++) {
		struct pmm_zone *zn = &pmm_zones[z];
		zn->lo = MIN(zone_start_pfn[z], pmm_nframes);
		zn->hi = z + 1 < PMM_NZONES ? MIN(zone_start_pfn[z + 1], pmm_nframes) : pmm_nframes;
		zn->hint = zn->lo / PMM_BITS;
		zn->nfree = bm_count_clear(zn->lo, zn->hi);
		pmm_nfree += zn->nfree;
	}
	pmm_peak = pmm_total - pmm_nfree;

	log_info("pmm: %zu frames (%zu MiB) in %zu ranges, %zu kept, bookkeeping %llu frames at 0x%llx",
		 pmm_total, pmm_total >> (20 - PAGE_SHIFT), pmm_nranges, pmm_total - pmm_nfree,
		 (unsigned long long)meta_frames, (unsigned long long)pmm_meta_base);
}

void pmm_reserve(paddr_t base, uint64_t len)
{
	uint64_t first, end;
	pmm_frames_of(base, len, true, &first, &end);
	first = MIN(first, pmm_nframes);
	end = MIN(end, pmm_nframes);

	unsigned long flags = spin_lock_irqsave(&pmm_lock);
	/* Unmanaged frames in [first, end) are set already, so counting clear
	 * bits counts exactly the managed free frames this takes. */
	for (int z = 0; z < PMM_NZONES; z++) {
		struct pmm_zone *zn = &pmm_zones[z];
		uint64_t a = MAX(first, zn->lo), b = MIN(end, zn->hi);
		if (a >= b)
			continue;
		uint64_t n = bm_count_clear(a, b);
		bm_fill(a, b, true);
		zn->nfree -= n;
		pmm_nfree -= n;
	}
	pmm_note_used_locked();
	spin_unlock_irqrestore(&pmm_lock, flags);
}

void pmm_set_alloc_limit(paddr_t end)
{
	unsigned long flags = spin_lock_irqsave(&pmm_lock);
	/* Whole bitmap words, so a word never straddles the limit. */
	pmm_limit = end ? ALIGN_DOWN(MIN(end, PMM_MAX_PHYS) >> PAGE_SHIFT, PMM_BITS) : UINT64_MAX;
	spin_unlock_irqrestore(&pmm_lock, flags);
}

/* ---- Allocation ---- */

paddr_t pmm_alloc(void)
{
	paddr_t ret = 0;
	unsigned long flags = spin_lock_irqsave(&pmm_lock);

	for (int z = PMM_NZONES - 1; z >= 0; z--) {
		struct pmm_zone *zn = &pmm_zones[z];
		if (zn->nfree == 0 || zn->lo >= pmm_limit)
			continue;
		uint64_t end_w = (MIN(zn->hi, pmm_limit) + PMM_BITS - 1) / PMM_BITS;
		uint64_t w = zn->hint;
		while (w < end_w && pmm_bitmap[w] == ~0ull)
			w++;
		zn->hint = w; /* every word scanned was full */
		if (w >= end_w) {
			/* nfree > 0 promises a clear bit past the hint, unless
			 * the limit cuts the zone short. */
			if (zn->hi <= pmm_limit)
				panic("pmm: zone %d counts %zu free frames but its bitmap is full", z,
				      zn->nfree);
			continue;
		}
		uint64_t pfn = w * PMM_BITS + (uint64_t)__builtin_ctzll(~pmm_bitmap[w]);
		assert(pfn >= zn->lo && pfn < zn->hi && pfn < pmm_limit);
		pmm_take_locked(pfn, pfn + 1);
		ret = pfn << PAGE_SHIFT;
		break;
	}

	spin_unlock_irqrestore(&pmm_lock, flags);
	return ret;
}

paddr_t pmm_alloc_contig(size_t count, size_t align_frames, paddr_t max_addr)
{
	if (align_frames == 0)
		align_frames = 1;
	assert((align_frames & (align_frames - 1)) == 0);
	if (count == 0)
		return 0;

	paddr_t ret = 0;
	unsigned long flags = spin_lock_irqsave(&pmm_lock);
	uint64_t limit = MIN(pmm_nframes, pmm_limit);
	if (max_addr != 0)
		limit = MIN(limit, max_addr >> PAGE_SHIFT);
	if (count > pmm_nfree)
		goto out;

	/* Highest zone first (as pmm_alloc), lowest run within a zone. A run
	 * is found in the zone it starts in; it may extend into higher ones. */
	for (int z = PMM_NZONES - 1; z >= 0; z--) {
		struct pmm_zone *zn = &pmm_zones[z];
		if (zn->nfree == 0 || zn->lo >= limit)
			continue;
		uint64_t from = MAX(zn->hint * PMM_BITS, zn->lo);
		uint64_t pfn = pmm_find_run(from, MIN(zn->hi, limit), limit, count, align_frames);
		if (pfn == UINT64_MAX)
			continue;
		pmm_take_locked(pfn, pfn + count);
		ret = pfn << PAGE_SHIFT;
		break;
	}
out:
	spin_unlock_irqrestore(&pmm_lock, flags);
	return ret;
}

/* ---- Freeing ---- */

void pmm_free(paddr_t frame)
{
	pmm_free_contig(frame, 1);
}

void pmm_free_contig(paddr_t first, size_t count)
{
	if (count == 0)
		return;
	if (first % PAGE_SIZE)
		panic("pmm: free of 0x%llx: not a frame address", (unsigned long long)first);
	uint64_t pfn = first >> PAGE_SHIFT;
	if (!pmm_managed(pfn, count))
		panic("pmm: free of %zu frame(s) at 0x%llx: not managed memory", count,
		      (unsigned long long)first);

	unsigned long flags = spin_lock_irqsave(&pmm_lock);
	/* Check all, then act: a bad free changes nothing. */
	uint64_t idle = bm_find(pfn, pfn + count, false);
	if (idle != pfn + count)
		panic("pmm: double free of frame 0x%llx", (unsigned long long)(idle << PAGE_SHIFT));
	pmm_give_locked(pfn, pfn + count);
	spin_unlock_irqrestore(&pmm_lock, flags);
}

bool pmm_is_managed(paddr_t addr)
{
	return pmm_managed(addr >> PAGE_SHIFT, 1);
}

void pmm_span(paddr_t *lo, paddr_t *hi)
{
	*lo = *hi = 0;
	if (pmm_nranges > 0) {
		*lo = pmm_ranges[0].first << PAGE_SHIFT;
		*hi = pmm_ranges[pmm_nranges - 1].end << PAGE_SHIFT;
	}
}

/* ---- Counters ---- */

/* The counters are read without the lock: each is a snapshot, and the three
 * need not be consistent with each other. */
size_t pmm_free_frames(void)
{
	return __atomic_load_n(&pmm_nfree, __ATOMIC_RELAXED);
}

size_t pmm_total_frames(void)
{
	return pmm_total;
}

size_t pmm_peak_used_frames(void)
{
	return __atomic_load_n(&pmm_peak, __ATOMIC_RELAXED);
}
