// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Flow reconstruction. Pure: no libbpf, no I/O, no logging.
 *
 * A flow is one generation of one socket, keyed on (socket address, gen)
 * as assigned by the BPF side. Every state is entered at most once per
 * generation, so the lifecycle is simply the set of states seen, each with
 * its entry time and the state it was entered from; ordering by time
 * reconstructs the path even when events arrive out of order, and a state
 * seen twice is a duplicate.
 *
 * Memory: one pool of max_flows entries, allocated lazily by the OS (calloc
 * of untouched pages), free list + chained hash of pool indices, an LRU list
 * of open flows for eviction when the pool is full, and a FIFO of closed
 * flows kept for a short grace period so that late events still join them.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/tcp.h>
#include "flow.h"
#include "hash.h"

#define RECENT_SLOTS 4096	/* remembered emitted flows, for late events */
#define SNAP_GEN UINT64_MAX	/* gen of snapshot flows, keyed by cookie until joined */
#define REQ_GEN (UINT64_MAX - 1) /* gen of half-open requests, keyed by tuple */
#define SEG_GEN (UINT64_MAX - 2) /* gen of segment placeholders, keyed by tuple */
#define LISTEN_BUCKETS 1024

struct flow_list {
	__u32 head, tail;
};

/* Blocks of segments (see at_segs), elem bytes each; a free block keeps
 * the next free one in its sf_segs.next_free. */
struct seg_pool {
	unsigned char *base;
	size_t elem;
	__u32 used, free;
};

enum { SF_CQ_GRACE, SF_CQ_TIME_WAIT, SF_CQ_PLACEHOLDER, SF_CQ_N };

struct flow_table {
	struct flow_table_config cfg;
	sf_sink_fn sink;
	void *sink_ctx;
	struct sf_flow *pool;
	__u32 used;		/* high-water mark of the pool */
	__u32 free_head;
	__u32 *buckets;
	__u32 nbuckets;		/* power of two */
	__u32 lbuckets[LISTEN_BUCKETS];
	struct flow_list lru;	/* open flows, most recent at head */
	/* Closed flows waiting for their emit_at, one list per wait (the
	 * grace for late events, the wait for segments 6-7 after a
	 * time-wait hand-over, a placeholder's wait for its flow): within
	 * one, emit_at grows with arrival, so an insertion is O(1). One
	 * list for all made each grace insertion walk past every flow in
	 * its 1 s time-wait hold: quadratic when 50k connections close. */
	struct flow_list closing[SF_CQ_N];
	struct flow_list slist[SF_TCP_NSTATES]; /* watched states, by entry time */
	struct flow_list ho;	/* handed over to a time-wait socket in FIN_WAIT_2 */
	__u32 round;		/* reconcile round */
	__u32 placeholders;
	__u32 *tbuckets;	/* tuple index, nbuckets */
	struct seg_pool segs[2];  /* [0] handshake-only blocks, [1] full ones:
				   * one block per flow at most */
	struct sf_segs seg_view;  /* a small block, as a full one, for a record */
	struct tw_table *tw;
	/* flows the last round found gone or in another state, settled by
	 * the next advance() (see flow_table__round_end) */
	struct settle {
		__u32 idx;
		__u64 sk, gen;
	} *settle;
	__u32 nsettle, settle_cap;
	__u64 settle_ts;	/* the round's time */
	/* peers (netns, address, port) of the round's sockets that matched
	 * no flow: a flow that never learnt its local port (its events
	 * lost) is only gone if no such socket may be it */
	__u64 *unmatched;
	__u32 nunmatched, unmatched_cap;
	double tokens;		/* stuck-record rate limit */
	__u64 tokens_ts;
	__u64 recent[RECENT_SLOTS];
	struct flow_table_stats st;
};

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

static inline __u64 key_hash(__u64 sk, __u64 gen)
{
	return sf_mix64(sk ^ (gen * 0x9e3779b97f4a7c15ULL));
}

static inline __u32 listen_hash(__u32 netns, __u8 family, __u16 port)
{
	return (__u32)sf_mix64(((__u64)netns << 24) ^ ((__u64)family << 16) ^ port) & (LISTEN_BUCKETS - 1);
}

static inline struct sf_flow *at(struct flow_table *t, __u32 idx)
{
	return &t->pool[idx];
}

static inline __u32 idx_of(struct flow_table *t, const struct sf_flow *f)
{
	return (__u32)(f - t->pool);
}

#define LRU offsetof(struct sf_flow, lru)
#define DL offsetof(struct sf_flow, dl)
#define HO offsetof(struct sf_flow, ho)

static inline struct sf_link *link_of(struct sf_flow *f, size_t off)
{
	return (struct sf_link *)((char *)f + off);
}

static void list_unlink(struct flow_table *t, struct flow_list *l, struct sf_flow *f, size_t off)
{
	struct sf_link *k = link_of(f, off);

	if (k->prev != SF_NONE)
		link_of(at(t, k->prev), off)->next = k->next;
	else
		l->head = k->next;
	if (k->next != SF_NONE)
		link_of(at(t, k->next), off)->prev = k->prev;
	else
		l->tail = k->prev;
	k->prev = k->next = SF_NONE;
}

static void list_push_head(struct flow_table *t, struct flow_list *l, struct sf_flow *f, size_t off)
{
	struct sf_link *k = link_of(f, off);
	__u32 i = idx_of(t, f);

	k->prev = SF_NONE;
	k->next = l->head;
	if (l->head != SF_NONE)
		link_of(at(t, l->head), off)->prev = i;
	else
		l->tail = i;
	l->head = i;
}

/* Insert after the last element for which before(elem) is true, walking
 * from the tail: O(1) for the usual in-order case. */
static void list_insert_sorted(struct flow_table *t, struct flow_list *l, struct sf_flow *f, size_t off,
			       __u64 key, __u64 (*key_of)(const struct sf_flow *))
{
	struct sf_link *k = link_of(f, off);
	__u32 i = idx_of(t, f), p = l->tail;

	while (p != SF_NONE && key_of(at(t, p)) > key)
		p = link_of(at(t, p), off)->prev;
	k->prev = p;
	k->next = p == SF_NONE ? l->head : link_of(at(t, p), off)->next;
	if (k->next != SF_NONE)
		link_of(at(t, k->next), off)->prev = i;
	else
		l->tail = i;
	if (p != SF_NONE)
		link_of(at(t, p), off)->next = i;
	else
		l->head = i;
}

static __u64 emit_at(const struct sf_flow *f)
{
	return f->emit_at;
}

static void closing_insert(struct flow_table *t, struct sf_flow *f, int q)
{
	f->cq = (__u8)q;
	list_insert_sorted(t, &t->closing[q], f, LRU, f->emit_at, emit_at);
}

static void closing_unlink(struct flow_table *t, struct sf_flow *f)
{
	list_unlink(t, &t->closing[f->cq], f, LRU);
}

/* the closed flow due first, or NULL */
static struct sf_flow *closing_first(struct flow_table *t)
{
	struct sf_flow *best = NULL;

	for (int q = 0; q < SF_CQ_N; q++) {
		struct sf_flow *f;

		if (t->closing[q].head == SF_NONE)
			continue;
		f = at(t, t->closing[q].head);
		if (!best || f->emit_at < best->emit_at)
			best = f;
	}
	return best;
}

static void on_tw(void *ctx, const struct tw_record *r)
{
	struct flow_table *t = ctx;
	struct sf_record rec = { .type = SF_REC_TIME_WAIT, .at = r->exited, .tw = r };

	t->sink(t->sink_ctx, &rec);
}

static void tw_key_set(struct tw_key *k, __u32 netns, __u8 family, const __u8 *laddr, const __u8 *raddr,
		       __u16 lport, __u16 rport);

static void tw_key_of(const struct sf_flow *f, struct tw_key *k)
{
	tw_key_set(k, f->netns, f->family, f->saddr, f->daddr, f->sport, f->dport);
}

struct flow_table *flow_table__new(const struct flow_table_config *cfg, sf_sink_fn sink, void *ctx)
{
	struct flow_table *t;
	__u32 n = 1024;

	if (!cfg || cfg->max_flows < 2 || cfg->max_flows > (1u << 26) || !sink)
		return NULL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->cfg = *cfg;
	t->sink = sink;
	t->sink_ctx = ctx;
	while (n < cfg->max_flows)
		n <<= 1;
	t->nbuckets = n;
	t->buckets = malloc(sizeof(*t->buckets) * n);
	t->tbuckets = malloc(sizeof(*t->tbuckets) * n);
	/* calloc: pages are only touched, so only cost RSS, when used */
	t->pool = calloc(cfg->max_flows, sizeof(*t->pool));
	for (int i = 0; i < 2; i++) {
		t->segs[i].elem = i ? sizeof(struct sf_segs) : SF_SEGS_SMALL;
		t->segs[i].base = calloc(cfg->max_flows, t->segs[i].elem);
		t->segs[i].free = SF_NONE;
	}
	if (!t->buckets || !t->tbuckets || !t->pool || !t->segs[0].base || !t->segs[1].base) {
		flow_table__free(t);
		return NULL;
	}
	memset(t->buckets, 0xff, sizeof(*t->buckets) * n);
	memset(t->tbuckets, 0xff, sizeof(*t->tbuckets) * n);
	if (!t->cfg.segment_hold_ns)
		t->cfg.segment_hold_ns = 3000000000ULL;
	if (!t->cfg.time_wait_hold_ns)
		t->cfg.time_wait_hold_ns = 1000000000ULL;
	if (!t->cfg.max_half_open)
		t->cfg.max_half_open = 1024;
	if (cfg->max_time_wait) {
		t->tw = tw_table__new(cfg->max_time_wait, on_tw, t);
		if (!t->tw) {
			flow_table__free(t);
			return NULL;
		}
	}
	memset(t->lbuckets, 0xff, sizeof(t->lbuckets));
	t->free_head = SF_NONE;
	t->lru.head = t->lru.tail = SF_NONE;
	for (int q = 0; q < SF_CQ_N; q++)
		t->closing[q].head = t->closing[q].tail = SF_NONE;
	for (int i = 0; i < SF_TCP_NSTATES; i++)
		t->slist[i].head = t->slist[i].tail = SF_NONE;
	t->ho.head = t->ho.tail = SF_NONE;
	t->tokens = cfg->stuck_rate;
	return t;
}

