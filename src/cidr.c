/* CIDR parsing and matching for --allow. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "cidr.h"

/* Parse a prefix length: 1 to 3 digits, at most max. */
static int
cidr_parse_prefix(const char *s, unsigned max, unsigned *out)
{
	unsigned v = 0;
	size_t n;

	for (n = 0; s[n] >= '0' && s[n] <= '9'; n++) {
		if (n == 3)
			return -1;
		v = v * 10 + (unsigned)(s[n] - '0');
	}
	if (n == 0 || s[n] != '\0' || v > max)
		return -1;
	*out = v;
	return 0;
}

/* Clear every bit of addr after the first prefix bits. */
static void
cidr_clear_host(uint8_t *addr, size_t len, unsigned prefix)
{
	size_t i = prefix / 8;

	if (i < len && prefix % 8 != 0) {
		addr[i] &= (uint8_t)(0xff00u >> (prefix % 8));
		i++;
	}
	for (; i < len; i++)
		addr[i] = 0;
}

/* Parse the n bytes of a numeric address at s into out (family and bytes). */
static int
cidr_parse_addr(const char *s, size_t n, struct cidr *out)
{
	char buf[INET6_ADDRSTRLEN];

	if (n >= sizeof buf)
		return -1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (inet_pton(AF_INET, buf, out->addr) == 1)
		out->family = AF_INET;
	else if (inet_pton(AF_INET6, buf, out->addr) == 1)
		out->family = AF_INET6;
	else
		return -1;
	return 0;
}

/* Parse "ADDR/LEN" or a bare address (see cidr.h); on error out is zeroed. */
int
cidr_parse(const char *s, struct cidr *out, const char **why)
{
	const char *slash;
	size_t n;
	unsigned max;

	memset(out, 0, sizeof *out);
	if (s == NULL || *s == '\0') {
		*why = "empty network";
		return -1;
	}
	slash = strchr(s, '/');
	n = slash != NULL ? (size_t)(slash - s) : strlen(s);
	if (n == 0) {
		*why = "missing address";
		return -1;
	}
	if (cidr_parse_addr(s, n, out) == -1) {
		memset(out, 0, sizeof *out);
		*why = "bad address";
		return -1;
	}
	max = out->family == AF_INET ? 32 : 128;
	out->prefix = max;
	if (slash != NULL &&
	    cidr_parse_prefix(slash + 1, max, &out->prefix) == -1) {
		memset(out, 0, sizeof *out);
		*why = "bad prefix length";
		return -1;
	}
	/* 10.1.2.3/8 is taken as 10.0.0.0/8, as most tools do. */
	cidr_clear_host(out->addr, max / 8, out->prefix);
	return 0;
}

/* Whether the first bits bits of a and b are equal. */
static bool
cidr_prefix_eq(const uint8_t *a, const uint8_t *b, unsigned bits)
{
	size_t whole = bits / 8;
	unsigned rest = bits % 8;
	uint8_t mask;

	if (memcmp(a, b, whole) != 0)
		return false;
	if (rest == 0)
		return true;
	mask = (uint8_t)(0xff00u >> rest);
	return (a[whole] & mask) == (b[whole] & mask);
}

/*
 * Whether sa is inside c (see cidr.h). A mapped peer (::ffff:a.b.c.d) is
 * an IPv4 client on a dual-stack socket: it is matched as IPv4 only, so the
 * same --allow list admits it whichever socket it came in on.
 */
bool
cidr_match(const struct cidr *c, const struct sockaddr *sa)
{
	const struct sockaddr_in *sin;
	const struct sockaddr_in6 *sin6;

	if (c == NULL || sa == NULL ||
	    c->prefix > (c->family == AF_INET ? 32u : 128u))
		return false;
	if (sa->sa_family == AF_INET) {
		sin = (const struct sockaddr_in *)(const void *)sa;
		return c->family == AF_INET &&
		       cidr_prefix_eq(
		           c->addr, (const uint8_t *)&sin->sin_addr, c->prefix);
	}
	if (sa->sa_family != AF_INET6)
		return false;
	sin6 = (const struct sockaddr_in6 *)(const void *)sa;
	if (c->family == AF_INET6 && !IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr))
		return cidr_prefix_eq(
		    c->addr, sin6->sin6_addr.s6_addr, c->prefix);
	return c->family == AF_INET && IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr) &&
	       cidr_prefix_eq(c->addr, &sin6->sin6_addr.s6_addr[12], c->prefix);
}
