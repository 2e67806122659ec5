/* Unit tests of proxy.c: PROXY protocol v1 and v2 headers parsed, every
 * field read, every error named, every proper prefix of a header NEED. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>

#include "proxy.h"
#include "tap.h"

/* The v2 signature. */
#define SIG "\r\n\r\n\0\r\nQUIT\n"

/* Whether ss is the address ip (IPv4 or IPv6 text) with port. */
static bool
is_addr(const struct sockaddr_storage *ss, const char *ip, unsigned port)
{
	const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;
	unsigned char a[16];

	if (inet_pton(AF_INET, ip, a) == 1)
		return ss->ss_family == AF_INET &&
		       ntohs(sin->sin_port) == port &&
		       memcmp(&sin->sin_addr, a, 4) == 0;
	if (inet_pton(AF_INET6, ip, a) == 1)
		return ss->ss_family == AF_INET6 &&
		       ntohs(sin6->sin6_port) == port &&
		       memcmp(&sin6->sin6_addr, a, 16) == 0;
	abort();
}

/* Parse n bytes from an exactly sized copy, so that a read past them
 * would be a read past the allocation. */
static enum proxy_result
parse(const void *p, size_t n, struct proxy_hdr *h)
{
	void *copy = malloc(n > 0 ? n : 1);
	enum proxy_result r;

	if (copy == NULL)
		abort();
	memcpy(copy, p, n);
	r = proxy_parse(copy, n, h);
	free(copy);
	return r;
}

/* Bytes after a header: the beginnings of other headers. */
#define TRAIL "PROXY TCP4 \r\n\r\n\0\r\nQUIT\nxyz"

/* Every proper prefix of the n bytes at p gives NEED; the whole gives DONE
 * with len n; with trailing data appended, still DONE with len n. */
static bool
check_header(const void *p, size_t n, struct proxy_hdr *h, const char *name)
{
	unsigned char buf[PROXY_MAX + 64];
	struct proxy_hdr t;
	size_t i, bad = (size_t)-1;
	enum proxy_result r;

	for (i = 0; i < n && bad == (size_t)-1; i++)
		if (parse(p, i, &t) != PROXY_NEED)
			bad = i;
	if (!ok(bad == (size_t)-1, "%s: every proper prefix needs more", name))
		diag("prefix of %zu bytes: %s", bad,
		    t.error != NULL ? t.error : "DONE");
	r = parse(p, n, h);
	if (!is_int(r, PROXY_DONE, "%s: the whole header is done", name))
		diag("error: %s", h->error != NULL ? h->error : "(none)");
	is_size(h->len, n, "%s: len is the header's length", name);
	memcpy(buf, p, n);
	memcpy(buf + n, TRAIL, sizeof(TRAIL) - 1);
	r = parse(buf, n + sizeof(TRAIL) - 1, &t);
	ok(r == PROXY_DONE && t.len == n && t.local == h->local &&
	        t.version == h->version &&
	        memcmp(&t.src, &h->src, sizeof(t.src)) == 0 &&
	        memcmp(&t.dst, &h->dst, sizeof(t.dst)) == 0,
	    "%s: bytes after it change nothing", name);
	return r == PROXY_DONE;
}

/* A v1 header that must parse to the given addresses. */
struct v1_good {
	const char *s;
	const char *src, *dst;
	unsigned sport, dport;
	const char *name;
};

/* Valid v1 TCP4 and TCP6 lines. */
static void
test_v1_good(void)
{
	static const struct v1_good cases[] = {
	    {"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n", "192.168.0.1",
	        "192.168.0.11", 56324, 443, "a TCP4 line"},
	    {"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", "1.2.3.4", "5.6.7.8", 1, 2,
	        "a bare LF ends the line"},
	    {"PROXY TCP4 0.0.0.0 255.255.255.255 0 65535\r\n", "0.0.0.0",
	        "255.255.255.255", 0, 65535, "ports 0 and 65535"},
	    {"PROXY TCP6 2001:db8::1 ::1 1234 5678\r\n", "2001:db8::1", "::1",
	        1234, 5678, "a TCP6 line"},
	    {"PROXY TCP6 ::ffff:10.0.0.1 FE80::A 80 8080\r\n",
	        "::ffff:10.0.0.1", "fe80::a", 80, 8080,
	        "TCP6 with an IPv4 tail and upper-case hex"},
	    {"PROXY TCP6 1:2:3:4:5:6:7:8 "
	     "0001:0002:0003:0004:0005:0006:0007:0008"
	     " 1 2\n",
	        "1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8", 1, 2,
	        "TCP6 written out, leading zeros in groups"},
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct v1_good *c = &cases[i];
		struct proxy_hdr h;

		if (!check_header(c->s, strlen(c->s), &h, c->name))
			continue;
		ok(h.version == 1 && !h.local &&
		        is_addr(&h.src, c->src, c->sport) &&
		        is_addr(&h.dst, c->dst, c->dport),
		    "%s: version 1, the source and destination", c->name);
		ok(h.error == NULL, "%s: no error", c->name);
	}
}

