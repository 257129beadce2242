/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * --record / --replay files: a 32-byte header, then raw struct
 * synfin_event records back to back, exactly as the ring buffer gave them.
 *
 *   0  char  magic[8]      "SYNFINR\n"
 *   8  u32   format        1
 *  12  u32   event_size    sizeof(struct synfin_event)
 *  16  u32   event_version SYNFIN_EVENT_VERSION (1 and 2 are read too)
 *  20  u32   flags         SF_REC_F_* (how it was captured)
 *  24  s64   mono_to_real_ns  wall clock = event ts + this
 *
 * Little-endian, as written by the machine that recorded it.
 */
#ifndef SYNFIN_RECORDER_H
#define SYNFIN_RECORDER_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <linux/types.h>
#include "../include/synfin.h"

#define SF_REC_MAGIC "SYNFINR\n"
#define SF_REC_FORMAT 1
#define SF_REC_F_LO_EGRESS_ONLY 1u /* loopback segments captured at egress only */

struct sf_rec_header {
	char magic[8];
	uint32_t format;
	uint32_t event_size;
	uint32_t event_version;
	uint32_t flags;
	int64_t mono_to_real_ns;
};

_Static_assert(sizeof(struct sf_rec_header) == 32, "record header is 32 bytes");

/* Writer: 0 or -errno. */
int recorder__open(FILE **f, const char *path, int64_t mono_to_real_ns, uint32_t flags);
int recorder__write(FILE *f, const struct synfin_event *e);

/* Reader: open path ("-": stdin) and check its header (a clock offset
 * within +-SF_TS_MAX). 0, or -errno with a reason in err. */
int replay__open(FILE **f, const char *path, int64_t *mono_to_real_ns, uint32_t *flags, char *err,
		 size_t errlen);
/* The header check alone, on a stream at its start (name for messages). */
int replay__header(FILE *f, const char *name, int64_t *mono_to_real_ns, uint32_t *flags, char *err,
		   size_t errlen);
/* 1 = one event read, 0 = clean end, -EINVAL = truncated (reason in err).
 * An event is returned as it was read: the flow table decodes it. */
int replay__next(FILE *f, struct synfin_event *e, uint64_t index, char *err, size_t errlen);

#endif /* SYNFIN_RECORDER_H */
