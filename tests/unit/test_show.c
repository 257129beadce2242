// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * synfin show's pieces: the renderer (ladder.c) driven by records built
 * here by hand, no JSON involved, checking above all that what a record
 * infers or did not see is drawn as such; and the reader (flowrec.c): key
 * order, records that are not flows, bad lines, the compact segment form,
 * control characters, pairing of two ends.
 */
#include "unit.h"
#include "flowrec.h"
#include "ladder.h"

#define T0 1764576000000000LL /* 2025-12-01T08:00:00Z, in µs */

static char *draw(const struct flowrec *a, const struct flowrec *b, bool ascii, bool color)
{
	struct ladder_style st = { .ascii = ascii, .color = color };
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return NULL;
	if (ladder__draw(f, a, b, &st)) {
		fclose(f);
		free(buf);
		return NULL;
	}
	fclose(f);
	return buf;
}

/* the line of s that contains needle (a static copy), or NULL */
static const char *line_with(const char *s, const char *needle)
{
	static char line[512];
	const char *p = s ? strstr(s, needle) : NULL, *b, *e;

	if (!p)
		return NULL;
	for (b = p; b > s && b[-1] != '\n'; b--)
		;
	e = strchr(p, '\n');
	if (!e)
		e = p + strlen(p);
	snprintf(line, sizeof(line), "%.*s", (int)(e - b), b);
	return line;
}

/* s with wrapped lines joined (footnotes wrap where the words fall) */
static const char *flat(const char *s)
{
	static char buf[8192];
	size_t o = 0;

	for (; s && *s && o + 1 < sizeof(buf); s++) {
		if (*s == '\n' && s[1] == ' ') {
			while (s[1] == ' ')
				s++;
			buf[o++] = ' ';
		} else {
			buf[o++] = *s;
		}
	}
	buf[o] = 0;
	return buf;
}

static void rec_seg(struct flowrec *r, int n, const char *name, const char *flags, bool out, int64_t at, uint32_t seq,
		uint32_t ack, int acks_ok)
{
	struct flowrec_seg *s = &r->seg[r->nseg++];

	memset(s, 0, sizeof(*s));
	s->n = n;
	snprintf(s->name, sizeof(s->name), "%s", name);
	snprintf(s->flags, sizeof(s->flags), "%s", flags);
	s->out = out;
	s->at_us = at;
	s->have_seq = true;
	s->seq = seq;
	s->ack = ack;
	s->acks_ok = acks_ok;
}

static void rec_path(struct flowrec *r, const char *p, const int64_t *dwell)
{
	char buf[256], *save, *tok;

	snprintf(buf, sizeof(buf), "%s", p);
	r->path_len = 0;
	for (tok = strtok_r(buf, ">", &save); tok; tok = strtok_r(NULL, ">", &save)) {
		snprintf(r->path[r->path_len], sizeof(r->path[0]), "%s", tok);
		r->dwell_us[r->path_len] = dwell ? dwell[r->path_len] : -1;
		r->path_len++;
	}
}

static void base(struct flowrec *r, const char *id, const char *role, int lport, int pport)
{
	memset(r, 0, sizeof(*r));
	snprintf(r->id, sizeof(r->id), "%s", id);
	snprintf(r->role, sizeof(r->role), "%s", role);
	strcpy(r->family, "ipv4");
	r->netns = 4026531840;
	strcpy(r->local_addr, "10.0.0.1");
	strcpy(r->peer_addr, "10.0.0.1");
	r->local_port = lport;
	r->peer_port = pport;
	r->connect_us = r->handshake_us = r->lifetime_us = r->observed_us = -1;
	r->time_wait_entered_us = r->time_wait_handoff_us = FLOWREC_NONE;
	r->retx = r->seg_retx = (struct flowrec_retx){ -1, -1, -1 };
	r->syn_to_synack_us = r->synack_to_ack_us = r->fin_to_ack_us = r->fin_to_fin_us = -1;
	r->fin_to_last_ack_us = r->teardown_us = -1;
	r->pid = 42;
	strcpy(r->comm, "curl");
	strcpy(r->owner_source, "connect");
}

