// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * synfin: TCP control segments seen at tc clsact (ingress and egress).
 *
 * The socket tracepoints (state.bpf.c) miss what happens on the wire: the
 * SYN of a half-open connection, segments handled by time-wait sockets,
 * the exact seq/ack of every SYN, FIN and RST. A tc hook sees every
 * segment the interface carries (on lo each one twice: egress, then
 * ingress), so this program reports:
 *  - every segment with SYN, FIN or RST set;
 *  - the segment that completes a three-way handshake: the first one
 *    (ACK, no SYN/FIN/RST) acknowledging a SYN-ACK seen earlier. Usually
 *    a bare ACK; when that was lost (or delayed behind data) the client's
 *    first data segment completes it, and that is reported (seg.payload
 *    says which);
 *  - the ACK that acknowledges a FIN seen earlier (the end of a close).
 *
 * Everything else is data and must cost next to nothing: the program
 * reads the TCP flags by direct packet access and leaves at once when no
 * control flag is set, unless the segment could acknowledge a pending FIN
 * or SYN-ACK (the bucket it would be in says "certainly not" with one
 * array load).
 *
 * This program only observes: it never changes, drops or redirects a
 * packet, and always returns TC_ACT_UNSPEC so the next filter runs as if
 * we were not there.
 */
#include "vmlinux_min.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "../include/synfin.h"
#include "../include/sf_net.h"
#include "shared.bpf.h"
#include "filter.bpf.h"

#define ETH_HLEN 14
#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define ETH_P_8021Q 0x8100
#define ETH_P_8021AD 0x88A8
#define TC_ACT_UNSPEC (-1)
#define PACKET_OTHERHOST 3 /* linux/if_packet.h */

#define TH_CONTROL (SF_TH_FIN | SF_TH_SYN | SF_TH_RST)

/* pending segments: buckets of PEND_WAYS entries (a power of two) */
#define PEND_BUCKETS 16384
#define PEND_WAYS 4
/*
 * A pending entry is stamped with its epoch of 2^38 ns (275 s) and is
 * over once its epoch is over by a whole epoch, so one that is never
 * acknowledged (a SYN-ACK to a spoofed address) is gone after 275 to
 * 550 s (not reported any more). Retransmissions refresh an entry:
 * SYN-ACKs are retransmitted within 63 s, FINs at least every 120 s.
 */
#define PEND_EPOCH_SHIFT 38

/* what a pending entry waits for the acknowledgement of */
#define SF_PEND_FIN 0
#define SF_PEND_SYNACK 1

char LICENSE[] SEC("license") = "Dual BSD/GPL";


/* UAPI (stable) packet and context layouts: no CO-RE needed. */
struct __sk_buff {
	__u32 len;
	__u32 pkt_type;
	__u32 mark;
	__u32 queue_mapping;
	__u32 protocol;
	__u32 vlan_present;
	__u32 vlan_tci;
	__u32 vlan_proto;
	__u32 priority;
	__u32 ingress_ifindex;
	__u32 ifindex;
	__u32 tc_index;
	__u32 cb[5];
	__u32 hash;
	__u32 tc_classid;
	__u32 data;
	__u32 data_end;
};

struct ethhdr {
	__u8 h_dest[6];
	__u8 h_source[6];
	__be16 h_proto;
};

struct vlan_hdr {
	__be16 tci;
	__be16 proto;
};

struct iphdr {
	__u8 ihl : 4, version : 4;
	__u8 tos;
	__be16 tot_len;
	__be16 id;
	__be16 frag_off;
	__u8 ttl;
	__u8 protocol;
	__u16 check;
	__be32 saddr;
	__be32 daddr;
};

struct ipv6hdr {
	__u8 priority : 4, version : 4;
	__u8 flow_lbl[3];
	__be16 payload_len;
	__u8 nexthdr;
	__u8 hop_limit;
	__u8 saddr[16];
	__u8 daddr[16];
};

struct tcphdr {
	__be16 source;
	__be16 dest;
	__be32 seq;
	__be32 ack_seq;
	__u8 res1 : 4, doff : 4;
	__u8 flags;
	__be16 window;
	__u16 check;
	__u16 urg_ptr;
};

