/*
 * The Redis stream output: every record one XADD entry, sent with hiredis's
 * async API on the server's loop and pipelined in MULTI/EXEC transactions.
 * A record is done only when Redis has confirmed it; until then it is held.
 *
 * Exactly once: records are numbered from 1 as they come, and every
 * transaction also sets its slot of this process's sequence key (a hash;
 * the transactions in flight have a slot each) to the number of its last
 * record. A transaction is applied whole or not at all, so after a
 * connection is lost (and with it the replies on their way) the slots say
 * which of the transactions in flight Redis applied: those are done, the
 * rest are sent again. Each one is judged by its own slot: Redis may refuse
 * one (EXECABORT: out of memory) and apply a later one.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <hiredis/sds.h>

#include "opts.h"
#include "output.h"
#include "prog.h"
#include "record.h"

/* A transaction: at most this many records or bytes (at least one). */
#define REDIS_TXN_RECORDS 256
#define REDIS_TXN_BYTES (256 * 1024)
/* Transactions sent and not yet confirmed: Redis's pipeline depth. */
#define REDIS_INFLIGHT 16
/* At most this many bytes wait in hiredis's output buffer: after a short
 * write it moves what is left to the front, so a long queue there costs
 * time in proportion to its length on every write. The rest wait here
 * and go as replies come in. */
#define REDIS_QUEUED_MAX (128 * 1024)
/* XADD KEY MAXLEN ~ N * and a record's fields (a stats record has 30). */
#define REDIS_ARGV_MAX 160
/* How long the sequence key outlives the last transaction: far longer
 * than any outage peerlogd would wait out holding records. */
#define REDIS_SEQ_TTL "604800"

static const struct timeval redis_retry = {1, 0};

struct redis_txn {
	size_t bytes;
	unsigned long long records;
	unsigned long long last; /* its last record's number */
	unsigned slot;           /* its field of the sequence key */
};

struct output_redis {
	struct output out; /* first: what the server sees */
	struct event_base *base;
	const struct opts *opts;
	char host[NI_MAXHOST]; /* numeric: resolved once, at start */
	redisAsyncContext *ac; /* NULL while not connected */
	bool ready;            /* connected, database chosen, sequence read */
	bool down;             /* an outage was said; its end will be */
	bool freeing;
	char seq_key[512];
	char maxlen[24];
	/* Held records, RECORD_FIELDS: [head, sent) sent and not confirmed,
	 * [sent, len) not sent yet. */
	char *buf;
	size_t len, cap, head, sent;
	unsigned long long head_seq; /* the number of the record at head */
	/* In the order sent; those of a lost connection stay until the next
	 * one says which were applied. */
	struct redis_txn txn[REDIS_INFLIGHT];
	unsigned txn_first, txn_n;
	unsigned long long txn_no; /* transactions sent: the next slot */
	bool said_refused;         /* an XADD Redis refused was said */
	struct event *retry_ev;
};

static void redis_pump(struct output_redis *r);

/* Tell the server that held shrank or the state changed. */
static void
redis_changed(struct output_redis *r)
{
	r->out.held = r->len - r->head;
	if (r->out.changed != NULL)
		r->out.changed(&r->out, r->out.arg);
}

/*
 * The connection is gone or given up (why says how): the transactions
 * waiting for replies are judged on the next connection, and the next try
 * is in a second. Said once per outage.
 */
static void
redis_lost(struct output_redis *r, const char *why)
{
	if (r->freeing)
		return;
	r->ac = NULL;
	r->ready = false;
	if (r->out.state == OUTPUT_OK)
		r->out.c.errors++;
	if (!r->down)
		report("redis %s: %s; reconnecting every second", r->out.name,
		    why != NULL && *why != '\0' ? why : "connection closed");
	r->down = true;
	if (r->out.state != OUTPUT_DONE)
		r->out.state = OUTPUT_FAILED;
	r->out.error = EIO;
	if (r->out.state != OUTPUT_DONE)
		event_add(r->retry_ev, &redis_retry);
	redis_changed(r);
}

/* Drop the connection from inside one of its callbacks: hiredis frees it
 * once the callback returns. */
static void
redis_drop(struct output_redis *r, redisAsyncContext *ac, const char *why)
{
	redis_lost(r, why);
	redisAsyncFree(ac);
}

