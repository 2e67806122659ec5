/* Unit tests of opts.c: peerlogd's and peerlog's command lines. getopt
 * permutes argv, so every parse gets a fresh copy of its arguments. */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "opts.h"
#include "sdenv.h"
#include "tap.h"

#define MAXARGS 200
#define ERRLEN 256

/* A fresh, writable argv whose strings live as long as the struct. */
struct args {
	int argc;
	char *argv[MAXARGS + 1];
	char store[16384];
};

/* Fill a from a NULL-terminated list of strings. */
static char **
args_fill(struct args *a, const char *const *list)
{
	size_t used = 0;

	a->argc = 0;
	for (; *list != NULL; list++) {
		size_t len = strlen(*list) + 1;

		if (a->argc == MAXARGS || used + len > sizeof(a->store))
			abort();
		memcpy(a->store + used, *list, len);
		a->argv[a->argc++] = a->store + used;
		used += len;
	}
	a->argv[a->argc] = NULL;
	return a->argv;
}

/* argv of peerlogd / peerlog followed by the given arguments. */
#define SERVER(a, ...)                                                         \
	args_fill(a, (const char *const[]){"peerlogd", __VA_ARGS__ NULL})
#define CLIENT(a, ...)                                                         \
	args_fill(a, (const char *const[]){"peerlog", __VA_ARGS__ NULL})

/* Parse peerlogd's arguments from a fresh argv. */
static enum opts_result
parse(struct opts *o, struct args *a, char *err)
{
	memset(o, 0x5a, sizeof(*o));
	err[0] = '\0';
	return opts_parse(o, a->argc, a->argv, err, ERRLEN);
}

/* Parse peerlog's arguments from a fresh argv. */
static enum opts_result
parse_client(struct client_opts *o, struct args *a, char *err)
{
	memset(o, 0x5a, sizeof(*o));
	err[0] = '\0';
	return opts_parse_client(o, a->argc, a->argv, err, ERRLEN);
}

/* Whether an address spec is host:port (any false) or any:port. */
static bool
spec_is(const struct addr_spec *s, const char *host, unsigned port)
{
	if (host == NULL)
		return s->any && s->port == port;
	return !s->any && s->port == port &&
	       memchr(s->host, '\0', sizeof(s->host)) != NULL &&
	       strcmp(s->host, host) == 0;
}

/* Show an address spec after a failed check. */
static void
diag_spec(const char *what, size_t i, const struct addr_spec *s)
{
	diag("%s[%zu]: any=%d host \"%.40s\" port %u", what, i, s->any, s->host,
	    s->port);
}

/* Check a successful parse result and report the error if there is one. */
static bool
parsed(enum opts_result rc, const char *err, const char *name)
{
	if (rc == OPTS_RUN)
		return true;
	ok(false, "%s (result %d, err \"%s\")", name, rc, err);
	return false;
}

/* With no -t and no -u the tutorial's ports on localhost, and every other
 * default of the SPEC's table. */
static void
test_defaults(void)
{
	struct args a;
	struct opts o;
	char err[ERRLEN];
	enum opts_result rc;

	SERVER(&a, );
	rc = parse(&o, &a, err);
	if (!is_int(rc, OPTS_RUN, "defaults: no arguments runs")) {
		diag("err \"%s\"", err);
		return;
	}
	if (!ok(o.ntcp == 1 && spec_is(&o.tcp[0], "localhost", 1234),
	        "defaults: tcp localhost:1234") &&
	    o.ntcp >= 1)
		diag_spec("tcp", 0, &o.tcp[0]);
	if (!ok(o.nudp == 1 && spec_is(&o.udp[0], "localhost", 1235),
	        "defaults: udp localhost:1235") &&
	    o.nudp >= 1)
		diag_spec("udp", 0, &o.udp[0]);
	is_str(o.output, "-", "defaults: output is - (standard output)");
	is_int(o.format, RECORD_TEXT, "defaults: format is text");
	is_size(o.max_line, 8192, "defaults: max-line is 8192");
	is_int(
	    (long long)o.max_clients, 10000, "defaults: max-clients is 10000");
	is_int((long long)o.idle_timeout, 0, "defaults: idle-timeout is 0");
	is_size(o.nallow, 0, "defaults: no --allow (all peers served)");
	is_int(o.framing, FRAMING_LF, "defaults: framing is lf");
	is_size(o.ntls, 0, "defaults: no TLS listener");
	ok(o.cert == NULL && o.key == NULL && o.client_ca == NULL,
	    "defaults: no --cert, --key or --client-ca");
	is_size(o.nclient_names, 0, "defaults: no --client-name");
	is_int((long long)o.handshake_timeout, 10,
	    "defaults: handshake-timeout is 10");
}

/* With any -t or -u, only the addresses given. */
static void
test_addresses(void)
{
	struct args a;
	struct opts o;
	char err[ERRLEN];

	SERVER(&a, "-t", "127.0.0.1:0", );
	if (parsed(parse(&o, &a, err), err, "-t alone: no udp default"))
		ok(o.ntcp == 1 && spec_is(&o.tcp[0], "127.0.0.1", 0) &&
		        o.nudp == 0,
		    "-t alone: only that tcp address, no udp default");

	SERVER(&a, "-u", "[::1]:0", );
	if (parsed(parse(&o, &a, err), err, "-u alone: no tcp default"))
		ok(o.nudp == 1 && spec_is(&o.udp[0], "::1", 0) && o.ntcp == 0,
		    "-u alone: only that udp address, no tcp default");

	SERVER(&a, "-t", "127.0.0.1:1", "-u", "127.0.0.1:2", "-t", "[::1]:3",
	    "-u", "localhost:4", "-t", "5", );
	if (parsed(parse(&o, &a, err), err, "-t and -u repeat")) {
		ok(o.ntcp == 3 && spec_is(&o.tcp[0], "127.0.0.1", 1) &&
		        spec_is(&o.tcp[1], "::1", 3) &&
		        spec_is(&o.tcp[2], NULL, 5),
		    "-t repeats, in the order given");
		ok(o.nudp == 2 && spec_is(&o.udp[0], "127.0.0.1", 2) &&
		        spec_is(&o.udp[1], "localhost", 4),
		    "-u repeats, in the order given");
	}

	SERVER(&a, "--tcp=127.0.0.1:7", "--udp=*:8", "--tcp", "[::1]:9",
	    "--udp", "127.0.0.1:10", );
	if (parsed(parse(&o, &a, err), err, "--tcp/--udp forms"))
		ok(o.ntcp == 2 && spec_is(&o.tcp[0], "127.0.0.1", 7) &&
		        spec_is(&o.tcp[1], "::1", 9) && o.nudp == 2 &&
		        spec_is(&o.udp[0], NULL, 8) &&
		        spec_is(&o.udp[1], "127.0.0.1", 10),
		    "--tcp=ADDR, --tcp ADDR, --udp=ADDR, --udp ADDR");

	SERVER(&a, "-t127.0.0.1:11", );
	if (parsed(parse(&o, &a, err), err, "-tADDR"))
		ok(o.ntcp == 1 && spec_is(&o.tcp[0], "127.0.0.1", 11),
		    "-tADDR (argument attached) works");
}

