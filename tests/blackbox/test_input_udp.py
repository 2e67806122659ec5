"""UDP input with the output stalled (issue 9): no busy loop with two sockets
(R3), memory inside the README's bound for 64 KiB datagrams in JSON (R4),
and kernel drops in stats without a datagram since (R5).

The output is a pipe the test reads only when it says so (output='rawpipe').
Resident-memory bounds are skipped under AddressSanitizer (its shadow memory
and quarantine are not the server's)."""

import os
import select
import signal
import time

import pytest

from conftest import (WAIT, parse_kv, proc_cpu_seconds, proc_status_kib,
                      requires_peerlogd, sanitized, split_addr, udp_socket)

pytestmark = requires_peerlogd

KIB = 1024
MIB = 1024 * KIB


class RawReader:
    """What the server writes to its output pipe, read on request."""

    def __init__(self, srv):
        self.fd = srv.raw_fd
        self.data = bytearray()
        self.eof = False

    def read_some(self, wait=0.05):
        """Read what the pipe holds now (waiting up to wait for the first
        bytes); return the number of bytes read."""
        got = 0
        while not self.eof:
            ready, _, _ = select.select([self.fd], [], [], wait if got == 0 else 0)
            if not ready:
                break
            chunk = os.read(self.fd, 1 << 20)
            if not chunk:
                self.eof = True
                break
            self.data += chunk
            got += len(chunk)
        return got

    def read_at_least(self, n, timeout=WAIT):
        """Read until n more bytes came (or the timeout)."""
        goal = len(self.data) + n
        deadline = time.monotonic() + timeout
        while len(self.data) < goal and not self.eof:
            self.read_some()
            assert time.monotonic() < deadline, f"output stalled below {goal} bytes"

    def read_until(self, pred, what, timeout=WAIT):
        """Read until pred(self); the timeout restarts while bytes come."""
        deadline = time.monotonic() + timeout
        while not pred(self):
            if self.read_some():
                deadline = time.monotonic() + timeout
            assert not self.eof or pred(self), f"output ended before {what}"
            assert time.monotonic() < deadline, f"timed out reading output for {what}"

    def stats_lines(self):
        """The stats records read so far (text format), as dicts of ints."""
        out = []
        for line in bytes(self.data).split(b"\n")[:-1]:
            if line[27:38] == b" - - stats ":
                out.append({k: int(v) for k, v in
                            parse_kv(line[38:].decode()).items()})
        return out


