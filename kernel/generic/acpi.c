/*
 * ACPI static table parser (kern/acpi.h): RSDP, XSDT or RSDT, and from them
 * MADT, HPET, MCFG and FADT.
 *
 * For: collecting, once at boot, the few facts the kernel needs before any
 * driver runs (CPUs and APIC addresses, interrupt overrides, HPET, PCIe
 * ECAM windows, the PM registers and DSDT address). Not for: AML, or any
 * table this file does not name.
 *
 * Firmware tables are input from outside the kernel and are treated so:
 *   - memory is only ever reached through the caller's map callback, and
 *     only within the exact range mapped (header first, then exactly the
 *     table's own length, capped at ACPI_MAX_TABLE_LEN);
 *   - a table's signature, length and checksum are checked before any other
 *     field is read; a bad table is skipped with a warning;
 *   - entries inside a table (MADT, MCFG) are bounds-checked against the
 *     table's length; a MADT entry of length < 2 or running past the table
 *     ends the parsing of that table with a warning, keeping what was read;
 *   - fixed arrays in struct acpi_info are never overrun: extras are dropped
 *     with a warning;
 *   - every multi-byte field is read with memcpy: tables need not be aligned.
 * When a table appears twice in the root table, the first valid copy wins.
 */
#include <alder/errno.h>
#include <kern/acpi.h>
#include <kern/log.h>
#include <kern/string.h>

#define ACPI_RSDP_V1_LEN 20
#define ACPI_RSDP_V2_LEN 36
#define ACPI_SDT_HDR_LEN 36
/* No table we parse comes near this; it bounds a checksum loop over garbage. */
#define ACPI_MAX_TABLE_LEN (1u << 20)

/* Minimum lengths: through the last fixed field each parser reads unconditionally. */
#define ACPI_MADT_MIN 44 /* header, local APIC address, flags */
#define ACPI_HPET_MIN 56 /* the whole ACPI 1.0 HPET table */
#define ACPI_MCFG_MIN 44 /* header, 8 reserved bytes */
#define ACPI_FADT_MIN 44 /* header, FIRMWARE_CTRL, DSDT */

#define ACPI_MADT_PCAT_COMPAT (1u << 0)
#define ACPI_MADT_LAPIC 0
#define ACPI_MADT_IOAPIC 1
#define ACPI_MADT_ISO 2
#define ACPI_MADT_NMI 4
#define ACPI_MADT_LAPIC_OVERRIDE 5
#define ACPI_MADT_X2APIC 9
#define ACPI_MADT_CPU_ENABLED (1u << 0)
#define ACPI_MADT_CPU_ONLINE_CAPABLE (1u << 1)

#define ACPI_MCFG_ENTRY_LEN 16
#define ACPI_GAS_LEN 12
#define ACPI_GAS_MEMORY 0
#define ACPI_GAS_IO 1

/* FADT field offsets (ACPI 6.5, 5.2.9). */
#define FADT_DSDT 40
#define FADT_SCI_INT 46
#define FADT_SMI_CMD 48
#define FADT_ACPI_ENABLE 52
#define FADT_ACPI_DISABLE 53
#define FADT_PM1A_EVT 56
#define FADT_PM1B_EVT 60
#define FADT_PM1A_CNT 64
#define FADT_PM1B_CNT 68
#define FADT_PM_TMR 76
#define FADT_PM_TMR_LEN 91
#define FADT_IAPC_BOOT_ARCH 109
#define FADT_FLAGS 112
#define FADT_RESET_REG 116
#define FADT_RESET_VALUE 128
#define FADT_MINOR_REVISION 131
#define FADT_X_DSDT 140
#define FADT_X_PM1A_EVT 148
#define FADT_X_PM1B_EVT 160
#define FADT_X_PM1A_CNT 172
#define FADT_X_PM1B_CNT 184
#define FADT_X_PM_TMR 208
#define FADT_RESET_REG_SUP (1u << 10)

struct acpi_parser {
	acpi_map_fn map;
	void *ctx;
	struct acpi_info *out;
};

