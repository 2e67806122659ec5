/* The --redis URL: redis://HOST[:PORT][/DB] or unix:PATH. Pure. */
#ifndef PEERLOG_REDISURL_H
#define PEERLOG_REDISURL_H

#include <stdbool.h>
#include <stddef.h>

#define REDISURL_HOSTLEN 256
#define REDISURL_PATHLEN 108 /* sun_path's size */
#define REDISURL_PORT_DEFAULT 6379
#define REDISURL_DB_MAX 1000000

struct redisurl {
	bool unix_socket;
	char host[REDISURL_HOSTLEN]; /* name or address, brackets gone */
	unsigned port;
	char path[REDISURL_PATHLEN]; /* with unix_socket */
	unsigned long db;            /* SELECT db; 0 = the default */
};

/*
 * Parse s into *u. HOST is a name, an IPv4 address or an [IPv6] address;
 * PORT is 1..65535 (default 6379), DB 0..REDISURL_DB_MAX. Returns 0, or -1
 * with *why set to a static reason.
 */
int redisurl_parse(const char *s, struct redisurl *u, const char **why);

#endif
