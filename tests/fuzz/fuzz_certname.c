/*
 * libFuzzer harness of certname.c. An input is a flags byte, then fields
 * split at LF: a --client-name argument (up to its first NUL, as argv
 * would hold it), then certificate names (NUL bytes and all). References
 * written here, not like certname.c, judge it: the rule grammar checked
 * with strspn and strstr, pins decoded by sscanf; a name matched by
 * lowercasing copies of both through an alphabet table, dropping a
 * trailing dot and comparing with memcmp, a wildcard by finding the
 * certificate name's first dot. Names and pins generated from the
 * input's bytes, matching or not by construction (case flipped, trailing
 * dots, one wildcard label, a label too many, a NUL spliced in, a
 * certificate's own '*', pins in every spelling or broken in a known
 * way), must give what they were made to. Every name's cn= escape must be
 * one word that unescape_text reads back to its bytes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "certname.h"
#include "escape.h"
#include "fuzz.h"

#define UPPER "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
#define LOWER "abcdefghijklmnopqrstuvwxyz"
#define HEXSET "0123456789abcdefABCDEF"

/* Certificate names taken from an input, and generated rounds per input. */
#define MAXNAMES 6
#define NGEN 4

/* A certificate name copied to its own exactly sized allocation. */
struct name {
	char *p;
	size_t len;
};

/* The byte c in lowercase by the alphabet table, ASCII letters only. */
static unsigned char
ref_lower(unsigned char c)
{
	const char *u = c != 0 ? memchr(UPPER, c, 26) : NULL;

	return u != NULL ? (unsigned char)LOWER[u - UPPER] : c;
}

/* A lowercase copy of len bytes at p into dst, less one trailing dot;
 * returns its length. */
static size_t
ref_fold(char *dst, const char *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		dst[i] = (char)ref_lower((unsigned char)p[i]);
	if (len > 0 && dst[len - 1] == '.')
		len--;
	return len;
}

/*
 * Whether the rule text arg (a valid name rule) matches the certificate
 * name p (len bytes): no NUL in it; both folded copies equal, or the rule
 * "*.S" and the name a label (no dot, not empty) then ".S", a name with a
 * '*' only ever equal.
 */
static bool
ref_match(const char *arg, const char *p, size_t len)
{
	char *c = fuzz_alloc(len + 1);
	char r[CERTNAME_MAX];
	size_t rl = ref_fold(r, arg, strlen(arg));
	size_t cl = ref_fold(c, p, len);
	bool m = false;

	if (memchr(p, '\0', len) == NULL && cl > 0) {
		if (cl == rl && memcmp(c, r, cl) == 0)
			m = true;
		else if (rl >= 2 && r[0] == '*' && r[1] == '.' &&
		         memchr(c, '*', cl) == NULL) {
			char *dot = memchr(c, '.', cl);
			size_t label = dot != NULL ? (size_t)(dot - c) : 0;
			m = label > 0 && cl - label == rl - 1 &&
			    memcmp(dot, r + 1, rl - 1) == 0;
		}
	}
	free(c);
	return m;
}

/* The 64 digits (or 32 pairs joined by colons) at s as bytes in fp, or
 * false: checked by strspn or by position, decoded by sscanf. */
static bool
ref_pin(const char *s, unsigned char *fp)
{
	size_t len = strlen(s), step;

	if (len == CERTNAME_FP_HEX && strspn(s, HEXSET) == len)
		step = 2;
	else if (len == 3 * CERTNAME_FP_LEN - 1) {
		for (size_t i = 0; i < len; i++)
			if (i % 3 == 2 ? s[i] != ':'
			               : strchr(HEXSET, s[i]) == NULL)
				return false;
		step = 3;
	} else
		return false;
	for (size_t b = 0; b < CERTNAME_FP_LEN; b++) {
		unsigned v;
		char two[3] = {s[b * step], s[b * step + 1], '\0'};
		FUZZ_CHECK(sscanf(two, "%2x", &v) == 1 && v <= 0xff);
		fp[b] = (unsigned char)v;
	}
	return true;
}

/* Whether the name rule arg is valid: 1 to CERTNAME_MAX - 1 bytes, not a
 * lone dot, none a control byte, a '*' only as "*." before a
 * name (one trailing dot dropped) that has no empty label. */