/* UNKNOWN, with or without anything after it. */
static void
test_v1_unknown(void)
{
	static const char *const cases[][2] = {
	    {"PROXY UNKNOWN\r\n", "UNKNOWN alone"},
	    {"PROXY UNKNOWN\n", "UNKNOWN with a bare LF"},
	    {"PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n",
	        "UNKNOWN with anything after it"},
	    {"PROXY UNKNOWNjunk\r junk\r\n", "UNKNOWN with junk and a CR"},
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct proxy_hdr h;

		if (check_header(
		        cases[i][0], strlen(cases[i][0]), &h, cases[i][1]))
			ok(h.local && h.version == 1 && h.src.ss_family == 0,
			    "%s: local, no addresses", cases[i][1]);
	}
}

/* A header that must fail, and why. */
struct bad {
	const char *s;
	size_t n; /* 0: strlen */
	const char *error;
	const char *name;
};

/* Check each case fails with its phrase. */
static void
check_bad(const struct bad *cases, size_t count)
{
	size_t i;

	for (i = 0; i < count; i++) {
		const struct bad *c = &cases[i];
		size_t n = c->n != 0 ? c->n : strlen(c->s);
		struct proxy_hdr h;
		enum proxy_result r = parse(c->s, n, &h);

		if (ok(r == PROXY_ERROR, "%s: an error", c->name))
			is_str(
			    h.error, c->error, "%s: \"%s\"", c->name, c->error);
		else
			diag("got %d", r);
	}
}

/* Malformed v1 lines, each rejected as soon as a byte decides it. */
static void
test_v1_bad(void)
{
	static const struct bad cases[] = {
	    {"GET / HTTP/1.0\r\n", 0, "not a PROXY header", "an HTTP request"},
	    {"PROXX", 0, "not a PROXY header", "a wrong byte in PROXY"},
	    {"proxy ", 0, "not a PROXY header", "lower case"},
	    {"PROXY\r\n", 0, "not a PROXY header", "no space after PROXY"},
	    {"PROXY  TCP4", 0, "bad v1 address", "two spaces"},
	    {"PROXY TCP5", 0, "bad v1 address", "an unknown protocol"},
	    {"PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n", 0, "bad v1 address", "UDP4"},
	    {"PROXY TCP4\r\n", 0, "bad v1 address", "TCP4 without fields"},
	    {"PROXY TCP4 ::1 ::1 1 2\r\n", 0, "bad v1 address",
	        "TCP4 with IPv6 addresses"},
	    {"PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n", 0, "bad v1 address",
	        "TCP6 with IPv4 addresses"},
	    {"PROXY TCP4 1.2.3.256", 0, "bad v1 address",
	        "an IPv4 byte above 255, unfinished"},
	    {"PROXY TCP4 1.2.3 ", 0, "bad v1 address",
	        "an IPv4 address with three bytes"},
	    {"PROXY TCP4 1.2.3.4.", 0, "bad v1 address",
	        "an IPv4 address with a fifth dot"},
	    {"PROXY TCP4 01.2.3.4 ", 0, "bad v1 address",
	        "an IPv4 byte with a leading zero"},
	    {"PROXY TCP4 1.2.3.4  ", 0, "bad v1 address",
	        "two spaces between the addresses"},
	    {"PROXY TCP4 1.2.3.4 5.6.7.8\r\n", 0, "bad v1 address", "no ports"},
	    {"PROXY TCP4 1.2.3.4x", 0, "bad v1 address",
	        "a stray byte in an address"},
	    {"PROXY TCP6 1::2::3", 0, "bad v1 address", "two ::"},
	    {"PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n", 0, "bad v1 address",
	        "a zone"},
	    {"PROXY TCP6 1:2:3:4:5:6:7:8:9", 0, "bad v1 address",
	        "nine groups"},
	    {"PROXY TCP6 1:2:3:4:5:6:7:1.2", 0, "bad v1 address",
	        "an IPv4 tail after seven groups"},
	    {"PROXY TCP6 1.2", 0, "bad v1 address", "an IPv4 tail alone"},
	    {"PROXY TCP6 12345", 0, "bad v1 address", "a five-digit group"},
	    {"PROXY TCP4 1.2.3.4 5.6.7.8 65536", 0, "bad port",
	        "a port above 65535"},
	    {"PROXY TCP4 1.2.3.4 5.6.7.8 01", 0, "bad port",
	        "a port with a leading zero"},
	    {"PROXY TCP4 1.2.3.4 5.6.7.8 +1", 0, "bad port",
	        "a port with a sign"},
	    {"PROXY TCP4 1.2.3.4 5.6.7.8 1  2", 0, "bad port",
	        "two spaces between the ports"},
	    {"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n", 0, "bad port", "one port"},
	    {"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n", 0, "bad port",
	        "a space before the line end"},
	    {"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rx", 0, "bad port",
	        "a CR without LF"},
	    {"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n", 0, "bad port",
	        "three ports"},
	    {"PROXY TCP4 1.2.3.4 5.6.7.8 1 100000", 0, "bad port",
	        "a six-digit port"},
	    {"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\0\r\n", 33, "bad port",
	        "a NUL before the line end"},
	    {"PROXY TCP4 1.2.3\0.4 5.6.7.8 1 2\r\n", 33, "bad v1 address",
	        "a NUL in an address"},
	};

	check_bad(cases, sizeof(cases) / sizeof(cases[0]));
}

