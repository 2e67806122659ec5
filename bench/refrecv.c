/*
 * The bare reference receiver: the simplest fast thing that does peerlogd's
 * job, as a ceiling for the benchmarks. Plain epoll, no libevent; 64 KiB
 * reads; lines split with memchr; "PEER LINE" appended to one buffer that is
 * written once per loop pass; UDP taken with recvmmsg. No timestamps and
 * no escaping: those are peerlogd's extra work, and the gap measures them.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

/* Bytes taken from a TCP socket by one read. */
#define RR_READ (64 * 1024)
/* Datagrams per recvmmsg call, and the room for each. */
#define RR_BATCH 64
#define RR_DGRAM 65536
/* Output bytes that force a write before the pass ends (bounds memory). */
#define RR_FLUSH (4 * 1024 * 1024)
/* UDP receive buffer asked for, as peerlogd does, so neither loses
 * datagrams for want of a buffer the other has. */
#define RR_RCVBUF (8 * 1024 * 1024)
/* Longest unterminated tail kept; beyond it the tail is logged as a line. */
#define RR_MAX_TAIL (1024 * 1024)

enum rr_kind { RR_LISTEN, RR_UDP, RR_SIGNAL, RR_CONN };

/* What an epoll event points at; the first member of every source. */
struct rr_src {
	enum rr_kind kind;
	int fd;
};

struct rr_conn {
	struct rr_src src;
	char peer[64]; /* "ADDR:PORT ", formatted once at accept */
	size_t plen;
	char *tail; /* bytes after the last LF, waiting for the rest */
	size_t tlen, tcap;
};

/* The one output buffer and its file. */
struct rr_out {
	int fd;
	char *buf;
	size_t len, cap;
};

/* Exit with a one-line error. */
static void
rr_die(const char *what)
{
	fprintf(stderr, "refrecv: %s: %s\n", what, strerror(errno));
	exit(2);
}

/* Grow the output buffer to hold n more bytes. */
static void
rr_reserve(struct rr_out *o, size_t n)
{
	if (o->len + n <= o->cap)
		return;
	size_t cap = o->cap ? o->cap : 1 << 20;
	while (cap < o->len + n)
		cap *= 2;
	char *b = realloc(o->buf, cap);
	if (b == NULL)
		rr_die("realloc");
	o->buf = b;
	o->cap = cap;
}

/* Write the whole output buffer (the file is regular, so this blocks). */
static void
rr_flush(struct rr_out *o)
{
	size_t off = 0;

	while (off < o->len) {
		ssize_t w = write(o->fd, o->buf + off, o->len - off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			rr_die("write");
		}
		off += (size_t)w;
	}
	o->len = 0;
}

/* Append "PEER " a b LF, where the line is a then b (either may be empty),
 * dropping one CR before the LF. */
static void
rr_line(struct rr_out *o, const char *peer, size_t plen, const char *a,
    size_t alen, const char *b, size_t blen)
{
	if (blen > 0 && b[blen - 1] == '\r')
		blen--;
	else if (blen == 0 && alen > 0 && a[alen - 1] == '\r')
		alen--;
	rr_reserve(o, plen + alen + blen + 1);
	char *p = o->buf + o->len;
	memcpy(p, peer, plen);
	p += plen;
	memcpy(p, a, alen);
	p += alen;
	memcpy(p, b, blen);
	p[blen] = '\n';
	o->len += plen + alen + blen + 1;
}

/* Format addr as "ADDR:PORT " (IPv6 in brackets) into dst. */
static size_t
rr_peer(const struct sockaddr *sa, char *dst, size_t cap)
{
	char host[INET6_ADDRSTRLEN];
	int n;

	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)sa;
		inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
		n = snprintf(dst, cap, "[%s]:%u ", host, ntohs(s6->sin6_port));
	} else {
		const struct sockaddr_in *s4 = (const void *)sa;
		inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
		n = snprintf(dst, cap, "%s:%u ", host, ntohs(s4->sin_port));
	}
	return n > 0 ? (size_t)n : 0;
}

/* Keep bytes after the last LF until their line is complete. */
static void
rr_keep_tail(struct rr_conn *c, const char *p, size_t n)
{
	if (c->tlen + n > c->tcap) {
		size_t cap = c->tcap ? c->tcap : 256;
		while (cap < c->tlen + n)
			cap *= 2;
		char *t = realloc(c->tail, cap);
		if (t == NULL)
			rr_die("realloc");
		c->tail = t;
		c->tcap = cap;
	}
	memcpy(c->tail + c->tlen, p, n);
	c->tlen += n;
}