/* The reply's text when it is an error, else what was expected. */
static const char *
redis_reply_error(const redisReply *reply, const char *expected)
{
	if (reply->type == REDIS_REPLY_ERROR && reply->str != NULL)
		return reply->str;
	return expected;
}

/* A held record is confirmed: forget it. */
static void
redis_confirm(struct output_redis *r, size_t bytes, unsigned long long records)
{
	r->head += bytes;
	r->head_seq += records;
	r->out.c.bytes += bytes;
	if (r->sent < r->head)
		r->sent = r->head;
	if (r->head == r->len)
		r->head = r->sent = r->len = 0;
}

/* SELECT's reply: anything but OK is a database we cannot use. */
static void
redis_select_cb(redisAsyncContext *ac, void *reply, void *arg)
{
	struct output_redis *r = arg;
	const redisReply *rep = reply;

	if (r->ac != ac || rep == NULL)
		return;
	if (rep->type != REDIS_REPLY_STATUS)
		redis_drop(r, ac, redis_reply_error(rep, "SELECT failed"));
}

/*
 * The transactions of a lost connection, judged by the sequence key's
 * slots (have, by slot; 0 for none): one whose slot holds its last record's
 * number was applied, and its records are done. The others' records are
 * held, in order, to be sent again. They are numbered on from the last
 * applied record: every slot holds less than the numbers to come.
 */
static void
redis_judge(struct output_redis *r, const unsigned long long *have)
{
	size_t src = r->head, dst = r->head;
	unsigned long long next = r->head_seq;

	for (unsigned i = 0; i < r->txn_n; i++) {
		const struct redis_txn *t =
		    &r->txn[(r->txn_first + i) % REDIS_INFLIGHT];
		if (have[t->slot] == t->last) {
			r->out.c.bytes += t->bytes;
			next = t->last + 1;
		} else {
			memmove(r->buf + dst, r->buf + src, t->bytes);
			dst += t->bytes;
		}
		src += t->bytes;
	}
	memmove(r->buf + dst, r->buf + src, r->len - src);
	r->len -= src - dst;
	r->sent = r->head;
	r->head_seq = next;
	r->txn_first = r->txn_n = 0;
	if (r->head == r->len)
		r->head = r->sent = r->len = 0;
}

/*
 * The sequence key's slots (HMGET): which transactions of the last
 * connection Redis applied. Then the held records go.
 */
static void
redis_seq_cb(redisAsyncContext *ac, void *reply, void *arg)
{
	struct output_redis *r = arg;
	const redisReply *rep = reply;
	unsigned long long have[REDIS_INFLIGHT] = {0};

	if (r->ac != ac || rep == NULL)
		return;
	if (rep->type != REDIS_REPLY_ARRAY || rep->elements != REDIS_INFLIGHT) {
		redis_drop(r, ac, redis_reply_error(rep, "HMGET failed"));
		return;
	}
	for (size_t i = 0; i < REDIS_INFLIGHT; i++) {
		const redisReply *e = rep->element[i];
		char *end;
		if (e->type == REDIS_REPLY_NIL)
			continue;
		errno = 0;
		have[i] = e->type == REDIS_REPLY_STRING
		              ? strtoull(e->str, &end, 10)
		              : 0;
		if (e->type != REDIS_REPLY_STRING || errno != 0 ||
		    *end != '\0') {
			redis_drop(r, ac, "the sequence key holds no number");
			return;
		}
	}
	redis_judge(r, have);
	r->ready = true;
	if (r->out.state == OUTPUT_FAILED)
		r->out.state = OUTPUT_OK;
	if (r->down)
		report("redis %s: connected", r->out.name);
	r->down = false;
	redis_pump(r);
	redis_changed(r);
}

/*
 * EXEC's reply: one per XADD, then the HSET's and the EXPIRE's. An XADD
 * Redis refused (a key of another type) is counted lost, not retried: it
 * would be refused again. No array means nothing was applied (EXECABORT):
 * the connection is dropped, and the next one judges this transaction and
 * those sent after it (Redis may have applied those).
 */
