"""Input limits of issue 9: --max-per-source (R1) and the rate limit of
reject records (R2): at most 5 reject records with their PEER per reason in
any one-second window, then one server-wide record with the count of those
not written (suppressed=N)."""

import json
import signal
import socket
import time

import conftest
from conftest import (WAIT, check_ts, parse_kv, peer_of, requires_peerlogd,
                      run_peerlogd, group_alive, tcp_connect)

pytestmark = requires_peerlogd

# Reject records with a PEER written per reason in one window (R2).
LOGGED_PER_WINDOW = 5


def connect_from(src, addr, timeout=WAIT):
    """A TCP client bound to source address src (another loopback address,
    such as 127.0.0.2) on a port no other test used, connected to addr."""
    for _ in range(100):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind((src, 0))
        port = s.getsockname()[1]
        if port in conftest._USED_PORTS:
            s.close()
            continue
        conftest._USED_PORTS.add(port)
        s.settimeout(timeout)
        s.connect(addr)
        return s
    raise RuntimeError("no fresh loopback port")


def expect_closed(sock):
    """The server closed sock at once: EOF (or a reset)."""
    try:
        assert sock.recv(1) == b""
    except ConnectionResetError:
        pass


def peer_rejects(recs, reason):
    """The reject records of reason that name a peer."""
    return [r for r in recs if r[2] == "reject" and r[1] != "-"
            and r[3] == f"reason={reason}"]


def summaries(recs, reason):
    """The suppressed= counts of the server-wide reject records of reason."""
    out = []
    for r in recs:
        if r[:3] == ("-", "-", "reject"):
            kv = parse_kv(r[3])
            assert list(kv) == ["reason", "suppressed"], r
            if kv["reason"] == reason:
                out.append(int(kv["suppressed"]))
    return out


def stats(srv, n):
    """Ask for the n-th stats record (SIGUSR1); return it as a dict of ints."""
    srv.send_signal(signal.SIGUSR1)
    recs = srv.wait_for(lambda rs: len([r for r in rs if r[2] == "stats"]) >= n,
                        f"stats record {n}")
    st = [r for r in recs if r[2] == "stats"][n - 1]
    return {k: int(v) for k, v in parse_kv(st[3]).items()}


def ts_of(srv, rec):
    """The timestamp (datetime) of the first output line holding rec."""
    for ts, r in srv.timed_records():
        if r == rec:
            return check_ts(ts)
    raise AssertionError(f"no record {rec!r}")


# R1: --max-per-source.

def test_max_per_source_rejects_one_more_client_from_the_same_address(start_server):
    srv = start_server("-t", "127.0.0.1:0", "--max-per-source", "2")
    admitted = [tcp_connect(srv.tcp_addr) for _ in range(2)]
    try:
        peers = [peer_of(c) for c in admitted]
        for p in peers:
            srv.wait_record(("tcp", p, "connect"))
        with tcp_connect(srv.tcp_addr) as extra:
            pe = peer_of(extra)
            srv.wait_record(("tcp", pe, "reject", "reason=max-per-source"))
            expect_closed(extra)
        assert srv.of(pe) == [("tcp", pe, "reject", "reason=max-per-source")]
        # The two admitted ones are untouched.
        for i, c in enumerate(admitted):
            c.sendall(f"still {i}\n".encode())
        for i, p in enumerate(peers):
            srv.wait_record(("tcp", p, "msg", f"still {i}"))
            assert srv.of(p) == [("tcp", p, "connect"), ("tcp", p, "msg", f"still {i}")]
    finally:
        for c in admitted:
            c.close()


def test_max_per_source_counts_each_address_apart(start_server):
    srv = start_server("-t", "127.0.0.1:0", "--max-per-source", "1")
    a = tcp_connect(srv.tcp_addr)
    b = connect_from("127.0.0.2", srv.tcp_addr)
    try:
        pa, pb = peer_of(a), peer_of(b)
        assert pb.startswith("127.0.0.2:")
        srv.wait_record(("tcp", pa, "connect"))
        srv.wait_record(("tcp", pb, "connect"))
        with tcp_connect(srv.tcp_addr) as a2:
            pa2 = peer_of(a2)
            srv.wait_record(("tcp", pa2, "reject", "reason=max-per-source"))
            expect_closed(a2)
        with connect_from("127.0.0.2", srv.tcp_addr) as b2:
            pb2 = peer_of(b2)
            srv.wait_record(("tcp", pb2, "reject", "reason=max-per-source"))
            expect_closed(b2)
        b.sendall(b"from two\n")
        srv.wait_record(("tcp", pb, "msg", "from two"))
    finally:
        a.close()
        b.close()


