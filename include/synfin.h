/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * synfin: the one event format shared by the BPF programs and the daemon.
 *
 * Every record the kernel side submits to the ring buffer is exactly one
 * struct synfin_event. Fixed-size fields only; all multi-byte fields are in
 * host byte order except the addresses, which are kept as the kernel stores
 * them (network order). The layout is also the on-disk format of --record
 * files, so any change must bump SYNFIN_EVENT_VERSION.
 */
#ifndef SYNFIN_H
#define SYNFIN_H

/* 2: pid/tgid are synfin's own PID namespace's numbers, host_tgid (was a
 * reserved 0) the initial namespace's where they differ. A version 1 event
 * (taken in the initial namespace) reads as version 2 with host_tgid 0:
 * the replay reader upgrades it (daemon/recorder.c).
 * 3: SF_F_BIRTH_FOLDED: a server child's LISTEN -> SYN_RECV may have no
 * record of its own. Versions 1 and 2 never set it and read as 3; a reader
 * of version 2 would take a folded child for one whose birth was lost, so
 * it refuses these recordings. */
#define SYNFIN_EVENT_VERSION 3
#define SYNFIN_COMM_LEN 16

/* Kernel TCP states (include/net/tcp_states.h); 0 is unused there. */
enum synfin_tcp_state {
	SF_TCP_ESTABLISHED = 1,
	SF_TCP_SYN_SENT = 2,
	SF_TCP_SYN_RECV = 3,
	SF_TCP_FIN_WAIT1 = 4,
	SF_TCP_FIN_WAIT2 = 5,
	SF_TCP_TIME_WAIT = 6,
	SF_TCP_CLOSE = 7,
	SF_TCP_CLOSE_WAIT = 8,
	SF_TCP_LAST_ACK = 9,
	SF_TCP_LISTEN = 10,
	SF_TCP_CLOSING = 11,
	SF_TCP_NEW_SYN_RECV = 12,
	SF_TCP_NSTATES = 13,
};

enum synfin_event_kind {
	SF_EV_STATE = 1,	/* sock:inet_sock_set_state */
	SF_EV_RETRANS = 2,	/* tcp:tcp_retransmit_skb in a control state */
	SF_EV_SYNACK_RETRANS = 3, /* tcp:tcp_retransmit_synack (request sock) */
	SF_EV_RESET_RECV = 4,	/* tcp:tcp_receive_reset */
	SF_EV_RESET_SENT = 5,	/* tcp:tcp_send_reset with a socket */
	SF_EV_SEGMENT = 6,	/* a TCP control segment seen by a packet hook */
	SF_EV_KIND_MAX = 7,
};

/* Where the owner (pid/tgid/comm/cgroup) of a socket was learnt. */
enum synfin_owner_source {
	SF_OWNER_NONE = 0,	/* never seen in process context */
	SF_OWNER_CONNECT = 1,	/* CLOSE -> SYN_SENT runs inside connect() */
	SF_OWNER_LISTEN = 2,	/* CLOSE -> LISTEN runs inside listen() */
	SF_OWNER_LISTENER = 3,	/* child inherited its listener's owner */
	SF_OWNER_ACCEPT = 4,	/* accept()/accept4() returned this socket */
	SF_OWNER_CLOSE = 5,	/* close()/shutdown(): -> FIN_WAIT1 / LAST_ACK */
	SF_OWNER_SNAPSHOT = 6,	/* daemon only: found through /proc at start-up */
};

/* event flags */
#define SF_F_NEW_GEN	(1u << 0) /* BPF started a new generation here */
#define SF_F_NO_ENTRY	(1u << 1) /* BPF had no per-socket entry (pre-existing or evicted) */
/* -> CLOSE events only (recordings made before these bits lack both):
 * SF_F_CLOSE_INFO says SF_F_PEER_FIN was read. The peer's FIN had been
 * received (SOCK_DONE). A FIN_WAIT2 -> CLOSE without it is the hand-over of
 * an orphaned socket to a time-wait socket still in FIN_WAIT2, waiting for
 * that FIN: not the end of FIN_WAIT2. */
#define SF_F_CLOSE_INFO	(1u << 2)
#define SF_F_PEER_FIN	(1u << 3)
/* The socket's LISTEN -> SYN_RECV (a server child's birth) was not sent:
 * this, the next record of the socket, stands for it too. That birth came
 * at gen (its time is the generation) with this record's owner and tuple,
 * no error, no cookie. Only children that cannot be TCP Fast Open ones
 * (their namespace has server-side Fast Open off, Linux's default): those
 * are created by the final ACK and enter ESTABLISHED (or CLOSE) in the
 * same softirq, so nothing comes between the two. */
