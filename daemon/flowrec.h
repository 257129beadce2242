/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * A `flow` record (docs/schema.md) read back from its JSON line: what the
 * diagram of `synfin show` is drawn from. Where the line came from (a
 * file, stdin, later the daemon's socket) does not matter here, and the
 * renderer (ladder.h) never sees JSON. Pure: no I/O, no logging.
 *
 * Strings are copied, cut to their field and cleaned of control
 * characters (a comm is untrusted bytes: it must not drive the terminal).
 * Numbers the record leaves out (or that cannot be known) are -1, or
 * FLOWREC_NONE for signed times.
 */
#ifndef SYNFIN_FLOWREC_H
#define SYNFIN_FLOWREC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FLOWREC_NONE INT64_MIN
#define FLOWREC_MAX_PATH 16
#define FLOWREC_MAX_SEGS 16
#define FLOWREC_MAX_REASONS 8

struct flowrec_seg {
	int n;			/* 1..7 as the seed numbers them; 0 = RST */
	char name[12];		/* "SYN", "SYN-ACK", "ACK", "FIN", "RST" */
	char flags[12];		/* FSRPAUEC letters; "" when not stated */
	bool out;		/* sent by the record's end */
	int64_t at_us;		/* from the record's start; FLOWREC_NONE */
	bool have_seq;		/* seq and ack are known */
	uint32_t seq, ack;
	uint32_t len;		/* payload bytes */
	int acks_ok;		/* ack = seq+1 of what it answers: 1, 0, -1 not stated */
};

struct flowrec_retx {
	int64_t syn, synack, fin;	/* -1: not stated */
};

struct flowrec {
	char id[24];
	char role[12];		/* client, server, unknown */
	char family[8];		/* ipv4, ipv6 */
	int64_t netns;		/* -1 unknown */
	char local_addr[48], peer_addr[48];
	int local_port, peer_port;	/* -1: unknown (null) */

	int path_len;
	char path[FLOWREC_MAX_PATH][16];	/* state names, in the order entered */
	int64_t dwell_us[FLOWREC_MAX_PATH];	/* per path entry; -1 unknown */
	/* what bounds that dwell when not two state changes (durations_from):
	 * "segments", "reconcile", "assumed", "handover"; "" state changes */
	char dwell_from[FLOWREC_MAX_PATH][12];
	int64_t connect_us, handshake_us, lifetime_us, observed_us;

	int64_t start_us, end_us;	/* Unix time in µs; FLOWREC_NONE */
	char close[24];		/* normal, simultaneous, reset, refused, timeout, ... */
	char closer[8];		/* local, peer, both, "" (null) */
	bool established;

	bool time_wait;		/* handed to a time-wait socket */
	bool time_wait_inferred;
	char time_wait_from[16];
	int64_t time_wait_entered_us;	/* TIME_WAIT began; FLOWREC_NONE: not stated, or never */
	char time_wait_entered_from[16];	/* state_event, segments, reconcile, handover; "" older records */
	int64_t time_wait_handoff_us;	/* the full socket replaced; FLOWREC_NONE */

	char reset_sent_in[16], reset_received_in[16];	/* "" when none */
	int error_errno;	/* 0 none */
	char error_name[16];
	struct flowrec_retx retx;	/* sent by this end (kernel tracepoint) */

	bool have_segments;	/* segment capture was on */
	char digest[96];	/* a --detail summary record: the segments in one line, not listed */
	int nseg;
	struct flowrec_seg seg[FLOWREC_MAX_SEGS];
	char seg_close[16];	/* four_way, three_way, simultaneous, half_closed, reset, "" */
	char first_fin[8];	/* local, peer, "" */
	struct flowrec_retx seg_retx;	/* seen again on the wire, either direction */
	/* the record's segment spans (segments.durations_us), -1 unknown */
	int64_t syn_to_synack_us, synack_to_ack_us, fin_to_ack_us, fin_to_fin_us,
		fin_to_last_ack_us, teardown_us;

	int64_t pid;		/* -1: none */
	char comm[64];
	char owner_source[16];

	bool partial;
	int nreasons;
	char reasons[FLOWREC_MAX_REASONS][24];
	bool reordered;
	int64_t duplicates;
};

enum flowrec_result {
	FLOWREC_FLOW = 0,	/* a flow record, parsed */
	FLOWREC_OTHER = 1,	/* valid JSON, but not a flow record */
};

/*
 * Parse one JSON line into *r. Returns FLOWREC_FLOW, FLOWREC_OTHER, or
 * -EINVAL when the line is not JSON (then err holds why, with the column).
 */
int flowrec__parse(const char *line, size_t len, struct flowrec *r, char *err, size_t errlen);

/*
 * The daemon's answer to {"get":"flow","id":...} (a `reply` line: its
 * flows, up to max, into r) or its `error` line. Returns how many flow
 * records, or -ENOENT (an error record: err holds its message), -EINVAL
 * (neither: err says why).
 */
int flowrec__parse_reply(const char *line, size_t len, struct flowrec *r, int max, char *err, size_t errlen);

/* a and b are the two ends of one connection: mirrored tuples, overlapping
 * times, and the same namespace or the same initial sequence numbers */
bool flowrec__mirrors(const struct flowrec *a, const struct flowrec *b);

/* the state path index of NAME in r, or -1 */
int flowrec__path_index(const struct flowrec *r, const char *name);

/* "2026-11-25T02:39:37.064578Z" -> µs since the epoch; -EINVAL */
int flowrec__parse_time(const char *s, int64_t *us);

#endif
