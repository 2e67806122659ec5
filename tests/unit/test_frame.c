/* Unit tests of frame.c: TCP line framing (LF, CRLF, overlong lines split
 * into continued pieces, never inside a valid UTF-8 character, tails at end
 * of stream) and UDP datagram trimming.
 * A simulated connection buffer checks that every way of cutting a stream
 * into reads gives the same messages as a reference splitter.
 * RFC 6587 octet counting (frame_octet) the same way: exact results of
 * single calls, then every cut of sample streams against a reference
 * parser of "LEN SP MSG" frames. */
#include <stdint.h>
#include <stdlib.h>

#include "frame.h"
#include "tap.h"

#define MAXMSGS 64
#define BUFSZ 256

static const char *const kind_names[] = {"NEED", "LINE", "PART", "ERROR"};

/* The name of a frame kind, for diagnostics. */
static const char *
kind_name(enum frame_kind k)
{
	if ((unsigned)k < sizeof(kind_names) / sizeof(kind_names[0]))
		return kind_names[k];
	return "?";
}

/* Check one frame result against the expected kind, len and used. */
static void
check_frame(struct frame f, enum frame_kind kind, size_t len, size_t used,
    const char *name)
{
	bool pass = f.kind == kind;

	if (kind != FRAME_NEED)
		pass = pass && f.len == len && f.used == used;
	ok(pass, "%s", name);
	if (!pass)
		diag("got %s len=%zu used=%zu expected %s len=%zu used=%zu",
		    kind_name(f.kind), f.len, f.used, kind_name(kind), len,
		    used);
}

/* Input given as a string literal (NULs allowed). */
#define NEXT(in, max, kind, len, used, name)                                   \
	check_frame(frame_next(in, sizeof(in) - 1, max), kind, len, used, name)
#define FINAL(in, max, kind, len, used, name)                                  \
	check_frame(frame_final(in, sizeof(in) - 1, max), kind, len, used, name)
#define DGRAM(in, exp, name)                                                   \
	is_size(frame_datagram(in, sizeof(in) - 1), exp, name)

/* Line endings and empty lines. */
static void
test_line_ends(void)
{
	NEXT("abc\n", 8, FRAME_LINE, 3, 4, "LF ends a line");
	NEXT("abc\r\n", 8, FRAME_LINE, 3, 5, "CR before LF is dropped");
	NEXT("a\rb\n", 8, FRAME_LINE, 3, 4, "a lone CR mid-line is kept");
	NEXT("a\r\r\n", 8, FRAME_LINE, 2, 4,
	    "only the one CR right before LF is dropped");
	NEXT("\n", 8, FRAME_LINE, 0, 1, "an empty LF line has len 0, used 1");
	NEXT("\r\n", 8, FRAME_LINE, 0, 2,
	    "an empty CRLF line has len 0, used 2");
	NEXT("\n\n", 8, FRAME_LINE, 0, 1,
	    "two empty lines: the first consumes one byte");
	NEXT("abc\ndef\n", 8, FRAME_LINE, 3, 4,
	    "only the first of two lines is returned");
	NEXT("a\r\nb\r\n", 8, FRAME_LINE, 1, 3,
	    "the first CRLF line consumes its CRLF only");
	NEXT("a\0b\n", 8, FRAME_LINE, 3, 4,
	    "a NUL byte is message data, not an end");
	NEXT("\rabc\n", 8, FRAME_LINE, 4, 5,
	    "a CR at the start of a line is kept");
}

/* Incomplete input waits for more bytes. */
static void
test_need(void)
{
	NEXT("", 8, FRAME_NEED, 0, 0, "no bytes: NEED");
	NEXT("abc", 8, FRAME_NEED, 0, 0, "no LF yet: NEED");
	NEXT("abc\r", 8, FRAME_NEED, 0, 0,
	    "a CR at the end waits for a possible LF: NEED");
	NEXT("a\rb", 8, FRAME_NEED, 0, 0, "a lone CR does not end a line");
}

/* Lines at and around max_line. */
static void
test_max_line(void)
{
	NEXT("abcd\n", 4, FRAME_LINE, 4, 5,
	    "a line of exactly max_line with LF is one LINE");
	NEXT("abcd\r\n", 4, FRAME_LINE, 4, 6,
	    "a line of exactly max_line with CRLF is one LINE");
	NEXT("abc\r\r\n", 4, FRAME_LINE, 4, 6,
	    "a line of max_line whose last byte is a kept CR is one LINE");
	NEXT("abcde\n", 4, FRAME_PART, 4, 4,
	    "a line of max_line+1 gives a PART of max_line");
	NEXT("abcde\r\n", 4, FRAME_PART, 4, 4,
	    "a CRLF line of max_line+1 gives a PART of max_line");
	NEXT("abcdefghijkl\n", 4, FRAME_PART, 4, 4,
	    "a line of three times max_line starts with a PART");
	NEXT("abcd", 4, FRAME_NEED, 0, 0,
	    "max_line bytes with no LF: NEED (the LF may come next)");
	NEXT("abcd\r", 4, FRAME_NEED, 0, 0,
	    "max_line bytes and a CR at position max_line: NEED");
	NEXT("abcde", 4, FRAME_PART, 4, 4,
	    "max_line+1 bytes with no LF: PART without waiting");
	NEXT("abcd\rx", 4, FRAME_PART, 4, 4,
	    "a CR at max_line followed by a byte other than LF: PART");
	NEXT("abcd\r\r", 4, FRAME_PART, 4, 4,
	    "a CR at max_line followed by another CR: PART");
	NEXT("abc\r\r", 4, FRAME_NEED, 0, 0,
	    "a kept CR within max_line then a CR at max_line: NEED");
	NEXT("a\n", 1, FRAME_LINE, 1, 2,
	    "max_line 1: a one-byte line is a LINE");
	NEXT("ab\n", 1, FRAME_PART, 1, 1, "max_line 1: a two-byte line splits");
	NEXT("a\r", 1, FRAME_NEED, 0, 0, "max_line 1: a byte and CR: NEED");
	NEXT("\r\r\n", 1, FRAME_LINE, 1, 3,
	    "max_line 1: a line holding only a kept CR is a LINE");
}

