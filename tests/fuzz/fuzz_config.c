/*
 * libFuzzer harness of peerlogd's config file (opts_parse_file in opts.c).
 * "One table of options, two sources": whatever a file says must mean
 * exactly what the same options say on the command line.
 *
 * The first input byte chooses the mode (bit 0):
 * - raw: the rest is the file, then optionally two NULs and command-line
 *   arguments cut at NULs. A reference reader written here (strspn and
 *   strcspn on each line) turns the file into "--name=value" arguments or
 *   finds the first line it must refuse. Without such a line, the file and
 *   argv must give what those arguments followed by argv give (result,
 *   every option, the error after a "t.conf:LINE: " prefix); with one, the
 *   parse must fail no later than that line, at it when the lines before
 *   it are good, with that line's reason.
 * - spelled: the rest is options (a byte choosing one, a length byte, the
 *   value), written out in spellings chosen from the input (blanks or '='
 *   between the words, indentation, trailing blanks, quotes, CRLF, a byte
 *   order mark, comment and blank lines, no final LF): the result must be
 *   the options' as arguments, an error naming one of the options' lines.
 *
 * Always: the text is in an exact allocation of len + 1 bytes (the parser
 * may write the last one), the result is the same every time, an error is
 * one printable line that a smaller buffer gets the start of, and the
 * options' strings point into the text, argv, or are the defaults.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "opts.h"

#define ERRLEN 512
#define MAXARGS 8192 /* more than an input has bytes */
#define MAXINPUT 8000
#define FILE_NAME "t.conf"

/* peerlogd's long options, written here apart from opts.c's table. */
static const struct {
	const char *name;
	bool arg;
} names[] = {
    {"tcp", true},
    {"udp", true},
    {"tls", true},
    {"output", true},
    {"format", true},
    {"max-line", true},
    {"max-clients", true},
    {"idle-timeout", true},
    {"max-per-source", true},
    {"framing", true},
    {"allow", true},
    {"cert", true},
    {"key", true},
    {"client-ca", true},
    {"client-name", true},
    {"handshake-timeout", true},
    {"proxy", true},
    {"redis", true},
    {"redis-key", true},
    {"redis-maxlen", true},
    {"reuseport", false},
    {"metrics", true},
    {"user", true},
    {"pidfile", true},
};
#define NNAMES (sizeof(names) / sizeof(names[0]))

/* The reasons a line is refused before its value reaches the option. */
enum ref_err {
	REF_OK,
	REF_NUL,
	REF_UNTERMINATED,
	REF_AFTER_QUOTE,
	REF_NO_NAME,
	REF_UNKNOWN,
	REF_FORBIDDEN,
	REF_NO_VALUE,
	REF_NEEDS_VALUE,
};

/* The start of the message for each reason. */
static const char *const ref_msg[] = {
    [REF_NUL] = "a NUL byte in the line",
    [REF_UNTERMINATED] = "unterminated quote",
    [REF_AFTER_QUOTE] = "text after the closing quote",
    [REF_NO_NAME] = "a value without an option name",
    [REF_UNKNOWN] = "unknown option '",
    [REF_FORBIDDEN] = "option '",
    [REF_NO_VALUE] = "option '",
    [REF_NEEDS_VALUE] = "option '",
};

/* An argument vector the harness owns. */
struct args {
	int argc;
	char *argv[MAXARGS + 2];
};

/* Append a copy of the n bytes at s (NUL-terminated) to a. */
static void
args_add(struct args *a, const char *s, size_t n)
{
	char *p;

	if (a->argc > MAXARGS)
		abort();
	p = fuzz_alloc(n + 1);
	memcpy(p, s, n);
	p[n] = '\0';
	a->argv[a->argc++] = p;
	a->argv[a->argc] = NULL;
}

/* Append "--name=value", or "--name" for a flag (value NULL). */
static void
args_option(struct args *a, const char *name, const char *value)
{
	size_t n = strlen(name), v = value != NULL ? strlen(value) : 0;
	char *p = fuzz_alloc(n + v + 4);

	memcpy(p, "--", 2);
	memcpy(p + 2, name, n);
	p[n + 2] = '\0';
	if (value != NULL) {
		p[n + 2] = '=';
		memcpy(p + n + 3, value, v + 1);
	}
	args_add(a, p, strlen(p));
	free(p);
}

/* Start a with "peerlogd". */
static void
args_init(struct args *a)
{
	a->argc = 0;
	args_add(a, "peerlogd", 8);
}

