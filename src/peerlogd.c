/* peerlogd: log every peer's address and messages, on one event loop. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include <event2/event.h>

#include "config.h"
#include "opts.h"
#include "server.h"

/* Let --max-clients reach the hard descriptor limit without tuning. */
static void
raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* A write to a closed socket or pipe must be an error, never a death. */
static void
ignore_sigpipe(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGPIPE, &sa, NULL);
}

/*
 * The loop is done and everything is written: freeing the signal events
 * gives SIGTERM its default action back, and a second SIGTERM (an operator
 * or a supervisor repeating itself) must not kill the exit at the finish.
 * Blocked, it stays pending until the process is gone.
 */
static void
block_signals(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	sigprocmask(SIG_BLOCK, &set, NULL);
}

int
main(int argc, char **argv)
{
	static struct opts o; /* large: keep it off the stack */
	struct server s;
	struct event_base *base;
	char err[512];
	int rc;

	switch (opts_parse(&o, argc, argv, err, sizeof(err))) {
	case OPTS_HELP:
		fputs(opts_usage, stdout);
		return 0;
	case OPTS_VERSION:
		printf("peerlogd %s\n", PEERLOG_VERSION);
		return 0;
	case OPTS_ERROR:
		fprintf(stderr, "peerlogd: %s\n", err);
		return 2;
	case OPTS_RUN:
		break;
	}

	ignore_sigpipe();
	raise_nofile();
	base = event_base_new();
	if (base == NULL) {
		fprintf(stderr, "peerlogd: cannot create the event loop\n");
		return 2;
	}
	if (server_init(&s, base, &o) != 0) {
		fprintf(stderr, "peerlogd: --output %s: %s\n", o.output,
		    strerror(errno));
		server_free(&s);
		event_base_free(base);
		return 2;
	}
	if (listen_open(&s, err, sizeof(err)) != 0) {
		fprintf(stderr, "peerlogd: %s\n", err);
		server_free(&s);
		event_base_free(base);
		return 2;
	}
	server_start(&s);
	event_base_dispatch(base);
	block_signals();
	rc = s.exit_code;
	server_free(&s);
	event_base_free(base);
	return rc;
}
