/*
 * libFuzzer harness of sdenv.c. The input is systemd's variables: its first
 * byte says which of LISTEN_PID, LISTEN_FDS, LISTEN_FDNAMES, NOTIFY_SOCKET,
 * WATCHDOG_USEC and WATCHDOG_PID are set (bits 0-5) and whether LISTEN_PID
 * (bit 6) and WATCHDOG_PID (bit 7) are replaced by our own pid; the second
 * byte picks that pid; the rest, split at NULs, are the values in that
 * order. Each parser is judged by a reference that reaches its answer
 * another way: numbers as digit strings compared with their bounds as
 * strings (leading zeros stripped), the names by counting colons with
 * strchr and checking each byte against an explicit table, the socket
 * address by its length rules. Every accepted result must equal what the
 * reference builds; every refusal must be one printable line.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "sdenv.h"

#define NFIELDS 6

/* The digits of s after its leading zeros ("0" for all zeros). */
static const char *
strip_zeros(const char *s)
{
	while (s[0] == '0' && s[1] != '\0')
		s++;
	return s;
}

/* Whether s is a non-empty string of digits whose value is at most the
 * number written in max (compared as digit strings). */
static bool
digits_at_most(const char *s, const char *max)
{
	if (s == NULL || s[0] == '\0' || strspn(s, "0123456789") != strlen(s))
		return false;
	s = strip_zeros(s);
	size_t n = strlen(s), m = strlen(max);
	return n < m || (n == m && strcmp(s, max) <= 0);
}

/* Whether s names the process self: digits equal to self's, leading
 * zeros allowed. */
static bool
oracle_self(const char *s, long self)
{
	char text[32];

	snprintf(text, sizeof(text), "%ld", self);
	return self > 0 && s != NULL && s[0] != '\0' &&
	       strspn(s, "0123456789") == strlen(s) &&
	       strcmp(strip_zeros(s), text) == 0;
}

/* A byte a name may hold: 0x20 to 0x7e, by table. */
static bool
name_byte(unsigned char c)
{
	static const char ok[] = " !\"#$%&'()*+,-./0123456789;<=>?@"
	                         "ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`"
	                         "abcdefghijklmnopqrstuvwxyz{|}~";

	return c != '\0' && strchr(ok, c) != NULL;
}

/* An error text: one printable line. */
static void
check_err(const char *err)
{
	size_t n = strlen(err);

	FUZZ_CHECK(n >= 1);
	for (size_t i = 0; i < n; i++)
		FUZZ_CHECK(err[i] >= 0x20 && err[i] < 0x7f);
}

/* sdenv_fds_parse against the protocol's rules. */
static void
check_fds(const char *pid, const char *fds, const char *names, long self)
{
	struct sdenv_fds *f = fuzz_alloc(sizeof(*f));
	char err[160] = "";
	int rc = sdenv_fds_parse(f, pid, fds, names, self, err, sizeof(err));
	bool ours = oracle_self(pid, self);
	long want = -1; /* the count, or -1 for an error */

	if (!ours)
		want = 0;
	else if (digits_at_most(fds, "1024"))
		want = strtol(strip_zeros(fds), NULL, 10);
	if (want > 0 && names != NULL) {
		size_t count = 1;
		bool good = true;
		const char *p = names;
		for (const char *c; (c = strchr(p, ':')) != NULL; p = c + 1) {
			count++;
			good = good && (size_t)(c - p) <= SDENV_NAME_MAX;
		}
		good = good && strlen(p) <= SDENV_NAME_MAX;
		for (p = names; *p != '\0'; p++)
			good = good && (*p == ':' || name_byte(*p));
		if (!good || count != (size_t)want)
			want = -1;
	}
	FUZZ_CHECK(rc == (want < 0 ? -1 : 0));
	if (rc != 0) {
		check_err(err);
		FUZZ_CHECK(f->n == 0 && f->buf == NULL);
		free(f);
		return;
	}
	FUZZ_CHECK(f->n == (size_t)want);
	if (f->n > 0 && names != NULL) {
		/* The names joined again are LISTEN_FDNAMES. */
		size_t len = strlen(names);
		char *joined = fuzz_alloc(len + 1);
		size_t at = 0;
		for (size_t i = 0; i < f->n; i++) {
			size_t n = strlen(f->name[i]);
			FUZZ_CHECK(at + n + (i > 0) <= len);
			if (i > 0)
				joined[at++] = ':';
			memcpy(joined + at, f->name[i], n);
			at += n;
		}
		FUZZ_CHECK(at == len && memcmp(joined, names, len) == 0);
		free(joined);
	}
	for (size_t i = 0; names == NULL && i < f->n; i++)
		FUZZ_CHECK(f->name[i][0] == '\0');
	for (size_t i = 0; i < f->n; i++) {
		enum sdenv_kind k = sdenv_kind(f->name[i]);
		FUZZ_CHECK(
		    (k == SDENV_TLS) == (strcmp(f->name[i], "tls") == 0));
		FUZZ_CHECK((k == SDENV_METRICS) ==
		           (strcmp(f->name[i], "metrics") == 0));
	}
	sdenv_fds_free(f);
	FUZZ_CHECK(f->n == 0 && f->buf == NULL);
	free(f);
}

