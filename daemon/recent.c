// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <stdlib.h>
#include <string.h>
#include "record_json.h"
#include "recent.h"
#include "../include/sf_net.h"

struct recent {
	uint32_t n, next, used;
	struct recent_flow *slot;
};

struct recent *recent__new(uint32_t n)
{
	struct recent *r;

	if (!n)
		return NULL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	/* touched as flows finish: a large ring costs memory only when used */
	r->slot = calloc(n, sizeof(*r->slot));
	if (!r->slot) {
		free(r);
		return NULL;
	}
	r->n = n;
	return r;
}

void recent__free(struct recent *r)
{
	if (!r)
		return;
	free(r->slot);
	free(r);
}

uint32_t recent__size(const struct recent *r)
{
	return r ? r->used : 0;
}

void recent__push(struct recent *r, const struct sf_record *rec)
{
	struct recent_flow *s;

	if (!r || rec->type != SF_REC_FLOW || rec->flow->role == SF_ROLE_LISTENER)
		return;
	/* about 800 bytes copied per finished flow: the record's own
	 * formatting costs several times that */
	s = &r->slot[r->next];
	s->f = *rec->flow;
	s->sum = *rec->sum;
	s->has_segs = rec->segs != NULL;
	if (rec->segs)
		s->segs = *rec->segs;
	r->next = r->next + 1 == r->n ? 0 : r->next + 1;
	if (r->used < r->n)
		r->used++;
}

static bool addr_eq(const struct sf_flow *a, const __u8 *x, const __u8 *y)
{
	size_t n = a->family == SF_AF_INET ? 4 : 16;

	return !memcmp(x, y, n);
}

static uint32_t syn_seq(const struct recent_flow *s, bool *have)
{
	*have = s->has_segs && (s->segs.have & (1u << SF_SEG_SYN));
	return *have ? s->segs.slot[SF_SEG_SYN].seq : 0;
}

static bool mirrors(const struct recent_flow *a, const struct recent_flow *b)
{
	bool ha, hb;
	uint32_t sa = syn_seq(a, &ha), sb = syn_seq(b, &hb);

	if (a == b || a->f.family != b->f.family || a->f.sport != b->f.dport || a->f.dport != b->f.sport ||
	    !addr_eq(&a->f, a->f.saddr, b->f.daddr) || !addr_eq(&a->f, a->f.daddr, b->f.saddr))
		return false;
	/* the same tuple serves many connections in turn: theirs overlap */
	if (a->sum.start_ts > b->sum.end_ts || b->sum.start_ts > a->sum.end_ts)
		return false;
	/* two namespaces joined by a veth: the SYN both saw says it */
	return a->f.netns == b->f.netns || (ha && hb && sa == sb);
}

void recent__find(const struct recent *r, uint64_t id, const struct recent_flow **flow,
		  const struct recent_flow **other)
{
	*flow = *other = NULL;
	if (!r)
		return;
	/* newest first */
	for (uint32_t k = 0; k < r->used && !*flow; k++) {
		const struct recent_flow *s = &r->slot[(r->next + r->n - 1 - k) % r->n];

		if (sf_flow_id(s->f.sk, s->f.gen) == id)
			*flow = s;
	}
	for (uint32_t k = 0; *flow && k < r->used && !*other; k++) {
		const struct recent_flow *s = &r->slot[(r->next + r->n - 1 - k) % r->n];

		if (mirrors(*flow, s))
			*other = s;
	}
}

void recent_flow__record(const struct recent_flow *rf, struct sf_record *rec)
{
	memset(rec, 0, sizeof(*rec));
	rec->type = SF_REC_FLOW;
	rec->flow = &rf->f;
	rec->at = rf->sum.end_ts;
	rec->segs = rf->has_segs ? &rf->segs : NULL;
	rec->sum = &rf->sum;
	rec->detail = SF_DETAIL_SEGMENTS;
}
