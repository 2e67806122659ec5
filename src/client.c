/*
 * peerlog's client: one event loop that moves standard input to the server
 * (a TCP bufferevent or a connected UDP socket) and whatever the server sends
 * to standard output. With --tls an OpenSSL session sits between the two on
 * memory BIOs: plaintext goes in with SSL_write and the records come out into
 * the same TCP bufferevent, so its queue, watermarks and half-close work as
 * for plain TCP; what the server sends is fed to SSL_read from the
 * bufferevent's input.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>

#include <arpa/inet.h>

#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/util.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "addr.h"
#include "client.h"
#include "prog.h"

/* Most bytes taken from standard input (or a datagram) in one callback. */
#define CLIENT_CHUNK (64 * 1024)
/* Stop reading standard input when this much waits to go to the server... */
#define CLIENT_HIGH_WATER (1024 * 1024)
/* ...and read again once the queue has drained to this. */
#define CLIENT_LOW_WATER (256 * 1024)
/*
 * The largest UDP payload over IPv4 (65535 - 20 - 8). A longer line is sent
 * as several datagrams of at most this many bytes, so nothing is lost; the
 * server logs each piece as a message of its own.
 */
#define CLIENT_UDP_MAX 65507
/* A terminal line without LF longer than this is sent on in pieces (TCP). */
#define CLIENT_LINE_MAX CLIENT_CHUNK

enum client_lines_result {
	CLIENT_LINES_MORE,    /* every complete line sent; need more input */
	CLIENT_LINES_BLOCKED, /* the UDP socket is full; wait until writable */
	CLIENT_LINES_EXIT,    /* "exit" typed at the terminal */
	CLIENT_LINES_FAILED   /* reported and finished */
};

enum client_send_result { CLIENT_SENT, CLIENT_BLOCKED, CLIENT_FAILED };

struct client {
	struct event_base *base;
	const struct client_opts *opts;
	int fd; /* the socket; owned by bev once that exists */
	bool udp;
	bool tty;       /* standard input is a terminal: prompt, "exit" */
	bool line_mode; /* split input into lines here (terminal or UDP) */

	struct event *in_ev; /* read event on fd 0, or a zero timer (in_file) */
	bool in_file;        /* standard input cannot be polled: read chunks */
	bool in_paused;      /* the server is behind: not reading input */
	bool in_eof;         /* no more input: end of file or "exit" */
	bool at_prompt;      /* the cursor is after "send: " */
	struct evbuffer *lines; /* line mode: input not sent yet */

	struct bufferevent *bev; /* TCP, and TLS's records */
	bool half_closed;

	bool tls;         /* --tls */
	SSL_CTX *ssl_ctx; /* the verification settings and our certificate */
	SSL *ssl;         /* owns rbio and wbio */
	BIO *rbio;        /* records from the server, fed from bev's input */
	BIO *wbio;        /* records to the server, moved to bev's output */
	bool handshaken;  /* the server is verified: input may flow */
	bool tls_closed;  /* our close_notify is queued */

	struct event *udp_rev; /* datagrams and errors from the server */
	struct event *udp_wev; /* one-shot: the socket is writable again */

	bool done;
	int status;
	char chunk[CLIENT_CHUNK];
};

static void client_stdin_cb(evutil_socket_t, short, void *);

/* End the loop with an exit status; the first call wins. */
static void
client_finish(struct client *c, int status)
{
	if (c->done)
		return;
	c->done = true;
	c->status = status;
	event_base_loopbreak(c->base);
}

/* Report one "peerlog: ..." line on standard error and end with status 1. */
static void __attribute__((format(printf, 2, 3)))
client_fail(struct client *c, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (c->done)
		return;
	if (c->at_prompt) {
		/* Do not leave the message hanging after "send: ". */
		fputc('\n', stdout);
		fflush(stdout);
	}
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	report("%s", msg);
	client_finish(c, 1);
}

