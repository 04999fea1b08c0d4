/*
 * Kernel heap: slab caches of fixed-size objects, kmalloc() size classes on
 * top of them, and whole-frame blocks from the pmm for anything bigger than
 * the largest class. For memory the kernel itself uses; not for user memory
 * or page tables (those take frames from the pmm directly), and not for
 * anything that needs more than 16-byte alignment from kmalloc().
 *
 * Slab layout. A slab is slab_frames contiguous frames, aligned (physically)
 * to its own size, so an object's slab is found by rounding its physical
 * address down. It starts with struct slab, then one 16-bit word per object
 * (state in the top bits, requested size below), then the objects:
 *
 *	| struct slab | meta[nobjs] | pad | obj 0 | obj 1 | ... | obj n-1 | waste |
 *
 * kmalloc caches always use one-frame slabs, so kfree() finds the header by
 * rounding down to 4 KiB; caches made with kmem_cache_create() may use up to
 * HEAP_MAX_SLAB_FRAMES and are freed only through kmem_cache_free(), which
 * knows the slab size.
 *
 * Free objects are chained through their first word. The link is stored
 * XORed with its own address and a key, so a stray write there (a zero, a
 * small integer) decodes to a pointer that fails validation rather than
 * sending the allocator into arbitrary memory.
 *
 * Per-object state is always kept (it costs two bytes per object), so a double
 * free or a free of a pointer the heap never returned panics even with debug
 * off. Debug mode adds: freed objects are filled with HEAP_POISON and checked
 * when handed out again; allocated objects get a red zone (HEAP_REDZONE) from
 * the requested size to the end of the slot, checked on free. Each object
 * records whether it was poisoned / red-zoned, so switching debug at run time
 * never reports a false corruption.
 *
 * Large blocks (> KMALLOC_MAX) are frames from pmm_alloc_contig() with a
 * 16-byte header (struct large_hdr) in front of the returned pointer.
 *
 * Locking: one spinlock per cache (IRQ-saving, since kmalloc may be called
 * from interrupt handlers); the pmm's lock nests inside it only for a moment
 * (slab frames are taken and returned with the cache lock dropped). The
 * statistics are atomic counters, read without any lock.
 */
#include <kern/assert.h>
#include <kern/heap.h>
#include <kern/log.h>
#include <kern/pmm.h>
#include <kern/spinlock.h>
#include <kern/string.h>
#include <kern/types.h>
#include <kern/vm.h>

#define KMALLOC_MIN 16
#define KMALLOC_MAX 2048
#define KMALLOC_NCLASSES 8 /* 16, 32, ..., 2048 */
#define KMALLOC_ALIGN 16
#define HEAP_MAX_SLAB_FRAMES 16u    /* biggest slab, 64 KiB */
#define HEAP_LARGE_MAX (1ull << 40) /* sanity bound on one kmalloc */
#define HEAP_EMPTY_KEEP 1	    /* empty slabs a cache keeps for reuse */
#define HEAP_REDZONE 0xbb

#define SLAB_MAGIC 0x534c4142u	       /* "SLAB" */
#define SLAB_DEAD 0x64656164u	       /* slab given back to the pmm */
#define LARGE_MAGIC 0x4c415247u	       /* "LARG" */
#define LARGE_DEAD 0x6c617267u	       /* large block freed */
#define CACHE_MAGIC 0x43414348u	       /* "CACH" */
#define LINK_KEY 0x9e3779b97f4a7c15ull /* any odd constant; mixes link words */

/* Per-object meta word: state in the top 3 bits, requested size below. */
#define OBJ_STATE_SHIFT 13
#define OBJ_SIZE_MASK ((1u << OBJ_STATE_SHIFT) - 1)
enum obj_state {
	OBJ_FREE = 1,	  /* free, contents not poisoned (freed with debug off) */
	OBJ_POISONED = 2, /* free, filled with HEAP_POISON after the link word */
	OBJ_ALLOC = 3,	  /* allocated, no red zone */
	OBJ_ALLOC_RZ = 4, /* allocated, HEAP_REDZONE from requested size to stride */
};
static_assert(KMALLOC_MAX <= OBJ_SIZE_MASK, "kmalloc sizes must fit the meta word");