/*
 * The namespace of the packet is the namespace of its device.
 * bpf_get_netns_cookie(skb) is allowed in tc on this kernel but looks at
 * skb->sk, falling back to init_net's cookie: at ingress (no socket yet)
 * it names the root namespace, whatever the device. So read the device's
 * namespace through the kernel sk_buff (bpf_cast_to_kern_ctx is rewritten
 * to a register move by the verifier: free). The ___sf flavours are local
 * CO-RE views; libbpf matches them to the kernel's types by name.
 */
extern void *bpf_cast_to_kern_ctx(void *obj) __ksym;

struct net___sf {
	struct ns_common ns;
	__u64 net_cookie;
} __attribute__((preserve_access_index));

struct possible_net___sf {
	struct net___sf *net;
} __attribute__((preserve_access_index));

struct net_device___sf {
	struct possible_net___sf nd_net;
} __attribute__((preserve_access_index));

struct sk_buff___sf {
	struct net_device___sf *dev;
} __attribute__((preserve_access_index));

/* A FIN or SYN-ACK waiting for its ACK. The segment and its ACK cross the
 * same interface in opposite directions (sent FIN: egress, its ACK:
 * ingress; on lo in the same one, see reverse_key), so the key holds where
 * the segment was seen. */
struct sf_pend_key {	/* 56 bytes, no implicit padding */
	__u64 netns;		/* netns cookie */
	__u32 ifindex;
	__u8 saddr[16];		/* the pending segment's source */
	__u8 daddr[16];
	__u16 sport;		/* network order: only compared */
	__u16 dport;
	__u8 family;
	__u8 dir;		/* SF_DIR_* of the pending segment */
	__u8 kind;		/* SF_PEND_* */
	__u8 pad[5];		/* explicit: the hash covers every byte */
};
_Static_assert(sizeof(struct sf_pend_key) == 56, "sf_pend_key has implicit padding");

struct bpf_spin_lock {
	__u32 val;
};

/*
 * Pending segments, in a set-associative table: the bucket comes from
 * the port pair and interface (the same for both directions: a segment
 * and its ACK meet in one bucket), an entry is a 64-bit hash of the whole
 * key (tag, never 0: 0 is a free entry). A full bucket gives up its
 * entries in turn. Cheaper than a hash map by far (measured: the map was
 * over half of a control segment's cost): one array load, one short
 * locked scan, no allocation.
 */
struct sf_pslot {
	__u64 tag;
	__u32 ack;		/* the ack number that acknowledges it */
	__u32 epoch;
};

struct sf_pbucket {
	struct bpf_spin_lock lock;
	__u32 n;		/* entries in use (read without the lock: a hint) */
	__u32 victim;		/* a full bucket gives up s[victim++ % PEND_WAYS] */
	__u32 pad;
	struct sf_pslot s[PEND_WAYS];
};

/* set by the loader: buckets - 1 (the map's size), a power of two - 1 */
const volatile __u32 pend_mask = PEND_BUCKETS - 1;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, PEND_BUCKETS);
	__type(key, __u32);
	__type(value, struct sf_pbucket);
} pending SEC(".maps");

static __always_inline __u32 pend_bucket(const struct tcphdr *th, __u32 ifindex, __u64 netns)
{
	/* symmetric in the ports: a segment and its ACK share a bucket. The
	 * namespace is in the hash: containers' interfaces share ifindexes
	 * (every eth0 is 2) and a connection between two of them has the
	 * same ports on both, so without it both ends' FINs (4 entries)
	 * filled one bucket of 4, and a pair reusing the same addresses and
	 * ports evicted them (seen: the passive closer's last ACK lost). */
	__u32 h = (__u32)(th->source ^ th->dest) * 0x9E3779B1u ^ ifindex * 0x85EBCA6Bu ^
		  (__u32)(netns ^ (netns >> 32)) * 0xC2B2AE35u;

	return (h ^ (h >> 15)) & pend_mask;
}

static __always_inline __u32 epoch_now(void)
{
	return bpf_ktime_get_coarse_ns() >> PEND_EPOCH_SHIFT;
}

/* an entry of epoch we is still valid at epoch e: e - 1, e, or e + 1
 * (another CPU's coarse clock may be a tick ahead at a boundary) */
static __always_inline bool epoch_live(__u32 we, __u32 e)
{
	return (__u32)(e + 1 - we) <= 2;
}

