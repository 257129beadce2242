// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Options, declared once (see options.h). Parsing writes struct opts
 * only; what the values mean is the daemon's business.
 */
#include <argp.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <errno.h>
#include <grp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "daemon.h"
#include "filter_cgroup.h"
#include "options.h"

#ifndef SYNFIN_VERSION
#define SYNFIN_VERSION "0.1.0"
#endif

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
	"FILTERS: a connection is reported when it matches one of each kind of include given "
	"(--port, --cidr, --comm, --cgroup; ports and addresses at either end) and no exclude:\n"
	"    sudo synfin --port 443 --port 8000-8099    # either end's port\n"
	"    sudo synfin --exclude-port 22              # all but ssh\n"
	"    sudo synfin --cidr 10.0.0.0/8 --cidr fd00::/8 --exclude-cidr 10.9.0.0/16\n"
	"    sudo synfin --comm nginx --cgroup /system.slice/nginx.service\n"
	"Ports, prefixes and cgroups are applied in the kernel (what they leave out costs "
	"next to nothing and is counted in stats 'filtered'), process names in the daemon.\n"
	"\n"
	"SIGNALS: INT, TERM, QUIT stop (everything finished is written, hooks are removed); "
	"HUP reopens the output files (log rotation); USR1 writes a stats line now.\n"
	"\n"
	"Exit status: 0 ok, 1 runtime error, 2 usage, 3 missing privilege, 4 missing kernel feature.";

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

enum opt_kind {
	OPT_HEADER,		/* a heading in --help */
	OPT_STRING,		/* const char * at off (the argument itself) */
	OPT_U32,		/* uint32_t at off, in umin..umax */
	OPT_SECONDS,		/* double at off, in 0..max */
	OPT_SET,		/* bool at off := true */
	OPT_CLEAR,		/* bool at off := false */
	OPT_CUSTOM,		/* parse() */
	OPT_CONFIG,		/* a config file: its options, in place */
};

/* flags */
#define OPT_CLI_ONLY (1u << 0)	/* not in a config file */
#define OPT_POW2 (1u << 1)	/* U32: a power of two */
#define OPT_HIDE (1u << 2)	/* not in --help */

struct opt_def {
	const char *name;	/* long option, and its name in a config file */
	int letter;		/* short option, or 0 */
	const char *arg;	/* the argument's name in --help; NULL: a flag */
	enum opt_kind kind;
	size_t off;		/* where the value goes in struct opts */
	uint32_t umin, umax;	/* OPT_U32 */
	double max;		/* OPT_SECONDS */
	/* OPT_CUSTOM: 0, or -errno with why filled in */
	int (*parse)(struct opts *o, const char *arg, char *why, size_t len);
	unsigned int flags;
	int group;
	const char *help;
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

/* Seconds in 0..max; NaN and infinities are not numbers of seconds. */
static int parse_seconds(const char *s, double max, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !(v >= 0 && v <= max))
		return -EINVAL;
	*out = v;
	return 0;
}

static int parse_netns(struct opts *o, const char *arg, char *why, size_t len)
{
	struct stat st;
	uint32_t inum;

	if (o->n_netns >= CAPTURE_MAX_NETNS) {
		snprintf(why, len, "at most %d namespaces", CAPTURE_MAX_NETNS);
		return -E2BIG;
	}
	if (parse_u32(arg, 1, UINT32_MAX, &inum)) {
		if (stat(arg, &st)) {
			snprintf(why, len, "'%s' is neither an inode number nor a namespace path (%s)", arg,
				 strerror(errno));
			return -EINVAL;
		}
		inum = (uint32_t)st.st_ino;
	}
	o->netns[o->n_netns] = inum;
	/* NULL: given as an inode, found among the namespaces there are */
	o->netns_path[o->n_netns] = strchr(arg, '/') ? (char *)arg : NULL;
	o->n_netns++;
	return 0;
}

