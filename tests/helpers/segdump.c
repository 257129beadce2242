// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * segdump: the segment capture alone, for tests. Loads bpf/segment.bpf.c
 * with its own ring buffer, attaches tc clsact to every interface that is
 * up in one network namespace (and to those that come up later), prints
 * one line per segment event until SIGINT/SIGTERM, then detaches
 * everything and exits 0.
 *
 *   segdump /var/run/netns/NAME
 *
 * stdout: "ready attached=N stale=N netns=INODE cookie=C", then per event
 *   seg dir=in|eg if=IFINDEX flags=SA seq=N ack=N win=N src=ADDR sport=N
 *       dst=ADDR dport=N payload=N netns=INODE
 * (one line), and at the end "done events=N rb_full=N".
 * Exit: 0 ok, 1 failure (reason on stderr), 2 bad arguments.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <bpf/libbpf.h>
#include "ring.h"
#include "tc.h"

static volatile sig_atomic_t stop;
static unsigned long long n_events;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list args)
{
	if (level == LIBBPF_DEBUG)
		return 0;
	return vfprintf(stderr, fmt, args);
}

static void flag_letters(unsigned int f, char *out)
{
	static const char letters[] = "FSRPAUEC"; /* bit 0 .. bit 7 */
	int n = 0;

	for (int i = 0; i < 8; i++)
		if (f & (1u << i))
			out[n++] = letters[i];
	if (!n)
		out[n++] = '.';
	out[n] = 0;
}

static void on_event(void *ctx, const void *data, size_t size)
{
	const struct synfin_event *e = data;
	const struct tc *t = ctx;
	char src[INET6_ADDRSTRLEN], dst[INET6_ADDRSTRLEN], flags[9];

	if (size < sizeof(*e) || e->kind != SF_EV_SEGMENT)
		return;
	inet_ntop(e->family, e->saddr, src, sizeof(src));
	inet_ntop(e->family, e->daddr, dst, sizeof(dst));
	flag_letters(e->seg.tcp_flags, flags);
	printf("seg dir=%s if=%u flags=%s seq=%u ack=%u win=%u src=%s sport=%u dst=%s dport=%u payload=%u netns=%u\n",
	       e->seg.dir == SF_DIR_INGRESS ? "in" : "eg", e->seg.ifindex, flags, e->seg.seq,
	       e->seg.ack, e->seg.window, src, e->sport, dst, e->dport, e->seg.payload,
	       tc__netns_inode(t, e->cookie));
	n_events++;
}

int main(int argc, char **argv)
{
	struct tc_opts o = { .events_fd = -1, .counters_fd = -1, .ring_bytes = 1 << 22 };
	struct sigaction sa = { .sa_handler = on_signal };
	uint64_t cnt[SF_CNT_MAX];
	struct rings *rb;
	struct tc *t = NULL;
	int err, rc = 1;

	if (argc != 2 || argv[1][0] == '-') {
		fprintf(stderr, "usage: segdump NETNS-PATH   (e.g. /var/run/netns/NAME)\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	libbpf_set_print(libbpf_print);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	err = tc__open(&t, &o);
	if (err) {
		fprintf(stderr, "segdump: loading the segment programs failed: %s\n", strerror(-err));
		goto out;
	}
	err = tc__attach_netns(t, argv[1]);
	if (err < 0) {
		fprintf(stderr, "segdump: attaching in %s failed: %s (%s)\n", argv[1], strerror(-err),
			tc__describe(t));
		goto out;
	}
	rb = tc__rings(t); /* own rings: o.events_fd is -1 */
	printf("ready attached=%d stale=%d %s\n", tc__n_attached(t), tc__n_stale_removed(t),
	       tc__describe(t));

	while (!stop) {
		struct pollfd p = { .fd = tc__netlink_fd(t), .events = POLLIN };

		/* events are submitted without wake-up: drain on a timer */
		if (poll(&p, 1, 50) > 0) {
			err = tc__handle_netlink(t);
			if (err > 0)
				printf("attached %d more: %s\n", err, tc__describe(t));
			else if (err < 0)
				fprintf(stderr, "segdump: following interfaces: %s\n", strerror(-err));
		}
		while (rings__poll(rb, 0, 65536, on_event, t) == 65536)
			;
	}
	while (rings__poll(rb, 0, 65536, on_event, t) == 65536)
		;
	tc__counters(t, cnt);
	printf("done events=%llu rb_full=%llu\n", n_events, (unsigned long long)cnt[SF_CNT_RB_FULL]);
	rc = 0;
out:
	tc__close(t);
	return rc;
}
