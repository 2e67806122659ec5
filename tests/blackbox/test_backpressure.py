"""Back-pressure and bounded memory: an output that is not read, a client
that never sends a newline, thousands of peers, a flooding client.

Resident-memory bounds are skipped for AddressSanitizer builds (its shadow
memory and quarantine are not the server's)."""

import fcntl
import os
import re
import select
import signal
import socket
import threading
import time

import pytest

from conftest import (REC_RE, TS_RE, WAIT, parse_kv, peer_of, proc_status_kib,
                      requires_peerlogd, sanitized, split_lines, tcp_connect,
                      udp_socket)

pytestmark = requires_peerlogd

MIB = 1024 * 1024
KIB = 1024
F_GETPIPE_SZ = 1032  # fcntl.F_GETPIPE_SZ, missing before Python 3.10


TS_LINE_START = re.compile(TS_RE.pattern.encode() + rb" ", re.M)


def record_bodies(data):
    """Each complete record of data without its timestamp, as bytes
    ('tcp PEER msg ...'): hundreds of thousands of records are checked in
    bulk rather than parsed one by one."""
    lines = split_lines(data)
    starts = TS_LINE_START.findall(data, 0, data.rfind(b"\n") + 1)
    assert len(starts) == len(lines), "a record does not start with a timestamp"
    return [l[28:] for l in lines]


def records_except_msgs(bodies):
    """Text record tuples of the bodies that are not msg records."""
    out = []
    for b in bodies:
        if b.split(b" ", 3)[2:3] == [b"msg"]:
            continue
        m = REC_RE.fullmatch("2000-01-01T00:00:00.000000Z " + b.decode())
        assert m, f"not a text record: {b[:80]!r}"
        rec = m.groups()[1:]
        out.append(rec if rec[3] is not None else rec[:3])
    return out


def msgs_of(bodies, proto, peer):
    """The messages (bytes) of one peer's msg records, in order."""
    head = f"{proto} {peer} msg ".encode()
    return [b[len(head):] for b in bodies if b.startswith(head)]


class RawOutput:
    """The records a server writes to a pipe (output='rawpipe'), read only
    when the test says so."""

    def __init__(self, srv):
        self.srv = srv
        self.data = bytearray()
        self.eof = False
        self._seen = {}

    def read_some(self, wait=0.05):
        """Read what the pipe holds now (waiting up to wait for the first
        bytes); return how many bytes were read."""
        got = 0
        while not self.eof:
            ready, _, _ = select.select([self.srv.raw_fd], [], [], wait if got == 0 else 0)
            if not ready:
                break
            chunk = os.read(self.srv.raw_fd, 1 << 20)
            if not chunk:
                self.eof = True
                break
            self.data += chunk
            got += len(chunk)
        return got

    def read_until(self, pred, what, timeout=WAIT):
        """Keep reading until pred(self) is true; the timeout restarts
        while bytes keep coming (the amount read may be large)."""
        deadline = time.monotonic() + timeout
        while not pred(self):
            if self.read_some():
                deadline = time.monotonic() + timeout
            assert not self.eof or pred(self), f"output ended before {what}"
            assert time.monotonic() < deadline, f"timed out reading output for {what}"

    def has(self, needle):
        """Whether needle was written; searches only the new bytes."""
        start = self._seen.get(needle, 0)
        if self.data.find(needle, start) >= 0:
            return True
        self._seen[needle] = max(0, len(self.data) - len(needle))
        return False

    def bodies(self):
        return record_bodies(bytes(self.data))


def numbered_lines(first, count, width=100):
    """Lines 'NNNNNNNNN xxx...\\n' of exactly width bytes, numbered from first."""
    pad = b"x" * (width - 11)
    return b"".join(b"%09d %s\n" % (i, pad) for i in range(first, first + count))


class Sender(threading.Thread):
    """Sends count numbered 100-byte lines over sock in 1000-line chunks,
    counting the bytes the kernel took."""

    def __init__(self, sock, count):
        super().__init__(daemon=True)
        self.sock = sock
        self.count = count
        self.sent = 0
        self.error = None

    def run(self):
        try:
            self.sock.settimeout(None)
            for k in range(0, self.count, 1000):
                n = min(1000, self.count - k)
                self.sock.sendall(numbered_lines(k, n))
                self.sent += n * 100
        except OSError as e:
            self.error = e


def wait_stalled(sender, srv, quiet=0.5, limit=10.0):
    """Wait until the sender has made no progress for quiet seconds (the
    server stopped reading) while it is still running; sample the server's
    resident memory meanwhile and return the largest value (kB)."""
    deadline = time.monotonic() + limit
    last, since, peak = -1, time.monotonic(), 0
    while True:
        peak = max(peak, proc_status_kib(srv.pid))
        if sender.sent != last:
            last, since = sender.sent, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return peak
        assert sender.is_alive(), "the sender finished: the server never slowed it"
        assert time.monotonic() < deadline, "the sender never stalled"
        time.sleep(0.02)


