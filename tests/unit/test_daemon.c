// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Unit tests of the daemon's frame: the event loop, the output registry
 * and the JSON Lines writer (whole lines only, whatever write(2) does),
 * the stats table, the option table. No root, no kernel.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include "harness.h"
#include "loop.h"
#include "options.h"
#include "out_jsonl.h"
#include "output.h"
#include "stats.h"

UNIT_MAIN

/* ---- the event loop ------------------------------------------------ */

struct counts {
	int calls;
	int stop_after;
	uint64_t last;
	struct loop_source *other;
};

static int count_timer(struct loop *l, uint64_t n, void *ctx)
{
	struct counts *c = ctx;

	c->last = n;
	if (++c->calls == c->stop_after)
		loop__stop(l, 42);
	return 0;
}

TEST(loop_timer_repeats_and_stop_returns_its_rc)
{
	struct loop *l;
	struct counts c = { .stop_after = 3 };

	EXPECT(!loop__new(&l));
	EXPECT(!loop__add_timer(l, 1000000, 2000000, count_timer, &c, NULL));
	EXPECT(loop__run(l) == 42);
	EXPECT(c.calls == 3 && c.last >= 1);
	loop__free(l);
}

static int again_twice(struct loop *l, int fd, uint32_t events, void *ctx)
{
	struct counts *c = ctx;
	char b;

	(void)l;
	/* the first call is the fd's; the next two come without waiting */
	if (c->calls++ == 0) {
		if (!(events & EPOLLIN) || read(fd, &b, 1) != 1)
			return -EIO;
	}
	return c->calls < 3 ? LOOP_AGAIN : 0;
}

static int stop_now(struct loop *l, uint64_t n, void *ctx)
{
	(void)n, (void)ctx;
	loop__stop(l, 0);
	return 0;
}

TEST(loop_again_calls_back_without_an_event)
{
	struct loop *l;
	struct counts c = {};
	int p[2];

	EXPECT(!pipe(p));
	EXPECT(write(p[1], "x", 1) == 1);
	EXPECT(!loop__new(&l));
	EXPECT(!loop__add_fd(l, p[0], EPOLLIN, again_twice, &c, NULL));
	/* long enough for the three calls, then the end */
	EXPECT(!loop__add_timer(l, 50000000, 0, stop_now, NULL, NULL));
	EXPECT(loop__run(l) == 0);
	EXPECT(c.calls == 3);
	loop__free(l);
	close(p[0]);
	close(p[1]);
}

static int remove_other(struct loop *l, int fd, uint32_t events, void *ctx)
{
	struct counts *c = ctx;

	(void)fd, (void)events;
	c->calls++;
	/* both fds are ready in this turn: whichever runs first removes
	 * the other, which must not run then */
	loop__remove(l, c->other);
	loop__stop(l, 0);
	return 0;
}

TEST(loop_source_removed_during_a_turn_is_not_called)
{
	struct loop *l;
	struct loop_source *a, *b;
	struct counts ca = {}, cb = {};
	int p[2], q[2];

	EXPECT(!pipe(p) && !pipe(q));
	EXPECT(write(p[1], "x", 1) == 1 && write(q[1], "x", 1) == 1);
	EXPECT(!loop__new(&l));
	EXPECT(!loop__add_fd(l, p[0], EPOLLIN, remove_other, &ca, &a));
	EXPECT(!loop__add_fd(l, q[0], EPOLLIN, remove_other, &cb, &b));
	ca.other = b;
	cb.other = a;
	EXPECT(loop__run(l) == 0);
	EXPECT(ca.calls + cb.calls == 1);
	loop__free(l);
	close(p[0]), close(p[1]), close(q[0]), close(q[1]);
}

static int got_signal(struct loop *l, int signo, void *ctx)
{
	*(int *)ctx = signo;
	loop__stop(l, 0);
	return 0;
}

static void turn_end(struct loop *l, void *ctx)
{
	(void)l;
	(*(int *)ctx)++;
}

