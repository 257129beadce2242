// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Aggregates per listener, remote, process and cgroup, bounded. */
#include "unit.h"
#include "aggregate.h"

static struct agg_entry seen_e[64];
static int nseen;

static void visit(void *ctx, const struct agg_entry *e)
{
	(void)ctx;
	if (nseen < 64)
		seen_e[nseen++] = *e;
}

static const struct agg_entry *find(enum agg_kind k, bool other, __u16 port)
{
	for (int i = 0; i < nseen; i++)
		if (seen_e[i].kind == k && seen_e[i].other == other && (other || !port || seen_e[i].port == port))
			return &seen_e[i];
	return NULL;
}

/* every flow record of a table goes into a (what the daemon's sink does) */
static struct agg *sink_agg;

static void agg_sink(void *ctx, const struct sf_record *r)
{
	sink(ctx, r);
	if (r->type == SF_REC_FLOW)
		agg__flow(sink_agg, r->flow, r->sum);
	else if (r->type == SF_REC_STUCK)
		agg__stuck(sink_agg, r->flow, r->state);
}

TEST(aggregate_keys_and_latency)
{
	struct agg_config ac = { .top_n = 2 };
	struct flow_table_config cfg = { .max_flows = 256, .close_grace_ns = GRACE };
	struct flow_table *t;
	const struct agg_entry *e;

	sink_agg = agg__new(&ac);
	EXPECT(sink_agg);
	nrec = 0;
	t = flow_table__new(&cfg, agg_sink, NULL);
	/* 3 clients to 10.0.0.2:80, connect 1, 2 and 4 ms; one refused */
	for (__u64 sk = 1; sk <= 3; sk++) {
		__u64 t0 = sk * SEC;

		feed(t, ev(sk, t0, t0, SF_TCP_CLOSE, SF_TCP_SYN_SENT));
		feed(t, ev(sk, t0, t0 + (1ULL << (sk - 1)) * 1000000, SF_TCP_SYN_SENT, SF_TCP_ESTABLISHED));
		feed(t, ev(sk, t0, t0 + 10000000, SF_TCP_ESTABLISHED, SF_TCP_FIN_WAIT1));
		feed(t, ev(sk, t0, t0 + 11000000, SF_TCP_FIN_WAIT1, SF_TCP_FIN_WAIT2));
		feed(t, ev(sk, t0, t0 + 12000000, SF_TCP_FIN_WAIT2, SF_TCP_CLOSE));
	}
	{
		struct synfin_event e1 = ev(4, 5 * SEC, 5 * SEC, SF_TCP_CLOSE, SF_TCP_SYN_SENT);
		struct synfin_event e2 = ev(4, 5 * SEC, 5 * SEC + 100, SF_TCP_SYN_SENT, SF_TCP_CLOSE);

		e2.sk_err = ECONNREFUSED;
		feed(t, e1);
		feed(t, e2);
	}
	/* other remotes: ports 81, 82 (one flow each) */
	for (__u64 sk = 5; sk <= 6; sk++) {
		struct synfin_event e1 = ev(sk, 6 * SEC, 6 * SEC, SF_TCP_CLOSE, SF_TCP_SYN_SENT);
		struct synfin_event e2 = ev(sk, 6 * SEC, 6 * SEC + 100, SF_TCP_SYN_SENT, SF_TCP_CLOSE);

		e1.dport = e2.dport = 76 + sk;
		e2.sk_err = ETIMEDOUT;
		feed(t, e1);
		feed(t, e2);
	}
	flow_table__flush(t);
	EXPECT(nrec == 6);
	nseen = 0;
	agg__drain(sink_agg, visit, NULL);
	e = find(AGG_REMOTE, false, 80);
	EXPECT(e && e->c.flows == 4 && e->c.closed[SF_CLOSE_NORMAL] == 3);
	EXPECT(e->c.failed[AGG_FAIL_REFUSED] == 1 && e->c.phase[AGG_CONNECT].count == 3);
	/* 1, 2, 4 ms: the median lies in [1024, 2048) us, the max is exact */
	EXPECT(e->c.phase[AGG_CONNECT].max_us == 4000);
	{
		double p50 = agg_hist__quantile_us(&e->c.phase[AGG_CONNECT], 0.5);
		double p99 = agg_hist__quantile_us(&e->c.phase[AGG_CONNECT], 0.99);

		EXPECT(p50 >= 1024 && p50 <= 2048);
		EXPECT(p99 > 2048 && p99 <= 4000);
	}
	EXPECT(e->c.phase[AGG_FIN_WAIT_1].count == 3);
	/* top 2: port 80 and one of 81/82; the third folds into other */
	e = find(AGG_REMOTE, true, 0);
	EXPECT(e && e->keys == 1 && e->c.flows == 1 && e->c.failed[AGG_FAIL_TIMEOUT] == 1 && !e->untracked);
	e = find(AGG_PROCESS, false, 0);
	EXPECT(e && !strcmp(e->comm, "curl") && e->c.flows == 6);
	/* drained: afresh */
	nseen = 0;
	agg__drain(sink_agg, visit, NULL);
	EXPECT(nseen == 0);
	flow_table__free(t);
	agg__free(sink_agg);
}

