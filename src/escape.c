/* Escaping of peer bytes: text records and JSON strings. */
#include <stdint.h>
#include <string.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "escape.h"

static const char hex[] = "0123456789abcdef";

/*
 * Bytes that pass as they are in both formats: printable ASCII other than
 * '\' and '"'. Built once at compile time as a table so the fast path is one
 * load per byte. '"' is plain in text; escape_text checks it separately.
 */
/* clang-format off */
static const uint8_t plain[256] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
};
/* clang-format on */

#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

/* Nonzero when some byte of x is zero (exact as a truth value). */
static inline uint64_t
word_has_zero(uint64_t x)
{
	return (x - ONES) & ~x & HIGHS;
}

/*
 * Nonzero when some byte of the eight at x needs escaping: a control byte
 * (< 0x20), DEL, '\\', a byte >= 0x80 (maybe UTF-8: the slow path decides),
 * and with json '"'. Lets plain text go eight bytes at a time.
 */
static inline uint64_t
word_needs_escape(uint64_t x, bool json)
{
	uint64_t bad = x & HIGHS;

	bad |= (x - ONES * 0x20) & ~x & HIGHS; /* a byte below 0x20 */
	bad |= word_has_zero(x ^ (ONES * 0x5c));
	bad |= word_has_zero(x ^ (ONES * 0x7f));
	if (json)
		bad |= word_has_zero(x ^ (ONES * 0x22));
	return bad;
}

/*
 * Copy the run of bytes at s that pass unescaped to d and return its
 * length. d has room for n bytes (escaping never shrinks a byte), so whole
 * blocks are stored as they are tested: one pass over plain text. Bytes
 * stored past the run are overwritten by what the caller writes next, or
 * lie past the length it returns.
 */
static inline size_t
copy_plain(char *d, const unsigned char *s, size_t n, bool json)
{
	size_t i = 0;

#ifdef __SSE2__
	/* Sixteen at a time: a signed compare with 0x20 catches the control
	 * bytes and every byte >= 0x80 at once. */
	const __m128i space = _mm_set1_epi8(0x20);
	const __m128i del = _mm_set1_epi8(0x7f);
	const __m128i bslash = _mm_set1_epi8('\\');
	const __m128i quote = _mm_set1_epi8('"');
	while (i + 16 <= n) {
		__m128i x =
		    _mm_loadu_si128((const __m128i *)(const void *)(s + i));
		_mm_storeu_si128((__m128i *)(void *)(d + i), x);
		__m128i bad = _mm_or_si128(_mm_cmplt_epi8(x, space),
		    _mm_or_si128(
		        _mm_cmpeq_epi8(x, del), _mm_cmpeq_epi8(x, bslash)));
		if (json)
			bad = _mm_or_si128(bad, _mm_cmpeq_epi8(x, quote));
		unsigned m = (unsigned)_mm_movemask_epi8(bad);
		if (m != 0)
			return i + (size_t)__builtin_ctz(m);
		i += 16;
	}
#endif
	while (i + 8 <= n) {
		uint64_t x;
		memcpy(&x, s + i, 8);
		if (word_needs_escape(x, json))
			break;
		memcpy(d + i, &x, 8);
		i += 8;
	}
	while (i < n && (plain[s[i]] || (!json && s[i] == '"'))) {
		d[i] = (char)s[i];
		i++;
	}
	return i;
}

/* Length of the valid UTF-8 sequence at p, or 0 (see escape.h). */
size_t
escape_utf8_len(const unsigned char *p, size_t n)
{
	if (n == 0)
		return 0;

	unsigned c = p[0];
	if (c >= 0xc2 && c <= 0xdf) {
		if (n >= 2 && (p[1] & 0xc0) == 0x80)
			return 2;
	} else if (c >= 0xe0 && c <= 0xef) {
		/* E0 needs A0..BF (no overlong); ED needs 80..9F (no
		 * surrogates). */
		unsigned lo = c == 0xe0 ? 0xa0 : 0x80;
		unsigned hi = c == 0xed ? 0x9f : 0xbf;
		if (n >= 3 && p[1] >= lo && p[1] <= hi && (p[2] & 0xc0) == 0x80)
			return 3;
	} else if (c >= 0xf0 && c <= 0xf4) {
		/* F0 needs 90..BF (no overlong); F4 needs 80..8F (<= U+10FFFF).
		 */
		unsigned lo = c == 0xf0 ? 0x90 : 0x80;
		unsigned hi = c == 0xf4 ? 0x8f : 0xbf;
		if (n >= 4 && p[1] >= lo && p[1] <= hi &&
		    (p[2] & 0xc0) == 0x80 && (p[3] & 0xc0) == 0x80)
			return 4;
	}
	return 0;
}

/* Whether a valid sequence of length len at p encodes a C1 control. */
static int
is_c1(const unsigned char *p, size_t len)
{
	return len == 2 && p[0] == 0xc2 && p[1] < 0xa0;
}

/* Copy the plain run at s + *i to *d, moving both on; false when all n
 * input bytes are done. Both escapers start every step with it. */
static inline bool
escape_plain(char **d, const unsigned char *s, size_t *i, size_t n, bool json)
{
	size_t run = copy_plain(*d, s + *i, n - *i, json);

	*d += run;
	*i += run;
	return *i < n;
}

