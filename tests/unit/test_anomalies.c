// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* The nasty streams: reordered, duplicated, missing, late and undecodable events, reused addresses, pre-existing sockets, a full table. */
#include "unit.h"

/* Events of one socket can reach the ring from different CPUs out of order. */
TEST(out_of_order)
{
	struct flow_table *t = table(64);

	feed(t, ev(0xa9, 1, 1, SF_TCP_CLOSE, SF_TCP_SYN_SENT));
	feed(t, ev(0xa9, 1, 2, SF_TCP_SYN_SENT, SF_TCP_ESTABLISHED));
	feed(t, ev(0xa9, 1, 10, SF_TCP_ESTABLISHED, SF_TCP_FIN_WAIT1));
	feed(t, ev(0xa9, 1, 12, SF_TCP_FIN_WAIT2, SF_TCP_CLOSE));
	feed(t, ev(0xa9, 1, 11, SF_TCP_FIN_WAIT1, SF_TCP_FIN_WAIT2));
	flow_table__flush(t);
	EXPECT(nrec == 1);
	EXPECT_STR(path(0), "CLOSED>SYN_SENT>ESTABLISHED>FIN_WAIT_1>FIN_WAIT_2>TIME_WAIT");
	EXPECT(!partial(0));
	EXPECT(recs[0].flow.partial & SF_PART_OUT_OF_ORDER);
	EXPECT(recs[0].sum.dwell[SF_TCP_FIN_WAIT2] == 1);

	/* a birth that arrives after the next transition */
	feed(t, ev(0xaa, 7, 8, SF_TCP_SYN_SENT, SF_TCP_ESTABLISHED));
	feed(t, ev(0xaa, 7, 7, SF_TCP_CLOSE, SF_TCP_SYN_SENT));
	feed(t, ev(0xaa, 7, 20, SF_TCP_ESTABLISHED, SF_TCP_CLOSE));
	flow_table__flush(t);
	EXPECT(nrec == 2);
	EXPECT_STR(path(1), "CLOSED>SYN_SENT>ESTABLISHED>CLOSED");
	EXPECT(recs[1].sum.connect_ns == 1);
	EXPECT(recs[1].flow.role == SF_ROLE_CLIENT);
	EXPECT(!partial(1));
	EXPECT(recs[1].sum.lifetime_ns == 13);

	/* a RST that overtakes the socket's first state event */
	feed(t, ctl(0xab, 9, 40, SF_EV_RESET_RECV, SF_TCP_SYN_SENT));
	feed(t, ev(0xab, 9, 9, SF_TCP_CLOSE, SF_TCP_SYN_SENT));
	feed(t, ev(0xab, 9, 41, SF_TCP_SYN_SENT, SF_TCP_CLOSE));
	flow_table__flush(t);
	EXPECT(nrec == 3);
	EXPECT(recs[2].sum.close == SF_CLOSE_REFUSED);
	EXPECT(recs[2].flow.rst_recv == SF_TCP_SYN_SENT);
	EXPECT(!partial(2));
	flow_table__free(t);
}

TEST(duplicates)
{
	struct flow_table *t = table(64);
	struct flow_table_stats st;

	feed(t, ev(0xab, 1, 1, SF_TCP_CLOSE, SF_TCP_SYN_SENT));
	feed(t, ev(0xab, 1, 1, SF_TCP_CLOSE, SF_TCP_SYN_SENT));
	feed(t, ev(0xab, 1, 2, SF_TCP_SYN_SENT, SF_TCP_ESTABLISHED));
	feed(t, ev(0xab, 1, 2, SF_TCP_SYN_SENT, SF_TCP_ESTABLISHED));
	feed(t, ev(0xab, 1, 5, SF_TCP_ESTABLISHED, SF_TCP_CLOSE));
	feed(t, ev(0xab, 1, 5, SF_TCP_ESTABLISHED, SF_TCP_CLOSE));
	flow_table__flush(t);
	flow_table__stats(t, &st);
	EXPECT(nrec == 1);
	EXPECT_STR(path(0), "CLOSED>SYN_SENT>ESTABLISHED>CLOSED");
	EXPECT(recs[0].flow.duplicates == 3);
	EXPECT(st.duplicates == 3);
	EXPECT(st.open == 0 && st.closing == 0);
	flow_table__free(t);
}

