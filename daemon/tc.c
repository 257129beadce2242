// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * tc clsact attachment of the segment programs, namespace by namespace.
 * See tc.h for the contract (reserved priority/handle, leftovers, qdisc
 * ownership).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <linux/magic.h>
#include <linux/pkt_cls.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "netns.h"
#include "nl.h"
#include "procfs.h"
#include "ring.h"
#include "tc.h"
#include "../include/sf_filter.h"
#include "segment.skel.h"

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif

#define MAX_FILTERS 64

struct tc_ns {
	int fd;			/* the namespace, kept to enter it again */
	struct nl *rtnl;	/* requests (sockets stay in the namespace they were made in) */
	struct nl *mon;		/* RTMGRP_LINK notifications */
	uint64_t cookie;
	uint32_t inode;
	dev_t dev;
	int skipped;		/* interfaces up but not hooked, at attach */
	int ports;		/* bridge/bond ports left to their master, at attach */
};

struct tc_if {
	int ns;			/* index in tc->ns */
	int ifindex;
	uint32_t prio;		/* our filters' priority here (one of our slots) */
	bool own_qdisc;		/* bpf_tc_hook_create made clsact: ours to remove */
	char name[IF_NAMESIZE];
};

struct tc {
	struct segment_bpf *skel;
	struct rings *own;	/* own rings (events_fd < 0), or NULL */
	uint32_t prog_id[2];	/* [SF_DIR_INGRESS], [SF_DIR_EGRESS] */
	int epfd;		/* one entry per tc_ns.mon */
	struct tc_ns *ns;
	int n_ns;
	struct tc_if *ifs;
	int n_ifs;
	int n_stale;
	uint32_t *inodes;	/* tc->ns's inodes, sorted: tc__has_netns */
	bool lo_egress_only;
	const char *const *ifnames;
	int n_ifnames;
	char describe[1024];
};

/* A filter on one clsact parent, from an RTM_GETTFILTER dump. */
struct tc_filter {
	uint32_t prio;
	uint32_t handle;
	uint32_t prog_id;	/* 0: not a bpf filter */
};

struct filter_list {
	struct tc_filter f[MAX_FILTERS];
	int n;			/* filters seen (may exceed MAX_FILTERS) */
};

/* An interface as rtnetlink reports it. */
struct link {
	int ifindex;
	unsigned int flags;
	unsigned short type;
	bool port;		/* a bridge's or bond's port: see link_port_skipped */
	char name[IF_NAMESIZE];
};

struct link_list {
	struct link *l;
	int n, cap;
};

/* ---- rtnetlink ----------------------------------------------------- */

/* A port of a bridge, bond or team: IFLA_LINKINFO's slave kind. (Not any
 * IFLA_MASTER: a VRF's members carry their own layer-3 traffic.) */
static bool link_is_port(const struct nlattr *linkinfo)
{
	const struct nlattr *a;

	mnl_attr_for_each_nested(a, linkinfo) {
		const char *kind = mnl_attr_get_payload(a);
		size_t len = mnl_attr_get_payload_len(a);

		if (mnl_attr_get_type(a) != IFLA_INFO_SLAVE_KIND || len < 2)
			continue;
		return !strncmp(kind, "bridge", len) || !strncmp(kind, "bond", len) ||
		       !strncmp(kind, "team", len);
	}
	return false;
}

/* Keep one interface of an RTM_NEWLINK message. */
static int on_link(const struct nlmsghdr *nh, void *arg)
{
	const struct ifinfomsg *ifi = mnl_nlmsg_get_payload(nh);
	struct link_list *ll = arg;
	const struct nlattr *a;
	struct link *l;

	if (nh->nlmsg_type != RTM_NEWLINK || mnl_nlmsg_get_payload_len(nh) < sizeof(*ifi))
		return MNL_CB_OK;
	/* a bridge also tells of its ports' changes as AF_BRIDGE messages,
	 * without the link info that says they are ports */
	if (ifi->ifi_family != AF_UNSPEC)
		return MNL_CB_OK;
	if (ll->n == ll->cap) {
		int cap = ll->cap ? ll->cap * 2 : 16;
		struct link *p = realloc(ll->l, cap * sizeof(*p));

		if (!p)
			return MNL_CB_OK; /* the interface is missed, not mangled */
		ll->l = p;
		ll->cap = cap;
	}
	l = &ll->l[ll->n++];
	memset(l, 0, sizeof(*l));
	l->ifindex = ifi->ifi_index;
	l->flags = ifi->ifi_flags;
	l->type = ifi->ifi_type;
	mnl_attr_for_each(a, nh, sizeof(*ifi)) {
		if (mnl_attr_get_type(a) == IFLA_IFNAME)
			snprintf(l->name, sizeof(l->name), "%.*s", (int)mnl_attr_get_payload_len(a),
				 (const char *)mnl_attr_get_payload(a));
		else if (mnl_attr_get_type(a) == IFLA_LINKINFO)
			l->port = link_is_port(a);
	}
	return MNL_CB_OK;
}

