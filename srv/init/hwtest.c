/*
 * hwtest: the in-VM tests of IRQ objects and I/O port ranges (abi/alder/hw.h)
 * against real emulated hardware. They need the root handle, which only init
 * has (and children cannot be given handles yet), so init runs them in its
 * own process: hwtest_run() prints one "[test] PASS/FAIL user.hw_<name>"
 * line per test (HWTEST_COUNT of them) and returns the number of failures.
 *
 * The device is the CMOS RTC: ports 0x70 (index) / 0x71 (data), periodic
 * interrupt on ISA IRQ 8 (GSI 8, edge, active high on PC and Q35 machines).
 * Register A sets the rate, register B bit 6 (PIE) enables the periodic
 * interrupt, and reading register C acknowledges the device: the RTC keeps
 * its interrupt output asserted until C is read, and raises it again (a new
 * edge) at the next period. Bit 6 of C (PF) says a period passed since the
 * last read, whether or not the interrupt was delivered -- which lets a test
 * show that the device did fire while the kernel kept the line masked.
 *
 * Side effect: init's main thread keeps access to ports 0x70-0x71 for the
 * rest of its life (port access lasts until the thread exits). The RTC is
 * left as found, with the periodic interrupt off.
 */
#include <uhw.h>
#include <umem.h>
#include <uqueue.h>
#include <utest.h>

#include "hwtest.h"

#define MS U_NS_PER_MS
#define ROOT ALDER_HANDLE_ROOT
#define RTC_GSI 8
#define CMOS_INDEX 0x70
#define CMOS_DATA 0x71
#define RTC_REG_A 0x0a
#define RTC_REG_B 0x0b
#define RTC_REG_C 0x0c
#define RTC_REG_D 0x0d
#define RTC_B_PIE 0x40	    /* periodic */
#define RTC_B_ALL_IRQS 0x70 /* periodic, alarm, update-ended */
#define RTC_C_PF 0x40
#define RTC_D_VRT 0x80
#define RTC_RATE_128HZ 9	/* 32768 >> (rate - 1) Hz */
#define IRQ_TIMEOUT (1000 * MS) /* an interrupt is due every 7.8 ms */
#define QUIET_TIME (100 * MS)	/* how long a masked line must stay quiet */
#define RTC_ROUNDS 8

/* ---- Queue helpers ------------------------------------------------------------ */

/* The one queue of these tests, and CQEs popped while looking for another. */
static struct u_queue hw_q;
static struct alder_cqe hw_stash[8];
static unsigned hw_nstash;
static uint64_t hw_next_ctx = 1;

static uint64_t hw_ctx(void)
{
	return hw_next_ctx++;
}

/* Push one SQE and have the kernel take it. */
static bool hw_submit(struct alder_sqe sqe)
{
	long r = u_queue_push(&hw_q, &sqe);

	if (r == 0)
		r = u_queue_enter(hw_q.handle, 1, 0, 0);
	if (r != 1) {
		u_expect_fail(__FILE__, __LINE__, "submitting op %u: %ld (%s)", sqe.op, r, u_errname(r));
		return false;
	}
	return true;
}

/* Wait up to timeout_ns for the CQE of context ctx; true with *out if it came. */
static bool hw_get(uint64_t ctx, uint64_t timeout_ns, struct alder_cqe *out)
{
	uint64_t deadline = u_now_ns() + timeout_ns;

	for (;;) {
		for (unsigned i = 0; i < hw_nstash; i++) {
			if (hw_stash[i].context == ctx) {
				*out = hw_stash[i];
				hw_stash[i] = hw_stash[--hw_nstash];
				return true;
			}
		}
		struct alder_cqe c;
		while (u_queue_pop(&hw_q, &c)) {
			if (c.context == ctx) {
				*out = c;
				return true;
			}
			if (hw_nstash < U_ARRAY_SIZE(hw_stash))
				hw_stash[hw_nstash++] = c;
			else
				u_expect_fail(__FILE__, __LINE__, "stray CQE %lu dropped", c.context);
		}
		uint64_t now = u_now_ns();
		if (now >= deadline)
			return false;
		u_queue_enter(hw_q.handle, 0, 1, deadline - now);
	}
}

/* Take back op ctx (in flight): cancel it and collect both CQEs. Returns
 * the op's result (-ECANCELED, or what it completed with if it won). */
static int64_t hw_cancel(uint64_t ctx)
{
	uint64_t cctx = hw_ctx();
	struct alder_cqe c, cc;

	if (!hw_submit(u_sqe_cancel(cctx, ctx)))
		return -ALDER_EIO;
	if (!hw_get(ctx, IRQ_TIMEOUT, &c) || !hw_get(cctx, IRQ_TIMEOUT, &cc)) {
		u_expect_fail(__FILE__, __LINE__, "cancel of op %lu did not complete", ctx);
		return -ALDER_EIO;
	}
	return c.result;
}

