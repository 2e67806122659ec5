"""Pauses of input while the output is behind: who is served when it takes
records again, and what --idle-timeout means for clients that were paused.

Each test holds the output (a pipe the test reads by hand) long enough for
peerlogd to stop reading its clients, then lets it go. The findings of the
soak test these pin down are in docs/reliability.md."""

import os
import select
import socket
import struct
import threading
import time

from conftest import WAIT, parse_kv, peer_of, requires_peerlogd, tcp_connect
from test_backpressure import RawOutput, Sender, wait_stalled

pytestmark = requires_peerlogd

IDLE = 2  # --idle-timeout in these tests, seconds


def stall_output(srv, out):
    """Flood the server until it stops reading (its output pipe is full and
    a batch is held); return the flooding socket and its sender thread."""
    flood = tcp_connect(srv.tcp_addr)
    sender = Sender(flood, 100_000)  # 10 MB: far more than pipe + batch
    sender.start()
    wait_stalled(sender, srv, quiet=0.3)
    return flood, sender


def drain(out, pred, what):
    """Read the output until pred holds."""
    out.read_until(lambda o: pred(), what)


def disconnect_of(out, peer):
    """The detail of peer's disconnect record, or None yet."""
    for b in out.bodies():
        f = b.split(b" ", 3)
        if f[0] == b"tcp" and f[1] == peer.encode() and f[2] == b"disconnect":
            return parse_kv(f[3].decode())
    return None


def wait_eof(sock, deadline):
    """Block until the server closes sock; return the monotonic time."""
    sock.setblocking(False)
    while time.monotonic() < deadline:
        r, _, _ = select.select([sock], [], [], 0.01)
        if r:
            try:
                if sock.recv(4096) == b"":
                    return time.monotonic()
            except ConnectionResetError:
                return time.monotonic()
    raise AssertionError("the server never closed the client")


def test_every_client_is_served_when_the_output_keeps_filling_up(start_server):
    """Many clients send all the time while the output is read slowly, so
    input pauses and resumes over and over: every client, the last accepted
    ones too, gets its lines logged (the walk that resumes them goes on from
    where the last one stopped)."""
    n = 300
    srv = start_server("-t", "127.0.0.1:0", output="rawpipe")
    out = RawOutput(srv)
    out.read_until(lambda o: o.has(b" start "), "start")
    socks = []
    try:
        for _ in range(n):
            s = tcp_connect(srv.tcp_addr)
            socks.append(s)
            time.sleep(0.002)  # accepted one by one, in this order
        peers = [peer_of(s).encode() for s in socks]
        for s in socks:
            s.setblocking(False)
        chunk = (b"y" * 199 + b"\n") * 50
        heads = {b"tcp %s msg " % p: p for p in peers}
        served = set()
        scanned = 0
        deadline = time.monotonic() + 30
        while len(served) < n:
            assert time.monotonic() < deadline, \
                f"{n - len(served)} of {n} clients never served; " \
                f"first unserved: #{min(peers.index(p) for p in peers if p not in served)}"
            for s in socks:
                try:
                    s.send(chunk)
                except BlockingIOError:
                    pass
            # A pipe's worth now and then: the output stays the bottleneck.
            r, _, _ = select.select([srv.raw_fd], [], [], 0.005)
            if r:
                out.data += os.read(srv.raw_fd, 65536)
            end = out.data.rfind(b"\n") + 1
            for line in bytes(out.data[scanned:end]).split(b"\n")[:-1]:
                body = line[28:]
                p = body.split(b" ", 2)
                if len(p) == 3 and p[2].startswith(b"msg "):
                    served.add(p[1])
            scanned = end
    finally:
        for s in socks:
            s.close()


def close_while_paused(start_server, rst):
    """A client sends a line, which is logged; input is then paused, the
    client closes (FIN, or RST with rst) and stays unread past
    --idle-timeout. Returns the detail of its disconnect record."""
    srv = start_server("-t", "127.0.0.1:0", "--idle-timeout", str(IDLE),
                       output="rawpipe")
    out = RawOutput(srv)
    c = tcp_connect(srv.tcp_addr)
    cp = peer_of(c)
    c.sendall(b"last words\n")
    out.read_until(lambda o: o.has(f"tcp {cp} msg last words\n".encode()),
                   "the client's line")
    flood, sender = stall_output(srv, out)
    try:
        if rst:
            c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                         struct.pack("ii", 1, 0))
        c.close()  # the FIN or RST waits unread while paused
        time.sleep(IDLE + 0.5)
        drain(out, lambda: disconnect_of(out, cp) is not None,
              "the client's disconnect")
        return disconnect_of(out, cp)
    finally:
        flood.close()


def test_paused_client_with_pending_fin_is_logged_as_eof_not_timeout(start_server):
    """A client that closes while input is paused, and stays unread past
    --idle-timeout, was not silent: its disconnect says eof."""
    assert close_while_paused(start_server, rst=False) == \
        {"reason": "eof", "msgs": "1", "bytes": "11"}


def test_paused_client_with_pending_rst_is_logged_as_reset(start_server):
    """The same with an RST: the disconnect says reset."""
    assert close_while_paused(start_server, rst=True)["reason"] == "reset"


def test_idle_timeout_after_a_pause_is_never_early(start_server):
    """Silent clients whose time runs on through a pause are closed no
    sooner than --idle-timeout after their last byte (a whole-second clock
    closed some up to a second early), and closed as timeout."""
    srv = start_server("-t", "127.0.0.1:0", "--idle-timeout", str(IDLE),
                       output="rawpipe")
    out = RawOutput(srv)
    clients = []
    for i in range(8):
        c = tcp_connect(srv.tcp_addr)
        c.sendall(b"hi %d\n" % i)
        clients.append((c, peer_of(c), time.monotonic()))
        time.sleep(0.11)  # last bytes spread over a second
    out.read_until(lambda o: all(o.has(f"tcp {p} msg hi".encode())
                                 for _, p, _ in clients), "the clients' lines")
    flood, sender = stall_output(srv, out)
    try:
        # Hold the output until the first client's time is nearly up, then
        # let it go: the clients' timeouts are armed again on resume.
        time.sleep(max(0.0, clients[0][2] + IDLE - 0.3 - time.monotonic()))
        # Searching only new output (not parsing all of it on every read)
        # keeps the reader fast, so the server is not held paused by it.
        reader = threading.Thread(target=lambda: drain(
            out, lambda: all(out.has(f"tcp {p} disconnect ".encode())
                             for _, p, _ in clients),
            "the disconnects"), daemon=True)
        reader.start()
        deadline = time.monotonic() + IDLE + WAIT
        for c, p, last in clients:
            closed = wait_eof(c, deadline)
            assert closed - last >= IDLE - 0.05, \
                f"{p} closed {closed - last:.3f} s after its last byte"
        reader.join(WAIT + IDLE)
        for c, p, _ in clients:
            assert disconnect_of(out, p)["reason"] == "timeout"
            c.close()
    finally:
        flood.close()
