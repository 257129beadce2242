// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <errno.h>
#include <string.h>
#include "recorder.h"

int recorder__open(FILE **out, const char *path, int64_t mono_to_real_ns, uint32_t flags)
{
	struct sf_rec_header h = {
		.format = SF_REC_FORMAT,
		.event_size = sizeof(struct synfin_event),
		.event_version = SYNFIN_EVENT_VERSION,
		.mono_to_real_ns = mono_to_real_ns,
		.flags = flags,
	};
	FILE *f = fopen(path, "wbe");

	if (!f)
		return -errno;
	memcpy(h.magic, SF_REC_MAGIC, sizeof(h.magic));
	if (fwrite(&h, sizeof(h), 1, f) != 1) {
		int err = -errno;

		fclose(f);
		return err ? err : -EIO;
	}
	*out = f;
	return 0;
}

int recorder__write(FILE *f, const struct synfin_event *e)
{
	return fwrite(e, sizeof(*e), 1, f) == 1 ? 0 : -EIO;
}

int replay__header(FILE *f, const char *name, int64_t *mono_to_real_ns, uint32_t *flags, char *err,
		   size_t errlen)
{
	struct sf_rec_header h;
	size_t n = fread(&h, 1, sizeof(h), f);

	if (n != sizeof(h) || memcmp(h.magic, SF_REC_MAGIC, sizeof(h.magic)) != 0) {
		snprintf(err, errlen, "%s is not a synfin recording (%s)", name,
			 n != sizeof(h) ? "shorter than the 32-byte header" : "bad magic");
		return -EINVAL;
	}
	if (h.format != SF_REC_FORMAT || h.event_size != sizeof(struct synfin_event) ||
	    h.event_version < 1 || h.event_version > SYNFIN_EVENT_VERSION) {
		snprintf(err, errlen,
			 "%s: recording format %u, event size %u, event version %u; this synfin reads format %u, size %zu, versions 1 to %u",
			 name, h.format, h.event_size, h.event_version, SF_REC_FORMAT,
			 sizeof(struct synfin_event), SYNFIN_EVENT_VERSION);
		return -EINVAL;
	}
	if (h.mono_to_real_ns >= (int64_t)SF_TS_MAX || h.mono_to_real_ns <= -(int64_t)SF_TS_MAX) {
		snprintf(err, errlen, "%s: clock offset %lld ns is out of range: a corrupted recording", name,
			 (long long)h.mono_to_real_ns);
		return -EINVAL;
	}
	*mono_to_real_ns = h.mono_to_real_ns;
	*flags = h.flags;
	return 0;
}

int replay__open(FILE **out, const char *path, int64_t *mono_to_real_ns, uint32_t *flags, char *err,
		 size_t errlen)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rbe");
	int r;

	if (!f) {
		int e = errno;

		snprintf(err, errlen, "cannot open %s: %s", path, strerror(e));
		return -e;
	}
	r = replay__header(f, path, mono_to_real_ns, flags, err, errlen);
	if (r) {
		if (f != stdin)
			fclose(f);
		return r;
	}
	*out = f;
	return 0;
}

int replay__next(FILE *f, struct synfin_event *e, uint64_t index, char *err, size_t errlen)
{
	size_t n = fread(e, 1, sizeof(*e), f);

	if (n == sizeof(*e)) {
		/* version 1: host_tgid was reserved (0) and the ids were the
		 * initial PID namespace's, where synfin ran: read as
		 * version 2, they are synfin's own with no host pid beside.
		 * Version 2 is version 3 without folded births. */
		if (e->version - 1u < SYNFIN_EVENT_VERSION - 1u) {
			if (e->version == 1)
				e->host_tgid = 0;
			e->version = SYNFIN_EVENT_VERSION;
		}
		return 1;
	}
	if (n == 0 && feof(f))
		return 0;
	snprintf(err, errlen, "truncated recording: event %llu has %zu of %zu bytes",
		 (unsigned long long)index, n, sizeof(*e));
	return -EINVAL;
}
