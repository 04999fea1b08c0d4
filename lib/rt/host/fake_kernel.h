/*
 * A fake Alder kernel for host unit tests of lib/rt: queues with the real
 * ring layout of abi/alder/queue.h, driven through the same platform calls
 * the Alder build makes. Deterministic and single threaded: nothing
 * happens except inside fake_* calls and rt_plat_queue_enter.
 *
 * What it models:
 *   - Rings: SQEs consumed from sq_head in order; CQEs posted at cq_tail,
 *     none for a success with ALDER_SQE_SKIP_SUCCESS (fake_stats.skipped).
 *     A submission is accepted only while in_flight + unreaped CQEs <
 *     cq_entries (so it never has to drop a completion); the rest stay in the
 *     SQ. fake_cfg.max_accept_per_enter declines more, to test "took fewer".
 *   - NOP (completes at once), TIMER (virtual clock; when an enter must
 *     wait and nothing is due, the clock jumps to the next deadline),
 *     CANCEL (the target completes with -ECANCELED, then the cancel with 0;
 *     -ENOENT if there is no such op; with fake_cfg.async_cancel the target's
 *     CQE comes only at the next enter, after the cancel's), EVENT_WAIT
 *     (as kernel/generic/event.c: edge-triggered, a signal completes the
 *     waits pending at that moment with the new counter, earlier signals
 *     are not remembered; closing the last handle fails waits with -EPIPE;
 *     READ to wait, WRITE to signal), STREAM (lanes, FIFO matching, chains,
 *     CHAIN, DISMISS, EPIPE on close, the chain flags DROP_LANE and
 *     NO_WRITEBACK, transient lanes (NO_HANDLE); a subset of stream.h, see
 *     the .c).
 *   - Destroying a queue cancels its ops and posts nothing, as the kernel.
 *   - Anything malformed completes with an error CQE, like the kernel.
 *   - If an enter must wait and nothing can ever complete, it returns
 *     -ALDER_ETIMEDOUT instead of hanging (after trying the idle hook).
 *
 * It checks the runtime too: a CQ overflow, a to_submit beyond what is in
 * the SQ, or a cq_head moved past cq_tail count as violations
 * (fake_stats.violations), which tests assert to be zero.
 */
#ifndef RT_FAKE_KERNEL_H
#define RT_FAKE_KERNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <alder/queue.h>
#include <alder/stream.h>

struct fake_config {
	uint32_t max_accept_per_enter; /* 0: no limit beyond the CQ budget; an enter
					  that declines for this returns without waiting */
	bool async_cancel;	       /* cancelled ops complete at the next enter */
};

struct fake_stats {
	uint64_t enters;
	uint64_t accepted;
	uint64_t declined_budget; /* enters that stopped because the CQ budget was full */
	uint64_t declined_config; /* ... because of max_accept_per_enter */
	uint64_t cqes;
	uint64_t skipped; /* successes whose CQE ALDER_SQE_SKIP_SUCCESS left out */
	uint64_t cancels_found, cancels_missed;
	uint64_t max_in_flight; /* over all queues, of in_flight + unreaped */
	uint64_t violations;
	uint64_t stacks_live; /* stacks allocated and not freed (plat_host.c) */
	uint64_t stacks_allocated;
	uint64_t queues_live;
	uint64_t handles_live;
};

extern struct fake_config fake_cfg;
extern struct fake_stats fake_stats;

/* Forget everything (all queues, handles, pending ops; clock to 0). */
void fake_reset(void);

uint64_t fake_now(void);
/* Advance the clock and complete due timers at once, as a kernel would
 * from another CPU while the loop is busy (the CQEs are there to be reaped). */
void fake_advance(uint64_t ns);

/* Called when an enter must wait and nothing is pending that the fake can
 * complete; return true if it made something complete (then the wait goes
 * on), false to let the enter fail with -ALDER_ETIMEDOUT. */
void fake_set_idle_hook(bool (*hook)(void *arg), void *arg);

/* Ops accepted and not completed, over all queues. */
uint32_t fake_pending_ops(void);

/* Signal an event handle from "another thread" (same as SYS_EVENT_SIGNAL). */
long fake_event_signal(int32_t event);

/* The log: every rt_plat_log_write appends here (and to stderr if the
 * environment variable HOST_LOG is set). */
extern char fake_log_buf[16384];
extern size_t fake_log_len;
void fake_log_clear(void);

/* What plat_host.c forwards the platform's kernel calls to. */
struct rt_ring;
int fake_queue_create(uint32_t sq_entries, uint32_t cq_entries, struct rt_ring *ring);
void fake_queue_destroy(struct rt_ring *ring);
long fake_queue_enter(struct rt_ring *ring, uint32_t to_submit, uint32_t min_complete);
long fake_event_create(void);
long fake_handle_close(int32_t h);
long fake_stream_create(int32_t lanes[2]);

/* plat_host.c: if >= 0, an rt assertion failure _exits with this status
 * (for tests that provoke one in a child process). */
extern int rt_host_assert_exit;

/* The credentials IMBUE_CREDS carries in the fake. */
#define FAKE_PID 7u

#endif
