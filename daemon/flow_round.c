// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Reconciliation with the kernel's socket list (sock_diag): pre-existing
 * sockets at start-up, half-open requests, time-wait sockets, and every
 * round the truth after lost events (flows gone, states changed).
 */
#include <errno.h>
#include <stdlib.h>
#include "flow_int.h"

static struct sf_flow *listed_flow(struct flow_table *t, const struct sf_snapshot_sock *s);
static void listed(struct flow_table *t, struct sf_flow *f, __u8 state);

static __u64 tuple_key(const struct sf_snapshot_sock *s)
{
	struct sf_tuple k;

	tuple_set(&k, s->netns, s->family, s->saddr, s->daddr, s->sport, s->dport);
	return tuple_hash(&k);
}

/* A half-open request ends. Completed (next: the child's state): the
 * child carries on, nothing to report but 'resolved' if it was stuck.
 * Gone from the kernel's list (next 0): it expired or was reset, and its
 * record says so. */
void ft_drop_request(struct flow_table *t, struct sf_flow *f, __u8 next, __u64 now)
{
	if (f->closed) {
		/* already reported gone and waiting in the closing list, when
		 * its child shows up after all: the child carries on */
		ft_closing_unlink(t, f);
		t->st.closing--;
		ft_release(t, f);
		return;
	}
	if (!next) {
		f->seen |= 1u << SF_TCP_CLOSE;
		f->state_ts[SF_TCP_CLOSE] = now;
		f->state_prev[SF_TCP_CLOSE] = f->state;
		f->partial |= SF_PART_VANISHED;
		ft_mark_closed(t, f, now, SF_TCP_CLOSE);
		return;
	}
	ft_state_leave(t, f, next, now);
	list_unlink(t, &t->lru, f, LRU);
	t->st.open--;
	t->st.by_state[f->state]--;
	ft_release(t, f);
}

void flow_table__round_begin(struct flow_table *t)
{
	t->round++;
	t->nunmatched = 0;
	t->st.reconcile_rounds++;
	if (t->tw)
		tw_table__round_begin(t->tw);
}

void flow_table__time_wait_seen(struct flow_table *t, const struct sf_snapshot_sock *s, __u64 now)
{
	struct tw_key k;

	if (t->ho.head != SF_NONE) {
		/* a handed-over flow's time-wait socket: still in FIN_WAIT_2,
		 * or TIME_WAIT began (its FIN was not captured) */
		struct sf_tuple tk;
		struct sf_flow *f;

		tuple_set(&tk, s->netns, s->family, s->saddr, s->daddr, s->sport, s->dport);
		f = ft_tindex_lookup(t, &tk, tuple_hash(&tk));
		if (f && !f->closed && f->in_ho) {
			if (s->state == SF_TCP_TIME_WAIT)
				ft_end_handover(t, f, HO_TW_SEEN, now);
			else
				f->ho_round = t->round;
			return;
		}
	}
	if (s->state == SF_TCP_FIN_WAIT2) {
		/* an orphan still in FIN_WAIT_2 has no inode either: a full
		 * socket, or a hand-over whose event was lost; it lives */
		struct sf_flow *f = listed_flow(t, s);

		if (f && !f->in_ho)
			listed(t, f, SF_TCP_FIN_WAIT2);
	}
	if (!t->tw)
		return;
	ft_tw_key_set(&k, s->netns, s->family, s->saddr, s->daddr, s->sport, s->dport);
	tw_table__seen(t->tw, &k, now);
}

/* The open flow of a socket in the kernel's list, by tuple (listeners by
 * address): a flow born under our eyes is listed by what it is, not by a
 * cookie. At start-up, this also keeps a socket whose events came first
 * from becoming a second, pre-existing flow. */
static struct sf_flow *listed_flow(struct flow_table *t, const struct sf_snapshot_sock *s)
{
	struct sf_tuple k;
	struct sf_flow *f;

