// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * storm: loopback TCP connection-storm load generator for `make bench`.
 *
 * It produces the TCP lifecycle traffic synfin observes (SYN, accept, FIN,
 * TIME_WAIT) so the cost of the observer can be measured as the drop in
 * connections per second, or, in hold mode, as the cost of many live sockets.
 *
 * Safety rails, because this is run unattended by a build target:
 *  - only loopback is ever targeted (127.0.0.0/8 or ::1), checked up front;
 *  - every run is bounded in time (--duration, at most 600 s; hold mode has a
 *    fixed open-phase bound plus --hold-s, at most 600 s) and optionally in
 *    count (--max-conns);
 *  - every blocking call is bounded (SO_RCVTIMEO/SO_SNDTIMEO, poll timeouts)
 *    and every thread is joined before the result is printed.
 *
 * Threads: client threads connect; server threads accept from ONE shared,
 * non-blocking listener (poll + accept4). One listener keeps --port 0 simple
 * (a single kernel-chosen port, no SO_REUSEPORT group to set up) and lets
 * whichever server thread is idle take the next connection.
 *
 * SIGINT/SIGTERM are blocked in every thread and collected by the main thread
 * with sigtimedwait(), so no blocking call is ever interrupted half-way and
 * there is no async-signal-safety to worry about.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_THREADS		256
#define MAX_PAYLOAD		(16u << 20)
#define MAX_DURATION_S		600.0
#define MAX_CONNECTIONS		200000
/* Bounds every connect/recv/send so a lost peer can never hang a thread. */
#define IO_TIMEOUT_MS		2000
/* Listener poll period: how quickly an idle server thread notices stop. */
#define POLL_MS			50
/* Main thread tick while waiting for a deadline, a signal or max-conns. */
#define TICK_MS			20
/* Hold mode: opening the connections must finish within this. */
#define OPEN_TIMEOUT_S		60.0
/* fds beyond the held sockets: stdio, listener, slack for libc. */
#define FD_SLACK		32
#define LISTEN_BACKLOG		4096

/*
 * Error counters are indexed by errno. Slot 0 is not an errno: it counts a
 * peer that closed before the payload was fully exchanged.
 */
#define ERR_SLOTS		256
#define ERR_EARLY_EOF		0

enum mode { MODE_STORM, MODE_HOLD };
enum closer { CLOSE_SERVER, CLOSE_CLIENT };
enum stop_reason { STOP_NONE, STOP_DURATION, STOP_MAX_CONNS, STOP_SIGNAL,
		   STOP_ERROR };

static const char *const stop_names[] = {
	[STOP_NONE] = "none",
	[STOP_DURATION] = "duration",
	[STOP_MAX_CONNS] = "max_conns",
	[STOP_SIGNAL] = "signal",
	[STOP_ERROR] = "error",
};

struct config {
	enum mode mode;
	enum closer closer;
	const char *addr_str;
	struct sockaddr_storage addr;	/* port filled in once listening */
	socklen_t addr_len;
	unsigned int port;
	unsigned int clients;
	unsigned int servers;
	size_t payload;
	size_t response;	/* bytes the server answers; = payload if unset */
	bool response_set;
	double duration_s;
	uint64_t max_conns;
	unsigned int connections;
	double hold_s;
	bool json;
};

static struct config cfg = {
	.mode = MODE_STORM,
	.closer = CLOSE_SERVER,
	.addr_str = "127.0.0.1",
	.clients = 2,
	.servers = 2,
	.duration_s = 5.0,
	.connections = 1000,
	.hold_s = 10.0,
};

static int listen_fd = -1;

/* Clients stop starting new connections; servers keep serving in-flight ones. */
static atomic_bool stop;
/* Servers stop only after all clients are joined, so no client is stranded. */
static atomic_bool srv_stop;
static atomic_int stop_reason;

static atomic_ulong err_count[ERR_SLOTS];

/* storm mode: tickets make --max-conns exact despite concurrent clients. */
static atomic_ulong tickets;
static atomic_ulong completed;

/* hold mode */
static int *hold_cfds;
static int *hold_sfds;
static atomic_uint hold_connected;
static atomic_uint hold_accepted;
static atomic_bool hold_failed;

