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
#include <stdlib.h>
#include <string.h>
#include "flow.h"

#define RECENT_SLOTS 4096	/* remembered emitted flows, for late events */
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

static void list_unlink(struct flow_table *t, struct flow_list *l, struct sf_flow *f)
{
	if (f->prev != SF_NONE)
		at(t, f->prev)->next = f->next;
	else
		l->head = f->next;
	if (f->next != SF_NONE)
		at(t, f->next)->prev = f->prev;
	else
		l->tail = f->prev;
	f->prev = f->next = SF_NONE;
}

static void list_push_head(struct flow_table *t, struct flow_list *l, struct sf_flow *f)
{
	__u32 i = idx_of(t, f);

	f->prev = SF_NONE;
	f->next = l->head;
	if (l->head != SF_NONE)
		at(t, l->head)->prev = i;
	else
		l->tail = i;
	l->head = i;
}

static void list_push_tail(struct flow_table *t, struct flow_list *l, struct sf_flow *f)
{
	__u32 i = idx_of(t, f);

	f->next = SF_NONE;
	f->prev = l->tail;
	if (l->tail != SF_NONE)
		at(t, l->tail)->next = i;
	else
		l->head = i;
	l->tail = i;
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

/* Hand the flow to the sink, then drop it from every index. */
static void emit_and_release(struct flow_table *t, struct sf_flow *f)
{
	struct sf_record rec = { .flow = f };
	__u32 *p = &t->buckets[key_hash(f->sk, f->gen) & (t->nbuckets - 1)];
	__u32 me = idx_of(t, f);

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
		list_unlink(t, &t->closing, f);
		t->st.closing--;
	} else {
		list_unlink(t, &t->lru, f);
		t->st.open--;
		t->st.by_state[f->state]--;
	}
	while (*p != SF_NONE) {
		if (*p == me) {
			*p = f->hnext;
			break;
		}
		p = &at(t, *p)->hnext;
	}
	remember_emitted(t, f);
	f->next = t->free_head;
	t->free_head = me;
}

static struct sf_flow *alloc_flow(struct flow_table *t)
{
	struct sf_flow *f;
	__u32 i;

	if (t->free_head != SF_NONE) {
		i = t->free_head;
		t->free_head = at(t, i)->next;
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
		t->free_head = at(t, i)->next;
	}
	f = at(t, i);
	memset(f, 0, sizeof(*f));
	f->hnext = f->lnext = f->prev = f->next = SF_NONE;
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
	__u32 b = key_hash(e->sk, e->gen) & (t->nbuckets - 1);

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
	f->hnext = t->buckets[b];
	t->buckets[b] = idx_of(t, f);
	list_push_head(t, &t->lru, f);
	t->st.open++;
	t->st.by_state[f->state]++;
	return f;
}

static void set_current_state(struct flow_table *t, struct sf_flow *f, __u8 state)
{
	if (!f->closed) {
		t->st.by_state[f->state]--;
		t->st.by_state[state]++;
	}
	f->state = state;
}

static void mark_closed(struct flow_table *t, struct sf_flow *f)
{
	list_unlink(t, &t->lru, f);
	t->st.open--;
	t->st.by_state[f->state]--;
	f->closed = 1;
	list_push_tail(t, &t->closing, f);
	t->st.closing++;
}

static void ingest_state(struct flow_table *t, const struct synfin_event *e)
{
	struct sf_flow *f = lookup(t, e->sk, e->gen);
	__u8 new = e->newstate;
	__u16 bit = 1u << new;

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
	if (e->owner_src != SF_OWNER_NONE && e->ts_ns >= f->last_ts)
		take_owner(f, e);
	if (e->ts_ns < f->first_ts)
		f->first_ts = e->ts_ns;
	if (e->ts_ns < f->last_ts)
		f->partial |= SF_PART_OUT_OF_ORDER;

	if (e->ts_ns >= f->last_ts) {
		f->last_ts = e->ts_ns;
		if (!f->closed)
			set_current_state(t, f, new);
	}
	if (!f->closed) {
		list_unlink(t, &t->lru, f);
		list_push_head(t, &t->lru, f);
	}

	if (new == SF_TCP_LISTEN && f->role == SF_ROLE_LISTENER) {
		__u32 b = listen_hash(f->netns, f->family, f->sport);
		struct sf_record rec = { .type = SF_REC_LISTEN_START, .flow = f };

		f->lnext = t->lbuckets[b];
		t->lbuckets[b] = idx_of(t, f);
		t->st.listen_records++;
		t->sink(t->sink_ctx, &rec);
	}
	if (new == SF_TCP_CLOSE && !f->closed)
		mark_closed(t, f);
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

		if (f->state_ts[SF_TCP_CLOSE] + t->cfg.close_grace_ns > now_ns)
			break;
		emit_and_release(t, f);
	}
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

/* ---- summary ---------------------------------------------------------- */

static bool post_established(unsigned int s)
{
	return s == SF_TCP_ESTABLISHED || s == SF_TCP_FIN_WAIT1 || s == SF_TCP_FIN_WAIT2 ||
	       s == SF_TCP_CLOSING || s == SF_TCP_CLOSE_WAIT || s == SF_TCP_LAST_ACK ||
	       s == SF_TCP_TIME_WAIT;
}

static bool seen(const struct sf_flow *f, unsigned int s)
{
	return f->seen & (1u << s);
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
