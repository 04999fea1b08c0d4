/*
 * Kernel objects and handle tables (kernel/generic/object.c).
 *
 * Every object that user space can name embeds a struct kobj as its first
 * member: a type (ALDER_OBJ_*), a reference count and an id. References are
 * held by handle-table slots, by mappings, by operations in flight and by
 * the kernel itself; the last kobj_put() calls the type's destroy function,
 * from whatever context drops it (so destroy must not sleep and must take
 * only IRQ-saving locks).
 *
 * A handle table maps small positive integers to (object, rights). Lookups
 * take a reference that the caller drops with kobj_put(); a handle closed by
 * another thread meanwhile does not free the object under the caller.
 */
#ifndef KERN_OBJECT_H
#define KERN_OBJECT_H

#include <alder/handle.h>
#include <kern/spinlock.h>
#include <kern/types.h>

struct kobj;

struct kobj_ops {
	const char *name;
	void (*destroy)(struct kobj *o); /* last reference gone */
};

struct kobj {
	uint32_t type;        /* ALDER_OBJ_* */
	uint32_t refs;        /* atomic */
	uint64_t koid;
	const struct kobj_ops *ops;
	/*
	 * Optional (kobj_init leaves it NULL; the owner sets it before the
	 * object is shared), for objects that hold a reference to themselves
	 * while they live (a thread: its own, until it is freed). Called by
	 * the kobj_put() that would leave one reference: then nothing but that
	 * self-reference (if the object still holds it) names the object — no
	 * handle, lookup or operation in flight. The caller's reference is
	 * still held during the call, so o is valid; it is dropped right
	 * after. Context as for destroy; besides, the caller may hold locks of
	 * its own, so the callback decides from atomics whether there is
	 * anything to do before it takes a lock.
	 */
	void (*unreferenced)(struct kobj *o);
};

void kobj_init(struct kobj *o, uint32_t type, const struct kobj_ops *ops);
static inline struct kobj *kobj_get(struct kobj *o)
{
	__atomic_add_fetch(&o->refs, 1, __ATOMIC_RELAXED);
	return o;
}
void kobj_put(struct kobj *o);
/* A new reference to the root object (hardware authority; handed to init). */
struct kobj *root_object(void);
/* Live objects per type, for leak checks (index ALDER_OBJ_*). */
uint64_t kobj_live(uint32_t type);

#define HANDLE_TABLE_MAX 4096

struct handle_slot {
	struct kobj *obj;     /* NULL: free slot */
	uint32_t rights;
};

struct handle_table {
	spinlock_t lock;      /* protects everything below */
	struct handle_slot *slots;
	uint32_t cap;         /* slots allocated; handle h lives at slots[h - 1] */
	uint32_t count;       /* slots in use */
};

void handle_table_init(struct handle_table *t);
/* Close every handle. */
void handle_table_destroy(struct handle_table *t);
/* Install o with rights; consumes one reference to o on success. Returns
 * the handle, -ALDER_EMFILE (table full) or -ALDER_ENOMEM. */
long handle_install(struct handle_table *t, struct kobj *o, uint32_t rights);
/*
 * Look h up: it must name an object of type (0 = any) whose handle has all
 * rights in need. On success *out holds a new reference (and *rights_out,
 * if not NULL, the handle's rights). Errors: -ALDER_EBADF, -ALDER_EBADFD,
 * -ALDER_EACCES.
 */
int handle_get(struct handle_table *t, alder_handle_t h, uint32_t type, uint32_t need, struct kobj **out,
	       uint32_t *rights_out);
int handle_close(struct handle_table *t, alder_handle_t h);
/* Close h only if it still names o (another thread may have closed it and
 * reused the number meanwhile). True when it did. */
bool handle_close_if(struct handle_table *t, alder_handle_t h, const struct kobj *o);
/* New handle to the same object with rights & mask; needs DUPLICATE. */
long handle_dup(struct handle_table *t, alder_handle_t h, uint32_t mask);

#endif
