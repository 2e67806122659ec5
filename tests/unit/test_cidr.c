/* Unit tests of cidr.c: --allow networks parsed (host bits cleared, bare
 * addresses as hosts) and peers matched, IPv4-mapped IPv6 peers as IPv4. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/un.h>

#include "cidr.h"
#include "tap.h"

/* A parse that must succeed and its expected network. */
struct good {
	const char *s;
	int family;
	const char *net; /* the address with host bits cleared */
	unsigned prefix;
	const char *name;
};

/* Well-formed CIDRs and bare addresses. */
static void
test_parse_good(void)
{
	static const struct good cases[] = {
	    {"10.0.0.0/8", AF_INET, "10.0.0.0", 8, "an IPv4 network"},
	    {"10.1.2.3/8", AF_INET, "10.0.0.0", 8,
	        "IPv4 host bits are cleared"},
	    {"192.168.1.255/23", AF_INET, "192.168.0.0", 23,
	        "IPv4 host bits are cleared at a non-byte prefix"},
	    {"1.2.3.4", AF_INET, "1.2.3.4", 32, "a bare IPv4 address is a /32"},
	    {"1.2.3.4/32", AF_INET, "1.2.3.4", 32, "an IPv4 /32"},
	    {"1.2.3.4/0", AF_INET, "0.0.0.0", 0, "an IPv4 /0 clears every bit"},
	    {"2001:db8::/32", AF_INET6, "2001:db8::", 32, "an IPv6 network"},
	    {"2001:db8:ffff::1/33", AF_INET6, "2001:db8:8000::", 33,
	        "IPv6 host bits are cleared at a non-byte prefix"},
	    {"::1", AF_INET6, "::1", 128, "a bare IPv6 address is a /128"},
	    {"::1/128", AF_INET6, "::1", 128, "an IPv6 /128"},
	    {"::/0", AF_INET6, "::", 0, "an IPv6 /0"},
	    {"fe80::1/10", AF_INET6, "fe80::", 10, "an IPv6 /10"},
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct good *c = &cases[i];
		struct cidr r;
		const char *why = NULL;
		unsigned char net[16];
		size_t alen = c->family == AF_INET ? 4 : 16;

		memset(&r, 0x5a, sizeof(r));
		if (inet_pton(c->family, c->net, net) != 1)
			abort();
		if (cidr_parse(c->s, &r, &why) != 0) {
			ok(false, "parse \"%s\": %s", c->s, c->name);
			diag("rejected: %s", why != NULL ? why : "(no reason)");
			continue;
		}
		ok(r.family == c->family && r.prefix == c->prefix &&
		        memcmp(r.addr, net, alen) == 0,
		    "parse \"%s\": %s", c->s, c->name);
		if (r.family != c->family || r.prefix != c->prefix)
			diag("got family %d prefix %u expected %d %u", r.family,
			    r.prefix, c->family, c->prefix);
		else if (memcmp(r.addr, net, alen) != 0)
			tap_diag_mem(r.addr, alen, net, alen);
	}
}

/* Malformed --allow values. */
static void
test_parse_bad(void)
{
	static const char *const cases[][2] = {
	    {"", "an empty string"},
	    {"hello", "a name, not an address"},
	    {"localhost", "a host name is not resolved"},
	    {"1.2.3", "a short IPv4 address"},
	    {"256.1.1.1", "an IPv4 byte above 255"},
	    {"1.2.3.4/33", "an IPv4 prefix above 32"},
	    {"::1/129", "an IPv6 prefix above 128"},
	    {"1.2.3.4/", "a slash with no prefix"},
	    {"/8", "a prefix with no address"},
	    {"1.2.3.4/-1", "a negative prefix"},
	    {"1.2.3.4/+8", "a prefix with a sign"},
	    {"1.2.3.4/8x", "a prefix with trailing junk"},
	    {"1.2.3.4/ 8", "a prefix with a leading space"},
	    {"1.2.3.4/8/8", "two prefixes"},
	    {"1.2.3.4/99999999999999999999", "a prefix that overflows"},
	    {"1.2.3.4/4294967304", "a prefix that wraps to 8 in 32 bits"},
	    {"::1::2/64", "an IPv6 address with two ::"},
	    {"1.2.3.4:80", "an address with a port"},
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct cidr r;
		const char *why = NULL;
		int rc = cidr_parse(cases[i][0], &r, &why);

		ok(rc == -1 && why != NULL && why[0] != '\0',
		    "parse \"%s\" fails with a reason: %s", cases[i][0],
		    cases[i][1]);
		if (rc != -1)
			diag("got %d (family %d prefix %u)", rc, r.family,
			    r.prefix);
	}
}

/* A peer address as a socket address of its own family. */
union peer {
	struct sockaddr sa;
	struct sockaddr_in sin;
	struct sockaddr_in6 sin6;
	struct sockaddr_un sun;
};

/* Make a peer from a numeric address (IPv4 or IPv6) and a port. */
static const struct sockaddr *
peer_make(union peer *p, const char *ip, unsigned port)
{
	memset(p, 0, sizeof(*p));
	if (inet_pton(AF_INET, ip, &p->sin.sin_addr) == 1) {
		p->sin.sin_family = AF_INET;
		p->sin.sin_port = htons((uint16_t)port);
	} else if (inet_pton(AF_INET6, ip, &p->sin6.sin6_addr) == 1) {
		p->sin6.sin6_family = AF_INET6;
		p->sin6.sin6_port = htons((uint16_t)port);
	} else
		abort();
	return &p->sa;
}

