/*
 * Kernel heap: slab caches of fixed-size objects, kmalloc() size classes on
 * top of them with per-CPU magazines in front, and whole-frame blocks from
 * the pmm for anything bigger than the largest class. For memory the kernel
 * itself uses; not for user memory or page tables (those take frames from
 * the pmm directly).
 *
 * Slab layout. A slab is slab_frames contiguous frames, aligned (physically)
 * to its own size, so an object's slab is found by rounding its physical
 * address down. It starts with struct slab, then one 16-bit meta word per
 * object (state in the top bits, requested size below), then the objects:
 *
 *	| struct slab | meta[] | pad | obj 0 | obj 1 | ... | obj n-1 | waste |
 *
 * kmalloc caches use one-frame slabs of power-of-two slots aligned to their
 * size, and give every slot of the frame a meta word, the slots under the
 * header and meta words included (state OBJ_NONE): an object's meta word is
 * meta[offset in frame >> log2(size)], which kfree() finds with a mask and a
 * shift. Caches made with kmem_cache_create() may use up to
 * HEAP_MAX_SLAB_FRAMES, have one meta word per object, and are freed only
 * through kmem_cache_free(), which knows the slab size.
 *
 * Free objects in a slab are chained through their first word. The link is
 * stored XORed with its own address and a key, so a stray write there (a
 * zero, a small integer) decodes to a pointer that fails validation rather
 * than sending the allocator into arbitrary memory.
 *
 * Magazines (debug off). Each CPU has, per kmalloc class, a stack of up to
 * HEAP_MAG_SIZE free objects (struct heap_mag), used with interrupts off on
 * that CPU and no lock. kmalloc() pops one, kfree() pushes one; an empty
 * magazine is refilled and a full one flushed MAG_BATCH objects at a time
 * under the cache lock. To its slab, an object in a magazine is allocated
 * (state OBJ_CACHED); to heap users it is free. A CPU's magazines and
 * counters (struct heap_cpu, one frame) are made the first time it needs
 * them; struct cpu's heap field points at them while they are in use and is
 * NULL otherwise, which is all the fast paths test. Debug mode clears every
 * CPU's pointer and empties the magazines: every object then goes through
 * the checks below.
 *
 * Always-on checks (they cost a few instructions): kfree() reads a header
 * only for pointers inside the pmm's span, which the direct map covers (a
 * pointer into a hole of the span, e.g. the PCI window of a big machine,
 * gets its page's first words read once before the panic); the header must
 * be a live slab's (magic, self pointer); the pointer must start a slot whose
 * meta word says allocated. The free itself is a compare-and-exchange of the
 * meta word from allocated to cached or free, so of two frees of one object,
 * even racing on two CPUs, exactly one succeeds and the other panics.
 *
 * Debug mode adds: freed objects are filled with HEAP_POISON and checked
 * when handed out again; allocated objects get a red zone (HEAP_REDZONE)
 * from the requested size to the end of the slot, checked on free. Each
 * object records whether it was poisoned / red-zoned, so switching debug at
 * run time never reports a false corruption.
 *
 * Large blocks (> KMALLOC_MAX) are frames from pmm_alloc_contig() with a
 * 16-byte header (struct large_hdr) in front of the returned pointer.
 *
 * Locking: one spinlock per cache (IRQ-saving, since kmalloc may be called
 * from interrupt handlers); the pmm's lock nests inside it only for a moment
 * (slab frames are taken and returned with the cache lock dropped). A CPU
 * spinning on a lock serves cross-CPU calls (spinlock.c), and a drain
 * (heap_trim) is one: magazine code re-reads a magazine's count after every
 * lock it takes. The statistics are atomic counters plus per-CPU ones (struct
 * heap_cpu), read without any lock.
 */
#include <kern/assert.h>
#include <kern/cpu.h>
#include <kern/heap.h>
#include <kern/log.h>
#include <kern/pmm.h>
#include <kern/spinlock.h>
#include <kern/string.h>
#include <kern/types.h>
#include <kern/vm.h>
#include <arch/apic.h> /* smp_call_all */
#include <arch/cpu.h>  /* irq_save, irq_restore */

extern bool smp_percpu_ready; /* smp.c: this_cpu() works on every CPU that runs */

