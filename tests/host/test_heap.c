/*
 * Host unit tests of the kernel heap (kernel/generic/heap.c) on top of the
 * real frame allocator (kernel/generic/pmm.c), both built into this file.
 * Each test starts from fresh fake physical memory filled with junk.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "../../kernel/generic/pmm.c"
#include "../../kernel/generic/heap.c"
#include "shim/shim.h"

#include <string.h>

#define MEM_BYTES (64ull << 20)

/* panic() must happen in stmt, with substr in its message. */
#define EXPECT_PANIC(stmt, substr)                                                                           \
	do {                                                                                                 \
		if (setjmp(host_panic_jmp) == 0) {                                                           \
			host_expect_panic = true;                                                            \
			stmt;                                                                                \
			host_expect_panic = false;                                                           \
			fail_msg("no panic from %s", #stmt);                                                 \
		}                                                                                            \
		if (!strstr(host_panic_msg, substr))                                                         \
			fail_msg("panic \"%s\" does not mention \"%s\"", host_panic_msg, substr);            \
	} while (0)

static struct heap_stats base; /* right after heap_init */

static int setup(void **state)
{
	(void)state;
	host_phys_setup(MEM_BYTES);
	memset(host_phys_base, 0xa5, MEM_BYTES);
	struct mem_region r = {0, MEM_BYTES};
	pmm_init(&r, 1);
	heap_set_debug(true);
	heap_init();
	heap_get_stats(&base);
	return 0;
}

static struct heap_stats stats(void)
{
	struct heap_stats s;
	heap_get_stats(&s);
	return s;
}

/* Empty slabs each cache keeps go back; the heap then holds only the slab
 * of the cache of caches. */
static void shrink_all(void)
{
	for (unsigned i = 0; i < KMALLOC_NCLASSES; i++)
		kmem_cache_shrink(kmalloc_caches[i]);
	kmem_cache_shrink(&cache_cache);
}

static void check_balanced(void)
{
	shrink_all();
	struct heap_stats s = stats();
	assert_int_equal(s.bytes_in_use, base.bytes_in_use);
	assert_int_equal(s.frames_in_use, base.frames_in_use);
	assert_int_equal(s.allocs - base.allocs, s.frees - base.frees);
	/* And the pmm agrees about the frames. */
	assert_int_equal(pmm_total_frames() - pmm_free_frames(), s.frames_in_use);
}

static size_t class_of(size_t size)
{
	size_t c = 16;
	while (c < size)
		c *= 2;
	return c;
}

static void fill(void *p, size_t n, uint32_t seed)
{
	uint8_t *b = p;
	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)(seed * 31 + i * 7 + (i >> 8));
}

static void check_fill(const void *p, size_t n, uint32_t seed)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++)
		if (b[i] != (uint8_t)(seed * 31 + i * 7 + (i >> 8)))
			fail_msg("object %p (seed %u) byte %zu changed", p, seed, i);
}

/* ---- kmalloc ---- */

static void test_size_classes(void **state)
{
	(void)state;
	static const size_t sizes[] = {
	    1,	 8,   15,  16,	17,  31,  32,	33,   63,   64,	  65,	100,  128,  129,
	    255, 256, 257, 511, 512, 513, 1000, 1023, 1024, 1025, 2000, 2047, 2048,
	};
	void *p[ARRAY_SIZE(sizes)];
	size_t bytes = 0;
	for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
		p[i] = kmalloc(sizes[i]);
		assert_non_null(p[i]);
		assert_int_equal((uintptr_t)p[i] % 16, 0);
		struct slab *s = slab_base(p[i], PAGE_SIZE);
		assert_non_null(s);
		assert_int_equal(s->magic, SLAB_MAGIC);
		assert_int_equal(s->cache->obj_size, class_of(sizes[i]));
		assert_true(s->cache->flags & CACHE_KMALLOC);
		/* In debug mode the slack after the request is a red zone. */
		for (size_t k = sizes[i]; k < class_of(sizes[i]); k++)
			assert_int_equal(((uint8_t *)p[i])[k], HEAP_REDZONE);
		fill(p[i], sizes[i], (uint32_t)i);
		bytes += sizes[i];
		assert_int_equal(stats().bytes_in_use, base.bytes_in_use + bytes);
	}
	for (size_t i = 0; i < ARRAY_SIZE(sizes); i++)
		check_fill(p[i], sizes[i], (uint32_t)i);
	for (size_t i = 0; i < ARRAY_SIZE(sizes); i++)
		kfree(p[i]);
	assert_int_equal(stats().allocs, base.allocs + ARRAY_SIZE(sizes));
	assert_int_equal(stats().frees, base.frees + ARRAY_SIZE(sizes));
	check_balanced();

	assert_null(kmalloc(0));
	kfree(NULL);
	assert_int_equal(stats().allocs, base.allocs + ARRAY_SIZE(sizes));
}

