"""Black-box tests of the client, peerlog.

The client binary comes from the environment variable PEERLOG (the tests are
skipped when it is unset); the end-to-end tests also use PEERLOGD. Most tests
talk to a small Python server in a thread so they can assert the exact bytes
the client sends. Everything runs on 127.0.0.1 or ::1, every wait is bounded
and every process started here is killed at the end of its test.
"""

import os
import pty
import re
import select
import signal
import socket
import subprocess
import threading
import time

import pytest

PEERLOG = os.environ.get("PEERLOG")
PEERLOGD = os.environ.get("PEERLOGD")

pytestmark = pytest.mark.skipif(
    not PEERLOG, reason="PEERLOG (path of the client binary) is not set")

# Bound on any single wait; only reached when something is wrong.
WAIT = 10.0

CONNECT_RE = re.compile(
    r"peerlog: (tcp|udp) (\S+):(\d+) -> (\S+):(\d+)")


def have_ipv6():
    """True when a socket can be bound on ::1."""
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def recv_until_eof(conn):
    """Everything the peer sends until it shuts down its side."""
    data = bytearray()
    while True:
        chunk = conn.recv(1 << 16)
        if not chunk:
            return bytes(data)
        data += chunk


def connect_line(stderr, proto="tcp"):
    """The (local host, local port, remote host, remote port) of the client's
    'peerlog: PROTO LOCAL -> REMOTE' line; it must be the first line."""
    first = stderr.decode().splitlines()[0]
    m = CONNECT_RE.fullmatch(first)
    assert m, f"not a connect line: {first!r}"
    assert m.group(1) == proto
    return m.group(2), int(m.group(3)), m.group(4), int(m.group(5))


class TcpServer:
    """A one-connection TCP server in a thread. handler(conn, self) talks to
    the client; self.peer is the client's address as the server sees it."""

    def __init__(self, handler, host="127.0.0.1"):
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.bind((host, 0))
        self.sock.listen(1)
        self.sock.settimeout(WAIT)
        self.port = self.sock.getsockname()[1]
        self.handler = handler
        self.peer = None
        self.data = None
        self.error = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        try:
            conn, self.peer = self.sock.accept()
            with conn:
                conn.settimeout(WAIT)
                self.handler(conn, self)
        except Exception as e:  # reported by join()
            self.error = e

    def join(self):
        """Wait for the handler; fail the test if it raised."""
        self.thread.join(WAIT + 5)
        assert not self.thread.is_alive(), "server thread did not finish"
        if self.error is not None:
            raise self.error

    def close(self):
        self.sock.close()


@pytest.fixture
def tcp_server():
    """Start TcpServer(handler, host) and close every one at teardown."""
    made = []

    def start(handler, host="127.0.0.1"):
        srv = TcpServer(handler, host)
        made.append(srv)
        return srv

    yield start
    for srv in made:
        srv.close()


def read_all_then(reply=b""):
    """A handler that reads until the client half-closes, keeps the bytes in
    srv.data, sends reply and closes."""

    def handler(conn, srv):
        srv.data = recv_until_eof(conn)
        if reply:
            conn.sendall(reply)

    return handler


@pytest.fixture
def procs():
    """Popen(...) that kills whatever is still running at teardown."""
    started = []

    def popen(*args, **kwargs):
        kwargs.setdefault("start_new_session", True)
        p = subprocess.Popen(*args, **kwargs)
        started.append(p)
        return p

    yield popen
    for p in started:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
        p.wait(WAIT)
        for f in (p.stdin, p.stdout, p.stderr):
            if f is not None:
                f.close()


def run_client(args, stdin_data=None, stdin=None):
    """Run peerlog to completion (bounded); the CompletedProcess."""
    if stdin is None and stdin_data is None:
        stdin = subprocess.DEVNULL
    return subprocess.run([PEERLOG, *args], input=stdin_data, stdin=stdin,
                          capture_output=True, timeout=WAIT)


