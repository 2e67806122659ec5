/*
 * libFuzzer harness of proxy.c. The input itself is parsed as the first
 * bytes of a connection and every one of its prefixes too: the answers
 * must be NEED up to some length and the same answer from there on (a
 * DONE first at exactly its len, nothing after it looked at), and never
 * NEED once PROXY_MAX bytes (PROXY_V1_MAX for v1) are there. A v1 line is
 * judged by a reference written another way: the line cut at its first
 * LF, read with sscanf patterns whose %n positions prove single spaces,
 * the addresses by inet_pton, the ports by strtoul. Headers generated from
 * the input's bytes (v1 TCP4, TCP6 in several spellings and UNKNOWN; v2
 * TCP4, TCP6 with TLVs, LOCAL and the local families), with bytes after
 * them, must parse to exactly what they were made from, every proper
 * prefix NEED.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "proxy.h"

/* Headers generated per input. */
#define NGEN 4

/* The scanset of an address's bytes in the reference's patterns. */
#define ADDR_SET "%45[0-9a-fA-F:.]"

/* Parse the n bytes at p from an exactly sized copy. */
static enum proxy_result
parse(const void *p, size_t n, struct proxy_hdr *h)
{
	void *copy = fuzz_dup(p, n);
	enum proxy_result r = proxy_parse(copy, n, h);

	free(copy);
	return r;
}

/* Whether two results of proxy_parse are the same answer. */
static bool
same(enum proxy_result ra, const struct proxy_hdr *a, enum proxy_result rb,
    const struct proxy_hdr *b)
{
	if (ra != rb)
		return false;
	if (ra == PROXY_ERROR)
		return strcmp(a->error, b->error) == 0;
	if (ra == PROXY_NEED)
		return true;
	return a->len == b->len && a->version == b->version &&
	       a->local == b->local &&
	       memcmp(&a->src, &b->src, sizeof(a->src)) == 0 &&
	       memcmp(&a->dst, &b->dst, sizeof(a->dst)) == 0;
}

/* What any one answer must look like, whatever the bytes. */
static void
check_shape(enum proxy_result r, const struct proxy_hdr *h, size_t n)
{
	static const struct sockaddr_storage zero;

	if (r == PROXY_ERROR) {
		FUZZ_CHECK(h->error != NULL && h->error[0] != '\0');
		FUZZ_CHECK(strlen(h->error) < 40);
		for (const char *c = h->error; *c != '\0'; c++)
			FUZZ_CHECK(*c >= 0x20 && *c < 0x7f);
		return;
	}
	FUZZ_CHECK(h->error == NULL);
	if (r == PROXY_NEED) {
		FUZZ_CHECK(n < PROXY_MAX);
		return;
	}
	FUZZ_CHECK(r == PROXY_DONE);
	FUZZ_CHECK(h->len > 0 && h->len <= n);
	FUZZ_CHECK(h->version == 1 || h->version == 2);
	FUZZ_CHECK(h->len <= (h->version == 1 ? PROXY_V1_MAX : PROXY_MAX));
	if (h->local) {
		FUZZ_CHECK(memcmp(&h->src, &zero, sizeof(zero)) == 0);
		FUZZ_CHECK(memcmp(&h->dst, &zero, sizeof(zero)) == 0);
	} else {
		FUZZ_CHECK(h->src.ss_family == AF_INET ||
		           h->src.ss_family == AF_INET6);
		FUZZ_CHECK(h->dst.ss_family == h->src.ss_family);
	}
}

/*
 * The prefix property over the n bytes at p: NEED for every prefix shorter
 * than some length, the same answer from there to n; a DONE first seen at
 * exactly its len. Returns the answer for all n bytes.
 */
