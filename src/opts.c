/*
 * Command-line parsing for peerlogd and peerlog. A small scanner of our own
 * rather than getopt_long: it keeps no global state, never permutes argv and
 * never prints, so tests and fuzzers may call it any number of times.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "escape.h"
#include "opts.h"
#include "sdenv.h"

/* Limits and defaults; opts_usage repeats them in words. */
#define MAX_LINE_DEFAULT 8192
#define MAX_LINE_MAX 16777216
#define MAX_CLIENTS_DEFAULT 10000
#define MAX_CLIENTS_MAX 1000000
#define IDLE_TIMEOUT_MAX 31536000
#define HANDSHAKE_TIMEOUT_DEFAULT 10
#define HANDSHAKE_TIMEOUT_MAX 31536000
#define TCP_PORT_DEFAULT 1234 /* and the client's "1234" */
#define UDP_PORT_DEFAULT 1235 /* and the client's "1235" */
#define REDIS_MAXLEN_MAX 4000000000UL

/* Ids of long-only options; the others use their short letter. */
enum {
	OPT_MAX_LINE = 256,
	OPT_MAX_CLIENTS,
	OPT_IDLE_TIMEOUT,
	OPT_MAX_PER_SOURCE,
	OPT_FRAMING,
	OPT_ALLOW,
	OPT_CERT,
	OPT_KEY,
	OPT_CLIENT_CA,
	OPT_CLIENT_NAME,
	OPT_HANDSHAKE_TIMEOUT,
	OPT_PROXY,
	OPT_REDIS,
	OPT_REDIS_KEY,
	OPT_REDIS_MAXLEN,
	OPT_REUSEPORT,
	OPT_METRICS,
	OPT_USER,
	OPT_PIDFILE,
};

/* What the scanner returns besides an option id. */
enum { SCAN_END = -1, SCAN_ERR = -2, SCAN_POS = 0 };

struct opt_def {
	const char *name; /* long name, or NULL */
	int letter;       /* short letter, or 0 */
	int id;
	bool arg; /* takes an argument */
};

struct opt_scan {
	int argc;
	char **argv;
	int i;               /* next argv element */
	const char *cluster; /* rest of a "-abc" cluster, or NULL */
	bool dashdash;       /* "--" seen: the rest are operands */
	const struct opt_def *defs;
	const char *arg; /* the option's argument, or the operand */
	char *err;
	size_t errlen;
};

static const struct opt_def server_defs[] = {
    {"tcp", 't', 't', true},
    {"udp", 'u', 'u', true},
    {"tls", 'T', 'T', true},
    {"output", 'o', 'o', true},
    {"format", 'f', 'f', true},
    {"max-line", 0, OPT_MAX_LINE, true},
    {"max-clients", 0, OPT_MAX_CLIENTS, true},
    {"idle-timeout", 0, OPT_IDLE_TIMEOUT, true},
    {"max-per-source", 0, OPT_MAX_PER_SOURCE, true},
    {"framing", 0, OPT_FRAMING, true},
    {"allow", 0, OPT_ALLOW, true},
    {"cert", 0, OPT_CERT, true},
    {"key", 0, OPT_KEY, true},
    {"client-ca", 0, OPT_CLIENT_CA, true},
    {"client-name", 0, OPT_CLIENT_NAME, true},
    {"handshake-timeout", 0, OPT_HANDSHAKE_TIMEOUT, true},
    {"proxy", 0, OPT_PROXY, true},
    {"redis", 0, OPT_REDIS, true},
    {"redis-key", 0, OPT_REDIS_KEY, true},
    {"redis-maxlen", 0, OPT_REDIS_MAXLEN, true},
    {"reuseport", 0, OPT_REUSEPORT, false},
    {"metrics", 0, OPT_METRICS, true},
    {"user", 0, OPT_USER, true},
    {"pidfile", 0, OPT_PIDFILE, true},
    {"help", 'h', 'h', false},
    {"version", 'V', 'V', false},
    {NULL, 0, 0, false},
};

