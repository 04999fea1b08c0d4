/*
 * handles: SYS_HANDLE_CLOSE, SYS_HANDLE_DUP and SYS_HANDLE_INFO.
 *
 * Success paths: info of new memory and space handles (type, rights, koid),
 * dup with the full and a reduced mask (same koid, rights masked, never
 * gained), the dup outliving the original, koids unique even after close.
 * Bad inputs: handle 0, negative handles, the root handle number (a child
 * has no root handle), huge numbers, closed handles (double close), dup
 * without DUPLICATE (-EACCES), info into bad pointers (-EFAULT), a full
 * handle table (-EMFILE). Races: two threads closing the same handle (exactly
 * one wins), and one thread closing a handle while another maps it and uses
 * the mapping (each call succeeds or says -EBADF; mappings stay usable).
 * Exits 0 if every check passed.
 */
#include <umem.h>
#include <utest.h>

#define BASE ((uint64_t)0x100000000)
#define STACK_SIZE 16384
#define RACE_ROUNDS 200

/* One stack per worker: a finished worker still runs briefly on its stack
 * after saying so. */
static uint8_t stacks[2][STACK_SIZE] __attribute__((aligned(16)));

static struct alder_handle_info info_of(alder_handle_t h)
{
	struct alder_handle_info info = {0, 0, 0};
	long r = u_handle_info(h, &info);

	if (r != 0)
		u_expect_fail(__FILE__, __LINE__, "info(%d) = %ld (%s)", h, r, u_errname(r));
	return info;
}

static alder_handle_t new_mem(uint64_t size)
{
	long h = u_mem_create(size, 0);

	if (h <= 0) {
		u_printf("handles: mem_create(%lu): %ld (%s)\n", size, h, u_errname(h));
		sys_exit(1);
	}
	return (alder_handle_t)h;
}

/* Before any handle exists: the numbers a fresh child might guess. */
static void test_empty_table(void)
{
	struct alder_handle_info info;

	EXPECT_ERR("info(ROOT) in a child", u_handle_info(ALDER_HANDLE_ROOT, &info), ALDER_EBADF);
	EXPECT_ERR("close(ROOT) in a child", u_handle_close(ALDER_HANDLE_ROOT), ALDER_EBADF);
	EXPECT_ERR("dup(ROOT) in a child", u_handle_dup(ALDER_HANDLE_ROOT, ALDER_RIGHTS_ALL), ALDER_EBADF);
	EXPECT_ERR("info(2) in a child", u_handle_info(2, &info), ALDER_EBADF);
}

static void test_bad_numbers(void)
{
	static const alder_handle_t bad[] = {
	    ALDER_HANDLE_NONE, -2, -1000, INT32_MIN, INT32_MAX, 4096, 4097, 1 << 20,
	};
	struct alder_handle_info info;
	char what[64];

	for (size_t i = 0; i < U_ARRAY_SIZE(bad); i++) {
		u_snprintf(what, sizeof(what), "close(%d)", bad[i]);
		EXPECT_ERR(what, u_handle_close(bad[i]), ALDER_EBADF);
		u_snprintf(what, sizeof(what), "dup(%d)", bad[i]);
		EXPECT_ERR(what, u_handle_dup(bad[i], ALDER_RIGHTS_ALL), ALDER_EBADF);
		u_snprintf(what, sizeof(what), "info(%d)", bad[i]);
		EXPECT_ERR(what, u_handle_info(bad[i], &info), ALDER_EBADF);
	}
	/* The self-space pseudo-handle is never in the table: it cannot be
	 * closed. */
	EXPECT_ERR("close(SELF_SPACE)", u_handle_close(ALDER_HANDLE_SELF_SPACE), ALDER_EBADF);
	/* Info on it may describe the space or refuse; it must not lie. */
	long r = u_handle_info(ALDER_HANDLE_SELF_SPACE, &info);
	if (r == 0)
		EXPECT(info.type == ALDER_OBJ_SPACE);
	else
		EXPECT_ERR("info(SELF_SPACE)", r, ALDER_EBADF);
}

