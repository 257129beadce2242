// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* The output registry and the JSON Lines writer: only written lines
 * counted, whole lines whatever write(2) does (a full file: RLIMIT_FSIZE,
 * no root needed), reopen after a rename, a closed pipe. */
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include "unit.h"
#include "out_jsonl.h"
#include "output.h"
#include "stats.h"

static const struct sf_clock clk = { .mono_to_real_ns = 1764000000000000000LL };

/* A stats record (about 1 KiB of JSON): any record kind takes the route. */
static void emit(struct outputs *r, int n)
{
	struct sf_stats st = {};
	struct sf_record rec = { .type = SF_REC_STATS, .stats = &st };

	for (int i = 0; i < n; i++) {
		st.table.events = (uint64_t)i;
		rec.at = 1000000000ULL * (uint64_t)(i + 1);
		outputs__emit(r, &rec);
	}
}

static char tmpdir[64];

static const char *tmp_path(const char *name)
{
	static char p[128];

	if (!tmpdir[0]) {
		snprintf(tmpdir, sizeof(tmpdir), "/tmp/synfin-unit.XXXXXX");
		if (!mkdtemp(tmpdir))
			return NULL;
	}
	snprintf(p, sizeof(p), "%s/%s", tmpdir, name);
	return p;
}

/* Whole, valid-looking lines: each starts with '{' and ends with "}\n".
 * Returns the number of lines, -1 if one is not whole. */
static long whole_lines(const char *path, long *size)
{
	FILE *f = fopen(path, "r");
	char line[8192];
	long n = 0;

	*size = 0;
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		size_t len = strlen(line);

		*size += (long)len;
		if (line[0] != '{' || len < 3 || strcmp(line + len - 2, "}\n")) {
			fclose(f);
			return -1;
		}
		n++;
	}
	fclose(f);
	return n;
}

static void on_failed(void *ctx, struct output *o)
{
	(void)o;
	(*(int *)ctx)++;
}

TEST(jsonl_counts_only_lines_written)
{
	const char *path = tmp_path("count.jsonl");
	struct outputs *r;
	struct output *o;
	long size;

	unlink(path);
	EXPECT(!outputs__new(&r));
	EXPECT(!out_jsonl__open(&o, path, &clk));
	EXPECT(o->regular_file && o->watch_fd == -1);
	outputs__add(r, o);
	emit(r, 5);
	/* queued, not written: not counted yet */
	EXPECT(o->cnt.lines == 0);
	outputs__flush(r, NULL, NULL);
	EXPECT(whole_lines(path, &size) == 5);
	EXPECT(o->cnt.lines == 5 && (long)o->cnt.bytes == size && !o->cnt.write_errors);
	outputs__free(r);
}

/* the soft limit only: a lowered hard limit cannot be raised again */
static void set_fsize(rlim_t n)
{
	struct rlimit rl;

	getrlimit(RLIMIT_FSIZE, &rl);
	rl.rlim_cur = n;
	setrlimit(RLIMIT_FSIZE, &rl);
}

/* A file that can take 2500 bytes: writes past it are short, then EFBIG
 * (what a full disk does, without root). */
