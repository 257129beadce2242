// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * synfin: the daemon. Capture (or replay) -> flow table -> outputs.
 * Only this file logs; everything below it returns 0 or -errno.
 */
#include <argp.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "capture.h"
#include "flow.h"
#include "netns.h"
#include "notify.h"
#include "procowner.h"
#include "sockdiag.h"
#include "tc.h"
#include "output.h"
#include "recorder.h"
#include "show.h"

#ifndef SYNFIN_VERSION
#define SYNFIN_VERSION "0.1.0"
#endif

/* exit codes (documented in README) */
enum {
	EXIT_OK = 0,
	EXIT_RUNTIME = 1,	/* I/O error, bad replay file, ... */
	EXIT_USAGE = 2,		/* bad flags */
	EXIT_PRIVILEGE = 3,	/* missing capability */
	EXIT_KERNEL = 4,	/* missing kernel feature */
};

struct opts {
	const char *output;
	const char *record;
	const char *replay;
	double stats_interval;
	uint32_t netns[CAPTURE_MAX_NETNS];
	char *netns_path[CAPTURE_MAX_NETNS]; /* NULL where given as an inode */
	int n_netns;
	uint32_t max_flows;
	uint32_t ring_mb;
	uint32_t grace_ms;
	uint32_t max_time_wait;
	uint32_t max_half_open;
	double stuck_s[SF_TCP_NSTATES];	/* per-state thresholds, 0 = off */
	uint32_t stuck_rate;
	uint32_t pileup[PILEUP_KINDS];
	double reconcile_s;
	bool snapshot;
	bool segments;
	bool segments_all_netns;
	const char *ifnames[32];
	int n_ifnames;
	bool accept_owner;
	bool verbose;
};

struct daemon {
	struct opts o;
	struct flow_table *table;
	struct pileup *pileups;
	struct sf_output *outputs;
	struct capture *cap;
	struct tc *tc;
	FILE *rec;
	struct sf_clock clk;
	struct sf_counters cnt;
	uint64_t start_mono;
	uint64_t rec_errors;
	/* While the kernel's socket list is read (100k sockets take a
	 * while), the rings are still drained, into this backlog: the
	 * events go into the table once the round is over, as if read then. */
	bool holding;
	uint8_t *backlog;
	size_t backlog_len, backlog_cap;
};

#define BACKLOG_MAX (64u << 20)

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

const char *argp_program_version = "synfin " SYNFIN_VERSION;
const char *argp_program_bug_address = "the synfin issue tracker";

static const char doc[] =
	"synfin: TCP connection lifecycle observer (eBPF).\n"
	"\n"
	"Reconstructs, per connection and on both ends, the three-way handshake and the "
	"teardown from kernel TCP state changes and control segments, reports connections "
	"stuck in a state, and writes one JSON object per line: every connection whose "
	"lifecycle ends, listeners, stuck/resolved connections, pile-ups, TIME_WAIT exits "
	"and periodic stats. Commands: daemon (default).\n"
	"\v"
	"EXAMPLES:\n"
	"    sudo synfin                              # JSON Lines on stdout\n"
	"    sudo synfin -o /var/log/synfin.jsonl -i 60\n"
	"    sudo synfin --netns /var/run/netns/blue  # one namespace only\n"
	"    sudo synfin --record /tmp/tcp.rec        # also keep the raw events\n"
	"    synfin --replay /tmp/tcp.rec             # no root needed\n"
	"    sudo synfin | jq 'select(.type==\"flow\" and .close==\"refused\")'\n"
	"\n"
	"Exit status: 0 ok, 1 runtime error, 2 usage, 3 missing privilege, 4 missing kernel feature.";

enum {
	OPT_RECORD = 1000,
	OPT_REPLAY,
	OPT_MAX_FLOWS,
	OPT_RING_MB,
	OPT_NO_ACCEPT,
	OPT_GRACE,
	OPT_STUCK,
	OPT_STUCK_RATE,
	OPT_PILEUP_TW,
	OPT_PILEUP_CW,
	OPT_RECONCILE,
	OPT_NO_SNAPSHOT,
	OPT_CONFIG,
	OPT_NO_SEGMENTS,
	OPT_MAX_TW,
	OPT_INTERFACE,
	OPT_ALL_NETNS,
	OPT_MAX_HALF_OPEN,
};

