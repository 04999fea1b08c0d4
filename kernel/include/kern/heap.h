/*
 * Kernel heap (kernel/generic/heap.c): slab caches for fixed-size objects
 * and kmalloc() on top of them; requests larger than the biggest size class
 * take whole frames from the pmm.
 *
 * With debug off, kmalloc() and kfree() of small objects (up to 2048 bytes)
 * go through per-CPU magazines: a small stack of free objects per size class
 * and CPU, refilled from and flushed to the slabs half a magazine at a time.
 * A double free or a free of a pointer the heap never returned still panics.
 *
 * Debug mode (HEAP_DEBUG defined at build time, on in test builds; can also
 * be switched with heap_set_debug()): every kmalloc() and kfree() goes to the
 * slabs; freed objects are filled with HEAP_POISON and checked when handed
 * out again (a write after free panics, naming the cache), allocated objects
 * get a red zone up to the end of their slot (checked on free), and each
 * object carries a state word so a double free or a free of a pointer the
 * heap never returned panics instead of corrupting the free list.
 *
 * Safe on any CPU and in interrupt handlers; not from NMI context.
 */
#ifndef KERN_HEAP_H
#define KERN_HEAP_H

#include <kern/types.h>

#define HEAP_POISON 0x6b

struct kmem_cache;

void heap_init(void);
/* Returns the previous setting. Switching debug on first gives every CPU's
 * magazines back to the slabs (as heap_trim() does), so from then on every
 * object handed out is checked; call it with no spinlock held. */
bool heap_set_debug(bool on);

/* align: power of two, 0 means 8. Returns NULL on out-of-memory, or when
 * size is 0, align exceeds PAGE_SIZE or an object would not fit a 64 KiB
 * slab. name is copied (up to 23 characters). */
struct kmem_cache *kmem_cache_create(const char *name, size_t size, size_t align);
/* Free every slab of c and c itself. Every object must have been freed
 * (panics otherwise). Not for the kmalloc caches. */
void kmem_cache_destroy(struct kmem_cache *c);
void *kmem_cache_alloc(struct kmem_cache *c);
void kmem_cache_free(struct kmem_cache *c, void *obj);
/* Give empty slabs back to the pmm (for a kmalloc cache, after emptying
 * every CPU's magazine of its class into them). Returns frames released.
 * May interrupt every other CPU (smp_call_others): call it with no spinlock
 * held, not from an interrupt handler. */
size_t kmem_cache_shrink(struct kmem_cache *c);
/* Everything the heap holds only to be fast goes back: every CPU's
 * magazines, then every kmalloc cache's empty slabs. Returns frames
 * released. Same calling rules as kmem_cache_shrink(). */
size_t heap_trim(void);

/* NULL on failure or size 0; 16-byte aligned (objects up to 2048 bytes are
 * aligned to their size class, a power of two). Sizes above 2048 take whole
 * frames (with a 16-byte header, so 4096 bytes takes two frames); use the
 * pmm directly for page-sized, page-aligned memory. */
void *kmalloc(size_t size);
void *kzalloc(size_t size);
void kfree(void *p); /* NULL is a no-op */

struct heap_stats {
	size_t bytes_in_use;  /* requested bytes currently allocated */
	size_t frames_in_use; /* frames the heap holds from the pmm */
	size_t allocs, frees; /* counts since boot */
	size_t cached;	      /* free objects held in CPUs' magazines */
};
/* Objects in magazines are free here (not in bytes_in_use), though their
 * slabs still count in frames_in_use, as does each CPU's one frame of
 * magazines once it has used them. Each figure is exact when nothing is
 * allocating or freeing; the set is not a snapshot. */
void heap_get_stats(struct heap_stats *out);

#endif
