/*
 * init: the first user program (/init in the initramfs). It reads the TSC
 * first thing, asks the kernel for the boot flags, and then:
 *   bench mode (alder.mode=bench): prints the boot figures as "bench" lines
 *     and powers off;
 *   test mode (alder.mode=test): runs the user-mode test suite below,
 *     printing "[test] PLAN/PASS/FAIL/DONE" lines for the host harness, and
 *     powers off;
 *   otherwise: a banner and a tiny shell on the serial console.
 * It is not a service manager: it starts nothing in the background and
 * keeps no state about children beyond the one it is waiting for.
 */
#include "hwtest.h"
#include "servers.h"
#include <ulib.h>

/* ---- The user-mode test suite --------------------------------------- */

enum init_addr_check {
	ADDR_EXACT, /* fault_addr == addr_lo */
	ADDR_RANGE, /* addr_lo <= fault_addr < addr_hi */
};

/* One test program run: how it must end. */
struct init_test {
	const char *name; /* reported as user.<name> */
	const char *path;
	const char *arg;
	int how;    /* ALDER_EXIT_* */
	int status; /* exit status or vector; INIT_ANY_STATUS: not checked */
	enum init_addr_check addr_check;
	uint64_t addr_lo, addr_hi;
};

/* The ABI does not say what status a BADSYS kill reports. */
#define INIT_ANY_STATUS (-__INT_MAX__ - 1)
/*
 * A fault on the stack lies above every program image (they are far below
 * 16 MiB, see user.ld) and below the stack ceiling of the entry contract.
 */
#define INIT_STACK_LO ((uint64_t)0x1000000)

#define EXPECT_EXIT(st) ALDER_EXIT_NORMAL, (st), ADDR_EXACT, 0, 0
#define EXPECT_FAULT_AT(vec, addr) ALDER_EXIT_FAULT, (vec), ADDR_EXACT, (addr), 0
#define EXPECT_FAULT_ON_STACK(vec) ALDER_EXIT_FAULT, (vec), ADDR_RANGE, INIT_STACK_LO, ULIB_STACK_CEILING
#define EXPECT_BADSYS ALDER_EXIT_BADSYS, INIT_ANY_STATUS, ADDR_EXACT, 0, 0

#define VEC_DE 0
#define VEC_UD 6
#define VEC_GP 13
#define VEC_PF 14
#define KERNEL_IMAGE ((uint64_t)0xffffffff80000000)
/* Where tests/user/mem_fault.c makes its forbidden accesses (FAULT_AT there). */
#define MEM_FAULT_AT ((uint64_t)0x500000000)

/*
 * Order matters: the well-behaved programs first, then every faulting and
 * killed program, so that the "survival" run at the end shows the kernel
 * still spawns and runs a program cleanly after all of them.
 */
