/*
 * musl malloc stress: many sizes (a few bytes up to past musl's mmap
 * threshold), realloc up and down, calloc, aligned allocation, free; every
 * block carries a pattern derived from its address-independent id, checked
 * before each realloc and free. With brk refused and mremap unimplemented
 * by the shim, this drives musl's mallocng through mmap, mprotect (its meta
 * areas start PROT_NONE), munmap and realloc's copy fallback.
 * Exit 0 when every check holds; else the line number of the failed check.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(c)                                                                                             \
	do {                                                                                                 \
		if (!(c)) {                                                                                  \
			fprintf(stderr, "musl malloc: %s:%d: %s\n", __FILE__, __LINE__, #c);                 \
			return __LINE__;                                                                     \
		}                                                                                            \
	} while (0)

#define SLOTS 64
#define ROUNDS 3000

struct block {
	unsigned char *p;
	size_t size;
	uint32_t id;
};

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/* Mostly small, some medium, a few past the mmap threshold (128 KiB). */
static size_t pick_size(void)
{
	uint64_t r = rng() % 100;
	if (r < 70)
		return 1 + rng() % 256;
	if (r < 95)
		return 257 + rng() % (16 * 1024);
	return 100 * 1024 + rng() % (400 * 1024);
}

static unsigned char pattern(uint32_t id, size_t i)
{
	return (unsigned char)(id * 31u + i * 7u + (i >> 8));
}

static void fill(struct block *b, size_t from)
{
	for (size_t i = from; i < b->size; i++)
		b->p[i] = pattern(b->id, i);
}

static int intact(const struct block *b, size_t upto)
{
	for (size_t i = 0; i < upto; i++)
		if (b->p[i] != pattern(b->id, i))
			return 0;
	return 1;
}

int main(void)
{
	static struct block slot[SLOTS];
	uint32_t next_id = 1;

	for (int round = 0; round < ROUNDS; round++) {
		struct block *b = &slot[rng() % SLOTS];
		unsigned op = (unsigned)(rng() % 3);
		if (!b->p) {
			b->size = pick_size();
			b->id = next_id++;
			b->p = malloc(b->size);
			CHECK(b->p != NULL);
			fill(b, 0);
		} else if (op == 0) {
			CHECK(intact(b, b->size));
			free(b->p);
			b->p = NULL;
		} else {
			CHECK(intact(b, b->size));
			/* Grow (blocks stay below ~1.5 MiB: the test VM is small) or shrink. */
			bool grow = op == 1 && b->size < (1u << 20);
			size_t n = grow ? b->size + 1 + b->size / 2 + rng() % 4096 : 1 + b->size / 3;
			unsigned char *q = realloc(b->p, n);
			CHECK(q != NULL);
			size_t keep = n < b->size ? n : b->size;
			b->p = q;
			CHECK(intact(b, keep)); /* contents survive a move */
			b->size = n;
			fill(b, keep);
		}
	}
	for (int i = 0; i < SLOTS; i++) {
		if (slot[i].p) {
			CHECK(intact(&slot[i], slot[i].size));
			free(slot[i].p);
			slot[i].p = NULL;
		}
	}

	/* calloc: zeroed, including memory that malloc just gave back. */
	for (int i = 0; i < 50; i++) {
		size_t n = 1 + (size_t)i * 997;
		unsigned char *d = malloc(n);
		CHECK(d != NULL);
		memset(d, 0xa5, n);
		free(d);
		unsigned char *z = calloc(n, 1);
		CHECK(z != NULL);
		for (size_t k = 0; k < n; k++)
			CHECK(z[k] == 0);
		free(z);
	}
	volatile size_t huge = (size_t)1 << 62; /* volatile: hidden from the compiler's own check */
	CHECK(calloc(huge, 8) == NULL);		/* overflow is caught */

	/* Alignment. */
	for (size_t a = 16; a <= 65536; a *= 4) {
		void *p = NULL;
		CHECK(posix_memalign(&p, a, 100) == 0 && p != NULL);
		CHECK(((uintptr_t)p & (a - 1)) == 0);
		memset(p, 1, 100);
		free(p);
		void *q = aligned_alloc(a, a * 2);
		CHECK(q != NULL && ((uintptr_t)q & (a - 1)) == 0);
		free(q);
	}

	/* Edges. */
	void *z0 = malloc(0);
	CHECK(z0 != NULL);
	free(z0);
	free(NULL);
	char *r = realloc(NULL, 10);
	CHECK(r != NULL);
	strcpy(r, "ok");
	free(r);
	CHECK(malloc(huge) == NULL);

	/* A big block, grown by realloc: with mremap refused, musl copies. */
	size_t big = 2u << 20;
	unsigned char *g = malloc(big);
	CHECK(g != NULL);
	for (size_t i = 0; i < big; i += 4096)
		g[i] = (unsigned char)(i >> 12);
	g = realloc(g, 2 * big);
	CHECK(g != NULL);
	for (size_t i = 0; i < big; i += 4096)
		CHECK(g[i] == (unsigned char)(i >> 12));
	g[2 * big - 1] = 1;
	free(g);

	printf("musl malloc: %u blocks allocated, contents intact\n", next_id - 1);
	return 0;
}