/* a record of span_us from T0 with segment capture on, segments to add */
static void short_record(struct flowrec *r, const char *id, const char *role, const char *p, const int64_t *dwell,
			 const char *close, int64_t span_us)
{
	base(r, id, role, 40001, 81);
	rec_path(r, p, dwell);
	strcpy(r->close, close);
	r->start_us = T0;
	r->end_us = T0 + span_us;
	r->have_segments = true;
}

/* the seed's client: active opener and active closer, four-way */
static void client_four_way(struct flowrec *r)
{
	static const int64_t dwell[] = { -1, 26, 1004, 50, 1, -1 };

	base(r, "00000000000000c1", "client", 40000, 80);
	rec_path(r, "CLOSED>SYN_SENT>ESTABLISHED>FIN_WAIT_1>FIN_WAIT_2>TIME_WAIT", dwell);
	strcpy(r->close, "normal");
	strcpy(r->closer, "local");
	r->established = true;
	r->start_us = T0;
	r->end_us = T0 + 1081;
	r->time_wait = r->time_wait_inferred = true;
	strcpy(r->time_wait_from, "FIN_WAIT_2");
	r->time_wait_entered_us = T0 + 1081;
	r->have_segments = true;
	rec_seg(r, 1, "SYN", "S", true, 10, 1000, 0, -1);
	rec_seg(r, 2, "SYN-ACK", "SA", false, 25, 5000, 1001, 1);
	rec_seg(r, 3, "ACK", "A", true, 32, 1001, 5001, 1);
	rec_seg(r, 4, "FIN", "FA", true, 1031, 1001, 5001, -1);
	rec_seg(r, 5, "ACK", "A", false, 1079, 5001, 1002, 1);
	rec_seg(r, 6, "FIN", "FA", false, 1090, 5001, 1002, -1);
	rec_seg(r, 7, "ACK", "A", true, 1095, 1002, 5002, 1);
	strcpy(r->seg_close, "four_way");
	strcpy(r->first_fin, "local");
	r->connect_us = 26;
	r->lifetime_us = 1081;
}

/* its server: passive closer; the same segments, seen from the other end
 * (its start is the SYN's arrival, 10 µs after the client's) */
static void server_four_way(struct flowrec *r)
{
	static const int64_t dwell[] = { -1, 23, 999, 57, 7, -1 };
	struct flowrec c;

	base(r, "00000000000000d2", "server", 80, 40000);
	rec_path(r, "LISTEN>SYN_RECEIVED>ESTABLISHED>CLOSE_WAIT>LAST_ACK>CLOSED", dwell);
	strcpy(r->close, "normal");
	strcpy(r->closer, "peer");
	r->established = true;
	r->start_us = T0 + 10;
	r->end_us = T0 + 1096;
	r->have_segments = true;
	client_four_way(&c);
	for (int i = 0; i < c.nseg; i++) {
		r->seg[i] = c.seg[i];
		r->seg[i].out = !c.seg[i].out;
		r->seg[i].at_us -= 10;
	}
	r->nseg = c.nseg;
	strcpy(r->seg_close, "four_way");
	strcpy(r->first_fin, "peer");
	r->handshake_us = 23;
	r->lifetime_us = 1086;
	strcpy(r->owner_source, "accept");
}

static void remove_seg(struct flowrec *r, int n)
{
	for (int i = 0; i < r->nseg; i++)
		if (r->seg[i].n == n) {
			memmove(&r->seg[i], &r->seg[i + 1], (size_t)(r->nseg - i - 1) * sizeof(r->seg[0]));
			r->nseg--;
			return;
		}
}

