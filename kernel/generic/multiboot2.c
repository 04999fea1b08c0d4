/*
 * Multiboot2 boot information parser and kernel command line lookup
 * (kern/bootinfo.h).
 *
 * For: turning the information structure the boot loader left in memory
 * into struct boot_info, once, early in boot. Not for: the Multiboot2
 * header in the kernel image (arch code), or acting on anything it finds —
 * reserving memory, mapping the framebuffer, parsing ACPI are the callers'.
 *
 * The structure is trusted no more than a disk block: every tag must lie
 * inside both total_size and the avail bytes the caller could map, sizes are
 * checked before they are added, and fields are read with memcpy because a
 * mangled structure need not be aligned.
 *
 * Layout: u32 total_size, u32 reserved, then tags {u32 type, u32 size, ...}
 * each starting 8-byte aligned (relative to the start), ending with a tag of
 * type 0. A tag's size counts its 8-byte header but not the padding after it.
 */
#include <alder/errno.h>
#include <kern/bootinfo.h>
#include <kern/log.h>
#include <kern/string.h>

#define MB2_TAG_END 0
#define MB2_TAG_CMDLINE 1
#define MB2_TAG_LOADER 2
#define MB2_TAG_MODULE 3
#define MB2_TAG_MMAP 6
#define MB2_TAG_FRAMEBUFFER 8
#define MB2_TAG_EFI64 12
#define MB2_TAG_ACPI_OLD 14
#define MB2_TAG_ACPI_NEW 15

#define MB2_TAG_HDR 8           /* type, size */
#define MB2_MODULE_HDR 16       /* + mod_start, mod_end; string follows */
#define MB2_MMAP_HDR 16         /* + entry_size, entry_version; entries follow */
#define MB2_MMAP_ENTRY_MIN 24   /* base, len, type, reserved */
#define MB2_FB_MIN 30           /* through framebuffer_type */
#define MB2_EFI64_LEN 16        /* + u64 pointer */
#define MB2_RSDP_V1_LEN 20
#define MB2_RSDP_V2_LEN 36

#define MB2_MEM_AVAILABLE 1
#define MB2_FB_TYPE_RGB 1

static uint32_t mb2_u32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static uint64_t mb2_u64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

/*
 * Copy a string of at most len bytes (it may lack its NUL if the tag is
 * malformed) into dst of size dst_size, truncating, always NUL-terminated.
 */
