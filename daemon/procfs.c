// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include "procfs.h"

int procfs__walk_fds(procfs_fd_fn fn, void *ctx)
{
	DIR *proc = opendir("/proc");
	int r = PROCFS_NEXT;
	struct dirent *pe;

	if (!proc)
		return -errno;
	while (r != PROCFS_STOP && (pe = readdir(proc))) {
		char path[64], link[64];
		struct dirent *fe;
		DIR *fds;
		int pid;

		if (pe->d_name[0] < '1' || pe->d_name[0] > '9')
			continue;
		pid = atoi(pe->d_name);
		snprintf(path, sizeof(path), "/proc/%d/fd", pid);
		fds = opendir(path);
		if (!fds)
			continue; /* gone, or not ours to see */
		r = PROCFS_NEXT;
		while (r == PROCFS_NEXT && (fe = readdir(fds))) {
			int fd = atoi(fe->d_name);
			ssize_t n;

			if (fe->d_name[0] < '0' || fe->d_name[0] > '9')
				continue;
			snprintf(path, sizeof(path), "/proc/%d/fd/%d", pid, fd);
			n = readlink(path, link, sizeof(link) - 1);
			if (n <= 0)
				continue;
			link[n] = 0;
			r = fn(ctx, pid, fd, link);
		}
		closedir(fds);
	}
	closedir(proc);
	return 0;
}