/* more keys than are tracked: the rest goes to other at once, and says so */
TEST(aggregate_bounded)
{
	struct agg_config ac = { .top_n = 2, .max_keys = 4 };
	struct agg *a = agg__new(&ac);
	struct sf_flow f = { .role = SF_ROLE_SERVER, .netns = 1, .family = 2 };
	struct sf_summary s = { .close = SF_CLOSE_NORMAL, .established = true, .connect_ns = -1,
				.handshake_ns = 2000, .lifetime_ns = -1 };
	const struct agg_entry *e;

	EXPECT(a);
	for (int i = 0; i < 10; i++) {
		f.sport = 1000 + i;
		for (int k = 0; k <= i; k++) /* port 1009 has the most flows */
			agg__flow(a, &f, &s);
	}
	nseen = 0;
	agg__drain(a, visit, NULL);
	EXPECT(nseen == 3); /* 2 listeners + other (no comm, no cgroup) */
	EXPECT(seen_e[0].port == 1003 && seen_e[0].c.flows == 4 && seen_e[1].port == 1002);
	e = find(AGG_LISTENER, true, 0);
	EXPECT(e && e->untracked && e->keys == 2 && e->c.flows == 1 + 2 + (5 + 6 + 7 + 8 + 9 + 10));
	EXPECT(e->c.phase[AGG_HANDSHAKE].count == e->c.flows);
	agg__free(a);
}

/* visit (cumulative metrics) reports what drain would, twice over, and
 * keeps counting: the other entry is folded afresh each time */
TEST(aggregate_visit_keeps_counts)
{
	struct agg_config ac = { .top_n = 1 };
	struct agg *a = agg__new(&ac);
	struct sf_flow f = { .role = SF_ROLE_SERVER, .netns = 1, .family = 2 };
	struct sf_summary s = { .close = SF_CLOSE_NORMAL, .established = true, .connect_ns = -1,
				.handshake_ns = -1, .lifetime_ns = -1 };
	const struct agg_entry *e;

	EXPECT(a);
	for (int i = 0; i < 3; i++) {
		f.sport = 2000 + i;
		for (int k = 0; k <= i; k++)
			agg__flow(a, &f, &s);
	}
	for (int round = 0; round < 2; round++) {
		nseen = 0;
		agg__visit(a, visit, NULL);
		EXPECT(nseen == 2 && seen_e[0].port == 2002 && seen_e[0].c.flows == 3);
		e = find(AGG_LISTENER, true, 0);
		EXPECT(e && e->keys == 2 && e->c.flows == 3);
	}
	f.sport = 2000;
	agg__flow(a, &f, &s);
	nseen = 0;
	agg__visit(a, visit, NULL);
	e = find(AGG_LISTENER, true, 0);
	EXPECT(e && e->c.flows == 4);
	nseen = 0;
	agg__drain(a, visit, NULL);
	EXPECT(nseen == 2);
	nseen = 0;
	agg__drain(a, visit, NULL);
	EXPECT(nseen == 0);
	agg__free(a);
}
