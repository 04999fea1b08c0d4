/*
 * umem: typed wrappers for the object-model system calls on handles, memory
 * objects, address spaces and futexes (abi/alder/handle.h, memory.h), plus a
 * small futex-based mutex built on them.
 *
 * Like the wrappers in ulib.h, each is one raw system call that returns the
 * kernel's result unchanged (>= 0, or -ALDER_E*) and passes bad values
 * through untouched, so tests can hand the kernel anything. Handles are
 * sign-extended to 64 bits, as C would pass an int32_t. Not a policy layer:
 * no retries, no caching of handles, no hidden state.
 */
#ifndef ULIB_UMEM_H
#define ULIB_UMEM_H

#include <ulib.h>

#include <alder/handle.h>
#include <alder/memory.h>

#define U_PAGE_SIZE ((uint64_t)4096)

/* ---- Handles ------------------------------------------------------------ */
long u_handle_close(alder_handle_t h);
/* New handle to the same object with rights & mask; returns the handle. */
long u_handle_dup(alder_handle_t h, uint32_t rights_mask);
long u_handle_info(alder_handle_t h, struct alder_handle_info *info);

/* ---- Memory objects (each returns a memory handle) --------------------- */
long u_mem_create(uint64_t size, uint32_t flags);
long u_mem_create_phys(alder_handle_t root, uint64_t paddr, uint64_t size, uint32_t cache);
long u_mem_create_cow(alder_handle_t mem, uint64_t offset, uint64_t size);
long u_mem_create_slice(alder_handle_t mem, uint64_t offset, uint64_t size);

/* ---- Address spaces (ALDER_HANDLE_SELF_SPACE for the caller's) ---------- */
long u_space_create(void);
/* Returns the address mapped at (addr, or the kernel's choice for 0). */
long u_space_map(alder_handle_t space, alder_handle_t mem, uint64_t offset, uint64_t addr, uint64_t size,
		 uint32_t prot);
long u_space_unmap(alder_handle_t space, uint64_t addr, uint64_t size);
long u_space_protect(alder_handle_t space, uint64_t addr, uint64_t size, uint32_t prot);
/* Copy len bytes between buf (ours) and addr in space; write: buf -> space. */
long u_space_rw(alder_handle_t space, uint64_t addr, void *buf, size_t len, bool write);

/* ---- Futexes ------------------------------------------------------------- */
/* timeout_ns 0: no timeout. 0 woken, -EAGAIN, -ETIMEDOUT, -EINTR, ... */
long u_futex_wait(const uint32_t *addr, uint32_t expected, uint64_t timeout_ns);
/* Returns how many waiters were woken. */
long u_futex_wake(const uint32_t *addr, uint32_t count);

/*
 * A mutex on one 32-bit word (Drepper, "Futexes Are Tricky", mutex #2):
 * 0 unlocked, 1 locked, 2 locked and maybe waited for. Initialise to
 * U_MUTEX_INIT. Not recursive; unlock only by the owner. Every access to
 * the word is an atomic read-modify-write or load, so it works between
 * threads on different CPUs and between two mappings of the same page.
 * u_mutex_lock may suspend the caller (in SYS_FUTEX_WAIT); it returns 0, or
 * the futex call's error if one fails other than with -EAGAIN (the lock is
 * then not held). u_mutex_unlock returns 0 or the wake's error.
 */
typedef struct {
	uint32_t word;
} u_mutex_t;
/* clang-format off */
#define U_MUTEX_INIT {0}
/* clang-format on */

long u_mutex_lock(u_mutex_t *m);
long u_mutex_unlock(u_mutex_t *m);

#endif
