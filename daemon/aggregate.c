// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Aggregates of finished flows per listener, remote endpoint, process and
 * cgroup, with bounded cardinality. Pure: no I/O.
 *
 * Each kind has an open-addressing table of at most max_keys entries;
 * a key that finds it full is folded into the kind's "other" entry at
 * once (and the entry says keys went untracked). Draining sorts each
 * kind's keys (most flows first) and folds all past top_n into "other".
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include "aggregate.h"
#include "hash.h"

struct agg_table {
	struct agg_entry *e;	/* nslots, used where used[i] */
	__u8 *used;
	__u64 *hash;
	__u32 nslots;		/* power of two, >= 2 x max_keys */
	__u32 n;		/* keys tracked */
	struct agg_entry other;
	bool untracked;		/* keys went to "other" because the table was full */
};

struct agg {
	struct agg_config cfg;
	struct agg_table k[AGG_KINDS];
	const struct agg_entry **sorted; /* drain scratch, max_keys */
};

struct agg *agg__new(const struct agg_config *cfg)
{
	struct agg *a = calloc(1, sizeof(*a));

	if (!a)
		return NULL;
	a->cfg = *cfg;
	if (!a->cfg.top_n)
		a->cfg.top_n = 20;
	if (!a->cfg.max_keys)
		a->cfg.max_keys = 4 * a->cfg.top_n;
	if (a->cfg.max_keys < a->cfg.top_n)
		a->cfg.max_keys = a->cfg.top_n;
	a->sorted = calloc(a->cfg.max_keys, sizeof(*a->sorted));
	if (!a->sorted)
		goto fail;
	for (int k = 0; k < AGG_KINDS; k++) {
		struct agg_table *t = &a->k[k];

		t->nslots = 16;
		while (t->nslots < 2 * a->cfg.max_keys)
			t->nslots <<= 1;
		t->e = calloc(t->nslots, sizeof(*t->e));
		t->used = calloc(t->nslots, 1);
		t->hash = calloc(t->nslots, sizeof(*t->hash));
		if (!t->e || !t->used || !t->hash)
			goto fail;
		t->other.kind = k;
		t->other.other = true;
	}
	return a;
fail:
	agg__free(a);
	return NULL;
}

void agg__free(struct agg *a)
{
	if (!a)
		return;
	for (int k = 0; k < AGG_KINDS; k++) {
		free(a->k[k].e);
		free(a->k[k].used);
		free(a->k[k].hash);
	}
	free(a->sorted);
	free(a);
}

/* what keys an entry: everything before its counts */
#define AGG_KEY_SIZE offsetof(struct agg_entry, c)

static bool same_key(const struct agg_entry *x, const struct agg_entry *y)
{
	switch (x->kind) {
	case AGG_LISTENER:
		return x->netns == y->netns && x->port == y->port;
	case AGG_REMOTE:
		return x->netns == y->netns && x->family == y->family && x->port == y->port &&
		       !memcmp(x->addr, y->addr, 16);
	case AGG_PROCESS:
		return !memcmp(x->comm, y->comm, sizeof(x->comm));
	default:
		return x->cgroup_id == y->cgroup_id;
	}
}

static __u64 key_hash(const struct agg_entry *k)
{
	__u64 h = sf_mix64(((__u64)k->kind << 56) ^ ((__u64)k->netns << 16) ^ k->port);
	static const __u8 none[16];

	switch (k->kind) {
	case AGG_REMOTE:
		return sf_mix_addrs(h ^ k->family, k->family, k->addr, none);
	case AGG_PROCESS: {
		__u64 x, y;

		memcpy(&x, k->comm, 8);
		memcpy(&y, k->comm + 8, 8);
		return sf_mix64(sf_mix64(h ^ x) ^ y);
	}
	case AGG_CGROUP:
		return sf_mix64(h ^ k->cgroup_id);
	default:
		return h;
	}
}

/* the entry of key k: found, made, or "other" when the table is full */
static struct agg_entry *entry(struct agg *a, const struct agg_entry *k)
{
	struct agg_table *t = &a->k[k->kind];
	__u64 h = key_hash(k);
	__u32 mask = t->nslots - 1;

	for (__u32 i = (__u32)h & mask;; i = (i + 1) & mask) {
		if (!t->used[i]) {
			if (t->n >= a->cfg.max_keys) {
				t->untracked = true;
				return &t->other;
			}
			t->used[i] = 1;
			t->hash[i] = h;
			/* a key's counts are not part of it: k has none */
			memcpy(&t->e[i], k, AGG_KEY_SIZE);
			memset(&t->e[i].c, 0, sizeof(t->e[i].c));
			t->n++;
			return &t->e[i];
		}
		if (t->hash[i] == h && same_key(&t->e[i], k))
			return &t->e[i];
	}
}

void agg_hist__add(struct agg_hist *h, __u64 us)
{
	int b = us ? 64 - __builtin_clzll(us) : 0;

	if (b >= AGG_BUCKETS)
		b = AGG_BUCKETS - 1;
	h->bucket[b]++;
	h->count++;
	h->sum_us += us;
	if (us > h->max_us)
		h->max_us = us;
}

