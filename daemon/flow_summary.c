// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * What a finished flow means: its path, phases, close kind and closer,
 * derived from the states seen, never stored.
 */
#include <errno.h>
#include <netinet/tcp.h>
#include "flow_int.h"

static const char *const state_names[SF_TCP_NSTATES] = {
	[0] = "UNKNOWN",
	[SF_TCP_ESTABLISHED] = "ESTABLISHED",
	[SF_TCP_SYN_SENT] = "SYN_SENT",
	[SF_TCP_SYN_RECV] = "SYN_RECEIVED",
	[SF_TCP_FIN_WAIT1] = "FIN_WAIT_1",
	[SF_TCP_FIN_WAIT2] = "FIN_WAIT_2",
	[SF_TCP_TIME_WAIT] = "TIME_WAIT",
	[SF_TCP_CLOSE] = "CLOSED",
	[SF_TCP_CLOSE_WAIT] = "CLOSE_WAIT",
	[SF_TCP_LAST_ACK] = "LAST_ACK",
	[SF_TCP_LISTEN] = "LISTEN",
	[SF_TCP_CLOSING] = "CLOSING",
	[SF_TCP_NEW_SYN_RECV] = "SYN_RECEIVED",
};

static const char *const state_keys[SF_TCP_NSTATES] = {
	[0] = "unknown",
	[SF_TCP_ESTABLISHED] = "established",
	[SF_TCP_SYN_SENT] = "syn_sent",
	[SF_TCP_SYN_RECV] = "syn_received",
	[SF_TCP_FIN_WAIT1] = "fin_wait_1",
	[SF_TCP_FIN_WAIT2] = "fin_wait_2",
	[SF_TCP_TIME_WAIT] = "time_wait",
	[SF_TCP_CLOSE] = "closed",
	[SF_TCP_CLOSE_WAIT] = "close_wait",
	[SF_TCP_LAST_ACK] = "last_ack",
	[SF_TCP_LISTEN] = "listen",
	[SF_TCP_CLOSING] = "closing",
	[SF_TCP_NEW_SYN_RECV] = "syn_received",
};

/* Position in a lifecycle, to order states entered in the same nanosecond. */
static const __u8 state_rank[SF_TCP_NSTATES] = {
	[SF_TCP_LISTEN] = 0,
	[SF_TCP_SYN_SENT] = 1,
	[SF_TCP_SYN_RECV] = 1,
	[SF_TCP_NEW_SYN_RECV] = 1,
	[SF_TCP_ESTABLISHED] = 2,
	[SF_TCP_FIN_WAIT1] = 3,
	[SF_TCP_CLOSE_WAIT] = 3,
	[SF_TCP_FIN_WAIT2] = 4,
	[SF_TCP_CLOSING] = 4,
	[SF_TCP_LAST_ACK] = 4,
	[SF_TCP_TIME_WAIT] = 5,
	[SF_TCP_CLOSE] = 6,
};

const char *sf_state_name(unsigned int state)
{
	return state < SF_TCP_NSTATES ? state_names[state] : "UNKNOWN";
}

const char *sf_state_key(unsigned int state)
{
	return state < SF_TCP_NSTATES ? state_keys[state] : "unknown";
}

const char *sf_close_name(enum sf_close_kind k)
{
	static const char *const n[] = {
		[SF_CLOSE_NONE] = "open",
		[SF_CLOSE_NORMAL] = "normal",
		[SF_CLOSE_SIMULTANEOUS] = "simultaneous",
		[SF_CLOSE_RESET] = "reset",
		[SF_CLOSE_REFUSED] = "refused",
		[SF_CLOSE_TIMEOUT] = "timeout",
		[SF_CLOSE_UNREACHABLE] = "unreachable",
		[SF_CLOSE_ABORTED] = "aborted",
		[SF_CLOSE_NEVER_ESTABLISHED] = "never_established",
		[SF_CLOSE_UNKNOWN] = "unknown",
		[SF_CLOSE_FIN_WAIT2_TIMEOUT] = "fin_wait_2_timeout",
	};

	return (unsigned int)k < sizeof(n) / sizeof(n[0]) ? n[k] : "unknown";
}

const char *sf_time_src_name(unsigned int src)
{
	static const char *const n[] = {
		[SF_SRC_SEGMENT] = "segments",
		[SF_SRC_ROUND] = "reconcile",
		[SF_SRC_ASSUMED] = "assumed",
		[SF_SRC_HANDOVER] = "handover",
	};

	return src < sizeof(n) / sizeof(n[0]) ? n[src] : NULL;
}

