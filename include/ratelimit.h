/* A fixed-window rate limit: at most N events a window, the rest counted. Pure.
 */
#ifndef PEERLOG_RATELIMIT_H
#define PEERLOG_RATELIMIT_H

#include <stdbool.h>

struct ratelimit {
	long long start; /* ms the window began; 0: no window open */
	unsigned passed; /* events let through in this window */
	unsigned long long suppressed; /* events held back in it */
};

/*
 * An event at now (ms, > 0): true when it may be written (at most burst in
 * a window of window_ms from the first event of the window), false when it
 * is only counted in rl->suppressed.
 */
bool ratelimit_pass(
    struct ratelimit *rl, long long now, unsigned burst, long long window_ms);

/*
 * Close the window if it has ended by now (or, with force, in any case):
 * returns how many events it held back (the caller says so once), 0 when
 * none or when the window is still open.
 */
unsigned long long ratelimit_close(
    struct ratelimit *rl, long long now, long long window_ms, bool force);

#endif
