// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * synfin: TCP state changes and control-phase socket events.
 *
 * Only tracepoints are used (raw_tp where possible: no perf-event record is
 * built, the arguments arrive as they are). fentry and kprobes are not
 * required, so this runs on locked-down kernels too.
 *
 * Per socket we keep a small entry (LRU, bounded) with:
 *  - gen: the timestamp of the socket's birth transition. Socket addresses
 *    are reused quickly, so the daemon keys flows on (sk, gen);
 *  - the tuple, because the local port is already 0 when the socket reaches
 *    CLOSE (the port is released first);
 *  - the owner, learnt in process context (connect, listen, accept, close),
 *    because most transitions run in softirq on behalf of whatever task
 *    happened to be on the CPU.
 */
#include "vmlinux_min.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "../include/synfin.h"
#include "../include/sf_net.h"
#include "shared.bpf.h"
#include "filter.bpf.h"


char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Set by the loader before load: filter_netns, and when only one
 * namespace is watched, its inode (a compare instead of a lookup). */
const volatile bool filter_netns = false;
const volatile __u32 netns_only = 0;
/* tcp_retransmit_skb has a third argument, err, and fires for failed
 * attempts too (Linux >= 6.17; set by the daemon from the kernel's BTF).
 * Left false, args[2] is never read: the verifier drops the branch, so
 * the program still attaches to the two-argument tracepoint. */
const volatile bool rtx_has_err = false;
/* synfin's own PID namespace (nsfs device and inode), set by the loader
 * when it is not the initial one (synfin in a container): owners then get
 * the ids they have there, the ones /proc shows synfin, and the host's
 * process id beside. 0: the initial namespace, whose ids are the task's. */
const volatile __u64 pidns_dev = 0;
const volatile __u64 pidns_ino = 0;

struct sf_owner {
	__u64 cgroup_id;
	__u32 pid;
	__u32 tgid;
	__u32 host_tgid;	/* see struct synfin_event */
	__u32 cg;		/* SF_CG_*: in a --cgroup subtree (set with the owner) */
	char comm[SYNFIN_COMM_LEN];
};

struct sf_sock {
	__u64 gen;
	__u32 netns;
	__u32 filt;		/* 0, or why it is filtered out (SF_CNT_FILT_*):
				 * decided once, at its first event */
	struct sf_owner owner;
	__u8 saddr[16];
	__u8 daddr[16];
	__u16 sport;
	__u16 dport;
	__u8 family;
	__u8 owner_src;
	__u8 fold;		/* its birth's record was not sent: the next
				 * record of it carries SF_F_BIRTH_FOLDED */
	__u8 pad;
};

struct sf_listen_key {
	__u32 netns;
	__u16 port;
	__u16 family;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 262144);
	__type(key, __u64);
	__type(value, struct sf_sock);
} socks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct sf_listen_key);
	__type(value, struct sf_owner);
} listeners SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u8);
} netns_allow SEC(".maps");


static __always_inline bool netns_wanted(__u32 netns)
{
	if (!filter_netns)
		return true;
	if (netns_only ? netns == netns_only : !!bpf_map_lookup_elem(&netns_allow, &netns))
		return true;
	count(SF_CNT_FILT_NETNS);
	return false;
}

/* Is the current task in one of the --cgroup subtrees? An ancestor at
 * the subtree's level is the subtree's root itself: one helper call per
 * --cgroup, no walk. */
static __always_inline __u8 cgroup_verdict(void)
{
	for (int i = 0; i < SF_FILTER_MAX_CGROUPS; i++) {
		if (i >= filt.n_cgroups)
			break;
		if (bpf_get_current_ancestor_cgroup_id(filt.cgroup_level[i]) == filt.cgroup_id[i])
			return SF_CG_IN;
	}
	return SF_CG_OUT;
}

/* A socket's verdict, taken once at its first event and kept in its
 * entry: every later event of it follows, so a connection is never half
 * recorded (an owner that changes at accept or close does not change
 * it). An owner not seen in process context leaves the cgroup to the
 * daemon. */
static __always_inline __u32 sock_verdict(const struct sf_sock *s)
{
	__u32 why = sf_filter_tuple(s->family, s->saddr, s->daddr, s->sport, s->dport);

	if (!why && filt.n_cgroups && s->owner.cg == SF_CG_OUT)
		why = SF_CNT_FILT_CGROUP;
	return why;
}

