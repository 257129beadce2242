// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "json.h"

static bool reserve(struct json *j, size_t more)
{
	size_t cap;
	char *p;

	if (j->oom)
		return false;
	if (j->len + more <= j->cap)
		return true;
	cap = j->cap ? j->cap : 1024;
	while (cap < j->len + more)
		cap *= 2;
	p = realloc(j->buf, cap);
	if (!p) {
		j->oom = true;
		return false;
	}
	j->buf = p;
	j->cap = cap;
	return true;
}

static inline void put(struct json *j, const char *s, size_t n)
{
	if (j->len + n > j->cap && !reserve(j, n))
		return;
	memcpy(j->buf + j->len, s, n);
	j->len += n;
}

static inline void putc_(struct json *j, char c)
{
	if (j->len + 1 > j->cap && !reserve(j, 1))
		return;
	j->buf[j->len++] = c;
}

/* digits of v, written backwards into the end of buf; returns the start */
static char *u64_digits(char *end, uint64_t v)
{
	do {
		*--end = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	return end;
}

void json__reset(struct json *j)
{
	j->len = 0;
	j->depth = 0;
	j->need_comma[0] = false;
	j->oom = false;
}

void json__free(struct json *j)
{
	if (!j)
		return;
	free(j->buf);
	memset(j, 0, sizeof(*j));
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	unsigned int c = s[0];
	size_t len, i;
	unsigned int cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		len = 2, cp = c & 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3, cp = c & 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4, cp = c & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	/* overlong forms, surrogates and values past U+10FFFF */
	if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

void json__escape(struct json *j, const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0, l;
	char tmp[8];

	while (i < n) {
		unsigned char c = s[i];
		size_t run = i;

		/* the common case: a run of plain printable ASCII, in one copy */
		while (run < n && s[run] >= 0x20 && s[run] < 0x7f && s[run] != '"' && s[run] != '\\')
			run++;
		if (run > i) {
			put(j, (const char *)s + i, run - i);
			i = run;
			continue;
		}
		switch (c) {
		case '"':
			put(j, "\\\"", 2);
			break;
		case '\\':
			put(j, "\\\\", 2);
			break;
		case '\n':
			put(j, "\\n", 2);
			break;
		case '\r':
			put(j, "\\r", 2);
			break;
		case '\t':
			put(j, "\\t", 2);
			break;
		default:
			if (c < 0x20 || c == 0x7f) {
				snprintf(tmp, sizeof(tmp), "\\u%04x", c);
				put(j, tmp, 6);
			} else if (c < 0x80) {
				putc_(j, (char)c);
			} else if ((l = utf8_len(s + i, n - i))) {
				put(j, (const char *)s + i, l);
				i += l;
				continue;
			} else {
				put(j, "\\ufffd", 6);
			}
		}
		i++;
	}
}

static void key_(struct json *j, const char *key)
{
	if (j->need_comma[j->depth])
		putc_(j, ',');
	j->need_comma[j->depth] = true;
	if (key) {
		/* keys are this program's own literals: no escaping needed */
		size_t n = strlen(key);

		putc_(j, '"');
		put(j, key, n);
		put(j, "\":", 2);
	}
}

static void open_(struct json *j, const char *key, char c)
{
	key_(j, key);
	putc_(j, c);
	if (j->depth + 1 < JSON_MAX_DEPTH)
		j->depth++;
	j->need_comma[j->depth] = false;
}

void json__obj_open(struct json *j, const char *key)
{
	open_(j, key, '{');
}

void json__arr_open(struct json *j, const char *key)
{
	open_(j, key, '[');
}

void json__obj_close(struct json *j)
{
	putc_(j, '}');
	if (j->depth)
		j->depth--;
}

void json__arr_close(struct json *j)
{
	putc_(j, ']');
	if (j->depth)
		j->depth--;
}

void json__strn(struct json *j, const char *key, const char *s, size_t n)
{
	key_(j, key);
	putc_(j, '"');
	json__escape(j, s, n);
	putc_(j, '"');
}

void json__str_safe(struct json *j, const char *key, const char *s, size_t n)
{
	key_(j, key);
	putc_(j, '"');
	put(j, s, n);
	putc_(j, '"');
}

void json__str(struct json *j, const char *key, const char *s)
{
	if (!s) {
		json__null(j, key);
		return;
	}
	json__strn(j, key, s, strlen(s));
}

void json__u64(struct json *j, const char *key, uint64_t v)
{
	char tmp[24], *p = u64_digits(tmp + sizeof(tmp), v);

	key_(j, key);
	put(j, p, (size_t)(tmp + sizeof(tmp) - p));
}

void json__i64(struct json *j, const char *key, int64_t v)
{
	char tmp[24], *p = u64_digits(tmp + sizeof(tmp), v < 0 ? -(uint64_t)v : (uint64_t)v);

	if (v < 0)
		*--p = '-';
	key_(j, key);
	put(j, p, (size_t)(tmp + sizeof(tmp) - p));
}

void json__dbl(struct json *j, const char *key, double v)
{
	char tmp[32];
	int n = snprintf(tmp, sizeof(tmp), "%.3f", v);

	key_(j, key);
	put(j, tmp, (size_t)n);
}

void json__bool(struct json *j, const char *key, bool v)
{
	key_(j, key);
	if (v)
		put(j, "true", 4);
	else
		put(j, "false", 5);
}

void json__null(struct json *j, const char *key)
{
	key_(j, key);
	put(j, "null", 4);
}

void json__newline(struct json *j)
{
	putc_(j, '\n');
	j->need_comma[j->depth] = false;
}