static int links_dump(const struct tc_ns *ns, struct link_list *ll)
{
	struct nl_request r;
	struct ifinfomsg *ifi = nl__dump_request(&r, RTM_GETLINK, sizeof(*ifi));

	ifi->ifi_family = AF_UNSPEC;
	return nl__dump(ns->rtnl, &r.nh, on_link, ll);
}

static int on_filter(const struct nlmsghdr *nh, void *arg)
{
	const struct tcmsg *tm = mnl_nlmsg_get_payload(nh);
	struct filter_list *fl = arg;
	struct tc_filter f = {};
	const struct nlattr *a, *o;
	bool bpf = false;

	/* one message per filter, plus one per (chain, prio) with handle 0 */
	if (nh->nlmsg_type != RTM_NEWTFILTER || mnl_nlmsg_get_payload_len(nh) < sizeof(*tm) || !tm->tcm_handle)
		return MNL_CB_OK;
	f.prio = TC_H_MAJ(tm->tcm_info) >> 16;
	f.handle = tm->tcm_handle;
	mnl_attr_for_each(a, nh, sizeof(*tm)) {
		if (mnl_attr_get_type(a) == TCA_KIND)
			bpf = !strncmp(mnl_attr_get_payload(a), "bpf", mnl_attr_get_payload_len(a));
		if (mnl_attr_get_type(a) != TCA_OPTIONS)
			continue;
		mnl_attr_for_each_nested(o, a)
			if (mnl_attr_get_type(o) == TCA_BPF_ID && mnl_attr_get_payload_len(o) >= sizeof(uint32_t))
				f.prog_id = mnl_attr_get_u32(o);
	}
	if (!bpf)
		f.prog_id = 0;
	if (fl->n < MAX_FILTERS)
		fl->f[fl->n] = f;
	fl->n++;
	return MNL_CB_OK;
}

static int filters_dump(const struct tc_ns *ns, int ifindex, uint32_t parent, struct filter_list *fl)
{
	struct nl_request r;
	struct tcmsg *tm = nl__dump_request(&r, RTM_GETTFILTER, sizeof(*tm));

	tm->tcm_family = AF_UNSPEC;
	tm->tcm_ifindex = ifindex;
	tm->tcm_parent = parent;
	fl->n = 0;
	return ns->rtnl ? nl__dump(ns->rtnl, &r.nh, on_filter, fl) : -ENOTCONN;
}

/* ---- programs ------------------------------------------------------ */

static int prog_name(uint32_t id, char *name, size_t len)
{
	struct bpf_prog_info info = {};
	uint32_t ilen = sizeof(info);
	int fd = bpf_prog_get_fd_by_id(id);
	int err = 0;

	if (fd < 0)
		return -errno;
	if (bpf_obj_get_info_by_fd(fd, &info, &ilen))
		err = -errno;
	close(fd);
	if (!err)
		snprintf(name, len, "%s", info.name);
	return err;
}

static uint32_t prog_fd_id(int fd)
{
	struct bpf_prog_info info = {};
	uint32_t ilen = sizeof(info);

	return bpf_obj_get_info_by_fd(fd, &info, &ilen) ? 0 : info.id;
}

struct held_ctx {
	uint32_t id;
	int self;
	bool held;
};

static int on_fd(void *ctx, int pid, int fd, const char *link)
{
	struct held_ctx *h = ctx;
	char path[64], line[128];
	FILE *fi;

	if (pid == h->self)
		return PROCFS_NEXT_PID;
	if (strcmp(link, "anon_inode:bpf-prog"))
		return PROCFS_NEXT;
	snprintf(path, sizeof(path), "/proc/%d/fdinfo/%d", pid, fd);
	fi = fopen(path, "re");
	if (!fi)
		return PROCFS_NEXT;
	while (fgets(line, sizeof(line), fi)) {
		unsigned int id;

		if (sscanf(line, "prog_id: %u", &id) == 1 && id == h->id) {
			h->held = true;
			break;
		}
	}
	fclose(fi);
	return h->held ? PROCFS_STOP : PROCFS_NEXT;
}