void flow_table__free(struct flow_table *t)
{
	if (!t)
		return;
	free(t->buckets);
	free(t->tbuckets);
	free(t->pool);
	free(t->segs[0].base);
	free(t->segs[1].base);
	free(t->settle);
	free(t->unmatched);
	tw_table__free(t->tw);
	free(t);
}

static struct sf_flow *lookup(struct flow_table *t, __u64 sk, __u64 gen)
{
	__u32 i = t->buckets[key_hash(sk, gen) & (t->nbuckets - 1)];

	while (i != SF_NONE) {
		struct sf_flow *f = at(t, i);

		if (f->sk == sk && f->gen == gen)
			return f;
		i = f->hnext;
	}
	return NULL;
}

static bool all_zero(const __u8 *a)
{
	static const __u8 zero[16];

	return !memcmp(a, zero, 16);
}

/* The listener a connection to laddr:port belongs to: bound to that
 * address or to any; an IPv6 one also takes IPv4 (dual-stack). */
static struct sf_flow *find_listener(struct flow_table *t, __u32 netns, __u8 family, const __u8 *laddr,
				     __u16 port)
{
	for (int pass = 0; pass < 2; pass++) {
		__u8 fam = pass ? 10 : family;
		__u32 i;

		if (pass && family != 2)
			break;
		for (i = t->lbuckets[listen_hash(netns, fam, port)]; i != SF_NONE; i = at(t, i)->lnext) {
			struct sf_flow *f = at(t, i);

			if (f->netns != netns || f->family != fam || f->sport != port || f->closed)
				continue;
			if (all_zero(f->saddr) || (fam == family && !memcmp(f->saddr, laddr, 16)) ||
			    (fam == 10 && family == 2 && !memcmp(f->saddr + 12, laddr, 4) && f->saddr[10] == 0xff))
				return f;
		}
	}
	return NULL;
}

static void link_listener(struct flow_table *t, struct sf_flow *f)
{
	__u32 b = listen_hash(f->netns, f->family, f->sport);

	f->lnext = t->lbuckets[b];
	t->lbuckets[b] = idx_of(t, f);
	f->in_lindex = 1;
}

static void unlink_listener(struct flow_table *t, struct sf_flow *f)
{
	__u32 *p = &t->lbuckets[listen_hash(f->netns, f->family, f->sport)];
	__u32 me = idx_of(t, f);

	while (*p != SF_NONE) {
		if (*p == me) {
			*p = f->lnext;
			break;
		}
		p = &at(t, *p)->lnext;
	}
	f->lnext = SF_NONE;
	f->in_lindex = 0;
}

static void remember_emitted(struct flow_table *t, const struct sf_flow *f)
{
	__u64 h = key_hash(f->sk, f->gen);

	t->recent[h & (RECENT_SLOTS - 1)] = h | 1;
}

static bool recently_emitted(const struct flow_table *t, __u64 sk, __u64 gen)
{
	__u64 h = key_hash(sk, gen);

	return t->recent[h & (RECENT_SLOTS - 1)] == (h | 1);
}

static void hash_unlink(struct flow_table *t, struct sf_flow *f)
{
	__u32 *p = &t->buckets[key_hash(f->sk, f->gen) & (t->nbuckets - 1)];
	__u32 me = idx_of(t, f);

	while (*p != SF_NONE) {
		if (*p == me) {
			*p = f->hnext;
			break;
		}
		p = &at(t, *p)->hnext;
	}
	f->hnext = SF_NONE;
}

static void hash_link(struct flow_table *t, struct sf_flow *f)
{
	__u32 b = key_hash(f->sk, f->gen) & (t->nbuckets - 1);

	f->hnext = t->buckets[b];
	t->buckets[b] = idx_of(t, f);
}

/* ---- stuck detection ---------------------------------------------------
 * Each watched state has a list of its flows ordered by entry time, so
 * the flows that pass the threshold are always at the head: advance()
 * looks at heads only, never at the whole table. */

static bool seen(const struct sf_flow *f, unsigned int s)
{
	return f->seen & (1u << s);
}

/* Entry time of the current state; for a state the flow was already in
 * when first seen, the first sighting: a lower bound of its age. */
static __u64 entry_ts(const struct sf_flow *f)
{
	return seen(f, f->state) ? f->state_ts[f->state] : f->first_ts;
}

static void emit_stuck(struct flow_table *t, struct sf_flow *f, enum sf_record_type type, __u8 next, __u64 now)
{
	struct sf_record rec = {
		.type = type,
		.flow = f,
		.at = now,
		.state = f->state,
		.next_state = next,
		.age_lower_bound = !seen(f, f->state),
		.age_ns = now > entry_ts(f) ? now - entry_ts(f) : 0,
		.threshold_ns = t->cfg.stuck_ns[f->state],
		.segs = flow_table__segs(t, f),
	};

	t->sink(t->sink_ctx, &rec);
}

static void state_leave(struct flow_table *t, struct sf_flow *f, __u8 next, __u64 now)
{
	if (f->in_slist) {
		list_unlink(t, &t->slist[f->state], f, DL);
		f->in_slist = 0;
	}
	if (f->stuck) {
		t->st.stuck_by_state[f->state]--;
		t->st.resolved_total++;
		if (f->stuck == 2)
			emit_stuck(t, f, SF_REC_RESOLVED, next, now);
		f->stuck = 0;
	}
	if (f->pile_tgid) {
		struct pileup_key k = { .netns = f->netns, .tgid = f->pile_tgid };

		pileup__add(t->cfg.pileups, PILEUP_CLOSE_WAIT_PROCESS, &k, -1, NULL, now);
		f->pile_tgid = 0;
	}
}

static void state_enter(struct flow_table *t, struct sf_flow *f, __u64 now)
{
	if (t->cfg.stuck_ns[f->state]) {
		list_insert_sorted(t, &t->slist[f->state], f, DL, entry_ts(f), entry_ts);
		f->in_slist = 1;
	}
	if (f->state == SF_TCP_CLOSE_WAIT && f->tgid && t->cfg.pileups) {
		struct pileup_key k = { .netns = f->netns, .tgid = f->tgid };

		f->pile_tgid = f->tgid;
		pileup__add(t->cfg.pileups, PILEUP_CLOSE_WAIT_PROCESS, &k, 1, f->comm, now);
	}
}

static bool take_token(struct flow_table *t, __u64 now)
{
	if (!t->cfg.stuck_rate)
		return true;
	if (now > t->tokens_ts) {
		t->tokens += (double)(now - t->tokens_ts) * t->cfg.stuck_rate / 1e9;
		if (t->tokens > t->cfg.stuck_rate)
			t->tokens = t->cfg.stuck_rate;
		t->tokens_ts = now;
	}
	if (t->tokens < 1)
		return false;
	t->tokens -= 1;
	return true;
}

static void check_deadlines(struct flow_table *t, __u64 now)
{
	for (int st = 1; st < SF_TCP_NSTATES; st++) {
		__u64 thr = t->cfg.stuck_ns[st];

		while (thr && t->slist[st].head != SF_NONE) {
			struct sf_flow *f = at(t, t->slist[st].head);

			if (entry_ts(f) + thr > now)
				break;
			list_unlink(t, &t->slist[st], f, DL);
			f->in_slist = 0;
			f->stuck = 1;
			t->st.stuck_total++;
			t->st.stuck_by_state[st]++;
			if (take_token(t, now)) {
				f->stuck = 2;
				emit_stuck(t, f, SF_REC_STUCK, 0, now);
			} else {
				t->st.stuck_suppressed++;
			}
		}
	}
}

/* ---- tuple index and segments -------------------------------------------
 * Segments name no socket, only addresses: flows are also indexed by
 * (netns, family, local, remote) once they know their tuple. */

struct sf_tuple {
	__u32 netns;
	__u8 family;
	__u8 laddr[16], raddr[16];
	__u16 lport, rport;
};

static bool v4_mapped(const __u8 *a)
{
	static const __u8 prefix[12] = { [10] = 0xff, [11] = 0xff };

	return !memcmp(a, prefix, 12);
}

/* A dual-stack (AF_INET6) socket talks IPv4 with v4-mapped addresses,
 * while its segments are plain IPv4: compare them as IPv4. */
static void tuple_set(struct sf_tuple *k, __u32 netns, __u8 family, const __u8 *laddr, const __u8 *raddr,
		      __u16 lport, __u16 rport)
{
	memset(k, 0, sizeof(*k));
	k->netns = netns;
	k->lport = lport;
	k->rport = rport;
	if (family == 10 && v4_mapped(laddr) && v4_mapped(raddr)) {
		k->family = 2;
		memcpy(k->laddr, laddr + 12, 4);
		memcpy(k->raddr, raddr + 12, 4);
	} else {
		k->family = family;
		memcpy(k->laddr, laddr, 16);
		memcpy(k->raddr, raddr, 16);
	}
}

static __u64 tuple_hash(const struct sf_tuple *k)
{
	__u64 h = sf_mix64(((__u64)k->netns << 32) ^ ((__u64)k->family << 16) ^ k->lport);

	h = sf_mix64(h ^ ((__u64)k->rport << 7));
	/* IPv4 (v4-mapped ones too, see tuple_set): 8 bytes in all */
	return sf_mix_addrs(h, k->family, k->laddr, k->raddr);
}

