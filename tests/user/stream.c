/*
 * stream: streams working as abi/alder/stream.h says, between two threads of
 * one process, each on its own lane and its own queue (no way exists yet to
 * hand a lane to another process at spawn). The argument picks the case;
 * each is its own row in init's table:
 *   reqresp    request/response round trips, inline and buffer data
 *   offer      OFFER/ACCEPT with CHAIN (request and reply on the child),
 *              without CHAIN, nested; the new lanes' type and rights; the
 *              child lanes work on their own; the parent goes on
 *   big        a 1 MiB transfer between unaligned buffers, checked byte by
 *              byte; prints the copy throughput
 *   sg         scatter-gather on either side or both, with empty entries,
 *              against inline and plain buffers; too little room
 *   handles    push/pull of a memory handle: rights = handle & push mask &
 *              pull mask, same object; a push without TRANSFER is refused
 *              and the waiting pull takes the next push; a lane pushed and
 *              used by the other side
 *   creds      IMBUE/EXTRACT both ways: pid and id, the same every time
 *   dismiss    DISMISS after the actions ahead of it; the peer's pending and
 *              later actions, and the dismisser's later ones, get -EPIPE
 *   close      closing a lane (last handle) fails the peer's pending actions
 *              and later submissions with -EPIPE, and the closer's own
 *              pending chain; a dup'ed handle keeps the lane open
 *   midclose   a lane closed by a third thread while 1 MiB transfers run in
 *              a loop: everyone ends with -EPIPE, nothing hangs
 *   mismatch   mismatched actions fail both with -EPROTO, matching goes on;
 *              a too-small receive: -EMSGSIZE with the lengths
 *   cancel     ALDER_OP_CANCEL of a waiting chain; closing a queue with a
 *              chain in flight; the peer's next action meets the next one
 *   bad        bad input: lane handles, the action array, every field, user
 *              buffers that fault at copy time on either side (the faulting
 *              side gets -EFAULT, the peer -EIO), an action array unmapped
 *              before the write-back; afterwards everything still works
 *   exit       a child ("exitchild") ends with chains in flight everywhere
 *              (waiting receive, pending pushes of a memory handle and of a
 *              lane, an offer with a chained send, a thread waiting on its
 *              queue): it ends, and every object it made is gone
 * Every case ends with the live-object count back where it started.
 * Exits 0 if every check passed.
 */
#include <umem.h>
#include <uqueue.h>
#include <ustream.h>
#include <utest.h>

#define SEC U_NS_PER_SEC
#define MS U_NS_PER_MS
#define T (5 * SEC)
#define SELF ALDER_HANDLE_SELF_SPACE
#define RW (ALDER_PROT_READ | ALDER_PROT_WRITE)
#define PAGE U_PAGE_SIZE
#define MiB ((uint64_t)1 << 20)
#define LANE_RIGHTS (ALDER_RIGHT_READ | ALDER_RIGHT_WRITE | ALDER_RIGHT_TRANSFER | ALDER_RIGHT_DUPLICATE)
#define STACK_SIZE 32768
/* Never mapped here: far above where the kernel places mappings. */
#define UNMAPPED 0x6f0000000000ull
#define HOLES_AT 0x300000000000ull

static uint8_t stacks[3][STACK_SIZE] __attribute__((aligned(16)));

/* ---- Helpers ----------------------------------------------------------- */

