/*
 * The output interface: where records leave the process. The server hands
 * every output the same batch of formatted records once per loop pass; an
 * output writes what it can at once and holds the rest, in order, until it
 * can (or must give up). Flow control reads only the fields below.
 */
#ifndef PEERLOG_OUTPUT_H
#define PEERLOG_OUTPUT_H

#include <stdbool.h>
#include <stddef.h>

#include "record.h"

struct event_base;

enum output_state {
	OUTPUT_OK,     /* takes records; may still be writing what it holds */
	OUTPUT_FAILED, /* a write or an open failed: held, retried every 1 s */
	OUTPUT_DONE,   /* can never take records again (its reader is gone) */
};

/* What an output did since start: the counter snapshot reads these. */
struct output_counters {
	unsigned long long bytes;  /* written (or confirmed) */
	unsigned long long errors; /* writes or opens that failed */
	unsigned long long lost;   /* records it was given and never wrote */
};

struct output;

struct output_ops {
	/* Take len bytes of whole records: write what can go now, hold the
	 * rest. Never calls the changed callback (the caller checks). */
	void (*take)(struct output *o, const char *buf, size_t len);
	/* Log rotation (SIGHUP): reopen the file at the same path. */
	void (*reopen)(struct output *o);
	/* Shutdown gave up on it: drop what it holds, counting it lost; it
	 * is OUTPUT_DONE from then on. */
	void (*abandon)(struct output *o);
	/* Close and free (writes nothing more). */
	void (*free)(struct output *o);
};

struct output {
	const struct output_ops *ops;
	const char *name;    /* for messages: the path, or "-" */
	enum record_fmt fmt; /* what take() is given: lines, or fields */
	/* Shutdown waits for it while it is OUTPUT_FAILED (it reconnects
	 * on its own), as long as it would for a slow one. */
	bool waits_at_stop;
	enum output_state state;
	int error;   /* errno of the last failure while not OUTPUT_OK */
	size_t held; /* bytes of records held, not yet written */
	struct output_counters c;
	/* Called from the output's own events when held shrank or state
	 * changed, so the server can resume input (or shut down). */
	void (*changed)(struct output *o, void *arg);
	void *arg;
};

/* output_file.c: a file opened for append ("-": standard output), or
 * a FIFO, pipe, socket or terminal written without blocking. NULL with
 * errno set when it cannot be opened (a FIFO with no reader yet is not an
 * error: it is opened once one comes). */
struct output *output_file_open(
    struct event_base *base, const char *path, enum record_fmt fmt);

struct opts;

/* output_redis.c: a Redis stream (--redis), fed RECORD_FIELDS records;
 * NULL with err set when it cannot be made (it need not be reachable). */
struct output *output_redis_open(
    struct event_base *base, const struct opts *o, char *err, size_t errlen);

#endif