static void flow_tuple(const struct sf_flow *f, struct sf_tuple *k)
{
	tuple_set(k, f->netns, f->family, f->saddr, f->daddr, f->sport, f->dport);
}

static bool tuple_eq(const struct sf_flow *f, const struct sf_tuple *k)
{
	struct sf_tuple fk;

	flow_tuple(f, &fk);
	return !memcmp(&fk, k, sizeof(fk));
}

/* time-wait keys are tuples too, normalised the same way */
static void tw_key_set(struct tw_key *k, __u32 netns, __u8 family, const __u8 *laddr, const __u8 *raddr,
		       __u16 lport, __u16 rport)
{
	struct sf_tuple t;

	tuple_set(&t, netns, family, laddr, raddr, lport, rport);
	memset(k, 0, sizeof(*k));
	k->netns = t.netns;
	k->family = t.family;
	memcpy(k->laddr, t.laddr, 16);
	memcpy(k->raddr, t.raddr, 16);
	k->lport = t.lport;
	k->rport = t.rport;
}

static void tindex_unlink(struct flow_table *t, struct sf_flow *f)
{
	struct sf_tuple k;
	__u32 *p, me = idx_of(t, f);

	if (!f->in_tindex)
		return;
	flow_tuple(f, &k);
	p = &t->tbuckets[tuple_hash(&k) & (t->nbuckets - 1)];
	while (*p != SF_NONE) {
		if (*p == me) {
			*p = f->tnext;
			break;
		}
		p = &at(t, *p)->tnext;
	}
	f->tnext = SF_NONE;
	f->in_tindex = 0;
}

static void tindex_link(struct flow_table *t, struct sf_flow *f)
{
	struct sf_tuple k;
	__u32 b;

	if (f->in_tindex || !f->sport || f->placeholder || f->role == SF_ROLE_LISTENER)
		return;
	flow_tuple(f, &k);
	b = tuple_hash(&k) & (t->nbuckets - 1);
	f->tnext = t->tbuckets[b];
	t->tbuckets[b] = idx_of(t, f);
	f->in_tindex = 1;
}

/* The flow a segment belongs to: an open one first, else the most
 * recently linked closed one (a tuple reused while the old record waits). */
static struct sf_flow *tindex_lookup(struct flow_table *t, const struct sf_tuple *k, __u64 h)
{
	__u32 i = t->tbuckets[h & (t->nbuckets - 1)];
	struct sf_flow *closed = NULL;

	for (; i != SF_NONE; i = at(t, i)->tnext) {
		struct sf_flow *f = at(t, i);

		if (!tuple_eq(f, k))
			continue;
		if (!f->closed)
			return f;
		if (!closed)
			closed = f;
	}
	return closed;
}

/*
 * A flow's segment block: f->segs indexes the full pool when SEGS_FULL is
 * set, else the small pool, whose blocks hold only the head of a struct
 * sf_segs (counters and slots 1-3). Slots past 3 are read only where
 * their have bit is set, and written only through segs_full().
 */
#define SEGS_FULL (1u << 31)

static struct sf_segs *pool_at(const struct seg_pool *p, __u32 i)
{
	return (struct sf_segs *)(p->base + (size_t)i * p->elem);
}

static struct sf_segs *at_segs(const struct flow_table *t, const struct sf_flow *f)
{
	return pool_at(&t->segs[!!(f->segs & SEGS_FULL)], f->segs & ~SEGS_FULL);
}

const struct sf_segs *flow_table__segs(const struct flow_table *t, const struct sf_flow *f)
{
	struct flow_table *w = (struct flow_table *)t;

	if (f->segs == SF_NONE)
		return NULL;
	if (f->segs & SEGS_FULL)
		return at_segs(t, f);
	/* a record reads any slot: give it a whole block */
	memset(&w->seg_view, 0, sizeof(w->seg_view));
	memcpy(&w->seg_view, at_segs(t, f), SF_SEGS_SMALL);
	return &w->seg_view;
}

/* a zeroed block of pool full (0 or 1) as f->segs knows it, or SF_NONE */
static __u32 pool_alloc(struct flow_table *t, int full)
{
	struct seg_pool *p = &t->segs[full];
	__u32 i;

	if (p->free != SF_NONE) {
		i = p->free;
		p->free = pool_at(p, i)->next_free;
	} else if (p->used < t->cfg.max_flows) {
		i = p->used++;
	} else {
		return SF_NONE;
	}
	memset(pool_at(p, i), 0, p->elem);
	return full ? i | SEGS_FULL : i;
}

static void segs_free(struct flow_table *t, struct sf_flow *f)
{
	struct seg_pool *p;

	if (f->segs == SF_NONE)
		return;
	p = &t->segs[!!(f->segs & SEGS_FULL)];
	at_segs(t, f)->next_free = p->free;
	p->free = f->segs & ~SEGS_FULL;
	f->segs = SF_NONE;
}

/* f's block, made if it has none (a small one): NULL when none is left */
static struct sf_segs *segs_get(struct flow_table *t, struct sf_flow *f)
{
	if (f->segs == SF_NONE)
		f->segs = pool_alloc(t, 0);
	return f->segs == SF_NONE ? NULL : at_segs(t, f);
}

/* f's block with room for every slot (its small block moves over) */
static struct sf_segs *segs_full(struct flow_table *t, struct sf_flow *f)
{
	__u32 i;

	if (f->segs != SF_NONE && (f->segs & SEGS_FULL))
		return at_segs(t, f);
	i = pool_alloc(t, 1);
	if (i == SF_NONE)
		return NULL;
	if (f->segs != SF_NONE) {
		memcpy(pool_at(&t->segs[1], i & ~SEGS_FULL), at_segs(t, f), SF_SEGS_SMALL);
		segs_free(t, f);
	}
	f->segs = i;
	return at_segs(t, f);
}

static bool have(const struct sf_segs *g, int slot)
{
	return g->have & (1u << slot);
}

/* sequence number just past a segment: SYN and FIN count for one */
static __u32 seq_end(const struct sf_seg_rec *r)
{
	return r->seq + r->payload + ((r->flags & 0x03) ? 1 : 0);
}

static void put(struct sf_segs *g, int slot, const struct sf_seg_rec *r)
{
	g->slot[slot] = *r;
	g->have |= 1u << slot;
}

/* Number a segment as the seed does, from this end's point of view.
 * Returns false for an event seen twice (not a retransmission: those
 * are sent, and seen, at another time), or when no block is left. */
static bool segs_add(struct flow_table *t, struct sf_flow *f, const struct sf_seg_rec *r)
{
	bool syn = r->flags & 0x02, fin = r->flags & 0x01, rst = r->flags & 0x04, ack = r->flags & 0x10;
	/* FIN and RST go past slot 3 (and the ACKs of FINs, which need a
	 * FIN there first) */
	struct sf_segs *g = fin || rst ? segs_full(t, f) : segs_get(t, f);

	if (!g)
		return false;

	for (int i = 1; i < SF_SEG_SLOTS; i++)
		if (have(g, i) && g->slot[i].ts == r->ts && g->slot[i].seq == r->seq &&
		    g->slot[i].flags == r->flags && g->slot[i].out == r->out)
			return false;

	if (rst) {
		if (!have(g, SF_SEG_RST))
			put(g, SF_SEG_RST, r);
		return true;
	}
	if (syn && !ack) {
		if (have(g, SF_SEG_SYN))
			g->syn_rtx++;
		else
			put(g, SF_SEG_SYN, r);
		return true;
	}
	if (syn) {
		if (have(g, SF_SEG_SYNACK))
			g->synack_rtx++;
		else
			put(g, SF_SEG_SYNACK, r);
		return true;
	}
	if (fin) {
		if (!have(g, SF_SEG_FIN1)) {
			put(g, SF_SEG_FIN1, r);
		} else if (g->slot[SF_SEG_FIN1].out == r->out || have(g, SF_SEG_FIN2)) {
			g->fin_rtx++;
		} else {
			put(g, SF_SEG_FIN2, r);
			/* FIN and the ACK of the first FIN in one segment */
			if (!have(g, SF_SEG_FIN1_ACK) && ack && r->ack == seq_end(&g->slot[SF_SEG_FIN1]))
				put(g, SF_SEG_FIN1_ACK, r);
		}
		return true;
	}
	if (have(g, SF_SEG_SYNACK) && !have(g, SF_SEG_ACK) && g->slot[SF_SEG_SYNACK].out != r->out &&
	    r->ack == seq_end(&g->slot[SF_SEG_SYNACK]))
		put(g, SF_SEG_ACK, r);
	else if (have(g, SF_SEG_FIN1) && !have(g, SF_SEG_FIN1_ACK) && g->slot[SF_SEG_FIN1].out != r->out &&
		 r->ack == seq_end(&g->slot[SF_SEG_FIN1]))
		put(g, SF_SEG_FIN1_ACK, r);
	else if (have(g, SF_SEG_FIN2) && !have(g, SF_SEG_FIN2_ACK) && g->slot[SF_SEG_FIN2].out != r->out &&
		 r->ack == seq_end(&g->slot[SF_SEG_FIN2]))
		put(g, SF_SEG_FIN2_ACK, r);
	else
		g->other++;
	return true;
}

/* Move a placeholder's or request's segments into f (slot by slot, in
 * time order, so numbering holds whatever arrived first). */
