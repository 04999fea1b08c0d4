/*
 * Kernel self-tests, run at boot in test mode (alder.mode=test) after all
 * CPUs are up and before the first user program. Each returns NULL on
 * success or a short failure reason. Results go to the serial port as
 * "[test] PASS kernel.<name>" / "[test] FAIL kernel.<name>: <reason>".
 */
#ifndef KERN_SELFTEST_H
#define KERN_SELFTEST_H

struct selftest {
	const char *name;
	const char *(*fn)(void);
};

#define SELFTEST(n)                                                                   \
	static const char *selftest_##n(void);                                        \
	static const struct selftest selftest_desc_##n                                \
		__attribute__((used, section(".selftest"), aligned(8))) = { #n, selftest_##n }; \
	static const char *selftest_##n(void)

#define ST_CHECK(cond)                                                                \
	do {                                                                          \
		if (!(cond))                                                          \
			return "check failed: " #cond;                                \
	} while (0)

unsigned selftest_run_all(void); /* returns failures */

#endif