/* frame_final: the stream has ended. */
static void
test_final(void)
{
	FINAL("", 8, FRAME_NEED, 0, 0, "final: no bytes: NEED");
	FINAL(
	    "abc", 8, FRAME_LINE, 3, 3, "final: a tail with no LF is one LINE");
	FINAL("abc\n", 8, FRAME_LINE, 3, 4,
	    "final: a complete line is framed as by frame_next");
	FINAL("ab\r\ncd", 8, FRAME_LINE, 2, 4,
	    "final: the line before a tail comes first");
	FINAL("abc\r", 8, FRAME_LINE, 4, 4,
	    "final: a tail's last CR is kept (no LF follows it)");
	FINAL("\r", 8, FRAME_LINE, 1, 1, "final: a tail of one CR is kept");
	FINAL("abcd", 4, FRAME_LINE, 4, 4,
	    "final: a tail of exactly max_line is one LINE");
	FINAL("abcde", 4, FRAME_PART, 4, 4,
	    "final: a tail of max_line+1 starts with a PART");
	FINAL("abcdefghij", 4, FRAME_PART, 4, 4,
	    "final: a long tail starts with a PART of max_line");
	FINAL("ij", 4, FRAME_LINE, 2, 2,
	    "final: the last piece of a tail is a LINE");
	FINAL("abcdef\n", 4, FRAME_PART, 4, 4,
	    "final: an overlong complete line is still split");
}

/* UDP: one trailing LF or CRLF is dropped, nothing else. */
static void
test_datagram(void)
{
	DGRAM("", 0, "datagram: empty stays empty");
	DGRAM("a", 1, "datagram: no line end: whole");
	DGRAM("a\n", 1, "datagram: one trailing LF is dropped");
	DGRAM("a\r\n", 1, "datagram: one trailing CRLF is dropped");
	DGRAM("a\n\n", 2, "datagram: only one of two LFs is dropped");
	DGRAM("a\r\n\r\n", 3, "datagram: only one of two CRLFs is dropped");
	DGRAM("a\r", 2, "datagram: a trailing CR alone is kept");
	DGRAM("a\r\r\n", 2, "datagram: only the CR right before LF goes");
	DGRAM("\n", 0, "datagram: a lone LF is an empty message");
	DGRAM("\r\n", 0, "datagram: a lone CRLF is an empty message");
	DGRAM("\r", 1, "datagram: a lone CR is kept");
	DGRAM("a\nb", 3, "datagram: an inner LF is kept");
	DGRAM("a\n\r", 3, "datagram: LF then CR at the end: both kept");
}

/*
 * Overlong lines are cut before a valid UTF-8 character that max_line
 * would split; invalid bytes, and a character that starts the piece, are
 * cut at max_line.
 */
static void
test_utf8_cut(void)
{
	NEXT("abc\xc3\xa9\n", 4, FRAME_PART, 3, 3,
	    "utf8: a 2-byte character across the cut starts the next piece");
	NEXT("ab\xe2\x82\xac\n", 4, FRAME_PART, 2, 2,
	    "utf8: a 3-byte character across the cut, lead 2 back");
	NEXT("abc\xe2\x82\xac\n", 4, FRAME_PART, 3, 3,
	    "utf8: a 3-byte character across the cut, lead 1 back");
	NEXT("a\xf0\x9f\x98\x80\n", 4, FRAME_PART, 1, 1,
	    "utf8: a 4-byte character across the cut, lead 3 back");
	NEXT("abc\xf0\x9f\x98\x80\n", 4, FRAME_PART, 3, 3,
	    "utf8: a 4-byte character across the cut, lead 1 back");
	NEXT("abc\xc3\xa9\r\n", 4, FRAME_PART, 3, 3,
	    "utf8: the same with a CRLF line end");
	NEXT("\xf0\x9f\x98\x80x\n", 4, FRAME_PART, 4, 4,
	    "utf8: a character that ends at the cut is not moved");
	NEXT("ab\xc3\xa9\x80\n", 4, FRAME_PART, 4, 4,
	    "utf8: a stray continuation byte after a character: max_line");
	NEXT("abcd\x80\n", 4, FRAME_PART, 4, 4,
	    "utf8: a continuation byte after ASCII: max_line");
	NEXT("a\x80\x80\x80\x80\n", 4, FRAME_PART, 4, 4,
	    "utf8: no lead byte within 3 bytes: max_line");
	NEXT("abc\xc3\x28\n", 4, FRAME_PART, 4, 4,
	    "utf8: a lead byte without its continuation: max_line");
	NEXT("abc\xe0\x80\x80\n", 4, FRAME_PART, 4, 4,
	    "utf8: an overlong form across the cut: max_line");
	NEXT("ab\xed\xa0\x80\n", 4, FRAME_PART, 4, 4,
	    "utf8: a surrogate across the cut: max_line");
	NEXT("abc\xf4\x90\x80\x80\n", 4, FRAME_PART, 4, 4,
	    "utf8: a code point past U+10FFFF across the cut: max_line");
	NEXT("abc\xc0\x80\n", 4, FRAME_PART, 4, 4,
	    "utf8: an overlong 2-byte form across the cut: max_line");
	NEXT("abc\xe2\x82\n", 4, FRAME_PART, 4, 4,
	    "utf8: a character cut short by the line end: max_line");
	NEXT("abc\xe2\x82\r\n", 4, FRAME_PART, 4, 4,
	    "utf8: a character cut short by CRLF: max_line");
	NEXT("\xf0\x9f\x98\x80\n", 3, FRAME_PART, 3, 3,
	    "utf8: a character longer than max_line is cut (never empty)");
	NEXT("\xc3\xa9\n", 1, FRAME_PART, 1, 1,
	    "utf8: max_line 1 cuts a 2-byte character");
	NEXT("x\xe2\x82\xac\n", 3, FRAME_PART, 1, 1,
	    "utf8: max_line 3, a 3-byte character after one byte moves");
	/* Waiting for the rest of the character, never past the window. */
	NEXT("abc\xc3\xa9", 4, FRAME_PART, 3, 3,
	    "utf8: no LF, the whole character here: PART at once");
	NEXT("abc\xf0\x9f", 4, FRAME_NEED, 0, 0,
	    "utf8: no LF, 2 of 4 bytes of a character here: NEED");
	NEXT("abc\xf0\x9f\x98", 4, FRAME_NEED, 0, 0,
	    "utf8: no LF, 3 of 4 bytes here (max_line + 2 bytes): NEED");
	NEXT("abc\xf0\x9f\x98\x80", 4, FRAME_PART, 3, 3,
	    "utf8: no LF, FRAME_WINDOW bytes: PART before the character");
	NEXT("abc\xf0\x9f\x98x", 4, FRAME_PART, 4, 4,
	    "utf8: no LF, FRAME_WINDOW bytes, invalid: PART of max_line");
	NEXT("ab\xc3\xa9\x80", 4, FRAME_PART, 4, 4,
	    "utf8: no LF, a continuation byte after a character: no wait");
	NEXT("abcd\x80", 4, FRAME_PART, 4, 4,
	    "utf8: no LF, a stray continuation byte: no wait");
	FINAL("abc\xf0\x9f\x98", 4, FRAME_PART, 4, 4,
	    "utf8: final, a tail ending inside a character: max_line");
	FINAL("abc\xe2\x82\xac", 4, FRAME_PART, 3, 3,
	    "utf8: final, a tail whose last character crosses the cut");
	FINAL("ab\xe2\x82\xac", 4, FRAME_PART, 2, 2,
	    "utf8: final, a 3-byte character ends the tail");
}

