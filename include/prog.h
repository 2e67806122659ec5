/* What both programs share: the shape of main, error reports, SIGPIPE. */
#ifndef PEERLOG_PROG_H
#define PEERLOG_PROG_H

#include <stddef.h>

#include "opts.h"

struct event_base;

/* One program: its name, usage, option parser and what it runs. */
struct prog {
	const char *name; /* "peerlogd": the prefix of every report */
	const char *usage;
	void *opts;
	enum opts_result (*parse)(
	    void *opts, int argc, char **argv, char *err, size_t errlen);
	/* Run on the loop; returns the exit status. */
	int (*run)(struct event_base *base, void *opts);
};

/*
 * The main of both programs: parse the options (help, version, a usage
 * error: exit 0, 0, 2), ignore SIGPIPE, make the event loop, run, free it.
 */
int prog_main(const struct prog *p, int argc, char **argv);

/* A write to a closed socket or pipe must be an error, never a death. */
void prog_ignore_sigpipe(void);

/* One line on standard error: "NAME: " and the formatted text. */
void report(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* report() with ": " and strerror(err) appended. */
void report_errno(int err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
