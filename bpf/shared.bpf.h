/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * What the state and segment programs share: the ring buffer and the
 * counters. Each object declares them (from here, so they cannot drift);
 * the loader makes the segment object reuse the state object's maps.
 */
#ifndef SYNFIN_SHARED_BPF_H
#define SYNFIN_SHARED_BPF_H

/* Wake the consumer each time this much more is waiting (a power of
 * two; 0: never force): set by the loader. */
const volatile __u64 wakeup_bytes = 0;

/* One ring buffer per CPU (the loader creates them and sizes this map: a
 * power of two of them, at most 16; past 16 CPUs some share one, CPU id
 * & ring_mask): reserving in a ring takes its lock, and a lock shared by
 * all CPUs was a quarter of a state event's cost. The daemon merges the
 * rings by timestamp. */
const volatile __u32 ring_mask = 0;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__array(values, struct {
		__uint(type, BPF_MAP_TYPE_RINGBUF);
		__uint(max_entries, 4096); /* template: the loader makes the rings */
	});
} rings SEC(".maps");

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

/* Room for one record in this CPU's ring, or NULL (counted: lost).
 * Waking the consumer per record costs ~10x: it drains on a timer and is
 * only woken (*flags) as this ring fills up. */
static __always_inline void *sf_reserve(__u64 size, __u64 *flags)
{
	__u32 idx = bpf_get_smp_processor_id() & ring_mask;
	void *rb = bpf_map_lookup_elem(&rings, &idx);
	void *e;

	if (!rb) {
		count(SF_CNT_RB_FULL);
		return NULL;
	}
	e = bpf_ringbuf_reserve(rb, size, 0);
	if (!e) {
		count(SF_CNT_RB_FULL);
		return NULL;
	}
	*flags = BPF_RB_NO_WAKEUP;
	if (wakeup_bytes) {
		/* Wake the consumer only when this record takes the ring past
		 * a multiple of the mark (a power of two, 1/16 of the ring):
		 * in between it is awake or about to be (its epoll is level-
		 * triggered: it sleeps only once its rings are empty), and a
		 * wake-up per record costs ~30 ns here. Past half full, every
		 * record wakes it: that slows this CPU's producers down (a
		 * wake-up is dear) while the consumer catches up, which is
		 * what keeps a burst from overflowing the ring. */
		__u64 avail = bpf_ringbuf_query(rb, BPF_RB_AVAIL_DATA);
		__u64 rec = (size + 8 + 7) & ~7ULL;

		if (avail >= 8 * wakeup_bytes ||
		    (avail >= rec && (avail ^ (avail - rec)) >= wakeup_bytes))
			*flags = BPF_RB_FORCE_WAKEUP;
	}
	return e;
}

#ifdef SF_FLOOR
/* make bench's floor (build/floor/synfin): one ring record per event, a
 * timestamp and nothing else; version and kind 0, so the daemon counts it
 * as undecodable and reads nothing more of it */
static __always_inline int sf_floor_record(void)
{
	__u64 flags;
	struct synfin_event *e = sf_reserve(sizeof(*e), &flags);

	if (e) {
		e->ts_ns = bpf_ktime_get_ns();
		e->version = 0;
		e->kind = 0;
		bpf_ringbuf_submit(e, flags);
	}
	return 0;
}
#endif

#endif /* SYNFIN_SHARED_BPF_H */
