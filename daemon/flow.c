// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Flow reconstruction: the table. Pure: no libbpf, no I/O, no logging.
 *
 * A flow is one generation of one socket, keyed on (socket address, gen)
 * as assigned by the BPF side. Every state is entered at most once per
 * generation, so the lifecycle is simply the set of states seen, each with
 * its entry time and the state it was entered from; ordering by time
 * reconstructs the path even when events arrive out of order, and a state
 * seen twice is a duplicate.
 *
 * Memory: one pool of max_flows entries, allocated lazily by the OS (calloc
 * of untouched pages), free list + chained hash of pool indices, an LRU list
 * of open flows for eviction when the pool is full, and a FIFO of closed
 * flows kept for a short grace period so that late events still join them.
 */
#include <errno.h>
#include <stdlib.h>
#include "flow_int.h"

static __u64 emit_at(const struct sf_flow *f)
{
	return f->emit_at;
}

void ft_closing_insert(struct flow_table *t, struct sf_flow *f, int q)
{
	f->cq = (__u8)q;
	list_insert_sorted(t, &t->closing[q], f, LRU, f->emit_at, emit_at);
}

void ft_closing_unlink(struct flow_table *t, struct sf_flow *f)
{
	list_unlink(t, &t->closing[f->cq], f, LRU);
}

/* the closed flow due first, or NULL */
static struct sf_flow *closing_first(struct flow_table *t)
{
	struct sf_flow *best = NULL;

	for (int q = 0; q < SF_CQ_N; q++) {
		struct sf_flow *f;

		if (t->closing[q].head == SF_NONE)
			continue;
		f = at(t, t->closing[q].head);
		if (!best || f->emit_at < best->emit_at)
			best = f;
	}
	return best;
}

static void on_tw(void *ctx, const struct tw_record *r)
{
	struct flow_table *t = ctx;
	struct sf_record rec = { .type = SF_REC_TIME_WAIT, .at = r->exited, .tw = r };

	t->sink(t->sink_ctx, &rec);
}

struct flow_table *flow_table__new(const struct flow_table_config *cfg, sf_sink_fn sink, void *ctx)
{
	struct flow_table *t;
	__u32 n = 1024;

	if (!cfg || cfg->max_flows < 2 || cfg->max_flows > (1u << 26) || !sink)
		return NULL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->cfg = *cfg;
	t->sink = sink;
	t->sink_ctx = ctx;
	while (n < cfg->max_flows)
		n <<= 1;
	t->nbuckets = n;
	t->buckets = malloc(sizeof(*t->buckets) * n);
	t->tbuckets = malloc(sizeof(*t->tbuckets) * n);
	/* calloc: pages are only touched, so only cost RSS, when used */
	t->pool = calloc(cfg->max_flows, sizeof(*t->pool));
	for (int i = 0; i < 2; i++) {
		t->segs[i].elem = i ? sizeof(struct sf_segs) : SF_SEGS_SMALL;
		t->segs[i].base = calloc(cfg->max_flows, t->segs[i].elem);
		t->segs[i].free = SF_NONE;
	}
	if (!t->buckets || !t->tbuckets || !t->pool || !t->segs[0].base || !t->segs[1].base) {
		flow_table__free(t);
		return NULL;
	}
	memset(t->buckets, 0xff, sizeof(*t->buckets) * n);
	memset(t->tbuckets, 0xff, sizeof(*t->tbuckets) * n);
	if (!t->cfg.segment_hold_ns)
		t->cfg.segment_hold_ns = 3000000000ULL;
	if (!t->cfg.time_wait_hold_ns)
		t->cfg.time_wait_hold_ns = 1000000000ULL;
	if (!t->cfg.max_half_open)
		t->cfg.max_half_open = 1024;
	if (cfg->max_time_wait) {
		t->tw = tw_table__new(cfg->max_time_wait, on_tw, t);
		if (!t->tw) {
			flow_table__free(t);
			return NULL;
		}
	}
	memset(t->lbuckets, 0xff, sizeof(t->lbuckets));
	t->free_head = SF_NONE;
	t->lru.head = t->lru.tail = SF_NONE;
	for (int q = 0; q < SF_CQ_N; q++)
		t->closing[q].head = t->closing[q].tail = SF_NONE;
	for (int i = 0; i < SF_TCP_NSTATES; i++)
		t->slist[i].head = t->slist[i].tail = SF_NONE;
	t->ho.head = t->ho.tail = SF_NONE;
	t->tokens = cfg->stuck_rate;
	return t;
}

