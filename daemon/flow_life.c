// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The lifecycle: state changes and control events (retransmits, resets)
 * into flows; FIN_WAIT_2 after the hand-over to a time-wait socket; where
 * each state's entry time came from.
 */
#include <errno.h>
#include <netinet/tcp.h>
#include "flow_int.h"

static void handover_tuple_taken(struct flow_table *t, struct sf_flow *f, __u64 ts);

static bool is_birth(const struct synfin_event *e)
{
	return (e->oldstate == SF_TCP_CLOSE &&
		(e->newstate == SF_TCP_SYN_SENT || e->newstate == SF_TCP_LISTEN)) ||
	       (e->oldstate == SF_TCP_LISTEN && e->newstate == SF_TCP_SYN_RECV);
}

static void take_tuple(struct sf_flow *f, const struct synfin_event *e)
{
	f->family = e->family;
	f->sport = e->sport;
	f->dport = e->dport;
	memcpy(f->saddr, e->saddr, sizeof(f->saddr));
	memcpy(f->daddr, e->daddr, sizeof(f->daddr));
}

static void take_owner(struct sf_flow *f, const struct synfin_event *e)
{
	f->owner_src = e->owner_src;
	f->pid = e->pid;
	f->tgid = e->tgid;
	f->host_tgid = e->host_tgid;
	f->cgroup_id = e->cgroup_id;
	memcpy(f->comm, e->comm, sizeof(f->comm));
}

static void set_birth(struct sf_flow *f, const struct synfin_event *e)
{
	f->role = e->newstate == SF_TCP_SYN_SENT ? SF_ROLE_CLIENT :
		  e->newstate == SF_TCP_LISTEN	 ? SF_ROLE_LISTENER :
						   SF_ROLE_SERVER;
	f->partial &= ~(SF_PART_MID_FLOW | SF_PART_MISSED);
}

/* Segments that came before f knew its tuple wait under that tuple, as a
 * placeholder or a half-open request (the child socket of a listener is
 * only created by the final ACK): f takes them over now. */
static void adopt(struct flow_table *t, struct sf_flow *f, __u64 now)
{
	struct sf_tuple k;
	struct sf_flow *o;
	__u64 h;

	if (f->gen == SEG_GEN || f->gen == REQ_GEN || !f->sport)
		return;
	flow_tuple(f, &k);
	h = tuple_hash(&k);
	o = lookup(t, h, SEG_GEN);
	if (o) {
		ft_segs_absorb(t, f, o);
		f->events += o->events;
		ft_closing_unlink(t, o);
		t->st.closing--;
		t->placeholders--;
		ft_release(t, o);
	}
	o = lookup(t, h, REQ_GEN);
	if (o && o != f) {
		ft_segs_absorb(t, f, o);
		f->synack_retrans += o->synack_retrans;
		ft_drop_request(t, o, SF_TCP_ESTABLISHED, now);
	}
}

static void learn_tuple(struct flow_table *t, struct sf_flow *f, const struct synfin_event *e)
{
	bool first = !f->sport;
	bool listener = f->in_lindex;

	/* most events repeat the tuple the flow has: nothing to move */
	if (!first && (f->in_tindex || listener) && f->sport == e->sport && f->dport == e->dport &&
	    f->family == e->family && !memcmp(f->saddr, e->saddr, sizeof(f->saddr)) &&
	    !memcmp(f->daddr, e->daddr, sizeof(f->daddr)))
		return;
	/* both indexes hash the port: out before it changes, back in after
	 * (listen() without bind() enters LISTEN before its port is set) */
	ft_tindex_unlink(t, f);
	if (listener)
		ft_unlink_listener(t, f);
	take_tuple(f, e);
	ft_tindex_link(t, f);
	if (listener)
		ft_link_listener(t, f);
	if (first)
		adopt(t, f, e->ts_ns);
	if (first && t->tw && f->gen != SNAP_GEN && f->role != SF_ROLE_LISTENER) {
		struct tw_key k;

		ft_tw_key_of(f, &k);
		tw_table__reuse(t->tw, &k, e->ts_ns);
	}
	if (first && t->ho.head != SF_NONE && f->role != SF_ROLE_LISTENER)
		handover_tuple_taken(t, f, e->ts_ns);
}

struct sf_flow *ft_new_flow(struct flow_table *t, const struct synfin_event *e)
{
	struct sf_flow *f = ft_alloc_flow(t);

