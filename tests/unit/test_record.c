/* Unit tests of record.c: the exact text and JSON lines of every event, and
 * record_max as a true bound (checked with canaries on random records). */
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>

#include "escape.h"
#include "frame.h"
#include "record.h"
#include "tap.h"

#define TS "2026-11-25T17:03:06.123456Z"
#define PEER "127.0.0.1:50312"
#define CANARY 0xa5
#define NCANARY 16

/* A message record of a string literal (NULs allowed). */
#define MSG(proto, peer, ev, lit) rec_msg(proto, peer, ev, lit, sizeof(lit) - 1)

/* Format r into a buffer of exactly record_max bytes plus a canary; returns
 * the malloc'd line (NUL-terminated after the canary check) or NULL. */
static char *
format(const struct record *r, enum record_fmt fmt, size_t *lenp)
{
	size_t max = record_max(r, fmt), len, i;
	char *dst = malloc(max + NCANARY + 1);

	if (dst == NULL)
		abort();
	memset(dst, CANARY, max + NCANARY + 1);
	len = record_format(dst, r, fmt);
	for (i = 0; i < NCANARY; i++) {
		if ((unsigned char)dst[max + i] != CANARY) {
			diag("record_format wrote past record_max %zu", max);
			free(dst);
			return NULL;
		}
	}
	if (len > max) {
		diag("record_format returned %zu > record_max %zu", len, max);
		free(dst);
		return NULL;
	}
	*lenp = len;
	return dst;
}

/* Check the formatted line of r against exp. */
static void
check(const struct record *r, enum record_fmt fmt, const char *exp,
    const char *name)
{
	size_t len = 0;
	char *got = format(r, fmt, &len);

	if (got == NULL)
		ok(false, "%s: %s (bound broken)",
		    fmt == RECORD_TEXT ? "text" : "json", name);
	else
		is_mem(got, len, exp, strlen(exp), "%s: %s",
		    fmt == RECORD_TEXT ? "text" : "json", name);
	free(got);
}

/* A peer record without detail or message. */
static struct record
rec(const char *proto, const char *peer, enum record_event ev)
{
	struct record r;

	memset(&r, 0, sizeof(r));
	r.ts = TS;
	r.proto = proto;
	r.peer = peer;
	r.event = ev;
	return r;
}

/* A message record of n bytes at msg. */
static struct record
rec_msg(const char *proto, const char *peer, enum record_event ev,
    const void *msg, size_t n)
{
	struct record r = rec(proto, peer, ev);

	r.msg = msg;
	r.msg_len = n;
	return r;
}

/* A record with key=value detail. */
static struct record
rec_kv(const char *proto, const char *peer, enum record_event ev,
    const struct record_kv *kv, size_t nkv)
{
	struct record r = rec(proto, peer, ev);

	r.kv = kv;
	r.nkv = nkv;
	return r;
}

