/*
 * Memory objects (kern/vmspace.h). Anonymous and copy-on-write objects keep
 * their own frames in a two-level page table of their own (a directory of
 * 512-entry leaves, each leaf one frame), filled on demand. Physical objects
 * name a fixed range and own nothing; slices and COW views hold a reference
 * to their source.
 */
#include <kern/assert.h>
#include <kern/heap.h>
#include <kern/log.h>
#include <kern/pmm.h>
#include <kern/string.h>
#include <kern/vm.h>
#include <kern/vmspace.h>
#include <alder/errno.h>
#include <alder/memory.h>
#include <arch/paging.h>

#define LEAF_ENTRIES 512

struct pagetab {
	paddr_t **dir;        /* dir[i]: leaf of LEAF_ENTRIES frames, or NULL */
	uint64_t ndir;
};

struct memobj {
	struct kobj obj;
	enum memobj_kind kind;
	uint64_t npages;
	spinlock_t lock;      /* protects own (the page table) */
	struct pagetab own;   /* ANON, COW: frames this object owns */
	struct memobj *src;   /* COW, SLICE */
	uint32_t depth;       /* 0 for ANON/PHYS; src->depth + 1 for derived objects */
	uint64_t src_first;   /* COW, SLICE: page index in src of our page 0 */
	paddr_t phys_base;    /* PHYS */
	bool uncached;        /* PHYS */
	/* Reverse map, under lock: mappings of this object, and objects
	 * derived from it (COW views, slices), which show its pages. */
	struct list views;
	struct list children;
	struct list child_link; /* on src->children, under src->lock */
	uint64_t gen;           /* atomic; see memobj_gen() */
};

static void memobj_destroy(struct kobj *o);
static void page_replaced(struct memobj *m, uint64_t idx);
static const struct kobj_ops memobj_ops = { "memory", memobj_destroy };

static bool pagetab_init(struct pagetab *t, uint64_t npages)
{
	t->ndir = (npages + LEAF_ENTRIES - 1) / LEAF_ENTRIES;
	t->dir = kzalloc(t->ndir * sizeof(*t->dir));
	return t->dir != NULL;
}

/* The slot for idx, allocating its leaf when create is set; NULL if absent. */
static paddr_t *pagetab_slot(struct pagetab *t, uint64_t idx, bool create)
{
	paddr_t **leaf = &t->dir[idx / LEAF_ENTRIES];
	if (!*leaf) {
		if (!create)
			return NULL;
		paddr_t p = pmm_alloc();
		if (!p)
			return NULL;
		memset(phys_to_virt(p), 0, PAGE_SIZE);
		*leaf = phys_to_virt(p);
	}
	return &(*leaf)[idx % LEAF_ENTRIES];
}

static void pagetab_free(struct pagetab *t)
{
	if (!t->dir)
		return;
	for (uint64_t i = 0; i < t->ndir; i++) {
		if (!t->dir[i])
			continue;
		for (int j = 0; j < LEAF_ENTRIES; j++)
			if (t->dir[i][j])
				pmm_free(t->dir[i][j]);
		pmm_free(virt_to_phys(t->dir[i]));
	}
	kfree(t->dir);
	t->dir = NULL;
}

static struct memobj *alloc_obj(enum memobj_kind kind, uint64_t npages)
{
	struct memobj *m = kzalloc(sizeof(*m));
	if (!m)
		return NULL;
	m->kind = kind;
	m->npages = npages;
	m->lock = (spinlock_t)SPINLOCK_INIT;
	list_init(&m->views);
	list_init(&m->children);
	list_init(&m->child_link);
	if ((kind == MEMOBJ_ANON || kind == MEMOBJ_COW) && !pagetab_init(&m->own, npages)) {
		kfree(m);
		return NULL;
	}
	kobj_init(&m->obj, ALDER_OBJ_MEMORY, &memobj_ops);
	return m;
}

