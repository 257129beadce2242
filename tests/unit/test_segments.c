// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Control segments joined to their flows and numbered as the seed does. */
#include "unit.h"

/* The client's seven segments, as the seed numbers them, joined to its
 * flow although SYN and SYN-ACK come before the flow knows its port and
 * 6 and 7 after the hand-over to the time-wait socket. */
TEST(segments_client)
{
	struct flow_table_config cfg = { .max_flows = 64, .close_grace_ns = GRACE, .time_wait_hold_ns = 5 * GRACE };
	struct flow_table *t;
	struct synfin_event e;
	const __u64 sk = 0x71;
	const __u16 lp = 40000 + (sk & 0xff);

	nrec = 0;
	t = flow_table__new(&cfg, seg_sink, NULL);
	e = ev(sk, 10, 10, SF_TCP_CLOSE, SF_TCP_SYN_SENT);
	e.sport = 0;
	feed(t, e);
	feed(t, seg(11, lp, true, true, F_SYN, 1000, 0));
	feed(t, seg(20, lp, false, false, F_SYN | F_ACK, 5000, 1001));
	feed(t, ev(sk, 10, 21, SF_TCP_SYN_SENT, SF_TCP_ESTABLISHED));
	feed(t, seg(22, lp, true, true, F_ACK, 1001, 5001));
	feed(t, ev(sk, 10, 100, SF_TCP_ESTABLISHED, SF_TCP_FIN_WAIT1));
	feed(t, seg(101, lp, true, true, F_FIN | F_ACK, 1001, 5001));
	feed(t, seg(110, lp, false, false, F_ACK, 5001, 1002));
	feed(t, ev(sk, 10, 111, SF_TCP_FIN_WAIT1, SF_TCP_FIN_WAIT2));
	feed(t, handover(sk, 10, 112));
	flow_table__advance(t, 112 + GRACE); /* held: waiting for 6 and 7 */
	EXPECT(nrec == 0);
	feed(t, seg(200, lp, false, false, F_FIN | F_ACK, 5001, 1002));
	feed(t, seg(201, lp, true, true, F_ACK, 1002, 5002));
	flow_table__advance(t, 201 + GRACE);
	EXPECT(nrec == 1);
	/* FIN_WAIT_2 lasted until the peer's FIN, not until the hand-over */
	EXPECT_STR(path(0), "CLOSED>SYN_SENT>ESTABLISHED>FIN_WAIT_1>FIN_WAIT_2>TIME_WAIT");
	EXPECT(recs[0].sum.dwell[SF_TCP_FIN_WAIT2] == 200 - 111);
	EXPECT(recs[0].sum.dwell_src[SF_TCP_FIN_WAIT2] == SF_SRC_SEGMENT);
	EXPECT(recs[0].sum.tw_entered_ts == 200 && recs[0].sum.handoff_ts == 112);
	EXPECT(recs[0].sum.close == SF_CLOSE_NORMAL && recs[0].sum.lifetime_ns == 200 - 10);
	EXPECT(slot_is(&segs_seen[0], SF_SEG_SYN, true, 1000, 0));
	EXPECT(slot_is(&segs_seen[0], SF_SEG_SYNACK, false, 5000, 1001));
	EXPECT(slot_is(&segs_seen[0], SF_SEG_ACK, true, 1001, 5001));
	EXPECT(slot_is(&segs_seen[0], SF_SEG_FIN1, true, 1001, 5001));
	EXPECT(slot_is(&segs_seen[0], SF_SEG_FIN1_ACK, false, 5001, 1002));
	EXPECT(slot_is(&segs_seen[0], SF_SEG_FIN2, false, 5001, 1002));
	EXPECT(slot_is(&segs_seen[0], SF_SEG_FIN2_ACK, true, 1002, 5002));
	flow_table__free(t);
}

/* Closed flows wait for different times (the grace for late events, the
 * hold for segments 6 and 7 after a time-wait hand-over): whatever list
 * each waits in, they come out in the order their waits end, and only
 * once it has ended. */
