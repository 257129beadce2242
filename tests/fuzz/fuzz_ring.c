// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * libFuzzer target: the per-CPU ring consumer (ring.c) over rings in
 * memory, laid out as the kernel lays them out, against a model of what
 * it must hand over: per ring, every committed record in ring order, whole
 * (also when it wraps), discarded ones skipped, nothing past a record
 * still being written; across rings, merged by timestamp (ties: the lower
 * ring first); never more than the budget; each ring's consumer position
 * given back just past what was read.
 *
 * Input: one byte of geometry (rings 1-4: bits 0-1; data area 64 << bits
 * 2-4 bytes), 4 bytes per ring of start position (/ 8), then operations,
 * an opcode byte (% 3) and its operands:
 *   produce  r len16 ts8 how: reserve a record of 1 + len16 % (size - 8)
 *            bytes in ring r % n; how % 4: 0-1 committed, 2 busy, 3 discarded
 *   commit   r k d: the k-th busy record of ring r is committed (d odd:
 *            discarded)
 *   poll     budget: rings__poll with budget 1 + budget % 64
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "json_check.h"
#include "ring.h"

#define RB_BUSY (1u << 31)
#define RB_DISCARD (1u << 30)
#define MAX_RINGS 4
#define MAX_RECS 512

enum rec_state { REC_BUSY, REC_DONE, REC_DISCARDED };

struct rec {
	uint64_t pos;
	uint32_t len;
	uint64_t ts;
	uint32_t id;
	enum rec_state state;
};

struct mring {
	uint8_t *data;
	uint64_t cons, prod;
	uint64_t pos;		/* the model's consumer position */
	struct rec recs[MAX_RECS]; /* from the consumer position on */
	int n;
};

struct model {
	struct mring r[MAX_RINGS];
	int n;
	size_t size;
	uint64_t ts;
	uint32_t next_id;
	/* what the next poll must hand over */
	struct rec want[64];	/* copies: the model's rings move on */
	int nwant, got;
};

static uint8_t pattern(uint32_t id, size_t i)
{
	return (uint8_t)(id * 31 + i * 7 + 1);
}

static void put_bytes(struct model *m, struct mring *x, uint64_t pos, const void *src, size_t n)
{
	for (size_t i = 0; i < n; i++)
		x->data[(pos + i) & (m->size - 1)] = ((const uint8_t *)src)[i];
}

static void put_header(struct model *m, struct mring *x, const struct rec *r)
{
	uint32_t hdr[2] = { r->len, 0 };

	if (r->state == REC_BUSY)
		hdr[0] |= RB_BUSY;
	else if (r->state == REC_DISCARDED)
		hdr[0] |= RB_DISCARD;
	put_bytes(m, x, r->pos, hdr, sizeof(hdr));
}

static uint64_t total(uint32_t len)
{
	return (len + 8 + 7) & ~7ULL;
}

static void produce(struct model *m, struct mring *x, uint16_t len16, uint8_t ts8, uint8_t how)
{
	struct rec *r;

	if (x->n == MAX_RECS)
		return;
	r = &x->recs[x->n];
	r->len = 1 + len16 % (uint32_t)(m->size - 8);
	/* as the kernel's reserve: no room, no record */
	if (x->prod + total(r->len) - x->cons > m->size)
		return;
	m->ts += ts8 & 3; /* equal timestamps too */
	r->ts = m->ts + (ts8 >> 2);
	r->pos = x->prod;
	r->id = m->next_id++;
	r->state = (how & 3) == 2 ? REC_BUSY : (how & 3) == 3 ? REC_DISCARDED : REC_DONE;
	put_header(m, x, r);
	put_bytes(m, x, r->pos + 8, &r->ts, r->len < 8 ? r->len : 8);
	for (uint32_t i = 8; i < r->len; i++)
		x->data[(r->pos + 8 + i) & (m->size - 1)] = pattern(r->id, i);
	x->prod += total(r->len);
	x->n++;
}

static void commit(struct model *m, struct mring *x, uint8_t k, uint8_t d)
{
	int busy = 0;

	for (int i = 0; i < x->n; i++) {
		if (x->recs[i].state != REC_BUSY)
			continue;
		if (busy++ == k % 8) {
			x->recs[i].state = d & 1 ? REC_DISCARDED : REC_DONE;
			put_header(m, x, &x->recs[i]);
			return;
		}
	}
}

/* ring x's next record to hand over, below lim; discarded ones are read
 * past */
static struct rec *head(struct mring *x, uint64_t lim, int *at)
{
	while (*at < x->n && x->recs[*at].pos < lim) {
		struct rec *r = &x->recs[*at];

		if (r->state == REC_BUSY)
			return NULL;
		if (r->state == REC_DONE)
			return r;
		x->pos = r->pos + total(r->len);
		++*at;
	}
	return NULL;
}

