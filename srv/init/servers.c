/*
 * Boot servers (servers.h). Each server gets one lane of a stream as its
 * bootstrap handle; init keeps the other lane and opens a conversation
 * (OFFER) per request.
 */
#include "servers.h"
#include <ulib.h>
#include <umem.h>
#include <uqueue.h>
#include <ustream.h>

#define REQUEST_TIMEOUT_NS (5ull * 1000 * 1000 * 1000)

static struct u_queue queue;
static alder_handle_t echo_lane = -1;
static long echo_pid = -1;

void servers_start(void)
{
	alder_handle_t lanes[2];
	long r = u_queue_init(&queue, 8, 8);
	if (r == 0)
		r = u_stream_create(lanes);
	if (r != 0) {
		u_printf("init: cannot set up IPC for the servers: %ld (%s)\n", r, u_errname(r));
		return;
	}
	const char *path = "/srv/echo";
	echo_pid = sys_spawn_with(path, strlen(path), "", 0, lanes[1]);
	u_handle_close(lanes[1]); /* the server has its own handle to it now */
	if (echo_pid < 0) {
		u_printf("init: cannot start %s: %ld (%s)\n", path, echo_pid, u_errname(echo_pid));
		u_handle_close(lanes[0]);
		return;
	}
	echo_lane = lanes[0];
	u_printf("init: started %s (pid %ld)\n", path, echo_pid);
}

void servers_echo(const char *text)
{
	static char reply[256];
	if (echo_lane < 0) {
		u_printf("echo: the echo server is not running\n");
		return;
	}
	size_t len = strlen(text);
	struct alder_action a[3] = {u_act_offer(true), u_act_send(text, len), u_act_recv(reply, sizeof(reply) - 1)};
	struct alder_cqe cqe;
	long r = u_stream_run(&queue, echo_lane, a, 3, REQUEST_TIMEOUT_NS, &cqe);
	if (a[0].out_handle > 0)
		u_handle_close(a[0].out_handle); /* ends the conversation */
	if (r != 0) {
		u_printf("echo: request failed: %ld (%s)\n", r, u_errname(r));
		return;
	}
	size_t got = a[2].length < sizeof(reply) ? (size_t)a[2].length : sizeof(reply) - 1;
	reply[got] = '\0';
	u_printf("%s (from pid %ld)\n", reply, echo_pid);
}
