/*
 * space: SYS_SPACE_MAP, SYS_SPACE_UNMAP, SYS_SPACE_PROTECT and SYS_SPACE_RW,
 * on the caller's space and on a created one.
 *
 *   map      fixed and kernel-chosen addresses, offsets into the object;
 *            -EINVAL for misaligned address/offset/size, size 0, ranges
 *            outside user space or the object or wrapping around, unknown
 *            prot bits; -EEXIST over another mapping (exact, partial from
 *            either side, enclosing, enclosed), over the program image and
 *            over the stack; a refused map leaves nothing behind
 *   unmap    holes are fine; -EINVAL for misaligned, kernel or wrapping
 *            ranges
 *   protect  -ENOMEM when any page is unmapped (and nothing changes);
 *            -EACCES beyond what the handle allowed at map time; RO -> RW
 *            allowed when the handle had WRITE; code runs after RW -> RX
 *   rw       a created space: map into it, write via RW, read back via RW
 *            and through a mapping of the same object in our own space;
 *            -EFAULT for unmapped addresses, ranges running off a mapping
 *            and bad buffers; -EINVAL beyond ALDER_RW_MAX; a write into a
 *            read-only mapping of the space is refused
 * The faults that kill (writing read-only, executing non-exec) are in
 * mem_fault.c. Exits 0 if every check passed.
 */
#include <umem.h>
#include <utest.h>

#define BASE ((uint64_t)0x150000000)
#define PAGE U_PAGE_SIZE
#define SELF ALDER_HANDLE_SELF_SPACE
#define RW (ALDER_PROT_READ | ALDER_PROT_WRITE)
#define RX (ALDER_PROT_READ | ALDER_PROT_EXEC)

static alder_handle_t mem;   /* 16 pages, all rights */
static alder_handle_t space; /* a created space */

static void map_at(alder_handle_t sp, alder_handle_t h, uint64_t off, uint64_t addr, uint64_t size,
		   uint32_t prot)
{
	long r = u_space_map(sp, h, off, addr, size, prot);

	if (r != (long)addr) {
		u_printf("space: map(sp %d, h %d, off 0x%lx, 0x%lx, 0x%lx, prot %u): %ld (%s)\n", sp, h, off,
			 addr, size, prot, r, u_errname(r));
		sys_exit(1);
	}
}

/* Is addr mapped readable in our space? (SYS_SPACE_RW faults it in.) */
static bool mapped(uint64_t addr)
{
	uint8_t b;

	return u_space_rw(SELF, addr, &b, 1, false) >= 0;
}

static void test_map_args(void)
{
	const uint64_t a = BASE;
	static const struct {
		const char *name;
		uint64_t off, addr, size;
		uint32_t prot;
	} bad[] = {
	    {"addr misaligned", 0, BASE + 1, PAGE, RW},
	    {"addr misaligned by 2048", 0, BASE + 2048, PAGE, RW},
	    {"offset misaligned", 8, BASE, PAGE, RW},
	    {"size misaligned", 0, BASE, PAGE + 1, RW},
	    {"size under a page", 0, BASE, 100, RW},
	    {"size 0", 0, BASE, 0, RW},
	    {"size past the object", 0, BASE, 17 * PAGE, RW},
	    {"offset at the end", 16 * PAGE, BASE, PAGE, RW},
	    {"offset+size past the object", 15 * PAGE, BASE, 2 * PAGE, RW},
	    {"offset wraps", 0 - PAGE, BASE, 2 * PAGE, RW},
	    {"size wraps", 0, BASE, 0 - PAGE, RW},
	    {"kernel address", 0, 0xffff800000000000ull, PAGE, RW},
	    {"kernel image", 0, 0xffffffff80000000ull, PAGE, RW},
	    {"non-canonical", 0, 0x0000800000000000ull, PAGE, RW},
	    {"last user page + 1 page", 0, ULIB_USER_END - PAGE, 2 * PAGE, RW},
	    {"addr+size wraps", 0, 0xfffffffffffff000ull, 2 * PAGE, RW},
	    {"prot bit 3", 0, BASE, PAGE, RW | 8},
	    {"prot ~0", 0, BASE, PAGE, ~0u},
	};
	char what[96];

	for (size_t i = 0; i < U_ARRAY_SIZE(bad); i++) {
		u_snprintf(what, sizeof(what), "map(%s)", bad[i].name);
		long r = u_space_map(SELF, mem, bad[i].off, bad[i].addr, bad[i].size, bad[i].prot);
		EXPECT_ERR(what, r, ALDER_EINVAL);
		if (r > 0)
			u_space_unmap(SELF, (uint64_t)r, bad[i].size);
	}
	EXPECT(!mapped(a));

	/* The last user page itself can be mapped (it ends exactly at the
	 * end of user space). */
	map_at(SELF, mem, 0, ULIB_USER_END - PAGE, PAGE, RW);
	volatile uint64_t *top = (volatile uint64_t *)(ULIB_USER_END - 8);
	*top = 0x70f;
	EXPECT(*top == 0x70f);
	EXPECT(u_space_unmap(SELF, ULIB_USER_END - PAGE, PAGE) == 0);
}

