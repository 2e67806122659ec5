/*
 * The listeners: every -t, -T and -u address bound (sock.c) and every socket
 * systemd passed (sdenv.c), TCP and TLS listeners accepting into peer.c, UDP
 * sockets handed to udp.c; each carries its listen_conf from the options to
 * the connections it serves.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "prog.h"
#include "sdenv.h"
#include "server.h"
#include "sock.h"

/* Connections taken from one listen queue at shutdown, at most: its
 * backlog's worth, so a flood cannot keep the server from exiting. */
#define LISTEN_DRAIN_MAX 4096

/* How long accepting pauses when file descriptors run out. */
static const struct timeval accept_pause = {1, 0};

/* A listening TCP socket. */
struct listener {
	struct listeners *set;
	const struct listen_conf *conf;
	struct evconnlistener *lev; /* NULL once closed */
	unsigned drained;           /* connections taken at shutdown */
	char addr[ADDR_STRLEN];
};

/* A passed socket kept for the module that serves it (metrics). */
struct listen_kept {
	int fd; /* -1 once taken */
	const char *name;
	char label[SDENV_NAME_MAX + 32];
};

/* The TCP listeners of a server, and the confs of every listener. */
struct listeners {
	struct server *server;
	struct listen_conf *confs;
	size_t nconfs;
	struct listen_conf passed_conf[PROTO_N]; /* the passed sockets' */
	struct listen_kept *kept;
	size_t nkept;
	struct listener *l;
	size_t n;
	size_t drain_next;       /* shutdown: the listener being drained */
	struct event *accept_ev; /* resumes accepting after EMFILE */
	bool accept_starved;     /* EMFILE said; cleared by an accept */
};

/* A connection was accepted. */
static void
listen_accept_cb(struct evconnlistener *lev, evutil_socket_t fd,
    struct sockaddr *sa, int socklen, void *arg)
{
	struct listener *l = arg;

	(void)lev;
	(void)socklen;
	l->set->accept_starved = false;
	peer_accept(l->set->server, l->conf, fd, sa);
}

/* Accepting again after the pause for descriptors. */
static void
listen_resume_cb(evutil_socket_t fd, short what, void *arg)
{
	struct server *s = arg;

	(void)fd;
	(void)what;
	if (!peer_room(s)) {
		evtimer_add(s->listeners->accept_ev, &accept_pause);
		return;
	}
	/* While the output is stuck, accepting stays off until it drains. */
	if (!s->paused && !s->stopping)
		listen_resume(s);
}

/*
 * Out of descriptors (or at the reserve): the pending connection would wake
 * the loop again at once, so accepting pauses, a second at a time, until
 * there is room. The clients wait in the listen queue meanwhile. One line
 * per episode, not one per second while it lasts.
 */
void
listen_starved(struct server *s, int err)
{
	struct listeners *ls = s->listeners;

	if (!ls->accept_starved)
		report("accept %s: %s; pausing accept for %lds",
		    ls->n > 0 ? ls->l[0].addr : "-", strerror(err),
		    (long)accept_pause.tv_sec);
	ls->accept_starved = true;
	listen_pause(s);
	if (ls->accept_ev == NULL)
		ls->accept_ev = evtimer_new(s->base, listen_resume_cb, s);
	if (ls->accept_ev != NULL)
		evtimer_add(ls->accept_ev, &accept_pause);
}

/* accept failed: out of descriptors or memory, pause accepting. */
static void
listen_error_cb(struct evconnlistener *lev, void *arg)
{
	struct listener *l = arg;
	int e = errno;

	(void)lev;
	if (e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM)
		listen_starved(l->set->server, e);
}

/* Add a TCP listener on a bound, listening socket. */
static int
listen_add(struct listeners *ls, const struct listen_conf *conf, int fd,
    char *err, size_t errlen)
{
	struct listener *l = &ls->l[ls->n];

	l->set = ls;
	l->conf = conf;
	sock_name(fd, l->addr);
	/* Backlog 0: the socket already listens with its backlog (-1 would
	 * make libevent listen again with its default of 128). Disabled
	 * until listen_announce: nothing is accepted before the output is
	 * open. */
	l->lev = evconnlistener_new(ls->server->base, listen_accept_cb, l,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC | LEV_OPT_DISABLED, 0,
	    fd);
	if (l->lev == NULL) {
		snprintf(
		    err, errlen, "listen %s: %s", l->addr, strerror(errno));
		close(fd);
		return -1;
	}
	evconnlistener_set_error_cb(l->lev, listen_error_cb);
	ls->n++;
	return 0;
}