TEST(closing_order)
{
	struct flow_table_config cfg = { .max_flows = 256, .close_grace_ns = GRACE, .time_wait_hold_ns = 5 * GRACE };
	struct flow_table *t;
	bool ordered = true;
	int held = 0;

	nrec = 0;
	t = flow_table__new(&cfg, seg_sink, NULL);
	for (int i = 0; i < 20; i++) {
		__u64 t0 = (__u64)i * 100000, a = 0x100 + i, b = 0x180 + i;

		/* a: active closer with a SYN seen, no segment 7: held */
		feed(t, ev(a, t0 + 1, t0 + 1, SF_TCP_CLOSE, SF_TCP_SYN_SENT));
		feed(t, seg(t0 + 2, 40000 + (a & 0xff), true, true, F_SYN, 1000, 0));
		feed(t, ev(a, t0 + 1, t0 + 3, SF_TCP_SYN_SENT, SF_TCP_ESTABLISHED));
		feed(t, ev(a, t0 + 1, t0 + 4, SF_TCP_ESTABLISHED, SF_TCP_FIN_WAIT1));
		feed(t, ev(a, t0 + 1, t0 + 5, SF_TCP_FIN_WAIT1, SF_TCP_FIN_WAIT2));
		feed(t, ev(a, t0 + 1, t0 + 6, SF_TCP_FIN_WAIT2, SF_TCP_CLOSE));
		/* b: passive closer, later: only the grace */
		feed(t, ev(b, t0 + 10, t0 + 10, SF_TCP_CLOSE, SF_TCP_SYN_SENT));
		feed(t, ev(b, t0 + 10, t0 + 11, SF_TCP_SYN_SENT, SF_TCP_ESTABLISHED));
		feed(t, ev(b, t0 + 10, t0 + 12, SF_TCP_ESTABLISHED, SF_TCP_CLOSE_WAIT));
		feed(t, ev(b, t0 + 10, t0 + 13, SF_TCP_CLOSE_WAIT, SF_TCP_LAST_ACK));
		feed(t, ev(b, t0 + 10, t0 + 50000, SF_TCP_LAST_ACK, SF_TCP_CLOSE));
	}
	/* every grace is over, no hold is: the 20 passive closers only */
	flow_table__advance(t, 19 * 100000 + 50000 + GRACE);
	EXPECT(nrec == 20);
	for (int i = 0; i < nrec; i++)
		if (recs[i].flow.role != SF_ROLE_CLIENT || recs[i].sum.closer == NULL ||
		    strcmp(recs[i].sum.closer, "peer"))
			held++;
	EXPECT(held == 0);
	flow_table__advance(t, 19 * 100000 + 6 + 5 * GRACE);
	EXPECT(nrec == 40);
	for (int i = 1; i < nrec; i++)
		if (recs[i].flow.emit_at < recs[i - 1].flow.emit_at && i != 20)
			ordered = false;
	EXPECT(ordered);
	flow_table__free(t);
}

/* The server: SYN, SYN-ACK and ACK all come before the kernel creates the
 * child socket; a SYN at a listener starts a half-open flow at once,
 * which the child takes over, its SYN_RECEIVED starting at the SYN. */
