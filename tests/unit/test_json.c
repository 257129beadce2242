// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* The JSON writer and the record formatter. */
#include "unit.h"
#include "cgroup_path.h"

static const char *escaped(const char *in, size_t n)
{
	static struct json j;

	json__reset(&j);
	json__strn(&j, NULL, in, n);
	json__newline(&j);
	j.buf[j.len - 1] = 0;
	return j.buf;
}

TEST(json_escaping)
{
	EXPECT_STR(escaped("plain", 5), "\"plain\"");
	EXPECT_STR(escaped("a\"b\\c", 5), "\"a\\\"b\\\\c\"");
	EXPECT_STR(escaped("\x01\n\t\x7f", 4), "\"\\u0001\\n\\t\\u007f\"");
	EXPECT_STR(escaped("\xff", 1), "\"\\ufffd\"");
	EXPECT_STR(escaped("caf\xc3\xa9", 5), "\"caf\xc3\xa9\"");		/* valid UTF-8 kept */
	EXPECT_STR(escaped("\xc3", 1), "\"\\ufffd\"");			/* truncated sequence */
	EXPECT_STR(escaped("\xc0\xaf", 2), "\"\\ufffd\\ufffd\"");		/* overlong '/' */
	EXPECT_STR(escaped("\xed\xa0\x80", 3), "\"\\ufffd\\ufffd\\ufffd\""); /* surrogate */
	EXPECT_STR(escaped("\xf0\x9f\x98\x80", 4), "\"\xf0\x9f\x98\x80\"");
}

TEST(json_record)
{
	struct flow_table *t = table(16);
	struct sf_clock clk = { .mono_to_real_ns = 1764000000000000000LL };
	struct sf_record r = { .type = SF_REC_FLOW };
	struct json j = {};

	client_seed(t, 0xe4, 0);
	flow_table__flush(t);
	EXPECT(nrec == 1);
	memcpy(recs[0].flow.comm, "x\"y\\\x01\xff", 7);
	r.flow = &recs[0].flow;
	r.sum = &recs[0].sum;
	record_json__record(&j, &r, &clk);
	EXPECT(j.len > 0 && j.buf[j.len - 1] == '\n');
	j.buf[j.len - 1] = 0;
	EXPECT(strstr(j.buf, "\"comm\":\"x\\\"y\\\\\\u0001\\ufffd\"") != NULL);
	EXPECT(strstr(j.buf, "\"local\":{\"address\":\"10.0.0.1\",\"port\":40228}") != NULL);
	EXPECT(strstr(j.buf, "\"path\":\"CLOSED>SYN_SENT>ESTABLISHED>FIN_WAIT_1>FIN_WAIT_2>TIME_WAIT\"") != NULL);
	EXPECT(strstr(j.buf, "\"durations_us\":{") != NULL);
	EXPECT(strstr(j.buf, "\"time\":\"2025-11-24T16:00:00.000012Z\"") != NULL);
	EXPECT(strchr(j.buf, '\n') == NULL);
	json__free(&j);
	flow_table__free(t);
}

/* synfin in a container: ids in its own PID namespace, the host's beside;
 * an owner outside its namespace has only the host's */
TEST(json_pid_namespace)
{
	static const struct {
		__u32 tgid, pid, host;
		const char *want;
	} c[] = {
		{ 100, 100, 0, "\"process\":{\"pid\":100,\"tid\":100,\"comm\":\"curl\"," },
		{ 7, 8, 4242, "\"process\":{\"pid\":7,\"tid\":8,\"host_pid\":4242,\"comm\":\"curl\"," },
		{ 0, 0, 4243, "\"process\":{\"pid\":null,\"tid\":null,\"host_pid\":4243,\"comm\":\"curl\"," },
	};
	struct sf_clock clk = {};

	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		struct flow_table *t = table(16);
		struct synfin_event e[2] = { ev(0xe5, 1000, 1000, SF_TCP_CLOSE, SF_TCP_SYN_SENT),
					     ev(0xe5, 1000, 2000, SF_TCP_SYN_SENT, SF_TCP_CLOSE) };
		struct sf_record r = { .type = SF_REC_FLOW };
		struct json j = {};

		for (int k = 0; k < 2; k++) {
			e[k].tgid = c[i].tgid;
			e[k].pid = c[i].pid;
			e[k].host_tgid = c[i].host;
			feed(t, e[k]);
		}
		flow_table__flush(t);
		EXPECT(nrec == 1);
		r.flow = &recs[0].flow;
		r.sum = &recs[0].sum;
		record_json__record(&j, &r, &clk);
		j.buf[j.len - 1] = 0;
		if (!strstr(j.buf, c[i].want))
			EXPECT_STR(j.buf, c[i].want);
		json__free(&j);
		flow_table__free(t);
	}
}

