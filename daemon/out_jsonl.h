/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The JSON Lines output: records formatted by record_json.c, written in
 * batches (one write(2) per drain cycle, not one per line) to a file
 * (appended) or to stdout.
 */
#ifndef SYNFIN_OUT_JSONL_H
#define SYNFIN_OUT_JSONL_H

#include "output.h"
#include "record_json.h"

/* path: a file, opened for appending (created 0640); "-" or NULL:
 * stdout. 0 or -errno. */
int out_jsonl__open(struct output **o, const char *path, const struct sf_clock *clk);

#endif /* SYNFIN_OUT_JSONL_H */
