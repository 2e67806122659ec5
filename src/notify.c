/*
 * Readiness and liveness over systemd's notify protocol (see notify.h):
 * plain datagrams on an AF_UNIX socket, as sd_notify(3) documents them,
 * sent without blocking the loop.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/event.h>

#include "escape.h"
#include "notify.h"
#include "prog.h"
#include "sdenv.h"
#include "server.h"

/* How often STATUS= is sent again, when the counts have changed. */
static const struct timeval status_every = {2, 0};
/* The watchdog is fed at most this often, however small WATCHDOG_USEC is:
 * a tiny value must not spin the loop. */
#define NOTIFY_WATCHDOG_MIN_USEC 1000ull

/* The socket to the service manager, and the timers that speak on it. */
struct notify {
	int fd;
	struct sockaddr_un sun;
	socklen_t len;
	char name[ESCAPE_TEXT_MAX(sizeof(((struct sockaddr_un *)0)->sun_path)) +
	          1];              /* NOTIFY_SOCKET, escaped, for messages */
	struct event *status_ev;   /* STATUS= when the counts changed */
	struct event *watchdog_ev; /* WATCHDOG=1, with WATCHDOG_USEC */
	unsigned long long clients, msgs; /* what the last STATUS= said */
	bool failing; /* a send failed and was said; a success clears it */
};

/* Send one datagram. It never blocks: a manager that is not reading loses
 * it. The first failure in a row is said on standard error. */
static void
notify_send(struct notify *n, const char *text)
{
	ssize_t r;

	do
		r = sendto(n->fd, text, strlen(text), MSG_NOSIGNAL,
		    (struct sockaddr *)&n->sun, n->len);
	while (r < 0 && errno == EINTR);
	if (r >= 0) {
		n->failing = false;
		return;
	}
	if (!n->failing)
		report_errno(errno, "NOTIFY_SOCKET %s", n->name);
	n->failing = true;
}

/* The live counts from the counter snapshot: TCP and TLS clients
 * connected now, messages of every kind since start. */
static void
notify_counts(
    struct server *s, unsigned long long *clients, unsigned long long *msgs)
{
	struct counters_snapshot snap;

	server_snapshot(s, &snap);
	*clients =
	    snap.c.proto[PROTO_TCP].clients + snap.c.proto[PROTO_TLS].clients;
	*msgs = 0;
	for (int p = 0; p < PROTO_N; p++)
		*msgs += snap.c.proto[p].msgs;
}

/* Send head (READY=1 and the like, or "") and a STATUS= line with the
 * counts; unless forced, only when they changed since the last one. */
static void
notify_status(struct server *s, const char *head, bool force)
{
	struct notify *n = s->notify;
	unsigned long long clients, msgs;
	char text[128];

	notify_counts(s, &clients, &msgs);
	if (!force && clients == n->clients && msgs == n->msgs)
		return;
	n->clients = clients;
	n->msgs = msgs;
	snprintf(text, sizeof(text), "%sSTATUS=clients=%llu messages=%llu",
	    head, clients, msgs);
	notify_send(n, text);
}

/* The status timer: say the counts if they moved. */
static void
notify_status_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	notify_status(arg, "", false);
}

/* The watchdog timer: the loop is alive. */
static void
notify_watchdog_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	notify_send(arg, "WATCHDOG=1");
}

/* The watchdog's period in microseconds, 0 for none: half of
 * WATCHDOG_USEC when it is asked of this process. */
static unsigned long long
notify_watchdog_period(void)
{
	unsigned long long usec = 0;
	const char *why = NULL;
	int rc = sdenv_watchdog(getenv("WATCHDOG_USEC"), getenv("WATCHDOG_PID"),
	    (long)getpid(), &usec, &why);

	if (rc < 0)
		report("WATCHDOG_USEC: %s; no watchdog", why);
	if (rc <= 0)
		return 0;
	usec /= 2;
	return usec < NOTIFY_WATCHDOG_MIN_USEC ? NOTIFY_WATCHDOG_MIN_USEC
	                                       : usec;
}

/* The socket and the timers, or NULL (said on standard error). */
static struct notify *
notify_open(struct server *s, const char *text)
{
	struct notify *n = calloc(1, sizeof(*n));
	const char *why = NULL;

	if (n == NULL) {
		report("NOTIFY_SOCKET: out of memory; readiness is not sent");
		return NULL;
	}
	n->fd = -1;
	if (sdenv_notify_addr(text, &n->sun, &n->len, &why) != 0) {
		report("NOTIFY_SOCKET: %s; readiness is not sent", why);
		free(n);
		return NULL;
	}
	size_t len = strlen(text);
	n->name[escape_text(n->name, text, len)] = '\0';
	s->notify = n;
	n->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (n->fd < 0) {
		report_errno(
		    errno, "NOTIFY_SOCKET %s: readiness is not sent", n->name);
		notify_free(s);
		return NULL;
	}
	n->status_ev = event_new(s->base, -1, EV_PERSIST, notify_status_cb, s);
	n->watchdog_ev =
	    event_new(s->base, -1, EV_PERSIST, notify_watchdog_cb, n);
	if (n->status_ev == NULL || n->watchdog_ev == NULL) {
		report("NOTIFY_SOCKET %s: out of memory; readiness is not sent",
		    n->name);
		notify_free(s);
		return NULL;
	}
	return n;
}

/* Up: READY=1 and the timers (see notify.h). */
void
notify_ready(struct server *s)
{
	const char *text = getenv("NOTIFY_SOCKET");
	unsigned long long period = notify_watchdog_period();

	if (text != NULL)
		s->notify = notify_open(s, text);
	/* The values were copied: nothing this process starts may speak for
	 * it (sd_notify's unset_environment). */
	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
	if (s->notify == NULL)
		return;
	notify_status(s, "READY=1\n", true);
	event_add(s->notify->status_ev, &status_every);
	if (period > 0) {
		struct timeval tv = {(time_t)(period / 1000000),
		    (suseconds_t)(period % 1000000)};
		event_add(s->notify->watchdog_ev, &tv);
	}
}

/* Shutdown begins (see notify.h). */
void
notify_stopping(struct server *s)
{
	if (s->notify == NULL)
		return;
	/* The counts would overwrite "stopping" in the manager's view. */
	event_del(s->notify->status_ev);
	notify_send(s->notify, "STOPPING=1\nSTATUS=stopping");
}

/* Free the timers and the socket (see notify.h). */
void
notify_free(struct server *s)
{
	struct notify *n = s->notify;

	if (n == NULL)
		return;
	if (n->status_ev != NULL)
		event_free(n->status_ev);
	if (n->watchdog_ev != NULL)
		event_free(n->watchdog_ev);
	if (n->fd >= 0)
		close(n->fd);
	free(n);
	s->notify = NULL;
}
