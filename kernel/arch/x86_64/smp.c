/*
 * Bringing up the application processors listed in the MADT, and the
 * cross-CPU calls that IPIs carry (reschedule, TLB shootdown, run a function
 * on every other CPU, halt on panic).
 */
#include <kern/acpi.h>
#include <kern/assert.h>
#include <kern/clock.h>
#include <kern/cpu.h>
#include <kern/log.h>
#include <kern/pmm.h>
#include <kern/string.h>
#include <kern/thread.h>
#include <kern/vm.h>
#include <arch/apic.h>
#include <arch/cpu.h>
#include <arch/paging.h>
#include <arch/trap.h>

struct cpu cpus[MAX_CPUS];
uint32_t cpu_count = 1;
bool smp_percpu_ready;

extern const char ap_tramp_start[], ap_tramp_end[];
extern char ap_tr_base[], ap_tr_cr3[], ap_tr_efer[], ap_tr_stack[], ap_tr_cpu[];
extern char ap_tr_jmp32[], ap_tr_jmp64[], ap_tr_gdtr[];
extern const char ap_off_pm32[], ap_off_lm64[], ap_off_gdt[];

void ap_entry(struct cpu *c);
void cpu_setup_common(struct cpu *c);
void sched_finish_switch(void);

static volatile uint32_t ap_started;

/* ---- cross-CPU calls ---- */

static spinlock_t call_lock = SPINLOCK_INIT;
static void (*call_fn)(void *);
static void *call_arg;
static volatile uint32_t call_todo[MAX_CPUS];
static volatile uint32_t call_remaining;

void smp_call_poll(void)
{
	uint32_t me = this_cpu()->id;
	if (!__atomic_load_n(&call_todo[me], __ATOMIC_ACQUIRE))
		return;
	void (*fn)(void *) = call_fn;
	void *arg = call_arg;
	fn(arg);
	__atomic_store_n(&call_todo[me], 0, __ATOMIC_RELEASE);
	__atomic_sub_fetch(&call_remaining, 1, __ATOMIC_ACQ_REL);
}

void smp_call_others(void (*fn)(void *), void *arg)
{
	if (cpu_count < 2)
		return;
	unsigned long f = irq_save();
	/* Serve calls from other CPUs while waiting, so that two CPUs calling
	 * each other with interrupts off cannot deadlock. */
	while (!spin_trylock(&call_lock))
		smp_call_poll();
	uint32_t me = this_cpu()->id;
	call_fn = fn;
	call_arg = arg;
	uint32_t n = 0;
	for (uint32_t i = 0; i < cpu_count; i++)
		if (i != me && cpus[i].online)
			n++;
	__atomic_store_n(&call_remaining, n, __ATOMIC_RELEASE);
	for (uint32_t i = 0; i < cpu_count; i++) {
		if (i == me || !cpus[i].online)
			continue;
		__atomic_store_n(&call_todo[i], 1, __ATOMIC_RELEASE);
		lapic_send_ipi(cpus[i].apic_id, VEC_IPI_CALL);
	}
	while (__atomic_load_n(&call_remaining, __ATOMIC_ACQUIRE))
		cpu_relax();
	spin_unlock(&call_lock);
	irq_restore(f);
}

void (*smp_call_all_test_hook)(void);

void smp_call_all(void (*fn)(void *), void *arg)
{
	/* Interrupts off from the local call to the others': preempted in
	 * between, the caller could go on on another CPU, which
	 * smp_call_others() would skip as the caller's. */
	unsigned long f = irq_save();
	fn(arg);
	if (smp_call_all_test_hook)
		smp_call_all_test_hook();
	smp_call_others(fn, arg);
	irq_restore(f);
}

static void ipi_call_handler(struct trap_frame *f, void *arg) { smp_call_poll(); }

static void ipi_resched_handler(struct trap_frame *f, void *arg) { this_cpu()->need_resched = 1; }

static void ipi_halt_handler(struct trap_frame *f, void *arg)
{
	for (;;) {
		irq_disable();
		cpu_halt();
	}
}

void ipi_send(uint32_t cpu, uint8_t vector)
{
	if (cpu < cpu_count && cpus[cpu].online)
		lapic_send_ipi(cpus[cpu].apic_id, vector);
}

void ipi_broadcast_others(uint8_t vector)
{
	if (!smp_percpu_ready)
		return;
	uint32_t me = this_cpu()->id;
	for (uint32_t i = 0; i < cpu_count; i++)
		if (i != me && cpus[i].online)
			lapic_send_ipi(cpus[i].apic_id, vector);
}

struct flush_range {
	vaddr_t va;
	size_t npages;
};

static void flush_local(void *arg)
{
	const struct flush_range *r = arg;
	if (r->npages > 64) {
		uint64_t cr4 = read_cr4();
		if (cr4 & CR4_PGE) {
			write_cr4(cr4 & ~CR4_PGE); /* drops global entries too */
			write_cr4(cr4);
		} else {
			write_cr3(read_cr3());
		}
		return;
	}
	for (size_t i = 0; i < r->npages; i++)
		invlpg(r->va + i * PAGE_SIZE);
}