static const struct init_test init_tests[] = {
    {"hello", "/tests/hello", "", EXPECT_EXIT(0)},
    {"hello_exit_status", "/tests/hello", "exit:7", EXPECT_EXIT(7)},
    {"hello_exit_negative", "/tests/hello", "exit:-3", EXPECT_EXIT(-3)},
    {"clock", "/tests/clock", "", EXPECT_EXIT(0)},
    {"yield", "/tests/yield", "", EXPECT_EXIT(0)},
    {"threads", "/tests/threads", "", EXPECT_EXIT(0)},
    {"threads_mainexit", "/tests/threads", "mainexit", EXPECT_EXIT(42)},
    {"threads_lastexit", "/tests/threads", "lastexit", EXPECT_EXIT(0)},
    {"badargs", "/tests/badargs", "", EXPECT_EXIT(0)},
    {"badptr", "/tests/badptr", "", EXPECT_EXIT(0)},
    {"spawn_many", "/tests/spawn_many", "hello", EXPECT_EXIT(0)},
    {"handles", "/tests/handles", "", EXPECT_EXIT(0)},
    {"obj_bad", "/tests/obj_bad", "", EXPECT_EXIT(0)},
    {"mem_anon", "/tests/mem_anon", "", EXPECT_EXIT(0)},
    {"mem_cow", "/tests/mem_cow", "", EXPECT_EXIT(0)},
    {"mem_slice", "/tests/mem_slice", "", EXPECT_EXIT(0)},
    {"space", "/tests/space", "", EXPECT_EXIT(0)},
    {"space_split", "/tests/space_split", "", EXPECT_EXIT(0)},
    {"futex", "/tests/futex", "", EXPECT_EXIT(0)},
    {"futex_exitwait", "/tests/futex", "exitwait", EXPECT_EXIT(7)},
    {"futex_shared", "/tests/futex_shared", "", EXPECT_EXIT(0)},
    {"smp_stress_futex", "/tests/smp_stress_futex", "", EXPECT_EXIT(0)},
    {"smp_stress_vm", "/tests/smp_stress_vm", "", EXPECT_EXIT(0)},
    {"leak_objects", "/tests/leak_objects", "", EXPECT_EXIT(0)},
    {"smp_stress_cow", "/tests/smp_stress_cow", "", EXPECT_EXIT(0)},
    {"queue_nop", "/tests/queue", "nop", EXPECT_EXIT(0)},
    {"queue_timers", "/tests/queue", "timers", EXPECT_EXIT(0)},
    {"queue_timeout", "/tests/queue", "timeout", EXPECT_EXIT(0)},
    {"queue_cancel", "/tests/queue", "cancel", EXPECT_EXIT(0)},
    {"queue_events", "/tests/queue", "events", EXPECT_EXIT(0)},
    {"queue_backpressure", "/tests/queue", "backpressure", EXPECT_EXIT(0)},
    {"queue_close_inflight", "/tests/queue", "close_inflight", EXPECT_EXIT(0)},
    {"queue_close_waiter", "/tests/queue", "close_waiter", EXPECT_EXIT(0)},
    {"queue_exit_waiting", "/tests/queue", "exit_waiting", EXPECT_EXIT(0)},
    {"queue_race", "/tests/queue", "race", EXPECT_EXIT(0)},
    {"queue_close_race", "/tests/queue", "close_race", EXPECT_EXIT(0)},
    {"queue_bad", "/tests/queue_bad", "", EXPECT_EXIT(0)},
    {"stream_reqresp", "/tests/stream", "reqresp", EXPECT_EXIT(0)},
    {"stream_offer", "/tests/stream", "offer", EXPECT_EXIT(0)},
    {"stream_big", "/tests/stream", "big", EXPECT_EXIT(0)},
    {"stream_sg", "/tests/stream", "sg", EXPECT_EXIT(0)},
    {"stream_handles", "/tests/stream", "handles", EXPECT_EXIT(0)},
    {"stream_creds", "/tests/stream", "creds", EXPECT_EXIT(0)},
    {"stream_dismiss", "/tests/stream", "dismiss", EXPECT_EXIT(0)},
    {"stream_close", "/tests/stream", "close", EXPECT_EXIT(0)},
    {"stream_midclose", "/tests/stream", "midclose", EXPECT_EXIT(0)},
    {"stream_mismatch", "/tests/stream", "mismatch", EXPECT_EXIT(0)},
    {"stream_cancel", "/tests/stream", "cancel", EXPECT_EXIT(0)},
    {"stream_bad", "/tests/stream", "bad", EXPECT_EXIT(0)},
    {"stream_exit", "/tests/stream", "exit", EXPECT_EXIT(0)},
    {"stream_flags", "/tests/stream", "flags", EXPECT_EXIT(0)},
    {"ipc_cross_reqresp", "/tests/ipc_cross", "reqresp", EXPECT_EXIT(0)},
    {"ipc_cross_oneshot", "/tests/ipc_cross", "oneshot", EXPECT_EXIT(0)},
    {"ipc_cross_big", "/tests/ipc_cross", "big", EXPECT_EXIT(0)},
    {"ipc_cross_bad", "/tests/ipc_cross", "bad", EXPECT_EXIT(0)},
    {"ipc_cross_creds", "/tests/ipc_cross", "creds", EXPECT_EXIT(0)},
    {"ipc_cross_concurrent", "/tests/ipc_cross", "concurrent", EXPECT_EXIT(0)},
    {"ipc_cross_death_recv", "/tests/ipc_cross", "death_recv", EXPECT_EXIT(0)},
    {"ipc_cross_death_fault", "/tests/ipc_cross", "death_fault", EXPECT_EXIT(0)},
    {"ipc_cross_death_send", "/tests/ipc_cross", "death_send", EXPECT_EXIT(0)},
    {"ipc_cross_leak", "/tests/ipc_cross", "leak", EXPECT_EXIT(0)},
    {"musl_hello", "/tests/musl/hello", "", EXPECT_EXIT(0)},
    {"musl_exit_300", "/tests/musl/hello", "300", EXPECT_EXIT(44)},
    {"musl_exit_minus1", "/tests/musl/hello", "-1", EXPECT_EXIT(255)},
    {"musl_sysexit", "/tests/musl/hello", "sysexit:5", EXPECT_EXIT(5)},
    {"musl_startup", "/tests/musl/startup", "", EXPECT_EXIT(0)},
    {"musl_startup_arg", "/tests/musl/startup", "arg-check", EXPECT_EXIT(0)},
    {"musl_malloc", "/tests/musl/malloc", "", EXPECT_EXIT(0)},
    {"musl_mmap", "/tests/musl/mmap", "alder", EXPECT_EXIT(0)},
    {"musl_clock", "/tests/musl/clock", "alder", EXPECT_EXIT(0)},
    {"musl_syscalls", "/tests/musl/syscalls", "alder", EXPECT_EXIT(0)},
    {"musl_shimfuzz", "/tests/musl/shimfuzz", "", EXPECT_EXIT(0)},
    {"sysfuzz_1", "/tests/sysfuzz", "seed=1 count=20000", EXPECT_EXIT(0)},
    {"sysfuzz_2", "/tests/sysfuzz", "seed=2 count=20000", EXPECT_EXIT(0)},
    {"observe", "/tests/observe", "", EXPECT_EXIT(0)},
    {"thread_life_drop_self", "/tests/thread_life", "drop_self", EXPECT_EXIT(0)},
    {"thread_life_drop_child", "/tests/thread_life", "drop_child", EXPECT_EXIT(0)},
    {"thread_life_drop_observe", "/tests/thread_life", "drop_observe", EXPECT_EXIT(0)},
    {"thread_life_emfile", "/tests/thread_life", "emfile", EXPECT_EXIT(0)},
    {"thread_life_pid", "/tests/thread_life", "pid", EXPECT_EXIT(0)},
    {"thread_life_exit_unstarted", "/tests/thread_life", "exit_unstarted", EXPECT_EXIT(0)},
    {"thread_life_fresh", "/tests/thread_life", "fresh", EXPECT_EXIT(0)},
    {"thread_life_start_race", "/tests/thread_life", "start_race", EXPECT_EXIT(0)},
    {"mem_depth", "/tests/mem_depth", "", EXPECT_EXIT(0)},
    {"hw_noroot", "/tests/hw_noroot", "", EXPECT_EXIT(0)},
    {"errnames", "/tests/errnames", "", EXPECT_EXIT(0)},

    {"fault_null", "/tests/fault_null", "", EXPECT_FAULT_AT(VEC_PF, 0)},
    {"fault_kernel_read", "/tests/fault_kernel_read", "", EXPECT_FAULT_AT(VEC_PF, KERNEL_IMAGE)},
    {"fault_kernel_write", "/tests/fault_kernel_write", "", EXPECT_FAULT_AT(VEC_PF, KERNEL_IMAGE)},
    {"fault_gp", "/tests/fault_gp", "", EXPECT_FAULT_AT(VEC_GP, 0)},
    {"fault_priv_cli", "/tests/fault_priv", "cli", EXPECT_FAULT_AT(VEC_GP, 0)},
    {"fault_priv_hlt", "/tests/fault_priv", "hlt", EXPECT_FAULT_AT(VEC_GP, 0)},
    {"fault_priv_io", "/tests/fault_priv", "io", EXPECT_FAULT_AT(VEC_GP, 0)},
    {"fault_priv_cr3", "/tests/fault_priv", "cr3", EXPECT_FAULT_AT(VEC_GP, 0)},
    {"fault_ud", "/tests/fault_ud", "", EXPECT_FAULT_AT(VEC_UD, 0)},
    {"fault_de", "/tests/fault_de", "", EXPECT_FAULT_AT(VEC_DE, 0)},
    {"fault_wx_text", "/tests/fault_wx_text", "", EXPECT_FAULT_AT(VEC_PF, ULIB_TEXT_BASE)},
    {"fault_nx_stack", "/tests/fault_nx_stack", "", EXPECT_FAULT_ON_STACK(VEC_PF)},
    {"fault_stack_overflow", "/tests/fault_stack_overflow", "", EXPECT_FAULT_ON_STACK(VEC_PF)},
    {"mem_fault_ro_write", "/tests/mem_fault", "ro_write", EXPECT_FAULT_AT(VEC_PF, MEM_FAULT_AT)},
    {"mem_fault_nx_exec", "/tests/mem_fault", "nx_exec", EXPECT_FAULT_AT(VEC_PF, MEM_FAULT_AT)},
    {"mem_fault_nx_map", "/tests/mem_fault", "nx_map", EXPECT_FAULT_AT(VEC_PF, MEM_FAULT_AT)},
    {"mem_fault_unmapped", "/tests/mem_fault", "unmapped", EXPECT_FAULT_AT(VEC_PF, MEM_FAULT_AT + 0x1000)},
    {"mem_fault_protect_split", "/tests/mem_fault", "protect_split",
     EXPECT_FAULT_AT(VEC_PF, MEM_FAULT_AT + 0x1000)},
    {"mem_fault_slice_ro", "/tests/mem_fault", "slice_ro", EXPECT_FAULT_AT(VEC_PF, MEM_FAULT_AT)},
    {"mem_fault_cow_ro", "/tests/mem_fault", "cow_ro", EXPECT_FAULT_AT(VEC_PF, MEM_FAULT_AT)},
    {"mem_fault_unmap_tlb", "/tests/mem_fault", "unmap_tlb", EXPECT_FAULT_AT(VEC_PF, MEM_FAULT_AT)},
    {"mem_fault_protect_tlb", "/tests/mem_fault", "protect_tlb", EXPECT_FAULT_AT(VEC_PF, MEM_FAULT_AT)},
    {"musl_fault_prot_none", "/tests/musl/mmap_fault", "none", EXPECT_FAULT_AT(VEC_PF, 0x50000000)},
    {"musl_fault_readonly", "/tests/musl/mmap_fault", "readonly", EXPECT_FAULT_AT(VEC_PF, 0x50001000)},
    {"musl_fault_unmapped", "/tests/musl/mmap_fault", "unmapped", EXPECT_FAULT_AT(VEC_PF, 0x50002000)},
    {"musl_fault_noexec", "/tests/musl/mmap_fault", "noexec", EXPECT_FAULT_AT(VEC_PF, 0x50003000)},
    {"hw_port_denied", "/tests/hw_port_denied", "", EXPECT_FAULT_AT(VEC_GP, 0)},
    {"hw_port_denied_out", "/tests/hw_port_denied", "out", EXPECT_FAULT_AT(VEC_GP, 0)},
    {"hw_port_denied_top", "/tests/hw_port_denied", "top", EXPECT_FAULT_AT(VEC_GP, 0)},
    {"badsys_native", "/tests/badsys", "native", EXPECT_BADSYS},
    {"badsys_edge", "/tests/badsys", "edge", EXPECT_BADSYS},
    {"badsys_linux", "/tests/badsys", "linux", EXPECT_EXIT(0)},
    {"badsys_neg", "/tests/badsys", "neg", EXPECT_BADSYS},
    {"spawn_many_fault", "/tests/spawn_many", "fault", EXPECT_EXIT(0)},
    {"spawn_many_badsys", "/tests/spawn_many", "badsys", EXPECT_EXIT(0)},
    {"spawn_many_threads", "/tests/spawn_many", "threads", EXPECT_EXIT(0)},
    {"exit_race", "/tests/exit_race", "", EXPECT_EXIT(0)},
    {"affinity_self", "/tests/affinity", "self", EXPECT_EXIT(0)},
    {"affinity_other", "/tests/affinity", "other", EXPECT_EXIT(0)},
    {"affinity_bad", "/tests/affinity", "bad", EXPECT_EXIT(0)},
};

