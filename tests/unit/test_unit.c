// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Unit tests of the pure core: flow reconstruction driven by synthetic
 * event sequences (every path of the seed, and the nasty ones), the JSON
 * writer and the record file format. No root, no kernel.
 * Prints PASS/FAIL per test and "N passed, N failed" at the end.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "flow.h"
#include "ring.h"
#include "json.h"
#include "record_json.h"
#include "recorder.h"

#define MAXREC 64
#define GRACE 1000000ULL /* 1 ms */

struct got {
	enum sf_record_type type;
	__u8 state, next_state;
	bool age_lower_bound;
	__u64 age_ns;
	struct sf_flow flow;
	struct sf_summary sum;
};

static struct got recs[MAXREC];
static int nrec;
static int failures, passes;
static const char *cur_test;
static bool cur_failed;

#define EXPECT(cond)                                                                    \
	do {                                                                            \
		if (!(cond)) {                                                          \
			printf("FAIL %s: line %d: %s\n", cur_test, __LINE__, #cond);   \
			cur_failed = true;                                              \
			return;                                                         \
		}                                                                       \
	} while (0)

#define EXPECT_STR(a, b)                                                                         \
	do {                                                                                     \
		const char *_a = (a), *_b = (b);                                                 \
		if (!_a || !_b || strcmp(_a, _b)) {                                              \
			printf("FAIL %s: line %d: \"%s\" != \"%s\"\n", cur_test, __LINE__,      \
			       _a ? _a : "(null)", _b ? _b : "(null)");                          \
			cur_failed = true;                                                       \
			return;                                                                  \
		}                                                                                \
	} while (0)

static void sink(void *ctx, const struct sf_record *r)
{
	(void)ctx;
	if (nrec >= MAXREC)
		return;
	recs[nrec].type = r->type;
	recs[nrec].state = r->state;
	recs[nrec].next_state = r->next_state;
	recs[nrec].age_lower_bound = r->age_lower_bound;
	recs[nrec].age_ns = r->age_ns;
	if (!r->flow) {
		memset(&recs[nrec].flow, 0, sizeof(recs[nrec].flow));
		nrec++;
		return;
	}
	recs[nrec].flow = *r->flow;
	/* a flow record comes with what it means, decided once */
	if (r->sum)
		recs[nrec].sum = *r->sum;
	else
		sf_flow__summarize(r->flow, r->segs, &recs[nrec].sum);
	nrec++;
}

static struct flow_table *table_cfg(struct flow_table_config *cfg)
{
	nrec = 0;
	memset(recs, 0, sizeof(recs));
	return flow_table__new(cfg, sink, NULL);
}

static struct flow_table *table(__u32 max)
{
	struct flow_table_config cfg = { .max_flows = max, .close_grace_ns = GRACE };

	nrec = 0;
	memset(recs, 0, sizeof(recs));
	return flow_table__new(&cfg, sink, NULL);
}

/* one event; ports: local 40000 + (sk & 0xff), remote 80 */
static struct synfin_event ev(__u64 sk, __u64 gen, __u64 ts, __u8 old, __u8 new)
{
	struct synfin_event e = {
		.ts_ns = ts,
		.sk = sk,
		.gen = gen,
		.netns = 4026531840u,
		.pid = 100,
		.tgid = 100,
		.version = SYNFIN_EVENT_VERSION,
		.kind = SF_EV_STATE,
		.family = 2,
		.oldstate = old,
		.newstate = new,
		.owner_src = SF_OWNER_CONNECT,
		.sport = 40000 + (sk & 0xff),
		.dport = 80,
	};

	e.saddr[0] = 10, e.saddr[3] = 1;
	e.daddr[0] = 10, e.daddr[3] = 2;
	strcpy(e.comm, "curl");
	if ((old == SF_TCP_CLOSE && (new == SF_TCP_SYN_SENT || new == SF_TCP_LISTEN)) ||
	    (old == SF_TCP_LISTEN && new == SF_TCP_SYN_RECV))
		e.flags = SF_F_NEW_GEN;
	/* as the BPF side says it: the peer's FIN had come (SOCK_DONE) */
	if (new == SF_TCP_CLOSE)
		e.flags = SF_F_CLOSE_INFO | SF_F_PEER_FIN;
	return e;
}

/* FIN_WAIT2 -> CLOSE without the peer's FIN: the orphan's hand-over to a
 * time-wait socket that still waits for it */
static struct synfin_event handover(__u64 sk, __u64 gen, __u64 ts)
{
	struct synfin_event e = ev(sk, gen, ts, SF_TCP_FIN_WAIT2, SF_TCP_CLOSE);

	e.flags = SF_F_CLOSE_INFO;
	return e;
}

static struct synfin_event ctl(__u64 sk, __u64 gen, __u64 ts, __u8 kind, __u8 state)
{
	struct synfin_event e = ev(sk, gen, ts, state, state);

	e.kind = kind;
	e.flags = 0;
	return e;
}

static void feed(struct flow_table *t, struct synfin_event e)
{
	flow_table__ingest(t, &e);
}

static void path_of(const struct sf_summary *s, char *buf, size_t len)
{
	buf[0] = 0;
	for (int i = 0; i < s->path_len; i++) {
		if (i)
			strncat(buf, ">", len - strlen(buf) - 1);
		strncat(buf, sf_state_name(s->path[i]), len - strlen(buf) - 1);
	}
}

static const char *path(int i)
{
	static char buf[256];

	path_of(&recs[i].sum, buf, sizeof(buf));
	return buf;
}

static bool partial(int i)
{
	return (recs[i].flow.partial & (SF_PART_MID_FLOW | SF_PART_MISSED | SF_PART_EVICTED)) ||
	       recs[i].sum.gap;
}

/* a full client lifecycle as the seed describes it, ending at t0+12000 */
static void client_seed(struct flow_table *t, __u64 sk, __u64 t0)
{
	feed(t, ev(sk, t0 + 1000, t0 + 1000, SF_TCP_CLOSE, SF_TCP_SYN_SENT));
	feed(t, ev(sk, t0 + 1000, t0 + 2000, SF_TCP_SYN_SENT, SF_TCP_ESTABLISHED));
	feed(t, ev(sk, t0 + 1000, t0 + 10000, SF_TCP_ESTABLISHED, SF_TCP_FIN_WAIT1));
	feed(t, ev(sk, t0 + 1000, t0 + 11000, SF_TCP_FIN_WAIT1, SF_TCP_FIN_WAIT2));
	feed(t, ev(sk, t0 + 1000, t0 + 12000, SF_TCP_FIN_WAIT2, SF_TCP_CLOSE));
}

static void test_client_seed_path(void)
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
	flow_table__free(t);
}