/*
 * Wait for an interrupt on irq newer than last, up to timeout_ns. Returns
 * the sequence number (> 0), 0 when none came (the wait is cancelled), or
 * the wait's error.
 */
static int64_t hw_wait_irq(alder_handle_t irq, uint64_t last, uint64_t timeout_ns)
{
	uint64_t ctx = hw_ctx();
	struct alder_cqe c;

	if (!hw_submit(u_sqe_irq_wait(ctx, irq, last)))
		return -ALDER_EIO;
	if (hw_get(ctx, timeout_ns, &c))
		return c.result;
	int64_t r = hw_cancel(ctx);
	return r == -ALDER_ECANCELED ? 0 : r;
}

/* ---- The RTC ------------------------------------------------------------------ */

static uint8_t cmos_read(uint8_t reg)
{
	u_outb(CMOS_INDEX, reg);
	return u_inb(CMOS_DATA);
}

static void cmos_write(uint8_t reg, uint8_t v)
{
	u_outb(CMOS_INDEX, reg);
	u_outb(CMOS_DATA, v);
}

static uint8_t rtc_saved_a, rtc_saved_b;
static bool rtc_ready; /* ports enabled for this thread */

/* Only the periodic interrupt, at 128 Hz; pending flags cleared. */
static void rtc_start(void)
{
	cmos_write(RTC_REG_A, (uint8_t)((rtc_saved_a & 0xf0) | RTC_RATE_128HZ));
	cmos_write(RTC_REG_B, (uint8_t)((rtc_saved_b & ~RTC_B_ALL_IRQS) | RTC_B_PIE));
	(void)cmos_read(RTC_REG_C);
}

/* Back as found (the periodic interrupt off), pending flags cleared. */
static void rtc_stop(void)
{
	cmos_write(RTC_REG_B, (uint8_t)(rtc_saved_b & ~RTC_B_PIE));
	cmos_write(RTC_REG_A, rtc_saved_a);
	(void)cmos_read(RTC_REG_C);
}

static long hw_close(long h)
{
	return h > 0 ? u_handle_close((alder_handle_t)h) : 0;
}

/* ---- The tests ------------------------------------------------------------------- */

/* Port ranges: every bad range and handle is refused; edge ranges work. */
static void hw_ioport_bad(void)
{
	long mem = u_mem_create(U_PAGE_SIZE, 0);
	EXPECT(mem > 0);
	EXPECT_ERR("ioport_create count 0", u_ioport_create(ROOT, 0x70, 0), ALDER_EINVAL);
	EXPECT_ERR("ioport_create count 0x10001", u_ioport_create(ROOT, 0, 0x10001), ALDER_EINVAL);
	EXPECT_ERR("ioport_create base 0x10000", u_ioport_create(ROOT, 0x10000, 1), ALDER_EINVAL);
	EXPECT_ERR("ioport_create 0xffff+2", u_ioport_create(ROOT, 0xffff, 2), ALDER_EINVAL);
	EXPECT_ERR("ioport_create 0xfff0+0x20", u_ioport_create(ROOT, 0xfff0, 0x20), ALDER_EINVAL);
	EXPECT_ERR("ioport_create base 2^32+0x70", u_ioport_create(ROOT, (1ull << 32) + 0x70, 2),
		   ALDER_EINVAL);
	EXPECT_ERR("ioport_create count 2^64-1", u_ioport_create(ROOT, 0x70, ~0ull), ALDER_EINVAL);
	EXPECT_ERR("ioport_create count 2^32+1", u_ioport_create(ROOT, 0x70, (1ull << 32) + 1), ALDER_EINVAL);
	EXPECT_ERR("ioport_create wrap", u_ioport_create(ROOT, ~0ull - 1, 4), ALDER_EINVAL);
	EXPECT_ERR("ioport_create root 0", u_ioport_create(ALDER_HANDLE_NONE, 0x70, 2), ALDER_EBADF);
	EXPECT_ERR("ioport_create root -1", u_ioport_create(ALDER_HANDLE_SELF_SPACE, 0x70, 2), ALDER_EBADF);
	EXPECT_ERR("ioport_create root 4096", u_ioport_create(4096, 0x70, 2), ALDER_EBADF);
	EXPECT_ERR("ioport_create root=memory", u_ioport_create((alder_handle_t)mem, 0x70, 2), ALDER_EBADFD);
	long weak = u_handle_dup(ROOT, ALDER_RIGHTS_ALL & ~ALDER_RIGHT_MANAGE);
	EXPECT(weak > 0);
	EXPECT_ERR("ioport_create root without MANAGE", u_ioport_create((alder_handle_t)weak, 0x70, 2),
		   ALDER_EACCES);

	/* The whole space and the last port are fine (not enabled: no effect). */
	long all = u_ioport_create(ROOT, 0, 0x10000);
	long last = u_ioport_create(ROOT, 0xffff, 1);
	EXPECT(all > 0 && last > 0);
	struct alder_handle_info info = {0, 0, 0};
	EXPECT(u_handle_info((alder_handle_t)last, &info) == 0 && info.type == ALDER_OBJ_IOPORT);

	EXPECT_ERR("ioport_enable 0", u_ioport_enable(ALDER_HANDLE_NONE), ALDER_EBADF);
	EXPECT_ERR("ioport_enable -7", u_ioport_enable(-7), ALDER_EBADF);
	EXPECT_ERR("ioport_enable memory", u_ioport_enable((alder_handle_t)mem), ALDER_EBADFD);
	EXPECT_ERR("ioport_enable root", u_ioport_enable(ROOT), ALDER_EBADFD);
	long ro = u_handle_dup((alder_handle_t)last, ALDER_RIGHT_READ | ALDER_RIGHT_DUPLICATE);
	EXPECT(ro > 0);
	EXPECT_ERR("ioport_enable read-only", u_ioport_enable((alder_handle_t)ro), ALDER_EACCES);
	EXPECT_ERR("irq_ack on an ioport", u_irq_ack((alder_handle_t)last, 1, ALDER_IRQ_ACK), ALDER_EBADFD);
	EXPECT_ERR("irq_create root=ioport", u_irq_create((alder_handle_t)last, RTC_GSI, 0), ALDER_EBADFD);

	hw_close(ro);
	hw_close(all);
	hw_close(last);
	hw_close(weak);
	hw_close(mem);
}