/* Many objects of every class at once: distinct, aligned, none overwrites
 * another, and every slab goes back in the end. */
static void test_many_objects(void **state)
{
	(void)state;
	enum { N = 600 };
	static void *p[KMALLOC_NCLASSES][N];
	for (unsigned c = 0; c < KMALLOC_NCLASSES; c++)
		for (unsigned i = 0; i < N; i++) {
			size_t size = (size_t)KMALLOC_MIN << c;
			p[c][i] = kmalloc(size);
			assert_non_null(p[c][i]);
			assert_int_equal((uintptr_t)p[c][i] % 16, 0);
			fill(p[c][i], size, c * N + i);
		}
	struct heap_stats s = stats();
	/* 600 objects of 2048 bytes, one per frame, need 600 frames. */
	assert_true(s.frames_in_use >= base.frames_in_use + N);
	for (unsigned c = 0; c < KMALLOC_NCLASSES; c++)
		for (unsigned i = 0; i < N; i++)
			check_fill(p[c][i], (size_t)KMALLOC_MIN << c, c * N + i);
	/* Free in a scrambled order. */
	for (unsigned k = 0; k < N; k++) {
		unsigned i = (k * 7919) % N;
		for (unsigned c = 0; c < KMALLOC_NCLASSES; c++)
			kfree(p[c][i]);
	}
	/* At most HEAP_EMPTY_KEEP empty slabs per cache stay without a shrink. */
	s = stats();
	assert_true(s.frames_in_use <= base.frames_in_use + KMALLOC_NCLASSES * HEAP_EMPTY_KEEP);
	check_balanced();
}

static void test_large(void **state)
{
	(void)state;
	static const struct {
		size_t size, frames;
	} cases[] = {
	    {2049, 1}, {4096 - 16, 1}, {4096 - 15, 2}, {4096, 2}, {10000, 3}, {1 << 20, 257}, {8 << 20, 2049},
	};
	void *p[ARRAY_SIZE(cases)];
	size_t frames = base.frames_in_use, bytes = base.bytes_in_use;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		size_t before = pmm_free_frames();
		p[i] = kmalloc(cases[i].size);
		assert_non_null(p[i]);
		assert_int_equal((uintptr_t)p[i] % 16, 0);
		assert_int_equal(before - pmm_free_frames(), cases[i].frames);
		frames += cases[i].frames;
		bytes += cases[i].size;
		assert_int_equal(stats().frames_in_use, frames);
		assert_int_equal(stats().bytes_in_use, bytes);
		fill(p[i], cases[i].size, (uint32_t)i);
	}
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
		check_fill(p[i], cases[i].size, (uint32_t)i);
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
		kfree(p[i]);
	assert_int_equal(stats().frames_in_use, base.frames_in_use);
	check_balanced();

	/* Too big for memory, or for any machine. */
	assert_null(kmalloc(MEM_BYTES));
	assert_null(kmalloc(SIZE_MAX));
	assert_null(kmalloc(SIZE_MAX - 8));
	assert_null(kzalloc((size_t)HEAP_LARGE_MAX + 1));
	check_balanced();
}