/*
 * Does a process other than us hold the program (a running synfin keeps
 * its program fds open; the filters of a killed one are the only thing
 * left holding theirs)? Looks at /proc/PID/fdinfo of bpf-prog fds only.
 */
static bool prog_held(uint32_t id)
{
	struct held_ctx h = { .id = id, .self = getpid() };

	/* /proc unreadable: cannot tell, so leave it alone */
	return procfs__walk_fds(on_fd, &h) ? true : h.held;
}

/* ---- one interface ------------------------------------------------- */

static uint32_t clsact_parent(int dir)
{
	return TC_H_MAKE(TC_H_CLSACT, dir == SF_DIR_INGRESS ? TC_H_MIN_INGRESS : TC_H_MIN_EGRESS);
}

static enum bpf_tc_attach_point hook_point(int dir)
{
	return dir == SF_DIR_INGRESS ? BPF_TC_INGRESS : BPF_TC_EGRESS;
}

/* Remove filters a killed synfin left on ifindex (we are inside ns); set
 * in *busy the slots (bit k: priority SF_TC_PRIO + k) another filter holds:
 * a live synfin's, or another tool's. */
static int remove_stale(struct tc *t, const struct tc_ns *ns, int ifindex, uint32_t *busy)
{
	struct filter_list *fl = malloc(sizeof(*fl));
	int dir, i;

	*busy = 0;
	if (!fl)
		return -ENOMEM;
	for (dir = SF_DIR_INGRESS; dir <= SF_DIR_EGRESS; dir++) {
		/* no clsact, or no filter: nothing to do */
		if (filters_dump(ns, ifindex, clsact_parent(dir), fl))
			continue;
		for (i = 0; i < fl->n && i < MAX_FILTERS; i++) {
			DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
					    .attach_point = hook_point(dir));
			DECLARE_LIBBPF_OPTS(bpf_tc_opts, opts, .handle = fl->f[i].handle,
					    .priority = fl->f[i].prio);
			char name[BPF_OBJ_NAME_LEN];
			uint32_t slot = fl->f[i].prio - SF_TC_PRIO;

			if (fl->f[i].prio < SF_TC_PRIO || slot >= SF_TC_SLOTS)
				continue;
			/* only our slots, holding one of our two programs:
			 * another tool's filter is never touched */
			if (fl->f[i].handle != SF_TC_HANDLE || !fl->f[i].prog_id ||
			    prog_name(fl->f[i].prog_id, name, sizeof(name)) ||
			    (strcmp(name, "sf_seg_ingress") && strcmp(name, "sf_seg_egress")) ||
			    prog_held(fl->f[i].prog_id) || bpf_tc_detach(&hook, &opts))
				*busy |= 1u << slot; /* a live synfin's, or not ours */
			else
				t->n_stale++;
		}
	}
	free(fl);
	return 0;
}

static int count_filters(const struct tc_ns *ns, int ifindex)
{
	struct filter_list *fl = malloc(sizeof(*fl));
	int dir, n = 0, err;

	if (!fl)
		return -ENOMEM;
	for (dir = SF_DIR_INGRESS; dir <= SF_DIR_EGRESS; dir++) {
		err = filters_dump(ns, ifindex, clsact_parent(dir), fl);
		if (err) {
			n = err;
			break;
		}
		n += fl->n;
	}
	free(fl);
	return n;
}

static struct bpf_program *dir_prog(const struct tc *t, int dir)
{
	return dir == SF_DIR_INGRESS ? t->skel->progs.sf_seg_ingress : t->skel->progs.sf_seg_egress;
}

/* Detach our filter from one hook if it is still ours (inside ns). */
static void detach_dir(const struct tc *t, int ifindex, uint32_t prio, int dir)
{
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = hook_point(dir));
	DECLARE_LIBBPF_OPTS(bpf_tc_opts, opts, .handle = SF_TC_HANDLE, .priority = prio);

	if (bpf_tc_query(&hook, &opts) || opts.prog_id != t->prog_id[dir])
		return;
	opts.prog_id = 0;
	opts.prog_fd = 0;
	opts.flags = 0;
	bpf_tc_detach(&hook, &opts);
}