/* --cgroup: a new listener's or connect()'s verdict, for the segment
 * program (sf_filter_cgroup_seg) */
static __always_inline void cg_note_birth(const struct sf_sock *s, int new)
{
	if (new == SF_TCP_LISTEN) {
		struct sf_cg_listen_key lk = { s->netns, s->sport };

		sf_cg_note(&filt_cg_listeners, &lk, s->owner.cg);
	} else if (new == SF_TCP_SYN_SENT) {
		struct sf_cg_conn_key ck = { .netns = s->netns, .dport = s->dport, .family = s->family };

		__builtin_memcpy(ck.saddr, s->saddr, 16);
		__builtin_memcpy(ck.daddr, s->daddr, 16);
		sf_cg_note(&filt_cg_connects, &ck, s->owner.cg);
	}
}

static __always_inline void owner_from_current(struct sf_owner *o)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct bpf_pidns_info ns;

	o->host_tgid = 0;
	if (pidns_ino) {
		/* fails (and zeroes ns) for a task outside synfin's namespace:
		 * it has no id there, only its host one */
		bpf_get_ns_current_pid_tgid(pidns_dev, pidns_ino, &ns, sizeof(ns));
		if (ns.tgid != id >> 32)
			o->host_tgid = id >> 32;
		id = (__u64)ns.tgid << 32 | ns.pid;
	}
	o->pid = (__u32)id;
	o->tgid = id >> 32;
	o->cg = filt.n_cgroups ? cgroup_verdict() : SF_CG_UNKNOWN;
	o->cgroup_id = bpf_get_current_cgroup_id();
	bpf_get_current_comm(o->comm, sizeof(o->comm));
}

/* The head of struct sock_common, one read instead of five: these fields
 * have been adjacent, in this order, since Linux 2.6 (the base offset is
 * still relocated by CO-RE). */
struct sf_skc_head {
	__be32 daddr;
	__be32 rcv_saddr;
	__u32 hash;
	__be16 dport;
	__u16 num;
	__u16 family;
};

/* Reads only struct sock_common, so it is safe on request and time-wait
 * sockets too; inet_sport is read only for full sockets (full == true). */
static __always_inline void read_tuple(const struct sock *sk, struct sf_sock *t, bool full)
{
	struct sf_skc_head h;

	bpf_core_read(&h, sizeof(h), &sk->__sk_common.skc_daddr);
	t->family = h.family;
	if (h.family == SF_AF_INET) {
		__builtin_memcpy(t->saddr, &h.rcv_saddr, 4);
		__builtin_memcpy(t->daddr, &h.daddr, 4);
	} else {
		/* skc_v6_daddr and skc_v6_rcv_saddr are adjacent too */
		__u8 a[32];

		bpf_core_read(a, sizeof(a), &sk->__sk_common.skc_v6_daddr);
		__builtin_memcpy(t->daddr, a, 16);
		__builtin_memcpy(t->saddr, a + 16, 16);
	}
	t->sport = h.num;
	t->dport = bpf_ntohs(h.dport);
	if (!t->sport && full)
		t->sport = bpf_ntohs(BPF_CORE_READ((struct inet_sock *)sk, inet_sport));
}

/* TFO_SERVER_ENABLE (include/net/tcp.h): server-side Fast Open on */
#define SF_TFO_SERVER_ENABLE 0x2

/*
 * Can this new server child be a TCP Fast Open one? Such a child is
 * created by the SYN and lives in SYN_RECV, data flowing, until the final
 * ACK: its birth is sent as it happens. Any other child is created by the
 * final ACK, which takes it to ESTABLISHED (or CLOSE) at once: its birth
 * needs no record of its own. tcp_try_fastopen() makes no child unless
 * its namespace's net.ipv4.tcp_fastopen has TFO_SERVER_ENABLE, which
 * Linux leaves off by default. (The listener's own Fast Open queue cannot
 * be read from the child: on Linux 6.18 inet_csk_clone_lock() clears the
 * child's copy of it before this transition.) Unknown: as if it could.
 * The flag stays on the entry until a record of the socket is sent: if
 * the next one is lost (ring full), the one after it carries the birth.
 */
