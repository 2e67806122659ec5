/* Unit tests of peerlogd's config file (opts_parse_file, opts_config_file
 * in opts.c): its syntax, its errors, and how it meets the command line. */
#include <stdio.h>
#include <stdlib.h>

#include "opts.h"
#include "tap.h"

#define ERRLEN 512
#define MAXARGS 16

/* One parse: the file's text in an exact buffer of len + 1 bytes (so that
 * AddressSanitizer sees a write past it), and its result. */
struct conf {
	char *text;
	size_t len;
	struct opts o;
	char err[ERRLEN];
	enum opts_result res;
};

/* Parse text (len bytes, NULs allowed) as the file "t.conf", then the
 * NULL-terminated arguments after "peerlogd". */
static enum opts_result
conf_parse_n(
    struct conf *c, const char *text, size_t len, const char *const *args)
{
	char *argv[MAXARGS + 2] = {"peerlogd"};
	int argc = 1;

	for (; args != NULL && *args != NULL && argc <= MAXARGS; args++)
		argv[argc++] = (char *)*args;
	argv[argc] = NULL;
	free(c->text);
	c->text = malloc(len + 1);
	if (c->text == NULL)
		abort();
	memcpy(c->text, text, len);
	c->text[len] = 'X'; /* the parser may write here, never read it */
	c->len = len;
	memset(&c->o, 0x5a, sizeof(c->o));
	c->err[0] = '\0';
	c->res = opts_parse_file(&c->o, argc, argv, NULL, "t.conf", c->text,
	    len, c->err, sizeof(c->err));
	return c->res;
}

/* Parse a NUL-terminated text with these arguments. */
#define CONF(c, text, ...)                                                     \
	conf_parse_n(                                                          \
	    c, text, strlen(text), (const char *const[]){__VA_ARGS__ NULL})

/* Whether p points into the file's text. */
static bool
in_text(const struct conf *c, const char *p)
{
	return p != NULL && p >= c->text && p <= c->text + c->len;
}

/* A file that must parse: say so, and show the error if it did not. */
static bool
conf_ok(const struct conf *c, const char *what)
{
	if (!is_int(c->res, OPTS_RUN, "%s: accepted", what)) {
		diag("error: %s", c->err);
		return false;
	}
	return true;
}

/* A file that must fail with exactly this error. */
static void
conf_err(const struct conf *c, const char *want, const char *what)
{
	is_int(c->res, OPTS_ERROR, "%s: refused", what);
	is_str(c->err, want, "%s: the error", what);
}

/* Separators: blanks, '=', blanks around '='. */
static void
test_separators(void)
{
	static const char *const forms[] = {"format json", "format\tjson",
	    "format=json", "format = json", "format  =\tjson", "format =json",
	    "format= json"};
	struct conf c = {0};

	for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
		CONF(&c, forms[i], );
		if (conf_ok(&c, forms[i]))
			is_int(c.o.format, RECORD_JSON, "'%s' sets json",
			    forms[i]);
	}
	CONF(&c, "tcp 127.0.0.1:80\nudp=[::1]:81\n", );
	if (conf_ok(&c, "two listeners")) {
		is_size(c.o.ntcp, 1, "one tcp");
		is_size(c.o.nudp, 1, "one udp, no defaults");
		is_int(c.o.tcp[0].port, 80, "tcp port");
		is_int(c.o.udp[0].port, 81, "udp port");
	}
	CONF(&c, "output = a = b\n", );
	if (conf_ok(&c, "a second '='"))
		is_str(c.o.output, "a = b", "only the first '=' separates");
	free(c.text);
}