#define CACHE_KMALLOC 1u /* a kmalloc size class: kfree() may free its objects */
#define CACHE_STATIC 2u	 /* made by heap_init: never destroyed */
#define CACHE_NAME_MAX 24

struct slab {
	/* Set when the slab is made, then read-only until it is released: */
	uint32_t magic; /* SLAB_MAGIC */
	uint16_t nobjs;
	/* Protected by cache->lock: */
	uint16_t inuse;
	/* Read-only: */
	struct slab *self; /* == this; tells a header from object data */
	struct kmem_cache *cache;
	/* Protected by cache->lock: */
	struct slab *prev, *next; /* on one of the cache's three lists */
	uintptr_t freelist;	  /* encoded link to the first free object, see link_encode */
	uint16_t meta[];	  /* one per object */
};
static_assert(sizeof(struct slab) == 48, "slab header layout");

struct slab_list {
	struct slab *head;
	size_t count;
};

struct kmem_cache {
	/* Set at creation, then read-only: */
	uint32_t magic; /* CACHE_MAGIC while the cache exists */
	uint32_t flags; /* CACHE_* */
	char name[CACHE_NAME_MAX];
	size_t obj_size; /* what the creator asked for */
	size_t align;
	size_t stride;	  /* distance between objects */
	size_t first_off; /* offset of object 0 from the slab start */
	size_t slab_bytes;
	uint32_t slab_frames; /* a power of two */
	uint32_t objs_per_slab;

	spinlock_t lock;
	/* Protected by lock: */
	struct slab_list partial; /* 0 < inuse < nobjs */
	struct slab_list full;	  /* inuse == nobjs */
	struct slab_list empty;	  /* inuse == 0, at most HEAP_EMPTY_KEEP (plus races) */
	size_t objs_in_use;
};

/* In front of every large block; the caller's pointer is right after it. */
struct large_hdr {
	uint32_t magic; /* LARGE_MAGIC; LARGE_DEAD once freed */
	uint32_t frames;
	uint64_t size; /* requested bytes */
};
static_assert(sizeof(struct large_hdr) == KMALLOC_ALIGN, "large blocks must stay 16-byte aligned");

/* The cache of caches; itself static so heap_init has somewhere to start. */
static struct kmem_cache cache_cache;
static struct kmem_cache *kmalloc_caches[KMALLOC_NCLASSES];
static const char *const kmalloc_names[KMALLOC_NCLASSES] = {
    "kmalloc-16",  "kmalloc-32",  "kmalloc-64",	  "kmalloc-128",
    "kmalloc-256", "kmalloc-512", "kmalloc-1024", "kmalloc-2048",
};
static bool heap_ready;

/* Atomics (relaxed): each counter is exact, the set is not a snapshot. */
#ifdef HEAP_DEBUG
static bool heap_debug = true;
#else
static bool heap_debug = false;
#endif
static size_t stat_bytes, stat_frames, stat_allocs, stat_frees;

static inline bool debug_on(void)
{
	return __atomic_load_n(&heap_debug, __ATOMIC_RELAXED);
}

static inline void stat_add(size_t *ctr, size_t n)
{
	__atomic_fetch_add(ctr, n, __ATOMIC_RELAXED);
}

static inline void stat_sub(size_t *ctr, size_t n)
{
	__atomic_fetch_sub(ctr, n, __ATOMIC_RELAXED);
}

/* ---- Addresses ---- */

/* Physical address of any pointer, without trusting it to be in the direct
 * map (integer arithmetic only; the result is then checked with the pmm). */
static inline paddr_t heap_phys(const void *p)
{
	return (paddr_t)((uintptr_t)p - (uintptr_t)phys_to_virt(0));
}

/* The slab that would hold p if p were an object of a cache with slabs of
 * the given size, or NULL if that memory is not the pmm's. */
static struct slab *slab_base(const void *p, size_t slab_bytes)
{
	paddr_t pa = heap_phys(p);
	paddr_t base = ALIGN_DOWN(pa, (paddr_t)slab_bytes);
	if (!pmm_is_managed(pa) || !pmm_is_managed(base))
		return NULL;
	return phys_to_virt(base);
}

