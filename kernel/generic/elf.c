/*
 * ELF64 executable validation (kern/elf.h).
 *
 * For: deciding whether an untrusted file is a static x86_64 executable we
 * can run, and describing its PT_LOAD segments in a form the loader can map
 * without re-checking anything. Not for: mapping (the process code does it),
 * relocation, dynamic linking (PT_INTERP and ET_DYN are refused for now), or
 * section headers (never looked at).
 *
 * The ELF structures are defined here, not taken from a system header, and
 * every field is read with memcpy: the file may sit at any alignment.
 * All arithmetic on the file's numbers is done as "is x <= limit - y" after
 * checking y <= limit, so no sum can wrap.
 */
#include <alder/errno.h>
#include <kern/assert.h>
#include <kern/elf.h>
#include <kern/string.h>

#define EI_NIDENT 16
#define EI_CLASS 4
#define EI_DATA 5
#define EI_VERSION 6
#define EI_OSABI 7

#define ELFCLASS64 2
#define ELFDATA2LSB 1
#define EV_CURRENT 1
#define ELFOSABI_SYSV 0
#define ELFOSABI_GNU 3 /* static glibc binaries with IFUNCs carry this */

#define ET_EXEC 2
#define ET_DYN 3
#define EM_X86_64 62

#define PT_LOAD 1
#define PT_INTERP 3
#define PN_XNUM 0xffff

#define PF_X 1
#define PF_W 2
#define PF_R 4

struct elf64_ehdr {
	uint8_t e_ident[EI_NIDENT];
	uint16_t e_type;
	uint16_t e_machine;
	uint32_t e_version;
	uint64_t e_entry;
	uint64_t e_phoff;
	uint64_t e_shoff;
	uint32_t e_flags;
	uint16_t e_ehsize;
	uint16_t e_phentsize;
	uint16_t e_phnum;
	uint16_t e_shentsize;
	uint16_t e_shnum;
	uint16_t e_shstrndx;
};
static_assert(sizeof(struct elf64_ehdr) == 64, "Elf64_Ehdr is 64 bytes");

struct elf64_phdr {
	uint32_t p_type;
	uint32_t p_flags;
	uint64_t p_offset;
	uint64_t p_vaddr;
	uint64_t p_paddr;
	uint64_t p_filesz;
	uint64_t p_memsz;
	uint64_t p_align;
};
static_assert(sizeof(struct elf64_phdr) == 56, "Elf64_Phdr is 56 bytes");

static_assert(ELF_SEG_R == PF_R && ELF_SEG_W == PF_W && ELF_SEG_X == PF_X,
	      "ELF_SEG_* are the ELF p_flags bits");

/* Check one PT_LOAD on its own; fill *seg. 0 or -ALDER_EINVAL. */
static int elf_check_load(const struct elf64_phdr *ph, size_t len, uint64_t user_limit,
			  struct elf_segment *seg)
{
	if (ph->p_filesz > ph->p_memsz)
		return -ALDER_EINVAL;
	if (ph->p_offset > len || ph->p_filesz > len - ph->p_offset)
		return -ALDER_EINVAL;
	if (ph->p_vaddr < PAGE_SIZE)
		return -ALDER_EINVAL;
	if ((ph->p_vaddr & (PAGE_SIZE - 1)) != (ph->p_offset & (PAGE_SIZE - 1)))
		return -ALDER_EINVAL;
	/*
	 * The loader maps whole pages, so the page-rounded end must neither
	 * wrap nor pass user_limit. For a page-aligned limit this is the
	 * same as vaddr + memsz <= user_limit.
	 */
	if (ph->p_memsz > UINT64_MAX - ph->p_vaddr)
		return -ALDER_EINVAL;
	uint64_t end = ph->p_vaddr + ph->p_memsz;
	if (end > UINT64_MAX - (PAGE_SIZE - 1))
		return -ALDER_EINVAL;
	if (ALIGN_UP(end, PAGE_SIZE) > user_limit)
		return -ALDER_EINVAL;