/* Every other option in its short and long forms. */
static void
test_options(void)
{
	struct args a;
	struct opts o;
	char err[ERRLEN];

	SERVER(&a, "-o", "/tmp/peerlog.log", "-f", "json", );
	if (parsed(parse(&o, &a, err), err, "-o PATH -f json")) {
		is_str(o.output, "/tmp/peerlog.log", "-o PATH sets the output");
		is_int(o.format, RECORD_JSON, "-f json sets the format");
	}
	SERVER(&a, "--output=/tmp/x", "--format=text", );
	if (parsed(parse(&o, &a, err), err, "--output= --format=")) {
		is_str(o.output, "/tmp/x", "--output=PATH sets the output");
		is_int(o.format, RECORD_TEXT, "--format=text sets text");
	}
	SERVER(&a, "--output", "-", "--format", "json", );
	if (parsed(parse(&o, &a, err), err, "--output - --format json")) {
		is_str(o.output, "-", "--output - is standard output");
		is_int(o.format, RECORD_JSON, "--format json sets json");
	}
	SERVER(&a, "--max-line", "100", "--max-clients", "5", "--idle-timeout",
	    "30", );
	if (parsed(parse(&o, &a, err), err, "limits")) {
		is_size(o.max_line, 100, "--max-line 100");
		is_int((long long)o.max_clients, 5, "--max-clients 5");
		is_int((long long)o.idle_timeout, 30, "--idle-timeout 30");
	}
	SERVER(&a, "--max-line=1", "--max-clients=1", "--idle-timeout=0", );
	if (parsed(parse(&o, &a, err), err, "limits with =")) {
		is_size(o.max_line, 1, "--max-line=1, the smallest");
		is_int((long long)o.max_clients, 1, "--max-clients=1");
		is_int(
		    (long long)o.idle_timeout, 0, "--idle-timeout=0 (never)");
	}
	SERVER(&a, "--allow", "10.0.0.0/8", "--allow=::1", );
	if (parsed(parse(&o, &a, err), err, "--allow repeats")) {
		ok(o.nallow == 2 && o.allow[0].family == AF_INET &&
		        o.allow[0].prefix == 8 &&
		        o.allow[1].family == AF_INET6 &&
		        o.allow[1].prefix == 128,
		    "--allow repeats, CIDRs in the order given");
		ok(o.ntcp == 1 && o.nudp == 1,
		    "--allow alone keeps the default addresses");
	}
	SERVER(&a, "--proxy", "127.0.0.1", "--proxy=fd00::/8", );
	if (parsed(parse(&o, &a, err), err, "--proxy repeats")) {
		ok(o.nproxy == 2 && o.proxy[0].family == AF_INET &&
		        o.proxy[0].prefix == 32 &&
		        o.proxy[1].family == AF_INET6 &&
		        o.proxy[1].prefix == 8 && o.nallow == 0,
		    "--proxy repeats, CIDRs in the order given, apart from "
		    "--allow");
	}
}

/* Help and version. */
static void
test_help_version(void)
{
	struct args a;
	struct opts o;
	char err[ERRLEN];

	SERVER(&a, "-h", );
	is_int(parse(&o, &a, err), OPTS_HELP, "-h asks for usage");
	SERVER(&a, "--help", );
	is_int(parse(&o, &a, err), OPTS_HELP, "--help asks for usage");
	SERVER(&a, "-V", );
	is_int(parse(&o, &a, err), OPTS_VERSION, "-V asks for the version");
	SERVER(&a, "--version", );
	is_int(
	    parse(&o, &a, err), OPTS_VERSION, "--version asks for the version");
	SERVER(&a, "-t", "127.0.0.1:0", "--help", );
	is_int(parse(&o, &a, err), OPTS_HELP,
	    "--help after other options still asks for usage");
}

/* A bad command line and the words one of which its error must name. */
struct bad {
	const char *argv[6];
	const char *names[4];
	const char *name;
};

/* Whether err names one of the NULL-terminated words. */
static bool
names_one(const char *err, const char *const *names)
{
	for (; *names != NULL; names++)
		if (strstr(err, *names) != NULL)
			return true;
	return false;
}

/* Check an error result: OPTS_ERROR, one non-empty line naming the option. */
static void
check_error(enum opts_result rc, const char *err, const char *const *names,
    const char *name)
{
	const char *nul = memchr(err, '\0', ERRLEN);

	if (rc != OPTS_ERROR)
		ok(false, "error: %s (result %d, not OPTS_ERROR)", name, rc);
	else if (nul == NULL || nul == err)
		ok(false, "error: %s (err empty or unterminated)", name);
	else if (strchr(err, '\n') != NULL)
		ok(false, "error: %s (err is not one line: \"%s\")", name, err);
	else if (!names_one(err, names))
		ok(false, "error: %s (err \"%s\" does not name %s)", name, err,
		    names[0]);
	else
		ok(true, "error: %s", name);
}

/* Bad peerlogd command lines. */
static void
test_errors(void)
{
	static const struct bad cases[] = {
	    {{"-f", "xml"}, {"--format", "-f"}, "-f xml: unknown format"},
	    {{"--format=yaml"}, {"--format", "-f"}, "--format=yaml"},
	    {{"--format"}, {"--format", "-f"}, "--format without a value"},
	    {{"-t"}, {"--tcp", "-t"}, "-t without a value"},
	    {{"-u"}, {"--udp", "-u"}, "-u without a value"},
	    {{"-o"}, {"--output", "-o"}, "-o without a value"},
	    {{"-t", "1.2.3.4:65536"}, {"--tcp", "-t", "1.2.3.4:65536"},
	        "-t with a port above 65535"},
	    {{"-t", "::1:80"}, {"--tcp", "-t", "::1:80"},
	        "-t with an unbracketed IPv6"},
	    {{"--tcp=host:"}, {"--tcp", "-t", "host:"},
	        "--tcp with an empty port"},
	    {{"-u", "[::1]"}, {"--udp", "-u", "[::1]"}, "-u with no port"},
	    {{"--udp", ""}, {"--udp", "-u"}, "--udp with an empty ADDR"},
	    {{"--max-line", "0"}, {"--max-line"}, "--max-line 0"},
	    {{"--max-line", "abc"}, {"--max-line"}, "--max-line abc"},
	    {{"--max-line", "-5"}, {"--max-line"}, "--max-line -5"},
	    {{"--max-line", "10x"}, {"--max-line"}, "--max-line 10x"},
	    {{"--max-line="}, {"--max-line"}, "--max-line= (empty)"},
	    {{"--max-line", "99999999999999999999999"}, {"--max-line"},
	        "--max-line that overflows"},
	    {{"--max-line"}, {"--max-line"}, "--max-line without a value"},
	    {{"--max-clients", "abc"}, {"--max-clients"}, "--max-clients abc"},
	    {{"--max-clients", "-1"}, {"--max-clients"}, "--max-clients -1"},
	    {{"--max-clients", ""}, {"--max-clients"},
	        "--max-clients with an empty value"},
	    {{"--idle-timeout", "-1"}, {"--idle-timeout"}, "--idle-timeout -1"},
	    {{"--idle-timeout", "5s"}, {"--idle-timeout"}, "--idle-timeout 5s"},
	    {{"--idle-timeout", "x"}, {"--idle-timeout"}, "--idle-timeout x"},
	    {{"--allow", "10.0.0.0/33"}, {"--allow", "10.0.0.0/33"},
	        "--allow with a prefix above 32"},
	    {{"--allow", "example.org"}, {"--allow", "example.org"},
	        "--allow with a name"},
	    {{"--proxy", "10.0.0.0/33"}, {"--proxy", "10.0.0.0/33"},
	        "--proxy with a prefix above 32"},
	    {{"--proxy"}, {"--proxy"}, "--proxy without a value"},
	    {{"--bogus"}, {"--bogus"}, "an unknown long option"},
	    {{"-x"}, {"-x", "'x'"}, "an unknown short option"},
	    {{"--help=yes"}, {"--help"}, "--help with a value"},
	    {{"extra"}, {"extra"}, "an operand (peerlogd takes none)"},
	    {{"-t", "127.0.0.1:1", "stray"}, {"stray"},
	        "an operand after options"},
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *list[8] = {"peerlogd"};
		struct args a;
		struct opts o;
		char err[ERRLEN];
		size_t k;

		for (k = 0; k < 6 && cases[i].argv[k] != NULL; k++)
			list[k + 1] = cases[i].argv[k];
		list[k + 1] = NULL;
		args_fill(&a, list);
		check_error(
		    parse(&o, &a, err), err, cases[i].names, cases[i].name);
	}
}

