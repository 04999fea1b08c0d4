/*
 * Memory objects, address spaces and futexes (system calls in syscall.h).
 *
 * Memory objects (ALDER_OBJ_MEMORY):
 *   SYS_MEM_CREATE(size, flags): anonymous memory, zero-filled lazily on first
 *     touch; size is rounded up to pages, 1 byte .. ALDER_MEM_MAX; flags 0.
 *     -EINVAL (size 0, too big, flags), -ENOMEM. Rights: all.
 *   SYS_MEM_CREATE_PHYS(root, paddr, size, cache): a fixed physical range
 *     (device memory). Needs the root handle (ALDER_OBJ_ROOT, MANAGE); paddr
 *     and size page-aligned; RAM that the kernel manages is refused (-EPERM).
 *     cache: ALDER_CACHE_WB or ALDER_CACHE_UC.
 *   SYS_MEM_CREATE_COW(memory, offset, size): a copy-on-write view: reads see
 *     the source's pages, the first write to a page gives the view its own
 *     copy. Pages of the source the view has not copied still show later
 *     writes to the source (fork makes both sides views of a frozen source).
 *     Needs READ on the source. Offset and size page-aligned and inside it.
 *   SYS_MEM_CREATE_SLICE(memory, offset, size): a window sharing the source's
 *     pages. The new handle has at most the source handle's rights.
 *   Views and slices of views and slices nest at most ALDER_MEM_MAX_DEPTH
 *     levels deep; one more is -EMLINK.
 *
 * Address spaces (ALDER_OBJ_SPACE; ALDER_HANDLE_SELF_SPACE is the caller's):
 *   SYS_SPACE_CREATE(): an empty space (for a new process or thread).
 *   SYS_SPACE_MAP(space, memory, offset, addr, size, flags) -> address:
 *     map [offset, offset+size) of memory at addr (0: the kernel chooses).
 *     flags: ALDER_PROT_* bits. Needs MANAGE on the space, MAP on the memory,
 *     plus WRITE for ALDER_PROT_WRITE and EXECUTE for ALDER_PROT_EXEC.
 *     Page-aligned addr/offset/size, size > 0, inside user space and the
 *     object; an overlap with an existing mapping is -EEXIST.
 *   SYS_SPACE_UNMAP(space, addr, size): unmap every page in the range (holes
 *     are fine); part of a mapping may be unmapped. The TLB is flushed on
 *     every CPU before the call returns.
 *   SYS_SPACE_PROTECT(space, addr, size, prot): every page must be mapped
 *     (-ENOMEM otherwise); prot may not exceed what the mapping was allowed
 *     when it was made (-EACCES). prot 0 makes the pages inaccessible (any
 *     access faults): guard pages.
 *   SYS_SPACE_RW(space, addr, buf, len, write): copy len bytes (at most
 *     ALDER_RW_MAX) between the caller's buf and the space; READ or WRITE
 *     right on the space. Pages are faulted in as if the space touched them.
 *
 * Futexes (on any mapped address, shared memory included; the key is the
 * physical page, so two processes sharing a page share its futexes):
 *   SYS_FUTEX_WAIT(addr, expected, timeout_ns): if the aligned 32-bit word at
 *     addr equals expected, sleep until woken or timeout_ns passes (0, or a
 *     timeout past the end of the clock, = no timeout). 0 woken, -EAGAIN value differed, -ETIMEDOUT, -EINTR (killed),
 *     -EINVAL misaligned, -EFAULT not mapped.
 *   SYS_FUTEX_WAKE(addr, count): wake up to count waiters; returns how many.
 */
#ifndef ALDER_ABI_MEMORY_H
#define ALDER_ABI_MEMORY_H

#define ALDER_PROT_READ 1u
#define ALDER_PROT_WRITE 2u
#define ALDER_PROT_EXEC 4u

#define ALDER_CACHE_WB 0u
#define ALDER_CACHE_UC 1u

#define ALDER_MEM_MAX (64ull << 30)   /* largest memory object */
#define ALDER_RW_MAX (1u << 20)       /* largest SYS_SPACE_RW transfer */
#define ALDER_MEM_MAX_DEPTH 16        /* COW views and slices nest at most this deep */

/* The initial process (init) finds the root handle here. */
#define ALDER_HANDLE_ROOT 1

#endif