static inline char *slab_obj(const struct kmem_cache *c, struct slab *s, size_t i)
{
	return (char *)s + c->first_off + i * c->stride;
}

/* Index of obj in s, or SIZE_MAX if obj is not the start of one of its
 * object slots. */
static size_t slab_index(const struct kmem_cache *c, const struct slab *s, uintptr_t obj)
{
	uintptr_t first = (uintptr_t)s + c->first_off;
	if (obj < first)
		return SIZE_MAX;
	uintptr_t off = obj - first;
	if (off % c->stride || off / c->stride >= s->nobjs)
		return SIZE_MAX;
	return off / c->stride;
}

static inline uintptr_t link_encode(const void *at, uintptr_t next)
{
	return next ^ (uintptr_t)at ^ (uintptr_t)LINK_KEY;
}

static inline unsigned meta_state(uint16_t m)
{
	return m >> OBJ_STATE_SHIFT;
}

static inline uint16_t meta_make(unsigned state, size_t size)
{
	return (uint16_t)((state << OBJ_STATE_SHIFT) | (size & OBJ_SIZE_MASK));
}

/* Bytes the caller asked for when obj (meta word m) was allocated. */
static inline size_t meta_req(const struct kmem_cache *c, uint16_t m)
{
	return (c->flags & CACHE_KMALLOC) ? (m & OBJ_SIZE_MASK) : c->obj_size;
}

/* ---- Slab lists (cache lock held) ---- */

static void slist_add(struct slab_list *l, struct slab *s)
{
	s->prev = NULL;
	s->next = l->head;
	if (l->head)
		l->head->prev = s;
	l->head = s;
	l->count++;
}

static void slist_del(struct slab_list *l, struct slab *s)
{
	if (s->prev)
		s->prev->next = s->next;
	else
		l->head = s->next;
	if (s->next)
		s->next->prev = s->prev;
	s->prev = s->next = NULL;
	l->count--;
}

/* ---- Slabs ---- */

/* Objects of the given stride and alignment that fit a slab of bytes. */
static size_t slab_capacity(size_t bytes, size_t stride, size_t align, size_t *first_off)
{
	const size_t hdr = sizeof(struct slab);
	if (bytes < hdr + sizeof(uint16_t) + stride)
		return 0;
	size_t n = (bytes - hdr) / (stride + sizeof(uint16_t));
	while (n > 0 && ALIGN_UP(hdr + n * sizeof(uint16_t), align) + n * stride > bytes)
		n--;
	if (n > UINT16_MAX)
		n = UINT16_MAX;
	*first_off = ALIGN_UP(hdr + n * sizeof(uint16_t), align);
	return n;
}

/* A new slab with every object free. Called without the cache lock. */
static struct slab *slab_create(struct kmem_cache *c)
{
	paddr_t pa = c->slab_frames == 1 ? pmm_alloc() : pmm_alloc_contig(c->slab_frames, c->slab_frames, 0);
	if (!pa)
		return NULL;
	struct slab *s = phys_to_virt(pa);
	s->magic = SLAB_MAGIC;
	s->nobjs = (uint16_t)c->objs_per_slab;
	s->inuse = 0;
	s->self = s;
	s->cache = c;
	s->prev = s->next = NULL;

	bool poison = debug_on();
	if (poison)
		memset(slab_obj(c, s, 0), HEAP_POISON, c->objs_per_slab * c->stride);
	/* Chain so that object 0 is handed out first. */
	uintptr_t next = 0;
	for (size_t i = c->objs_per_slab; i-- > 0;) {
		char *obj = slab_obj(c, s, i);
		*(uintptr_t *)obj = link_encode(obj, next);
		s->meta[i] = meta_make(poison ? OBJ_POISONED : OBJ_FREE, 0);
		next = (uintptr_t)obj;
	}
	s->freelist = link_encode(&s->freelist, next);
	stat_add(&stat_frames, c->slab_frames);
	return s;
}