def test_max_per_source_slot_freed_by_a_close_lets_a_new_client_in(start_server):
    srv = start_server("-t", "127.0.0.1:0", "--max-per-source", "1")
    c1 = tcp_connect(srv.tcp_addr)
    p1 = peer_of(c1)
    srv.wait_record(("tcp", p1, "connect"))
    with tcp_connect(srv.tcp_addr) as c2:
        p2 = peer_of(c2)
        srv.wait_record(("tcp", p2, "reject", "reason=max-per-source"))
    c1.close()
    srv.wait_record(("tcp", p1, "disconnect", "reason=eof msgs=0 bytes=0"))
    with tcp_connect(srv.tcp_addr) as c3:
        p3 = peer_of(c3)
        c3.sendall(b"my turn\n")
        srv.wait_record(("tcp", p3, "msg", "my turn"))
    srv.wait_event(p3, "disconnect")
    assert srv.of(p3) == [("tcp", p3, "connect"), ("tcp", p3, "msg", "my turn"),
                          ("tcp", p3, "disconnect", "reason=eof msgs=1 bytes=8")]


def test_max_per_source_0_means_no_limit(start_server):
    n = 20
    srv = start_server("-t", "127.0.0.1:0", "--max-per-source", "0")
    clients = [tcp_connect(srv.tcp_addr) for _ in range(n)]
    try:
        peers = [peer_of(c) for c in clients]
        recs = srv.wait_for(
            lambda rs: all(("tcp", p, "connect") in rs for p in peers),
            f"{n} connects")
        assert [r for r in recs if r[2] == "reject"] == []
    finally:
        for c in clients:
            c.close()


def test_max_per_source_not_a_number_is_a_usage_error():
    rc, out, err, pid = run_peerlogd(["-t", "127.0.0.1:0", "--max-per-source", "many"])
    assert rc == 2, (out, err)
    # The same words as every other numeric option's error.
    assert err == "peerlogd: --max-per-source: not a number: 'many'\n"
    assert out == ""
    assert not group_alive(pid)


# R2: rate-limited reject records.

def reject_burst(srv, n, connect=None):
    """Open n connections that the server rejects, as fast as possible, and
    close them; return their peers and how long opening them took."""
    connect = connect or (lambda: tcp_connect(srv.tcp_addr))
    t0 = time.monotonic()
    socks = [connect() for _ in range(n)]
    took = time.monotonic() - t0
    peers = [peer_of(s) for s in socks]
    for s in socks:
        s.close()
    return peers, took


def wait_window_end(srv, reason, n_summaries=1):
    """Wait for the n-th summary record of reason, failing early when more
    than LOGGED_PER_WINDOW * n_summaries rejects with a peer were logged
    (every reject logged: the defect)."""
    limit = LOGGED_PER_WINDOW * n_summaries
    recs = srv.wait_for(
        lambda rs: len(summaries(rs, reason)) >= n_summaries
        or len(peer_rejects(rs, reason)) > limit,
        f"summary record {n_summaries} of reason={reason}", timeout=2 * WAIT)
    logged = peer_rejects(recs, reason)
    assert len(logged) <= limit, \
        f"{len(logged)} reject records with a peer, at most {limit} expected"
    return recs


def test_reject_records_beyond_5_a_second_are_counted_in_one_suppressed_record(
        start_server):
    n = 50
    srv = start_server("-t", "127.0.0.1:0", "--allow", "192.0.2.0/24")
    peers, took = reject_burst(srv, n)
    # All n fall in the first window (1 s from the first reject).
    assert took < 0.5, f"opening {n} connections took {took:.2f} s"
    recs = wait_window_end(srv, "acl")
    logged = peer_rejects(recs, "acl")
    assert len(logged) == LOGGED_PER_WINDOW
    # The ones logged are the first ones, with their PEER.
    assert [r[1] for r in logged] == peers[:LOGGED_PER_WINDOW]
    assert summaries(recs, "acl") == [n - LOGGED_PER_WINDOW]
    summary = ("-", "-", "reject", f"reason=acl suppressed={n - LOGGED_PER_WINDOW}")
    # Written when the window ends: about 1 s after its first reject.
    gap = (ts_of(srv, summary) - ts_of(srv, logged[0])).total_seconds()
    assert 0.95 <= gap <= 5.0, f"summary {gap:.3f} s after the first reject"
    # The rejects counter still counts every reject.
    st = stats(srv, 1)
    assert st["rejects"] == n
    rc, recs, _ = srv.stop()
    assert rc == 0
    assert len(peer_rejects(recs, "acl")) + sum(summaries(recs, "acl")) == n


