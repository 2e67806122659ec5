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

/* Append a 4-byte little-endian v at d; return the new end. */
static char *
put_u32(char *d, size_t v)
{
	d[0] = (char)(v & 0xff);
	d[1] = (char)((v >> 8) & 0xff);
	d[2] = (char)((v >> 16) & 0xff);
	d[3] = (char)((v >> 24) & 0xff);
	return d + 4;
}

/* The 4-byte little-endian number at p. */
static size_t
get_u32(const char *p)
{
	const unsigned char *u = (const unsigned char *)p;

	return (size_t)u[0] | (size_t)u[1] << 8 | (size_t)u[2] << 16 |
	       (size_t)u[3] << 24;
}

/* Append a field's type, key and value length at d (its value follows). */
static char *
put_field_head(
    char *d, enum record_field_type type, const char *key, size_t vlen)
{
	size_t klen = strlen(key);

	*d++ = (char)type;
	*d++ = (char)klen;
	memcpy(d, key, klen);
	return put_u32(d + klen, vlen);
}

/* Append a whole field at d; return the new end. */
static char *
put_field(char *d, enum record_field_type type, const char *key,
    const void *val, size_t vlen)
{
	d = put_field_head(d, type, key, vlen);
	memcpy(d, val, vlen);
	return d + vlen;
}

/* Append a key=value of a detail as a field at d. */
static char *
put_kv_field(char *d, const struct record_kv *kv)
{
	char num[24];

	if (kv->str == NULL)
		return put_field(d, RECORD_FIELD_NUM, kv->key, num,
		    (size_t)(put_num(num, kv->num) - num));
	if (kv->num > 0)
		return put_field(
		    d, RECORD_FIELD_BYTES, kv->key, kv->str, (size_t)kv->num);
	return put_field(
	    d, RECORD_FIELD_OURS, kv->key, kv->str, strlen(kv->str));
}

/* A record's fields, its length first. */
static size_t
format_fields(char *dst, const struct record *r)
{
	const char *ev = event_names[r->event];
	char *d = dst + 4;

	d = put_field(d, RECORD_FIELD_OURS, "ts", r->ts, strlen(r->ts));
	d = put_field(
	    d, RECORD_FIELD_OURS, "proto", r->proto, strlen(r->proto));
	d = put_field(d, RECORD_FIELD_OURS, "peer", r->peer, strlen(r->peer));
	d = put_field(d, RECORD_FIELD_OURS, "event", ev, strlen(ev));
	if (has_msg(r))
		d = put_field(d, RECORD_FIELD_MSG, "msg", r->msg, r->msg_len);
	for (size_t i = 0; i < r->nkv; i++)
		d = put_kv_field(d, &r->kv[i]);
	put_u32(dst, (size_t)(d - dst) - 4);
	return (size_t)(d - dst);
}

/* Format r as one record (see record.h). */
size_t
record_format(char *dst, const struct record *r, enum record_fmt fmt)
{
	if (fmt == RECORD_FIELDS)
		return format_fields(dst, r);
	return fmt == RECORD_JSON ? format_json(dst, r) : format_text(dst, r);
}

/* The length of the whole record at p (see record.h). */
size_t
record_fields_len(const char *p, size_t n)
{
	if (n < 4 || get_u32(p) > n - 4)
		return 0;
	size_t len = get_u32(p) + 4, off = 4;
	struct record_field f;

	while (record_field_next(p, len, &off, &f))
		;
	return off == len ? len : 0;
}

/* The next field of a record (see record.h). */
bool
record_field_next(
    const char *rec, size_t len, size_t *off, struct record_field *f)
{
	size_t o = *off < 4 ? 4 : *off;

	if (o > len || len - o < 6)
		return false;
	size_t klen = (unsigned char)rec[o + 1];
	if (len - o - 2 < klen + 4)
		return false;
	size_t vlen = get_u32(rec + o + 2 + klen);
	if (len - o - 6 - klen < vlen)
		return false;
	f->type = (enum record_field_type)(unsigned char)rec[o];
	f->key = rec + o + 2;
	f->key_len = klen;
	f->val = rec + o + 6 + klen;
	f->len = vlen;
	*off = o + 6 + klen + vlen;
	return true;
}