/* Run after the table: the SMP test twice in a row, then a clean program. */
static const struct init_test init_tail_tests[] = {
    {"smp_1", "/tests/smp", "", EXPECT_EXIT(0)},
    {"smp_2", "/tests/smp", "", EXPECT_EXIT(0)},
    {"survival", "/tests/hello", "", EXPECT_EXIT(0)},
};

struct init_tally {
	unsigned passed, failed;
};

static void init_format_expected(char *buf, size_t size, const struct init_test *t)
{
	struct alder_exit_info want = {
	    .how = t->how,
	    .status = t->status,
	    .fault_addr = t->addr_lo,
	};

	if (t->how == ALDER_EXIT_BADSYS)
		u_snprintf(buf, size, "killed for a bad system call");
	else if (t->how == ALDER_EXIT_FAULT && t->addr_check == ADDR_RANGE)
		u_snprintf(buf, size, "fault %s (vector %d) at [0x%lx, 0x%lx)", u_vector_name(t->status),
			   t->status, t->addr_lo, t->addr_hi);
	else
		u_format_exit(buf, size, &want);
}

static bool init_matches(const struct init_test *t, const struct alder_exit_info *got)
{
	if (got->how != t->how)
		return false;
	if (t->status != INIT_ANY_STATUS && got->status != t->status)
		return false;
	if (t->addr_check == ADDR_RANGE)
		return got->fault_addr >= t->addr_lo && got->fault_addr < t->addr_hi;
	return got->fault_addr == t->addr_lo;
}

