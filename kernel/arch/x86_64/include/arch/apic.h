/*
 * Local APIC, IOAPIC and the legacy PIC (apic.c, ioapic.c), and bringing up
 * the other CPUs (smp.c).
 */
#ifndef ARCH_APIC_H
#define ARCH_APIC_H

#include <kern/types.h>

struct acpi_info;

void lapic_init_bsp(paddr_t base);
void lapic_init_cpu(void);
uint32_t lapic_id(void);
void lapic_eoi(void);
void lapic_send_ipi(uint32_t apic_id, uint8_t vector);
void lapic_send_init(uint32_t apic_id);
void lapic_send_sipi(uint32_t apic_id, uint8_t page);
/* Arm this CPU's timer to interrupt at (about) the given monotonic ns. */
void lapic_timer_arm(uint64_t deadline_ns);
void lapic_timer_calibrate(void);
extern bool lapic_tsc_deadline;

void pic_disable(void);
void ioapic_init(const struct acpi_info *acpi);
/* Route ISA IRQ (after overrides) to vector on the boot CPU; unmasked. The
 * GSI is then the kernel's: ioapic_route_gsi refuses it. */
int ioapic_route_isa(uint8_t isa_irq, uint8_t vector);

/*
 * Lines for IRQ objects (kernel/generic/irq.c). Vectors come from
 * [IOAPIC_VEC_FIRST, IOAPIC_VEC_END), above the fixed ISA vectors
 * (VEC_IRQ_BASE + 0..15, where the remapped 8259 would also deliver its
 * spurious interrupts) and below the LAPIC's own. All of these are safe in
 * any context (one IRQ-saving leaf lock).
 */
#define IOAPIC_VEC_FIRST 0x30u
#define IOAPIC_VEC_END 0xe0u
#define IOAPIC_LEVEL 1u      /* level-triggered (else edge) */
#define IOAPIC_ACTIVE_LOW 2u /* active low (else high) */
/* True when some IOAPIC serves gsi. */
bool ioapic_gsi_valid(uint32_t gsi);
/* IOAPIC_* flags for gsi from the MADT overrides; ISA (edge, high) for
 * GSIs below 16 without one, PCI (level, low) above. */
unsigned ioapic_gsi_default_flags(uint32_t gsi);
/* Program gsi to deliver vector to the boot CPU with IOAPIC_* flags, left
 * MASKED. -ALDER_EINVAL: no IOAPIC serves it; -ALDER_EBUSY: the kernel
 * routed it for itself (ioapic_route_isa). */
int ioapic_route_gsi(uint32_t gsi, uint8_t vector, unsigned flags);
void ioapic_mask(uint32_t gsi);
void ioapic_unmask(uint32_t gsi);
/* A free vector (next-fit, so a just-freed one is handed out last), or
 * -ALDER_ENOSPC. */
int ioapic_vector_alloc(void);
void ioapic_vector_free(unsigned vector);

void smp_boot_aps(const struct acpi_info *acpi);
/* Send vector to every other online CPU. */
void ipi_broadcast_others(uint8_t vector);
void ipi_send(uint32_t cpu, uint8_t vector);
/* Serve a cross-CPU call addressed to this CPU, if one is pending (for
 * code that waits with interrupts off, e.g. spinning on a lock). */
void smp_call_poll(void);
/* Run fn(arg) on every other CPU and wait for all to finish. "Other" is
 * decided when called: a caller that runs with interrupts on may be on
 * another CPU by then (see smp_call_all). */
void smp_call_others(void (*fn)(void *), void *arg);
/* Run fn(arg) on this CPU, then on every other, with interrupts off
 * throughout (so "this" and "other" stay what they were: every CPU runs it
 * exactly once), and wait for all to finish. */
void smp_call_all(void (*fn)(void *), void *arg);
/* Self-test only: called by smp_call_all between the local call and the
 * others' (NULL otherwise). */
extern void (*smp_call_all_test_hook)(void);

void hpet_init(paddr_t base);
bool hpet_present(void);
uint64_t hpet_read_ns(void);

void serial_init(void);
void serial_putc(char c);
void serial_enable_irq(void);
/* Console input ring (filled by the COM1 interrupt). */
long console_read(char *buf, size_t len); /* blocks until >= 1 byte */

bool fwcfg_read_file(const char *name, char *buf, size_t size, size_t *len_out);
__noreturn void arch_shutdown(unsigned code);

struct cpu;
void gdt_init_cpu(struct cpu *c);
void syscall_init_cpu(void);
void cpu_features_init(void);
void cpu_log_features(void);
void fpu_init_cpu(void);

#endif
