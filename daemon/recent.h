/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The last N finished flows (--recent N), kept whole (the flow, its
 * control segments, what it means) so that a live-socket client can ask
 * for one by id after its record went out, in full detail whatever
 * --detail, --flows or --sample wrote to the log. A bounded ring: the
 * oldest goes when it is full. Pure: no I/O, no logging.
 */
#ifndef SYNFIN_RECENT_H
#define SYNFIN_RECENT_H

#include <stdbool.h>
#include <stdint.h>
#include "flow.h"

struct recent_flow {
	struct sf_flow f;
	struct sf_segs segs;
	bool has_segs;
	struct sf_summary sum;
};

struct recent;

/* NULL when n is 0 or memory is short. */
struct recent *recent__new(uint32_t n);
/* Accepts NULL. */
void recent__free(struct recent *r);
/* A finished flow's record (listeners are not kept). */
void recent__push(struct recent *r, const struct sf_record *rec);
/* The flow with this public id (sf_flow_id), the newest if the id came
 * twice, and its other end when that is here too (mirrored tuple, times
 * that overlap, the same namespace or the same SYN). Either may be NULL. */
void recent__find(const struct recent *r, uint64_t id, const struct recent_flow **flow,
		  const struct recent_flow **other);
/* As a flow record for record_json (full detail). */
void recent_flow__record(const struct recent_flow *rf, struct sf_record *rec);
uint32_t recent__size(const struct recent *r);

#endif /* SYNFIN_RECENT_H */
