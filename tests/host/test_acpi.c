/*
 * Host tests for the ACPI static table parser (kernel/generic/acpi.c).
 *
 * Tables are built with correct checksums in the shim's fake physical
 * memory. The map callback hands out a fresh heap copy of exactly the bytes
 * asked for, so AddressSanitizer catches any read past a mapping, and it logs
 * every request so tests can check what was mapped.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "../../kernel/generic/acpi.c"
#include <kern/log.h> /* shim.h defines klog() */
#include "shim/shim.h"

#define PHYS_SIZE (1u << 20)

/* Where the standard tables live. */
#define RSDT_AT 0x1000
#define XSDT_AT 0x2000
#define MADT_AT 0x3000
#define HPET_AT 0x4000
#define MCFG_AT 0x5000
#define FADT_AT 0x6000
#define SPARE_AT 0x8000 /* for a second copy of some table */
#define SPARE2_AT 0x9000

struct map_req {
	paddr_t p;
	size_t len;
};

static struct {
	void **copies;
	size_t ncopies;
	struct map_req *log;
	size_t nlog;
} maps;

static uint8_t rsdp[36];
static struct acpi_info info;

static const void *fake_map(paddr_t p, size_t len, void *ctx)
{
	maps.log = realloc(maps.log, (maps.nlog + 1) * sizeof(*maps.log));
	maps.log[maps.nlog++] = (struct map_req){ p, len };
	if (p > PHYS_SIZE || len > PHYS_SIZE - p)
		return NULL;
	void *c = malloc(len ? len : 1);
	memcpy(c, host_phys_base + p, len);
	maps.copies = realloc(maps.copies, (maps.ncopies + 1) * sizeof(void *));
	maps.copies[maps.ncopies++] = c;
	return c;
}

static void maps_reset(void)
{
	for (size_t i = 0; i < maps.ncopies; i++)
		free(maps.copies[i]);
	free(maps.copies);
	free(maps.log);
	memset(&maps, 0, sizeof(maps));
}

static int parse_len(size_t rsdp_len)
{
	maps_reset();
	return acpi_parse(rsdp, rsdp_len, fake_map, NULL, &info);
}

static int parse(void)
{
	return parse_len(sizeof(rsdp));
}

static void put16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }
static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

static uint8_t cksum(const uint8_t *p, size_t n)
{
	uint8_t s = 0;

	for (size_t i = 0; i < n; i++)
		s += p[i];
	return (uint8_t)-s;
}

/* ---- building tables ---- */

static paddr_t tbl_at;
static uint32_t tbl_len;

static uint8_t *mem(paddr_t p)
{
	return host_phys_base + p;
}

static void tbl_begin(paddr_t at, const char *sig, uint8_t rev)
{
	uint8_t *t = mem(at);

	memset(t, 0, ACPI_SDT_HDR_LEN);
	memcpy(t, sig, 4);
	t[8] = rev;
	memcpy(t + 10, "ALDER ", 6);
	memcpy(t + 16, "TESTTBL ", 8);
	tbl_at = at;
	tbl_len = ACPI_SDT_HDR_LEN;
}

static void tbl_put(const void *d, size_t n)
{
	memcpy(mem(tbl_at) + tbl_len, d, n);
	tbl_len += (uint32_t)n;
}

static void tbl_put32(uint32_t v) { tbl_put(&v, 4); }
static void tbl_put64(uint64_t v) { tbl_put(&v, 8); }

/* Recompute the checksum of the table at p from its length field. */
static void fix(paddr_t p)
{
	uint8_t *t = mem(p);
	uint32_t len;

	memcpy(&len, t + 4, 4);
	if (len > PHYS_SIZE - p)
		return; /* cannot be mapped anyway */
	t[9] = 0;
	t[9] = cksum(t, len);
}

static void tbl_end(void)
{
	put32(mem(tbl_at) + 4, tbl_len);
	fix(tbl_at);
}

/* Overwrite bytes inside an existing table and fix its checksum. */
static void patch(paddr_t p, uint32_t off, const void *d, size_t n)
{
	memcpy(mem(p) + off, d, n);
	fix(p);
}

static void set_len(paddr_t p, uint32_t len)
{
	put32(mem(p) + 4, len);
	fix(p);
}

static void rsdp_build(uint8_t rev, uint32_t rsdt, uint64_t xsdt)
{
	memset(rsdp, 0, sizeof(rsdp));
	memcpy(rsdp, "RSD PTR ", 8);
	memcpy(rsdp + 9, "ALDERX", 6);
	rsdp[15] = rev;
	put32(rsdp + 16, rsdt);
	put32(rsdp + 20, 36);
	put64(rsdp + 24, xsdt);
	rsdp[8] = cksum(rsdp, 20);
	rsdp[32] = cksum(rsdp, 36);
}

