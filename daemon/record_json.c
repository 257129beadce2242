// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include "aggregate.h"
#include "cgroup_path.h"
#include "hash.h"
#include "record_json.h"
#include "stats.h"

_Static_assert(SF_AF_INET == AF_INET && SF_AF_INET6 == AF_INET6, "address families");

/* mono + offset, clamped to [0, INT64_MAX] ns (1970 to 2262): a corrupted
 * recording may hold any time and any offset, and the sum must not
 * overflow */
static int64_t wall_ns(uint64_t mono, int64_t off)
{
	uint64_t back;

	if (off >= 0)
		return mono >= (uint64_t)INT64_MAX - (uint64_t)off ? INT64_MAX : (int64_t)(mono + (uint64_t)off);
	back = -(uint64_t)off;
	if (mono <= back)
		return 0;
	mono -= back;
	return mono > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)mono;
}

void sf_format_time(char *buf, size_t len, uint64_t mono_ns, const struct sf_clock *clk)
{
	/* the date is formatted once per day, the time of day by hand: a
	 * cache of one second missed on every other record, whose times
	 * (start, end, a time-wait socket's entry and exit) straddle
	 * seconds (gmtime_r + strftime were 1.7% of the daemon's
	 * instructions) */
	static __thread int64_t cached_day = INT64_MIN;
	static __thread char cached[11];
	int64_t real = wall_ns(mono_ns, clk->mono_to_real_ns);
	time_t sec = (time_t)(real / 1000000000);
	long usec = (long)((real % 1000000000) / 1000);
	int64_t day, tod;

	if (len < 28)
		return;
	day = sec / 86400;
	tod = sec % 86400;
	if (real >= 0 && day != cached_day) {
		time_t midnight = (time_t)(day * 86400);
		struct tm tm;

		gmtime_r(&midnight, &tm);
		if (strftime(cached, sizeof(cached), "%Y-%m-%d", &tm) == 10)
			cached_day = day;
	}
	if (day != cached_day || real < 0) {
		/* before 1970 or after 9999: a corrupted recording */
		struct tm tm;

		gmtime_r(&sec, &tm);
		strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
	} else {
		memcpy(buf, cached, 10);
		buf[10] = 'T';
		buf[11] = (char)('0' + tod / 36000);
		buf[12] = (char)('0' + tod / 3600 % 10);
		buf[13] = ':';
		buf[14] = (char)('0' + tod % 3600 / 600);
		buf[15] = (char)('0' + tod % 600 / 60);
		buf[16] = ':';
		buf[17] = (char)('0' + tod % 60 / 10);
		buf[18] = (char)('0' + tod % 10);
	}
	buf[19] = '.';
	for (int i = 25; i > 19; i--) {
		buf[i] = (char)('0' + usec % 10);
		usec /= 10;
	}
	buf[26] = 'Z';
	buf[27] = 0;
}

uint64_t sf_flow_id(uint64_t sk, uint64_t gen)
{
	/* A kernel address in a log would help an attacker defeat KASLR:
	 * publish a keyed mix of it instead. */
	return sf_mix64(sk ^ (gen * 0x9e3779b97f4a7c15ULL) ^ 0x5f1f2e3d4c5b6a79ULL);
}

static void time_field(struct json *j, const char *key, uint64_t mono, const struct sf_clock *clk)
{
	char buf[48];

	sf_format_time(buf, sizeof(buf), mono, clk);
	json__str_safe(j, key, buf, 27);
}

/* "a.b.c.d": inet_ntop goes through sprintf, and every record has two */
static size_t ipv4_text(char *out, const uint8_t *a)
{
	char *p = out;

	for (int i = 0; i < 4; i++) {
		unsigned int v = a[i];

		if (v >= 100)
			*p++ = (char)('0' + v / 100);
		if (v >= 10)
			*p++ = (char)('0' + v / 10 % 10);
		*p++ = (char)('0' + v % 10);
		if (i < 3)
			*p++ = '.';
	}
	*p = 0;
	return (size_t)(p - out);
}

static void hex64(char out[17], uint64_t v)
{
	static const char digits[] = "0123456789abcdef";

	for (int i = 15; i >= 0; i--, v >>= 4)
		out[i] = digits[v & 15];
	out[16] = 0;
}

static void endpoint(struct json *j, const char *key, int family, const uint8_t *addr, uint16_t port)
{
	char buf[INET6_ADDRSTRLEN];

	json__obj_open(j, key);
	if (family != SF_AF_INET6)
		json__str_safe(j, "address", buf, ipv4_text(buf, addr));
	else if (inet_ntop(AF_INET6, addr, buf, sizeof(buf)))
		json__str_safe(j, "address", buf, strlen(buf));
	else
		json__null(j, "address");
	/* 0: never learnt (the socket was seen only after its port was released) */
	if (port)
		json__u64(j, "port", port);
	else
		json__null(j, "port");
	json__obj_close(j);
}

/* what every record starts with */
static void record_head(struct json *j, const char *type, uint64_t at, const struct sf_clock *clk)
{
	json__obj_open(j, NULL);
	json__lit(j, "type", type);
	json__u64(j, "schema", SYNFIN_SCHEMA_VERSION);
	time_field(j, "time", at, clk);
}

