// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* The stats table: well formed, and the stats record generated from it. */
#include "unit.h"
#include "stats.h"

TEST(stats_table_is_well_formed)
{
	for (size_t i = 0; i < sf_stat_ndefs; i++) {
		const struct sf_stat_def *d = &sf_stat_defs[i];

		EXPECT(d->name && d->help && d->help[0]);
		EXPECT(d->type != SF_STAT_DERIVED || d->get);
		for (size_t k = 0; k < i; k++)
			EXPECT(strcmp(d->name, sf_stat_defs[k].name) ||
			       !d->group != !sf_stat_defs[k].group ||
			       (d->group && strcmp(d->group, sf_stat_defs[k].group)));
		/* a group's entries together: one JSON object each */
		if (i && d->group && sf_stat_defs[i - 1].group && strcmp(d->group, sf_stat_defs[i - 1].group))
			for (size_t k = 0; k < i; k++)
				EXPECT(!sf_stat_defs[k].group || strcmp(sf_stat_defs[k].group, d->group));
	}
}

TEST(stats_record_from_the_table)
{
	struct sf_stats st = {};
	struct json j = {};

	st.table.events = 10;
	st.table.decode_errors = 2;
	st.rb_bad_size = 1;
	st.bpf[SF_CNT_RB_FULL] = 4;
	st.recursion_misses = 3;
	st.table.stuck_total = 5;
	st.table.resolved_total = 2;
	st.table.by_state[SF_TCP_ESTABLISHED] = 7;
	st.out.lines = 9;
	st.uptime_s = 1.5;
	json__obj_open(&j, NULL);
	stats__json(&j, &st);
	json__obj_close(&j);
	json__putc(&j, 0);
	EXPECT(!j.oom);
	EXPECT(strstr(j.buf, "{\"uptime_s\":1.500,\"interval_s\":0.000,\"events\":{\"received\":13,\"lost\":7,"
			     "\"decode_errors\":3,"));
	EXPECT(strstr(j.buf, "\"flows\":{\"open\":0,"));
	EXPECT(strstr(j.buf, "\"by_state\":{\"ESTABLISHED\":7}},\"stuck\":{\"now\":3,\"total\":5,"));
	EXPECT(strstr(j.buf, "\"output\":{\"lines\":9,\"write_errors\":0,\"bytes\":0,\"dropped\":0},"));
	/* the live socket's group closes the record */
	EXPECT(strstr(j.buf, "\"socket\":{\"clients\":0,\"accepted\":0,\"refused\":0,\"lines\":0,\"dropped\":0}}"));
	json__free(&j);
}