static __always_inline bool may_be_fastopen_child(const struct sock *sk)
{
	const struct net *net = BPF_CORE_READ(sk, __sk_common.skc_net.net);

	/* an int since 4.12; a u8 is read as one too, anything else is not
	 * guessed at (BPF_CORE_READ_BITFIELD_PROBED on &net->ipv4 would add
	 * the offset of ipv4 twice: its relocation is taken from net) */
	if (!bpf_core_field_exists(net->ipv4.sysctl_tcp_fastopen))
		return true;
	if (bpf_core_field_size(net->ipv4.sysctl_tcp_fastopen) == sizeof(int))
		return BPF_CORE_READ(net, ipv4.sysctl_tcp_fastopen) & SF_TFO_SERVER_ENABLE;
	if (bpf_core_field_size(net->ipv4.sysctl_tcp_fastopen) == sizeof(__u8)) {
		__u8 v = 0;

		bpf_core_read(&v, sizeof(v), &net->ipv4.sysctl_tcp_fastopen);
		return v & SF_TFO_SERVER_ENABLE;
	}
	return true;
}

static __always_inline void fill_from_sock(struct synfin_event *e, const struct sf_sock *s)
{
	e->gen = s->gen;
	e->family = s->family;
	e->sport = s->sport;
	e->dport = s->dport;
	__builtin_memcpy(e->saddr, s->saddr, 16);
	__builtin_memcpy(e->daddr, s->daddr, 16);
	e->cgroup_id = s->owner.cgroup_id;
	e->pid = s->owner.pid;
	e->tgid = s->owner.tgid;
	e->host_tgid = s->owner.host_tgid;
	__builtin_memcpy(e->comm, s->owner.comm, SYNFIN_COMM_LEN);
	e->owner_src = s->owner_src;
}

static __always_inline struct synfin_event *reserve(__u64 *flags)
{
	struct synfin_event *e = sf_reserve(sizeof(*e), flags);

	if (!e)
		return NULL;
	e->version = SYNFIN_EVENT_VERSION;
	e->host_tgid = 0;
	e->flags = 0;
	e->pad = 0;
	return e;
}

/*
 * The kernel will not run a program nested inside itself on one CPU: a
 * softirq transition interrupting a process-context one (connect, close)
 * would be skipped, and lost. So the handler is attached twice: the main
 * copy notes, per CPU, the event it is handling; the backup, attached
 * after it, handles only an event the main copy did not note: one the
 * kernel skipped for it. Loss then needs three levels of nesting, and
 * is counted (misses of both, less those caught).
 */
struct sf_inflight {
	__u64 sk;
	__u64 states;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sf_inflight);
} inflight SEC(".maps");

static __always_inline int handle_state(struct bpf_raw_tracepoint_args *ctx);

SEC("raw_tp/inet_sock_set_state")
int sf_set_state(struct bpf_raw_tracepoint_args *ctx)
{
	__u32 zero = 0;
	struct sf_inflight *in = bpf_map_lookup_elem(&inflight, &zero);

	if (in) {
		in->sk = ctx->args[0];
		in->states = (ctx->args[1] << 8) | ctx->args[2];
	}
	return handle_state(ctx);
}

SEC("raw_tp/inet_sock_set_state")
int sf_set_state_nested(struct bpf_raw_tracepoint_args *ctx)
{
	__u32 zero = 0;
	struct sf_inflight *in = bpf_map_lookup_elem(&inflight, &zero);

	if (in && in->sk == ctx->args[0] && in->states == ((ctx->args[1] << 8) | ctx->args[2]))
		return 0; /* the main copy had it */
	if (BPF_CORE_READ_BITFIELD_PROBED((struct sock *)ctx->args[0], sk_protocol) != SF_IPPROTO_TCP)
		return 0;
	count(SF_CNT_NESTED_CAUGHT);
	return handle_state(ctx);
}

