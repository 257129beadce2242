// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include "out_jsonl.h"

/* Records are formatted into one buffer and written in large batches: one
 * write(2) per drain cycle instead of one per line. */
#define JSONL_BATCH (256 * 1024)

struct out_jsonl {
	struct output base;
	const struct sf_clock *clk;
	struct json j;		/* whole lines waiting to be written; see torn */
	/* The first line in j had this many bytes written already (a write
	 * failed in its middle and the file could not be cut back): the
	 * rest goes first, so that nothing is ever glued to half a line. */
	size_t torn;
	size_t queued;		/* lines in j (the torn one included) */
	char *path;		/* NULL: stdout */
	int fd;
};

static size_t count_lines(const char *p, size_t n)
{
	size_t k = 0;
	const char *end = p + n;

	while (p < end && (p = memchr(p, '\n', (size_t)(end - p)))) {
		k++;
		p++;
	}
	return k;
}

static void set_fd(struct out_jsonl *o, int fd)
{
	struct stat st;
	bool file = !fstat(fd, &st) && S_ISREG(st.st_mode);
	bool pipe = !file && !fstat(fd, &st) && (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode));

	o->fd = fd;
	o->base.regular_file = file;
	/* a pipe says when its reader is gone: no need to wait for the
	 * next record to find out */
	o->base.watch_fd = pipe ? fd : -1;
}

/* Write failed after off bytes of the queue: keep every line whole. */
static void write_failed(struct out_jsonl *o, size_t off, int err)
{
	struct json *j = &o->j;
	const char *nl = off ? memrchr(j->buf, '\n', off) : NULL;
	size_t start = nl ? (size_t)(nl - j->buf) + 1 : 0; /* of the line cut at off */
	size_t done = off - start + (start ? 0 : o->torn); /* its bytes written */
	const char *end;
	struct stat st;

	o->base.err = err;
	o->base.failed = true;
	if (start == off && !(start == 0 && o->torn)) {
		/* cut between two lines: the rest is lost, whole */
		o->base.cnt.write_errors += count_lines(j->buf + off, j->len - off);
		json__reset(j);
		o->torn = 0;
		o->queued = 0;
		return;
	}
	/* Half a line is out. A file is cut back to the line's start (the
	 * line is lost, whole); anything else keeps the rest of that line
	 * to write first next time. */
	if (o->base.regular_file && !fstat(o->fd, &st) && (size_t)st.st_size >= done &&
	    !ftruncate(o->fd, st.st_size - (off_t)done)) {
		o->base.cnt.write_errors += count_lines(j->buf + off, j->len - off);
		o->base.cnt.bytes -= done;
		json__reset(j);
		o->torn = 0;
		o->queued = 0;
		return;
	}
	end = memchr(j->buf + off, '\n', j->len - off);
	/* the lines after it are lost, whole */
	o->base.cnt.write_errors += count_lines(end + 1, (size_t)(j->buf + j->len - end - 1));
	memmove(j->buf, j->buf + off, (size_t)(end + 1 - (j->buf + off)));
	json__reset(j);
	j->len = (size_t)(end + 1 - (j->buf + off));
	o->torn = done;
	o->queued = 1;
}

static int flush_out(struct out_jsonl *o)
{
	struct json *j = &o->j;
	size_t off = 0;
	int err = 0;

	while (off < j->len) {
		ssize_t n = write(o->fd, j->buf + off, j->len - off);

		if (n > 0) {
			off += (size_t)n; /* a short write: the rest follows */
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			/* an inherited non-blocking pipe: wait for its reader */
			struct pollfd p = { .fd = o->fd, .events = POLLOUT };

			if (poll(&p, 1, -1) >= 0 || errno == EINTR)
				continue;
		}
		err = n < 0 ? -errno : -EIO;
		break;
	}
	o->base.cnt.bytes += off;
	if (err) {
		o->base.cnt.lines += count_lines(j->buf, off);
		write_failed(o, off, err);
		return err;
	}
	/* all of it: no need to look for the line ends */
	o->base.cnt.lines += o->queued;
	json__reset(j);
	o->torn = 0;
	o->queued = 0;
	return 0;
}

static int jsonl_write(struct output *base, const struct sf_record *rec)
{
	struct out_jsonl *o = (struct out_jsonl *)base;
	size_t before = o->j.len;

	record_json__record(&o->j, rec, o->clk);
	if (o->j.oom) {
		/* memory ran out mid-record: drop the half-built line */
		json__reset(&o->j);
		o->j.len = before;
		o->base.cnt.dropped++;
		return -ENOMEM;
	}
	o->queued++;
	return o->j.len >= JSONL_BATCH ? flush_out(o) : 0;
}

static int jsonl_flush(struct output *base)
{
	struct out_jsonl *o = (struct out_jsonl *)base;

	return o->j.len ? flush_out(o) : 0;
}

static int jsonl_reopen(struct output *base)
{
	struct out_jsonl *o = (struct out_jsonl *)base;
	int fd;

	if (!o->path)
		return 0; /* stdout: whoever holds the other end rotates */
	/* what was formatted before the signal belongs to the old file */
	jsonl_flush(base);
	if (o->torn) {
		/* the rest of a line the old file could not take: it cannot
		 * start the new one */
		o->base.cnt.write_errors++;
		json__reset(&o->j);
		o->torn = 0;
		o->queued = 0;
	}
	fd = open(o->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	if (fd < 0)
		return -errno;
	close(o->fd);
	set_fd(o, fd);
	return 0;
}

static void jsonl_close(struct output *base)
{
	struct out_jsonl *o = (struct out_jsonl *)base;

	jsonl_flush(base);
	if (o->path)
		close(o->fd);
	json__free(&o->j);
	free(o->path);
	free(o);
}

static const struct output_ops jsonl_ops = {
	.write = jsonl_write,
	.flush = jsonl_flush,
	.reopen = jsonl_reopen,
	.close = jsonl_close,
};

int out_jsonl__open(struct output **out, const char *path, const struct sf_clock *clk)
{
	struct out_jsonl *o = calloc(1, sizeof(*o));
	int fd = STDOUT_FILENO, err;

	if (!o)
		return -ENOMEM;
	if (path && strcmp(path, "-")) {
		o->path = strdup(path);
		if (!o->path) {
			free(o);
			return -ENOMEM;
		}
		fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
		if (fd < 0) {
			err = -errno;
			free(o->path);
			free(o);
			return err;
		}
	}
	o->base.ops = &jsonl_ops;
	o->base.name = o->path ? o->path : "-";
	o->clk = clk;
	set_fd(o, fd);
	*out = &o->base;
	return 0;
}
