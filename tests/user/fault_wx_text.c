/*
 * fault_wx_text: writes to the first byte of its own .text (__text_start,
 * always ULIB_TEXT_BASE = 0x400000, see user.ld). Text is mapped R X, so
 * expect #PF (vector 14) at exactly 0x400000. Exits 1 if the write lands.
 */
#include <ulib.h>

int main(const char *arg, size_t arg_len)
{
	volatile uint8_t *p = (volatile uint8_t *)__text_start;
	uint8_t old = *p;

	*p = (uint8_t)(old ^ 0xff);
	u_printf("fault_wx_text: wrote to text at %p without a fault\n", (void *)__text_start);
	return 1;
}
