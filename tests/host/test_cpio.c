/*
 * Host tests for the newc cpio reader (kernel/generic/cpio.c): real archives
 * written by GNU cpio, archives built here entry by entry, and every kind of
 * malformed header.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "../../kernel/generic/cpio.c"
#include <kern/log.h> /* shim.h defines klog() */
#include "shim/shim.h"

/*
 * Made by GNU cpio 2.13: in a directory holding init ("init!\n"),
 * tests/hello ("hello world") and a symlink link -> init,
 *	find . | LC_ALL=C sort | cpio -o -H newc > a.cpio
 * The file is 1024 bytes; only the zero padding after the trailer is left
 * out here (real_archive() puts it back).
 */
static const char gnu_newc[] =
	"07070100A7217B000041ED0000000000000000000000036592008000000000000000FE"
	"0000000000000000000000000000000200000000.\00007070100A7217D000081A400000"
	"00000000000000000016592008000000006000000FE000000000000000000000000000"
	"0000500000000init\000\000init!\n\000\00007070100A7217F0000A1FF0000000000000000"
	"000000016592008000000004000000FE00000000000000000000000000000005000000"
	"00link\000\000init07070100A7217C000041ED0000000000000000000000026592008000"
	"000000000000FE0000000000000000000000000000000600000000tests\00007070100A"
	"7217E000081A4000000000000000000000001659200800000000B000000FE000000000"
	"0000000000000000000000C00000000tests/hello\000\000\000hello world\000070701000"
	"0000000000000000000000000000000000001000000000000000000000000000000000"
	"0000000000000000000000B00000000TRAILER!!!";

/* The same tree with -H crc (magic 070702, data checksums), without ".". */
static const char gnu_crc[] =
	"07070200A7217D000081A40000000000000000000000016592008000000006000000FE"
	"00000000000000000000000000000005000001DFinit\000\000init!\n\000\00007070200A72"
	"17F0000A1FF0000000000000000000000016592008000000004000000FE00000000000"
	"00000000000000000000500000000link\000\000init07070200A7217C000041ED0000000"
	"000000000000000026592008000000000000000FE00000000000000000000000000000"
	"00600000000tests\00007070200A7217E000081A4000000000000000000000001659200"
	"800000000B000000FE0000000000000000000000000000000C0000045Ctests/hello\000"
	"\000\000hello world\00007070200000000000000000000000000000000000000010000000"
	"000000000000000000000000000000000000000000000000B00000000TRAILER!!!";

#define REAL_LEN 1024
#define S_DIR 0040755u
#define S_REG 0100644u
#define S_LNK 0120777u

static uint8_t buf[8192];

/* Copy a real archive into buf with its zero padding; returns its length. */
static size_t real_archive(const char *lit, size_t lit_size)
{
	memset(buf, 0, sizeof(buf));
	memcpy(buf, lit, lit_size - 1);
	return REAL_LEN;
}

/* Append one entry as GNU cpio writes it; returns the new length. */
static size_t put(size_t off, const char *magic, const char *name, uint32_t mode, const void *data,
		  uint32_t size)
{
	uint32_t namesize = (uint32_t)strlen(name) + 1, sum = 0;
	char hdr[111];

	for (uint32_t i = 0; i < size; i++)
		sum += ((const uint8_t *)data)[i];
	snprintf(hdr, sizeof(hdr), "%s%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X", magic,
		 1u, mode, 0u, 0u, 1u, 0u, size, 0u, 0u, 0u, 0u, namesize,
		 strcmp(magic, "070702") == 0 ? sum : 0u);
	memcpy(buf + off, hdr, 110);
	off += 110;
	memcpy(buf + off, name, namesize);
	off += namesize;
	while (off % 4)
		buf[off++] = 0;
	memcpy(buf + off, data, size);
	off += size;
	while (off % 4)
		buf[off++] = 0;
	return off;
}

static size_t put_trailer(size_t off)
{
	return put(off, "070701", "TRAILER!!!", 0, "", 0);
}

