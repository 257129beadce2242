/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The kernel's own list of TCP sockets (NETLINK_SOCK_DIAG, as `ss` reads
 * it), for the start-up snapshot and periodic reconciliation. Dumping
 * assigns each socket its cookie, which BPF then reads to join events to
 * snapshot flows.
 */
#ifndef SYNFIN_SOCKDIAG_H
#define SYNFIN_SOCKDIAG_H

#include "flow.h"

typedef void (*sockdiag_fn)(void *ctx, const struct sf_snapshot_sock *s);

/* Every TCP socket (IPv4 and IPv6, all states incl. SYN-RECV requests
 * and TIME-WAIT) of the calling thread's network namespace, reported
 * with .netns = netns. 0 or -errno. */
int sockdiag__dump(__u32 netns, sockdiag_fn fn, void *ctx);

#endif /* SYNFIN_SOCKDIAG_H */
