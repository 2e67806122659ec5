/* Log records in the text and JSON formats. */
#include <string.h>

#include "escape.h"
#include "record.h"
#include "ts.h"

static const char *const event_names[] = {
    [RECORD_CONNECT] = "connect",
    [RECORD_MSG] = "msg",
    [RECORD_MSG_CONT] = "msg+",
    [RECORD_DISCONNECT] = "disconnect",
    [RECORD_REJECT] = "reject",
    [RECORD_STATS] = "stats",
    [RECORD_START] = "start",
    [RECORD_STOP] = "stop",
};

/* The event's name in records. */
const char *
record_event_name(enum record_event ev)
{
	return event_names[ev];
}

/* Whether the event carries a peer's message. */
static int
has_msg(const struct record *r)
{
	return r->event == RECORD_MSG || r->event == RECORD_MSG_CONT;
}

/* Upper bound of the formatted length (see record.h). */
size_t
record_max(const struct record *r, enum record_fmt fmt)
{
	/* JSON punctuation around the four fixed fields and the msg, lossy
	 * flag and line end: generously rounded up. */
	size_t n = 96 + strlen(r->ts) + strlen(r->proto) + strlen(r->peer) +
	           strlen(event_names[r->event]);

	if (has_msg(r))
		n += fmt == RECORD_JSON ? ESCAPE_JSON_MAX(r->msg_len)
		                        : ESCAPE_TEXT_MAX(r->msg_len);
	for (size_t i = 0; i < r->nkv; i++) {
		/* ,"key":"value" or ,"key":20-digit number */
		const struct record_kv *kv = &r->kv[i];
		n += 6 + strlen(kv->key) +
		     (kv->str == NULL  ? 20
		         : kv->num > 0 ? ESCAPE_JSON_MAX((size_t)kv->num)
		                       : strlen(kv->str));
	}
	return n;
}

/* Append the NUL-terminated s at d; return the new end. */
static char *
put(char *d, const char *s)
{
	size_t len = strlen(s);
	memcpy(d, s, len);
	return d + len;
}

/* Append s at d but not past end; return the new end. */
static char *
put_upto(char *d, const char *end, const char *s)
{
	size_t len = strnlen(s, (size_t)(end - d));

	memcpy(d, s, len);
	return d + len;
}

