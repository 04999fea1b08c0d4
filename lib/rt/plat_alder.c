/*
 * The Alder platform layer (platform.h): queues, stacks, clock and log
 * through native system calls (abi/alder/syscall.h), formatting through
 * ulib. Raw calls only (u_syscallN); no policy.
 */
#include <ulib.h>

#include <alder/memory.h>

#include "internal.h"

#define SELF ((uint64_t)(int64_t)ALDER_HANDLE_SELF_SPACE)
#define H(h) ((uint64_t)(int64_t)(h))

static bool pow2(uint32_t v)
{
	return v != 0 && (v & (v - 1)) == 0;
}

int rt_plat_queue_create(uint32_t sq_entries, uint32_t cq_entries, struct rt_ring *ring)
{
	struct alder_queue_params p;
	__builtin_memset(&p, 0, sizeof(p));
	long h = u_syscall3(SYS_QUEUE_CREATE, sq_entries, cq_entries, (uint64_t)(uintptr_t)&p);
	if (h < 0)
		return (int)h;

	/* The kernel is trusted, but a layout we do not understand would make
	 * every later access wrong: check it once here. */
	if (p.ring_addr == 0 || p.ring_size < sizeof(struct alder_queue_header)) {
		u_syscall1(SYS_HANDLE_CLOSE, H(h));
		return -ALDER_EPROTO;
	}
	struct alder_queue_header *hdr = (struct alder_queue_header *)(uintptr_t)p.ring_addr;
	uint32_t sq_n = hdr->sq_mask + 1, cq_n = hdr->cq_mask + 1;
	if (!pow2(sq_n) || !pow2(cq_n) || sq_n < sq_entries || cq_n < cq_entries ||
	    hdr->sq_offset < sizeof(*hdr) || hdr->cq_offset < sizeof(*hdr) ||
	    (uint64_t)hdr->sq_offset + (uint64_t)sq_n * sizeof(struct alder_sqe) > p.ring_size ||
	    (uint64_t)hdr->cq_offset + (uint64_t)cq_n * sizeof(struct alder_cqe) > p.ring_size) {
		u_syscall3(SYS_SPACE_UNMAP, SELF, p.ring_addr, p.ring_size);
		u_syscall1(SYS_HANDLE_CLOSE, H(h));
		return -ALDER_EPROTO;
	}
	ring->handle = (alder_handle_t)h;
	ring->hdr = hdr;
	ring->sq = (struct alder_sqe *)(uintptr_t)(p.ring_addr + hdr->sq_offset);
	ring->cq = (struct alder_cqe *)(uintptr_t)(p.ring_addr + hdr->cq_offset);
	ring->sq_entries = sq_n;
	ring->cq_entries = cq_n;
	ring->map_addr = p.ring_addr;
	ring->map_size = p.ring_size;
	ring->plat = NULL;
	return 0;
}

void rt_plat_queue_destroy(struct rt_ring *ring)
{
	/* Closing the handle ends the queue; the mapping is ours to remove. */
	u_syscall3(SYS_SPACE_UNMAP, SELF, ring->map_addr, ring->map_size);
	u_syscall1(SYS_HANDLE_CLOSE, H(ring->handle));
}

long rt_plat_queue_enter(struct rt_ring *ring, uint32_t to_submit, uint32_t min_complete)
{
	/* timeout 0: none (the convention of SYS_FUTEX_WAIT in memory.h). */
	return u_syscall4(SYS_QUEUE_ENTER, H(ring->handle), to_submit, min_complete, 0);
}

/*
 * Stack: one anonymous memory object of guard + size bytes mapped read-write,
 * then the guard made inaccessible with SYS_SPACE_PROTECT(prot 0), so that
 * no later mapping can land in it (an unmapped hole could be reused). The
 * mapping keeps the object alive, so its handle is closed at once.
 */
int rt_plat_stack_alloc(size_t size, struct rt_stack *st)
{
	uint64_t total = (uint64_t)size + RT_STACK_GUARD;
	long mem = u_syscall2(SYS_MEM_CREATE, total, 0);
	if (mem < 0)
		return (int)mem;
	long addr = u_syscall6(SYS_SPACE_MAP, SELF, H(mem), 0, 0, total, ALDER_PROT_READ | ALDER_PROT_WRITE);
	u_syscall1(SYS_HANDLE_CLOSE, H(mem));
	if (addr < 0)
		return (int)addr;
	long r = u_syscall4(SYS_SPACE_PROTECT, SELF, (uint64_t)addr, RT_STACK_GUARD, 0);
	if (r < 0) {
		u_syscall3(SYS_SPACE_UNMAP, SELF, (uint64_t)addr, total);
		return (int)r;
	}
	st->map = (char *)(uintptr_t)addr;
	st->map_size = total;
	st->lo = st->map + RT_STACK_GUARD;
	st->top = st->map + total;
	return 0;
}

void rt_plat_stack_free(struct rt_stack *st)
{
	u_syscall3(SYS_SPACE_UNMAP, SELF, (uint64_t)(uintptr_t)st->map, st->map_size);
}

uint64_t rt_plat_now_ns(void)
{
	uint64_t ns = 0;
	if (u_syscall1(SYS_CLOCK, (uint64_t)(uintptr_t)&ns) < 0)
		return 0;
	return ns;
}

long rt_plat_log_write(const char *buf, size_t len)
{
	return u_syscall2(SYS_LOG, (uint64_t)(uintptr_t)buf, len);
}

int rt_plat_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
	return u_vsnprintf(buf, size, fmt, ap);
}

noreturn void rt_plat_assert_fail(const char *expr, const char *file, int line)
{
	char buf[256];
	int n = u_snprintf(buf, sizeof(buf), "rt: assertion failed: %s at %s:%d\n", expr, file, line);
	if (n > 0)
		u_syscall2(SYS_LOG, (uint64_t)(uintptr_t)buf,
			   (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
	__builtin_trap();
}

long rt_plat_event_create(void)
{
	return u_syscall0(SYS_EVENT_CREATE);
}

long rt_plat_event_signal(alder_handle_t event)
{
	return u_syscall1(SYS_EVENT_SIGNAL, H(event));
}

long rt_plat_handle_close(alder_handle_t h)
{
	return u_syscall1(SYS_HANDLE_CLOSE, H(h));
}

long rt_plat_stream_create(alder_handle_t lanes[2])
{
	return u_syscall1(SYS_STREAM_CREATE, (uint64_t)(uintptr_t)lanes);
}
