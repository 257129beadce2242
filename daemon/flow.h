/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Flow reconstruction: pure C, no libbpf, no I/O, no logging.
 *
 * Events (struct synfin_event) go in through flow_table__ingest(); finished
 * lifecycles come out through the sink callback as struct sf_record. The
 * same code serves live capture, --replay and the unit tests.
 */
#ifndef SYNFIN_FLOW_H
#define SYNFIN_FLOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/types.h>
#include "../include/synfin.h"
#include "pileup.h"
#include "timewait.h"

#define SF_NONE UINT32_MAX

enum sf_role {
	SF_ROLE_UNKNOWN = 0,
	SF_ROLE_CLIENT,		/* active opener: CLOSED -> SYN_SENT */
	SF_ROLE_SERVER,		/* passive opener: a listener's child */
	SF_ROLE_LISTENER,
};

/* Why a record is incomplete. Bits, all reported. */
enum sf_partial {
	SF_PART_MID_FLOW = 1 << 0,	 /* first event was not the socket's birth */
	SF_PART_MISSED = 1 << 1,	 /* a transition's old state was never seen */
	SF_PART_OUT_OF_ORDER = 1 << 2, /* arrived older than the last one: reordered, not partial */
	SF_PART_EVICTED = 1 << 3,	 /* table full: emitted before its end */
	SF_PART_VANISHED = 1 << 4,	 /* gone from the kernel's list, no event seen */
	SF_PART_END_UNSEEN = 1 << 5,	 /* handed to a time-wait socket in FIN_WAIT_2
					  * with no way to see how that ended */
	SF_PART_GAP = 1 << 6,		 /* summary only: a state was entered from one
					  * never seen (missed transition) */
	SF_PART_LOST = 1 << 7,		 /* open when events were lost (a loss record
					  * names it): its record may miss some */
};

/* How the teardown went, from the segments. */
enum sf_teardown {
	SF_TD_NONE = 0,		/* no FIN, no RST seen */
	SF_TD_FOUR_WAY,
	SF_TD_THREE_WAY,	/* 5 rides on 6 */
	SF_TD_SIMULTANEOUS,	/* the FINs crossed */
	SF_TD_HALF_CLOSED,	/* one FIN only */
	SF_TD_RESET,
};

enum sf_close_kind {
	SF_CLOSE_NONE = 0,	/* still open (evicted) */
	SF_CLOSE_NORMAL,	/* four-way teardown */
	SF_CLOSE_SIMULTANEOUS,	/* both FINs crossed: CLOSING */
	SF_CLOSE_RESET,		/* RST sent or received after establishment */
	SF_CLOSE_REFUSED,	/* RST answering our SYN */
	SF_CLOSE_TIMEOUT,	/* retransmissions exhausted (SYN, FIN, data, keepalive) */
	SF_CLOSE_UNREACHABLE,	/* ICMP said the peer cannot be reached */
	SF_CLOSE_ABORTED,	/* closed by the application before establishment */
	SF_CLOSE_NEVER_ESTABLISHED, /* server child that never reached ESTABLISHED */
	SF_CLOSE_UNKNOWN,	/* observed too little to say */
	SF_CLOSE_FIN_WAIT2_TIMEOUT, /* the peer never sent its FIN: the local
				     * end's time-wait socket gave up in FIN_WAIT_2 */
};

struct sf_link {
	__u32 prev, next;	/* pool indices, SF_NONE at the ends */
};

/* The seed's numbering of a connection's control segments. */
enum sf_seg_slot {
	SF_SEG_SYN = 1,		/* 1 SYN */
	SF_SEG_SYNACK = 2,	/* 2 SYN-ACK, acks 1 */
	SF_SEG_ACK = 3,		/* 3 ACK, acks 2: handshake complete */
	SF_SEG_FIN1 = 4,	/* 4 first FIN */
	SF_SEG_FIN1_ACK = 5,	/* 5 ACK of 4 (may be the same segment as 6) */
	SF_SEG_FIN2 = 6,	/* 6 the other direction's FIN */
	SF_SEG_FIN2_ACK = 7,	/* 7 ACK of 6 */
	SF_SEG_RST = 8,		/* first RST */
	SF_SEG_SLOTS = 9,
};

struct sf_seg_rec {
	__u64 ts;
	__u32 seq, ack;
	__u32 payload;
	__u16 window;
	__u8 flags;		/* TCP flags */
	__u8 out;		/* sent by this end */
};