/* The longest addresses, 45 bytes each. */
#define A45 "0000:0000:0000:0000:0000:0000:255.255.255.255"
#define L45 "PROXY TCP6 " A45 " " A45

/* The 107-byte limit, the line end included. */
static void
test_v1_max(void)
{
	/* 41-byte addresses: six written-out groups and an IPv4 tail. */
	static const char a107[] =
	    "PROXY TCP6 0000:0000:0000:0000:0000:0000:255.255.1.2 "
	    "0000:0000:0000:0000:0000:0000:255.255.1.3 65535 6553\r\n";
	static const char a108[] =
	    "PROXY TCP6 0000:0000:0000:0000:0000:0000:255.255.1.2 "
	    "0000:0000:0000:0000:0000:0000:255.255.1.33 65535 6553\r\n";
	char u[PROXY_V1_MAX + 2];
	struct proxy_hdr h;
	size_t i, first = 0;

	is_size(sizeof(a107) - 1, 107, "the long TCP6 line is 107 bytes");
	if (check_header(a107, 107, &h, "a 107-byte TCP6 line"))
		ok(is_addr(&h.src, "::255.255.1.2", 65535) &&
		        is_addr(&h.dst, "::255.255.1.3", 6553),
		    "a 107-byte TCP6 line: its addresses");
	is_int(parse(a108, 108, &h), PROXY_ERROR, "a 108-byte TCP6 line fails");
	is_str(
	    h.error, "v1 header too long", "a 108-byte TCP6 line is too long");
	/* It fails only at its CR, the 107th byte: 106 bytes and a LF fit. */
	for (i = 0; i <= 108 && first == 0; i++)
		if (parse(a108, i, &h) != PROXY_NEED)
			first = i;
	is_size(first, 107, "a 108-byte TCP6 line fails at its CR");
	/* 45-byte addresses leave room for one-digit ports and a bare LF. */
	if (check_header(L45 " 1 2\n", 107, &h, "45-byte addresses, a bare LF"))
		ok(is_addr(&h.src, "::255.255.255.255", 1),
		    "45-byte addresses: the source");
	is_int(parse(L45 " 1 2\r\n", 108, &h), PROXY_ERROR,
	    "45-byte addresses and a CRLF fail");
	is_int(parse(L45 " 1", 104, &h), PROXY_NEED,
	    "45-byte addresses and a one-digit port need more");
	is_int(parse(L45 " 12", 105, &h), PROXY_ERROR,
	    "45-byte addresses and a two-digit port fail at once");
	is_str(h.error, "v1 header too long",
	    "45-byte addresses and a two-digit port are too long");

	memcpy(u, "PROXY UNKNOWN", 13);
	memset(u + 13, 'x', sizeof(u) - 13);
	u[105] = '\r';
	u[106] = '\n';
	if (check_header(u, 107, &h, "a 107-byte UNKNOWN line"))
		ok(h.local, "a 107-byte UNKNOWN line is local");
	u[105] = 'x';
	u[106] = '\r';
	u[107] = '\n';
	is_int(parse(u, 107, &h), PROXY_ERROR,
	    "107 bytes of UNKNOWN without a LF fail");
	is_str(h.error, "v1 header too long",
	    "107 bytes of UNKNOWN without a LF are too long");
	is_int(parse(u, 106, &h), PROXY_NEED,
	    "106 bytes of UNKNOWN without a LF need more");
	is_int(parse(u, 108, &h), PROXY_ERROR, "a 108-byte UNKNOWN line fails");
	memcpy(u, "PROXY TCP4 1.2.3.4 5.6.7.8 1 ", 29);
	memset(u + 29, '1', sizeof(u) - 29);
	is_int(
	    parse(u, 34, &h), PROXY_NEED, "a port of five digits needs more");
	is_int(parse(u, 35, &h), PROXY_ERROR, "a port of six digits fails");
}