static void test_server_seed_path(void)
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

static void test_listener_records(void)
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

static void test_simultaneous_close(void)
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
static void test_fin_wait1_to_time_wait(void)
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

static void test_reset_received(void)
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
static void test_reset_sent_after_close(void)
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

static void test_refused(void)
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
	EXPECT(!recs[0].sum.established);
	EXPECT(recs[0].sum.connect_ns == -1);
	EXPECT(recs[0].sum.lifetime_ns == 40);
	flow_table__free(t);
}

static void test_syn_timeout(void)
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

static void test_unreachable_and_aborted(void)
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

/* Events of one socket can reach the ring from different CPUs out of order. */
static void test_out_of_order(void)
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

static void test_duplicates(void)
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
static void test_missing_events(void)
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
static void test_pre_existing(void)
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
static void test_address_reuse(void)
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

static void test_late_event(void)
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

static void test_eviction(void)
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

static void test_decode_errors(void)
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
	flow_table__stats(t, &st);
	EXPECT(st.decode_errors == 5);
	EXPECT(st.events == 0 && st.open == 0);
	flow_table__free(t);
}

/* connect() enters SYN_SENT before it picks the port; CLOSE has none left */
static void test_tuple_learnt_late(void)
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
static void test_owner_update(void)
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

static void test_stats_by_state(void)
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
static void test_churn(void)
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


#define SEC 1000000000ULL

static int count_type(enum sf_record_type type)
{
	int n = 0;

	for (int i = 0; i < nrec; i++)
		n += recs[i].type == type;
	return n;
}

static int find_type(enum sf_record_type type, __u64 sk)
{
	for (int i = 0; i < nrec; i++)
		if (recs[i].type == type && recs[i].flow.sk == sk)
			return i;
	return -1;
}

/* CLOSE_WAIT past its threshold: one stuck record, then resolved */
static void test_stuck_and_resolved(void)
{
	struct flow_table_config cfg = { .max_flows = 64, .close_grace_ns = GRACE };
	struct flow_table *t;
	struct flow_table_stats st;
	int i;

	cfg.stuck_ns[SF_TCP_CLOSE_WAIT] = 5 * SEC;
	t = table_cfg(&cfg);
	feed(t, ev(0xc1, 1, 1, SF_TCP_LISTEN, SF_TCP_SYN_RECV));
	feed(t, ev(0xc1, 1, 2, SF_TCP_SYN_RECV, SF_TCP_ESTABLISHED));
	feed(t, ev(0xc1, 1, 1 * SEC, SF_TCP_ESTABLISHED, SF_TCP_CLOSE_WAIT));
	flow_table__advance(t, 6 * SEC - 1);
	EXPECT(nrec == 0);
	flow_table__advance(t, 6 * SEC);
	EXPECT(nrec == 1);
	EXPECT(recs[0].type == SF_REC_STUCK);
	EXPECT(recs[0].state == SF_TCP_CLOSE_WAIT);
	EXPECT(recs[0].age_ns == 5 * SEC);
	EXPECT(!recs[0].age_lower_bound);
	flow_table__advance(t, 60 * SEC); /* once, not every tick */
	EXPECT(nrec == 1);
	flow_table__stats(t, &st);
	EXPECT(st.stuck_by_state[SF_TCP_CLOSE_WAIT] == 1);
	feed(t, ev(0xc1, 1, 70 * SEC, SF_TCP_CLOSE_WAIT, SF_TCP_LAST_ACK));
	EXPECT(nrec == 2);
	EXPECT(recs[1].type == SF_REC_RESOLVED);
	EXPECT(recs[1].next_state == SF_TCP_LAST_ACK);
	EXPECT(recs[1].age_ns == 69 * SEC);
	feed(t, ev(0xc1, 1, 70 * SEC + 5, SF_TCP_LAST_ACK, SF_TCP_CLOSE));
	flow_table__flush(t);
	i = find_type(SF_REC_FLOW, 0xc1);
	EXPECT(i == 2);
	flow_table__stats(t, &st);
	EXPECT(st.stuck_total == 1 && st.resolved_total == 1);
	EXPECT(st.stuck_by_state[SF_TCP_CLOSE_WAIT] == 0);
	flow_table__free(t);
}

