/*
 * queue_bad: queues and events given bad input, and a ring that user space
 * scribbles on. The kernel must answer with the documented error, change
 * nothing it should not, leak nothing, and keep working:
 *   create    sizes 0, non-powers of two, above ALDER_QUEUE_MAX_ENTRIES,
 *             64-bit values: -EINVAL; params NULL, kernel, unmapped,
 *             read-only, straddling the end of user space: -EFAULT; none of
 *             these leaves a handle or a frame behind
 *   handles   enter/signal with 0, negative, huge, closed handles: -EBADF;
 *             wrong type: -EBADFD; missing rights: -EACCES
 *   enter     min_complete > cq_entries: -EINVAL; sq_tail far ahead or
 *             behind sq_head, cq_head past cq_tail: -EINVAL with nothing
 *             consumed, and the queue works once repaired; kernel-written
 *             header fields (sq_head, masks, offsets) overwritten by the
 *             user are ignored
 *   sqes      flags or reserved non-zero, op out of range: consumed, CQE
 *             -EINVAL; EVENT_WAIT with bad handles: CQE with the handle
 *             error; ops of subsystems not built in: an error CQE
 *   unmapped  the ring unmapped by the user: the queue still works (the
 *             kernel writes through its own mapping) and nothing crashes
 * Exits 0 if every check passed.
 */
#include <umem.h>
#include <uqueue.h>
#include <utest.h>

#define SELF ALDER_HANDLE_SELF_SPACE
#define MS U_NS_PER_MS
#define SEC U_NS_PER_SEC
#define KERNEL_ADDR ((uint64_t)0xffffffff80000000)
#define UNMAPPED_ADDR ((uint64_t)0x6f0000000000)

static char what[128];

static const char *name(const char *fmt, uint64_t a, uint64_t b)
{
	u_snprintf(what, sizeof(what), fmt, a, b);
	return what;
}

static uint64_t free_frames(void)
{
	uint64_t v;

	CHECK_EQ(sys_info(ALDER_INFO_FREE_FRAMES, &v), 0);
	return v;
}

static long raw_create(uint64_t sq, uint64_t cq, uint64_t params)
{
	return u_syscall3(SYS_QUEUE_CREATE, sq, cq, params);
}

static long raw_enter(uint64_t h, uint64_t to_submit, uint64_t min_complete, uint64_t timeout)
{
	return u_syscall4(SYS_QUEUE_ENTER, h, to_submit, min_complete, timeout);
}

static void make_queue(struct u_queue *q, uint32_t sq, uint32_t cq)
{
	long r = u_queue_init(q, sq, cq);

	if (r < 0) {
		u_printf("queue_bad: queue_create(%u, %u): %ld (%s)\n", sq, cq, r, u_errname(r));
		sys_exit(1);
	}
}

/* Submit one SQE and return its CQE (which must come within a second). */
static struct alder_cqe submit_one(struct u_queue *q, struct alder_sqe sqe)
{
	struct alder_cqe c = {0};

	CHECK_EQ(u_queue_push(q, &sqe), 0);
	CHECK_EQ(u_queue_enter(q->handle, 1, 1, SEC), 1);
	CHECK(u_queue_pop(q, &c));
	CHECK_EQ(c.context, sqe.context);
	return c;
}