static void segs_absorb(struct flow_table *t, struct sf_flow *f, struct sf_flow *from)
{
	struct sf_segs *src, *dst;
	struct sf_seg_rec recs[SF_SEG_SLOTS];
	int n = 0;

	if (from->segs == SF_NONE)
		return;
	src = at_segs(t, from);
	if (f->segs == SF_NONE) {
		f->segs = from->segs; /* hand the whole block over */
		from->segs = SF_NONE;
		return;
	}
	for (int i = 1; i < SF_SEG_SLOTS; i++)
		if (have(src, i))
			recs[n++] = src->slot[i];
	for (int i = 1; i < n; i++)
		for (int j = i; j > 0 && recs[j - 1].ts > recs[j].ts; j--) {
			struct sf_seg_rec x = recs[j];

			recs[j] = recs[j - 1];
			recs[j - 1] = x;
		}
	for (int i = 0; i < n; i++)
		segs_add(t, f, &recs[i]);
	dst = segs_get(t, f); /* it may have moved to a full block */
	if (!dst)
		return;
	dst->syn_rtx += src->syn_rtx;
	dst->synack_rtx += src->synack_rtx;
	dst->fin_rtx += src->fin_rtx;
}

static void release(struct flow_table *t, struct sf_flow *f);

/* The record of an active closer is out; its time-wait socket lives on. */
static void track_time_wait(struct flow_table *t, struct sf_flow *f)
{
	struct sf_summary s;
	struct tw_key k;

	sf_flow__summarize(f, &s);
	if (!s.time_wait_inferred)
		return;
	tw_key_of(f, &k);
	/* TIME_WAIT began when the flow record says (the peer's FIN); a
	 * hand-over time that may be earlier than that FIN is no entry */
	tw_table__enter(t->tw, &k, f->sk, f->gen, s.handoff_ts,
			s.tw_entered_src == SF_SRC_HANDOVER ? 0 : s.tw_entered_ts, s.time_wait_from,
			s.tw_entered_src);
}

/* Hand the flow to the sink, then drop it from every index. */
static void emit_and_release(struct flow_table *t, struct sf_flow *f)
{
	struct sf_record rec = { .flow = f, .segs = flow_table__segs(t, f) };

	if (f->placeholder) {
		/* segments whose flow never showed up */
		t->st.segments_unmatched += f->events;
		t->placeholders--;
		closing_unlink(t, f);
		t->st.closing--;
		release(t, f);
		return;
	}
	if (!f->closed)
		state_leave(t, f, 0, f->last_ts); /* evicted */
	if (f->role == SF_ROLE_LISTENER) {
		rec.type = SF_REC_LISTEN_STOP;
		t->st.listen_records++;
		if (f->in_lindex)
			unlink_listener(t, f);
	} else {
		rec.type = SF_REC_FLOW;
		t->st.flows_emitted++;
	}
	t->sink(t->sink_ctx, &rec);
	if (t->tw && rec.type == SF_REC_FLOW && f->closed && f->sport)
		track_time_wait(t, f);

	if (f->closed) {
		closing_unlink(t, f);
		t->st.closing--;
	} else {
		list_unlink(t, &t->lru, f, LRU);
		t->st.open--;
		t->st.by_state[f->state]--;
	}
	release(t, f);
}

/* Drop a flow from every index; emitted or not, it is gone. */
static void release(struct flow_table *t, struct sf_flow *f)
{
	if (f->half_open_counted) {
		struct sf_flow *l = find_listener(t, f->netns, f->family, f->saddr, f->sport);

		if (l && l->half_open)
			l->half_open--;
	}
	if (f->gen == SNAP_GEN || f->gen == REQ_GEN)
		t->st.snapshot_unjoined--;
	if (f->in_ho) {
		list_unlink(t, &t->ho, f, HO);
		f->in_ho = 0;
	}
	hash_unlink(t, f);
	tindex_unlink(t, f);
	segs_free(t, f);
	remember_emitted(t, f);
	f->lru.next = t->free_head;
	t->free_head = idx_of(t, f);
}

static struct sf_flow *alloc_flow(struct flow_table *t)
{
	struct sf_flow *f;
	__u32 i;

	if (t->free_head != SF_NONE) {
		i = t->free_head;
		t->free_head = at(t, i)->lru.next;
	} else if (t->used < t->cfg.max_flows) {
		i = t->used++;
	} else {
		/* Full: the least recently active open flow goes out now,
		 * marked evicted, so it is reported rather than lost. */
		if ((f = closing_first(t))) {
			/* finished already: report it a little early */
		} else {
			/* the least recently active open flow, but not a
			 * listener while others remain: its children need it */
			__u32 i = t->lru.tail;

			for (int n = 0; n < 16 && i != SF_NONE && at(t, i)->role == SF_ROLE_LISTENER; n++)
				i = at(t, i)->lru.prev;
			f = at(t, i != SF_NONE ? i : t->lru.tail);
			f->partial |= SF_PART_EVICTED;
			t->st.evicted++;
		}
		emit_and_release(t, f);
		i = t->free_head;
		t->free_head = at(t, i)->lru.next;
	}
	f = at(t, i);
	memset(f, 0, sizeof(*f));
	f->hnext = f->lnext = f->tnext = f->segs = SF_NONE;
	f->lru.prev = f->lru.next = f->dl.prev = f->dl.next = f->ho.prev = f->ho.next = SF_NONE;
	return f;
}

static bool valid_state(unsigned int s)
{
	return s >= SF_TCP_ESTABLISHED && s < SF_TCP_NSTATES;
}

static bool is_birth(const struct synfin_event *e)
{
	return (e->oldstate == SF_TCP_CLOSE &&
		(e->newstate == SF_TCP_SYN_SENT || e->newstate == SF_TCP_LISTEN)) ||
	       (e->oldstate == SF_TCP_LISTEN && e->newstate == SF_TCP_SYN_RECV);
}

static void take_tuple(struct sf_flow *f, const struct synfin_event *e)
{
	f->family = e->family;
	f->sport = e->sport;
	f->dport = e->dport;
	memcpy(f->saddr, e->saddr, sizeof(f->saddr));
	memcpy(f->daddr, e->daddr, sizeof(f->daddr));
}

static void take_owner(struct sf_flow *f, const struct synfin_event *e)
{
	f->owner_src = e->owner_src;
	f->pid = e->pid;
	f->tgid = e->tgid;
	f->cgroup_id = e->cgroup_id;
	memcpy(f->comm, e->comm, sizeof(f->comm));
}

static void set_birth(struct sf_flow *f, const struct synfin_event *e)
{
	f->role = e->newstate == SF_TCP_SYN_SENT ? SF_ROLE_CLIENT :
		  e->newstate == SF_TCP_LISTEN	 ? SF_ROLE_LISTENER :
						   SF_ROLE_SERVER;
	f->partial &= ~(SF_PART_MID_FLOW | SF_PART_MISSED);
}

static void drop_request(struct flow_table *t, struct sf_flow *f, __u8 next, __u64 now);
static void handover_tuple_taken(struct flow_table *t, struct sf_flow *f, __u64 ts);
static struct sf_flow *listed_flow(struct flow_table *t, const struct sf_snapshot_sock *s);
static void listed(struct flow_table *t, struct sf_flow *f, __u8 state);
static void settle(struct flow_table *t);

/* Segments that came before f knew its tuple wait under that tuple, as a
 * placeholder or a half-open request (the child socket of a listener is
 * only created by the final ACK): f takes them over now. */
static void adopt(struct flow_table *t, struct sf_flow *f, __u64 now)
{
	struct sf_tuple k;
	struct sf_flow *o;
	__u64 h;

	if (f->gen == SEG_GEN || f->gen == REQ_GEN || !f->sport)
		return;
	flow_tuple(f, &k);
	h = tuple_hash(&k);
	o = lookup(t, h, SEG_GEN);
	if (o) {
		segs_absorb(t, f, o);
		f->events += o->events;
		closing_unlink(t, o);
		t->st.closing--;
		t->placeholders--;
		release(t, o);
	}
	o = lookup(t, h, REQ_GEN);
	if (o && o != f) {
		segs_absorb(t, f, o);
		f->synack_retrans += o->synack_retrans;
		drop_request(t, o, SF_TCP_ESTABLISHED, now);
	}
}

static void learn_tuple(struct flow_table *t, struct sf_flow *f, const struct synfin_event *e)
{
	bool first = !f->sport;
	bool listener = f->in_lindex;

	/* most events repeat the tuple the flow has: nothing to move */
	if (!first && (f->in_tindex || listener) && f->sport == e->sport && f->dport == e->dport &&
	    f->family == e->family && !memcmp(f->saddr, e->saddr, sizeof(f->saddr)) &&
	    !memcmp(f->daddr, e->daddr, sizeof(f->daddr)))
		return;
	/* both indexes hash the port: out before it changes, back in after
	 * (listen() without bind() enters LISTEN before its port is set) */
	tindex_unlink(t, f);
	if (listener)
		unlink_listener(t, f);
	take_tuple(f, e);
	tindex_link(t, f);
	if (listener)
		link_listener(t, f);
	if (first)
		adopt(t, f, e->ts_ns);
	if (first && t->tw && f->gen != SNAP_GEN && f->role != SF_ROLE_LISTENER) {
		struct tw_key k;

		tw_key_of(f, &k);
		tw_table__reuse(t->tw, &k, e->ts_ns);
	}
	if (first && t->ho.head != SF_NONE && f->role != SF_ROLE_LISTENER)
		handover_tuple_taken(t, f, e->ts_ns);
}

static struct sf_flow *new_flow(struct flow_table *t, const struct synfin_event *e)
{
	struct sf_flow *f = alloc_flow(t);

