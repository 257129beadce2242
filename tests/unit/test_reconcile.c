// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Reconciliation with the kernel's socket list: the start-up snapshot, half-open requests, and the truth after lost events. */
#include "unit.h"

/* A socket from the start-up snapshot, joined by its first event's cookie;
 * stuck with an age that is only a lower bound. */
TEST(snapshot_join)
{
	struct flow_table_config cfg = { .max_flows = 64, .close_grace_ns = GRACE };
	struct sf_snapshot_sock s = {
		.cookie = 777, .netns = 4026531840u, .family = 2, .state = SF_TCP_CLOSE_WAIT,
		.sport = 8080, .dport = 5555, .tgid = 42, .comm = "leaky",
	};
	struct flow_table_stats st;
	struct synfin_event e;
	struct flow_table *t;

	cfg.stuck_ns[SF_TCP_CLOSE_WAIT] = 5 * SEC;
	t = table_cfg(&cfg);
	EXPECT(flow_table__snapshot(t, &s, 1 * SEC, true) == 0);
	EXPECT(flow_table__snapshot(t, &s, 1 * SEC, true) == 1);
	s.state = SF_TCP_TIME_WAIT;
	s.cookie = 778;
	EXPECT(flow_table__snapshot(t, &s, 1 * SEC, true) == -EINVAL);
	flow_table__advance(t, 6 * SEC);
	EXPECT(nrec == 1 && recs[0].type == SF_REC_STUCK);
	EXPECT(recs[0].age_lower_bound);
	EXPECT(recs[0].flow.pre_existing);
	EXPECT(!strcmp(recs[0].flow.comm, "leaky") && recs[0].flow.owner_src == SF_OWNER_SNAPSHOT);
	/* the application finally closes: BPF had no entry, reads the cookie */
	e = ev(0xf1, 9 * SEC, 9 * SEC, SF_TCP_CLOSE_WAIT, SF_TCP_LAST_ACK);
	e.flags = SF_F_NEW_GEN | SF_F_NO_ENTRY;
	e.cookie = 777;
	e.owner_src = SF_OWNER_CLOSE;
	strcpy(e.comm, "leaky");
	feed(t, e);
	EXPECT(nrec == 2 && recs[1].type == SF_REC_RESOLVED && recs[1].age_ns == 8 * SEC);
	e = ev(0xf1, 9 * SEC, 9 * SEC + 10, SF_TCP_LAST_ACK, SF_TCP_CLOSE);
	feed(t, e);
	flow_table__flush(t);
	flow_table__stats(t, &st);
	EXPECT(nrec == 3);
	EXPECT_STR(path(2), "CLOSE_WAIT>LAST_ACK>CLOSED");
	EXPECT(recs[2].flow.pre_existing && partial(2));
	EXPECT(recs[2].sum.dwell[SF_TCP_LAST_ACK] == 10);
	EXPECT(st.snapshot_flows == 1 && st.snapshot_joined == 1);
	EXPECT(st.open == 0);
	flow_table__free(t);
}

/* Reconcile rounds: a snapshot flow not listed again vanished (its end
 * was never seen) and is reported; a half-open request that is gone is
 * dropped silently. */
