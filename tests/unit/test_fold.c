// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * A server child's LISTEN -> SYN_RECV folded into its next record
 * (SF_F_BIRTH_FOLDED): the daemon must write, byte for byte, the records
 * the unfolded stream gives.
 */
#include "unit.h"

static struct json out;

/* every record as JSON, in order, and in recs[] too */
static void json_sink(void *ctx, const struct sf_record *r)
{
	static const struct sf_clock clk = { .mono_to_real_ns = 1764000000000000000LL };

	record_json__record(&out, r, &clk);
	sink(ctx, r);
}

static struct flow_table *json_table(__u64 stuck_syn_recv_ns)
{
	struct flow_table_config cfg = { .max_flows = 64, .close_grace_ns = GRACE };

	cfg.stuck_ns[SF_TCP_SYN_RECV] = stuck_syn_recv_ns;
	json__reset(&out);
	nrec = 0;
	memset(recs, 0, sizeof(recs));
	return flow_table__new(&cfg, json_sink, NULL);
}

/* an event of the server side, 10.0.0.2:80 <- 10.0.0.1:cp */
static struct synfin_event srv(__u64 gen, __u64 ts, __u8 old, __u8 new, __u16 cp)
{
	struct synfin_event e = ev(0x91, gen, ts, old, new);

	e.sport = 80;
	e.dport = cp;
	e.owner_src = SF_OWNER_LISTENER;
	memcpy(e.saddr, (__u8[16]){ 10, 0, 0, 2 }, 16);
	memcpy(e.daddr, (__u8[16]){ 10, 0, 0, 1 }, 16);
	return e;
}

enum shape {
	SHAPE_FULL,		/* segments, established, closed by the peer */
	SHAPE_NO_SEGMENTS,	/* no packet hooks: state events only */
	SHAPE_RESET,		/* reset before ESTABLISHED: a control record carries it */
	SHAPE_DIES,		/* SYN_RECV -> CLOSE carries it */
	SHAPE_LATE,		/* a later record of the child (another CPU) came first */
	SHAPE_TWICE,		/* every record of the child delivered twice */
};

/* One connection to a listener on :80, as BPF sends it with (fold) or
 * without the child's birth folded; everything the table wrote, as JSON. */
static char *run(enum shape shape, bool fold, struct flow_table_stats *st)
{
	struct flow_table *t = json_table(0);
	const __u16 cp = 40123;
	const __u64 gen = 31;
	struct synfin_event l = ev(0x5050, 1, 1, SF_TCP_CLOSE, SF_TCP_LISTEN);
	struct synfin_event kid[8];
	int n = 0;
	char *s;

	l.sport = 80;
	l.dport = 0;
	l.owner_src = SF_OWNER_LISTEN;
	memcpy(l.saddr, (__u8[16]){ 10, 0, 0, 2 }, 16);
	memset(l.daddr, 0, 16);
	feed(t, l);
	if (shape != SHAPE_NO_SEGMENTS) {
		feed(t, seg(10, cp, true, false, F_SYN, 1000, 0));
		feed(t, seg(12, cp, false, true, F_SYN | F_ACK, 7000, 1001));
		feed(t, seg(30, cp, true, false, F_ACK, 1001, 7001));
	}
	kid[n++] = srv(gen, gen, SF_TCP_LISTEN, SF_TCP_SYN_RECV, cp);
	switch (shape) {
	case SHAPE_RESET:
		kid[n++] = ctl(0x91, gen, 32, SF_EV_RESET_SENT, SF_TCP_SYN_RECV);
		kid[n - 1].sport = 80, kid[n - 1].dport = cp;
		kid[n - 1].owner_src = SF_OWNER_LISTENER;
		memcpy(kid[n - 1].saddr, kid[0].saddr, 32);
		kid[n++] = srv(gen, 33, SF_TCP_SYN_RECV, SF_TCP_CLOSE, cp);
		kid[n - 1].sk_err = ECONNRESET;
		break;
	case SHAPE_DIES:
		kid[n++] = srv(gen, 32, SF_TCP_SYN_RECV, SF_TCP_CLOSE, cp);
		break;
	default:
		kid[n++] = srv(gen, 32, SF_TCP_SYN_RECV, SF_TCP_ESTABLISHED, cp);
		kid[n++] = srv(gen, 50, SF_TCP_ESTABLISHED, SF_TCP_CLOSE_WAIT, cp);
		kid[n - 1].owner_src = SF_OWNER_ACCEPT;
		kid[n++] = srv(gen, 60, SF_TCP_CLOSE_WAIT, SF_TCP_LAST_ACK, cp);
		kid[n - 1].owner_src = SF_OWNER_ACCEPT;
		kid[n++] = srv(gen, 70, SF_TCP_LAST_ACK, SF_TCP_CLOSE, cp);
		kid[n - 1].owner_src = SF_OWNER_ACCEPT;
		break;
	}
	if (shape == SHAPE_LATE) {
		/* CLOSE_WAIT first; the unfolded stream's birth and
		 * ESTABLISHED after it, the folded one's ESTABLISHED */
		struct synfin_event cw = kid[2];

		kid[2] = kid[1];
		kid[1] = kid[0];
		kid[0] = cw;
	}
	for (int i = 0; i < n; i++) {
		struct synfin_event e = kid[i];
		bool birth = e.oldstate == SF_TCP_LISTEN;

		if (fold && birth)
			continue;
		/* the next record after the birth carries it */
		if (fold && i > 0 && kid[i - 1].oldstate == SF_TCP_LISTEN)
			e.flags |= SF_F_BIRTH_FOLDED;
		if (shape != SHAPE_NO_SEGMENTS && e.newstate == SF_TCP_CLOSE_WAIT)
			feed(t, seg(49, cp, true, false, F_FIN | F_ACK, 1001, 7001));
		if (shape != SHAPE_NO_SEGMENTS && e.newstate == SF_TCP_LAST_ACK)
			feed(t, seg(61, cp, false, true, F_FIN | F_ACK, 7001, 1002));
		if (shape != SHAPE_NO_SEGMENTS && e.oldstate == SF_TCP_LAST_ACK)
			feed(t, seg(69, cp, true, false, F_ACK, 1002, 7002));
		feed(t, e);
		if (shape == SHAPE_TWICE)
			feed(t, e);
	}
	l.oldstate = SF_TCP_LISTEN;
	l.newstate = SF_TCP_CLOSE;
	l.ts_ns = 100;
	l.flags = 0;
	feed(t, l);
	flow_table__flush(t);
	flow_table__stats(t, st);
	flow_table__free(t);
	/* the JSON buffer is not a string: no NUL after it */
	s = malloc(out.len + 1);
	if (s) {
		memcpy(s, out.buf ? out.buf : "", out.len);
		s[out.len] = 0;
	}
	return s;
}

