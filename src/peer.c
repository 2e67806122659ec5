/*
 * TCP and TLS clients: a connection's life in phases (accepted, the TLS
 * handshake, then lines), framed into records. A TCP client has a
 * bufferevent from its first byte on; a TLS client its OpenSSL connection
 * (tls.c) from its first byte on, read by this module's own non-blocking
 * reads into the same shared buffer.
 */
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "frame.h"
#include "metrics.h"
#include "prog.h"
#include "proxy.h"
#include "server.h"
#include "source.h"
#include "tls.h"

/* One read from a client, at most. */
#define PEER_READ (64u * 1024)
/* Most bytes taken from one socket at shutdown: the kernel's receive buffer
 * is far smaller, so this only stops a client that never pauses. */
#define PEER_DRAIN_MAX (64u * 1024 * 1024)
/* What one evbuffer_read of libevent 2.1 takes at most. */
#define PEER_LIBEVENT_READ 4096
/* Descriptors kept free of clients: a SIGHUP reopen, the accept that
 * rejects a client over --max-clients, the shutdown's accepts, one spare
 * (OpenBSD syslogd's FD_RESERVE). */
#define PEER_FD_RESERVE 4

/*
 * Where a connection is in its life. Each phase before PEER_LINES (the
 * PROXY header, the TLS handshake) may reject it with a reason and is
 * bounded by the deadline peer_deadline gives (--handshake-timeout from
 * the accept); the connect record is written on entering PEER_LINES.
 */
enum peer_phase {
	PEER_PROXY,    /* from a --proxy source: its header is awaited */
	PEER_ACCEPTED, /* accepted: nothing read yet, or (TLS) handshaking */
	PEER_LINES,    /* its bytes are messages */
	PEER_CLOSED,   /* unlinked: freed once the callbacks unwind */
};

/*
 * A TLS client's own state, made on its first byte: the connection, the
 * input held between reads (the bufferevent's part for TCP), and its
 * certificate's fields for JSON msg records.
 */
struct peer_tls {
	SSL *ssl;
	struct evbuffer *in; /* from the lines phase on */
	char *tail;          /* record_head's tail, or NULL */
	size_t tail_len;
	char via[ADDR_STRLEN]; /* the proxy that sent its header, or "" */
	bool sound; /* no protocol or socket error: close_notify at close */
};

/*
 * A TCP client: owns its socket, its formatted address, and from its first
 * byte on its bufferevent (before that, a plain read event: a silent client
 * holds no buffers).
 */
struct peer {
	TAILQ_ENTRY(peer) entry;
	const struct listen_conf *conf; /* its listener's; conf->server */
	union {
		struct bufferevent *bev; /* TCP: NULL until it first sends */
		struct peer_tls *tls;    /* TLS: NULL until it first sends */
	};
	struct event *wait_ev; /* TCP: read event while bev is NULL; TLS:
	                        * its socket's event all its life */
	int fd;
	/* Input bytes held after the last callback; at shutdown (no
	 * callbacks then), the bytes read since it began. */
	union {
		unsigned left;
		unsigned drained;
	};
	unsigned long long msgs;
	unsigned long long bytes;
	long long heard; /* monotonic ms it last sent (or connected) */
	/* LF framing: the leading input bytes known to hold no LF. Octet
	 * counting: what is still to come of a frame cut in pieces. */
	union {
		unsigned scanned;
		unsigned octet_left;
	};
	unsigned char phase; /* enum peer_phase */
	bool held;           /* input waits that the output could not take */
	bool short_timeout;  /* idle timeout armed for what was left of it */
	bool bad_frame;      /* an octet count was malformed: close it */
	char addr[ADDR_STRLEN];
	/* An idle client should cost as little as possible: the fields above
	 * fill one 144-byte malloc chunk, and its source address is only kept
	 * with --max-per-source. */
	struct source_key src[];
};
TAILQ_HEAD(peer_list, peer);
_Static_assert(sizeof(void *) != 8 || sizeof(struct peer) <= 136,
    "an idle peer must stay within one 144-byte malloc chunk");

/* The TCP clients of a server. */
struct peers {
	struct peer_list live; /* least recently read first */
	struct peer_list dead; /* closed, freed by reap_ev */
	size_t n;
	size_t fd_room; /* clients the descriptor limit leaves room for */
	char *rdbuf;    /* PEER_READ bytes: where clients are read into */
	struct event *reap_ev;
	struct source_map sources;
};

static void peer_read_cb(struct bufferevent *bev, void *arg);
static void peer_wait_cb(evutil_socket_t fd, short what, void *arg);

/* Whether p came to a TLS listener. */
static inline bool
peer_is_tls(const struct peer *p)
{
	return p->conf->proto == PROTO_TLS;
}

/* The client's input buffer, or NULL before it has one. */
static struct evbuffer *
peer_in(const struct peer *p)
{
	if (peer_is_tls(p))
		return p->tls != NULL ? p->tls->in : NULL;
	return p->bev != NULL ? bufferevent_get_input(p->bev) : NULL;
}

/* The fixed part of p's msg records. */
static void
peer_head(const struct peer *p, struct record_head *h)
{
	const struct server *s = p->conf->server;

	record_head_init(
	    h, s->fmt, counters_proto_name(p->conf->proto), p->addr);
	if (peer_is_tls(p) && p->tls != NULL && p->tls->tail != NULL) {
		h->tail = p->tls->tail;
		h->tail_len = p->tls->tail_len;
	}
}

