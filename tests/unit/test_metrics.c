/* Unit tests of metrics.c: the exact page for a known snapshot, snprintf's
 * contract for a short buffer, label values escaped, no outputs. */
#include <stdlib.h>

#include "metrics.h"
#include "tap.h"

/* A snapshot with a different number in every field. */
static void
known_snapshot(struct counters_snapshot *snap)
{
	memset(snap, 0, sizeof(*snap));
	snap->c.proto[PROTO_TCP].connects = 3;
	snap->c.proto[PROTO_TCP].msgs = 10;
	snap->c.proto[PROTO_TCP].bytes = 120;
	snap->c.proto[PROTO_TCP].clients = 1;
	snap->c.proto[PROTO_UDP].msgs = 4;
	snap->c.proto[PROTO_UDP].bytes = 40;
	snap->c.proto[PROTO_TLS].connects = 2;
	snap->c.proto[PROTO_TLS].msgs = 5;
	snap->c.proto[PROTO_TLS].bytes = 55;
	snap->c.proto[PROTO_TLS].clients = 8;
	snap->c.rejects[REJECT_ACL] = 1;
	snap->c.rejects[REJECT_MAX_CLIENTS] = 2;
	snap->c.rejects[REJECT_PROXY] = 7;
	snap->c.udp_dropped_acl = 6;
	snap->udp_dropped_kernel = 9;
	snap->c.records_lost = 11;
	snap->c.paused_ms = 12345;
	snap->noutputs = 2;
	snap->outputs[0].name = "/var/log/peer.log";
	snap->outputs[0].c.bytes = 9999;
	snap->outputs[0].c.errors = 1;
	snap->outputs[0].held = 512;
	snap->outputs[1].name = "-";
	snap->outputs[1].c.bytes = 18446744073709551615ull;
	snap->outputs[1].c.lost = 13;
}

static const struct metrics_process proc = {1700000000123ull, "0.1.0"};

