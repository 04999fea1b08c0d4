/*
 * mem_anon: anonymous memory objects (SYS_MEM_CREATE) and their mappings.
 *
 *   sizes     1 byte .. ALDER_MEM_MAX accepted (rounded up to pages: the
 *             object is exactly that many pages long); 0, above the limit,
 *             ~0 and sizes whose rounding wraps are -EINVAL; flags != 0
 *             -EINVAL
 *   lazy      mapping costs no frames; reads see zeros; each written page
 *             costs one frame (ALDER_INFO_FREE_FRAMES, small slack for page
 *             tables and kernel bookkeeping); everything comes back when
 *             the mapping and handle are gone
 *   aliases   two mappings of one object (also at different offsets) see
 *             the same bytes; data survives unmap and remap
 *   closed    closing the handle while mapped: the mapping keeps working
 *   chosen    addr 0: the kernel picks a page-aligned user address that
 *             does not overlap anything
 *   self rw   SYS_SPACE_RW on the caller's own space reads and writes its
 *             memory, faulting in untouched pages
 *   partial   unmapping part of a mapping frees the frames of its pages at
 *             once when nothing else can reach them (no handle, no other
 *             mapping of them, no copy-on-write view); when something can,
 *             they stay and still hold their data
 * Exits 0 if every check passed.
 */
#include <umem.h>
#include <utest.h>

#define BASE ((uint64_t)0x120000000)
#define PAGE U_PAGE_SIZE
#define SELF ALDER_HANDLE_SELF_SPACE
#define RW (ALDER_PROT_READ | ALDER_PROT_WRITE)
/* Frames the kernel may use for page tables, object bookkeeping and heap
 * growth around one test step. */
#define SLACK 24

static uint64_t free_frames(void)
{
	uint64_t v;

	CHECK_EQ(sys_info(ALDER_INFO_FREE_FRAMES, &v), 0);
	return v;
}

/* Free frames back to at least want, allowing up to a second for frees
 * the kernel may do asynchronously. Returns the last reading. */
static uint64_t frames_back_to(uint64_t want)
{
	uint64_t deadline = u_now_ns() + U_NS_PER_SEC, now;

	while ((now = free_frames()) < want && u_now_ns() < deadline)
		sys_sleep(10 * U_NS_PER_MS);
	return now;
}

static alder_handle_t create(uint64_t size)
{
	long h = u_mem_create(size, 0);

	if (h <= 0) {
		u_printf("mem_anon: mem_create(%lu): %ld (%s)\n", size, h, u_errname(h));
		sys_exit(1);
	}
	return (alder_handle_t)h;
}

static void map_at(alder_handle_t h, uint64_t off, uint64_t addr, uint64_t size, uint32_t prot)
{
	long r = u_space_map(SELF, h, off, addr, size, prot);

	if (r != (long)addr) {
		u_printf("mem_anon: map(h %d, off 0x%lx, 0x%lx, 0x%lx, prot %u): %ld (%s)\n", h, off, addr,
			 size, prot, r, u_errname(r));
		sys_exit(1);
	}
}

static void unmap(uint64_t addr, uint64_t size)
{
	CHECK_EQ(u_space_unmap(SELF, addr, size), 0);
}

