// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * What a live-socket client may ask (one JSON object per line, see
 * docs/schema.md, "Requests"), answered in one line on the same
 * connection, between the live records:
 *   {"get":"flow","id":"ID"}  a finished flow from the --recent ring, in
 *                             full detail, with its other end when both
 *                             ends are on this host;
 *   {"get":"top"}             the panels of synfin top the stream does not
 *                             carry: connect and handshake latency since
 *                             start, TIME_WAIT sockets by remote endpoint,
 *                             CLOSE_WAIT sockets by process.
 * Anything else: an `error` record saying why.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
/* jansson names its inline macro as json.h does: the requests are read
 * with jansson, the answers written with json.h */
#undef JSON_INLINE
#include "cgroup.h"
#include "daemon.h"
#include "recent.h"

/* keys listed per panel at most */
#define TOP_MAX 50
#define TOP_DEFAULT 10

struct tally {
	struct sf_top_entry *e;
	size_t n, cap;
	bool oom;
};

static struct sf_top_entry *tally__add(struct tally *t)
{
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 256;
		void *p = realloc(t->e, cap * sizeof(*t->e));

		if (!p) {
			t->oom = true;
			return NULL;
		}
		t->e = p;
		t->cap = cap;
	}
	memset(&t->e[t->n], 0, sizeof(t->e[0]));
	t->e[t->n].count = 1;
	return &t->e[t->n++];
}

static int by_key(const void *a, const void *b)
{
	const struct sf_top_entry *x = a, *y = b;

	/* count is 1 in each: the rest is the key (zeroed where unused) */
	return memcmp(&x->netns, &y->netns, sizeof(*x) - offsetof(struct sf_top_entry, netns));
}

static int by_count(const void *a, const void *b)
{
	const struct sf_top_entry *x = a, *y = b;

	if (x->count != y->count)
		return x->count > y->count ? -1 : 1;
	return by_key(a, b); /* ties: one order, every time */
}

/* Runs of one key into one entry with its count, most first; the
 * number of keys. */
static __u32 tally__fold(struct tally *t)
{
	size_t k = 0;

	qsort(t->e, t->n, sizeof(t->e[0]), by_key);
	for (size_t i = 0; i < t->n; i++) {
		if (k && !by_key(&t->e[k - 1], &t->e[i]))
			t->e[k - 1].count++;
		else
			t->e[k++] = t->e[i];
	}
	t->n = k;
	qsort(t->e, t->n, sizeof(t->e[0]), by_count);
	return (__u32)k;
}

static void time_wait_key(void *ctx, const struct tw_key *k)
{
	struct sf_top_entry *e = tally__add(ctx);

	if (!e)
		return;
	e->netns = k->netns;
	e->family = k->family;
	memcpy(e->addr, k->raddr, sizeof(e->addr));
	e->port = k->rport;
}

static void close_wait_flow(void *ctx, const struct sf_flow *f)
{
	struct sf_top_entry *e;

	if (f->state != SF_TCP_CLOSE_WAIT || !(e = tally__add(ctx)))
		return;
	e->tgid = f->tgid;
	memcpy(e->comm, f->comm, sizeof(e->comm));
}

