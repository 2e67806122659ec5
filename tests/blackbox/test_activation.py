"""systemd socket activation: the sockets a service manager passes from fd 3
on (LISTEN_PID, LISTEN_FDS, LISTEN_FDNAMES) are served by name and type, no
default listener is opened, each is announced; a descriptor that is not a
usable socket is exit status 2.

Two launchers: this file's own (it binds the sockets, and a bash wrapper
moves them to fds 3.. and sets LISTEN_PID to its own pid, which exec keeps)
and systemd's systemd-socket-activate."""

import fcntl
import os
import socket
import subprocess

from conftest import (LISTEN_RE, PEERLOGD, STOP_WAIT, peer_of, requires_peerlogd,
                      sockaddr_str, split_addr, tcp_connect, tcp_session, tls_connect,
                      stop_quiet, udp_send, wait_stderr)

pytestmark = requires_peerlogd

SOCKET_ACTIVATE = "/usr/bin/systemd-socket-activate"
# What the launcher itself says on the standard error it shares.
LAUNCHER_LINES = [r"Listening on \S+ as \d+\.", r"Communication attempt on fd \d+\.",
                  r"Execing .*", r"Received \d+ descriptors via the environment\."]

# The service manager's variables: none of them leaks in from the tests'.
SD_VARS = ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES", "NOTIFY_SOCKET",
           "WATCHDOG_USEC", "WATCHDOG_PID")


def clean_env(**more):
    """The tests' environment without systemd's variables, plus more."""
    env = {k: v for k, v in os.environ.items() if k not in SD_VARS}
    env.update(more)
    return env


def tcp_listener():
    """A listening TCP socket on a free loopback port."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    s.listen(64)
    return s


def udp_bound():
    """A UDP socket bound to a free loopback port."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    return s


def addr_of(sock):
    """The 'IP:PORT' text peerlogd announces a socket with."""
    return sockaddr_str(sock.getsockname())


class Passed:
    """Descriptors to pass as fds 3.. (dups above 50, so that moving them
    down can never overwrite one another) and the wrapper that does it."""

    def __init__(self, fds, names=None, pid="$$"):
        self.high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 50) for fd in fds]
        moves = " ".join(f"{3 + i}<&{h} {h}<&-" for i, h in enumerate(self.high))
        self.wrapper = ["bash", "-c", f'LISTEN_PID={pid} exec "$0" "$@" {moves}']
        more = {"LISTEN_FDS": str(len(fds))}
        if names is not None:
            more["LISTEN_FDNAMES"] = ":".join(names)
        self.env = clean_env(**more)

    def close(self):
        """Close the dups (after the server has started with them)."""
        for h in self.high:
            os.close(h)
        self.high = []


def start_passed(start_server, fds, names=None, args=("-f", "text"), listen=None,
                 pid="$$"):
    """A server with fds passed to it by systemd's protocol."""
    p = Passed(fds, names, pid)
    try:
        return start_server(*args, wrapper=p.wrapper, env=p.env,
                            pass_fds=p.high,
                            listen=len(fds) if listen is None else listen)
    finally:
        p.close()


def run_passed(fds, names=None, args=(), pid="$$"):
    """Run peerlogd with fds passed, expecting it to exit by itself; return
    (exit status, stderr)."""
    p = Passed(fds, names, pid)
    try:
        proc = subprocess.run(p.wrapper + [PEERLOGD, "-o", os.devnull, *args],
                              env=p.env, pass_fds=p.high, stdin=subprocess.DEVNULL,
                              capture_output=True, timeout=STOP_WAIT,
                              start_new_session=True)
    finally:
        p.close()
    return proc.returncode, proc.stderr.decode("utf-8", "replace")


def listening_lines(srv):
    """The server's 'listening' lines as (proto, addr)."""
    return [m.groups() for m in (LISTEN_RE.fullmatch(l) for l in srv.stderr().split("\n"))
            if m]


def test_passed_tcp_socket_serves_clients_and_no_default_listener(start_server):
    with tcp_listener() as ls:
        srv = start_passed(start_server, [ls.fileno()])
        peer, recs = tcp_session(srv, b"through systemd\n")
        assert recs == [("tcp", peer, "connect"),
                        ("tcp", peer, "msg", "through systemd"),
                        ("tcp", peer, "disconnect", "reason=eof msgs=1 bytes=16")]
        # Its own line, with its address; nothing else listens.
        assert listening_lines(srv) == [("tcp", addr_of(ls))]
        stop_quiet(srv)


def test_passed_udp_socket_receives_datagrams(start_server):
    with udp_bound() as us:
        srv = start_passed(start_server, [us.fileno()])
        assert listening_lines(srv) == [("udp", addr_of(us))]
        peer = udp_send(us.getsockname(), b"a datagram\n")
        srv.wait_record(("udp", peer, "msg", "a datagram"))
        stop_quiet(srv)


