/*
 * Host tests for the Multiboot2 information parser and cmdline_get()
 * (kernel/generic/multiboot2.c). Information structures are built here tag
 * by tag, the way GRUB lays them out.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "../../kernel/generic/multiboot2.c"
#include <kern/log.h> /* shim.h defines klog() */
#include "shim/shim.h"

static uint8_t mbi[16384] __aligned(8);
static size_t mb_len;
static struct boot_info bi;

static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

static void mb_begin(void)
{
	memset(mbi, 0xcc, sizeof(mbi)); /* padding is garbage until written */
	mb_len = 8;
	put32(mbi + 4, 0);
}

/* Append a tag of size bytes (header included); returns its start. */
static uint8_t *mb_tag(uint32_t type, uint32_t size)
{
	mb_len = ALIGN_UP(mb_len, (size_t)8);
	uint8_t *t = mbi + mb_len;

	assert_true(mb_len + size <= sizeof(mbi));
	memset(t, 0, size);
	put32(t, type);
	put32(t + 4, size);
	mb_len += size;
	return t;
}

/* Add the end tag and set total_size; returns total_size. */
static size_t mb_end(void)
{
	mb_tag(MB2_TAG_END, 8);
	put32(mbi, (uint32_t)mb_len);
	return mb_len;
}

static void mb_string(uint32_t type, const char *s)
{
	uint8_t *t = mb_tag(type, 8 + (uint32_t)strlen(s) + 1);

	memcpy(t + 8, s, strlen(s) + 1);
}

static void mb_module(uint32_t start, uint32_t end, const char *name)
{
	uint8_t *t = mb_tag(MB2_TAG_MODULE, 16 + (uint32_t)strlen(name) + 1);

	put32(t + 8, start);
	put32(t + 12, end);
	memcpy(t + 16, name, strlen(name) + 1);
}

struct mmap_ent {
	uint64_t base, len;
	uint32_t type;
};

static uint8_t *mb_mmap(const struct mmap_ent *e, size_t n, uint32_t entry_size)
{
	uint8_t *t = mb_tag(MB2_TAG_MMAP, 16 + (uint32_t)n * entry_size);

	put32(t + 8, entry_size);
	put32(t + 12, 0);
	for (size_t i = 0; i < n; i++) {
		put64(t + 16 + i * entry_size, e[i].base);
		put64(t + 24 + i * entry_size, e[i].len);
		put32(t + 32 + i * entry_size, e[i].type);
	}
	return t;
}

static void mb_fb(uint64_t addr, uint32_t pitch, uint32_t w, uint32_t h, uint8_t bpp, uint8_t type)
{
	uint8_t *t = mb_tag(MB2_TAG_FRAMEBUFFER, 32 + 6); /* + RGB field info */

	put64(t + 8, addr);
	put32(t + 16, pitch);
	put32(t + 20, w);
	put32(t + 24, h);
	t[28] = bpp;
	t[29] = type;
}

static uint8_t *mb_rsdp(uint32_t type, uint32_t len, uint8_t fill)
{
	uint8_t *t = mb_tag(type, 8 + len);

	memset(t + 8, fill, len);
	return t + 8;
}

static const struct mmap_ent e820[] = {
	{ 0, 0x9fc00, 1 },
	{ 0x9fc00, 0x400, 2 },
	{ 0xf0000, 0x10000, 2 },
	{ 0x100000, 0x7ee0000, 1 },
	{ 0x7fe0000, 0x20000, 3 },          /* ACPI reclaimable */
	{ 0x7ff0000, 0x10000, 4 },          /* ACPI NVS */
	{ 0xfffc0000, 0x40000, 2 },
	{ 0x100000000ull, 0x80000000ull, 1 },
	{ 0xfd00000000ull, 0x300000000ull, 5 }, /* bad RAM, highest */
};