static void rsdp_fix(void)
{
	rsdp[8] = 0;
	rsdp[8] = cksum(rsdp, 20);
	rsdp[32] = 0;
	rsdp[32] = cksum(rsdp, 36);
}

static void root_build(const uint64_t *entries, size_t n)
{
	tbl_begin(XSDT_AT, "XSDT", 1);
	for (size_t i = 0; i < n; i++)
		tbl_put64(entries[i]);
	tbl_end();
	tbl_begin(RSDT_AT, "RSDT", 1);
	for (size_t i = 0; i < n; i++)
		tbl_put32((uint32_t)entries[i]);
	tbl_end();
}

static void madt_begin(paddr_t at, uint32_t lapic, uint32_t flags)
{
	tbl_begin(at, "APIC", 5);
	tbl_put32(lapic);
	tbl_put32(flags);
}

static void madt_lapic(uint8_t uid, uint8_t id, uint32_t flags)
{
	uint8_t e[8] = { 0, 8, uid, id };

	put32(e + 4, flags);
	tbl_put(e, sizeof(e));
}

static void madt_x2apic(uint32_t id, uint32_t uid, uint32_t flags)
{
	uint8_t e[16] = { 9, 16 };

	put32(e + 4, id);
	put32(e + 8, flags);
	put32(e + 12, uid);
	tbl_put(e, sizeof(e));
}

static void madt_ioapic(uint8_t id, uint32_t addr, uint32_t gsi)
{
	uint8_t e[12] = { 1, 12, id };

	put32(e + 4, addr);
	put32(e + 8, gsi);
	tbl_put(e, sizeof(e));
}

static void madt_iso(uint8_t src, uint32_t gsi, uint16_t flags)
{
	uint8_t e[10] = { 2, 10, 0, src };

	put32(e + 4, gsi);
	put16(e + 8, flags);
	tbl_put(e, sizeof(e));
}

static void madt_lapic_override(uint64_t addr)
{
	uint8_t e[12] = { 5, 12 };

	put64(e + 4, addr);
	tbl_put(e, sizeof(e));
}

static void build_madt(paddr_t at)
{
	madt_begin(at, 0xfee00000, ACPI_MADT_PCAT_COMPAT);
	madt_lapic(0, 0, 1);
	madt_lapic(1, 1, 1);
	madt_lapic(2, 2, 0);  /* unusable */
	madt_lapic(3, 3, 2);  /* online capable */
	tbl_put((uint8_t[]){ 4, 6, 0xff, 5, 0, 1 }, 6); /* local APIC NMI: ignored */
	madt_ioapic(8, 0xfec00000, 0);
	madt_iso(0, 2, 0);
	madt_iso(9, 9, 0xd);
	madt_x2apic(0x100, 0x100, 1);
	tbl_end();
}

static void gas(uint8_t *p, uint8_t space, uint8_t width, uint64_t addr)
{
	p[0] = space;
	p[1] = width;
	p[2] = 0;
	p[3] = 1;
	put64(p + 4, addr);
}

static void build_hpet(paddr_t at)
{
	uint8_t body[20] = { 0 };

	tbl_begin(at, "HPET", 1);
	put32(body, 0x8086a201);
	gas(body + 4, ACPI_GAS_MEMORY, 64, 0xfed00000);
	body[16] = 0;                 /* hpet number */
	put16(body + 17, 0x80);       /* minimum tick */
	body[19] = 0;                 /* page protection */
	tbl_put(body, sizeof(body));
	tbl_end();
	assert_int_equal(tbl_len, 56);
}

static void mcfg_entry(uint64_t base, uint16_t seg, uint8_t b0, uint8_t b1)
{
	uint8_t e[16] = { 0 };

	put64(e, base);
	put16(e + 8, seg);
	e[10] = b0;
	e[11] = b1;
	tbl_put(e, sizeof(e));
}

static void build_mcfg(paddr_t at)
{
	tbl_begin(at, "MCFG", 1);
	tbl_put64(0);
	mcfg_entry(0xb0000000, 0, 0, 255);
	tbl_end();
}

/* An ACPI 6 FADT (276 bytes), shortened to len with revision rev. */
static void build_fadt(paddr_t at, uint8_t rev, uint32_t len)
{
	uint8_t f[276] = { 0 };

	put32(f + 36, 0xdead0000);       /* FIRMWARE_CTRL */
	put32(f + FADT_DSDT, 0x7000);
	put16(f + FADT_SCI_INT, 9);
	put32(f + FADT_SMI_CMD, 0xb2);
	f[FADT_ACPI_ENABLE] = 0xf1;
	f[FADT_ACPI_DISABLE] = 0xf0;
	put32(f + FADT_PM1A_EVT, 0x600);
	put32(f + FADT_PM1A_CNT, 0x604);
	put32(f + FADT_PM_TMR, 0x608);
	f[FADT_PM_TMR_LEN] = 4;
	put16(f + FADT_IAPC_BOOT_ARCH, 0x3);
	put32(f + FADT_FLAGS, FADT_RESET_REG_SUP | 0x1);
	gas(f + FADT_RESET_REG, ACPI_GAS_IO, 8, 0xcf9);
	f[FADT_RESET_VALUE] = 6;
	put64(f + FADT_X_DSDT, 0x7000);
	gas(f + FADT_X_PM1A_EVT, ACPI_GAS_IO, 32, 0x600);
	gas(f + FADT_X_PM1A_CNT, ACPI_GAS_IO, 16, 0x604);
	gas(f + FADT_X_PM_TMR, ACPI_GAS_IO, 32, 0x608);

	tbl_begin(at, "FACP", rev);
	tbl_put(f + ACPI_SDT_HDR_LEN, len - ACPI_SDT_HDR_LEN);
	tbl_end();
}

