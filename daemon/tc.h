/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Packet capture of TCP control segments: loads bpf/segment.bpf.c
 * (embedded skeleton) and attaches it with tc clsact, ingress and egress,
 * to every interface that is up in the network namespaces it is given.
 *
 * Filters: synfin's slot is handle SF_TC_HANDLE at priority SF_TC_PRIO on
 * clsact ingress and egress (priority 1: the first filter to run, so that a
 * later filter's verdict never hides a segment from us; our program always
 * returns TC_ACT_UNSPEC, so the filters after it run as before). Another
 * synfin running at the same time (the service, and one started by hand)
 * takes the next free priority, up to SF_TC_SLOTS instances. So does a
 * synfin that finds another tool's filter at priority 1: it then runs after
 * that filter, whose verdict (a drop, a redirect) can hide segments from it.
 * The clsact qdisc is shared: the instance that made it removes it when it
 * is left with no filter, so an instance that attaches at that very moment
 * can lose its filters, and a qdisc made by one instance and emptied last
 * by another stays. Filters left by a killed synfin are found at start-up
 * in those slots (handle SF_TC_HANDLE, one of its program names, no live
 * process of synfin's PID namespace holding the program), on bridge ports
 * too, and removed; a live synfin's are left alone.
 *
 * Namespaces are entered with setns() on the calling thread and left at
 * once; libbpf's tc calls work in the namespace of the caller.
 *
 * Functions return 0 (or a count) or -errno; nothing here logs.
 */
#ifndef SYNFIN_TC_H
#define SYNFIN_TC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "../include/synfin.h"

#define SF_TC_PRIO 1
#define SF_TC_SLOTS 8
#define SF_TC_HANDLE 0x5346 /* "SF" */

struct tc_opts {
	int events_fd;		/* per-CPU ring buffers to share (the state object's), -1: own */
	int nrings;		/* how many (shared: theirs; own: 0 = rings__count) */
	int counters_fd;	/* per-CPU counters map to share, -1: own */
	uint32_t ring_bytes;	/* own ring buffers' size (each), power of two (0: 4 MiB) */
	uint64_t wakeup_bytes;	/* force a consumer wake-up past this fill (0: never) */
	uint32_t max_fins;	/* FINs and SYN-ACKs awaiting their ACK (0: 65536) */
	bool lo_egress_only;	/* loopback: egress only (both ends are local:
				 * each segment's egress copy serves both) */
	const char *const *ifnames; /* only these interfaces (NULL: every one up) */
	int n_ifnames;
	/* the filters the kernel applies (NULL: none), and with them the
	 * state object's maps to share (capture__filter_fds) */
	const struct sf_filter_conf *filter;
	int filter_cidrs_fd, filter_cg_listeners_fd, filter_cg_connects_fd;
};

struct tc;
struct rings;
struct sf_filter_conf;

/* Open and load the segment programs. */
int tc__open(struct tc **t, const struct tc_opts *o);
/*
 * Attach to every interface that is up in the namespace at path
 * (/var/run/netns/NAME, /proc/PID/ns/net; NULL: the caller's namespace),
 * removing our leftovers first. Interfaces without an Ethernet header
 * (tun, wireguard, ip tunnels) are skipped: the program parses from the
 * MAC header. Returns the number of interfaces attached; on an error
 * what was attached stays attached (tc__close removes it).
 */
int tc__attach_netns(struct tc *t, const char *path);
/*
 * Follow a list of namespaces (netns.h): attach to those not followed yet,
 * let go of those no longer listed (filters off, sockets and fd closed:
 * nothing of ours keeps the namespace alive). A namespace that fails to
 * attach, once entered, stays followed with what did attach (retried
 * only if it goes and comes back); one that could not be entered is
 * tried again at the next call. 0, or -errno when memory ran out.
 */
struct netns_ent;
struct tc_sync {
	int added, removed, failed;
	int first_err;		/* of the first namespace that failed */
};
int tc__sync_netns(struct tc *t, const struct netns_ent *v, int n, struct tc_sync *res);
/* Is the namespace with this inode followed (hooks attached)? O(log n). */
bool tc__has_netns(const struct tc *t, uint32_t inode);
int tc__n_netns(const struct tc *t);
/* Interfaces up but not hooked (no Ethernet header, or not chosen). */
int tc__n_skipped(const struct tc *t);
/* An interface of that name is hooked, in any namespace followed. */
bool tc__hooked(const struct tc *t, const char *ifname);
/* The inode of a namespace we attached to, by the netns cookie the
 * segment events carry in `cookie`; 0 if unknown. */
uint32_t tc__netns_inode(const struct tc *t, uint64_t cookie);
/* Own rings (events_fd was -1) to read the events from, else NULL. */
struct rings *tc__rings(const struct tc *t);
/* The counters map in use (own or shared). */
int tc__counters_fd(const struct tc *t);
/* Sum of the per-CPU counters (meaningful with an own counters map). */
void tc__counters(const struct tc *t, uint64_t out[SF_CNT_MAX]);
/* Interfaces attached now; leftover filters removed at start-up. */
int tc__n_attached(const struct tc *t);
int tc__n_stale_removed(const struct tc *t);
/* "lo(1) eth0(2) in 4026532xxx; ..." for one line of stderr. */
const char *tc__describe(struct tc *t);
/*
 * Interfaces appearing later: poll tc__netlink_fd() for POLLIN (an epoll
 * fd over one RTMGRP_LINK socket per namespace), then call
 * tc__handle_netlink(), which attaches to new interfaces once they are
 * up and forgets deleted ones. Returns the number newly attached, or
 * -errno of the first failure.
 */
int tc__netlink_fd(const struct tc *t);
int tc__handle_netlink(struct tc *t);
/* Detach everything; destroys qdiscs we created. Accepts NULL. */
void tc__close(struct tc *t);

#endif /* SYNFIN_TC_H */
