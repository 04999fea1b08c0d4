/*
 * obj_bad: every object-model call that takes a handle, given a bad one:
 * the root handle number in a child (there is no root handle: -EBADF, and
 * so SYS_MEM_CREATE_PHYS cannot work here), 0, negative numbers, huge
 * numbers, a closed handle (-EBADF), a handle of the wrong type (-EBADFD),
 * and a handle lacking the right the call needs (-EACCES, via dup with a
 * reduced mask). Also checks that a refused call changed nothing (no
 * mapping appeared). Exits 0 if every check passed.
 */
#include <umem.h>
#include <utest.h>

#define BASE ((uint64_t)0x110000000)
#define PAGE U_PAGE_SIZE
#define SELF ALDER_HANDLE_SELF_SPACE
#define RW (ALDER_PROT_READ | ALDER_PROT_WRITE)

static char what[128];

static const char *name(const char *fmt, const char *call, long h)
{
	u_snprintf(what, sizeof(what), fmt, call, h);
	return what;
}

/*
 * Run every call that takes a handle with h in each handle position (memory
 * operand, space operand, dup/info) and expect err. good_mem fills the
 * other position of SYS_SPACE_MAP. Close is left to the callers.
 */
static void expect_all(alder_handle_t h, int err, const char *label, alder_handle_t good_mem)
{
	struct alder_handle_info info;
	uint8_t buf[8] = {0};
	char fmt[64];

	u_snprintf(fmt, sizeof(fmt), "%%s(%s %%ld)", label);
	EXPECT_ERR(name(fmt, "handle_dup", h), u_handle_dup(h, ALDER_RIGHTS_ALL), err);
	EXPECT_ERR(name(fmt, "handle_info", h), u_handle_info(h, &info), err);
	EXPECT_ERR(name(fmt, "mem_create_cow", h), u_mem_create_cow(h, 0, PAGE), err);
	EXPECT_ERR(name(fmt, "mem_create_slice", h), u_mem_create_slice(h, 0, PAGE), err);
	EXPECT_ERR(name(fmt, "space_map(mem)", h), u_space_map(SELF, h, 0, BASE, PAGE, ALDER_PROT_READ), err);
	EXPECT_ERR(name(fmt, "space_map(space)", h), u_space_map(h, good_mem, 0, BASE, PAGE, ALDER_PROT_READ),
		   err);
	EXPECT_ERR(name(fmt, "space_unmap", h), u_space_unmap(h, BASE, PAGE), err);
	EXPECT_ERR(name(fmt, "space_protect", h), u_space_protect(h, BASE, PAGE, ALDER_PROT_READ), err);
	EXPECT_ERR(name(fmt, "space_rw(read)", h), u_space_rw(h, BASE, buf, sizeof(buf), false), err);
	EXPECT_ERR(name(fmt, "space_rw(write)", h), u_space_rw(h, BASE, buf, sizeof(buf), true), err);
}

/* Nothing is mapped at BASE: a call that wrongly succeeded would show. */
static void expect_nothing_mapped(void)
{
	uint8_t b;
	EXPECT_ERR("space_rw(SELF) at BASE after refused calls", u_space_rw(SELF, BASE, &b, 1, false),
		   ALDER_EFAULT);
}

/* Must run before this process has created any handle. */
static void test_no_root(void)
{
	EXPECT_ERR("mem_create_phys(ROOT) in a child",
		   u_mem_create_phys(ALDER_HANDLE_ROOT, 0xfee00000ull, PAGE, ALDER_CACHE_UC), ALDER_EBADF);
	EXPECT_ERR("mem_create_phys(ROOT, WB) in a child",
		   u_mem_create_phys(ALDER_HANDLE_ROOT, 0xfd000000ull, PAGE, ALDER_CACHE_WB), ALDER_EBADF);
	EXPECT_ERR("mem_create_phys(0)", u_mem_create_phys(ALDER_HANDLE_NONE, 0xfee00000ull, PAGE, 0),
		   ALDER_EBADF);
	EXPECT_ERR("mem_create_phys(-5)", u_mem_create_phys(-5, 0xfee00000ull, PAGE, 0), ALDER_EBADF);
	EXPECT_ERR2("mem_create_phys(SELF_SPACE)", u_mem_create_phys(SELF, 0xfee00000ull, PAGE, 0),
		    ALDER_EBADF, ALDER_EBADFD);
}

