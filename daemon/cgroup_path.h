/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Who a cgroup v2 path belongs to: the container runtimes' and systemd's
 * naming patterns (docs/containers.md lists them), e.g.
 *   /system.slice/docker-<64 hex>.scope               docker (systemd driver)
 *   /docker/<64 hex>                                   docker (cgroupfs driver)
 *   /kubepods.slice/.../kubepods-besteffort-pod<uid>.slice/cri-containerd-<64 hex>.scope
 *   /machine.slice/libpod-<64 hex>.scope               podman
 *   /system.slice/nginx.service                        a systemd unit
 * Pure: strings in, strings out. The daemon's cgroup.c finds the path of
 * an id; this file only reads it.
 */
#ifndef SYNFIN_CGROUP_PATH_H
#define SYNFIN_CGROUP_PATH_H

#include <stdint.h>

enum cg_runtime {
	CG_RT_NONE = 0,
	CG_RT_DOCKER,
	CG_RT_CONTAINERD,	/* cri-containerd-<id>.scope (Kubernetes, CRI) */
	CG_RT_CRIO,		/* crio-<id>.scope */
	CG_RT_PODMAN,		/* libpod-<id>.scope */
	CG_RT_KUBERNETES,	/* a kubepods path whose runtime the path does not say */
};

#define CG_ID_LEN 64		/* a container id: 64 hex digits */
#define CG_UID_LEN 36		/* a pod uid: 8-4-4-4-12 */
#define CG_UNIT_LEN 255		/* a systemd unit name, at most */

struct cg_owner {
	enum cg_runtime runtime;	/* CG_RT_NONE: no container in the path */
	char id[CG_ID_LEN + 1];		/* "" when only the pod is known */
	char pod_uid[CG_UID_LEN + 1];	/* "" when no kubepods pod in the path */
	char unit[CG_UNIT_LEN + 1];	/* the innermost systemd .service (or
					 * non-container .scope), "" none */
};

/* What records say about a cgroup id: its path and owner. */
struct cg_info {
	uint64_t id;
	const char *path;		/* relative to the cgroup2 root; NULL: unknown */
	struct cg_owner owner;
};

/* Read path (relative to the cgroup2 root, "/..."). 0 when a container,
 * a pod or a unit was found in it; -ENOENT when none was. */
int cgroup_path__parse(const char *path, struct cg_owner *o);
/* "docker", "containerd", "cri-o", "podman", "kubernetes"; NULL for none */
const char *cg_runtime_name(enum cg_runtime rt);

#endif /* SYNFIN_CGROUP_PATH_H */