/* More addresses or networks than the arrays hold: an error, no overflow. */
static void
test_too_many(void)
{
	static const char *const tcp[] = {"--tcp", "-t", NULL};
	static const char *const allow[] = {"--allow", NULL};
	const char *list[2 * (OPTS_MAX_ADDRS + 1) + 2];
	struct args *a = malloc(sizeof(*a));
	struct opts o;
	char err[ERRLEN];
	size_t i, n = 1;

	list[0] = "peerlogd";
	for (i = 0; i <= OPTS_MAX_ADDRS; i++) {
		list[n++] = "-t";
		list[n++] = "127.0.0.1:0";
	}
	list[n] = NULL;
	args_fill(a, list);
	check_error(parse(&o, a, err), err, tcp, "more than OPTS_MAX_ADDRS -t");

	n = 1;
	for (i = 0; i <= OPTS_MAX_ALLOW; i++) {
		list[n++] = "--allow";
		list[n++] = "127.0.0.1";
	}
	list[n] = NULL;
	args_fill(a, list);
	check_error(
	    parse(&o, a, err), err, allow, "more than OPTS_MAX_ALLOW --allow");

	n = 1;
	for (i = 0; i < OPTS_MAX_ADDRS; i++) {
		list[n++] = "-u";
		list[n++] = "127.0.0.1:0";
	}
	list[n] = NULL;
	args_fill(a, list);
	ok(parse(&o, a, err) == OPTS_RUN && o.nudp == OPTS_MAX_ADDRS,
	    "exactly OPTS_MAX_ADDRS -u are accepted");
	free(a);
}

/* A small err buffer is filled and terminated, never overrun. */
static void
test_small_err(void)
{
	struct args a;
	struct opts o;
	char err[8 + 16];
	size_t i;
	bool intact = true;

	memset(err, 'Z', sizeof(err));
	SERVER(&a, "--format", "a-format-name-longer-than-the-buffer", );
	is_int(opts_parse(&o, a.argc, a.argv, err, 8), OPTS_ERROR,
	    "an 8-byte err buffer: still OPTS_ERROR");
	for (i = 8; i < sizeof(err); i++)
		if (err[i] != 'Z')
			intact = false;
	ok(intact && memchr(err, '\0', 8) != NULL,
	    "an 8-byte err buffer is NUL-terminated and not overrun");
}

/* Errors are returned, never printed: the caller owns the output. */
static void
test_errors_silent(void)
{
	struct args a;
	struct opts o;
	struct client_opts co;
	char err[ERRLEN], buf[256];
	FILE *tmp = tmpfile();
	int saved = dup(2);
	long size;

	if (tmp == NULL || saved < 0) {
		ok(false, "parse errors print nothing (no tmpfile)");
		return;
	}
	fflush(stderr);
	dup2(fileno(tmp), 2);
	SERVER(&a, "--bogus", );
	parse(&o, &a, err);
	SERVER(&a, "-x", );
	parse(&o, &a, err);
	SERVER(&a, "-t", );
	parse(&o, &a, err);
	CLIENT(&a, "-x", );
	parse_client(&co, &a, err);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	fseek(tmp, 0, SEEK_END);
	size = ftell(tmp);
	ok(size == 0, "parse errors print nothing on stderr");
	if (size > 0) {
		rewind(tmp);
		if (fgets(buf, sizeof(buf), tmp) != NULL)
			diag("stderr: %s", buf);
	}
	fclose(tmp);
}

/* Parsing twice in one process starts afresh each time, even after a parse
 * that stopped inside a group of short options. */
static void
test_reparse(void)
{
	struct args a;
	struct opts o;
	char err[ERRLEN];
	enum opts_result rc;

	SERVER(&a, "-t", "127.0.0.1:1", );
	parse(&o, &a, err);
	SERVER(&a, "-u", "127.0.0.1:2", );
	rc = parse(&o, &a, err);
	ok(rc == OPTS_RUN && o.ntcp == 0 && o.nudp == 1 &&
	        spec_is(&o.udp[0], "127.0.0.1", 2),
	    "a second parse sees only its own arguments");

	SERVER(&a, "-hV", );
	parse(&o, &a, err);
	SERVER(&a, "-u", "127.0.0.1:3", );
	rc = parse(&o, &a, err);
	ok(rc == OPTS_RUN && o.ntcp == 0 && o.nudp == 1 &&
	        spec_is(&o.udp[0], "127.0.0.1", 3),
	    "a parse after one that stopped inside -hV starts afresh");

	SERVER(&a, "-xV", );
	parse(&o, &a, err);
	SERVER(&a, );
	rc = parse(&o, &a, err);
	ok(rc == OPTS_RUN && o.ntcp == 1 && o.nudp == 1,
	    "a parse after an error inside -xV starts afresh");
}

/* The usage text names every option of the SPEC. */
static void
test_usage(void)
{
	static const char *const opts[] = {"--tcp", "--udp", "--output",
	    "--format", "--max-line", "--max-clients", "--idle-timeout",
	    "--max-per-source", "--framing", "--allow", "-T, --tls ADDR",
	    "--cert FILE", "--key FILE", "--client-ca FILE",
	    "--client-name NAME", "sha256:HEX", "--handshake-timeout SEC",
	    "--help", "--version"};
	size_t i;
	bool all = true;

	for (i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
		if (strstr(opts_usage, opts[i]) == NULL) {
			diag("usage lacks %s", opts[i]);
			all = false;
		}
	}
	ok(all, "peerlogd's usage names every option");
	ok(strstr(opts_client_usage, "-u") != NULL &&
	        strstr(opts_client_usage, "-4") != NULL &&
	        strstr(opts_client_usage, "-6") != NULL,
	    "peerlog's usage names -u, -4 and -6");
	ok(strstr(opts_client_usage, "--tls") != NULL &&
	        strstr(opts_client_usage, "--ca FILE") != NULL &&
	        strstr(opts_client_usage, "--cert FILE") != NULL &&
	        strstr(opts_client_usage, "--key FILE") != NULL &&
	        strstr(opts_client_usage, "1236") != NULL,
	    "peerlog's usage names --tls, --ca, --cert, --key and port 1236");
}

/* Check a client parse: every field. */
static void
check_client(struct args *a, bool udp, enum client_family fam, const char *host,
    const char *port, const char *name)
{
	struct client_opts o;
	char err[ERRLEN];
	enum opts_result rc = parse_client(&o, a, err);

	if (rc != OPTS_RUN) {
		ok(false, "client: %s (result %d, err \"%s\")", name, rc, err);
		return;
	}
	ok(o.udp == udp && !o.tls && o.ca == NULL && o.cert == NULL &&
	        o.key == NULL && o.family == fam && o.host != NULL &&
	        strcmp(o.host, host) == 0 && o.port != NULL &&
	        strcmp(o.port, port) == 0,
	    "client: %s", name);
	if (o.udp != udp || o.family != fam || o.host == NULL ||
	    o.port == NULL || strcmp(o.host, host) != 0 ||
	    strcmp(o.port, port) != 0)
		diag("got udp=%d family=%d host \"%s\" port \"%s\"", o.udp,
		    o.family, o.host != NULL ? o.host : "(null)",
		    o.port != NULL ? o.port : "(null)");
}

/* A string field of client_opts: NULL or equal to want. */
static bool
same_or_null(const char *got, const char *want)
{
	if (got == NULL || want == NULL)
		return got == want;
	return strcmp(got, want) == 0;
}

