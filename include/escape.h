/* Escaping of peer bytes for log records: the only path by which a peer's
 * bytes reach the log. Pure functions, no allocation. */
#ifndef PEERLOG_ESCAPE_H
#define PEERLOG_ESCAPE_H

#include <stdbool.h>
#include <stddef.h>

/* Upper bound of escape_text output for n input bytes ("\xHH" per byte). */
#define ESCAPE_TEXT_MAX(n) ((n)*4)
/* Upper bound of escape_json output for n input bytes ("\u00HH" per byte). */
#define ESCAPE_JSON_MAX(n) ((n)*6)

/*
 * Escape n bytes at src for the text format into dst, which has room for
 * ESCAPE_TEXT_MAX(n) bytes; returns the bytes written (no NUL).
 * Printable ASCII and valid UTF-8 (other than C1 controls) pass as they are;
 * '\' becomes "\\"; TAB, CR, LF become "\t", "\r", "\n"; every other byte
 * becomes "\xHH" (lower-case hex).
 */
size_t escape_text(char *dst, const void *src, size_t n);

/*
 * escape_text for the bytes at src before the first LF among the n there
 * (all n when there is none), into dst with room for ESCAPE_TEXT_MAX(n).
 * *used gets the bytes escaped: the LF's offset, or n. Framing and escaping
 * a line in one pass over it.
 */
size_t escape_text_line(char *dst, const void *src, size_t n, size_t *used);

/*
 * Escape n bytes at src as the body of a JSON string (no quotes) into dst,
 * which has room for ESCAPE_JSON_MAX(n) bytes; returns the bytes written.
 * Bytes that are not valid UTF-8 become U+FFFD, one per byte, and *lossy is
 * set to true (it is never cleared).
 */
size_t escape_json(char *dst, const void *src, size_t n, bool *lossy);

/* Upper bound of escape_word output for n input bytes, with its NUL. */
#define ESCAPE_WORD_MAX(n) ((n)*4 + 1)

/*
 * escape_text, and a space written "\x20", so that the result is one word:
 * a value in a record's key=value detail (a certificate's name, a TLS
 * library's reason). Writes at most ESCAPE_WORD_MAX(n) bytes, NUL-ended;
 * returns the length without the NUL.
 */
size_t escape_word(char *dst, const void *src, size_t n);

/*
 * Reverse escape_text: decode n bytes at src into dst (room for n bytes).
 * Returns the decoded length, or (size_t)-1 if src is not a well-formed
 * escaped string. Used by tests and fuzzers to prove escaping is lossless.
 */
size_t unescape_text(char *dst, const char *src, size_t n);

/*
 * Length of the valid UTF-8 sequence of 2 to 4 bytes at p (n bytes
 * available), or 0 if p does not start one (overlong forms, surrogates and
 * code points above U+10FFFF are invalid).
 */
size_t escape_utf8_len(const unsigned char *p, size_t n);

#endif
