// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include "out_socket.h"

struct sock_server {
	struct sock_server_opts o;
	char *path;
	int fd;
	struct loop_source *src;
	struct sf_socket_counters cnt;
	struct sock_client *clients;	/* for closing them all */
};

/* a request line is short ({"get":"flow","id":"..."}): longer is no request */
#define REQ_MAX 1024

struct sock_client {
	struct output base;
	struct sock_server *srv;
	struct loop_source *src;
	struct sock_client *next;
	struct json j;		/* unsent bytes start at off: whole lines */
	size_t off;
	uint64_t missed;	/* lines lost since the client was last told */
	int fd;
	bool gone;		/* a send failed: removed at its hang-up */
	bool req_long;		/* in a line past REQ_MAX: skipped to its end */
	size_t req_len;
	char req[REQ_MAX];	/* the request line read so far */
};

static size_t count_lines(const char *p, size_t n)
{
	size_t k = 0;

	for (const char *e = p + n; p < e && (p = memchr(p, '\n', (size_t)(e - p))); p++)
		k++;
	return k;
}

static size_t unsent(const struct sock_client *c)
{
	return c->j.len - c->off;
}

/* Lose one line, whole. */
static void drop_line(struct sock_client *c, size_t len_before)
{
	json__reset(&c->j);
	c->j.len = len_before;
	c->missed++;
	c->srv->cnt.dropped++;
}

static int client_write(struct output *base, const struct sf_record *rec)
{
	struct sock_client *c = (struct sock_client *)base;
	size_t before = c->j.len;

	if (c->gone)
		return 0;
	/* past the bound: the line goes, and the loop goes on; but not a
	 * loss record (one a second at most, ~1 KiB): a viewer that fell
	 * behind in the burst that lost events must still learn of it */
	if (unsent(c) >= c->srv->o.client_buf && rec->type != SF_REC_LOSS) {
		c->missed++;
		c->srv->cnt.dropped++;
		return 0;
	}
	record_json__record(&c->j, rec, c->srv->o.clk);
	if (c->j.oom || (unsent(c) > c->srv->o.client_buf && rec->type != SF_REC_LOSS))
		drop_line(c, before);
	return 0;
}

static int client_flush(struct output *base)
{
	struct sock_client *c = (struct sock_client *)base;
	size_t start = c->off;

	while (!c->gone && c->off < c->j.len) {
		ssize_t n = send(c->fd, c->j.buf + c->off, c->j.len - c->off, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n > 0)
			c->off += (size_t)n;
		else if (n < 0 && errno == EINTR)
			continue;
		else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		else
			c->gone = true; /* its hang-up removes it (on_client) */
	}
	c->srv->cnt.lines += count_lines(c->j.buf + start, c->off - start);
	if (c->off == c->j.len) {
		json__reset(&c->j);
		c->off = 0;
	} else if (c->off > c->j.len / 2) {
		memmove(c->j.buf, c->j.buf + c->off, unsent(c));
		c->j.len -= c->off;
		c->off = 0;
	}
	/* caught up enough to take a line again: tell it what it missed */
	if (c->missed && !c->gone && unsent(c) < c->srv->o.client_buf / 2) {
		size_t before = c->j.len;
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		record_json__dropped(&c->j, c->missed, (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec,
				     c->srv->o.clk);
		if (c->j.oom) {
			json__reset(&c->j);
			c->j.len = before;
		} else {
			c->missed = 0;
		}
	}
	/* a client is never a failed output: it only costs itself lines */
	return 0;
}

static int client_reopen(struct output *base)
{
	(void)base;
	return 0;
}

static void client_close(struct output *base)
{
	struct sock_client *c = (struct sock_client *)base;
	struct sock_server *s = c->srv;

	client_flush(base);
	for (struct sock_client **p = &s->clients; *p; p = &(*p)->next) {
		if (*p == c) {
			*p = c->next;
			break;
		}
	}
	loop__remove(s->o.loop, c->src);
	close(c->fd);
	json__free(&c->j);
	s->cnt.clients--;
	free(c);
}

static const struct output_ops client_ops = {
	.write = client_write,
	.flush = client_flush,
	.reopen = client_reopen,
	.close = client_close,
};

/* One request line: its answer is bounded as a live line is. */
static void client_request(struct sock_client *c, const char *line, size_t len)
{
	struct sock_server *s = c->srv;
	size_t before = c->j.len;

	if (c->gone || !s->o.request)
		return;
	if (unsent(c) >= s->o.client_buf) {
		c->missed++;
		s->cnt.dropped++;
		return;
	}
	s->o.request(s->o.request_ctx, line, len, &c->j);
	if (c->j.oom || unsent(c) > s->o.client_buf)
		drop_line(c, before);
}

/* What a client writes is requests, a line each; its end of the
 * connection is its hang-up. One read per call (epoll is level-triggered:
 * the rest comes on the next turn), so a client that writes without end
 * shares the loop with the capture instead of holding it. */
static int on_client(struct loop *l, int fd, uint32_t events, void *ctx)
{
	struct sock_client *c = ctx;
	ssize_t n;

	(void)l;
	n = recv(fd, c->req + c->req_len, REQ_MAX - c->req_len, MSG_DONTWAIT);
	if (n > 0) {
		size_t end = c->req_len + (size_t)n, from = 0;
		char *nl;

		while ((nl = memchr(c->req + from, '\n', end - from))) {
			size_t len = (size_t)(nl - (c->req + from));

			if (!c->req_long)
				client_request(c, c->req + from, len);
			c->req_long = false;
			from += len + 1;
		}
		memmove(c->req, c->req + from, end - from);
		c->req_len = end - from;
		if (c->req_len == REQ_MAX) {
			/* no newline in REQ_MAX bytes: answered once, skipped */
			if (!c->req_long)
				client_request(c, c->req, 0);
			c->req_long = true;
			c->req_len = 0;
		}
		return 0;
	}
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) ||
	    (events & (EPOLLHUP | EPOLLERR)))
		outputs__remove(c->srv->o.outputs, &c->base);
	return 0;
}

