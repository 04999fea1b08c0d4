/*
 * ipc_cross: streams between processes. Most cases talk to the echo server
 * (/srv/echo, srv/echo/echo.c: protocol at the top of that file), started
 * with sys_spawn_with and one lane of a fresh stream; the others to a child
 * copy of this program. The argument picks the case; each is its own row in
 * init's table:
 *   reqresp     request/response in new conversations (OFFER with CHAIN,
 *               SEND, RECEIVE) for sizes around the inline limit and across
 *               pages, inline actions, many requests in one conversation, a
 *               reply too big for our buffer (-EMSGSIZE, the conversation
 *               goes on); "quit" ends the server with status 0, and the
 *               lane then gives -EPIPE
 *   big         a 1 MiB request (the server's limit) between unaligned
 *               buffers, echoed and checked byte by byte
 *   bad         what the server must survive: a request above its limit
 *               (our SEND: -EMSGSIZE with the server's room, then dismissed:
 *               -EPIPE), a PUSH or a RECEIVE where a request is due
 *               (-EPROTO, dismissed), two requests without a receive,
 *               "creds" without credentials, a request whose buffer faults
 *               (-EFAULT here, dismissed), actions other than OFFER on the
 *               server lane (-EPROTO), more conversations than the server
 *               takes at once (the rest wait in the kernel until some
 *               close); afterwards it still answers and quits cleanly
 *   creds       credentials the kernel attaches: the server's pid is the one
 *               sys_spawn returned, not ours; the server sees our pid; the
 *               ids differ and stay the same per process
 *   concurrent  two threads (on both CPUs when there are two), each with
 *               its own lib/rt loop and several fibrils, each fibril running
 *               conversations of several requests of assorted sizes against
 *               the one server at the same time
 *   death_recv  a child receives a 1 GiB transfer from us and exits when
 *               the first bytes arrive: our SEND, mid-copy, ends with
 *               -EPIPE (0 < length < total), later actions too, no hang
 *   death_fault the same, the child killed by a CPU exception (#UD)
 *   death_send  a child sends us 1 GiB and exits when we tell it (through a
 *               shared page) that the first bytes arrived: our RECEIVE ends
 *               with -EPIPE mid-copy
 *   leak        whole server lifetimes (spawn, requests up to 1 MiB, quit,
 *               wait) give back every kernel object and every frame
 * Child modes (not rows): child_recv_exit, child_recv_fault, child_send.
 * Every case ends with the live-object count back where it started, and
 * a watchdog ends a case that hangs. Exits 0 if every check passed.
 */
#include <umem.h>
#include <uqueue.h>
#include <ustream.h>
#include <utest.h>

#include <rt/rt.h>

#define SEC U_NS_PER_SEC
#define MS U_NS_PER_MS
#define T (10 * SEC) /* the longest any single exchange may take */
#define WATCHDOG_NS (60 * SEC)
#define SELF ALDER_HANDLE_SELF_SPACE
#define RW (ALDER_PROT_READ | ALDER_PROT_WRITE)
#define PAGE U_PAGE_SIZE
#define MiB ((uint64_t)1 << 20)
#define ECHO_PATH "/srv/echo"
#define ECHO_MAX MiB  /* the server's largest request (echo.c) */
#define ECHO_CONVS 32 /* conversations it takes at once (echo.c) */
#define SELF_PATH "/tests/ipc_cross"
#define STACK_SIZE 65536
/* Fixed addresses far from where the kernel places mappings. */
#define HOLES_AT 0x300000000000ull
#define HUGE_AT 0x310000000000ull
/* Death cases: HUGE bytes, one HUGE_UNIT object mapped HUGE/HUGE_UNIT times.
 * The largest transfer there is, so that even with a few time slices
 * between the first bytes and the kill the copy is far from done. */
#define HUGE ALDER_STREAM_MAX_TRANSFER
#define HUGE_UNIT (4 * MiB)

static uint8_t stacks[3][STACK_SIZE] __attribute__((aligned(16)));

/* ---- Helpers ----------------------------------------------------------- */

static long must(long r, const char *what)
{
	if (r < 0) {
		u_printf("ipc_cross: %s: %ld (%s)\n", what, r, u_errname(r));
		sys_exit(1);
	}
	return r;
}

static uint64_t live_objects(void)
{
	uint64_t v;

	CHECK_EQ(sys_info(ALDER_INFO_LIVE_OBJECTS, &v), 0);
	return v;
}

static uint64_t free_frames(void)
{
	uint64_t v;

	CHECK_EQ(sys_info(ALDER_INFO_FREE_FRAMES, &v), 0);
	return v;
}

/* The live-object count must come back to want (some releases finish on
 * the kernel's stream thread: give it a second). */
static void expect_live(uint64_t want)
{
	uint64_t deadline = u_now_ns() + SEC, now;

	while ((now = live_objects()) != want && u_now_ns() < deadline)
		sys_sleep(5 * MS);
	if (now != want) {
		u_printf("ipc_cross: %llu live objects, expected %llu\n", (unsigned long long)now,
			 (unsigned long long)want);
		sys_exit(1);
	}
}

static void new_queue(struct u_queue *q, uint32_t entries)
{
	must(u_queue_init(q, entries, entries), "queue_create");
}

/* Close q and unmap its ring (the mapping keeps the ring's memory object,
 * which the live-object checks count). */
static void close_queue(struct u_queue *q)
{
	CHECK_EQ(u_handle_close(q->handle), 0);
	CHECK_EQ(u_space_unmap(SELF, q->params.ring_addr, q->params.ring_size), 0);
}

static uint8_t *map_rw(uint64_t size)
{
	alder_handle_t m = (alder_handle_t)must(u_mem_create(size, 0), "mem_create");
	long a = must(u_space_map(SELF, m, 0, 0, size, RW), "space_map");

	u_handle_close(m);
	return (uint8_t *)(uintptr_t)a;
}

/* Submit and wait; CHECK that the CQE's result is want. */
static struct alder_cqe run(struct u_queue *q, alder_handle_t lane, struct alder_action *a, uint64_t n,
			    long want)
{
	struct alder_cqe c;
	long r = u_stream_run(q, lane, a, n, T, &c);

	if (r != want) {
		u_printf("ipc_cross: chain of %llu on lane %d: %ld (%s), expected %ld (%s); aux %llu %llu\n",
			 (unsigned long long)n, lane, r, u_errname(r), want, u_errname(want),
			 (unsigned long long)c.aux[0], (unsigned long long)c.aux[1]);
		for (uint64_t i = 0; i < n; i++)
			u_printf("ipc_cross:   action %llu: type %u status %d (%s) length %llu\n",
				 (unsigned long long)i, a[i].type, a[i].status, u_errname(a[i].status),
				 (unsigned long long)a[i].length);
		sys_exit(1);
	}
	return c;
}