/* Run one test program and print its [test] line. */
static void init_run_test(const struct init_test *t, struct init_tally *tally)
{
	struct alder_exit_info got = {.how = -1, .status = -1, .fault_addr = 0};
	const char *call = "?";
	char want_s[96];
	long r = u_run(t->path, t->arg, &got, &call);

	init_format_expected(want_s, sizeof(want_s), t);
	if (r < 0) {
		u_printf("[test] FAIL user.%s: %s %s \"%s\" failed: %ld (%s), expected %s\n", t->name, call,
			 t->path, t->arg, r, u_errname(r), want_s);
		tally->failed++;
		return;
	}
	if (!init_matches(t, &got)) {
		char got_s[128];
		u_format_exit(got_s, sizeof(got_s), &got);
		u_printf("[test] FAIL user.%s: %s, expected %s\n", t->name, got_s, want_s);
		tally->failed++;
		return;
	}
	u_printf("[test] PASS user.%s\n", t->name);
	tally->passed++;
}

static struct init_tally init_run_suite(void)
{
	struct init_tally tally = {0, 0};

	u_printf("[test] PLAN %zu\n", U_ARRAY_SIZE(init_tests) + U_ARRAY_SIZE(init_tail_tests) + HWTEST_COUNT);
	for (size_t i = 0; i < U_ARRAY_SIZE(init_tests); i++)
		init_run_test(&init_tests[i], &tally);
	/* Hardware access needs the root handle, which only init holds: these
	 * run in init itself and print their own results. */
	int hw_failed = hwtest_run();
	tally.failed += (unsigned)hw_failed;
	tally.passed += (unsigned)(HWTEST_COUNT - hw_failed);
	for (size_t i = 0; i < U_ARRAY_SIZE(init_tail_tests); i++)
		init_run_test(&init_tail_tests[i], &tally);
	return tally;
}