	f->sk = e->sk;
	f->gen = e->gen;
	f->netns = e->netns;
	f->first_ts = f->last_ts = e->ts_ns;
	f->state = e->oldstate;
	f->observed_from = e->oldstate;
	take_owner(f, e);
	if (is_birth(e))
		set_birth(f, e);
	else
		/* Not its birth: the daemon started after the socket did
		 * (BPF had no entry), or the birth is late or lost. */
		f->partial |= (e->flags & SF_F_NO_ENTRY) ? SF_PART_MID_FLOW : SF_PART_MISSED;
	hash_link(t, f);
	list_push_head(t, &t->lru, f, LRU);
	t->st.open++;
	t->st.by_state[f->state]++;
	state_enter(t, f, e->ts_ns);
	if (e->kind != SF_EV_SEGMENT)
		learn_tuple(t, f, e);
	return f;
}

static void set_current_state(struct flow_table *t, struct sf_flow *f, __u8 state, __u64 ts)
{
	if (state == f->state)
		return;
	state_leave(t, f, state, ts);
	t->st.by_state[f->state]--;
	t->st.by_state[state]++;
	f->state = state;
	state_enter(t, f, ts);
}

static void mark_closed(struct flow_table *t, struct sf_flow *f, __u64 ts, __u8 next)
{
	state_leave(t, f, next, ts);
	list_unlink(t, &t->lru, f, LRU);
	t->st.open--;
	t->st.by_state[f->state]--;
	f->closed = 1;
	f->emit_at = ts + t->cfg.close_grace_ns;
	/* the peer's FIN and our last ACK (segments 6 and 7) come after the
	 * hand-over to the time-wait socket: give them a moment */
	if (next == SF_TCP_TIME_WAIT && f->segs != SF_NONE &&
	    !(at_segs(t, f)->have & (1u << SF_SEG_FIN2_ACK))) {
		f->emit_at = ts + t->cfg.time_wait_hold_ns;
		closing_insert(t, f, SF_CQ_TIME_WAIT);
	} else {
		closing_insert(t, f, SF_CQ_GRACE);
	}
	t->st.closing++;
}

/* ---- where a state's entry time came from ------------------------------ */

static void set_src(struct sf_flow *f, unsigned int state, enum sf_time_src src)
{
	__u16 bit = 1u << state;

	f->src_seg &= ~bit;
	f->src_round &= ~bit;
	f->src_other &= ~bit;
	if (src == SF_SRC_SEGMENT)
		f->src_seg |= bit;
	else if (src == SF_SRC_ROUND)
		f->src_round |= bit;
	else if (src == SF_SRC_ASSUMED || src == SF_SRC_HANDOVER) {
		f->src_other |= bit;
		f->src_assumed = src == SF_SRC_ASSUMED;
	}
}

static enum sf_time_src src_of(const struct sf_flow *f, unsigned int state)
{
	__u16 bit = 1u << state;

	if (f->src_other & bit)
		return f->src_assumed ? SF_SRC_ASSUMED : SF_SRC_HANDOVER;
	if (f->src_round & bit)
		return SF_SRC_ROUND;
	if (f->src_seg & bit)
		return SF_SRC_SEGMENT;
	return SF_SRC_EVENT;
}

/* a state no state event announces (the kernel does not have it, or the
 * event was not for it), entered at ts as src says */
static void enter_at(struct sf_flow *f, unsigned int state, __u8 prev, __u64 ts, enum sf_time_src src)
{
	f->seen |= 1u << state;
	f->state_ts[state] = ts;
	f->state_prev[state] = prev;
	set_src(f, state, src);
}

/* ---- FIN_WAIT_2 in a time-wait socket ----------------------------------
 * An orphaned socket (the application called close()) that reaches
 * FIN_WAIT_2 is replaced at once by a time-wait socket in its FIN_WAIT_2
 * sub-state (tcp_fin_timeout 60 s by default); the tracepoint's
 * FIN_WAIT2 -> CLOSE is that hand-over, not the end of FIN_WAIT_2. The flow
 * stays open in FIN_WAIT_2 (stuck detection and counts see it) until
 * something shows how it ended. */

enum ho_end {
	HO_PEER_FIN,	/* segment 6: TIME_WAIT begins */
	HO_TW_SEEN,	/* a round listed the time-wait socket in TIME_WAIT */
	HO_GONE,	/* a round no longer listed it: the FIN_WAIT_2 timeout */
	HO_ASSUMED,	/* no rounds: Linux's default FIN_WAIT_2 timeout passed */
	HO_RESET,	/* a RST ended it */
	HO_UNSEEN,	/* nothing can tell */
};

#define FIN_TIMEOUT_NS (60ULL * 1000000000ULL) /* net.ipv4.tcp_fin_timeout default */

static __u64 handover_key(const struct sf_flow *f)
{
	return f->handover_ts;
}

static void end_handover(struct flow_table *t, struct sf_flow *f, enum ho_end how, __u64 ts)
{
	if (f->in_ho) {
		list_unlink(t, &t->ho, f, HO);
		f->in_ho = 0;
	}
	if (ts < f->handover_ts)
		ts = f->handover_ts;
	switch (how) {
	case HO_PEER_FIN:
	case HO_TW_SEEN:
		enter_at(f, SF_TCP_TIME_WAIT, SF_TCP_FIN_WAIT2, ts, how == HO_PEER_FIN ? SF_SRC_SEGMENT : SF_SRC_ROUND);
		mark_closed(t, f, ts, SF_TCP_TIME_WAIT);
		break;
	case HO_GONE:
	case HO_ASSUMED:
		f->fw2_timeout = 1;
		enter_at(f, SF_TCP_CLOSE, SF_TCP_FIN_WAIT2, ts, how == HO_GONE ? SF_SRC_ROUND : SF_SRC_ASSUMED);
		mark_closed(t, f, ts, SF_TCP_CLOSE);
		break;
	case HO_RESET:
		enter_at(f, SF_TCP_CLOSE, SF_TCP_FIN_WAIT2, ts, SF_SRC_SEGMENT);
		mark_closed(t, f, ts, SF_TCP_CLOSE);
		break;
	case HO_UNSEEN:
		f->partial |= SF_PART_END_UNSEEN;
		mark_closed(t, f, ts, 0);
		break;
	}
}

static void begin_handover(struct flow_table *t, struct sf_flow *f, __u64 ts)
{
	f->handover_ts = ts;
	f->ho_round = 0;
	/* no segment of it captured and no rounds: nothing will tell */
	if (f->segs == SF_NONE && !t->cfg.time_wait_rounds) {
		end_handover(t, f, HO_UNSEEN, ts);
		return;
	}
	list_insert_sorted(t, &t->ho, f, HO, ts, handover_key);
	f->in_ho = 1;
}

/* A segment of a handed-over flow (r, now in g). */
static void handover_segment(struct flow_table *t, struct sf_flow *f, const struct sf_segs *g,
			     const struct sf_seg_rec *r)
{
	const struct sf_seg_rec *fin = &g->slot[SF_SEG_FIN2];
	bool peer_fin = have(g, SF_SEG_FIN2) && !fin->out;

	if (!f->closed) {
		if (r->flags & TH_RST) {
			if (r->out)
				f->rst_sent = SF_TCP_FIN_WAIT2;
			else
				f->rst_recv = SF_TCP_FIN_WAIT2;
			end_handover(t, f, HO_RESET, r->ts);
		} else if (peer_fin) {
			end_handover(t, f, HO_PEER_FIN, fin->ts);
		}
		return;
	}
	/* A round decided while these segments waited in the backlog (the
	 * rings are drained into it while the kernel's list is read): the
	 * segment's time is the exact one. */
	if (peer_fin && (f->src_round & (1u << SF_TCP_TIME_WAIT)) && fin->ts <= f->state_ts[SF_TCP_TIME_WAIT]) {
		f->state_ts[SF_TCP_TIME_WAIT] = fin->ts;
		set_src(f, SF_TCP_TIME_WAIT, SF_SRC_SEGMENT);
	}
	if ((r->flags & TH_RST) && f->fw2_timeout && (f->src_round & (1u << SF_TCP_CLOSE)) &&
	    r->ts <= f->state_ts[SF_TCP_CLOSE]) {
		f->fw2_timeout = 0;
		if (r->out)
			f->rst_sent = SF_TCP_FIN_WAIT2;
		else
			f->rst_recv = SF_TCP_FIN_WAIT2;
		f->state_ts[SF_TCP_CLOSE] = r->ts;
		set_src(f, SF_TCP_CLOSE, SF_SRC_SEGMENT);
	}
}

/* A CLOSE from FIN_WAIT2: 1 if it is the hand-over to a time-wait socket
 * still waiting for the peer's FIN, 0 if that FIN came (TIME_WAIT begins),
 * -1 if the event cannot say (recorded before SF_F_CLOSE_INFO, without
 * segments). */
static int is_handover(struct flow_table *t, const struct sf_flow *f, const struct synfin_event *e)
{
	const struct sf_segs *g;

	if (e->oldstate != SF_TCP_FIN_WAIT2 || e->sk_err || f->rst_sent || f->rst_recv)
		return 0;
	if (e->flags & SF_F_CLOSE_INFO)
		return !(e->flags & SF_F_PEER_FIN);
	if (f->segs == SF_NONE)
		return -1;
	g = at_segs(t, f);
	return !(have(g, SF_SEG_FIN2) && !g->slot[SF_SEG_FIN2].out && g->slot[SF_SEG_FIN2].ts <= e->ts_ns);
}

/* A new connection took the tuple of a handed-over flow (Linux allows it
 * for TIME_WAIT only, so this is rare): how the old one ended is unknown. */
static void handover_tuple_taken(struct flow_table *t, struct sf_flow *f, __u64 ts)
{
	struct sf_tuple k;
	__u32 i;

	flow_tuple(f, &k);
	for (i = t->tbuckets[tuple_hash(&k) & (t->nbuckets - 1)]; i != SF_NONE; i = at(t, i)->tnext) {
		struct sf_flow *o = at(t, i);

		if (o != f && o->handover_ts && !o->closed && tuple_eq(o, &k)) {
			end_handover(t, o, HO_UNSEEN, ts);
			return;
		}
	}
}

