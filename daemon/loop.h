/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The daemon's event loop (epoll). Everything the live daemon waits on
 * is a source here: a file descriptor with a callback (the ring buffers'
 * epoll fd, tc's rtnetlink fd, a pipe whose reader may go away, later
 * listening sockets and their clients), a timer (timerfd: the drain
 * tick, stats, reconciliation, later the service watchdog) or a set of
 * signals (signalfd). Single-threaded; callbacks run one at a time and
 * may add or remove sources, their own included.
 *
 * Functions return 0 or -errno; nothing here logs.
 */
#ifndef SYNFIN_LOOP_H
#define SYNFIN_LOOP_H

#include <stdint.h>
#include <signal.h>

struct loop;
struct loop_source;

/* events: EPOLLIN, EPOLLERR... as epoll reported them. Return 0, or
 * LOOP_AGAIN to be called again on the next turn without waiting (work
 * is left: a budget ran out), or -errno to end the loop with it. */
#define LOOP_AGAIN 1
typedef int (*loop_fd_fn)(struct loop *l, int fd, uint32_t events, void *ctx);
/* expirations: how many periods passed since the last call (0 when it
 * is called again after returning LOOP_AGAIN). */
typedef int (*loop_timer_fn)(struct loop *l, uint64_t expirations, void *ctx);
typedef int (*loop_signal_fn)(struct loop *l, int signo, void *ctx);

int loop__new(struct loop **l);
/* Removes (and closes what it made of) every source. Accepts NULL. */
void loop__free(struct loop *l);

/* Watch fd (not closed by the loop) for events (EPOLLERR and EPOLLHUP
 * are always reported). */
int loop__add_fd(struct loop *l, int fd, uint32_t events, loop_fd_fn fn, void *ctx, struct loop_source **src);
/* A timer on CLOCK_MONOTONIC: first after first_ns (0: after one
 * interval), then every interval_ns (0: once). */
int loop__add_timer(struct loop *l, uint64_t first_ns, uint64_t interval_ns, loop_timer_fn fn, void *ctx,
		    struct loop_source **src);
/* Re-arm a timer (0, 0: disarm). */
int loop__timer_set(struct loop_source *src, uint64_t first_ns, uint64_t interval_ns);
/* Deliver these signals through the loop: they are blocked for the
 * process and read from a signalfd (the caller blocks them first,
 * before any thread exists, with loop__block_signals). */
int loop__add_signals(struct loop *l, const sigset_t *set, loop_signal_fn fn, void *ctx, struct loop_source **src);
int loop__block_signals(const sigset_t *set);
/* Stop watching; closes the fds the loop made (timers, signalfd).
 * Accepts NULL. */
void loop__remove(struct loop *l, struct loop_source *src);

/* Run until loop__stop() or a callback's error. Returns the value given
 * to loop__stop(), or the callback's -errno. */
int loop__run(struct loop *l);
/* End loop__run() after the current callback, with rc. */
void loop__stop(struct loop *l, int rc);

/* Called after each turn in which any source fired (e.g. to write what
 * the turn produced in one go). */
typedef void (*loop_turn_fn)(struct loop *l, void *ctx);
void loop__on_turn_end(struct loop *l, loop_turn_fn fn, void *ctx);

#endif /* SYNFIN_LOOP_H */
