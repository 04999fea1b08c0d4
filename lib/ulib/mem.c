/*
 * Wrappers for the handle, memory-object, address-space and futex system
 * calls (umem.h), and the futex mutex. One raw call per wrapper; argument
 * checking is the kernel's job (tests depend on bad values getting through).
 */
#include <umem.h>

/* Handles travel sign-extended, as the C calling convention would. */
static inline uint64_t h64(alder_handle_t h)
{
	return (uint64_t)(int64_t)h;
}

static inline uint64_t p64(const void *p)
{
	return (uint64_t)(uintptr_t)p;
}

long u_handle_close(alder_handle_t h)
{
	return u_syscall1(SYS_HANDLE_CLOSE, h64(h));
}

long u_handle_dup(alder_handle_t h, uint32_t rights_mask)
{
	return u_syscall2(SYS_HANDLE_DUP, h64(h), rights_mask);
}

long u_handle_info(alder_handle_t h, struct alder_handle_info *info)
{
	return u_syscall2(SYS_HANDLE_INFO, h64(h), p64(info));
}

long u_mem_create(uint64_t size, uint32_t flags)
{
	return u_syscall2(SYS_MEM_CREATE, size, flags);
}

long u_mem_create_phys(alder_handle_t root, uint64_t paddr, uint64_t size, uint32_t cache)
{
	return u_syscall4(SYS_MEM_CREATE_PHYS, h64(root), paddr, size, cache);
}

long u_mem_create_cow(alder_handle_t mem, uint64_t offset, uint64_t size)
{
	return u_syscall3(SYS_MEM_CREATE_COW, h64(mem), offset, size);
}

long u_mem_create_slice(alder_handle_t mem, uint64_t offset, uint64_t size)
{
	return u_syscall3(SYS_MEM_CREATE_SLICE, h64(mem), offset, size);
}

long u_space_create(void)
{
	return u_syscall0(SYS_SPACE_CREATE);
}

long u_space_map(alder_handle_t space, alder_handle_t mem, uint64_t offset, uint64_t addr, uint64_t size,
		 uint32_t prot)
{
	return u_syscall6(SYS_SPACE_MAP, h64(space), h64(mem), offset, addr, size, prot);
}

long u_space_unmap(alder_handle_t space, uint64_t addr, uint64_t size)
{
	return u_syscall3(SYS_SPACE_UNMAP, h64(space), addr, size);
}

long u_space_protect(alder_handle_t space, uint64_t addr, uint64_t size, uint32_t prot)
{
	return u_syscall4(SYS_SPACE_PROTECT, h64(space), addr, size, prot);
}

long u_space_rw(alder_handle_t space, uint64_t addr, void *buf, size_t len, bool write)
{
	return u_syscall5(SYS_SPACE_RW, h64(space), addr, p64(buf), len, write ? 1 : 0);
}

long u_futex_wait(const uint32_t *addr, uint32_t expected, uint64_t timeout_ns)
{
	return u_syscall3(SYS_FUTEX_WAIT, p64(addr), expected, timeout_ns);
}

long u_futex_wake(const uint32_t *addr, uint32_t count)
{
	return u_syscall2(SYS_FUTEX_WAKE, p64(addr), count);
}

/*
 * Drepper's mutex #2. The word goes 0 -> 1 on an uncontended lock; a
 * contender sets it to 2 before sleeping, so the unlocker (which sees 2 when
 * it swaps in 0) knows to wake one waiter. A woken waiter takes the lock
 * as 2, since others may still be asleep.
 */
long u_mutex_lock(u_mutex_t *m)
{
	uint32_t c = 0;

	if (u_atomic_cas(&m->word, &c, 1))
		return 0;
	if (c != 2)
		c = u_atomic_exchange(&m->word, 2);
	while (c != 0) {
		long r = u_futex_wait(&m->word, 2, 0);
		if (r < 0 && r != -ALDER_EAGAIN)
			return r;
		c = u_atomic_exchange(&m->word, 2);
	}
	return 0;
}

long u_mutex_unlock(u_mutex_t *m)
{
	if (u_atomic_exchange(&m->word, 0) == 1)
		return 0;
	long r = u_futex_wake(&m->word, 1);
	return r < 0 ? r : 0;
}
