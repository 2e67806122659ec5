/* Unit tests of sdenv.c: systemd's LISTEN_ variables (whose they are, how
 * many sockets, their names), NOTIFY_SOCKET as an address, and the
 * watchdog's WATCHDOG_USEC and WATCHDOG_PID. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "sdenv.h"
#include "tap.h"

#define SELF 4242L

/* A parse that must succeed: how many sockets, and their names joined
 * by '|' ("" for none). */
struct fds_good {
	const char *pid, *fds, *names;
	size_t n;
	const char *joined;
	const char *name;
};

/* The names of f joined by '|', into dst (room for len). */
static void
join(const struct sdenv_fds *f, char *dst, size_t len)
{
	dst[0] = '\0';
	for (size_t i = 0; i < f->n; i++) {
		if (i > 0)
			strncat(dst, "|", len - strlen(dst) - 1);
		strncat(dst, f->name[i], len - strlen(dst) - 1);
	}
}

/* LISTEN_ variables that are accepted, for us or not. */
static void
test_fds_good(void)
{
	static const struct fds_good cases[] = {
	    {NULL, NULL, NULL, 0, "", "nothing set: nothing passed"},
	    {NULL, "2", "a:b", 0, "", "no LISTEN_PID: not for us"},
	    {"4243", "2", "a:b", 0, "", "another pid: not for us"},
	    {"42420", "1", NULL, 0, "", "a longer pid: not for us"},
	    {"424", "1", NULL, 0, "", "a prefix of our pid: not for us"},
	    {"+4242", "1", NULL, 0, "", "a signed pid is not ours"},
	    {" 4242", "1", NULL, 0, "", "a spaced pid is not ours"},
	    {"4242 ", "1", NULL, 0, "", "a pid with a trailing space is not"},
	    {"", "1", NULL, 0, "", "an empty pid is not ours"},
	    {"99999999999999999999999", "1", NULL, 0, "",
	        "an overlong pid is not ours"},
	    {"4242", "0", "x", 0, "", "LISTEN_FDS=0: nothing passed"},
	    {"4242", "1", NULL, 1, "", "one socket without names"},
	    {"4242", "3", NULL, 3, "||", "three sockets without names"},
	    {"4242", "2", "tls:metrics", 2, "tls|metrics", "two names"},
	    {"04242", "1", "x", 1, "x", "a leading zero in the pid"},
	    {"4242", "01", "x", 1, "x", "a leading zero in the count"},
	    {"4242", "1", "", 1, "", "one empty name"},
	    {"4242", "3", "::", 3, "||", "three empty names"},
	    {"4242", "2", "a:", 2, "a|", "an empty last name"},
	    {"4242", "2", ":b", 2, "|b", "an empty first name"},
	    {"4242", "1", "peerlogd.socket", 1, "peerlogd.socket",
	        "systemd's default name, the unit's"},
	    {"4242", "1", "with space ~", 1, "with space ~",
	        "spaces and tildes are printable"},
	    {"4242", "1024", NULL, 1024, NULL, "the most sockets"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct fds_good *c = &cases[i];
		struct sdenv_fds f;
		char err[128] = "", joined[512];

		memset(&f, 0x5a, sizeof(f));
		int rc = sdenv_fds_parse(
		    &f, c->pid, c->fds, c->names, SELF, err, sizeof(err));
		if (!ok(rc == 0, "fds: %s", c->name)) {
			diag("refused: %s", err);
			continue;
		}
		is_size(f.n, c->n, "fds: %s: the count", c->name);
		if (c->joined != NULL && f.n == c->n) {
			join(&f, joined, sizeof(joined));
			is_str(
			    joined, c->joined, "fds: %s: the names", c->name);
		}
		sdenv_fds_free(&f);
		ok(f.buf == NULL && f.n == 0, "fds: %s: freed empty", c->name);
	}
}

/* A name of len bytes of c, in a buffer of the caller's. */
static const char *
name_of(char *buf, size_t len, char c)
{
	memset(buf, c, len);
	buf[len] = '\0';
	return buf;
}

/* The longest name is taken whole; one byte more is refused. */
static void
test_fds_name_bounds(void)
{
	char name[SDENV_NAME_MAX + 2], err[128];
	struct sdenv_fds f;

	name_of(name, SDENV_NAME_MAX, 'n');
	ok(sdenv_fds_parse(&f, "4242", "1", name, SELF, err, sizeof(err)) ==
	            0 &&
	        f.n == 1 && strlen(f.name[0]) == SDENV_NAME_MAX,
	    "fds: a name of %d bytes is taken", SDENV_NAME_MAX);
	sdenv_fds_free(&f);
	name_of(name, SDENV_NAME_MAX + 1, 'n');
	ok(sdenv_fds_parse(&f, "4242", "1", name, SELF, err, sizeof(err)) == -1,
	    "fds: a name of %d bytes is refused", SDENV_NAME_MAX + 1);
	is_str(err, "LISTEN_FDNAMES: name 1 is longer than 255 bytes",
	    "fds: the overlong name's error");
}

/* An error: the message in full. */
struct fds_bad {
	const char *pid, *fds, *names;
	const char *err;
	const char *name;
};

/* LISTEN_ variables for us that cannot be used. */
static void
test_fds_bad(void)
{
	static const struct fds_bad cases[] = {
	    {"4242", NULL, NULL, "LISTEN_PID is set but LISTEN_FDS is not",
	        "LISTEN_FDS missing"},
	    {"4242", "", NULL,
	        "LISTEN_FDS: not a count of at most 1024 sockets",
	        "LISTEN_FDS empty"},
	    {"4242", "two", NULL,
	        "LISTEN_FDS: not a count of at most 1024 sockets",
	        "LISTEN_FDS not a number"},
	    {"4242", "-1", NULL,
	        "LISTEN_FDS: not a count of at most 1024 sockets",
	        "LISTEN_FDS negative"},
	    {"4242", " 1", NULL,
	        "LISTEN_FDS: not a count of at most 1024 sockets",
	        "LISTEN_FDS with a space"},
	    {"4242", "1025", NULL,
	        "LISTEN_FDS: not a count of at most 1024 sockets",
	        "LISTEN_FDS one too many"},
	    {"4242", "18446744073709551617", NULL,
	        "LISTEN_FDS: not a count of at most 1024 sockets",
	        "LISTEN_FDS past 64 bits"},
	    {"4242", "3", "a:b", "LISTEN_FDNAMES: 2 names for LISTEN_FDS=3",
	        "too few names"},
	    {"4242", "1", "a:b", "LISTEN_FDNAMES: more names than LISTEN_FDS=1",
	        "too many names"},
	    {"4242", "2", "a:b\n",
	        "LISTEN_FDNAMES: name 2 is not printable ASCII",
	        "a name with a LF"},
	    {"4242", "1", "caf\xc3\xa9",
	        "LISTEN_FDNAMES: name 1 is not printable ASCII",
	        "a name in UTF-8"},
	    {"4242", "1", "del\x7f",
	        "LISTEN_FDNAMES: name 1 is not printable ASCII",
	        "a name with DEL"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct fds_bad *c = &cases[i];
		struct sdenv_fds f;
		char err[128] = "";

		memset(&f, 0x5a, sizeof(f));
		int rc = sdenv_fds_parse(
		    &f, c->pid, c->fds, c->names, SELF, err, sizeof(err));
		ok(rc == -1 && f.n == 0 && f.buf == NULL, "fds: %s: refused",
		    c->name);
		is_str(err, c->err, "fds: %s: the error", c->name);
	}
}

/* An error cut to a small buffer is still a string. */
static void
test_fds_small_err(void)
{
	char err[8];
	struct sdenv_fds f;

	memset(err, 'x', sizeof(err));
	ok(sdenv_fds_parse(&f, "4242", "two", NULL, SELF, err, sizeof(err)) ==
	            -1 &&
	        memchr(err, '\0', sizeof(err)) != NULL,
	    "fds: an error fits a buffer of 8 bytes");
}

/* The names that mean something. */
static void
test_kind(void)
{
	is_int(sdenv_kind("tls"), SDENV_TLS, "kind: tls");
	is_int(sdenv_kind("metrics"), SDENV_METRICS, "kind: metrics");
	is_int(sdenv_kind(""), SDENV_OTHER, "kind: no name");
	is_int(sdenv_kind("TLS"), SDENV_OTHER, "kind: names are exact: TLS");
	is_int(sdenv_kind("tls "), SDENV_OTHER, "kind: tls with a space");
	is_int(sdenv_kind("metrics2"), SDENV_OTHER, "kind: metrics2");
	is_int(sdenv_kind("peerlogd.socket"), SDENV_OTHER,
	    "kind: the unit's name");
}

/* NOTIFY_SOCKET: paths and abstract names, and what is not one. */
static void
test_notify_addr(void)
{
	struct sockaddr_un sun;
	socklen_t len = 0;
	const char *why = NULL;
	size_t off = offsetof(struct sockaddr_un, sun_path);
	char text[sizeof(sun.sun_path) + 2];

	ok(sdenv_notify_addr("/run/systemd/notify", &sun, &len, &why) == 0 &&
	        sun.sun_family == AF_UNIX &&
	        strcmp(sun.sun_path, "/run/systemd/notify") == 0 &&
	        len == off + strlen("/run/systemd/notify") + 1,
	    "notify: a path, with its NUL in the length");
	ok(sdenv_notify_addr("@sd-notify", &sun, &len, &why) == 0 &&
	        sun.sun_path[0] == '\0' &&
	        memcmp(sun.sun_path + 1, "sd-notify", 9) == 0 &&
	        len == off + 10,
	    "notify: an abstract name, its @ the leading NUL, no NUL after");

	text[0] = '/';
	name_of(text + 1, sizeof(sun.sun_path) - 2, 'p');
	ok(sdenv_notify_addr(text, &sun, &len, &why) == 0 &&
	        len == sizeof(struct sockaddr_un),
	    "notify: a path of %zu bytes fills sun_path",
	    sizeof(sun.sun_path) - 1);
	name_of(text + 1, sizeof(sun.sun_path) - 1, 'p');
	ok(sdenv_notify_addr(text, &sun, &len, &why) == -1,
	    "notify: a path of %zu bytes is too long", sizeof(sun.sun_path));
	is_str(why, "too long for a socket address", "notify: its reason");
	text[0] = '@';
	name_of(text + 1, sizeof(sun.sun_path) - 1, 'a');
	ok(sdenv_notify_addr(text, &sun, &len, &why) == 0 &&
	        len == sizeof(struct sockaddr_un),
	    "notify: an abstract name of %zu bytes fills sun_path",
	    sizeof(sun.sun_path) - 1);
	name_of(text + 1, sizeof(sun.sun_path), 'a');
	ok(sdenv_notify_addr(text, &sun, &len, &why) == -1,
	    "notify: an abstract name of %zu bytes is too long",
	    sizeof(sun.sun_path));

	static const char *const bad[] = {
	    "", "run/notify", "./notify", "vsock:2:1", " /run/notify"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		ok(sdenv_notify_addr(bad[i], &sun, &len, &why) == -1 &&
		        why != NULL &&
		        strcmp(why,
		            "not an absolute path or an @abstract name") == 0,
		    "notify: \"%s\" is refused", bad[i]);
	}
	ok(sdenv_notify_addr(NULL, &sun, &len, &why) == -1,
	    "notify: unset is refused");
	ok(sdenv_notify_addr("@", &sun, &len, &why) == -1 &&
	        strcmp(why, "an empty abstract name") == 0,
	    "notify: a bare @ is refused");
}

/* WATCHDOG_USEC and WATCHDOG_PID. */
static void
test_watchdog(void)
{
	unsigned long long usec = 7;
	const char *why = NULL;

	ok(sdenv_watchdog(NULL, NULL, SELF, &usec, &why) == 0 && usec == 7,
	    "watchdog: unset is no watchdog");
	ok(sdenv_watchdog(NULL, "4242", SELF, &usec, &why) == 0,
	    "watchdog: a pid alone is no watchdog");
	ok(sdenv_watchdog("30000000", NULL, SELF, &usec, &why) == 1 &&
	        usec == 30000000,
	    "watchdog: usec without a pid is ours");
	ok(sdenv_watchdog("1", "4242", SELF, &usec, &why) == 1 && usec == 1,
	    "watchdog: usec with our pid is ours");
	usec = 7;
	ok(sdenv_watchdog("1000", "1", SELF, &usec, &why) == 0 && usec == 7,
	    "watchdog: another pid's is not ours");
	ok(sdenv_watchdog("1000", "x", SELF, &usec, &why) == 0,
	    "watchdog: a malformed pid is not ours");
	ok(sdenv_watchdog("18446744073709551615", NULL, SELF, &usec, &why) ==
	            1 &&
	        usec == 18446744073709551615ull,
	    "watchdog: the largest usec");
	static const char *const bad[] = {
	    "0", "", "soon", "-5", "1.5", " 10", "10 ", "18446744073709551616"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		ok(sdenv_watchdog(bad[i], NULL, SELF, &usec, &why) == -1 &&
		        why != NULL &&
		        strcmp(why, "not a number of microseconds above 0") ==
		            0,
		    "watchdog: usec \"%s\" is malformed", bad[i]);
	}
}

/* Run every sdenv test. */
int
main(void)
{
	test_fds_good();
	test_fds_name_bounds();
	test_fds_bad();
	test_fds_small_err();
	test_kind();
	test_notify_addr();
	test_watchdog();
	return done_testing();
}