TEST(segments_server_half_open)
{
	struct flow_table_config cfg = { .max_flows = 64, .close_grace_ns = GRACE };
	struct flow_table_stats st;
	struct flow_table *t;
	struct synfin_event e;
	const __u16 cp = 40123;

	nrec = 0;
	cfg.stuck_ns[SF_TCP_SYN_RECV] = 50;
	t = flow_table__new(&cfg, seg_sink, NULL);
	listen_on(t, 80, 1);
	feed(t, seg(10, cp, true, false, F_SYN, 1000, 0)); /* ingress at the server */
	flow_table__stats(t, &st);
	EXPECT(st.half_open == 1 && st.open == 2 && st.by_state[SF_TCP_SYN_RECV] == 1); /* + the listener */
	flow_table__advance(t, 60);
	EXPECT(nrec == 1 && recs[0].type == SF_REC_STUCK);
	EXPECT(recs[0].flow.sport == 80 && recs[0].flow.dport == cp); /* a stuck record names its tuple */
	nrec = 0;
	feed(t, seg(12, cp, false, true, F_SYN | F_ACK, 7000, 1001));
	{
		/* the listener retransmits the SYN-ACK of this request */
		struct synfin_event r = ctl(0xdead, 0, 20, SF_EV_SYNACK_RETRANS, SF_TCP_SYN_RECV);

		r.sport = 80;
		r.dport = cp;
		memcpy(r.saddr, (__u8[16]){ 10, 0, 0, 2 }, 16);
		memcpy(r.daddr, (__u8[16]){ 10, 0, 0, 1 }, 16);
		feed(t, r);
	}
	feed(t, seg(30, cp, true, false, F_ACK, 1001, 7001));
	/* the child: local 10.0.0.2:80, remote 10.0.0.1:cp */
	e = ev(0x91, 31, 31, SF_TCP_LISTEN, SF_TCP_SYN_RECV);
	e.sport = 80;
	e.dport = cp;
	memcpy(e.saddr, (__u8[16]){ 10, 0, 0, 2 }, 16);
	memcpy(e.daddr, (__u8[16]){ 10, 0, 0, 1 }, 16);
	feed(t, e);
	e.oldstate = SF_TCP_SYN_RECV;
	e.newstate = SF_TCP_ESTABLISHED;
	e.ts_ns = 32;
	e.flags = 0;
	feed(t, e);
	flow_table__stats(t, &st);
	EXPECT(st.open == 2); /* the request flow is gone; the child and the listener stay */
	e.oldstate = SF_TCP_ESTABLISHED;
	e.newstate = SF_TCP_CLOSE;
	e.ts_ns = 40;
	feed(t, e);
	flow_table__flush(t);
	/* the stuck request resolves into the child, then the child's record */
	EXPECT(nrec == 2 && recs[0].type == SF_REC_RESOLVED && recs[0].next_state == SF_TCP_ESTABLISHED);
	EXPECT(recs[1].type == SF_REC_FLOW);
	EXPECT(slot_is(&segs_seen[1], SF_SEG_SYN, false, 1000, 0));
	EXPECT(slot_is(&segs_seen[1], SF_SEG_SYNACK, true, 7000, 1001));
	EXPECT(slot_is(&segs_seen[1], SF_SEG_ACK, false, 1001, 7001));
	EXPECT(recs[1].flow.state_ts[SF_TCP_SYN_RECV] == 10);
	EXPECT(recs[1].sum.handshake_ns == 22);
	EXPECT(recs[1].flow.synack_retrans == 1); /* inherited from the request */
	EXPECT(!partial(1));
	flow_table__free(t);
}

/* A SYN nobody answers: the half-open flow is stuck in SYN_RECEIVED; a
 * segment no flow claims is counted, not reported. */
TEST(segments_unclaimed)
{
	struct flow_table_config cfg = { .max_flows = 64, .close_grace_ns = GRACE, .segment_hold_ns = 100 };
	struct flow_table_stats st;
	struct flow_table *t;

	nrec = 0;
	cfg.stuck_ns[SF_TCP_SYN_RECV] = 50;
	t = flow_table__new(&cfg, seg_sink, NULL);
	listen_on(t, 80, 1);
	feed(t, seg(10, 41000, true, false, F_SYN, 1, 0));
	feed(t, seg(12, 41001, false, true, F_FIN | F_ACK, 9, 9)); /* nobody's */
	flow_table__advance(t, 70);
	EXPECT(nrec == 1 && recs[0].type == SF_REC_STUCK && recs[0].state == SF_TCP_SYN_RECV);
	EXPECT(!recs[0].age_lower_bound && recs[0].age_ns == 60);
	flow_table__advance(t, 200);
	flow_table__stats(t, &st);
	EXPECT(st.segments == 2 && st.segments_unmatched == 1);
	EXPECT(st.closing == 0 && st.open == 2); /* the request and the listener */
	flow_table__free(t);
}

/* A SYN flood: half-open tracking is capped per listener, and counted;
 * a SYN to a port nobody listens on is not a half-open connection. */
TEST(half_open_cap)
{
	struct flow_table_config cfg = { .max_flows = 64, .close_grace_ns = GRACE, .max_half_open = 3 };
	struct flow_table_stats st;
	struct flow_table *t;

	t = syns_at_listener(&cfg, 10);
	flow_table__stats(t, &st);
	EXPECT(st.half_open == 3 && st.half_open_dropped == 7);
	EXPECT(st.by_state[SF_TCP_SYN_RECV] == 3);
	flow_table__free(t);

	t = flow_table__new(&cfg, seg_sink, NULL);
	feed(t, seg(10, 43000, true, false, F_SYN, 1, 0)); /* no listener */
	flow_table__stats(t, &st);
	EXPECT(st.half_open == 0 && st.open == 0);
	flow_table__free(t);
}

/* listen() without bind(): LISTEN comes with port 0, the port later; the
 * listener index follows, and many of them churn without a loop. */
