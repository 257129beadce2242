// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The loss record: as soon as a drain sees that events were lost (a ring
 * was full, the kernel skipped a run, the per-socket map was full), one
 * record says how many, where, and which flows were open then (each is
 * marked partial, reason events_lost: any of them may miss an event). At
 * most one per LOSS_INTERVAL_NS: what comes in between is coalesced into
 * the next one.
 */
#include "capture.h"
#include "daemon.h"

#define LOSS_INTERVAL_NS (1000ULL * 1000000ULL)

void loss__check(struct daemon *d, uint64_t now, bool force)
{
	struct loss_state *s = &d->loss;
	struct sf_loss l = { .since = s->at ? s->at : d->start_mono };
	struct sf_record rec = { .type = SF_REC_LOSS, .at = now, .loss = &l };
	uint64_t bpf[SF_CNT_MAX], rings[16], rec_miss;
	int n;

	if (!d->cap || (!force && s->at && now - s->at < LOSS_INTERVAL_NS))
		return;
	capture__counters(d->cap, bpf);
	rec_miss = capture__recursion_misses(d->cap, bpf[SF_CNT_NESTED_CAUGHT]);
	if (bpf[SF_CNT_RB_FULL] == s->ring_full && rec_miss == s->recursion &&
	    bpf[SF_CNT_SOCK_UPDATE_FAIL] == s->map_full && d->cnt.rb_bad_size == s->bad_size)
		return;
	/* read again per ring (CPUs count on meanwhile): the ring total is
	 * their sum, so that the record adds up; the next has the rest */
	n = capture__ring_full(d->cap, rings, 16);
	bpf[SF_CNT_RB_FULL] = 0;
	for (int i = 0; i < n; i++)
		bpf[SF_CNT_RB_FULL] += rings[i];
	l.nrings = n;
	for (int i = 0; i < n; i++)
		l.ring_full_by_ring[i] = rings[i] - s->by_ring[i];
	l.ring_full = bpf[SF_CNT_RB_FULL] - s->ring_full;
	l.recursion = rec_miss - s->recursion;
	l.map_full = bpf[SF_CNT_SOCK_UPDATE_FAIL] - s->map_full;
	l.bad_size = d->cnt.rb_bad_size - s->bad_size;
	l.lost = l.ring_full + l.recursion;
	l.total = bpf[SF_CNT_RB_FULL] + rec_miss;
	flow_table__mark_lost(d->table, &l);
	outputs__emit(d->outputs, &rec);
	d->cnt.loss_records++;
	s->ring_full = bpf[SF_CNT_RB_FULL];
	s->recursion = rec_miss;
	s->map_full = bpf[SF_CNT_SOCK_UPDATE_FAIL];
	s->bad_size = d->cnt.rb_bad_size;
	for (int i = 0; i < n; i++)
		s->by_ring[i] = rings[i];
	s->at = now;
}
