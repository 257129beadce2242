/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The command line and the config file: every option declared once, in
 * the table in options.c (name, letter, argument, help, how it is parsed
 * and where its value goes). argp's option list is generated from it,
 * and a config file's "name value" lines are looked up in it.
 */
#ifndef SYNFIN_OPTIONS_H
#define SYNFIN_OPTIONS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/socket.h>
#include "../include/synfin.h"
#include "capture.h"
#include "filter.h"
#include "log.h"
#include "output.h"
#include "pileup.h"

#define OPTS_MAX_IFNAMES 32

enum {
	OPTS_DETAIL_AUTO = 0,	/* segments for flows not normal, summary for the rest */
	OPTS_DETAIL_SUMMARY,
	OPTS_DETAIL_SEGMENTS,
};

enum {
	OPTS_FLOWS_ALL = 0,
	OPTS_FLOWS_ABNORMAL,
	OPTS_FLOWS_NONE,
};

struct opts {
	const char *output;
	const char *record;
	const char *replay;
	double stats_interval;
	uint32_t netns[CAPTURE_MAX_NETNS];
	char *netns_path[CAPTURE_MAX_NETNS]; /* NULL where given as an inode */
	int n_netns;
	uint32_t max_flows;
	uint32_t ring_mb;
	uint32_t priority_boost;	/* nice -N at start (0: as started) */
	uint32_t grace_ms;
	uint32_t max_time_wait;
	uint32_t max_half_open;
	double stuck_s[SF_TCP_NSTATES];	/* per-state thresholds, 0 = off */
	uint32_t stuck_rate;
	uint32_t pileup[PILEUP_KINDS];
	double reconcile_s;
	bool snapshot;
	bool segments;
	bool segments_all_netns;	/* no-op: every namespace is the default */
	const char *netns_named;	/* only namespaces /var/run/netns/PREFIX* */
	const char *ifnames[OPTS_MAX_IFNAMES];
	int n_ifnames;
	bool accept_owner;
	enum sf_log_level log_level;
	/* the live socket (out_socket.h) */
	const char *socket;
	bool socket_on;
	gid_t socket_gid;		/* (gid_t)-1: the daemon's group */
	uint32_t max_clients;
	uint32_t recent;		/* finished flows kept for requests */
	int detail;			/* OPTS_DETAIL_* */
	int flows;			/* OPTS_FLOWS_* */
	uint32_t sample;		/* 1 in N normal flow records written */
	double summary_s;		/* summary records every SEC, 0 = none */
	uint32_t summary_top;
	const char *metrics;		/* --metrics ADDR:PORT, NULL: off */
	bool metrics_any;
	bool metrics_labels;
	struct sockaddr_storage metrics_ss; /* from metrics */
	bool on_output_error_set;	/* given: else chosen per output */
	enum output_on_error on_output_error;
	struct filter filter;		/* --port, --cidr, --comm, --cgroup... */
};

/* Defaults, then the command line (and the config files it names).
 * Returns 0, or the exit status to leave with (bad usage: 2, after argp
 * printed why). */
int options__parse(struct opts *o, int argc, char **argv);

#endif /* SYNFIN_OPTIONS_H */
