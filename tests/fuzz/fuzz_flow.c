// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * libFuzzer target: the flow table driven as the daemon drives it, by a
 * program the fuzzer writes. Events (compact, so that a mutation keeps
 * them about a few sockets and tuples and they meet; or raw), the clock,
 * reconciliation rounds with the kernel's socket list, and flushes, in
 * any order. Every record is formatted as JSON and checked (flow records
 * with their segments and as digests, open flows, stats and summary
 * records too), and the flow records folded into aggregates
 * (aggregate.c); the table's counts are checked after every step
 * (fuzz_common.c).
 *
 * Input (tests/fuzz/make-corpus.py writes the same):
 *   16 bytes of settings (settings() below; missing bytes are 0)
 *   then operations, each an opcode byte (% OP_N) and its operands:
 *   OP_EVENT   a b c d e  t16  [sk_err] [comm16] [seg: fl dir seq16 ack16 len]
 *     a: sk index (bits 0-2), gen index (3-4), kind (5-7, raw: 0 and 7 invalid)
 *     b: old state (0-3), new state (4-7)   (raw: 0, 13-15 invalid)
 *     c: SF_F_* flags (0-3), owner source (4-6), bit 7: an sk_err byte follows;
 *        with SF_F_NO_ENTRY the event carries the cookie of the same index
 *        as its sk (see OP_ROUND)
 *     d: local address (0-2), remote address (3-5), family (6-7)
 *     e: local port (0-1), remote port (2-3), netns (4), comm (5-7; 7: 16 bytes follow)
 *     t16: time (see ts_of)
 *   OP_RAW     120 bytes: a struct synfin_event as is (the clock stays)
 *   OP_ADVANCE t16: the clock moves on (never back); flow_table__advance
 *   OP_ROUND   n: bit 7 complete, bits 0-3 sockets, each  a d e
 *     a: cookie index (0-2, 0: none), state (3-6), bit 7: has an inode
 *   OP_FLUSH   flow_table__flush, then what a stats and a summary interval
 *              write: the open flows, a stats record, summary records
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fuzz_common.h"
#include "pileup.h"

enum { OP_EVENT, OP_EVENT2, OP_EVENT3, OP_RAW, OP_ADVANCE, OP_ROUND, OP_FLUSH, OP_N };

struct in {
	const uint8_t *p;
	size_t n;
};

static uint8_t u8(struct in *in)
{
	if (!in->n)
		return 0;
	in->n--;
	return *in->p++;
}

static uint16_t u16(struct in *in)
{
	uint16_t v = u8(in);

	return (uint16_t)(v | u8(in) << 8);
}

static void bytes(struct in *in, void *out, size_t n)
{
	size_t k = n < in->n ? n : in->n;

	memset(out, 0, n);
	memcpy(out, in->p, k);
	in->p += k;
	in->n -= k;
}

/* what the fuzzer picks from: few enough that events meet */
static const uint8_t addrs[8][16] = {
	{ 10, 0, 0, 1 },
	{ 10, 0, 0, 2 },
	{ [10] = 0xff, [11] = 0xff, 10, 0, 0, 1 }, /* v4-mapped */
	{ [10] = 0xff, [11] = 0xff, 10, 0, 0, 2 },
	{ [15] = 1 },				   /* ::1 */
	{ 0 },					   /* any */
	{ 127, 0, 0, 1 },
	{ 0xfe, 0x80, [15] = 1 },
};
static const uint16_t ports[4] = { 0, 80, 40000, 40001 };
static const uint32_t netns[2] = { 4026531840u, 4026532999u };
static const uint16_t errnos[8] = { 0, 111 /* ECONNREFUSED */, 110 /* ETIMEDOUT */, 104 /* ECONNRESET */,
				    113 /* EHOSTUNREACH */, 32 /* EPIPE */, 101 /* ENETUNREACH */, 9999 };
static const char *const comms[7] = {
	"curl", "", "nginx", "a\"b\\c\n\t\x01", "\xff\xfe\xc3(\xe2\x82", "\xed\xa0\x80\xf4\x90\x80\x80", "0123456789abcdef",
};

struct fuzz {
	struct in in;
	struct fuzz_sink sink;
	struct flow_table_config cfg;
	uint64_t clock;
	bool started;		/* something else than the start-up round ran */
	bool rounds;		/* a reconciliation round has run */
	__u32 agg_top_n;
	uint64_t drained_at;	/* the last summary interval's end */
};

/* t16 -> a time near the clock: bits 14-15 choose the step (1 us, 1 ms,
 * 1 s, or back by 1 us), bits 0-13 how many. Events from the past are
 * reordered ones; the clock follows the newest. */
static uint64_t ts_of(struct fuzz *z, uint16_t t)
{
	static const uint64_t step[4] = { 1000, 1000000, 1000000000, 1000 };
	uint64_t d = (uint64_t)(t & 0x3fff) * step[t >> 14];

	if (t >> 14 == 3)
		return z->clock > d ? z->clock - d : 0;
	return z->clock + d;
}

