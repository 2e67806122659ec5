/*
 * libFuzzer harness of opts.c. The input is cut at NUL bytes into an
 * argument vector (each argument its own exact allocation) given to both
 * opts_parse and opts_parse_client. An error must be one non-empty line
 * that fits the buffer, whatever its size; a result must hold the limits
 * of the contract; parsing must leave argv alone and give the same answer
 * every time. A numeric option alone must be accepted exactly when its
 * value is in range, judged by comparing digit strings, on the input and
 * on values generated from it at and around the bounds.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "opts.h"

#define MAXARGS 200
#define ERRLEN 512 /* what peerlogd and peerlog give */

/* The argument vector made from one input, with a copy to compare. */
struct args {
	int argc;
	char *argv[MAXARGS + 2];
	char *saved[MAXARGS + 2];
	size_t len[MAXARGS + 2];
};

/* Cut the input at NULs into argv[1..]; argv[0] is name. A final NUL
 * ends the last argument rather than starting an empty one. */
static void
args_make(struct args *a, const char *name, const uint8_t *data, size_t size)
{
	size_t i = 0;

	a->argc = 0;
	a->len[0] = strlen(name);
	a->argv[a->argc++] = fuzz_dup(name, a->len[0] + 1);
	while (i < size && a->argc <= MAXARGS) {
		const uint8_t *nul = memchr(data + i, '\0', size - i);
		size_t n = nul != NULL ? (size_t)(nul - data) - i : size - i;
		char *arg = fuzz_alloc(n + 1);
		memcpy(arg, data + i, n);
		arg[n] = '\0';
		a->len[a->argc] = n;
		a->argv[a->argc++] = arg;
		i += n + 1;
	}
	a->argv[a->argc] = NULL;
	for (int k = 0; k < a->argc; k++)
		a->saved[k] = fuzz_dup(a->argv[k], a->len[k] + 1);
}

/* argv still holds the same pointers to the same bytes. */
static void
args_unchanged(const struct args *a, char *const *argv)
{
	FUZZ_CHECK(argv[a->argc] == NULL);
	for (int k = 0; k < a->argc; k++) {
		FUZZ_CHECK(argv[k] == a->argv[k]);
		FUZZ_CHECK(memcmp(argv[k], a->saved[k], a->len[k] + 1) == 0);
	}
}

/* Free the arguments and their copies. */
static void
args_free(struct args *a)
{
	for (int k = 0; k < a->argc; k++) {
		free(a->argv[k]);
		free(a->saved[k]);
	}
}

/* Whether p points into one of the arguments (their NULs included). */
static bool
in_args(const struct args *a, const char *p)
{
	for (int k = 1; k < a->argc; k++) {
		if (p >= a->argv[k] && p <= a->argv[k] + a->len[k])
			return true;
	}
	return false;
}

/* An error: one non-empty line, no terminal controls, NUL within errlen. */
static void
check_err(const char *err, size_t errlen)
{
	size_t n = strnlen(err, errlen);

	FUZZ_CHECK(n < errlen);
	FUZZ_CHECK(n >= 1);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)err[i];
		FUZZ_CHECK(c >= 0x20 && c != 0x7f);
	}
}

/* A small error buffer gets the start of the same message, NUL-ended;
 * no buffer at all is allowed too. The result never depends on either. */
static void
check_small_err(enum opts_result want, const char *full, size_t errlen,
    enum opts_result (*parse)(void *, int, char **, char *, size_t), void *o,
    struct args *a)
{
	char *err = fuzz_alloc(errlen);

	FUZZ_CHECK(parse(o, a->argc, a->argv, err, errlen) == want);
	if (want == OPTS_ERROR) {
		FUZZ_CHECK(strnlen(err, errlen) < errlen);
		FUZZ_CHECK(strncmp(err, full, strlen(err)) == 0);
		FUZZ_CHECK(
		    strlen(err) == errlen - 1 || strlen(err) == strlen(full));
	}
	FUZZ_CHECK(parse(o, a->argc, a->argv, NULL, 0) == want);
	free(err);
}

/* opts_parse behind a type check_small_err can hold. */
static enum opts_result
parse_server(void *o, int argc, char **argv, char *err, size_t errlen)
{
	return opts_parse(o, argc, argv, err, errlen);
}

/* opts_parse_client behind a type check_small_err can hold. */
static enum opts_result
parse_client(void *o, int argc, char **argv, char *err, size_t errlen)
{
	return opts_parse_client(o, argc, argv, err, errlen);
}

/* A listener list: within its bound, each entry a NUL-ended host. */
static void
check_addrs(const struct addr_spec *list, size_t n)
{
	FUZZ_CHECK(n <= OPTS_MAX_ADDRS);
	for (size_t i = 0; i < n; i++) {
		size_t hlen = strnlen(list[i].host, ADDR_HOSTLEN);
		FUZZ_CHECK(hlen < ADDR_HOSTLEN);
		FUZZ_CHECK(list[i].any == (hlen == 0));
	}
}

/* A file option: not given, or a non-empty argument (or the rest of one
 * after '='). */
static void
check_file(const struct args *a, const char *f)
{
	FUZZ_CHECK(f == NULL || (f[0] != '\0' && in_args(a, f)));
}

/* peerlogd's options: every value inside its documented range. */
static void
check_server(const struct args *a, const struct opts *o)
{
	check_addrs(o->tcp, o->ntcp);
	check_addrs(o->udp, o->nudp);
	check_addrs(o->tls, o->ntls);
	FUZZ_CHECK(o->ntcp + o->nudp + o->ntls >= 1);
	FUZZ_CHECK(o->output != NULL && o->output[0] != '\0');
	FUZZ_CHECK(strcmp(o->output, "-") == 0 || in_args(a, o->output));
	FUZZ_CHECK(o->format == RECORD_TEXT || o->format == RECORD_JSON);
	FUZZ_CHECK(o->max_line >= 1 && o->max_line <= 16777216);
	FUZZ_CHECK(o->max_clients >= 1 && o->max_clients <= 1000000);
	FUZZ_CHECK(o->idle_timeout <= 31536000);
	FUZZ_CHECK(o->max_per_source <= 1000000);
	FUZZ_CHECK(o->handshake_timeout <= 31536000);
	check_file(a, o->cert);
	check_file(a, o->key);
	check_file(a, o->client_ca);
	FUZZ_CHECK(o->nclient_names <= OPTS_MAX_NAMES);
	for (size_t i = 0; i < o->nclient_names; i++) {
		const struct certname_rule *c = &o->client_names[i];
		size_t n = strnlen(c->name, sizeof c->name);
		FUZZ_CHECK(n < sizeof c->name && n == c->len);
		FUZZ_CHECK(c->pin ? n == 0 : n >= 1);
	}
	FUZZ_CHECK(o->nallow <= OPTS_MAX_ALLOW);
	for (size_t i = 0; i < o->nallow; i++) {
		const struct cidr *c = &o->allow[i];
		FUZZ_CHECK(c->family == AF_INET || c->family == AF_INET6);
		FUZZ_CHECK(c->prefix <= (c->family == AF_INET ? 32u : 128u));
	}
	FUZZ_CHECK(o->nproxy <= OPTS_MAX_ALLOW);
	for (size_t i = 0; i < o->nproxy; i++) {
		const struct cidr *c = &o->proxy[i];
		FUZZ_CHECK(c->family == AF_INET || c->family == AF_INET6);
		FUZZ_CHECK(c->prefix <= (c->family == AF_INET ? 32u : 128u));
	}
}

