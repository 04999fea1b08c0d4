/*
 * musl shimfuzz: 20000 Linux system calls with adversarial arguments
 * (random words, small numbers, kernel addresses, all-ones, single bits,
 * pointers into a scratch buffer, page addresses in a region of its own)
 * against every number the shim answers and a few it does not. The kernel
 * must survive all of them and the process must keep running: the seed is
 * fixed, so a failure reproduces.
 * Left out, so the process survives: exit and exit_group, ARCH_SET_FS,
 * mapping calls whose range could touch the program, its stack or musl's
 * own mappings, sleeps and futex waits that could be long, and writes that
 * would put bytes in the log (fds 1 and 2 only get bad buffers).
 * Exit 0 after the last call.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define CALLS 20000
#define PG 4096ull

static uint64_t rng_state = 88172645463325252ull;

static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static unsigned char scratch[3 * PG] __attribute__((aligned(4096)));
/* Page addresses handed out for mapping calls: nothing of ours lives there. */
#define FUZZ_REGION 0x60000000ull

static uint64_t fuzz_arg(void)
{
	switch (rng() % 8) {
	case 0:
		return rng();
	case 1:
		return rng() % 64;
	case 2:
		return (uint64_t)(uintptr_t)(scratch + rng() % PG);
	case 3:
		return 0xffffffff80000000ull + rng() % PG;
	case 4:
		return FUZZ_REGION + (rng() % 256) * PG + (rng() % 4 == 0 ? rng() % PG : 0);
	case 5:
		return UINT64_MAX - rng() % 16;
	case 6:
		return 0;
	default:
		return 1ull << (rng() % 64);
	}
}

/* A sleep's timespec: the short one, or one the kernel cannot read (any
 * readable memory may hold a long time: a pointer written there earlier). */
static uint64_t bad_or_tiny(uint64_t tiny)
{
	switch (rng() % 4) {
	case 0:
		return 8;
	case 1:
		return 0xffffffff80000000ull + rng() % PG;
	case 2:
		return rng() | (1ull << 63);
	default:
		return tiny;
	}
}

/* Could [addr, addr+len) (rounded generously) touch memory we need? */
static int hits_us(uint64_t addr, uint64_t len)
{
	uint64_t hi = addr + len + 2 * PG;
	if (hi < addr)
		hi = UINT64_MAX;
	if (addr < 0x10000000ull && hi > 0x400000ull)
		return 1;					   /* the program image */
	return addr < 0x800000000000ull && hi > 0x100000000000ull; /* musl's mappings, the stack */
}

int main(void)
{
	static const long nrs[] = {
	    SYS_write,
	    SYS_mmap,
	    SYS_mprotect,
	    SYS_munmap,
	    SYS_brk,
	    SYS_rt_sigaction,
	    SYS_rt_sigprocmask,
	    SYS_ioctl,
	    SYS_writev,
	    SYS_sched_yield,
	    SYS_mremap,
	    SYS_nanosleep,
	    SYS_getpid,
	    SYS_arch_prctl,
	    SYS_gettid,
	    SYS_futex,
	    SYS_set_tid_address,
	    SYS_clock_gettime,
	    SYS_clock_nanosleep,
	    SYS_read,
	    SYS_close,
	    400,
	    1000,
	    0x3fffffff,
	};
	static const struct timespec tiny = {0, 1000};
	uint64_t tiny_p = (uint64_t)(uintptr_t)&tiny;
	long done = 0;

	for (int i = 0; i < CALLS; i++) {
		long nr = nrs[rng() % (sizeof(nrs) / sizeof(nrs[0]))];
		uint64_t a[6];
		for (int k = 0; k < 6; k++)
			a[k] = fuzz_arg();

		switch (nr) {
		case SYS_write:
		case SYS_writev:
			if (a[0] == 1 || a[0] == 2)
				a[1] = rng() % 2 ? 8 : 0xffffffff80000000ull;
			break;
		case SYS_arch_prctl:
			if (a[0] == 0x1002) /* ARCH_SET_FS */
				continue;
			break;
		case SYS_futex:
			a[3] = tiny_p; /* a wait that matches ends soon */
			break;
		case SYS_nanosleep:
			a[0] = bad_or_tiny(tiny_p);
			break;
		case SYS_clock_nanosleep:
			a[2] = bad_or_tiny(tiny_p);
			break;
		case SYS_mmap:
			if ((a[3] & 0x100010) && hits_us(a[0], a[1])) /* MAP_FIXED(_NOREPLACE) */
				continue;
			break;
		case SYS_mprotect:
		case SYS_munmap:
		case SYS_mremap:
			if (hits_us(a[0], a[1]))
				continue;
			break;
		}
		syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
		done++;
	}
	printf("musl shimfuzz: %ld calls made, still alive\n", done);
	return 0;
}