/* --port, --exclude-port...: the spec's own parsers */
#define FILTER_OPT(name, add, exclude)                                             \
	static int name(struct opts *o, const char *arg, char *why, size_t len) \
	{                                                                        \
		return add(&o->filter, arg, exclude, why, len);                  \
	}
FILTER_OPT(parse_port, filter__add_ports, false)
FILTER_OPT(parse_exclude_port, filter__add_ports, true)
FILTER_OPT(parse_cidr, filter__add_cidr, false)
FILTER_OPT(parse_exclude_cidr, filter__add_cidr, true)
FILTER_OPT(parse_comm, filter__add_comm, false)
FILTER_OPT(parse_exclude_comm, filter__add_comm, true)

static int parse_cgroup(struct opts *o, const char *arg, char *why, size_t len)
{
	char *path;
	__u64 id;
	__u32 level;
	int err = filter_cgroup__resolve(arg, &path, &id, &level, why, len);

	if (!err) {
		err = filter__add_cgroup(&o->filter, path, id, level, why, len);
		if (err)
			free(path);
	}
	return err;
}

static int parse_stuck(struct opts *o, const char *arg, char *why, size_t len)
{
	const char *eq = strchr(arg, '=');
	double v;

	snprintf(why, len, "'%s' is not STATE=SECONDS with a known state", arg);
	if (!eq || parse_seconds(eq + 1, 30 * 86400, &v))
		return -EINVAL;
	for (size_t i = 0; i < sizeof(stuck_states) / sizeof(stuck_states[0]); i++) {
		if (strlen(stuck_states[i].name) == (size_t)(eq - arg) &&
		    !strncmp(arg, stuck_states[i].name, (size_t)(eq - arg))) {
			o->stuck_s[stuck_states[i].state] = v;
			return 0;
		}
	}
	return -ENOENT;
}

static int parse_interface(struct opts *o, const char *arg, char *why, size_t len)
{
	if (o->n_ifnames >= OPTS_MAX_IFNAMES || strlen(arg) >= 16 || !*arg) {
		snprintf(why, len, "'%s': at most %d names of at most 15 characters", arg, OPTS_MAX_IFNAMES);
		return -EINVAL;
	}
	o->ifnames[o->n_ifnames++] = arg;
	return 0;
}

static int parse_on_output_error(struct opts *o, const char *arg, char *why, size_t len)
{
	if (!strcmp(arg, "exit"))
		o->on_output_error = OUTPUT_ON_ERROR_EXIT;
	else if (!strcmp(arg, "drop"))
		o->on_output_error = OUTPUT_ON_ERROR_DROP;
	else {
		snprintf(why, len, "'%s' is neither exit nor drop", arg);
		return -EINVAL;
	}
	o->on_output_error_set = true;
	return 0;
}

static int parse_socket_group(struct opts *o, const char *arg, char *why, size_t len)
{
	struct group *g = getgrnam(arg);
	uint32_t gid;

	if (g) {
		o->socket_gid = g->gr_gid;
		return 0;
	}
	if (!parse_u32(arg, 0, UINT32_MAX - 1, &gid)) {
		o->socket_gid = (gid_t)gid;
		return 0;
	}
	snprintf(why, len, "no group '%s'", arg);
	return -EINVAL;
}

/* "127.0.0.1:9100", "[::1]:9100", ":9100" (loopback). A wildcard address
 * needs any: -EADDRNOTAVAIL; -EINVAL: not an address. */