static enum proxy_result
check_prefixes(const uint8_t *p, size_t n, struct proxy_hdr *whole)
{
	struct proxy_hdr h, first;
	enum proxy_result r, rf = PROXY_NEED;
	size_t i;

	for (i = 0; i <= n; i++) {
		r = parse(p, i, &h);
		check_shape(r, &h, i);
		if (p[0] == 'P' && i >= PROXY_V1_MAX)
			FUZZ_CHECK(r != PROXY_NEED);
		if (rf == PROXY_NEED) {
			rf = r;
			first = h;
			if (r == PROXY_DONE)
				FUZZ_CHECK(h.len == i);
		} else
			FUZZ_CHECK(same(r, &h, rf, &first));
	}
	return parse(p, n, whole);
}

/* The port in the 1 to 5 digits at s (their form checked by the scanset):
 * -1 with a leading zero or above 65535. */
static long
ref_port(const char *s)
{
	size_t len = strlen(s);

	if (len > 1 && s[0] == '0')
		return -1;
	unsigned long v = strtoul(s, NULL, 10);
	return v <= 65535 ? (long)v : -1;
}

/* Whether ss is family af with the bytes at a and port. */
static bool
ref_addr_is(const struct sockaddr_storage *ss, int af, const void *a, long port)
{
	if (ss->ss_family != af)
		return false;
	if (af == AF_INET) {
		const struct sockaddr_in *sin = (const void *)ss;
		return ntohs(sin->sin_port) == port &&
		       memcmp(&sin->sin_addr, a, 4) == 0;
	}
	const struct sockaddr_in6 *sin6 = (const void *)ss;
	return ntohs(sin6->sin6_port) == port &&
	       memcmp(&sin6->sin6_addr, a, 16) == 0;
}

/*
 * Judge a v1 line, the n bytes at p beginning with 'P', by the reference:
 * only once a LF within PROXY_V1_MAX bytes ends it (before that the
 * prefix property judges), or PROXY_V1_MAX bytes without one must fail.
 */
static void
check_v1_reference(
    const uint8_t *p, size_t n, enum proxy_result r, const struct proxy_hdr *h)
{
	size_t m = n < PROXY_V1_MAX ? n : PROXY_V1_MAX;
	const uint8_t *lf = memchr(p, '\n', m);
	char line[PROXY_V1_MAX + 1], fam[2], a[2][46], port[2][6];
	int pos[8], rc;
	size_t len, end;
	unsigned char bin[2][16];
	long pn[2];
	bool valid = false;

	if (lf == NULL) {
		if (n >= PROXY_V1_MAX)
			FUZZ_CHECK(r == PROXY_ERROR);
		else
			FUZZ_CHECK(r != PROXY_DONE);
		return;
	}
	len = (size_t)(lf - p) + 1;
	memcpy(line, p, len);
	line[len] = '\0';
	if (len >= 14 && memcmp(line, "PROXY UNKNOWN", 13) == 0) {
		FUZZ_CHECK(r == PROXY_DONE && h->local && h->version == 1 &&
		           h->len == len);
		return;
	}
	/* A NUL in the line ends sscanf's string early: never valid. */
	if (memchr(line, '\0', len) == NULL) {
		memset(pos, -1, sizeof(pos));
		fam[0] = '\0';
		rc = sscanf(line,
		    "PROXY TCP%1[46] %n" ADDR_SET "%n %n" ADDR_SET
		    "%n %n%5[0-9]%n %n%5[0-9]%n",
		    fam, &pos[0], a[0], &pos[1], &pos[2], a[1], &pos[3],
		    &pos[4], port[0], &pos[5], &pos[6], port[1], &pos[7]);
		int af = fam[0] == '4' ? AF_INET : AF_INET6;
		/* sscanf's spaces match any run of white space: each must
		 * have been one space. */
		valid = rc == 5 && line[5] == ' ' && pos[0] == 11 &&
		        line[10] == ' ' && pos[2] == pos[1] + 1 &&
		        line[pos[1]] == ' ' && pos[4] == pos[3] + 1 &&
		        line[pos[3]] == ' ' && pos[6] == pos[5] + 1 &&
		        line[pos[5]] == ' ';
		if (valid) {
			end = (size_t)pos[7];
			valid = strcmp(line + end, "\n") == 0 ||
			        strcmp(line + end, "\r\n") == 0;
		}
		valid = valid && inet_pton(af, a[0], bin[0]) == 1 &&
		        inet_pton(af, a[1], bin[1]) == 1 &&
		        (pn[0] = ref_port(port[0])) >= 0 &&
		        (pn[1] = ref_port(port[1])) >= 0;
		if (valid) {
			FUZZ_CHECK(r == PROXY_DONE && !h->local &&
			           h->version == 1 && h->len == len);
			FUZZ_CHECK(ref_addr_is(&h->src, af, bin[0], pn[0]));
			FUZZ_CHECK(ref_addr_is(&h->dst, af, bin[1], pn[1]));
			return;
		}
	}
	FUZZ_CHECK(r == PROXY_ERROR);
}