/* Free a's arguments. */
static void
args_free(struct args *a)
{
	for (int i = 0; i < a->argc; i++)
		free(a->argv[i]);
	a->argc = 0;
}

/* The index of the n bytes at s in names, or -1. */
static int
name_find(const char *s, size_t n)
{
	for (size_t i = 0; i < NNAMES; i++) {
		if (strlen(names[i].name) == n &&
		    memcmp(names[i].name, s, n) == 0)
			return (int)i;
	}
	return -1;
}

/*
 * The reference reader of one line (n bytes at s, no LF): REF_OK with the
 * option appended to a (nothing for a blank or comment line), or the
 * reason it is refused.
 */
static enum ref_err
ref_line(struct args *a, const char *s, size_t n)
{
	char *line, *p, *rest, *value = NULL;
	size_t end, nlen;
	bool eq, has;
	int k;
	enum ref_err e = REF_OK;

	if (memchr(s, '\0', n) != NULL)
		return REF_NUL;
	line = fuzz_alloc(n + 1);
	memcpy(line, s, n);
	line[n] = '\0';
	if (n > 0 && line[n - 1] == '\r')
		line[--n] = '\0';
	p = line + strspn(line, " \t");
	if (*p == '\0' || *p == '#')
		goto out;
	for (end = n; line[end - 1] == ' ' || line[end - 1] == '\t'; end--)
		;
	line[end] = '\0';
	nlen = strcspn(p, " \t=");
	rest = p + nlen;
	rest += strspn(rest, " \t");
	eq = *rest == '=';
	if (eq)
		rest += 1 + strspn(rest + 1, " \t");
	has = eq || *rest != '\0';
	value = rest;
	if (*rest == '"' || *rest == '\'') {
		char *close = strchr(rest + 1, *rest);
		if (close == NULL) {
			e = REF_UNTERMINATED;
			goto out;
		}
		if (close[1] != '\0') {
			e = REF_AFTER_QUOTE;
			goto out;
		}
		*close = '\0';
		value = rest + 1;
	}
	p[nlen] = '\0'; /* after the value is found: it may end the name */
	k = name_find(p, nlen);
	if (nlen == 0)
		e = REF_NO_NAME;
	else if (strcmp(p, "config") == 0 || strcmp(p, "help") == 0 ||
	         strcmp(p, "version") == 0)
		e = REF_FORBIDDEN;
	else if (k < 0)
		e = REF_UNKNOWN;
	else if (!names[k].arg && has)
		e = REF_NO_VALUE;
	else if (names[k].arg && !has)
		e = REF_NEEDS_VALUE;
	else
		args_option(a, p, names[k].arg ? value : NULL);
out:
	free(line);
	return e;
}

/*
 * Read the whole file with ref_line: the number of lines, and in *bad the
 * first refused line (0: none) with its reason in *why. Options of the
 * lines before it are in a.
 */
static unsigned long
ref_file(struct args *a, const char *text, size_t len, unsigned long *bad,
    enum ref_err *why)
{
	unsigned long line = 0;
	size_t at = 0;

	*bad = 0;
	*why = REF_OK;
	if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0)
		at = 3;
	while (at < len) {
		const char *lf = memchr(text + at, '\n', len - at);
		size_t n = lf != NULL ? (size_t)(lf - text) - at : len - at;
		line++;
		if (*bad == 0) {
			enum ref_err e = ref_line(a, text + at, n);
			if (e != REF_OK) {
				*bad = line;
				*why = e;
			}
		}
		at += n + 1;
	}
	return line;
}

/* One parse's answer. */
struct answer {
	enum opts_result res;
	struct opts o;
	char err[ERRLEN];
};

/* Parse the file (a fresh exact copy of len + 1 bytes, kept in *text
 * for the strings of ans->o) and argv into ans. */
static void
parse(struct answer *ans, const char *file, size_t len, struct args *a,
    char **text, size_t errlen)
{
	*text = fuzz_alloc(len + 1);
	memcpy(*text, file, len);
	memset(&ans->o, 0x5a, sizeof(ans->o));
	ans->err[0] = '\0';
	ans->res = opts_parse_file(&ans->o, a->argc, a->argv, NULL, FILE_NAME,
	    *text, len, ans->err, errlen);
}

/* Parse argv alone, with an empty file so that argv's -c is taken. */
static void
parse_args(struct answer *ans, struct args *a)
{
	char empty[1];

	memset(&ans->o, 0x5a, sizeof(ans->o));
	ans->err[0] = '\0';
	ans->res = opts_parse_file(&ans->o, a->argc, a->argv, NULL, FILE_NAME,
	    empty, 0, ans->err, sizeof(ans->err));
}

