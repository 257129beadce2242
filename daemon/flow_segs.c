// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Segments: they name no socket, only addresses, so flows are also indexed
 * by (netns, family, local, remote) once they know their tuple; each
 * segment is numbered as the seed does, from its end's point of view.
 */
#include <netinet/tcp.h>
#include "flow_int.h"

static void ingest_segment_end(struct flow_table *t, const struct synfin_event *e, bool out);

/* time-wait keys are tuples too, normalised the same way */
void ft_tw_key_set(struct tw_key *k, __u32 netns, __u8 family, const __u8 *laddr, const __u8 *raddr,
		       __u16 lport, __u16 rport)
{
	struct sf_tuple t;

	tuple_set(&t, netns, family, laddr, raddr, lport, rport);
	memset(k, 0, sizeof(*k));
	k->netns = t.netns;
	k->family = t.family;
	memcpy(k->laddr, t.laddr, 16);
	memcpy(k->raddr, t.raddr, 16);
	k->lport = t.lport;
	k->rport = t.rport;
}

void ft_tindex_unlink(struct flow_table *t, struct sf_flow *f)
{
	struct sf_tuple k;
	__u32 *p, me = idx_of(t, f);

	if (!f->in_tindex)
		return;
	flow_tuple(f, &k);
	p = &t->tbuckets[tuple_hash(&k) & (t->nbuckets - 1)];
	while (*p != SF_NONE) {
		if (*p == me) {
			*p = f->tnext;
			break;
		}
		p = &at(t, *p)->tnext;
	}
	f->tnext = SF_NONE;
	f->in_tindex = 0;
}

void ft_tindex_link(struct flow_table *t, struct sf_flow *f)
{
	struct sf_tuple k;
	__u32 b;

	if (f->in_tindex || !f->sport || f->placeholder || f->role == SF_ROLE_LISTENER)
		return;
	flow_tuple(f, &k);
	b = tuple_hash(&k) & (t->nbuckets - 1);
	f->tnext = t->tbuckets[b];
	t->tbuckets[b] = idx_of(t, f);
	f->in_tindex = 1;
}

/* The flow a segment belongs to: an open one first, else the most
 * recently linked closed one (a tuple reused while the old record waits). */
struct sf_flow *ft_tindex_lookup(struct flow_table *t, const struct sf_tuple *k, __u64 h)
{
	__u32 i = t->tbuckets[h & (t->nbuckets - 1)];
	struct sf_flow *closed = NULL;

	for (; i != SF_NONE; i = at(t, i)->tnext) {
		struct sf_flow *f = at(t, i);

		if (!tuple_eq(f, k))
			continue;
		if (!f->closed)
			return f;
		if (!closed)
			closed = f;
	}
	return closed;
}

/* The flow's segments as a whole block, or NULL: valid until the next
 * call (a record reads any slot; a small block has the first three). */
const struct sf_segs *ft_segs_view(struct flow_table *t, const struct sf_flow *f)
{
	if (f->segs == SF_NONE)
		return NULL;
	if (f->segs & SEGS_FULL)
		return at_segs(t, f);
	memset(&t->seg_view, 0, sizeof(t->seg_view));
	memcpy(&t->seg_view, at_segs(t, f), SF_SEGS_SMALL);
	return &t->seg_view;
}

/* a zeroed block of pool full (0 or 1) as f->segs knows it, or SF_NONE */
static __u32 pool_alloc(struct flow_table *t, int full)
{
	struct seg_pool *p = &t->segs[full];
	__u32 i;

	if (p->free != SF_NONE) {
		i = p->free;
		p->free = pool_at(p, i)->next_free;
	} else if (p->used < t->cfg.max_flows) {
		i = p->used++;
	} else {
		return SF_NONE;
	}
	memset(pool_at(p, i), 0, p->elem);
	return full ? i | SEGS_FULL : i;
}

void ft_segs_free(struct flow_table *t, struct sf_flow *f)
{
	struct seg_pool *p;

	if (f->segs == SF_NONE)
		return;
	p = &t->segs[!!(f->segs & SEGS_FULL)];
	at_segs(t, f)->next_free = p->free;
	p->free = f->segs & ~SEGS_FULL;
	f->segs = SF_NONE;
}

