// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <errno.h>
#include <string.h>
#include <arpa/inet.h>
#include <linux/inet_diag.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include "nl.h"
#include "sockdiag.h"

struct dump_ctx {
	__u32 netns;
	sockdiag_fn fn;
	void *ctx;
};

static int on_msg(const struct nlmsghdr *nlh, void *data)
{
	const struct inet_diag_msg *m = mnl_nlmsg_get_payload(nlh);
	struct dump_ctx *d = data;
	struct sf_snapshot_sock s = {};

	if (nlh->nlmsg_type != SOCK_DIAG_BY_FAMILY || mnl_nlmsg_get_payload_len(nlh) < sizeof(*m))
		return MNL_CB_OK;
	s.netns = d->netns;
	s.family = m->idiag_family;
	s.state = m->idiag_state;
	s.sport = ntohs(m->id.idiag_sport);
	s.dport = ntohs(m->id.idiag_dport);
	memcpy(s.saddr, m->id.idiag_src, m->idiag_family == AF_INET ? 4 : 16);
	memcpy(s.daddr, m->id.idiag_dst, m->idiag_family == AF_INET ? 4 : 16);
	s.cookie = (__u64)m->id.idiag_cookie[0] | ((__u64)m->id.idiag_cookie[1] << 32);
	s.inode = m->idiag_inode;
	s.uid = m->idiag_uid;
	d->fn(d->ctx, &s);
	return MNL_CB_OK;
}

static int dump_family(struct nl *nl, int family, struct dump_ctx *d)
{
	struct nl_request r;
	struct inet_diag_req_v2 *req = nl__dump_request(&r, SOCK_DIAG_BY_FAMILY, sizeof(*req));

	req->sdiag_family = family;
	req->sdiag_protocol = IPPROTO_TCP;
	req->idiag_states = ~0u;
	return nl__dump(nl, &r.nh, on_msg, d);
}

int sockdiag__dump(__u32 netns, sockdiag_fn fn, void *ctx)
{
	struct dump_ctx d = { netns, fn, ctx };
	struct nl *nl;
	int err = nl__open(&nl, NETLINK_SOCK_DIAG, 0);

	if (err)
		return err;
	err = dump_family(nl, AF_INET, &d);
	if (!err)
		err = dump_family(nl, AF_INET6, &d);
	nl__close(nl);
	return err;
}
