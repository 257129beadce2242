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


/* connections opened, once each: a client at SYN_SENT, a server child at
 * ESTABLISHED, also when that event comes before its birth (another CPU) */
TEST(stats_opened_by_role)
{
	struct flow_table *t = table(16);
	struct flow_table_stats st;

	client_seed(t, 0xa1, 0);
	client_seed(t, 0xa2, 100000);
	feed(t, ev(0xb1, 1, 1000, SF_TCP_LISTEN, SF_TCP_SYN_RECV));
	feed(t, ev(0xb1, 1, 2000, SF_TCP_SYN_RECV, SF_TCP_ESTABLISHED));
	feed(t, ev(0xb1, 1, 2000, SF_TCP_SYN_RECV, SF_TCP_ESTABLISHED)); /* a duplicate */
	feed(t, ev(0xb2, 1, 2000, SF_TCP_SYN_RECV, SF_TCP_ESTABLISHED)); /* reordered */
	feed(t, ev(0xb2, 1, 1000, SF_TCP_LISTEN, SF_TCP_SYN_RECV));
	flow_table__stats(t, &st);
	EXPECT(st.opened[SF_ROLE_CLIENT] == 2);
	EXPECT(st.opened[SF_ROLE_SERVER] == 2);
	flow_table__free(t);
}

/* half-open per listener: at most limit keys, the rest summed as other;
 * one port in one namespace over IPv4 and IPv6 is one key */
TEST(stats_half_open_listeners_bounded)
{
	struct sf_stats st = { .half_open.limit = 2 };
	struct json j = {};

	stats__listener_add(&st.half_open, 7, 80, 5);
	stats__listener_add(&st.half_open, 7, 81, 1);
	stats__listener_add(&st.half_open, 7, 82, 3);	/* takes 81's place */
	stats__listener_add(&st.half_open, 7, 80, 2);	/* the IPv6 listener */
	stats__listener_add(&st.half_open, 8, 80, 0);
	stats__listener_sort(&st.half_open);
	EXPECT(st.half_open.n == 2);
	EXPECT(st.half_open.top[0].port == 80 && st.half_open.top[0].count == 7);
	EXPECT(st.half_open.top[1].port == 82 && st.half_open.top[1].count == 3);
	EXPECT(st.half_open.other_listeners == 2 && st.half_open.other == 1);
	json__obj_open(&j, NULL);
	stats__json(&j, &st);
	json__obj_close(&j);
	json__putc(&j, 0);
	EXPECT(strstr(j.buf, "\"half_open_by_listener\":{\"listeners\":[{\"netns\":7,\"port\":80,\"count\":7},"
			     "{\"netns\":7,\"port\":82,\"count\":3}],\"other\":{\"listeners\":2,\"count\":1}}"));
	EXPECT(strstr(j.buf, "\"connections\":{\"opened\":{\"client\":0,\"server\":0}}"));
	json__free(&j);
}