/* What a generated header must parse to. */
struct want {
	bool local;
	int version;
	int af;
	unsigned char src[16], dst[16];
	long sport, dport;
	bool too_long;     /* a v1 line made longer than PROXY_V1_MAX */
	const char *error; /* broken on purpose: the error it must give */
};

/* Random bytes. */
static void
gen_bytes(struct rng *r, unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)rng_next(r);
}

/* A port, its bounds often. */
static long
gen_port(struct rng *r)
{
	switch (rng_below(r, 4)) {
	case 0:
		return 0;
	case 1:
		return 65535;
	default:
		return (long)rng_below(r, 65536);
	}
}

/* An IPv6 address, often with runs of zero groups or mapped IPv4. */
static void
gen_in6(struct rng *r, unsigned char *a)
{
	gen_bytes(r, a, 16);
	switch (rng_below(r, 4)) {
	case 0: { /* a run of zero groups */
		size_t at = rng_below(r, 8), k = 1 + rng_below(r, 8 - at);
		memset(a + 2 * at, 0, 2 * k);
		break;
	}
	case 1: /* IPv4-mapped */
		memcpy(a, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12);
		break;
	case 2: /* all zeros but the last byte */
		memset(a, 0, 15);
		break;
	default:
		break;
	}
}

/* Write the address a in one of several spellings that inet_pton reads. */
static void
gen_in6_text(struct rng *r, const unsigned char *a, char *out)
{
	unsigned g[8];
	char *c;

	for (int i = 0; i < 8; i++)
		g[i] = (unsigned)a[2 * i] << 8 | a[2 * i + 1];
	switch (rng_below(r, 5)) {
	case 0: /* every group, four digits */
		sprintf(out, "%04x:%04x:%04x:%04x:%04x:%04x:%04x:%04x", g[0],
		    g[1], g[2], g[3], g[4], g[5], g[6], g[7]);
		break;
	case 1: /* every group, no leading zeros */
		sprintf(out, "%x:%x:%x:%x:%x:%x:%x:%x", g[0], g[1], g[2], g[3],
		    g[4], g[5], g[6], g[7]);
		break;
	case 2: /* six groups and an IPv4 tail */
		sprintf(out, "%04x:%04x:%04x:%04x:%04x:%04x:%u.%u.%u.%u", g[0],
		    g[1], g[2], g[3], g[4], g[5], a[12], a[13], a[14], a[15]);
		break;
	case 3: /* inet_ntop's, upper case */
		inet_ntop(AF_INET6, a, out, INET6_ADDRSTRLEN);
		for (c = out; *c != '\0'; c++)
			if (*c >= 'a' && *c <= 'f')
				*c = (char)(*c - 'a' + 'A');
		break;
	default:
		inet_ntop(AF_INET6, a, out, INET6_ADDRSTRLEN);
		break;
	}
}