/* Check a --tls client parse: every field. */
static void
check_client_tls(struct args *a, const char *ca, const char *cert,
    const char *key, const char *host, const char *port, const char *name)
{
	struct client_opts o;
	char err[ERRLEN];
	enum opts_result rc = parse_client(&o, a, err);
	bool good;

	if (rc != OPTS_RUN) {
		ok(false, "client: %s (result %d, err \"%s\")", name, rc, err);
		return;
	}
	good = o.tls && !o.udp && o.family == CLIENT_ANY &&
	       same_or_null(o.ca, ca) && same_or_null(o.cert, cert) &&
	       same_or_null(o.key, key) && same_or_null(o.host, host) &&
	       same_or_null(o.port, port);
	ok(good, "client: %s", name);
	if (!good)
		diag("got tls=%d udp=%d ca \"%s\" cert \"%s\" key \"%s\" "
		     "host \"%s\" port \"%s\"",
		    o.tls, o.udp, o.ca != NULL ? o.ca : "(null)",
		    o.cert != NULL ? o.cert : "(null)",
		    o.key != NULL ? o.key : "(null)",
		    o.host != NULL ? o.host : "(null)",
		    o.port != NULL ? o.port : "(null)");
}

/* Parse a bad peerlog command line; err must be exactly want. */
static void
check_client_error(struct args *a, const char *want, const char *name)
{
	struct client_opts o;
	char err[ERRLEN];

	is_int(parse_client(&o, a, err), OPTS_ERROR, "client: %s fails", name);
	is_str(err, want, "client: %s: the error", name);
}

/* peerlog --tls: the default port, the files, and what goes with what. */
static void
test_client_tls(void)
{
	struct args a;

	CLIENT(&a, "--tls", );
	check_client_tls(&a, NULL, NULL, NULL, "localhost", "1236",
	    "--tls: localhost 1236, the system's CAs, no certificate");
	CLIENT(&a, "--tls", "example.org", );
	check_client_tls(&a, NULL, NULL, NULL, "example.org", "1236",
	    "--tls HOST: port 1236");
	CLIENT(&a, "::1", "6514", "--tls", );
	check_client_tls(&a, NULL, NULL, NULL, "::1", "6514",
	    "HOST PORT --tls: the port given");
	CLIENT(&a, "--tls", "--ca", "ca.pem", "h", );
	check_client_tls(
	    &a, "ca.pem", NULL, NULL, "h", "1236", "--tls --ca FILE HOST");
	CLIENT(&a, "--tls", "--ca=ca.pem", "--cert=c.pem", "--key=k.pem", );
	check_client_tls(&a, "ca.pem", "c.pem", "k.pem", "localhost", "1236",
	    "--ca=, --cert=, --key=");
	CLIENT(&a, "--key", "k.pem", "--tls", "--cert", "c.pem", );
	check_client_tls(&a, NULL, "c.pem", "k.pem", "localhost", "1236",
	    "--key before --tls and --cert, without --ca");
	CLIENT(&a, "--tls", "--ca", "a.pem", "--ca", "b.pem", );
	check_client_tls(
	    &a, "b.pem", NULL, NULL, "localhost", "1236", "the last --ca wins");
	CLIENT(&a, "--tls", "--", "--ca", );
	check_client_tls(
	    &a, NULL, NULL, NULL, "--ca", "1236", "after --, --ca is a HOST");
	CLIENT(&a, "-4", "--tls", );
	{
		struct client_opts o;
		char err[ERRLEN];

		ok(parse_client(&o, &a, err) == OPTS_RUN && o.tls &&
		        o.family == CLIENT_INET4,
		    "client: -4 --tls");
	}

	CLIENT(&a, "-u", "--tls", );
	check_client_error(&a, "options -u and --tls cannot be used together",
	    "-u with --tls");
	CLIENT(&a, "--tls", "-u4", );
	check_client_error(&a, "options -u and --tls cannot be used together",
	    "--tls with -u4");
	CLIENT(&a, "--ca", "ca.pem", );
	check_client_error(&a, "option --ca needs --tls", "--ca without --tls");
	CLIENT(&a, "-u", "--ca", "ca.pem", );
	check_client_error(&a, "option --ca needs --tls", "-u --ca");
	CLIENT(&a, "--cert", "c.pem", "--key", "k.pem", );
	check_client_error(
	    &a, "option --cert needs --tls", "--cert and --key without --tls");
	CLIENT(&a, "--key", "k.pem", );
	check_client_error(
	    &a, "option --key needs --tls", "--key without --tls");
	CLIENT(&a, "--tls", "--cert", "c.pem", );
	check_client_error(
	    &a, "option --cert needs --key", "--cert without --key");
	CLIENT(&a, "--tls", "--ca", "ca.pem", "--key", "k.pem", );
	check_client_error(
	    &a, "option --key needs --cert", "--key without --cert");
	CLIENT(&a, "--tls", "--ca", );
	check_client_error(
	    &a, "option '--ca' needs an argument", "--ca without a value");
	CLIENT(&a, "--tls", "--ca=", );
	check_client_error(&a, "--ca: empty file name", "--ca= (empty)");
	CLIENT(&a, "--tls", "--cert", "", "--key", "k", );
	check_client_error(&a, "--cert: empty file name", "--cert ''");
	CLIENT(&a, "--tls", "--cert", "c", "--key=", );
	check_client_error(&a, "--key: empty file name", "--key= (empty)");
	CLIENT(&a, "--tls=yes", );
	check_client_error(&a, "option '--tls' takes no argument", "--tls=yes");
	CLIENT(&a, "--tl", );
	check_client_error(&a, "unknown option '--tl'", "--tl (no prefixes)");
	CLIENT(&a, "--tls", "--client-ca", "x", );
	check_client_error(&a, "unknown option '--client-ca'",
	    "the server's --client-ca is not the client's");
	CLIENT(&a, "--tls", "h", "0", );
	check_client_error(&a, "bad port '0' (1..65535)", "--tls with port 0");
}

/* peerlog's command lines. */
static void
test_client(void)
{
	struct args a;
	struct client_opts o;
	char err[ERRLEN];

	CLIENT(&a, );
	check_client(&a, false, CLIENT_ANY, "localhost", "1234",
	    "defaults: tcp to localhost 1234");
	CLIENT(&a, "-u", );
	check_client(&a, true, CLIENT_ANY, "localhost", "1235",
	    "-u: udp to localhost 1235");
	CLIENT(&a, "example.org", );
	check_client(&a, false, CLIENT_ANY, "example.org", "1234",
	    "HOST alone: port 1234");
	CLIENT(&a, "-u", "example.org", );
	check_client(
	    &a, true, CLIENT_ANY, "example.org", "1235", "-u HOST: port 1235");
	CLIENT(&a, "127.0.0.1", "99", );
	check_client(&a, false, CLIENT_ANY, "127.0.0.1", "99", "HOST PORT");
	CLIENT(&a, "-u", "::1", "7", );
	check_client(&a, true, CLIENT_ANY, "::1", "7", "-u HOST PORT");
	CLIENT(&a, "-4", );
	check_client(
	    &a, false, CLIENT_INET4, "localhost", "1234", "-4 asks for IPv4");
	CLIENT(&a, "-6", "-u", "localhost", "5", );
	check_client(
	    &a, true, CLIENT_INET6, "localhost", "5", "-6 asks for IPv6");
	CLIENT(&a, "-u4", );
	check_client(&a, true, CLIENT_INET4, "localhost", "1235",
	    "grouped short options -u4");

	CLIENT(&a, "-h", );
	is_int(
	    parse_client(&o, &a, err), OPTS_HELP, "client: -h asks for usage");
	CLIENT(&a, "--help", );
	is_int(parse_client(&o, &a, err), OPTS_HELP,
	    "client: --help asks for usage");

	{
		static const char *const extra[] = {"c", NULL};
		static const char *const unknown[] = {"-x", "'x'", NULL};

		CLIENT(&a, "a", "1", "c", );
		check_error(parse_client(&o, &a, err), err, extra,
		    "client: a third operand");
		CLIENT(&a, "-x", );
		check_error(parse_client(&o, &a, err), err, unknown,
		    "client: an unknown option");
		CLIENT(&a, "-4", "-6", );
		is_int(parse_client(&o, &a, err), OPTS_ERROR,
		    "client: -4 and -6 together are an error");
	}
}

