/*
 * Load generator for the receiver benchmarks: many TCP or TLS connections,
 * UDP sockets or idle connections from one process (or -j worker
 * processes), every message unique ("c=CONN s=SEQ " padded with 'x' to a
 * fixed size) so a checker can prove nothing was lost, duplicated, merged or
 * cut. TLS churn (-m tlshs): each of -c slots opens a connection, does a full
 * handshake, sends one line, closes and waits for the server's close, -n
 * times, so "c=SLOT s=N" is the N-th connection of a slot.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <netdb.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

/* Bytes queued for one send() call on a TCP connection. */
#define LG_CHUNK (64 * 1024)
/* Datagrams handed to one sendmmsg() call. */
#define LG_UDP_BATCH 64
/* Token bucket depth, in seconds of the configured rate. */
#define LG_BURST_SEC 0.005
/* Handshake churn: give up after this many failed connects or handshakes. */
#define LG_HS_MAX_FAILED 10000
/* Handshake churn: seconds a connection may take to connect and shake. */
#define LG_HS_TIMEOUT 30.0

enum lg_mode { LG_TCP, LG_UDP, LG_IDLE, LG_TLS, LG_TLSIDLE, LG_TLSHS };

/* Where a TLS connection is; the churn mode walks them all in turn. */
enum lg_phase {
	LG_PH_CONNECT,   /* non-blocking connect in progress */
	LG_PH_HANDSHAKE, /* SSL_connect not yet done */
	LG_PH_READY,     /* handshake done: sending or holding */
	LG_PH_WRITE,     /* churn: the one line not yet written */
	LG_PH_SHUT,      /* churn: close_notify not yet written */
	LG_PH_DRAIN,     /* churn: waiting for the server to close */
};

struct lg_opts {
	enum lg_mode mode;
	const char *host;
	const char *port;
	unsigned conns;
	uint64_t msgs;
	size_t size;
	double rate; /* messages per second over all workers; 0 = unlimited */
	unsigned jobs;
	double timeout; /* seconds for the whole run */
	double settle;  /* idle mode: seconds to wait before "ready" */
	double
	    close_wait; /* seconds to wait for servers to close after sending */
	unsigned window;     /* TLS: connects and handshakes in flight */
	bool gate;           /* after connecting, wait for stdin to send */
	const char *ca;      /* TLS: verify the server against this CA file */
	const char *cert;    /* TLS: client certificate chain, PEM */
	const char *key;     /* TLS: its private key, PEM */
	const char *ciphers; /* TLS 1.2 cipher list, NULL for the default */
	const char *suites;  /* TLS 1.3 cipher suites, NULL for the default */
};

struct lg_conn {
	int fd;
	unsigned id;     /* global connection number, printed as c= */
	uint64_t next;   /* next sequence number to format */
	uint64_t acked;  /* bytes the kernel accepted */
	char *buf;       /* formatted bytes not yet sent */
	size_t len, off; /* filled length and sent offset in buf */
	SSL *ssl;        /* TLS modes: the session; NULL for TCP and UDP */
	double started;  /* TLS: when the current connection was opened */
	uint32_t gen;    /* churn: connections opened by this slot so far */
	enum lg_phase phase;
	bool writable;  /* edge-triggered: set by EPOLLOUT, cleared on EAGAIN */
	bool want_read; /* TLS: SSL_write must read before it can go on */
	bool shut_pending; /* TLS: close_notify still to be written */
	bool sent_all;     /* every message written, write side shut */
	bool closed;
};

/* What one worker did; summed over workers by the parent. */
struct lg_result {
	uint64_t sent;
	uint64_t errors;
	uint64_t connect_failed;
	uint64_t closed_by_peer;
	uint64_t
	    unclosed;    /* connections the server had not closed at the end */
	uint64_t resets; /* connections the server reset: it dropped data */
	uint64_t handshakes;       /* TLS handshakes completed */
	uint64_t handshake_failed; /* TLS handshakes that failed */
	uint64_t closed_early;     /* churn: closed by the server after the
	                            * handshake, before the line could be written */
	double t_start, t_sent, t_end;
	double connect_s; /* how long connecting (and shaking hands) took */
	bool timed_out;
	bool stalled; /* churn: no connection finished for LG_HS_TIMEOUT */
	char tls[16], cipher[64]; /* what the first handshake negotiated */
};

static volatile sig_atomic_t lg_stop;

/* Wall-clock seconds, comparable across processes and with file mtimes. */
static double
lg_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Print a usage error and exit 2. */
static void
lg_usage(const char *why)
{
	if (why != NULL)
		fprintf(stderr, "loadgen: %s\n", why);
	fprintf(stderr,
	    "usage: loadgen -p PORT [-H HOST]"
	    " [-m tcp|udp|idle|tls|tlsidle|tlshs] [-c CONNS]"
	    " [-n MSGS] [-s SIZE] [-r RATE] [-j JOBS] [-T TIMEOUT]"
	    " [-w SETTLE] [-W CLOSEWAIT] [-g] [-k WINDOW] [-A CAFILE]"
	    " [-C CERT -K KEY] [-S CIPHERS] [-U SUITES]\n");
	exit(2);
}

/* Parse an unsigned number option or exit with a usage error. */
static uint64_t
lg_number(const char *s, const char *name)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || s[0] == '-') {
		char msg[128];
		snprintf(msg, sizeof(msg), "%s: not a number: '%s'", name, s);
		lg_usage(msg);
	}
	return v;
}

/* Write the decimal digits of v at p; returns the digit count. */
static size_t
lg_utoa(char *p, uint64_t v)
{
	char tmp[24];
	size_t n = 0, i;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	for (i = 0; i < n; i++)
		p[i] = tmp[n - 1 - i];
	return n;
}

/* Length of the "c=CONN s=SEQ " header of one message. */
static size_t
lg_header_len(uint64_t conn, uint64_t seq)
{
	char tmp[24];

	return 2 + lg_utoa(tmp, conn) + 3 + lg_utoa(tmp, seq) + 1;
}