	if (s->state == SF_TCP_LISTEN) {
		/* the very address (several may share a port: SO_REUSEPORT,
		 * one per address), one not listed yet this round first */
		struct sf_flow *any = NULL;

		for (__u32 i = t->lbuckets[listen_hash(s->netns, s->family, s->sport)]; i != SF_NONE;
		     i = at(t, i)->lnext) {
			f = at(t, i);
			if (f->netns != s->netns || f->family != s->family || f->sport != s->sport || f->closed ||
			    memcmp(f->saddr, s->saddr, 16))
				continue;
			if (f->snap_round != t->round)
				return f;
			any = f;
		}
		return any;
	}
	tuple_set(&k, s->netns, s->family, s->saddr, s->daddr, s->sport, s->dport);
	f = ft_tindex_lookup(t, &k, tuple_hash(&k));
	return f && !f->closed ? f : NULL;
}

/* At start-up the events read while the list was being taken go in
 * first (reconcile.c): a socket the list had but that those events show
 * ended since (closed after the dump passed it) is not brought back as a
 * pre-existing flow, nor is a half-open request whose child exists. */
static bool ended_since(struct flow_table *t, const struct sf_snapshot_sock *s, __u64 since)
{
	struct sf_tuple k;
	__u32 i;

	if (s->state == SF_TCP_LISTEN) {
		for (i = t->lbuckets[listen_hash(s->netns, s->family, s->sport)]; i != SF_NONE; i = at(t, i)->lnext) {
			struct sf_flow *f = at(t, i);

			if (f->closed && f->last_ts >= since && f->netns == s->netns && f->family == s->family &&
			    f->sport == s->sport && !memcmp(f->saddr, s->saddr, 16))
				return true;
		}
		return false;
	}
	tuple_set(&k, s->netns, s->family, s->saddr, s->daddr, s->sport, s->dport);
	for (i = t->tbuckets[tuple_hash(&k) & (t->nbuckets - 1)]; i != SF_NONE; i = at(t, i)->tnext) {
		struct sf_flow *f = at(t, i);

		if (f->placeholder || f->gen == REQ_GEN || !tuple_eq(f, &k))
			continue;
		/* a request's child, open or closed since */
		if (s->state == SF_TCP_SYN_RECV ? !f->closed || f->last_ts >= since : f->closed && f->last_ts >= since)
			return true;
	}
	return false;
}

/* After the first round: flows that began with an event of a socket
 * older than synfin (no per-socket entry in BPF) that the list did not
 * have: it ended before the dump reached it, and its beginning is unknown. */
static void count_unattributed(struct flow_table *t)
{
	for (int q = -1; q < SF_CQ_N; q++) {
		__u32 i = q < 0 ? t->lru.head : t->closing[q].head;

		for (; i != SF_NONE; i = at(t, i)->lru.next) {
			const struct sf_flow *f = at(t, i);

			if (!f->placeholder && (f->partial & SF_PART_MID_FLOW) && f->snap_round != t->round)
				t->st.snapshot_unattributed++;
		}
	}
}

static __u64 peer_key(__u32 netns, __u8 family, const __u8 *raddr, __u16 rport)
{
	static const __u8 any[16];
	struct sf_tuple k;

	tuple_set(&k, netns, family, any, raddr, 0, rport);
	return tuple_hash(&k);
}

static void unmatched_add(struct flow_table *t, __u64 key)
{
	if (t->nunmatched == t->unmatched_cap) {
		__u32 cap = t->unmatched_cap ? t->unmatched_cap * 2 : 256;
		__u64 *p = realloc(t->unmatched, cap * sizeof(*p));

		if (!p)
			return;
		t->unmatched = p;
		t->unmatched_cap = cap;
	}
	t->unmatched[t->nunmatched++] = key;
}

static int cmp_u64(const void *a, const void *b)
{
	__u64 x = *(const __u64 *)a, y = *(const __u64 *)b;

	return x < y ? -1 : x > y;
}

/* a flow without its local port: may it be one of the unmatched sockets? */
static bool maybe_unmatched(const struct flow_table *t, const struct sf_flow *f)
{
	__u64 k = peer_key(f->netns, f->family, f->daddr, f->dport);

	/* a failed allocation lost keys: then anything may be */
	return t->nunmatched == t->unmatched_cap ||
	       bsearch(&k, t->unmatched, t->nunmatched, sizeof(k), cmp_u64);
}

