/*
 * IRQ objects (ALDER_OBJ_IRQ, abi/alder/hw.h): drivers' claims on interrupt
 * lines, the ALDER_OP_IRQ_WAIT queue operation, SYS_IRQ_CREATE and
 * SYS_IRQ_ACK. The answer/unmask policy is written down in hw.h; this file
 * implements it. Not for kernel-internal interrupts (those use
 * irq_set_handler directly) and not for deciding which device raised a
 * shared interrupt (that is the drivers', later the kernlets', business).
 *
 * Structure. A line (struct irq_line) is one routed GSI: a vector, the
 * IOAPIC flags, the claimants, and the round in progress. Lines live in a
 * static table and are never freed, so the interrupt handler and the wait
 * records may point at them without reference counts; a slot is reused for
 * another GSI only after its last claimant left. An IRQ object (struct
 * irq_obj) is one claimant; a wait record (struct irq_wait) is one
 * ALDER_OP_IRQ_WAIT in flight, linked on its claimant until it completes.
 * Wait records hold no reference to the IRQ object, so closing the last
 * handle destroys the object (and cancels its waits) even while waits are
 * pending.
 *
 * Rounds. An interrupt on an idle line starts a round: seq += 1, every
 * pending wait of every claimant completes with seq, and each claimant that
 * existed then (a "participant": base < seq) owes one answer. When the last
 * answer is in, the round is resolved (irq_resolve_locked). Level lines are
 * masked for the whole round; edge lines stay unmasked until a second edge
 * arrives during the round, which masks the line and sets `again`, so the
 * edge is replayed as the next round instead of lost.
 *
 * Locks: irq_lines_lock (assigning lines to GSIs, claim/release) before
 * line->lock (everything about one line; taken by its interrupt handler).
 * Both IRQ-saving. Under line->lock we call kop_complete (queue.c's lock is
 * a leaf) and the IOAPIC (a leaf); our release callback only frees memory.
 */
#include <kern/assert.h>
#include <kern/heap.h>
#include <kern/kqueue.h>
#include <kern/list.h>
#include <kern/log.h>
#include <kern/object.h>
#include <kern/process.h>
#include <kern/selftest.h>
#include <kern/spinlock.h>
#include <kern/syscall.h>
#include <alder/errno.h>
#include <alder/handle.h>
#include <alder/hw.h>
#include <alder/queue.h>
#include <alder/syscall.h>
#include <arch/apic.h>
#include <arch/trap.h>

#define ARGS uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5
#define IRQ_LINES_MAX (IOAPIC_VEC_END - IOAPIC_VEC_FIRST)

enum irq_line_state {
	LINE_FREE,   /* no claimant; not routed */
	LINE_IDLE,   /* unmasked, waiting for an interrupt */
	LINE_ROUND,  /* interrupt seq delivered, answers outstanding */
	LINE_PARKED, /* every claimant declined seq: masked until a new claim */
};

struct irq_line {
	spinlock_t lock; /* IRQ-saving; protects every field below */
	enum irq_line_state state;
	/* Set while claimed; changed only with irq_lines_lock held as well. */
	uint32_t gsi;
	uint32_t vector;
	unsigned flags; /* IOAPIC_LEVEL, IOAPIC_ACTIVE_LOW */
	uint32_t nclaims;
	struct list claims; /* struct irq_obj.link */
	/* The rounds. seq only grows, over the slot's whole life. */
	uint64_t seq;	     /* sequence number of the last interrupt */
	uint32_t unanswered; /* ROUND: participants yet to answer seq */
	bool acked;	     /* ROUND: a participant acked seq */
	bool again;	     /* ROUND, edge: another edge came (line masked) */
	bool masked;	     /* as programmed in the IOAPIC */
	bool warned;	     /* "nobody claimed" logged since routed */
};

struct irq_obj {
	struct kobj obj;
	struct irq_line *line; /* immutable */
	/* Under line->lock: */
	struct list link;  /* line->claims */
	struct list waits; /* struct irq_wait.link: pending waits */
	uint64_t base;	   /* line->seq when claimed: older rounds are not ours */
	uint64_t answered; /* last seq this claimant answered */
};

