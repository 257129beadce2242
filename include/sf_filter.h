/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The part of the filter spec (daemon/filter.h) the BPF programs apply,
 * as the loader hands it to them: a read-only global (set before load, so
 * the verifier prunes every test of a filter not given) and an LPM trie
 * of address prefixes. Both the state and the segment programs apply the
 * same tuple test, so a connection is left out by both or by neither.
 */
#ifndef SYNFIN_SF_FILTER_H
#define SYNFIN_SF_FILTER_H

#define SF_FILTER_MAX_CGROUPS 8
#define SF_FILTER_MAX_CIDRS 64

/* bits of a port (port_bits) or of a prefix (the LPM trie's value) */
#define SF_FILT_INC 1
#define SF_FILT_EXC 2

/* a socket entry's cgroup verdict (sf_owner.cg); bits in the maps below */
#define SF_CG_UNKNOWN 0		/* owner not seen in process context: the daemon decides */
#define SF_CG_IN 1
#define SF_CG_OUT 2

/* --cgroup for segments, which have no owner: the state program notes
 * the verdicts of listeners (by port) and of connect()s (by addresses
 * and remote port: the local port is not chosen yet at SYN_SENT), the
 * segment program looks its tuple up both ways. Values: SF_CG_* bits,
 * or-ed (two sockets may share a key): a segment is left out only when
 * some verdict says out and none says in. */
struct sf_cg_listen_key {
	__u32 netns;		/* inode */
	__u32 port;		/* host order */
};

struct sf_cg_conn_key {
	__u32 netns;
	__u16 dport;		/* the connecting socket's remote port, host order */
	__u8 family;
	__u8 pad;
	__u8 saddr[16];		/* its local address (IPv4: the first 4 bytes) */
	__u8 daddr[16];
};

struct sf_filter_conf {
	__u8 on;		/* any of the below: else no test runs, and no
				 * verdict is looked at (the verifier drops them) */
	__u8 port_inc;		/* some --port given */
	__u8 port_exc;		/* some --exclude-port given */
	__u8 cidr_inc;		/* some --cidr given */
	__u8 cidr_exc;		/* some --exclude-cidr given */
	__u8 n_cgroups;		/* --cgroup given: how many */
	__u8 pad[2];
	__u64 cgroup_id[SF_FILTER_MAX_CGROUPS];
	__u32 cgroup_level[SF_FILTER_MAX_CGROUPS]; /* depth below the cgroup2 root */
	/* [0]: included ports, [1]: excluded ports; bit (port & 7) of byte port >> 3 */
	__u8 port_bits[2][8192];
};

/* The LPM trie's key: IPv4 as IPv4-mapped IPv6 (::ffff:a.b.c.d, its
 * prefix length + 96), so one trie holds both families and a dual-stack
 * socket's mapped addresses match the IPv4 prefixes. */
struct sf_cidr_key {
	__u32 prefixlen;
	__u8 addr[16];
};

#endif /* SYNFIN_SF_FILTER_H */
