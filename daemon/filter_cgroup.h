/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * --cgroup PATH: the cgroup v2 directory, its id and depth (for the
 * kernel's test: the current task's ancestor at that depth is it), and,
 * for the daemon's own test on records, the ids of its whole subtree
 * (read from the filesystem, again when an id is not found, at most once
 * a second: cgroups made later are found too).
 */
#ifndef SYNFIN_FILTER_CGROUP_H
#define SYNFIN_FILTER_CGROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/types.h>

/* arg: a directory of a cgroup2 filesystem, or a path below its mount
 * ("/system.slice/nginx.service"). *path: the directory (allocated).
 * 0, or -errno with why said. */
int filter_cgroup__resolve(const char *arg, char **path, __u64 *id, __u32 *level, char *why, size_t len);

/* Where cgroup2 is mounted: 0, -ENOENT (nowhere), -ENAMETOOLONG, -errno. */
int cgroup2_find_mount(char *out, size_t len);

struct filter_cgroups;

struct filter_cgroups *filter_cgroups__new(const char *const *paths, int n);
void filter_cgroups__free(struct filter_cgroups *c);
/* Is id in one of the subtrees? now: CLOCK_MONOTONIC ns. */
bool filter_cgroups__contains(struct filter_cgroups *c, __u64 id, __u64 now);

#endif /* SYNFIN_FILTER_CGROUP_H */
