/*
 * sysfuzz: a native system-call fuzzer. It issues a bounded number of
 * random and adversarial native calls (ALDER_SYS_BASE + 0 .. +
 * SYS_NATIVE_COUNT - 1) and random SQEs, with arguments biased toward the
 * interesting: handles it really holds (memory, spaces, queues, events,
 * lanes, threads, reduced-rights duplicates), closed and made-up handles,
 * ALDER_HANDLE_SELF_SPACE, pointers into its own buffers with lengths that
 * run past them or straddle a page, NULL, unmapped, kernel and
 * non-canonical addresses, huge and wrapping sizes, misaligned values.
 * Besides random SQEs it stages "conversations" (two chains meant to meet on
 * the two lanes of a stream), children whose registers it scribbles on,
 * chains of COW views and slices thousands deep, children abandoned before
 * they ever ran, and stream chains that carry their own lanes and queue.
 *
 * It checks: the kernel survives; every result is >= 0 or a negative errno
 * in [-4095, -1], in CQEs too; a few per-call facts (calls needing the root
 * handle fail: we have none; handle numbers outside 1..INT32_MAX are EBADF;
 * dup rights are source & mask; every SQE completes at most once, and -- when
 * no chain in flight carries a handle -- completes once every object it uses
 * is closed); and, after closing everything, ALDER_INFO_LIVE_OBJECTS and
 * ALDER_INFO_FREE_FRAMES are back where they were and the kernel still works.
 *
 * Argument: "seed=N count=M [race=1] [skip=abandon,deep,cycle] [trace=K]
 * [rounds=R]". Defaults: seed from the TSC, count 20000. The seed is printed
 * first, so a failure can be re-run; trace=K logs every call from number K
 * on. Results that depend on timing (timers, the other CPU) can make two runs
 * of one seed drift apart late in a run. race=1 adds a second thread (see
 * "The racer"), which makes runs timing-dependent. skip= leaves out a
 * generator that a known kernel bug makes fail (each one is a bug to fix,
 * not a fuzzer setting). rounds=R runs the measured worker R times, to tell
 * a leak (grows each round) from a cache filling up (does not).
 *
 * Shape: the program runs as a driver and a worker ("worker ..." argument,
 * spawned by the driver). The driver warms the kernel's caches (kernel
 * stacks, slabs, the stream thread) by running the same worker once first
 * (up to WARM_MAX calls) plus a health round, records LIVE_OBJECTS and
 * FREE_FRAMES, runs the worker, and requires both to come back (frames
 * exactly up to WARM_MAX calls; see the slack below) and the kernel to still
 * work: memory map/touch/unmap, a queue NOP round trip, futex wait/wake,
 * spawning /tests/hello. Fuzzing in a child means everything it leaves in
 * its own process (page tables, handle-table array) is freed before the
 * comparison; what remains is what the kernel leaked. The worker also
 * checks LIVE_OBJECTS itself after closing everything, before it exits.
 *
 * Keeping the fuzzer alive (these are what is NOT fuzzed, on purpose):
 *   - never called: SYS_EXIT, SYS_THREAD_EXIT, SYS_SHUTDOWN (they end the
 *     fuzzer or the run); SYS_CONSOLE_READ only with a length of 0 or a
 *     range outside user space (anything else blocks on the console);
 *   - sleeps, futex waits and queue waits always have a small timeout (at
 *     most 1 ms), except sleeps whose deadline overflows and futex/queue
 *     waits that must fail before waiting (e.g. expected > UINT32_MAX,
 *     min_complete > 4096);
 *   - SYS_WAIT only on pids that end by themselves (spawned hellos, children
 *     already killed) or that are not our children;
 *   - SYS_SPAWN runs only /tests/hello (capped); other paths are names
 *     that do not exist, bad pointers, bad lengths;
 *   - code that runs in our own address space is only sf_self_stub (it
 *     calls SYS_THREAD_EXIT): SYS_THREAD_CREATE and SYS_THREAD_NEW on
 *     ALDER_HANDLE_SELF_SPACE get it or an entry the kernel must refuse;
 *     register writes to such threads keep rip on it (and TF clear); their
 *     handles carry no TRANSFER right, so no copy of one can arrive
 *     unannounced through a stream; ALDER_THREAD_KILL is never aimed at a
 *     thread of our own process, nor STOP at ALDER_HANDLE_SELF_THREAD
 *     (nothing would resume the caller);
 *   - map/unmap/protect/SPACE_RW-write on our own space only outside our
 *     image, stack, staging buffers and the queue ring we use: the
 *     sacrificial window (SAC) and mappings the fuzzer made itself;
 *   - every pointer the kernel may write through lands in a scratch area,
 *     the sacrificial window, a fuzzer-made mapping, or nowhere valid; the
 *     areas where SQE action arrays and iovecs are staged are never written
 *     by the kernel except for the action arrays' own output fields;
 *   - SYS_LOG writes only one fixed line (or nothing), and children never
 *     get rax = SYS_LOG or SYS_SPAWN from us;
 *   - no root handle exists here, so the hardware calls only see refusals.
 * Resource bounds (not to hide bugs, to keep a 64 MiB VM usable): handles,
 * children, threads, mappings and spawned programs are capped; when free
 * frames drop too far the fuzzer closes and unmaps what it holds.
 *
 * Not for: checking per-call semantics in detail (the unit-style tests do
 * that).
 */
#include <ulib.h>
#include <umem.h>
#include <uqueue.h>
#include <uthread.h>

#include <alder/handle.h>
#include <alder/hw.h>
#include <alder/memory.h>
#include <alder/queue.h>
#include <alder/stream.h>
#include <alder/thread.h>

/* ---- Layout ------------------------------------------------------------ */

#define PAGE ((uint64_t)4096)
#define USER_TOP ULIB_USER_END
#define SELF ((uint64_t)(int64_t)ALDER_HANDLE_SELF_SPACE)
#define RW (ALDER_PROT_READ | ALDER_PROT_WRITE)

/* The arena: fixed pages in our own space, below where the kernel chooses
 * addresses (16 TiB) and far from the image and the stack. */
#define ARENA ((uint64_t)0x3000000000)
#define AP(n) (ARENA + (uint64_t)(n)*PAGE)
#define SCRATCH AP(0) /* 16 pages RW: the kernel writes here */
#define SCRATCH_PAGES 16
#define ROPAGE AP(16)	/* read-only: paths, arguments, the log line */
#define HOLE1 AP(17)	/* never mapped */
#define RW2 AP(18)	/* 2 pages RW, then: */
#define NONEPAGE AP(20) /* mapped, protection 0 */
#define HOLE2 AP(21)
#define STAGE_ACT AP(22) /* 6 pages: SQE action arrays (inputs; outputs come back here) */
#define STAGE_ACT_PAGES 6
#define STAGE_IOV AP(28) /* 2 pages: iovec arrays (inputs only) */
#define STAGE_END AP(30)
#define SAC AP(64) /* sacrificial window: fuzzed map/unmap/protect of our own space */
#define SAC_PAGES 64
#define ARENA_END AP(128)

/* Where children (threads in spaces we created) find their code. */
#define CHILD_CODE ((uint64_t)0x10000)
#define STACK_ZONE ((uint64_t)1 << 20) /* below ULIB_STACK_CEILING: ours */

/* Caps. */
#define HCAP 40	    /* handles held (not counting the fixed ones) */
#define CHILD_CAP 6 /* child processes not yet reaped */
#define SELF_CAP 6  /* live threads of our own process (besides us) */
#define OMAP_CAP 40 /* fuzzer-made mappings in our own space */
#define HELLO_CAP 2 /* spawned /tests/hello not yet reaped */
#define MAIN_SQ 32
#define MAIN_CQ 64

_Static_assert(SYS_THREAD_EXIT == 0x40000009, "sf_self_stub hard-codes the number");
_Static_assert(SYS_YIELD == 0x40000002 && SYS_EXIT == 0x40000001, "child_code hard-codes the numbers");

/* The only code that ever runs in our space on a thread we did not start
 * from C: it ends the thread (or, as the last thread of a child process
 * sharing our space, that process). No stack use. */
void sf_self_stub(void);
__asm__(".text\n"
	".globl sf_self_stub\n"
	".type sf_self_stub, @function\n"
	"sf_self_stub:\n"
	"\tmovl $0x40000009, %eax\n"
	"\tsyscall\n"
	"\tud2\n"
	".size sf_self_stub, . - sf_self_stub\n");
#define STUB ((uint64_t)(uintptr_t)sf_self_stub)

/* Children's code: Linux getpid (observed if supervised, else the shim),
 * yield, exit(0). */
static const uint8_t child_code[] = {
    0xb8, 0x27, 0x00, 0x00, 0x00, 0x0f, 0x05,		  /* mov $39, %eax; syscall */
    0xb8, 0x02, 0x00, 0x00, 0x40, 0x0f, 0x05,		  /* mov $SYS_YIELD, %eax; syscall */
    0xb8, 0x01, 0x00, 0x00, 0x40, 0x31, 0xff, 0x0f, 0x05, /* mov $SYS_EXIT, %eax; xor %edi, %edi; syscall */
    0x0f, 0x0b,						  /* ud2 */
};

/* ---- PRNG (splitmix64) ----------------------------------------------- */

static uint64_t rng_state;

static uint64_t rnd(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t below(uint64_t n)
{
	return n ? rnd() % n : 0;
}

static bool chance(unsigned pct)
{
	return below(100) < pct;
}

/* ---- Options ----------------------------------------------------------- */

static struct {
	uint64_t seed, count, trace, rounds;
	bool worker, seed_given, race;
	unsigned skip; /* SKIP_* */
} opt = {.count = 20000, .trace = UINT64_MAX, .rounds = 1};

static bool parse_u64(const char *s, size_t n, uint64_t *out)
{
	uint64_t v = 0;
	unsigned base = 10;

	if (n > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
		n -= 2;
	}
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned d;
		char ch = s[i];
		if (ch >= '0' && ch <= '9')
			d = (unsigned)(ch - '0');
		else if (base == 16 && ch >= 'a' && ch <= 'f')
			d = (unsigned)(ch - 'a' + 10);
		else if (base == 16 && ch >= 'A' && ch <= 'F')
			d = (unsigned)(ch - 'A' + 10);
		else
			return false;
		if (v > (UINT64_MAX - d) / base)
			return false;
		v = v * base + d;
	}
	*out = v;
	return true;
}

/* skip=a,b,...: leave out one of the generators below (for a kernel that
 * is known to fail it; every such exclusion is a kernel bug to fix). */
#define SKIP_ABANDON 1u /* close the last handle of a never-started child */
#define SKIP_DEEP 2u	/* long chains of COW views / slices */
#define SKIP_CYCLE 4u	/* chains that push their own lanes and queue */

static bool parse_skip(const char *w, size_t n)
{
	static const struct {
		const char *name;
		unsigned bit;
	} names[] = {{"abandon", SKIP_ABANDON}, {"deep", SKIP_DEEP}, {"cycle", SKIP_CYCLE}};
	while (n) {
		size_t k = 0;
		while (k < n && w[k] != ',')
			k++;
		bool found = false;
		for (size_t i = 0; i < U_ARRAY_SIZE(names); i++) {
			if (strlen(names[i].name) == k && strncmp(w, names[i].name, k) == 0) {
				opt.skip |= names[i].bit;
				found = true;
			}
		}
		if (!found)
			return false;
		w += k;
		n -= k;
		if (n) {
			w++;
			n--;
		}
	}
	return true;
}

static bool parse_opts(const char *arg)
{
	const char *p = arg;

	while (*p) {
		while (*p == ' ')
			p++;
		const char *w = p;
		while (*p && *p != ' ')
			p++;
		size_t n = (size_t)(p - w);
		if (n == 0)
			break;
		if (n == 6 && strncmp(w, "worker", 6) == 0) {
			opt.worker = true;
		} else if (n > 5 && strncmp(w, "seed=", 5) == 0) {
			if (!parse_u64(w + 5, n - 5, &opt.seed))
				return false;
			opt.seed_given = true;
		} else if (n > 6 && strncmp(w, "count=", 6) == 0) {
			if (!parse_u64(w + 6, n - 6, &opt.count))
				return false;
		} else if (n > 5 && strncmp(w, "skip=", 5) == 0) {
			if (!parse_skip(w + 5, n - 5))
				return false;
		} else if (n == 6 && strncmp(w, "race=", 5) == 0 && (w[5] == '0' || w[5] == '1')) {
			opt.race = w[5] == '1';
		} else if (n > 7 && strncmp(w, "rounds=", 7) == 0) {
			if (!parse_u64(w + 7, n - 7, &opt.rounds) || opt.rounds == 0)
				return false;
		} else if (n > 6 && strncmp(w, "trace=", 6) == 0) {
			if (!parse_u64(w + 6, n - 6, &opt.trace))
				return false;
		} else {
			return false;
		}
	}
	return true;
}

/* ---- Results and failures ------------------------------------------- */

/* clang-format off */
static const char *const call_names[SYS_NATIVE_COUNT] = {
    "log", "exit", "yield", "sleep", "clock", "spawn", "wait", "info",
    "thread_create", "thread_exit", "shutdown", "console_read",
    "handle_close", "handle_dup", "handle_info",
    "mem_create", "mem_create_phys", "mem_create_cow", "mem_create_slice",
    "space_create", "space_map", "space_unmap", "space_protect", "space_rw",
    "futex_wait", "futex_wake", "queue_create", "queue_enter", "event_create", "event_signal",
    "stream_create", "thread_new", "thread_ctl", "thread_regs",
    "irq_create", "irq_ack", "ioport_create", "ioport_enable",
};
/* clang-format on */
_Static_assert(sizeof(call_names) / sizeof(call_names[0]) == SYS_NATIVE_COUNT, "a name per call");

static const char *call_name(uint64_t nr)
{
	return nr - ALDER_SYS_BASE < SYS_NATIVE_COUNT ? call_names[nr - ALDER_SYS_BASE] : "?";
}

struct fcall {
	uint64_t nr;
	uint64_t a[6];
	long ret;
};

static struct {
	uint64_t fuzz, book, ok, sqes, cqes, rotations, pressure, spawns, abandoned, chains, max_depth;
	uint64_t liveness_skipped, liveness_immortal, cycles, duels;
	uint32_t per_call[SYS_NATIVE_COUNT], per_call_err[SYS_NATIVE_COUNT];
	uint32_t err_hist[4096];
	uint32_t cqe_err_hist[4096];
	unsigned failures;
} st;

static uint64_t call_index; /* number of the current fuzz call */

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fail(const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	u_vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	st.failures++;
	if (st.failures <= 30)
		u_printf("sysfuzz: FAIL (seed %lu, call #%lu): %s\n", opt.seed, call_index, msg);
}

/* c may be NULL (a bookkeeping call made the handle). */
static void fail_call(const struct fcall *c, const char *why)
{
	if (!c) {
		fail("%s", why);
		return;
	}
	fail("%s(0x%lx, 0x%lx, 0x%lx, 0x%lx, 0x%lx, 0x%lx) = %ld: %s", call_name(c->nr), c->a[0], c->a[1],
	     c->a[2], c->a[3], c->a[4], c->a[5], c->ret, why);
}

/* Issue c. fuzz: count it as a fuzz call (else bookkeeping). Checks that the
 * result is >= 0 or a negative errno. */
static long issue(struct fcall *c, bool fuzz)
{
	if (fuzz && call_index >= opt.trace)
		u_printf("sysfuzz: [%lu] %s(0x%lx, 0x%lx, 0x%lx, 0x%lx, 0x%lx, 0x%lx)\n", call_index,
			 call_name(c->nr), c->a[0], c->a[1], c->a[2], c->a[3], c->a[4], c->a[5]);
	c->ret = u_syscall6(c->nr, c->a[0], c->a[1], c->a[2], c->a[3], c->a[4], c->a[5]);
	if (fuzz && call_index >= opt.trace)
		u_printf("sysfuzz: [%lu]   = %ld\n", call_index, c->ret);
	unsigned i = (unsigned)(c->nr - ALDER_SYS_BASE);
	if (fuzz) {
		st.fuzz++;
		st.per_call[i]++;
	} else {
		st.book++;
	}
	if (c->ret >= 0) {
		st.ok += fuzz;
	} else if (c->ret >= -4095) {
		if (fuzz) {
			st.per_call_err[i]++;
			st.err_hist[-c->ret]++;
		}
	} else {
		fail_call(c, "result is neither >= 0 nor a negative errno");
	}
	return c->ret;
}

/* Bookkeeping calls: the fuzzer's own, arguments chosen to work. */
static long bk(uint64_t nr, uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5)
{
	struct fcall c = {nr, {a0, a1, a2, a3, a4, a5}, 0};
	return issue(&c, false);
}
#define BK0(nr) bk((nr), 0, 0, 0, 0, 0, 0)
#define BK1(nr, a) bk((nr), (uint64_t)(a), 0, 0, 0, 0, 0)
#define BK2(nr, a, b) bk((nr), (uint64_t)(a), (uint64_t)(b), 0, 0, 0, 0)
#define BK3(nr, a, b, c) bk((nr), (uint64_t)(a), (uint64_t)(b), (uint64_t)(c), 0, 0, 0)
#define BK4(nr, a, b, c, d) bk((nr), (uint64_t)(a), (uint64_t)(b), (uint64_t)(c), (uint64_t)(d), 0, 0)
#define BK5(nr, a, b, c, d, e)                                                                               \
	bk((nr), (uint64_t)(a), (uint64_t)(b), (uint64_t)(c), (uint64_t)(d), (uint64_t)(e), 0)
#define BK6(nr, a, b, c, d, e, f)                                                                            \
	bk((nr), (uint64_t)(a), (uint64_t)(b), (uint64_t)(c), (uint64_t)(d), (uint64_t)(e), (uint64_t)(f))

/* A bookkeeping call that must succeed; a failure is reported. */
static long must(long r, const char *what)
{
	if (r < 0)
		fail("bookkeeping %s failed: %ld (%s)", what, r, u_errname(r));
	return r;
}

/* ---- Registry: what we hold ------------------------------------------- */

/* Handle kinds. Fixed handles (the queue we submit SQEs on, the children's
 * code) are never closed or evicted by the fuzzer. */
enum { H_FREE, H_MEM, H_SPACE, H_QUEUE, H_EVENT, H_LANE, H_THREAD, H_OTHER, H_KINDS };

#define HSLOTS 4096 /* the kernel's HANDLE_TABLE_MAX */

struct hent {
	uint8_t kind;
	bool fixed;
	int16_t tix; /* H_THREAD: index in thr[] */
	uint32_t rights;
	uint64_t koid;
	uint64_t size; /* H_MEM: object size in bytes, 0 if unknown */
};

static struct hent reg[HSLOTS + 1];
static int live[HSLOTS];	 /* live handle numbers, in no order */
static int live_pos[HSLOTS + 1]; /* index in live[] + 1, 0 if not live */
static int nlive, nfixed;
static int max_slot; /* highest handle number ever seen */

/* Threads we made. T_SELF: a thread of our own process; T_SSCHILD: the
 * first thread of a child process running in OUR space; T_CHILD: the first
 * thread of a child process in a space we created. */
enum { T_NONE, T_SELF, T_SSCHILD, T_CHILD };

