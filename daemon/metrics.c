// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <microhttpd.h>
#include "metrics.h"

#ifndef SYNFIN_VERSION
#define SYNFIN_VERSION "0.1.0"
#endif

struct metrics {
	struct MHD_Daemon *mhd;
	metrics_gather_fn gather;
	void *ctx;
};

/* synfin_<group>_<name>, base units (seconds), counters end in _total,
 * a by_state table is one metric with a state label */
static void metric_name(char *buf, size_t len, const struct sf_stat_def *d)
{
	size_t n = strlen(d->name);
	const char *suffix = "";

	if (d->type == SF_STAT_SECONDS && n > 2 && !strcmp(d->name + n - 2, "_s")) {
		n -= 2;
		suffix = "_seconds";
	}
	/* "stuck.total" is synfin_stuck_total, not ..._total_total */
	if (d->kind == SF_STAT_COUNTER && !(n >= 5 && !strcmp(d->name + n - 5, "total")))
		suffix = "_total";
	snprintf(buf, len, "synfin%s%s_%.*s%s", d->group ? "_" : "", d->group ? d->group : "", (int)n, d->name,
		 suffix);
}

static void head(FILE *f, const char *name, const char *help, const char *type)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* one series per state name (the kernel's NEW_SYN_RECV is SYN_RECEIVED too) */
static void by_state(FILE *f, const char *name, const uint32_t *v)
{
	for (unsigned int s = 1; s < SF_TCP_NSTATES; s++) {
		unsigned long long sum = 0;
		unsigned int t;

		for (t = 1; t < s; t++)
			if (!strcmp(sf_state_name(t), sf_state_name(s)))
				break;
		if (t < s)
			continue; /* counted with the first of its name */
		for (t = s; t < SF_TCP_NSTATES; t++)
			if (!strcmp(sf_state_name(t), sf_state_name(s)))
				sum += v[t];
		fprintf(f, "%s{state=\"%s\"} %llu\n", name, sf_state_name(s), sum);
	}
}

static void by_listener(FILE *f, const char *name, const struct sf_listener_top *t)
{
	for (uint32_t i = 0; i < t->n; i++)
		fprintf(f, "%s{netns=\"%u\",port=\"%u\"} %u\n", name, t->top[i].netns, t->top[i].port,
			t->top[i].count);
	fprintf(f, "%s{port=\"other\"} %llu\n", name, (unsigned long long)t->other);
}

static void stats_text(FILE *f, const struct sf_stats *st)
{
	char name[128];

	for (size_t i = 0; i < sf_stat_ndefs; i++) {
		const struct sf_stat_def *d = &sf_stat_defs[i];
		const char *p = (const char *)st + d->off;

		if (d->kind == SF_STAT_ATTR)
			continue;
		metric_name(name, sizeof(name), d);
		head(f, name, d->help, d->kind == SF_STAT_COUNTER ? "counter" : "gauge");
		switch (d->type) {
		case SF_STAT_SECONDS:
			fprintf(f, "%s %.6f\n", name, *(const double *)p);
			break;
		case SF_STAT_BY_STATE:
			/* every state, zeros included: a series that vanishes
			 * reads as "no data", not as 0 */
			by_state(f, name, (const uint32_t *)p);
			break;
		case SF_STAT_BY_ROLE:
			for (int r = SF_ROLE_CLIENT; r <= SF_ROLE_SERVER; r++)
				fprintf(f, "%s{role=\"%s\"} %llu\n", name, sf_role_name(r),
					(unsigned long long)((const uint64_t *)p)[r]);
			break;
		case SF_STAT_BY_LISTENER:
			by_listener(f, name, (const struct sf_listener_top *)p);
			break;
		default:
			fprintf(f, "%s %llu\n", name, (unsigned long long)stats__value(d, st));
			break;
		}
	}
}

/* a log2 histogram of microseconds as a Prometheus histogram in seconds */
static void hist(FILE *f, const char *name, const char *label, const struct agg_hist *h)
{
	char sep[64] = "";
	uint64_t cum = 0;

	if (label)
		snprintf(sep, sizeof(sep), "%s,", label);
	for (int i = 0; i < AGG_BUCKETS - 1; i++) {
		cum += h->bucket[i];
		fprintf(f, "%s_bucket{%sle=\"%.6g\"} %llu\n", name, sep, (double)agg_hist__bound_us(i) / 1e6,
			(unsigned long long)cum);
	}
	fprintf(f, "%s_bucket{%sle=\"+Inf\"} %llu\n", name, sep, (unsigned long long)h->count);
	fprintf(f, "%s_sum%s%s%s %.6f\n", name, label ? "{" : "", label ? label : "", label ? "}" : "",
		(double)h->sum_us / 1e6);
	fprintf(f, "%s_count%s%s%s %llu\n", name, label ? "{" : "", label ? label : "", label ? "}" : "",
		(unsigned long long)h->count);
}

static void agg_text(FILE *f, const struct agg_counts *c)
{
	char label[64];

	head(f, "synfin_connections_closed_total", "connections whose lifecycle ended, by close kind", "counter");
	for (size_t i = 0; i < sizeof(c->closed) / sizeof(c->closed[0]); i++)
		fprintf(f, "synfin_connections_closed_total{kind=\"%s\"} %llu\n", sf_close_name((enum sf_close_kind)i),
			(unsigned long long)c->closed[i]);
	head(f, "synfin_connect_failures_total", "client connects that failed, by reason", "counter");
	for (int i = 0; i < AGG_FAIL_KINDS; i++)
		fprintf(f, "synfin_connect_failures_total{reason=\"%s\"} %llu\n", agg_fail_name(i),
			(unsigned long long)c->failed[i]);
	head(f, "synfin_retransmits_total", "SYN, SYN-ACK and FIN retransmits of finished connections", "counter");
	fprintf(f, "synfin_retransmits_total{segment=\"syn\"} %llu\n", (unsigned long long)c->retrans_syn);
	fprintf(f, "synfin_retransmits_total{segment=\"synack\"} %llu\n", (unsigned long long)c->retrans_synack);
	fprintf(f, "synfin_retransmits_total{segment=\"fin\"} %llu\n", (unsigned long long)c->retrans_fin);
	head(f, "synfin_partial_flows_total", "finished connections whose record is partial", "counter");
	fprintf(f, "synfin_partial_flows_total %llu\n", (unsigned long long)c->partial);
	head(f, "synfin_connect_duration_seconds", "client connect: SYN_SENT to ESTABLISHED", "histogram");
	hist(f, "synfin_connect_duration_seconds", NULL, &c->phase[AGG_CONNECT]);
	head(f, "synfin_handshake_duration_seconds", "server handshake: the SYN to the final ACK", "histogram");
	hist(f, "synfin_handshake_duration_seconds", NULL, &c->phase[AGG_HANDSHAKE]);
	head(f, "synfin_teardown_phase_duration_seconds", "time in each teardown state", "histogram");
	for (int p = AGG_FIN_WAIT_1; p < AGG_PHASES; p++) {
		snprintf(label, sizeof(label), "phase=\"%s\"", agg_phase_name(p));
		hist(f, "synfin_teardown_phase_duration_seconds", label, &c->phase[p]);
	}
}

/* a label value: printable ASCII, \\ and \" escaped; other bytes (a comm
 * is untrusted bytes) as _ */
static void label_value(FILE *f, const char *s, size_t n)
{
	for (size_t i = 0; i < n && s[i]; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '\\' || c == '"')
			fprintf(f, "\\%c", c);
		else
			fputc(c >= 0x20 && c < 0x7f ? c : '_', f);
	}
}