static void test_sizes(void)
{
	static const struct {
		const char *name;
		uint64_t size;
	} bad[] = {
	    {"0", 0},
	    {"MAX + 1", ALDER_MEM_MAX + 1},
	    {"MAX + PAGE", ALDER_MEM_MAX + PAGE},
	    {"~0", ~0ull},
	    {"~0 - 100 (rounding wraps)", ~0ull - 100},
	    {"-PAGE", 0ull - PAGE},
	    {"2^63", 1ull << 63},
	};
	char what[80];

	for (size_t i = 0; i < U_ARRAY_SIZE(bad); i++) {
		u_snprintf(what, sizeof(what), "mem_create(size %s)", bad[i].name);
		long r = u_mem_create(bad[i].size, 0);
		EXPECT_ERR(what, r, ALDER_EINVAL);
		if (r > 0)
			u_handle_close((alder_handle_t)r);
	}
	static const uint32_t bad_flags[] = {1, 2, 0x80, 0x80000000u, ~0u};
	for (size_t i = 0; i < U_ARRAY_SIZE(bad_flags); i++) {
		u_snprintf(what, sizeof(what), "mem_create(flags 0x%x)", bad_flags[i]);
		long r = u_mem_create(PAGE, bad_flags[i]);
		EXPECT_ERR(what, r, ALDER_EINVAL);
		if (r > 0)
			u_handle_close((alder_handle_t)r);
	}

	/* The largest object is allowed (lazily, it costs nothing), or at
	 * worst refused for lack of memory for its bookkeeping. */
	uint64_t before = free_frames();
	long big = u_mem_create(ALDER_MEM_MAX, 0);
	if (big > 0) {
		if (before - free_frames() > 4 * SLACK)
			u_expect_fail(__FILE__, __LINE__, "a 64 GiB lazy object cost %lu frames",
				      before - free_frames());
		/* Its last page is usable. */
		map_at((alder_handle_t)big, ALDER_MEM_MAX - PAGE, BASE, PAGE, RW);
		volatile uint64_t *p = (volatile uint64_t *)BASE;
		EXPECT(p[511] == 0);
		p[511] = 0x1234;
		EXPECT(p[511] == 0x1234);
		unmap(BASE, PAGE);
		EXPECT_ERR("map past the end of a MAX object",
			   u_space_map(SELF, (alder_handle_t)big, ALDER_MEM_MAX, BASE, PAGE, RW),
			   ALDER_EINVAL);
		EXPECT(u_handle_close((alder_handle_t)big) == 0);
	} else {
		EXPECT_ERR("mem_create(ALDER_MEM_MAX)", big, ALDER_ENOMEM);
	}

	/* Rounding: 1 byte is one page, 4097 bytes two. */
	alder_handle_t one = create(1), two = create(PAGE + 1);
	map_at(one, 0, BASE, PAGE, RW);
	EXPECT_ERR("map 2 pages of a 1-byte object", u_space_map(SELF, one, 0, BASE + 4 * PAGE, 2 * PAGE, RW),
		   ALDER_EINVAL);
	EXPECT_ERR("map offset 1 page of a 1-byte object",
		   u_space_map(SELF, one, PAGE, BASE + 4 * PAGE, PAGE, RW), ALDER_EINVAL);
	map_at(two, 0, BASE + 4 * PAGE, 2 * PAGE, RW);
	EXPECT_ERR("map 3 pages of a 4097-byte object",
		   u_space_map(SELF, two, 0, BASE + 8 * PAGE, 3 * PAGE, RW), ALDER_EINVAL);
	/* The whole rounded page is usable. */
	volatile uint8_t *p1 = (volatile uint8_t *)BASE;
	p1[PAGE - 1] = 7;
	EXPECT(p1[PAGE - 1] == 7);
	volatile uint8_t *p2 = (volatile uint8_t *)(BASE + 4 * PAGE);
	p2[2 * PAGE - 1] = 9;
	EXPECT(p2[2 * PAGE - 1] == 9);
	unmap(BASE, PAGE);
	unmap(BASE + 4 * PAGE, 2 * PAGE);
	EXPECT(u_handle_close(one) == 0);
	EXPECT(u_handle_close(two) == 0);
}

static bool page_is(const volatile uint8_t *p, uint8_t first, uint8_t rest)
{
	if (p[0] != first)
		return false;
	for (uint64_t i = 1; i < PAGE; i++) {
		if (p[i] != rest)
			return false;
	}
	return true;
}