TEST(show_seed_four_way)
{
	struct flowrec c;
	char *s;
	const char *l;

	client_four_way(&c);
	s = draw(&c, NULL, false, false);
	EXPECT(s);
	for (int n = 1; n <= 7; n++) {
		char k[16];

		snprintf(k, sizeof(k), "%d %s", n, n == 1 ? "SYN" : n == 2 ? "SYN-ACK" : n % 2 ? "ACK" : "FIN");
		EXPECT(strstr(s, k));
	}
	EXPECT((l = line_with(s, "1 SYN")) && strstr(l, "▶") && strstr(l, "SYN_SENT"));
	EXPECT((l = line_with(s, "2 SYN-ACK")) && strstr(l, "◀") && strstr(l, "✓") && strstr(l, "ESTABLISHED"));
	EXPECT((l = line_with(s, "4 FIN")) && strstr(l, "FIN_WAIT_1 50 µs"));
	EXPECT((l = line_with(s, "5 ACK")) && strstr(l, "FIN_WAIT_2 1 µs"));
	EXPECT(!strstr(s, "  not seen"));
	EXPECT(strstr(s, "server (no record)"));
	free(s);
}

TEST(show_time_wait_inferred_is_marked)
{
	struct flowrec c;
	char *s = NULL;
	const char *l;

	client_four_way(&c);
	s = draw(&c, NULL, false, false);
	EXPECT((l = line_with(s, "TIME_WAIT")) && strstr(l, "TIME_WAIT [1]"));
	EXPECT(strstr(s, "[1] client: TIME_WAIT is inferred, not seen"));
	/* a record from before time_wait.entered_from: entered is the hand-over */
	EXPECT(strstr(flat(s), "It is drawn at the hand-over; from FIN_WAIT_2 the time-wait socket may still"));
	free(s);
	/* entered when the peer's FIN came (segments), not at the hand-over:
	 * drawn there, and not called the hand-over */
	c.time_wait_entered_us = T0 + 1090;
	s = draw(&c, NULL, false, false);
	EXPECT((l = line_with(s, "6 FIN")) && strstr(l, "TIME_WAIT [1]"));
	EXPECT(strstr(flat(s), "drawn where the record says it began") && !strstr(flat(s), "drawn at the hand-over"));
	free(s);
	/* a TIME_WAIT the record does not call inferred gets no such mark */
	c.time_wait_inferred = false;
	s = draw(&c, NULL, false, false);
	EXPECT(s && !strstr(s, "inferred") && !strstr(s, "[1]"));
	free(s);
}

/* today's records: TIME_WAIT begins with the peer's FIN (from the
 * segments), the hand-over to the time-wait socket came before it */
TEST(show_time_wait_from_segments_and_handoff)
{
	struct flowrec c;
	char *s;
	const char *l;

	client_four_way(&c);
	c.time_wait_handoff_us = T0 + 1081;
	c.time_wait_entered_us = c.end_us = T0 + 1090;
	strcpy(c.time_wait_entered_from, "segments");
	c.dwell_us[4] = 10;
	strcpy(c.dwell_from[4], "segments");
	s = draw(&c, NULL, false, false);
	EXPECT((l = line_with(s, "6 FIN")) && strstr(l, "TIME_WAIT [1]"));
	EXPECT((l = line_with(s, "(time-wait socket)")) && strstr(l, "+1.081 ms") && !strstr(l, "─"));
	EXPECT(strstr(s, "(time-wait socket)") < strstr(s, "6 FIN"));
	EXPECT(strstr(flat(s), "It began when the peer's FIN (6) arrived, as captured."));
	/* a duration bounded by a captured segment is seen: no mark */
	EXPECT((l = line_with(s, "5 ACK")) && strstr(l, "FIN_WAIT_2 10 µs") && !strstr(l, "µs ["));
	free(s);
}

