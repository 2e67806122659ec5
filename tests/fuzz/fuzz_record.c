/*
 * libFuzzer harness of record.c. The first byte chooses the event, the
 * peer and the protocol; the rest is the message (msg, msg+) or supplies
 * the detail's numbers and reasons. Each record is formatted in both
 * formats into exactly record_max bytes; a text record must be one line
 * that unescapes to the message, a JSON record one strictly valid object
 * with the contract's keys in order. Messages also go through the
 * per-message path (record_head_init, record_msg), which must make the
 * very same bytes, and as a TCP stream through the one-pass path
 * (record_msg_line), which must agree with frame_next and record_msg.
 * RECORD_FIELDS records (for Redis) must hold every field as it was given,
 * the message's bytes raw, and format back to the very same text and JSON
 * lines; the field reader must stay inside any bytes it is handed.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "escape.h"
#include "frame.h"
#include "fuzz.h"
#include "record.h"
#include "ts.h"

/* ts_format() text: record_msg copies TS_LEN bytes of it. */
#define TS "2026-11-25T17:03:06.123456Z"
#define MAXKV 8
#define MAXFIELDS 16

/* The fuzz input, consumed from the front. */
struct input {
	const uint8_t *p;
	size_t n;
};

/* One member of a JSON object: its key and raw value, both spans. */
struct field {
	const char *key;
	size_t klen;
	char type; /* 's' string, 'n' number, 'l' true/false/null */
	const char *val;
	size_t vlen;
};

/* Take one byte (0 when the input is used up). */
static unsigned
take_byte(struct input *in)
{
	if (in->n == 0)
		return 0;
	in->n--;
	return *in->p++;
}

/* Take eight bytes as a number, so that 20-digit values occur. */
static unsigned long long
take_num(struct input *in)
{
	unsigned long long v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | take_byte(in);
	return v;
}

/* Fill kv with the detail the server gives event ev; returns its count. */
static size_t
make_detail(enum record_event ev, struct input *in, struct record_kv *kv)
{
	static const char *const reasons[] = {
	    "eof", "reset", "timeout", "shutdown", "error"};
	static const char *const stats[] = {"clients", "connects", "rejects",
	    "tcp_msgs", "tcp_bytes", "udp_msgs", "udp_bytes", "udp_dropped"};
	size_t n = 0;

	switch (ev) {
	case RECORD_DISCONNECT:
		kv[n++] =
		    (struct record_kv){"reason", reasons[take_byte(in) % 5], 0};
		kv[n++] = (struct record_kv){"msgs", NULL, take_num(in)};
		kv[n++] = (struct record_kv){"bytes", NULL, take_num(in)};
		break;
	case RECORD_REJECT:
		kv[n++] = (struct record_kv){
		    "reason", take_byte(in) & 1 ? "max-clients" : "acl", 0};
		break;
	case RECORD_STATS:
		for (; n < 8; n++)
			kv[n] =
			    (struct record_kv){stats[n], NULL, take_num(in)};
		break;
	case RECORD_START:
		kv[n++] = (struct record_kv){"version", "0.1.0", 0};
		kv[n++] = (struct record_kv){"pid", NULL, take_num(in)};
		break;
	case RECORD_STOP:
		kv[n++] = (struct record_kv){
		    "signal", take_byte(in) & 1 ? "SIGINT" : "SIGTERM", 0};
		break;
	default:
		break;
	}
	return n;
}

/* Whether the n bytes at s are exactly the NUL-terminated want. */
static bool
span_is(const char *s, size_t n, const char *want)
{
	return strlen(want) == n && memcmp(s, want, n) == 0;
}

/* A JSON string at *p (before end), its raw body in *body; false if not. */
static bool
json_string(const char **p, const char *end, const char **body, size_t *blen)
{
	const char *s = *p;

	if (s >= end || *s++ != '"')
		return false;
	*body = s;
	while (s < end && *s != '"')
		s += *s == '\\' && s + 1 < end ? 2 : 1;
	if (s >= end)
		return false;
	*blen = (size_t)(s - *body);
	*p = s + 1;
	return true;
}

