/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Unit tests of the pure core, one file per area (tests/unit/test_*.c),
 * each test declared with TEST(name): found by the runner (unit.c) through
 * a linker section, not listed by hand. No root, no kernel.
 */
#ifndef SYNFIN_UNIT_H
#define SYNFIN_UNIT_H

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "flow.h"
#include "ring.h"
#include "json.h"
#include "record_json.h"
#include "recorder.h"

struct unit_test {
	const char *name;
	void (*fn)(void);
};

#define TEST(name)                                                                                   \
	static void test_##name(void);                                                               \
	static const struct unit_test unit_##name                                                    \
		__attribute__((used, section("sf_unit_tests"), aligned(sizeof(void *)))) = { #name, \
											      test_##name }; \
	static void test_##name(void)

extern const char *unit_cur;	/* the test running */
extern bool unit_failed;

#define MAXREC 64
#define GRACE 1000000ULL /* 1 ms */
#define SEC 1000000000ULL

#define F_FIN 0x01
#define F_SYN 0x02
#define F_RST 0x04
#define F_ACK 0x10

#define EXPECT(cond)                                                                    \
	do {                                                                            \
		if (!(cond)) {                                                          \
			printf("FAIL %s: line %d: %s\n", unit_cur, __LINE__, #cond);   \
			unit_failed = true;                                              \
			return;                                                         \
		}                                                                       \
	} while (0)

#define EXPECT_STR(a, b)                                                                         \
	do {                                                                                     \
		const char *_a = (a), *_b = (b);                                                 \
		if (!_a || !_b || strcmp(_a, _b)) {                                              \
			printf("FAIL %s: line %d: \"%s\" != \"%s\"\n", unit_cur, __LINE__,      \
			       _a ? _a : "(null)", _b ? _b : "(null)");                          \
			unit_failed = true;                                                       \
			return;                                                                  \
		}                                                                                \
	} while (0)

struct got {
	enum sf_record_type type;
	__u8 state, next_state;
	bool age_lower_bound;
	__u64 age_ns;
	struct sf_flow flow;
	struct sf_summary sum;
};

/* what the sinks saw */
extern struct got recs[MAXREC];
extern int nrec;
extern struct sf_segs segs_seen[MAXREC];

void sink(void *ctx, const struct sf_record *r);
struct flow_table *table_cfg(struct flow_table_config *cfg);
struct flow_table *table(__u32 max);
struct synfin_event ev(__u64 sk, __u64 gen, __u64 ts, __u8 old, __u8 new);
struct synfin_event handover(__u64 sk, __u64 gen, __u64 ts);
struct synfin_event ctl(__u64 sk, __u64 gen, __u64 ts, __u8 kind, __u8 state);
void feed(struct flow_table *t, struct synfin_event e);
void path_of(const struct sf_summary *s, char *buf, size_t len);
const char *path(int i);
bool partial(int i);
void client_seed(struct flow_table *t, __u64 sk, __u64 t0);
int count_type(enum sf_record_type type);
int find_type(enum sf_record_type type, __u64 sk);
struct synfin_event seg(__u64 ts, __u16 lport, bool from_client, bool egress, __u8 flags, __u32 seq, __u32 ack);
struct synfin_event server_ev(__u64 sk, __u64 gen, __u64 ts, __u16 cp, __u8 old, __u8 new);
void listen_on(struct flow_table *t, __u16 port, __u64 ts);
struct flow_table *syns_at_listener(const struct flow_table_config *cfg, int n);
bool slot_is(const struct sf_segs *g, int slot, bool out, __u32 seq, __u32 ack);
void seg_sink(void *ctx, const struct sf_record *r);
void client_to_handover(struct flow_table *t, __u64 sk, __u64 t0, bool segs);
struct sf_snapshot_sock listed_as(__u64 sk, __u8 state);

#endif /* SYNFIN_UNIT_H */
