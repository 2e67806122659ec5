"""peerlogd start-up: listening lines, defaults, -h/-V, and start-up errors."""

import os
import signal
import socket

import pytest

from conftest import (VERSION, group_alive, needs_ipv6, peer_of, requires_peerlogd,
                      run_peerlogd, tcp_connect, udp_send, Server, split_addr,
                      tcp_session)

pytestmark = requires_peerlogd


def test_listening_lines_report_real_ports(server):
    assert len(server.tcp) == 1 and len(server.udp) == 1
    host, tport = split_addr(server.tcp[0])
    uhost, uport = split_addr(server.udp[0])
    assert (host, uhost) == ("127.0.0.1", "127.0.0.1")
    assert tport != 0 and uport != 0
    with tcp_connect((host, tport)) as c:
        peer = peer_of(c)
        server.wait_record(("tcp", peer, "connect"))
    upeer = udp_send((uhost, uport), b"ping")
    server.wait_record(("udp", upeer, "msg", "ping"))


def test_stderr_holds_only_the_listening_lines(start_server):
    srv = start_server("-u", "127.0.0.1:0", "-t", "127.0.0.1:0")
    rc, _, err = srv.stop()
    assert rc == 0
    assert sorted(err.splitlines()) == sorted(
        f"peerlogd: listening {p} {a}" for p, a in srv.listening)
    assert len(err.splitlines()) == 2


def test_start_record_is_first_with_version_and_pid(server):
    recs = server.wait_count(1)
    assert recs[0] == ("-", "-", "start", f"version={VERSION} pid={server.pid}")


def test_stop_record_is_last_and_exit_status_is_zero(server):
    rc, recs, _ = server.stop()
    assert rc == 0
    assert recs == [("-", "-", "start", f"version={VERSION} pid={server.pid}"),
                    ("-", "-", "stop", "signal=SIGTERM")]


def test_only_given_tcp_address_is_used(start_server):
    srv = start_server("-t", "127.0.0.1:0")
    assert srv.udp == [] and len(srv.tcp) == 1
    rc, _, err = srv.stop()
    assert rc == 0
    assert len(err.splitlines()) == 1, err


def test_only_given_udp_address_is_used(start_server):
    srv = start_server("-u", "127.0.0.1:0")
    assert srv.tcp == [] and len(srv.udp) == 1
    peer = udp_send(srv.udp_addr, b"only udp")
    srv.wait_record(("udp", peer, "msg", "only udp"))
    rc, _, err = srv.stop()
    assert rc == 0
    assert len(err.splitlines()) == 1, err


@needs_ipv6
def test_ipv6_listen_addresses_are_shown_in_brackets(start_server):
    srv = start_server("-t", "[::1]:0", "-u", "[::1]:0")
    assert srv.tcp[0].startswith("[::1]:") and srv.udp[0].startswith("[::1]:")
    assert split_addr(srv.tcp[0])[1] != 0


@needs_ipv6
def test_repeated_tcp_option_binds_each_address(start_server):
    srv = start_server("-t", "127.0.0.1:0", "--tcp", "[::1]:0")
    hosts = sorted(split_addr(a)[0] for a in srv.tcp)
    assert hosts == ["127.0.0.1", "::1"]
    for a in srv.tcp:
        with tcp_connect(split_addr(a)) as c:
            srv.wait_record(("tcp", peer_of(c), "connect"))


def test_localhost_name_is_bound_on_each_address_it_resolves_to(start_server):
    want = sorted({ai[4][0] for ai in socket.getaddrinfo(
        "localhost", 0, type=socket.SOCK_STREAM)})
    srv = start_server("-t", "localhost:0")
    assert sorted(split_addr(a)[0] for a in srv.tcp) == want


def test_long_options_work(start_server, tmp_path):
    out = str(tmp_path / "long.log")
    srv = start_server("--tcp", "127.0.0.1:0", "--udp", "127.0.0.1:0",
                       "--output", out, "--format", "text", "--max-line", "100",
                       "--max-clients", "5", "--idle-timeout", "0",
                       "--allow", "127.0.0.0/8", output="given", out_path=out)
    peer, recs = tcp_session(srv, b"long\n")
    assert recs == [("tcp", peer, "connect"), ("tcp", peer, "msg", "long"),
                    ("tcp", peer, "disconnect", "reason=eof msgs=1 bytes=5")]