/* Count the records (see record.h). */
unsigned long long
record_count(enum record_fmt fmt, const char *p, size_t n)
{
	unsigned long long count = 0;
	const char *end = p + n;

	if (fmt != RECORD_FIELDS) {
		while (p < end &&
		       (p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
			count++;
			p++;
		}
		return count;
	}
	while (end - p >= 4 && get_u32(p) <= (size_t)(end - p) - 4) {
		p += get_u32(p) + 4;
		count++;
	}
	return count;
}

/* Append len bytes at d; return the new end. */
static char *
put_bytes(char *d, const char *p, size_t len)
{
	memcpy(d, p, len);
	return d + len;
}

/* A field's value in text: a message escaped, bytes from elsewhere one
 * word, ours as it is. */
static char *
put_text_value(char *d, const struct record_field *f)
{
	if (f->type == RECORD_FIELD_MSG)
		return d + escape_text(d, f->val, f->len);
	if (f->type == RECORD_FIELD_BYTES)
		return d + escape_word(d, f->val, f->len);
	return put_bytes(d, f->val, f->len);
}

/* A field's value in JSON: a number bare, the rest a string. */
static char *
put_json_value(char *d, const struct record_field *f, bool *lossy)
{
	if (f->type == RECORD_FIELD_NUM)
		return put_bytes(d, f->val, f->len);
	*d++ = '"';
	if (f->type == RECORD_FIELD_OURS)
		d = put_bytes(d, f->val, f->len);
	else
		d += escape_json(d, f->val, f->len, lossy);
	*d++ = '"';
	return d;
}

/* Format a RECORD_FIELDS record as a line (see record.h). */
size_t
record_fields_format(
    char *dst, const char *rec, size_t len, enum record_fmt fmt)
{
	struct record_field f;
	size_t off = 0, i = 0;
	bool lossy = false, msg = false;
	char *d = dst;

	if (fmt == RECORD_JSON)
		*d++ = '{';
	for (; record_field_next(rec, len, &off, &f); i++) {
		if (fmt == RECORD_JSON) {
			if (i > 0)
				*d++ = ',';
			*d++ = '"';
			d = put_bytes(d, f.key, f.key_len);
			*d++ = '"';
			*d++ = ':';
			d = put_json_value(d, &f, &lossy);
			continue;
		}
		/* Text: TIMESTAMP PROTO PEER EVENT[ MSG][ key=value]...; a
		 * message record carries nothing after its message. */
		if (msg)
			break;
		if (i > 0)
			*d++ = ' ';
		if (i >= 4 && f.type != RECORD_FIELD_MSG) {
			d = put_bytes(d, f.key, f.key_len);
			*d++ = '=';
		}
		d = put_text_value(d, &f);
		msg = f.type == RECORD_FIELD_MSG;
	}
	if (lossy)
		d = put(d, ",\"lossy\":true");
	if (fmt == RECORD_JSON)
		*d++ = '}';
	*d++ = '\n';
	return (size_t)(d - dst);
}

/* A peer's msg-record tail (see record.h). */
size_t
record_tail(
    char *dst, enum record_fmt fmt, const struct record_kv *kv, size_t nkv)
{
	char *d = dst;
	bool lossy = false;

	for (size_t i = 0; i < nkv && fmt != RECORD_TEXT; i++) {
		size_t n =
		    kv[i].num > 0 ? (size_t)kv[i].num : strlen(kv[i].str);
		if (fmt == RECORD_FIELDS) {
			d = put_field(
			    d, RECORD_FIELD_BYTES, kv[i].key, kv[i].str, n);
			continue;
		}
		d = put_key(d, kv[i].key);
		*d++ = '"';
		d += escape_json(d, kv[i].str, n, &lossy);
		*d++ = '"';
	}
	return (size_t)(d - dst);
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
	if (fmt == RECORD_FIELDS) {
		/* The proto and peer fields and the event's key: record_msg
		 * adds its length and value. */
		size_t n = strnlen(proto, 16);
		d = put_field(d, RECORD_FIELD_OURS, "proto", proto, n);
		n = strnlen(peer, (size_t)(end - d) - 10 - 7);
		d = put_field(d, RECORD_FIELD_OURS, "peer", peer, n);
		*d++ = (char)RECORD_FIELD_OURS;
		*d++ = 5;
		d = put(d, "event");
	} else if (fmt == RECORD_JSON) {
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

/* record_msg's RECORD_FIELDS record. */
static size_t
msg_fields(char *dst, const struct record_head *h, const char *ts, bool cont,
    const void *msg, size_t len)
{
	char *d = put_field(dst + 4, RECORD_FIELD_OURS, "ts", ts, TS_LEN);

	d = put_head(d, h);
	d = put_u32(d, cont ? 4 : 3);
	if (cont)
		PUT_LIT(d, "msg+");
	else
		PUT_LIT(d, "msg");
	d = put_field(d, RECORD_FIELD_MSG, "msg", msg, len);
	if (h->tail_len > 0) {
		memcpy(d, h->tail, h->tail_len);
		d += h->tail_len;
	}
	put_u32(dst, (size_t)(d - dst) - 4);
	return (size_t)(d - dst);
}

/* A message record on the per-message path (see record.h). */
size_t
record_msg(char *dst, const struct record_head *h, const char *ts, bool cont,
    const void *msg, size_t len)
{
	char *d = dst;
	bool json = h->fmt == RECORD_JSON;

	if (h->fmt == RECORD_FIELDS)
		return msg_fields(dst, h, ts, cont, msg, len);
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