/* What the TLS options given are, as bits. */
enum { G_TLS = 1, G_CERT = 2, G_KEY = 4, G_CA = 8, G_NAME = 16 };

/*
 * The TLS options' needs as a table, written from the contract rather than
 * from opts_check_tls: an option given needs every option it lists. The
 * rows are in the order their errors take precedence.
 */
static const struct {
	unsigned given, needs;
	const char *err;
} tls_needs[] = {
    {G_TLS, G_CERT | G_KEY, "--tls needs --cert and --key"},
    {G_CERT, G_TLS, "--cert needs a --tls listener"},
    {G_KEY, G_TLS, "--key needs a --tls listener"},
    {G_CA, G_TLS, "--client-ca needs a --tls listener"},
    {G_NAME, G_CA, "--client-name needs --client-ca"},
};

/* The error that the TLS options given call for, or NULL. */
static const char *
tls_missing(unsigned given)
{
	for (size_t k = 0; k < sizeof tls_needs / sizeof tls_needs[0]; k++) {
		unsigned need = tls_needs[k].needs;
		if ((given & tls_needs[k].given) != 0 && (given & need) != need)
			return tls_needs[k].err;
	}
	return NULL;
}

/* What a peerlogd command line that parsed holds, read again. */
struct walk {
	size_t ntcp, nudp, ntls, nnames, nproxy;
	const char *cert, *key, *ca;
	const char *names[MAXARGS];
};

/*
 * Read a command line that opts_parse accepted, without its scanner: with
 * -h and -V ruled out (they end a parse) every option of peerlogd takes a
 * value, so each argument is "--name=VALUE", "--name" VALUE, "-XVALUE" or
 * "-X" VALUE, but a last "--" (no operands are taken).
 */
static void
walk_args(const struct args *a, struct walk *w)
{
	memset(w, 0, sizeof *w);
	for (int i = 1; i < a->argc; i++) {
		const char *s = a->argv[i], *name, *value = NULL;
		size_t n;

		FUZZ_CHECK(s[0] == '-' && s[1] != '\0');
		if (strcmp(s, "--") == 0) {
			FUZZ_CHECK(i == a->argc - 1);
			break;
		}
		if (s[1] == '-') {
			const char *eq = strchr(s + 2, '=');
			name = s + 2;
			n = eq != NULL ? (size_t)(eq - name) : strlen(name);
			value = eq != NULL ? eq + 1 : NULL;
		} else {
			name = s + 1;
			n = 1;
			value = s[2] != '\0' ? s + 2 : NULL;
		}
		if (value == NULL) {
			FUZZ_CHECK(i + 1 < a->argc);
			value = a->argv[++i];
		}
#define WALK_IS(lit) (n == strlen(lit) && memcmp(name, lit, n) == 0)
		if (WALK_IS("t") || WALK_IS("tcp"))
			w->ntcp++;
		else if (WALK_IS("u") || WALK_IS("udp"))
			w->nudp++;
		else if (WALK_IS("T") || WALK_IS("tls"))
			w->ntls++;
		else if (WALK_IS("cert"))
			w->cert = value;
		else if (WALK_IS("key"))
			w->key = value;
		else if (WALK_IS("client-ca"))
			w->ca = value;
		else if (WALK_IS("client-name"))
			w->names[w->nnames++] = value;
		else if (WALK_IS("proxy"))
			w->nproxy++;
#undef WALK_IS
	}
}

/*
 * An accepted command line read again: as many listeners of each kind as
 * were asked for, or the defaults when none was; the last of each file
 * option, as given; the names in order; and the TLS options' needs met.
 */
static void
check_walk(const struct args *a, const struct opts *o)
{
	struct walk *w = fuzz_alloc(sizeof *w);
	unsigned given = 0;

	walk_args(a, w);
	if (w->ntcp + w->nudp + w->ntls == 0) {
		FUZZ_CHECK(o->ntcp == 1 && o->nudp == 1 && o->ntls == 0);
		FUZZ_CHECK(!o->tcp[0].any && o->tcp[0].port == 1234 &&
		           strcmp(o->tcp[0].host, "localhost") == 0);
		FUZZ_CHECK(!o->udp[0].any && o->udp[0].port == 1235 &&
		           strcmp(o->udp[0].host, "localhost") == 0);
	} else {
		FUZZ_CHECK(o->ntcp == w->ntcp && o->nudp == w->nudp &&
		           o->ntls == w->ntls);
	}
	FUZZ_CHECK(o->nproxy == w->nproxy);
	FUZZ_CHECK(
	    o->cert == w->cert && o->key == w->key && o->client_ca == w->ca);
	FUZZ_CHECK(o->nclient_names == w->nnames);
	for (size_t i = 0; i < w->nnames; i++) {
		const struct certname_rule *r = &o->client_names[i];
		bool pin = strlen(w->names[i]) >= 7 &&
		           (w->names[i][0] | 0x20) == 's' &&
		           (w->names[i][1] | 0x20) == 'h' &&
		           (w->names[i][2] | 0x20) == 'a' &&
		           memcmp(w->names[i] + 3, "256:", 4) == 0;
		FUZZ_CHECK(r->pin == pin);
		FUZZ_CHECK(pin || strcmp(r->name, w->names[i]) == 0);
	}
	given |= w->ntls > 0 ? G_TLS : 0;
	given |= w->cert != NULL ? G_CERT : 0;
	given |= w->key != NULL ? G_KEY : 0;
	given |= w->ca != NULL ? G_CA : 0;
	given |= w->nnames > 0 ? G_NAME : 0;
	FUZZ_CHECK(tls_missing(given) == NULL);
	free(w);
}