static void test_overlap(void)
{
	const uint64_t a = BASE + 16 * PAGE; /* existing mapping: [a, a + 4 pages) */
	static const struct {
		const char *name;
		int64_t start; /* in pages, relative to a */
		uint64_t pages;
	} cases[] = {
	    {"exact", 0, 4},
	    {"inside", 1, 2},
	    {"tail over the start", -2, 3},
	    {"head over the end", 3, 3},
	    {"enclosing", -1, 6},
	    {"first page", 0, 1},
	    {"last page", 3, 1},
	};
	char what[96];

	map_at(SELF, mem, 0, a, 4 * PAGE, RW);
	*(volatile uint32_t *)a = 0xabcd;
	for (size_t i = 0; i < U_ARRAY_SIZE(cases); i++) {
		uint64_t at = a + (uint64_t)(cases[i].start * (int64_t)PAGE);
		u_snprintf(what, sizeof(what), "map over an existing mapping (%s)", cases[i].name);
		EXPECT_ERR(what, u_space_map(SELF, mem, 0, at, cases[i].pages * PAGE, RW), ALDER_EEXIST);
	}
	/* A refused map left nothing: the neighbours are still free. */
	EXPECT(!mapped(a - PAGE));
	EXPECT(!mapped(a + 4 * PAGE));
	/* The pages right next to it are free. */
	map_at(SELF, mem, 0, a - PAGE, PAGE, RW);
	map_at(SELF, mem, 0, a + 4 * PAGE, PAGE, RW);
	EXPECT(*(volatile uint32_t *)(a - PAGE) == 0xabcd); /* same object page 0 */
	EXPECT(u_space_unmap(SELF, a - PAGE, 6 * PAGE) == 0);
	EXPECT(!mapped(a));

	/* The program and the stack are mappings too. */
	EXPECT_ERR("map over the program text", u_space_map(SELF, mem, 0, ULIB_TEXT_BASE, PAGE, RW),
		   ALDER_EEXIST);
	uint64_t data = (uint64_t)(uintptr_t)__data_start & ~(PAGE - 1);
	EXPECT_ERR("map over the data segment", u_space_map(SELF, mem, 0, data, PAGE, RW), ALDER_EEXIST);
	uint64_t stack = (uint64_t)(uintptr_t)&what & ~(PAGE - 1);
	EXPECT_ERR("map over the stack", u_space_map(SELF, mem, 0, stack, PAGE, RW), ALDER_EEXIST);
	what[0] = 'x'; /* the stack still works */
	EXPECT(what[0] == 'x');
}

static void test_unmap_args(void)
{
	static const struct {
		const char *name;
		uint64_t addr, size;
	} bad[] = {
	    {"addr misaligned", BASE + 1, PAGE},
	    {"size misaligned", BASE, PAGE + 7},
	    {"kernel address", 0xffff800000000000ull, PAGE},
	    {"kernel image", 0xffffffff80000000ull, PAGE},
	    {"past user end", ULIB_USER_END - PAGE, 2 * PAGE},
	    {"wraps", 0xfffffffffffff000ull, 2 * PAGE},
	    {"size ~0 & ~0xfff", BASE, ~0xfffull},
	};
	char what[96];

	for (size_t i = 0; i < U_ARRAY_SIZE(bad); i++) {
		u_snprintf(what, sizeof(what), "unmap(%s)", bad[i].name);
		EXPECT_ERR(what, u_space_unmap(SELF, bad[i].addr, bad[i].size), ALDER_EINVAL);
	}
	/* Holes are fine: nothing mapped there at all. */
	EXPECT(u_space_unmap(SELF, BASE + 256 * PAGE, 64 * PAGE) == 0);
	long z = u_space_unmap(SELF, BASE, 0);
	if (z != 0)
		EXPECT_ERR("unmap(size 0)", z, ALDER_EINVAL);
	/* An unmap that covers a mapping and holes on both sides. */
	map_at(SELF, mem, 0, BASE + 4 * PAGE, 2 * PAGE, RW);
	EXPECT(u_space_unmap(SELF, BASE, 16 * PAGE) == 0);
	EXPECT(!mapped(BASE + 4 * PAGE) && !mapped(BASE + 5 * PAGE));
	map_at(SELF, mem, 0, BASE + 4 * PAGE, 2 * PAGE, RW); /* free again */
	EXPECT(u_space_unmap(SELF, BASE + 4 * PAGE, 2 * PAGE) == 0);
}

