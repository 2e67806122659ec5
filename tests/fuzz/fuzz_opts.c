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

/* peerlogd's options: every value inside its documented range. */
static void
check_server(const struct args *a, const struct opts *o)
{
	check_addrs(o->tcp, o->ntcp);
	check_addrs(o->udp, o->nudp);
	FUZZ_CHECK(o->ntcp + o->nudp >= 1);
	FUZZ_CHECK(o->output != NULL && o->output[0] != '\0');
	FUZZ_CHECK(strcmp(o->output, "-") == 0 || in_args(a, o->output));
	FUZZ_CHECK(o->format == RECORD_TEXT || o->format == RECORD_JSON);
	FUZZ_CHECK(o->max_line >= 1 && o->max_line <= 16777216);
	FUZZ_CHECK(o->max_clients >= 1 && o->max_clients <= 1000000);
	FUZZ_CHECK(o->idle_timeout <= 31536000);
	FUZZ_CHECK(o->nallow <= OPTS_MAX_ALLOW);
	for (size_t i = 0; i < o->nallow; i++) {
		const struct cidr *c = &o->allow[i];
		FUZZ_CHECK(c->family == AF_INET || c->family == AF_INET6);
		FUZZ_CHECK(c->prefix <= (c->family == AF_INET ? 32u : 128u));
	}
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
};
#define NDEFS (sizeof defs / sizeof defs[0])

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

/*
 * A numeric option alone on the command line: accepted exactly when its
 * value is all digits and inside its range; then it is the value stored.
 * The value is never read as a number here (opts.c does that): with its
 * leading zeros dropped it is compared as text with the bounds printed in
 * decimal, and with the stored value printed the same way.
 */
static void
check_numbers(const struct args *a, enum opts_result r, const struct opts *o)
{
	char min[24], max[24], got[24];

	for (size_t k = 0; k < NDEFS; k++) {
		const char *v = sole_option(a, defs[k].name);
		if (v == NULL)
			continue;
		bool digits =
		    v[0] != '\0' && strspn(v, "0123456789") == strlen(v);
		const char *sig = v + strspn(v, "0");
		if (digits && *sig == '\0')
			sig = "0";
		snprintf(min, sizeof min, "%lu", defs[k].min);
		snprintf(max, sizeof max, "%lu", defs[k].max);
		bool ok = digits && decimal_cmp(sig, min) >= 0 &&
		          decimal_cmp(sig, max) <= 0;
		FUZZ_CHECK(r == (ok ? OPTS_RUN : OPTS_ERROR));
		if (!ok)
			continue;
		snprintf(got, sizeof got, "%lu",
		    k == 0   ? (unsigned long)o->max_line
		    : k == 1 ? o->max_clients
		             : o->idle_timeout);
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
	if (r == OPTS_RUN)
		check_server(a, o);
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
	check_generated(data, size);
	check_client_generated(data, size);
	return 0;
}