struct trec {
	uint64_t koid;
	uint8_t kind;
	bool supervised;
	bool ending; /* killed, or known gone: a wait on its pid returns */
	bool reaped;
	bool started; /* we started it (THREAD_START returned 0) */
	long pid;
	int nh; /* handles we hold to it */
};

#define TMAX 128
static struct trec thr[TMAX];
static long my_pid;

/* Our own-space mappings made by fuzzed calls (SPACE_MAP on SELF, queue
 * rings): unmapped whole at the end. */
struct omap {
	uint64_t addr, size;
};
static struct omap omaps[OMAP_CAP + 1];
static int nomaps;

/* Mappings made in spaces we created, so that later calls can aim at
 * them (a ring; entries go stale, which is fine). */
#define RMAPS 32
static struct rmap {
	uint64_t space_koid, addr, size;
} rmaps[RMAPS];
static unsigned rmap_next;

/* Streams whose two lanes we know (from SYS_STREAM_CREATE), by koid. */
#define PAIRS 32
static struct {
	uint64_t k[2];
} pairs[PAIRS];
static unsigned pair_next;

static long hello_pids[HELLO_CAP + 1];
static int nhello;

/* The queue SQEs go through. */
static struct u_queue mq;
static uint64_t mq_ring, mq_ring_size;
static long code_h; /* the children's code (no WRITE right) */

static int kind_of_type(uint32_t type)
{
	switch (type) {
	case ALDER_OBJ_MEMORY:
		return H_MEM;
	case ALDER_OBJ_SPACE:
		return H_SPACE;
	case ALDER_OBJ_QUEUE:
		return H_QUEUE;
	case ALDER_OBJ_EVENT:
		return H_EVENT;
	case ALDER_OBJ_LANE:
		return H_LANE;
	case ALDER_OBJ_THREAD:
		return H_THREAD;
	default:
		return H_OTHER;
	}
}

static int thr_by_koid(uint64_t koid)
{
	for (int i = 0; i < TMAX; i++)
		if (thr[i].kind != T_NONE && thr[i].koid == koid)
			return i;
	return -1;
}

static int thr_alloc(void)
{
	for (int i = 0; i < TMAX; i++) {
		struct trec *t = &thr[i];
		if (t->kind == T_NONE)
			return i;
		/* Reuse a record nothing refers to any more. */
		if (t->nh == 0 && (t->kind == T_SELF ? t->ending : t->reaped)) {
			t->kind = T_NONE;
			return i;
		}
	}
	return -1;
}

static void reg_add(int h, int kind, uint32_t rights, uint64_t koid, int tix, uint64_t size)
{
	if (h <= 0 || h > HSLOTS)
		return;
	if (live_pos[h]) {
		fail("handle %d handed out while we hold it", h);
		return;
	}
	reg[h] = (struct hent){(uint8_t)kind, false, (int16_t)tix, rights, koid, size};
	live[nlive] = h;
	live_pos[h] = ++nlive;
	if (h > max_slot)
		__atomic_store_n(&max_slot, h, __ATOMIC_RELAXED);
	if (kind == H_THREAD && tix >= 0)
		thr[tix].nh++;
}

static void reg_del(int h)
{
	if (h <= 0 || h > HSLOTS || !live_pos[h])
		return;
	int pos = live_pos[h] - 1, last = live[nlive - 1];
	live[pos] = last;
	live_pos[last] = pos + 1;
	live_pos[h] = 0;
	nlive--;
	if (reg[h].kind == H_THREAD && reg[h].tix >= 0)
		thr[reg[h].tix].nh--;
	if (reg[h].fixed)
		nfixed--;
	reg[h] = (struct hent){0};
}

static bool is_live(int h)
{
	return h > 0 && h <= HSLOTS && live_pos[h];
}

/* The handle number a 64-bit argument names, if the kernel can take it as
 * one; 0 otherwise. */
static int slot_of(uint64_t a)
{
	int64_t v = (int64_t)a;
	return v > 0 && v <= HSLOTS ? (int)v : 0;
}

/* A handle argument outside 1..INT32_MAX (negative, 0, high bits set)
 * names no handle: calls whose first check is the handle must say EBADF. */
static void expect_badf(const struct fcall *c)
{
	int64_t v = (int64_t)c->a[0];
	if ((v <= 0 || v > INT32_MAX) && c->ret != -ALDER_EBADF)
		fail_call(c, "a handle number outside 1..INT32_MAX was not refused with EBADF");
}

static struct trec *thread_of_slot(int s)
{
	if (!is_live(s) || reg[s].kind != H_THREAD || reg[s].tix < 0)
		return NULL;
	return &thr[reg[s].tix];
}

static bool self_space_thread(int s)
{
	struct trec *t = thread_of_slot(s);
	return t && (t->kind == T_SELF || t->kind == T_SSCHILD);
}

/* A random live handle, of kind want if possible (-1: any). */
static int pick_live(int want)
{
	if (nlive == 0)
		return 0;
	for (int tries = 0; tries < 12; tries++) {
		int h = live[below((uint64_t)nlive)];
		if (want < 0 || reg[h].kind == want)
			return h;
	}
	return want < 0 ? live[below((uint64_t)nlive)] : 0;
}

/* A slot we believe free (no handle): a closed or never used number. */
static int pick_free(void)
{
	int hi = max_slot + 2;
	for (int tries = 0; tries < 8; tries++) {
		int h = 1 + (int)below((uint64_t)hi);
		if (!is_live(h))
			return h;
	}
	return hi;
}

/* A live handle to the object koid (of kind kind) with rights need. */
static int handle_by_koid(uint64_t koid, int kind, uint32_t need)
{
	if (!koid)
		return 0;
	for (int i = 0; i < nlive; i++) {
		int h = live[i];
		if (reg[h].koid == koid && reg[h].kind == kind && (reg[h].rights & need) == need)
			return h;
	}
	return 0;
}

static void pair_add(int h0, int h1)
{
	if (!is_live(h0) || !is_live(h1))
		return;
	pairs[pair_next % PAIRS].k[0] = reg[h0].koid;
	pairs[pair_next % PAIRS].k[1] = reg[h1].koid;
	pair_next++;
}

/* Both lanes of a known stream, usable for reading and writing. */
static bool pick_pair(int *a, int *b)
{
	const uint32_t rw = ALDER_RIGHT_READ | ALDER_RIGHT_WRITE;
	unsigned n = pair_next < PAIRS ? pair_next : PAIRS;
	for (int tries = 0; tries < 6 && n; tries++) {
		unsigned i = (unsigned)below(n);
		int h0 = handle_by_koid(pairs[i].k[0], H_LANE, rw),
		    h1 = handle_by_koid(pairs[i].k[1], H_LANE, rw);
		if (h0 && h1) {
			bool swap = chance(50);
			*a = swap ? h1 : h0;
			*b = swap ? h0 : h1;
			return true;
		}
	}
	return false;
}

static void rmap_add(int space_h, uint64_t addr, uint64_t size)
{
	if (!is_live(space_h))
		return;
	rmaps[rmap_next % RMAPS] = (struct rmap){reg[space_h].koid, addr, size};
	rmap_next++;
}

/* A range in a space we made that was mapped at some point: sets the
 * space handle, a page-aligned start and a size inside it. */
static bool pick_rmap(uint64_t *space, uint64_t *addr, uint64_t *size)
{
	if (rmap_next == 0)
		return false;
	unsigned n = rmap_next < RMAPS ? rmap_next : RMAPS;
	const struct rmap *r = &rmaps[below(n)];
	int h = handle_by_koid(r->space_koid, H_SPACE, 0);
	if (!h)
		return false;
	uint64_t pages = r->size / PAGE, first = below(pages);
	*space = (uint64_t)h;
	*addr = r->addr + first * PAGE;
	*size = PAGE * (1 + below(pages - first));
	return true;
}

/* ---- Protected ranges -------------------------------------------------- */

struct range {
	uint64_t lo, hi;
};

static uint64_t image_lo, image_hi;

static bool overlaps(uint64_t lo, uint64_t hi, uint64_t plo, uint64_t phi)
{
	return lo < phi && plo < hi;
}

/* [lo, hi) of [addr, addr + len) as the kernel could touch it: whole pages,
 * clamped to user space (an end past it or a wrap runs to its end). */
static struct range page_span(uint64_t addr, uint64_t len)
{
	struct range r;
	r.lo = addr & ~(PAGE - 1);
	if (len == 0)
		len = 1;
	if (addr + len < addr || addr + len > USER_TOP)
		r.hi = USER_TOP;
	else
		r.hi = (addr + len + PAGE - 1) & ~(PAGE - 1);
	return r;
}

/* May [addr, addr + len) of our own space be mapped over, unmapped or
 * protected? Not our image, stack, the arena outside SAC, our ring. */
static bool self_range_ok(uint64_t addr, uint64_t len)
{
	if (addr >= USER_TOP)
		return true; /* not user space at all: refused */
	struct range r = page_span(addr, len);
	if (overlaps(r.lo, r.hi, image_lo, image_hi) ||
	    overlaps(r.lo, r.hi, ULIB_STACK_CEILING - STACK_ZONE, ULIB_STACK_CEILING) ||
	    overlaps(r.lo, r.hi, ARENA, SAC) || overlaps(r.lo, r.hi, mq_ring, mq_ring + mq_ring_size))
		return false;
	return true;
}

/* May the kernel write [p, p + len) of our space? Only where losing the
 * contents costs nothing. A kernel write stops at the first page it cannot
 * write, so the read-only page after SCRATCH and the protection-0 page after
 * RW2 end those areas. */
static bool out_ok(uint64_t p, uint64_t len)
{
	if (p >= USER_TOP)
		return true;
	struct range r = page_span(p, len);
	if (p >= SCRATCH && p < ROPAGE && r.hi > ROPAGE)
		r.hi = ROPAGE + PAGE;
	if (p >= RW2 && p < NONEPAGE && r.hi > NONEPAGE)
		r.hi = NONEPAGE + PAGE;
	if (overlaps(r.lo, r.hi, image_lo, image_hi) ||
	    overlaps(r.lo, r.hi, ULIB_STACK_CEILING - STACK_ZONE, ULIB_STACK_CEILING) ||
	    overlaps(r.lo, r.hi, STAGE_ACT, STAGE_END) ||
	    overlaps(r.lo, r.hi, mq_ring, mq_ring + mq_ring_size))
		return false;
	return true;
}

/* ---- Value generators ------------------------------------------------- */

static const uint64_t bad_addrs[] = {
    0,
    1,
    0xfff,
    0x1000,
    0xffffffff80000000ull, /* the kernel image */
    0xffffffff80200000ull,
    0xffff800000000000ull, /* the direct map */
    0xffff800000001000ull,
    0xffffff0000000000ull, /* kernel stacks */
    0x0000800000000000ull, /* first non-canonical */
    0x00007ffffffff000ull, /* last user page */
    0x00007ffffffffff8ull,
    0x8000000000000000ull,
    0xdead000000000000ull,
    0xfffffffffffff000ull,
    0xffffffffffffffffull,
};

static uint64_t gen_bad_addr(void)
{
	uint64_t a = bad_addrs[below(U_ARRAY_SIZE(bad_addrs))];
	if (chance(30))
		a += below(PAGE);
	return a;
}

/* A size or length: small, page-ish, limits +- 1, huge, wrapping. */
static uint64_t gen_size(void)
{
	switch (below(16)) {
	case 0:
		return 0;
	case 1:
		return 1 + below(16);
	case 2:
		return below(PAGE * 2);
	case 3:
		return PAGE;
	case 4:
		return PAGE * (1 + below(16));
	case 5:
		return PAGE * (1 + below(16)) + (chance(50) ? 1 : (uint64_t)-1);
	case 6:
		return PAGE - 1;
	case 7:
		return PAGE * (1 + below(512));
	case 8:
		return ALDER_MEM_MAX + (uint64_t)(int64_t)(below(3) - 1) * PAGE;
	case 9:
		return (uint64_t)1 << below(64);
	case 10:
		return UINT64_MAX - below(PAGE);
	case 11:
		return (uint64_t)0 - PAGE * (1 + below(4)); /* wraps */
	case 12:
		return ALDER_RW_MAX + below(2);
	case 13:
		return 64 * 1024 + below(2);
	case 14:
		return rnd();
	default:
		return 8 + below(120);
	}
}

/* A page-aligned size, usually small. */
static uint64_t gen_psize(void)
{
	if (chance(85))
		return PAGE * (1 + below(chance(80) ? 8 : 256));
	return gen_size();
}

/* Any integer. */
static uint64_t gen_int(void)
{
	switch (below(14)) {
	case 0:
		return 0;
	case 1:
		return 1;
	case 2:
		return UINT64_MAX;
	case 3:
		return below(64);
	case 4:
		return (uint64_t)1 << below(64);
	case 5:
		return ((uint64_t)1 << below(64)) - 1;
	case 6:
		return (uint64_t)INT32_MAX + below(3) - 1;
	case 7:
		return (uint64_t)(int64_t)INT32_MIN;
	case 8:
		return 0xffffffffull + below(3) - 1;
	case 9:
		return (uint64_t)pick_live(-1);
	case 10:
		return gen_bad_addr();
	case 11:
		return (uint32_t)rnd();
	case 12:
		return gen_size();
	default:
		return rnd();
	}
}

/* A handle argument, of kind want if there is one (-1: any). */
static uint64_t gen_handle(int want)
{
	unsigned r = (unsigned)below(100);
	int h;

	if (r < 60 && (h = pick_live(want)) != 0)
		return (uint64_t)h;
	if (r < 75 && (h = pick_live(-1)) != 0)
		return (uint64_t)h;
	switch (below(12)) {
	case 0:
		return 0;
	case 1:
		return SELF;
	case 2:
		return (uint64_t)(int64_t) - (int64_t)(2 + below(8));
	case 3:
		return INT32_MAX;
	case 4:
		return (uint64_t)(int64_t)INT32_MIN;
	case 5:
	case 6:
		return (uint64_t)pick_free();
	case 7:
		return HSLOTS + below(3);
	case 8:
		return ((uint64_t)1 << 32) | (uint64_t)pick_live(-1); /* a live handle with high bits */
	case 9:
		return 0xffffffffull; /* -1 in 32 bits, positive in 64 */
	case 10:
		return 0x80000000ull;
	default:
		return rnd();
	}
}

/* A pointer the kernel may write len bytes through (or a bad one). */
static uint64_t gen_out_ptr(uint64_t len)
{
	for (int tries = 0; tries < 8; tries++) {
		uint64_t p;
		switch (below(16)) {
		case 0:
		case 1:
		case 2:
			p = SCRATCH + below(SCRATCH_PAGES * PAGE);
			if (chance(60))
				p &= ~(uint64_t)7;
			break;
		case 3:
			p = ROPAGE - below(64); /* runs into the read-only page */
			break;
		case 4:
			p = NONEPAGE - below(64); /* runs into the protection-0 page */
			break;
		case 5:
			p = RW2 + below(2 * PAGE);
			break;
		case 6:
		case 7:
			p = SAC + below(SAC_PAGES * PAGE);
			break;
		case 8:
			p = HOLE1 + below(PAGE);
			break;
		case 9:
			p = ROPAGE + below(PAGE);
			break;
		case 10:
			if (nomaps) {
				const struct omap *m = &omaps[below((uint64_t)nomaps)];
				p = m->addr + below(m->size + 64);
			} else {
				p = SCRATCH;
			}
			break;
		case 11:
			p = NONEPAGE + below(PAGE);
			break;
		case 12:
		case 13:
			p = gen_bad_addr();
			break;
		case 14:
			p = (SCRATCH + PAGE * (1 + below(SCRATCH_PAGES - 1))) -
			    below(16); /* straddles a page */
			break;
		default:
			p = rnd();
			break;
		}
		if (out_ok(p, len))
			return p;
	}
	return SCRATCH + below(64);
}

/* A pointer the kernel only reads: anything, including our own memory. */
static uint64_t gen_in_ptr(void)
{
	static uint64_t local_word;
	switch (below(8)) {
	case 0:
		return (uint64_t)(uintptr_t)&local_word;
	case 1:
		return image_lo + below(image_hi - image_lo);
	case 2:
		return (uint64_t)(uintptr_t)&rng_state;
	case 3:
		return ROPAGE + below(PAGE);
	default:
		return gen_out_ptr(0);
	}
}

/* A user address for a mapping in a space that is not ours. */
static uint64_t gen_map_addr(void)
{
	switch (below(10)) {
	case 0:
		return 0;
	case 1:
		return CHILD_CODE + PAGE * below(4);
	case 2:
		return SAC + PAGE * below(SAC_PAGES);
	case 3:
		return PAGE * (1 + below(1024));
	case 4:
		return USER_TOP - PAGE * (1 + below(4));
	case 5:
		return (rnd() & (USER_TOP - 1)) & ~(PAGE - 1);
	case 6:
		return PAGE * (1 + below(64)) + 1 + below(PAGE - 1); /* misaligned */
	case 7:
		return 0x100000000000ull + PAGE * below(64); /* where the kernel picks */
	default:
		return gen_bad_addr();
	}
}

/* An address range in our own space for map/unmap/protect. */
static void gen_self_range(uint64_t *addr, uint64_t *size, bool for_map)
{
	for (int tries = 0; tries < 8; tries++) {
		uint64_t a, s;
		switch (below(10)) {
		case 0:
		case 1:
		case 2: {
			uint64_t first = below(SAC_PAGES);
			a = SAC + first * PAGE;
			s = PAGE * (1 + below(SAC_PAGES - first));
			break;
		}
		case 3:
			if (nomaps && !for_map) {
				const struct omap *m = &omaps[below((uint64_t)nomaps)];
				uint64_t pages = m->size / PAGE, first = below(pages);
				a = m->addr + first * PAGE;
				s = PAGE * (1 + below(pages - first));
			} else {
				a = for_map ? 0 : SAC;
				s = gen_psize();
			}
			break;
		case 4:
			/* From inside SAC, a size that wraps: must be refused. */
			a = SAC + PAGE * below(SAC_PAGES);
			s = (uint64_t)0 - PAGE * below(4) - (chance(50) ? PAGE : 0) - (a & 0xff000);
			if (a + s >= a)
				s = UINT64_MAX - PAGE + 1;
			*addr = a;
			*size = s;
			return;
		case 5:
			a = gen_bad_addr();
			s = gen_size();
			break;
		case 6:
			a = SAC + below(SAC_PAGES * PAGE); /* misaligned mostly */
			s = gen_size();
			break;
		case 7:
			a = for_map ? 0 : SAC;
			s = gen_size();
			break;
		default:
			a = (rnd() & (USER_TOP - 1)) & ~(PAGE - 1);
			s = gen_psize();
			break;
		}
		if (self_range_ok(a, s)) {
			*addr = a;
			*size = s;
			return;
		}
	}
	*addr = SAC;
	*size = PAGE;
}

static uint32_t gen_rights(void)
{
	switch (below(4)) {
	case 0:
		return ALDER_RIGHTS_ALL & ~(1u << below(7));
	case 1:
		return (uint32_t)below(0x80);
	case 2:
		return (uint32_t)rnd();
	default:
		return ALDER_RIGHTS_ALL;
	}
}

static uint64_t gen_prot(void)
{
	return chance(90) ? below(8) : gen_int();
}