/* FIN_WAIT_1 and FIN_WAIT_1 -> FIN_WAIT_2 never arrived (ring full) */
TEST(missing_events)
{
	struct flow_table *t = table(64);

	feed(t, ev(0xac, 1, 1, SF_TCP_CLOSE, SF_TCP_SYN_SENT));
	feed(t, ev(0xac, 1, 2, SF_TCP_SYN_SENT, SF_TCP_ESTABLISHED));
	feed(t, ev(0xac, 1, 12, SF_TCP_FIN_WAIT2, SF_TCP_CLOSE));
	flow_table__flush(t);
	EXPECT(nrec == 1);
	EXPECT(recs[0].sum.gap);
	EXPECT(partial(0));
	/* no dwell is invented for ESTABLISHED: it ended at an unknown time */
	EXPECT_STR(path(0), "CLOSED>SYN_SENT>ESTABLISHED>TIME_WAIT");
	EXPECT(!(recs[0].sum.have_dwell & (1u << SF_TCP_ESTABLISHED)));
	EXPECT(recs[0].sum.have_dwell & (1u << SF_TCP_SYN_SENT));

	/* the birth event was lost: the flow is marked, not guessed */
	feed(t, ev(0xad, 3, 20, SF_TCP_ESTABLISHED, SF_TCP_CLOSE_WAIT));
	feed(t, ev(0xad, 3, 30, SF_TCP_CLOSE_WAIT, SF_TCP_LAST_ACK));
	feed(t, ev(0xad, 3, 31, SF_TCP_LAST_ACK, SF_TCP_CLOSE));
	flow_table__flush(t);
	EXPECT(nrec == 2);
	EXPECT(recs[1].flow.partial & SF_PART_MISSED);
	EXPECT(recs[1].sum.lifetime_ns == -1);
	flow_table__free(t);
}

/* Connections that existed before synfin started. */
TEST(pre_existing)
{
	struct flow_table *t = table(64);
	struct synfin_event e = ev(0xae, 50, 50, SF_TCP_ESTABLISHED, SF_TCP_CLOSE_WAIT);

	e.flags = SF_F_NEW_GEN | SF_F_NO_ENTRY;
	e.owner_src = SF_OWNER_NONE;
	feed(t, e);
	e = ev(0xae, 50, 60, SF_TCP_CLOSE_WAIT, SF_TCP_LAST_ACK);
	e.owner_src = SF_OWNER_CLOSE;
	strcpy(e.comm, "nginx");
	feed(t, e);
	/* BPF repeats the owner it learnt in every later event */
	e = ev(0xae, 50, 61, SF_TCP_LAST_ACK, SF_TCP_CLOSE);
	e.owner_src = SF_OWNER_CLOSE;
	strcpy(e.comm, "nginx");
	feed(t, e);
	flow_table__flush(t);
	EXPECT(nrec == 1);
	EXPECT_STR(path(0), "ESTABLISHED>CLOSE_WAIT>LAST_ACK>CLOSED");
	EXPECT(recs[0].flow.partial & SF_PART_MID_FLOW);
	EXPECT(recs[0].flow.role == SF_ROLE_UNKNOWN);
	EXPECT(recs[0].sum.established);
	EXPECT(recs[0].sum.close == SF_CLOSE_NORMAL);
	EXPECT_STR(recs[0].sum.closer, "peer");
	EXPECT(recs[0].sum.lifetime_ns == -1);
	EXPECT(!(recs[0].sum.have_dwell & (1u << SF_TCP_ESTABLISHED)));
	EXPECT_STR(recs[0].flow.comm, "nginx");

	/* seen only at its very end: one event, port already released */
	e = ev(0xaf, 70, 70, SF_TCP_FIN_WAIT2, SF_TCP_CLOSE);
	e.flags = SF_F_NEW_GEN | SF_F_NO_ENTRY;
	e.sport = 0;
	feed(t, e);
	flow_table__flush(t);
	EXPECT(nrec == 2);
	EXPECT_STR(path(1), "FIN_WAIT_2>TIME_WAIT");
	EXPECT(recs[1].flow.sport == 0);
	EXPECT(partial(1));
	flow_table__free(t);
}

