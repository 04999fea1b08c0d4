/*
 * libFuzzer target for the ACPI table parser (kernel/generic/acpi.c).
 *
 * Input: byte 0 holds option bits, the rest is physical memory starting at
 * address 0. The RSDP copy is the first 36 (bit 2: 20) bytes of that memory.
 * The map callback bounds-checks against the memory and returns a heap copy
 * of exactly the bytes asked for, so ASan catches any read past a mapping.
 *
 * Checksums would stop the fuzzer at the door, so (bit 0) the callback fixes
 * the checksum byte of any table it maps whole, and (bit 1) the harness fixes
 * the RSDP's two checksums. With the bits clear, bad checksums are fuzzed too.
 * The parser itself is not changed for fuzzing.
 */
#include <stddef.h>
#include <stdint.h>

#include "../../kernel/generic/acpi.c"
#include "shim.h"

#define OPT_FIX_TABLES 1
#define OPT_FIX_RSDP 2
#define OPT_RSDP_V1 4

static struct {
	uint8_t *mem;
	size_t size;
	bool fix;
	void *copies[4096];
	size_t ncopies;
} fz;

static uint8_t sum8(const uint8_t *p, size_t n)
{
	uint8_t s = 0;

	for (size_t i = 0; i < n; i++)
		s += p[i];
	return s;
}

static const void *fuzz_map(paddr_t p, size_t len, void *ctx)
{
	(void)ctx;
	if (p > fz.size || len > fz.size - p || fz.ncopies == ARRAY_SIZE(fz.copies))
		return NULL;
	uint8_t *t = fz.mem + p;
	if (fz.fix && len > ACPI_SDT_HDR_LEN) {
		uint32_t n;

		memcpy(&n, t + 4, 4);
		if (n == len) {
			t[9] = 0;
			t[9] = (uint8_t)-sum8(t, len);
		}
	}
	void *c = malloc(len ? len : 1);
	memcpy(c, t, len);
	fz.copies[fz.ncopies++] = c;
	return c;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct acpi_info info;
	uint8_t rsdp[36];

	if (size < 1)
		return 0;
	uint8_t opt = data[0];
	fz.size = size - 1;
	fz.mem = malloc(fz.size ? fz.size : 1);
	memcpy(fz.mem, data + 1, fz.size);
	fz.fix = opt & OPT_FIX_TABLES;
	fz.ncopies = 0;

	size_t rsdp_len = MIN(fz.size, (opt & OPT_RSDP_V1) ? 20 : sizeof(rsdp));
	memcpy(rsdp, fz.mem, rsdp_len);
	if ((opt & OPT_FIX_RSDP) && rsdp_len >= 20) {
		rsdp[8] = 0;
		rsdp[8] = (uint8_t)-sum8(rsdp, 20);
		if (rsdp_len >= 36) {
			rsdp[32] = 0;
			rsdp[32] = (uint8_t)-sum8(rsdp, 36);
		}
	}
	/* An exact-size heap copy of the RSDP, too. */
	uint8_t *r = malloc(rsdp_len ? rsdp_len : 1);
	memcpy(r, rsdp, rsdp_len);

	int ret = acpi_parse(r, rsdp_len, fuzz_map, NULL, &info);
	if (ret != 0 && ret != -ALDER_EINVAL)
		__builtin_trap();
	if (info.ncpus > ACPI_MAX_CPUS || info.nioapics > ACPI_MAX_IOAPICS ||
	    info.nisos > ACPI_MAX_ISOS || info.nmcfg > ACPI_MAX_MCFG)
		__builtin_trap();
	if (info.oem_id[6] != '\0')
		__builtin_trap();
	if (ret != 0 && (info.has_madt || info.has_fadt || info.has_hpet || info.nmcfg))
		__builtin_trap();
	if (!info.has_madt && (info.ncpus || info.nioapics || info.nisos))
		__builtin_trap();
	for (size_t i = 0; i < info.nmcfg; i++)
		if (info.mcfg[i].bus_end < info.mcfg[i].bus_start)
			__builtin_trap();

	for (size_t i = 0; i < fz.ncopies; i++)
		free(fz.copies[i]);
	free(r);
	free(fz.mem);
	return 0;
}
