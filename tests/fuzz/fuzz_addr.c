/*
 * libFuzzer harness of addr.c. Two oracles judge addr_parse, neither of
 * them built like it: the input, as a C string, is matched against the
 * ADDR grammar written as sscanf patterns that must consume it whole (with
 * inet_pton for IPv6 and strtoul for the port), and addresses generated
 * from the input's bytes, valid or broken in a known way, are formatted
 * here and must parse to exactly what they were made from. A parsed
 * address must also rebuild the input and parse again to the same thing.
 * The same bytes make socket addresses for addr_format, whose text is
 * checked against the bytes printed here and parses back to them.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "fuzz.h"

/* The bytes of a host name or an IPv6 zone. '-' is last, so that in a
 * sscanf scanset it stands for itself rather than a range. */
#define NAME_SET                                                               \
	"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-"
#define DIGITS "0123456789"

/* Addresses generated per input. */
#define NGEN 4

/* Whether sscanf's return rc (wanted fields) and %n position end show
 * that the pattern matched all len bytes of the input. */
static bool
whole(int rc, int want, int end, size_t len)
{
	return rc == want && end >= 0 && (size_t)end == len;
}

/* The port of 1 to 5 digits (their form checked by the caller's scanset):
 * strtoul reads it, then only the range is left to check. */
static bool
oracle_port(const char *digits, uint16_t *port)
{
	unsigned long v = strtoul(digits, NULL, 10);

	if (v > 65535)
		return false;
	*port = (uint16_t)v;
	return true;
}

/* The inside of "[...]": what inet_pton takes as IPv6, then optionally
 * '%' and a non-empty zone of name bytes. */
static bool
oracle_v6(const char *host)
{
	char addr[ADDR_HOSTLEN];
	unsigned char bytes[16];
	size_t alen = strcspn(host, "%");
	const char *zone = host + alen + 1;

	memcpy(addr, host, alen);
	addr[alen] = '\0';
	if (inet_pton(AF_INET6, addr, bytes) != 1)
		return false;
	if (host[alen] == '\0')
		return true;
	return zone[0] != '\0' && strspn(zone, NAME_SET) == strlen(zone);
}

/*
 * The ADDR grammar as four sscanf patterns, one per form; the one that
 * consumes the whole input decides the result. Host fields stop at 255
 * bytes, so a longer host leaves input unread and is refused.
 */
static bool
oracle_parse(const char *s, struct addr_spec *out)
{
	char host[ADDR_HOSTLEN], digits[6];
	size_t len = strlen(s);
	int end = -1, rc;

	memset(out, 0, sizeof *out);
	rc = sscanf(s, "%5[" DIGITS "]%n", digits, &end);
	if (whole(rc, 1, end, len)) {
		out->any = true;
		return oracle_port(digits, &out->port);
	}
	end = -1;
	rc = sscanf(s, "*:%5[" DIGITS "]%n", digits, &end);
	if (whole(rc, 1, end, len)) {
		out->any = true;
		return oracle_port(digits, &out->port);
	}
	end = -1;
	rc = sscanf(s, "[%255[^]]]:%5[" DIGITS "]%n", host, digits, &end);
	if (whole(rc, 2, end, len)) {
		if (!oracle_v6(host))
			return false;
		strcpy(out->host, host);
		return oracle_port(digits, &out->port);
	}
	end = -1;
	rc = sscanf(
	    s, "%255[" NAME_SET "]:%5[" DIGITS "]%n", host, digits, &end);
	if (whole(rc, 2, end, len)) {
		strcpy(out->host, host);
		return oracle_port(digits, &out->port);
	}
	return false;
}

/* Whether every byte of the struct is zero. */
static bool
all_zero(const void *p, size_t n)
{
	const unsigned char *s = p;

	for (size_t i = 0; i < n; i++) {
		if (s[i] != 0)
			return false;
	}
	return true;
}

/* A reason is a short, non-empty line of printable ASCII. */
static void
check_reason(const char *why)
{
	FUZZ_CHECK(why != NULL);
	size_t n = strlen(why);
	FUZZ_CHECK(n >= 1 && n < 80);
	for (size_t i = 0; i < n; i++)
		FUZZ_CHECK(why[i] >= 0x20 && why[i] < 0x7f);
}