static __always_inline int handle_state(struct bpf_raw_tracepoint_args *ctx)
{
	struct sock *sk = (struct sock *)ctx->args[0];
	int old = (int)ctx->args[1];
	int new = (int)ctx->args[2];
	__u64 key = (__u64)sk;
	struct sf_sock *s, fresh = {};
	struct synfin_event *e;
	__u64 rbf;
	__u16 flags = 0;
	__u64 ts;
	__u32 netns;
	bool birth;
	/* read once (filt is volatile: each read is a load) */
	const bool filtering = filt.on;

#ifdef SF_FLOOR
	return sf_floor_record();
#endif

	birth = (old == SF_TCP_CLOSE && (new == SF_TCP_SYN_SENT || new == SF_TCP_LISTEN)) ||
		(old == SF_TCP_LISTEN && new == SF_TCP_SYN_RECV);

	/* A known socket costs one lookup: it is TCP (only TCP sockets get
	 * an entry), and netns and tuple are remembered (reading them again
	 * is most of this program's time). Others (MPTCP uses this
	 * tracepoint too) are filtered on their protocol. */
	s = birth ? NULL : bpf_map_lookup_elem(&socks, &key);
	if (!s && BPF_CORE_READ_BITFIELD_PROBED(sk, sk_protocol) != SF_IPPROTO_TCP)
		return 0;
	/* filtered out: nothing more to do, unless a listener's entry in
	 * listeners must go (its children inherit its cgroup verdict) */
	if (filtering && s && s->filt && old != SF_TCP_LISTEN) {
		count(s->filt);
		return 0;
	}
	ts = bpf_ktime_get_ns();
	if (s && s->sport) {
		netns = s->netns;
		if (!netns_wanted(netns))
			return 0;
	} else {
		netns = BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
		if (!netns_wanted(netns))
			return 0;
		read_tuple(sk, &fresh, true);
		fresh.netns = netns;
	}
	if (!s) {
		/* A birth, or a socket that existed before we started (or
		 * whose entry the LRU evicted): start a generation here. */
		fresh.gen = ts;
		flags |= SF_F_NEW_GEN;
		if (!birth) {
			flags |= SF_F_NO_ENTRY;
			count(SF_CNT_NO_ENTRY);
		}
		if (new == SF_TCP_SYN_SENT || new == SF_TCP_LISTEN) {
			owner_from_current(&fresh.owner);
			fresh.owner_src = new == SF_TCP_LISTEN ? SF_OWNER_LISTEN : SF_OWNER_CONNECT;
		} else if (new == SF_TCP_SYN_RECV) {
			struct sf_listen_key lk = { netns, fresh.sport, fresh.family };
			struct sf_owner *lo = bpf_map_lookup_elem(&listeners, &lk);

			if (lo) {
				fresh.owner = *lo;
				fresh.owner_src = SF_OWNER_LISTENER;
			}
			fresh.fold = birth && !may_be_fastopen_child(sk);
		}
		fresh.filt = filtering ? sock_verdict(&fresh) : 0;
		if (filt.n_cgroups && fresh.owner.cg)
			cg_note_birth(&fresh, new);
		if (new != SF_TCP_CLOSE && bpf_map_update_elem(&socks, &key, &fresh, BPF_ANY)) {
			count(SF_CNT_SOCK_UPDATE_FAIL);
			fresh.fold = 0; /* no entry to say it later */
		}
		s = &fresh;
	} else if (!s->sport && fresh.sport) {
		/* connect() sets SYN_SENT before it picks the local port */
		s->sport = fresh.sport;
		s->dport = fresh.dport;
		__builtin_memcpy(s->saddr, fresh.saddr, 16);
		__builtin_memcpy(s->daddr, fresh.daddr, 16);
	}

	/* -> FIN_WAIT1 and -> LAST_ACK only happen inside close()/shutdown():
	 * the task on the CPU is a real owner of the socket. */
	if ((new == SF_TCP_FIN_WAIT1 || new == SF_TCP_LAST_ACK) &&
	    (s->owner_src == SF_OWNER_NONE || s->owner_src == SF_OWNER_LISTENER)) {
		owner_from_current(&s->owner);
		s->owner_src = SF_OWNER_CLOSE;
	}

	if (new == SF_TCP_LISTEN) {
		struct sf_listen_key lk = { netns, s->sport, s->family };

		bpf_map_update_elem(&listeners, &lk, &s->owner, BPF_ANY);
	}

	/* a server child's birth: its next record says it (SF_F_BIRTH_FOLDED),
	 * one ring record less per connection */
	if (s == &fresh && fresh.fold)
		return 0;
	if (filtering && s->filt)
		count(s->filt);
	e = filtering && s->filt ? NULL : reserve(&rbf);
	if (e) {
		if (s->fold) {
			flags |= SF_F_BIRTH_FOLDED;
			s->fold = 0;
		}
		e->ts_ns = ts;
		e->sk = key;
		e->netns = netns;
		e->kind = SF_EV_STATE;
		e->oldstate = old;
		e->newstate = new;
		/* errors only decide how a connection ended */
		e->sk_err = 0;
		if (new == SF_TCP_CLOSE) {
			e->sk_err = BPF_CORE_READ(sk, sk_err);
			/* FIN_WAIT2 -> CLOSE is either the peer's FIN (TIME_WAIT
			 * begins) or an orphan's hand-over to a time-wait socket
			 * that still waits for it: SOCK_DONE tells them apart */
			flags |= SF_F_CLOSE_INFO;
			if (BPF_CORE_READ(sk, __sk_common.skc_flags) & (1UL << SOCK_DONE))
				flags |= SF_F_PEER_FIN;
		}
		/* only sockets we did not see born need joining by cookie
		 * (to the start-up snapshot: sock_diag assigns cookies) */
		e->cookie = (flags & SF_F_NO_ENTRY) ? BPF_CORE_READ(sk, __sk_common.skc_cookie.counter) : 0;
		fill_from_sock(e, s);
		e->flags = flags;
		bpf_ringbuf_submit(e, rbf);
	}

	if (new == SF_TCP_CLOSE && old == SF_TCP_LISTEN) {
		struct sf_listen_key lk = { netns, s->sport, s->family };

		bpf_map_delete_elem(&listeners, &lk);
		if (filt.n_cgroups) {
			struct sf_cg_listen_key ck = { netns, s->sport };

			bpf_map_delete_elem(&filt_cg_listeners, &ck);
		}
	}
	/* The entry outlives CLOSE: an abortive close sends its RST after
	 * the socket entered CLOSE, and that RST must still find its flow.
	 * It goes at tcp_destroy_sock (or to the LRU); a new birth on the
	 * same address starts a new generation anyway. */
	return 0;
}