static void full_file(bool keep_tail)
{
	const char *path = tmp_path(keep_tail ? "tail.jsonl" : "cut.jsonl");
	struct rlimit saved;
	struct outputs *r;
	struct output *o;
	int failed = 0;
	long n, size;

	unlink(path);
	getrlimit(RLIMIT_FSIZE, &saved);
	signal(SIGXFSZ, SIG_IGN);
	EXPECT(!outputs__new(&r));
	EXPECT(!out_jsonl__open(&o, path, &clk));
	/* as a pipe would be: the rest of the cut line waits to go first */
	if (keep_tail)
		o->regular_file = false;
	outputs__add(r, o);
	emit(r, 10);
	set_fsize(2500);
	outputs__flush(r, on_failed, &failed);
	set_fsize(saved.rlim_cur);
	EXPECT(failed == 1 && o->err == -EFBIG);
	n = whole_lines(path, &size);
	if (keep_tail) {
		/* half a line at the end, nothing glued; the rest of it
		 * waits, the lines after it are lost */
		EXPECT(n == -1 && size == 2500);
		EXPECT(o->cnt.lines + o->cnt.write_errors == 9);
	} else {
		/* cut back to the last whole line */
		EXPECT(n >= 1 && size < 2500 && (uint64_t)n == o->cnt.lines);
		EXPECT(o->cnt.lines + o->cnt.write_errors == 10 && (long)o->cnt.bytes == size);
	}
	/* space again: what follows is whole, and so is the file */
	emit(r, 2);
	outputs__flush(r, on_failed, &failed);
	EXPECT(failed == 1);
	n = whole_lines(path, &size);
	EXPECT(n >= 3 && (uint64_t)n == o->cnt.lines);
	EXPECT(o->cnt.lines + o->cnt.write_errors == 12);
	outputs__free(r);
}

TEST(jsonl_full_file_is_cut_back_to_whole_lines)
{
	full_file(false);
}

TEST(jsonl_cut_line_is_finished_before_the_next)
{
	full_file(true);
}

TEST(jsonl_reopen_after_rename)
{
	char old[160];
	const char *path = tmp_path("rot.jsonl");
	struct outputs *r;
	struct output *o;
	long size;

	snprintf(old, sizeof(old), "%s.1", path);
	unlink(path);
	EXPECT(!outputs__new(&r));
	EXPECT(!out_jsonl__open(&o, path, &clk));
	outputs__add(r, o);
	emit(r, 3);
	EXPECT(!rename(path, old));
	/* queued before the reopen: goes to the old file */
	outputs__reopen(r, NULL, NULL);
	emit(r, 2);
	outputs__flush(r, NULL, NULL);
	EXPECT(whole_lines(old, &size) == 3);
	EXPECT(whole_lines(path, &size) == 2);
	EXPECT(o->cnt.lines == 5);
	outputs__free(r);
}

TEST(jsonl_closed_pipe_is_epipe)
{
	struct outputs *r;
	struct output *o;
	int p[2], failed = 0, saved = dup(STDOUT_FILENO);

	signal(SIGPIPE, SIG_IGN);
	EXPECT(saved >= 0 && !pipe(p));
	/* stdout is the pipe; its reader is gone */
	fflush(stdout);
	dup2(p[1], STDOUT_FILENO);
	close(p[0]);
	close(p[1]);
	EXPECT(!outputs__new(&r));
	EXPECT(!out_jsonl__open(&o, "-", &clk));
	outputs__add(r, o);
	emit(r, 2);
	outputs__flush(r, on_failed, &failed);
	dup2(saved, STDOUT_FILENO);
	close(saved);
	EXPECT(o->watch_fd == STDOUT_FILENO && !o->regular_file);
	EXPECT(failed == 1 && o->err == -EPIPE);
	EXPECT(o->cnt.write_errors == 2 && o->cnt.lines == 0);
	outputs__free(r);
}

TEST(registry_every_output_every_record_and_remove)
{
	struct outputs *r;
	struct output *a, *b;
	struct sf_output_counters sum;
	long size;

	EXPECT(!outputs__new(&r));
	EXPECT(!out_jsonl__open(&a, tmp_path("a.jsonl"), &clk));
	EXPECT(!out_jsonl__open(&b, tmp_path("b.jsonl"), &clk));
	outputs__add(r, a);
	outputs__add(r, b);
	EXPECT(outputs__first(r) == a && a->next == b);
	emit(r, 2);
	/* removing flushes what it holds */
	outputs__remove(r, b);
	EXPECT(whole_lines(tmp_path("b.jsonl"), &size) == 2);
	emit(r, 1);
	outputs__flush(r, NULL, NULL);
	EXPECT(whole_lines(tmp_path("a.jsonl"), &size) == 3);
	outputs__counters(r, &sum);
	EXPECT(sum.lines == 3 && (long)sum.bytes == size);
	outputs__free(r);
}

