/*
 * Prometheus metrics: the counter snapshot as the text exposition format
 * (version 0.0.4), and the HTTP endpoint that serves it on the loop.
 */
#ifndef PEERLOG_METRICS_H
#define PEERLOG_METRICS_H

#include <stddef.h>

#include "counters.h"

/* What the page shows besides the counters. */
struct metrics_process {
	unsigned long long start_ms; /* start, unix time in milliseconds */
	const char *version;         /* build_info's version= */
};

/*
 * metrics.c (pure): the page for snap into dst, which has room for cap
 * bytes. Returns the page's length whatever cap is; when that is below
 * cap the page is whole and NUL-terminated (snprintf's contract).
 */
size_t metrics_render(char *dst, size_t cap,
    const struct counters_snapshot *snap, const struct metrics_process *p);

/*
 * A label value escaped for the format (backslash, double quote and LF as
 * \\, \" and \n) into dst with room for cap bytes; the escaped length
 * whatever cap is, NUL-terminated when below cap.
 */
size_t metrics_escape(char *dst, size_t cap, const char *value);

struct server;

/* Scrapes answered at once, at most: more wait in the listen queue. */
#define METRICS_CONN_MAX 8

/*
 * metrics_http.c: the /metrics endpoint on the server's loop. With fd -1,
 * bind --metrics ADDR (every address it stands for); else serve the
 * listening stream socket fd handed in (socket activation), which it then
 * owns. May be called more than once; accepting waits for metrics_announce.
 * -1 with err set on failure.
 */
int metrics_start(struct server *s, int fd, char *err, size_t errlen);

/* Say where metrics are served ("listening metrics ADDR") and accept. */
void metrics_announce(struct server *s);

/* Descriptors the endpoint may hold beyond its listening sockets, at most:
 * the clients' share leaves them free. */
size_t metrics_reserve(const struct server *s);

/* Close the endpoint and its connections. */
void metrics_free(struct server *s);

#endif
