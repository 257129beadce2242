// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Container, pod and unit from cgroup v2 paths, as runtimes name them.
 * The paths are the shapes seen on real hosts (Docker 24 with systemd and
 * cgroupfs drivers, kubelet 1.28 with containerd and CRI-O, podman 4). */
#include "cgroup_path.h"
#include "unit.h"

#define ID "4f1b9e5c0a7d2e8f3b6c1d0e9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b"
#define ID2 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static struct cg_owner o;

static int parse(const char *p)
{
	return cgroup_path__parse(p, &o);
}

TEST(cgroup_docker)
{
	EXPECT(parse("/system.slice/docker-" ID ".scope") == 0);
	EXPECT(o.runtime == CG_RT_DOCKER);
	EXPECT_STR(o.id, ID);
	EXPECT_STR(o.unit, "");
	EXPECT_STR(o.pod_uid, "");
	EXPECT_STR(cg_runtime_name(o.runtime), "docker");
	/* cgroupfs driver */
	EXPECT(parse("/docker/" ID) == 0);
	EXPECT(o.runtime == CG_RT_DOCKER);
	EXPECT_STR(o.id, ID);
	/* docker in docker: the inner one */
	EXPECT(parse("/docker/" ID "/docker/" ID2) == 0);
	EXPECT_STR(o.id, ID2);
	/* a process in a sub-cgroup of its container (cgroup namespaces) */
	EXPECT(parse("/system.slice/docker-" ID ".scope/init") == 0);
	EXPECT_STR(o.id, ID);
}

TEST(cgroup_kubernetes)
{
	/* containerd, systemd driver: the uid's dashes are underscores */
	EXPECT(parse("/kubepods.slice/kubepods-burstable.slice/"
		     "kubepods-burstable-pod8a3f2c1e_5b7d_4e9a_b0c2_1d3e5f7a9b0c.slice/"
		     "cri-containerd-" ID ".scope") == 0);
	EXPECT(o.runtime == CG_RT_CONTAINERD);
	EXPECT_STR(cg_runtime_name(o.runtime), "containerd");
	EXPECT_STR(o.id, ID);
	EXPECT_STR(o.pod_uid, "8a3f2c1e-5b7d-4e9a-b0c2-1d3e5f7a9b0c");
	/* guaranteed QoS: no class slice */
	EXPECT(parse("/kubepods.slice/kubepods-pod8a3f2c1e_5b7d_4e9a_b0c2_1d3e5f7a9b0c.slice/crio-" ID
		     ".scope") == 0);
	EXPECT(o.runtime == CG_RT_CRIO);
	EXPECT_STR(o.pod_uid, "8a3f2c1e-5b7d-4e9a-b0c2-1d3e5f7a9b0c");
	/* cgroupfs driver: pod<uid>/<id>, the runtime unsaid */
	EXPECT(parse("/kubepods/besteffort/pod8a3f2c1e-5b7d-4e9a-b0c2-1d3e5f7a9b0c/" ID) == 0);
	EXPECT(o.runtime == CG_RT_KUBERNETES);
	EXPECT_STR(o.id, ID);
	EXPECT_STR(o.pod_uid, "8a3f2c1e-5b7d-4e9a-b0c2-1d3e5f7a9b0c");
	/* the pod's own cgroup: a pod, no container */
	EXPECT(parse("/kubepods.slice/kubepods-besteffort.slice/"
		     "kubepods-besteffort-pod8a3f2c1e_5b7d_4e9a_b0c2_1d3e5f7a9b0c.slice") == 0);
	EXPECT(o.runtime == CG_RT_KUBERNETES);
	EXPECT_STR(o.id, "");
	EXPECT_STR(o.pod_uid, "8a3f2c1e-5b7d-4e9a-b0c2-1d3e5f7a9b0c");
	/* a bad uid is no pod */
	EXPECT(parse("/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod8a3f2c1e.slice") == -ENOENT);
}

TEST(cgroup_podman)
{
	EXPECT(parse("/machine.slice/libpod-" ID ".scope") == 0);
	EXPECT(o.runtime == CG_RT_PODMAN);
	EXPECT_STR(o.id, ID);
	/* rootless, under the user's manager; the container's own sub-cgroup */
	EXPECT(parse("/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" ID
		     ".scope/container") == 0);
	EXPECT(o.runtime == CG_RT_PODMAN);
	EXPECT_STR(o.id, ID);
	EXPECT_STR(o.unit, "");
	/* conmon, the monitor, is not the container */
	EXPECT(parse("/machine.slice/libpod-conmon-" ID ".scope") == 0);
	EXPECT(o.runtime == CG_RT_NONE);
	EXPECT_STR(o.unit, "libpod-conmon-" ID ".scope");
}

TEST(cgroup_systemd_units)
{
	EXPECT(parse("/system.slice/nginx.service") == 0);
	EXPECT(o.runtime == CG_RT_NONE);
	EXPECT_STR(o.unit, "nginx.service");
	/* the innermost unit: a user's service under user@.service */
	EXPECT(parse("/user.slice/user-1000.slice/user@1000.service/app.slice/"
		     "app-gnome-firefox-2208.scope") == 0);
	EXPECT_STR(o.unit, "app-gnome-firefox-2208.scope");
	EXPECT(parse("/system.slice/system-getty.slice/getty@tty1.service") == 0);
	EXPECT_STR(o.unit, "getty@tty1.service");
	EXPECT(parse("/user.slice/user-0.slice/session-4.scope") == 0);
	EXPECT_STR(o.unit, "session-4.scope");
}

TEST(cgroup_nothing)
{
	EXPECT(parse("/") == -ENOENT);
	EXPECT(parse("") == -ENOENT);
	EXPECT(parse("/system.slice") == -ENOENT);
	EXPECT(parse("/synfin-test/client") == -ENOENT);
	/* near misses: short, upper case, no .scope */
	EXPECT(parse("/system.slice/docker-4f1b9e5c.scope") == 0);
	EXPECT(o.runtime == CG_RT_NONE);
	EXPECT(parse("/system.slice/docker-" ID "x.scope") == 0);
	EXPECT(o.runtime == CG_RT_NONE);
	EXPECT(parse("/docker/4F1B9E5C0A7D2E8F3B6C1D0E9A8B7C6D5E4F3A2B1C0D9E8F7A6B5C4D3E2F1A0B") == -ENOENT);
	EXPECT(parse("/system.slice/docker-" ID) == -ENOENT);
	/* a bare id outside docker/ and kubepods: nobody's */
	EXPECT(parse("/other/" ID) == -ENOENT);
	/* doubled slashes are one */
	EXPECT(parse("//system.slice//docker-" ID ".scope/") == 0);
	EXPECT_STR(o.id, ID);
}
