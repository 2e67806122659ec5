/*
 * The /metrics endpoint (see metrics.h): libevent's evhttp on the server's
 * loop, answering GET and HEAD with the page metrics_render makes from one
 * server_snapshot. Every scrape is answered at once from memory, so none
 * can hold up logging. What a scraper can make it hold is bounded:
 * METRICS_CONN_MAX connections (accepting pauses at that many; more wait in
 * the listen queue), headers and body of a request, a read high watermark
 * on each connection (evhttp goes on reading while its answer waits to be
 * written), one answer at a time per connection, and a timeout on every
 * read and write.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>

#include "config.h"
#include "metrics.h"
#include "prog.h"
#include "server.h"
#include "sock.h"

/* Seconds a connection may take to send a request or to read an answer;
 * Prometheus's default scrape timeout. */
#define METRICS_TIMEOUT_S 10
/* A request's headers and body, at most: a scrape has no body. */
#define METRICS_HEADERS_MAX 8192
#define METRICS_BODY_MAX 1024
/* What a connection's input buffer may hold while its answer is written. */
#define METRICS_INPUT_MAX 65536
/* The page's first buffer; it grows to what the page needs. */
#define METRICS_PAGE_MIN 8192

/* The endpoint: evhttp, its sockets and the connections it serves. */
struct metrics {
	struct server *server;
	struct evhttp *http;
	struct evhttp_bound_socket *socks[SOCK_PER_ADDR];
	size_t nsocks;
	bool announced; /* metrics_announce ran: accepting may begin */
	bool closing;   /* metrics_free: evhttp is closing connections */
	size_t conns;   /* connections evhttp holds, counted from accept */
	/* Bufferevents made for new connections, not yet tied to theirs. */
	struct bufferevent *fresh[METRICS_CONN_MAX + 1];
	size_t nfresh;
	struct event *adopt_ev; /* ties them, once accept has returned */
	char *page;
	size_t cap;
	struct metrics_process proc;
};

/* Accept while there is room for a connection, else leave the rest in
 * the listen queue. Applied to every socket each time: a connection that
 * ends gives a descriptor back, so one paused for want of them may go on. */
static void
metrics_update(struct metrics *m)
{
	bool on = m->announced && m->conns < METRICS_CONN_MAX;

	if (m->closing)
		return;
	for (size_t i = 0; i < m->nsocks; i++) {
		struct evconnlistener *lev =
		    evhttp_bound_socket_get_listener(m->socks[i]);
		if (on)
			evconnlistener_enable(lev);
		else
			evconnlistener_disable(lev);
	}
}

/* A connection evhttp served is gone. */
static void
metrics_closed_cb(struct evhttp_connection *evcon, void *arg)
{
	struct metrics *m = arg;

	(void)evcon;
	m->conns--;
	metrics_update(m);
}

/*
 * After the accept: tie each new connection's close to the count. evhttp
 * gives a connection's bufferevent the connection as its callback
 * argument (libevent 2.1 has no evhttp_set_max_connections and no call
 * for a new connection), checked through the public getter before use.
 * One that evhttp already freed has no callbacks left (the reference
 * taken in metrics_bev_cb kept it readable).
 */
static void
metrics_adopt_cb(evutil_socket_t fd, short what, void *arg)
{
	struct metrics *m = arg;

	(void)fd;
	(void)what;
	for (size_t i = 0; i < m->nfresh; i++) {
		struct bufferevent *bev = m->fresh[i];
		bufferevent_event_cb ecb = NULL;
		void *cbarg = NULL;
		bufferevent_getcb(bev, NULL, NULL, &ecb, &cbarg);
		struct evhttp_connection *evcon = cbarg;
		if (ecb != NULL && evcon != NULL &&
		    evhttp_connection_get_bufferevent(evcon) == bev)
			evhttp_connection_set_closecb(
			    evcon, metrics_closed_cb, m);
		else
			m->conns--;
		bufferevent_decref(bev);
	}
	m->nfresh = 0;
	metrics_update(m);
}

/*
 * evhttp accepted a connection and asks for its bufferevent: counted from
 * here, with its read high watermark. At METRICS_CONN_MAX accepting stops
 * (libevent's accept loop checks for that after each connection).
 */
static struct bufferevent *
metrics_bev_cb(struct event_base *base, void *arg)
{
	struct metrics *m = arg;
	struct bufferevent *bev = bufferevent_socket_new(base, -1, 0);

	if (bev == NULL)
		return NULL; /* evhttp tries its own, uncounted */
	bufferevent_setwatermark(bev, EV_READ, 0, METRICS_INPUT_MAX);
	if (m->nfresh < sizeof(m->fresh) / sizeof(m->fresh[0])) {
		bufferevent_incref(bev);
		m->fresh[m->nfresh++] = bev;
		m->conns++;
		event_active(m->adopt_ev, EV_TIMEOUT, 0);
	}
	metrics_update(m);
	return bev;
}