static void test_kzalloc(void **state)
{
	(void)state;
	static const size_t sizes[] = {1, 24, 200, 2048, 3000, 50000};
	for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
		/* Dirty a block of the size, free it, and ask again: the
		 * same memory comes back (LIFO), and must be zeroed. */
		uint8_t *d = kmalloc(sizes[i]);
		assert_non_null(d);
		memset(d, 0xff, sizes[i]);
		kfree(d);
		uint8_t *z = kzalloc(sizes[i]);
		assert_non_null(z);
		assert_ptr_equal(z, d);
		for (size_t k = 0; k < sizes[i]; k++)
			if (z[k] != 0)
				fail_msg("kzalloc(%zu) byte %zu is 0x%x", sizes[i], k, z[k]);
		kfree(z);
	}
	check_balanced();
}

static void test_alloc_failure(void **state)
{
	(void)state;
	struct kmem_cache *c = kmem_cache_create("oom", 100, 0);
	assert_non_null(c);
	/* Hold every frame. */
	size_t n = pmm_free_frames();
	paddr_t *held = malloc(n * sizeof(*held));
	assert_non_null(held);
	for (size_t i = 0; i < n; i++)
		assert_int_not_equal(held[i] = pmm_alloc(), 0);
	struct heap_stats s = stats();

	assert_null(kmalloc(32)); /* kmalloc-32 has no slab yet */
	assert_null(kmalloc(5000));
	assert_null(kzalloc(100));
	assert_null(kmem_cache_alloc(c));
	struct heap_stats s2 = stats();
	assert_memory_equal(&s, &s2, sizeof(s));

	/* Recovery. */
	for (size_t i = 0; i < n; i++)
		pmm_free(held[i]);
	free(held);
	void *p = kmalloc(32), *q = kmalloc(5000), *o = kmem_cache_alloc(c);
	assert_non_null(p);
	assert_non_null(q);
	assert_non_null(o);
	kfree(p);
	kfree(q);
	kmem_cache_free(c, o);
	kmem_cache_destroy(c);
	check_balanced();
}

/* ---- Caches ---- */

static void test_cache_geometry(void **state)
{
	(void)state;
	static const struct {
		size_t size, align, min_frames;
	} cases[] = {
	    {1, 0, 1},	  {24, 0, 1},	   {24, 64, 1},	    {100, 256, 1},  {600, 16, 1},
	    {3000, 8, 2}, {4096, 4096, 2}, {40000, 16, 16}, {65000, 8, 16},
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		size_t size = cases[i].size, align = cases[i].align ? cases[i].align : 8;
		struct kmem_cache *c = kmem_cache_create("geometry", size, cases[i].align);
		assert_non_null(c);
		assert_true(c->slab_frames >= cases[i].min_frames);
		assert_true(c->first_off >= sizeof(struct slab) + c->objs_per_slab * 2);
		assert_true(c->first_off + c->objs_per_slab * c->stride <= c->slab_bytes);
		/* Three slabs' worth. */
		size_t n = 3 * c->objs_per_slab;
		void **p = malloc(n * sizeof(*p));
		assert_non_null(p);
		for (size_t k = 0; k < n; k++) {
			p[k] = kmem_cache_alloc(c);
			assert_non_null(p[k]);
			assert_int_equal((uintptr_t)p[k] % align, 0);
			struct slab *s = slab_base(p[k], c->slab_bytes);
			assert_ptr_equal(s->cache, c);
			assert_true((char *)p[k] >= (char *)s + c->first_off);
			assert_true((char *)p[k] + size <= (char *)s + c->slab_bytes);
			fill(p[k], size, (uint32_t)k);
		}
		assert_int_equal(stats().frames_in_use, base.frames_in_use + 3 * c->slab_frames);
		for (size_t k = 0; k < n; k++)
			check_fill(p[k], size, (uint32_t)k);
		for (size_t k = 0; k < n; k++)
			kmem_cache_free(c, p[k]);
		free(p);
		kmem_cache_destroy(c);
		check_balanced();
	}

	/* Unusable geometry. */
	assert_null(kmem_cache_create("zero", 0, 0));
	assert_null(kmem_cache_create("huge", 70000, 0));
	assert_null(kmem_cache_create("just-too-big", 65536, 8));
	assert_null(kmem_cache_create("align", 64, 8192));
	check_balanced();
}

static void test_cache_names(void **state)
{
	(void)state;
	struct kmem_cache *c = kmem_cache_create("a-very-long-cache-name-that-is-cut", 32, 0);
	assert_non_null(c);
	assert_string_equal(c->name, "a-very-long-cache-name-");
	kmem_cache_destroy(c);
}