/* One socket address, two generations, before the first is emitted. */
TEST(address_reuse)
{
	struct flow_table *t = table(64);

	client_seed(t, 0xe1, 0);
	feed(t, ev(0xe1, 20000, 20000, SF_TCP_LISTEN, SF_TCP_SYN_RECV));
	feed(t, ev(0xe1, 20000, 20010, SF_TCP_SYN_RECV, SF_TCP_ESTABLISHED));
	feed(t, ev(0xe1, 20000, 20100, SF_TCP_ESTABLISHED, SF_TCP_CLOSE_WAIT));
	feed(t, ev(0xe1, 20000, 20200, SF_TCP_CLOSE_WAIT, SF_TCP_LAST_ACK));
	feed(t, ev(0xe1, 20000, 20300, SF_TCP_LAST_ACK, SF_TCP_CLOSE));
	flow_table__flush(t);
	EXPECT(nrec == 2);
	EXPECT(recs[0].flow.role == SF_ROLE_CLIENT);
	EXPECT(recs[1].flow.role == SF_ROLE_SERVER);
	EXPECT(!partial(0) && !partial(1));
	EXPECT(recs[1].sum.lifetime_ns == 300);
	flow_table__free(t);
}

TEST(late_event)
{
	struct flow_table *t = table(64);
	struct flow_table_stats st;

	client_seed(t, 0xe2, 0);
	flow_table__flush(t);
	EXPECT(nrec == 1);
	/* a straggler of the emitted generation must not create a flow */
	feed(t, ev(0xe2, 1000, 11000, SF_TCP_FIN_WAIT1, SF_TCP_FIN_WAIT2));
	flow_table__flush(t);
	flow_table__stats(t, &st);
	EXPECT(nrec == 1);
	EXPECT(st.late == 1);
	EXPECT(st.open == 0);
	flow_table__free(t);
}

TEST(eviction)
{
	struct flow_table *t = table(4);
	struct flow_table_stats st;

	for (__u64 i = 0; i < 6; i++) {
		feed(t, ev(0x100 + i, i + 1, i + 1, SF_TCP_CLOSE, SF_TCP_SYN_SENT));
		feed(t, ev(0x100 + i, i + 1, i + 2, SF_TCP_SYN_SENT, SF_TCP_ESTABLISHED));
	}
	flow_table__stats(t, &st);
	EXPECT(nrec == 2);
	EXPECT(st.evicted == 2);
	EXPECT(st.open == 4);
	EXPECT(st.by_state[SF_TCP_ESTABLISHED] == 4);
	EXPECT(recs[0].flow.sk == 0x100 && recs[1].flow.sk == 0x101); /* least recent first */
	EXPECT(recs[0].sum.close == SF_CLOSE_NONE);
	EXPECT(partial(0));
	flow_table__free(t);
}

