// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * --replay: a --record file instead of the kernel. The flow table runs on
 * the recording's own clock, so the output does not depend on how fast
 * the file is read (the replay fixtures are compared byte for byte).
 */
#include <signal.h>
#include "daemon.h"

/* signals are looked at every this many events */
#define SIGNAL_CHECK_EVENTS 4096

/* Signals wait blocked (main.c): stop (INT, TERM, QUIT) ends the replay
 * early, cleanly; HUP reopens the outputs. */
static bool stop_asked(struct daemon *d)
{
	static const struct timespec zero;
	sigset_t set;
	int sig;

	daemon__signals(&set);
	while ((sig = sigtimedwait(&set, NULL, &zero)) > 0) {
		/* a stats line now would be on the wrong clock */
		if (sig != SIGUSR1 && daemon__signal(d, sig))
			return true;
	}
	daemon__check_outputs(d);
	return d->exit_rc != EXIT_OK;
}

int replay__run(struct daemon *d)
{
	uint32_t rflags = 0;
	struct synfin_event e;
	char err[256];
	uint64_t i = 0, last = 0;
	int r;

	r = replay__open(&d->rec, d->o.replay, &d->clk.mono_to_real_ns, &rflags, err, sizeof(err));
	if (r) {
		pr_err("%s", err);
		d->rec = NULL;
		return EXIT_RUNTIME;
	}
	flow_table__set_loopback_mirror(d->table, rflags & SF_REC_F_LO_EGRESS_ONLY);
	while ((r = replay__next(d->rec, &e, i, err, sizeof(err))) == 1) {
		if (!i)
			d->start_mono = d->last_stats = d->last_summary = e.ts_ns;
		if (flow_table__ingest(d->table, &e) == 0 && e.ts_ns > last)
			last = e.ts_ns;
		/* the grace period runs on event time, so output does not
		 * depend on how fast the file is read */
		flow_table__advance(d->table, last);
		/* summaries on event time too: the same file, the same records */
		if (d->o.summary_s > 0 && last >= d->last_summary + (uint64_t)(d->o.summary_s * 1e9))
			daemon__emit_summaries(d, last);
		if (!(++i % SIGNAL_CHECK_EVENTS) && stop_asked(d))
			break;
	}
	if (d->rec != stdin)
		fclose(d->rec);
	d->rec = NULL;
	flow_table__flush(d->table);
	daemon__emit_summaries(d, last ? last : d->start_mono);
	daemon__emit_stats(d, last ? last : d->start_mono, 0);
	daemon__flush(d);
	if (r < 0) {
		pr_err("%s; the %llu events before it were processed", err, (unsigned long long)i);
		return EXIT_RUNTIME;
	}
	return d->exit_rc;
}
