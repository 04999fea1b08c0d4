/*
 * Address spaces (kern/vmspace.h): a page table plus a sorted list of
 * mappings. Pages enter the page table only when touched (vmspace_fault).
 *
 * Locking: s->lock (IRQ-saving) protects the mapping list and the user half
 * of the page table. Memory-object locks nest inside it. TLB shootdowns are
 * done after the page-table change and before any frame or object the old
 * translation pointed at can be released; references to objects of removed
 * mappings are dropped after the lock is released.
 */
#include <kern/assert.h>
#include <kern/heap.h>
#include <kern/log.h>
#include <kern/string.h>
#include <kern/vm.h>
#include <kern/vmspace.h>
#include <alder/errno.h>
#include <arch/cpu.h>
#include <arch/paging.h>

#define MMAP_BASE 0x0000100000000000ull /* where the kernel picks addresses */

struct mapping {
	struct list link;       /* s->mappings, sorted by start */
	uint64_t start, end;    /* [start, end), page aligned */
	struct memobj *obj;     /* holds a reference */
	uint64_t first;         /* page index in obj that start maps */
	unsigned prot;          /* VM_PROT_* now */
	unsigned max_prot;      /* what protect may grant */
	struct memobj_view view;/* registration with obj (reverse map) */
};

struct vmspace {
	struct kobj obj;
	paddr_t pml4;
	spinlock_t lock;
	struct list mappings;
	uint64_t active;        /* atomic: CPUs with this space loaded */
};

static void vmspace_destroy(struct kobj *o);
static const struct kobj_ops vmspace_ops = { "space", vmspace_destroy };

struct vmspace *vmspace_create(void)
{
	struct vmspace *s = kzalloc(sizeof(*s));
	if (!s)
		return NULL;
	s->pml4 = paging_new_space();
	if (!s->pml4) {
		kfree(s);
		return NULL;
	}
	s->lock = (spinlock_t)SPINLOCK_INIT;
	list_init(&s->mappings);
	kobj_init(&s->obj, ALDER_OBJ_SPACE, &vmspace_ops);
	return s;
}

paddr_t vmspace_pml4(const struct vmspace *s) { return s->pml4; }

void vmspace_activate(struct vmspace *s, uint32_t cpu)
{
	__atomic_or_fetch(&s->active, 1ull << cpu, __ATOMIC_SEQ_CST);
}

void vmspace_deactivate(struct vmspace *s, uint32_t cpu)
{
	__atomic_and_fetch(&s->active, ~(1ull << cpu), __ATOMIC_SEQ_CST);
}

static void vmspace_destroy(struct kobj *o)
{
	struct vmspace *s = container_of(o, struct vmspace, obj);
	assert(s->active == 0);
	list_for_each_safe(it, tmp, &s->mappings) {
		struct mapping *m = list_entry(it, struct mapping, link);
		list_remove(&m->link);
		memobj_detach(m->obj, &m->view);
		kobj_put((struct kobj *)m->obj);
		kfree(m);
	}
	paging_free_space(s->pml4);
	kfree(s);
}

static unsigned map_flags(const struct mapping *m, bool writable)
{
	unsigned f = MAP_USER;
	if (writable)
		f |= MAP_WRITE;
	if (m->prot & VM_PROT_EXEC)
		f |= MAP_EXEC;
	if (memobj_uncached(m->obj))
		f |= MAP_UNCACHED;
	return f;
}

static struct mapping *find_locked(struct vmspace *s, uint64_t addr)
{
	list_for_each(it, &s->mappings) {
		struct mapping *m = list_entry(it, struct mapping, link);
		if (addr < m->start)
			return NULL;
		if (addr < m->end)
			return m;
	}
	return NULL;
}

static bool range_free_locked(struct vmspace *s, uint64_t start, uint64_t end)
{
	list_for_each(it, &s->mappings) {
		struct mapping *m = list_entry(it, struct mapping, link);
		if (m->start < end && start < m->end)
			return false;
	}
	return true;
}

