/*
 * fault_priv: executes one privileged instruction chosen by the argument:
 *   cli  - needs IOPL 3 (the kernel must keep IOPL 0 for user code)
 *   hlt  - CPL 0 only
 *   io   - inb from port 0x80 (IOPL 0 and no I/O permission bitmap grant)
 *   cr3  - mov from cr3 (CPL 0 only)
 * Each must raise #GP (vector 13). Exits 1 if the instruction ran, 2 on an
 * unknown argument.
 */
#include <ulib.h>

int main(const char *arg, size_t arg_len)
{
	if (strcmp(arg, "cli") == 0) {
		__asm__ volatile("cli" ::: "memory");
		/* Interrupts would now be off in user mode: put them back before
		 * reporting, although the kernel should never let us get here. */
		__asm__ volatile("sti" ::: "memory");
	} else if (strcmp(arg, "hlt") == 0) {
		__asm__ volatile("hlt" ::: "memory");
	} else if (strcmp(arg, "io") == 0) {
		uint8_t v;
		__asm__ volatile("inb $0x80, %0" : "=a"(v) : : "memory");
		(void)v;
	} else if (strcmp(arg, "cr3") == 0) {
		uint64_t v;
		__asm__ volatile("movq %%cr3, %0" : "=r"(v) : : "memory");
		u_printf("fault_priv: read cr3 = 0x%lx\n", v);
	} else {
		u_printf("fault_priv: unknown argument \"%s\" (cli, hlt, io, cr3)\n", arg);
		return 2;
	}
	u_printf("fault_priv: \"%s\" ran in user mode without a fault\n", arg);
	return 1;
}