/* The RTC through an ioport handle: its registers read back sanely. */
static void hw_ioport_rtc(void)
{
	long io = u_ioport_create(ROOT, CMOS_INDEX, 2);
	EXPECT(io > 0);
	if (io <= 0)
		return;
	long r = u_ioport_enable((alder_handle_t)io);
	if (r != 0)
		u_expect_fail(__FILE__, __LINE__, "ioport_enable(0x70, 2): %ld (%s)", r, u_errname(r));
	/* Enabling twice is harmless. */
	EXPECT(u_ioport_enable((alder_handle_t)io) == 0);
	/* The permission stays with the thread after the handle is gone. */
	EXPECT(u_handle_close((alder_handle_t)io) == 0);
	if (r != 0)
		return;
	rtc_ready = true;
	uint8_t d = cmos_read(RTC_REG_D);
	rtc_saved_a = cmos_read(RTC_REG_A);
	rtc_saved_b = cmos_read(RTC_REG_B);
	if (!(d & RTC_D_VRT))
		u_expect_fail(__FILE__, __LINE__, "RTC register D = 0x%x, VRT (0x80) not set", d);
	if ((rtc_saved_a & 0x70) != 0x20)
		u_expect_fail(__FILE__, __LINE__, "RTC register A = 0x%x, divider not 32.768 kHz",
			      rtc_saved_a);
}

