// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * synfin top: the live view. Reads the daemon's socket (JSON Lines: hello,
 * snapshot, then live records) into its model (top_model.c) and draws it
 * with ncurses about once a second. --once, or stdout not a terminal: one
 * plain-text snapshot, then exit. The terminal is restored on every way
 * out (q, SIGINT, SIGTERM, SIGHUP, an error).
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
#include <sys/un.h>
#include "flowrec.h"
#include "ladder.h"
#include "top.h"
#include "top_model.h"

#define DEFAULT_SOCKET "/run/synfin/synfin.sock"
/* --once: the snapshot ends with a stats record; this long at most */
#define ONCE_TIMEOUT_MS 3000
#define REDRAW_MS 1000
#define READ_BUF (1 << 20)

struct top_opts {
	const char *socket;
	bool once;
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
	"Esc clears it), Up/Down select a recent abnormal close, Enter draws its diagram.\n"
	"\n"
	"EXAMPLES:\n"
	"    synfin top\n"
	"    synfin top --once > snapshot.txt      # one text snapshot (also when piped)\n"
	"    synfin top --socket /tmp/synfin.sock\n"
	"\n"
	"Exit status: 0 ok, 1 no daemon (or it went away with --once), 2 usage.";

static const struct argp_option options[] = {
	{ "socket", 's', "PATH", 0, "The daemon's socket (default " DEFAULT_SOCKET ")", 0 },
	{ "once", '1', NULL, 0, "Print one plain-text snapshot and exit (the default when stdout is not a terminal)", 0 },
	{ 0 },
};

static error_t parse_opt(int key, char *arg, struct argp_state *state)
{
	struct top_opts *o = state->input;

	switch (key) {
	case 's':
		o->socket = arg;
		return 0;
	case '1':
		o->once = true;
		return 0;
	case ARGP_KEY_ARG:
		argp_error(state, "unexpected argument '%s'", arg);
		return EINVAL;
	default:
		return ARGP_ERR_UNKNOWN;
	}
}

static int conn_open(struct conn *c, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		int err = -errno;

		close(fd);
		return err;
	}
	c->fd = fd;
	c->len = 0;
	return 0;
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
	while (!stats) {
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
	int sel;		/* selected recent abnormal close */
	char *diagram;		/* shown instead of the view while set */
};

static bool any_loss(const struct top_model *m)
{
	return m->lost || m->rb_failed || m->recursion || m->out_errors || m->out_dropped || m->told_dropped;
}

static void draw_text(const char *text, int from_row, int sel_row, bool loss_red)
{
	int rows = LINES, row = from_row;
	const char *p = text;

	while (*p && row < rows - 1) {
		const char *nl = strchr(p, '\n');
		int len = nl ? (int)(nl - p) : (int)strlen(p);
		attr_t a = A_NORMAL;

		if (row == sel_row)
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

static void draw(struct top_model *m, struct view *v)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f;
	int sel_row = -1;

	erase();
	if (v->diagram) {
		draw_text(v->diagram, 0, -1, false);
		attron(A_REVERSE);
		mvaddstr(LINES - 1, 0, " any key: back ");
		attroff(A_REVERSE);
		refresh();
		return;
	}
	if (v->help) {
		draw_text("synfin top: keys\n\n"
			  "  ?        this help (any key closes it)\n"
			  "  q        quit\n"
			  "  p        pause / resume the screen (the stream is still read)\n"
			  "  /        filter by port, address or process name (Enter keeps, Esc clears)\n"
			  "  Up/Down  select a recent abnormal close\n"
			  "  Enter    its handshake/teardown diagram (synfin show)\n",
			  0, -1, false);
		refresh();
		return;
	}
	f = open_memstream(&text, &len);
	if (!f)
		return;
	top_model__render(m, f, v->filter, COLS);
	fclose(f);
	/* the selected recent close: its row under the RECENT heading */
	if (top_model__recent(m, v->filter, 0)) {
		const char *h = strstr(text, "\nRECENT ABNORMAL CLOSES\n");
		int row = 0;

		for (const char *p = text; h && p <= h; p++)
			row += *p == '\n';
		if (h)
			sel_row = row + 2 + v->sel;
	}
	draw_text(text, 0, sel_row, any_loss(m));
	free(text);
	attron(A_REVERSE);
	if (!v->connected)
		mvaddstr(LINES - 1, 0, " disconnected: the daemon went away; reconnecting... ");
	else if (v->editing)
		mvprintw(LINES - 1, 0, " filter: %s_ ", v->filter);
	else
		mvprintw(LINES - 1, 0, " %s? help  q quit  p pause  / filter%s%s ", v->paused ? "PAUSED  " : "",
			 v->filter[0] ? "  filter: " : "", v->filter);
	attroff(A_REVERSE);
	refresh();
}

static void open_diagram(struct top_model *m, struct view *v)
{
	const struct top_conn *c = top_model__recent(m, v->filter, v->sel);
	/* box drawing only where the terminal's locale can show it */
	struct ladder_style st = { .ascii = strcmp(nl_langinfo(CODESET), "UTF-8") != 0, .color = false };
	struct flowrec r;
	char err[128];
	size_t len = 0;
	FILE *f;

	if (!c || !c->line)
		return;
	f = open_memstream(&v->diagram, &len);
	if (!f)
		return;
	if (flowrec__parse(c->line, strlen(c->line), &r, err, sizeof(err)))
		fprintf(f, "cannot read this flow record: %s\n", err);
	else if (ladder__draw(f, &r, NULL, &st))
		fprintf(f, "cannot draw this flow\n");
	fclose(f);
}

/* A key: false to quit. */
static bool on_key(int ch, struct top_model *m, struct view *v)
{
	size_t n = strlen(v->filter);

	if (v->diagram) {
		free(v->diagram);
		v->diagram = NULL;
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
		v->sel = 0;
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
	case KEY_UP:
		if (v->sel > 0)
			v->sel--;
		break;
	case KEY_DOWN:
		if (top_model__recent(m, v->filter, v->sel + 1))
			v->sel++;
		break;
	case '\n':
	case KEY_ENTER:
		open_diagram(m, v);
		break;
	}
	return true;
}

static long ms_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

static int run_screen(struct conn *c, struct top_model *m, const char *path)
{
	struct view v = { .connected = true };
	struct timespec drawn = { 0 }, retried = { 0 };
	bool dirty = true;

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
	while (!stop_signal) {
		struct pollfd p[2] = { { .fd = STDIN_FILENO, .events = POLLIN }, { .fd = c->fd, .events = POLLIN } };
		int ch;

		if (dirty || ms_since(&drawn) >= REDRAW_MS) {
			if (!v.paused || dirty)
				draw(m, &v);
			clock_gettime(CLOCK_MONOTONIC, &drawn);
			dirty = false;
		}
		if (poll(p, c->fd >= 0 ? 2 : 1, 200) < 0 && errno != EINTR)
			break;
		if (p[0].revents & POLLIN) {
			timeout(0);
			while ((ch = getch()) != ERR) {
				if (ch == KEY_RESIZE) {
					dirty = true;
					continue;
				}
				if (!on_key(ch, m, &v))
					goto out;
				dirty = true;
			}
		}
		if (c->fd >= 0 && (p[1].revents & (POLLIN | POLLHUP | POLLERR)) && conn_read(c, m, NULL, NULL)) {
			conn_close(c);
			v.connected = false;
			dirty = true;
		}
		/* gone: try again every second; a new daemon, a new model */
		if (c->fd < 0 && ms_since(&retried) >= 1000) {
			clock_gettime(CLOCK_MONOTONIC, &retried);
			if (!conn_open(c, path)) {
				top_model__free(m);
				top_model__init(m);
				v.connected = true;
				dirty = true;
			}
		}
	}
out:
	free(v.diagram);
	endwin();
	return 0;
}

int top__main(int argc, char **argv)
{
	struct top_opts o = { .socket = DEFAULT_SOCKET };
	struct argp argp = { options, parse_opt, NULL, doc, NULL, NULL, NULL };
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
