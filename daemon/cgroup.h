/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * cgroup v2 id -> path, for records. The id BPF reads
 * (bpf_get_current_cgroup_id) is the inode number of the cgroup's
 * directory in the cgroup2 filesystem; the kernel opens that directory
 * from the id (open_by_handle_at, a kernfs file handle: needs
 * CAP_DAC_READ_SEARCH), or, without that capability, a walk of the
 * cgroup2 mount finds it. Either costs a system call or more: done when a
 * record is written, never per event, and cached:
 *   - a bounded cache (4-way set associative, least recently used out);
 *     ids are never reused by the kernel, so a path found stays right;
 *   - a failed lookup is cached for CGROUPS_NEGATIVE_NS (a cgroup that
 *     went away before its connection's record stays gone, and one not
 *     found is not searched for on every record).
 * Nothing here logs.
 */
#ifndef SYNFIN_CGROUP_H
#define SYNFIN_CGROUP_H

#include <stdbool.h>
#include <stdint.h>
#include "cgroup_path.h"

#define CGROUPS_NEGATIVE_NS (10ULL * 1000000000ULL)

struct cgroups;

struct cg_counters {
	uint64_t resolved;	/* ids given a path */
	uint64_t gone;		/* ids whose cgroup was removed before the record */
	uint64_t failed;	/* ids not resolved for another reason */
	uint64_t evicted;	/* paths let go of: the cache was full */
	uint32_t cached;	/* entries now */
};

/* Find the cgroup2 mount (/proc/self/mounts). 0, -ENOENT (no cgroup2),
 * -ENOMEM, or -errno from opening it. */
int cgroups__new(struct cgroups **out);
/* Accepts NULL. */
void cgroups__free(struct cgroups *c);
/* The path and owner of id at mono time now, NULL for id 0 (not known).
 * The pointer is good until the next call. */
const struct cg_info *cgroups__get(struct cgroups *c, uint64_t id, uint64_t now);
/* Accepts NULL (all zero). */
void cgroups__counters(const struct cgroups *c, struct cg_counters *out);
/* where cgroup2 is mounted, and how ids are resolved: "file handles" or
 * "a walk of the mount" (the capability was missing) */
const char *cgroups__mount(const struct cgroups *c);
const char *cgroups__method(const struct cgroups *c);

#endif /* SYNFIN_CGROUP_H */