/* RSDP 2.0 -> XSDT (and RSDT) -> MADT, HPET, MCFG, FADT. */
static void build_std(void)
{
	static const uint64_t entries[] = { FADT_AT, MADT_AT, HPET_AT, MCFG_AT };

	memset(host_phys_base, 0, PHYS_SIZE);
	root_build(entries, ARRAY_SIZE(entries));
	build_madt(MADT_AT);
	build_hpet(HPET_AT);
	build_mcfg(MCFG_AT);
	build_fadt(FADT_AT, 6, 276);
	rsdp_build(2, RSDT_AT, XSDT_AT);
}

static int setup(void **state)
{
	host_phys_setup(PHYS_SIZE);
	return 0;
}

static int teardown(void **state)
{
	maps_reset();
	return 0;
}

static bool mapped(paddr_t p, size_t len)
{
	for (size_t i = 0; i < maps.nlog; i++)
		if (maps.log[i].p == p && maps.log[i].len == len)
			return true;
	return false;
}

static bool mapped_at(paddr_t p)
{
	for (size_t i = 0; i < maps.nlog; i++)
		if (maps.log[i].p == p)
			return true;
	return false;
}

/* ---- tests ---- */

static void test_std(void **state)
{
	build_std();
	assert_int_equal(parse(), 0);
	assert_int_equal(info.revision, 2);
	assert_string_equal(info.oem_id, "ALDERX");

	assert_true(info.has_madt);
	assert_int_equal(info.lapic_addr, 0xfee00000);
	assert_true(info.has_8259);
	assert_int_equal(info.ncpus, 5);
	assert_int_equal(info.cpus[0].apic_id, 0);
	assert_true(info.cpus[0].enabled);
	assert_int_equal(info.cpus[2].apic_id, 2);
	assert_false(info.cpus[2].enabled);
	assert_true(info.cpus[3].enabled);
	assert_int_equal(info.cpus[4].apic_id, 0x100);
	assert_int_equal(info.cpus[4].acpi_uid, 0x100);
	assert_int_equal(info.nioapics, 1);
	assert_int_equal(info.ioapics[0].id, 8);
	assert_int_equal(info.ioapics[0].addr, 0xfec00000);
	assert_int_equal(info.ioapics[0].gsi_base, 0);
	assert_int_equal(info.nisos, 2);
	assert_int_equal(info.isos[0].source, 0);
	assert_int_equal(info.isos[0].gsi, 2);
	assert_int_equal(info.isos[1].source, 9);
	assert_int_equal(info.isos[1].gsi, 9);
	assert_int_equal(info.isos[1].flags, 0xd);

	assert_true(info.has_hpet);
	assert_int_equal(info.hpet_addr, 0xfed00000);
	assert_int_equal(info.hpet_min_tick, 0x80);

	assert_int_equal(info.nmcfg, 1);
	assert_int_equal(info.mcfg[0].base, 0xb0000000);
	assert_int_equal(info.mcfg[0].bus_start, 0);
	assert_int_equal(info.mcfg[0].bus_end, 255);

	assert_true(info.has_fadt);
	assert_int_equal(info.dsdt, 0x7000);
	assert_int_equal(info.sci_irq, 9);
	assert_int_equal(info.smi_cmd, 0xb2);
	assert_int_equal(info.acpi_enable, 0xf1);
	assert_int_equal(info.acpi_disable, 0xf0);
	assert_int_equal(info.pm1a_evt, 0x600);
	assert_int_equal(info.pm1b_evt, 0);
	assert_int_equal(info.pm1a_cnt, 0x604);
	assert_int_equal(info.pm_tmr, 0x608);
	assert_int_equal(info.pm_tmr_len, 4);
	assert_int_equal(info.iapc_boot_arch, 3);
	assert_true(info.flags & FADT_RESET_REG_SUP);
	assert_true(info.has_reset_reg);
	assert_int_equal(info.reset_reg.space_id, ACPI_GAS_IO);
	assert_int_equal(info.reset_reg.address, 0xcf9);
	assert_int_equal(info.reset_value, 6);

	/* The XSDT was used, and each table mapped as header, then exactly. */
	assert_true(mapped(XSDT_AT, 36 + 4 * 8));
	assert_false(mapped_at(RSDT_AT));
	assert_true(mapped(MADT_AT, 36));
	assert_true(mapped(MADT_AT, 44 + 4 * 8 + 6 + 12 + 2 * 10 + 16));
	assert_true(mapped(HPET_AT, 56));
	assert_true(mapped(MCFG_AT, 60));
	assert_true(mapped(FADT_AT, 276));
}