static void listed(struct flow_table *t, struct sf_flow *f, __u8 state)
{
	f->snap_round = t->round;
	f->round_state = state != f->state && !f->in_ho ? state : 0;
}

int flow_table__snapshot(struct flow_table *t, const struct sf_snapshot_sock *s, __u64 now, bool create)
{
	struct synfin_event e = {
		.ts_ns = now,
		.sk = s->cookie,
		.gen = SNAP_GEN,
		.netns = s->netns,
		.family = s->family,
		.oldstate = s->state,
		.newstate = s->state,
		.sport = s->sport,
		.dport = s->dport,
		.flags = SF_F_NO_ENTRY,
	};
	struct sf_flow *f;
	bool req;

	/* time-wait sockets are not flows: they are counted (pile-ups) */
	if (!valid_state(s->state) || s->state == SF_TCP_TIME_WAIT || s->state == SF_TCP_NEW_SYN_RECV ||
	    s->state == SF_TCP_CLOSE || (!s->cookie && s->state != SF_TCP_SYN_RECV))
		return -EINVAL;
	/* A request's cookie changes when its SYN-ACK timer fires: requests
	 * are keyed on their tuple, which lasts as long as they do. */
	req = s->state == SF_TCP_SYN_RECV;
	e.sk = req ? tuple_key(s) : s->cookie;
	e.gen = req ? REQ_GEN : SNAP_GEN;
	if (!req && (f = lookup(t, tuple_key(s), REQ_GEN)))
		/* the same tuple in another state: the handshake completed;
		 * the child is a flow of its own, born under our eyes */
		ft_drop_request(t, f, s->state, now);
	f = lookup(t, e.sk, e.gen);
	if (!f && !req && (f = listed_flow(t, s)) && create) {
		/* start-up: its events were read first, one flow */
		t->st.snapshot_overlap++;
		if (f->partial & SF_PART_MID_FLOW)
			f->pre_existing = 1;
	}
	if (f) {
		listed(t, f, s->state);
		return 1;
	}
	if (!create) {
		if (!req)
			unmatched_add(t, peer_key(s->netns, s->family, s->daddr, s->dport));
		return -ENOENT;
	}
	if (ended_since(t, s, now)) {
		t->st.snapshot_ended++;
		return 1;
	}
	memcpy(e.saddr, s->saddr, sizeof(e.saddr));
	memcpy(e.daddr, s->daddr, sizeof(e.daddr));
	if (s->tgid) {
		e.tgid = e.pid = s->tgid;
		e.owner_src = SF_OWNER_SNAPSHOT;
		memcpy(e.comm, s->comm, sizeof(e.comm));
	}
	f = ft_new_flow(t, &e);
	f->pre_existing = 1;
	f->snap_round = t->round;
	t->st.snapshot_flows++;
	t->st.snapshot_unjoined++;
	if (s->state == SF_TCP_SYN_RECV)
		f->role = SF_ROLE_SERVER; /* a listener's half-open request */
	if (s->state == SF_TCP_LISTEN) {
		struct sf_record rec = { .type = SF_REC_LISTEN_START, .flow = f, .at = now };

		f->role = SF_ROLE_LISTENER;
		ft_link_listener(t, f);
		t->st.listen_records++;
		t->sink(t->sink_ctx, &rec);
	}
	return 0;
}

