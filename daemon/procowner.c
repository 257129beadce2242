// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "procfs.h"
#include "procowner.h"

struct resolve_ctx {
	struct sf_snapshot_sock *socks;
	int n;
	int resolved;
	int comm_pid;		/* the process comm holds, 0: none yet */
	char comm[SYNFIN_COMM_LEN];
};

static int by_inode(const void *a, const void *b)
{
	const struct sf_snapshot_sock *x = a, *y = b;

	return x->inode < y->inode ? -1 : x->inode > y->inode;
}

static struct sf_snapshot_sock *find(struct sf_snapshot_sock *s, int n, __u32 inode)
{
	struct sf_snapshot_sock key = { .inode = inode };

	return bsearch(&key, s, n, sizeof(*s), by_inode);
}

static void read_comm(int pid, char comm[SYNFIN_COMM_LEN])
{
	char path[64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/comm", pid);
	memset(comm, 0, SYNFIN_COMM_LEN);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	n = read(fd, comm, SYNFIN_COMM_LEN);
	close(fd);
	/* the kernel adds a newline; the name itself may hold any byte */
	if (n > 0 && comm[n - 1] == '\n')
		comm[n - 1] = 0;
}

static int on_fd(void *ctx, int pid, int fd, const char *link)
{
	struct resolve_ctx *r = ctx;
	struct sf_snapshot_sock *s;
	unsigned long ino;

	(void)fd;
	if (sscanf(link, "socket:[%lu]", &ino) != 1)
		return PROCFS_NEXT;
	s = find(r->socks, r->n, (__u32)ino);
	if (!s || s->tgid)
		return PROCFS_NEXT;
	if (r->comm_pid != pid) {
		read_comm(pid, r->comm);
		r->comm_pid = pid;
	}
	s->tgid = (__u32)pid;
	memcpy(s->comm, r->comm, sizeof(r->comm));
	return ++r->resolved == r->n ? PROCFS_STOP : PROCFS_NEXT;
}

int procowner__resolve(struct sf_snapshot_sock *socks, int n)
{
	struct resolve_ctx r = { .socks = socks, .n = n };

	if (n <= 0)
		return 0;
	qsort(socks, n, sizeof(*socks), by_inode);
	procfs__walk_fds(on_fd, &r);
	return r.resolved;
}
