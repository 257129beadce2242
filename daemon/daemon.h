/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The daemon's top level, shared by its files, one job each:
 *   main.c       the entry point: options, signals, run, exit status
 *   options.c    the command line and config files (a table of options)
 *   daemon.c     wiring: flow table, pile-ups, outputs; stats; output failures
 *   live.c       the live daemon: capture, tc, the event loop
 *   replay.c     --replay: a recording instead of the kernel
 *   serve.c      the live socket: opening it, each client's greeting
 *   reconcile.c  the kernel's socket list: start-up snapshot, rounds, and
 *                the backlog the rings drain into meanwhile
 *   loss.c       the loss record: events lost, where, which flows
 * Only these files log (log.h).
 */
#ifndef SYNFIN_DAEMON_H
#define SYNFIN_DAEMON_H

#include <stdbool.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include "aggregate.h"
#include "flow.h"
#include "log.h"
#include "options.h"
#include "output.h"
#include "record_json.h"
#include "recorder.h"
#include "stats.h"

/* exit codes (documented in README) */
enum {
	EXIT_OK = 0,
	EXIT_RUNTIME = 1,	/* I/O error, bad replay file, ... */
	EXIT_USAGE = 2,		/* bad flags */
	EXIT_PRIVILEGE = 3,	/* missing capability */
	EXIT_KERNEL = 4,	/* missing kernel feature */
};

/* While the kernel's socket list is read (100k sockets take a while),
 * the rings are still drained, into this backlog: the events go into the
 * table once the round is over, as if read then. */
struct backlog {
	bool holding;
	uint8_t *buf;
	size_t len, cap;
};

/* What the last loss record reported (loss.c): counters as they were. */
struct loss_state {
	uint64_t at;		/* when (mono ns), 0: none yet */
	uint64_t ring_full, by_ring[16], recursion, map_full, bad_size;
};

struct daemon {
	struct opts o;
	struct flow_table *table;
	struct pileup *pileups;
	struct agg *agg;	/* finished flows since the last summary records */
	uint64_t last_summary;	/* when they started */
	uint64_t normal_seen;	/* normal flows, for --sample */
	struct agg_counts total; /* every finished flow since start: --metrics */
	struct metrics *metrics;
	struct agg *total_keys;	/* --metrics-labels: per key since start, never drained */
	bool filter_on;		/* some filter given: records are tested */
	struct filter_cgroups *filter_cg; /* --cgroup: the subtrees' ids */
	struct outputs *outputs;
	struct capture *cap;
	struct tc *tc;
	struct loop *loop;	/* live only */
	struct sock_server *sock; /* live only: the live socket (serve.c) */
	struct recent *recent;	/* --recent: the last finished flows, for requests */
	struct cgroups *cgroups; /* live only: cgroup ids -> paths for records */
	FILE *rec;
	struct sf_clock clk;
	struct sf_stats cnt;	/* the daemon's own counters; the rest is gathered */
	uint64_t start_mono;
	uint64_t last_stats;	/* when the last stats record went out */
	uint64_t rec_errors;
	int exit_rc;		/* set when an output failure ends the run */
	struct log_ratelimit out_rl;
	struct backlog backlog;
	struct loss_state loss;
	/* segment hooks follow every namespace (no --netns, --interface) */
	bool netns_follow;
	bool netns_rescan;	/* a state event came from a namespace not hooked */
	uint64_t netns_scan_at;
	/* live, once capturing (before the loop runs): synfin top --standalone
	 * adds its own sources and output here; non-zero: an exit status */
	int (*on_ready)(struct daemon *d, void *ctx);
	void *on_ready_ctx;
	/* live: the service manager's status line, events per second */
	uint64_t status_events, status_at;
};

/* daemon.c */
uint64_t mono_now(void);
/* The flow table, pile-ups and outputs from d->o. 0 or an exit status
 * (said why). */
int daemon__init(struct daemon *d);
void daemon__fini(struct daemon *d);
/* From d->o (parsed): signals, init, the live daemon or a replay, then
 * everything taken down. An exit status. */
int daemon__run(struct daemon *d);
/* Every counter as it is now (the stats model, stats.h). */
void daemon__gather_stats(struct daemon *d, uint64_t now, struct sf_stats *st);
/* A stats record with the counters as they are now. */
void daemon__emit_stats(struct daemon *d, uint64_t now, double interval_s);
/* The summary records of what finished since the last ones, then afresh. */
void daemon__emit_summaries(struct daemon *d, uint64_t now);
/* Write what the outputs hold; failures are reported and decided
 * (--on-output-error): an exit sets d->exit_rc and stops d->loop. */
void daemon__flush(struct daemon *d);
/* Failures the outputs met while writing, without flushing. */
void daemon__check_outputs(struct daemon *d);
/* SIGHUP: every output opens its file again. */
void daemon__reopen(struct daemon *d);
/* A signal (INT, TERM, QUIT, HUP, USR1): true when it asks to stop. */
bool daemon__signal(struct daemon *d, int signo);
/* The signals synfin handles, for blocking and a signalfd. */
void daemon__signals(sigset_t *set);

/* One event from the kernel, in time order: to the recording and the
 * table (or, during a reconciliation round, to the backlog). */
static inline void daemon__ingest(struct daemon *d, const struct synfin_event *e)
{
	if (d->rec && recorder__write(d->rec, e))
		d->rec_errors++;
	flow_table__ingest(d->table, e);
}

/* loss.c: a loss record if events were lost since the last one (at most
 * one a second, unless force), the flows open now marked partial. */
void loss__check(struct daemon *d, uint64_t now, bool force);

/* live.c, replay.c: an exit status */
int live__run(struct daemon *d);
int replay__run(struct daemon *d);

/* serve.c: the live socket (--socket), 0 or an exit status (said why).
 * The default path taken (another daemon) is a warning, not an exit. */
#define SERVE_DEFAULT_SOCKET "/run/synfin/synfin.sock"
int serve__open(struct daemon *d);
/* What a client reads first (hello, the open flows, the stuck list, the
 * counters), into j. */
void serve__greet(void *ctx, struct json *j);
void serve__close(struct daemon *d);
/* query.c: a client's request line, answered into j (one line). */
void query__answer(void *ctx, const char *line, size_t len, struct json *j);

/* reconcile.c */
struct netns_ent;
/* The namespaces to watch: the --netns ones, or every one there is.
 * Count or -errno; *out is malloc'd. */
int reconcile__watched_netns(const struct opts *o, struct netns_ent **out);
/* One look at the kernel's list (first: the start-up snapshot). */
void reconcile__round(struct daemon *d, bool first, uint64_t now);
/* While b->holding: keep e for after the round. */
void backlog__push(struct backlog *b, const struct synfin_event *e);
void backlog__free(struct backlog *b);

#endif /* SYNFIN_DAEMON_H */
