/*
 * libFuzzer harness of frame_octet (RFC 6587 octet counting, frame.c). The
 * first four bytes choose max_line, how the stream is cut into reads, a
 * seed and a mode. Built mode: the rest of the input is a list of
 * messages, encoded here as "LEN SP MSG" frames, optionally followed by a
 * frame cut short, a count cut short or a malformed count; raw mode: the
 * rest of the input is the stream itself, judged by a reference parser
 * written here. Either way the stream is fed as the server feeds it (the
 * unconsumed bytes kept, more appended, optionally capped at
 * FRAME_OCTET_HEADER + FRAME_WINDOW(max_line)), then ended with final; the
 * pieces must be the messages cut as the contract cuts an overlong line
 * (found by decoding the UTF-8 characters, fuzz_utf8_seq), each at most
 * max_line bytes and a FRAME_PART at least max_line - 3, FRAME_NEED must
 * consume nothing, and a malformed count must give FRAME_ERROR exactly
 * where it starts, with the messages before it intact.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "fuzz.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#include <sanitizer/asan_interface.h>
#define OCTET_POISON(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#define OCTET_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#endif
#endif
#ifndef OCTET_POISON
#define OCTET_POISON(p, n) ((void)(p), (void)(n))
#define OCTET_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#define HEADER 4
#define MAX_COUNT 999999999ul /* the largest 9-digit count */

/* Mode byte: raw stream, the tail after the frames, the kind of malformed
 * count, and long messages. */
#define MODE_RAW 0x01
#define MODE_TAIL(m) (((m) >> 1) & 3)
#define MODE_BAD(m) (((m) >> 3) & 3)
#define MODE_BIG 0x20

enum tail { TAIL_NONE, TAIL_FRAME_SHORT, TAIL_COUNT_SHORT, TAIL_MALFORMED };


/* How the stream arrives: read sizes 1..most, and whether the buffer is
 * capped at the server's window. */
struct feed {
	struct rng rng;
	size_t most;
	bool capped;
};

/* One piece as framed: where its bytes are in the stream, and its frame. */
struct piece {
	size_t off;
	struct frame f;
};

/* A message the stream must give: len bytes at off in the stream. */
struct wmsg {
	size_t off;
	size_t len;
};

/* What framing the whole stream must give. */
struct want {
	struct wmsg *m;
	size_t n;
	bool error; /* it ends at a malformed count */
	size_t end; /* bytes consumed: up to the malformed count, else all */
};

/* What the framer gave. */
struct got {
	struct piece *p;
	size_t n;
	bool error;
	size_t end;
};

/* Whether c is a decimal digit (not isdigit: no locale). */
static bool
digit(char c)
{
	return c >= '0' && c <= '9';
}

/*
 * Check one frame that frame_octet gave for the avail bytes at s + start
 * (stream of n bytes), *left before the call in before and after it in
 * left; append a message piece to g. Returns the bytes consumed, or
 * (size_t)-1 when the frame says to stop reading (NEED that consumed
 * nothing, or ERROR).
 */
static size_t
check_frame(const char *s, size_t start, size_t avail, size_t max_line,
    struct frame f, unsigned before, unsigned left, bool final, struct got *g)
{
	const char *p = s + start;

	switch (f.kind) {
	case FRAME_ERROR:
		FUZZ_CHECK(f.len == 0 && f.used == 0 && f.skip == 0);
		FUZZ_CHECK(left == before && before == 0);
		g->error = true;
		return (size_t)-1;
	case FRAME_NEED:
		FUZZ_CHECK(f.len == 0 && f.skip == 0 && left == before);
		if (f.used == 0) {
			/* The window is always enough; at the end nothing is
			 * left behind. */
			FUZZ_CHECK(avail <
			           FRAME_OCTET_HEADER + FRAME_WINDOW(max_line));
			FUZZ_CHECK(!final || avail == 0);
			return (size_t)-1;
		}
		/* Only a count cut short by the end is used up this way. */
		FUZZ_CHECK(final && before == 0 && f.used == avail);
		FUZZ_CHECK(avail <= 9 && p[0] != '0');
		for (size_t i = 0; i < avail; i++)
			FUZZ_CHECK(digit(p[i]));
		return f.used;
	case FRAME_LINE:
	case FRAME_PART:
		break;
	default:
		FUZZ_CHECK(!"an unknown frame kind");
	}
	FUZZ_CHECK(f.used >= 1 && f.used <= avail);
	FUZZ_CHECK(f.used == f.skip + f.len && f.len <= max_line);
	if (before > 0) {
		FUZZ_CHECK(f.skip == 0);
	} else {
		/* The header: 1 to 9 digits, the first not 0, a space. */
		FUZZ_CHECK(f.skip >= 2 && f.skip <= FRAME_OCTET_HEADER);
		FUZZ_CHECK(p[0] != '0' && p[f.skip - 1] == ' ');
		for (size_t i = 0; i + 1 < f.skip; i++)
			FUZZ_CHECK(digit(p[i]));
	}
	if (f.kind == FRAME_PART) {
		FUZZ_CHECK(f.len >= 1 && f.len + 3 >= max_line);
		FUZZ_CHECK(left > 0);
		if (before > 0)
			FUZZ_CHECK(left == before - f.len);
	} else {
		FUZZ_CHECK(left == 0);
		if (before > 0 && !final)
			FUZZ_CHECK(f.len == before);
	}
	g->p[g->n++] = (struct piece){start + f.skip, f};
	return f.used;
}

