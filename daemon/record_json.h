/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Formats records (flows, listeners, ..., stats) as JSON Lines. Pure: the text
 * goes into a struct json buffer; writing it is output.c's business.
 */
#ifndef SYNFIN_RECORD_JSON_H
#define SYNFIN_RECORD_JSON_H

#include "flow.h"
#include "json.h"
#include "timewait.h"

#define SYNFIN_SCHEMA_VERSION 1

/* Monotonic (event clock) to wall clock: real = mono + offset. */
struct sf_clock {
	int64_t mono_to_real_ns;
};

void record_json__record(struct json *j, const struct sf_record *rec, const struct sf_clock *clk);
/* The live socket's own records (out_socket.c). An open flow, for a
 * client's snapshot: its state and how long it has been in it at now. */
struct cg_info;
void record_json__open(struct json *j, const struct sf_flow *f, const struct cg_info *cg, uint64_t now,
		       const struct sf_clock *clk);
/* What a client reads first: who is talking and what is captured. */
struct sf_hello {
	const char *version;
	const char *host;
	uint64_t started;		/* mono ns */
	const char *capture;		/* the capture's own description */
	bool segments;			/* control segments captured (tc) */
	bool snapshot;			/* the kernel's socket list was read at start */
	const uint32_t *netns;		/* --netns (none: every namespace) */
	int n_netns;
};
void record_json__hello(struct json *j, const struct sf_hello *h, uint64_t now, const struct sf_clock *clk);
/* A client missed n lines (its buffer was full). */
void record_json__dropped(struct json *j, uint64_t n, uint64_t now, const struct sf_clock *clk);
/* Replies to a live-socket client's requests (docs/schema.md, "Requests"). */
struct sf_top_entry {
	__u32 count;
	__u32 netns;
	__u8 family;		/* TIME_WAIT by remote: the peer */
	__u8 addr[16];
	__u16 port;
	__u32 tgid;		/* CLOSE_WAIT by process (0: no pid here) */
	char comm[SYNFIN_COMM_LEN];
};
struct agg_hist;
struct sf_top_reply {
	const struct agg_hist *connect, *handshake;	/* since start */
	const struct sf_top_entry *tw, *cw;		/* most first */
	int n_tw, n_cw;
	__u64 tw_sockets, cw_sockets;			/* in all, every key */
	__u32 tw_keys, cw_keys;
};
/* {"get":"flow"}: the flow(s), full detail, as values of "flows" */
void record_json__reply_flows(struct json *j, const char *id, const struct sf_record *const *recs, int n,
			      uint64_t now, const struct sf_clock *clk);
/* {"get":"top"} */
void record_json__reply_top(struct json *j, const struct sf_top_reply *t, uint64_t now, const struct sf_clock *clk);
/* A request that cannot be answered: error is a short keyword, message
 * says why in a sentence; get and id are echoed when known (NULL). */
void record_json__error(struct json *j, const char *get, const char *id, const char *error, const char *message,
			uint64_t now, const struct sf_clock *clk);
/* RFC 3339 UTC with microseconds, e.g. 2026-11-25T10:00:00.123456Z */
void sf_format_time(char *buf, size_t len, uint64_t mono_ns, const struct sf_clock *clk);
/* Stable public id of a socket generation; never the kernel address. */
uint64_t sf_flow_id(uint64_t sk, uint64_t gen);

#endif /* SYNFIN_RECORD_JSON_H */