/* Format message seq of connection conn: exactly size bytes, LF last. */
static void
lg_format(char *p, unsigned conn, uint64_t seq, size_t size)
{
	size_t n = 0;

	p[n++] = 'c';
	p[n++] = '=';
	n += lg_utoa(p + n, conn);
	p[n++] = ' ';
	p[n++] = 's';
	p[n++] = '=';
	n += lg_utoa(p + n, seq);
	p[n++] = ' ';
	memset(p + n, 'x', size - 1 - n);
	p[size - 1] = '\n';
}

/* Raise the open-file limit to its hard maximum: thousands of sockets. */
static void
lg_raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* Resolve the target address (numeric host and port) or exit 2. */
static void
lg_resolve(const struct lg_opts *o, struct sockaddr_storage *ss, socklen_t *sl)
{
	struct addrinfo hints, *res;
	int rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	hints.ai_socktype = o->mode == LG_UDP ? SOCK_DGRAM : SOCK_STREAM;
	rc = getaddrinfo(o->host, o->port, &hints, &res);
	if (rc != 0) {
		fprintf(stderr, "loadgen: %s:%s: %s\n", o->host, o->port,
		    gai_strerror(rc));
		exit(2);
	}
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*sl = res->ai_addrlen;
	freeaddrinfo(res);
}

/* SIGTERM or SIGINT: every loop stops at its next pass. */
static void
lg_on_signal(int sig)
{
	(void)sig;
	lg_stop = 1;
}

/* Ignore SIGPIPE; route SIGTERM and SIGINT to the stop flag (before any
 * fork, so workers share the handlers). */
static void
lg_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sa.sa_handler = lg_on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
}

/* True for the modes that speak TLS. */
static bool
lg_is_tls(enum lg_mode m)
{
	return m == LG_TLS || m == LG_TLSIDLE || m == LG_TLSHS;
}