/* Frame the buffered bytes [*start, end) of the n at s until NEED or
 * ERROR; the bytes past end are poisoned, as they have not arrived. */
static void
drain(const char *s, size_t n, size_t *start, size_t end, size_t max_line,
    unsigned *left, bool final, struct got *g)
{
	for (;;) {
		size_t avail = end - *start;
		unsigned before = *left;
		OCTET_POISON(s + end, n - end);
		struct frame f =
		    frame_octet(s + *start, avail, max_line, left, final);
		OCTET_UNPOISON(s + end, n - end);
		size_t used = check_frame(
		    s, *start, avail, max_line, f, before, *left, final, g);
		if (used == (size_t)-1)
			return;
		*start += used;
	}
}

/* Feed the n bytes at s read by read (all at once without fd), then end
 * the stream; g->p has room for n + 1 pieces. */
static void
run(const char *s, size_t n, size_t max_line, struct feed *fd, struct got *g)
{
	size_t start = 0, end = 0;
	unsigned left = 0;

	g->n = 0;
	g->error = false;
	while (end < n && !g->error) {
		size_t want =
		    fd != NULL ? 1 + rng_next(&fd->rng) % fd->most : n;
		if (fd != NULL && fd->capped) {
			size_t cap =
			    FRAME_OCTET_HEADER + FRAME_WINDOW(max_line);
			FUZZ_CHECK(end - start < cap);
			if (want > cap - (end - start))
				want = cap - (end - start);
		}
		end += want < n - end ? want : n - end;
		drain(s, n, &start, end, max_line, &left, false, g);
	}
	if (!g->error)
		drain(s, n, &start, n, max_line, &left, true, g);
	g->end = start;
}

/*
 * Bytes of the next piece of a message whose len bytes (more than
 * max_line) are at u: max_line, unless a valid UTF-8 character starting
 * after the piece's first byte ends past max_line; the piece then ends
 * where that character starts.
 */
static size_t
ref_piece(const unsigned char *u, size_t len, size_t max_line)
{
	uint32_t cp;

	for (size_t k = 1; k < max_line; k++) {
		if (k + fuzz_utf8_seq(u + k, len - k, &cp) > max_line)
			return k;
	}
	return max_line;
}

/* The pieces must be the wanted messages, cut by ref_piece, in order;
 * the outcome the same. */
static void
check_got(
    const char *s, size_t max_line, const struct want *w, const struct got *g)
{
	size_t k = 0;

	for (size_t j = 0; j < w->n; j++) {
		size_t off = w->m[j].off, len = w->m[j].len;
		for (;;) {
			bool last = len <= max_line;
			size_t piece =
			    last ? len
			         : ref_piece((const unsigned char *)s + off,
			               len, max_line);
			FUZZ_CHECK(k < g->n);
			FUZZ_CHECK(g->p[k].off == off);
			FUZZ_CHECK(g->p[k].f.len == piece);
			FUZZ_CHECK(
			    g->p[k].f.kind == (last ? FRAME_LINE : FRAME_PART));
			k++;
			off += piece;
			len -= piece;
			if (last)
				break;
		}
	}
	FUZZ_CHECK(k == g->n);
	FUZZ_CHECK(g->error == w->error);
	FUZZ_CHECK(g->end == w->end);
}

/* The framing of a raw stream by the contract: count the digits, check
 * them, read LEN with strtoul, take LEN bytes or what is left. */
static void
ref_parse(const char *s, size_t n, struct want *w)
{
	size_t i = 0;

	w->n = 0;
	w->error = false;
	while (i < n) {
		size_t d = 0;
		char num[16];

		while (i + d < n && digit(s[i + d]))
			d++;
		if (d == 0 || d > 9 || s[i] == '0') {
			w->error = true;
			break;
		}
		if (i + d == n) {
			i = n; /* a count cut short: nothing */
			break;
		}
		if (s[i + d] != ' ') {
			w->error = true;
			break;
		}
		memcpy(num, s + i, d);
		num[d] = '\0';
		size_t len = strtoul(num, NULL, 10);
		size_t at = i + d + 1;
		size_t came = n - at < len ? n - at : len;
		w->m[w->n++] = (struct wmsg){at, came};
		i = at + came;
	}
	w->end = i;
}

/* A stream being built, with room for what is appended. */
struct out {
	char *b;
	size_t n;
};

/* Append len bytes. */
static void
out_put(struct out *o, const void *p, size_t len)
{
	memcpy(o->b + o->n, p, len);
	o->n += len;
}

/* Append a count and its space. */
static void
out_count(struct out *o, unsigned long len)
{
	o->n += (size_t)sprintf(o->b + o->n, "%lu ", len);
}

