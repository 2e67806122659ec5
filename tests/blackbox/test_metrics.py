"""--metrics ADDR: the Prometheus endpoint. The page is parsed strictly here
(every sample's family declared by HELP and TYPE before it, names and labels
well formed, counters ending in _total, values numbers), its counters are
checked against exactly what the tests send, promtool lints it and a real
Prometheus scrapes it. A scraper cannot hold up logging or grow memory."""

import http.client
import os
import re
import signal
import socket
import subprocess
import threading
import time

import pytest

from conftest import (
    VERSION, WAIT, have_ipv6, needs_ipv6, parse_kv, peer_of, proc_status_kib, requires_peerlogd,
    run_peerlogd, sanitized, slow, tcp_connect, tcp_session, udp_send,
    wait_stderr)
from test_backpressure import RawOutput, Sender, wait_stalled

pytestmark = requires_peerlogd

METRICS_RE = r"peerlogd: listening metrics (\S+)"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
CONN_MAX = 8  # METRICS_CONN_MAX

# What SPEC's "Running as a service" lists, with each family's type.
SPEC_FAMILIES = {
    "peerlogd_connections_total": "counter",
    "peerlogd_rejects_total": "counter",
    "peerlogd_clients": "gauge",
    "peerlogd_messages_total": "counter",
    "peerlogd_received_bytes_total": "counter",
    "peerlogd_udp_dropped_total": "counter",
    "peerlogd_output_bytes_total": "counter",
    "peerlogd_output_pending_bytes": "gauge",
    "peerlogd_output_errors_total": "counter",
    "peerlogd_paused_seconds_total": "counter",
    "peerlogd_start_time_seconds": "gauge",
    "peerlogd_build_info": "gauge",
}
REJECT_REASONS = ["acl", "max-clients", "max-per-source", "error", "tls",
                  "client-name", "handshake-timeout", "proxy"]
LABEL_NAMES = {"proto", "reason", "output", "version"}


# --- a strict parser of the text format, version 0.0.4 ---------------------

NAME_RE = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL_RE = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
VALUE_RE = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|[+-]Inf|NaN")
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}


def parse_labels(text, line):
    """'a="x",b="y\\"z"' -> {"a": "x", "b": 'y"z'}; only \\\\, \\" and \\n
    escapes, no duplicates, nothing left over."""
    labels = {}
    i = 0
    while i < len(text):
        m = LABEL_RE.match(text, i)
        assert m, f"bad label name at {text[i:]!r} in {line!r}"
        name = m.group(0)
        i = m.end()
        assert text[i:i + 2] == '="', f"label {name} has no =\" in {line!r}"
        i += 2
        value = []
        while True:
            assert i < len(text), f"label {name} value not closed in {line!r}"
            c = text[i]
            if c == "\\":
                esc = text[i + 1:i + 2]
                assert esc in ("\\", '"', "n"), f"bad escape \\{esc} in {line!r}"
                value.append("\n" if esc == "n" else esc)
                i += 2
            elif c == '"':
                i += 1
                break
            else:
                assert c != "\n"
                value.append(c)
                i += 1
        assert name not in labels, f"label {name} twice in {line!r}"
        labels[name] = "".join(value)
        if i < len(text):
            assert text[i] == ",", f"labels not separated by , in {line!r}"
            i += 1
    return labels


