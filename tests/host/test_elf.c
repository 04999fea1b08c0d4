/*
 * Host tests for the ELF64 executable validator (kernel/generic/elf.c).
 * Every file is built in memory: a small valid executable that each test
 * bends one rule of, and a copy of the program header layout of a real
 * `gcc -static -no-pie` binary.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "../../kernel/generic/elf.c"
#include <kern/log.h> /* shim.h defines klog() */
#include "shim/shim.h"

#define USER_LIMIT 0x800000000000ull
#define FILE_MAX 0x100000

static uint8_t *file;     /* FILE_MAX bytes, from setup() */
static size_t file_len;
static struct elf_image img;

static struct elf64_ehdr ehdr(void)
{
	struct elf64_ehdr h;

	memcpy(&h, file, sizeof(h));
	return h;
}

static void set_ehdr(const struct elf64_ehdr *h)
{
	memcpy(file, h, sizeof(*h));
}

static struct elf64_phdr phdr(size_t i)
{
	struct elf64_phdr p;

	memcpy(&p, file + ehdr().e_phoff + i * sizeof(p), sizeof(p));
	return p;
}

static void set_phdr(size_t i, const struct elf64_phdr *p)
{
	memcpy(file + ehdr().e_phoff + i * sizeof(*p), p, sizeof(*p));
}

static struct elf64_phdr load(uint64_t off, uint64_t vaddr, uint64_t filesz, uint64_t memsz,
			      uint32_t flags)
{
	return (struct elf64_phdr){ .p_type = PT_LOAD, .p_flags = flags, .p_offset = off,
				    .p_vaddr = vaddr, .p_paddr = vaddr, .p_filesz = filesz,
				    .p_memsz = memsz, .p_align = PAGE_SIZE };
}

/* Start a file of len bytes with nph program headers right after the ELF header. */
static void begin(size_t len, uint16_t nph, uint64_t entry)
{
	struct elf64_ehdr h = {
		.e_ident = { 0x7f, 'E', 'L', 'F', ELFCLASS64, ELFDATA2LSB, EV_CURRENT, ELFOSABI_SYSV },
		.e_type = ET_EXEC,
		.e_machine = EM_X86_64,
		.e_version = EV_CURRENT,
		.e_entry = entry,
		.e_phoff = sizeof(struct elf64_ehdr),
		.e_ehsize = sizeof(struct elf64_ehdr),
		.e_phentsize = sizeof(struct elf64_phdr),
		.e_phnum = nph,
	};

	assert_true(len <= FILE_MAX);
	memset(file, 0, FILE_MAX);
	file_len = len;
	set_ehdr(&h);
}

/*
 * The base case: text R+X at 0x400000 (file 0..0x1100) and data RW at
 * 0x402010 (file 0x2010..0x2110, 0x2000 bytes in memory), entry in text.
 */
static void base(void)
{
	begin(0x3000, 2, 0x400080);
	struct elf64_phdr t = load(0, 0x400000, 0x1100, 0x1100, PF_R | PF_X);
	struct elf64_phdr d = load(0x2010, 0x402010, 0x100, 0x2000, PF_R | PF_W);
	set_phdr(0, &t);
	set_phdr(1, &d);
}

static int parse(void)
{
	return elf_parse(file, file_len, USER_LIMIT, &img);
}

static int setup(void **state)
{
	file = calloc(1, FILE_MAX);
	return file ? 0 : -1;
}

static int teardown(void **state)
{
	free(file);
	file = NULL;
	return 0;
}

static void test_valid(void **state)
{
	base();
	assert_int_equal(parse(), 0);
	assert_int_equal(img.entry, 0x400080);
	assert_int_equal(img.nsegments, 2);
	assert_int_equal(img.segments[0].vaddr, 0x400000);
	assert_int_equal(img.segments[0].offset, 0);
	assert_int_equal(img.segments[0].filesz, 0x1100);
	assert_int_equal(img.segments[0].memsz, 0x1100);
	assert_int_equal(img.segments[0].flags, ELF_SEG_R | ELF_SEG_X);
	assert_int_equal(img.segments[1].vaddr, 0x402010);
	assert_int_equal(img.segments[1].offset, 0x2010);
	assert_int_equal(img.segments[1].filesz, 0x100);
	assert_int_equal(img.segments[1].memsz, 0x2000);
	assert_int_equal(img.segments[1].flags, ELF_SEG_R | ELF_SEG_W);
}

