/* Unit tests of ts.c: RFC 3339 UTC timestamps with microseconds, and the
 * per-second cache giving the same text as a fresh computation. Expected
 * texts were checked with `date -u -d @SECONDS`. */
#include <stdlib.h>

#include "tap.h"
#include "ts.h"

/* A known second and its text (without the fraction). */
struct known {
	long long sec;
	const char *text;
	const char *name;
};

static const struct known knowns[] = {
    {0, "1970-01-01T00:00:00", "the epoch"},
    {1, "1970-01-01T00:00:01", "one second after the epoch"},
    {59, "1970-01-01T00:00:59", "the last second of the first minute"},
    {60, "1970-01-01T00:01:00", "the first minute boundary"},
    {86399, "1970-01-01T23:59:59", "the last second of the first day"},
    {86400, "1970-01-02T00:00:00", "the second day"},
    {946684799, "1999-12-31T23:59:59", "the last second of 1999"},
    {946684800, "2000-01-01T00:00:00", "the first second of 2000"},
    {951782400, "2000-02-29T00:00:00", "leap day 2000 (divisible by 400)"},
    {1000000000, "2001-09-09T01:46:40", "one billion seconds"},
    {1709164799, "2024-02-28T23:59:59", "the day before leap day 2024"},
    {1709164800, "2024-02-29T00:00:00", "leap day 2024"},
    {1709251199, "2024-02-29T23:59:59", "the end of leap day 2024"},
    {1709251200, "2024-03-01T00:00:00", "the day after leap day 2024"},
    {1795100000, "2026-11-19T14:53:20", "1795100000"},
    {1795626186, "2026-11-25T17:03:06", "the SPEC's example second"},
    {1798761599, "2026-12-31T23:59:59", "the last second of 2026"},
    {1798761600, "2027-01-01T00:00:00", "the first second of 2027"},
    {2147483647, "2038-01-19T03:14:07", "the largest 32-bit time_t"},
    {2147483648, "2038-01-19T03:14:08", "one second past 32-bit time_t"},
    {4102444800, "2100-01-01T00:00:00", "the first second of 2100"},
    {4107542399, "2100-02-28T23:59:59", "the end of February 2100"},
    {4107542400, "2100-03-01T00:00:00",
        "March 1st 2100 (2100 is not a leap year)"},
    {253402300799, "9999-12-31T23:59:59", "the last second of year 9999"},
};

/* The expected text of (sec, usec) from a known second's text. */
static void
expected(char *dst, const char *second, long usec)
{
	snprintf(dst, TS_LEN + 1, "%s.%06ldZ", second, usec);
}

/* Known seconds, each in a fresh cache. */
static void
test_known_seconds(void)
{
	size_t i;

	for (i = 0; i < sizeof(knowns) / sizeof(knowns[0]); i++) {
		struct ts_cache c;
		char exp[TS_LEN + 1];

		if (sizeof(time_t) < 8 && knowns[i].sec > 2147483647LL) {
			ok(true, "# SKIP 32-bit time_t: %s", knowns[i].name);
			continue;
		}
		ts_init(&c);
		expected(exp, knowns[i].text, 0);
		is_str(ts_format(&c, (time_t)knowns[i].sec, 0), exp, "%s",
		    knowns[i].name);
	}
}

/* Microseconds are six digits, zero padded. */
static void
test_microseconds(void)
{
	static const long usecs[] = {
	    0, 1, 5, 10, 999, 1000, 123456, 500000, 999999};
	size_t i;

	for (i = 0; i < sizeof(usecs) / sizeof(usecs[0]); i++) {
		struct ts_cache c;
		char exp[TS_LEN + 1];

		ts_init(&c);
		expected(exp, "2026-11-25T17:03:06", usecs[i]);
		is_str(ts_format(&c, 1795626186, usecs[i]), exp,
		    "microseconds %ld are six zero-padded digits", usecs[i]);
	}
}

/* The text is TS_LEN bytes and NUL-terminated. */
static void
test_length(void)
{
	struct ts_cache c;

	ts_init(&c);
	is_size(strlen(ts_format(&c, 1795626186, 123456)), TS_LEN,
	    "the text is TS_LEN bytes long");
	ts_init(&c);
	is_size(strlen(ts_format(&c, 253402300799, 999999)), TS_LEN,
	    "a year-9999 text is TS_LEN bytes long too");
}

