/*
 * Unit tests of pidfile.c: what a pid file may hold (pidfile_parse, pure),
 * and the check, write and remove steps in a scratch directory, with child
 * processes standing for a live peerlogd (this program's own name, which is
 * what "a peerlogd" means to pidfile.c), another program, and a dead one.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pidfile.h"
#include "tap.h"

#define ERRLEN 512

/* pidfile_parse on a NUL-terminated text. */
static int
parse(const char *s, pid_t *pid)
{
	return pidfile_parse(s, strlen(s), pid);
}

/* What counts as a pid file, and what never does. */
static void
test_parse(void)
{
	static const char *const bad[] = {"\n", "0", "0\n", "012\n", "-5\n",
	    "+5\n", " 5\n", "5 \n", "5\r\n", "5\n\n", "5x", "x", "2147483648",
	    "99999999999", "root:x:0:0:root:/root:/bin/bash\n"};
	pid_t pid = 0;

	is_int(parse("", &pid), 0, "empty: a writer's crash, stale");
	is_int(parse("1234\n", &pid), 1, "a pid and LF");
	is_int(pid, 1234, "its value");
	is_int(parse("7", &pid), 1, "a pid without LF");
	is_int(pid, 7, "its value");
	is_int(parse("2147483647\n", &pid), 1, "INT_MAX");
	is_int(pid, 2147483647, "its value");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		is_int(parse(bad[i], &pid), -1, "not a pid file: '%s'", bad[i]);
}

/* Write text to path (created or truncated). */
static void
put(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0)
		abort();
}

/* Read path into buf (size len); "" when it cannot be read. */
static const char *
get(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");
	size_t n = 0;

	if (f != NULL) {
		n = fread(buf, 1, len - 1, f);
		fclose(f);
	}
	buf[n] = '\0';
	return buf;
}

/* A child that waits to be killed: this program (a "peerlogd"), or
 * another one (sleep) when other is true. */
static pid_t
child(bool other)
{
	pid_t pid = fork();

	if (pid == 0) {
		if (other)
			execlp("sleep", "sleep", "60", (char *)NULL);
		pause();
		_exit(0);
	}
	if (pid < 0)
		abort();
	/* Let an exec'ing child reach sleep, so its name is sleep's. */
	if (other) {
		char path[64], name[64];
		snprintf(path, sizeof(path), "/proc/%ld/comm", (long)pid);
		for (int i = 0; i < 500; i++) {
			if (strcmp(get(path, name, sizeof(name)), "sleep\n") ==
			    0)
				break;
			usleep(10000);
		}
	}
	return pid;
}

