/* Binding the TCP listeners and UDP sockets the options name. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "server.h"

/* Pending connections the kernel may queue per listener. */
#define LISTEN_BACKLOG 4096
/* How long accepting pauses when file descriptors run out. */
static const struct timeval accept_pause = {1, 0};
/* UDP receive buffer asked for, so bursts wait in the kernel, not lost. */
#define UDP_RCVBUF (8 * 1024 * 1024)

/* The socket addresses one ADDR stands for. */
struct addr_list {
	struct sockaddr_storage ss[16];
	socklen_t len[16];
	size_t n;
};

/* Add sa to the list unless it is there already. */
static void
addr_list_add(struct addr_list *l, const struct sockaddr *sa, socklen_t len)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->len[i] == len && memcmp(&l->ss[i], sa, len) == 0)
			return;
	if (l->n < sizeof(l->ss) / sizeof(l->ss[0])) {
		memcpy(&l->ss[l->n], sa, len);
		l->len[l->n++] = len;
	}
}

/* Resolve an ADDR (at start-up, before the loop runs: blocking is fine). */
static int
resolve(const struct addr_spec *a, int socktype, struct addr_list *l, char *err,
    size_t errlen, const char *opt)
{
	memset(l, 0, sizeof(*l));
	if (a->any) {
		struct sockaddr_in sin = {.sin_family = AF_INET};
		struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6};
		sin.sin_port = htons(a->port);
		sin6.sin6_port = htons(a->port);
		addr_list_add(l, (struct sockaddr *)&sin, sizeof(sin));
		addr_list_add(l, (struct sockaddr *)&sin6, sizeof(sin6));
		return 0;
	}

	struct addrinfo hints = {.ai_socktype = socktype}, *res, *ai;
	char port[8];
	snprintf(port, sizeof(port), "%u", a->port);
	int rc = getaddrinfo(a->host, port, &hints, &res);
	if (rc != 0) {
		bool v6 = strchr(a->host, ':') != NULL;
		snprintf(err, errlen, "%s %s%s%s:%u: %s", opt, v6 ? "[" : "",
		    a->host, v6 ? "]" : "", a->port,
		    rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next)
		if (ai->ai_family == AF_INET || ai->ai_family == AF_INET6)
			addr_list_add(l, ai->ai_addr, ai->ai_addrlen);
	freeaddrinfo(res);
	return 0;
}

/*
 * A client that vanished without a FIN or RST (power loss, a cable pulled)
 * would hold its slot for ever: TCP keepalive finds it within about seven
 * minutes of silence, and it is closed with reason=error. Set on the
 * listening socket: Linux copies it into every socket accepted from it,
 * which saves four system calls per connection.
 */
static void
listen_keepalive(int fd)
{
	int on = 1, idle = 300, intvl = 30, cnt = 4;

	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
}

