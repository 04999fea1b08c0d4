/*
 * kmain: bring the machine up in dependency order and start /init.
 * Boot CPU only; the other CPUs start in smp_boot_aps().
 */
#include <kern/acpi.h>
#include <kern/assert.h>
#include <kern/bootinfo.h>
#include <kern/clock.h>
#include <kern/cpu.h>
#include <kern/heap.h>
#include <kern/log.h>
#include <kern/pmm.h>
#include <kern/process.h>
#include <kern/selftest.h>
#include <kern/string.h>
#include <kern/syscall.h>
#include <kern/thread.h>
#include <kern/vm.h>
#include <kern/waitq.h>
#include <alder/syscall.h>
#include <arch/apic.h>
#include <arch/cpu.h>
#include <arch/paging.h>
#include <arch/trap.h>

void kmain(uint32_t magic, paddr_t info_phys);
void cpu_setup_common(struct cpu *c);

extern char _kernel_phys_start[], _kernel_end[];
extern bool smp_percpu_ready;
extern uint32_t boot_flags;

static struct boot_info boot;
static struct acpi_info acpi;
static char cmdline[512];

#define TICK_NS 1000000u

static void timer_irq(struct trap_frame *f, void *arg)
{
	sched_tick();
	timer_run_expired();
	lapic_timer_arm(clock_ns() + TICK_NS);
}

static paddr_t acpi_limit;

static const void *acpi_map(paddr_t p, size_t len, void *ctx)
{
	if (p >= acpi_limit || len > acpi_limit - p)
		return NULL;
	return phys_to_virt(p);
}

static void parse_cmdline(void)
{
	size_t n = strnlen(boot.cmdline, sizeof(boot.cmdline));
	memcpy(cmdline, boot.cmdline, n);
	char extra[256];
	size_t len = 0;
	if (fwcfg_read_file("opt/alder/cmdline", extra, sizeof(extra) - 1, &len)) {
		extra[len] = 0;
		if (n + 1 + len < sizeof(cmdline)) {
			cmdline[n++] = ' ';
			memcpy(cmdline + n, extra, len);
			n += len;
		}
	}
	cmdline[n] = 0;
	char v[32];
	if (cmdline_get(cmdline, "alder.mode", v, sizeof(v))) {
		if (strcmp(v, "test") == 0)
			boot_flags |= ALDER_BOOT_TEST;
		else if (strcmp(v, "bench") == 0)
			boot_flags |= ALDER_BOOT_BENCH;
		else if (strcmp(v, "fuzz") == 0)
			boot_flags |= ALDER_BOOT_FUZZ;
	}
	if (cmdline_get(cmdline, "loglevel", v, sizeof(v))) {
		if (strcmp(v, "debug") == 0)
			klog_set_level(LOG_DEBUG);
		else if (strcmp(v, "warn") == 0)
			klog_set_level(LOG_WARN);
	}
}

static void memory_init(paddr_t info_phys, size_t info_size)
{
	/* Kept out of the allocator from the start: it writes its bookkeeping
	 * into usable memory at once, and GRUB reports these as usable. */
	struct mem_region keep[2 + BOOT_MAX_MODULES];
	size_t nkeep = 0;
	paddr_t kstart = (paddr_t)(uintptr_t)_kernel_phys_start;
	keep[nkeep++] = (struct mem_region){ kstart, (paddr_t)(uintptr_t)_kernel_end - KERNEL_IMAGE_BASE - kstart };
	keep[nkeep++] = (struct mem_region){ info_phys, info_size };
	for (size_t i = 0; i < boot.nmodules; i++)
		keep[nkeep++] = (struct mem_region){ boot.modules[i].start, boot.modules[i].end - boot.modules[i].start };
	pmm_init_except(boot.usable, boot.nusable, keep, nkeep);
	heap_init();
	log_info("memory: %lu MiB usable, %lu MiB free", pmm_total_frames() * PAGE_SIZE >> 20,
		 pmm_free_frames() * PAGE_SIZE >> 20);
}

