/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * synfin top's model: what the live socket's JSON Lines say, folded into
 * what the screen shows (the counts by state and the counters from the
 * latest stats record, the stuck list from stuck/resolved records, rates
 * and latencies from flow records, the recent abnormal closes). Pure: no
 * I/O but the FILE it renders into, no terminal.
 */
#ifndef SYNFIN_TOP_MODEL_H
#define SYNFIN_TOP_MODEL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include "flow.h"

#define TOP_MAX_STUCK 256
#define TOP_RECENT 32
#define TOP_LAT_SAMPLES 1024
#define TOP_KINDS (SF_CLOSE_FIN_WAIT2_TIMEOUT + 1) /* close kinds, by enum sf_close_kind */

struct top_conn {
	char id[24];
	char state[16];
	char local[64], peer[64];
	char comm[SYNFIN_COMM_LEN * 4];	/* escaped: never raw bytes on a terminal */
	long pid;			/* -1 unknown */
	uint64_t netns;
	int64_t since_us;		/* Unix µs */
	char close[24];			/* recent: how it closed */
	char *line;			/* recent: the flow record, for its diagram */
};

struct top_model {
	char host[64], version[16];
	int64_t started_us;		/* Unix µs of the daemon's start */
	int64_t now_us;			/* the latest record's time */
	/* the latest stats record */
	bool have_stats;
	uint64_t events, lost, rb_failed, recursion, out_errors, out_dropped, sock_dropped;
	uint64_t prev_events;
	double events_per_s, interval_s;
	uint32_t by_state[SF_TCP_NSTATES];
	uint32_t open, stuck_now;
	uint64_t told_dropped;		/* this viewer's own missed lines */
	/* flows in the current second and the rates of the last full one */
	int64_t second;
	uint32_t cur_new, cur_kind[TOP_KINDS];
	double new_per_s, kind_per_s[TOP_KINDS];
	uint64_t total_kind[TOP_KINDS];
	/* latencies (µs) of the last TOP_LAT_SAMPLES flows */
	int64_t connect_us[TOP_LAT_SAMPLES], handshake_us[TOP_LAT_SAMPLES];
	uint32_t n_connect, n_handshake;
	struct top_conn stuck[TOP_MAX_STUCK];
	int n_stuck;
	struct top_conn recent[TOP_RECENT];	/* newest first */
	int n_recent;
	uint64_t lines, bad_lines;
};

void top_model__init(struct top_model *m);
void top_model__free(struct top_model *m);
/* One JSON line from the socket. 0, or -EINVAL (not a record: counted). */
int top_model__line(struct top_model *m, const char *line, size_t len);
/* The whole view as text, width columns at most per line; filter (NULL
 * or "") keeps the rows whose port, address or comm contains it. */
void top_model__render(const struct top_model *m, FILE *out, const char *filter, int width);
/* The recent abnormal closes that pass filter, newest first: i-th. */
const struct top_conn *top_model__recent(const struct top_model *m, const char *filter, int i);
bool top_conn__matches(const struct top_conn *c, const char *filter);

#endif
