/* CIDR parsing and matching for --allow. Pure. */
#ifndef PEERLOG_CIDR_H
#define PEERLOG_CIDR_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

struct cidr {
	int family;       /* AF_INET or AF_INET6 */
	uint8_t addr[16]; /* network bytes; host bits cleared */
	unsigned prefix;  /* 0..32 or 0..128 */
};

/*
 * Parse "ADDR/LEN" or a bare address (a host: /32 or /128). Returns 0, or -1
 * with *why set to a static reason.
 */
int cidr_parse(const char *s, struct cidr *out, const char **why);

/* Whether sa is inside c; an IPv4-mapped IPv6 address is matched as IPv4. */
bool cidr_match(const struct cidr *c, const struct sockaddr *sa);

#endif
