/*
 * musl clock: clock_gettime on every clock the shim answers, monotonic
 * progress, nanosleep and clock_nanosleep (relative and TIMER_ABSTIME)
 * sleeping at least as long as asked, and the errors: unknown clocks,
 * clocks one cannot sleep on, malformed timespecs, bad pointers.
 * Argument "alder" (as init runs it): also check what the shim answers
 * differently from Linux (CLOCK_REALTIME is the monotonic clock, CPU-time
 * clocks are refused). Without it the program passes on the host's Linux.
 * Exit 0 when every check holds; else the line number of the failed check.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define CHECK(c)                                                                                             \
	do {                                                                                                 \
		if (!(c)) {                                                                                  \
			fprintf(stderr, "musl clock: %s:%d: %s (errno %d)\n", __FILE__, __LINE__, #c,        \
				errno);                                                                      \
			return __LINE__;                                                                     \
		}                                                                                            \
	} while (0)
#define CHECK_ERR(call, err) CHECK((call) && errno == (err))

#define NS 1000000000ll
#define MS 1000000ll
/* A pointer into the kernel half: never user memory. */
#define KERNEL_PTR ((void *)0xffffffff80000000ul)

static long long ns_of(const struct timespec *t)
{
	return t->tv_sec * NS + t->tv_nsec;
}

static long long now(clockid_t c)
{
	struct timespec t;
	if (clock_gettime(c, &t) != 0)
		return -1;
	return ns_of(&t);
}

int main(int argc, char **argv)
{
	int alder = argc > 1 && strcmp(argv[1], "alder") == 0;
	static const clockid_t clocks[] = {CLOCK_REALTIME,	  CLOCK_MONOTONIC,	  CLOCK_MONOTONIC_RAW,
					   CLOCK_REALTIME_COARSE, CLOCK_MONOTONIC_COARSE, CLOCK_BOOTTIME};

	for (size_t i = 0; i < sizeof(clocks) / sizeof(clocks[0]); i++) {
		struct timespec t = {-1, -1};
		CHECK(clock_gettime(clocks[i], &t) == 0);
		CHECK(t.tv_sec >= 0 && t.tv_nsec >= 0 && t.tv_nsec < NS);
	}

	/* Monotonic: never goes back over many reads. */
	long long prev = now(CLOCK_MONOTONIC);
	CHECK(prev >= 0);
	for (int i = 0; i < 1000; i++) {
		long long t = now(CLOCK_MONOTONIC);
		CHECK(t >= prev);
		prev = t;
	}
	if (alder) {
		/* No wall clock yet: CLOCK_REALTIME reads the monotonic clock. */
		long long m = now(CLOCK_MONOTONIC), r = now(CLOCK_REALTIME), m2 = now(CLOCK_MONOTONIC);
		CHECK(r >= m && r <= m2);
		long long b = now(CLOCK_BOOTTIME);
		CHECK(b >= m2);
		/* CPU-time clocks are not kept. */
		struct timespec t;
		CHECK_ERR(syscall(SYS_clock_gettime, CLOCK_PROCESS_CPUTIME_ID, &t) == -1, EINVAL);
		CHECK_ERR(syscall(SYS_clock_gettime, CLOCK_THREAD_CPUTIME_ID, &t) == -1, EINVAL);
	}
	time_t tt = time(NULL);
	CHECK(tt >= 0);

	/* Errors. */
	struct timespec t;
	CHECK_ERR(syscall(SYS_clock_gettime, 99, &t) == -1, EINVAL);
	CHECK_ERR(syscall(SYS_clock_gettime, 16, &t) == -1, EINVAL);
	CHECK_ERR(syscall(SYS_clock_gettime, CLOCK_MONOTONIC, (void *)8) == -1, EFAULT);
	CHECK_ERR(syscall(SYS_clock_gettime, CLOCK_MONOTONIC, KERNEL_PTR) == -1, EFAULT);

	/* nanosleep: at least as long as asked (and not absurdly longer). */
	long long t0 = now(CLOCK_MONOTONIC);
	struct timespec req = {0, 20 * MS};
	CHECK(nanosleep(&req, NULL) == 0);
	long long slept = now(CLOCK_MONOTONIC) - t0;
	CHECK(slept >= 20 * MS && slept < 5 * NS);

	struct timespec zero = {0, 0};
	CHECK(nanosleep(&zero, NULL) == 0);
	CHECK(usleep(1000) == 0);

	struct timespec bad = {0, NS};
	CHECK_ERR(nanosleep(&bad, NULL) == -1, EINVAL);
	struct timespec neg = {-1, 0};
	CHECK_ERR(nanosleep(&neg, NULL) == -1, EINVAL);
	struct timespec negns = {0, -1};
	CHECK_ERR(nanosleep(&negns, NULL) == -1, EINVAL);
	CHECK_ERR(nanosleep((void *)8, NULL) == -1, EFAULT);
	CHECK_ERR(nanosleep(KERNEL_PTR, NULL) == -1, EFAULT);

	/* clock_nanosleep returns the error number instead of setting errno. */
	t0 = now(CLOCK_MONOTONIC);
	req.tv_nsec = 10 * MS;
	CHECK(clock_nanosleep(CLOCK_MONOTONIC, 0, &req, NULL) == 0);
	CHECK(now(CLOCK_MONOTONIC) - t0 >= 10 * MS);

	long long target = now(CLOCK_MONOTONIC) + 15 * MS;
	struct timespec abs = {target / NS, target % NS};
	CHECK(clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &abs, NULL) == 0);
	CHECK(now(CLOCK_MONOTONIC) >= target);
	/* An absolute time in the past returns at once. */
	struct timespec past = {0, 1};
	CHECK(clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &past, NULL) == 0);

	CHECK(clock_nanosleep(CLOCK_BOOTTIME, 0, &zero, NULL) == 0);
	CHECK(clock_nanosleep(CLOCK_REALTIME, 0, &zero, NULL) == 0);
	CHECK(clock_nanosleep(CLOCK_MONOTONIC_RAW, 0, &zero, NULL) == ENOTSUP);
	CHECK(clock_nanosleep(CLOCK_MONOTONIC_COARSE, 0, &zero, NULL) == ENOTSUP);
	CHECK(clock_nanosleep(77, 0, &zero, NULL) == EINVAL);
	CHECK(clock_nanosleep(CLOCK_MONOTONIC, 0, &bad, NULL) == EINVAL);
	CHECK(clock_nanosleep(CLOCK_MONOTONIC, 0, (void *)8, NULL) == EFAULT);

	/* sched_yield always succeeds. */
	for (int i = 0; i < 10; i++)
		CHECK(sched_yield() == 0);

	printf("musl clock: all checks passed%s, slept %lld ms for 20\n",
	       alder ? " (with the shim's own)" : "", slept / MS);
	return 0;
}
