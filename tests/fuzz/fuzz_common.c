// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fuzz_common.h"

/* FUZZ_PRINT=1 ./build-fuzz/fuzz_X FILE: the records of one input */
static bool print_records(void)
{
	static int on = -1;

	if (on < 0)
		on = getenv("FUZZ_PRINT") != NULL;
	return on;
}

void fuzz_sink__record(void *ctx, const struct sf_record *rec)
{
	struct fuzz_sink *s = ctx;

	if (rec->type != SF_REC_PILEUP && rec->type != SF_REC_TIME_WAIT && !rec->flow)
		FUZZ_FAIL("record type %d without a flow", rec->type);
	json__reset(&s->j);
	record_json__record(&s->j, rec, &s->clk);
	if (s->j.oom)
		abort();
	fuzz_check_line(s->j.buf, s->j.len);
	s->records++;
	s->by_type[rec->type]++;
	if (print_records())
		fwrite(s->j.buf, 1, s->j.len, stdout), fflush(stdout);
}

void fuzz_sink__pileup(void *ctx, const struct pileup_event *ev)
{
	struct sf_record rec = { .type = SF_REC_PILEUP, .at = ev->at, .pileup = ev };

	fuzz_sink__record(ctx, &rec);
}

void fuzz_sink__free(struct fuzz_sink *s)
{
	json__free(&s->j);
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