/* Ids of peerlog's long-only options, apart from peerlogd's. */
enum {
	COPT_TLS = 512,
	COPT_CA,
	COPT_CERT,
	COPT_KEY,
};

static const struct opt_def client_defs[] = {
    {NULL, 'u', 'u', false},
    {"tls", 0, COPT_TLS, false},
    {"ca", 0, COPT_CA, true},
    {"cert", 0, COPT_CERT, true},
    {"key", 0, COPT_KEY, true},
    {NULL, '4', '4', false},
    {NULL, '6', '6', false},
    {"help", 'h', 'h', false},
    {"version", 'V', 'V', false},
    {NULL, 0, 0, false},
};

/* clang-format off */
const char opts_usage[] =
    "usage: peerlogd [-t ADDR]... [-u ADDR]... [-T ADDR]... [-o PATH]\n"
    "                [-f text|json] [options]\n"
    "  -t, --tcp ADDR          listen for TCP on ADDR (repeatable)\n"
    "  -u, --udp ADDR          receive UDP datagrams on ADDR (repeatable)\n"
    "  -T, --tls ADDR          listen for TLS on ADDR (repeatable; needs\n"
    "                          --cert and --key)\n"
    "  -o, --output PATH       append records to PATH; - is standard output\n"
    "                          (default -)\n"
    "  -f, --format FMT        text or json (default text)\n"
    "      --max-line BYTES    longest TCP or TLS message kept in one record\n"
    "                          (1..16777216, default 8192)\n"
    "      --max-clients N     most TCP and TLS clients at once\n"
    "                          (1..1000000, default 10000)\n"
    "      --idle-timeout SEC  close a TCP or TLS client silent this long;\n"
    "                          0 = never (0..31536000, default 0)\n"
    "      --max-per-source N  most TCP and TLS clients at once from one\n"
    "                          address; 0 = no limit (0..1000000, default 0)\n"
    "      --framing lf|octet  TCP and TLS messages are LF lines, or RFC 6587\n"
    "                          octet-counted frames (LEN SP MSG) (default lf)\n"
    "      --allow CIDR        serve only peers inside CIDR (repeatable;\n"
    "                          default all)\n"
    "      --proxy CIDR        TCP and TLS connections from inside CIDR (a\n"
    "                          load balancer) begin with a PROXY protocol\n"
    "                          v1 or v2 header (repeatable; default none)\n"
    "      --cert FILE         the TLS listeners' certificate chain (PEM)\n"
    "      --key FILE          the private key of --cert (PEM)\n"
    "      --client-ca FILE    TLS clients must present a certificate signed\n"
    "                          by one of these CAs (PEM)\n"
    "      --client-name NAME  serve only TLS clients whose certificate names\n"
    "                          NAME (DNS name, else CN; *.DOMAIN for one\n"
    "                          label) or has the fingerprint sha256:HEX\n"
    "                          (repeatable; needs --client-ca)\n"
    "      --handshake-timeout SEC\n"
    "                          close a TLS or PROXY client whose handshake\n"
    "                          or header is not done in SEC; 0 = never\n"
    "                          (0..31536000, default 10)\n"
    "      --redis URL         publish every record to a Redis stream:\n"
    "                          redis://HOST[:PORT][/DB] or unix:PATH (with\n"
    "                          no -o, to Redis only)\n"
    "      --redis-key KEY     the stream's key (default peerlog)\n"
    "      --redis-maxlen N    keep the stream at about N entries; 0 = never\n"
    "                          trim (default 0)\n"
    "      --reuseport         set SO_REUSEPORT on every listening socket, so\n"
    "                          several peerlogd can share a port\n"
    "      --metrics ADDR      serve Prometheus metrics at /metrics on ADDR\n"
    "      --user NAME         once bound and open, run as user NAME and its\n"
    "                          groups\n"
    "      --pidfile PATH      write the process id to PATH once ready\n"
    "  -h, --help              show this help and exit\n"
    "  -V, --version           show the version and exit\n"
    "ADDR is PORT, HOST:PORT, IPV4:PORT, [IPV6]:PORT or *:PORT; PORT alone\n"
    "means every address, like *:PORT. With no -t, -u or -T: TCP\n"
    "localhost:1234 and UDP localhost:1235. SIGHUP reopens the output and\n"
    "reloads the TLS files.\n";