static bool
ref_name_ok(const char *arg)
{
	size_t len = strlen(arg);

	if (len == 0 || len >= CERTNAME_MAX || strcmp(arg, ".") == 0)
		return false;
	for (const unsigned char *c = (const unsigned char *)arg; *c; c++)
		if (*c < ' ' || *c == 0x7f)
			return false;
	if (strchr(arg, '*') == NULL)
		return true;
	if (strncmp(arg, "*.", 2) != 0 || strchr(arg + 1, '*') != NULL)
		return false;
	char rest[CERTNAME_MAX];
	snprintf(rest, sizeof rest, "%s", arg + 2);
	size_t rl = strlen(rest);
	if (rl > 0 && rest[rl - 1] == '.')
		rest[--rl] = '\0';
	return rl > 0 && rest[0] != '.' && rest[rl - 1] != '.' &&
	       strstr(rest, "..") == NULL;
}

/* What a rule text is, as the reference reads it: 1 a pin (fp set), 0 a
 * name, -1 refused. */
static int
ref_rule(const char *arg, unsigned char *fp)
{
	char pre[8];

	for (size_t i = 0; i < 7; i++) {
		pre[i] = (char)ref_lower((unsigned char)arg[i]);
		if (arg[i] == '\0')
			break;
	}
	if (strnlen(arg, 7) == 7 && memcmp(pre, "sha256:", 7) == 0)
		return ref_pin(arg + 7, fp) ? 1 : -1;
	return ref_name_ok(arg) ? 0 : -1;
}

/* Parse arg with certname_rule_parse into r, with an error buffer of
 * exactly errlen bytes, and check it against the reference; returns what
 * ref_rule says. */
static int
check_parse(const char *arg, struct certname_rule *r, size_t errlen)
{
	static const struct certname_rule zero;
	unsigned char fp[CERTNAME_FP_LEN];
	char *err = fuzz_alloc(errlen);
	int want = ref_rule(arg, fp);

	memset(err, 0, errlen);
	int rc = certname_rule_parse(r, arg, err, errlen);
	FUZZ_CHECK(rc == 0 || rc == -1);
	FUZZ_CHECK((rc == 0) == (want >= 0));
	if (want == 1) {
		FUZZ_CHECK(r->pin && r->len == 0);
		FUZZ_CHECK(memcmp(r->fp, fp, CERTNAME_FP_LEN) == 0);
	} else if (want == 0) {
		FUZZ_CHECK(!r->pin && r->len == strlen(arg));
		FUZZ_CHECK(memcmp(r->name, arg, r->len + 1) == 0);
	} else {
		FUZZ_CHECK(memcmp(r, &zero, sizeof *r) == 0);
		size_t n = strnlen(err, errlen);
		FUZZ_CHECK(n < errlen);
		FUZZ_CHECK(n > 0 || errlen == 1);
		for (size_t i = 0; i < n; i++)
			FUZZ_CHECK(err[i] >= 0x20 && err[i] < 0x7f);
		/* Whole, the reason is a short phrase. */
		char whole[128];
		FUZZ_CHECK(
		    certname_rule_parse(r, arg, whole, sizeof whole) == -1);
		FUZZ_CHECK(strlen(whole) >= 5 && strlen(whole) < 80);
		FUZZ_CHECK(strncmp(whole, err, n) == 0);
	}
	free(err);
	return want;
}

/* The names a rule is judged on: the DNS names when there are any, else
 * the CN. Whether the reference matches one of them. */
static bool
ref_permits(const char *arg, const struct certname_cert *c)
{
	if (c->ndns > 0) {
		for (size_t i = 0; i < c->ndns; i++)
			if (ref_match(arg, c->dns[i].p, c->dns[i].len))
				return true;
		return false;
	}
	return c->cn != NULL && ref_match(arg, c->cn->p, c->cn->len);
}

/* The cn= escape of len bytes at p, into an exactly sized buffer: within
 * the bound, NUL-terminated, one word of no space or control (C1 in UTF-8
 * too), reading back to the bytes; the same as escape_text with each
 * space then written \x20. */
static void
check_escape(const char *p, size_t len)
{
	size_t max = ESCAPE_WORD_MAX(len);
	char *dst = fuzz_alloc(max);
	char *back = fuzz_alloc(len + 1);
	char *text = fuzz_alloc(ESCAPE_TEXT_MAX(len) + 1);

	size_t n = escape_word(dst, p, len);
	FUZZ_CHECK(n < max && dst[n] == '\0' && strlen(dst) == n);
	for (size_t i = 0; i < n; i++)
		FUZZ_CHECK((unsigned char)dst[i] > ' ' && dst[i] != 0x7f);
	FUZZ_CHECK(!fuzz_has_control(dst, n));
	size_t b = unescape_text(back, dst, n);
	FUZZ_CHECK(b == len && memcmp(back, p, len) == 0);

	size_t t = escape_text(text, p, len), o = 0;
	for (size_t i = 0; i < t; i++) {
		if (text[i] == ' ') {
			FUZZ_CHECK(
			    o + 4 <= n && memcmp(dst + o, "\\x20", 4) == 0);
			o += 4;
		} else {
			FUZZ_CHECK(o < n && dst[o] == text[i]);
			o++;
		}
	}
	FUZZ_CHECK(o == n);
	free(dst);
	free(back);
	free(text);
}

