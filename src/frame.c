/* Line framing for TCP streams; datagram trimming for UDP. */
#include <string.h>

#include "frame.h"

/* A whole line of len content bytes, used bytes with its line end. */
static struct frame
line(size_t len, size_t used)
{
	return (struct frame){FRAME_LINE, len, used};
}

/* A max_line piece of an overlong line. */
static struct frame
part(size_t max_line)
{
	return (struct frame){FRAME_PART, max_line, max_line};
}

/* Next message of a stream (see frame.h). */
struct frame
frame_next(const char *p, size_t n, size_t max_line)
{
	/* A line of max_line content bytes takes max_line + 2 with CRLF: no
	 * LF need be searched past that. */
	size_t span = n < max_line + 2 ? n : max_line + 2;
	const char *lf = memchr(p, '\n', span);

	if (lf != NULL) {
		size_t len = (size_t)(lf - p);
		size_t used = len + 1;
		if (len > 0 && p[len - 1] == '\r')
			len--;
		if (len <= max_line)
			return line(len, used);
		return part(max_line);
	}
	/* No LF yet. Enough bytes to know the content is overlong, unless
	 * the byte after max_line is a CR that an LF may still follow. */
	if (n > max_line + 1 || (n == max_line + 1 && p[max_line] != '\r'))
		return part(max_line);
	return (struct frame){FRAME_NEED, 0, 0};
}

/* Next message of a stream that has ended (see frame.h). */
struct frame
frame_final(const char *p, size_t n, size_t max_line)
{
	struct frame f = frame_next(p, n, max_line);

	if (f.kind != FRAME_NEED || n == 0)
		return f;
	/* The tail has no LF and fits, or is content plus a CR. */
	if (n > max_line)
		return part(max_line);
	return line(n, n);
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
