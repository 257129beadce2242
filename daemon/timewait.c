// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <stdlib.h>
#include <string.h>
#include "hash.h"
#include "timewait.h"

#define NONE UINT32_MAX

struct tw {
	struct tw_key key;
	__u64 sk, gen;
	__u64 handoff, entered;
	__u32 hnext;		/* hash chain */
	__u32 prev, next;	/* age list (oldest hand-over first), or free list */
	__u32 round;
	__u8 from;
	__u8 entered_src;
	__u8 pre_existing;
	__u8 used;
};

struct tw_table {
	struct tw *pool;
	__u32 max, used_hw, free_head;
	__u32 *buckets, nbuckets;
	/* A counting filter in front of the table (4 per bucket, one byte
	 * each, another part of the hash): most lookups are for a tuple
	 * that is not here (every new connection is checked for reuse),
	 * and the table is large and cold; this answers "not here" from a
	 * few hundred KiB. A count that reaches 255 stays (never wrong). */
	__u8 *filter;
	__u32 fmask;
	__u32 head, tail;	/* age list */
	__u32 round;
	bool in_round;
	tw_sink_fn sink;
	void *ctx;
	struct tw_stats st;
};

static __u64 hash64(const struct tw_key *k)
{
	__u64 h = sf_mix64(0x1234 ^ ((__u64)k->netns << 32) ^ ((__u64)k->family << 24) ^
			   ((__u64)k->lport << 16) ^ k->rport);

	return sf_mix_addrs(h, k->family, k->laddr, k->raddr);
}

static __u32 hash(const struct tw_table *t, const struct tw_key *k)
{
	return (__u32)hash64(k) & (t->nbuckets - 1);
}

static __u8 *filter_of(const struct tw_table *t, const struct tw_key *k)
{
	return &t->filter[(__u32)(hash64(k) >> 32) & t->fmask];
}

struct tw_table *tw_table__new(__u32 max, tw_sink_fn sink, void *ctx)
{
	struct tw_table *t = calloc(1, sizeof(*t));
	__u32 n = 1024;

	if (!t || !max)
		goto fail;
	while (n < max)
		n <<= 1;
	t->max = max;
	t->nbuckets = n;
	t->pool = calloc(max, sizeof(*t->pool)); /* touched as used */
	t->buckets = malloc(sizeof(*t->buckets) * n);
	t->fmask = n * 4 - 1;
	t->filter = calloc((size_t)n * 4, 1);
	if (!t->pool || !t->buckets || !t->filter)
		goto fail;
	memset(t->buckets, 0xff, sizeof(*t->buckets) * n);
	t->head = t->tail = t->free_head = NONE;
	t->sink = sink;
	t->ctx = ctx;
	return t;
fail:
	tw_table__free(t);
	return NULL;
}

void tw_table__free(struct tw_table *t)
{
	if (!t)
		return;
	free(t->pool);
	free(t->buckets);
	free(t->filter);
	free(t);
}

static struct tw *find(struct tw_table *t, const struct tw_key *k)
{
	if (!*filter_of(t, k))
		return NULL;
	for (__u32 i = t->buckets[hash(t, k)]; i != NONE; i = t->pool[i].hnext)
		if (!memcmp(&t->pool[i].key, k, sizeof(*k)))
			return &t->pool[i];
	return NULL;
}

static void age_unlink(struct tw_table *t, struct tw *w)
{
	if (w->prev != NONE)
		t->pool[w->prev].next = w->next;
	else
		t->head = w->next;
	if (w->next != NONE)
		t->pool[w->next].prev = w->prev;
	else
		t->tail = w->prev;
}

static void leave(struct tw_table *t, struct tw *w, enum tw_exit how, __u64 at, bool exact)
{
	struct tw_record r = {
		.key = &w->key,
		.flow_id_sk = w->sk,
		.flow_id_gen = w->gen,
		.handoff = w->handoff,
		.entered = w->entered,
		.exited = at,
		.exit = how,
		.exact = exact,
		.pre_existing = w->pre_existing,
		.from = w->from,
		.entered_src = w->entered_src,
	};
	__u32 me = (__u32)(w - t->pool);
	__u32 *p = &t->buckets[hash(t, &w->key)];
	__u8 *c = filter_of(t, &w->key);

	t->sink(t->ctx, &r);
	t->st.exits[how]++;
	t->st.now--;
	if (*c != 255)
		(*c)--;
	while (*p != NONE) {
		if (*p == me) {
			*p = w->hnext;
			break;
		}
		p = &t->pool[*p].hnext;
	}
	age_unlink(t, w);
	w->used = 0;
	w->next = t->free_head;
	t->free_head = me;
}

static struct tw *add(struct tw_table *t, const struct tw_key *k, __u64 handoff)
{
	struct tw *w;
	__u32 i, b;

