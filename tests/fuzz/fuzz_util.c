/* Shared checks of the libFuzzer harnesses (see fuzz.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

/* Report a failed property and abort, so that libFuzzer keeps the input. */
void
fuzz_fail(const char *file, int line, const char *cond)
{
	fprintf(stderr, "%s:%d: property failed: %s\n", file, line, cond);
	abort();
}

/* Decode one UTF-8 sequence the slow, obvious way (see fuzz.h). */
size_t
fuzz_utf8_seq(const unsigned char *p, size_t n, uint32_t *cp)
{
	size_t len, i;
	uint32_t c, min;

	if (n == 0)
		return 0;
	if (p[0] < 0x80) {
		*cp = p[0];
		return 1;
	}
	if ((p[0] & 0xe0) == 0xc0) {
		len = 2;
		c = p[0] & 0x1f;
		min = 0x80;
	} else if ((p[0] & 0xf0) == 0xe0) {
		len = 3;
		c = p[0] & 0x0f;
		min = 0x800;
	} else if ((p[0] & 0xf8) == 0xf0) {
		len = 4;
		c = p[0] & 0x07;
		min = 0x10000;
	} else
		return 0;
	if (n < len)
		return 0;
	for (i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (p[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return len;
}

/* Whether every byte belongs to a valid UTF-8 sequence. */
bool
fuzz_utf8_valid(const void *p, size_t n)
{
	const unsigned char *s = p;
	size_t i = 0, len;
	uint32_t cp;

	while (i < n) {
		if ((len = fuzz_utf8_seq(s + i, n - i, &cp)) == 0)
			return false;
		i += len;
	}
	return true;
}

/* Whether a terminal control (C0, DEL, UTF-8 C1) occurs in the bytes. */
bool
fuzz_has_control(const void *p, size_t n)
{
	const unsigned char *s = p;
	size_t i;

	for (i = 0; i < n; i++) {
		if (s[i] < 0x20 || s[i] == 0x7f)
			return true;
		if (s[i] == 0xc2 && i + 1 < n && s[i + 1] >= 0x80 &&
		    s[i + 1] <= 0x9f)
			return true;
	}
	return false;
}

/* Value of the four hex digits at s (either case), or -1. */
static long
fuzz_hex4(const char *s)
{
	long v = 0;
	int i;

	for (i = 0; i < 4; i++) {
		char c = s[i];
		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= c - '0';
		else if (c >= 'a' && c <= 'f')
			v |= c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			v |= c - 'A' + 10;
		else
			return -1;
	}
	return v;
}

/* Append code point c as UTF-8 at d; return the bytes written. */
static size_t
fuzz_put_utf8(char *d, uint32_t c)
{
	if (c < 0x80) {
		d[0] = (char)c;
		return 1;
	}
	if (c < 0x800) {
		d[0] = (char)(0xc0 | c >> 6);
		d[1] = (char)(0x80 | (c & 0x3f));
		return 2;
	}
	if (c < 0x10000) {
		d[0] = (char)(0xe0 | c >> 12);
		d[1] = (char)(0x80 | (c >> 6 & 0x3f));
		d[2] = (char)(0x80 | (c & 0x3f));
		return 3;
	}
	d[0] = (char)(0xf0 | c >> 18);
	d[1] = (char)(0x80 | (c >> 12 & 0x3f));
	d[2] = (char)(0x80 | (c >> 6 & 0x3f));
	d[3] = (char)(0x80 | (c & 0x3f));
	return 4;
}

/* Decode a JSON string body strictly (see fuzz.h). */
size_t
fuzz_json_unescape(char *dst, const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, o = 0, len;
	uint32_t cp;
	long v, lo;

	while (i < n) {
		if (u[i] == '"' || u[i] < 0x20)
			return (size_t)-1;
		if (u[i] != '\\') {
			if ((len = fuzz_utf8_seq(u + i, n - i, &cp)) == 0)
				return (size_t)-1;
			memcpy(dst + o, s + i, len);
			o += len;
			i += len;
			continue;
		}
		if (i + 1 >= n)
			return (size_t)-1;
		switch (s[i + 1]) {
		case '"':
		case '\\':
		case '/':
			dst[o++] = s[i + 1];
			i += 2;
			continue;
		case 'b':
			dst[o++] = '\b';
			i += 2;
			continue;
		case 'f':
			dst[o++] = '\f';
			i += 2;
			continue;
		case 'n':
			dst[o++] = '\n';
			i += 2;
			continue;
		case 'r':
			dst[o++] = '\r';
			i += 2;
			continue;
		case 't':
			dst[o++] = '\t';
			i += 2;
			continue;
		case 'u':
			break;
		default:
			return (size_t)-1;
		}
		if (i + 6 > n || (v = fuzz_hex4(s + i + 2)) < 0)
			return (size_t)-1;
		i += 6;
		if (v >= 0xdc00 && v <= 0xdfff)
			return (size_t)-1;
		if (v >= 0xd800 && v <= 0xdbff) {
			/* A high surrogate counts only with its low half. */
			if (i + 6 > n || s[i] != '\\' || s[i + 1] != 'u' ||
			    (lo = fuzz_hex4(s + i + 2)) < 0xdc00 || lo > 0xdfff)
				return (size_t)-1;
			v = 0x10000 + ((v - 0xd800) << 10) + (lo - 0xdc00);
			i += 6;
		}
		o += fuzz_put_utf8(dst + o, (uint32_t)v);
	}
	return o;
}

/* Replace each byte that is not valid UTF-8 by U+FFFD (see fuzz.h). */
size_t
fuzz_replace_invalid(char *dst, const void *src, size_t n)
{
	const unsigned char *s = src;
	char *d = dst;
	size_t i = 0, len;
	uint32_t cp;

	while (i < n) {
		if ((len = fuzz_utf8_seq(s + i, n - i, &cp)) == 0) {
			memcpy(d, "\xef\xbf\xbd", 3);
			d += 3;
			i++;
		} else {
			memcpy(d, s + i, len);
			d += len;
			i += len;
		}
	}
	return (size_t)(d - dst);
}

/* Allocate n bytes or abort: a harness has no way to go on without them. */
void *
fuzz_alloc(size_t n)
{
	void *p = malloc(n);

	if (p == NULL && n != 0)
		abort();
	return p;
}

/* Copy n bytes into an allocation of exactly n bytes. */
void *
fuzz_dup(const void *src, size_t n)
{
	void *p = fuzz_alloc(n);

	if (n != 0)
		memcpy(p, src, n);
	return p;
}
