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
	time_t heard;       /* monotonic second it last sent (or connected) */
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
	time_t now; /* monotonic seconds, refreshed with ts */

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
bool server_can_log(struct server *s);
void server_log(struct server *s, const char *proto, const char *peer,
    enum record_event ev, const void *msg, size_t len,
    const struct record_kv *kv, size_t nkv);
void server_log_msg(struct server *s, const struct record_head *h, bool cont,
    const void *msg, size_t len);
bool server_allowed(const struct server *s, const struct sockaddr *sa);

/* listen.c */
int listen_open(struct server *s, char *err, size_t errlen);
void listen_pause(struct server *s);
void listen_resume(struct server *s);
void listen_close(struct server *s);

/* peer.c */
struct peer *peer_accept(struct server *s, int fd, const struct sockaddr *sa);
void peer_process(struct peer *p, bool final);
void peer_shutdown(struct peer *p);
void peer_pause(struct peer *p);
void peer_resume(struct peer *p);

/* udp.c */
void udp_read(struct udp_sock *u, bool drain);
void udp_pause(struct server *s);
void udp_resume(struct server *s);
void udp_close(struct server *s);

#endif