static void common_head_(struct json *j, const char *type, const struct sf_flow *f, uint64_t at,
			 bool network, const struct sf_clock *clk)
{
	char id[20];

	record_head(j, type, at, clk);
	hex64(id, sf_flow_id(f->sk, f->gen));
	json__str_safe(j, "id", id, 16);
	json__u64(j, "netns", f->netns);
	if (network) {
		json__obj_open(j, "network");
		json__lit(j, "transport", "tcp");
		json__lit(j, "type", f->family == SF_AF_INET6 ? "ipv6" : "ipv4");
		json__obj_close(j);
	}
	endpoint(j, "local", f->family, f->saddr, f->sport);
	if (strcmp(type, "listen") != 0)
		endpoint(j, "peer", f->family, f->daddr, f->dport);
}

static void common_head(struct json *j, const char *type, const struct sf_flow *f, uint64_t at,
			const struct sf_clock *clk)
{
	common_head_(j, type, f, at, true, clk);
}

/* "container": runtime, id (null for a pod's own cgroup), pod */
static void container_field(struct json *j, const struct cg_owner *o)
{
	json__obj_open(j, "container");
	json__lit(j, "runtime", cg_runtime_name(o->runtime));
	if (o->id[0])
		json__str_safe(j, "id", o->id, strlen(o->id));
	else
		json__null(j, "id");
	if (o->pod_uid[0])
		json__str_safe(j, "pod_uid", o->pod_uid, strlen(o->pod_uid));
	json__obj_close(j);
}

/* The cgroup's path and, when its name says, the container (runtime, id,
 * pod) or the systemd unit. cg NULL: ids are not resolved (--replay). */
static void cgroup_fields(struct json *j, const struct cg_info *cg)
{
	const struct cg_owner *o = &cg->owner;

	if (!cg->path) {
		json__null(j, "cgroup");
		return;
	}
	json__strn(j, "cgroup", cg->path, strlen(cg->path));
	if (o->runtime != CG_RT_NONE)
		container_field(j, o);
	else if (o->unit[0])
		json__strn(j, "unit", o->unit, strlen(o->unit));
}

/* A summary names the cgroup once, by the most specific name it has: the
 * container, else the systemd unit, else the path, else the id (a full
 * record and the cgroup's summary records carry all of them). */
static void cgroup_once(struct json *j, const struct sf_flow *f, const struct cg_info *cg)
{
	const struct cg_owner *o = cg ? &cg->owner : NULL;

	if (!cg || !cg->path) {
		if (f->cgroup_id)
			json__u64(j, "cgroup_id", f->cgroup_id);
		if (cg && f->cgroup_id) /* looked for, not found (removed) */
			json__null(j, "cgroup");
	} else if (o->runtime != CG_RT_NONE && o->id[0]) {
		container_field(j, o);
	} else if (o->runtime == CG_RT_NONE && o->unit[0]) {
		json__strn(j, "unit", o->unit, strlen(o->unit));
	} else {
		cgroup_fields(j, cg);
	}
}

/* the owner's usual source for its role: what a summary leaves unsaid */
static bool source_usual(const struct sf_flow *f)
{
	return (f->role == SF_ROLE_CLIENT && f->owner_src == SF_OWNER_CONNECT) ||
	       (f->role == SF_ROLE_SERVER && f->owner_src == SF_OWNER_ACCEPT);
}

static void process_(struct json *j, const struct sf_flow *f, const struct cg_info *cg, bool full)
{
	size_t n = strnlen(f->comm, sizeof(f->comm));

	json__obj_open(j, "process");
	if (f->owner_src == SF_OWNER_NONE) {
		json__null(j, "pid");
	} else {
		/* ids in synfin's PID namespace; none for an owner outside it */
		if (f->tgid) {
			json__u64(j, "pid", f->tgid);
			if (full)
				json__u64(j, "tid", f->pid);
		} else {
			json__null(j, "pid");
			if (full)
				json__null(j, "tid");
		}
		if (f->host_tgid)
			json__u64(j, "host_pid", f->host_tgid);
		json__strn(j, "comm", f->comm, n);
		if (!full) {
			cgroup_once(j, f, cg);
		} else {
			if (f->cgroup_id) /* unknown for sockets found at start-up */
				json__u64(j, "cgroup_id", f->cgroup_id);
			else
				json__null(j, "cgroup_id");
			if (cg)
				cgroup_fields(j, cg);
		}
	}
	if (full || !source_usual(f))
		json__lit(j, "source", sf_owner_src_name(f->owner_src));
	json__obj_close(j);
}

static void process(struct json *j, const struct sf_flow *f, const struct cg_info *cg)
{
	process_(j, f, cg, true);
}

static void us(struct json *j, const char *key, uint64_t ns)
{
	json__u64(j, key, ns / 1000);
}

/* to - from, unless to is before from: events of a corrupted recording
 * can be the wrong way round, and the difference taken anyway would print
 * as 584,942 years. No number is better than that one. */
static void us_between(struct json *j, const char *key, uint64_t from, uint64_t to)
{
	if (to >= from)
		us(j, key, to - from);
}

static const char *errno_name(int e)
{
	switch (e) {
	case ECONNREFUSED: return "ECONNREFUSED";
	case ETIMEDOUT: return "ETIMEDOUT";
	case ECONNRESET: return "ECONNRESET";
	case EHOSTUNREACH: return "EHOSTUNREACH";
	case ENETUNREACH: return "ENETUNREACH";
	case EPIPE: return "EPIPE";
	case ECONNABORTED: return "ECONNABORTED";
	case EPROTO: return "EPROTO";
	default: return NULL;
	}
}