/* sdenv_notify_addr against the sockaddr_un rules. */
static void
check_notify(const char *text)
{
	struct sockaddr_un sun;
	socklen_t len = 0;
	const char *why = NULL;
	size_t n = text != NULL ? strlen(text) : 0;
	size_t room = sizeof(sun.sun_path);
	bool want =
	    text != NULL && ((text[0] == '/' && n <= room - 1) ||
	                        (text[0] == '@' && n >= 2 && n <= room));
	int rc = sdenv_notify_addr(text, &sun, &len, &why);

	FUZZ_CHECK(rc == (want ? 0 : -1));
	if (rc != 0) {
		check_err(why);
		return;
	}
	size_t off = offsetof(struct sockaddr_un, sun_path);
	FUZZ_CHECK(sun.sun_family == AF_UNIX);
	if (text[0] == '/') {
		FUZZ_CHECK(len == off + n + 1);
		FUZZ_CHECK(memcmp(sun.sun_path, text, n + 1) == 0);
	} else {
		FUZZ_CHECK(len == off + n);
		FUZZ_CHECK(sun.sun_path[0] == '\0');
		FUZZ_CHECK(memcmp(sun.sun_path + 1, text + 1, n - 1) == 0);
	}
}

/* sdenv_watchdog against its rules. */
static void
check_watchdog(const char *usec, const char *pid, long self)
{
	unsigned long long got = 12345;
	const char *why = NULL;
	int rc = sdenv_watchdog(usec, pid, self, &got, &why);
	int want;

	if (usec == NULL || (pid != NULL && !oracle_self(pid, self)))
		want = 0;
	else if (digits_at_most(usec, "18446744073709551615") &&
	         strcmp(strip_zeros(usec), "0") != 0)
		want = 1;
	else
		want = -1;
	FUZZ_CHECK(rc == want);
	if (rc == 1)
		FUZZ_CHECK(got == strtoull(usec, NULL, 10));
	else if (rc == 0)
		FUZZ_CHECK(got == 12345);
	else
		check_err(why);
}

/* One input: the variables, each parser judged. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const long selves[] = {1, 7, 4242, 2147483647, 4194304};
	char *field[NFIELDS] = {NULL};
	char pidtext[2][32];

	if (size < 2)
		return 0;
	uint8_t set = data[0];
	long self = selves[data[1] % 5];
	char *copy = fuzz_alloc(size - 2 + 1);
	memcpy(copy, data + 2, size - 2);
	copy[size - 2] = '\0';

	char *p = copy, *end = copy + size - 2;
	for (int i = 0; i < NFIELDS; i++) {
		char *s = p;
		if (p <= end)
			p += strlen(p) + 1;
		if (set & (1u << i))
			field[i] = s <= end ? s : end;
	}
	/* Most inputs would never name our pid: bits 6 and 7 do. */
	if (set & 0x40) {
		snprintf(pidtext[0], sizeof(pidtext[0]), "%s%ld",
		    data[1] & 0x80 ? "00" : "", self);
		field[0] = pidtext[0];
	}
	if (set & 0x80) {
		snprintf(pidtext[1], sizeof(pidtext[1]), "%ld", self);
		field[5] = pidtext[1];
	}
	check_fds(field[0], field[1], field[2], self);
	check_notify(field[3]);
	check_watchdog(field[4], field[5], self);
	/* Every field in every role, for the number and address rules. */
	for (int i = 0; i < NFIELDS; i++) {
		check_notify(field[i]);
		check_watchdog(field[i], NULL, self);
		check_fds(field[0], field[i], field[2], self);
	}
	free(copy);
	return 0;
}
