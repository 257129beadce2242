// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "flowrec.h"
#include "top_model.h"

void top_model__init(struct top_model *m)
{
	memset(m, 0, sizeof(*m));
}

void top_model__free(struct top_model *m)
{
	for (int i = 0; i < m->n_recent; i++)
		free(m->recent[i].line);
	m->n_recent = 0;
	free(m->answer);
	m->answer = NULL;
}

static const char *jstr(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "";
}

static uint64_t ju64(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_integer(v) ? (uint64_t)json_integer_value(v) : 0;
}

static int64_t jtime(json_t *o, const char *key)
{
	int64_t us = 0;

	if (flowrec__parse_time(jstr(o, key), &us))
		return 0;
	return us;
}

/* Printable only: a comm is untrusted bytes and must not drive the
 * terminal; nor may any other string a line on the socket carries (the
 * socket's peer may not be synfin). */
static void safe_copy(char *dst, size_t len, const char *s)
{
	size_t n = 0;

	for (; *s && n + 5 < len; s++) {
		unsigned char c = (unsigned char)*s;

		if (c >= 0x20 && c < 0x7f)
			dst[n++] = (char)c;
		else
			n += (size_t)snprintf(dst + n, len - n, "\\x%02x", c);
	}
	dst[n] = 0;
}

static void endpoint(char *dst, size_t len, json_t *ep)
{
	json_t *port = json_object_get(ep, "port");
	char a[48]; /* an IPv6 address is 39 at most */

	safe_copy(a, sizeof(a), jstr(ep, "address"));
	if (strchr(a, ':'))
		snprintf(dst, len, "[%s]:%lld", a, json_is_integer(port) ? (long long)json_integer_value(port) : 0);
	else
		snprintf(dst, len, "%s:%lld", a, json_is_integer(port) ? (long long)json_integer_value(port) : 0);
}

static void conn_from(struct top_conn *c, json_t *r)
{
	json_t *proc = json_object_get(r, "process");
	json_t *pid = json_object_get(proc, "pid");

	memset(c, 0, sizeof(*c));
	snprintf(c->id, sizeof(c->id), "%s", jstr(r, "id"));
	safe_copy(c->state, sizeof(c->state), jstr(r, "state"));
	endpoint(c->local, sizeof(c->local), json_object_get(r, "local"));
	endpoint(c->peer, sizeof(c->peer), json_object_get(r, "peer"));
	safe_copy(c->comm, sizeof(c->comm), jstr(proc, "comm"));
	c->pid = json_is_integer(pid) ? (long)json_integer_value(pid) : -1;
	c->netns = ju64(r, "netns");
	c->since_us = jtime(r, "since");
}

static int find_stuck(const struct top_model *m, const char *id)
{
	for (int i = 0; i < m->n_stuck; i++)
		if (!strcmp(m->stuck[i].id, id))
			return i;
	return -1;
}

static void unstuck(struct top_model *m, const char *id)
{
	int i = find_stuck(m, id);

	if (i >= 0)
		m->stuck[i] = m->stuck[--m->n_stuck];
}

static void on_stats(struct top_model *m, json_t *r)
{
	json_t *ev = json_object_get(r, "events"), *bpf = json_object_get(r, "bpf");
	json_t *fl = json_object_get(r, "flows"), *out = json_object_get(r, "output");
	json_t *by = json_object_get(fl, "by_state"), *v;
	const char *k;

	m->prev_events = m->events;
	m->events = ju64(ev, "received");
	m->interval_s = json_real_value(json_object_get(r, "interval_s"));
	if (!json_is_real(json_object_get(r, "interval_s")))
		m->interval_s = (double)ju64(r, "interval_s");
	if (m->have_stats && m->interval_s > 0.2 && m->events >= m->prev_events)
		m->events_per_s = (double)(m->events - m->prev_events) / m->interval_s;
	m->lost = ju64(ev, "lost");
	m->rb_failed = ju64(bpf, "ringbuf_reserve_failed");
	m->recursion = ju64(bpf, "recursion_misses");
	m->out_errors = ju64(out, "write_errors");
	m->out_dropped = ju64(out, "dropped");
	m->sock_dropped = ju64(json_object_get(r, "socket"), "dropped");
	m->open = (uint32_t)ju64(fl, "open");
	m->stuck_now = (uint32_t)ju64(json_object_get(r, "stuck"), "now");
	m->tw_followed = ju64(json_object_get(r, "time_wait"), "tracked_now");
	memset(m->by_state, 0, sizeof(m->by_state));
	json_object_foreach(by, k, v) {
		for (unsigned int s = 1; s < SF_TCP_NSTATES; s++)
			if (!strcmp(k, sf_state_name(s)))
				m->by_state[s] = (uint32_t)json_integer_value(v);
	}
	m->have_stats = true;
}

