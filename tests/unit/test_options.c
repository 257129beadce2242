// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* The option table: a command line into struct opts, defaults kept. */
#include "unit.h"
#include "options.h"

TEST(options_parse_into_struct)
{
	char *argv[] = { "synfin", "-i", "5", "--stuck", "close_wait=3", "--on-output-error", "drop", "-q",
			 "--ring-mb", "16", "--no-segments", "daemon", NULL };
	struct opts o;

	EXPECT(options__parse(&o, 12, argv) == 0);
	EXPECT(o.stats_interval == 5 && o.stuck_s[SF_TCP_CLOSE_WAIT] == 3);
	/* untouched: the defaults */
	EXPECT(o.stuck_s[SF_TCP_SYN_SENT] == 10 && o.max_flows == 262144 && o.reconcile_s == 10);
	EXPECT(o.on_output_error_set && o.on_output_error == OUTPUT_ON_ERROR_DROP);
	EXPECT(o.log_level == SF_LOG_WARN && o.ring_mb == 16 && !o.segments && o.snapshot);
	EXPECT(!strcmp(o.output, "-"));
}
