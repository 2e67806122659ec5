/* peerlogd's --user: the user looked up before binding, became after. */
#ifndef PEERLOG_PRIVS_H
#define PEERLOG_PRIVS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* The user to become. */
struct privs {
	const char *name; /* NULL: stay as started */
	bool drop;        /* false: already that user, nothing to do */
	uid_t uid;
	gid_t gid; /* the user's primary group */
};

/*
 * Before binding: look name (NULL: no --user) up in the user database and
 * check that this process may become that user: only root can switch
 * users; a process that already runs as exactly that user has nothing to
 * do. Returns 0, or -1 with one line in err ("--user NAME: ...").
 */
int privs_lookup(struct privs *p, const char *name, char *err, size_t errlen);

/*
 * Once the sockets are bound and the output open: become the user, with
 * its groups (initgroups), then its gid, then its uid, and verify that the
 * real, effective and saved ids are the user's and that root cannot be
 * had back. Returns 0, or -1 with err.
 */
int privs_drop(const struct privs *p, char *err, size_t errlen);

#endif
