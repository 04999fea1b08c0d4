/*
 * fault_nx_stack: puts a `ret` instruction in a stack buffer and calls it.
 * The stack is mapped non-executable, so the instruction fetch must raise
 * #PF (vector 14) at the buffer's address (on the stack, above the program
 * image). If the stack were executable the ret would come straight back and
 * the program exits 1.
 */
#include <ulib.h>

int main(const char *arg, size_t arg_len)
{
	volatile uint8_t code[16];

	code[0] = 0xc3; /* ret */
	u_printf("fault_nx_stack: calling stack code at %p\n", (void *)code);
	void (*fn)(void) = (void (*)(void))(uintptr_t)code;
	__asm__ volatile("" ::: "memory");
	fn();
	u_printf("fault_nx_stack: executed code on the stack\n");
	return 1;
}
