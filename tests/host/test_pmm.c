/*
 * Host unit tests of the physical frame allocator (kernel/generic/pmm.c,
 * built into this file). Physical memory is a host buffer (shim.h); each
 * test lays out its own memory map. A shadow model (one bool per frame)
 * stands in for the truth: which frames are usable, which are in use.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "../../kernel/generic/pmm.c"
#include "shim/shim.h"

#include <string.h>
#include <sys/mman.h>

#define KiB(x) ((uint64_t)(x) << 10)
#define MiB(x) ((uint64_t)(x) << 20)
#define GiB(x) ((uint64_t)(x) << 30)
#define PFN(a) ((a) >> PAGE_SHIFT)

/* panic() must happen in stmt, with substr in its message. */
#define EXPECT_PANIC(stmt, substr)                                                                           \
	do {                                                                                                 \
		if (setjmp(host_panic_jmp) == 0) {                                                           \
			host_expect_panic = true;                                                            \
			stmt;                                                                                \
			host_expect_panic = false;                                                           \
			fail_msg("no panic from %s", #stmt);                                                 \
		}                                                                                            \
		if (!strstr(host_panic_msg, substr))                                                         \
			fail_msg("panic \"%s\" does not mention \"%s\"", host_panic_msg, substr);            \
	} while (0)

/* ---- The shadow model ---- */

static uint64_t model_nframes; /* frames the model covers */
static bool *model_managed;    /* usable, not frame 0, not bookkeeping */
static bool *model_used;       /* allocated or reserved (managed frames only) */

static void model_free(void)
{
	free(model_managed);
	free(model_used);
	model_managed = model_used = NULL;
}

/* Fake memory of mem bytes, filled with junk so nothing relies on zeroes;
 * then pmm_init(regions) and a model that agrees with what pmm_init should
 * have done. Checks the bookkeeping's placement on the way. */
static void boot(uint64_t mem, const struct mem_region *r, size_t n)
{
	host_phys_setup(mem);
	memset(host_phys_base, 0xa5, mem);
	pmm_init(r, n);

	model_free();
	model_nframes = PFN(mem);
	model_managed = calloc(model_nframes, 1);
	model_used = calloc(model_nframes, 1);
	assert_non_null(model_managed);
	assert_non_null(model_used);
	for (size_t i = 0; i < n; i++) {
		uint64_t lo = (r[i].base + PAGE_SIZE - 1) / PAGE_SIZE;
		uint64_t hi = (r[i].base + r[i].len) / PAGE_SIZE;
		for (uint64_t f = lo; f < hi; f++) {
			assert_true(f < model_nframes); /* the test's own map must fit */
			model_managed[f] = true;
		}
	}
	if (model_nframes)
		model_managed[0] = false;

	if (pmm_meta_frames) {
		/* The bookkeeping sits in usable memory, at the very end of the
		 * highest region able to hold it. */
		uint64_t mf = PFN(pmm_meta_base), me = mf + pmm_meta_frames;
		for (uint64_t f = mf; f < me; f++) {
			assert_true(model_managed[f]);
			model_managed[f] = false;
		}
		assert_true(me == model_nframes || !model_managed[me]);
		for (uint64_t f = me; f < model_nframes; f++) {
			if (!model_managed[f])
				continue;
			/* A higher run of usable memory must be too short. */
			uint64_t e = f;
			while (e < model_nframes && model_managed[e])
				e++;
			assert_true(e - f < pmm_meta_frames);
			f = e;
		}
	}

	size_t total = 0;
	for (uint64_t f = 0; f < model_nframes; f++)
		total += model_managed[f];
	assert_int_equal(pmm_total_frames(), total);
	assert_int_equal(pmm_free_frames(), total);
	assert_int_equal(pmm_peak_used_frames(), 0);
}

static size_t model_free_count(void)
{
	size_t n = 0;
	for (uint64_t f = 0; f < model_nframes; f++)
		n += model_managed[f] && !model_used[f];
	return n;
}

static int zone_of(uint64_t f)
{
	return f >= PFN(GiB(4)) ? 2 : f >= PFN(MiB(16)) ? 1 : 0;
}

/* Where pmm_alloc() should take a frame from: the lowest free frame of the
 * highest zone that has one. 0 if none. */
static uint64_t model_expect_alloc(void)
{
	for (int z = 2; z >= 0; z--)
		for (uint64_t f = 0; f < model_nframes; f++)
			if (zone_of(f) == z && model_managed[f] && !model_used[f])
				return f;
	return 0;
}

/* Where pmm_alloc_contig() should place a run: the lowest suitable start in
 * the highest zone that has one. 0 if none. */
static uint64_t model_expect_contig(size_t count, size_t align, paddr_t max_addr)
{
	uint64_t limit = model_nframes;
	if (max_addr)
		limit = MIN(limit, PFN(max_addr));
	for (int z = 2; z >= 0; z--) {
		for (uint64_t s = 0; s + count <= limit; s += align) {
			if (zone_of(s) != z || !model_managed[s] || model_used[s])
				continue;
			uint64_t k = 0;
			while (k < count && model_managed[s + k] && !model_used[s + k])
				k++;
			if (k == count)
				return s;
		}
	}
	return 0;
}

static void model_take(paddr_t a, size_t count)
{
	assert_int_equal(a % PAGE_SIZE, 0);
	for (size_t k = 0; k < count; k++) {
		uint64_t f = PFN(a) + k;
		assert_true(f < model_nframes);
		if (!model_managed[f] || model_used[f])
			fail_msg("pmm handed out frame 0x%llx, which is %s", (unsigned long long)f,
				 model_managed[f] ? "in use" : "not usable");
		model_used[f] = true;
	}
}

static void model_give(paddr_t a, size_t count)
{
	for (size_t k = 0; k < count; k++) {
		assert_true(model_used[PFN(a) + k]);
		model_used[PFN(a) + k] = false;
	}
}

static void check_counts(void)
{
	assert_int_equal(pmm_free_frames(), model_free_count());
}

/* Take every frame with pmm_alloc(), checking each against the model;
 * returns how many. */
static size_t exhaust(void)
{
	size_t n = 0;
	for (;;) {
		paddr_t a = pmm_alloc();
		if (!a)
			break;
		model_take(a, 1);
		n++;
	}
	assert_int_equal(pmm_free_frames(), 0);
	assert_int_equal(model_free_count(), 0);
	return n;
}

static void free_all_used(void)
{
	for (uint64_t f = 0; f < model_nframes; f++)
		if (model_used[f]) {
			pmm_free(f << PAGE_SHIFT);
			model_used[f] = false;
		}
	check_counts();
}

static int teardown(void **state)
{
	(void)state;
	model_free();
	return 0;
}

/* ---- Tests ---- */

static void test_single_region(void **state)
{
	(void)state;
	struct mem_region r = {0, MiB(64)};
	boot(MiB(64), &r, 1);
	/* 16384 frames: 2 KiB of bitmap and two range slots fit one frame,
	 * which goes at the very top; frame 0 is never managed. */
	assert_int_equal(pmm_meta_frames, 1);
	assert_int_equal(pmm_meta_base, MiB(64) - PAGE_SIZE);
	assert_int_equal(pmm_total_frames(), 16384 - 2);

	size_t total = pmm_total_frames();
	assert_int_equal(exhaust(), total);
	assert_int_equal(pmm_alloc(), 0);
	assert_int_equal(pmm_alloc_contig(1, 1, 0), 0);
	assert_int_equal(pmm_peak_used_frames(), total);

	/* Recovery: a freed frame is the next one handed out. */
	pmm_free(MiB(5));
	model_give(MiB(5), 1);
	assert_int_equal(pmm_free_frames(), 1);
	assert_int_equal(pmm_alloc(), MiB(5));
	model_take(MiB(5), 1);
	assert_int_equal(pmm_alloc(), 0);

	free_all_used();
	assert_int_equal(pmm_free_frames(), total);
	assert_int_equal(pmm_peak_used_frames(), total);
}

static void test_zone_preference(void **state)
{
	(void)state;
	struct mem_region r = {MiB(1), MiB(63)};
	boot(MiB(64), &r, 1);
	/* Everything at or above 16 MiB goes before anything below. */
	size_t high = 0;
	for (uint64_t f = PFN(MiB(16)); f < model_nframes; f++)
		high += model_managed[f];
	for (size_t i = 0; i < high; i++) {
		paddr_t a = pmm_alloc();
		assert_true(a >= MiB(16));
		model_take(a, 1);
	}
	paddr_t low = pmm_alloc();
	assert_int_equal(low, MiB(1)); /* lowest free frame of the DMA zone */
	model_take(low, 1);
	free_all_used();

	/* Contiguous requests without a limit also stay high... */
	paddr_t c = pmm_alloc_contig(16, 16, 0);
	assert_int_equal(c, MiB(16));
	model_take(c, 16);
	/* ...and with one, as high as the limit lets them. */
	c = pmm_alloc_contig(4, 1, MiB(16));
	assert_int_equal(c, MiB(1));
	model_take(c, 4);
	free_all_used();
}

static void test_messy_regions(void **state)
{
	(void)state;
	/* Out of order, overlapping, unaligned at both ends, empty, smaller
	 * than a frame, duplicated, one starting at 0, one nested. */
	const struct mem_region r[] = {
	    {MiB(8) + 123, MiB(4)},  /* unaligned both ends */
	    {0x0, 0x9fc00},	     /* low memory, frame 0 included */
	    {MiB(10), MiB(6)},	     /* overlaps the first */
	    {MiB(2) + 1, PAGE_SIZE}, /* no whole frame */
	    {MiB(3), 0},	     /* empty */
	    {MiB(20), MiB(12) - 5},  /* ends short of a frame */
	    {MiB(24), MiB(1)},	     /* nested in the previous */
	    {MiB(8) + 123, MiB(4)},  /* duplicate */
	    {MiB(16), PAGE_SIZE},    /* adjacent to { 10M, 6M }: merged */
	    {MiB(16) + PAGE_SIZE, PAGE_SIZE * 3},
	};
	boot(MiB(32), r, ARRAY_SIZE(r));
	assert_false(model_managed[0]);
	assert_true(model_managed[1]);
	assert_false(model_managed[PFN(MiB(8))]); /* partial first frame */
	assert_true(model_managed[PFN(MiB(8)) + 1]);
	assert_false(model_managed[PFN(MiB(2))]);
	assert_false(model_managed[PFN(MiB(32)) - 1]); /* partial last frame */

	size_t total = pmm_total_frames();
	/* exhaust() checks each frame against the model. */
	assert_int_equal(exhaust(), total);
	/* The ranges are sorted, disjoint and not adjacent (adjacent or
	 * overlapping regions were merged). */
	for (size_t i = 0; i < pmm_nranges; i++) {
		assert_true(pmm_ranges[i].first < pmm_ranges[i].end);
		if (i)
			assert_true(pmm_ranges[i - 1].end < pmm_ranges[i].first);
	}
	free_all_used();
	assert_int_equal(pmm_free_frames(), total);
}

static void test_no_memory(void **state)
{
	(void)state;
	boot(MiB(1), NULL, 0);
	assert_int_equal(pmm_total_frames(), 0);
	assert_int_equal(pmm_alloc(), 0);
	assert_int_equal(pmm_alloc_contig(1, 1, 0), 0);
	pmm_reserve(0, MiB(1));
	assert_int_equal(pmm_free_frames(), 0);
	EXPECT_PANIC(pmm_free(PAGE_SIZE), "not managed");

	/* Only partial frames, and frame 0 alone: still nothing. */
	const struct mem_region r[] = {{100, 4000}, {0, PAGE_SIZE}, {0x5001, 0x1ffe}};
	boot(MiB(1), r, ARRAY_SIZE(r));
	assert_int_equal(pmm_total_frames(), 0);
	assert_int_equal(pmm_alloc(), 0);
}

static void test_bookkeeping_placement(void **state)
{
	(void)state;
	/* 1024 single frames 64 KiB apart: the bookkeeping (2 KiB bitmap +
	 * 1025 range slots) needs 5 frames and no region has them. */
	enum { N = 1024 };
	struct mem_region r[N + 1];
	for (size_t i = 0; i < N; i++)
		r[i] = (struct mem_region){KiB(64) * (i + 1), PAGE_SIZE};
	host_phys_setup(MiB(72));
	EXPECT_PANIC(pmm_init(r, N), "bookkeeping");

	/* With one region big enough it goes there, even though it is the
	 * lowest; and every single-frame region is still managed. */
	r[N] = (struct mem_region){MiB(70), PAGE_SIZE * 3};
	r[0] = (struct mem_region){KiB(4), KiB(40)}; /* 10 frames, low */
	boot(MiB(72), r, N + 1);
	assert_int_equal(pmm_meta_frames, 5);
	assert_int_equal(pmm_meta_base, KiB(44) - 5 * PAGE_SIZE);
	assert_int_equal(pmm_nranges, N - 1 + 2); /* r[0] minus its top 5 frames, ... */
	assert_int_equal(pmm_total_frames(), (N - 1) + 5 + 3);
	assert_int_equal(exhaust(), pmm_total_frames());
	free_all_used();
}

static void test_contig_alignment(void **state)
{
	(void)state;
	struct mem_region r = {PAGE_SIZE, MiB(64) - PAGE_SIZE};
	boot(MiB(64), &r, 1);
	static const struct {
		size_t count, align;
	} req[] = {
	    {8, 8}, {1, 512}, {3, 4}, {100, 1}, {513, 512}, {1, 1}, {7, 0},
	};
	for (size_t i = 0; i < ARRAY_SIZE(req); i++) {
		size_t align = req[i].align ? req[i].align : 1;
		paddr_t a = pmm_alloc_contig(req[i].count, req[i].align, 0);
		assert_int_not_equal(a, 0);
		assert_int_equal(PFN(a) % align, 0);
		assert_int_equal(a, model_expect_contig(req[i].count, align, 0) << PAGE_SHIFT);
		model_take(a, req[i].count);
		check_counts();
	}
	assert_int_equal(pmm_alloc_contig(0, 1, 0), 0);
	assert_int_equal(pmm_alloc_contig(PFN(MiB(64)), 1, 0), 0); /* more than exists */
	/* pmm_alloc never hands out a frame of a contiguous block. */
	exhaust();
	free_all_used();
}

static void test_contig_fragmented(void **state)
{
	(void)state;
	struct mem_region r = {0, MiB(8)};
	boot(MiB(8), &r, 1);
	exhaust();
	/* Free every other frame of 4-6 MiB, a 16-frame run at a 16-aligned
	 * (not 32-aligned) frame, and a 15-frame run at a 64-aligned one. */
	for (uint64_t f = PFN(MiB(4)); f < PFN(MiB(6)); f += 2) {
		pmm_free(f << PAGE_SHIFT);
		model_give(f << PAGE_SHIFT, 1);
	}
	pmm_free_contig(0x210000, 16);
	model_give(0x210000, 16);
	pmm_free_contig(0x300000, 15);
	model_give(0x300000, 15);
	check_counts();

	assert_int_equal(pmm_alloc_contig(16, 32, 0), 0);
	assert_int_equal(pmm_alloc_contig(17, 1, 0), 0);
	assert_int_equal(pmm_alloc_contig(2, 2, MiB(2)), 0); /* runs exist, but above */
	paddr_t a = pmm_alloc_contig(15, 64, 0);
	assert_int_equal(a, 0x300000);
	model_take(a, 15);
	a = pmm_alloc_contig(16, 16, 0);
	assert_int_equal(a, 0x210000);
	model_take(a, 16);
	assert_int_equal(pmm_alloc_contig(2, 1, 0), 0);
	a = pmm_alloc_contig(1, 2, 0); /* the first free even frame */
	assert_int_equal(a, MiB(4));
	model_take(a, 1);
	check_counts();
	free_all_used();
}

static void test_contig_max_addr(void **state)
{
	(void)state;
	struct mem_region r = {0, MiB(32)};
	boot(MiB(32), &r, 1);
	/* Below 4 KiB is only frame 0, which is never managed. */
	assert_int_equal(pmm_alloc_contig(1, 1, PAGE_SIZE), 0);
	/* An unaligned limit: every byte of the run must be below it. */
	assert_int_equal(pmm_alloc_contig(3, 1, 0x3fff), 0);
	paddr_t a = pmm_alloc_contig(2, 1, 0x3fff);
	assert_int_equal(a, PAGE_SIZE);
	model_take(a, 2);
	a = pmm_alloc_contig(4, 1, MiB(16));
	assert_int_equal(a, 3 * PAGE_SIZE);
	model_take(a, 4);
	/* A limit past the end of memory is no limit. */
	a = pmm_alloc_contig(1, 1, GiB(64));
	assert_true(a >= MiB(16));
	model_take(a, 1);

	/* Exhaust what lies below 1 MiB: frames 7..255 remain. */
	size_t n = 0;
	while ((a = pmm_alloc_contig(1, 1, MiB(1))) != 0) {
		assert_true(a < MiB(1));
		model_take(a, 1);
		n++;
	}
	assert_int_equal(n, 256 - 7);
	assert_true(pmm_free_frames() > 0);
	check_counts();
	free_all_used();
}

static void test_reserve(void **state)
{
	(void)state;
	const struct mem_region r[] = {{0, MiB(4)}, {MiB(6), MiB(2)}};
	boot(MiB(8), r, 2);
	size_t total = pmm_total_frames();

	pmm_reserve(0x100800, 0x1801); /* rounds out to frames 0x100..0x102 */
	assert_int_equal(pmm_free_frames(), total - 3);
	assert_int_equal(pmm_peak_used_frames(), 3);
	pmm_reserve(0x101000, PAGE_SIZE); /* already reserved: no change */
	pmm_reserve(MiB(5), MiB(1));	  /* a hole: no change */
	pmm_reserve(GiB(1024), MiB(1));	  /* past the end: no change */
	pmm_reserve(MiB(1), 0);		  /* empty: no change */
	pmm_reserve(0, PAGE_SIZE);	  /* frame 0: not managed, no change */
	pmm_reserve(pmm_meta_base, PAGE_SIZE);
	pmm_reserve(UINT64_MAX - 10, 100); /* wraps: clamped, no change */
	assert_int_equal(pmm_free_frames(), total - 3);
	for (uint64_t f = 0x100; f <= 0x102; f++)
		model_used[f] = true;

	/* Reserving an allocated frame does not count it twice. */
	paddr_t a = pmm_alloc();
	model_take(a, 1);
	pmm_reserve(a, 1);
	check_counts();

	/* Across a hole. */
	pmm_reserve(MiB(3), MiB(4));
	for (uint64_t f = PFN(MiB(3)); f < PFN(MiB(7)); f++)
		if (model_managed[f])
			model_used[f] = true;
	check_counts();

	exhaust(); /* never hands out a reserved frame */
	/* A reserved frame can be freed (boot modules given back). */
	pmm_free(0x101000);
	model_give(0x101000, 1);
	assert_int_equal(pmm_alloc(), 0x101000);
	model_take(0x101000, 1);
	assert_int_equal(pmm_peak_used_frames(), total);
	free_all_used();
}

static void test_bad_free_panics(void **state)
{
	(void)state;
	const struct mem_region r[] = {{0, MiB(2)}, {MiB(3), MiB(1)}};
	boot(MiB(4), r, 2);
	paddr_t a = pmm_alloc();
	pmm_free(a);
	size_t nfree = pmm_free_frames();
	EXPECT_PANIC(pmm_free(a), "double free");
	assert_int_equal(pmm_free_frames(), nfree);

	EXPECT_PANIC(pmm_free(0), "not managed");		   /* frame 0 */
	EXPECT_PANIC(pmm_free(MiB(2) + PAGE_SIZE), "not managed"); /* a hole */
	EXPECT_PANIC(pmm_free(MiB(4)), "not managed");		   /* past the end */
	EXPECT_PANIC(pmm_free(GiB(4096)), "not managed");
	EXPECT_PANIC(pmm_free(pmm_meta_base), "not managed"); /* the bitmap */
	EXPECT_PANIC(pmm_free(a + 8), "not a frame address");
	assert_int_equal(pmm_free_frames(), nfree);

	/* A contiguous free with one frame already free changes nothing. */
	paddr_t c = pmm_alloc_contig(4, 1, 0);
	assert_int_not_equal(c, 0);
	pmm_free(c + 2 * PAGE_SIZE);
	nfree = pmm_free_frames();
	EXPECT_PANIC(pmm_free_contig(c, 4), "double free");
	assert_int_equal(pmm_free_frames(), nfree);
	assert_true(bm_test(PFN(c)) && bm_test(PFN(c) + 1) && bm_test(PFN(c) + 3));
	/* Straddling the end of managed memory. */
	EXPECT_PANIC(pmm_free_contig(MiB(2) - PAGE_SIZE, 2), "not managed");
	pmm_free(c);
	pmm_free(c + PAGE_SIZE);
	pmm_free(c + 3 * PAGE_SIZE);
	pmm_free_contig(c, 0); /* no-op */
	assert_int_equal(pmm_free_frames(), pmm_total_frames());
}

static void test_peak(void **state)
{
	(void)state;
	struct mem_region r = {0, MiB(4)};
	boot(MiB(4), &r, 1);
	paddr_t a[20];
	for (int i = 0; i < 10; i++)
		a[i] = pmm_alloc();
	assert_int_equal(pmm_peak_used_frames(), 10);
	for (int i = 0; i < 5; i++)
		pmm_free(a[i]);
	assert_int_equal(pmm_peak_used_frames(), 10);
	for (int i = 0; i < 3; i++)
		a[i] = pmm_alloc();
	assert_int_equal(pmm_peak_used_frames(), 10);
	paddr_t c = pmm_alloc_contig(10, 1, 0);
	assert_int_equal(pmm_peak_used_frames(), 18);
	pmm_free_contig(c, 10);
	pmm_reserve(MiB(1), MiB(1));
	assert_int_equal(pmm_peak_used_frames(), 8 + 256);
}

static void test_keep(void **state)
{
	(void)state;
	/* The bookkeeping would go in the top frame; two kept ranges push it
	 * down past both. Kept frames are managed and in use, as reserved. */
	const struct mem_region r = {0, MiB(64)};
	const struct mem_region keep[] = {
	    {MiB(64) - 2 * PAGE_SIZE, 2 * PAGE_SIZE},	  /* frames 16382-16383 */
	    {MiB(64) - 5 * PAGE_SIZE, 2 * PAGE_SIZE + 5}, /* 16379-16381, rounded out */
	    {MiB(1), 0},				  /* empty: nothing kept */
	};
	host_phys_setup(MiB(64));
	pmm_init_except(&r, 1, keep, ARRAY_SIZE(keep));
	assert_int_equal(pmm_meta_base, MiB(64) - 6 * PAGE_SIZE);
	assert_int_equal(pmm_total_frames(), 16384 - 2);
	assert_int_equal(pmm_free_frames(), 16384 - 2 - 5);
	assert_int_equal(pmm_peak_used_frames(), 5);
	for (uint64_t f = 16379; f < 16384; f++)
		assert_true(bm_test(f));
	assert_false(bm_test(PFN(MiB(1))));
	pmm_free_contig(MiB(64) - 5 * PAGE_SIZE, 5); /* given back, like an initramfs */
	assert_int_equal(pmm_free_frames(), 16384 - 2);
	EXPECT_PANIC(pmm_free(MiB(64) - 6 * PAGE_SIZE), "not managed");

	/* Keeping everything leaves no room. */
	const struct mem_region all = {0, MiB(64)};
	EXPECT_PANIC(pmm_init_except(&r, 1, &all, 1), "bookkeeping");
}

static void test_alloc_limit(void **state)
{
	(void)state;
	struct mem_region r = {0, MiB(32)};
	boot(MiB(32), &r, 1);
	/* Rounded down to 256 KiB: frames below 8 MiB only, so the limit
	 * cuts a zone in two. */
	pmm_set_alloc_limit(MiB(8) + 5);
	size_t n = 0;
	for (paddr_t a; (a = pmm_alloc()) != 0; n++) {
		assert_true(a < MiB(8));
		model_take(a, 1);
	}
	assert_int_equal(n, PFN(MiB(8)) - 1);
	assert_int_equal(pmm_alloc_contig(1, 1, 0), 0);
	assert_int_equal(pmm_alloc_contig(1, 1, MiB(20)), 0);
	pmm_set_alloc_limit(0);
	paddr_t a = pmm_alloc_contig(1, 1, MiB(20));
	assert_int_equal(a, MiB(16));
	model_take(a, 1);
	assert_true((a = pmm_alloc()) >= MiB(16));
	model_take(a, 1);
	free_all_used();
}

static uint64_t rng_state;
static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/*
 * Random allocations and frees against the model. Every answer is checked
 * exactly: pmm_alloc must return the frame the documented policy picks,
 * and a failed pmm_alloc_contig must be one the model cannot satisfy
 * either.
 */
static void test_random_stress(void **state)
{
	(void)state;
	const struct mem_region r[] = {
	    {0x1000, 0x9e000},	   {MiB(1), MiB(14) + 77}, {MiB(15), MiB(3)},
	    {MiB(20) - 5, MiB(4)}, {MiB(26), MiB(2)},
	};
	boot(MiB(28), r, ARRAY_SIZE(r));
	rng_state = getenv("PMM_SEED") ? strtoull(getenv("PMM_SEED"), NULL, 0) : 0x1234567;

	enum { MAXLIVE = 4096 };
	static struct {
		paddr_t a;
		size_t n;
	} live[MAXLIVE];
	size_t nlive = 0, fails = 0;
	for (int op = 0; op < 12000; op++) {
		unsigned kind = rnd() % 8;
		if (nlive > 0 && (kind < 3 || nlive == MAXLIVE)) {
			size_t i = rnd() % nlive;
			if (live[i].n == 1 && rnd() % 2)
				pmm_free(live[i].a);
			else
				pmm_free_contig(live[i].a, live[i].n);
			model_give(live[i].a, live[i].n);
			live[i] = live[--nlive];
		} else if (kind < 6) {
			uint64_t want = model_expect_alloc();
			paddr_t a = pmm_alloc();
			assert_int_equal(PFN(a), want);
			if (!a)
				continue;
			model_take(a, 1);
			live[nlive].a = a;
			live[nlive++].n = 1;
		} else {
			size_t count = 1 + rnd() % (rnd() % 4 ? 8 : 300);
			size_t align = 1ul << (rnd() % 8);
			static const paddr_t limits[] = {0, MiB(16), MiB(1), MiB(27) + 5};
			paddr_t max = limits[rnd() % ARRAY_SIZE(limits)];
			uint64_t want = model_expect_contig(count, align, max);
			paddr_t a = pmm_alloc_contig(count, align, max);
			assert_int_equal(PFN(a), want);
			if (!a) {
				fails++;
				continue;
			}
			model_take(a, count);
			live[nlive].a = a;
			live[nlive++].n = count;
		}
		if (op % 256 == 0)
			check_counts();
	}
	print_message("stress: %zu live blocks, %zu contig failures, %zu frames free of %zu\n", nlive, fails,
		      pmm_free_frames(), pmm_total_frames());
	assert_true(fails > 0); /* the run reached the hard cases */
	while (nlive > 0) {
		nlive--;
		pmm_free_contig(live[nlive].a, live[nlive].n);
		model_give(live[nlive].a, live[nlive].n);
	}
	assert_int_equal(pmm_free_frames(), pmm_total_frames());
}

/*
 * A 24 GiB machine (6.3M frames) with a PC-like memory map. The fake memory
 * is reserved but not committed, so only what the pmm touches costs RAM.
 */
static void test_24g(void **state)
{
	(void)state;
	const uint64_t top = GiB(24) + MiB(512);
	void *mem =
	    mmap(NULL, top, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (mem == MAP_FAILED) {
		skip();
		return;
	}
	free(host_phys_base);
	host_phys_base = mem;

	const struct mem_region r[] = {
	    {GiB(4), top - GiB(4)},
	    {0x1000, 0x9e000},
	    {MiB(1), GiB(3) - MiB(1) - 0x1000},
	};
	pmm_init(r, ARRAY_SIZE(r));
	uint64_t nf = PFN(top);
	uint64_t meta = (nf / 8 + 4 * sizeof(struct pmm_range) + PAGE_SIZE - 1) / PAGE_SIZE;
	size_t low = 0x9e + (PFN(GiB(3)) - 1 - PFN(MiB(1))) - meta;
	size_t expect = low + PFN(top - GiB(4));
	/* The bookkeeping goes below 4 GiB: the boot direct map ends there. */
	assert_int_equal(pmm_meta_frames, meta);
	assert_int_equal(pmm_meta_base, GiB(3) - PAGE_SIZE - meta * PAGE_SIZE);
	assert_int_equal(pmm_total_frames(), expect);

	/* Take every frame. Until the limit is lifted, only those below
	 * 4 GiB; then the rest, all from above. */
	uint8_t *seen = calloc(nf / 8, 1);
	assert_non_null(seen);
	size_t n = 0;
	for (paddr_t a; (a = pmm_alloc()) != 0; n++) {
		uint64_t f = PFN(a);
		assert_true(a < GiB(4));
		if (seen[f / 8] & (1u << (f % 8)))
			fail_msg("frame 0x%llx handed out twice", (unsigned long long)f);
		seen[f / 8] |= 1u << (f % 8);
	}
	assert_int_equal(n, low);
	assert_int_equal(pmm_free_frames(), expect - low);
	assert_int_equal(pmm_alloc_contig(1, 1, 0), 0);
	pmm_set_alloc_limit(0);
	for (paddr_t a; (a = pmm_alloc()) != 0; n++) {
		uint64_t f = PFN(a);
		assert_true(f < nf && a >= GiB(4));
		if (seen[f / 8] & (1u << (f % 8)))
			fail_msg("frame 0x%llx handed out twice", (unsigned long long)f);
		seen[f / 8] |= 1u << (f % 8);
	}
	assert_int_equal(n, expect);
	assert_int_equal(pmm_alloc_contig(1, 1, 0), 0);

	/* Give back a 2 MiB-aligned block below 4 GiB and one above; a DMA32
	 * request finds the low one, an unlimited one the high one. */
	pmm_free_contig(GiB(2), 512);
	pmm_free_contig(GiB(20), 512);
	assert_int_equal(pmm_alloc_contig(512, 512, GiB(4)), GiB(2));
	assert_int_equal(pmm_alloc_contig(512, 512, 0), GiB(20));

	for (uint64_t f = 1; f < nf; f++)
		if (seen[f / 8] & (1u << (f % 8)))
			pmm_free(f << PAGE_SHIFT);
	assert_int_equal(pmm_free_frames(), expect);
	free(seen);
	munmap(mem, top);
	host_phys_base = NULL;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_single_region, teardown),
	    cmocka_unit_test_teardown(test_zone_preference, teardown),
	    cmocka_unit_test_teardown(test_messy_regions, teardown),
	    cmocka_unit_test_teardown(test_no_memory, teardown),
	    cmocka_unit_test_teardown(test_bookkeeping_placement, teardown),
	    cmocka_unit_test_teardown(test_contig_alignment, teardown),
	    cmocka_unit_test_teardown(test_contig_fragmented, teardown),
	    cmocka_unit_test_teardown(test_contig_max_addr, teardown),
	    cmocka_unit_test_teardown(test_reserve, teardown),
	    cmocka_unit_test_teardown(test_bad_free_panics, teardown),
	    cmocka_unit_test_teardown(test_peak, teardown),
	    cmocka_unit_test_teardown(test_keep, teardown),
	    cmocka_unit_test_teardown(test_alloc_limit, teardown),
	    cmocka_unit_test_teardown(test_random_stress, teardown),
	    cmocka_unit_test_teardown(test_24g, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
