/*
 * The kernel's view of physical memory: every physical address below the
 * highest one in the boot memory map is reachable through the direct map.
 */
#ifndef KERN_VM_H
#define KERN_VM_H

#include <kern/types.h>

#define KERNEL_DIRECT_MAP 0xffff800000000000ull /* phys 0 maps here */
#define KERNEL_IMAGE_BASE 0xffffffff80000000ull /* kernel image, -2 GiB */

static inline void *phys_to_virt(paddr_t p)
{
	return (void *)(uintptr_t)(p + KERNEL_DIRECT_MAP);
}

static inline paddr_t virt_to_phys(const void *v)
{
	return (paddr_t)(uintptr_t)v - KERNEL_DIRECT_MAP;
}

#endif
