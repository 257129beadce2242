/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * What the state and segment programs share: the ring buffer and the
 * counters. Each object declares them (from here, so they cannot drift);
 * the loader makes the segment object reuse the state object's maps.
 */
#ifndef SYNFIN_SHARED_BPF_H
#define SYNFIN_SHARED_BPF_H

/* Wake the consumer only when this much is waiting (0: never force):
 * set by the loader. */
const volatile __u64 wakeup_bytes = 0;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 << 20);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SF_CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

static __always_inline void count(__u32 idx)
{
	__u64 *c = bpf_map_lookup_elem(&counters, &idx);

	if (c)
		*c += 1;
}

/* Waking the consumer per event costs ~10x: it drains on a timer and is
 * only woken when the ring starts to fill up. */
static __always_inline __u64 submit_flags(void)
{
	if (wakeup_bytes && bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= wakeup_bytes)
		return BPF_RB_FORCE_WAKEUP;
	return BPF_RB_NO_WAKEUP;
}

#endif /* SYNFIN_SHARED_BPF_H */