static void test_info(void)
{
	alder_handle_t m = new_mem(U_PAGE_SIZE);
	struct alder_handle_info mi = info_of(m);

	CHECK(m > 0);
	EXPECT(mi.type == ALDER_OBJ_MEMORY);
	EXPECT(mi.rights == ALDER_RIGHTS_ALL);
	EXPECT(mi.koid != 0);

	long s = u_space_create();
	CHECK(s > 0);
	CHECK(s != m);
	struct alder_handle_info si = info_of((alder_handle_t)s);
	const uint32_t space_rights =
	    ALDER_RIGHT_READ | ALDER_RIGHT_WRITE | ALDER_RIGHT_MANAGE | ALDER_RIGHT_DUPLICATE;
	EXPECT(si.type == ALDER_OBJ_SPACE);
	EXPECT((si.rights & space_rights) == space_rights);
	EXPECT(si.koid != 0 && si.koid != mi.koid);

	/* Bad output pointers; nothing may be written to read-only memory. */
	static const struct {
		const char *name;
		uint64_t addr;
	} bad[] = {
	    {"NULL", 0},
	    {"unmapped", 0x12345000},
	    {"kernel image", 0xffffffff80000000ull},
	    {"direct map", 0xffff800000000000ull},
	    {"non-canonical", 0x8000000000000000ull},
	    {"straddles user end", ULIB_USER_END - 8},
	};
	char what[80];
	for (size_t i = 0; i < U_ARRAY_SIZE(bad); i++) {
		u_snprintf(what, sizeof(what), "info(mem, %s)", bad[i].name);
		EXPECT_ERR(what, u_handle_info(m, (struct alder_handle_info *)(uintptr_t)bad[i].addr),
			   ALDER_EFAULT);
	}
	uint8_t before[16];
	memcpy(before, __rodata_start, sizeof(before));
	EXPECT_ERR("info(mem, rodata)",
		   u_handle_info(m, (struct alder_handle_info *)(uintptr_t)__rodata_start), ALDER_EFAULT);
	EXPECT(memcmp(before, __rodata_start, sizeof(before)) == 0);
	EXPECT_ERR("info(mem, text)", u_handle_info(m, (struct alder_handle_info *)(uintptr_t)__text_start),
		   ALDER_EFAULT);

	EXPECT(u_handle_close((alder_handle_t)s) == 0);
	EXPECT(u_handle_close(m) == 0);
	/* Closed: every call says EBADF (nothing was created since, so the
	 * numbers cannot have been reused). */
	EXPECT_ERR("info(closed)", u_handle_info(m, &mi), ALDER_EBADF);
	EXPECT_ERR("dup(closed)", u_handle_dup(m, ALDER_RIGHTS_ALL), ALDER_EBADF);
	EXPECT_ERR("close(closed)", u_handle_close(m), ALDER_EBADF);
	EXPECT_ERR("close(closed space)", u_handle_close((alder_handle_t)s), ALDER_EBADF);
}