/* Give an empty slab, already off every list, back to the pmm. Called
 * without the cache lock. */
static void slab_release(struct kmem_cache *c, struct slab *s)
{
	assert(s->inuse == 0);
	s->magic = SLAB_DEAD;
	s->self = NULL;
	pmm_free_contig(virt_to_phys(s), c->slab_frames);
	stat_sub(&stat_frames, c->slab_frames);
}

/* Decode a link read from at and check that it names a free object of s (or
 * is the end of the chain). Panics otherwise: only a write to freed memory
 * or a heap bug changes a link. */
static char *link_check(struct kmem_cache *c, struct slab *s, const void *at, uintptr_t raw)
{
	uintptr_t next = link_encode(at, raw);
	if (next == 0)
		return NULL;
	size_t i = slab_index(c, s, next);
	if (i == SIZE_MAX || (meta_state(s->meta[i]) != OBJ_FREE && meta_state(s->meta[i]) != OBJ_POISONED))
		panic("heap: cache %s: free list of slab %p corrupted at %p "
		      "(write after free?)",
		      c->name, (void *)s, at);
	return (char *)next;
}

/* Report the first byte of [p, p+n) that is not val, if any. */
static size_t find_not(const uint8_t *p, size_t n, uint8_t val)
{
	size_t i = 0;
	uint64_t pat = 0x0101010101010101ull * val;
	for (; i + 8 <= n; i += 8) {
		uint64_t v;
		__builtin_memcpy(&v, p + i, sizeof(v)); /* inlined even with -fno-builtin */
		if (v != pat)
			break;
	}
	for (; i < n; i++)
		if (p[i] != val)
			return i;
	return SIZE_MAX;
}

/* Take a free object of s (which has one) and mark it allocated. */
static void *slab_take_locked(struct kmem_cache *c, struct slab *s, size_t req)
{
	assert(spin_held(&c->lock));
	char *obj = link_check(c, s, &s->freelist, s->freelist);
	if (!obj)
		panic("heap: cache %s: slab %p has %u of %u objects in use but an empty free list", c->name,
		      (void *)s, s->inuse, s->nobjs);
	size_t i = slab_index(c, s, (uintptr_t)obj);
	uintptr_t link = *(uintptr_t *)obj;
	bool debug = debug_on();

	/* A free object's link word is the only byte not poisoned. */
	if (meta_state(s->meta[i]) == OBJ_POISONED && debug) {
		size_t bad =
		    find_not((uint8_t *)obj + sizeof(uintptr_t), c->stride - sizeof(uintptr_t), HEAP_POISON);
		if (bad != SIZE_MAX)
			panic("heap: cache %s: write after free to object %p at offset %zu "
			      "(byte 0x%x)",
			      c->name, (void *)obj, bad + sizeof(uintptr_t),
			      ((uint8_t *)obj)[bad + sizeof(uintptr_t)]);
	}
	char *next = link_check(c, s, obj, link);

	/* --- checked; now change state --- */
	s->freelist = link_encode(&s->freelist, (uintptr_t)next);
	if (debug) {
		memset(obj, HEAP_POISON, sizeof(uintptr_t));
		memset(obj + req, HEAP_REDZONE, c->stride - req);
	}
	s->meta[i] = meta_make(debug ? OBJ_ALLOC_RZ : OBJ_ALLOC, req);
	if (s->inuse++ == 0) {
		slist_del(&c->empty, s);
		slist_add(s->nobjs == 1 ? &c->full : &c->partial, s);
	} else if (s->inuse == s->nobjs) {
		slist_del(&c->partial, s);
		slist_add(&c->full, s);
	}
	c->objs_in_use++;
	return obj;
}

/* ---- Caches ---- */

static void cache_check(const struct kmem_cache *c, const char *op)
{
	if (!c || c->magic != CACHE_MAGIC)
		panic("heap: %s on %p, which is not a live cache", op, (const void *)c);
}

/* Fill in a cache's geometry. kmalloc caches keep to one frame per slab;
 * others take the smallest slab (up to HEAP_MAX_SLAB_FRAMES) that wastes at
 * most an eighth of itself, else the least wasteful. False if an object
 * cannot fit even the largest slab. */
