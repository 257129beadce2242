// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <stdlib.h>
#include <string.h>
#include "stats.h"

static uint64_t events_received(const struct sf_stats *s)
{
	return s->table.events + s->table.decode_errors + s->rb_bad_size;
}

static uint64_t events_lost(const struct sf_stats *s)
{
	return s->bpf[SF_CNT_RB_FULL] + s->recursion_misses;
}

static uint64_t decode_errors(const struct sf_stats *s)
{
	return s->table.decode_errors + s->rb_bad_size;
}

static uint64_t stuck_now(const struct sf_stats *s)
{
	return s->table.stuck_total - s->table.resolved_total;
}

#define AT(field) offsetof(struct sf_stats, field)
#define U64(g, n, k, field, h) { g, n, h, SF_STAT_##k, SF_STAT_U64, AT(field), NULL }
#define U32(g, n, k, field, h) { g, n, h, SF_STAT_##k, SF_STAT_U32, AT(field), NULL }
#define SECS(g, n, k, field, h) { g, n, h, SF_STAT_##k, SF_STAT_SECONDS, AT(field), NULL }
#define STATES(g, n, field, h) { g, n, h, SF_STAT_GAUGE, SF_STAT_BY_STATE, AT(field), NULL }
#define ROLES(g, n, field, h) { g, n, h, SF_STAT_COUNTER, SF_STAT_BY_ROLE, AT(field), NULL }
#define LISTENERS(g, n, field, h) { g, n, h, SF_STAT_GAUGE, SF_STAT_BY_LISTENER, AT(field), NULL }
#define DERIVED(g, n, k, fn, h) { g, n, h, SF_STAT_##k, SF_STAT_DERIVED, 0, fn }

