/*
 * fault_gp: loads from the non-canonical address 0x8000000000000000 through
 * a general register (not rsp/rbp, which would raise #SS). Expect #GP
 * (vector 13), fault address 0 (it is not a page fault).
 */
#include <ulib.h>

int main(const char *arg, size_t arg_len)
{
	uint64_t addr = 0x8000000000000000ull, v;

	__asm__ volatile("movq (%1), %0" : "=r"(v) : "r"(addr) : "memory");
	u_printf("fault_gp: read 0x%lx from a non-canonical address\n", v);
	return 1;
}