static void test_shrink(void **state)
{
	(void)state;
	struct kmem_cache *c = kmem_cache_create("shrink", 256, 0);
	assert_non_null(c);
	assert_int_equal(c->slab_frames, 1);
	size_t per = c->objs_per_slab; /* 15 */
	enum { N = 100 };
	void *p[N];
	for (int i = 0; i < N; i++)
		p[i] = kmem_cache_alloc(c);
	size_t slabs = (N + per - 1) / per;
	assert_int_equal(stats().frames_in_use, base.frames_in_use + slabs);
	for (int i = 0; i < N; i++)
		kmem_cache_free(c, p[i]);
	/* All but HEAP_EMPTY_KEEP went back as they emptied. */
	assert_int_equal(stats().frames_in_use, base.frames_in_use + HEAP_EMPTY_KEEP);
	assert_int_equal(kmem_cache_shrink(c), HEAP_EMPTY_KEEP);
	assert_int_equal(kmem_cache_shrink(c), 0);
	assert_int_equal(stats().frames_in_use, base.frames_in_use);
	/* The cache still works after a shrink. */
	void *o = kmem_cache_alloc(c);
	assert_non_null(o);
	kmem_cache_free(c, o);

	/* Multi-frame slabs come back whole. */
	struct kmem_cache *big = kmem_cache_create("shrink-big", 3000, 0);
	assert_non_null(big);
	assert_true(big->slab_frames > 1);
	o = kmem_cache_alloc(big);
	kmem_cache_free(big, o);
	assert_int_equal(kmem_cache_shrink(big), big->slab_frames);
	kmem_cache_destroy(big);
	kmem_cache_destroy(c);
	check_balanced();
}

static void test_destroy(void **state)
{
	(void)state;
	struct kmem_cache *c = kmem_cache_create("destroy-me", 48, 0);
	void *o = kmem_cache_alloc(c);
	EXPECT_PANIC(kmem_cache_destroy(c), "still allocated");
	kmem_cache_free(c, o);
	kmem_cache_destroy(c);
	/* The poisoned husk is no longer a cache. */
	EXPECT_PANIC(kmem_cache_alloc(c), "not a live cache");
	check_balanced();
}

/* ---- Corruption caught ---- */

static void test_use_after_free(void **state)
{
	(void)state;
	struct kmem_cache *c = kmem_cache_create("uaf-test", 64, 0);
	char *p = kmem_cache_alloc(c);
	kmem_cache_free(c, p);
	p[20] = 1;
	EXPECT_PANIC(kmem_cache_alloc(c), "write after free");
	assert_non_null(strstr(host_panic_msg, "uaf-test"));

	/* The last byte of a kmalloc object, via kmalloc. */
	char *k = kmalloc(100);
	kfree(k);
	k[127] = 0;
	EXPECT_PANIC(kmalloc(100), "kmalloc-128");
	assert_non_null(strstr(host_panic_msg, "write after free"));
}

static void test_use_after_free_link(void **state)
{
	(void)state;
	/* A write to the word that links free objects: caught, not followed. */
	struct kmem_cache *c = kmem_cache_create("uaf-link", 32, 0);
	uint64_t *p = kmem_cache_alloc(c);
	kmem_cache_free(c, p);
	*p = 0;
	EXPECT_PANIC(kmem_cache_alloc(c), "free list");
	assert_non_null(strstr(host_panic_msg, "uaf-link"));
}

static void test_use_after_free_deep(void **state)
{
	(void)state;
	/* An object in the middle of the free list, found when its turn comes. */
	char *a = kmalloc(64), *b = kmalloc(64), *x = kmalloc(64);
	kfree(a);
	kfree(b);
	a[63] = 'x';
	assert_ptr_equal(kmalloc(64), b);
	EXPECT_PANIC(kmalloc(64), "write after free");
	assert_non_null(strstr(host_panic_msg, "kmalloc-64"));
	(void)x;
}

