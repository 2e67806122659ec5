/*
 * The server: the batch of records, flow control against the outputs,
 * signals, rejects and the loop-driven shutdown.
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "config.h"
#include "escape.h"
#include "notify.h"
#include "metrics.h"
#include "prog.h"
#include "server.h"
#include "tls.h"

/* At shutdown, how long the outputs may go without taking a byte. */
#define STOP_DRAIN_MS 10000
/* Reject records written per reason and window; the rest are counted. */
#define REJECT_BURST 5
#define REJECT_WINDOW_MS 1000

static const struct timeval one_second = {1, 0};

static void server_pause(struct server *s);
static void server_resume(struct server *s);
static void server_stop(struct server *s, const char *why);
static void server_stop_step(struct server *s);

/*
 * Re-read the outputs after they took a batch or told of a change: the
 * room left for records (soft less the most any output holds), pause while
 * one cannot take more, resume when all can; at shutdown, take the next
 * step. An output whose reader is gone ends the server.
 */
static void
server_check(struct server *s)
{
	size_t held = 0;
	bool failed = false;

	for (size_t i = 0; i < s->noutputs; i++) {
		struct output *o = s->outputs[i];
		/* At shutdown there is no time to wait for a failed output to
		 * heal: what it holds, and gets, is lost. */
		if (s->stopping && o->state == OUTPUT_FAILED &&
		    !o->waits_at_stop)
			o->ops->abandon(o);
		if (o->state == OUTPUT_DONE) {
			if (!s->stopping) {
				report("output %s: %s; shutting down", o->name,
				    strerror(o->error));
				s->exit_code = 1;
				server_stop(s, NULL);
				return;
			}
			continue;
		}
		if (o->state == OUTPUT_FAILED)
			failed = true;
		if (o->held > held)
			held = o->held;
	}
	if (s->lost)
		return;
	s->limit = failed || held >= s->soft ? 0 : s->soft - held;
	if (s->limit == 0)
		server_pause(s);
	else if (s->paused)
		server_resume(s);
	else if (s->stopping)
		server_stop_step(s);
}

/*
 * Give o the batch in the form it takes: as it is, or (a file beside a
 * Redis stream) its fields formatted as lines, once for every such file.
 */
static void
server_hand(struct server *s, struct output *o)
{
	struct batch *b = &s->batch, *c = &s->conv;

	if (o->fmt == s->fmt) {
		o->ops->take(o, b->buf, b->len);
		return;
	}
	/* Each record's line is at most RECORD_FIELDS_FMT_MAX of its
	 * length, and a record is longer than 32 bytes. */
	size_t need = RECORD_FIELDS_FMT_MAX(b->len) + b->len;
	if (c->cap < need) {
		char *buf = realloc(c->buf, need);
		if (buf == NULL) {
			report(
			    "out of memory: records for %s are lost", o->name);
			o->c.lost += record_count(s->fmt, b->buf, b->len);
			return;
		}
		c->buf = buf;
		c->cap = need;
	}
	c->len = 0;
	for (size_t off = 0, n; off < b->len; off += n) {
		n = record_fields_len(b->buf + off, b->len - off);
		if (n == 0)
			break; /* cannot be: the batch is ours */
		c->len += record_fields_format(
		    c->buf + c->len, b->buf + off, n, o->fmt);
	}
	o->ops->take(o, c->buf, c->len);
}

/* Hand the batch to every output; it starts empty again. */
static void
server_flush(struct server *s)
{
	struct batch *b = &s->batch;

	if (b->len > 0) {
		for (size_t i = 0; i < s->noutputs; i++)
			server_hand(s, s->outputs[i]);
		b->len = 0;
		/* Forced records (connects, disconnects) may have grown it
		 * past its size: give that back. */
		if (b->cap > s->soft * 2) {
			char *buf = realloc(b->buf, s->soft * 2);
			if (buf != NULL) {
				b->buf = buf;
				b->cap = s->soft * 2;
			}
		}
	}
	server_check(s);
}

/* Once per loop pass with records made: hand them over. */
static void
server_flush_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	server_flush(arg);
}

/* An output wrote what it held, failed, or healed. */
static void
server_output_cb(struct output *o, void *arg)
{
	struct server *s = arg;

	(void)o;
	server_clock(s);
	server_check(s);
}

