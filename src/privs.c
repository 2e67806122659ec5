/*
 * peerlogd's --user. The lookup is done before binding, so that a typo is a
 * start-up error with nothing bound; the drop once the sockets are bound
 * and the output is open, in the only safe order: supplementary groups,
 * then the gid, then the uid (after which neither could be changed).
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "escape.h"
#include "privs.h"

/* Longest user name shown in an error, before escaping. */
#define NAME_SHOWN 64

/* The user name, escaped for an error line, into buf. */
static const char *
privs_show(char *buf, const char *name)
{
	size_t n = strnlen(name, NAME_SHOWN);

	buf[escape_text(buf, name, n)] = '\0';
	return buf;
}

/* Look the user up before binding (see privs.h). */
int
privs_lookup(struct privs *p, const char *name, char *err, size_t errlen)
{
	char shown[ESCAPE_TEXT_MAX(NAME_SHOWN) + 1];
	struct passwd *pw;

	memset(p, 0, sizeof(*p));
	if (name == NULL)
		return 0;
	errno = 0;
	pw = getpwnam(name);
	if (pw == NULL) {
		/* getpwnam(3): not found may leave errno 0 or set one of
		 * these; anything else is a real failure to tell. */
		int e = errno;
		bool missing = e == 0 || e == ENOENT || e == ESRCH ||
		               e == EBADF || e == EPERM;
		snprintf(err, errlen, "--user %s: %s", privs_show(shown, name),
		    missing ? "no such user" : strerror(e));
		return -1;
	}
	p->name = name;
	p->uid = pw->pw_uid;
	p->gid = pw->pw_gid;
	if (geteuid() == 0) {
		p->drop = true;
		return 0;
	}
	if (getuid() == p->uid && geteuid() == p->uid && getgid() == p->gid &&
	    getegid() == p->gid)
		return 0;
	snprintf(err, errlen,
	    "--user %s: only root can switch users (running as uid %ld)",
	    privs_show(shown, name), (long)geteuid());
	return -1;
}

/* Whether every id of this process is now the user's, and root is out
 * of reach. */
static bool
privs_verify(const struct privs *p)
{
	uid_t ruid, euid, suid;
	gid_t rgid, egid, sgid;

	if (getresuid(&ruid, &euid, &suid) != 0 ||
	    getresgid(&rgid, &egid, &sgid) != 0)
		return false;
	if (ruid != p->uid || euid != p->uid || suid != p->uid ||
	    rgid != p->gid || egid != p->gid || sgid != p->gid)
		return false;
	/* A uid 0 target keeps root by definition; any other must not get
	 * it back. */
	return p->uid == 0 || (setuid(0) != 0 && seteuid(0) != 0);
}

/* Become the user (see privs.h). */
int
privs_drop(const struct privs *p, char *err, size_t errlen)
{
	char shown[ESCAPE_TEXT_MAX(NAME_SHOWN) + 1];
	const char *step;

	if (!p->drop)
		return 0;
	if (initgroups(p->name, p->gid) != 0)
		step = "initgroups";
	else if (setgid(p->gid) != 0)
		step = "setgid";
	else if (setuid(p->uid) != 0)
		step = "setuid";
	else if (!privs_verify(p)) {
		snprintf(err, errlen,
		    "--user %s: the ids did not change as asked",
		    privs_show(shown, p->name));
		return -1;
	} else
		return 0;
	snprintf(err, errlen, "--user %s: %s: %s", privs_show(shown, p->name),
	    step, strerror(errno));
	return -1;
}
