/*
 * Memory objects and address spaces (kernel/generic/memobj.c, vmspace.c).
 *
 * A memory object is a sequence of pages: anonymous (a frame is allocated
 * and zeroed on first touch), physical (a fixed range, e.g. MMIO, with a
 * cache mode), a copy-on-write view of another object (reads see the
 * source until the view writes a page, which then gets its own copy), or a
 * slice (a window onto part of another object, sharing its pages).
 *
 * An address space (struct vmspace) is a page table plus a sorted list of
 * mappings; each mapping names a memory object, an offset into it and the
 * protection. Pages are entered into the page table lazily, by the page
 * fault handler. Unmap and protect may cover part of a mapping, which is
 * then split. Every change that removes or narrows a translation is followed
 * by a TLB shootdown on the CPUs that have the space loaded.
 */
#ifndef KERN_VMSPACE_H
#define KERN_VMSPACE_H

#include <kern/list.h>
#include <kern/object.h>
#include <kern/spinlock.h>
#include <kern/types.h>

#define VM_PROT_READ 1u
#define VM_PROT_WRITE 2u
#define VM_PROT_EXEC 4u

enum memobj_kind { MEMOBJ_ANON, MEMOBJ_PHYS, MEMOBJ_COW, MEMOBJ_SLICE };

/* struct memobj and struct vmspace begin with their struct kobj, so a
 * pointer to either converts to a struct kobj * (for kobj_get/kobj_put). */
struct memobj;

/* All return NULL on out-of-memory or bad arguments; the caller owns one reference. */
struct memobj *memobj_create_anon(uint64_t size);
struct memobj *memobj_create_phys(paddr_t base, uint64_t size, bool uncached);
struct memobj *memobj_create_cow(struct memobj *src, uint64_t offset, uint64_t size);
struct memobj *memobj_create_slice(struct memobj *src, uint64_t offset, uint64_t size);
uint64_t memobj_size(const struct memobj *m);
/* How many COW/slice levels lie between m and the memory it finally shows;
 * derived objects are refused beyond ALDER_MEM_MAX_DEPTH (the kernel walks
 * such chains recursively, on a bounded stack). */
uint32_t memobj_depth(const struct memobj *m);
bool memobj_uncached(const struct memobj *m); /* physical (or slice of one) mapped uncached */
/*
 * The frame holding page index idx, allocating (anon) or copying (COW, when
 * write) as needed. Returns 0 on out-of-memory or idx out of range. *shared
 * is set when the frame belongs to another object (COW source not yet
 * copied): it must then be mapped read-only.
 */
paddr_t memobj_frame(struct memobj *m, uint64_t idx, bool write, bool *shared);
/*
 * Reverse map. Every mapping of an object registers a view: which object
 * pages it shows at which address of which page table. When a copy-on-write
 * object replaces a page's frame (its first write), every translation that
 * may show the old frame — in any space, through this object or through
 * slices and views derived from it — is cleared (and flushed) so the next
 * access faults in the new frame. memobj_gen() changes whenever that
 * happens; a fault handler that read it before asking for a frame and finds
 * it changed after entering the PTE must retry (it may have entered a frame
 * that was just replaced).
 */
struct memobj_view {
	struct list link;        /* on the object's view list, under its lock */
	paddr_t pml4;            /* page table of the mapping's space */
	uint64_t start;          /* address that shows object page `first` */
	uint64_t first, npages;
};
void memobj_attach(struct memobj *m, struct memobj_view *v, paddr_t pml4, uint64_t start, uint64_t first,
		   uint64_t npages);
void memobj_detach(struct memobj *m, struct memobj_view *v);
/*
 * memobj_detach for a mapping that was unmapped (its translations already
 * flushed from every TLB): also free the frames of the pages it showed when
 * no one can ever reach them again — an anonymous object with no handle,
 * no derived object, no kernel user, whose other mappings do not show any
 * of those pages. A partial unmap of private anonymous memory so gives its
 * frames back at once, not when the object dies.
 */