static const char *const slot_names[SF_SEG_SLOTS] = {
	[SF_SEG_SYN] = "SYN",	      [SF_SEG_SYNACK] = "SYN-ACK", [SF_SEG_ACK] = "ACK",
	[SF_SEG_FIN1] = "FIN",	      [SF_SEG_FIN1_ACK] = "ACK",   [SF_SEG_FIN2] = "FIN",
	[SF_SEG_FIN2_ACK] = "ACK", [SF_SEG_RST] = "RST",
};

static bool has(const struct sf_segs *g, int slot)
{
	return g->have & (1u << slot);
}

static void tcp_flags(char *buf, __u8 fl)
{
	static const char names[] = "FSRPAUEC";
	int n = 0;

	for (int i = 0; i < 8; i++)
		if (fl & (1u << i))
			buf[n++] = names[i];
	buf[n] = 0;
}

static void retransmits(struct json *j, uint64_t syn, uint64_t synack, uint64_t fin)
{
	json__obj_open(j, "retransmits");
	json__u64(j, "syn", syn);
	json__u64(j, "synack", synack);
	json__u64(j, "fin", fin);
	json__obj_close(j);
}

static void seg_entry(struct json *j, const struct sf_segs *g, const struct sf_summary *s, int slot,
		      uint64_t start)
{
	const struct sf_seg_rec *r = &g->slot[slot];
	char fl[10];

	tcp_flags(fl, r->flags);
	json__obj_open(j, NULL);
	if (slot != SF_SEG_RST)
		json__u64(j, "n", slot);
	json__lit(j, "segment", slot_names[slot]);
	json__lit(j, "dir", r->out ? "out" : "in");
	/* before the flow's start, for a segment of a reordered stream */
	json__i64(j, "at_us", r->ts >= start ? (int64_t)((r->ts - start) / 1000) : -(int64_t)((start - r->ts) / 1000));
	json__lit(j, "flags", fl);
	json__u64(j, "seq", r->seq);
	json__u64(j, "ack", r->ack);
	json__u64(j, "win", r->window);
	if (r->payload)
		json__u64(j, "len", r->payload);
	/* the seed: each answer acknowledges the sequence + 1 */
	if (s->acks_checked & (1u << slot))
		json__bool(j, "acks_ok", s->acks_ok & (1u << slot));
	json__obj_close(j);
}

static void span(struct json *j, const char *key, const struct sf_segs *g, int a, int b)
{
	if (has(g, a) && has(g, b) && g->slot[b].ts >= g->slot[a].ts)
		json__u64(j, key, (g->slot[b].ts - g->slot[a].ts) / 1000);
}

static void segments(struct json *j, const struct sf_segs *g, const struct sf_summary *s)
{
	const char *shape = sf_teardown_name(s->teardown);

	json__obj_open(j, "segments");
	json__arr_open(j, "handshake");
	for (int i = SF_SEG_SYN; i <= SF_SEG_ACK; i++)
		if (s->seg_listed & (1u << i))
			seg_entry(j, g, s, i, s->start_ts);
	json__arr_close(j);
	json__arr_open(j, "teardown");
	for (int i = SF_SEG_FIN1; i <= SF_SEG_FIN2_ACK; i++)
		if (s->seg_listed & (1u << i))
			seg_entry(j, g, s, i, s->start_ts);
	json__arr_close(j);
	if (has(g, SF_SEG_RST)) {
		json__arr_open(j, "reset");
		seg_entry(j, g, s, SF_SEG_RST, s->start_ts);
		json__arr_close(j);
	}
	if (shape)
		json__lit(j, "close", shape);
	if (has(g, SF_SEG_FIN1))
		json__lit(j, "first_fin", g->slot[SF_SEG_FIN1].out ? "local" : "peer");
	retransmits(j, g->syn_rtx, g->synack_rtx, g->fin_rtx);
	json__obj_open(j, "durations_us");
	span(j, "syn_to_synack", g, SF_SEG_SYN, SF_SEG_SYNACK);
	span(j, "synack_to_ack", g, SF_SEG_SYNACK, SF_SEG_ACK);
	span(j, "syn_to_ack", g, SF_SEG_SYN, SF_SEG_ACK);
	span(j, "fin_to_ack", g, SF_SEG_FIN1, SF_SEG_FIN1_ACK);
	span(j, "fin_to_fin", g, SF_SEG_FIN1, SF_SEG_FIN2);
	span(j, "fin_to_last_ack", g, SF_SEG_FIN2, SF_SEG_FIN2_ACK);
	span(j, "teardown", g, SF_SEG_FIN1, SF_SEG_FIN2_ACK);
	json__obj_close(j);
	json__obj_close(j);
}

/* One line for the segments a summary record does not list: each listed
 * one by direction (> sent, < received) and kind, the handshake and the
 * teardown apart, e.g. ">S <SA >A | >F <A <F >A". */