/* IRQ objects: bad arguments, handles and answers. */
static void hw_irq_bad(void)
{
	long mem = u_mem_create(U_PAGE_SIZE, 0);
	long io = u_ioport_create(ROOT, 0x80, 1);
	EXPECT(mem > 0 && io > 0);

	EXPECT_ERR("irq_create gsi 2^32+8", u_irq_create(ROOT, (1ull << 32) + RTC_GSI, 0), ALDER_EINVAL);
	EXPECT_ERR("irq_create gsi 0xffffffff", u_irq_create(ROOT, 0xffffffffull, 0), ALDER_EINVAL);
	EXPECT_ERR("irq_create gsi 100000", u_irq_create(ROOT, 100000, 0), ALDER_EINVAL);
	EXPECT_ERR("irq_create gsi -1", u_irq_create(ROOT, ~0ull, 0), ALDER_EINVAL);
	EXPECT_ERR("irq_create flags 0x10", u_irq_create(ROOT, RTC_GSI, 0x10), ALDER_EINVAL);
	EXPECT_ERR("irq_create flags 2^40", u_irq_create(ROOT, RTC_GSI, 1ull << 40), ALDER_EINVAL);
	EXPECT_ERR("irq_create EDGE|LEVEL", u_irq_create(ROOT, RTC_GSI, ALDER_IRQ_EDGE | ALDER_IRQ_LEVEL),
		   ALDER_EINVAL);
	EXPECT_ERR("irq_create HIGH|LOW", u_irq_create(ROOT, RTC_GSI, ALDER_IRQ_HIGH | ALDER_IRQ_LOW),
		   ALDER_EINVAL);
	EXPECT_ERR("irq_create root 0", u_irq_create(ALDER_HANDLE_NONE, RTC_GSI, 0), ALDER_EBADF);
	EXPECT_ERR("irq_create root -1", u_irq_create(ALDER_HANDLE_SELF_SPACE, RTC_GSI, 0), ALDER_EBADF);
	EXPECT_ERR("irq_create root=memory", u_irq_create((alder_handle_t)mem, RTC_GSI, 0), ALDER_EBADFD);
	/* COM1 (GSI 4) carries the kernel's console input. */
	EXPECT_ERR("irq_create on the kernel's COM1 line", u_irq_create(ROOT, 4, 0), ALDER_EBUSY);

	/* Nothing has happened on a new claim; it cannot be answered. */
	long irq = u_irq_create(ROOT, RTC_GSI, 0);
	EXPECT(irq > 0);
	struct alder_handle_info info = {0, 0, 0};
	EXPECT(u_handle_info((alder_handle_t)irq, &info) == 0 && info.type == ALDER_OBJ_IRQ);
	/* The line is routed edge/active high (ISA): a contradicting claim is refused. */
	EXPECT_ERR("irq_create LEVEL on an edge line", u_irq_create(ROOT, RTC_GSI, ALDER_IRQ_LEVEL),
		   ALDER_EBUSY);
	EXPECT_ERR("irq_create LOW on a high line", u_irq_create(ROOT, RTC_GSI, ALDER_IRQ_LOW), ALDER_EBUSY);
	long same = u_irq_create(ROOT, RTC_GSI, ALDER_IRQ_EDGE | ALDER_IRQ_HIGH);
	EXPECT(same > 0);

	alder_handle_t h = (alder_handle_t)irq;
	EXPECT_ERR("irq_ack seq 0", u_irq_ack(h, 0, ALDER_IRQ_ACK), ALDER_EINVAL);
	EXPECT_ERR("irq_ack seq 2^63", u_irq_ack(h, 1ull << 63, ALDER_IRQ_ACK), ALDER_EINVAL);
	EXPECT_ERR("irq_ack ack=2", u_irq_ack(h, 1, 2), ALDER_EINVAL);
	EXPECT_ERR("irq_ack handle 0", u_irq_ack(ALDER_HANDLE_NONE, 1, ALDER_IRQ_ACK), ALDER_EBADF);
	EXPECT_ERR("irq_ack handle 4096", u_irq_ack(4096, 1, ALDER_IRQ_ACK), ALDER_EBADF);
	EXPECT_ERR("irq_ack memory", u_irq_ack((alder_handle_t)mem, 1, ALDER_IRQ_ACK), ALDER_EBADFD);
	EXPECT_ERR("ioport_enable on an irq", u_ioport_enable(h), ALDER_EBADFD);
	long ro = u_handle_dup(h, ALDER_RIGHT_READ | ALDER_RIGHT_DUPLICATE);
	EXPECT(ro > 0);
	EXPECT_ERR("irq_ack read-only", u_irq_ack((alder_handle_t)ro, 1, ALDER_IRQ_ACK), ALDER_EACCES);

	/* Waits with bad arguments complete at once with the error. */
	struct {
		const char *what;
		struct alder_sqe sqe;
		int err;
	} cases[] = {
	    {"irq_wait handle 0", u_sqe_irq_wait(0, ALDER_HANDLE_NONE, 0), ALDER_EBADF},
	    {"irq_wait memory", u_sqe_irq_wait(0, (alder_handle_t)mem, 0), ALDER_EBADFD},
	    {"irq_wait ioport", u_sqe_irq_wait(0, (alder_handle_t)io, 0), ALDER_EBADFD},
	    {"irq_wait future sequence", u_sqe_irq_wait(0, h, 1ull << 62), ALDER_EINVAL},
	    {"irq_wait args[1]", u_sqe_irq_wait(0, h, 0), ALDER_EINVAL},
	    {"irq_wait write-only", u_sqe_irq_wait(0, h, 0), ALDER_EACCES},
	};
	cases[4].sqe.args[1] = 1;
	long wo = u_handle_dup(h, ALDER_RIGHT_WRITE);
	EXPECT(wo > 0);
	cases[5].sqe.handle = (alder_handle_t)wo;
	for (size_t i = 0; i < U_ARRAY_SIZE(cases); i++) {
		struct alder_cqe c = {0, 1, {0, 0}};
		cases[i].sqe.context = hw_ctx();
		if (hw_submit(cases[i].sqe) && hw_get(cases[i].sqe.context, IRQ_TIMEOUT, &c))
			EXPECT_ERR(cases[i].what, c.result, cases[i].err);
		else
			u_expect_fail(__FILE__, __LINE__, "%s: no completion", cases[i].what);
	}

	hw_close(wo);
	hw_close(ro);
	hw_close(same);
	hw_close(irq);
	hw_close(io);
	hw_close(mem);
}

