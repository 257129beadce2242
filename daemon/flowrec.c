// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * flow records (JSON Lines) -> struct flowrec, with jansson. Keys are
 * looked up by name, never by position, and keys we do not know are
 * ignored: the schema grows (new keys) without breaking the reader.
 */
#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "flowrec.h"

/* Copy a string from the record into a field: cut at a character
 * boundary, control characters (C0, DEL, C1) replaced by '?' so that no
 * byte from the input can move the cursor or change a terminal's state.
 * jansson has already checked that the string is valid UTF-8. */
static void copy_clean(char *dst, size_t size, const char *src, size_t n)
{
	size_t i = 0, o = 0;

	while (i < n) {
		unsigned char c = (unsigned char)src[i];
		size_t clen = c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;

		if (o + clen >= size || i + clen > n)
			break;
		if (c < 0x20 || c == 0x7f || (c == 0xc2 && (unsigned char)src[i + 1] < 0xa0) || c == 0) {
			dst[o++] = '?';
		} else {
			memcpy(dst + o, src + i, clen);
			o += clen;
		}
		i += clen;
	}
	dst[o] = 0;
}

static void get_str(json_t *obj, const char *key, char *dst, size_t size)
{
	json_t *v = json_object_get(obj, key);

	dst[0] = 0;
	if (json_is_string(v))
		copy_clean(dst, size, json_string_value(v), json_string_length(v));
}

static int64_t get_int(json_t *obj, const char *key, int64_t def)
{
	json_t *v = json_object_get(obj, key);

	return json_is_integer(v) ? (int64_t)json_integer_value(v) : def;
}

static void get_retx(json_t *obj, struct flowrec_retx *x)
{
	x->syn = get_int(obj, "syn", -1);
	x->synack = get_int(obj, "synack", -1);
	x->fin = get_int(obj, "fin", -1);
}

int flowrec__parse_time(const char *s, int64_t *us)
{
	struct tm tm = { 0 };
	int64_t frac = 0, scale = 1000000, off = 0;
	const char *p;
	time_t t;

	if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
			 &tm.tm_min, &tm.tm_sec) != 6 || strlen(s) < 19)
		return -EINVAL;
	p = s + 19;
	if (*p == '.') {
		for (p++; isdigit((unsigned char)*p); p++) {
			if (scale > 1) {
				scale /= 10;
				frac += (*p - '0') * scale;
			}
		}
	}
	if (*p == '+' || *p == '-') {
		int h, m;

		if (sscanf(p + 1, "%2d:%2d", &h, &m) != 2)
			return -EINVAL;
		off = (h * 3600 + m * 60) * (*p == '+' ? 1 : -1);
	} else if (*p != 'Z' && *p != 'z') {
		return -EINVAL;
	}
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	t = timegm(&tm);
	if (t == (time_t)-1)
		return -EINVAL;
	*us = ((int64_t)t - off) * 1000000 + frac;
	return 0;
}

static int64_t get_time(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);
	int64_t us;

	if (json_is_string(v) && !flowrec__parse_time(json_string_value(v), &us))
		return us;
	return FLOWREC_NONE;
}

static void endpoint(json_t *obj, const char *key, char *addr, size_t size, int *port)
{
	json_t *e = json_object_get(obj, key);

	get_str(e, "address", addr, size);
	*port = (int)get_int(e, "port", -1);
}

static void path_split(struct flowrec *r, const char *path)
{
	const char *p = path;

	r->path_len = 0;
	while (*p && r->path_len < FLOWREC_MAX_PATH) {
		size_t n = strcspn(p, ">");

		copy_clean(r->path[r->path_len], sizeof(r->path[0]), p, n);
		r->dwell_us[r->path_len] = -1;
		r->path_len++;
		p += n;
		if (*p == '>')
			p++;
	}
}

int flowrec__path_index(const struct flowrec *r, const char *name)
{
	for (int i = 0; i < r->path_len; i++)
		if (!strcmp(r->path[i], name))
			return i;
	return -1;
}

