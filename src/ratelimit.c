/* A fixed-window rate limit (see ratelimit.h). */
#include "ratelimit.h"

/* Let an event through or count it (see ratelimit.h). */
bool
ratelimit_pass(
    struct ratelimit *rl, long long now, unsigned burst, long long window_ms)
{
	if (rl->start == 0 || now - rl->start >= window_ms) {
		/* A new window: what the old one held back is lost unless
		 * the caller closed it first. */
		rl->start = now;
		rl->passed = 0;
		rl->suppressed = 0;
	}
	if (rl->passed < burst) {
		rl->passed++;
		return true;
	}
	rl->suppressed++;
	return false;
}

/* Close an ended window (see ratelimit.h). */
unsigned long long
ratelimit_close(
    struct ratelimit *rl, long long now, long long window_ms, bool force)
{
	unsigned long long n = rl->suppressed;

	if (rl->start == 0 || (!force && now - rl->start < window_ms))
		return 0;
	rl->start = 0;
	rl->passed = 0;
	rl->suppressed = 0;
	return n;
}
