/*
 * ELF64 executable parser (kernel/generic/elf.c). Only validates and
 * describes; the loader that maps segments lives with the process code.
 */
#ifndef KERN_ELF_H
#define KERN_ELF_H

#include <kern/types.h>

#define ELF_MAX_SEGMENTS 16

#define ELF_SEG_R 4
#define ELF_SEG_W 2
#define ELF_SEG_X 1

struct elf_segment {
	uint64_t vaddr;   /* page alignment not required; vaddr % PAGE == offset % PAGE */
	uint64_t memsz;
	uint64_t filesz;  /* <= memsz */
	uint64_t offset;  /* offset + filesz <= file length */
	uint32_t flags;   /* ELF_SEG_* */
};

struct elf_image {
	uint64_t entry;
	size_t nsegments;
	struct elf_segment segments[ELF_MAX_SEGMENTS];
};

/*
 * Validate a static x86_64 ELF64 executable (ET_EXEC) of len bytes and
 * describe its PT_LOAD segments. Every check against the file's own numbers
 * is overflow-safe: header and program headers inside the file, segments
 * inside the file, filesz <= memsz, vaddr+memsz without wrap-around and below
 * user_limit, vaddr >= PAGE_SIZE (page 0 stays unmapped), segments not
 * overlapping (page granular), congruent offset/vaddr, at most
 * ELF_MAX_SEGMENTS loads, entry inside an executable segment.
 * Returns 0, -ALDER_ENOEXEC (not an ELF we run) or -ALDER_EINVAL (malformed).
 */
int elf_parse(const void *data, size_t len, uint64_t user_limit, struct elf_image *out);

#endif