/* Close one connection's socket and forget it. */
static void
lg_close(struct lg_conn *c)
{
	if (c->ssl != NULL) {
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	if (!c->closed) {
		close(c->fd);
		c->closed = true;
	}
	free(c->buf);
	c->buf = NULL;
}

/* Print OpenSSL's queued errors after what, and clear them. */
static void
lg_ssl_errors(const char *what)
{
	unsigned long e;
	char buf[256];

	while ((e = ERR_get_error()) != 0) {
		ERR_error_string_n(e, buf, sizeof(buf));
		fprintf(stderr, "loadgen: %s: %s\n", what, buf);
	}
}

/*
 * The client context: TLS 1.2 or 1.3, no session cache (every handshake is
 * a full one), partial writes so SSL_write behaves like send(), and the
 * server verified only when a CA file is given. Exits 2 on a bad file.
 */
static SSL_CTX *
lg_tls_ctx(const struct lg_opts *o)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	if (ctx == NULL) {
		lg_ssl_errors("SSL_CTX_new");
		exit(1);
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
	                          SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
	                          SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	if (o->ca != NULL) {
		if (SSL_CTX_load_verify_locations(ctx, o->ca, NULL) != 1) {
			lg_ssl_errors(o->ca);
			exit(2);
		}
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	} else {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	}
	if (o->cert != NULL &&
	    (SSL_CTX_use_certificate_chain_file(ctx, o->cert) != 1 ||
	        SSL_CTX_use_PrivateKey_file(ctx, o->key, SSL_FILETYPE_PEM) !=
	            1 ||
	        SSL_CTX_check_private_key(ctx) != 1)) {
		lg_ssl_errors(o->cert);
		exit(2);
	}
	if (o->ciphers != NULL &&
	    SSL_CTX_set_cipher_list(ctx, o->ciphers) != 1) {
		lg_ssl_errors("-S");
		exit(2);
	}
	if (o->suites != NULL &&
	    SSL_CTX_set_ciphersuites(ctx, o->suites) != 1) {
		lg_ssl_errors("-U");
		exit(2);
	}
	return ctx;
}

/* Open a non-blocking TCP socket to ss and start connecting; -1 on error
 * (printed). */
static int
lg_socket(const struct sockaddr_storage *ss, socklen_t sl, int type)
{
	int fd = socket(ss->ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0) {
		fprintf(stderr, "loadgen: socket: %s\n", strerror(errno));
		return -1;
	}
	if (connect(fd, (const struct sockaddr *)ss, sl) != 0 &&
	    errno != EINPROGRESS) {
		fprintf(stderr, "loadgen: connect: %s\n", strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* The socket's pending error after a non-blocking connect, 0 if none. */
static int
lg_connect_error(int fd)
{
	int err = 0;
	socklen_t el = sizeof(err);

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0)
		return errno;
	return err;
}

/* Remember what the first handshake negotiated, for the report. */
static void
lg_note_tls(struct lg_result *r, SSL *ssl)
{
	if (r->tls[0] != '\0')
		return;
	snprintf(r->tls, sizeof(r->tls), "%s", SSL_get_version(ssl));
	snprintf(r->cipher, sizeof(r->cipher), "%s", SSL_get_cipher(ssl));
}

/*
 * Drive a connection's handshake (its TCP connect done) as far as it goes
 * without blocking: 1 when done, 0 to wait for the socket, -1 when it
 * failed (counted; the caller closes).
 */
static int
lg_handshake(struct lg_conn *c, SSL_CTX *ctx, struct lg_result *r)
{
	int rc;

	if (c->ssl == NULL) {
		c->ssl = SSL_new(ctx);
		if (c->ssl == NULL || SSL_set_fd(c->ssl, c->fd) != 1) {
			lg_ssl_errors("SSL_new");
			r->handshake_failed++;
			return -1;
		}
		SSL_set_connect_state(c->ssl);
		c->phase = LG_PH_HANDSHAKE;
	}
	rc = SSL_connect(c->ssl);
	if (rc == 1) {
		r->handshakes++;
		lg_note_tls(r, c->ssl);
		return 1;
	}
	switch (SSL_get_error(c->ssl, rc)) {
	case SSL_ERROR_WANT_READ:
	case SSL_ERROR_WANT_WRITE:
		return 0;
	default:
		if (r->handshake_failed < 10)
			lg_ssl_errors("handshake");
		ERR_clear_error();
		r->handshake_failed++;
		return -1;
	}
}

/*
 * Write up to len bytes on a TCP or TLS connection: the count written, 0
 * when it must wait (writable cleared; for TLS maybe want_read set), -1 on
 * an error (errno kept for TCP).
 */
static ssize_t
lg_write(struct lg_conn *c, const char *p, size_t len)
{
	ssize_t w;
	int rc;

	if (c->ssl == NULL) {
		w = send(c->fd, p, len, MSG_NOSIGNAL);
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			c->writable = false;
			return 0;
		}
		if (w < 0 && errno == EINTR)
			return 0;
		return w;
	}
	rc = SSL_write(c->ssl, p, (int)(len > INT_MAX ? INT_MAX : len));
	if (rc > 0)
		return rc;
	switch (SSL_get_error(c->ssl, rc)) {
	case SSL_ERROR_WANT_WRITE:
		c->writable = false;
		return 0;
	case SSL_ERROR_WANT_READ:
		c->writable = false;
		c->want_read = true;
		return 0;
	default:
		ERR_clear_error();
		return -1;
	}
}

/*
 * Read and discard what the server sent (TLS: session tickets, alerts):
 * 1 while the connection is open, 0 when the server closed it (EOF or
 * close_notify), -1 on an error; *reset set when it was a reset.
 */
static int
lg_drain(struct lg_conn *c, bool *reset)
{
	char sink[4096];
	ssize_t rd;
	int rc;

	*reset = false;
	if (c->ssl == NULL) {
		while ((rd = recv(c->fd, sink, sizeof(sink), 0)) > 0)
			;
		if (rd == 0)
			return 0;
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return 1;
		*reset = errno == ECONNRESET;
		return -1;
	}
	for (;;) {
		rc = SSL_read(c->ssl, sink, sizeof(sink));
		if (rc > 0)
			continue;
		switch (SSL_get_error(c->ssl, rc)) {
		case SSL_ERROR_WANT_READ:
		case SSL_ERROR_WANT_WRITE:
			return 1;
		case SSL_ERROR_ZERO_RETURN:
			return 0;
		case SSL_ERROR_SYSCALL:
			ERR_clear_error();
			if (errno == 0)
				return 0; /* EOF without close_notify */
			*reset = errno == ECONNRESET;
			return -1;
		default:
			ERR_clear_error();
			return -1;
		}
	}
}

/*
 * Write a TLS connection's close_notify and then shut the TCP write side:
 * true when done, false when the socket is full (retried on EPOLLOUT).
 */
static bool
lg_tls_shutdown(struct lg_conn *c)
{
	int rc = SSL_shutdown(c->ssl);

	if (rc < 0) {
		int e = SSL_get_error(c->ssl, rc);
		ERR_clear_error();
		if (e == SSL_ERROR_WANT_WRITE) {
			c->writable = false;
			c->shut_pending = true;
			return false;
		}
		if (e == SSL_ERROR_WANT_READ) {
			c->shut_pending = true;
			return false;
		}
	}
	c->shut_pending = false;
	shutdown(c->fd, SHUT_WR);
	return true;
}

/*
 * Open this worker's connections (ids k, k+jobs, ...) with non-blocking
 * connects, all at once, and wait until each has connected or failed.
 * Returns the number that connected.
 */
static unsigned
lg_connect_all(const struct lg_opts *o, int ep, struct lg_conn *cs, unsigned n,
    unsigned k, struct lg_result *r, double deadline)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	unsigned i, pending = 0, ok = 0;
	int type = o->mode == LG_UDP ? SOCK_DGRAM : SOCK_STREAM;

	lg_resolve(o, &ss, &sl);
	for (i = 0; i < n; i++) {
		struct lg_conn *c = &cs[i];
		struct epoll_event ev;

		memset(c, 0, sizeof(*c));
		c->id = k + i * o->jobs;
		c->fd = lg_socket(&ss, sl, type);
		if (c->fd < 0) {
			c->closed = true;
			r->connect_failed++;
			continue;
		}
		ev.events = EPOLLOUT | EPOLLET | EPOLLRDHUP;
		ev.data.ptr = c;
		epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
		if (type == SOCK_DGRAM) {
			c->writable = true;
			ok++;
		} else {
			pending++;
		}
	}
	/* A connect completes when the socket first reports writable. */
	while (pending > 0 && !lg_stop && lg_now() < deadline) {
		struct epoll_event evs[256];
		int m = epoll_wait(ep, evs, 256, 100);

		for (int j = 0; j < m; j++) {
			struct lg_conn *c = evs[j].data.ptr;

			if (c->writable || c->closed)
				continue;
			pending--;
			if (lg_connect_error(c->fd) != 0) {
				lg_close(c);
				r->connect_failed++;
			} else {
				c->writable = true;
				ok++;
			}
		}
	}
	for (i = 0; i < n; i++) {
		if (!cs[i].closed && !cs[i].writable) {
			lg_close(&cs[i]);
			r->connect_failed++;
		}
	}
	return ok;
}

/*
 * The TLS modes' connect: this worker's connections (ids k, k+jobs, ...)
 * connect and shake hands at most o->window at a time, so none waits long
 * between its TCP connect and its handshake (a server may time that out).
 * Returns the number ready; the rest are closed and counted.
 */
static unsigned
lg_connect_tls(const struct lg_opts *o, SSL_CTX *ctx, int ep,
    struct lg_conn *cs, unsigned n, unsigned k, struct lg_result *r,
    double deadline)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	unsigned i, next = 0, inflight = 0, ok = 0;

	lg_resolve(o, &ss, &sl);
	for (i = 0; i < n; i++) {
		memset(&cs[i], 0, sizeof(cs[i]));
		cs[i].id = k + i * o->jobs;
		cs[i].fd = -1;
		cs[i].closed = true;
	}
	while ((next < n || inflight > 0) && !lg_stop && lg_now() < deadline) {
		struct epoll_event evs[256];
		int m;

		while (next < n && inflight < o->window) {
			struct lg_conn *c = &cs[next++];
			struct epoll_event ev;

			c->fd = lg_socket(&ss, sl, SOCK_STREAM);
			if (c->fd < 0) {
				r->connect_failed++;
				continue;
			}
			c->closed = false;
			c->phase = LG_PH_CONNECT;
			c->started = lg_now();
			ev.events = EPOLLIN | EPOLLOUT | EPOLLET | EPOLLRDHUP;
			ev.data.ptr = c;
			epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
			inflight++;
		}
		m = epoll_wait(ep, evs, 256, 100);
		for (int j = 0; j < m; j++) {
			struct lg_conn *c = evs[j].data.ptr;
			int rc;

			if (c->closed || c->phase == LG_PH_READY)
				continue;
			if (c->phase == LG_PH_CONNECT) {
				if (!(evs[j].events &
				        (EPOLLOUT | EPOLLERR | EPOLLHUP)))
					continue;
				if (lg_connect_error(c->fd) != 0) {
					lg_close(c);
					r->connect_failed++;
					inflight--;
					continue;
				}
			}
			rc = lg_handshake(c, ctx, r);
			if (rc == 0)
				continue;
			inflight--;
			if (rc < 0) {
				lg_close(c);
				continue;
			}
			c->phase = LG_PH_READY;
			c->writable = true;
			ok++;
		}
	}
	for (i = 0; i < n; i++) {
		if (!cs[i].closed && cs[i].phase != LG_PH_READY) {
			lg_close(&cs[i]);
			r->connect_failed++;
		}
	}
	return ok;
}

