// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The live daemon: the BPF programs and the tc hooks first, then the
 * kernel's socket list (the snapshot; events read meanwhile go in first,
 * the list adds what they did not report), then the event loop:
 *
 *   rings (BPF woke us: 1/16 of a ring full)  -> drain -> flow table
 *   timer 100 ms                              -> drain (events are
 *                                                submitted without wake-up),
 *                                                then a loss record if
 *                                                events were lost (loss.c)
 *   tc rtnetlink                              -> hook new interfaces
 *   timer --stats-interval                    -> stats record
 *   timer --reconcile-interval                -> the kernel's list again
 *   signalfd                                  -> stop / reopen / stats now
 *   the live socket (serve.c, out_socket.c)   -> a client: an output
 *   an output pipe's reader went away         -> exit 1
 *   timers, under systemd                     -> WATCHDOG=1, STATUS=
 *   end of each turn                          -> write what the turn made
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <bpf/libbpf.h>
#include "capture.h"
#include "daemon.h"
#include "loop.h"
#include "metrics.h"
#include "netns.h"
#include "notify.h"
#include "tc.h"

/* Without a wake-up, the rings are drained this often: the latency of a
 * record on a quiet host, and the grace periods' tick. */
#define DRAIN_INTERVAL_NS (100ULL * 1000000ULL)
/* systemd: the line `systemctl status` shows, every few seconds */
#define NOTIFY_STATUS_NS (5 * 1000000000ULL)
/* Namespaces that came or went are looked for this often (a walk of
 * /proc: ~1 ms per 500 processes), and sooner, at the next 250 ms tick,
 * after a state event from a namespace not hooked yet: its connection's
 * first segments are missed (counted), the next ones are seen. */
#define NETNS_SCAN_NS (1000ULL * 1000000ULL)
#define NETNS_TICK_NS (250ULL * 1000000ULL)

static void on_event(void *ctx, const void *data, size_t size)
{
	struct daemon *d = ctx;

	if (size != sizeof(struct synfin_event)) {
		d->cnt.rb_bad_size++;
		return;
	}
	/* with --netns-named, a namespace not followed is mostly one left
	 * out on purpose: neither counted nor a reason to scan */
	if (d->netns_follow && !d->o.netns_named) {
		const struct synfin_event *e = data;

		if (e->kind == SF_EV_STATE && !tc__has_netns(d->tc, e->netns)) {
			if (e->newstate == SF_TCP_SYN_SENT || e->newstate == SF_TCP_SYN_RECV ||
			    (e->flags & SF_F_BIRTH_FOLDED))
				d->cnt.netns.unhooked++;
			d->netns_rescan = true;
		}
	}
	if (d->backlog.holding)
		backlog__push(&d->backlog, data);
	else
		daemon__ingest(d, data);
}

/* Everything the rings hold, in time order, then the flows whose grace
 * period is over. A full budget: more is waiting, go again at once. */
static int drain(struct daemon *d)
{
	int n = capture__poll(d->cap, 0);

	if (n < 0) {
		pr_err("ring buffer: %s", strerror(-n));
		return n;
	}
	flow_table__advance(d->table, mono_now());
	return n == CAPTURE_POLL_BUDGET ? LOOP_AGAIN : 0;
}

static int on_rings(struct loop *l, int fd, uint32_t events, void *ctx)
{
	(void)l, (void)fd, (void)events;
	return drain(ctx);
}

static int on_drain_tick(struct loop *l, uint64_t n, void *ctx)
{
	int rc = drain(ctx);

	(void)l, (void)n;
	/* once the rings are caught up, every flow whose events could be
	 * in the lost part is in the table: the loss record names them */
	if (!rc)
		loss__check(ctx, mono_now(), false);
	return rc;
}

static int on_links(struct loop *l, int fd, uint32_t events, void *ctx)
{
	struct daemon *d = ctx;
	int n = tc__handle_netlink(d->tc);

	(void)l, (void)fd, (void)events;
	if (n < 0)
		pr_debug("segments: a new interface could not be hooked: %s", strerror(-n));
	else if (n > 0)
		pr_debug("segments: %s", tc__describe(d->tc));
	return 0;
}