def free_port(kind):
    """A 127.0.0.1 port with nothing listening on it."""
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_help_prints_usage_on_stdout_and_exits_0():
    for flag in ("-h", "--help"):
        r = run_client([flag])
        assert r.returncode == 0
        assert r.stdout.startswith(
            b"usage: peerlog [-u | --tls [--ca FILE] [--cert FILE --key FILE]]"
            b" [-4|-6]\n               [HOST [PORT]]\n")
        assert r.stderr == b""


def test_version_prints_version_on_stdout_and_exits_0():
    for flag in ("-V", "--version"):
        r = run_client([flag])
        assert r.returncode == 0
        assert r.stdout == b"peerlog 0.1.0\n"
        assert r.stderr == b""


@pytest.mark.parametrize("args,reason", [
    (["-4", "-6"], "peerlog: options -4 and -6 cannot be used together"),
    (["127.0.0.1", "1234", "extra"], "peerlog: unexpected argument 'extra'"),
    (["127.0.0.1", "99999"], "peerlog: bad port '99999' (1..65535)"),
    (["127.0.0.1", "0"], "peerlog: bad port '0' (1..65535)"),
    (["--bogus"], "peerlog: "),
])
def test_usage_error_exits_2_with_one_error_line(args, reason):
    r = run_client(args)
    assert r.returncode == 2
    assert r.stdout == b""
    lines = r.stderr.decode().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(reason)


def test_connect_line_names_local_and_remote_addresses(tcp_server):
    srv = tcp_server(read_all_then())
    r = run_client(["127.0.0.1", str(srv.port)], b"hi\n")
    srv.join()
    assert r.returncode == 0, r.stderr
    assert connect_line(r.stderr) == ("127.0.0.1", srv.peer[1],
                                      "127.0.0.1", srv.port)
    assert r.stderr.decode().splitlines()[1:] == []


def test_piped_lines_are_sent_whole_with_spaces(tcp_server):
    data = b"hello world\n  two  spaces  \n\ttab and \xc3\xa9\n\nlast one\n"
    srv = tcp_server(read_all_then())
    r = run_client(["127.0.0.1", str(srv.port)], data)
    srv.join()
    assert r.returncode == 0, r.stderr
    assert srv.data == data


def test_final_line_without_newline_is_sent_as_is(tcp_server):
    srv = tcp_server(read_all_then())
    r = run_client(["127.0.0.1", str(srv.port)], b"one\ntwo without end")
    srv.join()
    assert r.returncode == 0, r.stderr
    assert srv.data == b"one\ntwo without end"


def test_piped_exit_is_sent_as_data(tcp_server):
    srv = tcp_server(read_all_then())
    r = run_client(["127.0.0.1", str(srv.port)], b"exit\nafter exit\n")
    srv.join()
    assert r.returncode == 0, r.stderr
    assert srv.data == b"exit\nafter exit\n"


def test_end_of_input_half_closes_and_waits_for_the_server_to_close(tcp_server):
    # The server only answers after it has seen end of input, so "bye" on
    # stdout proves the client half-closed and kept reading until the close.
    def handler(conn, srv):
        srv.data = recv_until_eof(conn)
        time.sleep(0.3)
        conn.sendall(b"bye\n")

    srv = tcp_server(handler)
    r = run_client(["127.0.0.1", str(srv.port)], b"hello\n")
    srv.join()
    assert srv.data == b"hello\n"
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"bye\n"


def test_server_bytes_are_written_to_stdout_unchanged(tcp_server):
    blob = bytes(range(256)) * 1000 + b"no newline at end \x00"
    srv = tcp_server(read_all_then(blob))
    r = run_client(["127.0.0.1", str(srv.port)], b"x\n")
    srv.join()
    assert r.returncode == 0, r.stderr
    assert r.stdout == blob


