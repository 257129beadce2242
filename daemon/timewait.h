/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * TIME_WAIT: Linux hands a closing socket to a time-wait socket that fires
 * no state event. This tracks those sockets by tuple from the hand-over to
 * their exit: expired (2*MSL, 60 s on Linux: noticed when the kernel's
 * list no longer has them), reused (a new connection on the same tuple),
 * or reset (a RST). Pure: no I/O.
 */
#ifndef SYNFIN_TIMEWAIT_H
#define SYNFIN_TIMEWAIT_H

#include <stdbool.h>
#include <stdint.h>
#include <linux/types.h>

/* Where a state's entry time came from, when not from its own state event
 * (the default). Each is a bit in one of sf_flow's src masks
 * (flow.h); a time-wait socket's entry time says it too. */
enum sf_time_src {
	SF_SRC_EVENT = 0,	/* the kernel's state change */
	SF_SRC_SEGMENT,		/* a captured segment (the SYN, the peer's FIN, a RST) */
	SF_SRC_ROUND,		/* the kernel's socket list showed the change: at most
				 * one --reconcile-interval after it happened */
	SF_SRC_ASSUMED,		/* nothing showed it: Linux's default timeout assumed */
	SF_SRC_HANDOVER,	/* a recording without SF_F_CLOSE_INFO and without
				 * segments: the hand-over to the time-wait socket,
				 * which may have come before the peer's FIN */
};

struct tw_key {
	__u32 netns;
	__u8 family;
	__u8 pad[3];
	__u8 laddr[16];
	__u8 raddr[16];
	__u16 lport;
	__u16 rport;
};

enum tw_exit {
	TW_EXIT_EXPIRED = 1,
	TW_EXIT_REUSED,
	TW_EXIT_RESET,
	TW_EXIT_EVICTED,	/* the tracker was full */
};

struct tw_record {
	const struct tw_key *key;
	__u64 flow_id_sk, flow_id_gen;	/* the flow whose socket this was */
	__u64 handoff;		/* full socket -> time-wait socket */
	__u64 entered;		/* TIME_WAIT proper (the peer's FIN arrived), 0 = unknown */
	__u64 exited;
	enum tw_exit exit;
	bool exact;		/* exit seen as it happened (else noticed by polling) */
	bool pre_existing;	/* found in the kernel's list, hand-over not seen */
	__u8 from;		/* state handed over from */
	__u8 entered_src;	/* enum sf_time_src of entered */
};

typedef void (*tw_sink_fn)(void *ctx, const struct tw_record *r);

struct tw_stats {
	__u64 tracked;		/* entered tracking */
	__u64 exits[TW_EXIT_EVICTED + 1];
	__u64 discovered;	/* found in the kernel's list only */
	__u32 now;		/* tracked now */
	__u32 kernel;		/* in the kernel's list at the last round */
};

struct tw_table;

struct tw_table *tw_table__new(__u32 max, tw_sink_fn sink, void *ctx);
void tw_table__free(struct tw_table *t);
/* A flow handed its socket to a time-wait socket. */
void tw_table__enter(struct tw_table *t, const struct tw_key *k, __u64 sk, __u64 gen, __u64 handoff,
		     __u64 entered, __u8 from, __u8 entered_src);
/* A control segment on a tracked tuple (out: sent by the local end).
 * Returns true if it belonged to a time-wait socket. */
bool tw_table__segment(struct tw_table *t, const struct tw_key *k, __u8 flags, bool out, __u64 ts);
/* A new connection uses the tuple. */
void tw_table__reuse(struct tw_table *t, const struct tw_key *k, __u64 ts);
/* The kernel's list: begin, every time-wait socket, end. */
void tw_table__round_begin(struct tw_table *t);
void tw_table__seen(struct tw_table *t, const struct tw_key *k, __u64 now);
void tw_table__round_end(struct tw_table *t, __u64 now);
/* Without rounds: entries past 2*MSL (+1 s) are taken as expired. */
void tw_table__advance(struct tw_table *t, __u64 now, bool rounds);
void tw_table__stats(const struct tw_table *t, struct tw_stats *st);
/* Every time-wait socket followed now, oldest hand-over first. */
typedef void (*tw_key_fn)(void *ctx, const struct tw_key *k);
void tw_table__foreach(const struct tw_table *t, tw_key_fn fn, void *ctx);

#define TW_LINUX_TIMEOUT_NS (60ULL * 1000000000ULL)

#endif /* SYNFIN_TIMEWAIT_H */
