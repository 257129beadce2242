// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* The filter spec: parsing (what is refused, and why), and the verdicts
 * the daemon gives, which are the BPF programs' (same rules). */
#include <arpa/inet.h>
#include "unit.h"
#include "filter.h"
#include "options.h"

static struct filter *fresh(void)
{
	static struct filter f;

	memset(&f, 0, sizeof(f));
	return &f;
}

static bool port_in(const struct filter *f, int which, unsigned int port)
{
	return f->k.port_bits[which][port >> 3] & (1u << (port & 7));
}

TEST(filter_ports_single_range_list)
{
	struct filter *f = fresh();
	char why[256];

	EXPECT(filter__add_ports(f, "80", false, why, sizeof(why)) == 0);
	EXPECT(filter__add_ports(f, "8000-8099,443", false, why, sizeof(why)) == 0);
	EXPECT(filter__add_ports(f, "65535", true, why, sizeof(why)) == 0);
	EXPECT(f->k.on && f->k.port_inc && f->k.port_exc);
	EXPECT(port_in(f, 0, 80) && port_in(f, 0, 443) && port_in(f, 0, 8000) && port_in(f, 0, 8099));
	EXPECT(!port_in(f, 0, 79) && !port_in(f, 0, 81) && !port_in(f, 0, 7999) && !port_in(f, 0, 8100));
	EXPECT(port_in(f, 1, 65535) && !port_in(f, 0, 65535) && !port_in(f, 1, 80));
}

TEST(filter_ports_refused)
{
	const char *bad[] = { "", "0", "65536", "-1", "+80", "80-", "-80", "90-80", "80,", ",80", "a", "80 ", "1-2-3",
			      "99999999999999999999" };
	char why[256];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct filter *f = fresh();

		why[0] = 0;
		EXPECT(filter__add_ports(f, bad[i], false, why, sizeof(why)) == -EINVAL);
		EXPECT(strstr(why, "is not a port") && !strchr(why, '\n'));
	}
}

TEST(filter_cidr_parse)
{
	struct filter *f = fresh();
	char why[256];

	EXPECT(filter__add_cidr(f, "10.0.0.0/8", false, why, sizeof(why)) == 0);
	/* IPv4 kept as IPv4-mapped IPv6: its prefix length + 96 */
	EXPECT(f->cidr[0].plen == 104 && f->cidr[0].addr[10] == 0xff && f->cidr[0].addr[12] == 10);
	EXPECT(filter__add_cidr(f, "2001:db8::/32", true, why, sizeof(why)) == 0);
	EXPECT(f->cidr[1].plen == 32 && f->cidr[1].exclude);
	EXPECT(filter__add_cidr(f, "192.0.2.7", false, why, sizeof(why)) == 0 && f->cidr[2].plen == 128);
	EXPECT(filter__add_cidr(f, "::1", false, why, sizeof(why)) == 0 && f->cidr[3].plen == 128);
	EXPECT(filter__add_cidr(f, "0.0.0.0/0", false, why, sizeof(why)) == 0 && f->cidr[4].plen == 96);
	EXPECT(f->n_cidr == 5 && f->k.cidr_inc && f->k.cidr_exc && f->k.on);
}

TEST(filter_cidr_refused)
{
	const char *bad[] = { "10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0.0/-1", "10.0.0/8", "nothing", "/8",
			      "10.0.0.0/8/8", "10.0.0.0/8x" };
	char why[256];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct filter *f = fresh();

		EXPECT(filter__add_cidr(f, bad[i], false, why, sizeof(why)) == -EINVAL);
		EXPECT(strstr(why, "is not an IPv4 or IPv6 address"));
	}
	/* bits past the prefix are a mistake worth saying */
	EXPECT(filter__add_cidr(fresh(), "10.1.2.3/8", false, why, sizeof(why)) == -EINVAL);
	EXPECT(strstr(why, "bits set past its /8 prefix"));
	EXPECT(filter__add_cidr(fresh(), "2001:db8::1/64", false, why, sizeof(why)) == -EINVAL);
}

TEST(filter_comm_parse)
{
	struct filter *f = fresh();
	char why[256];

	EXPECT(filter__add_comm(f, "nginx", false, why, sizeof(why)) == 0);
	EXPECT(filter__add_comm(f, "abcdefghijklmno", true, why, sizeof(why)) == 0); /* 15: the most */
	EXPECT(filter__add_comm(f, "abcdefghijklmnop", false, why, sizeof(why)) == -EINVAL);
	EXPECT(filter__add_comm(f, "", false, why, sizeof(why)) == -EINVAL);
	EXPECT(f->n_comm == 1 && f->n_xcomm == 1 && !f->k.on); /* the daemon's only */
}

static __u16 v4(struct filter *f, const char *a, const char *b, __u16 pa, __u16 pb)
{
	__u8 x[16] = {}, y[16] = {};

	inet_pton(AF_INET, a, x);
	inet_pton(AF_INET, b, y);
	return (__u16)filter__tuple(f, SF_AF_INET, x, y, pa, pb);
}

static __u16 v6(struct filter *f, const char *a, const char *b, __u16 pa, __u16 pb)
{
	__u8 x[16] = {}, y[16] = {};

	inet_pton(AF_INET6, a, x);
	inet_pton(AF_INET6, b, y);
	return (__u16)filter__tuple(f, SF_AF_INET6, x, y, pa, pb);
}