TEST(reconcile_vanish)
{
	struct flow_table_config cfg = { .max_flows = 64, .close_grace_ns = GRACE };
	struct sf_snapshot_sock est = { .cookie = 1, .netns = 9, .family = 2, .state = SF_TCP_ESTABLISHED,
					.sport = 1, .dport = 2 };
	struct sf_snapshot_sock req = { .cookie = 2, .netns = 9, .family = 2, .state = SF_TCP_SYN_RECV,
					.sport = 80, .dport = 3 };
	struct flow_table_stats st;
	struct flow_table *t = table_cfg(&cfg);

	flow_table__round_begin(t);
	EXPECT(flow_table__snapshot(t, &est, 1, true) == 0);
	EXPECT(flow_table__snapshot(t, &req, 1, true) == 0);
	flow_table__round_end(t, 1, true);
	flow_table__round_begin(t);
	EXPECT(flow_table__snapshot(t, &est, 2, false) == 1);
	EXPECT(flow_table__snapshot(t, &req, 2, false) == 1);
	req.cookie = 3; /* the kernel renews a request's cookie: the tuple holds */
	EXPECT(flow_table__snapshot(t, &req, 2, false) == 1);
	req.dport = 4;
	EXPECT(flow_table__snapshot(t, &req, 2, false) == -ENOENT);
	req.dport = 3;
	flow_table__round_end(t, 2, true);
	flow_table__stats(t, &st);
	EXPECT(st.open == 2 && st.reconcile_vanished == 0);
	flow_table__round_begin(t);
	flow_table__round_end(t, 3, true);
	flow_table__stats(t, &st);
	EXPECT(st.open == 2); /* settled once the round's events are in */
	flow_table__advance(t, 3);
	flow_table__flush(t);
	flow_table__stats(t, &st);
	EXPECT(st.reconcile_vanished == 2 && st.open == 0 && st.closing == 0);
	EXPECT(st.snapshot_unjoined == 0);
	/* both reported: the connection whose end we missed, and the
	 * half-open request that expired */
	EXPECT(nrec == 2 && (recs[0].flow.partial & SF_PART_VANISHED) && (recs[1].flow.partial & SF_PART_VANISHED));
	{
		int q = recs[0].flow.state == SF_TCP_SYN_RECV ? 0 : 1; /* the request */

		EXPECT_STR(path(1 - q), "ESTABLISHED>CLOSED");
		EXPECT_STR(path(q), "SYN_RECEIVED>CLOSED");
		EXPECT(recs[q].sum.close == SF_CLOSE_NEVER_ESTABLISHED);
	}

	/* a stuck request whose tuple shows up established: it completed */
	cfg.stuck_ns[SF_TCP_SYN_RECV] = 1;
	flow_table__free(t);
	t = table_cfg(&cfg);
	flow_table__round_begin(t);
	EXPECT(flow_table__snapshot(t, &req, 10, true) == 0);
	flow_table__round_end(t, 10, true);
	flow_table__advance(t, 20);
	EXPECT(nrec == 1 && recs[0].type == SF_REC_STUCK && recs[0].state == SF_TCP_SYN_RECV);
	flow_table__round_begin(t);
	req.state = SF_TCP_ESTABLISHED;
	req.cookie = 99;
	EXPECT(flow_table__snapshot(t, &req, 30, false) == -ENOENT);
	flow_table__round_end(t, 30, true);
	EXPECT(nrec == 2 && recs[1].type == SF_REC_RESOLVED && recs[1].next_state == SF_TCP_ESTABLISHED);
	flow_table__stats(t, &st);
	EXPECT(st.open == 0 && st.snapshot_unjoined == 0);
	flow_table__free(t);
}

TEST(ghost_flows)
{
	struct flow_table_config cfg = { .max_flows = 64, .close_grace_ns = GRACE };
	struct flow_table_stats st;
	struct sf_snapshot_sock cw = listed_as(0x32, SF_TCP_CLOSE_WAIT);
	struct flow_table *t;

	cfg.stuck_ns[SF_TCP_ESTABLISHED] = 0;
	cfg.stuck_ns[SF_TCP_CLOSE_WAIT] = 5 * SEC;
	t = table_cfg(&cfg);
	/* 0x31: its close was lost; 0x32: its FIN (-> CLOSE_WAIT) was lost;
	 * 0x33: closed, the event still in the backlog at the round;
	 * 0x34: born after the round began */
	for (__u64 sk = 0x31; sk <= 0x33; sk++) {
		feed(t, ev(sk, SEC, SEC, SF_TCP_CLOSE, SF_TCP_SYN_SENT));
		feed(t, ev(sk, SEC, SEC + 10, SF_TCP_SYN_SENT, SF_TCP_ESTABLISHED));
	}
	flow_table__round_begin(t);
	EXPECT(flow_table__snapshot(t, &cw, 10 * SEC, false) == 1);
	feed(t, ev(0x34, 10 * SEC + 1, 10 * SEC + 1, SF_TCP_CLOSE, SF_TCP_SYN_SENT));
	flow_table__round_end(t, 10 * SEC, true);
	feed(t, ev(0x33, SEC, 9 * SEC, SF_TCP_ESTABLISHED, SF_TCP_CLOSE)); /* the backlog */
	flow_table__advance(t, 10 * SEC);
	flow_table__stats(t, &st);
	EXPECT(st.reconcile_vanished == 1 && st.reconcile_corrected == 1);
	EXPECT(st.open == 2 && st.by_state[SF_TCP_CLOSE_WAIT] == 1 && st.by_state[SF_TCP_SYN_SENT] == 1);
	flow_table__advance(t, 10 * SEC + GRACE);
	EXPECT(nrec == 2);
	for (int i = 0; i < 2; i++) {
		if (recs[i].flow.sk == 0x31) {
			EXPECT(recs[i].flow.partial & SF_PART_VANISHED);
			EXPECT_STR(path(i), "CLOSED>SYN_SENT>ESTABLISHED>CLOSED");
		} else {
			EXPECT(recs[i].flow.sk == 0x33 && !(recs[i].flow.partial & SF_PART_VANISHED));
		}
	}
	/* the corrected one is watched in its real state */
	flow_table__advance(t, 16 * SEC);
	EXPECT(nrec == 3 && recs[2].type == SF_REC_STUCK && recs[2].state == SF_TCP_CLOSE_WAIT);
	/* it goes too: stuck resolved, the record says where it is unsure */
	flow_table__round_begin(t);
	flow_table__round_end(t, 20 * SEC, true);
	flow_table__advance(t, 20 * SEC + GRACE);
	/* (0x34, not listed either, goes with it) */
	EXPECT(nrec == 6 && recs[3].type == SF_REC_RESOLVED && recs[4].type == SF_REC_FLOW);
	{
		int i = recs[4].flow.sk == 0x32 ? 4 : 5;

		EXPECT(recs[i].flow.sk == 0x32);
		EXPECT_STR(path(i), "CLOSED>SYN_SENT>ESTABLISHED>CLOSE_WAIT>CLOSED");
		EXPECT(recs[i].sum.gap && (recs[i].flow.partial & SF_PART_VANISHED));
	}
	flow_table__stats(t, &st);
	EXPECT(st.open == 0 && st.stuck_by_state[SF_TCP_CLOSE_WAIT] == 0);
	flow_table__free(t);
}