/* f's block, made if it has none (a small one): NULL when none is left */
static struct sf_segs *segs_get(struct flow_table *t, struct sf_flow *f)
{
	if (f->segs == SF_NONE)
		f->segs = pool_alloc(t, 0);
	return f->segs == SF_NONE ? NULL : at_segs(t, f);
}

/* f's block with room for every slot (its small block moves over) */
struct sf_segs *ft_segs_full(struct flow_table *t, struct sf_flow *f)
{
	__u32 i;

	if (f->segs != SF_NONE && (f->segs & SEGS_FULL))
		return at_segs(t, f);
	i = pool_alloc(t, 1);
	if (i == SF_NONE)
		return NULL;
	if (f->segs != SF_NONE) {
		memcpy(pool_at(&t->segs[1], i & ~SEGS_FULL), at_segs(t, f), SF_SEGS_SMALL);
		ft_segs_free(t, f);
	}
	f->segs = i;
	return at_segs(t, f);
}

static void put(struct sf_segs *g, int slot, const struct sf_seg_rec *r)
{
	g->slot[slot] = *r;
	g->have |= 1u << slot;
}

/* Number a segment as the seed does, from this end's point of view.
 * Returns false for an event seen twice (not a retransmission: those
 * are sent, and seen, at another time), or when no block is left. */
static bool segs_add(struct flow_table *t, struct sf_flow *f, const struct sf_seg_rec *r)
{
	bool syn = r->flags & SF_TH_SYN, fin = r->flags & SF_TH_FIN, rst = r->flags & SF_TH_RST, ack = r->flags & SF_TH_ACK;
	/* FIN and RST go past slot 3 (and the ACKs of FINs, which need a
	 * FIN there first) */
	struct sf_segs *g = fin || rst ? ft_segs_full(t, f) : segs_get(t, f);

	if (!g)
		return false;

	for (int i = 1; i < SF_SEG_SLOTS; i++)
		if (have(g, i) && g->slot[i].ts == r->ts && g->slot[i].seq == r->seq &&
		    g->slot[i].flags == r->flags && g->slot[i].out == r->out)
			return false;

	if (rst) {
		if (!have(g, SF_SEG_RST))
			put(g, SF_SEG_RST, r);
		return true;
	}
	if (syn && !ack) {
		if (have(g, SF_SEG_SYN))
			g->syn_rtx++;
		else
			put(g, SF_SEG_SYN, r);
		return true;
	}
	if (syn) {
		if (have(g, SF_SEG_SYNACK))
			g->synack_rtx++;
		else
			put(g, SF_SEG_SYNACK, r);
		return true;
	}
	if (fin) {
		if (!have(g, SF_SEG_FIN1)) {
			put(g, SF_SEG_FIN1, r);
		} else if (g->slot[SF_SEG_FIN1].out == r->out || have(g, SF_SEG_FIN2)) {
			g->fin_rtx++;
		} else {
			put(g, SF_SEG_FIN2, r);
			/* FIN and the ACK of the first FIN in one segment */
			if (!have(g, SF_SEG_FIN1_ACK) && ack && r->ack == seq_end(&g->slot[SF_SEG_FIN1]))
				put(g, SF_SEG_FIN1_ACK, r);
		}
		return true;
	}
	if (have(g, SF_SEG_SYNACK) && !have(g, SF_SEG_ACK) && g->slot[SF_SEG_SYNACK].out != r->out &&
	    r->ack == seq_end(&g->slot[SF_SEG_SYNACK]))
		put(g, SF_SEG_ACK, r);
	else if (have(g, SF_SEG_FIN1) && !have(g, SF_SEG_FIN1_ACK) && g->slot[SF_SEG_FIN1].out != r->out &&
		 r->ack == seq_end(&g->slot[SF_SEG_FIN1]))
		put(g, SF_SEG_FIN1_ACK, r);
	else if (have(g, SF_SEG_FIN2) && !have(g, SF_SEG_FIN2_ACK) && g->slot[SF_SEG_FIN2].out != r->out &&
		 r->ack == seq_end(&g->slot[SF_SEG_FIN2]))
		put(g, SF_SEG_FIN2_ACK, r);
	else
		g->other++;
	return true;
}

/* Move a placeholder's or request's segments into f (slot by slot, in
 * time order, so numbering holds whatever arrived first). */
