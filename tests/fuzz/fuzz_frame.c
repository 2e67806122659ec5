/*
 * libFuzzer harness of frame.c. The first three bytes choose max_line and
 * how the rest, the stream, is cut into reads; the stream is fed through a
 * simulated input buffer with frame_next, then frame_final at the end. The
 * messages must rebuild the stream exactly and match both the same stream
 * fed whole and a reference framer written here, which finds the UTF-8
 * characters a cut would split by decoding them (fuzz_utf8_seq); the pieces
 * of a valid UTF-8 line must be valid UTF-8 each. The stream is also
 * trimmed as a datagram.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "fuzz.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#include <sanitizer/asan_interface.h>
#define FRAME_POISON(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#define FRAME_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#endif
#endif
#ifndef FRAME_POISON
#define FRAME_POISON(p, n) ((void)(p), (void)(n))
#define FRAME_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#define HEADER 3

/* One message as framed: where it starts in the stream and its frame. */
struct msg {
	size_t off;
	struct frame f;
};

/* How the stream arrives: read sizes from a seeded generator, and whether
 * the buffer is capped at FRAME_WINDOW(max_line) like the server's. */
struct feed {
	uint32_t state;
	size_t most; /* largest read */
	bool capped;
};

/* Next read size, 1..most (xorshift: cheap and deterministic). */
static size_t
feed_next(struct feed *fd)
{
	fd->state ^= fd->state << 13;
	fd->state ^= fd->state >> 17;
	fd->state ^= fd->state << 5;
	return 1 + fd->state % fd->most;
}

/*
 * Check one frame f of the avail buffered bytes at p (stream offset off of
 * n), from frame_final when final; the line end it drops must be LF or CRLF.
 */
static void
check_frame(const char *p, size_t avail, size_t max_line, struct frame f,
    bool final, size_t off, size_t n)
{
	FUZZ_CHECK(f.kind == FRAME_LINE || f.kind == FRAME_PART);
	FUZZ_CHECK(f.used >= 1 && f.used <= avail);
	FUZZ_CHECK(f.len <= f.used && f.len <= max_line);
	FUZZ_CHECK(memchr(p, '\n', f.len) == NULL);
	if (f.kind == FRAME_PART) {
		/* max_line, or 1 to 3 bytes less and then the next byte starts
		 * a valid character that max_line would have cut. */
		uint32_t cp;
		FUZZ_CHECK(
		    f.used == f.len && f.len >= 1 && f.len + 3 >= max_line);
		FUZZ_CHECK(
		    f.len == max_line ||
		    f.len + fuzz_utf8_seq((const unsigned char *)p + f.len,
		                avail - f.len, &cp) >
		        max_line);
		return;
	}
	switch (f.used - f.len) {
	case 0:
		/* No line end: only the stream's unterminated tail. */
		FUZZ_CHECK(final && off + f.used == n);
		break;
	case 1:
		FUZZ_CHECK(p[f.len] == '\n');
		FUZZ_CHECK(f.len == 0 || p[f.len - 1] != '\r');
		break;
	case 2:
		FUZZ_CHECK(p[f.len] == '\r' && p[f.len + 1] == '\n');
		break;
	default:
		FUZZ_CHECK(!"a line end longer than CRLF");
	}
}

/* Frame the buffered bytes [*start, end) of s with frame_next, appending to
 * out; the bytes past end are poisoned, as they have not arrived yet. */
static void
drain(const char *s, size_t n, size_t *start, size_t end, size_t max_line,
    struct msg *out, size_t *nout)
{
	for (;;) {
		size_t avail = end - *start;
		FRAME_POISON(s + end, n - end);
		struct frame f = frame_next(s + *start, avail, max_line);
		FRAME_UNPOISON(s + end, n - end);
		if (f.kind == FRAME_NEED) {
			/* FRAME_WINDOW bytes must always be enough. */
			FUZZ_CHECK(f.len == 0 && f.used == 0);
			FUZZ_CHECK(avail < FRAME_WINDOW(max_line));
			return;
		}
		check_frame(s + *start, avail, max_line, f, false, *start, n);
		out[(*nout)++] = (struct msg){*start, f};
		*start += f.used;
	}
}

/* Feed the n bytes at s read by read, then end the stream; returns the
 * number of messages written to out (room for n). */
static size_t
run(const char *s, size_t n, size_t max_line, struct feed *fd, struct msg *out)
{
	size_t start = 0, end = 0, nout = 0;

	while (end < n) {
		size_t want = fd != NULL ? feed_next(fd) : n;
		if (fd != NULL && fd->capped) {
			size_t room = FRAME_WINDOW(max_line) - (end - start);
			FUZZ_CHECK(room > 0);
			if (want > room)
				want = room;
		}
		end += want < n - end ? want : n - end;
		drain(s, n, &start, end, max_line, out, &nout);
	}
	while (start < n) {
		struct frame f = frame_final(s + start, n - start, max_line);
		check_frame(s + start, n - start, max_line, f, true, start, n);
		out[nout++] = (struct msg){start, f};
		start += f.used;
	}
	struct frame f = frame_final(s + n, 0, max_line);
	FUZZ_CHECK(f.kind == FRAME_NEED && f.len == 0 && f.used == 0);
	return nout;
}

