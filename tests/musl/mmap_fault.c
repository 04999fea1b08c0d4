/*
 * musl mmap_fault: an access that the protection forbids must kill the
 * process with a page fault at exactly the address (init's table checks
 * it). The mapping is placed with MAP_FIXED so the address is known:
 *   none      read a PROT_NONE page at 0x50000000
 *   readonly  write a page at 0x50001000 after mprotect(PROT_READ)
 *   unmapped  read a page at 0x50002000 after munmap
 *   noexec    call into a PROT_READ|PROT_WRITE page at 0x50003000
 * If the access survives, exit 1; a set-up failure exits 2; an unknown
 * argument 3.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#define PG 4096ul

static void *map_at(uintptr_t addr, int prot)
{
	void *p = mmap((void *)addr, PG, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (p != (void *)addr) {
		fprintf(stderr, "musl mmap_fault: mmap at %#lx failed\n", (unsigned long)addr);
		return NULL;
	}
	return p;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";
	volatile unsigned char *p;

	if (strcmp(mode, "none") == 0) {
		if (!(p = map_at(0x50000000, PROT_NONE)))
			return 2;
		(void)p[0];
	} else if (strcmp(mode, "readonly") == 0) {
		if (!(p = map_at(0x50001000, PROT_READ | PROT_WRITE)))
			return 2;
		p[0] = 1;
		if (mprotect((void *)p, PG, PROT_READ) != 0)
			return 2;
		if (p[0] != 1)
			return 2;
		p[0] = 2;
	} else if (strcmp(mode, "unmapped") == 0) {
		if (!(p = map_at(0x50002000, PROT_READ | PROT_WRITE)))
			return 2;
		p[0] = 1;
		if (munmap((void *)p, PG) != 0)
			return 2;
		(void)p[0];
	} else if (strcmp(mode, "noexec") == 0) {
		if (!(p = map_at(0x50003000, PROT_READ | PROT_WRITE)))
			return 2;
		p[0] = 0xc3; /* ret */
		void (*fn)(void) = (void (*)(void))(uintptr_t)p;
		fn();
	} else {
		fprintf(stderr, "musl mmap_fault: unknown mode \"%s\" (none, readonly, unmapped, noexec)\n",
			mode);
		return 3;
	}
	fprintf(stderr, "musl mmap_fault: %s: the access did not fault\n", mode);
	return 1;
}
