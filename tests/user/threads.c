/*
 * threads: three extra threads on static stacks each add 1 to a shared
 * atomic counter ITERS times and end with sys_thread_exit. The argument
 * picks how the process ends:
 *   ""         main polls (sys_sleep, bounded) until all have finished,
 *              checks the total and the per-thread arguments, exits 0
 *   "mainexit" main ends its own thread at once; the last worker checks the
 *              total and calls sys_exit(42): the process must outlive its
 *              first thread and a non-main thread may end it (expect 42)
 *   "lastexit" main ends its own thread at once; every worker ends with
 *              sys_thread_exit; the process must end, with status 0, when
 *              its last thread does (a wrong total exits 1 instead)
 */
#include <utest.h>

#define NTHREADS 3
#define ITERS 200000ul
#define STACK_SIZE 16384

enum mode { MODE_WAIT, MODE_MAINEXIT, MODE_LASTEXIT };

static uint8_t stacks[NTHREADS][STACK_SIZE] __attribute__((aligned(16)));
static enum mode mode; /* written by main before any thread starts */

/* Shared between main and the workers, only through u_atomic_*. */
static unsigned long counter;
static unsigned finished;
static unsigned ran[NTHREADS]; /* worker i sets ran[i] to i + 1 */

static void worker(void *arg)
{
	uintptr_t idx = (uintptr_t)arg;

	if (idx >= NTHREADS) {
		u_printf("threads: worker got argument %lu\n", (unsigned long)idx);
		sys_exit(4);
	}
	for (unsigned long i = 0; i < ITERS; i++)
		u_atomic_fetch_add(&counter, 1);
	u_atomic_store(&ran[idx], (unsigned)idx + 1);

	unsigned done = u_atomic_fetch_add(&finished, 1) + 1;
	if (done == NTHREADS && mode != MODE_WAIT) {
		unsigned long total = u_atomic_load(&counter);
		if (total != NTHREADS * ITERS) {
			u_printf("threads: total %lu, expected %lu\n", total, NTHREADS * ITERS);
			sys_exit(1);
		}
		if (mode == MODE_MAINEXIT)
			sys_exit(42);
	}
	sys_thread_exit();
}

int main(const char *arg, size_t arg_len)
{
	long tids[NTHREADS];

	if (strcmp(arg, "") == 0)
		mode = MODE_WAIT;
	else if (strcmp(arg, "mainexit") == 0)
		mode = MODE_MAINEXIT;
	else if (strcmp(arg, "lastexit") == 0)
		mode = MODE_LASTEXIT;
	else {
		u_printf("threads: unknown argument \"%s\" (\"\", mainexit, lastexit)\n", arg);
		return 2;
	}

	for (uintptr_t i = 0; i < NTHREADS; i++) {
		tids[i] = u_thread_start(worker, (void *)i, stacks[i], STACK_SIZE);
		if (tids[i] < 0) {
			u_printf("threads: sys_thread_create: %ld (%s)\n", tids[i], u_errname(tids[i]));
			return 1;
		}
		for (uintptr_t j = 0; j < i; j++)
			CHECK(tids[i] != tids[j]);
	}

	if (mode != MODE_WAIT)
		sys_thread_exit();

	uint64_t deadline = u_now_ns() + 20 * U_NS_PER_SEC;
	while (u_atomic_load(&finished) < NTHREADS) {
		if (u_now_ns() > deadline) {
			u_printf("threads: only %u of %d threads finished in 20 s (counter %lu)\n",
				 u_atomic_load(&finished), NTHREADS, u_atomic_load(&counter));
			return 1;
		}
		CHECK_EQ(sys_sleep(U_NS_PER_MS), 0);
	}
	CHECK_EQ(u_atomic_load(&counter), NTHREADS * ITERS);
	for (unsigned i = 0; i < NTHREADS; i++)
		CHECK_EQ(u_atomic_load(&ran[i]), i + 1);
	return 0;
}