/* Message records in both formats. */
static void
test_messages(void)
{
	struct record r;

	r = MSG("tcp", PEER, RECORD_MSG, "hello world");
	check(&r, RECORD_TEXT, TS " tcp " PEER " msg hello world\n",
	    "a message follows \"msg \" with its spaces kept");
	check(&r, RECORD_JSON,
	    "{\"ts\":\"" TS "\",\"proto\":\"tcp\",\"peer\":\"" PEER
	    "\",\"event\":\"msg\",\"msg\":\"hello world\"}\n",
	    "a message is the msg field after ts, proto, peer, event");

	r = MSG("udp", "[::1]:40000", RECORD_MSG, "ping");
	check(&r, RECORD_TEXT, TS " udp [::1]:40000 msg ping\n",
	    "a UDP message from an IPv6 peer");
	check(&r, RECORD_JSON,
	    "{\"ts\":\"" TS "\",\"proto\":\"udp\",\"peer\":\"[::1]:40000\","
	    "\"event\":\"msg\",\"msg\":\"ping\"}\n",
	    "a UDP message from an IPv6 peer");

	r = MSG("tcp", PEER, RECORD_MSG_CONT, "abcd");
	check(&r, RECORD_TEXT, TS " tcp " PEER " msg+ abcd\n",
	    "a continued piece is event msg+");
	check(&r, RECORD_JSON,
	    "{\"ts\":\"" TS "\",\"proto\":\"tcp\",\"peer\":\"" PEER
	    "\",\"event\":\"msg+\",\"msg\":\"abcd\"}\n",
	    "a continued piece is event msg+");

	r = MSG("tcp", PEER, RECORD_MSG, "");
	check(&r, RECORD_TEXT, TS " tcp " PEER " msg \n",
	    "an empty message: the line ends after \"msg \"");
	check(&r, RECORD_JSON,
	    "{\"ts\":\"" TS "\",\"proto\":\"tcp\",\"peer\":\"" PEER
	    "\",\"event\":\"msg\",\"msg\":\"\"}\n",
	    "an empty message is an empty msg string");

	r = MSG("tcp", PEER, RECORD_MSG, "a\tb\\c\x1b[0m x\ny\xff\xc3\xa9");
	check(&r, RECORD_TEXT,
	    TS " tcp " PEER " msg a\\tb\\\\c\\x1b[0m x\\ny\\xff\xc3\xa9\n",
	    "a message is escaped and stays on one line");

	r = MSG("tcp", PEER, RECORD_MSG, "say \"hi\"\\ \x01\n\xc2\x9b");
	check(&r, RECORD_JSON,
	    "{\"ts\":\"" TS "\",\"proto\":\"tcp\",\"peer\":\"" PEER
	    "\",\"event\":\"msg\",\"msg\":\"say \\\"hi\\\"\\\\ \\u0001\\n"
	    "\\u009b\"}\n",
	    "a message gets JSON string escapes");

	r = MSG("tcp", PEER, RECORD_MSG, "caf\xc3\xa9");
	check(&r, RECORD_JSON,
	    "{\"ts\":\"" TS "\",\"proto\":\"tcp\",\"peer\":\"" PEER
	    "\",\"event\":\"msg\",\"msg\":\"caf\xc3\xa9\"}\n",
	    "valid UTF-8 is kept and no lossy field is added");

	r = MSG("tcp", PEER, RECORD_MSG,
	    "a\xff"
	    "b");
	check(&r, RECORD_JSON,
	    "{\"ts\":\"" TS "\",\"proto\":\"tcp\",\"peer\":\"" PEER
	    "\",\"event\":\"msg\",\"msg\":\"a\xef\xbf\xbd"
	    "b\",\"lossy\":true}\n",
	    "invalid UTF-8 becomes U+FFFD and \"lossy\":true comes last");
	check(&r, RECORD_TEXT, TS " tcp " PEER " msg a\\xffb\n",
	    "invalid UTF-8 is \\xHH (text is never lossy)");

	r = MSG("tcp", PEER, RECORD_MSG, "a\0b");
	check(&r, RECORD_TEXT, TS " tcp " PEER " msg a\\x00b\n",
	    "a NUL inside a message is escaped, not the end");
	check(&r, RECORD_JSON,
	    "{\"ts\":\"" TS "\",\"proto\":\"tcp\",\"peer\":\"" PEER
	    "\",\"event\":\"msg\",\"msg\":\"a\\u0000b\"}\n",
	    "a NUL inside a message is \\u0000");
}

