/*
 * fault_ud: executes ud2. Expect #UD (vector 6), fault address 0.
 */
#include <ulib.h>

int main(const char *arg, size_t arg_len)
{
	__asm__ volatile("ud2" ::: "memory");
	u_printf("fault_ud: ud2 did not fault\n");
	return 1;
}