TEST(loop_signal_through_signalfd_and_turn_end)
{
	struct loop *l;
	sigset_t set;
	int signo = 0, turns = 0;

	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	EXPECT(!loop__block_signals(&set));
	EXPECT(!loop__new(&l));
	EXPECT(!loop__add_signals(l, &set, got_signal, &signo, NULL));
	loop__on_turn_end(l, turn_end, &turns);
	EXPECT(!raise(SIGUSR2));
	EXPECT(loop__run(l) == 0);
	EXPECT(signo == SIGUSR2);
	EXPECT(turns == 1);
	loop__free(l);
}

static int fail_io(struct loop *l, uint64_t n, void *ctx)
{
	(void)l, (void)n, (void)ctx;
	return -EIO;
}

TEST(loop_callback_error_ends_the_run)
{
	struct loop *l;

	EXPECT(!loop__new(&l));
	EXPECT(!loop__add_timer(l, 1000000, 0, fail_io, NULL, NULL));
	EXPECT(loop__run(l) == -EIO);
	loop__free(l);
}

/* ---- outputs ------------------------------------------------------- */

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

/* ---- the stats table ------------------------------------------------- */

TEST(stats_table_is_well_formed)
{
	for (size_t i = 0; i < sf_stat_ndefs; i++) {
		const struct sf_stat_def *d = &sf_stat_defs[i];

		EXPECT(d->name && d->help && d->help[0]);
		EXPECT(d->type != SF_STAT_DERIVED || d->get);
		for (size_t k = 0; k < i; k++)
			EXPECT(strcmp(d->name, sf_stat_defs[k].name) ||
			       !d->group != !sf_stat_defs[k].group ||
			       (d->group && strcmp(d->group, sf_stat_defs[k].group)));
		/* a group's entries together: one JSON object each */
		if (i && d->group && sf_stat_defs[i - 1].group && strcmp(d->group, sf_stat_defs[i - 1].group))
			for (size_t k = 0; k < i; k++)
				EXPECT(!sf_stat_defs[k].group || strcmp(sf_stat_defs[k].group, d->group));
	}
}

TEST(stats_record_from_the_table)
{
	struct sf_stats st = {};
	struct json j = {};

	st.table.events = 10;
	st.table.decode_errors = 2;
	st.rb_bad_size = 1;
	st.bpf[SF_CNT_RB_FULL] = 4;
	st.recursion_misses = 3;
	st.table.stuck_total = 5;
	st.table.resolved_total = 2;
	st.table.by_state[SF_TCP_ESTABLISHED] = 7;
	st.out.lines = 9;
	st.uptime_s = 1.5;
	json__obj_open(&j, NULL);
	stats__json(&j, &st);
	json__obj_close(&j);
	json__putc(&j, 0);
	EXPECT(!j.oom);
	EXPECT(strstr(j.buf, "{\"uptime_s\":1.500,\"interval_s\":0.000,\"events\":{\"received\":13,\"lost\":7,"
			     "\"decode_errors\":3,"));
	EXPECT(strstr(j.buf, "\"flows\":{\"open\":0,"));
	EXPECT(strstr(j.buf, "\"by_state\":{\"ESTABLISHED\":7}},\"stuck\":{\"now\":3,\"total\":5,"));
	EXPECT(strstr(j.buf, "\"output\":{\"lines\":9,\"write_errors\":0,\"bytes\":0,\"dropped\":0}}"));
	json__free(&j);
}

/* ---- the option table ------------------------------------------------ */

TEST(options_parse_into_struct)
{
	char *argv[] = { "synfin", "-i", "5", "--stuck", "close_wait=3", "--on-output-error", "drop", "-q",
			 "--ring-mb", "16", "--no-segments", "daemon", NULL };
	struct opts o;

	EXPECT(options__parse(&o, 12, argv) == 0);
	EXPECT(o.stats_interval == 5 && o.stuck_s[SF_TCP_CLOSE_WAIT] == 3);
	/* untouched: the defaults */
	EXPECT(o.stuck_s[SF_TCP_SYN_SENT] == 10 && o.max_flows == 262144 && o.reconcile_s == 10);
	EXPECT(o.on_output_error_set && o.on_output_error == OUTPUT_ON_ERROR_DROP);
	EXPECT(o.log_level == SF_LOG_WARN && o.ring_mb == 16 && !o.segments && o.snapshot);
	EXPECT(!strcmp(o.output, "-"));
}