static void submit(struct u_queue *q, alder_handle_t lane, struct alder_action *a, uint64_t n, uint64_t ctx)
{
	struct alder_sqe s = u_sqe_stream(ctx, lane, a, n);

	CHECK_EQ(u_queue_push(q, &s), 0);
	CHECK_EQ(u_queue_enter(q->handle, 1, 0, 0), 1);
}

/* The next CQE, waiting up to T. */
static struct alder_cqe wait_cqe(struct u_queue *q)
{
	struct alder_cqe c;

	if (u_queue_cq_ready(q) == 0) {
		long r = u_queue_enter(q->handle, 0, 1, T);
		if (r < 0) {
			u_printf("ipc_cross: waiting for a completion: %ld (%s)\n", r, u_errname(r));
			sys_exit(1);
		}
	}
	CHECK(u_queue_pop(q, &c));
	return c;
}

static void expect_quiet(struct u_queue *q, uint64_t ms)
{
	CHECK_EQ(u_queue_enter(q->handle, 0, 1, ms * MS), -ALDER_ETIMEDOUT);
	CHECK_EQ(u_queue_cq_ready(q), 0);
}

/* Start the echo server (argument mode) on a new stream; returns its pid,
 * our lane in *lane. */
static long echo_start_mode(alder_handle_t *lane, const char *mode)
{
	alder_handle_t l[2];

	must(u_stream_create(l), "stream_create");
	long pid = must(sys_spawn_with(ECHO_PATH, strlen(ECHO_PATH), mode, strlen(mode), l[1]), "spawn echo");
	CHECK_EQ(u_handle_close(l[1]), 0); /* the server holds the only other end */
	*lane = l[0];
	return pid;
}

static long echo_start(alder_handle_t *lane)
{
	return echo_start_mode(lane, "");
}

/* sys_wait for pid and check how it ended. */
static void expect_exit(long pid, int how, int status)
{
	struct alder_exit_info info;

	CHECK_EQ(sys_wait(pid, &info), pid);
	if (info.how != how || info.status != status) {
		char got[128];
		u_format_exit(got, sizeof(got), &info);
		u_printf("ipc_cross: pid %ld: %s, expected how %d status %d\n", pid, got, how, status);
		sys_exit(1);
	}
}

/* One request in a new conversation; CHECK the echo. Closes the conversation. */
static void echo_once(struct u_queue *q, alder_handle_t lane, const void *req, uint64_t n, void *resp,
		      uint64_t room)
{
	struct alder_action a[3] = {u_act_offer(true), u_act_send(req, n), u_act_recv(resp, room)};

	struct alder_cqe c = run(q, lane, a, 3, 0);
	CHECK_EQ(c.aux[0], 3);
	CHECK(a[0].out_handle > 0);
	CHECK_EQ(a[1].length, n);
	CHECK_EQ(a[2].length, n);
	CHECK(n == 0 || memcmp(req, resp, n) == 0);
	CHECK_EQ(u_handle_close(a[0].out_handle), 0);
}

/* "quit" in a new conversation: the reply, then the server's clean exit. */
static void echo_quit(struct u_queue *q, alder_handle_t lane, long pid)
{
	char resp[8];
	struct alder_action a[3] = {u_act_offer(true), u_act_send("quit", 4), u_act_recv(resp, sizeof(resp))};

	run(q, lane, a, 3, 0);
	CHECK_EQ(a[2].length, 4);
	CHECK(memcmp(resp, "quit", 4) == 0);
	CHECK_EQ(u_handle_close(a[0].out_handle), 0);
	expect_exit(pid, ALDER_EXIT_NORMAL, 0);
	/* Gone: the lane's other end is closed. */
	struct alder_action b = u_act_offer(false);
	run(q, lane, &b, 1, -ALDER_EPIPE);
}

static void fill(uint8_t *p, uint64_t n, uint32_t seed)
{
	for (uint64_t k = 0; k < n; k++)
		p[k] = (uint8_t)(k * 7 + (k >> 12) + seed);
}

/* A hung case fails in seconds instead of stalling the whole suite. */
static void watchdog_main(void *arg)
{
	sys_sleep(WATCHDOG_NS);
	u_printf("ipc_cross: watchdog: case \"%s\" still running after %llu s\n", (const char *)arg,
		 (unsigned long long)(WATCHDOG_NS / SEC));
	sys_exit(3);
}

/* ---- reqresp ----------------------------------------------------------- */

static uint8_t req_buf[80000], resp_buf[80000];

