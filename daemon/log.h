/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Logging of the daemon's top level: one line per message on stderr,
 * "synfin: " first. Only the daemon's own files (main, options, live,
 * replay, reconcile) log; everything below them returns 0 or -errno and
 * leaves the words to their caller. stdout is the records' alone.
 */
#ifndef SYNFIN_LOG_H
#define SYNFIN_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

enum sf_log_level {
	SF_LOG_ERROR = 0,	/* always */
	SF_LOG_WARN,		/* DEGRADED, failing outputs, ... (-q keeps these) */
	SF_LOG_INFO,		/* the default: the ready line, start-up notes */
	SF_LOG_DEBUG,		/* -v: what is attached, where */
};

void log__set_level(enum sf_log_level level);
bool log__enabled(enum sf_log_level level);
void log__printf(enum sf_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The same from a va_list (a library's print callback); a trailing
 * newline in fmt's output is not doubled. */
void log__vprintf(enum sf_log_level level, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

#define pr_err(...) log__printf(SF_LOG_ERROR, __VA_ARGS__)
#define pr_warn(...) log__printf(SF_LOG_WARN, __VA_ARGS__)
#define pr_info(...) log__printf(SF_LOG_INFO, __VA_ARGS__)
#define pr_debug(...) log__printf(SF_LOG_DEBUG, __VA_ARGS__)

/* At most one message per interval for a condition that persists (a full
 * disk): the caller says what happened meanwhile with the count. */
struct log_ratelimit {
	uint64_t interval_ns;
	uint64_t next_ns;	/* the next message may go out at this time */
	uint64_t suppressed;	/* messages held back since the last one */
};

/* true: say it now (*held_back: how many were held back since the last
 * one); false: held back and counted. */
bool log__ratelimit(struct log_ratelimit *rl, uint64_t now_ns, uint64_t *held_back);

#endif /* SYNFIN_LOG_H */
