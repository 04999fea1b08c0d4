/*
 * Kernel objects and handle tables (kern/object.h).
 */
#include <kern/assert.h>
#include <kern/heap.h>
#include <kern/object.h>
#include <kern/string.h>
#include <alder/errno.h>

#define OBJ_TYPES 16

static uint64_t next_koid = 1;
static uint64_t live[OBJ_TYPES]; /* atomic counters */

void kobj_init(struct kobj *o, uint32_t type, const struct kobj_ops *ops)
{
	assert(type < OBJ_TYPES);
	o->type = type;
	o->refs = 1;
	o->ops = ops;
	o->unreferenced = NULL;
	o->koid = __atomic_fetch_add(&next_koid, 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&live[type], 1, __ATOMIC_RELAXED);
}

void kobj_put_hooked(struct kobj *o)
{
	/* Drop ours at once while others remain; the put that would leave
	 * one reference calls the hook first, still holding its own, so
	 * exactly one put sees that moment. */
	uint32_t n = __atomic_load_n(&o->refs, __ATOMIC_RELAXED);
	while (n > 2 &&
	       !__atomic_compare_exchange_n(&o->refs, &n, n - 1, false, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
		;
	if (n > 2)
		return;
	if (n == 2)
		o->unreferenced(o);
	if (__atomic_sub_fetch(&o->refs, 1, __ATOMIC_ACQ_REL) == 0)
		kobj_put_last(o);
}

void kobj_put_last(struct kobj *o)
{
	assert(__atomic_load_n(&o->refs, __ATOMIC_RELAXED) == 0);
	__atomic_sub_fetch(&live[o->type], 1, __ATOMIC_RELAXED);
	o->ops->destroy(o);
}

uint64_t kobj_live(uint32_t type)
{
	return type < OBJ_TYPES ? __atomic_load_n(&live[type], __ATOMIC_RELAXED) : 0;
}

void handle_table_init(struct handle_table *t)
{
	t->lock = (spinlock_t)SPINLOCK_INIT;
	t->slots = NULL;
	t->cap = 0;
	t->count = 0;
	t->free_hint = 0;
}

void handle_table_destroy(struct handle_table *t)
{
	for (;;) {
		/* Take the objects out under the lock, drop them outside it:
		 * a destroy function may close handles of its own. */
		struct kobj *batch[16];
		unsigned n = 0;
		unsigned long f = spin_lock_irqsave(&t->lock);
		for (uint32_t i = 0; i < t->cap && n < ARRAY_SIZE(batch); i++) {
			if (t->slots[i].obj) {
				batch[n++] = t->slots[i].obj;
				t->slots[i].obj = NULL;
				t->count--;
				t->free_hint = MIN(t->free_hint, i);
			}
		}
		struct handle_slot *slots = n ? NULL : t->slots;
		if (!n) {
			t->slots = NULL;
			t->cap = 0;
		}
		spin_unlock_irqrestore(&t->lock, f);
		for (unsigned i = 0; i < n; i++)
			kobj_put(batch[i]);
		if (!n) {
			kfree(slots);
			return;
		}
	}
}

/* Put o in the lowest free slot: its handle, or 0 when every slot is in
 * use. The caller holds t->lock. */
static inline long slot_fill_locked(struct handle_table *t, struct kobj *o, uint32_t rights)
{
	assert(spin_held(&t->lock));
	for (uint32_t i = t->free_hint; i < t->cap; i++) {
		if (!t->slots[i].obj) {
			t->slots[i].obj = o;
			t->slots[i].rights = rights & ALDER_RIGHTS_ALL;
			t->count++;
			t->free_hint = i + 1;
			return (long)i + 1;
		}
	}
	t->free_hint = t->cap;
	return 0;
}

/* handle_install on a full table: grow it (unless another thread did) and
 * try again. */
static __attribute__((noinline)) long handle_install_grow(struct handle_table *t, struct kobj *o, uint32_t rights)
{
	for (;;) {
		unsigned long f = spin_lock_irqsave(&t->lock);
		uint32_t cap = t->cap;
		spin_unlock_irqrestore(&t->lock, f);
		if (cap >= HANDLE_TABLE_MAX)
			return -ALDER_EMFILE;
		uint32_t newcap = cap ? cap * 2 : 16;
		if (newcap > HANDLE_TABLE_MAX)
			newcap = HANDLE_TABLE_MAX;
		struct handle_slot *grown = kmalloc(newcap * sizeof(*grown));
		if (!grown)
			return -ALDER_ENOMEM;

		f = spin_lock_irqsave(&t->lock);
		/* Install the bigger array unless someone else grew the table
		 * meanwhile to at least its size (then grown may be too small
		 * for the table as it is now: drop it and look again). */
		if (newcap > t->cap) {
			if (t->cap)
				memcpy(grown, t->slots, t->cap * sizeof(*grown));
			memset(grown + t->cap, 0, (newcap - t->cap) * sizeof(*grown));
			struct handle_slot *old = t->slots;
			t->slots = grown;
			t->cap = newcap;
			grown = old;
		}
		long h = slot_fill_locked(t, o, rights);
		spin_unlock_irqrestore(&t->lock, f);
		if (grown)
			kfree(grown);
		if (h)
			return h;
	}
}

long handle_install(struct handle_table *t, struct kobj *o, uint32_t rights)
{
	unsigned long f = spin_lock_irqsave(&t->lock);
	long h = slot_fill_locked(t, o, rights);
	spin_unlock_irqrestore(&t->lock, f);
	return h ? h : handle_install_grow(t, o, rights);
}

/* Free slot i (in use); the caller holds t->lock. */
static inline void slot_clear_locked(struct handle_table *t, uint32_t i)
{
	assert(spin_held(&t->lock) && t->slots[i].obj);
	t->slots[i].obj = NULL;
	t->count--;
	if (i < t->free_hint)
		t->free_hint = i;
}

bool handle_close_if(struct handle_table *t, alder_handle_t h, const struct kobj *o)
{
	uint32_t i = (uint32_t)h - 1; /* h <= 0 wraps: never below cap */
	unsigned long f = spin_lock_irqsave(&t->lock);
	bool match = i < t->cap && t->slots[i].obj == o;
	if (match)
		slot_clear_locked(t, i);
	spin_unlock_irqrestore(&t->lock, f);
	if (match)
		kobj_put((struct kobj *)o);
	return match;
}

int handle_close(struct handle_table *t, alder_handle_t h)
{
	if (h <= 0)
		return -ALDER_EBADF;
	unsigned long f = spin_lock_irqsave(&t->lock);
	struct kobj *o = NULL;
	if ((uint32_t)h <= t->cap && t->slots[h - 1].obj) {
		o = t->slots[h - 1].obj;
		slot_clear_locked(t, (uint32_t)h - 1);
	}
	spin_unlock_irqrestore(&t->lock, f);
	if (!o)
		return -ALDER_EBADF;
	kobj_put(o);
	return 0;
}

long handle_dup(struct handle_table *t, alder_handle_t h, uint32_t mask)
{
	struct kobj *o;
	uint32_t rights;
	int r = handle_get(t, h, 0, ALDER_RIGHT_DUPLICATE, &o, &rights);
	if (r)
		return r;
	long nh = handle_install(t, o, rights & mask);
	if (nh < 0)
		kobj_put(o);
	return nh;
}