static const char usage_text[] =
"Usage: storm [options]\n"
"Loopback-only TCP connection-storm load generator, bounded in count and time.\n"
"\n"
"  --mode storm|hold     storm (default): connect/exchange/close as fast as\n"
"                        possible; hold: open --connections connections\n"
"                        (client+server sockets), print \"holding N\" once all\n"
"                        are open, keep them for --hold-s, then close them all\n"
"  --addr ADDR           listen/connect address, 127.0.0.0/8 or ::1\n"
"                        (default 127.0.0.1)\n"
"  --port PORT           listener port, 0 = kernel-chosen (default 0)\n"
"  --clients N           client threads, 1..256 (default 2)\n"
"  --servers N           accept threads sharing one listener, 1..256\n"
"                        (default 2)\n"
"  --close client|server side that closes first (default server); the other\n"
"                        side closes after reading EOF\n"
"  --payload BYTES       storm: bytes the client sends and the server echoes\n"
"                        per connection, 0..16777216 (default 0)\n"
"  --response BYTES      storm: bytes the server answers instead of the echo\n"
"                        (request/response, e.g. --payload 100 --response\n"
"                        1024), 0..16777216\n"
"  --duration S          storm: stop after S seconds, 0 < S <= 600 (default 5)\n"
"  --max-conns N         storm: stop after N completed connections\n"
"                        (default 0 = only --duration bounds the run)\n"
"  --connections N       hold: connections to open, 1..200000 (default 1000);\n"
"                        opening must finish within 60 s\n"
"  --hold-s S            hold: seconds to keep them open, 0..600 (default 10)\n"
"  --json                print the result as one JSON object (always the last\n"
"                        line on stdout)\n"
"  -h, --help            print this help\n"
"\n"
"SIGINT/SIGTERM stop early; the result reports what was done.\n"
"Exit status: 0 ok, 1 failure, 2 bad arguments.\n";

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000,
			       .tv_nsec = (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static void count_err(int err)
{
	/* A socket timeout surfaces as EAGAIN (or EINPROGRESS from connect). */
	if (err == EAGAIN || err == EWOULDBLOCK || err == EINPROGRESS)
		err = ETIMEDOUT;
	if (err <= 0 || err >= ERR_SLOTS)
		err = ERR_SLOTS - 1;
	atomic_fetch_add_explicit(&err_count[err], 1, memory_order_relaxed);
}

static void count_early_eof(void)
{
	atomic_fetch_add_explicit(&err_count[ERR_EARLY_EOF], 1,
				  memory_order_relaxed);
}

static const char *err_name(int slot, char *buf, size_t len)
{
	const char *name;

	if (slot == ERR_EARLY_EOF)
		return "EARLY_EOF";
	name = strerrorname_np(slot);
	if (name)
		return name;
	snprintf(buf, len, "E%d", slot);
	return buf;
}

static void request_stop(enum stop_reason why)
{
	int none = STOP_NONE;

	/* The first reason wins: it is the one that actually ended the run. */
	atomic_compare_exchange_strong(&stop_reason, &none, (int)why);
	atomic_store(&stop, true);
}

static void set_timeouts(int fd)
{
	struct timeval tv = { .tv_sec = IO_TIMEOUT_MS / 1000,
			      .tv_usec = (IO_TIMEOUT_MS % 1000) * 1000 };

	/* Linux applies SO_SNDTIMEO to connect() too. */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

/* Returns a connected socket, or -1 with errno set. */
static int connect_one(void)
{
	int fd, err;

	fd = socket(cfg.addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	set_timeouts(fd);
	if (connect(fd, (struct sockaddr *)&cfg.addr, cfg.addr_len) < 0) {
		err = errno;
		close(fd);
		errno = err;
		return -1;
	}
	return fd;
}

/* 0 on success; -1 with errno set, or -1 with errno 0 for an early EOF. */
static int recv_full(int fd, char *buf, size_t len)
{
	size_t got = 0;
	ssize_t n;

	while (got < len) {
		n = recv(fd, buf + got, len - got, 0);
		if (n > 0) {
			got += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0)
			errno = 0;
		return -1;
	}
	return 0;
}

static int send_full(int fd, const char *buf, size_t len)
{
	size_t sent = 0;
	ssize_t n;

	while (sent < len) {
		/* MSG_NOSIGNAL: a reset peer is an error to count, not a kill. */
		n = send(fd, buf + sent, len - sent, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		sent += (size_t)n;
	}
	return 0;
}

/*
 * The second closer waits for the first closer's FIN, so the close order is
 * really the requested one. Anything the peer still sends is discarded.
 */
static int recv_until_eof(int fd)
{
	char buf[512];
	ssize_t n;

	for (;;) {
		n = recv(fd, buf, sizeof(buf), 0);
		if (n == 0)
			return 0;
		if (n < 0 && errno != EINTR)
			return -1;
	}
}

/* One buffer serves both directions of a connection. */
static size_t io_size(void)
{
	return cfg.payload > cfg.response ? cfg.payload : cfg.response;
}

static void record_io_failure(void)
{
	if (errno == 0)
		count_early_eof();
	else
		count_err(errno);
}

static bool take_ticket(void)
{
	unsigned long t;

	if (!cfg.max_conns)
		return true;
	t = atomic_fetch_add(&tickets, 1);
	if (t < cfg.max_conns)
		return true;
	atomic_fetch_sub(&tickets, 1);
	return false;
}

static void release_ticket(void)
{
	if (cfg.max_conns)
		atomic_fetch_sub(&tickets, 1);
}

/* One client-side connection lifetime; true if it completed cleanly. */
static bool client_conn(char *buf)
{
	int fd;

	fd = connect_one();
	if (fd < 0) {
		count_err(errno);
		/*
		 * EADDRNOTAVAIL means the ephemeral ports are used up (the
		 * active closer's TIME_WAIT sockets hold them): back off a
		 * little instead of spinning, then carry on.
		 */
		sleep_ms(1);
		return false;
	}
	if (cfg.payload && send_full(fd, buf, cfg.payload) < 0)
		goto fail;
	if (cfg.response && recv_full(fd, buf, cfg.response) < 0)
		goto fail;
	if (cfg.closer == CLOSE_SERVER && recv_until_eof(fd) < 0)
		goto fail;
	close(fd);
	return true;
fail:
	record_io_failure();
	close(fd);
	return false;
}

static void *storm_client(void *arg)
{
	char *buf = NULL;
	unsigned long done;

	(void)arg;
	if (io_size()) {
		buf = malloc(io_size());
		if (!buf) {
			count_err(ENOMEM);
			request_stop(STOP_ERROR);
			return NULL;
		}
		memset(buf, 'x', io_size());
	}
	while (!atomic_load(&stop)) {
		if (!take_ticket()) {
			/*
			 * All tickets are out. Stop once they have all
			 * completed; an in-flight one that fails hands its
			 * ticket back, so wait a little and retry.
			 */
			if (atomic_load(&completed) >= cfg.max_conns) {
				request_stop(STOP_MAX_CONNS);
				break;
			}
			sleep_ms(1);
			continue;
		}
		if (!client_conn(buf)) {
			release_ticket();
			continue;
		}
		done = atomic_fetch_add(&completed, 1) + 1;
		if (cfg.max_conns && done >= cfg.max_conns)
			request_stop(STOP_MAX_CONNS);
	}
	free(buf);
	return NULL;
}

/* Returns an accepted socket, -1 if none is ready (errors are counted). */
static int accept_one(void)
{
	struct pollfd pfd = { .fd = listen_fd, .events = POLLIN };
	int fd;

	if (poll(&pfd, 1, POLL_MS) <= 0)
		return -1;
	/* Non-blocking listener: another server thread may have won the race. */
	fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK &&
		    errno != EINTR && errno != ECONNABORTED) {
			count_err(errno);
			/* e.g. EMFILE: do not spin on a listener we cannot drain */
			sleep_ms(1);
		}
		return -1;
	}
	return fd;
}

static void server_conn(int fd, char *buf)
{
	set_timeouts(fd);
	if (cfg.payload && recv_full(fd, buf, cfg.payload) < 0)
		goto fail;
	if (cfg.response && send_full(fd, buf, cfg.response) < 0)
		goto fail;
	if (cfg.closer == CLOSE_CLIENT && recv_until_eof(fd) < 0)
		goto fail;
	close(fd);
	return;
fail:
	record_io_failure();
	close(fd);
}

static void *storm_server(void *arg)
{
	char *buf = NULL;
	int fd;

	(void)arg;
	if (io_size()) {
		buf = malloc(io_size());
		if (!buf) {
			count_err(ENOMEM);
			request_stop(STOP_ERROR);
			return NULL;
		}
	}
	while (!atomic_load(&srv_stop)) {
		fd = accept_one();
		if (fd >= 0)
			server_conn(fd, buf);
	}
	free(buf);
	return NULL;
}

static void *hold_client(void *arg)
{
	unsigned int i = (unsigned int)(uintptr_t)arg;
	int fd, err;

	while (i < cfg.connections && !atomic_load(&stop)) {
		fd = connect_one();
		if (fd >= 0) {
			hold_cfds[i] = fd;
			atomic_fetch_add(&hold_connected, 1);
			i += cfg.clients;
			continue;
		}
		err = errno;
		count_err(err);
		/*
		 * A timeout is a SYN dropped by a full accept queue: retry.
		 * Anything else (notably EADDRNOTAVAIL: held sockets keep
		 * their ephemeral ports, so the port range is a hard cap)
		 * cannot be fixed by retrying.
		 */
		if (err == EINPROGRESS || err == ETIMEDOUT || err == EAGAIN)
			continue;
		fprintf(stderr, "storm: connect: %s%s\n", strerror(err),
			err == EADDRNOTAVAIL ?
			" (ephemeral ports exhausted; see net.ipv4.ip_local_port_range)" :
			"");
		atomic_store(&hold_failed, true);
		request_stop(STOP_ERROR);
		break;
	}
	return NULL;
}

static void *hold_server(void *arg)
{
	unsigned int idx;
	int fd;

	(void)arg;
	while (!atomic_load(&srv_stop)) {
		fd = accept_one();
		if (fd < 0)
			continue;
		idx = atomic_fetch_add(&hold_accepted, 1);
		if (idx < cfg.connections) {
			hold_sfds[idx] = fd;
		} else {
			/* Not ours (a stray connect to our port): drop it. */
			atomic_fetch_sub(&hold_accepted, 1);
			close(fd);
		}
	}
	return NULL;
}

/*
 * Waits in the main thread until @deadline, a stop request, @done() or a
 * SIGINT/SIGTERM, whichever comes first.
 */
static void wait_for(double deadline, bool (*done)(void), const sigset_t *sigs,
		     enum stop_reason at_deadline)
{
	struct timespec tick = { .tv_sec = 0, .tv_nsec = TICK_MS * 1000000L };
	double now;

	for (;;) {
		if (atomic_load(&stop) || (done && done()))
			return;
		now = now_s();
		if (now >= deadline) {
			request_stop(at_deadline);
			return;
		}
		if (deadline - now < TICK_MS / 1000.0)
			tick.tv_nsec = (long)((deadline - now) * 1e9);
		if (sigtimedwait(sigs, NULL, &tick) > 0) {
			request_stop(STOP_SIGNAL);
			return;
		}
	}
}

static bool hold_all_open(void)
{
	return atomic_load(&hold_connected) == cfg.connections &&
	       atomic_load(&hold_accepted) == cfg.connections;
}

static bool parse_uint(const char *s, unsigned long long min,
		       unsigned long long max, unsigned long long *out)
{
	unsigned long long v;
	char *end;

	if (!*s || *s == '-' || *s == '+')
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return false;
	*out = v;
	return true;
}

static bool parse_secs(const char *s, bool allow_zero, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !(v >= 0.0) || v > MAX_DURATION_S ||
	    (!allow_zero && v == 0.0))
		return false;
	*out = v;
	return true;
}

/* Only ever loopback: this is a load generator and must not leave the host. */
static bool parse_loopback(const char *s)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)&cfg.addr;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&cfg.addr;

	memset(&cfg.addr, 0, sizeof(cfg.addr));
	if (inet_pton(AF_INET, s, &sin->sin_addr) == 1) {
		if ((ntohl(sin->sin_addr.s_addr) >> 24) != 127)
			return false;
		sin->sin_family = AF_INET;
		cfg.addr_len = sizeof(*sin);
		return true;
	}
	if (inet_pton(AF_INET6, s, &sin6->sin6_addr) == 1) {
		if (!IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr))
			return false;
		sin6->sin6_family = AF_INET6;
		cfg.addr_len = sizeof(*sin6);
		return true;
	}
	return false;
}

