/*
 * hw_port_denied: port I/O without having been given the port must fault
 * (#GP, vector 13) and kill the process, even when another process (init,
 * during its hardware tests) may use the same port. The argument picks the
 * access:
 *   ""     inb from 0x70 (the CMOS index port)
 *   out    outb to 0x71
 *   top    inw from 0xffff: the last port, whose second byte lies past
 *          the 64 Ki-port bitmap (checked against its trailing byte)
 * Exits 1 if the access ran, 2 on an unknown argument.
 */
#include <uhw.h>

int main(const char *arg, size_t arg_len)
{
	if (arg[0] == '\0') {
		uint8_t v = u_inb(0x70);
		u_printf("hw_port_denied: inb 0x70 = 0x%x without a fault\n", v);
	} else if (strcmp(arg, "out") == 0) {
		u_outb(0x71, 0);
		u_printf("hw_port_denied: outb 0x71 ran without a fault\n");
	} else if (strcmp(arg, "top") == 0) {
		uint16_t v;
		__asm__ volatile("inw %w1, %0" : "=a"(v) : "d"((uint16_t)0xffff));
		u_printf("hw_port_denied: inw 0xffff = 0x%x without a fault\n", v);
	} else {
		u_printf("hw_port_denied: unknown argument \"%s\" (\"\", out, top)\n", arg);
		return 2;
	}
	return 1;
}
