/*
 * leak_objects: objects, mappings and spaces give back every frame.
 *
 * In-process: one warm-up round, then ROUNDS rounds of: create an object,
 * map it, touch every page, make a COW view and a slice of it and write
 * through both, dup and close a handle, create a space, map the object into
 * it and write and read it with SYS_SPACE_RW, time out on a futex in the
 * object, close a handle while its mapping is still up, then unmap and close
 * everything. ALDER_INFO_FREE_FRAMES must come back to its value after the
 * warm-up (at least; re-read for up to a second in case the kernel frees
 * asynchronously). Fixed addresses, so page tables are reused, not grown.
 *
 * Across processes: the child mode ("child") does the same but exits
 * without unmapping or closing anything, with a second thread asleep in
 * SYS_FUTEX_WAIT and kernel-chosen mappings; the kernel must free it all
 * when the process ends. One warm-up run, then CHILD_RUNS runs. The
 * kernel heap's bytes in use (ALDER_INFO_HEAP_BYTES) must come back
 * exactly; free frames too, except that other processes running meanwhile
 * (init, the other CPU) can leave the heap one more empty slab in a cache:
 * then a second batch of runs must lose nothing more (a leak would).
 * Exits 0 if every check passed.
 */
#include <umem.h>
#include <utest.h>

#define BASE ((uint64_t)0x1a0000000)
#define PAGE U_PAGE_SIZE
#define SELF ALDER_HANDLE_SELF_SPACE
#define RW (ALDER_PROT_READ | ALDER_PROT_WRITE)
#define NP 8
#define ROUNDS 200
#define CHILD_RUNS 20
#define STACK_SIZE 16384

#define OBJ_AT (BASE)
#define VIEW_AT (BASE + 16 * PAGE)
#define SLICE_AT (BASE + 32 * PAGE)
#define ORPHAN_AT (BASE + 48 * PAGE)
#define IN_SPACE_AT ((uint64_t)0x20000000)

static uint8_t stack[STACK_SIZE] __attribute__((aligned(16)));

static uint64_t free_frames(void)
{
	uint64_t v;

	CHECK_EQ(sys_info(ALDER_INFO_FREE_FRAMES, &v), 0);
	return v;
}

/* Heap bytes in use, re-read for up to a second until at most want. */
static uint64_t heap_back_to(uint64_t want)
{
	uint64_t deadline = u_now_ns() + U_NS_PER_SEC, now;

	while ((now = u_info(ALDER_INFO_HEAP_BYTES, 0)) > want && u_now_ns() < deadline)
		sys_sleep(10 * U_NS_PER_MS);
	return now;
}

static uint64_t frames_back_to(uint64_t want)
{
	uint64_t deadline = u_now_ns() + U_NS_PER_SEC, now;

	while ((now = free_frames()) < want && u_now_ns() < deadline)
		sys_sleep(10 * U_NS_PER_MS);
	return now;
}

static long must(long r, const char *what)
{
	if (r < 0) {
		u_printf("leak_objects: %s: %ld (%s)\n", what, r, u_errname(r));
		sys_exit(1);
	}
	return r;
}

static void touch(uint64_t at, unsigned pages, uint32_t v)
{
	for (unsigned p = 0; p < pages; p++)
		*(volatile uint32_t *)(at + p * PAGE) = v + p;
}