static void test_create(void)
{
	static const uint64_t bad_sizes[] = {0,		 3,
					     5,		 6,
					     7,		 12,
					     100,	 4095,
					     4097,	 8192,
					     1ull << 16, 1ull << 31,
					     1ull << 32, (1ull << 32) | 4,
					     ~0ull,	 0x8000000000000000ull};
	struct alder_queue_params params;

	/* Warm-up, then a reference handle number and frame count. */
	long ref = u_event_create();
	CHECK(ref > 0);
	CHECK_EQ(u_handle_close((alder_handle_t)ref), 0);
	uint64_t before = free_frames();

	for (size_t i = 0; i < U_ARRAY_SIZE(bad_sizes); i++) {
		EXPECT_ERR(name("create(sq %lu, cq %lu)", bad_sizes[i], 4),
			   raw_create(bad_sizes[i], 4, (uint64_t)&params), ALDER_EINVAL);
		EXPECT_ERR(name("create(sq %lu, cq %lu)", 4, bad_sizes[i]),
			   raw_create(4, bad_sizes[i], (uint64_t)&params), ALDER_EINVAL);
	}
	/* Upper 32 bits must not be ignored: 2^32 + 4 is not 4. */
	EXPECT_ERR("create(sq 2^32+4)", raw_create((1ull << 32) | 4, (1ull << 32) | 4, (uint64_t)&params),
		   ALDER_EINVAL);

	static const uint64_t bad_ptrs[] = {
	    0, 8, KERNEL_ADDR, 0xffff800000000000ull, UNMAPPED_ADDR, ULIB_USER_END - 8, ULIB_USER_END, ~0ull};
	for (size_t i = 0; i < U_ARRAY_SIZE(bad_ptrs); i++)
		for (uint64_t n = 1; n <= 4096; n *= 64)
			EXPECT_ERR(name("create(%lu, params 0x%lx)", n, bad_ptrs[i]),
				   raw_create(n, n, bad_ptrs[i]), ALDER_EFAULT);
	/* Read-only memory: our own text. */
	EXPECT_ERR("create(params in text)", raw_create(4, 4, (uint64_t)__text_start), ALDER_EFAULT);
	/* Many refused creates later, nothing was left behind. */
	for (unsigned i = 0; i < 50; i++)
		EXPECT_ERR("create(params unmapped, 4096 entries)", raw_create(4096, 4096, UNMAPPED_ADDR),
			   ALDER_EFAULT);
	long next = u_event_create();
	EXPECT(next == ref); /* the lowest free handle: no refused create installed one */
	CHECK_EQ(u_handle_close((alder_handle_t)next), 0);
	uint64_t after = free_frames();
	if (after < before)
		u_printf("queue_bad: %lu frames fewer after refused creates\n", before - after);
	EXPECT(after >= before);

	/* The largest queue works, and goes away completely. */
	long h = raw_create(ALDER_QUEUE_MAX_ENTRIES, ALDER_QUEUE_MAX_ENTRIES, (uint64_t)&params);
	CHECK(h > 0);
	CHECK_EQ(params.sq_entries, ALDER_QUEUE_MAX_ENTRIES);
	CHECK_EQ(params.cq_entries, ALDER_QUEUE_MAX_ENTRIES);
	CHECK(params.ring_size >= 64 + ALDER_QUEUE_MAX_ENTRIES * (56 + 32));
	struct u_queue q;
	u_queue_view(&q, (alder_handle_t)h, &params);
	/* Every slot of both rings is writable/readable at the offsets given. */
	q.sq[ALDER_QUEUE_MAX_ENTRIES - 1].context = 1;
	CHECK_EQ(q.cq[ALDER_QUEUE_MAX_ENTRIES - 1].context, 0);
	struct alder_cqe c = submit_one(&q, u_sqe_nop(42));
	CHECK_EQ(c.result, 0);
	CHECK_EQ(u_handle_close((alder_handle_t)h), 0);
	CHECK_EQ(u_space_unmap(SELF, params.ring_addr, params.ring_size), 0);
	after = free_frames();
	EXPECT(after + 8 >= before);
}