void flow_table__free(struct flow_table *t)
{
	if (!t)
		return;
	free(t->buckets);
	free(t->tbuckets);
	free(t->pool);
	free(t->segs[0].base);
	free(t->segs[1].base);
	free(t->settle);
	free(t->unmatched);
	tw_table__free(t->tw);
	free(t);
}

/* The listener a connection to laddr:port belongs to: bound to that
 * address or to any; an IPv6 one also takes IPv4 (dual-stack). */
struct sf_flow *ft_find_listener(struct flow_table *t, __u32 netns, __u8 family, const __u8 *laddr,
				     __u16 port)
{
	for (int pass = 0; pass < 2; pass++) {
		__u8 fam = pass ? 10 : family;
		__u32 i;

		if (pass && family != SF_AF_INET)
			break;
		for (i = t->lbuckets[listen_hash(netns, fam, port)]; i != SF_NONE; i = at(t, i)->lnext) {
			struct sf_flow *f = at(t, i);

			if (f->netns != netns || f->family != fam || f->sport != port || f->closed)
				continue;
			if (all_zero(f->saddr) || (fam == family && !memcmp(f->saddr, laddr, 16)) ||
			    (fam == SF_AF_INET6 && family == SF_AF_INET && !memcmp(f->saddr + 12, laddr, 4) && f->saddr[10] == 0xff))
				return f;
		}
	}
	return NULL;
}

void ft_link_listener(struct flow_table *t, struct sf_flow *f)
{
	__u32 b = listen_hash(f->netns, f->family, f->sport);

	/* linked twice, the chain would loop on itself */
	if (f->in_lindex)
		return;
	f->lnext = t->lbuckets[b];
	t->lbuckets[b] = idx_of(t, f);
	f->in_lindex = 1;
}

void ft_unlink_listener(struct flow_table *t, struct sf_flow *f)
{
	__u32 *p = &t->lbuckets[listen_hash(f->netns, f->family, f->sport)];
	__u32 me = idx_of(t, f);

	while (*p != SF_NONE) {
		if (*p == me) {
			*p = f->lnext;
			break;
		}
		p = &at(t, *p)->lnext;
	}
	f->lnext = SF_NONE;
	f->in_lindex = 0;
}

static void remember_emitted(struct flow_table *t, const struct sf_flow *f)
{
	__u64 h = key_hash(f->sk, f->gen);

	t->recent[h & (RECENT_SLOTS - 1)] = h | 1;
}

bool ft_recently_emitted(const struct flow_table *t, __u64 sk, __u64 gen)
{
	__u64 h = key_hash(sk, gen);

	return t->recent[h & (RECENT_SLOTS - 1)] == (h | 1);
}

void ft_hash_unlink(struct flow_table *t, struct sf_flow *f)
{
	__u32 *p = &t->buckets[key_hash(f->sk, f->gen) & (t->nbuckets - 1)];
	__u32 me = idx_of(t, f);

	while (*p != SF_NONE) {
		if (*p == me) {
			*p = f->hnext;
			break;
		}
		p = &at(t, *p)->hnext;
	}
	f->hnext = SF_NONE;
}

void ft_hash_link(struct flow_table *t, struct sf_flow *f)
{
	__u32 b = key_hash(f->sk, f->gen) & (t->nbuckets - 1);

	f->hnext = t->buckets[b];
	t->buckets[b] = idx_of(t, f);
}

/* The record of an active closer is out; its time-wait socket lives on. */
static void track_time_wait(struct flow_table *t, struct sf_flow *f, const struct sf_summary *s)
{
	struct tw_key k;

	if (!s->time_wait_inferred)
		return;
	ft_tw_key_of(f, &k);
	/* TIME_WAIT began when the flow record says (the peer's FIN); a
	 * hand-over time that may be earlier than that FIN is no entry */
	tw_table__enter(t->tw, &k, f->sk, f->gen, s->handoff_ts,
			s->tw_entered_src == SF_SRC_HANDOVER ? 0 : s->tw_entered_ts, s->time_wait_from,
			s->tw_entered_src);
}

