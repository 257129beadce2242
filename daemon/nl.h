/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The one netlink layer (libmnl): sockets, dump requests, notification
 * sockets read without blocking. sock_diag (sockdiag.c) and rtnetlink
 * (tc.c: links and tc filters) both go through it. A netlink socket
 * answers for the network namespace it was made in.
 *
 * Functions return 0 or -errno; nothing here logs.
 */
#ifndef SYNFIN_NL_H
#define SYNFIN_NL_H

#include <libmnl/libmnl.h>

/* Room for one read: the kernel fills a dump's reads up to the size of
 * the reader's buffer, at most 32 KiB (libmnl's advice for dumps). */
#define NL_BUF_SIZE 32768

struct nl;

/* A request: its header, then room for a fixed-size body (inet_diag_req_v2,
 * ifinfomsg, tcmsg...). */
struct nl_request {
	struct nlmsghdr nh;
	char body[128];
};

/* Lay out a dump request of this type in r, with a zeroed body of len
 * bytes, returned for the caller to fill in. */
void *nl__dump_request(struct nl_request *r, uint16_t type, size_t len);

/* A socket of this bus (NETLINK_ROUTE, NETLINK_SOCK_DIAG), bound, in the
 * calling thread's namespace. groups: notifications to receive (e.g.
 * RTMGRP_LINK; 0: none); those sockets do not block (see nl__drain). */
int nl__open(struct nl **out, int bus, unsigned int groups);
/* Send a dump request (nl__dump_request's nh; the sequence number is set
 * here) and run
 * cb on each answer until the end of the dump. A netlink error answer
 * comes back as its -errno; cb returning MNL_CB_ERROR stops with -EIO. */
int nl__dump(struct nl *nl, struct nlmsghdr *nlh, mnl_cb_t cb, void *data);
/* Run cb on every notification waiting on a socket opened with groups.
 * 0 when drained; 1 when the kernel dropped some (the socket's buffer
 * overflowed: the caller must dump again); -errno. */
int nl__drain(struct nl *nl, mnl_cb_t cb, void *data);
/* The socket, for poll/epoll and socket options. */
int nl__fd(const struct nl *nl);
/* Accepts NULL. */
void nl__close(struct nl *nl);

#endif /* SYNFIN_NL_H */