/* peerlog's options: a host, a port 1..65535 in digits, one family. */
static void
check_client(const struct args *a, const struct client_opts *o)
{
	unsigned long port;

	FUZZ_CHECK(o->family == CLIENT_ANY || o->family == CLIENT_INET4 ||
	           o->family == CLIENT_INET6);
	FUZZ_CHECK(o->host != NULL && o->host[0] != '\0');
	FUZZ_CHECK(strcmp(o->host, "localhost") == 0 || in_args(a, o->host));
	FUZZ_CHECK(o->port != NULL);
	FUZZ_CHECK(strcmp(o->port, o->udp   ? "1235"
	                           : o->tls ? "1236"
	                                    : "1234") == 0 ||
	           in_args(a, o->port));
	/* --tls never with -u; its files only with it, cert and key paired,
	 * each a non-empty argument (or the rest of one after '='). */
	FUZZ_CHECK(!(o->udp && o->tls));
	FUZZ_CHECK(
	    o->tls || (o->ca == NULL && o->cert == NULL && o->key == NULL));
	FUZZ_CHECK((o->cert == NULL) == (o->key == NULL));
	const char *files[] = {o->ca, o->cert, o->key};
	for (size_t i = 0; i < 3; i++)
		FUZZ_CHECK(files[i] == NULL ||
		           (files[i][0] != '\0' && in_args(a, files[i])));
	/* The form by strspn, the value by strtoul (5 digits cannot
	 * overflow it), not by opts.c's digit loop. */
	size_t n = strlen(o->port);
	FUZZ_CHECK(n >= 1 && n <= 5 && strspn(o->port, "0123456789") == n);
	port = strtoul(o->port, NULL, 10);
	FUZZ_CHECK(port >= 1 && port <= 65535);
}

/* The value of "--name VALUE" or "--name=VALUE" when that is the whole
 * command line, or NULL. */
static const char *
sole_option(const struct args *a, const char *name)
{
	size_t n = strlen(name);

	if (a->argc == 3 && a->argv[1][0] == '-' && a->argv[1][1] == '-' &&
	    strcmp(a->argv[1] + 2, name) == 0)
		return a->argv[2];
	if (a->argc == 2 && a->argv[1][0] == '-' && a->argv[1][1] == '-' &&
	    strncmp(a->argv[1] + 2, name, n) == 0 && a->argv[1][n + 2] == '=')
		return a->argv[1] + n + 3;
	return NULL;
}

/* The numeric options of the contract and their ranges. */
static const struct {
	const char *name;
	unsigned long min, max;
} defs[] = {
    {"max-line", 1, 16777216},
    {"max-clients", 1, 1000000},
    {"idle-timeout", 0, 31536000},
    {"max-per-source", 0, 1000000},
    {"handshake-timeout", 0, 31536000},
};
#define NDEFS (sizeof defs / sizeof defs[0])
#define DEF_HANDSHAKE 4 /* defs[DEF_HANDSHAKE] is --handshake-timeout */

/* The value opts_parse stored for defs[k]. */
static unsigned long
stored_number(const struct opts *o, size_t k)
{
	switch (k) {
	case 0:
		return (unsigned long)o->max_line;
	case 1:
		return o->max_clients;
	case 2:
		return o->idle_timeout;
	case 3:
		return o->max_per_source;
	default:
		return o->handshake_timeout;
	}
}

/* Compare two decimal numbers without leading zeros as text: the longer
 * is the larger, and of equal length the one later in byte order. */
static int
decimal_cmp(const char *a, const char *b)
{
	size_t na = strlen(a), nb = strlen(b);

	if (na != nb)
		return na < nb ? -1 : 1;
	return strcmp(a, b);
}

/* What a value v of defs[k] is, judged as text. */
enum number_verdict { NUMBER_OK, NUMBER_NAN, NUMBER_RANGE };

/*
 * Judge v for defs[k] without reading it as a number (opts.c does that):
 * all digits, then with its leading zeros dropped (*sig) compared as text
 * with the bounds printed in decimal.
 */
static enum number_verdict
number_judge(size_t k, const char *v, const char **sig)
{
	char min[24], max[24];
	bool digits = v[0] != '\0' && strspn(v, "0123456789") == strlen(v);

	*sig = v + strspn(v, "0");
	if (digits && **sig == '\0')
		*sig = "0";
	if (!digits)
		return NUMBER_NAN;
	snprintf(min, sizeof min, "%lu", defs[k].min);
	snprintf(max, sizeof max, "%lu", defs[k].max);
	if (decimal_cmp(*sig, min) < 0 || decimal_cmp(*sig, max) > 0)
		return NUMBER_RANGE;
	return NUMBER_OK;
}

/*
 * A numeric option alone on the command line: accepted exactly when its
 * value is all digits and inside its range; then it is the value stored,
 * printed in decimal and compared as text.
 */
static void
check_numbers(const struct args *a, enum opts_result r, const struct opts *o)
{
	char got[24];
	const char *sig;

	for (size_t k = 0; k < NDEFS; k++) {
		const char *v = sole_option(a, defs[k].name);
		if (v == NULL)
			continue;
		bool ok = number_judge(k, v, &sig) == NUMBER_OK;
		FUZZ_CHECK(r == (ok ? OPTS_RUN : OPTS_ERROR));
		if (!ok)
			continue;
		snprintf(got, sizeof got, "%lu", stored_number(o, k));
		FUZZ_CHECK(strcmp(got, sig) == 0);
	}
}

/* peerlogd's parser on one argument vector. */
static void
fuzz_server(struct args *a, size_t small)
{
	struct opts *o = fuzz_alloc(sizeof *o);
	struct opts *again = fuzz_alloc(sizeof *again);
	char *err = fuzz_alloc(ERRLEN);
	char *err2 = fuzz_alloc(ERRLEN);

	enum opts_result r = opts_parse(o, a->argc, a->argv, err, ERRLEN);
	args_unchanged(a, a->argv);
	FUZZ_CHECK(r == OPTS_RUN || r == OPTS_HELP || r == OPTS_VERSION ||
	           r == OPTS_ERROR);
	if (r == OPTS_ERROR)
		check_err(err, ERRLEN);
	if (r == OPTS_RUN) {
		check_server(a, o);
		check_walk(a, o);
	}
	check_numbers(a, r, o);
	/* No hidden state: the same arguments, the same answer. */
	FUZZ_CHECK(opts_parse(again, a->argc, a->argv, err2, ERRLEN) == r);
	FUZZ_CHECK(memcmp(o, again, sizeof *o) == 0);
	FUZZ_CHECK(r != OPTS_ERROR || strcmp(err, err2) == 0);
	check_small_err(r, err, small, parse_server, again, a);
	args_unchanged(a, a->argv);
	free(err2);
	free(err);
	free(again);
	free(o);
}