/* At start-up the hooks attach first: a socket whose events came before
 * the snapshot is one flow, not a second, pre-existing one. */
TEST(snapshot_after_attach)
{
	struct flow_table *t = table(64);
	struct sf_snapshot_sock e = listed_as(0x35, SF_TCP_ESTABLISHED);
	struct flow_table_stats st;

	feed(t, ev(0x35, SEC, SEC, SF_TCP_CLOSE, SF_TCP_SYN_SENT));
	feed(t, ev(0x35, SEC, SEC + 10, SF_TCP_SYN_SENT, SF_TCP_ESTABLISHED));
	flow_table__round_begin(t);
	EXPECT(flow_table__snapshot(t, &e, 2 * SEC, true) == 1);
	flow_table__round_end(t, 2 * SEC, true);
	flow_table__advance(t, 2 * SEC);
	flow_table__stats(t, &st);
	EXPECT(st.open == 1 && st.snapshot_flows == 0 && st.reconcile_vanished == 0);
	flow_table__free(t);
}

/* A half-open request reported gone, whose child then shows up before
 * the record is out: no double release, counters back to zero. */
TEST(request_gone_then_adopted)
{
	struct flow_table_config cfg = { .max_flows = 64, .close_grace_ns = GRACE };
	struct flow_table_stats st;
	struct flow_table *t;
	struct synfin_event e;
	const __u16 cp = 40500;

	nrec = 0;
	t = flow_table__new(&cfg, seg_sink, NULL);
	listen_on(t, 80, 1);
	feed(t, seg(10, cp, true, false, F_SYN, 1000, 0));
	flow_table__round_begin(t);
	flow_table__round_end(t, 20, true); /* not listed: gone, queued */
	e = server_ev(0x92, 30, 30, cp, SF_TCP_LISTEN, SF_TCP_SYN_RECV);
	feed(t, e);
	e.oldstate = SF_TCP_SYN_RECV;
	e.newstate = SF_TCP_CLOSE;
	e.ts_ns = 40;
	e.flags = 0;
	feed(t, e);
	flow_table__flush(t);
	flow_table__stats(t, &st);
	EXPECT(st.closing == 0 && st.open == 1); /* the listener */
	EXPECT(st.by_state[SF_TCP_SYN_RECV] == 0 && st.snapshot_unjoined == 0);
	EXPECT(nrec == 1 && recs[0].flow.sk == 0x92);
	flow_table__free(t);
}

/* A request a round did not list, adopted by its child before the next
 * advance() settles what the round found gone: the settle list still
 * named the request's freed slot, which was released a second time
 * (snapshot_unjoined and by_state wrapped; found by fuzz_flow). */
