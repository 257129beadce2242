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

static void sample(int64_t *ring, uint32_t *n, int64_t v)
{
	if (v >= 0)
		ring[(*n)++ % TOP_LAT_SAMPLES] = v;
}

static bool abnormal(const char *close)
{
	return strcmp(close, "normal") && strcmp(close, "simultaneous");
}

static void on_flow(struct top_model *m, json_t *r, const char *line, size_t len)
{
	const char *close = jstr(r, "close");
	json_t *lat = json_object_get(r, "durations_us");
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
	if (json_is_integer(json_object_get(lat, "connect")))
		sample(m->connect_us, &m->n_connect, json_integer_value(json_object_get(lat, "connect")));
	if (json_is_integer(json_object_get(lat, "handshake")))
		sample(m->handshake_us, &m->n_handshake, json_integer_value(json_object_get(lat, "handshake")));
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

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

static void percentiles(FILE *out, const char *name, const int64_t *ring, uint32_t n)
{
	int64_t v[TOP_LAT_SAMPLES];
	uint32_t k = n < TOP_LAT_SAMPLES ? n : TOP_LAT_SAMPLES;

	if (!k) {
		fprintf(out, "  %-10s -\n", name);
		return;
	}
	memcpy(v, ring, sizeof(v[0]) * k);
	qsort(v, k, sizeof(v[0]), cmp_i64);
	fprintf(out, "  %-10s p50 %lld us  p90 %lld us  p99 %lld us  (last %u)\n", name, (long long)v[k / 2],
		(long long)v[k * 9 / 10], (long long)v[k * 99 / 100], k);
}

static int cmp_age(const void *a, const void *b)
{
	const struct top_conn *x = a, *y = b;

	/* oldest first; the id keeps equal ages in a stable order */
	if (x->since_us != y->since_us)
		return x->since_us < y->since_us ? -1 : 1;
	return strcmp(x->id, y->id);
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

void top_model__render(const struct top_model *m, FILE *out, const char *filter, int width)
{
	struct top_conn sorted[TOP_MAX_STUCK];
	char up[32], a[32];
	int n = 0;

	(void)width;
	age(up, sizeof(up), m->now_us - m->started_us);
	fprintf(out, "synfin %s on %s   up %s   %.0f events/s   open %u   stuck %u\n", m->version, m->host, up,
		m->events_per_s, m->open, m->stuck_now);
	fprintf(out, "loss: events %llu  ringbuf %llu  recursion %llu  output errors %llu  viewers' drops %llu  this view %llu\n",
		(unsigned long long)m->lost, (unsigned long long)m->rb_failed, (unsigned long long)m->recursion,
		(unsigned long long)(m->out_errors + m->out_dropped), (unsigned long long)m->sock_dropped,
		(unsigned long long)m->told_dropped);
	fprintf(out, "\nCONNECTIONS BY STATE\n");
	for (unsigned int s = 1; s < SF_TCP_NSTATES; s++)
		if (m->by_state[s])
			fprintf(out, "  %-13s %6u\n", sf_state_name(s), m->by_state[s]);
	fprintf(out, "\nRATES (last second)\n  flows ended %.0f/s:", m->new_per_s);
	for (int k = 1; k < TOP_KINDS; k++)
		if (m->total_kind[k])
			fprintf(out, " %s %.0f", sf_close_name(k), m->kind_per_s[k]);
	fprintf(out, "\n  failed connects/s: refused %.0f  timeout %.0f  unreachable %.0f\n",
		m->kind_per_s[SF_CLOSE_REFUSED], m->kind_per_s[SF_CLOSE_TIMEOUT], m->kind_per_s[SF_CLOSE_UNREACHABLE]);
	fprintf(out, "\nLATENCY\n");
	percentiles(out, "connect", m->connect_us, m->n_connect);
	percentiles(out, "handshake", m->handshake_us, m->n_handshake);

	for (int i = 0; i < m->n_stuck; i++)
		if (top_conn__matches(&m->stuck[i], filter))
			sorted[n++] = m->stuck[i];
	qsort(sorted, (size_t)n, sizeof(sorted[0]), cmp_age);
	fprintf(out, "\nSTUCK (%d)%s%s\n  %-12s %8s  %-28s %-28s %-22s %s\n", n, filter && *filter ? "  filter: " : "",
		filter ? filter : "", "STATE", "AGE", "LOCAL", "PEER", "PID/COMM", "NETNS");
	for (int i = 0; i < n; i++) {
		char pc[64];

		age(a, sizeof(a), m->now_us - sorted[i].since_us);
		snprintf(pc, sizeof(pc), "%ld/%s", sorted[i].pid, sorted[i].comm);
		fprintf(out, "  %-12s %8s  %-28s %-28s %-22s %llu\n", sorted[i].state, a, sorted[i].local, sorted[i].peer,
			pc, (unsigned long long)sorted[i].netns);
	}
	fprintf(out, "\nRECENT ABNORMAL CLOSES\n  %-18s %-28s %-28s %s\n", "CLOSE", "LOCAL", "PEER", "PID/COMM");
	for (int i = 0; top_model__recent(m, filter, i); i++) {
		const struct top_conn *c = top_model__recent(m, filter, i);

		fprintf(out, "  %-18s %-28s %-28s %ld/%s\n", c->close, c->local, c->peer, c->pid, c->comm);
	}
}