/* The first event of a snapshot socket: from now on it is keyed like any
 * other flow. */
static struct sf_flow *join_snapshot(struct flow_table *t, const struct synfin_event *e)
{
	struct sf_flow *f = lookup(t, e->cookie, SNAP_GEN);

	if (!f)
		return NULL;
	hash_unlink(t, f);
	f->sk = e->sk;
	f->gen = e->gen;
	hash_link(t, f);
	t->st.snapshot_joined++;
	t->st.snapshot_unjoined--;
	return f;
}

static void ingest_state(struct flow_table *t, const struct synfin_event *e)
{
	struct sf_flow *f = lookup(t, e->sk, e->gen);
	__u8 new = e->newstate;
	__u16 bit = 1u << new;
	int handover;

	if (!f && (e->flags & SF_F_NO_ENTRY) && e->cookie)
		f = join_snapshot(t, e);
	if (!f) {
		if (!(e->flags & SF_F_NEW_GEN) && recently_emitted(t, e->sk, e->gen)) {
			t->st.late++;
			return;
		}
		f = new_flow(t, e);
		if (e->oldstate == SF_TCP_LISTEN && new == SF_TCP_SYN_RECV) {
			struct sf_flow *l = find_listener(t, e->netns, e->family, e->saddr, e->sport);

			if (l)
				l->children++;
		}
	} else if ((f->seen & bit) || (new == SF_TCP_CLOSE && f->handover_ts)) {
		/* Each state is entered once per generation. */
		f->duplicates++;
		t->st.duplicates++;
		return;
	}

	/* a birth that arrives after later transitions (another CPU) */
	if (is_birth(e) && f->role == SF_ROLE_UNKNOWN)
		set_birth(f, e);
	handover = new == SF_TCP_CLOSE && !f->closed ? is_handover(t, f, e) : 0;
	f->events++;
	if (handover <= 0) {
		f->seen |= bit;
		f->state_ts[new] = e->ts_ns;
		f->state_prev[new] = e->oldstate;
		/* could be the hand-over as well as the peer's FIN */
		if (handover < 0)
			set_src(f, new, SF_SRC_HANDOVER);
	}
	if (new == SF_TCP_SYN_RECV && f->segs != SF_NONE) {
		/* the server's half-open phase began when the SYN arrived, not
		 * when the kernel created this socket (at the final ACK) */
		const struct sf_seg_rec *syn = &at_segs(t, f)->slot[SF_SEG_SYN];

		if (have(at_segs(t, f), SF_SEG_SYN) && !syn->out && syn->ts < e->ts_ns) {
			f->state_ts[new] = syn->ts;
			set_src(f, new, SF_SRC_SEGMENT);
			if (syn->ts < f->first_ts)
				f->first_ts = syn->ts;
		}
	}
	if (e->sk_err)
		f->sk_err = e->sk_err;
	if (e->sport && (!f->sport || e->ts_ns >= f->last_ts))
		learn_tuple(t, f, e);
	if (e->owner_src != SF_OWNER_NONE && e->ts_ns >= f->last_ts) {
		take_owner(f, e);
		if (f->pile_tgid && f->pile_tgid != f->tgid && t->cfg.pileups) {
			/* the CLOSE_WAIT belongs to another process now: only
			 * the pile-up count moves */
			struct pileup_key k = { .netns = f->netns, .tgid = f->pile_tgid };

			pileup__add(t->cfg.pileups, PILEUP_CLOSE_WAIT_PROCESS, &k, -1, NULL, e->ts_ns);
			k.tgid = f->pile_tgid = f->tgid;
			pileup__add(t->cfg.pileups, PILEUP_CLOSE_WAIT_PROCESS, &k, 1, f->comm, e->ts_ns);
		}
	}
	if (e->ts_ns < f->first_ts)
		f->first_ts = e->ts_ns;
	if (e->ts_ns < f->last_ts)
		f->partial |= SF_PART_OUT_OF_ORDER;

	if (e->ts_ns >= f->last_ts) {
		f->last_ts = e->ts_ns;
		if (!f->closed && new != SF_TCP_CLOSE)
			set_current_state(t, f, new, e->ts_ns);
	}
	if (!f->closed) {
		list_unlink(t, &t->lru, f, LRU);
		list_push_head(t, &t->lru, f, LRU);
	}

	if (new == SF_TCP_LISTEN && f->role == SF_ROLE_LISTENER) {
		struct sf_record rec = { .type = SF_REC_LISTEN_START, .flow = f };

		link_listener(t, f);
		t->st.listen_records++;
		t->sink(t->sink_ctx, &rec);
	}
	if (new == SF_TCP_CLOSE && !f->closed) {
		/* a quiet close from FIN_WAIT_2 with the peer's FIN received,
		 * or from CLOSING, is TIME_WAIT's beginning, in a time-wait
		 * socket: that is where a stuck flow went */
		bool tw = (e->oldstate == SF_TCP_FIN_WAIT2 || e->oldstate == SF_TCP_CLOSING) &&
			  !e->sk_err && !f->rst_sent && !f->rst_recv;

		if (handover > 0)
			begin_handover(t, f, e->ts_ns);
		else
			mark_closed(t, f, e->ts_ns, tw ? SF_TCP_TIME_WAIT : SF_TCP_CLOSE);
	}
}

static void ingest_control(struct flow_table *t, const struct synfin_event *e)
{
	__u8 state = e->newstate;
	struct sf_flow *f;

	if (e->kind == SF_EV_SYNACK_RETRANS) {
		/* The request socket is no socket flow: count it on the
		 * listener that owns it, and on the half-open flow of its
		 * tuple when segments started one (its child inherits it). */
		struct sf_tuple k;
		struct sf_flow *r;

		tuple_set(&k, e->netns, e->family, e->saddr, e->daddr, e->sport, e->dport);
		r = lookup(t, tuple_hash(&k), REQ_GEN);
		f = find_listener(t, e->netns, e->family, e->saddr, e->sport);
		if (r)
			r->synack_retrans++;
		if (!f) {
			if (!r)
				t->st.orphans++;
			return;
		}
		f->synack_retrans++;
		return;
	}
	f = lookup(t, e->sk, e->gen);
	if (!f) {
		/* With a generation, BPF knows the socket: its state event
		 * is merely behind this one. Without, nothing to join. */
		if ((e->flags & SF_F_NO_ENTRY) || recently_emitted(t, e->sk, e->gen)) {
			t->st.orphans++;
			return;
		}
		f = new_flow(t, e);
	}
	f->events++;
	if (e->sport && !f->sport)
		learn_tuple(t, f, e);
	/* An abortive close enters CLOSE first and sends its RST after: name
	 * the state the connection was aborted in. */
	if (state == SF_TCP_CLOSE && (f->seen & (1u << SF_TCP_CLOSE)))
		state = f->state_prev[SF_TCP_CLOSE];
	switch (e->kind) {
	case SF_EV_RETRANS:
		if (state == SF_TCP_SYN_SENT)
			f->syn_retrans++;
		else if (state == SF_TCP_SYN_RECV)
			f->synack_retrans++;
		else
			f->fin_retrans++;
		break;
	case SF_EV_RESET_RECV:
		if (!f->rst_recv)
			f->rst_recv = state;
		break;
	case SF_EV_RESET_SENT:
		if (!f->rst_sent)
			f->rst_sent = state;
		break;
	}
}

/* A placeholder: segments waiting for the flow that will claim them. */
static struct sf_flow *new_placeholder(struct flow_table *t, const struct synfin_event *e, __u64 key)
{
	struct sf_flow *f = alloc_flow(t);

	f->sk = key;
	f->gen = SEG_GEN;
	f->netns = e->netns;
	f->first_ts = f->last_ts = e->ts_ns;
	f->placeholder = 1;
	t->placeholders++;
	f->closed = 1;
	f->emit_at = e->ts_ns + t->cfg.segment_hold_ns;
	hash_link(t, f);
	closing_insert(t, f, SF_CQ_PLACEHOLDER);
	t->st.closing++;
	return f;
}

#define LOOPBACK_IFINDEX 1 /* lo is the first device of every namespace */

static void ingest_segment_end(struct flow_table *t, const struct synfin_event *e, bool out);

static void ingest_segment(struct flow_table *t, const struct synfin_event *e)
{
	t->st.segments++;
	ingest_segment_end(t, e, e->seg.dir == SF_DIR_EGRESS);
	/* captured once on lo: the same segment arrives at the other end */
	if (t->cfg.loopback_mirror && e->seg.ifindex == LOOPBACK_IFINDEX && e->seg.dir == SF_DIR_EGRESS)
		ingest_segment_end(t, e, false);
}