/* Most bytes of a stream framing needs at once (see frame.h). */
static size_t
peer_window(const struct server *s)
{
	size_t w = FRAME_WINDOW(s->opts->max_line);

	return s->opts->framing == FRAMING_OCTET ? w + FRAME_OCTET_HEADER : w;
}
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
	struct server *s = p->conf->server;
	size_t max_line = s->opts->max_line;
	size_t off = 0;
	unsigned long long msgs = 0;

	while (off < n && s->opts->framing == FRAMING_OCTET) {
		if (block && !server_can_log(s)) {
			*blocked = true;
			break;
		}
		struct frame f = frame_octet(
		    buf + off, n - off, max_line, &p->octet_left, final);
		if (f.kind == FRAME_ERROR) {
			/* Nothing after a broken count can be framed: the
			 * bytes are counted, the client is closed. */
			p->bad_frame = true;
			off = n;
			break;
		}
		const char *msg = buf + off + f.skip;
		off += f.used; /* a count cut short at the end: used up */
		if (f.kind == FRAME_NEED)
			break;
		server_log_msg(s, h, f.kind == FRAME_PART, msg, f.len);
		msgs++;
	}
	while (off < n && s->opts->framing == FRAMING_LF) {
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
	s->counters.proto[p->conf->proto].msgs += msgs;
	s->counters.proto[p->conf->proto].bytes += off;
	return off;
}

/*
 * Whether the avail bytes of the input buffer can give a message now: an
 * LF among them, or enough of them for an overlong line's piece. The bytes
 * searched once are not searched again, so a long line arriving in many
 * reads costs time in proportion to its length, not its square.
 */
static bool
peer_framable(struct peer *p, struct evbuffer *in, size_t avail)
{
	size_t max_line = p->conf->server->opts->max_line;
	struct evbuffer_ptr from;

	if (p->conf->server->opts->framing == FRAMING_OCTET)
		return true; /* a count's body is never searched */
	if (avail > max_line)
		return true; /* frame_next decides at max_line + 1 bytes */
	if (p->scanned >= avail ||
	    evbuffer_ptr_set(in, &from, p->scanned, EVBUFFER_PTR_SET) != 0)
		return false;
	if (evbuffer_search(in, "\n", 1, &from).pos >= 0)
		return true;
	p->scanned = (unsigned)avail;
	return false;
}

/*
 * Log every complete message in the input buffer, straight from the
 * buffer's memory; with final, the unterminated tail too. Without final it
 * stops early when the output is full and returns true: the rest waits in
 * the buffer (p->held) until the output takes records again.
 */
