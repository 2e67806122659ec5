/* Client certificate identities: --client-name rules, matching, cn= and
 * fp= text. Pure: bytes in, bytes out. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "certname.h"
#include "escape.h"

#define PIN_PREFIX "sha256:"
#define PIN_PREFIX_LEN (sizeof(PIN_PREFIX) - 1)

static const char hexdig[] = "0123456789abcdef";

/* The reason parse_name gives for a long name says the bound. */
_Static_assert(CERTNAME_MAX == 256, "say CERTNAME_MAX - 1 in parse_name");

/* Copy a reason into err (when there is room for one) and fail. */
static int
fail(char *err, size_t errlen, const char *why)
{
	if (err != NULL && errlen > 0)
		snprintf(err, errlen, "%s", why);
	return -1;
}

/* The value of an ASCII hex digit of either case, or -1. */
static int
hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* ASCII lowercase of one byte; other bytes (UTF-8 included) as they are,
 * whatever the locale. */
static unsigned char
lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c - 'A' + 'a') : c;
}

/* Whether the n bytes at a and b are equal but for ASCII case. */
static bool
same_nocase(const char *a, const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (lower((unsigned char)a[i]) != lower((unsigned char)b[i]))
			return false;
	return true;
}

/*
 * The 64 hex digits at s, with a colon between every byte pair or none,
 * into fp. A wrong count or a stray byte is one reason, colons between
 * only some pairs (or inside one) another.
 */
static int
parse_pin(unsigned char *fp, const char *s, char *err, size_t errlen)
{
	size_t len = strlen(s), digits = 0, colons = 0;

	for (size_t i = 0; i < len; i++) {
		if (hexval((unsigned char)s[i]) >= 0)
			digits++;
		else if (s[i] == ':')
			colons++;
		else
			return fail(
			    err, errlen, "not 64 hex digits after sha256:");
	}
	if (digits != CERTNAME_FP_HEX)
		return fail(err, errlen, "not 64 hex digits after sha256:");
	/* Plain: 2 characters a byte; with colons: 3, less the last. */
	size_t step = colons == 0 ? 2 : 3;
	if (colons != 0 && colons != CERTNAME_FP_LEN - 1)
		return fail(err, errlen,
		    "a colon between every byte pair of sha256: or none");
	for (size_t b = 0; b < CERTNAME_FP_LEN; b++) {
		const char *p = s + b * step;
		int hi = hexval((unsigned char)p[0]);
		int lo = hexval((unsigned char)p[1]);
		if (hi < 0 || lo < 0 ||
		    (colons != 0 && b + 1 < CERTNAME_FP_LEN && p[2] != ':'))
			return fail(err, errlen,
			    "a colon between every byte pair of sha256: or "
			    "none");
		fp[b] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
}

/*
 * Whether the len bytes at s (a trailing dot already dropped) are a
 * domain with no empty label: what may follow a rule's "*.".
 */
static bool
labels_nonempty(const char *s, size_t len)
{
	if (len == 0 || s[0] == '.' || s[len - 1] == '.')
		return false;
	for (size_t i = 1; i < len; i++)
		if (s[i] == '.' && s[i - 1] == '.')
			return false;
	return true;
}

/* A name rule: short, no control byte (a CN may have spaces), '*' only as
 * a whole first label of a longer name. */
static int
parse_name(struct certname_rule *r, const char *arg, char *err, size_t errlen)
{
	size_t len = strnlen(arg, CERTNAME_MAX);
	size_t bare = len > 0 && arg[len - 1] == '.' ? len - 1 : len;

	if (len == 0 || bare == 0)
		return fail(err, errlen, "empty");
	if (len >= CERTNAME_MAX)
		return fail(err, errlen, "longer than 255 bytes");
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)arg[i];
		if (c < 0x20 || c == 0x7f)
			return fail(err, errlen, "a control byte");
	}
	const char *star = memchr(arg, '*', len);
	if (star != NULL) {
		if (star != arg || (len >= 2 && arg[1] != '.') ||
		    memchr(arg + 1, '*', len - 1) != NULL)
			return fail(err, errlen, "'*' only as the first label");
		if (bare <= 2)
			return fail(err, errlen, "nothing after '*.'");
		if (!labels_nonempty(arg + 2, bare - 2))
			return fail(err, errlen, "an empty label after '*.'");
	}
	memcpy(r->name, arg, len);
	r->name[len] = '\0';
	r->len = len;
	return 0;
}