static void test_dup(void)
{
	alder_handle_t m = new_mem(2 * U_PAGE_SIZE);
	struct alder_handle_info mi = info_of(m);

	/* Full mask: same object, same rights, a different number. */
	long d = u_handle_dup(m, ALDER_RIGHTS_ALL);
	CHECK(d > 0);
	CHECK(d != m);
	struct alder_handle_info di = info_of((alder_handle_t)d);
	EXPECT(di.type == ALDER_OBJ_MEMORY);
	EXPECT(di.koid == mi.koid);
	EXPECT(di.rights == ALDER_RIGHTS_ALL);

	/* Reduced mask: exactly the masked rights. */
	const uint32_t rm = ALDER_RIGHT_READ | ALDER_RIGHT_MAP;
	long r1 = u_handle_dup(m, rm);
	CHECK(r1 > 0);
	struct alder_handle_info ri = info_of((alder_handle_t)r1);
	EXPECT(ri.koid == mi.koid);
	EXPECT(ri.rights == rm);
	/* No DUPLICATE: cannot be duplicated, whatever the mask. */
	EXPECT_ERR("dup(no DUPLICATE, all)", u_handle_dup((alder_handle_t)r1, ALDER_RIGHTS_ALL),
		   ALDER_EACCES);
	EXPECT_ERR("dup(no DUPLICATE, same)", u_handle_dup((alder_handle_t)r1, rm), ALDER_EACCES);

	/* With DUPLICATE but few rights: a dup asking for everything must not
	 * gain any (or may be refused for unknown bits). */
	const uint32_t rmd = rm | ALDER_RIGHT_DUPLICATE;
	long r2 = u_handle_dup(m, rmd);
	CHECK(r2 > 0);
	long r3 = u_handle_dup((alder_handle_t)r2, 0xffffffffu);
	if (r3 >= 0) {
		struct alder_handle_info i3 = info_of((alder_handle_t)r3);
		if ((i3.rights & ~rmd) != 0)
			u_expect_fail(__FILE__, __LINE__, "dup gained rights: 0x%x from 0x%x", i3.rights,
				      rmd);
		EXPECT(u_handle_close((alder_handle_t)r3) == 0);
	} else {
		EXPECT_ERR("dup(mask 0xffffffff)", r3, ALDER_EINVAL);
	}
	r3 = u_handle_dup((alder_handle_t)r2, ALDER_RIGHTS_ALL);
	CHECK(r3 > 0);
	EXPECT(info_of((alder_handle_t)r3).rights == rmd);

	/* The reduced handle really lacks WRITE: a writable mapping is refused,
	 * a read-only one works. */
	EXPECT_ERR("map RW via READ|MAP handle",
		   u_space_map(ALDER_HANDLE_SELF_SPACE, (alder_handle_t)r1, 0, BASE, U_PAGE_SIZE,
			       ALDER_PROT_READ | ALDER_PROT_WRITE),
		   ALDER_EACCES);
	EXPECT(u_space_map(ALDER_HANDLE_SELF_SPACE, (alder_handle_t)r1, 0, BASE, U_PAGE_SIZE,
			   ALDER_PROT_READ) == (long)BASE);
	EXPECT(u_space_unmap(ALDER_HANDLE_SELF_SPACE, BASE, U_PAGE_SIZE) == 0);

	/* Mask 0 gives a handle with no rights, or is refused. */
	long z = u_handle_dup(m, 0);
	if (z >= 0) {
		EXPECT(info_of((alder_handle_t)z).rights == 0);
		EXPECT_ERR("map via no-rights handle",
			   u_space_map(ALDER_HANDLE_SELF_SPACE, (alder_handle_t)z, 0, BASE, U_PAGE_SIZE,
				       ALDER_PROT_READ),
			   ALDER_EACCES);
		EXPECT(u_handle_close((alder_handle_t)z) == 0);
	} else {
		EXPECT_ERR("dup(mask 0)", z, ALDER_EINVAL);
	}

	/* The dup outlives the original: close m, use d. */
	volatile uint8_t *p = (volatile uint8_t *)BASE;
	EXPECT(u_space_map(ALDER_HANDLE_SELF_SPACE, m, 0, BASE, 2 * U_PAGE_SIZE,
			   ALDER_PROT_READ | ALDER_PROT_WRITE) == (long)BASE);
	p[0] = 0x5a;
	p[U_PAGE_SIZE] = 0xa5;
	EXPECT(u_space_unmap(ALDER_HANDLE_SELF_SPACE, BASE, 2 * U_PAGE_SIZE) == 0);
	EXPECT(u_handle_close(m) == 0);
	EXPECT(info_of((alder_handle_t)d).koid == mi.koid);
	EXPECT(u_space_map(ALDER_HANDLE_SELF_SPACE, (alder_handle_t)d, 0, BASE, 2 * U_PAGE_SIZE,
			   ALDER_PROT_READ | ALDER_PROT_WRITE) == (long)BASE);
	EXPECT(p[0] == 0x5a && p[U_PAGE_SIZE] == 0xa5);
	EXPECT(u_space_unmap(ALDER_HANDLE_SELF_SPACE, BASE, 2 * U_PAGE_SIZE) == 0);

	EXPECT(u_handle_close((alder_handle_t)d) == 0);
	EXPECT(u_handle_close((alder_handle_t)r1) == 0);
	EXPECT(u_handle_close((alder_handle_t)r2) == 0);
	EXPECT(u_handle_close((alder_handle_t)r3) == 0);
}