/* Peer events without a message. */
static void
test_peer_events(void)
{
	static const struct record_kv disc[] = {
	    {"reason", "eof", 0}, {"msgs", NULL, 1}, {"bytes", NULL, 12}};
	static const struct record_kv acl[] = {{"reason", "acl", 0}};
	static const struct record_kv full[] = {{"reason", "max-clients", 0}};
	static const struct record_kv huge[] = {{"reason", "shutdown", 0},
	    {"msgs", NULL, 0}, {"bytes", NULL, ULLONG_MAX}};
	struct record r;

	r = rec("tcp", PEER, RECORD_CONNECT);
	check(&r, RECORD_TEXT, TS " tcp " PEER " connect\n",
	    "connect has no detail and no trailing space");
	check(&r, RECORD_JSON,
	    "{\"ts\":\"" TS "\",\"proto\":\"tcp\",\"peer\":\"" PEER
	    "\",\"event\":\"connect\"}\n",
	    "connect has only the four fields");

	r = rec_kv("tcp", PEER, RECORD_DISCONNECT, disc, 3);
	check(&r, RECORD_TEXT,
	    TS " tcp " PEER " disconnect reason=eof msgs=1 bytes=12\n",
	    "disconnect lists reason, msgs, bytes as key=value");
	check(&r, RECORD_JSON,
	    "{\"ts\":\"" TS "\",\"proto\":\"tcp\",\"peer\":\"" PEER
	    "\",\"event\":\"disconnect\",\"reason\":\"eof\",\"msgs\":1,"
	    "\"bytes\":12}\n",
	    "disconnect: reason a string, msgs and bytes JSON numbers");

	r = rec_kv("tcp", PEER, RECORD_DISCONNECT, huge, 3);
	check(&r, RECORD_TEXT,
	    TS
	    " tcp " PEER
	    " disconnect reason=shutdown msgs=0 bytes=18446744073709551615\n",
	    "counts of 0 and of the largest unsigned long long");
	check(&r, RECORD_JSON,
	    "{\"ts\":\"" TS "\",\"proto\":\"tcp\",\"peer\":\"" PEER
	    "\",\"event\":\"disconnect\",\"reason\":\"shutdown\",\"msgs\":0,"
	    "\"bytes\":18446744073709551615}\n",
	    "counts of 0 and of the largest unsigned long long");

	r = rec_kv("tcp", PEER, RECORD_REJECT, acl, 1);
	check(&r, RECORD_TEXT, TS " tcp " PEER " reject reason=acl\n",
	    "reject by the ACL");
	check(&r, RECORD_JSON,
	    "{\"ts\":\"" TS "\",\"proto\":\"tcp\",\"peer\":\"" PEER
	    "\",\"event\":\"reject\",\"reason\":\"acl\"}\n",
	    "reject by the ACL");

	r = rec_kv("tcp", "[::1]:50000", RECORD_REJECT, full, 1);
	check(&r, RECORD_TEXT,
	    TS " tcp [::1]:50000 reject reason=max-clients\n",
	    "reject at max-clients");
	check(&r, RECORD_JSON,
	    "{\"ts\":\"" TS "\",\"proto\":\"tcp\",\"peer\":\"[::1]:50000\","
	    "\"event\":\"reject\",\"reason\":\"max-clients\"}\n",
	    "reject at max-clients");
}