/* First gap of size bytes at or above MMAP_BASE. */
static uint64_t find_gap_locked(struct vmspace *s, uint64_t size)
{
	uint64_t cand = MMAP_BASE;
	list_for_each(it, &s->mappings) {
		struct mapping *m = list_entry(it, struct mapping, link);
		if (m->end <= cand)
			continue;
		if (m->start >= cand + size)
			break;
		cand = m->end;
	}
	return cand + size <= USER_TOP && cand + size > cand ? cand : 0;
}

static void insert_locked(struct vmspace *s, struct mapping *n)
{
	list_for_each(it, &s->mappings) {
		struct mapping *m = list_entry(it, struct mapping, link);
		if (m->start > n->start) {
			list_insert_between(&n->link, it->prev, it);
			return;
		}
	}
	list_append(&s->mappings, &n->link);
}

int64_t vmspace_map(struct vmspace *s, struct memobj *obj, uint64_t offset, uint64_t addr, uint64_t size,
		    unsigned prot)
{
	return vmspace_map_limited(s, obj, offset, addr, size, prot, VM_PROT_READ | VM_PROT_WRITE | VM_PROT_EXEC);
}

int64_t vmspace_map_limited(struct vmspace *s, struct memobj *obj, uint64_t offset, uint64_t addr,
			    uint64_t size, unsigned prot, unsigned max_prot)
{
	if (size == 0 || (offset | addr | size) & (PAGE_SIZE - 1) || (prot & ~7u))
		return -ALDER_EINVAL;
	if (prot & ~max_prot)
		return -ALDER_EACCES;
	uint64_t osize = memobj_size(obj);
	if (offset > osize || size > osize - offset)
		return -ALDER_EINVAL;
	if (addr && (addr < PAGE_SIZE || addr >= USER_TOP || size > USER_TOP - addr))
		return -ALDER_EINVAL;
	struct mapping *n = kzalloc(sizeof(*n));
	if (!n)
		return -ALDER_ENOMEM;
	unsigned long f = spin_lock_irqsave(&s->lock);
	if (!addr) {
		addr = find_gap_locked(s, size);
		if (!addr) {
			spin_unlock_irqrestore(&s->lock, f);
			kfree(n);
			return -ALDER_ENOMEM;
		}
	} else if (!range_free_locked(s, addr, addr + size)) {
		spin_unlock_irqrestore(&s->lock, f);
		kfree(n);
		return -ALDER_EEXIST;
	}
	n->start = addr;
	n->end = addr + size;
	n->obj = (struct memobj *)kobj_get((struct kobj *)obj);
	n->first = offset / PAGE_SIZE;
	n->prot = prot;
	n->max_prot = max_prot;
	list_init(&n->link);
	insert_locked(s, n);
	memobj_attach(obj, &n->view, s->pml4, addr, n->first, size / PAGE_SIZE);
	spin_unlock_irqrestore(&s->lock, f);
	return (int64_t)addr;
}

/* Split m so that a mapping starts at addr (inside m). */
static int split_locked(struct mapping *m, uint64_t addr)
{
	assert(addr > m->start && addr < m->end);
	struct mapping *r = kzalloc(sizeof(*r));
	if (!r)
		return -ALDER_ENOMEM;
	*r = *m;
	r->start = addr;
	r->first = m->first + (addr - m->start) / PAGE_SIZE;
	kobj_get((struct kobj *)r->obj);
	m->end = addr;
	list_init(&r->link);
	list_insert_between(&r->link, &m->link, m->link.next);
	memobj_view_update(m->obj, &m->view, m->start, m->first, (m->end - m->start) / PAGE_SIZE);
	memobj_attach(r->obj, &r->view, m->view.pml4, r->start, r->first, (r->end - r->start) / PAGE_SIZE);
	return 0;
}