/* Per second: the flows of the second that just ended make the rates. */
static void tick(struct top_model *m, int64_t now_us)
{
	int64_t sec = now_us / 1000000;

	if (sec == m->second)
		return;
	/* a gap of more than a second: the last full second had nothing */
	bool gap = sec > m->second + 1;

	m->new_per_s = gap ? 0 : m->cur_new;
	for (int k = 0; k < TOP_KINDS; k++)
		m->kind_per_s[k] = gap ? 0 : m->cur_kind[k];
	m->cur_new = 0;
	memset(m->cur_kind, 0, sizeof(m->cur_kind));
	m->second = sec;
}

static bool abnormal(const char *close)
{
	return strcmp(close, "normal") && strcmp(close, "simultaneous");
}

static void on_flow(struct top_model *m, json_t *r, const char *line, size_t len)
{
	const char *close = jstr(r, "close");
	struct top_conn c;
	int k;

	unstuck(m, jstr(r, "id"));
	m->cur_new++;
	for (k = 0; k < TOP_KINDS; k++)
		if (!strcmp(close, sf_close_name(k)))
			break;
	if (k < TOP_KINDS) {
		m->cur_kind[k]++;
		m->total_kind[k]++;
	}
	if (!abnormal(close))
		return;
	conn_from(&c, r);
	safe_copy(c.close, sizeof(c.close), close);
	c.since_us = jtime(r, "time");
	c.line = strndup(line, len);
	if (m->n_recent == TOP_RECENT)
		free(m->recent[--m->n_recent].line);
	memmove(&m->recent[1], &m->recent[0], sizeof(m->recent[0]) * (size_t)m->n_recent);
	m->recent[0] = c;
	m->n_recent++;
}

static void hist_from(struct top_hist *h, json_t *o)
{
	json_t *b = json_object_get(o, "log2_us"), *v;
	size_t i;

	memset(h, 0, sizeof(*h));
	h->count = ju64(o, "count");
	h->p50 = ju64(o, "p50");
	h->p90 = ju64(o, "p90");
	h->p99 = ju64(o, "p99");
	h->max = ju64(o, "max");
	json_array_foreach(b, i, v) {
		if (i >= TOP_HIST_BUCKETS)
			break;
		h->bucket[i] = json_is_integer(v) && json_integer_value(v) > 0 ? (uint64_t)json_integer_value(v) : 0;
		h->nb = (int)i + 1;
	}
}

static int keys_from(struct top_key_row *rows, json_t *arr, bool process)
{
	json_t *v;
	size_t i;
	int n = 0;

	json_array_foreach(arr, i, v) {
		struct top_key_row *k = &rows[n];
		char comm[SYNFIN_COMM_LEN * 4];
		json_t *pid = json_object_get(v, "pid");

		if (n == TOP_LIST)
			break;
		if (process) {
			safe_copy(comm, sizeof(comm), jstr(v, "comm"));
			if (json_is_integer(pid))
				snprintf(k->name, sizeof(k->name), "%lld/%s", (long long)json_integer_value(pid), comm);
			else
				snprintf(k->name, sizeof(k->name), "-/%s", comm);
		} else {
			endpoint(k->name, sizeof(k->name), json_object_get(v, "peer"));
		}
		k->netns = ju64(v, "netns");
		k->count = ju64(v, "count");
		n++;
	}
	return n;
}