/*
 * The program headers of a glibc `gcc -static -no-pie` hello world
 * (binutils 2.40): four loads, the last RW with a bss, plus NOTE, TLS,
 * GNU_PROPERTY, GNU_STACK and GNU_RELRO, OS/ABI "GNU".
 */
static void test_real_static_layout(void **state)
{
	const size_t len = 0xa6270;
	struct elf64_phdr ph[] = {
		load(0, 0x400000, 0x518, 0x518, PF_R),
		load(0x1000, 0x401000, 0x77bf1, 0x77bf1, PF_R | PF_X),
		load(0x79000, 0x479000, 0x26f86, 0x26f86, PF_R),
		load(0xa06d8, 0x4a06d8, 0x5b98, 0xb3c8, PF_R | PF_W),
		{ 4, PF_R, 0x270, 0x400270, 0x400270, 0x20, 0x20, 8 },             /* NOTE */
		{ 4, PF_R, 0x290, 0x400290, 0x400290, 0x44, 0x44, 4 },             /* NOTE */
		{ 7, PF_R, 0xa06d8, 0x4a06d8, 0x4a06d8, 0x18, 0x60, 8 },           /* TLS */
		{ 0x6474e553, PF_R, 0x270, 0x400270, 0x400270, 0x20, 0x20, 8 },    /* PROPERTY */
		{ 0x6474e551, PF_R | PF_W, 0, 0, 0, 0, 0, 16 },                    /* STACK */
		{ 0x6474e552, PF_R, 0xa06d8, 0x4a06d8, 0x4a06d8, 0x3928, 0x3928, 1 }, /* RELRO */
	};

	begin(len, ARRAY_SIZE(ph), 0x4014f0);
	file[EI_OSABI] = ELFOSABI_GNU;
	for (size_t i = 0; i < ARRAY_SIZE(ph); i++)
		set_phdr(i, &ph[i]);
	assert_int_equal(parse(), 0);
	assert_int_equal(img.nsegments, 4);
	assert_int_equal(img.entry, 0x4014f0);
	for (size_t i = 0; i < 4; i++) {
		assert_int_equal(img.segments[i].vaddr, ph[i].p_vaddr);
		assert_int_equal(img.segments[i].offset, ph[i].p_offset);
		assert_int_equal(img.segments[i].filesz, ph[i].p_filesz);
		assert_int_equal(img.segments[i].memsz, ph[i].p_memsz);
		assert_int_equal(img.segments[i].flags, ph[i].p_flags);
	}
}

static void test_bad_magic(void **state)
{
	for (int i = 0; i < 4; i++) {
		base();
		file[i] ^= 0x20;
		assert_int_equal(parse(), -ALDER_ENOEXEC);
	}
	base();
	for (size_t n = 0; n < EI_NIDENT; n++)
		assert_int_equal(elf_parse(file, n, USER_LIMIT, &img), -ALDER_ENOEXEC);
	assert_int_equal(elf_parse("#!/bin/sh\necho hi\n", 18, USER_LIMIT, &img), -ALDER_ENOEXEC);
}

static void test_ident(void **state)
{
	static const struct {
		int index;
		uint8_t value;
		int want;
	} cases[] = {
		{ EI_CLASS, 1, -ALDER_ENOEXEC },      /* ELFCLASS32 */
		{ EI_CLASS, 0, -ALDER_ENOEXEC },
		{ EI_DATA, 2, -ALDER_ENOEXEC },       /* big endian */
		{ EI_DATA, 0, -ALDER_ENOEXEC },
		{ EI_VERSION, 0, -ALDER_ENOEXEC },
		{ EI_VERSION, 2, -ALDER_ENOEXEC },
		{ EI_OSABI, ELFOSABI_GNU, 0 },
		{ EI_OSABI, 9, -ALDER_ENOEXEC },      /* FreeBSD */
		{ EI_OSABI, 0xff, -ALDER_ENOEXEC },   /* standalone */
		{ 8, 0x55, 0 },                       /* EI_ABIVERSION: ignored */
		{ 15, 0xff, 0 },                      /* padding: ignored */
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		base();
		file[cases[i].index] = cases[i].value;
		assert_int_equal(parse(), cases[i].want);
	}
}