/* Flows are found at the heads of their state's list, in entry order,
 * even when entries arrive out of order; closing resolves a stuck flow. */
static void test_stuck_order_and_close(void)
{
	struct flow_table_config cfg = { .max_flows = 64, .close_grace_ns = GRACE };
	struct flow_table *t;

	cfg.stuck_ns[SF_TCP_SYN_SENT] = 10 * SEC;
	cfg.stuck_ns[SF_TCP_FIN_WAIT2] = 10 * SEC;
	t = table_cfg(&cfg);
	feed(t, ev(0xd2, 3 * SEC, 3 * SEC, SF_TCP_CLOSE, SF_TCP_SYN_SENT));
	feed(t, ev(0xd1, 1 * SEC, 1 * SEC, SF_TCP_CLOSE, SF_TCP_SYN_SENT)); /* older, later */
	feed(t, ev(0xd3, 2 * SEC, 2 * SEC, SF_TCP_CLOSE, SF_TCP_SYN_SENT));
	flow_table__advance(t, 12 * SEC + 1);
	EXPECT(nrec == 2);
	EXPECT(recs[0].flow.sk == 0xd1 && recs[1].flow.sk == 0xd3);
	flow_table__advance(t, 13 * SEC);
	EXPECT(nrec == 3 && recs[2].flow.sk == 0xd2);
	/* d1 times out: resolved to CLOSED, then its flow record */
	feed(t, ev(0xd1, 1 * SEC, 20 * SEC, SF_TCP_SYN_SENT, SF_TCP_CLOSE));
	EXPECT(nrec == 4 && recs[3].type == SF_REC_RESOLVED && recs[3].next_state == SF_TCP_CLOSE);
	/* a state not watched: nothing */
	feed(t, ev(0xd3, 2 * SEC, 21 * SEC, SF_TCP_SYN_SENT, SF_TCP_ESTABLISHED));
	EXPECT(nrec == 5 && recs[4].type == SF_REC_RESOLVED);
	flow_table__advance(t, 100 * SEC);
	EXPECT(count_type(SF_REC_STUCK) == 3);
	flow_table__free(t);
}

static void test_stuck_rate_limit(void)
{
	struct flow_table_config cfg = { .max_flows = 256, .close_grace_ns = GRACE, .stuck_rate = 10 };
	struct flow_table_stats st;
	struct flow_table *t;

	cfg.stuck_ns[SF_TCP_SYN_SENT] = 1 * SEC;
	t = table_cfg(&cfg);
	for (__u64 i = 0; i < 100; i++)
		feed(t, ev(0x300 + i, 1, 1, SF_TCP_CLOSE, SF_TCP_SYN_SENT));
	flow_table__advance(t, 2 * SEC);
	flow_table__stats(t, &st);
	EXPECT(count_type(SF_REC_STUCK) == 10);
	EXPECT(st.stuck_total == 100);
	EXPECT(st.stuck_suppressed == 90);
	EXPECT(st.stuck_by_state[SF_TCP_SYN_SENT] == 100);
	/* the unreported ones resolve silently */
	for (__u64 i = 0; i < 100; i++)
		feed(t, ev(0x300 + i, 1, 3 * SEC, SF_TCP_SYN_SENT, SF_TCP_CLOSE));
	EXPECT(count_type(SF_REC_RESOLVED) == 10);
	flow_table__free(t);
}

static struct pileup_event pevs[16];
static int npev;

static void pile_sink(void *ctx, const struct pileup_event *e)
{
	(void)ctx;
	if (npev < 16)
		pevs[npev++] = *e;
}

/* CLOSE_WAIT per process, fed by the flow table */
static void test_pileup_close_wait(void)
{
	__u32 thr[PILEUP_KINDS] = { [PILEUP_CLOSE_WAIT_PROCESS] = 3 };
	struct pileup *p = pileup__new(thr, pile_sink, NULL);
	struct flow_table_config cfg = { .max_flows = 64, .close_grace_ns = GRACE, .pileups = p };
	struct flow_table *t = table_cfg(&cfg);

	npev = 0;
	for (__u64 i = 0; i < 4; i++) {
		feed(t, ev(0x400 + i, 1, 1, SF_TCP_LISTEN, SF_TCP_SYN_RECV));
		feed(t, ev(0x400 + i, 1, 10 + i, SF_TCP_SYN_RECV, SF_TCP_CLOSE_WAIT));
	}
	EXPECT(npev == 1);
	EXPECT(pevs[0].start && pevs[0].count == 3 && pevs[0].key->tgid == 100);
	EXPECT(!strncmp(pevs[0].comm, "curl", 4));
	/* 4 -> 3: still >= 90%; 3 -> 2: below, ends */
	feed(t, ev(0x400, 1, 20, SF_TCP_CLOSE_WAIT, SF_TCP_LAST_ACK));
	EXPECT(npev == 1);
	feed(t, ev(0x401, 1, 21, SF_TCP_CLOSE_WAIT, SF_TCP_LAST_ACK));
	EXPECT(npev == 2);
	EXPECT(!pevs[1].start && pevs[1].count == 2 && pevs[1].peak == 4);
	flow_table__free(t);
	pileup__free(p);
}