TEST(listener_port_learnt_late)
{
	struct flow_table_config cfg = { .max_flows = 32, .close_grace_ns = GRACE };
	struct flow_table_stats st;
	struct flow_table *t = table_cfg(&cfg);

	for (__u64 i = 0; i < 200; i++) {
		struct synfin_event l = ev(0x700 + i % 7, 10 * i + 1, 10 * i + 1, SF_TCP_CLOSE, SF_TCP_LISTEN);

		l.sport = 0;
		feed(t, l);
		l.oldstate = SF_TCP_LISTEN;
		l.newstate = SF_TCP_CLOSE;
		l.ts_ns = 10 * i + 5;
		l.sport = 9000 + i % 3;
		l.flags = 0;
		feed(t, l);
		flow_table__advance(t, 10 * i + 5 + GRACE);
		/* a SYN to those ports must find no stale listener */
		feed(t, seg(10 * i + 6, 1000 + i, true, false, F_SYN, 1, 0));
	}
	flow_table__flush(t);
	flow_table__stats(t, &st);
	EXPECT(st.listen_records == 400 && st.half_open == 0);
	flow_table__free(t);
}

/* A dual-stack socket's IPv4 connection: v4-mapped on the socket, plain
 * IPv4 on the wire; its segments still join it. */
TEST(segments_v4_mapped)
{
	struct flow_table_config cfg = { .max_flows = 64, .close_grace_ns = GRACE };
	struct flow_table *t;
	struct synfin_event e;
	const __u64 sk = 0x93;
	const __u16 lp = 40000 + (sk & 0xff);

	nrec = 0;
	t = flow_table__new(&cfg, seg_sink, NULL);
	e = ev(sk, 5, 5, SF_TCP_CLOSE, SF_TCP_SYN_SENT);
	e.family = 10;
	memcpy(e.saddr, (__u8[16]){ [10] = 0xff, [11] = 0xff, [12] = 10, [15] = 1 }, 16);
	memcpy(e.daddr, (__u8[16]){ [10] = 0xff, [11] = 0xff, [12] = 10, [15] = 2 }, 16);
	feed(t, e);
	feed(t, seg(6, lp, true, true, F_SYN, 77, 0));
	e.oldstate = SF_TCP_SYN_SENT;
	e.newstate = SF_TCP_CLOSE;
	e.ts_ns = 9;
	e.flags = 0;
	feed(t, e);
	flow_table__flush(t);
	EXPECT(nrec == 1 && slot_is(&segs_seen[0], SF_SEG_SYN, true, 77, 0));
	flow_table__free(t);
}

/* one server child on 10.0.0.2:80 <- 10.0.0.1:cp, born at ts (sk, gen ts):
 * LISTEN -> SYN_RECV -> ESTABLISHED */
static void server_child(struct flow_table *t, __u64 sk, __u16 cp, __u64 ts)
{
	feed(t, server_ev(sk, ts, ts, cp, SF_TCP_LISTEN, SF_TCP_SYN_RECV));
	feed(t, server_ev(sk, ts, ts + 1, cp, SF_TCP_SYN_RECV, SF_TCP_ESTABLISHED));
}

static void server_state(struct flow_table *t, __u64 sk, __u16 cp, __u64 gen, __u64 ts, __u8 old, __u8 new)
{
	struct synfin_event e = server_ev(sk, gen, ts, cp, old, new);

	/* FIN_WAIT_2 -> CLOSE without the peer's FIN: the hand-over */
	if (new == SF_TCP_CLOSE)
		e.flags = SF_F_CLOSE_INFO;
	feed(t, e);
}

/* The same client port connects again while the server's record of the
 * first connection still waits (its grace, or the time-wait hold): the
 * new connection's SYN, SYN-ACK and ACK are its own, not added to the
 * closed flow of the old one (seen on a veth: the second connection's
 * server record lacked its handshake, the first got the second's). */