/* ---- Registering new handles ------------------------------------------ */

static struct alder_handle_info hinfo; /* bookkeeping output (ours, private) */

/* Look up h's type, rights and koid. */
static bool handle_facts(int h, struct alder_handle_info *out)
{
	long r = BK2(SYS_HANDLE_INFO, h, (uint64_t)(uintptr_t)&hinfo);
	if (r != 0)
		return false;
	*out = hinfo;
	return true;
}

static void omap_add(uint64_t addr, uint64_t size)
{
	if (nomaps < OMAP_CAP + 1)
		omaps[nomaps++] = (struct omap){addr, size};
}

/* Unmap a recorded range, except the ring we use (the kernel may have put
 * it into a hole of the range). */
static void omap_drop(int i)
{
	uint64_t lo = omaps[i].addr, hi = lo + omaps[i].size;
	if (mq_ring_size && overlaps(lo, hi, mq_ring, mq_ring + mq_ring_size)) {
		if (lo < mq_ring)
			BK3(SYS_SPACE_UNMAP, SELF, lo, mq_ring - lo);
		if (hi > mq_ring + mq_ring_size)
			BK3(SYS_SPACE_UNMAP, SELF, mq_ring + mq_ring_size, hi - mq_ring - mq_ring_size);
	} else {
		BK3(SYS_SPACE_UNMAP, SELF, lo, hi - lo);
	}
	omaps[i] = omaps[--nomaps];
}

static struct alder_regs gone_probe; /* bookkeeping output */

/* The thread behind h has ended: control calls other than GETPID (which
 * answers for as long as the handle exists) fail with -ESRCH. Reading the
 * registers is the one without side effects. */
static bool thread_gone(int h)
{
	return BK3(SYS_THREAD_REGS, h, (uint64_t)(uintptr_t)&gone_probe, 0) == -ALDER_ESRCH;
}

/* A thread handle we have not seen: it can only have come through a
 * stream, so it cannot be a thread of our own space (those handles have no
 * TRANSFER right). */
static int adopt_thread(const struct alder_handle_info *in, int h)
{
	int tix = thr_by_koid(in->koid);
	if (tix >= 0)
		return tix;
	long pid = BK3(SYS_THREAD_CTL, h, ALDER_THREAD_GETPID, 0);
	if (pid == my_pid)
		fail("a handle to a thread of our own process arrived (handle %d, koid %lu)", h, in->koid);
	tix = thr_alloc();
	if (tix < 0)
		return -1;
	bool gone = pid < 0 || thread_gone(h);
	thr[tix] = (struct trec){.koid = in->koid,
				 .kind = pid == my_pid ? T_SELF : T_CHILD,
				 .ending = gone,
				 .reaped = gone,
				 .started = true, /* unknown: assume it may run */
				 .pid = pid};
	return tix;
}

/* h appeared in our table without being returned to us (a stream handed
 * it over): register it. */
static void adopt(int h, const struct alder_handle_info *in)
{
	int kind = kind_of_type(in->type);
	int tix = -1;
	uint64_t size = 0;
	if (kind == H_THREAD)
		tix = adopt_thread(in, h);
	for (int i = 0; i < nlive && kind == H_MEM; i++)
		if (reg[live[i]].koid == in->koid)
			size = reg[live[i]].size;
	reg_add(h, kind, in->rights, in->koid, tix, size);
}

/* Handles arrive unannounced when streams match (PULL_HANDLE, OFFER/
 * ACCEPT), possibly from the kernel's stream thread. Each takes the lowest
 * free number, so look at the numbers we believe free from the bottom up
 * until one really is. full: look at every number up to past max_slot. */
static void probe_handles(bool full)
{
	int hi = max_slot + 40;
	if (hi > HSLOTS)
		hi = HSLOTS;
	for (int h = 1; h <= hi; h++) {
		struct alder_handle_info in;
		if (is_live(h)) {
			if (!full)
				continue;
			if (!handle_facts(h, &in)) {
				fail("handle %d (kind %d) vanished", h, reg[h].kind);
				reg_del(h);
			} else if (in.koid != reg[h].koid || in.rights != reg[h].rights) {
				fail("handle %d changed: koid %lu -> %lu, rights 0x%x -> 0x%x", h,
				     reg[h].koid, in.koid, reg[h].rights, in.rights);
			}
			continue;
		}
		if (handle_facts(h, &in))
			adopt(h, &in);
		else if (!full)
			break;
	}
}

/* A handle was just returned to us by a call (kind from the call). */
static void got_handle(int h, int kind, int tix, uint64_t size, const struct fcall *c)
{
	struct alder_handle_info in;
	if (h <= 0 || h > HSLOTS) {
		if (c)
			fail_call(c, "handle out of range");
		return;
	}
	if (!handle_facts(h, &in)) {
		if (c)
			fail_call(c, "returned handle does not exist");
		return;
	}
	if (kind_of_type(in.type) != kind && c)
		fail_call(c, "returned handle has the wrong type");
	if (kind == H_THREAD && tix >= 0 && thr[tix].koid == 0)
		thr[tix].koid = in.koid;
	reg_add(h, kind_of_type(in.type), in.rights, in.koid, kind == H_THREAD ? tix : -1, size);
}

/* ---- Threads and children --------------------------------------------- */

/* Threads of our own process that may still run. */
static int live_self_threads(void)
{
	int n = 0;
	for (int i = 0; i < TMAX; i++)
		n += thr[i].kind == T_SELF && !thr[i].ending;
	return n;
}

/* Child processes not yet waited for. */
static int unreaped_children(void)
{
	int n = 0;
	for (int i = 0; i < TMAX; i++)
		n += thr[i].kind != T_NONE && thr[i].kind != T_SELF && !thr[i].reaped;
	return n;
}

/* A handle to thread tix with MANAGE (other than not_h), or 0. */
static int handle_of_thread(int tix, int not_h)
{
	for (int i = 0; i < nlive; i++) {
		int h = live[i];
		if (h != not_h && reg[h].kind == H_THREAD && reg[h].tix == tix &&
		    (reg[h].rights & ALDER_RIGHT_MANAGE))
			return h;
	}
	return 0;
}

/* Make a thread of our own space (T_SELF) end: start or resume it until it
 * is gone. Its registers always point at sf_self_stub. */
static void self_thread_finish(int tix)
{
	struct trec *t = &thr[tix];
	int h = handle_of_thread(tix, 0);
	if (t->ending)
		return;
	if (!h) {
		fail("thread koid %lu of our own process cannot be ended: no handle with MANAGE left",
		     t->koid);
		return;
	}
	for (int i = 0; i < 300; i++) {
		if (thread_gone(h)) {
			t->ending = true;
			return;
		}
		if (BK3(SYS_THREAD_CTL, h, ALDER_THREAD_START, 0) != 0)
			BK3(SYS_THREAD_CTL, h, ALDER_THREAD_RESUME, 0);
		if (i > 4)
			sys_sleep(U_NS_PER_MS / 4);
		else
			sys_yield();
	}
	fail("thread koid %lu of our own process does not end (started/resumed 300 times)", t->koid);
}

/* Kill a child process (T_CHILD, T_SSCHILD) through any handle we hold. */
static void child_kill(int tix)
{
	struct trec *t = &thr[tix];
	int h = handle_of_thread(tix, 0);
	if (t->ending)
		return;
	if (!h) {
		fail("child pid %ld cannot be killed: no handle with MANAGE left", t->pid);
		return;
	}
	long r = BK3(SYS_THREAD_CTL, h, ALDER_THREAD_KILL, 0);
	if (r != 0 && r != -ALDER_ESRCH)
		fail("kill of child pid %ld: %ld", t->pid, r);
	else
		t->ending = true;
}

static struct alder_exit_info exit_info; /* bookkeeping output */

static void child_reap(int tix)
{
	struct trec *t = &thr[tix];
	if (t->reaped || t->kind == T_SELF)
		return;
	child_kill(tix);
	if (!t->ending)
		return; /* cannot kill it: a wait would never return */
	if (t->pid <= 0) {
		t->reaped = true;
		return;
	}
	long r = BK2(SYS_WAIT, t->pid, (uint64_t)(uintptr_t)&exit_info);
	if (r != t->pid && r != -ALDER_ECHILD)
		fail("wait for killed child pid %ld: %ld", t->pid, r);
	t->reaped = true;
}

/* Before the last handle with MANAGE to a thread goes: a child is killed
 * (a stopped or never-started child whose last handle is closed could
 * never be ended or waited for), a thread of ours is made to end. */
static void before_close(int h)
{
	struct trec *t = thread_of_slot(h);
	if (!t || t->ending || !(reg[h].rights & ALDER_RIGHT_MANAGE))
		return;
	int tix = reg[h].tix;
	if (handle_of_thread(tix, h))
		return;
	if (t->kind == T_SELF) {
		self_thread_finish(tix);
		return;
	}
	/*
	 * A child that never ran: sometimes let its last handle go as is.
	 * Nothing can start, kill or wait for it then; the kernel must end
	 * it and take it out of the process table at once: the object
	 * counts after closing everything say whether it did. We never wait
	 * for it.
	 */
	if (!t->started && !opt.race && !(opt.skip & SKIP_ABANDON) && st.abandoned < 64 && chance(30)) {
		st.abandoned++;
		t->reaped = true;
		t->ending = true; /* the kernel's to end now: nothing for teardown to kill */
		return;
	}
	child_kill(tix);
}

static void close_handle(int h)
{
	if (!is_live(h) || reg[h].fixed)
		return;
	before_close(h);
	long r = BK1(SYS_HANDLE_CLOSE, h);
	if (r != 0)
		fail("close of live handle %d (kind %d): %ld", h, reg[h].kind, r);
	reg_del(h);
}

/* A new thread handle h: classify and record it. space_self: created on
 * ALDER_HANDLE_SELF_SPACE. */
static void got_thread(int h, bool space_self, uint64_t flags, const struct fcall *c)
{
	bool newproc = flags & (ALDER_THREAD_NEW_PROCESS | ALDER_THREAD_SUPERVISED);
	int kind = space_self ? (newproc ? T_SSCHILD : T_SELF) : T_CHILD;
	int tix = thr_alloc();

	if (tix < 0) {
		/* No room to track it (cannot happen within the caps): end it. */
		fail_call(c, "no room to track a new thread");
		long pid = BK3(SYS_THREAD_CTL, h, ALDER_THREAD_GETPID, 0);
		BK3(SYS_THREAD_CTL, h, kind == T_SELF ? ALDER_THREAD_START : ALDER_THREAD_KILL, 0);
		BK1(SYS_HANDLE_CLOSE, h);
		if (kind != T_SELF && pid > 0)
			BK2(SYS_WAIT, pid, (uint64_t)(uintptr_t)&exit_info);
		return;
	}
	thr[tix] = (struct trec){.kind = (uint8_t)kind, .supervised = (flags & ALDER_THREAD_SUPERVISED) != 0};
	long pid = BK3(SYS_THREAD_CTL, h, ALDER_THREAD_GETPID, 0);
	if (pid <= 0)
		fail_call(c, "GETPID of the new thread failed");
	thr[tix].pid = pid;
	if (kind == T_SELF && my_pid && pid != my_pid)
		fail_call(c, "thread in our own space without NEW_PROCESS is not in our process");
	if (kind != T_SELF && pid == my_pid)
		fail_call(c, "NEW_PROCESS thread is in our own process");
	if (kind == T_CHILD) {
		got_handle(h, H_THREAD, tix, 0, c);
		return;
	}
	/* Ours or in our space: keep only a handle without TRANSFER. */
	long d = BK2(SYS_HANDLE_DUP, h, ALDER_RIGHTS_ALL & ~ALDER_RIGHT_TRANSFER);
	got_handle(h, H_THREAD, tix, 0, c);
	if (d > 0) {
		got_handle((int)d, H_THREAD, tix, 0, NULL);
		if (is_live((int)d) && (reg[d].rights & ALDER_RIGHT_TRANSFER))
			fail("dup without TRANSFER kept TRANSFER");
	}
	if (thr[tix].nh > 1 || d <= 0) {
		if (d <= 0) {
			/* Could not make a safe copy: end the thread now. */
			if (kind == T_SELF)
				self_thread_finish(tix);
			else
				child_kill(tix);
		}
		if (is_live(h)) {
			BK1(SYS_HANDLE_CLOSE, h);
			reg_del(h);
		}
	}
}

/* ---- Spaces ------------------------------------------------------------ */

/* A space we created gets the children's code. */
static void space_setup(int h)
{
	if (code_h > 0 && chance(90))
		BK6(SYS_SPACE_MAP, h, code_h, 0, CHILD_CODE, PAGE, ALDER_PROT_READ | ALDER_PROT_EXEC);
}

/* ---- The fuzzed calls -------------------------------------------------- */

static void racer_hold(bool hold);

#define A(i) (c.a[i])

static uint64_t spawn_budget;
static unsigned logs_left;
static uint64_t transient_threads;

/* Paths and arguments live on the read-only page. */
#define RO_HELLO 0	/* "/tests/hello" */
#define RO_NOPE 16	/* "/tests/nonexistent" */
#define RO_NUL 48	/* "/tests/hello\0junk" */
#define RO_TESTS 80	/* "/tests/" */
#define RO_REL 96	/* "tests/hello" */
#define RO_ARGS 128	/* "fuzz" */
#define RO_ARG_EXIT 144 /* "exit:3" */
#define RO_ARG_NUL 160	/* "a\0b" */
#define RO_LONG 256	/* 3000 x 'a', no NUL */
#define RO_LONG_LEN 3000
static const char log_line[] = "sysfuzz: log probe\n";
#define LOG_LEN (sizeof(log_line) - 1)
#define RO_LOG (PAGE - LOG_LEN) /* ends at the page end: the hole follows */

static void ro_fill(uint8_t *p)
{
	memset(p, 'x', PAGE);
	memcpy(p + RO_HELLO, "/tests/hello", 13);
	memcpy(p + RO_NOPE, "/tests/nonexistent", 19);
	memcpy(p + RO_NUL, "/tests/hello\0junk", 18);
	memcpy(p + RO_TESTS, "/tests/", 8);
	memcpy(p + RO_REL, "tests/hello", 12);
	memcpy(p + RO_ARGS, "fuzz", 5);
	memcpy(p + RO_ARG_EXIT, "exit:3", 7);
	memcpy(p + RO_ARG_NUL, "a\0b", 4);
	memset(p + RO_LONG, 'a', RO_LONG_LEN);
	memcpy(p + RO_LOG, log_line, LOG_LEN);
}

static void fz_log(void)
{
	struct fcall c = {SYS_LOG, {0}, 0};
	bool prints = false;
	switch (below(5)) {
	case 0:
		A(0) = ROPAGE + RO_LOG;
		A(1) = LOG_LEN;
		prints = true;
		break;
	case 1: /* runs into the hole: nothing may be written */
		A(0) = ROPAGE + RO_LOG;
		A(1) = LOG_LEN + 1 + below(8192);
		break;
	case 2:
		A(0) = gen_bad_addr();
		A(1) = gen_size();
		break;
	case 3:
		A(0) = gen_in_ptr();
		A(1) = 64 * 1024 + 1 + below(1u << 20);
		break;
	default:
		A(0) = gen_in_ptr();
		A(1) = 0;
		break;
	}
	if (prints && logs_left == 0) {
		A(1) = 0;
		prints = false;
	}
	logs_left -= prints;
	issue(&c, true);
	if (c.ret >= 0 && (uint64_t)c.ret != A(1))
		fail_call(&c, "log returned another length");
	if (c.ret >= 0 && A(0) == ROPAGE + RO_LOG && A(1) > LOG_LEN)
		fail_call(&c, "log of a range running into a hole succeeded");
}

static void fz_sleep(void)
{
	struct fcall c = {SYS_SLEEP, {0}, 0};
	switch (below(4)) {
	case 0:
		A(0) = 0;
		break;
	case 1:
		A(0) = below(U_NS_PER_MS);
		break;
	case 2:
		A(0) = UINT64_MAX - below(1000); /* the deadline overflows: refused */
		break;
	default:
		A(0) = below(50000);
		break;
	}
	issue(&c, true);
}

static void fz_clock(void)
{
	struct fcall c = {SYS_CLOCK, {gen_out_ptr(8)}, 0};
	issue(&c, true);
}

static void fz_info(void)
{
	struct fcall c = {
	    SYS_INFO, {chance(80) ? below(ALDER_INFO_COUNT + 2) : gen_int(), gen_out_ptr(8)}, 0};
	issue(&c, true);
	if (A(0) >= ALDER_INFO_COUNT && c.ret != -ALDER_EINVAL)
		fail_call(&c, "unknown selector not refused");
}

static void fz_yield(void)
{
	struct fcall c = {SYS_YIELD, {gen_int(), gen_int()}, 0};
	issue(&c, true);
}

static void fz_spawn(void)
{
	struct fcall c = {SYS_SPAWN, {0}, 0};
	bool hello = false;
	switch (below(8)) {
	case 0:
	case 1:
		A(0) = ROPAGE + RO_HELLO;
		A(1) = 12;
		hello = true;
		break;
	case 2:
		A(0) = ROPAGE + RO_NOPE;
		A(1) = chance(50) ? 18 : 1 + below(18);
		break;
	case 3:
		A(0) = ROPAGE + (chance(50) ? RO_NUL : RO_TESTS);
		A(1) = chance(50) ? 17 : 1 + below(7);
		break;
	case 4:
		A(0) = ROPAGE + (chance(50) ? RO_REL : RO_LONG);
		A(1) = chance(50) ? 11 : 200 + below(100);
		break;
	case 5:
		A(0) = ROPAGE + RO_LOG; /* runs into the hole */
		A(1) = 1 + below(255);
		break;
	default:
		A(0) = gen_bad_addr();
		A(1) = gen_size();
		break;
	}
	switch (below(6)) {
	case 0:
		A(2) = ROPAGE + RO_ARGS;
		A(3) = 4;
		break;
	case 1:
		A(2) = ROPAGE + RO_ARG_EXIT;
		A(3) = 6;
		break;
	case 2:
		A(2) = ROPAGE + RO_ARG_NUL;
		A(3) = 3;
		break;
	case 3:
		A(2) = ROPAGE + RO_LONG;
		A(3) = chance(50) ? below(RO_LONG_LEN) : 4000 + below(3);
		break;
	case 4:
		A(2) = gen_bad_addr();
		A(3) = gen_size();
		break;
	default:
		A(2) = 0;
		A(3) = 0;
		break;
	}
	A(4) = chance(50) ? 0 : gen_handle(-1);
	/* A run of /tests/hello may start: respect the budget and the cap. */
	/* (the kernel strips a leading '/', so "tests/hello" is it too) */
	bool may_run = hello || A(0) == ROPAGE + RO_NUL || A(0) == ROPAGE + RO_REL;
	if (may_run && (spawn_budget == 0 || nhello >= HELLO_CAP)) {
		A(0) = ROPAGE + RO_NOPE;
		A(1) = 18;
		may_run = false;
	}
	issue(&c, true);
	if (c.ret > 0) {
		if (!may_run || A(1) != (A(0) == ROPAGE + RO_REL ? 11 : 12)) {
			fail_call(&c, "spawn of something other than /tests/hello succeeded");
			BK2(SYS_WAIT, c.ret, (uint64_t)(uintptr_t)&exit_info);
			return;
		}
		spawn_budget--;
		st.spawns++;
		hello_pids[nhello++] = c.ret;
	}
}