SEC("raw_tp/tcp_destroy_sock")
int sf_destroy_sock(struct bpf_raw_tracepoint_args *ctx)
{
	__u64 key = ctx->args[0];

#ifdef SF_FLOOR
	return 0;	/* no record of its own */
#endif
	bpf_map_delete_elem(&socks, &key);
	return 0;
}

/* A control event about a socket we may already know. */
static __always_inline int emit_sock_event(const struct sock *sk, __u8 kind)
{
	__u64 key = (__u64)sk;
	struct synfin_event *e;
	__u64 rbf;
	struct sf_sock *s, t = {};
	__u8 state;
	__u32 netns, why;

#ifdef SF_FLOOR
	return sf_floor_record();
#endif
	if (!sk)
		return 0;
	state = BPF_CORE_READ(sk, __sk_common.skc_state);
	netns = BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
	if (!netns_wanted(netns))
		return 0;

	s = bpf_map_lookup_elem(&socks, &key);
	if (!s) {
		read_tuple(sk, &t, state != SF_TCP_TIME_WAIT && state != SF_TCP_NEW_SYN_RECV);
		s = &t;
	} else if (!s->sport) {
		/* connect() entered SYN_SENT before it picked the port: a
		 * SYN retransmit is the first chance to learn it */
		read_tuple(sk, &t, true);
		s->sport = t.sport;
		__builtin_memcpy(s->saddr, t.saddr, 16);
	}
	why = !filt.on ? 0 : s == &t ? sock_verdict(&t) : s->filt;
	if (why) {
		count(why);
		return 0;
	}
	e = reserve(&rbf);
	if (!e)
		return 0;
	e->ts_ns = bpf_ktime_get_ns();
	e->sk = key;
	e->netns = netns;
	e->kind = kind;
	e->oldstate = state;
	e->newstate = state;
	e->sk_err = 0;
	e->cookie = 0;
	fill_from_sock(e, s);
	if (s == &t) {
		e->flags = SF_F_NO_ENTRY;
	} else if (s->fold) {
		/* a child's first record (a reset before its ESTABLISHED) */
		e->flags = SF_F_BIRTH_FOLDED;
		s->fold = 0;
	}
	bpf_ringbuf_submit(e, rbf);
	return 0;
}

