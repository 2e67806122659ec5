"""Signals: graceful shutdown, log reopening, stats, and SIGPIPE immunity."""

import os
import signal
import time

import pytest

from conftest import (VERSION, parse_kv, peer_of, requires_peerlogd, reset_close,
                      tcp_connect, tcp_session, udp_socket)

pytestmark = requires_peerlogd


@pytest.mark.parametrize("sig,name", [(signal.SIGTERM, "SIGTERM"),
                                      (signal.SIGINT, "SIGINT")])
def test_shutdown_logs_tails_and_open_peers(server, sig, name):
    a = tcp_connect(server.tcp_addr)
    b = tcp_connect(server.tcp_addr)
    try:
        pa, pb = peer_of(a), peer_of(b)
        a.sendall(b"one\r\nunfinished tail")
        b.sendall(b"x\n")
        server.wait_record(("tcp", pa, "msg", "one"))
        server.wait_record(("tcp", pb, "msg", "x"))
        rc, recs, _ = server.stop(sig)
        assert rc == 0
        assert [r for r in recs if r[1] == pa] == [
            ("tcp", pa, "connect"), ("tcp", pa, "msg", "one"),
            ("tcp", pa, "msg", "unfinished tail"),
            ("tcp", pa, "disconnect", "reason=shutdown msgs=2 bytes=20")]
        assert [r for r in recs if r[1] == pb] == [
            ("tcp", pb, "connect"), ("tcp", pb, "msg", "x"),
            ("tcp", pb, "disconnect", "reason=shutdown msgs=1 bytes=2")]
        assert recs[0] == ("-", "-", "start", f"version={VERSION} pid={server.pid}")
        assert recs[-1] == ("-", "-", "stop", f"signal={name}")
        assert [r[2] for r in recs].count("stop") == 1
        # The server closed both connections.
        assert a.recv(1) == b""
        assert b.recv(1) == b""
    finally:
        a.close()
        b.close()


def test_shutdown_logs_overlong_tail_in_pieces(start_server):
    srv = start_server("-t", "127.0.0.1:0", "--max-line", "4")
    with tcp_connect(srv.tcp_addr) as c:
        peer = peer_of(c)
        c.sendall(b"abcdef")
        srv.wait_record(("tcp", peer, "msg+", "abcd"))
        rc, recs, _ = srv.stop()
    assert rc == 0
    mine = [r for r in recs if r[1] == peer]
    assert mine[1:3] == [("tcp", peer, "msg+", "abcd"), ("tcp", peer, "msg", "ef")]
    assert mine[3][2:3] == ("disconnect",) and mine[3][3].startswith("reason=shutdown ")
    assert recs[-1] == ("-", "-", "stop", "signal=SIGTERM")


def test_shutdown_logs_every_counted_byte_of_a_burst(server):
    lines = [f"burst line {i:04d}".encode() for i in range(2000)]
    c = tcp_connect(server.tcp_addr)
    try:
        peer = peer_of(c)
        c.sendall(b"\n".join(lines) + b"\n")
        server.wait_record(("tcp", peer, "msg", "burst line 0000"))
        rc, recs, _ = server.stop()
    finally:
        c.close()
    assert rc == 0
    mine = [r for r in recs if r[1] == peer]
    got = [r[3] for r in mine if r[2] == "msg"]
    # However much the server had read, what it counted it also logged.
    assert got == [l.decode() for l in lines[:len(got)]]
    kv = parse_kv(mine[-1][3])
    assert mine[-1][2] == "disconnect" and kv["reason"] == "shutdown"
    assert int(kv["msgs"]) == len(got)
    assert int(kv["bytes"]) == sum(len(l) + 1 for l in lines[:len(got)])
    assert recs[-1] == ("-", "-", "stop", "signal=SIGTERM")


def test_peer_closed_before_shutdown_is_eof_not_shutdown(server):
    peer, recs = tcp_session(server, b"done\n")
    rc, all_recs, _ = server.stop()
    assert rc == 0
    assert [r for r in all_recs if r[1] == peer][-1] == \
        ("tcp", peer, "disconnect", "reason=eof msgs=1 bytes=5")


def test_sighup_reopens_the_output_file(server):
    path = server.out_path
    p1, _ = tcp_session(server, b"before rotation\n")
    os.rename(path, path + ".1")
    server.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 5
    while not os.path.exists(path):
        assert time.monotonic() < deadline, "output not reopened after SIGHUP"
        assert server.proc.poll() is None, "server died on SIGHUP"
        time.sleep(0.01)
    p2, recs2 = tcp_session(server, b"after rotation\n")
    assert recs2 == [("tcp", p2, "connect"), ("tcp", p2, "msg", "after rotation"),
                     ("tcp", p2, "disconnect", "reason=eof msgs=1 bytes=15")]
    rc, new_recs, _ = server.stop()
    assert rc == 0
    assert new_recs == recs2 + [("-", "-", "stop", "signal=SIGTERM")]
    with open(path + ".1", "rb") as f:
        old = [l.decode() for l in f.read().split(b"\n")[:-1]]
    assert [l[28:] for l in old] == [
        f"- - start version={VERSION} pid={server.pid}",
        f"tcp {p1} connect", f"tcp {p1} msg before rotation",
        f"tcp {p1} disconnect reason=eof msgs=1 bytes=16"]