/* durations_us is keyed by the lower-case state name: a state entered
 * twice has one key for two dwells, so neither is known */
static void dwells(struct flowrec *r, json_t *d, json_t *from)
{
	for (int i = 0; i < r->path_len; i++) {
		char key[16];
		int n = 0;

		for (int j = 0; j < r->path_len; j++)
			n += !strcmp(r->path[i], r->path[j]);
		if (n != 1)
			continue;
		for (size_t k = 0; k < sizeof(key); k++) {
			key[k] = (char)tolower((unsigned char)r->path[i][k]);
			if (!key[k])
				break;
		}
		r->dwell_us[i] = get_int(d, key, -1);
		get_str(from, key, r->dwell_from[i], sizeof(r->dwell_from[i]));
	}
	r->connect_us = get_int(d, "connect", -1);
	r->handshake_us = get_int(d, "handshake", -1);
	r->lifetime_us = get_int(d, "lifetime", -1);
	r->observed_us = get_int(d, "observed", -1);
}

/* A segment entry: an object (docs/schema.md), or the compact array form
 * [n, "NAME" or "FLAGS", "in"|"out", at_us, ...] */
static bool segment(json_t *v, struct flowrec_seg *s)
{
	json_t *x;

	memset(s, 0, sizeof(*s));
	s->acks_ok = -1;
	s->at_us = FLOWREC_NONE;
	if (json_is_object(v)) {
		char dir[8];

		s->n = (int)get_int(v, "n", 0);
		get_str(v, "segment", s->name, sizeof(s->name));
		get_str(v, "flags", s->flags, sizeof(s->flags));
		get_str(v, "dir", dir, sizeof(dir));
		s->out = !strcmp(dir, "out");
		s->at_us = get_int(v, "at_us", FLOWREC_NONE);
		x = json_object_get(v, "seq");
		if (json_is_integer(x) && json_is_integer(json_object_get(v, "ack"))) {
			s->have_seq = true;
			s->seq = (uint32_t)json_integer_value(x);
			s->ack = (uint32_t)get_int(v, "ack", 0);
		}
		s->len = (uint32_t)get_int(v, "len", 0);
		x = json_object_get(v, "acks_ok");
		if (json_is_boolean(x))
			s->acks_ok = json_is_true(x);
		if (!strcmp(dir, "in") || s->out)
			return true;
		return false;
	}
	if (json_is_array(v) && json_array_size(v) >= 4) {
		const char *t = json_string_value(json_array_get(v, 1));
		const char *dir = json_string_value(json_array_get(v, 2));

		if (!t || !dir || (strcmp(dir, "in") && strcmp(dir, "out")))
			return false;
		s->n = (int)(json_is_integer(json_array_get(v, 0)) ? json_integer_value(json_array_get(v, 0)) : 0);
		/* flag letters, or a segment name (which has letters outside FSRPAUEC) */
		if (strspn(t, "FSRPAUEC") == strlen(t))
			copy_clean(s->flags, sizeof(s->flags), t, strlen(t));
		else
			copy_clean(s->name, sizeof(s->name), t, strlen(t));
		s->out = !strcmp(dir, "out");
		if (json_is_integer(json_array_get(v, 3)))
			s->at_us = json_integer_value(json_array_get(v, 3));
		return true;
	}
	return false;
}

