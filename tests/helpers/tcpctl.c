// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * tcpctl: make TCP connections with precisely controlled lifecycles for the
 * real-kernel tests, and print the 4-tuples used so a test can find the
 * records synfin produced for them.
 *
 * Both ends live in this one process and in one thread: the client connects
 * non-blocking, the server accepts, and every later step is a poll() with a
 * deadline. One thread keeps the order of the closes deterministic (no
 * scheduler decides which side goes first) and means a --comm rename of the
 * main thread covers every task that ever touches a socket.
 *
 * Build: gcc -O2 -Wall -Wextra -Werror -pthread -o tcpctl tcpctl.c
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Upper bound for any single wait that is not under the caller's control. */
#define IO_TIMEOUT_MS 10000
/* Extra slack on top of the expected SYN retransmission time. */
#define SYN_MARGIN_MS 10000
/* TASK_COMM_LEN is 16 including the NUL; longer names are cut by the kernel. */
#define COMM_MAX 64
#define ADDR_STR_LEN (INET6_ADDRSTRLEN + 8)

enum scenario {
	SC_CLIENT_FIRST,
	SC_SERVER_FIRST,
	SC_RESET,
	SC_REFUSED,
	SC_TIMEOUT,
	SC_CLOSE_WAIT,
	SC_LISTEN_ONLY,
	SC_HALF_CLOSE,
	SC_SIMULTANEOUS,
};

static const char *const scenario_names[] = {
	[SC_CLIENT_FIRST] = "client-first",
	[SC_SERVER_FIRST] = "server-first",
	[SC_RESET] = "reset",
	[SC_REFUSED] = "refused",
	[SC_TIMEOUT] = "timeout",
	[SC_CLOSE_WAIT] = "close-wait",
	[SC_LISTEN_ONLY] = "listen-only",
	[SC_HALF_CLOSE] = "half-close",
	[SC_SIMULTANEOUS] = "simultaneous",
};

struct options {
	enum scenario scenario;
	struct sockaddr_storage addr;	/* ADDR with the server port */
	socklen_t addr_len;
	int family;
	long count;
	long hold_ms;
	long linger_ms;
	int syncnt;			/* 0: leave the kernel default */
	bool comm_set;
	char comm[COMM_MAX];
	const char *wait_file;		/* wait for it before the first close */
	long client_port;		/* bind the client to it (0: ephemeral) */
	const char *wait_file2;		/* simultaneous: after both FINs */
	long send_after_fin;		/* half-close: server bytes after the FIN */
	long send_before_close;		/* client-first: client bytes before its close */
	long think_ms;			/* the server's pause between request and answer */
	const char *server_netns;	/* listen in this namespace (a path) */
	const char *client_netns;	/* connect from this one */
};

static struct options *opts;		/* for exchange(): the scenario's timing */

static const char usage_text[] =
	"usage: tcpctl SCENARIO [options]\n"
	"scenarios: client-first server-first reset refused timeout close-wait listen-only half-close\n"
	"           simultaneous\n"
	"  (half-close: the client shutdown(SHUT_WR)s and stays a full FIN_WAIT_2 socket while the\n"
	"   server holds its CLOSE_WAIT for --hold MS, then both close)\n"
	"  (simultaneous: nothing is exchanged; both ends shutdown(SHUT_WR) back to back, print\n"
	"   'fins-sent ...', wait for --wait-file-2 if given, then for the peer's FIN on both\n"
	"   sides, then close. The FINs cross (both sockets pass CLOSING) only if the test holds\n"
	"   them back, e.g. drops them with --wait-file and releases them with --wait-file-2;\n"
	"   the process pins itself to one CPU so both retransmission timers share a base)\n"
	"  --addr ADDR      IPv4/IPv6 literal to listen on and connect to (default 127.0.0.1)\n"
	"  --port PORT      server port (default 0 = kernel chooses; required for timeout)\n"
	"  --comm NAME      rename the process first; C escapes (\\xHH \\NNN \\n \\\\ \\\" ...) decoded\n"
	"  --count N        repeat the scenario N times, one new connection each (default 1)\n"
	"  --hold MS        time spent at the scenario's stuck point (default 0)\n"
	"  --client-port P  bind the client to local port P (the same 4-tuple each time)\n"
	"  --wait-file PATH connected scenarios: print 'established ...' and wait (10 s at most)\n"
	"                   until PATH exists before the first close (a test adds firewall rules)\n"
	"  --syncnt N       set TCP_SYNCNT on the client socket (timeout: default 1)\n"
	"  --linger-ms MS   pause between the two closes (default 50)\n"
	"  --wait-file-2 PATH simultaneous: after both FINs were sent, wait (10 s at most)\n"
	"                   until PATH exists before waiting for the peers' FINs\n"
	"  --send-after-fin BYTES half-close: after reading the client's FIN the server sends\n"
	"                   BYTES in 10 pieces spread over --hold MS (instead of a plain wait);\n"
	"                   the client must read them all before the server's FIN\n"
	"  --think-ms MS    the server waits MS between reading the request and answering\n"
	"  --server-netns PATH, --client-netns PATH  listen in one network namespace (e.g.\n"
	"                   /var/run/netns/NAME) and connect from another (a veth between them)\n"
	"  --send-before-close BYTES client-first: the client sends BYTES after the exchange and\n"
	"                   closes at once (its FIN queued behind them); the server must read\n"
	"                   them all before the FIN\n"
	"output: 'ready pid=PID port=PORT', then one 'conn ...' line per connection\n"
	"        (a 'hold ...' line announces the tuple before a --hold wait)\n"
	"        (simultaneous: a 'fins-sent ...' line once both ends have shut down)\n"
	"exit: 0 all as expected, 1 failure (reason on stderr), 2 bad arguments\n";