/* The control segments of one flow, from its end's point of view.
 * slot[0] is no segment: its room holds the counters. A flow that has
 * only seen its handshake keeps just the head of this (up to slot 3,
 * SF_SEGS_SMALL bytes); the rest comes with its first FIN or RST. */
struct sf_segs {
	union {
		struct sf_seg_rec slot[SF_SEG_SLOTS];
		struct {
			__u16 have;		/* bit per slot */
			__u16 syn_rtx;		/* SYNs after the first */
			__u16 synack_rtx;
			__u16 fin_rtx;
			__u16 other;		/* segments that fit no slot (duplicates) */
			__u16 pad;
			__u32 next_free;
		};
	};
};
#define SF_SEGS_SMALL (SF_SEG_FIN1 * sizeof(struct sf_seg_rec))
_Static_assert(sizeof(struct sf_segs) == SF_SEG_SLOTS * sizeof(struct sf_seg_rec),
	       "sf_segs counters must fit in slot 0");

struct sf_flow {
	__u64 sk;
	__u64 gen;
	__u64 cgroup_id;
	__u64 first_ts;		/* first event seen */
	__u64 last_ts;		/* newest event timestamp */
	__u64 state_ts[SF_TCP_NSTATES]; /* entry time per state, 0 = not seen */
	__u8 state_prev[SF_TCP_NSTATES]; /* state it was entered from */
	__u8 saddr[16];
	__u8 daddr[16];
	__u32 netns;
	__u32 pid;
	__u32 tgid;
	__u32 host_tgid;	/* owner's host pid when it differs from tgid */
	__u16 sport;
	__u16 dport;
	__u16 seen;		/* bitmask of states entered */
	__u16 partial;		/* enum sf_partial bits */
	__u16 sk_err;		/* last non-zero sk_err */
	__u16 events;
	__u16 duplicates;
	__u16 syn_retrans;	/* our SYN retransmitted (SYN_SENT) */
	__u16 synack_retrans;	/* SYN-ACK retransmitted (listener: all children) */
	__u16 fin_retrans;	/* retransmits in FIN_WAIT1/CLOSING/LAST_ACK */
	__u16 children;		/* listener: connections created */
	__u8 family;
	__u8 role;		/* enum sf_role */
	__u8 state;		/* current (latest) state */
	__u8 observed_from;	/* state of the socket when first seen */
	__u8 owner_src;
	__u8 rst_sent;		/* state in which we sent a RST, 0 = none */
	__u8 rst_recv;		/* state in which we received a RST, 0 = none */
	__u8 closed;
	__u8 stuck;		/* 1: past its state's threshold; 2: and reported */
	__u8 pre_existing;	/* from the start-up snapshot */
	__u8 in_slist;		/* on its state's deadline list */
	__u8 cq;		/* closed: which closing list (flow.c) */
	__u32 pile_tgid;	/* CLOSE_WAIT counted for this process (0: not) */
	__u32 snap_round;	/* last reconcile round that listed it */
	char comm[SYNFIN_COMM_LEN];
	/* table links (indices into the pool) */
	__u32 hnext;		/* hash chain */
	__u32 lnext;		/* listener index chain */
	struct sf_link lru;	/* LRU list while open, closing FIFO once closed; free list */
	struct sf_link dl;	/* deadline list of the current state */
	__u32 tnext;		/* tuple index chain */
	__u32 segs;		/* segment block, SF_NONE: none */
	__u64 emit_at;		/* closed: when the record goes out */
	__u8 in_tindex;
	__u8 placeholder;	/* only holds segments awaiting their flow */
	__u8 half_open_counted;	/* a request counted on its listener */
	__u8 in_lindex;		/* linked in the listener index */
	__u32 half_open;	/* listener: requests tracked now */
	/* The application closed, and the kernel replaced the socket by a
	 * time-wait socket still in FIN_WAIT_2 (no state event follows): the
	 * flow stays open in FIN_WAIT_2 until the peer's FIN (segment 6), a
	 * RST, or the kernel's list shows it in TIME_WAIT or gone. */
	__u64 handover_ts;	/* 0: not handed over */
	struct sf_link ho;	/* handed-over list, by handover_ts */
	__u32 ho_round;		/* last reconcile round that listed its time-wait socket */
	__u16 src_seg;		/* states entered at a segment's time (bits) */
	__u16 src_round;	/* ... when a reconcile round saw it */
	__u16 src_other;	/* ... SF_SRC_ASSUMED or SF_SRC_HANDOVER (src_assumed
				 * tells which) */
	__u8 in_ho;		/* on the handed-over list */
	__u8 fw2_timeout;	/* ended in FIN_WAIT_2: the peer's FIN never came */
	__u8 src_assumed;	/* src_other bits are SF_SRC_ASSUMED (else HANDOVER) */
	__u8 round_state;	/* the state the last round's list gave it, if not f->state */
	__u8 was_stuck;		/* passed a stuck threshold at some point */
};