static void segments(struct flowrec *r, json_t *g)
{
	static const char *const lists[] = { "handshake", "teardown", "reset" };
	json_t *d;

	r->have_segments = json_is_object(g);
	if (!r->have_segments)
		return;
	d = json_object_get(g, "digest");
	if (json_is_string(d) && !json_object_get(g, "handshake")) {
		/* written with --detail summary: seen, but not listed */
		snprintf(r->digest, sizeof(r->digest), "%s", json_string_value(d));
		r->have_segments = false;
		return;
	}
	for (size_t l = 0; l < sizeof(lists) / sizeof(lists[0]); l++) {
		json_t *a = json_object_get(g, lists[l]), *v;
		size_t i;

		json_array_foreach(a, i, v) {
			struct flowrec_seg *s = &r->seg[r->nseg];

			if (r->nseg >= FLOWREC_MAX_SEGS || !segment(v, s))
				continue;
			if (l == 2) {
				s->n = 0;
				if (!s->name[0])
					strcpy(s->name, "RST");
			}
			r->nseg++;
		}
	}
	get_str(g, "close", r->seg_close, sizeof(r->seg_close));
	get_str(g, "first_fin", r->first_fin, sizeof(r->first_fin));
	get_retx(json_object_get(g, "retransmits"), &r->seg_retx);
	d = json_object_get(g, "durations_us");
	r->syn_to_synack_us = get_int(d, "syn_to_synack", -1);
	r->synack_to_ack_us = get_int(d, "synack_to_ack", -1);
	r->fin_to_ack_us = get_int(d, "fin_to_ack", -1);
	r->fin_to_fin_us = get_int(d, "fin_to_fin", -1);
	r->fin_to_last_ack_us = get_int(d, "fin_to_last_ack", -1);
	r->teardown_us = get_int(d, "teardown", -1);
}

static void fill(struct flowrec *r, json_t *o)
{
	json_t *v, *x;
	char path[FLOWREC_MAX_PATH * 16 + 1];
	size_t i;

	get_str(o, "id", r->id, sizeof(r->id));
	get_str(o, "role", r->role, sizeof(r->role));
	get_str(json_object_get(o, "network"), "type", r->family, sizeof(r->family));
	r->netns = get_int(o, "netns", -1);
	endpoint(o, "local", r->local_addr, sizeof(r->local_addr), &r->local_port);
	endpoint(o, "peer", r->peer_addr, sizeof(r->peer_addr), &r->peer_port);
	get_str(o, "path", path, sizeof(path));
	path_split(r, path);
	dwells(r, json_object_get(o, "durations_us"), json_object_get(o, "durations_from"));
	r->start_us = get_time(o, "start");
	r->end_us = get_time(o, "end");
	get_str(o, "close", r->close, sizeof(r->close));
	get_str(o, "closer", r->closer, sizeof(r->closer));
	r->established = json_is_true(json_object_get(o, "established"));

	v = json_object_get(o, "time_wait");
	r->time_wait = json_is_object(v);
	r->time_wait_inferred = json_is_true(json_object_get(v, "inferred"));
	get_str(v, "from", r->time_wait_from, sizeof(r->time_wait_from));
	r->time_wait_entered_us = get_time(v, "entered");
	get_str(v, "entered_from", r->time_wait_entered_from, sizeof(r->time_wait_entered_from));
	r->time_wait_handoff_us = get_time(v, "handoff");

	v = json_object_get(o, "reset");
	get_str(v, "sent_in", r->reset_sent_in, sizeof(r->reset_sent_in));
	get_str(v, "received_in", r->reset_received_in, sizeof(r->reset_received_in));
	v = json_object_get(o, "error");
	r->error_errno = (int)get_int(v, "errno", 0);
	get_str(v, "name", r->error_name, sizeof(r->error_name));
	get_retx(json_object_get(o, "retransmits"), &r->retx);

	segments(r, json_object_get(o, "segments"));

	v = json_object_get(o, "process");
	r->pid = get_int(v, "pid", -1);
	get_str(v, "comm", r->comm, sizeof(r->comm));
	get_str(v, "source", r->owner_source, sizeof(r->owner_source));
	/* a summary leaves out the role's usual source */
	if (!r->owner_source[0] && r->pid >= 0 && json_object_get(v, "comm"))
		snprintf(r->owner_source, sizeof(r->owner_source), "%s",
			 !strcmp(r->role, "server") ? "accept" : !strcmp(r->role, "client") ? "connect" : "");

	r->partial = json_is_true(json_object_get(o, "partial"));
	json_array_foreach(json_object_get(o, "partial_reasons"), i, x) {
		if (r->nreasons < FLOWREC_MAX_REASONS && json_is_string(x))
			copy_clean(r->reasons[r->nreasons++], sizeof(r->reasons[0]), json_string_value(x),
				   json_string_length(x));
	}
	v = json_object_get(o, "anomalies");
	r->reordered = json_is_true(json_object_get(v, "reordered"));
	r->duplicates = get_int(v, "duplicates", 0);
}

