/*
 * exit_race: two threads of one process end it at the same moment, on two
 * CPUs when there are two, RUNS times per way of ending:
 *   exit   both call sys_exit(5)
 *   fault  both write to address 0 (#PF)
 *   mixed  one calls sys_exit(5), the other faults
 *   sleep_exit, sleep_fault
 *          the second thread sleeps in SYS_FUTEX_WAIT; the first calls
 *          sys_exit(5) or faults, so the kill wakes the sleeper, which
 *          then ends the process too while the first may still be leaving
 * Each thread that ends the process walks the other threads to wake them
 * while the other may be half-way through its own exit; the kernel must
 * neither panic nor hang, and the child must end in one of the expected
 * ways. (Found by mem_fault's unmap_tlb case: a thread killed while it was
 * already leaving was made runnable again and the kernel panicked with
 * "dead thread ... scheduled".)
 *
 * Without an argument the program is the parent: it runs the children and
 * exits 0 if every one ended as expected. With "<mode> <delay>" it is one
 * child (delay: pause iterations before the first thread ends it, varied
 * from run to run).
 */
#include <umem.h>
#include <utest.h>

#define RUNS 60
#define STACK_SIZE 16384

static uint8_t stack[STACK_SIZE] __attribute__((aligned(16)));
static unsigned ready, go;
static int how_second; /* 0 exit, 1 fault, 2 sleep */
static uint32_t sleep_word;

static noreturn void end_now(int fault)
{
	if (fault) {
		/* asm, not C: gcc may turn a store to NULL into ud2. */
		uint64_t addr = 0;
		__asm__ volatile("movl $1, (%0)" ::"r"(addr) : "memory");
		__builtin_trap();
	}
	sys_exit(5);
}

static void second(void *arg)
{
	u_atomic_fetch_add(&ready, 1);
	if (how_second == 2) {
		u_futex_wait(&sleep_word, 0, 0);
		sys_exit(6); /* not reached: the process is being killed */
	}
	while (!u_atomic_load(&go))
		u_cpu_relax();
	end_now(how_second);
}

static int child(const char *mode, unsigned delay)
{
	int first;

	if (strcmp(mode, "exit") == 0)
		first = 0, how_second = 0;
	else if (strcmp(mode, "fault") == 0)
		first = 1, how_second = 1;
	else if (strcmp(mode, "mixed") == 0)
		first = 0, how_second = 1;
	else if (strcmp(mode, "sleep_exit") == 0)
		first = 0, how_second = 2;
	else if (strcmp(mode, "sleep_fault") == 0)
		first = 1, how_second = 2;
	else
		return 2;
	CHECK(u_thread_start(second, NULL, stack, STACK_SIZE) > 0);
	while (!u_atomic_load(&ready))
		u_cpu_relax();
	u_atomic_store(&go, 1);
	/* Vary the moment a little from run to run. */
	for (unsigned i = 0; i < delay; i++)
		u_cpu_relax();
	end_now(first);
}

static bool ended_ok(const char *mode, const struct alder_exit_info *info)
{
	bool exited = info->how == ALDER_EXIT_NORMAL && info->status == 5;
	bool faulted = info->how == ALDER_EXIT_FAULT && info->status == 14 && info->fault_addr == 0;

	if (strcmp(mode, "exit") == 0 || strcmp(mode, "sleep_exit") == 0)
		return exited;
	if (strcmp(mode, "fault") == 0 || strcmp(mode, "sleep_fault") == 0)
		return faulted;
	return exited || faulted;
}

int main(const char *arg, size_t arg_len)
{
	static const char *const modes[] = {"exit", "fault", "mixed", "sleep_exit", "sleep_fault"};

	if (arg[0] != '\0') {
		/* "mode" or "mode delay" */
		char mode[16];
		size_t n = 0;
		while (arg[n] != '\0' && arg[n] != ' ' && n + 1 < sizeof(mode)) {
			mode[n] = arg[n];
			n++;
		}
		mode[n] = '\0';
		long delay = 0;
		if (arg[n] == ' ' && !u_parse_long(arg + n + 1, &delay))
			return 2;
		return child(mode, (unsigned)delay);
	}
	for (size_t m = 0; m < U_ARRAY_SIZE(modes); m++) {
		for (int i = 0; i < RUNS; i++) {
			struct alder_exit_info info = {.how = -1};
			const char *call = "?";
			char carg[32];
			u_snprintf(carg, sizeof(carg), "%s %d", modes[m], (i * 37) % 2000);
			long r = u_run("/tests/exit_race", carg, &info, &call);
			if (r < 0) {
				u_printf("exit_race: %s run %d: %s: %ld (%s)\n", modes[m], i, call, r,
					 u_errname(r));
				return 1;
			}
			if (!ended_ok(modes[m], &info)) {
				char how[96];
				u_format_exit(how, sizeof(how), &info);
				u_printf("exit_race: %s run %d: %s\n", modes[m], i, how);
				return 1;
			}
		}
	}
	return 0;
}