/* RTC_ROUNDS interrupts, each acked after the device was acknowledged. */
static void hw_irq_rtc(void)
{
	long irq = u_irq_create(ROOT, RTC_GSI, 0);
	EXPECT(irq > 0);
	if (irq <= 0)
		return;
	alder_handle_t h = (alder_handle_t)irq;
	rtc_start();
	uint64_t last = 0;
	unsigned pf = 0;
	for (unsigned i = 0; i < RTC_ROUNDS; i++) {
		int64_t seq = hw_wait_irq(h, last, IRQ_TIMEOUT);
		if (seq <= 0) {
			u_expect_fail(__FILE__, __LINE__, "interrupt %u after seq %lu: wait gave %ld", i,
				      last, seq);
			break;
		}
		if (i > 0 && (uint64_t)seq != last + 1)
			u_expect_fail(__FILE__, __LINE__, "sequence %ld after %lu (acked each)", seq, last);
		if (cmos_read(RTC_REG_C) & RTC_C_PF)
			pf++;
		if (i == 0) {
			/* Only the current sequence, once. */
			EXPECT_ERR("irq_ack seq+1", u_irq_ack(h, (uint64_t)seq + 1, ALDER_IRQ_ACK),
				   ALDER_EINVAL);
			if ((uint64_t)seq > 1)
				EXPECT_ERR("irq_ack seq-1", u_irq_ack(h, (uint64_t)seq - 1, ALDER_IRQ_ACK),
					   ALDER_EINVAL);
		}
		EXPECT(u_irq_ack(h, (uint64_t)seq, ALDER_IRQ_ACK) == 0);
		if (i == 0)
			EXPECT_ERR("irq_ack twice", u_irq_ack(h, (uint64_t)seq, ALDER_IRQ_ACK), ALDER_EINVAL);
		last = (uint64_t)seq;
	}
	if (pf == 0)
		u_expect_fail(__FILE__, __LINE__, "register C never showed PF for a delivered interrupt");
	rtc_stop();
	hw_close(irq);
}

/* A nack by the only claimant leaves the line masked although the device
 * keeps interrupting; a new claim re-arms it. */
static void hw_irq_nack_masked(void)
{
	long irq = u_irq_create(ROOT, RTC_GSI, 0);
	EXPECT(irq > 0);
	if (irq <= 0)
		return;
	alder_handle_t h = (alder_handle_t)irq;
	rtc_start();
	int64_t seq = hw_wait_irq(h, 0, IRQ_TIMEOUT);
	EXPECT(seq > 0);
	if (seq > 0) {
		(void)cmos_read(RTC_REG_C); /* the device lowers its output, then fires again */
		EXPECT(u_irq_ack(h, (uint64_t)seq, ALDER_IRQ_NACK) == 0);
		EXPECT_ERR("irq_ack after nack", u_irq_ack(h, (uint64_t)seq, ALDER_IRQ_ACK), ALDER_EINVAL);
		int64_t more = hw_wait_irq(h, (uint64_t)seq, QUIET_TIME);
		if (more != 0)
			u_expect_fail(__FILE__, __LINE__, "masked line: wait after nack of %ld gave %ld", seq,
				      more);
		uint8_t c = cmos_read(RTC_REG_C);
		if (!(c & RTC_C_PF))
			u_expect_fail(__FILE__, __LINE__, "the RTC did not fire while masked (C = 0x%x)", c);

		/* A second claimant re-arms the line: both hear the next interrupt. */
		long irq2 = u_irq_create(ROOT, RTC_GSI, 0);
		EXPECT(irq2 > 0);
		int64_t s1 = hw_wait_irq(h, (uint64_t)seq, IRQ_TIMEOUT);
		int64_t s2 = irq2 > 0 ? hw_wait_irq((alder_handle_t)irq2, 0, IRQ_TIMEOUT) : -1;
		if (s1 != seq + 1 || s2 != s1)
			u_expect_fail(__FILE__, __LINE__, "after re-arm: %ld and %ld, expected %ld", s1, s2,
				      seq + 1);
		hw_close(irq2); /* counts as a nack */
	}
	rtc_stop();
	hw_close(irq);
}

/* Two claimants: the line waits for both answers; one ack is enough to
 * unmask; an edge during the round is replayed, not lost; all nack: masked. */