/* Make mapping boundaries at start and end (when they fall inside one). */
static int split_range_locked(struct vmspace *s, uint64_t start, uint64_t end)
{
	struct mapping *m = find_locked(s, start);
	if (m && m->start < start) {
		int r = split_locked(m, start);
		if (r)
			return r;
	}
	m = find_locked(s, end - 1);
	if (m && m->end > end)
		return split_locked(m, end);
	return 0;
}

static void clear_ptes_locked(struct vmspace *s, uint64_t start, uint64_t end)
{
	for (uint64_t va = start; va < end; va += PAGE_SIZE)
		paging_unmap(s->pml4, va);
}

static void flush(uint64_t start, uint64_t end)
{
	tlb_shootdown(start, (end - start) / PAGE_SIZE);
}

int vmspace_unmap(struct vmspace *s, uint64_t addr, uint64_t size)
{
	if (size == 0 || (addr | size) & (PAGE_SIZE - 1) || addr >= USER_TOP || size > USER_TOP - addr)
		return -ALDER_EINVAL;
	uint64_t end = addr + size;
	struct list dead = LIST_INIT(dead);
	unsigned long f = spin_lock_irqsave(&s->lock);
	int r = split_range_locked(s, addr, end);
	if (r) {
		spin_unlock_irqrestore(&s->lock, f);
		return r;
	}
	/* --- point of no return --- */
	list_for_each_safe(it, tmp, &s->mappings) {
		struct mapping *m = list_entry(it, struct mapping, link);
		if (m->start >= addr && m->end <= end) {
			list_remove(&m->link);
			list_append(&dead, &m->link);
			clear_ptes_locked(s, m->start, m->end);
		}
	}
	spin_unlock_irqrestore(&s->lock, f);
	if (!list_empty(&dead))
		flush(addr, end);
	list_for_each_safe(it, tmp, &dead) {
		struct mapping *m = list_entry(it, struct mapping, link);
		memobj_detach_release(m->obj, &m->view);
		kobj_put((struct kobj *)m->obj);
		kfree(m);
	}
	return 0;
}

int vmspace_protect(struct vmspace *s, uint64_t addr, uint64_t size, unsigned prot)
{
	if (size == 0 || (addr | size) & (PAGE_SIZE - 1) || addr >= USER_TOP || size > USER_TOP - addr ||
	    (prot & ~7u))
		return -ALDER_EINVAL;
	uint64_t end = addr + size;
	unsigned long f = spin_lock_irqsave(&s->lock);
	/* Validate: the whole range mapped, prot allowed everywhere. */
	uint64_t at = addr;
	int r = 0;
	while (at < end) {
		struct mapping *m = find_locked(s, at);
		if (!m) {
			r = -ALDER_ENOMEM;
			break;
		}
		if (prot & ~m->max_prot) {
			r = -ALDER_EACCES;
			break;
		}
		at = m->end;
	}
	if (!r)
		r = split_range_locked(s, addr, end);
	if (r) {
		spin_unlock_irqrestore(&s->lock, f);
		return r;
	}
	/* --- point of no return --- */
	list_for_each(it, &s->mappings) {
		struct mapping *m = list_entry(it, struct mapping, link);
		if (m->start >= addr && m->end <= end)
			m->prot = prot;
	}
	/* Drop the translations; faults re-enter them with the new rights. */
	clear_ptes_locked(s, addr, end);
	spin_unlock_irqrestore(&s->lock, f);
	flush(addr, end);
	return 0;
}