/* Hand the flow to the sink, then drop it from every index. */
static void emit_and_release(struct flow_table *t, struct sf_flow *f)
{
	struct sf_record rec = { .flow = f, .segs = ft_segs_view(t, f), .sum = &t->sum };

	if (f->placeholder) {
		/* segments whose flow never showed up */
		t->st.segments_unmatched += f->events;
		t->placeholders--;
		ft_closing_unlink(t, f);
		t->st.closing--;
		ft_release(t, f);
		return;
	}
	if (!f->closed)
		ft_state_leave(t, f, 0, f->last_ts); /* evicted */
	if (f->role == SF_ROLE_LISTENER) {
		rec.type = SF_REC_LISTEN_STOP;
		t->st.listen_records++;
		if (f->in_lindex)
			ft_unlink_listener(t, f);
	} else {
		rec.type = SF_REC_FLOW;
		t->st.flows_emitted++;
	}
	/* what it means, decided here once for every output */
	sf_flow__summarize(f, rec.segs, &t->sum);
	t->sink(t->sink_ctx, &rec);
	if (t->tw && rec.type == SF_REC_FLOW && f->closed && f->sport)
		track_time_wait(t, f, &t->sum);

	if (f->closed) {
		ft_closing_unlink(t, f);
		t->st.closing--;
	} else {
		list_unlink(t, &t->lru, f, LRU);
		t->st.open--;
		t->st.by_state[f->state]--;
	}
	ft_release(t, f);
}

/* Drop a flow from every index; emitted or not, it is gone. */
void ft_release(struct flow_table *t, struct sf_flow *f)
{
	if (f->half_open_counted) {
		struct sf_flow *l = ft_find_listener(t, f->netns, f->family, f->saddr, f->sport);

		if (l && l->half_open)
			l->half_open--;
	}
	if (f->gen == SNAP_GEN || f->gen == REQ_GEN)
		t->st.snapshot_unjoined--;
	if (f->in_ho) {
		list_unlink(t, &t->ho, f, HO);
		f->in_ho = 0;
	}
	ft_hash_unlink(t, f);
	ft_tindex_unlink(t, f);
	ft_segs_free(t, f);
	remember_emitted(t, f);
	/* no flow's any more: a round's settle list that still names this
	 * slot by (sk, gen) must not find it */
	f->gen = FREE_GEN;
	f->lru.next = t->free_head;
	t->free_head = idx_of(t, f);
}

struct sf_flow *ft_alloc_flow(struct flow_table *t)
{
	struct sf_flow *f;
	__u32 i;

	if (t->free_head != SF_NONE) {
		i = t->free_head;
		t->free_head = at(t, i)->lru.next;
	} else if (t->used < t->cfg.max_flows) {
		i = t->used++;
	} else {
		/* Full: the least recently active open flow goes out now,
		 * marked evicted, so it is reported rather than lost. */
		if ((f = closing_first(t))) {
			/* finished already: report it a little early */
		} else {
			/* the least recently active open flow, but not a
			 * listener while others remain: its children need it */
			__u32 i = t->lru.tail;

			for (int n = 0; n < 16 && i != SF_NONE && at(t, i)->role == SF_ROLE_LISTENER; n++)
				i = at(t, i)->lru.prev;
			f = at(t, i != SF_NONE ? i : t->lru.tail);
			f->partial |= SF_PART_EVICTED;
			t->st.evicted++;
		}
		emit_and_release(t, f);
		i = t->free_head;
		t->free_head = at(t, i)->lru.next;
	}
	f = at(t, i);
	memset(f, 0, sizeof(*f));
	f->hnext = f->lnext = f->tnext = f->segs = SF_NONE;
	f->lru.prev = f->lru.next = f->dl.prev = f->dl.next = f->ho.prev = f->ho.next = SF_NONE;
	return f;
}

void ft_set_current_state(struct flow_table *t, struct sf_flow *f, __u8 state, __u64 ts)
{
	if (state == f->state)
		return;
	ft_state_leave(t, f, state, ts);
	t->st.by_state[f->state]--;
	t->st.by_state[state]++;
	f->state = state;
	ft_state_enter(t, f, ts);
}

void ft_mark_closed(struct flow_table *t, struct sf_flow *f, __u64 ts, __u8 next)
{
	ft_state_leave(t, f, next, ts);
	list_unlink(t, &t->lru, f, LRU);
	t->st.open--;
	t->st.by_state[f->state]--;
	f->closed = 1;
	f->emit_at = ts + t->cfg.close_grace_ns;
	/* the peer's FIN and our last ACK (segments 6 and 7) come after the
	 * hand-over to the time-wait socket: give them a moment */
	if (next == SF_TCP_TIME_WAIT && f->segs != SF_NONE &&
	    !(at_segs(t, f)->have & (1u << SF_SEG_FIN2_ACK))) {
		f->emit_at = ts + t->cfg.time_wait_hold_ns;
		ft_closing_insert(t, f, SF_CQ_TIME_WAIT);
	} else {
		ft_closing_insert(t, f, SF_CQ_GRACE);
	}
	t->st.closing++;
}

