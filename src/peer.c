/* TCP clients: one bufferevent each, framed into records. */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "frame.h"
#include "server.h"

/* Most bytes taken from one socket at shutdown: the kernel's receive buffer
 * is far smaller, so this only stops a client that never pauses. */
#define PEER_DRAIN_MAX (64u * 1024 * 1024)
/* What one evbuffer_read of libevent 2.1 takes at most. */
#define PEER_LIBEVENT_READ 4096

static void peer_read_cb(struct bufferevent *bev, void *arg);
static const struct timeval *peer_timeout(
    const struct server *s, struct timeval *tv);
static void peer_event_cb(struct bufferevent *bev, short what, void *arg);

/*
 * Log the messages at the start of the n bytes at buf, straight from there;
 * returns the bytes they used. Stops at a line with no end yet (with final,
 * the stream is over: the unterminated tail is a message too) and, with
 * block, before a message when the output is full (*blocked is then set).
 */
static size_t
peer_frames(struct peer *p, const struct record_head *h, const char *buf,
    size_t n, bool final, bool block, bool *blocked)
{
	struct server *s = p->server;
	size_t max_line = s->opts->max_line;
	size_t off = 0;
	unsigned long long msgs = 0;

	while (off < n) {
		struct frame f;
		if (block && !server_can_log(s)) {
			*blocked = true;
			break;
		}
		if (h->fmt == RECORD_TEXT &&
		    server_log_line(s, h, buf + off, n - off, &f)) {
			msgs++;
			off += f.used;
			continue;
		}
		if (final)
			f = frame_final(buf + off, n - off, max_line);
		else
			f = frame_next(buf + off, n - off, max_line);
		if (f.kind == FRAME_NEED)
			break;
		server_log_msg(s, h, f.kind == FRAME_PART, buf + off, f.len);
		msgs++;
		off += f.used;
	}
	p->msgs += msgs;
	p->bytes += off;
	s->stats.tcp_msgs += msgs;
	s->stats.tcp_bytes += off;
	return off;
}

/*
 * Log every complete message in the input buffer, straight from the
 * buffer's memory; with final, the unterminated tail too. Without final it
 * stops early when the output is full and returns true: the rest waits in
 * the buffer (p->held) until the output takes records again.
 */
bool
peer_process(struct peer *p, bool final)
{
	struct server *s = p->server;
	struct evbuffer *in = bufferevent_get_input(p->bev);
	size_t max_line = s->opts->max_line;
	struct record_head head;

	/* Made here, once per batch of lines, rather than kept in every peer:
	 * an idle client should cost as little memory as possible. */
	record_head_init(&head, s->opts->format, "tcp", p->addr);
	p->held = false;
	for (;;) {
		size_t avail = evbuffer_get_length(in);
		struct evbuffer_iovec v;
		bool blocked = false;

		if (avail == 0 || evbuffer_peek(in, -1, NULL, &v, 1) < 1)
			return false;
		bool whole = v.iov_len == avail;
		size_t off = peer_frames(p, &head, v.iov_base, v.iov_len,
		    final && whole, !final, &blocked);
		if (off > 0)
			evbuffer_drain(in, off);
		if (blocked) {
			p->held = true;
			return true;
		}
		if (off > 0)
			continue;
		if (whole)
			return false;
		/* A line crosses the first chain's end: make as much of it
		 * contiguous as framing needs, copying only that. */
		struct evbuffer_ptr lf = evbuffer_search(in, "\n", 1, NULL);
		size_t want = FRAME_WINDOW(max_line);
		if (lf.pos >= 0 && (size_t)lf.pos + 1 < want)
			want = (size_t)lf.pos + 1;
		if (evbuffer_pullup(
		        in, (ev_ssize_t)(want < avail ? want : avail)) == NULL)
			return false;
	}
}

/* Keep n bytes of a client's stream in its input buffer, which the
 * bufferevent freezes at the end against writers other than itself. */
static int
peer_keep(struct evbuffer *in, const char *buf, size_t n)
{
	evbuffer_unfreeze(in, 0);
	int rc = evbuffer_add(in, buf, n);
	evbuffer_freeze(in, 0);
	return rc;
}