static bool name_is(const struct cpio_entry *e, const char *s)
{
	return e->name_len == strlen(s) && memcmp(e->name, s, e->name_len) == 0;
}

static void test_real_newc_walk(void **state)
{
	size_t len = real_archive(gnu_newc, sizeof(gnu_newc)), off = 0;
	struct cpio_entry e;
	static const struct {
		const char *name;
		uint32_t mode;
		const char *data;
	} want[] = {
		{ ".", S_DIR, "" },
		{ "init", S_REG, "init!\n" },
		{ "link", S_LNK, "init" },
		{ "tests", S_DIR, "" },
		{ "tests/hello", S_REG, "hello world" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(want); i++) {
		assert_int_equal(cpio_next(buf, len, &off, &e), 1);
		assert_true(name_is(&e, want[i].name));
		assert_int_equal(e.mode, want[i].mode);
		assert_int_equal(e.size, strlen(want[i].data));
		assert_memory_equal(e.data, want[i].data, e.size);
		assert_int_equal(off % 4, 0);
	}
	assert_int_equal(cpio_next(buf, len, &off, &e), 0);
	/* Just past the trailer (its name's NUL and padding are the 4 bytes
	 * cut from the literal), before GNU cpio's zero padding. */
	assert_int_equal(off, sizeof(gnu_newc) - 1 + 4);
	assert_true(off < len);
}

static void test_real_newc_find(void **state)
{
	size_t len = real_archive(gnu_newc, sizeof(gnu_newc));
	struct cpio_entry e;

	for (const char *const *p = (const char *const[]){ "init", "/init", "./init", "//init",
							    "././init", NULL };
	     *p; p++) {
		assert_int_equal(cpio_find(buf, len, *p, &e), 0);
		assert_true(name_is(&e, "init"));
		assert_int_equal(e.size, 6);
		assert_memory_equal(e.data, "init!\n", 6);
	}
	assert_int_equal(cpio_find(buf, len, "./tests/hello", &e), 0);
	assert_memory_equal(e.data, "hello world", 11);
	assert_int_equal(cpio_find(buf, len, "tests/hello", &e), 0);
	/* Only regular files are found. */
	assert_int_equal(cpio_find(buf, len, "link", &e), -ALDER_ENOENT);
	assert_int_equal(cpio_find(buf, len, "tests", &e), -ALDER_ENOENT);
	assert_int_equal(cpio_find(buf, len, ".", &e), -ALDER_ENOENT);
	assert_int_equal(cpio_find(buf, len, "", &e), -ALDER_ENOENT);
	assert_int_equal(cpio_find(buf, len, "/", &e), -ALDER_ENOENT);
	/* Prefixes and extensions of a name are other names. */
	assert_int_equal(cpio_find(buf, len, "ini", &e), -ALDER_ENOENT);
	assert_int_equal(cpio_find(buf, len, "init2", &e), -ALDER_ENOENT);
	assert_int_equal(cpio_find(buf, len, "tests/hell", &e), -ALDER_ENOENT);
}

static void test_real_crc(void **state)
{
	size_t len = real_archive(gnu_crc, sizeof(gnu_crc));
	struct cpio_entry e;

	size_t off = 0;
	int n = 0;

	/* GNU cpio writes check 0 for the symlink and the directory. */
	while (cpio_next(buf, len, &off, &e) == 1)
		n++;
	assert_int_equal(n, 4);
	assert_int_equal(cpio_find(buf, len, "tests/hello", &e), 0);
	assert_memory_equal(e.data, "hello world", 11);

	/* Flip one data byte: the checksum no longer matches. */
	((uint8_t *)e.data)[0] ^= 1;
	assert_int_equal(cpio_find(buf, len, "tests/hello", &e), -ALDER_EINVAL);
	assert_int_equal(cpio_find(buf, len, "init", &e), 0); /* earlier entries still read */
}

static void test_built_dot_slash_names(void **state)
{
	size_t len = 0, off = 0;
	struct cpio_entry e;

	len = put(len, "070701", ".", S_DIR, "", 0);
	len = put(len, "070701", "./init", S_REG, "AB", 2);
	len = put(len, "070701", "/abs", S_REG, "C", 1);
	len = put(len, "070701", "./tests", S_DIR, "", 0);
	len = put(len, "070701", "./tests/x", S_REG, "xyz", 3);
	len = put_trailer(len);

	assert_int_equal(cpio_next(buf, len, &off, &e), 1);
	assert_true(name_is(&e, "."));
	assert_int_equal(cpio_next(buf, len, &off, &e), 1);
	assert_true(name_is(&e, "init"));
	assert_int_equal(cpio_next(buf, len, &off, &e), 1);
	assert_true(name_is(&e, "abs"));
	assert_int_equal(cpio_next(buf, len, &off, &e), 1);
	assert_true(name_is(&e, "tests"));
	assert_int_equal(cpio_next(buf, len, &off, &e), 1);
	assert_true(name_is(&e, "tests/x"));
	assert_int_equal(cpio_next(buf, len, &off, &e), 0);
	assert_int_equal(off, len);

	assert_int_equal(cpio_find(buf, len, "tests/x", &e), 0);
	assert_memory_equal(e.data, "xyz", 3);
	assert_int_equal(cpio_find(buf, len, "/tests/x", &e), 0);
	assert_int_equal(cpio_find(buf, len, "abs", &e), 0);
	assert_memory_equal(e.data, "C", 1);
}

/* Every name length modulo 4 and every data length modulo 4 pad correctly. */
static void test_alignment(void **state)
{
	static const char *names[] = { "a", "ab", "abc", "abcd", "abcde", "abcdef", "abcdefg" };
	char data[16];
	size_t len = 0, off = 0;
	struct cpio_entry e;

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (char)('A' + i);
	for (size_t n = 0; n < ARRAY_SIZE(names); n++)
		for (uint32_t sz = 0; sz < 6; sz++)
			len = put(len, "070701", names[n], S_REG, data, sz);
	len = put_trailer(len);
	for (size_t n = 0; n < ARRAY_SIZE(names); n++) {
		for (uint32_t sz = 0; sz < 6; sz++) {
			assert_int_equal(cpio_next(buf, len, &off, &e), 1);
			assert_true(name_is(&e, names[n]));
			assert_int_equal(e.size, sz);
			assert_int_equal(((const uint8_t *)e.data - buf) % 4, 0);
			assert_memory_equal(e.data, data, sz);
		}
	}
	assert_int_equal(cpio_next(buf, len, &off, &e), 0);
}

/* Padding is relative to the archive's start, not to memory. */
static void test_misaligned_base(void **state)
{
	static uint8_t shifted[512];
	size_t len = 0;
	struct cpio_entry e;

	len = put(len, "070701", "file", S_REG, "12345", 5);
	len = put_trailer(len);
	memcpy(shifted + 1, buf, len);
	assert_int_equal(cpio_find(shifted + 1, len, "file", &e), 0);
	assert_ptr_equal(e.data, shifted + 1 + 116);
	assert_memory_equal(e.data, "12345", 5);
}

static void test_end_without_trailer(void **state)
{
	size_t len = 0, off = 0;
	struct cpio_entry e;

	len = put(len, "070701", "f", S_REG, "hi!", 3);
	assert_int_equal(cpio_next(buf, len, &off, &e), 1);
	assert_int_equal(off, len);
	assert_int_equal(cpio_next(buf, len, &off, &e), 0);
	assert_int_equal(cpio_next(buf, 0, &(size_t){ 0 }, &e), 0);
	/* The last entry's padding may be missing. */
	assert_int_equal(cpio_find(buf, len - 1, "f", &e), 0);
	assert_memory_equal(e.data, "hi!", 3);
	off = 0;
	assert_int_equal(cpio_next(buf, len - 1, &off, &e), 1);
	assert_int_equal(off, len - 1);
	/* An offset past the end is the caller's error. */
	off = len + 1;
	assert_int_equal(cpio_next(buf, len, &off, &e), -ALDER_EINVAL);
}

/* Cut a valid archive at every length: never a crash, never a wrong entry. */
static void test_truncated(void **state)
{
	size_t len = 0, hdr_end, name_end, data_end;
	struct cpio_entry e;

	len = put(len, "070701", "longer-name", S_REG, "0123456789", 10);
	hdr_end = 110;
	name_end = 110 + 12;
	data_end = 124 + 10;
	len = put_trailer(len);
	for (size_t cut = 1; cut < len; cut++) {
		size_t off = 0;
		int r = cpio_next(buf, cut, &off, &e);

		if (cut < hdr_end || cut < name_end || cut < data_end) {
			assert_int_equal(r, -ALDER_EINVAL);
			assert_int_equal(off, 0); /* not advanced on error */
			assert_int_equal(cpio_find(buf, cut, "longer-name", &e), -ALDER_EINVAL);
		} else {
			assert_int_equal(r, 1);
			assert_true(off <= cut);
			/* The trailer's header is cut short (or absent). */
			r = cpio_next(buf, cut, &off, &e);
			assert_true(r == -ALDER_EINVAL || (r == 0 && off == cut));
		}
	}
}

static void test_bad_magic(void **state)
{
	static const char *bad[] = { "070707", "070700", "070703", "170701", "07070 ", "\0\0\0\0\0\0" };
	struct cpio_entry e;

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		size_t len = put(0, "070701", "f", S_REG, "x", 1), off = 0;

		memcpy(buf, bad[i], 6);
		assert_int_equal(cpio_next(buf, len, &off, &e), -ALDER_EINVAL);
		assert_int_equal(cpio_find(buf, len, "f", &e), -ALDER_EINVAL);
	}
}

