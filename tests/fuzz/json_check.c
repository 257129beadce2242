// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Apart from fuzz_common.c: jansson's headers and json.h both define
 * JSON_INLINE. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "json_check.h"

/*
 * The checks run on every line the targets make: they must cost little.
 * Keys are compared by hand, not by strcmp(), which libFuzzer intercepts
 * to learn from; jansson's nodes come from an arena emptied after each
 * line, not from ASan's allocator (a fifth of the flow target's time).
 */
static _Alignas(16) unsigned char arena[1 << 20];
static size_t arena_used;

static void *arena_malloc(size_t n)
{
	void *p;

	n = (n + 15) & ~(size_t)15;
	if (arena_used + n > sizeof(arena))
		return malloc(n);
	p = arena + arena_used;
	arena_used += n;
	return p;
}

static void arena_free(void *p)
{
	if (p && ((unsigned char *)p < arena || (unsigned char *)p >= arena + sizeof(arena)))
		free(p);
}

static bool eq(const char *a, const char *b)
{
	while (*a && *a == *b)
		a++, b++;
	return *a == *b;
}

static const char *const time_keys[] = { "time", "start", "end", "entered", "handoff", "exited", "since" };

static bool is_time_key(const char *k)
{
	for (size_t i = 0; i < sizeof(time_keys) / sizeof(time_keys[0]); i++)
		if (eq(k, time_keys[i]))
			return true;
	return false;
}

/* 2026-11-25T10:00:00.123456Z, as README documents it */
static bool rfc3339_us(const char *s)
{
	static const char shape[] = "dddd-dd-ddTdd:dd:dd.ddddddZ";

	if (strlen(s) != sizeof(shape) - 1)
		return false;
	for (size_t i = 0; shape[i]; i++) {
		if (shape[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != shape[i])
			return false;
	}
	return true;
}

static bool ends_with(const char *s, const char *end)
{
	size_t n = strlen(s), e = strlen(end);

	return n >= e && !memcmp(s + n - e, end, e);
}

/* A time span (a key ending in _us, or a member of durations_us): never
 * negative (but a segment's at_us, before the flow's start when
 * reordered), and within what a monotonic clock can span
 * (SF_TS_MAX): a difference taken the wrong way round would show as
 * some 1.8e16 us. */
static void check_span(const char *k, const json_t *m, bool in_durations, const char *line)
{
	double v, max = 4611686018427387.904; /* 2^62 ns in us */

	if (!json_is_number(m) || (!in_durations && !ends_with(k, "_us")))
		return;
	v = json_number_value(m);
	if (v >= max || v <= -max || (v < 0 && !eq(k, "at_us")))
		FUZZ_FAIL("\"%s\": %.0f is no time span: %s", k, v, line);
}

static void check_value(const json_t *v, bool in_durations, const char *line)
{
	const char *k;
	json_t *m;
	size_t i;

	if (json_is_array(v)) {
		json_array_foreach(v, i, m)
			check_value(m, false, line);
		return;
	}
	if (!json_is_object(v))
		return;
	json_object_foreach((json_t *)v, k, m) {
		if (is_time_key(k) && json_is_string(m) && !rfc3339_us(json_string_value(m)))
			FUZZ_FAIL("\"%s\" is not an RFC 3339 time: %s", k, line);
		check_span(k, m, in_durations, line);
		check_value(m, eq(k, "durations_us"), line);
	}
}

void fuzz_check_line(const char *buf, size_t len)
{
	json_error_t err;
	json_t *v;
	char *line;

	if (!len || buf[len - 1] != '\n' || memchr(buf, '\n', len - 1))
		FUZZ_FAIL("not one line: %.*s", (int)len, buf);
	line = strndup(buf, len - 1);
	if (!line)
		abort();
	/* integers as reals: a u64 past INT64_MAX is valid JSON, which
	 * jansson's integers could not hold. (The code under test may use
	 * jansson too: its allocations stay ASan's.) */
	json_set_alloc_funcs(arena_malloc, arena_free);
	v = json_loadb(buf, len - 1, JSON_REJECT_DUPLICATES | JSON_DECODE_INT_AS_REAL, &err);
	if (!v)
		FUZZ_FAIL("invalid JSON (%s at column %d): %s", err.text, err.column, line);
	if (!json_is_object(v) || !json_is_string(json_object_get(v, "type")))
		FUZZ_FAIL("not a record object with a type: %s", line);
	check_value(v, false, line);
	json_decref(v);
	json_set_alloc_funcs(malloc, free);
	arena_used = 0;
	free(line);
}
