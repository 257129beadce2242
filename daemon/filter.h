/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The filter spec: which connections synfin reports. One spec, built
 * from the options (--port, --exclude-port, --cidr, --exclude-cidr,
 * --comm, --exclude-comm, --cgroup; --netns is the capture's), applied
 * in two places:
 *  - the kernel, where it saves the most (sf_filter.h): ports, address
 *    prefixes and cgroups on every event and control segment, decided
 *    once per socket;
 *  - the daemon, on every record about a flow (filter__flow): the
 *    process name, and what the kernel could not decide (owners not seen
 *    in process context, sockets found at start-up).
 * A connection is kept when it matches every kind of include given (one
 * of its --port, one of its --cidr...; either end for ports and
 * addresses) and no exclude. Pure: no I/O (the cgroup paths are resolved
 * by filter_cgroup.c).
 */
#ifndef SYNFIN_FILTER_H
#define SYNFIN_FILTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/types.h>
#include "../include/synfin.h"
#include "../include/sf_filter.h"
#include "../include/sf_net.h"

#define FILTER_MAX_COMMS 16

struct sf_flow;

struct filter_cidr {
	__u8 addr[16];		/* IPv4 as ::ffff:a.b.c.d */
	__u8 plen;		/* of the 128-bit form */
	bool exclude;
};

struct filter {
	struct sf_filter_conf k;	/* what the BPF programs get (ports, cgroups) */
	struct filter_cidr cidr[SF_FILTER_MAX_CIDRS];
	int n_cidr;
	char comm[FILTER_MAX_COMMS][SYNFIN_COMM_LEN];
	int n_comm;
	char xcomm[FILTER_MAX_COMMS][SYNFIN_COMM_LEN];
	int n_xcomm;
	const char *cgroup_path[SF_FILTER_MAX_CGROUPS]; /* as given */
};

/* "80", "8000-8099", "22,80,8000-8099". 0, or -EINVAL with why said. */
int filter__add_ports(struct filter *f, const char *arg, bool exclude, char *why, size_t len);
/* "10.0.0.0/8", "2001:db8::/32", "192.0.2.7" (a /32), "::1" (a /128). */
int filter__add_cidr(struct filter *f, const char *arg, bool exclude, char *why, size_t len);
/* A process name as the kernel keeps it (at most 15 bytes). */
int filter__add_comm(struct filter *f, const char *arg, bool exclude, char *why, size_t len);
/* A cgroup (filter_cgroup.c resolved the path). */
int filter__add_cgroup(struct filter *f, const char *path, __u64 id, __u32 level, char *why, size_t len);

/* Anything given? */
bool filter__active(const struct filter *f);
/* The kernel's LPM trie entries: each prefix with the bits of every
 * prefix that covers it (longest match then answers for all). n. */
int filter__cidr_entries(const struct filter *f, struct sf_cidr_key *keys, __u8 *vals);

/* 0: keep the tuple (either end matching, as in BPF); else the
 * SF_CNT_FILT_* of the filter that leaves it out. a, b: 4 or 16 bytes. */
uint32_t filter__tuple(const struct filter *f, __u8 family, const __u8 *a, const __u8 *b, __u16 pa,
		       __u16 pb);

/* Is the cgroup id in one of the --cgroup subtrees? (the daemon's
 * filter_cgroup.c answers; pure callers pass their own) */
typedef bool (*filter_cgroup_fn)(void *ctx, __u64 id);

enum filter_why {
	FILTER_KEEP = 0,
	FILTER_TUPLE,		/* port or address */
	FILTER_COMM,
	FILTER_CGROUP,
};

/* The whole spec on a flow (its tuple and its owner as last known). */
enum filter_why filter__flow(const struct filter *f, const struct sf_flow *fl, filter_cgroup_fn in_cg, void *ctx);

#endif /* SYNFIN_FILTER_H */
