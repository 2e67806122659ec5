/* Sockets to listen on: resolve, bind, socket options (see sock.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "prog.h"
#include "sock.h"

/* Pending connections the kernel may queue per listener. */
#define SOCK_BACKLOG 4096
/* UDP receive buffer asked for, so bursts wait in the kernel, not lost. */
#define SOCK_UDP_RCVBUF (8 * 1024 * 1024)

/* The socket addresses one ADDR stands for. */
struct sock_list {
	struct sockaddr_storage ss[SOCK_PER_ADDR];
	socklen_t len[SOCK_PER_ADDR];
	size_t n;
};

/* Add sa to the list unless it is there already. */
static void
sock_list_add(struct sock_list *l, const struct sockaddr *sa, socklen_t len)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->len[i] == len && memcmp(&l->ss[i], sa, len) == 0)
			return;
	if (l->n < SOCK_PER_ADDR) {
		memcpy(&l->ss[l->n], sa, len);
		l->len[l->n++] = len;
	}
}

/* The ADDR as the user typed it: "*:1234", "[::1]:1234", "host:1234". */
static void
sock_typed(const struct addr_spec *a, char *dst, size_t len)
{
	if (a->any)
		snprintf(dst, len, "*:%u", a->port);
	else if (strchr(a->host, ':') != NULL)
		snprintf(dst, len, "[%s]:%u", a->host, a->port);
	else
		snprintf(dst, len, "%s:%u", a->host, a->port);
}

/* Whether the host of a is a numeric address (nothing was resolved). */
static bool
sock_numeric(const struct addr_spec *a)
{
	unsigned char buf[sizeof(struct in6_addr)];

	return a->any || inet_pton(AF_INET, a->host, buf) == 1 ||
	       inet_pton(AF_INET6, a->host, buf) == 1;
}

/* The addresses a stands for, or -1 with err set. */
static int
sock_resolve(const struct addr_spec *a, int type, struct sock_list *l,
    const char *opt, char *err, size_t errlen)
{
	char typed[ADDR_HOSTLEN + 16];

	memset(l, 0, sizeof(*l));
	if (a->any) {
		struct sockaddr_in sin = {.sin_family = AF_INET};
		struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6};
		sin.sin_port = htons(a->port);
		sin6.sin6_port = htons(a->port);
		sock_list_add(l, (struct sockaddr *)&sin, sizeof(sin));
		sock_list_add(l, (struct sockaddr *)&sin6, sizeof(sin6));
		return 0;
	}

	struct addrinfo hints = {.ai_socktype = type}, *res, *ai;
	char port[8];
	snprintf(port, sizeof(port), "%u", a->port);
	int rc = getaddrinfo(a->host, port, &hints, &res);
	if (rc != 0) {
		sock_typed(a, typed, sizeof(typed));
		snprintf(err, errlen, "%s %s: %s", opt, typed,
		    rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next)
		if (ai->ai_family == AF_INET || ai->ai_family == AF_INET6)
			sock_list_add(l, ai->ai_addr, ai->ai_addrlen);
	freeaddrinfo(res);
	return 0;
}

/*
 * A client that vanished without a FIN or RST (power loss, a cable pulled)
 * would hold its slot for ever: TCP keepalive finds it within about seven
 * minutes of silence, and it is closed with reason=error. Set on the
 * listening socket: Linux copies it into every socket accepted from it,
 * which saves four system calls per connection.
 */
static void
sock_keepalive(int fd)
{
	int on = 1, idle = 300, intvl = 30, cnt = 4;

	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
}