static void test_double_free(void **state)
{
	(void)state;
	void *p = kmalloc(40);
	void *keep = kmalloc(40); /* keeps the slab alive */
	kfree(p);
	EXPECT_PANIC(kfree(p), "double free");
	assert_non_null(strstr(host_panic_msg, "kmalloc-64"));

	struct kmem_cache *c = kmem_cache_create("df-cache", 80, 0);
	void *o = kmem_cache_alloc(c);
	void *o2 = kmem_cache_alloc(c);
	kmem_cache_free(c, o);
	EXPECT_PANIC(kmem_cache_free(c, o), "double free");
	assert_non_null(strstr(host_panic_msg, "df-cache"));

	/* Also with debug off: the state word is always kept. */
	heap_set_debug(false);
	void *q = kmalloc(40);
	kfree(q);
	EXPECT_PANIC(kfree(q), "double free");
	heap_set_debug(true);

	/* A large block, while its frames are still free. */
	void *l = kmalloc(10000);
	kfree(l);
	EXPECT_PANIC(kfree(l), "double free");
	(void)keep;
	(void)o2;
}

static void test_foreign_pointers(void **state)
{
	(void)state;
	char *p = kmalloc(64);
	EXPECT_PANIC(kfree(p + 16), "not the start of an object");
	EXPECT_PANIC(kfree(p + 1), "not the start of an object");

	/* The slab header itself. */
	EXPECT_PANIC(kfree(slab_base(p, PAGE_SIZE)), "not the start of an object");

	/* A frame straight from the pmm. */
	void *frame = phys_to_virt(pmm_alloc());
	memset(frame, 0, PAGE_SIZE);
	EXPECT_PANIC(kfree((char *)frame + 16), "not a pointer kmalloc returned");

	/* Inside a large block, past its first frame, and at its header. */
	char *l = kzalloc(3 * PAGE_SIZE);
	EXPECT_PANIC(kfree(l + PAGE_SIZE), "not a pointer kmalloc returned");
	EXPECT_PANIC(kfree(l - 16), "not a pointer kmalloc returned");

	/* Not heap memory at all: checked before anything is read. */
	int on_stack;
	EXPECT_PANIC(kfree(&on_stack), "not heap memory");

	/* The wrong cache, either way round. */
	struct kmem_cache *c1 = kmem_cache_create("cache-one", 64, 0);
	struct kmem_cache *c2 = kmem_cache_create("cache-two", 64, 0);
	void *o = kmem_cache_alloc(c1);
	EXPECT_PANIC(kmem_cache_free(c2, o), "not an object of this cache");
	EXPECT_PANIC(kmem_cache_free(c1, p), "not an object of this cache");
	EXPECT_PANIC(kfree(o), "kmem_cache_free");
	assert_non_null(strstr(host_panic_msg, "cache-one"));
	EXPECT_PANIC(kmem_cache_free(c1, &on_stack), "not an object of this cache");

	/* None of that changed anything: everything still frees cleanly. */
	kmem_cache_free(c1, o);
	kfree(p);
	kfree(l);
	pmm_free(virt_to_phys(frame));
	kmem_cache_destroy(c1);
	kmem_cache_destroy(c2);
	check_balanced();
}

static void test_overflow(void **state)
{
	(void)state;
	char *p = kmalloc(20);
	p[20] = 'x';
	EXPECT_PANIC(kfree(p), "write past the end");
	assert_non_null(strstr(host_panic_msg, "kmalloc-32"));

	/* Padding of a cache object (20 bytes in a 24-byte slot). */
	struct kmem_cache *c = kmem_cache_create("padded", 20, 8);
	char *o = kmem_cache_alloc(c);
	o[23] = 0;
	EXPECT_PANIC(kmem_cache_free(c, o), "write past the end");
	assert_non_null(strstr(host_panic_msg, "padded"));
}

/* Objects remember how they were allocated and freed, so turning debug on
 * or off with objects live never reports a false corruption; with debug off
 * nothing is poisoned. */