/* --framing lf|octet: both spellings of each value; any other value, an
 * empty one or none is an error that names the option and the choices. */
static void
test_framing(void)
{
	static const char *const unknown = "--framing: unknown framing 'xml' "
	                                   "(lf or octet)";
	static const char *const names[] = {"--framing", NULL};
	struct args a;
	struct opts o;
	char err[ERRLEN];

	SERVER(&a, "--framing", "octet", );
	if (parsed(parse(&o, &a, err), err, "--framing octet"))
		is_int(o.framing, FRAMING_OCTET, "--framing octet sets octet");
	SERVER(&a, "--framing=octet", );
	if (parsed(parse(&o, &a, err), err, "--framing=octet"))
		is_int(o.framing, FRAMING_OCTET, "--framing=octet sets octet");
	SERVER(&a, "--framing", "lf", );
	if (parsed(parse(&o, &a, err), err, "--framing lf"))
		is_int(o.framing, FRAMING_LF, "--framing lf sets lf");
	SERVER(&a, "--framing=lf", "-t", "127.0.0.1:0", );
	if (parsed(parse(&o, &a, err), err, "--framing=lf -t ADDR")) {
		is_int(o.framing, FRAMING_LF, "--framing=lf sets lf");
		ok(o.ntcp == 1 && o.nudp == 0,
		    "--framing leaves the listeners as given");
	}
	SERVER(&a, "-t", "127.0.0.1:0", "--framing", "octet", "-f", "json",
	    "--max-line", "100", );
	if (parsed(parse(&o, &a, err), err, "--framing among other options"))
		ok(o.framing == FRAMING_OCTET && o.format == RECORD_JSON &&
		        o.max_line == 100,
		    "--framing octet among other options: all of them set");

	SERVER(&a, "--framing", "xml", );
	is_int(parse(&o, &a, err), OPTS_ERROR, "--framing xml is an error");
	is_str(
	    err, unknown, "--framing xml: the error names it and the choices");
	SERVER(&a, "--framing=xml", );
	parse(&o, &a, err);
	is_str(err, unknown, "--framing=xml: the same error");
	SERVER(&a, "--framing", "OCTET", );
	check_error(parse(&o, &a, err), err, names,
	    "--framing OCTET (values are lower case, like --format's)");
	SERVER(&a, "--framing", "octet-counting", );
	check_error(parse(&o, &a, err), err, names,
	    "--framing octet-counting (no prefix match)");
	SERVER(&a, "--framing", "", );
	check_error(
	    parse(&o, &a, err), err, names, "--framing with an empty value");
	SERVER(&a, "--framing=", );
	check_error(parse(&o, &a, err), err, names, "--framing= (empty)");
	SERVER(&a, "--framing", );
	check_error(
	    parse(&o, &a, err), err, names, "--framing without a value");
}

/* The files of a TLS listener, as the tests below name them. */
#define CERT "/etc/peerlog/cert.pem"
#define KEY "/etc/peerlog/key.pem"
#define CA "/etc/peerlog/clients.pem"

/* Parse a bad peerlogd command line; err must be exactly want. */
static void
check_server_error(struct args *a, const char *want, const char *name)
{
	struct opts o;
	char err[ERRLEN];

	is_int(parse(&o, a, err), OPTS_ERROR, "%s fails", name);
	is_str(err, want, "%s: the error", name);
}

/* -T/--tls in every form, with --cert and --key; a -T alone means no
 * default listener; the options may come in any order. */
static void
test_tls_listeners(void)
{
	struct args a;
	struct opts o;
	char err[ERRLEN];

	SERVER(&a, "-T", "127.0.0.1:0", "--cert", CERT, "--key", KEY, );
	if (parsed(parse(&o, &a, err), err, "-T ADDR --cert --key")) {
		ok(o.ntls == 1 && spec_is(&o.tls[0], "127.0.0.1", 0),
		    "-T ADDR: one TLS listener on ADDR");
		ok(o.ntcp == 0 && o.nudp == 0,
		    "-T alone: no default tcp or udp listener");
		is_str(o.cert, CERT, "--cert FILE is kept");
		is_str(o.key, KEY, "--key FILE is kept");
		ok(o.client_ca == NULL && o.nclient_names == 0,
		    "-T without --client-ca: no client certificate asked for");
		is_int((long long)o.handshake_timeout, 10,
		    "-T: handshake-timeout is 10 by default");
	}

	SERVER(&a, "--tls=127.0.0.1:1", "--tls", "[::1]:2", "-T3", "-T", "*:4",
	    "--cert=" CERT, "--key=" KEY, );
	if (parsed(parse(&o, &a, err), err, "--tls forms")) {
		ok(o.ntls == 4 && spec_is(&o.tls[0], "127.0.0.1", 1) &&
		        spec_is(&o.tls[1], "::1", 2) &&
		        spec_is(&o.tls[2], NULL, 3) &&
		        spec_is(&o.tls[3], NULL, 4),
		    "--tls=ADDR, --tls ADDR, -TADDR, -T ADDR: in the order "
		    "given");
		is_str(o.cert, CERT, "--cert=FILE is kept");
		is_str(o.key, KEY, "--key=FILE is kept");
	}

	SERVER(&a, "-t", "127.0.0.1:5", "-T", "127.0.0.1:6", "-u",
	    "127.0.0.1:7", "--cert", CERT, "--key", KEY, );
	if (parsed(parse(&o, &a, err), err, "-t, -T and -u together"))
		ok(o.ntcp == 1 && spec_is(&o.tcp[0], "127.0.0.1", 5) &&
		        o.ntls == 1 && spec_is(&o.tls[0], "127.0.0.1", 6) &&
		        o.nudp == 1 && spec_is(&o.udp[0], "127.0.0.1", 7),
		    "-t, -T and -u: each address in its own list");

	SERVER(&a, "--key", KEY, "--cert", CERT, "-T", "127.0.0.1:8", );
	if (parsed(parse(&o, &a, err), err, "--key and --cert before -T"))
		ok(o.ntls == 1 && strcmp(o.cert, CERT) == 0 &&
		        strcmp(o.key, KEY) == 0,
		    "--key and --cert before -T: the same listener");

	SERVER(&a, "-T", "127.0.0.1:9", "--cert", "old.pem", "--key", "old.key",
	    "--cert", CERT, "--key", KEY, "--client-ca", "old-ca",
	    "--client-ca", CA, );
	if (parsed(parse(&o, &a, err), err, "--cert, --key, --client-ca twice"))
		ok(strcmp(o.cert, CERT) == 0 && strcmp(o.key, KEY) == 0 &&
		        strcmp(o.client_ca, CA) == 0,
		    "--cert, --key and --client-ca given twice: the last wins");

	SERVER(&a, "-T", "127.0.0.1:10", "--cert", CERT, "--key", KEY,
	    "--client-ca", CA, );
	if (parsed(parse(&o, &a, err), err, "--client-ca FILE")) {
		is_str(o.client_ca, CA, "--client-ca FILE is kept");
		is_size(o.nclient_names, 0,
		    "--client-ca without --client-name: no name rule");
	}
	SERVER(&a, "-T", "127.0.0.1:11", "--cert", CERT, "--key", KEY,
	    "--client-ca=" CA, );
	if (parsed(parse(&o, &a, err), err, "--client-ca=FILE"))
		is_str(o.client_ca, CA, "--client-ca=FILE is kept");

	SERVER(&a, "-T", "127.0.0.1:12", "--cert", "-", "--key", "-", );
	if (parsed(parse(&o, &a, err), err, "--cert - --key -"))
		ok(strcmp(o.cert, "-") == 0 && strcmp(o.key, "-") == 0,
		    "--cert - and --key -: a file named '-', not standard "
		    "input");
}

