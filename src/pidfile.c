/*
 * peerlogd's pid file: judged before binding (a live peerlogd's is an
 * error), written once ready without ever showing a half-written file,
 * removed at exit only while it still holds our pid.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pidfile.h"

/* What a pid file holds (see pidfile.h). */
int
pidfile_parse(const char *buf, size_t len, pid_t *pid)
{
	unsigned long v = 0;

	if (len == 0)
		return 0;
	if (buf[len - 1] == '\n')
		len--;
	if (len == 0 || len > 10 || buf[0] == '0')
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (buf[i] < '0' || buf[i] > '9')
			return -1;
		v = v * 10 + (unsigned long)(buf[i] - '0');
	}
	if (v > INT_MAX)
		return -1;
	*pid = (pid_t)v;
	return 1;
}

/*
 * Read the file at path into buf (PIDFILE_MAX + 1 bytes), never following
 * a symbolic link nor blocking on a FIFO: 0 with *len, 1 when there is no
 * file, -1 with err written.
 */
static int
pidfile_read(const char *path, char *buf, size_t *len, char *err, size_t errlen)
{
	struct stat st;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0 && errno == ENOENT)
		return 1;
	if (fd < 0) {
		snprintf(err, errlen, "--pidfile %s: %s", path,
		    errno == ELOOP ? "a symbolic link (not followed)"
		                   : strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) != 0) {
		snprintf(
		    err, errlen, "--pidfile %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "--pidfile %s: not a regular file", path);
		close(fd);
		return -1;
	}
	do
		n = read(fd, buf, PIDFILE_MAX + 1);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		snprintf(
		    err, errlen, "--pidfile %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	close(fd);
	*len = (size_t)n;
	return 0;
}

/* The command name (/proc/PID/comm) of the process dir names ("self" or
 * a pid) into buf: 0, or -1 with errno. */
static int
pidfile_comm(const char *dir, char *buf, size_t len)
{
	char path[64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%s/comm", dir);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	return 0;
}

/*
 * Whether pid is a live peerlogd: the process exists and runs a program of
 * our command name (/proc/PID/comm, which any user may read). Our own pid
 * (a file left from before a reboot) is stale. Where /proc cannot tell,
 * the process is taken for a peerlogd: better refuse than run twice.
 */
static bool
pidfile_live(pid_t pid)
{
	char self[64], other[64], dir[16];

	if (pid == getpid())
		return false;
	if (kill(pid, 0) != 0 && errno == ESRCH)
		return false;
	if (pidfile_comm("self", self, sizeof(self)) != 0)
		return true;
	snprintf(dir, sizeof(dir), "%ld", (long)pid);
	if (pidfile_comm(dir, other, sizeof(other)) != 0)
		return errno != ENOENT; /* ENOENT: it has just gone */
	return strcmp(self, other) == 0;
}

/*
 * Judge what is at pf->path now: 0 when nothing is there or it is stale
 * (*stale says which), -1 with err when it is a live peerlogd's, is not a
 * pid file, or cannot be read.
 */
static int
pidfile_judge(struct pidfile *pf, bool *stale, char *err, size_t errlen)
{
	char buf[PIDFILE_MAX + 1];
	size_t len;
	pid_t pid;
	int r = pidfile_read(pf->path, buf, &len, err, errlen);

	*stale = false;
	if (r != 0)
		return r == 1 ? 0 : -1;
	switch (pidfile_parse(buf, len, &pid)) {
	case -1:
		snprintf(err, errlen,
		    "--pidfile %s: not a pid file (left as it is)", pf->path);
		return -1;
	case 1:
		if (pidfile_live(pid)) {
			snprintf(err, errlen,
			    "--pidfile %s: peerlogd is already running as "
			    "pid %ld",
			    pf->path, (long)pid);
			return -1;
		}
		break;
	}
	*stale = true;
	return 0;
}

/* Whether the directory of path exists and we may create files in it:
 * 0, or -1 with err (a typo in the path fails before binding). */
static int
pidfile_dir_ok(const char *path, char *err, size_t errlen)
{
	const char *slash = strrchr(path, '/');
	size_t n = slash == NULL   ? 1
	           : slash == path ? 1
	                           : (size_t)(slash - path);
	char *dir = malloc(n + 1);
	int rc = 0;

	if (dir == NULL) {
		snprintf(err, errlen, "--pidfile %s: out of memory", path);
		return -1;
	}
	memcpy(dir, slash == NULL ? "." : path, n);
	dir[n] = '\0';
	if (access(dir, W_OK | X_OK) != 0) {
		snprintf(
		    err, errlen, "--pidfile %s: %s", path, strerror(errno));
		rc = -1;
	}
	free(dir);
	return rc;
}

/* Judge the pid file before binding (see pidfile.h). */
int
pidfile_check(struct pidfile *pf, const char *path, char *err, size_t errlen)
{
	bool stale;

	memset(pf, 0, sizeof(*pf));
	pf->path = path;
	if (path == NULL)
		return 0;
	if (pidfile_judge(pf, &stale, err, errlen) != 0)
		return -1;
	return pidfile_dir_ok(path, err, errlen);
}

/* Write pid and LF into a new temporary file beside pf->path (tmp, its
 * name, is filled in): 0, or -1 with err. */
static int
pidfile_temp(struct pidfile *pf, char *tmp, char *err, size_t errlen)
{
	char text[PIDFILE_MAX];
	int n = snprintf(text, sizeof(text), "%ld\n", (long)pf->pid);
	int fd = mkstemp(tmp);

	if (fd < 0) {
		snprintf(
		    err, errlen, "--pidfile %s: %s", pf->path, strerror(errno));
		return -1;
	}
	errno = 0;
	if (fchmod(fd, 0644) != 0 || write(fd, text, (size_t)n) != n) {
		snprintf(err, errlen, "--pidfile %s: %s", tmp,
		    errno != 0 ? strerror(errno) : "short write");
		close(fd);
		unlink(tmp);
		return -1;
	}
	if (close(fd) != 0) {
		snprintf(err, errlen, "--pidfile %s: %s", tmp, strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
}

/* Put the written temporary file tmp at pf->path, replacing only a stale
 * pid file: 0, or -1 with err. */
static int
pidfile_place(struct pidfile *pf, const char *tmp, char *err, size_t errlen)
{
	bool stale;

	for (int tries = 0; tries < 3; tries++) {
		if (link(tmp, pf->path) == 0)
			return 0;
		if (errno == EPERM || errno == EOPNOTSUPP || errno == ENOSYS) {
			/* No hard links here: judged just before, so a
			 * rename replaces nothing alive. */
			if (pidfile_judge(pf, &stale, err, errlen) != 0)
				return -1;
			if (rename(tmp, pf->path) == 0)
				return 0;
			break;
		}
		if (errno != EEXIST)
			break;
		if (pidfile_judge(pf, &stale, err, errlen) != 0)
			return -1;
		if (stale && unlink(pf->path) != 0 && errno != ENOENT)
			break;
	}
	snprintf(err, errlen, "--pidfile %s: %s", pf->path,
	    errno != EEXIST ? strerror(errno) : "keeps being replaced");
	return -1;
}

/* Write our pid once ready (see pidfile.h). */
int
pidfile_write(struct pidfile *pf, char *err, size_t errlen)
{
	size_t plen;
	char *tmp;
	int rc;

	if (pf->path == NULL)
		return 0;
	pf->pid = getpid();
	plen = strlen(pf->path);
	tmp = malloc(plen + sizeof(".XXXXXX"));
	if (tmp == NULL) {
		snprintf(err, errlen, "--pidfile %s: out of memory", pf->path);
		return -1;
	}
	memcpy(tmp, pf->path, plen);
	memcpy(tmp + plen, ".XXXXXX", sizeof(".XXXXXX"));
	rc = pidfile_temp(pf, tmp, err, errlen);
	if (rc == 0) {
		rc = pidfile_place(pf, tmp, err, errlen);
		unlink(tmp); /* after link(); ENOENT after rename() */
	}
	free(tmp);
	pf->written = rc == 0;
	return rc;
}

/* Remove our pid file at exit (see pidfile.h). */
int
pidfile_remove(struct pidfile *pf, char *err, size_t errlen)
{
	char buf[PIDFILE_MAX + 1];
	size_t len;
	pid_t pid;

	if (!pf->written)
		return 0;
	pf->written = false;
	if (pidfile_read(pf->path, buf, &len, err, errlen) != 0 ||
	    pidfile_parse(buf, len, &pid) != 1 || pid != pf->pid)
		return 0; /* gone, or no longer ours */
	if (unlink(pf->path) != 0 && errno != ENOENT) {
		snprintf(err, errlen, "--pidfile %s: not removed: %s", pf->path,
		    strerror(errno));
		return -1;
	}
	return 0;
}