const char *sf_role_name(enum sf_role r)
{
	switch (r) {
	case SF_ROLE_CLIENT:
		return "client";
	case SF_ROLE_SERVER:
		return "server";
	case SF_ROLE_LISTENER:
		return "listener";
	default:
		return "unknown";
	}
}

const char *sf_owner_src_name(unsigned int src)
{
	static const char *const n[] = {
		[SF_OWNER_NONE] = "none",
		[SF_OWNER_CONNECT] = "connect",
		[SF_OWNER_LISTEN] = "listen",
		[SF_OWNER_LISTENER] = "listener",
		[SF_OWNER_ACCEPT] = "accept",
		[SF_OWNER_CLOSE] = "close",
		[SF_OWNER_SNAPSHOT] = "snapshot",
	};

	return src < sizeof(n) / sizeof(n[0]) ? n[src] : "none";
}

/* ---- summary ---------------------------------------------------------- */

static bool post_established(unsigned int s)
{
	return s == SF_TCP_ESTABLISHED || s == SF_TCP_FIN_WAIT1 || s == SF_TCP_FIN_WAIT2 ||
	       s == SF_TCP_CLOSING || s == SF_TCP_CLOSE_WAIT || s == SF_TCP_LAST_ACK ||
	       s == SF_TCP_TIME_WAIT;
}

static enum sf_close_kind classify(const struct sf_flow *f, const struct sf_summary *s)
{
	if (!f->closed)
		return SF_CLOSE_NONE;
	switch (f->sk_err) {
	case ECONNREFUSED:
		return SF_CLOSE_REFUSED;
	case ETIMEDOUT:
		return SF_CLOSE_TIMEOUT;
	case EHOSTUNREACH:
	case ENETUNREACH:
		return s->established ? SF_CLOSE_TIMEOUT : SF_CLOSE_UNREACHABLE;
	}
	if (!s->established) {
		if (f->rst_recv)
			return SF_CLOSE_REFUSED;
		if (f->role == SF_ROLE_SERVER)
			return SF_CLOSE_NEVER_ESTABLISHED;
		if (f->role == SF_ROLE_CLIENT || seen(f, SF_TCP_SYN_SENT))
			return SF_CLOSE_ABORTED;
		return SF_CLOSE_UNKNOWN;
	}
	if (f->rst_sent || f->rst_recv || f->sk_err == ECONNRESET || f->sk_err == EPIPE)
		return SF_CLOSE_RESET;
	if (f->fw2_timeout)
		return SF_CLOSE_FIN_WAIT2_TIMEOUT;
	if (f->partial & SF_PART_END_UNSEEN)
		return SF_CLOSE_UNKNOWN;
	if (seen(f, SF_TCP_CLOSING) || s->path[0] == SF_TCP_CLOSING)
		return SF_CLOSE_SIMULTANEOUS;
	/* ESTABLISHED -> CLOSE directly only happens through a reset */
	if (f->state_prev[SF_TCP_CLOSE] == SF_TCP_ESTABLISHED)
		return SF_CLOSE_RESET;
	return SF_CLOSE_NORMAL;
}

__u64 sf_flow__end_ts(const struct sf_flow *f)
{
	if (seen(f, SF_TCP_CLOSE))
		return f->state_ts[SF_TCP_CLOSE];
	if (seen(f, SF_TCP_TIME_WAIT))
		return f->state_ts[SF_TCP_TIME_WAIT];
	return f->last_ts;
}

const char *sf_teardown_name(unsigned int td)
{
	static const char *const n[] = {
		[SF_TD_FOUR_WAY] = "four_way",	   [SF_TD_THREE_WAY] = "three_way",
		[SF_TD_SIMULTANEOUS] = "simultaneous", [SF_TD_HALF_CLOSED] = "half_closed",
		[SF_TD_RESET] = "reset",
	};

	return td < sizeof(n) / sizeof(n[0]) ? n[td] : NULL;
}

/* 5 and 6 are one segment: the peer's FIN acknowledges ours */
static bool fin_acks_fin(const struct sf_segs *g)
{
	return have(g, SF_SEG_FIN1_ACK) && have(g, SF_SEG_FIN2) &&
	       g->slot[SF_SEG_FIN1_ACK].ts == g->slot[SF_SEG_FIN2].ts &&
	       g->slot[SF_SEG_FIN1_ACK].seq == g->slot[SF_SEG_FIN2].seq;
}

static enum sf_teardown teardown_shape(const struct sf_segs *g)
{
	const struct sf_seg_rec *f1 = &g->slot[SF_SEG_FIN1], *f2 = &g->slot[SF_SEG_FIN2];

