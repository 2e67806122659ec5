/* Unit tests of certname.c: --client-name rules and their errors, pins in
 * every spelling, matching (case, trailing dots, one wildcard label, NUL
 * bytes, literal '*'), which name is the identity, the cn= escaping and
 * the fp= hex. */
#include <stdlib.h>

#include "certname.h"
#include "escape.h"
#include "tap.h"

/* SHA-256 of "abc" and of "", as `printf abc | openssl dgst -sha256`
 * prints them, and as bytes. */
#define ABC_HEX                                                                \
	"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define EMPTY_HEX                                                              \
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
/* SHA-256 of "peerlog" as `openssl dgst -sha256 -c` prints it. */
#define PEERLOG_COLONS                                                         \
	"e8:08:61:fa:28:d5:b1:e7:d2:46:aa:97:53:6d:17:d8:44:32:7f:57:3d:73:"   \
	"32:02:65:e1:09:03:ca:4a:25:35"

static const unsigned char abc_fp[CERTNAME_FP_LEN] = {0xba, 0x78, 0x16, 0xbf,
    0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40, 0xde, 0x5d, 0xae, 0x22, 0x23,
    0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61,
    0xf2, 0x00, 0x15, 0xad};
static const unsigned char empty_fp[CERTNAME_FP_LEN] = {0xe3, 0xb0, 0xc4, 0x42,
    0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
    0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b,
    0x78, 0x52, 0xb8, 0x55};
static const unsigned char peerlog_fp[CERTNAME_FP_LEN] = {0xe8, 0x08, 0x61,
    0xfa, 0x28, 0xd5, 0xb1, 0xe7, 0xd2, 0x46, 0xaa, 0x97, 0x53, 0x6d, 0x17,
    0xd8, 0x44, 0x32, 0x7f, 0x57, 0x3d, 0x73, 0x32, 0x02, 0x65, 0xe1, 0x09,
    0x03, 0xca, 0x4a, 0x25, 0x35};

/* A rule that must parse; aborts otherwise, since every later check of
 * the test would be meaningless. */
static struct certname_rule
rule(const char *arg)
{
	struct certname_rule r;
	char err[128];

	if (certname_rule_parse(&r, arg, err, sizeof err) != 0) {
		diag("rule %s: %s", arg, err);
		abort();
	}
	return r;
}

/* A name as the certificate holds it, NUL-terminated in the source. */
static struct certname_str
str(const char *s)
{
	return (struct certname_str){s, strlen(s)};
}

/* Whether the rule arg permits a certificate with only the DNS name (len
 * bytes at p). */
static bool
dns_permits(const char *arg, const char *p, size_t len)
{
	struct certname_rule r = rule(arg);
	struct certname_str dns = {p, len};
	struct certname_cert c = {.dns = &dns, .ndns = 1};

	return certname_permitted(&r, 1, &c);
}

/* Whether the rule arg permits a certificate with only the CN s. */
static bool
cn_permits(const char *arg, const char *s)
{
	struct certname_rule r = rule(arg);
	struct certname_str cn = str(s);
	struct certname_cert c = {.cn = &cn};

	return certname_permitted(&r, 1, &c);
}

/* Check that arg is refused with the reason want and r left zeroed. */
static void
refused(const char *arg, const char *want, const char *what)
{
	static const struct certname_rule zero;
	struct certname_rule r;
	char err[128] = "";

	memset(&r, 0x5a, sizeof r);
	is_int(certname_rule_parse(&r, arg, err, sizeof err), -1,
	    "parse: %s is refused", what);
	is_str(err, want, "parse: %s: the reason", what);
	ok(memcmp(&r, &zero, sizeof r) == 0, "parse: %s: r is zeroed", what);
}