const char opts_client_usage[] =
    "usage: peerlog [-u | --tls [--ca FILE] [--cert FILE --key FILE]] [-4|-6]\n"
    "               [HOST [PORT]]\n"
    "  -u               send UDP datagrams instead of a TCP stream\n"
    "      --tls        send over TLS 1.2 or 1.3; the server's certificate\n"
    "                   must verify and name HOST\n"
    "      --ca FILE    CA certificates (PEM) to verify the server with\n"
    "                   (default: the system's CA store)\n"
    "      --cert FILE  present this client certificate chain (PEM)\n"
    "      --key FILE   the private key of --cert (PEM)\n"
    "  -4               use IPv4 only\n"
    "  -6               use IPv6 only\n"
    "  -h, --help       show this help and exit\n"
    "  -V, --version    show the version and exit\n"
    "HOST defaults to localhost, PORT to 1234 (TCP), 1235 (UDP) or 1236\n"
    "(TLS). Each line of input is sent as one message; at a terminal, a\n"
    "line \"exit\" ends it.\n";
/* clang-format on */

/* Declared apart so that the compiler checks every format string. */
static void opts_err(struct opt_scan *sc, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Write one error line into err, if the caller gave room for it. */
static void
opts_err(struct opt_scan *sc, const char *fmt, ...)
{
	va_list ap;

	if (sc->err == NULL || sc->errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(sc->err, sc->errlen, fmt, ap);
	va_end(ap);
}

/*
 * Copy the first n bytes of user text s into dst (size len), escaped like a
 * record, so that an error message stays one clean line.
 */
static const char *
opts_show(char *dst, size_t len, const char *s, size_t n)
{
	/* The record escaper: no control byte (C1 included) reaches the
	 * terminal, and UTF-8 names stay readable. Cut to fit dst. */
	size_t m = strnlen(s, n);

	if (m > (len - 1) / 4)
		m = (len - 1) / 4;
	dst[escape_text(dst, s, m)] = '\0';
	return dst;
}

/* The definition with short letter c, or NULL. */
static const struct opt_def *
opts_find_letter(const struct opt_def *defs, int c)
{
	for (; defs->id != 0; defs++) {
		if (defs->letter != 0 && defs->letter == c)
			return defs;
	}
	return NULL;
}

/* The definition whose long name is the n bytes at s, or NULL. */
static const struct opt_def *
opts_find_name(const struct opt_def *defs, const char *s, size_t n)
{
	for (; defs->id != 0; defs++) {
		if (defs->name != NULL && strlen(defs->name) == n &&
		    memcmp(defs->name, s, n) == 0)
			return defs;
	}
	return NULL;
}

/* Take the next short option out of the current "-abc" cluster. */
static int
opts_scan_short(struct opt_scan *sc)
{
	char shown[8];
	const char *c = sc->cluster++;
	const struct opt_def *d = opts_find_letter(sc->defs, (unsigned char)*c);

	opts_show(shown, sizeof shown, c, 1);
	if (d == NULL) {
		opts_err(sc, "unknown option '-%s'", shown);
		return SCAN_ERR;
	}
	if (!d->arg)
		return d->id;
	/* "-t80" and "-t 80" both give -t the argument "80". */
	if (*sc->cluster != '\0')
		sc->arg = sc->cluster;
	else if (sc->i < sc->argc)
		sc->arg = sc->argv[sc->i++];
	else {
		opts_err(sc, "option '-%s' needs an argument", shown);
		return SCAN_ERR;
	}
	sc->cluster = NULL;
	return d->id;
}

/* Take the long option s ("--name" or "--name=value"). */
static int
opts_scan_long(struct opt_scan *sc, const char *s)
{
	char shown[256];
	const char *name = s + 2;
	const char *eq = strchr(name, '=');
	size_t n = eq != NULL ? (size_t)(eq - name) : strlen(name);
	const struct opt_def *d = opts_find_name(sc->defs, name, n);

	opts_show(shown, sizeof shown, name, n);
	if (d == NULL) {
		opts_err(sc, "unknown option '--%s'", shown);
		return SCAN_ERR;
	}
	if (!d->arg && eq != NULL) {
		opts_err(sc, "option '--%s' takes no argument", shown);
		return SCAN_ERR;
	}
	if (!d->arg)
		return d->id;
	if (eq != NULL)
		sc->arg = eq + 1;
	else if (sc->i < sc->argc)
		sc->arg = sc->argv[sc->i++];
	else {
		opts_err(sc, "option '--%s' needs an argument", shown);
		return SCAN_ERR;
	}
	return d->id;
}

/*
 * The next option id (with sc->arg set if it takes one), SCAN_POS for an
 * operand in sc->arg, SCAN_END, or SCAN_ERR with the error written. Options
 * may follow operands, as with GNU getopt; "--" ends the options.
 */
static int
opts_scan(struct opt_scan *sc)
{
	const char *a;

	sc->arg = NULL;
	if (sc->cluster != NULL && *sc->cluster != '\0')
		return opts_scan_short(sc);
	sc->cluster = NULL;
	for (;;) {
		if (sc->i >= sc->argc || sc->argv[sc->i] == NULL)
			return SCAN_END;
		a = sc->argv[sc->i++];
		if (sc->dashdash || a[0] != '-' || a[1] == '\0') {
			sc->arg = a;
			return SCAN_POS;
		}
		if (strcmp(a, "--") != 0)
			break;
		sc->dashdash = true;
	}
	if (a[1] == '-')
		return opts_scan_long(sc, a);
	sc->cluster = a + 1;
	return opts_scan_short(sc);
}

/* Set up a scanner over argv[1..argc-1]. */
static void
opts_scan_init(struct opt_scan *sc, const struct opt_def *defs, int argc,
    char **argv, char *err, size_t errlen)
{
	memset(sc, 0, sizeof *sc);
	sc->argc = argc;
	sc->argv = argv;
	sc->i = 1;
	sc->defs = defs;
	sc->err = err;
	sc->errlen = errlen;
	if (err != NULL && errlen > 0)
		err[0] = '\0';
}

/* Parse a decimal number in min..max for option name into *out. */
static int
opts_number(struct opt_scan *sc, const char *name, unsigned long min,
    unsigned long max, unsigned long *out)
{
	char shown[256];
	const char *s = sc->arg;
	unsigned long v = 0;
	size_t i;

	opts_show(shown, sizeof shown, s, strlen(s));
	for (i = 0; s[i] >= '0' && s[i] <= '9'; i++) {
		/* Past max is out of range; stop before it can overflow. */
		if (v <= max)
			v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (i == 0 || s[i] != '\0') {
		opts_err(sc, "--%s: not a number: '%s'", name, shown);
		return -1;
	}
	if (v < min || v > max) {
		opts_err(sc, "--%s: out of range: '%s' (%lu..%lu)", name, shown,
		    min, max);
		return -1;
	}
	*out = v;
	return 0;
}

/* Parse an -t/-u ADDR and append it to list (n entries so far). */
static int
opts_addr(
    struct opt_scan *sc, const char *name, struct addr_spec *list, size_t *n)
{
	char shown[256];
	const char *why;

	if (*n == OPTS_MAX_ADDRS) {
		opts_err(sc, "--%s: too many addresses (at most %d)", name,
		    OPTS_MAX_ADDRS);
		return -1;
	}
	if (addr_parse(sc->arg, &list[*n], &why) == -1) {
		opts_show(shown, sizeof shown, sc->arg, strlen(sc->arg));
		opts_err(sc, "--%s '%s': %s", name, shown, why);
		return -1;
	}
	(*n)++;
	return 0;
}

/* Parse an --allow or --proxy CIDR and append it to list (n so far). */
static int
opts_cidr(struct opt_scan *sc, const char *name, struct cidr *list, size_t *n)
{
	char shown[256];
	const char *why;

	if (*n == OPTS_MAX_ALLOW) {
		opts_err(sc, "--%s: too many networks (at most %d)", name,
		    OPTS_MAX_ALLOW);
		return -1;
	}
	if (cidr_parse(sc->arg, &list[*n], &why) == -1) {
		opts_show(shown, sizeof shown, sc->arg, strlen(sc->arg));
		opts_err(sc, "--%s '%s': %s", name, shown, why);
		return -1;
	}
	(*n)++;
	return 0;
}

/*
 * Take the value of --NAME, one of two words, into *out as 0 or 1 (the
 * enum's order); any other word is an error that names both.
 */
static int
opts_choice(struct opt_scan *sc, const char *name, const char *w0,
    const char *w1, int *out)
{
	char shown[256];

	if (strcmp(sc->arg, w0) == 0 || strcmp(sc->arg, w1) == 0) {
		*out = strcmp(sc->arg, w1) == 0;
		return 0;
	}
	opts_show(shown, sizeof shown, sc->arg, strlen(sc->arg));
	opts_err(
	    sc, "--%s: unknown %s '%s' (%s or %s)", name, name, shown, w0, w1);
	return -1;
}

/* Parse --format's FMT into o->format. */
static int
opts_format(struct opt_scan *sc, struct opts *o)
{
	int v;

	if (opts_choice(sc, "format", "text", "json", &v) != 0)
		return -1;
	o->format = v ? RECORD_JSON : RECORD_TEXT;
	return 0;
}

/* Parse --framing's value into o->framing. */
static int
opts_framing(struct opt_scan *sc, struct opts *o)
{
	int v;

	if (opts_choice(sc, "framing", "lf", "octet", &v) != 0)
		return -1;
	o->framing = v ? FRAMING_OCTET : FRAMING_LF;
	return 0;
}

/* Take --output's PATH; an empty one is surely a mistake. */
static int
opts_output(struct opt_scan *sc, struct opts *o)
{
	if (*sc->arg == '\0') {
		opts_err(sc, "--output: empty path");
		return -1;
	}
	o->output = sc->arg;
	o->output_set = true;
	return 0;
}

/* Take a FILE for --NAME: an empty one is surely a mistake. */
static int
opts_path(struct opt_scan *sc, const char *name, const char **out)
{
	if (*sc->arg == '\0') {
		opts_err(sc, "--%s: empty path", name);
		return -1;
	}
	*out = sc->arg;
	return 0;
}

/*
 * Parse a --client-name NAME or sha256:HEX into o->client_names. The error
 * shows up to 110 bytes of the value: a mistyped pin whole (sha256: and 95
 * with colons), and still its reason within peerlogd's 512-byte line.
 */
static int
opts_client_name(struct opt_scan *sc, struct opts *o)
{
	char shown[4 * 110 + 1], why[128];

	if (o->nclient_names == OPTS_MAX_NAMES) {
		opts_err(sc, "--client-name: too many names (at most %d)",
		    OPTS_MAX_NAMES);
		return -1;
	}
	if (certname_rule_parse(&o->client_names[o->nclient_names], sc->arg,
	        why, sizeof why) != 0) {
		opts_show(shown, sizeof shown, sc->arg, strlen(sc->arg));
		opts_err(sc, "--client-name '%s': %s", shown, why);
		return -1;
	}
	o->nclient_names++;
	return 0;
}

/* Parse --redis URL into o->redis. */
static int
opts_redis(struct opt_scan *sc, struct opts *o)
{
	char shown[256];
	const char *why;

	if (redisurl_parse(sc->arg, &o->redis, &why) != 0) {
		opts_show(shown, sizeof shown, sc->arg, strlen(sc->arg));
		opts_err(sc, "--redis '%s': %s", shown, why);
		return -1;
	}
	o->redis_url = sc->arg;
	return 0;
}

/* Apply one of peerlogd's options that takes a value; 0 or -1. */
static int
opts_apply(struct opt_scan *sc, struct opts *o, int id)
{
	unsigned long v;

	switch (id) {
	case 't':
		return opts_addr(sc, "tcp", o->tcp, &o->ntcp);
	case 'u':
		return opts_addr(sc, "udp", o->udp, &o->nudp);
	case 'T':
		return opts_addr(sc, "tls", o->tls, &o->ntls);
	case OPT_CERT:
		return opts_path(sc, "cert", &o->cert);
	case OPT_KEY:
		return opts_path(sc, "key", &o->key);
	case OPT_CLIENT_CA:
		return opts_path(sc, "client-ca", &o->client_ca);
	case OPT_CLIENT_NAME:
		return opts_client_name(sc, o);
	case OPT_HANDSHAKE_TIMEOUT:
		return opts_number(sc, "handshake-timeout", 0,
		    HANDSHAKE_TIMEOUT_MAX, &o->handshake_timeout);
	case 'o':
		return opts_output(sc, o);
	case 'f':
		return opts_format(sc, o);
	case OPT_MAX_LINE:
		if (opts_number(sc, "max-line", 1, MAX_LINE_MAX, &v) == -1)
			return -1;
		o->max_line = v;
		return 0;
	case OPT_MAX_CLIENTS:
		return opts_number(
		    sc, "max-clients", 1, MAX_CLIENTS_MAX, &o->max_clients);
	case OPT_IDLE_TIMEOUT:
		return opts_number(
		    sc, "idle-timeout", 0, IDLE_TIMEOUT_MAX, &o->idle_timeout);
	case OPT_MAX_PER_SOURCE:
		return opts_number(sc, "max-per-source", 0, MAX_CLIENTS_MAX,
		    &o->max_per_source);
	case OPT_FRAMING:
		return opts_framing(sc, o);
	case OPT_ALLOW:
		return opts_cidr(sc, "allow", o->allow, &o->nallow);
	case OPT_PROXY:
		return opts_cidr(sc, "proxy", o->proxy, &o->nproxy);
	case OPT_REDIS:
		return opts_redis(sc, o);
	case OPT_REDIS_KEY:
		if (*sc->arg == '\0') {
			opts_err(sc, "--redis-key: empty key");
			return -1;
		}
		o->redis_key = sc->arg;
		return 0;
	case OPT_REDIS_MAXLEN:
		if (opts_number(sc, "redis-maxlen", 0, REDIS_MAXLEN_MAX, &v) ==
		    -1)
			return -1;
		o->redis_maxlen = v;
		return 0;
	case OPT_METRICS: {
		struct addr_spec *a = &o->metrics;
		size_t n = 0;
		if (opts_addr(sc, "metrics", a, &n) == -1)
			return -1;
		o->metrics_set = true;
		return 0;
	}
	case OPT_USER:
		if (*sc->arg == '\0') {
			opts_err(sc, "--user: empty name");
			return -1;
		}
		o->user = sc->arg;
		return 0;
	case OPT_PIDFILE:
		return opts_path(sc, "pidfile", &o->pidfile);
	}
	return -1;
}

/* Fill in the default listeners when no -t, -u or -T was given and no
 * socket was passed. */
static void
opts_defaults(struct opts *o)
{
	if (o->ntcp != 0 || o->nudp != 0 || o->ntls != 0 ||
	    (o->passed != NULL && o->passed->n > 0))
		return;
	strcpy(o->tcp[0].host, "localhost");
	o->tcp[0].port = TCP_PORT_DEFAULT;
	o->ntcp = 1;
	strcpy(o->udp[0].host, "localhost");
	o->udp[0].port = UDP_PORT_DEFAULT;
	o->nudp = 1;
}

/* The first passed socket named tls, or -1. */
static long
opts_passed_tls(const struct opts *o)
{
	for (size_t i = 0; o->passed != NULL && i < o->passed->n; i++)
		if (sdenv_kind(o->passed->name[i]) == SDENV_TLS)
			return (long)i;
	return -1;
}

/*
 * The TLS options need each other: a listener (-T or a passed tls socket)
 * its certificate and key, --client-name the CA that verifies the names.
 * Files named but not used are an error too, as they are surely a mistake.
 */
static int
opts_check_tls(struct opt_scan *sc, const struct opts *o)
{
	long tls = opts_passed_tls(o);

	if (o->ntls > 0 && (o->cert == NULL || o->key == NULL)) {
		opts_err(sc, "--tls needs --cert and --key");
		return -1;
	}
	if (tls >= 0 && (o->cert == NULL || o->key == NULL)) {
		opts_err(sc, "passed socket %ld (tls) needs --cert and --key",
		    tls + SDENV_FDS_START);
		return -1;
	}
	if (o->ntls == 0 && tls < 0 &&
	    (o->cert != NULL || o->key != NULL || o->client_ca != NULL)) {
		opts_err(sc, "--%s needs a --tls listener%s",
		    o->cert != NULL  ? "cert"
		    : o->key != NULL ? "key"
		                     : "client-ca",
		    o->passed != NULL && o->passed->n > 0
		        ? " or a passed tls socket"
		        : "");
		return -1;
	}
	if (o->nclient_names > 0 && o->client_ca == NULL) {
		opts_err(sc, "--client-name needs --client-ca");
		return -1;
	}
	return 0;
}

/* What both programs do with a scan error, -h and -V: true when *res is
 * the parse's result. */
static bool
opts_common(int id, enum opts_result *res)
{
	if (id == SCAN_ERR)
		*res = OPTS_ERROR;
	else if (id == 'h')
		*res = OPTS_HELP;
	else if (id == 'V')
		*res = OPTS_VERSION;
	else
		return false;
	return true;
}

/* Parse peerlogd's arguments (see opts.h). */
enum opts_result
opts_parse(struct opts *o, int argc, char **argv, char *err, size_t errlen)
{
	return opts_parse_passed(o, argc, argv, NULL, err, errlen);
}

/* Parse peerlogd's arguments beside the sockets passed (see opts.h). */
enum opts_result
opts_parse_passed(struct opts *o, int argc, char **argv,
    const struct sdenv_fds *passed, char *err, size_t errlen)
{
	enum opts_result res;
	struct opt_scan sc;
	char shown[256];
	int id;

	memset(o, 0, sizeof *o);
	o->passed = passed;
	o->output = "-";
	o->format = RECORD_TEXT;
	o->max_line = MAX_LINE_DEFAULT;
	o->max_clients = MAX_CLIENTS_DEFAULT;
	o->idle_timeout = 0;
	o->handshake_timeout = HANDSHAKE_TIMEOUT_DEFAULT;
	o->redis_key = "peerlog";
	opts_scan_init(&sc, server_defs, argc, argv, err, errlen);
	while ((id = opts_scan(&sc)) != SCAN_END) {
		if (opts_common(id, &res))
			return res;
		if (id == SCAN_POS) {
			opts_show(shown, sizeof shown, sc.arg, strlen(sc.arg));
			opts_err(&sc, "unexpected argument '%s'", shown);
			return OPTS_ERROR;
		}
		if (id == OPT_REUSEPORT)
			o->reuseport = true;
		else if (opts_apply(&sc, o, id) == -1)
			return OPTS_ERROR;
	}
	if (o->redis_url == NULL &&
	    (o->redis_key != NULL && strcmp(o->redis_key, "peerlog") != 0)) {
		opts_err(&sc, "--redis-key needs --redis");
		return OPTS_ERROR;
	}
	if (o->redis_url == NULL && o->redis_maxlen != 0) {
		opts_err(&sc, "--redis-maxlen needs --redis");
		return OPTS_ERROR;
	}
	if (opts_check_tls(&sc, o) != 0)
		return OPTS_ERROR;
	opts_defaults(o);
	return OPTS_RUN;
}

/* Whether s is a decimal port 1..65535: digits only, no sign or spaces. */
static bool
opts_port_ok(const char *s)
{
	unsigned long v = 0;
	size_t i;

	for (i = 0; s[i] >= '0' && s[i] <= '9'; i++) {
		if (i == 5)
			return false;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	return i > 0 && s[i] == '\0' && v >= 1 && v <= 65535;
}

/* Take the FILE of --ca, --cert or --key; an empty one is an error. */
static int
opts_client_file(struct opt_scan *sc, struct client_opts *o, int id)
{
	const char *name = id == COPT_CA     ? "ca"
	                   : id == COPT_CERT ? "cert"
	                                     : "key";

	if (*sc->arg == '\0') {
		opts_err(sc, "--%s: empty file name", name);
		return -1;
	}
	if (id == COPT_CA)
		o->ca = sc->arg;
	else if (id == COPT_CERT)
		o->cert = sc->arg;
	else
		o->key = sc->arg;
	return 0;
}

/* Check the client's options, HOST and PORT once all arguments are seen. */
static enum opts_result
opts_client_check(struct opt_scan *sc, struct client_opts *o, bool v4, bool v6)
{
	char shown[256];

	if (v4 && v6) {
		opts_err(sc, "options -4 and -6 cannot be used together");
		return OPTS_ERROR;
	}
	o->family = v4 ? CLIENT_INET4 : v6 ? CLIENT_INET6 : CLIENT_ANY;
	if (o->udp && o->tls) {
		opts_err(sc, "options -u and --tls cannot be used together");
		return OPTS_ERROR;
	}
	if (!o->tls && (o->ca != NULL || o->cert != NULL || o->key != NULL)) {
		opts_err(sc, "option --%s needs --tls",
		    o->ca != NULL     ? "ca"
		    : o->cert != NULL ? "cert"
		                      : "key");
		return OPTS_ERROR;
	}
	if ((o->cert == NULL) != (o->key == NULL)) {
		opts_err(sc, "option --%s needs --%s",
		    o->cert != NULL ? "cert" : "key",
		    o->cert != NULL ? "key" : "cert");
		return OPTS_ERROR;
	}
	if (o->host == NULL)
		o->host = "localhost";
	if (*o->host == '\0') {
		opts_err(sc, "empty host");
		return OPTS_ERROR;
	}
	if (o->port == NULL)
		o->port = o->udp ? "1235" : o->tls ? "1236" : "1234";
	if (!opts_port_ok(o->port)) {
		opts_show(shown, sizeof shown, o->port, strlen(o->port));
		opts_err(sc, "bad port '%s' (1..65535)", shown);
		return OPTS_ERROR;
	}
	return OPTS_RUN;
}

/* Parse peerlog's arguments (see opts.h). */
enum opts_result
opts_parse_client(
    struct client_opts *o, int argc, char **argv, char *err, size_t errlen)
{
	enum opts_result res;
	struct opt_scan sc;
	char shown[256];
	bool v4 = false, v6 = false;
	int id;

	memset(o, 0, sizeof *o);
	opts_scan_init(&sc, client_defs, argc, argv, err, errlen);
	while ((id = opts_scan(&sc)) != SCAN_END) {
		if (opts_common(id, &res))
			return res;
		if (id == 'u')
			o->udp = true;
		else if (id == COPT_TLS)
			o->tls = true;
		else if (id == COPT_CA || id == COPT_CERT || id == COPT_KEY) {
			if (opts_client_file(&sc, o, id) == -1)
				return OPTS_ERROR;
		} else if (id == '4')
			v4 = true;
		else if (id == '6')
			v6 = true;
		else if (o->host == NULL)
			o->host = sc.arg;
		else if (o->port == NULL)
			o->port = sc.arg;
		else {
			opts_show(shown, sizeof shown, sc.arg, strlen(sc.arg));
			opts_err(&sc, "unexpected argument '%s'", shown);
			return OPTS_ERROR;
		}
	}
	return opts_client_check(&sc, o, v4, v6);
}
