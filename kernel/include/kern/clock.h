/*
 * Monotonic clock in nanoseconds since the clock was started, from the TSC
 * calibrated against the HPET (or the PIT). Same timebase on every CPU.
 */
#ifndef KERN_CLOCK_H
#define KERN_CLOCK_H

#include <kern/types.h>

void clock_init(void);
uint64_t clock_ns(void);
uint64_t clock_tsc_hz(void);
void clock_spin_ns(uint64_t ns); /* busy-wait */

/* Boot milestones, in TSC ticks since power-on, printed by the benchmark. */
enum milestone { MS_KMAIN, MS_MM, MS_SMP, MS_INIT_START, MS_COUNT };
extern uint64_t boot_milestones[MS_COUNT];
static inline void milestone(enum milestone m)
{
	uint32_t lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	boot_milestones[m] = ((uint64_t)hi << 32) | lo;
}

#endif