static size_t seg_digest(char *buf, const struct sf_segs *g, const struct sf_summary *s)
{
	static const char *const abbrev[SF_SEG_SLOTS] = {
		[SF_SEG_SYN] = "S",  [SF_SEG_SYNACK] = "SA",   [SF_SEG_ACK] = "A",
		[SF_SEG_FIN1] = "F", [SF_SEG_FIN1_ACK] = "A", [SF_SEG_FIN2] = "F",
		[SF_SEG_FIN2_ACK] = "A", [SF_SEG_RST] = "R",
	};
	bool teardown = false;
	char *p = buf;

	for (int i = SF_SEG_SYN; i < SF_SEG_SLOTS; i++) {
		bool listed = i == SF_SEG_RST ? has(g, i) : (s->seg_listed & (1u << i));

		if (!listed)
			continue;
		if (p != buf)
			*p++ = ' ';
		if (i >= SF_SEG_FIN1 && !teardown) {
			memcpy(p, "| ", 2);
			p += 2;
		}
		teardown |= i >= SF_SEG_FIN1;
		*p++ = g->slot[i].out ? '>' : '<';
		/* slot 6 also acknowledging 4 (a three-way teardown) */
		if (i == SF_SEG_FIN2 && !(s->seg_listed & (1u << SF_SEG_FIN1_ACK)) &&
		    (g->slot[i].flags & SF_TH_ACK)) {
			memcpy(p, "FA", 2);
			p += 2;
			continue;
		}
		p += strlen(strcpy(p, abbrev[i]));
	}
	*p = 0;
	return (size_t)(p - buf);
}

static void segments_summary(struct json *j, const struct sf_segs *g, const struct sf_summary *s)
{
	char digest[SF_SEG_SLOTS * 6];

	json__obj_open(j, "segments");
	json__str_safe(j, "digest", digest, seg_digest(digest, g, s));
	if (s->acks_checked)
		json__bool(j, "acks_ok", s->acks_ok == s->acks_checked);
	if (g->syn_rtx || g->synack_rtx || g->fin_rtx)
		retransmits(j, g->syn_rtx, g->synack_rtx, g->fin_rtx);
	json__obj_close(j);
}

static const char *src_name(unsigned int src)
{
	const char *n = sf_time_src_name(src);

	return n ? n : "state_event";
}

/* one "durations_from" member, the object opened by the first */
static void from_field(struct json *j, bool *open, const char *key, unsigned int src)
{
	if (!*open)
		json__obj_open(j, "durations_from");
	*open = true;
	json__lit(j, key, src_name(src));
}

/* Durations bounded by something else than two state events: where each
 * bound came from (the less exact of the two). */
static void durations_from(struct json *j, const struct sf_summary *s, bool states_only)
{
	unsigned int keyed = 0; /* as in durations_us */
	unsigned int said = 1u << SF_SRC_EVENT | 1u << SF_SRC_SEGMENT; /* sources named */
	bool open = false;

	for (int i = 0; i < s->path_len; i++) {
		unsigned int st = s->path[i];

		/* a summary names only the bounds nothing measured: a
		 * captured segment's time is the wire's, as exact as a
		 * state event's (a server's half-open dwell always ends at
		 * its final ACK's) */
		if ((s->have_dwell & (1u << st) & ~keyed) && s->dwell_src[st] &&
		    !(states_only && s->dwell_src[st] == SF_SRC_SEGMENT)) {
			from_field(j, &open, sf_state_key(st), s->dwell_src[st]);
			said |= 1u << s->dwell_src[st];
		}
		keyed |= 1u << st;
	}
	/* a summary: the handshake's and the lifetime's bounds are the
	 * states' (said above), unless a gap left a bound no dwell has */
	if (s->handshake_ns >= 0 && s->handshake_src && (!states_only || !(said & 1u << s->handshake_src)))
		from_field(j, &open, "handshake", s->handshake_src);
	if (s->lifetime_ns >= 0 && s->lifetime_src && (!states_only || !(said & 1u << s->lifetime_src)))
		from_field(j, &open, "lifetime", s->lifetime_src);
	if (open)
		json__obj_close(j);
}

/* partial reasons, in the order records list them */
static const struct {
	__u16 bit;
	const char *name;
} partial_names[] = {
	{ SF_PART_MID_FLOW, "started_mid_flow" }, { SF_PART_MISSED, "birth_not_seen" },
	{ SF_PART_GAP, "missed_transition" },	  { SF_PART_EVICTED, "evicted" },
	{ SF_PART_VANISHED, "vanished" },	  { SF_PART_END_UNSEEN, "end_not_observed" },
	{ SF_PART_LOST, "events_lost" },
};

/* A summary's time_wait object would only repeat the path (...>FROM>TIME_WAIT),
 * the record's time (TIME_WAIT began when the flow ended) and, where it
 * is inexact, durations_from (the FROM dwell ends where TIME_WAIT began).
 * The hand-over is Linux's internal moment: in full records only. */
static bool tw_said(const struct sf_summary *s)
{
	unsigned int from = s->time_wait_from;

	return s->path_len >= 2 && s->path[s->path_len - 1] == SF_TCP_TIME_WAIT &&
	       s->path[s->path_len - 2] == from && s->tw_entered_ts == s->end_ts &&
	       (s->tw_entered_src <= SF_SRC_SEGMENT ||
		(from < SF_TCP_NSTATES && s->dwell_src[from] == s->tw_entered_src));
}

static bool handshake_said(const struct sf_flow *f, const struct sf_summary *s)
{
	if (f->role == SF_ROLE_CLIENT)
		return s->connect_ns == s->handshake_ns;
	return (s->have_dwell & (1u << SF_TCP_SYN_RECV)) && s->dwell[SF_TCP_SYN_RECV] == (__u64)s->handshake_ns;
}