/* ---- Modes ---------------------------------------------------------- */

static noreturn void init_idle(void)
{
	for (;;)
		sys_sleep(U_NS_PER_SEC);
}

static noreturn void init_power_off(void)
{
	long r = sys_shutdown(0);

	u_printf("init: sys_shutdown failed: %ld (%s); idling\n", r, u_errname(r));
	init_idle();
}

static void init_bench(uint64_t first_tsc)
{
	uint64_t peak;
	long r;

	u_printf("bench boot_first_user_tsc %lu ticks\n", first_tsc);
	r = sys_info(ALDER_INFO_PEAK_KIB, &peak);
	if (r == 0)
		u_printf("bench boot_peak_ram %lu KiB\n", peak);
	else
		u_printf("init: sys_info(PEAK_KIB) failed: %ld (%s)\n", r, u_errname(r));
	/* The kernel-interface micro-benchmarks. */
	struct alder_exit_info info;
	long pid = sys_spawn("/tests/bench", strlen("/tests/bench"), "", 0);
	if (pid < 0 || sys_wait(pid, &info) != pid || info.how != ALDER_EXIT_NORMAL || info.status != 0)
		u_printf("init: /tests/bench did not run cleanly (%ld)\n", pid);
}

/* alder.mode=fuzz (make fuzz): the system-call fuzzer, long, several seeds. */
static const struct init_test init_fuzz_runs[] = {
    {"sysfuzz_long_1", "/tests/sysfuzz", "seed=101 count=400000", EXPECT_EXIT(0)},
    {"sysfuzz_long_2", "/tests/sysfuzz", "seed=202 count=400000", EXPECT_EXIT(0)},
    {"sysfuzz_long_3", "/tests/sysfuzz", "seed=303 count=400000 race=1", EXPECT_EXIT(0)},
    {"sysfuzz_long_4", "/tests/sysfuzz", "seed=404 count=400000 race=1", EXPECT_EXIT(0)},
};