def test_passed_sockets_are_served_in_order_by_type(start_server):
    with tcp_listener() as t1, udp_bound() as u1, tcp_listener() as t2:
        srv = start_passed(start_server, [t1.fileno(), u1.fileno(), t2.fileno()],
                           names=["peerlogd.socket", "syslog", "unknown"])
        assert sorted(listening_lines(srv)) == sorted(
            [("tcp", addr_of(t1)), ("udp", addr_of(u1)), ("tcp", addr_of(t2))])
        p1, r1 = tcp_session(srv, b"one\n", split_addr(addr_of(t1)))
        p2, r2 = tcp_session(srv, b"two\n", split_addr(addr_of(t2)))
        pu = udp_send(u1.getsockname(), b"three")
        assert ("tcp", p1, "msg", "one") in r1
        assert ("tcp", p2, "msg", "two") in r2
        srv.wait_record(("udp", pu, "msg", "three"))
        stop_quiet(srv)


def test_passed_tls_socket_is_a_tls_listener(start_server, pki):
    with tcp_listener() as ls:
        srv = start_passed(start_server, [ls.fileno()], names=["tls"],
                           args=("--cert", pki.server_cert, "--key", pki.server_key))
        assert listening_lines(srv) == [("tls", addr_of(ls))]
        with tls_connect(ls.getsockname(), pki) as c:
            peer = peer_of(c)
            c.sendall(b"secret\n")
            srv.wait_record(("tls", peer, "msg", "secret"))
        stop_quiet(srv)


def test_passed_tls_socket_without_cert_and_key_exits_2():
    with tcp_listener() as ls:
        rc, err = run_passed([ls.fileno()], names=["tls"])
    assert rc == 2
    assert err == "peerlogd: passed socket 3 (tls) needs --cert and --key\n"


def test_cert_without_any_tls_listener_exits_2(pki):
    with tcp_listener() as ls:
        rc, err = run_passed([ls.fileno()], names=["tcp"],
                             args=("--cert", pki.server_cert, "--key", pki.server_key))
    assert rc == 2
    assert err == ("peerlogd: --cert needs a --tls listener or a passed tls "
                   "socket\n")


def test_datagram_socket_named_tls_exits_2(pki):
    with udp_bound() as us:
        rc, err = run_passed([us.fileno()], names=["tls"],
                             args=("--cert", pki.server_cert, "--key", pki.server_key))
    assert rc == 2
    assert err == ("peerlogd: passed socket 3 (tls): a datagram socket cannot "
                   "be the TLS listener\n")


def test_given_listeners_are_served_beside_the_passed_ones(start_server):
    with tcp_listener() as ls:
        srv = start_passed(start_server, [ls.fileno()],
                           args=("-t", "127.0.0.1:0"), listen=2)
        lines = listening_lines(srv)
        assert lines[0] == ("tcp", addr_of(ls)) and len(lines) == 2
        given = split_addr(lines[1][1])
        assert given != ls.getsockname()
        p1, r1 = tcp_session(srv, b"passed\n", ls.getsockname())
        p2, r2 = tcp_session(srv, b"given\n", given)
        assert ("tcp", p1, "msg", "passed") in r1
        assert ("tcp", p2, "msg", "given") in r2
        stop_quiet(srv)


def test_metrics_socket_is_not_served_as_tcp(start_server):
    with tcp_listener() as ms, tcp_listener() as ts:
        srv = start_passed(start_server, [ms.fileno(), ts.fileno()],
                           names=["metrics", "tcp"], listen=1)
        peer, recs = tcp_session(srv, b"x\n", ts.getsockname())
        assert ("tcp", peer, "msg", "x") in recs
        assert ("tcp", addr_of(ms)) not in listening_lines(srv)
        stop_quiet(srv, allow=[r"peerlogd: passed socket 3 \(metrics\): not served; closed"])


def test_wrong_listen_pid_is_ignored(start_server):
    with tcp_listener() as ls:
        srv = start_passed(start_server, [ls.fileno()], pid="1",
                           args=("-t", "127.0.0.1:0", "-f", "text"), listen=1)
        lines = listening_lines(srv)
        assert len(lines) == 1 and lines[0][1] != addr_of(ls), lines
        peer, recs = tcp_session(srv, b"own\n", split_addr(lines[0][1]))
        assert ("tcp", peer, "msg", "own") in recs
        stop_quiet(srv)


def test_listen_fds_zero_opens_the_given_listeners(start_server):
    srv = start_server("-t", "127.0.0.1:0", wrapper=["bash", "-c", 'LISTEN_PID=$$ exec "$0" "$@"'],
                       env=clean_env(LISTEN_FDS="0"), listen=1)
    assert [p for p, _ in listening_lines(srv)] == ["tcp"]
    stop_quiet(srv)


