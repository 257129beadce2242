// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <mntent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <linux/magic.h>
#include "filter_cgroup.h"

#define RESCAN_NS 1000000000ULL
#define MAX_DEPTH 32

/* The first cgroup2 mount (on a hybrid host /sys/fs/cgroup/unified, else
 * usually /sys/fs/cgroup); getmntent decodes the escapes (\040). */
int cgroup2_find_mount(char *out, size_t len)
{
	FILE *f = setmntent("/proc/self/mounts", "re");
	struct mntent m, *p;
	char buf[4096];
	int err = -ENOENT;

	if (!f)
		return -errno;
	while ((p = getmntent_r(f, &m, buf, sizeof(buf)))) {
		if (strcmp(p->mnt_type, "cgroup2"))
			continue;
		if (strlen(p->mnt_dir) >= len) {
			err = -ENAMETOOLONG;
			continue;
		}
		strcpy(out, p->mnt_dir);
		err = 0;
		break;
	}
	endmntent(f);
	return err;
}

static bool is_cgroup2_dir(const char *p)
{
	struct statfs sfs;
	struct stat st;

	return !statfs(p, &sfs) && sfs.f_type == CGROUP2_SUPER_MAGIC && !stat(p, &st) && S_ISDIR(st.st_mode);
}

/* The cgroup id the kernel reports (bpf_get_current_cgroup_id) is the
 * directory's file handle; its inode number where handles are refused. */
static int cgroup_id(const char *p, __u64 *id)
{
	struct {
		struct file_handle fh;
		__u64 id;
	} h = { .fh.handle_bytes = sizeof(__u64) };
	struct stat st;
	int mnt;

	if (!name_to_handle_at(AT_FDCWD, p, &h.fh, &mnt, 0) && h.fh.handle_bytes == sizeof(__u64)) {
		memcpy(id, h.fh.f_handle, sizeof(*id));
		return 0;
	}
	if (stat(p, &st))
		return -errno;
	*id = st.st_ino;
	return 0;
}

int filter_cgroup__resolve(const char *arg, char **path, __u64 *id, __u32 *level, char *why, size_t len)
{
	char mnt[PATH_MAX], joined[PATH_MAX], real[PATH_MAX], rmnt[PATH_MAX];
	const char *p = arg;
	size_t ml;
	int err;

	err = cgroup2_find_mount(mnt, sizeof(mnt));
	if (err) {
		snprintf(why, len, "no cgroup2 filesystem is mounted (cgroup v2 is needed)");
		return err;
	}
	if (!is_cgroup2_dir(p) && (size_t)snprintf(joined, sizeof(joined), "%.2047s/%.2047s", mnt, arg) < sizeof(joined))
		p = joined;
	if (!is_cgroup2_dir(p) || !realpath(p, real) || !realpath(mnt, rmnt)) {
		snprintf(why, len, "'%s' is not a cgroup v2 directory (nor one below %s)", arg, mnt);
		return -ENOENT;
	}
	ml = strlen(rmnt);
	if (strncmp(real, rmnt, ml) || (real[ml] && real[ml] != '/')) {
		snprintf(why, len, "'%s' is not below the cgroup2 mount %s", arg, mnt);
		return -EINVAL;
	}
	/* its depth: components below the mount (the root is level 0) */
	*level = 0;
	for (const char *c = real + ml; *c; c++)
		if (*c == '/' && c[1])
			(*level)++;
	err = cgroup_id(real, id);
	if (!err && !(*path = strdup(real)))
		err = -ENOMEM;
	if (err)
		snprintf(why, len, "'%s': %s", arg, strerror(-err));
	return err;
}

struct filter_cgroups {
	char **paths;
	int n;
	__u64 *ids;		/* sorted */
	size_t n_ids, cap;
	__u64 scanned_at;
	bool scanned;
};

static int add_id(struct filter_cgroups *c, __u64 id)
{
	if (c->n_ids == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 64;
		__u64 *p = realloc(c->ids, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		c->ids = p;
		c->cap = cap;
	}
	c->ids[c->n_ids++] = id;
	return 0;
}

/* every directory below dfd (which this closes), depth-first */
static void walk(struct filter_cgroups *c, int dfd, int depth)
{
	DIR *d = fdopendir(dfd);
	struct dirent *de;

	if (!d) {
		close(dfd);
		return;
	}
	while ((de = readdir(d))) {
		struct stat st;
		int sub;

		if (de->d_type != DT_DIR || !strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		sub = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (sub < 0)
			continue;
		if (fstat(sub, &st) || add_id(c, st.st_ino) || depth >= MAX_DEPTH) {
			close(sub);
			continue;
		}
		walk(c, sub, depth + 1);
	}
	closedir(d);
}

static int cmp_u64(const void *a, const void *b)
{
	__u64 x = *(const __u64 *)a, y = *(const __u64 *)b;

	return x < y ? -1 : x > y;
}

static void scan(struct filter_cgroups *c, __u64 now)
{
	c->n_ids = 0;
	for (int i = 0; i < c->n; i++) {
		__u64 id;
		int fd;

		if (!cgroup_id(c->paths[i], &id))
			add_id(c, id);
		fd = open(c->paths[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd >= 0)
			walk(c, fd, 0);
	}
	qsort(c->ids, c->n_ids, sizeof(*c->ids), cmp_u64);
	c->scanned_at = now;
	c->scanned = true;
}

struct filter_cgroups *filter_cgroups__new(const char *const *paths, int n)
{
	struct filter_cgroups *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->paths = calloc((size_t)n + 1, sizeof(*c->paths));
	if (!c->paths) {
		free(c);
		return NULL;
	}
	for (int i = 0; i < n; i++)
		c->paths[c->n++] = (char *)paths[i];
	return c;
}

void filter_cgroups__free(struct filter_cgroups *c)
{
	if (!c)
		return;
	free(c->paths);
	free(c->ids);
	free(c);
}

bool filter_cgroups__contains(struct filter_cgroups *c, __u64 id, __u64 now)
{
	if (!c->scanned)
		scan(c, now);
	if (bsearch(&id, c->ids, c->n_ids, sizeof(id), cmp_u64))
		return true;
	/* made since the last look? */
	if (now - c->scanned_at < RESCAN_NS)
		return false;
	scan(c, now);
	return bsearch(&id, c->ids, c->n_ids, sizeof(id), cmp_u64);
}