__u64 agg_hist__bound_us(int i)
{
	return i >= AGG_BUCKETS - 1 ? UINT64_MAX : 1ULL << i;
}

double agg_hist__quantile_us(const struct agg_hist *h, double q)
{
	double target = q * (double)h->count, cum = 0;

	if (!h->count)
		return 0;
	for (int i = 0; i < AGG_BUCKETS; i++) {
		double lo = i ? (double)(1ULL << (i - 1)) : 0, hi;

		if (!h->bucket[i] || cum + h->bucket[i] < target) {
			cum += h->bucket[i];
			continue;
		}
		/* never past what was seen */
		hi = i == AGG_BUCKETS - 1 ? (double)h->max_us : (double)(1ULL << i);
		if (hi > (double)h->max_us)
			hi = (double)h->max_us;
		if (lo > hi)
			lo = hi;
		return lo + (hi - lo) * (target - cum) / h->bucket[i];
	}
	return (double)h->max_us;
}

/* the keys a flow counts under; returns how many */
static int keys_of(const struct sf_flow *f, struct agg_entry *k)
{
	int n = 0;

	/* the keys only, not their counts: clearing AGG_KINDS whole entries
	 * (4 KiB) for every flow was 3.4% of the daemon's instructions */
	for (int i = 0; i < AGG_KINDS; i++)
		memset(&k[i], 0, AGG_KEY_SIZE);
	if (f->role == SF_ROLE_SERVER && f->sport) {
		k[n].kind = AGG_LISTENER;
		k[n].netns = f->netns;
		k[n++].port = f->sport;
	} else if (f->role == SF_ROLE_CLIENT && f->dport) {
		k[n].kind = AGG_REMOTE;
		k[n].netns = f->netns;
		k[n].family = f->family;
		memcpy(k[n].addr, f->daddr, 16);
		k[n++].port = f->dport;
	}
	if (f->comm[0]) {
		k[n].kind = AGG_PROCESS;
		memcpy(k[n++].comm, f->comm, sizeof(f->comm));
	}
	if (f->cgroup_id) {
		k[n].kind = AGG_CGROUP;
		k[n++].cgroup_id = f->cgroup_id;
	}
	return n;
}

static const __u8 phase_state[AGG_PHASES] = {
	[AGG_FIN_WAIT_1] = SF_TCP_FIN_WAIT1, [AGG_FIN_WAIT_2] = SF_TCP_FIN_WAIT2,
	[AGG_CLOSE_WAIT] = SF_TCP_CLOSE_WAIT, [AGG_LAST_ACK] = SF_TCP_LAST_ACK,
};

static void count_flow(struct agg_counts *c, const struct sf_flow *f, const struct sf_summary *s)
{
	c->flows++;
	if ((unsigned int)s->close < sizeof(c->closed) / sizeof(c->closed[0]))
		c->closed[s->close]++;
	if (f->role == SF_ROLE_CLIENT && !s->established) {
		switch (s->close) {
		case SF_CLOSE_REFUSED:
			c->failed[AGG_FAIL_REFUSED]++;
			break;
		case SF_CLOSE_TIMEOUT:
			c->failed[AGG_FAIL_TIMEOUT]++;
			break;
		case SF_CLOSE_RESET:
			c->failed[AGG_FAIL_RESET]++;
			break;
		case SF_CLOSE_UNREACHABLE:
			c->failed[AGG_FAIL_UNREACHABLE]++;
			break;
		default:
			break;
		}
	}
	c->partial += s->partial;
	c->retrans_syn += f->syn_retrans;
	c->retrans_synack += f->synack_retrans;
	c->retrans_fin += f->fin_retrans;
	if (f->role == SF_ROLE_CLIENT && s->connect_ns >= 0)
		agg_hist__add(&c->phase[AGG_CONNECT], (__u64)s->connect_ns / 1000);
	if (f->role == SF_ROLE_SERVER && s->handshake_ns >= 0)
		agg_hist__add(&c->phase[AGG_HANDSHAKE], (__u64)s->handshake_ns / 1000);
	for (int p = AGG_FIN_WAIT_1; p < AGG_PHASES; p++) {
		__u8 st = phase_state[p];

		/* an upper bound (from a round) or an assumed end is no
		 * measurement: it stays out of the distribution */
		if ((s->have_dwell & (1u << st)) && s->dwell_src[st] <= SF_SRC_SEGMENT)
			agg_hist__add(&c->phase[p], s->dwell[st] / 1000);
	}
}

void agg_counts__flow(struct agg_counts *c, const struct sf_flow *f, const struct sf_summary *s)
{
	count_flow(c, f, s);
}

void agg__flow(struct agg *a, const struct sf_flow *f, const struct sf_summary *s)
{
	struct agg_entry k[AGG_KINDS];
	int n = keys_of(f, k);

	for (int i = 0; i < n; i++)
		count_flow(&entry(a, &k[i])->c, f, s);
}