const struct sf_stat_def sf_stat_defs[] = {
	SECS(NULL, "uptime_s", GAUGE, uptime_s, "seconds since capture (or the replay) started"),
	SECS(NULL, "interval_s", ATTR, interval_s, "seconds since the previous stats record"),

	DERIVED("events", "received", COUNTER, events_received, "events read from the ring buffers"),
	DERIVED("events", "lost", COUNTER, events_lost,
		"events the kernel produced and synfin did not get: ring buffer full + program runs the kernel skipped"),
	DERIVED("events", "decode_errors", COUNTER, decode_errors,
		"records that did not decode (wrong size, version, kind, state)"),
	U64("events", "loss_records", COUNTER, loss_records,
	    "loss records written (at most one a second while events are being lost)"),
	U64("events", "duplicates", COUNTER, table.duplicates, "repeated transitions or segments"),
	U64("events", "late", COUNTER, table.late, "events for a flow already reported"),
	U64("events", "orphans", COUNTER, table.orphans, "control events for an unknown socket"),
	U64("events", "segments", COUNTER, table.segments, "control segments seen"),
	U64("events", "segments_unmatched", COUNTER, table.segments_unmatched,
	    "control segments that never found their flow"),

	U64("bpf", "ringbuf_reserve_failed", COUNTER, bpf[SF_CNT_RB_FULL], "events lost: ring buffer full"),
	U64("bpf", "recursion_misses", COUNTER, recursion_misses,
	    "events lost: the kernel skipped a program nested inside itself on one CPU"),
	U64("bpf", "nested_caught", COUNTER, bpf[SF_CNT_NESTED_CAUGHT],
	    "state events the backup program handled because the kernel skipped the main one (not lost)"),
	U64("bpf", "sockets_without_entry", COUNTER, bpf[SF_CNT_NO_ENTRY],
	    "transitions of sockets BPF had no entry for (existed before start, or evicted)"),
	U64("bpf", "socket_map_update_failed", COUNTER, bpf[SF_CNT_SOCK_UPDATE_FAIL],
	    "per-socket entries that could not be stored"),
	U64("bpf", "ipv6_ext_headers", COUNTER, bpf[SF_CNT_IP6_EXT],
	    "IPv6 packets with extension headers: not parsed, their TCP segments not seen"),
	U64("bpf", "retransmits_failed", COUNTER, bpf[SF_CNT_RTX_FAILED],
	    "SYN or FIN retransmission attempts that sent nothing (Linux >= 6.17)"),

	U64("filtered", "netns", COUNTER, bpf[SF_CNT_FILT_NETNS],
	    "events left out in the kernel: not in a --netns namespace"),
	U64("filtered", "port", COUNTER, bpf[SF_CNT_FILT_PORT],
	    "events and control segments left out in the kernel by --port / --exclude-port"),
	U64("filtered", "cidr", COUNTER, bpf[SF_CNT_FILT_CIDR],
	    "events and control segments left out in the kernel by --cidr / --exclude-cidr"),
	U64("filtered", "cgroup", COUNTER, bpf[SF_CNT_FILT_CGROUP],
	    "events and control segments left out in the kernel: their socket's owner is in no --cgroup subtree"),
	U64("filtered", "flows", COUNTER, filtered_flows,
	    "flow records left out by the daemon: --comm, or an owner the kernel could not judge"),
	U64("filtered", "records", COUNTER, filtered_records,
	    "listen, stuck, resolved and time_wait records left out by the daemon, for the same reasons"),

	ROLES("connections", "opened", table.opened,
	      "connections opened, by role: a client's connect (SYN_SENT), a server's accepted child (ESTABLISHED)"),

	U32("flows", "open", GAUGE, table.open, "flows tracked now, open"),
	U32("flows", "closing", GAUGE, table.closing, "flows closed, waiting for late events before their record"),
	U64("flows", "emitted", COUNTER, table.flows_emitted, "flow records written"),
	U64("flows", "not_written", COUNTER, flows_unwritten,
	    "flow records left out by --flows or --sample (still in stats and summaries)"),
	U64("flows", "summaries", COUNTER, summary_records, "summary records written"),
	U64("flows", "evicted", COUNTER, table.evicted, "flows evicted from a full table"),
	U64("flows", "listen_records", COUNTER, table.listen_records, "listen records written"),
	U64("flows", "half_open", COUNTER, table.half_open, "half-open flows started by a SYN at a listener"),
	U64("flows", "half_open_untracked", COUNTER, table.half_open_dropped,
	    "SYNs not tracked: the listener's --max-half-open was reached"),
	U64("flows", "half_open_unlisted", COUNTER, table.half_open_unlisted,
	    "half-open flows the kernel's list never had (SYN cookies: no request kept), dropped at a round without a record"),
	LISTENERS("flows", "half_open_by_listener", half_open,
		  "half-open requests tracked now, per listener (netns, port): the --summary-top most loaded, the rest as port other"),
	STATES("flows", "by_state", table.by_state, "flows tracked now, by current state"),

	DERIVED("stuck", "now", GAUGE, stuck_now, "connections past their state's threshold now"),
	U64("stuck", "total", COUNTER, table.stuck_total, "connections that passed a threshold"),
	U64("stuck", "suppressed", COUNTER, table.stuck_suppressed, "stuck records not written (rate limit)"),
	U64("stuck", "resolved", COUNTER, table.resolved_total, "stuck connections that left the state"),
	STATES("stuck", "by_state", table.stuck_by_state, "connections stuck now, by state"),

	U32("time_wait", "tracked_now", GAUGE, tw.now, "time-wait sockets followed now"),
	U32("time_wait", "kernel", GAUGE, tw.kernel, "time-wait sockets in the kernel's list at the last round"),
	U64("time_wait", "expired", COUNTER, tw.exits[TW_EXIT_EXPIRED], "time-wait sockets that expired"),
	U64("time_wait", "reused", COUNTER, tw.exits[TW_EXIT_REUSED], "time-wait sockets whose tuple was reused"),
	U64("time_wait", "reset", COUNTER, tw.exits[TW_EXIT_RESET], "time-wait sockets ended by a RST"),
	U64("time_wait", "untracked", COUNTER, tw.exits[TW_EXIT_EVICTED],
	    "time-wait sockets no longer followed: the tracker was full"),
	U64("time_wait", "not_written", COUNTER, tw_unwritten,
	    "time_wait records of routine exits (expired, reused, untracked) not written: --detail auto or summary"),
	U64("time_wait", "discovered", COUNTER, tw.discovered,
	    "time-wait sockets found in the kernel's list, hand-over not seen"),

	U64("snapshot", "flows", COUNTER, table.snapshot_flows, "flows from the start-up snapshot"),
	U64("snapshot", "joined", COUNTER, table.snapshot_joined, "snapshot flows later joined by their events"),
	U64("snapshot", "rounds", COUNTER, table.reconcile_rounds, "reconciliation rounds"),
	U64("snapshot", "vanished", COUNTER, table.reconcile_vanished,
	    "open flows gone from the kernel's list without an event (their end was lost), closed out"),
	U64("snapshot", "corrected", COUNTER, table.reconcile_corrected,
	    "open flows the kernel's list had in another state (their transitions were lost)"),
	U64("snapshot", "overlap", COUNTER, table.snapshot_overlap,
	    "start-up: sockets the snapshot listed that events read while it was taken had already reported (one flow each)"),
	U64("snapshot", "ended", COUNTER, table.snapshot_ended,
	    "start-up: sockets the snapshot listed that had ended since (by their events): not brought back"),
	U64("snapshot", "unattributed", COUNTER, table.snapshot_unattributed,
	    "start-up: flows of sockets older than synfin seen only mid-way, not in the snapshot (closed before it reached them)"),
	U64("snapshot", "sockets_seen", COUNTER, snapshot_sockets, "sockets the kernel's lists gave"),
	U64("snapshot", "errors", COUNTER, snapshot_errors, "namespaces that could not be read"),

	U32("netns", "followed", GAUGE, netns.followed, "namespaces with segment hooks now"),
	U64("netns", "added", COUNTER, netns.added, "namespaces hooked since start (found by a scan)"),
	U64("netns", "removed", COUNTER, netns.removed, "namespaces let go of: gone from /proc and the named mounts"),
	U64("netns", "attach_failed", COUNTER, netns.failed, "namespaces whose interfaces could not all be hooked"),
	U64("netns", "connections_unhooked", COUNTER, netns.unhooked,
	    "connections begun in a namespace not hooked yet (created since the last scan): their first segments are not seen"),
	U64("netns", "scans", COUNTER, netns.scans, "scans for namespaces that came or went"),
	U32("netns", "interfaces_skipped", GAUGE, netns.skipped_ifaces,
	    "interfaces up but not hooked: no Ethernet header (tun, WireGuard, ip tunnels) or not chosen with --interface"),

	U64("cgroup", "resolved", COUNTER, cgroup.resolved, "cgroup ids given their path, for records"),
	U64("cgroup", "gone", COUNTER, cgroup.gone,
	    "cgroup ids whose cgroup was removed before their record: the record has no path"),
	U64("cgroup", "failed", COUNTER, cgroup.failed, "cgroup ids not resolved for another reason"),
	U64("cgroup", "evicted", COUNTER, cgroup.evicted, "cgroup paths let go of: the cache was full"),
	U32("cgroup", "cached", GAUGE, cgroup.cached, "cgroup ids in the cache now"),

	U64("output", "lines", COUNTER, out.lines, "lines written whole, all outputs"),
	U64("output", "write_errors", COUNTER, out.write_errors, "lines that could not be written, all outputs"),
	U64("output", "bytes", COUNTER, out.bytes, "bytes written, all outputs"),
	U64("output", "dropped", COUNTER, out.dropped,
	    "lines lost without an I/O error (no memory to format them), all outputs"),

	U64("socket", "clients", GAUGE, sock.clients, "live-view clients connected now (--socket)"),
	U64("socket", "accepted", COUNTER, sock.accepted, "live-view clients accepted"),
	U64("socket", "refused", COUNTER, sock.refused, "live-view clients refused (--max-clients)"),
	U64("socket", "lines", COUNTER, sock.lines, "lines sent whole to live-view clients"),
	U64("socket", "dropped", COUNTER, sock.dropped,
	    "lines slow live-view clients missed (their buffer was full); each is told in a dropped record"),
};

