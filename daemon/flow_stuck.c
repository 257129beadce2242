// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Stuck detection. Each watched state has a list of its flows ordered by
 * entry time, so the flows that pass the threshold are always at the
 * head: advance() looks at heads only, never at the whole table.
 */
#include "flow_int.h"

/* Entry time of the current state; for a state the flow was already in
 * when first seen, the first sighting: a lower bound of its age. */
static __u64 entry_ts(const struct sf_flow *f)
{
	return seen(f, f->state) ? f->state_ts[f->state] : f->first_ts;
}

static void emit_stuck(struct flow_table *t, struct sf_flow *f, enum sf_record_type type, __u8 next, __u64 now)
{
	struct sf_record rec = {
		.type = type,
		.flow = f,
		.at = now,
		.state = f->state,
		.next_state = next,
		.age_lower_bound = !seen(f, f->state),
		.age_ns = now > entry_ts(f) ? now - entry_ts(f) : 0,
		.threshold_ns = t->cfg.stuck_ns[f->state],
		.segs = ft_segs_view(t, f),
	};

	t->sink(t->sink_ctx, &rec);
}

void ft_state_leave(struct flow_table *t, struct sf_flow *f, __u8 next, __u64 now)
{
	if (f->in_slist) {
		list_unlink(t, &t->slist[f->state], f, DL);
		f->in_slist = 0;
	}
	if (f->stuck) {
		t->st.stuck_by_state[f->state]--;
		t->st.resolved_total++;
		if (f->stuck == 2)
			emit_stuck(t, f, SF_REC_RESOLVED, next, now);
		f->stuck = 0;
	}
	if (f->pile_tgid) {
		struct pileup_key k = { .netns = f->netns, .tgid = f->pile_tgid };

		pileup__add(t->cfg.pileups, PILEUP_CLOSE_WAIT_PROCESS, &k, -1, NULL, now);
		f->pile_tgid = 0;
	}
}

void ft_state_enter(struct flow_table *t, struct sf_flow *f, __u64 now)
{
	if (t->cfg.stuck_ns[f->state]) {
		list_insert_sorted(t, &t->slist[f->state], f, DL, entry_ts(f), entry_ts);
		f->in_slist = 1;
	}
	if (f->state == SF_TCP_CLOSE_WAIT && f->tgid && t->cfg.pileups) {
		struct pileup_key k = { .netns = f->netns, .tgid = f->tgid };

		f->pile_tgid = f->tgid;
		pileup__add(t->cfg.pileups, PILEUP_CLOSE_WAIT_PROCESS, &k, 1, f->comm, now);
	}
}

static bool take_token(struct flow_table *t, __u64 now)
{
	if (!t->cfg.stuck_rate)
		return true;
	if (now > t->tokens_ts) {
		t->tokens += (double)(now - t->tokens_ts) * t->cfg.stuck_rate / 1e9;
		if (t->tokens > t->cfg.stuck_rate)
			t->tokens = t->cfg.stuck_rate;
		t->tokens_ts = now;
	}
	if (t->tokens < 1)
		return false;
	t->tokens -= 1;
	return true;
}

void ft_check_deadlines(struct flow_table *t, __u64 now)
{
	for (int st = 1; st < SF_TCP_NSTATES; st++) {
		__u64 thr = t->cfg.stuck_ns[st];

		while (thr && t->slist[st].head != SF_NONE) {
			struct sf_flow *f = at(t, t->slist[st].head);

			if (entry_ts(f) + thr > now)
				break;
			list_unlink(t, &t->slist[st], f, DL);
			f->in_slist = 0;
			f->stuck = 1;
			f->was_stuck = 1;
			t->st.stuck_total++;
			t->st.stuck_by_state[st]++;
			if (take_token(t, now)) {
				f->stuck = 2;
				emit_stuck(t, f, SF_REC_STUCK, 0, now);
			} else {
				t->st.stuck_suppressed++;
			}
		}
	}
}