/* Whether two strings of the options are the same (both NULL, or equal). */
static bool
same_str(const char *x, const char *y)
{
	return x == NULL || y == NULL ? x == y : strcmp(x, y) == 0;
}

/* Whether two parsed option sets are the same: strings by content,
 * everything else byte for byte (the parser zeroes o first). */
static bool
same_opts(const struct opts *x, const struct opts *y)
{
	struct opts a = *x, b = *y;

	if (!same_str(a.cert, b.cert) || !same_str(a.key, b.key) ||
	    !same_str(a.client_ca, b.client_ca) ||
	    !same_str(a.output, b.output) ||
	    !same_str(a.redis_url, b.redis_url) ||
	    !same_str(a.redis_key, b.redis_key) || !same_str(a.user, b.user) ||
	    !same_str(a.pidfile, b.pidfile))
		return false;
	a.cert = b.cert = a.key = b.key = NULL;
	a.client_ca = b.client_ca = a.output = b.output = NULL;
	a.redis_url = b.redis_url = a.redis_key = b.redis_key = NULL;
	a.user = b.user = a.pidfile = b.pidfile = NULL;
	return memcmp(&a, &b, sizeof(a)) == 0;
}

/* Whether p points into the text (len bytes and its NUL) or an argument. */
static bool
owned(const char *p, const char *text, size_t len, const struct args *a)
{
	if (p >= text && p <= text + len)
		return true;
	for (int i = 0; i < a->argc; i++) {
		if (p >= a->argv[i] && p <= a->argv[i] + strlen(a->argv[i]))
			return true;
	}
	return false;
}

/* Every string of an accepted o lives in the text or argv, or is a
 * default. */
static void
check_owned(
    const struct opts *o, const char *text, size_t len, const struct args *a)
{
	const char *const strs[] = {
	    o->cert, o->key, o->client_ca, o->redis_url, o->user, o->pidfile};

	for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
		FUZZ_CHECK(strs[i] == NULL || owned(strs[i], text, len, a));
	FUZZ_CHECK(owned(o->output, text, len, a) ||
	           (!o->output_set && strcmp(o->output, "-") == 0));
	FUZZ_CHECK(owned(o->redis_key, text, len, a) ||
	           strcmp(o->redis_key, "peerlog") == 0);
}

/* An error: one non-empty printable line within the buffer. */
static void
check_err(const char *err)
{
	size_t n = strnlen(err, ERRLEN);

	FUZZ_CHECK(n >= 1 && n < ERRLEN);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)err[i];
		FUZZ_CHECK(c >= 0x20 && c != 0x7f);
	}
}

/* The LINE of an error "t.conf:LINE: ...", with *msg after the prefix;
 * 0 when it has none. */
static unsigned long
err_line(const char *err, const char **msg)
{
	const char *p = err + strlen(FILE_NAME ":");
	unsigned long line = 0;

	*msg = err;
	if (strncmp(err, FILE_NAME ":", strlen(FILE_NAME ":")) != 0)
		return 0;
	if (*p < '1' || *p > '9')
		return 0;
	while (*p >= '0' && *p <= '9' && line < 100000000)
		line = line * 10 + (unsigned long)(*p++ - '0');
	if (p[0] != ':' || p[1] != ' ')
		return 0;
	*msg = p + 2;
	return line;
}

/* got's message (after its prefix) is want's, as far as ERRLEN lets it. */
static void
check_same_msg(const char *got, const char *msg, const char *want)
{
	size_t n = strlen(msg);

	FUZZ_CHECK(strncmp(msg, want, n) == 0);
	FUZZ_CHECK(n == strlen(want) || strlen(got) == ERRLEN - 1);
}

/* Same answer again, and a small error buffer gets its start. */
static void
check_again(const struct answer *ans, const char *file, size_t len,
    struct args *a, size_t small)
{
	struct answer *again = fuzz_alloc(sizeof(*again));
	char *text;

	parse(again, file, len, a, &text, ERRLEN);
	FUZZ_CHECK(again->res == ans->res);
	if (ans->res == OPTS_RUN)
		FUZZ_CHECK(same_opts(&again->o, &ans->o));
	else
		FUZZ_CHECK(strcmp(again->err, ans->err) == 0);
	free(text);
	parse(again, file, len, a, &text, small);
	FUZZ_CHECK(again->res == ans->res);
	if (ans->res == OPTS_ERROR) {
		FUZZ_CHECK(strnlen(again->err, small) < small);
		FUZZ_CHECK(
		    strncmp(again->err, ans->err, strlen(again->err)) == 0);
	}
	free(text);
	free(again);
}