static void key_label(FILE *f, const char *name, const struct agg_entry *e)
{
	if (e->other)
		fprintf(f, "%s=\"other\"", name);
	else if (e->kind == AGG_LISTENER)
		fprintf(f, "%s=\"%u\"", name, e->port);
	else {
		fprintf(f, "%s=\"", name);
		label_value(f, e->comm, sizeof(e->comm));
		fputc('"', f);
	}
}

struct keys_ctx {
	FILE *f;
	enum agg_kind kind;
	int what;	/* 0: closed by kind, 1: connect failures */
};

static void key_series(void *ctx, const struct agg_entry *e)
{
	struct keys_ctx *k = ctx;
	const char *metric = k->kind == AGG_LISTENER ? "synfin_listener" : "synfin_process";
	const char *label = k->kind == AGG_LISTENER ? "port" : "comm";

	if (e->kind != k->kind)
		return;
	if (k->what == 0) {
		for (size_t i = 0; i < sizeof(e->c.closed) / sizeof(e->c.closed[0]); i++) {
			if (!e->c.closed[i])
				continue;
			fprintf(k->f, "%s_connections_closed_total{", metric);
			key_label(k->f, label, e);
			fprintf(k->f, ",kind=\"%s\"} %llu\n", sf_close_name((enum sf_close_kind)i),
				(unsigned long long)e->c.closed[i]);
		}
		return;
	}
	for (int i = 0; i < AGG_FAIL_KINDS; i++) {
		if (!e->c.failed[i])
			continue;
		fprintf(k->f, "%s_connect_failures_total{", metric);
		key_label(k->f, label, e);
		fprintf(k->f, ",reason=\"%s\"} %llu\n", agg_fail_name(i), (unsigned long long)e->c.failed[i]);
	}
}