static void
redis_exec_cb(redisAsyncContext *ac, void *reply, void *arg)
{
	struct output_redis *r = arg;
	const redisReply *rep = reply;

	if (r->ac != ac)
		return;
	if (rep == NULL) {
		redis_lost(r, ac->errstr);
		return;
	}
	if (rep->type != REDIS_REPLY_ARRAY || r->txn_n == 0) {
		redis_drop(r, ac, redis_reply_error(rep, "EXEC failed"));
		return;
	}
	struct redis_txn t = r->txn[r->txn_first];
	r->txn_first = (r->txn_first + 1) % REDIS_INFLIGHT;
	r->txn_n--;
	for (size_t i = 0; i < rep->elements && i < t.records; i++) {
		const redisReply *e = rep->element[i];
		if (e->type != REDIS_REPLY_ERROR)
			continue;
		r->out.c.lost++;
		r->out.c.errors++;
		if (!r->said_refused)
			report("redis %s: XADD refused: %s (the record is "
			       "lost; said once)",
			    r->out.name, e->str != NULL ? e->str : "error");
		r->said_refused = true;
	}
	redis_confirm(r, t.bytes, t.records);
	redis_pump(r);
	redis_changed(r);
}

/* Queue one record's XADD; false when hiredis would not take it. */
static bool
redis_xadd(struct output_redis *r, const char *rec, size_t len)
{
	const char *argv[REDIS_ARGV_MAX];
	size_t argvlen[REDIS_ARGV_MAX];
	struct record_field f;
	size_t off = 0;
	int argc = 0;

#define ARG(p, n) (argv[argc] = (p), argvlen[argc++] = (n))
	ARG("XADD", 4);
	ARG(r->opts->redis_key, strlen(r->opts->redis_key));
	if (r->opts->redis_maxlen > 0) {
		ARG("MAXLEN", 6);
		ARG("~", 1);
		ARG(r->maxlen, strlen(r->maxlen));
	}
	ARG("*", 1);
	while (argc + 2 <= REDIS_ARGV_MAX &&
	       record_field_next(rec, len, &off, &f)) {
		ARG(f.key, f.key_len);
		ARG(f.val, f.len);
	}
#undef ARG
	return redisAsyncCommandArgv(r->ac, NULL, NULL, argc, argv, argvlen) ==
	       REDIS_OK;
}

/*
 * Send what is held and not sent, a transaction at a time, while fewer
 * than REDIS_INFLIGHT wait for their replies.
 */
static void
redis_pump(struct output_redis *r)
{
	while (r->ready && r->ac != NULL && r->txn_n < REDIS_INFLIGHT &&
	       r->sent < r->len &&
	       (r->txn_n == 0 || sdslen(r->ac->c.obuf) < REDIS_QUEUED_MAX)) {
		struct redis_txn t = {0, 0, 0, 0};
		unsigned long long last = r->head_seq;
		char slot[8];
		bool ok =
		    redisAsyncCommand(r->ac, NULL, NULL, "MULTI") == REDIS_OK;

		for (unsigned i = 0; i < r->txn_n; i++)
			last +=
			    r->txn[(r->txn_first + i) % REDIS_INFLIGHT].records;
		while (ok && r->sent + t.bytes < r->len &&
		       t.records < REDIS_TXN_RECORDS &&
		       (t.records == 0 || t.bytes < REDIS_TXN_BYTES)) {
			const char *rec = r->buf + r->sent + t.bytes;
			size_t n =
			    record_fields_len(rec, r->len - r->sent - t.bytes);
			if (n == 0)
				break; /* cannot be: the batch is ours */
			ok = redis_xadd(r, rec, n);
			t.bytes += n;
			t.records++;
		}
		last += t.records - 1;
		t.last = last;
		t.slot = (unsigned)(r->txn_no % REDIS_INFLIGHT);
		snprintf(slot, sizeof slot, "%u", t.slot);
		ok = ok && t.records > 0 &&
		     redisAsyncCommand(r->ac, NULL, NULL, "HSET %s %s %llu",
		         r->seq_key, slot, last) == REDIS_OK &&
		     redisAsyncCommand(r->ac, NULL, NULL, "EXPIRE %s %s",
		         r->seq_key, REDIS_SEQ_TTL) == REDIS_OK &&
		     redisAsyncCommand(r->ac, redis_exec_cb, r, "EXEC") ==
		         REDIS_OK;
		if (!ok) {
			/* A command without EXEC is never applied: the
			 * records are sent again on the next connection. */
			redisAsyncContext *ac = r->ac;
			redis_lost(r, "hiredis refused a command");
			redisAsyncFree(ac);
			return;
		}
		r->txn[(r->txn_first + r->txn_n) % REDIS_INFLIGHT] = t;
		r->txn_n++;
		r->txn_no++;
		r->sent += t.bytes;
	}
}

