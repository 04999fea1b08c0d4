/*
 * Host unit tests of the kernel heap (kernel/generic/heap.c) on top of the
 * real frame allocator (kernel/generic/pmm.c), both built into this file.
 * Each test starts from fresh fake physical memory filled with junk, with
 * debug on; the magazine tests turn it off. MAX_CPUS (4) fake CPUs: a test
 * "moves" to another by calling on_cpu(), and smp_call_others() runs its
 * function on each of the others in turn (smp_call_all: here first).
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

/* The stand-ins kern/cpu.h, arch/cpu.h and arch/apic.h leave to the test. */
struct cpu cpus[MAX_CPUS];
uint32_t cpu_count = MAX_CPUS;
struct cpu *host_cpu = &cpus[0];
bool host_irqs_on = true;
bool smp_percpu_ready = true;
static unsigned ipi_calls;

void smp_call_others(void (*fn)(void *), void *arg)
{
	struct cpu *me = host_cpu;
	bool irqs = host_irqs_on;
	for (uint32_t i = 0; i < cpu_count; i++) {
		if (&cpus[i] == me)
			continue;
		host_cpu = &cpus[i];
		host_irqs_on = false; /* as in an IPI handler */
		fn(arg);
		ipi_calls++;
	}
	host_cpu = me;
	host_irqs_on = irqs;
}

/* As the kernel's: here, then the others, interrupts off throughout. */
void smp_call_all(void (*fn)(void *), void *arg)
{
	bool irqs = host_irqs_on;
	host_irqs_on = false;
	fn(arg);
	smp_call_others(fn, arg);
	host_irqs_on = irqs;
}

static void on_cpu(unsigned i)
{
	host_cpu = &cpus[i];
}

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
	for (unsigned i = 0; i < MAX_CPUS; i++) {
		cpus[i].self = &cpus[i];
		cpus[i].id = i;
	}
	on_cpu(0);
	host_irqs_on = true;
	heap_init(); /* forgets the previous test's magazines */
	/* Every CPU makes its magazines (a frame each, kept) before the
	 * baseline, so that the tests' balance checks can be exact. */
	heap_set_debug(false);
	for (unsigned i = 0; i < MAX_CPUS; i++) {
		on_cpu(i);
		kfree(kmalloc(1));
		assert_non_null(heap_blocks[i]);
	}
	on_cpu(0);
	heap_set_debug(true);
	heap_trim();
	heap_get_stats(&base);
	assert_int_equal(base.cached, 0);
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