void ft_segs_absorb(struct flow_table *t, struct sf_flow *f, struct sf_flow *from)
{
	struct sf_segs *src, *dst;
	struct sf_seg_rec recs[SF_SEG_SLOTS];
	int n = 0;

	if (from->segs == SF_NONE)
		return;
	src = at_segs(t, from);
	if (f->segs == SF_NONE) {
		f->segs = from->segs; /* hand the whole block over */
		from->segs = SF_NONE;
		return;
	}
	for (int i = 1; i < SF_SEG_SLOTS; i++)
		if (have(src, i))
			recs[n++] = src->slot[i];
	for (int i = 1; i < n; i++)
		for (int j = i; j > 0 && recs[j - 1].ts > recs[j].ts; j--) {
			struct sf_seg_rec x = recs[j];

			recs[j] = recs[j - 1];
			recs[j - 1] = x;
		}
	for (int i = 0; i < n; i++)
		segs_add(t, f, &recs[i]);
	dst = segs_get(t, f); /* it may have moved to a full block */
	if (!dst)
		return;
	dst->syn_rtx += src->syn_rtx;
	dst->synack_rtx += src->synack_rtx;
	dst->fin_rtx += src->fin_rtx;
}

/* A placeholder: segments waiting for the flow that will claim them. */
static struct sf_flow *new_placeholder(struct flow_table *t, const struct synfin_event *e, __u64 key)
{
	struct sf_flow *f = ft_alloc_flow(t);

	f->sk = key;
	f->gen = SEG_GEN;
	f->netns = e->netns;
	f->first_ts = f->last_ts = e->ts_ns;
	f->placeholder = 1;
	t->placeholders++;
	f->closed = 1;
	f->emit_at = e->ts_ns + t->cfg.segment_hold_ns;
	ft_hash_link(t, f);
	ft_closing_insert(t, f, SF_CQ_PLACEHOLDER);
	t->st.closing++;
	return f;
}

/* Does r carry the numbers of f's connection: the same sequence number
 * as one of its segments the same way (a retransmit), the one after it
 * (the ACK after a FIN, a reset answering one), or an acknowledgment of
 * one the other way? A new connection on the tuple has new numbers. */
static bool continues(struct flow_table *t, const struct sf_flow *f, const struct sf_seg_rec *r)
{
	const struct sf_segs *g;

	if (f->segs == SF_NONE)
		return false;
	g = at_segs(t, f);
	for (int i = 1; i < SF_SEG_SLOTS; i++) {
		const struct sf_seg_rec *s = &g->slot[i];

		if (!have(g, i))
			continue;
		if (s->out == r->out && (s->seq == r->seq || seq_end(s) == r->seq))
			return true;
		if (s->out != r->out && (r->flags & SF_TH_ACK) && seq_end(s) == r->ack)
			return true;
	}
	return false;
}

void ft_ingest_segment(struct flow_table *t, const struct synfin_event *e)
{
	t->st.segments++;
	ingest_segment_end(t, e, e->seg.dir == SF_DIR_EGRESS);
	/* captured once on lo: the same segment arrives at the other end */
	if (t->cfg.loopback_mirror && e->seg.ifindex == LOOPBACK_IFINDEX && e->seg.dir == SF_DIR_EGRESS)
		ingest_segment_end(t, e, false);
}