	f->sk = e->sk;
	f->gen = e->gen;
	f->netns = e->netns;
	f->first_ts = f->last_ts = e->ts_ns;
	f->state = e->oldstate;
	f->observed_from = e->oldstate;
	take_owner(f, e);
	if (is_birth(e))
		set_birth(f, e);
	else
		/* Not its birth: the daemon started after the socket did
		 * (BPF had no entry), or the birth is late or lost. */
		f->partial |= (e->flags & SF_F_NO_ENTRY) ? SF_PART_MID_FLOW : SF_PART_MISSED;
	ft_hash_link(t, f);
	list_push_head(t, &t->lru, f, LRU);
	t->st.open++;
	t->st.by_state[f->state]++;
	ft_state_enter(t, f, e->ts_ns);
	if (e->kind != SF_EV_SEGMENT)
		learn_tuple(t, f, e);
	return f;
}

/* ---- where a state's entry time came from ------------------------------ */

void ft_set_src(struct sf_flow *f, unsigned int state, enum sf_time_src src)
{
	__u16 bit = 1u << state;

	f->src_seg &= ~bit;
	f->src_round &= ~bit;
	f->src_other &= ~bit;
	if (src == SF_SRC_SEGMENT)
		f->src_seg |= bit;
	else if (src == SF_SRC_ROUND)
		f->src_round |= bit;
	else if (src == SF_SRC_ASSUMED || src == SF_SRC_HANDOVER) {
		f->src_other |= bit;
		f->src_assumed = src == SF_SRC_ASSUMED;
	}
}

enum sf_time_src ft_src_of(const struct sf_flow *f, unsigned int state)
{
	__u16 bit = 1u << state;

	if (f->src_other & bit)
		return f->src_assumed ? SF_SRC_ASSUMED : SF_SRC_HANDOVER;
	if (f->src_round & bit)
		return SF_SRC_ROUND;
	if (f->src_seg & bit)
		return SF_SRC_SEGMENT;
	return SF_SRC_EVENT;
}

/* a state no state event announces (the kernel does not have it, or the
 * event was not for it), entered at ts as src says */
void ft_enter_at(struct sf_flow *f, unsigned int state, __u8 prev, __u64 ts, enum sf_time_src src)
{
	f->seen |= 1u << state;
	f->state_ts[state] = ts;
	f->state_prev[state] = prev;
	ft_set_src(f, state, src);
}

static __u64 handover_key(const struct sf_flow *f)
{
	return f->handover_ts;
}

void ft_end_handover(struct flow_table *t, struct sf_flow *f, enum ho_end how, __u64 ts)
{
	if (f->in_ho) {
		list_unlink(t, &t->ho, f, HO);
		f->in_ho = 0;
	}
	if (ts < f->handover_ts)
		ts = f->handover_ts;
	switch (how) {
	case HO_PEER_FIN:
	case HO_TW_SEEN:
		ft_enter_at(f, SF_TCP_TIME_WAIT, SF_TCP_FIN_WAIT2, ts, how == HO_PEER_FIN ? SF_SRC_SEGMENT : SF_SRC_ROUND);
		ft_mark_closed(t, f, ts, SF_TCP_TIME_WAIT);
		break;
	case HO_GONE:
	case HO_ASSUMED:
		f->fw2_timeout = 1;
		ft_enter_at(f, SF_TCP_CLOSE, SF_TCP_FIN_WAIT2, ts, how == HO_GONE ? SF_SRC_ROUND : SF_SRC_ASSUMED);
		ft_mark_closed(t, f, ts, SF_TCP_CLOSE);
		break;
	case HO_RESET:
		ft_enter_at(f, SF_TCP_CLOSE, SF_TCP_FIN_WAIT2, ts, SF_SRC_SEGMENT);
		ft_mark_closed(t, f, ts, SF_TCP_CLOSE);
		break;
	case HO_UNSEEN:
		f->partial |= SF_PART_END_UNSEEN;
		ft_mark_closed(t, f, ts, 0);
		break;
	}
}

static void begin_handover(struct flow_table *t, struct sf_flow *f, __u64 ts)
{
	f->handover_ts = ts;
	f->ho_round = 0;
	/* no segment of it captured and no rounds: nothing will tell */
	if (f->segs == SF_NONE && !t->cfg.time_wait_rounds) {
		ft_end_handover(t, f, HO_UNSEEN, ts);
		return;
	}
	list_insert_sorted(t, &t->ho, f, HO, ts, handover_key);
	f->in_ho = 1;
}