static void test_bad_numbers(alder_handle_t good_mem)
{
	static const alder_handle_t bad[] = {
	    ALDER_HANDLE_NONE, -2, -4096, INT32_MIN, INT32_MAX, 4096, 100000,
	};

	for (size_t i = 0; i < U_ARRAY_SIZE(bad); i++)
		expect_all(bad[i], ALDER_EBADF, "bad", good_mem);
	expect_nothing_mapped();
}

static void test_closed(alder_handle_t good_mem)
{
	long m = u_mem_create(PAGE, 0);
	long s = u_space_create();

	CHECK(m > 0 && s > 0);
	CHECK_EQ(u_handle_close((alder_handle_t)m), 0);
	CHECK_EQ(u_handle_close((alder_handle_t)s), 0);
	expect_all((alder_handle_t)m, ALDER_EBADF, "closed mem", good_mem);
	expect_all((alder_handle_t)s, ALDER_EBADF, "closed space", good_mem);
	EXPECT_ERR("mem_create_phys(closed)", u_mem_create_phys((alder_handle_t)m, 0xfee00000ull, PAGE, 0),
		   ALDER_EBADF);
	expect_nothing_mapped();
}

static void test_wrong_type(alder_handle_t mem, alder_handle_t space)
{
	uint8_t buf[8] = {0};

	/* A space where memory is wanted. */
	EXPECT_ERR("mem_create_cow(space)", u_mem_create_cow(space, 0, PAGE), ALDER_EBADFD);
	EXPECT_ERR("mem_create_slice(space)", u_mem_create_slice(space, 0, PAGE), ALDER_EBADFD);
	EXPECT_ERR("space_map(SELF, space as mem)", u_space_map(SELF, space, 0, BASE, PAGE, ALDER_PROT_READ),
		   ALDER_EBADFD);
	EXPECT_ERR2("space_map(SELF, SELF as mem)", u_space_map(SELF, SELF, 0, BASE, PAGE, ALDER_PROT_READ),
		    ALDER_EBADF, ALDER_EBADFD);
	EXPECT_ERR2("mem_create_cow(SELF)", u_mem_create_cow(SELF, 0, PAGE), ALDER_EBADF, ALDER_EBADFD);
	/* Memory where a space is wanted. */
	EXPECT_ERR("space_map(mem as space)", u_space_map(mem, mem, 0, BASE, PAGE, ALDER_PROT_READ),
		   ALDER_EBADFD);
	EXPECT_ERR("space_unmap(mem)", u_space_unmap(mem, BASE, PAGE), ALDER_EBADFD);
	EXPECT_ERR("space_protect(mem)", u_space_protect(mem, BASE, PAGE, ALDER_PROT_READ), ALDER_EBADFD);
	EXPECT_ERR("space_rw(mem, read)", u_space_rw(mem, BASE, buf, sizeof(buf), false), ALDER_EBADFD);
	EXPECT_ERR("space_rw(mem, write)", u_space_rw(mem, BASE, buf, sizeof(buf), true), ALDER_EBADFD);
	/* Neither is the root. */
	EXPECT_ERR("mem_create_phys(mem as root)", u_mem_create_phys(mem, 0xfee00000ull, PAGE, 0),
		   ALDER_EBADFD);
	EXPECT_ERR("mem_create_phys(space as root)", u_mem_create_phys(space, 0xfee00000ull, PAGE, 0),
		   ALDER_EBADFD);
	expect_nothing_mapped();
}

static alder_handle_t dup_mask(alder_handle_t h, uint32_t mask)
{
	long d = u_handle_dup(h, mask);

	if (d <= 0) {
		u_printf("obj_bad: dup(%d, 0x%x): %ld (%s)\n", h, mask, d, u_errname(d));
		sys_exit(1);
	}
	return (alder_handle_t)d;
}

