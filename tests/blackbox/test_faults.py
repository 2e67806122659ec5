"""Faults: an output that refuses writes, shutdown and log rotation while
clients send, clients that die, reset or vanish mid-line."""

import errno
import os
import re
import signal
import subprocess
import sys
import threading
import time

import pytest

from conftest import (VERSION, WAIT, peer_of, requires_peerlogd, reset_close,
                      split_lines, tcp_connect, wait_stderr)

pytestmark = requires_peerlogd


def start_record_len(pid):
    """Bytes of the start record of server pid (timestamp is 27 bytes)."""
    return len(f"{'x' * 27} - - start version={VERSION} pid={pid}\n")


def test_output_device_full_is_reported_once_and_the_server_keeps_running(
        start_server):
    srv = start_server("-t", "127.0.0.1:0", "-o", "/dev/full", output="given")
    m = wait_stderr(
        srv, r"peerlogd: output /dev/full: No space left on device; holding (\d+) "
        r"bytes of records, retrying every 1s", "output error")
    # Only the start record was formatted when the first write failed.
    assert int(m.group(1)) == start_record_len(srv.pid)
    with tcp_connect(srv.tcp_addr) as c:
        c.sendall(b"into a full disk\n")
        t0 = time.monotonic()
        while time.monotonic() - t0 < 2.0:
            assert srv.proc.poll() is None, f"server died: {srv.stderr()!r}"
            time.sleep(0.1)
        # Retried every second, reported once.
        assert len([l for l in srv.stderr().split("\n") if "output /dev/full" in l]) == 1


def test_output_device_full_at_shutdown_exits_1_and_says_what_was_lost(start_server):
    srv = start_server("-t", "127.0.0.1:0", "-o", "/dev/full", output="given")
    wait_stderr(srv, r"peerlogd: output /dev/full: No space left on device; .*",
                "output error")
    rc, _, err = srv.stop()
    assert rc == 1
    lost = [l for l in err.split("\n") if "records not written" in l]
    assert len(lost) == 1, err
    # The start and stop records: every record made, none written.
    assert lost[0] == "peerlogd: output /dev/full: 2 records not written"


def can_mount_tmpfs(d):
    """Whether a private mount namespace with a tmpfs can be made here."""
    try:
        r = subprocess.run(["unshare", "-m", "sh", "-c",
                            'mount -t tmpfs -o size=256k tmpfs "$0"', d],
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=WAIT)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return r.returncode == 0


def fill(path):
    """Write path until the file system is full."""
    block = b"f" * 4096
    with open(path, "wb", buffering=0) as f:
        try:
            while True:
                f.write(block)
        except OSError as e:
            assert e.errno == errno.ENOSPC, e