def check_msgs(bodies, peer, count, width=100, tail=False):
    """The peer's msg records are exactly the numbered lines 0..count-1 (with
    tail, the last one may be the start of the next line, unterminated).
    Returns the numbers of line bytes they may stand for: one, or with tail
    two when the last message is a whole line's content, which is a line
    with its LF or, cut just before the LF, an unterminated tail."""
    got = msgs_of(bodies, "tcp", peer)
    assert len(got) == count, f"{len(got)} msg records, expected {count}"
    full = count - 1 if tail else count
    want = numbered_lines(0, full, width).split(b"\n")[:-1]
    if got[:full] != want:
        i = next(i for i, (g, w) in enumerate(zip(got, want)) if g != w)
        raise AssertionError(f"msg {i} is {got[i][:20]!r}..., expected {want[i][:20]!r}...")
    if full == count:
        return (count * width,)
    last = numbered_lines(full, 1, width)
    assert got[-1] == last[:-1] or last.startswith(got[-1]), \
        f"last msg {got[-1][:20]!r}..."
    if got[-1] == last[:-1]:
        return (full * width + width, full * width + width - 1)
    return (full * width + len(got[-1]),)


def test_unread_output_pipe_bounds_memory_and_slows_the_sender(start_server):
    count = 400_000  # 40 MB of lines, far past every buffer on the way
    srv = start_server("-t", "127.0.0.1:0", output="rawpipe")
    out = RawOutput(srv)
    c = tcp_connect(srv.tcp_addr)
    peer = peer_of(c)
    sender = Sender(c, count)
    sender.start()
    try:
        peak = wait_stalled(sender, srv)
        assert sender.sent < count * 100
        if not sanitized():
            # The sink pauses input at 1 MiB held.
            assert peak < 16 * 1024, f"VmRSS {peak} kB with the output not read"
        # Now read: every line arrives once, in order, and the sender ends.
        out.read_until(lambda o: not sender.is_alive(), "the sender to finish",
                       timeout=2 * WAIT)
        assert sender.error is None, sender.error
        c.close()
        out.read_until(lambda o: o.has(f" tcp {peer} disconnect ".encode()),
                       "the disconnect")
        srv.send_signal(signal.SIGTERM)
        out.read_until(lambda o: o.eof, "end of output")
        assert srv.wait_exit() == 0
        bodies = out.bodies()
        check_msgs(bodies, peer, count)
        recs = records_except_msgs(bodies)
        assert [r for r in recs if r[1] == peer] == [
            ("tcp", peer, "connect"),
            ("tcp", peer, "disconnect", f"reason=eof msgs={count} bytes={count * 100}")]
        assert recs[-1] == ("-", "-", "stop", "signal=SIGTERM")
    finally:
        c.close()
        sender.join(WAIT)


def test_shutdown_with_a_full_output_pipe_waits_for_the_reader(start_server):
    count = 200_000
    srv = start_server("-t", "127.0.0.1:0", output="rawpipe")
    out = RawOutput(srv)
    c = tcp_connect(srv.tcp_addr)
    peer = peer_of(c)
    sender = Sender(c, count)
    sender.start()
    try:
        wait_stalled(sender, srv)
        # The pipe is full and the server holds at least a batch (1 MiB).
        srv.send_signal(signal.SIGTERM)
        time.sleep(0.5)  # not for correctness: let it block on the pipe
        assert srv.proc.poll() is None, "exited without writing the held records"
        out.read_until(lambda o: o.eof, "end of output", timeout=2 * WAIT)
        assert srv.wait_exit() == 0
        # Far more than the pipe holds: the held records were waited for.
        assert len(out.data) > 4 * fcntl.fcntl(srv.raw_fd, F_GETPIPE_SZ)
        bodies = out.bodies()
        n = len(msgs_of(bodies, "tcp", peer))
        nbytes = check_msgs(bodies, peer, n, tail=True)
        recs = records_except_msgs(bodies)
        mine = [r for r in recs if r[1] == peer]
        assert mine[0] == ("tcp", peer, "connect")
        # What the server counted, it logged; nothing twice, nothing after stop.
        assert mine[-1] in [("tcp", peer, "disconnect",
                             f"reason=shutdown msgs={n} bytes={b}")
                            for b in nbytes]
        assert recs[-1] == ("-", "-", "stop", "signal=SIGTERM")
        assert [r[2] for r in recs].count("stop") == 1
    finally:
        c.close()
        sender.join(WAIT)