/* Make the page buffer hold need bytes; false when memory ran out. */
static bool
metrics_room(struct metrics *m, size_t need)
{
	if (need <= m->cap)
		return true;
	size_t cap = m->cap > 0 ? m->cap : METRICS_PAGE_MIN;
	while (cap < need)
		cap *= 2;
	char *page = realloc(m->page, cap);
	if (page == NULL)
		return false;
	m->page = page;
	m->cap = cap;
	return true;
}

/* An answer other than the page: a line of text. (evhttp_send_error would
 * drop the headers set, and Allow with them.) */
static void
metrics_refuse(struct evhttp_request *req, int code, const char *reason)
{
	struct evkeyvalq *headers = evhttp_request_get_output_headers(req);

	evbuffer_add_printf(
	    evhttp_request_get_output_buffer(req), "%d %s\n", code, reason);
	evhttp_add_header(headers, "Content-Type", "text/plain; charset=utf-8");
	evhttp_send_reply(req, code, reason, NULL);
}

/* A request: GET or HEAD /metrics gets the page, another path 404, another
 * method on /metrics 405 (a method evhttp does not know gets its 501). */
static void
metrics_request_cb(struct evhttp_request *req, void *arg)
{
	struct metrics *m = arg;
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	struct evkeyvalq *headers = evhttp_request_get_output_headers(req);
	struct counters_snapshot snap;

	if (path == NULL || strcmp(path, "/metrics") != 0) {
		metrics_refuse(req, HTTP_NOTFOUND, "Not Found");
		return;
	}
	if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
		evhttp_add_header(headers, "Allow", "GET, HEAD");
		metrics_refuse(req, HTTP_BADMETHOD, "Method Not Allowed");
		return;
	}
	server_clock(m->server);
	server_snapshot(m->server, &snap);
	size_t n = metrics_render(m->page, m->cap, &snap, &m->proc);
	if (n >= m->cap) {
		if (!metrics_room(m, n + 1)) {
			metrics_refuse(req, HTTP_SERVUNAVAIL, "Out Of Memory");
			return;
		}
		n = metrics_render(m->page, m->cap, &snap, &m->proc);
	}
	if (evbuffer_add(evhttp_request_get_output_buffer(req), m->page, n) !=
	        0 ||
	    evhttp_add_header(headers, "Content-Type",
	        "text/plain; version=0.0.4; charset=utf-8") != 0) {
		metrics_refuse(req, HTTP_SERVUNAVAIL, "Out Of Memory");
		return;
	}
	evhttp_send_reply(req, HTTP_OK, "OK", NULL);
}

/* Accepting again a second after descriptors ran out. */
static void
metrics_resume_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	evconnlistener_enable(arg);
}

/*
 * accept failed (out of descriptors or memory): without this evhttp's
 * listener would wake the loop again at once, for ever. It pauses for a
 * second. (The listener's argument is evhttp's, so the timer is a
 * one-shot on the listener alone; metrics_bev_cb stops it again should
 * the connections be at their limit by then.)
 */
static void
metrics_accept_error_cb(struct evconnlistener *lev, void *http)
{
	static const struct timeval pause = {1, 0};
	int e = errno;

	(void)http;
	evconnlistener_disable(lev);
	report("metrics accept: %s; pausing accept for %lds", strerror(e),
	    (long)pause.tv_sec);
	if (event_base_once(evconnlistener_get_base(lev), -1, EV_TIMEOUT,
	        metrics_resume_cb, lev, &pause) != 0)
		report("metrics: cannot set a timer; accepting has stopped");
}

