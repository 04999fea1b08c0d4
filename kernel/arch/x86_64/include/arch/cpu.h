/*
 * x86_64 instructions and registers, as inline functions. No policy here.
 */
#ifndef ARCH_CPU_H
#define ARCH_CPU_H

#include <kern/types.h>

#define MSR_EFER 0xc0000080u
#define MSR_STAR 0xc0000081u
#define MSR_LSTAR 0xc0000082u
#define MSR_FMASK 0xc0000084u
#define MSR_FS_BASE 0xc0000100u
#define MSR_GS_BASE 0xc0000101u
#define MSR_KERNEL_GS_BASE 0xc0000102u
#define MSR_APIC_BASE 0x1bu
#define MSR_TSC_DEADLINE 0x6e0u
#define MSR_PAT 0x277u

#define EFER_SCE (1u << 0)
#define EFER_LME (1u << 8)
#define EFER_NXE (1u << 11)

#define CR0_WP (1ul << 16)
#define CR0_MP (1ul << 1)
#define CR0_EM (1ul << 2)
#define CR0_TS (1ul << 3)
#define CR4_PGE (1ul << 7)
#define CR4_OSFXSR (1ul << 9)
#define CR4_OSXMMEXCPT (1ul << 10)
#define CR4_FSGSBASE (1ul << 16)
#define CR4_SMEP (1ul << 20)
#define CR4_SMAP (1ul << 21)

#define RFLAGS_IF (1ul << 9)
#define RFLAGS_AC (1ul << 18)

static inline void outb(uint16_t port, uint8_t v) { __asm__ volatile("outb %0, %1" ::"a"(v), "Nd"(port)); }
static inline void outw(uint16_t port, uint16_t v) { __asm__ volatile("outw %0, %1" ::"a"(v), "Nd"(port)); }
static inline void outl(uint16_t port, uint32_t v) { __asm__ volatile("outl %0, %1" ::"a"(v), "Nd"(port)); }
static inline uint8_t inb(uint16_t port)
{
	uint8_t v;
	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}
static inline uint16_t inw(uint16_t port)
{
	uint16_t v;
	__asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}
static inline uint32_t inl(uint16_t port)
{
	uint32_t v;
	__asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static inline uint64_t rdmsr(uint32_t msr)
{
	uint32_t lo, hi;
	__asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
	return ((uint64_t)hi << 32) | lo;
}
static inline void wrmsr(uint32_t msr, uint64_t v)
{
	__asm__ volatile("wrmsr" ::"c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)));
}

static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}

static inline void cpuid(uint32_t leaf, uint32_t sub, uint32_t *a, uint32_t *b, uint32_t *c, uint32_t *d)
{
	__asm__ volatile("cpuid" : "=a"(*a), "=b"(*b), "=c"(*c), "=d"(*d) : "a"(leaf), "c"(sub));
}

#define DEFINE_CR(n)                                                                   \
	static inline uint64_t read_cr##n(void)                                        \
	{                                                                              \
		uint64_t v;                                                            \
		__asm__ volatile("mov %%cr" #n ", %0" : "=r"(v));                      \
		return v;                                                              \
	}                                                                              \
	static inline void write_cr##n(uint64_t v) { __asm__ volatile("mov %0, %%cr" #n ::"r"(v) : "memory"); }
DEFINE_CR(0)
DEFINE_CR(2)
DEFINE_CR(3)
DEFINE_CR(4)
#undef DEFINE_CR

static inline void invlpg(vaddr_t va) { __asm__ volatile("invlpg (%0)" ::"r"(va) : "memory"); }
static inline void cpu_relax(void) { __asm__ volatile("pause" ::: "memory"); }
static inline void cpu_halt(void) { __asm__ volatile("hlt" ::: "memory"); }
static inline void irq_enable(void) { __asm__ volatile("sti" ::: "memory"); }
static inline void irq_disable(void) { __asm__ volatile("cli" ::: "memory"); }

static inline unsigned long read_rflags(void)
{
	unsigned long f;
	__asm__ volatile("pushfq; popq %0" : "=r"(f)::"memory");
	return f;
}
/* Disable interrupts; return the previous RFLAGS for irq_restore. */
static inline unsigned long irq_save(void)
{
	unsigned long f = read_rflags();
	irq_disable();
	return f;
}
static inline void irq_restore(unsigned long f)
{
	if (f & RFLAGS_IF)
		irq_enable();
}
static inline bool irq_enabled(void) { return read_rflags() & RFLAGS_IF; }

/* Open and close a user-memory access window under SMAP; without SMAP the
 * instructions would be #UD, so they run only when the CPU has it. */
extern bool cpu_has_smap;
static inline void user_access_begin(void)
{
	if (cpu_has_smap)
		__asm__ volatile("stac" ::: "memory", "cc");
}
static inline void user_access_end(void)
{
	if (cpu_has_smap)
		__asm__ volatile("clac" ::: "memory", "cc");
}

#endif
