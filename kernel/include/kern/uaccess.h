/*
 * The only way the kernel touches user memory. Each call checks that the
 * whole range lies below USER_TOP without wrapping, then copies under an
 * exception-table fixup: an unmapped or protected page makes the call return
 * -ALDER_EFAULT instead of faulting the kernel.
 */
#ifndef KERN_UACCESS_H
#define KERN_UACCESS_H

#include <kern/types.h>
#include <arch/paging.h>

/* [uptr, uptr + len) lies in user space, not in the never-mapped first
 * page (an empty range may be anywhere below USER_TOP). */
static inline bool uaccess_range_ok(uint64_t uptr, size_t len)
{
	if (uptr >= USER_TOP || len > USER_TOP - uptr)
		return false;
	return uptr >= PAGE_SIZE || len == 0;
}
int copy_from_user(void *dst, uint64_t usrc, size_t len);
int copy_to_user(uint64_t udst, const void *src, size_t len);

/* Raw copy with fixup (uaccess.S): returns 0 or -1 on fault. No checks. */
int arch_copy_user(void *dst, const void *src, size_t len);

#endif
