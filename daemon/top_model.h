/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * synfin top's model: what the live socket's JSON Lines say, folded into
 * what the screen shows (the counts by state and the counters from the
 * latest stats record, the stuck list from stuck/resolved records, rates
 * from flow records, the recent abnormal closes; latency, TIME_WAIT by
 * remote and CLOSE_WAIT by process from the daemon's answer to
 * {"get":"top"}). Pure: no I/O but the FILE it renders into, no terminal.
 */
#ifndef SYNFIN_TOP_MODEL_H
#define SYNFIN_TOP_MODEL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include "flow.h"

#define TOP_MAX_STUCK 256
#define TOP_RECENT 32
#define TOP_LIST 5	/* keys shown per "by remote" / "by process" list */
#define TOP_HIST_BUCKETS 40
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

/* a latency histogram as the daemon sent it (since its start) */
struct top_hist {
	uint64_t count, p50, p90, p99, max;
	uint64_t bucket[TOP_HIST_BUCKETS];	/* log2: [i] < 2^i µs */
	int nb;
};

struct top_key_row {
	char name[96];		/* "pid/comm" or "address:port" */
	uint64_t netns;
	uint64_t count;
};

/* the stuck list's columns, in their order on the screen */
enum top_sort {
	TOP_SORT_STATE = 0,
	TOP_SORT_AGE,
	TOP_SORT_LOCAL,
	TOP_SORT_PEER,
	TOP_SORT_PROCESS,
	TOP_SORT_NETNS,
	TOP_SORT_COLS,
};

/* what the screen chose: the model is the same for every choice */
struct top_view_opts {
	const char *filter;	/* NULL or "": every row */
	enum top_sort sort;	/* default TOP_SORT_AGE: oldest first */
	bool reverse;
	const char *sel_id;	/* the selected row, marked '>' (NULL: none) */
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
	uint64_t tw_followed;		/* stats: time-wait sockets followed now */
	/* the daemon's answer to {"get":"top"} */
	bool have_top;
	struct top_hist connect, handshake;
	struct top_key_row tw[TOP_LIST], cw[TOP_LIST];
	int n_tw, n_cw;
	uint64_t tw_sockets, tw_remotes, cw_sockets, cw_processes;
	/* the latest answer to {"get":"flow"} (a reply or an error line) */
	char *answer;
	size_t answer_len;
	unsigned int answer_seq;
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
/* The same with the screen's choices (sort column, selected row). */
void top_model__render_view(const struct top_model *m, FILE *out, const struct top_view_opts *v, int width);
/* The rows a cursor moves over, in screen order: the stuck list as
 * sorted, then the recent abnormal closes; i-th, or NULL. */
const struct top_conn *top_model__row(const struct top_model *m, const struct top_view_opts *v, int i);
const char *top_sort_name(enum top_sort s);
/* The recent abnormal closes that pass filter, newest first: i-th. */
const struct top_conn *top_model__recent(const struct top_model *m, const char *filter, int i);
bool top_conn__matches(const struct top_conn *c, const char *filter);

#endif
