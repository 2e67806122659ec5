/*
 * libFuzzer harness of cidr.c. The input, as a C string, is parsed as a
 * CIDR: acceptance and result must match the contract's grammar checked
 * here, a parsed network must print and parse back to itself, and matching
 * must agree with a reference matcher on addresses made from the input
 * (the network itself, bits flipped inside and outside the prefix, IPv4,
 * IPv6 and IPv4-mapped peers). The input's bytes as a raw struct cidr must
 * not upset cidr_match either.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cidr.h"
#include "fuzz.h"

/* What "ADDR/LEN" or "ADDR" must parse to, or false when it is refused. */
static bool
ref_parse(const char *s, struct cidr *out)
{
	const char *slash = strchr(s, '/');
	size_t n = slash != NULL ? (size_t)(slash - s) : strlen(s);
	char buf[INET6_ADDRSTRLEN];
	unsigned max, v = 0;

	memset(out, 0, sizeof *out);
	if (n == 0 || n >= sizeof buf)
		return false;
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (inet_pton(AF_INET, buf, out->addr) == 1)
		out->family = AF_INET;
	else if (inet_pton(AF_INET6, buf, out->addr) == 1)
		out->family = AF_INET6;
	else
		return false;
	max = out->family == AF_INET ? 32 : 128;
	out->prefix = max;
	if (slash != NULL) {
		const char *p = slash + 1;
		size_t len = strlen(p);
		if (len == 0 || len > 3)
			return false;
		for (size_t i = 0; i < len; i++) {
			if (p[i] < '0' || p[i] > '9')
				return false;
			v = v * 10 + (unsigned)(p[i] - '0');
		}
		if (v > max)
			return false;
		out->prefix = v;
	}
	for (unsigned bit = out->prefix; bit < 128; bit++)
		out->addr[bit / 8] &= (uint8_t) ~(0x80u >> bit % 8);
	return true;
}

/* Bit i (from the most significant) of the 16 bytes at a. */
static unsigned
bit_of(const uint8_t *a, unsigned i)
{
	return a[i / 8] >> (7 - i % 8) & 1;
}