static void test_handles(void)
{
	struct u_queue q;
	static const int64_t bad[] = {0,    -1,	    -2,	       INT32_MIN, INT32_MAX,
				      4096, 100000, 1ll << 32, 1ll << 40, (int64_t)0x8000000000000001ull};

	make_queue(&q, 4, 4);
	long ev = u_event_create();
	CHECK(ev > 0);
	for (size_t i = 0; i < U_ARRAY_SIZE(bad); i++) {
		EXPECT_ERR(name("enter(%ld)", (uint64_t)bad[i], 0), raw_enter((uint64_t)bad[i], 0, 0, 0),
			   ALDER_EBADF);
		EXPECT_ERR(name("event_signal(%ld)", (uint64_t)bad[i], 0),
			   u_syscall1(SYS_EVENT_SIGNAL, (uint64_t)bad[i]), ALDER_EBADF);
	}
	/* A 64-bit value whose low 32 bits name the queue is not the queue. */
	EXPECT_ERR("enter(queue | 1 << 32)", raw_enter((uint64_t)q.handle | (1ull << 32), 0, 0, 0),
		   ALDER_EBADF);
	/* Wrong types. */
	EXPECT_ERR("enter(event)", u_queue_enter((alder_handle_t)ev, 0, 0, 0), ALDER_EBADFD);
	EXPECT_ERR("event_signal(queue)", u_event_signal(q.handle), ALDER_EBADFD);
	long mem = u_mem_create(U_PAGE_SIZE, 0);
	CHECK(mem > 0);
	EXPECT_ERR("enter(memory)", u_queue_enter((alder_handle_t)mem, 0, 0, 0), ALDER_EBADFD);
	EXPECT_ERR("event_signal(memory)", u_event_signal((alder_handle_t)mem), ALDER_EBADFD);
	EXPECT_ERR("enter(SELF_SPACE)", u_queue_enter(SELF, 0, 0, 0), ALDER_EBADF);

	/* Missing rights. */
	long q_ro = u_handle_dup(q.handle, ALDER_RIGHT_READ);
	long q_wo = u_handle_dup(q.handle, ALDER_RIGHT_WRITE);
	long ev_ro = u_handle_dup((alder_handle_t)ev, ALDER_RIGHT_READ);
	long ev_wo = u_handle_dup((alder_handle_t)ev, ALDER_RIGHT_WRITE);
	CHECK(q_ro > 0 && q_wo > 0 && ev_ro > 0 && ev_wo > 0);
	EXPECT_ERR("enter(queue without WRITE)", u_queue_enter((alder_handle_t)q_ro, 0, 0, 0), ALDER_EACCES);
	EXPECT_ERR("enter(queue without READ)", u_queue_enter((alder_handle_t)q_wo, 0, 0, 0), ALDER_EACCES);
	EXPECT_ERR("event_signal(event without WRITE)", u_event_signal((alder_handle_t)ev_ro), ALDER_EACCES);
	EXPECT(u_event_signal((alder_handle_t)ev_wo) == 0);

	/* EVENT_WAIT with bad handles: accepted, completes with the error. */
	struct alder_cqe c;
	c = submit_one(&q, u_sqe_event_wait(1, 0));
	EXPECT_ERR("EVENT_WAIT(0)", c.result, ALDER_EBADF);
	c = submit_one(&q, u_sqe_event_wait(2, -7));
	EXPECT_ERR("EVENT_WAIT(-7)", c.result, ALDER_EBADF);
	c = submit_one(&q, u_sqe_event_wait(3, 4000));
	EXPECT_ERR("EVENT_WAIT(4000)", c.result, ALDER_EBADF);
	c = submit_one(&q, u_sqe_event_wait(4, q.handle));
	EXPECT_ERR("EVENT_WAIT(queue)", c.result, ALDER_EBADFD);
	c = submit_one(&q, u_sqe_event_wait(5, (alder_handle_t)ev_wo));
	EXPECT_ERR("EVENT_WAIT(event without READ)", c.result, ALDER_EACCES);
	/* A wait through the READ-only handle works. */
	struct alder_sqe w = u_sqe_event_wait(6, (alder_handle_t)ev_ro);
	CHECK_EQ(u_queue_push(&q, &w), 0);
	CHECK_EQ(u_queue_enter(q.handle, 1, 0, 0), 1);
	CHECK_EQ(u_event_signal((alder_handle_t)ev_wo), 0);
	CHECK_EQ(u_queue_enter(q.handle, 0, 1, SEC), 0);
	CHECK(u_queue_pop(&q, &c));
	EXPECT(c.context == 6 && c.result == 2);

	/* Closed handles. */
	CHECK_EQ(u_handle_close((alder_handle_t)q_ro), 0);
	EXPECT_ERR("enter(closed dup)", u_queue_enter((alder_handle_t)q_ro, 0, 0, 0), ALDER_EBADF);
	CHECK_EQ(u_handle_close((alder_handle_t)ev_ro), 0);
	EXPECT_ERR("event_signal(closed dup)", u_event_signal((alder_handle_t)ev_ro), ALDER_EBADF);
	c = submit_one(&q, u_sqe_event_wait(7, (alder_handle_t)ev_ro));
	EXPECT_ERR("EVENT_WAIT(closed)", c.result, ALDER_EBADF);

	CHECK_EQ(u_handle_close((alder_handle_t)q_wo), 0);
	CHECK_EQ(u_handle_close((alder_handle_t)ev_wo), 0);
	CHECK_EQ(u_handle_close((alder_handle_t)ev), 0);
	CHECK_EQ(u_handle_close((alder_handle_t)mem), 0);
	CHECK_EQ(u_handle_close(q.handle), 0);
	CHECK_EQ(u_space_unmap(SELF, q.params.ring_addr, q.params.ring_size), 0);
}

