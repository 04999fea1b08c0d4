/*
 * Micro-benchmarks of the kernel interface, run by init in bench mode
 * (alder.mode=bench). Under QEMU -icount shift=0 the TSC counts one tick
 * per instruction-nanosecond, so the figures are virtual nanoseconds.
 * Prints "bench NAME VALUE ns" lines; a benchmark, not a test: it checks
 * only that the calls succeed.
 */
#include <ulib.h>
#include <umem.h>
#include <uqueue.h>
#include <ustream.h>
#include <uthread.h>
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

/* ---- Streams between processes (the echo server, srv/echo) ---------------- */

#define ECHO_PATH "/srv/echo"
#define RTT_WARMUP 200
#define RTT_ROUNDS 2000
#define RTT_REQ 16 /* request bytes: a small RPC */

struct echo_client {
	struct u_queue q;
	alder_handle_t lane;
	long pid;
};

/* Start the echo server with argument mode ("oneshot" or ""). */
static bool echo_begin(struct echo_client *c, const char *mode)
{
	alder_handle_t l[2];
	long r = u_queue_init(&c->q, 8, 8);

	if (r < 0 || (r = u_stream_create(l)) < 0) {
		u_printf("bench: echo: queue/stream: %ld\n", r);
		return false;
	}
	c->pid = sys_spawn_with(ECHO_PATH, strlen(ECHO_PATH), mode, strlen(mode), l[1]);
	u_handle_close(l[1]);
	c->lane = l[0];
	if (c->pid < 0) {
		u_printf("bench: spawn %s: %ld\n", ECHO_PATH, c->pid);
		return false;
	}
	return true;
}

/*
 * Submit acts[0..n) on lane and wait for the CQE with ONE sys_queue_enter
 * (submit and wait), as a client in a hurry would. Returns the result.
 */
static long chain_call(struct echo_client *c, alder_handle_t lane, struct alder_action *acts, uint64_t n)
{
	struct alder_sqe s = u_sqe_stream(1, lane, acts, n);
	struct alder_cqe cqe;

	if (u_queue_push(&c->q, &s) < 0)
		return -ALDER_EAGAIN;
	long r = u_queue_enter(c->q.handle, 1, 1, 0);
	while (r >= 0 && !u_queue_pop(&c->q, &cqe))
		r = u_queue_enter(c->q.handle, 0, 1, 0);
	return r < 0 ? r : cqe.result;
}

/* One remote procedure call: OFFER(chain, no handle) + SEND + RECEIVE in
 * one chain; the conversation lives only for the chain (the one-shot
 * server hangs up after its reply), so there is nothing to close. */
static long rtt_once(struct echo_client *c, const void *req, uint64_t n, void *resp, uint64_t room)
{
	struct alder_action a[3] = {u_act_offer_transient(), u_act_send(req, n), u_act_recv(resp, room)};
	long r = chain_call(c, c->lane, a, 3);

	return r != 0 ? r : a[2].length == n ? 0 : -ALDER_EPROTO;
}

/* A short request whose reply is text (the server's "cpu"): -1 on failure. */
static long echo_cpu(struct echo_client *c)
{
	char resp[32] = {0};
	struct alder_action a[3] = {u_act_offer(true), u_act_send("cpu", 3),
				    u_act_recv(resp, sizeof(resp) - 1)};
	long r = chain_call(c, c->lane, a, 3);
	long cpu = -1;

	if (a[0].out_handle > 0)
		u_handle_close(a[0].out_handle);
	if (r == 0 && u_starts_with(resp, "cpu ") && !u_parse_long(resp + 4, &cpu))
		cpu = -1;
	return r == 0 ? cpu : -1;
}

static void echo_finish(struct echo_client *c)
{
	char resp[8];
	struct alder_exit_info info;

	rtt_once(c, "quit", 4, resp, sizeof(resp));
	if (sys_wait(c->pid, &info) != c->pid || info.how != ALDER_EXIT_NORMAL || info.status != 0)
		u_printf("bench: echo server did not exit cleanly\n");
	u_handle_close(c->lane);
	u_handle_close(c->q.handle);
	u_space_unmap(ALDER_HANDLE_SELF_SPACE, c->q.params.ring_addr, c->q.params.ring_size);
}