/* Every field rejects every kind of non-hex character; both cases are hex. */
static void test_bad_hex(void **state)
{
	static const char junk[] = { 'g', 'G', ' ', '-', '+', 'x', 'X', '\0', '\n', ':', '@', '`' };
	struct cpio_entry e;

	for (int field = 0; field < CPIO_NFIELDS; field++) {
		for (size_t j = 0; j < sizeof(junk); j++) {
			for (int pos = 0; pos < 8; pos += 7) {
				size_t len = put(0, "070701", "f", S_REG, "x", 1), off = 0;

				buf[6 + field * 8 + pos] = (uint8_t)junk[j];
				assert_int_equal(cpio_next(buf, len, &off, &e), -ALDER_EINVAL);
			}
		}
	}

	size_t len = put(0, "070701", "f", S_REG, "xyz", 3), off = 0;
	memcpy(buf + 6 + CPIO_F_MODE * 8, "000081a4", 8); /* lower case */
	assert_int_equal(cpio_next(buf, len, &off, &e), 1);
	assert_int_equal(e.mode, 0100644);
	assert_int_equal(e.size, 3);
}

static void set_field(int field, uint32_t v)
{
	char tmp[9];

	snprintf(tmp, sizeof(tmp), "%08X", v);
	memcpy(buf + 6 + field * 8, tmp, 8);
}

