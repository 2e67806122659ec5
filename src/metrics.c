/*
 * The metrics page (see metrics.h): every family with its HELP and TYPE
 * lines, then its samples, in the Prometheus text format 0.0.4. Nothing of
 * a peer is shown: labels are listener kinds, reasons and output names.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "escape.h"
#include "metrics.h"

/* The page being written: what fits in dst, and its whole length. */
struct page {
	char *dst;
	size_t cap;
	size_t len;
};

/* Append n bytes (those beyond cap are only counted). */
static void
page_put(struct page *pg, const char *s, size_t n)
{
	if (pg->len < pg->cap) {
		size_t room = pg->cap - pg->len;
		memcpy(pg->dst + pg->len, s, n < room ? n : room);
	}
	pg->len += n;
}

/* Append a C string. */
static void
page_str(struct page *pg, const char *s)
{
	page_put(pg, s, strlen(s));
}

/* Append an unsigned number in decimal. */
static void
page_num(struct page *pg, unsigned long long v)
{
	char buf[24];
	int n = snprintf(buf, sizeof(buf), "%llu", v);

	page_put(pg, buf, (size_t)n);
}

/* Append milliseconds as seconds with three decimals ("12.034"). */
static void
page_ms(struct page *pg, unsigned long long ms)
{
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "%llu.%03llu", ms / 1000, ms % 1000);

	page_put(pg, buf, (size_t)n);
}

/*
 * Append a label value escaped: backslash, double quote and LF as the
 * format wants them; a byte that does not begin valid UTF-8 becomes
 * U+FFFD, since the format is UTF-8 and Prometheus refuses a page that is
 * not (a path may hold any bytes).
 */
static void
page_escaped(struct page *pg, const char *value)
{
	const unsigned char *p = (const unsigned char *)value;
	size_t n = strlen(value);

	for (size_t i = 0; i < n;) {
		if (p[i] >= 0x80) {
			size_t len = escape_utf8_len(p + i, n - i);
			if (len == 0) {
				page_str(pg, "\xef\xbf\xbd");
				i++;
			} else {
				page_put(pg, (const char *)p + i, len);
				i += len;
			}
			continue;
		}
		if (p[i] == '\\')
			page_str(pg, "\\\\");
		else if (p[i] == '"')
			page_str(pg, "\\\"");
		else if (p[i] == '\n')
			page_str(pg, "\\n");
		else
			page_put(pg, (const char *)p + i, 1);
		i++;
	}
}

/* End the page: NUL-terminated if it fits, else cut at cap - 1. */
static size_t
page_end(struct page *pg)
{
	if (pg->len < pg->cap)
		pg->dst[pg->len] = '\0';
	else if (pg->cap > 0)
		pg->dst[pg->cap - 1] = '\0';
	return pg->len;
}

/* A family's HELP and TYPE lines. */
static void
page_family(
    struct page *pg, const char *name, const char *type, const char *help)
{
	page_str(pg, "# HELP ");
	page_str(pg, name);
	page_str(pg, " ");
	page_str(pg, help);
	page_str(pg, "\n# TYPE ");
	page_str(pg, name);
	page_str(pg, " ");
	page_str(pg, type);
	page_str(pg, "\n");
}

/* A sample's name and its one label (none when label is NULL), up to the
 * space before the value. */
static void
page_sample(
    struct page *pg, const char *name, const char *label, const char *value)
{
	page_str(pg, name);
	if (label != NULL) {
		page_str(pg, "{");
		page_str(pg, label);
		page_str(pg, "=\"");
		page_escaped(pg, value);
		page_str(pg, "\"}");
	}
	page_str(pg, " ");
}

/* One sample with a whole number as its value. */
static void
page_count(struct page *pg, const char *name, const char *label,
    const char *value, unsigned long long v)
{
	page_sample(pg, name, label, value);
	page_num(pg, v);
	page_str(pg, "\n");
}

/* What a proto-labelled family counts, read from a snapshot. */
enum proto_field { FIELD_CONNECTS, FIELD_CLIENTS, FIELD_MSGS, FIELD_BYTES };

/* A family labelled by listener kind; TCP and TLS only when udp is false
 * (datagrams have no connections). */
static void
page_protos(struct page *pg, const struct counters_snapshot *snap,
    const char *name, const char *type, const char *help,
    enum proto_field field, bool udp)
{
	page_family(pg, name, type, help);
	for (int p = 0; p < PROTO_N; p++) {
		unsigned long long v = 0;
		if (p == PROTO_UDP && !udp)
			continue;
		switch (field) {
		case FIELD_CONNECTS:
			v = snap->c.proto[p].connects;
			break;
		case FIELD_CLIENTS:
			v = snap->c.proto[p].clients;
			break;
		case FIELD_MSGS:
			v = snap->c.proto[p].msgs;
			break;
		case FIELD_BYTES:
			v = snap->c.proto[p].bytes;
			break;
		}
		page_count(pg, name, "proto", counters_proto_name(p), v);
	}
}