	seg->vaddr = ph->p_vaddr;
	seg->memsz = ph->p_memsz;
	seg->filesz = ph->p_filesz;
	seg->offset = ph->p_offset;
	seg->flags = ph->p_flags & (PF_R | PF_W | PF_X);
	return 0;
}

/* Do the page-rounded ranges of two checked segments share a page? */
static bool elf_overlap(const struct elf_segment *a, const struct elf_segment *b)
{
	uint64_t a0 = ALIGN_DOWN(a->vaddr, PAGE_SIZE), a1 = ALIGN_UP(a->vaddr + a->memsz, PAGE_SIZE);
	uint64_t b0 = ALIGN_DOWN(b->vaddr, PAGE_SIZE), b1 = ALIGN_UP(b->vaddr + b->memsz, PAGE_SIZE);

	return a0 < b1 && b0 < a1;
}

/*
 * On failure *out is left partly written and means nothing; on success it
 * describes every PT_LOAD with memsz > 0 in program header order.
 */
int elf_parse(const void *data, size_t len, uint64_t user_limit, struct elf_image *out)
{
	const uint8_t *file = data;
	struct elf64_ehdr eh;

	/* Is it an ELF we run at all? */
	if (len < EI_NIDENT || memcmp(file, "\177ELF", 4) != 0)
		return -ALDER_ENOEXEC;
	if (file[EI_CLASS] != ELFCLASS64 || file[EI_DATA] != ELFDATA2LSB ||
	    file[EI_VERSION] != EV_CURRENT)
		return -ALDER_ENOEXEC;
	if (file[EI_OSABI] != ELFOSABI_SYSV && file[EI_OSABI] != ELFOSABI_GNU)
		return -ALDER_ENOEXEC;
	if (len < sizeof(eh))
		return -ALDER_EINVAL;
	memcpy(&eh, file, sizeof(eh));
	if (eh.e_type != ET_EXEC) /* ET_DYN (PIE, static-pie) not yet */
		return -ALDER_ENOEXEC;
	if (eh.e_machine != EM_X86_64 || eh.e_version != EV_CURRENT)
		return -ALDER_ENOEXEC;

	/* Is it well formed? */
	if (eh.e_ehsize < sizeof(eh) || eh.e_phentsize != sizeof(struct elf64_phdr))
		return -ALDER_EINVAL;
	if (eh.e_phnum == 0 || eh.e_phnum == PN_XNUM)
		return -ALDER_EINVAL;
	if (eh.e_phoff > len ||
	    (uint64_t)eh.e_phnum * sizeof(struct elf64_phdr) > len - eh.e_phoff)
		return -ALDER_EINVAL;

	out->entry = eh.e_entry;
	out->nsegments = 0;
	for (size_t i = 0; i < eh.e_phnum; i++) {
		struct elf64_phdr ph;
		struct elf_segment seg;

		memcpy(&ph, file + eh.e_phoff + i * sizeof(ph), sizeof(ph));
		if (ph.p_type == PT_INTERP)
			return -ALDER_ENOEXEC; /* wants a dynamic linker */
		if (ph.p_type != PT_LOAD || ph.p_memsz == 0)
			continue;
		if (elf_check_load(&ph, len, user_limit, &seg) < 0)
			return -ALDER_EINVAL;
		if (out->nsegments == ELF_MAX_SEGMENTS)
			return -ALDER_EINVAL;
		for (size_t j = 0; j < out->nsegments; j++) {
			if (elf_overlap(&seg, &out->segments[j]))
				return -ALDER_EINVAL;
		}
		out->segments[out->nsegments++] = seg;
	}
	if (out->nsegments == 0)
		return -ALDER_EINVAL;

	for (size_t i = 0; i < out->nsegments; i++) {
		const struct elf_segment *s = &out->segments[i];

		if ((s->flags & ELF_SEG_X) && eh.e_entry >= s->vaddr &&
		    eh.e_entry - s->vaddr < s->memsz)
			return 0;
	}
	return -ALDER_EINVAL; /* entry not in an executable segment */
}
