// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Time-wait sockets followed to their exit. */
#include "unit.h"

static struct tw_record tws[8];
static struct tw_key twkeys[8];
static int ntw;

static void tw_sink(void *ctx, const struct tw_record *r)
{
	(void)ctx;
	if (ntw < 8) {
		tws[ntw] = *r;
		twkeys[ntw] = *r->key;
		tws[ntw].key = &twkeys[ntw];
		ntw++;
	}
}

/* TIME_WAIT from the hand-over to each way out */
TEST(time_wait_exits)
{
	struct tw_table *t = tw_table__new(4, tw_sink, NULL);
	struct tw_key a = { .netns = 1, .family = 2, .lport = 5000, .rport = 80 }, b = a, c = a, d = a;
	struct tw_stats st;

	ntw = 0;
	b.lport = 5001;
	c.lport = 5002;
	d.lport = 5003;
	tw_table__enter(t, &a, 1, 1, 100, 0, SF_TCP_FIN_WAIT2, SF_SRC_EVENT);
	tw_table__enter(t, &b, 2, 2, 110, 0, SF_TCP_FIN_WAIT2, SF_SRC_EVENT);
	tw_table__enter(t, &c, 3, 3, 120, 0, SF_TCP_CLOSING, SF_SRC_EVENT);
	/* a: the peer's FIN, then our ACK: TIME_WAIT proper */
	EXPECT(tw_table__segment(t, &a, 0x11, false, 150));
	EXPECT(tw_table__segment(t, &a, 0x10, true, 151));
	/* b: a RST ends it */
	EXPECT(tw_table__segment(t, &b, 0x04, false, 200));
	EXPECT(ntw == 1 && tws[0].exit == TW_EXIT_RESET && tws[0].exact && tws[0].flow_id_sk == 2);
	/* c: a new connection's SYN takes the tuple; the SYN is not ours */
	EXPECT(!tw_table__segment(t, &c, 0x02, true, 300));
	EXPECT(ntw == 2 && tws[1].exit == TW_EXIT_REUSED && tws[1].from == SF_TCP_CLOSING);
	/* a: expires with the kernel's list; d was never handed over */
	tw_table__round_begin(t);
	tw_table__seen(t, &d, 400);
	tw_table__round_end(t, 400);
	EXPECT(ntw == 3 && tws[2].exit == TW_EXIT_EXPIRED && !tws[2].exact);
	/* TIME_WAIT began with the peer's FIN, not our ACK of it */
	EXPECT(tws[2].entered == 150 && tws[2].entered_src == SF_SRC_SEGMENT);
	EXPECT(tws[2].handoff == 100 && tws[2].exited == 400);
	tw_table__stats(t, &st);
	EXPECT(st.now == 1 && st.discovered == 1 && st.kernel == 1);
	/* without rounds, the clock: 2*MSL after TIME_WAIT began */
	tw_table__advance(t, 400 + TW_LINUX_TIMEOUT_NS + 1000000000ULL, false);
	EXPECT(ntw == 4 && tws[3].exit == TW_EXIT_EXPIRED && tws[3].pre_existing);
	EXPECT(tws[3].exited == 400 + TW_LINUX_TIMEOUT_NS);
	tw_table__free(t);
}

/* full tracker: the oldest is reported as untracked, never silently lost */
TEST(time_wait_bounded)
{
	struct tw_table *t = tw_table__new(2, tw_sink, NULL);
	struct tw_key k = { .netns = 1, .family = 2, .rport = 80 };

	ntw = 0;
	for (int i = 0; i < 3; i++) {
		k.lport = 6000 + i;
		tw_table__enter(t, &k, i, i, 10 + i, 0, SF_TCP_FIN_WAIT2, SF_SRC_EVENT);
	}
	EXPECT(ntw == 1 && tws[0].exit == TW_EXIT_EVICTED && tws[0].key->lport == 6000);
	tw_table__free(t);
}

/* the flow table hands an active closer's socket to the tracker */
TEST(time_wait_from_flow)
{
	struct flow_table_config cfg = { .max_flows = 64, .close_grace_ns = GRACE, .max_time_wait = 16 };
	struct flow_table *t;
	struct tw_stats st;

	t = table_cfg(&cfg);
	client_seed(t, 0xe5, 0);
	flow_table__flush(t);
	flow_table__tw_stats(t, &st);
	EXPECT(nrec == 1 && st.now == 1 && st.tracked == 1);
	/* the same tuple connects again: the time-wait socket was reused */
	feed(t, ev(0xe5, 50000, 50000, SF_TCP_CLOSE, SF_TCP_SYN_SENT));
	flow_table__tw_stats(t, &st);
	EXPECT(st.now == 0 && st.exits[TW_EXIT_REUSED] == 1);
	EXPECT(nrec == 2 && recs[1].type == SF_REC_TIME_WAIT);
	flow_table__free(t);
}