TEST(request_adopted_before_settle)
{
	struct flow_table_config cfg = { .max_flows = 64, .close_grace_ns = GRACE, .time_wait_rounds = true };
	struct flow_table_stats st;
	struct flow_table *t;
	struct synfin_event e;
	__u32 open = 0;

	nrec = 0;
	t = flow_table__new(&cfg, seg_sink, NULL);
	listen_on(t, 80, 1);
	feed(t, seg(10, 40501, true, false, F_SYN, 1000, 0));
	flow_table__round_begin(t);
	flow_table__round_end(t, 20, true); /* neither listed */
	e = ev(0x93, 30, 30, SF_TCP_LISTEN, SF_TCP_SYN_RECV);
	e.sport = 80;
	e.dport = 40501;
	memcpy(e.saddr, (__u8[16]){ 10, 0, 0, 2 }, 16);
	memcpy(e.daddr, (__u8[16]){ 10, 0, 0, 1 }, 16);
	feed(t, e); /* adopts the request */
	flow_table__advance(t, 40);
	flow_table__flush(t);
	flow_table__stats(t, &st);
	for (int i = 0; i < SF_TCP_NSTATES; i++)
		open += st.by_state[i];
	EXPECT(st.snapshot_unjoined == 0 && open == st.open);
	EXPECT(st.open == 1 && st.by_state[SF_TCP_SYN_RECV] == 1); /* the child */
	flow_table__free(t);
}

/* A listener the snapshot found, whose LISTEN event then comes with its
 * cookie (BPF with no entry for it): the join must not link it into the
 * listener index a second time, where its chain would loop on itself and
 * the next lookup in that bucket never end (found by fuzz_flow; the
 * alarm ends the test if it does). */
TEST(snapshot_listener_listen_event)
{
	struct flow_table *t = table(16);
	struct sf_snapshot_sock l = { .cookie = 0xc00c1e02, .netns = 4026531840u, .family = 2,
				      .state = SF_TCP_LISTEN, .inode = 1, .sport = 80 };
	struct synfin_event e = ev(0x94, 7, 100, SF_TCP_CLOSE, SF_TCP_LISTEN);
	struct flow_table_stats st;

	alarm(5);
	l.saddr[0] = 10, l.saddr[3] = 2;
	flow_table__round_begin(t);
	EXPECT(flow_table__snapshot(t, &l, 50, true) == 0);
	flow_table__round_end(t, 50, true);
	e.flags |= SF_F_NO_ENTRY;
	e.cookie = l.cookie;
	e.sport = 80;
	e.dport = 0;
	memcpy(e.saddr, l.saddr, 16);
	memset(e.daddr, 0, 16);
	feed(t, e);
	/* a SYN to another address on that port: the same bucket */
	e = seg(200, 40100, true, false, F_SYN, 1, 0);
	e.daddr[3] = 3;
	feed(t, e);
	flow_table__flush(t);
	flow_table__stats(t, &st);
	EXPECT(st.snapshot_joined == 1 && st.half_open == 0);
	alarm(0);
	flow_table__free(t);
}

/* Under SYN cookies the kernel keeps no request for most SYNs of a flood:
 * a half-open flow no round ever listed is dropped without a record, and
 * counted; one a round listed, gone since, expired: reported. */
TEST(half_open_syn_cookies)
{
	struct flow_table_config cfg = { .max_flows = 64, .close_grace_ns = GRACE };
	struct sf_snapshot_sock req = { .netns = 4026531840u, .family = 2, .state = SF_TCP_SYN_RECV,
					.saddr = { 10, 0, 0, 2 }, .daddr = { 10, 0, 0, 1 }, .sport = 80,
					.dport = 42000 };
	struct sf_snapshot_sock lsn = { .cookie = 9, .netns = 4026531840u, .family = 2, .state = SF_TCP_LISTEN,
					.saddr = { 10, 0, 0, 2 }, .sport = 80 };
	struct flow_table_stats st;
	struct flow_table *t;

	t = syns_at_listener(&cfg, 3);
	flow_table__round_begin(t);
	EXPECT(flow_table__snapshot(t, &lsn, 100, false) == 1);
	EXPECT(flow_table__snapshot(t, &req, 100, true) == 1); /* the first SYN's request */
	flow_table__round_end(t, 100, true);
	flow_table__advance(t, 100 + GRACE);
	flow_table__stats(t, &st);
	EXPECT(st.half_open_unlisted == 2 && st.by_state[SF_TCP_SYN_RECV] == 1 && st.reconcile_vanished == 0);
	EXPECT(nrec == 0);
	flow_table__round_begin(t);
	EXPECT(flow_table__snapshot(t, &lsn, 200, false) == 1);
	flow_table__round_end(t, 200, true);
	flow_table__advance(t, 200 + GRACE);
	flow_table__stats(t, &st);
	EXPECT(st.half_open_unlisted == 2 && st.by_state[SF_TCP_SYN_RECV] == 0 && st.reconcile_vanished == 1);
	EXPECT(count_type(SF_REC_FLOW) == 1 && !recs[0].sum.established);
	flow_table__free(t);
}
