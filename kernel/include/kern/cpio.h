/*
 * Reader for cpio "newc" archives (the initramfs); kernel/generic/cpio.c.
 * Works on an archive in memory and never reads outside [data, data+len).
 * Malformed input returns -ALDER_EINVAL, never crashes.
 */
#ifndef KERN_CPIO_H
#define KERN_CPIO_H

#include <kern/types.h>

struct cpio_entry {
	const char *name;   /* not NUL-terminated in general; use name_len */
	size_t name_len;    /* without the trailing NUL; leading "./" and "/" stripped */
	const void *data;
	size_t size;
	uint32_t mode;      /* st_mode bits from the header */
};

/*
 * Read the entry at *offset (start with 0) and advance *offset past it.
 * Returns 1 with *out filled, 0 at the "TRAILER!!!" entry or the end of the
 * data, or -ALDER_EINVAL for a malformed header, a bad magic, a size that runs
 * past the end, or a name without its NUL.
 */
int cpio_next(const void *data, size_t len, size_t *offset, struct cpio_entry *out);
/* Find a regular file by path ("init", "/init", "./tests/x" all work).
 * 0 on success, -ALDER_ENOENT, or -ALDER_EINVAL for a malformed archive. */
int cpio_find(const void *data, size_t len, const char *path, struct cpio_entry *out);

#endif