/* Parse one --client-name (see certname.h). */
int
certname_rule_parse(
    struct certname_rule *r, const char *arg, char *err, size_t errlen)
{
	memset(r, 0, sizeof *r);
	if (arg == NULL)
		return fail(err, errlen, "empty");
	if (strncasecmp(arg, PIN_PREFIX, PIN_PREFIX_LEN) == 0) {
		if (parse_pin(r->fp, arg + PIN_PREFIX_LEN, err, errlen) != 0) {
			memset(r, 0, sizeof *r);
			return -1;
		}
		r->pin = true;
		return 0;
	}
	return parse_name(r, arg, err, errlen);
}

/* The identity a record shows (see certname.h). */
const struct certname_str *
certname_identity(const struct certname_cert *c)
{
	if (c->ndns > 0 && c->dns != NULL)
		return &c->dns[0];
	return c->cn;
}

/*
 * Whether a certificate's name (len bytes at p) is the rule's name: equal
 * but for ASCII case and one trailing dot on either side, or, for a rule
 * "*.SUFFIX", one non-empty label without a dot and then ".SUFFIX". A name
 * with a NUL byte never matches; one with a '*' only literally.
 */
static bool
name_matches(const struct certname_rule *r, const char *p, size_t len)
{
	size_t rlen = r->len;

	if (p == NULL || memchr(p, '\0', len) != NULL)
		return false;
	if (len > 0 && p[len - 1] == '.')
		len--;
	if (rlen > 0 && r->name[rlen - 1] == '.')
		rlen--;
	if (len == 0 || rlen == 0)
		return false;
	if (len == rlen && same_nocase(p, r->name, len))
		return true;
	if (rlen < 2 || r->name[0] != '*' || memchr(p, '*', len) != NULL)
		return false;
	/* ".SUFFIX" must be the name's tail, after its first label. */
	const char *dot = memchr(p, '.', len);
	if (dot == NULL || dot == p)
		return false;
	size_t tail = len - (size_t)(dot - p);
	return tail == rlen - 1 && same_nocase(dot, r->name + 1, tail);
}

/* Whether one rule permits the certificate (see certname.h). */
static bool
rule_permits(const struct certname_rule *r, const struct certname_cert *c)
{
	if (r->pin)
		return memcmp(r->fp, c->fp, CERTNAME_FP_LEN) == 0;
	if (c->ndns > 0 && c->dns != NULL) {
		for (size_t i = 0; i < c->ndns; i++)
			if (name_matches(r, c->dns[i].p, c->dns[i].len))
				return true;
		return false;
	}
	return c->cn != NULL && name_matches(r, c->cn->p, c->cn->len);
}

/* Whether any of the n rules permits the certificate (see certname.h). */
bool
certname_permitted(
    const struct certname_rule *rules, size_t n, const struct certname_cert *c)
{
	for (size_t i = 0; i < n; i++)
		if (rule_permits(&rules[i], c))
			return true;
	return false;
}

/* The fingerprint in lowercase hex (see certname.h). */
void
certname_fp_hex(
    const unsigned char fp[CERTNAME_FP_LEN], char out[CERTNAME_FP_HEX + 1])
{
	for (size_t i = 0; i < CERTNAME_FP_LEN; i++) {
		out[2 * i] = hexdig[fp[i] >> 4];
		out[2 * i + 1] = hexdig[fp[i] & 15];
	}
	out[CERTNAME_FP_HEX] = '\0';
}