static int metrics_addr(const char *addr, bool any, struct sockaddr_storage *ss)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
	char host[INET6_ADDRSTRLEN + 2];
	const char *colon = strrchr(addr, ':');
	char *end;
	unsigned long port;
	size_t n;

	memset(ss, 0, sizeof(*ss));
	if (!colon)
		return -EINVAL;
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	if (errno || end == colon + 1 || *end || !port || port > 65535)
		return -EINVAL;
	n = (size_t)(colon - addr);
	if (n >= sizeof(host))
		return -EINVAL;
	memcpy(host, addr, n);
	host[n] = 0;
	if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
		host[n - 1] = 0;
		memmove(host, host + 1, n - 1);
	}
	if (!*host) { /* ":PORT": loopback */
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		s4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		return 0;
	}
	if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		if (s4->sin_addr.s_addr == htonl(INADDR_ANY) && !any)
			return -EADDRNOTAVAIL;
		return 0;
	}
	if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		if (IN6_IS_ADDR_UNSPECIFIED(&s6->sin6_addr) && !any)
			return -EADDRNOTAVAIL;
		return 0;
	}
	return -EINVAL;
}

/* *out := arg's index in words (NULL-terminated), or -EINVAL with why said */
static int pick(const char *arg, const char *const *words, int *out, char *why, size_t len)
{
	for (int i = 0; words[i]; i++) {
		if (!strcmp(arg, words[i])) {
			*out = i;
			return 0;
		}
	}
	snprintf(why, len, "'%s' is not one of %s%s%s%s%s", arg, words[0], words[1] ? ", " : "",
		 words[1] ? words[1] : "", words[2] ? ", " : "", words[2] ? words[2] : "");
	return -EINVAL;
}

static const char *const detail_words[] = { "auto", "summary", "segments", NULL };
static const char *const flows_words[] = { "all", "abnormal", "none", NULL };

static int parse_detail(struct opts *o, const char *arg, char *why, size_t len)
{
	return pick(arg, detail_words, &o->detail, why, len);
}

static int parse_flows(struct opts *o, const char *arg, char *why, size_t len)
{
	return pick(arg, flows_words, &o->flows, why, len);
}

static int parse_verbose(struct opts *o, const char *arg, char *why, size_t len)
{
	(void)arg, (void)why, (void)len;
	o->log_level = SF_LOG_DEBUG;
	return 0;
}

static int parse_quiet(struct opts *o, const char *arg, char *why, size_t len)
{
	(void)arg, (void)why, (void)len;
	o->log_level = SF_LOG_WARN;
	return 0;
}

#define AT(field) offsetof(struct opts, field)
#define STRING(n, l, a, field, fl, g, h) { n, l, a, OPT_STRING, AT(field), 0, 0, 0, NULL, fl, g, h }
#define U32(n, a, field, lo, hi, fl, g, h) { n, 0, a, OPT_U32, AT(field), lo, hi, 0, NULL, fl, g, h }
#define SECONDS(n, l, a, field, hi, g, h) { n, l, a, OPT_SECONDS, AT(field), 0, 0, hi, NULL, 0, g, h }
#define FLAG(n, l, kind, field, fl, g, h) { n, l, NULL, OPT_##kind, AT(field), 0, 0, 0, NULL, fl, g, h }
#define CUSTOM(n, l, a, fn, g, h) { n, l, a, OPT_CUSTOM, 0, 0, 0, 0, fn, 0, g, h }
#define HEADER(g, h) { NULL, 0, NULL, OPT_HEADER, 0, 0, 0, 0, NULL, 0, g, h }

