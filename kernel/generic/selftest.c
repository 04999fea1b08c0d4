/*
 * Kernel self-tests: the runner, and the tests of the core that need the
 * real machine (scheduler, SMP, timers, paging, user-copy fixups). Parsers
 * and allocators are tested on the host as well (tests/host).
 */
#include <kern/assert.h>
#include <kern/clock.h>
#include <kern/cpu.h>
#include <kern/heap.h>
#include <kern/ksyms.h>
#include <kern/log.h>
#include <kern/pmm.h>
#include <kern/selftest.h>
#include <kern/string.h>
#include <kern/thread.h>
#include <kern/uaccess.h>
#include <kern/vm.h>
#include <kern/waitq.h>
#include <alder/errno.h>
#include <arch/apic.h>
#include <arch/cpu.h>
#include <arch/paging.h>
#include <arch/trap.h>

extern const struct selftest __selftest_start[], __selftest_end[];

static void out(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void out(const char *fmt, ...)
{
	char line[256];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	klog_write(line, (size_t)n);
}

unsigned selftest_run_all(void)
{
	unsigned n = (unsigned)(__selftest_end - __selftest_start), failed = 0;
	out("[test] PLAN %u", n);
	for (const struct selftest *t = __selftest_start; t < __selftest_end; t++) {
		const char *err = t->fn();
		if (err) {
			out("[test] FAIL kernel.%s: %s", t->name, err);
			failed++;
		} else {
			out("[test] PASS kernel.%s", t->name);
		}
	}
	return failed;
}

/* ---- helpers: run kernel threads and wait for them ---- */

struct join {
	struct waitq wq;
	volatile uint32_t left;
};

static void join_init(struct join *j, uint32_t n)
{
	waitq_init(&j->wq);
	j->left = n;
}

static void join_done(struct join *j)
{
	unsigned long f = spin_lock_irqsave(&j->wq.lock);
	j->left--;
	spin_unlock_irqrestore(&j->wq.lock, f);
	waitq_wake_all(&j->wq);
}

/* Wait up to timeout_ms for every thread; false on timeout. */
static bool join_wait(struct join *j, uint64_t timeout_ms)
{
	uint64_t deadline = clock_ns() + timeout_ms * 1000000u;
	for (;;) {
		unsigned long f = spin_lock_irqsave(&j->wq.lock);
		if (j->left == 0) {
			spin_unlock_irqrestore(&j->wq.lock, f);
			return true;
		}
		if (waitq_sleep_locked(&j->wq, f, deadline) == WAKE_TIMEOUT)
			return j->left == 0;
	}
}

static bool spawn(const char *name, void (*fn)(void *), void *arg, uint32_t pin)
{
	struct thread *t = thread_create_kernel(name, fn, arg, PRIO_DEFAULT);
	if (!t)
		return false;
	t->pin = pin;
	thread_start(t);
	return true;
}

/* ---- tests ---- */

SELFTEST(ksyms)
{
	uint64_t off;
	const char *name = ksym_lookup((uint64_t)(uintptr_t)&selftest_run_all + 3, &off);
	ST_CHECK(name && strcmp(name, "selftest_run_all") == 0);
	ST_CHECK(off == 3);
	return NULL;
}

SELFTEST(pmm_balance)
{
	size_t before = pmm_free_frames();
	paddr_t f[64];
	for (int i = 0; i < 64; i++) {
		f[i] = pmm_alloc();
		ST_CHECK(f[i] && (f[i] & (PAGE_SIZE - 1)) == 0);
	}
	ST_CHECK(pmm_free_frames() == before - 64);
	for (int i = 0; i < 64; i++)
		pmm_free(f[i]);
	ST_CHECK(pmm_free_frames() == before);
	paddr_t c = pmm_alloc_contig(8, 8, 1ull << 32);
	ST_CHECK(c && (c & (8 * PAGE_SIZE - 1)) == 0 && c < (1ull << 32));
	pmm_free_contig(c, 8);
	ST_CHECK(pmm_free_frames() == before);
	return NULL;
}

SELFTEST(heap)
{
	void *p[32];
	for (int i = 0; i < 32; i++) {
		p[i] = kmalloc((size_t)(i * 97 + 1));
		ST_CHECK(p[i] && ((uintptr_t)p[i] & 15) == 0);
		memset(p[i], i, (size_t)(i * 97 + 1));
	}
	for (int i = 0; i < 32; i++) {
		ST_CHECK(((uint8_t *)p[i])[i * 97] == (uint8_t)i);
		kfree(p[i]);
	}
	void *big = kzalloc(3 * PAGE_SIZE);
	ST_CHECK(big && ((uint8_t *)big)[2 * PAGE_SIZE] == 0);
	kfree(big);
	return NULL;
}

/*
 * The heap's magazines (debug off) under real concurrency: two threads per
 * CPU allocate objects of every class, swap each into a shared table and
 * free what they take out (so most objects are freed on another CPU than
 * the one that allocated them), while this thread makes the other CPUs do
 * the same in interrupt context (cross-CPU calls). Every object is checked
 * when freed; afterwards heap_trim() must bring the heap back exactly.
 */
#define MAGTEST_SLOTS 64
#define MAGTEST_OPS 3000

struct magtest {
	void *slots[MAGTEST_SLOTS]; /* swapped with __atomic_exchange_n */
	uint32_t bad;		    /* objects found damaged (atomic) */
	struct join join;
};

/* An object: its size and a tag, then the tag's low byte to the end. */
static void *magtest_new(uint32_t tag)
{
	uint32_t size = 8 + (tag * 2654435761u) % (2048 - 8 + 1);
	uint8_t *p = kmalloc(size);
	if (!p)
		return NULL;
	memset(p, (uint8_t)tag, size);
	((uint32_t *)p)[0] = size;
	((uint32_t *)p)[1] = tag;
	return p;
}

static void magtest_free(struct magtest *t, uint8_t *p)
{
	uint32_t size = ((uint32_t *)p)[0], tag = ((uint32_t *)p)[1];
	bool ok = size >= 8 && size <= 2048;
	for (uint32_t i = 8; ok && i < size; i++)
		ok = p[i] == (uint8_t)tag;
	if (!ok)
		__atomic_add_fetch(&t->bad, 1, __ATOMIC_RELAXED);
	kfree(p);
}

static void magtest_swap(struct magtest *t, uint32_t tag)
{
	void *p = magtest_new(tag);
	if (!p) {
		__atomic_add_fetch(&t->bad, 1, __ATOMIC_RELAXED);
		return;
	}
	void *old = __atomic_exchange_n(&t->slots[tag % MAGTEST_SLOTS], p, __ATOMIC_ACQ_REL);
	if (old)
		magtest_free(t, old);
}

static void magtest_thread(void *arg)
{
	struct magtest *t = arg;
	uint32_t tag = this_cpu()->id * 7919u + 1;
	for (int i = 0; i < MAGTEST_OPS; i++) {
		tag = tag * 1103515245u + 12345u;
		magtest_swap(t, tag >> 8);
		if (i % 64 == 0) /* a burst through one CPU's magazines */
			for (int k = 0; k < 24; k++)
				magtest_free(t, magtest_new(tag + (uint32_t)k));
	}
	join_done(&t->join);
}

static void magtest_call(void *arg)
{
	uint32_t tag = (uint32_t)clock_ns() ^ (this_cpu()->id << 20);
	for (int k = 0; k < 8; k++)
		magtest_swap(arg, tag + (uint32_t)k * 40503u);
}

static const char *magtest_run(struct magtest *t)
{
	size_t cached = 0;
	uint32_t n = 2 * cpu_count;
	join_init(&t->join, n);
	for (uint32_t i = 0; i < n; i++)
		ST_CHECK(spawn("magtest", magtest_thread, t, i % cpu_count + 1));
	for (int r = 0; r < 40; r++) {
		struct heap_stats st;
		smp_call_others(magtest_call, t);
		thread_sleep_until(clock_ns() + 200000u);
		heap_get_stats(&st);
		cached = MAX(cached, st.cached);
	}
	ST_CHECK(join_wait(&t->join, 30000));
	for (int i = 0; i < MAGTEST_SLOTS; i++)
		if (t->slots[i])
			magtest_free(t, __atomic_exchange_n(&t->slots[i], NULL, __ATOMIC_ACQ_REL));
	ST_CHECK(__atomic_load_n(&t->bad, __ATOMIC_RELAXED) == 0);
	ST_CHECK(cached > 0); /* the magazines were in use */
	return NULL;
}

/* Bytes and frames the heap holds once its threads are gone and trimmed. */
static void magtest_settle(struct heap_stats *st)
{
	thread_sleep_until(clock_ns() + 20000000u); /* dead threads are freed */
	heap_trim();
	heap_get_stats(st);
}

SELFTEST(heap_magazines)
{
	static struct magtest t;
	struct heap_stats s0, s1;
	bool was = heap_set_debug(false);
	const char *err = NULL;
	/* Round 0 warms up the caches its threads need (thread structs). */
	for (int round = 0; round < 2 && !err; round++) {
		memset(&t, 0, sizeof(t));
		if (round == 1)
			magtest_settle(&s0);
		err = magtest_run(&t);
	}
	magtest_settle(&s1);
	heap_set_debug(was);
	if (err)
		return err;
	ST_CHECK(s0.cached == 0 && s1.cached == 0);
	ST_CHECK(s1.bytes_in_use == s0.bytes_in_use);
	ST_CHECK(s1.frames_in_use == s0.frames_in_use);
	ST_CHECK(s1.allocs - s0.allocs == s1.frees - s0.frees);
	return NULL;
}

SELFTEST(paging_map_unmap)
{
	paddr_t frame = pmm_alloc();
	ST_CHECK(frame);
	vaddr_t va = MMIO_REGION + (1ull << 38); /* far from real MMIO windows */
	ST_CHECK(paging_map(kernel_pml4, va, frame, MAP_WRITE) == 0);
	ST_CHECK(paging_map(kernel_pml4, va, frame, MAP_WRITE) == -ALDER_EEXIST);
	*(volatile uint64_t *)(uintptr_t)va = 0x1234abcd;
	ST_CHECK(*(uint64_t *)phys_to_virt(frame) == 0x1234abcd);
	uint64_t pte = paging_lookup(kernel_pml4, va);
	ST_CHECK((pte & PTE_ADDR) == frame && (pte & PTE_W) && (!cpu_has_nx || (pte & PTE_NX)));
	ST_CHECK(paging_unmap(kernel_pml4, va) == frame);
	tlb_shootdown(va, 1);
	ST_CHECK(paging_lookup(kernel_pml4, va) == 0);
	pmm_free(frame);
	return NULL;
}

SELFTEST(kernel_text_readonly)
{
	uint64_t pte = paging_lookup(kernel_pml4, (vaddr_t)(uintptr_t)&selftest_run_all);
	ST_CHECK(pte && !(pte & PTE_W) && !(pte & PTE_NX));
	pte = paging_lookup(kernel_pml4, (vaddr_t)(uintptr_t)&cpus[0]);
	ST_CHECK(pte && (pte & PTE_W) && (!cpu_has_nx || (pte & PTE_NX)));
	pte = paging_lookup(kernel_pml4, (vaddr_t)(uintptr_t)__selftest_start);
	ST_CHECK(pte && !(pte & PTE_W));
	return NULL;
}

SELFTEST(kstack_guard)
{
	/* The page below this thread's stack must be unmapped. */
	struct thread *t = thread_current();
	if (!t->kstack_base)
		return NULL; /* the boot thread runs on the boot stack */
	ST_CHECK(paging_lookup(kernel_pml4, t->kstack_base) != 0);
	ST_CHECK(paging_lookup(kernel_pml4, t->kstack_base - PAGE_SIZE) == 0);
	return NULL;
}

SELFTEST(uaccess_faults)
{
	uint64_t v = 0;
	ST_CHECK(copy_from_user(&v, 0x12345000, 8) == -ALDER_EFAULT); /* unmapped user page */
	ST_CHECK(copy_from_user(&v, 0, 8) == -ALDER_EFAULT);
	ST_CHECK(copy_from_user(&v, (uint64_t)(uintptr_t)&v, 8) == -ALDER_EFAULT); /* kernel */
	ST_CHECK(copy_to_user(USER_TOP - 4, &v, 8) == -ALDER_EFAULT);           /* straddles */
	ST_CHECK(copy_to_user(~0ull - 3, &v, 8) == -ALDER_EFAULT);              /* wraps */
	ST_CHECK(copy_from_user(&v, 0x1000, 0) == 0);
	return NULL;
}

SELFTEST(clock_monotonic)
{
	uint64_t last = clock_ns();
	for (int i = 0; i < 10000; i++) {
		uint64_t now = clock_ns();
		ST_CHECK(now >= last);
		last = now;
	}
	return NULL;
}

SELFTEST(sleep_accuracy)
{
	uint64_t t0 = clock_ns();
	ST_CHECK(thread_sleep_until(t0 + 20000000u) == 0);
	uint64_t slept = clock_ns() - t0;
	ST_CHECK(slept >= 20000000u);
	ST_CHECK(slept < 500000000u);
	return NULL;
}

SELFTEST(waitq_timeout)
{
	struct waitq wq;
	waitq_init(&wq);
	uint64_t t0 = clock_ns();
	unsigned long f = spin_lock_irqsave(&wq.lock);
	ST_CHECK(waitq_sleep_locked(&wq, f, t0 + 5000000u) == WAKE_TIMEOUT);
	ST_CHECK(clock_ns() - t0 >= 5000000u);
	ST_CHECK(list_empty(&wq.waiters));
	return NULL;
}

struct pingpong {
	struct waitq wq;
	volatile int turn;   /* under wq.lock */
	int rounds;
	struct join join;
};

static void ponger(void *arg)
{
	struct pingpong *pp = arg;
	for (int i = 0; i < pp->rounds; i++) {
		unsigned long f = spin_lock_irqsave(&pp->wq.lock);
		while (pp->turn != 1) {
			waitq_sleep_locked(&pp->wq, f, 0);
			f = spin_lock_irqsave(&pp->wq.lock);
		}
		pp->turn = 0;
		spin_unlock_irqrestore(&pp->wq.lock, f);
		waitq_wake_all(&pp->wq);
	}
	join_done(&pp->join);
}

SELFTEST(waitq_pingpong)
{
	static struct pingpong pp;
	waitq_init(&pp.wq);
	pp.turn = 0;
	pp.rounds = 2000;
	join_init(&pp.join, 1);
	ST_CHECK(spawn("ponger", ponger, &pp, 0));
	uint64_t deadline = clock_ns() + 10000000000ull;
	for (int i = 0; i < pp.rounds; i++) {
		unsigned long f = spin_lock_irqsave(&pp.wq.lock);
		pp.turn = 1;
		spin_unlock_irqrestore(&pp.wq.lock, f);
		waitq_wake_all(&pp.wq);
		f = spin_lock_irqsave(&pp.wq.lock);
		while (pp.turn != 0) {
			if (waitq_sleep_locked(&pp.wq, f, deadline) == WAKE_TIMEOUT)
				return "ping-pong stalled";
			f = spin_lock_irqsave(&pp.wq.lock);
		}
		spin_unlock_irqrestore(&pp.wq.lock, f);
	}
	ST_CHECK(join_wait(&pp.join, 5000));
	return NULL;
}

/* Threads pinned to every CPU; each must see all the others running at
 * the same time (published CPU ids while spinning). */
struct together {
	volatile uint32_t running[MAX_CPUS];
	volatile uint32_t seen_all[MAX_CPUS];
	struct join join;
};

static void together_fn(void *arg)
{
	struct together *tg = arg;
	uint32_t me = this_cpu()->id;
	__atomic_store_n(&tg->running[me], 1, __ATOMIC_SEQ_CST);
	uint64_t end = clock_ns() + 2000000000ull;
	while (clock_ns() < end) {
		uint32_t n = 0;
		for (uint32_t i = 0; i < cpu_count; i++)
			n += __atomic_load_n(&tg->running[i], __ATOMIC_SEQ_CST);
		if (n == cpu_count) {
			tg->seen_all[me] = 1;
			break;
		}
		cpu_relax();
	}
	/* Stay "running" a little so slower CPUs can see us. */
	clock_spin_ns(20000000u);
	join_done(&tg->join);
}

SELFTEST(smp_concurrent)
{
	static struct together tg;
	memset((void *)&tg, 0, sizeof(tg));
	join_init(&tg.join, cpu_count);
	for (uint32_t i = 0; i < cpu_count; i++)
		ST_CHECK(spawn("together", together_fn, &tg, i + 1));
	ST_CHECK(join_wait(&tg.join, 10000));
	for (uint32_t i = 0; i < cpu_count; i++)
		ST_CHECK(tg.seen_all[i]);
	return NULL;
}

struct counter {
	spinlock_t lock;
	uint64_t value; /* under lock */
	uint32_t cpus_seen;
	struct join join;
};

static void counter_fn(void *arg)
{
	struct counter *c = arg;
	for (int i = 0; i < 20000; i++) {
		unsigned long f = spin_lock_irqsave(&c->lock);
		c->value++;
		c->cpus_seen |= 1u << this_cpu()->id;
		spin_unlock_irqrestore(&c->lock, f);
	}
	join_done(&c->join);
}

SELFTEST(spinlock_contention)
{
	static struct counter c;
	c.lock = (spinlock_t)SPINLOCK_INIT;
	c.value = 0;
	c.cpus_seen = 0;
	const uint32_t n = 4;
	join_init(&c.join, n);
	for (uint32_t i = 0; i < n; i++)
		ST_CHECK(spawn("counter", counter_fn, &c, (i % cpu_count) + 1));
	ST_CHECK(join_wait(&c.join, 20000));
	ST_CHECK(c.value == (uint64_t)n * 20000);
	ST_CHECK(__builtin_popcount(c.cpus_seen) == (int)cpu_count);
	return NULL;
}

/*
 * Spinlocks are FIFO: a CPU that releases a lock while another CPU waits
 * for it, and asks for it again at once, gets it only after the waiter.
 * (A test-and-set lock lets the releasing CPU win almost every time: it
 * still has the line in its cache.) The lock's own ticket counters tell
 * when the helper is queued.
 */
struct fifo {
	spinlock_t lock;
	volatile uint32_t stop;
	uint64_t helper_took; /* under lock */
	uint32_t rounds, overtaken, no_waiter;
	struct join join;
};

static void fifo_helper(void *arg)
{
	struct fifo *fi = arg;
	while (!__atomic_load_n(&fi->stop, __ATOMIC_ACQUIRE)) {
		unsigned long f = spin_lock_irqsave(&fi->lock);
		fi->helper_took++;
		spin_unlock_irqrestore(&fi->lock, f);
	}
	join_done(&fi->join);
}

static void fifo_main(void *arg)
{
	struct fifo *fi = arg;
	for (uint32_t i = 0; i < fi->rounds; i++) {
		unsigned long f = spin_lock_irqsave(&fi->lock);
		uint64_t deadline = clock_ns() + 2000000000ull;
		while (spin_waiters(&fi->lock) == 0 && clock_ns() < deadline)
			cpu_relax();
		if (spin_waiters(&fi->lock) == 0) {
			fi->no_waiter++;
			spin_unlock_irqrestore(&fi->lock, f);
			break;
		}
		uint64_t before = fi->helper_took;
		spin_unlock(&fi->lock);
		spin_lock(&fi->lock); /* queued behind the helper */
		if (fi->helper_took == before)
			fi->overtaken++;
		spin_unlock_irqrestore(&fi->lock, f);
	}
	__atomic_store_n(&fi->stop, 1, __ATOMIC_RELEASE);
	join_done(&fi->join);
}

SELFTEST(spinlock_fifo)
{
	if (cpu_count < 2)
		return NULL;
	static struct fifo fi;
	fi.lock = (spinlock_t)SPINLOCK_INIT;
	fi.stop = 0;
	fi.helper_took = 0;
	fi.rounds = 500;
	fi.overtaken = fi.no_waiter = 0;
	join_init(&fi.join, 2);
	ST_CHECK(spawn("fifohelper", fifo_helper, &fi, 2)); /* pin: 1 + cpu index */
	ST_CHECK(spawn("fifomain", fifo_main, &fi, 1));
	ST_CHECK(join_wait(&fi.join, 20000));
	ST_CHECK(fi.no_waiter == 0);
	ST_CHECK(fi.overtaken == 0);
	ST_CHECK(fi.helper_took >= fi.rounds);
	return NULL;
}

static volatile uint32_t call_hits[MAX_CPUS];
static void call_fn(void *arg) { __atomic_add_fetch(&call_hits[this_cpu()->id], 1, __ATOMIC_SEQ_CST); }

SELFTEST(ipi_call)
{
	memset((void *)call_hits, 0, sizeof(call_hits));
	unsigned long f = irq_save(); /* stay on one CPU: "others" must not change */
	for (int round = 0; round < 50; round++)
		smp_call_others(call_fn, NULL);
	uint32_t me = this_cpu()->id;
	irq_restore(f);
	for (uint32_t i = 0; i < cpu_count; i++)
		ST_CHECK(call_hits[i] == (i == me ? 0u : 50u));
	return NULL;
}

/* Two frames holding 0xaaaa and 0xbbbb, for the TLB tests (false: no
 * memory). */
static bool tlb_frames(paddr_t *a, paddr_t *b)
{
	*a = pmm_alloc();
	*b = pmm_alloc();
	if (!*a || !*b) {
		if (*a)
			pmm_free(*a);
		if (*b)
			pmm_free(*b);
		return false;
	}
	*(uint64_t *)phys_to_virt(*a) = 0xaaaa;
	*(uint64_t *)phys_to_virt(*b) = 0xbbbb;
	return true;
}

/* Unmap a TLB test's page everywhere and free its frames. */
static void tlb_frames_release(vaddr_t va, paddr_t a, paddr_t b)
{
	paging_unmap(kernel_pml4, va);
	tlb_shootdown(va, 1);
	pmm_free(a);
	pmm_free(b);
}

/* CPU B caches a translation; A remaps the page and shoots the TLB down;
 * B must see the new frame. */
struct tlbtest {
	vaddr_t va;
	volatile int phase;
	volatile uint64_t seen_before, seen_after;
	struct join join;
};

static void tlb_reader(void *arg)
{
	struct tlbtest *tt = arg;
	tt->seen_before = *(volatile uint64_t *)(uintptr_t)tt->va;
	__atomic_store_n(&tt->phase, 1, __ATOMIC_SEQ_CST);
	uint64_t end = clock_ns() + 5000000000ull;
	while (__atomic_load_n(&tt->phase, __ATOMIC_SEQ_CST) != 2 && clock_ns() < end)
		(void)*(volatile uint64_t *)(uintptr_t)tt->va; /* keep the entry hot */
	tt->seen_after = *(volatile uint64_t *)(uintptr_t)tt->va;
	join_done(&tt->join);
}

SELFTEST(tlb_shootdown)
{
	if (cpu_count < 2)
		return NULL;
	static struct tlbtest tt;
	paddr_t a, b;
	ST_CHECK(tlb_frames(&a, &b));
	tt.va = MMIO_REGION + (1ull << 38) + 16 * PAGE_SIZE;
	tt.phase = 0;
	ST_CHECK(paging_map(kernel_pml4, tt.va, a, MAP_WRITE) == 0);
	join_init(&tt.join, 1);
	uint32_t other = this_cpu()->id == 0 ? 2 : 1; /* pin: 1 + cpu index */
	ST_CHECK(spawn("tlbreader", tlb_reader, &tt, other));
	uint64_t end = clock_ns() + 5000000000ull;
	while (__atomic_load_n(&tt.phase, __ATOMIC_SEQ_CST) != 1 && clock_ns() < end)
		sched_yield();
	ST_CHECK(tt.phase == 1);
	/* Remap without flushing the reader's CPU through any other path. */
	ST_CHECK(paging_unmap(kernel_pml4, tt.va) == a);
	ST_CHECK(paging_map(kernel_pml4, tt.va, b, MAP_WRITE) == 0);
	tlb_shootdown(tt.va, 1);
	__atomic_store_n(&tt.phase, 2, __ATOMIC_SEQ_CST);
	ST_CHECK(join_wait(&tt.join, 5000));
	tlb_frames_release(tt.va, a, b);
	ST_CHECK(tt.seen_before == 0xaaaa);
	ST_CHECK(tt.seen_after == 0xbbbb);
	return NULL;
}

/*
 * The caller of tlb_shootdown may be preempted and moved to another CPU
 * between its local flush and the other CPUs': that CPU, which the remote
 * part skips as "the caller's", must still be flushed. A thread on CPU B
 * caches a translation, moves to A, remaps the page and shoots down; an
 * interrupt (a reschedule IPI to itself, sent by the hook) arrives right
 * after the local flush, with the thread pinned back to B. On B it must
 * see the new frame.
 */
static struct {
	vaddr_t va;
	uint32_t a_pin, b_pin; /* 1 + CPU index */
	volatile uint64_t seen_before, seen_after;
	volatile uint32_t on_b_after;
	struct join join;
} tm;

static void tm_hook(void)
{
	sched_set_pin(thread_current(), tm.b_pin);
	ipi_send(this_cpu()->id, VEC_IPI_RESCHED);
}

/* Wait until the current thread runs on CPU pin - 1 (it was just pinned). */
static bool tm_reach(uint32_t pin)
{
	uint64_t end = clock_ns() + 2000000000ull;
	for (;;) {
		unsigned long f = irq_save();
		bool there = this_cpu()->id == pin - 1;
		irq_restore(f);
		if (there)
			return true;
		if (clock_ns() > end)
			return false;
		sched_yield();
	}
}

static void tm_shooter(void *arg)
{
	paddr_t b = (paddr_t)(uintptr_t)arg;
	tm.seen_before = *(volatile uint64_t *)(uintptr_t)tm.va; /* on B: B caches it */
	sched_set_pin(thread_current(), tm.a_pin);
	if (!tm_reach(tm.a_pin))
		goto out;
	paging_unmap(kernel_pml4, tm.va);
	if (paging_map(kernel_pml4, tm.va, b, MAP_WRITE) != 0)
		goto out;
	smp_call_all_test_hook = tm_hook;
	tlb_shootdown(tm.va, 1);
	smp_call_all_test_hook = NULL;
	tm.on_b_after = tm_reach(tm.b_pin);
	tm.seen_after = *(volatile uint64_t *)(uintptr_t)tm.va;
out:
	join_done(&tm.join);
}

SELFTEST(tlb_shootdown_caller_moves)
{
	if (cpu_count < 2)
		return NULL;
	paddr_t a, b;
	ST_CHECK(tlb_frames(&a, &b));
	tm.va = MMIO_REGION + (1ull << 38) + 32 * PAGE_SIZE;
	tm.seen_before = tm.seen_after = 0;
	tm.on_b_after = 0;
	unsigned long f = irq_save();
	uint32_t me = this_cpu()->id;
	irq_restore(f);
	tm.a_pin = me + 1;
	tm.b_pin = (me == 0 ? 1 : 0) + 1;
	ST_CHECK(paging_map(kernel_pml4, tm.va, a, MAP_WRITE) == 0);
	join_init(&tm.join, 1);
	ST_CHECK(spawn("tlbmover", tm_shooter, (void *)(uintptr_t)b, tm.b_pin));
	ST_CHECK(join_wait(&tm.join, 5000));
	tlb_frames_release(tm.va, a, b);
	ST_CHECK(tm.seen_before == 0xaaaa);
	ST_CHECK(tm.on_b_after);
	ST_CHECK(tm.seen_after == 0xbbbb);
	return NULL;
}

static void busy_fn(void *arg)
{
	struct counter *c = arg;
	uint64_t end = clock_ns() + 30000000u;
	while (clock_ns() < end) {
		unsigned long f = spin_lock_irqsave(&c->lock);
		c->cpus_seen |= 1u << this_cpu()->id;
		spin_unlock_irqrestore(&c->lock, f);
	}
	join_done(&c->join);
}

SELFTEST(sched_spreads_load)
{
	static struct counter c;
	c.lock = (spinlock_t)SPINLOCK_INIT;
	c.cpus_seen = 0;
	join_init(&c.join, 4);
	for (int i = 0; i < 4; i++)
		ST_CHECK(spawn("busy", busy_fn, &c, 0));
	ST_CHECK(join_wait(&c.join, 10000));
	ST_CHECK(__builtin_popcount(c.cpus_seen) == (int)cpu_count);
	return NULL;
}

struct gate {
	struct waitq wq;
	bool open; /* under wq.lock */
	struct join join;
};

static void gated_fn(void *arg)
{
	struct gate *g = arg;
	unsigned long f = spin_lock_irqsave(&g->wq.lock);
	while (!g->open) {
		waitq_sleep_locked(&g->wq, f, 0);
		f = spin_lock_irqsave(&g->wq.lock);
	}
	spin_unlock_irqrestore(&g->wq.lock, f);
	join_done(&g->join);
}

SELFTEST(thread_leak)
{
	static struct gate g;
	size_t before = 0;
	/* All 8 threads of a round are alive at once (they wait at the gate),
	 * so round 0 warms the stack and slab caches to their final size; from
	 * then on every round must leave the free-frame count unchanged. */
	for (int round = 0; round < 10; round++) {
		waitq_init(&g.wq);
		g.open = false;
		join_init(&g.join, 8);
		for (int i = 0; i < 8; i++)
			ST_CHECK(spawn("gated", gated_fn, &g, 0));
		thread_sleep_until(clock_ns() + 2000000u);
		unsigned long f = spin_lock_irqsave(&g.wq.lock);
		g.open = true;
		spin_unlock_irqrestore(&g.wq.lock, f);
		waitq_wake_all(&g.wq);
		ST_CHECK(join_wait(&g.join, 5000));
		thread_sleep_until(clock_ns() + 5000000u); /* let them finish exiting */
		if (round == 0)
			before = pmm_free_frames();
	}
	ST_CHECK(pmm_free_frames() == before);
	return NULL;
}