/* Generate a v1 header into out; its length. */
static size_t
gen_v1(struct rng *r, char *out, struct want *w)
{
	char s[INET6_ADDRSTRLEN], d[INET6_ADDRSTRLEN];
	const char *eol = rng_below(r, 2) ? "\r\n" : "\n";
	size_t n;

	w->version = 1;
	if (rng_below(r, 4) == 0) {
		size_t k = rng_below(r, PROXY_V1_MAX - 13 - strlen(eol) + 1);

		w->local = true;
		memcpy(out, "PROXY UNKNOWN", 13);
		for (size_t i = 0; i < k; i++) {
			out[13 + i] = (char)rng_next(r);
			if (out[13 + i] == '\n')
				out[13 + i] = ' ';
		}
		memcpy(out + 13 + k, eol, strlen(eol));
		return 13 + k + strlen(eol);
	}
	w->af = rng_below(r, 2) ? AF_INET : AF_INET6;
	w->sport = gen_port(r);
	w->dport = gen_port(r);
	if (w->af == AF_INET) {
		gen_bytes(r, w->src, 4);
		gen_bytes(r, w->dst, 4);
		inet_ntop(AF_INET, w->src, s, sizeof(s));
		inet_ntop(AF_INET, w->dst, d, sizeof(d));
	} else {
		gen_in6(r, w->src);
		gen_in6(r, w->dst);
		gen_in6_text(r, w->src, s);
		gen_in6_text(r, w->dst, d);
	}
	if (rng_below(r, 4) == 0) {
		/* A destination port broken in a known way. */
		static const char *const bad[] = {"65536", "99999", "00", "01",
		    "+1", "-1", "123456", "1x", ""};

		n = (size_t)sprintf(out, "PROXY TCP%c %s %s %ld %s%s",
		    w->af == AF_INET ? '4' : '6', s, d, w->sport,
		    bad[rng_below(r, sizeof(bad) / sizeof(bad[0]))], eol);
		w->error = "bad port";
		w->too_long = n > PROXY_V1_MAX;
		return n;
	}
	n = (size_t)sprintf(out, "PROXY TCP%c %s %s %ld %ld%s",
	    w->af == AF_INET ? '4' : '6', s, d, w->sport, w->dport, eol);
	w->too_long = n > PROXY_V1_MAX;
	return n;
}

/* Generate a v2 header into out; its length. */
static size_t
gen_v2(struct rng *r, unsigned char *out, struct want *w)
{
	static const unsigned char locals[] = {0x00, 0x12, 0x22, 0x31, 0x32};
	size_t alen = 0, len, p;
	unsigned kind = rng_below(r, 4);

	w->version = 2;
	memcpy(out, "\r\n\r\n\0\r\nQUIT\n", 12);
	if (kind == 0) { /* LOCAL: any family, any body */
		w->local = true;
		out[12] = 0x20;
		out[13] = (unsigned char)rng_next(r);
		len = rng_below(r, 4) == 0 ? PROXY_V2_BODY_MAX
		                           : rng_below(r, 300);
		gen_bytes(r, out + 16, len);
	} else if (kind == 1) { /* PROXY over a family taken as local */
		w->local = true;
		out[12] = 0x21;
		out[13] = locals[rng_below(r, sizeof(locals))];
		len = rng_below(r, 300);
		gen_bytes(r, out + 16, len);
	} else {
		out[12] = 0x21;
		w->af = kind == 2 ? AF_INET : AF_INET6;
		out[13] = kind == 2 ? 0x11 : 0x21;
		alen = kind == 2 ? 12 : 36;
		w->sport = gen_port(r);
		w->dport = gen_port(r);
		if (kind == 2) {
			gen_bytes(r, w->src, 4);
			gen_bytes(r, w->dst, 4);
			memcpy(out + 16, w->src, 4);
			memcpy(out + 20, w->dst, 4);
		} else {
			gen_in6(r, w->src);
			gen_in6(r, w->dst);
			memcpy(out + 16, w->src, 16);
			memcpy(out + 32, w->dst, 16);
		}
		p = 16 + alen - 4;
		out[p] = (unsigned char)(w->sport >> 8);
		out[p + 1] = (unsigned char)w->sport;
		out[p + 2] = (unsigned char)(w->dport >> 8);
		out[p + 3] = (unsigned char)w->dport;
		/* TLVs, each of a random size, within the body's bound. */
		p = 16 + alen;
		for (unsigned t = rng_below(r, 6); t > 0; t--) {
			size_t room = PROXY_MAX - p, v;

			if (room < 3)
				break;
			v = rng_below(r, 4) == 0 ? room - 3 : rng_below(r, 40);
			if (v > room - 3)
				v = room - 3;
			out[p] = (unsigned char)rng_next(r);
			out[p + 1] = (unsigned char)(v >> 8);
			out[p + 2] = (unsigned char)v;
			gen_bytes(r, out + p + 3, v);
			p += 3 + v;
		}
		len = p - 16;
		if (rng_below(r, 4) == 0) {
			/* Broken: the addresses cut short, or the last TLV
			 * (or the addresses) one byte longer than the length.
			 */
			if (p == 16 + alen || rng_below(r, 2)) {
				len = alen - 1 - rng_below(r, (uint32_t)alen);
				w->error = "v2 length too short";
			} else {
				len--;
				w->error = "bad v2 TLV";
			}
		}
	}
	out[14] = (unsigned char)(len >> 8);
	out[15] = (unsigned char)len;
	return 16 + len;
}

