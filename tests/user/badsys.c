/*
 * badsys: makes one system call that does not exist, chosen by the argument:
 *   native - ALDER_SYS_BASE + 999
 *   edge   - ALDER_SYS_BASE + SYS_NATIVE_COUNT (first number past the table)
 *   neg    - 0xffffffffffffffff (catches signed table indexing)
 * The kernel must kill the process (ALDER_EXIT_BADSYS). If the call returns,
 * the program prints the result and exits 1; unknown argument exits 2.
 *   linux  - 57 (Linux fork), a Linux number the shim does not answer: for
 *            a process without a supervisor it returns -ENOSYS (exit 0),
 *            it does not kill.
 */
#include <ulib.h>

int main(const char *arg, size_t arg_len)
{
	uint64_t nr;

	if (strcmp(arg, "native") == 0)
		nr = ALDER_SYS_BASE + 999;
	else if (strcmp(arg, "edge") == 0)
		nr = ALDER_SYS_BASE + SYS_NATIVE_COUNT;
	else if (strcmp(arg, "linux") == 0) {
		long r = u_syscall0(57);
		if (r == -ALDER_ENOSYS)
			return 0;
		u_printf("badsys: Linux fork returned %ld, expected -ENOSYS\n", r);
		return 1;
	}
	else if (strcmp(arg, "neg") == 0)
		nr = ~0ull;
	else {
		u_printf("badsys: unknown argument \"%s\" (native, edge, linux, neg)\n", arg);
		return 2;
	}
	long r = u_syscall0(nr);
	u_printf("badsys: syscall 0x%lx returned %ld instead of killing us\n", nr, r);
	return 1;
}