	if (have(g, SF_SEG_RST) && !have(g, SF_SEG_FIN2_ACK))
		return SF_TD_RESET;
	if (!have(g, SF_SEG_FIN1))
		return SF_TD_NONE;
	if (!have(g, SF_SEG_FIN2))
		return SF_TD_HALF_CLOSED;
	/* both FINs left before either was acknowledged: they crossed */
	if (!have(g, SF_SEG_FIN1_ACK) || g->slot[SF_SEG_FIN1_ACK].ts > f2->ts ||
	    (f2->flags & TH_ACK && f2->ack != seq_end(f1) && !have(g, SF_SEG_FIN1_ACK)))
		return SF_TD_SIMULTANEOUS;
	if (fin_acks_fin(g))
		return SF_TD_THREE_WAY;
	return SF_TD_FOUR_WAY;
}

/* slot -> the slot it acknowledges (0: none) */
static const __u8 acks_slot[SF_SEG_SLOTS] = {
	[SF_SEG_SYNACK] = SF_SEG_SYN, [SF_SEG_ACK] = SF_SEG_SYNACK,
	[SF_SEG_FIN1_ACK] = SF_SEG_FIN1, [SF_SEG_FIN2_ACK] = SF_SEG_FIN2,
};

static void summarize_segments(const struct sf_segs *g, struct sf_summary *s)
{
	s->teardown = teardown_shape(g);
	s->seg_listed = g->have & ~1u;
	if (fin_acks_fin(g))
		s->seg_listed &= ~(1u << SF_SEG_FIN1_ACK);
	for (int i = 1; i < SF_SEG_SLOTS; i++) {
		int of = acks_slot[i];

		if (!have(g, i))
			continue;
		/* the seed: each answer acknowledges the sequence + 1 */
		if (!(of && have(g, of)) && i == SF_SEG_FIN2 && fin_acks_fin(g))
			of = SF_SEG_FIN1;
		else if (!(of && have(g, of)))
			continue;
		s->acks_checked |= 1u << i;
		if (g->slot[i].ack == seq_end(&g->slot[of]))
			s->acks_ok |= 1u << i;
	}
}

static bool is_abnormal(const struct sf_flow *f, const struct sf_segs *g, const struct sf_summary *s)
{
	if (s->close != SF_CLOSE_NORMAL && s->close != SF_CLOSE_SIMULTANEOUS)
		return true;
	if (s->partial || !s->established || f->was_stuck || f->fw2_timeout)
		return true;
	if (f->syn_retrans || f->synack_retrans || f->fin_retrans)
		return true;
	if (g && (g->syn_rtx || g->synack_rtx || g->fin_rtx))
		return true;
	return s->acks_ok != s->acks_checked;
}