TEST(filter_tuple_verdicts)
{
	struct filter *f = fresh();
	char why[256];

	/* nothing given: everything kept */
	EXPECT(v4(f, "10.0.0.1", "10.0.0.2", 22, 40000) == 0);
	EXPECT(filter__add_ports(f, "443,8000-8099", false, why, sizeof(why)) == 0);
	EXPECT(filter__add_ports(f, "8080", true, why, sizeof(why)) == 0);
	EXPECT(filter__add_cidr(f, "10.0.0.0/8", false, why, sizeof(why)) == 0);
	EXPECT(filter__add_cidr(f, "10.9.0.0/16", true, why, sizeof(why)) == 0);
	EXPECT(filter__add_cidr(f, "fd00::/8", false, why, sizeof(why)) == 0);
	/* either end, either direction (a segment's or a socket's view) */
	EXPECT(v4(f, "10.0.0.1", "192.0.2.1", 40000, 443) == 0);
	EXPECT(v4(f, "192.0.2.1", "10.0.0.1", 443, 40000) == 0);
	EXPECT(v4(f, "10.0.0.1", "192.0.2.1", 40000, 8050) == 0);
	EXPECT(v4(f, "10.0.0.1", "192.0.2.1", 40000, 22) == SF_CNT_FILT_PORT);
	/* an exclusion wins, even over a range that includes it */
	EXPECT(v4(f, "10.0.0.1", "192.0.2.1", 40000, 8080) == SF_CNT_FILT_PORT);
	EXPECT(v4(f, "192.0.2.2", "192.0.2.1", 40000, 443) == SF_CNT_FILT_CIDR);
	EXPECT(v4(f, "10.9.3.4", "10.0.0.1", 40000, 443) == SF_CNT_FILT_CIDR);
	/* a listener: its peer unknown (zero), its own address decides */
	EXPECT(v4(f, "0.0.0.0", "0.0.0.0", 443, 0) == 0);
	EXPECT(v6(f, "fd00::5", "2001:db8::1", 443, 50000) == 0);
	EXPECT(v6(f, "2001:db8::5", "2001:db8::1", 443, 50000) == SF_CNT_FILT_CIDR);
	/* a dual-stack socket's IPv4-mapped address matches the IPv4 prefix */
	EXPECT(v6(f, "::ffff:10.0.0.1", "::ffff:192.0.2.1", 443, 50000) == 0);
	EXPECT(v6(f, "::ffff:10.9.0.1", "::ffff:192.0.2.1", 443, 50000) == SF_CNT_FILT_CIDR);
}

TEST(filter_cidr_entries_fold_covering_prefixes)
{
	struct filter *f = fresh();
	struct sf_cidr_key keys[SF_FILTER_MAX_CIDRS];
	__u8 vals[SF_FILTER_MAX_CIDRS];
	char why[256];

	EXPECT(filter__add_cidr(f, "10.0.0.0/8", false, why, sizeof(why)) == 0);
	EXPECT(filter__add_cidr(f, "10.9.0.0/16", true, why, sizeof(why)) == 0);
	EXPECT(filter__add_cidr(f, "192.0.2.0/24", true, why, sizeof(why)) == 0);
	EXPECT(filter__cidr_entries(f, keys, vals) == 3);
	/* the longest match carries what covers it: the kernel's single
	 * lookup answers as the daemon's scan of every prefix */
	EXPECT(keys[0].prefixlen == 104 && vals[0] == SF_FILT_INC);
	EXPECT(keys[1].prefixlen == 112 && vals[1] == (SF_FILT_INC | SF_FILT_EXC));
	EXPECT(keys[2].prefixlen == 120 && vals[2] == SF_FILT_EXC);
}

static bool no_cgroup(void *ctx, __u64 id)
{
	(void)ctx;
	return id == 4242;
}

TEST(filter_flow_owner)
{
	struct filter *f = fresh();
	struct sf_flow fl = { .family = SF_AF_INET, .sport = 40000, .dport = 443, .cgroup_id = 7 };
	char why[256];

	memcpy(fl.comm, "curl", 5);
	EXPECT(filter__flow(f, &fl, NULL, NULL) == FILTER_KEEP);
	EXPECT(filter__add_comm(f, "nginx", false, why, sizeof(why)) == 0);
	EXPECT(filter__flow(f, &fl, NULL, NULL) == FILTER_COMM);
	EXPECT(filter__add_comm(f, "curl", false, why, sizeof(why)) == 0);
	EXPECT(filter__flow(f, &fl, NULL, NULL) == FILTER_KEEP);
	EXPECT(filter__add_comm(f, "curl", true, why, sizeof(why)) == 0);
	EXPECT(filter__flow(f, &fl, NULL, NULL) == FILTER_COMM);

	f = fresh();
	EXPECT(filter__add_cgroup(f, "/sys/fs/cgroup/x", 4242, 1, why, sizeof(why)) == 0);
	EXPECT(f->k.on && f->k.n_cgroups == 1);
	EXPECT(filter__flow(f, &fl, no_cgroup, NULL) == FILTER_CGROUP);
	fl.cgroup_id = 4242;
	EXPECT(filter__flow(f, &fl, no_cgroup, NULL) == FILTER_KEEP);
	/* an owner never known is in no cgroup */
	fl.cgroup_id = 0;
	EXPECT(filter__flow(f, &fl, no_cgroup, NULL) == FILTER_CGROUP);
}

TEST(filter_options_fill_the_spec)
{
	char *argv[] = { "synfin", "--port", "80", "--exclude-port", "22", "--cidr", "fd00::/8", "--comm", "nginx",
			 NULL };
	struct opts o;

	EXPECT(options__parse(&o, 9, argv) == 0);
	EXPECT(port_in(&o.filter, 0, 80) && port_in(&o.filter, 1, 22) && o.filter.n_cidr == 1);
	EXPECT(o.filter.n_comm == 1 && filter__active(&o.filter));
	EXPECT(options__parse(&o, 1, argv) == 0 && !filter__active(&o.filter));
}
