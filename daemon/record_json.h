/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Formats records (flows, listeners, ..., stats) as JSON Lines. Pure: the text
 * goes into a struct json buffer; writing it is output.c's business.
 */
#ifndef SYNFIN_RECORD_JSON_H
#define SYNFIN_RECORD_JSON_H

#include "flow.h"
#include "json.h"
#include "timewait.h"

#define SYNFIN_SCHEMA_VERSION 1

/* Monotonic (event clock) to wall clock: real = mono + offset. */
struct sf_clock {
	int64_t mono_to_real_ns;
};

void record_json__record(struct json *j, const struct sf_record *rec, const struct sf_clock *clk);
/* RFC 3339 UTC with microseconds, e.g. 2026-11-25T10:00:00.123456Z */
void sf_format_time(char *buf, size_t len, uint64_t mono_ns, const struct sf_clock *clk);
/* Stable public id of a socket generation; never the kernel address. */
uint64_t sf_flow_id(uint64_t sk, uint64_t gen);

#endif /* SYNFIN_RECORD_JSON_H */