SEC("raw_tp/tcp_retransmit_skb")
int sf_retransmit(struct bpf_raw_tracepoint_args *ctx)
{
	const struct sk_buff *skb = (const struct sk_buff *)ctx->args[1];
	const struct tcp_skb_cb *tcb;
	__u8 flags;

	/* Only SYNs and FINs: data retransmits are not our business (this
	 * keeps the data path cheap), and a data segment sent again in
	 * FIN_WAIT_1 or LAST_ACK (its FIN queued behind it) is no FIN
	 * retransmit. */
	tcb = (const struct tcp_skb_cb *)__builtin_preserve_access_index(&skb->cb);
	flags = BPF_CORE_READ(tcb, tcp_flags);
	if (!(flags & (SF_TH_SYN | SF_TH_FIN)))
		return 0;
	/* -EBUSY (the first copy still in a queue), -ENOMEM, -EAGAIN...:
	 * nothing reached the wire, the kernel tries again later */
	if (rtx_has_err && (int)ctx->args[2]) {
		count(SF_CNT_RTX_FAILED);
		return 0;
	}
	return emit_sock_event((const struct sock *)ctx->args[0], SF_EV_RETRANS);
}

SEC("raw_tp/tcp_receive_reset")
int sf_receive_reset(struct bpf_raw_tracepoint_args *ctx)
{
	return emit_sock_event((const struct sock *)ctx->args[0], SF_EV_RESET_RECV);
}

SEC("raw_tp/tcp_send_reset")
int sf_send_reset(struct bpf_raw_tracepoint_args *ctx)
{
	return emit_sock_event((const struct sock *)ctx->args[0], SF_EV_RESET_SENT);
}

/* The listener retransmits a SYN-ACK for a request socket: the server side
 * of a half-open connection. sk is the listener, req the request. */
SEC("raw_tp/tcp_retransmit_synack")
int sf_retransmit_synack(struct bpf_raw_tracepoint_args *ctx)
{
	const struct sock *lsk = (const struct sock *)ctx->args[0];
	const struct request_sock *req = (const struct request_sock *)ctx->args[1];
	struct sf_listen_key lk = {};
	struct synfin_event *e;
	__u64 rbf;
	struct sf_owner *lo;
	struct sf_sock t = {};
	__u32 netns, why;

#ifdef SF_FLOOR
	return sf_floor_record();
#endif
	netns = BPF_CORE_READ(lsk, __sk_common.skc_net.net, ns.inum);
	if (!netns_wanted(netns))
		return 0;
	read_tuple((const struct sock *)req, &t, false);
	lk.netns = netns;
	lk.port = t.sport;
	lk.family = t.family;
	lo = bpf_map_lookup_elem(&listeners, &lk);
	if (lo) {
		t.owner = *lo;
		t.owner_src = SF_OWNER_LISTENER;
	}
	why = sock_verdict(&t);
	if (why) {
		count(why);
		return 0;
	}
	e = reserve(&rbf);
	if (!e)
		return 0;
	e->ts_ns = bpf_ktime_get_ns();
	e->sk = (__u64)req;
	e->netns = netns;
	e->kind = SF_EV_SYNACK_RETRANS;
	e->oldstate = SF_TCP_SYN_RECV;
	e->newstate = SF_TCP_SYN_RECV;
	e->sk_err = BPF_CORE_READ(req, num_retrans);
	e->cookie = 0;
	fill_from_sock(e, &t);
	e->flags = SF_F_NO_ENTRY;
	bpf_ringbuf_submit(e, rbf);
	return 0;
}

/* accept() returned a socket: its caller is the owner the user cares about
 * (a prefork server's listener belongs to the master, connections to the
 * workers). Resolve fd -> file -> socket -> sock in the caller's table. */
static __always_inline int on_accept_exit(struct sf_sys_exit_ctx *ctx)
{
	struct task_struct *task;
	struct file **fds;
	struct file *f;
	struct socket *so;
	struct sf_sock *s;
	__u64 key;
	long fd = ctx->ret;

#ifdef SF_FLOOR
	return 0;	/* no record of its own */
#endif

	if (fd < 0)
		return 0;
	task = (struct task_struct *)bpf_get_current_task();
	fds = BPF_CORE_READ(task, files, fdt, fd);
	if (bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]) || !f)
		return 0;
	so = BPF_CORE_READ(f, private_data);
	if (!so)
		return 0;
	key = (__u64)BPF_CORE_READ(so, sk);
	s = bpf_map_lookup_elem(&socks, &key);
	if (!s)
		return 0;
	owner_from_current(&s->owner);
	s->owner_src = SF_OWNER_ACCEPT;
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_accept4")
int sf_accept4_exit(struct sf_sys_exit_ctx *ctx)
{
	return on_accept_exit(ctx);
}

SEC("tracepoint/syscalls/sys_exit_accept")
int sf_accept_exit(struct sf_sys_exit_ctx *ctx)
{
	return on_accept_exit(ctx);
}