static int check_same(enum shape shape, const char *want_path)
{
	struct flow_table_stats a, b;
	char *unfolded = run(shape, false, &a);
	char *folded = run(shape, true, &b);
	int srv_rec = -1;
	int ok = 0;

	for (int i = 0; i < nrec; i++)
		if (recs[i].type == SF_REC_FLOW && recs[i].flow.sk == 0x91)
			srv_rec = i;
	if (!unfolded || !folded || !*folded)
		printf("FAIL %s: shape %d: no output\n", unit_cur, shape);
	else if (strcmp(unfolded, folded))
		printf("FAIL %s: shape %d: output differs\n--- unfolded\n%s--- folded\n%s", unit_cur, shape, unfolded,
		       folded);
	else if (srv_rec < 0 || strcmp(path(srv_rec), want_path))
		printf("FAIL %s: shape %d: path %s, want %s\n", unit_cur, shape, srv_rec < 0 ? "(none)" : path(srv_rec),
		       want_path);
	else if (recs[srv_rec].flow.role != SF_ROLE_SERVER || recs[srv_rec].flow.state_ts[SF_TCP_SYN_RECV] !=
								  (shape == SHAPE_NO_SEGMENTS ? 31 : 10))
		printf("FAIL %s: shape %d: role %d, SYN_RECEIVED from %llu\n", unit_cur, shape, recs[srv_rec].flow.role,
		       (unsigned long long)recs[srv_rec].flow.state_ts[SF_TCP_SYN_RECV]);
	/* one record less from the kernel; the rest counted alike */
	else if (b.events + (shape == SHAPE_TWICE ? 2 : 1) != a.events || a.duplicates != b.duplicates ||
		 a.opened[SF_ROLE_SERVER] != b.opened[SF_ROLE_SERVER] || a.half_open != b.half_open ||
		 a.orphans != b.orphans || a.decode_errors || b.decode_errors)
		printf("FAIL %s: shape %d: events %llu/%llu duplicates %llu/%llu opened %llu/%llu orphans %llu/%llu\n",
		       unit_cur, shape, (unsigned long long)a.events, (unsigned long long)b.events,
		       (unsigned long long)a.duplicates, (unsigned long long)b.duplicates,
		       (unsigned long long)a.opened[SF_ROLE_SERVER], (unsigned long long)b.opened[SF_ROLE_SERVER],
		       (unsigned long long)a.orphans, (unsigned long long)b.orphans);
	else
		ok = 1;
	free(unfolded);
	free(folded);
	json__free(&out);
	return ok;
}

