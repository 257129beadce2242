// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* The daemon's event loop: timers, fds, LOOP_AGAIN, removal mid-turn,
 * signals through a signalfd, the turn-end hook, errors. */
#include <signal.h>
#include <sys/epoll.h>
#include "unit.h"
#include "loop.h"

struct counts {
	int calls;
	int stop_after;
	uint64_t last;
	struct loop_source *other;
};

static int count_timer(struct loop *l, uint64_t n, void *ctx)
{
	struct counts *c = ctx;

	c->last = n;
	if (++c->calls == c->stop_after)
		loop__stop(l, 42);
	return 0;
}

TEST(loop_timer_repeats_and_stop_returns_its_rc)
{
	struct loop *l;
	struct counts c = { .stop_after = 3 };

	EXPECT(!loop__new(&l));
	EXPECT(!loop__add_timer(l, 1000000, 2000000, count_timer, &c, NULL));
	EXPECT(loop__run(l) == 42);
	EXPECT(c.calls == 3 && c.last >= 1);
	loop__free(l);
}

static int again_twice(struct loop *l, int fd, uint32_t events, void *ctx)
{
	struct counts *c = ctx;
	char b;

	(void)l;
	/* the first call is the fd's; the next two come without waiting */
	if (c->calls++ == 0) {
		if (!(events & EPOLLIN) || read(fd, &b, 1) != 1)
			return -EIO;
	}
	return c->calls < 3 ? LOOP_AGAIN : 0;
}

static int stop_now(struct loop *l, uint64_t n, void *ctx)
{
	(void)n, (void)ctx;
	loop__stop(l, 0);
	return 0;
}

TEST(loop_again_calls_back_without_an_event)
{
	struct loop *l;
	struct counts c = {};
	int p[2];

	EXPECT(!pipe(p));
	EXPECT(write(p[1], "x", 1) == 1);
	EXPECT(!loop__new(&l));
	EXPECT(!loop__add_fd(l, p[0], EPOLLIN, again_twice, &c, NULL));
	/* long enough for the three calls, then the end */
	EXPECT(!loop__add_timer(l, 50000000, 0, stop_now, NULL, NULL));
	EXPECT(loop__run(l) == 0);
	EXPECT(c.calls == 3);
	loop__free(l);
	close(p[0]);
	close(p[1]);
}

static int remove_other(struct loop *l, int fd, uint32_t events, void *ctx)
{
	struct counts *c = ctx;

	(void)fd, (void)events;
	c->calls++;
	/* both fds are ready in this turn: whichever runs first removes
	 * the other, which must not run then */
	loop__remove(l, c->other);
	loop__stop(l, 0);
	return 0;
}

TEST(loop_source_removed_during_a_turn_is_not_called)
{
	struct loop *l;
	struct loop_source *a, *b;
	struct counts ca = {}, cb = {};
	int p[2], q[2];

	EXPECT(!pipe(p) && !pipe(q));
	EXPECT(write(p[1], "x", 1) == 1 && write(q[1], "x", 1) == 1);
	EXPECT(!loop__new(&l));
	EXPECT(!loop__add_fd(l, p[0], EPOLLIN, remove_other, &ca, &a));
	EXPECT(!loop__add_fd(l, q[0], EPOLLIN, remove_other, &cb, &b));
	ca.other = b;
	cb.other = a;
	EXPECT(loop__run(l) == 0);
	EXPECT(ca.calls + cb.calls == 1);
	loop__free(l);
	close(p[0]), close(p[1]), close(q[0]), close(q[1]);
}

static int got_signal(struct loop *l, int signo, void *ctx)
{
	*(int *)ctx = signo;
	loop__stop(l, 0);
	return 0;
}

static void turn_end(struct loop *l, void *ctx)
{
	(void)l;
	(*(int *)ctx)++;
}

TEST(loop_signal_through_signalfd_and_turn_end)
{
	struct loop *l;
	sigset_t set;
	int signo = 0, turns = 0;

	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	EXPECT(!loop__block_signals(&set));
	EXPECT(!loop__new(&l));
	EXPECT(!loop__add_signals(l, &set, got_signal, &signo, NULL));
	loop__on_turn_end(l, turn_end, &turns);
	EXPECT(!raise(SIGUSR2));
	EXPECT(loop__run(l) == 0);
	EXPECT(signo == SIGUSR2);
	EXPECT(turns == 1);
	loop__free(l);
}

static int fail_io(struct loop *l, uint64_t n, void *ctx)
{
	(void)l, (void)n, (void)ctx;
	return -EIO;
}

TEST(loop_callback_error_ends_the_run)
{
	struct loop *l;

	EXPECT(!loop__new(&l));
	EXPECT(!loop__add_timer(l, 1000000, 0, fail_io, NULL, NULL));
	EXPECT(loop__run(l) == -EIO);
	loop__free(l);
}

