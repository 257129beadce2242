// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Every path of the seed: the client and server lifecycles, listeners, each way a connection ends. */
#include "unit.h"

TEST(client_seed_path)
{
	struct flow_table *t = table(64);

	client_seed(t, 0xa1, 0);
	flow_table__advance(t, 12000 + GRACE - 1);
	EXPECT(nrec == 0); /* held for the grace period */
	flow_table__advance(t, 12000 + GRACE);
	EXPECT(nrec == 1);
	EXPECT(recs[0].type == SF_REC_FLOW);
	EXPECT_STR(path(0), "CLOSED>SYN_SENT>ESTABLISHED>FIN_WAIT_1>FIN_WAIT_2>TIME_WAIT");
	EXPECT(recs[0].flow.role == SF_ROLE_CLIENT);
	EXPECT(recs[0].sum.close == SF_CLOSE_NORMAL);
	EXPECT_STR(recs[0].sum.closer, "local");
	EXPECT(recs[0].sum.time_wait_inferred);
	EXPECT(recs[0].sum.time_wait_from == SF_TCP_FIN_WAIT2);
	EXPECT(recs[0].sum.connect_ns == 1000);
	EXPECT(recs[0].sum.dwell[SF_TCP_ESTABLISHED] == 8000);
	EXPECT(recs[0].sum.dwell[SF_TCP_FIN_WAIT1] == 1000);
	EXPECT(recs[0].sum.dwell[SF_TCP_FIN_WAIT2] == 1000);
	EXPECT(recs[0].sum.lifetime_ns == 11000);
	EXPECT(!partial(0));
	/* a plain open and close: a summary is enough (--detail auto) */
	EXPECT(!recs[0].sum.abnormal);
	flow_table__free(t);
}

TEST(server_seed_path)
{
	struct flow_table *t = table(64);

	feed(t, ev(0xb1, 500, 500, SF_TCP_LISTEN, SF_TCP_SYN_RECV));
	feed(t, ev(0xb1, 500, 520, SF_TCP_SYN_RECV, SF_TCP_ESTABLISHED));
	feed(t, ev(0xb1, 500, 9000, SF_TCP_ESTABLISHED, SF_TCP_CLOSE_WAIT));
	feed(t, ev(0xb1, 500, 9500, SF_TCP_CLOSE_WAIT, SF_TCP_LAST_ACK));
	feed(t, ev(0xb1, 500, 9600, SF_TCP_LAST_ACK, SF_TCP_CLOSE));
	flow_table__flush(t);
	EXPECT(nrec == 1);
	EXPECT_STR(path(0), "LISTEN>SYN_RECEIVED>ESTABLISHED>CLOSE_WAIT>LAST_ACK>CLOSED");
	EXPECT(recs[0].flow.role == SF_ROLE_SERVER);
	EXPECT(recs[0].sum.close == SF_CLOSE_NORMAL);
	EXPECT_STR(recs[0].sum.closer, "peer");
	EXPECT(!recs[0].sum.time_wait_inferred);
	/* the kernel creates the child socket at the final ACK: without the
	 * SYN captured, its 20 ns in SYN_RECV are not the half-open phase */
	EXPECT(recs[0].sum.handshake_ns == -1);
	EXPECT(!(recs[0].sum.have_dwell & (1u << SF_TCP_SYN_RECV)));
	EXPECT(recs[0].sum.dwell[SF_TCP_CLOSE_WAIT] == 500);
	EXPECT(recs[0].sum.dwell[SF_TCP_LAST_ACK] == 100);
	EXPECT(recs[0].sum.lifetime_ns == 9100);
	EXPECT(!partial(0));
	flow_table__free(t);
}

TEST(listener_records)
{
	struct flow_table *t = table(64);
	struct synfin_event l = ev(0xc0, 100, 100, SF_TCP_CLOSE, SF_TCP_LISTEN);
	struct synfin_event c = ev(0xc1, 200, 200, SF_TCP_LISTEN, SF_TCP_SYN_RECV);
	struct synfin_event r = ctl(0xd0, 0, 300, SF_EV_SYNACK_RETRANS, SF_TCP_SYN_RECV);

	l.sport = 8080;
	l.dport = 0;
	c.sport = 8080;
	r.sport = 8080;
	flow_table__ingest(t, &l);
	EXPECT(nrec == 1);
	EXPECT(recs[0].type == SF_REC_LISTEN_START);
	flow_table__ingest(t, &c);
	flow_table__ingest(t, &r);
	l.oldstate = SF_TCP_LISTEN;
	l.newstate = SF_TCP_CLOSE;
	l.ts_ns = 5000;
	l.flags = 0;
	flow_table__ingest(t, &l);
	flow_table__flush(t);
	EXPECT(nrec == 2);
	EXPECT(recs[1].type == SF_REC_LISTEN_STOP);
	EXPECT(recs[1].flow.children == 1);
	EXPECT(recs[1].flow.synack_retrans == 1);
	EXPECT(recs[1].flow.role == SF_ROLE_LISTENER);
	flow_table__free(t);
}