static void test_rsdp_invalid(void **state)
{
	build_std();
	assert_int_equal(acpi_parse(NULL, 36, fake_map, NULL, &info), -ALDER_EINVAL);
	for (size_t n = 0; n < 20; n++)
		assert_int_equal(parse_len(n), -ALDER_EINVAL);

	rsdp[0] = 'r';
	rsdp_fix();
	assert_int_equal(parse(), -ALDER_EINVAL);

	build_std();
	rsdp[8]++; /* v1 checksum */
	assert_int_equal(parse(), -ALDER_EINVAL);
	assert_int_equal(maps.nlog, 0); /* nothing mapped on a bad RSDP */
}

static void test_rsdp_v1_uses_rsdt(void **state)
{
	build_std();
	rsdp[15] = 0;
	rsdp_fix();
	assert_int_equal(parse_len(20), 0);
	assert_int_equal(info.revision, 0);
	assert_true(mapped_at(RSDT_AT));
	assert_false(mapped_at(XSDT_AT));
	assert_true(info.has_madt && info.has_fadt && info.has_hpet);
	assert_int_equal(info.nmcfg, 1);
}

/* A 2.0 RSDP whose extended part cannot be trusted: fall back to the RSDT. */
static void test_rsdp_v2_bad_extension(void **state)
{
	/* Extended checksum wrong. */
	build_std();
	rsdp[32]++;
	assert_int_equal(parse(), 0);
	assert_true(mapped_at(RSDT_AT));
	assert_false(mapped_at(XSDT_AT));
	assert_true(info.has_madt);

	/* Only the 1.0 part was handed over. */
	build_std();
	assert_int_equal(parse_len(20), 0);
	assert_false(mapped_at(XSDT_AT));
	assert_true(info.has_madt);

	/* The length field claims more than we were given, or too little. */
	static const uint32_t lens[] = { 37, 0xffffffff, 35, 20, 0 };
	for (size_t i = 0; i < ARRAY_SIZE(lens); i++) {
		build_std();
		put32(rsdp + 20, lens[i]);
		rsdp_fix();
		assert_int_equal(parse(), 0);
		assert_false(mapped_at(XSDT_AT));
		assert_true(info.has_madt);
	}
}

static void test_xsdt_preferred(void **state)
{
	/* The RSDT lists a different MADT with one CPU. */
	build_std();
	madt_begin(SPARE_AT, 0xfee00000, 0);
	madt_lapic(0, 7, 1);
	tbl_end();
	tbl_begin(RSDT_AT, "RSDT", 1);
	tbl_put32(SPARE_AT);
	tbl_end();
	assert_int_equal(parse(), 0);
	assert_int_equal(info.ncpus, 5);
	assert_false(mapped_at(RSDT_AT));

	/* With the XSDT broken in each way, the RSDT's MADT is used. */
	for (int how = 0; how < 5; how++) {
		build_std();
		madt_begin(SPARE_AT, 0xfee00000, 0);
		madt_lapic(0, 7, 1);
		tbl_end();
		tbl_begin(RSDT_AT, "RSDT", 1);
		tbl_put32(SPARE_AT);
		tbl_end();
		switch (how) {
		case 0: /* bad checksum */
			mem(XSDT_AT)[9]++;
			break;
		case 1: /* wrong signature */
			patch(XSDT_AT, 0, "RSDT", 4);
			break;
		case 2: /* address 0 */
			put64(rsdp + 24, 0);
			rsdp_fix();
			break;
		case 3: /* outside memory */
			put64(rsdp + 24, 0x100000000ull);
			rsdp_fix();
			break;
		case 4: /* shorter than a header */
			set_len(XSDT_AT, 35);
			break;
		}
		assert_int_equal(parse(), 0);
		assert_int_equal(info.ncpus, 1);
		assert_int_equal(info.cpus[0].apic_id, 7);
		assert_false(info.has_fadt);
	}
}

static void test_no_root(void **state)
{
	build_std();
	mem(XSDT_AT)[9]++;
	mem(RSDT_AT)[9]++;
	assert_int_equal(parse(), -ALDER_EINVAL);

	build_std();
	put64(rsdp + 24, 0);
	put32(rsdp + 16, 0);
	rsdp_fix();
	assert_int_equal(parse(), -ALDER_EINVAL);

	/* RSDT address pointing at the XSDT: wrong signature. */
	build_std();
	rsdp[15] = 0;
	put32(rsdp + 16, XSDT_AT);
	rsdp_fix();
	assert_int_equal(parse(), -ALDER_EINVAL);
}

