// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* FIN_WAIT_2 after the hand-over to a time-wait socket. */
#include "unit.h"

/* The case of the report: the peer's FIN 57.6 ms after the ACK of ours. */
TEST(handover_peer_fin_later)
{
	struct flow_table_config cfg = { .max_flows = 64, .close_grace_ns = GRACE, .max_time_wait = 16,
					 .time_wait_rounds = true };
	struct flow_table_stats st;
	struct tw_stats tws_;
	struct flow_table *t = table_cfg(&cfg);
	const __u16 lp = 40000 + 0x21;

	client_to_handover(t, 0x21, SEC, true);
	flow_table__advance(t, SEC + 50000000);
	flow_table__stats(t, &st);
	/* still open, in FIN_WAIT_2, as the kernel's list says */
	EXPECT(nrec == 0 && st.open == 1 && st.by_state[SF_TCP_FIN_WAIT2] == 1);
	feed(t, seg(SEC + 59600000, lp, false, false, F_FIN | F_ACK, 5001, 1002));
	feed(t, seg(SEC + 59600020, lp, true, true, F_ACK, 1002, 5002));
	flow_table__advance(t, SEC + 59600020 + GRACE);
	EXPECT(nrec == 1);
	EXPECT_STR(path(0), "CLOSED>SYN_SENT>ESTABLISHED>FIN_WAIT_1>FIN_WAIT_2>TIME_WAIT");
	EXPECT(recs[0].sum.dwell[SF_TCP_FIN_WAIT2] == 57600000);
	EXPECT(recs[0].sum.dwell_src[SF_TCP_FIN_WAIT2] == SF_SRC_SEGMENT);
	EXPECT(recs[0].sum.dwell[SF_TCP_FIN_WAIT1] == 1000000 && !recs[0].sum.dwell_src[SF_TCP_FIN_WAIT1]);
	EXPECT(recs[0].sum.tw_entered_ts == SEC + 59600000 && recs[0].sum.tw_entered_src == SF_SRC_SEGMENT);
	EXPECT(recs[0].sum.handoff_ts == SEC + 2000022);
	EXPECT(recs[0].sum.end_ts == SEC + 59600000 && sf_flow__end_ts(&recs[0].flow) == SEC + 59600000);
	EXPECT(recs[0].sum.close == SF_CLOSE_NORMAL && !partial(0));
	flow_table__tw_stats(t, &tws_);
	EXPECT(tws_.now == 1);
	/* the time-wait socket's own record starts TIME_WAIT at the FIN too */
	flow_table__round_begin(t);
	flow_table__round_end(t, SEC * 62, true);
	EXPECT(nrec == 2 && recs[1].type == SF_REC_TIME_WAIT);
	flow_table__free(t);
}

/* No segments (--no-segments, or an interface not hooked): the kernel's
 * list tells, a round at a time, and the record says so. */
TEST(handover_rounds_only)
{
	struct flow_table_config cfg = { .max_flows = 64, .close_grace_ns = GRACE, .time_wait_rounds = true };
	struct sf_snapshot_sock tw = { .netns = 4026531840u, .family = 2, .state = SF_TCP_FIN_WAIT2,
				       .sport = 40000 + 0x22, .dport = 80 };
	struct flow_table *t = table_cfg(&cfg);

	tw.saddr[0] = 10, tw.saddr[3] = 1;
	tw.daddr[0] = 10, tw.daddr[3] = 2;
	client_to_handover(t, 0x22, SEC, false);
	flow_table__round_begin(t);
	flow_table__time_wait_seen(t, &tw, 2 * SEC);
	flow_table__round_end(t, 2 * SEC, true);
	flow_table__advance(t, 2 * SEC + GRACE);
	EXPECT(nrec == 0);
	tw.state = SF_TCP_TIME_WAIT;
	flow_table__round_begin(t);
	flow_table__time_wait_seen(t, &tw, 3 * SEC);
	flow_table__round_end(t, 3 * SEC, true);
	flow_table__advance(t, 3 * SEC + GRACE);
	EXPECT(nrec == 1);
	EXPECT_STR(path(0), "CLOSED>SYN_SENT>ESTABLISHED>FIN_WAIT_1>FIN_WAIT_2>TIME_WAIT");
	EXPECT(recs[0].sum.dwell[SF_TCP_FIN_WAIT2] == 3 * SEC - (SEC + 2000000));
	EXPECT(recs[0].sum.dwell_src[SF_TCP_FIN_WAIT2] == SF_SRC_ROUND);
	EXPECT(recs[0].sum.tw_entered_src == SF_SRC_ROUND);
	EXPECT(recs[0].sum.lifetime_src == SF_SRC_ROUND);
	flow_table__free(t);
}

/* The peer never sends its FIN: the time-wait socket gives up (60 s by
 * default). Stuck detection sees the FIN_WAIT_2 meanwhile. */