/* Comments, blank lines, indentation, trailing blanks, CRLF, BOM. */
static void
test_layout(void)
{
	struct conf c = {0};

	CONF(&c, "# peerlogd\n\n   \n\t# indented comment\nformat json\n", );
	if (conf_ok(&c, "comments and blank lines"))
		is_int(c.o.format, RECORD_JSON, "the option after them");
	CONF(&c, "  \toutput /tmp/a  \t\n", );
	if (conf_ok(&c, "indented, trailing blanks"))
		is_str(c.o.output, "/tmp/a", "blanks around dropped");
	CONF(&c, "output /tmp/a b\n", );
	if (conf_ok(&c, "blanks inside"))
		is_str(c.o.output, "/tmp/a b", "blanks inside kept");
	CONF(&c, "output /tmp/a#b # not a comment\n", );
	if (conf_ok(&c, "'#' after the name"))
		is_str(c.o.output, "/tmp/a#b # not a comment",
		    "a '#' inside a line is part of the value");
	CONF(&c, "format json\r\noutput /tmp/x\r\n", );
	if (conf_ok(&c, "CRLF lines")) {
		is_int(c.o.format, RECORD_JSON, "CRLF: json");
		is_str(c.o.output, "/tmp/x", "CRLF: no CR in the value");
	}
	CONF(&c, "format json\r\n\r\nbogus\r\n", );
	conf_err(&c, "t.conf:3: unknown option 'bogus'",
	    "CRLF lines are counted as lines");
	CONF(&c, "output /tmp/a\rb\n", );
	if (conf_ok(&c, "a CR inside a line"))
		is_str(c.o.output, "/tmp/a\rb", "a lone CR is kept");
	CONF(&c,
	    "\xef\xbb\xbf"
	    "format json\n", );
	if (conf_ok(&c, "a byte order mark"))
		is_int(c.o.format, RECORD_JSON, "the BOM is skipped");
	CONF(&c, "\xef\xbb\xbf# comment\n", );
	conf_ok(&c, "a BOM before a comment");
	CONF(&c, "\xef\xbb\xbf", );
	conf_ok(&c, "a BOM alone");
	CONF(&c,
	    "format json\n\xef\xbb\xbf"
	    "output x\n", );
	is_int(c.res, OPTS_ERROR, "a BOM on line 2 is not skipped");
	ok(strncmp(c.err, "t.conf:2: unknown option '", 26) == 0,
	    "a BOM on line 2: unknown option (%s)", c.err);
	CONF(&c, "", );
	if (conf_ok(&c, "an empty file")) {
		is_size(c.o.ntcp, 1, "an empty file: default tcp");
		is_str(c.o.output, "-", "an empty file: standard output");
	}
	CONF(&c, "\n\n\n", );
	conf_ok(&c, "only line ends");
	CONF(&c, "output /tmp/last", );
	if (conf_ok(&c, "no LF at the end")) {
		is_str(c.o.output, "/tmp/last", "the last line's value");
		ok(c.text[c.len] == '\0', "NUL-terminated at text[len]");
	}
	CONF(&c, "output /tmp/last  ", );
	if (conf_ok(&c, "no LF, trailing blanks"))
		is_str(c.o.output, "/tmp/last", "cut before the blanks");
	CONF(&c, "\n\n\n\nformat xml\n", );
	conf_err(&c, "t.conf:5: --format: unknown format 'xml' (text or json)",
	    "line numbers count blank lines");
	free(c.text);
}

