/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Outputs: every record from the flow table is handed to each output in
 * turn. The JSON Lines writer is one output; the live view and others plug
 * in beside it through the same ops.
 */
#ifndef SYNFIN_OUTPUT_H
#define SYNFIN_OUTPUT_H

#include "flow.h"
#include "record_json.h"

struct sf_output;

struct sf_output_ops {
	void (*record)(struct sf_output *o, const struct sf_record *rec);
	void (*stats)(struct sf_output *o, const struct flow_table_stats *st, const struct sf_counters *c,
		      uint64_t now_mono_ns);
	void (*flush)(struct sf_output *o);
	void (*destroy)(struct sf_output *o);
};

struct sf_output {
	const struct sf_output_ops *ops;
	struct sf_output *next;
	uint64_t lines;
	uint64_t write_errors;
};

/* A JSON Lines writer to path ("-" = stdout). 0 or -errno. */
int output__jsonl_open(struct sf_output **out, const char *path, const struct sf_clock *clk);

/* The sink the flow table calls: fans a record out to a list of outputs. */
void output__sink(void *outputs_head, const struct sf_record *rec);
void output__stats_all(struct sf_output *head, const struct flow_table_stats *st, struct sf_counters *c,
		       uint64_t now_mono_ns);
void output__flush_all(struct sf_output *head);
void output__destroy_all(struct sf_output *head);

#endif /* SYNFIN_OUTPUT_H */
