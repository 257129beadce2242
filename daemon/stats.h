/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * One stats model. Every number synfin reports about itself is declared
 * once, in the table in stats.c: its name, what it means, whether it is a
 * counter or a gauge, and where it lives (a field of struct sf_stats,
 * which gathers the flow table's, the time-wait tracker's, the BPF side's,
 * the daemon's and the outputs' counters at one moment). The `stats`
 * record is generated from the table; a metrics endpoint walks the same
 * table. Pure: no I/O.
 */
#ifndef SYNFIN_STATS_H
#define SYNFIN_STATS_H

#include <stddef.h>
#include <stdint.h>
#include "cgroup.h"
#include "flow.h"
#include "json.h"
#include "timewait.h"

/* One output's counters (output.h), or all outputs' summed. */
struct sf_output_counters {
	uint64_t lines;		/* lines written whole */
	uint64_t bytes;		/* bytes written */
	uint64_t write_errors;	/* lines that could not be written (I/O error) */
	uint64_t dropped;	/* lines discarded without an I/O error (no memory) */
};

/* The live socket's counters (out_socket.c). Its clients' lines are not in
 * the outputs' counters: clients come and go, counters only grow. */
struct sf_socket_counters {
	uint64_t clients;	/* connected now */
	uint64_t accepted;
	uint64_t refused;	/* past --max-clients */
	uint64_t lines;		/* lines clients were sent whole */
	uint64_t dropped;	/* lines lost to a slow client's full buffer */
};

/* Half-open requests per listener, the most loaded ones: a bounded set
 * of keys (a label per listener would grow with the host's listeners). */
#define SF_STAT_MAX_LISTENERS 64
struct sf_listener_count {
	uint32_t netns;
	uint16_t port;
	uint32_t count;
};
struct sf_listener_top {
	uint32_t limit;			/* keys kept (<= SF_STAT_MAX_LISTENERS) */
	uint32_t n;
	struct sf_listener_count top[SF_STAT_MAX_LISTENERS];
	uint32_t other_listeners;	/* the listeners past limit */
	uint64_t other;			/* their sum */
};

/* Everything one stats record reports, as it was at one moment. */
struct sf_stats {
	struct flow_table_stats table;
	struct tw_stats tw;
	uint64_t bpf[SF_CNT_MAX];	/* summed BPF per-CPU counters */
	uint64_t recursion_misses;	/* program runs the kernel skipped */
	uint64_t rb_bad_size;		/* ring records of the wrong size */
	uint64_t loss_records;		/* loss records written */
	uint64_t snapshot_sockets;	/* sockets the sock_diag snapshots listed */
	uint64_t snapshot_errors;	/* namespaces that could not be read */
	struct sf_output_counters out;
	struct sf_socket_counters sock;
	/* segment hooks in namespaces that come and go (live.c, tc.c) */
	struct {
		uint64_t added, removed, failed;
		uint64_t unhooked;	/* connections begun where no hook was yet */
		uint64_t scans;
		uint32_t followed, skipped_ifaces;
	} netns;
	struct cg_counters cgroup;	/* cgroup ids -> paths (cgroup.c) */
	struct sf_listener_top half_open; /* requests tracked now, per listener */
	uint64_t flows_unwritten;	/* flow records left out (--flows, --sample) */
	uint64_t tw_unwritten;		/* time_wait records of routine exits left out */
	uint64_t filtered_flows;	/* flow records left out by the filters (daemon.c) */
	uint64_t filtered_records;	/* and the other records about a connection */
	uint64_t summary_records;	/* summary records written */
	double uptime_s;
	double interval_s;		/* since the previous stats record */
};

enum sf_stat_kind {
	SF_STAT_COUNTER,	/* only grows (a Prometheus counter) */
	SF_STAT_GAUGE,		/* a level now */
	SF_STAT_ATTR,		/* about the record itself (its interval): no metric */
};

enum sf_stat_type {
	SF_STAT_U64,		/* uint64_t at off */
	SF_STAT_U32,		/* uint32_t at off */
	SF_STAT_SECONDS,	/* double at off */
	SF_STAT_BY_STATE,	/* uint32_t[SF_TCP_NSTATES] at off: one value per state
				 * (the non-zero ones, keyed by state name) */
	SF_STAT_DERIVED,	/* get() of other fields */
	SF_STAT_BY_ROLE,	/* uint64_t[] at off indexed by enum sf_role: client, server */
	SF_STAT_BY_LISTENER,	/* struct sf_listener_top at off */
};

struct sf_stat_def {
	const char *group;	/* the JSON object it is in ("events"); NULL: top level */
	const char *name;	/* its key there */
	const char *help;
	enum sf_stat_kind kind;
	enum sf_stat_type type;
	size_t off;		/* where it lives in struct sf_stats */
	uint64_t (*get)(const struct sf_stats *s); /* SF_STAT_DERIVED */
};

/* The table, in the order of the stats record. */
extern const struct sf_stat_def sf_stat_defs[];
extern const size_t sf_stat_ndefs;

/* A U64, U32 or DERIVED entry's value. */
uint64_t stats__value(const struct sf_stat_def *d, const struct sf_stats *s);
/* Count a listener into t (t->limit set, the rest zero to begin with);
 * the same netns and port twice (IPv4 and IPv6) is one key. Then sort. */
void stats__listener_add(struct sf_listener_top *t, uint32_t netns, uint16_t port, uint32_t count);
void stats__listener_sort(struct sf_listener_top *t);
/* The body of a stats record (after its common head), from the table. */
void stats__json(struct json *j, const struct sf_stats *s);

#endif /* SYNFIN_STATS_H */