/* Quoted values: taken as they are between the quotes. */
static void
test_quotes(void)
{
	struct conf c = {0};

	CONF(&c, "output \"/tmp/a b \"\n", );
	if (conf_ok(&c, "double quotes"))
		is_str(c.o.output, "/tmp/a b ", "blanks inside quotes kept");
	CONF(&c, "output = '/tmp/#x'\n", );
	if (conf_ok(&c, "single quotes"))
		is_str(c.o.output, "/tmp/#x", "'#' inside quotes");
	CONF(&c, "output \"it's\"\n", );
	if (conf_ok(&c, "the other quote inside"))
		is_str(c.o.output, "it's", "a single quote in double ones");
	CONF(&c, "output \"/tmp/q\"   \r\n", );
	if (conf_ok(&c, "blanks and CR after the quote"))
		is_str(c.o.output, "/tmp/q", "dropped after the quote");
	CONF(&c, "output a\"b\"\n", );
	if (conf_ok(&c, "a quote inside an unquoted value"))
		is_str(c.o.output, "a\"b\"", "taken as it is");
	CONF(&c, "user \"nobody\"", );
	if (conf_ok(&c, "quoted, no LF"))
		is_str(c.o.user, "nobody", "quoted value on the last line");
	CONF(&c, "output \"/tmp/a\n", );
	conf_err(&c, "t.conf:1: unterminated quote", "no closing quote");
	CONF(&c, "output '\n", );
	conf_err(&c, "t.conf:1: unterminated quote", "a lone quote");
	CONF(&c, "output \"a\"b\"\n", );
	conf_err(&c, "t.conf:1: text after the closing quote",
	    "a second quote of the same kind");
	CONF(&c, "output \"a\" # comment\n", );
	conf_err(&c, "t.conf:1: text after the closing quote",
	    "a comment after a quoted value");
	CONF(&c, "output \"\"\n", );
	conf_err(&c, "t.conf:1: --output: empty path",
	    "an empty quoted value goes to the option");
	CONF(&c, "output \"x\nformat json\"\n", );
	conf_err(&c, "t.conf:1: unterminated quote", "quotes never span lines");
	free(c.text);
}

/* Flags and values: each option as the table says. */
static void
test_values(void)
{
	struct conf c = {0};

	CONF(&c, "reuseport\n", );
	if (conf_ok(&c, "a flag alone"))
		ok(c.o.reuseport, "reuseport set");
	CONF(&c, "  reuseport \t\n", );
	if (conf_ok(&c, "a flag with blanks"))
		ok(c.o.reuseport, "reuseport set");
	CONF(&c, "\n", );
	if (conf_ok(&c, "no flag"))
		ok(!c.o.reuseport, "reuseport unset");
	CONF(&c, "reuseport yes\n", );
	conf_err(&c, "t.conf:1: option 'reuseport' takes no value",
	    "a flag with a value");
	CONF(&c, "reuseport =\n", );
	conf_err(&c, "t.conf:1: option 'reuseport' takes no value",
	    "a flag with '='");
	CONF(&c, "output\n", );
	conf_err(&c, "t.conf:1: option 'output' needs a value",
	    "an option without its value");
	CONF(&c, "output   \n", );
	conf_err(&c, "t.conf:1: option 'output' needs a value",
	    "an option with blanks only");
	CONF(&c, "output =\n", );
	conf_err(&c, "t.conf:1: --output: empty path",
	    "'=' and nothing: the empty value goes to the option");
	CONF(&c,
	    "max-line 100\nmax-clients 7\nidle-timeout 9\nmax-per-source 2\n"
	    "framing octet\nallow 10.0.0.0/8\nproxy 127.0.0.1\n"
	    "user nobody\npidfile /run/p.pid\nmetrics 127.0.0.1:9100\n"
	    "output /var/log/p.log\nhandshake-timeout 3\n", );
	if (conf_ok(&c, "every kind of value")) {
		is_size(c.o.max_line, 100, "max-line");
		is_int((long long)c.o.max_clients, 7, "max-clients");
		is_int((long long)c.o.idle_timeout, 9, "idle-timeout");
		is_int((long long)c.o.max_per_source, 2, "max-per-source");
		is_int(c.o.framing, FRAMING_OCTET, "framing");
		is_size(c.o.nallow, 1, "allow");
		is_size(c.o.nproxy, 1, "proxy");
		is_str(c.o.user, "nobody", "user");
		is_str(c.o.pidfile, "/run/p.pid", "pidfile");
		ok(c.o.metrics_set && c.o.metrics.port == 9100, "metrics");
		is_str(c.o.output, "/var/log/p.log", "output");
		ok(c.o.output_set, "output_set");
		is_int(
		    (long long)c.o.handshake_timeout, 3, "handshake-timeout");
		ok(in_text(&c, c.o.user) && in_text(&c, c.o.pidfile) &&
		        in_text(&c, c.o.output),
		    "the strings point into the caller's text");
	}
	CONF(&c,
	    "tls 127.0.0.1:6514\ncert /c.pem\nkey /k.pem\n"
	    "client-ca /ca.pem\nclient-name host.example\n", );
	if (conf_ok(&c, "the TLS options")) {
		is_size(c.o.ntls, 1, "tls");
		is_str(c.o.cert, "/c.pem", "cert");
		is_str(c.o.key, "/k.pem", "key");
		is_str(c.o.client_ca, "/ca.pem", "client-ca");
		is_size(c.o.nclient_names, 1, "client-name");
	}
	CONF(&c,
	    "redis redis://127.0.0.1:6380/2\nredis-key k\n"
	    "redis-maxlen 1000\n", );
	if (conf_ok(&c, "the Redis options")) {
		is_str(c.o.redis_url, "redis://127.0.0.1:6380/2", "redis");
		is_int(c.o.redis.port, 6380, "redis port");
		is_str(c.o.redis_key, "k", "redis-key");
		is_int((long long)c.o.redis_maxlen, 1000, "redis-maxlen");
	}
	CONF(&c, "format text\nformat json\n", );
	if (conf_ok(&c, "an option twice in the file"))
		is_int(c.o.format, RECORD_JSON, "the later line wins");
	free(c.text);
}

