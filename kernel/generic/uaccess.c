/* Checked copies between kernel and user memory (kern/uaccess.h). */
#include <kern/uaccess.h>
#include <alder/errno.h>
#include <arch/cpu.h>
#include <arch/paging.h>

int copy_from_user(void *dst, uint64_t usrc, size_t len)
{
	if (!uaccess_range_ok(usrc, len))
		return -ALDER_EFAULT;
	user_access_begin();
	int r = arch_copy_user(dst, (const void *)(uintptr_t)usrc, len);
	user_access_end();
	return r ? -ALDER_EFAULT : 0;
}

int copy_to_user(uint64_t udst, const void *src, size_t len)
{
	if (!uaccess_range_ok(udst, len))
		return -ALDER_EFAULT;
	user_access_begin();
	int r = arch_copy_user((void *)(uintptr_t)udst, src, len);
	user_access_end();
	return r ? -ALDER_EFAULT : 0;
}
