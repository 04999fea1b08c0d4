/*
 * echo: a small server on lib/rt (docs/RUNTIME.md), the first process that
 * serves another over a stream. It exists to exercise and measure
 * cross-process IPC (tests/user/ipc_cross.c, tests/user/bench.c); it is not
 * a template for a protocol (a real one puts its messages in abi/).
 *
 * Start it with sys_spawn_with(..., lane): the lane arrives as handle 1
 * (ALDER_HANDLE_BOOTSTRAP) and needs READ and WRITE.
 *
 * Protocol.
 *   - A client opens a conversation with an OFFER on the server lane,
 *     normally with ALDER_ACTION_CHAIN and its first request right behind
 *     it on the new lane: OFFER(chain), SEND(request), RECEIVE(reply).
 *     Anything else on the server lane fails with -EPROTO on both sides and
 *     is otherwise ignored.
 *   - On the conversation, each request is one SEND of 0..ECHO_MAX bytes;
 *     the reply is one SEND of the same bytes, except:
 *       "quit"  (exactly these 4 bytes) the reply "quit", then the server
 *               ends with exit status 0; every other conversation, and the
 *               server lane, then see -EPIPE;
 *       "creds" (exactly 5 bytes) the client follows the SEND with an
 *               IMBUE_CREDS and the RECEIVE with an EXTRACT_CREDS: the
 *               server extracts the client's credentials, replies
 *               "pid <client pid>" and imbues its own;
 *       "cpu"   (exactly 3 bytes) the reply "cpu <n>": the CPU the server
 *               ran on when it took the request (for benchmarks that need
 *               to know where client and server run).
 *   - A request the server cannot take (more than ECHO_MAX bytes, a buffer
 *     that faults, or another action where a SEND was due) ends the
 *     conversation with a DISMISS: the client's pending and later actions
 *     on it complete with -EPIPE. So does a reply the client answers with
 *     an action other than a RECEIVE (the reply's EPROTO).
 *   - The conversation ends when the client closes its lane.
 *
 * The argument is words separated by spaces: "oneshot" (below), "verbose"
 * (debug logging), "cpu=N" (run only on CPU N, for benchmarks).
 *
 * One-shot mode: every
 * conversation carries exactly one request, the remote-procedure-call
 * pattern. The server answers the first request as above and then closes
 * its lane, so the client needs no second action (it may offer with
 * ALDER_ACTION_NO_HANDLE); a client RECEIVE after the reply sees -EPIPE. A
 * plain request is answered straight from the acceptor's completion (no
 * fibril): a reply that fits inline goes as a detached SEND that drops the
 * lane (rt_stream_send_detached: no completion to wait for, no close
 * call); a longer one is one SEND whose completion closes the lane.
 *
 * Structure: one thread, one rt loop. The acceptor is a completion function
 * (it only hands records around), each conversation a fibril (it reads as
 * the protocol above). At most ECHO_CONVS conversations run at once; while
 * all are busy no ACCEPT is posted, and further OFFERs wait in the kernel.
 * Each conversation record has a fixed ECHO_MAX-byte receive buffer in one
 * anonymous mapping made at start-up (frames arrive on first touch).
 *
 * Exit status: 0 after "quit", or when the client side of the server lane
 * is gone and the last conversation has ended; 2 when the argument is bad
 * (or names a CPU that is not there) or handle 1 is not a usable lane; 1
 * when the runtime or the kernel fails.
 */
#include <ulib.h>
#include <umem.h>
#include <uthread.h>

#include <rt/rt.h>

#define ECHO_MAX ((size_t)1 << 20) /* largest request, bytes */
#define ECHO_CONVS 32		   /* conversations at once */
#define ECHO_LANE_NEEDS (ALDER_RIGHT_READ | ALDER_RIGHT_WRITE)
#define ECHO_DONE 1 /* a conversation status: one-shot reply sent, the conversation ends */

/* One conversation. While free it is on echo.free; while the ACCEPT that
 * receives into it is pending it is echo.accepting; otherwise its fibril
 * owns it (and the lane) until on_exit puts it back. */