/* Skip a run of digits; false when there is none. */
static bool
json_digits(const char **p, const char *end)
{
	const char *s = *p;

	while (*p < end && **p >= '0' && **p <= '9')
		(*p)++;
	return *p > s;
}

/* A number by RFC 8259's grammar at *p. */
static bool
json_number(const char **p, const char *end)
{
	if (*p < end && **p == '-')
		(*p)++;
	if (*p < end && **p == '0')
		(*p)++;
	else if (*p >= end || **p < '1' || **p > '9' || !json_digits(p, end))
		return false;
	if (*p < end && **p == '.' && (++*p, !json_digits(p, end)))
		return false;
	if (*p < end && (**p == 'e' || **p == 'E')) {
		(*p)++;
		if (*p < end && (**p == '+' || **p == '-'))
			(*p)++;
		if (!json_digits(p, end))
			return false;
	}
	return true;
}

/* Whether the body of a JSON string decodes; the decoding in dst. */
static bool
json_decodes(const char *body, size_t blen, char *dst, size_t *dlen)
{
	*dlen = fuzz_json_unescape(dst, body, blen);
	return *dlen != (size_t)-1;
}

/*
 * Parse a record: one JSON object with no white space whose members are
 * strings, numbers or literals, then LF. Fills f (room for MAXFIELDS).
 */
static bool
json_record(const char *s, size_t n, struct field *f, size_t *nf, char *tmp)
{
	const char *p = s, *end = s + n, *v;
	size_t dlen;

	*nf = 0;
	if (n < 3 || *p++ != '{' || end[-1] != '\n' || end[-2] != '}')
		return false;
	end -= 2;
	for (;;) {
		struct field *m = &f[*nf];
		if (*nf == MAXFIELDS ||
		    !json_string(&p, end, &m->key, &m->klen) ||
		    !json_decodes(m->key, m->klen, tmp, &dlen) || p >= end ||
		    *p++ != ':')
			return false;
		v = p;
		if (p < end && *p == '"') {
			m->type = 's';
			if (!json_string(&p, end, &m->val, &m->vlen) ||
			    !json_decodes(m->val, m->vlen, tmp, &dlen))
				return false;
		} else if (p < end && (*p == '-' || (*p >= '0' && *p <= '9'))) {
			m->type = 'n';
			if (!json_number(&p, end))
				return false;
			m->val = v;
			m->vlen = (size_t)(p - v);
		} else {
			m->type = 'l';
			while (p < end && *p >= 'a' && *p <= 'z')
				p++;
			m->val = v;
			m->vlen = (size_t)(p - v);
			if (!span_is(v, m->vlen, "true") &&
			    !span_is(v, m->vlen, "false") &&
			    !span_is(v, m->vlen, "null"))
				return false;
		}
		(*nf)++;
		if (p == end)
			return true;
		if (*p++ != ',')
			return false;
	}
}

/* Whether a JSON string field holds exactly the bytes want. */
static bool
field_str(const struct field *f, const char *key, const void *want, size_t wlen,
    char *tmp)
{
	size_t dlen;

	return span_is(f->key, f->klen, key) && f->type == 's' &&
	       json_decodes(f->val, f->vlen, tmp, &dlen) && dlen == wlen &&
	       memcmp(tmp, want, wlen) == 0;
}

/* The parts every record shares: one line, bounded, no terminal control. */
static void
check_line(const char *line, size_t len, size_t max)
{
	FUZZ_CHECK(len >= 1 && len <= max);
	FUZZ_CHECK(line[len - 1] == '\n');
	FUZZ_CHECK(memchr(line, '\n', len - 1) == NULL);
	FUZZ_CHECK(!fuzz_has_control(line, len - 1));
	FUZZ_CHECK(fuzz_utf8_valid(line, len));
}

/* Text: the fixed fields, then the message unescaping to the input or the
 * detail exactly as key=value. */
