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
	EXPECT(strstr(s, "  CLOSE_WAIT         1\n") && !strstr(s, "ESTABLISHED"));
	/* the second that ended had both flows, one of them refused */
	EXPECT(strstr(s, "flows ended 2/s: normal 1 refused 1"));
	EXPECT(strstr(s, "connect    p50 120 us"));
	EXPECT(top_model__recent(&m, NULL, 0) && !strcmp(top_model__recent(&m, NULL, 0)->id, "cc"));
	EXPECT(!top_model__recent(&m, NULL, 1)); /* a normal close is not abnormal */
	EXPECT(strstr(top_model__recent(&m, NULL, 0)->line, "\"refused\""));
	free(s);
	top_model__free(&m);
}
