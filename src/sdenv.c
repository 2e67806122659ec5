/* systemd's environment, parsed (see sdenv.h). */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sdenv.h"

/* A decimal number of at most max, digits only (no sign, no spaces, no
 * empty string): false when s is not one. */
static bool
sdenv_number(const char *s, unsigned long long max, unsigned long long *out)
{
	unsigned long long v = 0;

	if (s == NULL || *s == '\0')
		return false;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return false;
		unsigned d = (unsigned)(*s - '0');
		if (v > (max - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = v;
	return true;
}

/* Whether pid names the process self. */
static bool
sdenv_is_self(const char *pid, long self)
{
	unsigned long long v;

	return self > 0 && sdenv_number(pid, (unsigned long long)self, &v) &&
	       v == (unsigned long long)self;
}

/* Split f->buf at its colons into n names; -1 with err set when their
 * count or a byte is wrong. */
static int
sdenv_split(struct sdenv_fds *f, size_t n, char *err, size_t errlen)
{
	size_t count = 0;
	char *p = f->buf;

	for (;;) {
		char *end = strchr(p, ':');
		size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
		if (count == n) {
			snprintf(err, errlen,
			    "LISTEN_FDNAMES: more names than LISTEN_FDS=%zu",
			    n);
			return -1;
		}
		if (len > SDENV_NAME_MAX) {
			snprintf(err, errlen,
			    "LISTEN_FDNAMES: name %zu is longer than %d bytes",
			    count + 1, SDENV_NAME_MAX);
			return -1;
		}
		for (size_t i = 0; i < len; i++)
			if (p[i] < 0x20 || p[i] > 0x7e) {
				snprintf(err, errlen,
				    "LISTEN_FDNAMES: name %zu is not printable "
				    "ASCII",
				    count + 1);
				return -1;
			}
		f->name[count++] = p;
		if (end == NULL)
			break;
		*end = '\0';
		p = end + 1;
	}
	if (count != n) {
		snprintf(err, errlen,
		    "LISTEN_FDNAMES: %zu names for LISTEN_FDS=%zu", count, n);
		return -1;
	}
	return 0;
}

/* Parse the LISTEN_ variables (see sdenv.h). */
int
sdenv_fds_parse(struct sdenv_fds *f, const char *pid, const char *fds,
    const char *names, long self, char *err, size_t errlen)
{
	unsigned long long n;

	f->n = 0;
	f->buf = NULL;
	if (!sdenv_is_self(pid, self))
		return 0;
	if (fds == NULL) {
		snprintf(
		    err, errlen, "LISTEN_PID is set but LISTEN_FDS is not");
		return -1;
	}
	if (!sdenv_number(fds, SDENV_FDS_MAX, &n)) {
		snprintf(err, errlen,
		    "LISTEN_FDS: not a count of at most %d sockets",
		    SDENV_FDS_MAX);
		return -1;
	}
	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++)
		f->name[i] = "";
	if (names != NULL) {
		f->buf = strdup(names);
		if (f->buf == NULL) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		if (sdenv_split(f, (size_t)n, err, errlen) != 0) {
			sdenv_fds_free(f);
			return -1;
		}
	}
	f->n = (size_t)n;
	return 0;
}

/* Free the names' copy (see sdenv.h). */
void
sdenv_fds_free(struct sdenv_fds *f)
{
	free(f->buf);
	f->buf = NULL;
	f->n = 0;
}

/* The kind a name stands for (see sdenv.h). */
enum sdenv_kind
sdenv_kind(const char *name)
{
	if (strcmp(name, "tls") == 0)
		return SDENV_TLS;
	if (strcmp(name, "metrics") == 0)
		return SDENV_METRICS;
	return SDENV_OTHER;
}

/* NOTIFY_SOCKET's address (see sdenv.h). */
int
sdenv_notify_addr(
    const char *text, struct sockaddr_un *sun, socklen_t *len, const char **why)
{
	size_t n = text != NULL ? strlen(text) : 0;

	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	if (n == 0 || (text[0] != '/' && text[0] != '@')) {
		*why = "not an absolute path or an @abstract name";
		return -1;
	}
	if (n < 2 && text[0] == '@') {
		*why = "an empty abstract name";
		return -1;
	}
	/* A path needs its NUL inside sun_path; an abstract name does not
	 * (its '@' becomes the leading NUL). */
	if (n > sizeof(sun->sun_path) - (text[0] == '/' ? 1 : 0)) {
		*why = "too long for a socket address";
		return -1;
	}
	memcpy(sun->sun_path, text, n);
	if (text[0] == '@')
		sun->sun_path[0] = '\0';
	*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n +
	                   (text[0] == '/' ? 1 : 0));
	return 0;
}

/* WATCHDOG_USEC and WATCHDOG_PID (see sdenv.h). */
int
sdenv_watchdog(const char *usec, const char *pid, long self,
    unsigned long long *out, const char **why)
{
	unsigned long long v;

	if (usec == NULL)
		return 0;
	if (pid != NULL && !sdenv_is_self(pid, self))
		return 0;
	if (!sdenv_number(usec, ~0ull, &v) || v == 0) {
		*why = "not a number of microseconds above 0";
		return -1;
	}
	*out = v;
	return 1;
}