/* TIME_WAIT per remote endpoint, fed by rounds of counts */
static void test_pileup_rounds(void)
{
	__u32 thr[PILEUP_KINDS] = { [PILEUP_TIME_WAIT_REMOTE] = 100 };
	struct pileup *p = pileup__new(thr, pile_sink, NULL);
	struct pileup_key a = { .netns = 1, .family = 2, .port = 443 }, b = a;

	npev = 0;
	b.port = 80;
	pileup__begin_round(p, PILEUP_TIME_WAIT_REMOTE);
	pileup__set(p, PILEUP_TIME_WAIT_REMOTE, &a, 150, 1);
	pileup__set(p, PILEUP_TIME_WAIT_REMOTE, &b, 99, 1);
	pileup__end_round(p, PILEUP_TIME_WAIT_REMOTE, 1);
	EXPECT(npev == 1 && pevs[0].key->port == 443 && pevs[0].start);
	EXPECT(pileup__active(p, PILEUP_TIME_WAIT_REMOTE) == 1);
	/* a absent from the next round: back to 0, ends */
	pileup__begin_round(p, PILEUP_TIME_WAIT_REMOTE);
	pileup__set(p, PILEUP_TIME_WAIT_REMOTE, &b, 120, 2);
	pileup__end_round(p, PILEUP_TIME_WAIT_REMOTE, 2);
	EXPECT(npev == 3);
	EXPECT(pevs[1].key->port == 80 && pevs[1].start);
	EXPECT(!pevs[2].start && pevs[2].count == 0 && pevs[2].since == 1);
	pileup__free(p);
}

/* A socket from the start-up snapshot, joined by its first event's cookie;
 * stuck with an age that is only a lower bound. */
static void test_snapshot_join(void)
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
static void test_reconcile_vanish(void)
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


/* a segment event; out: sent by the client (10.0.0.1:lport -> 10.0.0.2:80) */
static struct synfin_event seg(__u64 ts, __u16 lport, bool from_client, bool egress, __u8 flags, __u32 seq,
			       __u32 ack)
{
	struct synfin_event e = { .ts_ns = ts, .version = SYNFIN_EVENT_VERSION, .kind = SF_EV_SEGMENT,
				  .family = 2, .netns = 4026531840u };
	__u8 c[16] = { 10, 0, 0, 1 }, sv[16] = { 10, 0, 0, 2 };

	memcpy(e.saddr, from_client ? c : sv, 16);
	memcpy(e.daddr, from_client ? sv : c, 16);
	e.sport = from_client ? lport : 80;
	e.dport = from_client ? 80 : lport;
	e.seg.seq = seq;
	e.seg.ack = ack;
	e.seg.tcp_flags = flags;
	e.seg.dir = egress ? SF_DIR_EGRESS : SF_DIR_INGRESS;
	return e;
}

/* a listener on 10.0.0.2:port; its start record is not counted */
static void listen_on(struct flow_table *t, __u16 port, __u64 ts)
{
	struct synfin_event l = ev(0x5000 + port, ts, ts, SF_TCP_CLOSE, SF_TCP_LISTEN);

	l.sport = port;
	l.dport = 0;
	memcpy(l.saddr, (__u8[16]){ 10, 0, 0, 2 }, 16);
	memset(l.daddr, 0, 16);
	feed(t, l);
	nrec = 0;
}

#define F_FIN 0x01
#define F_SYN 0x02
#define F_RST 0x04
#define F_ACK 0x10

static bool slot_is(const struct sf_segs *g, int slot, bool out, __u32 seq, __u32 ack)
{
	return g && (g->have & (1u << slot)) && g->slot[slot].out == out && g->slot[slot].seq == seq &&
	       g->slot[slot].ack == ack;
}

static struct sf_segs segs_seen[MAXREC];

static void seg_sink(void *ctx, const struct sf_record *r)
{
	if (nrec < MAXREC && r->segs)
		segs_seen[nrec] = *r->segs;
	else if (nrec < MAXREC)
		memset(&segs_seen[nrec], 0, sizeof(segs_seen[nrec]));
	sink(ctx, r);
}

/* The client's seven segments, as the seed numbers them, joined to its
 * flow although SYN and SYN-ACK come before the flow knows its port and
 * 6 and 7 after the hand-over to the time-wait socket. */
static void test_segments_client(void)
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
static void test_closing_order(void)
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
static void test_segments_server_half_open(void)
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
static void test_segments_unclaimed(void)
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


