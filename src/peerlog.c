/* peerlog: send lines from a terminal or a pipe to peerlogd over TCP or UDP. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <event2/event.h>

#include "client.h"
#include "config.h"
#include "opts.h"

/* A write to a server that has gone must be an error, never a death. */
static void
ignore_sigpipe(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGPIPE, &sa, NULL);
}

int
main(int argc, char **argv)
{
	struct client_opts o;
	struct event_base *base;
	char err[512];
	int rc;

	switch (opts_parse_client(&o, argc, argv, err, sizeof(err))) {
	case OPTS_HELP:
		fputs(opts_client_usage, stdout);
		return 0;
	case OPTS_VERSION:
		printf("peerlog %s\n", PEERLOG_VERSION);
		return 0;
	case OPTS_ERROR:
		fprintf(stderr, "peerlog: %s\n", err);
		return 2;
	case OPTS_RUN:
		break;
	}

	ignore_sigpipe();
	base = event_base_new();
	if (base == NULL) {
		fprintf(stderr, "peerlog: cannot create the event loop\n");
		return 1;
	}
	rc = client_run(base, &o);
	/* Last: freeing the base runs the bufferevent's pending finalizer. */
	event_base_free(base);
	libevent_global_shutdown();
	return rc;
}