/* --metrics-labels: the same bound as the summaries (--summary-top) */
static void keys_text(FILE *f, struct agg *keys)
{
	struct keys_ctx k = { f, AGG_LISTENER, 0 };

	head(f, "synfin_listener_connections_closed_total",
	     "server connections closed, by local port (top ports, the rest as other) and close kind", "counter");
	agg__visit(keys, key_series, &k);
	k.kind = AGG_PROCESS;
	head(f, "synfin_process_connections_closed_total",
	     "connections closed, by process name (top names, the rest as other) and close kind", "counter");
	agg__visit(keys, key_series, &k);
	k.what = 1;
	head(f, "synfin_process_connect_failures_total",
	     "client connects that failed, by process name (top names, the rest as other) and reason", "counter");
	agg__visit(keys, key_series, &k);
}

void metrics__text(FILE *f, const struct sf_stats *st, const struct agg_counts *tot, struct agg *keys)
{
	head(f, "synfin_build_info", "the running synfin", "gauge");
	fprintf(f, "synfin_build_info{version=\"%s\"} 1\n", SYNFIN_VERSION);
	stats_text(f, st);
	if (tot)
		agg_text(f, tot);
	if (keys)
		keys_text(f, keys);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
				  const char *version, const char *data, size_t *data_size, void **con_cls)
{
	struct metrics *m = cls;
	const struct agg_counts *tot = NULL;
	struct agg *keys = NULL;
	struct MHD_Response *resp;
	struct sf_stats st;
	char *buf = NULL;
	size_t len = 0;
	unsigned int status = MHD_HTTP_OK;
	enum MHD_Result ret;
	FILE *f;

	(void)version, (void)data, (void)data_size, (void)con_cls;
	if (strcmp(method, "GET") && strcmp(method, "HEAD"))
		return MHD_NO;
	f = open_memstream(&buf, &len);
	if (!f)
		return MHD_NO;
	if (!strcmp(url, "/metrics")) {
		m->gather(m->ctx, &st, &tot, &keys);
		metrics__text(f, &st, tot, keys);
	} else {
		status = MHD_HTTP_NOT_FOUND;
		fputs("synfin: the metrics are at /metrics\n", f);
	}
	if (fclose(f)) {
		free(buf);
		return MHD_NO;
	}
	resp = MHD_create_response_from_buffer(len, buf, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(buf);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8");
	ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

int metrics__start(struct metrics **out, const struct sockaddr_storage *ss, metrics_gather_fn fn, void *ctx)
{
	struct metrics *m = calloc(1, sizeof(*m));
	int err;

	if (!m)
		return -ENOMEM;
	m->gather = fn;
	m->ctx = ctx;
	/* no thread of its own: the loop calls MHD_run() when its epoll fd
	 * is readable, so a scrape reads the counters on the loop's thread */
	errno = 0;
	m->mhd = MHD_start_daemon(MHD_USE_EPOLL |
				  (ss->ss_family == AF_INET6 ? MHD_USE_IPv6 : 0),
				  0, NULL, NULL, on_request, m, MHD_OPTION_SOCK_ADDR, ss, MHD_OPTION_CONNECTION_LIMIT,
				  (unsigned int)16, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)10, MHD_OPTION_END);
	if (!m->mhd) {
		err = errno ? -errno : -EADDRINUSE;
		free(m);
		return err;
	}
	*out = m;
	return 0;
}

int metrics__fd(const struct metrics *m)
{
	const union MHD_DaemonInfo *i = MHD_get_daemon_info(m->mhd, MHD_DAEMON_INFO_EPOLL_FD);

	return i ? i->epoll_fd : -1;
}

void metrics__run(struct metrics *m)
{
	MHD_run(m->mhd);
}

void metrics__stop(struct metrics *m)
{
	if (!m)
		return;
	MHD_stop_daemon(m->mhd);
	free(m);
}
