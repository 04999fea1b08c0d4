/*
 * Per-CPU feature setup: SMEP/SMAP, SSE state for user threads, and the
 * SYSCALL MSRs. Run on every CPU.
 */
#include <kern/cpu.h>
#include <kern/log.h>
#include <arch/apic.h>
#include <arch/cpu.h>
#include <arch/trap.h>

bool cpu_has_smap;
static bool cpu_has_smep;

void syscall_entry(void);

void cpu_features_init(void)
{
	uint32_t a, b, c, d;
	cpuid(0, 0, &a, &b, &c, &d);
	if (a >= 7) {
		cpuid(7, 0, &a, &b, &c, &d);
		cpu_has_smep = b & (1u << 7);
		cpu_has_smap = b & (1u << 20);
	}
	uint64_t cr4 = read_cr4();
	if (cpu_has_smep)
		cr4 |= CR4_SMEP;
	if (cpu_has_smap)
		cr4 |= CR4_SMAP;
	write_cr4(cr4);
}

void cpu_log_features(void)
{
	log_info("cpu: SMEP %s, SMAP %s", cpu_has_smep ? "on" : "off", cpu_has_smap ? "on" : "off");
}

void fpu_init_cpu(void)
{
	uint64_t cr0 = read_cr0();
	cr0 &= ~(CR0_EM | CR0_TS);
	cr0 |= CR0_MP;
	write_cr0(cr0);
	write_cr4(read_cr4() | CR4_OSFXSR | CR4_OSXMMEXCPT);
	__asm__ volatile("fninit");
}

void syscall_init_cpu(void)
{
	wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_SCE);
	/* SYSCALL: CS = 0x08, SS = 0x10. SYSRET: CS = 0x18 + 16, SS = 0x18 + 8. */
	wrmsr(MSR_STAR, ((uint64_t)GDT_UCODE32 << 48) | ((uint64_t)GDT_KCODE << 32));
	wrmsr(MSR_LSTAR, (uint64_t)(uintptr_t)syscall_entry);
	/* Clear IF, TF, DF, AC on entry. */
	wrmsr(MSR_FMASK, RFLAGS_IF | (1u << 8) | (1u << 10) | RFLAGS_AC);
}