__attribute__((noreturn))
static void bad_args(const char *fmt, const char *what)
{
	fprintf(stderr, "storm: ");
	fprintf(stderr, fmt, what);
	fprintf(stderr, "\n%s", usage_text);
	exit(2);
}

static void parse_args(int argc, char **argv)
{
	enum { OPT_MODE = 256, OPT_ADDR, OPT_PORT, OPT_CLIENTS, OPT_SERVERS,
	       OPT_CLOSE, OPT_PAYLOAD, OPT_RESPONSE, OPT_DURATION, OPT_MAX_CONNS,
	       OPT_CONNECTIONS, OPT_HOLD_S, OPT_JSON };
	static const struct option opts[] = {
		{ "mode", required_argument, NULL, OPT_MODE },
		{ "addr", required_argument, NULL, OPT_ADDR },
		{ "port", required_argument, NULL, OPT_PORT },
		{ "clients", required_argument, NULL, OPT_CLIENTS },
		{ "servers", required_argument, NULL, OPT_SERVERS },
		{ "close", required_argument, NULL, OPT_CLOSE },
		{ "payload", required_argument, NULL, OPT_PAYLOAD },
		{ "response", required_argument, NULL, OPT_RESPONSE },
		{ "duration", required_argument, NULL, OPT_DURATION },
		{ "max-conns", required_argument, NULL, OPT_MAX_CONNS },
		{ "connections", required_argument, NULL, OPT_CONNECTIONS },
		{ "hold-s", required_argument, NULL, OPT_HOLD_S },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned long long v;
	int c;

	opterr = 0;	/* our own message, followed by the usage */
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case OPT_MODE:
			if (!strcmp(optarg, "storm"))
				cfg.mode = MODE_STORM;
			else if (!strcmp(optarg, "hold"))
				cfg.mode = MODE_HOLD;
			else
				bad_args("bad --mode '%s'", optarg);
			break;
		case OPT_ADDR:
			cfg.addr_str = optarg;
			break;
		case OPT_PORT:
			if (!parse_uint(optarg, 0, 65535, &v))
				bad_args("bad --port '%s'", optarg);
			cfg.port = (unsigned int)v;
			break;
		case OPT_CLIENTS:
			if (!parse_uint(optarg, 1, MAX_THREADS, &v))
				bad_args("bad --clients '%s' (1..256)", optarg);
			cfg.clients = (unsigned int)v;
			break;
		case OPT_SERVERS:
			if (!parse_uint(optarg, 1, MAX_THREADS, &v))
				bad_args("bad --servers '%s' (1..256)", optarg);
			cfg.servers = (unsigned int)v;
			break;
		case OPT_CLOSE:
			if (!strcmp(optarg, "server"))
				cfg.closer = CLOSE_SERVER;
			else if (!strcmp(optarg, "client"))
				cfg.closer = CLOSE_CLIENT;
			else
				bad_args("bad --close '%s'", optarg);
			break;
		case OPT_PAYLOAD:
			if (!parse_uint(optarg, 0, MAX_PAYLOAD, &v))
				bad_args("bad --payload '%s' (0..16777216)",
					 optarg);
			cfg.payload = (size_t)v;
			break;
		case OPT_RESPONSE:
			if (!parse_uint(optarg, 0, MAX_PAYLOAD, &v))
				bad_args("bad --response '%s' (0..16777216)",
					 optarg);
			cfg.response = (size_t)v;
			cfg.response_set = true;
			break;
		case OPT_DURATION:
			if (!parse_secs(optarg, false, &cfg.duration_s))
				bad_args("bad --duration '%s' (0 < S <= 600)",
					 optarg);
			break;
		case OPT_MAX_CONNS:
			if (!parse_uint(optarg, 0, UINT64_MAX, &v))
				bad_args("bad --max-conns '%s'", optarg);
			cfg.max_conns = v;
			break;
		case OPT_CONNECTIONS:
			if (!parse_uint(optarg, 1, MAX_CONNECTIONS, &v))
				bad_args("bad --connections '%s' (1..200000)",
					 optarg);
			cfg.connections = (unsigned int)v;
			break;
		case OPT_HOLD_S:
			if (!parse_secs(optarg, true, &cfg.hold_s))
				bad_args("bad --hold-s '%s' (0..600)", optarg);
			break;
		case OPT_JSON:
			cfg.json = true;
			break;
		case 'h':
			fputs(usage_text, stdout);
			exit(0);
		default:
			bad_args("bad option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		bad_args("unexpected argument '%s'", argv[optind]);
	if (!parse_loopback(cfg.addr_str))
		bad_args("--addr '%s' is not loopback (127.0.0.0/8 or ::1)",
			 cfg.addr_str);
	/* The payload exchange is a storm-mode feature; hold sockets idle. */
	if (cfg.mode == MODE_HOLD)
		cfg.payload = cfg.response = 0;
	else if (!cfg.response_set)
		cfg.response = cfg.payload;
}

/* Sets cfg.addr's port to the one actually bound. */
static int make_listener(void)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int one = 1;
	int fd;

	if (cfg.addr.ss_family == AF_INET)
		((struct sockaddr_in *)&cfg.addr)->sin_port = htons(cfg.port);
	else
		((struct sockaddr_in6 *)&cfg.addr)->sin6_port =
			htons(cfg.port);

	fd = socket(cfg.addr.ss_family,
		    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		perror("storm: socket");
		return -1;
	}
	/* A fixed --port must be reusable while the last run's TIME_WAITs live. */
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&cfg.addr, cfg.addr_len) < 0) {
		fprintf(stderr, "storm: bind %s port %u: %s\n", cfg.addr_str,
			cfg.port, strerror(errno));
		goto err;
	}
	if (listen(fd, LISTEN_BACKLOG) < 0) {
		perror("storm: listen");
		goto err;
	}
	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0) {
		perror("storm: getsockname");
		goto err;
	}
	if (ss.ss_family == AF_INET)
		((struct sockaddr_in *)&cfg.addr)->sin_port =
			((struct sockaddr_in *)&ss)->sin_port;
	else
		((struct sockaddr_in6 *)&cfg.addr)->sin6_port =
			((struct sockaddr_in6 *)&ss)->sin6_port;
	return fd;
