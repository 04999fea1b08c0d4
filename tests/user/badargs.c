/*
 * badargs: well-formed pointers, wrong values. Each call must fail with the
 * documented error and leave the process running:
 *   sys_info: unknown selectors -> -EINVAL; known ones -> 0 and sane values
 *   sys_spawn: missing path -> -ENOENT; "" -> -EINVAL (or -ENOENT);
 *              a 10000-byte path -> -EINVAL or -ENAMETOOLONG;
 *              a directory -> -ENOENT, -ENOEXEC, -EACCES or -EINVAL
 *   sys_wait: pids 0, -1, 1, 999999, LONG_MIN with no children -> -ECHILD;
 *             a child waited for twice -> second time -ECHILD
 *   sys_thread_create: entry in kernel space / non-canonical -> -EFAULT;
 *             stack_top in kernel space / non-canonical -> -EFAULT or -EINVAL
 *   sys_shutdown from a process other than init -> -EPERM
 *   sys_sleep(0) -> 0 within 100 ms; sys_yield -> 0
 * Exits 0 only if every case matched.
 */
#include <utest.h>

static char long_path[10000];
static uint8_t thread_stack[4096] __attribute__((aligned(16)));

static void never_run(void *arg)
{
	u_printf("badargs: a thread that should not exist is running\n");
	sys_exit(3);
}

static void test_info(void)
{
	uint64_t v = 0x5a5a;

	EXPECT_ERR("sys_info(ALDER_INFO_COUNT)", sys_info(ALDER_INFO_COUNT, &v), ALDER_EINVAL);
	EXPECT_ERR("sys_info(0xffffffff)", sys_info(0xffffffffu, &v), ALDER_EINVAL);
	EXPECT_ERR("sys_info(0x80000000)", sys_info(0x80000000u, &v), ALDER_EINVAL);

	uint64_t count = 0, cpu = ~0ull, frames = 0, peak = 0, tsc1 = 0, tsc2 = 0, flags;
	EXPECT(sys_info(ALDER_INFO_CPU_COUNT, &count) == 0 && count >= 1 && count <= 4096);
	EXPECT(sys_info(ALDER_INFO_CPU_ID, &cpu) == 0 && cpu < count);
	EXPECT(sys_info(ALDER_INFO_FREE_FRAMES, &frames) == 0 && frames > 0);
	EXPECT(sys_info(ALDER_INFO_PEAK_KIB, &peak) == 0 && peak > 0);
	EXPECT(sys_info(ALDER_INFO_TSC, &tsc1) == 0 && sys_info(ALDER_INFO_TSC, &tsc2) == 0 && tsc2 > tsc1);
	EXPECT(sys_info(ALDER_INFO_BOOT_FLAGS, &flags) == 0);
}

static void test_spawn(void)
{
	static const char missing[] = "/tests/no_such_program";
	long r;

	r = sys_spawn(missing, sizeof(missing) - 1, "", 0);
	EXPECT_ERR("sys_spawn(missing path)", r, ALDER_ENOENT);

	r = sys_spawn("", 0, "", 0);
	EXPECT_ERR2("sys_spawn(\"\")", r, ALDER_EINVAL, ALDER_ENOENT);

	memset(long_path, 'a', sizeof(long_path));
	long_path[0] = '/';
	r = sys_spawn(long_path, sizeof(long_path), "", 0);
	EXPECT_ERR2("sys_spawn(10000-byte path)", r, ALDER_EINVAL, ALDER_ENAMETOOLONG);

	r = sys_spawn("/tests", 6, "", 0);
	if (r != -ALDER_ENOENT && r != -ALDER_ENOEXEC && r != -ALDER_EACCES && r != -ALDER_EINVAL)
		u_expect_fail(__FILE__, __LINE__,
			      "sys_spawn(directory /tests): got %ld (%s), expected an error", r,
			      u_errname(r));
}

static void test_wait(void)
{
	static const long pids[] = {0, -1, 1, 999999, -__LONG_MAX__ - 1};
	struct alder_exit_info info;
	char name[64];

	for (size_t i = 0; i < U_ARRAY_SIZE(pids); i++) {
		u_snprintf(name, sizeof(name), "sys_wait(%ld) without children", pids[i]);
		EXPECT_ERR(name, sys_wait(pids[i], &info), ALDER_ECHILD);
	}

	long pid = sys_spawn("/tests/hello", 12, "", 0);
	if (pid < 0) {
		u_expect_fail(__FILE__, __LINE__, "spawn /tests/hello: %ld (%s)", pid, u_errname(pid));
		return;
	}
	info.how = -1;
	long r = sys_wait(pid, &info);
	EXPECT(r >= 0);
	EXPECT(info.how == ALDER_EXIT_NORMAL && info.status == 0);
	EXPECT_ERR("second sys_wait on the same child", sys_wait(pid, &info), ALDER_ECHILD);
}

static void test_thread_create(void)
{
	void *top = thread_stack + sizeof(thread_stack);
	long r;

	r = sys_thread_create((void (*)(void *))0xffffffff80000000ull, NULL, top);
	EXPECT_ERR("sys_thread_create(kernel entry)", r, ALDER_EFAULT);
	r = sys_thread_create((void (*)(void *))0xffff800000000000ull, NULL, top);
	EXPECT_ERR("sys_thread_create(direct-map entry)", r, ALDER_EFAULT);
	r = sys_thread_create((void (*)(void *))0x8000000000000000ull, NULL, top);
	EXPECT_ERR("sys_thread_create(non-canonical entry)", r, ALDER_EFAULT);
	/* A non-canonical rsp must not reach SYSRET/IRET in the kernel. */
	r = sys_thread_create(never_run, NULL, (void *)0xffffffff80001000ull);
	EXPECT_ERR2("sys_thread_create(kernel stack_top)", r, ALDER_EFAULT, ALDER_EINVAL);
	r = sys_thread_create(never_run, NULL, (void *)0x8000000000001000ull);
	EXPECT_ERR2("sys_thread_create(non-canonical stack_top)", r, ALDER_EFAULT, ALDER_EINVAL);
}

static void test_misc(void)
{
	EXPECT_ERR("sys_shutdown from a non-init process", sys_shutdown(0), ALDER_EPERM);

	uint64_t t0 = 0, t1 = 0;
	EXPECT(sys_clock(&t0) == 0);
	long r = sys_sleep(0);
	EXPECT(sys_clock(&t1) == 0);
	if (r != 0)
		u_expect_fail(__FILE__, __LINE__, "sys_sleep(0) = %ld (%s)", r, u_errname(r));
	if (t1 - t0 >= 100 * U_NS_PER_MS)
		u_expect_fail(__FILE__, __LINE__, "sys_sleep(0) took %lu ns", t1 - t0);
	EXPECT(sys_yield() == 0);
}

int main(const char *arg, size_t arg_len)
{
	test_info();
	test_spawn();
	test_wait();
	test_thread_create();
	test_misc();
	return u_test_end("badargs");
}
