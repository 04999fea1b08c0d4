/*
 * badptr: hands bad pointers and impossible sizes to every system call that
 * takes a pointer (except sys_console_read, which would block) and expects
 * an error each time: -ALDER_EFAULT for a bad address, -ALDER_EFAULT or
 * -ALDER_EINVAL (or the call's own "too long" error) for a length that
 * wraps or leaves user space. The program itself must survive all of it:
 * a kernel that faults on our behalf kills us, and init reports the fault.
 * Exits 0 only if every case matched.
 *
 * Assumptions: nothing is mapped at 0x12345000, in the last user page, or
 * in the page after the end of our .bss (only the image and the stack near
 * ULIB_STACK_CEILING are mapped).
 */
#include <utest.h>

#define PAGE ((uint64_t)4096)

struct bad {
	const char *name;
	uint64_t addr;
	bool readable; /* readable by us: bad only as an output buffer */
};

static struct bad bad_ptrs[16];
static size_t nbad;

static void add_bad(const char *name, uint64_t addr, bool readable)
{
	bad_ptrs[nbad].name = name;
	bad_ptrs[nbad].addr = addr;
	bad_ptrs[nbad].readable = readable;
	nbad++;
}

static void build_table(void)
{
	uint64_t after_end = ((uintptr_t)_end + PAGE - 1) & ~(PAGE - 1);

	add_bad("NULL", 0, false);
	add_bad("unmapped 0x12345000", 0x12345000ull, false);
	add_bad("kernel image", 0xffffffff80000000ull, false);
	add_bad("kernel direct map", 0xffff800000000000ull, false);
	add_bad("non-canonical", 0x8000000000000000ull, false);
	add_bad("last user page", ULIB_USER_END - 8, false);
	add_bad("straddles user end", ULIB_USER_END - 4, false);
	add_bad("page after .bss", after_end, false);
	add_bad("straddles end of .bss", after_end - 4, false);
	/* Read-only pages: a kernel writing with CR0.WP clear, or without
	 * checking the user mapping's W bit, would corrupt them. */
	add_bad("read-only text", (uintptr_t)__text_start, true);
	add_bad("read-only rodata", (uintptr_t)__rodata_start, true);
}

static char what[160];

static const char *case_name(const char *call, const struct bad *b)
{
	u_snprintf(what, sizeof(what), "%s(%s 0x%lx)", call, b->name, b->addr);
	return what;
}

/* Outputs: sys_clock and sys_info write 8 bytes. */
static void test_outputs(void)
{
	for (size_t i = 0; i < nbad; i++) {
		const struct bad *b = &bad_ptrs[i];
		uint64_t *p = (uint64_t *)(uintptr_t)b->addr;
		EXPECT_ERR(case_name("sys_clock", b), sys_clock(p), ALDER_EFAULT);
		EXPECT_ERR(case_name("sys_info", b), sys_info(ALDER_INFO_CPU_COUNT, p), ALDER_EFAULT);
		EXPECT_ERR(case_name("sys_info(TSC)", b), sys_info(ALDER_INFO_TSC, p), ALDER_EFAULT);
	}
}

/* Inputs: sys_log reads len bytes. */
static void test_log(void)
{
	for (size_t i = 0; i < nbad; i++) {
		const struct bad *b = &bad_ptrs[i];
		if (b->readable)
			continue;
		EXPECT_ERR(case_name("sys_log", b), sys_log((const char *)(uintptr_t)b->addr, 16),
			   ALDER_EFAULT);
	}

	const char *ok = "badptr\n";
	uintptr_t text = (uintptr_t)__text_start;
	EXPECT_ERR2("sys_log(len ~0)", sys_log(ok, ~(size_t)0), ALDER_EFAULT, ALDER_EINVAL);
	EXPECT_ERR2("sys_log(ptr+len wraps)", sys_log((const char *)text, (size_t)0 - text + 16),
		    ALDER_EFAULT, ALDER_EINVAL);
	EXPECT_ERR2("sys_log(len past user end)", sys_log((const char *)text, ULIB_USER_END - text + PAGE),
		    ALDER_EFAULT, ALDER_EINVAL);
	/* Starts in mapped .bss, runs into the unmapped page after it. */
	EXPECT_ERR2("sys_log(runs off .bss)", sys_log((const char *)((uintptr_t)__bss_end - 16), 2 * PAGE),
		    ALDER_EFAULT, ALDER_EINVAL);
}