static struct tw_record tws[8];
static struct tw_key twkeys[8];
static int ntw;

static void tw_sink(void *ctx, const struct tw_record *r)
{
	(void)ctx;
	if (ntw < 8) {
		tws[ntw] = *r;
		twkeys[ntw] = *r->key;
		tws[ntw].key = &twkeys[ntw];
		ntw++;
	}
}

/* TIME_WAIT from the hand-over to each way out */
static void test_time_wait_exits(void)
{
	struct tw_table *t = tw_table__new(4, tw_sink, NULL);
	struct tw_key a = { .netns = 1, .family = 2, .lport = 5000, .rport = 80 }, b = a, c = a, d = a;
	struct tw_stats st;

	ntw = 0;
	b.lport = 5001;
	c.lport = 5002;
	d.lport = 5003;
	tw_table__enter(t, &a, 1, 1, 100, 0, SF_TCP_FIN_WAIT2, SF_SRC_EVENT);
	tw_table__enter(t, &b, 2, 2, 110, 0, SF_TCP_FIN_WAIT2, SF_SRC_EVENT);
	tw_table__enter(t, &c, 3, 3, 120, 0, SF_TCP_CLOSING, SF_SRC_EVENT);
	/* a: the peer's FIN, then our ACK: TIME_WAIT proper */
	EXPECT(tw_table__segment(t, &a, 0x11, false, 150));
	EXPECT(tw_table__segment(t, &a, 0x10, true, 151));
	/* b: a RST ends it */
	EXPECT(tw_table__segment(t, &b, 0x04, false, 200));
	EXPECT(ntw == 1 && tws[0].exit == TW_EXIT_RESET && tws[0].exact && tws[0].flow_id_sk == 2);
	/* c: a new connection's SYN takes the tuple; the SYN is not ours */
	EXPECT(!tw_table__segment(t, &c, 0x02, true, 300));
	EXPECT(ntw == 2 && tws[1].exit == TW_EXIT_REUSED && tws[1].from == SF_TCP_CLOSING);
	/* a: expires with the kernel's list; d was never handed over */
	tw_table__round_begin(t);
	tw_table__seen(t, &d, 400);
	tw_table__round_end(t, 400);
	EXPECT(ntw == 3 && tws[2].exit == TW_EXIT_EXPIRED && !tws[2].exact);
	/* TIME_WAIT began with the peer's FIN, not our ACK of it */
	EXPECT(tws[2].entered == 150 && tws[2].entered_src == SF_SRC_SEGMENT);
	EXPECT(tws[2].handoff == 100 && tws[2].exited == 400);
	tw_table__stats(t, &st);
	EXPECT(st.now == 1 && st.discovered == 1 && st.kernel == 1);
	/* without rounds, the clock: 2*MSL after TIME_WAIT began */
	tw_table__advance(t, 400 + TW_LINUX_TIMEOUT_NS + 1000000000ULL, false);
	EXPECT(ntw == 4 && tws[3].exit == TW_EXIT_EXPIRED && tws[3].pre_existing);
	EXPECT(tws[3].exited == 400 + TW_LINUX_TIMEOUT_NS);
	tw_table__free(t);
}

/* full tracker: the oldest is reported as untracked, never silently lost */
static void test_time_wait_bounded(void)
{
	struct tw_table *t = tw_table__new(2, tw_sink, NULL);
	struct tw_key k = { .netns = 1, .family = 2, .rport = 80 };

	ntw = 0;
	for (int i = 0; i < 3; i++) {
		k.lport = 6000 + i;
		tw_table__enter(t, &k, i, i, 10 + i, 0, SF_TCP_FIN_WAIT2, SF_SRC_EVENT);
	}
	EXPECT(ntw == 1 && tws[0].exit == TW_EXIT_EVICTED && tws[0].key->lport == 6000);
	tw_table__free(t);
}

/* the flow table hands an active closer's socket to the tracker */
static void test_time_wait_from_flow(void)
{
	struct flow_table_config cfg = { .max_flows = 64, .close_grace_ns = GRACE, .max_time_wait = 16 };
	struct flow_table *t;
	struct tw_stats st;

	t = table_cfg(&cfg);
	client_seed(t, 0xe5, 0);
	flow_table__flush(t);
	flow_table__tw_stats(t, &st);
	EXPECT(nrec == 1 && st.now == 1 && st.tracked == 1);
	/* the same tuple connects again: the time-wait socket was reused */
	feed(t, ev(0xe5, 50000, 50000, SF_TCP_CLOSE, SF_TCP_SYN_SENT));
	flow_table__tw_stats(t, &st);
	EXPECT(st.now == 0 && st.exits[TW_EXIT_REUSED] == 1);
	EXPECT(nrec == 2 && recs[1].type == SF_REC_TIME_WAIT);
	flow_table__free(t);
}


/* ---- FIN_WAIT_2 after the hand-over to a time-wait socket ---------------
 * The active closer's socket is replaced by a time-wait socket as soon as
 * it reaches FIN_WAIT_2 (an orphan: close() was called). FIN_WAIT_2 ends,
 * and TIME_WAIT begins, when the peer's FIN arrives, whatever shows it. */