/* states whose dwell is watched, by their --stuck name */
static const struct {
	const char *name;
	int state;
	double def_s;
} stuck_states[] = {
	{ "syn_sent", SF_TCP_SYN_SENT, 10 },
	{ "syn_received", SF_TCP_SYN_RECV, 10 },
	{ "fin_wait_1", SF_TCP_FIN_WAIT1, 60 },
	{ "fin_wait_2", SF_TCP_FIN_WAIT2, 120 },
	{ "close_wait", SF_TCP_CLOSE_WAIT, 60 },
	{ "closing", SF_TCP_CLOSING, 60 },
	{ "last_ack", SF_TCP_LAST_ACK, 60 },
};

static const struct argp_option options[] = {
	{ "output", 'o', "PATH", 0, "Write JSON Lines to PATH (appends; - = stdout, the default)", 1 },
	{ "stats-interval", 'i', "SEC", 0, "Emit a stats line every SEC seconds (default 10, 0 = only at exit)", 1 },
	{ "netns", 'n', "NS", 0,
	  "Only this network namespace: an inode number or a path such as /var/run/netns/NAME or /proc/PID/ns/net (repeatable)", 1 },
	{ "record", OPT_RECORD, "PATH", 0, "Also write the raw event stream to PATH (for --replay)", 1 },
	{ "replay", OPT_REPLAY, "PATH", 0, "Read events from a --record file instead of the kernel (no root needed)", 1 },
	{ "max-flows", OPT_MAX_FLOWS, "N", 0, "Flows tracked at once, in the daemon and in BPF (default 262144)", 1 },
	{ "ring-mb", OPT_RING_MB, "MIB", 0, "BPF ring buffers, all CPUs together, in MiB: a power of two (default 8), split evenly (256 KiB each at least)", 1 },
	{ "no-segments", OPT_NO_SEGMENTS, NULL, 0,
	  "Do not capture control segments (tc clsact hooks on every interface that is up in the watched namespaces)", 1 },
	{ "interface", OPT_INTERFACE, "IFNAME", 0,
	  "Capture segments on this interface only (repeatable; default: every interface that is up, lo included)", 1 },
	{ "segments-all-netns", OPT_ALL_NETNS, NULL, 0,
	  "Also attach the segment hooks to the interfaces of every other namespace (by default: the watched namespaces, or ours; containers' traffic crosses their host-side veths)", 1 },
	{ "max-half-open", OPT_MAX_HALF_OPEN, "N", 0,
	  "Half-open connections tracked per listener from their SYN (a SYN flood beyond it is counted, not tracked; default 1024)", 1 },
	{ "max-time-wait", OPT_MAX_TW, "N", 0,
	  "Time-wait sockets followed to their exit, for 'time_wait' records (default 65536, 0 = none)", 1 },
	{ "no-accept-owner", OPT_NO_ACCEPT, NULL, 0,
	  "Do not hook accept(): attribute accepted sockets to the listener's owner (saves the syscall tracepoint cost)", 1 },
	{ "close-grace-ms", OPT_GRACE, "MS", OPTION_HIDDEN, "Keep closed flows this long for late events (default 50)", 1 },
	{ "no-snapshot", OPT_NO_SNAPSHOT, NULL, 0, "Do not read the sockets that exist at start-up", 1 },
	{ "config", OPT_CONFIG, "PATH", 0, "Read options from PATH: one 'option value' per line (long names without --), # comments", 1 },
	{ NULL, 0, NULL, 0, "Stuck connections:", 2 },
	{ "stuck", OPT_STUCK, "STATE=SEC", 0,
	  "Report a connection in STATE for SEC seconds (0 = never). STATE: syn_sent (default 10), syn_received (10), fin_wait_1 (60), fin_wait_2 (120), close_wait (60), closing (60), last_ack (60). Repeatable", 2 },
	{ "stuck-rate", OPT_STUCK_RATE, "N", 0, "At most N stuck records per second; the rest are counted in stats (default 100, 0 = no limit)", 2 },
	{ "pileup-time-wait", OPT_PILEUP_TW, "N", 0, "Report N TIME_WAIT sockets towards one remote endpoint (default 10000, 0 = off)", 2 },
	{ "pileup-close-wait", OPT_PILEUP_CW, "N", 0, "Report N CLOSE_WAIT sockets owned by one process (default 100, 0 = off)", 2 },
	{ "reconcile-interval", OPT_RECONCILE, "SEC", 0,
	  "Compare with the kernel's socket list (sock_diag) every SEC seconds: TIME_WAIT counts, half-open requests, missed events (default 10, 0 = off)", 2 },
	{ "verbose", 'v', NULL, 0, "Say what is attached on stderr", 1 },
	{},
};

