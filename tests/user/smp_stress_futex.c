/*
 * smp_stress_futex: NTHREADS threads (spread over the CPUs) hammer one
 * futex-based mutex (u_mutex_*) for RUN_NS. Inside the critical section a
 * thread checks that nobody else is there (owner word), bumps a shared
 * counter with plain loads and stores, and sometimes yields or spins while
 * holding the lock so that others pile up in SYS_FUTEX_WAIT.
 *
 * Pass: no thread saw another inside the section, no futex call failed,
 * the shared counter equals the sum of the threads' own counts, every
 * thread got the lock at least once, the mutex word ends 0, and with two or
 * more CPUs the threads were seen on at least two of them. The mutex is not
 * fair (a running thread can barge past a woken one), so counts per thread
 * vary widely and are not checked; a lost wake-up leaves a thread asleep
 * for good, and that shows as a stuck run. The run lasts RUN_NS and until
 * every thread got the lock once (at most GIVE_UP_NS).
 */
#include <umem.h>
#include <utest.h>

#define NTHREADS 4
#define STACK_SIZE 16384
#define RUN_NS (1 * U_NS_PER_SEC)
#define MIN_EACH 1
#define GIVE_UP_NS (15 * U_NS_PER_SEC)

static uint8_t stacks[NTHREADS][STACK_SIZE] __attribute__((aligned(16)));

static u_mutex_t lock = U_MUTEX_INIT;
/* Protected by lock: plain (volatile) accesses on purpose, a broken mutex
 * loses increments. */
static volatile unsigned long shared_count;
static volatile unsigned owner; /* 0 or thread index + 1 */

static struct worker {
	unsigned long mine;
	unsigned long overlaps;
	uint64_t cpus; /* bit per CPU seen */
	long error;
	unsigned done;
} workers[NTHREADS] __attribute__((aligned(64)));

static unsigned stop; /* main sets it to end the run */

static void worker_main(void *arg)
{
	uintptr_t me = (uintptr_t)arg;
	struct worker *w = &workers[me];
	uint64_t x = 0x9e3779b97f4a7c15ull * (me + 1);

	for (unsigned long it = 0;; it++) {
		if ((it & 15) == 0) {
			if (u_atomic_load(&stop))
				break;
			uint64_t cpu = u_info(ALDER_INFO_CPU_ID, 63);
			u_atomic_store(&w->cpus, u_atomic_load(&w->cpus) | (1ull << (cpu & 63)));
		}
		long r = u_mutex_lock(&lock);
		if (r != 0) {
			u_atomic_store(&w->error, r);
			break;
		}
		if (owner != 0)
			w->overlaps++;
		owner = (unsigned)me + 1;
		unsigned long v = shared_count;
		/* xorshift decides how long to hold the lock. */
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		if ((x & 31) == 0)
			sys_yield();
		else
			for (unsigned i = 0; i < (x & 255); i++)
				u_cpu_relax();
		shared_count = v + 1;
		if (owner != me + 1)
			w->overlaps++;
		owner = 0;
		u_atomic_store(&w->mine, w->mine + 1); /* main watches progress */
		r = u_mutex_unlock(&lock);
		if (r != 0) {
			u_atomic_store(&w->error, r);
			break;
		}
	}
	u_atomic_store(&w->done, 1);
}

int main(const char *arg, size_t arg_len)
{
	uint64_t ncpus = u_info(ALDER_INFO_CPU_COUNT, 1);
	uint64_t t0 = u_now_ns();

	for (uintptr_t i = 0; i < NTHREADS; i++)
		CHECK(u_thread_start(worker_main, (void *)i, stacks[i], STACK_SIZE) > 0);
	/* Run for RUN_NS and until every thread got the lock: the host may
	 * stall the whole VM for a while, and a fixed window alone could then
	 * leave a thread no turn at all. */
	for (;;) {
		bool all = true;
		for (int i = 0; i < NTHREADS; i++)
			all = all && u_atomic_load(&workers[i].mine) >= MIN_EACH;
		uint64_t now = u_now_ns();
		if ((all && now >= t0 + RUN_NS) || now >= t0 + GIVE_UP_NS)
			break;
		sys_sleep(5 * U_NS_PER_MS);
	}
	u_atomic_store(&stop, 1);
	for (int i = 0; i < NTHREADS; i++) {
		while (!u_atomic_load(&workers[i].done)) {
			if (u_now_ns() > t0 + GIVE_UP_NS + 10 * U_NS_PER_SEC) {
				u_printf("smp_stress_futex: thread %d stuck (mine %lu, lock word %u)\n", i,
					 u_atomic_load(&workers[i].mine), u_atomic_load(&lock.word));
				return 1;
			}
			sys_sleep(5 * U_NS_PER_MS);
		}
	}

	unsigned long sum = 0;
	uint64_t cpus = 0;
	for (int i = 0; i < NTHREADS; i++) {
		struct worker *w = &workers[i];
		sum += w->mine;
		cpus |= w->cpus;
		if (w->error != 0)
			u_expect_fail(__FILE__, __LINE__, "thread %d: futex error %ld (%s)", i, w->error,
				      u_errname(w->error));
		if (w->overlaps != 0)
			u_expect_fail(__FILE__, __LINE__,
				      "thread %d saw another thread in the section %lu times", i,
				      w->overlaps);
		if (w->mine < MIN_EACH)
			u_expect_fail(__FILE__, __LINE__, "thread %d got the lock only %lu times", i,
				      w->mine);
	}
	u_printf("smp_stress_futex: %lu CPUs (seen 0x%lx), %lu lock rounds in %lu ms\n", ncpus, cpus, sum,
		 (u_now_ns() - t0) / U_NS_PER_MS);
	if (shared_count != sum)
		u_expect_fail(__FILE__, __LINE__, "shared counter %lu, threads counted %lu", shared_count,
			      sum);
	EXPECT(lock.word == 0);
	if (ncpus >= 2 && __builtin_popcountll(cpus) < 2)
		u_expect_fail(__FILE__, __LINE__, "%lu CPUs but the threads ran only on 0x%lx", ncpus, cpus);
	return u_test_end("smp_stress_futex");
}
