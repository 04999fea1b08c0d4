/*
 * IOAPICs from the MADT, with ISA interrupt source overrides applied, and the
 * legacy 8259 PICs, which are remapped out of the exception range and masked.
 */
#include <kern/acpi.h>
#include <kern/cpu.h>
#include <kern/log.h>
#include <kern/spinlock.h>
#include <alder/errno.h>
#include <arch/apic.h>
#include <arch/cpu.h>
#include <arch/paging.h>

static struct ioapic {
	volatile uint32_t *regs;
	uint32_t gsi_base, count;
} ioapics[ACPI_MAX_IOAPICS];
static unsigned nioapics;
static const struct acpi_info *madt;
static spinlock_t ioapic_lock = SPINLOCK_INIT;

void pic_disable(void)
{
	/* ICW1-4: remap to 0x20/0x28, then mask everything. */
	outb(0x20, 0x11);
	outb(0xa0, 0x11);
	outb(0x21, 0x20);
	outb(0xa1, 0x28);
	outb(0x21, 0x04);
	outb(0xa1, 0x02);
	outb(0x21, 0x01);
	outb(0xa1, 0x01);
	outb(0x21, 0xff);
	outb(0xa1, 0xff);
}

static uint32_t io_read(struct ioapic *io, uint32_t reg)
{
	io->regs[0] = reg;
	return io->regs[4];
}

static void io_write(struct ioapic *io, uint32_t reg, uint32_t v)
{
	io->regs[0] = reg;
	io->regs[4] = v;
}

void ioapic_init(const struct acpi_info *acpi)
{
	madt = acpi;
	for (uint32_t i = 0; i < acpi->nioapics && nioapics < ACPI_MAX_IOAPICS; i++) {
		struct ioapic *io = &ioapics[nioapics];
		io->regs = paging_map_mmio(acpi->ioapics[i].addr, 32);
		if (!io->regs)
			continue;
		io->gsi_base = acpi->ioapics[i].gsi_base;
		io->count = ((io_read(io, 1) >> 16) & 0xff) + 1;
		for (uint32_t p = 0; p < io->count; p++) {
			io_write(io, 0x10 + 2 * p, 1u << 16); /* masked */
			io_write(io, 0x11 + 2 * p, 0);
		}
		log_info("ioapic: id %u at %lx, GSIs %u-%u", acpi->ioapics[i].id, acpi->ioapics[i].addr,
			 io->gsi_base, io->gsi_base + io->count - 1);
		nioapics++;
	}
}

int ioapic_route_isa(uint8_t isa_irq, uint8_t vector)
{
	uint32_t gsi = isa_irq;
	uint16_t flags = 0;
	for (uint32_t i = 0; madt && i < madt->nisos; i++) {
		if (madt->isos[i].source == isa_irq) {
			gsi = madt->isos[i].gsi;
			flags = madt->isos[i].flags;
		}
	}
	/* ISA default: active high, edge. Overrides may say otherwise. */
	uint32_t lo = vector;
	if ((flags & 3) == 3)
		lo |= 1u << 13; /* active low */
	if (((flags >> 2) & 3) == 3)
		lo |= 1u << 15; /* level */
	for (unsigned i = 0; i < nioapics; i++) {
		struct ioapic *io = &ioapics[i];
		if (gsi < io->gsi_base || gsi >= io->gsi_base + io->count)
			continue;
		uint32_t pin = gsi - io->gsi_base;
		unsigned long f = spin_lock_irqsave(&ioapic_lock);
		io_write(io, 0x11 + 2 * pin, cpus[0].apic_id << 24);
		io_write(io, 0x10 + 2 * pin, lo);
		spin_unlock_irqrestore(&ioapic_lock, f);
		return 0;
	}
	log_warn("ioapic: no IOAPIC serves GSI %u (ISA IRQ %u)", gsi, isa_irq);
	return -ALDER_ENOENT;
}
