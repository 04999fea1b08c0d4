/*
 * IOAPICs from the MADT, with ISA interrupt source overrides applied, and the
 * legacy 8259 PICs, which are remapped out of the exception range and masked.
 * Also the allocator of the vectors that IRQ objects (kernel/generic/irq.c)
 * route their GSIs to, and the per-GSI route/mask/unmask calls they use.
 * Not for deciding who owns a line: that is irq.c's business; this file only
 * remembers which GSIs the kernel routed for itself, so no one takes them.
 */
#include <kern/acpi.h>
#include <kern/assert.h>
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
static spinlock_t ioapic_lock = SPINLOCK_INIT; /* leaf: protects the registers and everything below */

/* GSIs the kernel routed for itself (ioapic_route_isa): never handed out. */
static uint32_t kernel_gsis[16];
static unsigned nkernel_gsis;

/* Dynamic vectors [IOAPIC_VEC_FIRST, IOAPIC_VEC_END): bit set = in use. */
static uint64_t vec_used[4];
static unsigned vec_next = IOAPIC_VEC_FIRST; /* next-fit: a freed vector is reused last */

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

/* The IOAPIC serving gsi and the pin on it, or NULL. */
static struct ioapic *ioapic_find(uint32_t gsi, uint32_t *pin)
{
	for (unsigned i = 0; i < nioapics; i++) {
		struct ioapic *io = &ioapics[i];
		if (gsi >= io->gsi_base && gsi - io->gsi_base < io->count) {
			*pin = gsi - io->gsi_base;
			return io;
		}
	}
	return NULL;
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
		bool known = false;
		for (unsigned k = 0; k < nkernel_gsis; k++)
			known |= kernel_gsis[k] == gsi;
		if (!known && nkernel_gsis < ARRAY_SIZE(kernel_gsis))
			kernel_gsis[nkernel_gsis++] = gsi;
		spin_unlock_irqrestore(&ioapic_lock, f);
		return 0;
	}
	log_warn("ioapic: no IOAPIC serves GSI %u (ISA IRQ %u)", gsi, isa_irq);
	return -ALDER_ENOENT;
}

bool ioapic_gsi_valid(uint32_t gsi)
{
	uint32_t pin;
	return ioapic_find(gsi, &pin) != NULL;
}

/*
 * Trigger and polarity of gsi as the firmware describes it: an interrupt
 * source override naming this GSI wins (its "conforms to the bus" fields
 * mean ISA: edge, active high); otherwise GSIs 0-15 are ISA lines (edge,
 * active high) and the rest PCI lines (level, active low).
 */
unsigned ioapic_gsi_default_flags(uint32_t gsi)
{
	for (uint32_t i = 0; madt && i < madt->nisos; i++) {
		if (madt->isos[i].gsi != gsi)
			continue;
		uint16_t fl = madt->isos[i].flags;
		unsigned r = 0;
		if ((fl & 3) == 3)
			r |= IOAPIC_ACTIVE_LOW;
		if (((fl >> 2) & 3) == 3)
			r |= IOAPIC_LEVEL;
		return r;
	}
	return gsi < 16 ? 0 : IOAPIC_LEVEL | IOAPIC_ACTIVE_LOW;
}

int ioapic_route_gsi(uint32_t gsi, uint8_t vector, unsigned flags)
{
	uint32_t pin;
	struct ioapic *io = ioapic_find(gsi, &pin);
	if (!io)
		return -ALDER_EINVAL;
	uint32_t lo = vector | 1u << 16; /* masked until ioapic_unmask */
	if (flags & IOAPIC_ACTIVE_LOW)
		lo |= 1u << 13;
	if (flags & IOAPIC_LEVEL)
		lo |= 1u << 15;
	int r = 0;
	unsigned long f = spin_lock_irqsave(&ioapic_lock);
	for (unsigned k = 0; k < nkernel_gsis; k++)
		if (kernel_gsis[k] == gsi)
			r = -ALDER_EBUSY;
	if (!r) {
		io_write(io, 0x10 + 2 * pin, 1u << 16); /* masked while the destination changes */
		io_write(io, 0x11 + 2 * pin, cpus[0].apic_id << 24);
		io_write(io, 0x10 + 2 * pin, lo);
	}
	spin_unlock_irqrestore(&ioapic_lock, f);
	return r;
}

/* Set or clear the mask bit of gsi's entry, keeping the rest. */
static void ioapic_set_mask(uint32_t gsi, bool masked)
{
	uint32_t pin;
	struct ioapic *io = ioapic_find(gsi, &pin);
	if (!io)
		return;
	unsigned long f = spin_lock_irqsave(&ioapic_lock);
	uint32_t lo = io_read(io, 0x10 + 2 * pin);
	lo = masked ? lo | 1u << 16 : lo & ~(1u << 16);
	io_write(io, 0x10 + 2 * pin, lo);
	spin_unlock_irqrestore(&ioapic_lock, f);
}

void ioapic_mask(uint32_t gsi) { ioapic_set_mask(gsi, true); }
void ioapic_unmask(uint32_t gsi) { ioapic_set_mask(gsi, false); }

int ioapic_vector_alloc(void)
{
	int r = -ALDER_ENOSPC;
	unsigned long f = spin_lock_irqsave(&ioapic_lock);
	for (unsigned n = 0; n < IOAPIC_VEC_END - IOAPIC_VEC_FIRST; n++) {
		unsigned v = vec_next + n;
		if (v >= IOAPIC_VEC_END)
			v -= IOAPIC_VEC_END - IOAPIC_VEC_FIRST;
		if (vec_used[v / 64] & 1ull << (v % 64))
			continue;
		vec_used[v / 64] |= 1ull << (v % 64);
		vec_next = v + 1 < IOAPIC_VEC_END ? v + 1 : IOAPIC_VEC_FIRST;
		r = (int)v;
		break;
	}
	spin_unlock_irqrestore(&ioapic_lock, f);
	return r;
}

void ioapic_vector_free(unsigned vector)
{
	assert(vector >= IOAPIC_VEC_FIRST && vector < IOAPIC_VEC_END);
	unsigned long f = spin_lock_irqsave(&ioapic_lock);
	assert(vec_used[vector / 64] & 1ull << (vector % 64));
	vec_used[vector / 64] &= ~(1ull << (vector % 64));
	spin_unlock_irqrestore(&ioapic_lock, f);
}