#define SF_F_BIRTH_FOLDED (1u << 4)

struct synfin_seg {		/* kind == SF_EV_SEGMENT */
	__u32 seq;		/* host order */
	__u32 ack;
	__u32 ifindex;
	__u32 payload;		/* TCP payload bytes */
	__u16 window;		/* raw, unscaled */
	__u8 tcp_flags;		/* SF_TH_* (sf_net.h) */
	__u8 dir;		/* SF_DIR_* */
	__u8 pad[6];
};

#define SF_DIR_INGRESS 0
#define SF_DIR_EGRESS 1

struct synfin_event {
	__u64 ts_ns;		/* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
	__u64 sk;		/* socket address: identity, with gen (0 for segments) */
	__u64 gen;		/* ts_ns of the socket's birth transition in BPF */
	__u64 cookie;		/* socket cookie if one was assigned (sock_diag does), else 0 */
	__u32 netns;		/* network namespace inode */
	__u32 host_tgid;	/* socket events: the owner's process id in the
				 * initial PID namespace when synfin runs in
				 * another one and it differs from tgid, else 0 */
	__u8 saddr[16];		/* local address (IPv4 in the first 4 bytes); segments: source */
	__u8 daddr[16];		/* remote address; segments: destination */
	__u16 sport;		/* local port, host order; segments: source */
	__u16 dport;		/* remote port, host order; segments: destination */
	__u8 version;		/* SYNFIN_EVENT_VERSION */
	__u8 kind;		/* enum synfin_event_kind */
	__u8 family;		/* SF_AF_INET / SF_AF_INET6 (sf_net.h) */
	__u8 oldstate;		/* enum synfin_tcp_state */
	__u8 newstate;		/* for non-state events: state at the time */
	__u8 owner_src;		/* enum synfin_owner_source */
	__u16 flags;		/* SF_F_* */
	__u16 sk_err;		/* sk->sk_err (errno) at the event */
	__u16 pad;
	union {
		struct {	/* socket events: the owner */
			__u64 cgroup_id; /* owner's cgroup v2 id */
			__u32 pid;	/* owner thread id, in synfin's PID namespace */
			__u32 tgid;	/* owner process id, idem (0: the owner
					 * is not in synfin's namespace) */
			char comm[SYNFIN_COMM_LEN]; /* owner's comm: untrusted bytes */
		};
		struct synfin_seg seg;
	};
};

_Static_assert(sizeof(struct synfin_event) == 120, "synfin_event layout changed: bump SYNFIN_EVENT_VERSION");

/* ts_ns and gen are CLOCK_MONOTONIC times: no clock reaches this (146
 * years of uptime). A time past it is a corrupted recording, and below
 * it the sums made of times (plus a grace, a threshold, a clock offset
 * of the same bound) cannot overflow. */
#define SF_TS_MAX (1ULL << 62)

/* Indices of the BPF-side counters (per-CPU array "counters"). */
enum synfin_counter {
	SF_CNT_RB_FULL = 0,	/* ring buffer reserve failed: event lost */
	SF_CNT_NO_ENTRY,	/* non-birth event without per-socket entry */
	SF_CNT_SOCK_UPDATE_FAIL, /* per-socket map update failed */
	SF_CNT_NESTED_CAUGHT,	/* state events the backup program handled
				 * because the kernel skipped the main one */
	SF_CNT_RTX_FAILED,	/* tcp_retransmit_skb fired for a retransmit
				 * that did not go out (Linux >= 6.17 reports
				 * failures too): not counted as one */
	SF_CNT_IP6_EXT,		/* IPv6 with extension headers: segment not parsed */
	/* events left out by a filter (sf_filter.h), by the filter that did */
	SF_CNT_FILT_NETNS,	/* --netns (state program only: the segment hooks
				 * are on the watched namespaces' interfaces only) */
	SF_CNT_FILT_PORT,	/* --port, --exclude-port */
	SF_CNT_FILT_CIDR,	/* --cidr, --exclude-cidr */
	SF_CNT_FILT_CGROUP,	/* --cgroup */
	SF_CNT_MAX,
};

#endif /* SYNFIN_H */