/* peerlog's parser on one argument vector. */
static void
fuzz_client(struct args *a, size_t small)
{
	struct client_opts o, again;
	char *err = fuzz_alloc(ERRLEN);
	char *err2 = fuzz_alloc(ERRLEN);

	enum opts_result r =
	    opts_parse_client(&o, a->argc, a->argv, err, ERRLEN);
	args_unchanged(a, a->argv);
	FUZZ_CHECK(r == OPTS_RUN || r == OPTS_HELP || r == OPTS_VERSION ||
	           r == OPTS_ERROR);
	if (r == OPTS_ERROR)
		check_err(err, ERRLEN);
	if (r == OPTS_RUN)
		check_client(a, &o);
	FUZZ_CHECK(
	    opts_parse_client(&again, a->argc, a->argv, err2, ERRLEN) == r);
	FUZZ_CHECK(memcmp(&o, &again, sizeof o) == 0);
	FUZZ_CHECK(r != OPTS_ERROR || strcmp(err, err2) == 0);
	check_small_err(r, err, small, parse_client, &again, a);
	args_unchanged(a, a->argv);
	free(err2);
	free(err);
}

/* Write 2^64 + k (k < 1000) in decimal: a value that an unchecked 64-bit
 * accumulator would wrap round to k. */
static void
wrap_value(char *d, unsigned k)
{
	strcpy(d, "18446744073709551616");
	for (size_t i = strlen(d); i-- > 0 && k != 0;) {
		unsigned v = (unsigned)(d[i] - '0') + k;
		d[i] = (char)('0' + v % 10);
		k = v / 10;
	}
}

/*
 * A value for option k, where parsers go wrong: each bound and its
 * neighbour outside, inside and above the range, past 2^64, random
 * digits, empty, one stray byte; often with zeros in front.
 */
static void
gen_value(struct rng *r, size_t k, char *d)
{
	unsigned long lo = defs[k].min, hi = defs[k].max;
	char v[40];

	switch (rng_below(r, 10)) {
	case 0:
		snprintf(v, sizeof v, "%lu", lo > 0 ? lo - 1 : hi + 1);
		break;
	case 1:
		snprintf(v, sizeof v, "%lu", lo);
		break;
	case 2:
		snprintf(v, sizeof v, "%lu", hi);
		break;
	case 3:
		snprintf(v, sizeof v, "%lu", hi + 1);
		break;
	case 4:
		snprintf(v, sizeof v, "%lu",
		    lo + rng_below(r, (uint32_t)(hi - lo + 1)));
		break;
	case 5:
		snprintf(
		    v, sizeof v, "%lu", hi + 1 + rng_below(r, (uint32_t)hi));
		break;
	case 6:
		wrap_value(v, rng_below(r, 1000));
		break;
	case 7: {
		size_t n = 1 + rng_below(r, 25);
		for (size_t i = 0; i < n; i++)
			v[i] = (char)('0' + rng_below(r, 10));
		v[n] = '\0';
		break;
	}
	case 8:
		v[0] = '\0';
		break;
	default: {
		/* A value in range with one byte that is not a digit. */
		size_t n = (size_t)snprintf(v, sizeof v, "%lu", hi);
		size_t at = rng_below(r, (uint32_t)n + 1);
		char c;
		do
			c = (char)(1 + rng_below(r, 255));
		while (c >= '0' && c <= '9');
		memmove(v + at + 1, v + at, n - at + 1);
		v[at] = c;
	}
	}
	size_t zeros = rng_below(r, 2) ? rng_below(r, 4) : 0;
	memset(d, '0', zeros);
	strcpy(d + zeros, v);
}

/* Begin an argument vector for name, to be filled by args_push. */
static void
args_start(struct args *a, const char *name)
{
	a->argc = 0;
	a->len[0] = strlen(name);
	a->argv[0] = fuzz_dup(name, a->len[0] + 1);
	a->saved[0] = fuzz_dup(name, a->len[0] + 1);
	a->argc = 1;
	a->argv[1] = NULL;
}

/* Append the argument prefix + value, in its own exact allocation. */
static void
args_push(struct args *a, const char *prefix, const char *value)
{
	size_t np = strlen(prefix), nv = strlen(value);
	char *s = fuzz_alloc(np + nv + 1);

	FUZZ_CHECK(a->argc < MAXARGS);
	memcpy(s, prefix, np);
	memcpy(s + np, value, nv + 1);
	a->len[a->argc] = np + nv;
	a->argv[a->argc] = s;
	a->saved[a->argc] = fuzz_dup(s, np + nv + 1);
	a->argv[++a->argc] = NULL;
}

/* One option of a generated peerlogd command line. */
enum piece_kind {
	P_TLS,
	P_TCP,
	P_UDP,
	P_CERT,
	P_KEY,
	P_CA,
	P_NAME,
	P_HANDSHAKE,
	P_HELP,
	P_VERSION,
};

/*
 * A generated option: its value, and what it must give, known by how it
 * was made: a listener's address, a pin's bytes, a number; or, when bad,
 * its error: head, the value as shown (NULL when it is not shown whole or
 * plainly), tail.
 */
struct piece {
	enum piece_kind kind;
	char value[320];
	unsigned form; /* which spelling of the option, see piece_push */
	bool bad;
	const char *why; /* the reason, for a bad address or name */
	char head[64], tail[96];
	const char *shown;
	struct addr_spec spec;             /* P_TLS, P_TCP, P_UDP */
	bool pin;                          /* P_NAME */
	unsigned char fp[CERTNAME_FP_LEN]; /* P_NAME with pin */
	unsigned long number;              /* P_HANDSHAKE */
};

/* Whether an error shows s as it is: printable ASCII, no backslash (the
 * record escaper's one printable change), short enough not to be cut. */
static bool
plain(const char *s)
{
	size_t n = strlen(s);

	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x20 || s[i] > 0x7e || s[i] == '\\')
			return false;
	return n <= 63;
}

/* Mark p bad with the error head, p's value as shown, tail. */
static void
piece_bad(struct piece *p, const char *head, const char *tail)
{
	p->bad = true;
	snprintf(p->head, sizeof p->head, "%s", head);
	snprintf(p->tail, sizeof p->tail, "%s", tail);
	p->shown = plain(p->value) ? p->value : NULL;
}