struct memobj *memobj_create_anon(uint64_t size)
{
	if (size == 0 || size > ALDER_MEM_MAX)
		return NULL;
	return alloc_obj(MEMOBJ_ANON, ALIGN_UP(size, PAGE_SIZE) / PAGE_SIZE);
}

struct memobj *memobj_create_phys(paddr_t base, uint64_t size, bool uncached)
{
	if (size == 0 || (base | size) & (PAGE_SIZE - 1) || base + size < base)
		return NULL;
	struct memobj *m = alloc_obj(MEMOBJ_PHYS, size / PAGE_SIZE);
	if (m) {
		m->phys_base = base;
		m->uncached = uncached;
	}
	return m;
}

static struct memobj *derived(enum memobj_kind kind, struct memobj *src, uint64_t offset, uint64_t size)
{
	if (size == 0 || (offset | size) & (PAGE_SIZE - 1))
		return NULL;
	uint64_t first = offset / PAGE_SIZE, n = size / PAGE_SIZE;
	if (first > src->npages || n > src->npages - first)
		return NULL;
	if (kind == MEMOBJ_COW && src->kind == MEMOBJ_PHYS)
		return NULL; /* device memory cannot be copied on write */
	if (src->depth >= ALDER_MEM_MAX_DEPTH)
		return NULL; /* frame lookups and invalidation recurse along the chain */
	struct memobj *m = alloc_obj(kind, n);
	if (m) {
		m->src = (struct memobj *)kobj_get(&src->obj);
		m->depth = src->depth + 1;
		m->src_first = first;
		m->uncached = src->uncached;
		unsigned long f = spin_lock_irqsave(&src->lock);
		list_append(&src->children, &m->child_link);
		spin_unlock_irqrestore(&src->lock, f);
	}
	return m;
}

struct memobj *memobj_create_cow(struct memobj *src, uint64_t offset, uint64_t size)
{
	return derived(MEMOBJ_COW, src, offset, size);
}

struct memobj *memobj_create_slice(struct memobj *src, uint64_t offset, uint64_t size)
{
	return derived(MEMOBJ_SLICE, src, offset, size);
}

uint64_t memobj_size(const struct memobj *m) { return m->npages * PAGE_SIZE; }
uint32_t memobj_depth(const struct memobj *m) { return m->depth; }
bool memobj_uncached(const struct memobj *m) { return m->uncached; }

paddr_t memobj_frame(struct memobj *m, uint64_t idx, bool write, bool *shared)
{
	*shared = false;
	if (idx >= m->npages)
		return 0;
	switch (m->kind) {
	case MEMOBJ_PHYS:
		return m->phys_base + idx * PAGE_SIZE;
	case MEMOBJ_SLICE:
		return memobj_frame(m->src, m->src_first + idx, write, shared);
	case MEMOBJ_ANON: {
		unsigned long f = spin_lock_irqsave(&m->lock);
		paddr_t *slot = pagetab_slot(&m->own, idx, true);
		paddr_t p = 0;
		if (slot) {
			if (!*slot) {
				p = pmm_alloc();
				if (p) {
					memset(phys_to_virt(p), 0, PAGE_SIZE);
					*slot = p;
				}
			}
			p = *slot;
		}
		spin_unlock_irqrestore(&m->lock, f);
		return p;
	}
	case MEMOBJ_COW: {
		unsigned long f = spin_lock_irqsave(&m->lock);
		paddr_t *slot = pagetab_slot(&m->own, idx, write);
		paddr_t p = slot ? *slot : 0;
		spin_unlock_irqrestore(&m->lock, f);
		if (p)
			return p;
		bool src_shared;
		paddr_t from = memobj_frame(m->src, m->src_first + idx, false, &src_shared);
		if (!from)
			return 0;
		if (!write) {
			*shared = true;
			return from;
		}
		paddr_t copy = pmm_alloc();
		if (!copy)
			return 0;
		memcpy(phys_to_virt(copy), phys_to_virt(from), PAGE_SIZE);
		f = spin_lock_irqsave(&m->lock);
		slot = pagetab_slot(&m->own, idx, true);
		if (slot && !*slot) {
			*slot = copy;
			copy = 0;
		}
		p = slot ? *slot : 0;
		spin_unlock_irqrestore(&m->lock, f);
		if (copy)
			pmm_free(copy); /* another CPU copied first, or no leaf */
		else
			page_replaced(m, idx);
		return p;
	}
	}
	return 0;
}