/* Stop a child started by child(). */
static void
reap(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

/* How many temporary files ("p.pid.XXXXXX") are left in dir. */
static int
temps_left(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	if (d == NULL)
		abort();
	while ((e = readdir(d)) != NULL)
		n += strncmp(e->d_name, "p.pid.", 6) == 0;
	closedir(d);
	return n;
}

/* The whole cycle in a scratch directory. */
static void
test_cycle(const char *dir)
{
	char path[256], text[64], want[ERRLEN], err[ERRLEN];
	struct pidfile pf;
	struct stat st;
	pid_t kid;

	snprintf(path, sizeof(path), "%s/p.pid", dir);
	snprintf(want, sizeof(want), "%ld\n", (long)getpid());

	is_int(pidfile_check(&pf, NULL, err, sizeof(err)), 0, "no pid file");
	is_int(pidfile_write(&pf, err, sizeof(err)), 0, "no pid file: write");
	is_int(pidfile_remove(&pf, err, sizeof(err)), 0, "no pid file: remove");

	is_int(pidfile_check(&pf, path, err, sizeof(err)), 0, "none there");
	ok(access(path, F_OK) != 0, "the check writes nothing");
	is_int(pidfile_write(&pf, err, sizeof(err)), 0, "written");
	is_str(get(path, text, sizeof(text)), want, "our pid and a LF");
	ok(stat(path, &st) == 0 && (st.st_mode & 0777) == 0644,
	    "mode 0644, for scripts to read");
	is_int(pidfile_remove(&pf, err, sizeof(err)), 0, "removed");
	ok(access(path, F_OK) != 0, "gone");

	/* Another "peerlogd" holds it: refused, and left alone. */
	kid = child(false);
	snprintf(text, sizeof(text), "%ld\n", (long)kid);
	put(path, text);
	is_int(pidfile_check(&pf, path, err, sizeof(err)), -1, "a live one");
	snprintf(want, sizeof(want),
	    "--pidfile %s: peerlogd is already running as pid %ld", path,
	    (long)kid);
	is_str(err, want, "names its pid");
	is_int(pidfile_write(&pf, err, sizeof(err)), -1,
	    "write refuses a live one too");
	is_str(get(path, want, sizeof(want)), text, "its file intact");
	is_int(temps_left(dir), 0, "no temporary file left");
	reap(kid);

	/* The pid is dead now: stale, replaced. */
	is_int(pidfile_check(&pf, path, err, sizeof(err)), 0, "a dead pid");
	is_int(pidfile_write(&pf, err, sizeof(err)), 0, "replaced");
	snprintf(want, sizeof(want), "%ld\n", (long)getpid());
	is_str(get(path, text, sizeof(text)), want, "now ours");
	is_int(pidfile_remove(&pf, err, sizeof(err)), 0, "removed again");

	/* Another program under the pid: stale. */
	kid = child(true);
	snprintf(text, sizeof(text), "%ld", (long)kid);
	put(path, text);
	is_int(pidfile_check(&pf, path, err, sizeof(err)), 0,
	    "a live process of another program");
	is_int(pidfile_write(&pf, err, sizeof(err)), 0, "replaced");
	is_str(get(path, text, sizeof(text)), want, "now ours");
	reap(kid);

	/* Our own pid (left from before a reboot), an empty file: stale. */
	put(path, want);
	is_int(pidfile_check(&pf, path, err, sizeof(err)), 0, "our own pid");
	put(path, "");
	is_int(pidfile_check(&pf, path, err, sizeof(err)), 0, "an empty file");
	is_int(pidfile_write(&pf, err, sizeof(err)), 0, "empty: replaced");
	is_str(get(path, text, sizeof(text)), want, "now ours");

	/* Someone else's pid in it by the time we leave: not removed. */
	put(path, "1\n");
	is_int(pidfile_remove(&pf, err, sizeof(err)), 0, "not ours any more");
	is_str(get(path, text, sizeof(text)), "1\n", "left in place");

	/* Not a pid file: never replaced. */
	put(path, "precious data\n");
	is_int(
	    pidfile_check(&pf, path, err, sizeof(err)), -1, "not a pid file");
	snprintf(want, sizeof(want),
	    "--pidfile %s: not a pid file (left as it is)", path);
	is_str(err, want, "says so");
	is_str(get(path, text, sizeof(text)), "precious data\n", "untouched");
	unlink(path);

	is_int(temps_left(dir), 0, "no temporary file left at all");

	/* A symbolic link, a directory: refused. */
	if (symlink("/etc/hostname", path) != 0)
		abort();
	is_int(pidfile_check(&pf, path, err, sizeof(err)), -1, "a symlink");
	snprintf(want, sizeof(want),
	    "--pidfile %s: a symbolic link (not followed)", path);
	is_str(err, want, "says so");
	unlink(path);
	if (mkdir(path, 0755) != 0)
		abort();
	is_int(pidfile_check(&pf, path, err, sizeof(err)), -1, "a directory");
	snprintf(want, sizeof(want), "--pidfile %s: not a regular file", path);
	is_str(err, want, "says so");
	rmdir(path);

	/* A directory that does not exist: found before binding. */
	snprintf(path, sizeof(path), "%s/none/p.pid", dir);
	snprintf(
	    want, sizeof(want), "--pidfile %s: %s", path, strerror(ENOENT));
	is_int(pidfile_check(&pf, path, err, sizeof(err)), -1,
	    "a missing directory: found by the check");
	is_str(err, want, "names the path and the reason");
	pf.path = path;
	is_int(pidfile_write(&pf, err, sizeof(err)), -1, "cannot write");
	is_str(err, want, "the write says the same");

	/* A relative path: in the current directory. */
	if (chdir(dir) != 0)
		abort();
	is_int(pidfile_check(&pf, "p.pid", err, sizeof(err)), 0,
	    "a relative path");
	is_int(pidfile_write(&pf, err, sizeof(err)), 0, "written there");
	ok(access("p.pid", F_OK) == 0, "it is there");
	is_int(pidfile_remove(&pf, err, sizeof(err)), 0, "removed");
	ok(access("p.pid", F_OK) != 0, "gone");
	if (chdir("/") != 0)
		abort();
}

/* Run every pid file test. */
int
main(void)
{
	char dir[] = "/tmp/test_pidfile.XXXXXX";
	char cmd[64];

	test_parse();
	if (mkdtemp(dir) == NULL)
		abort();
	test_cycle(dir);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		diag("could not remove %s", dir);
	return done_testing();
}