/*
 * stream_rtt: request/response round trips with the echo server in another
 * process, each in a new conversation (what a client does per call): one
 * chain OFFER(chain, no handle) + SEND + RECEIVE submitted and waited for
 * with one sys_queue_enter; the conversation is transient (nothing to
 * close). The server runs in one-shot mode (the remote-procedure-call
 * pattern: one request per conversation): it answers with ACCEPT(chain) +
 * RECEIVE, then a detached SEND that drops its lane. Also stream_rtt_conv: the round trip inside one open
 * conversation (SEND + RECEIVE) with a server in session mode, without the
 * OFFER/ACCEPT and the close.
 *
 * With two CPUs the figures are named *_smp: the client pins itself to
 * CPU 0 and the server to CPU 1 (ALDER_THREAD_SET_CPU, echo's "cpu=1"), so
 * every hand-over is a wake-up by IPI of the other, idle, CPU; where both
 * ran is printed (the server is asked with its "cpu" request). See
 * tools/bench.py for what a two-CPU figure under -icount counts.
 */
static void bench_stream_rtt(void)
{
	static uint8_t req[RTT_REQ], resp[64];
	struct echo_client c;
	bool smp = u_info(ALDER_INFO_CPU_COUNT, 1) >= 2;
	uint64_t cpu_moves = 0, last_cpu = u_info(ALDER_INFO_CPU_ID, 0);
	long r = 0;

	if (smp && u_thread_ctl(ALDER_HANDLE_SELF_THREAD, ALDER_THREAD_SET_CPU, 0) < 0)
		u_printf("bench: stream_rtt_smp: cannot pin the client to CPU 0\n");
	if (!echo_begin(&c, smp ? "oneshot cpu=1" : "oneshot"))
		return;
	memset(req, 'r', sizeof(req));
	for (int i = 0; i < RTT_WARMUP && r == 0; i++)
		r = rtt_once(&c, req, sizeof(req), resp, sizeof(resp));
	long srv_cpu0 = echo_cpu(&c);
	uint64_t cli_cpu0 = u_info(ALDER_INFO_CPU_ID, 0);
	uint64_t t0 = now();
	for (int i = 0; i < RTT_ROUNDS && r == 0; i++) {
		r = rtt_once(&c, req, sizeof(req), resp, sizeof(resp));
		if (smp) {
			uint64_t cpu = u_info(ALDER_INFO_CPU_ID, 0);
			cpu_moves += cpu != last_cpu;
			last_cpu = cpu;
		}
	}
	uint64_t t = now() - t0;
	if (r != 0) {
		u_printf("bench: stream_rtt: round trip failed: %ld (%s)\n", r, u_errname(r));
		echo_finish(&c);
		return;
	}
	if (smp) {
		/* The CPU id reads are in the figure: subtract their cost. */
		uint64_t t1 = now();
		for (int i = 0; i < RTT_ROUNDS; i++)
			(void)u_info(ALDER_INFO_CPU_ID, 0);
		t -= now() - t1;
	}
	report(smp ? "stream_rtt_smp" : "stream_rtt", t, RTT_ROUNDS);
	if (smp)
		u_printf("bench: stream_rtt_smp: client on cpu %lu (%lu moves), server on cpu %ld before, "
			 "%ld after\n",
			 (unsigned long)cli_cpu0, (unsigned long)cpu_moves, srv_cpu0, echo_cpu(&c));

	/* Inside one conversation, with a server in session mode. */
	echo_finish(&c);
	if (!echo_begin(&c, smp ? "cpu=1" : ""))
		return;
	struct alder_action a[3] = {u_act_offer(true), u_act_send(req, sizeof(req)),
				    u_act_recv(resp, sizeof(resp))};
	r = chain_call(&c, c.lane, a, 3);
	alder_handle_t conv = a[0].out_handle;
	for (int i = 0; i < RTT_WARMUP && r == 0; i++) {
		struct alder_action b[2] = {u_act_send(req, sizeof(req)), u_act_recv(resp, sizeof(resp))};
		r = chain_call(&c, conv, b, 2);
	}
	t0 = now();
	for (int i = 0; i < RTT_ROUNDS && r == 0; i++) {
		struct alder_action b[2] = {u_act_send(req, sizeof(req)), u_act_recv(resp, sizeof(resp))};
		r = chain_call(&c, conv, b, 2);
	}
	t = now() - t0;
	if (conv > 0)
		u_handle_close(conv);
	if (r == 0)
		report(smp ? "stream_rtt_conv_smp" : "stream_rtt_conv", t, RTT_ROUNDS);
	else
		u_printf("bench: stream_rtt_conv: failed: %ld (%s)\n", r, u_errname(r));
	echo_finish(&c);
	if (smp)
		(void)u_thread_ctl(ALDER_HANDLE_SELF_THREAD, ALDER_THREAD_SET_CPU, ALDER_THREAD_ANY_CPU);
}

int main(const char *arg, size_t len)
{
	bench_null();
	bench_futex();
	bench_map_touch();
	bench_stream_rtt();
	return 0;
}
