/*
 * peerlog's client: one event loop that moves standard input to the server
 * (a TCP bufferevent or a connected UDP socket) and whatever the server sends
 * to standard output.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>

#include <errno.h>
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

	struct bufferevent *bev; /* TCP */
	bool half_closed;

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

/* Print "peerlog: tcp LOCAL -> REMOTE" on standard error. */
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
	report("%s %s -> %s", c->udp ? "udp" : "tcp", local, remote);
	return 0;
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
		} else if (bufferevent_write(c->bev, p, take) == -1) {
			client_fail(c, "out of memory");
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

/* Input is over: half-close once the output queue has drained. */
static void
client_tcp_end(struct client *c)
{
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
		if (bufferevent_write(c->bev, c->chunk, (size_t)n) == -1) {
			client_fail(c, "out of memory");
			return;
		}
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
		/* Closed after our half-close: the server read every byte. */
		if (c->half_closed)
			client_finish(c, 0);
		else
			client_fail(c, "server closed the connection");
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

/* Make the socket's events and the input buffers; start watching stdin. */
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
	if (c->line_mode && (c->lines = evbuffer_new()) == NULL)
		return -1;
	return client_stdin_setup(c);
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

	if (client_connect(c) == -1 || client_announce(c) == -1)
		goto out;
	if (client_setup(c) == -1) {
		report("cannot set up the event loop");
		goto out;
	}
	client_prompt(c);
	if (event_base_dispatch(base) == -1 || !c->done)
		report("event loop failed");
	else
		status = c->status;
out:
	fflush(stdout);
	client_free(c);
	return status;
}
