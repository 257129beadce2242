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

#define JSON_MAX_DEPTH 16

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
void json__obj_open(struct json *j, const char *key);	/* key NULL: value */
void json__obj_close(struct json *j);
void json__arr_open(struct json *j, const char *key);
void json__arr_close(struct json *j);
void json__str(struct json *j, const char *key, const char *s);
void json__strn(struct json *j, const char *key, const char *s, size_t n);
/* A string this program made (timestamps, addresses, names): written as
 * is, without escaping. Never for untrusted bytes. */
void json__str_safe(struct json *j, const char *key, const char *s, size_t n);
void json__u64(struct json *j, const char *key, uint64_t v);
void json__i64(struct json *j, const char *key, int64_t v);
void json__dbl(struct json *j, const char *key, double v);
void json__bool(struct json *j, const char *key, bool v);
void json__null(struct json *j, const char *key);
void json__newline(struct json *j);
/* Escape n bytes as a JSON string body (no quotes) into j. */
void json__escape(struct json *j, const char *s, size_t n);

#endif /* SYNFIN_JSON_H */
