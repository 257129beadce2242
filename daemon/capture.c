// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/capability.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include "capture.h"
#include "filter.h"
#include "ring.h"
#include "state.skel.h"

#ifndef CAP_PERFMON
#define CAP_PERFMON 38
#endif
#ifndef CAP_BPF
#define CAP_BPF 39
#endif
/* the initial PID namespace's inode number is fixed (linux/proc_ns.h) */
#define SF_PROC_PID_INIT_INO 0xEFFFFFFCU

struct capture {
	struct state_bpf *skel;
	struct rings *rb;	/* one ring buffer per CPU (see rings__count) */
	uint32_t ring_bytes;	/* each */
	struct bpf_link *links[12];
	int n_links;
	capture_event_fn fn;
	void *ctx;
	int ncpus;
	int nrings;		/* a power of two, CPU id & (nrings - 1) picks one */
	char describe[1024];
};

int capture__check_privileges(char *msg, size_t len)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2] = {};
	uint64_t eff;

	if (syscall(SYS_capget, &hdr, data))
		return 0; /* cannot tell: let the load itself fail */
	eff = data[0].effective | ((uint64_t)data[1].effective << 32);
	if (eff & (1ULL << CAP_SYS_ADMIN))
		return 0;
	if ((eff & (1ULL << CAP_BPF)) && (eff & (1ULL << CAP_PERFMON)))
		return 0;
	snprintf(msg, len, "missing capability %s%s%s (or CAP_SYS_ADMIN): run as root, e.g. sudo synfin",
		 eff & (1ULL << CAP_BPF) ? "" : "CAP_BPF",
		 !(eff & (1ULL << CAP_BPF)) && !(eff & (1ULL << CAP_PERFMON)) ? " and " : "",
		 eff & (1ULL << CAP_PERFMON) ? "" : "CAP_PERFMON");
	return -EPERM;
}

/* Each ring gets an equal share of the total, a power of two (and never
 * less than 256 KiB). */
static uint32_t per_ring(uint32_t total, int nrings)
{
	uint32_t r = 256 << 10;

	while ((uint64_t)r * 2 * (uint32_t)nrings <= total)
		r *= 2;
	return r;
}

/*
 * Classic tracepoints are found through tracefs. Where it is not mounted,
 * mount it in a mount namespace of our own: the host's mounts stay as
 * they are. Returns true when tracepoint ids can be looked up.
 */
static bool tracefs_here(const char *events)
{
	/* AT_EACCESS: as the open() that follows will be, with our effective
	 * ids and capabilities (plain access() drops them for a non-root
	 * user: a service user holding CAP_DAC_READ_SEARCH looked denied) */
	return !faccessat(AT_FDCWD, events, F_OK, AT_EACCESS);
}

static bool ensure_tracefs(void)
{
	if (tracefs_here("/sys/kernel/tracing/events") || tracefs_here("/sys/kernel/debug/tracing/events"))
		return true;
	if (unshare(CLONE_NEWNS))
		return false;
	/* a slave: the host's later mounts still reach us (the namespaces
	 * `ip netns add` binds under /run/netns, which the namespace scan
	 * opens), ours do not go back */
	if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL))
		return false;
	if (mount("tracefs", "/sys/kernel/tracing", "tracefs", 0, NULL))
		return false;
	return tracefs_here("/sys/kernel/tracing/events");
}

/* Append to c->describe (at *off; what does not fit is cut). */
static void __attribute__((format(printf, 3, 4))) describe_add(struct capture *c, size_t *off, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (*off >= sizeof(c->describe))
		return;
	va_start(ap, fmt);
	n = vsnprintf(c->describe + *off, sizeof(c->describe) - *off, fmt, ap);
	va_end(ap);
	if (n > 0)
		*off += (size_t)n;
}

/* Append one "what is unavailable (what is lost)" to deg, "; "-separated. */
static void __attribute__((format(printf, 3, 4))) degraded_add(struct capture *c, char *deg, const char *fmt, ...)
{
	size_t off = strlen(deg), len = sizeof(c->describe);
	va_list ap;

	if (off && off + 2 < len) {
		memcpy(deg + off, "; ", 3);
		off += 2;
	}
	if (off >= len - 1)
		return;
	va_start(ap, fmt);
	vsnprintf(deg + off, len - off, fmt, ap);
	va_end(ap);
}