static void hw_irq_shared(void)
{
	long a = u_irq_create(ROOT, RTC_GSI, 0), b = u_irq_create(ROOT, RTC_GSI, 0);
	EXPECT(a > 0 && b > 0);
	if (a <= 0 || b <= 0)
		goto out;
	alder_handle_t ha = (alder_handle_t)a, hb = (alder_handle_t)b;
	rtc_start();

	uint64_t ca = hw_ctx(), cb = hw_ctx();
	struct alder_cqe ea = {0, -1, {0, 0}}, eb = {0, -1, {0, 0}};
	if (!hw_submit(u_sqe_irq_wait(ca, ha, 0)) || !hw_submit(u_sqe_irq_wait(cb, hb, 0)) ||
	    !hw_get(ca, IRQ_TIMEOUT, &ea) || !hw_get(cb, IRQ_TIMEOUT, &eb) || ea.result <= 0 ||
	    ea.result != eb.result) {
		u_expect_fail(__FILE__, __LINE__, "both claimants: results %ld and %ld", ea.result,
			      eb.result);
		goto out;
	}
	uint64_t s = (uint64_t)ea.result;
	(void)cmos_read(RTC_REG_C);
	EXPECT(u_irq_ack(ha, s, ALDER_IRQ_ACK) == 0);
	/* b has not answered: no new round although the RTC fires again. */
	int64_t early = hw_wait_irq(ha, s, QUIET_TIME);
	if (early != 0)
		u_expect_fail(__FILE__, __LINE__, "round %lu resolved with an answer missing: %ld", s, early);
	EXPECT(u_irq_ack(hb, s, ALDER_IRQ_NACK) == 0);
	/* One ack: unmasked, and the edge that came meanwhile is the next round. */
	int64_t n1 = hw_wait_irq(ha, s, IRQ_TIMEOUT), n2 = hw_wait_irq(hb, s, IRQ_TIMEOUT);
	if (n1 != (int64_t)s + 1 || n2 != n1)
		u_expect_fail(__FILE__, __LINE__, "after ack+nack of %lu: %ld and %ld", s, n1, n2);
	if (n1 > 0) {
		(void)cmos_read(RTC_REG_C);
		EXPECT(u_irq_ack(ha, (uint64_t)n1, ALDER_IRQ_NACK) == 0);
		EXPECT(u_irq_ack(hb, (uint64_t)n1, ALDER_IRQ_NACK) == 0);
		/* Declined by all: masked, no storm, although the RTC fires. */
		int64_t quiet = hw_wait_irq(ha, (uint64_t)n1, QUIET_TIME);
		if (quiet != 0)
			u_expect_fail(__FILE__, __LINE__, "after all nacked %ld: %ld", n1, quiet);
		if (!(cmos_read(RTC_REG_C) & RTC_C_PF))
			u_expect_fail(__FILE__, __LINE__, "the RTC did not fire while masked");
	}
out:
	rtc_stop();
	hw_close(b);
	hw_close(a);
}

/* A claimant that never answers keeps further interrupts from being
 * delivered (no storm); closing it frees the line for the next claim. */
static void hw_irq_noack_masked(void)
{
	long irq = u_irq_create(ROOT, RTC_GSI, 0);
	EXPECT(irq > 0);
	if (irq <= 0)
		return;
	alder_handle_t h = (alder_handle_t)irq;
	rtc_start();
	int64_t seq = hw_wait_irq(h, 0, IRQ_TIMEOUT);
	EXPECT(seq > 0);
	if (seq > 0) {
		(void)cmos_read(RTC_REG_C); /* fires again every 7.8 ms from now */
		uint64_t t0 = u_now_ns();
		int64_t more = hw_wait_irq(h, (uint64_t)seq, QUIET_TIME);
		if (more != 0)
			u_expect_fail(__FILE__, __LINE__, "unanswered %ld, then %ld", seq, more);
		if (u_now_ns() - t0 < QUIET_TIME)
			u_expect_fail(__FILE__, __LINE__, "the quiet wait ended early");
		if (!(cmos_read(RTC_REG_C) & RTC_C_PF))
			u_expect_fail(__FILE__, __LINE__, "the RTC did not fire while unanswered");
	}
	hw_close(irq);
	/* Released: a new claim gets interrupts again. */
	long again = u_irq_create(ROOT, RTC_GSI, 0);
	EXPECT(again > 0);
	if (again > 0) {
		int64_t s = hw_wait_irq((alder_handle_t)again, 0, IRQ_TIMEOUT);
		if (s <= 0)
			u_expect_fail(__FILE__, __LINE__, "no interrupt after the line was released: %ld", s);
		else
			EXPECT(u_irq_ack((alder_handle_t)again, (uint64_t)s, ALDER_IRQ_ACK) == 0);
	}
	rtc_stop();
	hw_close(again);
}

/* Closing the IRQ object, or ALDER_OP_CANCEL, ends a pending wait with
 * -ECANCELED. The device is quiet, so nothing else can end it. */