static void flow_body(struct json *j, const struct sf_record *rec, const struct sf_clock *clk)
{
	const struct sf_flow *f = rec->flow;
	const struct sf_segs *g = rec->segs;
	const struct sf_summary *s = rec->sum;
	int detail = rec->detail;
	char path[SF_TCP_NSTATES * 16];
	bool summary = detail == SF_DETAIL_SUMMARY;
	unsigned int done = 0; /* a state in the path twice has one key */
	size_t plen = 0;
	int i;

	json__lit(j, "role", sf_role_name(f->role));
	/* appended where the last one ended (strcat walked the path from its
	 * start for each state: 6% of the daemon's samples in perf) */
	for (i = 0; i < s->path_len; i++) {
		const char *name = sf_state_name(s->path[i]);
		size_t n = strlen(name);

		if (plen + n + 1 >= sizeof(path))
			break;
		if (i)
			path[plen++] = '>';
		memcpy(path + plen, name, n);
		plen += n;
	}
	json__str_safe(j, "path", path, plen);
	json__lit(j, "close", sf_close_name(s->close));
	json__lit(j, "closer", s->closer);
	/* a summary says only what its other fields do not: the end is
	 * its time, the start its time less the lifetime */
	if (!summary)
		json__bool(j, "established", s->established);
	if (!summary || s->lifetime_ns < 0)
		time_field(j, "start", s->start_ts, clk);
	if (!summary)
		time_field(j, "end", s->end_ts, clk);

	json__obj_open(j, "durations_us");
	for (i = 0; i < s->path_len; i++) {
		unsigned int st = s->path[i];

		if (s->have_dwell & (1u << st) & ~done)
			us(j, sf_state_key(st), s->dwell[st]);
		done |= 1u << st;
	}
	if (s->connect_ns >= 0)
		us(j, "connect", (uint64_t)s->connect_ns);
	/* the handshake is a client's connect, a server's syn_received
	 * dwell: a summary says it once */
	if (s->handshake_ns >= 0 && !(summary && handshake_said(f, s)))
		us(j, "handshake", (uint64_t)s->handshake_ns);
	if (s->lifetime_ns >= 0)
		us(j, "lifetime", (uint64_t)s->lifetime_ns);
	else
		us_between(j, "observed", s->start_ts, s->end_ts);
	json__obj_close(j);
	/* a summary: the phases' bounds are the states' (see docs/schema.md) */
	durations_from(j, s, summary);

	if (summary && (s->time_wait_inferred || s->handoff_ts) && !tw_said(s)) {
		json__obj_open(j, "time_wait");
		json__lit(j, "from", sf_state_name(s->time_wait_from));
		/* the times the full record gives, where not the record's own */
		if (!s->tw_entered_ts)
			json__null(j, "entered");
		else if (s->tw_entered_ts != s->end_ts)
			time_field(j, "entered", s->tw_entered_ts, clk);
		if (s->tw_entered_ts && s->tw_entered_src > SF_SRC_SEGMENT)
			json__lit(j, "entered_from", src_name(s->tw_entered_src));
		json__obj_close(j);
	} else if (!summary && (s->time_wait_inferred || s->handoff_ts)) {
		/* no state event announces TIME_WAIT: Linux hands the socket
		 * to a time-wait socket, in FIN_WAIT_2 until the peer's FIN */
		json__obj_open(j, "time_wait");
		json__bool(j, "inferred", true);
		json__lit(j, "from", sf_state_name(s->time_wait_from));
		if (s->tw_entered_ts) {
			time_field(j, "entered", s->tw_entered_ts, clk);
			json__lit(j, "entered_from", src_name(s->tw_entered_src));
		} else {
			json__null(j, "entered");
		}
		time_field(j, "handoff", s->handoff_ts, clk);
		json__obj_close(j);
	}
	if (f->syn_retrans || f->synack_retrans || f->fin_retrans)
		retransmits(j, f->syn_retrans, f->synack_retrans, f->fin_retrans);
	if (f->rst_sent || f->rst_recv) {
		json__obj_open(j, "reset");
		json__lit(j, "sent_in", f->rst_sent ? sf_state_name(f->rst_sent) : NULL);
		json__lit(j, "received_in", f->rst_recv ? sf_state_name(f->rst_recv) : NULL);
		json__obj_close(j);
	}
	if (f->sk_err) {
		json__obj_open(j, "error");
		json__u64(j, "errno", f->sk_err);
		json__lit(j, "name", errno_name(f->sk_err));
		json__obj_close(j);
	}
	if (g && detail == SF_DETAIL_SUMMARY)
		segments_summary(j, g, s);
	else if (g)
		segments(j, g, s);
	process_(j, f, rec->cgroup, !summary);
	if (!summary || s->partial)
		json__bool(j, "partial", s->partial);
	if (s->partial) {
		json__arr_open(j, "partial_reasons");
		for (i = 0; i < (int)(sizeof(partial_names) / sizeof(partial_names[0])); i++)
			if (s->partial_reasons & partial_names[i].bit)
				json__lit(j, NULL, partial_names[i].name);
		json__arr_close(j);
	}
	if ((f->partial & SF_PART_OUT_OF_ORDER) || f->duplicates) {
		json__obj_open(j, "anomalies");
		json__bool(j, "reordered", f->partial & SF_PART_OUT_OF_ORDER);
		json__u64(j, "duplicates", f->duplicates);
		json__obj_close(j);
	}
}