static void test_lazy(void)
{
	const uint64_t npages = 64, touched = 32;
	volatile uint8_t *p = (volatile uint8_t *)BASE;

	/* Warm up: the page tables for BASE and the object cache exist. */
	alder_handle_t w = create(PAGE);
	map_at(w, 0, BASE, PAGE, RW);
	p[0] = 1;
	unmap(BASE, PAGE);
	EXPECT(u_handle_close(w) == 0);

	uint64_t f0 = free_frames();
	alder_handle_t h = create(npages * PAGE);
	map_at(h, 0, BASE, npages * PAGE, RW);
	uint64_t f1 = free_frames();
	if (f0 - f1 > SLACK)
		u_expect_fail(__FILE__, __LINE__, "creating and mapping %lu pages cost %lu frames (slack %d)",
			      npages, f0 - f1, SLACK);

	for (uint64_t i = 0; i < touched; i++)
		p[i * PAGE] = (uint8_t)(i + 1);
	uint64_t f2 = free_frames();
	if (f1 - f2 < touched || f1 - f2 > touched + SLACK)
		u_expect_fail(__FILE__, __LINE__, "writing %lu pages cost %lu frames, expected %lu..%lu",
			      touched, f1 - f2, touched, touched + SLACK);

	for (uint64_t i = 0; i < npages; i++) {
		uint8_t first = i < touched ? (uint8_t)(i + 1) : 0;
		if (!page_is(p + i * PAGE, first, 0)) {
			u_expect_fail(__FILE__, __LINE__, "page %lu: not (0x%x, zeros...)", i, first);
			break;
		}
	}
	unmap(BASE, npages * PAGE);
	EXPECT(u_handle_close(h) == 0);
	uint64_t f4 = frames_back_to(f0);
	if (f4 < f0)
		u_expect_fail(__FILE__, __LINE__, "%lu frames not returned after unmap and close", f0 - f4);
}

static void test_aliases(void)
{
	alder_handle_t h = create(4 * PAGE);
	const uint64_t a = BASE, b = BASE + 16 * PAGE, c = BASE + 32 * PAGE;
	volatile uint32_t *pa = (volatile uint32_t *)a, *pb = (volatile uint32_t *)b;
	volatile uint32_t *pc = (volatile uint32_t *)c;
	const uint64_t words = PAGE / 4;

	map_at(h, 0, a, 4 * PAGE, RW);
	map_at(h, 0, b, 4 * PAGE, RW);
	map_at(h, 2 * PAGE, c, 2 * PAGE, RW); /* pages 2..3 */

	/* Each page written through a different alias, read through all. */
	for (uint64_t pg = 0; pg < 4; pg++) {
		volatile uint32_t *w = (pg & 1) ? pb : pa;
		w[pg * words + 5] = 0xabc00000u + (uint32_t)pg;
	}
	for (uint64_t pg = 0; pg < 4; pg++) {
		uint32_t want = 0xabc00000u + (uint32_t)pg;
		EXPECT(pa[pg * words + 5] == want);
		EXPECT(pb[pg * words + 5] == want);
	}
	EXPECT(pc[5] == 0xabc00002u);
	EXPECT(pc[words + 5] == 0xabc00003u);
	pc[words + 6] = 77;
	EXPECT(pa[3 * words + 6] == 77 && pb[3 * words + 6] == 77);

	/* Data lives in the object, not the mapping. */
	unmap(a, 4 * PAGE);
	unmap(b, 4 * PAGE);
	unmap(c, 2 * PAGE);
	map_at(h, PAGE, b + PAGE, 3 * PAGE, ALDER_PROT_READ);
	EXPECT(pb[words + 5] == 0xabc00001u);
	EXPECT(pb[3 * words + 6] == 77);
	unmap(b, 4 * PAGE); /* includes an unmapped page: fine */
	EXPECT(u_handle_close(h) == 0);
}

/* The mapping holds a reference: closing the only handle keeps it alive. */
static void test_close_while_mapped(void)
{
	volatile uint64_t *p = (volatile uint64_t *)BASE;
	uint64_t f0 = free_frames();
	alder_handle_t h = create(8 * PAGE);

	map_at(h, 0, BASE, 8 * PAGE, RW);
	p[0] = 0x1111;
	EXPECT(u_handle_close(h) == 0);
	struct alder_handle_info info;
	EXPECT_ERR("info after close", u_handle_info(h, &info), ALDER_EBADF);
	EXPECT(p[0] == 0x1111);
	/* Pages touched only after the close still fault in. */
	for (uint64_t i = 1; i < 8; i++)
		p[i * PAGE / 8] = i;
	for (uint64_t i = 1; i < 8; i++)
		EXPECT(p[i * PAGE / 8] == i);
	/* Splitting the orphaned mapping works too. */
	unmap(BASE + 2 * PAGE, PAGE);
	EXPECT(p[3 * PAGE / 8] == 3);
	unmap(BASE, 8 * PAGE);
	uint64_t f1 = frames_back_to(f0);
	if (f1 < f0)
		u_expect_fail(__FILE__, __LINE__, "orphaned object: %lu frames not returned after unmap",
			      f0 - f1);
}

