/*
 * fault_null: reads address 0. Page 0 is never mapped, so the kernel must
 * kill the process with #PF (vector 14), fault address 0. Exits 1 if the
 * read returns.
 */
#include <ulib.h>

int main(const char *arg, size_t arg_len)
{
	uint64_t addr = 0, v;

	/* asm, not C: a NULL dereference in C is undefined and gcc may replace
	 * it with ud2, which would test the wrong thing. */
	__asm__ volatile("movq (%1), %0" : "=r"(v) : "r"(addr) : "memory");
	u_printf("fault_null: read 0x%lx from address 0 without a fault\n", v);
	return 1;
}