static void stuck_body(struct json *j, const struct sf_record *rec, const struct sf_clock *clk)
{
	const struct sf_flow *f = rec->flow;

	json__lit(j, "role", sf_role_name(f->role));
	json__lit(j, "state", sf_state_name(rec->state));
	if (rec->type == SF_REC_RESOLVED) {
		/* 0: it left the kernel's list unseen (a half-open request
		 * completed or expired) or the flow table evicted it */
		json__lit(j, "next", rec->next_state ? sf_state_name(rec->next_state) : "gone");
		us(j, "stuck_us", rec->age_ns);
	} else {
		us(j, "age_us", rec->age_ns);
	}
	/* entered before synfin saw it: the age is at least this much */
	json__bool(j, "age_is_lower_bound", rec->age_lower_bound);
	us(j, "threshold_us", rec->threshold_ns);
	time_field(j, "since", rec->at - rec->age_ns, clk);
	json__bool(j, "pre_existing", f->pre_existing);
	process(j, f, rec->cgroup);
}

static const char *const pileup_names[PILEUP_KINDS] = {
	[PILEUP_TIME_WAIT_REMOTE] = "time_wait_per_remote",
	[PILEUP_CLOSE_WAIT_PROCESS] = "close_wait_per_process",
};

static void pileup_record(struct json *j, const struct sf_record *rec, const struct sf_clock *clk)
{
	const struct pileup_event *p = rec->pileup;

	record_head(j, "pileup", p->at, clk);
	json__lit(j, "kind", pileup_names[p->kind]);
	json__lit(j, "event", p->start ? "start" : "end");
	json__u64(j, "netns", p->key->netns);
	if (p->kind == PILEUP_TIME_WAIT_REMOTE) {
		json__obj_open(j, "network");
		json__lit(j, "transport", "tcp");
		json__lit(j, "type", p->key->family == SF_AF_INET6 ? "ipv6" : "ipv4");
		json__obj_close(j);
		endpoint(j, "peer", p->key->family, p->key->addr, p->key->port);
	} else {
		json__obj_open(j, "process");
		json__u64(j, "pid", p->key->tgid);
		json__strn(j, "comm", p->comm, strnlen(p->comm, 16));
		json__obj_close(j);
	}
	json__u64(j, "count", p->count);
	json__u64(j, "peak", p->peak);
	json__u64(j, "threshold", p->threshold);
	time_field(j, "since", p->since, clk);
	if (!p->start)
		us_between(j, "duration_us", p->since, p->at);
}

static const char *const tw_exit_names[] = {
	[TW_EXIT_EXPIRED] = "expired",
	[TW_EXIT_REUSED] = "reused",
	[TW_EXIT_RESET] = "reset",
	[TW_EXIT_EVICTED] = "untracked",
};

static void time_wait_record(struct json *j, const struct tw_record *r, const struct sf_clock *clk)
{
	char id[20];

	record_head(j, "time_wait", r->exited, clk);
	if (r->pre_existing) {
		json__null(j, "id");
	} else {
		hex64(id, sf_flow_id(r->flow_id_sk, r->flow_id_gen));
		json__str_safe(j, "id", id, 16); /* the flow record of the socket it was */
	}
	json__u64(j, "netns", r->key->netns);
	json__obj_open(j, "network");
	json__lit(j, "transport", "tcp");
	json__lit(j, "type", r->key->family == SF_AF_INET6 ? "ipv6" : "ipv4");
	json__obj_close(j);
	endpoint(j, "local", r->key->family, r->key->laddr, r->key->lport);
	endpoint(j, "peer", r->key->family, r->key->raddr, r->key->rport);
	json__lit(j, "exit", tw_exit_names[r->exit]);
	/* false: noticed by reading the kernel's list, up to one
	 * reconciliation interval after it happened */
	json__bool(j, "exact", r->exact);
	json__bool(j, "pre_existing", r->pre_existing);
	if (r->pre_existing) {
		json__null(j, "handoff");
	} else {
		json__lit(j, "from", sf_state_name(r->from));
		time_field(j, "handoff", r->handoff, clk);
	}
	if (r->entered) {
		time_field(j, "entered", r->entered, clk);
		json__lit(j, "entered_from", src_name(r->entered_src));
		us(j, "dwell_us", r->exited > r->entered ? r->exited - r->entered : 0);
	} else {
		json__null(j, "entered");
	}
	time_field(j, "exited", r->exited, clk);
	if (!r->pre_existing)
		us_between(j, "since_handoff_us", r->handoff, r->exited);
}

static void agg_key(struct json *j, const struct agg_entry *e, const struct cg_info *cg)
{
	if (e->other) {
		json__obj_open(j, "other");
		json__u64(j, "keys", e->keys);
		/* more keys came than could be followed: "keys" is a floor */
		json__bool(j, "untracked", e->untracked);
		json__obj_close(j);
		return;
	}
	switch (e->kind) {
	case AGG_LISTENER:
		json__u64(j, "netns", e->netns);
		json__u64(j, "port", e->port);
		break;
	case AGG_REMOTE:
		json__u64(j, "netns", e->netns);
		endpoint(j, "peer", e->family, e->addr, e->port);
		break;
	case AGG_PROCESS:
		json__strn(j, "comm", e->comm, strnlen(e->comm, sizeof(e->comm)));
		break;
	default:
		json__u64(j, "cgroup_id", e->cgroup_id);
		if (cg)
			cgroup_fields(j, cg);
		break;
	}
}

/* "p50"...: within a factor of 2 (log2 buckets); log2_us[i] counts
 * values below 2^i us (and from 2^(i-1)), up to the last non-empty one */
