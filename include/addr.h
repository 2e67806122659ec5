/* Listen-address (ADDR) parsing and numeric peer address formatting. Pure. */
#ifndef PEERLOG_ADDR_H
#define PEERLOG_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Room for "[v6-address]:65535" with its NUL. */
#define ADDR_STRLEN 56
#define ADDR_HOSTLEN 256

struct addr_spec {
	bool any;                /* "PORT" or "*:PORT": every address */
	char host[ADDR_HOSTLEN]; /* name or numeric address, brackets gone */
	uint16_t port;
};

/*
 * Parse ADDR: PORT, HOST:PORT, IPV4:PORT, [IPV6]:PORT or *:PORT.
 * Returns 0, or -1 with *why set to a static reason.
 */
int addr_parse(const char *s, struct addr_spec *out, const char **why);

/*
 * Format a socket address numerically as "IPV4:PORT" or "[IPV6]:PORT" into
 * dst (room for ADDR_STRLEN); an IPv4-mapped IPv6 address is shown as IPv4.
 * Returns the length written, or 0 for an unknown family ("-" is written).
 */
size_t addr_format(const struct sockaddr *sa, char *dst);

#endif
