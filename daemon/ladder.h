/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The seed's two diagrams for one real connection: a ladder (sequence)
 * diagram with one end per column, one arrow per control segment (its
 * number 1-7, flags, seq/ack, the ack = seq+1 check, time), each end's
 * state changes beside its column with how long each lasted. What a
 * record infers or did not see is drawn as such, never as seen.
 *
 * Pure: draws parsed records (flowrec.h) into the FILE * it is given;
 * reads nothing, logs nothing, and does not care where records came from.
 */
#ifndef SYNFIN_LADDER_H
#define SYNFIN_LADDER_H

#include <stdbool.h>
#include <stdio.h>
#include "flowrec.h"

struct ladder_style {
	bool ascii;	/* ASCII only, no box drawing */
	bool color;	/* ANSI colours (the caller decides: a terminal, no NO_COLOR) */
};

/*
 * Draw one connection: a, and b when it is the other end of the same
 * connection (flowrec__mirrors), or NULL. Returns 0 or -EIO.
 */
int ladder__draw(FILE *out, const struct flowrec *a, const struct flowrec *b, const struct ladder_style *st);

#endif