static void case_reqresp(void)
{
	struct u_queue q;
	alder_handle_t lane;
	uint64_t base = u_live_settled();
	static const uint64_t sizes[] = {0, 1, 4, 5, 63, 64, 65, 100, 4095, 4096, 4097, 12345, 70000};

	new_queue(&q, 16);
	long pid = echo_start(&lane);
	CHECK(pid > 0);
	for (unsigned i = 0; i < U_ARRAY_SIZE(sizes); i++) {
		fill(req_buf, sizes[i], i);
		memset(resp_buf, 0xee, sizes[i] + 16);
		echo_once(&q, lane, req_buf, sizes[i], resp_buf, sizeof(resp_buf));
		CHECK_EQ(resp_buf[sizes[i]], 0xee); /* nothing beyond the reply */
	}

	/* Inline on both sides. */
	struct alder_action a[3] = {u_act_offer(true), u_act_send_inline("inline request", 14),
				    u_act_recv_inline(ALDER_ACTION_INLINE_MAX)};
	run(&q, lane, a, 3, 0);
	CHECK_EQ(a[2].length, 14);
	CHECK(memcmp(a[2].data, "inline request", 14) == 0);
	alder_handle_t conv = a[0].out_handle;

	/* The same conversation goes on: many requests. */
	for (int i = 0; i < 50; i++) {
		uint64_t n = (uint64_t)(i * 97) % 3000;
		fill(req_buf, n, 100 + (uint32_t)i);
		struct alder_action b[2] = {u_act_send(req_buf, n), u_act_recv(resp_buf, sizeof(resp_buf))};
		run(&q, conv, b, 2, 0);
		CHECK_EQ(b[1].length, n);
		CHECK(memcmp(req_buf, resp_buf, n) == 0);
	}
	/* A reply that does not fit: -EMSGSIZE for us (with the size), and
	 * the conversation still works. */
	fill(req_buf, 100, 7);
	struct alder_action c[2] = {u_act_send(req_buf, 100), u_act_recv(resp_buf, 10)};
	struct alder_cqe cq = run(&q, conv, c, 2, -ALDER_EMSGSIZE);
	CHECK_EQ(cq.aux[0], 1);
	CHECK_EQ(c[1].status, -ALDER_EMSGSIZE);
	CHECK_EQ(c[1].length, 100);
	struct alder_action d[2] = {u_act_send("still here", 10), u_act_recv(resp_buf, sizeof(resp_buf))};
	run(&q, conv, d, 2, 0);
	CHECK(memcmp(resp_buf, "still here", 10) == 0);

	/* "quit" ends the server; our open conversation then sees -EPIPE. */
	echo_quit(&q, lane, pid);
	struct alder_action e[2] = {u_act_send("late", 4), u_act_recv(resp_buf, sizeof(resp_buf))};
	run(&q, conv, e, 2, -ALDER_EPIPE);
	CHECK_EQ(e[1].status, -ALDER_EPIPE);
	CHECK_EQ(u_handle_close(conv), 0);
	CHECK_EQ(u_handle_close(lane), 0);
	close_queue(&q);
	expect_live(base);
}

/* ---- oneshot: one request per conversation ------------------------------ */

static void case_oneshot(void)
{
	struct u_queue q;
	alder_handle_t lane;
	uint64_t base = u_live_settled();
	static const uint64_t sizes[] = {0, 1, 16, 64, 65, 4097, 70000};

	new_queue(&q, 16);
	long pid = echo_start_mode(&lane, "oneshot");
	CHECK(pid > 0);
	/* Remote procedure calls with a transient offer: the small replies
	 * come as detached SENDs that drop the server's lane, the larger
	 * ones as a SEND the server waits for; nothing to close here. */
	for (int round = 0; round < 3; round++) {
		for (unsigned i = 0; i < U_ARRAY_SIZE(sizes); i++) {
			fill(req_buf, sizes[i], i + 10 * (uint32_t)round);
			struct alder_action a[3] = {u_act_offer_transient(), u_act_send(req_buf, sizes[i]),
						    u_act_recv(resp_buf, sizeof(resp_buf))};
			run(&q, lane, a, 3, 0);
			CHECK_EQ(a[0].out_handle, 0);
			CHECK_EQ(a[2].length, sizes[i]);
			CHECK(memcmp(req_buf, resp_buf, sizes[i]) == 0);
		}
	}
	/* With a lane of our own: after the reply the server has hung up, so
	 * a second request on the conversation sees -EPIPE. */
	struct alder_action b[3] = {u_act_offer(true), u_act_send("one", 3), u_act_recv(resp_buf, 8)};
	run(&q, lane, b, 3, 0);
	CHECK(b[0].out_handle > 0);
	CHECK(memcmp(resp_buf, "one", 3) == 0);
	struct alder_action c[2] = {u_act_send("two", 3), u_act_recv(resp_buf, 8)};
	struct alder_cqe cq = run(&q, b[0].out_handle, c, 2, -ALDER_EPIPE);
	CHECK_EQ(cq.aux[0], 0);
	CHECK_EQ(u_handle_close(b[0].out_handle), 0);
	/* A reply that does not fit our room: -EMSGSIZE, the server goes on. */
	fill(req_buf, 40, 3);
	struct alder_action d[3] = {u_act_offer_transient(), u_act_send(req_buf, 40), u_act_recv(resp_buf, 10)};
	run(&q, lane, d, 3, -ALDER_EMSGSIZE);
	CHECK_EQ(d[2].length, 40);
	/* A client that asks and leaves before reading the reply. */
	struct alder_action e[2] = {u_act_offer_transient(), u_act_send("bye", 3)};
	run(&q, lane, e, 2, 0);
	echo_quit(&q, lane, pid);
	CHECK_EQ(u_handle_close(lane), 0);
	close_queue(&q);
	expect_live(base);
}

/* ---- big --------------------------------------------------------------- */

static void case_big(void)
{
	struct u_queue q;
	alder_handle_t lane;
	uint64_t base = u_live_settled();
	uint8_t *tx = map_rw(ECHO_MAX + 2 * PAGE);
	uint8_t *rx = map_rw(ECHO_MAX + 2 * PAGE);

	fill(tx + 5, ECHO_MAX, 3);
	memset(rx, 0x5a, ECHO_MAX + 2 * PAGE);
	new_queue(&q, 16);
	long pid = echo_start(&lane);
	struct alder_action a[3] = {u_act_offer(true), u_act_send(tx + 5, ECHO_MAX),
				    u_act_recv(rx + 123, ECHO_MAX + 7)};
	run(&q, lane, a, 3, 0);
	CHECK_EQ(a[1].length, ECHO_MAX);
	CHECK_EQ(a[2].length, ECHO_MAX);
	for (uint64_t k = 0; k < ECHO_MAX; k++) {
		uint8_t want = (uint8_t)(k * 7 + (k >> 12) + 3);
		if (rx[123 + k] != want) {
			u_printf("ipc_cross: byte %llu of the echo is %u, expected %u\n",
				 (unsigned long long)k, rx[123 + k], want);
			sys_exit(1);
		}
	}
	CHECK_EQ(rx[122], 0x5a);
	CHECK_EQ(rx[123 + ECHO_MAX], 0x5a);
	/* Again in the same conversation, the other way round in memory. */
	fill(rx + 1, ECHO_MAX, 9);
	struct alder_action b[2] = {u_act_send(rx + 1, ECHO_MAX), u_act_recv(tx, ECHO_MAX)};
	run(&q, a[0].out_handle, b, 2, 0);
	CHECK(memcmp(rx + 1, tx, ECHO_MAX) == 0);
	CHECK_EQ(u_handle_close(a[0].out_handle), 0);

	echo_quit(&q, lane, pid);
	CHECK_EQ(u_handle_close(lane), 0);
	close_queue(&q);
	CHECK_EQ(u_space_unmap(SELF, (uint64_t)(uintptr_t)tx, ECHO_MAX + 2 * PAGE), 0);
	CHECK_EQ(u_space_unmap(SELF, (uint64_t)(uintptr_t)rx, ECHO_MAX + 2 * PAGE), 0);
	expect_live(base);
}

