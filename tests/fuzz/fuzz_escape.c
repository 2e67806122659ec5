/*
 * libFuzzer harness of escape.c, the only path by which a peer's bytes reach
 * a log record. Each input is escaped both ways; the output is held to the
 * contract's properties and compared with reference escapers written here.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "escape.h"
#include "fuzz.h"

static const char hex[] = "0123456789abcdef";

/* Whether the code point is a C1 control, escaped even when valid. */
static bool
is_c1(uint32_t cp)
{
	return cp >= 0x80 && cp <= 0x9f;
}

/* Append prefix and the two hex digits of c at d; return the new end. */
static char *
put_hex(char *d, unsigned c, const char *prefix)
{
	size_t plen = strlen(prefix);

	memcpy(d, prefix, plen);
	d += plen;
	*d++ = hex[c >> 4];
	*d++ = hex[c & 15];
	return d;
}

/* The text escaping of the contract, byte class by byte class. */
static size_t
ref_text(char *dst, const unsigned char *s, size_t n)
{
	char *d = dst;
	size_t i = 0, len;
	uint32_t cp;

	while (i < n) {
		unsigned c = s[i];
		if (c == '\\' || c == '\t' || c == '\r' || c == '\n') {
			*d++ = '\\';
			*d++ = c == '\\'   ? '\\'
			       : c == '\t' ? 't'
			       : c == '\r' ? 'r'
			                   : 'n';
			i++;
		} else if (c >= 0x20 && c <= 0x7e) {
			*d++ = (char)c;
			i++;
		} else if (c >= 0x80 &&
		           (len = fuzz_utf8_seq(s + i, n - i, &cp)) != 0 &&
		           !is_c1(cp)) {
			memcpy(d, s + i, len);
			d += len;
			i += len;
		} else {
			d = put_hex(d, c, "\\x");
			i++;
		}
	}
	return (size_t)(d - dst);
}

/* The JSON escaping of the contract; *lossy set when a byte is not UTF-8. */
static size_t
ref_json(char *dst, const unsigned char *s, size_t n, bool *lossy)
{
	static const char shorts[] = "\"\"\\\\\nn\rr\tt\bb\ff";
	char *d = dst;
	size_t i = 0, len;
	uint32_t cp;

	while (i < n) {
		unsigned c = s[i];
		const char *sh = NULL;
		for (size_t k = 0; k < sizeof shorts - 1; k += 2) {
			if ((unsigned char)shorts[k] == c)
				sh = shorts + k;
		}
		if (sh != NULL) {
			*d++ = '\\';
			*d++ = sh[1];
			i++;
		} else if (c < 0x20 || c == 0x7f) {
			d = put_hex(d, c, "\\u00");
			i++;
		} else if (c < 0x80) {
			*d++ = (char)c;
			i++;
		} else if ((len = fuzz_utf8_seq(s + i, n - i, &cp)) == 0) {
			memcpy(d, "\xef\xbf\xbd", 3);
			d += 3;
			*lossy = true;
			i++;
		} else if (is_c1(cp)) {
			d = put_hex(d, cp, "\\u00");
			i += len;
		} else {
			memcpy(d, s + i, len);
			d += len;
			i += len;
		}
	}
	return (size_t)(d - dst);
}

/* escape_utf8_len agrees with the reference decoder at every offset. */
static void
check_utf8_len(const unsigned char *s, size_t n)
{
	uint32_t cp;

	for (size_t i = 0; i <= n; i++) {
		size_t ref = fuzz_utf8_seq(s + i, n - i, &cp);
		FUZZ_CHECK(
		    escape_utf8_len(s + i, n - i) == (ref >= 2 ? ref : 0));
	}
}

