/*
 * Client certificate identities: the name a record shows (cn=), the
 * SHA-256 fingerprint (fp=), and the --client-name rules that permit a
 * client. Pure: the TLS glue (tls.c) takes the names out of the X509 and
 * hands them here as bytes.
 */
#ifndef PEERLOG_CERTNAME_H
#define PEERLOG_CERTNAME_H

#include <stdbool.h>
#include <stddef.h>

#define CERTNAME_FP_LEN 32 /* SHA-256 */
#define CERTNAME_FP_HEX (2 * CERTNAME_FP_LEN)
#define CERTNAME_MAX 256 /* longest name a rule holds (DNS: 253) */

/* One --client-name: a name ("host.example", "*.example") or a pin. */
struct certname_rule {
	bool pin;                          /* sha256:HEX */
	unsigned char fp[CERTNAME_FP_LEN]; /* with pin */
	char name[CERTNAME_MAX];           /* without pin, NUL-terminated */
	size_t len;
};

/* A name as the certificate holds it: bytes, maybe with a NUL in them. */
struct certname_str {
	const char *p;
	size_t len;
};

/* What the glue found in a client's certificate. */
struct certname_cert {
	const struct certname_str *dns; /* DNS subjectAltNames, in order */
	size_t ndns;
	const struct certname_str *cn; /* the subject's (last) CN, or NULL */
	unsigned char fp[CERTNAME_FP_LEN];
};

/*
 * Parse one --client-name argument into r: "sha256:" and 64 hex digits
 * (either case, colons between byte pairs allowed, as `openssl x509
 * -fingerprint` prints them) is a pin; anything else a name, which may start
 * with "*." to stand for exactly one leftmost label. Returns 0, or -1 with a
 * reason in err (empty, too long, a bad pin, a misplaced '*').
 *
 * The prefix "sha256:" may be of either case too, and any argument that
 * begins with it is a pin or an error. A name is 1 to CERTNAME_MAX - 1
 * bytes, none a control byte (DEL included; a space is allowed, as a CN may
 * have one); a name of only a
 * dot is empty. A '*' may only be a whole first label "*.", followed by a
 * name without an empty label. The reason is a short phrase without the
 * argument, for the caller to prefix ("--client-name VALUE: "); on failure
 * r is zeroed.
 */
int certname_rule_parse(
    struct certname_rule *r, const char *arg, char *err, size_t errlen);

/*
 * The client's identity: its first DNS subjectAltName, or its CN when it
 * has no DNS name; NULL when it has neither.
 */
const struct certname_str *certname_identity(const struct certname_cert *c);

/*
 * Whether one of the n rules permits the certificate: a pin equal to its
 * fingerprint, or a name equal (ASCII case-insensitive, a trailing dot
 * ignored) to one of its DNS names, or to its CN when it has no DNS name.
 * A certificate name with a NUL byte in it never matches.
 * A "*.SUFFIX" rule matches a name of one more non-empty label, without a
 * dot, before ".SUFFIX"; a certificate name with a '*' in it is only
 * compared literally. With no rules (n == 0) it is false: what no
 * --client-name means is the caller's to decide.
 */
bool certname_permitted(
    const struct certname_rule *rules, size_t n, const struct certname_cert *c);

/* The fingerprint as 64 lowercase hex digits and a NUL into out. */
void certname_fp_hex(
    const unsigned char fp[CERTNAME_FP_LEN], char out[CERTNAME_FP_HEX + 1]);

#endif