class Page:
    """A parsed page: families {name: (type, help)} in order, and samples
    {(name, frozenset(labels.items())): value}."""

    def __init__(self, text):
        assert text.endswith("\n"), "the page does not end in LF"
        self.text = text
        self.families = {}
        self.samples = {}
        family = None
        for line in text[:-1].split("\n"):
            assert line, "an empty line"
            if line.startswith("#"):
                parts = line.split(" ", 3)
                if len(parts) >= 3 and parts[1] == "HELP":
                    name = parts[2]
                    assert NAME_RE.fullmatch(name), f"bad name in {line!r}"
                    assert name not in self.families, f"{name} declared twice"
                    assert len(parts) == 4 and parts[3], f"empty HELP {line!r}"
                    self.families[name] = [None, parts[3]]
                    family = name
                elif len(parts) >= 3 and parts[1] == "TYPE":
                    assert len(parts) == 4, f"bad TYPE line {line!r}"
                    name, typ = parts[2], parts[3]
                    assert name == family, f"TYPE {name} not after its HELP"
                    assert self.families[name][0] is None, f"{name} TYPE twice"
                    assert typ in TYPES, f"bad type in {line!r}"
                    if typ == "counter":
                        assert name.endswith("_total"), f"counter {name}"
                    self.families[name][0] = typ
                else:
                    raise AssertionError(f"a comment that is no HELP or TYPE: {line!r}")
                continue
            m = re.fullmatch(r"([^{ ]+)(?:\{([^}]*)\})? (\S+)", line)
            assert m, f"not a sample line: {line!r}"
            name, labels, value = m.groups()
            assert NAME_RE.fullmatch(name), f"bad metric name {name!r}"
            assert name == family, f"sample {name} outside its family ({family})"
            assert self.families[name][0] is not None, f"{name} sampled before TYPE"
            assert VALUE_RE.fullmatch(value), f"not a number: {line!r}"
            labels = parse_labels(labels or "", line)
            key = (name, frozenset(labels.items()))
            assert key not in self.samples, f"a sample twice: {line!r}"
            self.samples[key] = float(value)
        for name, (typ, _) in self.families.items():
            assert typ is not None, f"{name} has no TYPE"

    def value(self, name, **labels):
        """The value of one sample (it must exist)."""
        key = (name, frozenset(labels.items()))
        assert key in self.samples, f"no sample {name}{labels}: {self.text}"
        return self.samples[key]

    def labelled(self, name, label):
        """{label value: sample value} of a family with one label."""
        out = {}
        for (n, labels), v in self.samples.items():
            if n == name:
                d = dict(labels)
                assert set(d) == {label}, f"{name} has labels {d}"
                out[d[label]] = v
        return out


# --- helpers ----------------------------------------------------------------

def metrics_server(start_server, *args, **kw):
    """A server with --metrics on a port of its own: (server, (host, port))."""
    args = args or ("-t", "127.0.0.1:0", "-u", "127.0.0.1:0")
    srv = start_server(*args, "--metrics", "127.0.0.1:0", **kw)
    m = wait_stderr(srv, METRICS_RE, "the metrics listening line")
    host, _, port = m.group(1).rpartition(":")
    assert int(port) != 0
    return srv, (host, int(port))


def request(addr, path="/metrics", method="GET", body=None):
    """One HTTP request on a fresh connection: (status, headers, body)."""
    conn = http.client.HTTPConnection(*addr, timeout=WAIT)
    try:
        conn.request(method, path, body=body)
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
    finally:
        conn.close()


def scrape(addr):
    """GET /metrics, checked and parsed."""
    status, headers, body = request(addr)
    assert status == 200, (status, body)
    assert headers["content-type"] == CONTENT_TYPE
    return Page(body.decode("utf-8"))


def wait_page(addr, pred, what, timeout=WAIT):
    """Scrape until pred(page) holds; return that page."""
    deadline = time.monotonic() + timeout
    while True:
        page = scrape(addr)
        if pred(page):
            return page
        assert time.monotonic() < deadline, f"timed out waiting for {what}: {page.text}"
        time.sleep(0.02)


