/* The names counters are shown by: a record's PROTO, a reject's reason=
 * (see counters.h). Pure: the stats record and the metrics page share them. */
#include "counters.h"

/* The PROTO text of a listener kind (see counters.h). */
const char *
counters_proto_name(enum proto p)
{
	static const char *const names[PROTO_N] = {"tcp", "udp", "tls"};

	return names[p];
}

/* The reason= text of a reject (see counters.h). */
const char *
counters_reject_name(enum reject_reason r)
{
	static const char *const names[REJECT_N] = {"acl", "max-clients",
	    "max-per-source", "error", "tls", "client-name",
	    "handshake-timeout", "proxy"};

	return names[r];
}
