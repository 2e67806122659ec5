/*
 * libFuzzer harness of cidr.c. Two oracles judge cidr_parse, neither of
 * them built like it: the input, as a C string, is matched against the
 * CIDR grammar written as sscanf patterns (the family told by a ':', the
 * address read by inet_pton, the prefix by strtoul, the host bits cleared
 * by integer arithmetic on the whole address), and networks generated from
 * the input's bytes, in several spellings, valid or broken in a known way,
 * must parse to exactly what they were made from. cidr_match is judged by
 * a matcher that masks whole addresses as integers, and by facts true by
 * construction: the address a network was written from is inside it, one
 * with a bit flipped inside the prefix is not, a mapped IPv6 peer is an
 * IPv4 peer. The input's bytes as a raw struct cidr must not upset
 * cidr_match either.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cidr.h"
#include "fuzz.h"

#define DIGITS "0123456789"

/* Networks generated per input. */
#define NGEN 4

/* A 128-bit unsigned number as two halves: an address as an integer. */
struct wide {
	uint64_t hi, lo;
};

/* The len (4 or 16) bytes at a, most significant first, as a number. */
static struct wide
wide_load(const uint8_t *a, size_t len)
{
	struct wide w = {0, 0};

	for (size_t i = 0; i < len; i++) {
		w.hi = w.hi << 8 | w.lo >> 56;
		w.lo = w.lo << 8 | a[i];
	}
	return w;
}

/* Store the low len bytes of w at a, most significant first. */
static void
wide_store(struct wide w, uint8_t *a, size_t len)
{
	for (size_t i = len; i-- > 0;) {
		a[i] = (uint8_t)w.lo;
		w.lo = w.lo >> 8 | w.hi << 56;
		w.hi >>= 8;
	}
}

/* The netmask of prefix bits (prefix <= width) in a width-bit address
 * (32 or 128): all width bits, less the width - prefix lowest. */
static struct wide
wide_mask(unsigned width, unsigned prefix)
{
	unsigned host = width - prefix;
	struct wide all = {width == 128 ? ~0ull : 0,
	    width == 128 ? ~0ull : (1ull << width) - 1};
	struct wide low;

	if (host >= 128)
		low = (struct wide){~0ull, ~0ull};
	else if (host >= 64)
		low = (struct wide){(1ull << (host - 64)) - 1, ~0ull};
	else
		low = (struct wide){0, (1ull << host) - 1};
	return (struct wide){all.hi & ~low.hi, all.lo & ~low.lo};
}

/* Address width in bits of a family, 0 for any other. */
static unsigned
width_of(int family)
{
	return family == AF_INET ? 32 : family == AF_INET6 ? 128 : 0;
}

/* Whether the 16 bytes at a are an IPv4-mapped IPv6 address. */
static bool
is_mapped(const uint8_t *a)
{
	static const uint8_t mapped[12] = {
	    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

	return memcmp(a, mapped, 12) == 0;
}

/*
 * The CIDR grammar: an address (any bytes up to the first '/'), then
 * nothing or '/' and 1 to 3 digits, the whole input consumed. A ':' makes
 * it IPv6; inet_pton decides whether the address is one; strtoul reads
 * the prefix. The network is the address masked as an integer.
 */
static bool
oracle_parse(const char *s, struct cidr *out)
{
	char text[64], digits[4];
	uint8_t bytes[16] = {0};
	int end = -1;
	unsigned long prefix;

	memset(out, 0, sizeof *out);
	if (sscanf(s, "%63[^/]%n", text, &end) != 1 || end < 0)
		return false;
	const char *rest = s + end;
	int family = strchr(text, ':') != NULL ? AF_INET6 : AF_INET;
	unsigned width = width_of(family);
	if (inet_pton(family, text, bytes) != 1)
		return false;
	if (rest[0] == '\0') {
		prefix = width;
	} else {
		end = -1;
		if (sscanf(rest, "/%3[" DIGITS "]%n", digits, &end) != 1 ||
		    end < 0 || (size_t)end != strlen(rest))
			return false;
		prefix = strtoul(digits, NULL, 10);
		if (prefix > width)
			return false;
	}
	struct wide a = wide_load(bytes, width / 8);
	struct wide m = wide_mask(width, (unsigned)prefix);
	wide_store(
	    (struct wide){a.hi & m.hi, a.lo & m.lo}, out->addr, width / 8);
	out->family = family;
	out->prefix = (unsigned)prefix;
	return true;
}

/*
 * Whether a peer of family af (its 4 or 16 bytes at a) is inside c, by
 * the contract: a mapped IPv6 peer is its IPv4 address; the family must
 * be c's, and peer and network equal once both are masked as integers.
 */
static bool
oracle_match(const struct cidr *c, int af, const uint8_t *a)
{
	if (af == AF_INET6 && is_mapped(a)) {
		af = AF_INET;
		a += 12;
	}
	unsigned width = width_of(af);
	if (c->family != af || width == 0 || c->prefix > width)
		return false;
	struct wide m = wide_mask(width, c->prefix);
	struct wide x = wide_load(c->addr, width / 8);
	struct wide y = wide_load(a, width / 8);
	return ((x.hi ^ y.hi) & m.hi) == 0 && ((x.lo ^ y.lo) & m.lo) == 0;
}

/* cidr_match of an exactly sized socket address: a (4 bytes) as AF_INET
 * or as a mapped IPv6 address, or a (16 bytes) as AF_INET6; returns it. */
static bool
match(const struct cidr *c, int af, bool as_mapped, const uint8_t *a)
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
	free(sa);
	return got;
}

