// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Wiring: what the live daemon and --replay share. The flow table,
 * pile-ups and outputs are made here, every record reaches the outputs
 * by one route (outputs__emit), and output failures are decided here.
 */
#include <errno.h>
#include <string.h>
#include <time.h>
#include "aggregate.h"
#include "capture.h"
#include "cgroup.h"
#include "daemon.h"
#include "filter_cgroup.h"
#include "out_socket.h"
#include "tc.h"
#include "loop.h"
#include "out_jsonl.h"
#include "recent.h"
#include "pileup.h"

/* a failing output is reported at most this often */
#define OUTPUT_WARN_INTERVAL_NS (10ULL * 1000000000ULL)

uint64_t mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static int64_t mono_to_real(void)
{
	struct timespec r, m;

	clock_gettime(CLOCK_REALTIME, &r);
	clock_gettime(CLOCK_MONOTONIC, &m);
	return ((int64_t)r.tv_sec - m.tv_sec) * 1000000000LL + (r.tv_nsec - m.tv_nsec);
}

/* Pile-ups take the same route as every other record. */
static void on_pileup(void *ctx, const struct pileup_event *ev)
{
	struct daemon *d = ctx;
	struct sf_record rec = { .type = SF_REC_PILEUP, .at = ev->at, .pileup = ev };

	outputs__emit(d->outputs, &rec);
}

static bool in_cgroups(void *ctx, __u64 id)
{
	struct daemon *d = ctx;

	return d->filter_cg && filter_cgroups__contains(d->filter_cg, id, mono_now());
}

/* Is a record about a connection the filters leave out? The kernel
 * applied what it could; this is the whole spec (--comm, and owners or
 * sockets the kernel could not judge), on what the record is about. */
static bool filtered_out(struct daemon *d, const struct sf_record *rec)
{
	const struct filter *f = &d->o.filter;

	if (!d->filter_on)
		return false;
	if (rec->flow)
		return filter__flow(f, rec->flow, in_cgroups, d) != FILTER_KEEP;
	if (rec->type == SF_REC_TIME_WAIT)
		return filter__tuple(f, rec->tw->key->family, rec->tw->key->laddr, rec->tw->key->raddr,
				     rec->tw->key->lport, rec->tw->key->rport) != 0;
	return false;
}

/* Every record the flow table makes: finished flows and stuck ones are
 * aggregated whether written or not; a flow record is written in the
 * detail --detail asks, if --flows and --sample let it through. */
static void on_record(void *ctx, const struct sf_record *rec)
{
	struct daemon *d = ctx;
	struct sf_record r;
	bool abnormal;

	/* left out: as if never seen (neither written nor aggregated) */
	if (filtered_out(d, rec)) {
		if (rec->type == SF_REC_FLOW)
			d->cnt.filtered_flows++;
		else
			d->cnt.filtered_records++;
		return;
	}
	if (rec->type == SF_REC_STUCK && d->agg)
		agg__stuck(d->agg, rec->flow, rec->state);
	if (rec->type == SF_REC_STUCK && rec->state < SF_TCP_NSTATES)
		d->total.stuck[rec->state]++;
	/* a time-wait socket that expired, or whose tuple a new connection
	 * took, ended as Linux meant; one synfin stopped following (its
	 * tracker full: the busiest moments) is a limit of ours, counted in
	 * stats: written in full detail only (in a storm, a third of the
	 * bytes) */
	if (rec->type == SF_REC_TIME_WAIT && d->o.detail != OPTS_DETAIL_SEGMENTS &&
	    rec->tw->exit != TW_EXIT_RESET) {
		d->cnt.tw_unwritten++;
		return;
	}
	if (rec->type != SF_REC_FLOW) {
		r = *rec;
		if (r.flow)
			r.cgroup = cgroups__get(d->cgroups, r.flow->cgroup_id, r.at);
		outputs__emit(d->outputs, &r);
		return;
	}
	/* kept whole, whatever is written: a viewer may ask for it */
	recent__push(d->recent, rec);
	abnormal = rec->sum->abnormal;
	if (rec->flow->role != SF_ROLE_LISTENER) {
		if (d->agg)
			agg__flow(d->agg, rec->flow, rec->sum);
		agg_counts__flow(&d->total, rec->flow, rec->sum);
		if (d->total_keys)
			agg__flow(d->total_keys, rec->flow, rec->sum);
	}
	if (d->o.flows == OPTS_FLOWS_NONE || (!abnormal && d->o.flows == OPTS_FLOWS_ABNORMAL) ||
	    (!abnormal && d->normal_seen++ % d->o.sample)) {
		d->cnt.flows_unwritten++;
		return;
	}
	r = *rec;
	/* resolved here, for the records written only: a path costs a
	 * system call the first time its id is seen */
	r.cgroup = cgroups__get(d->cgroups, r.flow->cgroup_id, r.sum->end_ts);
	if (d->o.detail == OPTS_DETAIL_SUMMARY || (d->o.detail == OPTS_DETAIL_AUTO && !abnormal))
		r.detail = SF_DETAIL_SUMMARY;
	else
		r.detail = SF_DETAIL_SEGMENTS;
	outputs__emit(d->outputs, &r);
}