/* The listeners the options name, in order: every -t, -T, then -u. */
static int
listen_confs(struct listeners *ls, const struct opts *o)
{
	ls->confs = calloc(o->ntcp + o->ntls + o->nudp + 1, sizeof(*ls->confs));
	if (ls->confs == NULL)
		return -1;
	for (size_t i = 0; i < o->ntcp; i++)
		ls->confs[ls->nconfs++] = (struct listen_conf){
		    ls->server, PROTO_TCP, "--tcp", &o->tcp[i]};
	for (size_t i = 0; i < o->ntls; i++)
		ls->confs[ls->nconfs++] = (struct listen_conf){
		    ls->server, PROTO_TLS, "--tls", &o->tls[i]};
	for (size_t i = 0; i < o->nudp; i++)
		ls->confs[ls->nconfs++] = (struct listen_conf){
		    ls->server, PROTO_UDP, "--udp", &o->udp[i]};
	return 0;
}

/* The environment's passed sockets (see server.h). */
int
listen_passed_env(struct sdenv_fds *f, char *err, size_t errlen)
{
	int rc = sdenv_fds_parse(f, getenv("LISTEN_PID"), getenv("LISTEN_FDS"),
	    getenv("LISTEN_FDNAMES"), (long)getpid(), err, errlen);

	/* As sd_listen_fds(1): nothing this process starts may take them
	 * for its own. The names were copied. */
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	return rc;
}

/* "passed socket FD (NAME)", the passed socket i in messages. */
static void
listen_passed_label(const struct sdenv_fds *f, size_t i, char *dst, size_t len)
{
	if (f->name[i][0] != '\0')
		snprintf(dst, len, "passed socket %zu (%s)",
		    i + SDENV_FDS_START, f->name[i]);
	else
		snprintf(dst, len, "passed socket %zu", i + SDENV_FDS_START);
}

/*
 * Serve every socket systemd passed, by its name and type: "tls" a TLS
 * listener, any other listening stream socket a TCP listener, a datagram
 * socket a UDP socket; "metrics" is kept for listen_activated_fd. A
 * descriptor that is not such a socket is an error.
 */
static int
listen_passed(struct listeners *ls, char *err, size_t errlen)
{
	struct server *s = ls->server;
	const struct sdenv_fds *f = s->opts->passed;

	for (int p = 0; p < PROTO_N; p++)
		ls->passed_conf[p] =
		    (struct listen_conf){s, (enum proto)p, "LISTEN_FDS", NULL};
	if (f == NULL || f->n == 0)
		return 0;
	ls->kept = calloc(f->n, sizeof(*ls->kept));
	if (ls->kept == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < f->n; i++) {
		int fd = (int)(i + SDENV_FDS_START);
		enum sdenv_kind kind = sdenv_kind(f->name[i]);
		char label[SDENV_NAME_MAX + 32], why[128];
		int type = sock_adopt(fd, why, sizeof(why));

		listen_passed_label(f, i, label, sizeof(label));
		if (type < 0) {
			snprintf(err, errlen, "%s: %s", label, why);
			return -1;
		}
		if (kind != SDENV_OTHER && type != SOCK_STREAM) {
			snprintf(err, errlen,
			    "%s: a datagram socket cannot be the %s listener",
			    label, kind == SDENV_TLS ? "TLS" : "metrics");
			return -1;
		}
		if (kind == SDENV_METRICS) {
			struct listen_kept *k = &ls->kept[ls->nkept++];
			k->fd = fd;
			k->name = f->name[i];
			snprintf(k->label, sizeof(k->label), "%s", label);
			continue;
		}
		enum proto proto = kind == SDENV_TLS    ? PROTO_TLS
		                   : type == SOCK_DGRAM ? PROTO_UDP
		                                        : PROTO_TCP;
		const struct listen_conf *c = &ls->passed_conf[proto];
		int rc = type == SOCK_DGRAM
		             ? udp_add(s, c, fd, err, errlen)
		             : listen_add(ls, c, fd, err, errlen);
		if (rc != 0)
			return -1;
	}
	return 0;
}

/*
 * Bind every listener the options name, after taking the passed sockets;
 * err names the first failure. Nothing is said on standard error until
 * all are bound (listen_announce).
 */
