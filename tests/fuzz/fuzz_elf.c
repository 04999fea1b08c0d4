/*
 * libFuzzer target for the ELF64 validator (kernel/generic/elf.c). The input
 * is the file. When elf_parse() accepts it, every promise of kern/elf.h is
 * checked independently here, so an accepted file that breaks one (and would
 * mislead the loader) is a crash, not just an out-of-bounds read.
 */
#include <stddef.h>
#include <stdint.h>

#include "../../kernel/generic/elf.c"
#include <kern/log.h> /* shim.h defines klog() */
#include "shim.h"

static void check(const uint8_t *data, size_t size, uint64_t limit, const struct elf_image *img)
{
	volatile uint8_t sink = 0;
	bool entry_ok = false;

	if (img->nsegments == 0 || img->nsegments > ELF_MAX_SEGMENTS)
		__builtin_trap();
	for (size_t i = 0; i < img->nsegments; i++) {
		const struct elf_segment *s = &img->segments[i];

		if (s->filesz > s->memsz || s->memsz == 0)
			__builtin_trap();
		if (s->offset > size || s->filesz > size - s->offset)
			__builtin_trap();
		if (s->vaddr < PAGE_SIZE || s->memsz > UINT64_MAX - s->vaddr)
			__builtin_trap();
		uint64_t end = s->vaddr + s->memsz;
		if (end > UINT64_MAX - PAGE_SIZE + 1 || ALIGN_UP(end, PAGE_SIZE) > limit)
			__builtin_trap();
		if (s->vaddr % PAGE_SIZE != s->offset % PAGE_SIZE)
			__builtin_trap();
		if (s->flags & ~(uint32_t)(ELF_SEG_R | ELF_SEG_W | ELF_SEG_X))
			__builtin_trap();
		for (size_t j = 0; j < i; j++) {
			const struct elf_segment *t = &img->segments[j];
			if (ALIGN_DOWN(s->vaddr, PAGE_SIZE) < ALIGN_UP(t->vaddr + t->memsz, PAGE_SIZE) &&
			    ALIGN_DOWN(t->vaddr, PAGE_SIZE) < ALIGN_UP(end, PAGE_SIZE))
				__builtin_trap();
		}
		if ((s->flags & ELF_SEG_X) && img->entry >= s->vaddr && img->entry < end)
			entry_ok = true;
		for (uint64_t k = 0; k < s->filesz; k++)
			sink ^= data[s->offset + k];
	}
	if (!entry_ok)
		__builtin_trap();
	(void)sink;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint64_t limits[] = { 0x800000000000ull, UINT64_MAX, 0x500000 };
	struct elf_image img;

	for (size_t i = 0; i < ARRAY_SIZE(limits); i++) {
		int r = elf_parse(data, size, limits[i], &img);

		if (r == 0)
			check(data, size, limits[i], &img);
		else if (r != -ALDER_EINVAL && r != -ALDER_ENOEXEC)
			__builtin_trap();
	}
	return 0;
}
