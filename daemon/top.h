/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* synfin top: the live view (top.c); its model is top_model.h. */
#ifndef SYNFIN_TOP_H
#define SYNFIN_TOP_H

#include <stdbool.h>

struct top_model;

/* argv[0] is "top". An exit status. */
int top__main(int argc, char **argv);

/* The full-screen view (top.c), for whichever loop drives it: a request
 * line to ask (its answer goes to the model the caller feeds). */
typedef void (*top_ask_fn)(void *ctx, const char *req);
struct top_screen;
/* The terminal taken (ncurses); NULL: no memory. */
struct top_screen *top_screen__start(struct top_model *m, top_ask_fn ask, void *ctx);
/* Ask what is due, draw what changed: call often (5 times a second). */
void top_screen__tick(struct top_screen *sc);
/* The keys typed (stdin readable): false when one said quit. */
bool top_screen__keys(struct top_screen *sc);
void top_screen__connected(struct top_screen *sc, bool up);
/* The terminal restored. Accepts NULL. */
void top_screen__end(struct top_screen *sc);

/* top_standalone.c: --standalone, the capture in this process; argv: more
 * daemon options (synfin top --standalone -- --netns PATH). An exit status. */
int top_standalone__run(bool once, int argc, char **argv);

#endif
