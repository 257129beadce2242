// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * synfin top: the live view. Reads the daemon's socket (JSON Lines: hello,
 * snapshot, then live records) into its model (top_model.c) and draws it
 * with ncurses about once a second. What the stream does not carry it asks
 * on the same connection: {"get":"top"} every second (latency, TIME_WAIT
 * by remote, CLOSE_WAIT by process), {"get":"flow"} for a diagram.
 * --once, or stdout not a terminal: one plain-text snapshot, then exit.
 * The terminal is restored on every way out (q, SIGINT, SIGTERM, SIGHUP,
 * an error).
 */
#include <argp.h>
#include <errno.h>
#include <langinfo.h>
#include <locale.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <curses.h>
#include <sys/socket.h>
#include "ask.h"
#include "flowrec.h"
#include "ladder.h"
#include "top.h"
#include "top_model.h"

#define DEFAULT_SOCKET ASK_DEFAULT_SOCKET
/* --once: the snapshot ends with a stats record; this long at most */
#define ONCE_TIMEOUT_MS 3000
#define REDRAW_MS 1000
/* a diagram asked of the daemon: past this, drawn from what the stream had */
#define ASK_MS 3000
#define READ_BUF (1 << 20)

struct top_opts {
	const char *socket;
	bool socket_set;
	bool once;
	bool standalone;
	char **daemon_args;	/* after --: the daemon's options (--standalone) */
	int n_daemon_args;
};

struct conn {
	int fd;
	char *buf;
	size_t len;
};

static volatile sig_atomic_t stop_signal;

static const char doc[] =
	"synfin top: the live view of a running synfin daemon (its --socket).\n"
	"\v"
	"KEYS: ? help, q quit, p pause, / filter (port, address or process name; Enter keeps it, "
	"Esc clears it), < > the stuck list's sort column, s reverse it, Up/Down select a stuck "
	"connection or a recent abnormal close, Enter draws its diagram (asked of the daemon: "
	"both ends, every segment).\n"
	"\n"
	"EXAMPLES:\n"
	"    synfin top\n"
	"    synfin top --once > snapshot.txt      # one text snapshot (also when piped)\n"
	"    synfin top --socket /tmp/synfin.sock\n"
	"    sudo synfin top --standalone           # no daemon: capture here\n"
	"    sudo synfin top --standalone -- --netns /var/run/netns/web   # with daemon options\n"
	"\n"
	"Exit status: 0 ok, 1 no daemon (or it went away with --once), 2 usage.";

static const struct argp_option options[] = {
	{ "socket", 's', "PATH", 0, "The daemon's socket (default " DEFAULT_SOCKET ")", 0 },
	{ "once", '1', NULL, 0, "Print one plain-text snapshot and exit (the default when stdout is not a terminal)", 0 },
	{ "standalone", 'S', NULL, 0,
	  "No daemon: load the BPF programs and capture in this process (root: CAP_BPF, CAP_PERFMON, CAP_NET_ADMIN, CAP_SYS_ADMIN)", 0 },
	{ 0 },
};

static error_t parse_opt(int key, char *arg, struct argp_state *state)
{
	struct top_opts *o = state->input;

	switch (key) {
	case 's':
		o->socket = arg;
		o->socket_set = true;
		return 0;
	case 'S':
		o->standalone = true;
		return 0;
	case '1':
		o->once = true;
		return 0;
	case ARGP_KEY_ARGS:
		o->daemon_args = state->argv + state->next;
		o->n_daemon_args = state->argc - state->next;
		return 0;
	case ARGP_KEY_END:
		if (o->n_daemon_args && !o->standalone)
			argp_error(state, "unexpected argument '%s' (daemon options go after --standalone --)",
				   o->daemon_args[0]);
		if (o->standalone && o->socket_set)
			argp_error(state, "--standalone captures itself: no --socket");
		return 0;
	default:
		return ARGP_ERR_UNKNOWN;
	}
}

static int conn_open(struct conn *c, const char *path)
{
	int fd = ask__connect(path);

	if (fd < 0)
		return fd;
	c->fd = fd;
	c->len = 0;
	return 0;
}

