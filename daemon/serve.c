// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The live socket (--socket): opened once capture runs, and what each
 * client reads before the live records: a hello (who, since when, what
 * is captured), then the snapshot: every open flow, the stuck list, the
 * counters as they are now. out_socket.c does the rest.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include "capture.h"
#include "cgroup.h"
#include "daemon.h"
#include "out_socket.h"

/* What a client may leave unread of the live records before it loses
 * lines: about 2,000 flow records, a few seconds of a busy host. */
#define CLIENT_BUF (1u << 20)

struct greeting {
	struct daemon *d;
	struct json *j;
	uint64_t now;
};

static void open_flow(void *ctx, const struct sf_flow *f)
{
	struct greeting *g = ctx;

	record_json__open(g->j, f, cgroups__get(g->d->cgroups, f->cgroup_id, g->now), g->now, &g->d->clk);
}

/* the stuck list as stuck records, as they went out when each passed */
static void stuck_flow(void *ctx, const struct sf_flow *f)
{
	struct greeting *g = ctx;
	bool lower = !(f->seen & (1u << f->state));
	uint64_t since = lower ? f->first_ts : f->state_ts[f->state];
	struct sf_record rec = {
		.type = SF_REC_STUCK,
		.flow = f,
		.at = g->now,
		.state = f->state,
		.age_lower_bound = lower,
		.age_ns = g->now > since ? g->now - since : 0,
		.threshold_ns = (uint64_t)(g->d->o.stuck_s[f->state] * 1e9),
		.cgroup = cgroups__get(g->d->cgroups, f->cgroup_id, g->now),
	};

	if (f->stuck)
		record_json__record(g->j, &rec, &g->d->clk);
}

void serve__greet(void *ctx, struct json *j)
{
	struct daemon *d = ctx;
	struct greeting g = { .d = d, .j = j, .now = mono_now() };
	char host[256] = "";
	struct sf_hello h = {
		.version = SYNFIN_VERSION,
		.host = host,
		.started = d->start_mono,
		.capture = d->cap ? capture__describe(d->cap) : "",
		.segments = d->tc != NULL,
		.snapshot = d->o.snapshot,
		.netns = d->o.netns,
		.n_netns = d->o.n_netns,
	};
	struct sf_stats st;
	struct sf_record rec = { .type = SF_REC_STATS, .at = g.now, .stats = &st };

	gethostname(host, sizeof(host) - 1);
	record_json__hello(j, &h, g.now, &d->clk);
	flow_table__foreach_open(d->table, open_flow, &g);
	flow_table__foreach_open(d->table, stuck_flow, &g);
	daemon__gather_stats(d, g.now, &st);
	st.interval_s = (double)(g.now - d->last_stats) / 1e9;
	record_json__record(j, &rec, &d->clk);
}

int serve__open(struct daemon *d)
{
	struct sock_server_opts so = {
		.path = d->o.socket,
		.gid = d->o.socket_gid,
		.max_clients = d->o.max_clients,
		.client_buf = CLIENT_BUF,
		.clk = &d->clk,
		.loop = d->loop,
		.outputs = d->outputs,
		.greet = serve__greet,
		.greet_ctx = d,
		.request = query__answer,
		.request_ctx = d,
	};
	char why[160];
	int err;

	if (!d->o.socket_on)
		return EXIT_OK;
	err = sock_server__open(&d->sock, &so);
	if (!err) {
		pr_debug("live socket: %s", d->o.socket);
		return EXIT_OK;
	}
	if (err == -EADDRINUSE)
		snprintf(why, sizeof(why), "another synfin serves it");
	else
		snprintf(why, sizeof(why), "%s%s", strerror(-err),
			 err == -EACCES || err == -EPERM ? " (CAP_DAC_OVERRIDE; CAP_CHOWN for --socket-group)" : "");
	/* asked for by name: an error; the default: capture goes on */
	if (strcmp(d->o.socket, SERVE_DEFAULT_SOCKET)) {
		pr_err("--socket %s: %s", d->o.socket, why);
		return EXIT_RUNTIME;
	}
	pr_warn("DEGRADED: no live socket at %s (%s): synfin top cannot connect (--socket PATH, or --no-socket)",
		d->o.socket, why);
	return EXIT_OK;
}

void serve__close(struct daemon *d)
{
	sock_server__close(d->sock);
	d->sock = NULL;
}