/* One end's view of a segment: out, sent by it; else received. */
static void ingest_segment_end(struct flow_table *t, const struct synfin_event *e, bool out)
{
	struct sf_seg_rec r = {
		.ts = e->ts_ns,
		.seq = e->seg.seq,
		.ack = e->seg.ack,
		.payload = e->seg.payload,
		.window = e->seg.window,
		.flags = e->seg.tcp_flags,
		.out = out,
	};
	struct sf_tuple k;
	__u64 h;
	struct sf_flow *f, *l;
	struct sf_segs *g;

	/* sent: this end is the source; received: the destination */
	tuple_set(&k, e->netns, e->family, out ? e->saddr : e->daddr, out ? e->daddr : e->saddr,
		  out ? e->sport : e->dport, out ? e->dport : e->sport);
	h = tuple_hash(&k);
	f = tindex_lookup(t, &k, h);
	if (!f && t->tw) {
		struct tw_key tk;

		tw_key_set(&tk, k.netns, k.family, k.laddr, k.raddr, k.lport, k.rport);
		if (tw_table__segment(t->tw, &tk, r.flags, r.out, r.ts))
			return; /* the time-wait socket's */
	}
	if (!f)
		f = lookup(t, h, REQ_GEN);
	if (!f)
		f = lookup(t, h, SEG_GEN);
	if (!f && !r.out && (r.flags & 0x12) == 0x02 &&
	    (l = find_listener(t, k.netns, k.family, k.laddr, k.lport))) {
		/* A SYN reaching a listener: the half-open phase starts now,
		 * long before the kernel creates the child socket. A flood
		 * is tracked up to a cap per listener, and counted. */
		struct synfin_event q = *e;

		if (l->half_open >= t->cfg.max_half_open) {
			t->st.half_open_dropped++;
			return;
		}

		q.kind = SF_EV_STATE;
		q.sk = h;
		q.gen = REQ_GEN;
		q.oldstate = SF_TCP_LISTEN;
		q.newstate = SF_TCP_SYN_RECV;
		memcpy(q.saddr, k.laddr, 16);
		memcpy(q.daddr, k.raddr, 16);
		q.sport = k.lport;
		q.dport = k.rport;
		q.owner_src = SF_OWNER_NONE;
		q.flags = 0;
		f = new_flow(t, &q);
		f->role = SF_ROLE_SERVER;
		f->seen |= 1u << SF_TCP_SYN_RECV;
		f->state_ts[SF_TCP_SYN_RECV] = e->ts_ns;
		f->state_prev[SF_TCP_SYN_RECV] = SF_TCP_LISTEN;
		set_src(f, SF_TCP_SYN_RECV, SF_SRC_SEGMENT);
		set_current_state(t, f, SF_TCP_SYN_RECV, e->ts_ns);
		t->st.half_open++;
		t->st.snapshot_unjoined++; /* a request: reconciliation tracks it */
		/* new_flow may have evicted and reused the listener's slot */
		l = find_listener(t, k.netns, k.family, k.laddr, k.lport);
		if (l) {
			l->half_open++;
			f->half_open_counted = 1;
		}
	}
	if (!f) {
		/* bounded: forwarded traffic or scans must not crowd out flows */
		if (t->placeholders >= t->cfg.max_flows / 4) {
			t->st.segments_unmatched++;
			return;
		}
		f = new_placeholder(t, e, h);
	}
	if (!segs_get(t, f))
		return;
	if (!segs_add(t, f, &r)) {
		f->duplicates++;
		t->st.duplicates++;
		return;
	}
	g = at_segs(t, f); /* it may have moved to a full block */
	f->events++;
	if (f->handover_ts)
		handover_segment(t, f, g, &r);
	/* the active closer's record waits for 7 after the hand-over: once
	 * it is here, nothing more is expected */
	if (f->closed && !f->placeholder && have(g, SF_SEG_FIN2_ACK) && f->emit_at > e->ts_ns + t->cfg.close_grace_ns) {
		closing_unlink(t, f);
		f->emit_at = e->ts_ns + t->cfg.close_grace_ns;
		closing_insert(t, f, SF_CQ_GRACE);
	}
}

int flow_table__ingest(struct flow_table *t, const struct synfin_event *e)
{
	bool seg = e->kind == SF_EV_SEGMENT;

	if (e->version != SYNFIN_EVENT_VERSION || !e->kind || e->kind >= SF_EV_KIND_MAX ||
	    (!seg && (!valid_state(e->oldstate) || !valid_state(e->newstate))) ||
	    (e->family != 2 && e->family != 10)) {
		t->st.decode_errors++;
		return -EINVAL;
	}
	t->st.events++;
	if (seg)
		ingest_segment(t, e);
	else if (e->kind == SF_EV_STATE)
		ingest_state(t, e);
	else
		ingest_control(t, e);
	return 0;
}

void flow_table__advance(struct flow_table *t, __u64 now_ns)
{
	if (t->nsettle)
		settle(t);
	/* without rounds, nothing shows a time-wait socket's FIN_WAIT_2
	 * timeout: Linux's default is assumed, and the record says so */
	while (!t->cfg.time_wait_rounds && t->ho.head != SF_NONE) {
		struct sf_flow *f = at(t, t->ho.head);

		if (f->handover_ts + FIN_TIMEOUT_NS + 1000000000ULL > now_ns)
			break;
		end_handover(t, f, HO_ASSUMED, f->handover_ts + FIN_TIMEOUT_NS);
	}
	for (;;) {
		struct sf_flow *f = closing_first(t);

		if (!f)
			break;

		if (f->emit_at > now_ns)
			break;
		emit_and_release(t, f);
	}
	check_deadlines(t, now_ns);
	if (t->tw)
		tw_table__advance(t->tw, now_ns, t->cfg.time_wait_rounds);
}

void flow_table__flush(struct flow_table *t)
{
	struct sf_flow *f;

	while ((f = closing_first(t)))
		emit_and_release(t, f);
}

void flow_table__stats(const struct flow_table *t, struct flow_table_stats *st)
{
	*st = t->st;
}

static __u64 tuple_key(const struct sf_snapshot_sock *s)
{
	struct sf_tuple k;

	tuple_set(&k, s->netns, s->family, s->saddr, s->daddr, s->sport, s->dport);
	return tuple_hash(&k);
}

/* A half-open request ends. Completed (next: the child's state): the
 * child carries on, nothing to report but 'resolved' if it was stuck.
 * Gone from the kernel's list (next 0): it expired or was reset, and its
 * record says so. */
static void drop_request(struct flow_table *t, struct sf_flow *f, __u8 next, __u64 now)
{
	if (f->closed) {
		/* already reported gone and waiting in the closing list, when
		 * its child shows up after all: the child carries on */
		closing_unlink(t, f);
		t->st.closing--;
		release(t, f);
		return;
	}
	if (!next) {
		f->seen |= 1u << SF_TCP_CLOSE;
		f->state_ts[SF_TCP_CLOSE] = now;
		f->state_prev[SF_TCP_CLOSE] = f->state;
		f->partial |= SF_PART_VANISHED;
		mark_closed(t, f, now, SF_TCP_CLOSE);
		return;
	}
	state_leave(t, f, next, now);
	list_unlink(t, &t->lru, f, LRU);
	t->st.open--;
	t->st.by_state[f->state]--;
	release(t, f);
}

void flow_table__round_begin(struct flow_table *t)
{
	t->round++;
	t->nunmatched = 0;
	t->st.reconcile_rounds++;
	if (t->tw)
		tw_table__round_begin(t->tw);
}

void flow_table__time_wait_seen(struct flow_table *t, const struct sf_snapshot_sock *s, __u64 now)
{
	struct tw_key k;

	if (t->ho.head != SF_NONE) {
		/* a handed-over flow's time-wait socket: still in FIN_WAIT_2,
		 * or TIME_WAIT began (its FIN was not captured) */
		struct sf_tuple tk;
		struct sf_flow *f;

		tuple_set(&tk, s->netns, s->family, s->saddr, s->daddr, s->sport, s->dport);
		f = tindex_lookup(t, &tk, tuple_hash(&tk));
		if (f && !f->closed && f->in_ho) {
			if (s->state == SF_TCP_TIME_WAIT)
				end_handover(t, f, HO_TW_SEEN, now);
			else
				f->ho_round = t->round;
			return;
		}
	}
	if (s->state == SF_TCP_FIN_WAIT2) {
		/* an orphan still in FIN_WAIT_2 has no inode either: a full
		 * socket, or a hand-over whose event was lost; it lives */
		struct sf_flow *f = listed_flow(t, s);

		if (f && !f->in_ho)
			listed(t, f, SF_TCP_FIN_WAIT2);
	}
	if (!t->tw)
		return;
	tw_key_set(&k, s->netns, s->family, s->saddr, s->daddr, s->sport, s->dport);
	tw_table__seen(t->tw, &k, now);
}

void flow_table__set_loopback_mirror(struct flow_table *t, bool on)
{
	t->cfg.loopback_mirror = on;
}

void flow_table__tw_stats(const struct flow_table *t, struct tw_stats *st)
{
	if (t->tw)
		tw_table__stats(t->tw, st);
	else
		memset(st, 0, sizeof(*st));
}

/* The open flow of a socket in the kernel's list, by tuple (listeners by
 * address): a flow born under our eyes is listed by what it is, not by a
 * cookie. At start-up, this also keeps a socket whose events came first
 * from becoming a second, pre-existing flow. */
static struct sf_flow *listed_flow(struct flow_table *t, const struct sf_snapshot_sock *s)
{
	struct sf_tuple k;
	struct sf_flow *f;

	if (s->state == SF_TCP_LISTEN) {
		/* the very address (several may share a port: SO_REUSEPORT,
		 * one per address), one not listed yet this round first */
		struct sf_flow *any = NULL;

		for (__u32 i = t->lbuckets[listen_hash(s->netns, s->family, s->sport)]; i != SF_NONE;
		     i = at(t, i)->lnext) {
			f = at(t, i);
			if (f->netns != s->netns || f->family != s->family || f->sport != s->sport || f->closed ||
			    memcmp(f->saddr, s->saddr, 16))
				continue;
			if (f->snap_round != t->round)
				return f;
			any = f;
		}
		return any;
	}
	tuple_set(&k, s->netns, s->family, s->saddr, s->daddr, s->sport, s->dport);
	f = tindex_lookup(t, &k, tuple_hash(&k));
	return f && !f->closed ? f : NULL;
}

static __u64 peer_key(__u32 netns, __u8 family, const __u8 *raddr, __u16 rport)
{
	static const __u8 any[16];
	struct sf_tuple k;

	tuple_set(&k, netns, family, any, raddr, 0, rport);
	return tuple_hash(&k);
}