static void init_fuzz_mode(void)
{
	struct init_tally tally = {0, 0};

	u_printf("[test] PLAN %zu\n", U_ARRAY_SIZE(init_fuzz_runs));
	for (size_t i = 0; i < U_ARRAY_SIZE(init_fuzz_runs); i++)
		init_run_test(&init_fuzz_runs[i], &tally);
	u_printf("init: fuzz runs: %u passed, %u failed\n", tally.passed, tally.failed);
	u_printf("[test] DONE\n");
}

static void init_tests_mode(void)
{
	struct init_tally tally = init_run_suite();

	u_printf("init: user tests: %u passed, %u failed\n", tally.passed, tally.failed);
	u_printf("[test] DONE\n");
}

/* ---- Console shell -------------------------------------------------- */

#define SHELL_LINE_MAX 200
#define SHELL_ECHO_MAX 256

/* Echo of typed characters, flushed as one sys_log per read or command. */
struct shell_echo {
	char buf[SHELL_ECHO_MAX];
	size_t len;
};

static void shell_echo_flush(struct shell_echo *e)
{
	if (e->len > 0)
		sys_log(e->buf, e->len);
	e->len = 0;
}

static void shell_echo_add(struct shell_echo *e, const char *s, size_t n)
{
	if (e->len + n > sizeof(e->buf))
		shell_echo_flush(e);
	memcpy(e->buf + e->len, s, n);
	e->len += n;
}

static const char *shell_skip_spaces(const char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	return s;
}

static void shell_info(void)
{
	uint64_t cpus = u_info(ALDER_INFO_CPU_COUNT, 0);
	uint64_t frames = u_info(ALDER_INFO_FREE_FRAMES, 0);
	uint64_t peak = u_info(ALDER_INFO_PEAK_KIB, 0);
	uint64_t flags = u_info(ALDER_INFO_BOOT_FLAGS, 0);
	uint64_t now = u_now_ns();

	u_printf("cpus %lu (init on cpu %lu)\n"
		 "free frames %lu (%lu MiB)\n"
		 "peak RAM %lu KiB\n"
		 "uptime %lu.%03lu s\n"
		 "boot flags 0x%lx\n",
		 cpus, u_info(ALDER_INFO_CPU_ID, 0), frames, frames / 256, peak, now / U_NS_PER_SEC,
		 (now % U_NS_PER_SEC) / U_NS_PER_MS, flags);
}

/* "run <path> [arg]": line points past "run". */
static void shell_run(char *rest)
{
	char *path = (char *)shell_skip_spaces(rest);
	char *arg = path;

	while (*arg != '\0' && *arg != ' ' && *arg != '\t')
		arg++;
	if (*arg != '\0')
		*arg++ = '\0';
	arg = (char *)shell_skip_spaces(arg);
	if (*path == '\0') {
		u_printf("usage: run <path> [arg]\n");
		return;
	}

	struct alder_exit_info info = {.how = -1};
	const char *call = "?";
	char how[128];
	uint64_t t0 = u_now_ns();
	long r = u_run(path, arg, &info, &call);
	uint64_t ms = (u_now_ns() - t0) / U_NS_PER_MS;

	if (r < 0) {
		u_printf("run: %s %s: %ld (%s)\n", call, path, r, u_errname(r));
		return;
	}
	u_format_exit(how, sizeof(how), &info);
	u_printf("%s: %s after %lu ms\n", path, how, ms);
}

static void shell_command(char *line)
{
	char *cmd = (char *)shell_skip_spaces(line);
	char *rest = cmd;

	while (*rest != '\0' && *rest != ' ' && *rest != '\t')
		rest++;
	if (*rest != '\0')
		*rest++ = '\0';

	if (*cmd == '\0')
		return;
	if (strcmp(cmd, "help") == 0) {
		u_printf("commands:\n"
			 "  help              this list\n"
			 "  info              cpus, memory, uptime\n"
			 "  run <path> [arg]  start a program and wait for it\n"
			 "  echo <text>       send text to the echo server and print its reply\n"
			 "  tests             run the user-mode test suite\n"
			 "  halt              power off\n");
	} else if (strcmp(cmd, "info") == 0) {
		shell_info();
	} else if (strcmp(cmd, "run") == 0) {
		shell_run(rest);
	} else if (strcmp(cmd, "echo") == 0) {
		servers_echo(shell_skip_spaces(rest));
	} else if (strcmp(cmd, "tests") == 0) {
		struct init_tally tally = init_run_suite();
		u_printf("tests: %u passed, %u failed\n", tally.passed, tally.failed);
	} else if (strcmp(cmd, "halt") == 0) {
		init_power_off();
	} else {
		u_printf("unknown command \"%s\"; try help\n", cmd);
	}
}