static void hello_reap(int i)
{
	long r = BK2(SYS_WAIT, hello_pids[i], (uint64_t)(uintptr_t)&exit_info);
	if (r != hello_pids[i] && r != -ALDER_ECHILD)
		fail("wait for /tests/hello pid %ld: %ld", hello_pids[i], r);
	else if (r > 0 && !(exit_info.how == ALDER_EXIT_NORMAL))
		fail("/tests/hello pid %ld did not exit normally (how %d status %d)", hello_pids[i],
		     exit_info.how, exit_info.status);
	hello_pids[i] = hello_pids[--nhello];
}

static void fz_wait(void)
{
	struct fcall c = {SYS_WAIT, {0, gen_out_ptr(sizeof(struct alder_exit_info))}, 0};
	int hello_i = -1, tix = -1;
	switch (below(6)) {
	case 0:
		if (nhello) {
			hello_i = (int)below((uint64_t)nhello);
			A(0) = (uint64_t)hello_pids[hello_i];
			break;
		}
		__attribute__((fallthrough));
	case 1: {
		int cand[TMAX], n = 0;
		for (int i = 0; i < TMAX; i++)
			if (thr[i].kind != T_NONE && thr[i].kind != T_SELF && thr[i].ending &&
			    !thr[i].reaped && thr[i].pid > 0)
				cand[n++] = i;
		if (n) {
			tix = cand[below((uint64_t)n)];
			A(0) = (uint64_t)thr[tix].pid;
			break;
		}
		A(0) = 0;
		break;
	}
	case 2:
		A(0) = (uint64_t)my_pid; /* ourselves: not our child */
		break;
	case 3:
		A(0) = 1; /* init: not our child */
		break;
	default:
		A(0) = chance(50) ? (uint64_t)(int64_t) - (int64_t)below(3) : ((uint64_t)1 << 32) + below(3);
		break;
	}
	/* Never a child that may not end. */
	for (int i = 0; i < TMAX; i++)
		if (thr[i].kind != T_NONE && thr[i].kind != T_SELF && !thr[i].ending && !thr[i].reaped &&
		    (uint64_t)thr[i].pid == A(0))
			A(0) = 0;
	issue(&c, true);
	if (c.ret > 0) {
		if ((uint64_t)c.ret != A(0))
			fail_call(&c, "wait returned another pid");
		if (hello_i >= 0)
			hello_pids[hello_i] = hello_pids[--nhello];
		else if (tix >= 0)
			thr[tix].reaped = true;
		else
			fail_call(&c, "wait succeeded on a pid that is not our child");
	}
}

static void fz_thread_create(void)
{
	struct fcall c = {SYS_THREAD_CREATE, {0}, 0};
	switch (below(4)) {
	case 0:
	case 1:
		A(0) = STUB;
		break;
	case 2:
		A(0) = below(PAGE); /* below the first page: refused */
		break;
	default:
		A(0) = USER_TOP + (chance(50) ? below(PAGE) : gen_bad_addr() % 0x10000);
		if (A(0) < USER_TOP)
			A(0) = USER_TOP;
		if (chance(30))
			A(0) = 0xffffffff80000000ull;
		break;
	}
	A(1) = gen_int();
	switch (below(4)) {
	case 0:
		A(2) = SCRATCH + PAGE * (1 + below(SCRATCH_PAGES - 1));
		break;
	case 1:
		A(2) = SCRATCH + 8 + PAGE; /* misaligned */
		break;
	case 2:
		A(2) = gen_bad_addr();
		break;
	default:
		A(2) = gen_int() & ~(uint64_t)15;
		break;
	}
	if (A(0) == STUB && live_self_threads() + (int)transient_threads >= SELF_CAP)
		A(0) = 0;
	issue(&c, true);
	if (c.ret > 0) {
		if (A(0) != STUB)
			fail_call(&c, "a thread with an entry outside user space was created");
		if (++transient_threads >= 3) {
			sys_yield();
			transient_threads = 0;
		}
	}
}

static void fz_console_read(void)
{
	/* Only what cannot block: nothing to read, or a range the kernel must
	 * refuse before looking at the console. */
	struct fcall c = {SYS_CONSOLE_READ, {0}, 0};
	if (chance(50)) {
		A(0) = gen_out_ptr(0);
		A(1) = 0;
	} else {
		A(0) = 0xffff800000000000ull + below(PAGE) * (chance(50) ? 1 : 0x100000);
		if (chance(30))
			A(0) = 0x8000000000000000ull;
		A(1) = 1 + below(256);
		if (chance(30)) {
			A(0) = USER_TOP - 8; /* straddles the end of user space */
			A(1) = 64;
		}
	}
	issue(&c, true);
	if (A(1) && c.ret != -ALDER_EFAULT)
		fail_call(&c, "console read of a kernel range not refused with EFAULT");
}

static void fz_handle_close(void)
{
	struct fcall c = {SYS_HANDLE_CLOSE, {gen_handle(-1)}, 0};
	int s = slot_of(A(0));
	if (s && !is_live(s)) {
		/* A handle may have arrived meanwhile. */
		struct alder_handle_info in;
		if (handle_facts(s, &in))
			adopt(s, &in);
	}
	if (s && is_live(s) && reg[s].fixed)
		A(0) = (uint64_t)(int64_t)-2;
	s = slot_of(A(0));
	if (s && is_live(s))
		before_close(s);
	bool was_live = s && is_live(s);
	issue(&c, true);
	expect_badf(&c);
	if (c.ret == 0) {
		if (!was_live)
			fail_call(&c, "close of a handle we do not hold succeeded");
		reg_del(s);
	} else if (was_live) {
		fail_call(&c, "close of a live handle failed");
	}
}

static void fz_handle_dup(void)
{
	struct fcall c = {SYS_HANDLE_DUP, {gen_handle(-1), gen_rights()}, 0};
	int s = slot_of(A(0));
	if (chance(5))
		A(1) |= (uint64_t)rnd() << 32;
	issue(&c, true);
	expect_badf(&c);
	if (c.ret > 0) {
		int d = (int)c.ret;
		bool d_known = is_live(d); /* we hold d already: the kernel handed it out twice */
		if (!is_live(s)) {
			/* s arrived unannounced (a stream match): look for it
			 * everywhere, not only up to the first free number. The
			 * probe may adopt d as well: it is live and not ours yet. */
			probe_handles(true);
			struct alder_handle_info in;
			if (!is_live(s) && slot_of(A(0)) && handle_facts(s, &in))
				adopt(s, &in);
			if (!is_live(s)) {
				fail_call(&c, "dup of a handle we do not hold succeeded");
				return;
			}
		}
		struct hent src = reg[s];
		if (d_known || !is_live(d)) /* the probe may have adopted d */
			got_handle(d, src.kind, src.tix, src.size, &c);
		if (is_live(d) && (reg[d].koid != src.koid || reg[d].kind != src.kind))
			fail_call(&c, "dup names another object than its source");
		if (is_live(d) && reg[d].rights != (src.rights & (uint32_t)A(1) & ALDER_RIGHTS_ALL))
			fail_call(&c, "dup rights are not source & mask");
		if (!(src.rights & ALDER_RIGHT_DUPLICATE))
			fail_call(&c, "dup without the DUPLICATE right succeeded");
	}
}

static void fz_handle_info(void)
{
	struct fcall c = {
	    SYS_HANDLE_INFO, {gen_handle(-1), gen_out_ptr(sizeof(struct alder_handle_info))}, 0};
	issue(&c, true);
	expect_badf(&c);
}

static void fz_mem_create(void)
{
	struct fcall c = {
	    SYS_MEM_CREATE, {chance(70) ? gen_psize() : gen_size(), chance(90) ? 0 : gen_int()}, 0};
	issue(&c, true);
	if (c.ret > 0) {
		if (A(1) != 0 || A(0) == 0 || A(0) > ALDER_MEM_MAX)
			fail_call(&c, "memory object with bad size or flags created");
		got_handle((int)c.ret, H_MEM, -1, (A(0) + PAGE - 1) & ~(PAGE - 1), &c);
	}
}

static void fz_mem_create_phys(void)
{
	struct fcall c = {
	    SYS_MEM_CREATE_PHYS, {gen_handle(-1), gen_int() & ~(PAGE - 1), gen_psize(), below(3)}, 0};
	if (chance(30))
		A(1) = 0xfee00000ull; /* the LAPIC */
	issue(&c, true);
	if (c.ret >= 0) {
		fail_call(&c, "physical memory object created without the root handle");
		if (c.ret > 0)
			BK1(SYS_HANDLE_CLOSE, c.ret);
	}
}

static void fz_mem_derive(bool cow)
{
	struct fcall c = {cow ? SYS_MEM_CREATE_COW : SYS_MEM_CREATE_SLICE, {gen_handle(H_MEM)}, 0};
	int s = slot_of(A(0));
	uint64_t osize = is_live(s) ? reg[s].size : 0;
	if (osize && chance(70)) {
		uint64_t pages = osize / PAGE;
		if (pages > 1u << 20)
			pages = 1u << 20;
		uint64_t first = below(pages);
		A(1) = first * PAGE;
		A(2) = PAGE * (1 + below(pages - first));
		if (chance(10))
			A(2) += PAGE; /* one page too many */
	} else {
		A(1) = chance(50) ? 0 : gen_size();
		A(2) = gen_size();
	}
	issue(&c, true);
	if (c.ret > 0)
		got_handle((int)c.ret, H_MEM, -1, A(2), &c);
}

/*
 * A chain of derived memory objects, each a COW view or a slice of the one
 * before (its source is held by the new object, so only the tip needs a
 * handle). Grown a few links per step to a random depth of up to
 * CHAIN_MAX, then a page is touched through the tip (every lookup walks
 * the chain) and the tip closed (which frees the whole chain).
 */
#define CHAIN_MAX 4000
static int chain_tip;
static unsigned chain_depth, chain_target;

static void chain_finish(void)
{
	if (!chain_tip)
		return;
	if (is_live(chain_tip)) {
		long at = BK6(SYS_SPACE_MAP, SELF, chain_tip, 0, 0, PAGE, RW);
		if (at > 0) {
			volatile uint32_t *w = (volatile uint32_t *)(uintptr_t)at;
			uint32_t v = *w; /* reads through every link */
			*w = v + 1;	 /* copies into the tip if it is a view */
			BK3(SYS_SPACE_UNMAP, SELF, at, PAGE);
		}
		reg[chain_tip].fixed = false;
		nfixed--;
		close_handle(chain_tip);
	}
	st.chains++;
	chain_tip = 0;
	chain_depth = 0;
}

static void fz_chain_step(void)
{
	if (chain_tip && !is_live(chain_tip))
		chain_tip = 0;
	if (!chain_tip) {
		struct fcall c = {SYS_MEM_CREATE, {PAGE * (1 + below(4)), 0}, 0};
		if (issue(&c, true) <= 0)
			return;
		got_handle((int)c.ret, H_MEM, -1, A(0), &c);
		if (!is_live((int)c.ret))
			return;
		chain_tip = (int)c.ret;
		reg[chain_tip].fixed = true;
		nfixed++;
		chain_depth = 0;
		chain_target = 1 + (unsigned)below(chance(30) ? 64 : CHAIN_MAX);
	}
	for (unsigned k = 1 + (unsigned)below(16); k > 0 && chain_depth < chain_target; k--) {
		struct fcall c = {
		    below(2) ? SYS_MEM_CREATE_COW : SYS_MEM_CREATE_SLICE, {(uint64_t)chain_tip, 0, PAGE}, 0};
		if (issue(&c, true) <= 0) {
			chain_target = chain_depth; /* refused (a depth limit?): finish */
			break;
		}
		int prev = chain_tip;
		got_handle((int)c.ret, H_MEM, -1, PAGE, &c);
		if (!is_live((int)c.ret))
			break;
		chain_tip = (int)c.ret;
		reg[chain_tip].fixed = true;
		reg[prev].fixed = false;
		close_handle(prev);
		chain_depth++;
		if (chain_depth > st.max_depth)
			st.max_depth = chain_depth;
	}
	if (chain_depth >= chain_target)
		chain_finish();
}

static void fz_space_create(void)
{
	struct fcall c = {SYS_SPACE_CREATE, {gen_int(), gen_int()}, 0};
	issue(&c, true);
	if (c.ret > 0) {
		got_handle((int)c.ret, H_SPACE, -1, 0, &c);
		space_setup((int)c.ret);
	}
}

static void fz_space_map(void)
{
	struct fcall c = {SYS_SPACE_MAP, {0}, 0};
	A(0) = chance(30) ? SELF : gen_handle(H_SPACE);
	A(1) = gen_handle(H_MEM);
	int m = slot_of(A(1));
	uint64_t msize = is_live(m) ? reg[m].size : 0;
	if (msize && chance(75)) {
		uint64_t pages = msize / PAGE;
		if (pages > 1u << 16)
			pages = 1u << 16;
		uint64_t first = chance(50) ? 0 : below(pages);
		A(2) = first * PAGE;
		A(4) = PAGE * (1 + below(pages - first < 64 ? pages - first : 64));
	} else {
		A(2) = chance(60) ? 0 : gen_size();
		A(4) = gen_psize();
	}
	A(5) = gen_prot();
	if (A(0) == SELF) {
		uint64_t addr, size;
		gen_self_range(&addr, &size, true);
		A(3) = addr;
		if (!self_range_ok(A(3), A(4))) {
			A(3) = 0;
		}
	} else {
		A(3) = gen_map_addr();
	}
	issue(&c, true);
	if (c.ret >= 0) {
		uint64_t at = (uint64_t)c.ret;
		if ((at & (PAGE - 1)) || at < PAGE || at >= USER_TOP || A(4) > USER_TOP - at)
			fail_call(&c, "mapped at an impossible address");
		else if (A(3) && at != A(3))
			fail_call(&c, "mapped somewhere else than asked");
		if (A(0) == SELF) {
			if (!self_range_ok(at, A(4)))
				fail_call(&c, "mapped over memory of ours");
			omap_add(at, A(4));
		} else {
			rmap_add(slot_of(A(0)), at, A(4));
		}
	}
}

static void fz_space_unmap_protect(bool protect)
{
	struct fcall c = {protect ? SYS_SPACE_PROTECT : SYS_SPACE_UNMAP, {0}, 0};
	A(0) = chance(40) ? SELF : gen_handle(H_SPACE);
	if (A(0) == SELF) {
		gen_self_range(&A(1), &A(2), false);
	} else if (chance(50) && pick_rmap(&A(0), &A(1), &A(2))) {
		if (chance(10))
			A(2) += PAGE * below(4); /* past its end */
	} else {
		switch (below(4)) {
		case 0:
			A(1) = CHILD_CODE;
			A(2) = PAGE;
			break;
		case 1:
			A(1) = gen_map_addr();
			A(2) = gen_psize();
			break;
		default:
			A(1) = gen_map_addr();
			A(2) = gen_size();
			break;
		}
	}
	if (protect)
		A(3) = gen_prot();
	issue(&c, true);
}

static void fz_space_rw(void)
{
	struct fcall c = {SYS_SPACE_RW, {0}, 0};
	A(0) = chance(40) ? SELF : gen_handle(H_SPACE);
	switch (below(6)) {
	case 0:
		A(3) = 0;
		break;
	case 1:
		A(3) = ALDER_RW_MAX + below(2);
		break;
	case 2:
		A(3) = gen_size();
		break;
	default:
		A(3) = 1 + below(chance(80) ? 256 : 3 * PAGE);
		break;
	}
	A(4) = chance(90) ? below(2) : gen_int();
	bool write = A(4) == 1;
	/* Whatever is written on our side must be a place we do not mind. */
	if (A(0) == SELF && write) {
		A(1) = gen_out_ptr(A(3));
		A(2) = gen_in_ptr();
	} else {
		uint64_t sp, at, sz;
		if (A(0) != SELF && chance(50) && pick_rmap(&sp, &at, &sz)) {
			A(0) = sp;
			A(1) = at + below(sz);
		} else {
			A(1) = A(0) == SELF ? gen_in_ptr()
			       : chance(30) ? CHILD_CODE
					    : gen_map_addr() + below(PAGE);
		}
		A(2) = write ? gen_in_ptr() : gen_out_ptr(A(3));
	}
	issue(&c, true);
}

static void fz_futex_wait(void)
{
	struct fcall c = {SYS_FUTEX_WAIT, {0}, 0};
	bool must_fail = false;
	switch (below(6)) {
	case 0:
	case 1: {
		uint64_t off = below(SCRATCH_PAGES * PAGE / 4) * 4;
		A(0) = SCRATCH + off;
		A(1) = chance(60) ? *(volatile uint32_t *)(uintptr_t)A(0) : (uint32_t)rnd();
		break;
	}
	case 2:
		A(0) = gen_out_ptr(4) & ~(uint64_t)3;
		A(1) = chance(50) ? 0 : (uint32_t)rnd();
		break;
	case 3:
		A(0) = gen_in_ptr() & ~(uint64_t)3;
		A(1) = (uint32_t)rnd();
		break;
	case 4:
		A(0) = (SCRATCH + below(PAGE)) | 1 | below(4); /* misaligned */
		A(1) = 0;
		must_fail = true;
		break;
	default:
		A(0) = gen_bad_addr();
		A(1) = gen_int();
		break;
	}
	if (chance(10)) {
		A(1) = ((uint64_t)1 << 32) + below(100); /* refused before any wait */
	}
	must_fail |= A(1) > UINT32_MAX || (A(0) & 3) || A(0) >= USER_TOP;
	A(2) = 1 + below(U_NS_PER_MS);
	if (must_fail && chance(50))
		A(2) = chance(50) ? 0 : UINT64_MAX - below(4);
	issue(&c, true);
	if (must_fail && c.ret >= 0)
		fail_call(&c, "futex wait with a bad address or value did not fail");
	if (c.ret > 0)
		fail_call(&c, "futex wait returned a positive value");
}

static void fz_futex_wake(void)
{
	struct fcall c = {SYS_FUTEX_WAKE, {0}, 0};
	A(0) = chance(60) ? gen_in_ptr() & ~(uint64_t)(chance(90) ? 3 : 0) : gen_bad_addr();
	switch (below(4)) {
	case 0:
		A(1) = 0;
		break;
	case 1:
		A(1) = 1;
		break;
	case 2:
		A(1) = UINT32_MAX;
		break;
	default:
		A(1) = gen_int();
		break;
	}
	issue(&c, true);
	if (c.ret >= 0 && (uint64_t)c.ret > A(1))
		fail_call(&c, "woke more than asked");
}

static uint64_t gen_entries(void)
{
	switch (below(6)) {
	case 0:
		return below(3);
	case 1:
		return 3 + below(6);
	case 2:
		return ALDER_QUEUE_MAX_ENTRIES << below(2);
	case 3:
		return gen_int();
	default:
		return (uint64_t)1 << below(8);
	}
}