def test_passed_pipe_exits_2():
    r, w = os.pipe()
    try:
        rc, err = run_passed([r], names=["tcp"])
    finally:
        os.close(r)
        os.close(w)
    assert rc == 2
    assert err == "peerlogd: passed socket 3 (tcp): Socket operation on non-socket\n"


def test_passed_stream_socket_not_listening_exits_2():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        rc, err = run_passed([s.fileno()])
    assert rc == 2
    assert err == "peerlogd: passed socket 3: a stream socket that is not listening\n"


def test_passed_unix_socket_exits_2(tmp_path):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.bind(str(tmp_path / "sock"))
        s.listen()
        rc, err = run_passed([s.fileno()])
    assert rc == 2
    assert err == "peerlogd: passed socket 3: not an IPv4 or IPv6 socket\n"


def test_bad_second_socket_exits_2_naming_it():
    with tcp_listener() as ls:
        r, w = os.pipe()
        try:
            rc, err = run_passed([ls.fileno(), r], names=["a", "b"])
        finally:
            os.close(r)
            os.close(w)
    assert rc == 2
    assert err == "peerlogd: passed socket 4 (b): Socket operation on non-socket\n"


def test_more_names_than_sockets_exits_2():
    with tcp_listener() as ls:
        rc, err = run_passed([ls.fileno()], names=["a", "b"])
    assert rc == 2
    assert err == "peerlogd: LISTEN_FDNAMES: more names than LISTEN_FDS=1\n"


def test_malformed_listen_fds_exits_2():
    proc = subprocess.run(
        ["bash", "-c", 'LISTEN_PID=$$ exec "$0" "$@"', PEERLOGD, "-t", "127.0.0.1:0"],
        env=clean_env(LISTEN_FDS="two"), capture_output=True, timeout=STOP_WAIT,
        stdin=subprocess.DEVNULL)
    assert proc.returncode == 2
    assert proc.stderr == (b"peerlogd: LISTEN_FDS: not a count of at most 1024 "
                           b"sockets\n")


# systemd's own launcher (Debian's systemd package; build.sh installs it):
# it binds, waits for the first connection or datagram, and execs the
# command with the sockets passed (its own and those passed to it, so two
# of them nest a datagram and a stream socket).

def free_port(kind):
    """A loopback port free for kind (SOCK_STREAM or SOCK_DGRAM) now."""
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_systemd_socket_activate_passes_a_tcp_socket(start_server):
    port = free_port(socket.SOCK_STREAM)
    wrapper = [SOCKET_ACTIVATE, "-l", f"127.0.0.1:{port}", "--fdname=peerlogd.socket"]
    # The launcher execs peerlogd only on the first connection: start it
    # without waiting for a listening line.
    srv = start_server("-f", "text", wrapper=wrapper, env=clean_env(), listen=0)
    wait_stderr(srv, rf"Listening on 127\.0\.0\.1:{port} as 3\.", "the launcher")
    with tcp_connect(("127.0.0.1", port)) as c:
        peer = peer_of(c)
        c.sendall(b"first\n")
        srv.wait_record(("tcp", peer, "msg", "first"))
    assert srv._wait_listening(1) == [("tcp", f"127.0.0.1:{port}")]
    stop_quiet(srv, allow=LAUNCHER_LINES)


def test_systemd_socket_activate_nested_udp_and_tls(start_server, pki):
    uport = free_port(socket.SOCK_DGRAM)
    tport = free_port(socket.SOCK_STREAM)
    wrapper = [SOCKET_ACTIVATE, "-d", "-l", f"127.0.0.1:{uport}", "--",
               SOCKET_ACTIVATE, "-l", f"127.0.0.1:{tport}", "--fdname=syslog:tls"]
    srv = start_server("--cert", pki.server_cert, "--key", pki.server_key,
                       wrapper=wrapper, env=clean_env(), listen=0)
    # A datagram wakes the outer launcher, waits in the socket's buffer,
    # and wakes the inner one at once: peerlogd then reads it.
    wait_stderr(srv, rf"Listening on 127\.0\.0\.1:{uport} as 3\.", "the outer launcher")
    peer = udp_send(("127.0.0.1", uport), b"via udp")
    srv._wait_listening(2)
    assert sorted(listening_lines(srv)) == [("tls", f"127.0.0.1:{tport}"),
                                            ("udp", f"127.0.0.1:{uport}")]
    srv.wait_record(("udp", peer, "msg", "via udp"))
    with tls_connect(("127.0.0.1", tport), pki) as c:
        tpeer = peer_of(c)
        c.sendall(b"via tls\n")
        srv.wait_record(("tls", tpeer, "msg", "via tls"))
    stop_quiet(srv, allow=LAUNCHER_LINES)
