/*
 * Local APIC (xAPIC, memory-mapped): per-CPU init, EOI, IPIs and the timer.
 * The timer uses TSC-deadline mode when the CPU has it, else one-shot mode
 * calibrated against the TSC.
 */
#include <kern/assert.h>
#include <kern/clock.h>
#include <kern/cpu.h>
#include <kern/log.h>
#include <arch/apic.h>
#include <arch/cpu.h>
#include <arch/paging.h>
#include <arch/trap.h>

#define LAPIC_ID 0x20
#define LAPIC_TPR 0x80
#define LAPIC_EOI 0xb0
#define LAPIC_SVR 0xf0
#define LAPIC_ICR_LO 0x300
#define LAPIC_ICR_HI 0x310
#define LAPIC_LVT_TIMER 0x320
#define LAPIC_LVT_LINT0 0x350
#define LAPIC_LVT_LINT1 0x360
#define LAPIC_LVT_ERROR 0x370
#define LAPIC_TIMER_INIT 0x380
#define LAPIC_TIMER_CUR 0x390
#define LAPIC_TIMER_DIV 0x3e0

static volatile uint32_t *lapic;
bool lapic_tsc_deadline;
static uint64_t lapic_ticks_per_ms; /* one-shot mode, divide by 16 */

static inline uint32_t rd(unsigned reg) { return lapic[reg / 4]; }
static inline void wr(unsigned reg, uint32_t v) { lapic[reg / 4] = v; }

void lapic_init_bsp(paddr_t base)
{
	lapic = paging_map_mmio(base, PAGE_SIZE);
	if (!lapic)
		panic("cannot map the local APIC");
	uint32_t a, b, c, d;
	cpuid(1, 0, &a, &b, &c, &d);
	lapic_tsc_deadline = c & (1u << 24);
}

void lapic_init_cpu(void)
{
	wrmsr(MSR_APIC_BASE, rdmsr(MSR_APIC_BASE) | (1u << 11)); /* global enable */
	wr(LAPIC_TPR, 0);
	wr(LAPIC_LVT_LINT0, 1u << 16); /* masked */
	wr(LAPIC_LVT_LINT1, 1u << 16);
	wr(LAPIC_LVT_ERROR, 1u << 16);
	wr(LAPIC_SVR, 0x100 | VEC_SPURIOUS);
	if (lapic_tsc_deadline)
		wr(LAPIC_LVT_TIMER, VEC_TIMER | (2u << 17));
	else {
		wr(LAPIC_TIMER_DIV, 0x3); /* divide by 16 */
		wr(LAPIC_LVT_TIMER, VEC_TIMER);
	}
	lapic_eoi();
}

uint32_t lapic_id(void) { return rd(LAPIC_ID) >> 24; }
void lapic_eoi(void) { wr(LAPIC_EOI, 0); }

static void icr_wait(void)
{
	for (int i = 0; i < 1000000 && (rd(LAPIC_ICR_LO) & (1u << 12)); i++)
		cpu_relax();
}

static void icr_send(uint32_t apic_id, uint32_t lo)
{
	unsigned long f = irq_save();
	icr_wait();
	wr(LAPIC_ICR_HI, apic_id << 24);
	wr(LAPIC_ICR_LO, lo);
	icr_wait();
	irq_restore(f);
}

void lapic_send_ipi(uint32_t apic_id, uint8_t vector) { icr_send(apic_id, vector); }
void lapic_send_init(uint32_t apic_id) { icr_send(apic_id, (5u << 8) | (1u << 14)); }
void lapic_send_sipi(uint32_t apic_id, uint8_t page) { icr_send(apic_id, (6u << 8) | page); }

void lapic_timer_calibrate(void)
{
	if (lapic_tsc_deadline) {
		log_info("lapic: timer in TSC-deadline mode");
		return;
	}
	wr(LAPIC_TIMER_DIV, 0x3);
	wr(LAPIC_LVT_TIMER, 1u << 16); /* masked while measuring */
	wr(LAPIC_TIMER_INIT, 0xffffffffu);
	clock_spin_ns(10 * 1000 * 1000);
	uint32_t elapsed = 0xffffffffu - rd(LAPIC_TIMER_CUR);
	wr(LAPIC_TIMER_INIT, 0);
	lapic_ticks_per_ms = elapsed / 10;
	if (!lapic_ticks_per_ms)
		lapic_ticks_per_ms = 1;
	wr(LAPIC_LVT_TIMER, VEC_TIMER);
	log_info("lapic: timer one-shot, %lu ticks/ms", lapic_ticks_per_ms);
}

void lapic_timer_arm(uint64_t deadline_ns)
{
	uint64_t now = clock_ns();
	uint64_t delta = deadline_ns > now ? deadline_ns - now : 1000;
	if (lapic_tsc_deadline) {
		uint64_t ticks = (uint64_t)((unsigned __int128)delta * clock_tsc_hz() / 1000000000u);
		wrmsr(MSR_TSC_DEADLINE, rdtsc() + (ticks ? ticks : 1));
	} else {
		uint64_t count = delta * lapic_ticks_per_ms / 1000000u;
		if (count == 0)
			count = 1;
		if (count > 0xffffffffu)
			count = 0xffffffffu;
		wr(LAPIC_TIMER_INIT, (uint32_t)count);
	}
}