/* Hooks on namespaces that appeared, none left on those that went. */
static int netns_scan(struct daemon *d, uint64_t now)
{
	struct netns_ent *ns = NULL;
	struct tc_sync res;
	int n, err;

	n = reconcile__watched_netns(&d->o, &ns);
	if (n < 0)
		return n;
	err = tc__sync_netns(d->tc, ns, n, &res);
	free(ns);
	d->cnt.netns.added += res.added;
	d->cnt.netns.removed += res.removed;
	d->cnt.netns.failed += res.failed;
	d->cnt.netns.scans++;
	d->netns_scan_at = now;
	d->netns_rescan = false;
	if (res.failed)
		pr_debug("segments: %d namespace(s) not (fully) hooked: %s", res.failed, strerror(-res.first_err));
	if (res.added || res.removed)
		pr_debug("segments: namespaces +%d -%d, %d followed", res.added, res.removed, tc__n_netns(d->tc));
	return err;
}

static int on_netns_tick(struct loop *l, uint64_t n, void *ctx)
{
	struct daemon *d = ctx;
	uint64_t now = mono_now();
	int err;

	(void)l, (void)n;
	if (!d->netns_rescan && now - d->netns_scan_at < NETNS_SCAN_NS)
		return 0;
	err = netns_scan(d, now);
	if (err)
		pr_warn("segments: namespaces not followed: %s", strerror(-err));
	return 0;
}

static int on_stats_tick(struct loop *l, uint64_t n, void *ctx)
{
	struct daemon *d = ctx;
	uint64_t now = mono_now();

	(void)l, (void)n;
	/* flows whose wait is over go out before the counters are read */
	flow_table__advance(d->table, now);
	daemon__emit_stats(d, now, (double)(now - d->last_stats) / 1e9);
	return 0;
}

static int on_summary_tick(struct loop *l, uint64_t n, void *ctx)
{
	struct daemon *d = ctx;
	uint64_t now = mono_now();

	(void)l, (void)n;
	flow_table__advance(d->table, now);
	daemon__emit_summaries(d, now);
	return 0;
}

/* A scrape: the counters as they are now, on the loop's thread. */
static void metrics_gather(void *ctx, struct sf_stats *st, const struct agg_counts **tot, struct agg **keys)
{
	struct daemon *d = ctx;

	daemon__gather_stats(d, mono_now(), st);
	*tot = &d->total;
	*keys = d->total_keys;
}

static int on_metrics(struct loop *l, int fd, uint32_t events, void *ctx)
{
	(void)l, (void)fd, (void)events;
	metrics__run(ctx);
	return 0;
}

/* connections that went idle time out */
static int on_metrics_tick(struct loop *l, uint64_t n, void *ctx)
{
	(void)l, (void)n;
	metrics__run(ctx);
	return 0;
}

static int on_reconcile_tick(struct loop *l, uint64_t n, void *ctx)
{
	struct daemon *d = ctx;
	uint64_t now = mono_now();

	(void)l, (void)n;
	flow_table__advance(d->table, now);
	reconcile__round(d, false, now);
	return 0;
}

static int on_signal(struct loop *l, int signo, void *ctx)
{
	/* systemctl reload: the service manager waits for READY=1 again */
	if (signo == SIGHUP)
		notify__reloading();
	if (daemon__signal(ctx, signo))
		loop__stop(l, 0);
	if (signo == SIGHUP)
		notify__ready();
	return 0;
}

/* The loop turns: the service manager's watchdog is fed from it. */
static int on_watchdog_tick(struct loop *l, uint64_t n, void *ctx)
{
	(void)l, (void)n, (void)ctx;
	notify__watchdog_ping();
	return 0;
}

static int on_status_tick(struct loop *l, uint64_t n, void *ctx)
{
	struct daemon *d = ctx;
	uint64_t now = mono_now();
	struct sf_stats st;

	(void)l, (void)n;
	daemon__gather_stats(d, now, &st);
	notify__status("%u flows open, %.0f events/s, %llu lost", st.table.open,
		       now > d->status_at ? (double)(st.table.events - d->status_events) * 1e9 /
						    (double)(now - d->status_at) :
					    0.0,
		       (unsigned long long)(st.bpf[SF_CNT_RB_FULL] + st.recursion_misses));
	d->status_events = st.table.events;
	d->status_at = now;
	return 0;
}

