// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * synfin show: flow records (JSON Lines) from a file or stdin -> the
 * seed's ladder diagram per connection, both ends merged into one when
 * both are in the input; or one flow by its id, asked of the running
 * daemon (its --recent flows, over its socket). The command only reads,
 * pairs and hands parsed records to the renderer (ladder.c); it is the
 * one place that logs.
 */
#include <argp.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include "ask.h"
#include "flowrec.h"
#include "ladder.h"
#include "show.h"

enum { EXIT_OK = 0, EXIT_RUNTIME = 1, EXIT_USAGE = 2 };
enum { OPT_ASCII = 1000, OPT_COLOR, OPT_ID, OPT_NO_MERGE, OPT_SOCKET };
enum color_when { COLOR_AUTO, COLOR_ALWAYS, COLOR_NEVER };

/* a line longer than this is no flow record (they are ~2 KiB) */
/* the daemon answers at once; its greeting (a snapshot) comes first */
#define ASK_TIMEOUT_MS 5000
#define LINE_MAX_BYTES (1 << 20)

struct show_opts {
	const char *file;
	const char *id;
	const char *socket;
	bool ascii;
	bool no_merge;
	enum color_when color;
};

struct input {
	struct flowrec *recs;
	char (*keys)[144];	/* the tuple, both ends in one order */
	size_t n, cap;
	size_t other;		/* JSON, but not flow records */
	size_t dups;		/* flow records given twice (same id and start) */
	size_t bad;		/* not JSON */
	size_t first_bad_line;
	char first_bad[160];
};

static const char doc[] =
	"synfin show: draw flow records as the seed's ladder diagram.\n"
	"\n"
	"synfin show ID (or --id ID with no FILE) asks the running daemon for that finished flow "
	"(it keeps the last --recent ones whole) and draws it with its other end.\n"
	"\n"
	"Reads flow records (JSON Lines, as synfin writes them) from FILE, or stdin when FILE is - "
	"or absent, and draws per connection the handshake and the teardown: the two ends as two "
	"columns, one arrow per control segment (number 1-7, flags, seq/ack, the ack = seq+1 check, "
	"time), each end's states beside its column with how long it stayed in each. The two ends of "
	"one connection (both on this host) are drawn as one diagram. What a record infers or did not "
	"see is drawn as such. Lines that are not flow records are skipped and counted.\n"
	"\v"
	"EXAMPLES:\n"
	"    synfin show 8c1f0d2e3a4b5c6d                # from the running daemon\n"
	"    synfin show flows.jsonl\n"
	"    jq -c 'select(.close==\"reset\")' /var/log/synfin.jsonl | synfin show\n"
	"    synfin show --id 8c1f0d2e3a4b5c6d /var/log/synfin.jsonl\n"
	"    synfin show --ascii flows.jsonl > diagrams.txt\n"
	"\n"
	"Exit status: 0 drawn, 1 no flow record, unreadable input or no daemon to ask, 2 usage.";

static const struct argp_option options[] = {
	{ "ascii", OPT_ASCII, NULL, 0, "ASCII only (no box drawing)", 0 },
	{ "color", OPT_COLOR, "WHEN", 0, "Colours: auto (a terminal, and NO_COLOR unset; default), always, never", 0 },
	{ "id", OPT_ID, "ID", 0, "Only the flow record with this id (and its other end, if in the input)", 0 },
	{ "no-merge", OPT_NO_MERGE, NULL, 0, "One diagram per record: do not merge the two ends of a connection", 0 },
	{ "socket", OPT_SOCKET, "PATH", 0, "The daemon's socket, for a flow asked by id (default " ASK_DEFAULT_SOCKET ")", 0 },
	{ 0 },
};

