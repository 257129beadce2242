// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <stdio.h>
#include "log.h"

/* the process's one verbosity: set once from -v / -q */
static enum sf_log_level log_level = SF_LOG_INFO;

void log__set_level(enum sf_log_level level)
{
	log_level = level;
}

bool log__enabled(enum sf_log_level level)
{
	return level <= log_level;
}

void log__vprintf(enum sf_log_level level, const char *fmt, va_list ap)
{
	char line[1024];
	int n;

	if (!log__enabled(level))
		return;
	/* one write per line: lines of a message never interleave with
	 * another writer's on a shared stderr */
	n = snprintf(line, sizeof(line), "synfin: ");
	n += vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	if (n > (int)sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	if (line[n - 1] != '\n')
		line[n++] = '\n';
	fwrite(line, 1, (size_t)n, stderr);
}

void log__printf(enum sf_log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log__vprintf(level, fmt, ap);
	va_end(ap);
}

bool log__ratelimit(struct log_ratelimit *rl, uint64_t now_ns, uint64_t *held_back)
{
	if (now_ns < rl->next_ns) {
		rl->suppressed++;
		return false;
	}
	rl->next_ns = now_ns + rl->interval_ns;
	*held_back = rl->suppressed;
	rl->suppressed = 0;
	return true;
}
