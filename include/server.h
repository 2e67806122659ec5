/*
 * The server and its logging API. The modules own their state: struct peer
 * (peer.c), struct listener (listen.c) and struct udp_sock (udp.c) are
 * private; the server holds them through the opaque pointers below.
 */
#ifndef PEERLOG_SERVER_H
#define PEERLOG_SERVER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "addr.h"
#include "counters.h"
#include "opts.h"
#include "output.h"
#include "ratelimit.h"
#include "record.h"
#include "ts.h"

struct event_base;
struct event;
struct peers;
struct listeners;
struct udps;
struct tls_ctx;
struct notify;
struct sdenv_fds;
struct metrics;

/* Outputs at once: a file now, a broker beside it later. */
#define SERVER_OUTPUTS_MAX 4

/*
 * The records of one loop pass, formatted once and handed to every output
 * at the end of the pass (or when it holds a batch's worth).
 */
struct batch {
	char *buf;
	size_t len; /* bytes of whole records */
	size_t cap;
};

struct server {
	struct event_base *base;
	const struct opts *opts;
	struct ts_cache ts;
	long long now; /* monotonic milliseconds, refreshed with ts */

	enum record_fmt fmt; /* the batch's: the file's, or fields for Redis */
	struct batch batch;
	struct batch conv; /* the batch as lines, for a file beside Redis */
	size_t soft;       /* records held (batch and outputs) before pausing */
	size_t limit;      /* what the batch may take now: soft less the most
	                    * any output holds; SIZE_MAX once records are lost */
	struct output *outputs[SERVER_OUTPUTS_MAX];
	size_t noutputs;

	struct peers *peers;         /* peer.c */
	struct listeners *listeners; /* listen.c */
	struct udps *udps;           /* udp.c */
	struct tls_ctx *tls;         /* tls.c: with -T listeners, else NULL */
	struct notify *notify;       /* notify.c: with NOTIFY_SOCKET */
	struct metrics *metrics;     /* metrics_http.c: with --metrics */

	struct event *flush_ev;  /* hands the batch over once per loop pass */
	struct event *stop_ev;   /* shutdown: watches the outputs' progress */
	struct event *reject_ev; /* writes the suppressed-rejects counts */
	struct event *sig_ev[4];
	struct ratelimit reject_rl[REJECT_N];

	bool paused;    /* input stopped until the outputs take more */
	bool stopping;  /* shutdown under way */
	bool stop_done; /* every input read and the stop record logged */
	bool stepping;  /* inside server_stop_step */
	const char *stop_signal; /* the stop record's signal=, or NULL */
	bool lost; /* shutdown gave up on the outputs: count, not hold */
	long long paused_since;
	long long stop_progress; /* when an output last took a byte */
	unsigned long long stop_bytes;
	int exit_code;

	struct counters counters;
};

/* server.c */
int server_init(struct server *s, struct event_base *base, const struct opts *o,
    char *err, size_t errlen);
int server_open_output(struct server *s, char *err, size_t errlen);
void server_start(struct server *s);
int server_run(struct server *s);
void server_free(struct server *s);
void server_clock(struct server *s);
bool server_can_log_slow(struct server *s);
void server_log(struct server *s, const char *proto, const char *peer,
    enum record_event ev, const void *msg, size_t len,
    const struct record_kv *kv, size_t nkv);
char *server_log_room(struct server *s, size_t need);
bool server_allowed(const struct server *s, const struct sockaddr *sa);
bool server_trusted(const struct server *s, const struct sockaddr *sa);
/* Most key=values a reject record carries besides its reason. */
#define SERVER_REJECT_EXTRA 3
void server_reject(struct server *s, const char *proto, const char *peer,
    enum reject_reason why, const struct record_kv *extra, size_t nextra);
void server_snapshot(struct server *s, struct counters_snapshot *snap);

/*
 * The per-message path, inline: peer.c and udp.c call these for every
 * message, and a call costs as much as the checks themselves.
 */

/* Whether a record may be added now: hands over a full batch first. */
static inline bool
server_can_log(struct server *s)
{
	if (!s->paused && s->batch.len < s->limit)
		return true;
	return server_can_log_slow(s);
}