static void test_rights(alder_handle_t mem, alder_handle_t space)
{
	const uint32_t all = ALDER_RIGHTS_ALL;
	alder_handle_t no_read = dup_mask(mem, all & ~ALDER_RIGHT_READ);
	alder_handle_t no_map = dup_mask(mem, all & ~ALDER_RIGHT_MAP);
	alder_handle_t no_write = dup_mask(mem, all & ~ALDER_RIGHT_WRITE);
	alder_handle_t no_exec = dup_mask(mem, all & ~ALDER_RIGHT_EXECUTE);
	alder_handle_t no_dup = dup_mask(mem, all & ~ALDER_RIGHT_DUPLICATE);
	alder_handle_t sp_no_manage = dup_mask(space, all & ~ALDER_RIGHT_MANAGE);
	alder_handle_t sp_no_read = dup_mask(space, all & ~ALDER_RIGHT_READ);
	alder_handle_t sp_no_write = dup_mask(space, all & ~ALDER_RIGHT_WRITE);
	uint8_t buf[8] = {1, 2, 3, 4, 5, 6, 7, 8};

	EXPECT_ERR("dup(no DUPLICATE)", u_handle_dup(no_dup, all), ALDER_EACCES);
	EXPECT_ERR("mem_create_cow(no READ)", u_mem_create_cow(no_read, 0, PAGE), ALDER_EACCES);
	EXPECT_ERR("space_map(mem no MAP)", u_space_map(SELF, no_map, 0, BASE, PAGE, ALDER_PROT_READ),
		   ALDER_EACCES);
	EXPECT_ERR("space_map(RW, mem no WRITE)", u_space_map(SELF, no_write, 0, BASE, PAGE, RW),
		   ALDER_EACCES);
	EXPECT_ERR("space_map(RX, mem no EXECUTE)",
		   u_space_map(SELF, no_exec, 0, BASE, PAGE, ALDER_PROT_READ | ALDER_PROT_EXEC),
		   ALDER_EACCES);
	expect_nothing_mapped();

	/* A slice inherits at most the source handle's rights: a slice made
	 * through a handle without MAP cannot be mapped. */
	long sl = u_mem_create_slice(no_map, 0, PAGE);
	if (sl > 0) {
		EXPECT_ERR("space_map(slice of no-MAP handle)",
			   u_space_map(SELF, (alder_handle_t)sl, 0, BASE, PAGE, ALDER_PROT_READ),
			   ALDER_EACCES);
		EXPECT(u_handle_close((alder_handle_t)sl) == 0);
	} else {
		EXPECT_ERR("mem_create_slice(no MAP)", sl, ALDER_EACCES);
	}

	/* The created space: map needs MANAGE; rw needs READ / WRITE. */
	EXPECT_ERR("space_map(space no MANAGE)", u_space_map(sp_no_manage, mem, 0, BASE, PAGE, RW),
		   ALDER_EACCES);
	CHECK_EQ(u_space_map(space, mem, 0, BASE, PAGE, RW), (long)BASE);
	EXPECT_ERR("space_unmap(space no MANAGE)", u_space_unmap(sp_no_manage, BASE, PAGE), ALDER_EACCES);
	EXPECT_ERR("space_protect(space no MANAGE)",
		   u_space_protect(sp_no_manage, BASE, PAGE, ALDER_PROT_READ), ALDER_EACCES);
	EXPECT_ERR("space_rw(write, space no WRITE)", u_space_rw(sp_no_write, BASE, buf, sizeof(buf), true),
		   ALDER_EACCES);
	EXPECT_ERR("space_rw(read, space no READ)", u_space_rw(sp_no_read, BASE, buf, sizeof(buf), false),
		   ALDER_EACCES);
	/* The other direction is allowed through each. */
	EXPECT(u_space_rw(sp_no_read, BASE, buf, sizeof(buf), true) >= 0);
	uint8_t back[8] = {0};
	EXPECT(u_space_rw(sp_no_write, BASE, back, sizeof(back), false) >= 0);
	EXPECT(memcmp(buf, back, sizeof(buf)) == 0);
	/* The refused unmap and protect changed nothing: still mapped RW. */
	buf[0] = 42;
	EXPECT(u_space_rw(space, BASE, buf, 1, true) >= 0);
	EXPECT(u_space_unmap(space, BASE, PAGE) == 0);
	EXPECT_ERR("space_rw after unmap", u_space_rw(space, BASE, buf, 1, false), ALDER_EFAULT);

	alder_handle_t all_h[] = {no_read, no_map,	 no_write,   no_exec,
				  no_dup,  sp_no_manage, sp_no_read, sp_no_write};
	for (size_t i = 0; i < U_ARRAY_SIZE(all_h); i++)
		EXPECT(u_handle_close(all_h[i]) == 0);
}

int main(const char *arg, size_t arg_len)
{
	test_no_root(); /* first: before any handle exists */

	long mem = u_mem_create(4 * PAGE, 0);
	long space = u_space_create();
	CHECK(mem > 0);
	CHECK(space > 0);

	test_bad_numbers((alder_handle_t)mem);
	test_closed((alder_handle_t)mem);
	test_wrong_type((alder_handle_t)mem, (alder_handle_t)space);
	test_rights((alder_handle_t)mem, (alder_handle_t)space);

	EXPECT(u_handle_close((alder_handle_t)space) == 0);
	EXPECT(u_handle_close((alder_handle_t)mem) == 0);
	return u_test_end("obj_bad");
}