struct summary_ctx {
	struct daemon *d;
	uint64_t now;
};

static void on_summary(void *ctx, const struct agg_entry *e)
{
	struct summary_ctx *c = ctx;
	struct sf_record rec = { .type = SF_REC_SUMMARY, .at = c->now, .agg = e,
				 .since = c->d->last_summary };

	if (e->kind == AGG_CGROUP && !e->other)
		rec.cgroup = cgroups__get(c->d->cgroups, e->cgroup_id, c->now);

	c->d->cnt.summary_records++;
	outputs__emit(c->d->outputs, &rec);
}

void daemon__emit_summaries(struct daemon *d, uint64_t now)
{
	struct summary_ctx c = { d, now };

	if (!d->agg)
		return;
	agg__drain(d->agg, on_summary, &c);
	d->last_summary = now;
}

static void add_output(struct daemon *d, struct output *o)
{
	/* a full disk should not stop the observer; a reader that went
	 * away (a pipe, a terminal) leaves nobody to write for */
	if (d->o.on_output_error_set)
		o->on_error = d->o.on_output_error;
	else
		o->on_error = o->regular_file ? OUTPUT_ON_ERROR_DROP : OUTPUT_ON_ERROR_EXIT;
	outputs__add(d->outputs, o);
}

int daemon__init(struct daemon *d)
{
	struct flow_table_config cfg = {};
	struct output *o;
	int err;

	d->exit_rc = EXIT_OK;
	d->clk.mono_to_real_ns = mono_to_real();
	d->out_rl.interval_ns = OUTPUT_WARN_INTERVAL_NS;
	cfg.max_flows = d->o.max_flows;
	cfg.close_grace_ns = (uint64_t)d->o.grace_ms * 1000000ULL;
	for (int i = 0; i < SF_TCP_NSTATES; i++)
		cfg.stuck_ns[i] = (uint64_t)(d->o.stuck_s[i] * 1e9);
	cfg.stuck_rate = d->o.stuck_rate;
	cfg.max_time_wait = d->o.max_time_wait;
	cfg.max_half_open = d->o.max_half_open;
	d->filter_on = filter__active(&d->o.filter);
	if (d->o.filter.k.n_cgroups &&
	    !(d->filter_cg = filter_cgroups__new(d->o.filter.cgroup_path, d->o.filter.k.n_cgroups))) {
		pr_err("--cgroup: out of memory");
		return EXIT_RUNTIME;
	}
	/* the kernel's list is read only by a live daemon */
	cfg.time_wait_rounds = !d->o.replay && d->o.reconcile_s > 0;

	err = outputs__new(&d->outputs);
	if (!err)
		err = out_jsonl__open(&o, d->o.output, &d->clk);
	if (err) {
		pr_err("--output %s: %s", d->o.output, strerror(-err));
		return EXIT_RUNTIME;
	}
	add_output(d, o);
	d->pileups = pileup__new(d->o.pileup, on_pileup, d);
	cfg.pileups = d->pileups;
	if (d->o.summary_s > 0) {
		struct agg_config ac = { .top_n = d->o.summary_top };

		d->agg = agg__new(&ac);
		if (!d->agg) {
			pr_err("cannot allocate the summary tables");
			return EXIT_RUNTIME;
		}
	}
	/* only a live socket's clients can ask for them */
	if (d->o.recent && (d->o.socket_on || d->on_ready) && !d->o.replay) {
		d->recent = recent__new(d->o.recent);
		if (!d->recent) {
			pr_err("cannot allocate --recent %u flows", d->o.recent);
			return EXIT_RUNTIME;
		}
	}
	/* a recording's ids are another time's (or host's): not resolved */
	if (!d->o.replay) {
		err = cgroups__new(&d->cgroups);
		if (err)
			pr_warn("DEGRADED: records carry no cgroup path (cgroup2: %s)",
				err == -ENOENT ? "not mounted" : strerror(-err));
		else
			pr_debug("cgroup paths: %s of %s%s", cgroups__method(d->cgroups), cgroups__mount(d->cgroups),
				 strcmp(cgroups__method(d->cgroups), "file handles") ? " (no CAP_DAC_READ_SEARCH)" : "");
	}
	d->table = flow_table__new(&cfg, on_record, d);
	if (!d->pileups || !d->table) {
		pr_err("cannot allocate a flow table of %u flows", cfg.max_flows);
		return EXIT_RUNTIME;
	}
	return EXIT_OK;
}