static void fz_queue_create(void)
{
	struct fcall c = {SYS_QUEUE_CREATE, {gen_entries(), gen_entries()}, 0};
	A(2) = gen_out_ptr(sizeof(struct alder_queue_params));
	issue(&c, true);
	if (c.ret > 0) {
		const struct alder_queue_params *p = (const struct alder_queue_params *)(uintptr_t)A(2);
		if (A(2) >= USER_TOP) {
			fail_call(&c, "queue created with its parameters written outside user space");
		} else {
			if (p->sq_entries != A(0) || p->cq_entries != A(1) || (p->ring_addr & (PAGE - 1)) ||
			    p->ring_addr < PAGE || p->ring_size == 0 ||
			    p->ring_addr + p->ring_size > USER_TOP)
				fail_call(&c, "queue parameters are wrong");
			else
				omap_add(p->ring_addr, p->ring_size);
		}
		got_handle((int)c.ret, H_QUEUE, -1, 0, &c);
	}
}

static void fz_queue_enter(void)
{
	struct fcall c = {SYS_QUEUE_ENTER, {0}, 0};
	A(0) = chance(30) ? (uint64_t)mq.handle : gen_handle(H_QUEUE);
	A(1) = chance(50) ? below(4) : gen_int();
	switch (below(4)) {
	case 0:
		A(2) = 0;
		break;
	case 1:
		A(2) = 1 + below(2);
		break;
	case 2:
		A(2) = ALDER_QUEUE_MAX_ENTRIES + 1 + below(3); /* more than any queue has: refused */
		break;
	default:
		A(2) = gen_int();
		break;
	}
	if (A(2) == 0 || A(2) > ALDER_QUEUE_MAX_ENTRIES)
		A(3) = gen_int();
	else
		A(3) = 1 + below(U_NS_PER_MS);
	issue(&c, true);
	if (A(2) > ALDER_QUEUE_MAX_ENTRIES && c.ret >= 0)
		fail_call(&c, "min_complete above every queue's size not refused");
	if (c.ret > 0 && (uint64_t)c.ret > A(1))
		fail_call(&c, "consumed more SQEs than asked");
}

static void fz_event_create(void)
{
	struct fcall c = {SYS_EVENT_CREATE, {gen_int()}, 0};
	issue(&c, true);
	if (c.ret > 0)
		got_handle((int)c.ret, H_EVENT, -1, 0, &c);
}

static void fz_event_signal(void)
{
	struct fcall c = {SYS_EVENT_SIGNAL, {gen_handle(H_EVENT)}, 0};
	issue(&c, true);
}

static void fz_stream_create(void)
{
	struct fcall c = {SYS_STREAM_CREATE, {gen_out_ptr(8)}, 0};
	issue(&c, true);
	if (c.ret == 0) {
		probe_handles(false);
		const alder_handle_t *l = (const alder_handle_t *)(uintptr_t)A(0);
		if (A(0) >= USER_TOP)
			fail_call(&c, "lanes written outside user space");
		else if (!is_live(l[0]) || !is_live(l[1]) || reg[l[0]].kind != H_LANE ||
			 reg[l[1]].kind != H_LANE)
			fail_call(&c, "the lanes it wrote are not lanes we hold");
		else
			pair_add(l[0], l[1]);
	}
	if (c.ret > 0)
		fail_call(&c, "stream create returned a positive value");
}

static void fz_thread_new(void)
{
	struct fcall c = {SYS_THREAD_NEW, {0}, 0};
	A(0) = chance(35) ? SELF : gen_handle(H_SPACE);
	switch (below(6)) {
	case 0:
	case 1:
		A(4) = 0;
		break;
	case 2:
		A(4) = ALDER_THREAD_NEW_PROCESS;
		break;
	case 3:
		A(4) = ALDER_THREAD_SUPERVISED | (chance(50) ? ALDER_THREAD_NEW_PROCESS : 0);
		break;
	default:
		A(4) = gen_int();
		break;
	}
	bool self = A(0) == SELF;
	if (self) {
		/* Our own space: only the stub, or an entry that is refused. */
		A(1) = chance(75) ? STUB : (chance(50) ? USER_TOP + below(PAGE) : gen_bad_addr());
		if (A(1) != STUB && A(1) < USER_TOP)
			A(1) = USER_TOP;
	} else {
		A(1) = chance(60) ? CHILD_CODE : gen_int();
	}
	A(2) = chance(50) ? SCRATCH + PAGE : gen_int();
	A(3) = gen_int();
	/* Caps: past them, make the call one that cannot create. */
	bool newproc = A(4) & (ALDER_THREAD_NEW_PROCESS | ALDER_THREAD_SUPERVISED);
	if ((self && !newproc && live_self_threads() >= SELF_CAP) ||
	    ((!self || newproc) && unreaped_children() >= CHILD_CAP))
		A(4) |= 0x80;
	racer_hold(true);
	issue(&c, true);
	if (c.ret > 0) {
		if (A(4) & ~(uint64_t)(ALDER_THREAD_NEW_PROCESS | ALDER_THREAD_SUPERVISED))
			fail_call(&c, "thread created with unknown flags");
		if (self && A(1) != STUB)
			fail_call(&c, "thread with an entry outside user space created");
		got_thread((int)c.ret, self, A(4), &c);
	}
	racer_hold(false);
}

static void fz_thread_ctl(void)
{
	struct fcall c = {SYS_THREAD_CTL, {gen_handle(H_THREAD), 0, gen_int()}, 0};
	switch (below(8)) {
	case 0:
		A(1) = ALDER_THREAD_START;
		break;
	case 1:
		A(1) = ALDER_THREAD_STOP;
		break;
	case 2:
		A(1) = ALDER_THREAD_RESUME;
		break;
	case 3:
		A(1) = ALDER_THREAD_KILL;
		break;
	case 4:
		A(1) = ALDER_THREAD_GETPID;
		break;
	case 5:
		A(1) = below(8);
		break;
	case 6:
		A(1) = chance(50) ? ALDER_THREAD_KILL | ((uint64_t)1 << (32 + below(32))) : ALDER_THREAD_SET_CPU;
		A(2) = chance(20) ? ALDER_THREAD_ANY_CPU : chance(80) ? below(3) : gen_int();
		break;
	default:
		A(1) = gen_int();
		break;
	}
	if (chance(5))
		A(0) = (uint64_t)(int64_t)ALDER_HANDLE_SELF_THREAD;
	/* Never stop or end the calling thread: nothing would resume it. */
	if (A(0) == (uint64_t)(int64_t)ALDER_HANDLE_SELF_THREAD &&
	    (A(1) == ALDER_THREAD_STOP || A(1) == ALDER_THREAD_KILL))
		A(1) = ALDER_THREAD_GETPID;
	int s = slot_of(A(0));
	struct trec *t = thread_of_slot(s);
	/* Never at a thread of ours, even through a handle number with high
	 * bits (which the kernel must refuse). */
	struct trec *alias = thread_of_slot(slot_of((uint32_t)A(0)));
	if (A(1) == ALDER_THREAD_KILL && ((t && t->kind == T_SELF) || (alias && alias->kind == T_SELF)))
		A(1) = ALDER_THREAD_GETPID; /* would end the fuzzer */
	issue(&c, true);
	if (A(0) != (uint64_t)(int64_t)ALDER_HANDLE_SELF_THREAD)
		expect_badf(&c);
	if (c.ret == 0 && A(1) == ALDER_THREAD_SET_CPU && A(2) != ALDER_THREAD_ANY_CPU &&
	    A(2) >= u_info(ALDER_INFO_CPU_COUNT, 1))
		fail_call(&c, "SET_CPU to a CPU that does not exist accepted");
	if (c.ret < 0 || !t)
		return;
	if (A(1) == ALDER_THREAD_KILL)
		t->ending = true;
	if (A(1) == ALDER_THREAD_START || A(1) == ALDER_THREAD_RESUME)
		t->started = true;
	if (A(1) == ALDER_THREAD_GETPID && c.ret != t->pid)
		fail_call(&c, "GETPID changed");
	if (A(1) > ALDER_THREAD_SET_CPU)
		fail_call(&c, "unknown operation accepted");
}

/* Registers for a thread running in our space: rip on the stub, TF clear,
 * the rest random (sometimes invalid: then the write must be refused). */
static struct alder_regs self_regs __attribute__((aligned(16)));

static void fill_regs(struct alder_regs *r, bool self)
{
	uint64_t *w = (uint64_t *)r;
	for (size_t i = 0; i < sizeof(*r) / 8; i++)
		w[i] = chance(30) ? 0 : gen_int();
	uint32_t mxcsr = chance(85) ? 0x1f80u | (uint32_t)below(0x40) : (uint32_t)rnd();
	memcpy(r->fxsave + 24, &mxcsr, 4);
	if (chance(70))
		r->rsp = SCRATCH + PAGE;
	if (chance(60))
		r->fs_base = r->gs_base = 0;
	if (self) {
		r->rip = STUB;
		r->rflags &= ~(uint64_t)0x100; /* TF would fault in our process */
	} else if (chance(60)) {
		/* Often onto (or into) a syscall instruction of the child's code,
		 * so the child makes a native call with our garbage. Not a log
		 * (it would print the child's memory on the console) nor a spawn. */
		r->rip = CHILD_CODE + below(sizeof(child_code));
		if (r->rax == SYS_LOG || r->rax == SYS_SPAWN)
			r->rax = SYS_YIELD;
	}
}

static void fz_thread_regs(void)
{
	struct fcall c = {SYS_THREAD_REGS, {gen_handle(H_THREAD), 0, 0}, 0};
	A(2) = chance(90) ? below(2) : gen_int();
	int s = slot_of(A(0));
	if (A(2) == 1) {
		if (self_space_thread(s)) {
			fill_regs(&self_regs, true);
			A(1) = (uint64_t)(uintptr_t)&self_regs;
		} else if (chance(80)) {
			/* Staged in scratch: the kernel only reads it. */
			uint64_t at = SCRATCH + below(SCRATCH_PAGES * PAGE - sizeof(struct alder_regs));
			at &= ~(uint64_t)15;
			fill_regs((struct alder_regs *)(uintptr_t)at, false);
			A(1) = at;
			if (chance(10))
				A(1) = ROPAGE - 64; /* straddles into the read-only page (readable) */
		} else {
			A(1) = gen_bad_addr();
		}
	} else {
		A(1) = gen_out_ptr(sizeof(struct alder_regs));
	}
	issue(&c, true);
}

static void fz_hw(uint64_t nr)
{
	struct fcall c = {nr, {gen_handle(-1), gen_int(), gen_int(), gen_int()}, 0};
	if (nr == SYS_IRQ_CREATE && chance(50))
		A(1) = below(24);
	if (nr == SYS_IOPORT_CREATE && chance(50)) {
		A(1) = below(0x10000);
		A(2) = 1 + below(16);
	}
	issue(&c, true);
	if (nr != SYS_IRQ_ACK && c.ret >= 0) {
		fail_call(&c, "hardware access granted without the root handle");
		if (c.ret > 0 && nr != SYS_IOPORT_ENABLE)
			BK1(SYS_HANDLE_CLOSE, c.ret);
	}
	if (nr == SYS_IRQ_ACK && c.ret >= 0)
		fail_call(&c, "IRQ acknowledged without an IRQ object");
}

/* ---- SQEs ------------------------------------------------------------- */

/* In-flight SQEs on the current main queue, by context. */
#define PEND_SLOTS 1024
struct pend {
	uint64_t ctx;
	uint64_t call; /* the fuzz call that submitted it */
	uint32_t op;
	uint32_t count; /* STREAM: actions */
	int32_t handle;
	uint8_t types[4];  /* STREAM: the first actions' types, */
	int32_t pushed[4]; /* and what PUSH_HANDLE ones pushed */
	uint64_t array;	   /* STREAM: the action array */
	bool types_known;  /* types[] are what the kernel copied in */
	bool used;
	uint64_t lane_koid; /* STREAM: the lane's object when staged (0: unknown) */
};
static struct pend pend[PEND_SLOTS];
static uint64_t ctx_next = 1;
static unsigned npend;
/*
 * A main queue closed with a chain in flight that may carry the queue's own
 * handle never dies (nothing can cancel that chain any more), nor do the
 * chains on it and whatever they carry: only objects that existed before
 * that queue was closed. Every object created later has a larger koid than
 * the main queue opened next, so that koid is the horizon: a lane at or
 * below it may be held open for good. (Coarse: which objects such a queue
 * carries is not tracked, since a chain the kernel took late may have read
 * a later array; the final check leaves out chains on lanes that old, both
 * sides when the peer is known, and checks the rest.)
 */
static uint64_t immortal_horizon;

static struct pend *pend_find(uint64_t ctx)
{
	struct pend *p = &pend[ctx % PEND_SLOTS];
	return p->used && p->ctx == ctx ? p : NULL;
}

/* Action arrays are staged at 128-byte slots of STAGE_ACT (one chain's
 * actions in consecutive slots), iovecs in STAGE_IOV. Kernel write-backs
 * touch only the output fields of the action slots, which we never read
 * as input. */
#define ACT_SLOTS (STAGE_ACT_PAGES * PAGE / sizeof(struct alder_action))
#define IOV_SLOTS (2 * PAGE / sizeof(struct alder_iovec))

/* Receive iovecs live in the first page of STAGE_IOV, send iovecs in the
 * second: one array overwriting another (several chains are staged before
 * the kernel copies them in) never puts a send's base (any address we may
 * read, our own data included) under a receive. */
static uint64_t gen_iovecs(bool receive, uint64_t *count)
{
	uint64_t n = chance(80) ? below(6) : (chance(50) ? ALDER_STREAM_MAX_IOV + below(2) : below(64));
	uint64_t half = IOV_SLOTS / 2;
	uint64_t first = (receive ? 0 : half) + below(half - n);
	struct alder_iovec *v = (struct alder_iovec *)(uintptr_t)(STAGE_IOV + first * sizeof(*v));
	for (uint64_t i = 0; i < n; i++) {
		v[i].len = chance(70) ? below(2 * PAGE) : gen_size();
		v[i].base = receive ? gen_out_ptr(v[i].len) : gen_in_ptr();
	}
	*count = n;
	if (chance(5))
		return STAGE_IOV + 2 * PAGE - 8; /* runs into the hole */
	return (uint64_t)(uintptr_t)v;
}

/* Whatever else is wrong with an action, a receive writes only where we
 * allow. */
static void act_sanitize(struct alder_action *a)
{
	if (a->type == ALDER_ACTION_RECEIVE) {
		if (a->flags & ALDER_ACTION_SG)
			a->buf = gen_iovecs(true, &a->len);
		else if (!out_ok(a->buf, a->len))
			a->buf = gen_out_ptr(a->len);
	}
}

static void gen_action(struct alder_action *a)
{
	uint64_t *w = (uint64_t *)a;
	if (chance(8)) {
		for (size_t i = 0; i < sizeof(*a) / 8; i++)
			w[i] = rnd();
		if (chance(50))
			a->type = 1 + (uint32_t)below(ALDER_ACTION_TYPE_COUNT - 1);
	} else {
		memset(a, 0, sizeof(*a));
		a->type = chance(92) ? 1 + (uint32_t)below(ALDER_ACTION_TYPE_COUNT - 1) : (uint32_t)gen_int();
		if (chance(15))
			a->flags = chance(50) ? (uint32_t)below(16) : (uint32_t)rnd();
		switch (a->type) {
		case ALDER_ACTION_OFFER:
		case ALDER_ACTION_ACCEPT:
			if (chance(30))
				a->flags |= ALDER_ACTION_CHAIN;
			break;
		case ALDER_ACTION_SEND:
		case ALDER_ACTION_RECEIVE:
			switch (below(4)) {
			case 0:
				a->flags |= ALDER_ACTION_INLINE;
				a->len = chance(85) ? below(ALDER_ACTION_INLINE_MAX + 1) : gen_size();
				for (size_t i = 0; i < ALDER_ACTION_INLINE_MAX / 8; i++)
					w[8 + i] = rnd();
				break;
			case 1:
				a->flags |= ALDER_ACTION_SG;
				a->buf = gen_iovecs(a->type == ALDER_ACTION_RECEIVE, &a->len);
				break;
			default:
				a->len = chance(70) ? below(3 * PAGE) : gen_size();
				a->buf = a->type == ALDER_ACTION_RECEIVE ? gen_out_ptr(a->len) : gen_in_ptr();
				break;
			}
			break;
		case ALDER_ACTION_PUSH_HANDLE:
			a->handle = (alder_handle_t)gen_handle(-1);
			a->rights = gen_rights();
			break;
		case ALDER_ACTION_PULL_HANDLE:
			a->rights = gen_rights();
			break;
		default:
			break;
		}
		if (chance(4))
			a->reserved[below(2)] = gen_int();
		if (chance(4))
			a->buf = gen_int();
	}
	act_sanitize(a);
}

static uint64_t gen_action_array(uint64_t *count)
{
	uint64_t n;
	switch (below(8)) {
	case 0:
		n = 0;
		break;
	case 1:
		n = ALDER_STREAM_MAX_CHAIN + below(2);
		break;
	case 2:
		n = below(ALDER_STREAM_MAX_CHAIN);
		break;
	default:
		n = 1 + below(3);
		break;
	}
	*count = n;
	if (chance(8)) {
		if (chance(50))
			return gen_bad_addr();
		return STAGE_END - sizeof(struct alder_action) * (1 + below(2)); /* runs into the hole */
	}
	uint64_t slots = n > ACT_SLOTS ? ACT_SLOTS : n;
	uint64_t first = below(ACT_SLOTS - slots + 1);
	struct alder_action *a = (struct alder_action *)(uintptr_t)(STAGE_ACT + first * sizeof(*a));
	for (uint64_t i = 0; i < slots; i++)
		gen_action(&a[i]);
	return (uint64_t)(uintptr_t)a;
}

/* ---- Conversations: two chains meant to meet ---------------------------- */

/* A well-formed action of type t (the peer's complement is made by
 * complement()); sometimes one field is then spoiled. */
static void gen_good_action(struct alder_action *a, uint32_t t, bool last)
{
	memset(a, 0, sizeof(*a));
	a->type = t;
	switch (t) {
	case ALDER_ACTION_OFFER:
	case ALDER_ACTION_ACCEPT:
		if (!last && chance(30))
			a->flags = ALDER_ACTION_CHAIN | (chance(30) ? ALDER_ACTION_NO_HANDLE : 0);
		break;
	case ALDER_ACTION_SEND:
		switch (below(3)) {
		case 0:
			a->flags = ALDER_ACTION_INLINE;
			a->len = below(ALDER_ACTION_INLINE_MAX + 1);
			for (size_t i = 0; i < ALDER_ACTION_INLINE_MAX; i++)
				a->data[i] = (uint8_t)rnd();
			break;
		case 1:
			a->flags = ALDER_ACTION_SG;
			a->buf = gen_iovecs(false, &a->len);
			break;
		default:
			a->len = below(chance(80) ? 512 : 3 * PAGE);
			a->buf = chance(90) ? SCRATCH + below(SCRATCH_PAGES * PAGE - a->len) : gen_in_ptr();
			break;
		}
		break;
	case ALDER_ACTION_PUSH_HANDLE:
		a->handle = (alder_handle_t)gen_handle(-1);
		a->rights = chance(70) ? ALDER_RIGHTS_ALL : gen_rights();
		break;
	case ALDER_ACTION_PULL_HANDLE:
		a->rights = chance(70) ? ALDER_RIGHTS_ALL : gen_rights();
		break;
	default:
		break;
	}
	if (chance(6)) {
		switch (below(5)) {
		case 0:
			a->flags ^= 1u << below(4);
			break;
		case 1:
			a->reserved[below(2)] = 1;
			break;
		case 2:
			a->len = gen_size();
			break;
		case 3:
			a->type = (uint32_t)below(ALDER_ACTION_TYPE_COUNT + 2);
			break;
		default:
			a->buf = gen_int();
			break;
		}
	}
	act_sanitize(a);
}

