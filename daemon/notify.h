/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The service manager's notification protocol (sd_notify, libsystemd):
 * readiness, a one-line status, watchdog pings, stopping. Every call is a
 * no-op returning 0 when the daemon was not started by a service manager
 * (NOTIFY_SOCKET unset), so synfin runs the same without systemd.
 */
#ifndef SYNFIN_NOTIFY_H
#define SYNFIN_NOTIFY_H

#include <stdbool.h>
#include <stdint.h>

/* Whether a service manager listens (NOTIFY_SOCKET is set): lets the
 * caller skip gathering a status nobody reads. */
bool notify__enabled(void);
/* READY=1: every hook is attached, the start-up snapshot taken. */
int notify__ready(void);
/* STATUS=...: what `systemctl status` shows under the unit's name. */
int notify__status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* RELOADING=1: reopening outputs (SIGHUP); READY=1 again when done. */
int notify__reloading(void);
/* STOPPING=1: on the way out, hooks about to be removed. */
int notify__stopping(void);
/* The watchdog interval asked for (WatchdogSec=), in microseconds, or 0
 * when there is none: ping at least twice per interval. */
uint64_t notify__watchdog_usec(void);
/* WATCHDOG=1: the main loop is alive. */
int notify__watchdog_ping(void);

#endif /* SYNFIN_NOTIFY_H */