/* Whether err is one of the checks made once every option is in ("--tls
 * needs --cert and --key"), which a bad line stops the parse before. */
static bool
cross_check(const char *err)
{
	return strncmp(err, "--", 2) == 0 && strstr(err, " needs ") != NULL &&
	       strchr(err, '\'') == NULL;
}

/* The raw mode (see the top of the file). */
static void
fuzz_raw(const uint8_t *data, size_t size)
{
	const uint8_t *sep = NULL;
	struct args argv, ref;
	struct answer *got = fuzz_alloc(sizeof(*got));
	struct answer *want = fuzz_alloc(sizeof(*want));
	unsigned long lines, bad, line;
	enum ref_err why;
	size_t len = size;
	const char *msg;
	char *text;

	for (size_t i = 0; i + 1 < size; i++) {
		if (data[i] == 0 && data[i + 1] == 0) {
			sep = data + i;
			break;
		}
	}
	args_init(&argv);
	args_init(&ref);
	if (sep != NULL) {
		size_t at = (size_t)(sep - data) + 2;
		len = (size_t)(sep - data);
		while (at < size) {
			const uint8_t *nul = memchr(data + at, 0, size - at);
			size_t n =
			    nul != NULL ? (size_t)(nul - data) - at : size - at;
			args_add(&argv, (const char *)data + at, n);
			at += n + 1;
		}
	}
	parse(got, (const char *)data, len, &argv, &text, ERRLEN);
	lines = ref_file(&ref, (const char *)data, len, &bad, &why);
	if (got->res == OPTS_ERROR)
		check_err(got->err);
	line = got->res == OPTS_ERROR ? err_line(got->err, &msg) : 0;
	FUZZ_CHECK(line <= lines);
	if (got->res == OPTS_RUN)
		check_owned(&got->o, text, len, &argv);
	if (bad == 0) {
		/* The file's options, then argv's. */
		for (int i = 1; i < argv.argc; i++)
			args_add(&ref, argv.argv[i], strlen(argv.argv[i]));
		parse_args(want, &ref);
		FUZZ_CHECK(got->res == want->res);
		if (got->res == OPTS_RUN)
			FUZZ_CHECK(same_opts(&got->o, &want->o));
		if (got->res == OPTS_ERROR)
			check_same_msg(got->err, msg, want->err);
	} else {
		/* Refused by the line at the latest; at it when the lines
		 * before are good (without argv, which comes after). */
		FUZZ_CHECK(got->res == OPTS_ERROR);
		FUZZ_CHECK(line >= 1 && line <= bad);
		parse_args(want, &ref);
		if (want->res == OPTS_RUN || cross_check(want->err))
			FUZZ_CHECK(line == bad);
		if (line == bad)
			FUZZ_CHECK(strncmp(msg, ref_msg[why],
			               strlen(ref_msg[why])) == 0);
	}
	check_again(got, (const char *)data, len, &argv, 1 + size % 40);
	free(text);
	args_free(&argv);
	args_free(&ref);
	free(got);
	free(want);
}

/* A growing text. */
struct text {
	char *p;
	size_t len, cap;
};

/* Append n bytes at s to t. */
static void
text_add(struct text *t, const char *s, size_t n)
{
	if (t->len + n + 1 > t->cap) {
		t->cap = (t->len + n + 1) * 2;
		t->p = realloc(t->p, t->cap);
		if (t->p == NULL)
			abort();
	}
	memcpy(t->p + t->len, s, n);
	t->len += n;
}

/* Append a NUL-terminated string to t. */
static void
text_puts(struct text *t, const char *s)
{
	text_add(t, s, strlen(s));
}

/* One of the strings in list (n of them), chosen by r. */
static const char *
pick(struct rng *r, const char *const *list, size_t n)
{
	return list[rng_next(r) % n];
}

/*
 * Write value v (n bytes, no LF, no NUL) as it must appear for the parser
 * to read it back: as it is when it can be, in the quote chosen (or the
 * one it does not hold) when it must be, or quoted anyway when r says so.
 * false when it cannot be written (it needs quotes and holds both).
 */