static void answer_top(struct daemon *d, json_t *req, struct json *j, uint64_t now)
{
	json_t *nv = json_object_get(req, "n");
	/* range-checked before it is narrowed: 2^32 + 10 is not 10 */
	json_int_t want = json_is_integer(nv) ? json_integer_value(nv) : TOP_DEFAULT;
	int n = want >= 0 && want <= TOP_MAX ? (int)want : -1;
	struct tally tw = { 0 }, cw = { 0 };
	struct sf_top_reply t = {
		.connect = &d->total.phase[AGG_CONNECT],
		.handshake = &d->total.phase[AGG_HANDSHAKE],
	};

	if (nv && (!json_is_integer(nv) || n < 0)) {
		record_json__error(j, "top", NULL, "bad_request", "\"n\": the keys per list, 0 to 50", now, &d->clk);
		return;
	}
	flow_table__foreach_time_wait(d->table, time_wait_key, &tw);
	flow_table__foreach_open(d->table, close_wait_flow, &cw);
	if (tw.oom || cw.oom) {
		record_json__error(j, "top", NULL, "no_memory", "out of memory", now, &d->clk);
	} else {
		t.tw_sockets = tw.n;
		t.cw_sockets = cw.n;
		t.tw_keys = tally__fold(&tw);
		t.cw_keys = tally__fold(&cw);
		t.tw = tw.e;
		t.cw = cw.e;
		t.n_tw = tw.n < (size_t)n ? (int)tw.n : n;
		t.n_cw = cw.n < (size_t)n ? (int)cw.n : n;
		record_json__reply_top(j, &t, now, &d->clk);
	}
	free(tw.e);
	free(cw.e);
}

struct open_find {
	uint64_t id;
	const struct sf_flow *f;
};

static void open_flow(void *ctx, const struct sf_flow *f)
{
	struct open_find *o = ctx;

	if (!o->f && sf_flow_id(f->sk, f->gen) == o->id)
		o->f = f;
}

static bool is_id(const char *s)
{
	return s && strlen(s) == 16 && strspn(s, "0123456789abcdef") == 16;
}

static void answer_flow(struct daemon *d, json_t *req, struct json *j, uint64_t now)
{
	const char *id = json_string_value(json_object_get(req, "id"));
	const struct recent_flow *a, *b;
	struct open_find o = { 0 };
	struct sf_record ra, rb;
	const struct sf_record *recs[2] = { &ra, &rb };
	char msg[160];

	if (!is_id(id)) {
		record_json__error(j, "flow", NULL, "bad_request", "\"id\": a flow id, 16 lower-case hex digits", now,
				   &d->clk);
		return;
	}
	o.id = strtoull(id, NULL, 16);
	recent__find(d->recent, o.id, &a, &b);
	if (a) {
		/* the owner's cgroup path as the log has it (the cache's) */
		recent_flow__record(a, &ra);
		ra.cgroup = cgroups__get(d->cgroups, a->f.cgroup_id, now);
		if (b) {
			recent_flow__record(b, &rb);
			rb.cgroup = cgroups__get(d->cgroups, b->f.cgroup_id, now);
		}
		record_json__reply_flows(j, id, recs, b ? 2 : 1, now, &d->clk);
		return;
	}
	flow_table__foreach_open(d->table, open_flow, &o);
	if (o.f) {
		snprintf(msg, sizeof(msg), "flow %s is still open (%s): its record comes when it ends", id,
			 sf_state_name(o.f->state));
		record_json__error(j, "flow", id, "open", msg, now, &d->clk);
	} else if (!d->recent) {
		record_json__error(j, "flow", id, "not_kept", "this daemon keeps no finished flows (--recent 0)", now,
				   &d->clk);
	} else {
		snprintf(msg, sizeof(msg), "no flow %s among the last %u finished (--recent %u)", id,
			 recent__size(d->recent), d->o.recent);
		record_json__error(j, "flow", id, "not_found", msg, now, &d->clk);
	}
}

void query__answer(void *ctx, const char *line, size_t len, struct json *j)
{
	struct daemon *d = ctx;
	uint64_t now = mono_now();
	json_t *req = json_loadb(line, len, 0, NULL);
	const char *get = json_string_value(json_object_get(req, "get"));

	if (!json_is_object(req) || !get)
		record_json__error(j, NULL, NULL, "bad_request",
				   "a request is one JSON object per line: {\"get\":\"flow\",\"id\":ID} or {\"get\":\"top\"}",
				   now, &d->clk);
	else if (!strcmp(get, "flow"))
		answer_flow(d, req, j, now);
	else if (!strcmp(get, "top"))
		answer_top(d, req, j, now);
	else
		record_json__error(j, NULL, NULL, "bad_request", "\"get\": flow or top", now, &d->clk);
	json_decref(req);
}
