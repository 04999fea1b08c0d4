/*
 * Kernel heap (kernel/generic/heap.c): slab caches for fixed-size objects
 * and kmalloc() on top of them; requests larger than the biggest size class
 * take whole frames from the pmm.
 *
 * Debug mode (HEAP_DEBUG defined at build time, on in test builds; can also
 * be switched with heap_set_debug()): freed objects are filled with
 * HEAP_POISON and checked when handed out again (a write after free panics,
 * naming the cache), each object carries a state word so a double free or a
 * free of a pointer the heap never returned panics instead of corrupting the
 * free list.
 *
 * Safe on any CPU; not from NMI context.
 */
#ifndef KERN_HEAP_H
#define KERN_HEAP_H

#include <kern/types.h>

#define HEAP_POISON 0x6b

struct kmem_cache;

void heap_init(void);
void heap_set_debug(bool on);

/* align: power of two, 0 means 8. Returns NULL on out-of-memory, or when
 * size is 0, align exceeds PAGE_SIZE or an object would not fit a 64 KiB
 * slab. name is copied (up to 23 characters). */
struct kmem_cache *kmem_cache_create(const char *name, size_t size, size_t align);
/* Free every slab of c and c itself. Every object must have been freed
 * (panics otherwise). Not for the kmalloc caches. */
void kmem_cache_destroy(struct kmem_cache *c);
void *kmem_cache_alloc(struct kmem_cache *c);
void kmem_cache_free(struct kmem_cache *c, void *obj);
/* Give empty slabs back to the pmm. Returns frames released. */
size_t kmem_cache_shrink(struct kmem_cache *c);

/* NULL on failure or size 0; 16-byte aligned. Sizes above 2048 take whole
 * frames (with a 16-byte header, so 4096 bytes takes two frames); use the
 * pmm directly for page-sized, page-aligned memory. */
void *kmalloc(size_t size);
void *kzalloc(size_t size);
void kfree(void *p); /* NULL is a no-op */

struct heap_stats {
	size_t bytes_in_use;  /* requested bytes currently allocated */
	size_t frames_in_use; /* frames the heap holds from the pmm */
	size_t allocs, frees; /* counts since boot */
};
void heap_get_stats(struct heap_stats *out);

#endif