static void agg_hist_json(struct json *j, const char *key, const struct agg_hist *h)
{
	int last = AGG_BUCKETS - 1;

	json__obj_open(j, key);
	json__u64(j, "count", h->count);
	json__u64(j, "p50", (uint64_t)agg_hist__quantile_us(h, 0.5));
	json__u64(j, "p90", (uint64_t)agg_hist__quantile_us(h, 0.9));
	json__u64(j, "p99", (uint64_t)agg_hist__quantile_us(h, 0.99));
	json__u64(j, "max", h->max_us);
	json__u64(j, "sum", h->sum_us);
	while (last > 0 && !h->bucket[last])
		last--;
	json__arr_open(j, "log2_us");
	for (int i = 0; i <= last; i++)
		json__u64(j, NULL, h->bucket[i]);
	json__arr_close(j);
	json__obj_close(j);
}

static void summary_record(struct json *j, const struct sf_record *rec, const struct sf_clock *clk)
{
	const struct agg_entry *e = rec->agg;
	const struct agg_counts *c = &e->c;

	record_head(j, "summary", rec->at, clk);
	time_field(j, "since", rec->since, clk);
	json__lit(j, "kind", agg_kind_name(e->kind));
	agg_key(j, e, rec->cgroup);
	json__u64(j, "flows", c->flows);
	json__obj_open(j, "closed");
	for (size_t i = 0; i < sizeof(c->closed) / sizeof(c->closed[0]); i++)
		if (c->closed[i])
			json__u64(j, sf_close_name((enum sf_close_kind)i), c->closed[i]);
	json__obj_close(j);
	json__obj_open(j, "failed");
	for (int i = 0; i < AGG_FAIL_KINDS; i++)
		if (c->failed[i])
			json__u64(j, agg_fail_name(i), c->failed[i]);
	json__obj_close(j);
	json__u64(j, "partial", c->partial);
	retransmits(j, c->retrans_syn, c->retrans_synack, c->retrans_fin);
	json__obj_open(j, "stuck");
	for (unsigned int st = 1; st < SF_TCP_NSTATES; st++)
		if (c->stuck[st])
			json__u64(j, sf_state_name(st), c->stuck[st]);
	json__obj_close(j);
	json__obj_open(j, "phases_us");
	for (int p = 0; p < AGG_PHASES; p++)
		if (c->phase[p].count)
			agg_hist_json(j, agg_phase_name(p), &c->phase[p]);
	json__obj_close(j);
}

/* Events lost since the previous loss record: how many, where, and which
 * flows were open then (their records say events_lost). */
static void loss_record(struct json *j, const struct sf_loss *l, uint64_t at, const struct sf_clock *clk)
{
	char id[20];

	record_head(j, "loss", at, clk);
	time_field(j, "since", l->since, clk);
	json__u64(j, "lost", l->lost);
	json__u64(j, "total", l->total);
	json__obj_open(j, "where");
	json__u64(j, "ringbuf_reserve_failed", l->ring_full);
	json__arr_open(j, "ringbuf_reserve_failed_by_ring");
	for (int i = 0; i < l->nrings && i < 16; i++)
		json__u64(j, NULL, l->ring_full_by_ring[i]);
	json__arr_close(j);
	json__u64(j, "recursion_misses", l->recursion);
	json__u64(j, "socket_map_update_failed", l->map_full);
	json__u64(j, "bad_size", l->bad_size);
	json__obj_close(j);
	json__obj_open(j, "partial_flows");
	json__u64(j, "count", l->flows);
	json__arr_open(j, "ids");
	for (__u32 i = 0; i < l->nids && i < SF_LOSS_IDS; i++) {
		hex64(id, sf_flow_id(l->sk[i], l->gen[i]));
		json__str_safe(j, NULL, id, 16);
	}
	json__arr_close(j);
	json__obj_close(j);
}

void record_json__record(struct json *j, const struct sf_record *rec, const struct sf_clock *clk)
{
	const struct sf_flow *f = rec->flow;

	switch (rec->type) {
	case SF_REC_FLOW:
		common_head_(j, "flow", f, rec->sum->end_ts, rec->detail != SF_DETAIL_SUMMARY, clk);
		flow_body(j, rec, clk);
		break;
	case SF_REC_LISTEN_START:
		common_head(j, "listen", f, f->pre_existing ? rec->at : f->state_ts[SF_TCP_LISTEN], clk);
		json__lit(j, "event", "start");
		json__bool(j, "pre_existing", f->pre_existing);
		process(j, f, rec->cgroup);
		break;
	case SF_REC_LISTEN_STOP:
		/* not closed: the table evicted it; it may still be listening */
		common_head(j, "listen", f, f->closed ? f->state_ts[SF_TCP_CLOSE] : f->last_ts, clk);
		json__lit(j, "event", f->closed ? "stop" : "evicted");
		if (f->closed && (f->seen & (1u << SF_TCP_LISTEN)))
			us_between(j, "duration_us", f->state_ts[SF_TCP_LISTEN], f->state_ts[SF_TCP_CLOSE]);
		json__u64(j, "connections", f->children);
		json__u64(j, "synack_retransmits", f->synack_retrans);
		json__bool(j, "partial", f->partial & (SF_PART_MID_FLOW | SF_PART_MISSED));
		process(j, f, rec->cgroup);
		break;
	case SF_REC_STUCK:
		common_head(j, "stuck", f, rec->at, clk);
		stuck_body(j, rec, clk);
		break;
	case SF_REC_RESOLVED:
		common_head(j, "resolved", f, rec->at, clk);
		stuck_body(j, rec, clk);
		break;
	case SF_REC_PILEUP:
		pileup_record(j, rec, clk);
		break;
	case SF_REC_TIME_WAIT:
		time_wait_record(j, rec->tw, clk);
		break;
	case SF_REC_STATS:
		record_head(j, "stats", rec->at, clk);
		stats__json(j, rec->stats);
		break;
	case SF_REC_SUMMARY:
		summary_record(j, rec, clk);
		break;
	case SF_REC_LOSS:
		loss_record(j, rec->loss, rec->at, clk);
		break;
	}
	json__obj_close(j);
	json__newline(j);
}