struct echo_conv {
	struct rt_fibril fibril;
	struct echo_conv *next_free;
	alder_handle_t lane; /* this side of the conversation */
	uint8_t *buf;	     /* ECHO_MAX bytes */
	size_t len;	     /* first request: bytes received by the accept chain */
	int32_t status;	     /* first request: the chained RECEIVE's status */
	struct rt_op reply_op;	     /* one-shot mode: the reply */
	struct alder_action reply;   /* one-shot mode: its SEND */
};

/* The server. Everything here belongs to the loop's (only) thread. */
struct echo_server {
	struct rt_loop loop;
	alder_handle_t lane; /* the server lane (handle 1) */
	struct rt_op accept_op;
	struct alder_action accept_acts[2]; /* ACCEPT(chain), RECEIVE */
	struct echo_conv *accepting;	    /* the record accept_acts receives into */
	struct echo_conv *free;
	bool stopping;	/* "quit" seen: post no more ACCEPTs */
	bool lane_gone; /* the server lane's peer closed: post no more ACCEPTs */
	bool oneshot;	/* one request per conversation (see the top) */
	int exit_status;
	uint64_t served; /* conversations accepted (for the log) */
	struct echo_conv convs[ECHO_CONVS];
};

static struct echo_server echo;

static void echo_accept_post(void);

/* ---- Conversations (fibrils) ---------------------------------------------------- */

/* Is the request (len bytes in c->buf) the string literal word? */
#define echo_is(c, len, word) ((len) == sizeof(word) - 1 && memcmp((c)->buf, word, sizeof(word) - 1) == 0)

/*
 * Suspends. Send the reply (len bytes of c->buf) and receive the next
 * request into c->buf. Returns the next request's status (its length in
 * *next), or the reply's failure when the conversation cannot go on.
 * Small replies travel inline in one chain with the next RECEIVE (the
 * kernel copies inline data at submission, so the RECEIVE may overwrite
 * c->buf at once); larger ones are sent first and awaited, so the next
 * request can never land in the buffer while the reply is still read
 * from it. In one-shot mode only the reply is sent: ECHO_DONE when it
 * went.
 */
static int64_t echo_reply_and_next(struct echo_conv *c, const void *reply, size_t len, size_t *next)
{
	struct alder_action a[2];
	int64_t r;

	*next = 0;
	if (echo.oneshot) {
		r = rt_stream_send_await(&echo.loop, c->lane, reply, len);
		return r == 0 ? ECHO_DONE : r;
	}
	if (len <= ALDER_ACTION_INLINE_MAX) {
		(void)rt_action_send_inline(&a[0], reply, len);
		rt_action_receive(&a[1], c->buf, ECHO_MAX);
		r = rt_stream_submit_await(&echo.loop, c->lane, a, 2);
		if (r == 0) {
			*next = (size_t)a[1].length;
			return 0;
		}
		if (a[0].status != 0 && a[0].status != -ALDER_EMSGSIZE)
			return a[0].status; /* EPIPE, EPROTO, ECANCELED, ... */
		if (a[0].status == 0 && a[1].status == 0)
			return r; /* never ran: a start or submission error */
		/* The reply went (or the client's room was too small: it was
		 * told so); the next request's own status decides. */
		*next = (size_t)a[1].length;
		return a[1].status;
	}
	r = rt_stream_send_await(&echo.loop, c->lane, reply, len);
	if (r < 0 && r != -ALDER_EMSGSIZE)
		return r;
	/* -EMSGSIZE: the client's RECEIVE was too small; it was told so, and
	 * the conversation goes on. */
	return rt_stream_receive_await(&echo.loop, c->lane, c->buf, ECHO_MAX, next);
}

/* Suspends. The "creds" exchange (see the top of the file); then the next
 * request, as echo_reply_and_next. */
static int64_t echo_creds(struct echo_conv *c, size_t *next)
{
	struct alder_creds peer;
	struct alder_action a[3];
	char reply[32];

	*next = 0;
	int64_t r = rt_stream_extract_creds_await(&echo.loop, c->lane, &peer);
	if (r < 0)
		return r;
	int n = u_snprintf(reply, sizeof(reply), "pid %u", peer.pid);
	(void)rt_action_send_inline(&a[0], reply, (size_t)n);
	rt_action_imbue_creds(&a[1]);
	rt_action_receive(&a[2], c->buf, ECHO_MAX);
	r = rt_stream_submit_await(&echo.loop, c->lane, a, 3);
	if (r == 0) {
		*next = (size_t)a[2].length;
		return 0;
	}
	if (a[0].status != 0)
		return a[0].status;
	if (a[1].status != 0)
		return a[1].status;
	*next = (size_t)a[2].length;
	return a[2].status != 0 ? a[2].status : r;
}

