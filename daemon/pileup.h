/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Pile-ups: counts per key (a remote endpoint's TIME_WAIT sockets, a
 * process's CLOSE_WAIT sockets) crossing a threshold. Pure: no I/O.
 * A pile-up starts when a count reaches its threshold and ends when it
 * falls back to 90% of it (hysteresis: no flapping around the line).
 */
#ifndef SYNFIN_PILEUP_H
#define SYNFIN_PILEUP_H

#include <stdbool.h>
#include <stdint.h>
#include <linux/types.h>

enum pileup_kind {
	PILEUP_TIME_WAIT_REMOTE = 0,	/* TIME_WAIT sockets towards one remote endpoint */
	PILEUP_CLOSE_WAIT_PROCESS = 1,	/* CLOSE_WAIT sockets owned by one process */
	PILEUP_KINDS,
};

struct pileup_key {
	__u32 netns;
	__u32 tgid;		/* CLOSE_WAIT_PROCESS */
	__u8 family;		/* TIME_WAIT_REMOTE: the endpoint */
	__u8 addr[16];
	__u8 pad;		/* explicit: keys are hashed and compared whole */
	__u16 port;
};

struct pileup_event {
	enum pileup_kind kind;
	const struct pileup_key *key;
	const char *comm;	/* CLOSE_WAIT_PROCESS, may be empty */
	__u32 count;
	__u32 peak;
	__u32 threshold;
	bool start;		/* true: crossed up; false: fell back */
	__u64 at;		/* mono ns */
	__u64 since;		/* start time of this pile-up */
};

typedef void (*pileup_sink_fn)(void *ctx, const struct pileup_event *ev);

struct pileup;

struct pileup *pileup__new(const __u32 threshold[PILEUP_KINDS], pileup_sink_fn sink, void *ctx);
void pileup__free(struct pileup *p);
/* incremental: delta +1/-1; comm names the key (kept from the first add) */
void pileup__add(struct pileup *p, enum pileup_kind kind, const struct pileup_key *key, int delta,
		 const char *comm, __u64 now);
/* snapshot counting: begin, set every key's count, end (keys not set
 * this round count 0) */
void pileup__begin_round(struct pileup *p, enum pileup_kind kind);
void pileup__set(struct pileup *p, enum pileup_kind kind, const struct pileup_key *key, __u32 count, __u64 now);
void pileup__end_round(struct pileup *p, enum pileup_kind kind, __u64 now);
__u32 pileup__active(const struct pileup *p, enum pileup_kind kind);

#endif /* SYNFIN_PILEUP_H */