/* An empty root table is valid: nothing found. */
static void test_empty_root(void **state)
{
	build_std();
	root_build(NULL, 0);
	assert_int_equal(parse(), 0);
	assert_false(info.has_madt || info.has_fadt || info.has_hpet);
	assert_int_equal(info.nmcfg, 0);
}

/* A bad table is skipped; the others are still read. */
static void test_bad_tables_skipped(void **state)
{
	build_std();
	mem(MADT_AT)[9]++;
	assert_int_equal(parse(), 0);
	assert_false(info.has_madt);
	assert_int_equal(info.ncpus, 0);
	assert_true(info.has_fadt && info.has_hpet);

	/* Lengths: below the header, below the MADT's fixed part, past memory, over the cap. */
	static const uint32_t lens[] = { 0, 35, 36, 43, PHYS_SIZE, ACPI_MAX_TABLE_LEN + 1,
					 0xffffffff };
	for (size_t i = 0; i < ARRAY_SIZE(lens); i++) {
		build_std();
		set_len(MADT_AT, lens[i]);
		assert_int_equal(parse(), 0);
		assert_false(info.has_madt);
		assert_true(info.has_fadt);
	}

	/* Root entries that point nowhere useful. */
	build_std();
	static const uint64_t entries[] = { 0, 0xffffffffffffffffull, PHYS_SIZE - 10, PHYS_SIZE,
					    SPARE_AT, MADT_AT };
	root_build(entries, ARRAY_SIZE(entries));
	tbl_begin(SPARE_AT, "SSDT", 2); /* not ours */
	tbl_put32(0x12345678);
	tbl_end();
	assert_int_equal(parse(), 0);
	assert_true(info.has_madt);
	assert_false(mapped_at(0));
}

/* A root table whose length is not a whole number of entries. */
static void test_root_partial_entry(void **state)
{
	build_std();
	set_len(XSDT_AT, 36 + 8 + 4); /* FADT, and half of the MADT's address */
	assert_int_equal(parse(), 0);
	assert_true(info.has_fadt);
	assert_false(info.has_madt);
}

static void test_duplicates(void **state)
{
	static const uint64_t entries[] = { MADT_AT, SPARE_AT, FADT_AT };

	/* The first valid copy wins. */
	build_std();
	root_build(entries, ARRAY_SIZE(entries));
	madt_begin(SPARE_AT, 0xfee00000, 0);
	madt_lapic(0, 7, 1);
	tbl_end();
	assert_int_equal(parse(), 0);
	assert_int_equal(info.ncpus, 5);

	/* If the first is bad, the second is used. */
	mem(MADT_AT)[9]++;
	assert_int_equal(parse(), 0);
	assert_true(info.has_madt);
	assert_int_equal(info.ncpus, 1);
	assert_false(info.has_8259);
}

static void test_madt_bad_entry_length(void **state)
{
	/* An entry of length 0 or 1, or running past the end: stop there. */
	static const uint8_t lens[] = { 0, 1, 255 };

	for (size_t i = 0; i < ARRAY_SIZE(lens); i++) {
		build_std();
		madt_begin(MADT_AT, 0xfee00000, 1);
		madt_lapic(0, 0, 1);
		madt_ioapic(1, 0xfec00000, 0);
		tbl_put((uint8_t[]){ 0, lens[i], 1, 1, 1, 0, 0, 0 }, 8);
		madt_lapic(2, 2, 1); /* never read */
		tbl_end();
		assert_int_equal(parse(), 0);
		assert_true(info.has_madt);
		assert_int_equal(info.nioapics, 1);
		assert_int_equal(info.ncpus, 1);
	}

	/* The last entry claims one byte more than the table holds. */
	build_std();
	madt_begin(MADT_AT, 0xfee00000, 1);
	madt_lapic(0, 0, 1);
	madt_lapic(2, 2, 1);
	mem(MADT_AT)[tbl_len - 8 + 1] = 9;
	tbl_end();
	assert_int_equal(parse(), 0);
	assert_int_equal(info.ncpus, 1);
}

/* The last entry cut short by the table's length. */
static void test_madt_truncated_entry(void **state)
{
	for (uint32_t cut = 1; cut < 16; cut++) {
		build_std();
		madt_begin(MADT_AT, 0xfee00000, 1);
		madt_lapic(0, 0, 1);
		madt_x2apic(0x200, 5, 1);
		tbl_end();
		set_len(MADT_AT, tbl_len - cut);
		assert_int_equal(parse(), 0);
		assert_true(info.has_madt);
		assert_int_equal(info.ncpus, 1);
	}
}

