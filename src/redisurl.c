/* The --redis URL (see redisurl.h). */
#include <string.h>

#include "redisurl.h"

/* A decimal number of at most max at s (digits up to end); -1 if not. */
static long
redisurl_number(const char *s, const char *end, unsigned long max)
{
	unsigned long v = 0;

	if (s == end)
		return -1;
	for (; s < end; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (unsigned long)(*s - '0');
		if (v > max)
			return -1;
	}
	return (long)v;
}

/* Whether a host name's byte may be in it: letters, digits, - . _ */
static bool
redisurl_host_byte(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_';
}

/* Parse redis://HOST[:PORT][/DB] (the part after the scheme at s). */
static int
redisurl_tcp(const char *s, struct redisurl *u, const char **why)
{
	const char *end = s + strlen(s), *host = s, *host_end, *p;

	if (strchr(s, '@') != NULL) {
		*why = "user names and passwords are not supported";
		return -1;
	}
	if (*s == '[') {
		host = s + 1;
		host_end = strchr(host, ']');
		if (host_end == NULL) {
			*why = "no ']' after the IPv6 address";
			return -1;
		}
		for (p = host; p < host_end; p++)
			if (!(redisurl_host_byte(*p) || *p == ':' ||
			        *p == '%')) {
				*why = "bad character in the address";
				return -1;
			}
		p = host_end + 1;
	} else {
		for (p = s; p < end && redisurl_host_byte(*p); p++)
			;
		host_end = p;
	}
	if (host_end == host) {
		*why = "no host";
		return -1;
	}
	if ((size_t)(host_end - host) >= sizeof u->host) {
		*why = "host name too long";
		return -1;
	}
	memcpy(u->host, host, (size_t)(host_end - host));
	u->host[host_end - host] = '\0';
	if (*p == ':') {
		const char *q = strchr(p + 1, '/');
		long port = redisurl_number(p + 1, q != NULL ? q : end, 65535);
		if (port < 1) {
			*why = "bad port (1..65535)";
			return -1;
		}
		u->port = (unsigned)port;
		p = q != NULL ? q : end;
	}
	if (*p == '/') {
		long db = p[1] == '\0'
		              ? 0
		              : redisurl_number(p + 1, end, REDISURL_DB_MAX);
		if (db < 0) {
			*why = "bad database number";
			return -1;
		}
		u->db = (unsigned long)db;
		p = end;
	}
	if (*p != '\0') {
		*why = "bad character after the host";
		return -1;
	}
	return 0;
}

/* Parse a --redis URL (see redisurl.h). */
int
redisurl_parse(const char *s, struct redisurl *u, const char **why)
{
	static const char tcp[] = "redis://", unx[] = "unix:";

	memset(u, 0, sizeof *u);
	u->port = REDISURL_PORT_DEFAULT;
	if (strncmp(s, tcp, sizeof tcp - 1) == 0)
		return redisurl_tcp(s + sizeof tcp - 1, u, why);
	if (strncmp(s, unx, sizeof unx - 1) == 0) {
		const char *path = s + sizeof unx - 1;
		if (*path == '\0') {
			*why = "no socket path";
			return -1;
		}
		if (strlen(path) >= sizeof u->path) {
			*why = "socket path too long";
			return -1;
		}
		u->unix_socket = true;
		strcpy(u->path, path);
		return 0;
	}
	*why = "not redis://HOST[:PORT][/DB] or unix:PATH";
	return -1;
}