/*
 * Log the n bytes just read into buf. The input buffer holds at most a line
 * begun in an earlier read: it gets what completes that line (or shows it is
 * overlong) and is logged from there; everything after is logged straight
 * from buf. Only the line left unfinished at the end, or what the output
 * could not take, is copied to the input buffer. Returns 0, or -1 when
 * memory ran out (the bytes are lost: the caller closes the client).
 */
static int
peer_feed(struct peer *p, const char *buf, size_t n)
{
	struct server *s = p->server;
	struct evbuffer *in = bufferevent_get_input(p->bev);
	size_t max_line = s->opts->max_line;
	size_t off = 0;
	bool blocked = false;

	while (off < n && !blocked && evbuffer_get_length(in) > 0) {
		size_t have = evbuffer_get_length(in);
		size_t k = n - off;
		if (have < max_line + 2 && k > max_line + 2 - have)
			k = max_line + 2 - have;
		const char *lf = memchr(buf + off, '\n', k);
		if (lf != NULL)
			k = (size_t)(lf - (buf + off)) + 1;
		if (peer_keep(in, buf + off, k) != 0)
			return -1;
		off += k;
		blocked = peer_process(p, false);
	}
	if (off < n && !blocked) {
		struct record_head head;
		record_head_init(&head, s->opts->format, "tcp", p->addr);
		off += peer_frames(
		    p, &head, buf + off, n - off, false, true, &blocked);
		p->held = blocked;
	}
	if (off < n && peer_keep(in, buf + off, n - off) != 0)
		return -1;
	return 0;
}

/*
 * Read the client once, up to PEER_READ bytes, into the server's read
 * buffer, and log what came. Returns the bytes read; 0 when the client is
 * done (*reason says why); -1 when nothing waits.
 */
static ssize_t
peer_read(struct peer *p, const char **reason)
{
	struct server *s = p->server;
	ssize_t n;

	do
		n = recv(p->fd, s->rdbuf, PEER_READ, MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return -1;
	if (n <= 0) {
		*reason = n == 0                ? "eof"
		          : errno == ECONNRESET ? "reset"
		                                : "error";
		return 0;
	}
	if (peer_feed(p, s->rdbuf, (size_t)n) != 0) {
		fprintf(stderr,
		    "peerlogd: out of memory: %zd bytes from %s lost\n", n,
		    p->addr);
		*reason = "error";
		return 0;
	}
	return n;
}

/* Log the tail and the disconnect, then free the peer: the only place a
 * peer is freed. Never touch p after this. */
static void
peer_close(struct peer *p, const char *reason)
{
	struct server *s = p->server;

	if (p->bev != NULL)
		peer_process(p, true);
	struct record_kv kv[] = {
	    {"reason", reason, 0},
	    {"msgs", NULL, p->msgs},
	    {"bytes", NULL, p->bytes},
	};
	server_log(s, "tcp", p->addr, RECORD_DISCONNECT, NULL, 0, kv, 3);
	TAILQ_REMOVE(&s->peers, p, entry);
	s->npeers--;
	/* bufferevent_free takes the events out of the loop at once but
	 * finishes later (finalizers), and a BEV_OPT_CLOSE_ON_FREE close would
	 * come only then: closing here gives the descriptor back now, which a
	 * server short of descriptors (and its shutdown) depends on. */
	if (p->bev != NULL)
		bufferevent_free(p->bev);
	else
		event_free(p->wait_ev);
	close(p->fd);
	free(p);
}

/* The client was just read from: it has not been silent, and it goes to
 * the tail of the list, so server_resume reads the least recently read
 * first. */
static void
peer_heard(struct peer *p)
{
	struct server *s = p->server;

	p->heard = s->now;
	TAILQ_REMOVE(&s->peers, p, entry);
	TAILQ_INSERT_TAIL(&s->peers, p, entry);
}

/*
 * With read, and while the output can take records, read the client once
 * more (peer_read) and close it if it is done: p is gone then. Otherwise
 * remember what its input buffer holds, which tells peer_read_cb how much
 * libevent's next read brought.
 */
static void
peer_read_more(struct peer *p, bool read)
{
	const char *reason = NULL;

	if (read && server_can_log(p->server) && peer_read(p, &reason) == 0) {
		peer_close(p, reason);
		return;
	}
	p->left = (unsigned)evbuffer_get_length(bufferevent_get_input(p->bev));
}

/*
 * Bytes arrived: log the complete lines. libevent 2.1 reads at most 4 KiB a
 * call (EVBUFFER_MAX_READ in its buffer.c); when that read came back full,
 * more is most likely waiting, and one read of up to PEER_READ bytes more
 * takes it with one system call instead of sixteen passes of the loop.
 */
static void
peer_read_cb(struct bufferevent *bev, void *arg)
{
	struct peer *p = arg;
	struct server *s = p->server;
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t len = evbuffer_get_length(in);
	size_t got = len > p->left ? len - p->left : 0;

	server_clock(s);
	peer_heard(p);
	if (p->short_timeout) {
		struct timeval tv;
		bufferevent_set_timeouts(bev, peer_timeout(s, &tv), NULL);
		p->short_timeout = false;
	}
	peer_read_more(p, !peer_process(p, false) && got >= PEER_LIBEVENT_READ);
}

/* End of stream, error or idle timeout: the client is done. */
static void
peer_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct peer *p = arg;
	const char *reason = "error";

	(void)bev;
	server_clock(p->server);
	if (what & BEV_EVENT_EOF)
		reason = "eof";
	else if (what & BEV_EVENT_TIMEOUT)
		reason = "timeout";
	else if ((what & BEV_EVENT_ERROR) && errno == ECONNRESET)
		reason = "reset";
	peer_close(p, reason);
}