#define KMALLOC_MIN 16
#define KMALLOC_MIN_SHIFT 4
#define KMALLOC_MAX 2048
#define KMALLOC_NCLASSES 8 /* 16, 32, ..., 2048 */
#define KMALLOC_ALIGN 16
#define HEAP_MAX_SLAB_FRAMES 16u    /* biggest slab, 64 KiB */
#define HEAP_LARGE_MAX (1ull << 40) /* sanity bound on one kmalloc */
#define HEAP_EMPTY_KEEP 1	    /* empty slabs a cache keeps for reuse */
#define HEAP_REDZONE 0xbb
#define HEAP_MAG_SIZE 16u	      /* objects a magazine holds */
#define MAG_BATCH (HEAP_MAG_SIZE / 2) /* objects one refill or flush moves */

#define SLAB_MAGIC 0x534c4142u	       /* "SLAB": a kmem_cache_create() cache's slab */
#define KSLAB_MAGIC 0x4b4c4142u	       /* "KLAB": a kmalloc class's slab */
#define SLAB_DEAD 0x64656164u	       /* slab given back to the pmm */
#define LARGE_MAGIC 0x4c415247u	       /* "LARG" */
#define LARGE_DEAD 0x6c617267u	       /* large block freed */
#define CACHE_MAGIC 0x43414348u	       /* "CACH" */
#define LINK_KEY 0x9e3779b97f4a7c15ull /* any odd constant; mixes link words */

static_assert(KMALLOC_MIN << (KMALLOC_NCLASSES - 1) == KMALLOC_MAX, "size classes");
static_assert(KMALLOC_MIN == 1 << KMALLOC_MIN_SHIFT, "size classes");

/* Per-object meta word: state in the top 3 bits, requested size below. */
#define OBJ_STATE_SHIFT 13
#define OBJ_SIZE_MASK ((1u << OBJ_STATE_SHIFT) - 1)
enum obj_state {
	OBJ_NONE = 0,	  /* kmalloc slabs: a slot under the header, never an object */
	OBJ_FREE = 1,	  /* free, contents not poisoned (freed with debug off) */
	OBJ_POISONED = 2, /* free, filled with HEAP_POISON after the link word */
	OBJ_CACHED = 3,	  /* in a CPU's magazine: free to users, allocated to its slab */
	OBJ_ALLOC_RZ = 6, /* allocated, HEAP_REDZONE from requested size to stride */
	OBJ_ALLOC = 7,	  /* allocated, no red zone; the highest state, see META_ALLOC */
};
/* A meta word is at least this exactly when its state is OBJ_ALLOC. */
#define META_ALLOC ((uint16_t)(OBJ_ALLOC << OBJ_STATE_SHIFT))
static_assert(KMALLOC_MAX <= OBJ_SIZE_MASK, "kmalloc sizes must fit the meta word");

#define CACHE_KMALLOC 1u /* a kmalloc size class: kfree() may free its objects */
#define CACHE_STATIC 2u	 /* made by heap_init: never destroyed */
#define CACHE_NAME_MAX 24

struct slab {
	/* Set when the slab is made, then read-only until it is released: */
	uint32_t magic; /* KSLAB_MAGIC or SLAB_MAGIC */
	uint16_t nobjs;
	/* Protected by cache->lock: */
	uint16_t inuse; /* objects not on the free list (magazines' included) */
	/* Read-only: */
	struct slab *self; /* == this; tells a header from object data */
	struct kmem_cache *cache;
	/* kmalloc slabs (what kfree's fast path needs, on the first line): */
	uint8_t kshift; /* log2 of the slot size */
	uint8_t pad0;
	uint16_t kmask; /* slot size - 1 */
	uint16_t kmag;	/* offset in struct heap_cpu of the class's magazine */
	uint16_t pad1;
	/* Protected by cache->lock: */
	struct slab *prev, *next; /* on one of the cache's three lists */
	uintptr_t freelist;	  /* encoded link to the first free object, see link_encode */
	uint16_t meta[];	  /* see the top of the file */
};
static_assert(sizeof(struct slab) == 56, "slab header layout");

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
	uint32_t meta_skip; /* meta word of object i: meta[i + meta_skip] */
	uint8_t kclass;	    /* kmalloc caches: index in kmalloc_caches[] */
	uint8_t kshift;	    /* kmalloc caches: log2(stride) */

	spinlock_t lock;
	/* Protected by lock: */
	struct slab_list partial; /* 0 < inuse < nobjs */
	struct slab_list full;	  /* inuse == nobjs */
	struct slab_list empty;	  /* inuse == 0, at most HEAP_EMPTY_KEEP (plus races) */
	size_t objs_in_use;	  /* magazines' objects included */
};

/* One CPU's stack of free objects of one kmalloc class. */
struct heap_mag {
	uint32_t count; /* entries in use, [0, count) */
	void *obj[HEAP_MAG_SIZE];
	uint16_t *meta[HEAP_MAG_SIZE]; /* obj[i]'s meta word */
};

