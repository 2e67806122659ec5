/* The server: record output, flow control, signals and shutdown. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "config.h"
#include "escape.h"
#include "server.h"

/* Delay before retrying a failed write to the output. */
static const struct timeval retry_delay = {1, 0};
/* At shutdown, how long a slow output may go without taking a byte. */
#define STOP_DRAIN_MS 10000

static void server_pause(struct server *s);
static void server_resume(struct server *s);

/* The output's name for messages. */
static const char *
server_output_name(const struct server *s)
{
	return s->sink.path != NULL ? s->sink.path : "-";
}

/*
 * Write what the sink holds. An output that is only slow (a pipe read
 * slowly: EAGAIN) is waited for with a write event, and input stops once a
 * batch is held; an output that fails is reported once, input stops at
 * once, and the write is retried on a timer. Input resumes when all held
 * records are written.
 */
static void
server_flush(struct server *s)
{
	int was = s->sink.error;

	if (sink_flush(&s->sink) == 0) {
		if (was != 0 && was != EAGAIN)
			fprintf(stderr, "peerlogd: output %s: writing again\n",
			    server_output_name(s));
		if (s->paused)
			server_resume(s);
		return;
	}
	if (s->sink.error == EAGAIN) {
		event_add(s->write_ev, NULL);
		if (sink_full(&s->sink))
			server_pause(s);
		return;
	}
	if (was != s->sink.error)
		fprintf(stderr,
		    "peerlogd: output %s: %s; holding %zu bytes of records, "
		    "retrying every %lds\n",
		    server_output_name(s), strerror(s->sink.error), s->sink.len,
		    (long)retry_delay.tv_sec);
	evtimer_add(s->retry_ev, &retry_delay);
	server_pause(s);
}

/* Once per loop pass with records held, on a timer after a failed write,
 * and when a slow output can take more: write. */
static void
server_flush_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	server_flush(arg);
}

/* Stop taking input (and connections) while the output cannot take
 * records: memory stays bounded and TCP slows the clients down. */
static void
server_pause(struct server *s)
{
	struct peer *p;

	if (s->paused || s->stopping)
		return;
	s->paused = true;
	TAILQ_FOREACH (p, &s->peers, entry)
		peer_pause(p);
	udp_pause(s);
	listen_pause(s);
}

/*
 * Take input again. First what waits in the peers' input buffers (no client
 * reads anew until all of that is logged), then reading, enabled in the
 * peers' list order: least recently read first (peer_read_cb moves a client
 * to the tail), so the clients an output that keeps filling up left unread
 * last time are read first this time. Silent clients whose --idle-timeout
 * ran out are closed in either case.
 */
static void
server_resume(struct server *s)
{
	struct peer *p, *next;
	bool full = false;

	server_clock(s); /* peer_expire and peer_resume measure idle time */
	s->paused = false;
	evtimer_del(s->retry_ev);
	TAILQ_FOREACH (p, &s->peers, entry)
		if ((full = peer_unload(p)))
			break; /* paused again */
	for (p = TAILQ_FIRST(&s->peers); p != NULL; p = next) {
		next = TAILQ_NEXT(p, entry);
		peer_expire(p);
	}
	if (full)
		return;
	listen_resume(s);
	TAILQ_FOREACH (p, &s->peers, entry)
		peer_resume(p);
	udp_resume(s);
}