err:
	close(fd);
	return -1;
}

/*
 * Hold mode keeps two fds per connection, so the default soft limit (often
 * 1024) is far too low; the hard limit is what we are allowed to use.
 */
static int raise_nofile(void)
{
	rlim_t need = 0;
	struct rlimit rl;

	if (cfg.mode == MODE_HOLD)
		need = (rlim_t)cfg.connections * 2 + FD_SLACK;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0) {
		perror("storm: getrlimit(RLIMIT_NOFILE)");
		return -1;
	}
	if (rl.rlim_cur != rl.rlim_max) {
		struct rlimit want = rl;

		/* An unlimited hard limit may exceed fs.nr_open: ask for need. */
		want.rlim_cur = rl.rlim_max == RLIM_INFINITY ?
				(need > rl.rlim_cur ? need : rl.rlim_cur) :
				rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &want) == 0)
			rl = want;
	}
	if (rl.rlim_cur < need) {
		fprintf(stderr,
			"storm: --connections %u needs %llu file descriptors, RLIMIT_NOFILE allows %llu (hard limit %llu)\n",
			cfg.connections, (unsigned long long)need,
			(unsigned long long)rl.rlim_cur,
			(unsigned long long)rl.rlim_max);
		return -1;
	}
	return 0;
}

struct threads {
	pthread_t tid[MAX_THREADS];
	unsigned int n;
};