/* An entry shorter than its type needs is skipped; parsing goes on. */
static void test_madt_short_entries(void **state)
{
	build_std();
	madt_begin(MADT_AT, 0xfee00000, 1);
	tbl_put((uint8_t[]){ 0, 6, 1, 1, 1, 0 }, 6);            /* LAPIC needs 8 */
	tbl_put((uint8_t[]){ 1, 8, 1, 0, 0, 0, 0xc0, 0xfe }, 8); /* IOAPIC needs 12 */
	tbl_put((uint8_t[]){ 2, 8, 0, 0, 2, 0, 0, 0 }, 8);      /* ISO needs 10 */
	tbl_put((uint8_t[]){ 5, 4, 0, 0 }, 4);                  /* override needs 12 */
	tbl_put((uint8_t[]){ 9, 12, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0 }, 12); /* x2APIC needs 16 */
	tbl_put((uint8_t[]){ 0x7f, 2 }, 2);                     /* unknown type */
	madt_lapic(4, 4, 1);
	tbl_end();
	assert_int_equal(parse(), 0);
	assert_int_equal(info.ncpus, 1);
	assert_int_equal(info.cpus[0].apic_id, 4);
	assert_int_equal(info.nioapics, 0);
	assert_int_equal(info.nisos, 0);
	assert_int_equal(info.lapic_addr, 0xfee00000);

	/* Longer entries than the type needs are fine. */
	build_std();
	madt_begin(MADT_AT, 0xfee00000, 1);
	tbl_put((uint8_t[]){ 0, 10, 1, 3, 1, 0, 0, 0, 0xaa, 0xbb }, 10);
	tbl_end();
	assert_int_equal(parse(), 0);
	assert_int_equal(info.ncpus, 1);
	assert_int_equal(info.cpus[0].apic_id, 3);
}

static void test_madt_stray_byte(void **state)
{
	build_std();
	madt_begin(MADT_AT, 0xfee00000, 1);
	madt_lapic(0, 0, 1);
	tbl_put((uint8_t[]){ 0 }, 1);
	tbl_end();
	assert_int_equal(parse(), 0);
	assert_int_equal(info.ncpus, 1);
}

static void test_lapic_override(void **state)
{
	build_std();
	madt_begin(MADT_AT, 0xfee00000, 0);
	madt_lapic(0, 0, 1);
	madt_lapic_override(0x1fee00000ull);
	madt_lapic(1, 1, 1);
	tbl_end();
	assert_int_equal(parse(), 0);
	assert_int_equal(info.lapic_addr, 0x1fee00000ull);
	assert_int_equal(info.ncpus, 2);
	assert_false(info.has_8259);

	/* Listed first, it still wins over the header's address. */
	build_std();
	madt_begin(MADT_AT, 0xfee00000, 0);
	madt_lapic_override(0xfee10000);
	madt_lapic(0, 0, 1);
	tbl_end();
	assert_int_equal(parse(), 0);
	assert_int_equal(info.lapic_addr, 0xfee10000);
}

static void test_too_many(void **state)
{
	build_std();
	madt_begin(MADT_AT, 0xfee00000, 1);
	for (int i = 0; i < ACPI_MAX_CPUS + 6; i++)
		madt_lapic((uint8_t)i, (uint8_t)i, 1);
	for (int i = 0; i < ACPI_MAX_IOAPICS + 2; i++)
		madt_ioapic((uint8_t)i, 0xfec00000 + 0x1000 * i, 24 * i);
	for (int i = 0; i < ACPI_MAX_ISOS + 3; i++)
		madt_iso((uint8_t)i, i, 0);
	tbl_end();
	assert_int_equal(parse(), 0);
	assert_int_equal(info.ncpus, ACPI_MAX_CPUS);
	assert_int_equal(info.cpus[ACPI_MAX_CPUS - 1].apic_id, ACPI_MAX_CPUS - 1);
	assert_int_equal(info.nioapics, ACPI_MAX_IOAPICS);
	assert_int_equal(info.ioapics[ACPI_MAX_IOAPICS - 1].gsi_base, 24 * (ACPI_MAX_IOAPICS - 1));
	assert_int_equal(info.nisos, ACPI_MAX_ISOS);
	assert_int_equal(info.isos[ACPI_MAX_ISOS - 1].source, ACPI_MAX_ISOS - 1);
}

/* The same CPU as a local APIC and an x2APIC entry is one CPU. */
static void test_cpu_dedup(void **state)
{
	build_std();
	madt_begin(MADT_AT, 0xfee00000, 1);
	madt_lapic(0, 0, 1);
	madt_lapic(1, 1, 0);
	madt_x2apic(0, 0, 1);
	madt_x2apic(1, 1, 1); /* enables the disabled one */
	madt_x2apic(2, 2, 1);
	tbl_end();
	assert_int_equal(parse(), 0);
	assert_int_equal(info.ncpus, 3);
	assert_true(info.cpus[1].enabled);
}