def test_empty_input_half_closes_at_once(tcp_server):
    # /dev/null cannot be polled with epoll: the client must fall back.
    srv = tcp_server(read_all_then(b"done\n"))
    r = run_client(["127.0.0.1", str(srv.port)], stdin=subprocess.DEVNULL)
    srv.join()
    assert r.returncode == 0, r.stderr
    assert srv.data == b""
    assert r.stdout == b"done\n"
    assert len(r.stderr.decode().splitlines()) == 1  # no libevent warning


def test_regular_file_stdin_arrives_complete_and_in_order(tcp_server, tmp_path):
    path = tmp_path / "input.txt"
    data = b"".join(b"line %06d with some words\n" % i for i in range(200000))
    path.write_bytes(data)
    srv = tcp_server(read_all_then())
    with open(path, "rb") as f:
        r = run_client(["127.0.0.1", str(srv.port)], stdin=f)
    srv.join()
    assert r.returncode == 0, r.stderr
    assert len(srv.data) == len(data)
    assert srv.data == data


def vm_hwm_kib(pid):
    """Peak resident set size of a running process, in KiB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise AssertionError("no VmHWM")


def built_with_asan():
    """ASan's quarantine keeps freed memory resident: peaks mean nothing."""
    with open(PEERLOG, "rb") as f:
        return b"__asan_init" in f.read()