/* Room for a message record of need bytes: straight in the batch while it
 * has records and room, else through server_log_room. */
static inline char *
server_msg_room(struct server *s, size_t need)
{
	struct batch *b = &s->batch;

	if (b->len > 0 && b->cap - b->len >= need)
		return b->buf + b->len;
	return server_log_room(s, need);
}

/* Count len bytes written at the server_msg_room pointer. */
static inline void
server_commit(struct server *s, size_t len)
{
	s->batch.len += len;
}

/* One message record formatted straight into the batch. */
static inline void
server_log_msg(struct server *s, const struct record_head *h, bool cont,
    const void *msg, size_t len)
{
	char *d = server_msg_room(s, record_msg_max(len));

	if (d != NULL)
		server_commit(s, record_msg(d, h, s->ts.text, cont, msg, len));
	else
		s->counters.records_lost++;
}

/* Frame the next line at buf and log it in one pass (text records): false
 * when it takes frame_next and server_log_msg instead (see record_msg_line;
 * also when no record can be made: server_log_msg counts it). */
static inline bool
server_log_line(struct server *s, const struct record_head *h, const char *buf,
    size_t n, struct frame *f)
{
	size_t max_line = s->opts->max_line;
	char *d = server_msg_room(
	    s, record_msg_max(n < max_line + 2 ? n : max_line + 2));

	if (d == NULL)
		return false;
	size_t len = record_msg_line(d, h, s->ts.text, buf, n, max_line, f);
	server_commit(s, len);
	return len > 0;
}

/* What a listener is: how its connections are served. */
struct listen_conf {
	struct server *server;
	enum proto proto; /* PROTO_TCP, PROTO_UDP or PROTO_TLS */
	const char *opt;  /* the option that named it: "--tcp" */
	const struct addr_spec *addr;
};

/* listen.c: every socket the options name, bound in one place, and every
 * socket systemd passed */

/*
 * Read the sockets systemd passed to this process from the environment
 * (LISTEN_PID, LISTEN_FDS, LISTEN_FDNAMES; see sdenv.h) into f, and unset
 * those variables. Before opts_parse_passed, which takes f. Returns 0, or
 * -1 with err set (exit status 2).
 */
int listen_passed_env(struct sdenv_fds *f, char *err, size_t errlen);
int listen_open(struct server *s, char *err, size_t errlen);
/*
 * The hook of the module that serves a kind of passed socket that listen.c
 * does not serve itself; only "metrics" (FileDescriptorName=metrics) is
 * kept so. After listen_open and before listen_announce, each call takes
 * the next passed socket of that name: a listening, non-blocking,
 * close-on-exec IPv4 or IPv6 stream socket, checked like the others (with
 * SO_REUSEPORT as systemd's ReusePort= set it). From then it is the
 * caller's to serve, to announce ("peerlogd: listening ..." from its
 * getsockname) and to close. Returns -1 when none is left. listen_announce
 * closes any not taken, and says so.
 */
int listen_activated_fd(struct server *s, const char *name);
void listen_announce(struct server *s);
void listen_pause(struct server *s);
void listen_resume(struct server *s);
void listen_starved(struct server *s, int err);
bool listen_drain(struct server *s);
void listen_free(struct server *s);

/* peer.c: TCP and TLS clients */
int peer_init(struct server *s);
void peer_limit(struct server *s);
bool peer_room(const struct server *s);
void peer_accept(struct server *s, const struct listen_conf *conf, int fd,
    const struct sockaddr *sa);
void peer_pause_all(struct server *s);
bool peer_unload_all(struct server *s);
void peer_expire_all(struct server *s);
void peer_resume_all(struct server *s);
bool peer_drain_all(struct server *s);
void peer_free_all(struct server *s);

/* udp.c: UDP sockets */
int udp_add(struct server *s, const struct listen_conf *conf, int fd, char *err,
    size_t errlen);
void udp_announce(struct server *s);
void udp_pause(struct server *s);
void udp_resume(struct server *s);
bool udp_drain(struct server *s);
unsigned long long udp_kernel_drops(struct server *s);
void udp_free(struct server *s);

#endif