static void refuse(struct sock_server *s, int fd)
{
	char line[160];
	int n = snprintf(line, sizeof(line),
			 "{\"type\":\"refused\",\"reason\":\"too many clients: %u connected (--max-clients)\"}\n",
			 s->o.max_clients);

	/* a fresh socket's buffer takes one line: nothing waits for it
	 * (a client gone already is refused all the same) */
	(void)send(fd, line, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
	close(fd);
	s->cnt.refused++;
}

static int add_client(struct sock_server *s, int fd)
{
	struct sock_client *c = calloc(1, sizeof(*c));
	int err;

	if (!c)
		return -ENOMEM;
	c->base.ops = &client_ops;
	c->base.name = s->path;
	c->base.watch_fd = -1;
	/* a client's failure is its own: never a reason to stop */
	c->base.on_error = OUTPUT_ON_ERROR_DROP;
	c->srv = s;
	c->fd = fd;
	/* the greeting is not bounded: it is the table's size at most */
	s->o.greet(s->o.greet_ctx, &c->j);
	if (c->j.oom) {
		json__free(&c->j);
		free(c);
		return -ENOMEM;
	}
	err = loop__add_fd(s->o.loop, fd, EPOLLIN | EPOLLRDHUP, on_client, c, &c->src);
	if (err) {
		json__free(&c->j);
		free(c);
		return err;
	}
	c->next = s->clients;
	s->clients = c;
	s->cnt.clients++;
	s->cnt.accepted++;
	outputs__add(s->o.outputs, &c->base);
	return 0;
}

static int on_listen(struct loop *l, int lfd, uint32_t events, void *ctx)
{
	struct sock_server *s = ctx;

	(void)l, (void)events;
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EINTR)
				continue;
			/* EAGAIN: all taken; anything else is the client's
			 * (it left already) or passing (no fds): not ours to end */
			return 0;
		}
		if (s->cnt.clients >= s->o.max_clients)
			refuse(s, fd);
		else if (add_client(s, fd))
			close(fd);
	}
}

/* A socket file left by a daemon that died: nobody answers on it. */
static int take_stale(const struct sockaddr_un *sa)
{
	struct stat st;
	int fd, err;

	if (lstat(sa->sun_path, &st))
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode))
		return -EEXIST;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	err = connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) ? errno : 0;
	close(fd);
	if (!err)
		return -EADDRINUSE; /* another daemon serves it */
	if (err != ECONNREFUSED)
		return -err;
	return unlink(sa->sun_path) ? -errno : 0;
}

static int make_dir(const char *path)
{
	char *copy = strdup(path);
	int err = 0;

	if (!copy)
		return -ENOMEM;
	if (mkdir(dirname(copy), 0755) && errno != EEXIST)
		err = -errno;
	free(copy);
	return err;
}

int sock_server__open(struct sock_server **out, const struct sock_server_opts *o)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct sock_server *s;
	int err;

	if (strlen(o->path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, o->path);
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->o = *o;
	s->fd = -1;
	s->path = strdup(o->path);
	if (!s->path) {
		free(s);
		return -ENOMEM;
	}
	err = make_dir(o->path);
	if (!err)
		err = take_stale(&sa);
	if (!err) {
		s->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (s->fd < 0)
			err = -errno;
	}
	if (!err && bind(s->fd, (const struct sockaddr *)&sa, sizeof(sa)))
		err = -errno;
	if (err) {
		if (s->fd >= 0)
			close(s->fd);
		free(s->path);
		free(s);
		return err;
	}
	/* from here the file is ours: sock_server__close removes it */
	s->o.path = s->path;
	if (o->gid != (gid_t)-1 && chown(s->path, (uid_t)-1, o->gid))
		err = -errno;
	if (!err && chmod(s->path, 0660))
		err = -errno;
	if (!err && listen(s->fd, 16))
		err = -errno;
	if (!err)
		err = loop__add_fd(o->loop, s->fd, EPOLLIN, on_listen, s, &s->src);
	if (err) {
		sock_server__close(s);
		return err;
	}
	*out = s;
	return 0;
}

void sock_server__close(struct sock_server *s)
{
	if (!s)
		return;
	while (s->clients)
		outputs__remove(s->o.outputs, &s->clients->base);
	loop__remove(s->o.loop, s->src);
	if (s->fd >= 0) {
		close(s->fd);
		unlink(s->path);
	}
	free(s->path);
	free(s);
}

void sock_server__counters(const struct sock_server *s, struct sf_socket_counters *c)
{
	if (s)
		*c = s->cnt;
	else
		memset(c, 0, sizeof(*c));
}