static long must(long r, const char *what)
{
	if (r < 0) {
		u_printf("stream: %s: %ld (%s)\n", what, r, u_errname(r));
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

/* The live-object count must come back to want (some releases finish on
 * the kernel's stream thread: give it a second). */
static void expect_live(uint64_t want)
{
	uint64_t deadline = u_now_ns() + SEC, now;

	while ((now = live_objects()) != want && u_now_ns() < deadline)
		sys_sleep(5 * MS);
	if (now != want) {
		u_printf("stream: %llu live objects, expected %llu\n", (unsigned long long)now,
			 (unsigned long long)want);
		sys_exit(1);
	}
}

static void new_queue(struct u_queue *q)
{
	must(u_queue_init(q, 16, 16), "queue_create");
}

/* Close q and unmap its ring (the mapping would keep the ring's memory
 * object alive, and the live-object checks count it). */
static void close_queue(struct u_queue *q)
{
	CHECK_EQ(u_handle_close(q->handle), 0);
	CHECK_EQ(u_space_unmap(SELF, q->params.ring_addr, q->params.ring_size), 0);
}

/* Anonymous read-write memory of size bytes, mapped where the kernel likes. */
static uint8_t *map_rw(uint64_t size, alder_handle_t *mem_out)
{
	alder_handle_t m = (alder_handle_t)must(u_mem_create(size, 0), "mem_create");
	long a = must(u_space_map(SELF, m, 0, 0, size, RW), "space_map");

	if (mem_out)
		*mem_out = m;
	else
		u_handle_close(m);
	return (uint8_t *)(uintptr_t)a;
}

/* Like map_rw, at a fixed address. */
static uint8_t *map_fixed(uint64_t addr, uint64_t size)
{
	alder_handle_t m = (alder_handle_t)must(u_mem_create(size, 0), "mem_create");

	CHECK_EQ(must(u_space_map(SELF, m, 0, addr, size, RW), "space_map"), (long)addr);
	u_handle_close(m);
	return (uint8_t *)(uintptr_t)addr;
}

/* Submit and wait; CHECK that the CQE's result is want, return the CQE. */
static struct alder_cqe run(struct u_queue *q, alder_handle_t lane, struct alder_action *a, uint64_t n,
			    long want)
{
	struct alder_cqe c;
	long r = u_stream_run(q, lane, a, n, T, &c);

	if (r != want) {
		u_printf("stream: chain of %llu on lane %d: %ld (%s), expected %ld (%s); aux %llu %llu\n",
			 (unsigned long long)n, lane, r, u_errname(r), want, u_errname(want),
			 (unsigned long long)c.aux[0], (unsigned long long)c.aux[1]);
		sys_exit(1);
	}
	return c;
}

/* Submit without waiting (the caller collects the CQE with wait_cqe). */
static void submit(struct u_queue *q, alder_handle_t lane, struct alder_action *a, uint64_t n, uint64_t ctx)
{
	struct alder_sqe s = u_sqe_stream(ctx, lane, a, n);

	CHECK_EQ(u_queue_push(q, &s), 0);
	CHECK_EQ(u_queue_enter(q->handle, 1, 0, 0), 1);
}

static struct alder_cqe wait_cqe(struct u_queue *q)
{
	struct alder_cqe c;

	if (u_queue_cq_ready(q) == 0) {
		long r = u_queue_enter(q->handle, 0, 1, T);
		if (r < 0) {
			u_printf("stream: waiting for a completion: %ld (%s)\n", r, u_errname(r));
			sys_exit(1);
		}
	}
	CHECK(u_queue_pop(q, &c));
	return c;
}

/* Nothing may complete within ms milliseconds. */
static void expect_quiet(struct u_queue *q, uint64_t ms)
{
	long r = u_queue_enter(q->handle, 0, 1, ms * MS);

	CHECK_EQ(r, -ALDER_ETIMEDOUT);
	CHECK_EQ(u_queue_cq_ready(q), 0);
}

/* A second thread running fn(arg); join waits for it (and fails on a hang). */
struct peer {
	void (*fn)(void *);
	void *arg;
	uint32_t done;
};

static void peer_entry(void *p)
{
	struct peer *pe = p;

	pe->fn(pe->arg);
	u_atomic_store(&pe->done, 1);
	u_futex_wake(&pe->done, 1);
}

static void peer_start(struct peer *pe, unsigned slot, void (*fn)(void *), void *arg)
{
	pe->fn = fn;
	pe->arg = arg;
	pe->done = 0;
	must(u_thread_start(peer_entry, pe, stacks[slot], STACK_SIZE), "thread_start");
}

static void peer_join(struct peer *pe)
{
	uint64_t deadline = u_now_ns() + 4 * T;

	while (!u_atomic_load(&pe->done)) {
		if (u_now_ns() > deadline) {
			u_printf("stream: peer thread hung\n");
			sys_exit(1);
		}
		u_futex_wait(&pe->done, 0, 100 * MS);
	}
}

static void stream_pair(alder_handle_t l[2])
{
	must(u_stream_create(l), "stream_create");
	CHECK(l[0] > 0 && l[1] > 0 && l[0] != l[1]);
}

static void close_pair(alder_handle_t l[2])
{
	CHECK_EQ(u_handle_close(l[0]), 0);
	CHECK_EQ(u_handle_close(l[1]), 0);
}

static void check_lane(alder_handle_t h)
{
	struct alder_handle_info info;

	CHECK_EQ(u_handle_info(h, &info), 0);
	CHECK_EQ(info.type, ALDER_OBJ_LANE);
	CHECK_EQ(info.rights, LANE_RIGHTS);
}

/* Shared between the main thread and its peer in each case. */
static alder_handle_t lanes[2];
static uint32_t step; /* hand-shakes between the two threads */

static void wait_step(uint32_t want)
{
	uint64_t deadline = u_now_ns() + 4 * T;
	uint32_t v;

	while ((v = u_atomic_load(&step)) < want) {
		if (u_now_ns() > deadline) {
			u_printf("stream: stuck waiting for step %u (at %u)\n", want, v);
			sys_exit(1);
		}
		u_futex_wait(&step, v, 100 * MS);
	}
}

static void set_step(uint32_t v)
{
	u_atomic_store(&step, v);
	u_futex_wake(&step, 8);
}

/* ---- reqresp ----------------------------------------------------------- */

#define ROUNDS 200

static void reqresp_server(void *arg)
{
	struct u_queue q;
	char buf[32];

	new_queue(&q);
	for (int i = 0; i < ROUNDS; i++) {
		struct alder_action a = u_act_recv(buf, sizeof(buf));
		run(&q, lanes[1], &a, 1, 0);
		CHECK_EQ(a.status, 0);
		CHECK(a.length >= 4 && a.length <= sizeof(buf));
		CHECK(memcmp(buf, "req ", 4) == 0);
		buf[0] = 'R';
		struct alder_action b = u_act_send_inline(buf, a.length);
		run(&q, lanes[1], &b, 1, 0);
		CHECK_EQ(b.length, a.length);
	}
	close_queue(&q);
}

static void case_reqresp(void)
{
	struct u_queue q;
	struct peer pe;

	new_queue(&q);
	stream_pair(lanes);
	check_lane(lanes[0]);
	check_lane(lanes[1]);
	peer_start(&pe, 0, reqresp_server, NULL);
	for (int i = 0; i < ROUNDS; i++) {
		char req[32], want[32];
		int n = u_snprintf(req, sizeof(req), "req %d", i);
		struct alder_action a[2] = {u_act_send(req, (uint64_t)n),
					    u_act_recv_inline(ALDER_ACTION_INLINE_MAX)};
		memset(a[1].data, 0xee, sizeof(a[1].data));
		struct alder_cqe c = run(&q, lanes[0], a, 2, 0);
		CHECK_EQ(c.aux[0], 2);
		CHECK_EQ(a[0].status, 0);
		CHECK_EQ(a[0].length, (uint64_t)n);
		CHECK_EQ(a[1].status, 0);
		CHECK_EQ(a[1].length, (uint64_t)n);
		memcpy(want, req, (size_t)n);
		want[0] = 'R';
		CHECK(memcmp(a[1].data, want, (size_t)n) == 0);
		CHECK_EQ(a[1].data[n], 0xee); /* beyond length: untouched */
	}
	peer_join(&pe);
	close_pair(lanes);
	close_queue(&q);
}

/* ---- offer ------------------------------------------------------------- */

static alder_handle_t server_child;

static void offer_server(void *arg)
{
	struct u_queue q;

	new_queue(&q);
	/* 1: accept with CHAIN, request and reply on the child. */
	struct alder_action a[3] = {u_act_accept(true), u_act_recv_inline(16), u_act_send_inline("reply", 5)};
	run(&q, lanes[1], a, 3, 0);
	CHECK(a[0].out_handle > 0);
	check_lane(a[0].out_handle);
	CHECK_EQ(a[1].length, 7);
	CHECK(memcmp(a[1].data, "request", 7) == 0);
	server_child = a[0].out_handle;
	set_step(1);
	/* 2: the child lane on its own. */
	char buf[8];
	struct alder_action r = u_act_recv(buf, sizeof(buf));
	run(&q, server_child, &r, 1, 0);
	CHECK_EQ(r.length, 5);
	CHECK(memcmp(buf, "again", 5) == 0);
	/* 3: accept without CHAIN; then a send on the parent. */
	struct alder_action b[2] = {u_act_accept(false), u_act_send_inline("parent", 6)};
	run(&q, lanes[1], b, 2, 0);
	check_lane(b[0].out_handle);
	CHECK_EQ(u_handle_close(b[0].out_handle), 0);
	/* 4: nested children. */
	struct alder_action c[3] = {u_act_accept(true), u_act_accept(true), u_act_recv_inline(8)};
	run(&q, lanes[1], c, 3, 0);
	CHECK_EQ(c[2].length, 6);
	CHECK(memcmp(c[2].data, "nested", 6) == 0);
	CHECK_EQ(u_handle_close(c[0].out_handle), 0);
	CHECK_EQ(u_handle_close(c[1].out_handle), 0);
	close_queue(&q);
}

static void case_offer(void)
{
	struct u_queue q;
	struct peer pe;
	uint64_t base = u_live_settled();

	new_queue(&q);
	stream_pair(lanes);
	peer_start(&pe, 0, offer_server, NULL);
	struct alder_action a[3] = {u_act_offer(true), u_act_send_inline("request", 7),
				    u_act_recv_inline(16)};
	struct alder_cqe cq = run(&q, lanes[0], a, 3, 0);
	CHECK_EQ(cq.aux[0], 3);
	check_lane(a[0].out_handle);
	CHECK_EQ(a[2].length, 5);
	CHECK(memcmp(a[2].data, "reply", 5) == 0);
	wait_step(1);
	struct alder_action s = u_act_send("again", 5);
	run(&q, a[0].out_handle, &s, 1, 0);
	/* The two ends of the child are two lanes of one new stream, not
	 * the parent's. */
	struct alder_handle_info i1, i2, ip;
	CHECK_EQ(u_handle_info(a[0].out_handle, &i1), 0);
	CHECK_EQ(u_handle_info(server_child, &i2), 0);
	CHECK_EQ(u_handle_info(lanes[0], &ip), 0);
	CHECK(i1.koid != i2.koid && i1.koid != ip.koid);
	CHECK_EQ(u_handle_close(a[0].out_handle), 0);
	CHECK_EQ(u_handle_close(server_child), 0);

	struct alder_action b[2] = {u_act_offer(false), u_act_recv_inline(8)};
	run(&q, lanes[0], b, 2, 0);
	check_lane(b[0].out_handle);
	CHECK_EQ(b[1].length, 6);
	CHECK(memcmp(b[1].data, "parent", 6) == 0);
	CHECK_EQ(u_handle_close(b[0].out_handle), 0);

	struct alder_action c[3] = {u_act_offer(true), u_act_offer(true), u_act_send_inline("nested", 6)};
	run(&q, lanes[0], c, 3, 0);
	CHECK(c[0].out_handle > 0 && c[1].out_handle > 0);
	CHECK_EQ(u_handle_close(c[0].out_handle), 0);
	CHECK_EQ(u_handle_close(c[1].out_handle), 0);

	peer_join(&pe);
	close_pair(lanes);
	close_queue(&q);
	expect_live(base);
}

/* ---- big --------------------------------------------------------------- */

#define BIG MiB
#define BIG_ROUNDS 32

static uint8_t *big_rx;

static void big_server(void *arg)
{
	struct u_queue q;

	new_queue(&q);
	for (int i = 0; i < 1 + BIG_ROUNDS; i++) {
		struct alder_action a = u_act_recv(big_rx + 123, BIG);
		run(&q, lanes[1], &a, 1, 0);
		CHECK_EQ(a.length, BIG);
		if (i == 0) {
			/* Check every byte of the first one. */
			for (uint64_t k = 0; k < BIG; k++) {
				uint8_t want = (uint8_t)(k * 7 + (k >> 12));
				if (big_rx[123 + k] != want) {
					u_printf("stream: byte %llu is %u, expected %u\n",
						 (unsigned long long)k, big_rx[123 + k], want);
					sys_exit(1);
				}
			}
			CHECK_EQ(big_rx[122], 0x5a);
			CHECK_EQ(big_rx[123 + BIG], 0x5a);
			set_step(1);
		}
	}
	close_queue(&q);
}

static void case_big(void)
{
	struct u_queue q;
	struct peer pe;
	uint8_t *tx = map_rw(BIG + 2 * PAGE, NULL);

	big_rx = map_rw(BIG + 2 * PAGE, NULL);
	memset(big_rx, 0x5a, BIG + 2 * PAGE);
	for (uint64_t k = 0; k < BIG; k++)
		tx[5 + k] = (uint8_t)(k * 7 + (k >> 12));
	new_queue(&q);
	stream_pair(lanes);
	peer_start(&pe, 0, big_server, NULL);
	struct alder_action a = u_act_send(tx + 5, BIG);
	run(&q, lanes[0], &a, 1, 0);
	CHECK_EQ(a.length, BIG);
	wait_step(1);
	/* Throughput: BIG_ROUNDS more, timed (each includes a round trip
	 * through both queues and the thread switch). */
	uint64_t t0 = u_now_ns();
	for (int i = 0; i < BIG_ROUNDS; i++) {
		a = u_act_send(tx + 5, BIG);
		run(&q, lanes[0], &a, 1, 0);
	}
	uint64_t ns = u_now_ns() - t0;
	if (ns == 0)
		ns = 1;
	/* For scale: the same bytes copied by memcpy in this thread. */
	uint64_t t1 = u_now_ns();
	for (int i = 0; i < BIG_ROUNDS; i++) {
		memcpy(big_rx + 123, tx + 5, BIG);
		__asm__ volatile("" ::: "memory");
	}
	uint64_t ns_memcpy = u_now_ns() - t1;
	if (ns_memcpy == 0)
		ns_memcpy = 1;
	u_printf("stream: big: %d x 1 MiB in %llu us: %llu MiB/s (user memcpy: %llu MiB/s)\n", BIG_ROUNDS,
		 (unsigned long long)(ns / 1000), (unsigned long long)((uint64_t)BIG_ROUNDS * SEC / ns),
		 (unsigned long long)((uint64_t)BIG_ROUNDS * SEC / ns_memcpy));
	peer_join(&pe);
	close_pair(lanes);
	close_queue(&q);
}

/* ---- sg ---------------------------------------------------------------- */

static uint8_t sg_src[3 * PAGE], sg_dst[3 * PAGE];

static void sg_server(void *arg)
{
	struct u_queue q;

	new_queue(&q);
	/* 1: SG to SG, different splits. */
	struct alder_iovec iv[4] = {{(uint64_t)(uintptr_t)sg_dst, 3000},
				    {0, 0},
				    {(uint64_t)(uintptr_t)(sg_dst + 4000), 2101},
				    {(uint64_t)(uintptr_t)(sg_dst + 8000), 50}};
	struct alder_action a = u_act_recv_sg(iv, 4);
	run(&q, lanes[1], &a, 1, 0);
	CHECK_EQ(a.length, 5101);
	/* 2: SG to a plain buffer; 3: inline to SG. */
	struct alder_action b = u_act_recv(sg_dst + 9000, 3000);
	run(&q, lanes[1], &b, 1, 0);
	CHECK_EQ(b.length, 2000);
	struct alder_iovec iv2[2] = {{(uint64_t)(uintptr_t)(sg_dst + 100), 3},
				     {(uint64_t)(uintptr_t)(sg_dst + 200), 10}};
	struct alder_action c = u_act_recv_sg(iv2, 2);
	run(&q, lanes[1], &c, 1, 0);
	CHECK_EQ(c.length, 11);
	/* 4: too little room. */
	struct alder_action d = u_act_recv_sg(iv2, 2);
	run(&q, lanes[1], &d, 1, -ALDER_EMSGSIZE);
	CHECK_EQ(d.status, -ALDER_EMSGSIZE);
	CHECK_EQ(d.length, 14);
	close_queue(&q);
}

static void case_sg(void)
{
	struct u_queue q;
	struct peer pe;

	for (unsigned i = 0; i < sizeof(sg_src); i++)
		sg_src[i] = (uint8_t)(i * 13 + 1);
	new_queue(&q);
	stream_pair(lanes);
	peer_start(&pe, 0, sg_server, NULL);
	struct alder_iovec ov[4] = {{(uint64_t)(uintptr_t)sg_src, 100},
				    {(uint64_t)(uintptr_t)sg_src, 0},
				    {(uint64_t)(uintptr_t)(sg_src + 200), 5000},
				    {(uint64_t)(uintptr_t)(sg_src + 6000), 1}};
	struct alder_action a = u_act_send_sg(ov, 4);
	run(&q, lanes[0], &a, 1, 0);
	CHECK_EQ(a.length, 5101);
	/* The receiver's view: 3000 + 2101 bytes of the concatenation. */
	uint8_t cat[5101];
	memcpy(cat, sg_src, 100);
	memcpy(cat + 100, sg_src + 200, 5000);
	cat[5100] = sg_src[6000];
	CHECK(memcmp(sg_dst, cat, 3000) == 0);
	CHECK(memcmp(sg_dst + 4000, cat + 3000, 2101) == 0);
	CHECK_EQ(sg_dst[8000], 0);

	struct alder_iovec ov2[2] = {{(uint64_t)(uintptr_t)(sg_src + 1), 1500},
				     {(uint64_t)(uintptr_t)(sg_src + 7000), 500}};
	struct alder_action b = u_act_send_sg(ov2, 2);
	run(&q, lanes[0], &b, 1, 0);
	CHECK(memcmp(sg_dst + 9000, sg_src + 1, 1500) == 0);
	CHECK(memcmp(sg_dst + 10500, sg_src + 7000, 500) == 0);

	struct alder_action c = u_act_send_inline("hello world", 11);
	run(&q, lanes[0], &c, 1, 0);
	CHECK(memcmp(sg_dst + 100, "hel", 3) == 0);
	CHECK(memcmp(sg_dst + 200, "lo world", 8) == 0);

	struct alder_action d = u_act_send_inline("fourteen bytes", 14);
	run(&q, lanes[0], &d, 1, -ALDER_EMSGSIZE);
	CHECK_EQ(d.length, 13); /* the receiver's room */

	peer_join(&pe);
	close_pair(lanes);
	close_queue(&q);
}

/* ---- handles ----------------------------------------------------------- */

static uint64_t mem_koid;

static void handles_server(void *arg)
{
	struct u_queue q;
	struct alder_handle_info info;

	new_queue(&q);
	/* 1: pull with everything: get handle rights & push mask. */
	struct alder_action a = u_act_pull(ALDER_RIGHTS_ALL);
	run(&q, lanes[1], &a, 1, 0);
	CHECK(a.out_handle > 0);
	CHECK_EQ(u_handle_info(a.out_handle, &info), 0);
	CHECK_EQ(info.type, ALDER_OBJ_MEMORY);
	CHECK_EQ(info.koid, mem_koid);
	CHECK_EQ(info.rights, ALDER_RIGHT_READ | ALDER_RIGHT_MAP | ALDER_RIGHT_TRANSFER);
	/* The same memory: what the main thread wrote is there. */
	long addr = must(u_space_map(SELF, a.out_handle, 0, 0, PAGE, ALDER_PROT_READ), "map pulled");
	CHECK(memcmp((void *)(uintptr_t)addr, "shared page", 11) == 0);
	/* It may not be mapped writable: no WRITE right. */
	CHECK_EQ(u_space_map(SELF, a.out_handle, 0, 0, PAGE, RW), -ALDER_EACCES);
	CHECK_EQ(u_space_unmap(SELF, (uint64_t)addr, PAGE), 0);
	CHECK_EQ(u_handle_close(a.out_handle), 0);
	/* 2: the pull mask narrows further. */
	struct alder_action b = u_act_pull(ALDER_RIGHT_READ);
	run(&q, lanes[1], &b, 1, 0);
	CHECK_EQ(u_handle_info(b.out_handle, &info), 0);
	CHECK_EQ(info.rights, ALDER_RIGHT_READ);
	CHECK_EQ(u_handle_close(b.out_handle), 0);
	/* 3: a pull waiting while the main thread's bad push is refused. */
	struct alder_action c = u_act_pull(ALDER_RIGHTS_ALL);
	run(&q, lanes[1], &c, 1, 0);
	CHECK_EQ(u_handle_info(c.out_handle, &info), 0);
	CHECK_EQ(info.koid, mem_koid);
	CHECK_EQ(info.rights, ALDER_RIGHT_READ | ALDER_RIGHT_TRANSFER);
	CHECK_EQ(u_handle_close(c.out_handle), 0);
	/* 4: a lane: talk over it. */
	struct alder_action d = u_act_pull(ALDER_RIGHTS_ALL);
	run(&q, lanes[1], &d, 1, 0);
	check_lane(d.out_handle);
	struct alder_action e = u_act_send_inline("via pushed lane", 15);
	run(&q, d.out_handle, &e, 1, 0);
	CHECK_EQ(u_handle_close(d.out_handle), 0);
	close_queue(&q);
}

static void case_handles(void)
{
	struct u_queue q;
	struct peer pe;
	alder_handle_t mem;
	struct alder_handle_info info;
	uint64_t base = u_live_settled();

	uint8_t *p = map_rw(PAGE, &mem);
	memcpy(p, "shared page", 11);
	CHECK_EQ(u_handle_info(mem, &info), 0);
	mem_koid = info.koid;
	new_queue(&q);
	stream_pair(lanes);
	peer_start(&pe, 0, handles_server, NULL);

	struct alder_action a = u_act_push(mem, ALDER_RIGHT_READ | ALDER_RIGHT_MAP | ALDER_RIGHT_TRANSFER);
	run(&q, lanes[0], &a, 1, 0);
	CHECK_EQ(a.out_handle, 0);
	struct alder_action b = u_act_push(mem, ALDER_RIGHTS_ALL);
	run(&q, lanes[0], &b, 1, 0);

	/* A handle without TRANSFER cannot be pushed: refused at submission
	 * (aux[1] = its index), nothing is matched. */
	alder_handle_t weak =
	    (alder_handle_t)must(u_handle_dup(mem, ALDER_RIGHT_READ | ALDER_RIGHT_MAP), "dup");
	struct alder_action c[2] = {u_act_imbue(), u_act_push(weak, ALDER_RIGHTS_ALL)};
	struct alder_cqe cq = run(&q, lanes[0], c, 2, -ALDER_EACCES);
	CHECK_EQ(cq.aux[0], 0);
	CHECK_EQ(cq.aux[1], 1);
	CHECK_EQ(u_handle_close(weak), 0);
	/* Rights never grow: a READ|TRANSFER handle pushed with mask ALL. */
	alder_handle_t ro =
	    (alder_handle_t)must(u_handle_dup(mem, ALDER_RIGHT_READ | ALDER_RIGHT_TRANSFER), "dup");
	struct alder_action d = u_act_push(ro, ALDER_RIGHTS_ALL);
	run(&q, lanes[0], &d, 1, 0);
	CHECK_EQ(u_handle_close(ro), 0);

	/* A lane of a new stream; the other end stays here. */
	alder_handle_t s2[2];
	stream_pair(s2);
	struct alder_action e = u_act_push(s2[1], ALDER_RIGHTS_ALL);
	run(&q, lanes[0], &e, 1, 0);
	CHECK_EQ(u_handle_close(s2[1]), 0); /* the peer's copy keeps the lane open */
	struct alder_action f = u_act_recv_inline(32);
	run(&q, s2[0], &f, 1, 0);
	CHECK_EQ(f.length, 15);
	CHECK(memcmp(f.data, "via pushed lane", 15) == 0);
	peer_join(&pe);
	/* The peer closed its copy: our end sees -EPIPE now. */
	struct alder_action g = u_act_recv_inline(32);
	run(&q, s2[0], &g, 1, -ALDER_EPIPE);
	CHECK_EQ(u_handle_close(s2[0]), 0);

	close_pair(lanes);
	close_queue(&q);
	CHECK_EQ(u_space_unmap(SELF, (uint64_t)(uintptr_t)p, PAGE), 0);
	CHECK_EQ(u_handle_close(mem), 0);
	expect_live(base);
}

/* ---- creds ------------------------------------------------------------- */

static struct alder_creds got_creds;

static void creds_server(void *arg)
{
	struct u_queue q;

	new_queue(&q);
	struct alder_action a[2] = {u_act_extract(), u_act_imbue()};
	memset(&a[0].creds, 0xff, sizeof(a[0].creds));
	run(&q, lanes[1], a, 2, 0);
	got_creds = a[0].creds;
	close_queue(&q);
}

static void case_creds(void)
{
	struct u_queue q;
	struct peer pe;

	new_queue(&q);
	stream_pair(lanes);
	peer_start(&pe, 0, creds_server, NULL);
	struct alder_action a[2] = {u_act_imbue(), u_act_extract()};
	run(&q, lanes[0], a, 2, 0);
	peer_join(&pe);
	CHECK(a[1].creds.pid != 0);
	CHECK_EQ(a[1].creds.reserved, 0);
	/* Same process on both sides: the same credentials. */
	CHECK_EQ(got_creds.pid, a[1].creds.pid);
	CHECK_EQ(got_creds.reserved, 0);
	CHECK(memcmp(got_creds.id, a[1].creds.id, 16) == 0);
	static const uint8_t zero[16];
	CHECK(memcmp(a[1].creds.id, zero, 16) != 0);
	close_pair(lanes);
	close_queue(&q);
}

/* ---- dismiss ----------------------------------------------------------- */

static void case_dismiss(void)
{
	struct u_queue q0, q1;
	uint64_t base = u_live_settled();

	new_queue(&q0);
	new_queue(&q1);
	stream_pair(lanes);
	/* The dismiss waits behind the send. */
	struct alder_action a[2] = {u_act_send_inline("last", 4), u_act_dismiss()};
	submit(&q0, lanes[0], a, 2, 1);
	expect_quiet(&q0, 20);
	struct alder_action r[3] = {u_act_recv_inline(8), u_act_recv_inline(8), u_act_pull(ALDER_RIGHTS_ALL)};
	struct alder_cqe c = run(&q1, lanes[1], r, 3, -ALDER_EPIPE);
	CHECK_EQ(c.aux[0], 1);
	CHECK_EQ(r[0].status, 0);
	CHECK_EQ(r[1].status, -ALDER_EPIPE);
	CHECK_EQ(r[2].status, -ALDER_EPIPE);
	c = wait_cqe(&q0);
	CHECK_EQ(c.result, 0);
	CHECK_EQ(a[1].status, 0);
	/* Later actions, either side: -EPIPE at once. */
	struct alder_action l1 = u_act_recv_inline(8);
	run(&q1, lanes[1], &l1, 1, -ALDER_EPIPE);
	struct alder_action l0 = u_act_send_inline("x", 1);
	run(&q0, lanes[0], &l0, 1, -ALDER_EPIPE);
	close_pair(lanes);

	/* Dismiss with the peer's chain already waiting. */
	stream_pair(lanes);
	struct alder_action w[2] = {u_act_recv_inline(8), u_act_extract()};
	submit(&q1, lanes[1], w, 2, 2);
	struct alder_action d = u_act_dismiss();
	run(&q0, lanes[0], &d, 1, 0);
	c = wait_cqe(&q1);
	CHECK_EQ(c.result, -ALDER_EPIPE);
	CHECK_EQ(w[0].status, -ALDER_EPIPE);
	CHECK_EQ(w[1].status, -ALDER_EPIPE);
	close_pair(lanes);
	close_queue(&q0);
	close_queue(&q1);
	expect_live(base);
}

/* ---- close ------------------------------------------------------------- */

static void case_close(void)
{
	struct u_queue q0, q1;
	uint64_t base = u_live_settled();

	new_queue(&q0);
	new_queue(&q1);
	/* The peer's pending chain ends when the last handle of our lane goes;
	 * a dup'ed handle keeps it open. */
	stream_pair(lanes);
	alder_handle_t dup = (alder_handle_t)must(u_handle_dup(lanes[0], ALDER_RIGHTS_ALL), "dup lane");
	struct alder_action r[2] = {u_act_recv_inline(8), u_act_recv_inline(8)};
	submit(&q1, lanes[1], r, 2, 1);
	CHECK_EQ(u_handle_close(lanes[0]), 0);
	expect_quiet(&q1, 20);
	CHECK_EQ(u_handle_close(dup), 0);
	struct alder_cqe c = wait_cqe(&q1);
	CHECK_EQ(c.result, -ALDER_EPIPE);
	CHECK_EQ(c.aux[0], 0);
	CHECK_EQ(r[0].status, -ALDER_EPIPE);
	CHECK_EQ(r[1].status, -ALDER_EPIPE);
	struct alder_action later = u_act_send_inline("x", 1);
	run(&q1, lanes[1], &later, 1, -ALDER_EPIPE);
	CHECK_EQ(u_handle_close(lanes[1]), 0);

	/* Closing the lane our own chain waits on ends that chain too. */
	stream_pair(lanes);
	struct alder_action s = u_act_send_inline("y", 1);
	submit(&q0, lanes[0], &s, 1, 2);
	CHECK_EQ(u_handle_close(lanes[0]), 0);
	c = wait_cqe(&q0);
	CHECK_EQ(c.result, -ALDER_EPIPE);
	CHECK_EQ(u_handle_close(lanes[1]), 0);
	/* A handle to a closed lane is gone: -EBADF, nothing queued. */
	struct alder_action t = u_act_send_inline("z", 1);
	run(&q0, lanes[0], &t, 1, -ALDER_EBADF);

	close_queue(&q0);
	close_queue(&q1);
	expect_live(base);
}

/* ---- midclose ---------------------------------------------------------- */

static uint8_t *mid_buf[2];
static uint32_t mid_rounds;

static void midclose_receiver(void *arg)
{
	struct u_queue q;

	new_queue(&q);
	for (;;) {
		struct alder_action a = u_act_recv(mid_buf[1], MiB);
		struct alder_cqe c;
		long r = u_stream_run(&q, lanes[1], &a, 1, T, &c);
		if (r == -ALDER_EPIPE || r == -ALDER_EBADF)
			break;
		CHECK_EQ(r, 0);
		u_atomic_fetch_add(&mid_rounds, 1);
	}
	close_queue(&q);
}

static void midclose_closer(void *arg)
{
	while (u_atomic_load(&mid_rounds) < 3)
		sys_sleep(MS);
	CHECK_EQ(u_handle_close(lanes[1]), 0);
}

static void case_midclose(void)
{
	struct u_queue q;
	struct peer rx, closer;
	uint64_t base;

	mid_buf[0] = map_rw(MiB, NULL);
	mid_buf[1] = map_rw(MiB, NULL);
	base = u_live_settled();
	new_queue(&q);
	stream_pair(lanes);
	peer_start(&rx, 0, midclose_receiver, NULL);
	peer_start(&closer, 1, midclose_closer, NULL);
	for (;;) {
		struct alder_action a[2] = {u_act_send(mid_buf[0], MiB / 2),
					    u_act_send(mid_buf[0] + MiB / 2, MiB / 2)};
		struct alder_cqe c;
		long r = u_stream_run(&q, lanes[0], a, 2, T, &c);
		if (r == -ALDER_EPIPE)
			break;
		if (r != 0) {
			u_printf("stream: midclose send: %ld (%s)\n", r, u_errname(r));
			sys_exit(1);
		}
	}
	peer_join(&closer);
	peer_join(&rx);
	CHECK(u_atomic_load(&mid_rounds) >= 3);
	CHECK_EQ(u_handle_close(lanes[0]), 0);
	close_queue(&q);
	expect_live(base);
}

/* ---- mismatch ---------------------------------------------------------- */

static void case_mismatch(void)
{
	struct u_queue q0, q1;
	char small[10], big[100];

	new_queue(&q0);
	new_queue(&q1);
	stream_pair(lanes);
	memset(big, 'b', sizeof(big));
	struct alder_action a[3] = {u_act_send_inline("s", 1), u_act_offer(true), u_act_send_inline("t", 1)};
	submit(&q0, lanes[0], a, 3, 1);
	struct alder_action b[2] = {u_act_pull(ALDER_RIGHTS_ALL), u_act_send_inline("u", 1)};
	struct alder_cqe c = run(&q1, lanes[1], b, 2, -ALDER_EPROTO);
	CHECK_EQ(c.aux[0], 0);
	CHECK_EQ(b[0].status, -ALDER_EPROTO);
	CHECK_EQ(b[1].status, -ALDER_EPROTO);
	c = wait_cqe(&q0);
	CHECK_EQ(c.result, -ALDER_EPROTO);
	CHECK_EQ(a[0].status, -ALDER_EPROTO);
	CHECK_EQ(a[1].status, -ALDER_EPROTO);
	CHECK_EQ(a[2].status, -ALDER_EPROTO); /* was to follow the offer */
	CHECK_EQ(a[1].out_handle, 0);
	close_pair(lanes);

	/* Too little room: both -EMSGSIZE, nothing copied. */
	stream_pair(lanes);
	memset(small, 0, sizeof(small));
	struct alder_action r = u_act_recv(small, sizeof(small));
	submit(&q1, lanes[1], &r, 1, 2);
	struct alder_action s = u_act_send(big, sizeof(big));
	run(&q0, lanes[0], &s, 1, -ALDER_EMSGSIZE);
	CHECK_EQ(s.length, sizeof(small));
	c = wait_cqe(&q1);
	CHECK_EQ(c.result, -ALDER_EMSGSIZE);
	CHECK_EQ(r.length, sizeof(big));
	CHECK_EQ(small[0], 0);
	/* The conversation goes on. */
	struct alder_action r2 = u_act_recv(big, sizeof(big));
	submit(&q1, lanes[1], &r2, 1, 3);
	struct alder_action s2 = u_act_send("fits", 4);
	run(&q0, lanes[0], &s2, 1, 0);
	c = wait_cqe(&q1);
	CHECK_EQ(c.result, 0);
	CHECK(memcmp(big, "fits", 4) == 0);
	close_pair(lanes);
	close_queue(&q0);
	close_queue(&q1);
}

/* ---- cancel ------------------------------------------------------------ */

static void case_cancel(void)
{
	struct u_queue q0, q1, qx;
	uint64_t base = u_live_settled();

	new_queue(&q0);
	new_queue(&q1);
	stream_pair(lanes);
	struct alder_action a = u_act_recv_inline(8);
	submit(&q1, lanes[1], &a, 1, 77);
	struct alder_sqe cs = u_sqe_cancel(78, 77);
	CHECK_EQ(u_queue_push(&q1, &cs), 0);
	CHECK_EQ(u_queue_enter(q1.handle, 1, 2, T), 1);
	struct alder_cqe c1, c2;
	CHECK(u_queue_pop(&q1, &c1));
	CHECK(u_queue_pop(&q1, &c2));
	struct alder_cqe *chain = c1.context == 77 ? &c1 : &c2, *canc = c1.context == 77 ? &c2 : &c1;
	CHECK_EQ(canc->result, 0);
	CHECK_EQ(chain->result, -ALDER_ECANCELED);
	CHECK_EQ(a.status, -ALDER_ECANCELED);

	/* A queue closed with a chain in flight: the chain is gone (no
	 * completion anywhere), the next receive gets the data. */
	new_queue(&qx);
	struct alder_action lost = u_act_recv_inline(8);
	submit(&qx, lanes[1], &lost, 1, 5);
	close_queue(&qx);
	struct alder_action b = u_act_recv_inline(8);
	submit(&q1, lanes[1], &b, 1, 6);
	struct alder_action s = u_act_send_inline("after", 5);
	run(&q0, lanes[0], &s, 1, 0);
	struct alder_cqe c = wait_cqe(&q1);
	CHECK_EQ(c.context, 6);
	CHECK_EQ(c.result, 0);
	CHECK(memcmp(b.data, "after", 5) == 0);
	close_pair(lanes);

	/* A dismiss queued behind a chain that is then cancelled ends the
	 * conversation at once: it needs no partner. */
	stream_pair(lanes);
	struct alder_action w = u_act_send_inline("never", 5);
	submit(&q0, lanes[0], &w, 1, 90);
	struct alder_action d = u_act_dismiss();
	submit(&q0, lanes[0], &d, 1, 91);
	expect_quiet(&q0, 20);
	cs = u_sqe_cancel(92, 90);
	CHECK_EQ(u_queue_push(&q0, &cs), 0);
	CHECK_EQ(u_queue_enter(q0.handle, 1, 3, T), 1);
	for (int i = 0; i < 3; i++) {
		CHECK(u_queue_pop(&q0, &c));
		CHECK_EQ(c.result, c.context == 90 ? -ALDER_ECANCELED : 0);
	}
	CHECK_EQ(d.status, 0);
	struct alder_action late = u_act_recv_inline(8);
	run(&q1, lanes[1], &late, 1, -ALDER_EPIPE);
	close_pair(lanes);
	close_queue(&q0);
	close_queue(&q1);
	expect_live(base);
}

/* ---- bad --------------------------------------------------------------- */

/* Submit one chain that the kernel must refuse with err (aux[1] = index);
 * nothing may be written back. */
static void refuse(struct u_queue *q, alder_handle_t lane, struct alder_action *a, uint64_t n, long err,
		   uint64_t index, const char *what)
{
	for (uint64_t i = 0; i < n; i++)
		a[i].status = 12345;
	struct alder_cqe c;
	long r = u_stream_run(q, lane, a, n, T, &c);
	if (r != err || c.aux[0] != 0 || c.aux[1] != index) {
		u_expect_fail(__FILE__, __LINE__, "%s: %ld (%s) aux %llu %llu, expected %ld (%s) at %llu",
			      what, r, u_errname(r), (unsigned long long)c.aux[0],
			      (unsigned long long)c.aux[1], err, u_errname(err), (unsigned long long)index);
		return;
	}
	for (uint64_t i = 0; i < n; i++)
		if (a[i].status != 12345)
			u_expect_fail(__FILE__, __LINE__, "%s: action %llu written back", what,
				      (unsigned long long)i);
}

/* A raw SQE whose result must be err (refusals before the array is read). */
static void refuse_raw(struct u_queue *q, alder_handle_t lane, uint64_t arr, uint64_t n, uint64_t a2,
		       long err, const char *what)
{
	struct alder_sqe s = u_sqe_stream(9, lane, NULL, n);
	s.args[0] = arr;
	s.args[2] = a2;
	CHECK_EQ(u_queue_push(q, &s), 0);
	CHECK_EQ(u_queue_enter(q->handle, 1, 1, T), 1);
	struct alder_cqe c;
	CHECK(u_queue_pop(q, &c));
	EXPECT_ERR(what, c.result, (int)-err);
}

static uint8_t bad_buf[64];

static void bad_inputs(struct u_queue *q)
{
	alder_handle_t l = lanes[0];
	struct alder_action a[3];
	uint64_t kaddr = 0xffff800000000000ull;

	/* SYS_STREAM_CREATE with nowhere to put the handles: nothing stays. */
	uint64_t before = u_live_settled();
	EXPECT_ERR("stream_create(NULL)", u_stream_create(NULL), ALDER_EFAULT);
	EXPECT_ERR("stream_create(kernel)", u_stream_create((alder_handle_t *)(uintptr_t)kaddr), ALDER_EFAULT);
	EXPECT_ERR("stream_create(text)", u_stream_create((alder_handle_t *)(void *)__text_start), ALDER_EFAULT);
	EXPECT_ERR("stream_create(unmapped)", u_stream_create((alder_handle_t *)(uintptr_t)UNMAPPED), ALDER_EFAULT);
	EXPECT(live_objects() == before);

	/* The lane handle. */
	a[0] = u_act_send_inline("x", 1);
	refuse_raw(q, 0, (uint64_t)(uintptr_t)a, 1, 0, -ALDER_EBADF, "handle 0");
	refuse_raw(q, 4000, (uint64_t)(uintptr_t)a, 1, 0, -ALDER_EBADF, "handle 4000");
	refuse_raw(q, -1, (uint64_t)(uintptr_t)a, 1, 0, -ALDER_EBADF, "handle -1");
	refuse_raw(q, q->handle, (uint64_t)(uintptr_t)a, 1, 0, -ALDER_EBADFD, "queue handle as lane");
	alder_handle_t ro = (alder_handle_t)must(u_handle_dup(l, ALDER_RIGHT_READ), "dup");
	alder_handle_t wo = (alder_handle_t)must(u_handle_dup(l, ALDER_RIGHT_WRITE), "dup");
	refuse(q, ro, a, 1, -ALDER_EACCES, 0, "send on a READ-only lane");
	a[0] = u_act_recv_inline(8);
	refuse(q, wo, a, 1, -ALDER_EACCES, 0, "receive on a WRITE-only lane");
	CHECK_EQ(u_handle_close(ro), 0);
	CHECK_EQ(u_handle_close(wo), 0);

	/* The array and the count. */
	refuse_raw(q, l, 0, 1, 0, -ALDER_EFAULT, "array NULL");
	refuse_raw(q, l, kaddr, 1, 0, -ALDER_EFAULT, "array in the kernel");
	refuse_raw(q, l, UNMAPPED, 1, 0, -ALDER_EFAULT, "array unmapped");
	refuse_raw(q, l, 0x7ffffffffff0ull, 1, 0, -ALDER_EFAULT, "array across the top");
	refuse_raw(q, l, (uint64_t)(uintptr_t)a, 0, 0, -ALDER_EINVAL, "count 0");
	refuse_raw(q, l, (uint64_t)(uintptr_t)a, ALDER_STREAM_MAX_CHAIN + 1, 0, -ALDER_EINVAL, "count 33");
	refuse_raw(q, l, (uint64_t)(uintptr_t)a, 1ull << 62, 0, -ALDER_EINVAL, "count 2^62");
	refuse_raw(q, l, (uint64_t)(uintptr_t)a, ~0ull, 0, -ALDER_EINVAL, "count -1");
	refuse_raw(q, l, (uint64_t)(uintptr_t)a, 1, 1ull << 40, -ALDER_EINVAL, "args[2]: unknown chain flag");

	/* Every field; the bad action is the last of three. */
#define BADI(err, index, what, ...)                                                                          \
	do {                                                                                                 \
		a[0] = u_act_imbue();                                                                        \
		a[1] = u_act_send_inline("ok", 2);                                                           \
		a[2] = u_act_send_inline("x", 1);                                                            \
		__VA_ARGS__;                                                                                 \
		refuse(q, l, a, 3, err, index, what);                                                        \
	} while (0)
#define BAD(err, what, ...) BADI(err, 2, what, __VA_ARGS__)
	BAD(-ALDER_EINVAL, "type 0", a[2].type = 0);
	BAD(-ALDER_EINVAL, "type 10", a[2].type = ALDER_ACTION_TYPE_COUNT);
	BAD(-ALDER_EINVAL, "type ~0", a[2].type = ~0u);
	BAD(-ALDER_EINVAL, "unknown flag", a[2].flags |= 8);
	BAD(-ALDER_EINVAL, "high flag", a[2].flags |= 1u << 31);
	BADI(-ALDER_EINVAL, 1, "CHAIN on a send", a[1].flags |= ALDER_ACTION_CHAIN);
	BAD(-ALDER_EINVAL, "CHAIN on the last action", a[2] = u_act_offer(true));
	BAD(-ALDER_EINVAL, "INLINE and SG", a[2].flags |= ALDER_ACTION_SG);
	BAD(-ALDER_EINVAL, "INLINE on a pull", a[2] = u_act_pull(0); a[2].flags = ALDER_ACTION_INLINE);
	BAD(-ALDER_EINVAL, "reserved[0]", a[2].reserved[0] = 1);
	BAD(-ALDER_EINVAL, "reserved[1]", a[2].reserved[1] = 1ull << 63);
	BAD(-ALDER_EINVAL, "inline 65", a[2].len = ALDER_ACTION_INLINE_MAX + 1);
	BAD(-ALDER_EINVAL, "inline huge", a[2].len = ~0ull);
	BAD(-ALDER_EINVAL, "inline with buf", a[2].buf = (uint64_t)(uintptr_t)bad_buf);
	BAD(-ALDER_EINVAL, "send 2 GiB", a[2] = u_act_send(bad_buf, 2ull << 30));
	BAD(-ALDER_EINVAL, "send ~0 bytes", a[2] = u_act_send(bad_buf, ~0ull));
	BAD(-ALDER_EINVAL, "receive into the kernel", a[2] = u_act_recv((void *)(uintptr_t)kaddr, 16));
	BAD(-ALDER_EINVAL, "receive at 0", a[2] = u_act_recv(NULL, 16));
	BAD(-ALDER_EINVAL, "send across the top",
	    a[2] = u_act_send((void *)(uintptr_t)0x7ffffffff000ull, 0x2000));
	BAD(-ALDER_EINVAL, "SG count 65", a[2] = u_act_send_sg((void *)bad_buf, ALDER_STREAM_MAX_IOV + 1));
	BAD(-ALDER_EINVAL, "SG array NULL", a[2] = u_act_send_sg(NULL, 1));
	BAD(-ALDER_EINVAL, "SG array in the kernel", a[2] = u_act_recv_sg((void *)(uintptr_t)kaddr, 1));
	BAD(-ALDER_EFAULT, "SG array unmapped", a[2] = u_act_recv_sg((void *)(uintptr_t)UNMAPPED, 2));
	BAD(-ALDER_EINVAL, "SG empty with buf", a[2] = u_act_send_sg((void *)bad_buf, 0));
	{
		static struct alder_iovec iv[3];
		iv[0].base = (uint64_t)(uintptr_t)bad_buf;
		iv[0].len = 8;
		iv[1].base = kaddr;
		iv[1].len = 8;
		BAD(-ALDER_EINVAL, "SG entry in the kernel", a[2] = u_act_send_sg(iv, 2));
		iv[1].base = (uint64_t)(uintptr_t)bad_buf;
		iv[1].len = ALDER_STREAM_MAX_TRANSFER;
		BAD(-ALDER_EINVAL, "SG total too big", a[2] = u_act_recv_sg(iv, 2));
		iv[1].len = ~0ull - 4;
		iv[2].base = (uint64_t)(uintptr_t)bad_buf;
		iv[2].len = 16;
		BAD(-ALDER_EINVAL, "SG total wraps", a[2] = u_act_send_sg(iv, 3));
	}
	BADI(-ALDER_EINVAL, 1, "dismiss not last", a[1] = u_act_dismiss());
	BAD(-ALDER_EINVAL, "handle on a send", a[2].handle = l);
	BAD(-ALDER_EINVAL, "rights on a send", a[2].rights = ALDER_RIGHT_READ);
	BAD(-ALDER_EINVAL, "unknown right", a[2] = u_act_pull(0x80));
	BAD(-ALDER_EINVAL, "buf on a pull", a[2] = u_act_pull(0); a[2].buf = (uint64_t)(uintptr_t)bad_buf);
	BAD(-ALDER_EINVAL, "len on a dismiss", a[2] = u_act_dismiss(); a[2].len = 1);
	BAD(-ALDER_EBADF, "push of handle 0", a[2] = u_act_push(0, ALDER_RIGHTS_ALL));
	BAD(-ALDER_EBADF, "push of 9999", a[2] = u_act_push(9999, ALDER_RIGHTS_ALL));
	BAD(-ALDER_EBADF, "push of SELF_SPACE", a[2] = u_act_push(ALDER_HANDLE_SELF_SPACE, ALDER_RIGHTS_ALL));
	{
		alder_handle_t nt =
		    (alder_handle_t)must(u_handle_dup(l, ALDER_RIGHT_READ | ALDER_RIGHT_WRITE), "dup");
		BAD(-ALDER_EACCES, "push without TRANSFER", a[2] = u_act_push(nt, ALDER_RIGHTS_ALL));
		CHECK_EQ(u_handle_close(nt), 0);
	}
#undef BAD
#undef BADI
}

static uint8_t *fault_rx;
static uint8_t *fault_ro;

static void bad_server(void *arg)
{
	struct u_queue q;

	new_queue(&q);
	/* 1: the sender's buffer faults after one page: we get -EIO and the
	 * page that was there. */
	struct alder_action a = u_act_recv(fault_rx, 3 * PAGE);
	run(&q, lanes[1], &a, 1, -ALDER_EIO);
	CHECK_EQ(a.length, PAGE);
	CHECK_EQ(fault_rx[0], 0x11);
	CHECK_EQ(fault_rx[PAGE - 1], 0x11);
	/* 2: our buffer is read-only: -EFAULT for us. */
	struct alder_action b = u_act_recv(fault_ro, 100);
	run(&q, lanes[1], &b, 1, -ALDER_EFAULT);
	CHECK_EQ(b.length, 0);
	/* 3: our buffer is unmapped halfway: -EFAULT, 1 page delivered. */
	struct alder_action c = u_act_recv(fault_rx + 2 * PAGE, 2 * PAGE);
	set_step(1);
	wait_step(2); /* the main thread unmaps the second page now */
	run(&q, lanes[1], &c, 1, -ALDER_EFAULT);
	CHECK_EQ(c.length, PAGE);
	/* 4: a receive whose action array goes away before the write-back. */
	uint8_t *arr = map_rw(PAGE, NULL);
	struct alder_action *pa = (struct alder_action *)arr;
	*pa = u_act_recv_inline(8);
	submit(&q, lanes[1], pa, 1, 4);
	CHECK_EQ(u_space_unmap(SELF, (uint64_t)(uintptr_t)arr, PAGE), 0);
	set_step(3);
	struct alder_cqe cq = wait_cqe(&q);
	CHECK_EQ(cq.result, -ALDER_EFAULT);
	/* 5: the same with a read-only array (copied in fine, written back not). */
	uint8_t *arr2 = map_rw(PAGE, NULL);
	struct alder_action *pb = (struct alder_action *)arr2;
	*pb = u_act_recv_inline(8);
	CHECK_EQ(u_space_protect(SELF, (uint64_t)(uintptr_t)arr2, PAGE, ALDER_PROT_READ), 0);
	submit(&q, lanes[1], pb, 1, 5);
	set_step(4);
	cq = wait_cqe(&q);
	CHECK_EQ(cq.result, -ALDER_EFAULT);
	CHECK_EQ(u_space_unmap(SELF, (uint64_t)(uintptr_t)arr2, PAGE), 0);
	/* 6: still works. */
	struct alder_action d = u_act_recv_inline(8);
	run(&q, lanes[1], &d, 1, 0);
	CHECK(memcmp(d.data, "alive", 5) == 0);
	close_queue(&q);
}

static void case_bad(void)
{
	struct u_queue q;
	struct peer pe;
	uint64_t base = u_live_settled();

	new_queue(&q);
	stream_pair(lanes);
	bad_inputs(&q);

	/* Faults at copy time. */
	/* Fixed addresses far from where the kernel places mappings, so that
	 * no later mapping (a queue ring, say) fills the holes made below. */
	fault_rx = map_fixed(HOLES_AT + 16 * PAGE, 4 * PAGE);
	fault_ro = map_rw(PAGE, NULL);
	CHECK_EQ(u_space_protect(SELF, (uint64_t)(uintptr_t)fault_ro, PAGE, ALDER_PROT_READ), 0);
	uint8_t *tx = map_fixed(HOLES_AT, 3 * PAGE);
	memset(tx, 0x11, 3 * PAGE);
	CHECK_EQ(u_space_unmap(SELF, (uint64_t)(uintptr_t)(tx + PAGE), PAGE), 0);
	uint8_t probe;
	CHECK_EQ(u_space_rw(SELF, (uint64_t)(uintptr_t)(tx + PAGE), &probe, 1, false), -ALDER_EFAULT);
	peer_start(&pe, 0, bad_server, NULL);
	struct alder_action a = u_act_send(tx, 3 * PAGE);
	run(&q, lanes[0], &a, 1, -ALDER_EFAULT);
	CHECK_EQ(a.length, PAGE);
	struct alder_action b = u_act_send(tx, 100);
	run(&q, lanes[0], &b, 1, -ALDER_EIO);
	wait_step(1);
	CHECK_EQ(u_space_unmap(SELF, (uint64_t)(uintptr_t)(fault_rx + 3 * PAGE), PAGE), 0);
	set_step(2);
	/* Two good pages of ours (around the hole) for its two pages. */
	struct alder_iovec iv[2] = {{(uint64_t)(uintptr_t)tx, PAGE},
				    {(uint64_t)(uintptr_t)(tx + 2 * PAGE), PAGE}};
	struct alder_action sg = u_act_send_sg(iv, 2);
	run(&q, lanes[0], &sg, 1, -ALDER_EIO);
	CHECK_EQ(sg.length, PAGE);
	wait_step(3);
	struct alder_action e = u_act_send_inline("lost", 4);
	run(&q, lanes[0], &e, 1, 0); /* our side is fine */
	wait_step(4);
	struct alder_action e2 = u_act_send_inline("lost2", 5);
	run(&q, lanes[0], &e2, 1, 0);
	struct alder_action f = u_act_send_inline("alive", 5);
	run(&q, lanes[0], &f, 1, 0);
	peer_join(&pe);
	close_pair(lanes);
	close_queue(&q);
	CHECK_EQ(u_space_unmap(SELF, (uint64_t)(uintptr_t)tx, 3 * PAGE), 0);
	CHECK_EQ(u_space_unmap(SELF, (uint64_t)(uintptr_t)fault_rx, 4 * PAGE), 0);
	CHECK_EQ(u_space_unmap(SELF, (uint64_t)(uintptr_t)fault_ro, PAGE), 0);
	expect_live(base);
}

/* ---- exit -------------------------------------------------------------- */

static void exitchild_waiter(void *arg)
{
	struct u_queue *q = arg;

	u_queue_enter(q->handle, 0, 1, 0); /* until the process ends */
}

/* Leave everything in flight and end the process: the kernel must clean up. */
static void case_exitchild(void)
{
	static struct u_queue q, q2;
	static struct alder_action a1, a2, a3[2], a4, a5, a6, a7, a8[2], a9;
	alder_handle_t s1[2], s2[2], s3[2], s4[2], s5[2], s6[2], s7[2], mem;
	struct peer pe;

	new_queue(&q);
	new_queue(&q2);
	stream_pair(s1);
	stream_pair(s2);
	stream_pair(s3);
	stream_pair(s4);
	uint8_t *buf = map_rw(MiB, &mem);
	a1 = u_act_recv(buf, MiB);
	submit(&q, s1[0], &a1, 1, 1);
	a2 = u_act_push(mem, ALDER_RIGHTS_ALL);
	submit(&q, s2[0], &a2, 1, 2);
	a3[0] = u_act_offer(true);
	a3[1] = u_act_send(buf, MiB);
	submit(&q2, s3[0], a3, 2, 3);
	a4 = u_act_push(s4[1], ALDER_RIGHTS_ALL); /* a lane in transit */
	submit(&q2, s4[0], &a4, 1, 4);
	a5 = u_act_send(buf, MiB); /* on the other lane of s1: meets a1 */
	submit(&q2, s1[1], &a5, 1, 5);
	/* Chains holding what would end them: a push of their own lane, a
	 * push of their own queue; only the process's end can cancel them. */
	stream_pair(s5);
	stream_pair(s6);
	a6 = u_act_push(s5[0], ALDER_RIGHTS_ALL);
	submit(&q, s5[0], &a6, 1, 6);
	CHECK_EQ(u_handle_close(s5[1]), 0);
	a7 = u_act_push(q2.handle, ALDER_RIGHTS_ALL);
	submit(&q2, s6[0], &a7, 1, 7);
	/* A transient offer and a chain that dropped its lane, both waiting. */
	a8[0] = u_act_offer_transient();
	a8[1] = u_act_recv(buf, 16);
	submit(&q, s6[0], a8, 2, 8);
	stream_pair(s7);
	a9 = u_act_recv(buf, 16);
	struct alder_sqe s = u_sqe_stream(9, s7[1], &a9, 1);
	s.args[2] = ALDER_STREAM_DROP_LANE;
	CHECK_EQ(u_queue_push(&q, &s), 0);
	CHECK_EQ(u_queue_enter(q.handle, 1, 0, 0), 1);
	peer_start(&pe, 0, exitchild_waiter, &q);
	sys_sleep(10 * MS);
}

static void case_exit(void)
{
	struct alder_exit_info info;
	const char *call;

	for (int i = 0; i < 3; i++) {
		uint64_t base = u_live_settled();
		long r = u_run("/tests/stream", "exitchild", &info, &call);
		CHECK_EQ(r, 0);
		CHECK_EQ(info.how, ALDER_EXIT_NORMAL);
		CHECK_EQ(info.status, 0);
		expect_live(base);
	}
}

/* ---- main -------------------------------------------------------------- */

/* ---- chain flags: transient lanes, dropped lanes, no write-back -------- */

/* Submit a chain with chain flags and SQE flags (no wait). */
static void submit_flags(struct u_queue *q, alder_handle_t lane, struct alder_action *a, uint64_t n,
			 uint64_t ctx, uint64_t chain_flags, uint32_t sqe_flags)
{
	struct alder_sqe s = u_sqe_stream(ctx, lane, a, n);

	s.args[2] = chain_flags;
	s.flags = sqe_flags;
	CHECK_EQ(u_queue_push(q, &s), 0);
	CHECK_EQ(u_queue_enter(q->handle, 1, 0, 0), 1);
}

static void case_flags(void)
{
	struct u_queue q0, q1;
	struct alder_handle_info info;
	uint64_t base = u_live_settled();

	new_queue(&q0);
	new_queue(&q1);
	stream_pair(lanes);

	/* A remote procedure call: OFFER(CHAIN | NO_HANDLE) + SEND + RECEIVE;
	 * the server replies with a fire-and-forget SEND that drops its lane. */
	struct alder_action acc[2] = {u_act_accept(true), u_act_recv_inline(8)};
	submit(&q1, lanes[1], acc, 2, 1);
	struct alder_action call[3] = {u_act_offer_transient(), u_act_send_inline("ping", 4),
				       u_act_recv_inline(8)};
	submit(&q0, lanes[0], call, 3, 2);
	struct alder_cqe c = wait_cqe(&q1);
	CHECK_EQ(c.result, 0);
	alder_handle_t child = acc[0].out_handle;
	CHECK(child > 0);
	CHECK_EQ(acc[1].length, 4);
	CHECK(memcmp(acc[1].data, "ping", 4) == 0);
	struct alder_action reply = u_act_send_inline("pong", 4);
	reply.status = 12345;
	submit_flags(&q1, child, &reply, 1, 3, ALDER_STREAM_DROP_LANE | ALDER_STREAM_NO_WRITEBACK,
		     ALDER_SQE_SKIP_SUCCESS);
	c = wait_cqe(&q0);
	CHECK_EQ(c.result, 0);
	CHECK_EQ(call[0].status, 0);
	CHECK_EQ(call[0].out_handle, 0); /* transient: no handle */
	CHECK_EQ(call[2].length, 4);
	CHECK(memcmp(call[2].data, "pong", 4) == 0);
	expect_quiet(&q1, 20);		 /* success skipped its CQE */
	CHECK_EQ(reply.status, 12345);	 /* and nothing was written back */
	EXPECT_ERR("dropped lane", u_handle_info(child, &info), ALDER_EBADF);

	/* A dropped lane stays open while its chain waits, then closes. */
	alder_handle_t l2[2];
	stream_pair(l2);
	struct alder_action rx = u_act_recv_inline(8);
	submit_flags(&q0, l2[0], &rx, 1, 4, ALDER_STREAM_DROP_LANE, 0);
	EXPECT_ERR("dropped at submission", u_handle_info(l2[0], &info), ALDER_EBADF);
	struct alder_action tx = u_act_send_inline("abc", 3);
	run(&q1, l2[1], &tx, 1, 0);
	c = wait_cqe(&q0);
	CHECK_EQ(c.result, 0);
	CHECK_EQ(rx.length, 3);
	struct alder_action late = u_act_send_inline("x", 1);
	run(&q1, l2[1], &late, 1, -ALDER_EPIPE); /* the side closed with the chain */
	CHECK_EQ(u_handle_close(l2[1]), 0);

	/* A transient offer nobody accepts: the conversation ends with the
	 * lane; nothing stays behind. */
	struct alder_action lonely[2] = {u_act_offer_transient(), u_act_recv_inline(8)};
	submit(&q0, lanes[0], lonely, 2, 5);
	expect_quiet(&q0, 20);
	CHECK_EQ(u_handle_close(lanes[1]), 0);
	c = wait_cqe(&q0);
	CHECK_EQ(c.result, -ALDER_EPIPE);
	CHECK_EQ(u_handle_close(lanes[0]), 0);

	/* Bad inputs. */
	stream_pair(l2);
	struct alder_action nh = u_act_offer(false);
	nh.flags |= ALDER_ACTION_NO_HANDLE; /* without CHAIN */
	refuse(&q0, l2[0], &nh, 1, -ALDER_EINVAL, 0, "NO_HANDLE without CHAIN");
	struct alder_action ok = u_act_send_inline("y", 1);
	refuse_raw(&q0, l2[0], (uint64_t)(uintptr_t)&ok, 1, 1u << 7, -ALDER_EINVAL, "unknown chain flag");
	CHECK_EQ(u_handle_info(l2[0], &info), 0); /* not consumed by an invalid SQE */
	/* A refused chain still consumes a dropped lane. */
	struct alder_action bad = u_act_send_inline("z", 1);
	bad.type = 99;
	submit_flags(&q0, l2[0], &bad, 1, 6, ALDER_STREAM_DROP_LANE, ALDER_SQE_SKIP_SUCCESS);
	c = wait_cqe(&q0); /* a failure is never skipped */
	CHECK_EQ(c.context, 6);
	CHECK_EQ(c.result, -ALDER_EINVAL);
	EXPECT_ERR("dropped by a refused chain", u_handle_info(l2[0], &info), ALDER_EBADF);
	CHECK_EQ(u_handle_close(l2[1]), 0);

	/* NOWAIT: a chain runs only if it completes within its submission. */
	stream_pair(l2);
	struct alder_action nw = u_act_send_inline("n", 1);
	nw.status = 12345;
	submit_flags(&q0, l2[0], &nw, 1, 7, ALDER_STREAM_NOWAIT, 0);
	c = wait_cqe(&q0);
	CHECK_EQ(c.context, 7);
	CHECK_EQ(c.result, -ALDER_EAGAIN);
	CHECK_EQ(c.aux[0], 0);
	CHECK_EQ(c.aux[1], 0);
	CHECK_EQ(nw.status, 12345); /* nothing ran, nothing written back */
	struct alder_action nrx = u_act_recv_inline(8);
	submit_flags(&q1, l2[1], &nrx, 1, 8, ALDER_STREAM_NOWAIT, 0);
	c = wait_cqe(&q1);
	CHECK_EQ(c.result, -ALDER_EAGAIN); /* so the refused SEND was not queued */
	submit(&q1, l2[1], &nrx, 1, 9);	   /* a RECEIVE that waits */
	expect_quiet(&q1, 10);
	submit_flags(&q0, l2[0], &nw, 1, 10, ALDER_STREAM_NOWAIT, 0);
	c = wait_cqe(&q0);
	CHECK_EQ(c.result, 0); /* met the waiting RECEIVE */
	CHECK_EQ(nw.status, 0);
	CHECK_EQ(nw.length, 1);
	c = wait_cqe(&q1);
	CHECK_EQ(c.context, 9);
	CHECK_EQ(c.result, 0);
	CHECK_EQ(nrx.length, 1);
	CHECK_EQ(nrx.data[0], 'n');
	/* CHAIN actions cannot be vouched for: refused at the first. */
	struct alder_action nch3[3] = {u_act_send_inline("a", 1), u_act_offer(true), u_act_send_inline("b", 1)};
	submit_flags(&q0, l2[0], nch3, 3, 11, ALDER_STREAM_NOWAIT, 0);
	c = wait_cqe(&q0);
	CHECK_EQ(c.result, -ALDER_EINVAL);
	CHECK_EQ(c.aux[1], 1);
	/* Refused with DROP_LANE: the lane is consumed all the same, which
	 * ends the conversation; a NOWAIT chain then fails at once. */
	submit_flags(&q0, l2[0], &nw, 1, 12, ALDER_STREAM_NOWAIT | ALDER_STREAM_DROP_LANE, 0);
	c = wait_cqe(&q0);
	CHECK_EQ(c.result, -ALDER_EAGAIN);
	EXPECT_ERR("dropped by a NOWAIT refusal", u_handle_info(l2[0], &info), ALDER_EBADF);
	submit_flags(&q1, l2[1], &nrx, 1, 13, ALDER_STREAM_NOWAIT, 0);
	c = wait_cqe(&q1);
	CHECK_EQ(c.result, -ALDER_EPIPE);
	CHECK_EQ(nrx.status, -ALDER_EPIPE);
	CHECK_EQ(u_handle_close(l2[1]), 0);

	close_queue(&q0);
	close_queue(&q1);
	expect_live(base);
}

int main(const char *arg, size_t len)
{
	static const struct {
		const char *name;
		void (*fn)(void);
	} cases[] = {
	    {"reqresp", case_reqresp},	 {"offer", case_offer},
	    {"big", case_big},		 {"sg", case_sg},
	    {"handles", case_handles},	 {"creds", case_creds},
	    {"dismiss", case_dismiss},	 {"close", case_close},
	    {"midclose", case_midclose}, {"mismatch", case_mismatch},
	    {"cancel", case_cancel},	 {"bad", case_bad},
	    {"exit", case_exit},	 {"exitchild", case_exitchild},
	    {"flags", case_flags},
	};

	/* Warm up: the first stream starts the kernel's stream thread, which
	 * stays (and counts as a live object). */
	stream_pair(lanes);
	close_pair(lanes);
	for (unsigned i = 0; i < U_ARRAY_SIZE(cases); i++) {
		if (strcmp(arg, cases[i].name) == 0) {
			cases[i].fn();
			return u_test_end(arg);
		}
	}
	u_printf("stream: unknown case \"%s\"\n", arg);
	return 2;
}