/* A segment of a handed-over flow (r, now in g). */
void ft_handover_segment(struct flow_table *t, struct sf_flow *f, const struct sf_segs *g,
			     const struct sf_seg_rec *r)
{
	const struct sf_seg_rec *fin = &g->slot[SF_SEG_FIN2];
	bool peer_fin = have(g, SF_SEG_FIN2) && !fin->out;

	if (!f->closed) {
		if (r->flags & TH_RST) {
			if (r->out)
				f->rst_sent = SF_TCP_FIN_WAIT2;
			else
				f->rst_recv = SF_TCP_FIN_WAIT2;
			ft_end_handover(t, f, HO_RESET, r->ts);
		} else if (peer_fin) {
			ft_end_handover(t, f, HO_PEER_FIN, fin->ts);
		}
		return;
	}
	/* A round decided while these segments waited in the backlog (the
	 * rings are drained into it while the kernel's list is read): the
	 * segment's time is the exact one. */
	if (peer_fin && (f->src_round & (1u << SF_TCP_TIME_WAIT)) && fin->ts <= f->state_ts[SF_TCP_TIME_WAIT]) {
		f->state_ts[SF_TCP_TIME_WAIT] = fin->ts;
		ft_set_src(f, SF_TCP_TIME_WAIT, SF_SRC_SEGMENT);
	}
	if ((r->flags & TH_RST) && f->fw2_timeout && (f->src_round & (1u << SF_TCP_CLOSE)) &&
	    r->ts <= f->state_ts[SF_TCP_CLOSE]) {
		f->fw2_timeout = 0;
		if (r->out)
			f->rst_sent = SF_TCP_FIN_WAIT2;
		else
			f->rst_recv = SF_TCP_FIN_WAIT2;
		f->state_ts[SF_TCP_CLOSE] = r->ts;
		ft_set_src(f, SF_TCP_CLOSE, SF_SRC_SEGMENT);
	}
}

/* A CLOSE from FIN_WAIT2: 1 if it is the hand-over to a time-wait socket
 * still waiting for the peer's FIN, 0 if that FIN came (TIME_WAIT begins),
 * -1 if the event cannot say (recorded before SF_F_CLOSE_INFO, without
 * segments). */
static int is_handover(struct flow_table *t, const struct sf_flow *f, const struct synfin_event *e)
{
	const struct sf_segs *g;

	if (e->oldstate != SF_TCP_FIN_WAIT2 || e->sk_err || f->rst_sent || f->rst_recv)
		return 0;
	if (e->flags & SF_F_CLOSE_INFO)
		return !(e->flags & SF_F_PEER_FIN);
	if (f->segs == SF_NONE)
		return -1;
	g = at_segs(t, f);
	return !(have(g, SF_SEG_FIN2) && !g->slot[SF_SEG_FIN2].out && g->slot[SF_SEG_FIN2].ts <= e->ts_ns);
}

/* A new connection took the tuple of a handed-over flow (Linux allows it
 * for TIME_WAIT only, so this is rare): how the old one ended is unknown. */
static void handover_tuple_taken(struct flow_table *t, struct sf_flow *f, __u64 ts)
{
	struct sf_tuple k;
	__u32 i;

	flow_tuple(f, &k);
	for (i = t->tbuckets[tuple_hash(&k) & (t->nbuckets - 1)]; i != SF_NONE; i = at(t, i)->tnext) {
		struct sf_flow *o = at(t, i);

		if (o != f && o->handover_ts && !o->closed && tuple_eq(o, &k)) {
			ft_end_handover(t, o, HO_UNSEEN, ts);
			return;
		}
	}
}

/* The first event of a snapshot socket: from now on it is keyed like any
 * other flow. */
static struct sf_flow *join_snapshot(struct flow_table *t, const struct synfin_event *e)
{
	struct sf_flow *f = lookup(t, e->cookie, SNAP_GEN);

	if (!f)
		return NULL;
	ft_hash_unlink(t, f);
	f->sk = e->sk;
	f->gen = e->gen;
	ft_hash_link(t, f);
	t->st.snapshot_joined++;
	t->st.snapshot_unjoined--;
	return f;
}

