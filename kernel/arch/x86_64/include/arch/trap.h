/*
 * The register frame saved on every entry from user mode or interrupt:
 * built by isr.S (interrupts, exceptions) and syscall.S (SYSCALL). The layout
 * is shared with those files through the TF_* offsets below.
 */
#ifndef ARCH_TRAP_H
#define ARCH_TRAP_H

#define TF_R15 0
#define TF_RAX 112
#define TF_VECTOR 120
#define TF_ERROR 128
#define TF_RIP 136
#define TF_CS 144
#define TF_RFLAGS 152
#define TF_RSP 160
#define TF_SS 168
#define TF_SIZE 176

#define VEC_SYSCALL 0x100 /* frame->vector for SYSCALL entries */

#define GDT_KCODE 0x08
#define GDT_KDATA 0x10
#define GDT_UCODE32 0x18
#define GDT_UDATA 0x20
#define GDT_UCODE 0x28
#define GDT_TSS 0x30
#define USER_CS (GDT_UCODE | 3)
#define USER_SS (GDT_UDATA | 3)

/* Interrupt vectors. */
#define VEC_IRQ_BASE 0x20   /* IOAPIC GSIs are routed from here */
#define VEC_TIMER 0xe0
#define VEC_IPI_RESCHED 0xe1
#define VEC_IPI_TLB 0xe2
#define VEC_IPI_CALL 0xe3
#define VEC_IPI_HALT 0xe4
#define VEC_SPURIOUS 0xff

#ifndef __ASSEMBLY__
#include <kern/types.h>

struct trap_frame {
	uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
	uint64_t rbp, rdi, rsi, rdx, rcx, rbx, rax;
	uint64_t vector, error;
	uint64_t rip, cs, rflags, rsp, ss;
};
_Static_assert(sizeof(struct trap_frame) == TF_SIZE, "trap frame layout");
_Static_assert(__builtin_offsetof(struct trap_frame, rax) == TF_RAX, "trap frame layout");
_Static_assert(__builtin_offsetof(struct trap_frame, rip) == TF_RIP, "trap frame layout");

static inline bool trap_from_user(const struct trap_frame *f) { return (f->cs & 3) == 3; }

void trap_dispatch(struct trap_frame *f);
void idt_init(void);
void idt_load(void);
/* Register a handler for an interrupt vector (IRQs and IPIs). Runs with
 * interrupts disabled; the LAPIC EOI is sent after it returns. */
typedef void (*irq_handler_t)(struct trap_frame *f, void *arg);
void irq_set_handler(unsigned vector, irq_handler_t h, void *arg);
void trap_print_frame(const struct trap_frame *f);
void backtrace_print(uint64_t rbp, uint64_t rip);

/* Exception-table entry: a fault at insn resumes at fixup (uaccess.S). */
struct extable_entry {
	uint64_t insn, fixup;
};
#endif

#endif