/*
 * Line editing: printable characters are appended and echoed; backspace/DEL
 * erase one; ^U erases the line; ^C drops it; CR, LF or CR LF end it.
 * Escape sequences (arrow keys) are swallowed. Returns only on a read error.
 */
static void shell_loop(void)
{
	char line[SHELL_LINE_MAX + 1];
	size_t len = 0;
	bool last_cr = false;
	int esc = 0; /* 0: none, 1: after ESC, 2: inside ESC [ ... */
	struct shell_echo echo = {.len = 0};
	static const char prompt[] = "alder> ";

	u_puts(prompt);
	for (;;) {
		char in[64];
		long n = sys_console_read(in, sizeof(in));

		if (n < 0) {
			u_printf("\ninit: console read failed: %ld (%s); idling\n", n, u_errname(n));
			return;
		}
		if (n == 0) {
			/* The call should block; do not spin if it does not. */
			sys_sleep(10 * U_NS_PER_MS);
			continue;
		}
		if ((size_t)n > sizeof(in))
			n = sizeof(in);
		for (long i = 0; i < n; i++) {
			char c = in[i];

			if (esc == 1) {
				esc = c == '[' ? 2 : 0;
				continue;
			}
			if (esc == 2) {
				if (c >= 0x40 && c <= 0x7e)
					esc = 0;
				continue;
			}
			if (c == '\n' && last_cr) {
				last_cr = false;
				continue;
			}
			last_cr = c == '\r';

			if (c == '\r' || c == '\n') {
				shell_echo_add(&echo, "\n", 1);
				shell_echo_flush(&echo);
				line[len] = '\0';
				shell_command(line);
				len = 0;
				u_puts(prompt);
			} else if (c == 0x7f || c == '\b') {
				if (len > 0) {
					len--;
					shell_echo_add(&echo, "\b \b", 3);
				}
			} else if (c == 0x15) { /* ^U */
				for (; len > 0; len--)
					shell_echo_add(&echo, "\b \b", 3);
			} else if (c == 0x03) { /* ^C */
				shell_echo_add(&echo, "^C\n", 3);
				shell_echo_add(&echo, prompt, sizeof(prompt) - 1);
				len = 0;
			} else if (c == 0x1b) {
				esc = 1;
			} else if (c >= 0x20 && c < 0x7f) {
				if (len < SHELL_LINE_MAX) {
					line[len++] = c;
					shell_echo_add(&echo, &c, 1);
				} else {
					shell_echo_add(&echo, "\a", 1);
				}
			}
		}
		shell_echo_flush(&echo);
	}
}

static void init_interactive(void)
{
	uint64_t cpus = u_info(ALDER_INFO_CPU_COUNT, 0);
	uint64_t frames = u_info(ALDER_INFO_FREE_FRAMES, 0);

	servers_start();
	u_printf("\nAlder: %lu CPU%s, %lu MiB free (%lu frames). Type \"help\".\n", cpus,
		 cpus == 1 ? "" : "s", frames / 256, frames);
	shell_loop();
}

int main(const char *arg, size_t arg_len)
{
	/* First thing: the boot-time figure is the TSC when user code starts. */
	uint64_t first_tsc = u_rdtsc();
	uint64_t flags = 0;
	long r = sys_info(ALDER_INFO_BOOT_FLAGS, &flags);

	if (r != 0) {
		u_printf("init: sys_info(BOOT_FLAGS) failed: %ld (%s)\n", r, u_errname(r));
		flags = 0;
	}
	if (flags & ALDER_BOOT_BENCH)
		init_bench(first_tsc);
	if (flags & ALDER_BOOT_TEST)
		init_tests_mode();
	if (flags & ALDER_BOOT_FUZZ)
		init_fuzz_mode();
	if (flags & (ALDER_BOOT_BENCH | ALDER_BOOT_TEST | ALDER_BOOT_FUZZ))
		init_power_off();

	init_interactive();
	init_idle();
}
