/* The record output: a flat buffer written in large batches. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sink.h"

/* Open the file at path for append, or standard output for "-". */
static int
open_path(const char *path)
{
	if (path == NULL)
		return STDOUT_FILENO;
	return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
}

/*
 * Make writes to a pipe, socket or terminal non-blocking, so a reader that
 * falls behind slows the server's input instead of stopping its loop.
 * Standard output's file description may be shared with other processes:
 * a pipe or terminal is opened anew through /proc (a description of our
 * own), and a socket is written with MSG_DONTWAIT instead.
 */
static void
sink_nonblock(struct sink *k)
{
	struct stat st;

	if (fstat(k->fd, &st) != 0)
		return;
	if (S_ISSOCK(st.st_mode)) {
		k->is_socket = true;
		k->nonblock = true;
		return;
	}
	if (!S_ISFIFO(st.st_mode) && !S_ISCHR(st.st_mode))
		return; /* a regular file: the disk is as fast as it gets */
	if (k->path == NULL) {
		char self[32];
		snprintf(self, sizeof(self), "/proc/self/fd/%d", k->fd);
		int fd =
		    open(self, O_WRONLY | O_APPEND | O_NONBLOCK | O_CLOEXEC);
		if (fd < 0)
			return; /* keep blocking writes */
		k->fd = fd;
		k->own_fd = true;
	} else {
		int fl = fcntl(k->fd, F_GETFL);
		if (fl < 0 || fcntl(k->fd, F_SETFL, fl | O_NONBLOCK) != 0)
			return;
	}
	k->nonblock = true;
}

/* Open the output (see sink.h). */
int
sink_open(struct sink *k, const char *path, size_t soft)
{
	memset(k, 0, sizeof(*k));
	k->path = strcmp(path, "-") == 0 ? NULL : path;
	k->soft = soft;
	k->fd = open_path(k->path);
	if (k->fd < 0)
		return -1;
	k->own_fd = k->path != NULL;
	sink_nonblock(k);
	k->cap = soft * 2;
	k->buf = malloc(k->cap);
	if (k->buf == NULL) {
		sink_close(k);
		errno = ENOMEM;
		return -1;
	}
	return 0;
}

/* Grow the buffer for need more bytes (see sink_reserve in sink.h). */
char *
sink_grow(struct sink *k, size_t need)
{
	/* Only when writing fails or one pass overshoots: grow geometrically
	 * so forced records stay cheap. */
	size_t cap = k->cap * 2;
	while (cap - k->len < need)
		cap *= 2;
	char *buf = realloc(k->buf, cap);
	if (buf == NULL)
		return NULL;
	k->buf = buf;
	k->cap = cap;
	return k->buf + k->len;
}

/* Write everything held (see sink.h). */
int
sink_flush(struct sink *k)
{
	size_t off = 0;
	int rc = 0;

	while (off < k->len) {
		ssize_t n =
		    k->is_socket
		        ? send(k->fd, k->buf + off, k->len - off, MSG_DONTWAIT)
		        : write(k->fd, k->buf + off, k->len - off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			k->error = errno;
			rc = -1;
			break;
		}
		off += (size_t)n;
	}
	if (rc == 0)
		k->error = 0;
	k->written += off;
	/* Keep what was not written at the front, in order. */
	memmove(k->buf, k->buf + off, k->len - off);
	k->len -= off;
	return rc;
}

/* Write everything, waiting up to timeout_ms at a time for a slow output
 * (see sink.h). */
int
sink_drain(struct sink *k, int timeout_ms)
{
	while (sink_flush(k) != 0) {
		struct pollfd pfd = {.fd = k->fd, .events = POLLOUT};
		if (k->error != EAGAIN)
			return -1;
		int n = poll(&pfd, 1, timeout_ms);
		if (n == 0) {
			k->error = ETIMEDOUT;
			return -1;
		}
		if (n < 0 && errno != EINTR) {
			k->error = errno;
			return -1;
		}
	}
	return 0;
}

/* Reopen the file for log rotation (see sink.h). */
int
sink_reopen(struct sink *k)
{
	if (k->path == NULL)
		return 0;
	sink_flush(k);
	int fd = open_path(k->path);
	if (fd < 0)
		return -1;
	close(k->fd);
	k->fd = fd;
	k->nonblock = k->is_socket = false;
	sink_nonblock(k);
	return 0;
}

/* Close and free (see sink.h). */
void
sink_close(struct sink *k)
{
	if (k->own_fd && k->fd >= 0)
		close(k->fd);
	k->fd = -1;
	free(k->buf);
	k->buf = NULL;
	k->len = k->cap = 0;
}
