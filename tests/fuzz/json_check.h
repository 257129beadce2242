/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
#ifndef SYNFIN_JSON_CHECK_H
#define SYNFIN_JSON_CHECK_H

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

/* One JSON Lines record: exactly one '\n', at the end; an object that
 * jansson parses strictly (no duplicate keys, valid UTF-8, no NUL) with
 * a "type", every time field in the documented RFC 3339 form, and every
 * time span a plausible one. */
void fuzz_check_line(const char *buf, size_t len);

#define FUZZ_FAIL(...)                                 \
	do {                                           \
		fprintf(stderr, "fuzz check: " __VA_ARGS__); \
		fputc('\n', stderr);                   \
		abort();                               \
	} while (0)

#endif /* SYNFIN_JSON_CHECK_H */