/* The idle timeout as a timeval, or NULL for none. */
static const struct timeval *
peer_timeout(const struct server *s, struct timeval *tv)
{
	if (s->opts->idle_timeout == 0)
		return NULL;
	tv->tv_sec = (time_t)s->opts->idle_timeout;
	tv->tv_usec = 0;
	return tv;
}

/*
 * Give the peer its bufferevent, on its first byte (or at shutdown): until
 * then a silent client costs a plain read event and no buffers at all.
 * Returns 0, or -1 when memory ran out.
 */
static int
peer_start(struct peer *p)
{
	struct server *s = p->server;
	struct timeval tv;

	if (p->bev != NULL)
		return 0;
	/* The peer owns the socket and closes it in peer_close. */
	p->bev = bufferevent_socket_new(s->base, p->fd, 0);
	if (p->bev == NULL)
		return -1;
	event_free(p->wait_ev);
	p->wait_ev = NULL;
	/* No read watermark is needed to bound the input: a read callback
	 * leaves less than max_line + 2 bytes behind unless the output filled
	 * up, and then reading stops until what was left is logged. */
	bufferevent_setcb(p->bev, peer_read_cb, NULL, peer_event_cb, p);
	bufferevent_set_timeouts(p->bev, peer_timeout(s, &tv), NULL);
	if (!s->paused)
		bufferevent_enable(p->bev, EV_READ);
	return 0;
}

/* A silent client became readable (or stayed silent too long). */
static void
peer_wait_cb(evutil_socket_t fd, short what, void *arg)
{
	struct peer *p = arg;

	(void)fd;
	server_clock(p->server);
	if (what & EV_TIMEOUT) {
		peer_close(p, "timeout");
		return;
	}
	if (peer_start(p) != 0) {
		peer_close(p, "error");
		return;
	}
	/* Read now, up to PEER_READ bytes, rather than wait a pass for the
	 * bufferevent's first 4 KiB; it reads whatever follows. */
	peer_heard(p);
	peer_read_more(p, true);
}

/* Log a refused connection and close it at once. */
static void
peer_reject(struct server *s, int fd, const char *addr, const char *reason)
{
	struct record_kv kv[] = {{"reason", reason, 0}};

	server_log(s, "tcp", addr, RECORD_REJECT, NULL, 0, kv, 1);
	s->stats.rejects++;
	close(fd);
}

/* A new connection from a listener: admit it as a peer (returned) or
 * reject it (NULL). */