static bool cache_setup(struct kmem_cache *c, const char *name, size_t size, size_t align, uint32_t flags)
{
	if (align < sizeof(uintptr_t))
		align = sizeof(uintptr_t);
	size_t stride = ALIGN_UP(size, align);

	memset(c, 0, sizeof(*c));
	size_t len = strnlen(name, CACHE_NAME_MAX - 1);
	memcpy(c->name, name, len);
	c->name[len] = '\0';
	c->flags = flags;
	c->obj_size = size;
	c->align = align;
	c->stride = stride;
	c->lock = (spinlock_t)SPINLOCK_INIT;

	uint32_t max_frames = (flags & CACHE_KMALLOC) ? 1 : HEAP_MAX_SLAB_FRAMES;
	size_t best_used = 0;
	for (uint32_t f = 1; f <= max_frames; f *= 2) {
		size_t bytes = f * PAGE_SIZE, off;
		size_t n = slab_capacity(bytes, stride, align, &off);
		if (n == 0)
			continue;
		/* Compare fill ratios n*stride/bytes without dividing. */
		size_t used = n * stride * (HEAP_MAX_SLAB_FRAMES / f);
		if (used > best_used) {
			best_used = used;
			c->slab_frames = f;
			c->slab_bytes = bytes;
			c->objs_per_slab = (uint32_t)n;
			c->first_off = off;
		}
		if ((bytes - n * stride) * 8 <= bytes)
			break;
	}
	if (c->objs_per_slab == 0)
		return false;
	c->magic = CACHE_MAGIC;
	return true;
}

static void *cache_alloc(struct kmem_cache *c, size_t req)
{
	void *obj = NULL;
	unsigned long flags = spin_lock_irqsave(&c->lock);
	struct slab *s = c->partial.head ? c->partial.head : c->empty.head;
	if (!s) {
		/* Grow with the lock dropped: the pmm may take a while and
		 * other CPUs can keep freeing meanwhile. */
		spin_unlock_irqrestore(&c->lock, flags);
		struct slab *fresh = slab_create(c);
		flags = spin_lock_irqsave(&c->lock);
		if (!fresh)
			goto out;
		slist_add(&c->empty, fresh);
		s = c->partial.head ? c->partial.head : c->empty.head;
	}
	obj = slab_take_locked(c, s, req);
out:
	spin_unlock_irqrestore(&c->lock, flags);
	if (obj) {
		stat_add(&stat_bytes, req);
		stat_add(&stat_allocs, 1);
	}
	return obj;
}

/* Free obj, which the caller found in slab s of c (header checked). */
static void cache_free(struct kmem_cache *c, struct slab *s, void *obj, const char *op)
{
	struct slab *release = NULL;
	unsigned long flags = spin_lock_irqsave(&c->lock);

	size_t i = slab_index(c, s, (uintptr_t)obj);
	if (i == SIZE_MAX)
		panic("heap: %s(%p): not the start of an object in cache %s", op, obj, c->name);
	uint16_t m = s->meta[i];
	unsigned st = meta_state(m);
	if (st == OBJ_FREE || st == OBJ_POISONED)
		panic("heap: double free of %p in cache %s", obj, c->name);
	if (st != OBJ_ALLOC && st != OBJ_ALLOC_RZ)
		panic("heap: cache %s: object %p has a corrupt state word 0x%x", c->name, obj, m);
	size_t req = meta_req(c, m);
	if (st == OBJ_ALLOC_RZ) {
		size_t bad = find_not((uint8_t *)obj + req, c->stride - req, HEAP_REDZONE);
		if (bad != SIZE_MAX)
			panic("heap: cache %s: write past the end of %zu-byte object %p "
			      "(offset %zu)",
			      c->name, req, obj, req + bad);
	}

	/* --- checked; now change state --- */
	bool debug = debug_on();
	if (debug)
		memset(obj, HEAP_POISON, c->stride);
	s->meta[i] = meta_make(debug ? OBJ_POISONED : OBJ_FREE, 0);
	uintptr_t head = link_encode(&s->freelist, s->freelist);
	*(uintptr_t *)obj = link_encode(obj, head);
	s->freelist = link_encode(&s->freelist, (uintptr_t)obj);

	if (s->inuse-- == s->nobjs)
		slist_del(&c->full, s);
	else
		slist_del(&c->partial, s);
	if (s->inuse > 0) {
		slist_add(&c->partial, s);
	} else if (c->empty.count < HEAP_EMPTY_KEEP) {
		slist_add(&c->empty, s);
	} else {
		release = s;
	}
	c->objs_in_use--;
	spin_unlock_irqrestore(&c->lock, flags);

	if (release)
		slab_release(c, release);
	stat_sub(&stat_bytes, req);
	stat_add(&stat_frees, 1);
}