/* the key (kind included), hashed: never 0 */
static __always_inline __u64 pend_tag(const struct sf_pend_key *k)
{
	const __u64 *w = (const __u64 *)k;
	__u64 h = 0x9E3779B97F4A7C15ULL;

#pragma unroll
	for (int i = 0; i < (int)(sizeof(*k) / 8); i++) {
		h = (h ^ w[i]) * 0xFF51AFD7ED558CCDULL;
		h ^= h >> 32;
	}
	return h | 1;
}

/* The key of a segment that this one (travelling the other way, in the
 * other direction of the hook) could acknowledge. */
static __always_inline void reverse_key(struct sf_pend_key *k, const struct sf_pend_key *mine)
{
	k->netns = mine->netns;
	k->ifindex = mine->ifindex;
	__builtin_memcpy(k->saddr, mine->daddr, 16);
	__builtin_memcpy(k->daddr, mine->saddr, 16);
	k->sport = mine->dport;
	k->dport = mine->sport;
	k->family = mine->family;
	/* On lo (ifindex 1 in every namespace) a segment and its answer
	 * both leave and both arrive through the same device: pair egress
	 * with egress, ingress with ingress, so the daemon may attach at
	 * egress only there (one copy per segment, half the events). */
	k->dir = mine->ifindex == SF_LOOPBACK_IFINDEX ? mine->dir : mine->dir ^ 1;
	k->kind = 0;
	__builtin_memset(k->pad, 0, sizeof(k->pad));
}

/* Free entry i of b (b's lock held). */
static __always_inline void slot_free(struct sf_pbucket *b, int i)
{
	b->s[i].tag = 0;
	if (b->n)
		b->n--;
}

/* Entry i of b is freed if its epoch is over (b's lock held). */
static __always_inline void slot_expire(struct sf_pbucket *b, int i, __u32 e)
{
	if (b->s[i].tag && !epoch_live(b->s[i].epoch, e))
		slot_free(b, i);
}

/* k (with its kind) is waiting for ack number want; a retransmission
 * refreshes its entry */
static __always_inline void pend_add(struct sf_pend_key *k, __u8 kind, __u32 want, struct sf_pbucket *b,
				     __u32 e)
{
	__u64 tag;
	int free = -1;

	k->kind = kind;
	tag = pend_tag(k);
	bpf_spin_lock(&b->lock);
#pragma unroll
	for (int i = 0; i < PEND_WAYS; i++) {
		if (b->s[i].tag == tag) {
			free = i;
			break;
		}
		slot_expire(b, i, e);
		if (!b->s[i].tag && free < 0)
			free = i;
	}
	/* Full: the entries give way in turn (round robin), so a new one
	 * lives through three more insertions here whatever the others
	 * are (epochs are too coarse to tell the oldest: a bucket full of
	 * SYN-ACKs to spoofed addresses must not keep them for minutes
	 * while every real entry is overwritten at once). */
	if (free < 0)
		free = b->victim++ & (PEND_WAYS - 1);
	if (free >= 0 && free < PEND_WAYS) {
		if (!b->s[free].tag)
			b->n++;
		b->s[free].tag = tag;
		b->s[free].ack = want;
		b->s[free].epoch = e;
	}
	bpf_spin_unlock(&b->lock);
}

/* Take k's entry out if it is there (and still valid). With want_ack,
 * only when ack acknowledges it. */
static __always_inline bool pend_take(struct sf_pend_key *k, __u8 kind, bool want_ack, __u32 ack,
				      struct sf_pbucket *b, __u32 e)
{
	bool hit = false;
	__u64 tag;

	k->kind = kind;
	tag = pend_tag(k);
	bpf_spin_lock(&b->lock);
#pragma unroll
	for (int i = 0; i < PEND_WAYS; i++) {
		bool live;

		if (b->s[i].tag != tag) {
			slot_expire(b, i, e); /* on the way */
			continue;
		}
		live = epoch_live(b->s[i].epoch, e);
		if (live && want_ack && b->s[i].ack != ack)
			break;
		slot_free(b, i);
		hit = live;
		break;
	}
	bpf_spin_unlock(&b->lock);
	return hit;
}