TEST(fold_child_same_records)
{
	EXPECT(check_same(SHAPE_FULL, "LISTEN>SYN_RECEIVED>ESTABLISHED>CLOSE_WAIT>LAST_ACK>CLOSED"));
	/* the listener's record counts the child */
	EXPECT(recs[nrec - 1].type == SF_REC_LISTEN_STOP && recs[nrec - 1].flow.children == 1);
	EXPECT(recs[nrec - 2].sum.handshake_ns == 22); /* SYN at 10 to ESTABLISHED at 32 */
	EXPECT(!partial(nrec - 2));
}

TEST(fold_child_without_segments)
{
	/* the birth's time is the generation: SYN_RECEIVED from 31 */
	EXPECT(check_same(SHAPE_NO_SEGMENTS, "LISTEN>SYN_RECEIVED>ESTABLISHED>CLOSE_WAIT>LAST_ACK>CLOSED"));
}

TEST(fold_child_reset_and_death_in_syn_recv)
{
	EXPECT(check_same(SHAPE_RESET, "LISTEN>SYN_RECEIVED>CLOSED"));
	EXPECT(recs[nrec - 2].flow.rst_sent == SF_TCP_SYN_RECV);
	EXPECT(check_same(SHAPE_DIES, "LISTEN>SYN_RECEIVED>CLOSED"));
	EXPECT(recs[nrec - 2].sum.close == SF_CLOSE_NEVER_ESTABLISHED);
}

TEST(fold_child_out_of_order_and_duplicated)
{
	EXPECT(check_same(SHAPE_LATE, "LISTEN>SYN_RECEIVED>ESTABLISHED>CLOSE_WAIT>LAST_ACK>CLOSED"));
	EXPECT(check_same(SHAPE_TWICE, "LISTEN>SYN_RECEIVED>ESTABLISHED>CLOSE_WAIT>LAST_ACK>CLOSED"));
}

/* What BPF never sends is refused: a fold on a socket it had no entry
 * for, a birth after the record that carries it, a listener's SYN-ACK
 * retransmit (no socket of its own). */
TEST(fold_bad_records)
{
	struct flow_table *t = table(16);
	struct synfin_event e = srv(31, 32, SF_TCP_SYN_RECV, SF_TCP_ESTABLISHED, 40123);
	struct flow_table_stats st;

	e.flags = SF_F_BIRTH_FOLDED | SF_F_NO_ENTRY;
	EXPECT(flow_table__ingest(t, &e) == -EINVAL);
	e.flags = SF_F_BIRTH_FOLDED;
	e.gen = 33;
	EXPECT(flow_table__ingest(t, &e) == -EINVAL);
	e = ctl(0x91, 0, 20, SF_EV_SYNACK_RETRANS, SF_TCP_SYN_RECV);
	e.flags = SF_F_BIRTH_FOLDED;
	EXPECT(flow_table__ingest(t, &e) == -EINVAL);
	flow_table__stats(t, &st);
	EXPECT(st.decode_errors == 3 && st.open == 0);
	flow_table__free(t);
}

/* A TCP Fast Open child is born at the SYN and stays in SYN_RECV until
 * the final ACK, data flowing: BPF sends its birth as it happens (not
 * folded), so the daemon sees it there, and a stuck one is reported. */
TEST(fastopen_child_seen_in_syn_recv)
{
	struct flow_table *t = json_table(50);
	struct flow_table_stats st;

	feed(t, srv(10, 10, SF_TCP_LISTEN, SF_TCP_SYN_RECV, 40200));
	flow_table__stats(t, &st);
	EXPECT(st.open == 1 && st.by_state[SF_TCP_SYN_RECV] == 1);
	flow_table__advance(t, 100);
	EXPECT(nrec == 1 && recs[0].type == SF_REC_STUCK && recs[0].state == SF_TCP_SYN_RECV);
	nrec = 0;
	feed(t, srv(10, 400, SF_TCP_SYN_RECV, SF_TCP_ESTABLISHED, 40200));
	feed(t, srv(10, 900, SF_TCP_ESTABLISHED, SF_TCP_CLOSE_WAIT, 40200));
	feed(t, srv(10, 950, SF_TCP_CLOSE_WAIT, SF_TCP_LAST_ACK, 40200));
	feed(t, srv(10, 990, SF_TCP_LAST_ACK, SF_TCP_CLOSE, 40200));
	flow_table__flush(t);
	EXPECT(nrec == 2 && recs[0].type == SF_REC_RESOLVED && recs[1].type == SF_REC_FLOW);
	EXPECT_STR(path(1), "LISTEN>SYN_RECEIVED>ESTABLISHED>CLOSE_WAIT>LAST_ACK>CLOSED");
	EXPECT(recs[1].flow.state_ts[SF_TCP_SYN_RECV] == 10 && recs[1].flow.state_ts[SF_TCP_ESTABLISHED] == 400);
	json__free(&out);
	flow_table__free(t);
}