static void __attribute__((noreturn)) usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "tcpctl: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n%s", usage_text);
	exit(2);
}

/* One line on stderr; the caller decides whether the run has failed. */
static void report(const char *fmt, ...)
{
	va_list ap;

	fputs("tcpctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {
		.tv_sec = ms / 1000,
		.tv_nsec = (ms % 1000) * 1000000L,
	};

	/* Restart after signals so the pause really lasts as long as asked. */
	while (ms > 0 && nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static const char *errno_name(int err)
{
	const char *name = strerrorname_np(err);

	return name ? name : "EUNKNOWN";
}

static long parse_long(const char *opt, const char *s, long min, long max)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		usage_error("%s: '%s' is not an integer in [%ld, %ld]", opt, s,
			    min, max);
	return v;
}

static int hex_val(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Decode C escapes so a shell test can pass any byte. NUL is refused: the
 * kernel copies the name as a C string, so it would silently cut it.
 */
static void decode_comm(const char *in, char *out, size_t out_size)
{
	size_t n = 0;

	while (*in) {
		unsigned int c = (unsigned char)*in++;

		if (c == '\\') {
			int d, i;

			c = (unsigned char)*in++;
			switch (c) {
			case '\\': case '"': case '\'': case '?':
				break;
			case 'a': c = '\a'; break;
			case 'b': c = '\b'; break;
			case 'e': c = 0x1b; break;
			case 'f': c = '\f'; break;
			case 'n': c = '\n'; break;
			case 'r': c = '\r'; break;
			case 't': c = '\t'; break;
			case 'v': c = '\v'; break;
			case 'x':
				d = hex_val(*in);
				if (d < 0)
					usage_error("--comm: \\x needs hex digits");
				c = d;
				in++;
				d = hex_val(*in);
				if (d >= 0) {
					c = c * 16 + d;
					in++;
				}
				break;
			case '0': case '1': case '2': case '3':
			case '4': case '5': case '6': case '7':
				c -= '0';
				for (i = 0; i < 2 && *in >= '0' && *in <= '7'; i++)
					c = c * 8 + (*in++ - '0');
				if (c > 0xff)
					usage_error("--comm: octal escape above \\377");
				break;
			case '\0':
				usage_error("--comm: trailing backslash");
			default:
				usage_error("--comm: unknown escape '\\%c'", c);
			}
			if (c == 0)
				usage_error("--comm: NUL byte cannot be part of a comm");
		}
		if (n + 1 >= out_size)
			usage_error("--comm: name longer than %zu bytes",
				    out_size - 1);
		out[n++] = (char)c;
	}
	out[n] = '\0';
}

static void set_port(struct sockaddr_storage *ss, uint16_t port)
{
	if (ss->ss_family == AF_INET)
		((struct sockaddr_in *)ss)->sin_port = htons(port);
	else
		((struct sockaddr_in6 *)ss)->sin6_port = htons(port);
}

static uint16_t get_port(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)ss)->sin_port);
	return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
}