/* The page of known_snapshot, as Prometheus should read it. */
static const char known_page[] =
    "# HELP peerlogd_build_info The peerlogd that runs: its version as a "
    "label, value 1.\n"
    "# TYPE peerlogd_build_info gauge\n"
    "peerlogd_build_info{version=\"0.1.0\"} 1\n"
    "# HELP peerlogd_start_time_seconds When peerlogd started, in seconds "
    "since the Unix epoch.\n"
    "# TYPE peerlogd_start_time_seconds gauge\n"
    "peerlogd_start_time_seconds 1700000000.123\n"
    "# HELP peerlogd_connections_total Clients served since start (TCP, and "
    "TLS once the handshake is done), by listener kind.\n"
    "# TYPE peerlogd_connections_total counter\n"
    "peerlogd_connections_total{proto=\"tcp\"} 3\n"
    "peerlogd_connections_total{proto=\"tls\"} 2\n"
    "# HELP peerlogd_clients Clients connected now, by listener kind.\n"
    "# TYPE peerlogd_clients gauge\n"
    "peerlogd_clients{proto=\"tcp\"} 1\n"
    "peerlogd_clients{proto=\"tls\"} 8\n"
    "# HELP peerlogd_rejects_total Connections refused since start, by "
    "reason (also those whose reject record was held back).\n"
    "# TYPE peerlogd_rejects_total counter\n"
    "peerlogd_rejects_total{reason=\"acl\"} 1\n"
    "peerlogd_rejects_total{reason=\"max-clients\"} 2\n"
    "peerlogd_rejects_total{reason=\"max-per-source\"} 0\n"
    "peerlogd_rejects_total{reason=\"error\"} 0\n"
    "peerlogd_rejects_total{reason=\"tls\"} 0\n"
    "peerlogd_rejects_total{reason=\"client-name\"} 0\n"
    "peerlogd_rejects_total{reason=\"handshake-timeout\"} 0\n"
    "peerlogd_rejects_total{reason=\"proxy\"} 7\n"
    "# HELP peerlogd_messages_total Messages received since start (msg and "
    "msg+ records), by listener kind.\n"
    "# TYPE peerlogd_messages_total counter\n"
    "peerlogd_messages_total{proto=\"tcp\"} 10\n"
    "peerlogd_messages_total{proto=\"udp\"} 4\n"
    "peerlogd_messages_total{proto=\"tls\"} 5\n"
    "# HELP peerlogd_received_bytes_total Bytes received from clients since "
    "start (TLS: decrypted), by listener kind.\n"
    "# TYPE peerlogd_received_bytes_total counter\n"
    "peerlogd_received_bytes_total{proto=\"tcp\"} 120\n"
    "peerlogd_received_bytes_total{proto=\"udp\"} 40\n"
    "peerlogd_received_bytes_total{proto=\"tls\"} 55\n"
    "# HELP peerlogd_udp_dropped_total UDP datagrams dropped since start: acl "
    "(refused by --allow), kernel (no room in the socket's receive "
    "buffer).\n"
    "# TYPE peerlogd_udp_dropped_total counter\n"
    "peerlogd_udp_dropped_total{reason=\"acl\"} 6\n"
    "peerlogd_udp_dropped_total{reason=\"kernel\"} 9\n"
    "# HELP peerlogd_records_lost_total Records never made since start: "
    "memory ran out, or shutdown gave up on the outputs.\n"
    "# TYPE peerlogd_records_lost_total counter\n"
    "peerlogd_records_lost_total 11\n"
    "# HELP peerlogd_output_bytes_total Bytes of records the output has "
    "written since start.\n"
    "# TYPE peerlogd_output_bytes_total counter\n"
    "peerlogd_output_bytes_total{output=\"/var/log/peer.log\"} 9999\n"
    "peerlogd_output_bytes_total{output=\"-\"} 18446744073709551615\n"
    "# HELP peerlogd_output_pending_bytes Bytes of records the output holds, "
    "not yet written.\n"
    "# TYPE peerlogd_output_pending_bytes gauge\n"
    "peerlogd_output_pending_bytes{output=\"/var/log/peer.log\"} 512\n"
    "peerlogd_output_pending_bytes{output=\"-\"} 0\n"
    "# HELP peerlogd_output_errors_total Writes and opens of the output that "
    "failed since start.\n"
    "# TYPE peerlogd_output_errors_total counter\n"
    "peerlogd_output_errors_total{output=\"/var/log/peer.log\"} 1\n"
    "peerlogd_output_errors_total{output=\"-\"} 0\n"
    "# HELP peerlogd_output_lost_records_total Records given to the output "
    "that it never wrote (given up at shutdown).\n"
    "# TYPE peerlogd_output_lost_records_total counter\n"
    "peerlogd_output_lost_records_total{output=\"/var/log/peer.log\"} 0\n"
    "peerlogd_output_lost_records_total{output=\"-\"} 13\n"
    "# HELP peerlogd_paused_seconds_total Time input was stopped since start "
    "because an output was behind, in seconds.\n"
    "# TYPE peerlogd_paused_seconds_total counter\n"
    "peerlogd_paused_seconds_total 12.345\n";

/* The page of a known snapshot, byte for byte. */
static void
test_known_page(void)
{
	struct counters_snapshot snap;
	char buf[8192];

	known_snapshot(&snap);
	size_t n = metrics_render(buf, sizeof(buf), &snap, &proc);
	is_mem(buf, n, known_page, sizeof(known_page) - 1,
	    "known: the page of a known snapshot");
	is_size(strlen(buf), n, "known: NUL-terminated at its length");
}

/* A buffer too short: the whole length all the same, the part that fits
 * (cut one byte early for the NUL), nothing written past cap. */
static void
test_short_buffer(void)
{
	struct counters_snapshot snap;
	size_t whole = sizeof(known_page) - 1;
	char buf[64 + 8];

	known_snapshot(&snap);
	is_size(metrics_render(NULL, 0, &snap, &proc), whole,
	    "short: cap 0 (dst NULL) measures the page");
	memset(buf, 'X', sizeof(buf));
	is_size(metrics_render(buf, 64, &snap, &proc), whole,
	    "short: cap 64 still returns the whole length");
	is_mem(buf, strlen(buf), known_page, 63,
	    "short: the first 63 bytes, then the NUL");
	is_mem(buf + 64, 8, "XXXXXXXX", 8, "short: nothing past cap");
	char *exact = malloc(whole + 1);
	if (exact != NULL) {
		exact[whole] = 'X';
		is_size(metrics_render(exact, whole, &snap, &proc), whole,
		    "short: cap == length returns the length");
		ok(exact[whole - 1] == '\0' && exact[whole] == 'X',
		    "short: and is cut one byte short, for the NUL");
		is_size(metrics_render(exact, whole + 1, &snap, &proc), whole,
		    "short: cap == length + 1 fits");
		is_str(exact, known_page, "short: and is the page");
		free(exact);
	}
}