/* Report a socket error: the ones that mean the server went away say so. */
static void
client_gone(struct client *c, const char *what, int err)
{
	switch (err) {
	case ECONNREFUSED:
	case ECONNRESET:
	case EPIPE:
	case ETIMEDOUT:
	case EHOSTUNREACH:
	case ENETUNREACH:
		client_fail(c, "server gone: %s", strerror(err));
		break;
	case 0:
		client_fail(c, "server gone");
		break;
	default:
		client_fail(c, "%s: %s", what, strerror(err));
		break;
	}
}

/* Show the terminal prompt, flushed so it appears before the user types. */
static void
client_prompt(struct client *c)
{
	if (!c->tty)
		return;
	fputs("send: ", stdout);
	fflush(stdout);
	c->at_prompt = true;
}

/* Write p to standard output, all of it, waiting if it is non-blocking. */
static void
client_write_out(const char *p, size_t len)
{
	struct pollfd pfd = {.fd = STDOUT_FILENO, .events = POLLOUT};
	ssize_t n;

	while (len > 0) {
		n = write(STDOUT_FILENO, p, len);
		if (n >= 0) {
			p += n;
			len -= (size_t)n;
		} else if (errno == EAGAIN || errno == EWOULDBLOCK) {
			poll(&pfd, 1, -1);
		} else if (errno != EINTR) {
			return; /* standard output is gone: nobody can read it
			         */
		}
	}
}

/* Resolve the server and connect to the first address that answers. */
static int
client_connect(struct client *c)
{
	const struct client_opts *o = c->opts;
	struct addrinfo hints, *res, *ai;
	int err, saved = EADDRNOTAVAIL, fd = -1;

	memset(&hints, 0, sizeof hints);
	if (o->family == CLIENT_INET4)
		hints.ai_family = AF_INET;
	else if (o->family == CLIENT_INET6)
		hints.ai_family = AF_INET6;
	else
		hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = c->udp ? SOCK_DGRAM : SOCK_STREAM;
	err = getaddrinfo(o->host, o->port, &hints, &res);
	if (err != 0) {
		report("resolve %s %s: %s", o->host, o->port,
		    err == EAI_SYSTEM ? strerror(errno) : gai_strerror(err));
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
		    ai->ai_protocol);
		if (fd == -1) {
			saved = errno;
			continue;
		}
		/* Blocking: nothing else to do before the server answers. */
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		saved = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd == -1) {
		report_errno(saved, "connect %s %s", o->host, o->port);
		return -1;
	}
	c->fd = fd;
	return 0;
}

/* Print "peerlog: tcp|tls|udp LOCAL -> REMOTE" on standard error. */
static int
client_announce(struct client *c)
{
	struct sockaddr_storage ss;
	socklen_t len;
	char local[ADDR_STRLEN], remote[ADDR_STRLEN];

	len = sizeof ss;
	if (getsockname(c->fd, (struct sockaddr *)&ss, &len) == -1) {
		report_errno(errno, "getsockname");
		return -1;
	}
	addr_format((struct sockaddr *)&ss, local);
	len = sizeof ss;
	if (getpeername(c->fd, (struct sockaddr *)&ss, &len) == -1) {
		report_errno(errno, "getpeername");
		return -1;
	}
	addr_format((struct sockaddr *)&ss, remote);
	report("%s %s -> %s",
	    c->udp   ? "udp"
	    : c->tls ? "tls"
	             : "tcp",
	    local, remote);
	return 0;
}

/*
 * OpenSSL's reason for its oldest queued error (the root cause: a system
 * error as strerror, with the detail OpenSSL attached to it), or fallback;
 * the queue is emptied.
 */