static void test_enter_indices(void)
{
	struct u_queue q;
	struct alder_cqe c;

	make_queue(&q, 8, 4);
	EXPECT_ERR("enter(min_complete 5 > cq_entries 4)", u_queue_enter(q.handle, 0, 5, MS), ALDER_EINVAL);
	EXPECT_ERR("enter(min_complete 2^32 + 1)", raw_enter((uint64_t)q.handle, 0, (1ull << 32) + 1, MS),
		   ALDER_EINVAL);
	EXPECT_ERR("enter(min_complete ~0)", raw_enter((uint64_t)q.handle, 0, ~0ull, MS), ALDER_EINVAL);

	/* Get the indices off zero first. */
	for (unsigned i = 0; i < 3; i++)
		submit_one(&q, u_sqe_nop(i));
	uint32_t head = q.hdr->sq_head;
	CHECK_EQ(head, 3);
	static const uint32_t bad_tails[] = {3 + 9, 3 + 1000, 3 - 1, 3 + 0x80000000u, 0};
	for (size_t i = 0; i < U_ARRAY_SIZE(bad_tails); i++) {
		/* Valid SQEs everywhere, so that a wrong acceptance would show. */
		for (unsigned s = 0; s < 8; s++)
			q.sq[s] = u_sqe_nop(500 + s);
		u_atomic_store_rel(&q.hdr->sq_tail, bad_tails[i]);
		EXPECT_ERR(name("enter with sq_tail %lu, sq_head %lu", bad_tails[i], head),
			   u_queue_enter(q.handle, 1000, 0, 0), ALDER_EINVAL);
		EXPECT(q.hdr->sq_head == head);
		EXPECT(q.hdr->in_flight == 0);
		EXPECT(u_queue_cq_ready(&q) == 0);
	}
	u_atomic_store_rel(&q.hdr->sq_tail, head);
	/* Repaired: works again. */
	c = submit_one(&q, u_sqe_nop(10));
	EXPECT(c.result == 0);

	/* cq_head past cq_tail (or far behind it): -EINVAL. */
	uint32_t tail = q.hdr->cq_tail;
	static const uint32_t bad_heads[] = {1, 5, 100};
	for (size_t i = 0; i < U_ARRAY_SIZE(bad_heads); i++) {
		uint32_t bh = i == 2 ? tail - 100 : tail + bad_heads[i];
		u_atomic_store_rel(&q.hdr->cq_head, bh);
		struct alder_sqe s = u_sqe_nop(11);
		CHECK_EQ(u_queue_push(&q, &s), 0);
		EXPECT_ERR(name("enter with cq_head %lu, cq_tail %lu", bh, tail),
			   u_queue_enter(q.handle, 1, 0, 0), ALDER_EINVAL);
		EXPECT(q.hdr->cq_tail == tail);
		u_atomic_store_rel(&q.hdr->sq_tail, q.hdr->sq_head); /* withdraw it */
	}
	u_atomic_store_rel(&q.hdr->cq_head, tail);
	c = submit_one(&q, u_sqe_nop(12));
	EXPECT(c.result == 0);

	/* Kernel-written fields overwritten by the user: ignored, and
	 * republished. The SQE goes where the kernel's own sq_head says. */
	head = q.hdr->sq_head;
	tail = q.hdr->cq_tail;
	uint32_t sq_off = q.hdr->sq_offset, cq_off = q.hdr->cq_offset;
	struct alder_sqe *sq = q.sq;
	struct alder_cqe *cq = q.cq;
	q.hdr->sq_head = head + 777;
	q.hdr->sq_mask = 0xffffffff;
	q.hdr->cq_mask = 0xffffffff;
	q.hdr->sq_offset = 0xfffffff0;
	q.hdr->cq_offset = 0xfffffff0;
	q.hdr->in_flight = 1234;
	q.hdr->cq_tail = tail + 3;
	sq[head & 7] = u_sqe_nop(13);
	u_atomic_store_rel(&q.hdr->sq_tail, head + 1);
	u_atomic_store_rel(&q.hdr->cq_head, tail); /* consistent with the kernel's tail */
	EXPECT(u_queue_enter(q.handle, 1, 0, 0) == 1);
	EXPECT(q.hdr->sq_head == head + 1);
	EXPECT(q.hdr->cq_tail == tail + 1);
	EXPECT(q.hdr->in_flight == 0);
	EXPECT(cq[tail & 3].context == 13 && cq[tail & 3].result == 0);
	q.hdr->sq_mask = 7;
	q.hdr->cq_mask = 3;
	q.hdr->sq_offset = sq_off;
	q.hdr->cq_offset = cq_off;
	u_atomic_store_rel(&q.hdr->cq_head, tail + 1);

	/* A huge to_submit takes what is there. */
	struct alder_sqe s = u_sqe_nop(14);
	CHECK_EQ(u_queue_push(&q, &s), 0);
	EXPECT(raw_enter((uint64_t)q.handle, ~0ull, 1, SEC) == 1);
	CHECK(u_queue_pop(&q, &c));
	EXPECT(c.context == 14);

	CHECK_EQ(u_handle_close(q.handle), 0);
	CHECK_EQ(u_space_unmap(SELF, q.params.ring_addr, q.params.ring_size), 0);
}

