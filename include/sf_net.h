/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Numbers the kernel defines that both the BPF programs and the daemon
 * use, named once. The BPF side builds against vmlinux_min.h and cannot
 * include libc's headers; the daemon checks these against libc's
 * (daemon/record_json.c).
 */
#ifndef SYNFIN_SF_NET_H
#define SYNFIN_SF_NET_H

/* address families (struct synfin_event.family) */
#define SF_AF_INET 2
#define SF_AF_INET6 10

#define SF_IPPROTO_TCP 6

/* TCP header flags (struct synfin_seg.tcp_flags) */
#define SF_TH_FIN 0x01
#define SF_TH_SYN 0x02
#define SF_TH_RST 0x04
#define SF_TH_PSH 0x08
#define SF_TH_ACK 0x10
/* a SYN or a FIN takes one sequence number */
#define SF_TH_SEQ_FLAGS (SF_TH_SYN | SF_TH_FIN)

/* lo is the first device of every network namespace (the kernel's
 * LOOPBACK_IFINDEX) */
#define SF_LOOPBACK_IFINDEX 1

#endif /* SYNFIN_SF_NET_H */