/* One round; with cleanup false (child), leave everything behind. */
static void round_once(uint32_t n, bool cleanup, bool fixed)
{
	alder_handle_t obj = (alder_handle_t)must(u_mem_create(NP * PAGE, 0), "mem_create");
	uint64_t obj_at =
	    (uint64_t)must(u_space_map(SELF, obj, 0, fixed ? OBJ_AT : 0, NP * PAGE, RW), "map obj");
	touch(obj_at, NP, n);

	alder_handle_t view = (alder_handle_t)must(u_mem_create_cow(obj, 0, NP * PAGE), "cow");
	uint64_t view_at =
	    (uint64_t)must(u_space_map(SELF, view, 0, fixed ? VIEW_AT : 0, NP * PAGE, RW), "map view");
	touch(view_at, NP / 2, n + 100); /* copies half the pages */

	alder_handle_t sl = (alder_handle_t)must(u_mem_create_slice(obj, 2 * PAGE, 4 * PAGE), "slice");
	uint64_t slice_at =
	    (uint64_t)must(u_space_map(SELF, sl, 0, fixed ? SLICE_AT : 0, 4 * PAGE, RW), "map slice");
	touch(slice_at, 4, n + 200);

	alder_handle_t d = (alder_handle_t)must(u_handle_dup(obj, ALDER_RIGHT_READ | ALDER_RIGHT_MAP), "dup");

	alder_handle_t sp = (alder_handle_t)must(u_space_create(), "space_create");
	must(u_space_map(sp, obj, 0, IN_SPACE_AT, NP * PAGE, RW), "map into space");
	must(u_space_map(sp, view, 0, IN_SPACE_AT + 64 * PAGE, NP * PAGE, RW), "map view into space");
	uint32_t v = n;
	must(u_space_rw(sp, IN_SPACE_AT + 3 * PAGE + 16, &v, sizeof(v), true), "rw write");
	must(u_space_rw(sp, IN_SPACE_AT + 64 * PAGE + 7 * PAGE, &v, sizeof(v), true), "rw write view");
	uint32_t back = 0;
	must(u_space_rw(sp, IN_SPACE_AT + 3 * PAGE + 16, &back, sizeof(back), false), "rw read");
	if (back != n) {
		u_printf("leak_objects: round %u: rw read back %u\n", n, back);
		sys_exit(1);
	}

	/* Page 7: written only by touch() above (the slice covers 2..5). */
	long r = u_futex_wait((const uint32_t *)(obj_at + 7 * PAGE), n + 7, 1);
	if (r != -ALDER_ETIMEDOUT) {
		u_printf("leak_objects: round %u: futex wait: %ld (%s)\n", n, r, u_errname(r));
		sys_exit(1);
	}

	/* An object whose handle is closed while mapped. */
	alder_handle_t orphan = (alder_handle_t)must(u_mem_create(2 * PAGE, 0), "orphan");
	uint64_t orphan_at =
	    (uint64_t)must(u_space_map(SELF, orphan, 0, fixed ? ORPHAN_AT : 0, 2 * PAGE, RW), "map orphan");
	must(u_handle_close(orphan), "close orphan");
	touch(orphan_at, 2, n);

	if (!cleanup)
		return;
	must(u_space_unmap(SELF, orphan_at, 2 * PAGE), "unmap orphan");
	must(u_handle_close(sp), "close space");
	must(u_handle_close(d), "close dup");
	must(u_space_unmap(SELF, slice_at, 4 * PAGE), "unmap slice");
	must(u_handle_close(sl), "close slice");
	must(u_space_unmap(SELF, view_at, NP * PAGE), "unmap view");
	must(u_handle_close(view), "close view");
	must(u_space_unmap(SELF, obj_at, NP * PAGE), "unmap obj");
	must(u_handle_close(obj), "close obj");
}

static uint32_t sleep_word;

static void child_sleeper(void *arg)
{
	u_futex_wait(&sleep_word, 0, 0);
}

static int child(void)
{
	round_once(1, false, true);
	round_once(2, false, false); /* a second set, kernel-chosen addresses */
	CHECK(u_thread_start(child_sleeper, NULL, stack, STACK_SIZE) > 0);
	sys_sleep(5 * U_NS_PER_MS);
	return 0;
}

static void run_child(int i)
{
	struct alder_exit_info info = {.how = -1};
	const char *call = "?";
	long r = u_run("/tests/leak_objects", "child", &info, &call);

	if (r < 0) {
		u_printf("leak_objects: child run %d: %s: %ld (%s)\n", i, call, r, u_errname(r));
		sys_exit(1);
	}
	if (info.how != ALDER_EXIT_NORMAL || info.status != 0) {
		char how[96];
		u_format_exit(how, sizeof(how), &info);
		u_printf("leak_objects: child run %d: %s\n", i, how);
		sys_exit(1);
	}
}

int main(const char *arg, size_t arg_len)
{
	if (strcmp(arg, "child") == 0)
		return child();

	round_once(0, true, true); /* warm-up */
	uint64_t f0 = free_frames();
	for (uint32_t n = 1; n <= ROUNDS; n++)
		round_once(n * 1000, true, true);
	uint64_t f1 = frames_back_to(f0);
	if (f1 < f0)
		u_expect_fail(__FILE__, __LINE__, "%d rounds leaked %lu frames (%lu -> %lu)", ROUNDS, f0 - f1,
			      f0, f1);

	run_child(0); /* warm-up */
	f0 = free_frames();
	uint64_t b0 = u_info(ALDER_INFO_HEAP_BYTES, 0);
	for (int i = 1; i <= CHILD_RUNS; i++)
		run_child(i);
	uint64_t b1 = heap_back_to(b0);
	if (b1 > b0)
		u_expect_fail(__FILE__, __LINE__, "%d child runs leaked %lu heap bytes (%lu -> %lu)", CHILD_RUNS,
			      b1 - b0, b0, b1);
	f1 = frames_back_to(f0);
	if (f1 < f0) {
		/* A cache's empty slab, or a leak? A second batch tells. */
		for (int i = 1; i <= CHILD_RUNS; i++)
			run_child(CHILD_RUNS + i);
		uint64_t f2 = frames_back_to(f1);
		if (f2 < f1)
			u_expect_fail(__FILE__, __LINE__,
				      "%d child runs leaked %lu frames (%lu -> %lu), and %d more %lu (-> %lu)",
				      CHILD_RUNS, f0 - f1, f0, f1, CHILD_RUNS, f1 - f2, f2);
	}
	return u_test_end("leak_objects");
}
