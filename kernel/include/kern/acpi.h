/*
 * ACPI static tables (kernel/generic/acpi.c): RSDP, XSDT/RSDT, MADT, HPET,
 * MCFG, FADT. No AML. Every table's signature, length and checksum is
 * checked before any field is read; a table that fails is skipped with a
 * warning, never trusted. Tables are reached through a mapping callback so
 * that the parser can be run over a buffer in tests and fuzzing.
 */
#ifndef KERN_ACPI_H
#define KERN_ACPI_H

#include <kern/types.h>

#define ACPI_MAX_CPUS 64
#define ACPI_MAX_IOAPICS 8
#define ACPI_MAX_ISOS 24
#define ACPI_MAX_MCFG 8

/* Generic address structure (ACPI 5.2.3.2). */
struct acpi_gas {
	uint8_t space_id; /* 0 memory, 1 I/O port */
	uint8_t bit_width;
	uint8_t bit_offset;
	uint8_t access_size;
	uint64_t address;
};

struct acpi_info {
	uint8_t revision;       /* RSDP revision: 0 = ACPI 1.0 (RSDT), 2+ = XSDT */
	char oem_id[7];         /* NUL-terminated */

	/* MADT */
	bool has_madt;
	paddr_t lapic_addr;     /* with the type-5 override applied */
	bool has_8259;          /* PCAT_COMPAT: legacy PICs present (mask them) */
	uint32_t ncpus;
	struct {
		uint32_t apic_id;
		uint32_t acpi_uid;
		bool enabled;       /* enabled or online-capable */
	} cpus[ACPI_MAX_CPUS];
	uint32_t nioapics;
	struct {
		uint8_t id;
		paddr_t addr;
		uint32_t gsi_base;
	} ioapics[ACPI_MAX_IOAPICS];
	uint32_t nisos;         /* interrupt source overrides */
	struct {
		uint8_t bus;
		uint8_t source;     /* ISA IRQ */
		uint32_t gsi;
		uint16_t flags;     /* MPS INTI flags: polarity bits 0-1, trigger bits 2-3 */
	} isos[ACPI_MAX_ISOS];

	/* HPET */
	bool has_hpet;
	paddr_t hpet_addr;
	uint16_t hpet_min_tick;

	/* MCFG (PCIe ECAM) */
	uint32_t nmcfg;
	struct {
		paddr_t base;
		uint16_t segment;
		uint8_t bus_start, bus_end;
	} mcfg[ACPI_MAX_MCFG];

	/* FADT */
	bool has_fadt;
	paddr_t dsdt;
	uint16_t sci_irq;
	uint32_t smi_cmd;
	uint8_t acpi_enable, acpi_disable;
	uint32_t pm1a_evt, pm1b_evt, pm1a_cnt, pm1b_cnt, pm_tmr;
	uint8_t pm_tmr_len;
	uint16_t iapc_boot_arch;
	uint32_t flags;
	bool has_reset_reg;
	struct acpi_gas reset_reg;
	uint8_t reset_value;
};

/*
 * Map len bytes at physical address p for reading; return NULL when that
 * range is not accessible. The result stays valid during acpi_parse().
 */
typedef const void *(*acpi_map_fn)(paddr_t p, size_t len, void *ctx);

/*
 * Parse from a copy of the RSDP (as Multiboot2 hands it over; rsdp_len bytes).
 * Returns 0 when the RSDP and root table were valid (individual tables may
 * still be missing: check has_*), -ALDER_EINVAL otherwise.
 */
int acpi_parse(const void *rsdp, size_t rsdp_len, acpi_map_fn map, void *ctx, struct acpi_info *out);

#endif