static const char *
client_ssl_reason(char *buf, size_t len, const char *fallback)
{
	const char *data = NULL, *r = fallback;
	int flags = 0;
	unsigned long e = ERR_get_error_all(NULL, NULL, NULL, &data, &flags);

	if (e != 0 && ERR_SYSTEM_ERROR(e)) {
		r = strerror(ERR_GET_REASON(e));
	} else if (e != 0 && ERR_reason_error_string(e) == NULL) {
		ERR_error_string_n(e, buf, len);
		r = buf;
	} else if (e != 0) {
		r = ERR_reason_error_string(e);
		/* data lives in the queue: copy it before the queue goes. */
		if ((flags & ERR_TXT_STRING) && data != NULL && *data != '\0') {
			snprintf(buf, len, "%s: %s", r, data);
			r = buf;
		}
	}
	ERR_clear_error();
	return r;
}

/* An encrypted key is refused: asking for a passphrase would take the
 * terminal that standard input may be. */
static int
client_tls_no_passphrase(char *buf, int size, int rwflag, void *arg)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)arg;
	return -1;
}

/*
 * What the server must prove (TLS 1.2 or later, a chain to --ca or the
 * system's store) and our own certificate. Loaded before connecting: a file
 * that cannot be used is a start-up error, like ncat's (exit status 2).
 */
static int
client_tls_init(struct client *c)
{
	const struct client_opts *o = c->opts;
	char buf[256];
	SSL_CTX *ctx;

	ctx = c->ssl_ctx = SSL_CTX_new(TLS_client_method());
	if (ctx == NULL) {
		report("tls: %s", client_ssl_reason(buf, sizeof buf,
		                      "cannot make a context"));
		return -1;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	/* No renegotiation: SSL_write never has to wait for a read. */
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_default_passwd_cb(ctx, client_tls_no_passphrase);
	if (o->ca != NULL) {
		if (SSL_CTX_load_verify_locations(ctx, o->ca, NULL) != 1) {
			report("--ca %s: %s", o->ca,
			    client_ssl_reason(buf, sizeof buf, "unusable"));
			return -1;
		}
	} else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
		report("tls: the system's CA store: %s",
		    client_ssl_reason(buf, sizeof buf, "unusable"));
		return -1;
	}
	if (o->cert == NULL)
		return 0;
	if (SSL_CTX_use_certificate_chain_file(ctx, o->cert) != 1) {
		report("--cert %s: %s", o->cert,
		    client_ssl_reason(buf, sizeof buf, "unusable"));
		return -1;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, o->key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		report("--key %s: %s", o->key,
		    client_ssl_reason(buf, sizeof buf, "unusable"));
		return -1;
	}
	return 0;
}

/*
 * Whether host is an IPv4 or IPv6 literal (an IPv6 zone after '%' left out
 * of ip): the certificate must then name that address, and no SNI is sent.
 */
static bool
client_ip_literal(const char *host, char *ip, size_t len)
{
	unsigned char a[sizeof(struct in6_addr)];
	size_t n = strcspn(host, "%");

	if (n >= len)
		return false;
	memcpy(ip, host, n);
	ip[n] = '\0';
	if (host[n] == '\0' && inet_pton(AF_INET, ip, a) == 1)
		return true;
	return inet_pton(AF_INET6, ip, a) == 1;
}

/* Move the records OpenSSL has made to the TCP queue. */
static int
client_tls_flush(struct client *c)
{
	char *p;
	long n = BIO_get_mem_data(c->wbio, &p);

	if (n <= 0)
		return 0;
	if (bufferevent_write(c->bev, p, (size_t)n) == -1) {
		client_fail(c, "out of memory");
		return -1;
	}
	(void)BIO_reset(c->wbio);
	return 0;
}

/*
 * A TLS failure, in one line: why the server's certificate was refused, or
 * OpenSSL's reason. The alert OpenSSL made for the server is sent first.
 */