static void mb2_copy_str(char *dst, size_t dst_size, const uint8_t *src, size_t len)
{
	size_t n = strnlen((const char *)src, len);

	if (n > dst_size - 1)
		n = dst_size - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

static void mb2_add_region(struct mem_region *list, size_t *count, paddr_t base, uint64_t len,
			   const char *what)
{
	if (*count == BOOT_MAX_REGIONS) {
		log_warn("mb2: more than %d %s regions, ignoring %#llx+%#llx", BOOT_MAX_REGIONS,
			 what, (unsigned long long)base, (unsigned long long)len);
		return;
	}
	list[*count].base = base;
	list[*count].len = len;
	(*count)++;
}

static int mb2_mmap(const uint8_t *tag, uint32_t size, struct boot_info *out)
{
	if (size < MB2_MMAP_HDR)
		return -ALDER_EINVAL;
	uint32_t entry_size = mb2_u32(tag + 8);
	if (entry_size < MB2_MMAP_ENTRY_MIN)
		return -ALDER_EINVAL;
	if ((size - MB2_MMAP_HDR) % entry_size != 0)
		log_warn("mb2: memory map has %u stray bytes", (size - MB2_MMAP_HDR) % entry_size);

	/* Loop invariant: off + entry_size <= size, so the entry is in the tag. */
	for (uint32_t off = MB2_MMAP_HDR; entry_size <= size - off; off += entry_size) {
		const uint8_t *e = tag + off;
		uint64_t base = mb2_u64(e), len = mb2_u64(e + 8);
		uint32_t type = mb2_u32(e + 16);

		if (len == 0)
			continue;
		if (len > UINT64_MAX - base) {
			log_warn("mb2: memory region %#llx+%#llx wraps, ignored",
				 (unsigned long long)base, (unsigned long long)len);
			continue;
		}
		uint64_t end = base + len;
		if (end > out->max_phys)
			out->max_phys = end;
		if (type == MB2_MEM_AVAILABLE)
			mb2_add_region(out->usable, &out->nusable, base, len, "usable");
		else
			mb2_add_region(out->reserved, &out->nreserved, base, len, "reserved");
	}
	return 0;
}

static int mb2_module(const uint8_t *tag, uint32_t size, struct boot_info *out)
{
	if (size < MB2_MODULE_HDR)
		return -ALDER_EINVAL;
	uint32_t start = mb2_u32(tag + 8), end = mb2_u32(tag + 12);
	if (end < start) {
		log_warn("mb2: module %#x-%#x ends before it starts, ignored", start, end);
		return 0;
	}
	if (out->nmodules == BOOT_MAX_MODULES) {
		log_warn("mb2: more than %d modules, ignoring %#x-%#x", BOOT_MAX_MODULES, start, end);
		return 0;
	}
	struct boot_module *m = &out->modules[out->nmodules++];
	m->start = start;
	m->end = end;
	mb2_copy_str(m->name, sizeof(m->name), tag + MB2_MODULE_HDR, size - MB2_MODULE_HDR);
	return 0;
}

static int mb2_framebuffer(const uint8_t *tag, uint32_t size, struct boot_info *out)
{
	if (size < MB2_FB_MIN)
		return -ALDER_EINVAL;
	/* Only direct RGB is a pixel framebuffer; indexed and EGA text are not used. */
	if (tag[29] != MB2_FB_TYPE_RGB) {
		log_info("mb2: framebuffer is not direct RGB, ignored");
		return 0;
	}
	out->has_fb = true;
	out->fb_addr = mb2_u64(tag + 8);
	out->fb_pitch = mb2_u32(tag + 16);
	out->fb_width = mb2_u32(tag + 20);
	out->fb_height = mb2_u32(tag + 24);
	out->fb_bpp = tag[28];
	return 0;
}

/* One tag of size bytes (header included, already known to be in bounds). */
static int mb2_tag(uint32_t type, const uint8_t *tag, uint32_t size, bool *rsdp_new,
		   struct boot_info *out)
{
	switch (type) {
	case MB2_TAG_CMDLINE:
		mb2_copy_str(out->cmdline, sizeof(out->cmdline), tag + MB2_TAG_HDR,
			     size - MB2_TAG_HDR);
		return 0;
	case MB2_TAG_LOADER:
		mb2_copy_str(out->loader, sizeof(out->loader), tag + MB2_TAG_HDR,
			     size - MB2_TAG_HDR);
		return 0;
	case MB2_TAG_MODULE:
		return mb2_module(tag, size, out);
	case MB2_TAG_MMAP:
		return mb2_mmap(tag, size, out);
	case MB2_TAG_FRAMEBUFFER:
		return mb2_framebuffer(tag, size, out);
	case MB2_TAG_EFI64:
		if (size < MB2_EFI64_LEN)
			return -ALDER_EINVAL;
		out->efi = true;
		return 0;
	case MB2_TAG_ACPI_OLD:
	case MB2_TAG_ACPI_NEW: {
		bool is_new = type == MB2_TAG_ACPI_NEW;

		if (size - MB2_TAG_HDR < (is_new ? MB2_RSDP_V2_LEN : MB2_RSDP_V1_LEN))
			return -ALDER_EINVAL;
		if (is_new || !*rsdp_new) { /* the ACPI 2.0+ copy wins, whatever the order */
			out->rsdp = tag + MB2_TAG_HDR;
			out->rsdp_len = size - MB2_TAG_HDR;
			*rsdp_new = is_new;
		}
		return 0;
	}
	default:
		return 0; /* tags we do not use */
	}
}

int mb2_parse(const void *info, size_t avail, struct boot_info *out)
{
	const uint8_t *base = info;
	bool rsdp_new = false;

	memset(out, 0, sizeof(*out));
	if (avail < 8)
		return -ALDER_EINVAL;
	uint32_t total = mb2_u32(base);
	if (total < 8 || total > avail)
		return -ALDER_EINVAL;

	/* Loop invariant: off <= total and off is a multiple of 8. */
	for (uint32_t off = 8; total - off >= MB2_TAG_HDR;) {
		const uint8_t *tag = base + off;
		uint32_t type = mb2_u32(tag), size = mb2_u32(tag + 4);

		if (size < MB2_TAG_HDR || size > total - off) {
			log_warn("mb2: tag %u at %u has bad size %u", type, off, size);
			return -ALDER_EINVAL;
		}
		if (type == MB2_TAG_END)
			return 0;
		int r = mb2_tag(type, tag, size, &rsdp_new, out);
		if (r < 0) {
			log_warn("mb2: malformed tag %u at %u (size %u)", type, off, size);
			return r;
		}
		/*
		 * size <= total - off, so next <= total. Stop if the padding
		 * would pass the last multiple of 8 in total: then the aligned
		 * offset stays <= total and cannot wrap.
		 */
		uint32_t next = off + size;
		if (next > total - total % 8)
			break;
		off = ALIGN_UP(next, 8u);
	}
	log_warn("mb2: no end tag within %u bytes", total);
	return -ALDER_EINVAL;
}

static bool cmdline_space(char c)
{
	return c == ' ' || c == '\t';
}

/*
 * The last "key=value" word wins, so that options appended later override
 * earlier ones. A bare "key" without '=' does not match.
 */
bool cmdline_get(const char *cmdline, const char *key, char *value, size_t size)
{
	size_t klen = strlen(key);
	const char *found = NULL;
	size_t found_len = 0;
	const char *p = cmdline;

	if (klen == 0)
		return false;
	while (*p) {
		while (cmdline_space(*p))
			p++;
		const char *word = p;
		while (*p && !cmdline_space(*p))
			p++;
		size_t wlen = (size_t)(p - word);
		if (wlen > klen && word[klen] == '=' && memcmp(word, key, klen) == 0) {
			found = word + klen + 1;
			found_len = wlen - klen - 1;
		}
	}
	if (!found)
		return false;
	if (size > 0) {
		size_t n = MIN(found_len, size - 1);
		memcpy(value, found, n);
		value[n] = '\0';
	}
	return true;
}