/* Names parse as they are written, kept with their length. */
static void
test_parse_names(void)
{
	struct certname_rule r;
	char err[128] = "untouched";
	char longest[CERTNAME_MAX];

	is_int(certname_rule_parse(&r, "Host.Example", err, sizeof err), 0,
	    "parse: a name");
	ok(!r.pin, "parse: a name is not a pin");
	is_str(r.name, "Host.Example", "parse: the name is kept as written");
	is_size(r.len, 12, "parse: with its length");
	is_str(err, "untouched", "parse: success leaves err alone");

	r = rule("*.example.com");
	is_str(r.name, "*.example.com", "parse: a wildcard name");
	r = rule("*.example");
	is_str(r.name, "*.example", "parse: a wildcard over one label");
	r = rule("*.example.com.");
	is_str(r.name, "*.example.com.", "parse: a wildcard, trailing dot");
	r = rule("host.example.");
	is_size(r.len, 13, "parse: a trailing dot is kept");
	r = rule("localhost");
	is_str(r.name, "localhost", "parse: a single label");
	r = rule("caf\xc3\xa9.example");
	is_str(r.name, "caf\xc3\xa9.example", "parse: UTF-8 bytes are kept");
	r = rule("Alice Smith");
	is_str(r.name, "Alice Smith", "parse: a CN with a space");
	ok(cn_permits("Alice Smith", "alice smith"),
	    "parse: it matches that CN");
	r = rule("sha1:0011");
	ok(!r.pin, "parse: another prefix than sha256: is a name");
	r = rule("sha256");
	ok(!r.pin, "parse: sha256 without the colon is a name");

	memset(longest, 'a', sizeof longest - 1);
	longest[sizeof longest - 1] = '\0';
	r = rule(longest);
	is_size(r.len, CERTNAME_MAX - 1, "parse: %d bytes is the longest name",
	    CERTNAME_MAX - 1);
	ok(memcmp(r.name, longest, CERTNAME_MAX) == 0,
	    "parse: the longest name is kept whole, NUL-terminated");
}

/* Every reason a name is refused for. */
static void
test_parse_name_errors(void)
{
	char toolong[CERTNAME_MAX + 1];

	refused("", "empty", "an empty argument");
	refused(".", "empty", "a lone dot");
	memset(toolong, 'a', sizeof toolong - 1);
	toolong[sizeof toolong - 1] = '\0';
	refused(toolong, "longer than 255 bytes", "256 bytes");
	refused("a\tb", "a control byte", "a tab");
	refused("a\nb", "a control byte", "an LF");
	refused("ab\x1f", "a control byte", "a control byte");
	refused("a\x7f", "a control byte", "DEL");
	refused("*", "nothing after '*.'", "a lone '*'");
	refused("*.", "nothing after '*.'", "'*.' alone");
	refused("*..", "nothing after '*.'", "'*..'");
	refused("*..com", "an empty label after '*.'", "'*..com'");
	refused("*.a..com", "an empty label after '*.'", "'*.a..com'");
	refused("*.com..", "an empty label after '*.'", "'*.com..'");
	refused("a*.b", "'*' only as the first label", "'a*.b'");
	refused("*a.b", "'*' only as the first label", "'*a.b'");
	refused("**.b", "'*' only as the first label", "'**.b'");
	refused("x.*.y", "'*' only as the first label", "'x.*.y'");
	refused("*.*.y", "'*' only as the first label", "'*.*.y'");
	refused("a.b*", "'*' only as the first label", "'a.b*'");
	refused("*x", "'*' only as the first label", "'*x'");
}

/* A reason is cut to the buffer, never past it; no buffer is fine. */
static void
test_parse_error_buffer(void)
{
	struct certname_rule r;
	char err[6];

	memset(err, 'z', sizeof err);
	is_int(certname_rule_parse(&r, "a\tb", err, 4), -1,
	    "errbuf: refused with a small buffer");
	is_mem(err, 6, "a c\0zz", 6, "errbuf: the reason cut to 4 bytes");
	is_int(certname_rule_parse(&r, "a\tb", NULL, 0), -1,
	    "errbuf: refused with no buffer");
	is_int(certname_rule_parse(&r, NULL, NULL, 0), -1,
	    "errbuf: a NULL argument is refused");
}