def _ports_free(tcp_port, udp_port):
    """Whether localhost TCP tcp_port and UDP udp_port can be bound now."""
    try:
        for fam, typ, port in ((socket.AF_INET, socket.SOCK_STREAM, tcp_port),
                               (socket.AF_INET, socket.SOCK_DGRAM, udp_port)):
            with socket.socket(fam, typ) as s:
                if typ == socket.SOCK_STREAM:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False


def test_default_addresses_are_localhost_1234_and_1235(tmp_path):
    if not _ports_free(1234, 1235):
        pytest.skip("port 1234 or 1235 on localhost is busy")
    want = {ai[4][0] for ai in socket.getaddrinfo("localhost", 0,
                                                  type=socket.SOCK_STREAM)}
    try:
        srv = Server((), tmp_dir=tmp_path, listen=2 * len(want))
    except AssertionError as e:
        if "Address already in use" in str(e):
            pytest.skip("default port taken by a concurrent test")
        raise
    try:
        got = sorted(srv.listening)
        expect = sorted([("tcp", f"{h}:1234" if ":" not in h else f"[{h}]:1234")
                         for h in want] +
                        [("udp", f"{h}:1235" if ":" not in h else f"[{h}]:1235")
                         for h in want])
        assert got == expect
        rc, _, _ = srv.stop()
        assert rc == 0
    finally:
        srv.kill()


@pytest.mark.parametrize("opt", ["-h", "--help"])
def test_help_prints_usage_on_stdout_and_exits_0(opt):
    rc, out, err, pid = run_peerlogd([opt])
    assert rc == 0
    assert "peerlogd" in out
    for word in ("--tcp", "--udp", "--output", "--format", "--max-line",
                 "--max-clients", "--idle-timeout", "--allow"):
        assert word in out, f"usage lacks {word}"
    assert err == ""
    assert not group_alive(pid)


@pytest.mark.parametrize("opt", ["-V", "--version"])
def test_version_prints_version_on_stdout_and_exits_0(opt):
    rc, out, err, pid = run_peerlogd([opt])
    assert rc == 0
    assert VERSION in out
    assert len(out.splitlines()) == 1
    assert err == ""
    assert not group_alive(pid)


BAD_ARGS = [
    # (arguments, text the one error line must contain)
    (["--bogus"], "--bogus"),
    (["-x"], "x"),
    (["-t"], "-t"),
    (["-f", "xml"], "xml"),
    (["-t", "127.0.0.1:99999"], "99999"),
    (["-t", "127.0.0.1:-1"], "127.0.0.1:-1"),
    (["-t", "127.0.0.1:port"], "127.0.0.1:port"),
    (["-t", "127.0.0.1:"], "127.0.0.1:"),
    (["-t", "[::1:0"], "[::1:0"),
    (["-u", "127.0.0.1:70000"], "70000"),
    (["--max-line", "0"], "--max-line"),
    (["--max-line", "abc"], "--max-line"),
    (["--max-line", "-5"], "--max-line"),
    (["--max-clients", "many"], "--max-clients"),
    (["--idle-timeout", "soon"], "--idle-timeout"),
    (["--idle-timeout", "-1"], "--idle-timeout"),
    (["--allow", "10.0.0.0/33"], "10.0.0.0/33"),
    (["--allow", "not-an-address"], "not-an-address"),
    (["--allow", "::1/129"], "::1/129"),
    (["-t", "127.0.0.1:0", "extra"], "extra"),
]


@pytest.mark.parametrize("args,names", BAD_ARGS,
                         ids=[" ".join(a) for a, _ in BAD_ARGS])
def test_bad_option_is_one_error_line_and_exit_2(args, names):
    # A loopback address first, so a wrongly accepted option binds nothing else.
    rc, out, err, pid = run_peerlogd(["-u", "127.0.0.1:0"] + args)
    assert rc == 2, (out, err)
    lines = err.splitlines()
    assert lines and lines[0].startswith("peerlogd: "), err
    assert names in lines[0], lines[0]
    assert "listening" not in err
    assert out == ""
    assert not group_alive(pid)
    assert len(lines) == 1, f"error is not one line: {err!r}"


