/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * What the fuzz targets share: a record sink that formats every record
 * as the daemon would (record_json) and checks the line with jansson, and
 * the flow table's bookkeeping checked against itself, and the aggregates
 * made of the records against the records. A failed check
 * prints what failed and aborts, which libFuzzer reports as a crash.
 */
#ifndef SYNFIN_FUZZ_COMMON_H
#define SYNFIN_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include "aggregate.h"
#include "flow.h"
#include "json_check.h"
#include "json.h"
#include "record_json.h"
#include "stats.h"

#define FUZZ_REC_TYPES 16
_Static_assert(SF_REC_SUMMARY < FUZZ_REC_TYPES, "a record type past the sink's counters");

struct fuzz_sink {
	struct json j;
	struct sf_clock clk;
	struct flow_table *table;	/* the table under test */
	uint64_t records;
	uint64_t by_type[FUZZ_REC_TYPES];	/* records seen, by enum sf_record_type */
	/* the flow records also go into aggregates (when agg is set), as
	 * summaries would be made of them */
	struct agg *agg;
	uint64_t agg_comm, agg_cgroup;	/* flows folded with a comm, a cgroup */
};

/* sf_sink_fn: ctx is a struct fuzz_sink. A flow record is written with
 * its segments and again as the digest --detail summary writes. */
void fuzz_sink__record(void *ctx, const struct sf_record *rec);
/* pileup_sink_fn: the same sink, for pile-up events */
void fuzz_sink__pileup(void *ctx, const struct pileup_event *ev);
void fuzz_sink__free(struct fuzz_sink *s);
/* Drain the aggregates into summary records (the interval since..now),
 * and check each entry and the totals per kind. */
void fuzz_sink__drain(struct fuzz_sink *s, uint64_t since, uint64_t now);
/* What a live viewer is sent at now: every open flow, and a stats record
 * of the table's counters. */
void fuzz_sink__snapshot(struct fuzz_sink *s, uint64_t now);

/* The counts the stats line prints agree with each other and with the
 * records s saw. */
void fuzz_check_stats(const struct fuzz_sink *s, const struct flow_table_config *cfg);

#endif /* SYNFIN_FUZZ_COMMON_H */