/* A v2 header: the fixed part, then body bytes. */
static size_t
v2(unsigned char *out, unsigned ver_cmd, unsigned fam, size_t len,
    const void *body, size_t blen)
{
	memcpy(out, SIG, 12);
	out[12] = (unsigned char)ver_cmd;
	out[13] = (unsigned char)fam;
	out[14] = (unsigned char)(len >> 8);
	out[15] = (unsigned char)len;
	if (blen > 0)
		memcpy(out + 16, body, blen);
	return 16 + blen;
}

/* v2 PROXY over TCP/IPv4 and TCP/IPv6, with and without TLVs. */
static void
test_v2_good(void)
{
	static const unsigned char in4[12] = {
	    192, 0, 2, 1, 198, 51, 100, 7, 0xdc, 0x04, 0x01, 0xbb};
	static const unsigned char in6[36] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0,
	    0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	    0, 2, 0x30, 0x39, 0x00, 0x00};
	unsigned char b[PROXY_MAX], body[PROXY_V2_BODY_MAX];
	struct proxy_hdr h;
	size_t n;

	n = v2(b, 0x21, 0x11, 12, in4, 12);
	if (check_header(b, n, &h, "v2 TCP4"))
		ok(h.version == 2 && !h.local &&
		        is_addr(&h.src, "192.0.2.1", 56324) &&
		        is_addr(&h.dst, "198.51.100.7", 443),
		    "v2 TCP4: version 2, source and destination");
	n = v2(b, 0x21, 0x21, 36, in6, 36);
	if (check_header(b, n, &h, "v2 TCP6"))
		ok(h.version == 2 && !h.local &&
		        is_addr(&h.src, "2001:db8::1", 12345) &&
		        is_addr(&h.dst, "::2", 0),
		    "v2 TCP6: version 2, source and destination");

	/* TLVs: an ALPN, an empty one, a NOOP, then padding in one TLV. */
	memcpy(body, in4, 12);
	memcpy(body + 12,
	    "\x01\x00\x02h2\x04\x00\x00\x03\x00\x04\x00\x00\x00\x00", 15);
	n = v2(b, 0x21, 0x11, 27, body, 27);
	if (check_header(b, n, &h, "v2 TCP4 with TLVs"))
		ok(is_addr(&h.src, "192.0.2.1", 56324) &&
		        is_addr(&h.dst, "198.51.100.7", 443),
		    "v2 TCP4 with TLVs: the addresses");
	/* One TLV filling the whole 2048 bytes. */
	memset(body, 0, sizeof(body));
	memcpy(body, in6, 36);
	body[36] = 0xee;
	body[37] = (PROXY_V2_BODY_MAX - 39) >> 8;
	body[38] = (PROXY_V2_BODY_MAX - 39) & 0xff;
	n = v2(b, 0x21, 0x21, PROXY_V2_BODY_MAX, body, PROXY_V2_BODY_MAX);
	if (check_header(b, n, &h, "v2 TCP6 of the largest length"))
		ok(h.len == PROXY_MAX && is_addr(&h.src, "2001:db8::1", 12345),
		    "v2 TCP6 of the largest length: PROXY_MAX bytes");
}

