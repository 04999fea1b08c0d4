/*
 * mem_slice: slices (SYS_MEM_CREATE_SLICE) share the source's pages.
 *   - source and slice mapped at once: a write through either is read
 *     through the other, at the slice's offset, including pages first
 *     touched through the slice (they must land in the source);
 *   - a slice of a slice composes the offsets;
 *   - rights: the slice has at most the source handle's rights (a slice of
 *     a read-only handle cannot be mapped writable);
 *   - a slice of a COW view shares the view's pages (its copies and the
 *     uncopied source pages, and a copy made later through the view), and
 *     writes through it stay out of the source;
 *   - a slice keeps its source alive after the source handle is closed;
 *   - bad offsets and sizes (-EINVAL).
 * Exits 0 if every check passed.
 */
#include <umem.h>
#include <utest.h>

#define BASE ((uint64_t)0x140000000)
#define PAGE U_PAGE_SIZE
#define NPAGES 8
#define SELF ALDER_HANDLE_SELF_SPACE
#define RW (ALDER_PROT_READ | ALDER_PROT_WRITE)

#define SRC_AT (BASE)
#define SLICE_AT (BASE + 16 * PAGE)
#define SUB_AT (BASE + 32 * PAGE)
#define RO_AT (BASE + 48 * PAGE)
#define VIEW_AT (BASE + 64 * PAGE)
#define VSLICE_AT (BASE + 80 * PAGE)
#define VSLICE2_AT (BASE + 88 * PAGE)

static volatile uint32_t *pg(uint64_t at, unsigned n)
{
	return (volatile uint32_t *)(at + n * PAGE);
}

#define EXPECT_WORD(at, n, want)                                                                             \
	do {                                                                                                 \
		uint32_t got_ = pg((at), (n))[0];                                                            \
		if (got_ != (uint32_t)(want))                                                                \
			u_expect_fail(__FILE__, __LINE__, "%s page %u: 0x%x, expected 0x%x", #at,            \
				      (unsigned)(n), got_, (uint32_t)(want));                                \
	} while (0)

static alder_handle_t slice(alder_handle_t src, uint64_t off, uint64_t size)
{
	long h = u_mem_create_slice(src, off, size);

	if (h <= 0) {
		u_printf("mem_slice: slice(%d, 0x%lx, 0x%lx): %ld (%s)\n", src, off, size, h, u_errname(h));
		sys_exit(1);
	}
	return (alder_handle_t)h;
}

static void map_at(alder_handle_t h, uint64_t off, uint64_t addr, uint64_t size, uint32_t prot)
{
	long r = u_space_map(SELF, h, off, addr, size, prot);

	if (r != (long)addr) {
		u_printf("mem_slice: map(h %d, off 0x%lx, 0x%lx, 0x%lx): %ld (%s)\n", h, off, addr, size, r,
			 u_errname(r));
		sys_exit(1);
	}
}

static void test_bad_args(alder_handle_t src)
{
	static const struct {
		const char *name;
		uint64_t off, size;
	} bad[] = {
	    {"offset 1", 1, PAGE},
	    {"offset PAGE/2", PAGE / 2, PAGE},
	    {"size 1", 0, 1},
	    {"size PAGE-1", 0, PAGE - 1},
	    {"size 0", 0, 0},
	    {"one page too many", 0, (NPAGES + 1) * PAGE},
	    {"offset at end", NPAGES * PAGE, PAGE},
	    {"offset+size past end", (NPAGES - 2) * PAGE, 3 * PAGE},
	    {"offset wraps", 0 - PAGE, 2 * PAGE},
	    {"size wraps", 2 * PAGE, 0 - PAGE},
	    {"size ~0", 0, ~0ull},
	};
	char what[80];

	for (size_t i = 0; i < U_ARRAY_SIZE(bad); i++) {
		u_snprintf(what, sizeof(what), "mem_create_slice(%s)", bad[i].name);
		long r = u_mem_create_slice(src, bad[i].off, bad[i].size);
		EXPECT_ERR(what, r, ALDER_EINVAL);
		if (r > 0)
			u_handle_close((alder_handle_t)r);
	}
}