/* Pins: plain or with colons, either case, the prefix of either case. */
static void
test_parse_pins(void)
{
	struct certname_rule r;

	r = rule("sha256:" ABC_HEX);
	ok(r.pin, "pin: sha256: and 64 lowercase hex digits");
	is_mem(r.fp, CERTNAME_FP_LEN, abc_fp, CERTNAME_FP_LEN,
	    "pin: the bytes of the digits");
	is_size(r.len, 0, "pin: no name");

	r = rule("sha256:"
	         "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B"
	         "855");
	is_mem(r.fp, CERTNAME_FP_LEN, empty_fp, CERTNAME_FP_LEN,
	    "pin: uppercase hex digits");
	r = rule("sha256:"
	         "e3B0c44298Fc1c149aFbf4c8996fb92427ae41e4649b934ca495991b7852b"
	         "855");
	is_mem(r.fp, CERTNAME_FP_LEN, empty_fp, CERTNAME_FP_LEN,
	    "pin: mixed-case hex digits");

	r = rule("sha256:" PEERLOG_COLONS);
	ok(r.pin, "pin: with a colon between every byte pair");
	is_mem(r.fp, CERTNAME_FP_LEN, peerlog_fp, CERTNAME_FP_LEN,
	    "pin: colons, the bytes");
	r = rule("sha256:E8:08:61:FA:28:D5:B1:E7:D2:46:AA:97:53:6D:17:D8:44:32:"
	         "7F:57:3D:73:32:02:65:E1:09:03:CA:4A:25:35");
	is_mem(r.fp, CERTNAME_FP_LEN, peerlog_fp, CERTNAME_FP_LEN,
	    "pin: colons and uppercase, as openssl x509 -fingerprint prints");
	r = rule("SHA256:" ABC_HEX);
	ok(r.pin, "pin: the prefix in uppercase");
	is_mem(r.fp, CERTNAME_FP_LEN, abc_fp, CERTNAME_FP_LEN,
	    "pin: uppercase prefix, the bytes");
}

/* Every way a pin is refused. */
static void
test_parse_pin_errors(void)
{
	const char *hex = "not 64 hex digits after sha256:";
	const char *colons =
	    "a colon between every byte pair of sha256: or none";
	char buf[200];

	refused("sha256:", hex, "no digits");
	refused("sha256:" ABC_HEX "0", hex, "65 digits");
	snprintf(buf, sizeof buf, "sha256:%.63s", ABC_HEX);
	refused(buf, hex, "63 digits");
	snprintf(buf, sizeof buf, "sha256:%.62sg0", ABC_HEX);
	refused(buf, hex, "a 'g' among the digits");
	snprintf(buf, sizeof buf, "sha256: %s", ABC_HEX);
	refused(buf, hex, "a space after the prefix");
	snprintf(buf, sizeof buf, "sha256:%s ", ABC_HEX);
	refused(buf, hex, "a space after the digits");
	snprintf(buf, sizeof buf, "sha256:0x%.62s", ABC_HEX);
	refused(buf, hex, "0x before the digits");
	refused("sha256:" PEERLOG_COLONS ":", colons, "a colon after the last");
	refused("sha256::" PEERLOG_COLONS, colons, "a colon before the first");
	snprintf(buf, sizeof buf, "sha256:e8:%s", ABC_HEX + 2);
	refused(buf, colons, "only the first pair with a colon");
	snprintf(buf, sizeof buf, "sha256:%s", PEERLOG_COLONS);
	buf[7 + 2] = '0'; /* e8:08 -> e8008: a colon moved into a pair */
	buf[7 + 3] = ':';
	refused(buf, colons, "a colon inside a byte pair");
	snprintf(buf, sizeof buf, "sha256:%s", PEERLOG_COLONS);
	buf[7 + 5] = '-';
	refused(buf, hex, "a dash for one colon");
	refused("sha256:" PEERLOG_COLONS ":00", hex, "33 pairs with colons");
}

/* Names match as the contract says: ASCII case, one trailing dot. */
static void
test_match_names(void)
{
	ok(dns_permits("host.example", "host.example", 12),
	    "match: the same name");
	ok(dns_permits("host.example", "HOST.Example", 12),
	    "match: ASCII case does not matter");
	ok(dns_permits("HOST.EXAMPLE", "host.example", 12),
	    "match: nor in the rule");
	ok(dns_permits("host.example.", "host.example", 12),
	    "match: a trailing dot in the rule is ignored");
	ok(dns_permits("host.example", "host.example.", 13),
	    "match: a trailing dot in the certificate is ignored");
	ok(dns_permits("host.example.", "host.example.", 13),
	    "match: trailing dots on both");
	ok(!dns_permits("host.example", "host.example..", 14),
	    "match: only one trailing dot is ignored");
	ok(!dns_permits("host.example..", "host.example", 12),
	    "match: nor two in the rule");
	ok(!dns_permits("host.example", "host.exampl", 11),
	    "match: a shorter name does not match");
	ok(!dns_permits("host.example", "host.examples", 13),
	    "match: a longer name does not match");
	ok(!dns_permits("host.example", "xhost.example", 13),
	    "match: nor one with a prefix");
	ok(!dns_permits("host.example", "", 0), "match: nor an empty name");
	ok(!dns_permits("host.example", ".", 1), "match: nor a lone dot");
	ok(dns_permits("caf\xc3\xa9.example", "CAF\xc3\xa9.example", 13),
	    "match: UTF-8 bytes match exactly, ASCII case folded");
	ok(!dns_permits("caf\xc3\xa9.example", "caf\xc3\x89.example", 13),
	    "match: no case folding beyond ASCII");
	ok(!dns_permits("@.example", "`.example", 9),
	    "match: '@' is not '`' in another case");
	ok(!dns_permits("a-b", "a\rb", 3), "match: '-' is not CR plus 0x20");
	ok(!dns_permits("[", "{", 1), "match: '[' is not '{' in another case");
}

