/*
 * User access to I/O ports (kernel/arch/x86_64/ioport.c): the hook the
 * scheduler calls so that each CPU's TSS I/O bitmap shows the ports of the
 * thread running on it.
 */
#ifndef ARCH_IOPORT_H
#define ARCH_IOPORT_H

struct thread;

/*
 * Called by switch_to() on the CPU that switches from prev to next, with
 * interrupts off, after next has stopped running anywhere else (after the
 * on_cpu wait) and before arch_context_switch(). Loads next's I/O bitmap into
 * this CPU's TSS, or deny-all if next has none (kernel threads, idle, threads
 * that never called SYS_IOPORT_ENABLE). When prev is DEAD (its last switch)
 * its bitmap is freed. Cheap when no thread has ports: one atomic load and
 * nothing else unless this CPU's bitmap was opened before.
 */
void arch_switch_io_bitmap(struct thread *prev, struct thread *next);

#endif
