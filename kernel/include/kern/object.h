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

#include <alder/errno.h>
#include <alder/handle.h>
#include <kern/assert.h>
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
/* Out of line: the put of an object with an unreferenced hook, and the
 * last put of any object. */
void kobj_put_hooked(struct kobj *o);
void kobj_put_last(struct kobj *o);
/*
 * Drop one reference; the last one destroys o. Inline for the common case
 * (no hook, not the last reference): a lookup's put is a single atomic.
 */
static inline void kobj_put(struct kobj *o)
{
	if (o->unreferenced)
		kobj_put_hooked(o);
	else if (__atomic_sub_fetch(&o->refs, 1, __ATOMIC_ACQ_REL) == 0)
		kobj_put_last(o);
}
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
	uint32_t free_hint;   /* every slot below this index is in use */
};

void handle_table_init(struct handle_table *t);
/* Close every handle. */
void handle_table_destroy(struct handle_table *t);
/* Install o with rights; consumes one reference to o on success. Returns
 * the handle, -ALDER_EMFILE (table full) or -ALDER_ENOMEM. */
long handle_install(struct handle_table *t, struct kobj *o, uint32_t rights);
/* The checks of handle_get on t->slots (t->lock held): 0 and the slot,
 * or the error. For handle_get, which has just taken the lock, and
 * handle_lookup_locked, which asserts it. */
static inline int handle_slot_check(const struct handle_table *t, alder_handle_t h, uint32_t type,
				    uint32_t need, const struct handle_slot **out)
{
	/* h <= 0 wraps to a huge index: one comparison rejects both. */
	uint32_t i = (uint32_t)h - 1;
	if (i >= t->cap || !t->slots[i].obj)
		return -ALDER_EBADF;
	const struct handle_slot *s = &t->slots[i];
	if (type && s->obj->type != type)
		return -ALDER_EBADFD;
	if ((s->rights & need) != need)
		return -ALDER_EACCES;
	*out = s;
	return 0;
}

/*
 * handle_get's lookup, for a caller that holds t->lock and takes its own
 * kind of reference under it (the slot's reference keeps the object alive
 * while the lock is held). On success *out is the slot; it is only valid
 * until the lock is dropped. Inline: it is on every system call that names
 * an object, and callers' constant type and need fold away.
 */
static inline int handle_lookup_locked(const struct handle_table *t, alder_handle_t h, uint32_t type,
				       uint32_t need, const struct handle_slot **out)
{
	assert(spin_held(&t->lock));
	return handle_slot_check(t, h, type, need, out);
}

/*
 * Look h up: it must name an object of type (0 = any) whose handle has all
 * rights in need. On success *out holds a new reference (and *rights_out,
 * if not NULL, the handle's rights). Errors: -ALDER_EBADF, -ALDER_EBADFD,
 * -ALDER_EACCES.
 */
static inline int handle_get(struct handle_table *t, alder_handle_t h, uint32_t type, uint32_t need,
			     struct kobj **out, uint32_t *rights_out)
{
	const struct handle_slot *s;
	unsigned long f = spin_lock_irqsave(&t->lock);
	int r = handle_slot_check(t, h, type, need, &s);
	if (!r) {
		*out = kobj_get(s->obj);
		if (rights_out)
			*rights_out = s->rights;
	}
	spin_unlock_irqrestore(&t->lock, f);
	return r;
}
int handle_close(struct handle_table *t, alder_handle_t h);
/* Close h only if it still names o (another thread may have closed it and
 * reused the number meanwhile). True when it did. */
bool handle_close_if(struct handle_table *t, alder_handle_t h, const struct kobj *o);
/* New handle to the same object with rights & mask; needs DUPLICATE. */
long handle_dup(struct handle_table *t, alder_handle_t h, uint32_t mask);

#endif
