// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "output.h"

struct jsonl_output {
	struct sf_output base;
	const struct sf_clock *clk;
	struct json j;
	int fd;
	bool own_fd;
};

#define JSONL_BATCH (256 * 1024)

/* Records are formatted into one buffer and written in large batches: one
 * write(2) per drain cycle instead of one per line. */
static void jsonl_write_out(struct jsonl_output *o)
{
	size_t off = 0;

	while (off < o->j.len) {
		ssize_t n = write(o->fd, o->j.buf + off, o->j.len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			/* count the lines we could not write; end a line cut
			 * in the middle, so the next one is not glued to it */
			for (size_t i = off; i < o->j.len; i++)
				if (o->j.buf[i] == '\n')
					o->base.write_errors++;
			if (off && o->j.buf[off - 1] != '\n' && write(o->fd, "\n", 1) < 0)
				o->base.write_errors++;
			break;
		}
		off += (size_t)n;
	}
	json__reset(&o->j);
}

static void jsonl_line_done(struct jsonl_output *o)
{
	if (o->j.oom) {
		/* memory ran out mid-record: drop the half-built line */
		char *nl = o->j.len ? memrchr(o->j.buf, '\n', o->j.len - 1) : NULL;

		o->j.len = nl ? (size_t)(nl - o->j.buf) + 1 : 0;
		o->j.oom = false;
		o->base.write_errors++;
		return;
	}
	o->base.lines++;
	if (o->j.len >= JSONL_BATCH)
		jsonl_write_out(o);
}

static void jsonl_record(struct sf_output *base, const struct sf_record *rec)
{
	struct jsonl_output *o = (struct jsonl_output *)base;

	record_json__record(&o->j, rec, o->clk);
	jsonl_line_done(o);
}

static void jsonl_stats(struct sf_output *base, const struct flow_table_stats *st, const struct sf_counters *c,
			uint64_t now)
{
	struct jsonl_output *o = (struct jsonl_output *)base;

	record_json__stats(&o->j, st, c, o->clk, now);
	jsonl_line_done(o);
}

static void jsonl_flush(struct sf_output *base)
{
	struct jsonl_output *o = (struct jsonl_output *)base;

	if (o->j.len)
		jsonl_write_out(o);
}

static void jsonl_destroy(struct sf_output *base)
{
	struct jsonl_output *o = (struct jsonl_output *)base;

	jsonl_flush(base);
	if (o->own_fd)
		close(o->fd);
	json__free(&o->j);
	free(o);
}

static const struct sf_output_ops jsonl_ops = {
	.record = jsonl_record,
	.stats = jsonl_stats,
	.flush = jsonl_flush,
	.destroy = jsonl_destroy,
};

int output__jsonl_open(struct sf_output **out, const char *path, const struct sf_clock *clk)
{
	struct jsonl_output *o = calloc(1, sizeof(*o));

	if (!o)
		return -ENOMEM;
	o->base.ops = &jsonl_ops;
	o->clk = clk;
	if (!path || strcmp(path, "-") == 0) {
		o->fd = STDOUT_FILENO;
	} else {
		o->fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
		if (o->fd < 0) {
			int err = -errno;

			free(o);
			return err;
		}
		o->own_fd = true;
	}
	*out = &o->base;
	return 0;
}

void output__sink(void *head, const struct sf_record *rec)
{
	for (struct sf_output *o = head; o; o = o->next)
		o->ops->record(o, rec);
}

void output__stats_all(struct sf_output *head, const struct flow_table_stats *st, struct sf_counters *c,
		       uint64_t now)
{
	for (struct sf_output *o = head; o; o = o->next) {
		c->lines = o->lines;
		c->write_errors = o->write_errors;
		o->ops->stats(o, st, c, now);
	}
}

void output__flush_all(struct sf_output *head)
{
	for (struct sf_output *o = head; o; o = o->next)
		o->ops->flush(o);
}

void output__destroy_all(struct sf_output *head)
{
	while (head) {
		struct sf_output *next = head->next;

		head->ops->destroy(head);
		head = next;
	}
}