static void test_huge_sizes(void **state)
{
	static const uint32_t sizes[] = { 0xffffffffu, 0xfffffffcu, 0x80000000u, 4096 };
	struct cpio_entry e;
	size_t len, off;

	for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
		len = put(0, "070701", "f", S_REG, "x", 1);
		len = put_trailer(len);
		set_field(CPIO_F_FILESIZE, sizes[i]);
		off = 0;
		assert_int_equal(cpio_next(buf, len, &off, &e), -ALDER_EINVAL);

		len = put(0, "070701", "f", S_REG, "x", 1);
		len = put_trailer(len);
		set_field(CPIO_F_NAMESIZE, sizes[i]);
		off = 0;
		assert_int_equal(cpio_next(buf, len, &off, &e), -ALDER_EINVAL);
	}

	/* A size exactly reaching the end is fine; one byte more is not. */
	len = put(0, "070701", "f", S_REG, "abcd", 4);
	set_field(CPIO_F_FILESIZE, 4);
	off = 0;
	assert_int_equal(cpio_next(buf, len, &off, &e), 1);
	set_field(CPIO_F_FILESIZE, 5);
	off = 0;
	assert_int_equal(cpio_next(buf, len, &off, &e), -ALDER_EINVAL);
}

static void test_bad_names(void **state)
{
	struct cpio_entry e;
	size_t len, off;

	/* namesize 0: not even the NUL. */
	len = put_trailer(put(0, "070701", "f", S_REG, "x", 1));
	set_field(CPIO_F_NAMESIZE, 0);
	off = 0;
	assert_int_equal(cpio_next(buf, len, &off, &e), -ALDER_EINVAL);

	/* namesize one short: the last name byte is not a NUL. */
	len = put_trailer(put(0, "070701", "name", S_REG, "x", 1));
	set_field(CPIO_F_NAMESIZE, 4);
	off = 0;
	assert_int_equal(cpio_next(buf, len, &off, &e), -ALDER_EINVAL);

	/* A NUL inside the name. */
	len = put_trailer(put(0, "070701", "name", S_REG, "x", 1));
	buf[110 + 2] = 0;
	off = 0;
	assert_int_equal(cpio_next(buf, len, &off, &e), -ALDER_EINVAL);

	/* namesize 1: an empty name is well formed (and never found). */
	len = put_trailer(put(0, "070701", "", S_REG, "x", 1));
	off = 0;
	assert_int_equal(cpio_next(buf, len, &off, &e), 1);
	assert_int_equal(e.name_len, 0);
	assert_int_equal(cpio_find(buf, len, "x", &e), -ALDER_ENOENT);

	/* "TRAILER!!!" is only the trailer with exactly that name. */
	len = put(0, "070701", "TRAILER!!!x", S_REG, "x", 1);
	len = put(len, "070701", "TRAILER!!", S_REG, "y", 1);
	len = put_trailer(len);
	off = 0;
	assert_int_equal(cpio_next(buf, len, &off, &e), 1);
	assert_int_equal(cpio_next(buf, len, &off, &e), 1);
	assert_int_equal(cpio_next(buf, len, &off, &e), 0);
}

