/*
 * The PROXY protocol header (HAProxy's proxy-protocol.txt), versions 1 and
 * 2, parsed from the bytes received so far: NEED while they can still
 * begin a valid header, ERROR as soon as they cannot (see proxy.h).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>

#include "proxy.h"

/* The 12 bytes that begin every v2 header. */
static const unsigned char proxy_v2_sig[12] = {
    0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a};

/* The longest address inet_pton reads: IPv6 with an IPv4 tail, all zeros
 * written out ("0000:0000:0000:0000:0000:0000:255.255.255.255"). */
#define PROXY_ADDR_MAX 45

/* The v1 fields after "PROXY TCPx ": two addresses, two ports. */
#define PROXY_V1_FIELDS 4

/* Fail with a short reason. */
static enum proxy_result
proxy_fail(struct proxy_hdr *h, const char *why)
{
	h->error = why;
	return PROXY_ERROR;
}

/* Whether c may appear in an address literal (the union of the IPv4 and
 * IPv6 alphabets; inet_pton decides the rest). */
static int
proxy_addr_char(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
	       (c >= 'A' && c <= 'F') || c == ':' || c == '.';
}

/* Read the k address bytes at s (address-alphabet bytes only) as family
 * af into out; 0 on success, -1 if they are not one. */
static int
proxy_addr(int af, const unsigned char *s, size_t k, void *out)
{
	char text[PROXY_ADDR_MAX + 1];

	if (k == 0 || k > PROXY_ADDR_MAX)
		return -1;
	memcpy(text, s, k);
	text[k] = '\0';
	return inet_pton(af, text, out) == 1 ? 0 : -1;
}

/*
 * The fewest bytes that complete the k bytes at s into an address of
 * family af, or -1 if no bytes can. Every state a prefix of an address can
 * be in (inside a group or an octet, after ':' or "::", inside an IPv4
 * part) is completed by one of these, and the shortest that works is the
 * shortest there is.
 */
static int
proxy_addr_rest(int af, const unsigned char *s, size_t k)
{
	static const char *const tails[] = {"", "0", ":", ".0", "::", ":0",
	    "0.0", ".0.0", "::0", "0.0.0", ".0.0.0", "0.0.0.0"};
	unsigned char text[PROXY_ADDR_MAX], out[16];
	size_t i, t;

	if (k > PROXY_ADDR_MAX)
		return -1;
	memcpy(text, s, k);
	for (i = 0; i < sizeof(tails) / sizeof(tails[0]); i++) {
		t = strlen(tails[i]);
		if (k + t > PROXY_ADDR_MAX)
			continue;
		memcpy(text + k, tails[i], t);
		if (proxy_addr(af, text, k + t, out) == 0)
			return (int)t;
	}
	return -1;
}

/* The port in the k digits at s: decimal, 0 to 65535, no leading zero;
 * -1 if they are not one. */
static long
proxy_port(const unsigned char *s, size_t k)
{
	long v = 0;
	size_t i;

	if (k == 0 || k > 5 || (k > 1 && s[0] == '0'))
		return -1;
	for (i = 0; i < k; i++)
		v = v * 10 + (s[i] - '0');
	return v <= 65535 ? v : -1;
}

/* Set sa to the address at addr (4 or 16 bytes by af) and port. */
static void
proxy_set(struct sockaddr_storage *ss, int af, const void *addr, long port)
{
	memset(ss, 0, sizeof(*ss));
	if (af == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		memcpy(&sin->sin_addr, addr, 4);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		memcpy(&sin6->sin6_addr, addr, 16);
	}
}

/*
 * The fields of a v1 TCP4 or TCP6 line from b + 11, m bytes available (at
 * most PROXY_V1_MAX). A field cut off by the end of the bytes must be able
 * to begin a valid one, and the shortest line it can still become must fit
 * in PROXY_V1_MAX.
 */
