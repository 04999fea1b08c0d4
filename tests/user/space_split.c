/*
 * space_split: partial unmap and protect split a mapping into pieces; each
 * piece must keep its own protection and still show the right pages of the
 * object (offsets carried over correctly).
 *
 * One 16-page object M; page i holds the word 0x1000 + i at its start. It
 * is mapped RW at A and carved up:
 *   unmap page 2               -> [0,2) [3,16)
 *   protect pages 5..6 RO      -> [0,2) [3,5) [5,7)RO [7,16)
 *   unmap every other page of 9..15  -> single-page pieces
 *   holes refill with a fixed map, over pieces -EEXIST
 *   protect over a hole        -> -ENOMEM, nothing changed
 *   unmap across pieces and holes, protect across several pieces
 *   unmap all, map the whole range again (nothing left behind)
 * Every step checks every page: mapped or not (via SYS_SPACE_RW, which
 * cannot kill us), its word, and writes only where writable. The fault on
 * writing a read-only piece is mem_fault's "protect_split" case.
 * Exits 0 if every check passed.
 */
#include <umem.h>
#include <utest.h>

#define A ((uint64_t)0x160000000)
#define PAGE U_PAGE_SIZE
#define NP 16
#define SELF ALDER_HANDLE_SELF_SPACE
#define RW (ALDER_PROT_READ | ALDER_PROT_WRITE)

static alder_handle_t mem;

/* Expected state per page: 0 unmapped, 'r' read-only, 'w' writable; and
 * which object page it shows. */
static char state[NP + 1];
static unsigned shows[NP];

static volatile uint32_t *word(unsigned i)
{
	return (volatile uint32_t *)(A + i * PAGE);
}

static void check_all(const char *step)
{
	for (unsigned i = 0; i < NP; i++) {
		uint32_t v = 0;
		long r = u_space_rw(SELF, A + i * PAGE, &v, sizeof(v), false);

		if (state[i] == '-') {
			if (r != -ALDER_EFAULT)
				u_expect_fail(__FILE__, __LINE__,
					      "%s: page %u should be unmapped, rw read %ld", step, i, r);
			continue;
		}
		if (r < 0) {
			u_expect_fail(__FILE__, __LINE__, "%s: page %u should be mapped, rw read %ld (%s)",
				      step, i, r, u_errname(r));
			continue;
		}
		uint32_t want = 0x1000 + shows[i];
		if (*word(i) != want || v != want)
			u_expect_fail(__FILE__, __LINE__, "%s: page %u shows 0x%x (rw 0x%x), expected 0x%x",
				      step, i, *word(i), v, want);
		if (state[i] == 'w') {
			/* Write through the piece, read back through SYS_SPACE_RW. */
			word(i)[1] = 0xbeef0000u + i;
			uint32_t two[2] = {0, 0};
			u_space_rw(SELF, A + i * PAGE, two, sizeof(two), false);
			if (two[1] != 0xbeef0000u + i)
				u_expect_fail(__FILE__, __LINE__, "%s: page %u write not seen", step, i);
		} else {
			/* Read-only: a write through SYS_SPACE_RW is refused. */
			uint32_t junk = 0;
			long w = u_space_rw(SELF, A + i * PAGE + 8, &junk, sizeof(junk), true);
			if (w != -ALDER_EFAULT && w != -ALDER_EACCES)
				u_expect_fail(__FILE__, __LINE__,
					      "%s: page %u is read-only, rw write gave %ld", step, i, w);
		}
	}
}

static void set(unsigned from, unsigned to, char st)
{
	for (unsigned i = from; i < to; i++)
		state[i] = st;
}

static void map_pages(unsigned from, unsigned to, uint32_t prot)
{
	long r = u_space_map(SELF, mem, from * PAGE, A + from * PAGE, (to - from) * PAGE, prot);

	if (r != (long)(A + from * PAGE))
		u_expect_fail(__FILE__, __LINE__, "map pages %u..%u: %ld (%s)", from, to, r, u_errname(r));
	for (unsigned i = from; i < to; i++)
		shows[i] = i;
	set(from, to, (prot & ALDER_PROT_WRITE) ? 'w' : 'r');
}