int memobj_populate(struct memobj *m)
{
	for (uint64_t i = 0; i < m->npages; i++) {
		bool shared;
		if (!memobj_frame(m, i, true, &shared))
			return -ALDER_ENOMEM;
	}
	return 0;
}

static void memobj_destroy(struct kobj *o)
{
	struct memobj *m = container_of(o, struct memobj, obj);
	assert(list_empty(&m->views) && list_empty(&m->children));
	if (m->src) {
		unsigned long f = spin_lock_irqsave(&m->src->lock);
		list_remove(&m->child_link);
		spin_unlock_irqrestore(&m->src->lock, f);
	}
	pagetab_free(&m->own);
	if (m->src)
		kobj_put(&m->src->obj);
	kfree(m);
}

/* ---- reverse map ---- */

void memobj_attach(struct memobj *m, struct memobj_view *v, paddr_t pml4, uint64_t start, uint64_t first,
		   uint64_t npages)
{
	unsigned long f = spin_lock_irqsave(&m->lock);
	v->pml4 = pml4;
	v->start = start;
	v->first = first;
	v->npages = npages;
	list_append(&m->views, &v->link);
	spin_unlock_irqrestore(&m->lock, f);
}

void memobj_detach(struct memobj *m, struct memobj_view *v)
{
	unsigned long f = spin_lock_irqsave(&m->lock);
	list_remove(&v->link);
	spin_unlock_irqrestore(&m->lock, f);
}

/* Clear up to max slots of [*idx, end) that hold frames, moving the frames
 * to out and freeing leaves left empty; *idx advances past what was looked
 * at. Returns how many frames were taken. m->lock held. */
static unsigned take_frames_locked(struct memobj *m, uint64_t *idx, uint64_t end, paddr_t *out, unsigned max)
{
	unsigned n = 0;
	while (*idx < end && n < max) {
		uint64_t d = *idx / LEAF_ENTRIES;
		uint64_t leaf_end = MIN(end, (d + 1) * LEAF_ENTRIES);
		paddr_t *leaf = m->own.dir[d];
		if (!leaf) {
			*idx = leaf_end;
			continue;
		}
		for (; *idx < leaf_end && n < max; (*idx)++) {
			paddr_t *slot = &leaf[*idx % LEAF_ENTRIES];
			if (*slot) {
				out[n++] = *slot;
				*slot = 0;
			}
		}
		if (*idx < leaf_end)
			break; /* out is full; this leaf is not done */
		bool empty = true;
		for (int j = 0; j < LEAF_ENTRIES && empty; j++)
			empty = leaf[j] == 0;
		if (empty) {
			m->own.dir[d] = NULL;
			out[n++] = virt_to_phys(leaf); /* out has room: max counts one extra */
		}
	}
	return n;
}

/*
 * Whether the pages v showed can never be reached again once v is gone.
 * Every reference to an object is a handle, a mapping (one reference and
 * one view each), a derived object (on children) or a kernel user (a queue
 * ring, an operation in flight). Only a handle or a kernel user can make a
 * new mapping; splitting a mapping makes a view of a part of its pages.
 * So when, apart from v's own mapping, the references are exactly the
 * other views and there are no children, the pages reachable from now on
 * are those the other views show, and that set can only shrink. References
 * are taken before a view is attached and dropped after it is detached, so
 * a mapping coming or going meanwhile makes the count look higher: the
 * check errs only towards keeping the frames. Conservative too: any other
 * view showing a page of v's range keeps the whole range. m->lock held,
 * v already off the list.
 */