/* The fingerprint's hex against snprintf's, into an exact buffer. */
static void
check_fp_hex(const unsigned char *fp)
{
	char *out = fuzz_alloc(CERTNAME_FP_HEX + 1);
	char want[CERTNAME_FP_HEX + 1];

	for (size_t i = 0; i < CERTNAME_FP_LEN; i++)
		snprintf(want + 2 * i, 3, "%02x", fp[i]);
	certname_fp_hex(fp, out);
	FUZZ_CHECK(memcmp(out, want, CERTNAME_FP_HEX + 1) == 0);
	free(out);
}

/* The rule arg against the certificate c: certname_permitted as the
 * reference says, for a valid rule; with a pin, the fingerprint alone
 * decides. Returns what certname_permitted said. */
static bool
check_permitted(const char *arg, const struct certname_cert *c)
{
	static const char other[] = "no-such-name.invalid.";
	struct certname_rule r[2];
	int kind = check_parse(arg, &r[0], 64);

	FUZZ_CHECK(kind >= 0);
	bool got = certname_permitted(r, 1, c);
	if (kind == 1)
		FUZZ_CHECK(
		    got == (memcmp(r[0].fp, c->fp, CERTNAME_FP_LEN) == 0));
	else
		FUZZ_CHECK(got == ref_permits(arg, c));
	/* Two rules permit what either does. */
	FUZZ_CHECK(certname_rule_parse(&r[1], other, NULL, 0) == 0);
	FUZZ_CHECK(
	    certname_permitted(r, 2, c) == (got || ref_permits(other, c)));
	FUZZ_CHECK(!certname_permitted(r, 0, c));
	return got;
}

/* A random byte that may be in a name rule: letters of both cases,
 * digits, '-', '_', now and then a UTF-8 letter's two bytes. */
static size_t
gen_char(struct rng *r, char *d)
{
	static const char set[] = UPPER LOWER "0123456789-_";

	if (rng_below(r, 16) == 0) {
		d[0] = '\xc3';
		d[1] = (char)(0x80 + rng_below(r, 0x40));
		return 2;
	}
	d[0] = set[rng_below(r, sizeof set - 1)];
	return 1;
}

/* A name of 1 to 4 labels of 1 to 8 such bytes into d; returns its
 * length (below 64). */
static size_t
gen_name(struct rng *r, char *d)
{
	size_t n = 0, labels = 1 + rng_below(r, 4);

	for (size_t l = 0; l < labels; l++) {
		if (l > 0)
			d[n++] = '.';
		size_t k = 1 + rng_below(r, 8);
		for (size_t i = 0; i < k; i++)
			n += gen_char(r, d + n);
	}
	d[n] = '\0';
	return n;
}

/* A copy of the len bytes at s into d with ASCII letters' case flipped
 * at random and, maybe, one trailing dot added; returns its length. */
static size_t
gen_recase(struct rng *r, char *d, const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		const char *u = memchr(UPPER, s[i], 26);
		const char *l = memchr(LOWER, s[i], 26);
		d[i] = s[i];
		if (rng_below(r, 2) && (u != NULL || l != NULL))
			d[i] = u != NULL ? LOWER[u - UPPER] : UPPER[l - LOWER];
	}
	if (len > 0 && s[len - 1] != '.' && rng_below(r, 3) == 0)
		d[len++] = '.';
	return len;
}

/* Whether the rule arg permits a certificate whose only name is the len
 * bytes at p, as a DNS name or as a CN; both must agree with the
 * reference and with each other. */
static bool
permits_name(const char *arg, const char *p, size_t len, struct rng *r)
{
	struct certname_str s = {fuzz_dup(p, len), len};
	struct certname_cert c = {.ndns = 0};

	for (size_t i = 0; i < CERTNAME_FP_LEN; i++)
		c.fp[i] = (unsigned char)rng_next(r);
	c.dns = &s;
	c.ndns = 1;
	bool dns = check_permitted(arg, &c);
	c.dns = NULL;
	c.ndns = 0;
	c.cn = &s;
	bool cn = check_permitted(arg, &c);
	FUZZ_CHECK(dns == cn);
	check_escape(s.p, len);
	free((void *)s.p);
	return dns;
}

