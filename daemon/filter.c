// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "filter.h"
#include "flow.h"

static int parse_port(const char *s, const char *end, unsigned long *out)
{
	char buf[8];
	char *e;
	size_t n = (size_t)(end - s);

	if (!n || n >= sizeof(buf) || s[0] == '-' || s[0] == '+')
		return -EINVAL;
	memcpy(buf, s, n);
	buf[n] = 0;
	errno = 0;
	*out = strtoul(buf, &e, 10);
	return errno || *e || *out < 1 || *out > 65535 ? -EINVAL : 0;
}

/* A kind the kernel applies is given: its flag, and the spec's. */
static int given(struct filter *f, __u8 *kind)
{
	*kind = 1;
	f->k.on = 1;
	return 0;
}

int filter__add_ports(struct filter *f, const char *arg, bool exclude, char *why, size_t len)
{
	const char *p = arg;

	for (;;) {
		const char *end = p + strcspn(p, ","), *dash = memchr(p, '-', (size_t)(end - p));
		unsigned long lo, hi;

		if (parse_port(p, dash ? dash : end, &lo) || (dash ? parse_port(dash + 1, end, &hi) : (hi = lo, 0)) ||
		    hi < lo) {
			snprintf(why, len, "'%.*s' is not a port (1..65535) or a range LO-HI", (int)(end - p), p);
			return -EINVAL;
		}
		for (unsigned long port = lo; port <= hi; port++)
			f->k.port_bits[exclude][port >> 3] |= (__u8)(1u << (port & 7));
		if (!*end)
			break;
		p = end + 1; /* "80," is a mistake, not "80" */
	}
	return given(f, exclude ? &f->k.port_exc : &f->k.port_inc);
}

/* a, 16 bytes, masked to plen bits */
static void mask(__u8 *a, unsigned int plen)
{
	for (unsigned int i = 0; i < 16; i++) {
		unsigned int keep = plen >= 8 * (i + 1) ? 8 : plen > 8 * i ? plen - 8 * i : 0;

		a[i] &= (__u8)(0xff00u >> keep);
	}
}

static void mapped(__u8 *out, const __u8 *a4)
{
	memset(out, 0, 10);
	out[10] = out[11] = 0xff;
	memcpy(out + 12, a4, 4);
}

int filter__add_cidr(struct filter *f, const char *arg, bool exclude, char *why, size_t len)
{
	char host[INET6_ADDRSTRLEN];
	const char *slash = strchr(arg, '/');
	size_t n = slash ? (size_t)(slash - arg) : strlen(arg);
	struct filter_cidr c = { .exclude = exclude };
	__u8 a4[4], masked[16];
	unsigned long plen = 0, max;
	char *end;

	if (f->n_cidr >= SF_FILTER_MAX_CIDRS) {
		snprintf(why, len, "at most %d prefixes", SF_FILTER_MAX_CIDRS);
		return -E2BIG;
	}
	if (n >= sizeof(host))
		goto bad;
	memcpy(host, arg, n);
	host[n] = 0;
	if (inet_pton(AF_INET, host, a4) == 1) {
		mapped(c.addr, a4);
		max = 32;
	} else if (inet_pton(AF_INET6, host, c.addr) == 1) {
		max = 128;
	} else {
		goto bad;
	}
	plen = max;
	if (slash) {
		errno = 0;
		plen = strtoul(slash + 1, &end, 10);
		if (errno || end == slash + 1 || *end || slash[1] == '-' || plen > max)
			goto bad;
	}
	c.plen = (__u8)(plen + 128 - max);
	memcpy(masked, c.addr, 16);
	mask(masked, c.plen);
	if (memcmp(masked, c.addr, 16)) {
		snprintf(why, len, "'%s' has bits set past its /%lu prefix", arg, plen);
		return -EINVAL;
	}
	f->cidr[f->n_cidr++] = c;
	return given(f, exclude ? &f->k.cidr_exc : &f->k.cidr_inc);
bad:
	snprintf(why, len, "'%s' is not an IPv4 or IPv6 address or ADDR/PREFIXLEN", arg);
	return -EINVAL;
}

int filter__add_comm(struct filter *f, const char *arg, bool exclude, char *why, size_t len)
{
	int *n = exclude ? &f->n_xcomm : &f->n_comm;
	char(*v)[SYNFIN_COMM_LEN] = exclude ? f->xcomm : f->comm;

	if (!*arg || strlen(arg) >= SYNFIN_COMM_LEN || *n >= FILTER_MAX_COMMS) {
		snprintf(why, len, "'%s': at most %d names of 1 to %d bytes (the kernel keeps %d of a process name)",
			 arg, FILTER_MAX_COMMS, SYNFIN_COMM_LEN - 1, SYNFIN_COMM_LEN - 1);
		return -EINVAL;
	}
	memset(v[*n], 0, SYNFIN_COMM_LEN);
	memcpy(v[*n], arg, strlen(arg));
	(*n)++;
	return 0;
}

