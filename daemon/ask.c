// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include "ask.h"

int ask__connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

static int starts(const char *line, size_t len, const char *prefix)
{
	size_t n = strlen(prefix);

	return len >= n && !memcmp(line, prefix, n);
}

/* the daemon writes "type" first (record_json.c) */
int ask__is_answer(const char *line, size_t len)
{
	return starts(line, len, "{\"type\":\"reply\",") || starts(line, len, "{\"type\":\"error\",");
}

static long ms_left(const struct timespec *t0, int timeout_ms)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return timeout_ms - ((t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000);
}

int ask__request(const char *path, const char *request, int timeout_ms, char **line, size_t *len)
{
	size_t cap = 1 << 16, have = 0, from = 0, rlen = strlen(request);
	char *buf = malloc(cap);
	struct timespec t0;
	int fd, err = -ETIMEDOUT;

	*line = NULL;
	if (!buf)
		return -ENOMEM;
	fd = ask__connect(path);
	if (fd < 0) {
		free(buf);
		return fd;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	memcpy(buf, request, rlen);
	buf[rlen] = '\n';
	if (send(fd, buf, rlen + 1, MSG_NOSIGNAL) != (ssize_t)(rlen + 1)) {
		err = -errno;
		goto out;
	}
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		long ms = ms_left(&t0, timeout_ms);
		ssize_t n;
		char *nl;

		if (ms <= 0 || poll(&p, 1, (int)ms) <= 0)
			break;
		if (have == cap) {
			/* a line longer than the buffer: a snapshot's share */
			char *b = realloc(buf, cap * 2);

			if (!b) {
				err = -ENOMEM;
				break;
			}
			buf = b;
			cap *= 2;
		}
		n = read(fd, buf + have, cap - have);
		if (n <= 0) {
			if (n < 0 && errno == EINTR)
				continue;
			err = -EPIPE;
			break;
		}
		have += (size_t)n;
		while ((nl = memchr(buf + from, '\n', have - from))) {
			size_t l = (size_t)(nl - (buf + from));

			if (starts(buf + from, l, "{\"type\":\"refused\"")) {
				err = -EUSERS;
				goto out;
			}
			if (ask__is_answer(buf + from, l)) {
				*line = strndup(buf + from, l);
				*len = l;
				err = *line ? 0 : -ENOMEM;
				goto out;
			}
			from += l + 1;
		}
		/* what was read is skipped: keep only the line in progress */
		memmove(buf, buf + from, have - from);
		have -= from;
		from = 0;
	}
out:
	close(fd);
	free(buf);
	return err;
}