/* What an output-labelled family counts. */
enum output_field { FIELD_OBYTES, FIELD_HELD, FIELD_ERRORS, FIELD_LOST };

/* A family labelled by output name, one sample per output. */
static void
page_outputs(struct page *pg, const struct counters_snapshot *snap,
    const char *name, const char *type, const char *help,
    enum output_field field)
{
	size_t n = snap->noutputs;
	size_t max = sizeof(snap->outputs) / sizeof(snap->outputs[0]);

	page_family(pg, name, type, help);
	for (size_t i = 0; i < n && i < max; i++) {
		unsigned long long v = 0;
		switch (field) {
		case FIELD_OBYTES:
			v = snap->outputs[i].c.bytes;
			break;
		case FIELD_HELD:
			v = snap->outputs[i].held;
			break;
		case FIELD_ERRORS:
			v = snap->outputs[i].c.errors;
			break;
		case FIELD_LOST:
			v = snap->outputs[i].c.lost;
			break;
		}
		page_count(pg, name, "output", snap->outputs[i].name, v);
	}
}

/* The page (see metrics.h). */
size_t
metrics_render(char *dst, size_t cap, const struct counters_snapshot *snap,
    const struct metrics_process *p)
{
	struct page pg = {dst, cap, 0};

	page_family(&pg, "peerlogd_build_info", "gauge",
	    "The peerlogd that runs: its version as a label, value 1.");
	page_count(&pg, "peerlogd_build_info", "version", p->version, 1);
	page_family(&pg, "peerlogd_start_time_seconds", "gauge",
	    "When peerlogd started, in seconds since the Unix epoch.");
	page_sample(&pg, "peerlogd_start_time_seconds", NULL, NULL);
	page_ms(&pg, p->start_ms);
	page_str(&pg, "\n");

	page_protos(&pg, snap, "peerlogd_connections_total", "counter",
	    "Clients served since start (TCP, and TLS once the handshake is "
	    "done), by listener kind.",
	    FIELD_CONNECTS, false);
	page_protos(&pg, snap, "peerlogd_clients", "gauge",
	    "Clients connected now, by listener kind.", FIELD_CLIENTS, false);
	page_family(&pg, "peerlogd_rejects_total", "counter",
	    "Connections refused since start, by reason (also those whose "
	    "reject record was held back).");
	for (int r = 0; r < REJECT_N; r++)
		page_count(&pg, "peerlogd_rejects_total", "reason",
		    counters_reject_name(r), snap->c.rejects[r]);
	page_protos(&pg, snap, "peerlogd_messages_total", "counter",
	    "Messages received since start (msg and msg+ records), by "
	    "listener kind.",
	    FIELD_MSGS, true);
	page_protos(&pg, snap, "peerlogd_received_bytes_total", "counter",
	    "Bytes received from clients since start (TLS: decrypted), by "
	    "listener kind.",
	    FIELD_BYTES, true);
	page_family(&pg, "peerlogd_udp_dropped_total", "counter",
	    "UDP datagrams dropped since start: acl (refused by --allow), "
	    "kernel (no room in the socket's receive buffer).");
	page_count(&pg, "peerlogd_udp_dropped_total", "reason", "acl",
	    snap->c.udp_dropped_acl);
	page_count(&pg, "peerlogd_udp_dropped_total", "reason", "kernel",
	    snap->udp_dropped_kernel);
	page_family(&pg, "peerlogd_records_lost_total", "counter",
	    "Records never made since start: memory ran out, or shutdown "
	    "gave up on the outputs.");
	page_count(&pg, "peerlogd_records_lost_total", NULL, NULL,
	    snap->c.records_lost);

	page_outputs(&pg, snap, "peerlogd_output_bytes_total", "counter",
	    "Bytes of records the output has written since start.",
	    FIELD_OBYTES);
	page_outputs(&pg, snap, "peerlogd_output_pending_bytes", "gauge",
	    "Bytes of records the output holds, not yet written.", FIELD_HELD);
	page_outputs(&pg, snap, "peerlogd_output_errors_total", "counter",
	    "Writes and opens of the output that failed since start.",
	    FIELD_ERRORS);
	page_outputs(&pg, snap, "peerlogd_output_lost_records_total", "counter",
	    "Records given to the output that it never wrote (given up at "
	    "shutdown).",
	    FIELD_LOST);
	page_family(&pg, "peerlogd_paused_seconds_total", "counter",
	    "Time input was stopped since start because an output was "
	    "behind, in seconds.");
	page_sample(&pg, "peerlogd_paused_seconds_total", NULL, NULL);
	page_ms(&pg, snap->c.paused_ms);
	page_str(&pg, "\n");
	return page_end(&pg);
}

/* A label value escaped (see metrics.h). */
size_t
metrics_escape(char *dst, size_t cap, const char *value)
{
	struct page pg = {dst, cap, 0};

	page_escaped(&pg, value);
	return page_end(&pg);
}