/* One request line; a daemon too busy to take it now: asked again later. */
static void conn_ask(struct conn *c, const char *req)
{
	char line[128];
	int n = snprintf(line, sizeof(line), "%s\n", req);

	if (c->fd >= 0)
		(void)send(c->fd, line, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
}

static void conn_close(struct conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->len = 0;
}

/* Read what is there; every whole line to the model. 0, or -EPIPE when
 * the daemon went away. *saw_stats: a stats record was among them. */
static int conn_read(struct conn *c, struct top_model *m, bool *saw_stats, bool *refused)
{
	ssize_t n = read(c->fd, c->buf + c->len, READ_BUF - c->len);
	char *p, *nl;

	if (n < 0)
		return errno == EINTR || errno == EAGAIN ? 0 : -EPIPE;
	if (n == 0)
		return -EPIPE;
	c->len += (size_t)n;
	p = c->buf;
	while ((nl = memchr(p, '\n', c->len - (size_t)(p - c->buf)))) {
		if (saw_stats && strstr(p, "\"type\":\"stats\"") && strstr(p, "\"type\":\"stats\"") < nl)
			*saw_stats = true;
		if (refused && !strncmp(p, "{\"type\":\"refused\"", 17))
			*refused = true;
		top_model__line(m, p, (size_t)(nl - p));
		p = nl + 1;
	}
	c->len -= (size_t)(p - c->buf);
	memmove(c->buf, p, c->len);
	/* a line longer than the buffer: not ours to read */
	if (c->len == READ_BUF)
		c->len = 0;
	return 0;
}

static void no_daemon(const char *path, int err)
{
	fprintf(stderr,
		"synfin top: no synfin daemon at %s (%s); start one: sudo systemctl start synfin, or sudo synfin -o FILE\n",
		path, strerror(-err));
}

static int run_once(struct conn *c, struct top_model *m)
{
	struct timespec t0, t;
	bool stats = false, refused = false;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	conn_ask(c, "{\"get\":\"top\"}");
	while (!stats || !m->have_top) {
		struct pollfd p = { .fd = c->fd, .events = POLLIN };
		long ms;

		clock_gettime(CLOCK_MONOTONIC, &t);
		ms = ONCE_TIMEOUT_MS - ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000);
		if (ms <= 0 || poll(&p, 1, (int)ms) <= 0)
			break;
		if (conn_read(c, m, &stats, &refused))
			break;
	}
	if (refused) {
		fprintf(stderr, "synfin top: the daemon refused this viewer: too many clients (its --max-clients)\n");
		return 1;
	}
	if (!stats) {
		fprintf(stderr, "synfin top: the daemon sent no snapshot\n");
		return 1;
	}
	top_model__render(m, stdout, NULL, 200);
	return 0;
}

static void on_signal(int sig)
{
	stop_signal = sig;
}

/* ---- the full-screen view ---------------------------------------------- */

struct view {
	bool paused, help, connected;
	char filter[64];
	bool editing;
	enum top_sort sort;
	bool reverse;
	int sel;		/* the selected row (stuck rows, then recent closes) */
	char sel_id[24];	/* ... by id: it stays on its flow when rows move */
	char *diagram;		/* shown instead of the view while set */
	/* Enter: a flow asked of the daemon, drawn when the answer comes */
	bool asking;
	struct top_conn asked;	/* the row (its line: a copy, or NULL) */
	unsigned int asked_seq;
	struct timespec asked_at;
};

/* the full-screen view, driven by run_screen's poll loop (a socket) or by
 * the daemon's own loop (--standalone, top_standalone.c) */
struct top_screen {
	struct view v;
	struct top_model *m;
	top_ask_fn ask;		/* one request; its answer reaches the model */
	void *ask_ctx;
	bool dirty, resized;
	struct timespec drawn, asked;
};

static long ms_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

static struct top_view_opts view_opts(const struct view *v)
{
	struct top_view_opts o = { .filter = v->filter, .sort = v->sort, .reverse = v->reverse, .sel_id = v->sel_id };

	return o;
}

/* The selection follows its flow; when that row is gone, the row now at
 * its place (or the last one). */
static void keep_selection(const struct top_model *m, struct view *v)
{
	struct top_view_opts o = view_opts(v);
	const struct top_conn *c;
	int n = 0;

	for (; (c = top_model__row(m, &o, n)); n++) {
		if (v->sel_id[0] && !strcmp(c->id, v->sel_id)) {
			v->sel = n;
			return;
		}
	}
	if (v->sel >= n)
		v->sel = n - 1;
	if (v->sel < 0)
		v->sel = 0;
	c = top_model__row(m, &o, v->sel);
	snprintf(v->sel_id, sizeof(v->sel_id), "%s", c ? c->id : "");
}

static bool any_loss(const struct top_model *m)
{
	return m->lost || m->rb_failed || m->recursion || m->out_errors || m->out_dropped || m->told_dropped;
}

/* text on the screen from from_row; a line that starts with '>' is the
 * selected row (reverse video) */
