/* Host-test stand-in for arch/cpu.h: the interrupt flag is a variable the
 * test defines (host_irqs_on), so it can check that code restores it. */
#ifndef ARCH_CPU_H
#define ARCH_CPU_H

#include <kern/types.h>

#define RFLAGS_IF (1ul << 9)

extern bool host_irqs_on;

static inline unsigned long irq_save(void)
{
	unsigned long f = host_irqs_on ? RFLAGS_IF : 0;
	host_irqs_on = false;
	return f;
}

static inline void irq_restore(unsigned long f)
{
	if (f & RFLAGS_IF)
		host_irqs_on = true;
}

static inline bool irq_enabled(void) { return host_irqs_on; }

#endif
