/*
 * musl mmap: mmap/munmap/mprotect/mremap/brk behaviour and errors as the
 * Linux shim answers them (docs/LINUX_SHIM.md): anonymous memory is
 * zero-filled and private, hints are honoured when free, MAP_FIXED replaces,
 * MAP_FIXED_NOREPLACE does not, partial munmap and mprotect split mappings,
 * PROT_EXEC makes code runnable; bad arguments get Linux's errno. That
 * protections are enforced (a fault kills) is mmap_fault's job.
 * Argument "alder" (as init runs it): also check what the shim answers
 * differently from Linux (brk, mremap, mmap_min_addr), and that a partial
 * munmap gives the frames of private pages back at once (read through the
 * native ALDER_INFO_FREE_FRAMES). Without it the
 * program passes on the host's Linux too, which shows the other checks
 * expect what Linux does.
 * Exit 0 when every check holds; else the line number of the failed check.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <alder/syscall.h>

#define CHECK(c)                                                                                             \
	do {                                                                                                 \
		if (!(c)) {                                                                                  \
			fprintf(stderr, "musl mmap: %s:%d: %s (errno %d)\n", __FILE__, __LINE__, #c, errno); \
			return __LINE__;                                                                     \
		}                                                                                            \
	} while (0)
/* The call fails with exactly this errno. */
#define CHECK_ERR(call, err) CHECK((call) && errno == (err))

#define PG 4096ul
#define RW (PROT_READ | PROT_WRITE)
#define ANON (MAP_PRIVATE | MAP_ANONYMOUS)
/* Far from the program (0x400000), the stack and the kernel's own choices. */
#define HINT ((uintptr_t)0x200000000ull)

/* Free physical frames, from the native SYS_INFO (only under Alder). */
static long free_frames(void)
{
	unsigned long v = 0;
	long r = syscall(SYS_INFO, ALDER_INFO_FREE_FRAMES, &v);
	return r == 0 ? (long)v : -1;
}

static int all_bytes(const unsigned char *p, size_t n, unsigned char v)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != v)
			return 0;
	return 1;
}