/* The action that meets a (a receive gets room around what is sent). */
static void complement(struct alder_action *b, const struct alder_action *a, bool last)
{
	static const uint32_t peer[ALDER_ACTION_TYPE_COUNT] = {
	    0,
	    ALDER_ACTION_ACCEPT,
	    ALDER_ACTION_OFFER,
	    ALDER_ACTION_RECEIVE,
	    ALDER_ACTION_SEND,
	    ALDER_ACTION_PULL_HANDLE,
	    ALDER_ACTION_PUSH_HANDLE,
	    ALDER_ACTION_EXTRACT_CREDS,
	    ALDER_ACTION_IMBUE_CREDS,
	    ALDER_ACTION_DISMISS,
	};
	uint32_t t =
	    a->type < ALDER_ACTION_TYPE_COUNT ? peer[a->type] : (uint32_t)below(ALDER_ACTION_TYPE_COUNT);
	if (t == ALDER_ACTION_DISMISS && !last)
		t = ALDER_ACTION_IMBUE_CREDS;
	if (t != ALDER_ACTION_RECEIVE) {
		gen_good_action(b, t, last);
		if ((t == ALDER_ACTION_OFFER || t == ALDER_ACTION_ACCEPT) && (a->flags & ALDER_ACTION_CHAIN))
			b->flags |= ALDER_ACTION_CHAIN; /* both sides move to the new stream */
		return;
	}
	memset(b, 0, sizeof(*b));
	b->type = ALDER_ACTION_RECEIVE;
	uint64_t want = (a->flags & ALDER_ACTION_SG) ? 2 * PAGE : a->len;
	if (want > 4 * PAGE)
		want = 4 * PAGE;
	uint64_t room = chance(70) ? want + below(64) : (want ? below(want) : 0); /* too small: EMSGSIZE */
	switch (below(3)) {
	case 0:
		b->flags = ALDER_ACTION_INLINE;
		b->len = room > ALDER_ACTION_INLINE_MAX ? ALDER_ACTION_INLINE_MAX : room;
		break;
	case 1:
		b->flags = ALDER_ACTION_SG;
		break;
	default:
		b->len = room;
		b->buf = gen_out_ptr(room);
		break;
	}
	if (chance(5))
		b->len = gen_size();
	act_sanitize(b);
}

static uint32_t gen_good_type(bool last)
{
	static const uint32_t types[] = {
	    ALDER_ACTION_SEND,	      ALDER_ACTION_SEND,	ALDER_ACTION_RECEIVE,
	    ALDER_ACTION_OFFER,	      ALDER_ACTION_ACCEPT,	ALDER_ACTION_PUSH_HANDLE,
	    ALDER_ACTION_PULL_HANDLE, ALDER_ACTION_IMBUE_CREDS, ALDER_ACTION_EXTRACT_CREDS,
	};
	if (last && chance(4))
		return ALDER_ACTION_DISMISS;
	return types[below(U_ARRAY_SIZE(types))];
}

/* Two chains for the two lanes of one stream, in disjoint staging slots. */
static void gen_conversation(uint64_t *arr_a, uint64_t *arr_b, uint64_t *n)
{
	uint64_t k = 1 + below(chance(80) ? 4 : ALDER_STREAM_MAX_CHAIN);
	uint64_t half = ACT_SLOTS / 2;
	struct alder_action *a =
	    (struct alder_action *)(uintptr_t)(STAGE_ACT + below(half - k + 1) * sizeof(*a));
	struct alder_action *b =
	    (struct alder_action *)(uintptr_t)(STAGE_ACT + (half + below(half - k + 1)) * sizeof(*b));
	for (uint64_t i = 0; i < k; i++) {
		bool last = i + 1 == k;
		if (chance(15) && i > 0 && (a[i - 1].flags & ALDER_ACTION_CHAIN) == 0) {
			/* Mirror image: the peer leads this action. */
			gen_good_action(&b[i], gen_good_type(last), last);
			complement(&a[i], &b[i], last);
		} else {
			gen_good_action(&a[i], gen_good_type(last), last);
			complement(&b[i], &a[i], last);
		}
	}
	*arr_a = (uint64_t)(uintptr_t)a;
	*arr_b = (uint64_t)(uintptr_t)b;
	*n = k;
}

static void gen_sqe(struct alder_sqe *s)
{
	memset(s, 0, sizeof(*s));
	s->context = ctx_next++;
	switch (below(12)) {
	case 0:
		s->op = ALDER_OP_NOP;
		break;
	case 1:
		s->op = ALDER_OP_TIMER;
		switch (below(4)) {
		case 0:
			s->args[0] = 0;
			break;
		case 1:
			s->args[0] = u_now_ns() + below(U_NS_PER_MS);
			break;
		case 2:
			s->args[0] = UINT64_MAX - below(2); /* until cancelled */
			break;
		default:
			s->args[0] = gen_int();
			break;
		}
		break;
	case 2:
		s->op = ALDER_OP_CANCEL;
		s->args[0] = chance(70) && ctx_next > 2
				 ? ctx_next - 2 - below(ctx_next - 2 < 64 ? ctx_next - 2 : 64)
				 : gen_int();
		break;
	case 3:
		s->op = ALDER_OP_EVENT_WAIT;
		s->handle = (alder_handle_t)gen_handle(H_EVENT);
		break;
	case 4:
	case 5:
	case 6:
		s->op = ALDER_OP_STREAM;
		s->handle = (alder_handle_t)gen_handle(H_LANE);
		s->args[0] = gen_action_array(&s->args[1]);
		if (chance(10))
			s->args[2] = ALDER_STREAM_NOWAIT | (chance(30) ? ALDER_STREAM_NO_WRITEBACK : 0);
		if (chance(5))
			s->args[2 + below(2)] = gen_int();
		break;
	case 7:
		s->op = ALDER_OP_IRQ_WAIT;
		s->handle = (alder_handle_t)gen_handle(-1);
		s->args[0] = gen_int();
		break;
	case 8:
		s->op = ALDER_OP_OBSERVE;
		s->handle = (alder_handle_t)gen_handle(H_THREAD);
		break;
	case 9:
		s->op = ALDER_OP_COUNT + (uint32_t)below(4);
		if (chance(50))
			s->op = (uint32_t)rnd();
		break;
	default:
		s->op = (uint32_t)below(ALDER_OP_COUNT);
		s->handle = (alder_handle_t)gen_handle(-1);
		for (int i = 0; i < 4; i++)
			s->args[i] = chance(50) ? 0 : gen_int();
		break;
	}
	if (chance(3))
		s->flags = (uint32_t)rnd() | 2; /* an unknown bit: SKIP_SUCCESS alone would lose the CQE */
	if (chance(3))
		s->reserved = (uint32_t)rnd() | 1;
}

static void check_cqe(const struct alder_cqe *e)
{
	st.cqes++;
	struct pend *p = pend_find(e->context);
	if (!p) {
		fail("CQE for context %lu that is not in flight (result %ld)", e->context, (long)e->result);
		return;
	}
	int64_t r = e->result;
	if (r < -4095)
		fail("CQE result %ld for op %u is not an errno", (long)r, p->op);
	else if (r < 0)
		st.cqe_err_hist[-r]++;
	if (r >= 0) {
		switch (p->op) {
		case ALDER_OP_NOP:
		case ALDER_OP_TIMER:
		case ALDER_OP_CANCEL:
		case ALDER_OP_STREAM:
			if (r != 0)
				fail("op %u completed with %ld, expected 0", p->op, (long)r);
			break;
		case ALDER_OP_OBSERVE:
			if (r < ALDER_OBS_SYSCALL || r > ALDER_OBS_EXITED)
				fail("OBSERVE completed with %ld", (long)r);
			break;
		case ALDER_OP_EVENT_WAIT:
			if (r == 0)
				fail("EVENT_WAIT completed with counter 0");
			break;
		case ALDER_OP_IRQ_WAIT:
			fail("IRQ_WAIT completed with %ld without an IRQ object", (long)r);
			break;
		default:
			fail("invalid op %u completed with %ld", p->op, (long)r);
			break;
		}
	}
	if (p->op == ALDER_OP_STREAM && (e->aux[0] > p->count || e->aux[1] > p->count))
		fail("STREAM CQE aux %lu/%lu beyond its %u actions", e->aux[0], e->aux[1], p->count);
	p->used = false;
	npend--;
}

static void drain_main(void)
{
	struct alder_cqe e;
	while (u_queue_pop(&mq, &e))
		check_cqe(&e);
}

static void main_queue_open(void)
{
	long r = u_queue_init(&mq, MAIN_SQ, MAIN_CQ);
	if (r < 0) {
		fail("cannot create the main queue: %ld", r);
		sys_exit(2);
	}
	mq_ring = mq.params.ring_addr;
	mq_ring_size = mq.params.ring_size;
	got_handle(mq.handle, H_QUEUE, -1, 0, NULL);
	if (is_live(mq.handle)) {
		reg[mq.handle].fixed = true;
		nfixed++;
		if (immortal_horizon == UINT64_MAX)
			immortal_horizon = reg[mq.handle].koid;
	}
}

/* Whether the chain of p may push a handle (a lane, a queue). */
static bool pend_may_push(const struct pend *p)
{
	bool pushes = p->count > 4 || !p->types_known;
	for (unsigned k = 0; k < 4 && k < p->count; k++)
		pushes |= p->types[k] == ALDER_ACTION_PUSH_HANDLE;
	return pushes;
}

/* Close the main queue (cancelling everything in flight on it: no more
 * CQEs), unmap its ring. */
static void main_queue_close(void)
{
	for (unsigned i = 0; i < PEND_SLOTS; i++)
		if (pend[i].used && pend[i].op == ALDER_OP_STREAM && pend_may_push(&pend[i]))
			immortal_horizon = UINT64_MAX; /* until main_queue_open sets it */
	reg[mq.handle].fixed = false;
	nfixed--;
	must(BK1(SYS_HANDLE_CLOSE, mq.handle), "close main queue");
	reg_del(mq.handle);
	must(BK3(SYS_SPACE_UNMAP, SELF, mq_ring, mq_ring_size), "unmap main ring");
	mq_ring = mq_ring_size = 0;
	memset(pend, 0, sizeof(pend));
	npend = 0;
}

/*
 * Whether the kernel will consume (close) the handle of SQE s when it takes
 * it: an ALDER_OP_STREAM with ALDER_STREAM_DROP_LANE whose SQE and
 * arguments pass the checks made before the lane is looked up, on a handle
 * that is a lane (stream.h: "DROP_LANE").
 */
static bool drops_lane(const struct alder_sqe *s)
{
	struct alder_handle_info info;

	if (s->op != ALDER_OP_STREAM || !(s->args[2] & ALDER_STREAM_DROP_LANE))
		return false;
	if ((s->flags & ~ALDER_SQE_FLAGS_ALL) || s->reserved || (s->args[2] & ~(uint64_t)ALDER_STREAM_FLAGS_ALL) ||
	    s->args[3] || s->args[1] == 0 || s->args[1] > ALDER_STREAM_MAX_CHAIN)
		return false;
	uint64_t at = s->args[0], len = s->args[1] * sizeof(struct alder_action);
	if (at >= ULIB_USER_END || len > ULIB_USER_END - at || at < PAGE)
		return false;
	return is_live(s->handle) && !reg[s->handle].fixed && u_handle_info(s->handle, &info) == 0 &&
	       info.type == ALDER_OBJ_LANE;
}

static void queue_step(void)
{
	struct alder_sqe s, conv[2];
	unsigned n = 1 + (unsigned)below(6), pushed = 0, nconv = 0;
	int la, lb;
	int close_after[2] = {0, 0};
	struct pend *batch[8];
	unsigned nbatch = 0;
	if (!(opt.skip & SKIP_CYCLE) && chance(3) && pick_pair(&la, &lb)) {
		/*
		 * A chain on one lane only that pushes its own lane, the peer
		 * and (often) the queue it is on; then we close our handles to
		 * both lanes. A carried handle keeps its object open (stream.h),
		 * so the chain waits -- for a cancel, or the queue's death. If
		 * the queue is carried too, nothing is left that could end it:
		 * the kernel must still reclaim it all, at the latest when we
		 * exit (the object counts say whether it did).
		 */
		static const uint64_t first = ACT_SLOTS - 4;
		struct alder_action *a = (struct alder_action *)(uintptr_t)(STAGE_ACT + first * sizeof(*a));
		unsigned k = chance(60) ? 3 : 1 + (unsigned)below(3);
		unsigned rot = (unsigned)below(3);
		for (unsigned i = 0; i < k; i++) {
			unsigned which = k == 3 ? (i + rot) % 3 : (unsigned)below(4);
			memset(&a[i], 0, sizeof(a[i]));
			a[i].type = ALDER_ACTION_PUSH_HANDLE;
			a[i].rights = ALDER_RIGHTS_ALL;
			a[i].handle = which == 0   ? la
				      : which == 1 ? lb
				      : which == 2 ? mq.handle
						   : (alder_handle_t)pick_live(-1);
		}
		if (chance(70)) {
			close_after[0] = la;
			close_after[1] = lb;
			st.cycles += k == 3;
		}
		memset(conv, 0, sizeof(conv));
		conv[0].op = ALDER_OP_STREAM;
		conv[0].handle = la;
		conv[0].args[0] = (uint64_t)(uintptr_t)a;
		conv[0].args[1] = k;
		nconv = 1;
		n = 1 + (unsigned)below(2);
	} else if (chance(40) && pick_pair(&la, &lb)) {
		memset(conv, 0, sizeof(conv));
		conv[0].op = conv[1].op = ALDER_OP_STREAM;
		conv[0].handle = la;
		conv[1].handle = lb;
		gen_conversation(&conv[0].args[0], &conv[1].args[0], &conv[0].args[1]);
		conv[1].args[1] = conv[0].args[1];
		if (chance(10)) /* the second side replies and hangs up */
			conv[1].args[2] = ALDER_STREAM_DROP_LANE | (chance(50) ? ALDER_STREAM_NO_WRITEBACK : 0) |
					  (chance(30) ? ALDER_STREAM_NOWAIT : 0);
		nconv = 2;
		n = 2 + (unsigned)below(2);
	}
	for (unsigned i = 0; i < n; i++) {
		if (i < nconv) {
			s = conv[i];
			s.context = ctx_next++;
		} else {
			gen_sqe(&s);
		}
		struct pend *p = &pend[s.context % PEND_SLOTS];
		if (p->used)
			break; /* an old one still in flight there */
		/*
		 * A chain that drops its lane closes that handle when the kernel
		 * takes the SQE, which could be at any later enter; so hand it
		 * over now, alone, into a queue with room, and forget the
		 * handle once it is taken (or do not drop it after all).
		 */
		bool drop = drops_lane(&s);
		if (drop) {
			u_queue_enter(mq.handle, u_queue_sq_pending(&mq), 0, 0);
			drain_main();
			if (u_queue_sq_pending(&mq) || mq.hdr->in_flight + 1 >= MAIN_CQ) {
				s.args[2] &= ~(uint64_t)ALDER_STREAM_DROP_LANE;
				drop = false;
			}
		}
		if (u_queue_push(&mq, &s) != 0)
			break;
		if (drop) {
			u_queue_enter(mq.handle, 1, 0, 0);
			if (u_queue_sq_pending(&mq) == 0)
				reg_del(s.handle);
			else
				fail("a DROP_LANE chain was not taken by a queue with room");
		}
		*p = (struct pend){.ctx = s.context,
				   .call = call_index,
				   .op = s.op,
				   .count = (uint32_t)(s.op == ALDER_OP_STREAM ? s.args[1] : 0),
				   .handle = s.handle,
				   .array = s.args[0],
				   .lane_koid = is_live(s.handle) ? reg[s.handle].koid : 0,
				   .used = true};
		batch[nbatch++] = p;
		npend++;
		pushed++;
		st.sqes++;
	}
	/* Sometimes impossible indices: must be refused without harm. */
	uint32_t saved_sq = 0, saved_cq = 0;
	int corrupt = chance(3) ? 1 + (int)below(2) : 0;
	if (corrupt == 1) {
		saved_sq = mq.hdr->sq_tail;
		mq.hdr->sq_tail = mq.hdr->sq_head + MAIN_SQ + 1 + (uint32_t)below(1000);
	} else if (corrupt == 2) {
		saved_cq = mq.hdr->cq_head;
		mq.hdr->cq_head = mq.hdr->cq_tail - MAIN_CQ - 1 - (uint32_t)below(1000);
	}
	struct fcall c = {SYS_QUEUE_ENTER, {(uint64_t)mq.handle, chance(80) ? pushed : gen_int(), 0, 0}, 0};
	if (chance(30)) {
		A(2) = 1 + below(2);
		A(3) = 1 + below(U_NS_PER_MS);
	}
	issue(&c, true);
	if (corrupt == 1)
		mq.hdr->sq_tail = saved_sq;
	else if (corrupt == 2)
		mq.hdr->cq_head = saved_cq;
	if (corrupt && c.ret != -ALDER_EINVAL)
		fail_call(&c, "impossible ring indices not refused");
	/* What the kernel copied in (if it took the whole batch): the staged
	 * inputs as they are now, before the next batch overwrites them. */
	if (u_queue_sq_pending(&mq) == 0) {
		for (unsigned i = 0; i < nbatch; i++) {
			struct pend *p = batch[i];
			if (p->op != ALDER_OP_STREAM || !p->used)
				continue;
			p->types_known = true;
			if (p->array < STAGE_ACT || p->array >= STAGE_END)
				continue;
			const struct alder_action *a = (const struct alder_action *)(uintptr_t)p->array;
			for (uint32_t k = 0;
			     k < 4 && k < p->count && p->array + (k + 1) * sizeof(*a) <= STAGE_END; k++) {
				p->types[k] = (uint8_t)a[k].type;
				p->pushed[k] = a[k].handle;
			}
		}
	}
	drain_main();
	probe_handles(false);
	for (int i = 0; i < 2; i++)
		if (close_after[i] && is_live(close_after[i]) && reg[close_after[i]].kind == H_LANE)
			close_handle(close_after[i]);
}

/* ---- Keeping within bounds -------------------------------------------- */

static void evict_handles(int keep)
{
	while (nlive - nfixed > keep) {
		int h = live[below((uint64_t)nlive)];
		if (!reg[h].fixed)
			close_handle(h);
	}
}

/* Wait for children (killing them first) until fewer than keep are left;
 * those already ending go first. */
static void reap_children(int keep)
{
	for (int pass = 0; pass < 2; pass++)
		for (int i = 0; i < TMAX && unreaped_children() > keep; i++)
			if (thr[i].kind != T_NONE && thr[i].kind != T_SELF && !thr[i].reaped &&
			    (pass == 1 || thr[i].ending))
				child_reap(i);
}

static uint64_t frames_floor;

