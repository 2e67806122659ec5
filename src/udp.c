/* UDP sockets: datagrams taken in batches with recvmmsg, one record each. */
#include <errno.h>
#include <linux/sock_diag.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "frame.h"
#include "prog.h"
#include "server.h"
#include "sock.h"

/* Datagrams per recvmmsg call. */
#define UDP_BATCH 32
/* Batches per wake-up, so a flood cannot starve the TCP clients. */
#define UDP_BATCHES_PER_WAKE 8
/* Batches taken from one socket at shutdown at most: a full 16 MiB buffer
 * of small datagrams, then stop. */
#define UDP_DRAIN_ROUNDS 8192
/* Largest UDP payload (IPv6 without jumbograms), rounded up. */
#define UDP_MAX 65536

/* A UDP socket and its read event. */
struct udp_sock {
	struct server *server;
	const struct listen_conf *conf;
	int fd; /* -1 once closed */
	struct event *ev;
	char addr[ADDR_STRLEN];
};

/* recvmmsg's buffers, shared by the sockets. */
struct udp_batch {
	struct mmsghdr msgs[UDP_BATCH];
	struct iovec iov[UDP_BATCH];
	struct sockaddr_storage names[UDP_BATCH];
	/* The last peer formatted: a sender of many datagrams is formatted
	 * once, not per datagram. */
	struct sockaddr_storage last;
	socklen_t last_len;
	struct record_head last_head;
	struct udp_sock *sock; /* where the batch came from */
	size_t count;          /* datagrams in the batch */
	size_t next;           /* the first not logged yet */
	char data[UDP_BATCH][UDP_MAX];
};

/* The UDP sockets of a server. */
struct udps {
	struct udp_sock *u;
	size_t n, cap;
	struct udp_batch *batch; /* made on first use */
	size_t drain_next;       /* shutdown: the socket being drained */
	unsigned drain_rounds;
	unsigned long long closed_drops; /* kernel drops of closed sockets */
};

/* The server's UDP set, made on first use. */
static struct udps *
udp_set(struct server *s)
{
	if (s->udps == NULL)
		s->udps = calloc(1, sizeof(*s->udps));
	return s->udps;
}

/* The shared batch buffers, made on first use. */
static struct udp_batch *
udp_batch(struct udps *us)
{
	if (us->batch == NULL)
		us->batch = calloc(1, sizeof(*us->batch));
	return us->batch;
}

/* Log one datagram, unless --allow refuses its sender. */
static void
udp_datagram(struct udp_sock *u, struct udp_batch *b, size_t i)
{
	struct server *s = u->server;
	struct msghdr *h = &b->msgs[i].msg_hdr;
	const struct sockaddr *sa = (struct sockaddr *)&b->names[i];
	size_t n = b->msgs[i].msg_len;

	if (!server_allowed(s, sa)) {
		/* Counted, never logged one by one: a flood stays out of
		 * the log. */
		s->counters.udp_dropped_acl++;
		return;
	}
	if (h->msg_namelen != b->last_len ||
	    memcmp(&b->last, sa, h->msg_namelen) != 0) {
		memcpy(&b->last, sa, h->msg_namelen);
		b->last_len = h->msg_namelen;
		char addr[ADDR_STRLEN];
		addr_format(sa, addr);
		record_head_init(&b->last_head, s->fmt,
		    counters_proto_name(u->conf->proto), addr);
	}
	server_log_msg(
	    s, &b->last_head, false, b->data[i], frame_datagram(b->data[i], n));
	s->counters.proto[PROTO_UDP].msgs++;
	s->counters.proto[PROTO_UDP].bytes += n;
}

/*
 * Log the datagrams of the last batch not logged yet, one at a time while
 * the output has room: a batch of large datagrams never takes the records
 * past that room by more than one record. Returns false when the room ran
 * out first; the rest wait in the batch buffers.
 */
static bool
udp_unload(struct server *s, struct udp_batch *b)
{
	while (b->next < b->count) {
		if (!server_can_log(s))
			return false;
		udp_datagram(b->sock, b, b->next++);
	}
	return true;
}

/*
 * Take up to rounds batches of the datagrams waiting on the socket, after
 * what the last batch left. Returns true when the socket is empty, false
 * when the rounds or the output's room ran out first.
 */
static bool
udp_read(struct udp_sock *u, unsigned rounds)
{
	struct server *s = u->server;
	struct udp_batch *b = udp_batch(s->udps);

	if (b == NULL)
		return true;
	server_clock(s);
	if (!udp_unload(s, b))
		return false;
	for (unsigned round = 0; round < rounds; round++) {
		if (!server_can_log(s))
			return false;
		for (size_t i = 0; i < UDP_BATCH; i++) {
			struct msghdr *h = &b->msgs[i].msg_hdr;
			b->iov[i].iov_base = b->data[i];
			b->iov[i].iov_len = UDP_MAX;
			memset(h, 0, sizeof(*h));
			h->msg_iov = &b->iov[i];
			h->msg_iovlen = 1;
			h->msg_name = &b->names[i];
			h->msg_namelen = sizeof(b->names[i]);
		}
		int n = recvmmsg(u->fd, b->msgs, UDP_BATCH, MSG_DONTWAIT, NULL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return true;
		}
		b->sock = u;
		b->next = 0;
		b->count = (size_t)n;
		if (!udp_unload(s, b))
			return false;
		if (n < UDP_BATCH)
			return true;
	}
	return false;
}