static void draw_text(const char *text, int from_row, bool loss_red)
{
	int rows = LINES, row = from_row;
	const char *p = text;

	while (*p && row < rows - 1) {
		const char *nl = strchr(p, '\n');
		int len = nl ? (int)(nl - p) : (int)strlen(p);
		attr_t a = A_NORMAL;

		if (len && p[0] == '>')
			a = A_REVERSE;
		else if (loss_red && !strncmp(p, "loss:", 5))
			a = COLOR_PAIR(1) | A_BOLD;
		else if (len && p[0] != ' ')
			a = A_BOLD;
		attron(a);
		mvaddnstr(row, 0, p, len < COLS ? len : COLS);
		attroff(a);
		row++;
		p = nl ? nl + 1 : p + len;
	}
}

static void status_line(const char *text)
{
	attron(A_REVERSE);
	mvaddnstr(LINES - 1, 0, text, COLS);
	attroff(A_REVERSE);
}

static void draw(struct top_model *m, struct view *v, bool full)
{
	struct top_view_opts o;
	char *text = NULL, bar[200];
	size_t len = 0;
	FILE *f;

	/* after a resize the terminal may hold what ncurses does not know
	 * (tmux brings lines back from its history): paint it all again */
	if (full)
		clear();
	else
		erase();
	if (v->diagram || v->asking) {
		if (v->diagram)
			draw_text(v->diagram, 0, false);
		else
			mvprintw(0, 0, "asking the daemon for flow %s ...", v->asked.id);
		status_line(" any key: back ");
		refresh();
		return;
	}
	if (v->help) {
		draw_text("synfin top: keys\n\n"
			  "  ?        this help (any key closes it)\n"
			  "  q        quit\n"
			  "  p        pause / resume the screen (the stream is still read)\n"
			  "  /        filter by port, address or process name (Enter keeps, Esc clears)\n"
			  "  < >      the stuck list's sort column: left / right\n"
			  "  s        reverse the sort order\n"
			  "  Up/Down  select a stuck connection or a recent abnormal close\n"
			  "  Enter    its handshake/teardown diagram (synfin show), asked of the daemon\n",
			  0, false);
		refresh();
		return;
	}
	keep_selection(m, v);
	o = view_opts(v);
	f = open_memstream(&text, &len);
	if (!f)
		return;
	top_model__render_view(m, f, &o, COLS);
	fclose(f);
	draw_text(text, 0, any_loss(m));
	free(text);
	if (!v->connected)
		snprintf(bar, sizeof(bar), " disconnected: the daemon went away; reconnecting... ");
	else if (v->editing)
		snprintf(bar, sizeof(bar), " filter: %s_ ", v->filter);
	else
		snprintf(bar, sizeof(bar), " %s? help  q quit  p pause  / filter  < > s sort  Enter diagram%s%s ",
			 v->paused ? "PAUSED  " : "", v->filter[0] ? "  filter: " : "", v->filter);
	status_line(bar);
	refresh();
}

/* The diagram of the asked flow: the daemon's full record(s) when it
 * answered with them, else what the stream carried, said so. */
static void make_diagram(struct view *v, const char *answer, size_t alen, const char *why)
{
	/* box drawing only where the terminal's locale can show it */
	struct ladder_style st = { .ascii = strcmp(nl_langinfo(CODESET), "UTF-8") != 0, .color = false };
	const struct top_conn *c = &v->asked;
	struct flowrec r[2];
	char err[200] = "", scratch[128];
	size_t len = 0;
	FILE *f;
	int n = -EINVAL;

	free(v->diagram);
	v->diagram = NULL;
	f = open_memstream(&v->diagram, &len);
	if (!f)
		return;
	if (answer)
		n = flowrec__parse_reply(answer, alen, r, 2, err, sizeof(err));
	else
		snprintf(err, sizeof(err), "%s", why);
	if (n > 0) {
		if (ladder__draw(f, &r[0], n == 2 && flowrec__mirrors(&r[0], &r[1]) ? &r[1] : NULL, &st))
			fprintf(f, "cannot draw this flow\n");
	} else if (c->line && flowrec__parse(c->line, strlen(c->line), &r[0], scratch, sizeof(scratch)) == FLOWREC_FLOW) {
		fprintf(f, "from the record the stream carried (the daemon: %s)\n", err);
		if (ladder__draw(f, &r[0], NULL, &st))
			fprintf(f, "cannot draw this flow\n");
	} else {
		fprintf(f, "%s  %s %s -> %s  %ld/%s  netns %llu\n\n%s\n", c->id, c->state, c->local, c->peer, c->pid,
			c->comm, (unsigned long long)c->netns, err);
	}
	fclose(f);
}

