// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Ladder diagrams (ladder.h), in three passes: rows (the segments both
 * records list, the segments that should be there and are not, each
 * end's state changes) in time order, every state change written on the
 * row of the segment that caused it; then column widths; then drawing.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "ladder.h"

#define NONE FLOWREC_NONE
/* two records of 16 segments, 7 missing, 2 x 15 states, the origin */
#define MAX_ROWS 80
#define MAX_FN 8
/* A state change is written on the row of the segment that caused it
 * when it happened within this time of it: the kernel changes state
 * microseconds from the segment. One further off (a FIN queued behind
 * data, an application that waited) keeps a row and a time of its own. */
#define FOLD_US 1000
/* times in a record are whole microseconds and each duration is
 * floored: a sum of them may come out a few µs early */
#define SLACK_US 5
/* a pause between two rows is drawn when it is this long and at least
 * 1/GAP_SHARE of the whole diagram */
#define GAP_MIN_US 1000
#define GAP_SHARE 20
#define MIDDLE_MIN 44

enum { L = 0, R = 1 };
enum row_kind { ROW_ORIGIN, ROW_SEG, ROW_MISSING, ROW_STATE };
enum attr { A_NONE, A_HEAD, A_STATE, A_INFERRED, A_RST, A_MISSING, A_OK, A_BAD, A_DIM };
enum fn_kind { FN_TIME_WAIT, FN_VANISHED, FN_MID_FLOW, FN_DURATION };

struct row {
	enum row_kind kind;
	int64_t t;		/* µs from t0; NONE: not known */
	int order;
	/* segment rows */
	int from;		/* the side that sent it, -1 unknown */
	int n;			/* 1..7, 0 = RST */
	char name[12], flags[12];
	bool have_seq;
	uint32_t seq, ack, len;
	int check;		/* ack = seq+1: 0 not stated, 1 yes, 2 no */
	int64_t at[2];		/* its copy in each side's record, NONE */
	char note[128];
	/* each side's state change written on this row */
	char state[2][48];
	enum attr sattr[2];
	int fn[2];		/* footnote index, -1 none */
};

struct fnote {
	enum fn_kind kind;
	unsigned sides;		/* the ends it is about: bit per side */
	const char *state;	/* the state it is about */
	const char *how;	/* TIME_WAIT: what showed its start; a duration: what bounds it */
	int number;		/* given at its first appearance; 0: not drawn yet */
};

struct glyphs {
	const char *v, *gap, *h, *dash, *rhead, *lhead, *ok, *bad, *us, *to, *both;
};

static const struct glyphs utf8 = { "│", "┆", "─", "╌", "▶", "◀", "✓", "✗", "µs", "→", "↔" };
static const struct glyphs ascii = { "|", ":", "-", ".", ">", "<", "ok", "BAD", "us", "->", "<->" };

struct ladder {
	FILE *out;
	const struct ladder_style *st;
	const struct glyphs *g;
	const struct flowrec *rec[2];	/* [R] is NULL when only one end is known */
	char who[2][24];
	int client;		/* side of the active opener, -1 unknown */
	int closer;		/* side that sent the first FIN, -1 unknown */
	int64_t t0, span;
	struct row rows[MAX_ROWS];
	int nrows;
	int draw[MAX_ROWS];	/* drawing order */
	int ndraw;
	int64_t gap_from[MAX_ROWS];	/* a pause drawn before draw[k]: since when */
	bool gap_half_closed[MAX_ROWS];
	struct fnote fn[MAX_FN];
	int nfn, fn_shown;
	bool used_ok, used_bad, used_missing, used_unknown;
	int tw, lw, mw, rw;	/* column widths */
};

static const char *const seg_names[8] = { "RST", "SYN", "SYN-ACK", "ACK", "FIN", "ACK", "FIN", "ACK" };

/* ---- small helpers ---------------------------------------------------- */

/* display columns of a UTF-8 string: every glyph used here is one column */
static int cols(const char *s)
{
	int n = 0;

	for (; *s; s++)
		n += ((unsigned char)*s & 0xc0) != 0x80;
	return n;
}

static bool has_reason(const struct flowrec *f, const char *reason)
{
	for (int i = 0; i < f->nreasons; i++)
		if (!strcmp(f->reasons[i], reason))
			return true;
	return false;
}

static int64_t max64(int64_t a, int64_t b)
{
	return a > b ? a : b;
}

static void fmt_dur(const struct ladder *l, char *b, size_t n, int64_t us)
{
	if (us < 1000)
		snprintf(b, n, "%" PRId64 " %s", us, l->g->us);
	else if (us < 1000000)
		snprintf(b, n, "%" PRId64 ".%03" PRId64 " ms", us / 1000, us % 1000);
	else
		snprintf(b, n, "%" PRId64 ".%03" PRId64 " s", us / 1000000, us / 1000 % 1000);
}

/* offsets from the diagram's start: µs precision, in ms below 100 s */
static void fmt_off(const struct ladder *l, char *b, size_t n, int64_t t)
{
	/* NONE is INT64_MIN, which has no negation */
	uint64_t a = t < 0 ? -(uint64_t)t : (uint64_t)t;

	if (t == NONE)
		snprintf(b, n, "?");
	else if (l->span < 100000000)
		snprintf(b, n, "%c%" PRIu64 ".%03" PRIu64 " ms", t < 0 ? '-' : '+', a / 1000, a % 1000);
	else
		snprintf(b, n, "%c%" PRIu64 ".%06" PRIu64 " s", t < 0 ? '-' : '+', a / 1000000, a % 1000000);
}