static uint16_t acpi_u16(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static uint32_t acpi_u32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static uint64_t acpi_u64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static void acpi_gas_read(const uint8_t *p, struct acpi_gas *g)
{
	g->space_id = p[0];
	g->bit_width = p[1];
	g->bit_offset = p[2];
	g->access_size = p[3];
	g->address = acpi_u64(p + 4);
}

static uint8_t acpi_sum(const uint8_t *p, size_t len)
{
	uint8_t sum = 0;

	for (size_t i = 0; i < len; i++)
		sum += p[i];
	return sum;
}

/*
 * Map the table at phys and check it: signature sig, min_len <= length <=
 * ACPI_MAX_TABLE_LEN, checksum. Returns the table mapped over exactly its
 * length (stored in *len), or NULL after a warning.
 */
static const uint8_t *acpi_table(const struct acpi_parser *ap, paddr_t phys, const char *sig,
				 uint32_t min_len, uint32_t *len)
{
	const uint8_t *hdr = ap->map(phys, ACPI_SDT_HDR_LEN, ap->ctx);

	if (!hdr) {
		log_warn("acpi: %s at %#llx not mappable", sig, (unsigned long long)phys);
		return NULL;
	}
	if (memcmp(hdr, sig, 4) != 0) {
		log_warn("acpi: table at %#llx is not %s", (unsigned long long)phys, sig);
		return NULL;
	}
	uint32_t n = acpi_u32(hdr + 4);
	if (n < min_len || n < ACPI_SDT_HDR_LEN || n > ACPI_MAX_TABLE_LEN) {
		log_warn("acpi: %s at %#llx has bad length %u", sig, (unsigned long long)phys, n);
		return NULL;
	}
	const uint8_t *t = ap->map(phys, n, ap->ctx);
	if (!t) {
		log_warn("acpi: %s at %#llx (%u bytes) not mappable", sig,
			 (unsigned long long)phys, n);
		return NULL;
	}
	if (acpi_sum(t, n) != 0) {
		log_warn("acpi: %s at %#llx has a bad checksum", sig, (unsigned long long)phys);
		return NULL;
	}
	*len = n;
	return t;
}

static void acpi_add_cpu(struct acpi_info *out, uint32_t apic_id, uint32_t uid, uint32_t flags)
{
	bool enabled = (flags & (ACPI_MADT_CPU_ENABLED | ACPI_MADT_CPU_ONLINE_CAPABLE)) != 0;

	/* Firmware may list a CPU both as a local APIC and as an x2APIC. */
	for (uint32_t i = 0; i < out->ncpus; i++) {
		if (out->cpus[i].apic_id == apic_id) {
			out->cpus[i].enabled |= enabled;
			return;
		}
	}
	if (out->ncpus == ACPI_MAX_CPUS) {
		log_warn("acpi: more than %d CPUs, ignoring APIC id %u", ACPI_MAX_CPUS, apic_id);
		return;
	}
	out->cpus[out->ncpus].apic_id = apic_id;
	out->cpus[out->ncpus].acpi_uid = uid;
	out->cpus[out->ncpus].enabled = enabled;
	out->ncpus++;
}

/* One MADT entry of elen bytes (>= 2, inside the table). */
static void acpi_madt_entry(struct acpi_info *out, const uint8_t *e, uint8_t elen)
{
	static const uint8_t need[] = {
		[ACPI_MADT_LAPIC] = 8,
		[ACPI_MADT_IOAPIC] = 12,
		[ACPI_MADT_ISO] = 10,
		[ACPI_MADT_LAPIC_OVERRIDE] = 12,
		[ACPI_MADT_X2APIC] = 16,
	};
	uint8_t type = e[0];

	if (type < ARRAY_SIZE(need) && elen < need[type]) {
		log_warn("acpi: MADT entry type %u too short (%u), skipped", type, elen);
		return;
	}
	switch (type) {
	case ACPI_MADT_LAPIC:
		acpi_add_cpu(out, e[3], e[2], acpi_u32(e + 4));
		break;
	case ACPI_MADT_X2APIC:
		acpi_add_cpu(out, acpi_u32(e + 4), acpi_u32(e + 12), acpi_u32(e + 8));
		break;
	case ACPI_MADT_IOAPIC:
		if (out->nioapics == ACPI_MAX_IOAPICS) {
			log_warn("acpi: more than %d I/O APICs, ignoring id %u", ACPI_MAX_IOAPICS,
				 e[2]);
			break;
		}
		out->ioapics[out->nioapics].id = e[2];
		out->ioapics[out->nioapics].addr = acpi_u32(e + 4);
		out->ioapics[out->nioapics].gsi_base = acpi_u32(e + 8);
		out->nioapics++;
		break;
	case ACPI_MADT_ISO:
		if (out->nisos == ACPI_MAX_ISOS) {
			log_warn("acpi: more than %d interrupt overrides, ignoring IRQ %u",
				 ACPI_MAX_ISOS, e[3]);
			break;
		}
		out->isos[out->nisos].bus = e[2];
		out->isos[out->nisos].source = e[3];
		out->isos[out->nisos].gsi = acpi_u32(e + 4);
		out->isos[out->nisos].flags = acpi_u16(e + 8);
		out->nisos++;
		break;
	case ACPI_MADT_LAPIC_OVERRIDE:
		/* Replaces the header's 32-bit address, read before any entry. */
		out->lapic_addr = acpi_u64(e + 4);
		log_info("acpi: local APIC address overridden to %#llx",
			 (unsigned long long)out->lapic_addr);
		break;
	case ACPI_MADT_NMI:
	default:
		break; /* local APIC NMI wiring and everything else: not used */
	}
}

static void acpi_madt(const struct acpi_parser *ap, paddr_t phys)
{
	struct acpi_info *out = ap->out;
	uint32_t len;
	const uint8_t *t = acpi_table(ap, phys, "APIC", ACPI_MADT_MIN, &len);

	if (!t)
		return;
	out->has_madt = true;
	out->lapic_addr = acpi_u32(t + 36);
	out->has_8259 = (acpi_u32(t + 40) & ACPI_MADT_PCAT_COMPAT) != 0;

	/* Loop invariant: off <= len. */
	uint32_t off = ACPI_MADT_MIN;
	while (len - off >= 2) {
		uint8_t elen = t[off + 1];

		if (elen < 2 || elen > len - off) {
			log_warn("acpi: MADT entry at %u has bad length %u, rest ignored", off, elen);
			break;
		}
		acpi_madt_entry(out, t + off, elen);
		off += elen;
	}
	if (len - off == 1)
		log_warn("acpi: MADT has a stray byte at its end");
}

static void acpi_hpet(const struct acpi_parser *ap, paddr_t phys)
{
	struct acpi_info *out = ap->out;
	struct acpi_gas base;
	uint32_t len;
	const uint8_t *t = acpi_table(ap, phys, "HPET", ACPI_HPET_MIN, &len);

	if (!t)
		return;
	acpi_gas_read(t + 40, &base);
	if (base.space_id != ACPI_GAS_MEMORY || base.address == 0) {
		log_warn("acpi: HPET not memory-mapped (space %u, address %#llx), ignored",
			 base.space_id, (unsigned long long)base.address);
		return;
	}
	out->has_hpet = true;
	out->hpet_addr = base.address;
	out->hpet_min_tick = acpi_u16(t + 53);
}

static void acpi_mcfg(const struct acpi_parser *ap, paddr_t phys)
{
	struct acpi_info *out = ap->out;
	uint32_t len;
	const uint8_t *t = acpi_table(ap, phys, "MCFG", ACPI_MCFG_MIN, &len);

	if (!t)
		return;
	if ((len - ACPI_MCFG_MIN) % ACPI_MCFG_ENTRY_LEN != 0)
		log_warn("acpi: MCFG length %u is not a whole number of entries", len);
	/* Loop invariant: off + ACPI_MCFG_ENTRY_LEN <= len. */
	for (uint32_t off = ACPI_MCFG_MIN; len - off >= ACPI_MCFG_ENTRY_LEN;
	     off += ACPI_MCFG_ENTRY_LEN) {
		const uint8_t *e = t + off;
		uint64_t base = acpi_u64(e);
		uint8_t bus_start = e[10], bus_end = e[11];

		if (base == 0 || bus_end < bus_start) {
			log_warn("acpi: MCFG entry %#llx buses %u-%u invalid, skipped",
				 (unsigned long long)base, bus_start, bus_end);
			continue;
		}
		if (out->nmcfg == ACPI_MAX_MCFG) {
			log_warn("acpi: more than %d MCFG entries, ignoring the rest", ACPI_MAX_MCFG);
			break;
		}
		out->mcfg[out->nmcfg].base = base;
		out->mcfg[out->nmcfg].segment = acpi_u16(e + 8);
		out->mcfg[out->nmcfg].bus_start = bus_start;
		out->mcfg[out->nmcfg].bus_end = bus_end;
		out->nmcfg++;
	}
}

/* Copy size bytes at off if the table's length covers them; else false. */
static bool fadt_get(const uint8_t *t, uint32_t len, uint32_t off, void *dst, size_t size)
{
	if (off > len || size > len - off)
		return false;
	memcpy(dst, t + off, size);
	return true;
}

/*
 * A PM register block: the 32-bit I/O port field, or, when that is zero,
 * the X_ generic address if it is in I/O space and below 4 GiB (some
 * firmware fills only the X_ fields). Returns the port or 0; *bits gets the
 * X_ register's width when that is used.
 */
static uint32_t fadt_pm_blk(const uint8_t *t, uint32_t len, uint32_t off32, uint32_t off_x,
			    uint8_t *bits)
{
	uint32_t port = 0;
	uint8_t gas_raw[ACPI_GAS_LEN];
	struct acpi_gas g;

	if (fadt_get(t, len, off32, &port, sizeof(port)) && port != 0)
		return port;
	if (!fadt_get(t, len, off_x, gas_raw, sizeof(gas_raw)))
		return 0;
	acpi_gas_read(gas_raw, &g);
	if (g.space_id != ACPI_GAS_IO || g.address == 0 || g.address > UINT32_MAX)
		return 0;
	if (bits)
		*bits = g.bit_width;
	return (uint32_t)g.address;
}

/*
 * FADT. Its length grew with each ACPI revision (116 bytes in 1.0, 244 in
 * 2.0, more since); a field is read only when the table's length covers it,
 * so older and truncated FADTs leave later fields zero.
 */
static void acpi_fadt(const struct acpi_parser *ap, paddr_t phys)
{
	struct acpi_info *out = ap->out;
	uint32_t len;
	const uint8_t *t = acpi_table(ap, phys, "FACP", ACPI_FADT_MIN, &len);

	if (!t)
		return;
	out->has_fadt = true;

	uint32_t dsdt32 = acpi_u32(t + FADT_DSDT);
	uint64_t x_dsdt = 0;
	out->dsdt = dsdt32;
	if (fadt_get(t, len, FADT_X_DSDT, &x_dsdt, sizeof(x_dsdt)) && x_dsdt != 0) {
		if (dsdt32 != 0 && dsdt32 != x_dsdt)
			log_warn("acpi: FADT DSDT %#x and X_DSDT %#llx differ, using X_DSDT",
				 dsdt32, (unsigned long long)x_dsdt);
		out->dsdt = x_dsdt;
	}

	fadt_get(t, len, FADT_SCI_INT, &out->sci_irq, sizeof(out->sci_irq));
	fadt_get(t, len, FADT_SMI_CMD, &out->smi_cmd, sizeof(out->smi_cmd));
	fadt_get(t, len, FADT_ACPI_ENABLE, &out->acpi_enable, sizeof(out->acpi_enable));
	fadt_get(t, len, FADT_ACPI_DISABLE, &out->acpi_disable, sizeof(out->acpi_disable));
	fadt_get(t, len, FADT_PM_TMR_LEN, &out->pm_tmr_len, sizeof(out->pm_tmr_len));
	out->pm1a_evt = fadt_pm_blk(t, len, FADT_PM1A_EVT, FADT_X_PM1A_EVT, NULL);
	out->pm1b_evt = fadt_pm_blk(t, len, FADT_PM1B_EVT, FADT_X_PM1B_EVT, NULL);
	out->pm1a_cnt = fadt_pm_blk(t, len, FADT_PM1A_CNT, FADT_X_PM1A_CNT, NULL);
	out->pm1b_cnt = fadt_pm_blk(t, len, FADT_PM1B_CNT, FADT_X_PM1B_CNT, NULL);
	uint8_t tmr_bits = 0;
	out->pm_tmr = fadt_pm_blk(t, len, FADT_PM_TMR, FADT_X_PM_TMR, &tmr_bits);
	if (out->pm_tmr_len == 0 && tmr_bits != 0)
		out->pm_tmr_len = tmr_bits / 8;

	/*
	 * IAPC_BOOT_ARCH is reserved in ACPI 1.0 FADTs and in the 2.0-era
	 * "revision 2" FADT (which ends with MINOR_REVISION), so, as ACPICA
	 * does, it is only believed in FADTs longer than that.
	 */
	if (len > FADT_MINOR_REVISION + 1)
		fadt_get(t, len, FADT_IAPC_BOOT_ARCH, &out->iapc_boot_arch,
			 sizeof(out->iapc_boot_arch));
	fadt_get(t, len, FADT_FLAGS, &out->flags, sizeof(out->flags));

	uint8_t gas_raw[ACPI_GAS_LEN];
	if ((out->flags & FADT_RESET_REG_SUP) &&
	    fadt_get(t, len, FADT_RESET_REG, gas_raw, sizeof(gas_raw)) &&
	    fadt_get(t, len, FADT_RESET_VALUE, &out->reset_value, sizeof(out->reset_value))) {
		acpi_gas_read(gas_raw, &out->reset_reg);
		out->has_reset_reg = out->reset_reg.address != 0;
	}
}

/* Look at the table a root entry points to and hand it to its parser. */
static void acpi_dispatch(const struct acpi_parser *ap, paddr_t phys)
{
	struct acpi_info *out = ap->out;
	const uint8_t *hdr = ap->map(phys, ACPI_SDT_HDR_LEN, ap->ctx);

	if (!hdr) {
		log_warn("acpi: root entry %#llx not mappable", (unsigned long long)phys);
		return;
	}
	if (memcmp(hdr, "APIC", 4) == 0) {
		if (!out->has_madt)
			acpi_madt(ap, phys);
	} else if (memcmp(hdr, "HPET", 4) == 0) {
		if (!out->has_hpet)
			acpi_hpet(ap, phys);
	} else if (memcmp(hdr, "MCFG", 4) == 0) {
		if (out->nmcfg == 0)
			acpi_mcfg(ap, phys);
	} else if (memcmp(hdr, "FACP", 4) == 0) {
		if (!out->has_fadt)
			acpi_fadt(ap, phys);
	}
}

/*
 * Walk the XSDT (entry_size 8) or RSDT (4) at phys. false if the root table
 * itself is bad; individual entries that are bad are skipped.
 */
static bool acpi_root(const struct acpi_parser *ap, paddr_t phys, const char *sig, uint32_t entry_size)
{
	uint32_t len;
	const uint8_t *t = acpi_table(ap, phys, sig, ACPI_SDT_HDR_LEN, &len);

	if (!t)
		return false;
	if ((len - ACPI_SDT_HDR_LEN) % entry_size != 0)
		log_warn("acpi: %s length %u is not a whole number of entries", sig, len);
	/* Loop invariant: off + entry_size <= len. */
	for (uint32_t off = ACPI_SDT_HDR_LEN; len - off >= entry_size; off += entry_size) {
		paddr_t entry = entry_size == 8 ? acpi_u64(t + off) : acpi_u32(t + off);

		if (entry != 0)
			acpi_dispatch(ap, entry);
	}
	return true;
}

int acpi_parse(const void *rsdp, size_t rsdp_len, acpi_map_fn map, void *ctx, struct acpi_info *out)
{
	const uint8_t *r = rsdp;
	struct acpi_parser ap = { .map = map, .ctx = ctx, .out = out };

	memset(out, 0, sizeof(*out));
	if (!r || rsdp_len < ACPI_RSDP_V1_LEN || memcmp(r, "RSD PTR ", 8) != 0 ||
	    acpi_sum(r, ACPI_RSDP_V1_LEN) != 0) {
		log_warn("acpi: bad RSDP");
		return -ALDER_EINVAL;
	}
	out->revision = r[15];
	memcpy(out->oem_id, r + 9, 6);
	out->oem_id[6] = '\0';

	/* ACPI 2.0+: the XSDT, if the extended part is intact and the table valid. */
	if (out->revision >= 2) {
		uint32_t xlen = rsdp_len >= ACPI_RSDP_V2_LEN ? acpi_u32(r + 20) : 0;

		if (xlen < ACPI_RSDP_V2_LEN || xlen > rsdp_len || acpi_sum(r, xlen) != 0) {
			log_warn("acpi: RSDP revision %u has a bad extended part, using the RSDT",
				 out->revision);
		} else {
			uint64_t xsdt = acpi_u64(r + 24);

			if (xsdt != 0 && acpi_root(&ap, xsdt, "XSDT", 8))
				return 0;
			/* acpi_root() fails before dispatching any entry: nothing to undo. */
			log_warn("acpi: no usable XSDT, falling back to the RSDT");
		}
	}

	uint32_t rsdt = acpi_u32(r + 16);
	if (rsdt != 0 && acpi_root(&ap, rsdt, "RSDT", 4))
		return 0;
	log_warn("acpi: no usable RSDT");
	return -ALDER_EINVAL;
}