/* durations bounded by something else than two state changes are marked */
TEST(show_duration_sources_marked)
{
	struct flowrec c;
	char *s;
	const char *l;

	client_four_way(&c);
	strcpy(c.dwell_from[4], "reconcile");
	strcpy(c.dwell_from[3], "assumed");
	s = draw(&c, NULL, false, false);
	EXPECT((l = line_with(s, "FIN_WAIT_2 1 µs")) && strstr(l, "FIN_WAIT_2 1 µs [2]"));
	EXPECT((l = line_with(s, "FIN_WAIT_1 50 µs")) && strstr(l, "FIN_WAIT_1 50 µs [1]"));
	EXPECT(strstr(flat(s), "[1] client: a duration marked so was not seen to end"));
	EXPECT(strstr(flat(s), "[2] client: a duration marked so ends where a reconciliation round"));
	free(s);
}

/* the client's record with one FIN: the peer's FIN and its ACK taken out */
static void client_one_fin(struct flowrec *c)
{
	client_four_way(c);
	remove_seg(c, 6);
	remove_seg(c, 7);
	strcpy(c->seg_close, "half_closed");
}

/* the peer never sent its FIN: the time-wait socket gave up */
TEST(show_fin_wait_2_timeout)
{
	struct flowrec c;
	char *s;
	const char *l;

	client_one_fin(&c);
	strcpy(c.close, "fin_wait_2_timeout");
	strcpy(c.path[5], "CLOSED");
	c.time_wait_entered_us = FLOWREC_NONE;
	c.time_wait_handoff_us = T0 + 1081;
	c.end_us = T0 + 61081;
	s = draw(&c, NULL, false, false);
	EXPECT((l = line_with(s, "6 FIN")) && strstr(l, "not seen"));
	EXPECT(!strstr(s, "7 ACK"));
	EXPECT(strstr(s, "(time-wait socket)") && !strstr(s, "TIME_WAIT ["));
	EXPECT((l = line_with(s, "+61.081 ms")) && strstr(l, "CLOSED"));
	free(s);
}

TEST(show_missing_segments_are_not_drawn_as_seen)
{
	struct flowrec c;
	char *s;
	const char *l;

	client_one_fin(&c);
	s = draw(&c, NULL, false, false);
	EXPECT((l = line_with(s, "6 FIN")) && strstr(l, "not seen") && strstr(l, "╌") && !strstr(l, "─") &&
	       strstr(l, "◀"));
	EXPECT((l = line_with(s, "6 FIN")) && strstr(l, "? "));
	EXPECT((l = line_with(s, "7 ACK")) && strstr(l, "not seen") && strstr(l, "▶"));
	/* no seq/ack made up for them */
	EXPECT((l = line_with(s, "7 ACK")) && !strstr(l, "seq="));
	EXPECT(strstr(s, "legend:") && strstr(line_with(s, "legend:"), "not seen"));
	/* a segment in between, too */
	client_four_way(&c);
	remove_seg(&c, 3);
	free(s);
	s = draw(&c, NULL, true, false);
	EXPECT((l = line_with(s, "3 ACK")) && strstr(l, "not seen") && strstr(l, "...>"));
	free(s);
}

TEST(show_three_way_has_no_missing_5)
{
	struct flowrec c;
	char *s;
	const char *l;

	client_four_way(&c);
	remove_seg(&c, 5);
	strcpy(c.seg_close, "three_way");
	s = draw(&c, NULL, false, false);
	EXPECT(!strstr(s, "  not seen"));
	EXPECT((l = line_with(s, "5+6 FIN+ACK")) && strstr(l, "◀"));
	EXPECT(strstr(s, "three-way (FIN+ACK together)"));
	free(s);
}