const size_t sf_stat_ndefs = sizeof(sf_stat_defs) / sizeof(sf_stat_defs[0]);

uint64_t stats__value(const struct sf_stat_def *d, const struct sf_stats *s)
{
	const char *p = (const char *)s + d->off;

	switch (d->type) {
	case SF_STAT_U64:
		return *(const uint64_t *)p;
	case SF_STAT_U32:
		return *(const uint32_t *)p;
	case SF_STAT_DERIVED:
		return d->get(s);
	default:
		return 0;
	}
}

void stats__listener_add(struct sf_listener_top *t, uint32_t netns, uint16_t port, uint32_t count)
{
	struct sf_listener_count *min = NULL;
	uint32_t limit = t->limit < SF_STAT_MAX_LISTENERS ? t->limit : SF_STAT_MAX_LISTENERS;

	for (uint32_t i = 0; i < t->n; i++) {
		if (t->top[i].netns == netns && t->top[i].port == port) {
			t->top[i].count += count;
			return;
		}
		if (!min || t->top[i].count < min->count)
			min = &t->top[i];
	}
	if (t->n < limit) {
		t->top[t->n++] = (struct sf_listener_count){ netns, port, count };
		return;
	}
	t->other_listeners++;
	if (!min || count <= min->count) {
		t->other += count;
		return;
	}
	/* it takes the least loaded one's place */
	t->other += min->count;
	*min = (struct sf_listener_count){ netns, port, count };
}