def test_large_file_to_a_slow_server_keeps_client_memory_bounded(
        tcp_server, tmp_path, procs):
    path = tmp_path / "big.txt"
    data = b"".join(b"%07d the quick brown fox jumps over the lazy dog\n" % i
                    for i in range(1000000))
    path.write_bytes(data)

    def handler(conn, srv):
        # Read nothing at first: the client's queue fills up and must stop
        # growing. Then take it all and look at the client's peak memory
        # while it still waits for our close.
        time.sleep(1.0)
        srv.data = recv_until_eof(conn)
        srv.hwm = vm_hwm_kib(srv.client_pid)

    srv = tcp_server(handler)
    with open(path, "rb") as f:
        p = procs([PEERLOG, "127.0.0.1", str(srv.port)], stdin=f,
                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    srv.client_pid = p.pid
    out, err = p.communicate(timeout=WAIT)
    srv.join()
    assert p.returncode == 0, err
    assert srv.data == data
    if not built_with_asan():
        # The file is ~49 MiB; the client queues at most ~1 MiB of it.
        assert srv.hwm < 16 * 1024, f"client peak RSS {srv.hwm} KiB"


def test_server_closing_first_exits_1_with_a_message(tcp_server, procs):
    def handler(conn, srv):
        srv.data = conn.recv(100)

    srv = tcp_server(handler)
    # stdin stays open: the client has not finished when the server closes.
    p = procs([PEERLOG, "127.0.0.1", str(srv.port)], stdin=subprocess.PIPE,
              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdin.write(b"first\n")
    p.stdin.flush()
    assert p.wait(WAIT) == 1
    srv.join()
    assert srv.data == b"first\n"
    lines = p.stderr.read().decode().splitlines()
    assert lines[1:] == ["peerlog: server closed the connection"]


def test_server_reset_exits_1_with_a_message(tcp_server, procs):
    def handler(conn, srv):
        srv.data = conn.recv(100)
        # Linger 0: close sends RST instead of FIN.
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                        b"\x01\x00\x00\x00\x00\x00\x00\x00")

    srv = tcp_server(handler)
    p = procs([PEERLOG, "127.0.0.1", str(srv.port)], stdin=subprocess.PIPE,
              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdin.write(b"first\n")
    p.stdin.flush()
    assert p.wait(WAIT) == 1
    srv.join()
    lines = p.stderr.read().decode().splitlines()
    assert lines[1:] == ["peerlog: server gone: Connection reset by peer"]


def test_connection_refused_exits_1_with_a_message():
    # A bound socket that does not listen refuses connections.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        r = run_client(["127.0.0.1", str(port)], b"hello\n")
    assert r.returncode == 1
    assert r.stdout == b""
    assert r.stderr.decode() == \
        f"peerlog: connect 127.0.0.1 {port}: Connection refused\n"


@pytest.fixture
def udp_receiver():
    """A UDP socket on 127.0.0.1 (or the host given) and a way to collect
    the datagrams that arrive."""
    made = []

    def start(host="127.0.0.1"):
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        s = socket.socket(family, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        s.bind((host, 0))
        made.append(s)
        return s

    yield start
    for s in made:
        s.close()


def recv_datagrams(sock, count):
    """count datagrams and their source addresses, each wait bounded."""
    got = []
    sock.settimeout(WAIT)
    for _ in range(count):
        got.append(sock.recvfrom(1 << 17))
    return got


def test_udp_sends_each_line_as_one_datagram_without_newline(udp_receiver):
    rx = udp_receiver()
    port = rx.getsockname()[1]
    r = run_client(["-u", "127.0.0.1", str(port)],
                   b"hello world\n\n  spaced  \nlast without end")
    assert r.returncode == 0, r.stderr
    got = recv_datagrams(rx, 4)
    assert [d for d, _ in got] == [b"hello world", b"", b"  spaced  ",
                                   b"last without end"]
    src = got[0][1]
    assert connect_line(r.stderr, "udp") == ("127.0.0.1", src[1],
                                             "127.0.0.1", port)
    rx.setblocking(False)
    with pytest.raises(BlockingIOError):
        rx.recv(1 << 17)


def test_udp_overlong_line_is_sent_in_pieces_of_65507(udp_receiver):
    rx = udp_receiver()
    port = rx.getsockname()[1]
    line = bytes(b"abcdefghij"[i % 10] for i in range(70000))
    r = run_client(["-u", "127.0.0.1", str(port)], line + b"\nnext\n")
    assert r.returncode == 0, r.stderr
    got = [d for d, _ in recv_datagrams(rx, 3)]
    assert got == [line[:65507], line[65507:], b"next"]


def test_udp_regular_file_stdin_sends_every_line(udp_receiver, tmp_path):
    rx = udp_receiver()
    port = rx.getsockname()[1]
    lines = [b"datagram %04d" % i for i in range(200)]
    path = tmp_path / "in.txt"
    path.write_bytes(b"".join(x + b"\n" for x in lines))
    with open(path, "rb") as f:
        r = run_client(["-u", "127.0.0.1", str(port)], stdin=f)
    assert r.returncode == 0, r.stderr
    assert [d for d, _ in recv_datagrams(rx, 200)] == lines


def test_udp_to_a_closed_port_exits_1_with_a_message():
    port = free_port(socket.SOCK_DGRAM)
    r = run_client(["-u", "127.0.0.1", str(port)], b"hello\n")
    assert r.returncode == 1
    lines = r.stderr.decode().splitlines()
    connect_line(r.stderr, "udp")
    assert lines[1:] == ["peerlog: server gone: Connection refused"]


def test_udp_server_reply_is_written_to_stdout(udp_receiver, procs):
    rx = udp_receiver()
    port = rx.getsockname()[1]
    p = procs([PEERLOG, "-u", "127.0.0.1", str(port)], stdin=subprocess.PIPE,
              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdin.write(b"ping\n")
    p.stdin.flush()
    (data, src), = recv_datagrams(rx, 1)
    assert data == b"ping"
    rx.sendto(b"pong\x00\xff\n", src)
    out = b""
    deadline = time.monotonic() + WAIT
    while out != b"pong\x00\xff\n" and time.monotonic() < deadline:
        ready, _, _ = select.select([p.stdout], [], [], 0.5)
        if ready:
            out += os.read(p.stdout.fileno(), 100)
    assert out == b"pong\x00\xff\n"
    p.stdin.close()
    assert p.wait(WAIT) == 0


@pytest.mark.skipif(not have_ipv6(), reason="no IPv6 loopback")
def test_ipv6_loopback_with_dash_6(tcp_server):
    srv = tcp_server(read_all_then(), host="::1")
    r = run_client(["-6", "::1", str(srv.port)], b"over v6\n")
    srv.join()
    assert r.returncode == 0, r.stderr
    assert srv.data == b"over v6\n"
    assert connect_line(r.stderr) == ("[::1]", srv.peer[1], "[::1]", srv.port)


@pytest.mark.skipif(not have_ipv6(), reason="no IPv6 loopback")
def test_dash_4_refuses_an_ipv6_address():
    # glibc knows "::1" is an IPv6 literal: no name server is asked.
    r = run_client(["-4", "::1", "1234"], b"x\n")
    assert r.returncode == 1
    assert r.stderr.decode().startswith("peerlog: resolve ::1 1234: ")


def test_dash_4_resolves_localhost_to_ipv4(tcp_server):
    srv = tcp_server(read_all_then())
    r = run_client(["-4", "localhost", str(srv.port)], b"v4\n")
    srv.join()
    assert r.returncode == 0, r.stderr
    assert connect_line(r.stderr)[2:] == ("127.0.0.1", srv.port)


class Terminal:
    """peerlog with a pseudo-terminal as standard input and output."""

    def __init__(self, procs, args):
        self.master, slave = pty.openpty()
        try:
            self.proc = procs([PEERLOG, *args], stdin=slave, stdout=slave,
                              stderr=subprocess.PIPE)
        finally:
            os.close(slave)
        self.seen = b""

    def expect(self, text):
        """Read the terminal until text has appeared since the last call."""
        deadline = time.monotonic() + WAIT
        while text not in self.seen:
            left = deadline - time.monotonic()
            assert left > 0, f"{text!r} never appeared in {self.seen!r}"
            ready, _, _ = select.select([self.master], [], [], left)
            if ready:
                try:
                    chunk = os.read(self.master, 1024)
                except OSError:  # EIO: the client closed the terminal
                    chunk = b""
                if not chunk:
                    raise AssertionError(
                        f"terminal closed before {text!r}: {self.seen!r}")
                self.seen += chunk
        self.seen = self.seen[self.seen.index(text) + len(text):]

    def type(self, data):
        os.write(self.master, data)

    def close(self):
        os.close(self.master)


def test_terminal_prompts_and_exit_ends_without_sending_exit(tcp_server,
                                                             procs):
    srv = tcp_server(read_all_then(b"bye\n"))
    term = Terminal(procs, ["127.0.0.1", str(srv.port)])
    try:
        term.expect(b"send: ")
        term.type(b"hello world\n")
        term.expect(b"send: ")
        term.type(b"  second  line\n")
        term.expect(b"send: ")
        term.type(b"exit\n")
        term.expect(b"bye\r\n")  # the terminal maps LF to CR LF
        assert term.proc.wait(WAIT) == 0
    finally:
        term.close()
    srv.join()
    assert srv.data == b"hello world\n  second  line\n"
    lines = term.proc.stderr.read().decode().splitlines()
    assert len(lines) == 1
    assert connect_line(lines[0].encode())[2:] == ("127.0.0.1", srv.port)


def test_terminal_end_of_input_ends_it(tcp_server, procs):
    srv = tcp_server(read_all_then())
    term = Terminal(procs, ["127.0.0.1", str(srv.port)])
    try:
        term.expect(b"send: ")
        term.type(b"only line\n")
        term.expect(b"send: ")
        term.type(b"\x04")  # ^D at the start of a line: end of input
        assert term.proc.wait(WAIT) == 0
    finally:
        term.close()
    srv.join()
    assert srv.data == b"only line\n"


def test_terminal_server_closing_exits_1_after_ending_the_prompt_line(
        tcp_server, procs):
    def handler(conn, srv):
        srv.data = conn.recv(100)

    srv = tcp_server(handler)
    term = Terminal(procs, ["127.0.0.1", str(srv.port)])
    try:
        term.expect(b"send: ")
        term.type(b"one\n")
        term.expect(b"one\r\nsend: ")
        assert term.proc.wait(WAIT) == 1
        term.expect(b"\r\n")
        assert term.seen == b""
    finally:
        term.close()
    srv.join()
    assert srv.data == b"one\n"
    lines = term.proc.stderr.read().decode().splitlines()
    assert lines[1:] == ["peerlog: server closed the connection"]


def test_udp_terminal_exit_ends_without_sending_exit(udp_receiver, procs):
    rx = udp_receiver()
    port = rx.getsockname()[1]
    term = Terminal(procs, ["-u", "127.0.0.1", str(port)])
    try:
        term.expect(b"send: ")
        term.type(b"one datagram\n")
        term.expect(b"send: ")
        term.type(b"exit\n")
        assert term.proc.wait(WAIT) == 0
    finally:
        term.close()
    assert [d for d, _ in recv_datagrams(rx, 1)] == [b"one datagram"]
    rx.setblocking(False)
    with pytest.raises(BlockingIOError):
        rx.recv(1 << 17)


def start_peerlogd(procs, tmp_path):
    """A real peerlogd on 127.0.0.1; the process and its tcp and udp ports."""
    if not PEERLOGD or not os.access(PEERLOGD, os.X_OK):
        pytest.skip("PEERLOGD (the server binary) is not built")
    err = open(tmp_path / "peerlogd.err", "wb+")
    p = procs([PEERLOGD, "-t", "127.0.0.1:0", "-u", "127.0.0.1:0"],
              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err)
    ports = {}
    deadline = time.monotonic() + WAIT
    while len(ports) < 2:
        assert time.monotonic() < deadline, "peerlogd did not start"
        assert p.poll() is None, "peerlogd exited at start"
        err.seek(0)
        for m in re.finditer(r"peerlogd: listening (tcp|udp) 127\.0\.0\.1:(\d+)",
                             err.read().decode()):
            ports[m.group(1)] = int(m.group(2))
        time.sleep(0.05)
    err.close()
    return p, ports


def stop_peerlogd(p):
    """SIGTERM peerlogd; its standard output as text lines."""
    p.send_signal(signal.SIGTERM)
    out, _ = p.communicate(timeout=WAIT)
    assert p.returncode == 0
    return out.decode().splitlines()


def test_end_to_end_tcp_lines_reach_peerlogd(procs, tmp_path):
    srv, ports = start_peerlogd(procs, tmp_path)
    r = run_client(["127.0.0.1", str(ports["tcp"])],
                   b"hello world\nsecond  line\n")
    assert r.returncode == 0, r.stderr
    _, cport, _, _ = connect_line(r.stderr)
    records = stop_peerlogd(srv)
    peer = f"tcp 127.0.0.1:{cport}"
    assert any(x.endswith(f" {peer} msg hello world") for x in records)
    msgs = [x.split(" ", 1)[1] for x in records if f" {peer} msg" in x]
    assert msgs == [f"{peer} msg hello world", f"{peer} msg second  line"]


def test_end_to_end_udp_lines_reach_peerlogd(procs, tmp_path):
    srv, ports = start_peerlogd(procs, tmp_path)
    r = run_client(["-u", "127.0.0.1", str(ports["udp"])],
                   b"hello world\nsecond  line\n")
    assert r.returncode == 0, r.stderr
    _, cport, _, _ = connect_line(r.stderr, "udp")
    # UDP has no end of stream: wait (bounded) for the start record and both
    # messages before SIGTERM, which could otherwise overtake the datagrams.
    peer = f"udp 127.0.0.1:{cport}"
    deadline = time.monotonic() + WAIT
    out = b""
    while out.count(b"\n") < 3 and time.monotonic() < deadline:
        ready, _, _ = select.select([srv.stdout], [], [], 0.2)
        if ready:
            out += os.read(srv.stdout.fileno(), 4096)
    srv.send_signal(signal.SIGTERM)
    rest, _ = srv.communicate(timeout=WAIT)
    assert srv.returncode == 0
    records = (out + rest).decode().splitlines()
    msgs = [x.split(" ", 1)[1] for x in records if f" {peer} msg" in x]
    assert msgs == [f"{peer} msg hello world", f"{peer} msg second  line"]