/* Server-wide records: proto and peer are "-". */
static void
test_server_events(void)
{
	static const struct record_kv stats[] = {{"clients", NULL, 0},
	    {"connects", NULL, 3}, {"rejects", NULL, 1}, {"tcp_msgs", NULL, 10},
	    {"tcp_bytes", NULL, 120}, {"udp_msgs", NULL, 2},
	    {"udp_bytes", NULL, 9}, {"udp_dropped", NULL, 0}};
	static const struct record_kv start[] = {
	    {"version", "0.1.0", 0}, {"pid", NULL, 4242}};
	static const struct record_kv stop[] = {{"signal", "SIGTERM", 0}};
	struct record r;

	r = rec_kv("-", "-", RECORD_STATS, stats, 8);
	check(&r, RECORD_TEXT,
	    TS " - - stats clients=0 connects=3 rejects=1 tcp_msgs=10 "
	       "tcp_bytes=120 udp_msgs=2 udp_bytes=9 udp_dropped=0\n",
	    "stats with - for proto and peer, keys in order");
	check(&r, RECORD_JSON,
	    "{\"ts\":\"" TS "\",\"proto\":\"-\",\"peer\":\"-\","
	    "\"event\":\"stats\",\"clients\":0,\"connects\":3,\"rejects\":1,"
	    "\"tcp_msgs\":10,\"tcp_bytes\":120,\"udp_msgs\":2,"
	    "\"udp_bytes\":9,\"udp_dropped\":0}\n",
	    "stats with \"-\" for proto and peer, counts as numbers");

	r = rec_kv("-", "-", RECORD_START, start, 2);
	check(&r, RECORD_TEXT, TS " - - start version=0.1.0 pid=4242\n",
	    "start with version and pid");
	check(&r, RECORD_JSON,
	    "{\"ts\":\"" TS "\",\"proto\":\"-\",\"peer\":\"-\","
	    "\"event\":\"start\",\"version\":\"0.1.0\",\"pid\":4242}\n",
	    "start: version a string, pid a number");

	r = rec_kv("-", "-", RECORD_STOP, stop, 1);
	check(&r, RECORD_TEXT, TS " - - stop signal=SIGTERM\n",
	    "stop with the signal");
	check(&r, RECORD_JSON,
	    "{\"ts\":\"" TS "\",\"proto\":\"-\",\"peer\":\"-\","
	    "\"event\":\"stop\",\"signal\":\"SIGTERM\"}\n",
	    "stop with the signal as a string");
}

/* The names of the events. */
static void
test_event_names(void)
{
	is_str(record_event_name(RECORD_CONNECT), "connect", "name: connect");
	is_str(record_event_name(RECORD_MSG), "msg", "name: msg");
	is_str(record_event_name(RECORD_MSG_CONT), "msg+", "name: msg+");
	is_str(record_event_name(RECORD_DISCONNECT), "disconnect",
	    "name: disconnect");
	is_str(record_event_name(RECORD_REJECT), "reject", "name: reject");
	is_str(record_event_name(RECORD_STATS), "stats", "name: stats");
	is_str(record_event_name(RECORD_START), "start", "name: start");
	is_str(record_event_name(RECORD_STOP), "stop", "name: stop");
}

/* The expected line of a message record, built from the escapers (which
 * test_escape checks on their own) and the fixed field layout. */
static size_t
expect_msg(char *dst, const struct record *r, enum record_fmt fmt)
{
	size_t n;
	bool lossy = false;

	if (fmt == RECORD_TEXT) {
		n = (size_t)sprintf(dst, "%s %s %s %s ", r->ts, r->proto,
		    r->peer, record_event_name(r->event));
		n += escape_text(dst + n, r->msg, r->msg_len);
		dst[n++] = '\n';
		return n;
	}
	n = (size_t)sprintf(dst,
	    "{\"ts\":\"%s\",\"proto\":\"%s\",\"peer\":\"%s\","
	    "\"event\":\"%s\",\"msg\":\"",
	    r->ts, r->proto, r->peer, record_event_name(r->event));
	n += escape_json(dst + n, r->msg, r->msg_len, &lossy);
	n +=
	    (size_t)sprintf(dst + n, "\"%s}\n", lossy ? ",\"lossy\":true" : "");
	return n;
}

/* Whether a line has no control byte other than its final LF. */
static bool
one_clean_line(const char *p, size_t n)
{
	size_t i;

	if (n == 0 || p[n - 1] != '\n')
		return false;
	for (i = 0; i + 1 < n; i++)
		if ((unsigned char)p[i] < 0x20 || (unsigned char)p[i] == 0x7f)
			return false;
	return true;
}

/* A byte of a random message: fill 0 gives JSON's worst case (0x01 is
 * \u0001), fill 1 the worst case of text (0xff is \xff), others random. */