#define SEC 1000000000ULL

/* a client (local port lp) up to the hand-over at t0 + 3 ms; its FIN (seq
 * 1001) is acknowledged at t0 + 2 ms; with segs, as captured */
static void client_to_handover(struct flow_table *t, __u64 sk, __u64 t0, bool segs)
{
	const __u16 lp = 40000 + (sk & 0xff);

	feed(t, ev(sk, t0, t0, SF_TCP_CLOSE, SF_TCP_SYN_SENT));
	feed(t, ev(sk, t0, t0 + 100000, SF_TCP_SYN_SENT, SF_TCP_ESTABLISHED));
	feed(t, ev(sk, t0, t0 + 1000000, SF_TCP_ESTABLISHED, SF_TCP_FIN_WAIT1));
	if (segs) {
		feed(t, seg(t0 + 1000001, lp, true, true, F_FIN | F_ACK, 1001, 5001));
		feed(t, seg(t0 + 1999999, lp, false, false, F_ACK, 5001, 1002));
	}
	feed(t, ev(sk, t0, t0 + 2000000, SF_TCP_FIN_WAIT1, SF_TCP_FIN_WAIT2));
	feed(t, handover(sk, t0, t0 + 2000022));
}

/* The case of the report: the peer's FIN 57.6 ms after the ACK of ours. */
static void test_handover_peer_fin_later(void)
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
static void test_handover_rounds_only(void)
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
static void test_handover_fin_wait2_timeout(void)
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
static void test_handover_unseen(void)
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
static void test_handover_assumed_and_reset(void)
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
static void test_handover_round_then_backlog(void)
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
static void test_handover_old_recordings(void)
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

/* ---- truth after loss ----------------------------------------------------
 * Events lost (ring full, daemon stalled): the kernel's list, read every
 * round, settles what the table believes. */

/* the kernel's view of a flow made by ev(sk, ...): its tuple, state */
static struct sf_snapshot_sock listed_as(__u64 sk, __u8 state)
{
	struct sf_snapshot_sock s = { .cookie = 0x1000 + sk, .netns = 4026531840u, .family = 2,
				      .state = state, .sport = 40000 + (sk & 0xff), .dport = 80 };

	s.saddr[0] = 10, s.saddr[3] = 1;
	s.daddr[0] = 10, s.daddr[3] = 2;
	return s;
}

static void test_ghost_flows(void)
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
static void test_snapshot_after_attach(void)
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

/* A SYN flood: half-open tracking is capped per listener, and counted;
 * a SYN to a port nobody listens on is not a half-open connection. */