/* A first event from a state to itself puts that state in the path twice:
 * its duration is still one key (JSON objects have unique keys) */
TEST(json_state_twice)
{
	struct flow_table *t = table(16);
	struct sf_clock clk = {};
	struct sf_record r = { .type = SF_REC_FLOW };
	struct json j = {};
	const char *d;

	feed(t, ev(0xe5, 1, 1000, SF_TCP_ESTABLISHED, SF_TCP_ESTABLISHED));
	feed(t, ev(0xe5, 1, 3000, SF_TCP_ESTABLISHED, SF_TCP_FIN_WAIT1));
	feed(t, ev(0xe5, 1, 4000, SF_TCP_FIN_WAIT1, SF_TCP_FIN_WAIT2));
	feed(t, ev(0xe5, 1, 5000, SF_TCP_FIN_WAIT2, SF_TCP_CLOSE));
	flow_table__flush(t);
	EXPECT(nrec == 1);
	r.flow = &recs[0].flow;
	r.sum = &recs[0].sum;
	record_json__record(&j, &r, &clk);
	EXPECT(j.len > 0);
	j.buf[j.len - 1] = 0;
	d = strstr(j.buf, "\"durations_us\":{");
	EXPECT(d && strstr(d, "\"established\":2,"));
	EXPECT(!strstr(strstr(d, "\"established\":") + 1, "\"established\":"));
	json__free(&j);
	flow_table__free(t);
}

/* A listener's CLOSE timed before its LISTEN (a corrupted recording): no
 * duration rather than a wrapped one */
TEST(json_times_reversed)
{
	struct flow_table *t = table(16);
	struct sf_clock clk = {};
	struct sf_record r = { .type = SF_REC_LISTEN_STOP };
	struct synfin_event e = ev(0xe6, 1, 5000, SF_TCP_CLOSE, SF_TCP_LISTEN);
	struct json j = {};

	e.owner_src = SF_OWNER_LISTEN;
	feed(t, e);
	e = ev(0xe6, 1, 4000, SF_TCP_LISTEN, SF_TCP_CLOSE);
	feed(t, e);
	flow_table__flush(t);
	EXPECT(nrec == 2 && recs[1].type == SF_REC_LISTEN_STOP);
	r.flow = &recs[1].flow;
	record_json__record(&j, &r, &clk);
	EXPECT(j.len > 0);
	j.buf[j.len - 1] = 0;
	EXPECT(strstr(j.buf, "\"event\":\"stop\"") && !strstr(j.buf, "duration_us"));
	json__free(&j);
	flow_table__free(t);
}

/* Times from a corrupted recording: clamped to what the formatter can
 * print (1970 to 2262), never an overflowing sum */
TEST(json_time_range)
{
	struct sf_clock clk = { .mono_to_real_ns = INT64_MAX };
	char buf[48];

	sf_format_time(buf, sizeof(buf), UINT64_MAX, &clk);
	EXPECT_STR(buf, "2262-04-11T23:47:16.854775Z");
	clk.mono_to_real_ns = INT64_MIN;
	sf_format_time(buf, sizeof(buf), 5, &clk);
	EXPECT_STR(buf, "1970-01-01T00:00:00.000000Z");
	sf_format_time(buf, sizeof(buf), UINT64_MAX, &clk);
	EXPECT_STR(buf, "2262-04-11T23:47:16.854775Z");
	clk.mono_to_real_ns = 0;
	sf_format_time(buf, sizeof(buf), (1ULL << 63) + 5, &clk); /* not a negative time */
	EXPECT_STR(buf, "2262-04-11T23:47:16.854775Z");
	clk.mono_to_real_ns = -1000;
	sf_format_time(buf, sizeof(buf), 1000 + 1234567000, &clk);
	EXPECT_STR(buf, "1970-01-01T00:00:01.234567Z");
}

