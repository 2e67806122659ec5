/* peerlog: send lines from a terminal or a pipe to peerlogd over TCP or UDP. */
#include "client.h"
#include "opts.h"
#include "prog.h"

/* opts_parse_client with prog's signature. */
static enum opts_result
peerlog_parse(void *o, int argc, char **argv, char *err, size_t errlen)
{
	return opts_parse_client(o, argc, argv, err, errlen);
}

/* client_run with prog's signature. */
static int
peerlog_run(struct event_base *base, void *o)
{
	return client_run(base, o);
}

int
main(int argc, char **argv)
{
	static struct client_opts o;
	static const struct prog p = {
	    .name = "peerlog",
	    .usage = opts_client_usage,
	    .opts = &o,
	    .parse = peerlog_parse,
	    .run = peerlog_run,
	};

	return prog_main(&p, argc, argv);
}