def softnet_drops():
    """Packets the kernel dropped before any socket saw them (per-CPU
    backlog full), summed over CPUs: no socket can count those."""
    with open("/proc/net/softnet_stat") as f:
        return sum(int(line.split()[1], 16) for line in f)


def test_udp_flood_while_the_output_is_stuck_is_bounded_and_counted(start_server):
    srv = start_server("-t", "127.0.0.1:0", "-u", "127.0.0.1:0", output="rawpipe")
    out = RawOutput(srv)
    c = tcp_connect(srv.tcp_addr)
    tcp_peer = peer_of(c)
    sender = Sender(c, 100_000)
    sender.start()
    ndgram = 20_000
    try:
        wait_stalled(sender, srv)
        # The server reads no datagram now: they wait in (or overflow) the
        # kernel's buffer, never in the server's memory.
        before = proc_status_kib(srv.pid)
        backlog_drops = softnet_drops()
        u = udp_socket(srv.udp_addr)
        upeer = peer_of(u)
        body = b"y" * 990
        peak = before
        for i in range(ndgram):
            u.sendto(b"%09d %s" % (i, body), srv.udp_addr)
            if i % 1000 == 0:
                peak = max(peak, proc_status_kib(srv.pid))
        peak = max(peak, proc_status_kib(srv.pid))
        if not sanitized():
            assert peak < 16 * 1024, f"VmRSS {peak} kB while datagrams wait"
            assert peak - before < 2 * 1024, \
                f"VmRSS grew from {before} to {peak} kB while input is paused"
        out.read_until(lambda o: not sender.is_alive(), "the TCP sender to finish",
                       timeout=2 * WAIT)
        c.close()
        out.read_until(lambda o: o.has(f" tcp {tcp_peer} disconnect ".encode()),
                       "the TCP disconnect")
        # A last datagram, once the buffer has room again: the kernel stamps
        # it with the count of datagrams it dropped before it. Repeated
        # should the buffer still be full.
        markers = 0
        deadline = time.monotonic() + WAIT
        while True:
            u.sendto(b"marker", srv.udp_addr)
            markers += 1
            t = time.monotonic() + 0.2
            while time.monotonic() < t and not out.has(
                    f" udp {upeer} msg marker\n".encode()):
                out.read_some()
            if out.has(f" udp {upeer} msg marker\n".encode()):
                break
            assert time.monotonic() < deadline, "the marker datagram is never logged"
        backlog_drops = softnet_drops() - backlog_drops
        srv.send_signal(signal.SIGUSR1)
        out.read_until(lambda o: o.has(b" - - stats "), "the stats record")
        bodies = out.bodies()
        recs = records_except_msgs(bodies)
        stats = {k: int(v) for k, v in
                 parse_kv([r for r in recs if r[2] == "stats"][0][3]).items()}
        got = [m.decode() for m in msgs_of(bodies, "udp", upeer)]
        assert got[-1] == "marker"
        flood = [m for m in got if m != "marker"]
        body_s = body.decode()
        nums = [int(m.split(" ", 1)[0]) for m in flood]
        assert all(m == f"{k:09d} {body_s}" for m, k in zip(flood, nums))
        # Those logged are in order, none twice; the rest were counted,
        # except any the kernel lost before the socket (not ours to count).
        assert nums == sorted(set(nums))
        assert stats["udp_msgs"] == len(got)
        sent = ndgram + markers
        assert sent - backlog_drops <= stats["udp_msgs"] + stats["udp_dropped"] <= sent, \
            (stats, sent, backlog_drops)
        # The kernel's buffer did overflow: the test saw drops counted.
        assert stats["udp_dropped"] > 0
        u.close()
    finally:
        c.close()
        sender.join(WAIT)