static void test_protect(void)
{
	const uint64_t a = BASE + 32 * PAGE;
	volatile uint32_t *p = (volatile uint32_t *)a;

	/* Arguments. */
	map_at(SELF, mem, 0, a, 4 * PAGE, RW);
	EXPECT_ERR("protect(misaligned)", u_space_protect(SELF, a + 1, PAGE, ALDER_PROT_READ), ALDER_EINVAL);
	EXPECT_ERR("protect(size misaligned)", u_space_protect(SELF, a, 10, ALDER_PROT_READ), ALDER_EINVAL);
	EXPECT_ERR("protect(prot bit 3)", u_space_protect(SELF, a, PAGE, RW | 8), ALDER_EINVAL);
	EXPECT_ERR("protect(kernel)", u_space_protect(SELF, 0xffffffff80000000ull, PAGE, ALDER_PROT_READ),
		   ALDER_EINVAL);
	EXPECT_ERR2("protect(wraps)", u_space_protect(SELF, 0xfffffffffffff000ull, 2 * PAGE, ALDER_PROT_READ),
		    ALDER_EINVAL, ALDER_ENOMEM);

	/* Unmapped pages: -ENOMEM, and the mapped part is unchanged. */
	EXPECT_ERR("protect(unmapped)", u_space_protect(SELF, BASE + 512 * PAGE, PAGE, ALDER_PROT_READ),
		   ALDER_ENOMEM);
	EXPECT_ERR("protect(runs past the end)",
		   u_space_protect(SELF, a + 2 * PAGE, 4 * PAGE, ALDER_PROT_READ), ALDER_ENOMEM);
	EXPECT_ERR("protect(starts before)", u_space_protect(SELF, a - PAGE, 2 * PAGE, ALDER_PROT_READ),
		   ALDER_ENOMEM);
	p[0] = 1; /* still writable: a refused protect changed nothing (else we die here) */
	p[3 * PAGE / 4] = 3;

	/* RW -> R -> RW: the handle had WRITE, so going back is allowed. */
	EXPECT(u_space_protect(SELF, a, 4 * PAGE, ALDER_PROT_READ) == 0);
	EXPECT(p[0] == 1 && p[3 * PAGE / 4] == 3);
	EXPECT(u_space_protect(SELF, a, 4 * PAGE, RW) == 0);
	p[0] = 2;
	EXPECT(p[0] == 2);
	EXPECT(u_space_unmap(SELF, a, 4 * PAGE) == 0);

	/* Mapped read-only through a full handle: may become writable. */
	map_at(SELF, mem, 0, a, PAGE, ALDER_PROT_READ);
	EXPECT(p[0] == 2);
	EXPECT(u_space_protect(SELF, a, PAGE, RW) == 0);
	p[0] = 3;
	EXPECT(p[0] == 3);
	EXPECT(u_space_unmap(SELF, a, PAGE) == 0);

	/* Mapped through a handle without WRITE / EXECUTE: protect cannot add
	 * them, and the failed protect leaves the mapping readable. */
	long ro = u_handle_dup(mem, ALDER_RIGHT_READ | ALDER_RIGHT_MAP);
	CHECK(ro > 0);
	map_at(SELF, (alder_handle_t)ro, 0, a, 2 * PAGE, ALDER_PROT_READ);
	EXPECT_ERR("protect RW beyond the handle", u_space_protect(SELF, a, 2 * PAGE, RW), ALDER_EACCES);
	EXPECT_ERR("protect RX beyond the handle", u_space_protect(SELF, a, PAGE, RX), ALDER_EACCES);
	EXPECT(p[0] == 3);
	EXPECT(u_handle_close((alder_handle_t)ro) == 0);
	/* The allowance stays with the mapping after the handle is gone. */
	EXPECT_ERR("protect RW after the handle closed", u_space_protect(SELF, a, 2 * PAGE, RW),
		   ALDER_EACCES);
	EXPECT(u_space_protect(SELF, a, PAGE, ALDER_PROT_READ) == 0);
	EXPECT(u_space_unmap(SELF, a, 2 * PAGE) == 0);

	/* Code: write it through RW, make it RX, call it. */
	static const uint8_t code[] = {0xb8, 0x2a, 0x00, 0x00, 0x00, 0xc3}; /* mov $42, %eax; ret */
	map_at(SELF, mem, 4 * PAGE, a, PAGE, RW);
	memcpy((void *)(uintptr_t)a, code, sizeof(code));
	EXPECT(u_space_protect(SELF, a, PAGE, RX) == 0);
	int (*fn)(void) = (int (*)(void))(uintptr_t)a;
	EXPECT(fn() == 42);
	EXPECT(u_space_unmap(SELF, a, PAGE) == 0);
	/* Mapped executable straight away. */
	map_at(SELF, mem, 4 * PAGE, a + PAGE, PAGE, RX);
	fn = (int (*)(void))(uintptr_t)(a + PAGE);
	EXPECT(fn() == 42);
	EXPECT(u_space_unmap(SELF, a + PAGE, PAGE) == 0);
}

