/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The output registry. Every record of every kind (flow, listen, stuck,
 * resolved, pileup, time_wait, stats) reaches every output by one route,
 * outputs__emit(); outputs are added and removed while synfin runs (a
 * live-view client, a second file), and each keeps its own counters.
 *
 * An output formats and queues on write, writes what is queued on flush,
 * opens its file again on reopen (log rotation) and lets go on close. An
 * I/O failure costs only whole lines (never half a line glued to the
 * next): the output counts them and remembers the error; the daemon's
 * top level learns of it through outputs__flush() and decides (exit or
 * go on, --on-output-error). Nothing here logs.
 */
#ifndef SYNFIN_OUTPUT_H
#define SYNFIN_OUTPUT_H

#include <stdbool.h>
#include "flow.h"
#include "stats.h"

struct output;

struct output_ops {
	/* Format one record and queue it; may write when enough is queued.
	 * 0 or -errno (the output also remembers it: see output.err). */
	int (*write)(struct output *o, const struct sf_record *rec);
	/* Write everything queued. 0 or -errno. */
	int (*flush)(struct output *o);
	/* Open the destination again (after log rotation): what is queued
	 * goes to the old one first. 0, or -errno (the old one stays). */
	int (*reopen)(struct output *o);
	/* Flush and free. */
	void (*close)(struct output *o);
};

enum output_on_error {
	OUTPUT_ON_ERROR_EXIT = 0,	/* a failed write ends synfin (exit 1) */
	OUTPUT_ON_ERROR_DROP,		/* the lines are lost, counted, reported; synfin goes on */
};

struct output {
	const struct output_ops *ops;
	const char *name;		/* "-" (stdout) or the path: for messages */
	struct sf_output_counters cnt;
	int err;			/* the latest write error (-errno), 0: none */
	bool failed;			/* an error since the top level last looked */
	bool regular_file;		/* writes to a regular file (else a pipe, tty, socket...) */
	int watch_fd;			/* to watch for the reader going away (a pipe), or -1 */
	enum output_on_error on_error;	/* what the top level does when it fails */
	struct output *next;
};

struct outputs;

int outputs__new(struct outputs **r);
/* Flushes and closes every output. Accepts NULL. */
void outputs__free(struct outputs *r);
void outputs__add(struct outputs *r, struct output *o);
/* Flush, close and forget o. */
void outputs__remove(struct outputs *r, struct output *o);
/* The one route: every record, every output (an sf_sink_fn: ctx is the
 * registry). */
void outputs__emit(void *r, const struct sf_record *rec);
/* Flush every output, then call fn once for each output that failed
 * since the last call (its latest error in o->err). */
typedef void (*output_failed_fn)(void *ctx, struct output *o);
void outputs__flush(struct outputs *r, output_failed_fn fn, void *ctx);
/* fn for each output that failed since the last call, without flushing. */
void outputs__check(struct outputs *r, output_failed_fn fn, void *ctx);
/* Reopen every output (SIGHUP); fn for each that could not (it goes on
 * writing where it wrote). */
typedef void (*output_reopen_failed_fn)(void *ctx, struct output *o, int err);
void outputs__reopen(struct outputs *r, output_reopen_failed_fn fn, void *ctx);
/* Every output's counters summed. */
void outputs__counters(const struct outputs *r, struct sf_output_counters *sum);
/* For walking the registry: the first output, then o->next. */
struct output *outputs__first(const struct outputs *r);

#endif /* SYNFIN_OUTPUT_H */