void record_json__open(struct json *j, const struct sf_flow *f, const struct cg_info *cg, uint64_t now,
		       const struct sf_clock *clk)
{
	/* in this state since before synfin saw it: a lower bound */
	bool lower = !(f->seen & (1u << f->state));
	uint64_t since = lower ? f->first_ts : f->state_ts[f->state];

	common_head(j, "open", f, now, clk);
	json__lit(j, "role", sf_role_name(f->role));
	json__lit(j, "state", sf_state_name(f->state));
	us(j, "age_us", now > since ? now - since : 0);
	json__bool(j, "age_is_lower_bound", lower);
	time_field(j, "since", since, clk);
	time_field(j, "first_seen", f->first_ts, clk);
	json__bool(j, "stuck", f->stuck != 0);
	json__bool(j, "pre_existing", f->pre_existing);
	process(j, f, cg);
	json__obj_close(j);
	json__newline(j);
}

void record_json__hello(struct json *j, const struct sf_hello *h, uint64_t now, const struct sf_clock *clk)
{
	record_head(j, "hello", now, clk);
	json__str(j, "version", h->version);
	json__str(j, "host", h->host);
	time_field(j, "started", h->started, clk);
	us(j, "uptime_us", now > h->started ? now - h->started : 0);
	json__obj_open(j, "capture");
	json__str(j, "state_changes", h->capture);
	json__bool(j, "segments", h->segments);
	json__bool(j, "snapshot", h->snapshot);
	json__arr_open(j, "netns");
	for (int i = 0; i < h->n_netns; i++)
		json__u64(j, NULL, h->netns[i]);
	json__arr_close(j);
	json__obj_close(j);
	json__obj_close(j);
	json__newline(j);
}

void record_json__dropped(struct json *j, uint64_t n, uint64_t now, const struct sf_clock *clk)
{
	record_head(j, "dropped", now, clk);
	json__u64(j, "lines", n);
	json__obj_close(j);
	json__newline(j);
}

void record_json__reply_flows(struct json *j, const char *id, const struct sf_record *const *recs, int n,
			      uint64_t now, const struct sf_clock *clk)
{
	record_head(j, "reply", now, clk);
	json__lit(j, "get", "flow");
	json__strn(j, "id", id, strlen(id));
	json__arr_open(j, "flows");
	for (int i = 0; i < n; i++) {
		/* a record's line, as a value of the array: no newline */
		record_json__record(j, recs[i], clk);
		if (j->len && j->buf[j->len - 1] == '\n')
			j->len--;
		j->need_comma[j->depth] = true;
	}
	json__arr_close(j);
	json__obj_close(j);
	json__newline(j);
}

static void top_entries(struct json *j, const char *key, const struct sf_top_entry *e, int n, bool process)
{
	json__arr_open(j, key);
	for (int i = 0; i < n; i++) {
		json__obj_open(j, NULL);
		json__u64(j, "netns", e[i].netns);
		if (process) {
			if (e[i].tgid)
				json__u64(j, "pid", e[i].tgid);
			else
				json__null(j, "pid");
			json__strn(j, "comm", e[i].comm, strnlen(e[i].comm, sizeof(e[i].comm)));
		} else {
			endpoint(j, "peer", e[i].family, e[i].addr, e[i].port);
		}
		json__u64(j, "count", e[i].count);
		json__obj_close(j);
	}
	json__arr_close(j);
}

void record_json__reply_top(struct json *j, const struct sf_top_reply *t, uint64_t now, const struct sf_clock *clk)
{
	record_head(j, "reply", now, clk);
	json__lit(j, "get", "top");
	json__obj_open(j, "latency_us");
	agg_hist_json(j, "connect", t->connect);
	agg_hist_json(j, "handshake", t->handshake);
	json__obj_close(j);
	json__obj_open(j, "time_wait");
	json__u64(j, "sockets", t->tw_sockets);
	json__u64(j, "remotes", t->tw_keys);
	top_entries(j, "by_remote", t->tw, t->n_tw, false);
	json__obj_close(j);
	json__obj_open(j, "close_wait");
	json__u64(j, "sockets", t->cw_sockets);
	json__u64(j, "processes", t->cw_keys);
	top_entries(j, "by_process", t->cw, t->n_cw, true);
	json__obj_close(j);
	json__obj_close(j);
	json__newline(j);
}

void record_json__error(struct json *j, const char *get, const char *id, const char *error, const char *message,
			uint64_t now, const struct sf_clock *clk)
{
	record_head(j, "error", now, clk);
	if (get)
		json__strn(j, "get", get, strlen(get));
	if (id)
		json__strn(j, "id", id, strlen(id));
	json__lit(j, "error", error);
	json__strn(j, "message", message, strlen(message));
	json__obj_close(j);
	json__newline(j);
}