/* koids are unique for the object's lifetime and after. */
static void test_koids(void)
{
	uint64_t seen[16];

	for (size_t i = 0; i < U_ARRAY_SIZE(seen); i++) {
		alder_handle_t h = new_mem(U_PAGE_SIZE);
		seen[i] = info_of(h).koid;
		EXPECT(u_handle_close(h) == 0);
		for (size_t j = 0; j < i; j++) {
			if (seen[j] == seen[i])
				u_expect_fail(__FILE__, __LINE__, "koid %lu reused (objects %zu and %zu)",
					      seen[i], j, i);
		}
	}
}

/* Fill the table with dups until the kernel refuses, then close them all. */
static void test_table_full(void)
{
	static alder_handle_t hs[8192];
	alder_handle_t m = new_mem(U_PAGE_SIZE);
	size_t n = 0;
	long r = 0;

	while (n < U_ARRAY_SIZE(hs)) {
		r = u_handle_dup(m, ALDER_RIGHTS_ALL);
		if (r < 0)
			break;
		hs[n++] = (alder_handle_t)r;
	}
	EXPECT_ERR2("dup into a full table", r, ALDER_EMFILE, ALDER_ENOMEM);
	if (n < 1000)
		u_expect_fail(__FILE__, __LINE__, "handle table full after only %zu handles", n);
	for (size_t i = 0; i < n; i++) {
		long c = u_handle_close(hs[i]);
		if (c != 0) {
			u_expect_fail(__FILE__, __LINE__, "close(%d) of dup %zu: %ld (%s)", hs[i], i, c,
				      u_errname(c));
			break;
		}
	}
	/* Room again. */
	r = u_handle_dup(m, ALDER_RIGHTS_ALL);
	EXPECT(r > 0);
	if (r > 0)
		EXPECT(u_handle_close((alder_handle_t)r) == 0);
	EXPECT(u_handle_close(m) == 0);
}

/* ---- Races ---------------------------------------------------------------- */

/* Written by main before the worker starts; then only through u_atomic_*. */
static struct {
	alder_handle_t h; /* the handle being raced on */
	unsigned round;	  /* main bumps it to start a round */
	unsigned done;	  /* worker sets it to the round it finished */
	long result;	  /* worker's result in the round */
	unsigned stop;
	unsigned phase;		/* use race: 1 = handle closed by main */
	unsigned long ok_after; /* use race: successes seen after phase 1 */
	unsigned long ok, ebadf, other;
	long other_value;
	unsigned finished;
} race;

static void close_racer(void *arg)
{
	unsigned seen = 0;

	for (;;) {
		unsigned r;
		while ((r = u_atomic_load(&race.round)) == seen) {
			if (u_atomic_load(&race.stop))
				goto out;
			u_cpu_relax();
		}
		seen = r;
		u_atomic_store(&race.result, u_handle_close(u_atomic_load(&race.h)));
		u_atomic_store(&race.done, seen);
	}
out:
	u_atomic_store(&race.finished, 1);
}

static void wait_finished(const char *what)
{
	uint64_t deadline = u_now_ns() + 10 * U_NS_PER_SEC;

	while (!u_atomic_load(&race.finished)) {
		if (u_now_ns() > deadline) {
			u_printf("handles: %s: worker did not finish in 10 s\n", what);
			sys_exit(1);
		}
		sys_sleep(U_NS_PER_MS);
	}
}

/* Two threads close the same handle at once: exactly one succeeds. */
static void test_close_race(void)
{
	memset(&race, 0, sizeof(race));
	CHECK(u_thread_start(close_racer, NULL, stacks[0], STACK_SIZE) > 0);
	for (unsigned i = 1; i <= RACE_ROUNDS; i++) {
		u_atomic_store(&race.h, new_mem(U_PAGE_SIZE));
		u_atomic_store(&race.round, i);
		long mine = u_handle_close(race.h);
		uint64_t deadline = u_now_ns() + 5 * U_NS_PER_SEC;
		while (u_atomic_load(&race.done) != i) {
			if (u_now_ns() > deadline) {
				u_printf("handles: close race round %u: worker stuck\n", i);
				sys_exit(1);
			}
			u_cpu_relax();
		}
		long theirs = u_atomic_load(&race.result);
		bool one_won = (mine == 0 && theirs == -ALDER_EBADF) || (mine == -ALDER_EBADF && theirs == 0);
		if (!one_won) {
			u_expect_fail(__FILE__, __LINE__, "close race round %u: main %ld, worker %ld", i,
				      mine, theirs);
			break;
		}
	}
	u_atomic_store(&race.stop, 1);
	wait_finished("close race");
}