TEST(simultaneous_close)
{
	struct flow_table *t = table(64);

	feed(t, ev(0xa2, 1, 1, SF_TCP_CLOSE, SF_TCP_SYN_SENT));
	feed(t, ev(0xa2, 1, 2, SF_TCP_SYN_SENT, SF_TCP_ESTABLISHED));
	feed(t, ev(0xa2, 1, 10, SF_TCP_ESTABLISHED, SF_TCP_FIN_WAIT1));
	feed(t, ev(0xa2, 1, 11, SF_TCP_FIN_WAIT1, SF_TCP_CLOSING));
	feed(t, ev(0xa2, 1, 15, SF_TCP_CLOSING, SF_TCP_CLOSE));
	flow_table__flush(t);
	EXPECT(nrec == 1);
	EXPECT_STR(path(0), "CLOSED>SYN_SENT>ESTABLISHED>FIN_WAIT_1>CLOSING>TIME_WAIT");
	EXPECT(recs[0].sum.close == SF_CLOSE_SIMULTANEOUS);
	EXPECT_STR(recs[0].sum.closer, "both");
	EXPECT(recs[0].sum.time_wait_from == SF_TCP_CLOSING);
	EXPECT(recs[0].sum.dwell[SF_TCP_CLOSING] == 4);
	flow_table__free(t);
}

/* The seed: FIN and ACK in one segment take FIN_WAIT_1 straight to TIME_WAIT. */
TEST(fin_wait1_to_time_wait)
{
	struct flow_table *t = table(64);

	feed(t, ev(0xa3, 1, 1, SF_TCP_CLOSE, SF_TCP_SYN_SENT));
	feed(t, ev(0xa3, 1, 2, SF_TCP_SYN_SENT, SF_TCP_ESTABLISHED));
	feed(t, ev(0xa3, 1, 10, SF_TCP_ESTABLISHED, SF_TCP_FIN_WAIT1));
	feed(t, ev(0xa3, 1, 12, SF_TCP_FIN_WAIT1, SF_TCP_CLOSE));
	flow_table__flush(t);
	EXPECT(nrec == 1);
	EXPECT_STR(path(0), "CLOSED>SYN_SENT>ESTABLISHED>FIN_WAIT_1>TIME_WAIT");
	EXPECT(recs[0].sum.close == SF_CLOSE_NORMAL);
	EXPECT(recs[0].sum.time_wait_from == SF_TCP_FIN_WAIT1);
	EXPECT(!partial(0));
	flow_table__free(t);
}

TEST(reset_received)
{
	struct flow_table *t = table(64);
	struct synfin_event c;

	feed(t, ev(0xb2, 1, 1, SF_TCP_LISTEN, SF_TCP_SYN_RECV));
	feed(t, ev(0xb2, 1, 2, SF_TCP_SYN_RECV, SF_TCP_ESTABLISHED));
	feed(t, ctl(0xb2, 1, 5, SF_EV_RESET_RECV, SF_TCP_ESTABLISHED));
	c = ev(0xb2, 1, 6, SF_TCP_ESTABLISHED, SF_TCP_CLOSE);
	c.sk_err = ECONNRESET;
	feed(t, c);
	flow_table__flush(t);
	EXPECT(nrec == 1);
	EXPECT_STR(path(0), "LISTEN>SYN_RECEIVED>ESTABLISHED>CLOSED");
	EXPECT(recs[0].sum.close == SF_CLOSE_RESET);
	EXPECT(recs[0].flow.rst_recv == SF_TCP_ESTABLISHED);
	EXPECT(recs[0].sum.closer == NULL);
	EXPECT(!recs[0].sum.time_wait_inferred);
	flow_table__free(t);
}