/*
 * Bytes of the next piece of a line whose len content bytes (more than
 * max_line) are at p: max_line, unless a valid UTF-8 character starting
 * after the piece's first byte ends past max_line; the piece then ends
 * where that character starts.
 */
static size_t
ref_piece(const char *p, size_t len, size_t max_line)
{
	const unsigned char *u = (const unsigned char *)p;
	uint32_t cp;

	for (size_t k = 1; k < max_line; k++) {
		if (k + fuzz_utf8_seq(u + k, len - k, &cp) > max_line)
			return k;
	}
	return max_line;
}

/* The framing of the contract, line by line; returns the message count. */
static size_t
ref_frames(const char *s, size_t n, size_t max_line, struct msg *out)
{
	size_t i = 0, nout = 0;

	while (i < n) {
		const char *lf = memchr(s + i, '\n', n - i);
		size_t end = lf != NULL ? (size_t)(lf - s) : n;
		size_t eol = lf != NULL ? 1 : 0;
		if (lf != NULL && end > i && s[end - 1] == '\r') {
			end--;
			eol = 2;
		}
		size_t len = end - i;
		while (len > max_line) {
			size_t k = ref_piece(s + i, len, max_line);
			out[nout++] = (struct msg){i, {FRAME_PART, k, k}};
			len -= k;
			i += k;
		}
		out[nout++] = (struct msg){i, {FRAME_LINE, len, len + eol}};
		i += len + eol;
	}
	return nout;
}

/* Two message lists are the same messages. */
static bool
same(const struct msg *a, size_t na, const struct msg *b, size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++) {
		if (a[i].off != b[i].off || a[i].f.kind != b[i].f.kind ||
		    a[i].f.len != b[i].f.len || a[i].f.used != b[i].f.used)
			return false;
	}
	return true;
}

/* The messages with their line ends restored are the stream again. */
static void
check_rebuild(const char *s, size_t n, const struct msg *m, size_t nm)
{
	char *re = fuzz_alloc(n);
	size_t o = 0;

	for (size_t i = 0; i < nm; i++) {
		const struct frame *f = &m[i].f;
		FUZZ_CHECK(o + f->used <= n);
		memcpy(re + o, s + m[i].off, f->len);
		if (f->used - f->len == 2)
			memcpy(re + o + f->len, "\r\n", 2);
		else if (f->used - f->len == 1)
			re[o + f->len] = '\n';
		o += f->used;
	}
	FUZZ_CHECK(o == n);
	FUZZ_CHECK(n == 0 || memcmp(re, s, n) == 0);
	free(re);
}

/*
 * Each piece of a line that is valid UTF-8 is valid UTF-8 too, when
 * max_line can hold any character (>= 4): no character was cut in two.
 */
static void
check_pieces_valid(
    const char *s, const struct msg *m, size_t nm, size_t max_line)
{
	size_t first = 0;

	if (max_line < 4)
		return;
	for (size_t i = 0; i < nm; i++) {
		if (m[i].f.kind != FRAME_LINE)
			continue;
		size_t start = m[first].off;
		size_t end = m[i].off + m[i].f.len;
		if (fuzz_utf8_valid(s + start, end - start)) {
			for (size_t j = first; j <= i; j++)
				FUZZ_CHECK(
				    fuzz_utf8_valid(s + m[j].off, m[j].f.len));
		}
		first = i + 1;
	}
}

/* frame_datagram drops exactly one trailing LF or CRLF. */
static void
check_datagram(const char *s, size_t n)
{
	size_t want = n;

	if (want > 0 && s[want - 1] == '\n') {
		want--;
		if (want > 0 && s[want - 1] == '\r')
			want--;
	}
	FUZZ_CHECK(frame_datagram(s, n) == want);
}

/* One input: header bytes max_line, read sizes and seed; then the stream. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t most[] = {1, 2, 3, 7, 16, 64, 300, 4096};

	if (size < HEADER)
		return 0;
	size_t max_line = 1 + data[0];
	struct feed fd = {
	    .state = 0x9e3779b9u ^ (uint32_t)data[2] << 8 ^ data[1],
	    .most = most[data[1] & 7],
	    .capped = (data[1] & 8) != 0,
	};
	size_t n = size - HEADER;
	char *s = fuzz_dup(data + HEADER, n);
	struct msg *chunked = fuzz_alloc((n + 1) * sizeof *chunked);
	struct msg *whole = fuzz_alloc((n + 1) * sizeof *whole);
	struct msg *ref = fuzz_alloc((n + 1) * sizeof *ref);

	size_t nchunked = run(s, n, max_line, &fd, chunked);
	size_t nwhole = run(s, n, max_line, NULL, whole);
	size_t nref = ref_frames(s, n, max_line, ref);
	check_rebuild(s, n, chunked, nchunked);
	check_pieces_valid(s, chunked, nchunked, max_line);
	FUZZ_CHECK(same(chunked, nchunked, whole, nwhole));
	FUZZ_CHECK(same(chunked, nchunked, ref, nref));
	check_datagram(s, n);

	free(ref);
	free(whole);
	free(chunked);
	free(s);
	return 0;
}
