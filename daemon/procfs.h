/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The one walker of /proc/PID/fd: every open file descriptor of every
 * process, with what it points at ("socket:[12345]",
 * "anon_inode:bpf-prog", a path). Used to find the owners of sockets
 * that existed before synfin (procowner.c) and whether a live process
 * still holds a BPF program (tc.c). Nothing here logs.
 */
#ifndef SYNFIN_PROCFS_H
#define SYNFIN_PROCFS_H

enum procfs_walk {
	PROCFS_NEXT = 0,	/* go on */
	PROCFS_NEXT_PID = 1,	/* skip the rest of this process's fds */
	PROCFS_STOP = 2,	/* done: stop the walk */
};

/* fd's target as readlink gives it (truncated to 63 bytes). Returns an
 * enum procfs_walk. Processes are visited in /proc's order, each
 * process's fds together. */
typedef int (*procfs_fd_fn)(void *ctx, int pid, int fd, const char *link);

/* 0 (also when stopped by fn), or -errno when /proc cannot be read.
 * Processes and fds that vanish meanwhile are skipped. */
int procfs__walk_fds(procfs_fd_fn fn, void *ctx);

#endif /* SYNFIN_PROCFS_H */