def free_port():
    """A loopback TCP port nobody listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def open_fds(pid):
    """How many descriptors the process has open."""
    return len(os.listdir(f"/proc/{pid}/fd"))


# --- the endpoint -----------------------------------------------------------

def test_metrics_listening_line_names_the_real_port(start_server):
    srv, addr = metrics_server(start_server)
    assert addr[0] == "127.0.0.1"
    with socket.create_connection(addr, timeout=WAIT):
        pass
    assert srv.proc.poll() is None


def test_page_declares_every_family_of_the_spec_with_its_type(start_server):
    _, addr = metrics_server(start_server)
    page = scrape(addr)
    for name, typ in SPEC_FAMILIES.items():
        assert name in page.families, f"{name} missing"
        assert page.families[name][0] == typ, f"{name} is {page.families[name][0]}"


def test_page_labels_are_the_listener_kinds_reasons_and_outputs(start_server):
    srv, addr = metrics_server(start_server)
    page = scrape(addr)
    assert set(page.labelled("peerlogd_messages_total", "proto")) == {"tcp", "udp", "tls"}
    assert set(page.labelled("peerlogd_received_bytes_total", "proto")) == {"tcp", "udp", "tls"}
    assert set(page.labelled("peerlogd_connections_total", "proto")) == {"tcp", "tls"}
    assert set(page.labelled("peerlogd_clients", "proto")) == {"tcp", "tls"}
    assert list(page.labelled("peerlogd_rejects_total", "reason")) == REJECT_REASONS
    assert set(page.labelled("peerlogd_udp_dropped_total", "reason")) == {"acl", "kernel"}
    for fam in ("peerlogd_output_bytes_total", "peerlogd_output_pending_bytes",
                "peerlogd_output_errors_total"):
        assert set(page.labelled(fam, "output")) == {srv.out_path}
    for (_, labels), _ in page.samples.items():
        assert {k for k, _ in labels} <= LABEL_NAMES


def test_build_info_and_start_time(start_server):
    before = time.time()
    _, addr = metrics_server(start_server)
    page = scrape(addr)
    assert page.value("peerlogd_build_info", version=VERSION) == 1
    start = page.value("peerlogd_start_time_seconds")
    assert before - 1 <= start <= time.time()
    # The start does not move.
    assert scrape(addr).value("peerlogd_start_time_seconds") == start


def test_content_type_is_the_text_format_0_0_4(start_server):
    _, addr = metrics_server(start_server)
    status, headers, body = request(addr)
    assert status == 200
    assert headers["content-type"] == CONTENT_TYPE
    assert int(headers["content-length"]) == len(body)


def test_head_answers_the_headers_without_a_body(start_server):
    _, addr = metrics_server(start_server)
    status, headers, body = request(addr, method="HEAD")
    assert status == 200
    assert headers["content-type"] == CONTENT_TYPE
    assert body == b""


def test_a_query_string_is_ignored(start_server):
    _, addr = metrics_server(start_server)
    status, _, body = request(addr, "/metrics?name=peerlogd_clients")
    assert status == 200
    Page(body.decode())


@pytest.mark.parametrize("path", ["/", "/metrics/", "/metricsx", "/favicon.ico",
                                  "/Metrics"])
def test_another_path_is_404(start_server, path):
    srv, addr = metrics_server(start_server)
    status, headers, body = request(addr, path)
    assert status == 404
    assert body == b"404 Not Found\n"
    assert srv.proc.poll() is None


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "OPTIONS", "PATCH"])
def test_another_method_is_405_with_allow(start_server, method):
    _, addr = metrics_server(start_server)
    status, headers, body = request(addr, method=method, body=b"x=1")
    assert status == 405
    assert headers["allow"] == "GET, HEAD"
    assert body == b"405 Method Not Allowed\n"


def test_a_method_libevent_does_not_know_is_501(start_server):
    srv, addr = metrics_server(start_server)
    with socket.create_connection(addr, timeout=WAIT) as c:
        c.sendall(b"BREW /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        assert c.recv(4096).startswith(b"HTTP/1.1 501 ")
    assert srv.proc.poll() is None


@needs_ipv6
def test_metrics_on_ipv6_loopback(start_server):
    srv = start_server("-t", "127.0.0.1:0", "--metrics", "[::1]:0")
    m = wait_stderr(srv, r"peerlogd: listening metrics \[::1\]:(\d+)",
                    "the metrics listening line")
    page = scrape(("::1", int(m.group(1))))
    assert page.value("peerlogd_build_info", version=VERSION) == 1


def test_metrics_on_every_address_is_one_line_per_socket(start_server):
    srv = start_server("-t", "127.0.0.1:0", "--metrics", "*:0")
    wait_stderr(srv, r"peerlogd: listening metrics 0\.0\.0\.0:\d+", "IPv4")
    lines = [l for l in srv.stderr().split("\n") if "listening metrics" in l]
    expected = 2 if have_ipv6() else 1
    deadline = time.monotonic() + WAIT
    while len(lines) < expected and time.monotonic() < deadline:
        time.sleep(0.02)
        lines = [l for l in srv.stderr().split("\n") if "listening metrics" in l]
    assert len(lines) == expected, srv.stderr()
    port = int(lines[0].rpartition(":")[2])
    scrape(("127.0.0.1", port))


def test_scrapes_share_a_keep_alive_connection(start_server):
    _, addr = metrics_server(start_server)
    conn = http.client.HTTPConnection(*addr, timeout=WAIT)
    try:
        for _ in range(5):
            conn.request("GET", "/metrics")
            resp = conn.getresponse()
            assert resp.status == 200
            Page(resp.read().decode())
        sock = conn.sock
        assert sock is not None  # never reconnected
    finally:
        conn.close()


def test_metrics_bind_failure_is_exit_2_and_no_output_file(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        out = tmp_path / "out.log"
        rc, _, err, _ = run_peerlogd(["-t", "127.0.0.1:0", "--metrics",
                                      f"127.0.0.1:{port}", "-o", str(out)])
    assert rc == 2
    assert err == f"peerlogd: bind 127.0.0.1:{port}: Address already in use\n"
    assert not out.exists()


def test_without_metrics_nothing_listens_for_it(start_server):
    srv = start_server()
    time.sleep(0.1)
    assert "metrics" not in srv.stderr()


# --- the counters, against what was sent --------------------------------------

def test_tcp_messages_bytes_and_connections_are_counted_exactly(start_server):
    srv, addr = metrics_server(start_server)
    sent = 0
    for i in range(3):
        data = b"".join(b"client %d line %d\n" % (i, j) for j in range(5))
        tcp_session(srv, data)
        sent += len(data)
    page = scrape(addr)
    assert page.value("peerlogd_messages_total", proto="tcp") == 15
    assert page.value("peerlogd_received_bytes_total", proto="tcp") == sent
    assert page.value("peerlogd_connections_total", proto="tcp") == 3
    assert page.value("peerlogd_clients", proto="tcp") == 0
    assert page.value("peerlogd_messages_total", proto="udp") == 0
    assert page.value("peerlogd_messages_total", proto="tls") == 0


def test_udp_datagrams_and_bytes_are_counted_exactly(start_server):
    srv, addr = metrics_server(start_server)
    sizes = [1, 10, 100, 1000, 5]
    for n in sizes:
        peer = udp_send(srv.udp_addr, b"u" * n)
        srv.wait_event(peer, "msg")
    page = scrape(addr)
    assert page.value("peerlogd_messages_total", proto="udp") == len(sizes)
    assert page.value("peerlogd_received_bytes_total", proto="udp") == sum(sizes)
    assert page.value("peerlogd_udp_dropped_total", reason="acl") == 0
    assert page.value("peerlogd_udp_dropped_total", reason="kernel") == 0


def test_clients_gauge_counts_the_clients_connected_now(start_server):
    srv, addr = metrics_server(start_server)
    socks = [tcp_connect(srv.tcp_addr) for _ in range(4)]
    try:
        for s in socks:
            srv.wait_event(peer_of(s), "connect")
        page = scrape(addr)
        assert page.value("peerlogd_clients", proto="tcp") == 4
        assert page.value("peerlogd_connections_total", proto="tcp") == 4
        for s in socks[:3]:
            peer = peer_of(s)
            s.close()
            srv.wait_event(peer, "disconnect")
        page = scrape(addr)
        assert page.value("peerlogd_clients", proto="tcp") == 1
        assert page.value("peerlogd_connections_total", proto="tcp") == 4
    finally:
        for s in socks:
            s.close()


def test_rejects_by_allow_are_all_counted_also_those_not_written(start_server):
    # 8 rejects: 5 records a second are written, the rest only counted.
    srv, addr = metrics_server(start_server, "-t", "127.0.0.1:0", "-u",
                               "127.0.0.1:0", "--allow", "192.0.2.0/24")
    for _ in range(8):
        with tcp_connect(srv.tcp_addr) as c:
            c.settimeout(WAIT)
            assert c.recv(1) == b""  # closed at once
    for _ in range(3):
        udp_send(srv.udp_addr, b"refused")
    page = wait_page(addr, lambda p: p.value("peerlogd_udp_dropped_total",
                                             reason="acl") == 3,
                     "3 UDP drops")
    assert page.value("peerlogd_rejects_total", reason="acl") == 8
    assert page.value("peerlogd_connections_total", proto="tcp") == 0
    assert page.value("peerlogd_messages_total", proto="udp") == 0
    for r in REJECT_REASONS[1:]:
        assert page.value("peerlogd_rejects_total", reason=r) == 0


def test_rejects_over_max_clients_are_counted(start_server):
    srv, addr = metrics_server(start_server, "-t", "127.0.0.1:0",
                               "--max-clients", "2")
    held = [tcp_connect(srv.tcp_addr) for _ in range(2)]
    try:
        for s in held:
            srv.wait_event(peer_of(s), "connect")
        for _ in range(3):
            with tcp_connect(srv.tcp_addr) as c:
                c.settimeout(WAIT)
                assert c.recv(1) == b""
        page = wait_page(addr, lambda p: p.value(
            "peerlogd_rejects_total", reason="max-clients") == 3, "3 rejects")
        assert page.value("peerlogd_clients", proto="tcp") == 2
        assert page.value("peerlogd_connections_total", proto="tcp") == 2
    finally:
        for s in held:
            s.close()


def test_output_bytes_are_what_the_output_file_holds(start_server):
    srv, addr = metrics_server(start_server)
    tcp_session(srv, b"one\ntwo\n")
    page = wait_page(addr, lambda p: p.value(
        "peerlogd_output_bytes_total", output=srv.out_path) ==
        len(srv.output()), "the output's bytes")
    assert len(srv.output()) > 0
    assert page.value("peerlogd_output_pending_bytes", output=srv.out_path) == 0
    assert page.value("peerlogd_output_errors_total", output=srv.out_path) == 0


def test_output_label_of_standard_output_is_a_dash(start_server):
    _, addr = metrics_server(start_server, output="stdout")
    page = scrape(addr)
    assert set(page.labelled("peerlogd_output_bytes_total", "output")) == {"-"}


def test_output_label_value_is_escaped(start_server, tmp_path):
    path = str(tmp_path / 'a "q" b\\c\nd.log')
    srv, addr = metrics_server(start_server, "-t", "127.0.0.1:0", "-o", path,
                               output="given", out_path=path)
    tcp_session(srv, b"x\n")
    page = scrape(addr)
    assert page.value("peerlogd_output_bytes_total", output=path) == len(srv.output())
    escaped = path.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    assert f'peerlogd_output_bytes_total{{output="{escaped}"}} ' in page.text


def test_the_page_names_no_peer(start_server):
    srv, addr = metrics_server(start_server)
    c = tcp_connect(srv.tcp_addr)
    try:
        peer = peer_of(c)
        srv.wait_event(peer, "connect")
        udp_peer = udp_send(srv.udp_addr, b"x")
        srv.wait_event(udp_peer, "msg")
        page = scrape(addr)
        port = peer.rpartition(":")[2]
        assert "127.0.0.1" not in page.text
        assert peer not in page.text and udp_peer not in page.text
        assert not re.search(r'="[^"]*\b' + port + r'\b', page.text)
    finally:
        c.close()


def test_stats_record_and_metrics_read_the_same_snapshot(start_server):
    srv, addr = metrics_server(start_server)
    tcp_session(srv, b"a\nbb\nccc\n")
    peer = udp_send(srv.udp_addr, b"dddd")
    srv.wait_event(peer, "msg")
    page = scrape(addr)
    srv.send_signal(signal.SIGUSR1)
    recs = srv.wait_for(lambda rs: any(r[2] == "stats" for r in rs), "stats")
    stats = {k: int(v) for k, v in parse_kv(
        [r for r in recs if r[2] == "stats"][0][3]).items()}
    assert stats["tcp_msgs"] == page.value("peerlogd_messages_total", proto="tcp") == 3
    assert stats["tcp_bytes"] == page.value("peerlogd_received_bytes_total", proto="tcp") == 9
    assert stats["udp_msgs"] == page.value("peerlogd_messages_total", proto="udp") == 1
    assert stats["udp_bytes"] == page.value("peerlogd_received_bytes_total", proto="udp") == 4
    assert stats["connects"] == page.value("peerlogd_connections_total", proto="tcp") == 1
    assert stats["rejects"] == sum(page.labelled("peerlogd_rejects_total", "reason").values())


def test_a_pause_counts_while_it_lasts_and_scrapes_are_answered(start_server):
    srv, addr = metrics_server(start_server, output="rawpipe")
    out = RawOutput(srv)
    flood = tcp_connect(srv.tcp_addr)
    sender = Sender(flood, 100_000)  # 10 MB: far more than pipe + batch
    sender.start()
    try:
        wait_stalled(sender, srv, quiet=0.3)
        first = scrape(addr)
        assert first.value("peerlogd_output_pending_bytes", output="-") > 0
        p1 = first.value("peerlogd_paused_seconds_total")
        time.sleep(0.3)
        p2 = scrape(addr).value("peerlogd_paused_seconds_total")
        assert p2 > p1 > 0, (p1, p2)
        # Let the output go: what was paused stays counted.
        out.read_until(lambda o: not sender.is_alive(), "the sender to finish",
                       timeout=2 * WAIT)
        assert sender.error is None
        flood.close()
        p3 = scrape(addr).value("peerlogd_paused_seconds_total")
        assert p3 >= p2
    finally:
        flood.close()


# --- scrapers cannot hold up logging nor grow memory --------------------------

def test_connections_beyond_the_limit_wait_in_the_queue(start_server):
    srv, addr = metrics_server(start_server)
    base = open_fds(srv.pid)  # before any connection to the endpoint
    idle = [socket.create_connection(addr, timeout=WAIT) for _ in range(3 * CONN_MAX)]
    try:
        deadline = time.monotonic() + WAIT
        while open_fds(srv.pid) < base + CONN_MAX:
            assert time.monotonic() < deadline, "the first connections were not taken"
            time.sleep(0.02)
        time.sleep(0.2)
        assert open_fds(srv.pid) == base + CONN_MAX
        # Logging goes on.
        peer, recs = tcp_session(srv, b"still logging\n")
        assert ("tcp", peer, "msg", "still logging") in recs
        # A scrape waits for a place: none is answered while all are held.
        waiting = http.client.HTTPConnection(*addr, timeout=0.5)
        waiting.connect()
        waiting.sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        with pytest.raises(socket.timeout):
            waiting.sock.recv(1)
        for s in idle:
            s.close()
        idle = []
        waiting.sock.settimeout(WAIT)
        resp = http.client.HTTPResponse(waiting.sock)
        resp.begin()
        assert resp.status == 200
        Page(resp.read().decode())
        waiting.close()
    finally:
        for s in idle:
            s.close()


def finish_connections(addr):
    """Connections to the endpoint ended every way a client can end one."""
    def closed(sock):
        sock.settimeout(WAIT)
        try:
            while sock.recv(65536):
                pass
        except ConnectionResetError:
            pass
        sock.close()

    for _ in range(CONN_MAX):
        socket.create_connection(addr, timeout=WAIT).close()  # nothing sent
        s = socket.create_connection(addr, timeout=WAIT)  # half a request
        s.sendall(b"GET /metr")
        s.close()
        s = socket.create_connection(addr, timeout=WAIT)  # reset
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0")
        s.sendall(b"GET /metrics HTTP/1.1\r\n")
        s.close()
        s = socket.create_connection(addr, timeout=WAIT)  # not HTTP
        s.sendall(b"\x16\x03\x01 hello\r\n\r\n")
        closed(s)
        s = socket.create_connection(addr, timeout=WAIT)  # headers too large
        s.sendall(b"GET /metrics HTTP/1.1\r\nX: " + b"y" * 20000 + b"\r\n\r\n")
        closed(s)
        s = socket.create_connection(addr, timeout=WAIT)  # HTTP/1.0: closed by us
        s.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
        closed(s)
        request(addr, "/nowhere")
        request(addr)


def test_ended_connections_give_their_place_back(start_server):
    srv, addr = metrics_server(start_server)
    finish_connections(addr)
    held = [socket.create_connection(addr, timeout=WAIT) for _ in range(CONN_MAX - 1)]
    try:
        # The one place left is free: answered while the others are held
        # (a place not given back would leave it waiting in the queue).
        page = scrape(addr)
        assert page.value("peerlogd_clients", proto="tcp") == 0
    finally:
        for s in held:
            s.close()
    assert srv.proc.poll() is None


class Hog(threading.Thread):
    """A client that sends pipelined scrapes as fast as the server takes
    them and never reads an answer."""

    REQ = b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n" * 1000
    LIMIT = 256 << 20

    def __init__(self, addr):
        super().__init__(daemon=True)
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.connect(addr)
        self.sock.settimeout(0.1)
        self.sent = 0
        self.stop = False
        self.error = None

    def run(self):
        while not self.stop and self.sent < self.LIMIT:
            try:
                self.sent += self.sock.send(self.REQ)
            except socket.timeout:
                continue
            except OSError as e:
                self.error = e
                return


def test_a_client_that_never_reads_cannot_grow_memory(start_server):
    srv, addr = metrics_server(start_server)
    scrape(addr)
    before = proc_status_kib(srv.pid)
    hog = Hog(addr)
    hog.start()
    try:
        # Wait until the server stops taking the hog's bytes.
        deadline = time.monotonic() + slow(WAIT)
        last, since = -1, time.monotonic()
        peak = before
        while time.monotonic() - since < 0.5:
            assert time.monotonic() < deadline, "the hog was never slowed"
            assert hog.is_alive(), f"hog ended: sent {hog.sent} {hog.error}"
            if hog.sent != last:
                last, since = hog.sent, time.monotonic()
            peak = max(peak, proc_status_kib(srv.pid))
            time.sleep(0.02)
        # Meanwhile many scrapes are answered, and logging goes on.
        for i in range(100):
            page = scrape(addr)
            peak = max(peak, proc_status_kib(srv.pid))
        peer, recs = tcp_session(srv, b"logged while hogged\n")
        assert ("tcp", peer, "msg", "logged while hogged") in recs
        assert page.value("peerlogd_messages_total", proto="tcp") == 0
        assert hog.is_alive() and hog.sent < Hog.LIMIT
        if not sanitized():
            assert peak - before < 16 * 1024, f"VmRSS grew {peak - before} kB"
    finally:
        hog.stop = True
        hog.join(WAIT)
        hog.sock.close()


def test_shutdown_with_scrape_connections_open_is_clean(start_server):
    # Under the sanitizers this also finds what a connection leaves behind.
    srv, addr = metrics_server(start_server)
    finish_connections(addr)
    conn = http.client.HTTPConnection(*addr, timeout=WAIT)
    conn.request("GET", "/metrics")
    conn.getresponse().read()
    idle = socket.create_connection(addr, timeout=WAIT)
    half = socket.create_connection(addr, timeout=WAIT)
    half.sendall(b"GET /metrics HTTP/1.1\r\nHost:")
    queued = [socket.create_connection(addr, timeout=WAIT) for _ in range(CONN_MAX)]
    time.sleep(0.1)
    rc, recs, err = srv.stop()
    for s in [conn, idle, half] + queued:
        s.close()
    assert rc == 0
    assert recs[-1][2] == "stop"
    lines = [l for l in err.split("\n") if l]
    assert all(l.startswith("peerlogd: listening ") for l in lines), err


# --- promtool and a real Prometheus ------------------------------------------

def test_promtool_accepts_the_page(start_server):
    srv, addr = metrics_server(start_server)
    tcp_session(srv, b"x\n")
    _, _, body = request(addr)
    p = subprocess.run(["promtool", "check", "metrics"], input=body,
                       capture_output=True, timeout=30)
    assert p.returncode == 0, (p.stdout, p.stderr)
    assert p.stdout == b"" and p.stderr == b"", (p.stdout, p.stderr)


def prom_query(port, query):
    """The result vector of an instant query to Prometheus's HTTP API."""
    import json
    import urllib.parse
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=WAIT)
    try:
        conn.request("GET", "/api/v1/query?" + urllib.parse.urlencode({"query": query}))
        resp = conn.getresponse()
        data = json.loads(resp.read())
    finally:
        conn.close()
    assert data["status"] == "success", data
    return data["data"]["result"]