static void test_kernel_chosen(void)
{
	alder_handle_t h = create(4 * PAGE);
	long a = u_space_map(SELF, h, 0, 0, 4 * PAGE, RW);
	long b = u_space_map(SELF, h, 0, 0, 2 * PAGE, ALDER_PROT_READ);

	CHECK(a > 0 && b > 0);
	EXPECT((a & (PAGE - 1)) == 0 && (b & (PAGE - 1)) == 0);
	EXPECT((uint64_t)a + 4 * PAGE <= ULIB_USER_END && (uint64_t)b + 2 * PAGE <= ULIB_USER_END);
	EXPECT((uint64_t)a + 4 * PAGE <= (uint64_t)b || (uint64_t)b + 2 * PAGE <= (uint64_t)a);
	/* Not over the program or the stack. */
	uint64_t stack_page = (uint64_t)(uintptr_t)&h & ~(PAGE - 1);
	EXPECT((uint64_t)a + 4 * PAGE <= ULIB_TEXT_BASE || (uint64_t)a >= (uint64_t)(uintptr_t)_end);
	EXPECT((uint64_t)a + 4 * PAGE <= stack_page || (uint64_t)a > stack_page);
	/* They are real mappings: the fixed range is now taken. */
	EXPECT_ERR("fixed map over a kernel-chosen one", u_space_map(SELF, h, 0, (uint64_t)a, PAGE, RW),
		   ALDER_EEXIST);
	volatile uint32_t *pa = (volatile uint32_t *)a, *pb = (volatile uint32_t *)b;
	pa[1] = 0xfeed;
	EXPECT(pb[1] == 0xfeed);
	unmap((uint64_t)a, 4 * PAGE);
	unmap((uint64_t)b, 2 * PAGE);
	EXPECT(u_handle_close(h) == 0);
}

static void test_self_rw(void)
{
	alder_handle_t h = create(4 * PAGE);
	volatile uint8_t *p = (volatile uint8_t *)BASE;
	uint8_t buf[256], back[256];

	map_at(h, 0, BASE, 4 * PAGE, RW);
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 7 + 1);
	/* Straddles pages 0 and 1, neither touched yet. */
	EXPECT(u_space_rw(SELF, BASE + PAGE - 100, buf, sizeof(buf), true) >= 0);
	for (size_t i = 0; i < sizeof(buf); i++) {
		if (p[PAGE - 100 + i] != buf[i]) {
			u_expect_fail(__FILE__, __LINE__, "self rw write: byte %zu", i);
			break;
		}
	}
	p[3 * PAGE + 10] = 0x42;
	memset(back, 0, sizeof(back));
	EXPECT(u_space_rw(SELF, BASE + 3 * PAGE, back, 16, false) >= 0);
	EXPECT(back[10] == 0x42 && back[0] == 0);
	/* Untouched page 2 reads as zeros. */
	memset(back, 0xff, sizeof(back));
	EXPECT(u_space_rw(SELF, BASE + 2 * PAGE, back, sizeof(back), false) >= 0);
	for (size_t i = 0; i < sizeof(back); i++) {
		if (back[i] != 0) {
			u_expect_fail(__FILE__, __LINE__, "self rw: untouched page byte %zu = %u", i,
				      back[i]);
			break;
		}
	}
	unmap(BASE, 4 * PAGE);
	EXPECT(u_handle_close(h) == 0);
}

/* Unmap [lo, hi) of n written pages at BASE; the free-frame gain. */
static int64_t unmap_gain(uint64_t lo, uint64_t hi)
{
	uint64_t f0 = free_frames();

	unmap(BASE + lo * PAGE, (hi - lo) * PAGE);
	return (int64_t)(free_frames() - f0);
}

/* Unmap [lo, hi) of pages something else still reaches: no frame of
 * theirs may come back. */
static void unmap_keeps(uint64_t lo, uint64_t hi, const char *what)
{
	int64_t gain = unmap_gain(lo, hi);

	if (gain >= (int64_t)(hi - lo))
		u_expect_fail(__FILE__, __LINE__, "%s: unmapping %lu pages freed %ld frames", what, hi - lo, gain);
}