void tlb_shootdown(vaddr_t va, size_t npages)
{
	struct flush_range r = { va, npages };
	smp_call_all(flush_local, &r);
}

/* ---- bring-up ---- */

void cpu_setup_common(struct cpu *c)
{
	c->self = c;
	wrmsr(MSR_GS_BASE, (uint64_t)(uintptr_t)c);
	wrmsr(MSR_KERNEL_GS_BASE, 0);
	gdt_init_cpu(c);
	idt_load();
	cpu_features_init();
	fpu_init_cpu();
	syscall_init_cpu();
	lapic_init_cpu();
}

void ap_entry(struct cpu *c)
{
	cpu_setup_common(c);
	c->current = c->idle;
	c->idle->on_cpu = 1;
	c->kstack_top = c->idle->kstack_top;
	c->tss.rsp[0] = c->idle->kstack_top;
	c->online = true;
	__atomic_store_n(&ap_started, 1, __ATOMIC_RELEASE);
	lapic_timer_arm(clock_ns() + 1000000);
	sched_idle_loop();
}

static void patch32(char *field, paddr_t base, uint32_t v)
{
	uint32_t *p = phys_to_virt(base + (paddr_t)(field - ap_tramp_start));
	*p = v;
}

static void patch64(char *field, paddr_t base, uint64_t v)
{
	uint64_t *p = phys_to_virt(base + (paddr_t)(field - ap_tramp_start));
	*p = v;
}

void smp_boot_aps(const struct acpi_info *acpi)
{
	irq_set_handler(VEC_IPI_CALL, ipi_call_handler, NULL);
	irq_set_handler(VEC_IPI_RESCHED, ipi_resched_handler, NULL);
	irq_set_handler(VEC_IPI_HALT, ipi_halt_handler, NULL);

	size_t size = (size_t)(ap_tramp_end - ap_tramp_start);
	assert(size <= PAGE_SIZE);
	paddr_t base = pmm_alloc_contig(1, 1, 0x100000);
	if (!base) {
		log_warn("smp: no page below 1 MiB for the AP trampoline; running on one CPU");
		return;
	}
	memcpy(phys_to_virt(base), ap_tramp_start, size);
	patch32(ap_tr_base, base, (uint32_t)base);
	patch32(ap_tr_cr3, base, (uint32_t)kernel_pml4);
	patch32(ap_tr_efer, base, (uint32_t)rdmsr(MSR_EFER));
	patch32(ap_tr_jmp32, base, (uint32_t)(base + (uintptr_t)ap_off_pm32));
	patch32(ap_tr_jmp64, base, (uint32_t)(base + (uintptr_t)ap_off_lm64));
	patch32(ap_tr_gdtr + 2, base, (uint32_t)(base + (uintptr_t)ap_off_gdt));
	/* The AP turns paging on while executing from the trampoline page. */
	if (paging_map(kernel_pml4, base, base, MAP_EXEC | MAP_WRITE))
		panic("smp: cannot identity-map the trampoline");

	uint32_t bsp = lapic_id();
	for (uint32_t i = 0; i < acpi->ncpus && cpu_count < MAX_CPUS; i++) {
		if (!acpi->cpus[i].enabled || acpi->cpus[i].apic_id == bsp)
			continue;
		if (acpi->cpus[i].apic_id > 255) {
			log_warn("smp: APIC id %u needs x2APIC; skipped", acpi->cpus[i].apic_id);
			continue;
		}
		struct cpu *c = &cpus[cpu_count];
		c->id = cpu_count;
		c->apic_id = acpi->cpus[i].apic_id;
		sched_prepare_cpu(c);
		patch64(ap_tr_stack, base, c->idle->kstack_top);
		patch64(ap_tr_cpu, base, (uint64_t)(uintptr_t)c);
		__atomic_store_n(&ap_started, 0, __ATOMIC_RELEASE);

		lapic_send_init(c->apic_id);
		clock_spin_ns(10 * 1000 * 1000);
		lapic_send_sipi(c->apic_id, (uint8_t)(base >> 12));
		/* Generous: under a loaded emulator an AP can take a while. */
		uint64_t deadline = clock_ns() + 2000ull * 1000 * 1000;
		bool resent = false;
		while (!__atomic_load_n(&ap_started, __ATOMIC_ACQUIRE) && clock_ns() < deadline) {
			if (!resent && clock_ns() + 1990ull * 1000 * 1000 > deadline) {
				lapic_send_sipi(c->apic_id, (uint8_t)(base >> 12));
				resent = true;
			}
			cpu_relax();
		}
		if (!ap_started) {
			log_warn("smp: CPU with APIC id %u did not start", c->apic_id);
			continue; /* its idle thread stays allocated: harmless */
		}
		cpu_count++;
	}
	paging_unmap(kernel_pml4, base);
	paging_clear_user_half(kernel_pml4);
	tlb_shootdown(base, 1);
	log_info("smp: %u CPU%s online", cpu_count, cpu_count > 1 ? "s" : "");
}