static void hw_irq_cancel(void)
{
	long irq = u_irq_create(ROOT, RTC_GSI, 0);
	EXPECT(irq > 0);
	if (irq <= 0)
		return;
	uint64_t ctx = hw_ctx();
	struct alder_cqe c = {0, 1, {0, 0}};
	if (hw_submit(u_sqe_irq_wait(ctx, (alder_handle_t)irq, 0))) {
		EXPECT(!hw_get(ctx, 20 * MS, &c));
		EXPECT(u_handle_close((alder_handle_t)irq) == 0);
		if (hw_get(ctx, IRQ_TIMEOUT, &c))
			EXPECT_ERR("wait after close", c.result, ALDER_ECANCELED);
		else
			u_expect_fail(__FILE__, __LINE__, "wait not ended by closing its IRQ object");
	} else {
		hw_close(irq);
	}

	irq = u_irq_create(ROOT, RTC_GSI, 0);
	EXPECT(irq > 0);
	ctx = hw_ctx();
	if (irq > 0 && hw_submit(u_sqe_irq_wait(ctx, (alder_handle_t)irq, 0))) {
		EXPECT(!hw_get(ctx, 20 * MS, &c));
		EXPECT_ERR("cancelled wait", hw_cancel(ctx), ALDER_ECANCELED);
	}
	hw_close(irq);
}

/* Everything above gave back its objects. */
static void hw_irq_no_leak(uint64_t live_before)
{
	uint64_t live = u_info(ALDER_INFO_LIVE_OBJECTS, 0);

	if (live != live_before)
		u_expect_fail(__FILE__, __LINE__, "%lu kernel objects live, %lu before the tests", live,
			      live_before);
}

/* Claims come and go on another thread (a participant leaving counts as a
 * nack, a newcomer owes nothing) while this one keeps answering the RTC:
 * every round still resolves, in order, and every churned wait completes
 * exactly once (an interrupt, or -ECANCELED by the close). */
static struct {
	uint32_t stop, done; /* set by the main thread / by the churner */
	uint32_t rounds, errors;
} churn;
static uint8_t churn_stack[16384] __attribute__((aligned(16)));

static void hw_churn_thread(void *arg)
{
	struct u_queue q;

	if (u_queue_init(&q, 4, 4) < 0) {
		u_atomic_fetch_add(&churn.errors, 1);
		u_atomic_store(&churn.done, 1);
		return;
	}
	while (!u_atomic_load(&churn.stop)) {
		long h = u_irq_create(ROOT, RTC_GSI, 0);
		if (h <= 0) {
			u_printf("hwtest: churn: irq_create: %ld (%s)\n", h, u_errname(h));
			u_atomic_fetch_add(&churn.errors, 1);
			break;
		}
		struct alder_sqe sqe = u_sqe_irq_wait(7, (alder_handle_t)h, 0);
		struct alder_cqe c = {0, 1, {0, 0}};
		if (u_queue_push(&q, &sqe) != 0 || u_queue_enter(q.handle, 1, 0, 0) != 1)
			u_atomic_fetch_add(&churn.errors, 1);
		if (churn.rounds % 3 == 1)
			sys_yield();
		else if (churn.rounds % 3 == 2)
			sys_sleep(2 * MS);
		u_handle_close((alder_handle_t)h);
		u_queue_enter(q.handle, 0, 1, IRQ_TIMEOUT);
		if (!u_queue_pop(&q, &c) || c.context != 7 ||
		    (c.result <= 0 && c.result != -ALDER_ECANCELED)) {
			u_printf("hwtest: churn: wait gave %ld\n", c.result);
			u_atomic_fetch_add(&churn.errors, 1);
		}
		if (u_queue_pop(&q, &c)) {
			u_printf("hwtest: churn: a second completion (%ld)\n", c.result);
			u_atomic_fetch_add(&churn.errors, 1);
		}
		u_atomic_fetch_add(&churn.rounds, 1);
	}
	u_handle_close(q.handle);
	u_space_unmap(ALDER_HANDLE_SELF_SPACE, q.params.ring_addr, q.params.ring_size);
	u_atomic_store(&churn.done, 1);
}