/* SO_LINGER{1,0}: the kernel enters CLOSE, then sends the RST. */
TEST(reset_sent_after_close)
{
	struct flow_table *t = table(64);

	feed(t, ev(0xa4, 1, 1, SF_TCP_CLOSE, SF_TCP_SYN_SENT));
	feed(t, ev(0xa4, 1, 2, SF_TCP_SYN_SENT, SF_TCP_ESTABLISHED));
	feed(t, ev(0xa4, 1, 9, SF_TCP_ESTABLISHED, SF_TCP_CLOSE));
	feed(t, ctl(0xa4, 1, 10, SF_EV_RESET_SENT, SF_TCP_CLOSE));
	flow_table__flush(t);
	EXPECT(nrec == 1);
	EXPECT(recs[0].sum.close == SF_CLOSE_RESET);
	EXPECT(recs[0].flow.rst_sent == SF_TCP_ESTABLISHED);
	flow_table__free(t);
}

TEST(refused)
{
	struct flow_table *t = table(64);
	struct synfin_event c;

	feed(t, ev(0xa5, 1, 1, SF_TCP_CLOSE, SF_TCP_SYN_SENT));
	feed(t, ctl(0xa5, 1, 40, SF_EV_RESET_RECV, SF_TCP_SYN_SENT));
	c = ev(0xa5, 1, 41, SF_TCP_SYN_SENT, SF_TCP_CLOSE);
	c.sk_err = ECONNREFUSED;
	feed(t, c);
	flow_table__flush(t);
	EXPECT(nrec == 1);
	EXPECT_STR(path(0), "CLOSED>SYN_SENT>CLOSED");
	EXPECT(recs[0].sum.close == SF_CLOSE_REFUSED);
	EXPECT(recs[0].sum.abnormal); /* refused: written in full by default */
	EXPECT(!recs[0].sum.established);
	EXPECT(recs[0].sum.connect_ns == -1);
	EXPECT(recs[0].sum.lifetime_ns == 40);
	flow_table__free(t);
}

TEST(syn_timeout)
{
	struct flow_table *t = table(64);
	struct synfin_event c;

	feed(t, ev(0xa6, 1, 1, SF_TCP_CLOSE, SF_TCP_SYN_SENT));
	feed(t, ctl(0xa6, 1, 1000, SF_EV_RETRANS, SF_TCP_SYN_SENT));
	feed(t, ctl(0xa6, 1, 3000, SF_EV_RETRANS, SF_TCP_SYN_SENT));
	c = ev(0xa6, 1, 7000, SF_TCP_SYN_SENT, SF_TCP_CLOSE);
	c.sk_err = ETIMEDOUT;
	feed(t, c);
	flow_table__flush(t);
	EXPECT(nrec == 1);
	EXPECT(recs[0].sum.close == SF_CLOSE_TIMEOUT);
	EXPECT(recs[0].flow.syn_retrans == 2);
	EXPECT(recs[0].sum.dwell[SF_TCP_SYN_SENT] == 6999);
	flow_table__free(t);
}

TEST(unreachable_and_aborted)
{
	struct flow_table *t = table(64);
	struct synfin_event c;

	feed(t, ev(0xa7, 1, 1, SF_TCP_CLOSE, SF_TCP_SYN_SENT));
	c = ev(0xa7, 1, 9, SF_TCP_SYN_SENT, SF_TCP_CLOSE);
	c.sk_err = EHOSTUNREACH;
	feed(t, c);
	/* the application gave up before the handshake completed */
	feed(t, ev(0xa8, 1, 1, SF_TCP_CLOSE, SF_TCP_SYN_SENT));
	feed(t, ev(0xa8, 1, 5, SF_TCP_SYN_SENT, SF_TCP_CLOSE));
	/* a server child that died before ESTABLISHED */
	feed(t, ev(0xb3, 1, 1, SF_TCP_LISTEN, SF_TCP_SYN_RECV));
	feed(t, ev(0xb3, 1, 5, SF_TCP_SYN_RECV, SF_TCP_CLOSE));
	flow_table__flush(t);
	EXPECT(nrec == 3);
	/* emitted in close order */
	EXPECT(recs[0].flow.sk == 0xa8 && recs[1].flow.sk == 0xb3 && recs[2].flow.sk == 0xa7);
	EXPECT(recs[2].sum.close == SF_CLOSE_UNREACHABLE);
	EXPECT(recs[0].sum.close == SF_CLOSE_ABORTED);
	EXPECT(recs[1].sum.close == SF_CLOSE_NEVER_ESTABLISHED);
	flow_table__free(t);
}