TEST(handover_fin_wait2_timeout)
{
	struct flow_table_config cfg = { .max_flows = 64, .close_grace_ns = GRACE, .time_wait_rounds = true };
	struct sf_snapshot_sock tw = { .netns = 4026531840u, .family = 2, .state = SF_TCP_FIN_WAIT2,
				       .sport = 40000 + 0x23, .dport = 80 };
	struct flow_table_stats st;
	struct flow_table *t;

	cfg.stuck_ns[SF_TCP_FIN_WAIT2] = 5 * SEC;
	t = table_cfg(&cfg);
	tw.saddr[0] = 10, tw.saddr[3] = 1;
	tw.daddr[0] = 10, tw.daddr[3] = 2;
	client_to_handover(t, 0x23, SEC, true);
	for (__u64 r = 2; r <= 61; r++) {
		flow_table__round_begin(t);
		flow_table__time_wait_seen(t, &tw, r * SEC);
		flow_table__round_end(t, r * SEC, true);
		flow_table__advance(t, r * SEC);
	}
	EXPECT(nrec == 1 && recs[0].type == SF_REC_STUCK && recs[0].state == SF_TCP_FIN_WAIT2);
	flow_table__stats(t, &st);
	EXPECT(st.stuck_by_state[SF_TCP_FIN_WAIT2] == 1 && st.by_state[SF_TCP_FIN_WAIT2] == 1);
	/* gone from the kernel's list */
	flow_table__round_begin(t);
	flow_table__round_end(t, 62 * SEC, true);
	flow_table__advance(t, 62 * SEC + GRACE);
	EXPECT(nrec == 3);
	EXPECT(recs[1].type == SF_REC_RESOLVED && recs[1].next_state == SF_TCP_CLOSE);
	EXPECT(recs[2].type == SF_REC_FLOW);
	EXPECT_STR(path(2), "CLOSED>SYN_SENT>ESTABLISHED>FIN_WAIT_1>FIN_WAIT_2>CLOSED");
	EXPECT(recs[2].sum.close == SF_CLOSE_FIN_WAIT2_TIMEOUT);
	EXPECT_STR(sf_close_name(recs[2].sum.close), "fin_wait_2_timeout");
	EXPECT(recs[2].sum.dwell[SF_TCP_FIN_WAIT2] == 61 * SEC - 2000000);
	EXPECT(recs[2].sum.dwell_src[SF_TCP_FIN_WAIT2] == SF_SRC_ROUND);
	EXPECT(!recs[2].sum.time_wait_inferred && recs[2].sum.handoff_ts == SEC + 2000022);
	flow_table__stats(t, &st);
	EXPECT(st.open == 0 && st.by_state[SF_TCP_FIN_WAIT2] == 0 && st.stuck_by_state[SF_TCP_FIN_WAIT2] == 0);
	flow_table__free(t);
}

/* Neither segments of it nor rounds (--no-segments --reconcile-interval 0,
 * or a replay of such a recording): nothing will show how FIN_WAIT_2
 * ended. The record says that, and gives no FIN_WAIT_2 duration. */
TEST(handover_unseen)
{
	struct flow_table *t = table(64);

	client_to_handover(t, 0x24, SEC, false);
	flow_table__advance(t, SEC + 2000022 + GRACE);
	EXPECT(nrec == 1);
	EXPECT_STR(path(0), "CLOSED>SYN_SENT>ESTABLISHED>FIN_WAIT_1>FIN_WAIT_2");
	EXPECT(!(recs[0].sum.have_dwell & (1u << SF_TCP_FIN_WAIT2)));
	EXPECT(recs[0].sum.close == SF_CLOSE_UNKNOWN && (recs[0].flow.partial & SF_PART_END_UNSEEN));
	EXPECT(recs[0].sum.handoff_ts == SEC + 2000022 && !recs[0].sum.tw_entered_ts);
	EXPECT(recs[0].sum.lifetime_ns == -1);
	flow_table__free(t);
}

/* Segments, but no rounds and no FIN from the peer: Linux's default
 * timeout is assumed, and said to be. A RST ends another one early. */
TEST(handover_assumed_and_reset)
{
	struct flow_table_config cfg = { .max_flows = 64, .close_grace_ns = GRACE };
	struct flow_table *t = table_cfg(&cfg);

	client_to_handover(t, 0x25, SEC, true);
	client_to_handover(t, 0x26, SEC, true);
	feed(t, seg(3 * SEC, 40000 + 0x26, false, false, F_RST, 5001, 0));
	flow_table__advance(t, 3 * SEC + GRACE);
	EXPECT(nrec == 1 && recs[0].sum.close == SF_CLOSE_RESET);
	EXPECT(recs[0].flow.rst_recv == SF_TCP_FIN_WAIT2);
	EXPECT(recs[0].sum.dwell[SF_TCP_FIN_WAIT2] == 2 * SEC - 2000000);
	EXPECT(recs[0].sum.dwell_src[SF_TCP_FIN_WAIT2] == SF_SRC_SEGMENT);
	flow_table__advance(t, 61 * SEC);
	EXPECT(nrec == 1);
	flow_table__advance(t, 63 * SEC);
	EXPECT(nrec == 2 && recs[1].sum.close == SF_CLOSE_FIN_WAIT2_TIMEOUT);
	EXPECT(recs[1].sum.dwell[SF_TCP_FIN_WAIT2] == 60 * SEC + 22);
	EXPECT(recs[1].sum.dwell_src[SF_TCP_FIN_WAIT2] == SF_SRC_ASSUMED);
	flow_table__free(t);
}