static bool
peer_process(struct peer *p, bool final)
{
	struct server *s = p->conf->server;
	struct evbuffer *in = peer_in(p);
	struct record_head head;
	bool head_made = false;

	p->held = false;
	if (in == NULL)
		return false;
	for (;;) {
		size_t avail = evbuffer_get_length(in);
		struct evbuffer_iovec v;
		bool blocked = false;

		if (avail == 0 || (!final && !peer_framable(p, in, avail)) ||
		    evbuffer_peek(in, -1, NULL, &v, 1) < 1)
			return false;
		/* Made here, once per batch of lines, rather than kept in
		 * every peer: an idle client should cost little memory. */
		if (!head_made) {
			peer_head(p, &head);
			head_made = true;
		}
		bool whole = v.iov_len == avail;
		size_t off = peer_frames(p, &head, v.iov_base, v.iov_len,
		    final && whole, !final, &blocked);
		if (off > 0) {
			evbuffer_drain(in, off);
			if (s->opts->framing == FRAMING_LF)
				p->scanned = p->scanned > off
				                 ? p->scanned - (unsigned)off
				                 : 0;
		}
		if (p->bad_frame) {
			/* Received, never framed: counted, then dropped. */
			p->bytes += evbuffer_get_length(in);
			evbuffer_drain(in, evbuffer_get_length(in));
			return false;
		}
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
		size_t want = peer_window(s);
		if (s->opts->framing == FRAMING_LF) {
			struct evbuffer_ptr lf =
			    evbuffer_search(in, "\n", 1, NULL);
			if (lf.pos >= 0 && (size_t)lf.pos + 1 < want)
				want = (size_t)lf.pos + 1;
		}
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
	struct server *s = p->conf->server;
	struct evbuffer *in = peer_in(p);
	size_t window = peer_window(s);
	size_t off = 0;
	bool blocked = false;

	while (off < n && !blocked && !p->bad_frame &&
	       evbuffer_get_length(in) > 0) {
		size_t have = evbuffer_get_length(in);
		size_t k = n - off;
		if (have < window && k > window - have)
			k = window - have;
		const char *lf = s->opts->framing == FRAMING_LF
		                     ? memchr(buf + off, '\n', k)
		                     : NULL;
		if (lf != NULL)
			k = (size_t)(lf - (buf + off)) + 1;
		if (peer_keep(in, buf + off, k) != 0)
			return -1;
		off += k;
		blocked = peer_process(p, false);
	}
	if (off < n && !blocked && !p->bad_frame) {
		struct record_head head;
		peer_head(p, &head);
		off += peer_frames(
		    p, &head, buf + off, n - off, false, true, &blocked);
		p->held = blocked;
	}
	if (p->bad_frame)
		p->bytes += n - off; /* received, never framed */
	else if (off < n && peer_keep(in, buf + off, n - off) != 0)
		return -1;
	return 0;
}

static void peer_tls_watch(struct peer *p, short what);
static void peer_handshake_expired(struct peer *p);
static void peer_lines(struct peer *p, const struct record_kv *kv, size_t nkv);

/*
 * peer_read for a TLS client: decrypt up to PEER_READ bytes, as many
 * records as are there, into the shared read buffer, and log them. OpenSSL
 * reads ahead, up to 64 KiB a system call, so the bytes of a fast sender
 * come in few reads of the socket.
 */
static ssize_t
peer_tls_read(struct peer *p, const char **reason)
{
	struct peers *ps = p->conf->server->peers;
	size_t got;
	enum tls_step st = tls_read(p->tls->ssl, ps->rdbuf, PEER_READ, &got);

	/* What came before an end or an error is the client's all the
	 * same. */
	if (got > 0 && peer_feed(p, ps->rdbuf, got) != 0) {
		report("out of memory: %zu bytes from %s lost", got, p->addr);
		*reason = "error";
		return 0;
	}
	if (p->bad_frame) {
		*reason = "framing";
		return 0;
	}
	switch (st) {
	case TLS_OK:
		return (ssize_t)got;
	case TLS_WANT_WRITE:
		/* An alert or a key update to send first. */
		peer_tls_watch(p, EV_WRITE);
		/* fallthrough */
	case TLS_WANT_READ:
		return got > 0 ? (ssize_t)got : -1;
	case TLS_EOF:
		*reason = "eof";
		break;
	case TLS_RESET:
		*reason = "reset";
		p->tls->sound = false;
		break;
	case TLS_FAILED:
		*reason = "error";
		p->tls->sound = false;
		break;
	}
	return 0;
}

/*
 * Read the client once, up to PEER_READ bytes, into the shared read
 * buffer, and log what came. Returns the bytes read; 0 when the client is
 * done (*reason says why); -1 when nothing waits.
 */
static ssize_t
peer_read(struct peer *p, const char **reason)
{
	struct peers *ps = p->conf->server->peers;
	ssize_t n;

	if (peer_is_tls(p))
		return peer_tls_read(p, reason);
	do
		n = recv(p->fd, ps->rdbuf, PEER_READ, MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return -1;
	if (n <= 0) {
		*reason = n == 0                ? "eof"
		          : errno == ECONNRESET ? "reset"
		                                : "error";
		return 0;
	}
	if (peer_feed(p, ps->rdbuf, (size_t)n) != 0) {
		report("out of memory: %zd bytes from %s lost", n, p->addr);
		*reason = "error";
		return 0;
	}
	if (p->bad_frame) {
		*reason = "framing";
		return 0;
	}
	return n;
}

/*
 * The connection is over: log the tail and the disconnect (once it had its
 * connect record), give its descriptor back, and unlink it. The memory is
 * freed later, once the callbacks that led here have returned, so nothing
 * up the stack can touch a freed peer; the only place a peer is freed is
 * peer_reap_cb.
 */
static void
peer_close(struct peer *p, const char *reason)
{
	struct server *s = p->conf->server;
	struct peers *ps = s->peers;

	if (p->phase == PEER_CLOSED)
		return;
	bool lines = p->phase == PEER_LINES;
	if (lines) {
		if (!p->bad_frame)
			peer_process(p, true);
		struct record_kv kv[] = {
		    {"reason", reason, 0},
		    {"msgs", NULL, p->msgs},
		    {"bytes", NULL, p->bytes},
		};
		server_log(s, counters_proto_name(p->conf->proto), p->addr,
		    RECORD_DISCONNECT, NULL, 0, kv, 3);
		s->counters.proto[p->conf->proto].clients--;
	}
	p->phase = PEER_CLOSED;
	TAILQ_REMOVE(&ps->live, p, entry);
	ps->n--;
	if (s->opts->max_per_source > 0)
		source_del(&ps->sources, &p->src[0]);
	/* bufferevent_free takes the events out of the loop at once but
	 * finishes later (finalizers), and a BEV_OPT_CLOSE_ON_FREE close would
	 * come only then: closing here gives the descriptor back now, which a
	 * server short of descriptors (and its shutdown) depends on. */
	if (peer_is_tls(p) && p->tls != NULL) {
		struct peer_tls *t = p->tls;
		/* close_notify tells the client its bytes were read: not
		 * after a broken octet count, whose rest was dropped. */
		tls_close(t->ssl, t->sound && lines && !p->bad_frame);
		if (t->in != NULL)
			evbuffer_free(t->in);
		free(t->tail);
		free(t);
	} else if (!peer_is_tls(p) && p->bev != NULL) {
		bufferevent_free(p->bev);
	}
	if (p->wait_ev != NULL)
		event_free(p->wait_ev);
	p->bev = NULL;
	p->tls = NULL;
	p->wait_ev = NULL;
	close(p->fd);
	p->fd = -1;
	TAILQ_INSERT_TAIL(&ps->dead, p, entry);
	event_active(ps->reap_ev, EV_READ, 0);
}

/* The callbacks have unwound: free the peers closed meanwhile. */
static void
peer_reap_cb(evutil_socket_t fd, short what, void *arg)
{
	struct peers *ps = arg;
	struct peer *p;

	(void)fd;
	(void)what;
	while ((p = TAILQ_FIRST(&ps->dead)) != NULL) {
		TAILQ_REMOVE(&ps->dead, p, entry);
		free(p);
	}
}

/* The client was just read from: it has not been silent, and it goes to
 * the tail of the list, so peer_resume_all reads the least recently read
 * first. */
static void
peer_heard(struct peer *p)
{
	struct peers *ps = p->conf->server->peers;

	p->heard = p->conf->server->now;
	TAILQ_REMOVE(&ps->live, p, entry);
	TAILQ_INSERT_TAIL(&ps->live, p, entry);
}

/*
 * With read, and while the output can take records, read the client once
 * more (peer_read) and close it if it is done. Otherwise remember what its
 * input buffer holds, which tells peer_read_cb how much libevent's next
 * read brought.
 */
static void
peer_read_more(struct peer *p, bool read)
{
	const char *reason = NULL;

	if (read && server_can_log(p->conf->server) &&
	    peer_read(p, &reason) == 0) {
		peer_close(p, reason);
		return;
	}
	p->left = (unsigned)evbuffer_get_length(bufferevent_get_input(p->bev));
}

/* Whether p is still in its PROXY header or its TLS handshake. */
static inline bool
peer_handshaking(const struct peer *p)
{
	return p->phase == PEER_PROXY ||
	       (peer_is_tls(p) && p->phase == PEER_ACCEPTED);
}

/* Milliseconds left of a handshake's --handshake-timeout (counted from
 * the accept), at least 1; or -1 for no limit. */
static long long
peer_handshake_left(const struct peer *p)
{
	const struct server *s = p->conf->server;
	long long limit = (long long)s->opts->handshake_timeout * 1000;

	if (limit == 0)
		return -1;
	long long left = limit - (s->now - p->heard);
	return left > 0 ? left : 1;
}

/* The time the current phase may take, or NULL for no limit: what is left
 * of the handshake deadline, or the idle timeout while it sends lines. */
static const struct timeval *
peer_deadline(const struct peer *p, struct timeval *tv)
{
	const struct server *s = p->conf->server;

	if (peer_handshaking(p)) {
		long long left = peer_handshake_left(p);
		if (left < 0)
			return NULL;
		tv->tv_sec = (time_t)(left / 1000);
		tv->tv_usec = (suseconds_t)(left % 1000 * 1000);
		return tv;
	}
	if (s->opts->idle_timeout == 0)
		return NULL;
	tv->tv_sec = (time_t)s->opts->idle_timeout;
	tv->tv_usec = 0;
	return tv;
}

/* Arm the read side, and close the peer when that fails: a peer that is
 * never read again would hang silently. False when it was closed. */
static bool
peer_arm(struct peer *p, const struct timeval *tv)
{
	bool bev = !peer_is_tls(p) && p->bev != NULL;
	int rc = bev ? bufferevent_set_timeouts(p->bev, tv, NULL) |
	                   bufferevent_enable(p->bev, EV_READ)
	             : event_add(p->wait_ev, tv);

	/* Bytes OpenSSL read ahead do not make the socket readable. */
	if (rc == 0 && peer_is_tls(p) && p->phase == PEER_LINES &&
	    tls_pending(p->tls->ssl))
		event_active(p->wait_ev, EV_READ, 0);

	if (rc == 0)
		return true;
	report("%s: cannot watch the connection", p->addr);
	peer_close(p, "error");
	return false;
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
	struct server *s = p->conf->server;
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t len = evbuffer_get_length(in);
	size_t got = len > p->left ? len - p->left : 0;

	server_clock(s);
	peer_heard(p);
	if (p->short_timeout) {
		struct timeval tv;
		bufferevent_set_timeouts(bev, peer_deadline(p, &tv), NULL);
		p->short_timeout = false;
	}
	bool blocked = peer_process(p, false);
	if (p->bad_frame) {
		peer_close(p, "framing");
		return;
	}
	peer_read_more(p, !blocked && got >= PEER_LIBEVENT_READ);
}

/* End of stream, error or idle timeout: the client is done. */
static void
peer_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct peer *p = arg;
	const char *reason = "error";

	(void)bev;
	server_clock(p->conf->server);
	if (what & BEV_EVENT_EOF)
		reason = "eof";
	else if (what & BEV_EVENT_TIMEOUT)
		reason = "timeout";
	else if ((what & BEV_EVENT_ERROR) && errno == ECONNRESET)
		reason = "reset";
	peer_close(p, reason);
}

/*
 * Give the peer its bufferevent, on its first byte (or at shutdown): until
 * then a silent client costs a plain read event and no buffers at all.
 * Returns 0, or -1 when memory ran out.
 */
static int
peer_start(struct peer *p)
{
	struct server *s = p->conf->server;
	struct timeval tv;

	if (peer_is_tls(p) || p->bev != NULL)
		return 0;
	/* The peer owns the socket and closes it in peer_close. */
	p->bev = bufferevent_socket_new(s->base, p->fd, 0);
	if (p->bev == NULL)
		return -1;
	event_free(p->wait_ev);
	p->wait_ev = NULL;
	/* No read watermark is needed to bound the input: a read callback
	 * leaves less than FRAME_WINDOW(max_line) bytes behind unless the
	 * output filled up, and then reading stops until what was left is
	 * logged. */
	bufferevent_setcb(p->bev, peer_read_cb, NULL, peer_event_cb, p);
	if (s->paused || s->stopping)
		return 0;
	return peer_arm(p, peer_deadline(p, &tv)) ? 0 : 1;
}

/* The connection enters its lines phase: the connect record (with kv for
 * its detail), then reading (unless input is paused). */
static void
peer_lines(struct peer *p, const struct record_kv *kv, size_t nkv)
{
	struct server *s = p->conf->server;
	struct timeval tv;

	p->phase = PEER_LINES;
	s->counters.proto[p->conf->proto].connects++;
	s->counters.proto[p->conf->proto].clients++;
	server_log(s, counters_proto_name(p->conf->proto), p->addr,
	    RECORD_CONNECT, NULL, 0, kv, nkv);
	if (peer_is_tls(p))
		peer_tls_watch(p, EV_READ);
	else if (!s->paused && !s->stopping)
		peer_arm(p, peer_deadline(p, &tv));
}

/*
 * Watch a TLS client's socket for what (EV_READ or EV_WRITE, what OpenSSL
 * waits for): for reading persistently once it sends lines, else once.
 * Armed with the phase's deadline unless input is paused (resuming arms it).
 */
static void
peer_tls_watch(struct peer *p, short what)
{
	struct server *s = p->conf->server;
	short want = what;
	struct timeval tv;

	if (what == EV_READ && p->phase == PEER_LINES)
		want |= EV_PERSIST;
	if (event_get_events(p->wait_ev) != want) {
		event_del(p->wait_ev);
		event_assign(p->wait_ev, s->base, p->fd, want, peer_wait_cb, p);
	} else if ((want & EV_PERSIST) &&
	           event_pending(p->wait_ev, EV_READ, NULL)) {
		return;
	}
	if (!s->paused && !s->stopping)
		peer_arm(p, peer_deadline(p, &tv));
}

/* Refuse a client in its PROXY header or TLS handshake: a reject record
 * (reason why, and the n key=values at kv), then closed without a
 * disconnect record. */
static void
peer_reject(struct peer *p, enum reject_reason why, const struct record_kv *kv,
    size_t n)
{
	struct server *s = p->conf->server;

	server_reject(
	    s, counters_proto_name(p->conf->proto), p->addr, why, kv, n);
	peer_close(p, NULL);
}

/* The fields every msg record of a client with a certificate carries
 * (JSON or fields; text records have none): cn and fp. */
static int
peer_tls_tail(struct peer *p, const struct tls_client *c)
{
	const struct record_kv kv[] = {
	    {"cn", c->name_len > 0 ? c->name : "", c->name_len},
	    {"fp", c->fp, CERTNAME_FP_HEX},
	};
	char *t = malloc(RECORD_TAIL_MAX);

	if (t == NULL)
		return -1;
	p->tls->tail_len =
	    record_tail(t, p->conf->server->fmt, kv, sizeof kv / sizeof kv[0]);
	p->tls->tail = t;
	return 0;
}

/*
 * The handshake is done: refuse a name --client-name does not permit, else
 * the connect record (tls=, cipher=, and cn=, fp= for a certificate) and
 * the lines phase.
 */
static void
peer_tls_admit(struct peer *p)
{
	struct server *s = p->conf->server;
	struct tls_client c;
	struct record_kv kv[5];
	size_t nkv = 0;

	tls_identify(s->tls, p->tls->ssl, &c);
	kv[nkv++] = (struct record_kv){"tls", c.version, 0};
	kv[nkv++] = (struct record_kv){"cipher", c.cipher, 0};
	if (c.cert) {
		kv[nkv++] = (struct record_kv){
		    "cn", c.name_len > 0 ? c.name : "", c.name_len};
		kv[nkv++] = (struct record_kv){"fp", c.fp, 0};
	}
	if (!c.permitted) {
		peer_reject(p, REJECT_CLIENT_NAME, kv + 2, nkv - 2);
		return;
	}
	if (p->tls->via[0] != '\0')
		kv[nkv++] = (struct record_kv){"via", p->tls->via, 0};
	if ((c.cert && s->fmt != RECORD_TEXT && peer_tls_tail(p, &c) != 0) ||
	    (p->tls->in = evbuffer_new()) == NULL) {
		peer_reject(p, REJECT_ERROR, NULL, 0);
		return;
	}
	p->heard = s->now; /* its idle time starts now */
	peer_lines(p, kv, nkv);
}

/*
 * One step of a TLS client's handshake, its OpenSSL connection made on its
 * first byte (a client that never sends costs none). A failure is a reject
 * with OpenSSL's reason; true when the handshake is done.
 */
static bool
peer_tls_handshake(struct peer *p)
{
	struct server *s = p->conf->server;
	char err[TLS_ERR_MAX];

	if (p->tls == NULL && (p->tls = calloc(1, sizeof(*p->tls))) == NULL) {
		peer_reject(p, REJECT_ERROR, NULL, 0);
		return false;
	}
	if (p->tls->ssl == NULL) {
		if ((p->tls->ssl = tls_new(s->tls, p->fd)) == NULL) {
			peer_reject(p, REJECT_ERROR, NULL, 0);
			return false;
		}
		p->tls->sound = true;
	}
	enum tls_step st = tls_handshake(p->tls->ssl, err, sizeof err);
	if (st == TLS_OK) {
		peer_tls_admit(p);
		return p->phase == PEER_LINES;
	}
	if (st == TLS_WANT_READ || st == TLS_WANT_WRITE) {
		peer_tls_watch(p, st == TLS_WANT_WRITE ? EV_WRITE : EV_READ);
		return false;
	}
	struct record_kv kv[] = {{"error", err, strlen(err)}};
	p->tls->sound = false;
	peer_reject(p, REJECT_TLS, kv, 1);
	return false;
}

/*
 * A TLS client sending lines is readable (or writable, when OpenSSL had
 * something to send, or silent too long). One read of up to PEER_READ
 * bytes a pass; when OpenSSL holds more, the event is made active again
 * so the next pass reads on, as the socket will not say so.
 */
static void
peer_tls_input(struct peer *p, short what)
{
	struct server *s = p->conf->server;
	const char *reason = NULL;
	struct timeval tv;

	if (what & EV_TIMEOUT) {
		peer_close(p, "timeout");
		return;
	}
	if (!(event_get_events(p->wait_ev) & EV_PERSIST))
		peer_tls_watch(p, EV_READ); /* the write OpenSSL waited for */
	peer_heard(p);
	if (p->short_timeout) {
		event_add(p->wait_ev, peer_deadline(p, &tv));
		p->short_timeout = false;
	}
	if (p->held && peer_process(p, false))
		return;
	if (p->bad_frame) {
		peer_close(p, "framing");
		return;
	}
	if (!server_can_log(s))
		return;
	ssize_t n = peer_read(p, &reason);
	if (n == 0)
		peer_close(p, reason);
	else if (n > 0 && !p->held && tls_pending(p->tls->ssl))
		event_active(p->wait_ev, EV_READ, 0);
}

/* A TLS client's socket event: its handshake, then its lines. */
static void
peer_tls_cb(struct peer *p, short what)
{
	if (p->phase == PEER_LINES)
		peer_tls_input(p, what);
	else if (what & EV_TIMEOUT)
		peer_handshake_expired(p);
	else
		peer_tls_handshake(p);
}

/* The deadline of the header or handshake passed. */
static void
peer_handshake_expired(struct peer *p)
{
	static const char timeout[] = "timeout";
	struct record_kv kv[] = {{"error", timeout, sizeof(timeout) - 1}};

	if (p->phase == PEER_PROXY)
		peer_reject(p, REJECT_PROXY, kv, 1);
	else
		peer_reject(p, REJECT_HANDSHAKE_TIMEOUT, NULL, 0);
}

/*
 * The header is done: the connection is the client's it names (or, for a
 * LOCAL or UNKNOWN header, the proxy's own), judged by --allow and
 * --max-per-source as that client, and goes on to its TLS handshake or its
 * lines, watched level-triggered again.
 */
static void
peer_proxy_done(struct peer *p, const struct proxy_hdr *h)
{
	struct server *s = p->conf->server;
	struct peers *ps = s->peers;
	char via[ADDR_STRLEN] = "";

	if (!h->local) {
		const struct sockaddr *sa = (const struct sockaddr *)&h->src;
		memcpy(via, p->addr, sizeof(via));
		addr_format(sa, p->addr);
		if (!server_allowed(s, sa)) {
			peer_reject(p, REJECT_ACL, NULL, 0);
			return;
		}
		if (s->opts->max_per_source > 0) {
			struct source_key src;
			source_key(sa, &src);
			if (source_count(&ps->sources, &src) >=
			    s->opts->max_per_source) {
				peer_reject(p, REJECT_MAX_PER_SOURCE, NULL, 0);
				return;
			}
			/* Counted as the client from now on, not the proxy. */
			if (source_add(&ps->sources, &src) != 0) {
				peer_reject(p, REJECT_ERROR, NULL, 0);
				return;
			}
			source_del(&ps->sources, &p->src[0]);
			p->src[0] = src;
		}
	}
	event_del(p->wait_ev);
	event_assign(p->wait_ev, s->base, p->fd, EV_READ, peer_wait_cb, p);
	p->phase = PEER_ACCEPTED;
	if (peer_is_tls(p)) {
		/* Its TLS state begins here, to hold via until the connect
		 * record; OpenSSL's part still waits for the first byte. */
		if ((p->tls = calloc(1, sizeof(*p->tls))) == NULL) {
			peer_reject(p, REJECT_ERROR, NULL, 0);
			return;
		}
		memcpy(p->tls->via, via, sizeof(via));
		peer_tls_watch(p, EV_READ);
		return;
	}
	struct record_kv kv[] = {{"via", via, 0}};
	peer_lines(p, kv, via[0] != '\0' ? 1 : 0);
}

/*
 * A trusted source's bytes came (edge-triggered: each arrival once). The
 * header is read by peeking, so nothing after it is taken off the socket;
 * once it is whole, exactly its bytes are. A client silent after a partial
 * header waits for more bytes or its deadline, with no busy loop; one that
 * closes after it (EV_CLOSED: the FIN peeking cannot see) is refused.
 */
static void
peer_proxy_cb(struct peer *p, short what)
{
	char buf[PROXY_MAX];
	struct proxy_hdr h;
	ssize_t n;

	if (what & EV_TIMEOUT) {
		peer_handshake_expired(p);
		return;
	}
	do
		n = recv(p->fd, buf, sizeof(buf), MSG_PEEK | MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return;
	const char *why = n == 0  ? "eof before the header"
	                  : n < 0 ? strerror(errno)
	                          : NULL;
	enum proxy_result r = PROXY_ERROR;
	if (why == NULL) {
		r = proxy_parse(buf, (size_t)n, &h);
		if (r == PROXY_ERROR)
			why = h.error;
		else if (r == PROXY_NEED && (size_t)n == sizeof(buf))
			why = "header too long";
		else if (r == PROXY_NEED && (what & EV_CLOSED))
			why = "eof before the header";
	}
	if (why == NULL && r == PROXY_DONE &&
	    recv(p->fd, buf, h.len, MSG_DONTWAIT) != (ssize_t)h.len)
		why = "short read";
	if (why != NULL) {
		struct record_kv kv[] = {{"error", why, strlen(why)}};
		peer_reject(p, REJECT_PROXY, kv, 1);
		return;
	}
	if (r == PROXY_DONE)
		peer_proxy_done(p, &h);
}

/* A silent client became readable (or stayed silent too long). */
static void
peer_wait_cb(evutil_socket_t fd, short what, void *arg)
{
	struct peer *p = arg;
	int rc;

	(void)fd;
	server_clock(p->conf->server);
	if (p->phase == PEER_PROXY) {
		peer_proxy_cb(p, what);
		return;
	}
	if (peer_is_tls(p)) {
		peer_tls_cb(p, what);
		return;
	}
	if (what & EV_TIMEOUT) {
		peer_close(p, "timeout");
		return;
	}
	if ((rc = peer_start(p)) != 0) {
		if (rc < 0)
			peer_close(p, "error");
		return;
	}
	/* Read now, up to PEER_READ bytes, rather than wait a pass for the
	 * bufferevent's first 4 KiB; it reads whatever follows. */
	peer_heard(p);
	peer_read_more(p, true);
}

/* Refuse a connection: a (rate-limited) reject record, closed at once. */
static void
peer_refuse(struct server *s, const struct listen_conf *conf, int fd,
    const char *addr, enum reject_reason why)
{
	server_reject(s, counters_proto_name(conf->proto), addr, why, NULL, 0);
	close(fd);
}

/* A new connection from a listener: admit it as a peer or reject it. */
void
peer_accept(struct server *s, const struct listen_conf *conf, int fd,
    const struct sockaddr *sa)
{
	struct peers *ps = s->peers;
	char addr[ADDR_STRLEN];
	struct source_key src;
	struct peer *p;

	server_clock(s);
	addr_format(sa, addr);
	source_key(sa, &src);
	/* A trusted load balancer's connections are judged by --allow and
	 * --max-per-source as the client its header names. */
	bool proxied = s->opts->nproxy > 0 && server_trusted(s, sa);
	if (!proxied && !server_allowed(s, sa)) {
		peer_refuse(s, conf, fd, addr, REJECT_ACL);
		return;
	}
	if (ps->n >= s->opts->max_clients) {
		peer_refuse(s, conf, fd, addr, REJECT_MAX_CLIENTS);
		return;
	}
	if (!proxied && s->opts->max_per_source > 0 &&
	    source_count(&ps->sources, &src) >= s->opts->max_per_source) {
		peer_refuse(s, conf, fd, addr, REJECT_MAX_PER_SOURCE);
		return;
	}
	bool per_source = s->opts->max_per_source > 0;
	p = calloc(1, sizeof(*p) + (per_source ? sizeof(src) : 0));
	if (p != NULL)
		p->wait_ev = event_new(s->base, fd, EV_READ, peer_wait_cb, p);
	if (p == NULL || p->wait_ev == NULL ||
	    (per_source && source_add(&ps->sources, &src) != 0)) {
		if (p != NULL && p->wait_ev != NULL)
			event_free(p->wait_ev);
		free(p);
		peer_refuse(s, conf, fd, addr, REJECT_ERROR);
		return;
	}
	p->conf = conf;
	p->phase = proxied ? PEER_PROXY : PEER_ACCEPTED;
	p->fd = fd;
	p->heard = s->now;
	if (per_source)
		p->src[0] = src;
	memcpy(p->addr, addr, sizeof(addr));
	TAILQ_INSERT_TAIL(&ps->live, p, entry);
	ps->n++;
	/* The clients waiting in the listen queue wait there until one of
	 * these goes: the reserve stays free. */
	if (!peer_room(s))
		listen_starved(s, EMFILE);
	/* A PROXY header, then a TLS client's handshake, come first, within
	 * their deadline. The header is watched edge-triggered: it is
	 * peeked at, and a partial one stays unread until more comes. */
	if (proxied)
		event_assign(p->wait_ev, s->base, fd,
		    EV_READ | EV_CLOSED | EV_ET | EV_PERSIST, peer_wait_cb, p);
	if (proxied || peer_is_tls(p)) {
		struct timeval tv;
		if (!s->paused && !s->stopping)
			peer_arm(p, peer_deadline(p, &tv));
	} else {
		peer_lines(p, NULL, 0);
	}
}

/* Stop reading from every client (the output is behind). */
void
peer_pause_all(struct server *s)
{
	struct peer *p;

	TAILQ_FOREACH (p, &s->peers->live, entry) {
		if (!peer_is_tls(p) && p->bev != NULL)
			bufferevent_disable(p->bev, EV_READ);
		else
			event_del(p->wait_ev);
	}
}

/*
 * Log what waited in the input buffers while the output was full. Returns
 * true when the output filled up again first.
 */
bool
peer_unload_all(struct server *s)
{
	struct peer *p, *next;

	for (p = TAILQ_FIRST(&s->peers->live); p != NULL; p = next) {
		next = TAILQ_NEXT(p, entry);
		if (!p->held)
			continue;
		bool full = peer_process(p, false);
		if (p->bad_frame)
			peer_close(p, "framing");
		else if (full)
			return true;
	}
	return false;
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
 * (bytes, FIN, RST) waits unread.
 */
static void
peer_expire(struct peer *p)
{
	struct server *s = p->conf->server;
	long long idle = (long long)s->opts->idle_timeout * 1000;
	long long hs = (long long)s->opts->handshake_timeout * 1000;

	if (peer_handshaking(p)) {
		if (hs > 0 && s->now - p->heard >= hs)
			peer_handshake_expired(p);
		return;
	}
	if (idle == 0 || idle - (s->now - p->heard) > 0)
		return;
	if (peer_is_tls(p) && tls_pending(p->tls->ssl)) {
		p->heard = s->now;
		return;
	}
	int r = peer_peek(p->fd);
	if (r == 0)
		peer_close(p, "timeout");
	else if (r < 0)
		peer_close(p, errno == ECONNRESET ? "reset" : "error");
	else
		p->heard = s->now;
}

/* Every resume, also one the output cuts short, so silent clients time out
 * under an output that keeps filling up. */
void
peer_expire_all(struct server *s)
{
	struct peer *p, *next;

	for (p = TAILQ_FIRST(&s->peers->live); p != NULL; p = next) {
		next = TAILQ_NEXT(p, entry);
		peer_expire(p);
	}
}

/*
 * Read again after a pause (peer_expire_all has run): arm the idle timeout
 * for what is left of it, so a silent client is still closed on time.
 * Enabled in the list's order: least recently read first (peer_read_cb
 * moves a client to the tail), so the clients an output that keeps filling
 * up left unread last time are read first this time.
 */
void
peer_resume_all(struct server *s)
{
	long long idle = (long long)s->opts->idle_timeout * 1000;
	struct peer *p, *next;

	for (p = TAILQ_FIRST(&s->peers->live); p != NULL; p = next) {
		long long left = idle - (s->now - p->heard);
		struct timeval tv = {0, 0};
		const struct timeval *t = NULL;

		next = TAILQ_NEXT(p, entry);
		if (peer_handshaking(p)) {
			peer_arm(p, peer_deadline(p, &tv));
			continue;
		}
		if (p->phase != PEER_LINES)
			continue;
		if (idle > 0) {
			tv.tv_sec = (time_t)(left / 1000);
			tv.tv_usec = (suseconds_t)(left % 1000 * 1000);
			t = &tv;
		}
		p->short_timeout = (peer_is_tls(p) || p->bev != NULL) &&
		                   t != NULL && left < idle;
		peer_arm(p, t);
	}
}

/*
 * Shutdown: read what the kernel holds for this client (it was received,
 * so it is logged), then close it. Returns false when the output filled up
 * first: it goes on from there once the output takes more.
 */
static bool
peer_drain(struct peer *p)
{
	const char *reason = "shutdown";
	int rc;

	/* A TLS client whose handshake can finish with what it sent is
	 * served; any other has sent nothing that is a message. */
	if (peer_handshaking(p) &&
	    (p->phase == PEER_PROXY || p->tls == NULL || p->tls->ssl == NULL ||
	        !peer_tls_handshake(p))) {
		if (p->phase != PEER_CLOSED)
			peer_close(p, NULL);
		return true;
	}
	if ((rc = peer_start(p)) != 0) {
		peer_close(p, "error");
		return true;
	}
	/* What waited in the input buffer goes first. */
	bool full = peer_process(p, false);
	if (p->bad_frame) {
		peer_close(p, "framing");
		return true;
	}
	if (full)
		return false;
	while (p->drained < PEER_DRAIN_MAX) {
		if (!server_can_log(p->conf->server))
			return false;
		ssize_t n = peer_read(p, &reason);
		if (n < 0)
			break;
		if (n == 0)
			break;
		p->drained += (unsigned)n;
		if (p->held)
			return false;
	}
	peer_close(p, reason);
	return true;
}

/* Shutdown: drain and close every client; false when the output filled up
 * first (see peer_drain). */
bool
peer_drain_all(struct server *s)
{
	struct peer *p;

	while ((p = TAILQ_FIRST(&s->peers->live)) != NULL)
		if (!peer_drain(p))
			return false;
	return true;
}

/* Count the descriptors open now. */
static size_t
peer_open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	size_t n = 0;

	if (d == NULL)
		return 0;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n > 0 ? n - 1 : 0; /* not the directory's own */
}

/*
 * Everything is open: set how many clients the descriptor limit leaves room
 * for, keeping PEER_FD_RESERVE free, so a reopen and the accept that
 * rejects one client too many always find a descriptor (OpenBSD syslogd's
 * FD_RESERVE).
 */
void
peer_limit(struct server *s)
{
	struct peers *ps = s->peers;
	struct rlimit rl;

	ps->fd_room = SIZE_MAX;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
		return;
	size_t used = peer_open_fds() + PEER_FD_RESERVE + metrics_reserve(s);
	ps->fd_room = rl.rlim_cur > used ? (size_t)rl.rlim_cur - used : 0;
}

/* Whether one more client leaves the descriptor reserve untouched. */
bool
peer_room(const struct server *s)
{
	return s->peers->n < s->peers->fd_room;
}

/* Make the server's client list (see server.h). */
int
peer_init(struct server *s)
{
	struct peers *ps = calloc(1, sizeof(*ps));

	if (ps == NULL)
		return -1;
	s->peers = ps;
	TAILQ_INIT(&ps->live);
	TAILQ_INIT(&ps->dead);
	ps->fd_room = SIZE_MAX;
	ps->rdbuf = malloc(PEER_READ);
	ps->reap_ev = event_new(s->base, -1, 0, peer_reap_cb, ps);
	if (ps->rdbuf == NULL || ps->reap_ev == NULL)
		return -1;
	/* The hash seed: a client cannot choose addresses that collide. */
	ps->sources.seed = (unsigned long long)(uintptr_t)ps ^
	                   (unsigned long long)s->now * 0x9e3779b97f4a7c15ull;
	return 0;
}

/* Close every client without a record (start-up failed) and free. */
void
peer_free_all(struct server *s)
{
	struct peers *ps = s->peers;
	struct peer *p;

	if (ps == NULL)
		return;
	while ((p = TAILQ_FIRST(&ps->live)) != NULL) {
		p->phase = PEER_ACCEPTED; /* no disconnect record */
		peer_close(p, NULL);
	}
	peer_reap_cb(-1, 0, ps);
	if (ps->reap_ev != NULL)
		event_free(ps->reap_ev);
	source_free(&ps->sources);
	free(ps->rdbuf);
	free(ps);
	s->peers = NULL;
}