/* A structure with every tag the parser knows. */
static size_t build_full(void)
{
	mb_begin();
	mb_string(MB2_TAG_CMDLINE, "console=ttyS0 log=debug");
	mb_string(MB2_TAG_LOADER, "GRUB 2.06");
	mb_module(0x200000, 0x280000, "/boot/initramfs.cpio");
	mb_module(0x300000, 0x300000, "empty");
	mb_tag(4, 16); /* basic meminfo: not used */
	mb_mmap(e820, ARRAY_SIZE(e820), 24);
	mb_fb(0xfd000000, 4096, 1024, 768, 32, MB2_FB_TYPE_RGB);
	put64(mb_tag(MB2_TAG_EFI64, 16) + 8, 0x7f000000);
	mb_rsdp(MB2_TAG_ACPI_OLD, 20, 0x11);
	mb_rsdp(MB2_TAG_ACPI_NEW, 36, 0x22);
	mb_tag(21, 12); /* load base address: not used */
	return mb_end();
}

static void test_full(void **state)
{
	size_t len = build_full();

	assert_int_equal(mb2_parse(mbi, len, &bi), 0);
	assert_string_equal(bi.cmdline, "console=ttyS0 log=debug");
	assert_string_equal(bi.loader, "GRUB 2.06");

	assert_int_equal(bi.nmodules, 2);
	assert_int_equal(bi.modules[0].start, 0x200000);
	assert_int_equal(bi.modules[0].end, 0x280000);
	assert_string_equal(bi.modules[0].name, "/boot/initramfs.cpio");
	assert_int_equal(bi.modules[1].start, 0x300000);
	assert_int_equal(bi.modules[1].end, 0x300000);
	assert_string_equal(bi.modules[1].name, "empty");

	assert_int_equal(bi.nusable, 3);
	assert_int_equal(bi.usable[0].base, 0);
	assert_int_equal(bi.usable[0].len, 0x9fc00);
	assert_int_equal(bi.usable[1].base, 0x100000);
	assert_int_equal(bi.usable[2].base, 0x100000000ull);
	assert_int_equal(bi.usable[2].len, 0x80000000ull);
	assert_int_equal(bi.nreserved, 6);
	assert_int_equal(bi.reserved[0].base, 0x9fc00);
	assert_int_equal(bi.reserved[2].base, 0x7fe0000);
	assert_int_equal(bi.reserved[5].base, 0xfd00000000ull);
	assert_int_equal(bi.max_phys, 0x10000000000ull);

	assert_true(bi.has_fb);
	assert_int_equal(bi.fb_addr, 0xfd000000);
	assert_int_equal(bi.fb_pitch, 4096);
	assert_int_equal(bi.fb_width, 1024);
	assert_int_equal(bi.fb_height, 768);
	assert_int_equal(bi.fb_bpp, 32);
	assert_true(bi.efi);

	/* The ACPI 2.0 copy, pointing into the structure itself. */
	assert_non_null(bi.rsdp);
	assert_int_equal(bi.rsdp_len, 36);
	assert_int_equal(((const uint8_t *)bi.rsdp)[0], 0x22);
	assert_true((const uint8_t *)bi.rsdp > mbi && (const uint8_t *)bi.rsdp < mbi + len);
}

static void test_minimal(void **state)
{
	mb_begin();
	size_t len = mb_end();

	memset(&bi, 0x5a, sizeof(bi)); /* everything must be reset */
	assert_int_equal(mb2_parse(mbi, len, &bi), 0);
	assert_string_equal(bi.cmdline, "");
	assert_string_equal(bi.loader, "");
	assert_int_equal(bi.nusable, 0);
	assert_int_equal(bi.nreserved, 0);
	assert_int_equal(bi.nmodules, 0);
	assert_int_equal(bi.max_phys, 0);
	assert_null(bi.rsdp);
	assert_false(bi.efi);
	assert_false(bi.has_fb);
	/* Bytes after the end tag are not looked at. */
	assert_int_equal(mb2_parse(mbi, sizeof(mbi), &bi), 0);
}

