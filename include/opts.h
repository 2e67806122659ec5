/* Command-line parsing for peerlogd and peerlog. Pure: no I/O. */
#ifndef PEERLOG_OPTS_H
#define PEERLOG_OPTS_H

#include <stdbool.h>
#include <stddef.h>

#include "addr.h"
#include "certname.h"
#include "cidr.h"
#include "record.h"
#include "redisurl.h"

struct sdenv_fds;

#define OPTS_MAX_ADDRS 64
#define OPTS_MAX_ALLOW 64
#define OPTS_MAX_NAMES 64

enum opts_result { OPTS_RUN, OPTS_HELP, OPTS_VERSION, OPTS_ERROR };

/* How TCP messages are delimited: LF lines, or RFC 6587 octet counts. */
enum framing { FRAMING_LF, FRAMING_OCTET };

struct opts {
	struct addr_spec tcp[OPTS_MAX_ADDRS];
	size_t ntcp;
	struct addr_spec udp[OPTS_MAX_ADDRS];
	size_t nudp;
	struct addr_spec tls[OPTS_MAX_ADDRS];
	size_t ntls;
	const char *cert;      /* --cert: the TLS listeners' chain, PEM */
	const char *key;       /* --key: its private key, PEM */
	const char *client_ca; /* --client-ca: mutual TLS, or NULL */
	struct certname_rule client_names[OPTS_MAX_NAMES];
	size_t nclient_names;
	unsigned long handshake_timeout; /* seconds, 0 = never */
	const char *output;              /* "-" for standard output */
	enum record_fmt format;
	enum framing framing;
	size_t max_line;
	unsigned long max_clients;
	unsigned long idle_timeout;   /* seconds, 0 = never */
	unsigned long max_per_source; /* clients from one address, 0 = any */
	struct cidr allow[OPTS_MAX_ALLOW];
	size_t nallow;
	struct cidr proxy[OPTS_MAX_ALLOW]; /* --proxy: trusted load balancers */
	size_t nproxy;
	/* Publishing to a Redis stream: with redis_url, and output_set
	 * false, records go to Redis only. */
	bool output_set; /* -o given */
	const char *redis_url;
	struct redisurl redis;
	const char *redis_key;
	unsigned long long redis_maxlen; /* 0 = never trim */
	/* Running as a service */
	bool reuseport;
	bool metrics_set;
	struct addr_spec metrics; /* --metrics ADDR */
	const char *user;         /* --user NAME, or NULL */
	const char *pidfile;      /* --pidfile PATH, or NULL */
	/* The sockets systemd passed (listen.c serves them), or NULL. */
	const struct sdenv_fds *passed;
};

/*
 * Parse peerlogd's arguments into o. With no -t, -u or -T the defaults
 * (tcp localhost:1234, udp localhost:1235) are filled in. On OPTS_ERROR, err
 * holds one line naming the option and the reason.
 */
enum opts_result opts_parse(
    struct opts *o, int argc, char **argv, char *err, size_t errlen);

/*
 * opts_parse for a server that a service manager passed sockets to (passed,
 * from sdenv_fds_parse; kept in o->passed): when there are any, no default
 * listener is filled in, and a passed tls socket is a TLS listener for the
 * TLS options (it needs --cert and --key, and they need it or a -T).
 */
enum opts_result opts_parse_passed(struct opts *o, int argc, char **argv,
    const struct sdenv_fds *passed, char *err, size_t errlen);

/* peerlogd's usage text. */
extern const char opts_usage[];

enum client_family { CLIENT_ANY, CLIENT_INET4, CLIENT_INET6 };

struct client_opts {
	bool udp;
	bool tls; /* --tls; never with udp */
	enum client_family family;
	const char *host; /* default "localhost" */
	const char
	    *port;      /* default "1234", "1235" with -u, "1236" with --tls */
	const char *ca; /* --ca FILE, or NULL: the system's CA store */
	const char *cert; /* --cert FILE and --key FILE: both or neither */
	const char *key;
};

/* Parse peerlog's arguments; like opts_parse. */
enum opts_result opts_parse_client(
    struct client_opts *o, int argc, char **argv, char *err, size_t errlen);

/* peerlog's usage text. */
extern const char opts_client_usage[];

#endif
