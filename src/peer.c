/* TCP clients: one bufferevent each, framed into records. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <sys/ioctl.h>
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

static void peer_read_cb(struct bufferevent *bev, void *arg);
static const struct timeval *peer_timeout(
    const struct server *s, struct timeval *tv);
static void peer_event_cb(struct bufferevent *bev, short what, void *arg);

/* Log one message or continued piece of a client's stream. */
static void
peer_emit(struct peer *p, const struct record_head *h, const struct frame *f,
    const char *at)
{
	struct server *s = p->server;

	server_log_msg(s, h, f->kind == FRAME_PART, at, f->len);
	p->msgs++;
	p->bytes += f->used;
	s->stats.tcp_msgs++;
	s->stats.tcp_bytes += f->used;
}

/*
 * Log every complete message in the input buffer, straight from the
 * buffer's memory; with final, the unterminated tail too. Without final it
 * stops early when the output is full (the rest waits in the buffer).
 */
void
peer_process(struct peer *p, bool final)
{
	struct server *s = p->server;
	struct evbuffer *in = bufferevent_get_input(p->bev);
	size_t max_line = s->opts->max_line;
	struct record_head head;

	/* Made here, once per batch of lines, rather than kept in every peer:
	 * an idle client should cost as little memory as possible. */
	record_head_init(&head, s->opts->format, "tcp", p->addr);
	for (;;) {
		size_t avail = evbuffer_get_length(in);
		struct evbuffer_iovec v;
		size_t off = 0;
		bool blocked = false;

		if (avail == 0 || evbuffer_peek(in, -1, NULL, &v, 1) < 1)
			return;
		const char *base = v.iov_base;
		bool whole = v.iov_len == avail;
		for (;;) {
			struct frame f;
			if (!final && !server_can_log(s)) {
				blocked = true;
				break;
			}
			if (final && whole)
				f = frame_final(
				    base + off, v.iov_len - off, max_line);
			else
				f = frame_next(
				    base + off, v.iov_len - off, max_line);
			if (f.kind == FRAME_NEED)
				break;
			peer_emit(p, &head, &f, base + off);
			off += f.used;
		}
		if (off > 0) {
			evbuffer_drain(in, off);
			continue;
		}
		if (blocked || whole)
			return;
		/* A line crosses the first chain's end: make as much of it
		 * contiguous as framing needs, copying only that. */
		struct evbuffer_ptr lf = evbuffer_search(in, "\n", 1, NULL);
		size_t want = max_line + 2;
		if (lf.pos >= 0 && (size_t)lf.pos + 1 < want)
			want = (size_t)lf.pos + 1;
		if (evbuffer_pullup(
		        in, (ev_ssize_t)(want < avail ? want : avail)) == NULL)
			return;
	}
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

/* Bytes arrived: log the complete lines. */
static void
peer_read_cb(struct bufferevent *bev, void *arg)
{
	struct peer *p = arg;

	(void)bev;
	server_clock(p->server);
	p->heard = p->server->now;
	if (p->short_timeout) {
		struct timeval tv;
		bufferevent_set_timeouts(
		    p->bev, peer_timeout(p->server, &tv), NULL);
		p->short_timeout = false;
	}
	peer_process(p, false);
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
	/* No read watermark is needed to bound the input: each read callback
	 * takes at most one read (16 KiB) and leaves less than max_line + 2
	 * bytes behind, and reading stops while the output is paused. */
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
	if (what & EV_TIMEOUT)
		peer_close(p, "timeout");
	else if (peer_start(p) != 0)
		peer_close(p, "error");
	/* The bufferevent reads on the next pass: epoll is level-triggered. */
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

/*
 * A client that vanished without a FIN or RST (power loss, a cable pulled)
 * would hold its slot for ever: TCP keepalive finds it within about seven
 * minutes of silence, and it is closed with reason=error.
 */
static void
peer_keepalive(int fd)
{
	int on = 1, idle = 300, intvl = 30, cnt = 4;

	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
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
	peer_keepalive(fd);
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
	struct evbuffer *in = bufferevent_get_input(p->bev);
	/* The bufferevent freezes its input's end against outside writers:
	 * lift that for the drain, which no callback will interrupt. */
	evbuffer_unfreeze(in, 0);
	while (total < PEER_DRAIN_MAX) {
		errno = 0;
		int n = evbuffer_read(in, p->fd, 65536);
		if (n == 0) {
			reason = "eof";
			break;
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == ECONNRESET)
				reason = "reset";
			else if (errno != EAGAIN)
				reason = "error";
			break;
		}
		total += (size_t)n;
		/* Keep the buffer to one read: log as we go (at shutdown the
		 * output is waited for rather than paused on). */
		peer_process(p, false);
	}
	evbuffer_freeze(in, 0);
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
 * Seconds of --idle-timeout p has left, or -1 when it ran out while input
 * was paused. A client whose bytes wait unread in the kernel was not silent.
 */
static long
peer_idle_left(struct peer *p)
{
	const struct server *s = p->server;
	long idle = (long)s->opts->idle_timeout;
	long left = idle - (long)(s->now - p->heard);
	int pending = 0;

	if (left > 0)
		return left;
	if (ioctl(p->fd, FIONREAD, &pending) == 0 && pending > 0) {
		p->heard = s->now;
		return idle;
	}
	return -1;
}

/*
 * Read again, and log what waited in the input buffer. Pausing took the
 * idle timeout off with the read event: arm it for what is left, so a
 * silent client is still closed on time under an output that keeps pausing.
 */
void
peer_resume(struct peer *p)
{
	struct server *s = p->server;
	struct timeval tv = {0, 0};
	const struct timeval *t = NULL;

	if (s->opts->idle_timeout > 0) {
		long left = peer_idle_left(p);
		if (left < 0) {
			peer_close(p, "timeout");
			return;
		}
		tv.tv_sec = left;
		t = &tv;
	}
	if (p->bev == NULL) {
		event_add(p->wait_ev, t);
		return;
	}
	p->short_timeout = t != NULL && tv.tv_sec < (long)s->opts->idle_timeout;
	bufferevent_set_timeouts(p->bev, t, NULL);
	bufferevent_enable(p->bev, EV_READ);
	peer_process(p, false);
}
