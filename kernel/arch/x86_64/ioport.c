/*
 * I/O port ranges (ALDER_OBJ_IOPORT, abi/alder/hw.h) and the per-thread I/O
 * permission bitmaps that SYS_IOPORT_ENABLE gives out.
 *
 * The mechanism: each CPU's TSS carries an 8 KiB bitmap (kern/cpu.h) that
 * denies every port. A thread that enabled ports owns a bitmap of its own
 * (struct io_bitmap, allocated on its first enable); the context-switch hook
 * arch_switch_io_bitmap() copies it into the TSS of the CPU the thread is
 * about to run on, and puts deny-all back when a thread without one runs.
 * So an in/out on any other port still faults (#GP) and kills the process.
 *
 * Bitmaps live in a small hash table keyed by the thread, not in struct
 * thread, so that this file is the only one that knows about them; the hook
 * frees a thread's bitmap when it switches away from the thread for the last
 * time (prev is DEAD). Not for revoking access: a permission lasts until the
 * thread exits (documented in hw.h).
 */
#include <kern/assert.h>
#include <kern/cpu.h>
#include <kern/heap.h>
#include <kern/object.h>
#include <kern/pmm.h>
#include <kern/process.h>
#include <kern/string.h>
#include <kern/syscall.h>
#include <kern/thread.h>
#include <kern/vm.h>
#include <alder/errno.h>
#include <alder/handle.h>
#include <alder/hw.h>
#include <alder/syscall.h>
#include <arch/cpu.h>
#include <arch/ioport.h>

#define ARGS uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5

_Static_assert(TSS_IOMAP_BYTES == ALDER_IOPORT_LIMIT / 8, "one bit per port");
#define IOMAP_FRAMES (TSS_IOMAP_BYTES / PAGE_SIZE)

/* ---- Port range objects ------------------------------------------------ */

struct ioport_obj {
	struct kobj obj;
	uint32_t base, count; /* immutable: [base, base + count) inside the port space */
};

static void ioport_destroy(struct kobj *o)
{
	kfree(container_of(o, struct ioport_obj, obj));
}
static const struct kobj_ops ioport_ops = {"ioport", ioport_destroy};

/* ---- Per-thread bitmaps -------------------------------------------------- */

struct io_bitmap {
	struct thread *owner;	/* immutable */
	struct io_bitmap *next; /* hash chain, under io_lock */
	/*
	 * Written only by the owner, in SYS_IOPORT_ENABLE with interrupts off;
	 * read by the context-switch hook of the CPU switching to the owner,
	 * which by then is not running anywhere (switch_to waits for on_cpu).
	 */
	uint32_t len;  /* bytes [len, 8 KiB) of bits are all ones */
	uint64_t gen;  /* unique per content (io_gen); 0 = never */
	uint8_t *bits; /* TSS_IOMAP_BYTES; bit clear = port allowed */
};

#define IO_BUCKETS 64
static spinlock_t io_lock = SPINLOCK_INIT; /* IRQ-saving; protects io_table */
static struct io_bitmap *io_table[IO_BUCKETS];
static uint32_t io_count; /* atomic: bitmaps in io_table */
static uint64_t io_gen;	  /* atomic: last content generation */

/* What each CPU's TSS bitmap holds now; touched only by that CPU, with
 * interrupts off. */
static struct {
	uint32_t dirty; /* bytes [0, dirty) may hold clear bits */
	uint64_t gen;	/* content generation loaded; 0 = deny-all */
} io_cpu[MAX_CPUS];

static unsigned io_bucket(const struct thread *t)
{
	return (unsigned)(((uintptr_t)t >> 6) % IO_BUCKETS);
}

static struct io_bitmap *io_lookup(const struct thread *t)
{
	struct io_bitmap *bm;
	unsigned long f = spin_lock_irqsave(&io_lock);
	for (bm = io_table[io_bucket(t)]; bm && bm->owner != t; bm = bm->next)
		;
	spin_unlock_irqrestore(&io_lock, f);
	return bm;
}

static void io_bitmap_free(struct io_bitmap *bm)
{
	pmm_free_contig(virt_to_phys(bm->bits), IOMAP_FRAMES);
	kfree(bm);
}

/* Make this CPU's TSS bitmap show bm (NULL: deny every port). Interrupts off. */
static void io_load(struct cpu *c, const struct io_bitmap *bm)
{
	assert(!irq_enabled());
	uint8_t *map = c->tss.iomap;
	uint32_t *dirty = &io_cpu[c->id].dirty;
	if (!bm) {
		if (*dirty)
			memset(map, 0xff, *dirty);
		*dirty = 0;
		io_cpu[c->id].gen = 0;
		return;
	}
	if (io_cpu[c->id].gen == bm->gen)
		return;
	memcpy(map, bm->bits, bm->len);
	if (*dirty > bm->len)
		memset(map + bm->len, 0xff, *dirty - bm->len);
	*dirty = bm->len;
	io_cpu[c->id].gen = bm->gen;
}

