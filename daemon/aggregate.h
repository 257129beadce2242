/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Aggregates of finished flows, per key: the listener (a server's local
 * port), the remote endpoint (a client's peer), the process (comm) and the
 * cgroup. Cardinality is bounded: at most top_n keys per kind are
 * reported, the rest fold into one "other" entry per kind, which says how
 * many keys it holds. Pure: no I/O. The daemon drains it every
 * --summary-interval into `summary` records; a second, never drained
 * instance can back cumulative metrics.
 */
#ifndef SYNFIN_AGGREGATE_H
#define SYNFIN_AGGREGATE_H

#include <stdbool.h>
#include <linux/types.h>
#include "flow.h"

enum agg_kind {
	AGG_LISTENER = 0,	/* netns + local port of server flows */
	AGG_REMOTE,		/* netns + peer address and port of client flows */
	AGG_PROCESS,		/* comm */
	AGG_CGROUP,		/* cgroup v2 id */
	AGG_KINDS,
};

/* Latencies in log2 buckets of microseconds: bucket i counts values in
 * [2^(i-1), 2^i) us (bucket 0: below 1 us); the last one is open. */
#define AGG_BUCKETS 32

struct agg_hist {
	__u64 count;
	__u64 sum_us;
	__u64 max_us;
	__u32 bucket[AGG_BUCKETS];
};

/* the phases a summary reports (the teardown's and the handshake's) */
enum agg_phase {
	AGG_CONNECT = 0,	/* client: SYN_SENT -> ESTABLISHED */
	AGG_HANDSHAKE,		/* server: the SYN -> the final ACK */
	AGG_FIN_WAIT_1,
	AGG_FIN_WAIT_2,
	AGG_CLOSE_WAIT,
	AGG_LAST_ACK,
	AGG_PHASES,
};

/* why a client's connect failed */
enum agg_fail {
	AGG_FAIL_REFUSED = 0,
	AGG_FAIL_TIMEOUT,
	AGG_FAIL_RESET,		/* reset before the handshake completed (not a refusal) */
	AGG_FAIL_UNREACHABLE,
	AGG_FAIL_KINDS,
};

struct agg_counts {
	__u64 flows;			/* records folded in */
	__u64 closed[SF_CLOSE_FIN_WAIT2_TIMEOUT + 1]; /* by close kind */
	__u64 failed[AGG_FAIL_KINDS];	/* clients whose connect failed */
	__u64 partial;
	__u64 retrans_syn, retrans_synack, retrans_fin;
	__u64 stuck[SF_TCP_NSTATES];	/* stuck records, by state */
	struct agg_hist phase[AGG_PHASES];
};

struct agg_entry {
	enum agg_kind kind;
	bool other;		/* the keys past top_n, folded */
	__u32 keys;		/* other: how many tracked keys it holds */
	bool untracked;		/* other: more keys came than could be tracked */
	__u32 netns;
	__u8 family;
	__u8 addr[16];		/* REMOTE */
	__u16 port;		/* LISTENER, REMOTE */
	char comm[SYNFIN_COMM_LEN]; /* PROCESS */
	__u64 cgroup_id;	/* CGROUP */
	struct agg_counts c;
};

struct agg_config {
	__u32 top_n;		/* keys reported per kind (0: 20) */
	__u32 max_keys;		/* keys tracked per kind (0: 4 x top_n); past it, new
				 * keys go straight to "other" */
};

struct agg;

struct agg *agg__new(const struct agg_config *cfg);
void agg__free(struct agg *a);
/* a finished flow's record (s: its summary) */
void agg__flow(struct agg *a, const struct sf_flow *f, const struct sf_summary *s);
/* one finished flow into c: what agg__flow does for each of its keys
 * (for cumulative totals without keys) */
void agg_counts__flow(struct agg_counts *c, const struct sf_flow *f, const struct sf_summary *s);
/* a stuck record */
void agg__stuck(struct agg *a, const struct sf_flow *f, __u8 state);
typedef void (*agg_visit_fn)(void *ctx, const struct agg_entry *e);
/* Visit every kind's top_n keys (most flows first, then most stuck) and
 * its "other" entry, when any; then start afresh. */
void agg__drain(struct agg *a, agg_visit_fn fn, void *ctx);
/* The same, leaving every count in place (cumulative metrics). */
void agg__visit(struct agg *a, agg_visit_fn fn, void *ctx);
/* The value below which a fraction q of the histogram lies, interpolated
 * within its log2 bucket (so within a factor of 2); 0 when empty. */
double agg_hist__quantile_us(const struct agg_hist *h, double q);
void agg_hist__add(struct agg_hist *h, __u64 us);
/* names in records and metrics: "listener", "connect", "refused"... */
const char *agg_kind_name(unsigned int k);
const char *agg_phase_name(unsigned int p);
const char *agg_fail_name(unsigned int r);
/* upper bound of bucket i in microseconds (UINT64_MAX for the last) */
__u64 agg_hist__bound_us(int i);

#endif /* SYNFIN_AGGREGATE_H */