TEST(show_syn_timeout)
{
	struct flowrec c;
	static const int64_t dwell[] = { -1, 7000000, -1 };
	char *s;
	const char *l;

	short_record(&c, "00000000000000e3", "client", "CLOSED>SYN_SENT>CLOSED", dwell, "timeout", 7000000);
	c.retx.syn = 3;
	c.error_errno = 110;
	strcpy(c.error_name, "ETIMEDOUT");
	rec_seg(&c, 1, "SYN", "S", true, 20, 77, 0, -1);
	s = draw(&c, NULL, false, false);
	EXPECT((l = line_with(s, "1 SYN")) && strstr(l, "sent again 3 times (not drawn)"));
	EXPECT((l = line_with(s, "2 SYN-ACK")) && strstr(l, "not seen"));
	EXPECT(!strstr(s, "3 ACK"));
	EXPECT(strstr(s, "error ETIMEDOUT (110)"));
	/* the answer that never came is drawn before the end */
	EXPECT(strstr(s, "2 SYN-ACK") < strstr(s, "+7000.000 ms"));
	free(s);
}

TEST(show_refused_ack_checked)
{
	struct flowrec c;
	char *s = NULL;
	const char *l;

	short_record(&c, "00000000000000f4", "client", "CLOSED>SYN_SENT>CLOSED", NULL, "refused", 40);
	rec_seg(&c, 1, "SYN", "S", true, 10, 999, 0, -1);
	rec_seg(&c, 0, "RST", "RA", false, 30, 0, 1000, -1);
	s = draw(&c, NULL, false, false);
	EXPECT(!strstr(s, "  not seen"));
	EXPECT((l = line_with(s, "RST")) && strstr(l, "✓") && strstr(l, "◀"));
	free(s);
	c.seg[1].ack = 1234;
	s = draw(&c, NULL, false, false);
	EXPECT((l = line_with(s, "RST [RA]")) && strstr(l, "✗"));
	EXPECT(strstr(line_with(s, "legend:"), "is not seq+1"));
	free(s);
}

TEST(show_bad_ack_is_marked)
{
	struct flowrec c;
	char *s;
	const char *l;

	client_four_way(&c);
	c.seg[2].acks_ok = 0;
	s = draw(&c, NULL, true, false);
	EXPECT((l = line_with(s, "3 ACK")) && strstr(l, "BAD"));
	EXPECT((l = line_with(s, "2 SYN-ACK")) && strstr(l, " ok"));
	free(s);
}

TEST(show_vanished_half_open)
{
	struct flowrec r;
	static const int64_t dwell[] = { -1, 3000000, -1 };
	char *s;
	const char *l;

	short_record(&r, "00000000000000a5", "server", "LISTEN>SYN_RECEIVED>CLOSED", dwell, "never_established",
		     3000000);
	r.retx.synack = 1;
	r.partial = true;
	r.nreasons = 1;
	strcpy(r.reasons[0], "vanished");
	r.pid = -1;
	rec_seg(&r, 1, "SYN", "S", false, 0, 5, 0, -1);
	rec_seg(&r, 2, "SYN-ACK", "SA", true, 20, 9, 6, 1);
	s = draw(&r, NULL, false, false);
	/* the server on the left, the peer (client) on the right */
	EXPECT((l = line_with(s, "1 SYN")) && strstr(l, "◀") && strstr(l, "SYN_RECEIVED"));
	EXPECT((l = line_with(s, "3 ACK")) && strstr(l, "not seen") && strstr(l, "◀"));
	EXPECT((l = line_with(s, "2 SYN-ACK")) && strstr(l, "sent again 1 time"));
	EXPECT((l = line_with(s, "CLOSED [1]")));
	EXPECT(strstr(flat(s), "[1] server: CLOSED is not seen: the connection was gone"));
	EXPECT(strstr(s, "no owner known"));
	free(s);
}

TEST(show_mid_flow_is_marked)
{
	struct flowrec r;
	char *s;

	short_record(&r, "00000000000000b6", "unknown", "CLOSE_WAIT>LAST_ACK>CLOSED", NULL, "normal", 100);
	r.dwell_us[1] = 40;
	r.partial = true;
	r.nreasons = 1;
	strcpy(r.reasons[0], "started_mid_flow");
	rec_seg(&r, 6, "FIN", "FA", true, 60, 9, 6, -1);
	rec_seg(&r, 7, "ACK", "A", false, 90, 6, 10, 1);
	s = draw(&r, NULL, false, false);
	EXPECT(strstr(s, "CLOSE_WAIT [1]"));
	EXPECT(strstr(flat(s), "already in CLOSE_WAIT when synfin started"));
	EXPECT(strstr(s, "record is partial: it existed before synfin started"));
	/* its handshake happened before: not expected, not drawn */
	EXPECT(!strstr(s, "SYN"));
	/* 4 and 5 were before synfin too: not seen, and said so */
	EXPECT(strstr(line_with(s, "4 FIN"), "not seen"));
	free(s);
}