/* Detach from one interface; destroy the clsact qdisc when we made it and
 * nobody else put a filter on it meanwhile (inside ns). */
static void if_detach(struct tc *t, const struct tc_if *i)
{
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = i->ifindex,
			    .attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS);

	detach_dir(t, i->ifindex, i->prio, SF_DIR_INGRESS);
	detach_dir(t, i->ifindex, i->prio, SF_DIR_EGRESS);
	if (i->own_qdisc && count_filters(&t->ns[i->ns], i->ifindex) == 0)
		bpf_tc_hook_destroy(&hook);
}

static struct tc_if *if_find(struct tc *t, int nsi, int ifindex)
{
	for (int i = 0; i < t->n_ifs; i++)
		if (t->ifs[i].ns == nsi && t->ifs[i].ifindex == ifindex)
			return &t->ifs[i];
	return NULL;
}

static void if_forget(struct tc *t, struct tc_if *i)
{
	*i = t->ifs[--t->n_ifs];
}

/* A port of a bridge or bond is left alone unless named: its frames are
 * either forwarded (a container's, seen on the container's own interface,
 * in its namespace) or this namespace's own, seen on the master (br0,
 * bond0) as well. Hooking it would only add work: segments that match no
 * flow here, or second copies. */
static bool link_port_skipped(const struct tc *t, const struct link *l)
{
	return l->port && !t->n_ifnames;
}

static bool link_wanted(const struct tc *t, const struct link *l)
{
	bool named = !t->n_ifnames;

	for (int i = 0; i < t->n_ifnames; i++)
		named |= !strcmp(t->ifnames[i], l->name);
	/* the program parses from an Ethernet header: lo has one at tc */
	return named && (l->flags & IFF_UP) && (l->type == ARPHRD_ETHER || l->type == ARPHRD_LOOPBACK);
}

/* Our two filters on i at i->prio (inside ns); 0, or -errno with none. */
static int slot_attach(struct tc *t, struct tc_if *i, bool lo)
{
	for (int dir = SF_DIR_INGRESS; dir <= SF_DIR_EGRESS; dir++) {
		if (dir == SF_DIR_INGRESS && t->lo_egress_only && lo)
			continue;
		DECLARE_LIBBPF_OPTS(bpf_tc_hook, h, .ifindex = i->ifindex,
				    .attach_point = hook_point(dir));
		DECLARE_LIBBPF_OPTS(bpf_tc_opts, opts, .handle = SF_TC_HANDLE,
				    .priority = i->prio,
				    .prog_fd = bpf_program__fd(dir_prog(t, dir)));
		int err = bpf_tc_attach(&h, &opts);

		if (err) {
			/* -EEXIST: the slot is taken by a filter not ours */
			if (dir == SF_DIR_EGRESS)
				detach_dir(t, i->ifindex, i->prio, SF_DIR_INGRESS);
			return err;
		}
	}
	return 0;
}

/* Attach to one interface (inside ns). 1 attached, 0 already, -errno. */
static int if_attach(struct tc *t, int nsi, const struct link *l)
{
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = l->ifindex,
			    .attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS);
	struct tc_if *i, *p;
	uint32_t busy;
	bool own;
	int err, stale;

	if (if_find(t, nsi, l->ifindex))
		return 0;
	p = realloc(t->ifs, (t->n_ifs + 1) * sizeof(*p));
	if (!p)
		return -ENOMEM;
	t->ifs = p;

	stale = t->n_stale;
	err = remove_stale(t, &t->ns[nsi], l->ifindex, &busy);
	if (err)
		return err;
	err = bpf_tc_hook_create(&hook);
	if (err && err != -EEXIST)
		return err;
	/* a killed synfin's clsact, left with no filter once its own are
	 * gone, is ours to remove too (else an empty one stays for good) */
	own = !err || (t->n_stale > stale && count_filters(&t->ns[nsi], l->ifindex) == 0);

	i = &t->ifs[t->n_ifs];
	memset(i, 0, sizeof(*i));
	i->ns = nsi;
	i->ifindex = l->ifindex;
	i->own_qdisc = own;
	snprintf(i->name, sizeof(i->name), "%s", l->name);
	/* the first free slot: another synfin (the service, and one run by
	 * hand) may observe the same interface */
	err = -EBUSY;
	for (uint32_t k = 0; k < SF_TC_SLOTS && err; k++) {
		if (busy & (1u << k))
			continue;
		i->prio = SF_TC_PRIO + k;
		err = slot_attach(t, i, l->type == ARPHRD_LOOPBACK);
	}
	if (err) {
		if (own && count_filters(&t->ns[nsi], l->ifindex) == 0)
			bpf_tc_hook_destroy(&hook);
		return err == -EEXIST ? -EBUSY : err;
	}
	t->n_ifs++;
	return 1;
}

