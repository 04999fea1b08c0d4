/*
 * fault_kernel_read: reads the kernel image (0xffffffff80000000), which is
 * mapped but supervisor-only. Expect #PF (vector 14) at that address.
 */
#include <ulib.h>

int main(const char *arg, size_t arg_len)
{
	uint64_t addr = 0xffffffff80000000ull, v;

	__asm__ volatile("movq (%1), %0" : "=r"(v) : "r"(addr) : "memory");
	u_printf("fault_kernel_read: read 0x%lx from the kernel image\n", v);
	return 1;
}
