"""Framing and escaping are linear in the bytes received (issue 9, R6): an
unterminated line is not re-escaped from its start on every read."""

import os
import socket
import threading
import time

from conftest import (STOP_WAIT, parse_text_line, peer_of, proc_cpu_seconds,
                      requires_peerlogd, sanitized, tcp_connect)

pytestmark = requires_peerlogd

MIB = 1024 * 1024


class StreamSender(threading.Thread):
    """Sends pieces over sock, half-closes, and waits for the server's
    close; error holds what went wrong, if anything."""

    def __init__(self, sock, pieces):
        super().__init__(daemon=True)
        self.sock = sock
        self.pieces = pieces
        self.error = None
        self.closed = False

    def run(self):
        try:
            self.sock.settimeout(None)
            for p in self.pieces:
                self.sock.sendall(p)
            self.sock.shutdown(socket.SHUT_WR)
            self.sock.settimeout(STOP_WAIT)
            self.closed = self.sock.recv(1) == b""
        except OSError as e:
            self.error = e


def file_tail(path, n=512):
    """The last n bytes of a file."""
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        f.seek(max(0, f.tell() - n))
        return f.read()


def test_64_mib_without_lf_at_max_line_4_mib_costs_linear_cpu(start_server):
    piece, count = 4 * MIB, 16
    # CPU-seconds: linear framing and escaping need ~0.5 (~3.5 in a debug
    # build under AddressSanitizer, which gets the same 10x margin).
    budget = 30.0 if sanitized() else 10.0
    srv = start_server("-t", "127.0.0.1:0", "--max-line", str(piece))
    c = tcp_connect(srv.tcp_addr)
    peer = peer_of(c)
    # Each piece of the line has its own letter, so a cut in the wrong
    # place shows; the letters frame a two-byte UTF-8 character (valid, so
    # written as it is), which takes the escaper's slow path. The 4-byte
    # unit divides max-line: every cut falls between characters.
    pieces = [(chr(ord("a") + i) + "\u00e9" + chr(ord("a") + i)).encode() * (piece // 4)
              for i in range(count)]
    sender = StreamSender(c, pieces)
    sender.start()
    try:
        # Polled by CPU, not by wall time: today's quadratic re-escaping
        # (about 45 CPU-seconds) fails here as soon as it passes the budget.
        deadline = time.monotonic() + 12 * budget
        while sender.is_alive() or b" disconnect " not in file_tail(srv.out_path):
            used = proc_cpu_seconds(srv.pid)
            assert used < budget, \
                f"{used:.1f} CPU-seconds for {count * piece // MIB} MiB without LF"
            assert srv.proc.poll() is None, "the server died"
            assert time.monotonic() < deadline, "the line never ended"
            time.sleep(0.1)
        used = proc_cpu_seconds(srv.pid)
        assert used < budget, f"{used:.1f} CPU-seconds"
        assert sender.error is None, sender.error
        assert sender.closed
    finally:
        c.close()
    with open(srv.out_path, "rb") as f:
        lines = f.read().split(b"\n")
    assert lines[-1] == b""
    lines = lines[:-1]
    assert len(lines) == 2 + count + 1, f"{len(lines)} records"
    heads = [parse_text_line(l[:80].decode())[1][:3] for l in lines]
    assert heads[0][2] == "start"
    assert heads[1] == ("tcp", peer, "connect")
    assert heads[2:2 + count] == [("tcp", peer, "msg+")] * (count - 1) + \
        [("tcp", peer, "msg")]
    for i, line in enumerate(lines[2:2 + count]):
        event = b"msg+ " if i < count - 1 else b"msg "
        head = f" tcp {peer} ".encode() + event
        assert line[27:27 + len(head)] == head
        assert line[27 + len(head):] == pieces[i], f"piece {i} differs"
    assert parse_text_line(lines[-1].decode())[1] == (
        "tcp", peer, "disconnect", f"reason=eof msgs={count} bytes={count * piece}")
    rc, _, _ = srv.stop()
    assert rc == 0