static __always_inline void emit(const struct sf_pend_key *k, __u32 netns, const struct tcphdr *th,
				 __u32 payload)
{
	__u64 flags;
	struct synfin_event *e = sf_reserve(sizeof(*e), &flags);

	if (!e)
		return;
	e->ts_ns = bpf_ktime_get_ns();
	e->sk = 0;
	e->gen = 0;
	e->cookie = k->netns;	/* netns cookie (segments have no socket cookie) */
	e->netns = netns;	/* inode, as in the socket events */
	e->host_tgid = 0;	/* segments have no owner */
	__builtin_memcpy(e->saddr, k->saddr, 16);
	__builtin_memcpy(e->daddr, k->daddr, 16);
	e->sport = bpf_ntohs(k->sport);
	e->dport = bpf_ntohs(k->dport);
	e->version = SYNFIN_EVENT_VERSION;
	e->kind = SF_EV_SEGMENT;
	e->family = k->family;
	e->oldstate = 0;
	e->newstate = 0;
	e->owner_src = SF_OWNER_NONE;
	e->flags = 0;
	e->sk_err = 0;
	e->pad = 0;
	__builtin_memset(&e->cgroup_id, 0, 32); /* the whole union */
	e->seg.seq = bpf_ntohl(th->seq);
	e->seg.ack = bpf_ntohl(th->ack_seq);
	e->seg.ifindex = k->ifindex;
	e->seg.payload = payload;
	e->seg.window = bpf_ntohs(th->window);
	e->seg.tcp_flags = th->flags;
	e->seg.dir = k->dir;
	bpf_ringbuf_submit(e, flags);
}

static __always_inline __u32 sub0(__u32 a, __u32 b)
{
	return a > b ? a - b : 0;
}

/*
 * TCP header + payload bytes from the IP length field (IPv4 tot_len with
 * its header length iphl, IPv6 payload_len with iphl 0). A zero field is a
 * BIG TCP / jumbo packet: then the skb's length says it (the length field
 * is preferred otherwise: Ethernet pads short frames).
 */
static __always_inline __u32 ip_l4len(const struct __sk_buff *skb, __u32 field, __u32 l4off, __u32 iphl)
{
	return field ? sub0(field, iphl) : sub0(skb->len, l4off);
}

/*
 * One TCP segment, headers already bounds-checked (packet pointers) or
 * copied (stack). ip4 or ip6 is set. l4len: TCP header + payload bytes.
 */