static void test_sqes(void)
{
	struct u_queue q;
	struct alder_cqe c;
	struct alder_sqe s;

	make_queue(&q, 8, 8);
	s = u_sqe_nop(1);
	s.flags = 2; /* not a known ALDER_SQE_* bit */
	c = submit_one(&q, s);
	EXPECT_ERR("NOP with flags 2", c.result, ALDER_EINVAL);
	s = u_sqe_nop(1);
	s.flags = ALDER_SQE_SKIP_SUCCESS | 4;
	c = submit_one(&q, s);
	EXPECT_ERR("NOP with SKIP_SUCCESS | 4", c.result, ALDER_EINVAL);
	s = u_sqe_nop(2);
	s.flags = 0x80000000u;
	c = submit_one(&q, s);
	EXPECT_ERR("NOP with flags 1 << 31", c.result, ALDER_EINVAL);
	s = u_sqe_nop(3);
	s.reserved = 1;
	c = submit_one(&q, s);
	EXPECT_ERR("NOP with reserved 1", c.result, ALDER_EINVAL);
	s = u_sqe_timer(4, u_now_ns() + SEC);
	s.reserved = 0xffffffffu;
	c = submit_one(&q, s);
	EXPECT_ERR("TIMER with reserved ~0", c.result, ALDER_EINVAL);
	EXPECT(q.hdr->in_flight == 0); /* the timer was not started */

	static const uint32_t bad_ops[] = {ALDER_OP_COUNT, ALDER_OP_COUNT + 1, 1000, 0x80000000u,
					   0xffffffffu};
	for (size_t i = 0; i < U_ARRAY_SIZE(bad_ops); i++) {
		s = u_sqe_nop(10 + i);
		s.op = bad_ops[i];
		c = submit_one(&q, s);
		EXPECT_ERR(name("op %lu", bad_ops[i], 0), c.result, ALDER_EINVAL);
	}
	/* Other subsystems' ops with no valid object: an error, whether or
	 * not the subsystem is built in. */
	static const uint32_t foreign[] = {ALDER_OP_STREAM, ALDER_OP_IRQ_WAIT, ALDER_OP_OBSERVE};
	for (size_t i = 0; i < U_ARRAY_SIZE(foreign); i++) {
		s = u_sqe_nop(20 + i);
		s.op = foreign[i];
		s.handle = 0;
		c = submit_one(&q, s);
		if (c.result >= 0 || c.result < -4095) {
			u_expect_fail(__FILE__, __LINE__, "op %u with handle 0 completed with %ld",
				      foreign[i], (long)c.result);
		}
	}
	/* Timers at the extremes. */
	c = submit_one(&q, u_sqe_timer(30, 0));
	EXPECT(c.result == 0);
	c = submit_one(&q, u_sqe_timer(31, 1));
	EXPECT(c.result == 0);
	s = u_sqe_timer(32, ~0ull);
	CHECK_EQ(u_queue_push(&q, &s), 0);
	CHECK_EQ(u_queue_enter(q.handle, 1, 0, 0), 1);
	EXPECT(q.hdr->in_flight == 1);
	s = u_sqe_cancel(33, 32);
	CHECK_EQ(u_queue_push(&q, &s), 0);
	CHECK_EQ(u_queue_enter(q.handle, 1, 2, SEC), 1);
	struct alder_cqe c2;
	CHECK(u_queue_pop(&q, &c) && u_queue_pop(&q, &c2));
	EXPECT(c.context == 32 && c.result == -ALDER_ECANCELED);
	EXPECT(c2.context == 33 && c2.result == 0);
	EXPECT(q.hdr->in_flight == 0);
	/* Cancels that find nothing. */
	c = submit_one(&q, u_sqe_cancel(34, 34));
	EXPECT_ERR("CANCEL of itself", c.result, ALDER_ENOENT);
	c = submit_one(&q, u_sqe_cancel(35, 0));
	EXPECT_ERR("CANCEL of context 0", c.result, ALDER_ENOENT);

	CHECK_EQ(u_handle_close(q.handle), 0);
	CHECK_EQ(u_space_unmap(SELF, q.params.ring_addr, q.params.ring_size), 0);
}