static error_t parse_opt(int key, char *arg, struct argp_state *state)
{
	struct show_opts *o = state->input;

	switch (key) {
	case OPT_ASCII:
		o->ascii = true;
		break;
	case OPT_COLOR:
		if (!strcmp(arg, "auto"))
			o->color = COLOR_AUTO;
		else if (!strcmp(arg, "always"))
			o->color = COLOR_ALWAYS;
		else if (!strcmp(arg, "never"))
			o->color = COLOR_NEVER;
		else
			argp_error(state, "--color: '%s' is not auto, always or never", arg);
		break;
	case OPT_ID:
		if (!*arg || strlen(arg) > 20 || strspn(arg, "0123456789abcdefABCDEF") != strlen(arg))
			argp_error(state, "--id: '%s' is not a flow id (hex digits)", arg);
		o->id = arg;
		break;
	case OPT_NO_MERGE:
		o->no_merge = true;
		break;
	case OPT_SOCKET:
		o->socket = arg;
		break;
	case ARGP_KEY_ARG:
		if (state->arg_num > 0)
			argp_error(state, "one input only (FILE or -), got '%s' too", arg);
		o->file = arg;
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

/* both endpoints, the smaller first: the key both ends share */
static void tuple_key(const struct flowrec *r, char *key, size_t n)
{
	char a[64], b[64];

	snprintf(a, sizeof(a), "%s:%d", r->local_addr, r->local_port);
	snprintf(b, sizeof(b), "%s:%d", r->peer_addr, r->peer_port);
	if (strcmp(a, b) <= 0)
		snprintf(key, n, "%s|%s|%s", r->family, a, b);
	else
		snprintf(key, n, "%s|%s|%s", r->family, b, a);
}

static int input__add_line(struct input *in, const char *line, size_t len, size_t lineno)
{
	char err[128];
	int rc;

	if (in->n == in->cap) {
		size_t cap = in->cap ? in->cap * 2 : 64;
		void *p = realloc(in->recs, cap * sizeof(*in->recs));

		if (!p)
			return -ENOMEM;
		in->recs = p;
		p = realloc(in->keys, cap * sizeof(*in->keys));
		if (!p)
			return -ENOMEM;
		in->keys = p;
		in->cap = cap;
	}
	if (len > LINE_MAX_BYTES) {
		rc = -EINVAL;
		snprintf(err, sizeof(err), "longer than %d bytes", LINE_MAX_BYTES);
	} else {
		rc = flowrec__parse(line, len, &in->recs[in->n], err, sizeof(err));
	}
	if (rc == FLOWREC_FLOW) {
		tuple_key(&in->recs[in->n], in->keys[in->n], sizeof(in->keys[0]));
		in->n++;
	} else if (rc == FLOWREC_OTHER) {
		in->other++;
	} else {
		if (!in->bad++) {
			in->first_bad_line = lineno;
			snprintf(in->first_bad, sizeof(in->first_bad), "%s", err);
		}
	}
	return 0;
}

static int input__read(struct input *in, FILE *f)
{
	char *line = NULL;
	size_t cap = 0, lineno = 0;
	ssize_t len;
	int err = 0;

	while (!err && (len = getline(&line, &cap, f)) >= 0) {
		lineno++;
		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			len--;
		if (!len || strspn(line, " \t") == (size_t)len)
			continue;
		err = input__add_line(in, line, (size_t)len, lineno);
	}
	if (!err && ferror(f))
		err = -EIO;
	free(line);
	return err;
}

/* by tuple, then start: the two ends of a connection, and a record given
 * twice, are neighbours that overlap in time */
static int by_key(const void *a, const void *b, void *ctx)
{
	const struct input *in = ctx;
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	int c = strcmp(in->keys[x], in->keys[y]);

	if (c)
		return c;
	if (in->recs[x].start_us != in->recs[y].start_us)
		return in->recs[x].start_us < in->recs[y].start_us ? -1 : 1;
	return (x > y) - (x < y);
}

#define DUPLICATE (-2)

static bool same_record(const struct flowrec *a, const struct flowrec *b)
{
	return a->id[0] && !strcmp(a->id, b->id) && a->start_us == b->start_us;
}

/* partner[i]: the other end of record i, -1 none, or DUPLICATE: record i
 * came before (inputs that overlap). Each record is compared only with the
 * later records of its tuple that start before it ends: a tuple used for
 * many connections in turn costs no more than one. */
static int pair(const struct input *in, ssize_t *partner)
{
	size_t *idx = malloc((in->n ? in->n : 1) * sizeof(*idx));

	if (!idx)
		return -ENOMEM;
	for (size_t i = 0; i < in->n; i++) {
		idx[i] = i;
		partner[i] = -1;
	}
	qsort_r(idx, in->n, sizeof(*idx), by_key, (void *)in);
	for (size_t i = 0; i < in->n; i++) {
		const struct flowrec *a = &in->recs[idx[i]];

		if (partner[idx[i]] == DUPLICATE || a->start_us == FLOWREC_NONE || a->end_us == FLOWREC_NONE)
			continue;
		for (size_t j = i + 1; j < in->n && !strcmp(in->keys[idx[j]], in->keys[idx[i]]) &&
				       in->recs[idx[j]].start_us <= a->end_us; j++) {
			const struct flowrec *b = &in->recs[idx[j]];

			if (partner[idx[j]] == DUPLICATE)
				continue;
			if (same_record(a, b)) {
				partner[idx[j]] = DUPLICATE;
			} else if (partner[idx[i]] == -1 && partner[idx[j]] == -1 && flowrec__mirrors(a, b)) {
				partner[idx[i]] = (ssize_t)idx[j];
				partner[idx[j]] = (ssize_t)idx[i];
			}
		}
	}
	free(idx);
	return 0;
}

static bool use_color(enum color_when w)
{
	const char *nc = getenv("NO_COLOR"), *term = getenv("TERM");

	if (w != COLOR_AUTO)
		return w == COLOR_ALWAYS;
	return isatty(STDOUT_FILENO) && !(nc && *nc) && !(term && !strcmp(term, "dumb"));
}

static bool looks_like_id(const char *s)
{
	return strlen(s) == 16 && strspn(s, "0123456789abcdefABCDEF") == 16;
}

/* ID: the flow (and its other end) from the running daemon's --recent */
static int show_asked(const struct show_opts *o, const char *id, const struct ladder_style *st)
{
	struct flowrec r[2];
	char req[64], lid[17], err[200];
	char *line = NULL;
	size_t len = 0;
	int n, rc;

	if (!looks_like_id(id)) {
		fprintf(stderr, "synfin show: '%s' is not a flow id as the daemon gives them (16 hex digits)\n", id);
		return EXIT_USAGE;
	}
	for (int i = 0; i < 16; i++)
		lid[i] = (char)tolower((unsigned char)id[i]);
	lid[16] = 0;
	snprintf(req, sizeof(req), "{\"get\":\"flow\",\"id\":\"%s\"}", lid);
	rc = ask__request(o->socket, req, ASK_TIMEOUT_MS, &line, &len);
	if (rc == -EUSERS) {
		fprintf(stderr, "synfin show: the daemon at %s refused this client: too many clients (its --max-clients)\n",
			o->socket);
		return EXIT_RUNTIME;
	}
	if (rc == -ETIMEDOUT) {
		fprintf(stderr, "synfin show: the daemon at %s did not answer in %d s\n", o->socket, ASK_TIMEOUT_MS / 1000);
		return EXIT_RUNTIME;
	}
	if (rc == -EPIPE) {
		fprintf(stderr, "synfin show: the daemon at %s closed the connection before it answered\n", o->socket);
		return EXIT_RUNTIME;
	}
	if (rc) {
		fprintf(stderr, "synfin show: no synfin daemon at %s to ask for flow %s (%s); from a log: synfin show --id %s FILE\n",
			o->socket, lid, strerror(-rc), lid);
		return EXIT_RUNTIME;
	}
	n = flowrec__parse_reply(line, len, r, 2, err, sizeof(err));
	free(line);
	if (n <= 0) {
		fprintf(stderr, "synfin show: %s%s\n", n == -ENOENT ? "the daemon says: " : "the daemon's answer: ",
			n ? err : "no flow record");
		return EXIT_RUNTIME;
	}
	if (ladder__draw(stdout, &r[0], n == 2 && !o->no_merge && flowrec__mirrors(&r[0], &r[1]) ? &r[1] : NULL, st) ||
	    fflush(stdout)) {
		fprintf(stderr, "synfin show: writing the diagram: %s\n", strerror(errno ? errno : EIO));
		return EXIT_RUNTIME;
	}
	return EXIT_OK;
}

int show__main(int argc, char **argv)
{
	struct show_opts o = { .color = COLOR_AUTO, .socket = ASK_DEFAULT_SOCKET };
	struct argp argp = { options, parse_opt, "[FILE|-]", doc, NULL, NULL, NULL };
	struct input in = { 0 };
	struct ladder_style st;
	ssize_t *partner = NULL;
	const char *name;
	char *av0 = argv[0];
	size_t drawn = 0;
	FILE *f = stdin;
	int rc = EXIT_RUNTIME, err;

	/* messages and usage say "synfin show" */
	argv[0] = "synfin show";
	argp_err_exit_status = EXIT_USAGE;
	err = argp_parse(&argp, argc, argv, 0, NULL, &o);
	argv[0] = av0;
	if (err)
		return EXIT_USAGE;
	st.ascii = o.ascii;
	st.color = use_color(o.color);
	/* an id and no file: the running daemon has it (a file by that
	 * name, if any, is read as ever) */
	if (o.id && !o.file)
		return show_asked(&o, o.id, &st);
	if (o.file && looks_like_id(o.file) && access(o.file, F_OK))
		return show_asked(&o, o.file, &st);
	name = o.file && strcmp(o.file, "-") ? o.file : "stdin";
	if (o.file && strcmp(o.file, "-")) {
		f = fopen(o.file, "r");
		if (!f) {
			err = errno;
			fprintf(stderr, "synfin show: cannot open %s: %s\n", o.file, strerror(err));
			return EXIT_RUNTIME;
		}
	}
	if (f == stdin && isatty(STDIN_FILENO))
		fprintf(stderr, "synfin show: reading flow records from the terminal (end with Ctrl-D); "
				"'synfin show --help' for more\n");
	err = input__read(&in, f);
	if (f != stdin)
		fclose(f);
	if (err) {
		fprintf(stderr, "synfin show: reading %s: %s\n", name, strerror(-err));
		goto out;
	}
	if (!in.n) {
		if (in.bad && !in.other)
			fprintf(stderr, "synfin show: %s: not JSON Lines (line %zu: %s)\n", name, in.first_bad_line,
				in.first_bad);
		else
			fprintf(stderr, "synfin show: no flow record in %s\n", name);
		goto out;
	}
	partner = malloc(in.n * sizeof(*partner));
	if (!partner || pair(&in, partner)) {
		fprintf(stderr, "synfin show: out of memory\n");
		goto out;
	}
	for (size_t i = 0; i < in.n; i++) {
		in.dups += partner[i] == DUPLICATE;
		if (o.no_merge && partner[i] >= 0)
			partner[i] = -1;
	}

	for (size_t i = 0; i < in.n; i++) {
		const struct flowrec *b;

		if (partner[i] == DUPLICATE ||
		    (o.id ? strcasecmp(in.recs[i].id, o.id) != 0 : partner[i] >= 0 && (size_t)partner[i] < i))
			continue;
		b = partner[i] >= 0 ? &in.recs[partner[i]] : NULL;
		if (drawn++)
			fputc('\n', stdout);
		if (ladder__draw(stdout, &in.recs[i], b, &st)) {
			fprintf(stderr, "synfin show: writing the diagram: %s\n", strerror(errno ? errno : EIO));
			goto out;
		}
		if (o.id)
			break;
	}
	if (fflush(stdout)) {
		fprintf(stderr, "synfin show: writing the diagram: %s\n", strerror(errno));
		goto out;
	}
	if (!drawn) {
		fprintf(stderr, "synfin show: no flow record with id %s in %s\n", o.id, name);
		goto out;
	}
	if (in.other)
		fprintf(stderr, "synfin show: skipped %zu record%s that %s not %s\n", in.other,
			in.other > 1 ? "s" : "", in.other > 1 ? "are" : "is", in.other > 1 ? "flows" : "a flow");
	if (in.dups)
		fprintf(stderr, "synfin show: skipped %zu flow record%s given twice\n", in.dups, in.dups > 1 ? "s" : "");
	if (in.bad)
		fprintf(stderr, "synfin show: warning: %zu line%s not JSON, skipped (first: line %zu: %s)\n", in.bad,
			in.bad > 1 ? "s" : "", in.first_bad_line, in.first_bad);
	rc = EXIT_OK;
out:
	free(partner);
	free(in.recs);
	free(in.keys);
	return rc;
}