TEST(show_no_segments)
{
	struct flowrec c;
	char *s;

	client_four_way(&c);
	c.have_segments = false;
	c.nseg = 0;
	s = draw(&c, NULL, false, false);
	EXPECT(strstr(s, "lists no segments (capture off, or none were matched to it)"));
	EXPECT(!strstr(s, "▶") && !strstr(s, "  not seen"));
	EXPECT(strstr(s, "FIN_WAIT_1") && strstr(s, "TIME_WAIT [1]"));
	free(s);
}

TEST(show_ascii_is_ascii)
{
	struct flowrec c, d;
	char *s;

	client_four_way(&c);
	server_four_way(&d);
	strcpy(c.comm, "caf\xc3\xa9\xef\xbf\xbd");
	s = draw(&c, &d, true, false);
	EXPECT(s);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		EXPECT(*p < 0x80 && (*p >= 0x20 || *p == '\n'));
	EXPECT(strstr(s, "caf??"));
	free(s);
}

TEST(show_color_only_when_asked)
{
	struct flowrec c;
	char *s = NULL;

	client_four_way(&c);
	s = draw(&c, NULL, false, false);
	EXPECT(s && !strchr(s, '\033'));
	free(s);
	s = draw(&c, NULL, false, true);
	EXPECT(s && strstr(s, "\033[36mSYN_SENT") && strstr(s, "\033[0m"));
	free(s);
}

TEST(show_merged_both_ends)
{
	struct flowrec c, d;
	char *s;
	const char *l;

	client_four_way(&c);
	server_four_way(&d);
	remove_seg(&c, 7);
	/* the server first: the client still goes on the left */
	s = draw(&d, &c, false, false);
	EXPECT((l = line_with(s, "1 SYN")) && strstr(l, "SYN_SENT") && strstr(l, "SYN_RECEIVED") && strstr(l, "▶"));
	EXPECT((l = line_with(s, "3 ACK")) && strstr(l, "ESTABLISHED"));
	EXPECT((l = line_with(s, "4 FIN")) && strstr(l, "FIN_WAIT_1") && strstr(l, "CLOSE_WAIT"));
	EXPECT((l = line_with(s, "6 FIN")) && strstr(l, "LAST_ACK"));
	EXPECT((l = line_with(s, "7 ACK")) && strstr(l, "only in the server's record") && strstr(l, "CLOSED"));
	/* one arrow per segment, not one per record */
	EXPECT(strstr(s, "1 SYN") == strstr(s, "SYN [S]") - 2 && !strstr(strstr(s, "1 SYN") + 1, "1 SYN"));
	EXPECT(strstr(s, "records: client 00000000000000c1"));
	free(s);
}

/* ---- the reader ------------------------------------------------------- */