int flow_table__ingest(struct flow_table *t, const struct synfin_event *e)
{
	bool seg = e->kind == SF_EV_SEGMENT;
	/* A request socket is the only one in NEW_SYN_RECV: it fires no state
	 * event and has no entry in BPF (its control events are orphans). A
	 * flow in that state would be counted apart from SYN_RECEIVED, under
	 * the same name (the stats' by_state held the key twice). */
	bool req_state = e->oldstate == SF_TCP_NEW_SYN_RECV || e->newstate == SF_TCP_NEW_SYN_RECV;

	/* times past SF_TS_MAX: a corrupted recording, whose gen may even be
	 * one this table keys its own flows on (SEG_GEN and up) */
	if (e->version != SYNFIN_EVENT_VERSION || !e->kind || e->kind >= SF_EV_KIND_MAX || e->ts_ns >= SF_TS_MAX ||
	    (!seg && (!valid_state(e->oldstate) || !valid_state(e->newstate) || e->gen >= SF_TS_MAX)) ||
	    (!seg && req_state && (e->kind == SF_EV_STATE || !(e->flags & SF_F_NO_ENTRY))) ||
	    (e->family != SF_AF_INET && e->family != SF_AF_INET6) ||
	    (!seg && (e->flags & SF_F_BIRTH_FOLDED) && ft_unfold_birth(t, e))) {
		t->st.decode_errors++;
		return -EINVAL;
	}
	t->st.events++;
	if (seg)
		ft_ingest_segment(t, e);
	else if (e->kind == SF_EV_STATE)
		ft_ingest_state(t, e);
	else
		ft_ingest_control(t, e);
	return 0;
}

void flow_table__advance(struct flow_table *t, __u64 now_ns)
{
	if (t->nsettle)
		ft_settle(t);
	/* without rounds, nothing shows a time-wait socket's FIN_WAIT_2
	 * timeout: Linux's default is assumed, and the record says so */
	while (!t->cfg.time_wait_rounds && t->ho.head != SF_NONE) {
		struct sf_flow *f = at(t, t->ho.head);

		if (f->handover_ts + FIN_TIMEOUT_NS + 1000000000ULL > now_ns)
			break;
		ft_end_handover(t, f, HO_ASSUMED, f->handover_ts + FIN_TIMEOUT_NS);
	}
	for (;;) {
		struct sf_flow *f = closing_first(t);

		if (!f)
			break;

		if (f->emit_at > now_ns)
			break;
		emit_and_release(t, f);
	}
	ft_check_deadlines(t, now_ns);
	if (t->tw)
		tw_table__advance(t->tw, now_ns, t->cfg.time_wait_rounds);
}

void flow_table__flush(struct flow_table *t)
{
	struct sf_flow *f;

	while ((f = closing_first(t)))
		emit_and_release(t, f);
}

void flow_table__stats(const struct flow_table *t, struct flow_table_stats *st)
{
	*st = t->st;
}

void flow_table__set_loopback_mirror(struct flow_table *t, bool on)
{
	t->cfg.loopback_mirror = on;
}

void flow_table__tw_stats(const struct flow_table *t, struct tw_stats *st)
{
	if (t->tw)
		tw_table__stats(t->tw, st);
	else
		memset(st, 0, sizeof(*st));
}

void flow_table__foreach_listener(const struct flow_table *t, sf_flow_fn fn, void *ctx)
{
	for (int b = 0; b < LISTEN_BUCKETS; b++)
		for (__u32 i = t->lbuckets[b]; i != SF_NONE; i = t->pool[i].lnext)
			fn(ctx, &t->pool[i]);
}

void flow_table__foreach_open(const struct flow_table *t, sf_flow_fn fn, void *ctx)
{
	for (__u32 i = t->lru.head; i != SF_NONE; i = t->pool[i].lru.next)
		if (!t->pool[i].placeholder)
			fn(ctx, &t->pool[i]);
}

void flow_table__foreach_time_wait(const struct flow_table *t, tw_key_fn fn, void *ctx)
{
	if (t->tw)
		tw_table__foreach(t->tw, fn, ctx);
}