static __always_inline int on_tcp(struct __sk_buff *skb, __u8 dir, const struct iphdr *ip4,
				  const struct ipv6hdr *ip6, const struct tcphdr *th, __u32 l4len)
{
	__u8 flags = th->flags;
	struct sk_buff___sf *kskb;
	struct net___sf *net;
	struct sf_pend_key k, rk;
	struct sf_pbucket *b;
	__u32 bucket, payload, hl, ack, seq, e, why;
	bool live, acked = false;

	if (!(flags & (TH_CONTROL | SF_TH_ACK)))
		return TC_ACT_UNSPEC;
#ifdef SF_FLOOR
	/* a record per SYN, FIN or RST (synfin's also pairs ACKs) */
	if (flags & TH_CONTROL)
		sf_floor_record();
	return TC_ACT_UNSPEC;
#endif
	kskb = bpf_cast_to_kern_ctx(skb);
	net = kskb->dev->nd_net.net;
	k.netns = net->net_cookie;
	bucket = pend_bucket(th, skb->ifindex, k.netns);
	b = bpf_map_lookup_elem(&pending, &bucket);
	if (!b)
		return TC_ACT_UNSPEC;	/* cannot happen: an array */
	live = b->n != 0;
	if (!(flags & TH_CONTROL) && !live)
		return TC_ACT_UNSPEC;	/* the data path ends here */
	/* the state program's test on the same tuple (filter.bpf.h): a
	 * connection left out there has none of its segments here either
	 * (and none pending: its ACKs need no look) */
	why = ip4 ? sf_filter_tuple(SF_AF_INET, &ip4->saddr, &ip4->daddr, bpf_ntohs(th->source),
				    bpf_ntohs(th->dest)) :
		    sf_filter_tuple(SF_AF_INET6, ip6->saddr, ip6->daddr, bpf_ntohs(th->source),
				    bpf_ntohs(th->dest));
	if (!why && filt.n_cgroups)
		why = ip4 ? sf_filter_cgroup_seg(net->ns.inum, SF_AF_INET, &ip4->saddr, &ip4->daddr,
						 bpf_ntohs(th->source), bpf_ntohs(th->dest)) :
			    sf_filter_cgroup_seg(net->ns.inum, SF_AF_INET6, ip6->saddr, ip6->daddr,
						 bpf_ntohs(th->source), bpf_ntohs(th->dest));
	if (why) {
		if (flags & TH_CONTROL)
			count(why);	/* a segment that would have been an event */
		return TC_ACT_UNSPEC;
	}

	/* control segment, or an ACK that may end a handshake or a close */
	e = epoch_now();

	k.ifindex = skb->ifindex;
	k.sport = th->source;
	k.dport = th->dest;
	k.dir = dir;
	k.kind = 0;
	__builtin_memset(k.pad, 0, sizeof(k.pad));
	if (ip4) {
		k.family = SF_AF_INET;
		__builtin_memset(k.saddr, 0, 16);
		__builtin_memset(k.daddr, 0, 16);
		__builtin_memcpy(k.saddr, &ip4->saddr, 4);
		__builtin_memcpy(k.daddr, &ip4->daddr, 4);
	} else {
		k.family = SF_AF_INET6;
		__builtin_memcpy(k.saddr, ip6->saddr, 16);
		__builtin_memcpy(k.daddr, ip6->daddr, 16);
	}
	hl = th->doff * 4;
	payload = sub0(l4len, hl);
	seq = bpf_ntohl(th->seq);
	ack = bpf_ntohl(th->ack_seq);
	reverse_key(&rk, &k);

	if (live && (flags & SF_TH_ACK)) {
		acked = pend_take(&rk, SF_PEND_FIN, true, ack, b, e);
		/* the handshake ends with the first ACK of the SYN-ACK; if
		 * that carries a FIN it is reported as a FIN anyway */
		if (!(flags & (SF_TH_SYN | SF_TH_RST)) && pend_take(&rk, SF_PEND_SYNACK, true, ack, b, e))
			acked = true;
	}
	if (!(flags & TH_CONTROL) && !acked)
		return TC_ACT_UNSPEC;	/* an ACK, but not of a pending segment */

	if (flags & SF_TH_FIN)
		/* the FIN occupies the sequence number after the payload (and
		 * after the SYN, should both be set) */
		pend_add(&k, SF_PEND_FIN, seq + payload + 1 + !!(flags & SF_TH_SYN), b, e);
	if ((flags & (SF_TH_SYN | SF_TH_ACK | SF_TH_RST)) == (SF_TH_SYN | SF_TH_ACK))
		/* a SYN-ACK: its ACK is seq + 1 (+ payload, which Linux never
		 * puts on a SYN-ACK) */
		pend_add(&k, SF_PEND_SYNACK, seq + 1 + payload, b, e);
	if ((flags & SF_TH_RST) && live) {
		/* no ACK will follow a FIN or SYN-ACK of this connection */
		pend_take(&k, SF_PEND_FIN, false, 0, b, e);
		pend_take(&k, SF_PEND_SYNACK, false, 0, b, e);
		pend_take(&rk, SF_PEND_FIN, false, 0, b, e);
		pend_take(&rk, SF_PEND_SYNACK, false, 0, b, e);
	}
	emit(&k, net->ns.inum, th, payload);
	return TC_ACT_UNSPEC;
}

/* An IPv6 packet that is not plain TCP: count those whose first header
 * is an extension header (hop-by-hop 0, routing 43, fragment 44, ESP 50,
 * AH 51, destination options 60, mobility 135, HIP 139, shim6 140): a
 * TCP segment behind one is not parsed, and must not go unnoticed. */
static __always_inline int ip6_other(__u8 nexthdr)
{
	switch (nexthdr) {
	case 0: case 43: case 44: case 50: case 51: case 60: case 135: case 139: case 140:
		count(SF_CNT_IP6_EXT);
		break;
	}
	return TC_ACT_UNSPEC;
}

/*
 * Headers not in the linear area (rare: some drivers leave all but the
 * Ethernet header in page fragments): copy them instead. Never pulls or
 * touches the packet.
 */