static void test_rsdp_choice(void **state)
{
	/* New before old: new still wins. */
	mb_begin();
	mb_rsdp(MB2_TAG_ACPI_NEW, 36, 0x22);
	mb_rsdp(MB2_TAG_ACPI_OLD, 20, 0x11);
	assert_int_equal(mb2_parse(mbi, mb_end(), &bi), 0);
	assert_int_equal(bi.rsdp_len, 36);
	assert_int_equal(((const uint8_t *)bi.rsdp)[0], 0x22);

	/* Only the old one. */
	mb_begin();
	mb_rsdp(MB2_TAG_ACPI_OLD, 20, 0x11);
	assert_int_equal(mb2_parse(mbi, mb_end(), &bi), 0);
	assert_int_equal(bi.rsdp_len, 20);
	assert_int_equal(((const uint8_t *)bi.rsdp)[19], 0x11);

	/* Too short for what it claims to be. */
	mb_begin();
	mb_rsdp(MB2_TAG_ACPI_OLD, 19, 0x11);
	assert_int_equal(mb2_parse(mbi, mb_end(), &bi), -ALDER_EINVAL);
	mb_begin();
	mb_rsdp(MB2_TAG_ACPI_NEW, 35, 0x22);
	assert_int_equal(mb2_parse(mbi, mb_end(), &bi), -ALDER_EINVAL);
}

static void test_header_sizes(void **state)
{
	size_t len = build_full();

	for (size_t avail = 0; avail < 8; avail++)
		assert_int_equal(mb2_parse(mbi, avail, &bi), -ALDER_EINVAL);
	/* total_size larger than what the caller can read. */
	assert_int_equal(mb2_parse(mbi, len - 1, &bi), -ALDER_EINVAL);
	for (uint32_t total = 0; total < 8; total++) {
		put32(mbi, total);
		assert_int_equal(mb2_parse(mbi, len, &bi), -ALDER_EINVAL);
	}
	put32(mbi, 0xffffffff);
	assert_int_equal(mb2_parse(mbi, len, &bi), -ALDER_EINVAL);
	/* Just the header, no tags: no end tag. */
	put32(mbi, 8);
	assert_int_equal(mb2_parse(mbi, len, &bi), -ALDER_EINVAL);
}

static void test_bad_tag_sizes(void **state)
{
	for (uint32_t size = 0; size < 8; size++) {
		mb_begin();
		uint8_t *t = mb_tag(MB2_TAG_LOADER, 16);
		size_t len = mb_end();
		put32(t + 4, size);
		assert_int_equal(mb2_parse(mbi, len, &bi), -ALDER_EINVAL);
	}

	/* A tag running past total_size (but not past avail). */
	mb_begin();
	uint8_t *t = mb_tag(MB2_TAG_LOADER, 16);
	size_t len = mb_end();
	put32(t + 4, (uint32_t)len);
	assert_int_equal(mb2_parse(mbi, sizeof(mbi), &bi), -ALDER_EINVAL);
	put32(t + 4, 0xfffffff8);
	assert_int_equal(mb2_parse(mbi, sizeof(mbi), &bi), -ALDER_EINVAL);

	/* The end tag itself too long. */
	mb_begin();
	mb_end();
	put32(mbi + 12, 16);
	assert_int_equal(mb2_parse(mbi, sizeof(mbi), &bi), -ALDER_EINVAL);
}

