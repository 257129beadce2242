/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * A tiny JSON writer into a growable buffer. Pure: no I/O.
 * Commas are inserted automatically; the caller only opens, closes and
 * names things. Strings are treated as untrusted bytes: quotes,
 * backslashes and control characters are escaped and invalid UTF-8 is
 * replaced by U+FFFD, so the output is always valid JSON.
 */
#ifndef SYNFIN_JSON_H
#define SYNFIN_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define JSON_MAX_DEPTH 16
/* inlined at each call, so a literal key folds to a fixed-size copy */
#define JSON_INLINE static inline __attribute__((always_inline))

struct json {
	char *buf;
	size_t len;
	size_t cap;
	int depth;
	bool need_comma[JSON_MAX_DEPTH];
	bool oom;		/* an allocation failed: output is truncated */
};

void json__reset(struct json *j);
void json__free(struct json *j);
/* Room for more bytes; false (and oom set) when it cannot be had. */
bool json__grow(struct json *j, size_t more);
/* Escape n bytes as a JSON string body (no quotes) into j. */
void json__escape(struct json *j, const char *s, size_t n);
void json__strn(struct json *j, const char *key, const char *s, size_t n);
void json__dbl(struct json *j, const char *key, double v);

/*
 * The writers below are inline: keys are this program's literals, so
 * their length folds to a constant and each key is a fixed-size copy.
 * A key is never escaped (it must not need it); NULL means "a value in
 * an array".
 */
JSON_INLINE bool json__room(struct json *j, size_t more)
{
	return j->len + more <= j->cap || json__grow(j, more);
}

JSON_INLINE void json__put(struct json *j, const char *s, size_t n)
{
	if (!json__room(j, n))
		return;
	memcpy(j->buf + j->len, s, n);
	j->len += n;
}

JSON_INLINE void json__putc(struct json *j, char c)
{
	if (!json__room(j, 1))
		return;
	j->buf[j->len++] = c;
}

/* the separator and "key": before a value */
JSON_INLINE void json__key(struct json *j, const char *key)
{
	size_t n = key ? strlen(key) : 0;
	char *p;

	if (!json__room(j, n + 4))
		return;
	p = j->buf + j->len;
	if (j->need_comma[j->depth])
		*p++ = ',';
	j->need_comma[j->depth] = true;
	if (key) {
		*p++ = '"';
		memcpy(p, key, n);
		p += n;
		*p++ = '"';
		*p++ = ':';
	}
	j->len = (size_t)(p - j->buf);
}

JSON_INLINE void json__open_(struct json *j, const char *key, char c)
{
	json__key(j, key);
	json__putc(j, c);
	if (j->depth + 1 < JSON_MAX_DEPTH)
		j->depth++;
	j->need_comma[j->depth] = false;
}

JSON_INLINE void json__obj_open(struct json *j, const char *key)
{
	json__open_(j, key, '{');
}

JSON_INLINE void json__arr_open(struct json *j, const char *key)
{
	json__open_(j, key, '[');
}

JSON_INLINE void json__close_(struct json *j, char c)
{
	json__putc(j, c);
	if (j->depth)
		j->depth--;
}

JSON_INLINE void json__obj_close(struct json *j)
{
	json__close_(j, '}');
}

JSON_INLINE void json__arr_close(struct json *j)
{
	json__close_(j, ']');
}

/* A string this program made (timestamps, addresses, names): written as
 * is, without escaping. Never for untrusted bytes. */
JSON_INLINE void json__str_safe(struct json *j, const char *key, const char *s, size_t n)
{
	json__key(j, key);
	if (!json__room(j, n + 2))
		return;
	j->buf[j->len++] = '"';
	memcpy(j->buf + j->len, s, n);
	j->len += n;
	j->buf[j->len++] = '"';
}

JSON_INLINE void json__null(struct json *j, const char *key)
{
	json__key(j, key);
	json__put(j, "null", 4);
}

/* One of this program's own string literals (or NULL: null). */
JSON_INLINE void json__lit(struct json *j, const char *key, const char *s)
{
	if (s)
		json__str_safe(j, key, s, strlen(s));
	else
		json__null(j, key);
}

/* Untrusted (or unknown) bytes, NUL-terminated: escaped; NULL: null. */
JSON_INLINE void json__str(struct json *j, const char *key, const char *s)
{
	if (s)
		json__strn(j, key, s, strlen(s));
	else
		json__null(j, key);
}

extern const char json__pairs[200];	/* "00".."99" */

JSON_INLINE void json__digits(struct json *j, uint64_t v, bool neg)
{
	/* backwards into the end of tmp, then one fixed-size copy out */
	char tmp[48], *p = tmp + 24;
	size_t n;

	while (v >= 100) {
		p -= 2;
		memcpy(p, json__pairs + (v % 100) * 2, 2);
		v /= 100;
	}
	if (v >= 10) {
		p -= 2;
		memcpy(p, json__pairs + v * 2, 2);
	} else {
		*--p = (char)('0' + v);
	}
	if (neg)
		*--p = '-';
	n = (size_t)(tmp + 24 - p);
	if (!json__room(j, 24))
		return;
	memcpy(j->buf + j->len, p, 24);
	j->len += n;
}

JSON_INLINE void json__u64(struct json *j, const char *key, uint64_t v)
{
	json__key(j, key);
	json__digits(j, v, false);
}

JSON_INLINE void json__i64(struct json *j, const char *key, int64_t v)
{
	json__key(j, key);
	json__digits(j, v < 0 ? -(uint64_t)v : (uint64_t)v, v < 0);
}

JSON_INLINE void json__bool(struct json *j, const char *key, bool v)
{
	json__key(j, key);
	if (v)
		json__put(j, "true", 4);
	else
		json__put(j, "false", 5);
}

JSON_INLINE void json__newline(struct json *j)
{
	json__putc(j, '\n');
	j->need_comma[j->depth] = false;
}

#endif /* SYNFIN_JSON_H */