static void
client_tls_fail(struct client *c)
{
	char buf[256];
	long v = SSL_get_verify_result(c->ssl);

	/* The bufferevent freezes its output's start against other writers:
	 * unfrozen for this one last write, or the alert never leaves. */
	if (client_tls_flush(c) == 0) {
		struct evbuffer *out = bufferevent_get_output(c->bev);
		evbuffer_unfreeze(out, 1);
		(void)evbuffer_write(out, c->fd);
		evbuffer_freeze(out, 1);
	}
	if (!c->handshaken && v != X509_V_OK) {
		ERR_clear_error();
		client_fail(c, "tls: certificate verify failed: %s",
		    X509_verify_cert_error_string(v));
	} else {
		client_fail(c, "tls: %s",
		    client_ssl_reason(buf, sizeof buf, "protocol error"));
	}
}

static int client_input_start(struct client *);

/* Take the handshake a step on; once the server is verified, start. */
static void
client_tls_handshake(struct client *c)
{
	int r = SSL_do_handshake(c->ssl);

	if (client_tls_flush(c) == -1)
		return;
	if (r == 1) {
		c->handshaken = true;
		if (client_announce(c) == -1)
			client_finish(c, 1);
		else if (client_input_start(c) == -1)
			client_fail(c, "cannot set up the event loop");
		return;
	}
	if (SSL_get_error(c->ssl, r) != SSL_ERROR_WANT_READ)
		client_tls_fail(c);
}

/*
 * Make the session on memory BIOs, tell it the name the server's
 * certificate must have (SNI too for a DNS name), send the ClientHello.
 * Standard input is not read until the handshake is done.
 */
static int
client_tls_start(struct client *c)
{
	const char *host = c->opts->host;
	char ip[INET6_ADDRSTRLEN];
	int ok;

	c->ssl = SSL_new(c->ssl_ctx);
	c->rbio = BIO_new(BIO_s_mem());
	c->wbio = BIO_new(BIO_s_mem());
	if (c->ssl == NULL || c->rbio == NULL || c->wbio == NULL) {
		BIO_free(c->rbio);
		BIO_free(c->wbio);
		c->rbio = c->wbio = NULL;
		report("tls: out of memory");
		return -1;
	}
	SSL_set_bio(c->ssl, c->rbio, c->wbio); /* c->ssl owns them now */
	SSL_set_connect_state(c->ssl);
	SSL_set_hostflags(c->ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	if (client_ip_literal(host, ip, sizeof ip))
		ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), ip);
	else
		ok = SSL_set1_host(c->ssl, host) == 1 &&
		     SSL_set_tlsext_host_name(c->ssl, host) == 1;
	if (!ok) {
		report(
		    "tls: cannot check the server's name against '%s'", host);
		return -1;
	}
	client_tls_handshake(c);
	return 0;
}

/*
 * The server closed: its EOF, or with TLS its close_notify (notify). Fine
 * once we half-closed; over TLS only with close_notify, since a server that
 * refuses a client after the handshake (peerlogd's --client-name) closes
 * without one, perhaps before our records reach it, and a bare EOF is what
 * a truncation looks like.
 */
static void
client_server_closed(struct client *c, bool notify)
{
	if (c->half_closed && (notify || !c->tls))
		client_finish(c, 0);
	else if (c->half_closed)
		client_fail(
		    c, "server closed the connection without close_notify");
	else if (c->tls && !c->handshaken)
		client_fail(c, "server closed the connection during the TLS "
		               "handshake");
	else
		client_fail(c, "server closed the connection");
}

/* Records from the server: feed them to OpenSSL and print the plaintext. */
static void
client_tls_read(struct client *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	int n;

	while ((n = evbuffer_remove(in, c->chunk, sizeof c->chunk)) > 0) {
		if (BIO_write(c->rbio, c->chunk, n) != n) {
			client_fail(c, "out of memory");
			return;
		}
	}
	if (!c->handshaken) {
		client_tls_handshake(c);
		if (!c->handshaken || c->done)
			return;
	}
	while (!c->done) {
		n = SSL_read(c->ssl, c->chunk, sizeof c->chunk);
		if (n > 0) {
			client_write_out(c->chunk, (size_t)n);
			continue;
		}
		switch (SSL_get_error(c->ssl, n)) {
		case SSL_ERROR_WANT_READ:
			/* Whatever OpenSSL answered (a KeyUpdate) goes out. */
			client_tls_flush(c);
			return;
		case SSL_ERROR_ZERO_RETURN:
			client_server_closed(c, true);
			return;
		default:
			client_tls_fail(c);
			return;
		}
	}
}