/* OPTS_MAX_ADDRS -T are accepted, one more is an error. */
static void
test_tls_too_many(void)
{
	const char *list[OPTS_MAX_ADDRS + 8];
	struct args *a = malloc(sizeof(*a));
	struct opts o;
	char err[ERRLEN], want[ERRLEN];
	size_t i, n = 1;

	list[0] = "peerlogd";
	list[n++] = "--cert=" CERT;
	list[n++] = "--key=" KEY;
	for (i = 0; i < OPTS_MAX_ADDRS; i++)
		list[n++] = "-T127.0.0.1:0";
	list[n] = NULL;
	args_fill(a, list);
	ok(parse(&o, a, err) == OPTS_RUN && o.ntls == OPTS_MAX_ADDRS,
	    "exactly OPTS_MAX_ADDRS -T are accepted");
	list[n++] = "--tls=127.0.0.1:0";
	list[n] = NULL;
	args_fill(a, list);
	snprintf(want, sizeof want, "--tls: too many addresses (at most %d)",
	    OPTS_MAX_ADDRS);
	check_server_error(a, want, "OPTS_MAX_ADDRS + 1 -T");
	free(a);
}

/* The 32 bytes the pins below stand for: a0, a1, ... bf. */
static void
pin_bytes(unsigned char fp[CERTNAME_FP_LEN])
{
	for (size_t i = 0; i < CERTNAME_FP_LEN; i++)
		fp[i] = (unsigned char)(0xa0 + i);
}

/* Write pin_bytes as sha256:HEX, lower or upper case, colons or not. */
static void
pin_text(char *dst, bool upper, bool colons)
{
	unsigned char fp[CERTNAME_FP_LEN];
	size_t n = (size_t)sprintf(dst, "%s", upper ? "SHA256:" : "sha256:");

	pin_bytes(fp);
	for (size_t i = 0; i < CERTNAME_FP_LEN; i++)
		n += (size_t)sprintf(dst + n, upper ? "%s%02X" : "%s%02x",
		    colons && i > 0 ? ":" : "", fp[i]);
}

/* Whether rule r is the name want, no pin. */
static bool
rule_is_name(const struct certname_rule *r, const char *want)
{
	return !r->pin && r->len == strlen(want) && strcmp(r->name, want) == 0;
}

/* Whether rule r is the pin of pin_bytes. */
static bool
rule_is_pin(const struct certname_rule *r)
{
	unsigned char fp[CERTNAME_FP_LEN];

	pin_bytes(fp);
	return r->pin && memcmp(r->fp, fp, sizeof fp) == 0;
}

/* --client-name: names, wildcards and pins in every spelling, in order,
 * up to OPTS_MAX_NAMES. */
static void
test_client_names(void)
{
	char plain[80], upper[120];
	const char *list[OPTS_MAX_NAMES + 16];
	struct args *a = malloc(sizeof(*a));
	struct opts o;
	char err[ERRLEN], want[ERRLEN];
	size_t i, n;

	pin_text(plain, false, false);
	pin_text(upper, true, true);
	SERVER(a, "-T", "127.0.0.1:0", "--cert", CERT, "--key", KEY,
	    "--client-ca", CA, "--client-name", "host.example",
	    "--client-name=*.example.org", "--client-name", plain,
	    "--client-name", "Jane Doe", "--client-name", upper, );
	if (parsed(parse(&o, a, err), err, "--client-name five times")) {
		is_size(o.nclient_names, 5, "--client-name repeats");
		ok(rule_is_name(&o.client_names[0], "host.example"),
		    "--client-name NAME: a name rule");
		ok(rule_is_name(&o.client_names[1], "*.example.org"),
		    "--client-name=*.DOMAIN: a wildcard name rule, kept as "
		    "given");
		ok(rule_is_pin(&o.client_names[2]),
		    "--client-name sha256:HEX: a pin of those bytes");
		ok(rule_is_name(&o.client_names[3], "Jane Doe"),
		    "--client-name with a space (a CN): a name rule");
		ok(rule_is_pin(&o.client_names[4]),
		    "--client-name SHA256:HH:HH:..., upper case with colons: "
		    "the same pin");
		is_str(o.client_ca, CA, "--client-name keeps --client-ca");
	}

	n = 0;
	list[n++] = "peerlogd";
	list[n++] = "-T127.0.0.1:0";
	list[n++] = "--cert=" CERT;
	list[n++] = "--key=" KEY;
	list[n++] = "--client-ca=" CA;
	for (i = 0; i < OPTS_MAX_NAMES; i++)
		list[n++] = "--client-name=host.example";
	list[n] = NULL;
	args_fill(a, list);
	ok(parse(&o, a, err) == OPTS_RUN && o.nclient_names == OPTS_MAX_NAMES,
	    "exactly OPTS_MAX_NAMES --client-name are accepted");
	list[n++] = "--client-name=other.example";
	list[n] = NULL;
	args_fill(a, list);
	snprintf(want, sizeof want,
	    "--client-name: too many names (at most %d)", OPTS_MAX_NAMES);
	check_server_error(a, want, "OPTS_MAX_NAMES + 1 --client-name");
	free(a);
}

/* --handshake-timeout SEC: 0..31536000, default 10, with or without TLS. */
static void
test_handshake_timeout(void)
{
	static const struct {
		const char *arg, *want, *name;
	} bad[] = {
	    {"--handshake-timeout=31536001",
	        "--handshake-timeout: out of range: '31536001' (0..31536000)",
	        "--handshake-timeout one past the largest"},
	    {"--handshake-timeout=99999999999999999999999",
	        "--handshake-timeout: out of range: "
	        "'99999999999999999999999' (0..31536000)",
	        "--handshake-timeout that overflows"},
	    {"--handshake-timeout=-1",
	        "--handshake-timeout: not a number: '-1'",
	        "--handshake-timeout -1"},
	    {"--handshake-timeout=10s",
	        "--handshake-timeout: not a number: '10s'",
	        "--handshake-timeout 10s"},
	    {"--handshake-timeout= 10",
	        "--handshake-timeout: not a number: ' 10'",
	        "--handshake-timeout with a space"},
	    {"--handshake-timeout=", "--handshake-timeout: not a number: ''",
	        "--handshake-timeout= (empty)"},
	    {"--handshake-timeout",
	        "option '--handshake-timeout' needs an argument",
	        "--handshake-timeout without a value"},
	};
	struct args a;
	struct opts o;
	char err[ERRLEN];

	SERVER(&a, "-T", "127.0.0.1:0", "--cert", CERT, "--key", KEY,
	    "--handshake-timeout", "30", );
	if (parsed(parse(&o, &a, err), err, "--handshake-timeout 30"))
		is_int((long long)o.handshake_timeout, 30,
		    "--handshake-timeout 30");
	SERVER(&a, "--handshake-timeout=0", "-T", "127.0.0.1:0", "--cert", CERT,
	    "--key", KEY, );
	if (parsed(parse(&o, &a, err), err, "--handshake-timeout=0"))
		is_int((long long)o.handshake_timeout, 0,
		    "--handshake-timeout=0 (never)");
	SERVER(&a, "--handshake-timeout", "31536000", );
	if (parsed(parse(&o, &a, err), err, "--handshake-timeout alone")) {
		is_int((long long)o.handshake_timeout, 31536000,
		    "--handshake-timeout 31536000, the largest");
		ok(o.ntcp == 1 && o.nudp == 1 && o.ntls == 0,
		    "--handshake-timeout without -T: accepted, the default "
		    "listeners");
	}
	SERVER(&a, "--handshake-timeout", "007", );
	if (parsed(parse(&o, &a, err), err, "--handshake-timeout 007"))
		is_int((long long)o.handshake_timeout, 7,
		    "--handshake-timeout 007: leading zeros are decimal");
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		SERVER(&a, bad[i].arg, );
		check_server_error(&a, bad[i].want, bad[i].name);
	}
}