/* A pipe's reader closed its end: nothing more can be written there. */
static int on_output_gone(struct loop *l, int fd, uint32_t events, void *ctx)
{
	struct output *o = ctx;

	(void)l, (void)fd;
	if (events & (EPOLLERR | EPOLLHUP)) {
		o->err = -EPIPE;
		o->failed = true;
	}
	return 0;
}

static void on_turn_end(struct loop *l, void *ctx)
{
	(void)l;
	daemon__flush(ctx);
}

/* tc hooks on the interfaces of the watched namespaces (by default our
 * own: containers' traffic crosses their host-side veths), sharing the
 * state programs' ring buffer and counters. */
static int open_segments(struct daemon *d)
{
	struct tc_opts to = {
		.events_fd = capture__events_fd(d->cap),
		.nrings = capture__nrings(d->cap),
		.counters_fd = capture__counters_fd(d->cap),
		.wakeup_bytes = capture__wakeup_bytes(d->cap),
		.lo_egress_only = true,
		.filter = &d->o.filter.k,
	};
	struct netns_ent *ns = NULL;
	int err, n;

	capture__filter_fds(d->cap, &to.filter_cidrs_fd, &to.filter_cg_listeners_fd, &to.filter_cg_connects_fd);
	to.ifnames = d->o.ifnames;
	to.n_ifnames = d->o.n_ifnames;
	err = tc__open(&d->tc, &to);
	if (err)
		return err;
	/* --interface alone: those interfaces of our namespace */
	if (!d->o.n_netns && d->o.n_ifnames)
		return tc__attach_netns(d->tc, NULL) < 0 ? -EIO : 0;
	if (!d->o.n_netns) {
		struct rlimit rl;

		/* 3 fds per namespace followed (it, two rtnetlink sockets):
		 * the usual soft limit of 1024 ends at ~330 containers */
		if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < rl.rlim_max) {
			rl.rlim_cur = rl.rlim_max;
			setrlimit(RLIMIT_NOFILE, &rl);
		}
		d->netns_follow = true;
		return netns_scan(d, mono_now());
	}
	n = reconcile__watched_netns(&d->o, &ns);
	for (int i = 0; i < n; i++) {
		err = tc__attach_netns(d->tc, ns[i].path);
		if (err < 0)
			break;
	}
	free(ns);
	return err < 0 ? err : 0;
}

/* libbpf's own messages only with SYNFIN_DEBUG=1: the failures that
 * matter get one clear line of ours. */
static int libbpf_log(enum libbpf_print_level level, const char *fmt, va_list args)
{
	if (level == LIBBPF_DEBUG || !getenv("SYNFIN_DEBUG"))
		return 0;
	log__vprintf(SF_LOG_WARN, fmt, args);
	return 0;
}

/* Every --netns given as an inode names a namespace there is: an inode
 * is only ever reused, never announced. An exit status. */
static int check_netns(struct daemon *d)
{
	struct netns_ent *ns = NULL;
	int n = reconcile__watched_netns(&d->o, &ns);

	if (n < 0 || n == d->o.n_netns) {
		free(ns);
		return EXIT_OK; /* unreadable: the snapshot says so */
	}
	for (int i = 0; i < d->o.n_netns; i++) {
		bool found = false;

		for (int j = 0; j < n; j++)
			found |= ns[j].inum == d->o.netns[i];
		if (!found)
			pr_err("--netns %u: no network namespace has this inode (ls -Li /var/run/netns/NAME, stat -L /proc/PID/ns/net)",
			       d->o.netns[i]);
	}
	free(ns);
	return EXIT_USAGE;
}