static unsigned char
random_byte(unsigned fill, unsigned long long *rs)
{
	if (fill == 0)
		return 0x01;
	if (fill == 1)
		return 0xff;
	return (unsigned char)tap_rand(rs);
}

/* Random messages, from empty to long and worst-case bytes: the line is
 * what the format says, one line, and within record_max. */
static void
test_random_messages(void)
{
	static const char *const peers[] = {"127.0.0.1:1", PEER,
	    "255.255.255.255:65535",
	    "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535", "[::1]:40000"};
	unsigned long long rs = 0x0123456789abcdefULL;
	bool bound = true, exact = true, clean = true;
	int i, f;

	for (i = 0; i < 600; i++) {
		size_t n = (size_t)(tap_rand(&rs) % (i < 500 ? 300 : 10000));
		unsigned char *msg = malloc(n + 1);
		unsigned fill = (unsigned)(tap_rand(&rs) % 4);
		struct record r;
		size_t k;

		for (k = 0; k < n; k++)
			msg[k] = random_byte(fill, &rs);
		r = rec_msg(tap_rand(&rs) % 2 ? "tcp" : "udp",
		    peers[tap_rand(&rs) % 5],
		    tap_rand(&rs) % 2 ? RECORD_MSG : RECORD_MSG_CONT, msg, n);
		for (f = 0; f < 2; f++) {
			enum record_fmt fmt = f ? RECORD_JSON : RECORD_TEXT;
			char *exp = malloc(ESCAPE_JSON_MAX(n) + 256);
			size_t len = 0, explen = expect_msg(exp, &r, fmt);
			char *got = format(&r, fmt, &len);

			if (got == NULL) {
				if (bound)
					diag("bound broken: %s, %zu bytes",
					    f ? "json" : "text", n);
				bound = false;
			} else {
				if (exact &&
				    !tap_same_mem(got, len, exp, explen)) {
					diag("%s line differs, %zu bytes",
					    f ? "json" : "text", n);
					tap_diag_mem(got, len, exp, explen);
					exact = false;
				}
				if (!one_clean_line(got, len))
					clean = false;
			}
			free(got);
			free(exp);
		}
		free(msg);
	}
	ok(bound, "random messages: record_format stays within record_max");
	ok(exact, "random messages: the line is the prefix, the escaped "
	          "message and LF");
	ok(clean, "random messages: a record is one line with no control "
	          "byte");
}

/* Detail records with the longest numbers stay within record_max too. */
static void
test_kv_bound(void)
{
	struct record_kv kv[8];
	static const char *const keys[] = {"clients", "connects", "rejects",
	    "tcp_msgs", "tcp_bytes", "udp_msgs", "udp_bytes", "udp_dropped"};
	struct record r;
	size_t i, len = 0;
	int f;

	for (i = 0; i < 8; i++) {
		kv[i].key = keys[i];
		kv[i].str = NULL;
		kv[i].num = ULLONG_MAX;
	}
	r = rec_kv("-", "-", RECORD_STATS, kv, 8);
	for (f = 0; f < 2; f++) {
		char *got = format(&r, f ? RECORD_JSON : RECORD_TEXT, &len);

		ok(got != NULL,
		    "%s: stats with eight 20-digit counts stays within "
		    "record_max",
		    f ? "json" : "text");
		free(got);
	}
}

/* record_msg (the per-message path) makes the very bytes record_format
 * makes, for random messages, both formats, msg and msg+, IPv4 and IPv6. */
