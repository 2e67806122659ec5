/*
 * The file output: records appended to a file, or written without blocking
 * to standard output, a FIFO, a pipe, a socket or a terminal. A file only
 * ever holds whole records: a write that stops part-way on a full disk is
 * cut back and retried whole.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include "output.h"
#include "prog.h"

/* Delay before retrying a failed write or open. */
static const struct timeval output_retry = {1, 0};

struct output_file {
	struct output out; /* first: what the server sees */
	struct event_base *base;
	const char *path; /* NULL: standard output */
	int fd;           /* -1: not open yet (a FIFO with no reader) */
	bool own_fd;      /* fd is ours to close */
	bool regular;     /* a regular file: a torn record can be cut back */
	bool is_socket;   /* written with send(MSG_DONTWAIT) */
	char *buf;        /* held records, in order; buf starts a record */
	size_t len, cap;
	size_t torn;         /* bytes of buf's first record already written */
	bool reopen_pending; /* SIGHUP's reopen failed: retried every 1 s */
	int reopen_error;    /* what it failed with, said once */
	int said;            /* the write error said last, said once */
	struct event *write_ev; /* the descriptor can take more */
	struct event *retry_ev; /* retry a failed write, open or reopen */
};

/* The output's name for messages. */
static const char *
file_name(const struct output_file *f)
{
	return f->path != NULL ? f->path : "-";
}

/*
 * Open the path for append, without blocking: a FIFO with no reader fails
 * at once (ENXIO) instead of stopping the loop until one comes.
 */
static int
file_open_path(const char *path)
{
	return open(
	    path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NONBLOCK, 0644);
}

/*
 * Take fd as the output's descriptor. Writes to a pipe, socket or terminal
 * never block, so a reader that falls behind slows the server's input
 * instead of stopping its loop. Standard output's file description may be
 * shared with other processes: a pipe or terminal is opened anew through
 * /proc (a description of our own), a socket is written with MSG_DONTWAIT.
 * A regular file is written blocking: the disk is as fast as it gets.
 */
static void
file_adopt(struct output_file *f, int fd, bool own)
{
	struct stat st;

	f->fd = fd;
	f->own_fd = own;
	f->regular = f->is_socket = false;
	if (fstat(fd, &st) != 0)
		return;
	f->regular = S_ISREG(st.st_mode);
	f->is_socket = S_ISSOCK(st.st_mode);
	if (f->regular) {
		int fl = fcntl(fd, F_GETFL);
		if (fl >= 0 && (fl & O_NONBLOCK))
			fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
		return;
	}
	if (f->is_socket || own)
		return; /* send(MSG_DONTWAIT), or opened O_NONBLOCK already */
	char self[32];
	snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
	int nfd = open(self, O_WRONLY | O_APPEND | O_NONBLOCK | O_CLOEXEC);
	if (nfd >= 0) {
		f->fd = nfd;
		f->own_fd = true;
	}
}

/* Close the descriptor if it is ours. */
static void
file_close_fd(struct output_file *f)
{
	if (f->own_fd && f->fd >= 0)
		close(f->fd);
	f->fd = -1;
	f->own_fd = false;
}

/* Follow the descriptor with the write event. */
static void
file_watch(struct output_file *f)
{
	event_del(f->write_ev);
	event_assign(f->write_ev, f->base, f->fd, EV_WRITE,
	    event_get_callback(f->write_ev), f);
}

/*
 * Write n bytes at p; returns the bytes written. On a failure that is not
 * EAGAIN, out.error is set (0 when all was written or it would block, then
 * *again says which).
 */
static size_t
file_write(struct output_file *f, const char *p, size_t n, bool *again)
{
	size_t off = 0;

	*again = false;
	f->out.error = 0;
	while (off < n) {
		ssize_t w = f->is_socket
		                ? send(f->fd, p + off, n - off, MSG_DONTWAIT)
		                : write(f->fd, p + off, n - off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				*again = true;
			else
				f->out.error = errno;
			break;
		}
		off += (size_t)w;
	}
	f->out.c.bytes += off;
	return off;
}

/* Wait for the descriptor to take more. Should the loop refuse the event,
 * poll once a second instead: never stall without a word. */
static void
file_wait(struct output_file *f)
{
	if (event_add(f->write_ev, NULL) == 0)
		return;
	report("output %s: cannot watch the descriptor; retrying every %lds",
	    file_name(f), (long)output_retry.tv_sec);
	evtimer_add(f->retry_ev, &output_retry);
}

/* Make room for n more held bytes; false when memory ran out. */
static bool
file_room(struct output_file *f, size_t n)
{
	if (f->cap - f->len >= n)
		return true;
	size_t cap = f->cap > 0 ? f->cap : 64 * 1024;
	while (cap - f->len < n)
		cap *= 2;
	char *buf = realloc(f->buf, cap);
	if (buf == NULL)
		return false;
	f->buf = buf;
	f->cap = cap;
	return true;
}