static int by_count(const void *a, const void *b)
{
	const struct sf_listener_count *x = a, *y = b;

	if (x->count != y->count)
		return x->count < y->count ? 1 : -1;
	if (x->port != y->port)
		return x->port < y->port ? -1 : 1;
	return x->netns < y->netns ? -1 : x->netns > y->netns;
}

void stats__listener_sort(struct sf_listener_top *t)
{
	qsort(t->top, t->n, sizeof(t->top[0]), by_count);
}

static void listeners_json(struct json *j, const char *key, const struct sf_listener_top *t)
{
	json__obj_open(j, key);
	json__arr_open(j, "listeners");
	for (uint32_t i = 0; i < t->n; i++) {
		json__obj_open(j, NULL);
		json__u64(j, "netns", t->top[i].netns);
		json__u64(j, "port", t->top[i].port);
		json__u64(j, "count", t->top[i].count);
		json__obj_close(j);
	}
	json__arr_close(j);
	json__obj_open(j, "other");
	json__u64(j, "listeners", t->other_listeners);
	json__u64(j, "count", t->other);
	json__obj_close(j);
	json__obj_close(j);
}

void stats__json(struct json *j, const struct sf_stats *s)
{
	const char *group = NULL;

	for (size_t i = 0; i < sf_stat_ndefs; i++) {
		const struct sf_stat_def *d = &sf_stat_defs[i];
		const char *p = (const char *)s + d->off;

		if (!group != !d->group || (group && strcmp(group, d->group))) {
			if (group)
				json__obj_close(j);
			if (d->group)
				json__obj_open(j, d->group);
			group = d->group;
		}
		switch (d->type) {
		case SF_STAT_SECONDS:
			json__dbl(j, d->name, *(const double *)p);
			break;
		case SF_STAT_BY_STATE:
			json__obj_open(j, d->name);
			for (unsigned int st = 1; st < SF_TCP_NSTATES; st++)
				if (((const uint32_t *)p)[st])
					json__u64(j, sf_state_name(st), ((const uint32_t *)p)[st]);
			json__obj_close(j);
			break;
		case SF_STAT_BY_ROLE:
			json__obj_open(j, d->name);
			json__u64(j, sf_role_name(SF_ROLE_CLIENT), ((const uint64_t *)p)[SF_ROLE_CLIENT]);
			json__u64(j, sf_role_name(SF_ROLE_SERVER), ((const uint64_t *)p)[SF_ROLE_SERVER]);
			json__obj_close(j);
			break;
		case SF_STAT_BY_LISTENER:
			listeners_json(j, d->name, (const struct sf_listener_top *)p);
			break;
		default:
			json__u64(j, d->name, stats__value(d, s));
			break;
		}
	}
	if (group)
		json__obj_close(j);
}
