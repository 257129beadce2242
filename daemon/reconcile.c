// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The kernel's own socket list (sock_diag), read at start-up (the
 * snapshot: connections that existed before synfin) and every
 * --reconcile-interval (half-open requests, TIME_WAIT counts, flows that
 * vanished unseen). A round over 100k sockets takes a while: the rings
 * keep being drained meanwhile, into a backlog that goes into the table
 * once the round is over.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include "capture.h"
#include "daemon.h"
#include "netns.h"
#include "pileup.h"
#include "procowner.h"
#include "sockdiag.h"

#define BACKLOG_MAX (64u << 20)

struct sockvec {
	struct sf_snapshot_sock *v;
	int n, cap;
	__u32 netns;
	struct daemon *d;	/* rings to keep draining meanwhile, or NULL */
};

void backlog__push(struct backlog *b, const struct synfin_event *e)
{
	/* pump_rings() stops before this can fill up */
	if (b->len + sizeof(*e) <= b->cap) {
		memcpy(b->buf + b->len, e, sizeof(*e));
		b->len += sizeof(*e);
	}
}

void backlog__free(struct backlog *b)
{
	if (b->buf)
		munmap(b->buf, BACKLOG_MAX);
	b->buf = NULL;
}

/* Drain the rings into the backlog (while a round reads the sockets). */
static void pump_rings(struct daemon *d)
{
	struct backlog *b = &d->backlog;

	if (!d->cap)
		return;
	if (!b->buf) {
		/* page-aligned (madvise gives a burst's pages back), and only
		 * what is written to costs memory */
		void *p = mmap(NULL, BACKLOG_MAX, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
			       -1, 0);

		if (p == MAP_FAILED)
			return;
		b->buf = p;
		b->cap = BACKLOG_MAX;
	}
	b->holding = true;
	/* stop while one more full poll still fits */
	while (b->cap - b->len >= CAPTURE_POLL_BUDGET * sizeof(struct synfin_event) &&
	       capture__poll(d->cap, 0) == CAPTURE_POLL_BUDGET)
		;
	b->holding = false;
}

/* The events read during the round, in order, as if read now. */
static void drain_backlog(struct daemon *d)
{
	struct backlog *b = &d->backlog;
	size_t used = b->len;

	for (size_t off = 0; off < used; off += sizeof(struct synfin_event))
		daemon__ingest(d, (const struct synfin_event *)(b->buf + off));
	b->len = 0;
	/* a burst's worth of pages goes back to the system */
	if (used > (1u << 20))
		madvise(b->buf, used, MADV_DONTNEED);
}

static void collect(void *ctx, const struct sf_snapshot_sock *s)
{
	struct sockvec *sv = ctx;

	if (sv->d && (sv->n & 2047) == 2047)
		pump_rings(sv->d);

	if (sv->n == sv->cap) {
		int cap = sv->cap ? sv->cap * 2 : 1024;
		struct sf_snapshot_sock *p = realloc(sv->v, sizeof(*p) * cap);

		if (!p)
			return;
		sv->v = p;
		sv->cap = cap;
	}
	sv->v[sv->n++] = *s;
}

static int dump_here(void *ctx)
{
	struct sockvec *sv = ctx;

	return sockdiag__dump(sv->netns, collect, sv);
}

int reconcile__watched_netns(const struct opts *o, struct netns_ent **out)
{
	struct netns_ent *all = NULL, *v;
	int n, k = 0;

	n = netns__list(&all, o->netns_named);
	if (n < 0 || !o->n_netns) {
		*out = all;
		return n;
	}
	v = calloc(o->n_netns, sizeof(*v));
	if (!v) {
		free(all);
		return -ENOMEM;
	}
	for (int i = 0; i < o->n_netns; i++) {
		v[k].inum = o->netns[i];
		if (o->netns_path[i]) {
			snprintf(v[k].path, sizeof(v[k].path), "%s", o->netns_path[i]);
			k++;
			continue;
		}
		for (int j = 0; j < n; j++) {
			if (all[j].inum == o->netns[i]) {
				v[k++] = all[j];
				break;
			}
		}
	}
	free(all);
	*out = v;
	return k;
}

