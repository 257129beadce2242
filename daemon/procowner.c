// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "procowner.h"

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

static void read_comm(const char *pid, char comm[SYNFIN_COMM_LEN])
{
	char path[300];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%s/comm", pid);
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

int procowner__resolve(struct sf_snapshot_sock *socks, int n)
{
	struct dirent *pe, *fe;
	int resolved = 0;
	DIR *proc, *fds;

	if (n <= 0)
		return 0;
	qsort(socks, n, sizeof(*socks), by_inode);
	proc = opendir("/proc");
	if (!proc)
		return 0;
	while ((pe = readdir(proc)) && resolved < n) {
		char path[560], link[64];
		char comm[SYNFIN_COMM_LEN];
		bool have_comm = false;

		if (pe->d_name[0] < '1' || pe->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/fd", pe->d_name);
		fds = opendir(path);
		if (!fds)
			continue;
		while ((fe = readdir(fds))) {
			struct sf_snapshot_sock *s;
			unsigned long ino;
			ssize_t l;

			if (fe->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "/proc/%s/fd/%s", pe->d_name, fe->d_name);
			l = readlink(path, link, sizeof(link) - 1);
			if (l <= 0)
				continue;
			link[l] = 0;
			if (sscanf(link, "socket:[%lu]", &ino) != 1)
				continue;
			s = find(socks, n, (__u32)ino);
			if (!s || s->tgid)
				continue;
			if (!have_comm) {
				read_comm(pe->d_name, comm);
				have_comm = true;
			}
			s->tgid = (__u32)strtoul(pe->d_name, NULL, 10);
			memcpy(s->comm, comm, sizeof(comm));
			resolved++;
		}
		closedir(fds);
	}
	closedir(proc);
	return resolved;
}