static void relieve_pressure(void)
{
	st.pressure++;
	evict_handles(4);
	reap_children(0);
	while (nomaps)
		omap_drop(0);
}

static void maintain(void)
{
	if (nlive - nfixed > HCAP)
		evict_handles(HCAP - 8);
	if (unreaped_children() >= CHILD_CAP)
		reap_children(CHILD_CAP - 2);
	int selfs = live_self_threads();
	for (int i = 0; i < TMAX && selfs > SELF_CAP - 2; i++) {
		if (thr[i].kind == T_SELF && !thr[i].ending) {
			self_thread_finish(i);
			selfs--;
		}
	}
	while (nomaps > OMAP_CAP - 4)
		omap_drop((int)below((uint64_t)nomaps));
	while (nhello >= HELLO_CAP)
		hello_reap(0);
	if (npend > MAIN_CQ / 2 || chance(1)) {
		main_queue_close();
		main_queue_open();
		st.rotations++;
	}
	if ((call_index & 255) == 0 && u_info(ALDER_INFO_FREE_FRAMES, UINT64_MAX) < frames_floor)
		relieve_pressure();
	if ((call_index & 1023) == 0)
		probe_handles(true);
}

/* ---- Setup and teardown ----------------------------------------------- */

static uint64_t map_new(uint64_t at, uint64_t pages, uint32_t prot)
{
	long m = must(BK2(SYS_MEM_CREATE, pages * PAGE, 0), "arena mem_create");
	long r = must(BK6(SYS_SPACE_MAP, SELF, m, 0, at, pages * PAGE, prot), "arena map");
	must(BK1(SYS_HANDLE_CLOSE, m), "arena close");
	return (uint64_t)r;
}

static void arena_setup(void)
{
	map_new(SCRATCH, SCRATCH_PAGES, RW);
	map_new(ROPAGE, 1, RW);
	ro_fill((uint8_t *)(uintptr_t)ROPAGE);
	must(BK4(SYS_SPACE_PROTECT, SELF, ROPAGE, PAGE, ALDER_PROT_READ), "protect ro page");
	map_new(RW2, 3, RW);
	must(BK4(SYS_SPACE_PROTECT, SELF, NONEPAGE, PAGE, 0), "protect none page");
	map_new(STAGE_ACT, STAGE_END / PAGE - STAGE_ACT / PAGE, RW);
	memset((void *)(uintptr_t)SCRATCH, 0, SCRATCH_PAGES * PAGE);
}

static void arena_teardown(void)
{
	must(BK3(SYS_SPACE_UNMAP, SELF, ARENA, ARENA_END - ARENA), "unmap arena");
}

/* The children's code: an object with the stub, kept through a handle
 * without WRITE so no fuzzed call can change it. */
static void code_setup(void)
{
	long m = must(BK2(SYS_MEM_CREATE, PAGE, 0), "code mem_create");
	long at = must(BK6(SYS_SPACE_MAP, SELF, m, 0, 0, PAGE, RW), "code map");
	if (at > 0) {
		memcpy((void *)(uintptr_t)at, child_code, sizeof(child_code));
		must(BK3(SYS_SPACE_UNMAP, SELF, at, PAGE), "code unmap");
	}
	code_h = must(BK2(SYS_HANDLE_DUP, m, ALDER_RIGHTS_ALL & ~ALDER_RIGHT_WRITE), "code dup");
	must(BK1(SYS_HANDLE_CLOSE, m), "code close");
	if (code_h > 0) {
		got_handle((int)code_h, H_MEM, -1, PAGE, NULL);
		reg[code_h].fixed = true;
		nfixed++;
	}
}

/* A starting pool of everything. */
static void pool_setup(void)
{
	static const uint64_t sizes[] = {PAGE, 4 * PAGE, 64 * PAGE, (uint64_t)1 << 30};
	for (size_t i = 0; i < U_ARRAY_SIZE(sizes); i++) {
		long m = must(BK2(SYS_MEM_CREATE, sizes[i], 0), "pool mem");
		if (m > 0)
			got_handle((int)m, H_MEM, -1, sizes[i], NULL);
	}
	/* SAC starts with a few mappings: RW, read-only, protection 0. */
	for (int i = 0; i < 3; i++) {
		long m = must(BK2(SYS_MEM_CREATE, 8 * PAGE, 0), "sac mem");
		if (m <= 0)
			continue;
		got_handle((int)m, H_MEM, -1, 8 * PAGE, NULL);
		uint64_t at = SAC + (uint64_t)i * 16 * PAGE;
		must(BK6(SYS_SPACE_MAP, SELF, m, 0, at, 8 * PAGE, RW), "sac map");
		if (i)
			must(BK4(SYS_SPACE_PROTECT, SELF, at, 8 * PAGE, i == 1 ? ALDER_PROT_READ : 0),
			     "sac protect");
	}
	for (int i = 0; i < 2; i++) {
		long s = must(BK0(SYS_SPACE_CREATE), "pool space");
		if (s > 0) {
			got_handle((int)s, H_SPACE, -1, 0, NULL);
			space_setup((int)s);
		}
	}
	for (int i = 0; i < 2; i++) {
		long e = must(BK0(SYS_EVENT_CREATE), "pool event");
		if (e > 0)
			got_handle((int)e, H_EVENT, -1, 0, NULL);
	}
	static alder_handle_t lanes[2];
	for (int i = 0; i < 3; i++) {
		if (must(BK1(SYS_STREAM_CREATE, (uint64_t)(uintptr_t)lanes), "pool stream") != 0)
			continue;
		for (int k = 0; k < 2; k++)
			got_handle(lanes[k], H_LANE, -1, 0, NULL);
		pair_add(lanes[0], lanes[1]);
	}
	static struct alder_queue_params qp;
	long q = must(BK3(SYS_QUEUE_CREATE, 8, 8, (uint64_t)(uintptr_t)&qp), "pool queue");
	if (q > 0) {
		omap_add(qp.ring_addr, qp.ring_size);
		got_handle((int)q, H_QUEUE, -1, 0, NULL);
	}
	/* Threads: two of ours (stopped), one child in a space of ours, one
	 * supervised, one child in our own space; none started. */
	long t = must(BK5(SYS_THREAD_NEW, SELF, STUB, SCRATCH + PAGE, 0, 0), "pool self thread");
	if (t > 0)
		got_thread((int)t, true, 0, NULL);
	/* Our pid: the first T_SELF thread's. */
	for (int i = 0; i < TMAX; i++)
		if (thr[i].kind == T_SELF)
			my_pid = thr[i].pid;
	t = must(BK5(SYS_THREAD_NEW, SELF, STUB, SCRATCH + PAGE, 0, 0), "pool self thread 2");
	if (t > 0)
		got_thread((int)t, true, 0, NULL);
	int sp = pick_live(H_SPACE);
	if (sp) {
		t = must(BK5(SYS_THREAD_NEW, sp, CHILD_CODE, 0x40000, 0, 0), "pool child");
		if (t > 0)
			got_thread((int)t, false, 0, NULL);
		t = must(BK5(SYS_THREAD_NEW, sp, CHILD_CODE, 0x40000, 0, ALDER_THREAD_SUPERVISED),
			 "pool supervised");
		if (t > 0)
			got_thread((int)t, false, ALDER_THREAD_SUPERVISED, NULL);
	}
	t = must(BK5(SYS_THREAD_NEW, SELF, STUB, 0, 0, ALDER_THREAD_NEW_PROCESS), "pool self-space child");
	if (t > 0)
		got_thread((int)t, true, ALDER_THREAD_NEW_PROCESS, NULL);
	/* Duplicates with fewer rights. */
	for (int i = 0; i < 4; i++) {
		int h = pick_live(-1);
		if (!h || reg[h].fixed)
			continue;
		struct hent src = reg[h];
		long d = BK2(SYS_HANDLE_DUP, h, gen_rights());
		if (d > 0)
			got_handle((int)d, src.kind, src.tix, src.size, NULL);
	}
	/* Closed handles: numbers that were used. */
	for (int i = 0; i < 2; i++) {
		long m = BK2(SYS_MEM_CREATE, PAGE, 0);
		if (m > 0) {
			BK1(SYS_HANDLE_CLOSE, m);
			if (m > max_slot)
				__atomic_store_n(&max_slot, (int)m, __ATOMIC_RELAXED);
		}
	}
}

/* End everything: queues (cancels their operations), threads, children,
 * every handle, our mappings. */
/* Close every handle but the main queue's (twice: stream matches finishing
 * in the kernel's stream thread may still hand us handles). */
static void close_all_but_main(void)
{
	for (int round = 0; round < 2; round++) {
		if (round)
			sys_sleep(2 * U_NS_PER_MS);
		probe_handles(true);
		for (int i = nlive - 1; i >= 0; i--)
			if (live[i] != mq.handle)
				reg[live[i]].fixed = false;
		nfixed = 1;
		for (int i = nlive - 1; i >= 0; i--)
			if (i < nlive && live[i] != mq.handle)
				close_handle(live[i]);
	}
}

/*
 * Every operation completes exactly once, with an error when its object
 * goes away (queue.h): with all our threads ended and every other handle
 * closed, each SQE still in flight on the main queue must complete, except
 * timers with a distant deadline. A chain that never does is held up by a
 * reference that nobody can drop any more.
 */
/* The other lane of lane koid's stream, when we made that stream (0: not
 * known). */
static uint64_t peer_lane_koid(uint64_t koid)
{
	for (unsigned i = 0; i < PAIRS && koid; i++) {
		if (pairs[i].k[0] == koid)
			return pairs[i].k[1];
		if (pairs[i].k[1] == koid)
			return pairs[i].k[0];
	}
	return 0;
}

/* Whether p is a chain on a lane that a never-dying queue may hold open.
 * The conversation ends when either side closes, so both of its lanes
 * must be that old; the peer is checked when we know it. */
static bool pend_lane_immortal(const struct pend *p)
{
	if (p->op != ALDER_OP_STREAM || !immortal_horizon)
		return false;
	if (p->lane_koid == 0)
		return true;
	uint64_t peer = peer_lane_koid(p->lane_koid);
	return p->lane_koid <= immortal_horizon && peer <= immortal_horizon;
}

static void expect_all_complete(void)
{
	uint64_t deadline = u_now_ns() + U_NS_PER_SEC;
	unsigned left = 0;
	/* A chain that carries a handle (a lane, a queue) may keep a
	 * conversation open legitimately, so this holds only when no chain
	 * in flight pushes one. */
	for (unsigned i = 0; i < PEND_SLOTS; i++) {
		const struct pend *p = &pend[i];
		if (!p->used || p->op != ALDER_OP_STREAM)
			continue;
		if (pend_may_push(p)) {
			st.liveness_skipped++;
			return;
		}
	}
	do {
		/* SQEs still in the SQ (a short to_submit) go in now. */
		u_queue_enter(mq.handle, u_queue_sq_pending(&mq), 1, 10 * U_NS_PER_MS);
		drain_main();
		left = 0;
		st.liveness_immortal = 0;
		for (unsigned i = 0; i < PEND_SLOTS; i++) {
			if (pend[i].used && pend[i].op != ALDER_OP_TIMER) {
				if (pend_lane_immortal(&pend[i]))
					st.liveness_immortal++;
				else
					left++;
			}
		}
	} while (left && u_now_ns() < deadline);
	if (left) {
		fail("%u operations still in flight a second after every object they use was closed", left);
		for (unsigned i = 0; i < PEND_SLOTS; i++) {
			const struct pend *p = &pend[i];
			if (p->used && p->op != ALDER_OP_TIMER && !pend_lane_immortal(p))
				u_printf(
				    "sysfuzz:   op %u on handle %d from call #%lu, context %lu, %u actions: "
				    "%u(%d) %u(%d) %u(%d) %u(%d)\n",
				    p->op, p->handle, p->call, p->ctx, p->count, p->types[0], p->pushed[0],
				    p->types[1], p->pushed[1], p->types[2], p->pushed[2], p->types[3],
				    p->pushed[3]);
		}
	}
}

static void teardown(void)
{
	chain_finish();
	for (int i = 0; i < TMAX; i++)
		if (thr[i].kind == T_SELF)
			self_thread_finish(i);
	for (int i = 0; i < TMAX; i++)
		if (thr[i].kind != T_NONE && thr[i].kind != T_SELF)
			child_kill(i);
	close_all_but_main();
	expect_all_complete();
	main_queue_close();
	close_all_but_main();
	reap_children(0);
	while (nhello)
		hello_reap(0);
	while (nomaps)
		omap_drop(0);
	arena_teardown();
}

/* ---- The racer (race=1) ---------------------------------------------------- */

/*
 * A second thread that hammers whatever handle numbers are in use with
 * calls that race the main thread's: thread control (never KILL: the
 * number may name a thread of ours; SET_CPU among them), register reads
 * and safe writes,
 * handle info, event signals, queue waits (never submitting: the main
 * thread owns its SQ), reads from and unmap/protect of spaces (a positive
 * number never names our own space), futex wakes. It creates and closes
 * nothing, so the main thread's records stay right. Its results are only
 * range-checked. Runs make the seed's sequence diverge: timing decides.
 */
static volatile uint32_t racer_stop, racer_done, racer_pause, racer_paused;
/* Duels: the main thread names a child that never ran (duel_h), bumps
 * duel_seq and kills it; the racer starts it at the same moment. */
static volatile int32_t duel_h;
static volatile uint32_t duel_seq, duel_ack;
static uint64_t racer_calls, racer_bad;
static struct fcall racer_badcall;
static uint64_t racer_rng;
static uint8_t racer_stack[32768] __attribute__((aligned(16)));
static uint8_t racer_buf[1024] __attribute__((aligned(16)));
static struct alder_regs racer_regs, racer_safe_regs __attribute__((aligned(16)));