static void test_missing_end_tag(void **state)
{
	/* The last tag ends exactly at total_size. */
	mb_begin();
	mb_string(MB2_TAG_CMDLINE, "abcdefg"); /* 16 bytes */
	put32(mbi, (uint32_t)mb_len);
	assert_int_equal(mb2_parse(mbi, sizeof(mbi), &bi), -ALDER_EINVAL);
	assert_string_equal(bi.cmdline, "abcdefg"); /* parsed before the error */

	/* The last tag's padding would run past total_size. */
	mb_begin();
	mb_string(MB2_TAG_CMDLINE, "abc"); /* 12 bytes */
	put32(mbi, (uint32_t)mb_len + 2);
	assert_int_equal(mb2_parse(mbi, sizeof(mbi), &bi), -ALDER_EINVAL);
	put32(mbi, (uint32_t)mb_len + 4); /* padded end, no room for a tag */
	assert_int_equal(mb2_parse(mbi, sizeof(mbi), &bi), -ALDER_EINVAL);
	put32(mbi, (uint32_t)mb_len + 4 + 7); /* 7 bytes: still no room */
	assert_int_equal(mb2_parse(mbi, sizeof(mbi), &bi), -ALDER_EINVAL);
}

/* Parsing stops at the bad tag; what came before is kept. */
static void test_partial_result(void **state)
{
	mb_begin();
	mb_string(MB2_TAG_CMDLINE, "a=1");
	mb_module(0x1000, 0x2000, "m");
	uint8_t *t = mb_mmap(e820, 2, 24);
	mb_string(MB2_TAG_LOADER, "never seen");
	size_t len = mb_end();
	put32(t + 8, 16); /* entry_size too small */
	assert_int_equal(mb2_parse(mbi, len, &bi), -ALDER_EINVAL);
	assert_string_equal(bi.cmdline, "a=1");
	assert_int_equal(bi.nmodules, 1);
	assert_string_equal(bi.loader, "");
}

static void test_mmap(void **state)
{
	size_t len;

	/* entry_size below 24, including 0 (no division by zero). */
	for (uint32_t es = 0; es < 24; es += 4) {
		mb_begin();
		uint8_t *t = mb_mmap(e820, 2, 24);
		len = mb_end();
		put32(t + 8, es);
		assert_int_equal(mb2_parse(mbi, len, &bi), -ALDER_EINVAL);
	}

	/* Larger entries (a future entry_version): the extra bytes are skipped. */
	mb_begin();
	mb_mmap(e820, ARRAY_SIZE(e820), 40);
	assert_int_equal(mb2_parse(mbi, mb_end(), &bi), 0);
	assert_int_equal(bi.nusable, 3);
	assert_int_equal(bi.nreserved, 6);
	assert_int_equal(bi.usable[2].base, 0x100000000ull);

	/* A tag too short for its own header. */
	mb_begin();
	uint8_t *t = mb_tag(MB2_TAG_MMAP, 12);
	put32(t + 8, 24);
	assert_int_equal(mb2_parse(mbi, mb_end(), &bi), -ALDER_EINVAL);

	/* No entries at all. */
	mb_begin();
	mb_mmap(e820, 0, 24);
	assert_int_equal(mb2_parse(mbi, mb_end(), &bi), 0);
	assert_int_equal(bi.nusable + bi.nreserved, 0);

	/* A partial last entry is not read. */
	mb_begin();
	t = mb_mmap(e820, 2, 24);
	put32(t + 4, 16 + 24 + 23);
	mb_len -= 1;
	assert_int_equal(mb2_parse(mbi, mb_end(), &bi), 0);
	assert_int_equal(bi.nusable, 1);
	assert_int_equal(bi.nreserved, 0);
}

static void test_mmap_odd_regions(void **state)
{
	static const struct mmap_ent odd[] = {
		{ 0x1000, 0, 1 },                       /* empty: skipped */
		{ 0xfffffffffffff000ull, 0x2000, 1 },   /* wraps: skipped */
		{ 0xfffffffffffff000ull, 0x1000, 2 },   /* ends exactly at 2^64: wraps too */
		{ 0xffffffffffffe000ull, 0x1000, 2 },   /* highest valid */
		{ 0x1000, 0x1000, 0x12345678 },         /* unknown type: reserved */
	};

	mb_begin();
	mb_mmap(odd, ARRAY_SIZE(odd), 24);
	assert_int_equal(mb2_parse(mbi, mb_end(), &bi), 0);
	assert_int_equal(bi.nusable, 0);
	assert_int_equal(bi.nreserved, 2);
	assert_int_equal(bi.max_phys, 0xfffffffffffff000ull);
}