/* Whether a failure status means the client broke the protocol (the
 * conversation is dismissed) rather than left (-EPIPE) or was cancelled. */
static bool echo_client_fault(int64_t status)
{
	return status == -ALDER_EMSGSIZE || status == -ALDER_EPROTO || status == -ALDER_EIO ||
	       status == -ALDER_EFAULT;
}

static void echo_conv_main(void *arg)
{
	struct echo_conv *c = arg;
	int64_t st = c->status;
	size_t len = c->len;

	for (;;) {
		if (st != 0) {
			if (echo_client_fault(st)) {
				rt_log(RT_LOG_INFO, "conversation %d: bad request (%s), dismissed", c->lane,
				       u_errname(st));
				(void)rt_stream_dismiss_await(&echo.loop, c->lane);
			}
			break; /* -EPIPE: the client closed; -ECANCELED: shutdown */
		}
		if (echo_is(c, len, "quit")) {
			/* Reply, then stop: the loop returns after this round and
			 * main shuts it down, which cancels every other
			 * conversation. */
			int64_t r = rt_stream_send_await(&echo.loop, c->lane, "quit", 4);
			rt_log(RT_LOG_DEBUG, "quit (reply: %s)", r == 0 ? "sent" : u_errname(r));
			echo.stopping = true;
			echo.exit_status = 0;
			rt_loop_stop(&echo.loop);
			break;
		}
		if (echo_is(c, len, "creds")) {
			st = echo_creds(c, &len);
		} else if (echo_is(c, len, "cpu")) {
			char reply[32];
			int n = u_snprintf(reply, sizeof(reply), "cpu %lu",
					   (unsigned long)u_info(ALDER_INFO_CPU_ID, ~0ull));
			st = echo_reply_and_next(c, reply, (size_t)n, &len);
		} else {
			st = echo_reply_and_next(c, c->buf, len, &len);
		}
		if (echo.oneshot && st == 0)
			break; /* creds: one exchange */
	}
	(void)rt_handle_close(c->lane);
	c->lane = ALDER_HANDLE_NONE;
}

/* Runs in the dispatcher once the conversation's fibril has exited. */
static void echo_conv_exit(struct rt_fibril *f)
{
	struct echo_conv *c = rt_container_of(f, struct echo_conv, fibril);

	c->next_free = echo.free;
	echo.free = c;
	echo_accept_post();
}

/* ---- The acceptor (completion functions) ------------------------------------------ */

static void echo_conv_free(struct echo_conv *c)
{
	c->next_free = echo.free;
	echo.free = c;
}

static void echo_fatal(const char *what, int64_t err)
{
	rt_log(RT_LOG_ERROR, "%s: %s", what, u_errname(err));
	echo.stopping = true;
	echo.exit_status = 1;
	rt_loop_stop(&echo.loop);
}

/* One-shot mode: the reply went (or could not): the conversation ends. */
static void echo_oneshot_done(struct rt_op *op)
{
	struct echo_conv *c = rt_container_of(op, struct echo_conv, reply_op);

	if (op->result < 0 && op->result != -ALDER_EPIPE && op->result != -ALDER_ECANCELED)
		rt_log(RT_LOG_INFO, "conversation %d: reply: %s", c->lane, u_errname(op->result));
	(void)rt_handle_close(c->lane);
	c->lane = ALDER_HANDLE_NONE;
	echo_conv_free(c);
	echo_accept_post();
}

/* One-shot mode, a plain request (c->len bytes in c->buf, received fine):
 * answer it from here, without a fibril. False when the request needs the
 * conversation code (a special word, a failed receive). */
