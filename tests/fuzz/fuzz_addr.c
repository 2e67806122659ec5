/*
 * libFuzzer harness of addr.c. The input, as a C string, is parsed as ADDR:
 * acceptance must match the grammar of the contract, checked here
 * independently, a parsed address must rebuild the input and parse again
 * to the same thing, and a numeric one must survive addr_format. The same
 * bytes also make a socket address for addr_format, whose text must parse
 * back to that address.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "fuzz.h"

/* Whether s (n bytes) is a port of the contract: 1 to 5 digits, <= 65535. */
static bool
ref_port(const char *s, size_t n, unsigned *port)
{
	unsigned v = 0;

	if (n == 0 || n > 5)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	*port = v;
	return v <= 65535;
}

/* Whether every byte of s (n bytes) may appear in a host name. */
static bool
ref_name(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (strchr(
		        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		        "0123456789-._",
		        s[i]) == NULL)
			return false;
	}
	return true;
}

/* Whether s (n bytes) is an IPv6 literal, optionally with a "%zone". */
static bool
ref_v6(const char *s, size_t n)
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
	return pct == NULL || (alen + 1 < n && ref_name(pct + 1, n - alen - 1));
}

/* The ADDR grammar: what addr_parse must accept, and with what result. */
static bool
ref_parse(const char *s, struct addr_spec *out)
{
	size_t n = strlen(s);
	const char *colon = strchr(s, ':'), *end;
	unsigned port;

	memset(out, 0, sizeof *out);
	if (s[0] == '[') {
		if ((end = strchr(s, ']')) == NULL || end[1] != ':')
			return false;
		size_t hlen = (size_t)(end - s - 1);
		if (hlen == 0 || hlen >= ADDR_HOSTLEN || !ref_v6(s + 1, hlen) ||
		    !ref_port(end + 2, strlen(end + 2), &port))
			return false;
		memcpy(out->host, s + 1, hlen);
	} else if (colon == NULL) {
		if (!ref_port(s, n, &port))
			return false;
		out->any = true;
	} else {
		size_t hlen = (size_t)(colon - s);
		if (strchr(colon + 1, ':') != NULL || hlen == 0 ||
		    hlen >= ADDR_HOSTLEN ||
		    !ref_port(colon + 1, strlen(colon + 1), &port))
			return false;
		if (hlen == 1 && s[0] == '*')
			out->any = true;
		else if (ref_name(s, hlen))
			memcpy(out->host, s, hlen);
		else
			return false;
	}
	out->port = (uint16_t)port;
	return true;
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
 * addr_format of an address (4 or 16 bytes at a) and port: the text must be
 * what inet_ntop says, bracketed for IPv6, mapped IPv6 shown as IPv4, and
 * must parse back as ADDR to the same host and port.
 */
static void
check_format(int af, const unsigned char *a, uint16_t port)
{
	struct sockaddr *sa;
	char text[ADDR_STRLEN], host[INET6_ADDRSTRLEN], want[ADDR_STRLEN + 8];
	struct addr_spec spec;
	const char *why;
	bool mapped = false;

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
		mapped = IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr);
		sa = (struct sockaddr *)sin6;
	}
	size_t len = format(sa, text);
	if (af == AF_INET || mapped) {
		inet_ntop(
		    AF_INET, af == AF_INET ? a : a + 12, host, sizeof host);
		snprintf(want, sizeof want, "%s:%u", host, port);
	} else {
		inet_ntop(AF_INET6, a, host, sizeof host);
		snprintf(want, sizeof want, "[%s]:%u", host, port);
	}
	FUZZ_CHECK(len == strlen(want) && strcmp(text, want) == 0);
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
	unsigned port;
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
	FUZZ_CHECK(ref_port(p, strlen(p), &port) && port == a->port);
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

/* One input: parse it as ADDR; format its bytes as socket addresses. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_alloc(size + 1);
	struct addr_spec a, want;
	const char *why = NULL;
	unsigned char raw[18] = {0};

	memcpy(s, data, size);
	s[size] = '\0';
	int rc = addr_parse(s, &a, &why);
	FUZZ_CHECK(rc == 0 || rc == -1);
	FUZZ_CHECK((rc == 0) == ref_parse(s, &want));
	if (rc == 0) {
		FUZZ_CHECK(memcmp(&a, &want, sizeof a) == 0);
		FUZZ_CHECK(a.any == (a.host[0] == '\0'));
		check_roundtrip(s, &a);
		check_numeric(&a);
	} else {
		check_reason(why);
		FUZZ_CHECK(all_zero(&a, sizeof a));
	}

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