def test_output_disk_full_then_freed_loses_no_record(start_server, tmp_path):
    d = str(tmp_path / "mnt")
    os.mkdir(d)
    if not can_mount_tmpfs(d):
        pytest.skip("cannot mount a tmpfs in a private mount namespace here")
    log = d + "/log"
    # The server runs in its own mount namespace with a 256 KiB tmpfs on d;
    # the test reaches that file system through /proc/PID/root.
    srv = start_server(
        "-t", "127.0.0.1:0", "-o", log, output="given",
        wrapper=["unshare", "-m", "sh", "-c",
                 'mount -t tmpfs -o size=256k tmpfs "$0" && exec "$@"', d])
    root = f"/proc/{srv.pid}/root{d}"
    dirfd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        assert os.statvfs(root).f_blocks * os.statvfs(root).f_frsize <= 256 * 1024
        # Keeps working after the server (and its namespace) is gone.
        srv.out_path = f"/proc/self/fd/{dirfd}/log"
        with tcp_connect(srv.tcp_addr) as c:
            peer = peer_of(c)
            lines = [f"before {i:03d}" for i in range(10)]
            c.sendall("".join(l + "\n" for l in lines).encode())
            srv.wait_record(("tcp", peer, "msg", lines[-1]))
            fill(root + "/filler")
            during = [f"during {i:03d} " + "d" * 40 for i in range(200)]
            c.sendall("".join(l + "\n" for l in during).encode())
            wait_stderr(srv, rf"peerlogd: output {re.escape(log)}: No space left on "
                        r"device; holding \d+ bytes of records, retrying every 1s",
                        "disk full")
            lines += during
            assert srv.proc.poll() is None
            os.unlink(root + "/filler")
            wait_stderr(srv, rf"peerlogd: output {re.escape(log)}: writing again",
                        "recovery")
            after = [f"after {i:03d}" for i in range(10)]
            c.sendall("".join(l + "\n" for l in after).encode())
            lines += after
            srv.wait_record(("tcp", peer, "msg", after[-1]))
        nbytes = sum(len(l) + 1 for l in lines)
        srv.wait_record(("tcp", peer, "disconnect",
                         f"reason=eof msgs={len(lines)} bytes={nbytes}"))
        rc, recs, _ = srv.stop()
        assert rc == 0
        assert recs == [("-", "-", "start", f"version={VERSION} pid={srv.pid}"),
                        ("tcp", peer, "connect")] + [
            ("tcp", peer, "msg", l) for l in lines] + [
            ("tcp", peer, "disconnect", f"reason=eof msgs={len(lines)} bytes={nbytes}"),
            ("-", "-", "stop", "signal=SIGTERM")]
    finally:
        os.close(dirfd)


def client_lines(k, n):
    return [f"client {k:02d} line {i:04d}" for i in range(n)]