/* A network, a peer, and whether the peer is inside. */
struct match {
	const char *net;
	const char *peer;
	bool inside;
	const char *name;
};

/* Matching peers against networks. */
static void
test_match(void)
{
	static const struct match cases[] = {
	    {"10.0.0.0/8", "10.0.0.0", true, "the first IPv4 of a /8"},
	    {"10.0.0.0/8", "10.255.255.255", true, "the last IPv4 of a /8"},
	    {"10.0.0.0/8", "11.0.0.0", false, "the IPv4 just after a /8"},
	    {"10.0.0.0/8", "9.255.255.255", false, "the IPv4 just before"},
	    {"10.1.2.3/8", "10.200.0.1", true,
	        "a network given with host bits matches its whole range"},
	    {"192.168.0.0/23", "192.168.1.255", true, "the last IPv4 of a /23"},
	    {"192.168.0.0/23", "192.168.2.0", false,
	        "the IPv4 just after a /23"},
	    {"1.2.3.4", "1.2.3.4", true, "a bare IPv4 matches itself"},
	    {"1.2.3.4", "1.2.3.5", false, "a bare IPv4 matches only itself"},
	    {"1.2.3.4/32", "1.2.3.4", true, "an IPv4 /32 matches itself"},
	    {"1.2.3.4/31", "1.2.3.5", true, "an IPv4 /31 holds two"},
	    {"0.0.0.0/0", "203.0.113.9", true, "IPv4 /0 matches any IPv4"},
	    {"0.0.0.0/0", "255.255.255.255", true,
	        "IPv4 /0 matches 255.255.255.255"},
	    {"2001:db8::/32", "2001:db8:ffff::1", true, "an IPv6 inside a /32"},
	    {"2001:db8::/32", "2001:db9::", false, "an IPv6 just after a /32"},
	    {"2001:db8::/65", "2001:db8::7fff:ffff:ffff:ffff", true,
	        "the last IPv6 of a /65"},
	    {"2001:db8::/65", "2001:db8:0:0:8000::", false,
	        "the IPv6 just after a /65"},
	    {"::1", "::1", true, "a bare IPv6 matches itself"},
	    {"::1/128", "::2", false, "an IPv6 /128 matches only itself"},
	    {"::/0", "2001:db8::1", true, "IPv6 /0 matches any IPv6"},
	    {"10.0.0.0/8", "::ffff:10.1.2.3", true,
	        "an IPv4-mapped peer is matched as IPv4"},
	    {"10.0.0.0/8", "::ffff:11.1.2.3", false,
	        "an IPv4-mapped peer outside the IPv4 network"},
	    {"127.0.0.1", "::ffff:127.0.0.1", true,
	        "an IPv4-mapped loopback matches a bare IPv4"},
	    {"0.0.0.0/0", "::ffff:1.2.3.4", true,
	        "IPv4 /0 matches an IPv4-mapped peer"},
	    {"0.0.0.0/0", "::1", false, "IPv4 /0 never matches an IPv6 peer"},
	    {"0.0.0.0/0", "::", false,
	        "IPv4 /0 never matches the IPv6 any address"},
	    {"::/0", "1.2.3.4", false, "IPv6 /0 never matches an IPv4 peer"},
	    {"::/0", "::ffff:1.2.3.4", false,
	        "IPv6 /0 never matches an IPv4-mapped peer (it is IPv4)"},
	    {"::ffff:0:0/96", "::ffff:10.1.2.3", false,
	        "a mapped IPv6 network never matches a mapped peer"},
	    {"::/0", "0.0.0.0", false, "IPv6 /0 never matches IPv4 0.0.0.0"},
	    {"::1", "0.0.0.1", false,
	        "an IPv6 host never matches an IPv4 peer of the same bytes"},
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct match *c = &cases[i];
		struct cidr r;
		union peer p;
		const char *why = NULL;

		if (cidr_parse(c->net, &r, &why) != 0) {
			ok(false, "match %s in %s: %s (parse failed)", c->peer,
			    c->net, c->name);
			continue;
		}
		ok(cidr_match(&r, peer_make(&p, c->peer, 40000)) == c->inside,
		    "match %s in %s is %s: %s", c->peer, c->net,
		    c->inside ? "true" : "false", c->name);
	}
}

/* The port of a peer never matters; an unknown family never matches. */
static void
test_match_other(void)
{
	struct cidr r;
	union peer p;
	const char *why;

	if (cidr_parse("127.0.0.1", &r, &why) != 0)
		abort();
	ok(cidr_match(&r, peer_make(&p, "127.0.0.1", 0)) &&
	        cidr_match(&r, peer_make(&p, "127.0.0.1", 65535)),
	    "match: the peer's port does not matter");
	memset(&p, 0, sizeof(p));
	p.sun.sun_family = AF_UNIX;
	ok(!cidr_match(&r, &p.sa), "match: an AF_UNIX peer never matches");
	if (cidr_parse("0.0.0.0/0", &r, &why) != 0)
		abort();
	ok(!cidr_match(&r, &p.sa),
	    "match: an AF_UNIX peer does not match IPv4 /0");
}

/* Run every CIDR test. */
int
main(void)
{
	test_parse_good();
	test_parse_bad();
	test_match();
	test_match_other();
	return done_testing();
}
