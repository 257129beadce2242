// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <systemd/sd-daemon.h>
#include "notify.h"

/* sd_notify(): > 0 sent, 0 no service manager to tell, < 0 -errno */
static int send_state(const char *state)
{
	int r = sd_notify(0, state);

	return r < 0 ? r : 0;
}

bool notify__enabled(void)
{
	return getenv("NOTIFY_SOCKET") != NULL;
}

int notify__ready(void)
{
	return send_state("READY=1");
}

int notify__status(const char *fmt, ...)
{
	char buf[256];
	va_list ap;
	int r;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	/* a newline would start another assignment of the protocol */
	for (char *c = buf; *c; c++)
		if (*c == '\n')
			*c = ' ';
	r = sd_notifyf(0, "STATUS=%s", buf);
	return r < 0 ? r : 0;
}

int notify__reloading(void)
{
	return send_state("RELOADING=1");
}

int notify__stopping(void)
{
	return send_state("STOPPING=1");
}

uint64_t notify__watchdog_usec(void)
{
	uint64_t usec = 0;

	/* also checks WATCHDOG_PID: a child we forked is not the one watched */
	if (sd_watchdog_enabled(0, &usec) <= 0)
		return 0;
	return usec;
}

int notify__watchdog_ping(void)
{
	return send_state("WATCHDOG=1");
}
