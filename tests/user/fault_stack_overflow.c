/*
 * fault_stack_overflow: recurses without bound, 512+ bytes a frame, until
 * it runs off the bottom of its 64 KiB stack. The page below must be
 * unmapped (a guard), so expect #PF (vector 14) just below the stack, not a
 * write into whatever lies there.
 */
#include <ulib.h>

/* Never set; keeps the recursion from looking infinite to the compiler. */
static volatile unsigned long stop_depth;

static unsigned long recurse(unsigned long depth)
{
	volatile char pad[512];

	pad[0] = (char)depth;
	pad[sizeof(pad) - 1] = (char)depth;
	if (depth == stop_depth)
		return depth;
	/* Not a tail call: the frame must stay live across the recursion. */
	return recurse(depth + 1) + (unsigned long)pad[0] + (unsigned long)pad[sizeof(pad) - 1];
}

int main(const char *arg, size_t arg_len)
{
	stop_depth = 0; /* depth starts at 1: never reached */
	unsigned long r = recurse(1);

	u_printf("fault_stack_overflow: recursion ended (%lu) without a fault\n", r);
	return 1;
}
