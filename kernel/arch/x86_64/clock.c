/*
 * HPET and the monotonic clock. The TSC is the clock source (constant rate
 * on anything recent, and exactly 1 GHz of virtual time under QEMU -icount);
 * its frequency is measured against the HPET, or the PIT when there is no
 * HPET.
 */
#include <kern/clock.h>
#include <kern/log.h>
#include <arch/apic.h>
#include <arch/cpu.h>
#include <arch/paging.h>

uint64_t boot_milestones[MS_COUNT];

static volatile uint64_t *hpet;
static uint64_t hpet_period_fs;
static uint64_t tsc_hz, tsc0, ns_mult; /* ns = (tsc - tsc0) * ns_mult >> 32 */

void hpet_init(paddr_t base)
{
	hpet = paging_map_mmio(base, 1024);
	if (!hpet)
		return;
	hpet_period_fs = hpet[0] >> 32;
	if (hpet_period_fs == 0 || hpet_period_fs > 100000000ull) {
		hpet = NULL; /* nonsense period: not a usable HPET */
		return;
	}
	hpet[2] |= 1; /* ENABLE_CNF (0x10) */
}

bool hpet_present(void) { return hpet != NULL; }

uint64_t hpet_read_ns(void)
{
	return (uint64_t)((unsigned __int128)hpet[30] * hpet_period_fs / 1000000u); /* 0xf0 */
}

/* PIT channel 2, gated by port 0x61: count down 10 ms of 1.193182 MHz. */
static uint64_t pit_measure_tsc_10ms(void)
{
	const uint16_t count = 11932;
	outb(0x61, (inb(0x61) & ~0x02) | 0x01);
	outb(0x43, 0xb0); /* channel 2, lo/hi, mode 0 */
	outb(0x42, count & 0xff);
	outb(0x42, count >> 8);
	uint64_t start = rdtsc();
	while (!(inb(0x61) & 0x20))
		cpu_relax();
	return rdtsc() - start;
}

void clock_init(void)
{
	uint64_t ticks;
	const char *src;
	if (hpet) {
		uint64_t h0 = hpet_read_ns(), t0 = rdtsc();
		while (hpet_read_ns() - h0 < 10000000u)
			cpu_relax();
		uint64_t h1 = hpet_read_ns(), t1 = rdtsc();
		ticks = (t1 - t0) * 10000000u / (h1 - h0);
		src = "HPET";
	} else {
		ticks = pit_measure_tsc_10ms();
		src = "PIT";
	}
	tsc_hz = ticks * 100;
	/* Round to 1 kHz: measurement noise only. */
	tsc_hz = (tsc_hz + 500) / 1000 * 1000;
	ns_mult = (uint64_t)(((unsigned __int128)1000000000u << 32) / tsc_hz);
	tsc0 = rdtsc();
	log_info("clock: TSC %lu.%03lu MHz (measured with the %s)", tsc_hz / 1000000, tsc_hz / 1000 % 1000, src);
}

uint64_t clock_tsc_hz(void) { return tsc_hz; }

uint64_t clock_ns(void)
{
	if (!tsc_hz)
		return 0;
	return (uint64_t)(((unsigned __int128)(rdtsc() - tsc0) * ns_mult) >> 32);
}

void clock_spin_ns(uint64_t ns)
{
	uint64_t end = clock_ns() + ns;
	while (clock_ns() < end)
		cpu_relax();
}