int main(int argc, char **argv)
{
	int alder = argc > 1 && strcmp(argv[1], "alder") == 0;

	/* Plain anonymous memory: page aligned, zero, writable. */
	unsigned char *p = mmap(NULL, 3 * PG, RW, ANON, -1, 0);
	CHECK(p != MAP_FAILED);
	CHECK(((uintptr_t)p & (PG - 1)) == 0);
	CHECK(all_bytes(p, 3 * PG, 0));
	memset(p, 0x5a, 3 * PG);
	CHECK(all_bytes(p, 3 * PG, 0x5a));

	/* A length that is not a page multiple is rounded up. */
	unsigned char *odd = mmap(NULL, 10, RW, ANON, -1, 0);
	CHECK(odd != MAP_FAILED);
	odd[PG - 1] = 1;
	CHECK(munmap(odd, 10) == 0);

	/* Partial munmap: the middle page goes, its neighbours stay. */
	CHECK(munmap(p + PG, PG) == 0);
	CHECK(p[0] == 0x5a && p[2 * PG] == 0x5a);
	/* ... and MAP_FIXED_NOREPLACE can fill the hole, but not overlap. */
	unsigned char *mid = mmap(p + PG, PG, RW, ANON | MAP_FIXED_NOREPLACE, -1, 0);
	CHECK(mid == p + PG);
	CHECK(all_bytes(mid, PG, 0));
	CHECK_ERR(mmap(p, 2 * PG, RW, ANON | MAP_FIXED_NOREPLACE, -1, 0) == MAP_FAILED, EEXIST);
	CHECK(p[0] == 0x5a); /* untouched by the refused map */

	/* MAP_FIXED replaces: the new pages are zero. */
	unsigned char *fx = mmap(p, PG, RW, ANON | MAP_FIXED, -1, 0);
	CHECK(fx == p);
	CHECK(all_bytes(p, PG, 0) && p[2 * PG] == 0x5a);
	CHECK(munmap(p, 3 * PG) == 0);
	/* Unmapping a hole (now all of it) is fine. */
	CHECK(munmap(p, 3 * PG) == 0);

	/* Hints: taken when free, ignored (not an error) when not. */
	unsigned char *h1 = mmap((void *)HINT, PG, RW, ANON, -1, 0);
	CHECK(h1 == (unsigned char *)HINT);
	unsigned char *h2 = mmap((void *)HINT, PG, RW, ANON, -1, 0);
	CHECK(h2 != MAP_FAILED && h2 != h1);
	h1[0] = 1;
	h2[0] = 2;
	CHECK(h1[0] == 1); /* private: two mappings, two pages */
	CHECK(munmap(h1, PG) == 0 && munmap(h2, PG) == 0);
	/* An unaligned hint is rounded, not refused. */
	unsigned char *h3 = mmap((void *)(HINT + 123), PG, RW, ANON, -1, 0);
	CHECK(h3 != MAP_FAILED && ((uintptr_t)h3 & (PG - 1)) == 0);
	CHECK(munmap(h3, PG) == 0);

	/* mprotect: read-only, back to read-write; PROT_NONE then open up
	 * (musl's malloc does exactly this). */
	unsigned char *q = mmap(NULL, 4 * PG, PROT_NONE, ANON, -1, 0);
	CHECK(q != MAP_FAILED);
	CHECK(mprotect(q + PG, PG, RW) == 0);
	q[PG] = 7;
	CHECK(mprotect(q + PG, PG, PROT_READ) == 0);
	CHECK(q[PG] == 7);
	CHECK(mprotect(q, 4 * PG, RW) == 0);
	q[0] = 1;
	q[4 * PG - 1] = 2;
	CHECK(q[PG] == 7);
	CHECK(mprotect(q, 0, PROT_READ) == 0); /* length 0: nothing to do */
	CHECK(mprotect(q, 10, RW) == 0);       /* length rounded up */
	/* musl's mprotect() rounds the address down: ask the kernel directly. */
	CHECK_ERR(syscall(SYS_mprotect, q + 1, PG, RW) == -1, EINVAL); /* unaligned */
	CHECK_ERR(mprotect(q, PG, 0x10) == -1, EINVAL);		       /* unknown prot bit */
	CHECK_ERR(mprotect(q, PG, PROT_READ | PROT_GROWSDOWN | PROT_GROWSUP) == -1, EINVAL);
	CHECK(munmap(q + 2 * PG, PG) == 0);
	CHECK_ERR(mprotect(q, 4 * PG, PROT_READ) == -1, ENOMEM);      /* a hole inside */
	CHECK_ERR(mprotect(q + 2 * PG, PG, PROT_READ) == -1, ENOMEM); /* nothing mapped */
	CHECK_ERR(mprotect((void *)0x7ffffffff000ul, PG, PROT_READ) == -1, ENOMEM);
	CHECK(munmap(q, 4 * PG) == 0);

	/* PROT_EXEC: a "mov $42, %eax; ret" runs. */
	unsigned char *code = mmap(NULL, PG, PROT_READ | PROT_WRITE | PROT_EXEC, ANON, -1, 0);
	CHECK(code != MAP_FAILED);
	static const unsigned char ret42[] = {0xb8, 42, 0, 0, 0, 0xc3};
	memcpy(code, ret42, sizeof(ret42));
	CHECK(mprotect(code, PG, PROT_READ | PROT_EXEC) == 0);
	int (*fn)(void) = (int (*)(void))(uintptr_t)code;
	CHECK(fn() == 42);
	CHECK(munmap(code, PG) == 0);

	/* Lazy: a large mapping costs nothing until touched. */
	size_t large = 64ul << 20;
	unsigned char *l = mmap(NULL, large, RW, ANON, -1, 0);
	CHECK(l != MAP_FAILED);
	l[0] = 1;
	l[large - 1] = 2;
	CHECK(l[large / 2] == 0);
	CHECK(munmap(l, large) == 0);

	/* mmap errors, as Linux gives them. */
	CHECK_ERR(mmap(NULL, 0, RW, ANON, -1, 0) == MAP_FAILED, EINVAL);
	CHECK_ERR(mmap(NULL, PG, RW, MAP_ANONYMOUS, -1, 0) == MAP_FAILED,
		  EINVAL);						  /* neither private nor shared */
	CHECK_ERR(mmap(NULL, PG, RW, ANON, -1, 1) == MAP_FAILED, EINVAL); /* unaligned offset */
	CHECK_ERR(mmap((void *)(HINT + 1), PG, RW, ANON | MAP_FIXED, -1, 0) == MAP_FAILED, EINVAL);
	CHECK_ERR(mmap(NULL, PG, RW, MAP_PRIVATE, -1, 0) == MAP_FAILED, EBADF); /* a file mapping */
	CHECK_ERR(mmap(NULL, PG, RW, MAP_PRIVATE, 77, 0) == MAP_FAILED, EBADF);
	CHECK_ERR(mmap(NULL, 1ul << 50, RW, ANON, -1, 0) == MAP_FAILED,
		  ENOMEM); /* more than the address space */
	CHECK_ERR(mmap((void *)0x7ffffffff000ul, 2 * PG, RW, ANON | MAP_FIXED, -1, 0) == MAP_FAILED, ENOMEM);
	if (alder) /* below mmap_min_addr; Linux lets privileged callers map there */
		CHECK_ERR(mmap((void *)0x1000, PG, RW, ANON | MAP_FIXED, -1, 0) == MAP_FAILED, EPERM);

	/* munmap errors. */
	CHECK_ERR(munmap((void *)(HINT + 1), PG) == -1, EINVAL);
	CHECK_ERR(munmap((void *)HINT, 0) == -1, EINVAL);
	CHECK_ERR(munmap((void *)0x7ffffffff000ul, 2 * PG) == -1, EINVAL);

	if (alder) {
		/* brk is refused: the break stays at 0 (musl's malloc then uses mmap). */
		CHECK(syscall(SYS_brk, 0) == 0);
		CHECK(syscall(SYS_brk, 0x10000000) == 0);

		/* mremap is not implemented: -ENOMEM for well-formed requests. */
		unsigned char *m = mmap(NULL, PG, RW, ANON, -1, 0);
		CHECK(m != MAP_FAILED);
		m[0] = 9;
		CHECK_ERR(mremap(m, PG, 2 * PG, MREMAP_MAYMOVE) == MAP_FAILED, ENOMEM);
		CHECK(m[0] == 9); /* still there */
		CHECK(munmap(m, PG) == 0);

		/* munmap of the middle half of 1 MiB of written private
		 * memory frees its 128 frames now (a little slack above for
		 * the kernel's own bookkeeping). */
		unsigned char *big = mmap(NULL, 256 * PG, RW, ANON, -1, 0);
		CHECK(big != MAP_FAILED);
		memset(big, 0x33, 256 * PG);
		long f0 = free_frames();
		CHECK(f0 > 0);
		CHECK(munmap(big + 64 * PG, 128 * PG) == 0);
		long gain = free_frames() - f0;
		CHECK(gain >= 128 && gain <= 128 + 24);
		CHECK(all_bytes(big, 64 * PG, 0x33) && all_bytes(big + 192 * PG, 64 * PG, 0x33));
		CHECK(munmap(big, 256 * PG) == 0);
	}
	/* mremap argument errors (Linux's too). */
	unsigned char *m = mmap(NULL, PG, RW, ANON, -1, 0);
	CHECK(m != MAP_FAILED);
	CHECK_ERR(mremap(m, PG, 2 * PG, 0x80) == MAP_FAILED, EINVAL);
	CHECK_ERR(mremap(m + 1, PG, 2 * PG, MREMAP_MAYMOVE) == MAP_FAILED, EINVAL);
	CHECK(munmap(m, PG) == 0);

	printf("musl mmap: all checks passed%s\n", alder ? " (with the shim's own)" : "");
	return 0;
}