static void test_unmapped(void)
{
	struct u_queue q;
	struct alder_queue_params params;

	make_queue(&q, 4, 4);
	params = q.params;
	struct alder_sqe s = u_sqe_nop(1);
	CHECK_EQ(u_queue_push(&q, &s), 0);
	s = u_sqe_timer(2, u_now_ns() + 10 * MS);
	CHECK_EQ(u_queue_push(&q, &s), 0);
	CHECK_EQ(u_space_unmap(SELF, params.ring_addr, params.ring_size), 0);
	/* The kernel reads and writes its own view of the ring. */
	EXPECT(u_queue_enter(q.handle, 2, 2, SEC) == 2);
	EXPECT(u_queue_enter(q.handle, 2, 0, 0) == 0);
	sys_sleep(20 * MS);
	CHECK_EQ(u_handle_close(q.handle), 0);

	/* Unmap with a timer still pending, then close. */
	make_queue(&q, 4, 4);
	s = u_sqe_timer(3, u_now_ns() + 3600 * SEC);
	CHECK_EQ(u_queue_push(&q, &s), 0);
	CHECK_EQ(u_queue_enter(q.handle, 1, 0, 0), 1);
	CHECK_EQ(u_space_unmap(SELF, q.params.ring_addr, q.params.ring_size), 0);
	CHECK_EQ(u_handle_close(q.handle), 0);
}

int main(const char *arg, size_t arg_len)
{
	test_create();
	test_handles();
	test_enter_indices();
	test_sqes();
	test_unmapped();
	return u_test_end("queue_bad");
}
