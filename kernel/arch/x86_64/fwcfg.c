/*
 * QEMU fw_cfg reader (I/O ports 0x510/0x511): files such as
 * opt/alder/cmdline let the test harness pass kernel arguments without a
 * second disk image. Absent on real hardware: the signature check fails and
 * every lookup returns false.
 */
#include <kern/string.h>
#include <arch/apic.h>
#include <arch/cpu.h>

#define FWCFG_SEL 0x510
#define FWCFG_DATA 0x511
#define FWCFG_SIGNATURE 0x0000
#define FWCFG_FILE_DIR 0x0019

static void fwcfg_read(void *buf, size_t len)
{
	uint8_t *p = buf;
	for (size_t i = 0; i < len; i++)
		p[i] = inb(FWCFG_DATA);
}

static uint32_t be32(const uint8_t *p) { return (uint32_t)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3]; }

bool fwcfg_read_file(const char *name, char *buf, size_t size, size_t *len_out)
{
	char sig[4];
	outw(FWCFG_SEL, FWCFG_SIGNATURE);
	fwcfg_read(sig, 4);
	if (memcmp(sig, "QEMU", 4) != 0)
		return false;
	outw(FWCFG_SEL, FWCFG_FILE_DIR);
	uint8_t cnt[4];
	fwcfg_read(cnt, 4);
	uint32_t n = be32(cnt);
	for (uint32_t i = 0; i < n && i < 4096; i++) {
		uint8_t ent[64]; /* u32 size, u16 select, u16 reserved, char name[56] */
		fwcfg_read(ent, sizeof(ent));
		char *ename = (char *)ent + 8;
		ename[55] = 0;
		if (strcmp(ename, name) != 0)
			continue;
		uint32_t fsize = be32(ent);
		uint16_t sel = (uint16_t)(ent[4] << 8 | ent[5]);
		size_t take = fsize < size ? fsize : size;
		outw(FWCFG_SEL, sel);
		fwcfg_read(buf, take);
		*len_out = take;
		return true;
	}
	return false;
}
