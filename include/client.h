/* peerlog's client: sends standard input to the server, one line a message. */
#ifndef PEERLOG_CLIENT_H
#define PEERLOG_CLIENT_H

#include "opts.h"

struct event_base;

/*
 * Connect to o->host/o->port and run the client on base until input ends and
 * the server has it all (0), or the server goes away or an error occurs (1,
 * after one "peerlog: ..." line on standard error). Frees all it made; the
 * caller frees base.
 */
int client_run(struct event_base *base, const struct client_opts *o);

#endif