/* Whether the 16 bytes at a are an IPv4-mapped IPv6 address. */
static bool
is_mapped(const uint8_t *a)
{
	static const uint8_t mapped[12] = {
	    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

	return memcmp(a, mapped, 12) == 0;
}

/* The matching of the contract: a mapped IPv6 peer is an IPv4 peer; the
 * family must agree and the first prefix bits be equal. */
static bool
ref_match(const struct cidr *c, int af, const uint8_t *a)
{
	if (af == AF_INET6 && is_mapped(a)) {
		af = AF_INET;
		a += 12;
	}
	if (c->family != af || (af != AF_INET && af != AF_INET6) ||
	    c->prefix > (af == AF_INET ? 32u : 128u))
		return false;
	for (unsigned i = 0; i < c->prefix; i++) {
		if (bit_of(c->addr, i) != bit_of(a, i))
			return false;
	}
	return true;
}

/* cidr_match of an exactly sized socket address of family af (AF_INET,
 * AF_INET6, or AF_INET as a mapped IPv6 address) against the reference. */
static void
check_match(const struct cidr *c, int af, bool as_mapped, const uint8_t *a)
{
	struct sockaddr *sa;
	uint8_t v6[16] = {0};
	bool got;

	if (af == AF_INET && !as_mapped) {
		struct sockaddr_in *sin = fuzz_alloc(sizeof *sin);
		memset(sin, 0, sizeof *sin);
		sin->sin_family = AF_INET;
		memcpy(&sin->sin_addr, a, 4);
		sa = (struct sockaddr *)sin;
	} else {
		struct sockaddr_in6 *sin6 = fuzz_alloc(sizeof *sin6);
		memset(sin6, 0, sizeof *sin6);
		sin6->sin6_family = AF_INET6;
		if (as_mapped) {
			v6[10] = v6[11] = 0xff;
			memcpy(v6 + 12, a, 4);
		} else
			memcpy(v6, a, 16);
		memcpy(&sin6->sin6_addr, v6, 16);
		sa = (struct sockaddr *)sin6;
	}
	got = cidr_match(c, sa);
	FUZZ_CHECK(got == ref_match(c, sa->sa_family,
	                      af == AF_INET && !as_mapped ? a : v6));
	free(sa);
}

/* Match an address a (4 or 16 bytes) in every form it can arrive in. */
static void
check_match_all(const struct cidr *c, const uint8_t *a)
{
	check_match(c, AF_INET, false, a);
	check_match(c, AF_INET, true, a);
	check_match(c, AF_INET6, false, a);
}

/* A parsed network contains itself and any host in it (but an IPv6
 * network no mapped address: that is an IPv4 peer), and nothing that
 * differs inside the prefix; it prints and parses back to itself. */
static void
check_network(const struct cidr *c, const uint8_t *probe)
{
	char text[INET6_ADDRSTRLEN + 8], host[INET6_ADDRSTRLEN];
	unsigned max = c->family == AF_INET ? 32 : 128;
	uint8_t a[16];
	struct cidr again;
	const char *why;

	FUZZ_CHECK(c->family == AF_INET || c->family == AF_INET6);
	FUZZ_CHECK(c->prefix <= max);
	for (unsigned bit = c->prefix; bit < 128; bit++)
		FUZZ_CHECK(bit_of(c->addr, bit) == 0);

	FUZZ_CHECK(inet_ntop(c->family, c->addr, host, sizeof host) != NULL);
	snprintf(text, sizeof text, "%s/%u", host, c->prefix);
	FUZZ_CHECK(cidr_parse(text, &again, &why) == 0);
	FUZZ_CHECK(memcmp(&again, c, sizeof again) == 0);

	memcpy(a, c->addr, 16);
	check_match_all(c, a);
	FUZZ_CHECK(ref_match(c, c->family, a) ==
	           (c->family == AF_INET || !is_mapped(a)));
	/* The probe's bits after the prefix: still inside. */
	for (unsigned bit = c->prefix; bit < max; bit++) {
		if (bit_of(probe, bit))
			a[bit / 8] |= (uint8_t)(0x80u >> bit % 8);
	}
	check_match_all(c, a);
	FUZZ_CHECK(ref_match(c, c->family, a) ==
	           (c->family == AF_INET || !is_mapped(a)));
	/* One bit flipped inside the prefix: outside. */
	if (c->prefix > 0) {
		unsigned bit = probe[0] % c->prefix;
		a[bit / 8] ^= (uint8_t)(0x80u >> bit % 8);
		check_match_all(c, a);
		FUZZ_CHECK(!ref_match(c, c->family, a));
	}
	check_match_all(c, probe);
}

/* One input: parse it as CIDR; use its bytes as probes and as a raw cidr. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_alloc(size + 1);
	struct cidr c, want, raw;
	const char *why = NULL;
	uint8_t probe[16] = {0};

	memcpy(s, data, size);
	s[size] = '\0';
	memcpy(probe, data, size < sizeof probe ? size : sizeof probe);

	int rc = cidr_parse(s, &c, &why);
	FUZZ_CHECK(rc == 0 || rc == -1);
	FUZZ_CHECK((rc == 0) == ref_parse(s, &want));
	if (rc == 0) {
		FUZZ_CHECK(memcmp(&c, &want, sizeof c) == 0);
		check_network(&c, probe);
	} else {
		FUZZ_CHECK(why != NULL && strlen(why) >= 1 && strlen(why) < 80);
		for (const char *w = why; *w != '\0'; w++)
			FUZZ_CHECK(*w >= 0x20 && *w < 0x7f);
	}

	/* Garbage in a struct cidr (bad family, prefix too long) must not
	 * match what the reference would refuse. */
	memset(&raw, 0, sizeof raw);
	raw.family = probe[0] % 3 == 0   ? AF_INET
	             : probe[0] % 3 == 1 ? AF_INET6
	                                 : probe[0];
	raw.prefix = probe[1];
	memcpy(raw.addr, probe, 16);
	check_match_all(&raw, probe);
	FUZZ_CHECK(!cidr_match(NULL, NULL));
	free(s);
	return 0;
}