/* Split freshly read bytes into lines and append one record per line. */
static void
rr_split(struct rr_out *o, struct rr_conn *c, const char *p, size_t n)
{
	const char *end = p + n, *lf;

	if (c->tlen > 0) {
		lf = memchr(p, '\n', n);
		if (lf == NULL) {
			rr_keep_tail(c, p, n);
			if (c->tlen >= RR_MAX_TAIL) {
				rr_line(o, c->peer, c->plen, c->tail, c->tlen,
				    "", 0);
				c->tlen = 0;
			}
			return;
		}
		rr_line(
		    o, c->peer, c->plen, c->tail, c->tlen, p, (size_t)(lf - p));
		c->tlen = 0;
		p = lf + 1;
	}
	while (p < end && (lf = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		rr_line(o, c->peer, c->plen, "", 0, p, (size_t)(lf - p));
		p = lf + 1;
	}
	if (p < end)
		rr_keep_tail(c, p, (size_t)(end - p));
}

/* Log a closing client's unterminated tail and free it. */
static void
rr_close(struct rr_out *o, struct rr_conn *c)
{
	if (c->tlen > 0)
		rr_line(o, c->peer, c->plen, c->tail, c->tlen, "", 0);
	close(c->src.fd);
	free(c->tail);
	free(c);
}

/* Accept every pending client and watch it for input. */
static void
rr_accept(int ep, struct rr_src *l)
{
	for (;;) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		int fd = accept4(l->fd, (struct sockaddr *)&ss, &sl,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			return; /* EAGAIN, or EMFILE: retried next pass */
		}
		struct rr_conn *c = calloc(1, sizeof(*c));
		if (c == NULL)
			rr_die("calloc");
		c->src.kind = RR_CONN;
		c->src.fd = fd;
		c->plen =
		    rr_peer((struct sockaddr *)&ss, c->peer, sizeof(c->peer));
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0)
			rr_die("epoll_ctl");
	}
}

/* Read once from a client; false when it has gone (and was freed). */
static bool
rr_read(struct rr_out *o, struct rr_conn *c, char *buf)
{
	ssize_t n = read(c->src.fd, buf, RR_READ);

	if (n > 0) {
		rr_split(o, c, buf, (size_t)n);
		return true;
	}
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return true;
	rr_close(o, c);
	return false;
}

/* The datagram buffers, allocated once. */
struct rr_udp {
	struct mmsghdr msgs[RR_BATCH];
	struct iovec iov[RR_BATCH];
	struct sockaddr_storage names[RR_BATCH];
	char data[RR_BATCH][RR_DGRAM];
};

/* Take one batch of datagrams; each becomes a record, one LF dropped. */
static void
rr_udp_read(struct rr_out *o, struct rr_src *u, struct rr_udp *b)
{
	char peer[64];
	int n, i;

	for (i = 0; i < RR_BATCH; i++) {
		b->iov[i].iov_base = b->data[i];
		b->iov[i].iov_len = RR_DGRAM;
		memset(&b->msgs[i].msg_hdr, 0, sizeof(b->msgs[i].msg_hdr));
		b->msgs[i].msg_hdr.msg_iov = &b->iov[i];
		b->msgs[i].msg_hdr.msg_iovlen = 1;
		b->msgs[i].msg_hdr.msg_name = &b->names[i];
		b->msgs[i].msg_hdr.msg_namelen = sizeof(b->names[i]);
	}
	n = recvmmsg(u->fd, b->msgs, RR_BATCH, MSG_DONTWAIT, NULL);
	for (i = 0; i < n; i++) {
		size_t len = b->msgs[i].msg_len;
		const char *d = b->data[i];
		size_t plen = rr_peer(
		    (struct sockaddr *)&b->names[i], peer, sizeof(peer));
		if (len > 0 && d[len - 1] == '\n')
			len--;
		rr_line(o, peer, plen, "", 0, d, len);
	}
}