struct irq_wait {
	struct kop kop;
	struct irq_line *line; /* immutable; static storage */
	/* Under line->lock: */
	struct list link; /* on the claimant's waits while pending */
	bool cancelled;	  /* cancel came before the wait was linked */
};

static spinlock_t irq_lines_lock = SPINLOCK_INIT;
static struct irq_line irq_lines[IRQ_LINES_MAX];

static void irq_set_masked_locked(struct irq_line *l, bool masked)
{
	assert(spin_held(&l->lock));
	if (l->masked == masked)
		return;
	if (masked)
		ioapic_mask(l->gsi);
	else
		ioapic_unmask(l->gsi);
	l->masked = masked;
}

/* Complete every pending wait of c with result. */
static void irq_complete_waits_locked(struct irq_obj *c, int64_t result)
{
	list_for_each_safe (it, tmp, &c->waits) {
		struct irq_wait *w = list_entry(it, struct irq_wait, link);
		list_remove(&w->link);
		kop_complete(&w->kop, result, 0, 0); /* may free w (release) */
	}
}

/* Deliver the next interrupt: a new round. */
static void irq_begin_round_locked(struct irq_line *l)
{
	/* Level: masked until answered (it would fire again at once). Edge:
	 * open, so that a further edge is seen (and remembered) not lost. */
	irq_set_masked_locked(l, (l->flags & IOAPIC_LEVEL) != 0);
	l->seq++;
	l->state = LINE_ROUND;
	l->acked = false;
	l->again = false;
	l->unanswered = l->nclaims; /* everyone claimed now is a participant */
	list_for_each (it, &l->claims) {
		struct irq_obj *c = list_entry(it, struct irq_obj, link);
		irq_complete_waits_locked(c, (int64_t)l->seq);
	}
}

/* The last answer for l->seq is in (or the last participant left). */
static void irq_resolve_locked(struct irq_line *l)
{
	assert(l->state == LINE_ROUND && l->unanswered == 0 && l->nclaims > 0);
	bool newcomers = false;
	list_for_each (it, &l->claims)
		newcomers |= list_entry(it, struct irq_obj, link)->base >= l->seq;
	if (l->acked || newcomers) {
		/* Handled, or someone who never saw it may own the device. */
		if (l->again) {
			irq_begin_round_locked(l);
		} else {
			l->state = LINE_IDLE;
			irq_set_masked_locked(l, false);
		}
		return;
	}
	/* Every claimant said "not mine": nobody will make the device stop. */
	l->state = LINE_PARKED;
	l->again = false;
	irq_set_masked_locked(l, true);
	if (!l->warned) {
		l->warned = true;
		log_warn("irq: GSI %u: interrupt %lu declined by all %u claimant(s); line left masked",
			 l->gsi, l->seq, l->nclaims);
	}
}

/*
 * The handler of every vector irq.c routes. arg is a line, possibly one
 * that has since been released or re-routed under another vector: only a
 * line that is claimed under this very vector acts.
 */
static void irq_isr(struct trap_frame *f, void *arg)
{
	struct irq_line *l = arg;
	spin_lock(&l->lock); /* interrupts are off in handlers */
	if (l->state == LINE_IDLE && l->vector == f->vector) {
		irq_begin_round_locked(l);
	} else if (l->state == LINE_ROUND && !(l->flags & IOAPIC_LEVEL) && l->vector == f->vector) {
		l->again = true; /* replayed when the round is resolved */
		irq_set_masked_locked(l, true);
	} else if (l->state != LINE_FREE && l->vector == f->vector) {
		/* Level line during a round, or parked: should be masked already.
		 * A stray delivery (raced with the mask) carries no news. */
		irq_set_masked_locked(l, true);
	}
	spin_unlock(&l->lock);
}

/* ---- IRQ objects --------------------------------------------------------- */