void daemon__fini(struct daemon *d)
{
	if (d->rec && d->rec != stdin)
		fclose(d->rec);
	d->rec = NULL;
	outputs__free(d->outputs);
	flow_table__free(d->table);
	pileup__free(d->pileups);
	agg__free(d->agg);
	agg__free(d->total_keys);
	filter_cgroups__free(d->filter_cg);
	recent__free(d->recent);
	cgroups__free(d->cgroups);
	backlog__free(&d->backlog);
}

int daemon__run(struct daemon *d)
{
	sigset_t sigs;
	int rc;

	/* Signals are read from the event loop (a signalfd), or between
	 * events by --replay: blocked from here on, never lost. A closed
	 * pipe shows as EPIPE on write, not as a signal that kills us. */
	daemon__signals(&sigs);
	loop__block_signals(&sigs);
	signal(SIGPIPE, SIG_IGN);

	rc = daemon__init(d);
	if (!rc)
		rc = d->o.replay ? replay__run(d) : live__run(d);

	/* hooks first: nothing is captured once we stop reading */
	tc__close(d->tc);
	capture__close(d->cap);
	/* its clients are outputs watched by the loop: before both go */
	serve__close(d);
	loop__free(d->loop);
	daemon__fini(d);
	return rc;
}

static void half_open_of(void *ctx, const struct sf_flow *l)
{
	struct sf_listener_top *t = ctx;

	stats__listener_add(t, l->netns, l->sport, l->half_open);
}

void daemon__gather_stats(struct daemon *d, uint64_t now, struct sf_stats *st)
{
	*st = d->cnt;
	flow_table__stats(d->table, &st->table);
	/* bounded like the summaries' keys */
	st->half_open.limit = d->o.summary_top;
	flow_table__foreach_listener(d->table, half_open_of, &st->half_open);
	stats__listener_sort(&st->half_open);
	flow_table__tw_stats(d->table, &st->tw);
	if (d->cap) {
		capture__counters(d->cap, st->bpf);
		st->recursion_misses = capture__recursion_misses(d->cap, st->bpf[SF_CNT_NESTED_CAUGHT]);
	}
	outputs__counters(d->outputs, &st->out);
	sock_server__counters(d->sock, &st->sock);
	if (d->tc) {
		st->netns.followed = (uint32_t)tc__n_netns(d->tc);
		st->netns.skipped_ifaces = (uint32_t)tc__n_skipped(d->tc);
	}
	cgroups__counters(d->cgroups, &st->cgroup);
	st->uptime_s = (double)(now - d->start_mono) / 1e9;
}

void daemon__emit_stats(struct daemon *d, uint64_t now, double interval_s)
{
	struct sf_stats st;
	struct sf_record rec = { .type = SF_REC_STATS, .at = now, .stats = &st };

	/* what is queued is written first: the line counts count it */
	daemon__flush(d);
	daemon__gather_stats(d, now, &st);
	st.interval_s = interval_s;
	outputs__emit(d->outputs, &rec);
	d->last_stats = now;
}

static void on_output_failed(void *ctx, struct output *o)
{
	struct daemon *d = ctx;
	uint64_t held;

	if (d->exit_rc)
		return; /* already on the way out */
	if (o->err == -EPIPE || o->on_error == OUTPUT_ON_ERROR_EXIT) {
		pr_err("output %s: %s: stopping%s", o->name, strerror(-o->err),
		       o->err == -EPIPE ? " (its reader is gone)" : " (--on-output-error exit)");
		d->exit_rc = EXIT_RUNTIME;
		if (d->loop)
			loop__stop(d->loop, 0);
		return;
	}
	if (log__ratelimit(&d->out_rl, mono_now(), &held))
		pr_warn("output %s: %s; %llu lines lost so far, going on (--on-output-error drop)%s", o->name,
			strerror(-o->err), (unsigned long long)(o->cnt.write_errors + o->cnt.dropped),
			held ? " (more failures since the last message)" : "");
}

void daemon__flush(struct daemon *d)
{
	outputs__flush(d->outputs, on_output_failed, d);
}

void daemon__check_outputs(struct daemon *d)
{
	outputs__check(d->outputs, on_output_failed, d);
}

static void on_reopen_failed(void *ctx, struct output *o, int err)
{
	(void)ctx;
	pr_warn("output %s: cannot open it again (%s): still writing to the old file", o->name, strerror(-err));
}

void daemon__reopen(struct daemon *d)
{
	outputs__reopen(d->outputs, on_reopen_failed, d);
	daemon__check_outputs(d);
}

void daemon__signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGQUIT);
	sigaddset(set, SIGHUP);
	sigaddset(set, SIGUSR1);
}

bool daemon__signal(struct daemon *d, int signo)
{
	uint64_t now;

	switch (signo) {
	case SIGHUP:
		/* log rotation: what was written stays in the old file */
		daemon__reopen(d);
		return false;
	case SIGUSR1:
		now = mono_now();
		flow_table__advance(d->table, now);
		daemon__emit_stats(d, now, (double)(now - d->last_stats) / 1e9);
		daemon__flush(d);
		return false;
	default:
		return true;
	}
}