static bool echo_oneshot_reply(struct echo_conv *c)
{
	if (c->status != 0 || echo_is(c, c->len, "quit") || echo_is(c, c->len, "creds") ||
	    echo_is(c, c->len, "cpu"))
		return false;
	if (rt_stream_send_detached(&echo.loop, c->lane, c->buf, c->len, ALDER_STREAM_DROP_LANE) == 0) {
		c->lane = ALDER_HANDLE_NONE; /* the kernel closes it */
		echo_conv_free(c);
		return true;
	}
	if (rt_action_send_inline(&c->reply, c->buf, c->len) < 0)
		rt_action_send(&c->reply, c->buf, c->len); /* c->buf stays until the reply is done */
	int r = rt_stream_submit(&echo.loop, &c->reply_op, c->lane, &c->reply, 1, echo_oneshot_done);
	if (r < 0) {
		if (r != -ALDER_ECANCELED)
			rt_log(RT_LOG_WARN, "conversation %d: reply: %s", c->lane, u_errname(r));
		(void)rt_handle_close(c->lane);
		c->lane = ALDER_HANDLE_NONE;
		echo_conv_free(c);
	}
	return true;
}

static void echo_accept_done(struct rt_op *op)
{
	struct echo_conv *c = echo.accepting;
	struct alder_action *acc = &echo.accept_acts[0], *rcv = &echo.accept_acts[1];

	echo.accepting = NULL;
	/* The outputs are zero unless the kernel wrote them back (builders
	 * clear them), so out_handle != 0 means the ACCEPT made a lane. */
	if (acc->status != 0 || acc->out_handle == ALDER_HANDLE_NONE) {
		echo_conv_free(c);
		int64_t r = op->result;
		if (r == -ALDER_ECANCELED)
			return; /* shutdown */
		if (r == -ALDER_EPIPE) {
			/* No client can reach us any more: serve the open
			 * conversations, then rt_loop_run returns idle. */
			rt_log(RT_LOG_DEBUG, "server lane closed after %lu conversations",
			       (unsigned long)echo.served);
			echo.lane_gone = true;
			return;
		}
		if (r == -ALDER_EPROTO || r == -ALDER_EMFILE || r == -ALDER_ENOMEM) {
			/* Not an OFFER, or no room for the new lane: that
			 * client's problem; the next one may be fine. */
			rt_log(RT_LOG_INFO, "accept: %s", u_errname(r));
			echo_accept_post();
			return;
		}
		echo_fatal("accept", r);
		return;
	}
	echo.served++;
	c->lane = acc->out_handle;
	c->len = (size_t)rcv->length;
	c->status = rcv->status;
	if (echo.oneshot && echo_oneshot_reply(c)) {
		echo_accept_post();
		return;
	}
	struct rt_fibril_opts opts = {.on_exit = echo_conv_exit, .name = "conv"};
	int r = rt_fibril_start(&echo.loop, &c->fibril, echo_conv_main, c, &opts);
	if (r < 0) {
		/* Shutting down, or no stack: the client sees the lane close. */
		(void)rt_handle_close(c->lane);
		c->lane = ALDER_HANDLE_NONE;
		echo_conv_free(c);
		if (r != -ALDER_ECANCELED)
			rt_log(RT_LOG_WARN, "conversation fibril: %s", u_errname(r));
	}
	echo_accept_post();
}

/* Post the ACCEPT for the next conversation, if a record is free and none
 * is posted. Any context on the loop's thread. */
static void echo_accept_post(void)
{
	if (echo.stopping || echo.lane_gone || echo.accepting || !echo.free)
		return;
	struct echo_conv *c = echo.free;
	echo.free = c->next_free;
	echo.accepting = c;
	rt_action_accept(&echo.accept_acts[0], true);
	rt_action_receive(&echo.accept_acts[1], c->buf, ECHO_MAX);
	int r =
	    rt_stream_submit(&echo.loop, &echo.accept_op, echo.lane, echo.accept_acts, 2, echo_accept_done);
	if (r < 0) {
		echo.accepting = NULL;
		echo_conv_free(c);
		if (r != -ALDER_ECANCELED)
			echo_fatal("posting an accept", r);
	}
}

/* ---- Start-up ------------------------------------------------------------------------ */

