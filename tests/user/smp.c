/*
 * smp: two threads spin side by side and check that the kernel really runs
 * them at the same time on different CPUs (when it has at least two).
 *
 * Each spinner, every iteration, asks the kernel which CPU it is on
 * (ALDER_INFO_CPU_ID), publishes that CPU and bumps its sequence number,
 * then looks at the other's. It counts an "overlap" when, between two of its
 * own consecutive iterations on the same CPU X, the other thread advanced
 * while publishing a CPU other than X: the other was running elsewhere while
 * this one was running on X. With one CPU (or everything on CPU 0) no such
 * observation is possible. Pass (>= 2 CPUs): both threads see at least
 * OVERLAP_TARGET overlaps within WINDOW_NS. Pass (1 CPU): both threads make
 * at least MIN_PROGRESS iterations within the window (preemption works).
 * The window is bounded by the monotonic clock, so a failing kernel fails
 * in seconds rather than hanging.
 */
#include <utest.h>

#define OVERLAP_TARGET 10
#define MIN_PROGRESS 1000
#define WINDOW_NS (5 * U_NS_PER_SEC)
#define STACK_SIZE 16384
#define NO_CPU (~0ull)

/* Per-spinner state. cpu and seq are written by their owner, read by the
 * other spinner; overlaps, cpus_seen, error and done are written by the
 * owner, read by main after done. All accesses are u_atomic_*. */
struct spinner {
	uint64_t cpu;
	uint64_t seq;
	uint64_t overlaps;
	uint64_t cpus_seen; /* bit n: ran on CPU n (n < 64) */
	long error;	    /* sys_info failure, or 1 for a CPU id >= count */
	unsigned done;
} __attribute__((aligned(64)));

static struct spinner spin[2];
static uint8_t stacks[2][STACK_SIZE] __attribute__((aligned(16)));
static uint64_t ncpus;	  /* written by main before the threads start */
static uint64_t deadline; /* likewise */

static bool finished_enough(void)
{
	if (ncpus >= 2)
		return u_atomic_load(&spin[0].overlaps) >= OVERLAP_TARGET &&
		       u_atomic_load(&spin[1].overlaps) >= OVERLAP_TARGET;
	return u_atomic_load(&spin[0].seq) >= MIN_PROGRESS && u_atomic_load(&spin[1].seq) >= MIN_PROGRESS;
}

static void spinner_main(void *arg)
{
	uintptr_t me = (uintptr_t)arg, other = 1 - me;
	struct spinner *s = &spin[me], *o = &spin[other];
	uint64_t prev_cpu = NO_CPU, last_other_seq = u_atomic_load(&o->seq);

	for (unsigned long it = 0;; it++) {
		uint64_t cpu;
		long r = sys_info(ALDER_INFO_CPU_ID, &cpu);
		if (r != 0 || cpu >= ncpus) {
			u_atomic_store(&s->error, r != 0 ? r : 1);
			break;
		}
		if (cpu < 64)
			u_atomic_store(&s->cpus_seen, u_atomic_load(&s->cpus_seen) | (1ull << cpu));
		u_atomic_store(&s->cpu, cpu);
		u_atomic_fetch_add(&s->seq, 1);

		uint64_t oseq = u_atomic_load(&o->seq);
		uint64_t ocpu = u_atomic_load(&o->cpu);
		if (oseq != last_other_seq && prev_cpu == cpu && ocpu != NO_CPU && ocpu != cpu)
			u_atomic_fetch_add(&s->overlaps, 1);
		last_other_seq = oseq;
		prev_cpu = cpu;

		if (finished_enough())
			break;
		if ((it & 63) == 63 && u_now_ns() > deadline)
			break;
	}
	u_atomic_store(&s->done, 1);
	sys_thread_exit();
}

int main(const char *arg, size_t arg_len)
{
	CHECK_EQ(sys_info(ALDER_INFO_CPU_COUNT, &ncpus), 0);
	CHECK(ncpus >= 1);
	for (int i = 0; i < 2; i++)
		spin[i].cpu = NO_CPU;
	uint64_t start = u_now_ns();
	CHECK(start != 0);
	deadline = start + WINDOW_NS;

	for (uintptr_t i = 0; i < 2; i++) {
		long tid = u_thread_start(spinner_main, (void *)i, stacks[i], STACK_SIZE);
		if (tid < 0) {
			u_printf("smp: sys_thread_create: %ld (%s)\n", tid, u_errname(tid));
			return 1;
		}
	}

	/* Spinners stop by the deadline; allow as long again for them to be
	 * scheduled at all before calling it a hang. */
	while (!u_atomic_load(&spin[0].done) || !u_atomic_load(&spin[1].done)) {
		if (u_now_ns() > deadline + WINDOW_NS) {
			u_printf("smp: spinners did not stop (done %u %u, seq %lu %lu)\n",
				 u_atomic_load(&spin[0].done), u_atomic_load(&spin[1].done),
				 u_atomic_load(&spin[0].seq), u_atomic_load(&spin[1].seq));
			return 1;
		}
		CHECK_EQ(sys_sleep(10 * U_NS_PER_MS), 0);
	}

	u_printf("smp: %lu cpus, %lu ms; thread 0: %lu iterations, %lu overlaps, cpus 0x%lx; "
		 "thread 1: %lu iterations, %lu overlaps, cpus 0x%lx\n",
		 ncpus, (u_now_ns() - start) / U_NS_PER_MS, spin[0].seq, spin[0].overlaps, spin[0].cpus_seen,
		 spin[1].seq, spin[1].overlaps, spin[1].cpus_seen);
	for (int i = 0; i < 2; i++) {
		if (spin[i].error != 0) {
			u_printf("smp: thread %d: sys_info(CPU_ID) failed or out of range (%ld)\n", i,
				 spin[i].error);
			return 1;
		}
	}
	if (ncpus >= 2) {
		CHECK(spin[0].overlaps >= OVERLAP_TARGET);
		CHECK(spin[1].overlaps >= OVERLAP_TARGET);
	} else {
		CHECK(spin[0].seq >= MIN_PROGRESS);
		CHECK(spin[1].seq >= MIN_PROGRESS);
	}
	return 0;
}