/* Names the file may not hold, and bytes it may not hold. */
static void
test_bad_lines(void)
{
	struct conf c = {0};

	CONF(&c, "format json\nbogus 1\n", );
	conf_err(&c, "t.conf:2: unknown option 'bogus'", "an unknown name");
	CONF(&c, "--tcp 1234\n", );
	conf_err(&c,
	    "t.conf:1: unknown option '--tcp' (write the long name without "
	    "--)",
	    "a name with --");
	CONF(&c, "t 1234\n", );
	conf_err(
	    &c, "t.conf:1: unknown option 't'", "short letters are not names");
	CONF(&c, "TCP 1234\n", );
	conf_err(
	    &c, "t.conf:1: unknown option 'TCP'", "names are case-sensitive");
	CONF(&c, "tc 1234\n", );
	conf_err(&c, "t.conf:1: unknown option 'tc'", "no prefixes");
	CONF(&c, "= json\n", );
	conf_err(&c, "t.conf:1: a value without an option name", "no name");
	CONF(&c, "config other.conf\n", );
	conf_err(&c,
	    "t.conf:1: option 'config' cannot be used in a config file",
	    "config in the file");
	CONF(&c, "help\n", );
	conf_err(&c, "t.conf:1: option 'help' cannot be used in a config file",
	    "help in the file");
	CONF(&c, "version\n", );
	conf_err(&c,
	    "t.conf:1: option 'version' cannot be used in a config file",
	    "version in the file");
	conf_parse_n(&c, "format json\noutput /a\0b\n", 23, NULL);
	conf_err(&c, "t.conf:2: a NUL byte in the line", "a NUL byte");
	CONF(&c, "bo\033[2Jgus 1\n", );
	conf_err(&c, "t.conf:1: unknown option 'bo\\x1b[2Jgus'",
	    "a name is shown escaped");
	CONF(&c, "tcp 127.0.0.1:99999\n", );
	conf_err(&c, "t.conf:1: --tcp '127.0.0.1:99999': bad port",
	    "an address error as on the command line");
	CONF(&c, "max-line 0\n", );
	conf_err(&c, "t.conf:1: --max-line: out of range: '0' (1..16777216)",
	    "a number error as on the command line");
	free(c.text);
}