/* Queue bytes for the server: as they are, or as TLS records. */
static int
client_stream_write(struct client *c, const void *p, size_t len)
{
	const char *q = p;
	int n;

	if (!c->tls) {
		if (bufferevent_write(c->bev, p, len) == -1) {
			client_fail(c, "out of memory");
			return -1;
		}
		return 0;
	}
	while (len > 0) {
		/* A memory BIO takes every record: no partial writes. */
		n = SSL_write(c->ssl, q, len > INT_MAX ? INT_MAX : (int)len);
		if (n <= 0) {
			client_tls_fail(c);
			return -1;
		}
		q += n;
		len -= (size_t)n;
	}
	return client_tls_flush(c);
}

/* Make standard input's event pending: a poll, or the next loop pass. */
static int
client_stdin_arm(struct client *c)
{
	/* A zero timeout fires after the next poll, so sockets get a turn. */
	static const struct timeval now = {0, 0};

	return event_add(c->in_ev, c->in_file ? &now : NULL);
}

/* Stop reading standard input until client_stdin_resume. */
static void
client_stdin_pause(struct client *c)
{
	if (c->in_paused)
		return;
	c->in_paused = true;
	event_del(c->in_ev);
}

/* Read standard input again after a pause, unless it has ended. */
static void
client_stdin_resume(struct client *c)
{
	if (!c->in_paused || c->in_eof || c->done)
		return;
	c->in_paused = false;
	if (client_stdin_arm(c) == -1)
		client_fail(c, "cannot watch standard input");
}

/* Stop reading standard input for good. */
static void
client_stdin_stop(struct client *c)
{
	c->in_eof = true;
	event_del(c->in_ev);
}

/* Drops libevent's warning when epoll refuses fd 0; we fall back quietly. */
static void
client_log_quiet(int severity, const char *msg)
{
	(void)severity;
	(void)msg;
}

/*
 * Watch standard input. A terminal, pipe or socket gets a persistent read
 * event. epoll refuses regular files (and /dev/null): those are read a chunk
 * per loop pass from a zero timer instead, which keeps the loop responsive
 * and lets backpressure pause the reading.
 */
static int
client_stdin_setup(struct client *c)
{
	struct stat st;
	int r;

	if (fstat(STDIN_FILENO, &st) == 0 && !S_ISREG(st.st_mode)) {
		c->in_ev = event_new(c->base, STDIN_FILENO,
		    EV_READ | EV_PERSIST, client_stdin_cb, c);
		if (c->in_ev == NULL)
			return -1;
		event_set_log_callback(client_log_quiet);
		r = event_add(c->in_ev, NULL);
		event_set_log_callback(NULL);
		if (r == 0)
			return 0;
		event_free(c->in_ev);
		c->in_ev = NULL;
	}
	c->in_file = true;
	c->in_ev = evtimer_new(c->base, client_stdin_cb, c);
	if (c->in_ev == NULL)
		return -1;
	return client_stdin_arm(c);
}

/* Send one UDP datagram on the connected socket. */
static enum client_send_result
client_udp_send(struct client *c, const unsigned char *p, size_t len)
{
	for (;;) {
		if (send(c->fd, p, len, 0) != -1)
			return CLIENT_SENT;
		if (errno == EINTR)
			continue;
		/*
		 * A full send buffer: wait until writable rather than drop.
		 * ENOBUFS (rare on Linux) is waited out the same way.
		 */
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)
			return CLIENT_BLOCKED;
		client_gone(c, "send", errno);
		return CLIENT_FAILED;
	}
}

