// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* The --record file format. */
#include "unit.h"

TEST(record_file)
{
	char path[] = "/tmp/synfin-unit.XXXXXX";
	struct synfin_event e = ev(1, 1, 1, SF_TCP_CLOSE, SF_TCP_SYN_SENT), back;
	char err[256];
	int64_t off = 0;
	uint32_t flags = 0;
	FILE *f;
	int fd = mkstemp(path);

	EXPECT(fd >= 0);
	close(fd);
	EXPECT(recorder__open(&f, path, 42, SF_REC_F_LO_EGRESS_ONLY) == 0);
	EXPECT(recorder__write(f, &e) == 0);
	EXPECT(recorder__write(f, &e) == 0);
	fwrite(&e, 10, 1, f); /* a torn last event */
	fclose(f);

	EXPECT(replay__open(&f, path, &off, &flags, err, sizeof(err)) == 0);
	EXPECT(off == 42 && flags == SF_REC_F_LO_EGRESS_ONLY);
	EXPECT(replay__next(f, &back, 0, err, sizeof(err)) == 1);
	EXPECT(memcmp(&back, &e, sizeof(e)) == 0);
	EXPECT(replay__next(f, &back, 1, err, sizeof(err)) == 1);
	EXPECT(replay__next(f, &back, 2, err, sizeof(err)) == -EINVAL);
	EXPECT(strstr(err, "truncated") != NULL);
	fclose(f);

	/* a version 1 recording (header and events) reads as version 2 */
	f = fopen(path, "r+");
	EXPECT(f != NULL);
	fseek(f, offsetof(struct sf_rec_header, event_version), SEEK_SET);
	fwrite(&(uint32_t){ 1 }, 4, 1, f);
	fseek(f, sizeof(struct sf_rec_header) + offsetof(struct synfin_event, version), SEEK_SET);
	fputc(1, f);
	fclose(f);
	EXPECT(replay__open(&f, path, &off, &flags, err, sizeof(err)) == 0);
	EXPECT(replay__next(f, &back, 0, err, sizeof(err)) == 1);
	EXPECT(memcmp(&back, &e, sizeof(e)) == 0);
	fclose(f);

	/* a clock offset no clock makes: a corrupted header (the wall clock
	 * made with it would overflow) */
	EXPECT(recorder__open(&f, path, INT64_MIN, 0) == 0);
	fclose(f);
	EXPECT(replay__open(&f, path, &off, &flags, err, sizeof(err)) == -EINVAL);
	EXPECT(strstr(err, "clock offset -9223372036854775808 ns is out of range") != NULL);

	f = fopen(path, "w");
	fputs("this is not a recording, just some garbage text...", f);
	fclose(f);
	EXPECT(replay__open(&f, path, &off, &flags, err, sizeof(err)) == -EINVAL);
	EXPECT(strstr(err, "not a synfin recording") != NULL);
	unlink(path);
}
