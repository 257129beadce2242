// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include "loop.h"

enum src_type {
	SRC_FD,
	SRC_TIMER,
	SRC_SIGNAL,
};

struct loop_source {
	enum src_type type;
	int fd;
	bool own_fd;		/* made by the loop (timerfd, signalfd): closed with it */
	bool again;		/* asked to be called again without waiting */
	bool dead;		/* removed: freed once the turn is over */
	uint64_t turn;		/* the last turn it was called in */
	union {
		loop_fd_fn fd_fn;
		loop_timer_fn timer_fn;
		loop_signal_fn signal_fn;
	};
	void *ctx;
	struct loop_source *next;
};

#define LOOP_EVENTS 16

struct loop {
	int epfd;
	struct loop_source *sources;
	uint64_t turn;
	bool stopping;
	int rc;
	loop_turn_fn turn_fn;
	void *turn_ctx;
	struct epoll_event evs[LOOP_EVENTS];
};

int loop__new(struct loop **out)
{
	struct loop *l = calloc(1, sizeof(*l));
	int err;

	if (!l)
		return -ENOMEM;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0) {
		err = -errno;
		free(l);
		return err;
	}
	*out = l;
	return 0;
}

static void src_free(struct loop_source *s)
{
	if (s->own_fd)
		close(s->fd);
	free(s);
}

static void reap(struct loop *l)
{
	struct loop_source **p = &l->sources;

	while (*p) {
		struct loop_source *s = *p;

		if (s->dead) {
			*p = s->next;
			src_free(s);
		} else {
			p = &s->next;
		}
	}
}

void loop__free(struct loop *l)
{
	if (!l)
		return;
	while (l->sources) {
		struct loop_source *s = l->sources;

		l->sources = s->next;
		src_free(s);
	}
	close(l->epfd);
	free(l);
}

/* A source for fd; own: the loop made fd and closes it (also here, when
 * the source cannot be added). */
static int add(struct loop *l, enum src_type type, int fd, bool own, uint32_t events, void *ctx,
	       struct loop_source **out)
{
	int err = own && fd < 0 ? -errno : 0; /* the fd could not be made */
	struct loop_source *s = err ? NULL : calloc(1, sizeof(*s));
	struct epoll_event ev = { .events = events, .data.ptr = s };

	if (!err && !s)
		err = -ENOMEM;
	if (!err && epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev))
		err = -errno;
	if (err) {
		if (own && fd >= 0)
			close(fd);
		free(s);
		return err;
	}
	s->type = type;
	s->fd = fd;
	s->own_fd = own;
	s->ctx = ctx;
	s->next = l->sources;
	l->sources = s;
	*out = s;
	return 0;
}

int loop__add_fd(struct loop *l, int fd, uint32_t events, loop_fd_fn fn, void *ctx, struct loop_source **src)
{
	struct loop_source *s = NULL;
	int err = add(l, SRC_FD, fd, false, events, ctx, &s);

	if (err)
		return err;
	s->fd_fn = fn;
	if (src)
		*src = s;
	return 0;
}

static struct timespec ts_of(uint64_t ns)
{
	return (struct timespec){ .tv_sec = (time_t)(ns / 1000000000ULL), .tv_nsec = (long)(ns % 1000000000ULL) };
}

int loop__timer_set(struct loop_source *s, uint64_t first_ns, uint64_t interval_ns)
{
	struct itimerspec its = {
		.it_value = ts_of(first_ns ? first_ns : interval_ns),
		.it_interval = ts_of(interval_ns),
	};

	return timerfd_settime(s->fd, 0, &its, NULL) ? -errno : 0;
}

int loop__add_timer(struct loop *l, uint64_t first_ns, uint64_t interval_ns, loop_timer_fn fn, void *ctx,
		    struct loop_source **src)
{
	struct loop_source *s = NULL;
	int err = add(l, SRC_TIMER, timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC), true, EPOLLIN,
		      ctx, &s);

	if (err)
		return err;
	s->timer_fn = fn;
	err = loop__timer_set(s, first_ns, interval_ns);
	if (err) {
		loop__remove(l, s);
		return err;
	}
	if (src)
		*src = s;
	return 0;
}

int loop__block_signals(const sigset_t *set)
{
	return sigprocmask(SIG_BLOCK, set, NULL) ? -errno : 0;
}

int loop__add_signals(struct loop *l, const sigset_t *set, loop_signal_fn fn, void *ctx, struct loop_source **src)
{
	struct loop_source *s = NULL;
	int err = add(l, SRC_SIGNAL, signalfd(-1, set, SFD_NONBLOCK | SFD_CLOEXEC), true, EPOLLIN, ctx, &s);

	if (err)
		return err;
	s->signal_fn = fn;
	if (src)
		*src = s;
	return 0;
}

void loop__remove(struct loop *l, struct loop_source *s)
{
	if (!s || s->dead)
		return;
	epoll_ctl(l->epfd, EPOLL_CTL_DEL, s->fd, NULL);
	/* an event for it may still be waiting in this turn's list */
	s->dead = true;
	s->again = false;
}

void loop__stop(struct loop *l, int rc)
{
	l->stopping = true;
	l->rc = rc;
}

void loop__on_turn_end(struct loop *l, loop_turn_fn fn, void *ctx)
{
	l->turn_fn = fn;
	l->turn_ctx = ctx;
}

static int dispatch(struct loop *l, struct loop_source *s, uint32_t events)
{
	bool again = s->again;
	int rc = 0;

	s->turn = l->turn;
	s->again = false;
	switch (s->type) {
	case SRC_FD:
		rc = s->fd_fn(l, s->fd, events, s->ctx);
		break;
	case SRC_TIMER: {
		uint64_t n = 0;

		/* EAGAIN: re-armed since it fired, nothing is due (it may
		 * still have work left from its last call: n = 0) */
		if ((read(s->fd, &n, sizeof(n)) == sizeof(n) && n) || again)
			rc = s->timer_fn(l, n, s->ctx);
		break;
	}
	case SRC_SIGNAL: {
		struct signalfd_siginfo si;

		while (rc >= 0 && !s->dead && read(s->fd, &si, sizeof(si)) == sizeof(si))
			rc = s->signal_fn(l, (int)si.ssi_signo, s->ctx);
		break;
	}
	}
	if (rc == LOOP_AGAIN && !s->dead)
		s->again = true;
	return rc < 0 ? rc : 0;
}

int loop__run(struct loop *l)
{
	l->stopping = false;
	l->rc = 0;
	while (!l->stopping) {
		bool again = false;
		int n, err = 0;

		for (struct loop_source *s = l->sources; s; s = s->next)
			again |= s->again;
		n = epoll_wait(l->epfd, l->evs, LOOP_EVENTS, again ? 0 : -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		l->turn++;
		for (int i = 0; i < n && !err; i++) {
			struct loop_source *s = l->evs[i].data.ptr;

			if (!s->dead)
				err = dispatch(l, s, l->evs[i].events);
		}
		/* those with work left that did not fire this turn */
		for (struct loop_source *s = l->sources; s && !err; s = s->next)
			if (s->again && !s->dead && s->turn != l->turn)
				err = dispatch(l, s, 0);
		if (l->turn_fn && (n > 0 || again))
			l->turn_fn(l, l->turn_ctx);
		reap(l);
		if (err)
			return err;
	}
	return l->rc;
}
