/* The server's counters, and the one snapshot that renders them. */
#ifndef PEERLOG_COUNTERS_H
#define PEERLOG_COUNTERS_H

#include <stddef.h>

#include "output.h"

/* The kinds of listener: a record's PROTO. */
enum proto { PROTO_TCP, PROTO_UDP, PROTO_TLS, PROTO_N };

/* Why a connection was refused: a reject record's reason=. */
enum reject_reason {
	REJECT_ACL,
	REJECT_MAX_CLIENTS,
	REJECT_MAX_PER_SOURCE,
	REJECT_ERROR,
	REJECT_TLS,
	REJECT_CLIENT_NAME,
	REJECT_HANDSHAKE_TIMEOUT,
	REJECT_PROXY,
	REJECT_N,
};

/* Counted where it happens, by the module that sees it. */
struct counters {
	struct {
		unsigned long long connects; /* clients served */
		unsigned long long msgs;
		unsigned long long bytes;
		size_t clients; /* connected now */
	} proto[PROTO_N];
	unsigned long long rejects[REJECT_N];
	unsigned long long udp_dropped_acl; /* refused by --allow */
	unsigned long long records_lost;    /* never made: no memory, or
	                                     * shutdown gave up */
	unsigned long long paused_ms;       /* input stopped for the output */
};

/* Everything at one moment: the stats record and metrics render this. */
struct counters_snapshot {
	struct counters c;
	unsigned long long udp_dropped_kernel;
	size_t noutputs;
	struct {
		const char *name;
		struct output_counters c;
		size_t held;
	} outputs[4];
};

/* The PROTO text of a listener kind; the reason= text of a reject. */
const char *counters_proto_name(enum proto p);
const char *counters_reject_name(enum reject_reason r);

#endif