static uint64_t head_ts(const struct rec *r)
{
	return r->len >= 8 ? r->ts : 0;
}

/* what rings__poll must do with this budget */
static void expect(struct model *m, int budget)
{
	uint64_t lim[MAX_RINGS];
	int at[MAX_RINGS] = {};
	struct rec *h[MAX_RINGS];

	m->nwant = m->got = 0;
	for (int i = 0; i < m->n; i++) {
		lim[i] = m->r[i].prod;
		h[i] = head(&m->r[i], lim[i], &at[i]);
	}
	while (m->nwant < budget) {
		int best = -1;

		for (int i = 0; i < m->n; i++)
			if (h[i] && (best < 0 || head_ts(h[i]) < head_ts(h[best])))
				best = i;
		if (best < 0)
			break;
		m->want[m->nwant++] = *h[best];
		m->r[best].pos = h[best]->pos + total(h[best]->len);
		at[best]++;
		h[best] = head(&m->r[best], lim[best], &at[best]);
	}
	/* what was read is gone from the model */
	for (int i = 0; i < m->n; i++) {
		struct mring *x = &m->r[i];
		int k = 0;

		while (k < x->n && x->recs[k].pos < x->pos)
			k++;
		m->r[i].n -= k;
		memmove(x->recs, x->recs + k, sizeof(x->recs[0]) * (size_t)x->n);
	}
}

static void on_record(void *ctx, const void *data, size_t size)
{
	struct model *m = ctx;
	const uint8_t *d = data;
	struct rec *r;

	if (m->got >= m->nwant)
		FUZZ_FAIL("ring: a record past the %d expected", m->nwant);
	r = &m->want[m->got++];
	if (size != r->len)
		FUZZ_FAIL("ring: record %u: %zu bytes, written %u", r->id, size, r->len);
	if (memcmp(d, &r->ts, size < 8 ? size : 8))
		FUZZ_FAIL("ring: record %u: wrong timestamp", r->id);
	for (size_t i = 8; i < size; i++)
		if (d[i] != pattern(r->id, i))
			FUZZ_FAIL("ring: record %u (%u bytes at %llu): byte %zu differs", r->id, r->len,
				  (unsigned long long)r->pos, i);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct model m;
	uint64_t *cons[MAX_RINGS];
	const uint64_t *prod[MAX_RINGS];
	const uint8_t *areas[MAX_RINGS];
	struct rings *rs;
	size_t p = 0;
	uint8_t g;

#define BYTE() (p < size ? data[p++] : 0)
	if (size < 1)
		return 0;
	memset(&m, 0, sizeof(m));
	g = BYTE();
	m.n = 1 + (g & 3);
	m.size = 64u << ((g >> 2) & 7);
	for (int i = 0; i < m.n; i++) {
		uint32_t start = BYTE();

		start |= (uint32_t)BYTE() << 8;
		start |= (uint32_t)BYTE() << 16;
		start |= (uint32_t)BYTE() << 24;
		m.r[i].data = calloc(1, m.size);
		if (!m.r[i].data)
			abort();
		m.r[i].cons = m.r[i].prod = m.r[i].pos = (uint64_t)start * 8;
		cons[i] = &m.r[i].cons;
		prod[i] = &m.r[i].prod;
		areas[i] = m.r[i].data;
	}
	if (rings__open_memory(&rs, m.n, m.size, cons, prod, areas))
		abort();
	while (p < size) {
		uint8_t op = BYTE() % 3;

		if (op == 0) {
			uint8_t r = BYTE(), lo = BYTE(), hi = BYTE(), ts = BYTE(), how = BYTE();

			produce(&m, &m.r[r % m.n], (uint16_t)(lo | hi << 8), ts, how);
		} else if (op == 1) {
			uint8_t r = BYTE(), k = BYTE(), d = BYTE();

			commit(&m, &m.r[r % m.n], k, d);
		} else {
			int budget = 1 + BYTE() % 64, n;

			expect(&m, budget);
			n = rings__poll(rs, 0, budget, on_record, &m);
			if (n != m.nwant || m.got != m.nwant)
				FUZZ_FAIL("ring: poll returned %d, handed over %d, expected %d", n, m.got, m.nwant);
			for (int i = 0; i < m.n; i++)
				if (m.r[i].cons != m.r[i].pos)
					FUZZ_FAIL("ring %d: consumer position %llu, expected %llu", i,
						  (unsigned long long)m.r[i].cons, (unsigned long long)m.r[i].pos);
		}
	}
#undef BYTE
	rings__close(rs);
	for (int i = 0; i < m.n; i++)
		free(m.r[i].data);
	return 0;
}