struct kmem_cache *kmem_cache_create(const char *name, size_t size, size_t align)
{
	assert(heap_ready);
	assert(name != NULL);
	if (align == 0)
		align = 8;
	assert((align & (align - 1)) == 0);
	if (size == 0 || align > PAGE_SIZE || size > HEAP_MAX_SLAB_FRAMES * PAGE_SIZE)
		return NULL;

	struct kmem_cache *c = cache_alloc(&cache_cache, sizeof(*c));
	if (!c)
		return NULL;
	if (!cache_setup(c, name, size, align, 0)) {
		c->magic = 0;
		kmem_cache_free(&cache_cache, c);
		return NULL;
	}
	return c;
}

void kmem_cache_destroy(struct kmem_cache *c)
{
	cache_check(c, "kmem_cache_destroy");
	assert(!(c->flags & CACHE_STATIC));

	unsigned long flags = spin_lock_irqsave(&c->lock);
	if (c->objs_in_use != 0)
		panic("heap: kmem_cache_destroy(%s): %zu objects still allocated", c->name, c->objs_in_use);
	/* No object in use means every slab is on the empty list. */
	assert(c->partial.head == NULL && c->full.head == NULL);
	struct slab *s = c->empty.head;
	c->empty.head = NULL;
	c->empty.count = 0;
	c->magic = 0;
	spin_unlock_irqrestore(&c->lock, flags);

	while (s) {
		struct slab *next = s->next;
		slab_release(c, s);
		s = next;
	}
	kmem_cache_free(&cache_cache, c);
}

void *kmem_cache_alloc(struct kmem_cache *c)
{
	cache_check(c, "kmem_cache_alloc");
	return cache_alloc(c, c->obj_size);
}

void kmem_cache_free(struct kmem_cache *c, void *obj)
{
	if (!obj)
		return;
	/* The cache of caches frees a cache whose magic is already gone. */
	if (c != &cache_cache)
		cache_check(c, "kmem_cache_free");
	struct slab *s = slab_base(obj, c->slab_bytes);
	if (!s || s->magic != SLAB_MAGIC || s->self != s || s->cache != c)
		panic("heap: kmem_cache_free(%s, %p): not an object of this cache", c->name, obj);
	cache_free(c, s, obj, "kmem_cache_free");
}

size_t kmem_cache_shrink(struct kmem_cache *c)
{
	cache_check(c, "kmem_cache_shrink");
	unsigned long flags = spin_lock_irqsave(&c->lock);
	struct slab *s = c->empty.head;
	c->empty.head = NULL;
	c->empty.count = 0;
	spin_unlock_irqrestore(&c->lock, flags);

	size_t frames = 0;
	while (s) {
		struct slab *next = s->next;
		slab_release(c, s);
		frames += c->slab_frames;
		s = next;
	}
	return frames;
}

/* ---- kmalloc ---- */

static void *large_alloc(size_t size)
{
	if (size > HEAP_LARGE_MAX)
		return NULL;
	size_t frames = (size + sizeof(struct large_hdr) + PAGE_SIZE - 1) / PAGE_SIZE;
	paddr_t pa = pmm_alloc_contig(frames, 1, 0);
	if (!pa)
		return NULL;
	struct large_hdr *h = phys_to_virt(pa);
	h->magic = LARGE_MAGIC;
	h->frames = (uint32_t)frames;
	h->size = size;
	stat_add(&stat_frames, frames);
	stat_add(&stat_bytes, size);
	stat_add(&stat_allocs, 1);
	return h + 1;
}

