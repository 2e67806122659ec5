"""A descriptor reserve: at a descriptor limit peerlogd cannot raise, TCP
clients are limited to what the reserve leaves (accepting pauses there and
the others wait in the listen queue, as test_limits.py checks), so SIGHUP's
reopen still has a descriptor (issue 9 defect 4)."""

import os
import re
import signal
import time

from conftest import (WAIT, parse_kv, peer_of, requires_peerlogd, slow,
                      tcp_connect)

pytestmark = requires_peerlogd

NOFILE = (32, 32)
CLIENTS = 40


def answered(srv, peers):
    """(connects, logged rejects, suppressed rejects) among the records, for
    the peers given; suppressed ones are server-wide counts (R2)."""
    recs = srv.records()
    mine = set(peers)
    connects = {r[1] for r in recs if r[2] == "connect" and r[1] in mine}
    rejects = [r for r in recs if r[2] == "reject" and r[1] in mine]
    assert all(r[3] == "reason=max-clients" for r in rejects), rejects
    suppressed = 0
    for r in recs:
        if r[:3] == ("-", "-", "reject"):
            kv = parse_kv(r[3])
            assert kv["reason"] == "max-clients", r
            suppressed += int(kv["suppressed"])
    return connects, {r[1] for r in rejects}, suppressed


def connect_all(srv):
    """CLIENTS connections (the kernel completes them whether or not the
    server accepts)."""
    return [tcp_connect(srv.tcp_addr, timeout=slow(WAIT)) for _ in range(CLIENTS)]


def open_fds(pid):
    """How many descriptors the process has open."""
    return len(os.listdir(f"/proc/{pid}/fd"))


def test_output_reserve_keeps_four_descriptors_free_at_the_descriptor_limit(
        start_server):
    srv = start_server("-t", "127.0.0.1:0", nofile=NOFILE)
    clients = connect_all(srv)
    peers = [peer_of(c) for c in clients]
    try:
        # Accepting pauses at the reserve, with the out-of-descriptors line;
        # the other clients wait in the listen queue, none is rejected.
        deadline = time.monotonic() + slow(2 * WAIT)
        while "Too many open files; pausing accept" not in srv.stderr():
            assert time.monotonic() < deadline, \
                f"accepting never paused: stderr={srv.stderr()!r}"
            assert srv.proc.poll() is None, srv.stderr()
            time.sleep(0.05)
        time.sleep(slow(1.5))  # two more retries of the accept pause
        conn, rej, supp = answered(srv, peers)
        assert not rej and supp == 0, (rej, supp)
        assert 0 < len(conn) < CLIENTS, conn
        assert open_fds(srv.pid) == NOFILE[0] - 4, os.listdir(f"/proc/{srv.pid}/fd")
    finally:
        for c in clients:
            c.close()


def test_output_reserve_lets_sighup_reopen_at_the_descriptor_limit(start_server):
    srv = start_server("-t", "127.0.0.1:0", nofile=NOFILE)
    path = srv.out_path
    clients = connect_all(srv)
    peers = [peer_of(c) for c in clients]
    try:
        # Wait until every descriptor the server will use is in use: all
        # clients answered, or (today) accept ran out of descriptors.
        deadline = time.monotonic() + slow(2 * WAIT)
        while True:
            conn, rej, supp = answered(srv, peers)
            if len(conn) + len(rej) + supp >= CLIENTS or \
                    "Too many open files" in srv.stderr():
                break
            assert time.monotonic() < deadline, \
                f"descriptors never ran out: stderr={srv.stderr()!r}"
            time.sleep(0.05)
        conn, _, _ = answered(srv, peers)
        admitted = [(c, p) for c, p in zip(clients, peers) if p in conn]
        assert admitted, "no client admitted"
        os.rename(path, path + ".1")
        srv.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + slow(WAIT)
        while not os.path.exists(path):
            assert time.monotonic() < deadline, \
                f"no new {path} after SIGHUP: stderr={srv.stderr()!r}"
            assert srv.proc.poll() is None, srv.stderr()
            time.sleep(0.02)
        c, p = admitted[0]
        c.sendall(b"into the new file\n")
        srv.wait_record(("tcp", p, "msg", "into the new file"), timeout=slow(WAIT))
        with open(path + ".1", "rb") as f:
            assert b"into the new file" not in f.read()
        assert not re.search(r"peerlogd: reopen ", srv.stderr()), srv.stderr()
    finally:
        for c in clients:
            c.close()
