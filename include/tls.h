/*
 * TLS for the listeners, over OpenSSL: the context made from --cert, --key
 * and --client-ca (made again on SIGHUP), the handshake and reads of one
 * connection as non-blocking steps, and what a finished handshake tells of
 * the client. The names are matched by certname.c; the event loop is
 * peer.c's.
 */
#ifndef PEERLOG_TLS_H
#define PEERLOG_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "certname.h"
#include "opts.h"

typedef struct ssl_st SSL;
struct tls_ctx;

/* Most bytes of a name a record shows (a longer one is cut). */
#define TLS_NAME_MAX 255
/* Room for an error text. */
#define TLS_ERR_MAX 192

/*
 * Load the files o names into a new context. Returns 0, or -1 with one
 * line in err naming the file and OpenSSL's reason.
 */
int tls_init(
    struct tls_ctx **out, const struct opts *o, char *err, size_t errlen);

/*
 * Load the files again into a new context that new connections get; open
 * ones keep theirs. On failure the old context stays, and err says why.
 */
int tls_reload(struct tls_ctx *t, char *err, size_t errlen);

void tls_free(struct tls_ctx *t);

/* A server-side connection on fd, or NULL when memory ran out. */
SSL *tls_new(struct tls_ctx *t, int fd);

/* What a step of a connection needs next. */
enum tls_step {
	TLS_OK,         /* done (a handshake), or bytes read */
	TLS_WANT_READ,  /* wait until the socket is readable */
	TLS_WANT_WRITE, /* wait until the socket is writable */
	TLS_EOF,        /* the client closed (close_notify, or plain EOF) */
	TLS_RESET,      /* the client reset the connection */
	TLS_FAILED,     /* a protocol error, or another socket error */
};

/* One step of the server handshake; with TLS_FAILED (TLS_EOF, TLS_RESET
 * too) err holds OpenSSL's reason. */
enum tls_step tls_handshake(SSL *ssl, char *err, size_t errlen);

/*
 * Read up to cap decrypted bytes into buf, as many records as are there
 * without waiting: *got is how many (also when the step is not TLS_OK:
 * what came before the end or the error is still the client's).
 */
enum tls_step tls_read(SSL *ssl, char *buf, size_t cap, size_t *got);

/* Whether decrypted or undecrypted bytes wait inside ssl: the socket will
 * not say so. */
bool tls_pending(SSL *ssl);

/* Send close_notify when the connection is still sound, and free ssl. */
void tls_close(SSL *ssl, bool notify);

/* What the handshake tells of the client. */
struct tls_client {
	const char *version;     /* "TLSv1.3" */
	const char *cipher;      /* "TLS_AES_256_GCM_SHA384" */
	bool cert;               /* it presented a (verified) certificate */
	bool permitted;          /* --client-name lets it in */
	char name[TLS_NAME_MAX]; /* certname_identity's, cut; not NUL-ended */
	size_t name_len;
	char fp[CERTNAME_FP_HEX + 1];
};

/* Fill c from a connection whose handshake is done. */
void tls_identify(const struct tls_ctx *t, SSL *ssl, struct tls_client *c);

#endif
