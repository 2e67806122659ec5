"""Limits: --max-clients, --idle-timeout, --allow for UDP floods, and file
descriptors (the soft limit raised at start, running out of them)."""

import re
import signal
import time

from conftest import (WAIT, parse_kv, peer_of, proc_cpu_seconds, requires_peerlogd,
                      reset_close, tcp_connect, udp_socket)

pytestmark = requires_peerlogd


def expect_eof(sock):
    """The server closed sock at once: reading gives EOF (or a reset when
    the client's own bytes were still unread)."""
    try:
        assert sock.recv(1) == b""
    except ConnectionResetError:
        pass


def stats_until(srv, pred, what):
    """Ask for stats (SIGUSR1) until one record satisfies pred; return it as
    a dict of ints. Datagrams the kernel holds are read by the server in its
    own time, so one request may come too early."""
    deadline = time.monotonic() + WAIT
    asked = 0
    last = None
    while time.monotonic() < deadline:
        srv.send_signal(signal.SIGUSR1)
        asked += 1
        recs = srv.wait_for(
            lambda rs: len([r for r in rs if r[2] == "stats"]) >= asked,
            f"stats record {asked}")
        last = {k: int(v) for k, v in
                parse_kv([r for r in recs if r[2] == "stats"][-1][3]).items()}
        if pred(last):
            return last
        time.sleep(0.05)
    raise AssertionError(f"stats never showed {what}: last {last}")


def test_max_clients_rejects_each_extra_peer_while_the_admitted_keep_logging(
        start_server):
    srv = start_server("-t", "127.0.0.1:0", "--max-clients", "3")
    admitted = [tcp_connect(srv.tcp_addr) for _ in range(3)]
    try:
        peers = [peer_of(c) for c in admitted]
        for p in peers:
            srv.wait_record(("tcp", p, "connect"))
        rejected = []
        for _ in range(4):
            with tcp_connect(srv.tcp_addr) as extra:
                rp = peer_of(extra)
                srv.wait_record(("tcp", rp, "reject", "reason=max-clients"))
                expect_eof(extra)
                rejected.append(rp)
        for i, c in enumerate(admitted):
            c.sendall(f"admitted {i}\n".encode())
        for c in admitted:
            c.close()
        for p in peers:
            srv.wait_event(p, "disconnect")
        for i, p in enumerate(peers):
            assert srv.of(p) == [
                ("tcp", p, "connect"), ("tcp", p, "msg", f"admitted {i}"),
                ("tcp", p, "disconnect", "reason=eof msgs=1 bytes=11")]
        for rp in rejected:
            assert srv.of(rp) == [("tcp", rp, "reject", "reason=max-clients")]
    finally:
        for c in admitted:
            c.close()


def test_max_clients_slot_freed_by_a_reset_is_usable_again(start_server):
    srv = start_server("-t", "127.0.0.1:0", "--max-clients", "1")
    c1 = tcp_connect(srv.tcp_addr)
    p1 = peer_of(c1)
    c1.sendall(b"first\n")
    srv.wait_record(("tcp", p1, "msg", "first"))
    reset_close(c1)
    srv.wait_record(("tcp", p1, "disconnect", "reason=reset msgs=1 bytes=6"))
    with tcp_connect(srv.tcp_addr) as c2:
        p2 = peer_of(c2)
        c2.sendall(b"second\n")
        srv.wait_record(("tcp", p2, "msg", "second"))
    srv.wait_event(p2, "disconnect")
    assert srv.of(p2) == [("tcp", p2, "connect"), ("tcp", p2, "msg", "second"),
                          ("tcp", p2, "disconnect", "reason=eof msgs=1 bytes=7")]


def test_idle_timeout_spares_a_talking_peer_and_closes_a_silent_one(start_server):
    timeout = 2
    srv = start_server("-t", "127.0.0.1:0", "--idle-timeout", str(timeout))
    talker = tcp_connect(srv.tcp_addr)
    silent = tcp_connect(srv.tcp_addr)
    try:
        pt, ps = peer_of(talker), peer_of(silent)
        srv.wait_record(("tcp", pt, "connect"))
        started = time.monotonic()
        sent = 0
        # The talker speaks every 0.25 s, far inside the timeout, until the
        # silent peer is gone and the talker has outlived the timeout by half.
        while True:
            talker.sendall(f"tick {sent}\n".encode())
            sent += 1
            done = any(r[1] == ps and r[2] == "disconnect" for r in srv.records())
            if done and time.monotonic() - started > timeout * 1.5:
                break
            assert time.monotonic() - started < timeout + WAIT, \
                "silent peer was never closed"
            time.sleep(0.25)
        expect_eof(silent)
        srv.wait_record(("tcp", pt, "msg", f"tick {sent - 1}"))
        assert srv.of(ps) == [("tcp", ps, "connect"),
                              ("tcp", ps, "disconnect", "reason=timeout msgs=0 bytes=0")]
        assert srv.of(pt) == [("tcp", pt, "connect")] + [
            ("tcp", pt, "msg", f"tick {i}") for i in range(sent)]
        # The talker's connection is still open: more lines are still logged.
        talker.sendall(b"still here\n")
        srv.wait_record(("tcp", pt, "msg", "still here"))
    finally:
        talker.close()
        silent.close()


