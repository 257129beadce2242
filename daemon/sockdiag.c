// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <errno.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/inet_diag.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
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

static int dump_family(struct mnl_socket *nl, int family, struct dump_ctx *d)
{
	char buf[MNL_SOCKET_BUFFER_SIZE * 4];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct inet_diag_req_v2 *req;
	unsigned int seq = (unsigned int)time(NULL), portid = mnl_socket_get_portid(nl);
	ssize_t n;
	int ret;

	nlh->nlmsg_type = SOCK_DIAG_BY_FAMILY;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	nlh->nlmsg_seq = seq;
	req = mnl_nlmsg_put_extra_header(nlh, sizeof(*req));
	req->sdiag_family = family;
	req->sdiag_protocol = IPPROTO_TCP;
	req->idiag_states = ~0u;
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	for (;;) {
		n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
		if (n < 0)
			return -errno;
		ret = mnl_cb_run(buf, n, seq, portid, on_msg, d);
		if (ret == MNL_CB_STOP)
			return 0;
		if (ret < 0)
			return -errno;
	}
}

int sockdiag__dump(__u32 netns, sockdiag_fn fn, void *ctx)
{
	struct dump_ctx d = { netns, fn, ctx };
	struct mnl_socket *nl = mnl_socket_open(NETLINK_SOCK_DIAG);
	int err;

	if (!nl)
		return -errno;
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		err = -errno;
		mnl_socket_close(nl);
		return err;
	}
	err = dump_family(nl, AF_INET, &d);
	if (!err)
		err = dump_family(nl, AF_INET6, &d);
	mnl_socket_close(nl);
	return err;
}
