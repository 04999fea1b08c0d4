/*
 * Wrappers for IRQ objects and I/O port ranges (uhw.h). One raw call per
 * wrapper; argument checking is the kernel's job.
 */
#include <uhw.h>

/* Handles travel sign-extended, as the C calling convention would. */
static inline uint64_t h64(alder_handle_t h)
{
	return (uint64_t)(int64_t)h;
}

long u_irq_create(alder_handle_t root, uint64_t gsi, uint64_t flags)
{
	return u_syscall3(SYS_IRQ_CREATE, h64(root), gsi, flags);
}

long u_irq_ack(alder_handle_t irq, uint64_t seq, uint64_t ack)
{
	return u_syscall3(SYS_IRQ_ACK, h64(irq), seq, ack);
}

struct alder_sqe u_sqe_irq_wait(uint64_t context, alder_handle_t irq, uint64_t last_seen)
{
	struct alder_sqe sqe = {.op = ALDER_OP_IRQ_WAIT, .handle = irq, .context = context};

	sqe.args[0] = last_seen;
	return sqe;
}

long u_ioport_create(alder_handle_t root, uint64_t base, uint64_t count)
{
	return u_syscall3(SYS_IOPORT_CREATE, h64(root), base, count);
}

long u_ioport_enable(alder_handle_t ioport)
{
	return u_syscall1(SYS_IOPORT_ENABLE, h64(ioport));
}