void sf_flow__summarize(const struct sf_flow *f, const struct sf_segs *g, struct sf_summary *s)
{
	__u8 order[SF_TCP_NSTATES];
	__u8 origin;
	int n = 0, i, j;

	memset(s, 0, sizeof(*s));
	s->connect_ns = s->handshake_ns = s->lifetime_ns = -1;

	/* states in the order they were entered */
	for (i = 1; i < SF_TCP_NSTATES; i++) {
		if (!seen(f, i))
			continue;
		for (j = n; j > 0; j--) {
			__u8 p = order[j - 1];

			if (f->state_ts[p] < f->state_ts[i] ||
			    (f->state_ts[p] == f->state_ts[i] && state_rank[p] <= state_rank[i]))
				break;
			order[j] = p;
		}
		order[j] = i;
		n++;
	}

	/* where the observation starts: the state the earliest transition
	 * left (CLOSED for a client or listener, LISTEN for a child) */
	origin = n ? f->state_prev[order[0]] : f->observed_from;
	s->path[s->path_len++] = origin;
	for (i = 0; i < n; i++) {
		/* each state must have been entered from the one before it */
		if (f->state_prev[order[i]] != s->path[s->path_len - 1])
			s->gap = true;
		s->path[s->path_len++] = order[i];
	}

	s->established = post_established(origin) && origin != SF_TCP_TIME_WAIT;
	for (i = 0; i < n; i++)
		if (post_established(order[i]))
			s->established = true;

	/* a dwell only where the next state was entered from this one: across
	 * a missed transition the time in between is unknown */
	for (i = 0; i + 1 < n; i++) {
		unsigned int st = order[i], nx = order[i + 1];

		if (f->state_prev[nx] != st)
			continue;
		/* a server's SYN_RECV event comes with the final ACK (the
		 * kernel creates the child socket then): without the SYN
		 * captured, the half-open phase was not seen */
		if (st == SF_TCP_SYN_RECV && f->role == SF_ROLE_SERVER && ft_src_of(f, st) != SF_SRC_SEGMENT)
			continue;
		s->dwell[st] = f->state_ts[nx] - f->state_ts[st];
		s->have_dwell |= 1u << st;
		s->dwell_src[st] = ft_src_of(f, st) > ft_src_of(f, nx) ? ft_src_of(f, st) : ft_src_of(f, nx);
	}

	s->start_ts = n ? f->state_ts[order[0]] : f->first_ts;
	s->end_ts = sf_flow__end_ts(f);

	if (seen(f, SF_TCP_SYN_SENT) && seen(f, SF_TCP_ESTABLISHED))
		s->connect_ns = f->state_ts[SF_TCP_ESTABLISHED] - f->state_ts[SF_TCP_SYN_SENT];
	if (f->role == SF_ROLE_CLIENT) {
		s->handshake_ns = s->connect_ns;
	} else if (seen(f, SF_TCP_SYN_RECV) && seen(f, SF_TCP_ESTABLISHED) &&
		   ft_src_of(f, SF_TCP_SYN_RECV) == SF_SRC_SEGMENT) {
		s->handshake_ns = f->state_ts[SF_TCP_ESTABLISHED] - f->state_ts[SF_TCP_SYN_RECV];
		s->handshake_src = SF_SRC_SEGMENT;
	}
	if (!(f->partial & (SF_PART_MID_FLOW | SF_PART_MISSED)) && n &&
	    (seen(f, SF_TCP_CLOSE) || seen(f, SF_TCP_TIME_WAIT))) {
		__u8 last = seen(f, SF_TCP_CLOSE) ? SF_TCP_CLOSE : SF_TCP_TIME_WAIT;

		s->lifetime_ns = s->end_ts - s->start_ts;
		s->lifetime_src = ft_src_of(f, order[0]) > ft_src_of(f, last) ? ft_src_of(f, order[0]) : ft_src_of(f, last);
	}

	s->partial_reasons = (f->partial & (SF_PART_MID_FLOW | SF_PART_MISSED | SF_PART_EVICTED |
					    SF_PART_VANISHED | SF_PART_END_UNSEEN | SF_PART_LOST)) |
			     (s->gap ? SF_PART_GAP : 0);
	s->partial = s->partial_reasons != 0;
	if (g)
		summarize_segments(g, s);
	if (f->role == SF_ROLE_LISTENER) {
		s->close = f->closed ? SF_CLOSE_NORMAL : SF_CLOSE_NONE;
		return;
	}
	s->close = classify(f, s);

	if (seen(f, SF_TCP_CLOSE)) {
		__u8 before = f->state_prev[SF_TCP_CLOSE];

		if (s->close == SF_CLOSE_NORMAL || s->close == SF_CLOSE_SIMULTANEOUS) {
			if (before == SF_TCP_FIN_WAIT2 || before == SF_TCP_CLOSING ||
			    before == SF_TCP_FIN_WAIT1) {
				/* Linux replaces the socket by a time-wait
				 * socket that fires no state event: the
				 * CLOSE we saw is that hand-over. */
				s->time_wait_inferred = true;
				s->time_wait_from = before;
				s->path[s->path_len - 1] = SF_TCP_TIME_WAIT;
				s->handoff_ts = s->tw_entered_ts = f->state_ts[SF_TCP_CLOSE];
				s->tw_entered_src = ft_src_of(f, SF_TCP_CLOSE);
			}
		}
	} else if (seen(f, SF_TCP_TIME_WAIT)) {
		/* handed over in FIN_WAIT_2; TIME_WAIT began later, at the
		 * peer's FIN (or when a round saw it) */
		s->time_wait_inferred = true;
		s->time_wait_from = SF_TCP_FIN_WAIT2;
		s->tw_entered_ts = f->state_ts[SF_TCP_TIME_WAIT];
		s->tw_entered_src = ft_src_of(f, SF_TCP_TIME_WAIT);
	}
	if (f->handover_ts) {
		s->handoff_ts = f->handover_ts;
		s->time_wait_from = SF_TCP_FIN_WAIT2;
	}

	if (seen(f, SF_TCP_CLOSING) || origin == SF_TCP_CLOSING)
		s->closer = "both";
	else if (seen(f, SF_TCP_FIN_WAIT1) || origin == SF_TCP_FIN_WAIT1 || origin == SF_TCP_FIN_WAIT2)
		s->closer = "local";
	else if (seen(f, SF_TCP_CLOSE_WAIT) || origin == SF_TCP_CLOSE_WAIT || origin == SF_TCP_LAST_ACK)
		s->closer = "peer";
	s->abnormal = is_abnormal(f, g, s);
}
