/*
 * Support for host unit tests of generic kernel code. Include after the
 * cmocka headers. Defines klog(), panic() and the fake physical memory.
 *
 * host_expect_panic(): panic() longjmps back to the setjmp in the test
 * instead of aborting, so a test can check that corruption is caught:
 *
 *	if (setjmp(host_panic_jmp) == 0) { host_expect_panic = true; kfree(p); fail(); }
 *	host_expect_panic = false;  // panic happened; host_panic_msg holds it
 */
#ifndef HOST_SHIM_H
#define HOST_SHIM_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <kern/types.h>

uint8_t *host_phys_base;
jmp_buf host_panic_jmp;
bool host_expect_panic;
char host_panic_msg[512];

void klog(enum log_level level, const char *fmt, ...)
{
	(void)level;
	if (!getenv("HOST_LOG"))
		return;
	va_list ap;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

__noreturn void panic(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(host_panic_msg, sizeof(host_panic_msg), fmt, ap);
	va_end(ap);
	if (host_expect_panic) {
		host_expect_panic = false;
		longjmp(host_panic_jmp, 1);
	}
	fprintf(stderr, "panic: %s\n", host_panic_msg);
	abort();
}

/* A fake physical memory of the given size; physical address 0 is its start. */
static inline void host_phys_setup(size_t bytes)
{
	free(host_phys_base);
	host_phys_base = aligned_alloc(4096, bytes);
	if (!host_phys_base)
		abort();
}

#endif