def test_a_real_prometheus_scrapes_the_endpoint(start_server, tmp_path):
    srv, addr = metrics_server(start_server)
    for i in range(7):
        tcp_session(srv, b"line %d\n" % i)
    web = free_port()
    conf = tmp_path / "prometheus.yml"
    conf.write_text(
        "global:\n"
        "  scrape_interval: 1s\n"
        "  scrape_timeout: 1s\n"
        "scrape_configs:\n"
        "  - job_name: peerlogd\n"
        "    static_configs:\n"
        f"      - targets: ['127.0.0.1:{addr[1]}']\n")
    log = open(tmp_path / "prometheus.log", "wb")
    prom = subprocess.Popen(
        ["prometheus", f"--config.file={conf}",
         f"--storage.tsdb.path={tmp_path / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{web}", "--log.level=warn"],
        stdin=subprocess.DEVNULL, stdout=log, stderr=log,
        start_new_session=True, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 60
        up = msgs = None
        while time.monotonic() < deadline:
            assert prom.poll() is None, (tmp_path / "prometheus.log").read_text()
            try:
                up = prom_query(web, 'up{job="peerlogd"}')
                msgs = prom_query(web, 'peerlogd_messages_total{proto="tcp"}')
            except (OSError, http.client.HTTPException):
                time.sleep(0.2)  # not listening yet
                continue
            if up and up[0]["value"][1] == "1" and msgs and msgs[0]["value"][1] == "7":
                break
            time.sleep(0.2)
        assert up and up[0]["value"][1] == "1", up
        assert msgs and msgs[0]["value"][1] == "7", msgs
        assert msgs[0]["metric"]["instance"] == f"127.0.0.1:{addr[1]}"
    finally:
        prom.terminate()
        try:
            prom.wait(30)
        except subprocess.TimeoutExpired:
            prom.kill()
            prom.wait(WAIT)
        log.close()