static const struct opt_def defs[] = {
	STRING("output", 'o', "PATH", output, 0, 1,
	       "Write JSON Lines to PATH (appends; - = stdout, the default; SIGHUP reopens it)"),
	SECONDS("stats-interval", 'i', "SEC", stats_interval, 86400, 1,
		"Emit a stats line every SEC seconds (default 10, 0 = only at exit; SIGUSR1: one now)"),
	CUSTOM("netns", 'n', "NS", parse_netns, 1,
	       "Only this network namespace: an inode number or a path such as /var/run/netns/NAME or /proc/PID/ns/net (repeatable)"),
	STRING("record", 0, "PATH", record, OPT_CLI_ONLY, 1, "Also write the raw event stream to PATH (for --replay)"),
	STRING("replay", 0, "PATH", replay, OPT_CLI_ONLY, 1,
	       "Read events from a --record file instead of the kernel (no root needed)"),
	U32("max-flows", "N", max_flows, 16, 1u << 24, 0, 1, "Flows tracked at once, in the daemon and in BPF (default 262144)"),
	U32("ring-mb", "MIB", ring_mb, 1, 1024, OPT_POW2, 1,
	    "BPF ring buffers, all CPUs together, in MiB: a power of two (default 8), split evenly (256 KiB each at least)"),
	U32("priority-boost", "N", priority_boost, 0, 19, 0, 1,
	    "Run at nice -N (default 5, as auditd's priority_boost; 0 = as started; a nice already set is kept): the rings absorb a burst only while synfin gets the CPU"),
	FLAG("no-segments", 0, CLEAR, segments, 0, 1,
	     "Do not capture control segments (tc clsact hooks on every interface that is up in the watched namespaces)"),
	CUSTOM("interface", 0, "IFNAME", parse_interface, 1,
	       "Capture segments on this interface only (repeatable; default: every interface that is up, lo included)"),
	FLAG("segments-all-netns", 0, SET, segments_all_netns, OPT_HIDE, 1,
	     "No effect: every namespace is followed by default (kept so that old command lines still work)"),
	STRING("netns-named", 0, "PREFIX", netns_named, 0, 1,
	       "Follow only the namespaces named /var/run/netns/PREFIX* (as they come and go) instead of every namespace on the machine"),
	U32("max-half-open", "N", max_half_open, 1, 1u << 24, 0, 1,
	    "Half-open connections tracked per listener from their SYN (a SYN flood beyond it is counted, not tracked; default 1024)"),
	U32("max-time-wait", "N", max_time_wait, 0, 1u << 24, 0, 1,
	    "Time-wait sockets followed to their exit, for 'time_wait' records (default 65536, 0 = none)"),
	FLAG("no-accept-owner", 0, CLEAR, accept_owner, 0, 1,
	     "Do not hook accept(): attribute accepted sockets to the listener's owner (saves the syscall tracepoint cost)"),
	U32("close-grace-ms", "MS", grace_ms, 0, 60000, 0, 1,
	    "Keep a closed flow this long for its late events: segments, the last ACK (default 50)"),
	FLAG("no-snapshot", 0, CLEAR, snapshot, 0, 1, "Do not read the sockets that exist at start-up"),
	CUSTOM("on-output-error", 0, "exit|drop", parse_on_output_error, 1,
	       "When an output cannot be written: exit (status 1, after removing the hooks) or drop the lines (counted in stats, reported on stderr) and go on. Default: drop for a regular file, exit otherwise (a pipe, a terminal); a closed pipe always ends synfin"),
	{ "config", 0, "PATH", OPT_CONFIG, 0, 0, 0, 0, NULL, OPT_CLI_ONLY, 1,
	  "Read options from PATH: one 'option value' per line (long names without --), # comments" },
	STRING("socket", 0, "PATH", socket, 0, 1,
	       "Serve live viewers (synfin top, socat) JSON Lines on this unix socket (default /run/synfin/synfin.sock; its directory is created 0755 if missing; the socket is mode 0660)"),
	FLAG("no-socket", 0, CLEAR, socket_on, 0, 1, "Do not serve the live socket"),
	CUSTOM("socket-group", 0, "GROUP", parse_socket_group, 1,
	       "The live socket's group (a name or a number): its members may connect (default: the daemon's group)"),
	U32("max-clients", "N", max_clients, 1, 1024, 0, 1,
	    "Live-socket clients at once; one more reads a one-line refusal (default 16)"),
	U32("recent", "N", recent, 0, 1u << 20, 0, 1,
	    "Keep the last N finished flows whole (about 800 bytes each), so that a live-socket client (synfin show ID, synfin top) can ask for one by id (default 1024, 0 = none)"),
	CUSTOM("verbose", 'v', NULL, parse_verbose, 1, "Say what is attached on stderr"),
	CUSTOM("quiet", 'q', NULL, parse_quiet, 1, "Only warnings and errors on stderr (not the 'capturing' line)"),
	HEADER(3, "Volume (flow records, summaries):"),
	CUSTOM("detail", 0, "auto|summary|segments", parse_detail, 3,
	       "How much a flow record says: segments (every control segment listed), summary (a one-line digest of them), or auto (the default): segments for flows that are not normal (refused, timeout, reset, retransmits, an ack not right, partial, never established, stuck), summary for the rest. time_wait records: every exit with segments, else only resets (the other exits are counted)"),
	CUSTOM("flows", 0, "all|abnormal|none", parse_flows, 3,
	       "Which flow records are written (default all); the others are still counted in stats and summaries"),
	U32("sample", "N", sample, 1, 1000000, 0, 3,
	    "Write 1 in N normal flow records (those not normal always; default 1: all)"),
	SECONDS("summary-interval", 0, "SEC", summary_s, 86400, 3,
		"A 'summary' record per listener, remote endpoint, process and cgroup every SEC seconds (default 60, 0 = none)"),
	U32("summary-top", "N", summary_top, 1, 10000, 0, 3,
	    "Keys per kind in a summary; the rest are folded into one 'other' entry (default 20)"),
	STRING("metrics", 0, "ADDR:PORT", metrics, 0, 3,
	       "Serve Prometheus metrics at http://ADDR:PORT/metrics (off by default): 127.0.0.1:9100, [::1]:9100, :9100 (= 127.0.0.1); a wildcard address (0.0.0.0, [::]) needs --metrics-any"),
	FLAG("metrics-any", 0, SET, metrics_any, 0, 3,
	     "Let --metrics listen on a wildcard address: every host that reaches this one can read the metrics"),
	FLAG("metrics-labels", 0, SET, metrics_labels, 0, 3,
	     "Also per listener port and per process name in --metrics: the --summary-top of each, the rest as 'other'"),
	HEADER(4, "Filters (which connections are reported; see FILTERS below):"),
	CUSTOM("port", 0, "PORTS", parse_port, 4,
	       "Only connections with one of these ports at either end: N, LO-HI or a list of them (N,LO-HI); repeatable"),
	CUSTOM("exclude-port", 0, "PORTS", parse_exclude_port, 4,
	       "Not connections with one of these ports at either end (as --port); repeatable"),
	CUSTOM("cidr", 0, "PREFIX", parse_cidr, 4,
	       "Only connections whose local or remote address is in PREFIX: 10.0.0.0/8, 2001:db8::/32, or one address; repeatable"),
	CUSTOM("exclude-cidr", 0, "PREFIX", parse_exclude_cidr, 4,
	       "Not connections with an address in PREFIX at either end (wins over --cidr); repeatable"),
	CUSTOM("comm", 0, "NAME", parse_comm, 4,
	       "Only connections of processes named NAME (the kernel's 15-byte comm, as in records); repeatable"),
	CUSTOM("exclude-comm", 0, "NAME", parse_exclude_comm, 4, "Not connections of processes named NAME; repeatable"),
	CUSTOM("cgroup", 0, "PATH", parse_cgroup, 4,
	       "Only connections of processes in this cgroup v2 directory or below it: a path, or one below the cgroup2 mount (/system.slice/nginx.service); repeatable"),
	HEADER(2, "Stuck connections:"),
	CUSTOM("stuck", 0, "STATE=SEC", parse_stuck, 2,
	       "Report a connection in STATE for SEC seconds (0 = never). STATE: syn_sent (default 10), syn_received (10), fin_wait_1 (60), fin_wait_2 (120), close_wait (60), closing (60), last_ack (60). Repeatable"),
	U32("stuck-rate", "N", stuck_rate, 0, 1000000, 0, 2,
	    "At most N stuck records per second; the rest are counted in stats (default 100, 0 = no limit)"),
	U32("pileup-time-wait", "N", pileup[PILEUP_TIME_WAIT_REMOTE], 0, 100000000, 0, 2,
	    "Report N TIME_WAIT sockets towards one remote endpoint (default 10000, 0 = off)"),
	U32("pileup-close-wait", "N", pileup[PILEUP_CLOSE_WAIT_PROCESS], 0, 100000000, 0, 2,
	    "Report N CLOSE_WAIT sockets owned by one process (default 100, 0 = off)"),
	SECONDS("reconcile-interval", 0, "SEC", reconcile_s, 86400, 2,
		"Compare with the kernel's socket list (sock_diag) every SEC seconds: TIME_WAIT counts, half-open requests, missed events (default 10, 0 = off)"),
};

