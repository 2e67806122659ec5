/* Line framing for TCP streams and datagram trimming for UDP. Pure. */
#ifndef PEERLOG_FRAME_H
#define PEERLOG_FRAME_H

#include <stdbool.h>
#include <stddef.h>

enum frame_kind {
	FRAME_NEED,  /* no complete message yet: wait for more bytes */
	FRAME_LINE,  /* a whole line (or the final tail at end of stream) */
	FRAME_PART,  /* a piece of an overlong line (see frame_next) */
	FRAME_ERROR, /* not a frame (frame_octet): the stream is broken */
};

struct frame {
	enum frame_kind kind;
	size_t len;  /* message bytes, from skip on (no CR/LF) */
	size_t used; /* input bytes the message consumes (line end included) */
	size_t skip; /* bytes before the message (an octet count's header) */
};

/*
 * Most bytes of a stream frame_next needs to see to frame a message: with
 * this many it never returns FRAME_NEED. Past max_line it may need a CR LF,
 * or the rest of a UTF-8 character that a cut at max_line would split.
 */
#define FRAME_WINDOW(max_line) ((max_line) + 3)

/*
 * Find the next message in the n bytes at p of a stream. LF ends a line and
 * a CR right before it is dropped. A line whose content is longer than
 * max_line (>= 1) comes out as FRAME_PART pieces (len == used) of max_line
 * bytes, except that a piece ends before a valid UTF-8 character that
 * would be cut in two: when the byte at max_line continues a character
 * whose lead byte is at max_line - 3 or later (not at 0: a piece is never
 * empty) and the character is valid, the piece ends before its lead byte,
 * so it is 1 to 3 bytes shorter. Invalid bytes are cut at max_line.
 */
struct frame frame_next(const char *p, size_t n, size_t max_line);

/*
 * Like frame_next, but the stream has ended: bytes with no LF after them are
 * still one message (FRAME_LINE), or pieces of it when longer than max_line.
 * Returns FRAME_NEED only when n is 0.
 */
struct frame frame_final(const char *p, size_t n, size_t max_line);

/* Longest octet-count header: 9 digits and a space. */
#define FRAME_OCTET_HEADER 10

/*
 * RFC 6587 octet counting ("LEN SP MSG", as syslog over TLS sends): the
 * next message in the n bytes at p. LEN is 1 to 9 decimal digits, the first
 * not 0; MSG is LEN bytes of any kind (an LF in it is message content).
 * *left carries between calls what is still to come of a frame longer than
 * max_line, which comes out in FRAME_PART pieces cut as frame_next cuts an
 * overlong line, its last piece FRAME_LINE; it is 0 when a header is next.
 * The message is len bytes at p + skip; used bytes are consumed.
 * FRAME_NEED: the frame (at most FRAME_OCTET_HEADER + FRAME_WINDOW(max_line)
 * bytes are looked at) is not all here yet; nothing is consumed. FRAME_ERROR:
 * the header is malformed. With final (the stream has ended) a frame cut
 * short is a message of what came (FRAME_LINE), and a header cut short is
 * used up with no message (len 0, used n, kind FRAME_NEED).
 */
struct frame frame_octet(
    const char *p, size_t n, size_t max_line, unsigned *left, bool final);

/* Length of a datagram's message: one trailing LF or CRLF dropped. */
size_t frame_datagram(const char *p, size_t n);

#endif