static int spawn(struct threads *t, unsigned int n, void *(*fn)(void *),
		 bool pass_index)
{
	unsigned int i;
	int err;

	for (i = 0; i < n; i++) {
		err = pthread_create(&t->tid[t->n], NULL, fn,
				     pass_index ? (void *)(uintptr_t)i : NULL);
		if (err) {
			fprintf(stderr, "storm: pthread_create: %s\n",
				strerror(err));
			return -1;
		}
		t->n++;
	}
	return 0;
}

static void join_all(struct threads *t)
{
	while (t->n)
		pthread_join(t->tid[--t->n], NULL);
}

/* The process's CPU time (all threads, user + system): what the
 * connections cost, the loopback's softirq work included (it runs in the
 * sending thread's context). The benchmark relates an observer's cost to
 * it. */
static double cpu_s(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru))
		return 0;
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static void print_result(double duration_s, uint64_t conns, double rate,
			 double open_s, double held_s)
{
	static const char *const mode_names[] = { "storm", "hold" };
	static const char *const close_names[] = { "server", "client" };
	unsigned long counts[ERR_SLOTS];
	unsigned long total = 0;
	const char *reason;
	char nbuf[16];
	int i;

	for (i = 0; i < ERR_SLOTS; i++) {
		counts[i] = atomic_load(&err_count[i]);
		total += counts[i];
	}
	reason = stop_names[atomic_load(&stop_reason)];

	if (cfg.json) {
		printf("{\"mode\":\"%s\",\"close\":\"%s\",\"family\":%u,\"clients\":%u,\"servers\":%u,\"payload\":%zu,\"response\":%zu,\"duration_s\":%.3f,\"conns\":%llu,\"conn_per_s\":%.1f,\"cpu_s\":%.3f",
		       mode_names[cfg.mode], close_names[cfg.closer],
		       cfg.addr.ss_family == AF_INET6 ? 6 : 4,
		       cfg.clients, cfg.servers, cfg.payload, cfg.response,
		       duration_s, (unsigned long long)conns, rate, cpu_s());
		if (cfg.mode == MODE_HOLD)
			printf(",\"open_s\":%.3f,\"hold_s\":%.3f", open_s,
			       held_s);
		/* EADDRNOTAVAIL always present: it is the one to watch. */
		printf(",\"stop\":\"%s\",\"errors\":{\"total\":%lu,\"EADDRNOTAVAIL\":%lu",
		       reason, total, counts[EADDRNOTAVAIL]);
		for (i = 0; i < ERR_SLOTS; i++) {
			if (counts[i] && i != EADDRNOTAVAIL)
				printf(",\"%s\":%lu",
				       err_name(i, nbuf, sizeof(nbuf)),
				       counts[i]);
		}
		printf("}}\n");
		return;
	}
	printf("storm: mode=%s close=%s clients=%u servers=%u payload=%zu response=%zu duration_s=%.2f conns=%llu conn_per_s=%.0f cpu_s=%.2f errors=%lu",
	       mode_names[cfg.mode], close_names[cfg.closer], cfg.clients,
	       cfg.servers, cfg.payload, cfg.response, duration_s,
	       (unsigned long long)conns, rate, cpu_s(), total);
	for (i = 0; i < ERR_SLOTS; i++) {
		if (counts[i])
			printf(" %s=%lu", err_name(i, nbuf, sizeof(nbuf)),
			       counts[i]);
	}
	if (cfg.mode == MODE_HOLD)
		printf(" open_s=%.2f hold_s=%.2f", open_s, held_s);
	printf(" stop=%s\n", reason);
}

