/*
 * spawn_many: runs one child program 50 times in a row and checks that each
 * ends as expected and that no physical frames leak: ALDER_INFO_FREE_FRAMES
 * after the 50 runs must be at least what it was after one warm-up run
 * (tolerance 0; the warm-up lets kernel caches reach their steady size).
 * If the count is short, it is re-read for up to a second in case the kernel
 * frees a dead process's memory asynchronously; a real leak stays short.
 *
 * The argument picks the child, so the exit path and the kill paths are
 * both covered:
 *   "" or "hello" - /tests/hello, must exit 0
 *   "fault"       - /tests/fault_null, must die of #PF
 *   "badsys"      - /tests/badsys native, must be killed as ALDER_EXIT_BADSYS
 *   "threads"     - /tests/threads, must exit 0 (process with 4 threads)
 */
#include <utest.h>

#define RUNS 50

struct child {
	const char *name, *path, *arg;
	int how, status; /* status -1: any */
};

static const struct child children[] = {
    {"hello", "/tests/hello", "", ALDER_EXIT_NORMAL, 0},
    {"fault", "/tests/fault_null", "", ALDER_EXIT_FAULT, 14},
    {"badsys", "/tests/badsys", "native", ALDER_EXIT_BADSYS, -1},
    {"threads", "/tests/threads", "", ALDER_EXIT_NORMAL, 0},
};

static void run_once(const struct child *c, int n)
{
	struct alder_exit_info info = {.how = -1, .status = -1};
	const char *call = "?";
	long r = u_run(c->path, c->arg, &info, &call);

	if (r < 0) {
		u_printf("spawn_many: run %d of %s: %s failed: %ld (%s)\n", n, c->path, call, r,
			 u_errname(r));
		sys_exit(1);
	}
	if (info.how != c->how || (c->status != -1 && info.status != c->status)) {
		char got[96];
		u_format_exit(got, sizeof(got), &info);
		u_printf("spawn_many: run %d of %s: %s, expected how %d status %d\n", n, c->path, got, c->how,
			 c->status);
		sys_exit(1);
	}
}

static uint64_t free_frames(void)
{
	uint64_t v;

	CHECK_EQ(sys_info(ALDER_INFO_FREE_FRAMES, &v), 0);
	return v;
}

int main(const char *arg, size_t arg_len)
{
	const struct child *c = NULL;
	const char *want = arg_len == 0 ? "hello" : arg;

	for (size_t i = 0; i < U_ARRAY_SIZE(children); i++) {
		if (strcmp(children[i].name, want) == 0)
			c = &children[i];
	}
	if (c == NULL) {
		u_printf("spawn_many: unknown argument \"%s\" (hello, fault, badsys, threads)\n", arg);
		return 2;
	}

	run_once(c, 0); /* warm-up */
	sys_sleep(10 * U_NS_PER_MS);
	uint64_t before = free_frames();
	for (int i = 1; i <= RUNS; i++)
		run_once(c, i);

	uint64_t after = free_frames();
	for (int tries = 0; after < before && tries < 100; tries++) {
		sys_sleep(10 * U_NS_PER_MS);
		after = free_frames();
	}
	u_printf("spawn_many: %d runs of %s: free frames %lu before, %lu after\n", RUNS, c->path, before,
		 after);
	if (after < before) {
		u_printf("spawn_many: %lu frames leaked (%lu per run)\n", before - after,
			 (before - after) / RUNS);
		return 1;
	}
	return 0;
}
