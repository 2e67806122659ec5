/* Unit tests of redisurl.c: the --redis URL forms and every refusal. */
#include <stdlib.h>

#include "redisurl.h"
#include "tap.h"

/* A URL that must parse, and what it names. */
struct good {
	const char *s;
	bool unix_socket;
	const char *host_or_path;
	unsigned port;
	unsigned long db;
};

/* Every accepted form. */
static void
test_good(void)
{
	static const struct good cases[] = {
	    {"redis://localhost", false, "localhost", 6379, 0},
	    {"redis://127.0.0.1:6380", false, "127.0.0.1", 6380, 0},
	    {"redis://127.0.0.1:6380/3", false, "127.0.0.1", 6380, 3},
	    {"redis://redis.example.com/15", false, "redis.example.com", 6379,
	        15},
	    {"redis://[::1]", false, "::1", 6379, 0},
	    {"redis://[::1]:7000/2", false, "::1", 7000, 2},
	    {"redis://h/", false, "h", 6379, 0},
	    {"redis://h:65535", false, "h", 65535, 0},
	    {"redis://h/1000000", false, "h", 6379, 1000000},
	    {"unix:/run/redis/redis.sock", true, "/run/redis/redis.sock", 6379,
	        0},
	    {"unix:relative.sock", true, "relative.sock", 6379, 0},
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const struct good *c = &cases[i];
		struct redisurl u;
		const char *why = NULL;
		if (redisurl_parse(c->s, &u, &why) != 0) {
			ok(false, "parse %s", c->s);
			diag("refused: %s", why);
			continue;
		}
		ok(u.unix_socket == c->unix_socket &&
		        strcmp(c->unix_socket ? u.path : u.host,
		            c->host_or_path) == 0 &&
		        u.port == c->port && u.db == c->db,
		    "parse %s", c->s);
	}
}

/* A URL that must be refused, and the reason. */
struct bad {
	const char *s;
	const char *why;
};

/* Every refusal says why. */
static void
test_bad(void)
{
	static char longhost[300], longpath[200];
	memset(longhost, 'a', sizeof longhost - 1);
	memcpy(longhost, "redis://", 8);
	memset(longpath, 'p', sizeof longpath - 1);
	memcpy(longpath, "unix:", 5);
	const struct bad cases[] = {
	    {"", "not redis://HOST[:PORT][/DB] or unix:PATH"},
	    {"http://h", "not redis://HOST[:PORT][/DB] or unix:PATH"},
	    {"rediss://h", "not redis://HOST[:PORT][/DB] or unix:PATH"},
	    {"redis://", "no host"},
	    {"redis://:6379", "no host"},
	    {"redis://h:0", "bad port (1..65535)"},
	    {"redis://h:65536", "bad port (1..65535)"},
	    {"redis://h:", "bad port (1..65535)"},
	    {"redis://h:x", "bad port (1..65535)"},
	    {"redis://h:-1", "bad port (1..65535)"},
	    {"redis://h/x", "bad database number"},
	    {"redis://h/1000001", "bad database number"},
	    {"redis://h/1/2", "bad database number"},
	    {"redis://[::1", "no ']' after the IPv6 address"},
	    {"redis://[]", "no host"},
	    {"redis://[::1]x", "bad character after the host"},
	    {"redis://h?x=1", "bad character after the host"},
	    {"redis://h x", "bad character after the host"},
	    {"redis://user:pw@h", "user names and passwords are not supported"},
	    {"redis://:pw@h", "user names and passwords are not supported"},
	    {"unix:", "no socket path"},
	    {longhost, "host name too long"},
	    {longpath, "socket path too long"},
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct redisurl u;
		const char *why = "";
		int rc = redisurl_parse(cases[i].s, &u, &why);
		if (!ok(rc == -1 && strcmp(why, cases[i].why) == 0,
		        "refuse '%.40s': %s", cases[i].s, cases[i].why))
			diag("got %d, '%s'", rc, why);
	}
}

int
main(void)
{
	test_good();
	test_bad();
	return done_testing();
}
