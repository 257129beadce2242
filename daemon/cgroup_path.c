// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include "cgroup_path.h"

static bool is_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

static bool ends_with(const char *s, size_t n, const char *suffix)
{
	size_t k = strlen(suffix);

	return n >= k && !memcmp(s + n - k, suffix, k);
}

/* The container scopes systemd drivers make: <prefix><64 hex>.scope.
 * "libpod-conmon-<id>.scope" and "crio-conmon-<id>.scope" hold the
 * runtime's monitor, not the container: the hex test leaves them out. */
static const struct {
	const char *prefix;
	enum cg_runtime rt;
} scopes[] = {
	{ "docker-", CG_RT_DOCKER },
	{ "cri-containerd-", CG_RT_CONTAINERD },
	{ "crio-", CG_RT_CRIO },
	{ "libpod-", CG_RT_PODMAN },
};

static enum cg_runtime scope_id(const char *c, size_t n, const char **id)
{
	for (size_t i = 0; i < sizeof(scopes) / sizeof(scopes[0]); i++) {
		size_t p = strlen(scopes[i].prefix);

		if (n == p + CG_ID_LEN + 6 && !memcmp(c, scopes[i].prefix, p) && ends_with(c, n, ".scope") &&
		    is_hex(c + p, CG_ID_LEN)) {
			*id = c + p;
			return scopes[i].rt;
		}
	}
	return CG_RT_NONE;
}

/* 8-4-4-4-12 hex digits, the systemd driver writing '_' for '-' */
static bool pod_uid(const char *s, size_t n, char out[CG_UID_LEN + 1])
{
	if (n != CG_UID_LEN)
		return false;
	for (size_t i = 0; i < n; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;

		if (dash ? (s[i] != '-' && s[i] != '_') : !is_hex(s + i, 1))
			return false;
		out[i] = dash ? '-' : s[i];
	}
	out[n] = 0;
	return true;
}

/* kubepods-burstable-pod<uid>.slice, kubepods-pod<uid>.slice (systemd
 * driver) or pod<uid> under a kubepods directory (cgroupfs driver) */
static bool pod_component(const char *c, size_t n, bool in_kubepods, char out[CG_UID_LEN + 1])
{
	const char *p;

	if (n > 3 && !memcmp(c, "pod", 3) && in_kubepods)
		return pod_uid(c + 3, n - 3, out);
	if (n < 9 || memcmp(c, "kubepods", 8) || !ends_with(c, n, ".slice"))
		return false;
	n -= 6;
	p = memmem(c, n, "-pod", 4);
	return p && pod_uid(p + 4, n - (size_t)(p + 4 - c), out);
}

int cgroup_path__parse(const char *path, struct cg_owner *o)
{
	const char *c = path, *prev = NULL, *id;
	size_t prev_n = 0;
	bool in_kubepods = false;

	memset(o, 0, sizeof(*o));
	while (*c) {
		size_t n = strcspn(c, "/");
		enum cg_runtime rt;

		if (!n) {
			c++;
			continue;
		}
		in_kubepods |= n >= 8 && !memcmp(c, "kubepods", 8);
		rt = scope_id(c, n, &id);
		if (rt == CG_RT_NONE && n == CG_ID_LEN && is_hex(c, n)) {
			/* a bare id: docker's cgroupfs driver, or a
			 * kubelet's on the cgroupfs driver */
			id = c;
			if (prev && prev_n == 6 && !memcmp(prev, "docker", 6))
				rt = CG_RT_DOCKER;
			else if (in_kubepods)
				rt = CG_RT_KUBERNETES;
		}
		if (rt != CG_RT_NONE) {
			/* the innermost container wins (docker in docker) */
			o->runtime = rt;
			memcpy(o->id, id, CG_ID_LEN);
			o->id[CG_ID_LEN] = 0;
		} else if (!pod_component(c, n, in_kubepods, o->pod_uid) && n <= CG_UNIT_LEN &&
			   (ends_with(c, n, ".service") || ends_with(c, n, ".scope"))) {
			memcpy(o->unit, c, n);
			o->unit[n] = 0;
		}
		prev = c;
		prev_n = n;
		c += n;
	}
	/* a pod without a container id: the pod's own cgroup */
	if (o->runtime == CG_RT_NONE && o->pod_uid[0])
		o->runtime = CG_RT_KUBERNETES;
	/* a container's unit is its scope: the id says it better */
	if (o->runtime != CG_RT_NONE)
		o->unit[0] = 0;
	return o->runtime != CG_RT_NONE || o->unit[0] ? 0 : -ENOENT;
}

const char *cg_runtime_name(enum cg_runtime rt)
{
	switch (rt) {
	case CG_RT_DOCKER: return "docker";
	case CG_RT_CONTAINERD: return "containerd";
	case CG_RT_CRIO: return "cri-o";
	case CG_RT_PODMAN: return "podman";
	case CG_RT_KUBERNETES: return "kubernetes";
	default: return NULL;
	}
}