/* Bind a TCP listener or UDP socket on "HOST:PORT" and print its port. */
static struct rr_src *
rr_bind(const char *spec, bool udp)
{
	char host[128];
	const char *colon = strrchr(spec, ':');
	struct addrinfo hints, *res;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char shown[80];
	int one = 1;

	if (colon == NULL || (size_t)(colon - spec) >= sizeof(host)) {
		fprintf(stderr, "refrecv: %s: want HOST:PORT\n", spec);
		exit(2);
	}
	memcpy(host, spec, (size_t)(colon - spec));
	host[colon - spec] = '\0';
	if (host[0] == '[') {
		memmove(host, host + 1, strlen(host));
		host[strcspn(host, "]")] = '\0';
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
	hints.ai_socktype = udp ? SOCK_DGRAM : SOCK_STREAM;
	if (getaddrinfo(host, colon + 1, &hints, &res) != 0) {
		fprintf(stderr, "refrecv: %s: bad address\n", spec);
		exit(2);
	}
	struct rr_src *s = calloc(1, sizeof(*s));
	if (s == NULL)
		rr_die("calloc");
	s->kind = udp ? RR_UDP : RR_LISTEN;
	s->fd = socket(
	    res->ai_family, res->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->fd < 0)
		rr_die("socket");
	setsockopt(s->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (udp) {
		int size = RR_RCVBUF;
		if (setsockopt(s->fd, SOL_SOCKET, SO_RCVBUFFORCE, &size,
		        sizeof(size)) != 0)
			setsockopt(
			    s->fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	}
	if (bind(s->fd, res->ai_addr, res->ai_addrlen) != 0)
		rr_die(spec);
	if (!udp && listen(s->fd, SOMAXCONN) != 0)
		rr_die("listen");
	freeaddrinfo(res);
	getsockname(s->fd, (struct sockaddr *)&ss, &sl);
	rr_peer((struct sockaddr *)&ss, shown, sizeof(shown));
	shown[strcspn(shown, " ")] = '\0';
	fprintf(
	    stderr, "refrecv: listening %s %s\n", udp ? "udp" : "tcp", shown);
	return s;
}

/* Raise the open-file limit to its hard maximum: thousands of clients. */
static void
rr_raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* Add a source to the epoll set for input. */
static void
rr_watch(int ep, struct rr_src *s)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = s};

	if (epoll_ctl(ep, EPOLL_CTL_ADD, s->fd, &ev) != 0)
		rr_die("epoll_ctl");
}

/* Receive until SIGTERM or SIGINT, then write what is buffered, exit 0. */
int
main(int argc, char **argv)
{
	const char *tcp = NULL, *udp = NULL, *path = NULL;
	struct rr_out out = {0};
	struct rr_src sig = {RR_SIGNAL, -1};
	struct rr_udp *ub = NULL;
	char *rbuf = malloc(RR_READ);
	sigset_t set;
	int ch, ep;
	bool stop = false;

	while ((ch = getopt(argc, argv, "t:u:o:")) != -1) {
		if (ch == 't')
			tcp = optarg;
		else if (ch == 'u')
			udp = optarg;
		else if (ch == 'o')
			path = optarg;
		else
			goto usage;
	}
	if (optind != argc || path == NULL || (tcp == NULL && udp == NULL))
		goto usage;
	rr_raise_nofile();
	signal(SIGPIPE, SIG_IGN);
	out.fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (out.fd < 0 || rbuf == NULL)
		rr_die(path);
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		rr_die("epoll_create1");
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, NULL);
	sig.fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (sig.fd < 0)
		rr_die("signalfd");
	rr_watch(ep, &sig);
	if (tcp != NULL)
		rr_watch(ep, rr_bind(tcp, false));
	if (udp != NULL) {
		rr_watch(ep, rr_bind(udp, true));
		ub = malloc(sizeof(*ub));
		if (ub == NULL)
			rr_die("malloc");
	}
	while (!stop) {
		struct epoll_event evs[256];
		int n = epoll_wait(ep, evs, 256, -1);

		if (n < 0 && errno != EINTR)
			rr_die("epoll_wait");
		for (int i = 0; i < n; i++) {
			struct rr_src *s = evs[i].data.ptr;
			if (s->kind == RR_CONN)
				rr_read(&out, (struct rr_conn *)s, rbuf);
			else if (s->kind == RR_LISTEN)
				rr_accept(ep, s);
			else if (s->kind == RR_UDP)
				rr_udp_read(&out, s, ub);
			else
				stop = true;
			if (out.len >= RR_FLUSH)
				rr_flush(&out);
		}
		rr_flush(&out);
	}
	return 0;
usage:
	fprintf(
	    stderr, "usage: refrecv [-t HOST:PORT] [-u HOST:PORT] -o FILE\n");
	return 2;
}
