// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * tc clsact attachment of the segment programs, namespace by namespace.
 * See tc.h for the contract (reserved priority/handle, leftovers, qdisc
 * ownership).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
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
#include <linux/netlink.h>
#include <linux/pkt_cls.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "ring.h"
#include "tc.h"
#include "segment.skel.h"

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif

#define PROG_PREFIX "sf_"
#define NL_BUF 32768
#define MAX_FILTERS 64

struct tc_ns {
	int fd;			/* the namespace, kept to enter it again */
	int rtnl;		/* requests (sockets stay in the namespace they were made in) */
	int mon;		/* RTMGRP_LINK notifications */
	uint64_t cookie;
	uint32_t inode;
	dev_t dev;
};

struct tc_if {
	int ns;			/* index in tc->ns */
	int ifindex;
	bool own_qdisc;		/* bpf_tc_hook_create made clsact: ours to remove */
	char name[IF_NAMESIZE];
};

struct tc {
	struct segment_bpf *skel;
	struct rings *own;	/* own rings (events_fd < 0), or NULL */
	uint32_t prog_id[2];	/* [SF_DIR_INGRESS], [SF_DIR_EGRESS] */
	int self_fd;		/* the namespace we always come back to */
	int epfd;		/* one entry per tc_ns.mon */
	uint32_t seq;
	struct tc_ns *ns;
	int n_ns;
	struct tc_if *ifs;
	int n_ifs;
	int n_stale;
	int n_skipped;		/* up, but no Ethernet header */
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
	char name[IF_NAMESIZE];
};

struct link_list {
	struct link *l;
	int n, cap;
};

/* ---- namespaces ---------------------------------------------------- */

static int ns_enter(const struct tc_ns *ns)
{
	return setns(ns->fd, CLONE_NEWNET) ? -errno : 0;
}

static int ns_leave(const struct tc *t)
{
	/* Failing here would leave the daemon in the wrong namespace; the
	 * kernel only refuses setns() for a bad fd or missing privilege,
	 * both of which the way in would have hit first. */
	return setns(t->self_fd, CLONE_NEWNET) ? -errno : 0;
}

/* ---- rtnetlink ----------------------------------------------------- */

static int nl_open(unsigned int groups)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK, .nl_groups = groups };
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	int one = 1, rcvbuf = 1 << 20;

	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
	if (groups)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

typedef void (*nl_msg_fn)(const struct nlmsghdr *nh, void *arg);

/* Send a dump request (req starts with its nlmsghdr) and feed every
 * answer to fn until NLMSG_DONE. */
static int nl_dump(struct tc *t, int fd, struct nlmsghdr *req, nl_msg_fn fn, void *arg)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	char *buf;
	int err = 0;

	req->nlmsg_seq = ++t->seq;
	if (sendto(fd, req, req->nlmsg_len, 0, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -errno;
	buf = malloc(NL_BUF);
	if (!buf)
		return -ENOMEM;
	for (;;) {
		ssize_t n = recv(fd, buf, NL_BUF, 0);
		struct nlmsghdr *nh;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			break;
		}
		for (nh = (struct nlmsghdr *)buf; NLMSG_OK(nh, n); nh = NLMSG_NEXT(nh, n)) {
			if (nh->nlmsg_seq != t->seq)
				continue; /* a late answer to an earlier request */
			if (nh->nlmsg_type == NLMSG_DONE)
				goto out;
			if (nh->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = NLMSG_DATA(nh);

				if (e->error) {
					err = e->error;
					goto out;
				}
				continue;
			}
			fn(nh, arg);
		}
	}
out:
	free(buf);
	return err;
}

