/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Network namespaces: which exist (named ones and those of running
 * processes), and the one way into one: run a function inside it and come
 * back (sock_diag and rtnetlink answer for the namespace of the socket
 * that asks; libbpf's tc calls act in the caller's).
 */
#ifndef SYNFIN_NETNS_H
#define SYNFIN_NETNS_H

#include <stdint.h>

struct netns_ent {
	uint32_t inum;
	char path[64];		/* something to open it by */
};

/* Every namespace reachable through /var/run/netns, /var/run/docker/netns
 * and /proc/PID/ns/net, each once; with a prefix, only those named
 * /var/run/netns/PREFIX*. Returns the count (>= 0) or -errno; *out is
 * malloc'd. */
int netns__list(struct netns_ent **out, const char *prefix);
/* Run fn inside the namespace at path (or open at ns_fd) on the calling
 * thread, then come back. fn's result, or -errno if the namespace could
 * not be entered (-EINVAL: not a network namespace) or left. */
int netns__run_in(const char *path, int (*fn)(void *ctx), void *ctx);
int netns__run_fd(int ns_fd, int (*fn)(void *ctx), void *ctx);
/* Inode of our own network namespace (0 if unknown). */
uint32_t netns__self(void);

#endif /* SYNFIN_NETNS_H */
