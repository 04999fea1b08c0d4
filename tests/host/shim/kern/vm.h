/*
 * Host-test stand-in for kern/vm.h: "physical memory" is a buffer the test
 * owns; host_phys_base is where physical address 0 lives in the test process.
 */
#ifndef KERN_VM_H
#define KERN_VM_H

#include <kern/types.h>

extern uint8_t *host_phys_base;

static inline void *phys_to_virt(paddr_t p) { return host_phys_base + p; }
static inline paddr_t virt_to_phys(const void *v) { return (paddr_t)((const uint8_t *)v - host_phys_base); }

#endif