/* Make the endpoint: evhttp with its limits, on the server's loop. */
static int
metrics_new(struct server *s, char *err, size_t errlen)
{
	struct metrics *m = calloc(1, sizeof(*m));
	struct timespec now;

	if (m == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	s->metrics = m;
	m->server = s;
	clock_gettime(CLOCK_REALTIME, &now);
	m->proc.start_ms = (unsigned long long)now.tv_sec * 1000 +
	                   (unsigned long long)now.tv_nsec / 1000000;
	m->proc.version = PEERLOG_VERSION;
	m->http = evhttp_new(s->base);
	m->adopt_ev = event_new(s->base, -1, 0, metrics_adopt_cb, m);
	if (m->http == NULL || m->adopt_ev == NULL ||
	    !metrics_room(m, METRICS_PAGE_MIN)) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	evhttp_set_gencb(m->http, metrics_request_cb, m);
	evhttp_set_bevcb(m->http, metrics_bev_cb, m);
	evhttp_set_timeout(m->http, METRICS_TIMEOUT_S);
	evhttp_set_max_headers_size(m->http, METRICS_HEADERS_MAX);
	evhttp_set_max_body_size(m->http, METRICS_BODY_MAX);
	/* Every method evhttp knows reaches metrics_request_cb, which says
	 * 405 (evhttp's own answer to the others is 501). */
	evhttp_set_allowed_methods(m->http,
	    EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
	        EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS |
	        EVHTTP_REQ_TRACE | EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH);
	return 0;
}

/* Serve one bound, listening socket (closed on failure). */
static int
metrics_listen(struct metrics *m, int fd, char *err, size_t errlen)
{
	char addr[ADDR_STRLEN];

	sock_name(fd, addr);
	if (m->nsocks == SOCK_PER_ADDR) {
		snprintf(err, errlen, "metrics %s: more than %d sockets", addr,
		    SOCK_PER_ADDR);
		close(fd);
		return -1;
	}
	/* Backlog 0: the socket listens already. Disabled until
	 * metrics_announce (evhttp_bind_listener keeps it so). */
	struct evconnlistener *lev = evconnlistener_new(m->server->base, NULL,
	    NULL,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC | LEV_OPT_DISABLED, 0,
	    fd);
	if (lev == NULL) {
		snprintf(err, errlen, "metrics %s: %s", addr, strerror(errno));
		close(fd);
		return -1;
	}
	struct evhttp_bound_socket *b = evhttp_bind_listener(m->http, lev);
	if (b == NULL) {
		snprintf(err, errlen, "metrics %s: out of memory", addr);
		evconnlistener_free(lev);
		return -1;
	}
	evconnlistener_set_error_cb(lev, metrics_accept_error_cb);
	m->socks[m->nsocks++] = b;
	return 0;
}

/* A socket handed in for metrics: a listening stream socket (closed
 * otherwise); 0, or -1 with err set. */
static int
metrics_adopt(int fd, char *err, size_t errlen)
{
	int type = sock_adopt(fd, err, errlen);
	int listening = 0;
	socklen_t len = sizeof(listening);

	if (type >= 0 && (type != SOCK_STREAM ||
	                     getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN,
	                         &listening, &len) != 0 ||
	                     !listening)) {
		snprintf(err, errlen,
		    "socket %d (metrics): not a listening stream socket", fd);
		type = -1;
	}
	if (type < 0) {
		close(fd);
		return -1;
	}
	return 0;
}

/* Bind --metrics, or serve a socket handed in (see metrics.h). */
int
metrics_start(struct server *s, int fd, char *err, size_t errlen)
{
	int fds[SOCK_PER_ADDR];
	int n = 1;

	if (fd < 0 && !s->opts->metrics_set)
		return 0;
	if (s->metrics == NULL && metrics_new(s, err, errlen) != 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (fd >= 0) {
		if (metrics_adopt(fd, err, errlen) != 0)
			return -1;
		fds[0] = fd;
	} else {
		n = sock_bind(&s->opts->metrics, SOCK_STREAM,
		    s->opts->reuseport, "--metrics", fds, err, errlen);
		if (n < 0)
			return -1;
	}
	for (int i = 0; i < n; i++)
		if (metrics_listen(s->metrics, fds[i], err, errlen) != 0) {
			while (++i < n)
				close(fds[i]);
			return -1;
		}
	return 0;
}

/* Say where metrics are served, and accept (see metrics.h). */
void
metrics_announce(struct server *s)
{
	struct metrics *m = s->metrics;
	char addr[ADDR_STRLEN];

	if (m == NULL)
		return;
	for (size_t i = 0; i < m->nsocks; i++) {
		sock_name(evconnlistener_get_fd(
		              evhttp_bound_socket_get_listener(m->socks[i])),
		    addr);
		report("listening metrics %s", addr);
	}
	m->announced = true;
	metrics_update(m);
}

/* The descriptors metrics connections may take (see metrics.h): one more
 * than the limit, for an accept that resumes after a pause. */
size_t
metrics_reserve(const struct server *s)
{
	return s->metrics != NULL ? METRICS_CONN_MAX + 1 : 0;
}

/* Close the endpoint (see metrics.h). */
void
metrics_free(struct server *s)
{
	struct metrics *m = s->metrics;

	if (m == NULL)
		return;
	m->closing = true; /* the close callbacks touch no listener */
	if (m->http != NULL)
		evhttp_free(m->http);
	for (size_t i = 0; i < m->nfresh; i++)
		bufferevent_decref(m->fresh[i]);
	if (m->adopt_ev != NULL)
		event_free(m->adopt_ev);
	free(m->page);
	free(m);
	s->metrics = NULL;
}