/* True for a terminal line that is exactly "exit" once CR is dropped. */
static bool
client_is_exit(const unsigned char *p, size_t len)
{
	if (len > 0 && p[len - 1] == '\r')
		len--;
	return len == 4 && memcmp(p, "exit", 4) == 0;
}

/*
 * Send the complete lines waiting in c->lines (and, at end of input, the
 * unterminated rest): over TCP with their LF, over UDP one datagram each
 * without it. A line is drained only once it is sent.
 */
static enum client_lines_result
client_lines(struct client *c, size_t *nlines)
{
	size_t len, take, payload;
	size_t max = c->udp ? CLIENT_UDP_MAX : CLIENT_LINE_MAX;
	struct evbuffer_ptr eol;
	unsigned char *p;
	enum client_send_result r;

	while ((len = evbuffer_get_length(c->lines)) > 0) {
		eol = evbuffer_search(c->lines, "\n", 1, NULL);
		if (eol.pos != -1) {
			payload = (size_t)eol.pos;
			take = payload + 1;
		} else if (len >= max || c->in_eof) {
			payload = take = len;
		} else {
			break;
		}
		if (payload > max)
			payload = take = max;
		p = evbuffer_pullup(c->lines, (ev_ssize_t)take);
		if (p == NULL) {
			client_fail(c, "out of memory");
			return CLIENT_LINES_FAILED;
		}
		if (c->tty && client_is_exit(p, payload))
			return CLIENT_LINES_EXIT;
		if (c->udp) {
			r = client_udp_send(c, p, payload);
			if (r == CLIENT_BLOCKED)
				return CLIENT_LINES_BLOCKED;
			if (r == CLIENT_FAILED)
				return CLIENT_LINES_FAILED;
		} else if (client_stream_write(c, p, take) == -1) {
			return CLIENT_LINES_FAILED;
		}
		evbuffer_drain(c->lines, take);
		(*nlines)++;
	}
	return CLIENT_LINES_MORE;
}

/* Pause standard input while too much waits to go to the TCP server. */
static void
client_tcp_backpressure(struct client *c)
{
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) >
	    CLIENT_HIGH_WATER)
		client_stdin_pause(c);
}

/* Half-close: the server sees end of input and closes when it has it all. */
static void
client_tcp_shutdown(struct client *c)
{
	if (c->half_closed)
		return;
	c->half_closed = true;
	if (shutdown(c->fd, SHUT_WR) == -1)
		client_gone(c, "shutdown", errno);
}

/* Input is over: close_notify (TLS), and half-close once the output queue
 * has drained. */
static void
client_tcp_end(struct client *c)
{
	if (c->tls && !c->tls_closed) {
		c->tls_closed = true;
		/* 0 means sent, the server's still to come: that is success. */
		if (SSL_shutdown(c->ssl) < 0) {
			client_tls_fail(c);
			return;
		}
		if (client_tls_flush(c) == -1)
			return;
	}
	/* A low watermark of 0 calls the write callback only when empty. */
	bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
		client_tcp_shutdown(c);
}

/* Print the datagrams that have arrived; an ICMP error ends the client. */
static void
client_udp_drain(struct client *c)
{
	ssize_t n;
	int i;

	/* Bounded, so a flood from the server cannot starve standard input. */
	for (i = 0; i < 64 && !c->done; i++) {
		n = recv(c->fd, c->chunk, sizeof c->chunk, MSG_DONTWAIT);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				client_gone(c, "recv", errno);
			return;
		}
		client_write_out(c->chunk, (size_t)n);
	}
}

/*
 * Every datagram is sent. On loopback the ICMP port-unreachable for one of
 * them is already pending on the socket, so check before exiting 0.
 */
