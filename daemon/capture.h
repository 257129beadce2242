/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Kernel capture: loads the state programs (embedded skeleton), attaches
 * them, and drains the ring buffers into a callback. With tc.c (the
 * segment programs), the only file that includes a skeleton.
 */
#ifndef SYNFIN_CAPTURE_H
#define SYNFIN_CAPTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/types.h>
#include "../include/synfin.h"

struct filter;

#define CAPTURE_MAX_NETNS 64
#define CAPTURE_POLL_BUDGET 65536	/* events one capture__poll hands over at most */

typedef void (*capture_event_fn)(void *ctx, const void *data, size_t size);

struct capture_opts {
	uint32_t netns[CAPTURE_MAX_NETNS];
	int n_netns;		/* 0: every namespace */
	uint32_t max_sockets;	/* BPF per-socket map entries */
	uint32_t ring_bytes;	/* all CPUs' ring buffers together, power of two */
	bool accept_owner;	/* attach syscalls:sys_exit_accept{,4} */
	const struct filter *filter; /* what the kernel applies of it (NULL: nothing) */
};

struct capture;

/* Privileges needed to load and attach. 0, or -EPERM with the missing
 * capabilities named in msg. */
int capture__check_privileges(char *msg, size_t len);
/* 0 or -errno; msg says what failed (and why, where known). */
int capture__open(struct capture **c, const struct capture_opts *o, capture_event_fn fn, void *ctx,
		  char *msg, size_t len);
/* What is attached, what is degraded: a human line for stderr. */
const char *capture__describe(const struct capture *c);
/* Wait up to timeout_ms for a wake-up, then drain everything, in time
 * order. Events handled (CAPTURE_POLL_BUDGET: more may be waiting), or
 * -errno (-EINTR on a signal). */
int capture__poll(struct capture *c, int timeout_ms);
/* Readable when BPF woke the consumer (a ring filled past its mark): for
 * the caller's event loop, which then calls capture__poll(c, 0). */
int capture__fd(const struct capture *c);
/* How full a ring gets before BPF wakes the consumer (1/16 of one: the
 * segment programs use the same), and how many rings (see rings__count). */
uint64_t capture__wakeup_bytes(const struct capture *c);
int capture__nrings(const struct capture *c);
void capture__counters(struct capture *c, uint64_t out[SF_CNT_MAX]);
/* Failed ring reserves (events lost) per ring, the first n rings: how
 * many rings were filled in. */
int capture__ring_full(struct capture *c, uint64_t *by_ring, int n);
/* Events lost because the kernel skipped our programs (recursion), given
 * how many skipped state events the backup copy caught. */
uint64_t capture__recursion_misses(struct capture *c, uint64_t caught);
/* The ring buffers (the per-CPU array of them) and counters maps, for the
 * segment programs (tc.h) to share: one set of rings, one set of
 * counters, one consumer. */
int capture__events_fd(const struct capture *c);
int capture__counters_fd(const struct capture *c);
/* The filters' maps (the prefix trie, --cgroup's verdicts of listeners
 * and connect()s), for the segment programs to share. */
void capture__filter_fds(const struct capture *c, int *cidrs, int *cg_listeners, int *cg_connects);
void capture__close(struct capture *c);

#endif /* SYNFIN_CAPTURE_H */