def test_sighup_with_stdout_output_keeps_running(start_server):
    srv = start_server(output="stdout")
    srv.wait_count(1)
    srv.send_signal(signal.SIGHUP)
    peer, recs = tcp_session(srv, b"still here\n")
    assert recs[1] == ("tcp", peer, "msg", "still here")
    rc, all_recs, _ = srv.stop()
    assert rc == 0
    assert all_recs[-1] == ("-", "-", "stop", "signal=SIGTERM")


def stats_of(srv, n=1):
    """Wait for the n-th stats record; return its detail as a dict of ints."""
    recs = srv.wait_for(lambda rs: len([r for r in rs if r[2] == "stats"]) >= n,
                        f"stats record {n}")
    st = [r for r in recs if r[2] == "stats"][n - 1]
    assert st[:2] == ("-", "-")
    return {k: int(v) for k, v in parse_kv(st[3]).items()}


def offset_of_stats(srv, n=1):
    """Where the n-th stats line begins in the output file: the bytes
    written before it, which its output_bytes counts when every earlier
    record was in the file before SIGUSR1."""
    data = srv.output()
    pos = -1
    for _ in range(n):
        pos = data.index(b" - - stats ", pos + 1)
    return data.rindex(b"\n", 0, pos) + 1


def test_sigusr1_stats_of_a_fresh_server_are_zero(server):
    server.wait_count(1)  # the start record is written
    server.send_signal(signal.SIGUSR1)
    st = stats_of(server)
    assert st == dict(clients=0, connects=0, rejects=0, tcp_msgs=0,
                      tcp_bytes=0, udp_msgs=0, udp_bytes=0,
                      udp_dropped=0, udp_dropped_acl=0, udp_dropped_kernel=0,
                      records_lost=0, output_bytes=offset_of_stats(server),
                      output_errors=0, tls_msgs=0, tls_bytes=0)
    assert st["output_bytes"] > 0
    assert server.proc.poll() is None


def test_sigusr1_stats_count_exactly(start_server):
    srv = start_server("-t", "127.0.0.1:0", "-u", "127.0.0.1:0", "--max-clients", "2")
    c1 = tcp_connect(srv.tcp_addr)
    c2 = tcp_connect(srv.tcp_addr)
    try:
        p1, p2 = peer_of(c1), peer_of(c2)
        c1.sendall(b"ab\nc\n")
        c2.sendall(b"hello\r\n")
        srv.wait_record(("tcp", p1, "msg", "c"))
        srv.wait_record(("tcp", p2, "msg", "hello"))
        with tcp_connect(srv.tcp_addr) as c3:
            p3 = peer_of(c3)
            srv.wait_record(("tcp", p3, "reject", "reason=max-clients"))
        c1.close()
        srv.wait_record(("tcp", p1, "disconnect", "reason=eof msgs=2 bytes=5"))
        with udp_socket(srv.udp_addr) as u:
            pu = peer_of(u)
            u.sendto(b"u1", srv.udp_addr)
            u.sendto(b"xyz", srv.udp_addr)
            srv.wait_record(("udp", pu, "msg", "xyz"))
        srv.send_signal(signal.SIGUSR1)
        # Every record before it was in the file when SIGUSR1 was sent.
        assert stats_of(srv) == dict(clients=1, connects=2, rejects=1, tcp_msgs=3,
                                     tcp_bytes=12, udp_msgs=2, udp_bytes=5,
                                     udp_dropped=0, udp_dropped_acl=0,
                                     udp_dropped_kernel=0, records_lost=0,
                                     output_bytes=offset_of_stats(srv),
                                     output_errors=0, tls_msgs=0, tls_bytes=0)
        # Counts keep growing; a second SIGUSR1 writes a second record.
        c2.sendall(b"more\n")
        srv.wait_record(("tcp", p2, "msg", "more"))
        srv.send_signal(signal.SIGUSR1)
        st = stats_of(srv, 2)
        assert (st["clients"], st["tcp_msgs"], st["tcp_bytes"]) == (1, 4, 17)
        assert st["output_bytes"] == offset_of_stats(srv, 2)
    finally:
        c1.close()
        c2.close()


def test_peer_reset_does_not_kill_the_server(server):
    c = tcp_connect(server.tcp_addr)
    peer = peer_of(c)
    c.sendall(b"about to reset\n")
    server.wait_record(("tcp", peer, "msg", "about to reset"))
    reset_close(c)
    server.wait_event(peer, "disconnect")
    peer2, recs = tcp_session(server, b"next\n")
    assert recs[1] == ("tcp", peer2, "msg", "next")
    assert server.proc.poll() is None


def test_output_pipe_without_reader_does_not_kill_by_sigpipe(start_server):
    srv = start_server(output="rawpipe")
    srv.close_stdout_reader()
    # The next records meet a pipe with no reader (EPIPE, and SIGPIPE unless
    # it is ignored); at the latest the stop record does.
    try:
        with tcp_connect(srv.tcp_addr) as c:
            c.sendall(b"into the void\n")
    except OSError:
        pass
    rc = srv.stop()[0]
    assert rc != -signal.SIGPIPE, "killed by SIGPIPE"
    assert rc >= 0
