/*
 * libFuzzer target for the newc cpio reader (kernel/generic/cpio.c). The
 * input is the archive. Beyond "no crash", it checks cpio_next()'s contract:
 * every entry lies inside the input, the offset only moves forward and stays
 * within it, and cpio_find() agrees with a walk.
 */
#include <stddef.h>
#include <stdint.h>

#include "../../kernel/generic/cpio.c"
#include <kern/log.h> /* shim.h defines klog() */
#include "shim.h"

static int inside(const void *p, size_t n, const uint8_t *data, size_t size)
{
	const uint8_t *b = p;

	return b >= data && b <= data + size && n <= (size_t)(data + size - b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cpio_entry e, found;
	size_t off = 0, prev;
	volatile uint8_t sink = 0;
	int r;
	char first_file[64] = "";

	for (;;) {
		prev = off;
		r = cpio_next(data, size, &off, &e);
		if (r != 1)
			break;
		if (off <= prev || off > size)
			__builtin_trap();
		if (!inside(e.name, e.name_len, data, size) || !inside(e.data, e.size, data, size))
			__builtin_trap();
		/* Touch every byte handed out (ASan checks the reads). */
		for (size_t i = 0; i < e.name_len; i++)
			sink ^= (uint8_t)e.name[i];
		for (size_t i = 0; i < e.size; i++)
			sink ^= ((const uint8_t *)e.data)[i];
		if (!first_file[0] && (e.mode & CPIO_S_IFMT) == CPIO_S_IFREG && e.name_len > 0 &&
		    e.name_len < sizeof(first_file)) {
			memcpy(first_file, e.name, e.name_len);
			first_file[e.name_len] = '\0';
		}
	}
	if (r == 0 && off > size)
		__builtin_trap();
	if (r < 0 && off != prev) /* an error leaves the offset alone */
		__builtin_trap();

	/* The first regular file seen on the walk is found: the walk
	 * reached it, and names are already stripped of "./" and "/". */
	if (first_file[0]) {
		r = cpio_find(data, size, first_file, &found);
		if (r != 0)
			__builtin_trap();
		if (r == 0 && !inside(found.data, found.size, data, size))
			__builtin_trap();
	}
	cpio_find(data, size, "init", &found);
	cpio_find(data, size, "./tests/x", &found);
	(void)sink;
	return 0;
}
