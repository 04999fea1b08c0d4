/*
 * fault_kernel_write: writes to the kernel image (0xffffffff80000000).
 * Expect #PF (vector 14) at that address, and of course no kernel damage:
 * init goes on running tests afterwards.
 */
#include <ulib.h>

int main(const char *arg, size_t arg_len)
{
	uint64_t addr = 0xffffffff80000000ull;

	__asm__ volatile("movq %1, (%0)" : : "r"(addr), "r"(0x4141414141414141ull) : "memory");
	u_printf("fault_kernel_write: wrote to the kernel image without a fault\n");
	return 1;
}
