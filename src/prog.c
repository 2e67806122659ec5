/* What both programs share: the shape of main, error reports, SIGPIPE. */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <event2/event.h>

#include "config.h"
#include "prog.h"

/* The prefix of every report: the program's name. */
static const char *prog_name = "peerlog";

/* A write to a closed socket or pipe must be an error (see prog.h). */
void
prog_ignore_sigpipe(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGPIPE, &sa, NULL);
}

/* Write "NAME: TEXT[: ERROR]\n" as one write, so lines never interleave. */
static void
report_line(int err, const char *fmt, va_list ap)
{
	char line[1024];
	int n = snprintf(line, sizeof(line), "%s: ", prog_name);

	if (n > 0 && (size_t)n < sizeof(line))
		n += vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	if (err != 0 && n > 0 && (size_t)n < sizeof(line))
		n += snprintf(
		    line + n, sizeof(line) - (size_t)n, ": %s", strerror(err));
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line) - 1)
		n = (int)sizeof(line) - 2;
	line[n] = '\n';
	fwrite(line, 1, (size_t)n + 1, stderr);
}

/* One line on standard error (see prog.h). */
void
report(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	report_line(0, fmt, ap);
	va_end(ap);
}

/* One line on standard error with strerror(err) (see prog.h). */
void
report_errno(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	report_line(err, fmt, ap);
	va_end(ap);
}

/* The main of both programs (see prog.h). */
int
prog_main(const struct prog *p, int argc, char **argv)
{
	struct event_base *base;
	char err[512];
	int rc;

	prog_name = p->name;
	switch (p->parse(p->opts, argc, argv, err, sizeof(err))) {
	case OPTS_HELP:
		fputs(p->usage, stdout);
		return 0;
	case OPTS_VERSION:
		printf("%s %s\n", p->name, PEERLOG_VERSION);
		return 0;
	case OPTS_ERROR:
		report("%s", err);
		return 2;
	case OPTS_RUN:
		break;
	}
	prog_ignore_sigpipe();
	base = event_base_new();
	if (base == NULL) {
		report("cannot create the event loop");
		return 2;
	}
	rc = p->run(base, p->opts);
	/* Last: freeing the base runs pending bufferevent finalizers. */
	event_base_free(base);
	libevent_global_shutdown();
	return rc;
}