static void on_link(const struct nlmsghdr *nh, void *arg)
{
	const struct ifinfomsg *ifi = NLMSG_DATA(nh);
	struct link_list *ll = arg;
	int len = IFLA_PAYLOAD(nh);
	struct rtattr *a;
	struct link *l;

	if (nh->nlmsg_type != RTM_NEWLINK || nh->nlmsg_len < NLMSG_LENGTH(sizeof(*ifi)))
		return;
	if (ll->n == ll->cap) {
		int cap = ll->cap ? ll->cap * 2 : 16;
		struct link *p = realloc(ll->l, cap * sizeof(*p));

		if (!p)
			return; /* the interface is missed, not mangled */
		ll->l = p;
		ll->cap = cap;
	}
	l = &ll->l[ll->n++];
	memset(l, 0, sizeof(*l));
	l->ifindex = ifi->ifi_index;
	l->flags = ifi->ifi_flags;
	l->type = ifi->ifi_type;
	for (a = IFLA_RTA(ifi); RTA_OK(a, len); a = RTA_NEXT(a, len))
		if (a->rta_type == IFLA_IFNAME)
			snprintf(l->name, sizeof(l->name), "%.*s", (int)RTA_PAYLOAD(a),
				 (const char *)RTA_DATA(a));
}

static int links_dump(struct tc *t, const struct tc_ns *ns, struct link_list *ll)
{
	struct {
		struct nlmsghdr nh;
		struct ifinfomsg ifi;
	} req = {
		.nh = { .nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg)),
			.nlmsg_type = RTM_GETLINK,
			.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP },
		.ifi = { .ifi_family = AF_UNSPEC },
	};

	return nl_dump(t, ns->rtnl, &req.nh, on_link, ll);
}

static void on_filter(const struct nlmsghdr *nh, void *arg)
{
	const struct tcmsg *tm = NLMSG_DATA(nh);
	struct filter_list *fl = arg;
	int len = TCA_PAYLOAD(nh);
	struct tc_filter f = {};
	struct rtattr *a;
	bool bpf = false;

	/* one message per filter, plus one per (chain, prio) with handle 0 */
	if (nh->nlmsg_type != RTM_NEWTFILTER || !tm->tcm_handle)
		return;
	f.prio = TC_H_MAJ(tm->tcm_info) >> 16;
	f.handle = tm->tcm_handle;
	for (a = TCA_RTA(tm); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
		if (a->rta_type == TCA_KIND)
			bpf = !strncmp(RTA_DATA(a), "bpf", RTA_PAYLOAD(a));
		if (a->rta_type == TCA_OPTIONS) {
			int olen = RTA_PAYLOAD(a);
			struct rtattr *o;

			for (o = RTA_DATA(a); RTA_OK(o, olen); o = RTA_NEXT(o, olen))
				if (o->rta_type == TCA_BPF_ID && RTA_PAYLOAD(o) >= sizeof(uint32_t))
					memcpy(&f.prog_id, RTA_DATA(o), sizeof(uint32_t));
		}
	}
	if (!bpf)
		f.prog_id = 0;
	if (fl->n < MAX_FILTERS)
		fl->f[fl->n] = f;
	fl->n++;
}

static int filters_dump(struct tc *t, const struct tc_ns *ns, int ifindex, uint32_t parent,
			struct filter_list *fl)
{
	struct {
		struct nlmsghdr nh;
		struct tcmsg tm;
	} req = {
		.nh = { .nlmsg_len = NLMSG_LENGTH(sizeof(struct tcmsg)),
			.nlmsg_type = RTM_GETTFILTER,
			.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP },
		.tm = { .tcm_family = AF_UNSPEC, .tcm_ifindex = ifindex, .tcm_parent = parent },
	};