def test_shutdown_under_load_logs_every_line_once(server):
    n_open, n_closed, n = 20, 5, 5000
    socks = [tcp_connect(server.tcp_addr) for _ in range(n_open + n_closed)]
    peers = [peer_of(s) for s in socks]
    errors = []

    def send(k):
        try:
            socks[k].sendall("".join(l + "\n" for l in client_lines(k, n)).encode())
            if k >= n_open:
                socks[k].close()
        except OSError as e:
            errors.append(e)

    try:
        threads = [threading.Thread(target=send, args=(k,)) for k in range(len(socks))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(WAIT)
        assert not errors, errors
        # Right after the last write returned: what the kernel holds must be
        # read and logged too.
        rc, recs, _ = server.stop()
        assert rc == 0
        by_peer = {}
        for r in recs:
            by_peer.setdefault(r[1], []).append(r)
        for k, p in enumerate(peers):
            lines = client_lines(k, n)
            reason = "shutdown" if k < n_open else "eof"
            nbytes = sum(len(l) + 1 for l in lines)
            mine = by_peer[p]
            got = [r[3] for r in mine if r[2] == "msg"]
            same = got == lines
            assert same, f"client {k}: {len(got)} of {n} lines logged; last {mine[-1]}"
            assert mine[0] == ("tcp", p, "connect")
            assert mine[-1] == ("tcp", p, "disconnect",
                                f"reason={reason} msgs={n} bytes={nbytes}")
            assert len(mine) == n + 2
        assert recs[-1] == ("-", "-", "stop", "signal=SIGTERM")
    finally:
        for s in socks:
            s.close()


def test_shutdown_logs_what_the_kernel_held_when_the_signal_came(server):
    silent = tcp_connect(server.tcp_addr)
    sp = peer_of(silent)
    server.wait_record(("tcp", sp, "connect"))
    pending = None
    # Stopped, the server reads nothing: every byte below waits in the kernel
    # (and two connections in the listen backlog) when SIGTERM is handled.
    os.kill(server.pid, signal.SIGSTOP)
    try:
        burst = [f"held {i:04d}" for i in range(1000)]
        silent.sendall("".join(l + "\n" for l in burst).encode())
        closed = tcp_connect(server.tcp_addr)
        cp = peer_of(closed)
        closed.sendall(b"sent and gone\n")
        closed.close()
        pending = tcp_connect(server.tcp_addr)
        pp = peer_of(pending)
        pending.sendall(b"x\nunterminated")
        os.kill(server.pid, signal.SIGTERM)
    finally:
        os.kill(server.pid, signal.SIGCONT)
    try:
        rc, recs, _ = server.stop()
        assert rc == 0
        assert [r for r in recs if r[1] == sp] == [("tcp", sp, "connect")] + [
            ("tcp", sp, "msg", l) for l in burst] + [
            ("tcp", sp, "disconnect", "reason=shutdown msgs=1000 bytes=10000")]
        assert [r for r in recs if r[1] == cp] == [
            ("tcp", cp, "connect"), ("tcp", cp, "msg", "sent and gone"),
            ("tcp", cp, "disconnect", "reason=eof msgs=1 bytes=14")]
        assert [r for r in recs if r[1] == pp] == [
            ("tcp", pp, "connect"), ("tcp", pp, "msg", "x"),
            ("tcp", pp, "msg", "unterminated"),
            ("tcp", pp, "disconnect", "reason=shutdown msgs=2 bytes=14")]
        assert recs[-1] == ("-", "-", "stop", "signal=SIGTERM")
    finally:
        silent.close()
        if pending is not None:
            pending.close()


def file_records(path):
    """Text records (bytes lines) of a file; it must end with a whole line."""
    with open(path, "rb") as f:
        data = f.read()
    assert data.endswith(b"\n"), f"{path} ends mid-record"
    return split_lines(data)


def test_sighup_rotation_while_clients_send_loses_and_duplicates_nothing(server):
    path = server.out_path
    n_senders, rotations = 4, 5
    socks = [tcp_connect(server.tcp_addr) for _ in range(n_senders)]
    peers = [peer_of(s) for s in socks]
    sent = [0] * n_senders
    stop = threading.Event()
    errors = []

    def send(k):
        try:
            while not stop.is_set():
                i = sent[k]
                socks[k].sendall("".join(f"s{k} {j:07d}\n"
                                         for j in range(i, i + 200)).encode())
                sent[k] = i + 200
                time.sleep(0.002)
        except OSError as e:
            errors.append(e)

    def wait_msgs_in(p):
        deadline = time.monotonic() + WAIT
        while True:
            try:
                with open(p, "rb") as f:
                    if b" msg s" in f.read():
                        return
            except FileNotFoundError:
                pass
            assert time.monotonic() < deadline, f"no messages reach {p}"
            assert server.proc.poll() is None
            time.sleep(0.01)

    threads = [threading.Thread(target=send, args=(k,), daemon=True)
               for k in range(n_senders)]
    for t in threads:
        t.start()
    try:
        files = []
        for r in range(1, rotations + 1):
            wait_msgs_in(path)
            os.rename(path, f"{path}.{r}")
            files.append(f"{path}.{r}")
            server.send_signal(signal.SIGHUP)
            deadline = time.monotonic() + WAIT
            while not os.path.exists(path):
                assert time.monotonic() < deadline, "output not reopened after SIGHUP"
                time.sleep(0.005)
        wait_msgs_in(path)
        files.append(path)
        stop.set()
        for t in threads:
            t.join(WAIT)
        assert not errors, errors
        for s in socks:
            s.close()
        for p in peers:
            server.wait_event(p, "disconnect")
        rc, _, _ = server.stop()
        assert rc == 0
        per_file = [[l[28:].decode() for l in file_records(f)] for f in files]
        everything = [r for recs in per_file for r in recs]
        for k, p in enumerate(peers):
            want = [f"tcp {p} msg s{k} {j:07d}" for j in range(sent[k])]
            got = [r for r in everything if r.startswith(f"tcp {p} msg ")]
            same = got == want
            assert same, f"sender {k}: {len(got)} records for {len(want)} lines"
            assert f"tcp {p} disconnect reason=eof msgs={sent[k]} " \
                   f"bytes={sent[k] * 11}" in per_file[-1]
        # Every file got messages: the rotations happened mid-stream.
        for f, recs in zip(files, per_file):
            assert any(" msg s" in r for r in recs), f"no messages in {f}"
        assert per_file[0][0] == f"- - start version={VERSION} pid={server.pid}"
        assert per_file[-1][-1] == "- - stop signal=SIGTERM"
    finally:
        stop.set()
        for s in socks:
            s.close()


KILLED_CLIENT = r"""
import socket, sys, time
s = socket.socket(fileno=int(sys.argv[1]))
s.sendall(b"complete\npartial-without-lf")
print("sent", flush=True)
time.sleep(60)
"""


def test_client_killed_mid_line_logs_its_partial_tail_and_eof(server):
    c = tcp_connect(server.tcp_addr)
    peer = peer_of(c)
    # The child owns the only copy of the connected socket once we close ours.
    child = subprocess.Popen([sys.executable, "-c", KILLED_CLIENT, str(c.fileno())],
                             pass_fds=[c.fileno()], stdout=subprocess.PIPE,
                             stdin=subprocess.DEVNULL)
    c.close()
    try:
        assert child.stdout.readline() == b"sent\n"
        server.wait_record(("tcp", peer, "msg", "complete"))
        child.send_signal(signal.SIGKILL)
        child.wait(WAIT)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(WAIT)
        child.stdout.close()
    server.wait_event(peer, "disconnect")
    assert server.of(peer) == [
        ("tcp", peer, "connect"), ("tcp", peer, "msg", "complete"),
        ("tcp", peer, "msg", "partial-without-lf"),
        ("tcp", peer, "disconnect", "reason=eof msgs=2 bytes=27")]


def test_client_reset_mid_line_logs_the_received_tail_and_reset(server):
    c = tcp_connect(server.tcp_addr)
    peer = peer_of(c)
    c.sendall(b"abc\nde")
    # Once 'abc' is logged the server has read 'de' too (one segment);
    # only then the reset, so the kernel cannot discard unread bytes.
    server.wait_record(("tcp", peer, "msg", "abc"))
    reset_close(c)
    server.wait_event(peer, "disconnect")
    assert server.of(peer) == [
        ("tcp", peer, "connect"), ("tcp", peer, "msg", "abc"),
        ("tcp", peer, "msg", "de"),
        ("tcp", peer, "disconnect", "reason=reset msgs=2 bytes=6")]


def keepalive_timer(local_port, remote_port):
    """(timer kind, seconds until it fires) of the established socket
    127.0.0.1:local_port <-> :remote_port, from /proc/net/tcp: kind 2 is
    the keepalive timer."""
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            parts = line.split()
            lport = int(parts[1].split(":")[1], 16)
            rport = int(parts[2].split(":")[1], 16)
            if (lport, rport) == (local_port, remote_port) and parts[3] == "01":
                kind, when = parts[5].split(":")
                return int(kind, 16), int(when, 16) / os.sysconf("SC_CLK_TCK")
    raise AssertionError(f"no established socket {local_port}<->{remote_port}")


def test_accepted_clients_have_tcp_keepalive_armed(start_server):
    """A client that vanishes without FIN or RST is found by keepalive: the
    server's socket of every accepted client runs the keepalive timer, set
    to about 300 s of silence (README: found after about seven minutes)."""
    srv = start_server("-t", "127.0.0.1:0")
    port = int(srv.tcp_addr[1])
    with tcp_connect(srv.tcp_addr) as c:
        cport = c.getsockname()[1]
        srv.wait_record(("tcp", peer_of(c), "connect"))
        kind, secs = keepalive_timer(port, cport)
        assert kind == 2, f"timer kind {kind}, not keepalive (2)"
        assert 250 < secs <= 300, f"keepalive fires in {secs} s"
