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

	rc = daemon__run(&d);
	return rc;
}
