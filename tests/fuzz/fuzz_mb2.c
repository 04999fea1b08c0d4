/*
 * libFuzzer target for the Multiboot2 parser and cmdline_get()
 * (kernel/generic/multiboot2.c). The input is the information structure,
 * with avail = the input's size. Checks that the result respects
 * struct boot_info's limits and that the RSDP pointer stays inside the
 * input; then runs cmdline_get() over the parsed and the raw command line.
 */
#include <stddef.h>
#include <stdint.h>

#include "../../kernel/generic/multiboot2.c"
#include "shim.h"

static void value_ok(const char *v, size_t size)
{
	if (size && strnlen(v, size) >= size)
		__builtin_trap();
}

static void try_keys(const char *cmdline)
{
	static const char *keys[] = { "console", "a", "init", "log" };
	char v[16];

	for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
		memset(v, 'X', sizeof(v));
		if (cmdline_get(cmdline, keys[i], v, sizeof(v)))
			value_ok(v, sizeof(v));
		memset(v, 'X', sizeof(v));
		if (cmdline_get(cmdline, keys[i], v, 1) && v[0] != '\0')
			__builtin_trap();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct boot_info bi;
	volatile uint8_t sink = 0;

	mb2_parse(data, size, &bi);
	if (bi.nusable > BOOT_MAX_REGIONS || bi.nreserved > BOOT_MAX_REGIONS ||
	    bi.nmodules > BOOT_MAX_MODULES)
		__builtin_trap();
	value_ok(bi.cmdline, sizeof(bi.cmdline));
	value_ok(bi.loader, sizeof(bi.loader));
	for (size_t i = 0; i < bi.nmodules; i++) {
		value_ok(bi.modules[i].name, sizeof(bi.modules[i].name));
		if (bi.modules[i].end < bi.modules[i].start)
			__builtin_trap();
	}
	for (size_t i = 0; i < bi.nusable; i++)
		if (bi.usable[i].len == 0 || bi.usable[i].base + bi.usable[i].len > bi.max_phys ||
		    bi.usable[i].base + bi.usable[i].len < bi.usable[i].base)
			__builtin_trap();
	if (bi.rsdp) {
		const uint8_t *r = bi.rsdp;
		if (r < data || r > data + size || bi.rsdp_len > (size_t)(data + size - r) ||
		    bi.rsdp_len < 20)
			__builtin_trap();
		for (size_t i = 0; i < bi.rsdp_len; i++)
			sink ^= r[i];
	}
	try_keys(bi.cmdline);

	/* The raw input as a command line. */
	char *s = malloc(size + 1);
	memcpy(s, data, size);
	s[size] = '\0';
	try_keys(s);
	free(s);
	(void)sink;
	return 0;
}