static void irq_obj_destroy(struct kobj *o)
{
	struct irq_obj *c = container_of(o, struct irq_obj, obj);
	struct irq_line *l = c->line;
	int free_vector = -1;

	unsigned long f = spin_lock_irqsave(&irq_lines_lock);
	spin_lock(&l->lock);
	irq_complete_waits_locked(c, -ALDER_ECANCELED);
	list_remove(&c->link);
	l->nclaims--;
	bool owed = l->state == LINE_ROUND && c->base < l->seq && c->answered != l->seq;
	if (l->nclaims == 0) {
		/* Last claimant: unroute. The vector's handler stays irq_isr with
		 * this (static) line as its argument -- clearing it would race
		 * with a delivery in flight reading the pair -- and a delivery
		 * finds the slot FREE, or reused under another vector, and does
		 * nothing. The next claim of the vector sets the handler again. */
		irq_set_masked_locked(l, true);
		free_vector = (int)l->vector;
		l->state = LINE_FREE;
		l->again = false;
	} else if (owed) {
		/* Leaving without answering counts as "not mine". */
		if (--l->unanswered == 0)
			irq_resolve_locked(l);
	}
	spin_unlock(&l->lock);
	spin_unlock_irqrestore(&irq_lines_lock, f);
	if (free_vector >= 0)
		ioapic_vector_free((unsigned)free_vector);
	kfree(c);
}

static const struct kobj_ops irq_obj_ops = {"irq", irq_obj_destroy};

/* IOAPIC flags for a claim: the firmware's, with the caller's overrides. */
static unsigned irq_wanted_flags(uint32_t gsi, uint64_t flags)
{
	unsigned r = ioapic_gsi_default_flags(gsi);
	if (flags & ALDER_IRQ_EDGE)
		r &= ~IOAPIC_LEVEL;
	if (flags & ALDER_IRQ_LEVEL)
		r |= IOAPIC_LEVEL;
	if (flags & ALDER_IRQ_HIGH)
		r &= ~IOAPIC_ACTIVE_LOW;
	if (flags & ALDER_IRQ_LOW)
		r |= IOAPIC_ACTIVE_LOW;
	return r;
}

/* Does a line routed with line_flags satisfy the caller's explicit flags? */
static bool irq_flags_compatible(unsigned line_flags, uint64_t flags)
{
	bool level = line_flags & IOAPIC_LEVEL, low = line_flags & IOAPIC_ACTIVE_LOW;
	return !((flags & ALDER_IRQ_EDGE) && level) && !((flags & ALDER_IRQ_LEVEL) && !level) &&
	       !((flags & ALDER_IRQ_HIGH) && low) && !((flags & ALDER_IRQ_LOW) && !low);
}

/*
 * Claim gsi for c: find the line routed for it or route a free slot, then
 * join. Returns 0 or -ALDER_EBUSY / -ALDER_ENOSPC / -ALDER_EINVAL.
 */