void agg__stuck(struct agg *a, const struct sf_flow *f, __u8 state)
{
	struct agg_entry k[AGG_KINDS];
	int n = keys_of(f, k);

	if (state >= SF_TCP_NSTATES)
		return;
	for (int i = 0; i < n; i++)
		entry(a, &k[i])->c.stuck[state]++;
}

static __u64 stuck_total(const struct agg_counts *c)
{
	__u64 n = 0;

	for (int i = 0; i < SF_TCP_NSTATES; i++)
		n += c->stuck[i];
	return n;
}

/* most flows first, then most stuck, then by key: the same input always
 * reports the same keys in the same order */
static int by_weight(const void *pa, const void *pb)
{
	const struct agg_entry *x = *(const struct agg_entry *const *)pa, *y = *(const struct agg_entry *const *)pb;
	__u64 sx = stuck_total(&x->c), sy = stuck_total(&y->c);

	if (x->c.flows != y->c.flows)
		return x->c.flows > y->c.flows ? -1 : 1;
	if (sx != sy)
		return sx > sy ? -1 : 1;
	return memcmp(&x->netns, &y->netns, offsetof(struct agg_entry, c) - offsetof(struct agg_entry, netns));
}

static void hist_fold(struct agg_hist *into, const struct agg_hist *h)
{
	into->count += h->count;
	into->sum_us += h->sum_us;
	if (h->max_us > into->max_us)
		into->max_us = h->max_us;
	for (int i = 0; i < AGG_BUCKETS; i++)
		into->bucket[i] += h->bucket[i];
}

static void fold(struct agg_counts *into, const struct agg_counts *c)
{
	into->flows += c->flows;
	for (size_t i = 0; i < sizeof(c->closed) / sizeof(c->closed[0]); i++)
		into->closed[i] += c->closed[i];
	for (int i = 0; i < AGG_FAIL_KINDS; i++)
		into->failed[i] += c->failed[i];
	into->partial += c->partial;
	into->retrans_syn += c->retrans_syn;
	into->retrans_synack += c->retrans_synack;
	into->retrans_fin += c->retrans_fin;
	for (int i = 0; i < SF_TCP_NSTATES; i++)
		into->stuck[i] += c->stuck[i];
	for (int p = 0; p < AGG_PHASES; p++)
		hist_fold(&into->phase[p], &c->phase[p]);
}

/* each kind's top_n keys, then the rest folded into "other"; reset:
 * start afresh (drain), else leave every count where it is (visit) */
static void walk(struct agg *a, agg_visit_fn fn, void *ctx, bool reset)
{
	for (int k = 0; k < AGG_KINDS; k++) {
		struct agg_table *t = &a->k[k];
		struct agg_entry other = t->other;
		__u32 n = 0;

		for (__u32 i = 0; i < t->nslots; i++)
			if (t->used[i])
				a->sorted[n++] = &t->e[i];
		qsort(a->sorted, n, sizeof(*a->sorted), by_weight);
		for (__u32 i = 0; i < n; i++) {
			if (i < a->cfg.top_n) {
				fn(ctx, a->sorted[i]);
			} else {
				fold(&other.c, &a->sorted[i]->c);
				other.keys++;
			}
		}
		other.untracked = t->untracked;
		if (other.c.flows || stuck_total(&other.c))
			fn(ctx, &other);
		if (!reset)
			continue;
		memset(t->used, 0, t->nslots);
		memset(&t->other.c, 0, sizeof(t->other.c));
		t->other.keys = 0;
		t->untracked = false;
		t->n = 0;
	}
}

void agg__drain(struct agg *a, agg_visit_fn fn, void *ctx)
{
	walk(a, fn, ctx, true);
}

void agg__visit(struct agg *a, agg_visit_fn fn, void *ctx)
{
	walk(a, fn, ctx, false);
}

static const char *const kind_names[AGG_KINDS] = {
	[AGG_LISTENER] = "listener", [AGG_REMOTE] = "remote",
	[AGG_PROCESS] = "process",   [AGG_CGROUP] = "cgroup",
};

static const char *const phase_names[AGG_PHASES] = {
	[AGG_CONNECT] = "connect",	  [AGG_HANDSHAKE] = "handshake",
	[AGG_FIN_WAIT_1] = "fin_wait_1", [AGG_FIN_WAIT_2] = "fin_wait_2",
	[AGG_CLOSE_WAIT] = "close_wait", [AGG_LAST_ACK] = "last_ack",
};

static const char *const fail_names[AGG_FAIL_KINDS] = {
	[AGG_FAIL_REFUSED] = "refused", [AGG_FAIL_TIMEOUT] = "timeout",
	[AGG_FAIL_RESET] = "reset",	[AGG_FAIL_UNREACHABLE] = "unreachable",
};

const char *agg_kind_name(unsigned int k)
{
	return k < AGG_KINDS ? kind_names[k] : "?";
}

const char *agg_phase_name(unsigned int p)
{
	return p < AGG_PHASES ? phase_names[p] : "?";
}

const char *agg_fail_name(unsigned int r)
{
	return r < AGG_FAIL_KINDS ? fail_names[r] : "?";
}
