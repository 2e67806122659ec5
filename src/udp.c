/* UDP sockets: datagrams taken in batches with recvmmsg, one record each. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "frame.h"
#include "server.h"

/* Datagrams per recvmmsg call. */
#define UDP_BATCH 32
/* Batches per wake-up, so a flood cannot starve the TCP clients. */
#define UDP_BATCHES_PER_WAKE 8
/* Batches taken at shutdown at most: a full 16 MiB buffer of small
 * datagrams, then stop. */
#define UDP_DRAIN_ROUNDS 8192
/* Largest UDP payload (IPv6 without jumbograms), rounded up. */
#define UDP_MAX 65536

struct udp_batch {
	struct mmsghdr msgs[UDP_BATCH];
	struct iovec iov[UDP_BATCH];
	struct sockaddr_storage names[UDP_BATCH];
	char control[UDP_BATCH][CMSG_SPACE(sizeof(uint32_t))];
	/* The last peer formatted: a sender of many datagrams is formatted
	 * once, not per datagram. */
	struct sockaddr_storage last;
	socklen_t last_len;
	struct record_head last_head;
	char data[UDP_BATCH][UDP_MAX];
};

/* The shared batch buffers, made on first use. */
static struct udp_batch *
udp_batch(struct server *s)
{
	if (s->udp_batch == NULL)
		s->udp_batch = calloc(1, sizeof(*s->udp_batch));
	return s->udp_batch;
}

/* Count the datagrams the kernel dropped for want of buffer space. */
static void
udp_kernel_drops(struct udp_sock *u, struct msghdr *h)
{
	struct cmsghdr *c;

	for (c = CMSG_FIRSTHDR(h); c != NULL; c = CMSG_NXTHDR(h, c)) {
		if (c->cmsg_level == SOL_SOCKET &&
		    c->cmsg_type == SO_RXQ_OVFL) {
			uint32_t total;
			memcpy(&total, CMSG_DATA(c), sizeof(total));
			u->server->stats.udp_dropped += total - u->kernel_drops;
			u->kernel_drops = total;
		}
	}
}

/* Log one datagram, unless --allow refuses its sender. */
static void
udp_datagram(struct udp_sock *u, struct udp_batch *b, size_t i)
{
	struct server *s = u->server;
	struct msghdr *h = &b->msgs[i].msg_hdr;
	const struct sockaddr *sa = (struct sockaddr *)&b->names[i];
	size_t n = b->msgs[i].msg_len;

	udp_kernel_drops(u, h);
	if (!server_allowed(s, sa)) {
		/* Counted, never logged one by one: a flood stays out of
		 * the log. */
		s->stats.udp_dropped++;
		return;
	}
	if (h->msg_namelen != b->last_len ||
	    memcmp(&b->last, sa, h->msg_namelen) != 0) {
		memcpy(&b->last, sa, h->msg_namelen);
		b->last_len = h->msg_namelen;
		char addr[ADDR_STRLEN];
		addr_format(sa, addr);
		record_head_init(&b->last_head, s->opts->format, "udp", addr);
	}
	server_log_msg(
	    s, &b->last_head, false, b->data[i], frame_datagram(b->data[i], n));
	s->stats.udp_msgs++;
	s->stats.udp_bytes += n;
}

/*
 * Take the datagrams waiting on the socket: a bounded number per wake-up,
 * or, with drain (shutdown), all of them.
 */
void
udp_read(struct udp_sock *u, bool drain)
{
	struct server *s = u->server;
	struct udp_batch *b = udp_batch(s);

	if (b == NULL)
		return;
	server_clock(s);
	/* At shutdown: what the socket buffer holds (16 MiB at most), not a
	 * flood that never ends. */
	int rounds = drain ? UDP_DRAIN_ROUNDS : UDP_BATCHES_PER_WAKE;
	for (int round = 0; round < rounds; round++) {
		if (!server_can_log(s))
			return;
		for (size_t i = 0; i < UDP_BATCH; i++) {
			struct msghdr *h = &b->msgs[i].msg_hdr;
			b->iov[i].iov_base = b->data[i];
			b->iov[i].iov_len = UDP_MAX;
			memset(h, 0, sizeof(*h));
			h->msg_iov = &b->iov[i];
			h->msg_iovlen = 1;
			h->msg_name = &b->names[i];
			h->msg_namelen = sizeof(b->names[i]);
			h->msg_control = b->control[i];
			h->msg_controllen = sizeof(b->control[i]);
		}
		int n = recvmmsg(u->fd, b->msgs, UDP_BATCH, MSG_DONTWAIT, NULL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		for (int i = 0; i < n; i++)
			udp_datagram(u, b, (size_t)i);
		if (n < UDP_BATCH)
			return;
	}
}

/* Stop reading datagrams: they wait in the kernel's buffer meanwhile. */
void
udp_pause(struct server *s)
{
	for (size_t i = 0; i < s->nudps; i++)
		event_del(s->udps[i].ev);
}

/* Read datagrams again. */
void
udp_resume(struct server *s)
{
	for (size_t i = 0; i < s->nudps; i++) {
		event_add(s->udps[i].ev, NULL);
		udp_read(&s->udps[i], false);
	}
}

/* Close the sockets; at shutdown, log what they hold first. */
void
udp_close(struct server *s)
{
	for (size_t i = 0; i < s->nudps; i++) {
		struct udp_sock *u = &s->udps[i];
		if (s->stopping)
			udp_read(u, true);
		event_free(u->ev);
		close(u->fd);
	}
	s->nudps = 0;
	free(s->udps);
	s->udps = NULL;
	free(s->udp_batch);
	s->udp_batch = NULL;
}
