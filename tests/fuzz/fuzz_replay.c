// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * libFuzzer target: a --record file's bytes, read as `synfin --replay`
 * reads them (recorder.c), every event through the flow table, every
 * record formatted as JSON and checked (fuzz_common.c). The table's
 * settings are the daemon's defaults, but for a smaller table (a fresh
 * one per input) and lower pile-up thresholds, so that eviction and
 * pile-up records are reached.
 */
#include <stdio.h>
#include <stdlib.h>
#include "fuzz_common.h"
#include "pileup.h"
#include "recorder.h"

static const struct {
	unsigned int state;
	unsigned int seconds;
} stuck_defaults[] = {
	{ SF_TCP_SYN_SENT, 10 }, { SF_TCP_SYN_RECV, 10 },    { SF_TCP_FIN_WAIT1, 60 }, { SF_TCP_FIN_WAIT2, 120 },
	{ SF_TCP_CLOSE_WAIT, 60 }, { SF_TCP_CLOSING, 60 }, { SF_TCP_LAST_ACK, 60 },
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const __u32 pile[PILEUP_KINDS] = { [PILEUP_TIME_WAIT_REMOTE] = 3, [PILEUP_CLOSE_WAIT_PROCESS] = 2 };
	struct flow_table_config cfg = {
		.max_flows = 64,
		.close_grace_ns = 50000000ULL,
		.stuck_rate = 100,
		.max_time_wait = 64,
		.max_half_open = 8,
	};
	struct fuzz_sink sink = {};
	struct synfin_event e;
	uint32_t flags = 0;
	uint64_t i = 0, last = 0;
	char err[256];
	FILE *f;

	if (!size)
		return 0;
	f = fmemopen((void *)data, size, "rb");
	if (!f)
		abort();
	if (replay__header(f, "input", &sink.clk.mono_to_real_ns, &flags, err, sizeof(err))) {
		fclose(f);
		return 0;
	}
	for (size_t k = 0; k < sizeof(stuck_defaults) / sizeof(stuck_defaults[0]); k++)
		cfg.stuck_ns[stuck_defaults[k].state] = stuck_defaults[k].seconds * 1000000000ULL;
	cfg.pileups = pileup__new(pile, fuzz_sink__pileup, &sink);
	sink.table = flow_table__new(&cfg, fuzz_sink__record, &sink);
	if (!cfg.pileups || !sink.table)
		abort();
	flow_table__set_loopback_mirror(sink.table, flags & SF_REC_F_LO_EGRESS_ONLY);
	/* as run_replay() in main.c: time is the newest event's */
	while (replay__next(f, &e, i, err, sizeof(err)) == 1) {
		if (flow_table__ingest(sink.table, &e) == 0 && e.ts_ns > last)
			last = e.ts_ns;
		flow_table__advance(sink.table, last);
		fuzz_check_stats(&sink, &cfg);
		i++;
	}
	fclose(f);
	flow_table__flush(sink.table);
	fuzz_check_stats(&sink, &cfg);
	fuzz_sink__snapshot(&sink, last);
	flow_table__free(sink.table);
	pileup__free(cfg.pileups);
	fuzz_sink__free(&sink);
	return 0;
}
