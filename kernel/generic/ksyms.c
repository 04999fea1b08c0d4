/*
 * Address-to-symbol lookup for backtraces. The table is generated from a
 * first link of the kernel (tools/gensyms.py) and linked into the final
 * image; in the first link it is absent (weak symbols, count 0).
 */
#include <kern/ksyms.h>

struct ksym {
	uint64_t addr;
	uint64_t name_off;
};

extern const uint64_t ksyms_count __attribute__((weak));
extern const struct ksym ksyms_table[] __attribute__((weak));
extern const char ksyms_names[] __attribute__((weak));

const char *ksym_lookup(uint64_t addr, uint64_t *offset)
{
	if (!&ksyms_count || ksyms_count == 0 || addr < ksyms_table[0].addr)
		return NULL;
	uint64_t lo = 0, hi = ksyms_count; /* find last entry with addr <= target */
	while (hi - lo > 1) {
		uint64_t mid = (lo + hi) / 2;
		if (ksyms_table[mid].addr <= addr)
			lo = mid;
		else
			hi = mid;
	}
	*offset = addr - ksyms_table[lo].addr;
	return ksyms_names + ksyms_table[lo].name_off;
}
