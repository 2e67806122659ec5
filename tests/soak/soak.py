#!/usr/bin/python3
"""Soak test for peerlogd (not part of CI).

    tests/soak/soak.py --peerlogd PATH [--minutes 3] [--clients 2000]
                       [--udp-rate 200] [--phases N] [--stop-under-load SEC]
                       [--fifo] [--max-line 256] [--idle-timeout 15] ...

Starts one peerlogd on 127.0.0.1 (TCP and UDP, port 0) writing text records
to a file, then for --minutes keeps up to --clients TCP connections open at
once from one selectors loop: clients that connect, send 0..200 numbered
lines (`k=CLIENT:SEQ ` and random padding, some with bytes that must be
escaped; LF or CRLF; random write sizes that split lines and join them; some
lines longer than --max-line) and end in one of these ways:

  fin           close() after the last byte (the kernel sends a FIN)
  halfclose     shutdown(SHUT_WR), wait until the server closes, close()
  midline       an unterminated tail, then close(): the tail is one message
  reset_logged  wait until the server logged every line, then reset (RST)
  reset_abrupt  reset at once: what the server got is a prefix of the stream
  idle          sit silent several times (under --idle-timeout), then fin,
                halfclose or midline
  timeout       send, then stay silent until --idle-timeout closes it

plus a UDP sender at --udp-rate datagrams a second (a few up to 65000
bytes). The log is read while it grows, rotated with mv + SIGHUP every
--rotate seconds, and a SIGUSR1 stats record is asked for every
--stats-every seconds and checked against the records before it. Each
connection is checked as soon as both its end and its disconnect record are
known: its records must be exactly the framing of the bytes sent (every
message once, in order, msg+ pieces of --max-line bytes, the tail last,
escaped as the contract says), after one connect, with one disconnect whose
reason, msgs= and bytes= match. A reset can discard bytes the client's
kernel had not delivered yet, so for reset_abrupt the server must have
logged exactly the framing of the first bytes= bytes. Clients use ports of
their own on 127.0.0.1, and a port is used again only after the server
logged the disconnect of its last connection, so a record's peer names one
connection.

At the end it waits for every disconnect, samples the server's RSS and file
descriptors (fds exactly as at start, RSS within --rss-slack-mib), checks a
last stats record, stops the server with SIGTERM (exit 0, stop record last,
nothing but the listening lines on its standard error, so sanitizer reports
fail the run) and prints a summary.

  --phases N        run the load N times; RSS at rest must not grow from one
                    to the next by more than --phase-slack-mib (a leak grows
                    with every phase, memory the allocator keeps does not)
  --stop-under-load SEC
                    then load SEC seconds more and send SIGTERM in the middle
                    of it: every connection completed before the signal must
                    be logged, cut at some byte with its tail, reason
                    shutdown or its own; every datagram sent before it logged
  --fifo            log into a named pipe the checks read: the output is slow
                    whenever the checks are, so the server pauses and resumes
                    its input all the time (no rotation then)

Exit status 0 when nothing was violated, 1 otherwise, 2 for usage or
start-up problems. Only 127.0.0.1 is used; every wait is bounded; the server
is killed if the script fails.
"""

import argparse
import collections
import errno
import fcntl
import heapq
import json
import os
import random
import re
import resource
import selectors
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import termios
import time
import zlib