/* Label values: backslash, double quote and LF escaped, valid UTF-8 as it
 * is, a byte that is not UTF-8 as U+FFFD. */
static void
test_escape(void)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
	    {"", ""},
	    {"/var/log/peer.log", "/var/log/peer.log"},
	    {"a\\b", "a\\\\b"},
	    {"say \"hi\"", "say \\\"hi\\\""},
	    {"two\nlines", "two\\nlines"},
	    {"\\\"\n", "\\\\\\\"\\n"},
	    {"tab\tand cr\r", "tab\tand cr\r"},
	    {"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x93\x9c",
	        "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x93\x9c"},
	    {"bad\xff", "bad\xef\xbf\xbd"},
	    {"\xc3", "\xef\xbf\xbd"},
	    {"\xc0\xaf", "\xef\xbf\xbd\xef\xbf\xbd"},
	    {"\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},
	    {"redis://h:6379/0", "redis://h:6379/0"},
	};
	char buf[128];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t n = metrics_escape(buf, sizeof(buf), cases[i].in);
		is_mem(buf, n, cases[i].out, strlen(cases[i].out),
		    "escape: case %zu", i);
	}
	is_size(metrics_escape(buf, 3, "a\"b"), 4,
	    "escape: the escaped length whatever cap is");
	is_str(buf, "a\\", "escape: cut at cap - 1, NUL-terminated");
}

/* An output named with the characters to escape, in its samples. */
static void
test_escaped_output_name(void)
{
	struct counters_snapshot snap;
	char buf[8192];

	known_snapshot(&snap);
	snap.noutputs = 1;
	snap.outputs[0].name = "/tmp/a \"b\"\\c\nd";
	metrics_render(buf, sizeof(buf), &snap, &proc);
	ok(strstr(buf, "peerlogd_output_bytes_total{output=\"/tmp/a "
	               "\\\"b\\\"\\\\c\\nd\"} 9999\n") != NULL,
	    "escaped name: the sample's label value is escaped");
	ok(strstr(buf, "\nd\"") == NULL,
	    "escaped name: no raw LF inside a label value");
}

/* No outputs: the output families are declared and have no samples. */
static void
test_no_outputs(void)
{
	struct counters_snapshot snap;
	char buf[8192];

	known_snapshot(&snap);
	snap.noutputs = 0;
	metrics_render(buf, sizeof(buf), &snap, &proc);
	ok(strstr(buf, "# TYPE peerlogd_output_bytes_total counter\n"
	               "# HELP peerlogd_output_pending_bytes") != NULL,
	    "no outputs: a family without samples");
	ok(strstr(buf, "{output=") == NULL, "no outputs: no output label");
}

/* Every line is a HELP, a TYPE or a sample of the family declared last,
 * and counters end in _total. */
static void
test_shape(void)
{
	struct counters_snapshot snap;
	char buf[8192], family[128] = "", type[16] = "";
	bool good = true;

	known_snapshot(&snap);
	metrics_render(buf, sizeof(buf), &snap, &proc);
	for (char *line = buf, *next; *line != '\0'; line = next + 1) {
		next = strchr(line, '\n');
		if (next == NULL) {
			good = false;
			diag("the page does not end in LF");
			break;
		}
		*next = '\0';
		char name[128];
		if (sscanf(line, "# HELP %127s", name) == 1) {
			snprintf(family, sizeof(family), "%s", name);
			type[0] = '\0';
		} else if (sscanf(line, "# TYPE %127s %15s", name, type) == 2) {
			if (strcmp(name, family) != 0)
				good = false;
			size_t n = strlen(name);
			if (strcmp(type, "counter") == 0 &&
			    (n < 6 || strcmp(name + n - 6, "_total") != 0))
				good = false;
		} else {
			size_t n = strlen(family);
			if (type[0] == '\0' || strncmp(line, family, n) != 0 ||
			    (line[n] != ' ' && line[n] != '{'))
				good = false;
		}
		if (!good) {
			diag("bad line: %s", line);
			break;
		}
	}
	ok(good, "shape: HELP, TYPE, then that family's samples");
}

/* Run every metrics test. */
int
main(void)
{
	test_known_page();
	test_short_buffer();
	test_escape();
	test_escaped_output_name();
	test_no_outputs();
	test_shape();
	return done_testing();
}