/* Match an address a (4 or 16 bytes) in every form it can arrive in, each
 * against the oracle; returns whether it matched as a plain peer of c's
 * family (IPv4 for c IPv4, IPv6 for c IPv6). */
static bool
check_match_all(const struct cidr *c, const uint8_t *a)
{
	uint8_t v6[16] = {0};
	bool v4 = match(c, AF_INET, false, a);
	bool mapped = match(c, AF_INET, true, a);
	bool six = match(c, AF_INET6, false, a);

	v6[10] = v6[11] = 0xff;
	memcpy(v6 + 12, a, 4);
	FUZZ_CHECK(v4 == oracle_match(c, AF_INET, a));
	FUZZ_CHECK(mapped == oracle_match(c, AF_INET6, v6));
	FUZZ_CHECK(six == oracle_match(c, AF_INET6, a));
	/* A mapped peer is the same peer as its IPv4 address. */
	FUZZ_CHECK(mapped == v4);
	return c->family == AF_INET ? v4 : six;
}

/* Flip bit i (from the most significant) of the bytes at a. */
static void
flip(uint8_t *a, unsigned i)
{
	a[i / 8] ^= (uint8_t)(0x80u >> i % 8);
}

/*
 * A parsed network c, and host, any address c was written from (the
 * network itself for an input): host bits are clear; c prints and parses
 * back to itself; host is inside it, as is host with any bit past the
 * prefix flipped, but not host with a bit inside the prefix flipped. An
 * IPv6 network holds no mapped peer: that is an IPv4 peer.
 */
static void
check_network(const struct cidr *c, const uint8_t *host, struct rng *r)
{
	char text[INET6_ADDRSTRLEN + 8], ntop[INET6_ADDRSTRLEN];
	unsigned width = width_of(c->family);
	uint8_t a[16], zero[16] = {0};
	struct cidr again;
	const char *why;

	FUZZ_CHECK(width != 0 && c->prefix <= width);
	/* The bytes past the prefix, and past the address, are zero. */
	struct wide net = wide_load(c->addr, 16);
	struct wide m = wide_mask(128, c->prefix);
	FUZZ_CHECK((net.hi & ~m.hi) == 0 && (net.lo & ~m.lo) == 0);
	FUZZ_CHECK(memcmp(c->addr + width / 8, zero, 16 - width / 8) == 0);

	FUZZ_CHECK(inet_ntop(c->family, c->addr, ntop, sizeof ntop) != NULL);
	snprintf(text, sizeof text, "%s/%u", ntop, c->prefix);
	FUZZ_CHECK(cidr_parse(text, &again, &why) == 0);
	FUZZ_CHECK(memcmp(&again, c, sizeof again) == 0);

	bool inside = c->family == AF_INET || !is_mapped(host);
	memcpy(a, host, 16);
	FUZZ_CHECK(check_match_all(c, a) == inside);
	FUZZ_CHECK(check_match_all(c, c->addr) ==
	           (c->family == AF_INET || !is_mapped(c->addr)));
	for (int k = 0; k < 3; k++) {
		unsigned bit = rng_below(r, width);
		memcpy(a, host, 16);
		flip(a, bit);
		bool in =
		    bit >= c->prefix && (c->family == AF_INET || !is_mapped(a));
		FUZZ_CHECK(check_match_all(c, a) == in);
	}
}

/* cidr_parse on s, which must be accepted as want, or refused, as the
 * oracle says: a refusal leaves the result zeroed and gives a reason. */
static void
check_parse(const char *s, bool ok, const struct cidr *want)
{
	static const struct cidr zero;
	struct cidr got;
	const char *why = NULL;
	int rc = cidr_parse(s, &got, &why);

	FUZZ_CHECK(rc == 0 || rc == -1);
	FUZZ_CHECK((rc == 0) == ok);
	if (rc == 0) {
		FUZZ_CHECK(memcmp(&got, want, sizeof got) == 0);
	} else {
		FUZZ_CHECK(why != NULL && strlen(why) >= 1 && strlen(why) < 80);
		for (const char *w = why; *w != '\0'; w++)
			FUZZ_CHECK(*w >= 0x20 && *w < 0x7f);
		FUZZ_CHECK(memcmp(&got, &zero, sizeof got) == 0);
	}
}

/* Write the address (4 or 16 bytes) at a in one of several spellings:
 * IPv4 in decimal; IPv6 canonical, every group in lowercase hex, every
 * group as four uppercase digits, or six groups and a dotted quad. */