/* "*.SUFFIX" matches exactly one non-empty leftmost label. */
static void
test_match_wildcard(void)
{
	ok(dns_permits("*.example.com", "a.example.com", 13),
	    "wildcard: one label");
	ok(dns_permits("*.example.com", "Host-1.EXAMPLE.com", 18),
	    "wildcard: one label, another case");
	ok(dns_permits("*.example.com", "a.example.com.", 14),
	    "wildcard: a trailing dot in the certificate");
	ok(dns_permits("*.example.com.", "a.example.com", 13),
	    "wildcard: a trailing dot in the rule");
	ok(!dns_permits("*.example.com", "example.com", 11),
	    "wildcard: not the suffix itself");
	ok(!dns_permits("*.example.com", "a.b.example.com", 15),
	    "wildcard: not two labels");
	ok(!dns_permits("*.example.com", ".example.com", 12),
	    "wildcard: not an empty label");
	ok(!dns_permits("*.example.com", "a..example.com", 14),
	    "wildcard: not a label and an empty one");
	ok(!dns_permits("*.example.com", "aexample.com", 12),
	    "wildcard: not a label run into the suffix");
	ok(!dns_permits("*.example.com", "a.example.co", 12),
	    "wildcard: not another suffix");
	ok(!dns_permits("*.example.com", "a.example.com.evil", 18),
	    "wildcard: not the suffix with more after it");
	ok(!dns_permits("*.example.com", "a.xexample.com", 14),
	    "wildcard: the suffix starts at a dot");
	ok(dns_permits("*.example", "host.example", 12),
	    "wildcard: over a one-label suffix");
	ok(!dns_permits("*.example", "example", 7),
	    "wildcard: one-label suffix, not itself");
}

/* A certificate's '*' is literal; a NUL byte never matches. */
static void
test_match_hostile(void)
{
	ok(!dns_permits("a.example.com", "*.example.com", 13),
	    "literal: a certificate '*.example.com' is no wildcard");
	ok(dns_permits("*.example.com", "*.example.com", 13),
	    "literal: but equals the same rule");
	ok(!dns_permits("*.example.com", "*.*.example.com", 15),
	    "literal: nor is its '*' a label for a wildcard rule");
	ok(!dns_permits("*.example.com", "a*.example.com", 14),
	    "literal: a label with a '*' is compared literally only");
	ok(!dns_permits("good.example", "good.example\0.evil", 18),
	    "nul: good.example\\0.evil is not good.example");
	ok(!dns_permits("good.example", "good.example\0", 13),
	    "nul: nor good.example and a NUL");
	ok(!dns_permits("*.example", "a.example\0", 10),
	    "nul: nor for a wildcard rule");
	ok(!dns_permits("*.example", "a\0.example", 10),
	    "nul: nor a NUL in the wildcard's label");

	struct certname_rule r = rule("good.example");
	struct certname_str cn = {"good.example\0.evil", 18};
	struct certname_cert c = {.cn = &cn};
	ok(!certname_permitted(&r, 1, &c), "nul: nor in the CN");
}