/* Append v in decimal at d; return the new end. */
static char *
put_num(char *d, unsigned long long v)
{
	char tmp[24];
	int i = (int)sizeof(tmp);

	do {
		tmp[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	memcpy(d, tmp + i, sizeof(tmp) - (size_t)i);
	return d + (sizeof(tmp) - (size_t)i);
}

/* TIMESTAMP PROTO PEER EVENT[ DETAIL] */
static size_t
format_text(char *dst, const struct record *r)
{
	char *d = dst;

	d = put(d, r->ts);
	*d++ = ' ';
	d = put(d, r->proto);
	*d++ = ' ';
	d = put(d, r->peer);
	*d++ = ' ';
	d = put(d, event_names[r->event]);
	if (has_msg(r)) {
		*d++ = ' ';
		d += escape_text(d, r->msg, r->msg_len);
	}
	for (size_t i = 0; i < r->nkv; i++) {
		*d++ = ' ';
		d = put(d, r->kv[i].key);
		*d++ = '=';
		if (r->kv[i].str != NULL && r->kv[i].num > 0)
			d += escape_word(d, r->kv[i].str, (size_t)r->kv[i].num);
		else if (r->kv[i].str != NULL)
			d = put(d, r->kv[i].str);
		else
			d = put_num(d, r->kv[i].num);
	}
	*d++ = '\n';
	return (size_t)(d - dst);
}

/* Append ,"key":" at d; return the new end. */
static char *
put_key(char *d, const char *key)
{
	*d++ = ',';
	*d++ = '"';
	d = put(d, key);
	*d++ = '"';
	*d++ = ':';
	return d;
}

/* One JSON object on one line. */
static size_t
format_json(char *dst, const struct record *r)
{
	char *d = dst;
	bool lossy = false;

	d = put(d, "{\"ts\":\"");
	d = put(d, r->ts);
	d = put(d, "\",\"proto\":\"");
	d = put(d, r->proto);
	d = put(d, "\",\"peer\":\"");
	d = put(d, r->peer);
	d = put(d, "\",\"event\":\"");
	d = put(d, event_names[r->event]);
	*d++ = '"';
	if (has_msg(r)) {
		d = put_key(d, "msg");
		*d++ = '"';
		d += escape_json(d, r->msg, r->msg_len, &lossy);
		*d++ = '"';
	}
	for (size_t i = 0; i < r->nkv; i++) {
		d = put_key(d, r->kv[i].key);
		if (r->kv[i].str != NULL) {
			*d++ = '"';
			if (r->kv[i].num > 0)
				d += escape_json(d, r->kv[i].str,
				    (size_t)r->kv[i].num, &lossy);
			else
				d = put(d, r->kv[i].str);
			*d++ = '"';
		} else {
			d = put_num(d, r->kv[i].num);
		}
	}
	if (lossy)
		d = put(d, ",\"lossy\":true");
	*d++ = '}';
	*d++ = '\n';
	return (size_t)(d - dst);
}

/* Format r as one line (see record.h). */
size_t
record_format(char *dst, const struct record *r, enum record_fmt fmt)
{
	return fmt == RECORD_JSON ? format_json(dst, r) : format_text(dst, r);
}

/* Append a string literal at d, its length known at compile time. */
#define PUT_LIT(d, lit)                                                        \
	do {                                                                   \
		memcpy((d), (lit), sizeof(lit) - 1);                           \
		(d) += sizeof(lit) - 1;                                        \
	} while (0)

/* Format a peer's constant record head (see record.h). */
void
record_head_init(struct record_head *h, enum record_fmt fmt, const char *proto,
    const char *peer)
{
	static const char jp[] = "\",\"proto\":\"", jq[] = "\",\"peer\":\"",
	                  je[] = "\",\"event\":\"";
	char *d = h->text, *end = h->text + RECORD_HEAD_MAX;

	/* Bounded: the punctuation always fits, the texts are cut to the
	 * room left for them (ours, and far shorter in practice). */
	h->fmt = fmt;
	h->tail = NULL;
	h->tail_len = 0;
	if (fmt == RECORD_JSON) {
		d = put(d, jp);
		d = put_upto(
		    d, end - (sizeof(jq) - 1) - (sizeof(je) - 1), proto);
		d = put(d, jq);
		d = put_upto(d, end - (sizeof(je) - 1), peer);
		d = put(d, je);
	} else {
		*d++ = ' ';
		d = put_upto(d, end - 2, proto);
		*d++ = ' ';
		d = put_upto(d, end - 1, peer);
		*d++ = ' ';
	}
	h->len = (unsigned char)(d - h->text);
}

/*
 * Copy the head in whole blocks of a fixed size, which the compiler turns
 * into a few vector moves (a copy of a varying length costs more than the
 * record's other work). Up to a block past the head is written: room that
 * record_msg_max counts, overwritten by what follows.
 */
static char *
put_head(char *d, const struct record_head *h)
{
	for (size_t o = 0; o < h->len; o += RECORD_HEAD_BLOCK)
		memcpy(d + o, h->text + o, RECORD_HEAD_BLOCK);
	return d + h->len;
}

/* A message record on the per-message path (see record.h). */
size_t
record_msg(char *dst, const struct record_head *h, const char *ts, bool cont,
    const void *msg, size_t len)
{
	char *d = dst;
	bool json = h->fmt == RECORD_JSON;

	if (json)
		PUT_LIT(d, "{\"ts\":\"");
	memcpy(d, ts, TS_LEN);
	d = put_head(d + TS_LEN, h);
	if (cont)
		PUT_LIT(d, "msg+");
	else
		PUT_LIT(d, "msg");
	if (json) {
		bool lossy = false;
		PUT_LIT(d, "\",\"msg\":\"");
		d += escape_json(d, msg, len, &lossy);
		*d++ = '"';
		if (h->tail_len > 0) {
			memcpy(d, h->tail, h->tail_len);
			d += h->tail_len;
		}
		if (lossy)
			PUT_LIT(d, ",\"lossy\":true");
		*d++ = '}';
	} else {
		*d++ = ' ';
		d += escape_text(d, msg, len);
	}
	*d++ = '\n';
	return (size_t)(d - dst);
}

/* Frame and format a text msg record in one pass (see record.h). */
size_t
record_msg_line(char *dst, const struct record_head *h, const char *ts,
    const char *buf, size_t n, size_t max_line, struct frame *f)
{
	/* As in frame_next: a line of max_line content bytes ends within
	 * max_line + 2 bytes (CR LF). */
	size_t span = n < max_line + 2 ? n : max_line + 2;
	char *d = dst;
	size_t len;

	memcpy(d, ts, TS_LEN);
	d = put_head(d + TS_LEN, h);
	PUT_LIT(d, "msg ");
	size_t w = escape_text_line(d, buf, span, &len);
	if (len == span)
		return 0; /* no LF: the line is unfinished or overlong */
	*f = (struct frame){FRAME_LINE, len, len + 1, 0};
	if (len > 0 && buf[len - 1] == '\r') {
		f->len--;
		w -= 2; /* the CR's "\\r" ends the escaped text */
	}
	if (f->len > max_line)
		return 0;
	d += w;
	*d++ = '\n';
	return (size_t)(d - dst);
}