void memobj_detach_release(struct memobj *m, struct memobj_view *v);
/* Change an attached view's range (mapping splits). */
void memobj_view_update(struct memobj *m, struct memobj_view *v, uint64_t start, uint64_t first, uint64_t npages);
uint64_t memobj_gen(struct memobj *m);
/* Populate every page now (for memory the kernel itself reads, e.g. rings). */
int memobj_populate(struct memobj *m);

struct vmspace;

struct vmspace *vmspace_create(void);
/* The space's page table root, for loading CR3. */
paddr_t vmspace_pml4(const struct vmspace *s);
/*
 * Map [offset, offset+size) of m at addr (page aligned; 0 = the kernel picks
 * a free range). prot is VM_PROT_*; write needs the object writable, etc.
 * Returns the address, or -ALDER_EINVAL (alignment, range, size 0),
 * -ALDER_ENOMEM, -ALDER_EEXIST (overlaps an existing mapping when fixed).
 */
int64_t vmspace_map(struct vmspace *s, struct memobj *m, uint64_t offset, uint64_t addr, uint64_t size,
		    unsigned prot);
/* vmspace_map, and vmspace_protect may never grant more than max_prot on
 * this mapping (derived from the rights of the handle it was mapped with);
 * -ALDER_EACCES when prot exceeds it already. */
int64_t vmspace_map_limited(struct vmspace *s, struct memobj *m, uint64_t offset, uint64_t addr,
			    uint64_t size, unsigned prot, unsigned max_prot);
/* Unmap every page in [addr, addr+size); unmapped holes are fine. */
int vmspace_unmap(struct vmspace *s, uint64_t addr, uint64_t size);
/* Change protection of [addr, addr+size); every page must be mapped
 * (-ALDER_ENOMEM otherwise, like Linux). */
int vmspace_protect(struct vmspace *s, uint64_t addr, uint64_t size, unsigned prot);
/*
 * Resolve a page fault at addr (error code bits as the CPU gives them: 1
 * present, 2 write, 16 instruction fetch). Returns 0 when the access is
 * now allowed, -ALDER_EFAULT when it is not (no mapping, or protection).
 */
int vmspace_fault(struct vmspace *s, uint64_t addr, uint64_t error);
/* Copy to/from another space's memory, faulting pages in as needed. */
int vmspace_rw(struct vmspace *s, uint64_t addr, void *buf, size_t len, bool write);
/* One piece of a vmspace_write_pieces: len bytes from buf to addr. */
struct vm_piece {
	uint64_t addr;
	const void *buf;
	size_t len;
};
/*
 * Write n pieces into s's memory under one hold of its lock, translating
 * each page once (pieces close together, like the output fields of an
 * array of records, cost one lookup). 0, or -ALDER_EFAULT at the first
 * piece that cannot be written (the pieces before it have been).
 */
int vmspace_write_pieces(struct vmspace *s, const struct vm_piece *pc, unsigned n);
/*
 * Copy len bytes from src's memory to dst's directly, page by page through
 * the direct map, holding both spaces' locks (in a fixed order) for each
 * page so neither mapping can change under the copy. dst and src may be the
 * same space. -ALDER_EFAULT when a page is unmapped or not allowed (the
 * bytes before it have been copied).
 */
int vmspace_copy(struct vmspace *dst, uint64_t daddr, struct vmspace *src, uint64_t saddr, size_t len);
/* Translate addr for the kernel (faulting in as write/read); 0 on failure.
 * The frame stays valid while the caller holds a reference to s and the
 * mapping is not changed (futex keys, stream copies). */
paddr_t vmspace_translate(struct vmspace *s, uint64_t addr, bool write);

/* Resolve a space handle of the calling process (ALDER_HANDLE_SELF_SPACE
 * included) needing rights need; a new reference in *out, or -EBADF,
 * -EBADFD, -EACCES (kernel/generic/sys_object.c). */
int space_from_handle(uint64_t h, uint32_t need, struct vmspace **out);

/* CPUs that have this space loaded (bit per CPU), for shootdowns. */
void vmspace_activate(struct vmspace *s, uint32_t cpu);
void vmspace_deactivate(struct vmspace *s, uint32_t cpu);

#endif
