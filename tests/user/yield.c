/*
 * yield: sys_yield returns 0, 10000 times in a row.
 */
#include <utest.h>

int main(const char *arg, size_t arg_len)
{
	for (int i = 0; i < 10000; i++) {
		long r = sys_yield();
		if (r != 0) {
			u_printf("yield: call %d returned %ld (%s)\n", i, r, u_errname(r));
			return 1;
		}
	}
	return 0;
}