static void
check_text(const struct record *r)
{
	size_t max = record_max(r, RECORD_TEXT);
	char *line = fuzz_alloc(max);
	size_t len = record_format(line, r, RECORD_TEXT);
	char head[128];
	int hlen;

	check_line(line, len, max);
	hlen = snprintf(head, sizeof head, "%s %s %s %s", r->ts, r->proto,
	    r->peer, record_event_name(r->event));
	FUZZ_CHECK(hlen > 0 && (size_t)hlen < sizeof head);
	FUZZ_CHECK(len > (size_t)hlen && memcmp(line, head, (size_t)hlen) == 0);
	const char *rest = line + hlen;
	size_t rlen = len - (size_t)hlen - 1;
	if (r->event == RECORD_MSG || r->event == RECORD_MSG_CONT) {
		FUZZ_CHECK(rlen >= 1 && rest[0] == ' ');
		char *body = fuzz_dup(rest + 1, rlen - 1);
		char *back = fuzz_alloc(rlen - 1);
		FUZZ_CHECK(unescape_text(back, body, rlen - 1) == r->msg_len);
		FUZZ_CHECK(memcmp(back, r->msg, r->msg_len) == 0);
		free(back);
		free(body);
	} else {
		char want[MAXKV * 48], *w = want;
		for (size_t i = 0; i < r->nkv; i++) {
			if (r->kv[i].str != NULL)
				w += sprintf(
				    w, " %s=%s", r->kv[i].key, r->kv[i].str);
			else
				w += sprintf(
				    w, " %s=%llu", r->kv[i].key, r->kv[i].num);
		}
		FUZZ_CHECK(rlen == (size_t)(w - want));
		FUZZ_CHECK(memcmp(rest, want, rlen) == 0);
	}
	free(line);
}

/* JSON: a strict object, keys ts, proto, peer, event, then msg or the
 * detail, then "lossy":true exactly when the message is not UTF-8. */
static void
check_json(const struct record *r)
{
	size_t max = record_max(r, RECORD_JSON);
	char *line = fuzz_alloc(max);
	size_t len = record_format(line, r, RECORD_JSON);
	char *tmp = fuzz_alloc(len);
	struct field f[MAXFIELDS];
	size_t nf, i = 0;
	const char *ev = record_event_name(r->event);

	check_line(line, len, max);
	FUZZ_CHECK(len > 8 && memcmp(line, "{\"ts\":\"", 7) == 0);
	FUZZ_CHECK(json_record(line, len, f, &nf, tmp));
	FUZZ_CHECK(nf >= 4);
	FUZZ_CHECK(field_str(&f[i++], "ts", r->ts, strlen(r->ts), tmp));
	FUZZ_CHECK(
	    field_str(&f[i++], "proto", r->proto, strlen(r->proto), tmp));
	FUZZ_CHECK(field_str(&f[i++], "peer", r->peer, strlen(r->peer), tmp));
	FUZZ_CHECK(field_str(&f[i++], "event", ev, strlen(ev), tmp));
	if (r->event == RECORD_MSG || r->event == RECORD_MSG_CONT) {
		char *want = fuzz_alloc(3 * r->msg_len);
		size_t wlen = fuzz_replace_invalid(want, r->msg, r->msg_len);
		FUZZ_CHECK(
		    i < nf && field_str(&f[i++], "msg", want, wlen, tmp));
		if (!fuzz_utf8_valid(r->msg, r->msg_len)) {
			FUZZ_CHECK(
			    i < nf && span_is(f[i].key, f[i].klen, "lossy"));
			FUZZ_CHECK(span_is(f[i].val, f[i].vlen, "true"));
			i++;
		}
		free(want);
	}
	for (size_t k = 0; k < r->nkv; k++, i++) {
		const struct record_kv *kv = &r->kv[k];
		char num[24];
		FUZZ_CHECK(i < nf);
		if (kv->str != NULL) {
			FUZZ_CHECK(field_str(
			    &f[i], kv->key, kv->str, strlen(kv->str), tmp));
			continue;
		}
		snprintf(num, sizeof num, "%llu", kv->num);
		FUZZ_CHECK(span_is(f[i].key, f[i].klen, kv->key));
		FUZZ_CHECK(
		    f[i].type == 'n' && span_is(f[i].val, f[i].vlen, num));
	}
	FUZZ_CHECK(i == nf);
	free(tmp);
	free(line);
}