static void test_rights(alder_handle_t src)
{
	const uint32_t ro = ALDER_RIGHT_READ | ALDER_RIGHT_MAP | ALDER_RIGHT_DUPLICATE;
	long d = u_handle_dup(src, ro);
	CHECK(d > 0);
	alder_handle_t s = slice((alder_handle_t)d, PAGE, 2 * PAGE);
	struct alder_handle_info info;

	CHECK_EQ(u_handle_info(s, &info), 0);
	EXPECT(info.type == ALDER_OBJ_MEMORY);
	if ((info.rights & ~ro) != 0)
		u_expect_fail(__FILE__, __LINE__, "slice of a 0x%x handle has rights 0x%x", ro, info.rights);
	EXPECT_ERR("map RW a slice of a read-only handle", u_space_map(SELF, s, 0, RO_AT, 2 * PAGE, RW),
		   ALDER_EACCES);
	map_at(s, 0, RO_AT, 2 * PAGE, ALDER_PROT_READ);
	EXPECT(u_space_protect(SELF, RO_AT, 2 * PAGE, RW) == -ALDER_EACCES);
	EXPECT_WORD(RO_AT, 0, 0x11); /* source page 1 */
	pg(SRC_AT, 2)[1] = 0x22;
	EXPECT(pg(RO_AT, 1)[1] == 0x22);
	EXPECT(u_space_unmap(SELF, RO_AT, 2 * PAGE) == 0);
	EXPECT(u_handle_close(s) == 0);
	EXPECT(u_handle_close((alder_handle_t)d) == 0);

	/* A full-rights slice of a full-rights handle can be written. */
	s = slice(src, 0, PAGE);
	CHECK_EQ(u_handle_info(s, &info), 0);
	EXPECT((info.rights & (ALDER_RIGHT_READ | ALDER_RIGHT_WRITE | ALDER_RIGHT_MAP)) ==
	       (ALDER_RIGHT_READ | ALDER_RIGHT_WRITE | ALDER_RIGHT_MAP));
	EXPECT(u_handle_close(s) == 0);
}