static void hw_irq_churn(void)
{
	long irq = u_irq_create(ROOT, RTC_GSI, 0);
	EXPECT(irq > 0);
	if (irq <= 0)
		return;
	alder_handle_t h = (alder_handle_t)irq;
	long tid = u_thread_start(hw_churn_thread, NULL, churn_stack, sizeof(churn_stack));
	EXPECT(tid > 0);
	rtc_start();
	uint64_t last = 0, t_end = u_now_ns() + 300 * MS;
	unsigned n = 0;
	while (u_now_ns() < t_end) {
		int64_t seq = hw_wait_irq(h, last, IRQ_TIMEOUT);
		if (seq <= 0 || (last && (uint64_t)seq != last + 1)) {
			u_expect_fail(__FILE__, __LINE__, "with churn: after %lu came %ld", last, seq);
			break;
		}
		(void)cmos_read(RTC_REG_C);
		EXPECT(u_irq_ack(h, (uint64_t)seq, ALDER_IRQ_ACK) == 0);
		last = (uint64_t)seq;
		n++;
	}
	u_atomic_store(&churn.stop, 1);
	for (unsigned i = 0; tid > 0 && i < 2000 && !u_atomic_load(&churn.done); i++)
		sys_sleep(MS);
	EXPECT(tid <= 0 || u_atomic_load(&churn.done));
	if (n < 5)
		u_expect_fail(__FILE__, __LINE__, "only %u interrupts in 300 ms with churn", n);
	if (tid > 0 && u_atomic_load(&churn.rounds) < 5)
		u_expect_fail(__FILE__, __LINE__, "the churner made only %u rounds", churn.rounds);
	if (u_atomic_load(&churn.errors))
		u_expect_fail(__FILE__, __LINE__, "the churner saw %u errors", churn.errors);
	rtc_stop();
	hw_close(irq);
}

/* Ports this thread may use are not open to another process. */
static void hw_port_isolated(void)
{
	struct alder_exit_info info = {-1, -1, 0};
	long r = u_run("/tests/hw_port_denied", "", &info, NULL);

	if (r < 0 || info.how != ALDER_EXIT_FAULT || info.status != 13)
		u_expect_fail(__FILE__, __LINE__, "/tests/hw_port_denied: run %ld, how %d status %d", r,
			      info.how, info.status);
}

/* ---- Runner -------------------------------------------------------------------- */

struct hw_case {
	const char *name;
	void (*fn)(void);
	bool needs_rtc; /* skipped (failed) when the RTC ports could not be enabled */
};

static unsigned hw_report(const char *name, unsigned failures_before, const char *skip)
{
	unsigned n = u_test_failures - failures_before;

	if (skip) {
		u_printf("[test] FAIL user.hw_%s: %s\n", name, skip);
		return 1;
	}
	if (n) {
		u_printf("[test] FAIL user.hw_%s: %u check(s) failed\n", name, n);
		return 1;
	}
	u_printf("[test] PASS user.hw_%s\n", name);
	return 0;
}

int hwtest_run(void)
{
	static const struct hw_case cases[] = {
	    {"ioport_bad", hw_ioport_bad, false},
	    {"ioport_rtc", hw_ioport_rtc, false},
	    {"irq_bad", hw_irq_bad, false},
	    {"irq_rtc", hw_irq_rtc, true},
	    {"irq_nack_masked", hw_irq_nack_masked, true},
	    {"irq_shared", hw_irq_shared, true},
	    {"irq_noack_masked", hw_irq_noack_masked, true},
	    {"irq_cancel", hw_irq_cancel, false},
	};
	_Static_assert(U_ARRAY_SIZE(cases) + 3 == HWTEST_COUNT, "HWTEST_COUNT counts every result line");
	unsigned failed = 0, before;

	long r = u_queue_init(&hw_q, 16, 16);
	if (r < 0) {
		u_printf("hwtest: queue_create: %ld (%s)\n", r, u_errname(r));
		for (size_t i = 0; i < U_ARRAY_SIZE(cases); i++)
			failed += hw_report(cases[i].name, u_test_failures, "no queue");
		failed += hw_report("irq_no_leak", u_test_failures, "no queue");
		failed += hw_report("irq_churn", u_test_failures, "no queue");
		failed += hw_report("port_isolated", u_test_failures, "no queue");
		return (int)failed;
	}
	/* Threads that ended just before (the boot thread, a child) are freed
	 * by the next switch on their CPU: let that happen first. */
	sys_sleep(20 * MS);
	uint64_t live_before = u_info(ALDER_INFO_LIVE_OBJECTS, 0);
	for (size_t i = 0; i < U_ARRAY_SIZE(cases); i++) {
		before = u_test_failures;
		if (cases[i].needs_rtc && !rtc_ready) {
			failed += hw_report(cases[i].name, before, "RTC ports not enabled");
			continue;
		}
		cases[i].fn();
		failed += hw_report(cases[i].name, before, NULL);
	}
	before = u_test_failures;
	hw_irq_no_leak(live_before);
	failed += hw_report("irq_no_leak", before, NULL);
	before = u_test_failures;
	if (rtc_ready)
		hw_irq_churn();
	failed += hw_report("irq_churn", before, rtc_ready ? NULL : "RTC ports not enabled");
	before = u_test_failures;
	hw_port_isolated();
	failed += hw_report("port_isolated", before, NULL);

	u_handle_close(hw_q.handle);
	u_space_unmap(ALDER_HANDLE_SELF_SPACE, hw_q.params.ring_addr, hw_q.params.ring_size);
	return (int)failed;
}