/* The command line comes after the file. */
static void
test_command_line(void)
{
	struct conf c = {0};

	CONF(&c, "format json\noutput /from/file\n", "-f", "text", "-o",
	    "/from/argv", );
	if (conf_ok(&c, "single-valued options on both")) {
		is_int(c.o.format, RECORD_TEXT, "the command line's format");
		is_str(c.o.output, "/from/argv", "the command line's output");
	}
	CONF(&c, "format json\n", "-o", "/x", );
	if (conf_ok(&c, "different options")) {
		is_int(c.o.format, RECORD_JSON, "the file's format stays");
		is_str(c.o.output, "/x", "the command line's output");
	}
	CONF(&c, "tcp 127.0.0.1:1\ntcp 127.0.0.1:2\nallow 10.0.0.0/8\n", "-t",
	    "127.0.0.1:3", "--allow", "192.168.0.0/16", );
	if (conf_ok(&c, "repeatable options on both")) {
		is_size(c.o.ntcp, 3, "three tcp listeners");
		ok(c.o.tcp[0].port == 1 && c.o.tcp[1].port == 2 &&
		        c.o.tcp[2].port == 3,
		    "the file's first, in order");
		is_size(c.o.nudp, 0, "no default udp");
		is_size(c.o.nallow, 2, "two --allow");
	}
	CONF(&c, "udp 127.0.0.1:5\n", "-t", "127.0.0.1:6", );
	if (conf_ok(&c, "a listener in each"))
		ok(c.o.ntcp == 1 && c.o.nudp == 1, "no defaults added");
	CONF(&c, "reuseport\n", "-f", "json", );
	if (conf_ok(&c, "a flag from the file"))
		ok(c.o.reuseport, "it stays set");
	CONF(&c, "format xml\n", "-f", "json", );
	conf_err(&c, "t.conf:1: --format: unknown format 'xml' (text or json)",
	    "the file's error comes first, though argv would override");
	CONF(&c, "format json\n", "-f", "xml", );
	conf_err(&c, "--format: unknown format 'xml' (text or json)",
	    "an argv error has no FILE:LINE");
	CONF(&c, "format json\n", "-c", "t.conf", );
	conf_ok(&c, "argv's -c is taken");
	CONF(&c, "format json\n", "-c", "t.conf", "--config=u.conf", );
	conf_err(
	    &c, "--config: given twice (one config file at most)", "two -c");
	CONF(&c, "format json\n", "-c", "", );
	conf_err(&c, "--config: empty path", "an empty -c");
	CONF(&c, "format json\n", "-h", );
	is_int(c.res, OPTS_HELP, "-h after a good file");
	free(c.text);
}

/* Errors found once every option is in name the line of the option. */
static void
test_cross_checks(void)
{
	struct conf c = {0};

	CONF(&c, "format json\ncert /c.pem\n", );
	conf_err(&c, "t.conf:2: --cert needs a --tls listener",
	    "cert in the file without tls");
	CONF(&c, "", "--cert", "/c.pem", );
	conf_err(&c, "--cert needs a --tls listener",
	    "cert on the command line: no FILE:LINE");
	CONF(&c, "\ntls 127.0.0.1:1\n", );
	conf_err(&c, "t.conf:2: --tls needs --cert and --key",
	    "tls without its files");
	CONF(&c, "tls 127.0.0.1:1\n", "-T", "127.0.0.1:2", );
	conf_err(&c, "--tls needs --cert and --key",
	    "the last --tls, on the command line, is named");
	CONF(&c, "tls 127.0.0.1:1\ncert /c\nkey /k\nclient-name a\n", );
	conf_err(&c, "t.conf:4: --client-name needs --client-ca",
	    "client-name without client-ca");
	CONF(&c, "redis-key k\n", );
	conf_err(&c, "t.conf:1: --redis-key needs --redis",
	    "redis-key without redis");
	CONF(&c, "redis-key k\n", "--redis-key", "j", );
	conf_err(&c, "--redis-key needs --redis",
	    "overridden on the command line: named there");
	CONF(&c, "\n\nredis-maxlen 5\n", );
	conf_err(&c, "t.conf:3: --redis-maxlen needs --redis",
	    "redis-maxlen without redis");
	CONF(&c, "tls 127.0.0.1:1\nkey /k\n", "--cert", "/c", );
	conf_ok(&c, "tls from the file, its files from both");
	free(c.text);
}