static void fmt_utc(char *b, size_t n, int64_t us)
{
	time_t s = (time_t)(us / 1000000);
	struct tm tm;
	char d[24];

	gmtime_r(&s, &tm);
	strftime(d, sizeof(d), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(b, n, "%s.%06" PRId64 "Z", d, us % 1000000);
}

static void endpoint(char *b, size_t n, const struct flowrec *f, const char *addr, int port)
{
	const char *six = !strcmp(f->family, "ipv6") ? "[" : "";

	if (port < 0)
		snprintf(b, n, "%s%s%s:?", six, addr, *six ? "]" : "");
	else
		snprintf(b, n, "%s%s%s:%d", six, addr, *six ? "]" : "", port);
}

/* ---- output: colour only around text, padding outside it -------------- */

static const char *const sgr[] = {
	[A_NONE] = "", [A_HEAD] = "\033[1m", [A_STATE] = "\033[36m", [A_INFERRED] = "\033[33m",
	[A_RST] = "\033[31m", [A_MISSING] = "\033[2m", [A_OK] = "\033[32m", [A_BAD] = "\033[1;31m",
	[A_DIM] = "\033[2m",
};

/* In ASCII mode anything outside ASCII that came from a record (a comm
 * with U+FFFD, say) is written as '?' */
static void put(struct ladder *l, enum attr a, const char *s)
{
	bool c = l->st->color && a != A_NONE && *s;

	if (c)
		fputs(sgr[a], l->out);
	if (l->st->ascii) {
		for (const unsigned char *p = (const unsigned char *)s; *p; p++)
			if (*p < 0x80)
				fputc(*p, l->out);
			else if ((*p & 0xc0) != 0x80)
				fputc('?', l->out);
	} else {
		fputs(s, l->out);
	}
	if (c)
		fputs("\033[0m", l->out);
}

static void __attribute__((format(printf, 3, 4))) putf(struct ladder *l, enum attr a, const char *fmt, ...)
{
	char b[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(b, sizeof(b), fmt, ap);
	va_end(ap);
	put(l, a, b);
}

static void spaces(struct ladder *l, int n)
{
	for (; n > 0; n--)
		fputc(' ', l->out);
}

static void repeat(struct ladder *l, enum attr a, const char *glyph, int n)
{
	if (n <= 0)
		return;
	if (l->st->color && a != A_NONE)
		fputs(sgr[a], l->out);
	for (; n > 0; n--)
		fputs(glyph, l->out);
	if (l->st->color && a != A_NONE)
		fputs("\033[0m", l->out);
}

/* ---- rows -------------------------------------------------------------- */

static struct row *row_new(struct ladder *l, enum row_kind k, int64_t t)
{
	struct row *r;

	if (l->nrows >= MAX_ROWS)
		return NULL;
	r = &l->rows[l->nrows];
	memset(r, 0, sizeof(*r));
	r->kind = k;
	r->t = t;
	r->order = l->nrows++;
	r->from = -1;
	r->at[L] = r->at[R] = NONE;
	r->fn[L] = r->fn[R] = -1;
	return r;
}

static int64_t rel(const struct ladder *l, const struct flowrec *f, int64_t us)
{
	if (us == NONE || f->start_us == NONE)
		return NONE;
	return f->start_us + us - l->t0;
}

static bool has_flag(const struct row *r, char c)
{
	return strchr(r->flags, c) != NULL;
}

static struct row *find_seg(struct ladder *l, int n)
{
	for (int i = 0; i < l->nrows; i++)
		if ((l->rows[i].kind == ROW_SEG || l->rows[i].kind == ROW_MISSING) && l->rows[i].n == n)
			return &l->rows[i];
	return NULL;
}

static bool same_seg(const struct row *r, int from, const struct flowrec_seg *s)
{
	if (r->kind != ROW_SEG || r->from != from || r->n != s->n)
		return false;
	if (r->have_seq && s->have_seq)
		return r->seq == s->seq && r->ack == s->ack && !strcmp(r->flags, s->flags);
	return true;
}

/* flags of a segment listed by name only (the compact form) */
static void flags_from_name(struct row *r)
{
	static const struct { const char *name, *flags; } m[] = {
		{ "SYN", "S" }, { "SYN-ACK", "SA" }, { "ACK", "A" }, { "FIN", "FA" }, { "RST", "R" },
	};

	for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++)
		if (!strcmp(r->name, m[i].name))
			strcpy(r->flags, m[i].flags);
}

/* A RST that refuses a SYN acknowledges it (ack = its seq+1), as a
 * SYN-ACK would: the records do not say, the numbers do. */
static void rst_check(struct ladder *l)
{
	const struct row *syn = find_seg(l, 1);

	if (!syn || !syn->have_seq || find_seg(l, 2))
		return;
	for (int i = 0; i < l->nrows; i++) {
		struct row *r = &l->rows[i];

		if (r->kind == ROW_SEG && r->n == 0 && r->from != syn->from && r->have_seq && has_flag(r, 'A') &&
		    !r->check)
			r->check = r->ack == syn->seq + 1 ? 1 : 2;
	}
}

/* One row per segment: a segment both records list (both ends on this
 * host) is one arrow, timed when it left. */
static void add_segments(struct ladder *l)
{
	for (int s = L; s <= R; s++) {
		const struct flowrec *f = l->rec[s];

		for (int i = 0; f && i < f->nseg; i++) {
			const struct flowrec_seg *g = &f->seg[i];
			int from = g->out ? s : !s;
			struct row *r = NULL;

			for (int j = 0; j < l->nrows && !r; j++)
				if (same_seg(&l->rows[j], from, g))
					r = &l->rows[j];
			if (!r) {
				r = row_new(l, ROW_SEG, NONE);
				if (!r)
					return;
				r->from = from;
				r->n = g->n;
				snprintf(r->name, sizeof(r->name), "%s",
					 g->name[0] ? g->name : seg_names[g->n >= 0 && g->n <= 7 ? g->n : 0]);
				snprintf(r->flags, sizeof(r->flags), "%s", g->flags);
				if (!r->flags[0])
					flags_from_name(r);
				r->have_seq = g->have_seq;
				r->seq = g->seq;
				r->ack = g->ack;
				r->len = g->len;
			}
			r->at[s] = rel(l, f, g->at_us);
			if (g->acks_ok == 0)
				r->check = 2;
			else if (g->acks_ok == 1 && !r->check)
				r->check = 1;
		}
	}
	/* the segment rows: the origin row before them has no sender */
	for (int i = 0; i < l->nrows; i++) {
		struct row *r = &l->rows[i];

		if (r->kind == ROW_SEG)
			r->t = r->at[r->from] != NONE ? r->at[r->from] : r->at[!r->from];
	}
	rst_check(l);
}

static void find_sides(struct ladder *l)
{
	struct row *fin = find_seg(l, 4);

	l->client = l->closer = -1;
	for (int s = L; s <= R; s++) {
		const struct flowrec *f = l->rec[s];

		if (!f)
			continue;
		if (!strcmp(f->role, "client"))
			l->client = s;
		else if (!strcmp(f->role, "server"))
			l->client = !s;
		if (l->closer < 0 && !strcmp(f->first_fin, "local"))
			l->closer = s;
		else if (l->closer < 0 && !strcmp(f->first_fin, "peer"))
			l->closer = !s;
		else if (l->closer < 0 && !strcmp(f->closer, "local"))
			l->closer = s;
		else if (l->closer < 0 && !strcmp(f->closer, "peer"))
			l->closer = !s;
	}
	if (fin && fin->kind == ROW_SEG)
		l->closer = fin->from;
}

/* some end's record says close (or segments.close) is v */
static bool any_close(const struct ladder *l, const char *v, bool segments)
{
	for (int s = L; s <= R; s++)
		if (l->rec[s] && !strcmp(segments ? l->rec[s]->seg_close : l->rec[s]->close, v))
			return true;
	return false;
}

/* Segments a record should hold and does not: drawn dashed, "not seen",
 * never as if they had been. Which ones: the handshake of an established
 * connection (unless it began before synfin); for one that never was,
 * the answer that never came (no RST: refused is answered); every
 * teardown segment up to the last one seen, all four after a clean close
 * (5 rides on 6 in a three-way close). */
static void add_missing(struct ladder *l)
{
	bool segs = false, est = false, mid = false, rst = false, opening = false;
	int maxh = 0, maxt = 0, hi_h, hi_t;

	for (int s = L; s <= R; s++) {
		const struct flowrec *f = l->rec[s];

		if (!f)
			continue;
		segs |= f->have_segments;
		est |= f->established;
		mid |= has_reason(f, "started_mid_flow") || !strcmp(f->role, "unknown");
		opening |= flowrec__path_index(f, "SYN_SENT") >= 0 || flowrec__path_index(f, "SYN_RECEIVED") >= 0;
	}
	if (!segs)
		return;
	for (int i = 0; i < l->nrows; i++) {
		const struct row *r = &l->rows[i];

		if (r->kind != ROW_SEG)
			continue;
		if (r->n == 0)
			rst = true;
		else if (r->n <= 3)
			maxh = r->n > maxh ? r->n : maxh;
		else
			maxt = r->n > maxt ? r->n : maxt;
	}
	if (mid)
		hi_h = maxh;
	else if (est || maxt)
		hi_h = 3;
	else if (!rst && (maxh || opening))
		hi_h = maxh + 1 < 3 ? maxh + 1 : 3;
	else
		hi_h = maxh;
	hi_t = !rst && (any_close(l, "normal", false) || any_close(l, "simultaneous", false)) ? 7 : maxt;
	/* the peer's FIN never came: the time-wait socket gave up waiting */
	if (!rst && any_close(l, "fin_wait_2_timeout", false) && hi_t < 6)
		hi_t = 6;

	for (int n = 1; n <= 7; n++) {
		struct row *r;
		int from = -1;

		if ((n <= 3 && n > hi_h) || (n >= 4 && (n > hi_t || !hi_t)) || find_seg(l, n))
			continue;
		if (n == 5 && any_close(l, "three_way", true))
			continue;
		if (n <= 3 && l->client >= 0)
			from = n == 2 ? !l->client : l->client;
		else if (n >= 4 && l->closer >= 0)
			from = n == 5 || n == 6 ? !l->closer : l->closer;
		r = row_new(l, ROW_MISSING, NONE);
		if (!r)
			return;
		r->n = n;
		r->from = from;
		snprintf(r->name, sizeof(r->name), "%s", seg_names[n]);
	}
}

/* the segment that made a state: received by that end, or sent by it
 * right after (flags it must carry; "" none) */
static const struct cause {
	const char *state, *recv, *sent;
} causes[] = {
	{ "SYN_SENT", "", "S" },     { "SYN_RECEIVED", "S", "" }, { "ESTABLISHED", "A", "" },
	{ "FIN_WAIT_1", "", "F" },   { "FIN_WAIT_2", "A", "" },   { "CLOSE_WAIT", "F", "" },
	{ "CLOSING", "F", "" },	     { "LAST_ACK", "", "F" },     { "TIME_WAIT", "FA", "" },
	{ "CLOSED", "AR", "R" },
};

static bool flags_match(const struct row *r, const char *want)
{
	for (; *want; want++)
		if (has_flag(r, *want))
			return true;
	return false;
}

/* a segment row strictly between times a and b, other than skip */
static bool seg_between(const struct ladder *l, int64_t a, int64_t b, const struct row *skip)
{
	for (int i = 0; i < l->nrows; i++) {
		const struct row *r = &l->rows[i];

		if (r != skip && r->kind == ROW_SEG && r->t != NONE && r->t > a && r->t < b)
			return true;
	}
	return false;
}

static struct row *fold_target(struct ladder *l, int s, const char *state, int64_t t)
{
	const struct cause *c = NULL;
	struct row *best = NULL;
	int64_t best_d = 0;

	for (size_t i = 0; i < sizeof(causes) / sizeof(causes[0]); i++)
		if (!strcmp(causes[i].state, state))
			c = &causes[i];
	if (!c || t == NONE)
		return NULL;
	/* caused by a segment it received: the receipt comes first */
	for (int pass = 0; pass < 2 && !best; pass++) {
		for (int i = 0; i < l->nrows; i++) {
			struct row *r = &l->rows[i];
			int64_t at, d;

			if (r->kind != ROW_SEG || r->state[s][0] || (pass == 0 ? r->from == s : r->from != s) ||
			    !flags_match(r, pass == 0 ? c->recv : c->sent))
				continue;
			at = r->at[s] != NONE ? r->at[s] : r->t;
			if (at == NONE)
				continue;
			d = pass == 0 ? t - at : at - t;
			if (d < -SLACK_US || d > FOLD_US ||
			    seg_between(l, at < t ? at : t, at < t ? t : at, r))
				continue;
			if (!best || llabs(d) < best_d) {
				best = r;
				best_d = llabs(d);
			}
		}
	}
	return best;
}

/* one footnote for both ends when it says the same about both */
static int footnote(struct ladder *l, enum fn_kind k, int side, const char *state, const char *how)
{
	for (int i = 0; i < l->nfn; i++)
		if (l->fn[i].kind == k && !strcmp(l->fn[i].state, state) && !strcmp(l->fn[i].how, how)) {
			l->fn[i].sides |= 1u << side;
			return i;
		}
	if (l->nfn >= MAX_FN)
		return -1;
	l->fn[l->nfn] = (struct fnote){ .kind = k, .sides = 1u << side, .state = state, .how = how };
	return l->nfn++;
}

/* What showed TIME_WAIT's start: the record says (entered_from); a record
 * from before it said put it at the hand-over, the record's end. */
static const char *time_wait_how(const struct flowrec *f)
{
	if (f->time_wait_entered_from[0])
		return f->time_wait_entered_from;
	if (f->time_wait_entered_us == NONE || f->time_wait_entered_us == f->end_us)
		return "handover";
	return "record";
}

/* When each state of an end's path was entered: from the record's start
 * forward (the first transition is the start; each state lasted its
 * duration), the last one at the record's end, and backward from there
 * where a duration going forward was not known. */
static void state_times(const struct flowrec *f, int64_t at[FLOWREC_MAX_PATH])
{
	int last = f->path_len - 1;
	bool origin = !has_reason(f, "started_mid_flow") &&
		      (!strcmp(f->path[0], "CLOSED") || !strcmp(f->path[0], "LISTEN"));

	for (int i = 0; i < FLOWREC_MAX_PATH; i++)
		at[i] = NONE;
	if (origin && f->start_us != NONE) {
		int64_t acc = f->start_us;

		for (int i = 1; i <= last; i++) {
			at[i] = acc;
			if (f->dwell_us[i] < 0)
				break;
			acc += f->dwell_us[i];
		}
	}
	/* TIME_WAIT began when the record says; CLOSED is the record's end;
	 * another last state (FIN_WAIT_2 whose end was not observed) was
	 * entered where the durations say, the end being something else */
	if (last >= 1) {
		if (!strcmp(f->path[last], "TIME_WAIT") && f->time_wait_entered_us != NONE)
			at[last] = f->time_wait_entered_us;
		else if (f->end_us != NONE && (at[last] == NONE || !strcmp(f->path[last], "CLOSED") ||
					       !strcmp(f->path[last], "TIME_WAIT")))
			at[last] = f->end_us;
	}
	for (int i = last - 1; i >= 1; i--)
		if (at[i] == NONE && at[i + 1] != NONE && f->dwell_us[i] >= 0)
			at[i] = at[i + 1] - f->dwell_us[i];
}

static void add_states(struct ladder *l, struct row *origin)
{
	for (int s = L; s <= R; s++) {
		const struct flowrec *f = l->rec[s];
		int64_t at[FLOWREC_MAX_PATH];
		int last;

		if (!f || !f->path_len)
			continue;
		last = f->path_len - 1;
		state_times(f, at);
		snprintf(origin->state[s], sizeof(origin->state[s]), "%s", f->path[0]);
		origin->sattr[s] = A_STATE;
		if (has_reason(f, "started_mid_flow")) {
			origin->sattr[s] = A_INFERRED;
			origin->fn[s] = footnote(l, FN_MID_FLOW, s, f->path[0], "");
		}
		for (int i = 1; i <= last; i++) {
			int64_t t = at[i] == NONE ? NONE : at[i] - l->t0;
			struct row *r = fold_target(l, s, f->path[i], t);
			char d[24] = "";

			if (!r) {
				r = row_new(l, ROW_STATE, t);
				if (!r)
					return;
			}
			if (i < last && f->dwell_us[i] >= 0) {
				d[0] = ' ';
				fmt_dur(l, d + 1, sizeof(d) - 1, f->dwell_us[i]);
			}
			snprintf(r->state[s], sizeof(r->state[s]), "%s%s", f->path[i], d);
			r->sattr[s] = A_STATE;
			if (i == last && !strcmp(f->path[i], "TIME_WAIT") && f->time_wait_inferred) {
				r->sattr[s] = A_INFERRED;
				r->fn[s] = footnote(l, FN_TIME_WAIT, s, f->time_wait_from[0] ? f->time_wait_from : "?",
						   time_wait_how(f));
			} else if (i == last && !strcmp(f->path[i], "CLOSED") && has_reason(f, "vanished")) {
				r->sattr[s] = A_INFERRED;
				r->fn[s] = footnote(l, FN_VANISHED, s, "CLOSED", "");
			} else if (i < last && f->dwell_us[i] >= 0 && f->dwell_from[i][0] &&
				   strcmp(f->dwell_from[i], "segments")) {
				/* bounded by the wire is seen; by a reconcile round, an
				 * assumption or an old hand-over, it is not quite */
				r->sattr[s] = A_INFERRED;
				r->fn[s] = footnote(l, FN_DURATION, s, "", f->dwell_from[i]);
			}
			/* the order it was entered in, among rows of unknown time */
			r->order = r->kind == ROW_STATE ? 1000 * s + i : r->order;
		}
		/* the full socket replaced by a time-wait socket, TIME_WAIT not
		 * begun yet (or never): a moment of its own, no state change */
		if (f->time_wait && f->time_wait_handoff_us != NONE &&
		    f->time_wait_handoff_us != f->time_wait_entered_us) {
			struct row *r = row_new(l, ROW_STATE, f->time_wait_handoff_us - l->t0);

			if (!r)
				return;
			snprintf(r->state[s], sizeof(r->state[s]), "(time-wait socket)");
			r->sattr[s] = A_DIM;
			r->order = 1000 * s + last;
		}
	}
}

/* how many times the sender of r sent it again: its own record says
 * (the kernel's retransmit count); without one, the other end's record
 * counts it on the wire (seen again, minus what that end sent itself) */
static int64_t retx_of(const struct flowrec_retx *x, int n)
{
	return n == 1 ? x->syn : n == 2 ? x->synack : x->fin;
}

static int64_t sent_again(const struct ladder *l, const struct row *r)
{
	const struct flowrec *own = l->rec[r->from], *peer = l->rec[!r->from];

	if (r->n != 1 && r->n != 2 && r->n != 4 && r->n != 6)
		return 0;
	if (own)
		return max64(0, retx_of(&own->retx, r->n));
	if (!peer)
		return 0;
	/* a FIN the record's own end sent again is in the wire count too */
	if (r->n == 4 || r->n == 6)
		return max64(0, retx_of(&peer->seg_retx, r->n) - max64(0, retx_of(&peer->retx, r->n)));
	return max64(0, retx_of(&peer->seg_retx, r->n));
}

static void note_add(struct row *r, const char *text)
{
	size_t n = strlen(r->note);

	snprintf(r->note + n, sizeof(r->note) - n, "%s%s", n ? "; " : "", text);
}

static void add_notes(struct ladder *l)
{
	bool other_ns = l->rec[R] && l->rec[L]->netns != l->rec[R]->netns;

	for (int i = 0; i < l->nrows; i++) {
		struct row *r = &l->rows[i];
		char b[96], d[24];
		int64_t n;

		if (r->kind != ROW_SEG)
			continue;
		n = sent_again(l, r);
		if (n) {
			snprintf(b, sizeof(b), "sent again %" PRId64 " time%s (not drawn)", n, n > 1 ? "s" : "");
			note_add(r, b);
		}
		if (l->rec[R] && (r->at[L] == NONE) != (r->at[R] == NONE)) {
			snprintf(b, sizeof(b), "only in the %s's record", l->who[r->at[L] != NONE ? L : R]);
			note_add(r, b);
		}
		/* two namespaces: each end saw the segment at its own interface */
		if (other_ns && r->at[L] != NONE && r->at[R] != NONE && r->at[!r->from] > r->at[r->from]) {
			fmt_dur(l, d, sizeof(d), r->at[!r->from] - r->at[r->from]);
			snprintf(b, sizeof(b), "arrived %s later", d);
			note_add(r, b);
		}
	}
}

/* ---- drawing order ------------------------------------------------------ */

static int by_time(const void *a, const void *b, void *ctx)
{
	const struct ladder *l = ctx;
	const struct row *x = &l->rows[*(const int *)a], *y = &l->rows[*(const int *)b];

	if (x->t != y->t)
		return x->t < y->t ? -1 : 1;
	if (x->kind != y->kind)
		return x->kind == ROW_SEG ? -1 : y->kind == ROW_SEG ? 1 : 0;
	return x->order - y->order;
}

static int draw_pos(const struct ladder *l, const struct row *r)
{
	for (int i = 0; i < l->ndraw; i++)
		if (&l->rows[l->draw[i]] == r)
			return i;
	return -1;
}

static void draw_insert(struct ladder *l, int pos, int row)
{
	memmove(&l->draw[pos + 1], &l->draw[pos], (size_t)(l->ndraw - pos) * sizeof(int));
	l->draw[pos] = row;
	l->ndraw++;
}

/* Rows of unknown time go where they belong in the sequence: a missing
 * segment after the one before it (and after the state changes that
 * segment made), a state after the previous state of its end. */
static void order_rows(struct ladder *l)
{
	int origin = 0;

	l->ndraw = 0;
	for (int i = 0; i < l->nrows; i++)
		if (l->rows[i].kind == ROW_ORIGIN)
			origin = i;
		else if (l->rows[i].t != NONE)
			l->draw[l->ndraw++] = i;
	qsort_r(l->draw, (size_t)l->ndraw, sizeof(int), by_time, l);
	draw_insert(l, 0, origin);

	for (int n = 1; n <= 7; n++) {
		struct row *m = find_seg(l, n);
		int pos = 1;

		if (!m || m->kind != ROW_MISSING)
			continue;
		for (int k = n - 1; k >= 1; k--) {
			struct row *p = find_seg(l, k);

			if (p && draw_pos(l, p) >= 0) {
				pos = draw_pos(l, p) + 1;
				/* what happened at that segment's moment came before */
				while (p->t != NONE && pos < l->ndraw && l->rows[l->draw[pos]].kind == ROW_STATE &&
				       l->rows[l->draw[pos]].t != NONE && l->rows[l->draw[pos]].t - p->t <= FOLD_US)
					pos++;
				break;
			}
		}
		draw_insert(l, pos, (int)(m - l->rows));
	}
	for (int i = 0; i < l->nrows; i++) {
		struct row *r = &l->rows[i];
		int s, pos = 1;

		if (r->kind != ROW_STATE || r->t != NONE)
			continue;
		s = r->state[L][0] ? L : R;
		/* after the last drawn row holding an earlier state of this end */
		for (int k = 0; k < l->ndraw; k++) {
			const struct row *q = &l->rows[l->draw[k]];

			if (q->state[s][0] && (q->kind != ROW_STATE || q->t != NONE || q->order < r->order))
				pos = k + 1;
		}
		draw_insert(l, pos, i);
	}
}

/* ---- widths and drawing --------------------------------------------------- */

static void seg_label(const struct ladder *l, const struct row *r, char *b, size_t n)
{
	bool three = r->n == 6 && r->kind == ROW_SEG && !find_seg((struct ladder *)l, 5) &&
		     any_close(l, "three_way", true);
	size_t o;

	if (r->n == 0)
		o = (size_t)snprintf(b, n, "%s", r->name);
	else if (three)
		o = (size_t)snprintf(b, n, "5+6 FIN+ACK");
	else
		o = (size_t)snprintf(b, n, "%d %s", r->n, r->name);
	if (r->kind == ROW_MISSING) {
		snprintf(b + o, n - o, "  not seen");
		return;
	}
	if (r->flags[0])
		o += (size_t)snprintf(b + o, n - o, " [%s]", r->flags);
	if (r->have_seq) {
		o += (size_t)snprintf(b + o, n - o, " seq=%" PRIu32, r->seq);
		if (has_flag(r, 'A'))
			o += (size_t)snprintf(b + o, n - o, " ack=%" PRIu32, r->ack);
	}
	if (r->len)
		snprintf(b + o, n - o, " len=%" PRIu32, r->len);
}

static int label_cols(const struct ladder *l, const struct row *r)
{
	char b[128];

	seg_label(l, r, b, sizeof(b));
	return cols(b) + (r->check ? 1 + cols(r->check == 1 ? l->g->ok : l->g->bad) : 0);
}

static void state_text(const struct ladder *l, const struct row *r, int s, char *b, size_t n)
{
	if (r->fn[s] >= 0 && l->fn[r->fn[s]].number)
		snprintf(b, n, "%s [%d]", r->state[s], l->fn[r->fn[s]].number);
	else
		snprintf(b, n, "%s", r->state[s]);
}

static bool half_closed_gap(const struct ladder *l, int64_t a, int64_t b)
{
	const struct row *f1 = find_seg((struct ladder *)l, 4), *f2 = find_seg((struct ladder *)l, 6);

	if (!f1 || f1->kind != ROW_SEG || f1->t == NONE || a < f1->t)
		return false;
	return !f2 || f2->kind != ROW_SEG || f2->t == NONE || (b <= f2->t && f2->t > f1->t);
}

/* Pauses worth a line of their own: this long, and a fair share of the
 * whole diagram. The first one after the first FIN, before the second,
 * says the connection is half-closed then. */
static void plan_gaps(struct ladder *l)
{
	bool told = false;
	int64_t prev = NONE;

	for (int k = 1; k < l->ndraw; k++) {
		const struct row *r = &l->rows[l->draw[k]];

		l->gap_from[k] = NONE;
		l->gap_half_closed[k] = false;
		if (r->t == NONE)
			continue;
		if (prev != NONE && r->t - prev >= GAP_MIN_US && (r->t - prev) * GAP_SHARE >= l->span) {
			l->gap_from[k] = prev;
			if (!told && l->closer >= 0 && half_closed_gap(l, prev, r->t))
				told = l->gap_half_closed[k] = true;
		}
		prev = r->t;
	}
}

static void gap_text(const struct ladder *l, int k, char *out, size_t n)
{
	char d[24];

	fmt_dur(l, d, sizeof(d), l->rows[l->draw[k]].t - l->gap_from[k]);
	if (l->gap_half_closed[k])
		snprintf(out, n, "%s  half-closed: only the %s still sends", d, l->who[!l->closer]);
	else
		snprintf(out, n, "%s", d);
}

static void widths(struct ladder *l)
{
	char b[160];

	/* footnotes are numbered as they first appear */
	for (int k = 0; k < l->ndraw; k++)
		for (int s = L; s <= R; s++) {
			int f = l->rows[l->draw[k]].fn[s];

			if (f >= 0 && !l->fn[f].number)
				l->fn[f].number = ++l->fn_shown;
		}
	l->tw = 4;
	l->lw = cols(l->who[L]);
	l->rw = cols(l->who[R]);
	l->mw = MIDDLE_MIN;
	for (int k = 0; k < l->ndraw; k++) {
		const struct row *r = &l->rows[l->draw[k]];

		if (r->kind != ROW_ORIGIN) {
			fmt_off(l, b, sizeof(b), r->t);
			l->tw = cols(b) > l->tw ? cols(b) : l->tw;
			l->used_unknown |= r->t == NONE;
		}
		state_text(l, r, L, b, sizeof(b));
		l->lw = cols(b) > l->lw ? cols(b) : l->lw;
		state_text(l, r, R, b, sizeof(b));
		l->rw = cols(b) > l->rw ? cols(b) : l->rw;
		if (r->kind == ROW_SEG || r->kind == ROW_MISSING)
			l->mw = label_cols(l, r) + 8 > l->mw ? label_cols(l, r) + 8 : l->mw;
		if (l->gap_from[k] != NONE) {
			gap_text(l, k, b, sizeof(b));
			l->mw = cols(b) + 6 > l->mw ? cols(b) + 6 : l->mw;
		}
		l->used_ok |= r->check == 1;
		l->used_bad |= r->check == 2;
		l->used_missing |= r->kind == ROW_MISSING;
	}
}

static void draw_middle(struct ladder *l, const struct row *r)
{
	bool missing = r->kind == ROW_MISSING;
	enum attr a = missing ? A_MISSING : r->n == 0 ? A_RST : A_NONE;
	const char *line = missing ? l->g->dash : l->g->h;
	char b[128];
	int lab, fill;

	seg_label(l, r, b, sizeof(b));
	lab = label_cols(l, r);
	fill = l->mw - lab - 4 - (r->from >= 0);
	if (r->from == R) {
		repeat(l, a, l->g->lhead, 1);
		repeat(l, a, line, 1);
	} else {
		repeat(l, a, line, 2);
	}
	spaces(l, 1);
	put(l, missing ? A_MISSING : A_NONE, b);
	if (r->check) {
		spaces(l, 1);
		put(l, r->check == 1 ? A_OK : A_BAD, r->check == 1 ? l->g->ok : l->g->bad);
	}
	spaces(l, 1);
	repeat(l, a, line, fill + (r->from == R));
	if (r->from == L)
		repeat(l, a, l->g->rhead, 1);
}

static void draw_row(struct ladder *l, const struct row *r)
{
	char b[160];
	bool right = r->state[R][0] || r->note[0];

	if (r->kind == ROW_ORIGIN)
		b[0] = 0;
	else
		fmt_off(l, b, sizeof(b), r->t);
	spaces(l, l->tw - cols(b));
	put(l, A_NONE, b);
	spaces(l, 2);
	state_text(l, r, L, b, sizeof(b));
	spaces(l, l->lw - cols(b));
	put(l, r->sattr[L], b);
	spaces(l, 1);
	put(l, A_NONE, l->g->v);
	if (r->kind == ROW_SEG || r->kind == ROW_MISSING)
		draw_middle(l, r);
	else
		spaces(l, l->mw);
	put(l, A_NONE, l->g->v);
	if (right) {
		spaces(l, 1);
		state_text(l, r, R, b, sizeof(b));
		put(l, r->sattr[R], b);
		if (r->note[0]) {
			spaces(l, l->rw - cols(b) + 2);
			put(l, A_DIM, r->note);
		}
	}
	fputc('\n', l->out);
}

static void draw_gap(struct ladder *l, int k)
{
	char t[160];

	gap_text(l, k, t, sizeof(t));
	spaces(l, l->tw + 2 + l->lw + 1);
	put(l, A_DIM, l->g->gap);
	spaces(l, 3);
	put(l, A_DIM, t);
	spaces(l, l->mw - 3 - cols(t));
	put(l, A_DIM, l->g->gap);
	fputc('\n', l->out);
}

/* ---- the text around the diagram ------------------------------------------- */

static void owner(const struct flowrec *f, char *b, size_t n)
{
	if (f->pid >= 0)
		snprintf(b, n, "%s pid %" PRId64 ", %s", f->comm, f->pid, f->owner_source);
	else
		snprintf(b, n, "no owner known");
}

struct words {
	const char *key, *text;
};

/* the text for a record's word, or the word itself */
static const char *say(const struct words *w, const char *key)
{
	for (; w->key; w++)
		if (!strcmp(w->key, key))
			return w->text;
	return key;
}

static const struct words teardown_words[] = {
	{ "four_way", "four-way" },
	{ "three_way", "three-way (FIN+ACK together)" },
	{ "simultaneous", "simultaneous (the FINs crossed)" },
	{ "half_closed", "half-closed (one FIN only)" },
	{ NULL, NULL },
};

/* what showed TIME_WAIT's start (time_wait.entered_from) */
static const struct words time_wait_words[] = {
	{ "segments", "It began when the peer's FIN (6) arrived, as captured." },
	{ "state_event", "It began at the hand-over: the peer's FIN had come already." },
	{ "reconcile", "A reconciliation round (the kernel's socket list) saw it: it began up to one "
		       "--reconcile-interval earlier than drawn." },
	{ "handover", "It is drawn at the hand-over; from FIN_WAIT_2 the time-wait socket may still "
		      "have waited for the peer's FIN (6)." },
	{ "record", "It is drawn where the record says it began (time_wait.entered)." },
	{ NULL, NULL },
};

/* what bounds a duration that two state changes do not (durations_from) */
static const struct words duration_words[] = {
	{ "reconcile", "a duration marked so ends where a reconciliation round (the kernel's socket "
		       "list) saw the change: up to one --reconcile-interval later than on the wire." },
	{ "assumed", "a duration marked so was not seen to end: Linux's default tcp_fin_timeout of "
		     "60 s is assumed." },
	{ "handover", "a duration marked so may end at the hand-over to a time-wait socket, earlier "
		      "than the peer's FIN (a recording made before synfin 0.2)." },
	{ NULL, NULL },
};

static const struct words reason_words[] = {
	{ "started_mid_flow", "it existed before synfin started" },
	{ "birth_not_seen", "its first state change was not observed" },
	{ "missed_transition", "a state change in between was not observed: a state is missing from its path" },
	{ "evicted", "synfin's flow table was full: the record ends early" },
	{ "vanished", "it left the kernel's list unseen" },
	{ "end_not_observed", "how its FIN_WAIT_2 ended was not observed (handed to a time-wait socket, "
			      "neither segments nor reconcile rounds showed the end)" },
	{ "events_lost", "events were lost while it was open (a loss record names it): some of its own may be missing" },
	{ NULL, NULL },
};

static void title(struct ladder *l)
{
	const struct flowrec *a = l->rec[L], *b = l->rec[R];
	char x[96], y[96], o[160];
	bool peer_opened = l->client == R;

	/* the tuple, from the opener to the listener */
	endpoint(x, sizeof(x), a, peer_opened ? a->peer_addr : a->local_addr,
		 peer_opened ? a->peer_port : a->local_port);
	endpoint(y, sizeof(y), a, peer_opened ? a->local_addr : a->peer_addr,
		 peer_opened ? a->local_port : a->peer_port);
	put(l, A_HEAD, x);
	putf(l, A_NONE, " ");
	put(l, A_HEAD, l->client >= 0 ? l->g->to : l->g->both);
	putf(l, A_NONE, " ");
	put(l, A_HEAD, y);
	putf(l, A_NONE, "  tcp %s  netns %" PRId64, a->family, a->netns);
	if (b && b->netns != a->netns)
		putf(l, A_NONE, " (%s), %" PRId64 " (%s)", l->who[L], b->netns, l->who[R]);
	fputc('\n', l->out);

	for (int s = L; s <= R; s++) {
		const struct flowrec *f = l->rec[s];

		if (!f)
			continue;
		owner(f, o, sizeof(o));
		putf(l, A_NONE, "%s %s", s == L ? (b ? "records:" : "record:") : ",", l->who[s]);
		putf(l, A_NONE, " %s (", f->id);
		put(l, A_NONE, o);
		fputc(')', l->out);
	}
	if (!b)
		putf(l, A_NONE, "; no record of the %s: its states are not drawn", l->who[R]);
	fputc('\n', l->out);

	if (a->start_us != NONE) {
		fmt_utc(o, sizeof(o), l->t0);
		putf(l, A_NONE, "start %s\n", o);
	}
	putf(l, A_NONE, "close: ");
	if (b && strcmp(a->close, b->close))
		putf(l, A_NONE, "%s %s, %s %s", l->who[L], a->close, l->who[R], b->close);
	else
		putf(l, A_NONE, "%s", a->close);
	if (a->seg_close[0] || (b && b->seg_close[0])) {
		const char *ta = a->seg_close, *tb = b ? b->seg_close : "";

		putf(l, A_NONE, "; teardown: ");
		if (*ta && *tb && strcmp(ta, tb))
			putf(l, A_NONE, "%s %s, %s %s", l->who[L], say(teardown_words, ta), l->who[R], say(teardown_words, tb));
		else
			putf(l, A_NONE, "%s", say(teardown_words, *ta ? ta : tb));
	}
	if (l->closer >= 0 && (a->seg_close[0] || a->closer[0]))
		putf(l, A_NONE, "; first FIN from the %s", l->who[l->closer]);
	fputc('\n', l->out);

	for (int s = L; s <= R; s++) {
		const struct flowrec *f = l->rec[s];

		if (!f || (!f->error_name[0] && !f->error_errno && !f->reset_sent_in[0] && !f->reset_received_in[0]))
			continue;
		putf(l, A_NONE, "%s:", l->who[s]);
		if (f->reset_received_in[0])
			putf(l, A_NONE, " RST received in %s", f->reset_received_in);
		if (f->reset_sent_in[0])
			putf(l, A_NONE, " RST sent in %s", f->reset_sent_in);
		if (f->error_errno)
			putf(l, A_NONE, "%s error %s (%d)", f->reset_sent_in[0] || f->reset_received_in[0] ? "," : "",
				f->error_name[0] ? f->error_name : "?", f->error_errno);
		fputc('\n', l->out);
	}
	fputc('\n', l->out);
}

/* text as lines of at most WRAP columns, the first after lead, the
 * others indented as far */
#define WRAP 88
static void wrap(struct ladder *l, const char *lead, const char *text)
{
	int indent = cols(lead), col = indent;
	const char *p = text;

	put(l, A_NONE, lead);
	while (*p) {
		size_t n = strcspn(p, " ");
		char word[256];

		snprintf(word, sizeof(word), "%.*s", (int)(n < sizeof(word) ? n : sizeof(word) - 1), p);
		if (col > indent && col + 1 + cols(word) > WRAP) {
			fputc('\n', l->out);
			spaces(l, indent);
			col = indent;
		} else if (col > indent) {
			fputc(' ', l->out);
			col++;
		}
		put(l, A_NONE, word);
		col += cols(word);
		p += n;
		while (*p == ' ')
			p++;
	}
	fputc('\n', l->out);
}

static void footnotes(struct ladder *l)
{
	for (int num = 1; num <= l->fn_shown; num++) {
		const struct fnote *f = NULL;
		char who[64], lead[16], text[640];

		for (int i = 0; i < l->nfn; i++)
			if (l->fn[i].number == num)
				f = &l->fn[i];
		if (!f)
			continue;
		if (f->sides == 3)
			snprintf(who, sizeof(who), "%s and %s", l->who[L], l->who[R]);
		else
			snprintf(who, sizeof(who), "%s", l->who[f->sides == 1 ? L : R]);
		switch (f->kind) {
		case FN_TIME_WAIT:
			snprintf(text, sizeof(text),
				 "%s: TIME_WAIT is inferred, not seen: Linux hands the closing socket (from %s) "
				 "to a time-wait socket, which reports no state change. %s TIME_WAIT lasts 60 s "
				 "(2*MSL): a time_wait record reports its end (every end with --detail segments; by "
				 "default only a reset).",
				 who, f->state, say(time_wait_words, f->how));
			break;
		case FN_DURATION:
			if (say(duration_words, f->how) != f->how)
				snprintf(text, sizeof(text), "%s: %s", who, say(duration_words, f->how));
			else
				snprintf(text, sizeof(text),
					 "%s: a duration marked so is bounded by %s, not by two state changes.", who,
					 f->how);
			break;
		case FN_VANISHED:
			snprintf(text, sizeof(text),
				 "%s: CLOSED is not seen: the connection was gone from the kernel's list when "
				 "synfin looked (a reconciliation); it ended before this time, how long before "
				 "is not known.", who);
			break;
		case FN_MID_FLOW:
			snprintf(text, sizeof(text),
				 "%s: already in %s when synfin started: what came before was not observed.", who,
				 f->state);
			break;
		}
		snprintf(lead, sizeof(lead), "[%d] ", num);
		wrap(l, lead, text);
	}
}

static void span_item(struct ladder *l, bool *first, const char *what, int64_t us)
{
	char d[24];

	if (us < 0)
		return;
	fmt_dur(l, d, sizeof(d), us);
	putf(l, A_NONE, "%s", *first ? "" : ", ");
	put(l, A_NONE, what);
	putf(l, A_NONE, " %s", d);
	*first = false;
}

static void trailer(struct ladder *l)
{
	const struct flowrec *w = NULL;
	bool first = true;
	char t[64];

	footnotes(l);
	for (int s = L; s <= R; s++) {
		const struct flowrec *f = l->rec[s];

		if (!f)
			continue;
		for (int i = 0; i < f->nreasons; i++)
			if (strcmp(f->reasons[i], "vanished") || !l->fn_shown)
				putf(l, A_NONE, "%s's record is partial: %s.\n", l->who[s], say(reason_words, f->reasons[i]));
		if (f->partial && !f->nreasons)
			putf(l, A_NONE, "%s's record is partial.\n", l->who[s]);
		if (f->reordered || f->duplicates > 0)
			putf(l, A_NONE, "%s's record: events came %s%s (it is complete nonetheless).\n", l->who[s],
				f->reordered ? "out of order" : "",
				f->duplicates > 0 ? (f->reordered ? " and twice" : "twice") : "");
		if (!f->have_segments && f->digest[0])
			putf(l, A_NONE, "%s's record was written with --detail summary: its segments were seen (%s) "
				"but not listed; run synfin with --detail segments to draw them.\n", l->who[s], f->digest);
		else if (!f->have_segments)
			putf(l, A_NONE, "%s's record lists no segments (capture off, or none were matched to it): "
				"its states only, no arrows.\n", l->who[s]);
	}

	/* the phases both records time */
	for (int s = L; s <= R; s++) {
		const struct flowrec *f = l->rec[s];
		bool none = true;

		if (!f)
			continue;
		putf(l, A_NONE, "%s%s ", first ? "phases: " : "; ", l->who[s]);
		first = false;
		if (f->connect_us >= 0)
			span_item(l, &none, "connect", f->connect_us);
		else if (f->handshake_us >= 0)
			span_item(l, &none, "handshake", f->handshake_us);
		if (f->lifetime_us >= 0)
			span_item(l, &none, "lifetime", f->lifetime_us);
		else if (f->observed_us >= 0)
			span_item(l, &none, "observed for at least", f->observed_us);
		if (!w && f->have_segments)
			w = f;
	}
	if (!first)
		fputc('\n', l->out);
	if (w && (w->syn_to_synack_us >= 0 || w->synack_to_ack_us >= 0 || w->fin_to_ack_us >= 0 ||
		  w->fin_to_fin_us >= 0 || w->fin_to_last_ack_us >= 0)) {
		first = true;
		putf(l, A_NONE, "wire (%s's record): ", w == l->rec[L] ? l->who[L] : l->who[R]);
		snprintf(t, sizeof(t), "SYN%sSYN-ACK", l->g->to);
		span_item(l, &first, t, w->syn_to_synack_us);
		snprintf(t, sizeof(t), "SYN-ACK%sACK", l->g->to);
		span_item(l, &first, t, w->synack_to_ack_us);
		snprintf(t, sizeof(t), "FIN%sits ACK", l->g->to);
		span_item(l, &first, t, w->fin_to_ack_us);
		snprintf(t, sizeof(t), "FIN%sFIN", l->g->to);
		span_item(l, &first, t, w->fin_to_fin_us);
		snprintf(t, sizeof(t), "last FIN%sACK", l->g->to);
		span_item(l, &first, t, w->fin_to_last_ack_us);
		fputc('\n', l->out);
	}

	if (l->used_ok || l->used_bad || l->used_missing || l->used_unknown) {
		const char *sep = " ";

		putf(l, A_NONE, "legend:");
		if (l->used_ok) {
			fputs(sep, l->out);
			put(l, A_OK, l->g->ok);
			putf(l, A_NONE, ": ack = seq+1 of the segment it answers");
			sep = "; ";
		}
		if (l->used_bad) {
			fputs(sep, l->out);
			put(l, A_BAD, l->g->bad);
			putf(l, A_NONE, ": ack is not seq+1 of the segment it answers");
			sep = "; ";
		}
		if (l->used_missing) {
			fputs(sep, l->out);
			repeat(l, A_MISSING, l->g->dash, 2);
			putf(l, A_NONE, ": not seen");
			sep = "; ";
		}
		if (l->used_unknown)
			putf(l, A_NONE, "%s?: time not known", sep);
		fputc('\n', l->out);
	}
}

int ladder__draw(FILE *out, const struct flowrec *a, const struct flowrec *b, const struct ladder_style *st)
{
	struct ladder *l = calloc(1, sizeof(*l));
	struct row *origin;
	int64_t end = NONE;
	int err;

	if (!l)
		return -ENOMEM;
	l->out = out;
	l->st = st;
	l->g = st->ascii ? &ascii : &utf8;
	/* the active opener on the left, as in the seed */
	if (b && !strcmp(b->role, "client") && strcmp(a->role, "client")) {
		const struct flowrec *t = a;

		a = b;
		b = t;
	}
	l->rec[L] = a;
	l->rec[R] = b;
	l->t0 = a->start_us;
	if (b && b->start_us != NONE && (l->t0 == NONE || b->start_us < l->t0))
		l->t0 = b->start_us;
	if (l->t0 == NONE)
		l->t0 = 0;
	for (int s = L; s <= R; s++)
		if (l->rec[s] && l->rec[s]->end_us != NONE)
			end = max64(end, l->rec[s]->end_us);
	l->span = end == NONE ? 0 : end - l->t0;

	origin = row_new(l, ROW_ORIGIN, NONE);
	add_segments(l);
	find_sides(l);
	/* who is who: the role a record states; the other end of a lone
	 * record is its complement */
	for (int s = L; s <= R; s++) {
		const char *role = l->client < 0 ? (s == L ? "this end" : "peer") : s == l->client ? "client" : "server";

		snprintf(l->who[s], sizeof(l->who[s]), "%s", role);
	}
	add_missing(l);
	add_states(l, origin);
	add_notes(l);
	order_rows(l);
	plan_gaps(l);
	widths(l);

	title(l);
	spaces(l, l->tw + 2 + l->lw - cols(l->who[L]));
	put(l, A_HEAD, l->who[L]);
	spaces(l, 1);
	put(l, A_NONE, l->g->v);
	spaces(l, l->mw);
	put(l, A_NONE, l->g->v);
	spaces(l, 1);
	put(l, A_HEAD, l->who[R]);
	if (!b)
		putf(l, A_NONE, " (no record)");
	fputc('\n', l->out);
	for (int k = 0; k < l->ndraw; k++) {
		if (k && l->gap_from[k] != NONE)
			draw_gap(l, k);
		draw_row(l, &l->rows[l->draw[k]]);
	}
	fputc('\n', l->out);
	trailer(l);
	err = ferror(out) ? -EIO : 0;
	free(l);
	return err;
}