static void on_reply(struct top_model *m, json_t *r, const char *line, size_t len)
{
	const char *get = jstr(r, "get");
	json_t *lat = json_object_get(r, "latency_us");
	json_t *tw = json_object_get(r, "time_wait"), *cw = json_object_get(r, "close_wait");

	if (!strcmp(get, "flow")) {
		char *a = strndup(line, len);

		if (!a)
			return;
		free(m->answer);
		m->answer = a;
		m->answer_len = len;
		m->answer_seq++;
		return;
	}
	if (strcmp(jstr(r, "type"), "reply") || strcmp(get, "top"))
		return;
	hist_from(&m->connect, json_object_get(lat, "connect"));
	hist_from(&m->handshake, json_object_get(lat, "handshake"));
	m->tw_sockets = ju64(tw, "sockets");
	m->tw_remotes = ju64(tw, "remotes");
	m->n_tw = keys_from(m->tw, json_object_get(tw, "by_remote"), false);
	m->cw_sockets = ju64(cw, "sockets");
	m->cw_processes = ju64(cw, "processes");
	m->n_cw = keys_from(m->cw, json_object_get(cw, "by_process"), true);
	m->have_top = true;
}

int top_model__line(struct top_model *m, const char *line, size_t len)
{
	json_t *r = json_loadb(line, len, 0, NULL);
	const char *type;
	int64_t t;

	if (!json_is_object(r)) {
		json_decref(r);
		m->bad_lines++;
		return -EINVAL;
	}
	m->lines++;
	type = jstr(r, "type");
	t = jtime(r, "time");
	if (t > m->now_us)
		m->now_us = t;
	tick(m, m->now_us);
	if (!strcmp(type, "hello")) {
		safe_copy(m->host, sizeof(m->host), jstr(r, "host"));
		safe_copy(m->version, sizeof(m->version), jstr(r, "version"));
		m->started_us = jtime(r, "started");
	} else if (!strcmp(type, "stats")) {
		on_stats(m, r);
	} else if (!strcmp(type, "stuck")) {
		int i = find_stuck(m, jstr(r, "id"));

		if (i < 0 && m->n_stuck < TOP_MAX_STUCK)
			i = m->n_stuck++;
		if (i >= 0)
			conn_from(&m->stuck[i], r);
	} else if (!strcmp(type, "resolved")) {
		unstuck(m, jstr(r, "id"));
	} else if (!strcmp(type, "flow")) {
		on_flow(m, r, line, len);
	} else if (!strcmp(type, "reply") || !strcmp(type, "error")) {
		on_reply(m, r, line, len);
	} else if (!strcmp(type, "dropped")) {
		m->told_dropped += ju64(r, "lines");
	}
	json_decref(r);
	return 0;
}

bool top_conn__matches(const struct top_conn *c, const char *f)
{
	return !f || !*f || strstr(c->local, f) || strstr(c->peer, f) || strstr(c->comm, f);
}

const struct top_conn *top_model__recent(const struct top_model *m, const char *filter, int i)
{
	for (int k = 0; k < m->n_recent; k++)
		if (top_conn__matches(&m->recent[k], filter) && i-- == 0)
			return &m->recent[k];
	return NULL;
}

const char *top_sort_name(enum top_sort s)
{
	static const char *const n[TOP_SORT_COLS] = { "STATE", "AGE", "LOCAL", "PEER", "PID/COMM", "NETNS" };

	return s < TOP_SORT_COLS ? n[s] : "?";
}

static int cmp_str(const char *a, const char *b)
{
	int c = strcmp(a, b);

	return (c > 0) - (c < 0);
}

/* One total order per column: ties go by age, then by id, so a row
 * moves only when its key really changed against its neighbours'. */