/* ts_init leaves nothing that a first call could mistake for a hit. */
static void
test_init(void)
{
	struct ts_cache c;

	memset(&c, 0, sizeof(c));
	ts_init(&c);
	is_int((long long)c.sec, -1, "ts_init marks the cache empty (sec -1)");
	is_str(ts_format(&c, 0, 7), "1970-01-01T00:00:00.000007Z",
	    "a first call at second 0 after ts_init is computed in full");
	is_int((long long)c.sec, 0, "the cache holds the second it formatted");
}

/* Within a second only the microseconds change; across seconds, days,
 * months and years the whole text is recomputed. */
static void
test_cache_sequence(void)
{
	static const struct {
		long long sec;
		long usec;
		const char *exp;
		const char *name;
	} steps[] = {
	    {1709164799, 1, "2024-02-28T23:59:59.000001Z",
	        "sequence: first call"},
	    {1709164799, 999999, "2024-02-28T23:59:59.999999Z",
	        "sequence: same second, other microseconds"},
	    {1709164799, 0, "2024-02-28T23:59:59.000000Z",
	        "sequence: same second, microseconds back to 0"},
	    {1709164800, 0, "2024-02-29T00:00:00.000000Z",
	        "sequence: next second is leap day 2024"},
	    {1709164800, 42, "2024-02-29T00:00:00.000042Z",
	        "sequence: same second on leap day"},
	    {1709251199, 999999, "2024-02-29T23:59:59.999999Z",
	        "sequence: last second of leap day"},
	    {1709251200, 3, "2024-03-01T00:00:00.000003Z",
	        "sequence: into March"},
	    {1709164799, 5, "2024-02-28T23:59:59.000005Z",
	        "sequence: the clock stepped back a day"},
	    {1798761599, 999999, "2026-12-31T23:59:59.999999Z",
	        "sequence: jump to the last second of 2026"},
	    {1798761600, 0, "2027-01-01T00:00:00.000000Z",
	        "sequence: into 2027"},
	    {2147483647, 1, "2038-01-19T03:14:07.000001Z",
	        "sequence: the largest 32-bit second"},
	    {2147483648, 2, "2038-01-19T03:14:08.000002Z",
	        "sequence: past 2038-01-19T03:14:07"},
	    {2147483648, 3, "2038-01-19T03:14:08.000003Z",
	        "sequence: same second after 2038"},
	};
	struct ts_cache c;
	size_t i;

	ts_init(&c);
	for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		if (sizeof(time_t) < 8 && steps[i].sec > 2147483647LL) {
			ok(true, "# SKIP 32-bit time_t: %s", steps[i].name);
			continue;
		}
		is_str(ts_format(&c, (time_t)steps[i].sec, steps[i].usec),
		    steps[i].exp, "%s", steps[i].name);
	}
}

/* The text of (sec, usec) computed with gmtime_r, for the random walk. */
static void
ref_format(char *dst, size_t size, time_t sec, long usec)
{
	struct tm tm;

	gmtime_r(&sec, &tm);
	snprintf(dst, size, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
	    tm.tm_sec, usec);
}

/* A random walk of small and large steps through one cache agrees with a
 * fresh computation at every step. */
static void
test_random_walk(void)
{
	unsigned long long rs = 0x2545f4914f6cdd1dULL;
	struct ts_cache c;
	long long sec = 1700000000;
	bool pass = true;
	int i;

	ts_init(&c);
	for (i = 0; i < 20000 && pass; i++) {
		char exp[128];
		long usec = (long)(tap_rand(&rs) % 1000000);
		const char *got;

		switch (tap_rand(&rs) % 4) {
		case 0:
			break;
		case 1:
			sec += 1;
			break;
		case 2:
			sec += (long long)(tap_rand(&rs) % 200000) - 100000;
			break;
		default:
			sec = (long long)(tap_rand(&rs) % 4102444800ULL);
			break;
		}
		if (sec < 0)
			sec = 0;
		if (sizeof(time_t) < 8 && sec > 2147483647LL)
			sec = 2147483647LL;
		ref_format(exp, sizeof(exp), (time_t)sec, usec);
		got = ts_format(&c, (time_t)sec, usec);
		if (strcmp(got, exp) != 0) {
			diag("step %d: sec %lld usec %ld", i, sec, usec);
			tap_diag_mem(got, strlen(got), exp, strlen(exp));
			pass = false;
		}
	}
	ok(pass, "a random walk through one cache agrees with gmtime_r");
}

/* Run every timestamp test. */
int
main(void)
{
	test_known_seconds();
	test_microseconds();
	test_length();
	test_init();
	test_cache_sequence();
	test_random_walk();
	return done_testing();
}