/*
 * A record was left torn in a regular file by a failed write: cut it back,
 * so the file holds only whole records and the retry writes it whole.
 */
static void
file_cut_back(struct output_file *f)
{
	struct stat st;

	if (f->torn == 0 || !f->regular || f->fd < 0)
		return;
	if (fstat(f->fd, &st) == 0 && (size_t)st.st_size >= f->torn &&
	    ftruncate(f->fd, st.st_size - (off_t)f->torn) == 0) {
		f->out.c.bytes -= f->torn;
		f->torn = 0;
	}
}

/* Shrink the held buffer back once a backlog is gone. */
static void
file_shrink(struct output_file *f)
{
	if (f->len == 0 && f->cap > 1024 * 1024) {
		free(f->buf);
		f->buf = NULL;
		f->cap = 0;
	}
}

/* Hold n bytes at p, the first torn of them already written. */
static void
file_hold(struct output_file *f, const char *p, size_t n, size_t torn)
{
	if (!file_room(f, n)) {
		unsigned long long lost = record_count(RECORD_TEXT, p, n);
		f->out.c.lost += lost;
		report("output %s: out of memory: %llu records lost",
		    file_name(f), lost);
		return;
	}
	if (f->len == 0)
		f->torn = torn;
	memcpy(f->buf + f->len, p, n);
	f->len += n;
}

/*
 * After a failed write or open: EPIPE (the reader is gone, and a pipe
 * never heals) ends the output unless a reopen may bring a new one; any
 * other error is said once and retried every second.
 */
static void
file_failed(struct output_file *f)
{
	int e = f->out.error;
	bool was = f->out.state == OUTPUT_FAILED;

	f->out.c.errors++;
	file_cut_back(f);
	if (e == EPIPE && !f->reopen_pending) {
		f->out.state = OUTPUT_DONE;
		f->out.c.lost += record_count(RECORD_TEXT, f->buf, f->len);
		f->len = f->torn = 0;
		f->out.held = 0;
		event_del(f->write_ev);
		evtimer_del(f->retry_ev);
		return;
	}
	if (!was || f->said != e)
		report("output %s: %s; holding %zu bytes of records, "
		       "retrying every %lds",
		    file_name(f), strerror(e), f->len,
		    (long)output_retry.tv_sec);
	f->said = e;
	f->out.state = OUTPUT_FAILED;
	evtimer_add(f->retry_ev, &output_retry);
}

/*
 * Write n bytes of whole records at p, and hold what could not be written,
 * from the start of the record the write stopped in.
 */
static void
file_send(struct output_file *f, const char *p, size_t n)
{
	bool again;
	size_t off = file_write(f, p, n, &again);

	if (off == n)
		return;
	/* Keep from the start of the record the write stopped in. */
	const char *lf = off > 0 ? memrchr(p, '\n', off) : NULL;
	size_t keep = lf != NULL ? (size_t)(lf - p) + 1 : 0;
	file_hold(f, p + keep, n - keep, off - keep);
}

/* Write what is held, keeping the rest from the start of its record. */
static void
file_flush_held(struct output_file *f)
{
	bool again;

	if (f->len == 0)
		return;
	size_t off =
	    f->torn + file_write(f, f->buf + f->torn, f->len - f->torn, &again);
	const char *lf = off > 0 ? memrchr(f->buf, '\n', off) : NULL;
	size_t keep = lf != NULL ? (size_t)(lf - f->buf) + 1 : 0;

	memmove(f->buf, f->buf + keep, f->len - keep);
	f->len -= keep;
	f->torn = off - keep;
}

/* Write what is held (opening a FIFO that had no reader first), and say
 * what came of it. */
static void
file_try(struct output_file *f)
{
	f->out.error = 0;
	if (f->fd < 0) {
		int fd = file_open_path(f->path);
		if (fd < 0) {
			f->out.error = errno;
			file_failed(f);
			return;
		}
		file_adopt(f, fd, true);
		file_watch(f);
	}
	file_flush_held(f);
	f->out.held = f->len;
	if (f->out.error != 0) {
		file_failed(f);
		return;
	}
	if (f->out.state == OUTPUT_FAILED) {
		report("output %s: writing again", file_name(f));
		f->out.state = OUTPUT_OK;
		f->said = 0;
	}
	if (f->len > 0)
		file_wait(f);
	else
		file_shrink(f);
}