static void
test_fast_path_matches_record_format(void)
{
	static const char *const peers[] = {"127.0.0.1:50312",
	    "[2001:db8:ffff:ffff:ffff:ffff:ffff:ffff]:65535"};
	unsigned long long seed = 42;
	const char *ts = "2026-11-25T17:03:06.123456Z";
	int mismatches = 0, bound_broken = 0;

	for (int i = 0; i < 2000; i++) {
		enum record_fmt fmt = i % 2 ? RECORD_JSON : RECORD_TEXT;
		bool cont = (i / 2) % 2;
		const char *peer = peers[(i / 4) % 2];
		unsigned char msg[300];
		size_t len = tap_rand(&seed) % sizeof(msg);
		for (size_t j = 0; j < len; j++) {
			unsigned long long r = tap_rand(&seed);
			/* Mostly printable, sometimes anything. */
			msg[j] = r % 4 ? (unsigned char)(0x20 + r % 95)
			               : (unsigned char)(r >> 8);
		}
		struct record r = {.ts = ts,
		    .proto = "udp",
		    .peer = peer,
		    .event = cont ? RECORD_MSG_CONT : RECORD_MSG,
		    .msg = msg,
		    .msg_len = len};
		struct record_head h;
		char *want = malloc(record_max(&r, fmt));
		char *got = malloc(record_msg_max(len));
		size_t wn = record_format(want, &r, fmt);
		record_head_init(&h, fmt, "udp", peer);
		size_t gn = record_msg(got, &h, ts, cont, msg, len);
		if (gn != wn || memcmp(got, want, wn) != 0)
			mismatches++;
		if (gn > record_msg_max(len))
			bound_broken++;
		free(want);
		free(got);
	}
	ok(mismatches == 0,
	    "record_msg equals record_format for 2000 random messages "
	    "(%d differ)",
	    mismatches);
	ok(bound_broken == 0, "record_msg stays within record_msg_max");
}

/*
 * record_msg_line (framing and formatting in one pass) agrees with
 * frame_next then record_msg on random streams: the same frame and bytes
 * when it takes a line, and 0 exactly when frame_next finds no whole line
 * of at most max_line bytes. Streams mix short and overlong lines, CR LF,
 * lone CRs and junk; max_line is small or the default.
 */
static void
test_msg_line_matches_frame_next(void)
{
	unsigned long long seed = 4242;
	const char *ts = "2026-11-25T17:03:06.123456Z";
	int wrong = 0, declined_wrong = 0, taken = 0, declined = 0;

	for (int i = 0; i < 5000; i++) {
		size_t max_line = i % 3 ? 1 + tap_rand(&seed) % 24 : 8192;
		char buf[96];
		size_t n = tap_rand(&seed) % sizeof(buf);
		for (size_t j = 0; j < n; j++) {
			unsigned long long r = tap_rand(&seed);
			buf[j] = r % 8 == 0   ? '\n'
			         : r % 8 == 1 ? '\r'
			         : r % 8 == 2 ? (char)(r >> 8)
			                      : (char)(0x20 + r % 95);
		}
		struct record_head h;
		record_head_init(&h, RECORD_TEXT, "tcp", "[::1]:40000");
		size_t span = n < max_line + 2 ? n : max_line + 2;
		size_t room = record_msg_max(span);
		char *got = malloc(room), *want = malloc(record_msg_max(n));
		struct frame f = {FRAME_NEED, 0, 0, 0};
		size_t gl = record_msg_line(got, &h, ts, buf, n, max_line, &f);
		struct frame w = frame_next(buf, n, max_line);
		if (gl == 0) {
			declined++;
			if (w.kind == FRAME_LINE)
				declined_wrong++;
		} else {
			taken++;
			size_t wl = record_msg(want, &h, ts, false, buf, w.len);
			if (w.kind != FRAME_LINE || f.kind != w.kind ||
			    f.len != w.len || f.used != w.used || gl != wl ||
			    memcmp(got, want, wl) != 0 || gl > room)
				wrong++;
		}
		free(got);
		free(want);
	}
	ok(wrong == 0,
	    "record_msg_line equals frame_next + record_msg on %d random "
	    "lines (%d differ)",
	    taken, wrong);
	ok(declined_wrong == 0 && declined > 0,
	    "record_msg_line declines (%d times) only where frame_next finds "
	    "no whole line",
	    declined);
}