/* Names made to match or not: the same name in another case, a wildcard
 * over one more label, a label too many or too few, a NUL spliced in, a
 * certificate's own '*'. */
static void
check_generated_names(struct rng *r)
{
	char name[64], rule[80], cert[160];

	size_t n = gen_name(r, name);
	size_t k = gen_recase(r, rule, name, n);
	rule[k] = '\0';
	size_t m = gen_recase(r, cert, name, n);
	FUZZ_CHECK(permits_name(rule, cert, m, r));
	cert[m] = 'x';
	FUZZ_CHECK(!permits_name(rule, cert, m + 1, r));
	/* One byte short (the name never ends in a dot). */
	FUZZ_CHECK(!permits_name(rule, cert, n - 1, r));
	/* One byte 0x20 away: the same name only if it was a letter. */
	m = gen_recase(r, cert, name, n);
	size_t at = rng_below(r, (uint32_t)n);
	bool letter = memchr(UPPER LOWER, cert[at], 52) != NULL;
	cert[at] = (char)(cert[at] ^ 0x20);
	FUZZ_CHECK(permits_name(rule, cert, m, r) == letter);
	/* A NUL anywhere in the certificate's name. */
	m = gen_recase(r, cert, name, n);
	at = rng_below(r, (uint32_t)m + 1);
	memmove(cert + at + 1, cert + at, m - at);
	cert[at] = '\0';
	FUZZ_CHECK(!permits_name(rule, cert, m + 1, r));

	/* "*." and the name: one more label, no dot, not empty. */
	snprintf(rule, sizeof rule, "*.%s", name);
	size_t l = gen_name(r, cert);
	char *dot = memchr(cert, '.', l);
	if (dot != NULL)
		l = (size_t)(dot - cert); /* the first label alone */
	cert[l] = '.';
	m = l + 1 + gen_recase(r, cert + l + 1, name, n);
	FUZZ_CHECK(permits_name(rule, cert, m, r));
	FUZZ_CHECK(!permits_name(rule, cert + l, m - l, r));
	FUZZ_CHECK(!permits_name(rule, cert + l + 1, m - l - 1, r));
	/* Two labels before the suffix. */
	memmove(cert + 2, cert, m);
	cert[0] = 'q';
	cert[1] = '.';
	FUZZ_CHECK(!permits_name(rule, cert, m + 2, r));
	/* The certificate's own "*." is literal: it equals the rule only. */
	cert[0] = '*';
	cert[1] = '.';
	m = 2 + gen_recase(r, cert + 2, name, n);
	FUZZ_CHECK(permits_name(rule, cert, m, r));
	snprintf(rule, sizeof rule, "a.%s", name);
	FUZZ_CHECK(!permits_name(rule, cert, m, r));
}

/* Pins in every spelling (colons or none, each digit's case, the
 * prefix's case) parse to their bytes and permit that fingerprint only;
 * broken ones (a digit less or more, a colon out of place, a stray byte)
 * are refused. */
