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
#include "flow.h"

#define RECENT_SLOTS 4096	/* remembered emitted flows, for late events */
#define SNAP_GEN UINT64_MAX	/* gen of snapshot flows, keyed by cookie until joined */
#define REQ_GEN (UINT64_MAX - 1) /* gen of half-open requests, keyed by tuple */
#define LISTEN_BUCKETS 1024

struct flow_list {
	__u32 head, tail;
};

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
	struct flow_list closing; /* closed flows in close order */
	struct flow_list slist[SF_TCP_NSTATES]; /* watched states, by entry time */
	__u32 round;		/* reconcile round */
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
	};

	return (unsigned int)k < sizeof(n) / sizeof(n[0]) ? n[k] : "unknown";
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

static inline __u64 mix64(__u64 x)
{
	/* splitmix64 finaliser: socket addresses differ in few bits */
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return x;
}

static inline __u64 key_hash(__u64 sk, __u64 gen)
{
	return mix64(sk ^ (gen * 0x9e3779b97f4a7c15ULL));
}

static inline __u32 listen_hash(__u32 netns, __u8 family, __u16 port)
{
	return (__u32)mix64(((__u64)netns << 24) ^ ((__u64)family << 16) ^ port) & (LISTEN_BUCKETS - 1);
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

static __u64 closed_at(const struct sf_flow *f)
{
	return f->state_ts[SF_TCP_CLOSE];
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
	/* calloc: pages are only touched, so only cost RSS, when used */
	t->pool = calloc(cfg->max_flows, sizeof(*t->pool));
	if (!t->buckets || !t->pool) {
		flow_table__free(t);
		return NULL;
	}
	memset(t->buckets, 0xff, sizeof(*t->buckets) * n);
	memset(t->lbuckets, 0xff, sizeof(t->lbuckets));
	t->free_head = SF_NONE;
	t->lru.head = t->lru.tail = SF_NONE;
	t->closing.head = t->closing.tail = SF_NONE;
	for (int i = 0; i < SF_TCP_NSTATES; i++)
		t->slist[i].head = t->slist[i].tail = SF_NONE;
	t->tokens = cfg->stuck_rate;
	return t;
}

void flow_table__free(struct flow_table *t)
{
	if (!t)
		return;
	free(t->buckets);
	free(t->pool);
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

static struct sf_flow *find_listener(struct flow_table *t, __u32 netns, __u8 family, __u16 port)
{
	__u32 i = t->lbuckets[listen_hash(netns, family, port)];

	while (i != SF_NONE) {
		struct sf_flow *f = at(t, i);

		if (f->netns == netns && f->family == family && f->sport == port && !f->closed)
			return f;
		i = f->lnext;
	}
	return NULL;
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

static void release(struct flow_table *t, struct sf_flow *f);

/* Hand the flow to the sink, then drop it from every index. */
static void emit_and_release(struct flow_table *t, struct sf_flow *f)
{
	struct sf_record rec = { .flow = f };

	if (!f->closed)
		state_leave(t, f, 0, f->last_ts); /* evicted */
	if (f->role == SF_ROLE_LISTENER) {
		rec.type = SF_REC_LISTEN_STOP;
		t->st.listen_records++;
		unlink_listener(t, f);
	} else {
		rec.type = SF_REC_FLOW;
		t->st.flows_emitted++;
	}
	t->sink(t->sink_ctx, &rec);

	if (f->closed) {
		list_unlink(t, &t->closing, f, LRU);
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
	if (f->gen == SNAP_GEN || f->gen == REQ_GEN)
		t->st.snapshot_unjoined--;
	hash_unlink(t, f);
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
		if (t->lru.tail != SF_NONE) {
			f = at(t, t->lru.tail);
			f->partial |= SF_PART_EVICTED;
			t->st.evicted++;
		} else {
			f = at(t, t->closing.head);
		}
		emit_and_release(t, f);
		i = t->free_head;
		t->free_head = at(t, i)->lru.next;
	}
	f = at(t, i);
	memset(f, 0, sizeof(*f));
	f->hnext = f->lnext = SF_NONE;
	f->lru.prev = f->lru.next = f->dl.prev = f->dl.next = SF_NONE;
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

static struct sf_flow *new_flow(struct flow_table *t, const struct synfin_event *e)
{
	struct sf_flow *f = alloc_flow(t);

	f->sk = e->sk;
	f->gen = e->gen;
	f->netns = e->netns;
	f->first_ts = f->last_ts = e->ts_ns;
	f->state = e->oldstate;
	f->observed_from = e->oldstate;
	take_tuple(f, e);
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
	list_insert_sorted(t, &t->closing, f, LRU, closed_at(f), closed_at);
	t->st.closing++;
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

	if (!f && (e->flags & SF_F_NO_ENTRY) && e->cookie)
		f = join_snapshot(t, e);
	if (!f) {
		if (!(e->flags & SF_F_NEW_GEN) && recently_emitted(t, e->sk, e->gen)) {
			t->st.late++;
			return;
		}
		f = new_flow(t, e);
		if (e->oldstate == SF_TCP_LISTEN && new == SF_TCP_SYN_RECV) {
			struct sf_flow *l = find_listener(t, e->netns, e->family, e->sport);

			if (l)
				l->children++;
		}
	} else if (f->seen & bit) {
		/* Each state is entered once per generation. */
		f->duplicates++;
		t->st.duplicates++;
		return;
	}

	/* a birth that arrives after later transitions (another CPU) */
	if (is_birth(e) && f->role == SF_ROLE_UNKNOWN)
		set_birth(f, e);
	f->events++;
	f->seen |= bit;
	f->state_ts[new] = e->ts_ns;
	f->state_prev[new] = e->oldstate;
	if (e->sk_err)
		f->sk_err = e->sk_err;
	if (e->sport && (!f->sport || e->ts_ns >= f->last_ts))
		take_tuple(f, e);
	if (e->owner_src != SF_OWNER_NONE && e->ts_ns >= f->last_ts) {
		take_owner(f, e);
		if (f->pile_tgid && f->pile_tgid != f->tgid) {
			/* the CLOSE_WAIT belongs to another process now */
			state_leave(t, f, f->state, e->ts_ns);
			state_enter(t, f, e->ts_ns);
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
		__u32 b = listen_hash(f->netns, f->family, f->sport);
		struct sf_record rec = { .type = SF_REC_LISTEN_START, .flow = f };

		f->lnext = t->lbuckets[b];
		t->lbuckets[b] = idx_of(t, f);
		t->st.listen_records++;
		t->sink(t->sink_ctx, &rec);
	}
	if (new == SF_TCP_CLOSE && !f->closed) {
		/* a quiet close from FIN_WAIT_2/CLOSING is the hand-over to
		 * a time-wait socket: that is where a stuck flow went */
		bool tw = (e->oldstate == SF_TCP_FIN_WAIT2 || e->oldstate == SF_TCP_CLOSING) &&
			  !e->sk_err && !f->rst_sent && !f->rst_recv;

		mark_closed(t, f, e->ts_ns, tw ? SF_TCP_TIME_WAIT : SF_TCP_CLOSE);
	}
}

static void ingest_control(struct flow_table *t, const struct synfin_event *e)
{
	__u8 state = e->newstate;
	struct sf_flow *f;

	if (e->kind == SF_EV_SYNACK_RETRANS) {
		/* The request socket is not a flow yet: count it on the
		 * listener that owns it. */
		f = find_listener(t, e->netns, e->family, e->sport);
		if (!f) {
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
		take_tuple(f, e);
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

int flow_table__ingest(struct flow_table *t, const struct synfin_event *e)
{
	if (e->version != SYNFIN_EVENT_VERSION || !e->kind || e->kind >= SF_EV_KIND_MAX ||
	    !valid_state(e->oldstate) || !valid_state(e->newstate) ||
	    (e->family != 2 && e->family != 10)) {
		t->st.decode_errors++;
		return -EINVAL;
	}
	t->st.events++;
	if (e->kind == SF_EV_STATE)
		ingest_state(t, e);
	else
		ingest_control(t, e);
	return 0;
}

void flow_table__advance(struct flow_table *t, __u64 now_ns)
{
	while (t->closing.head != SF_NONE) {
		struct sf_flow *f = at(t, t->closing.head);

		if (closed_at(f) + t->cfg.close_grace_ns > now_ns)
			break;
		emit_and_release(t, f);
	}
	check_deadlines(t, now_ns);
}

void flow_table__flush(struct flow_table *t)
{
	while (t->closing.head != SF_NONE)
		emit_and_release(t, at(t, t->closing.head));
}

void flow_table__stats(const struct flow_table *t, struct flow_table_stats *st)
{
	*st = t->st;
}

static __u64 tuple_key(const struct sf_snapshot_sock *s)
{
	__u64 h = mix64(((__u64)s->netns << 32) ^ ((__u64)s->family << 16) ^ s->sport);

	h = mix64(h ^ ((__u64)s->dport << 7));
	for (int i = 0; i < 16; i += 8) {
		__u64 a, b;

		memcpy(&a, s->saddr + i, 8);
		memcpy(&b, s->daddr + i, 8);
		h = mix64(h ^ a);
		h = mix64(h ^ b);
	}
	return h;
}

/* A half-open request seen by polling ends: nothing to report unless it
 * was stuck (then 'resolved', next = where it went, 0 = gone). */
static void drop_request(struct flow_table *t, struct sf_flow *f, __u8 next, __u64 now)
{
	state_leave(t, f, next, now);
	list_unlink(t, &t->lru, f, LRU);
	t->st.open--;
	t->st.by_state[f->state]--;
	release(t, f);
}

void flow_table__round_begin(struct flow_table *t)
{
	t->round++;
	t->st.reconcile_rounds++;
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
	if (f) {
		f->snap_round = t->round;
		return 1;
	}
	if (!create)
		return -ENOENT;
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
		__u32 b = listen_hash(f->netns, f->family, f->sport);
		struct sf_record rec = { .type = SF_REC_LISTEN_START, .flow = f, .at = now };

		f->role = SF_ROLE_LISTENER;
		f->lnext = t->lbuckets[b];
		t->lbuckets[b] = idx_of(t, f);
		t->st.listen_records++;
		t->sink(t->sink_ctx, &rec);
	}
	return 0;
}

void flow_table__round_end(struct flow_table *t, __u64 now)
{
	__u32 i = t->lru.head;

	/* only snapshot flows can vanish unseen: skip the walk without them */
	while (t->st.snapshot_unjoined && i != SF_NONE) {
		struct sf_flow *f = at(t, i);

		i = f->lru.next;
		if ((f->gen != SNAP_GEN && f->gen != REQ_GEN) || f->snap_round == t->round)
			continue;
		t->st.reconcile_vanished++;
		if (f->state == SF_TCP_SYN_RECV) {
			drop_request(t, f, 0, now); /* expired (or reset) */
			continue;
		}
		/* closed while we were not looking: report what is known */
		f->partial |= SF_PART_VANISHED;
		f->seen |= 1u << SF_TCP_CLOSE;
		f->state_ts[SF_TCP_CLOSE] = now;
		f->state_prev[SF_TCP_CLOSE] = f->state;
		mark_closed(t, f, now, SF_TCP_CLOSE);
	}
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
	if (seen(f, SF_TCP_CLOSING) || s->path[0] == SF_TCP_CLOSING)
		return SF_CLOSE_SIMULTANEOUS;
	/* ESTABLISHED -> CLOSE directly only happens through a reset */
	if (f->state_prev[SF_TCP_CLOSE] == SF_TCP_ESTABLISHED)
		return SF_CLOSE_RESET;
	return SF_CLOSE_NORMAL;
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
		if (f->state_prev[order[i + 1]] != order[i])
			continue;
		s->dwell[order[i]] = f->state_ts[order[i + 1]] - f->state_ts[order[i]];
		s->have_dwell |= 1u << order[i];
	}

	s->start_ts = n ? f->state_ts[order[0]] : f->first_ts;
	s->end_ts = seen(f, SF_TCP_CLOSE) ? f->state_ts[SF_TCP_CLOSE] : f->last_ts;

	if (seen(f, SF_TCP_SYN_SENT) && seen(f, SF_TCP_ESTABLISHED))
		s->connect_ns = f->state_ts[SF_TCP_ESTABLISHED] - f->state_ts[SF_TCP_SYN_SENT];
	if (f->role == SF_ROLE_CLIENT)
		s->handshake_ns = s->connect_ns;
	else if (seen(f, SF_TCP_SYN_RECV) && seen(f, SF_TCP_ESTABLISHED))
		s->handshake_ns = f->state_ts[SF_TCP_ESTABLISHED] - f->state_ts[SF_TCP_SYN_RECV];
	if (!(f->partial & (SF_PART_MID_FLOW | SF_PART_MISSED)) && seen(f, SF_TCP_CLOSE))
		s->lifetime_ns = f->state_ts[SF_TCP_CLOSE] - s->start_ts;

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
			}
		}
	}

	if (seen(f, SF_TCP_CLOSING) || origin == SF_TCP_CLOSING)
		s->closer = "both";
	else if (seen(f, SF_TCP_FIN_WAIT1) || origin == SF_TCP_FIN_WAIT1 || origin == SF_TCP_FIN_WAIT2)
		s->closer = "local";
	else if (seen(f, SF_TCP_CLOSE_WAIT) || origin == SF_TCP_CLOSE_WAIT || origin == SF_TCP_LAST_ACK)
		s->closer = "peer";
}