static void end_asking(struct view *v)
{
	free(v->asked.line);
	v->asked.line = NULL;
	v->asking = false;
}

static void open_diagram(struct top_screen *sc)
{
	struct top_model *m = sc->m;
	struct view *v = &sc->v;
	struct top_view_opts o = view_opts(v);
	const struct top_conn *c = top_model__row(m, &o, v->sel);
	char req[80];

	if (!c)
		return;
	end_asking(v);
	v->asked = *c;
	v->asked.line = c->line ? strdup(c->line) : NULL;
	if (!v->connected) {
		make_diagram(v, NULL, 0, "disconnected");
		end_asking(v);
		return;
	}
	snprintf(req, sizeof(req), "{\"get\":\"flow\",\"id\":\"%s\"}", c->id);
	sc->ask(sc->ask_ctx, req);
	v->asking = true;
	v->asked_seq = m->answer_seq;
	clock_gettime(CLOCK_MONOTONIC, &v->asked_at);
}

/* The answer came (it names the flow: a late answer to an earlier ask
 * is not it), or the time is up. */
static bool check_answer(struct top_model *m, struct view *v)
{
	char needle[40];

	if (!v->asking)
		return false;
	snprintf(needle, sizeof(needle), "\"id\":\"%s\"", v->asked.id);
	if (m->answer_seq != v->asked_seq && m->answer && strstr(m->answer, needle)) {
		make_diagram(v, m->answer, m->answer_len, NULL);
	} else if (ms_since(&v->asked_at) >= ASK_MS) {
		make_diagram(v, NULL, 0, "no answer");
	} else {
		return false;
	}
	end_asking(v);
	return true;
}

/* A key: false to quit. */
static bool on_key(int ch, struct top_screen *sc)
{
	struct top_model *m = sc->m;
	struct view *v = &sc->v;
	size_t n = strlen(v->filter);

	if (v->diagram || v->asking) {
		free(v->diagram);
		v->diagram = NULL;
		end_asking(v);
		return true;
	}
	if (v->help) {
		v->help = false;
		return true;
	}
	if (v->editing) {
		if (ch == '\n' || ch == KEY_ENTER)
			v->editing = false;
		else if (ch == 27) {
			v->editing = false;
			v->filter[0] = 0;
		} else if ((ch == KEY_BACKSPACE || ch == 127 || ch == 8) && n)
			v->filter[n - 1] = 0;
		else if (ch >= 0x20 && ch < 0x7f && n + 1 < sizeof(v->filter)) {
			v->filter[n] = (char)ch;
			v->filter[n + 1] = 0;
		}
		return true;
	}
	switch (ch) {
	case 'q':
	case 'Q':
		return false;
	case 'p':
		v->paused = !v->paused;
		break;
	case '?':
	case 'h':
		v->help = true;
		break;
	case '/':
		v->editing = true;
		v->filter[0] = 0;
		break;
	case '<':
		v->sort = (enum top_sort)((v->sort + TOP_SORT_COLS - 1) % TOP_SORT_COLS);
		break;
	case '>':
		v->sort = (enum top_sort)((v->sort + 1) % TOP_SORT_COLS);
		break;
	case 's':
		v->reverse = !v->reverse;
		break;
	case KEY_UP:
	case KEY_DOWN: {
		struct top_view_opts o = view_opts(v);
		const struct top_conn *c;

		keep_selection(m, v);
		c = top_model__row(m, &o, v->sel + (ch == KEY_UP ? -1 : 1));
		if (c) {
			v->sel += ch == KEY_UP ? -1 : 1;
			snprintf(v->sel_id, sizeof(v->sel_id), "%s", c->id);
		}
		break;
	}
	case '\n':
	case KEY_ENTER:
		keep_selection(m, v);
		open_diagram(sc);
		break;
	}
	return true;
}

struct top_screen *top_screen__start(struct top_model *m, top_ask_fn ask, void *ctx)
{
	struct top_screen *sc = calloc(1, sizeof(*sc));

	if (!sc)
		return NULL;
	sc->m = m;
	sc->ask = ask;
	sc->ask_ctx = ctx;
	sc->v.connected = true;
	sc->v.sort = TOP_SORT_AGE;
	sc->dirty = true;
	setlocale(LC_ALL, "");
	initscr();
	cbreak();
	noecho();
	keypad(stdscr, TRUE);
	curs_set(0);
	set_escdelay(25);
	if (has_colors()) {
		start_color();
		use_default_colors();
		init_pair(1, COLOR_RED, -1);
	}
	return sc;
}

