"""Readiness and liveness by systemd's notify protocol: with NOTIFY_SOCKET
(a datagram socket of the test's, by path or in the abstract namespace)
peerlogd sends READY=1 once it listens and its output is open, STATUS= with
the live counts, STOPPING=1 when shutdown begins, and WATCHDOG=1 every half
of WATCHDOG_USEC from its event loop: a loop that does not run sends none."""

import os
import re
import signal
import socket
import subprocess
import time
import uuid

import pytest

from conftest import (LISTEN_RE, PEERLOGD, STOP_WAIT, WAIT, peer_of, requires_peerlogd,
                      split_addr, stop_quiet, tcp_connect, udp_send)

pytestmark = requires_peerlogd

SD_VARS = ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES", "NOTIFY_SOCKET",
           "WATCHDOG_USEC", "WATCHDOG_PID")

STATUS_RE = re.compile(r"STATUS=clients=(\d+) messages=(\d+)")


class Manager:
    """The service manager's end: a datagram socket peerlogd notifies."""

    def __init__(self, tmp_path, abstract=False):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if abstract:
            name = f"peerlog-test-{uuid.uuid4().hex}"
            self.sock.bind("\0" + name)
            self.address = "@" + name
        else:
            self.address = str(tmp_path / "notify")
            self.sock.bind(self.address)
        self.got = []

    def env(self, **more):
        """The tests' environment with NOTIFY_SOCKET and more, no other
        systemd variable."""
        env = {k: v for k, v in os.environ.items() if k not in SD_VARS}
        env["NOTIFY_SOCKET"] = self.address
        env.update(more)
        return env

    def recv(self, timeout=WAIT):
        """The next datagram as text, or None after timeout."""
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(4096).decode()
        except socket.timeout:
            return None
        self.got.append(data)
        return data

    def wait(self, pred, what, timeout=WAIT):
        """Read datagrams until one satisfies pred; return it."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            assert left > 0, f"no {what}; got {self.got!r}"
            d = self.recv(left)
            if d is not None and pred(d):
                return d

    def drain(self):
        """Every datagram waiting now, without blocking."""
        out = []
        while (d := self.recv(0.001)) is not None:
            out.append(d)
        return out

    def close(self):
        self.sock.close()


@pytest.fixture
def manager(tmp_path):
    m = Manager(tmp_path)
    yield m
    m.close()


@pytest.fixture
def abstract_manager(tmp_path):
    m = Manager(tmp_path, abstract=True)
    yield m
    m.close()


def fields(datagram):
    """The lines of a datagram."""
    return datagram.split("\n")


def status_of(datagram):
    """(clients, messages) of the STATUS= line of a datagram, or None."""
    for line in fields(datagram):
        m = STATUS_RE.fullmatch(line)
        if m:
            return int(m.group(1)), int(m.group(2))
    return None


def proc_state(pid):
    """The one-letter state of a process (R, S, T, ...)."""
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0]


def test_ready_comes_after_the_listening_lines_and_the_output(manager, tmp_path):
    """stderr is a file here, written before the datagram is sent: when
    READY=1 arrives, both listening lines and the output file are there."""
    out = tmp_path / "out.log"
    err_path = tmp_path / "stderr"
    with open(err_path, "wb") as err:
        proc = subprocess.Popen(
            [PEERLOGD, "-t", "127.0.0.1:0", "-u", "127.0.0.1:0", "-o", str(out)],
            env=manager.env(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=err, start_new_session=True)
    try:
        ready = manager.wait(lambda d: "READY=1" in fields(d), "READY=1")
        with open(err_path) as f:
            text = f.read()
        lines = [m.groups() for m in map(LISTEN_RE.fullmatch, text.splitlines()) if m]
        assert [p for p, _ in lines] == ["tcp", "udp"], text
        assert out.exists()
        # Listening indeed: a client is served at once.
        with tcp_connect(split_addr(lines[0][1])):
            pass
        assert fields(ready) == ["READY=1", "STATUS=clients=0 messages=0"]
        assert manager.got == [ready], "nothing comes before READY=1"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(STOP_WAIT) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(STOP_WAIT)


def test_ready_reaches_an_abstract_socket(start_server, abstract_manager):
    srv = start_server(env=abstract_manager.env())
    ready = abstract_manager.wait(lambda d: "READY=1" in fields(d), "READY=1")
    assert fields(ready)[0] == "READY=1"
    stop_quiet(srv)


def test_no_datagram_when_a_bind_fails(manager):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = subprocess.run([PEERLOGD, "-t", f"127.0.0.1:{port}", "-o", os.devnull],
                              env=manager.env(), capture_output=True, timeout=STOP_WAIT,
                              stdin=subprocess.DEVNULL)
    assert proc.returncode == 2
    assert manager.drain() == []


def test_status_has_the_live_counts(start_server, manager):
    srv = start_server(env=manager.env())
    manager.wait(lambda d: "READY=1" in fields(d), "READY=1")
    with tcp_connect(srv.tcp_addr) as c:
        peer = peer_of(c)
        c.sendall(b"".join(b"line %d\n" % i for i in range(5)))
        upeers = [udp_send(srv.udp_addr, b"dgram %d" % i) for i in range(3)]
        srv.wait_record(("tcp", peer, "msg", "line 4"))
        for i, p in enumerate(upeers):
            srv.wait_record(("udp", p, "msg", f"dgram {i}"))
        d = manager.wait(lambda d: status_of(d) == (1, 8), "clients=1 messages=8",
                         timeout=3 * WAIT)
        assert fields(d) == ["STATUS=clients=1 messages=8"]
    d = manager.wait(lambda d: status_of(d) == (0, 8), "clients=0 messages=8",
                     timeout=3 * WAIT)
    counts = [status_of(g) for g in manager.got]
    assert all(m <= 8 for _, m in counts), counts
    stop_quiet(srv)


def test_stopping_is_sent_when_shutdown_begins(start_server, manager):
    srv = start_server(env=manager.env())
    manager.wait(lambda d: "READY=1" in fields(d), "READY=1")
    stop_quiet(srv)
    d = manager.wait(lambda d: "STOPPING=1" in fields(d), "STOPPING=1")
    assert fields(d) == ["STOPPING=1", "STATUS=stopping"]
    assert [f for g in manager.got for f in fields(g) if f.endswith("=1")] == \
        ["READY=1", "STOPPING=1"]


def test_watchdog_is_sent_again_and_again(start_server, manager):
    srv = start_server(env=manager.env(WATCHDOG_USEC="200000"))
    manager.wait(lambda d: "READY=1" in fields(d), "READY=1")
    for _ in range(5):
        manager.wait(lambda d: d == "WATCHDOG=1", "WATCHDOG=1")
    stop_quiet(srv)


def test_watchdog_of_another_pid_is_not_sent(start_server, manager):
    srv = start_server(env=manager.env(WATCHDOG_USEC="100000", WATCHDOG_PID="1"))
    manager.wait(lambda d: "READY=1" in fields(d), "READY=1")
    # Twenty periods of the watchdog it was not asked for.
    time.sleep(1.0)
    assert "WATCHDOG=1" not in manager.drain()
    stop_quiet(srv)


def test_a_stopped_loop_sends_no_watchdog(start_server, manager):
    srv = start_server(env=manager.env(WATCHDOG_USEC="100000"))
    manager.wait(lambda d: d == "WATCHDOG=1", "WATCHDOG=1")
    srv.send_signal(signal.SIGSTOP)
    try:
        deadline = time.monotonic() + WAIT
        while proc_state(srv.pid) != "T":
            assert time.monotonic() < deadline, "the server did not stop"
            time.sleep(0.01)
        # Whatever it sent before it stopped is queued here by now.
        manager.drain()
        # Twenty periods of 50 ms: none while it is stopped.
        time.sleep(1.0)
        assert proc_state(srv.pid) == "T"
        assert manager.drain() == []
    finally:
        srv.send_signal(signal.SIGCONT)
    manager.wait(lambda d: d == "WATCHDOG=1", "WATCHDOG=1 once it runs again")
    stop_quiet(srv)


def test_a_malformed_watchdog_usec_is_said(start_server, manager):
    srv = start_server(env=manager.env(WATCHDOG_USEC="soon"))
    manager.wait(lambda d: "READY=1" in fields(d), "READY=1")
    stop_quiet(srv, allow=[r"peerlogd: WATCHDOG_USEC: not a number of microseconds "
                           r"above 0; no watchdog"])


def test_a_relative_notify_socket_is_said_and_the_server_runs(start_server, manager):
    srv = start_server(env=manager.env(NOTIFY_SOCKET="notify"))
    peer = udp_send(srv.udp_addr, b"still here")
    srv.wait_record(("udp", peer, "msg", "still here"))
    stop_quiet(srv, allow=[r"peerlogd: NOTIFY_SOCKET: not an absolute path or an "
                           r"@abstract name; readiness is not sent"])


def test_a_manager_that_went_away_is_said_once(start_server, manager):
    srv = start_server(env=manager.env(WATCHDOG_USEC="20000"))
    manager.wait(lambda d: "READY=1" in fields(d), "READY=1")
    manager.close()
    os.unlink(manager.address)
    # The watchdog's sends fail every 10 ms from now on.
    deadline = time.monotonic() + WAIT
    while "NOTIFY_SOCKET" not in srv.stderr():
        assert time.monotonic() < deadline, srv.stderr()
        time.sleep(0.02)
    time.sleep(0.3)
    err = srv.stderr()
    stop_quiet(srv, allow=[re.escape(f"peerlogd: NOTIFY_SOCKET {manager.address}: "
                                     "No such file or directory")])
    assert err.count("NOTIFY_SOCKET") == 1, err
