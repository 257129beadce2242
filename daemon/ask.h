/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * A client's side of the daemon's live socket: connect, and ask one
 * request (docs/schema.md, "Requests") for its one-line answer. Used by
 * synfin show ID and synfin top; they say what went wrong, not this.
 */
#ifndef SYNFIN_ASK_H
#define SYNFIN_ASK_H

#include <stddef.h>

#define ASK_DEFAULT_SOCKET "/run/synfin/synfin.sock"

/* A connected stream socket (close-on-exec), or -errno. */
int ask__connect(const char *path);
/* Write request (one line, without its newline) on a fresh connection
 * and read until the answer (a `reply` or `error` line: the greeting and
 * live records before it are skipped), timeout_ms at most. 0 with *line
 * malloc'd (no newline), -ETIMEDOUT, -EUSERS (refused past
 * --max-clients), -EPIPE (the daemon closed), or another -errno. */
int ask__request(const char *path, const char *request, int timeout_ms, char **line, size_t *len);
/* Is this line an answer to a request (rather than a live record)? */
int ask__is_answer(const char *line, size_t len);

#endif