/* The options every socket of its type gets, bound here or adopted. */
static void
sock_options(int fd, int type)
{
	int one = 1;

	if (type == SOCK_STREAM) {
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		sock_keepalive(fd);
		return;
	}
	int size = SOCK_UDP_RCVBUF;
	/* Past net.core.rmem_max only with CAP_NET_ADMIN: try that first,
	 * then take what the limit allows. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) !=
	    0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
}

/* Whether sa is an IPv4-mapped IPv6 address (::ffff:a.b.c.d). */
static bool
sock_mapped(const struct sockaddr *sa)
{
	return sa->sa_family == AF_INET6 &&
	       IN6_IS_ADDR_V4MAPPED(
	           &((const struct sockaddr_in6 *)sa)->sin6_addr);
}

/*
 * A socket bound to sa (with SO_REUSEPORT when reuse); -1 with errno set.
 * IPv6 sockets are IPv6 only
 * ("*" binds 0.0.0.0 and [::] side by side), except an IPv4-mapped address,
 * which only an IPv6 socket that takes IPv4 can bind.
 */
static int
sock_bind_one(const struct sockaddr *sa, socklen_t len, int type, bool reuse)
{
	int one = 1;
	int fd = socket(sa->sa_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	if (sa->sa_family == AF_INET6 && !sock_mapped(sa))
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	sock_options(fd, type);
	/* --reuseport: every process that sets it on the same address shares
	 * the port, and the kernel spreads connections and datagrams. */
	if ((reuse && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one,
	                  sizeof(one)) != 0) ||
	    bind(fd, sa, len) != 0 ||
	    (type == SOCK_STREAM && listen(fd, SOCK_BACKLOG) != 0)) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/* Resolve and bind every address of a (see sock.h). */
int
sock_bind(const struct addr_spec *a, int type, bool reuseport, const char *opt,
    int *fds, char *err, size_t errlen)
{
	struct sock_list l;
	char typed[ADDR_HOSTLEN + 16], addr[ADDR_STRLEN];
	int n = 0;

	if (sock_resolve(a, type, &l, opt, err, errlen) != 0)
		return -1;
	sock_typed(a, typed, sizeof(typed));
	for (size_t i = 0; i < l.n; i++) {
		const struct sockaddr *sa = (struct sockaddr *)&l.ss[i];
		int fd = sock_bind_one(sa, l.len[i], type, reuseport);
		if (fd >= 0) {
			fds[n++] = fd;
			continue;
		}
		int e = errno;
		if (a->any && sa->sa_family == AF_INET6 &&
		    (e == EAFNOSUPPORT || e == EADDRNOTAVAIL) && n > 0) {
			report("%s %s: %s; IPv4 only", opt, typed, strerror(e));
			continue;
		}
		addr_format(sa, addr);
		if (sock_numeric(a))
			snprintf(
			    err, errlen, "bind %s: %s", typed, strerror(e));
		else
			snprintf(err, errlen, "bind %s (%s): %s", typed, addr,
			    strerror(e));
		while (n > 0)
			close(fds[--n]);
		return -1;
	}
	return n;
}

/* Take a socket passed in (see sock.h). */
int
sock_adopt(int fd, char *err, size_t errlen)
{
	int type, listening = 0;
	socklen_t len = sizeof(type), llen = sizeof(listening);
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof(ss);
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 ||
	    getsockname(fd, (struct sockaddr *)&ss, &sslen) != 0) {
		snprintf(err, errlen, "%s", strerror(errno));
		return -1;
	}
	if (ss.ss_family != AF_INET && ss.ss_family != AF_INET6) {
		snprintf(err, errlen, "not an IPv4 or IPv6 socket");
		return -1;
	}
	if (type != SOCK_STREAM && type != SOCK_DGRAM) {
		snprintf(err, errlen, "neither a stream nor a datagram socket");
		return -1;
	}
	if (type == SOCK_STREAM && (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN,
	                                &listening, &llen) != 0 ||
	                               !listening)) {
		snprintf(err, errlen, "a stream socket that is not listening");
		return -1;
	}
	if (fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) != 0) {
		snprintf(err, errlen, "%s", strerror(errno));
		return -1;
	}
	sock_options(fd, type);
	return type;
}

/* The bound address with its real port (see sock.h). */
void
sock_name(int fd, char *addr)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
		strcpy(addr, "-");
	else
		addr_format((struct sockaddr *)&ss, addr);
}