static __always_inline int slow_path(struct __sk_buff *skb, __u8 dir, __u32 off, __u16 proto)
{
	struct iphdr ip4;
	struct ipv6hdr ip6;
	struct tcphdr th;
	__u32 l4len, hl;

	if (proto == bpf_htons(ETH_P_IP)) {
		if (bpf_skb_load_bytes(skb, off, &ip4, sizeof(ip4)))
			return TC_ACT_UNSPEC;
		if (ip4.protocol != SF_IPPROTO_TCP || (ip4.frag_off & bpf_htons(0x1fff)) || ip4.ihl < 5)
			return TC_ACT_UNSPEC;
		hl = ip4.ihl * 4;
		if (bpf_skb_load_bytes(skb, off + hl, &th, sizeof(th)))
			return TC_ACT_UNSPEC;
		l4len = ip_l4len(skb, bpf_ntohs(ip4.tot_len), off + hl, hl);
		return on_tcp(skb, dir, &ip4, NULL, &th, l4len);
	}
	if (bpf_skb_load_bytes(skb, off, &ip6, sizeof(ip6)))
		return TC_ACT_UNSPEC;
	if (ip6.nexthdr != SF_IPPROTO_TCP)
		return ip6_other(ip6.nexthdr);
	if (bpf_skb_load_bytes(skb, off + sizeof(ip6), &th, sizeof(th)))
		return TC_ACT_UNSPEC;
	l4len = ip_l4len(skb, bpf_ntohs(ip6.payload_len), off + sizeof(ip6), 0);
	return on_tcp(skb, dir, NULL, &ip6, &th, l4len);
}

static __always_inline int segment(struct __sk_buff *skb, __u8 dir)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	__u32 off = ETH_HLEN, l4len, hl;
	struct tcphdr *th;
	__u16 proto;

	if ((void *)(eth + 1) > end)
		return TC_ACT_UNSPEC;
	proto = eth->h_proto;
	if (proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD)) {
		struct vlan_hdr *vh = data + ETH_HLEN;

		if ((void *)(vh + 1) > end)
			return TC_ACT_UNSPEC;
		proto = vh->proto;
		off += sizeof(*vh);
	}

	if (proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip4 = data + off;

		if ((void *)(ip4 + 1) > end)
			return slow_path(skb, dir, off, proto);
		if (ip4->protocol != SF_IPPROTO_TCP || (ip4->frag_off & bpf_htons(0x1fff)))
			return TC_ACT_UNSPEC;
		hl = ip4->ihl * 4;
		if (hl < sizeof(*ip4))
			return TC_ACT_UNSPEC;
		th = (void *)ip4 + hl;
		if ((void *)(th + 1) > end)
			return slow_path(skb, dir, off, proto);
		l4len = ip_l4len(skb, bpf_ntohs(ip4->tot_len), off + hl, hl);
		return on_tcp(skb, dir, ip4, NULL, th, l4len);
	}
	if (proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = data + off;

		if ((void *)(ip6 + 1) > end)
			return slow_path(skb, dir, off, proto);
		/* extension headers are not followed: only plain TCP;
		 * what they may hide is counted */
		if (ip6->nexthdr != SF_IPPROTO_TCP)
			return ip6_other(ip6->nexthdr);
		th = (void *)(ip6 + 1);
		if ((void *)(th + 1) > end)
			return slow_path(skb, dir, off, proto);
		l4len = ip_l4len(skb, bpf_ntohs(ip6->payload_len), off + sizeof(*ip6), 0);
		return on_tcp(skb, dir, NULL, ip6, th, l4len);
	}
	return TC_ACT_UNSPEC;
}

/* Two copies of one program: a tc program cannot tell which hook runs it.
 * Names start with "sf_": that is how a later run recognises filters left
 * behind by a killed one (daemon/tc.c). */
SEC("tc")
int sf_seg_ingress(struct __sk_buff *skb)
{
	/* addressed to another host: a promiscuous interface's copy (tcpdump
	 * on a bridge), which IP drops: no socket here ever sees it */
	if (skb->pkt_type == PACKET_OTHERHOST)
		return TC_ACT_UNSPEC;
	return segment(skb, SF_DIR_INGRESS);
}

SEC("tc")
int sf_seg_egress(struct __sk_buff *skb)
{
	return segment(skb, SF_DIR_EGRESS);
}