/* Enter the page for addr with access (write/exec) allowed; s->lock held. */
static int fault_locked(struct vmspace *s, uint64_t addr, bool write, bool exec, paddr_t *frame_out)
{
	struct mapping *m = find_locked(s, addr);
	if (!m || m->prot == 0 || (write && !(m->prot & VM_PROT_WRITE)) || (exec && !(m->prot & VM_PROT_EXEC)))
		return -ALDER_EFAULT;
	uint64_t va = ALIGN_DOWN(addr, PAGE_SIZE);
	uint64_t pte = paging_lookup(s->pml4, va);
	if ((pte & PTE_P) && (!write || (pte & PTE_W))) {
		*frame_out = pte & PTE_ADDR; /* already there (another CPU, or a stale TLB entry) */
		return 0;
	}
	for (;;) {
		/* A copy-on-write replacement racing with us bumps the gen:
		 * then the frame we entered may be stale; enter it again. */
		uint64_t gen = memobj_gen(m->obj);
		bool shared;
		paddr_t frame = memobj_frame(m->obj, m->first + (va - m->start) / PAGE_SIZE, write, &shared);
		if (!frame)
			return -ALDER_ENOMEM;
		bool writable = (m->prot & VM_PROT_WRITE) && !shared;
		if (paging_map_replace(s->pml4, va, frame, map_flags(m, writable)))
			return -ALDER_ENOMEM;
		/* Store-load ordering: the PTE store must be visible before we
		 * re-read gen, pairing with invalidate()'s gen increment before
		 * its PTE exchange (x86 may otherwise reorder the two). */
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		if (memobj_gen(m->obj) != gen)
			continue;
		if (pte & PTE_P)
			flush(va, va + PAGE_SIZE); /* our read-only shared frame was replaced by a copy */
		*frame_out = frame;
		return 0;
	}
}

/*
 * The fast path of a kernel access to user memory: true, with the frame,
 * when addr's page is already in s's page table with the access allowed (a
 * present user PTE exists only inside a mapping with that protection, and
 * unmap/protect clear PTEs under s->lock). Else fault_locked decides.
 */
static bool present_locked(struct vmspace *s, uint64_t addr, bool write, paddr_t *frame_out)
{
	uint64_t pte = paging_lookup(s->pml4, ALIGN_DOWN(addr, PAGE_SIZE));
	uint64_t need = PTE_P | PTE_U | (write ? PTE_W : 0);

	if ((pte & (need | PTE_PS)) != need)
		return false;
	*frame_out = pte & PTE_ADDR;
	return true;
}

int vmspace_fault(struct vmspace *s, uint64_t addr, uint64_t error)
{
	if (addr >= USER_TOP)
		return -ALDER_EFAULT;
	paddr_t frame;
	unsigned long f = spin_lock_irqsave(&s->lock);
	int r = fault_locked(s, addr, error & 2, error & 16, &frame);
	spin_unlock_irqrestore(&s->lock, f);
	return r == -ALDER_ENOMEM ? -ALDER_EFAULT : r;
}

paddr_t vmspace_translate(struct vmspace *s, uint64_t addr, bool write)
{
	if (addr >= USER_TOP)
		return 0;
	paddr_t frame = 0;
	unsigned long f = spin_lock_irqsave(&s->lock);
	int r = present_locked(s, addr, write, &frame) ? 0 : fault_locked(s, addr, write, false, &frame);
	spin_unlock_irqrestore(&s->lock, f);
	return r ? 0 : frame + (addr & (PAGE_SIZE - 1));
}

int vmspace_rw(struct vmspace *s, uint64_t addr, void *buf, size_t len, bool write)
{
	if (addr >= USER_TOP || len > USER_TOP - addr)
		return -ALDER_EFAULT;
	uint8_t *b = buf;
	while (len) {
		size_t chunk = MIN(len, PAGE_SIZE - (addr & (PAGE_SIZE - 1)));
		paddr_t frame;
		/* Copy under the lock: the mapping (and so its frame) cannot go away. */
		unsigned long f = spin_lock_irqsave(&s->lock);
		int r = present_locked(s, addr, write, &frame) ? 0 : fault_locked(s, addr, write, false, &frame);
		if (!r) {
			uint8_t *p = (uint8_t *)phys_to_virt(frame) + (addr & (PAGE_SIZE - 1));
			if (write)
				memcpy(p, b, chunk);
			else
				memcpy(b, p, chunk);
		}
		spin_unlock_irqrestore(&s->lock, f);
		if (r)
			return -ALDER_EFAULT;
		b += chunk;
		addr += chunk;
		len -= chunk;
	}
	return 0;
}

