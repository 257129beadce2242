// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Stuck detection: thresholds, order, resolution, the rate limit. */
#include "unit.h"

/* CLOSE_WAIT past its threshold: one stuck record, then resolved */
TEST(stuck_and_resolved)
{
	struct flow_table_config cfg = { .max_flows = 64, .close_grace_ns = GRACE };
	struct flow_table *t;
	struct flow_table_stats st;
	int i;

	cfg.stuck_ns[SF_TCP_CLOSE_WAIT] = 5 * SEC;
	t = table_cfg(&cfg);
	feed(t, ev(0xc1, 1, 1, SF_TCP_LISTEN, SF_TCP_SYN_RECV));
	feed(t, ev(0xc1, 1, 2, SF_TCP_SYN_RECV, SF_TCP_ESTABLISHED));
	feed(t, ev(0xc1, 1, 1 * SEC, SF_TCP_ESTABLISHED, SF_TCP_CLOSE_WAIT));
	flow_table__advance(t, 6 * SEC - 1);
	EXPECT(nrec == 0);
	flow_table__advance(t, 6 * SEC);
	EXPECT(nrec == 1);
	EXPECT(recs[0].type == SF_REC_STUCK);
	EXPECT(recs[0].state == SF_TCP_CLOSE_WAIT);
	EXPECT(recs[0].age_ns == 5 * SEC);
	EXPECT(!recs[0].age_lower_bound);
	flow_table__advance(t, 60 * SEC); /* once, not every tick */
	EXPECT(nrec == 1);
	flow_table__stats(t, &st);
	EXPECT(st.stuck_by_state[SF_TCP_CLOSE_WAIT] == 1);
	feed(t, ev(0xc1, 1, 70 * SEC, SF_TCP_CLOSE_WAIT, SF_TCP_LAST_ACK));
	EXPECT(nrec == 2);
	EXPECT(recs[1].type == SF_REC_RESOLVED);
	EXPECT(recs[1].next_state == SF_TCP_LAST_ACK);
	EXPECT(recs[1].age_ns == 69 * SEC);
	feed(t, ev(0xc1, 1, 70 * SEC + 5, SF_TCP_LAST_ACK, SF_TCP_CLOSE));
	flow_table__flush(t);
	i = find_type(SF_REC_FLOW, 0xc1);
	EXPECT(i == 2);
	flow_table__stats(t, &st);
	EXPECT(st.stuck_total == 1 && st.resolved_total == 1);
	EXPECT(st.stuck_by_state[SF_TCP_CLOSE_WAIT] == 0);
	flow_table__free(t);
}

/* Flows are found at the heads of their state's list, in entry order,
 * even when entries arrive out of order; closing resolves a stuck flow. */
TEST(stuck_order_and_close)
{
	struct flow_table_config cfg = { .max_flows = 64, .close_grace_ns = GRACE };
	struct flow_table *t;

	cfg.stuck_ns[SF_TCP_SYN_SENT] = 10 * SEC;
	cfg.stuck_ns[SF_TCP_FIN_WAIT2] = 10 * SEC;
	t = table_cfg(&cfg);
	feed(t, ev(0xd2, 3 * SEC, 3 * SEC, SF_TCP_CLOSE, SF_TCP_SYN_SENT));
	feed(t, ev(0xd1, 1 * SEC, 1 * SEC, SF_TCP_CLOSE, SF_TCP_SYN_SENT)); /* older, later */
	feed(t, ev(0xd3, 2 * SEC, 2 * SEC, SF_TCP_CLOSE, SF_TCP_SYN_SENT));
	flow_table__advance(t, 12 * SEC + 1);
	EXPECT(nrec == 2);
	EXPECT(recs[0].flow.sk == 0xd1 && recs[1].flow.sk == 0xd3);
	flow_table__advance(t, 13 * SEC);
	EXPECT(nrec == 3 && recs[2].flow.sk == 0xd2);
	/* d1 times out: resolved to CLOSED, then its flow record */
	feed(t, ev(0xd1, 1 * SEC, 20 * SEC, SF_TCP_SYN_SENT, SF_TCP_CLOSE));
	EXPECT(nrec == 4 && recs[3].type == SF_REC_RESOLVED && recs[3].next_state == SF_TCP_CLOSE);
	/* a state not watched: nothing */
	feed(t, ev(0xd3, 2 * SEC, 21 * SEC, SF_TCP_SYN_SENT, SF_TCP_ESTABLISHED));
	EXPECT(nrec == 5 && recs[4].type == SF_REC_RESOLVED);
	flow_table__advance(t, 100 * SEC);
	EXPECT(count_type(SF_REC_STUCK) == 3);
	flow_table__free(t);
}

TEST(stuck_rate_limit)
{
	struct flow_table_config cfg = { .max_flows = 256, .close_grace_ns = GRACE, .stuck_rate = 10 };
	struct flow_table_stats st;
	struct flow_table *t;

	cfg.stuck_ns[SF_TCP_SYN_SENT] = 1 * SEC;
	t = table_cfg(&cfg);
	for (__u64 i = 0; i < 100; i++)
		feed(t, ev(0x300 + i, 1, 1, SF_TCP_CLOSE, SF_TCP_SYN_SENT));
	flow_table__advance(t, 2 * SEC);
	flow_table__stats(t, &st);
	EXPECT(count_type(SF_REC_STUCK) == 10);
	EXPECT(st.stuck_total == 100);
	EXPECT(st.stuck_suppressed == 90);
	EXPECT(st.stuck_by_state[SF_TCP_SYN_SENT] == 100);
	/* the unreported ones resolve silently */
	for (__u64 i = 0; i < 100; i++)
		feed(t, ev(0x300 + i, 1, 3 * SEC, SF_TCP_SYN_SENT, SF_TCP_CLOSE));
	EXPECT(count_type(SF_REC_RESOLVED) == 10);
	flow_table__free(t);
}
