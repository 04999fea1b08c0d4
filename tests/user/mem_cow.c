/*
 * mem_cow: copy-on-write views (SYS_MEM_CREATE_COW), checked page by page
 * through mappings of the source and of the views:
 *   - a view reads the source's pages, including later writes to pages it
 *     has not copied (also pages the source first wrote after the view had
 *     read them as zeros);
 *   - the first write to a view page gives the view its own copy of the whole
 *     page; from then on neither side sees the other's writes;
 *   - a view at an offset, a view of a view (uncopied pages show through
 *     both levels), two mappings of one view (a copy made through one is
 *     what the other shows, also when the other is in another space),
 *     SYS_SPACE_RW writing into a view, a view outliving its source's
 *     handle and mapping;
 *   - bad offsets and sizes (-EINVAL).
 * Exits 0 if every check passed.
 */
#include <umem.h>
#include <utest.h>

#define BASE ((uint64_t)0x130000000)
#define PAGE U_PAGE_SIZE
#define NPAGES 8
#define SELF ALDER_HANDLE_SELF_SPACE
#define RW (ALDER_PROT_READ | ALDER_PROT_WRITE)
#define WORDS (PAGE / 4)

/* Where each mapping lives: 16-page slots. */
#define SRC_AT (BASE)
#define VIEW_AT (BASE + 16 * PAGE)
#define VIEW2_AT (BASE + 32 * PAGE)
#define OFFV_AT (BASE + 48 * PAGE)
#define GRAND_AT (BASE + 64 * PAGE)
#define THIRD_AT (BASE + 96 * PAGE)

static volatile uint32_t *pg(uint64_t at, unsigned n)
{
	return (volatile uint32_t *)(at + n * PAGE);
}

static alder_handle_t cow(alder_handle_t src, uint64_t off, uint64_t size)
{
	long h = u_mem_create_cow(src, off, size);

	if (h <= 0) {
		u_printf("mem_cow: cow(%d, 0x%lx, 0x%lx): %ld (%s)\n", src, off, size, h, u_errname(h));
		sys_exit(1);
	}
	return (alder_handle_t)h;
}

static void map_at(alder_handle_t h, uint64_t off, uint64_t addr, uint64_t size, uint32_t prot)
{
	long r = u_space_map(SELF, h, off, addr, size, prot);

	if (r != (long)addr) {
		u_printf("mem_cow: map(h %d, off 0x%lx, 0x%lx, 0x%lx): %ld (%s)\n", h, off, addr, size, r,
			 u_errname(r));
		sys_exit(1);
	}
}

/* Word 0 of page n at `at` must be want; prints which mapping disagreed. */
#define EXPECT_WORD(at, n, want)                                                                             \
	do {                                                                                                 \
		uint32_t got_ = pg((at), (n))[0];                                                            \
		if (got_ != (uint32_t)(want))                                                                \
			u_expect_fail(__FILE__, __LINE__, "%s page %u: 0x%x, expected 0x%x", #at,            \
				      (unsigned)(n), got_, (uint32_t)(want));                                \
	} while (0)

static void test_bad_args(alder_handle_t src)
{
	static const struct {
		const char *name;
		uint64_t off, size;
	} bad[] = {
	    {"offset 1", 1, PAGE},
	    {"offset PAGE/2", PAGE / 2, PAGE},
	    {"size 1", 0, 1},
	    {"size PAGE+1", 0, PAGE + 1},
	    {"size 0", 0, 0},
	    {"one page too many", 0, (NPAGES + 1) * PAGE},
	    {"offset at end", NPAGES * PAGE, PAGE},
	    {"offset+size past end", (NPAGES - 1) * PAGE, 2 * PAGE},
	    {"offset wraps", 0 - PAGE, 2 * PAGE},
	    {"size wraps", PAGE, 0 - PAGE},
	    {"size ~0", 0, ~0ull},
	    {"offset huge", 1ull << 62, PAGE},
	};
	char what[80];

	for (size_t i = 0; i < U_ARRAY_SIZE(bad); i++) {
		u_snprintf(what, sizeof(what), "mem_create_cow(%s)", bad[i].name);
		long r = u_mem_create_cow(src, bad[i].off, bad[i].size);
		EXPECT_ERR(what, r, ALDER_EINVAL);
		if (r > 0)
			u_handle_close((alder_handle_t)r);
	}
	/* The whole source and its last page are fine. */
	alder_handle_t a = cow(src, 0, NPAGES * PAGE), b = cow(src, (NPAGES - 1) * PAGE, PAGE);
	struct alder_handle_info info;
	CHECK_EQ(u_handle_info(a, &info), 0);
	EXPECT(info.type == ALDER_OBJ_MEMORY);
	EXPECT(u_handle_close(a) == 0);
	EXPECT(u_handle_close(b) == 0);
}

