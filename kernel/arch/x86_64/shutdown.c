/*
 * Power off. Without AML (later) the only reliable way out under QEMU is the
 * isa-debug-exit device the test harness adds; elsewhere the CPUs halt.
 */
#include <kern/log.h>
#include <arch/apic.h>
#include <arch/cpu.h>
#include <arch/trap.h>

#define DEBUG_EXIT_PORT 0xf4

__noreturn void arch_shutdown(unsigned code)
{
	/* First: moved to another CPU after choosing "the others", we would
	 * halt ourselves and leave a CPU running. */
	irq_disable();
	ipi_broadcast_others(VEC_IPI_HALT);
	/* isa-debug-exit: QEMU exits with status (value << 1) | 1. */
	outl(DEBUG_EXIT_PORT, 0x10 | (code & 0xf));
	log_info("system halted");
	for (;;) {
		irq_disable();
		cpu_halt();
	}
}
