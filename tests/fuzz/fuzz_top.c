// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * libFuzzer target: `synfin top`'s model (top_model.c) fed the JSON Lines
 * a live socket could carry, then its screen rendered. The first byte
 * picks the width (bits 0-5: 20 to 83 columns) and the filter (bits
 * 6-7). The screen must not drive the terminal (no control byte but the
 * newline: a comm is untrusted bytes).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "json_check.h"
#include "top_model.h"

static const char *const filters[4] = { NULL, "80", "curl", "10.0.0." };

/* (Its lines are not cut to width: top.c cuts them where it draws.) */
static void check_screen(const char *buf, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)buf[i];

		if (c != '\n' && (c < 0x20 || c == 0x7f))
			FUZZ_FAIL("top: control byte 0x%02x at %zu of the screen:\n%.*s", c, i, (int)n, buf);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct top_model m;
	const char *p, *end, *filter;
	char *buf = NULL;
	size_t n = 0;
	int width;
	FILE *out;

	if (!size)
		return 0;
	width = 20 + (data[0] & 63);
	filter = filters[data[0] >> 6];
	top_model__init(&m);
	p = (const char *)data + 1;
	end = (const char *)data + size;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = (size_t)((nl ? nl : end) - p);

		top_model__line(&m, p, len);
		p += len + 1;
	}
	out = open_memstream(&buf, &n);
	if (!out)
		abort();
	top_model__render(&m, out, filter, width);
	fclose(out);
	check_screen(buf, n);
	free(buf);
	for (int i = 0; top_model__recent(&m, filter, i); i++)
		;
	top_model__free(&m);
	return 0;
}