static void large_free(struct large_hdr *h)
{
	size_t frames = (h->size + sizeof(*h) + PAGE_SIZE - 1) / PAGE_SIZE;
	if (h->size <= KMALLOC_MAX || h->size > HEAP_LARGE_MAX || h->frames != frames)
		panic("heap: kfree(%p): large block header corrupt (size %llu, %u frames)", (void *)(h + 1),
		      (unsigned long long)h->size, h->frames);
	size_t size = h->size;
	h->magic = LARGE_DEAD;
	pmm_free_contig(virt_to_phys(h), frames);
	stat_sub(&stat_frames, frames);
	stat_sub(&stat_bytes, size);
	stat_add(&stat_frees, 1);
}

static unsigned kmalloc_class(size_t size)
{
	if (size <= KMALLOC_MIN)
		return 0;
	/* ceil(log2(size)) - log2(KMALLOC_MIN) */
	return (unsigned)(64 - __builtin_clzll((unsigned long long)size - 1)) - 4;
}

void *kmalloc(size_t size)
{
	assert(heap_ready);
	if (size == 0)
		return NULL;
	if (size > KMALLOC_MAX)
		return large_alloc(size);
	return cache_alloc(kmalloc_caches[kmalloc_class(size)], size);
}

void *kzalloc(size_t size)
{
	void *p = kmalloc(size);
	if (p)
		memset(p, 0, size);
	return p;
}

void kfree(void *p)
{
	if (!p)
		return;
	/* kmalloc memory starts in a frame whose first word says what it is:
	 * a one-frame kmalloc slab or a large block. */
	struct slab *s = slab_base(p, PAGE_SIZE);
	if (!s)
		panic("heap: kfree(%p): not heap memory", p);
	uint32_t magic = s->magic;
	if ((magic == LARGE_MAGIC || magic == LARGE_DEAD) &&
	    (uintptr_t)p == (uintptr_t)s + sizeof(struct large_hdr)) {
		if (magic == LARGE_DEAD)
			panic("heap: double free of large block %p", p);
		large_free((struct large_hdr *)s);
		return;
	}
	if (magic != SLAB_MAGIC || s->self != s)
		panic("heap: kfree(%p): not a pointer kmalloc returned", p);
	struct kmem_cache *c = s->cache;
	if (!(c->flags & CACHE_KMALLOC))
		panic("heap: kfree(%p): object of cache %s, free it with kmem_cache_free", p, c->name);
	cache_free(c, s, p, "kfree");
}

/* ---- Setup and statistics ---- */

void heap_init(void)
{
	/* Forget any previous heap (host tests start over with fresh memory). */
	stat_bytes = stat_frames = stat_allocs = stat_frees = 0;
	if (!cache_setup(&cache_cache, "kmem_cache", sizeof(struct kmem_cache), 64, CACHE_STATIC))
		panic("heap: cannot lay out the cache of caches");
	heap_ready = true;

	for (unsigned i = 0; i < KMALLOC_NCLASSES; i++) {
		struct kmem_cache *c = cache_alloc(&cache_cache, sizeof(*c));
		if (!c || !cache_setup(c, kmalloc_names[i], (size_t)KMALLOC_MIN << i, KMALLOC_ALIGN,
				       CACHE_KMALLOC | CACHE_STATIC))
			panic("heap: cannot create %s", kmalloc_names[i]);
		kmalloc_caches[i] = c;
	}
}

void heap_set_debug(bool on)
{
	__atomic_store_n(&heap_debug, on, __ATOMIC_RELAXED);
}

void heap_get_stats(struct heap_stats *out)
{
	out->bytes_in_use = __atomic_load_n(&stat_bytes, __ATOMIC_RELAXED);
	out->frames_in_use = __atomic_load_n(&stat_frames, __ATOMIC_RELAXED);
	out->allocs = __atomic_load_n(&stat_allocs, __ATOMIC_RELAXED);
	out->frees = __atomic_load_n(&stat_frees, __ATOMIC_RELAXED);
}