	fl->n = 0;
	return nl_dump(t, ns->rtnl, &req.nh, on_filter, fl);
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

/*
 * Does a process other than us hold the program (a running synfin keeps
 * its program fds open; the filters of a killed one are the only thing
 * left holding theirs)? Looks at /proc/PID/fdinfo of bpf-prog fds only.
 */
static bool prog_held(uint32_t id)
{
	DIR *proc = opendir("/proc");
	struct dirent *p;
	bool held = false;
	pid_t self = getpid();

	if (!proc)
		return true; /* cannot tell: leave it alone */
	while (!held && (p = readdir(proc))) {
		char path[64];
		struct dirent *f;
		DIR *fds;
		int pid = atoi(p->d_name);

		if (pid <= 0 || pid == self)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/fd", pid);
		fds = opendir(path);
		if (!fds)
			continue;
		while (!held && (f = readdir(fds))) {
			char link[64], line[128];
			int fd = atoi(f->d_name);
			ssize_t n;
			FILE *fi;

			if (fd < 0 || f->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "/proc/%d/fd/%d", pid, fd);
			n = readlink(path, link, sizeof(link) - 1);
			if (n < 0)
				continue;
			link[n] = 0;
			if (strcmp(link, "anon_inode:bpf-prog"))
				continue;
			snprintf(path, sizeof(path), "/proc/%d/fdinfo/%d", pid, fd);
			fi = fopen(path, "re");
			if (!fi)
				continue;
			while (fgets(line, sizeof(line), fi)) {
				unsigned int held_id;

				if (sscanf(line, "prog_id: %u", &held_id) == 1 && held_id == id) {
					held = true;
					break;
				}
			}
			fclose(fi);
		}
		closedir(fds);
	}
	closedir(proc);
	return held;
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

/* Remove filters a killed synfin left on ifindex (we are inside ns). */
static int remove_stale(struct tc *t, const struct tc_ns *ns, int ifindex)
{
	struct filter_list *fl = malloc(sizeof(*fl));
	int dir, i, err = 0;

	if (!fl)
		return -ENOMEM;
	for (dir = SF_DIR_INGRESS; dir <= SF_DIR_EGRESS && !err; dir++) {
		/* no clsact, or no filter: nothing to do */
		if (filters_dump(t, ns, ifindex, clsact_parent(dir), fl))
			continue;
		for (i = 0; i < fl->n && i < MAX_FILTERS; i++) {
			DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
					    .attach_point = hook_point(dir));
			DECLARE_LIBBPF_OPTS(bpf_tc_opts, opts, .handle = fl->f[i].handle,
					    .priority = fl->f[i].prio);
			char name[BPF_OBJ_NAME_LEN];

			/* only our own slot, holding one of our two programs:
			 * another tool's filter is never touched */
			if (fl->f[i].prio != SF_TC_PRIO || fl->f[i].handle != SF_TC_HANDLE || !fl->f[i].prog_id ||
			    prog_name(fl->f[i].prog_id, name, sizeof(name)) ||
			    (strcmp(name, "sf_seg_ingress") && strcmp(name, "sf_seg_egress")))
				continue;
			if (prog_held(fl->f[i].prog_id)) {
				err = -EBUSY; /* a live synfin observes this interface */
				break;
			}
			if (!bpf_tc_detach(&hook, &opts))
				t->n_stale++;
		}
	}
	free(fl);
	return err;
}

static int count_filters(struct tc *t, const struct tc_ns *ns, int ifindex)
{
	struct filter_list *fl = malloc(sizeof(*fl));
	int dir, n = 0, err;

	if (!fl)
		return -ENOMEM;
	for (dir = SF_DIR_INGRESS; dir <= SF_DIR_EGRESS; dir++) {
		err = filters_dump(t, ns, ifindex, clsact_parent(dir), fl);
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
static void detach_dir(const struct tc *t, int ifindex, int dir)
{
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = hook_point(dir));
	DECLARE_LIBBPF_OPTS(bpf_tc_opts, opts, .handle = SF_TC_HANDLE, .priority = SF_TC_PRIO);

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

	detach_dir(t, i->ifindex, SF_DIR_INGRESS);
	detach_dir(t, i->ifindex, SF_DIR_EGRESS);
	if (i->own_qdisc && count_filters(t, &t->ns[i->ns], i->ifindex) == 0)
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

static bool link_wanted(const struct tc *t, const struct link *l)
{
	bool named = !t->n_ifnames;

	for (int i = 0; i < t->n_ifnames; i++)
		named |= !strcmp(t->ifnames[i], l->name);
	/* the program parses from an Ethernet header: lo has one at tc */
	return named && (l->flags & IFF_UP) && (l->type == ARPHRD_ETHER || l->type == ARPHRD_LOOPBACK);
}

/* Attach to one interface (inside ns). 1 attached, 0 already, -errno. */
static int if_attach(struct tc *t, int nsi, const struct link *l)
{
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = l->ifindex,
			    .attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS);
	struct tc_if *i, *p;
	bool own;
	int dir, err;

	if (if_find(t, nsi, l->ifindex))
		return 0;
	p = realloc(t->ifs, (t->n_ifs + 1) * sizeof(*p));
	if (!p)
		return -ENOMEM;
	t->ifs = p;

	err = remove_stale(t, &t->ns[nsi], l->ifindex);
	if (err)
		return err;
	err = bpf_tc_hook_create(&hook);
	if (err && err != -EEXIST)
		return err;
	own = !err;

	i = &t->ifs[t->n_ifs];
	memset(i, 0, sizeof(*i));
	i->ns = nsi;
	i->ifindex = l->ifindex;
	i->own_qdisc = own;
	snprintf(i->name, sizeof(i->name), "%s", l->name);
	for (dir = SF_DIR_INGRESS; dir <= SF_DIR_EGRESS; dir++) {
		if (dir == SF_DIR_INGRESS && t->lo_egress_only && l->type == ARPHRD_LOOPBACK)
			continue;
		DECLARE_LIBBPF_OPTS(bpf_tc_hook, h, .ifindex = l->ifindex,
				    .attach_point = hook_point(dir));
		DECLARE_LIBBPF_OPTS(bpf_tc_opts, opts, .handle = SF_TC_HANDLE,
				    .priority = SF_TC_PRIO,
				    .prog_fd = bpf_program__fd(dir_prog(t, dir)));

		err = bpf_tc_attach(&h, &opts);
		if (err) {
			/* -EEXIST: our slot is taken by a filter not ours */
			if_detach(t, i);
			return err == -EEXIST ? -EBUSY : err;
		}
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
		if (!link_wanted(t, &ll->l[k])) {
			if (count_skipped)
				t->n_skipped++;
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
	t->epfd = -1;
	t->self_fd = -1;
	t->self_fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (t->self_fd < 0) {
		err = -errno;
		goto fail;
	}
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

int tc__attach_netns(struct tc *t, const char *path)
{
	struct link_list ll = {};
	struct tc_ns *ns, *p;
	struct epoll_event ev = { .events = EPOLLIN };
	socklen_t clen = sizeof(uint64_t);
	struct stat st;
	int nsi, err, fd, r;

	fd = open(path ? path : "/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st)) {
		err = -errno;
		close(fd);
		return err;
	}
	for (nsi = 0; nsi < t->n_ns; nsi++) {
		if (t->ns[nsi].inode == st.st_ino && t->ns[nsi].dev == st.st_dev) {
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
	nsi = t->n_ns;
	ns = &t->ns[nsi];
	*ns = (struct tc_ns){ .fd = fd, .rtnl = -1, .mon = -1, .inode = st.st_ino, .dev = st.st_dev };

	err = ns_enter(ns);
	if (err) {
		close(fd);
		return err; /* not a network namespace: -EINVAL */
	}
	t->n_ns++; /* from here on tc__close cleans up */
	/* subscribe before the dump: no interface can fall in between */
	ns->mon = nl_open(RTMGRP_LINK);
	ns->rtnl = nl_open(0);
	if (ns->mon < 0 || ns->rtnl < 0) {
		err = ns->mon < 0 ? ns->mon : ns->rtnl;
		goto leave;
	}
	if (getsockopt(ns->rtnl, SOL_SOCKET, SO_NETNS_COOKIE, &ns->cookie, &clen)) {
		err = -errno;
		goto leave;
	}
	ev.data.u32 = nsi;
	if (epoll_ctl(t->epfd, EPOLL_CTL_ADD, ns->mon, &ev)) {
		err = -errno;
		goto leave;
	}
	err = links_dump(t, ns, &ll);
	if (!err) {
		r = attach_links(t, nsi, &ll, true);
		err = r < 0 ? r : 0;
	}
leave:
	r = ns_leave(t);
	free(ll.l);
	if (err)
		return err;
	if (r)
		return r;
	/* count what this namespace has now */
	r = 0;
	for (int i = 0; i < t->n_ifs; i++)
		r += t->ifs[i].ns == nsi;
	return r;
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

	t->describe[0] = 0;
	for (int n = 0; n < t->n_ns && off < len; n++) {
		off += snprintf(t->describe + off, len - off, "%snetns %u:", n ? "; " : "",
				t->ns[n].inode);
		for (int i = 0; i < t->n_ifs && off < len; i++)
			if (t->ifs[i].ns == n)
				off += snprintf(t->describe + off, len - off, " %s", t->ifs[i].name);
	}
	if (t->n_skipped && off < len)
		off += snprintf(t->describe + off, len - off,
				"; %d interface(s) skipped (not chosen with --interface, or no Ethernet header)", t->n_skipped);
	if (t->n_stale && off < len)
		snprintf(t->describe + off, len - off, "; %d leftover filter(s) removed",
			 t->n_stale);
	return t->describe;
}

int tc__netlink_fd(const struct tc *t)
{
	return t->epfd;
}

/* Drain one namespace's notifications into ll; deleted links are
 * forgotten at once. Returns 1 when messages were lost (rescan). */
static int drain(struct tc *t, int nsi, struct link_list *ll)
{
	char *buf = malloc(NL_BUF);
	int lost = 0;

	if (!buf)
		return 1;
	for (;;) {
		ssize_t n = recv(t->ns[nsi].mon, buf, NL_BUF, MSG_DONTWAIT);
		struct nlmsghdr *nh;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == ENOBUFS) {
				lost = 1;
				continue;
			}
			break; /* EAGAIN: drained */
		}
		for (nh = (struct nlmsghdr *)buf; NLMSG_OK(nh, n); nh = NLMSG_NEXT(nh, n)) {
			const struct ifinfomsg *ifi = NLMSG_DATA(nh);
			struct tc_if *i;

			if (nh->nlmsg_type == RTM_DELLINK &&
			    nh->nlmsg_len >= NLMSG_LENGTH(sizeof(*ifi))) {
				/* the device took its qdiscs and filters along */
				i = if_find(t, nsi, ifi->ifi_index);
				if (i)
					if_forget(t, i);
				for (int k = 0; k < ll->n; k++)
					if (ll->l[k].ifindex == ifi->ifi_index)
						ll->l[k].flags = 0;
			} else if (nh->nlmsg_type == RTM_NEWLINK) {
				on_link(nh, ll);
			}
		}
	}
	free(buf);
	return lost;
}

int tc__handle_netlink(struct tc *t)
{
	int total = 0, first_err = 0;

	for (int nsi = 0; nsi < t->n_ns; nsi++) {
		struct link_list ll = {};
		int lost, r, err;

		lost = drain(t, nsi, &ll);
		if (!lost && !ll.n)
			continue;
		err = ns_enter(&t->ns[nsi]);
		if (err) {
			free(ll.l);
			return err;
		}
		if (lost) {
			/* notifications were lost: start from the kernel's view,
			 * and forget interfaces that are gone */
			ll.n = 0;
			r = links_dump(t, &t->ns[nsi], &ll);
			if (!r) {
				for (int i = t->n_ifs - 1; i >= 0; i--) {
					bool present = false;

					if (t->ifs[i].ns != nsi)
						continue;
					for (int k = 0; k < ll.n; k++)
						present |= ll.l[k].ifindex == t->ifs[i].ifindex;
					if (!present)
						if_forget(t, &t->ifs[i]);
				}
			}
		} else {
			r = 0;
		}
		if (!r)
			r = attach_links(t, nsi, &ll, false);
		err = ns_leave(t);
		free(ll.l);
		if (err)
			return err;
		if (r < 0 && !first_err)
			first_err = r;
		else if (r > 0)
			total += r;
	}
	return first_err ? first_err : total;
}

void tc__close(struct tc *t)
{
	if (!t)
		return;
	for (int n = 0; n < t->n_ns; n++) {
		bool in = !ns_enter(&t->ns[n]);

		for (int i = 0; in && i < t->n_ifs; i++)
			if (t->ifs[i].ns == n)
				if_detach(t, &t->ifs[i]);
		if (in)
			ns_leave(t);
		if (t->ns[n].rtnl >= 0)
			close(t->ns[n].rtnl);
		if (t->ns[n].mon >= 0)
			close(t->ns[n].mon);
		close(t->ns[n].fd);
	}
	free(t->ns);
	free(t->ifs);
	segment_bpf__destroy(t->skel);
	rings__close(t->own);
	if (t->epfd >= 0)
		close(t->epfd);
	if (t->self_fd >= 0)
		close(t->self_fd);
	free(t);
}