/* a summary flow record says each thing once: the cgroup by its most
 * specific name, the owner's source only when not the role's usual, and
 * the time-wait hand-over only where path, time and durations_from do not */
static const char *summary_line(struct sf_record *r, struct json *j)
{
	static const struct sf_clock clk = { .mono_to_real_ns = 1764000000000000000LL };

	json__reset(j);
	record_json__record(j, r, &clk);
	j->buf[j->len - 1] = 0;
	return j->buf;
}

TEST(json_summary_says_once)
{
	struct flow_table *t = table(16);
	struct sf_record r = { .type = SF_REC_FLOW, .detail = SF_DETAIL_SUMMARY };
	struct cg_info cg = { .id = 4242, .path = "/system.slice/docker-0123abcd.scope" };
	struct sf_summary *s;
	struct json j = {};
	const char *l;

	client_seed(t, 0xe5, 0);
	flow_table__flush(t);
	EXPECT(nrec == 1);
	r.flow = &recs[0].flow;
	r.sum = s = &recs[0].sum;
	recs[0].flow.owner_src = SF_OWNER_CONNECT;
	recs[0].flow.cgroup_id = 4242;

	/* no cgroup path (--replay): the id */
	l = summary_line(&r, &j);
	EXPECT(strstr(l, "\"cgroup_id\":4242") != NULL);
	EXPECT(strstr(l, "\"source\"") == NULL && strstr(l, "\"tid\"") == NULL);
	/* a container: its id only (the path repeats it) */
	r.cgroup = &cg;
	cg.owner.runtime = CG_RT_DOCKER;
	strcpy(cg.owner.id, "0123abcd");
	l = summary_line(&r, &j);
	EXPECT(strstr(l, "\"container\":{\"runtime\":\"docker\",\"id\":\"0123abcd\"}") != NULL);
	EXPECT(strstr(l, "\"cgroup") == NULL);
	/* a unit: its name */
	memset(&cg.owner, 0, sizeof(cg.owner));
	cg.path = "/system.slice/web.service";
	strcpy(cg.owner.unit, "web.service");
	l = summary_line(&r, &j);
	EXPECT(strstr(l, "\"unit\":\"web.service\"") != NULL && strstr(l, "\"cgroup") == NULL);
	/* neither: the path; an unusual source is said */
	cg.owner.unit[0] = 0;
	cg.path = "/";
	recs[0].flow.owner_src = SF_OWNER_SNAPSHOT;
	l = summary_line(&r, &j);
	EXPECT(strstr(l, "\"cgroup\":\"/\",\"source\":\"snapshot\"}") != NULL && strstr(l, "\"cgroup_id\"") == NULL);
	/* a pod's own cgroup (no container id): the path, with the pod */
	cg.path = "/kubepods.slice/kubepods-pod0a1b.slice";
	cg.owner.runtime = CG_RT_KUBERNETES;
	strcpy(cg.owner.pod_uid, "0a1b");
	l = summary_line(&r, &j);
	EXPECT(strstr(l, "\"cgroup\":\"/kubepods.slice/kubepods-pod0a1b.slice\",\"container\":{\"runtime\":"
			 "\"kubernetes\",\"id\":null,\"pod_uid\":\"0a1b\"}") != NULL);
	memset(&cg.owner, 0, sizeof(cg.owner));
	/* looked for, not found (removed): said so; no id: nothing */
	cg.path = NULL;
	l = summary_line(&r, &j);
	EXPECT(strstr(l, "\"cgroup_id\":4242,\"cgroup\":null") != NULL);
	recs[0].flow.cgroup_id = 0;
	l = summary_line(&r, &j);
	EXPECT(strstr(l, "\"cgroup") == NULL);
	recs[0].flow.cgroup_id = 4242;
	cg.path = "/";
	/* a server's usual source is accept; connect is said */
	recs[0].flow.role = SF_ROLE_SERVER;
	recs[0].flow.owner_src = SF_OWNER_ACCEPT;
	l = summary_line(&r, &j);
	EXPECT(strstr(l, "\"source\"") == NULL);
	recs[0].flow.owner_src = SF_OWNER_CONNECT;
	l = summary_line(&r, &j);
	EXPECT(strstr(l, "\"source\":\"connect\"") != NULL);
	recs[0].flow.role = SF_ROLE_CLIENT;
	recs[0].flow.owner_src = SF_OWNER_SNAPSHOT;
	/* a full record keeps them all */
	r.detail = SF_DETAIL_SEGMENTS;
	l = summary_line(&r, &j);
	EXPECT(strstr(l, "\"cgroup_id\":4242,\"cgroup\":\"/\",\"source\":\"snapshot\"") != NULL);
	r.detail = SF_DETAIL_SUMMARY;

	/* FIN_WAIT_2 handed over, the peer's FIN seen on the wire at the
	 * record's time: nothing to add */
	EXPECT(s->path[s->path_len - 1] == SF_TCP_TIME_WAIT && s->time_wait_from == SF_TCP_FIN_WAIT2);
	s->handoff_ts = s->end_ts - 500;
	s->tw_entered_ts = s->end_ts;
	s->tw_entered_src = SF_SRC_SEGMENT;
	s->dwell_src[SF_TCP_FIN_WAIT2] = SF_SRC_SEGMENT;
	l = summary_line(&r, &j);
	EXPECT(strstr(l, "\"time_wait\"") == NULL && strstr(l, "\"durations_from\"") == NULL);
	r.detail = SF_DETAIL_SEGMENTS;
	l = summary_line(&r, &j);
	EXPECT(strstr(l, "\"durations_from\":{\"fin_wait_2\":\"segments\"") != NULL);
	EXPECT(strstr(l, "\"entered_from\":\"segments\",\"handoff\":") != NULL);
	r.detail = SF_DETAIL_SUMMARY;
	/* the FIN known only from the kernel's socket list: said, once */
	s->tw_entered_src = SF_SRC_ROUND;
	s->dwell_src[SF_TCP_FIN_WAIT2] = SF_SRC_ROUND;
	l = summary_line(&r, &j);
	EXPECT(strstr(l, "\"durations_from\":{\"fin_wait_2\":\"reconcile\"}") != NULL);
	EXPECT(strstr(l, "\"time_wait\"") == NULL);
	/* TIME_WAIT began before the record's time: when, and how known */
	s->tw_entered_ts = s->end_ts - 100000;
	l = summary_line(&r, &j);
	EXPECT(strstr(l, "\"time_wait\":{\"from\":\"FIN_WAIT_2\",\"entered\":\"") != NULL);
	EXPECT(strstr(l, "\"entered_from\":\"reconcile\"}") != NULL && strstr(l, "handoff") == NULL);
	/* TIME_WAIT never began (fin_wait_2_timeout): said, no hand-over */
	s->tw_entered_ts = 0;
	s->dwell_src[SF_TCP_FIN_WAIT2] = 0;
	l = summary_line(&r, &j);
	EXPECT(strstr(l, "\"time_wait\":{\"from\":\"FIN_WAIT_2\",\"entered\":null}") != NULL);
	/* an end no dwell bounds (a gap), known from the socket list: the
	 * lifetime says where its bound came from */
	s->lifetime_src = SF_SRC_ROUND;
	l = summary_line(&r, &j);
	EXPECT(strstr(l, "\"durations_from\":{\"lifetime\":\"reconcile\"}") != NULL);
	s->dwell_src[SF_TCP_FIN_WAIT2] = SF_SRC_ROUND;
	l = summary_line(&r, &j);
	EXPECT(strstr(l, "\"durations_from\":{\"fin_wait_2\":\"reconcile\"}") != NULL);
	json__free(&j);
	flow_table__free(t);
}