/*
 * record_head_init with a peer text longer than a head holds (issue 9,
 * defect 9): the head is cut, never overrun. It is formatted into a head
 * followed by guard bytes, so a write past it shows in any build; then, when
 * that showed none, into a heap block of exactly a head's size, which
 * AddressSanitizer watches byte for byte.
 */
static void
test_head_bound(void)
{
	static const char *const starts[] = {
	    " tcp 99999999", "\",\"proto\":\"tcp\",\"peer\":\"99999999"};
	char peer[300];
	int f;

	memset(peer, '9', sizeof(peer) - 1);
	peer[sizeof(peer) - 1] = '\0';
	for (f = 0; f < 2; f++) {
		enum record_fmt fmt = f ? RECORD_JSON : RECORD_TEXT;
		const char *name = f ? "json" : "text";
		struct guarded {
			struct record_head h;
			unsigned char guard[512];
		} *g = malloc(sizeof(*g));
		size_t end =
		    offsetof(struct record_head, text) + RECORD_HEAD_MAX;
		bool intact = true;

		if (g == NULL)
			abort();
		memset(g, 0x5a, sizeof(*g));
		record_head_init(&g->h, fmt, "tcp", peer);
		for (size_t i = end; i < sizeof(*g); i++)
			if (((unsigned char *)g)[i] != 0x5a)
				intact = false;
		ok(intact,
		    "%s: record_head_init with a 299-byte peer writes nothing "
		    "past the head",
		    name);
		ok(g->h.len <= RECORD_HEAD_MAX,
		    "%s: the head's length %u is at most RECORD_HEAD_MAX", name,
		    (unsigned)g->h.len);
		ok(g->h.len >= strlen(starts[f]) &&
		        memcmp(g->h.text, starts[f], strlen(starts[f])) == 0,
		    "%s: the cut head begins as the whole head does", name);
		free(g);
		if (!intact)
			continue;
		struct record_head *h = malloc(sizeof(*h));
		if (h == NULL)
			abort();
		record_head_init(h, fmt, "tcp", peer);
		ok(h->len <= RECORD_HEAD_MAX,
		    "%s: a head in a block of its own size holds the cut head",
		    name);
		free(h);
	}
}

/* RECORD_FIELDS: the exact bytes of a disconnect record, its fields read
 * back, and the text and JSON lines made from it. */
static void
test_fields_exact(void)
{
	const struct record_kv kv[] = {
	    {"reason", "eof", 0}, {"msgs", NULL, 2}, {"cn", "a b", 3}};
	const struct record r = {
	    TS, "tcp", PEER, RECORD_DISCONNECT, NULL, 0, kv, 3};
	static const char want[] =
	    "\x84\0\0\0"
	    "S\x02ts\x1b\0\0\0" TS "S\x05proto\x03\0\0\0tcp"
	    "S\x04peer\x0f\0\0\0" PEER "S\x05"
	    "event\x0a\0\0\0disconnect"
	    "S\x06reason\x03\0\0\0eof"
	    "N\x04msgs\x01\0\0\0"
	    "2"
	    "X\x02"
	    "cn\x03\0\0\0a b";
	char buf[512], line[1024];
	size_t len = record_format(buf, &r, RECORD_FIELDS);

	is_mem(buf, len, want, sizeof want - 1, "fields: a disconnect's bytes");
	is_size(record_fields_len(buf, len), len, "fields: its length");
	is_size(record_fields_len(buf, len - 1), 0, "fields: cut short: none");
	is_size(record_fields_len(buf, 3), 0, "fields: no whole length: none");
	line[record_fields_format(line, buf, len, RECORD_TEXT)] = '\0';
	is_str(line,
	    TS " tcp " PEER " disconnect reason=eof msgs=2 cn=a\\x20b\n",
	    "fields as text: outside bytes one word");
	line[record_fields_format(line, buf, len, RECORD_JSON)] = '\0';
	is_str(line,
	    "{\"ts\":\"" TS "\",\"proto\":\"tcp\",\"peer\":\"" PEER
	    "\",\"event\":\"disconnect\",\"reason\":\"eof\",\"msgs\":2,"
	    "\"cn\":\"a b\"}\n",
	    "fields as JSON: numbers bare");
	/* Two records, then half of a third. */
	memcpy(buf + len, buf, len);
	memcpy(buf + 2 * len, buf, 10);
	is_size((size_t)record_count(RECORD_FIELDS, buf, 2 * len + 10), 2,
	    "fields: count whole records only");
	is_size((size_t)record_count(RECORD_TEXT, "a\nb\nc", 5), 2,
	    "text: count LF-ended lines");
}