/* UDP datagrams are ready. */
static void
udp_read_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	udp_read(arg, UDP_BATCHES_PER_WAKE);
}

/* Add a UDP socket on a bound socket (see server.h). */
int
udp_add(struct server *s, const struct listen_conf *conf, int fd, char *err,
    size_t errlen)
{
	struct udps *us = udp_set(s);

	if (us != NULL && us->n == us->cap) {
		size_t cap = us->cap > 0 ? us->cap * 2 : 8;
		struct udp_sock *u = realloc(us->u, cap * sizeof(*u));
		if (u != NULL) {
			us->u = u;
			us->cap = cap;
		}
	}
	if (us == NULL || us->n == us->cap) {
		snprintf(err, errlen, "out of memory");
		close(fd);
		return -1;
	}
	struct udp_sock *u = &us->u[us->n];
	u->server = s;
	u->conf = conf;
	u->fd = fd;
	sock_name(fd, u->addr);
	/* Not added until udp_announce: nothing is read before the output
	 * is open. */
	u->ev = event_new(s->base, fd, EV_READ | EV_PERSIST, udp_read_cb, u);
	if (u->ev == NULL) {
		snprintf(err, errlen, "udp %s: cannot watch socket", u->addr);
		close(fd);
		return -1;
	}
	us->n++;
	return 0;
}

/* Say where datagrams are received, and start reading them. */
void
udp_announce(struct server *s)
{
	struct udps *us = s->udps;

	for (size_t i = 0; us != NULL && i < us->n; i++)
		report("listening %s %s",
		    counters_proto_name(us->u[i].conf->proto), us->u[i].addr);
	udp_resume(s);
}

/* Stop reading datagrams: they wait in the kernel's buffer meanwhile. */
void
udp_pause(struct server *s)
{
	struct udps *us = s->udps;

	for (size_t i = 0; us != NULL && i < us->n; i++)
		if (us->u[i].fd >= 0)
			event_del(us->u[i].ev);
}

/*
 * Read datagrams again. Reading one socket may fill the output and pause
 * input again: the sockets after it then stay off, or each would wake the
 * loop at once, read nothing and spin until the output drains.
 */
void
udp_resume(struct server *s)
{
	struct udps *us = s->udps;

	for (size_t i = 0; us != NULL && i < us->n && !s->paused; i++) {
		struct udp_sock *u = &us->u[i];
		if (u->fd < 0)
			continue;
		if (event_add(u->ev, NULL) != 0)
			report("udp %s: cannot watch the socket", u->addr);
		udp_read(u, UDP_BATCHES_PER_WAKE);
	}
}

/* Datagrams the kernel dropped on this socket for want of buffer space. */
static unsigned long long
udp_sock_drops(const struct udp_sock *u)
{
	uint32_t mem[SK_MEMINFO_VARS];
	socklen_t len = sizeof(mem);

	if (u->fd < 0 ||
	    getsockopt(u->fd, SOL_SOCKET, SO_MEMINFO, mem, &len) != 0 ||
	    len < sizeof(uint32_t) * (SK_MEMINFO_DROPS + 1))
		return 0;
	return mem[SK_MEMINFO_DROPS];
}

/* Datagrams the kernel dropped on every socket since start, read now (a
 * drop is known before the next datagram arrives). */
unsigned long long
udp_kernel_drops(struct server *s)
{
	struct udps *us = s->udps;
	unsigned long long n = 0;

	if (us == NULL)
		return 0;
	for (size_t i = 0; i < us->n; i++)
		n += udp_sock_drops(&us->u[i]);
	return n + us->closed_drops;
}

/* Close one socket, keeping its drop count. */
static void
udp_close(struct udps *us, struct udp_sock *u)
{
	if (u->fd < 0)
		return;
	us->closed_drops += udp_sock_drops(u);
	event_free(u->ev);
	close(u->fd);
	u->fd = -1;
}

/*
 * Shutdown: log what every socket holds (UDP_DRAIN_ROUNDS batches at most
 * each: what its buffer holds, not a flood that never ends), then close it.
 * Returns false when the output filled up first.
 */
bool
udp_drain(struct server *s)
{
	struct udps *us = s->udps;

	for (; us != NULL && us->drain_next < us->n; us->drain_next++) {
		struct udp_sock *u = &us->u[us->drain_next];
		while (u->fd >= 0 && us->drain_rounds < UDP_DRAIN_ROUNDS) {
			if (!server_can_log(s))
				return false;
			us->drain_rounds++;
			if (udp_read(u, 1))
				break;
		}
		/* The rounds ran out: what the last batch took in is logged
		 * all the same. */
		if (us->batch != NULL && !udp_unload(s, us->batch))
			return false;
		udp_close(us, u);
		us->drain_rounds = 0;
	}
	return true;
}

/* Close the sockets and free the set. */
void
udp_free(struct server *s)
{
	struct udps *us = s->udps;

	if (us == NULL)
		return;
	for (size_t i = 0; i < us->n; i++)
		udp_close(us, &us->u[i]);
	free(us->u);
	free(us->batch);
	free(us);
	s->udps = NULL;
}