/*
 * Escape for text records (see escape.h); with line, stop at the first LF
 * and set *used to the bytes before it (n when there is none).
 */
static inline size_t
escape_text_upto(
    char *dst, const unsigned char *s, size_t n, bool line, size_t *used)
{
	char *d = dst;
	size_t i = 0;

	while (escape_plain(&d, s, &i, n, false)) {
		unsigned c = s[i];
		size_t len;
		switch (c) {
		case '\\':
			*d++ = '\\';
			*d++ = '\\';
			i++;
			continue;
		case '\t':
			*d++ = '\\';
			*d++ = 't';
			i++;
			continue;
		case '\r':
			*d++ = '\\';
			*d++ = 'r';
			i++;
			continue;
		case '\n':
			if (line) {
				*used = i;
				return (size_t)(d - dst);
			}
			*d++ = '\\';
			*d++ = 'n';
			i++;
			continue;
		}
		if (c >= 0x80 && (len = escape_utf8_len(s + i, n - i)) != 0 &&
		    !is_c1(s + i, len)) {
			memcpy(d, s + i, len);
			d += len;
			i += len;
			continue;
		}
		*d++ = '\\';
		*d++ = 'x';
		*d++ = hex[c >> 4];
		*d++ = hex[c & 15];
		i++;
	}
	*used = n;
	return (size_t)(d - dst);
}

/* Escape for text records (see escape.h). */
size_t
escape_text(char *dst, const void *src, size_t n)
{
	size_t used;

	return escape_text_upto(dst, src, n, false, &used);
}

/* Escape for text up to the first LF (see escape.h). */
size_t
escape_text_line(char *dst, const void *src, size_t n, size_t *used)
{
	return escape_text_upto(dst, src, n, true, used);
}

/* Escape as a JSON string body (see escape.h). */
size_t
escape_json(char *dst, const void *src, size_t n, bool *lossy)
{
	const unsigned char *s = src;
	char *d = dst;
	size_t i = 0;

	while (escape_plain(&d, s, &i, n, true)) {
		unsigned c = s[i];
		size_t len;
		const char *short_esc = NULL;
		switch (c) {
		case '"':
			short_esc = "\\\"";
			break;
		case '\\':
			short_esc = "\\\\";
			break;
		case '\n':
			short_esc = "\\n";
			break;
		case '\r':
			short_esc = "\\r";
			break;
		case '\t':
			short_esc = "\\t";
			break;
		case '\b':
			short_esc = "\\b";
			break;
		case '\f':
			short_esc = "\\f";
			break;
		}
		if (short_esc != NULL) {
			*d++ = short_esc[0];
			*d++ = short_esc[1];
			i++;
			continue;
		}
		if (c < 0x80) {
			/* Other C0 controls and DEL. */
			memcpy(d, "\\u00", 4);
			d[4] = hex[c >> 4];
			d[5] = hex[c & 15];
			d += 6;
			i++;
			continue;
		}
		len = escape_utf8_len(s + i, n - i);
		if (len == 0) {
			/* Not UTF-8: U+REPLACEMENT CHARACTER, one per byte. */
			memcpy(d, "\xef\xbf\xbd", 3);
			d += 3;
			*lossy = true;
			i++;
		} else if (is_c1(s + i, len)) {
			memcpy(d, "\\u00", 4);
			d[4] = hex[s[i + 1] >> 4];
			d[5] = hex[s[i + 1] & 15];
			d += 6;
			i += 2;
		} else {
			memcpy(d, s + i, len);
			d += len;
			i += len;
		}
	}
	return (size_t)(d - dst);
}

/* Value of one hex digit, or -1. */
static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Reverse escape_text (see escape.h). */
size_t
unescape_text(char *dst, const char *src, size_t n)
{
	size_t i = 0, o = 0;

	while (i < n) {
		if (src[i] != '\\') {
			dst[o++] = src[i++];
			continue;
		}
		if (i + 1 >= n)
			return (size_t)-1;
		switch (src[i + 1]) {
		case '\\':
			dst[o++] = '\\';
			break;
		case 't':
			dst[o++] = '\t';
			break;
		case 'r':
			dst[o++] = '\r';
			break;
		case 'n':
			dst[o++] = '\n';
			break;
		case 'x': {
			int hi, lo;
			if (i + 3 >= n || (hi = hexval(src[i + 2])) < 0 ||
			    (lo = hexval(src[i + 3])) < 0)
				return (size_t)-1;
			dst[o++] = (char)(hi << 4 | lo);
			i += 4;
			continue;
		}
		default:
			return (size_t)-1;
		}
		i += 2;
	}
	return o;
}

/* One word of text (see escape.h): escape_text for each run between
 * spaces, "\x20" for each space (no UTF-8 sequence holds a space byte). */
size_t
escape_word(char *dst, const void *src, size_t n)
{
	const char *p = src;
	size_t o = 0, i = 0;

	while (i < n) {
		const char *sp = memchr(p + i, ' ', n - i);
		size_t run = sp != NULL ? (size_t)(sp - (p + i)) : n - i;
		o += escape_text(dst + o, p + i, run);
		i += run;
		if (sp != NULL) {
			memcpy(dst + o, "\\x20", 4);
			o += 4;
			i++;
		}
	}
	dst[o] = '\0';
	return o;
}