static int cmp_row(const void *a, const void *b, void *ctx)
{
	const struct top_conn *x = a, *y = b;
	const struct top_view_opts *v = ctx;
	int c = 0;

	switch (v->sort) {
	case TOP_SORT_STATE:
		c = cmp_str(x->state, y->state);
		break;
	case TOP_SORT_LOCAL:
		c = cmp_str(x->local, y->local);
		break;
	case TOP_SORT_PEER:
		c = cmp_str(x->peer, y->peer);
		break;
	case TOP_SORT_PROCESS:
		c = x->pid != y->pid ? (x->pid < y->pid ? -1 : 1) : cmp_str(x->comm, y->comm);
		break;
	case TOP_SORT_NETNS:
		c = x->netns != y->netns ? (x->netns < y->netns ? -1 : 1) : 0;
		break;
	case TOP_SORT_AGE:
	case TOP_SORT_COLS:
		break;
	}
	/* age: the oldest (the smallest since) first */
	if (!c && x->since_us != y->since_us)
		c = x->since_us < y->since_us ? -1 : 1;
	if (!c)
		c = cmp_str(x->id, y->id);
	return v->reverse ? -c : c;
}

/* the stuck rows that pass the filter, in the view's order */
static int stuck_rows(const struct top_model *m, const struct top_view_opts *v, struct top_conn *out)
{
	int n = 0;

	for (int i = 0; i < m->n_stuck; i++)
		if (top_conn__matches(&m->stuck[i], v->filter))
			out[n++] = m->stuck[i];
	qsort_r(out, (size_t)n, sizeof(out[0]), cmp_row, (void *)v);
	return n;
}

const struct top_conn *top_model__row(const struct top_model *m, const struct top_view_opts *v, int i)
{
	struct top_conn rows[TOP_MAX_STUCK];
	int n = stuck_rows(m, v, rows);

	if (i < 0)
		return NULL;
	if (i < n) {
		/* the model's own copy: rows[] is gone on return */
		for (int k = 0; k < m->n_stuck; k++)
			if (!strcmp(m->stuck[k].id, rows[i].id))
				return &m->stuck[k];
		return NULL;
	}
	return top_model__recent(m, v->filter, i - n);
}

static void age(char *buf, size_t len, int64_t us)
{
	if (us < 0)
		us = 0;
	if (us < 60000000)
		snprintf(buf, len, "%.1fs", (double)us / 1e6);
	else if (us < 3600LL * 1000000)
		snprintf(buf, len, "%lldm%02llds", (long long)(us / 60000000), (long long)(us / 1000000 % 60));
	else
		snprintf(buf, len, "%lldh%02lldm", (long long)(us / 3600000000LL), (long long)(us / 60000000 % 60));
}

static void dur(char *buf, size_t len, uint64_t us)
{
	if (us < 10000)
		snprintf(buf, len, "%llu us", (unsigned long long)us);
	else if (us < 10000000)
		snprintf(buf, len, "%.1f ms", (double)us / 1e3);
	else
		snprintf(buf, len, "%.1f s", (double)us / 1e6);
}

/* a bucket's upper bound, short: 1us 2us ... 512us 1ms ... 1s 2s */
static void bound(char *buf, size_t len, int i)
{
	uint64_t us = 1ULL << i;

	if (us < 1000)
		snprintf(buf, len, "%lluus", (unsigned long long)us);
	else if (us < 1000000)
		snprintf(buf, len, "%llums", (unsigned long long)(us / 1000));
	else
		snprintf(buf, len, "%llus", (unsigned long long)(us / 1000000));
}

/* p50/p90/p99, then the histogram: one character per log2 bucket from the
 * first to the last one that holds a value, its height by its count
 * against the fullest (' ' none, then . : - = + * #) */