static int by_remote(const void *a, const void *b)
{
	const struct sf_snapshot_sock *x = a, *y = b;

	if (x->netns != y->netns)
		return x->netns < y->netns ? -1 : 1;
	if (x->family != y->family)
		return x->family - y->family;
	if (x->dport != y->dport)
		return x->dport - y->dport;
	return memcmp(x->daddr, y->daddr, sizeof(x->daddr));
}

/* TIME_WAIT sockets counted per remote endpoint, one pile-up round. */
static void count_time_wait(struct daemon *d, struct sf_snapshot_sock *tw, int n, uint64_t now)
{
	if (n) /* qsort(NULL, 0) is undefined */
		qsort(tw, n, sizeof(*tw), by_remote);
	pileup__begin_round(d->pileups, PILEUP_TIME_WAIT_REMOTE);
	for (int i = 0; i < n;) {
		struct pileup_key k = { .netns = tw[i].netns, .family = tw[i].family, .port = tw[i].dport };
		int j = i;

		memcpy(k.addr, tw[i].daddr, sizeof(k.addr));
		while (j < n && !by_remote(&tw[i], &tw[j]))
			j++;
		pileup__set(d->pileups, PILEUP_TIME_WAIT_REMOTE, &k, j - i, now);
		i = j;
	}
	pileup__end_round(d->pileups, PILEUP_TIME_WAIT_REMOTE, now);
}

/* One look at the kernel's list. The first (start-up snapshot, taken with
 * the hooks already attached) turns every socket no event reported into a
 * pre-existing flow; later rounds add only half-open
 * requests (the rest is born under our eyes), count TIME_WAIT, and notice
 * snapshot flows that vanished. */
void reconcile__round(struct daemon *d, bool first, uint64_t now)
{
	struct sockvec sv = { .d = d }, tw = {};
	struct netns_ent *ns = NULL;
	int n = reconcile__watched_netns(&d->o, &ns);
	bool complete = true;

	if (n < 0) {
		d->cnt.snapshot_errors++;
		return;
	}
	for (int i = 0; i < n; i++) {
		sv.netns = ns[i].inum;
		if (netns__run_in(ns[i].path, dump_here, &sv)) {
			d->cnt.snapshot_errors++;
			complete = false;
		}
	}
	free(ns);
	d->cnt.snapshot_sockets += sv.n;
	if (first)
		procowner__resolve(sv.v, sv.n); /* a walk of /proc: rings read after it */
	pump_rings(d);
	if (first) {
		/* The hooks were attached before the list was read: the events
		 * read since go in first, the list then adds only what they
		 * did not report (and not what they show ended meanwhile). */
		drain_backlog(d);
	}
	flow_table__round_begin(d->table);
	for (int i = 0; i < sv.n; i++) {
		/* an orphaned FIN_WAIT_2 with no inode is a time-wait socket
		 * still waiting for the peer's FIN */
		bool tw_sock = sv.v[i].state == SF_TCP_TIME_WAIT ||
			       (sv.v[i].state == SF_TCP_FIN_WAIT2 && !sv.v[i].inode);

		/* left out by --port/--cidr as its events are: no flow to
		 * start, track or close out (owners are judged on records) */
		if (d->filter_on && filter__tuple(&d->o.filter, sv.v[i].family, sv.v[i].saddr, sv.v[i].daddr,
						  sv.v[i].sport, sv.v[i].dport))
			continue;
		if (tw_sock)
			flow_table__time_wait_seen(d->table, &sv.v[i], now);
		if (sv.v[i].state == SF_TCP_TIME_WAIT)
			collect(&tw, &sv.v[i]);
		else if (!tw_sock)
			flow_table__snapshot(d->table, &sv.v[i], now, first || sv.v[i].state == SF_TCP_SYN_RECV);
	}
	/* a namespace that could not be read says nothing about what is gone */
	flow_table__round_end(d->table, now, complete);
	if (complete)
		count_time_wait(d, tw.v, tw.n, now);
	free(sv.v);
	free(tw.v);
	drain_backlog(d);
}
