/* Random bytes for the kernel: see kern/random.h. */
#include <kern/random.h>
#include <kern/string.h>
#include <arch/cpu.h>

static bool have_rdrand(void)
{
	static int known; /* atomic: 0 not asked yet, 1 no, 2 yes */
	int k = __atomic_load_n(&known, __ATOMIC_RELAXED);

	if (!k) {
		uint32_t a, b, c, d;
		cpuid(1, 0, &a, &b, &c, &d);
		k = c & (1u << 30) ? 2 : 1;
		__atomic_store_n(&known, k, __ATOMIC_RELAXED);
	}
	return k == 2;
}

uint64_t random_u64(void)
{
	static uint64_t counter; /* atomic: spreads TSC values read close together */
	uint64_t v = 0;
	bool ok = false;

	/* RDRAND may fail transiently (CF clear); a few tries are enough. */
	for (int tries = 0; have_rdrand() && !ok && tries < 10; tries++)
		__asm__ volatile("rdrand %0; setc %1" : "=r"(v), "=qm"(ok));
	if (ok)
		return v;
	/* splitmix64 of the TSC and a counter */
	v = rdtsc() + __atomic_add_fetch(&counter, 0x9e3779b97f4a7c15ull, __ATOMIC_RELAXED);
	v = (v ^ (v >> 30)) * 0xbf58476d1ce4e5b9ull;
	v = (v ^ (v >> 27)) * 0x94d049bb133111ebull;
	return v ^ (v >> 31);
}

void random_bytes(void *out, size_t n)
{
	uint8_t *p = out;

	while (n) {
		uint64_t v = random_u64();
		size_t k = n < sizeof(v) ? n : sizeof(v);
		memcpy(p, &v, k);
		p += k;
		n -= k;
	}
}
