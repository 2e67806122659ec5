/* peerlogd: log every peer's address and messages, on one event loop. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "metrics.h"
#include "notify.h"
#include "opts.h"
#include "pidfile.h"
#include "privs.h"
#include "prog.h"
#include "sdenv.h"
#include "server.h"

/* Largest config file read: far beyond any real one. */
#define CONFIG_MAX (1024 * 1024)

/*
 * What peerlogd runs with: its options, the sockets systemd passed, and
 * the config file the options point into (see opts_parse_file), freed
 * when the run is done.
 */
struct peerlogd {
	struct opts o;
	struct sdenv_fds passed;
	char *file; /* the config file's bytes and a NUL, or NULL */
};

/* The service duties around the server: the pid file and the user. */
struct peerlogd_service {
	struct pidfile pidfile;
	struct privs privs;
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

/*
 * Read the config file at path whole into a new buffer (*buf, with one
 * byte more for the parser), as a pipe too (-c <(...)). Returns 0, or -1
 * with err naming the path and the reason.
 */
static int
config_read(const char *path, char **buf, size_t *len, char *err, size_t errlen)
{
	size_t cap = 4096, n = 0;
	char *b = malloc(cap), *nb;
	ssize_t r;
	int fd = b != NULL ? open(path, O_RDONLY | O_CLOEXEC) : -1;

	if (fd < 0)
		goto fail;
	for (;;) {
		if (cap - n < 2) {
			if ((nb = realloc(b, cap * 2)) == NULL)
				goto fail;
			b = nb;
			cap *= 2;
		}
		r = read(fd, b + n, cap - 1 - n);
		if (r == 0)
			break;
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			goto fail;
		n += (size_t)r;
		if (n > CONFIG_MAX) {
			snprintf(err, errlen,
			    "--config %s: larger than %d bytes", path,
			    CONFIG_MAX);
			goto out;
		}
	}
	close(fd);
	*buf = b;
	*len = n;
	return 0;
fail:
	snprintf(err, errlen, "--config %s: %s", path, strerror(errno));
out:
	if (fd >= 0)
		close(fd);
	free(b);
	return -1;
}

/* The passed sockets, then the config file argv names, if any, then argv
 * (opts_parse_file); the file's bytes stay in d->file for the run. */
static enum opts_result
peerlogd_parse(void *arg, int argc, char **argv, char *err, size_t errlen)
{
	struct peerlogd *d = arg;
	const char *path;
	enum opts_result res;
	size_t len = 0;

	d->file = NULL;
	if (listen_passed_env(&d->passed, err, errlen) != 0)
		return OPTS_ERROR;
	path = opts_config_file(argc, argv);
	if (path != NULL && config_read(path, &d->file, &len, err, errlen) != 0)
		return OPTS_ERROR;
	res = opts_parse_file(
	    &d->o, argc, argv, &d->passed, path, d->file, len, err, errlen);
	if (res != OPTS_RUN) {
		free(d->file);
		d->file = NULL;
	}
	return res;
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

/* Before binding: a live peerlogd's pid file, an unknown --user or one
 * this process cannot become are start-up errors with nothing bound. */
static int
service_check(
    struct peerlogd_service *sv, const struct opts *o, char *err, size_t errlen)
{
	if (pidfile_check(&sv->pidfile, o->pidfile, err, errlen) != 0)
		return -1;
	return privs_lookup(&sv->privs, o->user, err, errlen);
}

/* Bound and open: write the pid file (while we may still write /run), then
 * drop to --user; a drop that fails takes the pid file back. */
static int
service_ready(struct peerlogd_service *sv, char *err, size_t errlen)
{
	char ignored[512];

	if (pidfile_write(&sv->pidfile, err, errlen) != 0)
		return -1;
	if (privs_drop(&sv->privs, err, errlen) != 0) {
		pidfile_remove(&sv->pidfile, ignored, sizeof(ignored));
		return -1;
	}
	return 0;
}

/* At exit: remove the pid file; a failure (the user may not write its
 * directory) is reported, the exit status stays. */
static void
service_done(struct peerlogd_service *sv)
{
	char err[512];

	if (pidfile_remove(&sv->pidfile, err, sizeof(err)) != 0)
		report("%s", err);
}

/*
 * Bind every socket first, then open the output (a start-up that fails
 * leaves no file behind), write the pid file and become --user, then say
 * where it listens and serve.
 */
static int
peerlogd_run(struct event_base *base, void *arg)
{
	struct peerlogd *d = arg;
	struct peerlogd_service sv = {0};
	struct server s;
	char err[512];
	int rc = 2;

	raise_nofile();
	if (server_init(&s, base, &d->o, err, sizeof(err)) != 0 ||
	    service_check(&sv, &d->o, err, sizeof(err)) != 0 ||
	    listen_open(&s, err, sizeof(err)) != 0 ||
	    peerlogd_metrics(&s, err, sizeof(err)) != 0 ||
	    server_open_output(&s, err, sizeof(err)) != 0 ||
	    service_ready(&sv, err, sizeof(err)) != 0) {
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
	service_done(&sv);
	free(d->file);
	d->file = NULL;
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