static void test_fadt_v1(void **state)
{
	/* An ACPI 1.0 FADT (116 bytes): no X_DSDT, no reset register, and
	 * the reserved byte where IAPC_BOOT_ARCH later went is not believed. */
	build_std();
	build_fadt(FADT_AT, 1, 116);
	assert_int_equal(parse(), 0);
	assert_true(info.has_fadt);
	assert_int_equal(info.dsdt, 0x7000);
	assert_int_equal(info.pm1a_evt, 0x600);
	assert_int_equal(info.pm_tmr_len, 4);
	assert_int_equal(info.iapc_boot_arch, 0);
	assert_int_equal(info.flags, FADT_RESET_REG_SUP | 1);
	assert_false(info.has_reset_reg);
	assert_true(mapped(FADT_AT, 116));
}

static void test_fadt_lengths(void **state)
{
	/* Every length from the minimum to the full table: only fields
	 * inside the length are read (ASan checks the mapping). */
	for (uint32_t len = ACPI_FADT_MIN; len <= 276; len++) {
		build_std();
		build_fadt(FADT_AT, 3, len);
		assert_int_equal(parse(), 0);
		assert_true(info.has_fadt);
		assert_int_equal(info.dsdt, 0x7000);
		assert_int_equal(info.sci_irq, len >= 48 ? 9 : 0);
		assert_int_equal(info.pm_tmr, len >= 80 ? 0x608 : 0);
		assert_int_equal(info.flags, len >= 116 ? (FADT_RESET_REG_SUP | 1) : 0);
		assert_int_equal(info.has_reset_reg, len >= 129);
		assert_int_equal(info.iapc_boot_arch, len > 132 ? 3 : 0);
	}
	build_std();
	build_fadt(FADT_AT, 3, ACPI_FADT_MIN - 1);
	assert_int_equal(parse(), 0);
	assert_false(info.has_fadt);
}

static void test_fadt_x_dsdt(void **state)
{
	uint64_t x = 0x123456789000ull;

	build_std();
	patch(FADT_AT, FADT_X_DSDT, &x, 8);
	assert_int_equal(parse(), 0);
	assert_int_equal(info.dsdt, x);

	/* Only X_DSDT set. */
	patch(FADT_AT, FADT_DSDT, &(uint32_t){ 0 }, 4);
	assert_int_equal(parse(), 0);
	assert_int_equal(info.dsdt, x);

	/* X_DSDT zero: the 32-bit one. */
	build_std();
	patch(FADT_AT, FADT_X_DSDT, &(uint64_t){ 0 }, 8);
	patch(FADT_AT, FADT_DSDT, &(uint32_t){ 0x7100 }, 4);
	assert_int_equal(parse(), 0);
	assert_int_equal(info.dsdt, 0x7100);

	/* X_DSDT cut off by the length: the 32-bit one. */
	build_std();
	build_fadt(FADT_AT, 3, FADT_X_DSDT + 7);
	patch(FADT_AT, FADT_DSDT, &(uint32_t){ 0x7200 }, 4);
	assert_int_equal(parse(), 0);
	assert_int_equal(info.dsdt, 0x7200);
}

static void test_fadt_x_pm_blocks(void **state)
{
	uint8_t g[12];

	/* 32-bit fields zero: the X_ I/O addresses are used. */
	build_std();
	patch(FADT_AT, FADT_PM1A_EVT, &(uint32_t){ 0 }, 4);
	patch(FADT_AT, FADT_PM_TMR, &(uint32_t){ 0 }, 4);
	patch(FADT_AT, FADT_PM_TMR_LEN, &(uint8_t){ 0 }, 1);
	assert_int_equal(parse(), 0);
	assert_int_equal(info.pm1a_evt, 0x600);
	assert_int_equal(info.pm_tmr, 0x608);
	assert_int_equal(info.pm_tmr_len, 4);

	/* ...but not memory-space or out-of-range ones. */
	gas(g, ACPI_GAS_MEMORY, 32, 0x600);
	patch(FADT_AT, FADT_X_PM1A_EVT, g, 12);
	gas(g, ACPI_GAS_IO, 32, 0x100000000ull);
	patch(FADT_AT, FADT_X_PM_TMR, g, 12);
	assert_int_equal(parse(), 0);
	assert_int_equal(info.pm1a_evt, 0);
	assert_int_equal(info.pm_tmr, 0);
	assert_int_equal(info.pm_tmr_len, 0);
}

static void test_fadt_reset_reg(void **state)
{
	/* Without RESET_REG_SUP the register is not offered. */
	build_std();
	patch(FADT_AT, FADT_FLAGS, &(uint32_t){ 1 }, 4);
	assert_int_equal(parse(), 0);
	assert_false(info.has_reset_reg);

	/* Supported but address 0. */
	build_std();
	patch(FADT_AT, FADT_RESET_REG + 4, &(uint64_t){ 0 }, 8);
	assert_int_equal(parse(), 0);
	assert_false(info.has_reset_reg);

	/* Cut just before RESET_VALUE. */
	build_std();
	build_fadt(FADT_AT, 2, FADT_RESET_VALUE);
	assert_int_equal(parse(), 0);
	assert_false(info.has_reset_reg);
}