static void test_short_header(void **state)
{
	base();
	for (size_t n = EI_NIDENT; n < sizeof(struct elf64_ehdr); n++)
		assert_int_equal(elf_parse(file, n, USER_LIMIT, &img), -ALDER_EINVAL);
}

static void test_type(void **state)
{
	static const uint16_t types[] = { 0, 1, ET_DYN, 4, 0xfe00, 0xffff };

	for (size_t i = 0; i < ARRAY_SIZE(types); i++) {
		base();
		struct elf64_ehdr h = ehdr();
		h.e_type = types[i];
		set_ehdr(&h);
		assert_int_equal(parse(), -ALDER_ENOEXEC);
	}
}

static void test_machine_and_version(void **state)
{
	static const uint16_t machines[] = { 0, 3 /* i386 */, 40 /* ARM */, 183 /* AArch64 */,
					     243 /* RISC-V */ };

	for (size_t i = 0; i < ARRAY_SIZE(machines); i++) {
		base();
		struct elf64_ehdr h = ehdr();
		h.e_machine = machines[i];
		set_ehdr(&h);
		assert_int_equal(parse(), -ALDER_ENOEXEC);
	}
	base();
	struct elf64_ehdr h = ehdr();
	h.e_version = 0;
	set_ehdr(&h);
	assert_int_equal(parse(), -ALDER_ENOEXEC);
}

static void test_ehsize_phentsize(void **state)
{
	static const uint16_t phent[] = { 0, 32, 55, 57, 64, 0xffff };
	struct elf64_ehdr h;

	for (size_t i = 0; i < ARRAY_SIZE(phent); i++) {
		base();
		h = ehdr();
		h.e_phentsize = phent[i];
		set_ehdr(&h);
		assert_int_equal(parse(), -ALDER_EINVAL);
	}
	base();
	h = ehdr();
	h.e_ehsize = 52; /* the ELF32 size */
	set_ehdr(&h);
	assert_int_equal(parse(), -ALDER_EINVAL);
	h.e_ehsize = 0;
	set_ehdr(&h);
	assert_int_equal(parse(), -ALDER_EINVAL);
}

static void test_phnum(void **state)
{
	struct elf64_ehdr h;

	base();
	h = ehdr();
	h.e_phnum = 0;
	set_ehdr(&h);
	assert_int_equal(parse(), -ALDER_EINVAL);
	h.e_phnum = PN_XNUM; /* extended numbering: the count is in section 0 */
	set_ehdr(&h);
	assert_int_equal(parse(), -ALDER_EINVAL);
}

static void test_phdrs_in_file(void **state)
{
	struct elf64_ehdr h;
	struct elf64_phdr t, d;

	/* Program headers at the very end of the file: fine. */
	base();
	t = phdr(0);
	d = phdr(1);
	h = ehdr();
	h.e_phoff = file_len - 2 * sizeof(struct elf64_phdr);
	set_ehdr(&h);
	set_phdr(0, &t);
	set_phdr(1, &d);
	assert_int_equal(parse(), 0);

	/* One byte further: the second runs past the end. */
	h.e_phoff++;
	set_ehdr(&h);
	assert_int_equal(parse(), -ALDER_EINVAL);

	static const uint64_t offs[] = { 0x3000, 0x3001, UINT64_MAX, UINT64_MAX - 55,
					 UINT64_MAX - 2 * 56 + 1, 1ull << 63 };
	for (size_t i = 0; i < ARRAY_SIZE(offs); i++) {
		base();
		h = ehdr();
		h.e_phoff = offs[i];
		set_ehdr(&h);
		assert_int_equal(parse(), -ALDER_EINVAL);
	}

	/* More headers than the file holds. */
	base();
	h = ehdr();
	h.e_phnum = 0x3000 / 56 + 1;
	set_ehdr(&h);
	assert_int_equal(parse(), -ALDER_EINVAL);
}

static void test_interp(void **state)
{
	base();
	struct elf64_ehdr h = ehdr();
	h.e_phnum = 3;
	set_ehdr(&h);
	set_phdr(2, &(struct elf64_phdr){ .p_type = PT_INTERP, .p_offset = 0x200, .p_filesz = 28 });
	assert_int_equal(parse(), -ALDER_ENOEXEC);
}

