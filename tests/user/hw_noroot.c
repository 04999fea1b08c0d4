/*
 * hw_noroot: a child process has no root handle, so the hardware calls that
 * need one fail with -EBADF when given handle number 1 (init's root slot),
 * and the calls on IRQ and port handles fail the same way. Must run before
 * this process creates any handle (slot 1 must be empty). Exits 0 if every
 * check passed.
 */
#include <uhw.h>
#include <utest.h>

int main(const char *arg, size_t arg_len)
{
	EXPECT_ERR("irq_create(ROOT) in a child", u_irq_create(ALDER_HANDLE_ROOT, 8, 0), ALDER_EBADF);
	EXPECT_ERR("irq_create(ROOT, flags) in a child", u_irq_create(ALDER_HANDLE_ROOT, 8, ALDER_IRQ_EDGE),
		   ALDER_EBADF);
	EXPECT_ERR("ioport_create(ROOT) in a child", u_ioport_create(ALDER_HANDLE_ROOT, 0x70, 2),
		   ALDER_EBADF);
	EXPECT_ERR("ioport_create(ROOT, all) in a child", u_ioport_create(ALDER_HANDLE_ROOT, 0, 0x10000),
		   ALDER_EBADF);
	EXPECT_ERR("irq_ack(1) in a child", u_irq_ack(ALDER_HANDLE_ROOT, 1, ALDER_IRQ_ACK), ALDER_EBADF);
	EXPECT_ERR("ioport_enable(1) in a child", u_ioport_enable(ALDER_HANDLE_ROOT), ALDER_EBADF);
	return u_test_end("hw_noroot");
}