MiB = 1024 * 1024
PORT_FIRST, PORT_LAST = 10000, 32767  # the clients' own ports
TS_RE = re.compile(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z\Z")
PLAIN_RE = re.compile(rb"[\x20-\x5b\x5d-\x7e]*\Z")  # printable, no backslash
LISTEN_RE = re.compile(r"peerlogd: listening (tcp|udp) 127\.0\.0\.1:(\d+)$")
# Disconnect reason each ending must produce.
INTENDED = {
    "fin": "eof",
    "halfclose": "eof",
    "midline": "eof",
    "idle": "eof",
    "reset_logged": "reset",
    "reset_abrupt": "reset",
    "timeout": "timeout",
}
# Bytes that are not plain printable ASCII, to exercise escaping: controls,
# CR inside a line, DEL, valid UTF-8 (2, 3, 4 bytes), a C1 control, and
# invalid UTF-8 (a lone continuation, an overlong form, a surrogate, 0xff,
# a truncated sequence). Never LF.
SPECIALS = [b"\t", b"\r", b"\x00", b"\x1b", b"\x7f", b"\xc3\xa9", b"\xe2\x82\xac",
            b"\xf0\x9f\x98\x80", b"\xc2\x9b", b"\x80", b"\xc0\xaf",
            b"\xed\xa0\x80", b"\xff", b"\xe2\x82", b"\\", b"\\x41"]


def esc(b):
    """The contract's text escaping of one message (reference version)."""
    if PLAIN_RE.match(b):
        return b
    out = bytearray()
    i, n = 0, len(b)
    while i < n:
        c = b[i]
        if c == 0x5C:
            out += b"\\\\"
        elif 0x20 <= c <= 0x7E:
            out.append(c)
        elif c == 9:
            out += b"\\t"
        elif c == 10:
            out += b"\\n"
        elif c == 13:
            out += b"\\r"
        elif c >= 0xC2:
            k = 2 if c < 0xE0 else 3 if c < 0xF0 else 4
            seq = b[i:i + k]
            try:
                cp = ord(seq.decode("utf-8"))
            except UnicodeDecodeError:
                cp = None
            if cp is not None and not 0x80 <= cp <= 0x9F:
                out += seq
                i += k
                continue
            out += b"\\x%02x" % c
        else:
            out += b"\\x%02x" % c
        i += 1
    return bytes(out)


def frame_stream(data, max_line):
    """The records a whole TCP stream makes (it ended: the tail counts), as
    (continued, content) pairs: lines split at LF, one CR before the LF
    dropped, lines over max_line in max_line pieces marked continued."""
    recs = []
    lines = data.split(b"\n")
    tail = lines.pop()

    def pieces(c):
        while len(c) > max_line:
            recs.append((True, c[:max_line]))
            c = c[max_line:]
        recs.append((False, c))

    for ln in lines:
        pieces(ln[:-1] if ln.endswith(b"\r") else ln)
    if tail:
        pieces(tail)
    return recs


def count_lines(data):
    """Messages (lines, and a tail) in a stream."""
    n = data.count(b"\n")
    return n + (0 if data.endswith(b"\n") or not data else 1)


def frame_datagram(d):
    """A datagram's message: one trailing LF or CRLF dropped."""
    if d.endswith(b"\r\n"):
        return d[:-2]
    if d.endswith(b"\n"):
        return d[:-1]
    return d


def listen_queue(port):
    """Connections waiting in the accept queue of the listener on
    127.0.0.1:port, from /proc/net/tcp (listeners come first)."""
    want = "0100007F:%04X" % port
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            if fields[3] != "0A":
                break
            if fields[1] == want:
                return int(fields[4].split(":")[1], 16)
    return 0


def listen_backlog(port):
    """The accept queue's limit of the listener on 127.0.0.1:port (ss's
    Send-Q), or None when ss cannot tell."""
    try:
        out = subprocess.run(["ss", "-ltnH", f"sport = :{port}"],
                             capture_output=True, text=True, timeout=10)
        return int(out.stdout.split()[2])
    except (OSError, ValueError, IndexError, subprocess.SubprocessError):
        return None


def listen_overflows():
    """The kernel's count of handshakes dropped for a full accept queue
    (every listener on the machine)."""
    with open("/proc/net/netstat") as f:
        lines = f.read().splitlines()
    for head, vals in zip(lines[::2], lines[1::2]):
        if head.startswith("TcpExt:"):
            d = dict(zip(head.split()[1:], vals.split()[1:]))
            return int(d.get("ListenOverflows", 0))
    return 0


class Proc:
    """Samples of one process from /proc."""

    def __init__(self, pid):
        self.pid = pid
        self.tick = os.sysconf("SC_CLK_TCK")

    def status(self):
        """(VmRSS, VmHWM) in KiB."""
        rss = hwm = 0
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
                elif line.startswith("VmHWM:"):
                    hwm = int(line.split()[1])
        return rss, hwm

    def fds(self):
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def smaps(self):
        """Resident KiB by kind of mapping: heap (brk), anonymous (mmap,
        where glibc puts blocks of 128 KiB and more), the rest."""
        out = collections.Counter()
        kind = "other"
        with open(f"/proc/{self.pid}/smaps") as f:
            for line in f:
                head = line.split()
                if "-" in head[0] and not head[0].endswith(":"):
                    path = head[5] if len(head) > 5 else ""
                    kind = "heap" if path == "[heap]" else \
                        "anon" if path == "" else "other"
                elif head[0] == "Rss:":
                    out[kind] += int(head[1])
        return dict(out)

    def cpu(self):
        """User + system CPU seconds."""
        with open(f"/proc/{self.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / self.tick


class Client:
    """One TCP connection of the harness, and what the log said of it."""

    __slots__ = ("cid", "end", "peer", "sock", "stream", "pos", "style",
                 "dribble", "pauses", "state", "token", "t_start", "t_last",
                 "max_gap", "expect_n", "deadline", "eof_gap", "err",
                 "connected", "logged", "disc", "reg_events",
                 "t_conn", "t_end", "err_late", "port")

    def __init__(self, cid, end, peer, stream, style):
        self.cid = cid
        self.end = end
        self.peer = peer
        self.stream = stream
        self.style = style
        self.sock = None
        self.pos = 0
        self.dribble = 0
        self.pauses = []
        self.state = "connect"
        self.token = 0
        self.t_start = self.t_last = 0.0
        self.max_gap = 0.0
        self.expect_n = 0
        self.deadline = 0.0
        self.eof_gap = None
        self.err = None
        self.connected = False
        self.logged = []
        self.disc = None
        self.reg_events = 0
        self.t_conn = None  # when the harness saw the connect complete
        self.t_end = None  # when it sent its FIN or RST
        self.err_late = False  # the error came after the server's SIGTERM


class Soak:
    """The whole run: server, clients, UDP sender, log reader, checks."""

    def __init__(self, a):
        self.a = a
        self.rng = random.Random(a.seed)
        self.sel = selectors.DefaultSelector()
        self.host = "127.0.0.1"
        self.timers = []
        self.tseq = 0
        self.by_peer = {}
        self.live = 0
        self.violations = []
        self.nviol = collections.Counter()
        self.c = collections.Counter()  # figures for the summary
        self.ends = collections.Counter()
        self.reasons = collections.Counter()
        self.end_reasons = collections.Counter()
        self.next_cid = 0
        # Client ports, least recently used first; a port goes back only
        # once the server logged the disconnect of the connection that
        # used it, so a record's peer names one connection. Below the
        # ephemeral range, so other programs' connections never take them.
        ports = list(range(PORT_FIRST, PORT_LAST + 1))
        self.rng.shuffle(ports)
        self.ports = collections.deque(ports)
        pool = bytes(self.rng.randrange(0x20, 0x7F) for _ in range(1 << 20))
        self.pool = pool
        self.udp_expect = {}
        self.udp_seq = 0
        self.udp_peers = set()
        self.stats_rec = None
        self.stop_seen = False
        self.after_stop = 0
        self.tcp_records = 0
        self.tcp_bytes = 0
        self.udp_records = 0
        self.udp_bytes = 0
        self.rss_peak = 0
        self.fds_peak = 0
        self.phase_ends = []
        self.t_term = None  # when SIGTERM was sent under load
        self.behind = 0
        self.save = open(a.save_log, "wb") if a.save_log else None
        self.progress_t = 0.0  # when a client last sent or a record came
        self.queue_peak = self.backlog = 0
        self.timeout_late = 0.0

    # ---------------------------------------------------------------- util
    def violate(self, kind, text):
        """Record a violation; the first few of each kind are kept."""
        self.nviol[kind] += 1
        if self.nviol[kind] <= 5:
            self.violations.append(f"{kind}: {text}")
            print(f"VIOLATION {kind}: {text}", flush=True)

    def at(self, t, c):
        """Run step(c) at time t (monotonic)."""
        self.tseq += 1
        heapq.heappush(self.timers, (t, self.tseq, c, c.token))

    def pad(self, n, special):
        """n bytes of random printable padding; with special, some bytes
        that must be escaped too."""
        if n <= 0:
            return b""
        o = self.rng.randrange(0, len(self.pool) - n) if n < len(self.pool) \
            else 0
        p = self.pool[o:o + n]
        if not special:
            return p
        parts = [p[:n // 2]]
        for _ in range(self.rng.randint(1, 4)):
            parts.append(self.rng.choice(SPECIALS))
        parts.append(p[n // 2:])
        return b"".join(parts)

    def line_content(self, cid, seq):
        """One message's content: its unique tag and padding."""
        r = self.rng.random()
        ml = self.a.max_line
        if r < 0.70:
            n = self.rng.randint(0, 80)
        elif r < 0.95:
            n = self.rng.randint(80, ml)
        else:
            n = self.rng.randint(ml + 1, 4 * ml)  # overlong: msg+ pieces
        tag = b"k=%d:%d " % (cid, seq)
        return tag + self.pad(n - len(tag), self.rng.random() < 0.05)

    # ------------------------------------------------------------- clients
    def make_stream(self, cid, end):
        """The whole byte stream a client will send."""
        parts = []
        nlines = self.rng.randint(0, 200)
        for seq in range(nlines):
            if self.rng.random() < 0.01:
                parts.append(b"\n")  # an empty message
                continue
            parts.append(self.line_content(cid, seq))
            parts.append(b"\r\n" if self.rng.random() < 0.3 else b"\n")
        tail = end == "midline" or \
            (end in ("reset_abrupt", "timeout") and self.rng.random() < 0.5) \
            or (end == "idle" and self.rng.random() < 0.2)
        if tail:
            t = self.line_content(cid, nlines)
            if self.rng.random() < 0.1:
                t += b"\r"  # a CR that no LF follows stays in the message
            parts.append(t)
        return b"".join(parts)

    def pick_end(self):
        r = self.rng.random()
        timeout = self.a.idle_timeout > 0
        for end, p in (("fin", 0.30), ("halfclose", 0.20), ("midline", 0.15),
                       ("reset_logged", 0.10), ("reset_abrupt", 0.10),
                       ("idle", 0.10), ("timeout", 0.05 if timeout else 0)):
            if r < p:
                return end
            r -= p
        return "fin"

    def spawn(self, now):
        """Start one client: a free port of its own, connect."""
        cid = self.next_cid
        self.next_cid += 1
        end = self.pick_end()
        style = self.rng.choice(("bulk", "line", "random", "dribble"))
        c = Client(cid, end, None, self.make_stream(cid, end), style)
        if style == "dribble":
            c.dribble = self.rng.randint(1, 300)
        if end == "idle":
            top = self.a.idle_timeout * 0.4 if self.a.idle_timeout else 20.0
            # Distinct positions, so at least one byte goes between two
            # pauses and no silence is longer than top.
            at = {self.rng.randint(0, len(c.stream))
                  for _ in range(self.rng.randint(1, 4))}
            c.pauses = sorted((p, self.rng.uniform(0.5, top)) for p in at)
        for _ in range(50):
            if not self.ports:
                break
            port = self.ports.popleft()
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.setblocking(False)
            try:
                s.bind((self.host, port))
                err = s.connect_ex((self.host, self.tcp_port))
            except OSError as e:
                err = e.errno
            if err in (errno.EADDRINUSE, errno.EADDRNOTAVAIL):
                # Taken by someone else, or its last connection is still
                # in TIME_WAIT: try it again later.
                s.close()
                self.ports.append(port)
                self.c["port_retries"] += 1
                continue
            break
        else:
            self.violate("harness", "no usable client port")
            return
        c.sock = s
        c.port = port
        c.peer = b"%s:%d" % (self.host.encode(), port)
        self.by_peer[c.peer] = c
        self.live += 1
        self.c["clients"] += 1
        self.ends[end] += 1
        c.t_start = c.t_last = now
        if err not in (0, errno.EINPROGRESS):
            self.error(c, now, f"connect: {os.strerror(err)}")
            self.finish(c, now)
            return
        self.watch(c, selectors.EVENT_WRITE)

    def watch(self, c, events):
        """Wait for the socket to be ready for events (0: stop waiting)."""
        if c.reg_events == events:
            return
        if events == 0:
            self.sel.unregister(c.sock)
        elif c.reg_events == 0:
            self.sel.register(c.sock, events, c)
        else:
            self.sel.modify(c.sock, events, c)
        c.reg_events = events

    def chunk(self, c):
        """Bytes for the next write, and the delay after it."""
        r = self.rng
        st = c.style
        if st == "dribble" and c.dribble > 0:
            n = r.randint(1, 3)
            c.dribble -= n
            d = r.uniform(0, 0.01)
        elif st == "bulk":
            n, d = 65536, 0.0
        elif st == "line":
            lf = c.stream.find(b"\n", c.pos)
            n = (lf + 1 - c.pos) if lf >= 0 else len(c.stream) - c.pos
            d = r.uniform(0, 0.02)
        else:
            # Long streams in larger writes: every client is done in a few
            # seconds (plus its pauses), whatever --max-line makes of it.
            n = r.randint(1, max(512, len(c.stream) // 40))
            d = r.uniform(0, 0.03)
        if c.pauses:
            n = min(n, max(1, c.pauses[0][0] - c.pos))
        return n, d

    def step(self, c, now):
        """The client's next action: send a chunk, pause, or end."""
        if c.state == "connect":
            err = c.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                self.error(c, now, f"connect: {os.strerror(err)}")
                self.watch(c, 0)
                self.finish(c, now)
                return
            c.state = "send"
            c.t_conn = now
            if now - c.t_start >= 0.9:
                # The first SYN went unanswered: the accept queue was full
                # (or the harness lagged that long).
                self.c["slow_connects"] += 1
            self.watch(c, 0)
        if c.state != "send":
            return
        if c.pauses and c.pauses[0][0] <= c.pos:
            _, dur = c.pauses.pop(0)
            self.at(now + dur, c)
            return
        if c.pos < len(c.stream):
            n, d = self.chunk(c)
            try:
                sent = c.sock.send(memoryview(c.stream)[c.pos:c.pos + n])
            except BlockingIOError:
                sent = 0
            except OSError as e:
                # Silent until now, as far as the server could know.
                c.max_gap = max(c.max_gap, now - c.t_last)
                self.error(c, now, f"send: {e.strerror}")
                self.watch(c, 0)
                self.finish(c, now)
                return
            if sent:
                self.progress_t = now
                c.max_gap = max(c.max_gap, now - c.t_last)
                c.t_last = now
                c.pos += sent
            if sent < n:
                self.watch(c, selectors.EVENT_WRITE)
                return
            self.watch(c, 0)
            if c.pos < len(c.stream) or c.pauses:
                self.at(now + d, c)
                return
        self.ending(c, now)

    def error(self, c, now, text):
        """A socket error on the client's side."""
        if c.err is None:
            c.err = text
            c.err_late = self.t_term is not None and now >= self.t_term

    def ending(self, c, now):
        """Everything is sent: end the way the client was made to."""
        end = c.end
        if end in ("fin", "midline") or (end == "idle" and c.cid % 3 == 0):
            c.max_gap = max(c.max_gap, now - c.t_last)
            c.t_end = now
            self.finish(c, now)
        elif end in ("halfclose", "idle"):
            c.max_gap = max(c.max_gap, now - c.t_last)
            c.t_end = now
            try:
                c.sock.shutdown(socket.SHUT_WR)
            except OSError as e:
                self.error(c, now, f"shutdown: {e.strerror}")
                self.finish(c, now)
                return
            c.state = "wait_close"
            c.deadline = now + 60
            self.watch(c, selectors.EVENT_READ)
            self.at(c.deadline, c)
        elif end == "timeout":
            c.state = "wait_close"
            c.deadline = now + self.a.idle_timeout + 60
            self.watch(c, selectors.EVENT_READ)
            self.at(c.deadline, c)
        elif end == "reset_abrupt":
            c.max_gap = max(c.max_gap, now - c.t_last)
            self.reset(c, now)
        elif end == "reset_logged":
            c.expect_n = len(frame_stream(c.stream, self.a.max_line))
            c.state = "wait_logged"
            c.deadline = now + 60
            self.check_logged(c, now)
            if c.state == "wait_logged":
                self.at(c.deadline, c)

    def check_logged(self, c, now):
        """A reset_logged client resets once all its records are logged."""
        if len(c.logged) >= c.expect_n and c.connected:
            c.max_gap = max(c.max_gap, now - c.t_last)
            self.reset(c, now)

    def reset(self, c, now):
        c.t_end = now
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                          struct.pack("ii", 1, 0))
        self.finish(c, now)

    def readable(self, c, now):
        """A client waiting for the server to close it."""
        try:
            d = c.sock.recv(4096)
        except BlockingIOError:
            return
        except OSError as e:
            self.error(c, now, f"recv: {e.strerror}")
            d = b""
        if d:
            self.violate("server-sent-data", f"{c.peer.decode()} got {d[:40]!r}")
            return
        # Silence ended with the client's FIN (ending()): waiting here for
        # the server to read it is the server's time, not the client's.
        c.eof_gap = now - c.t_last
        self.watch(c, 0)
        self.finish(c, now)

    def timer(self, c, now):
        if c.state in ("connect", "send"):
            self.step(c, now)
        elif c.state == "wait_close" and now >= c.deadline:
            self.error(c, now, "server never closed the connection")
            self.watch(c, 0)
            self.finish(c, now)
        elif c.state == "wait_logged" and now >= c.deadline:
            self.error(c, now, "records never all logged before the reset")
            self.reset(c, now)

    def finish(self, c, now):
        """The client is done: close its socket; check it if the log has
        its disconnect already."""
        if c.reg_events:
            self.watch(c, 0)
        c.sock.close()
        c.token += 1
        c.state = "done"
        self.live -= 1
        self.c["done"] += 1
        if c.disc is not None or (c.err and c.err.startswith("connect")):
            self.verify(c)

    # ------------------------------------------------------------- checks
    def verify(self, c):
        """Compare what the log says of a finished connection with what
        was sent."""
        a = self.a
        del self.by_peer[c.peer]
        self.ports.append(c.port)
        name = f"{c.peer.decode()} (client {c.cid}, {c.end}, {c.style})"
        # Still going when the server was told to stop (--stop-under-load):
        # it may be cut anywhere, and its reason may be shutdown.
        cut = self.t_term is not None and (c.t_end is None or
                                           c.t_end >= self.t_term)
        if c.disc is None:
            if cut and (c.t_conn is None or c.t_conn >= self.t_term):
                # Not connected before the SIGTERM: refused, or completed
                # in the instant between the last accept and the close.
                self.c["stop_not_connected"] += 1
                return
            # A full accept queue makes the kernel drop the handshake's
            # last ACK: the client is connected, the server never hears of
            # it unless the client stays until a retry gets through.
            t = self.t_term or time.monotonic()
            when = "" if c.t_end is None else \
                f", ended {c.t_end - t:+.2f}s from SIGTERM" if self.t_term \
                else ""
            took = "" if c.t_conn is None else \
                f", connect took {c.t_conn - c.t_start:.2f}s"
            self.violate("not-logged", f"{name}: no record at all "
                         f"(connect seen={c.connected}){took}, {c.pos} bytes "
                         f"sent"
                         f"{when}, client error {c.err}; accept queue peak "
                         f"{self.queue_peak} of {self.backlog}")
            return
        reason, msgs, nbytes = c.disc
        self.reasons[reason] += 1
        self.end_reasons[f"{c.end}/{reason}"] += 1
        sent = c.stream[:c.pos]
        intended = INTENDED[c.end]
        ok = {intended, "shutdown"} if cut else {intended}
        if cut:
            self.c["stop_cut"] += 1
        # The server reads a client's bytes after the client sent them, so
        # the silence it measures is never longer than the one seen here: a
        # client silent this long may be timed out, a shorter one never.
        t = a.idle_timeout
        silent = bool(t) and c.end != "timeout" and c.max_gap >= t - 0.05
        if silent:
            ok.add("timeout")
            if reason == "timeout":
                self.c["silence_timeouts"] += 1
            elif c.max_gap > t + 1:
                # Not timed out: with a slow output the server may read
                # late, and closes only when it reads again; with a file
                # it must not be late.
                self.c["timeouts_not_taken"] += 1
                if not a.fifo:
                    self.violate("timeout-missed",
                                 f"{name}: silent {c.max_gap:.2f}s, "
                                 f"reason={reason}")
        if c.err and not c.err_late and not (silent and reason == "timeout"):
            self.violate("client-error", f"{name}: {c.err}")
        if reason == "timeout" and "timeout" not in ok:
            self.violate("timeout-early",
                         f"{name}: reason=timeout after at most "
                         f"{c.max_gap:.2f}s of silence")
        elif reason not in ok:
            self.violate("reason",
                         f"{name}: reason={reason}, want {sorted(ok)} "
                         f"(max silence {c.max_gap:.2f}s)")
        if c.end == "timeout" and c.eof_gap is not None and \
                reason == "timeout":
            if c.eof_gap < t - 0.05:
                self.violate("timeout-early",
                             f"{name}: closed after {c.eof_gap:.3f}s silent")
            self.timeout_late = max(self.timeout_late, c.eof_gap - t)
        if c.end == "reset_abrupt" or cut:
            if nbytes > len(sent):
                self.violate("bytes", f"{name}: bytes={nbytes} > {len(sent)} sent")
                return
            loss = len(sent) - nbytes
            if cut:
                self.c["stop_bytes_not_taken"] += loss
            elif loss:
                self.c["abrupt_resets_with_loss"] += 1
                self.c["abrupt_bytes_lost"] += loss
            data = sent[:nbytes]
        else:
            if nbytes != len(sent):
                self.violate("bytes", f"{name}: bytes={nbytes}, sent {len(sent)}")
            data = sent
        exp = [(cont, esc(m)) for cont, m in frame_stream(data, a.max_line)]
        got = c.logged
        if msgs != len(got):
            self.violate("msgs-count",
                         f"{name}: msgs={msgs} but {len(got)} records")
        if got != exp:
            i = next((i for i, (g, e) in enumerate(zip(got, exp)) if g != e),
                     min(len(got), len(exp)))
            gi = got[i] if i < len(got) else None
            ei = exp[i] if i < len(exp) else None
            self.violate("records",
                         f"{name}: {len(got)} records, want {len(exp)}; "
                         f"first difference at {i}: got {str(gi)[:120]} "
                         f"want {str(ei)[:120]}")
        self.c["verified"] += 1
        self.c["tcp_bytes_sent"] += len(sent)
        self.c["tcp_bytes_logged"] += nbytes
        self.c["tcp_records_expected"] += len(exp)
        self.c["tcp_msg_plus"] += sum(1 for e in exp if e[0])
        self.c["tcp_messages_sent"] += count_lines(sent)
        self.c["tcp_messages_logged"] += count_lines(data)
        c.stream = c.logged = None

    # ------------------------------------------------------------ the log
    def on_record(self, line):
        """One complete record from the log."""
        parts = line.split(b" ", 3)
        if len(parts) != 4 or not TS_RE.match(parts[0]):
            self.violate("format", f"bad record {line[:120]!r}")
            return
        _, proto, peer, rest = parts
        if self.stop_seen:
            self.after_stop += 1
        if proto == b"tcp":
            c = self.by_peer.get(peer)
            if rest.startswith(b"msg "):
                cont, detail = False, rest[4:]
            elif rest.startswith(b"msg+ "):
                cont, detail = True, rest[5:]
            else:
                cont = detail = None
            if detail is not None:
                self.tcp_records += 1
                if c is None or not c.connected or c.disc is not None:
                    self.violate("stray-msg", f"{line[:120]!r}")
                    return
                c.logged.append((cont, detail))
                if c.state == "wait_logged":
                    self.check_logged(c, time.monotonic())
                return
            if c is None:
                self.violate("unknown-peer", f"{line[:120]!r}")
                return
            if rest == b"connect":
                if c.connected:
                    self.violate("double-connect", f"{line[:120]!r}")
                c.connected = True
                self.c["connect_records"] += 1
                if c.state == "wait_logged":
                    self.check_logged(c, time.monotonic())
                return
            if rest.startswith(b"disconnect "):
                kv = dict(x.split(b"=", 1) for x in rest[11:].split(b" "))
                if list(kv) != [b"reason", b"msgs", b"bytes"]:
                    self.violate("format", f"{line[:120]!r}")
                if not c.connected or c.disc is not None:
                    self.violate("disconnect-order", f"{line[:120]!r}")
                    return
                c.disc = (kv[b"reason"].decode(), int(kv[b"msgs"]),
                          int(kv[b"bytes"]))
                self.c["disconnect_records"] += 1
                self.tcp_bytes += c.disc[2]
                if c.state == "done":
                    self.verify(c)
                return
            self.violate("unexpected-record", f"{line[:120]!r}")
        elif proto == b"udp":
            self.on_udp(peer, rest, line)
        elif proto == b"-" and peer == b"-":
            ev, _, detail = rest.partition(b" ")
            if ev == b"stats":
                self.stats_rec = dict(
                    (k.decode(), int(v)) for k, v in
                    (x.split(b"=", 1) for x in detail.split(b" ")))
                self.stats_live(self.stats_rec)
            elif ev == b"stop":
                self.stop_seen = detail
            elif ev != b"start":
                self.violate("unexpected-record", f"{line[:120]!r}")
        else:
            self.violate("format", f"bad record {line[:120]!r}")

    def on_udp(self, peer, rest, line):
        if not rest.startswith(b"msg ") or peer not in self.udp_peers:
            self.violate("udp-record", f"{line[:120]!r}")
            return
        detail = rest[4:]
        self.udp_records += 1
        try:
            seq = int(detail[2:detail.index(b" ")])
            want = self.udp_expect.pop(seq)
        except (ValueError, KeyError):
            self.violate("udp-duplicate-or-unknown", f"{line[:120]!r}")
            return
        if (zlib.crc32(detail), len(detail)) != want[:2]:
            self.violate("udp-corrupt", f"datagram {seq}: {line[:120]!r}")
        self.udp_bytes += want[2]

    def tail(self, budget):
        """Read and check up to budget bytes of new records; True when
        something was read."""
        try:
            data = os.read(self.logfd, budget)
        except BlockingIOError:  # a FIFO with nothing in it
            data = b""
        if not data:
            if self.rotating is not None and os.path.exists(self.logpath):
                # The server reopened, so it wrote its last records to
                # the old file before: read them, then switch.
                while True:
                    data = os.read(self.logfd, 1 << 20)
                    if not data:
                        break
                    self.feed(data)
                if self.partial:
                    self.violate("rotation", f"record cut at rotation: "
                                 f"{self.partial[:80]!r}")
                    self.partial = b""
                os.close(self.logfd)
                os.unlink(self.rotating)
                self.rotating = None
                self.c["rotations"] += 1
                self.logfd = os.open(self.logpath, os.O_RDONLY)
                return True
            return False
        self.feed(data)
        return True

    def feed(self, data):
        """Check the complete records in data."""
        self.progress_t = time.monotonic()
        self.c["log_bytes"] += len(data)
        if self.save is not None:
            self.save.write(data)
        lines = (self.partial + data).split(b"\n")
        self.partial = lines.pop()
        for ln in lines:
            self.on_record(ln)

    def rotate(self):
        """mv the log aside and SIGHUP the server (log rotation)."""
        self.rotating = self.logpath + ".%d" % self.c["rotations"]
        os.rename(self.logpath, self.rotating)
        self.srv.send_signal(signal.SIGHUP)

    # ------------------------------------------------------------ UDP
    def udp_send(self, now):
        due = int((now - self.udp_t0) * self.a.udp_rate) - \
            (self.udp_seq - self.udp_base)
        for _ in range(min(due, 200)):
            seq = self.udp_seq
            r = self.rng.random()
            n = self.rng.randint(0, 200) if r < 0.9 else \
                self.rng.randint(200, 1400) if r < 0.99 else \
                self.rng.randint(1400, 65000)
            d = b"u=%d " % seq + self.pad(n, self.rng.random() < 0.05)
            r = self.rng.random()
            d += b"" if r < 0.5 else b"\n" if r < 0.8 else b"\r\n"
            s = self.udp_socks[seq % len(self.udp_socks)]
            try:
                s.send(d)
            except BlockingIOError:
                self.c["udp_send_eagain"] += 1
                self.udp_seq += 1
                continue
            except OSError as e:
                self.violate("udp-send", f"datagram {seq}: {e.strerror}")
                self.udp_seq += 1
                continue
            m = esc(frame_datagram(d))
            self.udp_expect[seq] = (zlib.crc32(m), len(m), len(d))
            self.udp_seq += 1
            self.c["udp_sent"] += 1

    # ------------------------------------------------------------ server
    def start_server(self):
        a = self.a
        self.dir = tempfile.mkdtemp(prefix="peerlog-soak-")
        self.logpath = os.path.join(self.dir, "peers.log")
        self.errpath = os.path.join(self.dir, "stderr")
        cmd = [a.peerlogd, "-t", "127.0.0.1:0", "-u", "127.0.0.1:0", "-o",
               self.logpath, "--max-line", str(a.max_line),
               "--idle-timeout", str(a.idle_timeout)]
        self.cmd = cmd
        self.errf = open(self.errpath, "wb")
        if a.fifo:
            # A pipe the harness reads while checking: the server's output
            # fills up whenever the checks fall behind, so its flow control
            # (pause every client, the listeners and UDP; resume) runs all
            # the time.
            os.mkfifo(self.logpath)
            self.fifofd = os.open(self.logpath, os.O_RDONLY | os.O_NONBLOCK)
        self.srv = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                    stdout=subprocess.DEVNULL,
                                    stderr=self.errf, start_new_session=True)
        ports = {}
        deadline = time.monotonic() + 15
        while len(ports) < 2:
            if time.monotonic() > deadline or self.srv.poll() is not None:
                print(f"soak: server did not start: "
                      f"{open(self.errpath).read()!r}", file=sys.stderr)
                sys.exit(2)
            time.sleep(0.05)
            for line in open(self.errpath).read().splitlines():
                m = LISTEN_RE.match(line)
                if m:
                    ports[m.group(1)] = int(m.group(2))
        self.tcp_port, self.udp_port = ports["tcp"], ports["udp"]
        if a.fifo:
            self.logfd = self.fifofd
        else:
            while not os.path.exists(self.logpath):
                time.sleep(0.01)
            self.logfd = os.open(self.logpath, os.O_RDONLY)
        self.partial = b""
        self.rotating = None
        self.proc = Proc(self.srv.pid)
        deadline = time.monotonic() + 10
        while not self.tail(1 << 16) and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.5)
        self.base_rss, _ = self.proc.status()
        self.base_fds = self.proc.fds()
        self.base_smaps = self.proc.smaps()
        self.overflows0 = listen_overflows()
        self.backlog = listen_backlog(self.tcp_port)
        self.base_cpu = self.proc.cpu()
        self.udp_socks = []
        for _ in range(4):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
            s.bind(("127.0.0.1", 0))
            s.connect((self.host, self.udp_port))
            s.setblocking(False)
            self.udp_socks.append(s)
            self.udp_peers.add(b"127.0.0.1:%d" % s.getsockname()[1])

    def sample(self, now):
        rss, hwm = self.proc.status()
        fds = self.proc.fds()
        if self.srv.poll() is None:
            self.queue_peak = max(self.queue_peak,
                                  listen_queue(self.tcp_port))
        self.rss_peak = max(self.rss_peak, hwm)
        self.fds_peak = max(self.fds_peak, fds)
        return rss, fds

    def log_behind(self):
        """Bytes of log not read yet (a FIFO: what the pipe holds)."""
        if self.a.fifo:
            n = fcntl.ioctl(self.logfd, termios.FIONREAD, b"\0\0\0\0")
            return struct.unpack("i", n)[0]
        return os.fstat(self.logfd).st_size - os.lseek(self.logfd, 0,
                                                        os.SEEK_CUR)

    def progress(self, now, rss, fds):
        cpu = self.proc.cpu()
        hcpu = sum(os.times()[:2])
        dt = now - self.last_prog[0]
        scpu = (cpu - self.last_prog[1]) / dt * 100 if dt else 0
        hpc = (hcpu - self.last_prog[2]) / dt * 100 if dt else 0
        self.last_prog = (now, cpu, hcpu)
        behind = self.behind
        print(f"[{now - self.t0:6.0f}s] live={self.live} conns="
              f"{self.c['clients']} verified={self.c['verified']} "
              f"records={self.tcp_records} udp={self.udp_records}/"
              f"{self.c['udp_sent']} rss={rss / 1024:.1f}MiB fds={fds} "
              f"srv_cpu={scpu:.0f}% harness_cpu={hpc:.0f}% "
              f"log_behind={behind / MiB:.1f}MiB lag={self.lag * 1000:.0f}ms "
              f"acceptq_peak={self.queue_peak} "
              f"viol={sum(self.nviol.values())}", flush=True)
        self.lag = 0.0

    # ------------------------------------------------------------ main
    def loop(self, until, spawning):
        """Run clients, UDP, the log reader and samples until until() is
        true."""
        a = self.a
        while not until():
            now = time.monotonic()
            # New clients wait while the log reader is far behind: the
            # checks (and reset_logged clients) must not lag for long.
            if spawning() and self.behind < 16 * MiB:
                k = 0
                while self.live < a.clients and k < 40:
                    self.spawn(now)
                    k += 1
            if spawning() and a.udp_rate:
                self.udp_send(now)
            while self.timers and self.timers[0][0] <= now:
                t, _, c, tok = heapq.heappop(self.timers)
                if tok == c.token:
                    self.lag = max(self.lag, now - t)
                    self.timer(c, now)
            wait = 0.01
            if self.timers:
                wait = max(0.0, min(wait, self.timers[0][0] - now))
            for key, ev in self.sel.select(wait):
                c = key.data
                now = time.monotonic()
                if c.state == "wait_close":
                    self.readable(c, now)
                else:
                    self.step(c, now)
            tail_t = time.monotonic()
            budget = 0.02 if self.behind < 4 * MiB else 0.1
            while self.tail(1 << 18) and time.monotonic() - tail_t < budget:
                pass
            now = time.monotonic()
            if now >= self.next_sample:
                self.next_sample = now + 1
                rss, fds = self.sample(now)
                self.behind = self.log_behind()
                if self.behind >= 16 * MiB and spawning():
                    self.c["throttled_s"] += 1
                if now >= self.next_prog:
                    self.next_prog = now + 10
                    self.progress(now, rss, fds)
            if a.stats_every and now >= self.next_stats and spawning():
                self.next_stats = now + a.stats_every
                self.srv.send_signal(signal.SIGUSR1)
            if a.rotate and self.rotating is None and now >= self.next_rot \
                    and spawning():
                self.next_rot = now + a.rotate
                self.rotate()

    def run(self):
        a = self.a
        self.start_server()
        print(f"soak: {' '.join(self.cmd)}\nsoak: pid {self.srv.pid}, "
              f"tcp {self.tcp_port}, udp {self.udp_port}, seed {a.seed}, "
              f"client ports {PORT_FIRST}-{PORT_LAST}, log {self.logpath}\n"
              f"soak: baseline rss={self.base_rss} KiB fds={self.base_fds}"
              f"; by mapping (KiB): {self.base_smaps}; accept queue limit "
              f"{self.backlog}", flush=True)
        self.t0 = time.monotonic()
        self.lag = 0.0
        self.next_sample = self.t0
        self.next_prog = self.t0 + 10
        self.next_rot = self.t0 + (a.rotate or 0)
        self.next_stats = self.t0 + (a.stats_every or 0)
        self.last_prog = (self.t0, self.base_cpu, sum(os.times()[:2]))
        self.t_load = self.t_drain = 0.0
        for phase in range(1, a.phases + 1):
            self.phase(phase)
        self.end_rss, self.end_fds = self.phase_ends[-1][1:3]
        # SIGUSR1: a stats record that must agree with the log.
        self.stats_rec = None
        self.srv.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + 10
        while self.stats_rec is None and time.monotonic() < deadline:
            if not self.tail(1 << 20):
                time.sleep(0.02)
        self.check_stats()
        if a.stop_under_load:
            self.stop_loaded()
        else:
            t_term = time.monotonic()
            self.srv.send_signal(signal.SIGTERM)
            try:
                self.rc = self.srv.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.violate("stop", "server did not exit within 60 s of "
                             "SIGTERM")
                self.srv.kill()
                self.rc = self.srv.wait()
            self.stop_seconds = time.monotonic() - t_term
        while self.tail(1 << 20):
            pass
        if a.stop_under_load:
            # The log is complete: check the clients the stop cut short.
            now = time.monotonic()
            for c in list(self.by_peer.values()):
                if c.state != "done":
                    self.finish(c, now)
                if c.peer in self.by_peer:
                    self.verify(c)
            if self.udp_expect:
                self.violate("udp-lost-at-stop",
                             f"{len(self.udp_expect)} datagrams sent before "
                             f"SIGTERM never logged")
        if self.partial:
            self.violate("format", f"log ends mid-record {self.partial[:80]!r}")
        if self.stop_seen != b"signal=SIGTERM":
            self.violate("stop", f"stop record {self.stop_seen!r}")
        if self.after_stop:
            self.violate("stop", f"{self.after_stop} records after stop")
        if self.rc != 0:
            self.violate("stop", f"exit status {self.rc}")
        if self.udp_expect:
            self.c["udp_lost"] = len(self.udp_expect)
        self.errf.close()
        self.stderr = open(self.errpath, "rb").read().decode(
            "utf-8", "replace")
        odd = [ln for ln in self.stderr.splitlines()
               if not LISTEN_RE.match(ln)]
        if odd:
            self.violate("stderr", "\n".join(odd[:40]))
        self.check_resources()
        if self.save is not None:
            self.save.close()
        self.summary()

    def stop_loaded(self):
        """Load again for --stop-under-load seconds, then SIGTERM while the
        clients are still sending; run them until the server exits."""
        a = self.a
        print(f"soak: load again for {a.stop_under_load:g} s, then SIGTERM "
              f"under load", flush=True)
        start = time.monotonic()
        self.udp_t0, self.udp_base = start, self.udp_seq
        self.next_stats = start + (a.stats_every or 0)
        self.loop(lambda: time.monotonic() >= start + a.stop_under_load,
                  lambda: True)
        self.t_load += time.monotonic() - start
        self.live_at_stop = self.live
        self.t_term = time.monotonic()
        self.srv.send_signal(signal.SIGTERM)
        self.loop(lambda: self.srv.poll() is not None or
                  time.monotonic() > self.t_term + 60, lambda: False)
        try:
            self.rc = self.srv.wait(timeout=1)
        except subprocess.TimeoutExpired:
            self.violate("stop", "server did not exit within 60 s of SIGTERM")
            self.srv.kill()
            self.rc = self.srv.wait()
        self.stop_seconds = time.monotonic() - self.t_term
        print(f"soak: SIGTERM with {self.live_at_stop} clients live; the "
              f"server exited after {self.stop_seconds:.2f} s", flush=True)

    def phase(self, n):
        """One load phase: --minutes of clients, then wait until every
        client is done and logged, and sample the server at rest."""
        a = self.a
        start = time.monotonic()
        self.udp_t0, self.udp_base = start, self.udp_seq
        end = start + a.minutes * 60
        self.loop(lambda: time.monotonic() >= end, lambda: True)
        t_end = time.monotonic()
        self.t_load += t_end - start
        print(f"soak: phase {n}: load ends; waiting for {self.live} clients "
              f"to finish", flush=True)
        # Until every client is done and logged; given up when nothing
        # moves for longer than any client waits, or after 15 minutes.
        quiet = a.idle_timeout + 90
        self.loop(lambda: (self.live == 0 and not self.by_peer
                           and self.rotating is None)
                  or time.monotonic() - self.progress_t > quiet
                  or time.monotonic() - t_end > 900, lambda: False)
        self.t_drain = max(self.t_drain, time.monotonic() - t_end)
        # What is left stays checked if its records come later, but the
        # server is not at rest: no resource check for this phase.
        unfinished = list(self.by_peer.values())
        for c in unfinished:
            self.violate("unfinished",
                         f"{c.peer.decode()} client {c.cid} {c.end} state "
                         f"{c.state} connected={c.connected} "
                         f"disc={c.disc} err={c.err}")
        # Every datagram sent has had time to arrive: read the rest.
        quiet = time.monotonic() + 1.0
        while time.monotonic() < quiet:
            if not self.tail(1 << 20):
                time.sleep(0.05)
        # Resources back to where they started?
        time.sleep(1.0)
        rss, fds = self.sample(time.monotonic())
        self.phase_ends.append((n, rss, fds, self.c["clients"],
                                self.proc.smaps(), not unfinished))
        print(f"soak: phase {n}: at rest rss={rss} KiB fds={fds} after "
              f"{self.c['clients']} connections; by mapping (KiB): "
              f"{self.phase_ends[-1][4]}", flush=True)

    def stats_live(self, s):
        """A stats record (under load too) must agree with the records
        before it in the log."""
        self.c["stats_records"] += 1
        want = {
            "clients": self.c["connect_records"] -
            self.c["disconnect_records"],
            "connects": self.c["connect_records"],
            "rejects": 0,
            "tcp_msgs": self.tcp_records,
            "udp_msgs": self.udp_records,
            "udp_bytes": self.udp_bytes,
        }
        keys = ["clients", "connects", "rejects", "tcp_msgs", "tcp_bytes",
                "udp_msgs", "udp_bytes", "udp_dropped", "udp_dropped_acl",
                "udp_dropped_kernel", "records_lost", "output_bytes",
                "output_errors"]
        if list(s) != keys:
            self.violate("stats", f"keys {list(s)}")
        for k, v in want.items():
            if s.get(k) != v:
                self.violate("stats", f"{k}={s.get(k)}, the log says {v}")

    def check_stats(self):
        """The last stats record, every client gone."""
        s = self.stats_rec
        if s is None:
            self.violate("stats", "no stats record after SIGUSR1")
            return
        for k, v in (("clients", 0), ("tcp_bytes", self.tcp_bytes)):
            if s.get(k) != v:
                self.violate("stats", f"{k}={s.get(k)}, the log says {v}")
        lost = len(self.udp_expect)
        if lost > s.get("udp_dropped", 0):
            self.violate("udp-loss", f"{lost} datagrams sent but not logged, "
                         f"udp_dropped={s.get('udp_dropped')}")

    def check_resources(self):
        a = self.a
        rest = [p for p in self.phase_ends if p[5]]
        for n, rss, fds, _, _, _ in rest:
            if fds != self.base_fds:
                self.violate("fd-leak", f"fds {fds} at rest after phase {n}, "
                             f"{self.base_fds} at start")
        # Memory the allocator keeps after a phase is reused by the next
        # one, and the fixed buffers (the output batch, the UDP batch) are
        # bounded: growth from phase to phase is a leak.
        for (m, prev, _, _, _, _), (n, rss, _, _, _, _) in zip(rest, rest[1:]):
            if a.phase_slack_mib >= 0 and \
                    rss > prev + a.phase_slack_mib * 1024:
                self.violate("rss-growth", f"rss {rss} KiB at rest after "
                             f"phase {n}, {prev} KiB after phase {m}")
        if a.rss_slack_mib >= 0 and self.phase_ends[-1][5] and \
                self.end_rss > self.base_rss + a.rss_slack_mib * 1024:
            self.violate("rss", f"rss {self.end_rss} KiB at the end, "
                         f"{self.base_rss} KiB at start (slack "
                         f"{a.rss_slack_mib} MiB)")

    def summary(self):
        a, c = self.a, self.c
        dur = self.t_load
        fig = {
            "command": " ".join(sys.argv),
            "server": " ".join(self.cmd),
            "output": "fifo" if a.fifo else "file",
            "seed": a.seed,
            "phases": a.phases,
            "load_seconds": round(dur, 1),
            "drain_seconds": round(self.t_drain, 1),
            "clients_concurrent": a.clients,
            "connections": c["clients"],
            "connections_per_s": round(c["clients"] / dur, 1),
            "ends": dict(self.ends),
            "disconnect_reasons": dict(self.reasons),
            "end_reasons": dict(sorted(self.end_reasons.items())),
            "tcp_messages_sent": c["tcp_messages_sent"],
            "tcp_messages_logged": c["tcp_messages_logged"],
            "tcp_records": self.tcp_records,
            "tcp_msg_plus_records": c["tcp_msg_plus"],
            "tcp_bytes_sent": c["tcp_bytes_sent"],
            "tcp_bytes_logged": c["tcp_bytes_logged"],
            "abrupt_resets_with_loss": c["abrupt_resets_with_loss"],
            "abrupt_bytes_lost": c["abrupt_bytes_lost"],
            "silence_timeouts": c["silence_timeouts"],
            "timeouts_not_taken": c["timeouts_not_taken"],
            "port_retries": c["port_retries"],
            "spawning_paused_s": c["throttled_s"],
            "timeout_latest_s": round(self.timeout_late, 3),
            "udp_sent": c["udp_sent"],
            "udp_logged": self.udp_records,
            "udp_lost": c["udp_lost"],
            "udp_send_eagain": c["udp_send_eagain"],
            "udp_dropped_stat": (self.stats_rec or {}).get("udp_dropped"),
            "accept_queue_peak": [self.queue_peak, self.backlog],
            "connects_over_0.9s": c["slow_connects"],
            "kernel_listen_overflows": listen_overflows() - self.overflows0,
            "rotations": c["rotations"],
            "stats_records_checked": c["stats_records"],
            "log_bytes": c["log_bytes"],
            "rss_kib": {"start": self.base_rss, "peak_hwm": self.rss_peak,
                        "end": self.end_rss},
            "rss_kib_by_mapping": {"start": self.base_smaps,
                                   "end": self.phase_ends[-1][4]},
            "at_rest_after_phase": [
                {"phase": n, "rss_kib": r, "fds": f, "connections": k,
                 "at_rest": ok}
                for n, r, f, k, _, ok in self.phase_ends],
            "fds": {"start": self.base_fds, "peak": self.fds_peak,
                    "end": self.end_fds},
            "server_cpu_s": round(self.proc_cpu_end(), 1),
            "exit_status": self.rc,
            "stop_seconds": round(self.stop_seconds, 2),
            "stop_under_load": {
                "seconds_of_load": a.stop_under_load,
                "clients_live_at_sigterm": getattr(self, "live_at_stop", 0),
                "connections_cut": c["stop_cut"],
                "connects_refused_or_unlogged": c["stop_not_connected"],
                "bytes_sent_not_taken": c["stop_bytes_not_taken"],
            } if a.stop_under_load else None,
            "violations": dict(self.nviol),
        }
        print("soak: summary " + json.dumps(fig, indent=1))
        if self.violations:
            print("soak: FAILED, violations:")
            for v in self.violations:
                print("  " + v)
        else:
            print("soak: PASSED")
        if a.json:
            with open(a.json, "w") as f:
                json.dump(fig, f, indent=1)

    def proc_cpu_end(self):
        try:
            ru = resource.getrusage(resource.RUSAGE_CHILDREN)
            return ru.ru_utime + ru.ru_stime
        except OSError:
            return 0.0


def main():
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--peerlogd", required=True, help="server binary")
    p.add_argument("--minutes", type=float, default=3.0,
                   help="length of the load (of each phase)")
    p.add_argument("--clients", type=int, default=2000,
                   help="TCP connections kept open at once")
    p.add_argument("--udp-rate", type=int, default=200,
                   help="datagrams a second (0: none)")
    p.add_argument("--max-line", type=int, default=256,
                   help="the server's --max-line; small, so that many lines "
                   "are split into msg+ pieces")
    p.add_argument("--idle-timeout", type=int, default=15,
                   help="the server's --idle-timeout (0: no timeout clients)")
    p.add_argument("--rotate", type=float, default=30,
                   help="rotate the log (mv + SIGHUP) every SEC (0: never)")
    p.add_argument("--stats-every", type=float, default=5,
                   help="SIGUSR1 every SEC under load; each stats record is "
                   "checked against the log before it (0: only at the end)")
    p.add_argument("--stop-under-load", type=float, default=0,
                   metavar="SEC",
                   help="after the checks at rest, load again for SEC "
                   "seconds and send SIGTERM while clients are sending "
                   "(0: SIGTERM at rest)")
    p.add_argument("--fifo", action="store_true",
                   help="log to a named pipe read by the checks instead of "
                   "a file: the output is slow whenever the checks are, so "
                   "the server pauses and resumes its input all the time "
                   "(no rotation)")
    p.add_argument("--rss-slack-mib", type=float, default=8,
                   help="RSS at the end may exceed the start by this much "
                   "(negative: do not check)")
    p.add_argument("--phases", type=int, default=1,
                   help="run the load this many times, --minutes each, "
                   "waiting for every client in between; RSS at rest must "
                   "not grow from phase to phase")
    p.add_argument("--phase-slack-mib", type=float, default=1,
                   help="RSS growth allowed from the end of one phase to "
                   "the end of the next (negative: do not check)")
    p.add_argument("--seed", type=int, default=None,
                   help="seed of the random choices (printed; timing still "
                   "varies from run to run)")
    p.add_argument("--json", help="write the figures to this file too")
    p.add_argument("--save-log", metavar="PATH",
                   help="copy every record read into PATH (the whole log, "
                   "across rotations and through --fifo)")
    p.add_argument("--keep", action="store_true",
                   help="keep the temporary directory (log, stderr)")
    a = p.parse_args()
    if a.fifo:
        a.rotate = 0
    if a.seed is None:
        a.seed = random.SystemRandom().randrange(1 << 32)
    if not os.access(a.peerlogd, os.X_OK):
        p.error(f"--peerlogd {a.peerlogd}: not executable")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = a.clients * 2 + 200
    if soft < need:
        if hard != resource.RLIM_INFINITY and hard < need:
            p.error(f"open files limit {hard} < {need} needed for "
                    f"--clients {a.clients}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))
    s = Soak(a)
    try:
        s.run()
    finally:
        if getattr(s, "srv", None) is not None and s.srv.poll() is None:
            s.srv.kill()
            s.srv.wait()
        if getattr(s, "dir", None) and not a.keep:
            for f in os.listdir(s.dir):
                os.unlink(os.path.join(s.dir, f))
            os.rmdir(s.dir)
        elif getattr(s, "dir", None):
            print(f"soak: kept {s.dir}")
    sys.exit(1 if s.violations else 0)


if __name__ == "__main__":
    main()