/* DNS names when there are any, the CN only when there are none. */
static void
test_match_which_names(void)
{
	struct certname_rule rules[2];
	struct certname_str dns[3] = {
	    str("one.example"), str("two.example"), str("three.example")};
	struct certname_str cn = str("cn.example");
	struct certname_cert c = {.dns = dns, .ndns = 3, .cn = &cn};

	rules[0] = rule("three.example");
	ok(certname_permitted(rules, 1, &c), "which: the last DNS name");
	rules[0] = rule("two.example");
	ok(certname_permitted(rules, 1, &c), "which: a middle DNS name");
	rules[0] = rule("cn.example");
	ok(!certname_permitted(rules, 1, &c),
	    "which: not the CN when there are DNS names");
	c.ndns = 1;
	rules[0] = rule("two.example");
	ok(!certname_permitted(rules, 1, &c), "which: only the ndns names");
	c.ndns = 0;
	rules[0] = rule("cn.example");
	ok(certname_permitted(rules, 1, &c), "which: the CN without DNS names");
	ok(cn_permits("*.example", "cn.example"),
	    "which: a wildcard on the CN");
	ok(cn_permits("cn.example.", "CN.example"), "which: the CN's case");
	rules[0] = rule("one.example");
	ok(!certname_permitted(rules, 1, &c),
	    "which: a DNS name past ndns is not looked at");
	c.cn = NULL;
	rules[0] = rule("cn.example");
	ok(!certname_permitted(rules, 1, &c),
	    "which: no names, no match by name");

	/* A DNS name that cannot match still hides the CN. */
	struct certname_str bad = {"cn.example\0", 11};
	c.dns = &bad;
	c.ndns = 1;
	c.cn = &cn;
	ok(!certname_permitted(rules, 1, &c),
	    "which: a NUL DNS name does not fall back to the CN");

	c.dns = dns;
	c.ndns = 3;
	rules[0] = rule("nope.example");
	rules[1] = rule("two.example");
	ok(certname_permitted(rules, 2, &c), "which: the second of two rules");
	ok(!certname_permitted(rules, 1, &c), "which: only the n rules");
	ok(!certname_permitted(rules, 0, &c), "which: no rules, no match");
}

/* Pins compare the fingerprint's 32 bytes, whatever the names. */
static void
test_match_pins(void)
{
	struct certname_rule rules[2];
	struct certname_str cn = str("anything");
	struct certname_cert c = {.cn = &cn};

	memcpy(c.fp, abc_fp, CERTNAME_FP_LEN);
	rules[0] = rule("sha256:" ABC_HEX);
	ok(certname_permitted(rules, 1, &c), "pin: the same fingerprint");
	for (int i = 0; i < CERTNAME_FP_LEN; i += 31) {
		c.fp[i] ^= 1;
		ok(!certname_permitted(rules, 1, &c),
		    "pin: byte %d one bit off does not match", i);
		c.fp[i] ^= 1;
	}
	c.cn = NULL;
	ok(certname_permitted(rules, 1, &c),
	    "pin: a certificate without names");
	rules[0] = rule("sha256:" EMPTY_HEX);
	rules[1] = rule("sha256:" ABC_HEX);
	ok(certname_permitted(rules, 2, &c), "pin: the second of two pins");
	rules[1] = rule("anything");
	c.cn = &cn;
	ok(certname_permitted(rules, 2, &c), "pin: a name rule beside a pin");
	memset(c.fp, 0, sizeof c.fp);
	rules[1] = rule("other");
	ok(!certname_permitted(rules, 2, &c), "pin: neither rule matches");
	rules[0] = rule("sha256:" PEERLOG_COLONS);
	memcpy(c.fp, peerlog_fp, CERTNAME_FP_LEN);
	ok(certname_permitted(rules, 1, &c), "pin: the colon spelling matches");
}

/* The identity: the first DNS name, else the CN, else none. */
static void
test_identity(void)
{
	struct certname_str dns[2] = {str("first.example"), str("second")};
	struct certname_str cn = str("cn");
	struct certname_cert c = {.dns = dns, .ndns = 2, .cn = &cn};

	ok(certname_identity(&c) == &dns[0], "identity: the first DNS name");
	c.ndns = 0;
	ok(certname_identity(&c) == &cn, "identity: the CN without DNS names");
	c.cn = NULL;
	ok(certname_identity(&c) == NULL, "identity: NULL without either");
	c.ndns = 1;
	ok(certname_identity(&c) == &dns[0], "identity: a DNS name, no CN");
}

/* Check that escape_word gives want, within its bound, and reads
 * back to the bytes. */
static void
escapes(const char *p, size_t len, const char *want, const char *what)
{
	size_t max = ESCAPE_WORD_MAX(len);
	char *dst = malloc(max + 1);
	char back[64];

	memset(dst, 'Z', max + 1);
	size_t n = escape_word(dst, p, len);
	is_str(dst, want, "escape: %s", what);
	is_size(n, strlen(want), "escape: %s: the length", what);
	ok(n < max && dst[max] == 'Z', "escape: %s: within the bound", what);
	size_t b = unescape_text(back, dst, n);
	is_mem(back, b == (size_t)-1 ? 0 : b, p, len, "escape: %s: reads back",
	    what);
	free(dst);
}

