/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The flow table's insides, shared by its files (and by nothing else):
 *   flow.c          the table: pool, indexes, lists, eviction, emission
 *   flow_life.c     state and control events: the lifecycle, FIN_WAIT_2
 *                   in a time-wait socket, where each time came from
 *   flow_segs.c     segments: tuple index, numbering (the seed's 1-7)
 *   flow_stuck.c    stuck detection (deadline lists, rate limit)
 *   flow_round.c    reconciliation with the kernel's socket list
 *   flow_summary.c  what a finished flow means (summary, close kind)
 * Pure: no libbpf, no I/O, no logging.
 */
#ifndef SYNFIN_FLOW_INT_H
#define SYNFIN_FLOW_INT_H

#include <stddef.h>
#include <string.h>
#include "flow.h"
#include "hash.h"

#define RECENT_SLOTS 4096	/* remembered emitted flows, for late events */

#define SNAP_GEN UINT64_MAX	/* gen of snapshot flows, keyed by cookie until joined */

#define REQ_GEN (UINT64_MAX - 1) /* gen of half-open requests, keyed by tuple */

#define SEG_GEN (UINT64_MAX - 2) /* gen of segment placeholders, keyed by tuple */

#define FREE_GEN (UINT64_MAX - 3) /* gen of a free pool slot: no flow has it */

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
	struct sf_summary sum;	  /* the record going out */
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

static inline void list_unlink(struct flow_table *t, struct flow_list *l, struct sf_flow *f, size_t off)
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

static inline void list_push_head(struct flow_table *t, struct flow_list *l, struct sf_flow *f, size_t off)
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
static inline void list_insert_sorted(struct flow_table *t, struct flow_list *l, struct sf_flow *f, size_t off,
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

static inline struct sf_flow *lookup(struct flow_table *t, __u64 sk, __u64 gen)
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

static inline bool all_zero(const __u8 *a)
{
	static const __u8 zero[16];

	return !memcmp(a, zero, 16);
}

static inline bool seen(const struct sf_flow *f, unsigned int s)
{
	return f->seen & (1u << s);
}

/* Segments name no socket, only addresses: flows are also indexed by
 * (netns, family, local, remote) once they know their tuple. */

struct sf_tuple {
	__u32 netns;
	__u8 family;
	__u8 laddr[16], raddr[16];
	__u16 lport, rport;
};

static inline bool v4_mapped(const __u8 *a)
{
	static const __u8 prefix[12] = { [10] = 0xff, [11] = 0xff };

	return !memcmp(a, prefix, 12);
}

/* A dual-stack (AF_INET6) socket talks IPv4 with v4-mapped addresses,
 * while its segments are plain IPv4: compare them as IPv4. */
static inline void tuple_set(struct sf_tuple *k, __u32 netns, __u8 family, const __u8 *laddr, const __u8 *raddr,
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

static inline __u64 tuple_hash(const struct sf_tuple *k)
{
	__u64 h = sf_mix64(((__u64)k->netns << 32) ^ ((__u64)k->family << 16) ^ k->lport);

	h = sf_mix64(h ^ ((__u64)k->rport << 7));
	/* IPv4 (v4-mapped ones too, see tuple_set): 8 bytes in all */
	return sf_mix_addrs(h, k->family, k->laddr, k->raddr);
}

static inline void flow_tuple(const struct sf_flow *f, struct sf_tuple *k)
{
	tuple_set(k, f->netns, f->family, f->saddr, f->daddr, f->sport, f->dport);
}

static inline bool tuple_eq(const struct sf_flow *f, const struct sf_tuple *k)
{
	struct sf_tuple fk;

	flow_tuple(f, &fk);
	return !memcmp(&fk, k, sizeof(fk));
}

/*
 * A flow's segment block: f->segs indexes the full pool when SEGS_FULL is
 * set, else the small pool, whose blocks hold only the head of a struct
 * sf_segs (counters and slots 1-3). Slots past 3 are read only where
 * their have bit is set, and written only through ft_segs_full().
 */
#define SEGS_FULL (1u << 31)

static inline struct sf_segs *pool_at(const struct seg_pool *p, __u32 i)
{
	return (struct sf_segs *)(p->base + (size_t)i * p->elem);
}

static inline struct sf_segs *at_segs(const struct flow_table *t, const struct sf_flow *f)
{
	return pool_at(&t->segs[!!(f->segs & SEGS_FULL)], f->segs & ~SEGS_FULL);
}

static inline bool have(const struct sf_segs *g, int slot)
{
	return g->have & (1u << slot);
}

/* sequence number just past a segment: SYN and FIN count for one */
static inline __u32 seq_end(const struct sf_seg_rec *r)
{
	return r->seq + r->payload + ((r->flags & 0x03) ? 1 : 0);
}

static inline bool valid_state(unsigned int s)
{
	return s >= SF_TCP_ESTABLISHED && s < SF_TCP_NSTATES;
}

#define FIN_TIMEOUT_NS (60ULL * 1000000000ULL) /* net.ipv4.tcp_fin_timeout default */

#define LOOPBACK_IFINDEX 1 /* lo is the first device of every namespace */

/* FIN_WAIT_2 in a time-wait socket (flow_life.c). An orphaned socket (the
 * application called close()) that reaches FIN_WAIT_2 is replaced at once
 * by a time-wait socket in its FIN_WAIT_2 sub-state (tcp_fin_timeout, 60 s
 * by default); the tracepoint's FIN_WAIT2 -> CLOSE is that hand-over, not
 * the end of FIN_WAIT_2. The flow stays open in FIN_WAIT_2 (stuck detection
 * and counts see it) until something shows how it ended. */

enum ho_end {
	HO_PEER_FIN,	/* segment 6: TIME_WAIT begins */
	HO_TW_SEEN,	/* a round listed the time-wait socket in TIME_WAIT */
	HO_GONE,	/* a round no longer listed it: the FIN_WAIT_2 timeout */
	HO_ASSUMED,	/* no rounds: Linux's default FIN_WAIT_2 timeout passed */
	HO_RESET,	/* a RST ended it */
	HO_UNSEEN,	/* nothing can tell */
};

/* flow.c */
void ft_closing_insert(struct flow_table *t, struct sf_flow *f, int q);
void ft_closing_unlink(struct flow_table *t, struct sf_flow *f);
struct sf_flow *ft_find_listener(struct flow_table *t, __u32 netns, __u8 family, const __u8 *laddr, __u16 port);
void ft_link_listener(struct flow_table *t, struct sf_flow *f);
void ft_unlink_listener(struct flow_table *t, struct sf_flow *f);
bool ft_recently_emitted(const struct flow_table *t, __u64 sk, __u64 gen);
void ft_hash_unlink(struct flow_table *t, struct sf_flow *f);
void ft_hash_link(struct flow_table *t, struct sf_flow *f);
void ft_release(struct flow_table *t, struct sf_flow *f);
struct sf_flow *ft_alloc_flow(struct flow_table *t);
void ft_set_current_state(struct flow_table *t, struct sf_flow *f, __u8 state, __u64 ts);
void ft_mark_closed(struct flow_table *t, struct sf_flow *f, __u64 ts, __u8 next);
/* flow_stuck.c */
void ft_state_leave(struct flow_table *t, struct sf_flow *f, __u8 next, __u64 now);
void ft_state_enter(struct flow_table *t, struct sf_flow *f, __u64 now);
void ft_check_deadlines(struct flow_table *t, __u64 now);
/* flow_segs.c */
void ft_tw_key_set(struct tw_key *k, __u32 netns, __u8 family, const __u8 *laddr, const __u8 *raddr,
		   __u16 lport, __u16 rport);
void ft_tindex_unlink(struct flow_table *t, struct sf_flow *f);
void ft_tindex_link(struct flow_table *t, struct sf_flow *f);
struct sf_flow *ft_tindex_lookup(struct flow_table *t, const struct sf_tuple *k, __u64 h);
void ft_segs_free(struct flow_table *t, struct sf_flow *f);
struct sf_segs *ft_segs_full(struct flow_table *t, struct sf_flow *f);
void ft_segs_absorb(struct flow_table *t, struct sf_flow *f, struct sf_flow *from);
void ft_ingest_segment(struct flow_table *t, const struct synfin_event *e);
const struct sf_segs *ft_segs_view(struct flow_table *t, const struct sf_flow *f);
void ft_tw_key_of(const struct sf_flow *f, struct tw_key *k);
/* flow_life.c */
struct sf_flow *ft_new_flow(struct flow_table *t, const struct synfin_event *e);
void ft_set_src(struct sf_flow *f, unsigned int state, enum sf_time_src src);
enum sf_time_src ft_src_of(const struct sf_flow *f, unsigned int state);
void ft_enter_at(struct sf_flow *f, unsigned int state, __u8 prev, __u64 ts, enum sf_time_src src);
void ft_end_handover(struct flow_table *t, struct sf_flow *f, enum ho_end how, __u64 ts);
void ft_handover_segment(struct flow_table *t, struct sf_flow *f, const struct sf_segs *g, const struct sf_seg_rec *r);
void ft_ingest_state(struct flow_table *t, const struct synfin_event *e);
int ft_unfold_birth(struct flow_table *t, const struct synfin_event *e);
void ft_ingest_control(struct flow_table *t, const struct synfin_event *e);
/* flow_round.c */
void ft_drop_request(struct flow_table *t, struct sf_flow *f, __u8 next, __u64 now);
void ft_settle(struct flow_table *t);

#endif /* SYNFIN_FLOW_INT_H */
