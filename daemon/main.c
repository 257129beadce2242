// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * synfin: the entry point. `synfin show` goes its own way (show.c); the
 * daemon: options, signals, then the live daemon or a replay, then
 * everything taken down; the exit status says how it went (daemon.h).
 * See daemon.h for which file does what.
 */
#include <signal.h>
#include <string.h>
#include "capture.h"
#include "daemon.h"
#include "loop.h"
#include "show.h"
#include "tc.h"
#include "top.h"

int main(int argc, char **argv)
{
	struct daemon d = {};
	sigset_t sigs;
	int rc;

	/* synfin show: a command of its own, with its own options */
	if (argc > 1 && !strcmp(argv[1], "show"))
		return show__main(argc - 1, argv + 1);
	/* synfin top: a client of the daemon's socket */
	if (argc > 1 && !strcmp(argv[1], "top"))
		return top__main(argc - 1, argv + 1);
	rc = options__parse(&d.o, argc, argv);
	if (rc)
		return rc;
	log__set_level(d.o.log_level);

	/* Signals are read from the event loop (a signalfd), or between
	 * events by --replay: blocked from here on, never lost. A closed
	 * pipe shows as EPIPE on write, not as a signal that kills us. */
	daemon__signals(&sigs);
	loop__block_signals(&sigs);
	signal(SIGPIPE, SIG_IGN);

	rc = daemon__init(&d);
	if (!rc)
		rc = d.o.replay ? replay__run(&d) : live__run(&d);

	/* hooks first: nothing is captured once we stop reading */
	tc__close(d.tc);
	capture__close(d.cap);
	/* its clients are outputs watched by the loop: before both go */
	serve__close(&d);
	loop__free(d.loop);
	daemon__fini(&d);
	return rc;
}