/* Refresh the timestamp text; called at the start of every callback. */
void
server_clock(struct server *s)
{
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	ts_format(&s->ts, now.tv_sec, now.tv_nsec / 1000);
	clock_gettime(CLOCK_MONOTONIC, &now);
	s->now = (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

/* server_can_log's slow path: shutdown, a pause, or a full batch. */
bool
server_can_log_slow(struct server *s)
{
	if (s->stopping) {
		/* Shutdown reads everything the kernel holds: wait for a slow
		 * output instead of pausing; give up on a dead one (what it
		 * could not take is counted as lost at the end). */
		if (sink_full(&s->sink) && !s->lost &&
		    sink_drain(&s->sink, STOP_DRAIN_MS) != 0)
			s->lost = true;
		return true;
	}
	if (s->paused)
		return false;
	if (!sink_full(&s->sink))
		return true;
	server_flush(s);
	return !s->paused;
}

/*
 * Room for a record of need bytes, or NULL (said on standard error) when
 * memory ran out. The first record of a batch makes sure it is written by
 * the end of the loop pass.
 */
char *
server_log_room(struct server *s, size_t need)
{
	char *d = sink_reserve(&s->sink, need);

	if (d == NULL) {
		fprintf(stderr, "peerlogd: out of memory: a record is lost\n");
		return NULL;
	}
	if (s->sink.len == 0 && !s->paused)
		event_active(s->flush_ev, EV_WRITE, 0);
	return d;
}

/* Format one record into the sink; it is written by the end of the pass. */
void
server_log(struct server *s, const char *proto, const char *peer,
    enum record_event ev, const void *msg, size_t len,
    const struct record_kv *kv, size_t nkv)
{
	struct record r = {
	    .ts = s->ts.text,
	    .proto = proto,
	    .peer = peer,
	    .event = ev,
	    .msg = msg,
	    .msg_len = len,
	    .kv = kv,
	    .nkv = nkv,
	};
	char *d = server_log_room(s, record_max(&r, s->opts->format));

	if (d != NULL)
		sink_commit(&s->sink, record_format(d, &r, s->opts->format));
}

/* Whether --allow admits the address (all do without --allow). */
bool
server_allowed(const struct server *s, const struct sockaddr *sa)
{
	if (s->opts->nallow == 0)
		return true;
	for (size_t i = 0; i < s->opts->nallow; i++)
		if (cidr_match(&s->opts->allow[i], sa))
			return true;
	return false;
}

/* The stats record: counters since start. */
static void
server_stats(struct server *s)
{
	const struct server_stats *t = &s->stats;
	struct record_kv kv[] = {
	    {"clients", NULL, s->npeers},
	    {"connects", NULL, t->connects},
	    {"rejects", NULL, t->rejects},
	    {"tcp_msgs", NULL, t->tcp_msgs},
	    {"tcp_bytes", NULL, t->tcp_bytes},
	    {"udp_msgs", NULL, t->udp_msgs},
	    {"udp_bytes", NULL, t->udp_bytes},
	    {"udp_dropped", NULL, t->udp_dropped},
	};
	server_log(
	    s, "-", "-", RECORD_STATS, NULL, 0, kv, sizeof(kv) / sizeof(kv[0]));
}

/*
 * Graceful shutdown: take in what the kernel already holds for us (pending
 * connections, datagrams, stream bytes), log it all with the disconnects,
 * then the stop record, write everything and leave the loop.
 */
static void
server_stop(struct server *s, const char *signame)
{
	struct peer *p;

	if (s->stopping)
		return; /* a repeated signal: the first one does it all */
	s->stopping = true;
	/* Connected clients first: closing them frees the descriptors that
	 * the clients still waiting in the listen queues need. */
	while ((p = TAILQ_FIRST(&s->peers)) != NULL)
		peer_shutdown(p);
	listen_close(s);
	udp_close(s);

	struct record_kv kv[] = {{"signal", signame, 0}};
	server_log(s, "-", "-", RECORD_STOP, NULL, 0, kv, 1);
	if (sink_drain(&s->sink, STOP_DRAIN_MS) != 0) {
		fprintf(stderr,
		    "peerlogd: output %s: %s; %zu bytes of records lost\n",
		    server_output_name(s), strerror(s->sink.error),
		    s->sink.len);
		s->exit_code = 1;
	}
	event_base_loopbreak(s->base);
}

/* SIGHUP: reopen the output file; the write event follows the new fd. */
static void
server_reopen(struct server *s)
{
	bool waiting = event_pending(s->write_ev, EV_WRITE, NULL);

	if (sink_reopen(&s->sink) != 0) {
		fprintf(stderr, "peerlogd: reopen %s: %s\n",
		    server_output_name(s), strerror(errno));
		return;
	}
	event_del(s->write_ev);
	event_assign(
	    s->write_ev, s->base, s->sink.fd, EV_WRITE, server_flush_cb, s);
	if (waiting || s->sink.len > 0)
		server_flush(s);
}

/* Signals arrive here through the loop, never in a handler. */
static void
server_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct server *s = arg;

	(void)what;
	server_clock(s);
	switch (sig) {
	case SIGINT:
		server_stop(s, "SIGINT");
		break;
	case SIGTERM:
		server_stop(s, "SIGTERM");
		break;
	case SIGHUP:
		server_reopen(s);
		break;
	case SIGUSR1:
		server_stats(s);
		break;
	}
}

/* Set up the output, events and signals. */
int
server_init(struct server *s, struct event_base *base, const struct opts *o)
{
	static const int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGUSR1};
	/* A batch holds many records and always the largest one. */
	size_t worst = 256 + ESCAPE_JSON_MAX(o->max_line);
	size_t soft = worst * 4 > (1u << 20) ? worst * 4 : (1u << 20);

	memset(s, 0, sizeof(*s));
	s->base = base;
	s->opts = o;
	TAILQ_INIT(&s->peers);
	ts_init(&s->ts);
	if (sink_open(&s->sink, o->output, soft) != 0)
		return -1;
	s->rdbuf = malloc(PEER_READ);
	if (s->rdbuf == NULL)
		return -1;
	s->flush_ev = event_new(base, -1, 0, server_flush_cb, s);
	s->retry_ev = evtimer_new(base, server_flush_cb, s);
	s->write_ev = event_new(base, s->sink.fd, EV_WRITE, server_flush_cb, s);
	if (s->flush_ev == NULL || s->retry_ev == NULL || s->write_ev == NULL)
		return -1;
	for (size_t i = 0; i < 4; i++) {
		s->sig_ev[i] = evsignal_new(base, sigs[i], server_signal_cb, s);
		if (s->sig_ev[i] == NULL || evsignal_add(s->sig_ev[i], NULL))
			return -1;
	}

	return 0;
}

/* The sockets are bound: log the start record. */
void
server_start(struct server *s)
{
	struct record_kv kv[] = {
	    {"version", PEERLOG_VERSION, 0},
	    {"pid", NULL, (unsigned long long)getpid()},
	};
	server_clock(s);
	server_log(s, "-", "-", RECORD_START, NULL, 0, kv, 2);
}

/* Free what server_init and the modules made; the base is the caller's. */
void
server_free(struct server *s)
{
	listen_close(s);
	udp_close(s);
	for (size_t i = 0; i < 4; i++)
		if (s->sig_ev[i] != NULL)
			event_free(s->sig_ev[i]);
	if (s->flush_ev != NULL)
		event_free(s->flush_ev);
	if (s->retry_ev != NULL)
		event_free(s->retry_ev);
	if (s->write_ev != NULL)
		event_free(s->write_ev);
	if (s->accept_ev != NULL)
		event_free(s->accept_ev);
	sink_close(&s->sink);
	free(s->rdbuf);
	s->rdbuf = NULL;
}
