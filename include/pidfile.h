/*
 * peerlogd's --pidfile: refused before binding when a live peerlogd holds
 * it, written once the server is ready, removed at exit.
 */
#ifndef PEERLOG_PIDFILE_H
#define PEERLOG_PIDFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Most bytes a pid file holds: a pid and a LF, with room to spare. */
#define PIDFILE_MAX 32

/* One pid file: where it is, and whether this process wrote it. */
struct pidfile {
	const char *path; /* NULL: none asked for */
	bool written;
	pid_t pid; /* what was written */
};

/*
 * What the len bytes at buf hold: 1 with *pid set for a pid file (decimal
 * digits, 1 to INT_MAX with no sign or leading zero, and one optional LF),
 * 0 when empty (a writer's crash), -1 for anything else (not a pid file,
 * which is never replaced). Pure.
 */
int pidfile_parse(const char *buf, size_t len, pid_t *pid);

/*
 * Before binding: set up pf for path (NULL: no pid file) and fail when the
 * file holds the pid of a live peerlogd, or is not a pid file. A pid whose
 * process is gone, or runs another program (/proc/PID/comm differs from
 * ours), is stale and pidfile_write replaces it. Its directory must exist
 * and be writable. Returns 0, or -1 with one line in err ("--pidfile PATH:
 * ...").
 */
int pidfile_check(
    struct pidfile *pf, const char *path, char *err, size_t errlen);

/*
 * Once ready: write our pid and a LF to pf->path, complete before anyone
 * can see it (a temporary file in the same directory, hard-linked to the
 * path, which fails rather than overwrite: a file that appeared since
 * pidfile_check is judged again). Returns 0, or -1 with err.
 */
int pidfile_write(struct pidfile *pf, char *err, size_t errlen);

/*
 * At exit: remove the pid file if this process wrote it and it still holds
 * our pid. Returns 0 (removed, or nothing to do), or -1 with err (e.g. the
 * user --user dropped to may not write the directory).
 */
int pidfile_remove(struct pidfile *pf, char *err, size_t errlen);

#endif