def test_endless_line_to_dev_null_keeps_memory_bounded(start_server):
    total = 300 * MIB
    srv = start_server("-t", "127.0.0.1:0", "-o", "/dev/null", output="given")
    chunk = b"z" * MIB
    peak = 0
    with tcp_connect(srv.tcp_addr) as c:
        c.settimeout(None)
        for i in range(total // MIB):
            c.sendall(chunk)
            if i % 8 == 0:
                peak = max(peak, proc_status_kib(srv.pid))
        c.shutdown(socket.SHUT_WR)
        c.settimeout(WAIT * 4)
        assert c.recv(1) == b""  # the server read every byte and closed
    assert srv.proc.poll() is None
    if sanitized():
        pytest.skip("resident memory is not meaningful under AddressSanitizer")
    assert peak < 24 * 1024, f"VmRSS {peak} kB for a line with no end"


def test_line_without_end_comes_out_in_max_line_pieces_that_rejoin(start_server):
    size = 5 * 1000 * 1000 + 123
    srv = start_server("-t", "127.0.0.1:0", "--max-line", "1000")
    data = bytes(b"abcdefghijklmnopqrstuvwxyz0123456789"[i % 36] for i in range(size))
    with tcp_connect(srv.tcp_addr) as c:
        peer = peer_of(c)
        c.settimeout(None)
        c.sendall(data)
        c.shutdown(socket.SHUT_WR)
        c.settimeout(WAIT)
        assert c.recv(1) == b""
    srv.wait_event(peer, "disconnect")
    mine = srv.of(peer)
    pieces = mine[1:-1]
    assert mine[0] == ("tcp", peer, "connect")
    assert [r[2] for r in pieces] == ["msg+"] * 5000 + ["msg"]
    assert all(len(r[3]) == 1000 for r in pieces[:-1])
    assert pieces[-1][3] == data[-123:].decode()
    assert "".join(r[3] for r in pieces).encode() == data
    assert mine[-1] == ("tcp", peer, "disconnect",
                        f"reason=eof msgs=5001 bytes={size}")


def test_thousand_peers_with_unfinished_lines_keep_memory_bounded(start_server):
    n, each, max_line = 1000, 64 * KIB, 8192
    srv = start_server("-t", "127.0.0.1:0")
    base = proc_status_kib(srv.pid)
    clients = []
    try:
        for _ in range(n):
            c = tcp_connect(srv.tcp_addr)
            c.sendall(b"p" * each)
            clients.append(c)
        peers = [peer_of(c) for c in clients]
        # All bytes in: each peer has 7 pieces logged and 8 KiB held.
        deadline = time.monotonic() + 4 * WAIT
        while True:
            srv.send_signal(signal.SIGUSR1)
            time.sleep(0.1)
            st = [l for l in srv.lines() if b" - - stats " in l]
            if st and parse_kv(st[-1].decode().split(" stats ", 1)[1])["tcp_bytes"] \
                    == str(n * (each - max_line)):
                break
            assert time.monotonic() < deadline, f"not all bytes logged: {st[-1:]}"
        rss = proc_status_kib(srv.pid)
        # Per peer: at most a 16 KiB read buffer plus ~2 KiB of state; the
        # output batch (2 MiB) on top of the start-up size.
        bound = base + 2 * 1024 + n * (16 + 2)
        if not sanitized():
            assert rss < bound, f"VmRSS {rss} kB > {bound} kB for {n} peers"
        for c in clients:
            c.close()
        srv.wait_for(lambda rs: len([r for r in rs if r[2] == "disconnect"]) >= n,
                     f"{n} disconnects", timeout=4 * WAIT)
        recs = srv.records()
        piece = "p" * max_line
        by_peer = {}
        for r in recs:
            by_peer.setdefault(r[1], []).append(r)
        for p in peers:
            assert by_peer[p] == [("tcp", p, "connect")] + \
                [("tcp", p, "msg+", piece)] * 7 + [
                ("tcp", p, "msg", piece),
                ("tcp", p, "disconnect", f"reason=eof msgs=8 bytes={each}")]
    finally:
        for c in clients:
            c.close()


def test_flooding_client_does_not_starve_another(start_server):
    srv = start_server("-t", "127.0.0.1:0")
    quiet = tcp_connect(srv.tcp_addr)
    flood = tcp_connect(srv.tcp_addr)
    qp, fp = peer_of(quiet), peer_of(flood)
    srv.wait_record(("tcp", qp, "connect"))
    stop = threading.Event()
    state = {"sent": 0, "done": False}
    block = numbered_lines(0, 2000)  # 200 KB per write

    def run():
        flood.settimeout(None)
        try:
            # At most 400 MB: the flood lasts seconds, the wait for the
            # quiet client's record should take milliseconds.
            while not stop.is_set() and state["sent"] < 400 * MIB:
                flood.sendall(block)
                state["sent"] += len(block)
        except OSError:
            pass
        state["done"] = True

    t = threading.Thread(target=run, daemon=True)
    t.start()
    try:
        needle = f" tcp {fp} msg ".encode()
        # The flood is under way and being logged.
        deadline = time.monotonic() + WAIT
        with open(srv.out_path, "rb") as f:
            buf = b""
            while needle not in buf:
                buf = buf[-200:] + f.read()
                assert time.monotonic() < deadline, "flood never logged"
            quiet.sendall(b"me too\n")
            want = f" tcp {qp} msg me too\n".encode()
            while want not in buf:
                assert not state["done"], "the flood ended before the quiet line was logged"
                buf = buf[-200:] + f.read()
                time.sleep(0.001)
        assert not state["done"]
    finally:
        stop.set()
        t.join(WAIT)
        flood.close()
        quiet.close()