/* hiredis connected, or could not. */
static void
redis_connect_cb(const redisAsyncContext *ac, int status)
{
	struct output_redis *r = ac->data;

	if (status != REDIS_OK && r->ac == ac)
		redis_lost(r, ac->errstr); /* hiredis frees it */
}

/* The connection closed (an error, Redis going away, or ours). */
static void
redis_disconnect_cb(const redisAsyncContext *ac, int status)
{
	struct output_redis *r = ac->data;

	(void)status;
	if (r->ac == ac)
		redis_lost(r, ac->errstr);
}

/* Notice a peer that vanished without a word while the link is idle. */
static void
redis_keepalive(int fd)
{
	int on = 1, idle = 10, intvl = 5, cnt = 3;

	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof intvl);
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof cnt);
}

/*
 * Connect (the connection completes on the loop), choose the database and
 * read the sequence key's slots; records go once their reply is in.
 */
static void
redis_connect(struct output_redis *r)
{
	const struct redisurl *u = &r->opts->redis;
	redisAsyncContext *ac = u->unix_socket
	                            ? redisAsyncConnectUnix(u->path)
	                            : redisAsyncConnect(r->host, (int)u->port);

	if (ac == NULL || ac->err != 0) {
		char why[128];
		snprintf(why, sizeof why, "%s",
		    ac != NULL ? ac->errstr : "out of memory");
		if (ac != NULL)
			redisAsyncFree(ac);
		redis_lost(r, why);
		return;
	}
	ac->data = r;
	if (redisLibeventAttach(ac, r->base) != REDIS_OK) {
		redisAsyncFree(ac);
		redis_lost(r, "out of memory");
		return;
	}
	r->ac = ac;
	redisAsyncSetConnectCallback(ac, redis_connect_cb);
	redisAsyncSetDisconnectCallback(ac, redis_disconnect_cb);
	if (!u->unix_socket)
		redis_keepalive(ac->c.fd);
	if (u->db != 0)
		redisAsyncCommand(
		    ac, redis_select_cb, r, "SELECT %lu", (unsigned long)u->db);
	const char *argv[2 + REDIS_INFLIGHT];
	size_t argvlen[2 + REDIS_INFLIGHT];
	char slots[REDIS_INFLIGHT][8];
	argv[0] = "HMGET";
	argv[1] = r->seq_key;
	for (unsigned i = 0; i < REDIS_INFLIGHT; i++) {
		snprintf(slots[i], sizeof slots[i], "%u", i);
		argv[2 + i] = slots[i];
	}
	for (unsigned i = 0; i < 2 + REDIS_INFLIGHT; i++)
		argvlen[i] = strlen(argv[i]);
	redisAsyncCommandArgv(
	    ac, redis_seq_cb, r, 2 + REDIS_INFLIGHT, argv, argvlen);
}

/* The retry timer: try to connect again. */
static void
redis_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	redis_connect(arg);
}

/* Make room for n more held bytes: the confirmed ones first, then more
 * memory. */
static bool
redis_room(struct output_redis *r, size_t n)
{
	if (r->cap - r->len >= n)
		return true;
	if (r->head > 0) {
		memmove(r->buf, r->buf + r->head, r->len - r->head);
		r->len -= r->head;
		r->sent -= r->head;
		r->head = 0;
		if (r->cap - r->len >= n)
			return true;
	}
	size_t cap = r->cap > 0 ? r->cap : 65536;
	while (cap - r->len < n)
		cap *= 2;
	char *buf = realloc(r->buf, cap);
	if (buf == NULL)
		return false;
	r->buf = buf;
	r->cap = cap;
	return true;
}