/* Reap a child that a failing sys_spawn check should not have created. */
static void reap_unexpected(long pid)
{
	struct alder_exit_info info;

	if (pid >= 0)
		sys_wait(pid, &info);
}

static void test_spawn(void)
{
	static const char hello[] = "/tests/hello";
	uintptr_t text = (uintptr_t)__text_start;
	long r;

	for (size_t i = 0; i < nbad; i++) {
		const struct bad *b = &bad_ptrs[i];
		if (b->readable)
			continue;
		r = sys_spawn((const char *)(uintptr_t)b->addr, 12, "", 0);
		EXPECT_ERR(case_name("sys_spawn path", b), r, ALDER_EFAULT);
		reap_unexpected(r);
		r = sys_spawn(hello, sizeof(hello) - 1, (const char *)(uintptr_t)b->addr, 8);
		EXPECT_ERR(case_name("sys_spawn arg", b), r, ALDER_EFAULT);
		reap_unexpected(r);
	}

	/* Impossible lengths: an address error or the call's length error. */
	const struct {
		const char *name;
		uint64_t len;
	} sizes[] = {
	    {"len ~0", ~0ull},
	    {"ptr+len wraps", 0 - (uint64_t)text + 16},
	    {"len past user end", ULIB_USER_END - text + PAGE},
	};
	for (size_t i = 0; i < U_ARRAY_SIZE(sizes); i++) {
		const char *ptr = (const char *)text;
		uint64_t len = sizes[i].len;
		char name[80];

		u_snprintf(name, sizeof(name), "sys_spawn path %s", sizes[i].name);
		r = sys_spawn(ptr, len, "", 0);
		if (r != -ALDER_EFAULT && r != -ALDER_EINVAL && r != -ALDER_ENAMETOOLONG)
			u_expect_fail(__FILE__, __LINE__,
				      "%s: got %ld (%s), expected -EFAULT, -EINVAL or -ENAMETOOLONG", name, r,
				      u_errname(r));
		reap_unexpected(r);

		u_snprintf(name, sizeof(name), "sys_spawn arg %s", sizes[i].name);
		r = sys_spawn(hello, sizeof(hello) - 1, ptr, len);
		if (r != -ALDER_EFAULT && r != -ALDER_EINVAL && r != -ALDER_E2BIG)
			u_expect_fail(__FILE__, __LINE__,
				      "%s: got %ld (%s), expected -EFAULT, -EINVAL or -E2BIG", name, r,
				      u_errname(r));
		reap_unexpected(r);
	}
}

/*
 * sys_wait with a bad info pointer. The kernel may only find out that the
 * address is unusable when it writes the record, after the child has ended;
 * whether the child is then reaped is not specified, so a follow-up wait
 * with a good pointer may see either the child's normal exit or -ECHILD.
 */
static void test_wait(void)
{
	for (size_t i = 0; i < nbad; i++) {
		const struct bad *b = &bad_ptrs[i];
		long pid = sys_spawn("/tests/hello", 12, "", 0);
		if (pid < 0) {
			u_expect_fail(__FILE__, __LINE__, "spawn /tests/hello: %ld (%s)", pid,
				      u_errname(pid));
			return;
		}
		EXPECT_ERR(case_name("sys_wait info", b),
			   sys_wait(pid, (struct alder_exit_info *)(uintptr_t)b->addr), ALDER_EFAULT);

		struct alder_exit_info info = {.how = -1};
		long r = sys_wait(pid, &info);
		if (r >= 0) {
			if (info.how != ALDER_EXIT_NORMAL || info.status != 0)
				u_expect_fail(__FILE__, __LINE__, "after %s: child ended how=%d status=%d",
					      case_name("sys_wait info", b), info.how, info.status);
		} else {
			EXPECT_ERR(case_name("second sys_wait after", b), r, ALDER_ECHILD);
		}
	}
}

int main(const char *arg, size_t arg_len)
{
	/* Snapshot read-only bytes that a careless kernel might overwrite. */
	uint8_t text_copy[32], rodata_copy[32];

	build_table();
	memcpy(text_copy, __text_start, sizeof(text_copy));
	memcpy(rodata_copy, __rodata_start, sizeof(rodata_copy));

	test_outputs();
	test_log();
	test_spawn();
	test_wait();

	EXPECT(memcmp(text_copy, __text_start, sizeof(text_copy)) == 0);
	EXPECT(memcmp(rodata_copy, __rodata_start, sizeof(rodata_copy)) == 0);
	return u_test_end("badptr");
}
