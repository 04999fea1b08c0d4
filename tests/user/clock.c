/*
 * clock: sys_clock is monotonic (never goes back over 100000 reads) and
 * sys_sleep(20 ms) advances it by at least 20 ms and less than 2 s. Also
 * checks that the TSC moves forward across the sleep.
 */
#include <utest.h>

int main(const char *arg, size_t arg_len)
{
	uint64_t prev = 0, now = 0;

	CHECK_EQ(sys_clock(&prev), 0);
	for (int i = 0; i < 100000; i++) {
		CHECK_EQ(sys_clock(&now), 0);
		if (now < prev) {
			u_printf("clock: went back from %lu to %lu at read %d\n", prev, now, i);
			return 1;
		}
		prev = now;
	}

	uint64_t t0, t1, tsc0 = u_rdtsc();
	CHECK_EQ(sys_clock(&t0), 0);
	CHECK_EQ(sys_sleep(20 * U_NS_PER_MS), 0);
	CHECK_EQ(sys_clock(&t1), 0);
	uint64_t tsc1 = u_rdtsc();
	uint64_t slept = t1 - t0;
	u_printf("clock: sys_sleep(20 ms) took %lu ns\n", slept);
	CHECK(t1 >= t0);
	CHECK(slept >= 20 * U_NS_PER_MS);
	CHECK(slept < 2 * U_NS_PER_SEC);
	CHECK(tsc1 > tsc0);
	return 0;
}