static const struct boot_module *find_initramfs(void)
{
	for (size_t i = 0; i < boot.nmodules; i++)
		if (strcmp(boot.modules[i].name, "initramfs") == 0)
			return &boot.modules[i];
	return boot.nmodules ? &boot.modules[0] : NULL;
}

void kmain(uint32_t magic, paddr_t info_phys)
{
	/* GS points at this CPU's record from the first instruction on:
	 * spinlocks record their owner's id from it (cpus[0].id is 0). */
	wrmsr(MSR_GS_BASE, (uint64_t)(uintptr_t)&cpus[0]);
	milestone(MS_KMAIN);
	serial_init();
	log_info("Alder starting");
	if (magic != MB2_BOOTLOADER_MAGIC)
		panic("not started by a Multiboot2 loader (magic %x)", magic);
	const uint32_t *info = phys_to_virt(info_phys);
	size_t info_size = info[0];
	if (mb2_parse(info, info_size, &boot))
		log_warn("boot: malformed Multiboot2 information; using what parsed");
	log_info("boot: loader \"%s\", %s, command line \"%s\"", boot.loader, boot.efi ? "UEFI" : "BIOS",
		 boot.cmdline);

	memory_init(info_phys, info_size);
	paddr_t max_ram = 0;
	for (size_t i = 0; i < boot.nusable; i++)
		max_ram = MAX(max_ram, boot.usable[i].base + boot.usable[i].len);
	paging_init(max_ram);
	milestone(MS_MM);

	idt_init();
	syscall_table_init();
	acpi_limit = ALIGN_UP(MAX(max_ram, 1ull << 32), 1ull << 30);
	if (!boot.rsdp || acpi_parse(boot.rsdp, boot.rsdp_len, acpi_map, NULL, &acpi))
		panic("no valid ACPI tables: Alder needs the MADT to find CPUs and interrupt controllers");
	if (!acpi.has_madt)
		panic("no MADT in the ACPI tables");

	cpus[0].id = 0;
	lapic_init_bsp(acpi.lapic_addr);
	cpu_setup_common(&cpus[0]);
	cpus[0].apic_id = lapic_id();
	smp_percpu_ready = true;
	cpu_log_features();
	if (acpi.has_8259)
		pic_disable();
	ioapic_init(&acpi);
	if (acpi.has_hpet)
		hpet_init(acpi.hpet_addr);
	clock_init();
	lapic_timer_calibrate();
	parse_cmdline();
	/* Benchmarks measure the kernel as it would run in production: the
	 * heap's checks (poisoning, red zones) stay on for tests only. */
	if (boot_flags & ALDER_BOOT_BENCH)
		heap_set_debug(false);

	sched_init_boot_cpu();
	irq_set_handler(VEC_TIMER, timer_irq, NULL);
	lapic_timer_arm(clock_ns() + TICK_NS);
	irq_enable();

	smp_boot_aps(&acpi);
	milestone(MS_SMP);
	serial_enable_irq();

	const struct boot_module *initrd = find_initramfs();
	if (!initrd)
		panic("no initramfs module: GRUB must load one with module2");
	process_init(phys_to_virt(initrd->start), initrd->end - initrd->start);

	if (boot_flags & ALDER_BOOT_TEST)
		selftest_run_all();
	if (boot_flags & ALDER_BOOT_BENCH) {
		static const char *const names[MS_COUNT] = { "kmain", "mm_ready", "smp_ready", "init_spawn" };
		milestone(MS_INIT_START);
		for (int i = 0; i < MS_COUNT; i++) {
			char line[80];
			int n = snprintf(line, sizeof(line), "bench boot_%s_tsc %lu ticks\n", names[i],
					 boot_milestones[i]);
			klog_write(line, (size_t)n);
		}
	}

	milestone(MS_INIT_START);
	log_info("starting /init");
	long pid = process_spawn("init", "", 0, 0, NULL, 0);
	if (pid < 0)
		panic("cannot start /init: error %ld", pid);
	thread_exit();
}
