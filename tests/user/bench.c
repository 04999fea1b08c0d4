/*
 * Micro-benchmarks of the kernel interface, run by init in bench mode
 * (alder.mode=bench). Under QEMU -icount shift=0 the TSC counts one tick
 * per instruction-nanosecond, so the figures are virtual nanoseconds.
 * Prints "bench NAME VALUE ns" lines; a benchmark, not a test: it checks
 * only that the calls succeed.
 */
#include <ulib.h>
#include <umem.h>
#include <alder/memory.h>

#define ROUNDS 2000

static uint64_t now(void) { return u_rdtsc(); }

static void report(const char *name, uint64_t total, uint64_t n)
{
	u_printf("bench %s %lu ns\n", name, (unsigned long)(total / n));
}

static void bench_null(void)
{
	/* The shortest native call: closing handle 0 fails at once. */
	for (int i = 0; i < 100; i++)
		u_syscall1(SYS_HANDLE_CLOSE, 0);
	uint64_t t0 = now();
	for (int i = 0; i < ROUNDS * 10; i++)
		u_syscall1(SYS_HANDLE_CLOSE, 0);
	report("null_syscall", now() - t0, ROUNDS * 10);
}

static volatile uint32_t ping; /* 0: main's turn, 1: partner's turn, 2: stop */
static uint8_t partner_stack[16384] __attribute__((aligned(16)));

static void partner(void *arg)
{
	for (;;) {
		while (__atomic_load_n(&ping, __ATOMIC_ACQUIRE) == 0)
			u_syscall3(SYS_FUTEX_WAIT, (uint64_t)&ping, 0, 0);
		if (ping == 2)
			break;
		__atomic_store_n(&ping, 0, __ATOMIC_RELEASE);
		u_syscall2(SYS_FUTEX_WAKE, (uint64_t)&ping, 1);
	}
	sys_thread_exit();
}

static void bench_futex(void)
{
	long t = sys_thread_create(partner, NULL, partner_stack + sizeof(partner_stack));
	if (t < 0) {
		u_printf("bench: thread_create failed: %ld\n", t);
		return;
	}
	uint64_t t0 = now();
	for (int i = 0; i < ROUNDS; i++) {
		__atomic_store_n(&ping, 1, __ATOMIC_RELEASE);
		u_syscall2(SYS_FUTEX_WAKE, (uint64_t)&ping, 1);
		while (__atomic_load_n(&ping, __ATOMIC_ACQUIRE) == 1)
			u_syscall3(SYS_FUTEX_WAIT, (uint64_t)&ping, 1, 0);
	}
	report("futex_pingpong", now() - t0, ROUNDS);
	__atomic_store_n(&ping, 2, __ATOMIC_RELEASE);
	u_syscall2(SYS_FUTEX_WAKE, (uint64_t)&ping, 1);
}

static void bench_map_touch(void)
{
	const uint64_t size = 1 << 20;
	uint64_t total = 0;
	const int reps = 20;
	for (int r = 0; r < reps; r++) {
		uint64_t t0 = now();
		long m = u_mem_create(size, 0);
		long at = u_space_map(ALDER_HANDLE_SELF_SPACE, m, 0, 0, size, ALDER_PROT_READ | ALDER_PROT_WRITE);
		if (m < 0 || at < 0) {
			u_printf("bench: map failed: %ld %ld\n", m, at);
			return;
		}
		for (uint64_t off = 0; off < size; off += 4096)
			((volatile uint8_t *)at)[off] = 1;
		u_space_unmap(ALDER_HANDLE_SELF_SPACE, (uint64_t)at, size);
		u_handle_close(m);
		total += now() - t0;
	}
	report("map_touch_1m", total, reps);
}

int main(const char *arg, size_t len)
{
	bench_null();
	bench_futex();
	bench_map_touch();
	return 0;
}
