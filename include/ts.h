/* RFC 3339 UTC timestamps with microseconds, cached per second. Pure. */
#ifndef PEERLOG_TS_H
#define PEERLOG_TS_H

#include <time.h>

#define TS_LEN 27 /* "2026-11-25T17:03:06.123456Z" */

struct ts_cache {
	time_t sec;            /* second the text holds, or -1 */
	char text[TS_LEN + 1]; /* NUL-terminated */
};

/* Make an empty cache. */
void ts_init(struct ts_cache *c);

/*
 * Return the text of the time (sec, usec) in UTC. Within the second the
 * cache already holds only the six microsecond digits are rewritten.
 * The text is valid until the next call.
 */
const char *ts_format(struct ts_cache *c, time_t sec, long usec);

#endif