/* The state in the meta word of p, an object of a kmalloc cache. */
static unsigned obj_state(const void *p)
{
	struct slab *s = slab_base(p, PAGE_SIZE);
	size_t i = slab_index(s->cache, s, (uintptr_t)p);
	assert_true(i != SIZE_MAX);
	return meta_state(*slab_meta(s->cache, s, i));
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
		/* Aligned to the size class, not just to 16. */
		assert_int_equal((uintptr_t)p[i] % class_of(sizes[i]), 0);
		struct slab *s = slab_base(p[i], PAGE_SIZE);
		assert_non_null(s);
		assert_int_equal(s->magic, KSLAB_MAGIC);
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

static void foreign_pointers(bool debug)
{
	heap_set_debug(debug);
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

static void test_foreign_pointers(void **state)
{
	(void)state;
	foreign_pointers(true);
}

/* The same with debug off: kfree's fast path sends every one of them to
 * the slow path, which diagnoses it. */
static void test_foreign_pointers_fast(void **state)
{
	(void)state;
	foreign_pointers(false);
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
 * nothing is poisoned, and turning it on poisons what the magazines held. */
static void test_debug_toggle(void **state)
{
	(void)state;
	heap_set_debug(false);
	char *a = kmalloc(20);
	char *b = kmalloc(20);
	memset(a, 0x11, 32); /* no red zone while debug is off: slack is free */
	kfree(b);	     /* into this CPU's magazine */
	assert_int_not_equal((uint8_t)b[8], HEAP_POISON);
	b[10] = 3; /* free but not poisoned, so not checked */

	heap_set_debug(true); /* empties the magazines, poisoning */
	assert_int_equal(heap_blocks[0]->mag[1].count, 0);
	assert_int_equal((uint8_t)b[10], HEAP_POISON);
	kfree(a); /* allocated without a red zone: not checked */
	assert_int_equal((uint8_t)a[8], HEAP_POISON);
	assert_ptr_equal(kmalloc(20), a);
	assert_ptr_equal(kmalloc(20), b); /* flushed last, so next */
	kfree(a);
	kfree(b);

	/* An object freed unpoisoned straight to its slab (a full magazine
	 * flushed with debug off) is not checked once debug is on. */
	heap_set_debug(false);
	enum { N = HEAP_MAG_SIZE + 1 };
	char *p[N];
	for (int i = 0; i < N; i++)
		p[i] = kmalloc(20);
	for (int i = 0; i < N; i++)
		kfree(p[i]); /* more than a magazine holds: some are flushed */
	assert_true(heap_blocks[0]->mag[1].count <= HEAP_MAG_SIZE);
	int flushed = -1;
	for (int i = 0; i < N && flushed < 0; i++)
		if (obj_state(p[i]) == OBJ_FREE)
			flushed = i;
	assert_true(flushed >= 0);
	p[flushed][12] = 7;
	heap_set_debug(true);
	for (int i = 0; i < 2 * N; i++)
		assert_non_null(kmalloc(20)); /* p[flushed] among them, not reported */

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

/* kzalloc (zero) or kmalloc size bytes, check the zeroing, fill from seed. */
static uint8_t *alloc_filled(size_t size, bool zero, uint32_t seed)
{
	uint8_t *p = zero ? kzalloc(size) : kmalloc(size);
	assert_non_null(p);
	assert_int_equal((uintptr_t)p % 16, 0);
	if (zero)
		for (size_t k = 0; k < size; k++)
			assert_int_equal(p[k], 0);
	fill(p, size, seed);
	return p;
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
		uint8_t *p;
		if (cached) {
			p = kmem_cache_alloc(c);
			assert_non_null(p);
			assert_int_equal((uintptr_t)p % 8, 0);
			fill(p, size, op);
		} else {
			p = alloc_filled(size, zero, op);
		}
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

/* ---- Magazines (debug off) ---- */

/* Class index of a kmalloc size, for heap_blocks[cpu]->mag[]. */
static unsigned mag_of(size_t size)
{
	return kmalloc_class(size);
}

static void check_stats(const struct heap_stats *want)
{
	struct heap_stats s = stats();
	assert_int_equal(s.bytes_in_use, want->bytes_in_use);
	assert_int_equal(s.allocs, want->allocs);
	assert_int_equal(s.frees, want->frees);
}

/* An object freed goes to this CPU's magazine and is the next one handed
 * out; the counters stay exact; the interrupt flag comes back as it was. */
static void test_mag_reuse(void **state)
{
	(void)state;
	heap_set_debug(false);
	struct heap_stats want = stats();
	struct heap_mag *m = &heap_blocks[0]->mag[mag_of(100)];

	char *p = kmalloc(100);
	assert_non_null(p);
	assert_int_equal(obj_state(p), OBJ_ALLOC);
	assert_int_equal(m->count, MAG_BATCH - 1); /* refilled, one handed out */
	want.allocs++;
	want.bytes_in_use += 100;
	check_stats(&want);
	/* No red zone, no poison with debug off: the whole slot is usable. */
	memset(p, 0x5a, 128);

	kfree(p);
	assert_int_equal(obj_state(p), OBJ_CACHED);
	assert_int_equal(m->count, MAG_BATCH);
	assert_ptr_equal(m->obj[MAG_BATCH - 1], p);
	assert_int_equal(stats().cached, MAG_BATCH);
	want.frees++;
	want.bytes_in_use -= 100;
	check_stats(&want);

	assert_ptr_equal(kmalloc(128), p); /* same class, last in first out */
	want.allocs++;
	want.bytes_in_use += 128;
	check_stats(&want);
	kfree(p);
	want.frees++;
	want.bytes_in_use -= 128;
	check_stats(&want);
	assert_true(host_irqs_on);

	/* Called with interrupts off, they stay off. */
	host_irqs_on = false;
	void *q = kmalloc(100);
	assert_false(host_irqs_on);
	kfree(q);
	assert_false(host_irqs_on);
	host_irqs_on = true;

	/* kzalloc zeroes what a magazine hands out. */
	char *z = kzalloc(100);
	assert_ptr_equal(z, q);
	for (int i = 0; i < 100; i++)
		assert_int_equal(z[i], 0);
	kfree(z);

	check_balanced(); /* the shrink empties the magazines */
	for (unsigned k = 0; k < KMALLOC_NCLASSES; k++)
		assert_int_equal(heap_blocks[0]->mag[k].count, 0);
}

/* Double frees are caught whether the object sits in a magazine or was
 * flushed back to its slab, and the failed free changes nothing. */
static void test_mag_double_free(void **state)
{
	(void)state;
	heap_set_debug(false);
	struct heap_mag *m = &heap_blocks[0]->mag[mag_of(40)];
	void *p = kmalloc(40);
	void *keep = kmalloc(40); /* keeps the slab alive */
	kfree(p);
	uint32_t n = m->count;
	EXPECT_PANIC(kfree(p), "double free");
	assert_non_null(strstr(host_panic_msg, "kmalloc-64"));
	assert_int_equal(m->count, n);
	assert_int_equal(obj_state(p), OBJ_CACHED);
	assert_true(host_irqs_on);

	/* Back in its slab. */
	assert_int_equal(heap_trim(), 0); /* keep holds the only slab */
	assert_int_equal(m->count, 0);
	assert_int_equal(obj_state(p), OBJ_FREE);
	EXPECT_PANIC(kfree(p), "double free");

	/* From another CPU, while it is in this one's magazine. */
	void *q = kmalloc(40);
	kfree(q);
	on_cpu(2);
	EXPECT_PANIC(kfree(q), "double free");
	assert_int_equal(heap_blocks[2]->mag[mag_of(40)].count, 0);
	on_cpu(0);

	kfree(keep);
	check_balanced();
}

/* More objects than a magazine holds: refills and flushes of MAG_BATCH,
 * the magazine never over capacity, every object in exactly one place. */
static void test_mag_flush_refill(void **state)
{
	(void)state;
	heap_set_debug(false);
	enum { N = 300 };
	static char *p[N];
	struct heap_mag *m = &heap_blocks[0]->mag[mag_of(32)];
	struct heap_stats want = stats();
	for (int i = 0; i < N; i++) {
		p[i] = kmalloc(32);
		assert_non_null(p[i]);
		assert_true(m->count < MAG_BATCH);
		fill(p[i], 32, (uint32_t)i);
	}
	want.allocs += N;
	want.bytes_in_use += N * 32;
	check_stats(&want);
	for (int i = 0; i < N; i++) {
		check_fill(p[i], 32, (uint32_t)i);
		kfree(p[i]);
		assert_true(m->count >= 1 && m->count <= HEAP_MAG_SIZE);
	}
	want.frees += N;
	want.bytes_in_use -= N * 32;
	check_stats(&want);
	/* What the magazine holds is cached, everything else free. */
	size_t cached = 0;
	for (int i = 0; i < N; i++) {
		unsigned st = obj_state(p[i]);
		assert_true(st == OBJ_CACHED || st == OBJ_FREE);
		cached += st == OBJ_CACHED;
	}
	assert_int_equal(cached, m->count);
	for (uint32_t k = 0; k < m->count; k++)
		assert_int_equal(meta_state(*m->meta[k]), OBJ_CACHED);
	/* Slabs that emptied went back as they emptied (but for the magazine's
	 * objects and HEAP_EMPTY_KEEP). */
	assert_true(stats().frames_in_use <= base.frames_in_use + HEAP_MAG_SIZE + HEAP_EMPTY_KEEP);
	check_balanced();
}

/* Allocated on one CPU, freed on another: the object joins the freeing
 * CPU's magazine; the counters, summed over CPUs, stay exact; a shrink
 * empties every CPU's magazines. */
static void test_mag_cross_cpu(void **state)
{
	(void)state;
	heap_set_debug(false);
	enum { N = 10 };
	unsigned k = mag_of(64);
	void *p[N];
	struct heap_stats want = stats();
	on_cpu(0);
	for (int i = 0; i < N; i++)
		p[i] = kmalloc(64);
	on_cpu(1);
	for (int i = 0; i < N; i++)
		kfree(p[i]);
	assert_int_equal(heap_blocks[1]->mag[k].count, N);
	assert_int_equal(heap_blocks[0]->mag[k].count, 2 * MAG_BATCH - N);
	want.allocs += N;
	want.frees += N;
	check_stats(&want); /* bytes: CPU 0 added, CPU 1 took away */

	assert_ptr_equal(kmalloc(64), p[N - 1]);
	on_cpu(3);
	kfree(p[N - 1]);
	assert_int_equal(heap_blocks[3]->mag[k].count, 1);
	want.allocs++;
	want.frees++;
	check_stats(&want);

	unsigned calls = ipi_calls;
	on_cpu(2);
	kmem_cache_shrink(kmalloc_caches[k]);
	assert_int_equal(ipi_calls, calls + MAX_CPUS - 1);
	for (unsigned c = 0; c < MAX_CPUS; c++)
		assert_int_equal(heap_blocks[c]->mag[k].count, 0);
	on_cpu(0);
	check_balanced();
}

/* Turning debug on empties every CPU's magazines, poisoned, so a write to
 * one of those objects is caught when it is handed out again. */
static void test_mag_debug_on_drains(void **state)
{
	(void)state;
	heap_set_debug(false);
	char *p[MAX_CPUS];
	for (unsigned c = 0; c < MAX_CPUS; c++) {
		on_cpu(c);
		p[c] = kmalloc(200);
		kfree(p[c]);
		assert_int_equal(obj_state(p[c]), OBJ_CACHED);
	}
	on_cpu(1);
	size_t cached = 0;
	for (unsigned c = 0; c < MAX_CPUS; c++)
		cached += heap_blocks[c]->mag[mag_of(200)].count;
	assert_true(cached >= MAX_CPUS);
	assert_int_equal(stats().cached, cached);
	heap_set_debug(true);
	assert_int_equal(stats().cached, 0);
	for (unsigned c = 0; c < MAX_CPUS; c++) {
		assert_null(cpus[c].heap); /* the fast paths are off */
		for (unsigned k = 0; k < KMALLOC_NCLASSES; k++)
			assert_int_equal(heap_blocks[c]->mag[k].count, 0);
		assert_int_equal(obj_state(p[c]), OBJ_POISONED);
	}
	/* No magazine in debug mode. */
	void *q = kmalloc(200);
	kfree(q);
	assert_int_equal(heap_blocks[1]->mag[mag_of(200)].count, 0);
	for (unsigned c = 0; c < MAX_CPUS; c++)
		p[c][9] = 1;
	EXPECT_PANIC(kmalloc(200), "write after free");

	/* Debug off again: each CPU takes its magazines back when it next
	 * allocates, the same frame as before. */
	heap_set_debug(false);
	struct heap_cpu *block = heap_blocks[3];
	on_cpu(3);
	assert_null(cpus[3].heap);
	kfree(kmalloc(8));
	assert_ptr_equal(cpus[3].heap, block);
	assert_ptr_equal(heap_blocks[3], block);
	assert_null(cpus[2].heap);
}

/* Out of memory with an empty magazine: NULL, nothing counted. */
static void test_mag_oom(void **state)
{
	(void)state;
	heap_set_debug(false);
	size_t n = pmm_free_frames();
	paddr_t *held = malloc(n * sizeof(*held));
	assert_non_null(held);
	for (size_t i = 0; i < n; i++)
		held[i] = pmm_alloc();
	struct heap_stats s = stats();
	assert_null(kmalloc(32));
	assert_null(kzalloc(500));
	assert_true(host_irqs_on);
	struct heap_stats s2 = stats();
	assert_memory_equal(&s, &s2, sizeof(s));
	for (size_t i = 0; i < n; i++)
		pmm_free(held[i]);
	free(held);
	void *p = kmalloc(32);
	assert_non_null(p);
	kfree(p);
	check_balanced();
}

/* Random kmalloc/kzalloc/kfree on random CPUs, debug switched on and off
 * now and then: contents intact, counters exact, everything back. */
static void test_mag_stress(void **state)
{
	(void)state;
	rng_state = getenv("HEAP_SEED") ? strtoull(getenv("HEAP_SEED"), NULL, 0) : 0xabad1dea;
	enum { MAXLIVE = 2000, OPS = 60000 };
	static struct {
		uint8_t *p;
		size_t size;
		uint32_t seed;
	} live[MAXLIVE];
	size_t nlive = 0, bytes = 0;
	heap_set_debug(false);
	for (uint32_t op = 0; op < OPS; op++) {
		on_cpu(rnd() % MAX_CPUS);
		if (op % 5000 == 4999)
			heap_set_debug(op % 10000 == 4999);
		if (nlive > 0 && (rnd() % 100 < 48 || nlive == MAXLIVE)) {
			size_t i = rnd() % nlive;
			check_fill(live[i].p, live[i].size, live[i].seed);
			kfree(live[i].p);
			bytes -= live[i].size;
			live[i] = live[--nlive];
		} else {
			size_t size =
			    rnd() % 100 < 97 ? 1 + rnd() % (rnd() % 4 ? 128 : 2048) : 2049 + rnd() % 9000;
			live[nlive].p = alloc_filled(size, rnd() % 8 == 0, op);
			live[nlive].size = size;
			live[nlive].seed = op;
			nlive++;
			bytes += size;
		}
		assert_true(host_irqs_on);
		if (op % 512 == 0)
			assert_int_equal(stats().bytes_in_use, base.bytes_in_use + bytes);
	}
	while (nlive > 0) {
		nlive--;
		check_fill(live[nlive].p, live[nlive].size, live[nlive].seed);
		kfree(live[nlive].p);
	}
	on_cpu(0);
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
	    cmocka_unit_test_setup(test_foreign_pointers_fast, setup),
	    cmocka_unit_test_setup(test_overflow, setup),
	    cmocka_unit_test_setup(test_debug_toggle, setup),
	    cmocka_unit_test_setup(test_random_stress, setup),
	    cmocka_unit_test_setup(test_mag_reuse, setup),
	    cmocka_unit_test_setup(test_mag_double_free, setup),
	    cmocka_unit_test_setup(test_mag_flush_refill, setup),
	    cmocka_unit_test_setup(test_mag_cross_cpu, setup),
	    cmocka_unit_test_setup(test_mag_debug_on_drains, setup),
	    cmocka_unit_test_setup(test_mag_oom, setup),
	    cmocka_unit_test_setup(test_mag_stress, setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