/* Messages the token bucket allows now (refilled since the last call). */
static uint64_t
lg_tokens(double rate, double *tokens, double *last)
{
	double now, burst;

	if (rate <= 0)
		return UINT64_MAX;
	now = lg_now();
	burst = rate * LG_BURST_SEC;
	if (burst < 1)
		burst = 1;
	*tokens += (now - *last) * rate;
	*last = now;
	if (*tokens > burst)
		*tokens = burst;
	return *tokens >= 1 ? (uint64_t)*tokens : 0;
}

/* Fill a connection's buffer with up to max whole messages; returns count. */
static uint64_t
lg_fill(const struct lg_opts *o, struct lg_conn *c, uint64_t max)
{
	uint64_t n = 0;

	if (c->buf == NULL) {
		c->buf = malloc(LG_CHUNK);
		if (c->buf == NULL) {
			fprintf(stderr, "loadgen: out of memory\n");
			exit(1);
		}
	}
	if (c->off == c->len)
		c->off = c->len = 0;
	while (n < max && c->next < o->msgs && c->len + o->size <= LG_CHUNK) {
		lg_format(c->buf + c->len, c->id, c->next, o->size);
		c->len += o->size;
		c->next++;
		n++;
	}
	return n;
}

/* Half-close a connection whose messages are all written (TLS: after its
 * close_notify, which may have to wait for room). */
static void
lg_finish(struct lg_conn *c)
{
	c->sent_all = true;
	free(c->buf);
	c->buf = NULL;
	if (c->ssl != NULL)
		lg_tls_shutdown(c);
	else
		shutdown(c->fd, SHUT_WR);
}

/*
 * Drive the TCP or TLS connections: round-robin one chunk per writable
 * connection per pass, so every connection progresses; then wait for each
 * server to close its side, so the end means the server has read every
 * byte.
 */
static void
lg_run_tcp(const struct lg_opts *o, int ep, struct lg_conn *cs, unsigned n,
    struct lg_result *r, double deadline)
{
	double rate = o->rate / o->jobs, tokens = 0, last = lg_now();
	double close_deadline = INFINITY;
	unsigned active = 0, open = 0, i;

	for (i = 0; i < n; i++) {
		if (!cs[i].closed) {
			active++;
			open++;
		}
	}
	r->t_start = lg_now();
	while (open > 0 && !lg_stop) {
		uint64_t allow = lg_tokens(rate, &tokens, &last);
		bool progress = false, starved = false;

		for (i = 0; i < n && active > 0; i++) {
			struct lg_conn *c = &cs[i];
			ssize_t w;

			if (c->shut_pending && c->writable && !c->closed)
				lg_tls_shutdown(c);
			if (c->closed || c->sent_all || !c->writable)
				continue;
			if (c->off == c->len) {
				if (allow == 0) {
					starved = true;
					continue;
				}
				uint64_t f = lg_fill(o, c, allow);
				if (allow != UINT64_MAX) {
					allow -= f;
					tokens -= (double)f;
				}
			}
			w = lg_write(c, c->buf + c->off, c->len - c->off);
			if (w == 0)
				continue;
			if (w < 0) {
				r->errors++;
				lg_close(c);
				active--;
				open--;
				continue;
			}
			progress = true;
			c->off += (size_t)w;
			c->acked += (uint64_t)w;
			if (c->off == c->len && c->next == o->msgs) {
				lg_finish(c);
				active--;
				if (active == 0)
					r->t_sent = lg_now();
			}
		}
		double now = lg_now();
		if (now > deadline || (active == 0 && now > close_deadline)) {
			r->timed_out = active > 0;
			r->unclosed = open;
			break;
		}
		if (active == 0 && close_deadline == INFINITY)
			close_deadline = now + o->close_wait;
		/* Poll without sleeping while some connection made progress, so
		 * one that became writable again is not left behind; sleep when
		 * nothing is writable, tokens are spent, or only closes remain.
		 */
		struct epoll_event evs[256];
		int tmo = progress ? 0 : (starved || active == 0 ? 1 : 100);
		int m = epoll_wait(ep, evs, 256, tmo);
		for (int j = 0; j < m; j++) {
			struct lg_conn *c = evs[j].data.ptr;
			uint32_t e = evs[j].events;

			if (c->closed)
				continue;
			if (e & EPOLLOUT)
				c->writable = true;
			if ((e & EPOLLIN) && c->want_read) {
				c->want_read = false;
				c->writable = true;
			}
			if (e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
				bool reset;
				int st = lg_drain(c, &reset);
				if (reset)
					r->resets++;
				/* A TLS alert after the last message: the
				 * server refused what was sent (a client
				 * certificate it wants, say). */
				if (st < 0 && !reset && c->ssl != NULL &&
				    c->sent_all)
					r->errors++;
				if (st <= 0) {
					if (!c->sent_all) {
						r->errors++;
						active--;
						if (active == 0)
							r->t_sent = lg_now();
					}
					lg_close(c);
					open--;
				}
			}
		}
	}
	r->t_end = lg_now();
	if (r->t_sent == 0)
		r->t_sent = r->t_end;
	for (i = 0; i < n; i++) {
		r->sent += cs[i].acked / o->size;
		lg_close(&cs[i]);
	}
}