/* Attach to the wanted links of ll (inside ns). Count or first -errno. */
static int attach_links(struct tc *t, int nsi, const struct link_list *ll, bool count_skipped)
{
	int n = 0, first_err = 0;

	for (int k = 0; k < ll->n; k++) {
		int r;

		if (!(ll->l[k].flags & IFF_UP))
			continue;
		if (link_port_skipped(t, &ll->l[k])) {
			/* made a port after it was hooked (veth, then
			 * master br0): let go of it */
			struct tc_if *i = if_find(t, nsi, ll->l[k].ifindex);

			if (i) {
				if_detach(t, i);
				if_forget(t, i);
			}
			if (count_skipped) {
				uint32_t busy;

				/* a killed synfin that hooked ports left its
				 * filters there: ours to remove all the same */
				remove_stale(t, &t->ns[nsi], ll->l[k].ifindex, &busy);
				t->ns[nsi].ports++;
			}
			continue;
		}
		if (!link_wanted(t, &ll->l[k])) {
			if (count_skipped)
				t->ns[nsi].skipped++;
			continue;
		}
		r = if_attach(t, nsi, &ll->l[k]);
		if (r > 0)
			n++;
		else if (r < 0 && !first_err)
			first_err = r;
	}
	return first_err ? first_err : n;
}

/* ---- public -------------------------------------------------------- */

int tc__open(struct tc **out, const struct tc_opts *o)
{
	struct segment_bpf *s;
	struct tc *t;
	int err, nrings = o->nrings;

	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (t->epfd < 0) {
		err = -errno;
		goto fail;
	}
	t->lo_egress_only = o->lo_egress_only;
	t->ifnames = o->ifnames;
	t->n_ifnames = o->n_ifnames;
	s = t->skel = segment_bpf__open();
	if (!s) {
		err = -errno;
		goto fail;
	}
	s->rodata->wakeup_bytes = o->wakeup_bytes;
	if (o->filter) {
		/* the state programs' spec and trie: both decide alike */
		memcpy((void *)&s->rodata->filt, o->filter, sizeof(*o->filter));
		err = bpf_map__reuse_fd(s->maps.filt_cidrs, o->filter_cidrs_fd);
		if (!err)
			err = bpf_map__reuse_fd(s->maps.filt_cg_listeners, o->filter_cg_listeners_fd);
		if (!err)
			err = bpf_map__reuse_fd(s->maps.filt_cg_connects, o->filter_cg_connects_fd);
		if (err)
			goto fail;
	}
	if (o->max_fins) {
		/* buckets of 4 entries, a power of two of them */
		uint32_t nb = 1;

		while (nb < o->max_fins / 4 && nb < (1u << 24))
			nb <<= 1;
		bpf_map__set_max_entries(s->maps.pending, nb);
		s->rodata->pend_mask = nb - 1;
	}
	/* Sharing the state program's maps: one ring, one set of counters,
	 * one consumer. reuse_fd takes the shared map's size and type. */
	if (o->events_fd >= 0) {
		err = o->nrings > 0 ? bpf_map__reuse_fd(s->maps.rings, o->events_fd) : -EINVAL;
		s->rodata->ring_mask = (uint32_t)o->nrings - 1;
	} else {
		nrings = o->nrings > 0 ? o->nrings : rings__count(libbpf_num_possible_cpus());
		err = bpf_map__set_max_entries(s->maps.rings, (uint32_t)nrings);
		s->rodata->ring_mask = (uint32_t)nrings - 1;
	}
	if (!err && o->counters_fd >= 0)
		err = bpf_map__reuse_fd(s->maps.counters, o->counters_fd);
	if (err)
		goto fail;
	err = segment_bpf__load(s);
	if (err)
		goto fail;
	if (o->events_fd < 0) {
		err = rings__create(&t->own, bpf_map__fd(s->maps.rings), nrings,
				    o->ring_bytes ? o->ring_bytes : 1u << 22);
		if (err)
			goto fail;
	}
	t->prog_id[SF_DIR_INGRESS] = prog_fd_id(bpf_program__fd(s->progs.sf_seg_ingress));
	t->prog_id[SF_DIR_EGRESS] = prog_fd_id(bpf_program__fd(s->progs.sf_seg_egress));
	*out = t;
	return 0;
fail:
	tc__close(t);
	return err;
}