static const char line_a[] =
	"{\"type\":\"flow\",\"schema\":1,\"id\":\"a88217a17f12eb9d\",\"netns\":7,"
	"\"network\":{\"transport\":\"tcp\",\"type\":\"ipv4\"},"
	"\"local\":{\"address\":\"127.0.0.1\",\"port\":56610},\"peer\":{\"address\":\"127.0.0.1\",\"port\":20302},"
	"\"role\":\"client\",\"path\":\"CLOSED>SYN_SENT>ESTABLISHED>FIN_WAIT_1>FIN_WAIT_2>TIME_WAIT\","
	"\"close\":\"normal\",\"closer\":\"local\",\"established\":true,"
	"\"start\":\"2026-11-25T02:39:37.063643Z\",\"end\":\"2026-11-25T02:39:37.064578Z\","
	"\"durations_us\":{\"syn_sent\":33,\"established\":22,\"fin_wait_1\":877,\"fin_wait_2\":1,\"lifetime\":935},"
	"\"time_wait\":{\"inferred\":true,\"from\":\"FIN_WAIT_2\",\"entered\":\"2026-11-25T02:39:37.064578Z\"},"
	"\"segments\":{\"handshake\":[{\"n\":1,\"segment\":\"SYN\",\"dir\":\"out\",\"at_us\":16,\"flags\":\"S\","
	"\"seq\":4257790479,\"ack\":0,\"win\":65495}],\"teardown\":[],\"close\":\"half_closed\"},"
	"\"process\":{\"pid\":24439,\"tid\":24439,\"comm\":\"a\\u001b[31mb\\u009bc\",\"source\":\"connect\"},"
	"\"partial\":false,\"a_key_from_the_future\":{\"x\":[1,2]}}";

/* the same record, keys in another order, plus a source per duration */
static const char line_b[] =
	"{\"partial\":false,\"process\":{\"source\":\"connect\",\"comm\":\"a\\u001b[31mb\\u009bc\",\"pid\":24439},"
	"\"segments\":{\"close\":\"half_closed\",\"teardown\":[],\"handshake\":[{\"ack\":0,\"seq\":4257790479,"
	"\"flags\":\"S\",\"at_us\":16,\"dir\":\"out\",\"segment\":\"SYN\",\"n\":1}]},"
	"\"time_wait\":{\"entered\":\"2026-11-25T02:39:37.064578Z\",\"from\":\"FIN_WAIT_2\",\"inferred\":true},"
	"\"durations_from\":{\"fin_wait_2\":\"segments\"},"
	"\"durations_us\":{\"lifetime\":935,\"fin_wait_2\":1,\"fin_wait_1\":877,\"established\":22,\"syn_sent\":33},"
	"\"end\":\"2026-11-25T02:39:37.064578Z\",\"start\":\"2026-11-25T02:39:37.063643Z\",\"established\":true,"
	"\"closer\":\"local\",\"close\":\"normal\",\"path\":\"CLOSED>SYN_SENT>ESTABLISHED>FIN_WAIT_1>FIN_WAIT_2>TIME_WAIT\","
	"\"role\":\"client\",\"peer\":{\"port\":20302,\"address\":\"127.0.0.1\"},"
	"\"local\":{\"port\":56610,\"address\":\"127.0.0.1\"},\"network\":{\"type\":\"ipv4\"},\"netns\":7,"
	"\"id\":\"a88217a17f12eb9d\",\"type\":\"flow\"}";

TEST(show_parse_any_key_order)
{
	struct flowrec a, b;
	char err[128];
	char *x = NULL, *y = NULL;

	EXPECT(flowrec__parse(line_a, strlen(line_a), &a, err, sizeof(err)) == FLOWREC_FLOW);
	EXPECT(flowrec__parse(line_b, strlen(line_b), &b, err, sizeof(err)) == FLOWREC_FLOW);
	EXPECT(a.path_len == 6 && !strcmp(a.path[5], "TIME_WAIT") && a.dwell_us[3] == 877 && a.dwell_us[5] == -1);
	EXPECT(a.start_us == 1795574377063643LL && a.end_us - a.start_us == 935);
	EXPECT(a.seg[0].seq == 4257790479u && a.seg[0].out && a.seg[0].at_us == 16);
	EXPECT(a.time_wait_inferred && !strcmp(a.time_wait_from, "FIN_WAIT_2"));
	EXPECT(a.local_port == 56610 && a.peer_port == 20302 && a.netns == 7);
	/* the comm's control characters cannot reach a terminal */
	EXPECT(!strcmp(a.comm, "a?[31mb?c"));
	x = draw(&a, NULL, false, false);
	y = draw(&b, NULL, false, false);
	EXPECT(x && y && !strcmp(x, y));
	free(x);
	free(y);
}