/* The file's name in errors: escaped, and an error still fits. */
static void
test_error_text(void)
{
	char text[] = "bogus\n";
	char *argv[] = {"peerlogd", NULL};
	char err[ERRLEN], small[12];
	struct opts o;

	is_int(opts_parse_file(&o, 1, argv, NULL, "/etc/a\nb.conf", text,
	           strlen(text), err, sizeof(err)),
	    OPTS_ERROR, "a name with a LF");
	is_str(err, "/etc/a\\nb.conf:1: unknown option 'bogus'",
	    "the file's name is escaped");
	memcpy(text, "bogus\n", 7);
	is_int(opts_parse_file(&o, 1, argv, NULL, "t.conf", text, strlen(text),
	           small, sizeof(small)),
	    OPTS_ERROR, "a small error buffer");
	is_str(small, "t.conf:1: u", "cut, NUL-terminated");
	memcpy(text, "bogus\n", 7);
	is_int(opts_parse_file(
	           &o, 1, argv, NULL, "t.conf", text, strlen(text), NULL, 0),
	    OPTS_ERROR, "no error buffer");
}

/* opts_config_file: which file argv names, and when none is to be read. */
static void
test_config_file(void)
{
	struct {
		const char *args[8];
		const char *want;
		const char *what;
	} cases[] = {
	    {{NULL}, NULL, "no arguments"},
	    {{"-t", "1", NULL}, NULL, "no -c"},
	    {{"-c", "a.conf", NULL}, "a.conf", "-c FILE"},
	    {{"-ca.conf", NULL}, "a.conf", "-cFILE"},
	    {{"--config", "a.conf", NULL}, "a.conf", "--config FILE"},
	    {{"--config=a.conf", NULL}, "a.conf", "--config=FILE"},
	    {{"-f", "json", "-c", "a.conf", "-o", "x", NULL}, "a.conf",
	        "among other options"},
	    {{"-c", "a.conf", "-c", "b.conf", NULL}, "a.conf",
	        "two: the first (the parse refuses the second)"},
	    {{"-c", "a.conf", "-h", NULL}, NULL, "with -h: no file to read"},
	    {{"-V", "-c", "a.conf", NULL}, NULL, "with -V"},
	    {{"-c", "a.conf", "--bogus", NULL}, NULL, "with a scanning error"},
	    {{"-c", NULL}, NULL, "-c without its FILE"},
	    {{"-c", "", NULL}, NULL, "an empty FILE: the parse says so"},
	    {{"-f", "-c", NULL}, NULL, "-c as another option's value"},
	    {{"--", "-c", "a.conf", NULL}, NULL, "after --"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *argv[10] = {"peerlogd"};
		int argc = 1;

		for (size_t k = 0; cases[i].args[k] != NULL; k++)
			argv[argc++] = (char *)cases[i].args[k];
		argv[argc] = NULL;
		is_str(opts_config_file(argc, argv), cases[i].want,
		    "opts_config_file: %s", cases[i].what);
	}
}

/* opts_parse (no file) and argv's -c: only when the caller read it. */
static void
test_no_file(void)
{
	char *argv1[] = {"peerlogd", "-c", "a.conf", NULL};
	char *argv2[] = {"peerlogd", "-c", "a.conf", "-h", NULL};
	char *argv3[] = {"peerlogd", "-c", "", "-h", NULL};
	char err[ERRLEN];
	struct opts o;

	is_int(opts_parse(&o, 3, argv1, err, sizeof(err)), OPTS_ERROR,
	    "-c and no file read");
	is_str(err, "--config: the file was not read", "says so");
	is_int(opts_parse(&o, 4, argv2, err, sizeof(err)), OPTS_HELP,
	    "-c FILE -h: usage, no file needed");
	is_int(opts_parse(&o, 4, argv3, err, sizeof(err)), OPTS_ERROR,
	    "an empty -c before -h: the error, as for other paths");
}

/* --help lists -c/--config. */
static void
test_usage(void)
{
	ok(strstr(opts_usage, "  -c, --config FILE ") != NULL,
	    "the usage lists -c, --config FILE");
}

/* Run every config file test. */
int
main(void)
{
	test_separators();
	test_layout();
	test_quotes();
	test_values();
	test_bad_lines();
	test_command_line();
	test_cross_checks();
	test_error_text();
	test_config_file();
	test_no_file();
	test_usage();
	return done_testing();
}