/* The per-message path: a head made once, then record_msg into exactly
 * record_msg_max bytes, must give record_format's bytes. */
static void
check_msg_path(const struct record *r, enum record_fmt fmt)
{
	struct record_head *h = fuzz_alloc(sizeof *h);
	size_t max = record_max(r, fmt);
	char *want = fuzz_alloc(max);
	size_t wlen = record_format(want, r, fmt);
	size_t mmax = record_msg_max(r->msg_len);
	char *got = fuzz_alloc(mmax);

	record_head_init(h, fmt, r->proto, r->peer);
	size_t len = record_msg(
	    got, h, r->ts, r->event == RECORD_MSG_CONT, r->msg, r->msg_len);
	FUZZ_CHECK(len <= mmax);
	FUZZ_CHECK(len == wlen && memcmp(got, want, len) == 0);
	free(got);
	free(want);
	free(h);
}

/*
 * The one-pass path for TCP text records: the message bytes as a stream,
 * max_line from the selector. record_msg_line, writing into exactly the
 * room it is given, must agree with frame_next then record_msg.
 */
static void
check_line_path(const char *buf, size_t n, unsigned sel)
{
	size_t max_line = sel % 4 == 0 ? 8192 : 1 + sel % 64;
	size_t span = n < max_line + 2 ? n : max_line + 2;
	size_t room = record_msg_max(span);
	struct record_head *h = fuzz_alloc(sizeof *h);
	char *got = fuzz_alloc(room);
	struct frame f;

	record_head_init(h, RECORD_TEXT, "tcp", "127.0.0.1:50312");
	size_t len = record_msg_line(got, h, TS, buf, n, max_line, &f);
	struct frame w = frame_next(buf, n, max_line);
	if (len == 0) {
		FUZZ_CHECK(w.kind != FRAME_LINE);
	} else {
		char *want = fuzz_alloc(record_msg_max(w.len));
		size_t wl = record_msg(want, h, TS, false, buf, w.len);
		FUZZ_CHECK(w.kind == FRAME_LINE && f.kind == FRAME_LINE);
		FUZZ_CHECK(f.len == w.len && f.used == w.used);
		FUZZ_CHECK(len == wl && memcmp(got, want, wl) == 0);
		free(want);
	}
	free(got);
	free(h);
}

/* RECORD_FIELDS: one whole record of the fields in the JSON order, raw
 * values, and record_fields_format makes record_format's text and JSON. */
