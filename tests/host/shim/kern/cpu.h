/*
 * Host-test stand-in for kern/cpu.h: a few fake CPUs. The test defines
 * cpus[], cpu_count and host_cpu, and picks the CPU that "runs" by setting
 * host_cpu.
 */
#ifndef KERN_CPU_H
#define KERN_CPU_H

#include <kern/types.h>

#define MAX_CPUS 4

struct heap_cpu;

struct cpu {
	struct cpu *self;
	uint32_t id;
	struct heap_cpu *heap;
};

extern struct cpu cpus[MAX_CPUS];
extern uint32_t cpu_count;
extern struct cpu *host_cpu;

static inline struct cpu *this_cpu(void) { return host_cpu; }
static inline struct heap_cpu *this_cpu_heap(void) { return host_cpu->heap; }

#endif