/* One end's view of a segment: out, sent by it; else received. */
static void ingest_segment_end(struct flow_table *t, const struct synfin_event *e, bool out)
{
	struct sf_seg_rec r = {
		.ts = e->ts_ns,
		.seq = e->seg.seq,
		.ack = e->seg.ack,
		.payload = e->seg.payload,
		.window = e->seg.window,
		.flags = e->seg.tcp_flags,
		.out = out,
	};
	struct sf_tuple k;
	__u64 h;
	struct sf_flow *f, *l;
	struct sf_segs *g;

	/* sent: this end is the source; received: the destination */
	tuple_set(&k, e->netns, e->family, out ? e->saddr : e->daddr, out ? e->daddr : e->saddr,
		  out ? e->sport : e->dport, out ? e->dport : e->sport);
	h = tuple_hash(&k);
	f = ft_tindex_lookup(t, &k, h);
	if (f && (f->closed || f->in_ho) && !continues(t, f, &r)) {
		/* The tuple taken again while the old connection's record
		 * waits (its grace, the time-wait hold, a time-wait socket's
		 * FIN_WAIT_2): a SYN with a new number opens a new
		 * connection, and once one has started a request or a
		 * placeholder under the tuple, what does not carry the old
		 * connection's numbers is the new one's. */
		struct sf_flow *n = lookup(t, h, REQ_GEN);

		if (n && (n == f || !tuple_eq(n, &k)))
			n = NULL;
		if (!n)
			n = lookup(t, h, SEG_GEN);
		if (n)
			f = n;
		else if ((r.flags & (SF_TH_SYN | SF_TH_ACK)) == SF_TH_SYN)
			f = NULL;
	}
	if (!f && t->tw) {
		struct tw_key tk;

		ft_tw_key_set(&tk, k.netns, k.family, k.laddr, k.raddr, k.lport, k.rport);
		if (tw_table__segment(t->tw, &tk, r.flags, r.out, r.ts))
			return; /* the time-wait socket's */
	}
	if (!f)
		f = lookup(t, h, REQ_GEN);
	if (!f)
		f = lookup(t, h, SEG_GEN);
	if (!f && !r.out && (r.flags & (SF_TH_SYN | SF_TH_ACK)) == SF_TH_SYN &&
	    (l = ft_find_listener(t, k.netns, k.family, k.laddr, k.lport))) {
		/* A SYN reaching a listener: the half-open phase starts now,
		 * long before the kernel creates the child socket. A flood
		 * is tracked up to a cap per listener, and counted. */
		struct synfin_event q = *e;

		if (l->half_open >= t->cfg.max_half_open) {
			t->st.half_open_dropped++;
			return;
		}

		q.kind = SF_EV_STATE;
		q.sk = h;
		q.gen = REQ_GEN;
		q.oldstate = SF_TCP_LISTEN;
		q.newstate = SF_TCP_SYN_RECV;
		memcpy(q.saddr, k.laddr, 16);
		memcpy(q.daddr, k.raddr, 16);
		q.sport = k.lport;
		q.dport = k.rport;
		q.owner_src = SF_OWNER_NONE;
		q.flags = 0;
		f = ft_new_flow(t, &q);
		f->role = SF_ROLE_SERVER;
		f->seen |= 1u << SF_TCP_SYN_RECV;
		f->state_ts[SF_TCP_SYN_RECV] = e->ts_ns;
		f->state_prev[SF_TCP_SYN_RECV] = SF_TCP_LISTEN;
		ft_set_src(f, SF_TCP_SYN_RECV, SF_SRC_SEGMENT);
		ft_set_current_state(t, f, SF_TCP_SYN_RECV, e->ts_ns);
		t->st.half_open++;
		t->st.snapshot_unjoined++; /* a request: reconciliation tracks it */
		/* ft_new_flow may have evicted and reused the listener's slot */
		l = ft_find_listener(t, k.netns, k.family, k.laddr, k.lport);
		if (l) {
			l->half_open++;
			f->half_open_counted = 1;
		}
	}
	if (!f) {
		/* bounded: forwarded traffic or scans must not crowd out flows */
		if (t->placeholders >= t->cfg.max_flows / 4) {
			t->st.segments_unmatched++;
			return;
		}
		f = new_placeholder(t, e, h);
	}
	if (!segs_get(t, f))
		return;
	if (!segs_add(t, f, &r)) {
		f->duplicates++;
		t->st.duplicates++;
		return;
	}
	g = at_segs(t, f); /* it may have moved to a full block */
	f->events++;
	if (f->handover_ts)
		ft_handover_segment(t, f, g, &r);
	/* the active closer's record waits for 7 after the hand-over: once
	 * it is here, nothing more is expected */
	if (f->closed && !f->placeholder && have(g, SF_SEG_FIN2_ACK) && f->emit_at > e->ts_ns + t->cfg.close_grace_ns) {
		ft_closing_unlink(t, f);
		f->emit_at = e->ts_ns + t->cfg.close_grace_ns;
		ft_closing_insert(t, f, SF_CQ_GRACE);
	}
}

void ft_tw_key_of(const struct sf_flow *f, struct tw_key *k)
{
	ft_tw_key_set(k, f->netns, f->family, f->saddr, f->daddr, f->sport, f->dport);
}
