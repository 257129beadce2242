/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * --metrics: the Prometheus text exposition of the stats model (every row
 * of sf_stat_defs, named synfin_<group>_<name>) and of the cumulative
 * aggregate of finished flows, served over HTTP by libmicrohttpd in
 * external epoll mode: its epoll fd is a source of the daemon's loop, so
 * a scrape runs on the loop's thread and reads the counters directly.
 */
#ifndef SYNFIN_METRICS_H
#define SYNFIN_METRICS_H

#include <stdbool.h>
#include <stdio.h>
#include <sys/socket.h>
#include "aggregate.h"
#include "stats.h"

/* The exposition text of st and tot (cumulative); with keys (NULL: none),
 * per listener port and per process too, top N of each plus "other".
 * Pure but for f. */
void metrics__text(FILE *f, const struct sf_stats *st, const struct agg_counts *tot, struct agg *keys);

struct metrics;
/* What a scrape shows, gathered at the scrape: st and *tot filled. */
typedef void (*metrics_gather_fn)(void *ctx, struct sf_stats *st, const struct agg_counts **tot,
				  struct agg **keys);

/* Serve on ss (options.c: --metrics). 0 or -errno. */
int metrics__start(struct metrics **m, const struct sockaddr_storage *ss, metrics_gather_fn fn, void *ctx);
/* the fd to watch (EPOLLIN), and what to call when it is ready or
 * every second (connection timeouts) */
int metrics__fd(const struct metrics *m);
void metrics__run(struct metrics *m);
void metrics__stop(struct metrics *m);

#endif /* SYNFIN_METRICS_H */