int filter__add_cgroup(struct filter *f, const char *path, __u64 id, __u32 level, char *why, size_t len)
{
	if (f->k.n_cgroups >= SF_FILTER_MAX_CGROUPS) {
		snprintf(why, len, "at most %d cgroups", SF_FILTER_MAX_CGROUPS);
		return -E2BIG;
	}
	f->cgroup_path[f->k.n_cgroups] = path;
	f->k.cgroup_id[f->k.n_cgroups] = id;
	f->k.cgroup_level[f->k.n_cgroups] = level;
	f->k.n_cgroups++;
	f->k.on = 1;
	return 0;
}

bool filter__active(const struct filter *f)
{
	return f->k.port_inc || f->k.port_exc || f->n_cidr || f->n_comm || f->n_xcomm || f->k.n_cgroups;
}

/* Does prefix p cover address a (16 bytes)? */
static bool covers(const struct filter_cidr *p, const __u8 *a)
{
	__u8 m[16];

	memcpy(m, a, 16);
	mask(m, p->plen);
	return !memcmp(m, p->addr, 16);
}

int filter__cidr_entries(const struct filter *f, struct sf_cidr_key *keys, __u8 *vals)
{
	for (int i = 0; i < f->n_cidr; i++) {
		keys[i].prefixlen = f->cidr[i].plen;
		memcpy(keys[i].addr, f->cidr[i].addr, 16);
		vals[i] = 0;
		for (int j = 0; j < f->n_cidr; j++)
			if (f->cidr[j].plen <= f->cidr[i].plen && covers(&f->cidr[j], f->cidr[i].addr))
				vals[i] |= f->cidr[j].exclude ? SF_FILT_EXC : SF_FILT_INC;
	}
	return f->n_cidr;
}

static __u8 port_bits(const struct filter *f, __u16 port)
{
	__u8 m = (__u8)(1u << (port & 7));

	return (f->k.port_bits[0][port >> 3] & m ? SF_FILT_INC : 0) |
	       (f->k.port_bits[1][port >> 3] & m ? SF_FILT_EXC : 0);
}

/* as sf_addr_bits (bpf/filter.bpf.h): a wildcard address is in every
 * prefix, excluded by none */
static __u8 addr_bits(const struct filter *f, __u8 family, const __u8 *a)
{
	static const __u8 zero[16];
	__u8 m[16], bits = 0;

	if (!memcmp(a, zero, family == SF_AF_INET ? 4 : 16))
		return SF_FILT_INC;
	if (family == SF_AF_INET)
		mapped(m, a);
	else
		memcpy(m, a, 16);
	for (int i = 0; i < f->n_cidr; i++)
		if (covers(&f->cidr[i], m))
			bits |= f->cidr[i].exclude ? SF_FILT_EXC : SF_FILT_INC;
	return bits;
}

uint32_t filter__tuple(const struct filter *f, __u8 family, const __u8 *a, const __u8 *b, __u16 pa, __u16 pb)
{
	__u8 bits;

	if (f->k.port_inc || f->k.port_exc) {
		bits = port_bits(f, pa) | port_bits(f, pb);
		if ((bits & SF_FILT_EXC) || (f->k.port_inc && !(bits & SF_FILT_INC)))
			return SF_CNT_FILT_PORT;
	}
	if (f->k.cidr_inc || f->k.cidr_exc) {
		bits = addr_bits(f, family, a) | addr_bits(f, family, b);
		if ((bits & SF_FILT_EXC) || (f->k.cidr_inc && !(bits & SF_FILT_INC)))
			return SF_CNT_FILT_CIDR;
	}
	return 0;
}

static bool comm_in(const char (*v)[SYNFIN_COMM_LEN], int n, const char *comm)
{
	for (int i = 0; i < n; i++)
		if (!strncmp(v[i], comm, SYNFIN_COMM_LEN))
			return true;
	return false;
}

enum filter_why filter__flow(const struct filter *f, const struct sf_flow *fl, filter_cgroup_fn in_cg, void *ctx)
{
	if (filter__tuple(f, fl->family, fl->saddr, fl->daddr, fl->sport, fl->dport))
		return FILTER_TUPLE;
	/* an owner never seen (comm empty) is no process named */
	if ((f->n_comm && !comm_in(f->comm, f->n_comm, fl->comm)) || comm_in(f->xcomm, f->n_xcomm, fl->comm))
		return FILTER_COMM;
	if (f->k.n_cgroups && (!fl->cgroup_id || !in_cg || !in_cg(ctx, fl->cgroup_id)))
		return FILTER_CGROUP;
	return FILTER_KEEP;
}
