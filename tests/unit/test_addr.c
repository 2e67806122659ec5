/* Unit tests of addr.c: every ADDR form the SPEC lists, the malformed ones
 * rejected with a reason, and numeric peer formatting (IPv4-mapped IPv6
 * shown as IPv4). */
#include <arpa/inet.h>
#include <stdlib.h>
#include <netinet/in.h>
#include <sys/un.h>

#include "addr.h"
#include "tap.h"

/* A well-formed ADDR and what it must parse to. */
struct good {
	const char *s;
	bool any;
	const char *host; /* NULL: not checked (any address) */
	unsigned port;
	const char *name;
};

/* ADDR forms that parse. */
static void
test_parse_good(void)
{
	static const struct good cases[] = {
	    {"1234", true, NULL, 1234, "PORT alone means every address"},
	    {"*:1234", true, NULL, 1234, "*:PORT means every address"},
	    {"0", true, NULL, 0, "PORT 0 alone (a free port) is accepted"},
	    {"65535", true, NULL, 65535, "PORT 65535 alone is accepted"},
	    {"127.0.0.1:0", false, "127.0.0.1", 0, "IPV4:0 picks a free port"},
	    {"127.0.0.1:1234", false, "127.0.0.1", 1234, "IPV4:PORT"},
	    {"[::1]:1235", false, "::1", 1235,
	        "[IPV6]:PORT loses its brackets"},
	    {"[2001:db8::1]:65535", false, "2001:db8::1", 65535,
	        "[IPV6]:65535, the largest port"},
	    {"localhost:1234", false, "localhost", 1234, "HOST:PORT"},
	    {"example.org:80", false, "example.org", 80, "a dotted HOST:PORT"},
	    {"[::ffff:1.2.3.4]:5", false, "::ffff:1.2.3.4", 5,
	        "an IPv4-mapped [IPV6]:PORT"},
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct good *c = &cases[i];
		struct addr_spec a;
		const char *why = NULL;
		int rc;

		memset(&a, 0x5a, sizeof(a));
		rc = addr_parse(c->s, &a, &why);
		if (rc != 0) {
			ok(false, "parse \"%s\": %s", c->s, c->name);
			diag("rejected: %s", why != NULL ? why : "(no reason)");
			continue;
		}
		ok(a.any == c->any && a.port == c->port &&
		        (c->host == NULL ||
		            (memchr(a.host, '\0', sizeof(a.host)) != NULL &&
		                strcmp(a.host, c->host) == 0)),
		    "parse \"%s\": %s", c->s, c->name);
		if (a.any != c->any || a.port != c->port)
			diag("got any=%d port=%u expected any=%d port=%u",
			    a.any, a.port, c->any, c->port);
		else if (c->host != NULL &&
		         (memchr(a.host, '\0', sizeof(a.host)) == NULL ||
		             strcmp(a.host, c->host) != 0))
			diag("got host \"%.*s\" expected \"%s\"",
			    (int)sizeof(a.host), a.host, c->host);
	}
}

/* A malformed ADDR and why it is wrong. */
struct bad {
	const char *s;
	const char *name;
};

/* ADDR forms that are rejected with a reason. */
static void
test_parse_bad(void)
{
	static const struct bad cases[] = {
	    {"", "an empty ADDR"},
	    {":1", "an empty HOST"},
	    {"host:", "an empty PORT after HOST"},
	    {"*:", "an empty PORT after *"},
	    {"*", "* with no PORT"},
	    {"abc", "a HOST with no PORT"},
	    {"::1:80", "an IPv6 address without brackets"},
	    {"[::1]", "[IPV6] with no PORT"},
	    {"[::1]:", "[IPV6]: with an empty PORT"},
	    {"[::1]x:80", "junk between ] and :"},
	    {"[::1:80", "an unclosed bracket"},
	    {"[]:80", "empty brackets"},
	    {"[zz]:1", "brackets around something that is not IPv6"},
	    {"1.2.3.4:65536", "a PORT above 65535"},
	    {"65536", "a PORT alone above 65535"},
	    {"1.2.3.4:99999999999999999999", "a PORT that overflows"},
	    {"1.2.3.4:-1", "a negative PORT"},
	    {"-1", "a negative PORT alone"},
	    {"1.2.3.4:12a", "a PORT with trailing junk"},
	    {"1.2.3.4:+80", "a PORT with a sign"},
	    {"1.2.3.4: 80", "a PORT with a leading space"},
	    {"1.2.3.4:0x50", "a PORT in hex"},
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct addr_spec a;
		const char *why = NULL;
		int rc = addr_parse(cases[i].s, &a, &why);

		ok(rc == -1 && why != NULL && why[0] != '\0',
		    "parse \"%s\" fails with a reason: %s", cases[i].s,
		    cases[i].name);
		if (rc != -1)
			diag("got %d (host \"%.40s\" port %u any %d)", rc,
			    a.host, a.port, a.any);
		else if (why == NULL || why[0] == '\0')
			diag("no reason given");
	}
}

