// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * synfin top --standalone: the capture in this process, no daemon, no
 * socket. The daemon runs as ever (daemon__run: BPF, hooks, its loop);
 * once it captures, top joins its loop: an output in its registry feeds
 * the model the records any socket client would read (the greeting
 * first), requests are answered by a direct call, and the keyboard and
 * the redraw are two more sources of the same loop.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>
#include "daemon.h"
#include "loop.h"
#include "top.h"
#include "top_model.h"

/* the keyboard is read and the screen redrawn this often at most */
#define TICK_NS 200000000ULL

struct standalone {
	struct output base;	/* first: the registry holds &base */
	struct daemon *d;
	struct top_model m;
	struct top_screen *scr;
	struct json j;
	bool once;
	int saved_stderr;	/* the daemon's warnings must not draw over the screen */
};

/* What j holds, line by line, into the model. */
static void feed(struct standalone *s)
{
	char *p = s->j.buf, *end = s->j.buf + s->j.len, *nl;

	while (p < end && (nl = memchr(p, '\n', (size_t)(end - p)))) {
		top_model__line(&s->m, p, (size_t)(nl - p));
		p = nl + 1;
	}
	json__reset(&s->j);
}

static int out_write(struct output *o, const struct sf_record *rec)
{
	struct standalone *s = (struct standalone *)o;

	record_json__record(&s->j, rec, &s->d->clk);
	feed(s);
	return 0;
}

static int out_nothing(struct output *o)
{
	(void)o;
	return 0;
}

static void out_close(struct output *o)
{
	json__free(&((struct standalone *)o)->j);
}

static const struct output_ops top_ops = {
	.write = out_write,
	.flush = out_nothing,
	.reopen = out_nothing,
	.close = out_close,
};

static void ask(void *ctx, const char *req)
{
	struct standalone *s = ctx;

	query__answer(s->d, req, strlen(req), &s->j);
	feed(s);
}

static int on_keys(struct loop *l, int fd, uint32_t events, void *ctx)
{
	struct standalone *s = ctx;

	(void)fd;
	/* the terminal went away (SIGHUP is the daemon's: it reopens files) */
	if ((events & (EPOLLHUP | EPOLLERR)) || !top_screen__keys(s->scr))
		loop__stop(l, 0);
	else
		top_screen__tick(s->scr);
	return 0;
}

static int on_tick(struct loop *l, uint64_t expirations, void *ctx)
{
	struct standalone *s = ctx;

	(void)l, (void)expirations;
	top_screen__tick(s->scr);
	return 0;
}

/* --once: the snapshot once the loop runs (stopping it before it runs
 * would not stop it), then the way out */
static int once_now(struct loop *l, uint64_t expirations, void *ctx)
{
	struct standalone *s = ctx;

	(void)expirations;
	ask(s, "{\"get\":\"top\"}");
	top_model__render(&s->m, stdout, NULL, 200);
	fflush(stdout);
	loop__stop(l, 0);
	return 0;
}

static int ready(struct daemon *d, void *ctx)
{
	struct standalone *s = ctx;
	int null;

	s->d = d;
	serve__greet(d, &s->j);
	feed(s);
	s->base.ops = &top_ops;
	s->base.name = "synfin top";
	s->base.watch_fd = -1;
	s->base.on_error = OUTPUT_ON_ERROR_DROP;
	outputs__add(d->outputs, &s->base);
	if (s->once)
		return loop__add_timer(d->loop, 1, 0, once_now, s, NULL) ? EXIT_RUNTIME : 0;
	s->scr = top_screen__start(&s->m, ask, s);
	if (!s->scr || loop__add_fd(d->loop, STDIN_FILENO, EPOLLIN, on_keys, s, NULL) ||
	    loop__add_timer(d->loop, TICK_NS, TICK_NS, on_tick, s, NULL)) {
		pr_err("synfin top: cannot watch the terminal");
		return EXIT_RUNTIME;
	}
	null = open("/dev/null", O_WRONLY | O_CLOEXEC);
	s->saved_stderr = dup(STDERR_FILENO);
	if (null >= 0 && s->saved_stderr >= 0)
		dup2(null, STDERR_FILENO);
	if (null >= 0)
		close(null);
	top_screen__tick(s->scr);
	return 0;
}

int top_standalone__run(bool once, int argc, char **argv)
{
	/* the daemon as `synfin top` needs it: no socket, no log, the
	 * counters every second, no summaries (top has its own panels);
	 * then the caller's daemon options (--netns...) */
	const char *fixed[] = { "synfin", "--no-socket", "-o", "/dev/null", "-q", "-i", "1", "--summary-interval", "0" };
	int n = (int)(sizeof(fixed) / sizeof(fixed[0]));
	char **av = calloc((size_t)(n + argc + 1), sizeof(*av));
	struct standalone *s = calloc(1, sizeof(*s));
	struct daemon d = {};
	int rc;

	if (!s || !av) {
		free(s);
		free(av);
		fprintf(stderr, "synfin top: out of memory\n");
		return EXIT_RUNTIME;
	}
	memcpy(av, fixed, sizeof(fixed));
	memcpy(av + n, argv, sizeof(*argv) * (size_t)argc);
	s->once = once;
	s->saved_stderr = -1;
	top_model__init(&s->m);
	rc = options__parse(&d.o, n + argc, av);
	if (!rc) {
		log__set_level(d.o.log_level);
		d.on_ready = ready;
		d.on_ready_ctx = s;
		rc = daemon__run(&d);
	}
	top_screen__end(s->scr);
	if (s->saved_stderr >= 0) {
		dup2(s->saved_stderr, STDERR_FILENO);
		close(s->saved_stderr);
	}
	top_model__free(&s->m);
	free(s);
	free(av);
	return rc;
}