static void
client_udp_end(struct client *c)
{
	int err = 0;
	socklen_t len = sizeof err;

	client_udp_drain(c);
	if (c->done)
		return;
	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
		err = errno;
	if (err != 0)
		client_gone(c, "send", err);
	else
		client_finish(c, 0);
}

/* All input is sent or queued: finish the protocol's way. */
static void
client_input_done(struct client *c)
{
	if (c->udp)
		client_udp_end(c);
	else
		client_tcp_end(c);
}

/* Send what line mode has collected and act on how that went. */
static void
client_pump(struct client *c)
{
	size_t nlines = 0;

	switch (client_lines(c, &nlines)) {
	case CLIENT_LINES_MORE:
		if (c->in_eof) {
			client_input_done(c);
			break;
		}
		if (nlines > 0)
			client_prompt(c);
		if (c->udp)
			client_stdin_resume(c);
		else
			client_tcp_backpressure(c);
		break;
	case CLIENT_LINES_BLOCKED:
		client_stdin_pause(c);
		if (event_add(c->udp_wev, NULL) == -1)
			client_fail(c, "cannot watch the socket");
		break;
	case CLIENT_LINES_EXIT:
		client_stdin_stop(c);
		client_input_done(c);
		break;
	case CLIENT_LINES_FAILED:
		break;
	}
}

/* Standard input is readable (or, for a file, it is our turn): one chunk. */
static void
client_stdin_cb(evutil_socket_t fd, short what, void *arg)
{
	struct client *c = arg;
	ssize_t n;

	(void)fd;
	(void)what;
	n = read(STDIN_FILENO, c->chunk, sizeof c->chunk);
	if (n >= 0 && c->at_prompt) {
		/* The echo of a typed line moved on; ^D did not. */
		if (n == 0)
			client_write_out("\n", 1);
		c->at_prompt = false;
	}
	if (n == -1 && errno != EINTR && errno != EAGAIN) {
		client_fail(c, "read standard input: %s", strerror(errno));
		return;
	}
	if (n == 0) {
		client_stdin_stop(c);
		if (c->line_mode)
			client_pump(c);
		else
			client_input_done(c);
		return;
	}
	if (n > 0 && c->line_mode) {
		if (evbuffer_add(c->lines, c->chunk, (size_t)n) == -1) {
			client_fail(c, "out of memory");
			return;
		}
		client_pump(c);
	} else if (n > 0) {
		/* Piped TCP input goes verbatim: the server frames by LF. */
		if (client_stream_write(c, c->chunk, (size_t)n) == -1)
			return;
		client_tcp_backpressure(c);
	}
	if (c->in_file && !c->in_paused && !c->in_eof && !c->done &&
	    client_stdin_arm(c) == -1)
		client_fail(c, "cannot watch standard input");
}

/* The TCP server sent bytes: they go to standard output as they are. */
static void
client_tcp_read_cb(struct bufferevent *bev, void *arg)
{
	struct client *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	int n;

	if (c->tls) {
		client_tls_read(c);
		return;
	}
	while ((n = evbuffer_remove(in, c->chunk, sizeof c->chunk)) > 0)
		client_write_out(c->chunk, (size_t)n);
}

/* The output queue drained to the low watermark (or to 0 once ending). */
static void
client_tcp_write_cb(struct bufferevent *bev, void *arg)
{
	struct client *c = arg;

	if (!c->in_eof) {
		client_stdin_resume(c);
		return;
	}
	if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		client_tcp_shutdown(c);
}

/* End of stream or an error on the TCP connection. */
static void
client_tcp_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct client *c = arg;
	int err = EVUTIL_SOCKET_ERROR();

	(void)bev;
	if (what & BEV_EVENT_EOF) {
		/* TCP: closed after our half-close, the server read every byte.
		 * TLS: no close_notify came before the EOF. */
		client_server_closed(c, false);
	} else if (what & BEV_EVENT_ERROR) {
		client_gone(
		    c, (what & BEV_EVENT_WRITING) ? "send" : "recv", err);
	}
}