#define NDEFS (sizeof(defs) / sizeof(defs[0]))
/* argp keys of options without a letter: beyond any character */
#define KEY_BASE 1000

static void defaults(struct opts *o)
{
	*o = (struct opts){
		.output = "-",
		.stats_interval = 10,
		.max_flows = 262144,
		.ring_mb = 8,
		.priority_boost = 5,
		.grace_ms = 50,
		.max_time_wait = 65536,
		.max_half_open = 1024,
		.stuck_rate = 100,
		.pileup = { [PILEUP_TIME_WAIT_REMOTE] = 10000, [PILEUP_CLOSE_WAIT_PROCESS] = 100 },
		.reconcile_s = 10,
		.sample = 1,
		.summary_s = 60,
		.summary_top = 20,
		.snapshot = true,
		.segments = true,
		.accept_owner = true,
		.log_level = SF_LOG_INFO,
		.socket = SERVE_DEFAULT_SOCKET,
		.socket_on = true,
		.socket_gid = (gid_t)-1,
		.max_clients = 16,
		.recent = 1024,
	};
	for (size_t i = 0; i < sizeof(stuck_states) / sizeof(stuck_states[0]); i++)
		o->stuck_s[stuck_states[i].state] = stuck_states[i].def_s;
}

static int key_of(const struct opt_def *d)
{
	return d->letter ? d->letter : KEY_BASE + (int)(d - defs);
}

