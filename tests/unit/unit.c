// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The unit test runner and the helpers the tests share: synthetic events,
 * a flow table whose records land in recs[], segments as captured.
 * Prints PASS/FAIL per test and "unit: N passed, N failed" at the end.
 */
#include "unit.h"

const char *unit_cur;
bool unit_failed;
struct got recs[MAXREC];
int nrec;
struct sf_segs segs_seen[MAXREC];

void sink(void *ctx, const struct sf_record *r)
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

struct flow_table *table_cfg(struct flow_table_config *cfg)
{
	nrec = 0;
	memset(recs, 0, sizeof(recs));
	return flow_table__new(cfg, sink, NULL);
}

struct flow_table *table(__u32 max)
{
	struct flow_table_config cfg = { .max_flows = max, .close_grace_ns = GRACE };

	nrec = 0;
	memset(recs, 0, sizeof(recs));
	return flow_table__new(&cfg, sink, NULL);
}

/* one event; ports: local 40000 + (sk & 0xff), remote 80 */
struct synfin_event ev(__u64 sk, __u64 gen, __u64 ts, __u8 old, __u8 new)
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
struct synfin_event handover(__u64 sk, __u64 gen, __u64 ts)
{
	struct synfin_event e = ev(sk, gen, ts, SF_TCP_FIN_WAIT2, SF_TCP_CLOSE);

	e.flags = SF_F_CLOSE_INFO;
	return e;
}

struct synfin_event ctl(__u64 sk, __u64 gen, __u64 ts, __u8 kind, __u8 state)
{
	struct synfin_event e = ev(sk, gen, ts, state, state);

	e.kind = kind;
	e.flags = 0;
	return e;
}

void feed(struct flow_table *t, struct synfin_event e)
{
	flow_table__ingest(t, &e);
}

void path_of(const struct sf_summary *s, char *buf, size_t len)
{
	buf[0] = 0;
	for (int i = 0; i < s->path_len; i++) {
		if (i)
			strncat(buf, ">", len - strlen(buf) - 1);
		strncat(buf, sf_state_name(s->path[i]), len - strlen(buf) - 1);
	}
}

const char *path(int i)
{
	static char buf[256];

	path_of(&recs[i].sum, buf, sizeof(buf));
	return buf;
}

bool partial(int i)
{
	return (recs[i].flow.partial & (SF_PART_MID_FLOW | SF_PART_MISSED | SF_PART_EVICTED)) ||
	       recs[i].sum.gap;
}

/* a full client lifecycle as the seed describes it, ending at t0+12000 */
void client_seed(struct flow_table *t, __u64 sk, __u64 t0)
{
	feed(t, ev(sk, t0 + 1000, t0 + 1000, SF_TCP_CLOSE, SF_TCP_SYN_SENT));
	feed(t, ev(sk, t0 + 1000, t0 + 2000, SF_TCP_SYN_SENT, SF_TCP_ESTABLISHED));
	feed(t, ev(sk, t0 + 1000, t0 + 10000, SF_TCP_ESTABLISHED, SF_TCP_FIN_WAIT1));
	feed(t, ev(sk, t0 + 1000, t0 + 11000, SF_TCP_FIN_WAIT1, SF_TCP_FIN_WAIT2));
	feed(t, ev(sk, t0 + 1000, t0 + 12000, SF_TCP_FIN_WAIT2, SF_TCP_CLOSE));
}

int count_type(enum sf_record_type type)
{
	int n = 0;

	for (int i = 0; i < nrec; i++)
		n += recs[i].type == type;
	return n;
}

int find_type(enum sf_record_type type, __u64 sk)
{
	for (int i = 0; i < nrec; i++)
		if (recs[i].type == type && recs[i].flow.sk == sk)
			return i;
	return -1;
}

/* a segment event; out: sent by the client (10.0.0.1:lport -> 10.0.0.2:80) */
struct synfin_event seg(__u64 ts, __u16 lport, bool from_client, bool egress, __u8 flags, __u32 seq,
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

/* an event of a server child on 10.0.0.2:80, its peer 10.0.0.1:cp */
struct synfin_event server_ev(__u64 sk, __u64 gen, __u64 ts, __u16 cp, __u8 old, __u8 new)
{
	struct synfin_event e = ev(sk, gen, ts, old, new);

	e.sport = 80;
	e.dport = cp;
	memcpy(e.saddr, (__u8[16]){ 10, 0, 0, 2 }, 16);
	memcpy(e.daddr, (__u8[16]){ 10, 0, 0, 1 }, 16);
	return e;
}

/* a listener on 10.0.0.2:port; its start record is not counted */
void listen_on(struct flow_table *t, __u16 port, __u64 ts)
{
	struct synfin_event l = ev(0x5000 + port, ts, ts, SF_TCP_CLOSE, SF_TCP_LISTEN);

	l.sport = port;
	l.dport = 0;
	memcpy(l.saddr, (__u8[16]){ 10, 0, 0, 2 }, 16);
	memset(l.daddr, 0, 16);
	feed(t, l);
	nrec = 0;
}

/* a table (seg_sink) with a listener on 10.0.0.2:80 and n SYNs at it,
 * from ports 42000 + i at times 10 + i */
struct flow_table *syns_at_listener(const struct flow_table_config *cfg, int n)
{
	struct flow_table *t = flow_table__new(cfg, seg_sink, NULL);

	nrec = 0;
	listen_on(t, 80, 1);
	for (int i = 0; i < n; i++)
		feed(t, seg(10 + i, 42000 + i, true, false, F_SYN, 1, 0));
	return t;
}

bool slot_is(const struct sf_segs *g, int slot, bool out, __u32 seq, __u32 ack)
{
	return g && (g->have & (1u << slot)) && g->slot[slot].out == out && g->slot[slot].seq == seq &&
	       g->slot[slot].ack == ack;
}

void seg_sink(void *ctx, const struct sf_record *r)
{
	if (nrec < MAXREC && r->segs)
		segs_seen[nrec] = *r->segs;
	else if (nrec < MAXREC)
		memset(&segs_seen[nrec], 0, sizeof(segs_seen[nrec]));
	sink(ctx, r);
}

/* a client (local port lp) up to the hand-over at t0 + 3 ms; its FIN (seq
 * 1001) is acknowledged at t0 + 2 ms; with segs, as captured */
void client_to_handover(struct flow_table *t, __u64 sk, __u64 t0, bool segs)
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

/* the kernel's view of a flow made by ev(sk, ...): its tuple, state */
struct sf_snapshot_sock listed_as(__u64 sk, __u8 state)
{
	struct sf_snapshot_sock s = { .cookie = 0x1000 + sk, .netns = 4026531840u, .family = 2,
				      .state = state, .sport = 40000 + (sk & 0xff), .dport = 80 };

	s.saddr[0] = 10, s.saddr[3] = 1;
	s.daddr[0] = 10, s.daddr[3] = 2;
	return s;
}

/* the TEST() entries of every file linked in (no list to keep) */
extern const struct unit_test __start_sf_unit_tests[], __stop_sf_unit_tests[];

int main(void)
{
	int passes = 0, failures = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	for (const struct unit_test *t = __start_sf_unit_tests; t < __stop_sf_unit_tests; t++) {
		unit_cur = t->name;
		unit_failed = false;
		t->fn();
		if (unit_failed) {
			failures++;
		} else {
			passes++;
			printf("PASS %s\n", unit_cur);
		}
	}
	printf("unit: %d passed, %d failed\n", passes, failures);
	return failures || !passes ? 1 : 0;
}
