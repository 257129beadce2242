// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Pile-ups: CLOSE_WAIT per process, TIME_WAIT per remote, with hysteresis. */
#include "unit.h"

static struct pileup_event pevs[16];
static int npev;

static void pile_sink(void *ctx, const struct pileup_event *e)
{
	(void)ctx;
	if (npev < 16)
		pevs[npev++] = *e;
}

/* CLOSE_WAIT per process, fed by the flow table */
TEST(pileup_close_wait)
{
	__u32 thr[PILEUP_KINDS] = { [PILEUP_CLOSE_WAIT_PROCESS] = 3 };
	struct pileup *p = pileup__new(thr, pile_sink, NULL);
	struct flow_table_config cfg = { .max_flows = 64, .close_grace_ns = GRACE, .pileups = p };
	struct flow_table *t = table_cfg(&cfg);

	npev = 0;
	for (__u64 i = 0; i < 4; i++) {
		feed(t, ev(0x400 + i, 1, 1, SF_TCP_LISTEN, SF_TCP_SYN_RECV));
		feed(t, ev(0x400 + i, 1, 10 + i, SF_TCP_SYN_RECV, SF_TCP_CLOSE_WAIT));
	}
	EXPECT(npev == 1);
	EXPECT(pevs[0].start && pevs[0].count == 3 && pevs[0].key->tgid == 100);
	EXPECT(!strncmp(pevs[0].comm, "curl", 4));
	/* 4 -> 3: still >= 90%; 3 -> 2: below, ends */
	feed(t, ev(0x400, 1, 20, SF_TCP_CLOSE_WAIT, SF_TCP_LAST_ACK));
	EXPECT(npev == 1);
	feed(t, ev(0x401, 1, 21, SF_TCP_CLOSE_WAIT, SF_TCP_LAST_ACK));
	EXPECT(npev == 2);
	EXPECT(!pevs[1].start && pevs[1].count == 2 && pevs[1].peak == 4);
	flow_table__free(t);
	pileup__free(p);
}

/* TIME_WAIT per remote endpoint, fed by rounds of counts */
TEST(pileup_rounds)
{
	__u32 thr[PILEUP_KINDS] = { [PILEUP_TIME_WAIT_REMOTE] = 100 };
	struct pileup *p = pileup__new(thr, pile_sink, NULL);
	struct pileup_key a = { .netns = 1, .family = 2, .port = 443 }, b = a;

	npev = 0;
	b.port = 80;
	pileup__begin_round(p, PILEUP_TIME_WAIT_REMOTE);
	pileup__set(p, PILEUP_TIME_WAIT_REMOTE, &a, 150, 1);
	pileup__set(p, PILEUP_TIME_WAIT_REMOTE, &b, 99, 1);
	pileup__end_round(p, PILEUP_TIME_WAIT_REMOTE, 1);
	EXPECT(npev == 1 && pevs[0].key->port == 443 && pevs[0].start);
	EXPECT(pileup__active(p, PILEUP_TIME_WAIT_REMOTE) == 1);
	/* a absent from the next round: back to 0, ends */
	pileup__begin_round(p, PILEUP_TIME_WAIT_REMOTE);
	pileup__set(p, PILEUP_TIME_WAIT_REMOTE, &b, 120, 2);
	pileup__end_round(p, PILEUP_TIME_WAIT_REMOTE, 2);
	EXPECT(npev == 3);
	EXPECT(pevs[1].key->port == 80 && pevs[1].start);
	EXPECT(!pevs[2].start && pevs[2].count == 0 && pevs[2].since == 1);
	pileup__free(p);
}
