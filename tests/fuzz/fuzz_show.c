// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * libFuzzer target: `synfin show`'s input, JSON Lines anyone can hand it,
 * read back (flowrec.c) and drawn (ladder.c) as show.c does: every flow
 * record alone, and with the one before it when they are the two ends of
 * one connection. The first byte picks the style (bit 0 ASCII, bit 1
 * colours). The diagram must not drive the terminal: no control byte but
 * the newline, and escape sequences only as the colours it asked for.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "flowrec.h"
#include "json_check.h"
#include "ladder.h"

#define MAX_LINES 8

/* an SGR sequence, ESC [ digits and ';' m, at p; its length or 0 */
static size_t sgr_len(const char *p, size_t n)
{
	size_t i = 2;

	if (n < 3 || p[0] != 0x1b || p[1] != '[')
		return 0;
	while (i < n && ((p[i] >= '0' && p[i] <= '9') || p[i] == ';'))
		i++;
	return i < n && p[i] == 'm' ? i + 1 : 0;
}

static void check_drawing(const char *buf, size_t n, bool color)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)buf[i];
		size_t k;

		if (c == '\n' || (c >= 0x20 && c != 0x7f))
			continue;
		if (c == 0x1b && color && (k = sgr_len(buf + i, n - i))) {
			i += k - 1;
			continue;
		}
		FUZZ_FAIL("show: control byte 0x%02x at %zu of the drawing:\n%.*s", c, i, (int)n, buf);
	}
}

static void draw(const struct flowrec *a, const struct flowrec *b, const struct ladder_style *st)
{
	char *buf = NULL;
	size_t n = 0;
	FILE *out = open_memstream(&buf, &n);

	if (!out)
		abort();
	ladder__draw(out, a, b, st);
	fclose(out);
	check_drawing(buf, n, st->color);
	free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct flowrec recs[MAX_LINES];
	struct ladder_style st;
	const char *p, *end;
	char err[160];
	int n = 0;

	if (!size)
		return 0;
	st.ascii = data[0] & 1;
	st.color = data[0] & 2;
	p = (const char *)data + 1;
	end = (const char *)data + size;
	while (p < end && n < MAX_LINES) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = (size_t)((nl ? nl : end) - p);

		if (flowrec__parse(p, len, &recs[n], err, sizeof(err)) == FLOWREC_FLOW) {
			draw(&recs[n], NULL, &st);
			if (n && flowrec__mirrors(&recs[n - 1], &recs[n]))
				draw(&recs[n - 1], &recs[n], &st);
			n++;
		}
		p += len + 1;
	}
	return 0;
}