static void format_addr(const struct sockaddr_storage *ss, char *buf,
			size_t size)
{
	char ip[INET6_ADDRSTRLEN];

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;

		inet_ntop(AF_INET, &sin->sin_addr, ip, sizeof(ip));
		snprintf(buf, size, "%s:%u", ip, ntohs(sin->sin_port));
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 =
			(const struct sockaddr_in6 *)ss;

		inet_ntop(AF_INET6, &sin6->sin6_addr, ip, sizeof(ip));
		snprintf(buf, size, "[%s]:%u", ip, ntohs(sin6->sin6_port));
	} else {
		snprintf(buf, size, "0");
	}
}

static bool addr_is_any(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ((const struct sockaddr_in *)ss)->sin_addr.s_addr ==
		       htonl(INADDR_ANY);
	return IN6_IS_ADDR_UNSPECIFIED(
		&((const struct sockaddr_in6 *)ss)->sin6_addr);
}

static bool same_endpoint(const struct sockaddr_storage *a,
			  const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family || get_port(a) != get_port(b))
		return false;
	if (a->ss_family == AF_INET)
		return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
		       ((const struct sockaddr_in *)b)->sin_addr.s_addr;
	return IN6_ARE_ADDR_EQUAL(&((const struct sockaddr_in6 *)a)->sin6_addr,
				  &((const struct sockaddr_in6 *)b)->sin6_addr);
}

static int local_addr(int fd, struct sockaddr_storage *ss)
{
	socklen_t len = sizeof(*ss);

	memset(ss, 0, sizeof(*ss));
	return getsockname(fd, (struct sockaddr *)ss, &len);
}

/* Expected time for the kernel to give up on a SYN, upper bound. */
static long syn_bound_ms(int syncnt)
{
	/* Exponential backoff from a 1 s RTO, the RTO capped at 120 s. */
	long total = 0, rto = 1000;
	int i;

	for (i = 0; i <= syncnt; i++) {
		total += rto;
		rto = rto * 2 > 120000 ? 120000 : rto * 2;
	}
	return total + SYN_MARGIN_MS;
}

static int set_timeouts(int fd, long ms)
{
	struct timeval tv = { .tv_sec = ms / 1000,
			      .tv_usec = (ms % 1000) * 1000 };

	if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0)
		return -1;
	return 0;
}

/*
 * Wait for @events on @fd until @deadline. Returns the revents, 0 on
 * timeout, -1 on error.
 */