def test_unknown_format_error_message_is_exact():
    rc, _, err, _ = run_peerlogd(["-t", "127.0.0.1:0", "-f", "xml"])
    assert rc == 2
    assert err.startswith("peerlogd: --format: unknown format 'xml'")
    assert err.count("\n") == 1, f"error is not one line: {err!r}"


def test_tcp_address_in_use_fails_with_exit_2():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        rc, out, err, pid = run_peerlogd(["-t", f"127.0.0.1:{port}"])
    assert rc == 2
    assert err == f"peerlogd: bind 127.0.0.1:{port}: Address already in use\n"
    assert not group_alive(pid)


def test_udp_address_in_use_fails_with_exit_2():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as busy:
        busy.bind(("127.0.0.1", 0))
        port = busy.getsockname()[1]
        rc, out, err, pid = run_peerlogd(["-u", f"127.0.0.1:{port}"])
    assert rc == 2
    assert err == f"peerlogd: bind 127.0.0.1:{port}: Address already in use\n"
    assert not group_alive(pid)


def test_bind_failure_after_a_good_bind_leaves_nothing_running():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        rc, out, err, pid = run_peerlogd(
            ["-t", "127.0.0.1:0", "-u", "127.0.0.1:0", "-t", f"127.0.0.1:{port}"])
    assert rc == 2
    errors = [l for l in err.splitlines() if not l.startswith("peerlogd: listening ")]
    assert errors == [f"peerlogd: bind 127.0.0.1:{port}: Address already in use"]
    assert not group_alive(pid)


def test_unopenable_output_file_fails_with_exit_2(tmp_path):
    path = str(tmp_path / "no-such-dir" / "out.log")
    rc, out, err, pid = run_peerlogd(["-t", "127.0.0.1:0", "-o", path])
    assert rc == 2
    errors = [l for l in err.splitlines() if not l.startswith("peerlogd: listening ")]
    assert len(errors) == 1 and errors[0].startswith("peerlogd: ")
    assert path in errors[0]
    assert not group_alive(pid)


def test_restart_on_same_port_does_not_wait_for_time_wait(start_server):
    first = start_server("-t", "127.0.0.1:0")
    port = first.tcp_addr[1]
    with tcp_connect(first.tcp_addr) as c:
        peer = peer_of(c)
        first.wait_record(("tcp", peer, "connect"))
        # The server closes first at shutdown, so its side goes to TIME_WAIT.
        rc, _, _ = first.stop()
        assert rc == 0
        assert c.recv(1) == b""
    second = start_server("-t", f"127.0.0.1:{port}")
    assert second.tcp == [f"127.0.0.1:{port}"]


def test_output_file_is_created_when_missing(start_server, tmp_path):
    path = str(tmp_path / "new.log")
    assert not os.path.exists(path)
    srv = start_server(out_path=path)
    srv.wait_count(1)
    assert os.path.exists(path)


def test_output_file_is_appended_not_truncated(start_server, tmp_path):
    path = str(tmp_path / "old.log")
    with open(path, "wb") as f:
        f.write(b"an old line\n")
    srv = start_server(out_path=path)
    srv.send_signal(signal.SIGTERM)
    assert srv.wait_exit() == 0
    with open(path, "rb") as f:
        data = f.read()
    assert data.startswith(b"an old line\n")
    lines = data.split(b"\n")
    assert b" - - start version=" in lines[1]
    assert b" - - stop signal=SIGTERM" in lines[-2] and lines[-1] == b""


@pytest.mark.parametrize("extra", [[], ["-o", "-"]], ids=["default", "dash"])
def test_records_go_to_stdout_without_o_or_with_dash(start_server, extra):
    srv = start_server("-t", "127.0.0.1:0", *extra, output="stdout")
    peer, recs = tcp_session(srv, b"to stdout\n")
    assert recs == [("tcp", peer, "connect"), ("tcp", peer, "msg", "to stdout"),
                    ("tcp", peer, "disconnect", "reason=eof msgs=1 bytes=10")]
    rc, _, _ = srv.stop()
    assert rc == 0
