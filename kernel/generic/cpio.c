/*
 * Reader for cpio "newc" archives, the format of the initramfs (kern/cpio.h).
 *
 * For: walking an archive that is already in memory and finding a file by
 * path. Not for: writing archives, resolving hard links (newc stores the data
 * of a hard-linked set only with its last member), or symlinks — callers get
 * the mode bits and decide.
 *
 * The archive is untrusted input: every header field is parsed as exactly 8
 * hex digits, and every size is checked against the bytes that remain before
 * it is added to an offset, so no sum can wrap and no read leaves
 * [data, data + len).
 *
 * Layout of one entry (offsets from the start of the archive, which the
 * format pads relative to):
 *	header (110 bytes) | name (namesize bytes, NUL included) | pad to 4 |
 *	data (filesize bytes) | pad to 4
 * Magic "070701" is plain newc; "070702" is the same layout with a checksum
 * (the 32-bit sum of the data bytes) in the check field, which is verified
 * for regular files (GNU cpio writes 0 there for symlinks).
 */
#include <alder/errno.h>
#include <kern/assert.h>
#include <kern/cpio.h>
#include <kern/log.h>
#include <kern/string.h>

#define CPIO_HDR_LEN 110
#define CPIO_FIELD_LEN 8
#define CPIO_TRAILER "TRAILER!!!"

/* Field order in the header, after the 6-byte magic. */
enum cpio_field {
	CPIO_F_INO,
	CPIO_F_MODE,
	CPIO_F_UID,
	CPIO_F_GID,
	CPIO_F_NLINK,
	CPIO_F_MTIME,
	CPIO_F_FILESIZE,
	CPIO_F_DEVMAJOR,
	CPIO_F_DEVMINOR,
	CPIO_F_RDEVMAJOR,
	CPIO_F_RDEVMINOR,
	CPIO_F_NAMESIZE,
	CPIO_F_CHECK,
	CPIO_NFIELDS,
};
static_assert(6 + CPIO_NFIELDS * CPIO_FIELD_LEN == CPIO_HDR_LEN, "newc header is 110 bytes");

#define CPIO_S_IFMT 0170000u
#define CPIO_S_IFREG 0100000u

/* Parse exactly 8 hex digits (either case). false on any other character. */
static bool cpio_hex8(const char *s, uint32_t *out)
{
	uint32_t v = 0;

	for (int i = 0; i < CPIO_FIELD_LEN; i++) {
		char c = s[i];
		uint32_t d;

		if (c >= '0' && c <= '9')
			d = (uint32_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			d = (uint32_t)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			d = (uint32_t)(c - 'A' + 10);
		else
			return false;
		v = (v << 4) | d;
	}
	*out = v;
	return true;
}

/* Strip any run of leading "/" and "./" from a path. */
static void cpio_strip(const char **name, size_t *len)
{
	const char *s = *name;
	size_t n = *len;

	for (;;) {
		if (n >= 1 && s[0] == '/') {
			s++;
			n--;
		} else if (n >= 2 && s[0] == '.' && s[1] == '/') {
			s += 2;
			n -= 2;
		} else {
			break;
		}
	}
	*name = s;
	*len = n;
}

int cpio_next(const void *data, size_t len, size_t *offset, struct cpio_entry *out)
{
	const char *base = data;
	size_t off = *offset;
	uint32_t f[CPIO_NFIELDS];
	bool crc;

	if (off > len)
		return -ALDER_EINVAL;
	if (off == len)
		return 0; /* end of data without a trailer: tolerated */
	if (len - off < CPIO_HDR_LEN)
		return -ALDER_EINVAL;

	const char *hdr = base + off;
	if (memcmp(hdr, "070701", 6) == 0)
		crc = false;
	else if (memcmp(hdr, "070702", 6) == 0)
		crc = true;
	else
		return -ALDER_EINVAL;
	for (int i = 0; i < CPIO_NFIELDS; i++) {
		if (!cpio_hex8(hdr + 6 + (size_t)i * CPIO_FIELD_LEN, &f[i]))
			return -ALDER_EINVAL;
	}

	/* Name: namesize includes the NUL, which must be its only NUL. */
	size_t namesize = f[CPIO_F_NAMESIZE];
	size_t name_off = off + CPIO_HDR_LEN;
	if (namesize == 0 || namesize > len - name_off)
		return -ALDER_EINVAL;
	const char *name = base + name_off;
	if (name[namesize - 1] != '\0' || strnlen(name, namesize) != namesize - 1)
		return -ALDER_EINVAL;

	/* Data starts at the next multiple of 4 after the name. */
	size_t name_end = name_off + namesize;
	size_t pad = -name_end & 3;
	if (pad > len - name_end)
		return -ALDER_EINVAL;
	size_t data_off = name_end + pad;
	size_t size = f[CPIO_F_FILESIZE];
	if (size > len - data_off)
		return -ALDER_EINVAL;

	/* GNU cpio leaves the check field 0 for symlinks; only files carry a sum. */
	if (crc && (f[CPIO_F_MODE] & CPIO_S_IFMT) == CPIO_S_IFREG) {
		const uint8_t *p = (const uint8_t *)base + data_off;
		uint32_t sum = 0;

		for (size_t i = 0; i < size; i++)
			sum += p[i];
		if (sum != f[CPIO_F_CHECK]) {
			log_warn("cpio: checksum mismatch at offset %zu", off);
			return -ALDER_EINVAL;
		}
	}

	/* The last entry's padding may be cut off by the end of the data. */
	size_t end = data_off + size;
	pad = -end & 3;
	*offset = pad <= len - end ? end + pad : len;

	if (namesize - 1 == sizeof(CPIO_TRAILER) - 1 &&
	    memcmp(name, CPIO_TRAILER, sizeof(CPIO_TRAILER) - 1) == 0)
		return 0;

	size_t name_len = namesize - 1;
	cpio_strip(&name, &name_len);
	out->name = name;
	out->name_len = name_len;
	out->data = base + data_off;
	out->size = size;
	out->mode = f[CPIO_F_MODE];
	return 1;
}

int cpio_find(const void *data, size_t len, const char *path, struct cpio_entry *out)
{
	size_t path_len = strlen(path);
	size_t off = 0;
	struct cpio_entry e;
	int r;

	cpio_strip(&path, &path_len);
	if (path_len == 0)
		return -ALDER_ENOENT;

	/* Each successful cpio_next() advances by at least the header size. */
	while ((r = cpio_next(data, len, &off, &e)) == 1) {
		if ((e.mode & CPIO_S_IFMT) != CPIO_S_IFREG)
			continue;
		if (e.name_len == path_len && memcmp(e.name, path, path_len) == 0) {
			*out = e;
			return 0;
		}
	}
	return r < 0 ? r : -ALDER_ENOENT;
}