TEST(segments_server_tuple_reused)
{
	struct flow_table_config cfg = { .max_flows = 64, .close_grace_ns = GRACE, .time_wait_hold_ns = 5 * GRACE,
					 .max_time_wait = 64 };
	struct flow_table *t;
	const __u16 cp = 41213;
	int a = -1, b = -1;

	nrec = 0;
	t = flow_table__new(&cfg, seg_sink, NULL);
	listen_on(t, 80, 1);
	/* the first connection; the server closes first, hands over to a
	 * time-wait socket, which gets the client's FIN and ACKs it */
	feed(t, seg(10, cp, true, false, F_SYN, 1000, 0));
	feed(t, seg(12, cp, false, true, F_SYN | F_ACK, 7000, 1001));
	feed(t, seg(30, cp, true, false, F_ACK, 1001, 7001));
	server_child(t, 0x91, cp, 31);
	server_state(t, 0x91, cp, 31, 100, SF_TCP_ESTABLISHED, SF_TCP_FIN_WAIT1);
	feed(t, seg(101, cp, false, true, F_FIN | F_ACK, 7001, 1001));
	feed(t, seg(140, cp, true, false, F_ACK, 1001, 7002));
	server_state(t, 0x91, cp, 31, 141, SF_TCP_FIN_WAIT1, SF_TCP_FIN_WAIT2);
	server_state(t, 0x91, cp, 31, 142, SF_TCP_FIN_WAIT2, SF_TCP_CLOSE);
	feed(t, seg(200, cp, true, false, F_FIN | F_ACK, 1001, 7002));
	feed(t, seg(201, cp, false, true, F_ACK, 7002, 1002));
	/* the second, from the same port, within the first one's grace */
	feed(t, seg(300, cp, true, false, F_SYN, 2000, 0));
	feed(t, seg(302, cp, false, true, F_SYN | F_ACK, 9000, 2001));
	feed(t, seg(320, cp, true, false, F_ACK, 2001, 9001));
	server_child(t, 0x92, cp, 321);
	server_state(t, 0x92, cp, 321, 400, SF_TCP_ESTABLISHED, SF_TCP_CLOSE);
	flow_table__flush(t);
	for (int i = 0; i < nrec; i++)
		if (recs[i].type == SF_REC_FLOW)
			*(recs[i].flow.sk == 0x91 ? &a : &b) = i;
	EXPECT(a >= 0 && b >= 0);
	/* the first: its own seven, nothing of the second */
	EXPECT(slot_is(&segs_seen[a], SF_SEG_SYN, false, 1000, 0));
	EXPECT(slot_is(&segs_seen[a], SF_SEG_SYNACK, true, 7000, 1001));
	EXPECT(slot_is(&segs_seen[a], SF_SEG_FIN2_ACK, true, 7002, 1002));
	EXPECT(slot_is(&segs_seen[a], SF_SEG_ACK, false, 1001, 7001));
	EXPECT(recs[a].sum.handshake_ns == 22 && recs[a].sum.tw_entered_ts == 200);
	EXPECT(segs_seen[a].syn_rtx == 0 && segs_seen[a].synack_rtx == 0 && !recs[a].flow.duplicates);
	/* the second: its handshake from its own segments */
	EXPECT(slot_is(&segs_seen[b], SF_SEG_SYN, false, 2000, 0));
	EXPECT(slot_is(&segs_seen[b], SF_SEG_SYNACK, true, 9000, 2001));
	EXPECT(slot_is(&segs_seen[b], SF_SEG_ACK, false, 2001, 9001));
	EXPECT(recs[b].flow.state_ts[SF_TCP_SYN_RECV] == 300 && recs[b].sum.handshake_ns == 22);
	EXPECT(!partial(b));
	flow_table__free(t);
}

/* The client side of the same: a new socket on the port of a closed flow
 * whose record still waits. Its SYN and the SYN-ACK come before it knows
 * its port; they wait for it, not join the old flow. */