static enum proxy_result
proxy_v1_tcp(const unsigned char *b, size_t m, int af, struct proxy_hdr *h)
{
	unsigned char addr[2][16];
	long port[2];
	size_t pos = 11, start, k, least;
	int f, g, rest;

	for (f = 0; f < PROXY_V1_FIELDS; f++) {
		const char *why = f < 2 ? "bad v1 address" : "bad port";

		start = pos;
		while (pos < m && (f < 2 ? proxy_addr_char(b[pos])
		                         : b[pos] >= '0' && b[pos] <= '9'))
			pos++;
		k = pos - start;
		if (pos == m) {
			/* Cut off: the rest of this field, then the later
			 * fields each after its space, then a bare LF. */
			if (f < 2)
				rest = k == 0
				           ? (af == AF_INET ? 7 : 2)
				           : proxy_addr_rest(af, b + start, k);
			else
				rest = k == 0
				           ? 1
				           : (proxy_port(b + start, k) < 0 ? -1
				                                           : 0);
			if (rest < 0)
				return proxy_fail(h, why);
			least = m + (size_t)rest + 1;
			for (g = f + 1; g < PROXY_V1_FIELDS; g++)
				least +=
				    1 + (g < 2 ? (af == AF_INET ? 7 : 2) : 1);
			if (least > PROXY_V1_MAX)
				return proxy_fail(h, "v1 header too long");
			return PROXY_NEED;
		}
		if (f < 2) {
			if (proxy_addr(af, b + start, k, addr[f]) < 0)
				return proxy_fail(h, why);
		} else if ((port[f - 2] = proxy_port(b + start, k)) < 0)
			return proxy_fail(h, why);
		if (f < PROXY_V1_FIELDS - 1 ? b[pos] != ' '
		                            : b[pos] != '\r' && b[pos] != '\n')
			return proxy_fail(h, why);
		pos++;
	}
	if (b[pos - 1] == '\r') {
		if (pos == m)
			return pos + 1 > PROXY_V1_MAX
			           ? proxy_fail(h, "v1 header too long")
			           : PROXY_NEED;
		if (b[pos] != '\n')
			return proxy_fail(h, "bad port");
		pos++;
	}
	h->len = pos;
	proxy_set(&h->src, af, addr[0], port[0]);
	proxy_set(&h->dst, af, addr[1], port[1]);
	return PROXY_DONE;
}

/* A v1 header: "PROXY ", then TCP4, TCP6 or UNKNOWN, to the line's end. */
static enum proxy_result
proxy_v1(const unsigned char *b, size_t n, struct proxy_hdr *h)
{
	static const char *const protos[] = {"TCP4 ", "TCP6 ", "UNKNOWN"};
	static const char prefix[] = "PROXY ";
	size_t m = n < PROXY_V1_MAX ? n : PROXY_V1_MAX;
	size_t i, avail, len, cmp;
	const unsigned char *lf;
	int which = -1, begun = 0;

	h->version = 1;
	for (i = 0; i < sizeof(prefix) - 1 && i < m; i++)
		if (b[i] != (unsigned char)prefix[i])
			return proxy_fail(h, "not a PROXY header");
	if (m < sizeof(prefix) - 1)
		return PROXY_NEED;
	avail = m - (sizeof(prefix) - 1);
	for (i = 0; i < sizeof(protos) / sizeof(protos[0]); i++) {
		len = strlen(protos[i]);
		cmp = avail < len ? avail : len;
		if (memcmp(b + 6, protos[i], cmp) != 0)
			continue;
		begun = 1;
		if (avail >= len)
			which = (int)i;
	}
	if (!begun)
		return proxy_fail(h, "bad v1 address");
	if (which < 0)
		return PROXY_NEED;
	if (which < 2)
		return proxy_v1_tcp(b, m, which == 0 ? AF_INET : AF_INET6, h);
	/* UNKNOWN: whatever follows, to the first LF. */
	lf = memchr(b + 13, '\n', m - 13);
	if (lf == NULL)
		return n >= PROXY_V1_MAX ? proxy_fail(h, "v1 header too long")
		                         : PROXY_NEED;
	h->len = (size_t)(lf - b) + 1;
	h->local = true;
	return PROXY_DONE;
}