enum sf_record_type {
	SF_REC_FLOW = 1,	/* a lifecycle ended (or was evicted) */
	SF_REC_LISTEN_START,
	SF_REC_LISTEN_STOP,
	SF_REC_STUCK,		/* a flow passed its state's threshold */
	SF_REC_RESOLVED,	/* a stuck flow left that state */
	SF_REC_PILEUP,		/* a per-endpoint / per-process count crossed */
	SF_REC_TIME_WAIT,	/* a time-wait socket left TIME_WAIT */
	SF_REC_STATS,		/* synfin's own counters (stats.h), from the daemon */
	SF_REC_SUMMARY,		/* one aggregate entry (aggregate.h), from the daemon */
	SF_REC_LOSS,		/* events were lost (struct sf_loss), from the daemon */
};

/* The flows open when a loss was seen (flow_table__mark_lost). */
#define SF_LOSS_IDS 16

/* Events lost since the previous loss record: where, and which flows
 * may miss some of theirs. */
struct sf_loss {
	__u64 since;			/* mono ns: the previous loss record (or start) */
	__u64 lost;			/* events lost since then, all causes */
	__u64 total;			/* since start */
	__u64 ring_full;		/* ring buffer reserve failed ... */
	__u64 ring_full_by_ring[16];	/* ... per ring (CPU id & mask) */
	int nrings;
	__u64 recursion;		/* runs the kernel skipped (nested on a CPU) */
	__u64 map_full;			/* per-socket map updates that failed: later
					 * events of those sockets are mid-flow */
	__u64 bad_size;			/* ring records of the wrong size */
	__u32 flows;			/* open flows marked SF_PART_LOST */
	__u32 nids;
	__u64 sk[SF_LOSS_IDS], gen[SF_LOSS_IDS]; /* the first of them (ids) */
};

struct agg_entry;

struct sf_stats;

struct cg_info;

struct sf_record {
	enum sf_record_type type;
	const struct sf_flow *flow;	/* NULL for PILEUP */
	__u64 at;			/* mono ns */
	__u8 state;			/* STUCK/RESOLVED: the state */
	__u8 next_state;		/* RESOLVED: where it went (CLOSE, or 0: evicted) */
	bool age_lower_bound;		/* entered before synfin saw it */
	__u64 age_ns;			/* STUCK: time in state; RESOLVED: total */
	__u64 threshold_ns;
	const struct pileup_event *pileup;
	const struct sf_segs *segs;	/* the flow's control segments, or NULL */
	const struct sf_summary *sum;	/* FLOW: what it means, decided once */
	const struct tw_record *tw;	/* TIME_WAIT */
	const struct sf_stats *stats;	/* STATS */
	__u8 detail;			/* FLOW: enum sf_detail (the daemon's choice) */
	const struct agg_entry *agg;	/* SUMMARY */
	__u64 since;			/* SUMMARY: start of the interval (mono ns) */
	const struct sf_loss *loss;	/* LOSS */
	/* the owner's cgroup (cgroup_path.h), the daemon's to fill when it
	 * resolves ids: NULL leaves the path out of the record */
	const struct cg_info *cgroup;
};

/* How much of a flow record is written (--detail). */
enum sf_detail {
	SF_DETAIL_SEGMENTS = 0,	/* every control segment listed */
	SF_DETAIL_SUMMARY,	/* a one-line digest of the segments */
};

/* a socket found by the start-up snapshot (sock_diag) */
struct sf_snapshot_sock {
	__u64 cookie;
	__u32 netns;
	__u32 inode;
	__u32 uid;
	__u32 tgid;		/* owner found through /proc, 0: unknown */
	char comm[SYNFIN_COMM_LEN];
	__u8 family;
	__u8 state;		/* kernel TCP state */
	__u16 sport, dport;
	__u8 saddr[16], daddr[16];
};

