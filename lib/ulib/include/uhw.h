/*
 * uhw: wrappers for the hardware-access calls (abi/alder/hw.h): IRQ objects,
 * I/O port ranges, the ALDER_OP_IRQ_WAIT SQE builder, and port I/O
 * instructions for a thread that has enabled the ports.
 *
 * Like umem.h: each wrapper is one raw system call that returns the
 * kernel's result unchanged (>= 0, or -ALDER_E*) and passes bad values
 * through untouched (handles sign-extended), so tests can hand the kernel
 * anything. No policy: waiting and answering interrupts is the caller's
 * loop (see hw.h for the answer rules).
 */
#ifndef ULIB_UHW_H
#define ULIB_UHW_H

#include <ulib.h>

#include <alder/handle.h>
#include <alder/hw.h>
#include <alder/memory.h> /* ALDER_HANDLE_ROOT */
#include <alder/queue.h>

/* ---- IRQ objects -------------------------------------------------------------- */
/* Claim gsi (ALDER_IRQ_* flags, 0 = firmware's); returns the IRQ handle. */
long u_irq_create(alder_handle_t root, uint64_t gsi, uint64_t flags);
/* Answer interrupt seq: ALDER_IRQ_ACK ("mine, handled") or ALDER_IRQ_NACK. */
long u_irq_ack(alder_handle_t irq, uint64_t seq, uint64_t ack);
/* An ALDER_OP_IRQ_WAIT SQE: completes with the line's sequence once it is
 * newer than last_seen. */
struct alder_sqe u_sqe_irq_wait(uint64_t context, alder_handle_t irq, uint64_t last_seen);

/* ---- I/O ports ------------------------------------------------------------------- */
/* Ports [base, base + count); returns the ioport handle. */
long u_ioport_create(alder_handle_t root, uint64_t base, uint64_t count);
/* Let the calling thread use the ports of ioport (until it exits). */
long u_ioport_enable(alder_handle_t ioport);

/* The instructions; fault (#GP) unless the calling thread enabled the port. */
static inline void u_outb(uint16_t port, uint8_t v)
{
	__asm__ volatile("outb %0, %1" ::"a"(v), "Nd"(port));
}

static inline uint8_t u_inb(uint16_t port)
{
	uint8_t v;
	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

#endif