/* ---- bad --------------------------------------------------------------- */

/* A conversation the server dismissed: every later action gets -EPIPE. */
static void expect_dismissed(struct u_queue *q, alder_handle_t conv)
{
	struct alder_action a[2] = {u_act_send("x", 1), u_act_recv(resp_buf, 16)};

	run(q, conv, a, 2, -ALDER_EPIPE);
	CHECK_EQ(a[0].status, -ALDER_EPIPE);
	CHECK_EQ(a[1].status, -ALDER_EPIPE);
	CHECK_EQ(u_handle_close(conv), 0);
}

#define MANY (ECHO_CONVS + 8)

static void case_bad(void)
{
	struct u_queue q;
	alder_handle_t lane;
	uint64_t base = u_live_settled();
	uint8_t *big = map_rw(ECHO_MAX + PAGE);

	new_queue(&q, 64);
	long pid = echo_start(&lane);

	/* 1. Above the limit: our SEND fails with the server's room, then
	 * the conversation is dismissed. */
	struct alder_action a[3] = {u_act_offer(true), u_act_send(big, ECHO_MAX + 1),
				    u_act_recv(resp_buf, sizeof(resp_buf))};
	struct alder_cqe c = run(&q, lane, a, 3, -ALDER_EMSGSIZE);
	CHECK_EQ(c.aux[0], 1);
	CHECK_EQ(a[1].status, -ALDER_EMSGSIZE);
	CHECK_EQ(a[1].length, ECHO_MAX);
	CHECK_EQ(a[2].status, -ALDER_EPIPE);
	expect_dismissed(&q, a[0].out_handle);

	/* 2. A handle where a request is due. */
	alder_handle_t mem = (alder_handle_t)must(u_mem_create(PAGE, 0), "mem_create");
	struct alder_action b[3] = {u_act_offer(true), u_act_push(mem, ALDER_RIGHTS_ALL),
				    u_act_recv(resp_buf, sizeof(resp_buf))};
	run(&q, lane, b, 3, -ALDER_EPROTO);
	CHECK_EQ(b[1].status, -ALDER_EPROTO);
	CHECK_EQ(b[2].status, -ALDER_EPIPE);
	expect_dismissed(&q, b[0].out_handle);
	CHECK_EQ(u_handle_close(mem), 0);

	/* 3. A RECEIVE where a request is due. */
	struct alder_action d[2] = {u_act_offer(true), u_act_recv(resp_buf, sizeof(resp_buf))};
	run(&q, lane, d, 2, -ALDER_EPROTO);
	expect_dismissed(&q, d[0].out_handle);

	/* 4. Two requests without a receive between them: the reply meets
	 * the second SEND. */
	struct alder_action e[4] = {u_act_offer(true), u_act_send("one", 3), u_act_send("two", 3),
				    u_act_recv(resp_buf, sizeof(resp_buf))};
	run(&q, lane, e, 4, -ALDER_EPROTO);
	CHECK_EQ(e[1].status, 0);
	CHECK_EQ(e[2].status, -ALDER_EPROTO);
	CHECK_EQ(e[3].status, -ALDER_EPROTO);
	expect_dismissed(&q, e[0].out_handle);

	/* 5. "creds" without credentials: its EXTRACT meets our RECEIVE. */
	struct alder_action f[3] = {u_act_offer(true), u_act_send("creds", 5),
				    u_act_recv(resp_buf, sizeof(resp_buf))};
	run(&q, lane, f, 3, -ALDER_EPROTO);
	CHECK_EQ(f[2].status, -ALDER_EPROTO);
	expect_dismissed(&q, f[0].out_handle);

	/* 6. A request whose buffer faults after one page: -EFAULT for us
	 * (one page delivered), -EIO for the server, which dismisses. */
	alder_handle_t hm = (alder_handle_t)must(u_mem_create(PAGE, 0), "mem_create");
	CHECK_EQ(u_space_map(SELF, hm, 0, HOLES_AT, PAGE, RW), (long)HOLES_AT);
	CHECK_EQ(u_handle_close(hm), 0);
	struct alder_action g[3] = {u_act_offer(true), u_act_send((void *)(uintptr_t)HOLES_AT, 3 * PAGE),
				    u_act_recv(resp_buf, sizeof(resp_buf))};
	run(&q, lane, g, 3, -ALDER_EFAULT);
	CHECK_EQ(g[1].length, PAGE);
	CHECK_EQ(g[2].status, -ALDER_EPIPE);
	expect_dismissed(&q, g[0].out_handle);
	CHECK_EQ(u_space_unmap(SELF, HOLES_AT, PAGE), 0);

	/* 7. Not an OFFER on the server lane: -EPROTO, nothing else. */
	struct alder_action h = u_act_send_inline("hello", 5);
	run(&q, lane, &h, 1, -ALDER_EPROTO);
	struct alder_action h2 = u_act_pull(ALDER_RIGHTS_ALL);
	run(&q, lane, &h2, 1, -ALDER_EPROTO);
	struct alder_action h3 = u_act_imbue();
	run(&q, lane, &h3, 1, -ALDER_EPROTO);

	/* 8. A client that closes its conversation while the server waits
	 * for the next request, and one that offers without CHAIN and
	 * closes at once. */
	struct alder_action k[3] = {u_act_offer(true), u_act_send("bye", 3), u_act_recv(resp_buf, 16)};
	run(&q, lane, k, 3, 0);
	CHECK_EQ(u_handle_close(k[0].out_handle), 0);
	struct alder_action k2 = u_act_offer(false);
	run(&q, lane, &k2, 1, 0);
	CHECK_EQ(u_handle_close(k2.out_handle), 0);

	/* 9. More conversations than the server takes at once: ECHO_CONVS
	 * are answered, the rest wait until some end. */
	static struct alder_action many[MANY][3];
	static char reqs[MANY][8];
	for (unsigned i = 0; i < MANY; i++) {
		u_snprintf(reqs[i], sizeof(reqs[i]), "m%u", i);
		many[i][0] = u_act_offer(true);
		many[i][1] = u_act_send(reqs[i], strlen(reqs[i]));
		many[i][2] = u_act_recv_inline(16);
		submit(&q, lane, many[i], 3, 1000 + i);
	}
	bool done[MANY] = {false};
	for (unsigned n = 0; n < ECHO_CONVS; n++) {
		struct alder_cqe cq = wait_cqe(&q);
		CHECK(cq.context >= 1000 && cq.context < 1000 + MANY);
		unsigned i = (unsigned)(cq.context - 1000);
		CHECK_EQ(cq.result, 0);
		CHECK(memcmp(many[i][2].data, reqs[i], strlen(reqs[i])) == 0);
		done[i] = true;
	}
	expect_quiet(&q, 100);
	for (unsigned i = 0; i < MANY; i++)
		if (done[i])
			CHECK_EQ(u_handle_close(many[i][0].out_handle), 0);
	for (unsigned n = ECHO_CONVS; n < MANY; n++) {
		struct alder_cqe cq = wait_cqe(&q);
		unsigned i = (unsigned)(cq.context - 1000);
		CHECK(i < MANY && !done[i]);
		CHECK_EQ(cq.result, 0);
		CHECK(memcmp(many[i][2].data, reqs[i], strlen(reqs[i])) == 0);
		CHECK_EQ(u_handle_close(many[i][0].out_handle), 0);
	}

	/* Still serving; then a clean exit. */
	echo_once(&q, lane, "alive", 5, resp_buf, sizeof(resp_buf));
	echo_quit(&q, lane, pid);
	CHECK_EQ(u_handle_close(lane), 0);
	close_queue(&q);
	CHECK_EQ(u_space_unmap(SELF, (uint64_t)(uintptr_t)big, ECHO_MAX + PAGE), 0);
	expect_live(base);
}

