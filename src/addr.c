/* Listen-address (ADDR) parsing and numeric peer address formatting. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "addr.h"

/* Longest ADDR accepted: "[" host "]:" and five port digits. */
#define ADDR_INPUT_MAX (ADDR_HOSTLEN + 8)

/* Parse a decimal port: 1 to 5 digits, no sign or spaces, at most 65535. */
static int
addr_parse_port(const char *s, uint16_t *port)
{
	unsigned long v = 0;
	size_t n;

	for (n = 0; s[n] >= '0' && s[n] <= '9'; n++) {
		if (n == 5)
			return -1;
		v = v * 10 + (unsigned long)(s[n] - '0');
	}
	if (n == 0 || s[n] != '\0' || v > 65535)
		return -1;
	*port = (uint16_t)v;
	return 0;
}

/* Whether s is all decimal digits (and not empty). */
static bool
addr_all_digits(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return false;
	}
	return true;
}

/*
 * Whether the n bytes at s are a plausible host name or IPv4 literal; the
 * resolver decides the rest, but control bytes never reach an error line.
 */
static bool
addr_host_ok(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		        (c >= '0' && c <= '9') || c == '-' || c == '.' ||
		        c == '_'))
			return false;
	}
	return true;
}

/*
 * Whether the n bytes at s are an IPv6 literal, optionally with a "%zone"
 * suffix (fe80::1%eth0), which getaddrinfo understands.
 */
static bool
addr_v6_ok(const char *s, size_t n)
{
	char buf[INET6_ADDRSTRLEN];
	struct in6_addr a;
	const char *pct = memchr(s, '%', n);
	size_t alen = pct != NULL ? (size_t)(pct - s) : n;

	if (alen >= sizeof buf)
		return false;
	memcpy(buf, s, alen);
	buf[alen] = '\0';
	if (inet_pton(AF_INET6, buf, &a) != 1)
		return false;
	if (pct != NULL &&
	    (alen + 1 == n || !addr_host_ok(pct + 1, n - alen - 1)))
		return false;
	return true;
}

/* Parse "[IPV6]:PORT" (s starts at the '['). */
static int
addr_parse_bracket(const char *s, struct addr_spec *out, const char **why)
{
	const char *end = strchr(s, ']');
	size_t n;

	if (end == NULL) {
		*why = "missing ']'";
		return -1;
	}
	n = (size_t)(end - s - 1);
	if (n == 0) {
		*why = "empty host";
		return -1;
	}
	if (n >= ADDR_HOSTLEN) {
		*why = "host name too long";
		return -1;
	}
	if (end[1] != ':') {
		*why =
		    end[1] == '\0' ? "missing port" : "expected ':' after ']'";
		return -1;
	}
	if (!addr_v6_ok(s + 1, n)) {
		*why = "bad IPv6 address";
		return -1;
	}
	if (end[2] == '\0' || addr_parse_port(end + 2, &out->port) == -1) {
		*why = end[2] == '\0' ? "missing port" : "bad port";
		return -1;
	}
	memcpy(out->host, s + 1, n);
	out->host[n] = '\0';
	return 0;
}

/* Parse "HOST:PORT" or "*:PORT"; colon is the only ':' in s. */
static int
addr_parse_host(
    const char *s, const char *colon, struct addr_spec *out, const char **why)
{
	size_t n = (size_t)(colon - s);

	if (n == 0) {
		*why = "empty host";
		return -1;
	}
	if (n >= ADDR_HOSTLEN) {
		*why = "host name too long";
		return -1;
	}
	if (!(n == 1 && *s == '*') && !addr_host_ok(s, n)) {
		*why = "bad host name";
		return -1;
	}
	if (colon[1] == '\0' || addr_parse_port(colon + 1, &out->port) == -1) {
		*why = colon[1] == '\0' ? "missing port" : "bad port";
		return -1;
	}
	if (n == 1 && *s == '*') {
		out->any = true;
		return 0;
	}
	memcpy(out->host, s, n);
	out->host[n] = '\0';
	return 0;
}

/* Parse ADDR (see addr.h); on error out is left zeroed. */
int
addr_parse(const char *s, struct addr_spec *out, const char **why)
{
	const char *colon;
	int rc;

	memset(out, 0, sizeof *out);
	if (s == NULL || *s == '\0') {
		*why = "empty address";
		return -1;
	}
	if (strnlen(s, ADDR_INPUT_MAX + 1) > ADDR_INPUT_MAX) {
		*why = "address too long";
		return -1;
	}
	colon = strchr(s, ':');
	if (*s == '[')
		rc = addr_parse_bracket(s, out, why);
	else if (colon != NULL && strchr(colon + 1, ':') != NULL) {
		*why = "IPv6 address needs [brackets]";
		rc = -1;
	} else if (colon != NULL)
		rc = addr_parse_host(s, colon, out, why);
	else if (addr_all_digits(s)) {
		/* A bare PORT means every address, like "*:PORT". */
		out->any = true;
		rc = addr_parse_port(s, &out->port);
		if (rc == -1)
			*why = "bad port";
	} else {
		*why = "missing port";
		rc = -1;
	}
	if (rc == -1)
		memset(out, 0, sizeof *out);
	return rc;
}

/* Write "-" for an address we cannot show. */
static size_t
addr_format_unknown(char *dst)
{
	memcpy(dst, "-", 2);
	return 0;
}

/* Format one numeric address and a port in network order into dst. */
static size_t
addr_format_ip(char *dst, int af, const void *a, uint16_t port)
{
	char host[INET6_ADDRSTRLEN];
	unsigned p = ntohs(port);
	int n;

	if (inet_ntop(af, a, host, sizeof host) == NULL)
		return addr_format_unknown(dst);
	if (af == AF_INET6)
		n = snprintf(dst, ADDR_STRLEN, "[%s]:%u", host, p);
	else
		n = snprintf(dst, ADDR_STRLEN, "%s:%u", host, p);
	if (n < 0 || n >= ADDR_STRLEN)
		return addr_format_unknown(dst);
	return (size_t)n;
}

/* Format a socket address numerically (see addr.h). */
size_t
addr_format(const struct sockaddr *sa, char *dst)
{
	const struct sockaddr_in *sin;
	const struct sockaddr_in6 *sin6;

	if (sa != NULL && sa->sa_family == AF_INET) {
		sin = (const struct sockaddr_in *)(const void *)sa;
		return addr_format_ip(
		    dst, AF_INET, &sin->sin_addr, sin->sin_port);
	}
	if (sa != NULL && sa->sa_family == AF_INET6) {
		sin6 = (const struct sockaddr_in6 *)(const void *)sa;
		/* A mapped peer is an IPv4 peer: its last four bytes. */
		if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr))
			return addr_format_ip(dst, AF_INET,
			    &sin6->sin6_addr.s6_addr[12], sin6->sin6_port);
		return addr_format_ip(
		    dst, AF_INET6, &sin6->sin6_addr, sin6->sin6_port);
	}
	return addr_format_unknown(dst);
}