static void test_half_open_cap(void)
{
	struct flow_table_config cfg = { .max_flows = 64, .close_grace_ns = GRACE, .max_half_open = 3 };
	struct flow_table_stats st;
	struct flow_table *t;

	nrec = 0;
	t = flow_table__new(&cfg, seg_sink, NULL);
	listen_on(t, 80, 1);
	for (int i = 0; i < 10; i++)
		feed(t, seg(10 + i, 42000 + i, true, false, F_SYN, 1, 0));
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


/* A half-open request reported gone, whose child then shows up before
 * the record is out: no double release, counters back to zero. */
static void test_request_gone_then_adopted(void)
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
	e = ev(0x92, 30, 30, SF_TCP_LISTEN, SF_TCP_SYN_RECV);
	e.sport = 80;
	e.dport = cp;
	memcpy(e.saddr, (__u8[16]){ 10, 0, 0, 2 }, 16);
	memcpy(e.daddr, (__u8[16]){ 10, 0, 0, 1 }, 16);
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

/* listen() without bind(): LISTEN comes with port 0, the port later; the
 * listener index follows, and many of them churn without a loop. */
static void test_listener_port_learnt_late(void)
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

/* A full table reports a finished flow early rather than evict a live one. */
static void test_eviction_prefers_closed(void)
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

/* A dual-stack socket's IPv4 connection: v4-mapped on the socket, plain
 * IPv4 on the wire; its segments still join it. */
static void test_segments_v4_mapped(void)
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

static const char *escaped(const char *in, size_t n)
{
	static struct json j;

	json__reset(&j);
	json__strn(&j, NULL, in, n);
	json__newline(&j);
	j.buf[j.len - 1] = 0;
	return j.buf;
}

/* ---- the per-CPU ring consumer, over rings in plain memory ---- */

#define RB_SIZE 4096
static __u64 ring_seen[16];
static __u32 ring_len[16];
static int ring_n;
static bool ring_intact;

static void ring_fn(void *ctx, const void *data, size_t size)
{
	const __u8 *d = data;

	(void)ctx;
	if (ring_n < 16) {
		memcpy(&ring_seen[ring_n], d, 8);
		ring_len[ring_n] = (__u32)size;
		/* every byte after the timestamp is (timestamp + offset) */
		for (size_t i = 8; i < size; i++)
			if (d[i] != (__u8)(ring_seen[ring_n] + i))
				ring_intact = false;
	}
	ring_n++;
}

/* a record of len bytes (>= 8) with timestamp ts at producer position *prod */
static void ring_put(__u8 *data, uint64_t *prod, __u64 ts, __u32 len, __u32 hdr_bits)
{
	__u32 hdr[2] = { len | hdr_bits, 0 };
	uint64_t at = *prod;

	memcpy(data + (at & (RB_SIZE - 1)), hdr, 8);
	for (__u32 i = 0; i < len; i++) {
		__u8 b = i < 8 ? ((const __u8 *)&ts)[i] : (__u8)(ts + i);

		data[(at + 8 + i) & (RB_SIZE - 1)] = b;
	}
	*prod = at + ((len + 8 + 7) & ~7u);
}

/* Two CPUs' rings come out as one stream in time order; a record that
 * runs past the end of the data area arrives whole; a discarded one is
 * skipped, a busy one (still being written) ends its ring's turn; what
 * was read is given back to the producers. */
static void test_ring_merge(void)
{
	static __u8 d0[RB_SIZE], d1[RB_SIZE];
	uint64_t c0 = RB_SIZE - 64, p0 = RB_SIZE - 64, c1 = 0, p1 = 0, busy_at;
	uint64_t *cons[2] = { &c0, &c1 };
	const uint64_t *prod[2] = { &p0, &p1 };
	const __u8 *data[2] = { d0, d1 };
	struct rings *rs;
	bool ok = true;

	ring_n = 0;
	ring_intact = true;
	ring_put(d0, &p0, 10, 120, 0);	/* wraps: 64 bytes left at the end */
	ring_put(d0, &p0, 30, 120, 0);
	ring_put(d0, &p0, 35, 120, 1u << 30); /* discarded */
	ring_put(d0, &p0, 50, 16, 0);
	ring_put(d1, &p1, 20, 120, 0);
	ring_put(d1, &p1, 40, 120, 0);
	busy_at = p1;
	ring_put(d1, &p1, 45, 120, 1u << 31); /* busy */
	ring_put(d1, &p1, 60, 120, 0);
	EXPECT(rings__open_memory(&rs, 2, RB_SIZE, cons, prod, data) == 0);
	EXPECT(rings__poll(rs, 100, 1000, ring_fn, NULL) == 5);
	EXPECT(ring_n == 5);
	for (int i = 0; i < 5 && i < ring_n; i++)
		if (ring_seen[i] != (__u64[]){ 10, 20, 30, 40, 50 }[i])
			ok = false;
	EXPECT(ok);
	EXPECT(ring_len[0] == 120 && ring_len[4] == 16);
	EXPECT(ring_intact);
	EXPECT(c0 == p0 && c1 == busy_at);
	/* the busy record is done: the rest comes on the next poll */
	d1[busy_at & (RB_SIZE - 1)] = 120;
	d1[(busy_at & (RB_SIZE - 1)) + 3] = 0;
	EXPECT(rings__poll(rs, 0, 1000, ring_fn, NULL) == 2);
	EXPECT(ring_n == 7 && ring_seen[5] == 45 && ring_seen[6] == 60 && c1 == p1);
	/* a budget stops it, and it carries on from there */
	ring_put(d0, &p0, 70, 120, 0);
	ring_put(d0, &p0, 80, 120, 0);
	EXPECT(rings__poll(rs, 0, 1, ring_fn, NULL) == 1);
	EXPECT(rings__poll(rs, 0, 5, ring_fn, NULL) == 1);
	EXPECT(ring_n == 9 && ring_seen[8] == 80 && ring_intact);
	rings__close(rs);
}

static void test_json_escaping(void)
{
	EXPECT_STR(escaped("plain", 5), "\"plain\"");
	EXPECT_STR(escaped("a\"b\\c", 5), "\"a\\\"b\\\\c\"");
	EXPECT_STR(escaped("\x01\n\t\x7f", 4), "\"\\u0001\\n\\t\\u007f\"");
	EXPECT_STR(escaped("\xff", 1), "\"\\ufffd\"");
	EXPECT_STR(escaped("caf\xc3\xa9", 5), "\"caf\xc3\xa9\"");		/* valid UTF-8 kept */
	EXPECT_STR(escaped("\xc3", 1), "\"\\ufffd\"");			/* truncated sequence */
	EXPECT_STR(escaped("\xc0\xaf", 2), "\"\\ufffd\\ufffd\"");		/* overlong '/' */
	EXPECT_STR(escaped("\xed\xa0\x80", 3), "\"\\ufffd\\ufffd\\ufffd\""); /* surrogate */
	EXPECT_STR(escaped("\xf0\x9f\x98\x80", 4), "\"\xf0\x9f\x98\x80\"");
}

static void test_json_record(void)
{
	struct flow_table *t = table(16);
	struct sf_clock clk = { .mono_to_real_ns = 1764000000000000000LL };
	struct sf_record r = { .type = SF_REC_FLOW };
	struct json j = {};

	client_seed(t, 0xe4, 0);
	flow_table__flush(t);
	EXPECT(nrec == 1);
	memcpy(recs[0].flow.comm, "x\"y\\\x01\xff", 7);
	r.flow = &recs[0].flow;
	r.sum = &recs[0].sum;
	record_json__record(&j, &r, &clk);
	EXPECT(j.len > 0 && j.buf[j.len - 1] == '\n');
	j.buf[j.len - 1] = 0;
	EXPECT(strstr(j.buf, "\"comm\":\"x\\\"y\\\\\\u0001\\ufffd\"") != NULL);
	EXPECT(strstr(j.buf, "\"local\":{\"address\":\"10.0.0.1\",\"port\":40228}") != NULL);
	EXPECT(strstr(j.buf, "\"path\":\"CLOSED>SYN_SENT>ESTABLISHED>FIN_WAIT_1>FIN_WAIT_2>TIME_WAIT\"") != NULL);
	EXPECT(strstr(j.buf, "\"durations_us\":{") != NULL);
	EXPECT(strstr(j.buf, "\"time\":\"2025-11-24T16:00:00.000012Z\"") != NULL);
	EXPECT(strchr(j.buf, '\n') == NULL);
	json__free(&j);
	flow_table__free(t);
}

static void test_record_file(void)
{
	char path[] = "/tmp/synfin-unit.XXXXXX";
	struct synfin_event e = ev(1, 1, 1, SF_TCP_CLOSE, SF_TCP_SYN_SENT), back;
	char err[256];
	int64_t off = 0;
	uint32_t flags = 0;
	FILE *f;
	int fd = mkstemp(path);

	EXPECT(fd >= 0);
	close(fd);
	EXPECT(recorder__open(&f, path, 42, SF_REC_F_LO_EGRESS_ONLY) == 0);
	EXPECT(recorder__write(f, &e) == 0);
	EXPECT(recorder__write(f, &e) == 0);
	fwrite(&e, 10, 1, f); /* a torn last event */
	fclose(f);

	EXPECT(replay__open(&f, path, &off, &flags, err, sizeof(err)) == 0);
	EXPECT(off == 42 && flags == SF_REC_F_LO_EGRESS_ONLY);
	EXPECT(replay__next(f, &back, 0, err, sizeof(err)) == 1);
	EXPECT(memcmp(&back, &e, sizeof(e)) == 0);
	EXPECT(replay__next(f, &back, 1, err, sizeof(err)) == 1);
	EXPECT(replay__next(f, &back, 2, err, sizeof(err)) == -EINVAL);
	EXPECT(strstr(err, "truncated") != NULL);
	fclose(f);

	f = fopen(path, "w");
	fputs("this is not a recording, just some garbage text...", f);
	fclose(f);
	EXPECT(replay__open(&f, path, &off, &flags, err, sizeof(err)) == -EINVAL);
	EXPECT(strstr(err, "not a synfin recording") != NULL);
	unlink(path);
}

#define RUN(fn)                                   \
	do {                                      \
		cur_test = #fn + 5;               \
		cur_failed = false;               \
		fn();                             \
		if (cur_failed) {                 \
			failures++;               \
		} else {                          \
			passes++;                 \
			printf("PASS %s\n", cur_test); \
		}                                 \
	} while (0)

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	RUN(test_client_seed_path);
	RUN(test_server_seed_path);
	RUN(test_listener_records);
	RUN(test_simultaneous_close);
	RUN(test_fin_wait1_to_time_wait);
	RUN(test_reset_received);
	RUN(test_reset_sent_after_close);
	RUN(test_refused);
	RUN(test_syn_timeout);
	RUN(test_unreachable_and_aborted);
	RUN(test_out_of_order);
	RUN(test_duplicates);
	RUN(test_missing_events);
	RUN(test_pre_existing);
	RUN(test_address_reuse);
	RUN(test_late_event);
	RUN(test_eviction);
	RUN(test_decode_errors);
	RUN(test_tuple_learnt_late);
	RUN(test_owner_update);
	RUN(test_stats_by_state);
	RUN(test_churn);
	RUN(test_stuck_and_resolved);
	RUN(test_stuck_order_and_close);
	RUN(test_stuck_rate_limit);
	RUN(test_pileup_close_wait);
	RUN(test_pileup_rounds);
	RUN(test_snapshot_join);
	RUN(test_reconcile_vanish);
	RUN(test_segments_client);
	RUN(test_closing_order);
	RUN(test_segments_server_half_open);
	RUN(test_segments_unclaimed);
	RUN(test_time_wait_exits);
	RUN(test_time_wait_bounded);
	RUN(test_time_wait_from_flow);
	RUN(test_handover_peer_fin_later);
	RUN(test_handover_rounds_only);
	RUN(test_handover_fin_wait2_timeout);
	RUN(test_handover_unseen);
	RUN(test_handover_assumed_and_reset);
	RUN(test_handover_round_then_backlog);
	RUN(test_handover_old_recordings);
	RUN(test_ghost_flows);
	RUN(test_snapshot_after_attach);
	RUN(test_half_open_cap);
	RUN(test_request_gone_then_adopted);
	RUN(test_listener_port_learnt_late);
	RUN(test_eviction_prefers_closed);
	RUN(test_segments_v4_mapped);
	RUN(test_ring_merge);
	RUN(test_json_escaping);
	RUN(test_json_record);
	RUN(test_record_file);
	printf("unit: %d passed, %d failed\n", passes, failures);
	return failures ? 1 : 0;
}