int main(const char *arg, size_t arg_len)
{
	long m = u_mem_create(NP * PAGE, 0);
	CHECK(m > 0);
	mem = (alder_handle_t)m;

	map_pages(0, NP, RW);
	for (unsigned i = 0; i < NP; i++)
		*word(i) = 0x1000 + i;
	check_all("whole");

	CHECK_EQ(u_space_unmap(SELF, A + 2 * PAGE, PAGE), 0);
	set(2, 3, '-');
	check_all("unmap 2");

	CHECK_EQ(u_space_protect(SELF, A + 5 * PAGE, 2 * PAGE, ALDER_PROT_READ), 0);
	set(5, 7, 'r');
	check_all("protect 5..6 RO");

	for (unsigned i = 9; i < NP; i += 2) {
		CHECK_EQ(u_space_unmap(SELF, A + i * PAGE, PAGE), 0);
		set(i, i + 1, '-');
	}
	check_all("unmap 9, 11, 13, 15");

	/* Over any piece: EEXIST; exactly a hole: fine. */
	EXPECT_ERR("map over pieces", u_space_map(SELF, mem, 0, A + PAGE, 2 * PAGE, RW), ALDER_EEXIST);
	EXPECT_ERR("map over a piece", u_space_map(SELF, mem, 0, A + 10 * PAGE, PAGE, RW), ALDER_EEXIST);
	EXPECT_ERR("map hole and piece", u_space_map(SELF, mem, 0, A + 9 * PAGE, 2 * PAGE, RW), ALDER_EEXIST);
	check_all("after refused maps");
	map_pages(2, 3, ALDER_PROT_READ);
	check_all("refill hole 2 RO");

	/* Protect across a hole: refused, and nothing changes. */
	EXPECT_ERR("protect across a hole", u_space_protect(SELF, A + 8 * PAGE, 4 * PAGE, ALDER_PROT_READ),
		   ALDER_ENOMEM);
	EXPECT_ERR("protect ending in a hole", u_space_protect(SELF, A + 7 * PAGE, 3 * PAGE, ALDER_PROT_READ),
		   ALDER_ENOMEM);
	check_all("after refused protects");

	/* Protect across several pieces and piece boundaries. */
	CHECK_EQ(u_space_protect(SELF, A + PAGE, 7 * PAGE, RW), 0); /* pages 1..7 */
	set(1, 8, 'w');
	check_all("protect 1..7 RW");
	CHECK_EQ(u_space_protect(SELF, A, 4 * PAGE, ALDER_PROT_READ), 0); /* 0..3 */
	set(0, 4, 'r');
	check_all("protect 0..3 RO");

	/* Unmap across pieces and holes. */
	CHECK_EQ(u_space_unmap(SELF, A + 3 * PAGE, 7 * PAGE), 0); /* 3..9 */
	set(3, 10, '-');
	check_all("unmap 3..9");

	/* Refill 4..6 from a different object offset: shows[] follows. */
	long r = u_space_map(SELF, mem, 12 * PAGE, A + 4 * PAGE, 3 * PAGE, RW);
	CHECK_EQ(r, (long)(A + 4 * PAGE));
	for (unsigned i = 4; i < 7; i++)
		shows[i] = i + 8;
	set(4, 7, 'w');
	check_all("refill 4..6 from pages 12..14");
	/* A write there lands in object page 12..14: seen at page 12, 14. */
	word(4)[2] = 0x77;
	EXPECT(word(12)[2] == 0x77);

	/* Everything away, then the full range maps again in one piece. */
	CHECK_EQ(u_space_unmap(SELF, A, NP * PAGE), 0);
	set(0, NP, '-');
	check_all("unmap all");
	map_pages(0, NP, ALDER_PROT_READ);
	check_all("remap all RO");
	CHECK_EQ(u_space_unmap(SELF, A, NP * PAGE), 0);

	EXPECT(u_handle_close(mem) == 0);
	return u_test_end("space_split");
}
