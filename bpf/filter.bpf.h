/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The filters the kernel side applies (--port, --exclude-port, --cidr,
 * --exclude-cidr, --cgroup: the owner's test is in state.bpf.c), shared
 * by the state and the segment programs so that both decide alike on a
 * connection.
 * Both ends of a tuple are tested and the test is symmetric: a segment
 * (source, destination) and a socket (local, remote) of one connection
 * get the same answer, whichever way the segment goes.
 *
 * The spec is a read-only global set by the loader before load: with no
 * filter given, every test below is on a known-false constant and the
 * verifier removes it (measured: the programs' instruction counts do not
 * change).
 */
#ifndef SYNFIN_FILTER_BPF_H
#define SYNFIN_FILTER_BPF_H

#include "../include/sf_filter.h"

const volatile struct sf_filter_conf filt = {};

/* address prefixes -> SF_FILT_* bits of every given prefix that covers
 * it (the loader folds them in), so the longest match says it all; the
 * segment object reuses the state object's trie */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, SF_FILTER_MAX_CIDRS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct sf_cidr_key);
	__type(value, __u8);
} filt_cidrs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384); /* 1 unless --cgroup (the loader) */
	__type(key, struct sf_cg_listen_key);
	__type(value, __u64);
} filt_cg_listeners SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384); /* 1 unless --cgroup; keyed per destination, not per connection */
	__type(key, struct sf_cg_conn_key);
	__type(value, __u64);
} filt_cg_connects SEC(".maps");

static __always_inline __u8 sf_port_bits(__u16 port)
{
	__u8 m = 1 << (port & 7);

	return (filt.port_bits[0][port >> 3] & m ? SF_FILT_INC : 0) |
	       (filt.port_bits[1][port >> 3] & m ? SF_FILT_EXC : 0);
}

/* addr: 4 bytes (IPv4) or 16. An unknown or wildcard address (all zero:
 * a listener's peer, a wildcard-bound listener) is in every prefix and
 * excluded by none: only the known end decides. */
static __always_inline __u8 sf_addr_bits(__u8 family, const void *addr)
{
	struct sf_cidr_key k = { .prefixlen = 128 };
	__u8 *v;

	if (family == SF_AF_INET) {
		__u32 a4;

		__builtin_memcpy(&a4, addr, 4);
		if (!a4)
			return SF_FILT_INC;
		__builtin_memset(k.addr, 0, 10);
		k.addr[10] = 0xff;
		k.addr[11] = 0xff;
		__builtin_memcpy(k.addr + 12, &a4, 4);
	} else {
		__u64 w[2];

		__builtin_memcpy(w, addr, 16);
		if (!w[0] && !w[1])
			return SF_FILT_INC;
		__builtin_memcpy(k.addr, w, 16);
	}
	v = bpf_map_lookup_elem(&filt_cidrs, &k);
	return v ? *v : 0;
}

/*
 * 0: keep the connection with this tuple; else the counter
 * (SF_CNT_FILT_*) of the filter that leaves it out. Exclusions win:
 * kept is what matches every kind of --port/--cidr given, by either end,
 * and no --exclude-* by either end.
 */
static __always_inline __u32 sf_filter_tuple(__u8 family, const void *a, const void *b, __u16 pa, __u16 pb)
{
	if (!filt.on)
		return 0;
	if (filt.port_inc || filt.port_exc) {
		__u8 bits = sf_port_bits(pa) | sf_port_bits(pb);

		if (filt.port_exc && (bits & SF_FILT_EXC))
			return SF_CNT_FILT_PORT;
		if (filt.port_inc && !(bits & SF_FILT_INC))
			return SF_CNT_FILT_PORT;
	}
	if (filt.cidr_inc || filt.cidr_exc) {
		__u8 bits = sf_addr_bits(family, a) | sf_addr_bits(family, b);

		if (filt.cidr_exc && (bits & SF_FILT_EXC))
			return SF_CNT_FILT_CIDR;
		if (filt.cidr_inc && !(bits & SF_FILT_INC))
			return SF_CNT_FILT_CIDR;
	}
	return 0;
}

/* Note a socket's cgroup verdict under key k of map m (or-ed in). */
static __always_inline void sf_cg_note(void *m, const void *k, __u64 verdict)
{
	__u64 *v = bpf_map_lookup_elem(m, k);

	/* atomic: two CPUs noting in and out at once keep both */
	if (v)
		__sync_fetch_and_or(v, verdict);
	else if (bpf_map_update_elem(m, k, &verdict, BPF_NOEXIST) && (v = bpf_map_lookup_elem(m, k)))
		__sync_fetch_and_or(v, verdict);
}

/* The verdicts noted for a connect() from "from" to "to":dport. family
 * is a constant at each call (after inlining): the addresses may be
 * packet pointers checked for their family's length only. */
static __always_inline __u64 sf_cg_connect_bits(struct sf_cg_conn_key *ck, __u8 family, const void *from,
						const void *to, __u16 dport)
{
	__u64 *v;

	ck->dport = dport;
	if (family == SF_AF_INET) {
		__builtin_memcpy(ck->saddr, from, 4);
		__builtin_memcpy(ck->daddr, to, 4);
	} else {
		__builtin_memcpy(ck->saddr, from, 16);
		__builtin_memcpy(ck->daddr, to, 16);
	}
	v = bpf_map_lookup_elem(&filt_cg_connects, ck);
	return v ? *v : 0;
}

/* A segment's cgroup verdict (0: keep) from what the state program
 * noted: the listener at either port, or the connect() it belongs to,
 * either way. Nothing noted (a socket older than synfin, an entry
 * evicted): kept, the daemon decides. Only with --cgroup given
 * (filt.n_cgroups: the caller tests it, so that none of this is there
 * without). */
static __always_inline __u32 sf_filter_cgroup_seg(__u32 netns, __u8 family, const void *a, const void *b,
						  __u16 pa, __u16 pb)
{
	struct sf_cg_listen_key lk = { netns, pa };
	struct sf_cg_conn_key ck = { .netns = netns, .family = family };
	__u64 bits = 0, *v;

	v = bpf_map_lookup_elem(&filt_cg_listeners, &lk);
	bits |= v ? *v : 0;
	lk.port = pb;
	v = bpf_map_lookup_elem(&filt_cg_listeners, &lk);
	bits |= v ? *v : 0;
	/* a -> b, sent by the connecting end; then b -> a, to it */
	bits |= sf_cg_connect_bits(&ck, family, a, b, pb);
	bits |= sf_cg_connect_bits(&ck, family, b, a, pa);
	return !(bits & SF_CG_IN) && (bits & SF_CG_OUT) ? SF_CNT_FILT_CGROUP : 0;
}

#endif /* SYNFIN_FILTER_BPF_H */