/* ---- creds ------------------------------------------------------------- */

/* Our own credentials, through a stream of our own. */
static struct alder_creds own_creds(struct u_queue *q)
{
	alder_handle_t l[2];

	must(u_stream_create(l), "stream_create");
	struct alder_action im = u_act_imbue();
	submit(q, l[0], &im, 1, 7);
	struct alder_action ex = u_act_extract();
	submit(q, l[1], &ex, 1, 8);
	for (int i = 0; i < 2; i++) {
		struct alder_cqe c = wait_cqe(q);
		CHECK(c.context == 7 || c.context == 8);
		CHECK_EQ(c.result, 0);
	}
	CHECK_EQ(u_handle_close(l[0]), 0);
	CHECK_EQ(u_handle_close(l[1]), 0);
	return ex.creds;
}

static void case_creds(void)
{
	struct u_queue q;
	alder_handle_t lane;
	uint64_t base = u_live_settled();

	new_queue(&q, 16);
	struct alder_creds me = own_creds(&q);
	CHECK(me.pid != 0);
	long pid = echo_start(&lane);
	struct alder_creds first;

	for (int round = 0; round < 3; round++) {
		char reply[32], want[32];
		struct alder_action a[5] = {u_act_offer(true), u_act_send("creds", 5), u_act_imbue(),
					    u_act_recv(reply, sizeof(reply)), u_act_extract()};
		memset(&a[4].creds, 0xff, sizeof(a[4].creds));
		run(&q, lane, a, 5, 0);
		struct alder_creds srv = a[4].creds;
		/* The kernel's word on who answered: the process sys_spawn
		 * started, not us. */
		CHECK_EQ(srv.pid, pid);
		CHECK(srv.pid != me.pid);
		CHECK_EQ(srv.reserved, 0);
		CHECK(memcmp(srv.id, me.id, sizeof(me.id)) != 0);
		/* Not derived from ours: the random half differs too. */
		CHECK(memcmp(srv.id + 8, me.id + 8, 8) != 0);
		if (round == 0)
			first = srv;
		CHECK(memcmp(srv.id, first.id, sizeof(srv.id)) == 0);
		/* And the server's view of us. */
		int n = u_snprintf(want, sizeof(want), "pid %u", me.pid);
		CHECK_EQ(a[3].length, (uint64_t)n);
		CHECK(memcmp(reply, want, (size_t)n) == 0);
		/* The conversation goes on as a plain echo. */
		struct alder_action b[2] = {u_act_send("after", 5), u_act_recv(reply, sizeof(reply))};
		run(&q, a[0].out_handle, b, 2, 0);
		CHECK(memcmp(reply, "after", 5) == 0);
		CHECK_EQ(u_handle_close(a[0].out_handle), 0);
	}
	/* Our own credentials did not change meanwhile. */
	struct alder_creds again = own_creds(&q);
	CHECK_EQ(again.pid, me.pid);
	CHECK(memcmp(again.id, me.id, sizeof(me.id)) == 0);

	echo_quit(&q, lane, pid);
	CHECK_EQ(u_handle_close(lane), 0);
	close_queue(&q);
	expect_live(base);
}

/* ---- concurrent -------------------------------------------------------- */

#define CC_THREADS 2
#define CC_FIBRILS 6
#define CC_CONVS 8 /* conversations per fibril */
#define CC_REQS 4  /* requests per conversation */
#define CC_MAX 9000

struct cc_fibril {
	struct rt_fibril fibril;
	struct cc_thread *th;
	unsigned index;
	uint8_t req[CC_MAX], resp[CC_MAX + 16];
};

/* One client thread. Written by its thread, read by main after done. */
struct cc_thread {
	unsigned index;
	alder_handle_t lane;
	struct rt_loop loop;
	struct cc_fibril fibrils[CC_FIBRILS];
	uint64_t cpus_seen; /* bit n: ran on CPU n */
	uint64_t requests;
	long error; /* first failure (0 none) */
	uint32_t done;
};

static struct cc_thread cc[CC_THREADS];
static uint32_t cc_arrived;

static void cc_note_cpu(struct cc_thread *t)
{
	uint64_t cpu;

	if (sys_info(ALDER_INFO_CPU_ID, &cpu) == 0 && cpu < 64)
		t->cpus_seen |= 1ull << cpu;
}

static void cc_fail(struct cc_thread *t, long err, unsigned line)
{
	if (t->error == 0) {
		u_printf("ipc_cross: concurrent: thread %u: %ld (%s) at line %u\n", t->index, err,
			 u_errname(err), line);
		t->error = err ? err : -1;
	}
}