static bool view_pages_dead_locked(struct memobj *m, const struct memobj_view *v)
{
	if (m->kind != MEMOBJ_ANON || !list_empty(&m->children))
		return false;
	uint32_t views = 0;
	list_for_each(it, &m->views) {
		struct memobj_view *o = list_entry(it, struct memobj_view, link);
		if (o->first < v->first + v->npages && v->first < o->first + o->npages)
			return false;
		views++;
	}
	return __atomic_load_n(&m->obj.refs, __ATOMIC_ACQUIRE) == views + 1;
}

#define RELEASE_BATCH 32

void memobj_detach_release(struct memobj *m, struct memobj_view *v)
{
	unsigned long f = spin_lock_irqsave(&m->lock);
	list_remove(&v->link);
	bool dead = view_pages_dead_locked(m, v);
	spin_unlock_irqrestore(&m->lock, f);
	if (!dead)
		return;
	/* Nobody reaches these slots any more; the lock is for the table
	 * itself (leaves, and slots next to ours). Frames are freed in
	 * batches with the lock dropped, so a large range does not keep
	 * interrupts off for long. */
	uint64_t idx = v->first, end = v->first + v->npages;
	paddr_t batch[RELEASE_BATCH + 1];
	while (idx < end) {
		f = spin_lock_irqsave(&m->lock);
		unsigned n = take_frames_locked(m, &idx, end, batch, RELEASE_BATCH);
		spin_unlock_irqrestore(&m->lock, f);
		for (unsigned i = 0; i < n; i++)
			pmm_free(batch[i]);
	}
}

void memobj_view_update(struct memobj *m, struct memobj_view *v, uint64_t start, uint64_t first, uint64_t npages)
{
	unsigned long f = spin_lock_irqsave(&m->lock);
	v->start = start;
	v->first = first;
	v->npages = npages;
	spin_unlock_irqrestore(&m->lock, f);
}

uint64_t memobj_gen(struct memobj *m) { return __atomic_load_n(&m->gen, __ATOMIC_ACQUIRE); }

struct zap_list {
	uint64_t va[16];
	unsigned n;
	bool overflow;   /* more than fit: flush everything */
};

/*
 * Page idx of m now has a different frame: clear every translation that
 * may show the old one, here and in derived objects that show this page
 * (slices, and COW views that have not copied it). Takes m->lock, then the
 * children's locks (parent before child, the only order used).
 */
static void invalidate(struct memobj *m, uint64_t idx, struct zap_list *z, bool from_parent)
{
	unsigned long f = spin_lock_irqsave(&m->lock);
	if (from_parent && m->kind == MEMOBJ_COW) {
		paddr_t *slot = pagetab_slot(&m->own, idx, false);
		if (slot && *slot) {
			spin_unlock_irqrestore(&m->lock, f);
			return; /* it has its own copy: unaffected */
		}
	}
	__atomic_add_fetch(&m->gen, 1, __ATOMIC_ACQ_REL);
	list_for_each(it, &m->views) {
		struct memobj_view *v = list_entry(it, struct memobj_view, link);
		if (idx < v->first || idx >= v->first + v->npages)
			continue;
		uint64_t va = v->start + (idx - v->first) * PAGE_SIZE;
		if (paging_zap(v->pml4, va)) {
			if (z->n < ARRAY_SIZE(z->va))
				z->va[z->n++] = va;
			else
				z->overflow = true;
		}
	}
	list_for_each(it, &m->children) {
		struct memobj *c = list_entry(it, struct memobj, child_link);
		if (idx >= c->src_first && idx < c->src_first + c->npages)
			invalidate(c, idx - c->src_first, z, true);
	}
	spin_unlock_irqrestore(&m->lock, f);
}

/* After a COW copy: no lock held (the flush waits for other CPUs). */
static void page_replaced(struct memobj *m, uint64_t idx)
{
	struct zap_list z = { .n = 0 };
	invalidate(m, idx, &z, false);
	if (z.overflow)
		tlb_shootdown(0, ~(size_t)0 >> 1); /* large count: full flush everywhere */
	else
		for (unsigned i = 0; i < z.n; i++)
			tlb_shootdown(z.va[i], 1);
}
