/* Line framing for TCP streams; datagram trimming for UDP. */
#include <stdbool.h>
#include <string.h>

#include "escape.h"
#include "frame.h"

/* A whole line of len content bytes, used bytes with its line end. */
static struct frame
line(size_t len, size_t used)
{
	return (struct frame){FRAME_LINE, len, used, 0};
}

/* A piece of len bytes of an overlong line. */
static struct frame
part(size_t len)
{
	return (struct frame){FRAME_PART, len, len, 0};
}

/* Length of the UTF-8 sequence the byte c leads, or 0 if c leads none. */
static size_t
lead_len(unsigned char c)
{
	if (c >= 0xc2 && c <= 0xdf)
		return 2;
	if (c >= 0xe0 && c <= 0xef)
		return 3;
	if (c >= 0xf0 && c <= 0xf4)
		return 4;
	return 0;
}

/*
 * Where to cut an overlong line whose first n bytes (more than max_line,
 * no LF among the bytes looked at) are at p: max_line, or before the lead
 * byte of a valid UTF-8 character that max_line would cut in two, so both
 * pieces stay readable. Returns 0 when that depends on bytes not here yet
 * (only when more may come): at most FRAME_WINDOW(max_line) are needed.
 */
static size_t
cut_at(const char *p, size_t n, size_t max_line, bool more)
{
	const unsigned char *u = (const unsigned char *)p;

	if ((u[max_line] & 0xc0) != 0x80)
		return max_line;
	/* The byte at the cut continues a character: find the byte that
	 * leads it, at most 3 back. A CR or LF is never a continuation byte,
	 * so the character never reaches past the line's content. */
	for (size_t j = max_line; j-- > 0 && max_line - j <= 3;) {
		if ((u[j] & 0xc0) == 0x80)
			continue;
		size_t len = lead_len(u[j]);
		/* A piece is never empty: a character longer than max_line
		 * that starts the piece is cut at max_line. */
		if (len == 0 || j + len <= max_line || j == 0)
			return max_line;
		if (j + len > n)
			return more ? 0 : max_line;
		return escape_utf8_len(u + j, len) == len ? j : max_line;
	}
	return max_line;
}

/* Next message of a stream (see frame.h). */
struct frame
frame_next(const char *p, size_t n, size_t max_line)
{
	/* A line of max_line content bytes takes max_line + 2 with CRLF: no
	 * LF need be searched past that. */
	size_t span = n < max_line + 2 ? n : max_line + 2;
	const char *lf = memchr(p, '\n', span);
	size_t cut;

	if (lf != NULL) {
		size_t len = (size_t)(lf - p);
		size_t used = len + 1;
		if (len > 0 && p[len - 1] == '\r')
			len--;
		if (len <= max_line)
			return line(len, used);
		return part(cut_at(p, len, max_line, false));
	}
	/* No LF yet. Enough bytes to know the content is overlong, unless
	 * the byte after max_line is a CR that an LF may still follow. */
	if ((n > max_line + 1 || (n == max_line + 1 && p[max_line] != '\r')) &&
	    (cut = cut_at(p, n, max_line, true)) != 0)
		return part(cut);
	return (struct frame){FRAME_NEED, 0, 0, 0};
}

/* Next message of a stream that has ended (see frame.h). */
struct frame
frame_final(const char *p, size_t n, size_t max_line)
{
	struct frame f = frame_next(p, n, max_line);

	if (f.kind != FRAME_NEED || n == 0)
		return f;
	/* The tail has no LF and fits, or is content plus a CR, or ends
	 * inside a character that crosses the cut: no more bytes come. */
	if (n > max_line)
		return part(cut_at(p, n, max_line, false));
	return line(n, n);
}

/*
 * The body of an octet-counted frame (or what is left of one): want bytes
 * at p, n of them here. A body longer than max_line comes in pieces;
 * *left keeps what is still to come after this one.
 */
static struct frame
octet_body(const char *p, size_t n, size_t max_line, unsigned *left,
    size_t want, bool final)
{
	struct frame f = {FRAME_NEED, 0, 0, 0};

	if (want <= max_line) {
		if (n < want && !final)
			return f;
		f = line(n < want ? n : want, n < want ? n : want);
		*left = 0;
		return f;
	}
	if (n <= max_line && !final)
		return f;
	if (n <= max_line) {
		/* The stream ended inside a long frame: what came is the
		 * last piece. */
		*left = 0;
		return line(n, n);
	}
	size_t span = n < want ? n : want;
	size_t cut = cut_at(p, span, max_line, span < want && !final);
	if (cut == 0)
		return f;
	*left = (unsigned)(want - cut);
	return part(cut);
}

/* The next octet-counted message (see frame.h). */
struct frame
frame_octet(
    const char *p, size_t n, size_t max_line, unsigned *left, bool final)
{
	struct frame f = {FRAME_NEED, 0, 0, 0};
	unsigned long len = 0;
	size_t i;

	if (*left > 0)
		return octet_body(p, n, max_line, left, *left, final);
	for (i = 0; i < n && i < FRAME_OCTET_HEADER; i++) {
		if (p[i] < '0' || p[i] > '9')
			break;
		len = len * 10 + (unsigned long)(p[i] - '0');
	}
	if (i == n && i < FRAME_OCTET_HEADER) {
		/* Digits so far: a header cut short, unless it ends here. */
		if (n > 0 && p[0] == '0')
			f.kind = FRAME_ERROR;
		else if (final)
			f.used = n;
		return f;
	}
	if (i == 0 || i >= FRAME_OCTET_HEADER || p[0] == '0' || p[i] != ' ') {
		f.kind = FRAME_ERROR;
		return f;
	}
	size_t hdr = i + 1;
	f = octet_body(p + hdr, n - hdr, max_line, left, len, final);
	if (f.kind != FRAME_NEED) {
		f.skip = hdr;
		f.used += hdr;
	}
	return f;
}

/* A datagram's message length: one trailing LF or CRLF dropped. */
size_t
frame_datagram(const char *p, size_t n)
{
	if (n > 0 && p[n - 1] == '\n') {
		n--;
		if (n > 0 && p[n - 1] == '\r')
			n--;
	}
	return n;
}