/* A TLS client's message in fields: the raw message, then cn and fp from
 * the tail; as text the tail is not there, as JSON it follows msg. */
static void
test_fields_msg_tail(void)
{
	const struct record_kv tkv[] = {{"cn", "c\"n", 3}, {"fp", "ab", 0}};
	struct record_head h, hj;
	char tail[RECORD_TAIL_MAX], tailj[RECORD_TAIL_MAX];
	char buf[1024], line[2048], want[2048];
	static const char msg[] = "hi\xff\0\n";

	record_head_init(&h, RECORD_FIELDS, "tls", PEER);
	h.tail = tail;
	h.tail_len = record_tail(tail, RECORD_FIELDS, tkv, 2);
	record_head_init(&hj, RECORD_JSON, "tls", PEER);
	hj.tail = tailj;
	hj.tail_len = record_tail(tailj, RECORD_JSON, tkv, 2);
	is_mem(tailj, hj.tail_len, ",\"cn\":\"c\\\"n\",\"fp\":\"ab\"", 22,
	    "tail: JSON pairs, escaped");
	is_size(
	    record_tail(tail, RECORD_TEXT, tkv, 2), 0, "tail: text has none");
	size_t len = record_msg(buf, &h, TS, false, msg, sizeof msg - 1);
	is_size(record_fields_len(buf, len), len, "fields msg: one record");
	size_t off = 0, n = 0;
	struct record_field f, got[8];
	while (n < 8 && record_field_next(buf, len, &off, &f))
		got[n++] = f;
	is_size(n, 7, "fields msg: ts proto peer event msg cn fp");
	ok(n == 7 && got[4].type == RECORD_FIELD_MSG &&
	        got[4].len == sizeof msg - 1 &&
	        memcmp(got[4].val, msg, sizeof msg - 1) == 0,
	    "fields msg: the message's bytes raw");
	ok(n == 7 && got[5].key_len == 2 && memcmp(got[5].key, "cn", 2) == 0 &&
	        got[5].len == 3 && memcmp(got[5].val, "c\"n", 3) == 0,
	    "fields msg: cn raw");
	size_t wl = record_msg(want, &hj, TS, false, msg, sizeof msg - 1);
	size_t gl = record_fields_format(line, buf, len, RECORD_JSON);
	is_mem(line, gl, want, wl, "fields msg as JSON: record_msg's line");
	struct record_head ht;
	record_head_init(&ht, RECORD_TEXT, "tls", PEER);
	wl = record_msg(want, &ht, TS, true, msg, sizeof msg - 1);
	len = record_msg(buf, &h, TS, true, msg, sizeof msg - 1);
	gl = record_fields_format(line, buf, len, RECORD_TEXT);
	is_mem(line, gl, want, wl, "fields msg+ as text: no tail");
}

/* Run every record test. */
int
main(void)
{
	test_messages();
	test_peer_events();
	test_server_events();
	test_event_names();
	test_random_messages();
	test_kv_bound();
	test_fast_path_matches_record_format();
	test_msg_line_matches_frame_next();
	test_head_bound();
	test_fields_exact();
	test_fields_msg_tail();
	return done_testing();
}