static void test_rw(void)
{
	const uint64_t a = 0x10000000; /* in the created space */
	const uint64_t mine = BASE + 64 * PAGE;
	uint8_t buf[600], back[600];
	long r;

	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i ^ 0x5a);

	/* Nothing mapped in the new space yet. */
	EXPECT_ERR("rw read from an empty space", u_space_rw(space, a, back, 8, false), ALDER_EFAULT);
	EXPECT_ERR("rw write to an empty space", u_space_rw(space, a, buf, 8, true), ALDER_EFAULT);

	/* Pages 8..11 of mem at a in the space, RW; page 12 RO after it. */
	map_at(space, mem, 8 * PAGE, a, 4 * PAGE, RW);
	map_at(space, mem, 12 * PAGE, a + 4 * PAGE, PAGE, ALDER_PROT_READ);
	r = u_space_rw(space, a + PAGE - 300, buf, sizeof(buf), true);
	EXPECT(r == 0 || r == (long)sizeof(buf));
	memset(back, 0, sizeof(back));
	r = u_space_rw(space, a + PAGE - 300, back, sizeof(back), false);
	EXPECT(r == 0 || r == (long)sizeof(back));
	EXPECT(memcmp(buf, back, sizeof(buf)) == 0);

	/* Same object mapped here: the bytes are really in it. */
	map_at(SELF, mem, 8 * PAGE, mine, 5 * PAGE, RW);
	EXPECT(memcmp((const void *)(uintptr_t)(mine + PAGE - 300), buf, sizeof(buf)) == 0);
	volatile uint8_t *m = (volatile uint8_t *)mine;
	m[3 * PAGE + 5] = 0x99;
	m[4 * PAGE + 6] = 0x66; /* page 12: RO in the space, RW here */
	EXPECT(u_space_rw(space, a + 3 * PAGE + 5, back, 1, false) >= 0 && back[0] == 0x99);
	EXPECT(u_space_rw(space, a + 4 * PAGE + 6, back, 1, false) >= 0 && back[0] == 0x66);

	/* Refusals. */
	r = u_space_rw(space, a + 4 * PAGE + 6, buf, 1, true);
	EXPECT_ERR2("rw write into a read-only mapping", r, ALDER_EFAULT, ALDER_EACCES);
	EXPECT(m[4 * PAGE + 6] == 0x66);
	EXPECT_ERR("rw running off the mapping", u_space_rw(space, a + 5 * PAGE - 8, back, 16, false),
		   ALDER_EFAULT);
	EXPECT_ERR("rw unmapped", u_space_rw(space, a + 64 * PAGE, back, 8, false), ALDER_EFAULT);
	EXPECT_ERR2("rw kernel address", u_space_rw(space, 0xffffffff80000000ull, back, 8, false),
		    ALDER_EFAULT, ALDER_EINVAL);
	EXPECT_ERR2("rw wraps", u_space_rw(space, 0xfffffffffffffff0ull, back, 32, false), ALDER_EFAULT,
		    ALDER_EINVAL);
	EXPECT_ERR("rw len > ALDER_RW_MAX", u_space_rw(space, a, back, ALDER_RW_MAX + 1, false),
		   ALDER_EINVAL);
	EXPECT_ERR("rw len ~0", u_space_rw(space, a, back, ~(size_t)0, false), ALDER_EINVAL);
	EXPECT_ERR("rw buf NULL", u_space_rw(space, a, NULL, 8, false), ALDER_EFAULT);
	EXPECT_ERR("rw buf kernel", u_space_rw(space, a, (void *)0xffffffff80000000ull, 8, true),
		   ALDER_EFAULT);
	EXPECT_ERR("rw buf unmapped", u_space_rw(space, a, (void *)0x12345000ull, 8, true), ALDER_EFAULT);
	EXPECT_ERR("rw into our text", u_space_rw(space, a, __text_start, 8, false), ALDER_EFAULT);
	r = u_space_rw(space, a, back, 0, false);
	if (r != 0)
		EXPECT_ERR("rw len 0", r, ALDER_EINVAL);

	/* Protect, unmap and kernel-chosen maps in the created space. */
	EXPECT(u_space_protect(space, a, PAGE, ALDER_PROT_READ) == 0);
	EXPECT_ERR2("rw write after protect RO", u_space_rw(space, a, buf, 1, true), ALDER_EFAULT,
		    ALDER_EACCES);
	EXPECT(u_space_unmap(space, a, 5 * PAGE) == 0);
	EXPECT_ERR("rw after unmap", u_space_rw(space, a, back, 1, false), ALDER_EFAULT);
	long c = u_space_map(space, mem, 0, 0, 2 * PAGE, RW);
	EXPECT(c > 0 && (c & (PAGE - 1)) == 0 && (uint64_t)c < ULIB_USER_END);
	if (c > 0) {
		buf[0] = 0x31;
		EXPECT(u_space_rw(space, (uint64_t)c, buf, 1, true) >= 0);
		EXPECT(u_space_rw(space, (uint64_t)c, back, 1, false) >= 0 && back[0] == 0x31);
		EXPECT(u_space_unmap(space, (uint64_t)c, 2 * PAGE) == 0);
	}
	/* The created space is not ours: nothing appeared here. */
	EXPECT(!mapped(a));

	/* RW on our own space, at the largest size. */
	EXPECT(u_space_unmap(SELF, mine, 5 * PAGE) == 0);
	long big = u_mem_create(ALDER_RW_MAX, 0);
	CHECK(big > 0);
	map_at(SELF, (alder_handle_t)big, 0, mine, ALDER_RW_MAX, RW);
	map_at(space, (alder_handle_t)big, 0, a, ALDER_RW_MAX, RW);
	volatile uint8_t *bp = (volatile uint8_t *)mine;
	bp[ALDER_RW_MAX - 1] = 0xee;
	bp[0] = 0xdd;
	/* Copy the space's view onto ours, shifted by zero: checks a full-size
	 * transfer in both directions without another megabyte of buffer. */
	r = u_space_rw(space, a, (void *)(uintptr_t)mine, ALDER_RW_MAX, false);
	EXPECT(r == 0 || r == (long)ALDER_RW_MAX);
	EXPECT(bp[0] == 0xdd && bp[ALDER_RW_MAX - 1] == 0xee);
	EXPECT(u_space_unmap(space, a, ALDER_RW_MAX) == 0);
	EXPECT(u_space_unmap(SELF, mine, ALDER_RW_MAX) == 0);
	EXPECT(u_handle_close((alder_handle_t)big) == 0);
}

int main(const char *arg, size_t arg_len)
{
	long m = u_mem_create(16 * PAGE, 0);
	long s = u_space_create();

	CHECK(m > 0 && s > 0);
	mem = (alder_handle_t)m;
	space = (alder_handle_t)s;

	test_map_args();
	test_overlap();
	test_unmap_args();
	test_protect();
	test_rw();

	EXPECT(u_handle_close(space) == 0);
	EXPECT(u_handle_close(mem) == 0);
	return u_test_end("space");
}
