// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* The per-CPU ring consumer, over rings in plain memory. */
#include "unit.h"

#define RB_SIZE 4096

static __u64 ring_seen[16];
static __u32 ring_len[16];
static int ring_n;
static bool ring_intact;

static void ring_fn(void *ctx, const void *data, size_t size)
{
	const __u8 *d = data;

	(void)ctx;
	if (ring_n < 16) {
		memcpy(&ring_seen[ring_n], d, 8);
		ring_len[ring_n] = (__u32)size;
		/* every byte after the timestamp is (timestamp + offset) */
		for (size_t i = 8; i < size; i++)
			if (d[i] != (__u8)(ring_seen[ring_n] + i))
				ring_intact = false;
	}
	ring_n++;
}

/* a record of len bytes (>= 8) with timestamp ts at producer position *prod */
static void ring_put(__u8 *data, uint64_t *prod, __u64 ts, __u32 len, __u32 hdr_bits)
{
	__u32 hdr[2] = { len | hdr_bits, 0 };
	uint64_t at = *prod;

	memcpy(data + (at & (RB_SIZE - 1)), hdr, 8);
	for (__u32 i = 0; i < len; i++) {
		__u8 b = i < 8 ? ((const __u8 *)&ts)[i] : (__u8)(ts + i);

		data[(at + 8 + i) & (RB_SIZE - 1)] = b;
	}
	*prod = at + ((len + 8 + 7) & ~7u);
}

/* Two CPUs' rings come out as one stream in time order; a record that
 * runs past the end of the data area arrives whole; a discarded one is
 * skipped, a busy one (still being written) ends its ring's turn; what
 * was read is given back to the producers. */
TEST(ring_merge)
{
	static __u8 d0[RB_SIZE], d1[RB_SIZE];
	uint64_t c0 = RB_SIZE - 64, p0 = RB_SIZE - 64, c1 = 0, p1 = 0, busy_at;
	uint64_t *cons[2] = { &c0, &c1 };
	const uint64_t *prod[2] = { &p0, &p1 };
	const __u8 *data[2] = { d0, d1 };
	struct rings *rs;
	bool ok = true;

	ring_n = 0;
	ring_intact = true;
	ring_put(d0, &p0, 10, 120, 0);	/* wraps: 64 bytes left at the end */
	ring_put(d0, &p0, 30, 120, 0);
	ring_put(d0, &p0, 35, 120, 1u << 30); /* discarded */
	ring_put(d0, &p0, 50, 16, 0);
	ring_put(d1, &p1, 20, 120, 0);
	ring_put(d1, &p1, 40, 120, 0);
	busy_at = p1;
	ring_put(d1, &p1, 45, 120, 1u << 31); /* busy */
	ring_put(d1, &p1, 60, 120, 0);
	EXPECT(rings__open_memory(&rs, 2, RB_SIZE, cons, prod, data) == 0);
	EXPECT(rings__poll(rs, 100, 1000, ring_fn, NULL) == 5);
	EXPECT(ring_n == 5);
	for (int i = 0; i < 5 && i < ring_n; i++)
		if (ring_seen[i] != (__u64[]){ 10, 20, 30, 40, 50 }[i])
			ok = false;
	EXPECT(ok);
	EXPECT(ring_len[0] == 120 && ring_len[4] == 16);
	EXPECT(ring_intact);
	EXPECT(c0 == p0 && c1 == busy_at);
	/* the busy record is done: the rest comes on the next poll */
	d1[busy_at & (RB_SIZE - 1)] = 120;
	d1[(busy_at & (RB_SIZE - 1)) + 3] = 0;
	EXPECT(rings__poll(rs, 0, 1000, ring_fn, NULL) == 2);
	EXPECT(ring_n == 7 && ring_seen[5] == 45 && ring_seen[6] == 60 && c1 == p1);
	/* a budget stops it, and it carries on from there */
	ring_put(d0, &p0, 70, 120, 0);
	ring_put(d0, &p0, 80, 120, 0);
	EXPECT(rings__poll(rs, 0, 1, ring_fn, NULL) == 1);
	EXPECT(rings__poll(rs, 0, 5, ring_fn, NULL) == 1);
	EXPECT(ring_n == 9 && ring_seen[8] == 80 && ring_intact);
	rings__close(rs);
}