/* The batch of the loop pass (see output.h). */
static void
output_file_take(struct output *o, const char *buf, size_t len)
{
	struct output_file *f = (struct output_file *)o;

	if (o->state == OUTPUT_DONE) {
		o->c.lost += record_count(RECORD_TEXT, buf, len);
		return;
	}
	if (f->len > 0 || f->fd < 0 || o->state == OUTPUT_FAILED) {
		/* Behind already: queue it after what is held, and write
		 * unless a write event or the retry timer will. */
		file_hold(f, buf, len, 0);
		o->held = f->len;
		if (o->state == OUTPUT_OK &&
		    !event_pending(f->write_ev, EV_WRITE, NULL))
			file_try(f);
		return;
	}
	file_send(f, buf, len);
	o->held = f->len;
	if (o->error != 0)
		file_failed(f);
	else if (f->len > 0)
		file_wait(f);
}

/* The descriptor can take more, or a retry is due. */
static void
output_file_cb(evutil_socket_t fd, short what, void *arg)
{
	struct output_file *f = arg;

	(void)fd;
	(void)what;
	if (f->reopen_pending)
		f->out.ops->reopen(&f->out);
	else
		file_try(f);
	f->out.held = f->len;
	if (f->out.changed != NULL)
		f->out.changed(&f->out, f->out.arg);
}

/*
 * SIGHUP: open the path anew (log rotation). What is held goes to the old
 * file first, as much as it takes at once; a torn record is cut back out of
 * it and written whole to the new one. When the open fails the old
 * descriptor stays in use and the open is retried every second.
 */
static void
output_file_reopen(struct output *o)
{
	struct output_file *f = (struct output_file *)o;

	if (f->path == NULL || o->state == OUTPUT_DONE)
		return;
	int fd = file_open_path(f->path);
	if (fd < 0) {
		int e = errno;
		o->c.errors++;
		if (!f->reopen_pending || f->reopen_error != e)
			report("reopen %s: %s; retrying every %lds", f->path,
			    strerror(e), (long)output_retry.tv_sec);
		f->reopen_pending = true;
		f->reopen_error = e;
		evtimer_add(f->retry_ev, &output_retry);
		return;
	}
	if (f->fd >= 0 && o->state == OUTPUT_OK)
		file_flush_held(f);
	file_cut_back(f);
	f->torn = 0; /* a pipe's torn record goes whole to the new file */
	file_close_fd(f);
	file_adopt(f, fd, true);
	file_watch(f);
	if (f->reopen_pending)
		report("output %s: reopened", f->path);
	f->reopen_pending = false;
	f->reopen_error = 0;
	evtimer_del(f->retry_ev);
	o->error = 0;
	file_try(f);
}

/* Shutdown gave up: count what is held as lost (see output.h). */
static void
output_file_abandon(struct output *o)
{
	struct output_file *f = (struct output_file *)o;

	file_cut_back(f);
	o->c.lost += record_count(RECORD_TEXT, f->buf, f->len);
	f->len = f->torn = 0;
	o->held = 0;
	o->state = OUTPUT_DONE;
	event_del(f->write_ev);
	evtimer_del(f->retry_ev);
}

/* Close and free (see output.h). */
static void
output_file_free(struct output *o)
{
	struct output_file *f = (struct output_file *)o;

	file_cut_back(f);
	file_close_fd(f);
	if (f->write_ev != NULL)
		event_free(f->write_ev);
	if (f->retry_ev != NULL)
		event_free(f->retry_ev);
	free(f->buf);
	free(f);
}

static const struct output_ops output_file_ops = {
    .take = output_file_take,
    .reopen = output_file_reopen,
    .abandon = output_file_abandon,
    .free = output_file_free,
};

/* Open a file output (see output.h). */
struct output *
output_file_open(struct event_base *base, const char *path, enum record_fmt fmt)
{
	struct output_file *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return NULL;
	f->out.ops = &output_file_ops;
	f->base = base;
	f->path = strcmp(path, "-") == 0 ? NULL : path;
	f->out.name = file_name(f);
	f->out.fmt = fmt;
	f->fd = -1;
	f->write_ev = event_new(base, -1, EV_WRITE, output_file_cb, f);
	f->retry_ev = evtimer_new(base, output_file_cb, f);
	if (f->write_ev == NULL || f->retry_ev == NULL) {
		output_file_free(&f->out);
		errno = ENOMEM;
		return NULL;
	}
	if (f->path == NULL) {
		file_adopt(f, STDOUT_FILENO, false);
	} else {
		int fd = file_open_path(f->path);
		if (fd < 0 && errno != ENXIO) {
			int e = errno;
			output_file_free(&f->out);
			errno = e;
			return NULL;
		}
		/* ENXIO: a FIFO nobody reads yet; the first write opens it. */
		if (fd >= 0)
			file_adopt(f, fd, true);
	}
	if (f->fd >= 0)
		file_watch(f);
	return &f->out;
}
