/*
 * Helpers for the in-VM user test programs (tests/user/). A test program
 * exits 0 when it passes and non-zero otherwise, after printing why; init
 * turns that into the [test] PASS/FAIL line. CHECK* stop at the first
 * failure; EXPECT* (for programs that try many cases, like badptr) print and
 * count the failure and carry on, and the program ends with u_test_end().
 */
#ifndef ULIB_UTEST_H
#define ULIB_UTEST_H

#include <ulib.h>

noreturn void u_check_failed(const char *expr, const char *file, int line);
noreturn void u_check_failed_eq(const char *a_expr, const char *b_expr, long long a, long long b,
				const char *file, int line);

/* Stop with "check failed: <expr> at file:line" and exit status 1. */
#define CHECK(cond)                                                                                          \
	do {                                                                                                 \
		if (!(cond))                                                                                 \
			u_check_failed(#cond, __FILE__, __LINE__);                                           \
	} while (0)

/* Like CHECK(a == b), printing both values. */
#define CHECK_EQ(a, b)                                                                                       \
	do {                                                                                                 \
		long long u_a_ = (long long)(a), u_b_ = (long long)(b);                                      \
		if (u_a_ != u_b_)                                                                            \
			u_check_failed_eq(#a, #b, u_a_, u_b_, __FILE__, __LINE__);                           \
	} while (0)

/* Failures counted by the EXPECT_* helpers in this process. */
extern unsigned u_test_failures;

/*
 * Expect a system-call result to be exactly -e1 or -e2 (pass the same errno
 * twice for one). what names the case in the failure message. Returns true
 * if it matched.
 */
bool u_expect_err2(const char *what, long got, int e1, int e2, const char *file, int line);
#define EXPECT_ERR(what, got, e) u_expect_err2((what), (got), (e), (e), __FILE__, __LINE__)
#define EXPECT_ERR2(what, got, e1, e2) u_expect_err2((what), (got), (e1), (e2), __FILE__, __LINE__)

/* Record a failure with a message (printf format). */
void u_expect_fail(const char *file, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
#define EXPECT(cond)                                                                                         \
	do {                                                                                                 \
		if (!(cond))                                                                                 \
			u_expect_fail(__FILE__, __LINE__, "%s", #cond);                                      \
	} while (0)

/* Kernel objects alive (ALDER_INFO_LIVE_OBJECTS), and the same once the
 * count has stopped changing (a previous process may still be being torn
 * down: dead threads are freed lazily); for leak-check baselines. */
uint64_t u_live_objects(void);
uint64_t u_live_settled(void);

/* r if it is not an error; else print "check failed: <what>: <r> (<errno>)" and
 * exit with status 1. For set-up calls a test cannot go on without. */
long u_must(long r, const char *what);

/* Exit status for main: 0 if no EXPECT failed, else 1 (and says how many). */
int u_test_end(const char *name);

#endif