TEST(segments_client_tuple_reused)
{
	struct flow_table_config cfg = { .max_flows = 64, .close_grace_ns = GRACE };
	struct flow_table *t;
	struct synfin_event e;
	const __u16 lp = 41213;
	int a = -1, b = -1;

	nrec = 0;
	t = flow_table__new(&cfg, seg_sink, NULL);
	/* the first: the server closes first, this side last (LAST_ACK) */
	e = ev(0x71, 10, 10, SF_TCP_CLOSE, SF_TCP_SYN_SENT);
	e.sport = 0;
	feed(t, e);
	feed(t, seg(11, lp, true, true, F_SYN, 1000, 0));
	feed(t, seg(20, lp, false, false, F_SYN | F_ACK, 5000, 1001));
	e = ev(0x71, 10, 21, SF_TCP_SYN_SENT, SF_TCP_ESTABLISHED);
	e.sport = lp;
	feed(t, e);
	feed(t, seg(22, lp, true, true, F_ACK, 1001, 5001));
	feed(t, seg(100, lp, false, false, F_FIN | F_ACK, 5001, 1001));
	e.oldstate = SF_TCP_ESTABLISHED, e.newstate = SF_TCP_CLOSE_WAIT, e.ts_ns = 101;
	feed(t, e);
	e.oldstate = SF_TCP_CLOSE_WAIT, e.newstate = SF_TCP_LAST_ACK, e.ts_ns = 150;
	feed(t, e);
	feed(t, seg(151, lp, true, true, F_FIN | F_ACK, 1001, 5002));
	feed(t, seg(160, lp, false, false, F_ACK, 5002, 1002));
	e.oldstate = SF_TCP_LAST_ACK, e.newstate = SF_TCP_CLOSE, e.ts_ns = 161;
	feed(t, e);
	/* the second socket, the same port, within the first one's grace */
	e = ev(0x72, 300, 300, SF_TCP_CLOSE, SF_TCP_SYN_SENT);
	e.sport = 0;
	feed(t, e);
	feed(t, seg(301, lp, true, true, F_SYN, 3000, 0));
	/* the peer sends the old connection's FIN again: still the old one's */
	feed(t, seg(305, lp, false, false, F_FIN | F_ACK, 5001, 1001));
	feed(t, seg(310, lp, false, false, F_SYN | F_ACK, 8000, 3001));
	e = ev(0x72, 300, 311, SF_TCP_SYN_SENT, SF_TCP_ESTABLISHED);
	e.sport = lp;
	feed(t, e);
	feed(t, seg(312, lp, true, true, F_ACK, 3001, 8001));
	e.oldstate = SF_TCP_ESTABLISHED, e.newstate = SF_TCP_CLOSE, e.ts_ns = 400;
	feed(t, e);
	flow_table__flush(t);
	for (int i = 0; i < nrec; i++)
		if (recs[i].type == SF_REC_FLOW)
			*(recs[i].flow.sk == 0x71 ? &a : &b) = i;
	EXPECT(a >= 0 && b >= 0);
	EXPECT(slot_is(&segs_seen[a], SF_SEG_SYN, true, 1000, 0));
	EXPECT(slot_is(&segs_seen[a], SF_SEG_FIN2_ACK, false, 5002, 1002));
	EXPECT(segs_seen[a].syn_rtx == 0 && segs_seen[a].synack_rtx == 0 && !recs[a].flow.duplicates);
	EXPECT(slot_is(&segs_seen[b], SF_SEG_SYN, true, 3000, 0));
	EXPECT(slot_is(&segs_seen[b], SF_SEG_SYNACK, false, 8000, 3001));
	EXPECT(slot_is(&segs_seen[b], SF_SEG_ACK, true, 3001, 8001));
	EXPECT(segs_seen[a].fin_rtx == 1 && !(segs_seen[b].have & (1u << SF_SEG_FIN1)));
	flow_table__free(t);
}

/* A connection refused in SYN_SENT, then its own SYN sent again late (a
 * reordered copy): the same number, the same connection, counted as
 * its retransmit, not a new connection's start. */
TEST(segments_syn_again_after_refused)
{
	struct flow_table_config cfg = { .max_flows = 64, .close_grace_ns = GRACE, .segment_hold_ns = 50 * GRACE };
	struct flow_table_stats st;
	struct flow_table *t;
	struct synfin_event e;
	const __u16 lp = 41300;

	nrec = 0;
	t = flow_table__new(&cfg, seg_sink, NULL);
	e = ev(0x75, 10, 10, SF_TCP_CLOSE, SF_TCP_SYN_SENT);
	e.sport = lp;
	feed(t, e);
	feed(t, seg(11, lp, true, true, F_SYN, 4000, 0));
	feed(t, seg(20, lp, false, false, F_RST | F_ACK, 0, 4001));
	e.oldstate = SF_TCP_SYN_SENT, e.newstate = SF_TCP_CLOSE, e.ts_ns = 21;
	feed(t, e);
	feed(t, seg(30, lp, true, true, F_SYN, 4000, 0));
	flow_table__flush(t);
	flow_table__stats(t, &st);
	EXPECT(nrec == 1 && recs[0].type == SF_REC_FLOW && segs_seen[0].syn_rtx == 1);
	EXPECT(st.segments_unmatched == 0);
	flow_table__free(t);
}