/* One message the framer produced (or the reference expects). */
struct msg {
	enum frame_kind kind;
	size_t len;
	char data[BUFSZ];
};

/* The list of messages of a stream. */
struct msgs {
	size_t n;
	struct msg m[MAXMSGS];
	bool bad; /* an invariant broke; why is in what */
	char what[128];
};

/* Append a message to a list. */
static void
msgs_add(struct msgs *l, enum frame_kind kind, const char *p, size_t len)
{
	if (l->n == MAXMSGS || len > BUFSZ) {
		l->bad = true;
		snprintf(l->what, sizeof(l->what), "too many messages");
		return;
	}
	l->m[l->n].kind = kind;
	l->m[l->n].len = len;
	memcpy(l->m[l->n].data, p, len);
	l->n++;
}

/*
 * Length of the valid UTF-8 character of 2 to 4 bytes at p (n bytes there),
 * or 0: decoded to its code point, which must need that many bytes, be at
 * most U+10FFFF and not a surrogate.
 */
static size_t
ref_utf8(const unsigned char *p, size_t n)
{
	static const uint32_t least[] = {0, 0, 0x80, 0x800, 0x10000};
	size_t len = p[0] >= 0xf8   ? 0
	             : p[0] >= 0xf0 ? 4
	             : p[0] >= 0xe0 ? 3
	             : p[0] >= 0xc0 ? 2
	                            : 0;
	uint32_t cp;

	if (len == 0 || len > n)
		return 0;
	cp = p[0] & (0x7fu >> len);
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3fu);
	}
	if (cp < least[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

/* Bytes of the next piece of a line whose len > max content bytes are at
 * p: max, or less when a valid character starting after the piece's first
 * byte would end past max (a character starts at most 3 bytes back). */
static size_t
ref_piece(const char *p, size_t len, size_t max)
{
	for (size_t k = max > 3 ? max - 3 : 1; k < max; k++) {
		size_t clen = ref_utf8((const unsigned char *)p + k, len - k);
		if (clen != 0 && k + clen > max)
			return k;
	}
	return max;
}

/* Add one line's content (CR/LF gone) as pieces of at most max bytes. */
static void
ref_add_content(struct msgs *l, const char *p, size_t len, size_t max)
{
	while (len > max) {
		size_t piece = ref_piece(p, len, max);
		msgs_add(l, FRAME_PART, p, piece);
		p += piece;
		len -= piece;
	}
	msgs_add(l, FRAME_LINE, p, len);
}

/* The messages of a whole stream by the contract, the obvious way: split
 * at LF, drop one CR before each LF, keep the tail, cut long lines. */
static void
ref_split(struct msgs *l, const char *s, size_t n, size_t max)
{
	size_t start = 0, i;

	memset(l, 0, sizeof(*l));
	for (i = 0; i < n; i++) {
		size_t end = i;

		if (s[i] != '\n')
			continue;
		if (end > start && s[end - 1] == '\r')
			end--;
		ref_add_content(l, s + start, end - start, max);
		start = i + 1;
	}
	if (start < n)
		ref_add_content(l, s + start, n - start, max);
}

/* Check one frame result against what any frame must satisfy. */
static bool
frame_sane(struct msgs *l, struct frame f, size_t n, size_t max)
{
	if (f.kind == FRAME_NEED)
		return true;
	if (f.used == 0 || f.used > n || f.len > f.used || f.len > max ||
	    (f.kind == FRAME_PART &&
	        (f.len != f.used || f.len == 0 || f.len + 3 < max))) {
		l->bad = true;
		snprintf(l->what, sizeof(l->what),
		    "bad frame %s len=%zu used=%zu for n=%zu max=%zu",
		    kind_name(f.kind), f.len, f.used, n, max);
		return false;
	}
	return true;
}

/* Feed a stream cut at the given points into a connection buffer, as the
 * server does: append a read, take messages until NEED, and at the end
 * take the rest with frame_final. */
static void
simulate(struct msgs *l, const char *s, size_t n, const size_t *cuts,
    size_t ncuts, size_t max)
{
	char buf[BUFSZ];
	size_t have = 0, from = 0, c;
	struct frame f;

	memset(l, 0, sizeof(*l));
	for (c = 0; c <= ncuts && !l->bad; c++) {
		size_t to = c < ncuts ? cuts[c] : n;

		memcpy(buf + have, s + from, to - from);
		have += to - from;
		from = to;
		for (;;) {
			f = frame_next(buf, have, max);
			if (f.kind == FRAME_NEED ||
			    !frame_sane(l, f, have, max))
				break;
			msgs_add(l, f.kind, buf, f.len);
			memmove(buf, buf + f.used, have - f.used);
			have -= f.used;
		}
		if (!l->bad && have >= FRAME_WINDOW(max)) {
			l->bad = true;
			snprintf(l->what, sizeof(l->what),
			    "NEED with %zu bytes held (max_line %zu)", have,
			    max);
		}
	}
	while (!l->bad) {
		f = frame_final(buf, have, max);
		if (f.kind == FRAME_NEED) {
			if (have != 0) {
				l->bad = true;
				snprintf(l->what, sizeof(l->what),
				    "frame_final NEED with %zu bytes", have);
			}
			break;
		}
		if (!frame_sane(l, f, have, max))
			break;
		msgs_add(l, f.kind, buf, f.len);
		memmove(buf, buf + f.used, have - f.used);
		have -= f.used;
	}
}

/* Whether two message lists are the same; on a difference say where. */
static bool
msgs_equal(const struct msgs *got, const struct msgs *exp)
{
	size_t i;

	if (got->bad) {
		diag("%s", got->what);
		return false;
	}
	for (i = 0; i < got->n && i < exp->n; i++) {
		if (got->m[i].kind != exp->m[i].kind ||
		    !tap_same_mem(got->m[i].data, got->m[i].len, exp->m[i].data,
		        exp->m[i].len)) {
			diag("message %zu: got %s expected %s", i,
			    kind_name(got->m[i].kind),
			    kind_name(exp->m[i].kind));
			tap_diag_mem(got->m[i].data, got->m[i].len,
			    exp->m[i].data, exp->m[i].len);
			return false;
		}
	}
	if (got->n != exp->n) {
		diag("got %zu messages expected %zu", got->n, exp->n);
		return false;
	}
	return true;
}

/* Streams for the cutting tests: empty lines, CRLF, lone CRs, lines around
 * max_line, CRs at the split points, with and without a tail. */
static const char *const streams[] = {
    "hello\nworld\r\n\n\r\nab\rc\nlast",
    "abcd\nabcd\r\nabcde\nabc\r\r\nabcdefgh\n\r\nabcd\rx\nxy",
    "abcdefghijklmnop\r\nq\r\r\n\rr\n",
    "a\r\r\r\n\r\r\nbcdef\r",
    "\n\n\r\n\n",
    /* Valid UTF-8 of every length, lines ending in CRLF and the tail in
     * a 4-byte character. */
    "a\xc3\xa9"
    "b\xe2\x82\xac"
    "c\xf0\x9f\x98\x80"
    "d\xc3\xa9\xc3\xa9\xe2\x82\xac"
    "\xf0\x9f\x98\x80\r\nxy\xf0\x9f\x98\x80",
    /* Invalid sequences: overlong, surrogate, cut short, stray
     * continuation bytes, past U+10FFFF, a lone lead at the end. */
    "ab\xe0\x80\x80"
    "cd\xed\xa0\x80"
    "e\xf0\x9f\x98x\xc3\n\x80\x80\x80\x80\x80"
    "\xf4\x90\x80\x80\n\xc3",
};

/* The same messages come out however a stream is cut into reads. */
static void
test_stream_cuts(void)
{
	static const size_t maxes[] = {1, 2, 3, 4, 5, 8, 100};
	size_t si, mi;

	for (si = 0; si < sizeof(streams) / sizeof(streams[0]); si++) {
		for (mi = 0; mi < sizeof(maxes) / sizeof(maxes[0]); mi++) {
			const char *s = streams[si];
			size_t n = strlen(s), max = maxes[mi], i, j;
			struct msgs *exp = malloc(sizeof(*exp));
			struct msgs *got = malloc(sizeof(*got));
			size_t cuts[BUFSZ];
			bool pass = true;

			ref_split(exp, s, n, max);
			simulate(got, s, n, NULL, 0, max);
			ok(msgs_equal(got, exp),
			    "stream %zu, max_line %zu: read whole gives the "
			    "expected messages",
			    si, max);

			for (i = 0; i + 1 < n; i++)
				cuts[i] = i + 1;
			simulate(got, s, n, cuts, n > 0 ? n - 1 : 0, max);
			ok(msgs_equal(got, exp),
			    "stream %zu, max_line %zu: read byte by byte gives "
			    "the expected messages",
			    si, max);

			for (i = 0; i <= n && pass; i++) {
				for (j = i; j <= n && pass; j++) {
					cuts[0] = i;
					cuts[1] = j;
					simulate(got, s, n, cuts, 2, max);
					if (!msgs_equal(got, exp)) {
						diag(
						    "cut at %zu and %zu", i, j);
						pass = false;
					}
				}
			}
			ok(pass,
			    "stream %zu, max_line %zu: every pair of cut "
			    "points "
			    "gives the expected messages",
			    si, max);
			free(exp);
			free(got);
		}
	}
}

/* The reference splitter itself, on one stream written out by hand, so that
 * the cutting tests compare with the right thing. */
static void
test_reference(void)
{
	struct msgs l;
	const char *s = streams[1];

	ref_split(&l, s, strlen(s), 4);
	ok(l.n == 11 && l.m[2].kind == FRAME_PART && l.m[2].len == 4 &&
	        l.m[3].kind == FRAME_LINE && l.m[3].len == 1 &&
	        l.m[4].len == 4 && memcmp(l.m[4].data, "abc\r", 4) == 0 &&
	        l.m[5].kind == FRAME_PART && l.m[6].kind == FRAME_LINE &&
	        l.m[7].len == 0 && l.m[8].kind == FRAME_PART &&
	        l.m[9].len == 2 && memcmp(l.m[9].data, "\rx", 2) == 0 &&
	        l.m[10].len == 2 && memcmp(l.m[10].data, "xy", 2) == 0,
	    "the reference splitter cuts a sample stream as worked out by "
	    "hand");

	/* streams[5] at max_line 4: "a\xc3\xa9b", then the 3-byte character
	 * and "c", then the 4-byte one (each 4 bytes, each ends at the cut);
	 * "d\xc3\xa9" (3: the next 2-byte character would cross), then
	 * "\xc3\xa9" (2) and the 3-byte character (3) for the same reason, and
	 * the line ends with the 4-byte character. "xy" comes before the
	 * tail's 4-byte character. */
	s = streams[5];
	ref_split(&l, s, strlen(s), 4);
	static const size_t lens[] = {4, 4, 4, 3, 2, 3, 4, 2, 4};
	bool same = l.n == 9;
	for (size_t i = 0; same && i < 9; i++)
		same =
		    l.m[i].len == lens[i] &&
		    l.m[i].kind == (i == 6 || i == 8 ? FRAME_LINE : FRAME_PART);
	ok(same, "the reference splitter cuts a UTF-8 stream at characters as "
	         "worked out by hand");
}

/* ---- RFC 6587 octet counting: frame_octet ---- */

/*
 * Check one frame_octet call on a copy of the n bytes at in sized exactly
 * (so that a sanitizer build catches a read past n): kind, len, used and
 * skip exact, and *left before (left_in) and after (left_out). NEED and
 * ERROR must have len, used and skip 0, except a header cut short at the
 * end of the stream (used n); the caller gives what it expects.
 */
static void
check_octet(const char *in, size_t n, size_t max, unsigned left_in, bool final,
    enum frame_kind kind, size_t len, size_t used, size_t skip,
    unsigned left_out, const char *name)
{
	char *copy = malloc(n > 0 ? n : 1);
	unsigned left = left_in;
	struct frame f;
	bool pass;

	memcpy(copy, in, n);
	f = frame_octet(copy, n, max, &left, final);
	pass = f.kind == kind && f.len == len && f.used == used &&
	       f.skip == skip && left == left_out;
	ok(pass, "octet: %s", name);
	if (!pass)
		diag("got %s len=%zu used=%zu skip=%zu left=%u expected %s "
		     "len=%zu used=%zu skip=%zu left=%u",
		    kind_name(f.kind), f.len, f.used, f.skip, left,
		    kind_name(kind), len, used, skip, left_out);
	free(copy);
}

/* Input given as a string literal (NULs allowed); *left starts at LEFT. */
#define OCTET(in, max, left, kind, len, used, skip, left_out, name)            \
	check_octet(in, sizeof(in) - 1, max, left, false, kind, len, used,     \
	    skip, left_out, name)
#define OCTET_FINAL(in, max, left, kind, len, used, skip, left_out, name)      \
	check_octet(in, sizeof(in) - 1, max, left, true, kind, len, used,      \
	    skip, left_out, name)
/* NEED or ERROR with nothing consumed and *left kept. */
#define OCTET_NEED(in, max, left, name)                                        \
	OCTET(in, max, left, FRAME_NEED, 0, 0, 0, left, name)
#define OCTET_ERROR(in, max, name)                                             \
	OCTET(in, max, 0, FRAME_ERROR, 0, 0, 0, 0, name)

/* Whole frames: the message is LEN bytes after the header, of any kind. */
static void
test_octet_frames(void)
{
	OCTET("5 hello", 8, 0, FRAME_LINE, 5, 7, 2, 0,
	    "a whole frame is one LINE after its header");
	OCTET("5 hello5 world", 8, 0, FRAME_LINE, 5, 7, 2, 0,
	    "only the first of two frames is returned");
	OCTET("1 x", 8, 0, FRAME_LINE, 1, 3, 2, 0, "a one-byte frame");
	OCTET("10 abcdefghij", 16, 0, FRAME_LINE, 10, 13, 3, 0,
	    "a two-digit length");
	OCTET("6 a\nb\r\nc", 8, 0, FRAME_LINE, 6, 8, 2, 0,
	    "LF and CRLF inside a frame are message content");
	OCTET("7 hello\r\n", 8, 0, FRAME_LINE, 7, 9, 2, 0,
	    "a CRLF at the end of a frame is kept (nothing is stripped)");
	OCTET(
	    "1 \n", 8, 0, FRAME_LINE, 1, 3, 2, 0, "a frame holding only an LF");
	OCTET("5 hello\n", 8, 0, FRAME_LINE, 5, 7, 2, 0,
	    "an LF after a frame's LEN bytes is not part of it");
	OCTET("3 a\0b", 8, 0, FRAME_LINE, 3, 5, 2, 0,
	    "a NUL byte is message content");
	OCTET("5  hell", 8, 0, FRAME_LINE, 5, 7, 2, 0,
	    "a second space starts the message (only one is the header's)");
	OCTET("3 1 2", 8, 0, FRAME_LINE, 3, 5, 2, 0,
	    "digits and spaces inside a message are content");
	OCTET("4 abcd", 4, 0, FRAME_LINE, 4, 6, 2, 0,
	    "a frame of exactly max_line is one LINE");
	OCTET("9 abcdefghi", 100, 0, FRAME_LINE, 9, 11, 2, 0,
	    "a frame of 9 bytes");
	OCTET("12 abcdefghijkl3 xyz", 100, 0, FRAME_LINE, 12, 15, 3, 0,
	    "a frame followed by another: used ends at the next header");
}

/* Nothing is consumed until the frame is all here (or a piece of it). */
static void
test_octet_need(void)
{
	OCTET_NEED("", 8, 0, "no bytes: NEED");
	OCTET_NEED("5", 8, 0, "a digit, no space yet: NEED");
	OCTET_NEED("12345", 8, 0, "digits, no space yet: NEED");
	OCTET_NEED(
	    "123456789", 8, 0, "9 digits, the space may still come: NEED");
	OCTET_NEED("5 ", 8, 0, "a header and no message bytes: NEED");
	OCTET_NEED("5 hell", 8, 0, "a frame one byte short: NEED");
	OCTET_NEED("10 abcdefghi", 16, 0, "a two-digit frame one byte short");
	OCTET_NEED("10 abcd", 4, 0,
	    "an overlong frame with max_line bytes here: NEED");
	OCTET_NEED("123456789 abcd", 4, 0,
	    "a 9-digit frame with max_line bytes here: NEED");
	OCTET_NEED("efgh", 4, 6,
	    "the rest of an overlong frame, max_line bytes here: NEED, *left "
	    "kept");
	OCTET_NEED("a", 4, 2, "the rest of a frame one byte short: NEED");
	OCTET_NEED("", 4, 3, "the rest of a frame, no bytes: NEED");
}

/* A header that is not 1 to 9 digits (the first not 0) and a space. */
static void
test_octet_errors(void)
{
	OCTET_ERROR("x", 8, "a letter: ERROR");
	OCTET_ERROR("x5 hello", 8, "a letter before the digits: ERROR");
	OCTET_ERROR(" 5 hello", 8, "a space before the digits: ERROR");
	OCTET_ERROR("\n5 hello", 8,
	    "an LF before the digits (between two frames): ERROR");
	OCTET_ERROR("-5 hello", 8, "a minus sign: ERROR");
	OCTET_ERROR("+5 hello", 8, "a plus sign: ERROR");
	OCTET_ERROR("0", 8, "a lone 0: ERROR without waiting for more");
	OCTET_ERROR("0 ", 8, "a length of 0: ERROR");
	OCTET_ERROR("05 hello", 8, "a leading 0: ERROR");
	OCTET_ERROR("0005", 8, "leading zeros, cut short: ERROR at once");
	OCTET_ERROR(
	    "1234567890", 8, "10 digits: ERROR without waiting for the space");
	OCTET_ERROR("1234567890 x", 8, "10 digits and a space: ERROR");
	OCTET_ERROR("12345678901 x", 8, "11 digits: ERROR");
	OCTET_ERROR("5x", 8, "no space after the digits: ERROR");
	OCTET_ERROR("5\thello", 8, "a TAB after the digits: ERROR");
	OCTET_ERROR("5\nhello", 8, "an LF after the digits: ERROR");
	OCTET_ERROR("5\r\nhello", 8, "a CR after the digits: ERROR");
	OCTET_ERROR("123456789x", 8, "9 digits and no space: ERROR");
	OCTET_ERROR("\xff", 8, "a byte above 0x7f: ERROR");
	OCTET_ERROR("\0", 8, "a NUL: ERROR");
	OCTET_FINAL("x", 8, 0, FRAME_ERROR, 0, 0, 0, 0,
	    "final: a letter is still ERROR");
	OCTET_FINAL("0", 8, 0, FRAME_ERROR, 0, 0, 0, 0,
	    "final: a lone 0 is ERROR, not a header cut short");
	OCTET_FINAL("1234567890", 8, 0, FRAME_ERROR, 0, 0, 0, 0,
	    "final: 10 digits are ERROR, not a header cut short");
	OCTET_FINAL("5x", 8, 0, FRAME_ERROR, 0, 0, 0, 0,
	    "final: no space after the digits is ERROR");
}

/* Frames longer than max_line come in pieces; *left carries the rest. */
static void
test_octet_long(void)
{
	OCTET("10 abcdefghij", 4, 0, FRAME_PART, 4, 7, 3, 6,
	    "an overlong frame: a PART of max_line after the header");
	OCTET("efghij", 4, 6, FRAME_PART, 4, 4, 0, 2,
	    "its second piece: no header, *left 6 -> 2");
	OCTET("ij", 4, 2, FRAME_LINE, 2, 2, 0, 0,
	    "its last piece is a LINE and *left goes back to 0");
	OCTET("ij3 xyz", 4, 2, FRAME_LINE, 2, 2, 0, 0,
	    "the last piece stops where the next header begins");
	OCTET("8 abcdefgh", 4, 0, FRAME_PART, 4, 6, 2, 4,
	    "a frame of twice max_line: PART, *left max_line");
	OCTET("efgh", 4, 4, FRAME_LINE, 4, 4, 0, 0,
	    "its last piece of max_line is a LINE");
	OCTET("5 abcde", 4, 0, FRAME_PART, 4, 6, 2, 1,
	    "a frame of max_line + 1: PART, *left 1");
	OCTET("e", 4, 1, FRAME_LINE, 1, 1, 0, 0, "its last byte is a LINE");
	OCTET("10 abcde", 4, 0, FRAME_PART, 4, 7, 3, 6,
	    "max_line + 1 bytes of an overlong frame: a PART without waiting");
	OCTET("efghi", 4, 6, FRAME_PART, 4, 4, 0, 2,
	    "max_line + 1 bytes of the rest: a PART without waiting");
	OCTET("ab", 1, 0, FRAME_ERROR, 0, 0, 0, 0,
	    "max_line 1: a header is still looked for first");
	OCTET("3 abc", 1, 0, FRAME_PART, 1, 3, 2, 2,
	    "max_line 1: every byte a piece");
	OCTET("bc", 1, 2, FRAME_PART, 1, 1, 0, 1,
	    "max_line 1: the next byte is a piece");
	OCTET("c", 1, 1, FRAME_LINE, 1, 1, 0, 0,
	    "max_line 1: the last byte is a LINE");
	/* FRAME_OCTET_HEADER + FRAME_WINDOW(max_line) bytes always frame. */
	OCTET("123456789 abcdefg", 4, 0, FRAME_PART, 4, 14, 10, 123456785,
	    "a 9-digit frame: the whole window gives a PART");
	OCTET("123456789 abcde", 4, 0, FRAME_PART, 4, 14, 10, 123456785,
	    "a 9-digit frame: max_line + 1 bytes give a PART");
	OCTET("999999999 abc", 2, 0, FRAME_PART, 2, 12, 10, 999999997,
	    "the largest length: *left holds it");
}

/* Pieces end before a valid UTF-8 character the cut would split, within
 * the frame only. */
static void
test_octet_utf8(void)
{
	OCTET("5 abc\xc3\xa9", 4, 0, FRAME_PART, 3, 5, 2, 2,
	    "utf8: a 2-byte character across the cut starts the next piece");
	OCTET("\xc3\xa9", 4, 2, FRAME_LINE, 2, 2, 0, 0,
	    "utf8: the character is the last piece");
	OCTET("6 a\xf0\x9f\x98\x80x", 4, 0, FRAME_PART, 1, 3, 2, 5,
	    "utf8: a 4-byte character, lead 3 back");
	OCTET("5 \xf0\x9f\x98\x80x", 4, 0, FRAME_PART, 4, 6, 2, 1,
	    "utf8: a character that ends at the cut is not moved");
	OCTET("5 \xf0\x9f\x98\x80x", 3, 0, FRAME_PART, 3, 5, 2, 2,
	    "utf8: a character longer than max_line is cut (never empty)");
	OCTET("6 abc\xc3\x28x", 4, 0, FRAME_PART, 4, 6, 2, 2,
	    "utf8: an invalid sequence is cut at max_line");
	OCTET("abc\xc3\xa9xy", 4, 7, FRAME_PART, 3, 3, 0, 4,
	    "utf8: the rest of a frame is cut the same way");
	OCTET("5 abc\xe2\x82\xac", 4, 0, FRAME_PART, 4, 6, 2, 1,
	    "utf8: a character cut by the frame's end is not looked for in "
	    "the next frame");
	OCTET("6 abc\xe2\x82", 4, 0, FRAME_NEED, 0, 0, 0, 0,
	    "utf8: the rest of a character inside the frame: NEED");
	OCTET("6 abc\xe2\x82\xac", 4, 0, FRAME_PART, 3, 5, 2, 3,
	    "utf8: with the whole character: PART before it");
	OCTET("abc\xf0\x9f", 4, 9, FRAME_NEED, 0, 0, 0, 9,
	    "utf8: the rest of a frame inside a character: NEED, *left kept");
	OCTET("123456789 abc\xf0\x9f\x98\x80", 4, 0, FRAME_PART, 3, 13, 10,
	    123456786, "utf8: the whole window frames before a character");
	OCTET("123456789 abc\xf0\x9f\x98", 4, 0, FRAME_NEED, 0, 0, 0, 0,
	    "utf8: one byte short of the window, inside a character: NEED");
	OCTET_FINAL("123456789 abc\xf0\x9f\x98", 4, 0, FRAME_PART, 4, 14, 10,
	    123456785,
	    "utf8: final, the stream ends inside a character: "
	    "max_line");
	OCTET_FINAL("\x98", 4, 123456785, FRAME_LINE, 1, 1, 0, 0,
	    "utf8: final, what is left of it is the last piece");
}

/* The stream has ended: frames and headers cut short. */
static void
test_octet_final(void)
{
	OCTET_FINAL("", 8, 0, FRAME_NEED, 0, 0, 0, 0,
	    "final: no bytes: NEED, nothing used");
	OCTET_FINAL("12", 8, 0, FRAME_NEED, 0, 2, 0, 0,
	    "final: a header cut short (digits) is used up, no message");
	OCTET_FINAL("123456789", 8, 0, FRAME_NEED, 0, 9, 0, 0,
	    "final: 9 digits cut short are used up, no message");
	OCTET_FINAL("5 hello", 8, 0, FRAME_LINE, 5, 7, 2, 0,
	    "final: a whole frame as without final");
	OCTET_FINAL("5 hello5 wor", 8, 0, FRAME_LINE, 5, 7, 2, 0,
	    "final: the frame before one cut short comes first");
	OCTET_FINAL("5 hel", 8, 0, FRAME_LINE, 3, 5, 2, 0,
	    "final: a frame cut short is a LINE of what came");
	OCTET_FINAL("5 ", 8, 0, FRAME_LINE, 0, 2, 2, 0,
	    "final: a header with no message bytes is an empty LINE");
	OCTET_FINAL("5 hello\n", 8, 0, FRAME_LINE, 5, 7, 2, 0,
	    "final: bytes after a frame are left for the next call");
	OCTET_FINAL("10 abc", 4, 0, FRAME_LINE, 3, 6, 3, 0,
	    "final: an overlong frame cut short within max_line: one LINE");
	OCTET_FINAL("10 abcd", 4, 0, FRAME_LINE, 4, 7, 3, 0,
	    "final: an overlong frame cut short at max_line: one LINE");
	OCTET_FINAL("10 abcdef", 4, 0, FRAME_PART, 4, 7, 3, 6,
	    "final: an overlong frame cut short past max_line: a PART");
	OCTET_FINAL("ef", 4, 6, FRAME_LINE, 2, 2, 0, 0,
	    "final: the rest of it is the last piece, *left 0");
	OCTET_FINAL("efgh", 4, 6, FRAME_LINE, 4, 4, 0, 0,
	    "final: max_line bytes of the rest are the last piece");
	OCTET_FINAL("efghi", 4, 6, FRAME_PART, 4, 4, 0, 2,
	    "final: more than max_line of the rest still split");
	OCTET_FINAL("e", 4, 3, FRAME_LINE, 1, 1, 0, 0,
	    "final: a rest cut short is a LINE of what came");
}

/* The outcome of framing a whole octet-counted stream. */
struct octet_out {
	struct msgs l;
	bool error;  /* it stopped at a malformed header */
	size_t used; /* bytes consumed: up to the bad header, else all */
};

/*
 * The frames of a whole stream by the contract, the obvious way: count the
 * digits, check them, read LEN with strtoul, take LEN bytes (or what is
 * left), cut them as an overlong line is cut.
 */
static void
ref_octet(struct octet_out *o, const char *s, size_t n, size_t max)
{
	size_t i = 0;

	memset(o, 0, sizeof(*o));
	while (i < n) {
		size_t d = 0;
		char num[16];

		while (i + d < n && s[i + d] >= '0' && s[i + d] <= '9')
			d++;
		if (d == 0 || d >= 10 || s[i] == '0') {
			o->error = true;
			break;
		}
		if (i + d == n) {
			i = n; /* a header cut short: no message */
			break;
		}
		if (s[i + d] != ' ') {
			o->error = true;
			break;
		}
		memcpy(num, s + i, d);
		num[d] = '\0';
		size_t len = strtoul(num, NULL, 10);
		size_t at = i + d + 1;
		size_t came = n - at < len ? n - at : len;
		ref_add_content(&o->l, s + at, came, max);
		i = at + came;
	}
	o->used = i;
}

/*
 * Feed an octet-counted stream cut at the given points into a connection
 * buffer, as the server does: append a read, take messages until NEED or
 * ERROR, and at the end take the rest with final. Every NEED must consume
 * nothing, and come only with fewer than FRAME_OCTET_HEADER +
 * FRAME_WINDOW(max) bytes held.
 */
static void
simulate_octet(struct octet_out *o, const char *s, size_t n, const size_t *cuts,
    size_t ncuts, size_t max)
{
	char buf[BUFSZ];
	size_t have = 0, from = 0, c;
	unsigned left = 0;
	struct msgs *l = &o->l;

	memset(o, 0, sizeof(*o));
	for (c = 0; c <= ncuts + 1 && !l->bad && !o->error; c++) {
		bool final = c == ncuts + 1;
		size_t to = c < ncuts ? cuts[c] : n;

		memcpy(buf + have, s + from, to - from);
		have += to - from;
		from = to;
		for (;;) {
			unsigned before = left;
			struct frame f =
			    frame_octet(buf, have, max, &left, final);

			if (f.kind == FRAME_ERROR) {
				if (f.len != 0 || f.used != 0 || f.skip != 0 ||
				    left != before) {
					l->bad = true;
					snprintf(l->what, sizeof(l->what),
					    "ERROR consumed or moved *left");
				}
				o->error = true;
				break;
			}
			if (f.kind == FRAME_NEED) {
				if (f.len != 0 || f.skip != 0 ||
				    left != before ||
				    (f.used != 0 && !(final && f.used == have &&
				                        before == 0))) {
					l->bad = true;
					snprintf(l->what, sizeof(l->what),
					    "NEED used=%zu len=%zu skip=%zu "
					    "with %zu held",
					    f.used, f.len, f.skip, have);
				}
				if (!final && have >= FRAME_OCTET_HEADER +
				                          FRAME_WINDOW(max)) {
					l->bad = true;
					snprintf(l->what, sizeof(l->what),
					    "NEED with %zu bytes held", have);
				}
				o->used += f.used;
				memmove(buf, buf + f.used, have - f.used);
				have -= f.used;
				if (f.used == 0)
					break;
				continue;
			}
			if (f.used == 0 || f.used > have ||
			    f.used != f.skip + f.len || f.len > max ||
			    (before != 0 && f.skip != 0) ||
			    (f.kind == FRAME_PART &&
			        (f.len == 0 || f.len + 3 < max || left == 0)) ||
			    (f.kind == FRAME_LINE && left != 0)) {
				l->bad = true;
				snprintf(l->what, sizeof(l->what),
				    "bad frame %s len=%zu used=%zu skip=%zu "
				    "left %u -> %u for n=%zu",
				    kind_name(f.kind), f.len, f.used, f.skip,
				    before, left, have);
				break;
			}
			msgs_add(l, f.kind, buf + f.skip, f.len);
			o->used += f.used;
			memmove(buf, buf + f.used, have - f.used);
			have -= f.used;
		}
	}
}

/* Whether two stream outcomes are the same; on a difference say what. */
static bool
octet_equal(const struct octet_out *got, const struct octet_out *exp)
{
	if (!msgs_equal(&got->l, &exp->l))
		return false;
	if (got->error != exp->error || got->used != exp->used) {
		diag("got error=%d used=%zu expected error=%d used=%zu",
		    got->error, got->used, exp->error, exp->used);
		return false;
	}
	return true;
}

/* A stream given as a literal, with its length (NULs allowed). */
struct octet_stream {
	const char *s;
	size_t n;
};
#define OCTET_STREAM(lit)                                                      \
	{                                                                      \
		lit, sizeof(lit) - 1                                           \
	}

/* Streams for the cutting tests: frames with LF, CR and NUL inside, frames
 * around max_line, UTF-8 across cuts and frame ends, malformed headers
 * after good frames, frames and headers cut short by the end. */
static const struct octet_stream octet_streams[] = {
    OCTET_STREAM("5 hello5 world1 x6 a\nb\r\nc3 \r\n\n2 \0\0"),
    OCTET_STREAM("10 abcdefghij4 abcd5 abcde8 abcdefgh2 \r\n1  "),
    OCTET_STREAM("6 a\xc3\xa9\xe2\x82\xac"
                 "4 \xf0\x9f\x98\x80"
                 "6 abc\xc3\xa9x"
                 "5 abc\xe2\x82"
                 "3 \xacyz"),
    OCTET_STREAM("5 hello\n5 world"),
    OCTET_STREAM("3 abc05 hello"),
    OCTET_STREAM("2 ab1234567890 x"),
    OCTET_STREAM("1 a5xhello"),
    OCTET_STREAM("0 "),
    OCTET_STREAM("5 hello12"),
    OCTET_STREAM("5 hello20 abcdefghijk"),
    OCTET_STREAM("123456789 abc\xf0\x9f\x98\x80xyz"),
    OCTET_STREAM("5 "),
};

/* The same outcome however a stream is cut into reads, and for every
 * prefix of it (a stream that ends anywhere). */
static void
test_octet_stream_cuts(void)
{
	static const size_t maxes[] = {1, 2, 3, 4, 5, 8, 100};
	size_t si, mi;

	for (si = 0; si < sizeof(octet_streams) / sizeof(octet_streams[0]);
	     si++) {
		for (mi = 0; mi < sizeof(maxes) / sizeof(maxes[0]); mi++) {
			const char *s = octet_streams[si].s;
			size_t n = octet_streams[si].n, max = maxes[mi], i, j;
			struct octet_out *exp = malloc(sizeof(*exp));
			struct octet_out *got = malloc(sizeof(*got));
			size_t cuts[BUFSZ];
			bool pass = true;

			ref_octet(exp, s, n, max);
			simulate_octet(got, s, n, NULL, 0, max);
			ok(octet_equal(got, exp),
			    "octet stream %zu, max_line %zu: read whole", si,
			    max);

			for (i = 0; i + 1 < n; i++)
				cuts[i] = i + 1;
			simulate_octet(got, s, n, cuts, n > 0 ? n - 1 : 0, max);
			ok(octet_equal(got, exp),
			    "octet stream %zu, max_line %zu: byte by byte", si,
			    max);

			for (i = 0; i <= n && pass; i++) {
				for (j = i; j <= n && pass; j++) {
					cuts[0] = i;
					cuts[1] = j;
					simulate_octet(got, s, n, cuts, 2, max);
					if (!octet_equal(got, exp)) {
						diag(
						    "cut at %zu and %zu", i, j);
						pass = false;
					}
				}
			}
			ok(pass,
			    "octet stream %zu, max_line %zu: every pair of cut "
			    "points",
			    si, max);

			pass = true;
			for (i = 0; i < n && pass; i++) {
				ref_octet(exp, s, i, max);
				simulate_octet(got, s, i, NULL, 0, max);
				if (!octet_equal(got, exp)) {
					diag("prefix of %zu bytes", i);
					pass = false;
				}
			}
			ok(pass,
			    "octet stream %zu, max_line %zu: every prefix, as "
			    "a stream that ends there",
			    si, max);
			free(exp);
			free(got);
		}
	}
}

/* The reference parser itself, on streams worked out by hand. */
static void
test_octet_reference(void)
{
	struct octet_out o;
	const struct octet_stream *st = &octet_streams[0];

	ref_octet(&o, st->s, st->n, 100);
	ok(!o.error && o.used == st->n && o.l.n == 6 && o.l.m[0].len == 5 &&
	        memcmp(o.l.m[0].data, "hello", 5) == 0 && o.l.m[2].len == 1 &&
	        o.l.m[3].len == 6 &&
	        memcmp(o.l.m[3].data, "a\nb\r\nc", 6) == 0 &&
	        o.l.m[4].len == 3 && memcmp(o.l.m[4].data, "\r\n\n", 3) == 0 &&
	        o.l.m[5].len == 2 && memcmp(o.l.m[5].data, "\0\0", 2) == 0,
	    "octet reference: six frames, their contents whole");

	st = &octet_streams[1];
	ref_octet(&o, st->s, st->n, 4);
	/* 10 -> 4+4+2, 4 -> 4, 5 -> 4+1, 8 -> 4+4, 2 -> 2, 1 -> 1. */
	static const size_t lens[] = {4, 4, 2, 4, 4, 1, 4, 4, 2, 1};
	static const bool part[] = {1, 1, 0, 0, 1, 0, 1, 0, 0, 0};
	bool same = !o.error && o.l.n == 10;
	for (size_t i = 0; same && i < 10; i++)
		same = o.l.m[i].len == lens[i] &&
		       o.l.m[i].kind == (part[i] ? FRAME_PART : FRAME_LINE);
	ok(same, "octet reference: overlong frames in pieces of max_line");

	st = &octet_streams[3];
	ref_octet(&o, st->s, st->n, 100);
	ok(o.error && o.used == 7 && o.l.n == 1,
	    "octet reference: an LF after a frame is a malformed header");

	st = &octet_streams[9];
	ref_octet(&o, st->s, st->n, 100);
	ok(!o.error && o.used == st->n && o.l.n == 2 && o.l.m[1].len == 11 &&
	        o.l.m[1].kind == FRAME_LINE,
	    "octet reference: a frame cut short is what came");

	st = &octet_streams[8];
	ref_octet(&o, st->s, st->n, 100);
	ok(!o.error && o.used == st->n && o.l.n == 1,
	    "octet reference: a header cut short gives no message");
}

/* Run every frame test. */
int
main(void)
{
	test_line_ends();
	test_need();
	test_max_line();
	test_final();
	test_utf8_cut();
	test_datagram();
	test_reference();
	test_stream_cuts();
	test_octet_frames();
	test_octet_need();
	test_octet_errors();
	test_octet_long();
	test_octet_utf8();
	test_octet_final();
	test_octet_reference();
	test_octet_stream_cuts();
	return done_testing();
}