/* Send datagrams on the UDP sockets in batches, round-robin. */
static void
lg_run_udp(const struct lg_opts *o, int ep, struct lg_conn *cs, unsigned n,
    struct lg_result *r, double deadline)
{
	double rate = o->rate / o->jobs, tokens = 0, last = lg_now();
	struct mmsghdr mm[LG_UDP_BATCH];
	struct iovec iov[LG_UDP_BATCH];
	char *bufs = malloc(LG_UDP_BATCH * o->size);
	unsigned active = 0, i;

	if (bufs == NULL) {
		fprintf(stderr, "loadgen: out of memory\n");
		exit(1);
	}
	for (i = 0; i < n; i++)
		if (!cs[i].closed)
			active++;
	r->t_start = lg_now();
	while (active > 0 && !lg_stop) {
		uint64_t allow = lg_tokens(rate, &tokens, &last);
		bool blocked = true;

		for (i = 0; i < n && allow > 0; i++) {
			struct lg_conn *c = &cs[i];
			unsigned b = 0;
			int sent;

			if (c->closed || c->sent_all || !c->writable)
				continue;
			while (b < LG_UDP_BATCH && c->next + b < o->msgs &&
			       b < allow) {
				char *p = bufs + (size_t)b * o->size;
				lg_format(p, c->id, c->next + b, o->size);
				iov[b].iov_base = p;
				iov[b].iov_len = o->size;
				memset(&mm[b], 0, sizeof(mm[b]));
				mm[b].msg_hdr.msg_iov = &iov[b];
				mm[b].msg_hdr.msg_iovlen = 1;
				b++;
			}
			sent = sendmmsg(c->fd, mm, b, 0);
			if (sent < 0) {
				if (errno == EAGAIN || errno == EWOULDBLOCK) {
					c->writable = false;
					continue;
				}
				/* ECONNREFUSED reports an earlier datagram
				 * that found no socket; this one was not sent.
				 */
				r->errors++;
				if (r->errors > 100000) {
					lg_stop = 1;
					break;
				}
				continue;
			}
			blocked = false;
			c->next += (uint64_t)sent;
			c->acked += (uint64_t)sent * o->size;
			if (allow != UINT64_MAX) {
				allow -= (uint64_t)sent;
				tokens -= sent;
			}
			if (c->next == o->msgs) {
				c->sent_all = true;
				active--;
			}
		}
		if (lg_now() > deadline) {
			r->timed_out = true;
			break;
		}
		if (!blocked && allow > 0)
			continue;
		struct epoll_event evs[64];
		int m = epoll_wait(ep, evs, 64, 1);
		for (int j = 0; j < m; j++) {
			struct lg_conn *c = evs[j].data.ptr;
			if (evs[j].events & EPOLLOUT)
				c->writable = true;
		}
	}
	r->t_sent = r->t_end = lg_now();
	for (i = 0; i < n; i++) {
		r->sent += cs[i].acked / o->size;
		lg_close(&cs[i]);
	}
	free(bufs);
}

/*
 * Hold the connections open without sending; report how many the server
 * kept after a settling pause with "ready", then wait for SIGTERM.
 */
static void
lg_run_idle(const struct lg_opts *o, int ep, struct lg_conn *cs, unsigned n,
    struct lg_result *r, double deadline)
{
	double settle_end = lg_now() + o->settle;
	bool ready = false;
	unsigned open = 0, i;

	for (i = 0; i < n; i++) {
		struct epoll_event ev;
		if (cs[i].closed)
			continue;
		open++;
		ev.events = EPOLLIN | EPOLLRDHUP;
		ev.data.ptr = &cs[i];
		epoll_ctl(ep, EPOLL_CTL_MOD, cs[i].fd, &ev);
	}
	r->t_start = lg_now();
	while (!lg_stop && lg_now() < deadline) {
		struct epoll_event evs[256];
		int m = epoll_wait(ep, evs, 256, 100);

		for (int j = 0; j < m; j++) {
			struct lg_conn *c = evs[j].data.ptr;
			bool reset;

			if (c->closed || lg_drain(c, &reset) > 0)
				continue;
			epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
			lg_close(c);
			open--;
			r->closed_by_peer++;
		}
		if (!ready && lg_now() >= settle_end) {
			printf("ready open=%u closed=%" PRIu64
			       " failed=%" PRIu64 "\n",
			    open, r->closed_by_peer,
			    r->connect_failed + r->handshake_failed);
			fflush(stdout);
			ready = true;
		}
	}
	if (!lg_stop)
		r->timed_out = true;
	r->t_sent = r->t_end = lg_now();
	for (i = 0; i < n; i++)
		lg_close(&cs[i]);
}

/* Churn: open slot c's next connection; false (counted) if it failed. */
static bool
lg_hs_open(int ep, struct lg_conn *c, unsigned idx,
    const struct sockaddr_storage *ss, socklen_t sl, struct lg_result *r)
{
	struct epoll_event ev;

	c->fd = lg_socket(ss, sl, SOCK_STREAM);
	if (c->fd < 0) {
		r->connect_failed++;
		return false;
	}
	c->closed = false;
	c->phase = LG_PH_CONNECT;
	c->started = lg_now();
	c->gen++;
	ev.events = EPOLLIN | EPOLLOUT | EPOLLET | EPOLLRDHUP;
	/* The slot and its connection count: an event still queued for the
	 * slot's previous connection (whose fd number may be reused) is
	 * known by its old count and ignored. */
	ev.data.u64 = (uint64_t)idx | (uint64_t)c->gen << 32;
	epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
	return true;
}

/*
 * Churn: drive one connection through connect, handshake, one line,
 * close_notify and the server's close, as far as it goes without
 * blocking. Returns false while it must wait, true when the connection is
 * over (closed here; c->next moved on unless the line was never sent).
 */
