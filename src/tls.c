/*
 * TLS for the listeners over OpenSSL 3 (see tls.h). Every call into
 * OpenSSL starts with an empty error queue, so what SSL_get_error and the
 * queue say afterwards is about that call alone.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "tls.h"

/* Most DNS names of a certificate looked at. */
#define TLS_MAX_DNS 64
/* What OpenSSL reads from the socket at once for a client, when it has
 * that much: a few records in one system call rather than one each. */
#define TLS_READ_BUFFER (64 * 1024)

struct tls_ctx {
	const struct opts *opts;
	SSL_CTX *ctx; /* what new connections get; open ones hold theirs */
};

/*
 * OpenSSL's reason for a failure, or fallback when it gave none: the first
 * error queued (loading a file: the cause, "no start line", before what
 * it made fail, "PEM lib"), else the last one (a handshake's alert).
 */
static void
tls_reason(char *err, size_t errlen, const char *fallback, bool first)
{
	unsigned long e = first ? ERR_peek_error() : ERR_peek_last_error();
	const char *r = e == 0                ? NULL
	                : ERR_SYSTEM_ERROR(e) ? strerror(ERR_GET_REASON(e))
	                                      : ERR_reason_error_string(e);

	if (r != NULL)
		snprintf(err, errlen, "%s", r);
	else if (e != 0)
		snprintf(err, errlen, "error:%08lX", e);
	else
		snprintf(err, errlen, "%s", fallback);
	ERR_clear_error();
}

/* A key needs no passphrase: one that asks for it is refused, never
 * prompted for (a daemon has no terminal, a reload must not block). */
static int
tls_no_passphrase(char *buf, int size, int rwflag, void *arg)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)arg;
	return 0;
}

