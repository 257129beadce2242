// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include "netns.h"

static int add(struct netns_ent **v, int *n, int *cap, const char *path)
{
	struct stat st;

	if (stat(path, &st))
		return 0; /* gone, or not ours to see */
	for (int i = 0; i < *n; i++)
		if ((*v)[i].inum == (uint32_t)st.st_ino)
			return 0;
	if (*n == *cap) {
		int c = *cap ? *cap * 2 : 16;
		struct netns_ent *p = realloc(*v, sizeof(*p) * c);

		if (!p)
			return -ENOMEM;
		*v = p;
		*cap = c;
	}
	(*v)[*n].inum = (uint32_t)st.st_ino;
	snprintf((*v)[*n].path, sizeof((*v)[*n].path), "%s", path);
	(*n)++;
	return 0;
}

/* Named namespaces: the bind mounts in dir (those starting with prefix). */
static int add_dir(struct netns_ent **v, int *n, int *cap, const char *dir, const char *prefix)
{
	size_t plen = prefix ? strlen(prefix) : 0;
	char path[300];
	struct dirent *de;
	int err = 0;
	DIR *d = opendir(dir);

	while (!err && d && (de = readdir(d))) {
		if (de->d_name[0] == '.' || (plen && strncmp(de->d_name, prefix, plen)))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		err = add(v, n, cap, path);
	}
	if (d)
		closedir(d);
	return err;
}

int netns__list(struct netns_ent **out, const char *prefix)
{
	struct netns_ent *v = NULL;
	int n = 0, cap = 0, err = 0;
	char path[300];
	struct dirent *de;
	DIR *d;

	if (!prefix)
		err = add(&v, &n, &cap, "/proc/self/ns/net");
	if (!err)
		err = add_dir(&v, &n, &cap, "/var/run/netns", prefix);
	/* Docker names its containers' namespaces here, not in /var/run/netns */
	if (!err && !prefix)
		err = add_dir(&v, &n, &cap, "/var/run/docker/netns", NULL);
	d = prefix ? NULL : opendir("/proc");
	while (!err && d && (de = readdir(d))) {
		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/ns/net", de->d_name);
		err = add(&v, &n, &cap, path);
	}
	if (d)
		closedir(d);
	if (err) {
		free(v);
		return err;
	}
	*out = v;
	return n;
}

uint32_t netns__self(void)
{
	struct stat st;

	return stat("/proc/self/ns/net", &st) ? 0 : (uint32_t)st.st_ino;
}

int netns__run_fd(int ns_fd, int (*fn)(void *ctx), void *ctx)
{
	/* setns() moves the calling thread: the way back is its own */
	int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	int err;

	if (self < 0)
		return -errno;
	if (setns(ns_fd, CLONE_NEWNET)) {
		err = -errno;
	} else {
		err = fn(ctx);
		/* The kernel refuses setns() only for a bad fd or a missing
		 * privilege, which the way in would have hit first; still,
		 * staying in the wrong namespace must not pass unnoticed. */
		if (setns(self, CLONE_NEWNET) && !err)
			err = -errno;
	}
	close(self);
	return err;
}

int netns__run_in(const char *path, int (*fn)(void *ctx), void *ctx)
{
	int target = open(path, O_RDONLY | O_CLOEXEC);
	int err;

	if (target < 0)
		return -errno;
	err = netns__run_fd(target, fn, ctx);
	close(target);
	return err;
}
