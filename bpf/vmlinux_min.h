/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The few kernel types synfin's BPF programs read, trimmed by hand from
 * `bpftool btf dump file /sys/kernel/btf/vmlinux format c`.
 *
 * Only the fields we touch are declared. Thanks to preserve_access_index,
 * clang records every access as a CO-RE relocation that libbpf resolves
 * against the running kernel's BTF at load time, so field offsets here do
 * not matter and the build does not depend on the build host's kernel.
 * To add a field: look it up in a full dump (see README, "Regenerating
 * kernel types") and declare it here under its kernel name and type.
 */
#ifndef SYNFIN_VMLINUX_MIN_H
#define SYNFIN_VMLINUX_MIN_H

typedef unsigned char __u8;
typedef unsigned short __u16;
typedef unsigned int __u32;
typedef unsigned long long __u64;
typedef signed char __s8;
typedef short __s16;
typedef int __s32;
typedef long long __s64;
typedef __u16 __be16;
typedef __u32 __be32;
typedef __u32 __wsum;
typedef __u8 u8;
typedef __u16 u16;
typedef __u32 u32;
typedef __u64 u64;
typedef __s64 s64;
typedef _Bool bool;
#define true 1
#define false 0

enum bpf_map_type {
	BPF_MAP_TYPE_HASH = 1,
	BPF_MAP_TYPE_ARRAY = 2,
	BPF_MAP_TYPE_PERCPU_ARRAY = 6,
	BPF_MAP_TYPE_LRU_HASH = 9,
	BPF_MAP_TYPE_LPM_TRIE = 11,
	BPF_MAP_TYPE_ARRAY_OF_MAPS = 12,
	BPF_MAP_TYPE_RINGBUF = 27,
};

enum {
	BPF_F_NO_PREALLOC = 1,
};

enum {
	BPF_ANY = 0,
	BPF_NOEXIST = 1,
	BPF_EXIST = 2,
};

enum {
	BPF_RB_NO_WAKEUP = 1,
	BPF_RB_FORCE_WAKEUP = 2,
};

enum {
	BPF_RB_AVAIL_DATA = 0,
	BPF_RB_RING_SIZE = 1,
};

struct bpf_raw_tracepoint_args {
	__u64 args[0];
};

struct bpf_pidns_info {		/* uapi: bpf_get_ns_current_pid_tgid() */
	__u32 pid;
	__u32 tgid;
};

#pragma clang attribute push(__attribute__((preserve_access_index)), apply_to = record)

typedef struct {
	s64 counter;
} atomic64_t;

struct in6_addr {
	union {
		__u8 u6_addr8[16];
		__be32 u6_addr32[4];
	} in6_u;
};

struct ns_common {
	unsigned int inum;
};

/* net.ipv4.tcp_fastopen, per namespace since Linux 4.12 (its size is
 * read from the kernel's BTF) */
struct netns_ipv4 {
	int sysctl_tcp_fastopen;
};

struct net {
	struct ns_common ns;
	struct netns_ipv4 ipv4;
};

typedef struct {
	struct net *net;
} possible_net_t;

struct sock_common {
	union {
		struct {
			__be32 skc_daddr;
			__be32 skc_rcv_saddr;
		};
	};
	union {
		struct {
			__be16 skc_dport;
			__u16 skc_num;
		};
	};
	unsigned short skc_family;
	volatile unsigned char skc_state;
	possible_net_t skc_net;
	struct in6_addr skc_v6_daddr;
	struct in6_addr skc_v6_rcv_saddr;
	atomic64_t skc_cookie;
	unsigned long skc_flags;	/* sk->sk_flags: enum sock_flags bits */
};

struct sock {
	struct sock_common __sk_common;
	int sk_err;
	u16 sk_protocol;
};

/* enum sock_flags (include/net/sock.h): stable since 2.6 */
#define SOCK_DONE 1		/* the peer's FIN was received */

struct inet_sock {
	struct sock sk;
	__be16 inet_sport;
};

struct sk_buff {
	char cb[48];
};

/* what TCP keeps in skb->cb of a segment it sends */
struct tcp_skb_cb {
	__u32 seq;
	__u32 end_seq;
	__u8 tcp_flags;
};

struct request_sock {
	struct sock_common __req_common;
	u8 num_retrans;
};

struct socket {
	struct sock *sk;
};

struct file {
	void *private_data;
};

struct fdtable {
	unsigned int max_fds;
	struct file **fd;
};

struct files_struct {
	struct fdtable *fdt;
};

struct task_struct {
	struct files_struct *files;
};

#pragma clang attribute pop

/* Classic tracepoint context of syscalls:sys_exit_*: a stable ABI. */
struct sf_sys_exit_ctx {
	__u64 common;
	long id;
	long ret;
};

#endif /* SYNFIN_VMLINUX_MIN_H */