static void cc_fibril_main(void *arg)
{
	struct cc_fibril *f = arg;
	struct cc_thread *t = f->th;

	for (unsigned conv = 0; conv < CC_CONVS && t->error == 0; conv++) {
		alder_handle_t child = ALDER_HANDLE_NONE;
		for (unsigned r = 0; r < CC_REQS && t->error == 0; r++) {
			uint32_t seed = t->index * 1000003u + f->index * 7919u + conv * 104729u + r;
			uint64_t n = (seed * 2654435761u) % CC_MAX;
			if (r == 1)
				n %= ALDER_ACTION_INLINE_MAX + 1; /* a short one: the server's inline path */
			fill(f->req, n, seed);
			memset(f->resp, 0, n + 16);
			struct alder_action a[3];
			int64_t res;
			if (r == 0) {
				rt_action_offer(&a[0], true);
				rt_action_send(&a[1], f->req, n);
				rt_action_receive(&a[2], f->resp, sizeof(f->resp));
				res = rt_stream_submit_await(&t->loop, t->lane, a, 3);
				child = a[0].out_handle;
				if (res == 0 && a[2].length != n)
					res = -1000;
			} else {
				rt_action_send(&a[0], f->req, n);
				rt_action_receive(&a[1], f->resp, sizeof(f->resp));
				res = rt_stream_submit_await(&t->loop, child, a, 2);
				if (res == 0 && a[1].length != n)
					res = -1000;
			}
			if (res != 0) {
				cc_fail(t, res, __LINE__);
				break;
			}
			if (memcmp(f->req, f->resp, n) != 0 || f->resp[n] != 0) {
				cc_fail(t, -1001, __LINE__);
				break;
			}
			t->requests++;
			cc_note_cpu(t);
		}
		if (child != ALDER_HANDLE_NONE)
			(void)rt_handle_close(child);
	}
}

static void cc_thread_main(void *arg)
{
	struct cc_thread *t = arg;
	uint64_t deadline;

	/* Both threads running before any work: with two CPUs they spin side
	 * by side here, each noting its CPU. */
	u_atomic_fetch_add(&cc_arrived, 1);
	deadline = u_now_ns() + 200 * MS;
	while (u_atomic_load(&cc_arrived) < CC_THREADS || u_now_ns() < deadline) {
		cc_note_cpu(t);
		if (u_now_ns() > deadline + 5 * SEC)
			break;
	}

	long r = rt_loop_init(&t->loop, NULL);
	if (r < 0) {
		cc_fail(t, r, __LINE__);
		goto out;
	}
	for (unsigned i = 0; i < CC_FIBRILS; i++) {
		struct cc_fibril *f = &t->fibrils[i];
		f->th = t;
		f->index = i;
		r = rt_fibril_start(&t->loop, &f->fibril, cc_fibril_main, f, NULL);
		if (r < 0)
			cc_fail(t, r, __LINE__);
	}
	r = rt_loop_run(&t->loop);
	if (r != RT_LOOP_IDLE)
		cc_fail(t, r, __LINE__);
	r = rt_loop_shutdown(&t->loop);
	if (r != 0)
		cc_fail(t, r, __LINE__);
	rt_loop_fini(&t->loop);
out:
	cc_note_cpu(t);
	u_atomic_store(&t->done, 1);
	u_futex_wake(&t->done, 1);
}

static void case_concurrent(void)
{
	struct u_queue q;
	alder_handle_t lane;
	uint64_t base = u_live_settled();
	uint64_t ncpus = u_info(ALDER_INFO_CPU_COUNT, 1);

	new_queue(&q, 16);
	long pid = echo_start(&lane);
	for (unsigned i = 0; i < CC_THREADS; i++) {
		cc[i].index = i;
		cc[i].lane = lane;
		must(u_thread_start(cc_thread_main, &cc[i], stacks[i], STACK_SIZE), "thread_start");
	}
	uint64_t seen = 0, requests = 0;
	for (unsigned i = 0; i < CC_THREADS; i++) {
		while (!u_atomic_load(&cc[i].done))
			u_futex_wait(&cc[i].done, 0, 100 * MS);
		CHECK_EQ(cc[i].error, 0);
		seen |= cc[i].cpus_seen;
		requests += cc[i].requests;
	}
	CHECK_EQ(requests, (uint64_t)CC_THREADS * CC_FIBRILS * CC_CONVS * CC_REQS);
	if (ncpus >= 2)
		CHECK(__builtin_popcountll(seen) >= 2);
	u_printf("ipc_cross: concurrent: %llu requests, client CPUs 0x%llx of %llu\n",
		 (unsigned long long)requests, (unsigned long long)seen, (unsigned long long)ncpus);
	echo_quit(&q, lane, pid);
	CHECK_EQ(u_handle_close(lane), 0);
	close_queue(&q);
	expect_live(base);
}

/* ---- death ------------------------------------------------------------- */

/*
 * The flag page shared with the child (pushed to it over the lane). ready:
 * set by the side whose action must be queued first (death_recv: the
 * child's RECEIVE; death_send: our RECEIVE), so that the other side's
 * action meets it at submission and that side's thread does the copy. die
 * (death_send): us -> child, exit now (polled). Accessed with atomics.
 */
struct death_flags {
	uint32_t ready;
	uint32_t die;
};

/* HUGE bytes of address space at HUGE_AT backed by one HUGE_UNIT object
 * mapped over and over (so a 1 GiB transfer costs 4 MiB of frames). */
static uint8_t *map_huge(void)
{
	alder_handle_t m = (alder_handle_t)must(u_mem_create(HUGE_UNIT, 0), "mem_create");

	for (uint64_t off = 0; off < HUGE; off += HUGE_UNIT)
		CHECK_EQ(u_space_map(SELF, m, 0, HUGE_AT + off, HUGE_UNIT, RW), (long)(HUGE_AT + off));
	CHECK_EQ(u_handle_close(m), 0);
	return (uint8_t *)(uintptr_t)HUGE_AT;
}

static void unmap_huge(void)
{
	CHECK_EQ(u_space_unmap(SELF, HUGE_AT, HUGE), 0);
}

static bool wait_word(uint32_t *w, uint64_t timeout_ns)
{
	uint64_t deadline = u_now_ns() + timeout_ns;

	while (u_atomic_load(w) == 0) {
		if (u_now_ns() > deadline)
			return false;
		u_futex_wait(w, 0, 10 * MS);
	}
	return true;
}