void top_screen__end(struct top_screen *sc)
{
	if (!sc)
		return;
	end_asking(&sc->v);
	free(sc->v.diagram);
	endwin();
	free(sc);
}

void top_screen__connected(struct top_screen *sc, bool up)
{
	sc->v.connected = up;
	sc->dirty = true;
	/* a new daemon: asked at once */
	if (up)
		memset(&sc->asked, 0, sizeof(sc->asked));
}

void top_screen__tick(struct top_screen *sc)
{
	/* what the stream does not carry, once a second */
	if (sc->v.connected && ms_since(&sc->asked) >= REDRAW_MS) {
		sc->ask(sc->ask_ctx, "{\"get\":\"top\"}");
		clock_gettime(CLOCK_MONOTONIC, &sc->asked);
	}
	if (check_answer(sc->m, &sc->v))
		sc->dirty = true;
	if (sc->dirty || ms_since(&sc->drawn) >= REDRAW_MS) {
		if (!sc->v.paused || sc->dirty)
			draw(sc->m, &sc->v, sc->resized);
		clock_gettime(CLOCK_MONOTONIC, &sc->drawn);
		sc->dirty = sc->resized = false;
	}
}

bool top_screen__keys(struct top_screen *sc)
{
	int ch;

	timeout(0);
	while ((ch = getch()) != ERR) {
		if (ch == KEY_RESIZE) {
			sc->dirty = sc->resized = true;
			continue;
		}
		if (!on_key(ch, sc))
			return false;
		sc->dirty = true;
	}
	return true;
}

static void ask_socket(void *ctx, const char *req)
{
	conn_ask(ctx, req);
}

static int run_screen(struct conn *c, struct top_model *m, const char *path)
{
	struct top_screen *sc = top_screen__start(m, ask_socket, c);
	struct timespec retried = { 0 };

	if (!sc) {
		fprintf(stderr, "synfin top: out of memory\n");
		return 1;
	}
	while (!stop_signal) {
		struct pollfd p[2] = { { .fd = STDIN_FILENO, .events = POLLIN }, { .fd = c->fd, .events = POLLIN } };

		top_screen__tick(sc);
		if (poll(p, c->fd >= 0 ? 2 : 1, 200) < 0 && errno != EINTR)
			break;
		if ((p[0].revents & POLLIN) && !top_screen__keys(sc))
			break;
		if (c->fd >= 0 && (p[1].revents & (POLLIN | POLLHUP | POLLERR)) && conn_read(c, m, NULL, NULL)) {
			conn_close(c);
			top_screen__connected(sc, false);
		}
		/* gone: try again every second; a new daemon, a new model */
		if (c->fd < 0 && ms_since(&retried) >= 1000) {
			clock_gettime(CLOCK_MONOTONIC, &retried);
			if (!conn_open(c, path)) {
				top_model__free(m);
				top_model__init(m);
				top_screen__connected(sc, true);
			}
		}
	}
	top_screen__end(sc);
	return 0;
}

int top__main(int argc, char **argv)
{
	struct top_opts o = { .socket = DEFAULT_SOCKET };
	struct argp argp = { options, parse_opt, "[--standalone -- DAEMON-OPTION...]", doc, NULL, NULL, NULL };
	struct sigaction sa = { .sa_handler = on_signal };
	struct top_model *m;
	struct conn c = { .fd = -1 };
	char *av0 = argv[0];
	int err, rc;

	argv[0] = "synfin top";
	argp_err_exit_status = 2;
	err = argp_parse(&argp, argc, argv, 0, NULL, &o);
	argv[0] = av0;
	if (err)
		return 2;
	if (o.standalone)
		return top_standalone__run(o.once || !isatty(STDOUT_FILENO), o.n_daemon_args, o.daemon_args);
	m = calloc(1, sizeof(*m));
	c.buf = malloc(READ_BUF);
	if (!m || !c.buf) {
		fprintf(stderr, "synfin top: out of memory\n");
		return 1;
	}
	top_model__init(m);
	err = conn_open(&c, o.socket);
	if (err) {
		no_daemon(o.socket, err);
		rc = 1;
	} else if (o.once || !isatty(STDOUT_FILENO)) {
		rc = run_once(&c, m);
	} else {
		/* no SA_RESTART: poll returns, the loop sees the signal and
		 * restores the terminal on its way out */
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
		sigaction(SIGHUP, &sa, NULL);
		signal(SIGPIPE, SIG_IGN);
		rc = run_screen(&c, m, o.socket);
	}
	conn_close(&c);
	top_model__free(m);
	free(m);
	free(c.buf);
	return rc;
}