/* Stop taking input (and connections) while an output cannot take
 * records: memory stays bounded and TCP slows the clients down. */
static void
server_pause(struct server *s)
{
	if (s->paused)
		return;
	s->paused = true;
	s->paused_since = s->now;
	if (s->stopping)
		return; /* shutdown reads in server_stop_step, not on events */
	peer_pause_all(s);
	udp_pause(s);
	listen_pause(s);
}

/*
 * Take input again. First what waits in the peers' input buffers (no client
 * reads anew until all of that is logged), then reading: see
 * peer_resume_all for the order. Silent clients whose --idle-timeout ran
 * out are closed in either case.
 */
static void
server_resume(struct server *s)
{
	server_clock(s);
	s->paused = false;
	s->counters.paused_ms += (unsigned long long)(s->now - s->paused_since);
	if (s->stopping) {
		server_stop_step(s);
		return;
	}
	bool full = peer_unload_all(s);
	peer_expire_all(s);
	if (full || s->paused)
		return;
	listen_resume(s);
	peer_resume_all(s);
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

/* server_can_log's slow path: a pause, lost records, or a full batch. */
bool
server_can_log_slow(struct server *s)
{
	if (s->lost)
		return true; /* counted, not held: see server_log_room */
	if (s->paused)
		return false;
	if (s->batch.len < s->limit)
		return true;
	server_flush(s);
	return !s->paused && s->batch.len < s->limit;
}

/*
 * Room for a record of need bytes, or NULL when it cannot be made (the
 * caller counts it lost): memory ran out (said on standard error), or
 * shutdown gave up on the outputs. The first record of a batch makes sure it is
 * handed over by the end of the loop pass.
 */
char *
server_log_room(struct server *s, size_t need)
{
	struct batch *b = &s->batch;

	if (s->lost)
		return NULL; /* the caller counts it */
	if (b->cap - b->len < need) {
		size_t cap = b->cap * 2;
		while (cap - b->len < need)
			cap *= 2;
		char *buf = realloc(b->buf, cap);
		if (buf == NULL) {
			report("out of memory: a record is lost");
			return NULL;
		}
		b->buf = buf;
		b->cap = cap;
	}
	if (b->len == 0)
		event_active(s->flush_ev, EV_WRITE, 0);
	return b->buf + b->len;
}

/* Format one record into the batch; handed over by the end of the pass. */
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
	char *d = server_log_room(s, record_max(&r, s->fmt));

	if (d != NULL)
		server_commit(s, record_format(d, &r, s->fmt));
	else
		s->counters.records_lost++;
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

/* Whether sa is a trusted load balancer (--proxy): it sends a header. */
bool
server_trusted(const struct server *s, const struct sockaddr *sa)
{
	for (size_t i = 0; i < s->opts->nproxy; i++)
		if (cidr_match(&s->opts->proxy[i], sa))
			return true;
	return false;
}

/* Write the count of the rejects a window held back, once it is over. */
static void
server_reject_summary(struct server *s, bool force)
{
	bool open = false;

	for (size_t r = 0; r < REJECT_N; r++) {
		struct ratelimit *rl = &s->reject_rl[r];
		unsigned long long n =
		    ratelimit_close(rl, s->now, REJECT_WINDOW_MS, force);
		if (n > 0) {
			struct record_kv kv[] = {
			    {"reason", counters_reject_name(r), 0},
			    {"suppressed", NULL, n},
			};
			server_log(s, "-", "-", RECORD_REJECT, NULL, 0, kv, 2);
		}
		if (rl->start != 0 && rl->suppressed > 0)
			open = true;
	}
	if (open)
		evtimer_add(s->reject_ev, &one_second);
}

/* A window of rejects may have ended. */
static void
server_reject_cb(evutil_socket_t fd, short what, void *arg)
{
	struct server *s = arg;

	(void)fd;
	(void)what;
	server_clock(s);
	server_reject_summary(s, false);
}

/*
 * A connection refused: counted always, and written as a record unless too
 * many of the same reason came this second (a connection flood must not
 * become a log flood); those are written as one count when the window ends.
 */
void
server_reject(struct server *s, const char *proto, const char *peer,
    enum reject_reason why, const struct record_kv *extra, size_t nextra)
{
	struct ratelimit *rl = &s->reject_rl[why];
	struct record_kv kv[1 + SERVER_REJECT_EXTRA] = {
	    {"reason", counters_reject_name(why), 0}};
	size_t nkv = 1;

	for (size_t i = 0; i < nextra && i < SERVER_REJECT_EXTRA; i++)
		kv[nkv++] = extra[i];
	s->counters.rejects[why]++;
	/* A window that ended with nothing held back closes quietly; one
	 * that held some back is summed up before the next opens. */
	if (rl->start != 0 && s->now - rl->start >= REJECT_WINDOW_MS)
		server_reject_summary(s, false);
	if (ratelimit_pass(rl, s->now, REJECT_BURST, REJECT_WINDOW_MS)) {
		server_log(s, proto, peer, RECORD_REJECT, NULL, 0, kv, nkv);
		return;
	}
	if (!evtimer_pending(s->reject_ev, NULL)) {
		long long left = REJECT_WINDOW_MS - (s->now - rl->start);
		struct timeval tv = {
		    (time_t)(left / 1000), (suseconds_t)(left % 1000 * 1000)};
		evtimer_add(s->reject_ev, &tv);
	}
}

/* Every counter at this moment (see counters.h). */
void
server_snapshot(struct server *s, struct counters_snapshot *snap)
{
	memset(snap, 0, sizeof(*snap));
	snap->c = s->counters;
	/* A pause under way counts up to now (the caller set the clock). */
	if (s->paused)
		snap->c.paused_ms +=
		    (unsigned long long)(s->now - s->paused_since);
	snap->udp_dropped_kernel = udp_kernel_drops(s);
	snap->noutputs = s->noutputs;
	for (size_t i = 0; i < s->noutputs; i++) {
		snap->outputs[i].name = s->outputs[i]->name;
		snap->outputs[i].c = s->outputs[i]->c;
		snap->outputs[i].held = s->outputs[i]->held;
	}
}

/* The stats record: the snapshot, as counters since start. */
static void
server_stats(struct server *s)
{
	struct counters_snapshot snap;
	unsigned long long rejects = 0, lost, obytes = 0, oerrors = 0;

	server_snapshot(s, &snap);
	for (size_t r = 0; r < REJECT_N; r++)
		rejects += snap.c.rejects[r];
	lost = snap.c.records_lost;
	for (size_t i = 0; i < snap.noutputs; i++) {
		lost += snap.outputs[i].c.lost;
		obytes += snap.outputs[i].c.bytes;
		oerrors += snap.outputs[i].c.errors;
	}
	/* clients and connects: TCP and TLS, as before TLS came. */
	struct record_kv kv[] = {
	    {"clients", NULL,
	        snap.c.proto[PROTO_TCP].clients +
	            snap.c.proto[PROTO_TLS].clients},
	    {"connects", NULL,
	        snap.c.proto[PROTO_TCP].connects +
	            snap.c.proto[PROTO_TLS].connects},
	    {"rejects", NULL, rejects},
	    {"tcp_msgs", NULL, snap.c.proto[PROTO_TCP].msgs},
	    {"tcp_bytes", NULL, snap.c.proto[PROTO_TCP].bytes},
	    {"udp_msgs", NULL, snap.c.proto[PROTO_UDP].msgs},
	    {"udp_bytes", NULL, snap.c.proto[PROTO_UDP].bytes},
	    {"udp_dropped", NULL,
	        snap.c.udp_dropped_acl + snap.udp_dropped_kernel},
	    {"udp_dropped_acl", NULL, snap.c.udp_dropped_acl},
	    {"udp_dropped_kernel", NULL, snap.udp_dropped_kernel},
	    {"records_lost", NULL, lost},
	    {"output_bytes", NULL, obytes},
	    {"output_errors", NULL, oerrors},
	    {"tls_msgs", NULL, snap.c.proto[PROTO_TLS].msgs},
	    {"tls_bytes", NULL, snap.c.proto[PROTO_TLS].bytes},
	};
	server_log(
	    s, "-", "-", RECORD_STATS, NULL, 0, kv, sizeof(kv) / sizeof(kv[0]));
}

/* Bytes the outputs have written in all: shutdown watches it move. */
static unsigned long long
server_output_bytes(const struct server *s)
{
	unsigned long long n = 0;

	for (size_t i = 0; i < s->noutputs; i++)
		n += s->outputs[i]->c.bytes;
	return n;
}

/* Whether every output has written everything it was given. */
static bool
server_outputs_idle(const struct server *s)
{
	for (size_t i = 0; i < s->noutputs; i++)
		if (s->outputs[i]->state != OUTPUT_DONE &&
		    s->outputs[i]->held > 0)
			return false;
	return true;
}

/*
 * Shutdown, one step: every client read to the end of what the kernel holds
 * and closed, then the clients still in the listen queues, then the
 * datagrams; then the stop record, and out once the outputs have written
 * it all. Each part stops when the outputs are full and goes on when they
 * take more (server_resume and server_check call this again).
 */
static void
server_stop_step(struct server *s)
{
	/* Reading a client hands full batches over, which checks the
	 * outputs, which may call this again: the outer call goes on. */
	if (s->stepping)
		return;
	s->stepping = true;
	bool read_all = s->stop_done ||
	                (peer_drain_all(s) && listen_drain(s) && udp_drain(s));
	s->stepping = false;
	if (!read_all)
		return;
	if (!s->stop_done) {
		server_reject_summary(s, true);
		struct record_kv kv[] = {{"signal", s->stop_signal, 0}};
		server_log(s, "-", "-", RECORD_STOP, NULL, 0, kv,
		    s->stop_signal != NULL ? 1 : 0);
		s->stop_done = true;
	}
	if (s->batch.len > 0) {
		server_flush(s); /* comes back here through server_check */
		return;
	}
	if (server_outputs_idle(s))
		event_base_loopbreak(s->base);
}

/*
 * Shutdown's watch: an output that takes nothing for STOP_DRAIN_MS is given
 * up on. What it holds is counted as lost, and from then on records are
 * counted instead of held, so the clients' last bytes are still read (and
 * counted) without memory growing.
 */
static void
server_stop_cb(evutil_socket_t fd, short what, void *arg)
{
	struct server *s = arg;
	unsigned long long bytes = server_output_bytes(s);

	(void)fd;
	(void)what;
	server_clock(s);
	if (bytes != s->stop_bytes) {
		s->stop_bytes = bytes;
		s->stop_progress = s->now;
		return;
	}
	if (s->now - s->stop_progress < STOP_DRAIN_MS)
		return;
	event_del(s->stop_ev);
	s->lost = true;
	s->paused = false;
	s->limit = SIZE_MAX;
	for (size_t i = 0; i < s->noutputs; i++)
		s->outputs[i]->ops->abandon(s->outputs[i]);
	s->counters.records_lost +=
	    record_count(s->fmt, s->batch.buf, s->batch.len);
	s->batch.len = 0;
	server_stop_step(s);
	event_base_loopbreak(s->base);
}

/*
 * Graceful shutdown: take in what the kernel already holds for us (bytes,
 * pending connections, datagrams), log it all with the disconnects, then
 * the stop record, write everything and leave the loop. It runs on the
 * loop, so an output that waits for a reader or a reply keeps working.
 */
static void
server_stop(struct server *s, const char *signame)
{
	static const struct timeval tick = {0, 200000};

	if (s->stopping)
		return; /* a repeated signal: the first one does it all */
	s->stopping = true;
	s->stop_signal = signame;
	notify_stopping(s);
	s->stop_progress = s->now;
	s->stop_bytes = server_output_bytes(s);
	event_add(s->stop_ev, &tick);
	/* Reading stops on events: shutdown reads in its own steps. */
	peer_pause_all(s);
	udp_pause(s);
	listen_pause(s);
	server_check(s);
}

/* SIGHUP: every output reopens its file (log rotation), and the TLS
 * files are read again (certificate rotation). */
static void
server_reopen(struct server *s)
{
	char err[512];

	server_flush(s);
	for (size_t i = 0; i < s->noutputs; i++)
		s->outputs[i]->ops->reopen(s->outputs[i]);
	if (s->tls != NULL && tls_reload(s->tls, err, sizeof err) != 0)
		report("TLS reload failed, the old files stay: %s", err);
	server_check(s);
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

/* Set up the batch, events and signals; err says what failed. */
int
server_init(struct server *s, struct event_base *base, const struct opts *o,
    char *err, size_t errlen)
{
	static const int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGUSR1};
	/* A batch holds many records and always the largest one. */
	size_t worst = 256 + ESCAPE_JSON_MAX(o->max_line);

	memset(s, 0, sizeof(*s));
	s->base = base;
	s->opts = o;
	s->fmt = o->redis_url != NULL ? RECORD_FIELDS : o->format;
	s->exit_code = 0;
	ts_init(&s->ts);
	server_clock(s);
	s->soft = worst * 4 > (1u << 20) ? worst * 4 : (1u << 20);
	s->limit = s->soft;
	s->batch.cap = s->soft * 2;
	s->batch.buf = malloc(s->batch.cap);
	s->flush_ev = event_new(base, -1, 0, server_flush_cb, s);
	s->stop_ev = event_new(base, -1, EV_PERSIST, server_stop_cb, s);
	s->reject_ev = evtimer_new(base, server_reject_cb, s);
	if (s->batch.buf == NULL || s->flush_ev == NULL || s->stop_ev == NULL ||
	    s->reject_ev == NULL || peer_init(s) != 0) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	/* The options give a certificate exactly when some listener, a -T or
	 * a passed tls socket, is TLS. */
	if (o->cert != NULL && tls_init(&s->tls, o, err, errlen) != 0)
		return -1;
	for (size_t i = 0; i < 4; i++) {
		s->sig_ev[i] = evsignal_new(base, sigs[i], server_signal_cb, s);
		if (s->sig_ev[i] == NULL || evsignal_add(s->sig_ev[i], NULL)) {
			snprintf(err, errlen, "cannot watch signals");
			return -1;
		}
	}
	return 0;
}

/* Watch o's changes; the server owns it from now on. */
static void
server_add_output(struct server *s, struct output *o)
{
	o->changed = server_output_cb;
	o->arg = s;
	s->outputs[s->noutputs++] = o;
}

/* Open the outputs the options name (after binding: a failed start-up
 * leaves no file behind). */
int
server_open_output(struct server *s, char *err, size_t errlen)
{
	const struct opts *opts = s->opts;
	struct output *o;

	if (opts->redis_url == NULL || opts->output_set) {
		o = output_file_open(s->base, opts->output, opts->format);
		if (o == NULL) {
			snprintf(err, errlen, "--output %s: %s", opts->output,
			    strerror(errno));
			return -1;
		}
		server_add_output(s, o);
	}
	if (opts->redis_url != NULL) {
		o = output_redis_open(s->base, opts, err, errlen);
		if (o == NULL)
			return -1;
		server_add_output(s, o);
	}
	return 0;
}

/* The sockets are bound and the output open: log the start record. */
void
server_start(struct server *s)
{
	struct record_kv kv[] = {
	    {"version", PEERLOG_VERSION, 0},
	    {"pid", NULL, (unsigned long long)getpid()},
	};
	server_clock(s);
	peer_limit(s);
	server_log(s, "-", "-", RECORD_START, NULL, 0, kv, 2);
}

/* Run the loop until shutdown is done; the exit status. */
int
server_run(struct server *s)
{
	if (event_base_dispatch(s->base) != 0) {
		report("the event loop failed");
		return 1;
	}
	for (size_t i = 0; i < s->noutputs; i++) {
		struct output *o = s->outputs[i];
		unsigned long long lost = o->c.lost;
		if (s->lost)
			lost += s->counters.records_lost;
		if (lost > 0) {
			report("output %s: %llu records not written", o->name,
			    lost);
			s->exit_code = 1;
		}
	}
	return s->exit_code;
}

/* Free what server_init and the modules made; the base is the caller's. */
void
server_free(struct server *s)
{
	metrics_free(s);
	peer_free_all(s);
	udp_free(s);
	listen_free(s); /* last: the others point to its confs */
	for (size_t i = 0; i < 4; i++)
		if (s->sig_ev[i] != NULL)
			event_free(s->sig_ev[i]);
	if (s->flush_ev != NULL)
		event_free(s->flush_ev);
	if (s->stop_ev != NULL)
		event_free(s->stop_ev);
	if (s->reject_ev != NULL)
		event_free(s->reject_ev);
	tls_free(s->tls);
	s->tls = NULL;
	notify_free(s);
	for (size_t i = 0; i < s->noutputs; i++)
		s->outputs[i]->ops->free(s->outputs[i]);
	s->noutputs = 0;
	free(s->batch.buf);
	s->batch.buf = NULL;
	free(s->conv.buf);
	s->conv.buf = NULL;
}