static void write_pages(uint64_t n, uint8_t base)
{
	for (uint64_t i = 0; i < n; i++)
		((volatile uint8_t *)BASE)[i * PAGE] = (uint8_t)(base + i);
}

/* Pages [from, to) at at hold what write_pages(., base) wrote; else zero. */
static void expect_pages(uint64_t at, uint64_t from, uint64_t to, uint8_t base, const char *what)
{
	for (uint64_t i = from; i < to; i++) {
		if (!page_is((const volatile uint8_t *)(at + i * PAGE), (uint8_t)(base + i), 0)) {
			u_expect_fail(__FILE__, __LINE__, "%s: page %lu lost its data", what, i);
			return;
		}
	}
}

static void test_partial_unmap(void)
{
	/* 1 MiB, private (handle closed), every page written; unmap the
	 * middle half: its 128 frames come back now. */
	const uint64_t n = 256, lo = 64, hi = 192;
	alder_handle_t h = create(n * PAGE);

	map_at(h, 0, BASE, n * PAGE, RW);
	EXPECT(u_handle_close(h) == 0);
	write_pages(n, 1);
	int64_t gain = unmap_gain(lo, hi);
	if (gain < (int64_t)(hi - lo) || gain > (int64_t)(hi - lo) + SLACK)
		u_expect_fail(__FILE__, __LINE__,
			      "unmapping %lu written private pages freed %ld frames, expected %lu..%lu",
			      hi - lo, gain, hi - lo, hi - lo + SLACK);
	expect_pages(BASE, 0, lo, 1, "below the hole");
	expect_pages(BASE, hi, n, 1, "above the hole");
	uint64_t f0 = free_frames();
	unmap(BASE, n * PAGE);
	if (frames_back_to(f0 + (n - (hi - lo))) < f0 + (n - (hi - lo)))
		u_expect_fail(__FILE__, __LINE__, "the rest of the mapping: frames not returned");

	/* An open handle keeps the pages: mapped again, they hold their data. */
	h = create(8 * PAGE);
	map_at(h, 0, BASE, 8 * PAGE, RW);
	write_pages(8, 0x40);
	unmap_keeps(2, 6, "handle open");
	map_at(h, 2 * PAGE, BASE + 2 * PAGE, 4 * PAGE, RW);
	expect_pages(BASE, 0, 8, 0x40, "handle open, mapped again");
	unmap(BASE, 8 * PAGE);
	EXPECT(u_handle_close(h) == 0);

	/* Another mapping of the same pages keeps them (handle closed; the
	 * alias is read only afterwards, so it faults the frames in then). */
	const uint64_t alias = BASE + 16 * PAGE;
	h = create(8 * PAGE);
	map_at(h, 0, BASE, 8 * PAGE, RW);
	map_at(h, 0, alias, 8 * PAGE, ALDER_PROT_READ);
	EXPECT(u_handle_close(h) == 0);
	write_pages(8, 0x50);
	unmap_keeps(2, 6, "second mapping");
	expect_pages(alias, 0, 8, 0x50, "second mapping");
	unmap(BASE, 8 * PAGE);
	unmap(alias, 8 * PAGE);

	/* So does a copy-on-write view of them (both handles closed). */
	h = create(8 * PAGE);
	map_at(h, 0, BASE, 8 * PAGE, RW);
	write_pages(8, 0x60);
	long v = u_mem_create_cow(h, 0, 8 * PAGE);
	CHECK(v > 0);
	map_at((alder_handle_t)v, 0, alias, 8 * PAGE, ALDER_PROT_READ);
	EXPECT(u_handle_close(h) == 0);
	EXPECT(u_handle_close((alder_handle_t)v) == 0);
	unmap_keeps(2, 6, "copy-on-write view");
	expect_pages(alias, 0, 8, 0x60, "copy-on-write view");
	unmap(BASE, 8 * PAGE);
	unmap(alias, 8 * PAGE);
}

int main(const char *arg, size_t arg_len)
{
	test_sizes();
	test_lazy();
	test_aliases();
	test_close_while_mapped();
	test_kernel_chosen();
	test_self_rw();
	test_partial_unmap();
	return u_test_end("mem_anon");
}