/* Text: no control byte out, within bound, lossless, as the reference. */
static void
check_text(const unsigned char *s, size_t n)
{
	char *out = fuzz_alloc(ESCAPE_TEXT_MAX(n));
	char *ref = fuzz_alloc(ESCAPE_TEXT_MAX(n));
	size_t len = escape_text(out, s, n);

	FUZZ_CHECK(len <= ESCAPE_TEXT_MAX(n));
	FUZZ_CHECK(!fuzz_has_control(out, len));
	FUZZ_CHECK(fuzz_utf8_valid(out, len));
	FUZZ_CHECK(ref_text(ref, s, n) == len);
	FUZZ_CHECK(memcmp(out, ref, len) == 0);

	/* Exactly sized copies: unescape_text may read only what it is given
	 * and write at most as many bytes as it reads. */
	char *esc = fuzz_dup(out, len);
	char *back = fuzz_alloc(len);
	size_t blen = unescape_text(back, esc, len);
	FUZZ_CHECK(blen == n);
	FUZZ_CHECK(memcmp(back, s, n) == 0);

	free(back);
	free(esc);
	free(ref);
	free(out);
}

/* JSON: valid string body, within bound, lossy iff not UTF-8, as the
 * reference, and it decodes to the input with U+FFFD for bad bytes. */
static void
check_json(const unsigned char *s, size_t n)
{
	char *out = fuzz_alloc(ESCAPE_JSON_MAX(n));
	char *again = fuzz_alloc(ESCAPE_JSON_MAX(n));
	char *ref = fuzz_alloc(ESCAPE_JSON_MAX(n));
	bool lossy = false, sticky = true, ref_lossy = false;
	size_t len = escape_json(out, s, n, &lossy);

	FUZZ_CHECK(len <= ESCAPE_JSON_MAX(n));
	FUZZ_CHECK(!fuzz_has_control(out, len));
	FUZZ_CHECK(fuzz_utf8_valid(out, len));
	FUZZ_CHECK(lossy == !fuzz_utf8_valid(s, n));
	FUZZ_CHECK(ref_json(ref, s, n, &ref_lossy) == len);
	FUZZ_CHECK(memcmp(out, ref, len) == 0);
	FUZZ_CHECK(lossy == ref_lossy);

	/* lossy is only ever set, and does not change the output. */
	FUZZ_CHECK(escape_json(again, s, n, &sticky) == len);
	FUZZ_CHECK(sticky);
	FUZZ_CHECK(memcmp(again, out, len) == 0);

	char *esc = fuzz_dup(out, len);
	char *dec = fuzz_alloc(len);
	char *want = fuzz_alloc(3 * n);
	size_t dlen = fuzz_json_unescape(dec, esc, len);
	size_t wlen = fuzz_replace_invalid(want, s, n);
	FUZZ_CHECK(dlen != (size_t)-1);
	FUZZ_CHECK(dlen == wlen);
	FUZZ_CHECK(memcmp(dec, want, wlen) == 0);
	if (!lossy)
		FUZZ_CHECK(dlen == n && memcmp(dec, s, n) == 0);

	free(want);
	free(dec);
	free(esc);
	free(ref);
	free(again);
	free(out);
}

/* unescape_text on arbitrary bytes: bounded, and what decodes re-escapes
 * to something that decodes the same. */
static void
check_unescape(const unsigned char *s, size_t n)
{
	char *back = fuzz_alloc(n);
	size_t blen = unescape_text(back, (const char *)s, n);

	if (blen != (size_t)-1) {
		FUZZ_CHECK(blen <= n);
		char *out = fuzz_alloc(ESCAPE_TEXT_MAX(blen));
		size_t len = escape_text(out, back, blen);
		char *again = fuzz_alloc(len);
		FUZZ_CHECK(unescape_text(again, out, len) == blen);
		FUZZ_CHECK(memcmp(again, back, blen) == 0);
		free(again);
		free(out);
	}
	free(back);
}

/* One input: every property of both escapers and of unescape_text. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_utf8_len(data, size);
	check_text(data, size);
	check_json(data, size);
	check_unescape(data, size);
	return 0;
}