TEST(decode_errors)
{
	struct flow_table *t = table(16);
	struct flow_table_stats st;
	struct synfin_event e = ev(1, 1, 1, SF_TCP_CLOSE, SF_TCP_SYN_SENT);

	e.version = 99;
	EXPECT(flow_table__ingest(t, &e) == -EINVAL);
	e = ev(1, 1, 1, 0, SF_TCP_SYN_SENT);
	EXPECT(flow_table__ingest(t, &e) == -EINVAL);
	e = ev(1, 1, 1, SF_TCP_CLOSE, 200);
	EXPECT(flow_table__ingest(t, &e) == -EINVAL);
	e = ev(1, 1, 1, SF_TCP_CLOSE, SF_TCP_SYN_SENT);
	e.family = 3;
	EXPECT(flow_table__ingest(t, &e) == -EINVAL);
	e.family = 2;
	e.kind = 77;
	EXPECT(flow_table__ingest(t, &e) == -EINVAL);
	/* times no monotonic clock reaches (a corrupted recording) */
	e = ev(1, 1, SF_TS_MAX, SF_TCP_CLOSE, SF_TCP_SYN_SENT);
	EXPECT(flow_table__ingest(t, &e) == -EINVAL);
	e = ev(1, UINT64_MAX, 1, SF_TCP_CLOSE, SF_TCP_SYN_SENT); /* a snapshot flow's key */
	EXPECT(flow_table__ingest(t, &e) == -EINVAL);
	/* NEW_SYN_RECV: a request socket's, which has no state event and no
	 * entry (its control events are orphans, below) */
	e = ev(1, 1, 1, SF_TCP_NEW_SYN_RECV, SF_TCP_SYN_RECV);
	EXPECT(flow_table__ingest(t, &e) == -EINVAL);
	e = ctl(1, 1, 1, SF_EV_RESET_SENT, SF_TCP_NEW_SYN_RECV);
	EXPECT(flow_table__ingest(t, &e) == -EINVAL);
	e.flags = SF_F_NO_ENTRY;
	EXPECT(flow_table__ingest(t, &e) == 0);
	flow_table__stats(t, &st);
	EXPECT(st.decode_errors == 9 && st.orphans == 1 && st.open == 0);
	EXPECT(st.events == 1 && st.open == 0);
	flow_table__free(t);
}

/* connect() enters SYN_SENT before it picks the port; CLOSE has none left */
TEST(tuple_learnt_late)
{
	struct flow_table *t = table(16);
	struct synfin_event e = ev(0xe3, 1, 1, SF_TCP_CLOSE, SF_TCP_SYN_SENT);

	e.sport = 0;
	feed(t, e);
	e = ev(0xe3, 1, 2, SF_TCP_SYN_SENT, SF_TCP_ESTABLISHED);
	e.sport = 51000;
	feed(t, e);
	e = ev(0xe3, 1, 3, SF_TCP_ESTABLISHED, SF_TCP_CLOSE);
	e.sport = 0;
	feed(t, e);
	flow_table__flush(t);
	EXPECT(nrec == 1);
	EXPECT(recs[0].flow.sport == 51000);
	flow_table__free(t);
}

/* accept() names the worker that owns a prefork server's connection */
TEST(owner_update)
{
	struct flow_table *t = table(16);
	struct synfin_event e = ev(0xb4, 1, 1, SF_TCP_LISTEN, SF_TCP_SYN_RECV);

	e.owner_src = SF_OWNER_LISTENER;
	e.tgid = 10;
	feed(t, e);
	e = ev(0xb4, 1, 2, SF_TCP_SYN_RECV, SF_TCP_ESTABLISHED);
	e.owner_src = SF_OWNER_LISTENER;
	e.tgid = 10;
	feed(t, e);
	e = ev(0xb4, 1, 9, SF_TCP_ESTABLISHED, SF_TCP_CLOSE_WAIT);
	e.owner_src = SF_OWNER_ACCEPT;
	e.tgid = 11;
	strcpy(e.comm, "worker");
	feed(t, e);
	/* later events that carry no owner keep the accept() one */
	e = ev(0xb4, 1, 10, SF_TCP_CLOSE_WAIT, SF_TCP_LAST_ACK);
	e.owner_src = SF_OWNER_NONE;
	feed(t, e);
	e = ev(0xb4, 1, 11, SF_TCP_LAST_ACK, SF_TCP_CLOSE);
	e.owner_src = SF_OWNER_NONE;
	feed(t, e);
	flow_table__flush(t);
	EXPECT(nrec == 1);
	EXPECT(recs[0].flow.owner_src == SF_OWNER_ACCEPT);
	EXPECT(recs[0].flow.tgid == 11);
	EXPECT_STR(recs[0].flow.comm, "worker");
	flow_table__free(t);
}

