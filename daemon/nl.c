// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <linux/netlink.h>
#include "nl.h"

struct nl {
	struct mnl_socket *sk;
	unsigned int seq;	/* of the last request: tells its answers from a stale one's */
};

/* Reads go to the caller's stack, not to a buffer per socket: synfin holds
 * two rtnetlink sockets per followed namespace (60 MiB of buffers for
 * 1,000), and a callback may start another socket's dump. */

int nl__open(struct nl **out, int bus, unsigned int groups)
{
	struct nl *nl = calloc(1, sizeof(*nl));
	int one = 1, rcvbuf = 1 << 20, err;

	if (!nl)
		return -ENOMEM;
	nl->sk = mnl_socket_open2(bus, SOCK_CLOEXEC | (groups ? SOCK_NONBLOCK : 0));
	if (!nl->sk) {
		err = -errno;
		free(nl);
		return err;
	}
	/* acks without a copy of the request: smaller answers */
	mnl_socket_setsockopt(nl->sk, NETLINK_CAP_ACK, &one, sizeof(one));
	/* a burst of notifications (a hundred veths at once) must fit */
	if (groups)
		setsockopt(mnl_socket_get_fd(nl->sk), SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	if (mnl_socket_bind(nl->sk, groups, MNL_SOCKET_AUTOPID) < 0) {
		err = -errno;
		nl__close(nl);
		return err;
	}
	*out = nl;
	return 0;
}

void *nl__dump_request(struct nl_request *r, uint16_t type, size_t len)
{
	struct nlmsghdr *nh = mnl_nlmsg_put_header(r);

	nh->nlmsg_type = type;
	nh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	return len <= sizeof(r->body) ? mnl_nlmsg_put_extra_header(nh, len) : NULL;
}

int nl__dump(struct nl *nl, struct nlmsghdr *nlh, mnl_cb_t cb, void *data)
{
	unsigned int portid = mnl_socket_get_portid(nl->sk);
	char buf[NL_BUF_SIZE];
	int ret;

	nlh->nlmsg_seq = ++nl->seq;
	if (mnl_socket_sendto(nl->sk, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	for (;;) {
		ssize_t n = mnl_socket_recvfrom(nl->sk, buf, sizeof(buf));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		errno = 0;
		ret = mnl_cb_run(buf, (size_t)n, nl->seq, portid, cb, data);
		if (ret == MNL_CB_STOP)
			return 0;
		if (ret == MNL_CB_ERROR) {
			/* ESRCH: the rest of an earlier, abandoned answer */
			if (errno == ESRCH)
				continue;
			return errno ? -errno : -EIO;
		}
	}
}

int nl__drain(struct nl *nl, mnl_cb_t cb, void *data)
{
	char buf[NL_BUF_SIZE];
	int lost = 0;

	for (;;) {
		ssize_t n = mnl_socket_recvfrom(nl->sk, buf, sizeof(buf));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == ENOBUFS) {
				lost = 1;
				continue;
			}
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return lost;
			return -errno;
		}
		/* notifications carry sequence 0 and port 0: no check */
		mnl_cb_run(buf, (size_t)n, 0, 0, cb, data);
	}
}

int nl__fd(const struct nl *nl)
{
	return mnl_socket_get_fd(nl->sk);
}

void nl__close(struct nl *nl)
{
	if (!nl)
		return;
	if (nl->sk)
		mnl_socket_close(nl->sk);
	free(nl);
}