void ft_ingest_state(struct flow_table *t, const struct synfin_event *e)
{
	struct sf_flow *f = lookup(t, e->sk, e->gen);
	__u8 new = e->newstate;
	__u16 bit = 1u << new;
	int handover;

	if (!f && (e->flags & SF_F_NO_ENTRY) && e->cookie)
		f = join_snapshot(t, e);
	if (!f) {
		if (!(e->flags & SF_F_NEW_GEN) && ft_recently_emitted(t, e->sk, e->gen)) {
			t->st.late++;
			return;
		}
		f = ft_new_flow(t, e);
		if (e->oldstate == SF_TCP_LISTEN && new == SF_TCP_SYN_RECV) {
			struct sf_flow *l = ft_find_listener(t, e->netns, e->family, e->saddr, e->sport);

			if (l)
				l->children++;
		}
	} else if ((f->seen & bit) || (new == SF_TCP_CLOSE && f->handover_ts)) {
		/* Each state is entered once per generation. */
		f->duplicates++;
		t->st.duplicates++;
		return;
	}

	/* a birth that arrives after later transitions (another CPU) */
	if (is_birth(e) && f->role == SF_ROLE_UNKNOWN) {
		set_birth(f, e);
		/* a server child whose ESTABLISHED came first: opened */
		if (f->role == SF_ROLE_SERVER && (f->seen & (1u << SF_TCP_ESTABLISHED)))
			t->st.opened[SF_ROLE_SERVER]++;
	}
	handover = new == SF_TCP_CLOSE && !f->closed ? is_handover(t, f, e) : 0;
	f->events++;
	if (handover <= 0) {
		f->seen |= bit;
		f->state_ts[new] = e->ts_ns;
		f->state_prev[new] = e->oldstate;
		/* could be the hand-over as well as the peer's FIN */
		if (handover < 0)
			ft_set_src(f, new, SF_SRC_HANDOVER);
	}
	/* opened, once per connection (each state is entered once): a
	 * client at its SYN_SENT, a server child at its ESTABLISHED */
	if (f->role == SF_ROLE_CLIENT ? new == SF_TCP_SYN_SENT : f->role == SF_ROLE_SERVER && new == SF_TCP_ESTABLISHED)
		t->st.opened[f->role]++;
	if (new == SF_TCP_SYN_RECV && f->segs != SF_NONE) {
		/* the server's half-open phase began when the SYN arrived, not
		 * when the kernel created this socket (at the final ACK) */
		const struct sf_seg_rec *syn = &at_segs(t, f)->slot[SF_SEG_SYN];

		if (have(at_segs(t, f), SF_SEG_SYN) && !syn->out && syn->ts < e->ts_ns) {
			f->state_ts[new] = syn->ts;
			ft_set_src(f, new, SF_SRC_SEGMENT);
			if (syn->ts < f->first_ts)
				f->first_ts = syn->ts;
		}
	}
	if (e->sk_err)
		f->sk_err = e->sk_err;
	if (e->sport && (!f->sport || e->ts_ns >= f->last_ts))
		learn_tuple(t, f, e);
	if (e->owner_src != SF_OWNER_NONE && e->ts_ns >= f->last_ts) {
		take_owner(f, e);
		if (f->pile_tgid && f->pile_tgid != f->tgid && t->cfg.pileups) {
			/* the CLOSE_WAIT belongs to another process now: only
			 * the pile-up count moves */
			struct pileup_key k = { .netns = f->netns, .tgid = f->pile_tgid };

			pileup__add(t->cfg.pileups, PILEUP_CLOSE_WAIT_PROCESS, &k, -1, NULL, e->ts_ns);
			k.tgid = f->pile_tgid = f->tgid;
			pileup__add(t->cfg.pileups, PILEUP_CLOSE_WAIT_PROCESS, &k, 1, f->comm, e->ts_ns);
		}
	}
	if (e->ts_ns < f->first_ts)
		f->first_ts = e->ts_ns;
	if (e->ts_ns < f->last_ts)
		f->partial |= SF_PART_OUT_OF_ORDER;

	if (e->ts_ns >= f->last_ts) {
		f->last_ts = e->ts_ns;
		if (!f->closed && new != SF_TCP_CLOSE)
			ft_set_current_state(t, f, new, e->ts_ns);
	}
	if (!f->closed) {
		list_unlink(t, &t->lru, f, LRU);
		list_push_head(t, &t->lru, f, LRU);
	}

	if (new == SF_TCP_LISTEN && f->role == SF_ROLE_LISTENER) {
		struct sf_record rec = { .type = SF_REC_LISTEN_START, .flow = f };

		ft_link_listener(t, f);
		t->st.listen_records++;
		t->sink(t->sink_ctx, &rec);
	}
	if (new == SF_TCP_CLOSE && !f->closed) {
		/* a quiet close from FIN_WAIT_2 with the peer's FIN received,
		 * or from CLOSING, is TIME_WAIT's beginning, in a time-wait
		 * socket: that is where a stuck flow went */
		bool tw = (e->oldstate == SF_TCP_FIN_WAIT2 || e->oldstate == SF_TCP_CLOSING) &&
			  !e->sk_err && !f->rst_sent && !f->rst_recv;

		if (handover > 0)
			begin_handover(t, f, e->ts_ns);
		else
			ft_mark_closed(t, f, e->ts_ns, tw ? SF_TCP_TIME_WAIT : SF_TCP_CLOSE);
	}
}