static void test_filesz_memsz(void **state)
{
	base();
	struct elf64_phdr d = phdr(1);
	d.p_filesz = d.p_memsz + 1;
	set_phdr(1, &d);
	assert_int_equal(parse(), -ALDER_EINVAL);
	d.p_filesz = d.p_memsz; /* equal is fine */
	d.p_memsz = 0x100;
	d.p_filesz = 0x100;
	set_phdr(1, &d);
	assert_int_equal(parse(), 0);
}

static void test_segment_in_file(void **state)
{
	struct elf64_phdr d;

	/* Ends exactly at the end of the file: fine. */
	base();
	d = phdr(1);
	d.p_filesz = file_len - d.p_offset;
	set_phdr(1, &d);
	assert_int_equal(parse(), 0);
	d.p_filesz++;
	d.p_memsz = 0x3000;
	set_phdr(1, &d);
	assert_int_equal(parse(), -ALDER_EINVAL);

	/* An offset that would wrap around with the size added. */
	static const uint64_t offs[] = { UINT64_MAX - 0xfff, 0xfffffffffffff010ull,
					 0xffffffffffffff10ull /* + filesz wraps to 0x10 */, 0x4010 };
	for (size_t i = 0; i < ARRAY_SIZE(offs); i++) {
		base();
		d = phdr(1);
		d.p_offset = offs[i];
		d.p_vaddr = 0x410000 + (offs[i] & 0xfff);
		set_phdr(1, &d);
		assert_int_equal(parse(), -ALDER_EINVAL);
	}

	/* A bss-only segment may have any offset inside the file. */
	base();
	d = load(0x3000, 0x500000, 0, 0x1000, PF_R | PF_W);
	set_phdr(1, &d);
	assert_int_equal(parse(), 0);
}

static void test_page_zero(void **state)
{
	static const uint64_t vaddrs[] = { 0, 0x10, 0xfff };

	for (size_t i = 0; i < ARRAY_SIZE(vaddrs); i++) {
		base();
		struct elf64_phdr t = phdr(0);
		t.p_vaddr = vaddrs[i];
		t.p_offset = vaddrs[i];
		t.p_filesz = t.p_memsz = 0x100;
		set_phdr(0, &t);
		struct elf64_ehdr h = ehdr();
		h.e_entry = vaddrs[i];
		set_ehdr(&h);
		assert_int_equal(parse(), -ALDER_EINVAL);
	}
	/* The first page above zero is fine. */
	base();
	struct elf64_phdr t = phdr(0);
	t.p_vaddr = PAGE_SIZE;
	set_phdr(0, &t);
	struct elf64_ehdr h = ehdr();
	h.e_entry = PAGE_SIZE;
	set_ehdr(&h);
	assert_int_equal(parse(), 0);
}

static void test_congruence(void **state)
{
	base();
	struct elf64_phdr d = phdr(1);
	d.p_vaddr += 8; /* offset 0x2010, vaddr 0x...018 */
	set_phdr(1, &d);
	assert_int_equal(parse(), -ALDER_EINVAL);
	/* Same page offset, different page: fine (p_align is not looked at). */
	d.p_vaddr = 0x7ff010;
	d.p_align = 0x200000;
	set_phdr(1, &d);
	assert_int_equal(parse(), 0);
}