def test_reject_window_starts_again_after_its_summary(start_server):
    n = 8
    srv = start_server("-t", "127.0.0.1:0", "--allow", "192.0.2.0/24")
    first, took1 = reject_burst(srv, n)
    assert took1 < 0.5
    wait_window_end(srv, "acl", 1)
    # A new burst after the window ended opens a new window: 5 more with
    # their PEER, the rest counted in a second summary.
    second, took2 = reject_burst(srv, n)
    assert took2 < 0.5
    recs = wait_window_end(srv, "acl", 2)
    logged = [r[1] for r in peer_rejects(recs, "acl")]
    assert logged == first[:LOGGED_PER_WINDOW] + second[:LOGGED_PER_WINDOW]
    assert summaries(recs, "acl") == [n - LOGGED_PER_WINDOW] * 2
    assert stats(srv, 1)["rejects"] == 2 * n


def test_reject_rate_limit_counts_each_reason_apart(start_server):
    n = 10
    srv = start_server("-t", "127.0.0.1:0", "--allow", "127.0.0.1",
                       "--max-clients", "1")
    holder = tcp_connect(srv.tcp_addr)
    try:
        ph = peer_of(holder)
        srv.wait_record(("tcp", ph, "connect"))
        t0 = time.monotonic()
        socks = []
        for _ in range(n):
            # 127.0.0.2 is outside --allow (acl); 127.0.0.1 finds the one
            # slot taken (max-clients).
            socks.append(connect_from("127.0.0.2", srv.tcp_addr))
            socks.append(tcp_connect(srv.tcp_addr))
        assert time.monotonic() - t0 < 0.5
        acl = [peer_of(s) for s in socks[0::2]]
        full = [peer_of(s) for s in socks[1::2]]
        for s in socks:
            s.close()
        wait_window_end(srv, "acl")
        recs = wait_window_end(srv, "max-clients")
        assert [r[1] for r in peer_rejects(recs, "acl")] == acl[:LOGGED_PER_WINDOW]
        assert [r[1] for r in peer_rejects(recs, "max-clients")] == \
            full[:LOGGED_PER_WINDOW]
        assert summaries(recs, "acl") == [n - LOGGED_PER_WINDOW]
        assert summaries(recs, "max-clients") == [n - LOGGED_PER_WINDOW]
        assert stats(srv, 1)["rejects"] == 2 * n
    finally:
        holder.close()


def test_suppressed_rejects_are_summarised_at_shutdown_before_the_stop_record(
        start_server):
    n = 20
    srv = start_server("-t", "127.0.0.1:0", "--allow", "192.0.2.0/24")
    t0 = time.monotonic()
    peers, _ = reject_burst(srv, n)
    srv.wait_for(lambda rs: len(peer_rejects(rs, "acl")) >= LOGGED_PER_WINDOW,
                 "the first rejects")
    # SIGTERM well inside the window: its summary is not written yet.
    assert time.monotonic() - t0 < 0.8
    rc, recs, _ = srv.stop()
    assert rc == 0
    assert recs[-2:] == [
        ("-", "-", "reject", f"reason=acl suppressed={n - LOGGED_PER_WINDOW}"),
        ("-", "-", "stop", "signal=SIGTERM")]
    assert [r[1] for r in peer_rejects(recs, "acl")] == peers[:LOGGED_PER_WINDOW]
    assert summaries(recs, "acl") == [n - LOGGED_PER_WINDOW]


def test_suppressed_reject_record_in_json_is_exact(start_server):
    n = 8
    srv = start_server("-t", "127.0.0.1:0", "--allow", "192.0.2.0/24", fmt="json")
    peers, took = reject_burst(srv, n)
    assert took < 0.5

    def server_wide(rs):
        return [r for r in rs if r["event"] == "reject" and r["peer"] == "-"]

    recs = srv.wait_for(
        lambda rs: server_wide(rs) or
        len([r for r in rs if r["event"] == "reject"]) > LOGGED_PER_WINDOW,
        "the summary record", timeout=2 * WAIT)
    logged = [r["peer"] for r in recs if r["event"] == "reject" and r["peer"] != "-"]
    assert logged == peers[:LOGGED_PER_WINDOW]
    raw = [l.decode() for l in srv.lines() if b'"peer":"-","event":"reject"' in l]
    assert len(raw) == 1
    ts = json.loads(raw[0])["ts"]
    check_ts(ts)
    assert raw[0] == ('{"ts":"' + ts + '","proto":"-","peer":"-","event":"reject",'
                      f'"reason":"acl","suppressed":{n - LOGGED_PER_WINDOW}}}')