static bool
lg_hs_step(const struct lg_opts *o, SSL_CTX *ctx, struct lg_conn *c,
    uint32_t events, struct lg_result *r)
{
	char line[LG_CHUNK];
	bool reset;
	int rc;

	for (;;) {
		switch (c->phase) {
		case LG_PH_CONNECT:
			if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
				return false;
			if (lg_connect_error(c->fd) != 0) {
				r->connect_failed++;
				lg_close(c);
				return true;
			}
			/* FALLTHROUGH */
		case LG_PH_HANDSHAKE:
			rc = lg_handshake(c, ctx, r);
			if (rc == 0)
				return false;
			if (rc < 0) {
				lg_close(c); /* the line is sent again */
				return true;
			}
			c->phase = LG_PH_WRITE;
			break;
		case LG_PH_WRITE:
			lg_format(line, c->id, c->next, o->size);
			rc = SSL_write(c->ssl, line, (int)o->size);
			if (rc <= 0) {
				int e = SSL_get_error(c->ssl, rc);
				if (e == SSL_ERROR_WANT_READ ||
				    e == SSL_ERROR_WANT_WRITE)
					return false;
				/* The server closed (TLS 1.3: it may
				 * refuse the client's Finished after
				 * SSL_connect returned): not one byte of
				 * the line went out, so it is sent again. */
				if (r->closed_early < 10)
					lg_ssl_errors("first write");
				ERR_clear_error();
				r->closed_early++;
				lg_close(c);
				return true;
			}
			/* Partial writes: rc < size would be a second record
			 * of the same line; 100 bytes never split. */
			if ((size_t)rc != o->size) {
				r->errors++;
				c->next++;
				lg_close(c);
				return true;
			}
			r->sent++;
			c->next++;
			c->phase = LG_PH_SHUT;
			break;
		case LG_PH_SHUT:
			if (!lg_tls_shutdown(c))
				return false;
			c->phase = LG_PH_DRAIN;
			break;
		case LG_PH_DRAIN:
			rc = lg_drain(c, &reset);
			if (rc > 0)
				return false;
			if (reset)
				r->resets++;
			else if (rc < 0)
				r->errors++;
			else
				r->closed_by_peer++;
			lg_close(c);
			return true;
		default:
			return true;
		}
	}
}

/*
 * Handshake churn: each slot does o->msgs connections one after another
 * (connect, full handshake, one line, close_notify, wait for the server's
 * close), all slots at once. A failed connect or handshake is tried again
 * with the same line, so only lines the server accepted can be missing.
 */
static void
lg_run_hs(const struct lg_opts *o, SSL_CTX *ctx, int ep, struct lg_conn *cs,
    unsigned n, unsigned k, struct lg_result *r, double deadline)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	unsigned i, active = 0;
	double next_scan = 0, progress_at;
	uint64_t done = 0;

	lg_resolve(o, &ss, &sl);
	r->t_start = progress_at = lg_now();
	for (i = 0; i < n; i++) {
		memset(&cs[i], 0, sizeof(cs[i]));
		cs[i].id = k + i * o->jobs;
		cs[i].fd = -1;
		cs[i].closed = true;
		if (o->msgs > 0) {
			active++;
			lg_hs_open(ep, &cs[i], i, &ss, sl, r);
		}
	}
	while (active > 0 && !lg_stop) {
		struct epoll_event evs[256];
		int m = epoll_wait(ep, evs, 256, 50);
		double now;

		for (int j = 0; j < m; j++) {
			unsigned idx =
			    (unsigned)(evs[j].data.u64 & 0xffffffffu);
			uint32_t gen = (uint32_t)(evs[j].data.u64 >> 32);
			struct lg_conn *c = &cs[idx];

			if (c->closed || gen != c->gen)
				continue;
			lg_hs_step(o, ctx, c, evs[j].events, r);
		}
		now = lg_now();
		if (now > deadline) {
			r->timed_out = true;
			break;
		}
		/* A server that stopped finishing connections (one that no
		 * longer accepts, say) ends the run instead of the deadline. */
		if (r->closed_by_peer != done) {
			done = r->closed_by_peer;
			progress_at = now;
		} else if (now - progress_at > LG_HS_TIMEOUT) {
			fprintf(stderr,
			    "loadgen: no connection finished in %.0f s after"
			    " %" PRIu64 "\n",
			    LG_HS_TIMEOUT, done);
			r->stalled = true;
			r->timed_out = true;
			break;
		}
		/* A connection that outlived its time is given up: unclosed
		 * if the line was sent, failed if not. */
		if (now >= next_scan) {
			next_scan = now + 0.1;
			for (i = 0; i < n; i++) {
				struct lg_conn *c = &cs[i];
				bool sent = c->phase >= LG_PH_WRITE;
				double lim =
				    sent ? o->close_wait : LG_HS_TIMEOUT;
				if (c->closed || now - c->started < lim)
					continue;
				if (c->phase == LG_PH_WRITE)
					c->next++; /* maybe half written */
				if (sent)
					r->unclosed++;
				else
					r->handshake_failed++;
				lg_close(c);
			}
		}
		if (r->connect_failed + r->handshake_failed + r->closed_early >
		    LG_HS_MAX_FAILED) {
			fprintf(
			    stderr, "loadgen: too many failed handshakes\n");
			break;
		}
		/* Every closed slot with lines left opens its next
		 * connection. */
		for (i = 0; i < n; i++) {
			struct lg_conn *c = &cs[i];
			if (!c->closed || c->sent_all)
				continue;
			if (c->next >= o->msgs) {
				c->sent_all = true;
				active--;
				continue;
			}
			lg_hs_open(ep, c, i, &ss, sl, r);
		}
	}
	r->t_sent = r->t_end = lg_now();
	for (i = 0; i < n; i++)
		lg_close(&cs[i]);
}

/*
 * -g: say on standard error that every connection is up (with how many
 * are), and wait for a line or EOF on standard input before sending, so a
 * driver can measure the sending alone.
 */
static void
lg_gate(const struct lg_result *r)
{
	char b;

	fprintf(stderr,
	    "loadgen: connected handshakes=%" PRIu64 " failed=%" PRIu64 "\n",
	    r->handshakes, r->connect_failed + r->handshake_failed);
	fflush(stderr);
	while (!lg_stop) {
		ssize_t got = read(STDIN_FILENO, &b, 1);
		if (got == 0 || (got < 0 && errno != EINTR) ||
		    (got == 1 && b == '\n'))
			break;
	}
}