/* A v2 header: signature, version and command, family, length, the
 * addresses and the TLVs, each judged as soon as its bytes are there. */
static enum proxy_result
proxy_v2(const unsigned char *b, size_t n, struct proxy_hdr *h)
{
	size_t alen = 0, len, total, p, tlen = 0;
	bool local;

	h->version = 2;
	if (memcmp(b, proxy_v2_sig, n < 12 ? n : 12) != 0)
		return proxy_fail(h, "not a PROXY header");
	if (n < 13)
		return PROXY_NEED;
	if (b[12] >> 4 != 2)
		return proxy_fail(h, "bad v2 version");
	if ((b[12] & 0x0f) > 1)
		return proxy_fail(h, "bad v2 command");
	/* LOCAL: the family is ignored, whatever it is. */
	local = (b[12] & 0x0f) == 0;
	if (n < 14)
		return PROXY_NEED;
	if (!local) {
		switch (b[13]) {
		case 0x11:
			alen = 12;
			break;
		case 0x21:
			alen = 36;
			break;
		case 0x00: /* UNSPEC */
		case 0x12: /* UDP over IPv4 */
		case 0x22: /* UDP over IPv6 */
		case 0x31: /* AF_UNIX stream */
		case 0x32: /* AF_UNIX datagram */
			local = true;
			break;
		default:
			return proxy_fail(h, "bad v2 family");
		}
	}
	if (n < 15)
		return PROXY_NEED;
	/* The length's high byte alone can already make it too long. */
	if ((size_t)b[14] << 8 > PROXY_V2_BODY_MAX)
		return proxy_fail(h, "v2 header too long");
	if (n < 16)
		return PROXY_NEED;
	len = (size_t)b[14] << 8 | b[15];
	if (len > PROXY_V2_BODY_MAX)
		return proxy_fail(h, "v2 header too long");
	if (len < alen)
		return proxy_fail(h, "v2 length too short");
	total = 16 + len;
	/* The TLVs after TCP addresses, as far as their headers are here:
	 * each must fit in what the length leaves. */
	for (p = 16 + alen; !local && p < total; p += 3 + tlen) {
		if (total - p < 3)
			return proxy_fail(h, "bad v2 TLV");
		if (n < p + 3)
			break;
		tlen = (size_t)b[p + 1] << 8 | b[p + 2];
		if (tlen > total - p - 3)
			return proxy_fail(h, "bad v2 TLV");
	}
	if (n < total)
		return PROXY_NEED;
	h->len = total;
	h->local = local;
	if (local)
		return PROXY_DONE;
	if (b[13] == 0x11) {
		proxy_set(&h->src, AF_INET, b + 16, b[24] << 8 | b[25]);
		proxy_set(&h->dst, AF_INET, b + 20, b[26] << 8 | b[27]);
	} else {
		proxy_set(&h->src, AF_INET6, b + 16, b[48] << 8 | b[49]);
		proxy_set(&h->dst, AF_INET6, b + 32, b[50] << 8 | b[51]);
	}
	return PROXY_DONE;
}

/* Parse the first bytes of a connection as a PROXY header (see proxy.h). */
enum proxy_result
proxy_parse(const void *buf, size_t n, struct proxy_hdr *h)
{
	const unsigned char *b = buf;

	memset(h, 0, sizeof(*h));
	if (n == 0)
		return PROXY_NEED;
	if (b[0] == 'P')
		return proxy_v1(b, n, h);
	if (b[0] == proxy_v2_sig[0])
		return proxy_v2(b, n, h);
	return proxy_fail(h, "not a PROXY header");
}