/*
 * The children's watchers are careful not to touch a page they have not
 * touched before once the copy may be running. The copy holds the address
 * space lock of both processes for every page it copies, and the kernel's
 * spinlocks are not fair: a page fault this process takes meanwhile on
 * another CPU (a first touch of a stack, code or data page, or a fault
 * meant to kill it) can wait for the lock until the copy is over, and the
 * test would see a finished transfer instead of a death. So the watched
 * pages and the watcher's stack are touched first, a watcher says when it
 * is in its loop (watcher_armed) before the transfer starts, and it dies
 * by an inline system call or ud2 (no new code page, no address-space lock).
 */
static uint32_t watcher_armed;

/* Child side: pull the flag page over handle 1, map it and touch it. */
static struct death_flags *child_flags(struct u_queue *q)
{
	struct alder_action a = u_act_pull(ALDER_RIGHTS_ALL);

	run(q, ALDER_HANDLE_BOOTSTRAP, &a, 1, 0);
	long at = must(u_space_map(SELF, a.out_handle, 0, 0, PAGE, RW), "map flags");
	struct death_flags *fl = (struct death_flags *)(uintptr_t)at;
	(void)u_atomic_load(&fl->die);
	return fl;
}

/* Start watcher on stacks[0] and wait until it is in its loop. */
static void child_start_watcher(void (*watcher)(void *))
{
	memset(stacks[0], 0, STACK_SIZE);
	must(u_thread_start(watcher, NULL, stacks[0], STACK_SIZE), "thread_start");
	while (u_atomic_load(&watcher_armed) == 0)
		sys_yield();
}

static volatile uint8_t *child_watch_byte;
static bool child_fault;

/* Child: exit (or fault) as soon as the first byte of the transfer lands. */
static void child_recv_watcher(void *arg)
{
	volatile uint8_t *watch = child_watch_byte;
	bool fault = child_fault;

	u_atomic_store(&watcher_armed, 1);
	while (*watch == 0)
		u_cpu_relax();
	if (fault)
		__builtin_trap(); /* ud2: killed by #UD */
	u_syscall1(SYS_EXIT, 0);
	for (;;)
		u_cpu_relax();
}

static void child_recv(bool fault)
{
	struct u_queue q;

	new_queue(&q, 4);
	struct death_flags *fl = child_flags(&q);
	uint8_t *buf = map_huge();
	buf[0] = 0; /* touched: the watcher reads it during the copy */
	child_watch_byte = buf;
	child_fault = fault;
	child_start_watcher(child_recv_watcher);
	struct alder_action a = u_act_recv(buf, HUGE);
	submit(&q, ALDER_HANDLE_BOOTSTRAP, &a, 1, 1);
	u_atomic_store(&fl->ready, 1);
	u_futex_wake(&fl->ready, 1);
	u_queue_enter(q.handle, 0, 1, 0); /* until the watcher ends us */
	sys_exit(7);			  /* the transfer finished: the parent sees it */
}

static struct death_flags *child_die_flag;

static void child_send_watcher(void *arg)
{
	uint32_t *die = &child_die_flag->die;

	u_atomic_store(&watcher_armed, 1);
	while (u_atomic_load(die) == 0)
		u_cpu_relax();
	u_syscall1(SYS_EXIT, 0);
	for (;;)
		u_cpu_relax();
}

static void child_send(void)
{
	struct u_queue q;

	new_queue(&q, 4);
	child_die_flag = child_flags(&q);
	uint8_t *buf = map_huge();
	memset(buf, 0xa5, HUGE_UNIT); /* every mapping shows these bytes */
	child_start_watcher(child_send_watcher);
	/* The parent's RECEIVE is queued once ready is set: our SEND meets it
	 * at submission and this thread does the copy. */
	if (!wait_word(&child_die_flag->ready, T))
		sys_exit(8);
	struct alder_action a = u_act_send(buf, HUGE);
	submit(&q, ALDER_HANDLE_BOOTSTRAP, &a, 1, 1);
	u_queue_enter(q.handle, 0, 1, 0);
	sys_exit(7);
}

/* Start SELF_PATH in mode with a lane; push it the flag page. */
static long death_start(struct u_queue *q, const char *mode, alder_handle_t *lane, struct death_flags **fl,
			alder_handle_t *flags_mem)
{
	alder_handle_t l[2];

	must(u_stream_create(l), "stream_create");
	*flags_mem = (alder_handle_t)must(u_mem_create(PAGE, 0), "mem_create");
	*fl = (struct death_flags *)(uintptr_t)must(u_space_map(SELF, *flags_mem, 0, 0, PAGE, RW), "map");
	long pid = must(sys_spawn_with(SELF_PATH, strlen(SELF_PATH), mode, strlen(mode), l[1]), "spawn");
	CHECK_EQ(u_handle_close(l[1]), 0);
	struct alder_action p = u_act_push(*flags_mem, ALDER_RIGHTS_ALL);
	run(q, l[0], &p, 1, 0);
	*lane = l[0];
	return pid;
}

static void death_finish(struct u_queue *q, alder_handle_t lane, struct death_flags *fl, alder_handle_t mem)
{
	/* The child is gone: everything later on the lane fails at once. */
	struct alder_action a[2] = {u_act_send("x", 1), u_act_recv(resp_buf, 16)};
	run(q, lane, a, 2, -ALDER_EPIPE);
	CHECK_EQ(a[1].status, -ALDER_EPIPE);
	CHECK_EQ(u_handle_close(lane), 0);
	CHECK_EQ(u_space_unmap(SELF, (uint64_t)(uintptr_t)fl, PAGE), 0);
	CHECK_EQ(u_handle_close(mem), 0);
}

