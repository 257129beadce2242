// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * synfin top's model: the socket's lines folded into the view. Lines in
 * the documented schema, written here by hand.
 */
#include "unit.h"
#include "top_model.h"

#define L(m, s) top_model__line(m, s, strlen(s))

static char *render(const struct top_model *m, const char *filter)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return NULL;
	top_model__render(m, f, filter, 160);
	fclose(f);
	return buf;
}

static const char stuck_a[] =
	"{\"type\":\"stuck\",\"time\":\"2026-12-01T09:00:10Z\",\"id\":\"aa\",\"netns\":7,"
	"\"local\":{\"address\":\"10.0.0.1\",\"port\":8080},\"peer\":{\"address\":\"10.0.0.2\",\"port\":5000},"
	"\"state\":\"CLOSE_WAIT\",\"since\":\"2026-12-01T09:00:00Z\",\"process\":{\"pid\":42,\"comm\":\"leaky\\u001b[31m\"}}";
static const char stuck_b[] =
	"{\"type\":\"stuck\",\"time\":\"2026-12-01T09:00:10Z\",\"id\":\"bb\",\"netns\":7,"
	"\"local\":{\"address\":\"10.0.0.1\",\"port\":9090},\"peer\":{\"address\":\"10.0.0.3\",\"port\":5001},"
	"\"state\":\"FIN_WAIT_2\",\"since\":\"2026-12-01T08:59:00Z\",\"process\":{\"pid\":43,\"comm\":\"other\"}}";

TEST(top_model_stuck_list_sorted_filtered_resolved)
{
	struct top_model m;
	char *s;

	top_model__init(&m);
	EXPECT(!L(&m, "{\"type\":\"hello\",\"time\":\"2026-12-01T09:00:10Z\",\"host\":\"h1\",\"version\":\"0.1.0\","
		      "\"started\":\"2026-12-01T08:00:10Z\"}"));
	EXPECT(!L(&m, stuck_a));
	EXPECT(!L(&m, stuck_b));
	EXPECT(L(&m, "not json") == -EINVAL);
	s = render(&m, NULL);
	EXPECT(s && strstr(s, "synfin 0.1.0 on h1   up 1h00m"));
	/* oldest first: bb (70 s) before aa (10 s) */
	EXPECT(strstr(s, "STUCK (2)") && strstr(s, "9090") < strstr(s, "8080"));
	/* the comm's control bytes never reach the terminal */
	EXPECT(strstr(s, "42/leaky\\x1b[31m") && !strchr(s, '\x1b'));
	free(s);
	s = render(&m, "leaky");
	EXPECT(s && strstr(s, "STUCK (1)") && !strstr(s, "9090"));
	free(s);
	EXPECT(!L(&m, "{\"type\":\"resolved\",\"time\":\"2026-12-01T09:00:11Z\",\"id\":\"aa\",\"state\":\"CLOSE_WAIT\"}"));
	s = render(&m, NULL);
	EXPECT(s && strstr(s, "STUCK (1)") && !strstr(s, "8080"));
	free(s);
	top_model__free(&m);
}

TEST(top_model_stats_loss_and_recent)
{
	struct top_model m;
	char *s;

	top_model__init(&m);
	L(&m, "{\"type\":\"stats\",\"time\":\"2026-12-01T09:00:00Z\",\"interval_s\":1.0,\"events\":{\"received\":100,\"lost\":0},"
	      "\"flows\":{\"open\":2,\"by_state\":{\"ESTABLISHED\":2}}}");
	L(&m, "{\"type\":\"stats\",\"time\":\"2026-12-01T09:00:01Z\",\"interval_s\":1.0,\"events\":{\"received\":350,\"lost\":3},"
	      "\"bpf\":{\"ringbuf_reserve_failed\":3},\"flows\":{\"open\":1,\"by_state\":{\"CLOSE_WAIT\":1}}}");
	L(&m, "{\"type\":\"flow\",\"time\":\"2026-12-01T09:00:01.5Z\",\"id\":\"cc\",\"close\":\"refused\","
	      "\"local\":{\"address\":\"10.0.0.1\",\"port\":40000},\"peer\":{\"address\":\"10.0.0.2\",\"port\":81},"
	      "\"process\":{\"pid\":5,\"comm\":\"curl\"}}");
	L(&m, "{\"type\":\"flow\",\"time\":\"2026-12-01T09:00:01.6Z\",\"id\":\"dd\",\"close\":\"normal\","
	      "\"durations_us\":{\"connect\":120},\"local\":{\"address\":\"10.0.0.1\",\"port\":40001},"
	      "\"peer\":{\"address\":\"10.0.0.2\",\"port\":80},\"process\":{\"pid\":5,\"comm\":\"curl\"}}");
	L(&m, "{\"type\":\"dropped\",\"time\":\"2026-12-01T09:00:02.1Z\",\"lines\":17}");
	s = render(&m, NULL);
	EXPECT(s && strstr(s, "250 events/s"));
	EXPECT(strstr(s, "loss: events 3  ringbuf 3 ") && strstr(s, "this view 17"));
	/* every state, in the seed's order, zeros too: the panel does not move */
	EXPECT(strstr(s, "  CLOSE_WAIT         1") && strstr(s, "  ESTABLISHED        0"));
	EXPECT(strstr(s, "LISTEN") < strstr(s, "ESTABLISHED") && strstr(s, "CLOSE_WAIT") < strstr(s, "TIME_WAIT"));
	/* the second that ended had both flows, one of them refused */
	EXPECT(strstr(s, "flows ended 2/s: normal 1 refused 1"));
	/* latency is the daemon's (its answer to get top), not the stream's */
	EXPECT(strstr(s, "(waiting for the daemon)") && !strstr(s, "120 us"));
	EXPECT(top_model__recent(&m, NULL, 0) && !strcmp(top_model__recent(&m, NULL, 0)->id, "cc"));
	EXPECT(!top_model__recent(&m, NULL, 1)); /* a normal close is not abnormal */
	EXPECT(strstr(top_model__recent(&m, NULL, 0)->line, "\"refused\""));
	free(s);
	top_model__free(&m);
}