/* Append d digits, the first not 0, with nothing after them. */
static void
out_digits(struct out *o, struct rng *r, size_t d)
{
	for (size_t i = 0; i < d; i++)
		o->b[o->n++] = (char)((
		    i == 0 ? '1' + rng_next(r) % 9 : '0' + rng_next(r) % 10));
}

/*
 * Build a stream from the m input bytes at in: messages (a length byte,
 * then that many bytes, 1 to 256, or up to 9436 with big), encoded as
 * frames, then the tail. Fills w with what framing it must give; returns
 * the stream's length (o->b has room: see the caller).
 */
static size_t
build(const uint8_t *in, size_t m, uint8_t mode, struct rng *r, struct out *o,
    struct want *w)
{
	size_t i = 0;

	w->n = 0;
	w->error = false;
	while (i < m) {
		size_t len = (size_t)in[i++] * ((mode & MODE_BIG) ? 37 : 1) + 1;
		size_t take = m - i < len ? m - i : len;
		out_count(o, len);
		w->m[w->n++] = (struct wmsg){o->n, len};
		out_put(o, in + i, take);
		/* Too few input bytes left: repeat those taken. */
		for (size_t k = take; k < len; k++)
			o->b[o->n++] = take > 0 ? (char)in[i + k % take] : 'a';
		i += take;
	}
	switch (MODE_TAIL(mode)) {
	case TAIL_FRAME_SHORT: {
		/* LEN announced, fewer bytes sent: what came is a message. */
		size_t came = rng_next(r) % 600;
		unsigned long len =
		    came + 1 + rng_next(r) % (MAX_COUNT - (unsigned long)came);
		out_count(o, len);
		w->m[w->n++] = (struct wmsg){o->n, came};
		for (size_t k = 0; k < came; k++)
			o->b[o->n++] = (char)rng_next(r);
		break;
	}
	case TAIL_COUNT_SHORT:
		out_digits(o, r, 1 + rng_next(r) % 9);
		break;
	case TAIL_MALFORMED: {
		w->error = true;
		w->end = o->n;
		char c = (char)rng_next(r);
		switch (MODE_BAD(mode)) {
		case 0: /* a byte that is no digit */
			o->b[o->n++] = digit(c) ? 'x' : c;
			break;
		case 1: /* a leading 0 */
			o->b[o->n++] = '0';
			out_digits(o, r, rng_next(r) % 9);
			o->b[o->n++] = ' ';
			break;
		case 2: /* 10 to 12 digits */
			out_digits(o, r, 10 + rng_next(r) % 3);
			o->b[o->n++] = ' ';
			break;
		default: /* 1 to 9 digits and no space */
			out_digits(o, r, 1 + rng_next(r) % 9);
			o->b[o->n++] = digit(c) || c == ' ' ? 'x' : c;
			break;
		}
		out_put(o, "5 hello", 7);
		return o->n;
	}
	}
	w->end = o->n;
	return o->n;
}

/* One input: max_line, read pattern, seed and mode; then the messages or
 * the raw stream. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t most[] = {1, 2, 3, 7, 16, 64, 300, 4096};

	if (size < HEADER)
		return 0;
	size_t max_line = 1 + data[0];
	uint8_t mode = data[3];
	struct rng r = {0x9e3779b9u ^ (uint32_t)data[2] << 16 ^
	                (uint32_t)data[1] << 8 ^ mode};
	struct feed fd = {
	    .rng = {r.s ^ 0x5bd1e995u},
	    .most = most[data[1] & 7],
	    .capped = (data[1] & 8) != 0,
	};
	const uint8_t *in = data + HEADER;
	size_t m = size - HEADER, n;
	char *s;
	struct want w;

	if (mode & MODE_RAW) {
		n = m;
		s = fuzz_dup(in, n);
		w.m = fuzz_alloc((n + 1) * sizeof *w.m);
		ref_parse(s, n, &w);
	} else {
		/* Each message takes at least one input byte and has a count
		 * of at most 4 digits and a space; only the last one made
		 * longer than the input bytes it takes, by at most 9436. The
		 * tail is at most 10 + 599 or 13 + 1 + 7 bytes, and sprintf
		 * writes a NUL after a count. */
		size_t room = 6 * m + 9436 + 640;
		struct out o = {fuzz_alloc(room), 0};
		w.m = fuzz_alloc((m + 2) * sizeof *w.m);
		n = build(in, m, mode, &r, &o, &w);
		FUZZ_CHECK(n <= room);
		s = fuzz_dup(o.b, n); /* sized exactly, for ASan */
		free(o.b);
	}

	struct got chunked = {
	    fuzz_alloc((n + 1) * sizeof(struct piece)), 0, false, 0};
	struct got whole = {
	    fuzz_alloc((n + 1) * sizeof(struct piece)), 0, false, 0};
	run(s, n, max_line, &fd, &chunked);
	run(s, n, max_line, NULL, &whole);
	check_got(s, max_line, &w, &chunked);
	check_got(s, max_line, &w, &whole);

	free(whole.p);
	free(chunked.p);
	free(w.m);
	free(s);
	return 0;
}