/*
 * One worker: connect its share of the connections, report, wait at the
 * barrier (EOF on go_fd) and run. go_fd < 0 means no barrier.
 */
static void
lg_worker(const struct lg_opts *o, unsigned k, int go_fd, int ready_fd,
    struct lg_result *r)
{
	unsigned n = (o->conns - k + o->jobs - 1) / o->jobs;
	struct lg_conn *cs = calloc(n ? n : 1, sizeof(*cs));
	double deadline = lg_now() + o->timeout;
	int ep = epoll_create1(EPOLL_CLOEXEC);
	SSL_CTX *ctx = lg_is_tls(o->mode) ? lg_tls_ctx(o) : NULL;

	memset(r, 0, sizeof(*r));
	if (cs == NULL || ep < 0) {
		fprintf(stderr, "loadgen: %s\n", strerror(errno));
		exit(1);
	}
	r->connect_s = lg_now();
	if (o->mode == LG_TLS || o->mode == LG_TLSIDLE)
		lg_connect_tls(o, ctx, ep, cs, n, k, r, deadline);
	else if (o->mode != LG_TLSHS)
		lg_connect_all(o, ep, cs, n, k, r, deadline);
	r->connect_s = lg_now() - r->connect_s;
	if (ready_fd >= 0) {
		/* What connecting did, for the parent's -g line: one write
		 * below PIPE_BUF, so the workers' reports never interleave. */
		uint64_t done[2] = {
		    r->handshakes, r->connect_failed + r->handshake_failed};
		if (write(ready_fd, done, sizeof(done)) !=
		    (ssize_t)sizeof(done))
			exit(1);
	}
	if (go_fd >= 0) {
		char b;
		while (read(go_fd, &b, 1) < 0 && errno == EINTR && !lg_stop)
			;
	} else if (o->gate) {
		lg_gate(r);
	}
	if (o->mode == LG_TCP || o->mode == LG_TLS)
		lg_run_tcp(o, ep, cs, n, r, deadline);
	else if (o->mode == LG_UDP)
		lg_run_udp(o, ep, cs, n, r, deadline);
	else if (o->mode == LG_TLSHS)
		lg_run_hs(o, ctx, ep, cs, n, k, r, deadline);
	else
		lg_run_idle(o, ep, cs, n, r, deadline);
	close(ep);
	free(cs);
	SSL_CTX_free(ctx);
}

/* Fork the workers, release them together, and sum their results. */
static void
lg_run_jobs(const struct lg_opts *o, struct lg_result *total)
{
	int go[2], ready[2], res[2];
	pid_t *pids = calloc(o->jobs, sizeof(*pids));
	unsigned k;

	if (pids == NULL || pipe(go) != 0 || pipe(ready) != 0 ||
	    pipe(res) != 0) {
		fprintf(stderr, "loadgen: %s\n", strerror(errno));
		exit(1);
	}
	for (k = 0; k < o->jobs; k++) {
		pids[k] = fork();
		if (pids[k] < 0) {
			fprintf(stderr, "loadgen: fork: %s\n", strerror(errno));
			exit(1);
		}
		if (pids[k] == 0) {
			struct lg_result r;
			close(go[1]);
			close(ready[0]);
			close(res[0]);
			lg_worker(o, k, go[0], ready[1], &r);
			if (write(res[1], &r, sizeof(r)) != (ssize_t)sizeof(r))
				_exit(1);
			_exit(0);
		}
	}
	close(go[0]);
	close(ready[1]);
	close(res[1]);
	/* Every worker has connected when each wrote its counts. */
	struct lg_result conn;
	memset(&conn, 0, sizeof(conn));
	for (k = 0; k < o->jobs; k++) {
		uint64_t done[2];
		ssize_t got = read(ready[0], done, sizeof(done));
		if (got < 0 && errno == EINTR) {
			k--;
			continue;
		}
		if (got != (ssize_t)sizeof(done))
			break;
		conn.handshakes += done[0];
		conn.handshake_failed += done[1];
	}
	if (o->gate)
		lg_gate(&conn);
	close(go[1]); /* the barrier: every worker reads EOF at once */
	memset(total, 0, sizeof(*total));
	for (k = 0; k < o->jobs; k++) {
		struct lg_result r;
		ssize_t got = read(res[0], &r, sizeof(r));
		if (got != (ssize_t)sizeof(r)) {
			if (got < 0 && errno == EINTR) {
				k--;
				continue;
			}
			fprintf(stderr, "loadgen: a worker died\n");
			total->errors++;
			continue;
		}
		total->sent += r.sent;
		total->errors += r.errors;
		total->connect_failed += r.connect_failed;
		total->closed_by_peer += r.closed_by_peer;
		total->unclosed += r.unclosed;
		total->resets += r.resets;
		total->handshakes += r.handshakes;
		if (r.connect_s > total->connect_s)
			total->connect_s = r.connect_s;
		total->handshake_failed += r.handshake_failed;
		total->closed_early += r.closed_early;
		total->stalled |= r.stalled;
		total->timed_out |= r.timed_out;
		if (total->tls[0] == '\0') {
			memcpy(total->tls, r.tls, sizeof(r.tls));
			memcpy(total->cipher, r.cipher, sizeof(r.cipher));
		}
		if (total->t_start == 0 || r.t_start < total->t_start)
			total->t_start = r.t_start;
		if (r.t_sent > total->t_sent)
			total->t_sent = r.t_sent;
		if (r.t_end > total->t_end)
			total->t_end = r.t_end;
	}
	for (k = 0; k < o->jobs; k++)
		while (waitpid(pids[k], NULL, 0) < 0 && errno == EINTR)
			;
	free(pids);
}