static void
check_fields(const struct record *r)
{
	size_t max = record_max(r, RECORD_FIELDS);
	char *rec = fuzz_alloc(max);
	size_t len = record_format(rec, r, RECORD_FIELDS);
	const char *ev = record_event_name(r->event);
	struct record_field f;
	size_t off = 0;

	FUZZ_CHECK(len <= max);
	FUZZ_CHECK(record_fields_len(rec, len) == len);
	FUZZ_CHECK(record_fields_len(rec, len - 1) == 0);
	FUZZ_CHECK(record_count(RECORD_FIELDS, rec, len) == 1);
	FUZZ_CHECK(record_field_next(rec, len, &off, &f) &&
	           span_is(f.key, f.key_len, "ts") &&
	           span_is(f.val, f.len, r->ts));
	FUZZ_CHECK(record_field_next(rec, len, &off, &f) &&
	           span_is(f.key, f.key_len, "proto") &&
	           span_is(f.val, f.len, r->proto));
	FUZZ_CHECK(record_field_next(rec, len, &off, &f) &&
	           span_is(f.key, f.key_len, "peer") &&
	           span_is(f.val, f.len, r->peer));
	FUZZ_CHECK(record_field_next(rec, len, &off, &f) &&
	           span_is(f.key, f.key_len, "event") &&
	           span_is(f.val, f.len, ev));
	if (r->event == RECORD_MSG || r->event == RECORD_MSG_CONT) {
		FUZZ_CHECK(record_field_next(rec, len, &off, &f) &&
		           f.type == RECORD_FIELD_MSG && f.len == r->msg_len &&
		           memcmp(f.val, r->msg, r->msg_len) == 0);
	}
	for (size_t k = 0; k < r->nkv; k++) {
		char num[24];
		const char *want = r->kv[k].str;
		if (want == NULL) {
			snprintf(num, sizeof num, "%llu", r->kv[k].num);
			want = num;
		}
		FUZZ_CHECK(record_field_next(rec, len, &off, &f) &&
		           span_is(f.key, f.key_len, r->kv[k].key) &&
		           span_is(f.val, f.len, want));
	}
	FUZZ_CHECK(!record_field_next(rec, len, &off, &f) && off == len);
	for (int fmt = RECORD_TEXT; fmt <= RECORD_JSON; fmt++) {
		size_t wmax = record_max(r, (enum record_fmt)fmt);
		char *want = fuzz_alloc(wmax);
		size_t wlen = record_format(want, r, (enum record_fmt)fmt);
		char *got = fuzz_alloc(RECORD_FIELDS_FMT_MAX(len));
		size_t glen =
		    record_fields_format(got, rec, len, (enum record_fmt)fmt);
		FUZZ_CHECK(glen <= RECORD_FIELDS_FMT_MAX(len));
		FUZZ_CHECK(glen == wlen && memcmp(got, want, wlen) == 0);
		free(got);
		free(want);
	}
	free(rec);
}

/* Any bytes as a RECORD_FIELDS batch: the reader never leaves them, and
 * what it takes for records formats within its bound. */
static void
check_fields_bytes(const uint8_t *data, size_t size)
{
	char *buf = fuzz_dup(data, size);
	size_t off = 0, n;

	while ((n = record_fields_len(buf + off, size - off)) > 0) {
		char *line = fuzz_alloc(RECORD_FIELDS_FMT_MAX(n));
		FUZZ_CHECK(n <= size - off);
		FUZZ_CHECK(record_fields_format(line, buf + off, n,
		               RECORD_JSON) <= RECORD_FIELDS_FMT_MAX(n));
		FUZZ_CHECK(record_fields_format(line, buf + off, n,
		               RECORD_TEXT) <= RECORD_FIELDS_FMT_MAX(n));
		free(line);
		off += n;
	}
	free(buf);
}

/* One input: a selector byte, then the message or the detail's values. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const peers[] = {"127.0.0.1:50312", "[::1]:40000",
	    "-", "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535"};
	static const char *const protos[] = {"tcp", "udp", "-", "tls"};
	struct input in = {data, size};
	struct record_kv kv[MAXKV];
	unsigned sel = take_byte(&in);
	_Static_assert(sizeof TS - 1 == TS_LEN, "TS is a ts_format() text");
	struct record r = {
	    .ts = TS,
	    .proto = protos[sel >> 5 & 3],
	    .peer = peers[sel >> 3 & 3],
	    .event = (enum record_event)(sel & 7),
	};
	void *msg = NULL;

	if (r.event == RECORD_MSG || r.event == RECORD_MSG_CONT) {
		/* An exactly sized copy: the formatter may not read past it. */
		msg = fuzz_dup(in.p, in.n);
		r.msg = msg;
		r.msg_len = in.n;
	} else {
		r.nkv = make_detail(r.event, &in, kv);
		r.kv = kv;
	}
	check_fields_bytes(data, size);
	check_text(&r);
	check_json(&r);
	check_fields(&r);
	if (msg != NULL) {
		check_msg_path(&r, RECORD_TEXT);
		check_msg_path(&r, RECORD_JSON);
		check_msg_path(&r, RECORD_FIELDS);
		check_line_path(msg, in.n, sel);
	}
	free(msg);
	return 0;
}