TEST(top_model_top_answer_panels)
{
	struct top_model m;
	char *s;

	top_model__init(&m);
	L(&m, "{\"type\":\"stats\",\"time\":\"2026-12-01T09:00:00Z\",\"interval_s\":1.0,\"events\":{\"received\":1},"
	      "\"flows\":{\"open\":1,\"by_state\":{\"CLOSE_WAIT\":1}},\"time_wait\":{\"tracked_now\":7}}");
	EXPECT(!L(&m, "{\"type\":\"reply\",\"schema\":1,\"time\":\"2026-12-01T09:00:00Z\",\"get\":\"top\","
		      "\"latency_us\":{\"connect\":{\"count\":4,\"p50\":53,\"p90\":64,\"p99\":64,\"max\":64,\"sum\":186,"
		      "\"log2_us\":[0,0,0,0,0,0,3,1]},\"handshake\":{\"count\":0,\"p50\":0,\"p90\":0,\"p99\":0,\"max\":0,"
		      "\"sum\":0,\"log2_us\":[]}},"
		      "\"time_wait\":{\"sockets\":7,\"remotes\":2,\"by_remote\":[{\"netns\":9,\"peer\":{\"address\":"
		      "\"10.0.0.2\",\"port\":80},\"count\":5},{\"netns\":9,\"peer\":{\"address\":\"::1\",\"port\":81},"
		      "\"count\":2}]},\"close_wait\":{\"sockets\":1,\"processes\":1,\"by_process\":[{\"pid\":42,"
		      "\"comm\":\"le\\u001baky\",\"count\":1}]}}"));
	s = render(&m, NULL);
	EXPECT(s && strstr(s, "  TIME_WAIT          7"));
	EXPECT(strstr(s, "connect         4 flows  p50 53 us"));
	/* buckets 6 (32-64) and 7 (64-128): 3 and 1, the fullest is '#' */
	EXPECT(strstr(s, " 32us |#-| 128us"));
	EXPECT(strstr(s, "handshake  no connection timed yet"));
	EXPECT(strstr(s, "TIME_WAIT BY REMOTE (7 sockets, 2 remotes)") && strstr(s, "10.0.0.2:80"));
	EXPECT(strstr(s, "[::1]:81") && strstr(s, "10.0.0.2:80") < strstr(s, "[::1]:81"));
	EXPECT(strstr(s, "CLOSE_WAIT BY PROCESS (1 socket, 1 process)") && strstr(s, "42/le\\x1baky"));
	EXPECT(!strchr(s, '\x1b'));
	free(s);
	/* a flow answer is kept for the view, with a sequence number */
	EXPECT(!L(&m, "{\"type\":\"error\",\"time\":\"2026-12-01T09:00:00Z\",\"get\":\"flow\",\"id\":\"00000000000000aa\","
		      "\"error\":\"not_found\",\"message\":\"no flow\"}"));
	EXPECT(m.answer_seq == 1 && m.answer && strstr(m.answer, "not_found"));
	top_model__free(&m);
}

TEST(top_model_sort_columns_stable)
{
	struct top_model m;
	struct top_view_opts v = { .sort = TOP_SORT_AGE };
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	top_model__init(&m);
	L(&m, stuck_a);
	L(&m, stuck_b);
	/* age: the oldest (bb) first; reversed: aa first */
	EXPECT(!strcmp(top_model__row(&m, &v, 0)->id, "bb") && !strcmp(top_model__row(&m, &v, 1)->id, "aa"));
	v.reverse = true;
	EXPECT(!strcmp(top_model__row(&m, &v, 0)->id, "aa"));
	/* by state: CLOSE_WAIT (aa) before FIN_WAIT_2 (bb) */
	v.reverse = false;
	v.sort = TOP_SORT_STATE;
	EXPECT(!strcmp(top_model__row(&m, &v, 0)->id, "aa"));
	/* by local: 10.0.0.1:8080 (aa) before 10.0.0.1:9090 (bb) */
	v.sort = TOP_SORT_LOCAL;
	EXPECT(!strcmp(top_model__row(&m, &v, 0)->id, "aa"));
	/* equal keys (netns 7 both): by age, so the order does not flip */
	v.sort = TOP_SORT_NETNS;
	EXPECT(!strcmp(top_model__row(&m, &v, 0)->id, "bb"));
	EXPECT(!top_model__row(&m, &v, 2));
	v.sel_id = "aa";
	f = open_memstream(&buf, &len);
	if (f) {
		top_model__render_view(&m, f, &v, 160);
		fclose(f);
	}
	EXPECT(buf && strstr(buf, "STUCK (2)  sort: NETNS") && strstr(buf, "\n> CLOSE_WAIT"));
	free(buf);
	top_model__free(&m);
}
