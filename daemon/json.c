// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "json.h"

const char json__pairs[200] = "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
			      "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
			      "8081828384858687888990919293949596979899";

bool json__grow(struct json *j, size_t more)
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
			json__put(j, (const char *)s + i, run - i);
			i = run;
			continue;
		}
		switch (c) {
		case '"':
			json__put(j, "\\\"", 2);
			break;
		case '\\':
			json__put(j, "\\\\", 2);
			break;
		case '\n':
			json__put(j, "\\n", 2);
			break;
		case '\r':
			json__put(j, "\\r", 2);
			break;
		case '\t':
			json__put(j, "\\t", 2);
			break;
		default:
			if (c < 0x20 || c == 0x7f) {
				snprintf(tmp, sizeof(tmp), "\\u%04x", c);
				json__put(j, tmp, 6);
			} else if (c < 0x80) {
				json__putc(j, (char)c);
			} else if ((l = utf8_len(s + i, n - i))) {
				json__put(j, (const char *)s + i, l);
				i += l;
				continue;
			} else {
				json__put(j, "\\ufffd", 6);
			}
		}
		i++;
	}
}

void json__strn(struct json *j, const char *key, const char *s, size_t n)
{
	json__key(j, key);
	json__putc(j, '"');
	json__escape(j, s, n);
	json__putc(j, '"');
}

void json__dbl(struct json *j, const char *key, double v)
{
	char tmp[32];
	int n = snprintf(tmp, sizeof(tmp), "%.3f", v);

	json__key(j, key);
	json__put(j, tmp, (size_t)n);
}