/* Headers made from the input's bytes parse to what they were made of,
 * every proper prefix NEED, bytes after them untouched. */
static void
check_generated(const uint8_t *data, size_t size)
{
	struct rng r = {rng_seed(data, size)};
	unsigned char buf[PROXY_MAX + 256];

	for (int i = 0; i < NGEN; i++) {
		struct want w;
		struct proxy_hdr h, t;
		size_t n, extra;
		enum proxy_result res;

		memset(&w, 0, sizeof(w));
		if (rng_below(&r, 2))
			n = gen_v1(&r, (char *)buf, &w);
		else
			n = gen_v2(&r, buf, &w);
		extra = rng_below(&r, 64);
		gen_bytes(&r, buf + n, extra);
		if (w.error != NULL && !w.too_long) {
			res = parse(buf, n + extra, &h);
			FUZZ_CHECK(res == PROXY_ERROR);
			FUZZ_CHECK(strcmp(h.error, w.error) == 0);
			continue;
		}
		if (w.too_long) {
			res = parse(buf, n + extra, &h);
			FUZZ_CHECK(res == PROXY_ERROR);
			FUZZ_CHECK(
			    strcmp(h.error, "v1 header too long") == 0 ||
			    (w.error != NULL && strcmp(h.error, w.error) == 0));
			continue;
		}
		for (size_t k = 0; k < n; k++)
			FUZZ_CHECK(parse(buf, k, &t) == PROXY_NEED);
		res = parse(buf, n, &h);
		FUZZ_CHECK(res == PROXY_DONE && h.len == n);
		FUZZ_CHECK(h.version == w.version && h.local == w.local);
		if (!w.local) {
			FUZZ_CHECK(ref_addr_is(&h.src, w.af, w.src, w.sport));
			FUZZ_CHECK(ref_addr_is(&h.dst, w.af, w.dst, w.dport));
		}
		res = parse(buf, n + extra, &t);
		FUZZ_CHECK(same(res, &t, PROXY_DONE, &h));
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proxy_hdr h;
	enum proxy_result r;

	if (size > PROXY_MAX + 64)
		size = PROXY_MAX + 64;
	if (size > 0) {
		r = check_prefixes(data, size, &h);
		if (data[0] == 'P')
			check_v1_reference(data, size, r, &h);
	}
	check_generated(data, size);
	return 0;
}