int flowrec__parse(const char *line, size_t len, struct flowrec *r, char *err, size_t errlen)
{
	json_error_t je;
	json_t *o;
	int rc = FLOWREC_OTHER;

	memset(r, 0, sizeof(*r));
	o = json_loadb(line, len, JSON_REJECT_DUPLICATES, &je);
	if (!o) {
		snprintf(err, errlen, "column %d: %s", je.column, je.text);
		return -EINVAL;
	}
	if (json_is_object(o) && json_is_string(json_object_get(o, "type")) &&
	    !strcmp(json_string_value(json_object_get(o, "type")), "flow")) {
		fill(r, o);
		rc = FLOWREC_FLOW;
	}
	json_decref(o);
	return rc;
}

int flowrec__parse_reply(const char *line, size_t len, struct flowrec *r, int max, char *err, size_t errlen)
{
	json_t *o = json_loadb(line, len, 0, NULL), *flows, *v;
	const char *type = json_string_value(json_object_get(o, "type"));
	int n = 0, rc;
	size_t i;

	if (!json_is_object(o) || !type) {
		snprintf(err, errlen, "not a record");
		rc = -EINVAL;
	} else if (!strcmp(type, "error")) {
		get_str(o, "message", err, errlen);
		rc = -ENOENT;
	} else if (strcmp(type, "reply") || !json_is_array(flows = json_object_get(o, "flows"))) {
		snprintf(err, errlen, "not a flow reply");
		rc = -EINVAL;
	} else {
		json_array_foreach(flows, i, v) {
			if (n == max || !json_is_object(v))
				break;
			memset(&r[n], 0, sizeof(r[n]));
			fill(&r[n++], v);
		}
		rc = n;
	}
	json_decref(o);
	return rc;
}

static const struct flowrec_seg *first_syn(const struct flowrec *r)
{
	for (int i = 0; i < r->nseg; i++)
		if (r->seg[i].n == 1 && r->seg[i].have_seq)
			return &r->seg[i];
	return NULL;
}

bool flowrec__mirrors(const struct flowrec *a, const struct flowrec *b)
{
	const struct flowrec_seg *sa = first_syn(a), *sb = first_syn(b);

	if (!strcmp(a->id, b->id) || strcmp(a->family, b->family) || a->local_port < 0 || a->peer_port < 0 ||
	    a->local_port != b->peer_port || a->peer_port != b->local_port ||
	    strcmp(a->local_addr, b->peer_addr) || strcmp(a->peer_addr, b->local_addr))
		return false;
	/* a client's other end is a server (unknown: opened before synfin) */
	if (!strcmp(a->role, b->role) && strcmp(a->role, "unknown"))
		return false;
	/* the same tuple is used again by later connections: the two ends
	 * of one connection live at the same time */
	if (a->start_us == FLOWREC_NONE || b->start_us == FLOWREC_NONE || a->end_us == FLOWREC_NONE ||
	    b->end_us == FLOWREC_NONE || a->start_us > b->end_us || b->start_us > a->end_us)
		return false;
	/* initial sequence numbers are random 32-bit values: the same SYN
	 * identifies the connection, across namespaces too */
	if (sa && sb)
		return sa->seq == sb->seq;
	return a->netns >= 0 && a->netns == b->netns;
}