TEST(stats_by_state)
{
	struct flow_table *t = table(64);
	struct flow_table_stats st;

	feed(t, ev(0x201, 1, 1, SF_TCP_CLOSE, SF_TCP_SYN_SENT));
	feed(t, ev(0x202, 1, 1, SF_TCP_CLOSE, SF_TCP_SYN_SENT));
	feed(t, ev(0x202, 1, 2, SF_TCP_SYN_SENT, SF_TCP_ESTABLISHED));
	feed(t, ev(0x203, 1, 1, SF_TCP_ESTABLISHED, SF_TCP_CLOSE_WAIT));
	flow_table__stats(t, &st);
	EXPECT(st.open == 3);
	EXPECT(st.by_state[SF_TCP_SYN_SENT] == 1);
	EXPECT(st.by_state[SF_TCP_ESTABLISHED] == 1);
	EXPECT(st.by_state[SF_TCP_CLOSE_WAIT] == 1);
	feed(t, ev(0x203, 1, 5, SF_TCP_CLOSE_WAIT, SF_TCP_LAST_ACK));
	feed(t, ev(0x203, 1, 6, SF_TCP_LAST_ACK, SF_TCP_CLOSE));
	flow_table__stats(t, &st);
	EXPECT(st.open == 2 && st.closing == 1);
	EXPECT(st.by_state[SF_TCP_CLOSE_WAIT] == 0 && st.by_state[SF_TCP_LAST_ACK] == 0);
	flow_table__free(t);
}

/* A long run through a small table: the indices stay consistent. */
TEST(churn)
{
	struct flow_table *t = table(64);
	struct flow_table_stats st;
	__u64 ts = 1;

	for (__u64 i = 0; i < 20000; i++) {
		__u64 sk = 0x1000 + (i % 97) * 64; /* addresses reused constantly */

		feed(t, ev(sk, ts, ts, SF_TCP_CLOSE, SF_TCP_SYN_SENT));
		feed(t, ev(sk, ts, ts + 1, SF_TCP_SYN_SENT, SF_TCP_ESTABLISHED));
		feed(t, ev(sk, ts, ts + 2, SF_TCP_ESTABLISHED, SF_TCP_CLOSE));
		ts += 3;
		flow_table__advance(t, ts);
		if (nrec >= MAXREC - 1)
			nrec = 0;
	}
	flow_table__flush(t);
	flow_table__stats(t, &st);
	EXPECT(st.flows_emitted == 20000);
	EXPECT(st.open == 0 && st.closing == 0);
	EXPECT(st.evicted == 0);
	EXPECT(st.duplicates == 0 && st.late == 0);
	flow_table__free(t);
}

/* A full table reports a finished flow early rather than evict a live one. */
TEST(eviction_prefers_closed)
{
	struct flow_table_stats st;
	struct flow_table *t = table(4);

	for (__u64 i = 0; i < 2; i++) {
		feed(t, ev(0x800 + i, i + 1, i + 1, SF_TCP_CLOSE, SF_TCP_SYN_SENT));
		feed(t, ev(0x800 + i, i + 1, i + 2, SF_TCP_SYN_SENT, SF_TCP_CLOSE));
	}
	for (__u64 i = 2; i < 5; i++)
		feed(t, ev(0x800 + i, i + 1, i + 1, SF_TCP_CLOSE, SF_TCP_SYN_SENT));
	flow_table__stats(t, &st);
	EXPECT(st.evicted == 0 && nrec == 1 && recs[0].flow.sk == 0x800 && st.open == 3);
	flow_table__free(t);
}