/* The UDP socket is readable: datagrams from the server, or an error. */
static void
client_udp_read_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	client_udp_drain(arg);
}

/* The UDP socket has room again: send the lines that were waiting. */
static void
client_udp_write_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	client_pump(arg);
}

/* Collect lines (line mode), watch standard input, prompt. */
static int
client_input_start(struct client *c)
{
	if (c->line_mode && (c->lines = evbuffer_new()) == NULL)
		return -1;
	if (client_stdin_setup(c) == -1)
		return -1;
	client_prompt(c);
	return 0;
}

/* Make the socket's events: a UDP socket's, or the TCP bufferevent. */
static int
client_setup(struct client *c)
{
	if (evutil_make_socket_nonblocking(c->fd) == -1)
		return -1;
	if (c->udp) {
		c->udp_rev = event_new(c->base, c->fd, EV_READ | EV_PERSIST,
		    client_udp_read_cb, c);
		c->udp_wev =
		    event_new(c->base, c->fd, EV_WRITE, client_udp_write_cb, c);
		if (c->udp_rev == NULL || c->udp_wev == NULL ||
		    event_add(c->udp_rev, NULL) == -1)
			return -1;
	} else {
		c->bev = bufferevent_socket_new(
		    c->base, c->fd, BEV_OPT_CLOSE_ON_FREE);
		if (c->bev == NULL)
			return -1;
		bufferevent_setcb(c->bev, client_tcp_read_cb,
		    client_tcp_write_cb, client_tcp_event_cb, c);
		bufferevent_setwatermark(c->bev, EV_WRITE, CLIENT_LOW_WATER, 0);
		if (bufferevent_enable(c->bev, EV_READ | EV_WRITE) == -1)
			return -1;
	}
	return 0;
}

/* Free the client's events, buffers and socket. */
static void
client_free(struct client *c)
{
	if (c->in_ev != NULL)
		event_free(c->in_ev);
	if (c->udp_rev != NULL)
		event_free(c->udp_rev);
	if (c->udp_wev != NULL)
		event_free(c->udp_wev);
	if (c->ssl != NULL)
		SSL_free(c->ssl); /* and its BIOs */
	if (c->ssl_ctx != NULL)
		SSL_CTX_free(c->ssl_ctx);
	if (c->bev != NULL)
		bufferevent_free(c->bev); /* closes c->fd */
	else if (c->fd != -1)
		close(c->fd);
	if (c->lines != NULL)
		evbuffer_free(c->lines);
	free(c);
}

/* Connect, run the loop until the client finishes, free; the exit status. */
int
client_run(struct event_base *base, const struct client_opts *o)
{
	struct client *c;
	int status = 1;

	c = calloc(1, sizeof *c);
	if (c == NULL) {
		report("out of memory");
		return 1;
	}
	c->base = base;
	c->opts = o;
	c->fd = -1;
	c->udp = o->udp;
	c->tty = isatty(STDIN_FILENO) == 1;
	c->line_mode = c->tty || c->udp;
	c->tls = o->tls;

	if (c->tls && client_tls_init(c) == -1) {
		status = 2;
		goto out;
	}
	if (client_connect(c) == -1 || (!c->tls && client_announce(c) == -1))
		goto out;
	if (client_setup(c) == -1 || (!c->tls && client_input_start(c) == -1)) {
		report("cannot set up the event loop");
		goto out;
	}
	/* TLS: input starts, and the start line is printed, after the
	 * handshake. */
	if (c->tls && client_tls_start(c) == -1)
		goto out;
	/* A loopbreak before the loop runs would be lost: check done first. */
	if ((!c->done && event_base_dispatch(base) == -1) || !c->done)
		report("event loop failed");
	else
		status = c->status;
out:
	fflush(stdout);
	client_free(c);
	return status;
}