/* We send, the child receives and dies when the bytes start arriving. */
static void case_death_recv(bool fault)
{
	struct u_queue q;
	alder_handle_t lane, mem;
	struct death_flags *fl;
	uint64_t base = u_live_settled();

	new_queue(&q, 4);
	uint8_t *buf = map_huge();
	memset(buf, 0x3c, HUGE_UNIT);
	long pid = death_start(&q, fault ? "child_recv_fault" : "child_recv_exit", &lane, &fl, &mem);
	CHECK(wait_word(&fl->ready, T));
	/* Its RECEIVE is queued: this SEND meets it at once, and our thread
	 * does the copy while the child dies. */
	struct alder_action a = u_act_send(buf, HUGE);
	uint64_t t0 = u_now_ns();
	run(&q, lane, &a, 1, -ALDER_EPIPE);
	u_printf("ipc_cross: death_recv: -EPIPE after %llu of %llu bytes, %llu ms\n",
		 (unsigned long long)a.length, (unsigned long long)HUGE,
		 (unsigned long long)((u_now_ns() - t0) / MS));
	CHECK(a.length > 0 && a.length < HUGE);
	if (fault)
		expect_exit(pid, ALDER_EXIT_FAULT, 6); /* #UD */
	else
		expect_exit(pid, ALDER_EXIT_NORMAL, 0);
	death_finish(&q, lane, fl, mem);
	unmap_huge();
	close_queue(&q);
	expect_live(base);
}

/* The child sends; we tell it to die when the first bytes are here. */
static void case_death_send(void)
{
	struct u_queue q;
	alder_handle_t lane, mem;
	struct death_flags *fl;
	uint64_t base = u_live_settled();

	new_queue(&q, 4);
	uint8_t *buf = map_huge();
	memset(buf, 0, HUGE_UNIT);
	long pid = death_start(&q, "child_send", &lane, &fl, &mem);
	struct alder_action a = u_act_recv(buf, HUGE);
	submit(&q, lane, &a, 1, 1);
	u_atomic_store(&fl->ready, 1);
	u_futex_wake(&fl->ready, 1);
	uint64_t deadline = u_now_ns() + T;
	while (*(volatile uint8_t *)buf == 0) {
		CHECK(u_now_ns() < deadline);
		CHECK_EQ(u_queue_cq_ready(&q), 0); /* not finished before it began */
		sys_yield();
	}
	u_atomic_store(&fl->die, 1);
	struct alder_cqe c = wait_cqe(&q);
	CHECK_EQ(c.context, 1);
	CHECK_EQ(c.result, -ALDER_EPIPE);
	u_printf("ipc_cross: death_send: -EPIPE after %llu of %llu bytes\n", (unsigned long long)a.length,
		 (unsigned long long)HUGE);
	CHECK(a.length > 0 && a.length < HUGE);
	CHECK_EQ(buf[0], 0xa5);
	expect_exit(pid, ALDER_EXIT_NORMAL, 0);
	death_finish(&q, lane, fl, mem);
	unmap_huge();
	close_queue(&q);
	expect_live(base);
}

/* ---- leak -------------------------------------------------------------- */

#define LEAK_ROUNDS 3

/* One server lifetime with a bit of everything. */
static void leak_round(uint8_t *tx, uint8_t *rx)
{
	struct u_queue q;
	alder_handle_t lane;

	new_queue(&q, 16);
	long pid = echo_start(&lane);
	echo_once(&q, lane, "small", 5, rx, 64);
	echo_once(&q, lane, tx, ECHO_MAX, rx, ECHO_MAX);
	struct alder_action a[3] = {u_act_offer(true), u_act_send(tx, 3000), u_act_recv(rx, ECHO_MAX)};
	run(&q, lane, a, 3, 0);
	/* This conversation stays open over the quit: the server's end
	 * must go with the server. */
	echo_quit(&q, lane, pid);
	CHECK_EQ(u_handle_close(a[0].out_handle), 0);
	CHECK_EQ(u_handle_close(lane), 0);
	close_queue(&q);
}

static void case_leak(void)
{
	uint8_t *tx = map_rw(ECHO_MAX), *rx = map_rw(ECHO_MAX);

	fill(tx, ECHO_MAX, 1);
	memset(rx, 0, ECHO_MAX);
	leak_round(tx, rx); /* warm-up: kernel caches and heap reach their size */
	uint64_t objects = u_live_settled();
	uint64_t frames = free_frames();
	for (int i = 0; i < LEAK_ROUNDS; i++)
		leak_round(tx, rx);
	expect_live(objects);
	uint64_t deadline = u_now_ns() + SEC, now;
	while ((now = free_frames()) < frames && u_now_ns() < deadline)
		sys_sleep(10 * MS);
	if (now < frames) {
		u_printf("ipc_cross: leak: %llu free frames after %d server lifetimes, %llu before\n",
			 (unsigned long long)now, LEAK_ROUNDS, (unsigned long long)frames);
		sys_exit(1);
	}
	CHECK_EQ(u_space_unmap(SELF, (uint64_t)(uintptr_t)tx, ECHO_MAX), 0);
	CHECK_EQ(u_space_unmap(SELF, (uint64_t)(uintptr_t)rx, ECHO_MAX), 0);
}

/* ---- main -------------------------------------------------------------- */

static void case_death_recv_exit(void)
{
	case_death_recv(false);
}

static void case_death_fault(void)
{
	case_death_recv(true);
}

static void case_child_recv_exit(void)
{
	child_recv(false);
}

static void case_child_recv_fault(void)
{
	child_recv(true);
}

int main(const char *arg, size_t len)
{
	static const struct {
		const char *name;
		void (*fn)(void);
		bool child;
	} cases[] = {
	    {"reqresp", case_reqresp, false},
	    {"oneshot", case_oneshot, false},
	    {"big", case_big, false},
	    {"bad", case_bad, false},
	    {"creds", case_creds, false},
	    {"concurrent", case_concurrent, false},
	    {"death_recv", case_death_recv_exit, false},
	    {"death_fault", case_death_fault, false},
	    {"death_send", case_death_send, false},
	    {"leak", case_leak, false},
	    {"child_recv_exit", case_child_recv_exit, true},
	    {"child_recv_fault", case_child_recv_fault, true},
	    {"child_send", child_send, true},
	};

	for (unsigned i = 0; i < U_ARRAY_SIZE(cases); i++) {
		if (strcmp(arg, cases[i].name) != 0)
			continue;
		if (!cases[i].child) {
			/* Warm up: the first stream starts the kernel's stream
			 * thread, which stays (and counts as a live object). */
			alder_handle_t l[2];
			must(u_stream_create(l), "stream_create");
			u_handle_close(l[0]);
			u_handle_close(l[1]);
			must(u_thread_start(watchdog_main, (void *)arg, stacks[2], STACK_SIZE), "watchdog");
		}
		cases[i].fn();
		return u_test_end(arg);
	}
	u_printf("ipc_cross: unknown case \"%s\"\n", arg);
	return 2;
}