def udp_row(port):
    """(rx_queue bytes, drops) of the 127.0.0.1 UDP socket bound to port,
    from /proc/net/udp."""
    want = f"0100007F:{port:04X}"
    with open("/proc/net/udp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if fields[1] == want:
                rx = int(fields[4].split(":")[1], 16)
                return rx, int(fields[-1])
    raise AssertionError(f"no UDP socket on 127.0.0.1:{port} in /proc/net/udp")


def wait_queue_still(port, quiet=0.3, limit=WAIT):
    """Wait until the socket's receive queue has not changed for quiet
    seconds (the server stopped reading it); return its (rx_queue, drops)."""
    deadline = time.monotonic() + limit
    last, since = udp_row(port), time.monotonic()
    while True:
        time.sleep(0.05)
        now = udp_row(port)
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return now
        assert time.monotonic() < deadline, f"queue of port {port} never settled"


def big_buffers():
    """Whether a UDP socket here can hold several MiB (root's
    SO_RCVBUFFORCE, or a large net.core.rmem_max)."""
    if os.geteuid() == 0:
        return True
    with open("/proc/sys/net/core/rmem_max") as f:
        return int(f.read()) >= 4 * MIB


def stop_draining(srv, out):
    """SIGTERM, read the output to its end, return the exit status."""
    srv.send_signal(signal.SIGTERM)
    out.read_until(lambda o: o.eof, "end of output", timeout=2 * WAIT)
    return srv.wait_exit()


def test_two_udp_sockets_with_the_output_stalled_during_resume_do_not_spin(
        start_server):
    if not big_buffers():
        pytest.skip("UDP receive buffers here cannot hold 1 MiB of datagrams")
    # Two sockets, as -u PORT binds; the output a pipe read only in steps.
    srv = start_server("-u", "127.0.0.1:0", "-u", "127.0.0.1:0", output="rawpipe")
    out = RawReader(srv)
    addrs = [split_addr(a) for a in srv.udp]
    body = b"a" * 8000
    # 12 MB per socket: after the server has paused, far more than one
    # resume reads (256 datagrams, 2 MiB of records), so every resume fills
    # the output again while it re-arms the sockets.
    with udp_socket(addrs[0]) as u:
        for i in range(1500):
            for a in addrs:
                u.sendto(body, a)
    for a in addrs:
        wait_queue_still(a[1])
    # Let the output drain a few batches (each drained batch is a resume
    # that the first socket's datagrams stall at once), then stop reading.
    out.read_at_least(4 * MIB)
    for a in addrs:
        rx, _ = wait_queue_still(a[1])
        assert rx > 0, f"socket {a} holds no datagram: the stall was not reached"
    cpu0, t0 = proc_cpu_seconds(srv.pid), time.monotonic()
    time.sleep(3.0)
    used = proc_cpu_seconds(srv.pid) - cpu0
    took = time.monotonic() - t0
    assert srv.proc.poll() is None
    # Paused, the server waits for its output; a busy loop uses ~1 s/s.
    assert used < 0.3 * took, \
        f"{used:.2f} CPU-seconds in {took:.1f} s with the output stalled"
    rc = stop_draining(srv, out)
    assert rc == 0


def json_flood_server(start_server):
    """A JSON server on one UDP socket whose output pipe nobody reads yet,
    its reader, and its VmHWM / VmRSS (kB) before any datagram."""
    srv = start_server("-u", "127.0.0.1:0", fmt="json", output="rawpipe")
    return srv, RawReader(srv), proc_status_kib(srv.pid, "VmHWM"), \
        proc_status_kib(srv.pid, "VmRSS")


def flood_ff(srv, n):
    """Send n datagrams of 65,000 bytes 0xff (each becomes a ~195 KB JSON
    record of U+FFFD); wait until the server stops reading them."""
    addr = srv.udp_addr
    with udp_socket(addr) as u:
        for _ in range(n):
            u.sendto(b"\xff" * 65000, addr)
    wait_queue_still(addr[1])


# The README's bound for what the output and UDP input hold: the batch of
# 1 MiB plus one largest record (a 64 KiB datagram escaped for JSON, 6 bytes
# a byte at most, plus its fields), as much again held by the output that is
# behind, and the UDP receive batch (32 x 64 KiB).
UDP_BOUND_KIB = (2 * (1 * MIB + (6 * 65536 + 512)) + 32 * 65536) // KIB
# Everything else a running server may touch meanwhile (libevent, stack,
# malloc's bookkeeping).
SLACK_KIB = 512


def test_udp_json_flood_with_the_output_stalled_stays_inside_the_memory_bound(
        start_server):
    if sanitized():
        pytest.skip("resident memory is not meaningful under AddressSanitizer")
    srv, out, hwm0, _ = json_flood_server(start_server)
    flood_ff(srv, 400)
    grown = proc_status_kib(srv.pid, "VmHWM") - hwm0
    assert grown <= UDP_BOUND_KIB + SLACK_KIB, \
        f"VmHWM grew by {grown} kB, bound {UDP_BOUND_KIB} kB + {SLACK_KIB} kB"
    assert stop_draining(srv, out) == 0


def test_udp_json_flood_output_batch_shrinks_back_once_the_output_drains(
        start_server):
    if sanitized():
        pytest.skip("resident memory is not meaningful under AddressSanitizer")
    srv, out, _, rss0 = json_flood_server(start_server)
    flood_ff(srv, 400)
    # Drain: read until the socket is empty and the output quiet.
    port = srv.udp_addr[1]
    deadline = time.monotonic() + 4 * WAIT
    while True:
        got = out.read_some(0.3)
        if got == 0 and udp_row(port)[0] == 0:
            break
        assert time.monotonic() < deadline, "output never drained"
    rss = proc_status_kib(srv.pid, "VmRSS") - rss0
    # The receive batch stays; the output batch is back to its normal size.
    assert rss <= UDP_BOUND_KIB + SLACK_KIB, \
        f"VmRSS still {rss} kB above its start after the output drained"
    assert stop_draining(srv, out) == 0


def test_stats_udp_dropped_counts_kernel_drops_with_no_datagram_since(start_server):
    if not big_buffers():
        pytest.skip("UDP receive buffers here cannot hold 1 MiB of datagrams")
    srv = start_server("-u", "127.0.0.1:0", output="rawpipe")
    out = RawReader(srv)
    addr = srv.udp_addr
    with udp_socket(addr) as u:
        # Stall the output: more records than the pipe and one batch hold.
        for _ in range(300):
            u.sendto(b"s" * 8000, addr)
        rx, drops0 = wait_queue_still(addr[1])
        assert rx > 0, "the server read every datagram: the output did not stall"
        assert drops0 == 0
        # Now overflow the socket's buffer (16 MiB at most) while unread.
        for _ in range(600):
            u.sendto(b"d" * 60000, addr)
    _, drops = wait_queue_still(addr[1])
    assert drops > 0, "the kernel dropped nothing"
    srv.send_signal(signal.SIGUSR1)
    out.read_until(lambda o: o.stats_lines(), "the stats record", timeout=2 * WAIT)
    st = out.stats_lines()[0]
    assert udp_row(addr[1])[1] == drops
    assert st["udp_dropped"] == drops, st
    assert st["udp_dropped_kernel"] == drops, st
    assert st["udp_dropped_acl"] == 0, st
    assert stop_draining(srv, out) == 0
