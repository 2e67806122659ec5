/* RFC 3339 UTC timestamps, the date part cached per second. */
#include "ts.h"

/* Write v as width decimal digits at d. */
static void
digits(char *d, long v, int width)
{
	while (width-- > 0) {
		d[width] = (char)('0' + v % 10);
		v /= 10;
	}
}

/* Make an empty cache. */
void
ts_init(struct ts_cache *c)
{
	c->sec = (time_t)-1;
	c->text[0] = '\0';
}

/* Text of (sec, usec) in UTC (see ts.h). */
const char *
ts_format(struct ts_cache *c, time_t sec, long usec)
{
	if (sec != c->sec) {
		struct tm tm;
		gmtime_r(&sec, &tm);
		/* "YYYY-MM-DDTHH:MM:SS." then six digits and 'Z'. */
		digits(c->text, (long)tm.tm_year + 1900, 4);
		c->text[4] = '-';
		digits(c->text + 5, tm.tm_mon + 1, 2);
		c->text[7] = '-';
		digits(c->text + 8, tm.tm_mday, 2);
		c->text[10] = 'T';
		digits(c->text + 11, tm.tm_hour, 2);
		c->text[13] = ':';
		digits(c->text + 14, tm.tm_min, 2);
		c->text[16] = ':';
		digits(c->text + 17, tm.tm_sec, 2);
		c->text[19] = '.';
		c->text[26] = 'Z';
		c->text[27] = '\0';
		c->sec = sec;
	}
	digits(c->text + 20, usec, 6);
	return c->text;
}
