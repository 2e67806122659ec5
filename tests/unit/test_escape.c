/* Unit tests of escape.c: the only path by which a peer's bytes reach a log
 * record, so every byte class and every UTF-8 edge is checked against
 * expectations computed here, independently of the implementation. */
#include <stdint.h>
#include <stdlib.h>

#include "escape.h"
#include "tap.h"

#define CANARY 0xa5
#define NCANARY 16
#define NRANDOM 3000
#define RANDOM_MAXLEN 96

/* Input and expected output given as string literals (NULs allowed). */
#define TEXT(in, exp, name)                                                    \
	check_text(in, sizeof(in) - 1, exp, sizeof(exp) - 1, name)
#define JSON(in, exp, lossy, name)                                             \
	check_json(in, sizeof(in) - 1, exp, sizeof(exp) - 1, lossy, name)

/* Decode the UTF-8 sequence of 2-4 bytes at p the slow, obvious way; returns
 * its length and code point, or 0 when it is not valid UTF-8. */
static size_t
ref_utf8_decode(const unsigned char *p, size_t n, uint32_t *cp)
{
	size_t len, i;
	uint32_t c, min;

	if (n == 0)
		return 0;
	if (p[0] >= 0xc0 && p[0] <= 0xdf) {
		len = 2;
		c = p[0] & 0x1f;
		min = 0x80;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		len = 3;
		c = p[0] & 0x0f;
		min = 0x800;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf7) {
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
		c = (c << 6) | (p[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return len;
}

/* The text escaping of the contract, written independently of escape.c. */
static size_t
ref_escape_text(char *dst, const unsigned char *src, size_t n)
{
	size_t i = 0, o = 0, len;
	uint32_t cp = 0;

	while (i < n) {
		unsigned char b = src[i];

		if (b == '\\') {
			o += (size_t)sprintf(dst + o, "\\\\");
		} else if (b == '\t') {
			o += (size_t)sprintf(dst + o, "\\t");
		} else if (b == '\r') {
			o += (size_t)sprintf(dst + o, "\\r");
		} else if (b == '\n') {
			o += (size_t)sprintf(dst + o, "\\n");
		} else if (b >= 0x20 && b <= 0x7e) {
			dst[o++] = (char)b;
		} else if (b >= 0x80 &&
		           (len = ref_utf8_decode(src + i, n - i, &cp)) != 0 &&
		           !(cp >= 0x80 && cp <= 0x9f)) {
			memcpy(dst + o, src + i, len);
			o += len;
			i += len;
			continue;
		} else {
			o += (size_t)sprintf(dst + o, "\\x%02x", b);
		}
		i++;
	}
	return o;
}

/* The JSON string escaping of the contract, written independently. */
static size_t
ref_escape_json(char *dst, const unsigned char *src, size_t n, bool *lossy)
{
	size_t i = 0, o = 0, len;
	uint32_t cp = 0;

	while (i < n) {
		unsigned char b = src[i];

		if (b == '"' || b == '\\') {
			dst[o++] = '\\';
			dst[o++] = (char)b;
		} else if (b == '\n') {
			o += (size_t)sprintf(dst + o, "\\n");
		} else if (b == '\r') {
			o += (size_t)sprintf(dst + o, "\\r");
		} else if (b == '\t') {
			o += (size_t)sprintf(dst + o, "\\t");
		} else if (b == '\b') {
			o += (size_t)sprintf(dst + o, "\\b");
		} else if (b == '\f') {
			o += (size_t)sprintf(dst + o, "\\f");
		} else if (b < 0x20 || b == 0x7f) {
			o += (size_t)sprintf(dst + o, "\\u%04x", b);
		} else if (b < 0x80) {
			dst[o++] = (char)b;
		} else if ((len = ref_utf8_decode(src + i, n - i, &cp)) != 0) {
			if (cp <= 0x9f)
				o += (size_t)sprintf(
				    dst + o, "\\u%04x", (unsigned)cp);
			else {
				memcpy(dst + o, src + i, len);
				o += len;
			}
			i += len;
			continue;
		} else {
			memcpy(dst + o, "\xef\xbf\xbd", 3);
			o += 3;
			*lossy = true;
		}
		i++;
	}
	return o;
}

/* Fill a buffer of room + NCANARY bytes with the canary pattern. */
static char *
canary_alloc(size_t room)
{
	char *p = malloc(room + NCANARY);

	if (p == NULL)
		abort();
	memset(p, CANARY, room + NCANARY);
	return p;
}

/* Whether the NCANARY bytes after room are untouched. */
static bool
canary_intact(const char *p, size_t room)
{
	size_t i;

	for (i = 0; i < NCANARY; i++)
		if ((unsigned char)p[room + i] != CANARY)
			return false;
	return true;
}

/* Escape for text into a buffer of exactly ESCAPE_TEXT_MAX(n) bytes (plus a
 * canary) and compare with the expected text. */
static void
check_text(
    const char *in, size_t n, const char *exp, size_t explen, const char *name)
{
	char *dst = canary_alloc(ESCAPE_TEXT_MAX(n));
	size_t len = escape_text(dst, in, n);

	if (len > ESCAPE_TEXT_MAX(n) || !canary_intact(dst, ESCAPE_TEXT_MAX(n)))
		ok(false, "%s (wrote past ESCAPE_TEXT_MAX: %zu)", name, len);
	else
		is_mem(dst, len, exp, explen, "%s", name);
	free(dst);
}

/* Escape for JSON and compare both the text and the lossy flag. */
static void
check_json(const char *in, size_t n, const char *exp, size_t explen,
    bool exp_lossy, const char *name)
{
	char *dst = canary_alloc(ESCAPE_JSON_MAX(n));
	bool lossy = false;
	size_t len = escape_json(dst, in, n, &lossy);

	if (len > ESCAPE_JSON_MAX(n) || !canary_intact(dst, ESCAPE_JSON_MAX(n)))
		ok(false, "%s (wrote past ESCAPE_JSON_MAX: %zu)", name, len);
	else if (lossy != exp_lossy)
		ok(false, "%s (lossy is %s, expected %s)", name,
		    lossy ? "true" : "false", exp_lossy ? "true" : "false");
	else
		is_mem(dst, len, exp, explen, "%s", name);
	free(dst);
}

/* The expected text escaping of one byte standing alone. */
static size_t
single_text(unsigned b, char *out)
{
	switch (b) {
	case '\\':
		return (size_t)sprintf(out, "\\\\");
	case '\t':
		return (size_t)sprintf(out, "\\t");
	case '\r':
		return (size_t)sprintf(out, "\\r");
	case '\n':
		return (size_t)sprintf(out, "\\n");
	}
	if (b >= 0x20 && b <= 0x7e) {
		out[0] = (char)b;
		return 1;
	}
	return (size_t)sprintf(out, "\\x%02x", b);
}

/* The expected JSON escaping of one byte standing alone. */
static size_t
single_json(unsigned b, char *out, bool *lossy)
{
	*lossy = false;
	switch (b) {
	case '"':
		return (size_t)sprintf(out, "\\\"");
	case '\\':
		return (size_t)sprintf(out, "\\\\");
	case '\b':
		return (size_t)sprintf(out, "\\b");
	case '\f':
		return (size_t)sprintf(out, "\\f");
	case '\n':
		return (size_t)sprintf(out, "\\n");
	case '\r':
		return (size_t)sprintf(out, "\\r");
	case '\t':
		return (size_t)sprintf(out, "\\t");
	}
	if (b < 0x20 || b == 0x7f)
		return (size_t)sprintf(out, "\\u00%02x", b);
	if (b < 0x80) {
		out[0] = (char)b;
		return 1;
	}
	*lossy = true;
	return (size_t)sprintf(out, "\xef\xbf\xbd");
}

/* Byte classes of the contract, for one check per class over all 256. */
enum byte_class {
	BC_PRINTABLE,
	BC_BACKSLASH,
	BC_TAB_CR_LF,
	BC_OTHER_C0,
	BC_DEL,
	BC_CONTINUATION,
	BC_HIGH,
	BC_COUNT
};

/* Which class a byte belongs to. */
static enum byte_class
byte_class_of(unsigned b)
{
	if (b == '\\')
		return BC_BACKSLASH;
	if (b == '\t' || b == '\r' || b == '\n')
		return BC_TAB_CR_LF;
	if (b < 0x20)
		return BC_OTHER_C0;
	if (b < 0x7f)
		return BC_PRINTABLE;
	if (b == 0x7f)
		return BC_DEL;
	if (b < 0xc0)
		return BC_CONTINUATION;
	return BC_HIGH;
}

/* Every one of the 256 bytes alone, for text and JSON, class by class. */
static void
test_every_single_byte(void)
{
	static const char *const text_names[BC_COUNT] = {
	    "text: printable ASCII other than backslash is kept as is",
	    "text: a backslash is written as two backslashes",
	    "text: TAB, CR and LF are written as \\t, \\r, \\n",
	    "text: every other C0 control is written as \\xHH (lower-case)",
	    "text: DEL is written as \\x7f",
	    "text: a lone byte 0x80-0xbf is written as \\xHH",
	    "text: a lone byte 0xc0-0xff is written as \\xHH",
	};
	static const char *const json_names[BC_COUNT] = {
	    "json: printable ASCII is kept, except the quote (as \\\")",
	    "json: a backslash is written as two backslashes",
	    "json: TAB, CR and LF are written as \\t, \\r, \\n",
	    "json: other C0 controls are \\b, \\f or \\u00xx (lower-case)",
	    "json: DEL is written as \\u007f",
	    "json: a lone byte 0x80-0xbf becomes U+FFFD and sets lossy",
	    "json: a lone byte 0xc0-0xff becomes U+FFFD and sets lossy",
	};
	int c;
	unsigned b;

	for (c = 0; c < BC_COUNT; c++) {
		bool text_pass = true, json_pass = true;

		for (b = 0; b < 256; b++) {
			unsigned char in = (unsigned char)b;
			char exp[8], got[ESCAPE_JSON_MAX(1) + 1];
			size_t explen, len;
			bool exp_lossy, lossy = false;

			if (byte_class_of(b) != (enum byte_class)c)
				continue;
			explen = single_text(b, exp);
			len = escape_text(got, &in, 1);
			if (len > ESCAPE_TEXT_MAX(1) ||
			    !tap_same_mem(got, len, exp, explen)) {
				if (text_pass)
					diag("text: byte 0x%02x", b);
				text_pass = false;
				tap_diag_mem(got, len, exp, explen);
			}
			explen = single_json(b, exp, &exp_lossy);
			len = escape_json(got, &in, 1, &lossy);
			if (len > ESCAPE_JSON_MAX(1) ||
			    !tap_same_mem(got, len, exp, explen) ||
			    lossy != exp_lossy) {
				if (json_pass)
					diag("json: byte 0x%02x lossy %d", b,
					    lossy);
				json_pass = false;
				tap_diag_mem(got, len, exp, explen);
			}
		}
		ok(text_pass, "%s", text_names[c]);
		ok(json_pass, "%s", json_names[c]);
	}
}

/* Text escaping of multi-byte UTF-8, valid and not. */
static void
test_text_utf8(void)
{
	TEXT("\xc3\xa9", "\xc3\xa9",
	    "text: valid 2-byte UTF-8 (U+00E9) is kept");
	TEXT("\xc2\xa0", "\xc2\xa0",
	    "text: U+00A0, the first code point after C1, is kept");
	TEXT("\xdf\xbf", "\xdf\xbf",
	    "text: U+07FF, the largest 2-byte, is kept");
	TEXT("\xe2\x82\xac", "\xe2\x82\xac",
	    "text: valid 3-byte UTF-8 (U+20AC) is kept");
	TEXT("\xe0\xa0\x80", "\xe0\xa0\x80",
	    "text: U+0800, the smallest 3-byte code point, is kept");
	TEXT("\xed\x9f\xbf", "\xed\x9f\xbf",
	    "text: U+D7FF, just below the surrogates, is kept");
	TEXT("\xee\x80\x80", "\xee\x80\x80",
	    "text: U+E000, just above the surrogates, is kept");
	TEXT("\xef\xbf\xbf", "\xef\xbf\xbf", "text: U+FFFF is kept");
	TEXT("\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80",
	    "text: valid 4-byte UTF-8 (U+1F600) is kept");
	TEXT("\xf0\x90\x80\x80", "\xf0\x90\x80\x80",
	    "text: U+10000, the smallest 4-byte code point, is kept");
	TEXT("\xf4\x8f\xbf\xbf", "\xf4\x8f\xbf\xbf",
	    "text: U+10FFFF, the largest code point, is kept");
	TEXT("caf\xc3\xa9 \xe2\x82\xac"
	     "5",
	    "caf\xc3\xa9 \xe2\x82\xac"
	    "5",
	    "text: UTF-8 mixed with ASCII is kept");
	TEXT("\xc2\x80", "\\xc2\\x80",
	    "text: C1 control U+0080 is escaped byte by byte");
	TEXT("\xc2\x9b", "\\xc2\\x9b",
	    "text: C1 CSI U+009B is escaped byte by byte");
	TEXT("\xc2\x9f", "\\xc2\\x9f",
	    "text: C1 control U+009F is escaped byte by byte");
	TEXT("\xc0\x80", "\\xc0\\x80",
	    "text: overlong 2-byte NUL (c0 80) is escaped byte by byte");
	TEXT("\xc1\xbf", "\\xc1\\xbf",
	    "text: overlong 2-byte (c1 bf) is escaped byte by byte");
	TEXT("\xe0\x80\x80", "\\xe0\\x80\\x80",
	    "text: overlong 3-byte (e0 80 80) is escaped byte by byte");
	TEXT("\xe0\x9f\xbf", "\\xe0\\x9f\\xbf",
	    "text: overlong 3-byte (e0 9f bf) is escaped byte by byte");
	TEXT("\xf0\x80\x80\x80", "\\xf0\\x80\\x80\\x80",
	    "text: overlong 4-byte (f0 80 80 80) is escaped byte by byte");
	TEXT("\xf0\x8f\xbf\xbf", "\\xf0\\x8f\\xbf\\xbf",
	    "text: overlong 4-byte (f0 8f bf bf) is escaped byte by byte");
	TEXT("\xed\xa0\x80", "\\xed\\xa0\\x80",
	    "text: surrogate U+D800 (ed a0 80) is escaped byte by byte");
	TEXT("\xed\xbf\xbf", "\\xed\\xbf\\xbf",
	    "text: surrogate U+DFFF (ed bf bf) is escaped byte by byte");
	TEXT("\xf4\x90\x80\x80", "\\xf4\\x90\\x80\\x80",
	    "text: above U+10FFFF (f4 90 80 80) is escaped byte by byte");
	TEXT("\xf5\x80\x80\x80", "\\xf5\\x80\\x80\\x80",
	    "text: lead byte f5 is escaped byte by byte");
	TEXT("\xf8\x88\x80\x80\x80", "\\xf8\\x88\\x80\\x80\\x80",
	    "text: a 5-byte form is escaped byte by byte");
	TEXT("a\xc3", "a\\xc3",
	    "text: a 2-byte sequence truncated by the end is escaped");
	TEXT("a\xe2\x82", "a\\xe2\\x82",
	    "text: a 3-byte sequence truncated by the end is escaped");
	TEXT("a\xf0\x9f\x98", "a\\xf0\\x9f\\x98",
	    "text: a 4-byte sequence truncated by the end is escaped");
	TEXT("\xc3("
	     "x",
	    "\\xc3(x", "text: a lead byte before ASCII is escaped, ASCII kept");
	TEXT("\xe2\x82("
	     "x",
	    "\\xe2\\x82(x",
	    "text: a 3-byte sequence broken by ASCII is escaped, ASCII kept");
	TEXT("\xe2\xe2\x82\xac", "\\xe2\xe2\x82\xac",
	    "text: an invalid lead byte does not swallow the valid sequence "
	    "after it");
	TEXT("\xc3\xa9\xa9", "\xc3\xa9\\xa9",
	    "text: a stray continuation byte after a valid sequence is "
	    "escaped");
	TEXT("\xff\xfe", "\\xff\\xfe", "text: bytes ff fe are escaped");
}

/* Text escaping of ASCII strings and the limits of the input. */
static void
test_text_ascii(void)
{
	char dst[16];

	TEXT("", "", "text: empty input writes nothing");
	TEXT("hello world", "hello world", "text: plain ASCII is kept");
	TEXT("a\0b", "a\\x00b", "text: a NUL inside a message is escaped");
	TEXT("\x1b[31mred", "\\x1b[31mred",
	    "text: a terminal escape sequence is defused (ESC as \\x1b)");
	TEXT("C:\\dir\\x41", "C:\\\\dir\\\\x41",
	    "text: backslashes are doubled so that a literal \\x41 stays "
	    "literal");
	TEXT("GET /\r\n\tx", "GET /\\r\\n\\tx",
	    "text: CR LF TAB inside a message are written as escapes");
	TEXT("\"quote\"", "\"quote\"", "text: quotes are kept as is");
	is_mem(dst, escape_text(dst, "\xe2\x82\xac", 2), "\\xe2\\x82", 8,
	    "text: a sequence cut by n is escaped (nothing read past n)");
}

/* Output size bounds: the worst cases fill the buffer exactly. */
static void
test_text_bound(void)
{
	static const unsigned char worst[] = {0x00, 0x7f, 0xff, 0x80, 0x1b};
	size_t i, n = 64;

	for (i = 0; i < sizeof(worst); i++) {
		char *in = malloc(n), *dst = canary_alloc(ESCAPE_TEXT_MAX(n));
		size_t len;

		memset(in, worst[i], n);
		len = escape_text(dst, in, n);
		ok(len == ESCAPE_TEXT_MAX(n) &&
		        canary_intact(dst, ESCAPE_TEXT_MAX(n)),
		    "text: %zu bytes 0x%02x fill ESCAPE_TEXT_MAX exactly and "
		    "no more",
		    n, worst[i]);
		free(in);
		free(dst);
	}
	{
		char *in = malloc(n), *dst = canary_alloc(ESCAPE_TEXT_MAX(n));
		size_t len;

		for (i = 0; i < n; i += 2)
			memcpy(in + i, "\xc2\x9b", 2);
		len = escape_text(dst, in, n);
		ok(len == ESCAPE_TEXT_MAX(n) &&
		        canary_intact(dst, ESCAPE_TEXT_MAX(n)),
		    "text: C1 controls fill ESCAPE_TEXT_MAX exactly and no "
		    "more");
		free(in);
		free(dst);
	}
}

/* JSON escaping of the cases the decisions name. */
static void
test_json_cases(void)
{
	bool lossy;
	char dst[64];

	JSON("", "", false, "json: empty input writes nothing");
	JSON("say \"hi\"", "say \\\"hi\\\"", false,
	    "json: quotes are escaped as \\\"");
	JSON("a\\b", "a\\\\b", false, "json: a backslash is doubled");
	JSON("a/b", "a/b", false, "json: a slash is kept as is");
	JSON("\n\r\t\b\f", "\\n\\r\\t\\b\\f", false,
	    "json: LF CR TAB BS FF use the short escapes");
	JSON("\x00\x01\x0b\x1b\x1f", "\\u0000\\u0001\\u000b\\u001b\\u001f",
	    false, "json: other controls are \\u00xx with lower-case hex");
	JSON("\x7f", "\\u007f", false, "json: DEL is \\u007f");
	JSON("\xc2\x80", "\\u0080", false,
	    "json: C1 control U+0080 is one \\u0080 escape");
	JSON("\xc2\x9b", "\\u009b", false,
	    "json: C1 CSI U+009B is one \\u009b escape");
	JSON("\xc2\x9f", "\\u009f", false,
	    "json: C1 control U+009F is one \\u009f escape");
	JSON("\xc2\xa0", "\xc2\xa0", false,
	    "json: U+00A0 after the C1 range is kept");
	JSON("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
	    "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", false,
	    "json: valid 2-, 3- and 4-byte UTF-8 is kept, lossy stays false");
	JSON("\xf4\x8f\xbf\xbf", "\xf4\x8f\xbf\xbf", false,
	    "json: U+10FFFF is kept");
	JSON("a\xff"
	     "b",
	    "a\xef\xbf\xbd"
	    "b",
	    true, "json: an invalid byte becomes U+FFFD and sets lossy");
	JSON("\xc0\x80", "\xef\xbf\xbd\xef\xbf\xbd", true,
	    "json: overlong c0 80 becomes two U+FFFD");
	JSON("\xe0\x80\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", true,
	    "json: overlong e0 80 80 becomes three U+FFFD");
	JSON("\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", true,
	    "json: surrogate ed a0 80 becomes three U+FFFD");
	JSON("\xf4\x90\x80\x80",
	    "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", true,
	    "json: above U+10FFFF (f4 90 80 80) becomes four U+FFFD");
	JSON("x\xe2\x82", "x\xef\xbf\xbd\xef\xbf\xbd", true,
	    "json: a sequence truncated by the end is one U+FFFD per byte");
	JSON("\xe2\xe2\x82\xac", "\xef\xbf\xbd\xe2\x82\xac", true,
	    "json: an invalid lead byte does not swallow the valid sequence "
	    "after it");

	lossy = true;
	escape_json(dst, "plain", 5, &lossy);
	ok(lossy, "json: lossy is never cleared by valid input");
	lossy = false;
	escape_json(dst, "\xc2\x9b\x01", 3, &lossy);
	ok(!lossy, "json: escaped controls alone do not set lossy");
}

/* The JSON worst case fills ESCAPE_JSON_MAX exactly. */
static void
test_json_bound(void)
{
	static const unsigned char worst[] = {0x00, 0x01, 0x1f, 0x7f};
	size_t i, n = 64;

	for (i = 0; i < sizeof(worst); i++) {
		char *in = malloc(n), *dst = canary_alloc(ESCAPE_JSON_MAX(n));
		bool lossy = false;
		size_t len;

		memset(in, worst[i], n);
		len = escape_json(dst, in, n, &lossy);
		ok(len == ESCAPE_JSON_MAX(n) &&
		        canary_intact(dst, ESCAPE_JSON_MAX(n)),
		    "json: %zu bytes 0x%02x fill ESCAPE_JSON_MAX exactly and "
		    "no more",
		    n, worst[i]);
		free(in);
		free(dst);
	}
}

/* A case for escape_utf8_len. */
struct utf8_case {
	const char *bytes;
	size_t n;
	size_t exp;
	const char *name;
};

/* escape_utf8_len on valid and invalid sequences. */
static void
test_utf8_len(void)
{
	static const struct utf8_case cases[] = {
	    {"\xc3\xa9", 2, 2, "2-byte U+00E9 has length 2"},
	    {"\xc2\x80", 2, 2, "C1 U+0080 is valid UTF-8 of length 2"},
	    {"\xdf\xbf", 2, 2, "U+07FF has length 2"},
	    {"\xe0\xa0\x80", 3, 3, "U+0800 has length 3"},
	    {"\xe2\x82\xac", 3, 3, "U+20AC has length 3"},
	    {"\xed\x9f\xbf", 3, 3, "U+D7FF has length 3"},
	    {"\xee\x80\x80", 3, 3, "U+E000 has length 3"},
	    {"\xef\xbf\xbf", 3, 3, "U+FFFF has length 3"},
	    {"\xf0\x90\x80\x80", 4, 4, "U+10000 has length 4"},
	    {"\xf4\x8f\xbf\xbf", 4, 4, "U+10FFFF has length 4"},
	    {"\xc3\xa9zz", 4, 2, "bytes after a sequence are not counted"},
	    {"", 0, 0, "no bytes is not a sequence"},
	    {"A", 1, 0, "an ASCII byte does not start a multi-byte sequence"},
	    {"\x80\x80", 2, 0, "a continuation byte does not start one"},
	    {"\xc0\x80", 2, 0, "overlong c0 80 is invalid"},
	    {"\xc1\xbf", 2, 0, "overlong c1 bf is invalid"},
	    {"\xe0\x9f\xbf", 3, 0, "overlong e0 9f bf is invalid"},
	    {"\xf0\x8f\xbf\xbf", 4, 0, "overlong f0 8f bf bf is invalid"},
	    {"\xed\xa0\x80", 3, 0, "surrogate U+D800 is invalid"},
	    {"\xed\xbf\xbf", 3, 0, "surrogate U+DFFF is invalid"},
	    {"\xf4\x90\x80\x80", 4, 0, "U+110000 is invalid"},
	    {"\xf5\x80\x80\x80", 4, 0, "lead byte f5 is invalid"},
	    {"\xff\x80\x80\x80", 4, 0, "byte ff is invalid"},
	    {"\xc3(", 2, 0, "a lead byte before ASCII is invalid"},
	    {"\xe2\x28\xa1", 3, 0, "a bad second byte is invalid"},
	    {"\xe2\x82\x28", 3, 0, "a bad third byte is invalid"},
	    {"\xf0\x9f\x98\x28", 4, 0, "a bad fourth byte is invalid"},
	    {"\xc3\xa9", 1, 0, "a 2-byte sequence cut by n is invalid"},
	    {"\xe2\x82\xac", 2, 0, "a 3-byte sequence cut by n is invalid"},
	    {"\xf0\x9f\x98\x80", 3, 0, "a 4-byte sequence cut by n is invalid"},
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		is_size(escape_utf8_len(
		            (const unsigned char *)cases[i].bytes, cases[i].n),
		    cases[i].exp, "utf8_len: %s", cases[i].name);
}

/* A case for unescape_text. */
struct unescape_case {
	const char *src;
	const char *exp; /* NULL: rejected */
	size_t explen;
	const char *name;
};

/* unescape_text decodes what escape_text writes and rejects the rest. */
static void
test_unescape(void)
{
	static const struct unescape_case cases[] = {
	    {"", "", 0, "empty input decodes to nothing"},
	    {"abc", "abc", 3, "plain text decodes to itself"},
	    {"a\\\\b", "a\\b", 3, "\\\\ decodes to one backslash"},
	    {"\\t\\r\\n", "\t\r\n", 3, "\\t \\r \\n decode to TAB CR LF"},
	    {"\\x00", "\0", 1, "\\x00 decodes to a NUL byte"},
	    {"\\xff\\x7f", "\xff\x7f", 2, "\\xff \\x7f decode to their bytes"},
	    {"\xc3\xa9", "\xc3\xa9", 2, "raw UTF-8 decodes to itself"},
	    {"\\q", NULL, 0, "unknown escape \\q is rejected"},
	    {"\\x1", NULL, 0, "\\x with one hex digit is rejected"},
	    {"\\x", NULL, 0, "\\x with no hex digit is rejected"},
	    {"\\xg0", NULL, 0, "\\x with a non-hex digit is rejected"},
	    {"\\x4g", NULL, 0, "\\x with a non-hex second digit is rejected"},
	    {"\\", NULL, 0, "a lone backslash is rejected"},
	    {"abc\\", NULL, 0, "a trailing backslash is rejected"},
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct unescape_case *c = &cases[i];
		char dst[16];
		size_t len = unescape_text(dst, c->src, strlen(c->src));

		if (c->exp == NULL)
			is_size(len, (size_t)-1, "unescape: %s", c->name);
		else if (len == (size_t)-1)
			ok(false, "unescape: %s (rejected)", c->name);
		else
			is_mem(dst, len, c->exp, c->explen, "unescape: %s",
			    c->name);
	}
}

/* unescape_text and escape_utf8_len read only the n bytes they are given:
 * the inputs sit at the very end of heap blocks, so that a sanitizer build
 * catches a read past them, and bytes that would change the answer follow
 * them in the plain checks. */
static void
test_length_respected(void)
{
	char dst[8];
	unsigned char *end = malloc(1);

	is_size(unescape_text(dst, "\\x41", 3), (size_t)-1,
	    "unescape: \\x4 cut by n is rejected, even with a digit after n");
	is_size(unescape_text(dst, "\\x41", 2), (size_t)-1,
	    "unescape: \\x cut by n is rejected, even with digits after n");
	is_size(unescape_text(dst, "\\\\", 1), (size_t)-1,
	    "unescape: a backslash cut by n is rejected");
	is_size(escape_utf8_len(end + 1, 0), 0,
	    "utf8_len: with n 0 nothing is read (end of a heap block)");
	end[0] = 0xc3;
	is_size(escape_utf8_len(end, 1), 0,
	    "utf8_len: a lead byte at the end of a heap block is invalid");
	free(end);
}

/* Append the UTF-8 encoding of cp (no validity checks: may make invalid). */
static size_t
put_utf8(unsigned char *p, uint32_t cp)
{
	if (cp < 0x800) {
		p[0] = (unsigned char)(0xc0 | (cp >> 6));
		p[1] = (unsigned char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		p[0] = (unsigned char)(0xe0 | (cp >> 12));
		p[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		p[2] = (unsigned char)(0x80 | (cp & 0x3f));
		return 3;
	}
	p[0] = (unsigned char)(0xf0 | (cp >> 18));
	p[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
	p[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
	p[3] = (unsigned char)(0x80 | (cp & 0x3f));
	return 4;
}

/* A random buffer rich in the interesting cases: specials, valid and
 * invalid UTF-8, C1 controls, truncated sequences. */
static size_t
random_buffer(unsigned char *buf, size_t max, unsigned long long *rs)
{
	static const char specials[] = "\\\t\r\n\"\b\f\x1b\x7f";
	static const char *const invalid[] = {"\xc0\x80", "\xe0\x80\x80",
	    "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xf8\x88\x80\x80\x80", "\xc3",
	    "\xe2\x82", "\xf0\x9f\x98"};
	size_t target = (size_t)(tap_rand(rs) % (max - 4)), n = 0;

	while (n < target) {
		uint32_t cp;

		switch (tap_rand(rs) % 9) {
		case 0:
			buf[n++] = (unsigned char)tap_rand(rs);
			break;
		case 1:
		case 2:
			buf[n++] = (unsigned char)(0x20 + tap_rand(rs) % 95);
			break;
		case 3:
			buf[n++] = (unsigned char)
			    specials[tap_rand(rs) % (sizeof(specials) - 1)];
			break;
		case 4:
			buf[n++] = (unsigned char)(tap_rand(rs) % 0x20);
			break;
		case 5:
			cp = (uint32_t)(0x80 + tap_rand(rs) % 0x10ff80);
			if (cp >= 0xd800 && cp <= 0xdfff)
				cp = 0xfffd;
			n += put_utf8(buf + n, cp);
			break;
		case 6:
			n += put_utf8(
			    buf + n, (uint32_t)(0x80 + tap_rand(rs) % 0x30));
			break;
		case 7: {
			const char *s =
			    invalid[tap_rand(rs) %
			            (sizeof(invalid) / sizeof(invalid[0]))];
			size_t l = strlen(s);

			if (n + l > max)
				l = max - n;
			memcpy(buf + n, s, l);
			n += l;
			break;
		}
		default:
			buf[n++] = (unsigned char)(0x80 + tap_rand(rs) % 0x80);
			break;
		}
	}
	return n;
}

/* Whether bytes hold no C0 control and no DEL. */
static bool
no_control_bytes(const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if ((unsigned char)p[i] < 0x20 || (unsigned char)p[i] == 0x7f)
			return false;
	return true;
}

/* Whether bytes are valid UTF-8 with no C1 control. */
static bool
valid_utf8_no_c1(const char *p, size_t n)
{
	const unsigned char *b = (const unsigned char *)p;
	size_t i = 0, len;
	uint32_t cp = 0;

	while (i < n) {
		if (b[i] < 0x80) {
			i++;
			continue;
		}
		len = ref_utf8_decode(b + i, n - i, &cp);
		if (len == 0 || cp <= 0x9f)
			return false;
		i += len;
	}
	return true;
}

/* Results of the random property checks, one flag per property. */
struct random_results {
	bool text_ref, text_bound, text_no_ctl, text_utf8, roundtrip;
	bool json_ref, json_bound, json_no_ctl, json_utf8, json_lossy;
};

/* Show the random input of the first failure of a property. */
static void
random_fail(bool *flag, const unsigned char *in, size_t n, const char *what)
{
	if (*flag) {
		diag("%s fails on input:", what);
		tap_diag_mem(in, n, "", 0);
	}
	*flag = false;
}

/* One random buffer through both escapers and back. */
static void
random_one(struct random_results *r, const unsigned char *in, size_t n)
{
	char *dst = canary_alloc(ESCAPE_JSON_MAX(n));
	char ref[ESCAPE_JSON_MAX(RANDOM_MAXLEN)];
	char back[ESCAPE_TEXT_MAX(RANDOM_MAXLEN)];
	size_t len, reflen;
	bool lossy = false, reflossy = false;

	len = escape_text(dst, in, n);
	if (len > ESCAPE_TEXT_MAX(n) || !canary_intact(dst, ESCAPE_TEXT_MAX(n)))
		random_fail(&r->text_bound, in, n, "text bound");
	reflen = ref_escape_text(ref, in, n);
	if (!tap_same_mem(dst, len, ref, reflen))
		random_fail(&r->text_ref, in, n, "text reference");
	if (!no_control_bytes(dst, len))
		random_fail(&r->text_no_ctl, in, n, "text control bytes");
	if (!valid_utf8_no_c1(dst, len))
		random_fail(&r->text_utf8, in, n, "text UTF-8");
	if (len <= ESCAPE_TEXT_MAX(n)) {
		size_t blen = unescape_text(back, dst, len);

		if (!tap_same_mem(back, blen, in, n))
			random_fail(&r->roundtrip, in, n, "round trip");
	}

	memset(dst, CANARY, ESCAPE_JSON_MAX(n) + NCANARY);
	len = escape_json(dst, in, n, &lossy);
	if (len > ESCAPE_JSON_MAX(n) || !canary_intact(dst, ESCAPE_JSON_MAX(n)))
		random_fail(&r->json_bound, in, n, "json bound");
	reflen = ref_escape_json(ref, in, n, &reflossy);
	if (!tap_same_mem(dst, len, ref, reflen))
		random_fail(&r->json_ref, in, n, "json reference");
	if (lossy != reflossy)
		random_fail(&r->json_lossy, in, n, "json lossy");
	if (!no_control_bytes(dst, len))
		random_fail(&r->json_no_ctl, in, n, "json control bytes");
	if (!valid_utf8_no_c1(dst, len))
		random_fail(&r->json_utf8, in, n, "json UTF-8");
	free(dst);
}

/* Random buffers (fixed seed) against the reference and the properties. */
static void
test_random(void)
{
	struct random_results r = {
	    true, true, true, true, true, true, true, true, true, true};
	unsigned long long rs = 0x9e3779b97f4a7c15ULL;
	unsigned char in[RANDOM_MAXLEN];
	int i;

	for (i = 0; i < NRANDOM; i++)
		random_one(&r, in, random_buffer(in, sizeof(in), &rs));
	ok(r.text_ref, "random: escape_text matches the reference escaper");
	ok(r.text_bound, "random: escape_text stays within ESCAPE_TEXT_MAX");
	ok(r.text_no_ctl,
	    "random: escape_text output never has a byte < 0x20 or 0x7f");
	ok(r.text_utf8,
	    "random: escape_text output is valid UTF-8 without C1 controls");
	ok(r.roundtrip, "random: unescape_text(escape_text(x)) == x");
	ok(r.json_ref, "random: escape_json matches the reference escaper");
	ok(r.json_lossy, "random: escape_json sets lossy exactly for invalid "
	                 "UTF-8");
	ok(r.json_bound, "random: escape_json stays within ESCAPE_JSON_MAX");
	ok(r.json_no_ctl,
	    "random: escape_json output never has a byte < 0x20 or 0x7f");
	ok(r.json_utf8,
	    "random: escape_json output is valid UTF-8 without C1 controls");
}

/*
 * escape_text_line escapes exactly what escape_text does for the bytes
 * before the first LF, says where that LF is, and writes within
 * ESCAPE_TEXT_MAX of the bytes it was given (its stores run ahead of the
 * output in blocks: the canary after that room must survive).
 */
static void
test_text_line(void)
{
	unsigned long long rs = 7;
	int wrong = 0, overrun = 0, used_wrong = 0;
	const char *lf_cases[] = {"", "\n", "abc\n", "a\\b\r\n", "\x01\n\n",
	    "0123456789abcdef0123456789abcdef\nrest"};

	for (size_t c = 0; c < sizeof(lf_cases) / sizeof(lf_cases[0]); c++) {
		const char *s = lf_cases[c];
		size_t n = strlen(s), used = 99;
		char got[256], want[256];
		size_t gl = escape_text_line(got, s, n, &used);
		const char *lf = memchr(s, '\n', n);
		size_t upto = lf ? (size_t)(lf - s) : n;
		size_t wl = escape_text(want, s, upto);
		ok(used == upto && gl == wl && memcmp(got, want, wl) == 0,
		    "escape_text_line case %zu: %zu bytes before the LF", c,
		    upto);
	}
	for (int i = 0; i < 20000; i++) {
		unsigned char in[200];
		size_t n = tap_rand(&rs) % sizeof(in);
		for (size_t j = 0; j < n; j++) {
			unsigned long long r = tap_rand(&rs);
			/* Mostly plain, some LF, CR, '\\', UTF-8 and junk. */
			in[j] = r % 16        ? (unsigned char)(0x20 + r % 95)
			        : r % 64 < 16 ? '\n'
			                      : (unsigned char)(r >> 8);
		}
		const unsigned char *lf = memchr(in, '\n', n);
		size_t upto = lf ? (size_t)(lf - in) : n, used = 0;
		char *got = malloc(ESCAPE_TEXT_MAX(n) + 16);
		char *want = malloc(ESCAPE_TEXT_MAX(n) + 1);
		memset(got + ESCAPE_TEXT_MAX(n), 0x5a, 16);
		size_t gl = escape_text_line(got, in, n, &used);
		size_t wl = escape_text(want, in, upto);
		if (gl != wl || memcmp(got, want, wl) != 0)
			wrong++;
		if (used != upto)
			used_wrong++;
		for (size_t j = 0; j < 16; j++)
			if ((unsigned char)got[ESCAPE_TEXT_MAX(n) + j] != 0x5a)
				overrun++;
		free(got);
		free(want);
	}
	ok(wrong == 0,
	    "random: escape_text_line equals escape_text up to the LF (%d "
	    "differ)",
	    wrong);
	ok(used_wrong == 0, "random: escape_text_line reports the LF offset");
	ok(overrun == 0, "random: escape_text_line writes within its room");
}

/* Run every escape test. */
int
main(void)
{
	test_every_single_byte();
	test_text_utf8();
	test_text_ascii();
	test_text_bound();
	test_json_cases();
	test_json_bound();
	test_utf8_len();
	test_unescape();
	test_random();
	test_length_respected();
	test_text_line();
	return done_testing();
}