static void tuple(struct synfin_event *e, uint8_t d, uint8_t x)
{
	static const uint8_t fam[4] = { 2, 10, 2, 10 };

	memcpy(e->saddr, addrs[d & 7], 16);
	memcpy(e->daddr, addrs[(d >> 3) & 7], 16);
	e->family = fam[d >> 6];
	e->sport = ports[x & 3];
	e->dport = ports[(x >> 2) & 3];
	e->netns = netns[(x >> 4) & 1];
}

/* comm index 7: 16 bytes of the input */
static void comm(struct fuzz *z, char out[SYNFIN_COMM_LEN], unsigned int sel)
{
	if (sel == 7)
		bytes(&z->in, out, SYNFIN_COMM_LEN);
	else
		strncpy(out, comms[sel], SYNFIN_COMM_LEN);
}

static void op_event(struct fuzz *z)
{
	uint8_t a = u8(&z->in), b = u8(&z->in), c = u8(&z->in), d = u8(&z->in), x = u8(&z->in);
	struct synfin_event e = {
		.sk = 0xffff888000001000ULL + (a & 7) * 0x800,
		.gen = 1 + ((a >> 3) & 3),
		.version = SYNFIN_EVENT_VERSION,
		.kind = a >> 5,
		.oldstate = b & 15,
		.newstate = b >> 4,
		.flags = c & 15,
		.owner_src = (c >> 4) & 7,
	};

	/* BPF reads the cookie of a socket it has no entry for: the one a
	 * snapshot gave it */
	if (e.flags & SF_F_NO_ENTRY)
		e.cookie = 0xc00c1e00 + (a & 7);
	e.ts_ns = ts_of(z, u16(&z->in));
	tuple(&e, d, x);
	if (c & 0x80)
		e.sk_err = errnos[u8(&z->in) & 7];
	if (e.kind == SF_EV_SEGMENT) {
		memset(&e.seg, 0, sizeof(e.seg));
		e.sk = e.gen = 0;
		e.seg.tcp_flags = u8(&z->in);
		e.seg.dir = u8(&z->in);
		e.seg.ifindex = 1 + ((e.seg.dir >> 1) & 1);
		e.seg.dir &= 1;
		e.seg.seq = u16(&z->in);
		e.seg.ack = u16(&z->in);
		e.seg.payload = u8(&z->in);
		e.seg.window = 65535;
	} else {
		e.pid = e.tgid = 100 + (x >> 5);
		e.cgroup_id = x >> 5;
		comm(z, e.comm, x >> 5);
	}
	if (e.ts_ns > z->clock)
		z->clock = e.ts_ns;
	flow_table__ingest(z->sink.table, &e);
}

static void op_raw(struct fuzz *z)
{
	struct synfin_event e;

	bytes(&z->in, &e, sizeof(e));
	flow_table__ingest(z->sink.table, &e);
}

/* TIME_WAIT sockets per remote endpoint, as count_time_wait() in main.c */
static void count_time_wait(struct fuzz *z, const struct sf_snapshot_sock *s, int n)
{
	pileup__begin_round(z->cfg.pileups, PILEUP_TIME_WAIT_REMOTE);
	for (int i = 0; i < n; i++) {
		struct pileup_key k = { .netns = s[i].netns, .family = s[i].family, .port = s[i].dport };
		__u32 count = 0;
		bool first = true;

		for (int j = 0; j < n; j++) {
			bool same = s[j].netns == s[i].netns && s[j].family == s[i].family && s[j].dport == s[i].dport &&
				    !memcmp(s[j].daddr, s[i].daddr, 16);

			count += same;
			if (same && j < i)
				first = false;
		}
		if (!first)
			continue;
		memcpy(k.addr, s[i].daddr, 16);
		pileup__set(z->cfg.pileups, PILEUP_TIME_WAIT_REMOTE, &k, count, z->clock);
	}
	pileup__end_round(z->cfg.pileups, PILEUP_TIME_WAIT_REMOTE, z->clock);
}

/* One look at the kernel's list, routed as reconcile() in main.c routes
 * it. Without --reconcile-interval only the start-up snapshot runs. */