struct in_ns {
	struct tc *t;
	int nsi;
	struct link_list ll;
	int lost;		/* notifications were lost: rescan */
};

static int detach_here(void *arg);
static int inodes_rebuild(struct tc *t);
static void ns_forget(struct tc *t, int nsi);

/* Inside a new namespace: sockets, then every interface that is up. */
static int attach_here(void *arg)
{
	struct in_ns *c = arg;
	struct tc *t = c->t;
	struct tc_ns *ns = &t->ns[c->nsi];
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = (uint32_t)c->nsi };
	socklen_t clen = sizeof(ns->cookie);
	int err, r;

	/* subscribe before the dump: no interface can fall in between */
	err = nl__open(&ns->mon, NETLINK_ROUTE, RTMGRP_LINK);
	if (!err)
		err = nl__open(&ns->rtnl, NETLINK_ROUTE, 0);
	if (err)
		return err;
	if (getsockopt(nl__fd(ns->rtnl), SOL_SOCKET, SO_NETNS_COOKIE, &ns->cookie, &clen))
		return -errno;
	if (epoll_ctl(t->epfd, EPOLL_CTL_ADD, nl__fd(ns->mon), &ev))
		return -errno;
	err = links_dump(ns, &c->ll);
	if (err)
		return err;
	r = attach_links(t, c->nsi, &c->ll, true);
	return r < 0 ? r : 0;
}