/* A CPU's part of the heap: only that CPU changes it, with interrupts off.
 * Other CPUs read the counters and the magazines' counts (heap_get_stats),
 * and empty the magazines by running code on that CPU (mags_drain_all). */
struct heap_cpu {
	struct heap_mag mag[KMALLOC_NCLASSES];
	/* Fast-path statistics, added into heap_get_stats(). Written with one
	 * add to memory each; read by other CPUs with relaxed atomic loads.
	 * bytes wraps when more is freed on this CPU than allocated; only the
	 * sum over CPUs means anything. */
	size_t allocs, frees, bytes;
};
static_assert(sizeof(struct heap_cpu) <= PAGE_SIZE, "a CPU's magazines take one frame");

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
/* For a request of n bytes (1 <= n <= KMALLOC_MAX), entry (n - 1) /
 * KMALLOC_MIN: the offset in struct heap_cpu of the magazine of n's size
 * class (so kmalloc finds it with one add). Filled by heap_init. */
static uint16_t kmalloc_mag_off[KMALLOC_MAX / KMALLOC_MIN];
#define MAG_OFF(cls) (offsetof(struct heap_cpu, mag) + (cls) * sizeof(struct heap_mag))

/* Each CPU's heap_cpu, by CPU id, once made; kept for good. Written once by
 * that CPU (release), read by any (acquire). */
static struct heap_cpu *heap_blocks[MAX_CPUS];
static bool heap_ready;

/* Where kfree() may read a header: the direct-map addresses of the pmm's
 * span (pmm_span), as [span_lo, span_lo + span_len). Set by heap_init. */
static uintptr_t span_lo;
static size_t span_len;

/*
 * Mode. heap_debug, and every struct cpu's heap pointer, change under
 * mode_lock: a pointer is set (by its own CPU) only while debug is off, and
 * heap_set_debug(true) clears them all. The fast paths read their pointer
 * without the lock: a CPU that read it just before it was cleared finishes
 * that one call on its magazines, which is not wrong, only unchecked.
 */
#ifdef HEAP_DEBUG
static bool heap_debug = true;
#else
static bool heap_debug = false;
#endif
static spinlock_t mode_lock = SPINLOCK_INIT;

/* Atomics (relaxed): each counter is exact, the set is not a snapshot. The
 * fast paths count in struct heap_cpu instead. */
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

/* The magazine at offset moff (MAG_OFF) of hc. */
static inline struct heap_mag *cpu_mag(struct heap_cpu *hc, size_t moff)
{
	return (struct heap_mag *)((char *)hc + moff);
}

/* ---- Addresses ---- */

/* Physical address of any pointer, without trusting it to be in the direct
 * map (integer arithmetic only; the result is then checked). */
static inline paddr_t heap_phys(const void *p)
{
	return (paddr_t)((uintptr_t)p - (uintptr_t)phys_to_virt(0));
}

/* The slab that would hold p if p were an object of a cache with slabs of
 * the given size, or NULL if that memory is outside the pmm's span. */
static struct slab *slab_base(const void *p, size_t slab_bytes)
{
	if ((uintptr_t)p - span_lo >= span_len)
		return NULL;
	paddr_t pa = heap_phys(p);
	paddr_t base = ALIGN_DOWN(pa, (paddr_t)slab_bytes);
	if (heap_phys((void *)span_lo) > base)
		return NULL;
	return phys_to_virt(base);
}

static inline char *slab_obj(const struct kmem_cache *c, struct slab *s, size_t i)
{
	return (char *)s + c->first_off + i * c->stride;
}