static void test_hpet(void **state)
{
	uint8_t g[12];

	build_std();
	gas(g, ACPI_GAS_IO, 64, 0xfed00000);
	patch(HPET_AT, 40, g, 12);
	assert_int_equal(parse(), 0);
	assert_false(info.has_hpet);

	build_std();
	gas(g, ACPI_GAS_MEMORY, 64, 0);
	patch(HPET_AT, 40, g, 12);
	assert_int_equal(parse(), 0);
	assert_false(info.has_hpet);

	build_std();
	set_len(HPET_AT, 55);
	assert_int_equal(parse(), 0);
	assert_false(info.has_hpet);
}

static void test_mcfg(void **state)
{
	build_std();
	tbl_begin(MCFG_AT, "MCFG", 1);
	tbl_put64(0);
	mcfg_entry(0xb0000000, 0, 0, 63);
	mcfg_entry(0, 1, 0, 255);          /* base 0: skipped */
	mcfg_entry(0xc0000000, 2, 10, 9);  /* end before start: skipped */
	for (int i = 0; i < ACPI_MAX_MCFG + 1; i++)
		mcfg_entry(0xd0000000ull + i * 0x10000000ull, (uint16_t)(3 + i), 0, 0);
	tbl_end();
	assert_int_equal(parse(), 0);
	assert_int_equal(info.nmcfg, ACPI_MAX_MCFG);
	assert_int_equal(info.mcfg[0].bus_end, 63);
	assert_int_equal(info.mcfg[1].segment, 3);
	assert_int_equal(info.mcfg[ACPI_MAX_MCFG - 1].segment, 3 + ACPI_MAX_MCFG - 2);

	/* A partial last entry is not read. */
	build_std();
	set_len(MCFG_AT, 60 - 1);
	assert_int_equal(parse(), 0);
	assert_int_equal(info.nmcfg, 0);
	set_len(MCFG_AT, 43);
	assert_int_equal(parse(), 0);
	assert_int_equal(info.nmcfg, 0);
}

/* Tables and RSDP at odd addresses (UBSan checks alignment). */
static void test_misaligned(void **state)
{
	static const uint64_t entries[] = { MADT_AT + 3, FADT_AT + 1, HPET_AT + 5 };
	static uint8_t shifted[40];

	memset(host_phys_base, 0, PHYS_SIZE);
	tbl_begin(XSDT_AT + 1, "XSDT", 1);
	for (size_t i = 0; i < ARRAY_SIZE(entries); i++)
		tbl_put64(entries[i]);
	tbl_end();
	build_madt(MADT_AT + 3);
	build_fadt(FADT_AT + 1, 6, 276);
	build_hpet(HPET_AT + 5);
	rsdp_build(2, 0, XSDT_AT + 1);
	memcpy(shifted + 1, rsdp, 36);
	maps_reset();
	assert_int_equal(acpi_parse(shifted + 1, 36, fake_map, NULL, &info), 0);
	assert_int_equal(info.ncpus, 5);
	assert_int_equal(info.isos[1].flags, 0xd);
	assert_int_equal(info.dsdt, 0x7000);
	assert_int_equal(info.hpet_min_tick, 0x80);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_std),
		cmocka_unit_test(test_rsdp_invalid),
		cmocka_unit_test(test_rsdp_v1_uses_rsdt),
		cmocka_unit_test(test_rsdp_v2_bad_extension),
		cmocka_unit_test(test_xsdt_preferred),
		cmocka_unit_test(test_no_root),
		cmocka_unit_test(test_empty_root),
		cmocka_unit_test(test_bad_tables_skipped),
		cmocka_unit_test(test_root_partial_entry),
		cmocka_unit_test(test_duplicates),
		cmocka_unit_test(test_madt_bad_entry_length),
		cmocka_unit_test(test_madt_truncated_entry),
		cmocka_unit_test(test_madt_short_entries),
		cmocka_unit_test(test_madt_stray_byte),
		cmocka_unit_test(test_lapic_override),
		cmocka_unit_test(test_too_many),
		cmocka_unit_test(test_cpu_dedup),
		cmocka_unit_test(test_fadt_v1),
		cmocka_unit_test(test_fadt_lengths),
		cmocka_unit_test(test_fadt_x_dsdt),
		cmocka_unit_test(test_fadt_x_pm_blocks),
		cmocka_unit_test(test_fadt_reset_reg),
		cmocka_unit_test(test_hpet),
		cmocka_unit_test(test_mcfg),
		cmocka_unit_test(test_misaligned),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