int main(const char *arg, size_t arg_len)
{
	long s = u_mem_create(NPAGES * PAGE, 0);
	CHECK(s > 0);
	alder_handle_t src = (alder_handle_t)s;
	test_bad_args(src);

	map_at(src, 0, SRC_AT, NPAGES * PAGE, RW);
	/* Page 0: a pattern through the whole page; page 1: one word. */
	for (uint64_t i = 0; i < WORDS; i++)
		pg(SRC_AT, 0)[i] = 0xa0000000u + (uint32_t)i;
	pg(SRC_AT, 1)[0] = 0xb1;

	alder_handle_t view = cow(src, 0, NPAGES * PAGE);
	map_at(view, 0, VIEW_AT, NPAGES * PAGE, RW);

	/* Reads see the source, untouched pages read zero. */
	EXPECT_WORD(VIEW_AT, 0, 0xa0000000u);
	EXPECT_WORD(VIEW_AT, 1, 0xb1);
	EXPECT_WORD(VIEW_AT, 2, 0);
	EXPECT_WORD(VIEW_AT, 4, 0);

	/* Later source writes to uncopied pages show in the view, also for a
	 * page the source populates only now. */
	pg(SRC_AT, 1)[0] = 0xb2;
	EXPECT_WORD(VIEW_AT, 1, 0xb2);
	pg(SRC_AT, 2)[0] = 0xc2;
	EXPECT_WORD(VIEW_AT, 2, 0xc2);

	/* The view's first write copies the whole page. */
	pg(VIEW_AT, 0)[0] = 0xf0;
	EXPECT_WORD(VIEW_AT, 0, 0xf0);
	EXPECT_WORD(SRC_AT, 0, 0xa0000000u);
	for (uint64_t i = 1; i < WORDS; i++) {
		if (pg(VIEW_AT, 0)[i] != 0xa0000000u + i) {
			u_expect_fail(__FILE__, __LINE__, "view page 0 word %lu: 0x%x after copy", i,
				      pg(VIEW_AT, 0)[i]);
			break;
		}
	}
	/* ... and from then on the source's writes stay in the source. */
	pg(SRC_AT, 0)[0] = 0xa1;
	pg(SRC_AT, 0)[7] = 0xa7;
	EXPECT_WORD(VIEW_AT, 0, 0xf0);
	EXPECT(pg(VIEW_AT, 0)[7] == 0xa0000007u);

	/* A page neither side touched: the view's write is private. */
	pg(VIEW_AT, 3)[0] = 0xf3;
	EXPECT_WORD(SRC_AT, 3, 0);
	pg(SRC_AT, 3)[0] = 0xd3;
	EXPECT_WORD(VIEW_AT, 3, 0xf3);
	EXPECT_WORD(SRC_AT, 3, 0xd3);

	/* A view at an offset. */
	alder_handle_t offv = cow(src, 2 * PAGE, 2 * PAGE);
	map_at(offv, 0, OFFV_AT, 2 * PAGE, RW);
	EXPECT_WORD(OFFV_AT, 0, 0xc2);
	EXPECT_WORD(OFFV_AT, 1, 0xd3);
	EXPECT_ERR("map past the end of an offset view", u_space_map(SELF, offv, 0, OFFV_AT, 3 * PAGE, RW),
		   ALDER_EINVAL);

	/* A second mapping of the same view: page 4 is first read through
	 * VIEW2 (showing the source's frame), then copied by a write through
	 * VIEW; VIEW2 must show the copy, not the source. */
	map_at(view, 0, VIEW2_AT, NPAGES * PAGE, RW);
	pg(SRC_AT, 4)[0] = 0x44;
	EXPECT_WORD(VIEW2_AT, 4, 0x44);
	EXPECT_WORD(VIEW_AT, 4, 0x44);
	pg(VIEW_AT, 4)[0] = 0xf4;
	EXPECT_WORD(VIEW2_AT, 4, 0xf4);
	EXPECT_WORD(SRC_AT, 4, 0x44);
	pg(SRC_AT, 4)[0] = 0x45;
	EXPECT_WORD(VIEW2_AT, 4, 0xf4);
	/* And the other way round: copy through VIEW2, seen through VIEW. */
	pg(VIEW2_AT, 5)[0] = 0xf5;
	EXPECT_WORD(VIEW_AT, 5, 0xf5);
	EXPECT_WORD(SRC_AT, 5, 0);

	/* A view of a view: uncopied pages show through both levels. */
	alder_handle_t grand = cow(view, 0, NPAGES * PAGE);
	map_at(grand, 0, GRAND_AT, NPAGES * PAGE, RW);
	EXPECT_WORD(GRAND_AT, 0, 0xf0); /* the view's copy */
	EXPECT_WORD(GRAND_AT, 1, 0xb2); /* the source, through the view */
	pg(SRC_AT, 1)[0] = 0xb3;
	EXPECT_WORD(GRAND_AT, 1, 0xb3);
	EXPECT_WORD(VIEW_AT, 1, 0xb3);
	pg(VIEW_AT, 1)[0] = 0xf1; /* the view copies page 1 */
	EXPECT_WORD(GRAND_AT, 1, 0xf1);
	EXPECT_WORD(SRC_AT, 1, 0xb3);
	pg(GRAND_AT, 0)[0] = 0xe0; /* the grandchild copies page 0 */
	EXPECT_WORD(VIEW_AT, 0, 0xf0);
	EXPECT_WORD(SRC_AT, 0, 0xa1);
	EXPECT_WORD(GRAND_AT, 0, 0xe0);

	/* SYS_SPACE_RW into an uncopied view page copies it too. */
	uint32_t v = 0xf6;
	pg(SRC_AT, 6)[0] = 0x66;
	EXPECT(u_space_rw(SELF, VIEW_AT + 6 * PAGE, &v, sizeof(v), true) >= 0);
	EXPECT_WORD(VIEW_AT, 6, 0xf6);
	EXPECT_WORD(VIEW2_AT, 6, 0xf6);
	EXPECT_WORD(SRC_AT, 6, 0x66);

	/* A read-only mapping of the view, made writable later, copies on the
	 * first write after protect. */
	EXPECT(u_space_unmap(SELF, VIEW2_AT, NPAGES * PAGE) == 0);
	map_at(view, 0, VIEW2_AT, NPAGES * PAGE, ALDER_PROT_READ);
	pg(SRC_AT, 7)[0] = 0x77;
	EXPECT_WORD(VIEW2_AT, 7, 0x77);
	EXPECT(u_space_protect(SELF, VIEW2_AT + 7 * PAGE, PAGE, RW) == 0);
	pg(VIEW2_AT, 7)[0] = 0xf7;
	EXPECT_WORD(SRC_AT, 7, 0x77);
	EXPECT_WORD(VIEW_AT, 7, 0xf7);

	/* Other spaces: a view mapped in a created space shows the source's
	 * frame there (entered by SYS_SPACE_RW) until the view copies the
	 * page through our own mapping; then that space must show the copy
	 * too. A second space that mapped the view and was closed before the
	 * copy must have left nothing behind for the copy to trip over. */
	const uint64_t in_space = 0x10000000;
	alder_handle_t third = cow(src, 0, NPAGES * PAGE);
	map_at(third, 0, THIRD_AT, NPAGES * PAGE, RW);
	long sp = u_space_create(), sp2 = u_space_create();
	CHECK(sp > 0 && sp2 > 0);
	CHECK_EQ(u_space_map((alder_handle_t)sp, third, 0, in_space, NPAGES * PAGE, RW), (long)in_space);
	CHECK_EQ(u_space_map((alder_handle_t)sp2, third, 0, in_space, NPAGES * PAGE, RW), (long)in_space);
	uint32_t w = 0, w2 = 0;
	EXPECT(u_space_rw((alder_handle_t)sp, in_space + 2 * PAGE, &w, sizeof(w), false) >= 0);
	EXPECT(u_space_rw((alder_handle_t)sp2, in_space + 2 * PAGE, &w2, sizeof(w2), false) >= 0);
	EXPECT(w == 0xc2 && w2 == 0xc2);
	EXPECT(u_handle_close((alder_handle_t)sp2) == 0);
	pg(THIRD_AT, 2)[0] = 0x3c2; /* the copy */
	EXPECT(u_space_rw((alder_handle_t)sp, in_space + 2 * PAGE, &w, sizeof(w), false) >= 0);
	if (w != 0x3c2)
		u_expect_fail(__FILE__, __LINE__,
			      "the view in another space shows 0x%x after the copy, expected 0x3c2", w);
	EXPECT_WORD(SRC_AT, 2, 0xc2);
	/* And the other way: copy made through the other space (page 3). */
	EXPECT_WORD(THIRD_AT, 3, 0xd3);
	w = 0x3d3;
	EXPECT(u_space_rw((alder_handle_t)sp, in_space + 3 * PAGE, &w, sizeof(w), true) >= 0);
	EXPECT_WORD(THIRD_AT, 3, 0x3d3);
	EXPECT_WORD(SRC_AT, 3, 0xd3);
	EXPECT(u_handle_close((alder_handle_t)sp) == 0);
	EXPECT(u_space_unmap(SELF, THIRD_AT, NPAGES * PAGE) == 0);
	EXPECT(u_handle_close(third) == 0);

	/* The view outlives the source's handle and mapping. */
	EXPECT(u_space_unmap(SELF, SRC_AT, NPAGES * PAGE) == 0);
	EXPECT(u_handle_close(src) == 0);
	EXPECT_WORD(VIEW_AT, 2, 0xc2);
	EXPECT_WORD(VIEW_AT, 3, 0xf3);
	EXPECT_WORD(OFFV_AT, 1, 0xd3);
	pg(VIEW_AT, 2)[0] = 0xf2;
	EXPECT_WORD(VIEW_AT, 2, 0xf2);
	EXPECT_WORD(OFFV_AT, 0, 0xc2);

	EXPECT(u_space_unmap(SELF, BASE, 80 * PAGE) == 0);
	EXPECT(u_handle_close(view) == 0);
	EXPECT(u_handle_close(offv) == 0);
	EXPECT(u_handle_close(grand) == 0);
	return u_test_end("mem_cow");
}