/* The TLS options' errors, each exactly: what is missing, empty files,
 * bad addresses; an option's own error before the cross-checks. */
static void
test_tls_errors(void)
{
	static const struct {
		const char *argv[10];
		const char *want, *name;
	} cases[] = {
	    {{"-T", "127.0.0.1:0"}, "--tls needs --cert and --key",
	        "-T without --cert and --key"},
	    {{"-T", "127.0.0.1:0", "--cert", CERT},
	        "--tls needs --cert and --key", "-T without --key"},
	    {{"-T", "127.0.0.1:0", "--key", KEY},
	        "--tls needs --cert and --key", "-T without --cert"},
	    {{"-T", "127.0.0.1:0", "--client-ca", CA, "--client-name", "x"},
	        "--tls needs --cert and --key",
	        "-T with --client-ca and --client-name but no --cert, --key"},
	    {{"--cert", CERT}, "--cert needs a --tls listener",
	        "--cert without -T"},
	    {{"--key", KEY}, "--key needs a --tls listener",
	        "--key without -T"},
	    {{"--client-ca", CA}, "--client-ca needs a --tls listener",
	        "--client-ca without -T"},
	    {{"-t", "127.0.0.1:0", "-u", "127.0.0.1:0", "--cert", CERT, "--key",
	         KEY},
	        "--cert needs a --tls listener",
	        "--cert and --key with -t and -u only"},
	    {{"--key", KEY, "--client-ca", CA}, "--key needs a --tls listener",
	        "--key and --client-ca without -T"},
	    {{"--client-ca", CA, "--client-name", "x"},
	        "--client-ca needs a --tls listener",
	        "--client-ca and --client-name without -T"},
	    {{"--client-name", "x"}, "--client-name needs --client-ca",
	        "--client-name alone"},
	    {{"-T", "127.0.0.1:0", "--cert", CERT, "--key", KEY,
	         "--client-name", "x"},
	        "--client-name needs --client-ca",
	        "-T with --client-name but no --client-ca"},
	    {{"--cert", ""}, "--cert: empty path", "--cert ''"},
	    {{"--key="}, "--key: empty path", "--key= (empty)"},
	    {{"--client-ca", ""}, "--client-ca: empty path", "--client-ca ''"},
	    {{"-T", "127.0.0.1:0", "--cert", "", "--key", KEY},
	        "--cert: empty path",
	        "an empty --cert with -T: the path's error, not -T's"},
	    {{"--cert", CERT, "--bogus"}, "unknown option '--bogus'",
	        "a later unknown option before the cross-checks"},
	    {{"-T"}, "option '-T' needs an argument", "-T without a value"},
	    {{"--tls"}, "option '--tls' needs an argument",
	        "--tls without a value"},
	    {{"--cert"}, "option '--cert' needs an argument",
	        "--cert without a value"},
	    {{"--key"}, "option '--key' needs an argument",
	        "--key without a value"},
	    {{"--client-ca"}, "option '--client-ca' needs an argument",
	        "--client-ca without a value"},
	    {{"--client-name"}, "option '--client-name' needs an argument",
	        "--client-name without a value"},
	    {{"-T", "1.2.3.4:65536"}, "--tls '1.2.3.4:65536': bad port",
	        "-T with a port above 65535"},
	    {{"--tls=::1:80"}, "--tls '::1:80': IPv6 address needs [brackets]",
	        "--tls with an unbracketed IPv6"},
	    {{"-T", "[::1]"}, "--tls '[::1]': missing port", "-T with no port"},
	    {{"--tls", ""}, "--tls '': empty address",
	        "--tls with an empty ADDR"},
	    {{"-t", "127.0.0.1:0", "--tcp-tls", "1"},
	        "unknown option '--tcp-tls'", "no --tcp-tls"},
	    {{"--TLS=1"}, "unknown option '--TLS'",
	        "--TLS (long names are lower case)"},
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const char *list[12] = {"peerlogd"};
		struct args a;
		size_t k;

		for (k = 0; k < 10 && cases[i].argv[k] != NULL; k++)
			list[k + 1] = cases[i].argv[k];
		list[k + 1] = NULL;
		args_fill(&a, list);
		check_server_error(&a, cases[i].want, cases[i].name);
	}
}

/* A bad --client-name: "--client-name 'VALUE': reason", VALUE escaped,
 * reported where it stands, before any cross-check. */
static void
test_client_name_errors(void)
{
	static const struct {
		const char *arg, *want, *name;
	} cases[] = {
	    {"", "--client-name '': empty", "an empty name"},
	    {".", "--client-name '.': empty", "a name of only a dot"},
	    {"sha256:",
	        "--client-name 'sha256:': not 64 hex digits after "
	        "sha256:",
	        "sha256: and no digits"},
	    {"sha256:0123456789abcdef0123456789abcdef0123456789abcdef"
	     "0123456789abcdeg",
	        "--client-name 'sha256:0123456789abcdef0123456789abcdef"
	        "0123456789abcdef0123456789abcdeg': not 64 hex digits after "
	        "sha256:",
	        "a pin with a g in it, shown whole"},
	    {"Sha256:0123",
	        "--client-name 'Sha256:0123': not 64 hex digits "
	        "after sha256:",
	        "a pin too short, its prefix in mixed case"},
	    {"sha256:01:23456789abcdef0123456789abcdef0123456789abcdef"
	     "0123456789abcdef",
	        "--client-name 'sha256:01:23456789abcdef0123456789abcdef"
	        "0123456789abcdef0123456789abcdef': a colon between every "
	        "byte pair of sha256: or none",
	        "a pin with one colon"},
	    {"a.*.example",
	        "--client-name 'a.*.example': '*' only as the "
	        "first label",
	        "a '*' inside a name"},
	    {"*x.example",
	        "--client-name '*x.example': '*' only as the first "
	        "label",
	        "a '*' in a first label"},
	    {"*.", "--client-name '*.': nothing after '*.'", "'*.' alone"},
	    {"*.a..b", "--client-name '*.a..b': an empty label after '*.'",
	        "an empty label after '*.'"},
	    {"a\001b", "--client-name 'a\\x01b': a control byte",
	        "a control byte, shown escaped"},
	    {"a\177b", "--client-name 'a\\x7fb': a control byte",
	        "DEL, shown escaped"},
	};
	char err[ERRLEN], value[300];
	struct args a;
	struct opts o;
	enum opts_result rc;

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		SERVER(&a, "--client-name", cases[i].arg, );
		check_server_error(&a, cases[i].want, cases[i].name);
	}

	/* With -T, --cert, --key and --client-ca the same error, and the
	 * '=' form says the same. */
	SERVER(&a, "-T", "127.0.0.1:0", "--cert", CERT, "--key", KEY,
	    "--client-ca", CA, "--client-name", "ok.example",
	    "--client-name=*.", );
	check_server_error(&a, "--client-name '*.': nothing after '*.'",
	    "a bad --client-name=VALUE after a good one, with mutual TLS");

	/* The longest name is 255 bytes; one more is an error that shows the
	 * start of the value. */
	memset(value, 'a', 255);
	value[255] = '\0';
	SERVER(&a, "-T", "127.0.0.1:0", "--cert", CERT, "--key", KEY,
	    "--client-ca", CA, "--client-name", value, );
	rc = parse(&o, &a, err);
	ok(rc == OPTS_RUN && o.nclient_names == 1 &&
	        o.client_names[0].len == 255,
	    "--client-name of 255 bytes is accepted");
	value[255] = 'a';
	value[256] = '\0';
	SERVER(&a, "--client-name", value, );
	rc = parse(&o, &a, err);
	is_int(rc, OPTS_ERROR, "--client-name of 256 bytes fails");
	ok(strncmp(err, "--client-name 'aaaa", 19) == 0 &&
	        strlen(err) > strlen("': longer than 255 bytes") &&
	        strcmp(err + strlen(err) - strlen("': longer than 255 bytes"),
	            "': longer than 255 bytes") == 0 &&
	        strlen(err) < ERRLEN - 1,
	    "--client-name of 256 bytes: \"--client-name 'aaa...': longer "
	    "than 255 bytes\" (got \"%s\")",
	    err);
}