/* A context from the files, or NULL with err set. */
static SSL_CTX *
tls_make(const struct opts *o, char *err, size_t errlen)
{
	char why[TLS_ERR_MAX];
	SSL_CTX *ctx;

	ERR_clear_error();
	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL) {
		tls_reason(why, sizeof why, "out of memory", true);
		snprintf(err, errlen, "TLS: %s", why);
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	/* Renegotiation only gives a client a way to make us work; idle
	 * clients cost the least with their buffers given back. */
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION |
	                             SSL_OP_CIPHER_SERVER_PREFERENCE |
	                             SSL_OP_NO_COMPRESSION);
	/* The chain sent is --cert's, as its file has it: not completed from
	 * the --client-ca store, whose root would go to every client. */
	SSL_CTX_set_mode(
	    ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_NO_AUTO_CHAIN);
	SSL_CTX_set_read_ahead(ctx, 1);
	SSL_CTX_set_default_read_buffer_len(ctx, TLS_READ_BUFFER);
	/* No server-side session cache (its memory grows with clients);
	 * stateless tickets still let a client resume. */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	/* One TLS 1.3 ticket, not OpenSSL's two: a client resumes with one
	 * and gets the next on the resumed connection; each costs CPU at
	 * every full handshake. */
	SSL_CTX_set_num_tickets(ctx, 1);
	SSL_CTX_set_default_passwd_cb(ctx, tls_no_passphrase);
	if (SSL_CTX_use_certificate_chain_file(ctx, o->cert) != 1) {
		tls_reason(why, sizeof why, "cannot load", true);
		snprintf(err, errlen, "--cert %s: %s", o->cert, why);
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, o->key, SSL_FILETYPE_PEM) != 1) {
		tls_reason(why, sizeof why, "cannot load", true);
		snprintf(err, errlen, "--key %s: %s", o->key, why);
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		tls_reason(why, sizeof why, "does not match", true);
		snprintf(err, errlen, "--key %s: does not match --cert %s (%s)",
		    o->key, o->cert, why);
		goto fail;
	}
	if (o->client_ca != NULL) {
		STACK_OF(X509_NAME) *names =
		    SSL_load_client_CA_file(o->client_ca);
		if (names == NULL || SSL_CTX_load_verify_locations(
		                         ctx, o->client_ca, NULL) != 1) {
			sk_X509_NAME_pop_free(names, X509_NAME_free);
			tls_reason(
			    why, sizeof why, "no certificate in it", true);
			snprintf(err, errlen, "--client-ca %s: %s",
			    o->client_ca, why);
			goto fail;
		}
		SSL_CTX_set_client_CA_list(ctx, names);
		SSL_CTX_set_verify(ctx,
		    SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

int
tls_init(struct tls_ctx **out, const struct opts *o, char *err, size_t errlen)
{
	struct tls_ctx *t = calloc(1, sizeof(*t));

	*out = NULL;
	if (t == NULL) {
		snprintf(err, errlen, "TLS: out of memory");
		return -1;
	}
	t->opts = o;
	if ((t->ctx = tls_make(o, err, errlen)) == NULL) {
		free(t);
		return -1;
	}
	*out = t;
	return 0;
}

int
tls_reload(struct tls_ctx *t, char *err, size_t errlen)
{
	SSL_CTX *ctx = tls_make(t->opts, err, errlen);

	if (ctx == NULL)
		return -1;
	/* Open connections hold a reference to the old one. */
	SSL_CTX_free(t->ctx);
	t->ctx = ctx;
	return 0;
}

void
tls_free(struct tls_ctx *t)
{
	if (t == NULL)
		return;
	SSL_CTX_free(t->ctx);
	free(t);
}

SSL *
tls_new(struct tls_ctx *t, int fd)
{
	SSL *ssl = SSL_new(t->ctx);

	if (ssl == NULL)
		return NULL;
	if (SSL_set_fd(ssl, fd) != 1) {
		SSL_free(ssl);
		return NULL;
	}
	SSL_set_accept_state(ssl);
	return ssl;
}

/* What SSL_get_error says of rc, as a step; err gets the reason of an
 * end. */
static enum tls_step
tls_outcome(SSL *ssl, int rc, char *err, size_t errlen)
{
	int e = SSL_get_error(ssl, rc);
	int saved = errno;

	switch (e) {
	case SSL_ERROR_WANT_READ:
		return TLS_WANT_READ;
	case SSL_ERROR_WANT_WRITE:
		return TLS_WANT_WRITE;
	case SSL_ERROR_ZERO_RETURN:
		snprintf(err, errlen, "closed by the client");
		return TLS_EOF;
	case SSL_ERROR_SYSCALL:
		if (ERR_peek_last_error() != 0)
			break;
		if (saved == ECONNRESET) {
			snprintf(err, errlen, "connection reset");
			return TLS_RESET;
		}
		if (saved == 0) {
			snprintf(err, errlen, "unexpected eof while reading");
			return TLS_EOF;
		}
		snprintf(err, errlen, "%s", strerror(saved));
		return TLS_FAILED;
	default:
		break;
	}
	unsigned long last = ERR_peek_last_error();
	if (ERR_GET_LIB(last) == ERR_LIB_SSL &&
	    ERR_GET_REASON(last) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
		tls_reason(err, errlen, "unexpected eof", false);
		return TLS_EOF;
	}
	tls_reason(err, errlen, "TLS error", false);
	long v = SSL_get_verify_result(ssl);
	if (v != X509_V_OK) {
		size_t n = strlen(err);
		snprintf(err + n, errlen - n, ": %s",
		    X509_verify_cert_error_string(v));
	}
	return TLS_FAILED;
}

enum tls_step
tls_handshake(SSL *ssl, char *err, size_t errlen)
{
	ERR_clear_error();
	errno = 0;
	int rc = SSL_do_handshake(ssl);

	return rc == 1 ? TLS_OK : tls_outcome(ssl, rc, err, errlen);
}

enum tls_step
tls_read(SSL *ssl, char *buf, size_t cap, size_t *got)
{
	char err[TLS_ERR_MAX];
	size_t n = 0;

	*got = 0;
	while (n < cap) {
		size_t k;
		ERR_clear_error();
		errno = 0;
		int rc = SSL_read_ex(ssl, buf + n, cap - n, &k);
		if (rc != 1) {
			*got = n;
			return tls_outcome(ssl, rc, err, sizeof err);
		}
		n += k;
	}
	*got = n;
	return TLS_OK;
}

bool
tls_pending(SSL *ssl)
{
	return SSL_has_pending(ssl) == 1;
}

void
tls_close(SSL *ssl, bool notify)
{
	if (ssl == NULL)
		return;
	if (notify) {
		/* One try, never waiting: the socket is closed next. */
		ERR_clear_error();
		SSL_shutdown(ssl);
	}
	ERR_clear_error();
	SSL_free(ssl);
}

/* The bytes of an ASN1 string in UTF-8 (allocated; *len set), or NULL. */
static unsigned char *
tls_utf8(const ASN1_STRING *a, size_t *len)
{
	unsigned char *u = NULL;
	int n = ASN1_STRING_to_UTF8(&u, a);

	if (n < 0)
		return NULL;
	*len = (size_t)n;
	return u;
}

void
tls_identify(const struct tls_ctx *t, SSL *ssl, struct tls_client *c)
{
	const struct opts *o = t->opts;
	X509 *x = SSL_get0_peer_certificate(ssl);

	memset(c, 0, sizeof(*c));
	c->version = SSL_get_version(ssl);
	c->cipher = SSL_CIPHER_get_name(SSL_get_current_cipher(ssl));
	c->permitted = o->nclient_names == 0;
	if (x == NULL)
		return;
	c->cert = true;

	struct certname_str dns[TLS_MAX_DNS], cn = {NULL, 0};
	struct certname_cert cc = {dns, 0, NULL, {0}};
	unsigned char *cn_utf8 = NULL;
	unsigned int mdlen = 0;

	X509_digest(x, EVP_sha256(), cc.fp, &mdlen);
	certname_fp_hex(cc.fp, c->fp);

	GENERAL_NAMES *gens =
	    X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	for (int i = 0; i < sk_GENERAL_NAME_num(gens) && cc.ndns < TLS_MAX_DNS;
	     i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		if (g->type != GEN_DNS)
			continue;
		dns[cc.ndns].p =
		    (const char *)ASN1_STRING_get0_data(g->d.dNSName);
		dns[cc.ndns].len = (size_t)ASN1_STRING_length(g->d.dNSName);
		cc.ndns++;
	}
	/* The last CN, the most specific one, as RFC 6125 reads it. */
	const X509_NAME *subj = X509_get_subject_name(x);
	int last = -1, at;
	while (
	    (at = X509_NAME_get_index_by_NID(subj, NID_commonName, last)) >= 0)
		last = at;
	if (last >= 0) {
		const ASN1_STRING *a =
		    X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, last));
		if ((cn_utf8 = tls_utf8(a, &cn.len)) != NULL) {
			cn.p = (const char *)cn_utf8;
			cc.cn = &cn;
		}
	}

	const struct certname_str *id = certname_identity(&cc);
	if (id != NULL) {
		c->name_len = id->len < TLS_NAME_MAX ? id->len : TLS_NAME_MAX;
		memcpy(c->name, id->p, c->name_len);
	}
	if (!c->permitted)
		c->permitted =
		    certname_permitted(o->client_names, o->nclient_names, &cc);
	OPENSSL_free(cn_utf8);
	GENERAL_NAMES_free(gens);
}