struct peer *
peer_accept(struct server *s, int fd, const struct sockaddr *sa)
{
	char addr[ADDR_STRLEN];
	struct timeval tv;
	struct peer *p;

	server_clock(s);
	s->accept_starved = false;
	addr_format(sa, addr);
	if (!server_allowed(s, sa)) {
		peer_reject(s, fd, addr, "acl");
		return NULL;
	}
	if (s->npeers >= s->opts->max_clients) {
		peer_reject(s, fd, addr, "max-clients");
		return NULL;
	}
	p = calloc(1, sizeof(*p));
	if (p == NULL) {
		peer_reject(s, fd, addr, "error");
		return NULL;
	}
	p->wait_ev = event_new(s->base, fd, EV_READ, peer_wait_cb, p);
	if (p->wait_ev == NULL) {
		free(p);
		peer_reject(s, fd, addr, "error");
		return NULL;
	}
	p->server = s;
	p->fd = fd;
	p->heard = s->now;
	memcpy(p->addr, addr, sizeof(addr));
	TAILQ_INSERT_TAIL(&s->peers, p, entry);
	s->npeers++;
	s->stats.connects++;
	server_log(s, "tcp", p->addr, RECORD_CONNECT, NULL, 0, NULL, 0);
	if (!s->paused)
		event_add(p->wait_ev, peer_timeout(s, &tv));
	return p;
}

/*
 * Shutdown: read what the kernel holds for this client (it was received,
 * so it is logged), then close the peer.
 */
void
peer_shutdown(struct peer *p)
{
	const char *reason = "shutdown";
	size_t total = 0;

	if (peer_start(p) != 0) {
		peer_close(p, "error");
		return;
	}
	/* At shutdown the output is waited for rather than paused on: what
	 * waited in the input buffer goes first, then every read is logged as
	 * it comes, so the buffer holds one line at most. */
	peer_process(p, false);
	while (total < PEER_DRAIN_MAX) {
		ssize_t n = peer_read(p, &reason);
		if (n <= 0)
			break;
		total += (size_t)n;
	}
	peer_close(p, reason);
}

/* Stop reading from the client (the output is behind). */
void
peer_pause(struct peer *p)
{
	if (p->bev != NULL)
		bufferevent_disable(p->bev, EV_READ);
	else
		event_del(p->wait_ev);
}

/*
 * Log what waited in the input buffer while the output was full. Returns
 * true when the output filled up again first.
 */
bool
peer_unload(struct peer *p)
{
	return p->held && peer_process(p, false);
}

/*
 * Whether something waits unread from the client: bytes, its FIN (recv
 * sees 0) or its RST (-1, errno ECONNRESET). Peeking takes a pending error
 * off the socket, so the caller must act on -1 itself.
 */
static int
peer_peek(int fd)
{
	char c;
	ssize_t n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);

	if (n >= 0)
		return 1;
	return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
}

/*
 * Pausing took the idle timeout off with the read event. Close p if its
 * --idle-timeout ran out meanwhile and it was silent: only if nothing of it
 * (bytes, FIN, RST) waits unread. Returns true when p was closed (and is
 * gone). Called on every resume, also one the output cuts short, so silent
 * clients time out under an output that keeps filling up.
 */
bool
peer_expire(struct peer *p)
{
	struct server *s = p->server;
	long long idle = (long long)s->opts->idle_timeout * 1000;

	if (idle == 0 || idle - (s->now - p->heard) > 0)
		return false;
	int r = peer_peek(p->fd);
	if (r == 0) {
		peer_close(p, "timeout");
		return true;
	}
	if (r < 0) {
		peer_close(p, errno == ECONNRESET ? "reset" : "error");
		return true;
	}
	p->heard = s->now;
	return false;
}

/*
 * Read again after a pause (peer_expire has run): arm the idle timeout for
 * what is left of it, so a silent client is still closed on time.
 */
void
peer_resume(struct peer *p)
{
	struct server *s = p->server;
	long long idle = (long long)s->opts->idle_timeout * 1000;
	long long left = idle - (s->now - p->heard);
	struct timeval tv = {0, 0};
	const struct timeval *t = NULL;

	if (idle > 0) {
		tv.tv_sec = (time_t)(left / 1000);
		tv.tv_usec = (suseconds_t)(left % 1000 * 1000);
		t = &tv;
	}
	if (p->bev == NULL) {
		event_add(p->wait_ev, t);
		return;
	}
	p->short_timeout = t != NULL && left < idle;
	bufferevent_set_timeouts(p->bev, t, NULL);
	bufferevent_enable(p->bev, EV_READ);
}
