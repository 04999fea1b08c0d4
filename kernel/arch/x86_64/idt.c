/*
 * The IDT (shared by all CPUs) and vector dispatch: exceptions go to
 * trap.c, everything else to the handler registered for the vector.
 */
#include <kern/cpu.h>
#include <kern/log.h>
#include <arch/apic.h>
#include <arch/trap.h>

struct idt_entry {
	uint16_t off_lo;
	uint16_t sel;
	uint8_t ist;
	uint8_t type;
	uint16_t off_mid;
	uint32_t off_hi;
	uint32_t zero;
} __packed;

static struct idt_entry idt[256] __aligned(16);
extern const uint64_t isr_table[256];

static struct {
	irq_handler_t fn;
	void *arg;
} handlers[256];

static void set_gate(unsigned v, uint8_t ist, uint8_t dpl)
{
	uint64_t off = isr_table[v];
	idt[v] = (struct idt_entry){
		.off_lo = off & 0xffff,
		.sel = GDT_KCODE,
		.ist = ist,
		.type = (uint8_t)(0x8e | (dpl << 5)), /* present, interrupt gate */
		.off_mid = (off >> 16) & 0xffff,
		.off_hi = (uint32_t)(off >> 32),
	};
}

void idt_init(void)
{
	for (unsigned v = 0; v < 256; v++)
		set_gate(v, 0, 0);
	set_gate(8, 1, 0);  /* double fault: IST1 */
	set_gate(2, 2, 0);  /* NMI: IST2 */
	set_gate(18, 3, 0); /* machine check: IST3 */
	idt_load();
}

void idt_load(void)
{
	struct {
		uint16_t limit;
		uint64_t base;
	} __packed idtr = { sizeof(idt) - 1, (uint64_t)(uintptr_t)idt };
	__asm__ volatile("lidt %0" ::"m"(idtr));
}

void irq_set_handler(unsigned vector, irq_handler_t h, void *arg)
{
	handlers[vector].arg = arg;
	__atomic_store_n(&handlers[vector].fn, h, __ATOMIC_RELEASE);
}

void trap_exception(struct trap_frame *f);
void trap_user_return(struct trap_frame *f);

void trap_dispatch(struct trap_frame *f)
{
	if (f->vector < 32) {
		trap_exception(f);
	} else {
		struct cpu *c = this_cpu();
		c->irq_count++;
		irq_handler_t h = __atomic_load_n(&handlers[f->vector].fn, __ATOMIC_ACQUIRE);
		if (h)
			h(f, handlers[f->vector].arg);
		else if (f->vector != VEC_SPURIOUS)
			log_warn("unexpected interrupt vector %lu on CPU %u", f->vector, c->id);
		if (f->vector != VEC_SPURIOUS)
			lapic_eoi();
	}
	trap_user_return(f);
}