/* Take records: hold them, send what may go now (see output.h). */
static void
output_redis_take(struct output *o, const char *buf, size_t len)
{
	struct output_redis *r = (struct output_redis *)o;

	if (o->state == OUTPUT_DONE) {
		o->c.lost += record_count(RECORD_FIELDS, buf, len);
		return;
	}
	if (!redis_room(r, len)) {
		report("redis %s: out of memory: records are lost", o->name);
		o->c.lost += record_count(RECORD_FIELDS, buf, len);
		return;
	}
	memcpy(r->buf + r->len, buf, len);
	r->len += len;
	redis_pump(r);
	o->held = r->len - r->head;
}

/* SIGHUP: nothing to reopen; a lost connection is retried anyway. */
static void
output_redis_reopen(struct output *o)
{
	(void)o;
}

/* Shutdown gave up: what is held was never confirmed (see output.h). */
static void
output_redis_abandon(struct output *o)
{
	struct output_redis *r = (struct output_redis *)o;

	o->c.lost +=
	    record_count(RECORD_FIELDS, r->buf + r->head, r->len - r->head);
	r->head = r->sent = r->len = 0;
	r->txn_n = 0;
	r->ready = false;
	o->held = 0;
	o->state = OUTPUT_DONE;
	event_del(r->retry_ev);
}

/* Close the connection and free. */
static void
output_redis_free(struct output *o)
{
	struct output_redis *r = (struct output_redis *)o;

	if (r == NULL)
		return;
	r->freeing = true;
	if (r->ac != NULL)
		redisAsyncFree(r->ac);
	if (r->retry_ev != NULL)
		event_free(r->retry_ev);
	free(r->buf);
	free(r);
}

static const struct output_ops output_redis_ops = {
    .take = output_redis_take,
    .reopen = output_redis_reopen,
    .abandon = output_redis_abandon,
    .free = output_redis_free,
};

/* Resolve the URL's host once (a name lookup would block the loop). */
static int
redis_resolve(struct output_redis *r, char *err, size_t errlen)
{
	const struct redisurl *u = &r->opts->redis;
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai;
	int rc;

	if (u->unix_socket)
		return 0;
	if ((rc = getaddrinfo(u->host, NULL, &hints, &ai)) != 0) {
		snprintf(err, errlen, "--redis %s: %s", r->opts->redis_url,
		    gai_strerror(rc));
		return -1;
	}
	rc = getnameinfo(ai->ai_addr, ai->ai_addrlen, r->host, sizeof r->host,
	    NULL, 0, NI_NUMERICHOST);
	freeaddrinfo(ai);
	if (rc != 0) {
		snprintf(err, errlen, "--redis %s: %s", r->opts->redis_url,
		    gai_strerror(rc));
		return -1;
	}
	return 0;
}

/* The sequence key: the stream's name and this process's own number. */
static void
redis_seq_key(struct output_redis *r)
{
	unsigned long long id;

	if (getrandom(&id, sizeof id, GRND_NONBLOCK) != (ssize_t)sizeof id)
		id = (unsigned long long)getpid() << 32 ^
		     (unsigned long long)time(NULL);
	snprintf(r->seq_key, sizeof r->seq_key, "%s:peerlogd-seq:%016llx",
	    r->opts->redis_key, id);
}

/* Make the Redis output (see output.h). */
struct output *
output_redis_open(
    struct event_base *base, const struct opts *o, char *err, size_t errlen)
{
	struct output_redis *r = calloc(1, sizeof(*r));

	if (r == NULL) {
		snprintf(err, errlen, "--redis: %s", strerror(ENOMEM));
		return NULL;
	}
	r->out.ops = &output_redis_ops;
	r->out.name = o->redis_url;
	r->out.fmt = RECORD_FIELDS;
	r->out.waits_at_stop = true;
	r->out.state = OUTPUT_FAILED; /* until the first connection is up */
	r->out.error = EIO;
	r->base = base;
	r->opts = o;
	r->head_seq = 1;
	snprintf(r->maxlen, sizeof r->maxlen, "%llu", o->redis_maxlen);
	redis_seq_key(r);
	r->retry_ev = evtimer_new(base, redis_retry_cb, r);
	if (r->retry_ev == NULL) {
		snprintf(err, errlen, "--redis: %s", strerror(ENOMEM));
		output_redis_free(&r->out);
		return NULL;
	}
	if (redis_resolve(r, err, errlen) != 0) {
		output_redis_free(&r->out);
		return NULL;
	}
	redis_connect(r);
	return &r->out;
}