/* cn= text: one word, lossless, UTF-8 as it is. */
static void
test_escape(void)
{
	escapes("host.example", 12, "host.example", "plain ASCII");
	escapes("", 0, "", "empty");
	escapes("Peer Log Client", 15, "Peer\\x20Log\\x20Client", "spaces");
	escapes(" ", 1, "\\x20", "a lone space");
	escapes("  x ", 4, "\\x20\\x20x\\x20", "spaces at both ends");
	escapes("a\\b", 3, "a\\\\b", "a backslash");
	escapes("a\\x20", 5, "a\\\\x20", "a backslash before x20");
	escapes("a\tb\nc\rd", 7, "a\\tb\\nc\\rd", "tab, LF, CR");
	escapes(
	    "a\x01\x1b[31m\x7f", 8, "a\\x01\\x1b[31m\\x7f", "control bytes");
	escapes("good.example\0.evil", 18, "good.example\\x00.evil", "a NUL");
	escapes("caf\xc3\xa9 \xe2\x82\xac", 9, "caf\xc3\xa9\\x20\xe2\x82\xac",
	    "UTF-8 kept, the space escaped");
	escapes("\xc2\x85", 2, "\\xc2\\x85", "a C1 control in UTF-8");
	escapes("\xff\xc3", 2, "\\xff\\xc3", "invalid UTF-8");
	escapes("a=b \"q\"", 7, "a=b\\x20\"q\"", "'=' and quotes as they are");
}

/* The escape of every byte alone and of a worst case, against the bound:
 * one word, no space, no control byte. */
static void
test_escape_every_byte(void)
{
	char in[256], out[ESCAPE_WORD_MAX(256)], back[256];
	bool word = true;

	for (int i = 0; i < 256; i++)
		in[i] = (char)i;
	size_t n = escape_word(out, in, sizeof in);
	ok(n < sizeof out, "every byte: within the bound");
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)out[i] <= 0x20 || out[i] == 0x7f)
			word = false;
	ok(word, "every byte: one word, no space or control byte");
	size_t b = unescape_text(back, out, n);
	is_mem(back, b == (size_t)-1 ? 0 : b, in, sizeof in,
	    "every byte: reads back");

	memset(in, ' ', sizeof in);
	n = escape_word(out, in, sizeof in);
	is_size(n, 4 * sizeof in, "all spaces: 4 bytes each, the bound");
	is_int(out[n], '\0', "all spaces: NUL-terminated");
}

/* The fingerprint in lowercase hex: known answers from openssl. */
static void
test_fp_hex(void)
{
	char out[CERTNAME_FP_HEX + 2];
	unsigned char fp[CERTNAME_FP_LEN];

	memset(out, 'Z', sizeof out);
	certname_fp_hex(abc_fp, out);
	is_str(out, ABC_HEX, "fp: SHA-256 of abc as openssl prints it");
	is_int(out[CERTNAME_FP_HEX + 1], 'Z', "fp: nothing past the NUL");
	certname_fp_hex(empty_fp, out);
	is_str(out, EMPTY_HEX, "fp: SHA-256 of the empty string");
	memset(fp, 0, sizeof fp);
	certname_fp_hex(fp, out);
	is_str(out,
	    "0000000000000000000000000000000000000000000000000000000000000000",
	    "fp: all zero");
	memset(fp, 0xff, sizeof fp);
	fp[0] = 0x0a;
	fp[31] = 0xa0;
	certname_fp_hex(fp, out);
	is_str(out,
	    "0affffffffffffffffffffffffffffffffffffffffffffffffffffffffffffa0",
	    "fp: nibbles in order, lowercase");

	/* A pin's text, formatted back, is the digits in lowercase. */
	struct certname_rule r = rule("sha256:" PEERLOG_COLONS);
	certname_fp_hex(r.fp, out);
	is_str(out,
	    "e80861fa28d5b1e7d246aa97536d17d844327f573d73320265e10903ca4a2535",
	    "fp: a colon pin formats as the digits");
}

/* Run every certname test. */
int
main(void)
{
	test_parse_names();
	test_parse_name_errors();
	test_parse_error_buffer();
	test_parse_pins();
	test_parse_pin_errors();
	test_match_names();
	test_match_wildcard();
	test_match_hostile();
	test_match_which_names();
	test_match_pins();
	test_identity();
	test_escape();
	test_escape_every_byte();
	test_fp_hex();
	return done_testing();
}