static void
gen_text(struct rng *r, int family, const uint8_t *a, char *d)
{
	unsigned g[8];

	if (family == AF_INET) {
		sprintf(d, "%u.%u.%u.%u", a[0], a[1], a[2], a[3]);
		return;
	}
	for (int i = 0; i < 8; i++)
		g[i] = (unsigned)a[2 * i] << 8 | a[2 * i + 1];
	switch (rng_below(r, 4)) {
	case 0:
		inet_ntop(AF_INET6, a, d, INET6_ADDRSTRLEN);
		break;
	case 1:
		sprintf(d, "%x:%x:%x:%x:%x:%x:%x:%x", g[0], g[1], g[2], g[3],
		    g[4], g[5], g[6], g[7]);
		break;
	case 2:
		sprintf(d, "%04X:%04X:%04X:%04X:%04X:%04X:%04X:%04X", g[0],
		    g[1], g[2], g[3], g[4], g[5], g[6], g[7]);
		break;
	default:
		sprintf(d, "%x:%x:%x:%x:%x:%x:%u.%u.%u.%u", g[0], g[1], g[2],
		    g[3], g[4], g[5], a[12], a[13], a[14], a[15]);
	}
}

/*
 * Make a network from the generator: its text, the address it was written
 * from in host (16 bytes, IPv4 in the first 4) and what cidr_parse must
 * give, the network cleared bit by bit past the prefix. Returns false when
 * the text was made invalid on purpose (a prefix too long, of four digits
 * or empty; an IPv4 byte above 255).
 */
static bool
gen_cidr(struct rng *r, char *text, uint8_t *host, struct cidr *want)
{
	int family = rng_below(r, 2) ? AF_INET : AF_INET6;
	unsigned width = width_of(family), flaw = rng_below(r, 10);
	unsigned long prefix = rng_below(r, width + 1);
	int digits = 1 + (int)rng_below(r, 3);
	bool ok = true;
	char *d = text;

	memset(host, 0, 16);
	for (unsigned i = 0; i < width / 8; i++)
		host[i] = rng_below(r, 4) == 0 ? 0 : (uint8_t)rng_next(r);
	if (family == AF_INET6 && rng_below(r, 8) == 0)
		memcpy(host, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12);
	gen_text(r, family, host, d);
	if (family == AF_INET && flaw == 0) {
		/* One byte written as 256..999. */
		unsigned b[4];
		for (int i = 0; i < 4; i++)
			b[i] = host[i];
		b[rng_below(r, 4)] = 256 + rng_below(r, 744);
		sprintf(d, "%u.%u.%u.%u", b[0], b[1], b[2], b[3]);
		ok = false;
	}
	d += strlen(d);
	if (flaw == 1) {
		prefix = width + 1 + rng_below(r, 999 - width);
		ok = false;
	} else if (flaw == 2) {
		digits = 4;
		ok = false;
	}
	if (flaw == 3) {
		strcpy(d, "/");
		ok = false;
	} else if (flaw >= 7 && ok) {
		/* No prefix: a host. */
		prefix = width;
	} else {
		sprintf(d, "/%0*lu", digits, prefix);
	}

	memset(want, 0, sizeof *want);
	if (!ok)
		return false;
	want->family = family;
	want->prefix = (unsigned)prefix;
	memcpy(want->addr, host, width / 8);
	for (unsigned bit = want->prefix; bit < width; bit++)
		want->addr[bit / 8] &= (uint8_t) ~(0x80u >> bit % 8);
	return true;
}

/* Generated networks: cidr_parse and the grammar oracle must both give
 * what each one was made to be, and the network must hold its host. */
static void
check_generated(struct rng *r)
{
	char text[INET6_ADDRSTRLEN + 16];
	uint8_t host[16];
	struct cidr want, got;

	for (int i = 0; i < NGEN; i++) {
		bool ok = gen_cidr(r, text, host, &want);
		check_parse(text, ok, &want);
		FUZZ_CHECK(oracle_parse(text, &got) == ok);
		if (!ok)
			continue;
		FUZZ_CHECK(memcmp(&got, &want, sizeof got) == 0);
		check_network(&want, host, r);
	}
}

/* One input: parse it as CIDR; generate networks from it; use its bytes
 * as probes and as a raw cidr. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_alloc(size + 1);
	struct cidr want, raw;
	uint8_t probe[16] = {0};
	struct rng r = {rng_seed(data, size)};

	memcpy(s, data, size);
	s[size] = '\0';
	memcpy(probe, data, size < sizeof probe ? size : sizeof probe);

	bool ok = oracle_parse(s, &want);
	check_parse(s, ok, &want);
	if (ok) {
		check_network(&want, want.addr, &r);
		check_match_all(&want, probe);
	}
	check_generated(&r);

	/* Garbage in a struct cidr (bad family, prefix too long, host bits
	 * set) must match as the oracle says. */
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