static void test_user_limit(void **state)
{
	struct elf64_phdr d;

	/* Ends exactly at the limit. */
	base();
	d = load(0x2000, USER_LIMIT - 0x1000, 0x100, 0x1000, PF_R | PF_W);
	set_phdr(1, &d);
	assert_int_equal(parse(), 0);
	/* One byte over. */
	d.p_memsz++;
	set_phdr(1, &d);
	assert_int_equal(parse(), -ALDER_EINVAL);
	/* Starting at the limit. */
	d = load(0x2000, USER_LIMIT, 0x100, 0x100, PF_R | PF_W);
	set_phdr(1, &d);
	assert_int_equal(parse(), -ALDER_EINVAL);
	/* Kernel addresses. */
	d = load(0x2000, 0xffffffff80000000ull, 0x100, 0x100, PF_R | PF_W);
	set_phdr(1, &d);
	assert_int_equal(parse(), -ALDER_EINVAL);
	/* vaddr + memsz wraps around. */
	d = load(0x2000, 0xfffffffffffff000ull, 0x100, 0x2000, PF_R | PF_W);
	set_phdr(1, &d);
	assert_int_equal(parse(), -ALDER_EINVAL);
	/* Ends in the last page: rounding up to a page would wrap. */
	d = load(0x2000, 0xfffffffffffff000ull, 0x100, 0xfff, PF_R | PF_W);
	set_phdr(1, &d);
	assert_int_equal(elf_parse(file, file_len, UINT64_MAX, &img), -ALDER_EINVAL);
	/* Huge memsz from a small vaddr. */
	d = load(0x2000, 0x402000, 0x100, UINT64_MAX - 0x401000, PF_R | PF_W);
	set_phdr(1, &d);
	assert_int_equal(parse(), -ALDER_EINVAL);

	/* Data ends at 0x404010. With an unaligned limit the whole last
	 * page, which the loader maps, must be below it. */
	base();
	assert_int_equal(elf_parse(file, file_len, 0x405000, &img), 0);
	assert_int_equal(elf_parse(file, file_len, 0x404fff, &img), -ALDER_EINVAL);
	assert_int_equal(elf_parse(file, file_len, 0x404010, &img), -ALDER_EINVAL);
}

static void test_overlap(void **state)
{
	struct elf64_phdr d;

	/* Data starting in the page where text ends (text ends at 0x401100). */
	base();
	d = load(0x2010, 0x401010 + 0x1000, 0x100, 0x100, PF_R | PF_W);
	d.p_vaddr = 0x401010;
	set_phdr(1, &d);
	assert_int_equal(parse(), -ALDER_EINVAL);

	/* Ranges that are disjoint in bytes but share a page. */
	base();
	d = load(0x2200, 0x401200, 0x10, 0x10, PF_R | PF_W);
	set_phdr(1, &d);
	assert_int_equal(parse(), -ALDER_EINVAL);

	/* One segment inside the other, listed first. */
	base();
	struct elf64_phdr t = phdr(0);
	d = load(0x2010, 0x3ff010, 0x100, 0x10000, PF_R | PF_W);
	set_phdr(0, &d);
	set_phdr(1, &t);
	assert_int_equal(parse(), -ALDER_EINVAL);

	/* Exactly adjacent pages: fine. */
	base();
	d = load(0x2000, 0x402000, 0x100, 0x100, PF_R | PF_W);
	set_phdr(1, &d);
	assert_int_equal(parse(), 0);
	d.p_vaddr = 0x3ff000;
	d.p_memsz = 0x1000;
	set_phdr(1, &d);
	assert_int_equal(parse(), 0);
	d.p_memsz = 0x1001; /* now reaches into text's first page */
	set_phdr(1, &d);
	assert_int_equal(parse(), -ALDER_EINVAL);
}

static void test_segment_count(void **state)
{
	/* ELF_MAX_SEGMENTS loads, one page each: fine; one more is not. */
	for (size_t n = ELF_MAX_SEGMENTS; n <= ELF_MAX_SEGMENTS + 1; n++) {
		begin(0x20000, (uint16_t)n, 0x400000);
		for (size_t i = 0; i < n; i++) {
			struct elf64_phdr p = load(i * 0x1000, 0x400000 + i * 0x1000, 0x1000, 0x1000,
						   PF_R | PF_X);
			set_phdr(i, &p);
		}
		if (n == ELF_MAX_SEGMENTS) {
			assert_int_equal(parse(), 0);
			assert_int_equal(img.nsegments, ELF_MAX_SEGMENTS);
		} else {
			assert_int_equal(parse(), -ALDER_EINVAL);
		}
	}
}