/* An ADDR for -T, -t or -u: one of each form with a random port, or (when
 * bad_ok) one broken in a known way, with addr.c's reason. */
static void
gen_addr(struct rng *r, struct piece *p, bool bad_ok, const char *opt)
{
	static const struct {
		const char *addr, *why;
	} bad[] = {
	    {"1.2.3.4:65536", "bad port"},
	    {"::1:80", "IPv6 address needs [brackets]"},
	    {"[::1]", "missing port"},
	    {"", "empty address"},
	    {"host:", "missing port"},
	};
	static const char *const hosts[] = {
	    "127.0.0.1", "::1", "localhost", "example.org"};
	unsigned port = rng_below(r, 65536);
	char head[32];

	memset(&p->spec, 0, sizeof p->spec);
	p->spec.port = (uint16_t)port;
	if (bad_ok && rng_below(r, 8) == 0) {
		size_t k = rng_below(r, sizeof bad / sizeof bad[0]);
		snprintf(p->value, sizeof p->value, "%s", bad[k].addr);
		snprintf(head, sizeof head, "--%s '", opt);
		char tail[64];
		snprintf(tail, sizeof tail, "': %s", bad[k].why);
		piece_bad(p, head, tail);
		return;
	}
	switch (rng_below(r, 4)) {
	case 0:
		snprintf(p->value, sizeof p->value, "%u", port);
		p->spec.any = true;
		break;
	case 1:
		snprintf(p->value, sizeof p->value, "*:%u", port);
		p->spec.any = true;
		break;
	default: {
		const char *h = hosts[rng_below(r, 4)];
		snprintf(p->value, sizeof p->value,
		    strchr(h, ':') != NULL ? "[%s]:%u" : "%s:%u", h, port);
		snprintf(p->spec.host, sizeof p->spec.host, "%s", h);
	}
	}
}

/* A FILE for --cert, --key or --client-ca; now and then an empty one. */
static void
gen_file(struct rng *r, struct piece *p, const char *opt)
{
	char head[48];

	switch (rng_below(r, 10)) {
	case 0:
		p->value[0] = '\0';
		snprintf(head, sizeof head, "--%s: empty path", opt);
		piece_bad(p, head, "");
		p->shown = "";
		break;
	case 1:
		/* Only a value: never standard input, never an option. */
		snprintf(p->value, sizeof p->value, "%s",
		    rng_below(r, 2) ? "-" : "--");
		break;
	default:
		snprintf(p->value, sizeof p->value, "/etc/peerlog/%s-%u.pem",
		    opt, rng_below(r, 1000));
	}
}

/* Write fp as a pin: "sha256:" in some case, hex digits in either case
 * (each chosen apart), with a colon between every pair or none. */
static void
pin_write(struct rng *r, char *d, const unsigned char *fp, bool colons)
{
	static const char *const prefixes[] = {"sha256:", "SHA256:", "Sha256:"};
	static const char lower[] = "0123456789abcdef";
	static const char upper[] = "0123456789ABCDEF";
	size_t n = (size_t)sprintf(d, "%s", prefixes[rng_below(r, 3)]);
	bool mixed = rng_below(r, 2), up = rng_below(r, 2);

	for (size_t i = 0; i < CERTNAME_FP_LEN; i++) {
		if (colons && i > 0)
			d[n++] = ':';
		for (int half = 0; half < 2; half++) {
			unsigned v = half == 0 ? fp[i] >> 4 : fp[i] & 15;
			bool u = mixed ? rng_below(r, 2) : up;
			d[n++] = u ? upper[v] : lower[v];
		}
	}
	d[n] = '\0';
}

/*
 * A --client-name: a name or pin that is good by construction, or one
 * broken in a known way with certname.h's reason for it.
 */
static void
gen_name(struct rng *r, struct piece *p)
{
	static const char *const good[] = {"host.example", "*.example.org",
	    "Jane Doe", "UPPER.Example.", "x", "*.a.b.c", "*.a.", "-"};
	static const struct {
		const char *name, *why, *shown;
	} bad[] = {
	    {"", "empty", ""},
	    {".", "empty", "."},
	    {"a.*.example", "'*' only as the first label", NULL},
	    {"*x.example", "'*' only as the first label", NULL},
	    {"**.example", "'*' only as the first label", NULL},
	    {"*.a.*", "'*' only as the first label", NULL},
	    {"*.", "nothing after '*.'", NULL},
	    {"*.a..b", "an empty label after '*.'", NULL},
	    {"*..a", "an empty label after '*.'", NULL},
	    {"a\001b", "a control byte", "a\\x01b"},
	    {"tab\there", "a control byte", "tab\\there"},
	    {"del\177", "a control byte", "del\\x7f"},
	    {"sha256:", "not 64 hex digits after sha256:", NULL},
	};
	static const char alphabet[] = "abcxyz019-. ";
	char *v = p->value;
	size_t n;

	p->pin = false;
	switch (rng_below(r, 10)) {
	case 0:
	case 1:
		snprintf(v, sizeof p->value, "%s", good[rng_below(r, 8)]);
		return;
	case 2:
	case 3:
		/* Any bytes of the alphabet but a lone dot; 255 at most. */
		n = 1 + rng_below(r, rng_below(r, 8) == 0 ? 255 : 40);
		for (size_t i = 0; i < n; i++)
			v[i] = alphabet[rng_below(r, sizeof alphabet - 1)];
		v[n] = '\0';
		if (strcmp(v, ".") == 0)
			v[0] = 'a';
		return;
	case 4:
	case 5:
	case 6:
		for (size_t i = 0; i < CERTNAME_FP_LEN; i++)
			p->fp[i] = (unsigned char)rng_next(r);
		pin_write(r, v, p->fp, rng_below(r, 2));
		p->pin = true;
		return;
	case 7: {
		size_t k = rng_below(r, sizeof bad / sizeof bad[0]);
		snprintf(v, sizeof p->value, "%s", bad[k].name);
		p->why = bad[k].why;
		break;
	}
	case 8:
		/* 256 bytes or more: too long, shown only in part. */
		n = 256 + rng_below(r, 40);
		for (size_t i = 0; i < n; i++)
			v[i] = alphabet[rng_below(r, 6)];
		v[n] = '\0';
		p->why = "longer than 255 bytes";
		break;
	default: {
		/* A pin broken by one byte: a digit less or more, a stray
		 * byte for a digit (all "not 64 hex digits"); a colon less,
		 * more or moved, with 64 digits (the colons' reason). */
		unsigned char fp[CERTNAME_FP_LEN];
		bool colons = rng_below(r, 2);
		for (size_t i = 0; i < CERTNAME_FP_LEN; i++)
			fp[i] = (unsigned char)rng_next(r);
		pin_write(r, v, fp, colons);
		n = strlen(v);
		size_t at = 7 + rng_below(r, (uint32_t)(n - 7));
		unsigned how = rng_below(r, 4);
		if (how == 0 && v[at] != ':') {
			memmove(v + at, v + at + 1, n - at);
			p->why = "not 64 hex digits after sha256:";
		} else if (how == 1) {
			memmove(v + at + 1, v + at, n - at + 1);
			v[at] = "0aF"[rng_below(r, 3)];
			p->why = "not 64 hex digits after sha256:";
		} else if (how == 2 && v[at] != ':') {
			v[at] = "gxz G-_/."[rng_below(r, 9)];
			p->why = "not 64 hex digits after sha256:";
		} else if (colons && v[at] == ':' && rng_below(r, 2)) {
			memmove(v + at, v + at + 1, n - at);
			p->why = "a colon between every byte pair of sha256: "
			         "or none";
		} else if (colons && v[at] == ':') {
			/* "ab:cd" to "a:bcd": the colon one place left. */
			v[at] = v[at - 1];
			v[at - 1] = ':';
			p->why = "a colon between every byte pair of sha256: "
			         "or none";
		} else {
			memmove(v + at + 1, v + at, n - at + 1);
			v[at] = ':';
			p->why = "a colon between every byte pair of sha256: "
			         "or none";
		}
	}
	}
	char tail[96];
	snprintf(tail, sizeof tail, "': %s", p->why);
	piece_bad(p, "--client-name '", tail);
	/* A value of up to 104 bytes (a pin with colons, a byte more) is
	 * shown whole; the table says how a control byte is shown. */
	if (strlen(v) <= 104 && p->shown == NULL &&
	    strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	              "0123456789:.*-_/ ") == strlen(v))
		p->shown = v;
	for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++)
		if (strcmp(v, bad[k].name) == 0 && bad[k].shown != NULL)
			p->shown = bad[k].shown;
}