static int attach(struct capture *c, struct bpf_program *p, bool required, char *msg, size_t len)
{
	struct bpf_link *l = bpf_program__attach(p);

	if (!l) {
		int err = -errno;

		if (required) {
			snprintf(msg, len, "attaching %s failed: %s", bpf_program__section_name(p),
				 strerror(-err));
			return err;
		}
		return 1;
	}
	c->links[c->n_links++] = l;
	return 0;
}

/* Since Linux 6.17 tcp_retransmit_skb(sk, skb, err) also fires for an
 * attempt that sent nothing; its BTF prototype (context + 3 arguments)
 * tells. Unreadable BTF: the old meaning, every firing went out. */
static bool retransmit_reports_errors(void)
{
	const struct btf_type *t;
	struct btf *btf = btf__load_vmlinux_btf();
	bool yes = false;
	int id;

	if (!btf)
		return false;
	id = btf__find_by_name_kind(btf, "btf_trace_tcp_retransmit_skb", BTF_KIND_TYPEDEF);
	t = id > 0 ? btf__type_by_id(btf, id) : NULL;
	t = t ? btf__type_by_id(btf, t->type) : NULL;
	if (t && btf_is_ptr(t))
		t = btf__type_by_id(btf, t->type);
	if (t && btf_is_func_proto(t))
		yes = btf_vlen(t) >= 4;
	btf__free(btf);
	return yes;
}