/* A host name longer than the struct holds is refused, not cut. */
static void
test_parse_long_host(void)
{
	char s[ADDR_HOSTLEN + 64];
	struct addr_spec a;
	const char *why = NULL;

	memset(s, 'h', ADDR_HOSTLEN + 40);
	strcpy(s + ADDR_HOSTLEN + 40, ":80");
	ok(addr_parse(s, &a, &why) == -1 && why != NULL,
	    "parse: a HOST longer than ADDR_HOSTLEN fails");
	s[0] = '[';
	strcpy(s + ADDR_HOSTLEN + 40, "]:80");
	ok(addr_parse(s, &a, &why) == -1 && why != NULL,
	    "parse: a bracketed address longer than ADDR_HOSTLEN fails");

	memset(s, 'h', ADDR_HOSTLEN);
	strcpy(s + ADDR_HOSTLEN, ":80");
	ok(addr_parse(s, &a, &why) == -1 && why != NULL,
	    "parse: a HOST of ADDR_HOSTLEN bytes (no room for NUL) fails");

	memset(s, 'h', ADDR_HOSTLEN - 1);
	strcpy(s + ADDR_HOSTLEN - 1, ":80");
	if (addr_parse(s, &a, &why) == 0)
		ok(strlen(a.host) == ADDR_HOSTLEN - 1 &&
		        memcmp(a.host, s, ADDR_HOSTLEN - 1) == 0,
		    "parse: a HOST of ADDR_HOSTLEN-1 bytes is kept whole");
	else
		ok(why != NULL,
		    "parse: a HOST of ADDR_HOSTLEN-1 bytes is kept whole "
		    "(or refused with a reason)");
}

/* Format an IPv4 peer. */
static size_t
fmt4(char *dst, const char *ip, unsigned port)
{
	struct sockaddr_in sin;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, ip, &sin.sin_addr) != 1)
		abort();
	return addr_format((const struct sockaddr *)&sin, dst);
}

/* Format an IPv6 peer. */
static size_t
fmt6(char *dst, const char *ip, unsigned port)
{
	struct sockaddr_in6 sin6;

	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	sin6.sin6_port = htons((uint16_t)port);
	if (inet_pton(AF_INET6, ip, &sin6.sin6_addr) != 1)
		abort();
	return addr_format((const struct sockaddr *)&sin6, dst);
}

/* Check a formatted peer: the text and the returned length. */
static void
check_format(size_t len, const char *dst, const char *exp, const char *name)
{
	if (len != strlen(exp))
		is_size(len, strlen(exp), "format: %s (returned length)", name);
	else
		is_str(dst, exp, "format: %s", name);
}

/* Numeric peer formatting. */
static void
test_format(void)
{
	char dst[ADDR_STRLEN];
	size_t len;

	len = fmt4(dst, "127.0.0.1", 50312);
	check_format(len, dst, "127.0.0.1:50312", "IPv4 is IPV4:PORT");
	len = fmt4(dst, "0.0.0.0", 0);
	check_format(len, dst, "0.0.0.0:0", "IPv4 with port 0");
	len = fmt4(dst, "255.255.255.255", 65535);
	check_format(len, dst, "255.255.255.255:65535",
	    "the longest IPv4 with port 65535");
	len = fmt6(dst, "::1", 1235);
	check_format(len, dst, "[::1]:1235", "IPv6 is [IPV6]:PORT");
	len = fmt6(dst, "2001:db8:0:0:1:0:0:1", 80);
	check_format(len, dst, "[2001:db8::1:0:0:1]:80",
	    "IPv6 is in its canonical compressed form");
	len = fmt6(dst, "::", 0);
	check_format(len, dst, "[::]:0", "the IPv6 any address with port 0");
	len = fmt6(dst, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535);
	check_format(len, dst,
	    "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535",
	    "the longest IPv6 with port 65535 fits ADDR_STRLEN");
	len = fmt6(dst, "::ffff:1.2.3.4", 5);
	check_format(
	    len, dst, "1.2.3.4:5", "IPv4-mapped IPv6 is shown as IPv4");
	len = fmt6(dst, "::ffff:127.0.0.1", 65535);
	check_format(len, dst, "127.0.0.1:65535",
	    "IPv4-mapped loopback is shown as IPv4");
}

/* An address family addr_format does not know. */
static void
test_format_unknown(void)
{
	struct sockaddr_un sun;
	char dst[ADDR_STRLEN];

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memset(dst, 'x', sizeof(dst));
	is_size(addr_format((const struct sockaddr *)&sun, dst), 0,
	    "format: an unknown family returns 0");
	if (memchr(dst, '\0', sizeof(dst)) == NULL)
		ok(false, "format: an unknown family writes \"-\" (no NUL)");
	else
		is_str(dst, "-", "format: an unknown family writes \"-\"");
}

/* Run every address test. */
int
main(void)
{
	test_parse_good();
	test_parse_bad();
	test_parse_long_host();
	test_format();
	test_format_unknown();
	return done_testing();
}