void arch_switch_io_bitmap(struct thread *prev, struct thread *next)
{
	struct cpu *c = this_cpu();
	if (__atomic_load_n(&io_count, __ATOMIC_ACQUIRE) == 0) {
		if (io_cpu[c->id].dirty) /* else the TSS denies everything already */
			io_load(c, NULL);
		return;
	}
	if (prev && prev->state == THREAD_DEAD) {
		/* prev's last switch: it will never run again. Forget its bitmap. */
		struct io_bitmap *gone = NULL;
		unsigned long f = spin_lock_irqsave(&io_lock);
		for (struct io_bitmap **pp = &io_table[io_bucket(prev)]; *pp; pp = &(*pp)->next) {
			if ((*pp)->owner == prev) {
				gone = *pp;
				*pp = gone->next;
				__atomic_sub_fetch(&io_count, 1, __ATOMIC_RELEASE);
				break;
			}
		}
		spin_unlock_irqrestore(&io_lock, f);
		if (gone)
			io_bitmap_free(gone);
	}
	io_load(c, next && next->proc ? io_lookup(next) : NULL);
}

/* ---- System calls ------------------------------------------------------------ */

static long sys_ioport_create(ARGS)
{
	struct handle_table *t = &proc_current()->handles;
	struct kobj *root;
	if ((int64_t)a0 > INT32_MAX || (int64_t)a0 <= 0)
		return -ALDER_EBADF;
	int r = handle_get(t, (alder_handle_t)a0, ALDER_OBJ_ROOT, ALDER_RIGHT_MANAGE, &root, NULL);
	if (r)
		return r;
	kobj_put(root);
	uint64_t base = a1, count = a2;
	if (count == 0 || count > ALDER_IOPORT_LIMIT || base >= ALDER_IOPORT_LIMIT ||
	    count > ALDER_IOPORT_LIMIT - base)
		return -ALDER_EINVAL;
	struct ioport_obj *io = kzalloc(sizeof(*io));
	if (!io)
		return -ALDER_ENOMEM;
	kobj_init(&io->obj, ALDER_OBJ_IOPORT, &ioport_ops);
	io->base = (uint32_t)base;
	io->count = (uint32_t)count;
	long h = handle_install(
	    t, &io->obj, ALDER_RIGHT_READ | ALDER_RIGHT_WRITE | ALDER_RIGHT_TRANSFER | ALDER_RIGHT_DUPLICATE);
	if (h < 0)
		kobj_put(&io->obj);
	return h;
}

static long sys_ioport_enable(ARGS)
{
	struct kobj *o;
	if ((int64_t)a0 > INT32_MAX || (int64_t)a0 <= 0)
		return -ALDER_EBADF;
	int r = handle_get(&proc_current()->handles, (alder_handle_t)a0, ALDER_OBJ_IOPORT,
			   ALDER_RIGHT_READ | ALDER_RIGHT_WRITE, &o, NULL);
	if (r)
		return r;
	struct ioport_obj *io = container_of(o, struct ioport_obj, obj);
	uint32_t base = io->base, count = io->count;
	kobj_put(o);

	/* Only this thread adds to or frees its own bitmap, so the lookup
	 * stays true until we insert. */
	struct thread *me = thread_current();
	struct io_bitmap *bm = io_lookup(me), *fresh = NULL;
	if (!bm) {
		fresh = kzalloc(sizeof(*fresh));
		paddr_t p = fresh ? pmm_alloc_contig(IOMAP_FRAMES, 1, 0) : 0;
		if (!p) {
			kfree(fresh);
			return -ALDER_ENOMEM;
		}
		fresh->owner = me;
		fresh->bits = phys_to_virt(p);
		memset(fresh->bits, 0xff, TSS_IOMAP_BYTES);
		bm = fresh;
	}

	/* --- POINT OF NO RETURN --- */
	/* Interrupts off: no switch between changing the bits and loading them
	 * into this CPU's TSS, and the hook never sees a half-made bitmap. */
	unsigned long f = irq_save();
	for (uint32_t p = base; p < base + count; p++)
		bm->bits[p / 8] &= (uint8_t) ~(1u << (p % 8));
	uint32_t end = (base + count - 1) / 8 + 1;
	if (end > bm->len)
		bm->len = end;
	bm->gen = __atomic_add_fetch(&io_gen, 1, __ATOMIC_RELAXED);
	if (fresh) {
		spin_lock(&io_lock);
		unsigned b = io_bucket(me);
		fresh->next = io_table[b];
		io_table[b] = fresh;
		__atomic_add_fetch(&io_count, 1, __ATOMIC_RELEASE);
		spin_unlock(&io_lock);
	}
	io_load(this_cpu(), bm);
	irq_restore(f);
	return 0;
}

SYSCALL_REGISTER(SYS_IOPORT_CREATE, sys_ioport_create);
SYSCALL_REGISTER(SYS_IOPORT_ENABLE, sys_ioport_enable);