static void test_debug_toggle(void **state)
{
	(void)state;
	heap_set_debug(false);
	char *a = kmalloc(20);
	char *b = kmalloc(20);
	memset(a, 0x11, 32); /* no red zone while debug is off: slack is free */
	kfree(b);
	assert_int_not_equal((uint8_t)b[8], HEAP_POISON);
	b[10] = 3; /* not poisoned, so not checked */

	heap_set_debug(true);
	kfree(a); /* allocated without a red zone: not checked */
	assert_int_equal((uint8_t)a[8], HEAP_POISON);
	assert_ptr_equal(kmalloc(20), a);
	assert_ptr_equal(kmalloc(20), b); /* freed unpoisoned: not checked */
	kfree(a);
	kfree(b);

	/* And debug on again catches a write after free as before. */
	a = kmalloc(20);
	kfree(a);
	a[9] = 0;
	EXPECT_PANIC(kmalloc(20), "write after free");
}

/* ---- Stress ---- */

static uint64_t rng_state;
static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static void test_random_stress(void **state)
{
	(void)state;
	rng_state = getenv("HEAP_SEED") ? strtoull(getenv("HEAP_SEED"), NULL, 0) : 0xfeedbeef;
	struct kmem_cache *c = kmem_cache_create("stress", 72, 8);
	size_t bytes0 = stats().bytes_in_use; /* the cache itself counts */
	enum { MAXLIVE = 3000, OPS = 40000 };
	static struct {
		uint8_t *p;
		size_t size;
		uint32_t seed;
		bool cached;
	} live[MAXLIVE];
	size_t nlive = 0, bytes = 0;

	for (uint32_t op = 0; op < OPS; op++) {
		if (nlive > 0 && (rnd() % 100 < 45 || nlive == MAXLIVE)) {
			size_t i = rnd() % nlive;
			check_fill(live[i].p, live[i].size, live[i].seed);
			if (live[i].cached)
				kmem_cache_free(c, live[i].p);
			else
				kfree(live[i].p);
			bytes -= live[i].size;
			live[i] = live[--nlive];
			continue;
		}
		size_t size;
		unsigned r = rnd() % 100;
		bool cached = r < 10, zero = r >= 90;
		if (cached)
			size = 72;
		else if (r < 95)
			size = 1 + rnd() % (rnd() % 8 ? 256 : 2048);
		else
			size = 2049 + rnd() % 30000;
		uint8_t *p = cached ? kmem_cache_alloc(c) : zero ? kzalloc(size) : kmalloc(size);
		assert_non_null(p);
		assert_int_equal((uintptr_t)p % (cached ? 8 : 16), 0);
		if (zero)
			for (size_t k = 0; k < size; k++)
				assert_int_equal(p[k], 0);
		fill(p, size, op);
		live[nlive].p = p;
		live[nlive].size = size;
		live[nlive].seed = op;
		live[nlive].cached = cached;
		nlive++;
		bytes += size;
		if (op % 1024 == 0)
			assert_int_equal(stats().bytes_in_use, bytes0 + bytes);
	}
	while (nlive > 0) {
		nlive--;
		check_fill(live[nlive].p, live[nlive].size, live[nlive].seed);
		if (live[nlive].cached)
			kmem_cache_free(c, live[nlive].p);
		else
			kfree(live[nlive].p);
	}
	kmem_cache_destroy(c);
	check_balanced();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_size_classes, setup),
	    cmocka_unit_test_setup(test_many_objects, setup),
	    cmocka_unit_test_setup(test_large, setup),
	    cmocka_unit_test_setup(test_kzalloc, setup),
	    cmocka_unit_test_setup(test_alloc_failure, setup),
	    cmocka_unit_test_setup(test_cache_geometry, setup),
	    cmocka_unit_test_setup(test_cache_names, setup),
	    cmocka_unit_test_setup(test_shrink, setup),
	    cmocka_unit_test_setup(test_destroy, setup),
	    cmocka_unit_test_setup(test_use_after_free, setup),
	    cmocka_unit_test_setup(test_use_after_free_link, setup),
	    cmocka_unit_test_setup(test_use_after_free_deep, setup),
	    cmocka_unit_test_setup(test_double_free, setup),
	    cmocka_unit_test_setup(test_foreign_pointers, setup),
	    cmocka_unit_test_setup(test_overflow, setup),
	    cmocka_unit_test_setup(test_debug_toggle, setup),
	    cmocka_unit_test_setup(test_random_stress, setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