int capture__open(struct capture **out, const struct capture_opts *o, capture_event_fn fn, void *ctx,
		  char *msg, size_t len)
{
	struct capture *c;
	struct state_bpf *s;
	int err, i;
	bool accept_ok = false;
	const char *accept_why = NULL;
	char deg[sizeof(c->describe)] = "";
	size_t off = 0;
	struct stat st;

	if (access("/sys/kernel/btf/vmlinux", R_OK)) {
		snprintf(msg, len,
			 "kernel BTF not found (/sys/kernel/btf/vmlinux): CO-RE needs a kernel built with CONFIG_DEBUG_INFO_BTF=y; nothing can be captured");
		return -ENOTSUP;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->fn = fn;
	c->ctx = ctx;
	c->ncpus = libbpf_num_possible_cpus();
	if (c->ncpus <= 0) {
		err = c->ncpus ? c->ncpus : -EINVAL;
		snprintf(msg, len, "cannot count the CPUs: %s", strerror(-err));
		free(c);
		return err;
	}
	c->nrings = rings__count(c->ncpus);
	c->ring_bytes = per_ring(o->ring_bytes, c->nrings);

	s = c->skel = state_bpf__open();
	if (!s) {
		err = -errno;
		snprintf(msg, len, "opening the BPF object failed: %s", strerror(-err));
		goto fail;
	}
	s->rodata->filter_netns = o->n_netns > 0;
	s->rodata->rtx_has_err = retransmit_reports_errors();
	if (o->filter)
		memcpy((void *)&s->rodata->filt, &o->filter->k, sizeof(o->filter->k));
	if (!o->filter || !o->filter->k.n_cgroups) {
		/* only --cgroup uses them */
		bpf_map__set_max_entries(s->maps.filt_cg_listeners, 1);
		bpf_map__set_max_entries(s->maps.filt_cg_connects, 1);
	}
	if (o->n_netns == 1)
		s->rodata->netns_only = o->netns[0];
	/* Wake the consumer once 1/16 of a ring is waiting (it otherwise
	 * drains on its own timer, see capture__poll): early enough that a
	 * burst on one CPU finds it awake (measured: 1/4 lost events in 2 of
	 * 6 hold tests, 1/16 in none of 4). */
	s->rodata->wakeup_bytes = capture__wakeup_bytes(c);
	bpf_map__set_max_entries(s->maps.rings, (uint32_t)c->nrings);
	s->rodata->ring_mask = (uint32_t)c->nrings - 1;
	/* the rings themselves are made below, at their real size (the
	 * template in the object only gives the type; libbpf 1.1 cannot
	 * resize it) */
	bpf_map__set_max_entries(s->maps.socks, o->max_sockets);
	if (!stat("/proc/self/ns/pid", &st) && st.st_ino != SF_PROC_PID_INIT_INO) {
		/* in a container: owners in our own numbering, as /proc gives
		 * them for the sockets found at start-up */
		s->rodata->pidns_dev = st.st_dev;
		s->rodata->pidns_ino = st.st_ino;
	}
	if (o->accept_owner && !ensure_tracefs())
		accept_why = "tracefs not mounted and cannot be mounted privately";
	if (!o->accept_owner || accept_why) {
		bpf_program__set_autoload(s->progs.sf_accept_exit, false);
		bpf_program__set_autoload(s->progs.sf_accept4_exit, false);
	}

	err = state_bpf__load(s);
	if (err) {
		snprintf(msg, len,
			 "loading the BPF programs failed: %s (needs raw tracepoints, BPF ring buffer (Linux >= 5.8) and kernel BTF; SYNFIN_DEBUG=1 shows the verifier log)",
			 strerror(-err));
		goto fail;
	}
	for (i = 0; i < o->n_netns; i++) {
		__u8 one = 1;

		bpf_map__update_elem(s->maps.netns_allow, &o->netns[i], sizeof(o->netns[i]), &one,
				     sizeof(one), BPF_ANY);
	}
	if (o->filter) {
		struct sf_cidr_key keys[SF_FILTER_MAX_CIDRS];
		__u8 vals[SF_FILTER_MAX_CIDRS];
		int n = filter__cidr_entries(o->filter, keys, vals);

		for (i = 0; i < n; i++) {
			err = bpf_map__update_elem(s->maps.filt_cidrs, &keys[i], sizeof(keys[i]), &vals[i],
						   sizeof(vals[i]), BPF_ANY);
			if (err) {
				snprintf(msg, len, "loading the --cidr prefixes failed: %s", strerror(-err));
				goto fail;
			}
		}
	}

	/* the rings before any program runs: an event finding no ring is lost */
	err = rings__create(&c->rb, bpf_map__fd(s->maps.rings), c->nrings, c->ring_bytes);
	if (err) {
		snprintf(msg, len, "ring buffer setup failed (%d of %u KiB): %s", c->nrings, c->ring_bytes >> 10,
			 strerror(-err));
		goto fail;
	}
	err = attach(c, s->progs.sf_set_state, true, msg, len);
	if (err)
		goto fail;
	describe_add(c, &off, "active: inet_sock_set_state (raw_tp)");
	/* The rest sharpens the record but the lifecycle stands without
	 * it: each is tried, and each one missing says what is lost. The
	 * backup copy goes after the main one: it catches what the kernel
	 * skipped there. */
	{
		const struct {
			struct bpf_program *p;
			const char *name;
			const char *lost;
		} optional[] = {
			{ s->progs.sf_set_state_nested, "inet_sock_set_state (backup copy)",
			  "state changes nested on one CPU are lost, counted in bpf.recursion_misses" },
			{ s->progs.sf_retransmit, "tcp_retransmit_skb", "no SYN or FIN retransmit counts" },
			{ s->progs.sf_retransmit_synack, "tcp_retransmit_synack",
			  "no SYN-ACK retransmit counts of listeners" },
			{ s->progs.sf_receive_reset, "tcp_receive_reset", "no state for received resets" },
			{ s->progs.sf_send_reset, "tcp_send_reset", "no state for sent resets" },
			{ s->progs.sf_destroy_sock, "tcp_destroy_sock",
			  "socket entries are freed only when the socket map is full" },
		};

		for (i = 0; i < (int)(sizeof(optional) / sizeof(optional[0])); i++) {
			if (attach(c, optional[i].p, false, msg, len))
				degraded_add(c, deg, "%s unavailable (%s)", optional[i].name, optional[i].lost);
			else
				describe_add(c, &off, ", %s", optional[i].name);
		}
	}
	if (o->accept_owner && !accept_why) {
		bool a4 = !attach(c, s->progs.sf_accept4_exit, false, msg, len);
		bool a = !attach(c, s->progs.sf_accept_exit, false, msg, len);

		if (a4 && a)
			accept_ok = true;
		else
			accept_why = a4 || a ? "one of them could not be attached" : "syscall tracepoints unavailable";
	}
	describe_add(c, &off, "; accept owner: %s",
		     accept_ok ? "syscalls:sys_exit_accept{,4}" : o->accept_owner ? "DEGRADED" : "off");
	if (!o->accept_owner)
		describe_add(c, &off, " (accepted sockets are attributed to the listener's owner until they close)");
	else if (!accept_ok)
		degraded_add(c, deg, "accept owner unavailable (%s): accepted sockets are attributed to the listener's owner until they close",
			     accept_why);
	describe_add(c, &off, "; netns: %s; pids: %s; ring buffers %d x %u KiB (%d CPUs); socket map %u",
		     o->n_netns ? "filtered" : "all",
		     s->rodata->pidns_ino ? "this PID namespace's (host pid beside)" : "initial PID namespace",
		     c->nrings, c->ring_bytes >> 10, c->ncpus, o->max_sockets);
	if (o->filter && o->filter->k.on)
		describe_add(c, &off, "; in-kernel filters:%s%s%s", o->filter->k.port_inc || o->filter->k.port_exc ? " ports" : "",
			     o->filter->n_cidr ? " prefixes" : "", o->filter->k.n_cgroups ? " cgroups" : "");
	if (deg[0])
		describe_add(c, &off, "; DEGRADED: %s", deg);
	*out = c;
	return 0;
fail:
	capture__close(c);
	return err;
}

const char *capture__describe(const struct capture *c)
{
	return c->describe;
}

int capture__poll(struct capture *c, int timeout_ms)
{
	/* under a sustained flood this would drain forever: a budget gives
	 * the main loop (signals, timers, output) its turn */
	return rings__poll(c->rb, timeout_ms, CAPTURE_POLL_BUDGET, c->fn, c->ctx);
}

int capture__fd(const struct capture *c)
{
	return rings__fd(c->rb);
}

uint64_t capture__wakeup_bytes(const struct capture *c)
{
	return c->ring_bytes / 16;
}

int capture__nrings(const struct capture *c)
{
	return c->nrings;
}

uint64_t capture__recursion_misses(struct capture *c, uint64_t caught)
{
	struct bpf_program *p;
	uint64_t n = 0, main = 0;

	/* The kernel skips a program that would nest on its own CPU (a
	 * softirq transition landing inside a process-context one): those
	 * events are lost, and only the program's info counts them. */
	bpf_object__for_each_program(p, c->skel->obj) {
		struct bpf_prog_info info = {};
		__u32 len = sizeof(info);

		/* a skipped destroy loses no event (the LRU drops the entry);
		 * a skipped backup copy neither: the main copy ran */
		if (p == c->skel->progs.sf_destroy_sock || p == c->skel->progs.sf_set_state_nested)
			continue;
		if (bpf_program__fd(p) < 0 || bpf_obj_get_info_by_fd(bpf_program__fd(p), &info, &len))
			continue;
		if (p == c->skel->progs.sf_set_state)
			main = info.recursion_misses;
		else
			n += info.recursion_misses;
	}
	/* the main copy's skipped runs, less those the backup handled */
	return n + (main > caught ? main - caught : 0);
}

void capture__counters(struct capture *c, uint64_t out[SF_CNT_MAX])
{
	uint64_t vals[c->ncpus];
	uint32_t k;

	for (k = 0; k < SF_CNT_MAX; k++) {
		out[k] = 0;
		if (bpf_map__lookup_elem(c->skel->maps.counters, &k, sizeof(k), vals, sizeof(vals), 0))
			continue;
		for (int i = 0; i < c->ncpus; i++)
			out[k] += vals[i];
	}
}

int capture__ring_full(struct capture *c, uint64_t *by_ring, int n)
{
	uint64_t vals[c->ncpus];
	uint32_t k = SF_CNT_RB_FULL;

	for (int i = 0; i < n; i++)
		by_ring[i] = 0;
	if (bpf_map__lookup_elem(c->skel->maps.counters, &k, sizeof(k), vals, sizeof(vals), 0))
		return 0;
	/* a CPU reserves in ring (CPU id & mask): shared.bpf.h */
	for (int i = 0; i < c->ncpus; i++)
		if ((i & (c->nrings - 1)) < n)
			by_ring[i & (c->nrings - 1)] += vals[i];
	return c->nrings < n ? c->nrings : n;
}

int capture__events_fd(const struct capture *c)
{
	return bpf_map__fd(c->skel->maps.rings);
}

void capture__filter_fds(const struct capture *c, int *cidrs, int *cg_listeners, int *cg_connects)
{
	*cidrs = bpf_map__fd(c->skel->maps.filt_cidrs);
	*cg_listeners = bpf_map__fd(c->skel->maps.filt_cg_listeners);
	*cg_connects = bpf_map__fd(c->skel->maps.filt_cg_connects);
}

int capture__counters_fd(const struct capture *c)
{
	return bpf_map__fd(c->skel->maps.counters);
}

void capture__close(struct capture *c)
{
	if (!c)
		return;
	rings__close(c->rb);
	for (int i = 0; i < c->n_links; i++)
		bpf_link__destroy(c->links[i]);
	state_bpf__destroy(c->skel);
	free(c);
}