static void op_round(struct fuzz *z)
{
	uint8_t n = u8(&z->in);
	struct sf_snapshot_sock s[16], tw[16];
	bool first = !z->rounds;
	int k = 0, ntw = 0;

	if (!z->cfg.time_wait_rounds && (z->started || z->rounds))
		return;
	for (int i = 0; i < (n & 15); i++) {
		uint8_t a = u8(&z->in), d = u8(&z->in), x = u8(&z->in);
		struct synfin_event e = {};

		tuple(&e, d, x);
		memset(&s[k], 0, sizeof(s[k]));
		s[k].cookie = (a & 7) ? 0xc00c1e00 + (a & 7) : 0;
		s[k].state = (a >> 3) & 15;
		s[k].inode = (a & 0x80) ? 5000 + (a & 7) : 0;
		s[k].netns = e.netns;
		s[k].family = e.family;
		s[k].sport = e.sport;
		s[k].dport = e.dport;
		memcpy(s[k].saddr, e.saddr, 16);
		memcpy(s[k].daddr, e.daddr, 16);
		if (x >> 5) {
			s[k].tgid = 200 + (x >> 5);
			comm(z, s[k].comm, x >> 5);
		}
		k++;
	}
	z->rounds = true;
	flow_table__round_begin(z->sink.table);
	for (int i = 0; i < k; i++) {
		bool tw_sock = s[i].state == SF_TCP_TIME_WAIT || (s[i].state == SF_TCP_FIN_WAIT2 && !s[i].inode);

		if (tw_sock)
			flow_table__time_wait_seen(z->sink.table, &s[i], z->clock);
		if (s[i].state == SF_TCP_TIME_WAIT)
			tw[ntw++] = s[i];
		else if (!tw_sock)
			flow_table__snapshot(z->sink.table, &s[i], z->clock, first || s[i].state == SF_TCP_SYN_RECV);
	}
	flow_table__round_end(z->sink.table, z->clock, n & 0x80);
	if (n & 0x80)
		count_time_wait(z, tw, ntw);
}

/* What a stats and a summary interval write: a viewer's snapshot (open
 * flows, stats), and the aggregates drained into summary records. */
static void interval(struct fuzz *z)
{
	fuzz_sink__snapshot(&z->sink, z->clock);
	fuzz_sink__drain(&z->sink, z->drained_at, z->clock);
	z->drained_at = z->clock;
}

/* the first 16 bytes */
static void settings(struct fuzz *z, __u32 pile[PILEUP_KINDS])
{
	uint8_t b[16];

	bytes(&z->in, b, sizeof(b));
	z->cfg.max_flows = 2 + (b[0] & 63);
	z->agg_top_n = 1 + (b[0] >> 6 & 1);
	z->cfg.close_grace_ns = (uint64_t)b[1] * 100000;
	z->cfg.time_wait_rounds = b[2] & 1;
	z->cfg.loopback_mirror = b[2] & 2;
	z->cfg.stuck_rate = b[2] >> 4;
	for (int s = 1; s < SF_TCP_NSTATES; s++)
		if ((b[3] | b[4] << 8) & (1u << s))
			z->cfg.stuck_ns[s] = ((uint64_t)b[5] + 1) * 1000000;
	z->cfg.max_half_open = b[6] & 7;
	z->cfg.segment_hold_ns = (uint64_t)b[7] * 1000000;
	z->cfg.time_wait_hold_ns = (uint64_t)b[8] * 1000000;
	z->cfg.max_time_wait = b[9] & 15;
	pile[PILEUP_TIME_WAIT_REMOTE] = b[10] & 7;
	pile[PILEUP_CLOSE_WAIT_PROCESS] = b[11] & 7;
	/* wall clock offset: now-ish, none, or anything the header of a
	 * recording may say */
	if (b[12] & 1)
		memcpy(&z->sink.clk.mono_to_real_ns, b + 8, 8);
	else
		z->sink.clk.mono_to_real_ns = (b[12] & 2) ? 0 : 1764580000000000000LL;
	z->clock = ((uint64_t)b[13] << 16 | (uint64_t)b[14] << 8 | b[15]) * 1000000; /* ms */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz z = { .in = { data, size } };
	__u32 pile[PILEUP_KINDS];

	settings(&z, pile);
	z.drained_at = z.clock;
	z.cfg.pileups = pileup__new(pile, fuzz_sink__pileup, &z.sink);
	/* few keys reported, fewer tracked: the rest folds into "other" */
	z.sink.agg = agg__new(&(struct agg_config){ .top_n = z.agg_top_n, .max_keys = 3 });
	z.sink.table = flow_table__new(&z.cfg, fuzz_sink__record, &z.sink);
	if (!z.cfg.pileups || !z.sink.table || !z.sink.agg)
		abort();
	flow_table__set_loopback_mirror(z.sink.table, z.cfg.loopback_mirror);
	while (z.in.n) {
		uint8_t op = u8(&z.in) % OP_N;

		switch (op) {
		case OP_EVENT:
		case OP_EVENT2:
		case OP_EVENT3:
			op_event(&z);
			break;
		case OP_RAW:
			op_raw(&z);
			break;
		case OP_ADVANCE: {
			uint16_t t = u16(&z.in);

			/* the daemon's clock never goes back: a step back
			 * is read as a step of milliseconds */
			z.clock = ts_of(&z, t >> 14 == 3 ? t & 0x7fff : t);
			flow_table__advance(z.sink.table, z.clock);
			break;
		}
		case OP_ROUND:
			op_round(&z);
			break;
		case OP_FLUSH:
			flow_table__flush(z.sink.table);
			interval(&z);
			break;
		}
		if (op != OP_ROUND)
			z.started = true;
		fuzz_check_stats(&z.sink, &z.cfg);
	}
	flow_table__flush(z.sink.table);
	fuzz_check_stats(&z.sink, &z.cfg);
	interval(&z);
	flow_table__free(z.sink.table);
	pileup__free(z.cfg.pileups);
	fuzz_sink__free(&z.sink);
	return 0;
}