TEST(show_parse_other_and_bad_lines)
{
	struct flowrec r;
	char err[128] = "";

	EXPECT(flowrec__parse("{\"type\":\"stats\",\"schema\":1}", 27, &r, err, sizeof(err)) == FLOWREC_OTHER);
	EXPECT(flowrec__parse("[1,2]", 5, &r, err, sizeof(err)) == FLOWREC_OTHER);
	EXPECT(flowrec__parse("{\"type\":\"flow\"", 14, &r, err, sizeof(err)) == -EINVAL);
	EXPECT(strstr(err, "column"));
	EXPECT(flowrec__parse("{\"type\":\"flow\",\"type\":\"flow\"}", 29, &r, err, sizeof(err)) == -EINVAL);
	/* a flow record with nothing in it still parses (and draws) */
	EXPECT(flowrec__parse("{\"type\":\"flow\"}", 15, &r, err, sizeof(err)) == FLOWREC_FLOW);
	EXPECT(r.local_port == -1 && r.start_us == FLOWREC_NONE && r.pid == -1);
}

TEST(show_parse_compact_segments)
{
	static const char l[] =
		"{\"type\":\"flow\",\"segments\":{\"teardown\":[[4,\"FIN\",\"out\",400569],[5,\"A\",\"in\",442932],"
		"[6,\"FIN\",\"sideways\",1]]}}";
	struct flowrec r;
	char err[128];

	EXPECT(flowrec__parse(l, strlen(l), &r, err, sizeof(err)) == FLOWREC_FLOW);
	EXPECT(r.have_segments && r.nseg == 2);
	EXPECT(r.seg[0].n == 4 && !strcmp(r.seg[0].name, "FIN") && r.seg[0].out && r.seg[0].at_us == 400569 &&
	       !r.seg[0].have_seq);
	EXPECT(r.seg[1].n == 5 && !strcmp(r.seg[1].flags, "A") && !r.seg[1].out);
}

TEST(show_parse_time)
{
	int64_t a, b;

	EXPECT(!flowrec__parse_time("2026-11-25T02:39:37.064578Z", &a));
	EXPECT(!flowrec__parse_time("2026-11-25T03:39:37.064578+01:00", &b));
	EXPECT(a == b && a == 1795574377064578LL);
	EXPECT(!flowrec__parse_time("2026-11-25T02:39:37Z", &b) && b == 1795574377000000LL);
	EXPECT(flowrec__parse_time("yesterday", &b) == -EINVAL);
	EXPECT(flowrec__parse_time("2026-11-25T02:39:37.5", &b) == -EINVAL);
}

TEST(show_mirrors)
{
	struct flowrec c, d;

	client_four_way(&c);
	server_four_way(&d);
	EXPECT(flowrec__mirrors(&c, &d) && flowrec__mirrors(&d, &c));
	/* another namespace, the same SYN: the same connection */
	d.netns = 99;
	EXPECT(flowrec__mirrors(&c, &d));
	/* another namespace, another SYN: another connection */
	d.seg[0].seq = 7;
	EXPECT(!flowrec__mirrors(&c, &d));
	/* without segments: the namespace decides */
	c.nseg = d.nseg = 0;
	EXPECT(!flowrec__mirrors(&c, &d));
	d.netns = c.netns;
	EXPECT(flowrec__mirrors(&c, &d));
	/* the tuple used again later is another connection */
	d.start_us = c.end_us + 1;
	d.end_us = d.start_us + 100;
	EXPECT(!flowrec__mirrors(&c, &d));
	/* two clients are not two ends */
	server_four_way(&d);
	strcpy(d.role, "client");
	EXPECT(!flowrec__mirrors(&c, &d));
	/* nor is a record its own other end */
	EXPECT(!flowrec__mirrors(&c, &c));
}