static void latency(FILE *out, const char *name, const struct top_hist *h)
{
	static const char levels[] = " .:-=+*#";
	char a[24], b[24], c[24], d[24], lo[16], hi[16];
	uint64_t most = 0;
	int first = -1, last = -1;

	if (!h->count) {
		fprintf(out, "  %-10s no connection timed yet\n", name);
		return;
	}
	for (int i = 0; i < h->nb; i++) {
		if (!h->bucket[i])
			continue;
		if (first < 0)
			first = i;
		last = i;
		if (h->bucket[i] > most)
			most = h->bucket[i];
	}
	dur(a, sizeof(a), h->p50);
	dur(b, sizeof(b), h->p90);
	dur(c, sizeof(c), h->p99);
	dur(d, sizeof(d), h->max);
	fprintf(out, "  %-10s %6llu flows  p50 %-9s p90 %-9s p99 %-9s max %-9s", name, (unsigned long long)h->count, a, b, c, d);
	if (first < 0) {
		fputc('\n', out);
		return;
	}
	/* bucket i holds [2^(i-1), 2^i) */
	bound(lo, sizeof(lo), first > 0 ? first - 1 : 0);
	bound(hi, sizeof(hi), last);
	fprintf(out, " %s%s |", first ? "" : "<", first ? lo : "1us");
	for (int i = first; i <= last; i++)
		fputc(levels[(h->bucket[i] * 7 + most - 1) / most], out);
	fprintf(out, "| %s\n", hi);
}

static void key_rows(FILE *out, const struct top_key_row *k, int n, bool netns)
{
	if (netns)
		fprintf(out, "  %-44s %-12s %6s\n", "PEER", "NETNS", "COUNT");
	else if (n)
		fprintf(out, "  %-57s %6s\n", "PID/COMM", "COUNT");
	if (!n)
		fprintf(out, "  (none)\n");
	for (int i = 0; i < n; i++) {
		if (netns)
			fprintf(out, "  %-44s %-12llu %6llu\n", k[i].name, (unsigned long long)k[i].netns,
				(unsigned long long)k[i].count);
		else
			fprintf(out, "  %-57s %6llu\n", k[i].name, (unsigned long long)k[i].count);
	}
}

/* the seed's states, in the order a connection goes through them;
 * TIME_WAIT: the time-wait sockets the daemon follows */
static void states(FILE *out, const struct top_model *m, int width)
{
	static const unsigned int order[] = { SF_TCP_LISTEN,	 SF_TCP_SYN_SENT,  SF_TCP_SYN_RECV, SF_TCP_ESTABLISHED,
					      SF_TCP_FIN_WAIT1,	 SF_TCP_FIN_WAIT2, SF_TCP_CLOSE_WAIT, SF_TCP_CLOSING,
					      SF_TCP_LAST_ACK,	 SF_TCP_TIME_WAIT };
	int n = (int)(sizeof(order) / sizeof(order[0])), per = (width - 2) / 22;

	per = per < 1 ? 1 : per > 5 ? 5 : per;
	fprintf(out, "\nCONNECTIONS BY STATE\n");
	for (int k = 0; k < n; k++) {
		uint64_t c = m->by_state[order[k]];

		if (order[k] == SF_TCP_TIME_WAIT)
			c += m->tw_followed;
		fprintf(out, "  %-13s %6llu%s", sf_state_name(order[k]), (unsigned long long)c,
			(k + 1) % per && k + 1 < n ? "" : "\n");
	}
}