/* Capture: state programs, then the segment hooks. An exit status. */
static int attach(struct daemon *d)
{
	struct capture_opts co = {
		.n_netns = d->o.n_netns,
		.max_sockets = d->o.max_flows,
		.ring_bytes = d->o.ring_mb << 20,
		.accept_owner = d->o.accept_owner,
		.filter = &d->o.filter,
	};
	char msg[512] = "";
	int err;

	memcpy(co.netns, d->o.netns, sizeof(co.netns));
	libbpf_set_print(libbpf_log);
	err = capture__open(&d->cap, &co, on_event, d, msg, sizeof(msg));
	if (err) {
		pr_err("%s", msg);
		return err == -EPERM ? EXIT_PRIVILEGE : EXIT_KERNEL;
	}
	if (d->o.segments) {
		err = open_segments(d);
		flow_table__set_loopback_mirror(d->table, !err);
		if (err)
			pr_warn("DEGRADED: segment capture unavailable (%s): lifecycles from state changes only",
				strerror(-err));
		else
			pr_debug("segments: %s", tc__describe(d->tc));
		/* a container's veth may come later: a warning, not an error */
		for (int i = 0; !err && i < d->o.n_ifnames; i++)
			if (!tc__hooked(d->tc, d->o.ifnames[i]))
				pr_warn("--interface %s: no such interface (up, Ethernet or loopback) in the namespaces followed: hooked if it appears",
					d->o.ifnames[i]);
	}
	if (strstr(capture__describe(d->cap), "DEGRADED"))
		pr_warn("%s", capture__describe(d->cap));
	else
		pr_debug("%s", capture__describe(d->cap));
	return EXIT_OK;
}

/* What the loop waits on. 0 or -errno. */
static int sources(struct daemon *d)
{
	uint64_t stats_ns = (uint64_t)(d->o.stats_interval * 1e9);
	uint64_t reconcile_ns = (uint64_t)(d->o.reconcile_s * 1e9);
	uint64_t summary_ns = (uint64_t)(d->o.summary_s * 1e9);
	uint64_t watchdog_ns = notify__watchdog_usec() * 1000 / 2;
	struct loop *l = d->loop;
	sigset_t sigs;
	int err;

	daemon__signals(&sigs);
	err = loop__add_signals(l, &sigs, on_signal, d, NULL);
	if (!err)
		err = loop__add_fd(l, capture__fd(d->cap), EPOLLIN, on_rings, d, NULL);
	if (!err)
		err = loop__add_timer(l, DRAIN_INTERVAL_NS, DRAIN_INTERVAL_NS, on_drain_tick, d, NULL);
	if (!err && d->tc)
		err = loop__add_fd(l, tc__netlink_fd(d->tc), EPOLLIN, on_links, d, NULL);
	if (!err && d->tc && d->netns_follow)
		err = loop__add_timer(l, NETNS_TICK_NS, NETNS_TICK_NS, on_netns_tick, d, NULL);
	if (!err && stats_ns)
		err = loop__add_timer(l, stats_ns, stats_ns, on_stats_tick, d, NULL);
	if (!err && reconcile_ns)
		err = loop__add_timer(l, reconcile_ns, reconcile_ns, on_reconcile_tick, d, NULL);
	if (!err && summary_ns)
		err = loop__add_timer(l, summary_ns, summary_ns, on_summary_tick, d, NULL);
	/* twice per watchdog interval, the first at once */
	if (!err && watchdog_ns)
		err = loop__add_timer(l, 1, watchdog_ns, on_watchdog_tick, d, NULL);
	if (!err && notify__enabled())
		err = loop__add_timer(l, 1, NOTIFY_STATUS_NS, on_status_tick, d, NULL);
	if (!err && d->metrics)
		err = loop__add_fd(l, metrics__fd(d->metrics), EPOLLIN, on_metrics, d->metrics, NULL);
	if (!err && d->metrics)
		err = loop__add_timer(l, 1000000000ULL, 1000000000ULL, on_metrics_tick, d->metrics, NULL);
	for (struct output *o = outputs__first(d->outputs); o && !err; o = o->next)
		if (o->watch_fd >= 0)
			err = loop__add_fd(l, o->watch_fd, 0, on_output_gone, o, NULL);
	loop__on_turn_end(l, on_turn_end, d);
	return err;
}

/* Like auditd's priority_boost. The rings absorb a burst only while
 * their consumer gets the CPU, and the CPUs are busy with the very
 * connections it observes: bench's client shape (2 vCPUs, 25-30k
 * connections/s) outran the default rings in 2 of 4 runs at nice 0, in 1
 * of 10 at nice -5, side by side (2026-12-01). A nice the user set (not
 * 0) is kept. Best effort: without CAP_SYS_NICE synfin runs as started. */