static uint64_t racer_rnd(void)
{
	uint64_t z = (racer_rng += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void racer(void *arg)
{
	static const uint64_t ops[] = {ALDER_THREAD_START,  ALDER_THREAD_STOP,	 ALDER_THREAD_RESUME,
				       ALDER_THREAD_GETPID, ALDER_THREAD_SET_CPU, 99};
	uint32_t duel_seen = 0;
	for (uint64_t n = 1; !u_atomic_load(&racer_stop); n++) {
		uint32_t d = u_atomic_load(&duel_seq);
		if (d != duel_seen) {
			u_syscall3(SYS_THREAD_CTL, (uint64_t)(int64_t)u_atomic_load(&duel_h),
				   ALDER_THREAD_START, 0);
			duel_seen = d;
			u_atomic_store(&duel_ack, d);
			continue;
		}
		if (u_atomic_load(&racer_pause)) {
			u_atomic_store(&racer_paused, 1);
			while (u_atomic_load(&racer_pause))
				sys_yield(); /* one CPU: let the main thread run */
			u_atomic_store(&racer_paused, 0);
		}
		/* Bursts of 32, then a nap until the next tick: about as many
		 * calls as the main thread makes. */
		if ((n & 31) == 0)
			sys_sleep(1000);
		uint64_t r = racer_rnd();
		int hi = __atomic_load_n(&max_slot, __ATOMIC_RELAXED) + 3;
		uint64_t h = 1 + (r >> 8) % (uint64_t)hi;
		struct fcall c = {0, {h, 0, 0, 0, 0, 0}, 0};
		switch (r % 12) {
		case 0:
		case 1:
		case 2:
			c.nr = SYS_THREAD_CTL;
			c.a[1] = ops[(r >> 40) % U_ARRAY_SIZE(ops)];
			c.a[2] = (r >> 50) & 1 ? ALDER_THREAD_ANY_CPU : (r >> 51) % 3;
			break;
		case 3:
			c.nr = SYS_THREAD_REGS;
			c.a[1] = (uint64_t)(uintptr_t)((r >> 40) & 1 ? &racer_safe_regs : &racer_regs);
			c.a[2] = (r >> 40) & 1;
			break;
		case 4:
			c.nr = SYS_HANDLE_INFO;
			c.a[1] = (uint64_t)(uintptr_t)racer_buf;
			break;
		case 5:
			c.nr = SYS_EVENT_SIGNAL;
			break;
		case 6:
			c.nr = SYS_QUEUE_ENTER;
			c.a[2] = (r >> 40) & 1;
			c.a[3] = 1 + (r >> 44) % 200000;
			break;
		case 7:
			c.nr = SYS_SPACE_RW;
			c.a[1] = CHILD_CODE + (r >> 40) % (8 * PAGE);
			c.a[2] = (uint64_t)(uintptr_t)racer_buf;
			c.a[3] = (r >> 52) % sizeof(racer_buf);
			break;
		case 8:
			c.nr = (r >> 40) & 1 ? SYS_SPACE_UNMAP : SYS_SPACE_PROTECT;
			c.a[1] = (r >> 41) & 1 ? CHILD_CODE : PAGE * ((r >> 42) % 0x40000);
			c.a[2] = PAGE * (1 + (r >> 60));
			c.a[3] = (r >> 56) & 7;
			break;
		case 9:
			c.nr = SYS_FUTEX_WAKE;
			c.a[0] = SCRATCH + ((r >> 20) % (SCRATCH_PAGES * PAGE / 4)) * 4;
			c.a[1] = 1 + (r >> 50) % 4;
			break;
		default:
			c.nr = SYS_YIELD;
			break;
		}
		c.ret = u_syscall6(c.nr, c.a[0], c.a[1], c.a[2], c.a[3], c.a[4], c.a[5]);
		__atomic_add_fetch(&racer_calls, 1, __ATOMIC_RELAXED);
		if (c.ret < -4095 && __atomic_fetch_add(&racer_bad, 1, __ATOMIC_RELAXED) == 0)
			racer_badcall = c;
	}
	u_atomic_store(&racer_done, 1);
}

static void racer_start(void)
{
	racer_rng = opt.seed ^ 0xacedull;
	/* Registers safe for any thread: a thread of our space runs the stub. */
	racer_safe_regs.rip = STUB;
	racer_safe_regs.rsp = SCRATCH + PAGE;
	racer_safe_regs.rflags = 0x202;
	uint32_t mxcsr = 0x1f80;
	memcpy(racer_safe_regs.fxsave + 24, &mxcsr, 4);
	racer_safe_regs.fxsave[0] = 0x7f;
	racer_safe_regs.fxsave[1] = 0x03;
	if (u_thread_start(racer, NULL, racer_stack, sizeof(racer_stack)) < 0) {
		fail("cannot start the racer thread");
		u_atomic_store(&racer_done, 1);
	}
}

/* Hold the racer while a new thread's pid is learnt: a racing START could
 * let it run and end first, and a pid we do not know we cannot wait for. */
static void racer_hold(bool hold)
{
	if (!opt.race || u_atomic_load(&racer_done))
		return;
	u_atomic_store(&racer_pause, hold ? 1u : 0u);
	while (hold && !u_atomic_load(&racer_paused) && !u_atomic_load(&racer_done))
		sys_yield();
}

/* A duel over a child thread that never ran: KILL (here) against START
 * (the racer), both aimed at the same moment. */
static void duel(void)
{
	if (!opt.race || u_atomic_load(&racer_done))
		return;
	int h = 0;
	for (int i = 0; i < nlive && !h; i++) {
		int c = live[i];
		struct trec *t = thread_of_slot(c);
		if (t && t->kind == T_CHILD && !t->started && !t->ending &&
		    (reg[c].rights & ALDER_RIGHT_MANAGE))
			h = c;
	}
	if (!h)
		return;
	struct trec *t = thread_of_slot(h);
	u_atomic_store(&duel_h, h);
	uint32_t seq = u_atomic_load(&duel_seq) + 1;
	u_atomic_store(&duel_seq, seq);
	for (volatile uint64_t spin = below(200); spin > 0; spin--)
		;
	struct fcall c = {SYS_THREAD_CTL, {(uint64_t)h, ALDER_THREAD_KILL, 0}, 0};
	issue(&c, true);
	while (u_atomic_load(&duel_ack) != seq && !u_atomic_load(&racer_done))
		sys_yield();
	t->ending = true;
	t->started = true;
	st.duels++;
}

static void racer_end(void)
{
	u_atomic_store(&racer_stop, 1);
	while (!u_atomic_load(&racer_done))
		sys_sleep(U_NS_PER_MS / 4);
	if (racer_bad)
		fail("racer: %lu results that are not errnos, first: %s(0x%lx, 0x%lx, 0x%lx, 0x%lx) = %ld",
		     racer_bad, call_name(racer_badcall.nr), racer_badcall.a[0], racer_badcall.a[1],
		     racer_badcall.a[2], racer_badcall.a[3], racer_badcall.ret);
	u_printf("sysfuzz: racer made %lu calls, %lu duels\n", racer_calls, st.duels);
}

/* ---- The worker ---------------------------------------------------------- */

/*
 * Let the kernel finish what it does after a call returns, then read
 * (live objects, free frames). A process another CPU is still tearing down
 * (its last thread is freed by the next thread to run on that CPU) counts
 * until then, and fired queue timers wait in a graveyard that the next
 * SYS_QUEUE_ENTER (by anyone) empties: enter a queue of our own, then wait
 * until both values hold still for 20 ms (at most a second).
 */
static void settle(uint64_t *objs, uint64_t *frames)
{
	struct alder_queue_params qp;
	long q = u_queue_create(1, 1, &qp);
	if (q > 0) {
		u_queue_enter((alder_handle_t)q, 0, 0, 0);
		u_handle_close((alder_handle_t)q);
		u_space_unmap(ALDER_HANDLE_SELF_SPACE, qp.ring_addr, qp.ring_size);
	}
	uint64_t o = u_info(ALDER_INFO_LIVE_OBJECTS, 0), f = u_info(ALDER_INFO_FREE_FRAMES, 0);
	uint64_t deadline = u_now_ns() + U_NS_PER_SEC;
	for (int still = 0; still < 10 && u_now_ns() < deadline;) {
		sys_sleep(2 * U_NS_PER_MS);
		uint64_t o2 = u_info(ALDER_INFO_LIVE_OBJECTS, 0), f2 = u_info(ALDER_INFO_FREE_FRAMES, 0);
		still = o2 == o && f2 == f ? still + 1 : 0;
		o = o2;
		f = f2;
	}
	*objs = o;
	*frames = f;
}

static void fuzz_one(void)
{
	/* Every native number but exit, thread_exit and shutdown; the queue
	 * gets SQE batches besides its plain calls. */
	unsigned pick = (unsigned)below(SYS_NATIVE_COUNT + 9);
	if (pick == SYS_NATIVE_COUNT + 8 && !(opt.skip & SKIP_DEEP)) {
		fz_chain_step();
		return;
	}
	if (pick >= SYS_NATIVE_COUNT) {
		queue_step();
		return;
	}
	switch (ALDER_SYS_BASE + pick) {
	case SYS_LOG:
		fz_log();
		break;
	case SYS_YIELD:
		fz_yield();
		break;
	case SYS_SLEEP:
		fz_sleep();
		break;
	case SYS_CLOCK:
		fz_clock();
		break;
	case SYS_SPAWN:
		fz_spawn();
		break;
	case SYS_WAIT:
		fz_wait();
		break;
	case SYS_INFO:
		fz_info();
		break;
	case SYS_THREAD_CREATE:
		fz_thread_create();
		break;
	case SYS_CONSOLE_READ:
		fz_console_read();
		break;
	case SYS_HANDLE_CLOSE:
		fz_handle_close();
		break;
	case SYS_HANDLE_DUP:
		fz_handle_dup();
		break;
	case SYS_HANDLE_INFO:
		fz_handle_info();
		break;
	case SYS_MEM_CREATE:
		fz_mem_create();
		break;
	case SYS_MEM_CREATE_PHYS:
		fz_mem_create_phys();
		break;
	case SYS_MEM_CREATE_COW:
		fz_mem_derive(true);
		break;
	case SYS_MEM_CREATE_SLICE:
		fz_mem_derive(false);
		break;
	case SYS_SPACE_CREATE:
		fz_space_create();
		break;
	case SYS_SPACE_MAP:
		fz_space_map();
		break;
	case SYS_SPACE_UNMAP:
		fz_space_unmap_protect(false);
		break;
	case SYS_SPACE_PROTECT:
		fz_space_unmap_protect(true);
		break;
	case SYS_SPACE_RW:
		fz_space_rw();
		break;
	case SYS_FUTEX_WAIT:
		fz_futex_wait();
		break;
	case SYS_FUTEX_WAKE:
		fz_futex_wake();
		break;
	case SYS_QUEUE_CREATE:
		fz_queue_create();
		break;
	case SYS_QUEUE_ENTER:
		fz_queue_enter();
		break;
	case SYS_EVENT_CREATE:
		fz_event_create();
		break;
	case SYS_EVENT_SIGNAL:
		fz_event_signal();
		break;
	case SYS_STREAM_CREATE:
		fz_stream_create();
		break;
	case SYS_THREAD_NEW:
		fz_thread_new();
		break;
	case SYS_THREAD_CTL:
		if (opt.race && chance(25))
			duel();
		else
			fz_thread_ctl();
		break;
	case SYS_THREAD_REGS:
		fz_thread_regs();
		break;
	case SYS_IRQ_CREATE:
	case SYS_IRQ_ACK:
	case SYS_IOPORT_CREATE:
	case SYS_IOPORT_ENABLE:
		fz_hw(ALDER_SYS_BASE + pick);
		break;
	default: /* SYS_EXIT, SYS_THREAD_EXIT, SYS_SHUTDOWN: never */
		fz_yield();
		break;
	}
}

static const char *errno_name(unsigned e, char *buf, size_t size)
{
	const char *n = u_errname(-(long)e);
	if (strcmp(n, "E?") != 0)
		return n;
	u_snprintf(buf, size, "E%u", e);
	return buf;
}

static void print_summary(uint64_t ns)
{
	char en[16];
	uint64_t ms = ns / U_NS_PER_MS;
	u_printf(
	    "sysfuzz: %lu calls (%lu ok), %lu SQEs, %lu CQEs, %lu bookkeeping calls in %lu ms (%lu calls/s); "
	    "%lu queue rotations, %lu spawns, %lu pressure reliefs\n",
	    st.fuzz, st.ok, st.sqes, st.cqes, st.book, ms, ms ? st.fuzz * 1000 / ms : 0, st.rotations,
	    st.spawns, st.pressure);
	u_printf("sysfuzz: %lu memory chains (deepest %lu), %lu never-started children abandoned, "
		 "%lu self-carrying chains left; final liveness check: %s, %lu chains on lanes a "
		 "never-dying queue may hold open left out\n",
		 st.chains, st.max_depth, st.abandoned, st.cycles,
		 st.liveness_skipped ? "skipped (a chain in flight may carry a handle)" : "made",
		 st.liveness_immortal);
	char line[400];
	int n = 0;
	for (unsigned i = 0; i < SYS_NATIVE_COUNT; i++) {
		if (!st.per_call[i])
			continue;
		n += u_snprintf(line + n, sizeof(line) - (size_t)n, " %s=%u/%u", call_names[i],
				st.per_call[i], st.per_call_err[i]);
		if (n > 300) {
			u_printf("sysfuzz: calls/errors:%s\n", line);
			n = 0;
		}
	}
	if (n)
		u_printf("sysfuzz: calls/errors:%s\n", line);
	n = 0;
	for (unsigned e = 1; e < 4096; e++) {
		if (st.err_hist[e])
			n += u_snprintf(line + n, sizeof(line) - (size_t)n, " %s=%u",
					errno_name(e, en, sizeof(en)), st.err_hist[e]);
		if (n > 300) {
			u_printf("sysfuzz: errnos:%s\n", line);
			n = 0;
		}
	}
	if (n)
		u_printf("sysfuzz: errnos:%s\n", line);
	n = 0;
	for (unsigned e = 1; e < 4096; e++)
		if (st.cqe_err_hist[e])
			n += u_snprintf(line + n, sizeof(line) - (size_t)n, " %s=%u",
					errno_name(e, en, sizeof(en)), st.cqe_err_hist[e]);
	if (n)
		u_printf("sysfuzz: CQE errnos:%s\n", line);
}

/* The kernel starts its stream thread (a thread object that stays) at the
 * first SYS_STREAM_CREATE: have it exist before counting objects. */
static void warm_streams(void)
{
	static alder_handle_t lanes[2];
	if (u_syscall1(SYS_STREAM_CREATE, (uint64_t)(uintptr_t)lanes) == 0) {
		u_handle_close(lanes[0]);
		u_handle_close(lanes[1]);
	}
}

static int worker_main(void)
{
	uint64_t objs0, free0;
	warm_streams();
	settle(&objs0, &free0);
	uint64_t budget = free0 / 4 < 4096 ? free0 / 4 : 4096;
	frames_floor = free0 - budget;
	image_lo = (uint64_t)(uintptr_t)__text_start & ~(PAGE - 1);
	image_hi = ((uint64_t)(uintptr_t)_end + PAGE - 1) & ~(PAGE - 1);
	rng_state = opt.seed;
	spawn_budget = 2 + opt.count / 5000;
	logs_left = 4 + (unsigned)(opt.count / 10000);

	arena_setup();
	main_queue_open();
	code_setup();
	pool_setup();

	if (opt.race)
		racer_start();
	uint64_t t0 = u_now_ns();
	uint64_t next_report = 100000;
	while (st.fuzz < opt.count) {
		call_index = st.fuzz + 1;
		if (opt.count > 20000 && st.fuzz >= next_report) {
			u_printf("sysfuzz: %lu calls (%lu ms)\n", st.fuzz, (u_now_ns() - t0) / U_NS_PER_MS);
			next_report += 100000;
		}
		fuzz_one();
		maintain();
		if (st.failures > 200)
			break;
	}
	uint64_t t1 = u_now_ns();
	if (opt.race)
		racer_end();
	teardown();
	print_summary(t1 - t0);

	uint64_t objs1, free1;
	settle(&objs1, &free1);
	/* Children we abandoned end as soon as their last handle goes (they
	 * are not ours to wait for any more), so they count here. A chain that
	 * carries its own lanes and queue cannot end while we live: the
	 * kernel cancels it when we exit, and the driver checks. */
	if (objs1 != objs0 && !st.cycles)
		fail("live objects after closing everything: %lu, at the start: %lu%s", objs1, objs0,
		     st.cycles ? " (chains that carry their own lanes and queue were left in flight: "
				 "nothing but the kernel can reclaim them; skip=cycle leaves them out)"
			       : "");
	return st.failures ? 1 : 0;
}

/* ---- The driver and the health check ---------------------------------- */

static uint32_t futex_word;

/* The kernel still works: memory, a queue, a futex, a program. */
static bool health_round(void)
{
	bool ok = true;
	long m = u_mem_create(8 * PAGE, 0);
	long at = m > 0 ? u_space_map(ALDER_HANDLE_SELF_SPACE, (alder_handle_t)m, 0, 0, 8 * PAGE, RW) : m;
	if (at <= 0) {
		u_printf("sysfuzz: health: memory: create %ld map %ld\n", m, at);
		return false;
	}
	for (int i = 0; i < 8; i++)
		((volatile uint32_t *)(uintptr_t)at)[i * 1024] = 0xa5a50000u + (uint32_t)i;
	for (int i = 0; i < 8; i++)
		if (((volatile uint32_t *)(uintptr_t)at)[i * 1024] != 0xa5a50000u + (uint32_t)i)
			ok = false;
	if (u_space_unmap(ALDER_HANDLE_SELF_SPACE, (uint64_t)at, 8 * PAGE) != 0 ||
	    u_handle_close((alder_handle_t)m) != 0) {
		u_printf("sysfuzz: health: unmap/close failed\n");
		ok = false;
	}

	struct u_queue q;
	long r = u_queue_init(&q, 4, 4);
	if (r != 0) {
		u_printf("sysfuzz: health: queue create: %ld\n", r);
		return false;
	}
	struct alder_sqe nop = u_sqe_nop(77);
	struct alder_cqe cqe = {0};
	if (u_queue_push(&q, &nop) != 0 || u_queue_enter(q.handle, 1, 1, U_NS_PER_SEC) != 1 ||
	    !u_queue_pop(&q, &cqe) || cqe.context != 77 || cqe.result != 0) {
		u_printf("sysfuzz: health: queue NOP round trip failed\n");
		ok = false;
	}
	u_handle_close(q.handle);
	u_space_unmap(ALDER_HANDLE_SELF_SPACE, q.params.ring_addr, q.params.ring_size);

	futex_word = 5;
	if (u_futex_wait(&futex_word, 5, 100000) != -ALDER_ETIMEDOUT ||
	    u_futex_wait(&futex_word, 4, 0) != -ALDER_EAGAIN || u_futex_wake(&futex_word, 1) != 0) {
		u_printf("sysfuzz: health: futex wait/wake failed\n");
		ok = false;
	}

	struct alder_exit_info info = {.how = -1};
	const char *call = "?";
	r = u_run("/tests/hello", "", &info, &call);
	if (r != 0 || info.how != ALDER_EXIT_NORMAL || info.status != 0) {
		u_printf("sysfuzz: health: /tests/hello: %s %ld, how %d status %d\n", call, r, info.how,
			 info.status);
		ok = false;
	}
	return ok;
}

/* Threads that start and end: their kernel stacks stay cached for reuse,
 * so make that cache as big as a worker can need before measuring. */
static void warm_kernel_stacks(void)
{
	long t[32];
	int n = 0;
	for (int i = 0; i < 32; i++) {
		long h = u_thread_new(ALDER_HANDLE_SELF_SPACE, STUB, 0, 0, 0);
		if (h > 0)
			t[n++] = h;
	}
	for (int i = 0; i < n; i++)
		u_thread_ctl((alder_handle_t)t[i], ALDER_THREAD_START, 0);
	for (int i = 0; i < n; i++) {
		for (int k = 0; k < 1000 && !thread_gone((int)t[i]); k++)
			sys_sleep(U_NS_PER_MS / 10);
		u_handle_close((alder_handle_t)t[i]);
	}
}

static const char *opt_arg; /* the argument as given */

static bool run_worker(uint64_t seed, uint64_t count)
{
	char arg[160];
	struct alder_exit_info info = {.how = -1};
	const char *call = "?";
	u_snprintf(arg, sizeof(arg), "worker seed=%lu count=%lu", seed, count);
	if (opt.trace != UINT64_MAX)
		u_snprintf(arg, sizeof(arg), "worker seed=%lu count=%lu trace=%lu", seed, count, opt.trace);
	if (opt.race)
		u_snprintf(arg + strlen(arg), sizeof(arg) - strlen(arg), " race=1");
	const char *sk = strchr(opt_arg, 's');
	while (sk && !u_starts_with(sk, "skip="))
		sk = strchr(sk + 1, 's');
	if (sk) {
		size_t n = 0;
		while (sk[n] && sk[n] != ' ')
			n++;
		u_snprintf(arg + strlen(arg), sizeof(arg) - strlen(arg), " %.*s", (int)n, sk);
	}
	long r = u_run("/tests/sysfuzz", arg, &info, &call);
	if (r != 0) {
		u_printf("sysfuzz: %s of the worker failed: %ld (%s)\n", call, r, u_errname(r));
		return false;
	}
	if (info.how != ALDER_EXIT_NORMAL || info.status != 0) {
		char how[128];
		u_format_exit(how, sizeof(how), &info);
		u_printf("sysfuzz: worker (seed %lu, %lu calls) ended: %s\n", seed, count, how);
		return false;
	}
	return true;
}

#define WARM_MAX 20000
#define FRAME_SLACK 64

static int driver_main(void)
{
	bool ok = true;

	u_printf("sysfuzz: seed=%lu count=%lu\n", opt.seed, opt.count);
	/* Warm-up: kernel stacks, slabs, the stream thread, the health path.
	 * The same run as the measured one (up to WARM_MAX calls): each slab
	 * cache keeps one empty slab once it has had one, so only a run that
	 * has already been made once returns every frame exactly. */
	warm_kernel_stacks();
	if (!run_worker(opt.seed, opt.count < WARM_MAX ? opt.count : WARM_MAX) || !health_round())
		return 1;

	uint64_t objs0, free0;
	settle(&objs0, &free0);
	/* rounds=N: the same run N times, to tell a leak (grows every round)
	 * from a cache filling up (does not). */
	uint64_t free_last = free0;
	for (uint64_t round = 1; round <= opt.rounds && ok; round++) {
		ok = run_worker(opt.seed, opt.count);
		uint64_t objs1, free1;
		settle(&objs1, &free1);
		free_last = free1;
		if (objs1 != objs0) {
			u_printf("sysfuzz: round %lu: live objects %lu before the worker, %lu after\n", round,
				 objs0, objs1);
			/* The two generators made for known leaks (see skip=). */
			if (!(opt.skip & SKIP_ABANDON))
				u_printf(
				    "sysfuzz:   did the kernel end the never-started children the worker "
				    "abandoned? (skip=abandon leaves them out)\n");
			if (!(opt.skip & SKIP_CYCLE))
				u_printf("sysfuzz:   did the kernel reclaim the chains that carried their "
					 "own lanes "
					 "and queue? (skip=cycle leaves them out)\n");
			ok = false;
		}
		if (free1 != free0) {
			u_printf("sysfuzz: round %lu: free frames %lu before the worker, %lu after (%ld)\n",
				 round, free0, free1, (long)(free1 - free0));
			/* Past WARM_MAX the run reaches states the warm-up did
			 * not: allow the slabs the heap may keep (one empty slab
			 * per cache; see the top of the file). */
			if (opt.count <= WARM_MAX || free1 + FRAME_SLACK < free0)
				ok = false;
		}
	}
	if (!health_round())
		ok = false;
	uint64_t objs2, free2;
	settle(&objs2, &free2);
	if (objs2 != objs0 || free2 != free_last) {
		u_printf("sysfuzz: after the health check: live objects %lu (was %lu), free frames %lu (was "
			 "%lu)\n",
			 objs2, objs0, free2, free_last);
		ok = false;
	}
	u_printf("sysfuzz: %s (seed=%lu count=%lu)\n", ok ? "ok" : "FAILED", opt.seed, opt.count);
	return ok ? 0 : 1;
}

int main(const char *arg, size_t arg_len)
{
	opt_arg = arg;
	if (!parse_opts(arg)) {
		u_printf("sysfuzz: bad argument \"%s\" (want: seed=N count=M [trace=K])\n", arg);
		return 2;
	}
	if (!opt.seed_given)
		opt.seed = u_rdtsc();
	if (opt.worker)
		return worker_main();
	return driver_main();
}
