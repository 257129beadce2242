// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cgroup_path.h"
#include "fuzz_common.h"

/* FUZZ_PRINT=1 ./build/fuzz/fuzz_X FILE: the records of one input */
static bool print_records(void)
{
	static int on = -1;

	if (on < 0)
		on = getenv("FUZZ_PRINT") != NULL;
	return on;
}

/* the record in s->j: checked, and printed when asked */
static void checked(struct fuzz_sink *s)
{
	if (s->j.oom)
		abort();
	fuzz_check_line(s->j.buf, s->j.len);
	if (print_records())
		fwrite(s->j.buf, 1, s->j.len, stdout), fflush(stdout);
}

static void format(struct fuzz_sink *s, const struct sf_record *rec)
{
	json__reset(&s->j);
	record_json__record(&s->j, rec, &s->clk);
	checked(s);
}

/* What a live daemon would resolve the owner's cgroup to, from fuzzed
 * bytes: the comm as a path (untrusted bytes to escape), below a docker
 * scope when the id is odd (the parser's other branch); NULL for id 0 */
static const struct cg_info *fake_cgroup(const struct sf_flow *f, struct cg_info *cg, char *buf, size_t len)
{
	if (!f || !f->cgroup_id)
		return NULL;
	memset(cg, 0, sizeof(*cg));
	cg->id = f->cgroup_id;
	if (f->cgroup_id % 3 == 2)
		return cg; /* gone: no path */
	snprintf(buf, len, "%s%016llx%016llx%016llx%016llx%s/%.*s", f->cgroup_id & 1 ? "/system.slice/docker-" : "/",
		 (unsigned long long)f->cgroup_id, (unsigned long long)f->sk, (unsigned long long)f->gen,
		 (unsigned long long)f->first_ts, f->cgroup_id & 1 ? ".scope" : "", (int)sizeof(f->comm),
		 f->comm);
	cg->path = buf;
	cgroup_path__parse(buf, &cg->owner);
	return cg;
}

void fuzz_sink__record(void *ctx, const struct sf_record *rec)
{
	struct fuzz_sink *s = ctx;

	if (rec->type <= SF_REC_RESOLVED && !rec->flow)
		FUZZ_FAIL("record type %d without a flow", rec->type);
	if (rec->type == SF_REC_FLOW && !rec->sum)
		FUZZ_FAIL("a flow record without its summary");
	format(s, rec);
	if (rec->type == SF_REC_FLOW) {
		struct sf_record digest = *rec;

		struct cg_info cg;
		char path[160];

		digest.detail = rec->detail == SF_DETAIL_SUMMARY ? SF_DETAIL_SEGMENTS : SF_DETAIL_SUMMARY;
		digest.cgroup = fake_cgroup(rec->flow, &cg, path, sizeof(path));
		format(s, &digest);
	}
	s->records++;
	if ((unsigned int)rec->type < FUZZ_REC_TYPES)
		s->by_type[rec->type]++;
	if (s->agg && rec->type == SF_REC_FLOW) {
		agg__flow(s->agg, rec->flow, rec->sum);
		s->agg_comm += rec->flow->comm[0] != 0;
		s->agg_cgroup += rec->flow->cgroup_id != 0;
	} else if (s->agg && rec->type == SF_REC_STUCK) {
		agg__stuck(s->agg, rec->flow, rec->state);
	}
}

struct open_ctx {
	struct fuzz_sink *s;
	uint64_t now;
};

static void open_flow(void *ctx, const struct sf_flow *f)
{
	struct open_ctx *o = ctx;

	struct cg_info cg;
	char path[160];

	json__reset(&o->s->j);
	record_json__open(&o->s->j, f, fake_cgroup(f, &cg, path, sizeof(path)), o->now, &o->s->clk);
	checked(o->s);
}

void fuzz_sink__snapshot(struct fuzz_sink *s, uint64_t now)
{
	struct open_ctx o = { s, now };
	struct sf_stats st = {};
	struct sf_record rec = { .type = SF_REC_STATS, .at = now, .stats = &st };

	flow_table__foreach_open(s->table, open_flow, &o);
	flow_table__stats(s->table, &st.table);
	flow_table__tw_stats(s->table, &st.tw);
	format(s, &rec);
}

void fuzz_sink__pileup(void *ctx, const struct pileup_event *ev)
{
	struct sf_record rec = { .type = SF_REC_PILEUP, .at = ev->at, .pileup = ev };

	fuzz_sink__record(ctx, &rec);
}

void fuzz_sink__free(struct fuzz_sink *s)
{
	json__free(&s->j);
	agg__free(s->agg);
}

static void check_hist(const struct agg_hist *h, __u64 flows, int phase)
{
	__u64 n = 0;
	double p50 = agg_hist__quantile_us(h, 0.5), p99 = agg_hist__quantile_us(h, 0.99);

	for (int i = 0; i < AGG_BUCKETS; i++)
		n += h->bucket[i];
	if (n != h->count || h->count > flows)
		FUZZ_FAIL("aggregate phase %d: %llu in buckets, count %llu, flows %llu", phase,
			  (unsigned long long)n, (unsigned long long)h->count, (unsigned long long)flows);
	if (p50 < 0 || p50 > p99 || p99 > (double)h->max_us)
		FUZZ_FAIL("aggregate phase %d: p50 %.1f, p99 %.1f, max %llu us", phase, p50, p99,
			  (unsigned long long)h->max_us);
}

struct drained {
	struct fuzz_sink *s;
	uint64_t since, now;
	__u64 flows[AGG_KINDS];
};