static void unmatched_add(struct flow_table *t, __u64 key)
{
	if (t->nunmatched == t->unmatched_cap) {
		__u32 cap = t->unmatched_cap ? t->unmatched_cap * 2 : 256;
		__u64 *p = realloc(t->unmatched, cap * sizeof(*p));

		if (!p)
			return;
		t->unmatched = p;
		t->unmatched_cap = cap;
	}
	t->unmatched[t->nunmatched++] = key;
}

static int cmp_u64(const void *a, const void *b)
{
	__u64 x = *(const __u64 *)a, y = *(const __u64 *)b;

	return x < y ? -1 : x > y;
}

/* a flow without its local port: may it be one of the unmatched sockets? */
static bool maybe_unmatched(const struct flow_table *t, const struct sf_flow *f)
{
	__u64 k = peer_key(f->netns, f->family, f->daddr, f->dport);

	/* a failed allocation lost keys: then anything may be */
	return t->nunmatched == t->unmatched_cap ||
	       bsearch(&k, t->unmatched, t->nunmatched, sizeof(k), cmp_u64);
}

static void listed(struct flow_table *t, struct sf_flow *f, __u8 state)
{
	f->snap_round = t->round;
	f->round_state = state != f->state && !f->in_ho ? state : 0;
}

int flow_table__snapshot(struct flow_table *t, const struct sf_snapshot_sock *s, __u64 now, bool create)
{
	struct synfin_event e = {
		.ts_ns = now,
		.sk = s->cookie,
		.gen = SNAP_GEN,
		.netns = s->netns,
		.family = s->family,
		.oldstate = s->state,
		.newstate = s->state,
		.sport = s->sport,
		.dport = s->dport,
		.flags = SF_F_NO_ENTRY,
	};
	struct sf_flow *f;
	bool req;

	/* time-wait sockets are not flows: they are counted (pile-ups) */
	if (!valid_state(s->state) || s->state == SF_TCP_TIME_WAIT || s->state == SF_TCP_NEW_SYN_RECV ||
	    s->state == SF_TCP_CLOSE || (!s->cookie && s->state != SF_TCP_SYN_RECV))
		return -EINVAL;
	/* A request's cookie changes when its SYN-ACK timer fires: requests
	 * are keyed on their tuple, which lasts as long as they do. */
	req = s->state == SF_TCP_SYN_RECV;
	e.sk = req ? tuple_key(s) : s->cookie;
	e.gen = req ? REQ_GEN : SNAP_GEN;
	if (!req && (f = lookup(t, tuple_key(s), REQ_GEN)))
		/* the same tuple in another state: the handshake completed;
		 * the child is a flow of its own, born under our eyes */
		drop_request(t, f, s->state, now);
	f = lookup(t, e.sk, e.gen);
	if (!f && !req)
		f = listed_flow(t, s);
	if (f) {
		listed(t, f, s->state);
		return 1;
	}
	if (!create) {
		if (!req)
			unmatched_add(t, peer_key(s->netns, s->family, s->daddr, s->dport));
		return -ENOENT;
	}
	memcpy(e.saddr, s->saddr, sizeof(e.saddr));
	memcpy(e.daddr, s->daddr, sizeof(e.daddr));
	if (s->tgid) {
		e.tgid = e.pid = s->tgid;
		e.owner_src = SF_OWNER_SNAPSHOT;
		memcpy(e.comm, s->comm, sizeof(e.comm));
	}
	f = new_flow(t, &e);
	f->pre_existing = 1;
	f->snap_round = t->round;
	t->st.snapshot_flows++;
	t->st.snapshot_unjoined++;
	if (s->state == SF_TCP_SYN_RECV)
		f->role = SF_ROLE_SERVER; /* a listener's half-open request */
	if (s->state == SF_TCP_LISTEN) {
		struct sf_record rec = { .type = SF_REC_LISTEN_START, .flow = f, .at = now };

		f->role = SF_ROLE_LISTENER;
		link_listener(t, f);
		t->st.listen_records++;
		t->sink(t->sink_ctx, &rec);
	}
	return 0;
}

void flow_table__round_end(struct flow_table *t, __u64 now, bool complete)
{
	__u32 i = t->lru.head;

	if (!complete)
		return;
	if (t->tw)
		tw_table__round_end(t->tw, now);
	/* handed-over flows whose time-wait socket the kernel no longer
	 * lists: it gave up waiting for the peer's FIN */
	for (i = t->ho.head; i != SF_NONE;) {
		struct sf_flow *f = at(t, i);

		i = f->ho.next;
		if (f->ho_round != t->round && f->handover_ts < now)
			end_handover(t, f, HO_GONE, now);
	}
	/* open flows the list did not have, or had in another state: the
	 * next advance() settles them, once the events read meanwhile are in */
	t->nsettle = 0;
	t->settle_ts = now;
	if (t->nunmatched)
		qsort(t->unmatched, t->nunmatched, sizeof(*t->unmatched), cmp_u64);
	for (i = t->lru.head; i != SF_NONE; i = at(t, i)->lru.next) {
		struct sf_flow *f = at(t, i);
		bool req = f->gen == SNAP_GEN || f->gen == REQ_GEN;

		if (f->snap_round == t->round ? !f->round_state :
		    f->placeholder || f->in_ho || f->first_ts >= now ||
			    (!f->sport && !req && maybe_unmatched(t, f)))
			continue;
		if (t->nsettle == t->settle_cap) {
			__u32 cap = t->settle_cap ? t->settle_cap * 2 : 256;
			struct settle *p = realloc(t->settle, cap * sizeof(*p));

			if (!p)
				break; /* the next round tries again */
			t->settle = p;
			t->settle_cap = cap;
		}
		t->settle[t->nsettle++] = (struct settle){ .idx = i, .sk = f->sk, .gen = f->gen };
	}
}

/* See flow_table__round_end. */
static void settle(struct flow_table *t)
{
	__u64 now = t->settle_ts;

	for (__u32 n = 0; n < t->nsettle; n++) {
		struct sf_flow *f = at(t, t->settle[n].idx);
		__u8 st = f->round_state;

		/* gone since, or an event since: it lives, or ended as it should */
		if (f->sk != t->settle[n].sk || f->gen != t->settle[n].gen || f->closed || f->last_ts >= now)
			continue;
		f->round_state = 0;
		if (f->snap_round == t->round) {
			/* its transitions were lost: the kernel's state, from an
			 * unknown one (the path shows the gap) */
			if (!valid_state(st) || st == f->state || (f->seen & (1u << st)))
				continue;
			t->st.reconcile_corrected++;
			enter_at(f, st, 0, now, SF_SRC_ROUND);
			set_current_state(t, f, st, now);
			f->last_ts = now;
			continue;
		}
		t->st.reconcile_vanished++;
		if (f->state == SF_TCP_SYN_RECV && (f->gen == SNAP_GEN || f->gen == REQ_GEN)) {
			drop_request(t, f, 0, now); /* expired (or reset) */
			continue;
		}
		/* closed while we were not looking (or its end was lost) */
		f->partial |= SF_PART_VANISHED;
		enter_at(f, SF_TCP_CLOSE, f->state, now, SF_SRC_ROUND);
		mark_closed(t, f, now, SF_TCP_CLOSE);
	}
	t->nsettle = 0;
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

void sf_flow__summarize(const struct sf_flow *f, struct sf_summary *s)
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
		if (st == SF_TCP_SYN_RECV && f->role == SF_ROLE_SERVER && src_of(f, st) != SF_SRC_SEGMENT)
			continue;
		s->dwell[st] = f->state_ts[nx] - f->state_ts[st];
		s->have_dwell |= 1u << st;
		s->dwell_src[st] = src_of(f, st) > src_of(f, nx) ? src_of(f, st) : src_of(f, nx);
	}

	s->start_ts = n ? f->state_ts[order[0]] : f->first_ts;
	s->end_ts = sf_flow__end_ts(f);

	if (seen(f, SF_TCP_SYN_SENT) && seen(f, SF_TCP_ESTABLISHED))
		s->connect_ns = f->state_ts[SF_TCP_ESTABLISHED] - f->state_ts[SF_TCP_SYN_SENT];
	if (f->role == SF_ROLE_CLIENT) {
		s->handshake_ns = s->connect_ns;
	} else if (seen(f, SF_TCP_SYN_RECV) && seen(f, SF_TCP_ESTABLISHED) &&
		   src_of(f, SF_TCP_SYN_RECV) == SF_SRC_SEGMENT) {
		s->handshake_ns = f->state_ts[SF_TCP_ESTABLISHED] - f->state_ts[SF_TCP_SYN_RECV];
		s->handshake_src = SF_SRC_SEGMENT;
	}
	if (!(f->partial & (SF_PART_MID_FLOW | SF_PART_MISSED)) && n &&
	    (seen(f, SF_TCP_CLOSE) || seen(f, SF_TCP_TIME_WAIT))) {
		__u8 last = seen(f, SF_TCP_CLOSE) ? SF_TCP_CLOSE : SF_TCP_TIME_WAIT;

		s->lifetime_ns = s->end_ts - s->start_ts;
		s->lifetime_src = src_of(f, order[0]) > src_of(f, last) ? src_of(f, order[0]) : src_of(f, last);
	}

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
				s->tw_entered_src = src_of(f, SF_TCP_CLOSE);
			}
		}
	} else if (seen(f, SF_TCP_TIME_WAIT)) {
		/* handed over in FIN_WAIT_2; TIME_WAIT began later, at the
		 * peer's FIN (or when a round saw it) */
		s->time_wait_inferred = true;
		s->time_wait_from = SF_TCP_FIN_WAIT2;
		s->tw_entered_ts = f->state_ts[SF_TCP_TIME_WAIT];
		s->tw_entered_src = src_of(f, SF_TCP_TIME_WAIT);
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
}