static bool
spell_value(struct text *t, struct rng *r, const char *v, size_t n)
{
	bool dq = memchr(v, '"', n) != NULL, sq = memchr(v, '\'', n) != NULL;
	bool must = n == 0 || v[0] == ' ' || v[0] == '\t' || v[0] == '"' ||
	            v[0] == '\'' || v[n - 1] == ' ' || v[n - 1] == '\t' ||
	            v[n - 1] == '\r' || v[0] == '=';
	const char *q;

	if (!must && rng_next(r) % 4 != 0) {
		text_add(t, v, n);
		return true;
	}
	if (dq && sq)
		return !must && (text_add(t, v, n), true);
	q = dq ? "'" : sq ? "\"" : rng_next(r) % 2 ? "'" : "\"";
	text_puts(t, q);
	text_add(t, v, n);
	text_puts(t, q);
	return true;
}

/* The spelled mode (see the top of the file). */
static void
fuzz_spelled(const uint8_t *data, size_t size)
{
	static const char *const seps[] = {
	    " ", "\t", "=", " = ", "\t=\t", "  =", "= ", " \t "};
	static const char *const lead[] = {"", "", " ", "\t", "  \t"};
	static const char *const trail[] = {"", "", " ", "\t", " \t "};
	static const char *const filler[] = {
	    "# a comment", "", "   ", "\t# tabbed", "#", "#tcp 1234"};
	struct rng r = {rng_seed(data, size) | 1};
	struct text t = {0};
	struct args ref, none;
	struct answer *got = fuzz_alloc(sizeof(*got));
	struct answer *want = fuzz_alloc(sizeof(*want));
	unsigned long line = 0, opt_lines[64];
	size_t nlines = 0, at = 0;
	bool crlf = rng_next(&r) % 4 == 0;
	const char *msg;
	char *text;

	args_init(&ref);
	args_init(&none);
	if (rng_next(&r) % 4 == 0)
		text_puts(&t, "\xef\xbb\xbf");
	while (at + 2 <= size && nlines < 64) {
		unsigned k = data[at] % NNAMES;
		size_t n = data[at + 1];
		char *v;
		if (n > size - at - 2)
			n = size - at - 2;
		v = fuzz_alloc(n + 1);
		memcpy(v, data + at + 2, n);
		v[n] = '\0';
		at += 2 + n;
		if (memchr(v, '\n', n) != NULL || memchr(v, '\0', n) != NULL) {
			free(v);
			continue;
		}
		while (rng_next(&r) % 3 == 0) {
			text_puts(&t, pick(&r, filler, 6));
			text_puts(&t, crlf ? "\r\n" : "\n");
			line++;
		}
		size_t mark = t.len;
		text_puts(&t, pick(&r, lead, 5));
		text_puts(&t, names[k].name);
		if (names[k].arg) {
			text_puts(&t, pick(&r, seps, 8));
			if (!spell_value(&t, &r, v, n)) {
				t.len = mark;
				free(v);
				continue;
			}
		}
		text_puts(&t, pick(&r, trail, 5));
		text_puts(&t, crlf ? "\r\n" : "\n");
		opt_lines[nlines++] = ++line;
		args_option(&ref, names[k].name, names[k].arg ? v : NULL);
		free(v);
	}
	if (nlines > 0 && rng_next(&r) % 4 == 0)
		t.len -= crlf ? 2 : 1; /* no line end after the last line */
	if (t.p == NULL)
		text_add(&t, "", 0);
	parse(got, t.p, t.len, &none, &text, ERRLEN);
	parse_args(want, &ref);
	FUZZ_CHECK(got->res == want->res);
	if (got->res == OPTS_RUN) {
		FUZZ_CHECK(same_opts(&got->o, &want->o));
		check_owned(&got->o, text, t.len, &none);
	} else {
		bool found = false;
		check_err(got->err);
		line = err_line(got->err, &msg);
		for (size_t i = 0; i < nlines; i++)
			found = found || opt_lines[i] == line;
		FUZZ_CHECK(found);
		check_same_msg(got->err, msg, want->err);
	}
	check_again(got, t.p, t.len, &none, 1 + size % 40);
	free(text);
	free(t.p);
	args_free(&ref);
	args_free(&none);
	free(got);
	free(want);
}

/* One input: the mode byte, then the mode's bytes. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0 || size > MAXINPUT)
		return 0;
	if (data[0] & 1)
		fuzz_spelled(data + 1, size - 1);
	else
		fuzz_raw(data + 1, size - 1);
	return 0;
}