/* What a finished flow means: derived once, when its record goes out, and
 * handed to every output with it (outputs only format). */
struct sf_summary {
	enum sf_close_kind close;
	const char *closer;	/* "local", "peer", "both" or NULL */
	bool established;
	bool gap;		/* a state was entered from one never seen */
	bool time_wait_inferred;
	__u8 time_wait_from;	/* state handed over to the time-wait socket */
	__u64 handoff_ts;	/* full socket -> time-wait socket (0: none) */
	__u64 tw_entered_ts;	/* TIME_WAIT began (0: unknown / never) */
	__u8 tw_entered_src;	/* enum sf_time_src of tw_entered_ts */
	__u8 path[SF_TCP_NSTATES + 2];
	int path_len;
	__u64 start_ts, end_ts;
	/* dwell time per state (ns), valid where have_dwell bit set */
	__u64 dwell[SF_TCP_NSTATES];
	__u16 have_dwell;
	__u8 dwell_src[SF_TCP_NSTATES]; /* enum sf_time_src of each dwell's bounds */
	__s64 connect_ns, handshake_ns, lifetime_ns; /* -1 = unknown */
	__u8 handshake_src, lifetime_src;
	/* reported partial reasons (enum sf_partial, SF_PART_GAP included;
	 * reordering is an anomaly, not a gap) */
	__u16 partial_reasons;
	bool partial;
	/* from the segments, when there are some */
	__u8 teardown;		/* enum sf_teardown */
	__u16 seg_listed;	/* slots a record lists (5 is not when it is 6) */
	__u16 acks_checked;	/* slots that answer a segment we have */
	__u16 acks_ok;		/* ... and acknowledge it right (its sequence + 1) */
	/* worth reading in full: not a plain open-and-close (refused, timeout,
	 * reset, retransmits, an ack not right, partial, never established,
	 * stuck at some point) */
	bool abnormal;
};

typedef void (*sf_sink_fn)(void *ctx, const struct sf_record *rec);

struct flow_table_config {
	__u32 max_flows;	/* open + closing flows; power of two not needed */
	__u64 close_grace_ns;	/* keep a closed flow this long for late events */
	__u64 stuck_ns[SF_TCP_NSTATES]; /* per-state threshold, 0 = not watched */
	__u32 stuck_rate;	/* stuck records per second at most (0 = no limit) */
	struct pileup *pileups;	/* CLOSE_WAIT per process goes here (may be NULL) */
	__u64 segment_hold_ns;	/* segments wait this long for their flow (0: 3 s) */
	__u64 time_wait_hold_ns; /* after a TIME_WAIT hand-over, wait this long for
				  * segments 6 and 7 when segments are seen (0: 1 s) */
	__u32 max_time_wait;	/* time-wait sockets tracked (0: not tracked) */
	bool time_wait_rounds;	/* reconciliation rounds will list the kernel's */
	bool loopback_mirror;	/* loopback segments come once (egress): they
				 * are also the receiving end's */
	__u32 max_half_open;	/* half-open requests tracked per listener (0: 1024) */
};

struct flow_table_stats {
	__u64 events;		/* ingested */
	__u64 decode_errors;	/* wrong version/kind/state */
	__u64 duplicates;
	__u64 late;		/* events for a flow already emitted */
	__u64 orphans;		/* control events for an unknown socket */
	__u64 evicted;
	__u64 flows_emitted;
	__u64 listen_records;
	__u64 stuck_total;	/* flows that passed a threshold */
	__u64 stuck_suppressed;	/* of those, not reported (rate limit) */
	__u64 resolved_total;
	__u64 snapshot_flows;	/* pre-existing flows from the snapshot */
	__u64 snapshot_joined;	/* of those, later joined by their events */
	__u64 segments;		/* segment events ingested */
	__u64 segments_unmatched; /* that never found their flow */
	__u64 opened[SF_ROLE_LISTENER]; /* connections opened, by role (client, server) */
	__u64 half_open;	/* flows started by a SYN at a listener */
	__u64 half_open_dropped; /* SYNs not tracked: the listener's cap was reached */
	__u64 half_open_unlisted; /* half-open flows no round listed (SYN cookies): dropped */
	__u64 reconcile_rounds;
	__u64 reconcile_vanished; /* flows gone from the kernel's list without an event */
	__u64 reconcile_corrected; /* flows whose state the kernel's list corrected
				    * (their transitions were lost) */
	__u64 snapshot_overlap;	/* start-up: sockets the snapshot listed that
				 * events (read first) had already reported */
	__u64 snapshot_ended;	/* start-up: listed, but ended by events since */
	__u64 snapshot_unattributed; /* start-up: flows of older sockets seen
				      * only mid-way (their birth is unknown) */
	__u32 snapshot_unjoined;
	__u32 open;
	__u32 closing;
	__u32 by_state[SF_TCP_NSTATES];
	__u32 stuck_by_state[SF_TCP_NSTATES]; /* stuck now */
};