int
listen_open(struct server *s, char *err, size_t errlen)
{
	struct listeners *ls = calloc(1, sizeof(*ls));
	size_t npassed = s->opts->passed != NULL ? s->opts->passed->n : 0;

	if (ls != NULL)
		ls->server = s;
	if (ls == NULL || (s->listeners = ls, listen_confs(ls, s->opts)) != 0) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	ls->l = calloc(
	    (s->opts->ntcp + s->opts->ntls) * SOCK_PER_ADDR + npassed + 1,
	    sizeof(*ls->l));
	if (ls->l == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (listen_passed(ls, err, errlen) != 0)
		return -1;
	for (size_t i = 0; i < ls->nconfs; i++) {
		const struct listen_conf *c = &ls->confs[i];
		int type = c->proto == PROTO_UDP ? SOCK_DGRAM : SOCK_STREAM;
		int fds[SOCK_PER_ADDR];
		int n = sock_bind(c->addr, type, s->opts->reuseport, c->opt,
		    fds, err, errlen);
		if (n < 0)
			return -1;
		for (int j = 0; j < n; j++) {
			int rc = type == SOCK_DGRAM
			             ? udp_add(s, c, fds[j], err, errlen)
			             : listen_add(ls, c, fds[j], err, errlen);
			if (rc != 0) {
				while (++j < n)
					close(fds[j]);
				return -1;
			}
		}
	}
	return 0;
}

/* Take a passed socket kept for another module (see server.h). */
int
listen_activated_fd(struct server *s, const char *name)
{
	struct listeners *ls = s->listeners;

	for (size_t i = 0; ls != NULL && i < ls->nkept; i++)
		if (ls->kept[i].fd >= 0 &&
		    strcmp(ls->kept[i].name, name) == 0) {
			int fd = ls->kept[i].fd;
			ls->kept[i].fd = -1;
			return fd;
		}
	return -1;
}

/* Everything is bound and the output open: say so, and start accepting. */
void
listen_announce(struct server *s)
{
	struct listeners *ls = s->listeners;

	for (size_t i = 0; i < ls->n; i++)
		report("listening %s %s",
		    counters_proto_name(ls->l[i].conf->proto), ls->l[i].addr);
	/* A kept socket nothing took would queue connections for ever. */
	for (size_t i = 0; i < ls->nkept; i++)
		if (ls->kept[i].fd >= 0) {
			report("%s: not served; closed", ls->kept[i].label);
			close(ls->kept[i].fd);
			ls->kept[i].fd = -1;
		}
	udp_announce(s);
	listen_resume(s);
}

/* Stop accepting (the output is behind, or descriptors ran out). */
void
listen_pause(struct server *s)
{
	struct listeners *ls = s->listeners;

	for (size_t i = 0; i < ls->n; i++)
		if (ls->l[i].lev != NULL)
			evconnlistener_disable(ls->l[i].lev);
}

/* Accept again, unless the descriptor reserve is reached (the pause
 * timer then retries). */
void
listen_resume(struct server *s)
{
	struct listeners *ls = s->listeners;

	if (!peer_room(s))
		return;
	for (size_t i = 0; i < ls->n; i++)
		if (ls->l[i].lev != NULL && evconnlistener_enable(ls->l[i].lev))
			report("listening %s: cannot watch the socket",
			    ls->l[i].addr);
}

/*
 * Shutdown: connections the kernel completed but we had not accepted may
 * already carry messages. Accept them one at a time, each read and closed
 * before the next (one descriptor, however many wait), then close the
 * listener. Returns false when the output filled up first; it goes on from
 * there once the output takes more.
 */
bool
listen_drain(struct server *s)
{
	struct listeners *ls = s->listeners;

	for (; ls->drain_next < ls->n; ls->drain_next++) {
		struct listener *l = &ls->l[ls->drain_next];
		int lfd = evconnlistener_get_fd(l->lev);
		/* A TLS client still queued has not had a handshake: nothing
		 * it sent can be a message. */
		while (l->conf->proto != PROTO_TLS &&
		       l->drained < LISTEN_DRAIN_MAX) {
			struct sockaddr_storage ss;
			socklen_t len = sizeof(ss);
			if (!peer_drain_all(s))
				return false;
			int fd = accept4(lfd, (struct sockaddr *)&ss, &len,
			    SOCK_NONBLOCK | SOCK_CLOEXEC);
			if (fd < 0) {
				if (errno == EINTR || errno == ECONNABORTED)
					continue;
				break;
			}
			l->drained++;
			peer_accept(s, l->conf, fd, (struct sockaddr *)&ss);
		}
		if (!peer_drain_all(s))
			return false;
		evconnlistener_free(l->lev);
		l->lev = NULL;
	}
	return true;
}

/* Close the listeners and free them with the confs. */
void
listen_free(struct server *s)
{
	struct listeners *ls = s->listeners;

	if (ls == NULL)
		return;
	for (size_t i = 0; i < ls->n; i++)
		if (ls->l[i].lev != NULL)
			evconnlistener_free(ls->l[i].lev);
	if (ls->accept_ev != NULL)
		event_free(ls->accept_ev);
	for (size_t i = 0; i < ls->nkept; i++)
		if (ls->kept[i].fd >= 0)
			close(ls->kept[i].fd);
	free(ls->kept);
	free(ls->l);
	free(ls->confs);
	free(ls);
	s->listeners = NULL;
}
