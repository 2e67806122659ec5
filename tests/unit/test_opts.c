/* Unit tests of opts.c: peerlogd's and peerlog's command lines. getopt
 * permutes argv, so every parse gets a fresh copy of its arguments. */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "opts.h"
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
	    "--allow", "--help", "--version"};
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
	test_client();
	test_client_tls();
	return done_testing();
}
