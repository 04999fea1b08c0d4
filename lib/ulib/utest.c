/*
 * Failure reporting for lib/ulib/include/utest.h. Output goes through
 * u_printf, so each message is one log line.
 */
#include <utest.h>

unsigned u_test_failures;

noreturn void u_check_failed(const char *expr, const char *file, int line)
{
	u_printf("check failed: %s at %s:%d\n", expr, file, line);
	sys_exit(1);
}

noreturn void u_check_failed_eq(const char *a_expr, const char *b_expr, long long a, long long b,
				const char *file, int line)
{
	u_printf("check failed: %s == %s (%lld vs %lld, 0x%llx vs 0x%llx) at %s:%d\n", a_expr, b_expr, a, b,
		 (unsigned long long)a, (unsigned long long)b, file, line);
	sys_exit(1);
}

bool u_expect_err2(const char *what, long got, int e1, int e2, const char *file, int line)
{
	if (got == -(long)e1 || got == -(long)e2)
		return true;
	__atomic_fetch_add(&u_test_failures, 1, __ATOMIC_RELAXED);
	if (e1 == e2)
		u_printf("check failed: %s: got %ld (%s), expected -%s at %s:%d\n", what, got,
			 got < 0 ? u_errname(got) : "not an error", u_errname(e1), file, line);
	else
		u_printf("check failed: %s: got %ld (%s), expected -%s or -%s at %s:%d\n", what, got,
			 got < 0 ? u_errname(got) : "not an error", u_errname(e1), u_errname(e2), file, line);
	return false;
}

void u_expect_fail(const char *file, int line, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	__atomic_fetch_add(&u_test_failures, 1, __ATOMIC_RELAXED);
	va_start(ap, fmt);
	u_vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	u_printf("check failed: %s at %s:%d\n", msg, file, line);
}

long u_must(long r, const char *what)
{
	if (r < 0) {
		u_printf("check failed: %s: %ld (%s)\n", what, r, u_errname(r));
		sys_exit(1);
	}
	return r;
}

int u_test_end(const char *name)
{
	unsigned n = __atomic_load_n(&u_test_failures, __ATOMIC_RELAXED);

	if (n == 0)
		return 0;
	u_printf("%s: %u check(s) failed\n", name, n);
	return 1;
}

uint64_t u_live_objects(void)
{
	uint64_t v = 0;
	sys_info(ALDER_INFO_LIVE_OBJECTS, &v);
	return v;
}

uint64_t u_live_settled(void)
{
	uint64_t deadline = u_now_ns() + U_NS_PER_SEC, prev = u_live_objects();
	int same = 0;

	while (same < 3 && u_now_ns() < deadline) {
		sys_sleep(U_NS_PER_SEC / 100);
		uint64_t now = u_live_objects();
		same = now == prev ? same + 1 : 0;
		prev = now;
	}
	return prev;
}