/* A --handshake-timeout SEC: often a plain one in range, else one of
 * gen_value's, judged as text. */
static void
gen_handshake(struct rng *r, struct piece *p)
{
	const char *sig;
	char tail[48];

	FUZZ_CHECK(strcmp(defs[DEF_HANDSHAKE].name, "handshake-timeout") == 0);
	if (rng_below(r, 2))
		snprintf(
		    p->value, sizeof p->value, "%u", rng_below(r, 31536001));
	else
		gen_value(r, DEF_HANDSHAKE, p->value);
	switch (number_judge(DEF_HANDSHAKE, p->value, &sig)) {
	case NUMBER_OK:
		p->number = strtoul(sig, NULL, 10);
		break;
	case NUMBER_NAN:
		piece_bad(p, "--handshake-timeout: not a number: '", "'");
		break;
	case NUMBER_RANGE:
		snprintf(tail, sizeof tail, "' (%lu..%lu)",
		    defs[DEF_HANDSHAKE].min, defs[DEF_HANDSHAKE].max);
		piece_bad(p, "--handshake-timeout: out of range: '", tail);
		break;
	}
}

/* Add the arguments of p to a, in the spelling p->form chooses: "-X" VALUE,
 * "-XVALUE", "--name" VALUE or "--name=VALUE". */
static void
piece_push(struct args *a, const struct piece *p)
{
	static const struct {
		const char *letter, *name;
	} opt[] = {
	    [P_TLS] = {"-T", "--tls"},
	    [P_TCP] = {"-t", "--tcp"},
	    [P_UDP] = {"-u", "--udp"},
	    [P_CERT] = {NULL, "--cert"},
	    [P_KEY] = {NULL, "--key"},
	    [P_CA] = {NULL, "--client-ca"},
	    [P_NAME] = {NULL, "--client-name"},
	    [P_HANDSHAKE] = {NULL, "--handshake-timeout"},
	    [P_HELP] = {"-h", "--help"},
	    [P_VERSION] = {"-V", "--version"},
	};
	char eq[40];
	unsigned form = p->form;

	if (p->kind == P_HELP || p->kind == P_VERSION) {
		args_push(
		    a, form < 2 ? opt[p->kind].letter : opt[p->kind].name, "");
		return;
	}
	/* No short letter, or an empty value that "-X" would not take. */
	if (opt[p->kind].letter == NULL || (form == 1 && p->value[0] == '\0'))
		form = 2 + form % 2;
	switch (form) {
	case 0:
		args_push(a, opt[p->kind].letter, "");
		args_push(a, "", p->value);
		break;
	case 1:
		args_push(a, opt[p->kind].letter, p->value);
		break;
	case 2:
		args_push(a, opt[p->kind].name, "");
		args_push(a, "", p->value);
		break;
	default:
		snprintf(eq, sizeof eq, "%s=", opt[p->kind].name);
		args_push(a, eq, p->value);
	}
}

/* Make one piece of kind k. */
static void
gen_piece(struct rng *r, struct piece *p, enum piece_kind k)
{
	memset(p, 0, sizeof *p);
	p->kind = k;
	p->form = rng_below(r, 4);
	switch (k) {
	case P_TLS:
		gen_addr(r, p, true, "tls");
		break;
	case P_TCP:
	case P_UDP:
		gen_addr(r, p, false, k == P_TCP ? "tcp" : "udp");
		break;
	case P_CERT:
		gen_file(r, p, "cert");
		break;
	case P_KEY:
		gen_file(r, p, "key");
		break;
	case P_CA:
		gen_file(r, p, "client-ca");
		break;
	case P_NAME:
		gen_name(r, p);
		break;
	case P_HANDSHAKE:
		gen_handshake(r, p);
		break;
	default:
		break;
	}
}

/* What the pieces, in order, must give: the reference's answer. */
struct expect {
	enum opts_result res;
	char head[128], tail[96];
	const char *shown;
	const struct piece *tls[MAXARGS], *tcp[MAXARGS], *udp[MAXARGS];
	const struct piece *names[MAXARGS];
	size_t ntls, ntcp, nudp, nnames;
	const char *cert, *key, *ca;
	unsigned long handshake;
};

/* Set an error that is the whole of msg. */
static void
expect_error(struct expect *e, const char *msg)
{
	e->res = OPTS_ERROR;
	snprintf(e->head, sizeof e->head, "%s", msg);
	e->tail[0] = '\0';
	e->shown = "";
}

