/*
 * Futexes (kern/futex.h). Waiters hang off one of FUTEX_BUCKETS buckets,
 * chosen by the physical address of the word; the bucket's wait-queue lock
 * protects its waiter list. A wake marks the matching waiters and wakes the
 * bucket; sleepers whose key did not match go back to sleep.
 *
 * Known limit: a waiter's page can be unmapped and its frame reused while
 * it sleeps; a wake on the frame's new use then wakes it spuriously (it
 * returns 0 like any spurious wake-up; futex users re-check their word).
 */
#include <kern/futex.h>
#include <kern/list.h>
#include <kern/thread.h>
#include <kern/uaccess.h>
#include <kern/vm.h>
#include <kern/vmspace.h>
#include <kern/waitq.h>
#include <alder/errno.h>

#define FUTEX_BUCKETS 64

struct futex_waiter {
	struct list link;    /* on bucket->waiters, under bucket->wq.lock */
	paddr_t key;
	/* Set (release) by futex_wake, under the lock, after taking the
	 * waiter off the list: its last touch of the waiter, so a waiter
	 * that sees it (acquire) may return without the lock. */
	bool woken;
};

static struct futex_bucket {
	struct waitq wq;
	struct list waiters;
} buckets[FUTEX_BUCKETS];
static bool buckets_ready;

static struct futex_bucket *bucket_for(paddr_t key)
{
	if (!__atomic_load_n(&buckets_ready, __ATOMIC_ACQUIRE)) {
		/* First use (single-threaded enough: the init is idempotent
		 * only before any waiter exists, so do it under a flag). */
		static spinlock_t init_lock = SPINLOCK_INIT;
		unsigned long f = spin_lock_irqsave(&init_lock);
		if (!buckets_ready) {
			for (int i = 0; i < FUTEX_BUCKETS; i++) {
				waitq_init(&buckets[i].wq);
				list_init(&buckets[i].waiters);
			}
			__atomic_store_n(&buckets_ready, true, __ATOMIC_RELEASE);
		}
		spin_unlock_irqrestore(&init_lock, f);
	}
	uint64_t h = (key >> 2) * 0x9e3779b97f4a7c15ull;
	return &buckets[h >> 58];
}

/* The key of the word at uaddr: its physical address (faulting it in). */
static int futex_key(struct vmspace *s, uint64_t uaddr, paddr_t *key)
{
	if (uaddr & 3)
		return -ALDER_EINVAL;
	if (!uaccess_range_ok(uaddr, 4))
		return -ALDER_EFAULT;
	/* Writable mappings get their private copy now, so that the key does
	 * not change when a copy-on-write page is first written. */
	paddr_t p = vmspace_translate(s, uaddr, true);
	if (!p)
		p = vmspace_translate(s, uaddr, false);
	if (!p)
		return -ALDER_EFAULT;
	*key = p;
	return 0;
}

int futex_wait(struct vmspace *s, uint64_t uaddr, uint32_t expected, uint64_t deadline)
{
	paddr_t key;
	int r = futex_key(s, uaddr, &key);
	if (r)
		return r;
	struct futex_bucket *b = bucket_for(key);
	unsigned long f = spin_lock_irqsave(&b->wq.lock);
	/* The word is read under the bucket lock: a waker that changes it and
	 * then calls futex_wake takes the same lock after us. */
	uint32_t now = __atomic_load_n((volatile uint32_t *)phys_to_virt(key), __ATOMIC_SEQ_CST);
	if (now != expected) {
		spin_unlock_irqrestore(&b->wq.lock, f);
		return -ALDER_EAGAIN;
	}
	struct futex_waiter w = { .key = key };
	list_append(&b->waiters, &w.link);
	for (;;) {
		uint32_t why = waitq_sleep_locked(&b->wq, f, deadline);
		if (__atomic_load_n(&w.woken, __ATOMIC_ACQUIRE))
			return 0;
		f = spin_lock_irqsave(&b->wq.lock);
		if (w.woken) {
			r = 0;
			break;
		}
		if (why == WAKE_TIMEOUT) {
			r = -ALDER_ETIMEDOUT;
			break;
		}
		if (why == WAKE_KILL) {
			r = -ALDER_EINTR;
			break;
		}
	}
	if (!w.woken)
		list_remove(&w.link);
	spin_unlock_irqrestore(&b->wq.lock, f);
	return r;
}

long futex_wake(struct vmspace *s, uint64_t uaddr, uint32_t count)
{
	paddr_t key;
	int r = futex_key(s, uaddr, &key);
	if (r)
		return r;
	struct futex_bucket *b = bucket_for(key);
	long n = 0;
	unsigned long f = spin_lock_irqsave(&b->wq.lock);
	list_for_each_safe(it, tmp, &b->waiters) {
		if ((uint32_t)n >= count)
			break;
		struct futex_waiter *w = list_entry(it, struct futex_waiter, link);
		if (w->key != key)
			continue;
		list_remove(&w->link);
		__atomic_store_n(&w->woken, true, __ATOMIC_RELEASE);
		n++;
	}
	if (n)
		waitq_wake_all_locked(&b->wq);
	spin_unlock_irqrestore(&b->wq.lock, f);
	return n;
}