static void visit(void *ctx, const struct agg_entry *e)
{
	struct drained *d = ctx;
	__u64 closed = 0, failed = 0;

	for (size_t i = 0; i < sizeof(e->c.closed) / sizeof(e->c.closed[0]); i++)
		closed += e->c.closed[i];
	for (int i = 0; i < AGG_FAIL_KINDS; i++)
		failed += e->c.failed[i];
	if (closed > e->c.flows || failed > e->c.flows || e->c.partial > e->c.flows)
		FUZZ_FAIL("aggregate kind %d: flows %llu, by close %llu, failed %llu, partial %llu", e->kind,
			  (unsigned long long)e->c.flows, (unsigned long long)closed, (unsigned long long)failed,
			  (unsigned long long)e->c.partial);
	for (int p = 0; p < AGG_PHASES; p++)
		check_hist(&e->c.phase[p], e->c.flows, p);
	d->flows[e->kind] += e->c.flows;
	format(d->s, &(struct sf_record){ .type = SF_REC_SUMMARY, .at = d->now, .since = d->since, .agg = e });
}

void fuzz_sink__drain(struct fuzz_sink *s, uint64_t since, uint64_t now)
{
	struct drained d = { .s = s, .since = since, .now = now };

	if (!s->agg)
		return;
	agg__drain(s->agg, visit, &d);
	/* every flow with a comm (a cgroup) counts under one process (cgroup)
	 * key, reported or folded into "other" */
	if (d.flows[AGG_PROCESS] != s->agg_comm || d.flows[AGG_CGROUP] != s->agg_cgroup)
		FUZZ_FAIL("aggregates: %llu flows by process, %llu with a comm; %llu by cgroup, %llu with one",
			  (unsigned long long)d.flows[AGG_PROCESS], (unsigned long long)s->agg_comm,
			  (unsigned long long)d.flows[AGG_CGROUP], (unsigned long long)s->agg_cgroup);
	s->agg_comm = s->agg_cgroup = 0;
}

void fuzz_check_stats(const struct fuzz_sink *s, const struct flow_table_config *cfg)
{
	const struct flow_table *t = s->table;
	const uint64_t *n = s->by_type;
	struct flow_table_stats st;
	struct tw_stats tw;
	__u64 open = 0, stuck = 0, tw_exits = 0;

	flow_table__stats(t, &st);
	flow_table__tw_stats(t, &tw);
	for (int i = 0; i < SF_TCP_NSTATES; i++) {
		open += st.by_state[i];
		stuck += st.stuck_by_state[i];
	}
	if (open != st.open)
		FUZZ_FAIL("flows open %u, by state %llu", st.open, (unsigned long long)open);
	if ((__u64)st.open + st.closing > cfg->max_flows)
		FUZZ_FAIL("open %u + closing %u > max_flows %u", st.open, st.closing, cfg->max_flows);
	if (st.resolved_total > st.stuck_total || stuck != st.stuck_total - st.resolved_total)
		FUZZ_FAIL("stuck now %llu, by state %llu (total %llu, resolved %llu)",
			  (unsigned long long)(st.stuck_total - st.resolved_total), (unsigned long long)stuck,
			  (unsigned long long)st.stuck_total, (unsigned long long)st.resolved_total);
	if (st.stuck_suppressed > st.stuck_total)
		FUZZ_FAIL("stuck suppressed %llu > total %llu", (unsigned long long)st.stuck_suppressed,
			  (unsigned long long)st.stuck_total);
	if (st.snapshot_joined > st.snapshot_flows)
		FUZZ_FAIL("snapshot joined %llu > flows %llu", (unsigned long long)st.snapshot_joined,
			  (unsigned long long)st.snapshot_flows);
	if ((__u64)st.snapshot_unjoined > (__u64)st.open + st.closing)
		FUZZ_FAIL("snapshot flows unjoined %u > flows held %u", st.snapshot_unjoined, st.open + st.closing);
	if (cfg->max_time_wait && tw.now > cfg->max_time_wait)
		FUZZ_FAIL("time-wait tracked %u > max %u", tw.now, cfg->max_time_wait);
	/* what the stats line says was output, was */
	for (int i = 0; i <= TW_EXIT_EVICTED; i++)
		tw_exits += tw.exits[i];
	if (n[SF_REC_FLOW] != st.flows_emitted || n[SF_REC_LISTEN_START] + n[SF_REC_LISTEN_STOP] != st.listen_records ||
	    n[SF_REC_STUCK] != st.stuck_total - st.stuck_suppressed || n[SF_REC_RESOLVED] > st.resolved_total ||
	    n[SF_REC_TIME_WAIT] != tw_exits)
		FUZZ_FAIL("records: flow %llu, listen %llu, stuck %llu, resolved %llu, time_wait %llu; stats: "
			  "flows %llu, listen %llu, stuck %llu - %llu suppressed, resolved %llu, time-wait exits %llu",
			  (unsigned long long)n[SF_REC_FLOW],
			  (unsigned long long)(n[SF_REC_LISTEN_START] + n[SF_REC_LISTEN_STOP]),
			  (unsigned long long)n[SF_REC_STUCK], (unsigned long long)n[SF_REC_RESOLVED],
			  (unsigned long long)n[SF_REC_TIME_WAIT], (unsigned long long)st.flows_emitted,
			  (unsigned long long)st.listen_records, (unsigned long long)st.stuck_total,
			  (unsigned long long)st.stuck_suppressed, (unsigned long long)st.resolved_total,
			  (unsigned long long)tw_exits);
}