struct flow_table;

struct flow_table *flow_table__new(const struct flow_table_config *cfg, sf_sink_fn sink, void *ctx);
void flow_table__free(struct flow_table *t);
/* 0, or -EINVAL for an event that does not decode (counted). */
int flow_table__ingest(struct flow_table *t, const struct synfin_event *e);
/* Emit closed flows whose grace period ended by monotonic time now_ns. */
void flow_table__advance(struct flow_table *t, __u64 now_ns);
/* Emit every closed flow now (end of input / shutdown). */
void flow_table__flush(struct flow_table *t);
void flow_table__stats(const struct flow_table *t, struct flow_table_stats *st);
/* Reconciliation with the kernel's socket list (sock_diag): begin a round,
 * report every socket listed, end the round. A socket not known yet
 * becomes a pre-existing flow if create (the start-up snapshot, or a
 * half-open request), keyed by its cookie until its first event joins
 * it. Snapshot flows not listed in a round have vanished: their end was
 * never seen. Returns 0 (created), 1 (known), -ENOENT (unknown, not
 * created), -EINVAL (not a flow: time-wait, or no cookie). */
void flow_table__round_begin(struct flow_table *t);
int flow_table__snapshot(struct flow_table *t, const struct sf_snapshot_sock *s, __u64 now, bool create);
/* complete: every watched namespace was listed (else nothing vanishes).
 * Open flows the list did not have, or had in another state, are settled
 * by the next flow_table__advance(): call it once the events read during
 * the round are in (a close event may still be on its way). Those then
 * still open are closed as vanished (their end was lost), or take the
 * kernel's state (transitions lost): no ghost outlives a round. */
void flow_table__round_end(struct flow_table *t, __u64 now, bool complete);
/* Events were lost: every open flow (listeners aside) may miss some. They
 * are marked partial (SF_PART_LOST); their count goes into l->flows, the
 * first SF_LOSS_IDS of them into l->sk/gen. */
void flow_table__mark_lost(struct flow_table *t, struct sf_loss *l);
/* A time-wait socket in the kernel's list (state TIME_WAIT, or a
 * FIN_WAIT_2 hand-over socket), within a round. */
void flow_table__time_wait_seen(struct flow_table *t, const struct sf_snapshot_sock *s, __u64 now);
void flow_table__tw_stats(const struct flow_table *t, struct tw_stats *st);
/* Every open flow (listeners included), most recently active first: a
 * live viewer's snapshot. fn must not change the table. */
typedef void (*sf_flow_fn)(void *ctx, const struct sf_flow *f);
void flow_table__foreach_open(const struct flow_table *t, sf_flow_fn fn, void *ctx);
/* Every time-wait socket followed now (none when not tracked). */
void flow_table__foreach_time_wait(const struct flow_table *t, tw_key_fn fn, void *ctx);
/* Every listener (the listener index: no walk of the open flows). */
void flow_table__foreach_listener(const struct flow_table *t, sf_flow_fn fn, void *ctx);
/* How loopback segments were captured (see the config field). */
void flow_table__set_loopback_mirror(struct flow_table *t, bool on);

/* g: the flow's segments, or NULL */
void sf_flow__summarize(const struct sf_flow *f, const struct sf_segs *g, struct sf_summary *s);
const char *sf_teardown_name(unsigned int td); /* NULL for SF_TD_NONE */

const char *sf_state_name(unsigned int state);
const char *sf_state_key(unsigned int state); /* lower-case JSON key */
const char *sf_close_name(enum sf_close_kind k);
const char *sf_time_src_name(unsigned int src); /* NULL for SF_SRC_EVENT */
/* When a flow's record says it ended (or was last seen, if open). */
__u64 sf_flow__end_ts(const struct sf_flow *f);
const char *sf_role_name(enum sf_role r);
const char *sf_owner_src_name(unsigned int src);

#endif /* SYNFIN_FLOW_H */