void top_model__render_view(const struct top_model *m, FILE *out, const struct top_view_opts *v, int width)
{
	struct top_conn sorted[TOP_MAX_STUCK];
	const char *filter = v->filter;
	char up[32], a[32];
	int n;

	age(up, sizeof(up), m->now_us - m->started_us);
	fprintf(out, "synfin %s on %s   up %s   %.0f events/s   open %u   stuck %u\n", m->version, m->host, up,
		m->events_per_s, m->open, m->stuck_now);
	fprintf(out, "loss: events %llu  ringbuf %llu  recursion %llu  output errors %llu  viewers' drops %llu  this view %llu\n",
		(unsigned long long)m->lost, (unsigned long long)m->rb_failed, (unsigned long long)m->recursion,
		(unsigned long long)(m->out_errors + m->out_dropped), (unsigned long long)m->sock_dropped,
		(unsigned long long)m->told_dropped);
	states(out, m, width);
	fprintf(out, "\nRATES (last second)\n  flows ended %.0f/s:", m->new_per_s);
	for (int k = 1; k < TOP_KINDS; k++)
		if (m->total_kind[k])
			fprintf(out, " %s %.0f", sf_close_name(k), m->kind_per_s[k]);
	fprintf(out, "\n  failed connects/s: refused %.0f  timeout %.0f  unreachable %.0f\n",
		m->kind_per_s[SF_CLOSE_REFUSED], m->kind_per_s[SF_CLOSE_TIMEOUT], m->kind_per_s[SF_CLOSE_UNREACHABLE]);
	fprintf(out, "\nLATENCY (since the daemon started)\n");
	if (m->have_top) {
		latency(out, "connect", &m->connect);
		latency(out, "handshake", &m->handshake);
	} else {
		fprintf(out, "  (waiting for the daemon)\n");
	}

	n = stuck_rows(m, v, sorted);
	fprintf(out, "\nSTUCK (%d)  sort: %s%s%s%s\n", n, top_sort_name(v->sort),
		v->sort == TOP_SORT_AGE ? (v->reverse ? ", newest first" : ", oldest first") :
					  (v->reverse ? ", descending" : ""),
		filter && *filter ? "  filter: " : "", filter ? filter : "");
	fprintf(out, "  %-12s %8s  %-28s %-28s %-22s %s\n", "STATE", "AGE", "LOCAL", "PEER", "PID/COMM", "NETNS");
	for (int i = 0; i < n; i++) {
		char pc[64];
		bool sel = v->sel_id && !strcmp(v->sel_id, sorted[i].id);

		age(a, sizeof(a), m->now_us - sorted[i].since_us);
		snprintf(pc, sizeof(pc), "%ld/%s", sorted[i].pid, sorted[i].comm);
		fprintf(out, "%c %-12s %8s  %-28s %-28s %-22s %llu\n", sel ? '>' : ' ', sorted[i].state, a, sorted[i].local,
			sorted[i].peer, pc, (unsigned long long)sorted[i].netns);
	}
	fprintf(out, "\nTIME_WAIT BY REMOTE (%llu socket%s, %llu remote%s)\n", (unsigned long long)m->tw_sockets,
		m->tw_sockets == 1 ? "" : "s", (unsigned long long)m->tw_remotes, m->tw_remotes == 1 ? "" : "s");
	if (m->have_top)
		key_rows(out, m->tw, m->n_tw, true);
	fprintf(out, "\nCLOSE_WAIT BY PROCESS (%llu socket%s, %llu process%s)\n", (unsigned long long)m->cw_sockets,
		m->cw_sockets == 1 ? "" : "s", (unsigned long long)m->cw_processes, m->cw_processes == 1 ? "" : "es");
	if (m->have_top)
		key_rows(out, m->cw, m->n_cw, false);
	fprintf(out, "\nRECENT ABNORMAL CLOSES\n  %-18s %-28s %-28s %s\n", "CLOSE", "LOCAL", "PEER", "PID/COMM");
	for (int i = 0; top_model__recent(m, filter, i); i++) {
		const struct top_conn *c = top_model__recent(m, filter, i);
		bool sel = v->sel_id && !strcmp(v->sel_id, c->id);

		fprintf(out, "%c %-18s %-28s %-28s %ld/%s\n", sel ? '>' : ' ', c->close, c->local, c->peer, c->pid,
			c->comm);
	}
}

void top_model__render(const struct top_model *m, FILE *out, const char *filter, int width)
{
	struct top_view_opts v = { .filter = filter, .sort = TOP_SORT_AGE };

	top_model__render_view(m, out, &v, width);
}
