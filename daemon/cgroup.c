// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include "cgroup.h"
#include "filter_cgroup.h"
#include "hash.h"

/* include/linux/exportfs.h, not in the uapi headers: a kernfs node id as
 * a file handle (what systemd uses too) */
#define FILEID_KERNFS 0xfe

#define WAYS 4
#define SETS 512		/* 2048 paths cached */
#define WALK_DEPTH 32		/* runtimes nest a handful of levels */

struct cg_entry {
	uint64_t id;		/* 0: free */
	uint64_t used;		/* for LRU within the set */
	uint64_t expires;	/* a failure: looked up again after this; 0: a path */
	char *path;
	struct cg_info info;
};

struct cgroups {
	int mnt_fd;
	char mnt[PATH_MAX];
	size_t mnt_len;
	bool walk;		/* file handles refused: walk the mount */
	uint64_t tick;
	struct cg_counters cnt;
	struct cg_entry e[SETS][WAYS];
};

/* the directory of id through a kernfs file handle: -ESTALE or -ENOENT
 * when it is gone; -EPERM without CAP_DAC_READ_SEARCH */
static int open_id(struct cgroups *c, uint64_t id)
{
	union {
		struct file_handle fh;
		char raw[sizeof(struct file_handle) + sizeof(uint64_t)];
	} h;
	int fd;

	h.fh.handle_bytes = sizeof(uint64_t);
	h.fh.handle_type = FILEID_KERNFS;
	memcpy(h.fh.f_handle, &id, sizeof(id));
	fd = open_by_handle_at(c->mnt_fd, &h.fh, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

/* no CAP_DAC_READ_SEARCH, or a kernel without kernfs handles */
static bool handles_refused(int err)
{
	return err == -EPERM || err == -EOPNOTSUPP || err == -EINVAL || err == -EACCES;
}

int cgroups__new(struct cgroups **out)
{
	struct cgroups *c = calloc(1, sizeof(*c));
	struct stat st;
	int err, fd;

	if (!c)
		return -ENOMEM;
	err = cgroup2_find_mount(c->mnt, sizeof(c->mnt));
	if (!err) {
		c->mnt_fd = open(c->mnt, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (c->mnt_fd < 0)
			err = -errno;
	}
	if (err) {
		free(c);
		return err;
	}
	c->mnt_len = strlen(c->mnt);
	if (c->mnt_len == 1) /* mounted at / */
		c->mnt_len = 0;
	/* which way works, known from the start: the mount's own directory
	 * through a handle (its inode is its id) */
	if (!fstat(c->mnt_fd, &st)) {
		fd = open_id(c, st.st_ino);
		if (fd >= 0)
			close(fd);
		else
			c->walk = handles_refused(fd);
	}
	*out = c;
	return 0;
}

void cgroups__free(struct cgroups *c)
{
	if (!c)
		return;
	for (int s = 0; s < SETS; s++)
		for (int w = 0; w < WAYS; w++)
			free(c->e[s][w].path);
	close(c->mnt_fd);
	free(c);
}

/* "/sys/fs/cgroup/unified/a/b" -> "/a/b" (malloc'd) */
static int by_handle(struct cgroups *c, uint64_t id, char **path)
{
	char link[64], buf[PATH_MAX];
	ssize_t n;
	int fd = open_id(c, id);

	if (fd < 0)
		return fd;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = 0;
	/* removed between the open and the readlink */
	if (n > 10 && !strcmp(buf + n - 10, " (deleted)"))
		return -ENOENT;
	if ((size_t)n < c->mnt_len || memcmp(buf, c->mnt, c->mnt_len) ||
	    (buf[c->mnt_len] && buf[c->mnt_len] != '/'))
		return -EXDEV; /* not below our mount (another namespace's view) */
	*path = strdup(buf[c->mnt_len] ? buf + c->mnt_len : "/");
	return *path ? 0 : -ENOMEM;
}

/* depth-first search of the directory dfd (path rel, len bytes) for the
 * directory whose inode is id; the whole path in rel on success */
static int walk(int dfd, uint64_t id, char *rel, size_t len, int depth)
{
	DIR *d = fdopendir(dfd);
	struct dirent *de;
	int err = -ENOENT;

	if (!d) {
		close(dfd);
		return -errno;
	}
	while (err == -ENOENT && (de = readdir(d))) {
		size_t n = strlen(de->d_name);
		int sub;

		if (de->d_type != DT_DIR || !strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (len + 1 + n >= PATH_MAX)
			continue;
		rel[len] = '/';
		memcpy(rel + len + 1, de->d_name, n + 1);
		if (de->d_ino == id)
			err = 0;
		else if (depth < WALK_DEPTH &&
			 (sub = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0)
			err = walk(sub, id, rel, len + 1 + n, depth + 1);
	}
	closedir(d);
	if (err)
		rel[len] = 0;
	return err;
}

static int by_walk(struct cgroups *c, uint64_t id, char **path)
{
	char rel[PATH_MAX] = "";
	struct stat st;
	int fd, err;

	if (!fstat(c->mnt_fd, &st) && st.st_ino == id) {
		*path = strdup("/");
		return *path ? 0 : -ENOMEM;
	}
	fd = openat(c->mnt_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	err = walk(fd, id, rel, 0, 1);
	if (err)
		return err;
	*path = strdup(rel);
	return *path ? 0 : -ENOMEM;
}

static int resolve(struct cgroups *c, uint64_t id, char **path)
{
	int err;

	if (!c->walk) {
		err = by_handle(c, id, path);
		if (!handles_refused(err))
			return err;
		c->walk = true;
	}
	return by_walk(c, id, path);
}

static struct cg_entry *slot(struct cgroups *c, uint64_t id, bool *hit)
{
	struct cg_entry *set = c->e[sf_mix64(id) & (SETS - 1)], *old = &set[0];

	for (int w = 0; w < WAYS; w++) {
		if (set[w].id == id) {
			*hit = true;
			return &set[w];
		}
		if (!set[w].id || (old->id && set[w].used < old->used))
			old = &set[w];
	}
	*hit = false;
	if (old->id) {
		if (old->path)
			c->cnt.evicted++;
		free(old->path);
		old->path = NULL;
	} else {
		c->cnt.cached++;
	}
	return old;
}

const struct cg_info *cgroups__get(struct cgroups *c, uint64_t id, uint64_t now)
{
	struct cg_entry *e;
	bool hit;
	int err;

	if (!c || !id)
		return NULL;
	e = slot(c, id, &hit);
	e->used = ++c->tick;
	if (hit && (!e->expires || now < e->expires))
		return &e->info;
	free(e->path);
	memset(e, 0, sizeof(*e));
	e->id = id;
	e->used = c->tick;
	e->info.id = id;
	err = resolve(c, id, &e->path);
	if (err) {
		e->path = NULL;
		e->expires = now + CGROUPS_NEGATIVE_NS;
		if (err == -ENOENT || err == -ESTALE)
			c->cnt.gone++;
		else
			c->cnt.failed++;
		return &e->info;
	}
	c->cnt.resolved++;
	e->info.path = e->path;
	cgroup_path__parse(e->path, &e->info.owner);
	return &e->info;
}

void cgroups__counters(const struct cgroups *c, struct cg_counters *out)
{
	if (c)
		*out = c->cnt;
	else
		memset(out, 0, sizeof(*out));
}

const char *cgroups__mount(const struct cgroups *c)
{
	return c->mnt;
}

const char *cgroups__method(const struct cgroups *c)
{
	return c->walk ? "a walk of the mount" : "file handles";
}