/* A non-blocking socket bound to sa; -1 with err filled on failure. */
static int
bind_socket(const struct sockaddr *sa, socklen_t len, int type, char *err,
    size_t errlen)
{
	char addr[ADDR_STRLEN];
	int one = 1;
	int fd = socket(sa->sa_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	addr_format(sa, addr);
	if (fd < 0) {
		snprintf(err, errlen, "socket %s: %s", addr, strerror(errno));
		return -1;
	}
	/* One socket per family: "*" binds 0.0.0.0 and [::] side by side. */
	if (sa->sa_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (type == SOCK_STREAM) {
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		listen_keepalive(fd);
	} else {
		int size = UDP_RCVBUF;
		/* Past net.core.rmem_max only with CAP_NET_ADMIN: try that
		 * first, then take what the limit allows. */
		if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size,
		        sizeof(size)) != 0)
			setsockopt(
			    fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
		/* Have the kernel report datagrams it dropped (stats). */
		setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof(one));
	}
	if (bind(fd, sa, len) != 0 ||
	    (type == SOCK_STREAM && listen(fd, LISTEN_BACKLOG) != 0)) {
		snprintf(err, errlen, "bind %s: %s", addr, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* The bound address with its real port, for the start-up line. */
static void
local_name(int fd, char *addr)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
		strcpy(addr, "-");
	else
		addr_format((struct sockaddr *)&ss, addr);
}

/* A connection was accepted. */
static void
listen_accept_cb(struct evconnlistener *lev, evutil_socket_t fd,
    struct sockaddr *sa, int socklen, void *arg)
{
	struct listener *l = arg;

	(void)lev;
	(void)socklen;
	peer_accept(l->server, fd, sa);
}

/* Accepting again after the pause for EMFILE. */
static void
listen_resume_cb(evutil_socket_t fd, short what, void *arg)
{
	struct server *s = arg;

	(void)fd;
	(void)what;
	/* While the output is stuck, accepting stays off until it drains. */
	if (!s->paused)
		listen_resume(s);
}

/*
 * accept failed. Out of descriptors, the pending connection would wake the
 * loop again at once: pause accepting for a while instead of spinning.
 */
static void
listen_error_cb(struct evconnlistener *lev, void *arg)
{
	struct listener *l = arg;
	struct server *s = l->server;
	int e = errno;

	(void)lev;
	if (e != EMFILE && e != ENFILE && e != ENOBUFS && e != ENOMEM)
		return;
	/* One line per episode, not one per second while it lasts. */
	if (!s->accept_starved)
		fprintf(stderr,
		    "peerlogd: accept %s: %s; pausing accept for %lds\n",
		    l->addr, strerror(e), (long)accept_pause.tv_sec);
	s->accept_starved = true;
	listen_pause(s);
	if (s->accept_ev == NULL)
		s->accept_ev = evtimer_new(s->base, listen_resume_cb, s);
	if (s->accept_ev != NULL)
		evtimer_add(s->accept_ev, &accept_pause);
}

/* Add a TCP listener on an already bound socket. */
static int
add_listener(struct server *s, int fd, char *err, size_t errlen)
{
	struct listener *l = &s->listeners[s->nlisteners];

	l->server = s;
	local_name(fd, l->addr);
	/* Backlog 0: the socket already listens with LISTEN_BACKLOG (-1
	 * would make libevent listen again with its default of 128). */
	l->lev = evconnlistener_new(s->base, listen_accept_cb, l,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, fd);
	if (l->lev == NULL) {
		snprintf(
		    err, errlen, "listen %s: %s", l->addr, strerror(errno));
		close(fd);
		return -1;
	}
	evconnlistener_set_error_cb(l->lev, listen_error_cb);
	s->nlisteners++;
	fprintf(stderr, "peerlogd: listening tcp %s\n", l->addr);
	return 0;
}

/* UDP datagrams are ready. */
static void
listen_udp_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	udp_read(arg, false);
}

/* Add a UDP socket on an already bound socket. */
static int
add_udp(struct server *s, int fd, char *err, size_t errlen)
{
	struct udp_sock *u = &s->udps[s->nudps];

	u->server = s;
	u->fd = fd;
	local_name(fd, u->addr);
	u->ev = event_new(s->base, fd, EV_READ | EV_PERSIST, listen_udp_cb, u);
	if (u->ev == NULL || event_add(u->ev, NULL) != 0) {
		snprintf(err, errlen, "udp %s: cannot watch socket", u->addr);
		if (u->ev != NULL)
			event_free(u->ev);
		close(fd);
		return -1;
	}
	s->nudps++;
	fprintf(stderr, "peerlogd: listening udp %s\n", u->addr);
	return 0;
}

/* Resolve and bind every -t and -u address; err names the first failure. */
int
listen_open(struct server *s, char *err, size_t errlen)
{
	const struct opts *o = s->opts;
	struct addr_list l;
	size_t i, j;

	/* Each ADDR gives at most 16 addresses. */
	s->listeners = calloc(o->ntcp * 16 + 1, sizeof(*s->listeners));
	s->udps = calloc(o->nudp * 16 + 1, sizeof(*s->udps));
	if (s->listeners == NULL || s->udps == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (i = 0; i < o->ntcp; i++) {
		if (resolve(&o->tcp[i], SOCK_STREAM, &l, err, errlen, "--tcp"))
			return -1;
		for (j = 0; j < l.n; j++) {
			int fd = bind_socket((struct sockaddr *)&l.ss[j],
			    l.len[j], SOCK_STREAM, err, errlen);
			if (fd < 0 || add_listener(s, fd, err, errlen) != 0)
				return -1;
		}
	}
	for (i = 0; i < o->nudp; i++) {
		if (resolve(&o->udp[i], SOCK_DGRAM, &l, err, errlen, "--udp"))
			return -1;
		for (j = 0; j < l.n; j++) {
			int fd = bind_socket((struct sockaddr *)&l.ss[j],
			    l.len[j], SOCK_DGRAM, err, errlen);
			if (fd < 0 || add_udp(s, fd, err, errlen) != 0)
				return -1;
		}
	}
	return 0;
}

/* Stop accepting (descriptors ran out). */
void
listen_pause(struct server *s)
{
	for (size_t i = 0; i < s->nlisteners; i++)
		evconnlistener_disable(s->listeners[i].lev);
}

/* Accept again. */
void
listen_resume(struct server *s)
{
	for (size_t i = 0; i < s->nlisteners; i++)
		evconnlistener_enable(s->listeners[i].lev);
}

/*
 * Close the listeners. Connections the kernel completed but we had not yet
 * accepted may already carry messages: accept them first, so shutdown
 * logs them like every other client.
 */
void
listen_close(struct server *s)
{
	for (size_t i = 0; i < s->nlisteners; i++) {
		struct listener *l = &s->listeners[i];
		int lfd = evconnlistener_get_fd(l->lev);
		while (s->stopping) {
			struct sockaddr_storage ss;
			socklen_t len = sizeof(ss);
			int fd = accept4(lfd, (struct sockaddr *)&ss, &len,
			    SOCK_NONBLOCK | SOCK_CLOEXEC);
			if (fd < 0) {
				if (errno == EINTR || errno == ECONNABORTED)
					continue;
				break;
			}
			/* Log it and close it at once: one descriptor at a
			 * time, however many wait. */
			struct peer *p =
			    peer_accept(s, fd, (struct sockaddr *)&ss);
			if (p != NULL)
				peer_shutdown(p);
		}
		evconnlistener_free(l->lev);
	}
	s->nlisteners = 0;
	free(s->listeners);
	s->listeners = NULL;
}