static const struct opt_def *by_key(int key)
{
	for (size_t i = 0; i < NDEFS; i++)
		if (defs[i].kind != OPT_HEADER && key_of(&defs[i]) == key)
			return &defs[i];
	return NULL;
}

static const struct opt_def *by_name(const char *name)
{
	for (size_t i = 0; i < NDEFS; i++)
		if (defs[i].name && !strcmp(defs[i].name, name))
			return &defs[i];
	return NULL;
}

/* Store one option's value. 0, or -errno with why filled in. */
static int apply(const struct opt_def *d, const char *arg, struct opts *o, char *why, size_t len)
{
	char *p = (char *)o + d->off;
	uint32_t u;

	switch (d->kind) {
	case OPT_STRING:
		*(const char **)p = arg;
		return 0;
	case OPT_U32:
		if (parse_u32(arg, d->umin, d->umax, &u) || ((d->flags & OPT_POW2) && (u & (u - 1)))) {
			snprintf(why, len, "'%s' is not %s in %u..%u", arg,
				 d->flags & OPT_POW2 ? "a power of two" : "a number", d->umin, d->umax);
			return -EINVAL;
		}
		*(uint32_t *)p = u;
		return 0;
	case OPT_SECONDS:
		if (parse_seconds(arg, d->max, (double *)p)) {
			snprintf(why, len, "'%s' is not a number of seconds in 0..%.0f", arg, d->max);
			return -EINVAL;
		}
		return 0;
	case OPT_SET:
	case OPT_CLEAR:
		*(bool *)p = d->kind == OPT_SET;
		return 0;
	case OPT_CUSTOM:
		return d->parse(o, arg, why, len);
	case OPT_HEADER:
	case OPT_CONFIG:
		break;
	}
	return -EINVAL;
}