/* Parse the command line into o, exiting 2 on a bad option. */
static void
lg_parse(int argc, char **argv, struct lg_opts *o)
{
	int ch;

	memset(o, 0, sizeof(*o));
	o->host = "127.0.0.1";
	o->conns = 1;
	o->msgs = 1000;
	o->size = 100;
	o->jobs = 1;
	o->timeout = 600;
	o->settle = 1;
	o->close_wait = 30;
	o->window = 64;
	while ((ch = getopt(argc, argv,
	            "H:p:m:c:n:s:r:j:T:w:W:gk:A:C:K:S:U:h")) != -1) {
		switch (ch) {
		case 'H':
			o->host = optarg;
			break;
		case 'p':
			o->port = optarg;
			break;
		case 'm':
			if (strcmp(optarg, "tcp") == 0)
				o->mode = LG_TCP;
			else if (strcmp(optarg, "udp") == 0)
				o->mode = LG_UDP;
			else if (strcmp(optarg, "idle") == 0)
				o->mode = LG_IDLE;
			else if (strcmp(optarg, "tls") == 0)
				o->mode = LG_TLS;
			else if (strcmp(optarg, "tlsidle") == 0)
				o->mode = LG_TLSIDLE;
			else if (strcmp(optarg, "tlshs") == 0)
				o->mode = LG_TLSHS;
			else
				lg_usage("-m: tcp, udp, idle, tls, tlsidle or "
				         "tlshs");
			break;
		case 'c':
			o->conns = (unsigned)lg_number(optarg, "-c");
			break;
		case 'n':
			o->msgs = lg_number(optarg, "-n");
			break;
		case 's':
			o->size = (size_t)lg_number(optarg, "-s");
			break;
		case 'r':
			o->rate = (double)lg_number(optarg, "-r");
			break;
		case 'j':
			o->jobs = (unsigned)lg_number(optarg, "-j");
			break;
		case 'T':
			o->timeout = (double)lg_number(optarg, "-T");
			break;
		case 'w':
			o->settle = (double)lg_number(optarg, "-w");
			break;
		case 'W':
			o->close_wait = (double)lg_number(optarg, "-W");
			break;
		case 'g':
			o->gate = true;
			break;
		case 'k':
			o->window = (unsigned)lg_number(optarg, "-k");
			break;
		case 'A':
			o->ca = optarg;
			break;
		case 'C':
			o->cert = optarg;
			break;
		case 'K':
			o->key = optarg;
			break;
		case 'S':
			o->ciphers = optarg;
			break;
		case 'U':
			o->suites = optarg;
			break;
		default:
			lg_usage(NULL);
		}
	}
	if (optind != argc)
		lg_usage("unexpected argument");
	if (o->port == NULL)
		lg_usage("-p PORT is required");
	if (o->conns == 0 || o->jobs == 0 || o->window == 0)
		lg_usage("-c, -j and -k must be at least 1");
	if ((o->cert == NULL) != (o->key == NULL))
		lg_usage("-C and -K go together");
	if (o->jobs > o->conns)
		o->jobs = o->conns;
	if (o->mode == LG_IDLE || o->mode == LG_TLSIDLE)
		o->jobs = 1;
	/* The largest header must fit with its LF. */
	if (o->mode != LG_IDLE && o->mode != LG_TLSIDLE && o->msgs > 0 &&
	    lg_header_len(o->conns - 1, o->msgs - 1) + 1 > o->size)
		lg_usage("-s too small for the message header");
	if (o->size > LG_CHUNK)
		lg_usage("-s larger than 65536");
}

/* Print the run's summary as one JSON object on standard output. */
static void
lg_report(const struct lg_opts *o, const struct lg_result *r)
{
	static const char *modes[] = {
	    "tcp", "udp", "idle", "tls", "tlsidle", "tlshs"};
	bool idle = o->mode == LG_IDLE || o->mode == LG_TLSIDLE;
	double secs = r->t_end - r->t_start;
	/* Churn shakes hands all along; the others only while connecting. */
	double hs_secs = o->mode == LG_TLSHS ? secs : r->connect_s;

	printf("{\"mode\":\"%s\",\"host\":\"%s\",\"port\":%s,\"conns\":%u,"
	       "\"msgs\":%" PRIu64 ",\"size\":%zu,\"rate\":%.0f,\"jobs\":%u,"
	       "\"expected\":%" PRIu64 ",\"sent\":%" PRIu64
	       ",\"errors\":%" PRIu64 ",\"connect_failed\":%" PRIu64
	       ",\"closed_by_peer\":%" PRIu64 ",\"unclosed\":%" PRIu64
	       ",\"resets\":%" PRIu64 ",\"timed_out\":%s,"
	       "\"t_start\":%.6f,\"t_sent\":%.6f,\"t_end\":%.6f,"
	       "\"seconds\":%.6f,\"connect_s\":%.6f",
	    modes[o->mode], o->host, o->port, o->conns, o->msgs, o->size,
	    o->rate, o->jobs, idle ? 0 : (uint64_t)o->conns * o->msgs, r->sent,
	    r->errors, r->connect_failed, r->closed_by_peer, r->unclosed,
	    r->resets, r->timed_out ? "true" : "false", r->t_start, r->t_sent,
	    r->t_end, secs, r->connect_s);
	if (lg_is_tls(o->mode))
		printf(",\"handshakes\":%" PRIu64
		       ",\"handshake_failed\":%" PRIu64
		       ",\"closed_early\":%" PRIu64 ",\"stalled\":%s"
		       ",\"handshakes_per_s\":%.1f,\"tls\":\"%s\","
		       "\"cipher\":\"%s\"",
		    r->handshakes, r->handshake_failed, r->closed_early,
		    r->stalled ? "true" : "false",
		    hs_secs > 0 ? (double)r->handshakes / hs_secs : 0.0, r->tls,
		    r->cipher);
	printf("}\n");
	fflush(stdout);
}

/* Generate the load described by the options; exit 0 if all was sent. */
int
main(int argc, char **argv)
{
	struct lg_opts o;
	struct lg_result r;

	lg_parse(argc, argv, &o);
	lg_raise_nofile();
	lg_signals();
	if (o.jobs == 1)
		lg_worker(&o, 0, -1, -1, &r);
	else
		lg_run_jobs(&o, &r);
	lg_report(&o, &r);
	if (o.mode == LG_IDLE || o.mode == LG_TLSIDLE)
		return r.timed_out ? 1 : 0;
	return r.sent == (uint64_t)o.conns * o.msgs && !r.timed_out ? 0 : 1;
}