static int echo_setup(void)
{
	struct alder_handle_info info;
	long r = u_handle_info(ALDER_HANDLE_BOOTSTRAP, &info);

	if (r < 0 || info.type != ALDER_OBJ_LANE || (info.rights & ECHO_LANE_NEEDS) != ECHO_LANE_NEEDS) {
		rt_log(RT_LOG_ERROR, "handle 1 is not a lane with READ and WRITE (%s, type %u, rights 0x%x)",
		       r < 0 ? u_errname(r) : "ok", r < 0 ? 0 : info.type, r < 0 ? 0 : info.rights);
		return 2;
	}
	echo.lane = ALDER_HANDLE_BOOTSTRAP;

	uint64_t size = (uint64_t)ECHO_CONVS * ECHO_MAX;
	long mem = u_mem_create(size, 0);
	if (mem < 0) {
		rt_log(RT_LOG_ERROR, "buffers: mem_create: %s", u_errname(mem));
		return 1;
	}
	long at = u_space_map(ALDER_HANDLE_SELF_SPACE, (alder_handle_t)mem, 0, 0, size,
			      ALDER_PROT_READ | ALDER_PROT_WRITE);
	(void)u_handle_close((alder_handle_t)mem); /* the mapping keeps it */
	if (at < 0) {
		rt_log(RT_LOG_ERROR, "buffers: map: %s", u_errname(at));
		return 1;
	}
	for (unsigned i = ECHO_CONVS; i-- > 0;) {
		echo.convs[i].buf = (uint8_t *)(uintptr_t)((uint64_t)at + (uint64_t)i * ECHO_MAX);
		echo_conv_free(&echo.convs[i]);
	}

	r = rt_loop_init(&echo.loop, NULL);
	if (r < 0) {
		rt_log(RT_LOG_ERROR, "loop: %s", u_errname(r));
		return 1;
	}
	return 0;
}

/* The argument: words "oneshot", "verbose" and "cpu=N" (run only on CPU
 * N), separated by spaces. False for anything else. */
static bool echo_parse(const char *arg, bool *verbose, long *cpu)
{
	while (*arg) {
		size_t n = 0;
		while (arg[n] && arg[n] != ' ')
			n++;
		if (n == 7 && memcmp(arg, "oneshot", 7) == 0)
			echo.oneshot = true;
		else if (n == 7 && memcmp(arg, "verbose", 7) == 0)
			*verbose = true;
		else if (n > 4 && memcmp(arg, "cpu=", 4) == 0) {
			char num[24];
			if (n - 4 >= sizeof(num))
				return false;
			memcpy(num, arg + 4, n - 4);
			num[n - 4] = 0;
			if (!u_parse_long(num, cpu) || *cpu < 0)
				return false;
		} else
			return false;
		arg += n;
		while (*arg == ' ')
			arg++;
	}
	return true;
}

int main(const char *arg, size_t arg_len)
{
	bool verbose = false;
	long cpu = -1;

	if (!echo_parse(arg, &verbose, &cpu)) {
		u_printf("echo: bad argument \"%s\" (words: oneshot, verbose, cpu=N)\n", arg);
		return 2;
	}
	rt_log_init("echo", verbose ? RT_LOG_DEBUG : RT_LOG_WARN);
	if (cpu >= 0) {
		long r = u_thread_ctl(ALDER_HANDLE_SELF_THREAD, ALDER_THREAD_SET_CPU, (uint64_t)cpu);
		if (r < 0) {
			rt_log(RT_LOG_ERROR, "cpu=%ld: %s", cpu, u_errname(r));
			return 2;
		}
	}
	int status = echo_setup();
	if (status != 0)
		return status;

	echo_accept_post();
	int r = rt_loop_run(&echo.loop);
	if (r < 0) {
		rt_log(RT_LOG_ERROR, "loop: %s", u_errname(r));
		echo.exit_status = 1;
	} else if (r == RT_LOOP_IDLE && !echo.lane_gone) {
		rt_log(RT_LOG_ERROR, "loop went idle with the server lane open");
		echo.exit_status = 1;
	}
	r = rt_loop_shutdown(&echo.loop);
	if (r < 0) {
		rt_log(RT_LOG_ERROR, "shutdown: %s", u_errname(r));
		echo.exit_status = 1;
	}
	rt_loop_fini(&echo.loop);
	rt_log(RT_LOG_DEBUG, "exit %d after %lu conversations", echo.exit_status, (unsigned long)echo.served);
	return echo.exit_status;
}