/* addr_parse on s, which must be accepted as want, or refused, as the
 * oracle says: a refusal leaves the result zeroed and gives a reason. */
static void
check_parse(const char *s, bool ok, const struct addr_spec *want)
{
	struct addr_spec got;
	const char *why = NULL;
	int rc = addr_parse(s, &got, &why);

	FUZZ_CHECK(rc == 0 || rc == -1);
	FUZZ_CHECK((rc == 0) == ok);
	if (rc == 0) {
		FUZZ_CHECK(memcmp(&got, want, sizeof got) == 0);
	} else {
		check_reason(why);
		FUZZ_CHECK(all_zero(&got, sizeof got));
	}
}

/* Whether the 16 bytes at a are an IPv4-mapped IPv6 address. */
static bool
is_mapped(const unsigned char *a)
{
	static const unsigned char prefix[12] = {
	    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

	return memcmp(a, prefix, sizeof prefix) == 0;
}

/* Format sa with addr_format into an exactly sized buffer; check the
 * length and the NUL, and return the text in dst. */
static size_t
format(const struct sockaddr *sa, char *dst)
{
	char *out = fuzz_alloc(ADDR_STRLEN);
	size_t len = addr_format(sa, out);

	FUZZ_CHECK(len < ADDR_STRLEN && strlen(out) == (len ? len : 1));
	memcpy(dst, out, strlen(out) + 1);
	free(out);
	return len;
}

/*
 * addr_format of an address (4 or 16 bytes at a) and port. IPv4, and a
 * mapped IPv6 address, must be the four bytes in decimal, printed here;
 * IPv6 must be bracketed text that inet_pton reads back as the 16 bytes,
 * in the libc's canonical spelling. Either way the port is the number,
 * and the text parses back as ADDR to the same host and port.
 */
static void
check_format(int af, const unsigned char *a, uint16_t port)
{
	struct sockaddr *sa;
	char text[ADDR_STRLEN], want[ADDR_STRLEN + 8];
	char host[ADDR_HOSTLEN], canon[INET6_ADDRSTRLEN], digits[6];
	unsigned char back[16];
	struct addr_spec spec;
	uint16_t got_port;
	const char *why;
	int end = -1;

	if (af == AF_INET) {
		struct sockaddr_in *sin = fuzz_alloc(sizeof *sin);
		memset(sin, 0, sizeof *sin);
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		memcpy(&sin->sin_addr, a, 4);
		sa = (struct sockaddr *)sin;
	} else {
		struct sockaddr_in6 *sin6 = fuzz_alloc(sizeof *sin6);
		memset(sin6, 0, sizeof *sin6);
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		memcpy(&sin6->sin6_addr, a, 16);
		sa = (struct sockaddr *)sin6;
	}
	size_t len = format(sa, text);
	if (af == AF_INET || is_mapped(a)) {
		const unsigned char *v4 = af == AF_INET ? a : a + 12;
		snprintf(host, sizeof host, "%u.%u.%u.%u", v4[0], v4[1], v4[2],
		    v4[3]);
		snprintf(want, sizeof want, "%s:%u", host, port);
		FUZZ_CHECK(len == strlen(want) && strcmp(text, want) == 0);
	} else {
		int rc =
		    sscanf(text, "[%45[0123456789abcdef:.]]:%5[" DIGITS "]%n",
		        host, digits, &end);
		FUZZ_CHECK(whole(rc, 2, end, len));
		FUZZ_CHECK(inet_pton(AF_INET6, host, back) == 1);
		FUZZ_CHECK(memcmp(back, a, 16) == 0);
		FUZZ_CHECK(inet_ntop(AF_INET6, a, canon, sizeof canon) != NULL);
		FUZZ_CHECK(strcmp(host, canon) == 0);
		FUZZ_CHECK(oracle_port(digits, &got_port) && got_port == port);
		FUZZ_CHECK(digits[0] != '0' || port == 0);
	}
	FUZZ_CHECK(addr_parse(text, &spec, &why) == 0);
	FUZZ_CHECK(
	    !spec.any && spec.port == port && strcmp(spec.host, host) == 0);
	free(sa);
}

/* addr_format of a family it does not know writes "-" and returns 0. */
static void
check_format_unknown(void)
{
	struct sockaddr *sa = fuzz_alloc(sizeof *sa);
	char text[ADDR_STRLEN];

	memset(sa, 0, sizeof *sa);
	sa->sa_family = AF_UNIX;
	FUZZ_CHECK(format(sa, text) == 0 && strcmp(text, "-") == 0);
	FUZZ_CHECK(format(NULL, text) == 0 && strcmp(text, "-") == 0);
	free(sa);
}

/* A parsed address rebuilt as text: the input again, up to port spelling,
 * and it parses to the same result. */
static void
check_roundtrip(const char *s, const struct addr_spec *a)
{
	char text[ADDR_HOSTLEN + 16];
	struct addr_spec again;
	const char *why;
	size_t hlen = strlen(a->host);

	if (a->any && strchr(s, ':') == NULL)
		snprintf(text, sizeof text, "%u", a->port);
	else if (a->any)
		snprintf(text, sizeof text, "*:%u", a->port);
	else if (s[0] == '[')
		snprintf(text, sizeof text, "[%s]:%u", a->host, a->port);
	else
		snprintf(text, sizeof text, "%s:%u", a->host, a->port);
	FUZZ_CHECK(addr_parse(text, &again, &why) == 0);
	FUZZ_CHECK(memcmp(&again, a, sizeof again) == 0);

	/* The input is the same text with the port as it was spelt. */
	const char *p = strrchr(s, ':');
	p = p != NULL ? p + 1 : s;
	FUZZ_CHECK(strlen(p) >= 1 && strspn(p, DIGITS) == strlen(p));
	FUZZ_CHECK(strtoul(p, NULL, 10) == a->port);
	if (!a->any && s[0] == '[')
		FUZZ_CHECK(memcmp(s + 1, a->host, hlen) == 0 &&
		           s[hlen + 1] == ']' && s + hlen + 3 == p);
	else if (!a->any)
		FUZZ_CHECK(memcmp(s, a->host, hlen) == 0 && s + hlen + 1 == p);
}

/* A numeric host, once bound, is shown by addr_format as the same address. */
static void
check_numeric(const struct addr_spec *a)
{
	unsigned char bytes[16];

	if (a->any)
		return;
	if (inet_pton(AF_INET, a->host, bytes) == 1)
		check_format(AF_INET, bytes, a->port);
	else if (strchr(a->host, '%') == NULL &&
	         inet_pton(AF_INET6, a->host, bytes) == 1)
		check_format(AF_INET6, bytes, a->port);
}

/* Append n random bytes of NAME_SET at d. */
static char *
gen_name(struct rng *r, char *d, size_t n)
{
	for (size_t i = 0; i < n; i++)
		*d++ = NAME_SET[rng_below(r, sizeof NAME_SET - 1)];
	*d = '\0';
	return d;
}

/* A byte that is neither NUL nor in NAME_SET nor '*' (which alone would
 * make "*:PORT"): one that no host name may hold. */
static char
gen_bad_byte(struct rng *r)
{
	for (;;) {
		char c = (char)(1 + rng_below(r, 255));
		if (strchr(NAME_SET "*", c) == NULL)
			return c;
	}
}

/* Append 16 random bytes' IPv6 text at d in one of four spellings:
 * canonical, every group in lowercase hex, every group as four uppercase
 * digits, or six groups and a dotted quad. Zero groups are likely, so
 * that "::" occurs. */
static char *
gen_v6(struct rng *r, char *d)
{
	unsigned g[8];
	unsigned char bytes[16];

	for (int i = 0; i < 8; i++) {
		g[i] = rng_below(r, 2) ? 0 : rng_below(r, 65536);
		bytes[2 * i] = (unsigned char)(g[i] >> 8);
		bytes[2 * i + 1] = (unsigned char)g[i];
	}
	switch (rng_below(r, 4)) {
	case 0:
		inet_ntop(AF_INET6, bytes, d, INET6_ADDRSTRLEN);
		return d + strlen(d);
	case 1:
		return d + sprintf(d, "%x:%x:%x:%x:%x:%x:%x:%x", g[0], g[1],
		               g[2], g[3], g[4], g[5], g[6], g[7]);
	case 2:
		return d + sprintf(d, "%04X:%04X:%04X:%04X:%04X:%04X:%04X:%04X",
		               g[0], g[1], g[2], g[3], g[4], g[5], g[6], g[7]);
	default:
		return d + sprintf(d, "%x:%x:%x:%x:%x:%x:%u.%u.%u.%u", g[0],
		               g[1], g[2], g[3], g[4], g[5], bytes[12],
		               bytes[13], bytes[14], bytes[15]);
	}
}

/*
 * Make an ADDR from the generator: text to parse, and the result it must
 * give (any, host as written, port); returns false when the text was made
 * invalid on purpose (host too long, a byte no host may hold, an empty
 * zone, a port above 65535 or of six digits).
 */
static bool
gen_addr(struct rng *r, char *text, struct addr_spec *want)
{
	char host[ADDR_HOSTLEN + 8], *h = host;
	unsigned form = rng_below(r, 6), flaw = rng_below(r, 8);
	bool ok = true;

	memset(want, 0, sizeof *want);
	host[0] = '\0';
	if (form == 2) {
		/* 1 to 256 bytes; 256 is one too many. */
		size_t n = 1 + rng_below(r, rng_below(r, 2) ? 16 : 256);
		gen_name(r, h, n);
		if (flaw == 0) {
			host[rng_below(r, (uint32_t)n)] = gen_bad_byte(r);
			ok = false;
		}
		ok = ok && n < ADDR_HOSTLEN;
	} else if (form == 3) {
		sprintf(h, "%u.%u.%u.%u", rng_below(r, 256), rng_below(r, 256),
		    rng_below(r, 256), rng_below(r, 256));
	} else if (form >= 4) {
		h = gen_v6(r, h);
		if (form == 5) {
			*h++ = '%';
			h = gen_name(
			    r, h, flaw == 0 ? 0 : 1 + rng_below(r, 15));
			ok = flaw != 0;
		}
	}

	/* The port: a value, then zeros in front up to a chosen width. */
	unsigned long port = rng_below(r, 65536);
	int width = 1 + (int)rng_below(r, 5);
	if (flaw == 1) {
		port = 65536 + rng_below(r, 100000 - 65536);
		ok = false;
	} else if (flaw == 2) {
		width = 6;
		ok = false;
	}

	static const char *const pre[] = {"", "*:", "", "", "[", "["};
	static const char *const post[] = {"", "", ":", ":", "]:", "]:"};
	char digits[8];
	snprintf(digits, sizeof digits, "%0*lu", width, port);
	snprintf(text, ADDR_HOSTLEN + 32, "%s%s%s%s", pre[form], host,
	    post[form], digits);
	want->any = form <= 1;
	memcpy(want->host, host, ok ? strlen(host) : 0);
	want->port = (uint16_t)port;
	return ok;
}

/* Generated addresses: addr_parse and the grammar oracle must both give
 * what each one was made to be. */
static void
check_generated(const uint8_t *data, size_t size)
{
	struct rng r = {rng_seed(data, size)};
	char text[ADDR_HOSTLEN + 32];
	struct addr_spec want, got;

	for (int i = 0; i < NGEN; i++) {
		bool ok = gen_addr(&r, text, &want);
		check_parse(text, ok, &want);
		FUZZ_CHECK(oracle_parse(text, &got) == ok);
		FUZZ_CHECK(!ok || memcmp(&got, &want, sizeof got) == 0);
	}
}

/* One input: parse it as ADDR; generate addresses from it; format its
 * bytes as socket addresses. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_alloc(size + 1);
	struct addr_spec a, want;
	const char *why;
	unsigned char raw[18] = {0};

	memcpy(s, data, size);
	s[size] = '\0';
	bool ok = oracle_parse(s, &want);
	check_parse(s, ok, &want);
	if (ok) {
		FUZZ_CHECK(addr_parse(s, &a, &why) == 0);
		FUZZ_CHECK(a.any == (a.host[0] == '\0'));
		check_roundtrip(s, &a);
		check_numeric(&a);
	}
	check_generated(data, size);

	memcpy(raw, data, size < sizeof raw ? size : sizeof raw);
	uint16_t port = (uint16_t)(raw[16] << 8 | raw[17]);
	check_format(AF_INET, raw, port);
	check_format(AF_INET6, raw, port);
	/* The same four bytes as a mapped IPv6 peer: shown as IPv4. */
	memmove(raw + 12, raw, 4);
	memcpy(raw, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12);
	check_format(AF_INET6, raw, port);
	check_format_unknown();
	free(s);
	return 0;
}
