/*
 * fault_de: unsigned integer division by zero with a divisor the compiler
 * cannot see. Expect #DE (vector 0), fault address 0.
 */
#include <ulib.h>

static volatile unsigned long divisor = 0;

int main(const char *arg, size_t arg_len)
{
	/* cppcheck-suppress zerodiv ; the point of the program */
	volatile unsigned long q = 1000 / divisor;

	u_printf("fault_de: 1000 / 0 = %lu without a fault\n", q);
	return 1;
}
