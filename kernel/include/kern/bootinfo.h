/*
 * What the bootloader told the kernel, in a form independent of Multiboot2
 * (kernel/generic/multiboot2.c fills it). The Multiboot2 information is
 * checked as it is parsed: a tag that runs past the total size ends parsing
 * with an error rather than being trusted.
 */
#ifndef KERN_BOOTINFO_H
#define KERN_BOOTINFO_H

#include <kern/types.h>
#include <kern/pmm.h>

#define BOOT_MAX_REGIONS 128
#define BOOT_MAX_MODULES 8
#define BOOT_CMDLINE_MAX 256

struct boot_module {
	paddr_t start, end;          /* [start, end) */
	char name[64];               /* the module's command line, NUL-terminated */
};

struct boot_info {
	char cmdline[BOOT_CMDLINE_MAX];   /* NUL-terminated, truncated if longer */
	char loader[64];                  /* boot loader name */
	size_t nusable;
	struct mem_region usable[BOOT_MAX_REGIONS];   /* type 1 (available) */
	size_t nreserved;
	struct mem_region reserved[BOOT_MAX_REGIONS]; /* everything else */
	paddr_t max_phys;                 /* end of the highest region of any type */
	size_t nmodules;
	struct boot_module modules[BOOT_MAX_MODULES];
	const void *rsdp;                 /* points into the info; NULL if absent */
	size_t rsdp_len;
	bool efi;                         /* booted through UEFI (EFI64 tag seen) */
	bool has_fb;
	paddr_t fb_addr;
	uint32_t fb_pitch, fb_width, fb_height;
	uint8_t fb_bpp;
};

#define MB2_BOOTLOADER_MAGIC 0x36d76289u

/*
 * Parse the Multiboot2 information at info (already mapped), of at most
 * avail bytes readable. Returns 0, or -ALDER_EINVAL for malformed input
 * (out then holds what was parsed before the bad tag).
 */
int mb2_parse(const void *info, size_t avail, struct boot_info *out);

/*
 * Find "key=value" in a command line; copy value (NUL-terminated, at most
 * size-1 bytes) and return true. Words are separated by spaces.
 */
bool cmdline_get(const char *cmdline, const char *key, char *value, size_t size);

#endif
