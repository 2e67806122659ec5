/* The server state shared by peerlogd's event-loop modules. */
#ifndef PEERLOG_SERVER_H
#define PEERLOG_SERVER_H

#include <stdbool.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <time.h>

#include "addr.h"
#include "opts.h"
#include "record.h"
#include "sink.h"
#include "ts.h"

struct event_base;
struct event;
struct evconnlistener;
struct bufferevent;

/*
 * A TCP client: owns its socket, its formatted address, and from its first
 * byte on its bufferevent (before that, a plain read event: a silent client
 * holds no buffers).
 */
struct peer {
	TAILQ_ENTRY(peer) entry;
	struct server *server;
	struct bufferevent *bev; /* NULL until the client first sends */
	struct event *wait_ev;   /* read event while bev is NULL */
	int fd;
	unsigned long long msgs;
	unsigned long long bytes;
	long long heard;    /* monotonic ms it last sent (or connected) */
	unsigned left;      /* input bytes held after the last callback */
	bool held;          /* input waits that the output could not take */
	bool short_timeout; /* idle timeout armed for what was left of it */
	char addr[ADDR_STRLEN];
};
TAILQ_HEAD(peer_list, peer);

/* A listening TCP socket. */
struct listener {
	struct server *server;
	struct evconnlistener *lev;
	char addr[ADDR_STRLEN];
};

/* A UDP socket and its read event. */
struct udp_sock {
	struct server *server;
	int fd;
	struct event *ev;
	unsigned kernel_drops; /* SO_RXQ_OVFL count last seen */
	char addr[ADDR_STRLEN];
};

struct server_stats {
	unsigned long long connects;
	unsigned long long rejects;
	unsigned long long tcp_msgs;
	unsigned long long tcp_bytes;
	unsigned long long udp_msgs;
	unsigned long long udp_bytes;
	unsigned long long udp_dropped;
};

struct server {
	struct event_base *base;
	const struct opts *opts;
	struct sink sink;
	struct ts_cache ts;
	long long now; /* monotonic milliseconds, refreshed with ts */
	char *rdbuf;   /* PEER_READ bytes: where TCP clients are read into */

	struct listener *listeners;
	size_t nlisteners;
	struct udp_sock *udps;
	size_t nudps;
	struct udp_batch *udp_batch; /* recvmmsg buffers, shared */
	struct peer_list peers;
	size_t npeers;

	struct event *flush_ev;  /* writes the sink once per loop pass */
	struct event *retry_ev;  /* retries a failed write, then resumes */
	struct event *write_ev;  /* a slow output can take more */
	struct event *accept_ev; /* resumes accepting after EMFILE */
	bool accept_starved;     /* EMFILE reported; cleared by an accept */
	struct event *sig_ev[4];

	bool paused;   /* input stopped until the sink drains */
	bool stopping; /* shutdown under way */
	bool lost;     /* at shutdown the output took nothing for too long */
	int exit_code;

	struct server_stats stats;
};

/* server.c */
int server_init(
    struct server *s, struct event_base *base, const struct opts *o);
void server_start(struct server *s);
void server_free(struct server *s);
void server_clock(struct server *s);
bool server_can_log_slow(struct server *s);
void server_log(struct server *s, const char *proto, const char *peer,
    enum record_event ev, const void *msg, size_t len,
    const struct record_kv *kv, size_t nkv);
char *server_log_room(struct server *s, size_t need);
bool server_allowed(const struct server *s, const struct sockaddr *sa);

/*
 * The per-message path, inline: peer.c and udp.c call these for every
 * message, and a call costs as much as the checks themselves.
 */

/* Whether a record may be added now: writes a full batch first. */
static inline bool
server_can_log(struct server *s)
{
	if (!s->stopping && !s->paused && !sink_full(&s->sink))
		return true;
	return server_can_log_slow(s);
}

/* Room for a message record of need bytes: straight in the sink while a
 * batch is under way and fits, else through server_log_room. */
static inline char *
server_msg_room(struct server *s, size_t need)
{
	struct sink *k = &s->sink;

	if (k->len > 0 && k->cap - k->len >= need)
		return k->buf + k->len;
	return server_log_room(s, need);
}

/* One message record formatted straight into the sink; it is written by
 * the end of the loop pass. */
static inline void
server_log_msg(struct server *s, const struct record_head *h, bool cont,
    const void *msg, size_t len)
{
	char *d = server_msg_room(s, record_msg_max(len));

	if (d != NULL)
		sink_commit(
		    &s->sink, record_msg(d, h, s->ts.text, cont, msg, len));
}

/* Frame the next line at buf and log it in one pass (text records): false
 * when it takes frame_next instead (see record_msg_line). */
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
	sink_commit(&s->sink, len);
	return len > 0;
}

/* listen.c */
int listen_open(struct server *s, char *err, size_t errlen);
void listen_pause(struct server *s);
void listen_resume(struct server *s);
void listen_close(struct server *s);

/* peer.c */
#define PEER_READ (64u * 1024) /* one read from a client, at most */
struct peer *peer_accept(struct server *s, int fd, const struct sockaddr *sa);
bool peer_process(struct peer *p, bool final);
void peer_shutdown(struct peer *p);
void peer_pause(struct peer *p);
bool peer_unload(struct peer *p);
bool peer_expire(struct peer *p);
void peer_resume(struct peer *p);

/* udp.c */
void udp_read(struct udp_sock *u, bool drain);
void udp_pause(struct server *s);
void udp_resume(struct server *s);
void udp_close(struct server *s);

#endif
