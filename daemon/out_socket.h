/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The live socket: a unix stream socket that live viewers (synfin top,
 * socat | jq) connect to. Each client is an output in the registry from
 * accept to hang-up, so it gets every record kind by the one route; it
 * reads first a greeting the daemon writes (hello, then the snapshot).
 *
 * A client never slows capture or the other clients: its socket is
 * non-blocking and what it has not read waits in a bounded buffer; past
 * the bound, lines are dropped whole and counted, and the client is
 * told how many in a `dropped` record once it has room again. Past
 * max_clients, a new client reads one line saying so and is closed.
 *
 * A client may write requests, one JSON object per line; each is handed
 * to the request callback, whose one-line answer goes out between the
 * live records (bounded as they are).
 *
 * Functions return 0 or -errno; nothing here logs.
 */
#ifndef SYNFIN_OUT_SOCKET_H
#define SYNFIN_OUT_SOCKET_H

#include <stdint.h>
#include <sys/types.h>
#include "json.h"
#include "loop.h"
#include "output.h"
#include "record_json.h"
#include "stats.h"

struct sock_server;

/* Writes the greeting into j (whole lines): the daemon's hello and snapshot. */
typedef void (*sock_greet_fn)(void *ctx, struct json *j);
/* Answers one request line (without its newline) into j: whole lines. */
typedef void (*sock_request_fn)(void *ctx, const char *line, size_t len, struct json *j);

struct sock_server_opts {
	const char *path;
	gid_t gid;		/* the socket's group ((gid_t)-1: the daemon's); mode 0660 */
	uint32_t max_clients;
	size_t client_buf;	/* bytes a client may have unread (live records) */
	const struct sf_clock *clk;
	struct loop *loop;
	struct outputs *outputs;
	sock_greet_fn greet;
	void *greet_ctx;
	sock_request_fn request;	/* NULL: requests are read and dropped */
	void *request_ctx;
};

/* Create the directory (0755) if missing, bind (a stale socket left by a
 * dead daemon is replaced; a live one is -EADDRINUSE), listen, watch. */
int sock_server__open(struct sock_server **s, const struct sock_server_opts *o);
/* Every client goes, the socket file is removed. Accepts NULL. */
void sock_server__close(struct sock_server *s);
void sock_server__counters(const struct sock_server *s, struct sf_socket_counters *c);

#endif /* SYNFIN_OUT_SOCKET_H */
