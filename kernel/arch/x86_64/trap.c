/*
 * CPU exceptions. A fault in user mode kills the faulting process with one
 * clear log line; the kernel goes on. A fault in kernel mode is either a
 * user-copy fault with an exception-table fixup (uaccess.S) or a kernel bug:
 * print the registers and a symbolized backtrace, then panic.
 */
#include <kern/assert.h>
#include <kern/cpu.h>
#include <kern/ksyms.h>
#include <kern/log.h>
#include <kern/process.h>
#include <kern/thread.h>
#include <kern/observe.h>
#include <alder/thread.h>
#include <kern/vmspace.h>
#include <arch/cpu.h>
#include <arch/paging.h>
#include <arch/trap.h>

void trap_exception(struct trap_frame *f);
void trap_user_return(struct trap_frame *f);

static const char *const exc_names[32] = {
	"divide error", "debug", "NMI", "breakpoint", "overflow", "bound range",
	"invalid opcode", "device not available", "double fault", "coprocessor overrun",
	"invalid TSS", "segment not present", "stack fault", "general protection",
	"page fault", "reserved", "x87 FP error", "alignment check", "machine check",
	"SIMD FP error", "virtualization", "control protection", "reserved", "reserved",
	"reserved", "reserved", "reserved", "reserved", "hypervisor injection",
	"VMM communication", "security", "reserved",
};

extern const struct extable_entry __extable_start[], __extable_end[];
extern char _text_start[], _text_end[];

void trap_print_frame(const struct trap_frame *f)
{
	log_err("  rip %016lx  cs %04lx  rflags %016lx  err %lx", f->rip, f->cs, f->rflags, f->error);
	log_err("  rsp %016lx  ss %04lx  cr2 %016lx  cr3 %016lx", f->rsp, f->ss, read_cr2(), read_cr3());
	log_err("  rax %016lx  rbx %016lx  rcx %016lx  rdx %016lx", f->rax, f->rbx, f->rcx, f->rdx);
	log_err("  rsi %016lx  rdi %016lx  rbp %016lx  r8  %016lx", f->rsi, f->rdi, f->rbp, f->r8);
	log_err("  r9  %016lx  r10 %016lx  r11 %016lx  r12 %016lx", f->r9, f->r10, f->r11, f->r12);
	log_err("  r13 %016lx  r14 %016lx  r15 %016lx", f->r13, f->r14, f->r15);
}

static void print_sym(int depth, uint64_t addr)
{
	uint64_t off;
	const char *name = ksym_lookup(addr, &off);
	if (name)
		log_err("  #%d %016lx %s+0x%lx", depth, addr, name, off);
	else
		log_err("  #%d %016lx ?", depth, addr);
}

/* Walk the frame-pointer chain (the kernel is built with frame pointers);
 * stop at anything that is not a plausible kernel stack address. */
void backtrace_print(uint64_t rbp, uint64_t rip)
{
	log_err("backtrace:");
	print_sym(0, rip);
	for (int depth = 1; depth < 24; depth++) {
		if (rbp < 0xffff800000000000ull || (rbp & 7))
			break;
		if (paging_lookup(read_cr3() & PTE_ADDR, rbp) == 0 ||
		    paging_lookup(read_cr3() & PTE_ADDR, rbp + 8) == 0)
			break;
		const uint64_t *fp = (const uint64_t *)(uintptr_t)rbp;
		uint64_t ret = fp[1];
		if (ret < (uint64_t)(uintptr_t)_text_start || ret >= (uint64_t)(uintptr_t)_text_end)
			break;
		print_sym(depth, ret);
		if (fp[0] <= rbp)
			break;
		rbp = fp[0];
	}
}

/* Is the faulting instruction one with an exception-table entry? */
static bool try_fixup_lookup(const struct trap_frame *f)
{
	for (const struct extable_entry *e = __extable_start; e < __extable_end; e++)
		if (e->insn == f->rip)
			return true;
	return false;
}

static bool try_fixup(struct trap_frame *f)
{
	for (const struct extable_entry *e = __extable_start; e < __extable_end; e++) {
		if (e->insn == f->rip) {
			f->rip = e->fixup;
			return true;
		}
	}
	return false;
}

void trap_exception(struct trap_frame *f)
{
	unsigned v = (unsigned)f->vector;
	extern bool smp_percpu_ready;
	struct thread *cur = smp_percpu_ready ? thread_current() : NULL;
	/* Page faults on user addresses — from user mode, or from the kernel
	 * copying user memory — first go to the address space: most are lazy
	 * allocation or copy-on-write. */
	if (v == 14 && cur && cur->proc && read_cr2() < USER_TOP && (trap_from_user(f) || try_fixup_lookup(f))) {
		if (vmspace_fault(cur->proc->space, read_cr2(), f->error) == 0)
			return;
	}
	if (trap_from_user(f) && observe_supervised()) {
		/* The supervisor decides: fix and resume, or kill. */
		observe_stop(ALDER_OBS_FAULT, v, v == 14 ? read_cr2() : 0);
		return;
	}
	if (trap_from_user(f)) {
		struct thread *t = cur;
		uint64_t addr = v == 14 ? read_cr2() : 0;
		if (v == 14)
			log_warn("user fault: process %u (%s) thread %u: page fault at rip %lx addr %lx err %lx; killed",
				 t->proc ? t->proc->pid : 0, t->proc ? t->proc->name : "?", t->tid, f->rip, addr,
				 f->error);
		else
			log_warn("user fault: process %u (%s) thread %u: %s (vector %u) at rip %lx err %lx; killed",
				 t->proc ? t->proc->pid : 0, t->proc ? t->proc->name : "?", t->tid, exc_names[v], v,
				 f->rip, f->error);
		process_exit(ALDER_EXIT_FAULT, (int)v, addr);
	}
	if (v == 14 && try_fixup(f))
		return;
	if (v == 2) {
		/* NMI: another CPU panicked and asks us to stop. */
		for (;;) {
			irq_disable();
			cpu_halt();
		}
	}
	const char *what = exc_names[v];
	if (v == 8)
		what = "double fault (kernel stack overflow?)";
	log_err("kernel fault: %s (vector %u) on CPU %u", what, v, this_cpu()->id);
	trap_print_frame(f);
	backtrace_print(f->rbp, f->rip);
	panic("unhandled kernel exception %u", v);
}

void trap_user_return(struct trap_frame *f)
{
	struct cpu *c = this_cpu();
	/* Preempt when returning to user mode, or into kernel code that ran
	 * with interrupts enabled (it holds no spinlock: every lock is taken
	 * with interrupts off). */
	bool preemptible = trap_from_user(f) || (f->rflags & RFLAGS_IF);
	if (preemptible && c->need_resched) {
		c->need_resched = 0;
		schedule();
	}
	if (trap_from_user(f)) {
		struct thread *t = thread_current();
		if (t->stop_requested)
			observe_stop(ALDER_OBS_STOPPED, 0, 0);
		if (t->proc && process_killed(t->proc))
			process_exit(ALDER_EXIT_NORMAL, 0, 0);
	}
}
