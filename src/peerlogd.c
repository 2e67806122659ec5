/* peerlogd: log every peer's address and messages, on one event loop. */
#include <signal.h>
#include <stdio.h>
#include <sys/resource.h>

#include "metrics.h"
#include "notify.h"
#include "opts.h"
#include "prog.h"
#include "sdenv.h"
#include "server.h"

/* What peerlogd runs with: its options and the sockets systemd passed. */
struct peerlogd {
	struct opts o;
	struct sdenv_fds passed;
};

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

/* The passed sockets, then the options, with prog's signature. */
static enum opts_result
peerlogd_parse(void *arg, int argc, char **argv, char *err, size_t errlen)
{
	struct peerlogd *d = arg;

	if (listen_passed_env(&d->passed, err, errlen) != 0)
		return OPTS_ERROR;
	return opts_parse_passed(&d->o, argc, argv, &d->passed, err, errlen);
}

/* The metrics listeners: the sockets systemd passed named "metrics", then
 * --metrics's. */
static int
peerlogd_metrics(struct server *s, char *err, size_t errlen)
{
	int fd;

	while ((fd = listen_activated_fd(s, "metrics")) >= 0)
		if (metrics_start(s, fd, err, errlen) != 0)
			return -1;
	return metrics_start(s, -1, err, errlen);
}

/*
 * Bind every socket first, then open the output (a start-up that fails
 * leaves no file behind), then say where it listens and serve.
 */
static int
peerlogd_run(struct event_base *base, void *arg)
{
	struct peerlogd *d = arg;
	struct server s;
	char err[512];
	int rc = 2;

	raise_nofile();
	if (server_init(&s, base, &d->o, err, sizeof(err)) != 0 ||
	    listen_open(&s, err, sizeof(err)) != 0 ||
	    peerlogd_metrics(&s, err, sizeof(err)) != 0 ||
	    server_open_output(&s, err, sizeof(err)) != 0) {
		report("%s", err);
	} else {
		server_start(&s);
		listen_announce(&s);
		metrics_announce(&s);
		notify_ready(&s);
		rc = server_run(&s);
		block_signals();
	}
	server_free(&s);
	sdenv_fds_free(&d->passed);
	return rc;
}

int
main(int argc, char **argv)
{
	static struct peerlogd d; /* large: keep it off the stack */
	static const struct prog p = {
	    .name = "peerlogd",
	    .usage = opts_usage,
	    .opts = &d,
	    .parse = peerlogd_parse,
	    .run = peerlogd_run,
	};

	return prog_main(&p, argc, argv);
}