	if (t->free_head != NONE) {
		i = t->free_head;
		t->free_head = t->pool[i].next;
	} else if (t->used_hw < t->max) {
		i = t->used_hw++;
	} else {
		/* full: the oldest goes, and says so */
		leave(t, &t->pool[t->head], TW_EXIT_EVICTED, handoff, false);
		i = t->free_head;
		t->free_head = t->pool[i].next;
	}
	w = &t->pool[i];
	memset(w, 0, sizeof(*w));
	w->key = *k;
	w->handoff = handoff;
	w->used = 1;
	w->round = t->round;
	b = hash(t, k);
	w->hnext = t->buckets[b];
	t->buckets[b] = i;
	{
		__u8 *c = filter_of(t, k);

		if (*c != 255)
			(*c)++;
	}
	/* by hand-over time; out-of-order inserts walk back from the tail */
	{
		__u32 p = t->tail;

		while (p != NONE && t->pool[p].handoff > handoff)
			p = t->pool[p].prev;
		w->prev = p;
		w->next = p == NONE ? t->head : t->pool[p].next;
		if (w->next != NONE)
			t->pool[w->next].prev = i;
		else
			t->tail = i;
		if (p != NONE)
			t->pool[p].next = i;
		else
			t->head = i;
	}
	t->st.now++;
	return w;
}

void tw_table__enter(struct tw_table *t, const struct tw_key *k, __u64 sk, __u64 gen, __u64 handoff,
		     __u64 entered, __u8 from, __u8 entered_src)
{
	struct tw *w = find(t, k);

	if (w && w->pre_existing && !w->sk) {
		/* the kernel's list showed it before its flow's record was
		 * out (the record waits for segments 6 and 7): same socket */
		w->pre_existing = 0;
		t->st.discovered--;
		w->handoff = handoff;
	} else {
		if (w) /* an older one on the same tuple: this one replaced it */
			leave(t, w, TW_EXIT_REUSED, handoff, true);
		w = add(t, k, handoff);
	}
	w->sk = sk;
	w->gen = gen;
	w->entered = entered;
	w->entered_src = entered_src;
	w->from = from;
	t->st.tracked++;
}

bool tw_table__segment(struct tw_table *t, const struct tw_key *k, __u8 flags, bool out, __u64 ts)
{
	struct tw *w = find(t, k);

	if (!w || ts < w->handoff)
		return false;
	if (flags & SF_TH_RST) {
		leave(t, w, TW_EXIT_RESET, ts, true);
	} else if ((flags & (SF_TH_SYN | SF_TH_ACK)) == SF_TH_SYN) {
		/* a SYN on the tuple: a new connection takes it over (and
		 * the SYN is that connection's, not ours) */
		leave(t, w, TW_EXIT_REUSED, ts, true);
		return false;
	} else if (!out && (flags & SF_TH_FIN) && !w->entered) {
		/* the peer's FIN: TIME_WAIT proper begins (a time-wait
		 * socket in FIN_WAIT2 was waiting for it) */
		w->entered = ts;
		w->entered_src = SF_SRC_SEGMENT;
	}
	return true;
}

void tw_table__reuse(struct tw_table *t, const struct tw_key *k, __u64 ts)
{
	struct tw *w = find(t, k);

	if (w && ts >= w->handoff)
		leave(t, w, TW_EXIT_REUSED, ts, true);
}

void tw_table__round_begin(struct tw_table *t)
{
	t->round++;
	t->in_round = true;
	t->st.kernel = 0;
}

void tw_table__seen(struct tw_table *t, const struct tw_key *k, __u64 now)
{
	struct tw *w = find(t, k);

	t->st.kernel++;
	if (!w) {
		/* the kernel has one we never saw handed over */
		w = add(t, k, now);
		w->pre_existing = 1;
		t->st.discovered++;
	}
	w->round = t->round;
}

void tw_table__round_end(struct tw_table *t, __u64 now)
{
	__u32 i = t->head;

	t->in_round = false;
	while (i != NONE) {
		struct tw *w = &t->pool[i];

		i = w->next;
		/* handed over after the dump started: not missing */
		if (w->round != t->round && w->handoff < now)
			leave(t, w, TW_EXIT_EXPIRED, now, false);
	}
}

void tw_table__advance(struct tw_table *t, __u64 now, bool rounds)
{
	/* with rounds the kernel's list decides; without, the clock: keep
	 * the record honest (exact = false) */
	while (!rounds && t->head != NONE) {
		struct tw *w = &t->pool[t->head];
		__u64 start = w->entered ? w->entered : w->handoff;

		if (start + TW_LINUX_TIMEOUT_NS + 1000000000ULL > now)
			break;
		leave(t, w, TW_EXIT_EXPIRED, start + TW_LINUX_TIMEOUT_NS, false);
	}
}

void tw_table__stats(const struct tw_table *t, struct tw_stats *st)
{
	*st = t->st;
}

void tw_table__foreach(const struct tw_table *t, tw_key_fn fn, void *ctx)
{
	for (__u32 i = t->head; i != NONE; i = t->pool[i].next)
		fn(ctx, &t->pool[i].key);
}