def test_allow_counts_udp_datagrams_from_outside_without_logging_them(start_server):
    n = 1000
    srv = start_server("-u", "127.0.0.1:0", "--allow", "10.0.0.0/8")
    srv.wait_count(1)
    with udp_socket(srv.udp_addr) as u:
        for i in range(n):
            u.sendto(f"outside {i}".encode(), srv.udp_addr)
    st = stats_until(srv, lambda st: st["udp_dropped"] >= n, f"udp_dropped={n}")
    # The stats record just returned is the last line written; every line
    # before it was in the file when its SIGUSR1 was sent.
    data = srv.output()
    written = data.rindex(b"\n", 0, data.rindex(b" - - stats ")) + 1
    assert st == dict(clients=0, connects=0, rejects=0, tcp_msgs=0, tcp_bytes=0,
                      udp_msgs=0, udp_bytes=0, udp_dropped=n, udp_dropped_acl=n,
                      udp_dropped_kernel=0, records_lost=0, output_bytes=written,
                      output_errors=0, tls_msgs=0, tls_bytes=0)
    rc, recs, err = srv.stop()
    assert rc == 0
    # Not one record per datagram: only start, the stats records and stop.
    assert [r[2] for r in recs if r[2] not in ("stats",)] == ["start", "stop"]
    assert [r for r in recs if r[0] == "udp"] == []
    assert err.count("\n") == 1, f"stderr should hold only the listening line: {err!r}"


def test_allow_logs_udp_datagrams_from_inside_and_drops_none(start_server):
    n = 200
    srv = start_server("-u", "127.0.0.1:0", "--allow", "127.0.0.1")
    with udp_socket(srv.udp_addr) as u:
        peer = peer_of(u)
        for i in range(n):
            u.sendto(f"inside {i}".encode(), srv.udp_addr)
    srv.wait_record(("udp", peer, "msg", f"inside {n - 1}"))
    assert srv.of(peer) == [("udp", peer, "msg", f"inside {i}") for i in range(n)]
    nbytes = sum(len(f"inside {i}") for i in range(n))
    st = stats_until(srv, lambda st: True, "stats")
    assert (st["udp_msgs"], st["udp_bytes"], st["udp_dropped"]) == (n, nbytes, 0)


def nofile_limits(pid):
    """(soft, hard) 'Max open files' of a running process."""
    with open(f"/proc/{pid}/limits") as f:
        for line in f:
            if line.startswith("Max open files"):
                soft, hard = line.split()[3:5]
                return int(soft), int(hard)
    raise AssertionError("no 'Max open files' line")


def test_nofile_soft_limit_is_raised_to_the_hard_limit(start_server):
    srv = start_server("-t", "127.0.0.1:0", nofile=(256, 4096))
    srv.wait_count(1)  # past start-up: the limit is set before the first record
    assert nofile_limits(srv.pid) == (4096, 4096)


EMFILE_LINE = re.compile(
    r"peerlogd: accept 127\.0\.0\.1:(\d+): Too many open files; pausing accept for 1s")


def connect_many(srv, n):
    """n clients that each send one line 'client I' at once; the server may
    not accept them all yet (the kernel completes the handshakes)."""
    clients = []
    for i in range(n):
        c = tcp_connect(srv.tcp_addr)
        c.sendall(f"client {i}\n".encode())
        clients.append(c)
    return clients


def wait_emfile(srv):
    """Wait for the out-of-descriptors line on stderr; return the lines."""
    deadline = time.monotonic() + WAIT
    while True:
        lines = [l for l in srv.stderr().split("\n") if "accept" in l]
        if lines:
            return lines
        assert time.monotonic() < deadline, f"no accept error: {srv.stderr()!r}"
        assert srv.proc.poll() is None, "server died out of descriptors"
        time.sleep(0.02)