static void
check_generated_pins(struct rng *r)
{
	static const char *digits = "0123456789abcdef";
	unsigned char fp[CERTNAME_FP_LEN];
	char text[8 + 3 * CERTNAME_FP_LEN + 4], *d = text;
	bool colons = rng_below(r, 2);
	struct certname_rule rule;

	for (size_t i = 0; i < 7; i++)
		*d++ = rng_below(r, 4) == 0 ? "SHA256:"[i] : "sha256:"[i];
	for (size_t i = 0; i < CERTNAME_FP_LEN; i++) {
		fp[i] = (unsigned char)rng_next(r);
		if (colons && i > 0)
			*d++ = ':';
		for (int h = 0; h < 2; h++) {
			char c = digits[h == 0 ? fp[i] >> 4 : fp[i] & 15];
			const char *l = memchr(LOWER, c, 26);
			*d++ =
			    l != NULL && rng_below(r, 2) ? UPPER[l - LOWER] : c;
		}
	}
	*d = '\0';
	FUZZ_CHECK(check_parse(text, &rule, 1 + rng_below(r, 80)) == 1);
	FUZZ_CHECK(memcmp(rule.fp, fp, CERTNAME_FP_LEN) == 0);
	check_fp_hex(rule.fp);

	struct certname_cert c = {.ndns = 0};
	memcpy(c.fp, fp, sizeof fp);
	FUZZ_CHECK(check_permitted(text, &c));
	uint32_t byte = rng_below(r, CERTNAME_FP_LEN), bit = rng_below(r, 8);
	c.fp[byte] ^= (unsigned char)(1u << bit);
	FUZZ_CHECK(!check_permitted(text, &c));

	/* Broken in one known way; an insertion may come after the last. */
	size_t len = strlen(text), at = 7 + rng_below(r, (uint32_t)len - 7);
	unsigned flaw = rng_below(r, 4);
	if (flaw == 1 || flaw == 2)
		at = 7 + rng_below(r, (uint32_t)len - 7 + 1);
	switch (flaw) {
	case 0: /* a byte less */
		memmove(text + at, text + at + 1, len - at);
		break;
	case 1: /* a digit more */
		memmove(text + at + 1, text + at, len - at + 1);
		text[at] = '7';
		break;
	case 2: /* a colon more */
		memmove(text + at + 1, text + at, len - at + 1);
		text[at] = ':';
		break;
	default: /* a byte that is no digit nor colon */
		text[at] = "gG -xZ\x7f\xc3"[rng_below(r, 8)];
	}
	FUZZ_CHECK(check_parse(text, &rule, 1 + rng_below(r, 80)) == -1);
}

/* Split the input into its rule text and up to MAXNAMES names, each an
 * exact allocation; returns the count of names. */
static size_t
split(const uint8_t *data, size_t size, char **arg, struct name *names)
{
	const uint8_t *end = data + size, *p = data;
	const uint8_t *lf = memchr(p, '\n', size);
	size_t alen = (size_t)((lf != NULL ? lf : end) - p), k = 0;

	*arg = fuzz_alloc(alen + 1);
	memcpy(*arg, p, alen);
	(*arg)[alen] = '\0';
	p = lf != NULL ? lf + 1 : end;
	while (lf != NULL && k < MAXNAMES) {
		lf = memchr(p, '\n', (size_t)(end - p));
		size_t n = (size_t)((lf != NULL ? lf : end) - p);
		names[k].p = fuzz_dup(p, n);
		names[k].len = n;
		k++;
		p = lf != NULL ? lf + 1 : end;
	}
	return k;
}

/*
 * One input: byte 0 is flags (bits 0-2: how many of the names are DNS
 * names, bit 3: the last name is the CN, bit 4: the fingerprint is the
 * pin's), then the rule text and the names, split at LF.
 */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rng r = {rng_seed(data, size)};
	struct name names[MAXNAMES];
	struct certname_str strs[MAXNAMES];
	struct certname_rule rule;
	char *arg;

	if (size == 0)
		return 0;
	unsigned flags = data[0];
	size_t k = split(data + 1, size - 1, &arg, names);

	int kind = check_parse(arg, &rule, 1 + rng_below(&r, 80));
	for (size_t i = 0; i < k; i++) {
		strs[i].p = names[i].p;
		strs[i].len = names[i].len;
		check_escape(names[i].p, names[i].len);
	}
	struct certname_cert c = {.dns = strs};
	c.ndns = flags & 7;
	if (c.ndns > k)
		c.ndns = k;
	if (flags & 8 && k > c.ndns)
		c.cn = &strs[k - 1];
	for (size_t i = 0; i < CERTNAME_FP_LEN; i++)
		c.fp[i] = (unsigned char)rng_next(&r);
	if (kind == 1 && flags & 16)
		memcpy(c.fp, rule.fp, CERTNAME_FP_LEN);
	check_fp_hex(c.fp);

	const struct certname_str *id = certname_identity(&c);
	FUZZ_CHECK(id == (c.ndns > 0 ? &strs[0] : c.cn));
	if (kind >= 0) {
		bool got = check_permitted(arg, &c);
		if (kind == 1)
			FUZZ_CHECK(got == (memcmp(c.fp, rule.fp,
			                       CERTNAME_FP_LEN) == 0));
		/* Each name alone, as a DNS name and as a CN. */
		for (size_t i = 0; i < k && kind == 0; i++)
			(void)permits_name(arg, names[i].p, names[i].len, &r);
	}
	for (int i = 0; i < NGEN; i++) {
		check_generated_names(&r);
		check_generated_pins(&r);
	}
	for (size_t i = 0; i < k; i++)
		free(names[i].p);
	free(arg);
	return 0;
}
