/*
 * panic(): the kernel's state is corrupt. Stop the other CPUs, print the
 * message and a backtrace, and halt (or, under the test harness, leave QEMU
 * with a failure status so the run does not wait for its timeout).
 */
#include <kern/assert.h>
#include <kern/cpu.h>
#include <kern/log.h>
#include <alder/syscall.h>
#include <arch/apic.h>
#include <arch/cpu.h>
#include <arch/trap.h>

void log_force_unlock(void);
extern uint32_t boot_flags;
static volatile uint32_t panicking;

__noreturn void panic(const char *fmt, ...)
{
	irq_disable();
	if (__atomic_exchange_n(&panicking, 1, __ATOMIC_ACQ_REL)) {
		for (;;)
			cpu_halt(); /* a second CPU panicking: let the first report */
	}
	ipi_broadcast_others(VEC_IPI_HALT);
	log_force_unlock();
	char msg[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_err("PANIC: %s", msg);
	backtrace_print((uint64_t)(uintptr_t)__builtin_frame_address(0), (uint64_t)(uintptr_t)&panic);
	if (boot_flags & ALDER_BOOT_TEST)
		outl(0xf4, 0x11);
	for (;;)
		cpu_halt();
}
