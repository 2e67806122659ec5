/*
 * The PROXY protocol header (HAProxy's proxy-protocol.txt), versions 1
 * (text) and 2 (binary), that a trusted load balancer sends before a
 * connection's own bytes. Pure: bytes in, the header's addresses out.
 */
#ifndef PEERLOG_PROXY_H
#define PEERLOG_PROXY_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

/* The longest v1 header, "PROXY ... \r\n" included (the spec's 107). */
#define PROXY_V1_MAX 107
/* The longest v2 header taken: the 16-byte fixed part and at most this
 * many bytes of addresses and TLVs (the length field allows 65535). */
#define PROXY_V2_BODY_MAX 2048
/* Most bytes any header can take: what a reader must be able to look at. */
#define PROXY_MAX (16 + PROXY_V2_BODY_MAX)

enum proxy_result {
	PROXY_NEED,  /* a header has begun: more bytes are needed */
	PROXY_DONE,  /* a whole header: see struct proxy_hdr */
	PROXY_ERROR, /* not a header, malformed or too long: see error */
};

struct proxy_hdr {
	size_t len;  /* PROXY_DONE: the header's bytes, to be consumed */
	int version; /* 1 or 2 */
	/* A v1 UNKNOWN or v2 LOCAL header (a health check), or an address
	 * family v2 allows but this does not take (UDP, AF_UNIX, UNSPEC): the
	 * connection is served as the proxy's own. */
	bool local;
	/* Without local: the client (source) and the address it connected
	 * to (destination), AF_INET or AF_INET6, ports set. */
	struct sockaddr_storage src, dst;
	const char *error; /* PROXY_ERROR: a short phrase, e.g. "bad port" */
};

/*
 * Parse the n bytes at buf, the first bytes of a connection, as a PROXY
 * header. PROXY_NEED while they are a proper beginning of a v1 or v2 header
 * (n bytes never decide an error that more bytes could undo, and never wait
 * for more than PROXY_V1_MAX or PROXY_MAX bytes); PROXY_DONE with *h filled
 * once a whole header is there (bytes after it are not looked at);
 * PROXY_ERROR as soon as they cannot begin a valid header.
 *
 * v1: "PROXY TCP4 SRC DST SPORT DPORT\r\n", TCP6 likewise, or
 * "PROXY UNKNOWN ...\r\n"; a bare LF ends it too. Addresses as inet_pton
 * reads them (TCP4 needs IPv4, TCP6 IPv6), ports decimal 0..65535 without
 * a sign or leading zeros, single spaces.
 * v2: the 12-byte signature, version 2, command LOCAL or PROXY, family and
 * length; TCP over IPv4 or IPv6 gives addresses (a length too short for
 * them is an error); TLVs after them are skipped; a length above
 * PROXY_V2_BODY_MAX is an error.
 */
enum proxy_result proxy_parse(const void *buf, size_t n, struct proxy_hdr *h);

#endif