/* A server child's LISTEN -> SYN_RECV that BPF did not send: e, the
 * child's next record, stands for it (SF_F_BIRTH_FOLDED). It is ingested
 * just before e, as the record it would have been: at the generation,
 * with e's owner and tuple, so the flow is the one an unfolded stream
 * gives (its place among other sockets' records does not matter: none of
 * them is about this socket, whose record came next on this CPU).
 * -EINVAL, nothing done: a fold BPF never sends (on a socket it had no
 * entry for, a birth after its carrier, a listener's SYN-ACK retransmit). */
int ft_unfold_birth(struct flow_table *t, const struct synfin_event *e)
{
	struct synfin_event b;

	if ((e->flags & SF_F_NO_ENTRY) || e->gen > e->ts_ns || e->kind == SF_EV_SYNACK_RETRANS)
		return -EINVAL;
	b = *e;
	b.ts_ns = e->gen;
	b.kind = SF_EV_STATE;
	b.oldstate = SF_TCP_LISTEN;
	b.newstate = SF_TCP_SYN_RECV;
	b.flags = SF_F_NEW_GEN;
	b.sk_err = 0;
	b.cookie = 0;
	ft_ingest_state(t, &b);
	return 0;
}

void ft_ingest_control(struct flow_table *t, const struct synfin_event *e)
{
	__u8 state = e->newstate;
	struct sf_flow *f;

	if (e->kind == SF_EV_SYNACK_RETRANS) {
		/* The request socket is no socket flow: count it on the
		 * listener that owns it, and on the half-open flow of its
		 * tuple when segments started one (its child inherits it). */
		struct sf_tuple k;
		struct sf_flow *r;

		tuple_set(&k, e->netns, e->family, e->saddr, e->daddr, e->sport, e->dport);
		r = lookup(t, tuple_hash(&k), REQ_GEN);
		f = ft_find_listener(t, e->netns, e->family, e->saddr, e->sport);
		if (r)
			r->synack_retrans++;
		if (!f) {
			if (!r)
				t->st.orphans++;
			return;
		}
		f->synack_retrans++;
		return;
	}
	f = lookup(t, e->sk, e->gen);
	if (!f) {
		/* With a generation, BPF knows the socket: its state event
		 * is merely behind this one. Without, nothing to join. */
		if ((e->flags & SF_F_NO_ENTRY) || ft_recently_emitted(t, e->sk, e->gen)) {
			t->st.orphans++;
			return;
		}
		f = ft_new_flow(t, e);
	}
	f->events++;
	if (e->sport && !f->sport)
		learn_tuple(t, f, e);
	/* An abortive close enters CLOSE first and sends its RST after: name
	 * the state the connection was aborted in. */
	if (state == SF_TCP_CLOSE && (f->seen & (1u << SF_TCP_CLOSE)))
		state = f->state_prev[SF_TCP_CLOSE];
	switch (e->kind) {
	case SF_EV_RETRANS:
		if (state == SF_TCP_SYN_SENT)
			f->syn_retrans++;
		else if (state == SF_TCP_SYN_RECV)
			f->synack_retrans++;
		else
			f->fin_retrans++;
		break;
	case SF_EV_RESET_RECV:
		if (!f->rst_recv)
			f->rst_recv = state;
		break;
	case SF_EV_RESET_SENT:
		if (!f->rst_sent)
			f->rst_sent = state;
		break;
	}
}