/*
 * Decide, from the pieces alone, what peerlogd's parser must answer: the
 * options are taken in order, and the first of -h, -V or a bad option ends
 * the parse; the 65th -T or --client-name is one too many; then the TLS
 * options' needs (tls_needs).
 */
static void
expect_pieces(struct expect *e, struct piece *const *order, size_t n)
{
	char msg[96];
	unsigned given = 0;

	memset(e, 0, sizeof *e);
	e->res = OPTS_RUN;
	e->handshake = 10;
	for (size_t i = 0; i < n; i++) {
		const struct piece *p = order[i];
		if (p->kind == P_HELP || p->kind == P_VERSION) {
			e->res = p->kind == P_HELP ? OPTS_HELP : OPTS_VERSION;
			return;
		}
		if (p->kind == P_TLS && e->ntls == OPTS_MAX_ADDRS) {
			snprintf(msg, sizeof msg,
			    "--tls: too many addresses (at most %d)",
			    OPTS_MAX_ADDRS);
			expect_error(e, msg);
			return;
		}
		if (p->kind == P_NAME && e->nnames == OPTS_MAX_NAMES) {
			snprintf(msg, sizeof msg,
			    "--client-name: too many names (at most %d)",
			    OPTS_MAX_NAMES);
			expect_error(e, msg);
			return;
		}
		if (p->bad) {
			e->res = OPTS_ERROR;
			snprintf(e->head, sizeof e->head, "%s", p->head);
			snprintf(e->tail, sizeof e->tail, "%s", p->tail);
			e->shown = p->shown;
			return;
		}
		switch (p->kind) {
		case P_TLS:
			e->tls[e->ntls++] = p;
			given |= G_TLS;
			break;
		case P_TCP:
			e->tcp[e->ntcp++] = p;
			break;
		case P_UDP:
			e->udp[e->nudp++] = p;
			break;
		case P_CERT:
			e->cert = p->value;
			given |= G_CERT;
			break;
		case P_KEY:
			e->key = p->value;
			given |= G_KEY;
			break;
		case P_CA:
			e->ca = p->value;
			given |= G_CA;
			break;
		case P_NAME:
			e->names[e->nnames++] = p;
			given |= G_NAME;
			break;
		case P_HANDSHAKE:
			e->handshake = p->number;
			break;
		default:
			break;
		}
	}
	const char *missing = tls_missing(given);
	if (missing != NULL)
		expect_error(e, missing);
}

/* The error is the expected one: head, the value as shown (when known),
 * tail; a value not shown whole still shows something. */
static void
check_expected_err(const struct expect *e, const char *err)
{
	size_t n = strlen(err), nh = strlen(e->head), nt = strlen(e->tail);

	check_err(err, ERRLEN);
	FUZZ_CHECK(n >= nh + nt);
	FUZZ_CHECK(memcmp(err, e->head, nh) == 0);
	FUZZ_CHECK(memcmp(err + n - nt, e->tail, nt) == 0);
	if (e->shown != NULL)
		FUZZ_CHECK(n - nh - nt == strlen(e->shown) &&
		           memcmp(err + nh, e->shown, n - nh - nt) == 0);
	else
		FUZZ_CHECK(n > nh + nt);
}

/* Whether a parsed listener is the one a piece was made from. */
static bool
same_spec(const struct addr_spec *got, const struct piece *p)
{
	return got->any == p->spec.any && got->port == p->spec.port &&
	       strcmp(got->host, p->spec.host) == 0;
}

/* An accepted command line holds exactly what its pieces asked for. */
static void
check_expected_run(const struct expect *e, const struct opts *o)
{
	FUZZ_CHECK(o->ntls == e->ntls);
	for (size_t i = 0; i < e->ntls; i++)
		FUZZ_CHECK(same_spec(&o->tls[i], e->tls[i]));
	if (e->ntls + e->ntcp + e->nudp == 0) {
		FUZZ_CHECK(o->ntcp == 1 && o->nudp == 1);
	} else {
		FUZZ_CHECK(o->ntcp == e->ntcp && o->nudp == e->nudp);
		for (size_t i = 0; i < e->ntcp; i++)
			FUZZ_CHECK(same_spec(&o->tcp[i], e->tcp[i]));
		for (size_t i = 0; i < e->nudp; i++)
			FUZZ_CHECK(same_spec(&o->udp[i], e->udp[i]));
	}
	const char *want[] = {e->cert, e->key, e->ca};
	const char *got[] = {o->cert, o->key, o->client_ca};
	for (size_t i = 0; i < 3; i++)
		FUZZ_CHECK(want[i] == NULL ? got[i] == NULL
		                           : got[i] != NULL &&
		                                 strcmp(got[i], want[i]) == 0);
	FUZZ_CHECK(o->nclient_names == e->nnames);
	for (size_t i = 0; i < e->nnames; i++) {
		const struct certname_rule *r = &o->client_names[i];
		const struct piece *p = e->names[i];
		FUZZ_CHECK(r->pin == p->pin);
		if (p->pin)
			FUZZ_CHECK(memcmp(r->fp, p->fp, sizeof r->fp) == 0);
		else
			FUZZ_CHECK(r->len == strlen(p->value) &&
			           strcmp(r->name, p->value) == 0);
	}
	FUZZ_CHECK(o->handshake_timeout == e->handshake);
}

#define MAXPIECES (16 + OPTS_MAX_ADDRS + 1)

/*
 * peerlogd's listener and TLS options in combinations the input's seed
 * picks: up to 12 of -T, -t, -u, --cert, --key, --client-ca,
 * --client-name, --handshake-timeout (now and then -h or -V), good or bad
 * by construction, in every spelling; now and then 63 to 65 -T or
 * --client-name among them. opts_parse must answer as expect_pieces
 * decides, error text included, and hold what the pieces asked for.
 */