void flow_table__round_end(struct flow_table *t, __u64 now, bool complete)
{
	__u32 i = t->lru.head;

	/* the first round is the start-up snapshot's (or, without one, the
	 * first look at the kernel's list) */
	if (t->round == 1)
		count_unattributed(t);
	if (!complete)
		return;
	if (t->tw)
		tw_table__round_end(t->tw, now);
	/* handed-over flows whose time-wait socket the kernel no longer
	 * lists: it gave up waiting for the peer's FIN */
	for (i = t->ho.head; i != SF_NONE;) {
		struct sf_flow *f = at(t, i);

		i = f->ho.next;
		if (f->ho_round != t->round && f->handover_ts < now)
			ft_end_handover(t, f, HO_GONE, now);
	}
	/* open flows the list did not have, or had in another state: the
	 * next advance() settles them, once the events read meanwhile are in */
	t->nsettle = 0;
	t->settle_ts = now;
	if (t->nunmatched)
		qsort(t->unmatched, t->nunmatched, sizeof(*t->unmatched), cmp_u64);
	for (i = t->lru.head; i != SF_NONE; i = at(t, i)->lru.next) {
		struct sf_flow *f = at(t, i);
		bool req = f->gen == SNAP_GEN || f->gen == REQ_GEN;

		if (f->snap_round == t->round ? !f->round_state :
		    f->placeholder || f->in_ho || f->first_ts >= now ||
			    (!f->sport && !req && maybe_unmatched(t, f)))
			continue;
		if (t->nsettle == t->settle_cap) {
			__u32 cap = t->settle_cap ? t->settle_cap * 2 : 256;
			struct settle *p = realloc(t->settle, cap * sizeof(*p));

			if (!p)
				break; /* the next round tries again */
			t->settle = p;
			t->settle_cap = cap;
		}
		t->settle[t->nsettle++] = (struct settle){ .idx = i, .sk = f->sk, .gen = f->gen };
	}
}

/* See flow_table__round_end. */
void ft_settle(struct flow_table *t)
{
	__u64 now = t->settle_ts;

	for (__u32 n = 0; n < t->nsettle; n++) {
		struct sf_flow *f = at(t, t->settle[n].idx);
		__u8 st = f->round_state;

		/* gone since, or an event since: it lives, or ended as it should */
		if (f->sk != t->settle[n].sk || f->gen != t->settle[n].gen || f->closed || f->last_ts >= now)
			continue;
		f->round_state = 0;
		if (f->snap_round == t->round) {
			/* its transitions were lost: the kernel's state, from an
			 * unknown one (the path shows the gap) */
			if (!valid_state(st) || st == f->state || (f->seen & (1u << st)))
				continue;
			t->st.reconcile_corrected++;
			ft_enter_at(f, st, 0, now, SF_SRC_ROUND);
			ft_set_current_state(t, f, st, now);
			f->last_ts = now;
			continue;
		}
		if (f->gen == REQ_GEN && !f->snap_round && f->state == SF_TCP_SYN_RECV) {
			/* a SYN no round ever listed a request for: answered
			 * with a SYN cookie (the kernel keeps nothing), so no
			 * connection to report, under a flood thousands a round
			 * (a request that expired lived for seconds: listed) */
			t->st.half_open_unlisted++;
			ft_drop_request(t, f, SF_TCP_CLOSE, now);
			continue;
		}
		t->st.reconcile_vanished++;
		if (f->state == SF_TCP_SYN_RECV && (f->gen == SNAP_GEN || f->gen == REQ_GEN)) {
			ft_drop_request(t, f, 0, now); /* expired (or reset) */
			continue;
		}
		/* closed while we were not looking (or its end was lost) */
		f->partial |= SF_PART_VANISHED;
		ft_enter_at(f, SF_TCP_CLOSE, f->state, now, SF_SRC_ROUND);
		ft_mark_closed(t, f, now, SF_TCP_CLOSE);
	}
	t->nsettle = 0;
}

void flow_table__mark_lost(struct flow_table *t, struct sf_loss *l)
{
	l->flows = l->nids = 0;
	for (__u32 i = t->lru.head; i != SF_NONE; i = at(t, i)->lru.next) {
		struct sf_flow *f = at(t, i);

		if (f->placeholder || f->role == SF_ROLE_LISTENER)
			continue;
		f->partial |= SF_PART_LOST;
		if (l->nids < SF_LOSS_IDS) {
			l->sk[l->nids] = f->sk;
			l->gen[l->nids++] = f->gen;
		}
		l->flows++;
	}
}
