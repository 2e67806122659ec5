/* Formatting of log records, text and JSON, into caller memory. Pure. */
#ifndef PEERLOG_RECORD_H
#define PEERLOG_RECORD_H

#include <stdbool.h>
#include <stddef.h>

#include "escape.h"
#include "frame.h"
#include "ts.h"

/*
 * TEXT and JSON are lines for people and files. FIELDS is for outputs that
 * store a record's fields apart (a Redis stream): one record is a 4-byte
 * little-endian length of what follows, then its fields in the JSON
 * record's order, each a type byte (RECORD_FIELD_*), a 1-byte key length,
 * the key, a 4-byte little-endian value length and the value's bytes, a
 * message exactly as received.
 */
enum record_fmt { RECORD_TEXT, RECORD_JSON, RECORD_FIELDS };

enum record_field_type {
	RECORD_FIELD_OURS = 'S',  /* our own text (ts, proto, reason=...) */
	RECORD_FIELD_BYTES = 'X', /* bytes from elsewhere (a name): escaped */
	RECORD_FIELD_NUM = 'N',   /* a decimal number */
	RECORD_FIELD_MSG = 'M',   /* the message's bytes */
};

/* One field of a RECORD_FIELDS record: pointers into the record. */
struct record_field {
	enum record_field_type type;
	const char *key;
	size_t key_len;
	const char *val;
	size_t len;
};

enum record_event {
	RECORD_CONNECT,
	RECORD_MSG,
	RECORD_MSG_CONT, /* "msg+": a piece of an overlong line */
	RECORD_DISCONNECT,
	RECORD_REJECT,
	RECORD_STATS,
	RECORD_START,
	RECORD_STOP,
};

/*
 * One key=value of a record's detail. A str with num 0 is our own text,
 * written as it is; with num > 0 it is num bytes from elsewhere (a
 * certificate's name, a TLS library's reason), escaped by the format: JSON
 * string escapes, or in text escape_word's (the message escaping, a space
 * written \x20), so the value stays one word.
 */
struct record_kv {
	const char *key;
	const char *str;        /* string value, or NULL for num */
	unsigned long long num; /* the number, or str's length to escape */
};

struct record {
	const char *ts;    /* ts_format() text */
	const char *proto; /* "tcp", "udp" or "-" */
	const char *peer;  /* addr_format() text or "-" */
	enum record_event event;
	const void *msg; /* message bytes for RECORD_MSG / RECORD_MSG_CONT */
	size_t msg_len;
	const struct record_kv *kv; /* detail for the other events */
	size_t nkv;
};

/* An upper bound of the formatted length of r, line end included. */
size_t record_max(const struct record *r, enum record_fmt fmt);

/*
 * Format r as one line ending in LF into dst (room for record_max bytes);
 * returns the length written.
 */
size_t record_format(char *dst, const struct record *r, enum record_fmt fmt);

/*
 * The part of a peer's message records that never changes, formatted once
 * (at accept, or per UDP sender) so the per-message path copies it whole:
 * text " PROTO PEER ", JSON ","proto":"P","peer":"A","event":".
 */
#define RECORD_HEAD_MAX 128 /* a multiple of RECORD_HEAD_BLOCK */
#define RECORD_HEAD_BLOCK 32
struct record_head {
	enum record_fmt fmt;
	unsigned char len;
	/* JSON: fields every msg record of the peer carries after msg
	 * (",\"cn\":...,\"fp\":..." of a TLS client with a certificate). */
	const char *tail;
	size_t tail_len;
	char text[RECORD_HEAD_MAX]; /* copied in whole blocks: see record.c */
};

/* Most bytes of a head's tail: a 255-byte name JSON-escaped, and a
 * fingerprint. */
#define RECORD_TAIL_MAX (ESCAPE_JSON_MAX(255) + 96)

/* Format the head for proto and peer (an addr_format text or "-"); no
 * tail. */
void record_head_init(struct record_head *h, enum record_fmt fmt,
    const char *proto, const char *peer);

/* An upper bound of record_msg's length for a message of len bytes: ts,
 * head, JSON punctuation and the lossy flag, a tail, the escaped message. */
static inline size_t
record_msg_max(size_t len)
{
	return TS_LEN + RECORD_HEAD_MAX + 48 + RECORD_TAIL_MAX +
	       ESCAPE_JSON_MAX(len);
}

/*
 * Format a msg (or, with cont, msg+) record: the same bytes record_format
 * makes for it, without measuring any string. ts is ts_format() text.
 */
size_t record_msg(char *dst, const struct record_head *h, const char *ts,
    bool cont, const void *msg, size_t len);

/*
 * Frame and format in one pass, for text records: when the n stream bytes
 * at buf begin with a whole line of at most max_line content bytes (as
 * frame_next finds it), write its msg record into dst (room for
 * record_msg_max of n or max_line + 2, the smaller), set *f as frame_next
 * would, and return the record's length. Return 0 when they do not (no LF yet,
 * or an overlong line): the caller then uses frame_next and record_msg.
 */
size_t record_msg_line(char *dst, const struct record_head *h, const char *ts,
    const char *buf, size_t n, size_t max_line, struct frame *f);

/* Count the whole records in n bytes of fmt at p. */
unsigned long long record_count(enum record_fmt fmt, const char *p, size_t n);

/*
 * The length of the RECORD_FIELDS record at the start of the n bytes at p,
 * or 0 when they do not hold a whole, well-formed one.
 */
size_t record_fields_len(const char *p, size_t n);

/*
 * The next field of the record at rec (record_fields_len bytes) from
 * *off (start at 0): false at its end.
 */
bool record_field_next(
    const char *rec, size_t len, size_t *off, struct record_field *f);

/* An upper bound of record_fields_format's length for a record of len
 * bytes. */
#define RECORD_FIELDS_FMT_MAX(len) (32 + ESCAPE_JSON_MAX(len))

/*
 * Format the RECORD_FIELDS record at rec (record_fields_len bytes) as fmt
 * (RECORD_TEXT or RECORD_JSON): the line record_format or record_msg makes
 * for the same record.
 */
size_t record_fields_format(
    char *dst, const char *rec, size_t len, enum record_fmt fmt);

/*
 * The fields every message record of a peer carries after msg (a TLS
 * client's cn and fp), formatted once for fmt: JSON ,"key":"value" pairs or
 * RECORD_FIELDS fields; text records carry none. The values are bytes from
 * elsewhere (kv's num is str's length, or 0 for a NUL-terminated str).
 * Returns the length; dst has room for RECORD_TAIL_MAX.
 */
size_t record_tail(
    char *dst, enum record_fmt fmt, const struct record_kv *kv, size_t nkv);

/* The event's name in records ("connect", "msg+", ...). */
const char *record_event_name(enum record_event ev);

#endif
