/*
 * COM1 (16550 UART) console and QEMU's debugcon (port 0xe9): log output, and
 * console input through the COM1 receive interrupt into a small ring that
 * console_read() drains. Not a tty: line editing is the reader's business.
 */
#include <kern/types.h>
#include <kern/waitq.h>
#include <kern/cpu.h>
#include <arch/cpu.h>
#include <arch/apic.h>
#include <arch/trap.h>
#include <alder/errno.h>

#define COM1 0x3f8
#define DEBUGCON 0xe9
#define VEC_COM1 (VEC_IRQ_BASE + 4)

void arch_log_write(const char *s, size_t len);

static bool serial_present;

void serial_init(void)
{
	outb(COM1 + 1, 0x00); /* no interrupts */
	outb(COM1 + 3, 0x80); /* DLAB */
	outb(COM1 + 0, 0x01); /* 115200 baud */
	outb(COM1 + 1, 0x00);
	outb(COM1 + 3, 0x03); /* 8N1 */
	outb(COM1 + 2, 0xc7); /* FIFO on, cleared, 14-byte threshold */
	outb(COM1 + 4, 0x0b); /* DTR, RTS, OUT2 (IRQ gate) */
	outb(COM1 + 7, 0x5a); /* scratch register probe */
	serial_present = inb(COM1 + 7) == 0x5a;
}

void serial_putc(char c)
{
	if (!serial_present)
		return;
	for (int i = 0; i < 100000 && !(inb(COM1 + 5) & 0x20); i++)
		cpu_relax();
	outb(COM1, (uint8_t)c);
}

void arch_log_write(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '\n')
			serial_putc('\r');
		serial_putc(s[i]);
		outb(DEBUGCON, (uint8_t)s[i]);
	}
}

/* Input ring: written by the IRQ handler, read under the same lock. */
static struct waitq input_wq = WAITQ_INIT(input_wq);
static char input_ring[256];
static uint32_t input_head, input_tail; /* under input_wq.lock */

static void com1_irq(struct trap_frame *f, void *arg)
{
	spin_lock(&input_wq.lock);
	while (inb(COM1 + 5) & 1) {
		char c = (char)inb(COM1);
		if (input_head - input_tail < sizeof(input_ring))
			input_ring[input_head++ % sizeof(input_ring)] = c;
	}
	spin_unlock(&input_wq.lock);
	waitq_wake_all(&input_wq);
}

void serial_enable_irq(void)
{
	if (!serial_present)
		return;
	irq_set_handler(VEC_COM1, com1_irq, NULL);
	if (ioapic_route_isa(4, VEC_COM1) == 0)
		outb(COM1 + 1, 0x01); /* receive-data interrupt */
}

long console_read(char *buf, size_t len)
{
	if (!serial_present)
		return -ALDER_EIO;
	for (;;) {
		unsigned long f = spin_lock_irqsave(&input_wq.lock);
		if (input_head != input_tail) {
			size_t n = 0;
			while (n < len && input_tail != input_head)
				buf[n++] = input_ring[input_tail++ % sizeof(input_ring)];
			spin_unlock_irqrestore(&input_wq.lock, f);
			return (long)n;
		}
		if (waitq_sleep_locked(&input_wq, f, 0) == WAKE_KILL)
			return -ALDER_EINTR;
	}
}