static void test_no_loads(void **state)
{
	/* Only non-load headers. */
	begin(0x1000, 1, 0x400000);
	set_phdr(0, &(struct elf64_phdr){ .p_type = 4, .p_offset = 0x100, .p_filesz = 0x10 });
	assert_int_equal(parse(), -ALDER_EINVAL);

	/* Only empty loads: not counted, not checked, not enough. */
	begin(0x1000, 2, 0x400000);
	struct elf64_phdr p = load(0xdead, 0, 0, 0, PF_R | PF_X);
	set_phdr(0, &p);
	set_phdr(1, &p);
	assert_int_equal(parse(), -ALDER_EINVAL);

	/* An empty load next to a real one is skipped. */
	base();
	struct elf64_ehdr h = ehdr();
	h.e_phnum = 3;
	set_ehdr(&h);
	set_phdr(2, &p);
	assert_int_equal(parse(), 0);
	assert_int_equal(img.nsegments, 2);
}

static void test_entry(void **state)
{
	static const struct {
		uint64_t entry;
		int want;
	} cases[] = {
		{ 0x400000, 0 },           /* first byte of text */
		{ 0x4010ff, 0 },           /* last byte of text */
		{ 0x401100, -ALDER_EINVAL }, /* just past text */
		{ 0x3fffff, -ALDER_EINVAL },
		{ 0x402010, -ALDER_EINVAL }, /* in data: not executable */
		{ 0, -ALDER_EINVAL },
		{ UINT64_MAX, -ALDER_EINVAL },
	};
	struct elf64_ehdr h;

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		base();
		h = ehdr();
		h.e_entry = cases[i].entry;
		set_ehdr(&h);
		assert_int_equal(parse(), cases[i].want);
	}

	/* Making data executable makes an entry there fine. */
	base();
	struct elf64_phdr d = phdr(1);
	d.p_flags |= PF_X;
	set_phdr(1, &d);
	h = ehdr();
	h.e_entry = 0x403000; /* in data's bss part */
	set_ehdr(&h);
	assert_int_equal(parse(), 0);
}

static void test_flags_masked(void **state)
{
	base();
	struct elf64_phdr t = phdr(0);
	t.p_flags = 0xf0f00000 | PF_R | PF_X; /* OS and processor bits */
	set_phdr(0, &t);
	assert_int_equal(parse(), 0);
	assert_int_equal(img.segments[0].flags, ELF_SEG_R | ELF_SEG_X);
}

/* Headers at odd offsets and an odd buffer address: reads must not care. */
static void test_unaligned(void **state)
{
	base();
	struct elf64_phdr t = phdr(0), d = phdr(1);
	struct elf64_ehdr h = ehdr();
	h.e_phoff = 0x201;
	set_ehdr(&h);
	set_phdr(0, &t);
	set_phdr(1, &d);
	assert_int_equal(parse(), 0);

	memmove(file + 1, file, file_len);
	assert_int_equal(elf_parse(file + 1, file_len, USER_LIMIT, &img), 0);
	assert_int_equal(img.nsegments, 2);
}

/* Garbage in headers that are not loads is never looked at. */
static void test_other_headers_ignored(void **state)
{
	base();
	struct elf64_ehdr h = ehdr();
	h.e_phnum = 3;
	h.e_shoff = UINT64_MAX;
	h.e_shnum = 0xffff;
	h.e_shentsize = 3;
	set_ehdr(&h);
	set_phdr(2, &(struct elf64_phdr){ 2 /* PT_DYNAMIC */, 7, UINT64_MAX, UINT64_MAX, 0,
					  UINT64_MAX, UINT64_MAX, 3 });
	assert_int_equal(parse(), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_real_static_layout),
		cmocka_unit_test(test_bad_magic),
		cmocka_unit_test(test_ident),
		cmocka_unit_test(test_short_header),
		cmocka_unit_test(test_type),
		cmocka_unit_test(test_machine_and_version),
		cmocka_unit_test(test_ehsize_phentsize),
		cmocka_unit_test(test_phnum),
		cmocka_unit_test(test_phdrs_in_file),
		cmocka_unit_test(test_interp),
		cmocka_unit_test(test_filesz_memsz),
		cmocka_unit_test(test_segment_in_file),
		cmocka_unit_test(test_page_zero),
		cmocka_unit_test(test_congruence),
		cmocka_unit_test(test_user_limit),
		cmocka_unit_test(test_overlap),
		cmocka_unit_test(test_segment_count),
		cmocka_unit_test(test_no_loads),
		cmocka_unit_test(test_entry),
		cmocka_unit_test(test_flags_masked),
		cmocka_unit_test(test_unaligned),
		cmocka_unit_test(test_other_headers_ignored),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