static int run_storm(const sigset_t *sigs)
{
	struct threads servers = { .n = 0 }, clients = { .n = 0 };
	double t0, elapsed;
	uint64_t conns;
	int ret = 0;

	if (spawn(&servers, cfg.servers, storm_server, false) < 0) {
		ret = 1;
		goto out;
	}
	t0 = now_s();
	if (spawn(&clients, cfg.clients, storm_client, false) < 0) {
		request_stop(STOP_ERROR);
		ret = 1;
	} else {
		wait_for(t0 + cfg.duration_s, NULL, sigs, STOP_DURATION);
	}
	atomic_store(&stop, true);
	join_all(&clients);
	elapsed = now_s() - t0;
	/* Only now: a client may still have been waiting on a server. */
	atomic_store(&srv_stop, true);
	join_all(&servers);
	/* After the servers: their error counts belong in the result too. */
	conns = atomic_load(&completed);
	print_result(elapsed, conns, elapsed > 0 ? (double)conns / elapsed : 0,
		     0, 0);
	return ret;
out:
	atomic_store(&srv_stop, true);
	join_all(&servers);
	return ret;
}

static void close_all(int *fds, unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++) {
		if (fds[i] >= 0)
			close(fds[i]);
		fds[i] = -1;
	}
}

static int run_hold(const sigset_t *sigs)
{
	struct threads servers = { .n = 0 }, clients = { .n = 0 };
	double t0, t_open, t_held, open_s, held_s = 0;
	unsigned int nc, ns, i, pairs;
	bool all_open;
	int ret = 0;

	hold_cfds = malloc(sizeof(int) * cfg.connections);
	hold_sfds = malloc(sizeof(int) * cfg.connections);
	if (!hold_cfds || !hold_sfds) {
		fprintf(stderr, "storm: out of memory\n");
		free(hold_cfds);
		free(hold_sfds);
		return 1;
	}
	for (i = 0; i < cfg.connections; i++)
		hold_cfds[i] = hold_sfds[i] = -1;

	t0 = now_s();
	if (spawn(&servers, cfg.servers, hold_server, false) < 0 ||
	    spawn(&clients, cfg.clients > cfg.connections ?
			    cfg.connections : cfg.clients,
		  hold_client, true) < 0) {
		atomic_store(&hold_failed, true);
		request_stop(STOP_ERROR);
	} else {
		wait_for(t0 + OPEN_TIMEOUT_S, hold_all_open, sigs,
			 STOP_ERROR);
	}
	/* Opening is over either way; from here on only main touches fds. */
	atomic_store(&stop, true);
	join_all(&clients);
	atomic_store(&srv_stop, true);
	join_all(&servers);
	t_open = now_s();
	open_s = t_open - t0;

	nc = atomic_load(&hold_connected);
	ns = atomic_load(&hold_accepted);
	all_open = nc == cfg.connections && ns == cfg.connections;
	pairs = nc < ns ? nc : ns;

	if (all_open && atomic_load(&stop_reason) == STOP_NONE) {
		printf("holding %u\n", cfg.connections);
		fflush(stdout);
		/* Clear the open phase's stop so the hold can be waited on. */
		atomic_store(&stop, false);
		wait_for(t_open + cfg.hold_s, NULL, sigs, STOP_DURATION);
		t_held = now_s();
		held_s = t_held - t_open;
	} else if (atomic_load(&stop_reason) != STOP_SIGNAL) {
		if (!atomic_load(&hold_failed))
			fprintf(stderr,
				"storm: only %u of %u connections open (%u accepted) after %.0f s\n",
				nc, cfg.connections, ns, OPEN_TIMEOUT_S);
		ret = 1;
	}

	/* The first closer's FIN reaches the peer before the peer closes. */
	if (cfg.closer == CLOSE_SERVER) {
		close_all(hold_sfds, cfg.connections);
		close_all(hold_cfds, cfg.connections);
	} else {
		close_all(hold_cfds, cfg.connections);
		close_all(hold_sfds, cfg.connections);
	}
	free(hold_cfds);
	free(hold_sfds);

	print_result(open_s + held_s, pairs,
		     open_s > 0 ? (double)pairs / open_s : 0, open_s, held_s);
	return ret;
}

/*
 * Never runs (the signals stay blocked), but an installed handler matters:
 * a SIG_IGN inherited from a non-interactive shell's `cmd &` would make the
 * kernel discard the signal instead of leaving it for sigtimedwait().
 */
static void on_stop_signal(int sig)
{
	(void)sig;
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_stop_signal };
	sigset_t sigs;
	int ret;

	parse_args(argc, argv);

	/*
	 * Block the stop signals before any thread exists so every thread
	 * inherits the mask and only main's sigtimedwait() sees them.
	 */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (raise_nofile() < 0)
		return 1;
	listen_fd = make_listener();
	if (listen_fd < 0)
		return 1;

	if (cfg.mode == MODE_STORM)
		ret = run_storm(&sigs);
	else
		ret = run_hold(&sigs);

	close(listen_fd);
	return ret;
}