int main(const char *arg, size_t arg_len)
{
	long h = u_mem_create(NPAGES * PAGE, 0);
	CHECK(h > 0);
	alder_handle_t src = (alder_handle_t)h;
	test_bad_args(src);

	map_at(src, 0, SRC_AT, NPAGES * PAGE, RW);
	pg(SRC_AT, 1)[0] = 0x11;

	/* Pages 2..5 of the source, both mapped. */
	alder_handle_t sl = slice(src, 2 * PAGE, 4 * PAGE);
	map_at(sl, 0, SLICE_AT, 4 * PAGE, RW);
	EXPECT_ERR("map past the end of a slice",
		   u_space_map(SELF, sl, PAGE, SLICE_AT + 8 * PAGE, 4 * PAGE, RW), ALDER_EINVAL);

	/* Source -> slice. */
	pg(SRC_AT, 2)[0] = 0x1002;
	EXPECT_WORD(SLICE_AT, 0, 0x1002);
	/* Slice -> source, on a page nobody had touched: the frame the slice
	 * faults in must be the source's. */
	pg(SLICE_AT, 3)[0] = 0x2005;
	EXPECT_WORD(SRC_AT, 5, 0x2005);
	/* Slice -> source on a page the source had mapped in. */
	EXPECT_WORD(SRC_AT, 3, 0);
	pg(SLICE_AT, 1)[0] = 0x2003;
	EXPECT_WORD(SRC_AT, 3, 0x2003);
	/* Back and forth on one word. */
	for (uint32_t i = 0; i < 100; i++) {
		pg(SRC_AT, 4)[9] = i;
		if (pg(SLICE_AT, 2)[9] != i) {
			u_expect_fail(__FILE__, __LINE__, "round %u: slice did not see the source's write",
				      i);
			break;
		}
		pg(SLICE_AT, 2)[10] = i + 1000;
		if (pg(SRC_AT, 4)[10] != i + 1000) {
			u_expect_fail(__FILE__, __LINE__, "round %u: source did not see the slice's write",
				      i);
			break;
		}
	}
	/* SYS_SPACE_RW through the slice lands in the source. */
	uint32_t v = 0x3004;
	EXPECT(u_space_rw(SELF, SLICE_AT + 2 * PAGE, &v, sizeof(v), true) >= 0);
	EXPECT_WORD(SRC_AT, 4, 0x3004);

	/* Slice of a slice: pages 1..2 of sl = source pages 3..4. */
	alder_handle_t sub = slice(sl, PAGE, 2 * PAGE);
	map_at(sub, 0, SUB_AT, 2 * PAGE, RW);
	EXPECT_WORD(SUB_AT, 0, 0x2003);
	EXPECT_WORD(SUB_AT, 1, 0x3004);
	pg(SUB_AT, 1)[0] = 0x4004;
	EXPECT_WORD(SRC_AT, 4, 0x4004);
	EXPECT_WORD(SLICE_AT, 2, 0x4004);

	test_rights(src);

	/* A slice of a COW view shares the view's pages, not the source's. */
	long vh = u_mem_create_cow(src, 0, NPAGES * PAGE);
	CHECK(vh > 0);
	alder_handle_t view = (alder_handle_t)vh;
	map_at(view, 0, VIEW_AT, NPAGES * PAGE, RW);
	pg(VIEW_AT, 2)[0] = 0x5002; /* the view copies page 2 */
	alder_handle_t vsl = slice(view, 2 * PAGE, 2 * PAGE);
	map_at(vsl, 0, VSLICE_AT, 2 * PAGE, RW);
	EXPECT_WORD(VSLICE_AT, 0, 0x5002); /* the view's copy */
	EXPECT_WORD(VSLICE_AT, 1, 0x2003); /* uncopied: the source's page 3 */
	pg(SRC_AT, 3)[0] = 0x6003;
	EXPECT_WORD(VSLICE_AT, 1, 0x6003);
	pg(VSLICE_AT, 1)[0] = 0x7003; /* copies page 3 into the view */
	EXPECT_WORD(VIEW_AT, 3, 0x7003);
	EXPECT_WORD(SRC_AT, 3, 0x6003);
	pg(VIEW_AT, 2)[1] = 0x5555;
	EXPECT(pg(VSLICE_AT, 0)[1] == 0x5555);
	/* View page 5 (source page 5, uncopied) shown through a slice of the
	 * view, then copied through the view's own mapping: the slice's
	 * mapping must show the copy, not the source's frame. */
	alder_handle_t vsl2 = slice(view, 5 * PAGE, PAGE);
	map_at(vsl2, 0, VSLICE2_AT, PAGE, RW);
	EXPECT_WORD(VSLICE2_AT, 0, 0x2005);
	pg(VIEW_AT, 5)[0] = 0x7005;
	EXPECT_WORD(VSLICE2_AT, 0, 0x7005);
	EXPECT_WORD(SRC_AT, 5, 0x2005);
	EXPECT(u_space_unmap(SELF, VSLICE2_AT, PAGE) == 0);
	EXPECT(u_handle_close(vsl2) == 0);

	/* Slices keep the source alive: drop the source handle and mapping. */
	EXPECT(u_space_unmap(SELF, SRC_AT, NPAGES * PAGE) == 0);
	EXPECT(u_handle_close(src) == 0);
	EXPECT_WORD(SLICE_AT, 0, 0x1002);
	EXPECT_WORD(SUB_AT, 1, 0x4004);
	pg(SLICE_AT, 0)[0] = 0x8002;
	EXPECT_WORD(VIEW_AT, 2, 0x5002); /* copied before: unaffected */
	EXPECT(u_handle_close(sl) == 0);
	EXPECT_WORD(SUB_AT, 0, 0x6003); /* sub holds sl, which holds src */
	pg(SUB_AT, 0)[1] = 0x9;
	EXPECT(pg(SLICE_AT, 1)[1] == 0x9);

	EXPECT(u_space_unmap(SELF, BASE, 96 * PAGE) == 0);
	EXPECT(u_handle_close(sub) == 0);
	EXPECT(u_handle_close(view) == 0);
	EXPECT(u_handle_close(vsl) == 0);
	return u_test_end("mem_slice");
}