int tc__attach_netns(struct tc *t, const char *path)
{
	struct in_ns c = { .t = t };
	struct statfs sfs;
	struct tc_ns *p;
	struct stat st;
	int err, fd, r;

	fd = open(path ? path : "/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) || fstatfs(fd, &sfs)) {
		err = -errno;
		close(fd);
		return err;
	}
	/* `ip netns add` creates the file, then binds the namespace on it:
	 * a scan in between opens the empty file */
	if (sfs.f_type != NSFS_MAGIC) {
		close(fd);
		return -EAGAIN;
	}
	for (int i = 0; i < t->n_ns; i++) {
		if (t->ns[i].inode == st.st_ino && t->ns[i].dev == st.st_dev) {
			close(fd);
			return 0; /* already ours */
		}
	}
	p = realloc(t->ns, (t->n_ns + 1) * sizeof(*p));
	if (!p) {
		close(fd);
		return -ENOMEM;
	}
	t->ns = p;
	c.nsi = t->n_ns++; /* from here on tc__close cleans up */
	t->ns[c.nsi] = (struct tc_ns){ .fd = fd, .inode = st.st_ino, .dev = st.st_dev };
	err = netns__run_fd(fd, attach_here, &c);
	free(c.ll.l);
	/* not entered, or its sockets not made: nothing to follow it by */
	if (err && (!t->ns[c.nsi].mon || !t->ns[c.nsi].rtnl))
		ns_forget(t, c.nsi);
	/* the set covers what failed too: tc->ns holds it until it goes */
	r = inodes_rebuild(t);
	if (err || r)
		return err ? err : r; /* not a network namespace: -EINVAL */
	/* count what this namespace has now */
	r = 0;
	for (int i = 0; i < t->n_ifs; i++)
		r += t->ifs[i].ns == c.nsi;
	return r;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* The sorted inode set, after tc->ns changed. */
static int inodes_rebuild(struct tc *t)
{
	uint32_t *p = realloc(t->inodes, (t->n_ns ? t->n_ns : 1) * sizeof(*p));

	if (!p)
		return -ENOMEM;
	t->inodes = p;
	for (int i = 0; i < t->n_ns; i++)
		p[i] = t->ns[i].inode;
	qsort(p, t->n_ns, sizeof(*p), cmp_u32);
	return 0;
}

bool tc__has_netns(const struct tc *t, uint32_t inode)
{
	return t->inodes && bsearch(&inode, t->inodes, t->n_ns, sizeof(inode), cmp_u32);
}

int tc__n_netns(const struct tc *t)
{
	return t->n_ns;
}

bool tc__hooked(const struct tc *t, const char *ifname)
{
	for (int i = 0; i < t->n_ifs; i++)
		if (!strcmp(t->ifs[i].name, ifname))
			return true;
	return false;
}

int tc__n_skipped(const struct tc *t)
{
	int n = 0;

	for (int i = 0; i < t->n_ns; i++)
		n += t->ns[i].skipped;
	return n;
}

/* Let go of namespace nsi: our filters off its interfaces (they may still
 * exist: we hold the namespace), its sockets and fd closed, so that the
 * kernel can free it. The last entry takes its slot. */
static void ns_forget(struct tc *t, int nsi)
{
	struct in_ns c = { .t = t, .nsi = nsi };
	int last = t->n_ns - 1;

	netns__run_fd(t->ns[nsi].fd, detach_here, &c);
	for (int i = t->n_ifs - 1; i >= 0; i--)
		if (t->ifs[i].ns == nsi)
			if_forget(t, &t->ifs[i]);
	if (t->ns[nsi].mon)
		epoll_ctl(t->epfd, EPOLL_CTL_DEL, nl__fd(t->ns[nsi].mon), NULL);
	nl__close(t->ns[nsi].rtnl);
	nl__close(t->ns[nsi].mon);
	close(t->ns[nsi].fd);
	if (nsi != last) {
		t->ns[nsi] = t->ns[last];
		for (int i = 0; i < t->n_ifs; i++)
			if (t->ifs[i].ns == last)
				t->ifs[i].ns = nsi;
	}
	t->n_ns--;
}

static bool ns_listed(const struct netns_ent *v, int n, uint32_t inode)
{
	for (int i = 0; i < n; i++)
		if (v[i].inum == inode)
			return true;
	return false;
}

int tc__sync_netns(struct tc *t, const struct netns_ent *v, int n, struct tc_sync *res)
{
	int err = 0;

	memset(res, 0, sizeof(*res));
	for (int i = t->n_ns - 1; i >= 0; i--) {
		if (ns_listed(v, n, t->ns[i].inode))
			continue;
		ns_forget(t, i);
		res->removed++;
	}
	err = inodes_rebuild(t);
	if (err)
		return err;
	for (int i = 0; i < n; i++) {
		int r;

		if (tc__has_netns(t, v[i].inum))
			continue;
		r = tc__attach_netns(t, v[i].path);
		if (r == -ENOENT || r == -EAGAIN)
			continue; /* gone meanwhile, or not mounted yet: next scan */
		if (r < 0) {
			res->failed++;
			if (!res->first_err)
				res->first_err = r;
		} else {
			res->added++;
		}
		/* keep the set current: v may list one namespace twice
		 * under two names */
		err = inodes_rebuild(t);
		if (err)
			return err;
	}
	return inodes_rebuild(t);
}

uint32_t tc__netns_inode(const struct tc *t, uint64_t cookie)
{
	for (int i = 0; i < t->n_ns; i++)
		if (t->ns[i].cookie == cookie)
			return t->ns[i].inode;
	return 0;
}

struct rings *tc__rings(const struct tc *t)
{
	return t->own;
}

int tc__counters_fd(const struct tc *t)
{
	return bpf_map__fd(t->skel->maps.counters);
}

void tc__counters(const struct tc *t, uint64_t out[SF_CNT_MAX])
{
	int ncpus = libbpf_num_possible_cpus();
	uint64_t *vals;
	uint32_t k;

	memset(out, 0, SF_CNT_MAX * sizeof(out[0]));
	if (ncpus <= 0)
		return;
	vals = calloc(ncpus, sizeof(*vals));
	if (!vals)
		return;
	for (k = 0; k < SF_CNT_MAX; k++) {
		if (bpf_map__lookup_elem(t->skel->maps.counters, &k, sizeof(k), vals,
					 ncpus * sizeof(*vals), 0))
			continue;
		for (int i = 0; i < ncpus; i++)
			out[k] += vals[i];
	}
	free(vals);
}

int tc__n_attached(const struct tc *t)
{
	return t->n_ifs;
}

int tc__n_stale_removed(const struct tc *t)
{
	return t->n_stale;
}

const char *tc__describe(struct tc *t)
{
	size_t len = sizeof(t->describe), off = 0;
	int ports = 0;

	t->describe[0] = 0;
	for (int n = 0; n < t->n_ns && off < len; n++) {
		off += snprintf(t->describe + off, len - off, "%snetns %u:", n ? "; " : "",
				t->ns[n].inode);
		for (int i = 0; i < t->n_ifs && off < len; i++)
			if (t->ifs[i].ns == n)
				off += snprintf(t->describe + off, len - off, " %s", t->ifs[i].name);
	}
	if (tc__n_skipped(t) && off < len)
		off += snprintf(t->describe + off, len - off,
				"; %d interface(s) skipped (not chosen with --interface, or no Ethernet header)", tc__n_skipped(t));
	for (int i = 0; i < t->n_ns; i++)
		ports += t->ns[i].ports;
	if (ports && off < len)
		off += snprintf(t->describe + off, len - off,
				"; %d bridge/bond port(s) seen through their master or the container's end", ports);
	if (t->n_stale && off < len)
		snprintf(t->describe + off, len - off, "; %d leftover filter(s) removed",
			 t->n_stale);
	return t->describe;
}

int tc__netlink_fd(const struct tc *t)
{
	return t->epfd;
}

/* One notification: deleted links are forgotten at once, new ones
 * gathered into c->ll. */
static int on_notify(const struct nlmsghdr *nh, void *arg)
{
	const struct ifinfomsg *ifi = mnl_nlmsg_get_payload(nh);
	struct in_ns *c = arg;
	struct tc_if *i;

	if (nh->nlmsg_type == RTM_NEWLINK)
		return on_link(nh, &c->ll);
	if (nh->nlmsg_type != RTM_DELLINK || mnl_nlmsg_get_payload_len(nh) < sizeof(*ifi))
		return MNL_CB_OK;
	/* a bridge says a port left it with an AF_BRIDGE RTM_DELLINK: the
	 * device itself is still there */
	if (ifi->ifi_family != AF_UNSPEC)
		return MNL_CB_OK;
	/* the device took its qdiscs and filters along */
	i = if_find(c->t, c->nsi, ifi->ifi_index);
	if (i)
		if_forget(c->t, i);
	for (int k = 0; k < c->ll.n; k++)
		if (c->ll.l[k].ifindex == ifi->ifi_index)
			c->ll.l[k].flags = 0;
	return MNL_CB_OK;
}

/* Inside a namespace whose links changed: attach to the new ones. */
static int follow_here(void *arg)
{
	struct in_ns *c = arg;
	struct tc *t = c->t;
	int r;

	if (c->lost) {
		/* notifications were lost: start from the kernel's view,
		 * and forget interfaces that are gone */
		c->ll.n = 0;
		r = links_dump(&t->ns[c->nsi], &c->ll);
		if (r)
			return r;
		for (int i = t->n_ifs - 1; i >= 0; i--) {
			bool present = false;

			if (t->ifs[i].ns != c->nsi)
				continue;
			for (int k = 0; k < c->ll.n; k++)
				present |= c->ll.l[k].ifindex == t->ifs[i].ifindex;
			if (!present)
				if_forget(t, &t->ifs[i]);
		}
	}
	return attach_links(t, c->nsi, &c->ll, false);
}

int tc__handle_netlink(struct tc *t)
{
	int total = 0, first_err = 0;

	for (int nsi = 0; nsi < t->n_ns; nsi++) {
		struct in_ns c = { .t = t, .nsi = nsi };
		int r;

		if (!t->ns[nsi].mon)
			continue;
		c.lost = nl__drain(t->ns[nsi].mon, on_notify, &c) != 0;
		if (!c.lost && !c.ll.n)
			continue;
		r = netns__run_fd(t->ns[nsi].fd, follow_here, &c);
		free(c.ll.l);
		if (r < 0 && !first_err)
			first_err = r;
		else if (r > 0)
			total += r;
	}
	return first_err ? first_err : total;
}

static int detach_here(void *arg)
{
	struct in_ns *c = arg;

	for (int i = 0; i < c->t->n_ifs; i++)
		if (c->t->ifs[i].ns == c->nsi)
			if_detach(c->t, &c->t->ifs[i]);
	return 0;
}

void tc__close(struct tc *t)
{
	if (!t)
		return;
	for (int n = 0; n < t->n_ns; n++) {
		struct in_ns c = { .t = t, .nsi = n };

		/* the rtnetlink socket is needed inside: it goes after */
		netns__run_fd(t->ns[n].fd, detach_here, &c);
		nl__close(t->ns[n].rtnl);
		nl__close(t->ns[n].mon);
		close(t->ns[n].fd);
	}
	free(t->ns);
	free(t->ifs);
	free(t->inodes);
	segment_bpf__destroy(t->skel);
	rings__close(t->own);
	if (t->epfd >= 0)
		close(t->epfd);
	free(t);
}
