/* A build without hiredis: --redis is refused with the reason. */
#include <stdio.h>

#include "output.h"

/* There is no Redis output in this build. */
struct output *
output_redis_open(
    struct event_base *base, const struct opts *o, char *err, size_t errlen)
{
	(void)base;
	(void)o;
	snprintf(err, errlen,
	    "--redis: not available (peerlogd was built without hiredis)");
	return NULL;
}