static inline uint16_t *slab_meta(const struct kmem_cache *c, struct slab *s, size_t i)
{
	return &s->meta[i + c->meta_skip];
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

/* Meta words are read and written with atomics: kfree() changes an
 * allocated object's word with a compare-and-exchange and no lock, while
 * the cache lock's holder may be looking at it or its neighbours. */
static inline uint16_t meta_load(const uint16_t *mp)
{
	return __atomic_load_n(mp, __ATOMIC_RELAXED);
}

static inline void meta_store(uint16_t *mp, uint16_t m)
{
	__atomic_store_n(mp, m, __ATOMIC_RELAXED);
}

static inline bool meta_cas(uint16_t *mp, uint16_t old, uint16_t new)
{
	/* Not __atomic_compare_exchange_n: GCC turns its flag into a byte
	 * and tests that, three instructions more on kfree's fast path. */
	return __sync_val_compare_and_swap(mp, old, new) == old;
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

/* Objects of the given stride and alignment that fit a slab of bytes, with
 * one meta word each. */
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
	bool kmalloc_slab = c->flags & CACHE_KMALLOC;
	s->magic = kmalloc_slab ? KSLAB_MAGIC : SLAB_MAGIC;
	s->nobjs = (uint16_t)c->objs_per_slab;
	s->inuse = 0;
	s->self = s;
	s->cache = c;
	s->kshift = c->kshift;
	s->kmask = kmalloc_slab ? (uint16_t)(c->stride - 1) : 0;
	s->kmag = kmalloc_slab ? (uint16_t)MAG_OFF(c->kclass) : 0;
	s->pad0 = 0;
	s->pad1 = 0;
	s->prev = s->next = NULL;
	for (size_t k = 0; k < c->meta_skip; k++)
		s->meta[k] = meta_make(OBJ_NONE, 0);

	bool poison = debug_on();
	if (poison)
		memset(slab_obj(c, s, 0), HEAP_POISON, c->objs_per_slab * c->stride);
	/* Chain so that object 0 is handed out first. */
	uintptr_t next = 0;
	for (size_t i = c->objs_per_slab; i-- > 0;) {
		char *obj = slab_obj(c, s, i);
		*(uintptr_t *)obj = link_encode(obj, next);
		*slab_meta(c, s, i) = meta_make(poison ? OBJ_POISONED : OBJ_FREE, 0);
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

/* Give back a chain of empty slabs linked through next (see slab_put_locked). */
static void slab_release_chain(struct kmem_cache *c, struct slab *s)
{
	while (s) {
		struct slab *next = s->next;
		slab_release(c, s);
		s = next;
	}
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
	unsigned st = i == SIZE_MAX ? OBJ_NONE : meta_state(meta_load(slab_meta(c, s, i)));
	if (st != OBJ_FREE && st != OBJ_POISONED)
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

/* Take a free object of s (which has one) and give it the state OBJ_ALLOC,
 * OBJ_ALLOC_RZ (red zone from req on) or OBJ_CACHED (req 0). Its meta word
 * goes to *meta_out. */
static void *slab_take_locked(struct kmem_cache *c, struct slab *s, unsigned state, size_t req,
			      uint16_t **meta_out)
{
	assert(spin_held(&c->lock));
	char *obj = link_check(c, s, &s->freelist, s->freelist);
	if (!obj)
		panic("heap: cache %s: slab %p has %u of %u objects in use but an empty free list", c->name,
		      (void *)s, s->inuse, s->nobjs);
	uint16_t *mp = slab_meta(c, s, slab_index(c, s, (uintptr_t)obj));
	uintptr_t link = *(uintptr_t *)obj;

	/* A free object's link word is the only byte not poisoned. */
	if (meta_state(meta_load(mp)) == OBJ_POISONED && debug_on()) {
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
	if (state == OBJ_ALLOC_RZ) {
		memset(obj, HEAP_POISON, sizeof(uintptr_t));
		memset(obj + req, HEAP_REDZONE, c->stride - req);
	}
	meta_store(mp, meta_make(state, req));
	if (s->inuse++ == 0) {
		slist_del(&c->empty, s);
		slist_add(s->nobjs == 1 ? &c->full : &c->partial, s);
	} else if (s->inuse == s->nobjs) {
		slist_del(&c->partial, s);
		slist_add(&c->full, s);
	}
	c->objs_in_use++;
	*meta_out = mp;
	return obj;
}

/* Put obj (meta word *mp, which the caller has already changed to
 * OBJ_FREE or OBJ_POISONED, poisoning the object for the latter) back on
 * the free list of its slab s. Returns s if it is now an empty slab the
 * cache does not keep (off every list; the caller releases it once the lock
 * is dropped), else NULL. */
static struct slab *slab_put_locked(struct kmem_cache *c, struct slab *s, void *obj)
{
	assert(spin_held(&c->lock));
	uintptr_t head = link_encode(&s->freelist, s->freelist);
	*(uintptr_t *)obj = link_encode(obj, head);
	s->freelist = link_encode(&s->freelist, (uintptr_t)obj);

	if (s->inuse-- == s->nobjs)
		slist_del(&c->full, s);
	else
		slist_del(&c->partial, s);
	c->objs_in_use--;
	if (s->inuse > 0)
		slist_add(&c->partial, s);
	else if (c->empty.count < HEAP_EMPTY_KEEP)
		slist_add(&c->empty, s);
	else
		return s;
	return NULL;
}

/* ---- Caches ---- */

static void cache_check(const struct kmem_cache *c, const char *op)
{
	if (!c || c->magic != CACHE_MAGIC)
		panic("heap: %s on %p, which is not a live cache", op, (const void *)c);
}

/* A kmalloc class of size bytes (a power of two): one-frame slabs of
 * size-aligned slots, a meta word for every slot of the frame. */
static void cache_setup_kmalloc(struct kmem_cache *c, size_t size)
{
	const size_t slots = PAGE_SIZE / size;
	const size_t skip = (sizeof(struct slab) + slots * sizeof(uint16_t) + size - 1) / size;
	c->align = size;
	c->stride = size;
	c->slab_frames = 1;
	c->slab_bytes = PAGE_SIZE;
	c->objs_per_slab = (uint32_t)(slots - skip);
	c->meta_skip = (uint32_t)skip;
	c->first_off = skip * size;
	c->kshift = (uint8_t)__builtin_ctzl(size);
}

/* Fill in a cache's geometry. kmalloc caches: see cache_setup_kmalloc.
 * Others take the smallest slab (up to HEAP_MAX_SLAB_FRAMES) that wastes at
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

	if (flags & CACHE_KMALLOC) {
		cache_setup_kmalloc(c, size);
		c->magic = CACHE_MAGIC;
		return true;
	}
	size_t best_used = 0;
	for (uint32_t f = 1; f <= HEAP_MAX_SLAB_FRAMES; f *= 2) {
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

/* The locked path: one object of c for a caller that asked for req bytes. */
static void *cache_alloc(struct kmem_cache *c, size_t req)
{
	void *obj = NULL;
	uint16_t *mp;
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
	obj = slab_take_locked(c, s, debug_on() ? OBJ_ALLOC_RZ : OBJ_ALLOC, req, &mp);
out:
	spin_unlock_irqrestore(&c->lock, flags);
	if (obj) {
		stat_add(&stat_bytes, req);
		stat_add(&stat_allocs, 1);
	}
	return obj;
}

/* The locked path: free obj, which the caller found in slab s of c (header
 * checked). Every check, whatever the mode. */
static void cache_free(struct kmem_cache *c, struct slab *s, void *obj, const char *op)
{
	size_t i = slab_index(c, s, (uintptr_t)obj);
	if (i == SIZE_MAX)
		panic("heap: %s(%p): not the start of an object in cache %s", op, obj, c->name);
	uint16_t *mp = slab_meta(c, s, i);
	uint16_t m = meta_load(mp);
	unsigned st = meta_state(m);
	if (st == OBJ_FREE || st == OBJ_POISONED || st == OBJ_CACHED)
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

	/* Claim the object: of two racing frees, one wins here. */
	bool debug = debug_on();
	if (!meta_cas(mp, m, meta_make(debug ? OBJ_POISONED : OBJ_FREE, 0)))
		panic("heap: double free of %p in cache %s (freed meanwhile)", obj, c->name);

	/* --- checked; now change state --- */
	if (debug)
		memset(obj, HEAP_POISON, c->stride);
	unsigned long flags = spin_lock_irqsave(&c->lock);
	struct slab *release = slab_put_locked(c, s, obj);
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

	slab_release_chain(c, s);
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

/* Empty slabs of c go back to the pmm; returns frames released. */
static size_t cache_shrink(struct kmem_cache *c)
{
	unsigned long flags = spin_lock_irqsave(&c->lock);
	struct slab *s = c->empty.head;
	c->empty.head = NULL;
	c->empty.count = 0;
	spin_unlock_irqrestore(&c->lock, flags);

	size_t frames = 0;
	for (struct slab *t = s; t; t = t->next)
		frames += c->slab_frames;
	slab_release_chain(c, s);
	return frames;
}

/* ---- Magazines ---- */

/* This CPU's heap_cpu if its magazines are in use, turning them on (and
 * making its heap_cpu) the first time debug is found off; NULL in debug
 * mode, before per-CPU data exists, and if there is no frame for them.
 * Interrupts off. */
static struct heap_cpu *mags_this_cpu(void)
{
	struct heap_cpu *hc = this_cpu_heap();
	if (likely(hc))
		return hc;
	if (debug_on() || !__atomic_load_n(&smp_percpu_ready, __ATOMIC_ACQUIRE))
		return NULL;
	struct cpu *cpu = this_cpu();
	if (!heap_blocks[cpu->id]) {
		paddr_t pa = pmm_alloc();
		if (!pa)
			return NULL;
		memset(phys_to_virt(pa), 0, PAGE_SIZE);
		stat_add(&stat_frames, 1);
		__atomic_store_n(&heap_blocks[cpu->id], (struct heap_cpu *)phys_to_virt(pa),
				 __ATOMIC_RELEASE);
	}
	unsigned long f = spin_lock_irqsave(&mode_lock);
	if (!heap_debug)
		__atomic_store_n(&cpu->heap, heap_blocks[cpu->id], __ATOMIC_RELAXED);
	spin_unlock_irqrestore(&mode_lock, f);
	return this_cpu_heap();
}

/*
 * Return the oldest min(n, count) objects of magazine m (this CPU's, class
 * of c) to their slabs; the newest, likeliest still in the cache, stay.
 * Interrupts off. The count is read only once the lock is held: while this
 * CPU spun for it, it may have served a drain (see the top of the file).
 */
static void mag_flush(struct kmem_cache *c, struct heap_mag *m, uint32_t n)
{
	struct slab *release = NULL;
	bool debug = debug_on();
	unsigned long flags = spin_lock_irqsave(&c->lock);
	n = MIN(n, m->count);
	for (uint32_t k = 0; k < n; k++) {
		char *obj = m->obj[k];
		uint16_t *mp = m->meta[k];
		struct slab *s = (struct slab *)ALIGN_DOWN((uintptr_t)obj, PAGE_SIZE);
		uint16_t st = meta_load(mp);
		if (meta_state(st) != OBJ_CACHED)
			panic("heap: cache %s: object %p in a magazine has state word 0x%x", c->name,
			      (void *)obj, st);
		/* A flush while debug is on (heap_set_debug draining) poisons, so
		 * these objects are checked from then on too. */
		if (debug)
			memset(obj, HEAP_POISON, c->stride);
		meta_store(mp, meta_make(debug ? OBJ_POISONED : OBJ_FREE, 0));
		struct slab *r = slab_put_locked(c, s, obj);
		if (r) {
			r->next = release;
			release = r;
		}
	}
	m->count -= n;
	memmove(m->obj, m->obj + n, m->count * sizeof(m->obj[0]));
	memmove(m->meta, m->meta + n, m->count * sizeof(m->meta[0]));
	spin_unlock_irqrestore(&c->lock, flags);
	slab_release_chain(c, release);
}

/* Fill magazine m (this CPU's, class of c) up to MAG_BATCH objects, growing
 * the cache if it has none free. Interrupts off. False if m is still empty
 * (out of memory). */
static bool mag_refill(struct kmem_cache *c, struct heap_mag *m)
{
	unsigned long flags = spin_lock_irqsave(&c->lock);
	while (m->count < MAG_BATCH) {
		struct slab *s = c->partial.head ? c->partial.head : c->empty.head;
		if (!s) {
			if (m->count > 0)
				break;
			spin_unlock_irqrestore(&c->lock, flags);
			struct slab *fresh = slab_create(c);
			flags = spin_lock_irqsave(&c->lock);
			if (!fresh)
				break;
			slist_add(&c->empty, fresh);
			continue;
		}
		m->obj[m->count] = slab_take_locked(c, s, OBJ_CACHED, 0, &m->meta[m->count]);
		m->count++;
	}
	bool any = m->count > 0;
	spin_unlock_irqrestore(&c->lock, flags);
	return any;
}

/* Empty this CPU's magazines of class cls (all classes if cls < 0) into
 * the slabs. Interrupts off. */
static void mags_drain_local(int cls)
{
	struct heap_cpu *hc = heap_blocks[this_cpu()->id];
	if (!hc)
		return;
	for (unsigned k = 0; k < KMALLOC_NCLASSES; k++)
		if (cls < 0 || (unsigned)cls == k)
			mag_flush(kmalloc_caches[k], &hc->mag[k], HEAP_MAG_SIZE);
}

static void mags_drain_call(void *arg)
{
	unsigned long f = irq_save();
	mags_drain_local((int)(intptr_t)arg);
	irq_restore(f);
}

/* Empty every CPU's magazines of class cls (all if cls < 0). */
static void mags_drain_all(int cls)
{
	/* Before per-CPU data, no magazine was ever used. */
	if (!heap_ready || !__atomic_load_n(&smp_percpu_ready, __ATOMIC_ACQUIRE))
		return;
	smp_call_all(mags_drain_call, (void *)(intptr_t)cls);
}

size_t kmem_cache_shrink(struct kmem_cache *c)
{
	cache_check(c, "kmem_cache_shrink");
	if (c->flags & CACHE_KMALLOC)
		mags_drain_all(c->kclass);
	return cache_shrink(c);
}

size_t heap_trim(void)
{
	mags_drain_all(-1);
	size_t frames = cache_shrink(&cache_cache);
	for (unsigned k = 0; k < KMALLOC_NCLASSES; k++)
		frames += cache_shrink(kmalloc_caches[k]);
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
	return (unsigned)(64 - __builtin_clzll((unsigned long long)size - 1)) - KMALLOC_MIN_SHIFT;
}

/* Everything kmalloc's fast path does not: size 0, large blocks, debug
 * mode, early boot, and an empty magazine. */
static __attribute__((noinline)) void *kmalloc_slow(size_t size)
{
	assert(heap_ready);
	if (size == 0)
		return NULL;
	if (size > KMALLOC_MAX)
		return large_alloc(size);
	struct kmem_cache *c = kmalloc_caches[kmalloc_class(size)];
	unsigned long f = irq_save();
	struct heap_cpu *hc = mags_this_cpu();
	if (!hc) {
		irq_restore(f);
		return cache_alloc(c, size);
	}
	void *obj = NULL;
	struct heap_mag *m = &hc->mag[c->kclass];
	if (m->count > 0 || mag_refill(c, m)) {
		uint32_t n = --m->count;
		meta_store(m->meta[n], meta_make(OBJ_ALLOC, size));
		hc->allocs++;
		hc->bytes += size;
		obj = m->obj[n];
	}
	irq_restore(f);
	return obj;
}

/* The fast path: pop an object from this CPU's magazine of its class. */
void *kmalloc(size_t size)
{
	if (unlikely(size - 1 >= KMALLOC_MAX))
		goto slow;
	size_t moff = kmalloc_mag_off[(size - 1) >> KMALLOC_MIN_SHIFT];
	unsigned long f = irq_save();
	struct heap_cpu *hc = this_cpu_heap();
	if (unlikely(!hc))
		goto slow_restore;
	struct heap_mag *m = cpu_mag(hc, moff);
	uint32_t n = m->count;
	if (unlikely(n == 0))
		goto slow_restore;
	hc->allocs++;
	hc->bytes += size;
	n--;
	m->count = n;
	meta_store(m->meta[n], meta_make(OBJ_ALLOC, size)); /* was OBJ_CACHED */
	void *obj = m->obj[n];
	irq_restore(f);
	return obj;
slow_restore:
	irq_restore(f);
slow:
	return kmalloc_slow(size);
}

void *kzalloc(size_t size)
{
	void *p = kmalloc(size);
	if (p)
		memset(p, 0, size);
	return p;
}

/* Everything kfree's fast path does not: NULL, large blocks, every
 * diagnosis, debug mode, early boot, red-zoned objects, a full magazine. */
static __attribute__((noinline)) void kfree_slow(void *p)
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
	if ((magic != KSLAB_MAGIC && magic != SLAB_MAGIC) || s->self != s)
		panic("heap: kfree(%p): not a pointer kmalloc returned", p);
	struct kmem_cache *c = s->cache;
	if (!(c->flags & CACHE_KMALLOC))
		panic("heap: kfree(%p): object of cache %s, free it with kmem_cache_free", p, c->name);

	size_t i = slab_index(c, s, (uintptr_t)p);
	uint16_t *mp = i == SIZE_MAX ? NULL : slab_meta(c, s, i);
	uint16_t m = mp ? meta_load(mp) : 0;
	if (meta_state(m) == OBJ_ALLOC) {
		unsigned long f = irq_save();
		struct heap_cpu *hc = mags_this_cpu();
		struct heap_mag *mag = hc ? &hc->mag[c->kclass] : NULL;
		if (mag && mag->count >= HEAP_MAG_SIZE)
			mag_flush(c, mag, MAG_BATCH);
		bool done = mag && mag->count < HEAP_MAG_SIZE && meta_cas(mp, m, meta_make(OBJ_CACHED, 0));
		if (done) {
			mag->obj[mag->count] = p;
			mag->meta[mag->count++] = mp;
			hc->frees++;
			hc->bytes -= m & OBJ_SIZE_MASK;
		}
		irq_restore(f);
		if (done)
			return;
	}
	cache_free(c, s, p, "kfree"); /* diagnoses whatever is wrong */
}

/*
 * The fast path: push p onto this CPU's magazine of its class. The checks
 * before reading anything: p inside the pmm's span (so its page is in the
 * direct map); the page starts with a live kmalloc slab header
 * (magic and self pointer); p starts a slot (mask); the slot's meta word
 * says OBJ_ALLOC; and the compare-and-exchange to OBJ_CACHED succeeds.
 */
void kfree(void *p)
{
	uintptr_t a = (uintptr_t)p;
	if (!p) /* common in cleanup paths; the range check would catch it later */
		return;
	if (likely(a - span_lo < span_len)) {
		struct slab *s = (struct slab *)ALIGN_DOWN(a, PAGE_SIZE);
		uintptr_t off = a & (PAGE_SIZE - 1);
		if (likely(s->magic == KSLAB_MAGIC && s->self == s && !(off & s->kmask))) {
			uint16_t *mp = &s->meta[off >> s->kshift];
			uint16_t m = meta_load(mp);
			size_t moff = s->kmag;
			if (unlikely(m < META_ALLOC))
				goto slow;
			unsigned long f = irq_save();
			struct heap_cpu *hc = this_cpu_heap();
			if (unlikely(!hc))
				goto slow_restore;
			struct heap_mag *mag = cpu_mag(hc, moff);
			uint32_t n = mag->count;
			if (unlikely(n >= HEAP_MAG_SIZE))
				goto slow_restore;
			if (!meta_cas(mp, m, meta_make(OBJ_CACHED, 0)))
				goto slow_restore;
			mag->obj[n] = p;
			mag->meta[n] = mp;
			mag->count++;
			hc->frees++;
			hc->bytes -= m & OBJ_SIZE_MASK;
			irq_restore(f);
			return;
		slow_restore:
			irq_restore(f);
		}
	}
slow:
	kfree_slow(p);
}

/* ---- Setup and statistics ---- */

void heap_init(void)
{
	/* Forget any previous heap (host tests start over with fresh memory). */
	stat_bytes = stat_frames = stat_allocs = stat_frees = 0;
	for (unsigned i = 0; i < MAX_CPUS; i++) {
		heap_blocks[i] = NULL;
		cpus[i].heap = NULL;
	}
	paddr_t lo, hi;
	pmm_span(&lo, &hi);
	span_lo = (uintptr_t)phys_to_virt(lo);
	span_len = hi - lo;
	for (size_t k = 0; k < ARRAY_SIZE(kmalloc_mag_off); k++)
		kmalloc_mag_off[k] = (uint16_t)MAG_OFF(kmalloc_class((k + 1) * KMALLOC_MIN));

	if (!cache_setup(&cache_cache, "kmem_cache", sizeof(struct kmem_cache), 64, CACHE_STATIC))
		panic("heap: cannot lay out the cache of caches");
	heap_ready = true;

	for (unsigned i = 0; i < KMALLOC_NCLASSES; i++) {
		struct kmem_cache *c = cache_alloc(&cache_cache, sizeof(*c));
		if (!c || !cache_setup(c, kmalloc_names[i], (size_t)KMALLOC_MIN << i, KMALLOC_ALIGN,
				       CACHE_KMALLOC | CACHE_STATIC))
			panic("heap: cannot create %s", kmalloc_names[i]);
		c->kclass = (uint8_t)i;
		kmalloc_caches[i] = c;
	}
}

bool heap_set_debug(bool on)
{
	unsigned long f = spin_lock_irqsave(&mode_lock);
	bool was = heap_debug;
	__atomic_store_n(&heap_debug, on, __ATOMIC_RELAXED);
	if (on) /* with debug off, each CPU turns its own on (mags_this_cpu) */
		for (unsigned i = 0; i < MAX_CPUS; i++)
			__atomic_store_n(&cpus[i].heap, NULL, __ATOMIC_RELAXED);
	spin_unlock_irqrestore(&mode_lock, f);
	if (on && !was)
		mags_drain_all(-1);
	return was;
}

void heap_get_stats(struct heap_stats *out)
{
	out->bytes_in_use = __atomic_load_n(&stat_bytes, __ATOMIC_RELAXED);
	out->frames_in_use = __atomic_load_n(&stat_frames, __ATOMIC_RELAXED);
	out->allocs = __atomic_load_n(&stat_allocs, __ATOMIC_RELAXED);
	out->frees = __atomic_load_n(&stat_frees, __ATOMIC_RELAXED);
	out->cached = 0;
	for (unsigned i = 0; i < MAX_CPUS; i++) {
		const struct heap_cpu *hc = __atomic_load_n(&heap_blocks[i], __ATOMIC_ACQUIRE);
		if (!hc)
			continue;
		out->bytes_in_use += __atomic_load_n(&hc->bytes, __ATOMIC_RELAXED);
		out->allocs += __atomic_load_n(&hc->allocs, __ATOMIC_RELAXED);
		out->frees += __atomic_load_n(&hc->frees, __ATOMIC_RELAXED);
		for (unsigned k = 0; k < KMALLOC_NCLASSES; k++)
			out->cached += __atomic_load_n(&hc->mag[k].count, __ATOMIC_RELAXED);
	}
}