static int wait_fd(int fd, short events, int64_t deadline)
{
	struct pollfd pfd = { .fd = fd, .events = events };

	for (;;) {
		int64_t left = deadline - now_ms();
		int r;

		if (left <= 0)
			return 0;
		r = poll(&pfd, 1, left > INT_MAX ? INT_MAX : (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			return 0;
		return pfd.revents;
	}
}

static int open_listener(const struct options *o, uint16_t *port)
{
	struct sockaddr_storage ss;
	int one = 1;
	int fd;

	fd = socket(o->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		report("socket: %s", strerror(errno));
		return -1;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, (const struct sockaddr *)&o->addr, o->addr_len) < 0 ||
	    listen(fd, 16) < 0 || local_addr(fd, &ss) < 0) {
		report("listen on port %u: %s", get_port(&o->addr),
		       strerror(errno));
		close(fd);
		return -1;
	}
	*port = get_port(&ss);
	return fd;
}

/*
 * For 'refused' without --port: a port that was free a moment ago. The
 * socket is bound but never listens, then closed, so nothing answers there.
 */
static int pick_free_port(const struct options *o, uint16_t *port)
{
	struct sockaddr_storage ss;
	int fd;

	fd = socket(o->family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (bind(fd, (const struct sockaddr *)&o->addr, o->addr_len) < 0 ||
	    local_addr(fd, &ss) < 0) {
		close(fd);
		return -1;
	}
	close(fd);
	*port = get_port(&ss);
	return 0;
}

static int client_socket(const struct options *o, int flags)
{
	int fd;

	fd = socket(o->family, SOCK_STREAM | SOCK_CLOEXEC | flags, 0);
	if (fd < 0) {
		report("socket: %s", strerror(errno));
		return -1;
	}
	if (o->syncnt &&
	    setsockopt(fd, IPPROTO_TCP, TCP_SYNCNT, &o->syncnt,
		       sizeof(o->syncnt)) < 0) {
		report("TCP_SYNCNT %d: %s", o->syncnt, strerror(errno));
		close(fd);
		return -1;
	}
	if (o->client_port) {
		/* the same 4-tuple again: it meets the last connection's
		 * time-wait socket, which the kernel may let it reuse */
		struct sockaddr_storage ss = o->addr;
		int one = 1;

		/* from another namespace the server's address is not ours:
		 * any local address, that port */
		if (o->client_netns) {
			memset(&ss, 0, sizeof(ss));
			ss.ss_family = o->family;
		}
		set_port(&ss, (uint16_t)o->client_port);
		if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
		    bind(fd, (struct sockaddr *)&ss, o->addr_len) < 0) {
			report("bind to client port %ld: %s", o->client_port, strerror(errno));
			close(fd);
			return -1;
		}
	}
	return fd;
}

static void print_conn(const struct options *o, long n,
		       const struct sockaddr_storage *client,
		       const char *result)
{
	char c[ADDR_STR_LEN], s[ADDR_STR_LEN];

	format_addr(client, c, sizeof(c));
	format_addr(&o->addr, s, sizeof(s));
	printf("conn scenario=%s n=%ld family=%s client=%s server=%s client_pid=%d result=%s\n",
	       scenario_names[o->scenario], n,
	       o->family == AF_INET ? "ipv4" : "ipv6", c, s, (int)getpid(),
	       result);
}

/* Lets a test inspect the stuck socket while we are still holding it. */
static void print_hold(const struct options *o, long n,
		       const struct sockaddr_storage *client)
{
	char c[ADDR_STR_LEN], s[ADDR_STR_LEN];

	format_addr(client, c, sizeof(c));
	format_addr(&o->addr, s, sizeof(s));
	printf("hold scenario=%s n=%ld family=%s client=%s server=%s client_pid=%d ms=%ld\n",
	       scenario_names[o->scenario], n,
	       o->family == AF_INET ? "ipv4" : "ipv6", c, s, (int)getpid(),
	       o->hold_ms);
}

/*
 * Connect the client and accept its server side. The accepted peer must be
 * our client: a stray connection from elsewhere would give a wrong tuple.
 */
static int establish(const struct options *o, int lfd, int *cfd_out,
		     int *sfd_out, struct sockaddr_storage *client)
{
	int64_t deadline;
	int cfd, sfd = -1, err = 0;
	socklen_t len = sizeof(err);
	int r;

	cfd = client_socket(o, SOCK_NONBLOCK);
	if (cfd < 0)
		return -1;
	deadline = now_ms() + (o->syncnt ? syn_bound_ms(o->syncnt) :
					  IO_TIMEOUT_MS);
	if (connect(cfd, (const struct sockaddr *)&o->addr, o->addr_len) < 0 &&
	    errno != EINPROGRESS) {
		report("connect: %s", strerror(errno));
		goto fail;
	}
	r = wait_fd(cfd, POLLOUT, deadline);
	if (r <= 0) {
		report("connect: %s", r ? strerror(errno) : "timed out");
		goto fail;
	}
	if (getsockopt(cfd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err) {
		report("connect: %s", strerror(err ? err : errno));
		goto fail;
	}
	if (local_addr(cfd, client) < 0) {
		report("getsockname: %s", strerror(errno));
		goto fail;
	}

	deadline = now_ms() + IO_TIMEOUT_MS;
	for (;;) {
		struct sockaddr_storage peer;

		len = sizeof(peer);
		sfd = accept4(lfd, (struct sockaddr *)&peer, &len,
			      SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (sfd >= 0) {
			if (same_endpoint(&peer, client))
				break;
			close(sfd);
			sfd = -1;
			continue;
		}
		if (errno != EAGAIN && errno != EINTR &&
		    errno != ECONNABORTED) {
			report("accept: %s", strerror(errno));
			goto fail;
		}
		r = wait_fd(lfd, POLLIN, deadline);
		if (r <= 0) {
			report("accept: %s", r ? strerror(errno) : "timed out");
			goto fail;
		}
	}
	*cfd_out = cfd;
	*sfd_out = sfd;
	return 0;
fail:
	close(cfd);
	return -1;
}

static int send_all(int fd, const char *buf, size_t len, const char *who)
{
	int64_t deadline = now_ms() + IO_TIMEOUT_MS;

	while (len) {
		ssize_t w = send(fd, buf, len, MSG_NOSIGNAL);
		int r;

		if (w > 0) {
			buf += w;
			len -= w;
			continue;
		}
		if (w < 0 && errno != EAGAIN && errno != EINTR) {
			report("%s send: %s", who, strerror(errno));
			return -1;
		}
		r = wait_fd(fd, POLLOUT, deadline);
		if (r <= 0) {
			report("%s send: %s", who,
			       r ? strerror(errno) : "timed out");
			return -1;
		}
	}
	return 0;
}

/*
 * Read exactly what the peer sent. Leaving bytes unread would make close()
 * send an RST instead of a FIN and spoil the lifecycle under test.
 */
static int recv_expect(int fd, const char *want, const char *who)
{
	size_t len = strlen(want), got = 0;
	int64_t deadline = now_ms() + IO_TIMEOUT_MS;
	char buf[16];

	while (got < len) {
		ssize_t rd = recv(fd, buf + got, len - got, 0);
		int r;

		if (rd > 0) {
			got += rd;
			continue;
		}
		if (rd == 0) {
			report("%s recv: unexpected EOF", who);
			return -1;
		}
		if (errno != EAGAIN && errno != EINTR) {
			report("%s recv: %s", who, strerror(errno));
			return -1;
		}
		r = wait_fd(fd, POLLIN, deadline);
		if (r <= 0) {
			report("%s recv: %s", who,
			       r ? strerror(errno) : "timed out");
			return -1;
		}
	}
	if (memcmp(buf, want, len)) {
		report("%s recv: got '%.*s', want '%s'", who, (int)len, buf,
		       want);
		return -1;
	}
	return 0;
}

static int exchange(int cfd, int sfd)
{
	if (send_all(cfd, "ping", 4, "client") < 0 ||
	    recv_expect(sfd, "ping", "server") < 0)
		return -1;
	sleep_ms(opts->think_ms);
	if (send_all(sfd, "pong", 4, "server") < 0 ||
	    recv_expect(cfd, "pong", "client") < 0)
		return -1;
	return 0;
}

/*
 * Wait for the peer's FIN (read() == 0). With @allow_reset an RST counts as
 * the end too; on return *@err holds 0 for EOF or the errno seen.
 */
static int wait_eof_count(int fd, bool allow_reset, int *err, const char *who,
			  size_t *drained)
{
	int64_t deadline = now_ms() + IO_TIMEOUT_MS;
	char buf[256];

	*err = 0;
	for (;;) {
		ssize_t rd = recv(fd, buf, sizeof(buf), 0);
		int r;

		if (rd == 0)
			return 0;
		if (rd > 0) {
			if (drained)
				*drained += rd;
			continue;	/* not expected, but drain it */
		}
		if (allow_reset && (errno == ECONNRESET || errno == EPIPE)) {
			*err = errno;
			return 0;
		}
		if (errno != EAGAIN && errno != EINTR) {
			report("%s waiting for EOF: %s", who, strerror(errno));
			return -1;
		}
		r = wait_fd(fd, POLLIN | POLLRDHUP, deadline);
		if (r <= 0) {
			report("%s waiting for EOF: %s", who,
			       r ? strerror(errno) : "timed out");
			return -1;
		}
	}
}

static int wait_eof(int fd, bool allow_reset, int *err, const char *who)
{
	return wait_eof_count(fd, allow_reset, err, who, NULL);
}

/* CLOSE_WAIT is reached on the FIN itself; do not consume it with read(). */
static int wait_rdhup(int fd, const char *who)
{
	int64_t deadline = now_ms() + IO_TIMEOUT_MS;

	for (;;) {
		int r = wait_fd(fd, POLLRDHUP, deadline);

		if (r < 0 || r == 0) {
			report("%s waiting for FIN: %s", who,
			       r ? strerror(errno) : "timed out");
			return -1;
		}
		if (r & (POLLRDHUP | POLLHUP | POLLERR))
			return 0;
	}
}

/* The peer's FIN after exactly @want bytes of data (read and counted). */
static int wait_eof_after(int fd, long want, const char *who)
{
	size_t drained = 0;
	int err;

	if (wait_eof_count(fd, false, &err, who, &drained) < 0)
		return -1;
	if (drained != (size_t)want) {
		report("%s read %zu bytes before the FIN, want %ld", who, drained, want);
		return -1;
	}
	return 0;
}

/* Print '@what scenario=... client=... server=...', wait for @path. */
static int announce_and_wait(const struct options *o, long n, const struct sockaddr_storage *client,
			     const char *what, const char *path)
{
	char c[ADDR_STR_LEN], srv[ADDR_STR_LEN];
	int64_t deadline = now_ms() + 10000;

	format_addr(client, c, sizeof(c));
	format_addr(&o->addr, srv, sizeof(srv));
	printf("%s scenario=%s n=%ld client=%s server=%s\n", what, scenario_names[o->scenario], n, c, srv);
	fflush(stdout);
	while (path && access(path, F_OK)) {
		if (now_ms() > deadline) {
			report("%s did not appear within 10 s", path);
			return -1;
		}
		sleep_ms(10);
	}
	return 0;
}

static int wait_for_file(const struct options *o, long n, const struct sockaddr_storage *client)
{
	return announce_and_wait(o, n, client, "established", o->wait_file);
}

/* n bytes of filler, in send(2)s of at most 4 KiB */
static int send_bytes(int fd, long n, const char *who)
{
	char buf[4096];

	memset(buf, 'd', sizeof(buf));
	while (n > 0) {
		size_t len = n > (long)sizeof(buf) ? sizeof(buf) : (size_t)n;

		if (send_all(fd, buf, len, who) < 0)
			return -1;
		n -= (long)len;
	}
	return 0;
}

/* half-close --send-after-fin: the server's data after the client's FIN */
static int send_spread(const struct options *o, int sfd)
{
	static const long pieces = 10;
	long left = o->send_after_fin, i;

	for (i = 0; i < pieces; i++) {
		long piece = i == pieces - 1 ? left : o->send_after_fin / pieces;

		if (send_bytes(sfd, piece, "server") < 0)
			return -1;
		left -= piece;
		sleep_ms(o->hold_ms / pieces);
	}
	return 0;
}

static int run_connected(const struct options *o, int lfd, long n)
{
	struct sockaddr_storage client;
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	int cfd, sfd, err = 0;
	int ret = -1;

	if (establish(o, lfd, &cfd, &sfd, &client) < 0)
		return -1;
	if (o->wait_file && wait_for_file(o, n, &client) < 0) {
		close(cfd);
		close(sfd);
		print_conn(o, n, &client, "error");
		return -1;
	}

	switch (o->scenario) {
	case SC_CLIENT_FIRST:
		if (exchange(cfd, sfd) < 0)
			break;
		if (o->send_before_close && send_bytes(cfd, o->send_before_close, "client") < 0)
			break;
		close(cfd);
		cfd = -1;
		if (wait_eof_after(sfd, o->send_before_close, "server") < 0)
			break;
		sleep_ms(o->linger_ms);
		ret = 0;
		break;
	case SC_SERVER_FIRST:
		if (exchange(cfd, sfd) < 0)
			break;
		close(sfd);
		sfd = -1;
		if (wait_eof(cfd, false, &err, "client") < 0)
			break;
		sleep_ms(o->linger_ms);
		ret = 0;
		break;
	case SC_RESET:
		if (exchange(cfd, sfd) < 0)
			break;
		if (setsockopt(cfd, SOL_SOCKET, SO_LINGER, &lg,
			       sizeof(lg)) < 0) {
			report("SO_LINGER: %s", strerror(errno));
			break;
		}
		close(cfd);
		cfd = -1;
		if (wait_eof(sfd, true, &err, "server") < 0)
			break;
		sleep_ms(o->linger_ms);
		ret = 0;
		break;
	case SC_HALF_CLOSE:
		/* not close(): the client socket stays a full socket in
		 * FIN_WAIT_2, which no tcp_fin_timeout bounds */
		if (shutdown(cfd, SHUT_WR) < 0) {
			report("shutdown: %s", strerror(errno));
			break;
		}
		if (wait_eof(sfd, false, &err, "server") < 0)
			break;
		if (o->hold_ms)
			print_hold(o, n, &client);
		if (o->send_after_fin) {
			if (send_spread(o, sfd) < 0)
				break;
		} else if (o->hold_ms) {
			sleep_ms(o->hold_ms);
		}
		close(sfd);
		sfd = -1;
		if (wait_eof_after(cfd, o->send_after_fin, "client") < 0)
			break;
		ret = 0;
		break;
	case SC_SIMULTANEOUS:
		/* back to back: both sockets are in FIN_WAIT_1 before either
		 * FIN can be answered, if the test holds them back */
		if (shutdown(cfd, SHUT_WR) < 0 || shutdown(sfd, SHUT_WR) < 0) {
			report("shutdown: %s", strerror(errno));
			break;
		}
		if (announce_and_wait(o, n, &client, "fins-sent", o->wait_file2) < 0)
			break;
		if (wait_eof(cfd, false, &err, "client") < 0 ||
		    wait_eof(sfd, false, &err, "server") < 0)
			break;
		ret = 0;
		break;
	case SC_CLOSE_WAIT:
		close(cfd);
		cfd = -1;
		if (wait_rdhup(sfd, "server") < 0)
			break;
		if (o->hold_ms) {
			print_hold(o, n, &client);
			sleep_ms(o->hold_ms);
		}
		ret = 0;
		break;
	default:
		break;
	}

	if (cfd >= 0)
		close(cfd);
	if (sfd >= 0)
		close(sfd);
	print_conn(o, n, &client, ret ? "error" : "ok");
	return ret;
}

/*
 * refused and timeout: a blocking connect, as an application would do it,
 * bounded by SO_SNDTIMEO (it then fails with EINPROGRESS).
 */
static int run_failing(const struct options *o, long n)
{
	int expect = o->scenario == SC_REFUSED ? ECONNREFUSED : ETIMEDOUT;
	long bound = o->scenario == SC_TIMEOUT ? syn_bound_ms(o->syncnt) :
		     o->syncnt ? syn_bound_ms(o->syncnt) : IO_TIMEOUT_MS;
	struct sockaddr_storage client;
	const char *result;
	int fd, err = 0;

	fd = client_socket(o, 0);
	if (fd < 0)
		return -1;
	if (set_timeouts(fd, bound) < 0) {
		report("SO_SNDTIMEO: %s", strerror(errno));
		close(fd);
		return -1;
	}
	if (connect(fd, (const struct sockaddr *)&o->addr, o->addr_len) < 0)
		err = errno;

	if (local_addr(fd, &client) < 0) {
		memset(&client, 0, sizeof(client));
	} else if (addr_is_any(&client)) {
		/*
		 * A failed connect resets the source address but keeps the
		 * port. Ask the routing table which source it picked: a
		 * connected UDP socket goes through the same lookup.
		 */
		struct sockaddr_storage probe;
		int ufd = socket(o->family, SOCK_DGRAM | SOCK_CLOEXEC, 0);

		if (ufd >= 0 &&
		    connect(ufd, (const struct sockaddr *)&o->addr,
			    o->addr_len) == 0 &&
		    local_addr(ufd, &probe) == 0) {
			set_port(&probe, get_port(&client));
			client = probe;
		}
		if (ufd >= 0)
			close(ufd);
	}
	close(fd);

	if (!err) {
		/* e.g. a loopback self-connect when the port is ephemeral */
		result = "CONNECTED";
	} else {
		result = errno_name(err);
	}
	print_conn(o, n, &client, result);
	if (err != expect) {
		report("connect: expected %s, got %s", errno_name(expect),
		       err ? strerror(err) : "a connection");
		return -1;
	}
	return 0;
}

static void parse_args(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{ "addr", required_argument, NULL, 'a' },
		{ "port", required_argument, NULL, 'p' },
		{ "comm", required_argument, NULL, 'c' },
		{ "count", required_argument, NULL, 'n' },
		{ "hold", required_argument, NULL, 'H' },
		{ "syncnt", required_argument, NULL, 's' },
		{ "linger-ms", required_argument, NULL, 'l' },
		{ "wait-file", required_argument, NULL, 'w' },
		{ "client-port", required_argument, NULL, 'C' },
		{ "wait-file-2", required_argument, NULL, 'W' },
		{ "send-after-fin", required_argument, NULL, 'B' },
		{ "send-before-close", required_argument, NULL, 'D' },
		{ "think-ms", required_argument, NULL, 'T' },
		{ "server-netns", required_argument, NULL, 'S' },
		{ "client-netns", required_argument, NULL, 'N' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *addr = "127.0.0.1";
	long port = 0;
	size_t i;
	int opt;

	memset(o, 0, sizeof(*o));
	o->count = 1;
	o->linger_ms = 50;
	o->scenario = -1;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (opt) {
		case 'a':
			addr = optarg;
			break;
		case 'p':
			port = parse_long("--port", optarg, 0, 65535);
			break;
		case 'c':
			decode_comm(optarg, o->comm, sizeof(o->comm));
			o->comm_set = true;
			break;
		case 'n':
			o->count = parse_long("--count", optarg, 1, 1000000);
			break;
		case 'H':
			o->hold_ms = parse_long("--hold", optarg, 0, 86400000);
			break;
		case 's':
			/* MAX_TCP_SYNCNT in the kernel */
			o->syncnt = parse_long("--syncnt", optarg, 1, 127);
			break;
		case 'l':
			o->linger_ms = parse_long("--linger-ms", optarg, 0,
						  86400000);
			break;
		case 'w':
			o->wait_file = optarg;
			break;
		case 'C':
			o->client_port = parse_long("--client-port", optarg, 1, 65535);
			break;
		case 'W':
			o->wait_file2 = optarg;
			break;
		case 'B':
			o->send_after_fin = parse_long("--send-after-fin", optarg, 0,
						       64L * 1024 * 1024);
			break;
		case 'D':
			o->send_before_close = parse_long("--send-before-close", optarg, 0,
							  64L * 1024 * 1024);
			break;
		case 'T':
			o->think_ms = parse_long("--think-ms", optarg, 0, 86400000);
			break;
		case 'S':
			o->server_netns = optarg;
			break;
		case 'N':
			o->client_netns = optarg;
			break;
		case 'h':
			fputs(usage_text, stdout);
			exit(0);
		default:
			usage_error("bad option '%s'", argv[optind - 1]);
		}
	}
	if (optind != argc - 1)
		usage_error("exactly one SCENARIO expected");
	for (i = 0; i < sizeof(scenario_names) / sizeof(scenario_names[0]);
	     i++)
		if (!strcmp(argv[optind], scenario_names[i]))
			o->scenario = i;
	if ((int)o->scenario < 0)
		usage_error("unknown scenario '%s'", argv[optind]);

	if (inet_pton(AF_INET, addr,
		      &((struct sockaddr_in *)&o->addr)->sin_addr) == 1) {
		o->family = AF_INET;
		o->addr_len = sizeof(struct sockaddr_in);
	} else if (inet_pton(AF_INET6, addr,
			     &((struct sockaddr_in6 *)&o->addr)->sin6_addr) ==
		   1) {
		o->family = AF_INET6;
		o->addr_len = sizeof(struct sockaddr_in6);
	} else {
		usage_error("--addr: '%s' is not an IPv4 or IPv6 literal",
			    addr);
	}
	o->addr.ss_family = o->family;
	set_port(&o->addr, port);

	if (o->scenario == SC_TIMEOUT) {
		if (!port)
			usage_error("timeout needs --port");
		if (!o->syncnt)
			o->syncnt = 1;
	}
}

static int enter_netns(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || setns(fd, CLONE_NEWNET) < 0) {
		report("entering %s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	struct options o;
	uint16_t port = 0;
	int lfd = -1, ret = 0;
	long n;

	parse_args(argc, argv, &o);
	opts = &o;

	/*
	 * First, before any socket exists: synfin records the owner's comm
	 * at connect/listen/accept/close. This process never creates a
	 * thread, so renaming the calling (main) thread renames every task.
	 */
	if (o.comm_set && prctl(PR_SET_NAME, o.comm, 0, 0, 0) < 0) {
		report("prctl(PR_SET_NAME): %s", strerror(errno));
		return 1;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);

	/*
	 * simultaneous: the held-back FINs cross only if both retransmission
	 * timers fire in one timer run, before the loopback delivers either
	 * FIN. The two shutdowns arm them microseconds apart; on one CPU they
	 * share a timer base and (but at a bucket edge) expire together,
	 * where a migration between the two calls would split them.
	 */
	if (o.scenario == SC_SIMULTANEOUS) {
		cpu_set_t one;
		int cpu = sched_getcpu();

		CPU_ZERO(&one);
		CPU_SET(cpu < 0 ? 0 : cpu, &one);
		if (sched_setaffinity(0, sizeof(one), &one) < 0)
			report("sched_setaffinity: %s (the FINs may not cross)", strerror(errno));
	}

	switch (o.scenario) {
	case SC_REFUSED:
		port = get_port(&o.addr);
		if (!port) {
			if (pick_free_port(&o, &port) < 0) {
				report("picking a free port: %s",
				       strerror(errno));
				return 1;
			}
			set_port(&o.addr, port);
		}
		break;
	case SC_TIMEOUT:
		port = get_port(&o.addr);
		break;
	default:
		if (o.server_netns && enter_netns(o.server_netns) < 0)
			return 1;
		lfd = open_listener(&o, &port);
		if (lfd < 0)
			return 1;
		set_port(&o.addr, port);
		break;
	}
	/* sockets stay in the namespace they were made in: the listener's
	 * children are the server's, whatever this process enters now */
	if (o.client_netns && enter_netns(o.client_netns) < 0)
		return 1;
	printf("ready pid=%d port=%u\n", (int)getpid(), port);

	for (n = 0; n < o.count && !ret; n++) {
		switch (o.scenario) {
		case SC_REFUSED:
		case SC_TIMEOUT:
			ret = run_failing(&o, n);
			break;
		case SC_LISTEN_ONLY:
			sleep_ms(o.hold_ms);
			break;
		default:
			ret = run_connected(&o, lfd, n);
			break;
		}
	}

	if (lfd >= 0)
		close(lfd);
	if (fflush(stdout) == EOF) {
		report("stdout: %s", strerror(errno));
		ret = -1;
	}
	return ret ? 1 : 0;
}
