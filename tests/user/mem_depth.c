/*
 * Nesting limit of copy-on-write views and slices: ALDER_MEM_MAX_DEPTH
 * levels work (a read and a write through the deepest one reach the right
 * frames), one more level is refused with -EMLINK. Without the limit a
 * chain hundreds of views deep overflowed the kernel stack on the first
 * fault (found by the system-call fuzzer).
 */
#include <ulib.h>
#include <umem.h>
#include <utest.h>
#include <alder/memory.h>

#define PAGE 4096ull

int main(const char *arg, size_t len)
{
	long base = u_mem_create(PAGE, 0);
	CHECK(base > 0);
	long at = u_space_map(ALDER_HANDLE_SELF_SPACE, base, 0, 0, PAGE, ALDER_PROT_READ | ALDER_PROT_WRITE);
	CHECK(at > 0);
	*(volatile uint32_t *)at = 0x5eed;

	long handles[ALDER_MEM_MAX_DEPTH + 1];
	long prev = base;
	for (int i = 0; i < ALDER_MEM_MAX_DEPTH; i++) {
		/* Alternate views and slices: both count. */
		handles[i] = (i & 1) ? u_mem_create_slice(prev, 0, PAGE) : u_mem_create_cow(prev, 0, PAGE);
		CHECK(handles[i] > 0);
		prev = handles[i];
	}
	CHECK(u_mem_create_cow(prev, 0, PAGE) == -ALDER_EMLINK);
	CHECK(u_mem_create_slice(prev, 0, PAGE) == -ALDER_EMLINK);

	long deep = u_space_map(ALDER_HANDLE_SELF_SPACE, prev, 0, 0, PAGE, ALDER_PROT_READ | ALDER_PROT_WRITE);
	CHECK(deep > 0);
	CHECK(*(volatile uint32_t *)deep == 0x5eed);
	*(volatile uint32_t *)deep = 0xd33b;
	CHECK(*(volatile uint32_t *)at == 0x5eed); /* the write stayed in the views */
	CHECK(u_space_unmap(ALDER_HANDLE_SELF_SPACE, (uint64_t)deep, PAGE) == 0);
	for (int i = ALDER_MEM_MAX_DEPTH - 1; i >= 0; i--)
		CHECK(u_handle_close(handles[i]) == 0);
	CHECK(u_space_unmap(ALDER_HANDLE_SELF_SPACE, (uint64_t)at, PAGE) == 0);
	CHECK(u_handle_close(base) == 0);
	return 0;
}