/* -h and -V win over the TLS cross-checks, as over every other error
 * that has not been seen yet. */
static void
test_tls_help_version(void)
{
	struct args a;
	struct opts o;
	char err[ERRLEN];

	SERVER(&a, "--cert", CERT, "-h", );
	is_int(
	    parse(&o, &a, err), OPTS_HELP, "--cert without -T, then -h: usage");
	SERVER(&a, "-T", "127.0.0.1:0", "--version", );
	is_int(parse(&o, &a, err), OPTS_VERSION,
	    "-T without --cert, then --version: the version");
	SERVER(&a, "--cert", "", "-h", );
	is_int(parse(&o, &a, err), OPTS_ERROR,
	    "an empty --cert before -h: the error");
}

/* Check one line of peerlogd's usage (len bytes at s): under 80 columns;
 * an option line ("  -t, --tcp ADDR  text", "      --name ARG  text")
 * has its text at column 26, or none (then it goes on the next line); a
 * continuation line starts at column 26; the synopsis continues under the
 * first option. Returns false and says why when it is not so. */
static bool
usage_line_ok(const char *s, size_t len, bool *synopsis)
{
	size_t indent = strspn(s, " "), i;

	if (len >= 80) {
		diag("usage line of %zu columns: %.*s", len, (int)len, s);
		return false;
	}
	if (indent == 0 || indent >= len) {
		*synopsis = *synopsis && strncmp(s, "usage:", 6) == 0;
		return true;
	}
	if (*synopsis) {
		if (s[indent] == '[' && indent == strlen("usage: peerlogd "))
			return true;
		*synopsis = false;
	}
	if (indent == 2 || indent == 6) {
		for (i = indent;
		     i + 1 < len && !(s[i] == ' ' && s[i + 1] == ' '); i++)
			;
		if (i + 1 >= len)
			return true;
		i += strspn(s + i, " ");
		if (i == 26)
			return true;
		diag("usage text at column %zu, not 26: %.*s", i, (int)len, s);
		return false;
	}
	if (indent == 26)
		return true;
	diag("usage line indented %zu, not 26: %.*s", indent, (int)len, s);
	return false;
}

/* peerlogd's usage: every line fits 80 columns and the option texts are
 * lined up. */
static void
test_usage_layout(void)
{
	const char *s = opts_usage;
	bool all = true, synopsis = true;
	size_t lines = 0;

	while (*s != '\0') {
		const char *nl = strchr(s, '\n');
		size_t len = nl != NULL ? (size_t)(nl - s) : strlen(s);

		if (!usage_line_ok(s, len, &synopsis))
			all = false;
		lines++;
		s += nl != NULL ? len + 1 : len;
	}
	ok(all && lines > 20,
	    "peerlogd's usage: under 80 columns, texts at column 26");
	ok(strlen(opts_usage) > 0 && opts_usage[strlen(opts_usage) - 1] == '\n',
	    "peerlogd's usage ends with a newline");
}

/* Parse peerlogd's arguments beside passed sockets named as names (NULL
 * for no names, a NULL passed for none at all). */
static enum opts_result
parse_passed(struct opts *o, struct args *a, struct sdenv_fds *f,
    const char *fds, const char *names, char *err)
{
	char perr[ERRLEN];

	if (fds != NULL &&
	    sdenv_fds_parse(f, "7", fds, names, 7, perr, sizeof(perr)) != 0)
		abort();
	memset(o, 0x5a, sizeof(*o));
	err[0] = '\0';
	return opts_parse_passed(
	    o, a->argc, a->argv, fds != NULL ? f : NULL, err, ERRLEN);
}

/* With sockets passed by systemd: no default listeners, and a passed tls
 * socket is a TLS listener for the TLS options' needs. */
static void
test_passed(void)
{
	struct opts o;
	struct args a;
	struct sdenv_fds f;
	char err[ERRLEN];

	SERVER(&a, );
	ok(parse_passed(&o, &a, &f, "2", NULL, err) == OPTS_RUN &&
	        o.ntcp == 0 && o.nudp == 0 && o.ntls == 0 && o.passed == &f,
	    "passed: no default listeners beside passed sockets");
	sdenv_fds_free(&f);
	ok(parse_passed(&o, &a, &f, "0", NULL, err) == OPTS_RUN &&
	        o.ntcp == 1 && o.nudp == 1,
	    "passed: LISTEN_FDS=0 leaves the defaults");
	ok(parse_passed(&o, &a, &f, NULL, NULL, err) == OPTS_RUN &&
	        o.ntcp == 1 && o.nudp == 1 && o.passed == NULL,
	    "passed: none at all leaves the defaults");
	SERVER(&a, "-t", "127.0.0.1:0", );
	ok(parse_passed(&o, &a, &f, "1", NULL, err) == OPTS_RUN &&
	        o.ntcp == 1 && o.nudp == 0,
	    "passed: a -t beside passed sockets is kept");
	sdenv_fds_free(&f);

	SERVER(&a, );
	ok(parse_passed(&o, &a, &f, "2", "tcp:tls", err) == OPTS_ERROR,
	    "passed: a tls socket without --cert and --key is an error");
	is_str(err, "passed socket 4 (tls) needs --cert and --key",
	    "passed: the tls socket's error names it");
	sdenv_fds_free(&f);
	SERVER(&a, "--cert", "c.pem", );
	ok(parse_passed(&o, &a, &f, "1", "tls", err) == OPTS_ERROR,
	    "passed: a tls socket without --key is an error");
	sdenv_fds_free(&f);
	SERVER(&a, "--cert", "c.pem", "--key", "k.pem", "--client-ca", "ca", );
	ok(parse_passed(&o, &a, &f, "1", "tls", err) == OPTS_RUN &&
	        o.ntls == 0 && strcmp(o.cert, "c.pem") == 0 &&
	        strcmp(o.client_ca, "ca") == 0,
	    "passed: a tls socket takes --cert, --key and --client-ca");
	sdenv_fds_free(&f);
	ok(parse_passed(&o, &a, &f, "1", "tcp", err) == OPTS_ERROR,
	    "passed: --cert without a tls socket or -T is an error");
	is_str(err, "--cert needs a --tls listener or a passed tls socket",
	    "passed: the error says both ways");
	sdenv_fds_free(&f);
	ok(parse_passed(&o, &a, &f, NULL, NULL, err) == OPTS_ERROR,
	    "passed: --cert without any is an error");
	is_str(err, "--cert needs a --tls listener",
	    "passed: without sockets the error is opts_parse's");
}

/* Run every option test. */
int
main(void)
{
	test_defaults();
	test_addresses();
	test_options();
	test_help_version();
	test_errors();
	test_too_many();
	test_small_err();
	test_errors_silent();
	test_reparse();
	test_usage();
	test_framing();
	test_tls_listeners();
	test_tls_too_many();
	test_client_names();
	test_handshake_timeout();
	test_tls_errors();
	test_client_name_errors();
	test_tls_help_version();
	test_usage_layout();
	test_client();
	test_client_tls();
	test_passed();
	return done_testing();
}
