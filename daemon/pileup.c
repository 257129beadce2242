// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <stdlib.h>
#include <string.h>
#include "pileup.h"

#define BUCKETS 4096

struct entry {
	struct entry *next;
	struct pileup_key key;
	enum pileup_kind kind;
	__u32 count;
	__u32 peak;
	__u32 round;		/* round in which the count was last set */
	bool active;
	__u64 since;
	char comm[16];
};

struct pileup {
	__u32 threshold[PILEUP_KINDS];
	__u32 round[PILEUP_KINDS];
	__u32 active[PILEUP_KINDS];
	pileup_sink_fn sink;
	void *ctx;
	struct entry *b[BUCKETS];
};

static __u32 hash(enum pileup_kind kind, const struct pileup_key *k)
{
	const unsigned char *p = (const unsigned char *)k;
	__u32 h = 2166136261u ^ kind;

	for (size_t i = 0; i < sizeof(*k); i++)
		h = (h ^ p[i]) * 16777619u;
	return h & (BUCKETS - 1);
}

struct pileup *pileup__new(const __u32 threshold[PILEUP_KINDS], pileup_sink_fn sink, void *ctx)
{
	struct pileup *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	memcpy(p->threshold, threshold, sizeof(p->threshold));
	p->sink = sink;
	p->ctx = ctx;
	return p;
}

void pileup__free(struct pileup *p)
{
	if (!p)
		return;
	for (int i = 0; i < BUCKETS; i++) {
		while (p->b[i]) {
			struct entry *e = p->b[i];

			p->b[i] = e->next;
			free(e);
		}
	}
	free(p);
}

static struct entry **find(struct pileup *p, enum pileup_kind kind, const struct pileup_key *k)
{
	struct entry **pp = &p->b[hash(kind, k)];

	while (*pp && ((*pp)->kind != kind || memcmp(&(*pp)->key, k, sizeof(*k))))
		pp = &(*pp)->next;
	return pp;
}

static void emit(struct pileup *p, struct entry *e, bool start, __u64 now)
{
	struct pileup_event ev = {
		.kind = e->kind,
		.key = &e->key,
		.comm = e->comm,
		.count = e->count,
		.peak = e->peak,
		.threshold = p->threshold[e->kind],
		.start = start,
		.at = now,
		.since = e->since,
	};

	p->sink(p->ctx, &ev);
}

/* Apply a new count to an entry; frees it when it no longer matters. */
static void update(struct pileup *p, struct entry **pp, __u32 count, __u64 now)
{
	struct entry *e = *pp;
	__u32 thr = p->threshold[e->kind];

	e->count = count;
	if (count > e->peak)
		e->peak = count;
	if (thr && !e->active && count >= thr) {
		e->active = true;
		e->since = now;
		e->peak = count;
		p->active[e->kind]++;
		emit(p, e, true, now);
	} else if (e->active && (__u64)count * 10 <= (__u64)thr * 9) {
		e->active = false;
		p->active[e->kind]--;
		emit(p, e, false, now);
	}
	if (!count && !e->active) {
		*pp = e->next;
		free(e);
	}
}

static struct entry **get(struct pileup *p, enum pileup_kind kind, const struct pileup_key *k)
{
	struct entry **pp = find(p, kind, k);

	if (!*pp) {
		struct entry *e = calloc(1, sizeof(*e));

		if (!e)
			return NULL;
		e->kind = kind;
		e->key = *k;
		*pp = e;
	}
	return pp;
}

void pileup__add(struct pileup *p, enum pileup_kind kind, const struct pileup_key *key, int delta,
		 const char *comm, __u64 now)
{
	struct entry **pp;

	if (!p || !p->threshold[kind])
		return;
	pp = delta > 0 ? get(p, kind, key) : find(p, kind, key);
	if (!pp || !*pp)
		return;
	if (comm && !(*pp)->comm[0])
		memcpy((*pp)->comm, comm, sizeof((*pp)->comm)); /* raw comm bytes, as in events */
	if (delta < 0 && (*pp)->count < (__u32)-delta)
		delta = -(int)(*pp)->count;
	update(p, pp, (*pp)->count + delta, now);
}

void pileup__begin_round(struct pileup *p, enum pileup_kind kind)
{
	if (p)
		p->round[kind]++;
}

void pileup__set(struct pileup *p, enum pileup_kind kind, const struct pileup_key *key, __u32 count, __u64 now)
{
	struct entry **pp;

	if (!p || !p->threshold[kind])
		return;
	pp = count ? get(p, kind, key) : find(p, kind, key);
	if (!pp || !*pp)
		return;
	(*pp)->round = p->round[kind];
	update(p, pp, count, now);
}

void pileup__end_round(struct pileup *p, enum pileup_kind kind, __u64 now)
{
	if (!p)
		return;
	for (int i = 0; i < BUCKETS; i++) {
		struct entry **pp = &p->b[i];

		while (*pp) {
			struct entry *e = *pp;

			if (e->kind == kind && e->round != p->round[kind]) {
				update(p, pp, 0, now);
				if (*pp != e)
					continue; /* freed */
			}
			pp = &e->next;
		}
	}
}

__u32 pileup__active(const struct pileup *p, enum pileup_kind kind)
{
	return p ? p->active[kind] : 0;
}