static void
check_tls_generated(const uint8_t *data, size_t size)
{
	static const enum piece_kind kinds[16] = {P_TLS, P_TLS, P_TLS, P_TCP,
	    P_UDP, P_CERT, P_CERT, P_KEY, P_KEY, P_CA, P_CA, P_NAME, P_NAME,
	    P_NAME, P_HANDSHAKE, P_HELP};
	struct piece *pieces = fuzz_alloc(MAXPIECES * sizeof *pieces);
	struct piece *order[MAXPIECES];
	struct expect *e = fuzz_alloc(sizeof *e);
	struct opts *o = fuzz_alloc(sizeof *o);
	char *err = fuzz_alloc(ERRLEN);
	struct rng r = {rng_seed(data, size) ^ 0x5bd1e995u};
	size_t n = 0, many = 0;
	struct args a;

	if (r.s == 0)
		r.s = 1;
	for (size_t i = rng_below(&r, 13); i > 0; i--) {
		enum piece_kind k = kinds[rng_below(&r, 16)];
		if (k == P_HELP && rng_below(&r, 4) != 0)
			k = P_HANDSHAKE;
		else if (k == P_HELP && rng_below(&r, 2))
			k = P_VERSION;
		gen_piece(&r, &pieces[n++], k);
	}
	if (rng_below(&r, 8) == 0)
		many = OPTS_MAX_ADDRS - 1 + rng_below(&r, 3);
	bool many_names = rng_below(&r, 2);
	for (size_t i = 0; i < many; i++) {
		struct piece *p = &pieces[n++];
		memset(p, 0, sizeof *p);
		p->form = 1 + 2 * rng_below(&r, 2);
		p->kind = many_names ? P_NAME : P_TLS;
		if (many_names)
			snprintf(p->value, sizeof p->value, "n%zu.example", i);
		else
			snprintf(p->value, sizeof p->value, "127.0.0.1:%zu", i);
		snprintf(p->spec.host, sizeof p->spec.host, "127.0.0.1");
		p->spec.port = (uint16_t)i;
	}
	for (size_t i = 0; i < n; i++)
		order[i] = &pieces[i];
	for (size_t i = n; i > 1; i--) {
		size_t j = rng_below(&r, (uint32_t)i);
		struct piece *t = order[i - 1];
		order[i - 1] = order[j];
		order[j] = t;
	}

	args_start(&a, "peerlogd");
	for (size_t i = 0; i < n; i++)
		piece_push(&a, order[i]);
	expect_pieces(e, order, n);
	enum opts_result res = opts_parse(o, a.argc, a.argv, err, ERRLEN);
	args_unchanged(&a, a.argv);
	FUZZ_CHECK(res == e->res);
	if (res == OPTS_ERROR)
		check_expected_err(e, err);
	if (res == OPTS_RUN) {
		check_expected_run(e, o);
		check_server(&a, o);
		check_walk(&a, o);
	}
	args_free(&a);
	free(err);
	free(o);
	free(e);
	free(pieces);
}

/* Each numeric option alone, as "--name=VALUE" or "--name VALUE" with a
 * generated value: peerlogd's answer as check_numbers judges it. */
static void
check_generated(const uint8_t *data, size_t size)
{
	uint32_t seed = 2166136261u;
	char buf[96], value[48];
	struct args a;
	struct opts *o = fuzz_alloc(sizeof *o);

	for (size_t i = 0; i < size; i++)
		seed = (seed ^ data[i]) * 16777619u;
	struct rng r = {seed != 0 ? seed : 1};
	for (size_t k = 0; k < NDEFS; k++) {
		gen_value(&r, k, value);
		bool eq = rng_below(&r, 2);
		int n = snprintf(buf, sizeof buf, "--%s%c%s", defs[k].name,
		    eq ? '=' : '\0', value);
		FUZZ_CHECK(n > 0 && (size_t)n < sizeof buf);
		args_make(&a, "peerlogd", (const uint8_t *)buf, (size_t)n);
		enum opts_result res = opts_parse(o, a.argc, a.argv, NULL, 0);
		check_numbers(&a, res, o);
		args_free(&a);
	}
	free(o);
}

/*
 * peerlog's TLS options in every combination the input's seed picks: -u,
 * --tls, --ca, --cert, --key, each present or not, in a shuffled order,
 * as "--name=FILE" or "--name FILE". Accepted exactly when -u and --tls are
 * not both there, the files come with --tls, and --cert with --key; then
 * each file is the one given and the default port follows the transport.
 */
static void
check_client_generated(const uint8_t *data, size_t size)
{
	static const char *const names[] = {
	    "-u", "--tls", "--ca", "--cert", "--key"};
	uint32_t seed = 2166136261u;
	char buf[128];
	size_t order[5], n = 0, len = 0;
	struct client_opts o;
	struct args a;

	for (size_t i = 0; i < size; i++)
		seed = (seed ^ data[i]) * 16777619u;
	struct rng r = {seed != 0 ? seed : 1};
	uint32_t present = rng_below(&r, 32);
	for (size_t k = 0; k < 5; k++)
		if (present & (1u << k))
			order[n++] = k;
	for (size_t i = n; i > 1; i--) {
		size_t j = rng_below(&r, (uint32_t)i), t = order[i - 1];
		order[i - 1] = order[j];
		order[j] = t;
	}
	for (size_t i = 0; i < n; i++) {
		size_t k = order[i];
		int m = k < 2 ? snprintf(buf + len, sizeof buf - len, "%s%c",
		                    names[k], '\0')
		              : snprintf(buf + len, sizeof buf - len,
		                    "%s%cfile%zu%c", names[k],
		                    rng_below(&r, 2) ? '=' : '\0', k, '\0');
		FUZZ_CHECK(m > 0 && (size_t)m < sizeof buf - len);
		len += (size_t)m;
	}
	args_make(&a, "peerlog", (const uint8_t *)buf, len);
	bool udp = present & 1, tls = present & 2, ca = present & 4,
	     cert = present & 8, key = present & 16;
	bool good =
	    !(udp && tls) && (tls || !(ca || cert || key)) && cert == key;
	enum opts_result res = opts_parse_client(&o, a.argc, a.argv, NULL, 0);
	FUZZ_CHECK(res == (good ? OPTS_RUN : OPTS_ERROR));
	if (good) {
		FUZZ_CHECK(o.udp == udp && o.tls == tls);
		FUZZ_CHECK(ca ? strcmp(o.ca, "file2") == 0 : o.ca == NULL);
		FUZZ_CHECK(
		    cert ? strcmp(o.cert, "file3") == 0 : o.cert == NULL);
		FUZZ_CHECK(key ? strcmp(o.key, "file4") == 0 : o.key == NULL);
		FUZZ_CHECK(strcmp(o.port, udp   ? "1235"
		                          : tls ? "1236"
		                                : "1234") == 0);
	}
	args_free(&a);
}

/* One input: NUL-separated arguments for both programs. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct args a;
	/* A small error buffer size, 1..16, taken from the input's length. */
	size_t small = 1 + size % 16;

	args_make(&a, "peerlogd", data, size);
	fuzz_server(&a, small);
	args_free(&a);
	args_make(&a, "peerlog", data, size);
	fuzz_client(&a, small);
	args_free(&a);
	check_tls_generated(data, size);
	check_generated(data, size);
	check_client_generated(data, size);
	return 0;
}
