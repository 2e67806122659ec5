/* The record output: one flat buffer written to a file or standard output in
 * large batches. Knows nothing of records or the event loop. */
#ifndef PEERLOG_SINK_H
#define PEERLOG_SINK_H

#include <stdbool.h>
#include <stddef.h>

struct sink {
	int fd;
	const char *path; /* NULL: standard output */
	char *buf;
	size_t len;  /* bytes held, not yet written */
	size_t cap;  /* bytes allocated */
	size_t soft; /* past this the sink counts as full: write first */
	int error;   /* errno of the last failed write, 0 when writing works */
	bool own_fd; /* fd is ours to close */
	bool nonblock;  /* a pipe, socket or terminal: EAGAIN when it is full */
	bool is_socket; /* written with send(MSG_DONTWAIT) */
	unsigned long long written; /* bytes written in all */
};

/*
 * Open the output: path "-" is standard output, anything else a file opened
 * for append and created if missing. soft is the batch size. Returns 0, or
 * -1 with errno set.
 */
int sink_open(struct sink *k, const char *path, size_t soft);

/* sink_reserve's slow path: realloc to fit need more bytes, or NULL. */
char *sink_grow(struct sink *k, size_t need);

/* Room for need bytes at the end of the buffer, growing it; NULL if memory
 * is exhausted. The bytes count once sink_commit says how many were used.
 * Inline: it is on the per-message path. */
static inline char *
sink_reserve(struct sink *k, size_t need)
{
	if (k->cap - k->len < need)
		return sink_grow(k, need);
	return k->buf + k->len;
}

/* Count len bytes written at the sink_reserve pointer as held. */
static inline void
sink_commit(struct sink *k, size_t len)
{
	k->len += len;
}

/* Whether the sink holds a batch's worth (or more) and should be written. */
static inline bool
sink_full(const struct sink *k)
{
	return k->len >= k->soft;
}

/*
 * Write everything held. Returns 0 when all was written, -1 when a write
 * failed (k->error says why; what was not written is kept, in order).
 */
int sink_flush(struct sink *k);

/*
 * Write everything held, waiting for a slow output, but giving up when it
 * takes nothing for timeout_ms (k->error is then ETIMEDOUT). Returns 0 or
 * -1 like sink_flush.
 */
int sink_drain(struct sink *k, int timeout_ms);

/* Reopen the file at the same path (log rotation); a no-op for standard
 * output. Held bytes go to the old file first. Returns 0 or -1 (errno). */
int sink_reopen(struct sink *k);

/* Close the output and free the buffer (does not write). */
void sink_close(struct sink *k);

#endif