static void test_crc_built(void **state)
{
	struct cpio_entry e;
	size_t len = put_trailer(put(0, "070702", "c", S_REG, "\xff\xfe\x01", 3));

	assert_int_equal(cpio_find(buf, len, "c", &e), 0);
	set_field(CPIO_F_CHECK, 0xff + 0xfe + 1 + 1);
	assert_int_equal(cpio_find(buf, len, "c", &e), -ALDER_EINVAL);
	/* In plain newc the check field is not looked at. */
	memcpy(buf, "070701", 6);
	assert_int_equal(cpio_find(buf, len, "c", &e), 0);
}

/* A file after a malformed entry cannot be found; the error is reported. */
static void test_find_stops_at_garbage(void **state)
{
	struct cpio_entry e;
	size_t len = put(0, "070701", "a", S_REG, "1", 1);
	size_t second = len;

	len = put(len, "070701", "b", S_REG, "2", 1);
	len = put_trailer(len);
	assert_int_equal(cpio_find(buf, len, "b", &e), 0);
	buf[second] = 'X';
	assert_int_equal(cpio_find(buf, len, "a", &e), 0);
	assert_int_equal(cpio_find(buf, len, "b", &e), -ALDER_EINVAL);
	assert_int_equal(cpio_find(buf, len, "zz", &e), -ALDER_EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_real_newc_walk),
		cmocka_unit_test(test_real_newc_find),
		cmocka_unit_test(test_real_crc),
		cmocka_unit_test(test_built_dot_slash_names),
		cmocka_unit_test(test_alignment),
		cmocka_unit_test(test_misaligned_base),
		cmocka_unit_test(test_end_without_trailer),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_bad_magic),
		cmocka_unit_test(test_bad_hex),
		cmocka_unit_test(test_huge_sizes),
		cmocka_unit_test(test_bad_names),
		cmocka_unit_test(test_crc_built),
		cmocka_unit_test(test_find_stops_at_garbage),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