static int irq_claim(struct irq_obj *c, uint32_t gsi, uint64_t flags)
{
	int r = 0;
	struct irq_line *l = NULL, *free_slot = NULL;
	int vector = -1;
	unsigned long f = spin_lock_irqsave(&irq_lines_lock);
	for (unsigned i = 0; i < IRQ_LINES_MAX && !l; i++) {
		/* state != FREE and gsi change only under irq_lines_lock. */
		if (irq_lines[i].state != LINE_FREE && irq_lines[i].gsi == gsi)
			l = &irq_lines[i];
		else if (irq_lines[i].state == LINE_FREE && !free_slot)
			free_slot = &irq_lines[i];
	}
	if (l) {
		if (!irq_flags_compatible(l->flags, flags))
			r = -ALDER_EBUSY;
		goto join;
	}
	if (!free_slot) {
		r = -ALDER_ENOSPC;
		goto out;
	}
	vector = ioapic_vector_alloc();
	if (vector < 0) {
		r = vector;
		goto out;
	}
	unsigned want = irq_wanted_flags(gsi, flags);
	r = ioapic_route_gsi(gsi, (uint8_t)vector, want); /* routed masked */
	if (r)
		goto out;
	l = free_slot;
	spin_lock(&l->lock);
	l->gsi = gsi;
	l->vector = (uint32_t)vector;
	l->flags = want;
	l->masked = true;
	l->warned = false;
	l->again = false;
	l->nclaims = 0;
	list_init(&l->claims);
	spin_unlock(&l->lock);
	irq_set_handler((unsigned)vector, irq_isr, l);
	vector = -1; /* the line owns it now */
join:
	if (!r) {
		spin_lock(&l->lock);
		c->line = l;
		c->base = l->seq;
		c->answered = l->seq;
		list_append(&l->claims, &c->link);
		l->nclaims++;
		if (l->state == LINE_FREE || l->state == LINE_PARKED) {
			/* New, or re-armed: the new driver may own the device. */
			l->state = LINE_IDLE;
			irq_set_masked_locked(l, false);
		}
		spin_unlock(&l->lock);
	}
out:
	spin_unlock_irqrestore(&irq_lines_lock, f);
	if (vector >= 0)
		ioapic_vector_free((unsigned)vector);
	return r;
}

static long sys_irq_create(ARGS)
{
	struct handle_table *t = &proc_current()->handles;
	uint64_t gsi = a1, flags = a2;
	if ((int64_t)a0 > INT32_MAX || (int64_t)a0 <= 0)
		return -ALDER_EBADF;
	struct kobj *root;
	int r = handle_get(t, (alder_handle_t)a0, ALDER_OBJ_ROOT, ALDER_RIGHT_MANAGE, &root, NULL);
	if (r)
		return r;
	kobj_put(root);
	if (gsi > UINT32_MAX || (flags & ~(uint64_t)ALDER_IRQ_FLAGS_ALL) ||
	    (flags & (ALDER_IRQ_EDGE | ALDER_IRQ_LEVEL)) == (ALDER_IRQ_EDGE | ALDER_IRQ_LEVEL) ||
	    (flags & (ALDER_IRQ_HIGH | ALDER_IRQ_LOW)) == (ALDER_IRQ_HIGH | ALDER_IRQ_LOW) ||
	    !ioapic_gsi_valid((uint32_t)gsi))
		return -ALDER_EINVAL;

	struct irq_obj *c = kzalloc(sizeof(*c));
	if (!c)
		return -ALDER_ENOMEM;
	list_init(&c->link);
	list_init(&c->waits);
	r = irq_claim(c, (uint32_t)gsi, flags);
	if (r) {
		kfree(c);
		return r;
	}
	/* Claimed: from here the object's destroy undoes it. */
	kobj_init(&c->obj, ALDER_OBJ_IRQ, &irq_obj_ops);
	long h = handle_install(
	    t, &c->obj, ALDER_RIGHT_READ | ALDER_RIGHT_WRITE | ALDER_RIGHT_TRANSFER | ALDER_RIGHT_DUPLICATE);
	if (h < 0)
		kobj_put(&c->obj);
	return h;
}

static long sys_irq_ack(ARGS)
{
	uint64_t seq = a1, ack = a2;
	if ((int64_t)a0 > INT32_MAX || (int64_t)a0 <= 0)
		return -ALDER_EBADF;
	struct kobj *o;
	int r = handle_get(&proc_current()->handles, (alder_handle_t)a0, ALDER_OBJ_IRQ, ALDER_RIGHT_WRITE, &o,
			   NULL);
	if (r)
		return r;
	struct irq_obj *c = container_of(o, struct irq_obj, obj);
	struct irq_line *l = c->line;
	if (ack > ALDER_IRQ_ACK) {
		r = -ALDER_EINVAL;
		goto out;
	}
	unsigned long f = spin_lock_irqsave(&l->lock);
	if (l->state != LINE_ROUND || seq != l->seq || c->base >= seq || c->answered == seq) {
		r = -ALDER_EINVAL;
	} else {
		c->answered = seq;
		if (ack == ALDER_IRQ_ACK)
			l->acked = true;
		if (--l->unanswered == 0)
			irq_resolve_locked(l);
	}
	spin_unlock_irqrestore(&l->lock, f);
out:
	kobj_put(o);
	return r;
}