/* A round saw TIME_WAIT while the FIN waited in the backlog (the rings are
 * drained into it while the kernel's list is read): the FIN's time wins. */
TEST(handover_round_then_backlog)
{
	struct flow_table_config cfg = { .max_flows = 64, .close_grace_ns = GRACE, .time_wait_rounds = true };
	struct sf_snapshot_sock tw = { .netns = 4026531840u, .family = 2, .state = SF_TCP_TIME_WAIT,
				       .sport = 40000 + 0x27, .dport = 80 };
	struct flow_table *t = table_cfg(&cfg);

	tw.saddr[0] = 10, tw.saddr[3] = 1;
	tw.daddr[0] = 10, tw.daddr[3] = 2;
	client_to_handover(t, 0x27, SEC, true);
	flow_table__round_begin(t);
	flow_table__time_wait_seen(t, &tw, 2 * SEC);
	flow_table__round_end(t, 2 * SEC, true);
	feed(t, seg(SEC + 500000000, 40000 + 0x27, false, false, F_FIN | F_ACK, 5001, 1002));
	flow_table__flush(t);
	EXPECT(nrec == 1);
	EXPECT(recs[0].sum.tw_entered_ts == SEC + 500000000 && recs[0].sum.tw_entered_src == SF_SRC_SEGMENT);
	EXPECT(recs[0].sum.dwell[SF_TCP_FIN_WAIT2] == 498000000);
	flow_table__free(t);
}

/* Recordings made before the BPF side told the hand-over apart: the
 * segments decide where there are some; else the record says the time
 * may be the hand-over's. */
TEST(handover_old_recordings)
{
	struct flow_table *t = table(64);
	struct synfin_event e;

	client_to_handover(t, 0x28, SEC, true);
	flow_table__flush(t);
	EXPECT(nrec == 0); /* (new-style) handed over, waiting */
	flow_table__free(t);

	t = table(64);
	feed(t, ev(0x29, SEC, SEC, SF_TCP_CLOSE, SF_TCP_SYN_SENT));
	feed(t, ev(0x29, SEC, SEC + 10, SF_TCP_SYN_SENT, SF_TCP_ESTABLISHED));
	feed(t, ev(0x29, SEC, SEC + 20, SF_TCP_ESTABLISHED, SF_TCP_FIN_WAIT1));
	feed(t, ev(0x29, SEC, SEC + 30, SF_TCP_FIN_WAIT1, SF_TCP_FIN_WAIT2));
	e = ev(0x29, SEC, SEC + 40, SF_TCP_FIN_WAIT2, SF_TCP_CLOSE);
	e.flags = 0;
	feed(t, e);
	flow_table__flush(t);
	EXPECT(nrec == 1 && recs[0].sum.time_wait_inferred);
	EXPECT(recs[0].sum.tw_entered_src == SF_SRC_HANDOVER);
	EXPECT(recs[0].sum.dwell_src[SF_TCP_FIN_WAIT2] == SF_SRC_HANDOVER);
	flow_table__free(t);

	/* old style, with segments: the FIN came after the CLOSE event */
	t = table(64);
	feed(t, ev(0x2b, SEC, SEC, SF_TCP_CLOSE, SF_TCP_SYN_SENT));
	feed(t, ev(0x2b, SEC, SEC + 10, SF_TCP_SYN_SENT, SF_TCP_ESTABLISHED));
	feed(t, ev(0x2b, SEC, SEC + 20, SF_TCP_ESTABLISHED, SF_TCP_FIN_WAIT1));
	feed(t, seg(SEC + 21, 40000 + 0x2b, true, true, F_FIN | F_ACK, 1001, 5001));
	feed(t, seg(SEC + 29, 40000 + 0x2b, false, false, F_ACK, 5001, 1002));
	feed(t, ev(0x2b, SEC, SEC + 30, SF_TCP_FIN_WAIT1, SF_TCP_FIN_WAIT2));
	e = ev(0x2b, SEC, SEC + 40, SF_TCP_FIN_WAIT2, SF_TCP_CLOSE);
	e.flags = 0;
	feed(t, e);
	feed(t, seg(SEC + 5000, 40000 + 0x2b, false, false, F_FIN | F_ACK, 5001, 1002));
	flow_table__flush(t);
	EXPECT(nrec == 1 && recs[0].sum.dwell[SF_TCP_FIN_WAIT2] == 4970);
	EXPECT(recs[0].sum.tw_entered_src == SF_SRC_SEGMENT);
	flow_table__free(t);
}