int vmspace_write_pieces(struct vmspace *s, const struct vm_piece *pc, unsigned n)
{
	uint64_t cached_va = 1; /* never a page address: nothing cached yet */
	paddr_t frame = 0;
	int r = 0;
	unsigned long f = spin_lock_irqsave(&s->lock);

	for (unsigned i = 0; i < n && !r; i++) {
		uint64_t addr = pc[i].addr;
		const uint8_t *b = pc[i].buf;
		size_t len = pc[i].len;

		if (addr >= USER_TOP || len > USER_TOP - addr) {
			r = -ALDER_EFAULT;
			break;
		}
		/* Common case: the piece lies in the page translated last. */
		if (ALIGN_DOWN(addr, PAGE_SIZE) == cached_va && (addr & (PAGE_SIZE - 1)) + len <= PAGE_SIZE) {
			memcpy((uint8_t *)phys_to_virt(frame) + (addr - cached_va), b, len);
			continue;
		}
		while (len) {
			uint64_t va = ALIGN_DOWN(addr, PAGE_SIZE);
			size_t chunk = MIN(len, PAGE_SIZE - (addr - va));

			if (va != cached_va) {
				if (!present_locked(s, addr, true, &frame) &&
				    fault_locked(s, addr, true, false, &frame)) {
					r = -ALDER_EFAULT;
					break;
				}
				cached_va = va;
			}
			memcpy((uint8_t *)phys_to_virt(frame) + (addr - va), b, chunk);
			b += chunk;
			addr += chunk;
			len -= chunk;
		}
	}
	spin_unlock_irqrestore(&s->lock, f);
	return r;
}

static void lock_two(struct vmspace *a, struct vmspace *b, unsigned long *f)
{
	*f = irq_save();
	if (a == b) {
		spin_lock(&a->lock);
	} else if (a < b) {
		spin_lock(&a->lock);
		spin_lock(&b->lock);
	} else {
		spin_lock(&b->lock);
		spin_lock(&a->lock);
	}
}

static void unlock_two(struct vmspace *a, struct vmspace *b, unsigned long f)
{
	spin_unlock(&a->lock);
	if (a != b)
		spin_unlock(&b->lock);
	irq_restore(f);
}

int vmspace_copy(struct vmspace *dst, uint64_t daddr, struct vmspace *src, uint64_t saddr, size_t len)
{
	if (daddr >= USER_TOP || len > USER_TOP - daddr || saddr >= USER_TOP || len > USER_TOP - saddr)
		return -ALDER_EFAULT;
	while (len) {
		size_t chunk = MIN(len, PAGE_SIZE - (daddr & (PAGE_SIZE - 1)));
		chunk = MIN(chunk, PAGE_SIZE - (saddr & (PAGE_SIZE - 1)));
		paddr_t df, sf;
		unsigned long f;
		lock_two(dst, src, &f);
		int r = present_locked(src, saddr, false, &sf) ? 0 : fault_locked(src, saddr, false, false, &sf);
		if (!r && !present_locked(dst, daddr, true, &df))
			r = fault_locked(dst, daddr, true, false, &df);
		if (!r)
			memcpy((uint8_t *)phys_to_virt(df) + (daddr & (PAGE_SIZE - 1)),
			       (uint8_t *)phys_to_virt(sf) + (saddr & (PAGE_SIZE - 1)), chunk);
		unlock_two(dst, src, f);
		if (r)
			return r == -ALDER_ENOMEM ? -ALDER_ENOMEM : -ALDER_EFAULT;
		daddr += chunk;
		saddr += chunk;
		len -= chunk;
	}
	return 0;
}