SYSCALL_REGISTER(SYS_IRQ_CREATE, sys_irq_create);
SYSCALL_REGISTER(SYS_IRQ_ACK, sys_irq_ack);

/* ---- ALDER_OP_IRQ_WAIT ------------------------------------------------------ */

static void irq_wait_cancel(struct kop *op)
{
	struct irq_wait *w = container_of(op, struct irq_wait, kop);
	struct irq_line *l = w->line; /* w is not touched after kop_complete */
	unsigned long f = spin_lock_irqsave(&l->lock);
	if (list_linked(&w->link)) {
		list_remove(&w->link);
		kop_complete(&w->kop, -ALDER_ECANCELED, 0, 0);
	} else {
		/* Not linked yet (the handler is between kop_begin and linking:
		 * it sees this flag), or already completed (nothing to do). */
		w->cancelled = true;
	}
	spin_unlock_irqrestore(&l->lock, f);
}

static void irq_wait_release(struct kop *op)
{
	kfree(container_of(op, struct irq_wait, kop));
}

static const struct kop_ops irq_wait_ops = {irq_wait_cancel, irq_wait_release};

static int64_t irq_wait_op(struct kop_submit *sub)
{
	const struct alder_sqe *sqe = &sub->sqe;
	if (sqe->args[1] || sqe->args[2] || sqe->args[3])
		return -ALDER_EINVAL;
	struct kobj *o;
	int r = handle_get(&sub->proc->handles, sqe->handle, ALDER_OBJ_IRQ, ALDER_RIGHT_READ, &o, NULL);
	if (r)
		return r;
	struct irq_obj *c = container_of(o, struct irq_obj, obj);
	struct irq_line *l = c->line;
	struct irq_wait *w = kzalloc(sizeof(*w));
	if (!w) {
		kobj_put(o);
		return -ALDER_ENOMEM;
	}
	w->line = l;
	list_init(&w->link);
	if (kop_begin(&w->kop, sub, &irq_wait_ops)) {
		kfree(w);
		kobj_put(o);
		return -ALDER_ECANCELED;
	}
	/* Started: every path below completes w exactly once. */
	uint64_t last = sqe->args[0];
	unsigned long f = spin_lock_irqsave(&l->lock);
	uint64_t after = last > c->base ? last : c->base;
	if (w->cancelled)
		kop_complete(&w->kop, -ALDER_ECANCELED, 0, 0);
	else if (last > l->seq)
		kop_complete(&w->kop, -ALDER_EINVAL, 0, 0);
	else if (l->seq > after)
		kop_complete(&w->kop, (int64_t)l->seq, 0, 0);
	else
		list_append(&c->waits, &w->link); /* c holds its claim: we hold a reference */
	spin_unlock_irqrestore(&l->lock, f);
	kobj_put(o); /* may destroy c, which cancels w */
	return KOP_STARTED;
}

QUEUE_OP_REGISTER(ALDER_OP_IRQ_WAIT, irq_wait_op);

/* ---- Self-test ----------------------------------------------------------------- */

/* The vector allocator hands out distinct vectors in range and takes them back. */
SELFTEST(irq_vectors)
{
	int a = ioapic_vector_alloc(), b = ioapic_vector_alloc();
	ST_CHECK(a >= (int)IOAPIC_VEC_FIRST && a < (int)IOAPIC_VEC_END);
	ST_CHECK(b >= (int)IOAPIC_VEC_FIRST && b < (int)IOAPIC_VEC_END && b != a);
	ioapic_vector_free((unsigned)a);
	int c = ioapic_vector_alloc();
	ST_CHECK(c != a); /* next-fit: a just-freed vector is not reused at once */
	ioapic_vector_free((unsigned)b);
	ioapic_vector_free((unsigned)c);
	return NULL;
}