static int parse_config(const char *path, struct argp_state *state);

static error_t parse_opt(int key, char *arg, struct argp_state *state)
{
	const struct opt_def *d = by_key(key);
	char why[512];

	if (d && d->kind == OPT_CONFIG)
		return parse_config(arg, state) ? EINVAL : 0;
	if (d) {
		if (apply(d, arg, state->input, why, sizeof(why)))
			argp_error(state, "--%s: %s", d->name, why);
		return 0;
	}
	if (key != ARGP_KEY_ARG)
		return ARGP_ERR_UNKNOWN;
	if (state->arg_num == 0 && strcmp(arg, "daemon") == 0)
		return 0;
	if (state->arg_num == 0 && strcmp(arg, "top") == 0)
		argp_error(state, "'top' (the live view) is not in this version yet");
	argp_error(state, "unknown command '%s'", arg);
	return 0;
}

/* A config file holds the same options as the command line; the command
 * line wins where it comes later. */
static int parse_config(const char *path, struct argp_state *state)
{
	char line[512], why[512];
	unsigned int n = 0;
	FILE *f = fopen(path, "re");

	if (!f)
		argp_error(state, "--config %s: %s", path, strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		char *p = line, *name, *val;
		const struct opt_def *d;

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
		d = by_name(name);
		if (!d || (d->flags & OPT_CLI_ONLY)) {
			fclose(f);
			argp_error(state, "%s:%u: unknown option '%s'", path, n, name);
		}
		if ((d->arg && !*val) || (!d->arg && *val)) {
			fclose(f);
			argp_error(state, "%s:%u: option '%s' %s", path, n, name,
				   d->arg ? "needs a value" : "takes no value");
		}
		/* options keep pointers to their values: not into line[] */
		if (apply(d, d->arg ? strdup(val) : NULL, state->input, why, sizeof(why))) {
			fclose(f);
			argp_error(state, "%s:%u: %s: %s", path, n, name, why);
		}
	}
	fclose(f);
	return 0;
}

int options__parse(struct opts *o, int argc, char **argv)
{
	struct argp_option aopts[NDEFS + 1];
	struct argp argp = { aopts, parse_opt, "[daemon]", doc, NULL, NULL, NULL };

	defaults(o);
	memset(aopts, 0, sizeof(aopts));
	for (size_t i = 0; i < NDEFS; i++) {
		const struct opt_def *d = &defs[i];

		aopts[i] = (struct argp_option){
			.name = d->name,
			.key = d->kind == OPT_HEADER ? 0 : key_of(d),
			.arg = d->arg,
			.flags = d->flags & OPT_HIDE ? OPTION_HIDDEN : 0,
			.doc = d->help,
			.group = d->group,
		};
	}
	argp_err_exit_status = EXIT_USAGE;
	if (argp_parse(&argp, argc, argv, 0, NULL, o))
		return EXIT_USAGE;
	if (o->metrics) {
		int err = metrics_addr(o->metrics, o->metrics_any, &o->metrics_ss);

		if (err) {
			fprintf(stderr, "synfin: --metrics %s: %s\nTry 'synfin --help' for more information.\n", o->metrics,
				err == -EADDRNOTAVAIL ? "a wildcard address serves every host: add --metrics-any to mean it"
						      : "not ADDR:PORT (127.0.0.1:9100, [::1]:9100, :9100)");
			return EXIT_USAGE;
		}
	}
	if (o->replay && o->record) {
		fprintf(stderr, "synfin: --record and --replay cannot be combined\nTry 'synfin --help' for more information.\n");
		return EXIT_USAGE;
	}
	return 0;
}