static void priority_boost(const struct daemon *d)
{
	int cur;

	errno = 0;
	cur = getpriority(PRIO_PROCESS, 0);
	if (!d->o.priority_boost || errno || cur != 0)
		return;
	if (setpriority(PRIO_PROCESS, 0, -(int)d->o.priority_boost))
		pr_debug("--priority-boost: %s (CAP_SYS_NICE): running at nice 0", strerror(errno));
}

int live__run(struct daemon *d)
{
	char msg[512] = "";
	uint64_t now;
	int err, rc;

	if (capture__check_privileges(msg, sizeof(msg))) {
		pr_err("%s", msg);
		return EXIT_PRIVILEGE;
	}
	priority_boost(d);
	err = loop__new(&d->loop);
	if (err) {
		pr_err("event loop: %s", strerror(-err));
		return EXIT_RUNTIME;
	}
	if (d->o.record) {
		err = recorder__open(&d->rec, d->o.record, d->clk.mono_to_real_ns,
				     d->o.segments ? SF_REC_F_LO_EGRESS_ONLY : 0);
		if (err) {
			pr_err("--record %s: %s", d->o.record, strerror(-err));
			return EXIT_RUNTIME;
		}
	}
	/* Hooked first, then the kernel's list: a socket born in between
	 * is in both, and the events read while the list is taken go in
	 * first (reconcile.c), so it is one flow; a socket born before the
	 * hooks and listed after would otherwise be in neither. The dump
	 * assigns cookies, by which later events of a listed socket join
	 * its flow. */
	rc = d->o.n_netns ? check_netns(d) : EXIT_OK;
	if (!rc)
		rc = attach(d);
	if (rc)
		return rc;
	if (d->o.snapshot)
		reconcile__round(d, true, mono_now());
	if (d->cnt.snapshot_errors)
		pr_info("%llu namespaces could not be read at start-up",
			(unsigned long long)d->cnt.snapshot_errors);
	if (d->o.metrics) {
		struct agg_config ac = { .top_n = d->o.summary_top };

		if (d->o.metrics_labels && !(d->total_keys = agg__new(&ac))) {
			pr_err("--metrics-labels: out of memory");
			return EXIT_RUNTIME;
		}
		err = metrics__start(&d->metrics, &d->o.metrics_ss, metrics_gather, d);
		if (err) {
			pr_err("--metrics %s: cannot listen: %s", d->o.metrics, strerror(-err));
			return EXIT_RUNTIME;
		}
		pr_info("metrics at http://%s/metrics", d->o.metrics);
	}
	err = sources(d);
	if (err) {
		pr_err("event loop: %s", strerror(-err));
		return EXIT_RUNTIME;
	}
	rc = serve__open(d);
	if (rc)
		return rc;
	/* Ready: hooked and snapshot taken (tests/lib.sh waits for this
	 * line; a service manager for READY=1). */
	pr_info("capturing; Ctrl-C to stop");
	notify__ready();
	d->start_mono = d->last_stats = d->status_at = d->last_summary = mono_now();
	if (d->on_ready) {
		rc = d->on_ready(d, d->on_ready_ctx);
		if (rc)
			return rc;
	}

	err = loop__run(d->loop);

	/* Stopping: drain what is left, then report everything that closed. */
	notify__stopping();
	metrics__stop(d->metrics);
	d->metrics = NULL;
	capture__poll(d->cap, 0);
	/* One last look at the kernel's list: a flow whose end never reached
	 * us (its events lost with no counter to say so: seen on this
	 * kernel for an orphan's FIN_WAIT_2 and hand-over in one softirq) is
	 * closed out as vanished, said partial, not left untold; as every
	 * round does, --reconcile-interval apart */
	if (d->o.snapshot && d->o.reconcile_s > 0) {
		reconcile__round(d, false, mono_now());
		/* settled once the events read meanwhile are in */
		capture__poll(d->cap, 0);
		flow_table__advance(d->table, mono_now());
	}
	loss__check(d, mono_now(), true);
	flow_table__flush(d->table);
	now = mono_now();
	/* what finished since the last summaries: a shorter interval */
	daemon__emit_summaries(d, now);
	daemon__emit_stats(d, now, (double)(now - d->last_stats) / 1e9);
	daemon__flush(d);
	if (d->rec_errors)
		pr_warn("--record: %llu events could not be written", (unsigned long long)d->rec_errors);
	if (err < 0)
		return EXIT_RUNTIME;
	return d->exit_rc;
}
