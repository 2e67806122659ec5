"""Shutdown with an output that takes nothing: after 10 s the records are
known lost, and peerlogd still reads its clients but only counts the records
(behaviours O6; issue 9 defect 11)."""

import fcntl
import os
import re
import select
import signal
import struct
import termios
import time

from conftest import (WAIT, parse_text_line, proc_status_kib, read_fd_until,
                      requires_peerlogd, sanitized, slow, split_lines, tcp_connect)

pytestmark = requires_peerlogd

MIB = 1024 * 1024
CLIENTS = 100
# 10 s of the output taking nothing, then reading and counting what is left.
EXIT_WAIT = 60.0

NOT_WRITTEN = re.compile(r"peerlogd: output -: (\d+) records not written")


def connect_clients(srv):
    """CLIENTS clients, their connect records read from the output pipe;
    returns (sockets, the bytes read)."""
    clients = [tcp_connect(srv.tcp_addr, timeout=slow(WAIT)) for _ in range(CLIENTS)]
    out = bytearray()
    read_fd_until(srv.raw_fd, out, lambda b: b.count(b" connect\n") == CLIENTS,
                  "the connects", timeout=slow(WAIT))
    return clients, out


def drain(fd, out):
    """Read what the pipe holds until EOF (the writer is gone)."""
    while True:
        ready, _, _ = select.select([fd], [], [], WAIT)
        assert ready, "the output pipe neither has data nor ends"
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            return
        out += chunk


def not_written(err):
    """N of the one 'N records not written' line on stderr."""
    found = [m for m in map(NOT_WRITTEN.fullmatch, err.split("\n")) if m]
    assert len(found) == 1, f"not one 'records not written' line: {err!r}"
    return int(found[0].group(1))


def send_up_to(clients, amount):
    """Send up to amount bytes of 1000-byte lines on each client without
    blocking, until all is sent or nothing moves for a second; return the
    bytes each client sent."""
    data = b"".join(b"%09d %s\n" % (i, b"y" * 989) for i in range(amount // 1000 + 1))
    data = data[:amount]
    sent = [0] * len(clients)
    for c in clients:
        c.setblocking(False)
    last_progress = time.monotonic()
    while time.monotonic() - last_progress < 1.0:
        moved = False
        for k, c in enumerate(clients):
            if sent[k] >= amount:
                continue
            try:
                n = c.send(data[sent[k]:sent[k] + 256 * 1024])
            except BlockingIOError:
                continue
            sent[k] += n
            moved = True
        if all(s >= amount for s in sent):
            break
        if moved:
            last_progress = time.monotonic()
        else:
            time.sleep(0.01)
    return sent


def test_output_dead_at_shutdown_clients_are_read_and_counted_not_held(start_server):
    srv = start_server("-t", "127.0.0.1:0", output="rawpipe")
    clients, _ = connect_clients(srv)
    try:
        # Nobody reads the output from now on.
        sent = send_up_to(clients, 4 * MIB)
        assert sum(sent) >= CLIENTS * 2 * MIB, \
            f"the kernel took only {sum(sent)} bytes from the clients"
        srv.send_signal(signal.SIGTERM)
        hwm = 0
        deadline = time.monotonic() + slow(EXIT_WAIT)
        while srv.proc.poll() is None:
            try:
                hwm = max(hwm, proc_status_kib(srv.pid, "VmHWM"))
            except (OSError, AssertionError):
                pass  # exiting: /proc/PID/status has no memory lines left
            assert time.monotonic() < deadline, \
                f"peerlogd did not exit within {slow(EXIT_WAIT)} s; VmHWM {hwm} kB"
            time.sleep(0.05)
        rc = srv.wait_exit()
        err = srv.stderr()
        if not sanitized():
            assert hwm < 64 * 1024, \
                f"VmHWM {hwm} kB after {sum(sent) // MIB} MiB sent; stderr={err!r}"
        assert rc == 1, err
        assert not_written(err) >= 1
    finally:
        for c in clients:
            c.close()


def unacked(sock):
    """Bytes the socket sent that the peer's kernel has not acknowledged."""
    return struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ,
                                          b"\0\0\0\0"))[0]


def test_output_dead_at_shutdown_says_how_many_records_were_not_written(start_server):
    lines = 320  # 100-byte lines: 32000 bytes, inside the server's receive window
    srv = start_server("-t", "127.0.0.1:0", output="rawpipe")
    clients, out = connect_clients(srv)
    try:
        data = b"".join(b"%09d %s\n" % (i, b"z" * 89) for i in range(lines))
        # Stopped, the server reads nothing: every byte waits in its kernel
        # when SIGTERM is handled, and all of it is read then.
        os.kill(srv.pid, signal.SIGSTOP)
        try:
            for c in clients:
                c.sendall(data)
            deadline = time.monotonic() + slow(WAIT)
            while any(unacked(c) for c in clients):
                assert time.monotonic() < deadline, "the server's kernel took not all"
                time.sleep(0.02)
            os.kill(srv.pid, signal.SIGTERM)
        finally:
            os.kill(srv.pid, signal.SIGCONT)
        try:
            srv.proc.wait(slow(EXIT_WAIT))
        except Exception:
            raise AssertionError(
                f"peerlogd did not exit within {slow(EXIT_WAIT)} s") from None
        drain(srv.raw_fd, out)
        rc = srv.wait_exit()
        err = srv.stderr()
        assert rc == 1, err
        written = split_lines(bytes(out))
        for l in written:
            parse_text_line(l.decode())
        made = 1 + CLIENTS + CLIENTS * lines + CLIENTS + 1
        assert len(written) < made, "the output took every record"
        n = not_written(err)
        assert len(written) + n == made, \
            f"{len(written)} records written + {n} not written != {made} made"
    finally:
        for c in clients:
            c.close()