static void test_mmap_too_many(void **state)
{
	static struct mmap_ent many[BOOT_MAX_REGIONS + 10];

	for (size_t i = 0; i < ARRAY_SIZE(many); i++)
		many[i] = (struct mmap_ent){ i * 0x2000, 0x1000, 1 };
	many[ARRAY_SIZE(many) - 1].type = 2;
	mb_begin();
	mb_mmap(many, ARRAY_SIZE(many), 24);
	assert_int_equal(mb2_parse(mbi, mb_end(), &bi), 0);
	assert_int_equal(bi.nusable, BOOT_MAX_REGIONS);
	assert_int_equal(bi.usable[BOOT_MAX_REGIONS - 1].base, (BOOT_MAX_REGIONS - 1) * 0x2000);
	assert_int_equal(bi.nreserved, 1);
	/* Dropped regions still count for max_phys. */
	assert_int_equal(bi.max_phys, (ARRAY_SIZE(many) - 1) * 0x2000 + 0x1000);
}

static void test_modules(void **state)
{
	char longname[200];

	memset(longname, 'n', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = 0;

	mb_begin();
	mb_module(0x5000, 0x4000, "backwards"); /* skipped */
	mb_module(0x1000, 0x2000, longname);
	for (int i = 0; i < BOOT_MAX_MODULES + 2; i++)
		mb_module(0x10000 * (i + 1), 0x10000 * (i + 1) + 0x100, "m");
	assert_int_equal(mb2_parse(mbi, mb_end(), &bi), 0);
	assert_int_equal(bi.nmodules, BOOT_MAX_MODULES);
	assert_int_equal(bi.modules[0].start, 0x1000);
	assert_int_equal(strlen(bi.modules[0].name), sizeof(bi.modules[0].name) - 1);
	assert_int_equal(bi.modules[0].name[0], 'n');
	assert_int_equal(bi.modules[BOOT_MAX_MODULES - 1].start, 0x10000 * (BOOT_MAX_MODULES - 1));

	/* Too short for mod_start and mod_end. */
	for (uint32_t size = 8; size < 16; size++) {
		mb_begin();
		mb_tag(MB2_TAG_MODULE, size);
		assert_int_equal(mb2_parse(mbi, mb_end(), &bi), -ALDER_EINVAL);
	}
	/* Exactly 16: an empty name. */
	mb_begin();
	put32(mb_tag(MB2_TAG_MODULE, 16) + 12, 0x100);
	assert_int_equal(mb2_parse(mbi, mb_end(), &bi), 0);
	assert_int_equal(bi.nmodules, 1);
	assert_string_equal(bi.modules[0].name, "");
}

/* Strings without their NUL stop at the tag's end, not beyond. */
static void test_strings_unterminated(void **state)
{
	mb_begin();
	uint8_t *t = mb_tag(MB2_TAG_CMDLINE, 8 + 5);
	memcpy(t + 8, "abcde", 5);
	t = mb_tag(MB2_TAG_MODULE, 16 + 3);
	memcpy(t + 16, "xyz", 3);
	t = mb_tag(MB2_TAG_LOADER, 8 + 3);
	memcpy(t + 8, "ldr", 3);
	size_t len = mb_end();
	/* Fill the padding with letters: they must not be read. */
	mbi[8 + 13] = mbi[8 + 14] = 'Q';
	assert_int_equal(mb2_parse(mbi, len, &bi), 0);
	assert_string_equal(bi.cmdline, "abcde");
	assert_string_equal(bi.modules[0].name, "xyz");
	assert_string_equal(bi.loader, "ldr");

	/* An empty cmdline tag (no string at all). */
	mb_begin();
	mb_tag(MB2_TAG_CMDLINE, 8);
	assert_int_equal(mb2_parse(mbi, mb_end(), &bi), 0);
	assert_string_equal(bi.cmdline, "");
}

static void test_long_cmdline(void **state)
{
	char s[BOOT_CMDLINE_MAX + 50];

	for (size_t i = 0; i < sizeof(s) - 1; i++)
		s[i] = (char)('a' + i % 26);
	s[sizeof(s) - 1] = 0;
	mb_begin();
	mb_string(MB2_TAG_CMDLINE, s);
	assert_int_equal(mb2_parse(mbi, mb_end(), &bi), 0);
	assert_int_equal(strlen(bi.cmdline), BOOT_CMDLINE_MAX - 1);
	assert_memory_equal(bi.cmdline, s, BOOT_CMDLINE_MAX - 1);
}

static void test_framebuffer(void **state)
{
	/* Indexed colour and EGA text are not pixel framebuffers we use. */
	for (uint8_t type = 0; type < 3; type += 2) {
		mb_begin();
		mb_fb(0xb8000, 160, 80, 25, 16, type);
		assert_int_equal(mb2_parse(mbi, mb_end(), &bi), 0);
		assert_false(bi.has_fb);
	}
	/* Too short to hold the type. */
	for (uint32_t size = 8; size < 30; size++) {
		mb_begin();
		mb_tag(MB2_TAG_FRAMEBUFFER, size);
		assert_int_equal(mb2_parse(mbi, mb_end(), &bi), -ALDER_EINVAL);
	}
	/* Exactly through the type byte. */
	mb_begin();
	uint8_t *t = mb_tag(MB2_TAG_FRAMEBUFFER, 30);
	put64(t + 8, 0xe0000000);
	t[28] = 24;
	t[29] = MB2_FB_TYPE_RGB;
	assert_int_equal(mb2_parse(mbi, mb_end(), &bi), 0);
	assert_true(bi.has_fb);
	assert_int_equal(bi.fb_addr, 0xe0000000);
	assert_int_equal(bi.fb_bpp, 24);
}

static void test_efi(void **state)
{
	mb_begin();
	mb_tag(MB2_TAG_EFI64, 12);
	assert_int_equal(mb2_parse(mbi, mb_end(), &bi), -ALDER_EINVAL);
	assert_false(bi.efi);
	mb_begin();
	mb_tag(11, 12); /* EFI32 system table: not ours */
	assert_int_equal(mb2_parse(mbi, mb_end(), &bi), 0);
	assert_false(bi.efi);
}

static void test_unknown_tags(void **state)
{
	mb_begin();
	mb_tag(5, 20);
	mb_tag(0x7fffffff, 8);
	mb_tag(0xffffffff, 9);
	mb_string(MB2_TAG_LOADER, "after");
	assert_int_equal(mb2_parse(mbi, mb_end(), &bi), 0);
	assert_string_equal(bi.loader, "after");
}

/* The structure copied to an odd address parses the same. */
static void test_misaligned(void **state)
{
	static uint8_t copy[sizeof(mbi) + 8];
	size_t len = build_full();

	memcpy(copy + 3, mbi, len);
	assert_int_equal(mb2_parse(copy + 3, len, &bi), 0);
	assert_int_equal(bi.nusable, 3);
	assert_int_equal(bi.usable[2].base, 0x100000000ull);
	assert_int_equal(bi.fb_width, 1024);
}

/* Every truncation of total_size, with avail exact (ASan checks the reads). */
static void test_truncation_sweep(void **state)
{
	size_t len = build_full();

	for (size_t cut = 0; cut < len; cut++) {
		uint8_t *copy = malloc(cut ? cut : 1);

		memcpy(copy, mbi, cut);
		if (cut >= 4)
			put32(copy, (uint32_t)cut);
		assert_int_equal(mb2_parse(copy, cut, &bi), -ALDER_EINVAL);
		free(copy);
	}
}

static void test_cmdline_get(void **state)
{
	const char *cl = "console=ttyS0  init=/sbin/init\tquiet root=LABEL=x empty= log=1 log=2 ";
	char v[32];

	assert_true(cmdline_get(cl, "console", v, sizeof(v)));
	assert_string_equal(v, "ttyS0");
	assert_true(cmdline_get(cl, "init", v, sizeof(v)));
	assert_string_equal(v, "/sbin/init");
	assert_true(cmdline_get(cl, "root", v, sizeof(v)));
	assert_string_equal(v, "LABEL=x");
	assert_true(cmdline_get(cl, "empty", v, sizeof(v)));
	assert_string_equal(v, "");
	assert_true(cmdline_get(cl, "log", v, sizeof(v))); /* the last one wins */
	assert_string_equal(v, "2");

	strcpy(v, "unchanged");
	assert_false(cmdline_get(cl, "quiet", v, sizeof(v))); /* no '=' */
	assert_false(cmdline_get(cl, "cons", v, sizeof(v)));
	assert_false(cmdline_get(cl, "consolex", v, sizeof(v)));
	assert_false(cmdline_get(cl, "ttyS0", v, sizeof(v)));
	assert_false(cmdline_get(cl, "sbin/init", v, sizeof(v)));
	assert_false(cmdline_get(cl, "x", v, sizeof(v)));
	assert_false(cmdline_get(cl, "", v, sizeof(v)));
	assert_false(cmdline_get("", "a", v, sizeof(v)));
	assert_false(cmdline_get("   ", "a", v, sizeof(v)));
	assert_string_equal(v, "unchanged");
	assert_true(cmdline_get("a=1", "a", v, sizeof(v)));
	assert_string_equal(v, "1");
	assert_true(cmdline_get("xa=0 a=1", "a", v, sizeof(v)));
	assert_string_equal(v, "1");
}

static void test_cmdline_get_truncation(void **state)
{
	char v[8];

	memset(v, 'Z', sizeof(v));
	assert_true(cmdline_get("k=abcdefghij", "k", v, 4));
	assert_string_equal(v, "abc");
	assert_int_equal(v[4], 'Z');

	memset(v, 'Z', sizeof(v));
	assert_true(cmdline_get("k=abcdefghij", "k", v, 1));
	assert_int_equal(v[0], 0);
	assert_int_equal(v[1], 'Z');

	/* size 0: presence only, nothing written. */
	memset(v, 'Z', sizeof(v));
	assert_true(cmdline_get("k=abc", "k", v, 0));
	assert_int_equal(v[0], 'Z');
	assert_true(cmdline_get("k=abc", "k", NULL, 0));

	/* Exactly fits. */
	assert_true(cmdline_get("k=1234567", "k", v, sizeof(v)));
	assert_string_equal(v, "1234567");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full),
		cmocka_unit_test(test_minimal),
		cmocka_unit_test(test_rsdp_choice),
		cmocka_unit_test(test_header_sizes),
		cmocka_unit_test(test_bad_tag_sizes),
		cmocka_unit_test(test_missing_end_tag),
		cmocka_unit_test(test_partial_result),
		cmocka_unit_test(test_mmap),
		cmocka_unit_test(test_mmap_odd_regions),
		cmocka_unit_test(test_mmap_too_many),
		cmocka_unit_test(test_modules),
		cmocka_unit_test(test_strings_unterminated),
		cmocka_unit_test(test_long_cmdline),
		cmocka_unit_test(test_framebuffer),
		cmocka_unit_test(test_efi),
		cmocka_unit_test(test_unknown_tags),
		cmocka_unit_test(test_misaligned),
		cmocka_unit_test(test_truncation_sweep),
		cmocka_unit_test(test_cmdline_get),
		cmocka_unit_test(test_cmdline_get_truncation),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
