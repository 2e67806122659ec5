/* Unit tests of frame.c: TCP line framing (LF, CRLF, overlong lines split
 * into continued pieces, never inside a valid UTF-8 character, tails at end
 * of stream) and UDP datagram trimming.
 * A simulated connection buffer checks that every way of cutting a stream
 * into reads gives the same messages as a reference splitter. */
#include <stdint.h>
#include <stdlib.h>

#include "frame.h"
#include "tap.h"

#define MAXMSGS 64
#define BUFSZ 256

static const char *const kind_names[] = {"NEED", "LINE", "PART"};

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
	return done_testing();
}