/* v2 LOCAL, and the families served as local. */
static void
test_v2_local(void)
{
	static const unsigned fams[] = {0x00, 0x12, 0x22, 0x31, 0x32};
	unsigned char b[PROXY_MAX], body[216] = {0};
	struct proxy_hdr h;
	size_t i, n;

	n = v2(b, 0x20, 0x00, 0, NULL, 0);
	if (check_header(b, n, &h, "v2 LOCAL, no body"))
		ok(h.local && h.version == 2 && h.src.ss_family == 0,
		    "v2 LOCAL: local, no addresses");
	n = v2(b, 0x20, 0x11, 12, body, 12);
	if (check_header(b, n, &h, "v2 LOCAL with TCP4 addresses"))
		ok(h.local, "v2 LOCAL with TCP4 addresses: local");
	n = v2(b, 0x20, 0xff, 3, "\x01\xff\xff", 3);
	if (check_header(b, n, &h, "v2 LOCAL ignores the family and body"))
		ok(h.local, "v2 LOCAL with a family byte 0xff: local");
	n = v2(b, 0x20, 0x11, 0, NULL, 0);
	check_header(b, n, &h, "v2 LOCAL, TCP4 without addresses");
	for (i = 0; i < sizeof(fams) / sizeof(fams[0]); i++) {
		char name[64];

		snprintf(name, sizeof(name), "v2 PROXY family 0x%02x", fams[i]);
		n = v2(b, 0x21, fams[i], 216, body, 216);
		if (check_header(b, n, &h, name))
			ok(h.local && h.src.ss_family == 0, "%s: local", name);
	}
}

/* Malformed v2 headers. */
static void
test_v2_bad(void)
{
	static const struct bad cases[] = {
	    {"\r\n\r\n\0\r\nQUIX", 12, "not a PROXY header",
	        "a wrong byte in the signature"},
	    {"\r\r", 2, "not a PROXY header", "a wrong second byte"},
	    {SIG "\x11", 13, "bad v2 version", "version 1"},
	    {SIG "\x31", 13, "bad v2 version", "version 3"},
	    {SIG "\x01", 13, "bad v2 version", "version 0"},
	    {SIG "\x22", 13, "bad v2 command", "command 2"},
	    {SIG "\x2f", 13, "bad v2 command", "command 15"},
	    {SIG "\x21\x13", 14, "bad v2 family", "family 0x13"},
	    {SIG "\x21\x01", 14, "bad v2 family", "family 0x01"},
	    {SIG "\x21\x10", 14, "bad v2 family", "family 0x10"},
	    {SIG "\x21\x41", 14, "bad v2 family", "family 0x41"},
	    {SIG "\x21\x11\x09", 15, "v2 header too long",
	        "a length above 2303, known from its high byte"},
	    {SIG "\x21\x11\x08\x01", 16, "v2 header too long",
	        "a length of 2049"},
	    {SIG "\x20\x00\xff\xff", 16, "v2 header too long",
	        "LOCAL with a length of 65535"},
	    {SIG "\x21\x11\x00\x0b", 16, "v2 length too short",
	        "TCP4 in 11 bytes"},
	    {SIG "\x21\x21\x00\x23", 16, "v2 length too short",
	        "TCP6 in 35 bytes"},
	    {SIG "\x21\x21\x00\x0c", 16, "v2 length too short",
	        "TCP6 in TCP4's 12 bytes"},
	    {SIG "\x21\x11\x00\x0e", 16, "bad v2 TLV",
	        "2 bytes after the addresses, known before they come"},
	    {SIG "\x21\x11\x00\x10"
	         "\1\2\3\4\5\6\7\x08\0\1\0\2"
	         "\x04\x00\x02",
	        31, "bad v2 TLV", "a TLV longer than what is left"},
	    {SIG "\x21\x11\x00\x13"
	         "\1\2\3\4\5\6\7\x08\0\1\0\2"
	         "\x04\x00\x00\x04\x00\x02",
	        34, "bad v2 TLV", "a second TLV cut by the length"},
	};

	check_bad(cases, sizeof(cases) / sizeof(cases[0]));
}

/* The empty input, and v1/v2 beginnings that need more. */
static void
test_need(void)
{
	struct proxy_hdr h;

	is_int(parse("", 0, &h), PROXY_NEED, "no bytes need more");
	is_int(parse("PROXY UNKNO", 11, &h), PROXY_NEED,
	    "a beginning of UNKNOWN needs more");
	is_int(parse("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r", 31, &h), PROXY_NEED,
	    "a CR needs its LF");
	is_int(parse(SIG "\x21\x11\x00\x0c\1\2\3", 19, &h), PROXY_NEED,
	    "a v2 header short of its addresses needs more");
	is_int(parse(SIG "\x21\x11\x08", 15, &h), PROXY_NEED,
	    "a v2 length high byte of 8 may still be 2048");
}

int
main(void)
{
	test_v1_good();
	test_v1_unknown();
	test_v1_bad();
	test_v1_max();
	test_v2_good();
	test_v2_local();
	test_v2_bad();
	test_need();
	return done_testing();
}