/* Maps and uses the handle in a loop until told to stop. Creates no handle
 * (so the closed number cannot come back). */
static void use_racer(void *arg)
{
	const uint64_t addr = BASE + 16 * U_PAGE_SIZE;
	volatile uint32_t *p = (volatile uint32_t *)addr;

	while (!u_atomic_load(&race.stop)) {
		unsigned phase = u_atomic_load(&race.phase);
		long r = u_space_map(ALDER_HANDLE_SELF_SPACE, race.h, 0, addr, U_PAGE_SIZE,
				     ALDER_PROT_READ | ALDER_PROT_WRITE);
		if (r == (long)addr) {
			u_atomic_fetch_add(&race.ok, 1);
			if (phase == 1)
				u_atomic_fetch_add(&race.ok_after, 1);
			/* The mapping works even if the handle is gone by now. */
			uint32_t v = *p;
			*p = v + 1;
			if (*p != v + 1) {
				u_atomic_fetch_add(&race.other, 1);
				u_atomic_store(&race.other_value, 1);
			}
			long u = u_space_unmap(ALDER_HANDLE_SELF_SPACE, addr, U_PAGE_SIZE);
			if (u != 0) {
				u_atomic_fetch_add(&race.other, 1);
				u_atomic_store(&race.other_value, u);
			}
		} else if (r == -ALDER_EBADF) {
			u_atomic_fetch_add(&race.ebadf, 1);
		} else {
			u_atomic_fetch_add(&race.other, 1);
			u_atomic_store(&race.other_value, r);
		}
		struct alder_handle_info info;
		r = u_handle_info(race.h, &info);
		if (r != 0 && r != -ALDER_EBADF) {
			u_atomic_fetch_add(&race.other, 1);
			u_atomic_store(&race.other_value, r);
		}
	}
	u_atomic_store(&race.finished, 1);
}

/* One thread closes a handle while another maps through it. */
static void test_use_race(void)
{
	memset(&race, 0, sizeof(race));
	race.h = new_mem(U_PAGE_SIZE);
	CHECK(u_thread_start(use_racer, NULL, stacks[1], STACK_SIZE) > 0);

	uint64_t deadline = u_now_ns() + 5 * U_NS_PER_SEC;
	while (u_atomic_load(&race.ok) < 50 && u_now_ns() < deadline)
		sys_yield();
	EXPECT(u_handle_close(race.h) == 0);
	/* Any call that started after close returned must fail. */
	u_atomic_store(&race.phase, 1);
	deadline = u_now_ns() + 5 * U_NS_PER_SEC;
	while (u_atomic_load(&race.ebadf) < 50 && u_now_ns() < deadline)
		sys_yield();
	u_atomic_store(&race.stop, 1);
	wait_finished("use race");

	if (race.ok < 50 || race.ebadf < 50)
		u_expect_fail(__FILE__, __LINE__, "use race made too little progress: %lu maps, %lu EBADF",
			      race.ok, race.ebadf);
	if (race.ok_after != 0)
		u_expect_fail(__FILE__, __LINE__, "%lu maps through a closed handle succeeded",
			      race.ok_after);
	if (race.other != 0)
		u_expect_fail(__FILE__, __LINE__, "use race: %lu unexpected results, last %ld (%s)",
			      race.other, race.other_value, u_errname(race.other_value));
}

int main(const char *arg, size_t arg_len)
{
	test_empty_table(); /* must come first */
	test_bad_numbers();
	test_info();
	test_dup();
	test_koids();
	test_table_full();
	test_close_race();
	test_use_race();
	return u_test_end("handles");
}