def test_out_of_descriptors_pauses_accept_instead_of_spinning(start_server):
    srv = start_server("-t", "127.0.0.1:0", nofile=(24, 24))
    clients = connect_many(srv, 40)
    try:
        lines = wait_emfile(srv)
        m = EMFILE_LINE.fullmatch(lines[0])
        assert m, f"unexpected accept error line {lines[0]!r}"
        assert int(m.group(1)) == srv.tcp_addr[1]
        # Clients keep waiting in the backlog; the server sleeps meanwhile.
        # (A busy loop on the pending connection would use ~2 s of CPU.)
        cpu0, t0 = proc_cpu_seconds(srv.pid), time.monotonic()
        time.sleep(2.0)
        used = proc_cpu_seconds(srv.pid) - cpu0
        assert time.monotonic() - t0 >= 2.0
        assert used < 0.5, f"server used {used:.2f} s of CPU while out of descriptors"
        assert srv.proc.poll() is None
        # Still out of descriptors after two retries: one line per episode,
        # not one per retry.
        assert wait_emfile(srv) == lines[:1]
    finally:
        for c in clients:
            c.close()


def test_clients_waiting_for_descriptors_are_served_once_some_close(start_server):
    n = 40
    srv = start_server("-t", "127.0.0.1:0", nofile=(24, 24))
    clients = connect_many(srv, n)
    peers = [peer_of(c) for c in clients]
    open_ = set(range(n))
    try:
        wait_emfile(srv)
        # Close each client once its line is logged: that frees the server's
        # descriptors for the ones still waiting in the backlog.
        deadline = time.monotonic() + 4 * WAIT
        while open_:
            recs = srv.records()
            logged = {r[1] for r in recs if r[2] == "msg"}
            for i in sorted(open_):
                if peers[i] in logged:
                    clients[i].close()
                    open_.discard(i)
            assert time.monotonic() < deadline, \
                f"{len(open_)} clients never served; stderr={srv.stderr()!r}"
            assert srv.proc.poll() is None
            time.sleep(0.02)
        for p in peers:
            srv.wait_event(p, "disconnect")
        for i, p in enumerate(peers):
            line = f"client {i}"
            assert srv.of(p) == [
                ("tcp", p, "connect"), ("tcp", p, "msg", line),
                ("tcp", p, "disconnect", f"reason=eof msgs=1 bytes={len(line) + 1}")]
        rc, _, _ = srv.stop()
        assert rc == 0
    finally:
        for c in clients:
            c.close()


def test_shutdown_while_out_of_descriptors_gives_the_served_clients_reason_shutdown(
        start_server):
    srv = start_server("-t", "127.0.0.1:0", nofile=(24, 24))
    clients = connect_many(srv, 40)
    peers = [peer_of(c) for c in clients]
    try:
        wait_emfile(srv)
        # The clients the server took in before it ran out of descriptors
        # (their records are written by the end of the pass that said so).
        recs = srv.wait_record(("tcp", peers[0], "msg", "client 0"))
        served = [i for i, p in enumerate(peers) if ("tcp", p, "connect") in recs]
        assert len(served) >= 10
        for i in served:
            srv.wait_record(("tcp", peers[i], "msg", f"client {i}"))
        rc, recs, _ = srv.stop()
        assert rc == 0
        for i in served:
            line = f"client {i}"
            assert [r for r in recs if r[1] == peers[i]] == [
                ("tcp", peers[i], "connect"), ("tcp", peers[i], "msg", line),
                ("tcp", peers[i], "disconnect",
                 f"reason=shutdown msgs=1 bytes={len(line) + 1}")]
    finally:
        for c in clients:
            c.close()


def test_shutdown_while_out_of_descriptors_still_takes_in_the_waiting_clients(
        start_server):
    # The README: at shutdown, connections the kernel already completed are
    # still taken in and logged; descriptors of the served clients can make
    # room for them.
    n = 40
    srv = start_server("-t", "127.0.0.1:0", nofile=(24, 24))
    clients = connect_many(srv, n)
    peers = [peer_of(c) for c in clients]
    try:
        wait_emfile(srv)
        rc, recs, _ = srv.stop()
        assert rc == 0
        logged = [i for i, p in enumerate(peers) if ("tcp", p, "msg", f"client {i}") in recs]
        assert len(logged) == n, f"only {len(logged)} of {n} clients' lines logged"
    finally:
        for c in clients:
            c.close()