static int parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max || s[0] == '-')
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

static int parse_netns(const char *arg, uint32_t *inum)
{
	struct stat st;

	if (parse_u32(arg, 1, UINT32_MAX, inum) == 0)
		return 0;
	if (stat(arg, &st))
		return -errno;
	*inum = (uint32_t)st.st_ino;
	return 0;
}

static int parse_config(const char *path, struct argp_state *state);

static int parse_stuck(const char *arg, struct opts *o)
{
	const char *eq = strchr(arg, '=');
	char *end;
	double v;

	if (!eq)
		return -EINVAL;
	errno = 0;
	v = strtod(eq + 1, &end);
	if (errno || end == eq + 1 || *end || v < 0 || v > 30 * 86400)
		return -EINVAL;
	for (size_t i = 0; i < sizeof(stuck_states) / sizeof(stuck_states[0]); i++) {
		if (strlen(stuck_states[i].name) == (size_t)(eq - arg) &&
		    !strncmp(arg, stuck_states[i].name, eq - arg)) {
			o->stuck_s[stuck_states[i].state] = v;
			return 0;
		}
	}
	return -ENOENT;
}

static error_t parse_opt(int key, char *arg, struct argp_state *state)
{
	struct opts *o = state->input;
	uint32_t v;
	char *end;
	int err;

	switch (key) {
	case 'o':
		o->output = arg;
		break;
	case 'i':
		errno = 0;
		o->stats_interval = strtod(arg, &end);
		if (errno || end == arg || *end || o->stats_interval < 0 || o->stats_interval > 86400)
			argp_error(state, "--stats-interval: '%s' is not a number of seconds in 0..86400", arg);
		break;
	case 'n':
		if (o->n_netns >= CAPTURE_MAX_NETNS)
			argp_error(state, "--netns: at most %d namespaces", CAPTURE_MAX_NETNS);
		err = parse_netns(arg, &o->netns[o->n_netns]);
		if (err)
			argp_error(state, "--netns: '%s' is neither an inode number nor a namespace path (%s)", arg,
				   strerror(-err));
		if (!strchr(arg, '/'))
			o->netns_path[o->n_netns] = NULL;
		else
			o->netns_path[o->n_netns] = arg;
		o->n_netns++;
		break;
	case OPT_RECORD:
		o->record = arg;
		break;
	case OPT_REPLAY:
		o->replay = arg;
		break;
	case OPT_MAX_FLOWS:
		if (parse_u32(arg, 16, 1u << 24, &o->max_flows))
			argp_error(state, "--max-flows: '%s' is not a number in 16..16777216", arg);
		break;
	case OPT_RING_MB:
		if (parse_u32(arg, 1, 1024, &v) || (v & (v - 1)))
			argp_error(state, "--ring-mb: '%s' is not a power of two in 1..1024", arg);
		o->ring_mb = v;
		break;
	case OPT_NO_ACCEPT:
		o->accept_owner = false;
		break;
	case OPT_GRACE:
		if (parse_u32(arg, 0, 60000, &o->grace_ms))
			argp_error(state, "--close-grace-ms: '%s' is not a number in 0..60000", arg);
		break;
	case 'v':
		o->verbose = true;
		break;
	case OPT_STUCK:
		if (parse_stuck(arg, o))
			argp_error(state, "--stuck: '%s' is not STATE=SECONDS with a known state", arg);
		break;
	case OPT_STUCK_RATE:
		if (parse_u32(arg, 0, 1000000, &o->stuck_rate))
			argp_error(state, "--stuck-rate: '%s' is not a number in 0..1000000", arg);
		break;
	case OPT_PILEUP_TW:
		if (parse_u32(arg, 0, 100000000, &o->pileup[PILEUP_TIME_WAIT_REMOTE]))
			argp_error(state, "--pileup-time-wait: '%s' is not a count", arg);
		break;
	case OPT_PILEUP_CW:
		if (parse_u32(arg, 0, 100000000, &o->pileup[PILEUP_CLOSE_WAIT_PROCESS]))
			argp_error(state, "--pileup-close-wait: '%s' is not a count", arg);
		break;
	case OPT_RECONCILE:
		errno = 0;
		o->reconcile_s = strtod(arg, &end);
		if (errno || end == arg || *end || o->reconcile_s < 0 || o->reconcile_s > 86400)
			argp_error(state, "--reconcile-interval: '%s' is not a number of seconds in 0..86400", arg);
		break;
	case OPT_NO_SNAPSHOT:
		o->snapshot = false;
		break;
	case OPT_MAX_HALF_OPEN:
		if (parse_u32(arg, 1, 1u << 24, &o->max_half_open))
			argp_error(state, "--max-half-open: '%s' is not a number in 1..16777216", arg);
		break;
	case OPT_INTERFACE:
		if (o->n_ifnames >= 32 || strlen(arg) >= 16 || !*arg)
			argp_error(state, "--interface: '%s': at most 32 names of at most 15 characters", arg);
		o->ifnames[o->n_ifnames++] = arg;
		break;
	case OPT_ALL_NETNS:
		o->segments_all_netns = true;
		break;
	case OPT_MAX_TW:
		if (parse_u32(arg, 0, 1u << 24, &o->max_time_wait))
			argp_error(state, "--max-time-wait: '%s' is not a number in 0..16777216", arg);
		break;
	case OPT_NO_SEGMENTS:
		o->segments = false;
		break;
	case OPT_CONFIG:
		if (parse_config(arg, state))
			return EINVAL;
		break;
	case ARGP_KEY_ARG:
		if (state->arg_num == 0 && strcmp(arg, "daemon") == 0)
			break;
		if (state->arg_num == 0 && strcmp(arg, "top") == 0)
			argp_error(state, "'top' (the live view) is not in this version yet");
		argp_error(state, "unknown command '%s'", arg);
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

static const struct argp_option *find_option(const char *name)
{
	for (const struct argp_option *op = options; op->name || op->key || op->doc; op++)
		if (op->name && !strcmp(op->name, name))
			return op;
	return NULL;
}

/* A config file holds the same options as the command line; the command
 * line wins where it comes later. */
static int parse_config(const char *path, struct argp_state *state)
{
	char line[512];
	unsigned int n = 0;
	FILE *f = fopen(path, "re");

	if (!f)
		argp_error(state, "--config %s: %s", path, strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		char *p = line, *name, *val;
		const struct argp_option *op;

		n++;
		line[strcspn(line, "\r\n#")] = 0;
		while (*p == ' ' || *p == '\t')
			p++;
		if (!*p)
			continue;
		name = p;
		p += strcspn(p, " \t=");
		if (*p)
			*p++ = 0;
		p += strspn(p, " \t=");
		val = p;
		for (p = val + strlen(val); p > val && (p[-1] == ' ' || p[-1] == '\t'); p--)
			p[-1] = 0;
		op = find_option(name);
		if (!op || op->key == OPT_CONFIG || op->key == OPT_REPLAY || op->key == OPT_RECORD) {
			fclose(f);
			argp_error(state, "%s:%u: unknown option '%s'", path, n, name);
		}
		if ((op->arg && !*val) || (!op->arg && *val)) {
			fclose(f);
			argp_error(state, "%s:%u: option '%s' %s", path, n, name,
				   op->arg ? "needs a value" : "takes no value");
		}
		/* options keep pointers to their values: not into line[] */
		parse_opt(op->key, op->arg ? strdup(val) : NULL, state);
	}
	fclose(f);
	return 0;
}

static uint64_t mono_now(void)
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

static void on_event(void *ctx, const void *data, size_t size)
{
	struct daemon *d = ctx;
	const struct synfin_event *e = data;

	if (size != sizeof(*e)) {
		d->cnt.rb_bad_size++;
		return;
	}
	if (d->holding) {
		/* pump_rings() stops before this can fill up */
		if (d->backlog_len + size <= d->backlog_cap) {
			memcpy(d->backlog + d->backlog_len, e, size);
			d->backlog_len += size;
		}
		return;
	}
	if (d->rec && recorder__write(d->rec, e))
		d->rec_errors++;
	flow_table__ingest(d->table, e);
}

/* ---- the kernel's socket list: start-up snapshot and reconciliation ---- */

struct sockvec {
	struct sf_snapshot_sock *v;
	int n, cap;
	__u32 netns;
	struct daemon *d;	/* rings to keep draining meanwhile, or NULL */
};

/* Drain the rings into the backlog (while a round reads the sockets). */
static void pump_rings(struct daemon *d)
{
	if (!d->cap)
		return;
	if (!d->backlog) {
		/* page-aligned (madvise gives a burst's pages back), and only
		 * what is written to costs memory */
		void *p = mmap(NULL, BACKLOG_MAX, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
			       -1, 0);

		if (p == MAP_FAILED)
			return;
		d->backlog = p;
		d->backlog_cap = BACKLOG_MAX;
	}
	d->holding = true;
	/* stop while one more full poll still fits */
	while (d->backlog_cap - d->backlog_len >= CAPTURE_POLL_BUDGET * sizeof(struct synfin_event) &&
	       capture__poll(d->cap, 0) == CAPTURE_POLL_BUDGET)
		;
	d->holding = false;
}

/* The events read during the round, in order, as if read now. */
static void drain_backlog(struct daemon *d)
{
	size_t used = d->backlog_len;

	for (size_t off = 0; off < used; off += sizeof(struct synfin_event))
		on_event(d, d->backlog + off, sizeof(struct synfin_event));
	d->backlog_len = 0;
	/* a burst's worth of pages goes back to the system */
	if (used > (1u << 20))
		madvise(d->backlog, used, MADV_DONTNEED);
}

static void collect(void *ctx, const struct sf_snapshot_sock *s)
{
	struct sockvec *sv = ctx;

	if (sv->d && (sv->n & 2047) == 2047)
		pump_rings(sv->d);

	if (sv->n == sv->cap) {
		int cap = sv->cap ? sv->cap * 2 : 1024;
		struct sf_snapshot_sock *p = realloc(sv->v, sizeof(*p) * cap);

		if (!p)
			return;
		sv->v = p;
		sv->cap = cap;
	}
	sv->v[sv->n++] = *s;
}

static int dump_here(void *ctx)
{
	struct sockvec *sv = ctx;

	return sockdiag__dump(sv->netns, collect, sv);
}

/* The namespaces to read: the --netns ones, or every one there is. */
static int watched_netns(const struct opts *o, struct netns_ent **out)
{
	struct netns_ent *all = NULL, *v;
	int n, k = 0;

	n = netns__list(&all);
	if (n < 0 || !o->n_netns) {
		*out = all;
		return n;
	}
	v = calloc(o->n_netns, sizeof(*v));
	if (!v) {
		free(all);
		return -ENOMEM;
	}
	for (int i = 0; i < o->n_netns; i++) {
		v[k].inum = o->netns[i];
		if (o->netns_path[i]) {
			snprintf(v[k].path, sizeof(v[k].path), "%s", o->netns_path[i]);
			k++;
			continue;
		}
		for (int j = 0; j < n; j++) {
			if (all[j].inum == o->netns[i]) {
				v[k++] = all[j];
				break;
			}
		}
	}
	free(all);
	*out = v;
	return k;
}

static int by_remote(const void *a, const void *b)
{
	const struct sf_snapshot_sock *x = a, *y = b;

	if (x->netns != y->netns)
		return x->netns < y->netns ? -1 : 1;
	if (x->family != y->family)
		return x->family - y->family;
	if (x->dport != y->dport)
		return x->dport - y->dport;
	return memcmp(x->daddr, y->daddr, sizeof(x->daddr));
}

/* TIME_WAIT sockets counted per remote endpoint, one pile-up round. */
static void count_time_wait(struct daemon *d, struct sf_snapshot_sock *tw, int n, uint64_t now)
{
	qsort(tw, n, sizeof(*tw), by_remote);
	pileup__begin_round(d->pileups, PILEUP_TIME_WAIT_REMOTE);
	for (int i = 0; i < n;) {
		struct pileup_key k = { .netns = tw[i].netns, .family = tw[i].family, .port = tw[i].dport };
		int j = i;

		memcpy(k.addr, tw[i].daddr, sizeof(k.addr));
		while (j < n && !by_remote(&tw[i], &tw[j]))
			j++;
		pileup__set(d->pileups, PILEUP_TIME_WAIT_REMOTE, &k, j - i, now);
		i = j;
	}
	pileup__end_round(d->pileups, PILEUP_TIME_WAIT_REMOTE, now);
}

/* One look at the kernel's list. The first (start-up snapshot) turns every
 * socket into a pre-existing flow; later rounds add only half-open
 * requests (the rest is born under our eyes), count TIME_WAIT, and notice
 * snapshot flows that vanished. */
static void reconcile(struct daemon *d, bool first, uint64_t now)
{
	struct sockvec sv = { .d = d }, tw = {};
	struct netns_ent *ns = NULL;
	int n = watched_netns(&d->o, &ns);
	bool complete = true;

	if (n < 0) {
		d->cnt.snapshot_errors++;
		return;
	}
	for (int i = 0; i < n; i++) {
		sv.netns = ns[i].inum;
		if (netns__run_in(ns[i].path, dump_here, &sv)) {
			d->cnt.snapshot_errors++;
			complete = false;
		}
	}
	free(ns);
	d->cnt.snapshot_sockets += sv.n;
	pump_rings(d);
	if (first)
		procowner__resolve(sv.v, sv.n);
	flow_table__round_begin(d->table);
	for (int i = 0; i < sv.n; i++) {
		/* an orphaned FIN_WAIT_2 with no inode is a time-wait socket
		 * still waiting for the peer's FIN */
		bool tw_sock = sv.v[i].state == SF_TCP_TIME_WAIT ||
			       (sv.v[i].state == SF_TCP_FIN_WAIT2 && !sv.v[i].inode);

		if (tw_sock)
			flow_table__time_wait_seen(d->table, &sv.v[i], now);
		if (sv.v[i].state == SF_TCP_TIME_WAIT)
			collect(&tw, &sv.v[i]);
		else if (!tw_sock)
			flow_table__snapshot(d->table, &sv.v[i], now, first || sv.v[i].state == SF_TCP_SYN_RECV);
	}
	/* a namespace that could not be read says nothing about what is gone */
	flow_table__round_end(d->table, now, complete);
	if (complete)
		count_time_wait(d, tw.v, tw.n, now);
	free(sv.v);
	free(tw.v);
	drain_backlog(d);
}

static void on_pileup(void *ctx, const struct pileup_event *ev)
{
	struct daemon *d = ctx;
	struct sf_record rec = { .type = SF_REC_PILEUP, .at = ev->at, .pileup = ev };

	output__sink(d->outputs, &rec);
}

static void emit_stats(struct daemon *d, uint64_t now, double interval)
{
	struct flow_table_stats st;

	flow_table__stats(d->table, &st);
	flow_table__tw_stats(d->table, &d->cnt.tw);
	if (d->cap) {
		capture__counters(d->cap, d->cnt.bpf);
		d->cnt.recursion_misses = capture__recursion_misses(d->cap, d->cnt.bpf[SF_CNT_NESTED_CAUGHT]);
	}
	d->cnt.uptime_s = (double)(now - d->start_mono) / 1e9;
	d->cnt.interval_s = interval;
	output__stats_all(d->outputs, &st, &d->cnt, now);
}

static int run_replay(struct daemon *d)
{
	uint32_t rflags = 0;
	struct synfin_event e;
	char err[256];
	uint64_t i = 0, last = 0;
	int r;

	r = replay__open(&d->rec, d->o.replay, &d->clk.mono_to_real_ns, &rflags, err, sizeof(err));
	if (r) {
		fprintf(stderr, "synfin: %s\n", err);
		d->rec = NULL;
		return EXIT_RUNTIME;
	}
	flow_table__set_loopback_mirror(d->table, rflags & SF_REC_F_LO_EGRESS_ONLY);
	while ((r = replay__next(d->rec, &e, i, err, sizeof(err))) == 1) {
		if (!i)
			d->start_mono = e.ts_ns;
		if (flow_table__ingest(d->table, &e) == 0 && e.ts_ns > last)
			last = e.ts_ns;
		/* the grace period runs on event time, so output does not
		 * depend on how fast the file is read */
		flow_table__advance(d->table, last);
		i++;
	}
	if (d->rec != stdin)
		fclose(d->rec);
	d->rec = NULL;
	flow_table__flush(d->table);
	emit_stats(d, last ? last : d->start_mono, 0);
	output__flush_all(d->outputs);
	if (r < 0) {
		fprintf(stderr, "synfin: %s; the %llu events before it were processed\n", err,
			(unsigned long long)i);
		return EXIT_RUNTIME;
	}
	return EXIT_OK;
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
	};
	struct netns_ent *ns = NULL;
	int err, n;

	to.ifnames = d->o.ifnames;
	to.n_ifnames = d->o.n_ifnames;
	err = tc__open(&d->tc, &to);
	if (err)
		return err;
	if (!d->o.n_netns && !d->o.segments_all_netns)
		return tc__attach_netns(d->tc, NULL) < 0 ? -EIO : 0;
	n = watched_netns(&d->o, &ns);
	for (int i = 0; i < n; i++) {
		err = tc__attach_netns(d->tc, ns[i].path);
		if (err < 0)
			break;
	}
	free(ns);
	return err < 0 ? err : 0;
}

/* systemd: the line `systemctl status` shows, every few seconds */
#define NOTIFY_STATUS_NS (5 * 1000000000ULL)

static void notify_status(struct daemon *d, uint64_t *events, uint64_t *since, uint64_t now)
{
	struct flow_table_stats st;
	uint64_t bpf[SF_CNT_MAX];

	flow_table__stats(d->table, &st);
	capture__counters(d->cap, bpf);
	notify__status("%u flows open, %.0f events/s, %llu lost", st.open,
		       now > *since ? (double)(st.events - *events) * 1e9 / (double)(now - *since) : 0.0,
		       (unsigned long long)(bpf[SF_CNT_RB_FULL] +
					    capture__recursion_misses(d->cap, bpf[SF_CNT_NESTED_CAUGHT])));
	*events = st.events;
	*since = now;
}

static int run_live(struct daemon *d)
{
	struct capture_opts co = {
		.n_netns = d->o.n_netns,
		.max_sockets = d->o.max_flows,
		.ring_bytes = d->o.ring_mb << 20,
		.accept_owner = d->o.accept_owner,
	};
	uint64_t interval_ns = (uint64_t)(d->o.stats_interval * 1e9);
	uint64_t reconcile_ns = (uint64_t)(d->o.reconcile_s * 1e9);
	uint64_t now, next_stats, last_stats, next_reconcile;
	uint64_t wd_ns = notify__watchdog_usec() * 1000 / 2, next_wd, next_status, status_events = 0, status_at;
	char msg[512] = "";
	int err;

	if (capture__check_privileges(msg, sizeof(msg))) {
		fprintf(stderr, "synfin: %s\n", msg);
		return EXIT_PRIVILEGE;
	}
	memcpy(co.netns, d->o.netns, sizeof(co.netns));
	if (d->o.record) {
		err = recorder__open(&d->rec, d->o.record, d->clk.mono_to_real_ns,
				     d->o.segments ? SF_REC_F_LO_EGRESS_ONLY : 0);
		if (err) {
			fprintf(stderr, "synfin: --record %s: %s\n", d->o.record, strerror(-err));
			return EXIT_RUNTIME;
		}
	}
	/* The snapshot comes first: dumping assigns the sockets' cookies,
	 * by which BPF joins their later events to these flows. */
	if (d->o.snapshot)
		reconcile(d, true, mono_now());
	if (d->cnt.snapshot_errors)
		fprintf(stderr, "synfin: %llu namespaces could not be read at start-up\n",
			(unsigned long long)d->cnt.snapshot_errors);
	err = capture__open(&d->cap, &co, on_event, d, msg, sizeof(msg));
	if (err) {
		fprintf(stderr, "synfin: %s\n", msg);
		return err == -EPERM ? EXIT_PRIVILEGE : EXIT_KERNEL;
	}
	if (d->o.segments) {
		err = open_segments(d);
		flow_table__set_loopback_mirror(d->table, !err);
		if (err)
			fprintf(stderr, "synfin: DEGRADED: segment capture unavailable (%s): lifecycles from state changes only\n",
				strerror(-err));
		else if (d->o.verbose)
			fprintf(stderr, "synfin: segments: %s\n", tc__describe(d->tc));
	}
	if (d->o.verbose)
		fprintf(stderr, "synfin: %s\n", capture__describe(d->cap));
	else if (strstr(capture__describe(d->cap), "DEGRADED"))
		fprintf(stderr, "synfin: %s\n", capture__describe(d->cap));
	fprintf(stderr, "synfin: capturing; Ctrl-C to stop\n");
	notify__ready();

	now = last_stats = d->start_mono = mono_now();
	next_stats = interval_ns ? now + interval_ns : UINT64_MAX;
	next_reconcile = reconcile_ns ? now + reconcile_ns : UINT64_MAX;
	next_wd = wd_ns ? now : UINT64_MAX;
	next_status = notify__enabled() ? now : UINT64_MAX;
	status_at = now;
	while (!stop_requested) {
		/* no wait while a full budget came back: events are waiting */
		err = capture__poll(d->cap, err == CAPTURE_POLL_BUDGET ? 0 : 100);
		if (err < 0 && err != -EINTR) {
			fprintf(stderr, "synfin: ring buffer: %s\n", strerror(-err));
			break;
		}
		if (d->tc)
			tc__handle_netlink(d->tc); /* interfaces that appeared */
		now = mono_now();
		flow_table__advance(d->table, now);
		if (now >= next_reconcile) {
			reconcile(d, false, now);
			next_reconcile = now + reconcile_ns;
		}
		if (now >= next_stats) {
			emit_stats(d, now, (double)(now - last_stats) / 1e9);
			last_stats = now;
			next_stats = now + interval_ns;
		}
		if (now >= next_wd) {
			notify__watchdog_ping();
			next_wd = now + wd_ns;
		}
		if (now >= next_status) {
			notify_status(d, &status_events, &status_at, now);
			next_status = now + NOTIFY_STATUS_NS;
		}
		output__flush_all(d->outputs);
	}
	notify__stopping();
	/* drain what is left, then report everything that closed */
	capture__poll(d->cap, 0);
	flow_table__flush(d->table);
	now = mono_now();
	emit_stats(d, now, (double)(now - last_stats) / 1e9);
	output__flush_all(d->outputs);
	if (d->rec_errors)
		fprintf(stderr, "synfin: --record: %llu events could not be written\n",
			(unsigned long long)d->rec_errors);
	return err < 0 && err != -EINTR ? EXIT_RUNTIME : EXIT_OK;
}

int main(int argc, char **argv)
{
	struct argp argp = { options, parse_opt, "[daemon]", doc, NULL, NULL, NULL };
	struct daemon d = {
		.o = {
			.output = "-",
			.stats_interval = 10,
			.max_flows = 262144,
			.ring_mb = 8,
			.grace_ms = 50,
			.max_time_wait = 65536,
			.max_half_open = 1024,
			.stuck_rate = 100,
			.pileup = { [PILEUP_TIME_WAIT_REMOTE] = 10000, [PILEUP_CLOSE_WAIT_PROCESS] = 100 },
			.reconcile_s = 10,
			.snapshot = true,
			.segments = true,
			.accept_owner = true,
		},
	};
	struct flow_table_config cfg = {};
	struct sigaction sa = { .sa_handler = on_signal };
	int err, rc;

	if (argc > 1 && !strcmp(argv[1], "show"))
		return show__main(argc - 1, argv + 1);
	argp_err_exit_status = EXIT_USAGE;
	for (size_t i = 0; i < sizeof(stuck_states) / sizeof(stuck_states[0]); i++)
		d.o.stuck_s[stuck_states[i].state] = stuck_states[i].def_s;
	if (argp_parse(&argp, argc, argv, 0, NULL, &d.o))
		return EXIT_USAGE;
	if (d.o.replay && d.o.record) {
		fprintf(stderr, "synfin: --record and --replay cannot be combined\nTry 'synfin --help' for more information.\n");
		return EXIT_USAGE;
	}

	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);	/* the terminal went away: stop cleanly */
	sigaction(SIGQUIT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	d.clk.mono_to_real_ns = mono_to_real();
	cfg.max_flows = d.o.max_flows;
	cfg.close_grace_ns = (uint64_t)d.o.grace_ms * 1000000ULL;
	for (int i = 0; i < SF_TCP_NSTATES; i++)
		cfg.stuck_ns[i] = (uint64_t)(d.o.stuck_s[i] * 1e9);
	cfg.stuck_rate = d.o.stuck_rate;
	cfg.max_time_wait = d.o.max_time_wait;
	cfg.max_half_open = d.o.max_half_open;
	/* the kernel's list is read only by a live daemon */
	cfg.time_wait_rounds = !d.o.replay && d.o.reconcile_s > 0;
	err = output__jsonl_open(&d.outputs, d.o.output, &d.clk);
	if (err) {
		fprintf(stderr, "synfin: --output %s: %s\n", d.o.output, strerror(-err));
		return EXIT_RUNTIME;
	}
	d.pileups = pileup__new(d.o.pileup, on_pileup, &d);
	cfg.pileups = d.pileups;
	/* the sink context is the head of the output list */
	d.table = flow_table__new(&cfg, output__sink, d.outputs);
	if (!d.table) {
		fprintf(stderr, "synfin: cannot allocate a flow table of %u flows\n", cfg.max_flows);
		output__destroy_all(d.outputs);
		return EXIT_RUNTIME;
	}

	rc = d.o.replay ? run_replay(&d) : run_live(&d);

	tc__close(d.tc);
	capture__close(d.cap);
	if (d.rec)
		fclose(d.rec);
	output__destroy_all(d.outputs);
	flow_table__free(d.table);
	if (d.backlog)
		munmap(d.backlog, BACKLOG_MAX);
	pileup__free(d.pileups);
	return rc;
}
