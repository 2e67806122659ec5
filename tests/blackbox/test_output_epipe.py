"""An output whose reader has gone (EPIPE): standard output a pipe or a
socket, or -o FIFO. It never heals, so peerlogd says so once and shuts down
as on SIGTERM with exit status 1 (behaviours O1; issue 9 defect 3), except
while a SIGHUP reopen of the path is pending (O3): then records are held for
the new descriptor."""

import os
import re
import signal
import socket
import subprocess

import pytest

from conftest import (stop_reading_fd, LISTEN_RE, STOP_WAIT, VERSION, WAIT, peer_of, read_fd_until,
                      requires_peerlogd, slow, tcp_connect, wait_stderr)

pytestmark = requires_peerlogd


def start_with_output(start_server, tmp_path, kind):
    """A server whose output is a pipe or socket on standard output, or a
    FIFO the test opened for reading first. Returns (server, read fd, the
    output's name in messages, a function that closes the read fd)."""
    if kind in ("pipe", "socket"):
        srv = start_server("-t", "127.0.0.1:0",
                           output="rawpipe" if kind == "pipe" else "rawsocket")
        return srv, srv.raw_fd, "-", srv.close_raw_fd
    fifo = str(tmp_path / "out.fifo")
    os.mkfifo(fifo)
    rfd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    closed = []

    def close():
        if not closed:
            closed.append(True)
            os.close(rfd)

    try:
        srv = start_server("-t", "127.0.0.1:0", "-o", fifo, output="given")
    except BaseException:
        close()
        raise
    return srv, rfd, fifo, close


def wait_own_exit(srv, timeout):
    """Wait for the server to end without being signalled; its exit status."""
    try:
        srv.proc.wait(timeout)
    except subprocess.TimeoutExpired:
        raise AssertionError(
            f"peerlogd still running {timeout} s after its output's reader left; "
            f"stderr={srv.stderr()!r}") from None
    return srv.wait_exit()


def after_listening(err):
    """The stderr lines that follow the 'listening' lines."""
    lines = err.split("\n")
    assert lines[-1] == "", f"stderr does not end with a whole line: {err!r}"
    lines = lines[:-1]
    n = 0
    while n < len(lines) and LISTEN_RE.fullmatch(lines[n]):
        n += 1
    assert n >= 1, f"no listening line first: {err!r}"
    return lines[n:]


@pytest.mark.parametrize("kind", ["pipe", "socket", "fifo"])
def test_output_epipe_says_broken_pipe_once_and_exits_1_with_the_records_not_written(
        start_server, tmp_path, kind):
    srv, rfd, name, close_reader = start_with_output(start_server, tmp_path, kind)
    try:
        buf = bytearray()
        read_fd_until(rfd, buf, lambda b: b"\n" in b, "the start record")
        assert f" - - start version={VERSION} pid={srv.pid}\n".encode() in buf
        # Stopped, the server sees the client and its line only together,
        # after the reader is gone: connect, msg, disconnect and stop are the
        # four records it makes, and none can be written.
        c = None
        os.kill(srv.pid, signal.SIGSTOP)
        try:
            c = tcp_connect(srv.tcp_addr)
            c.sendall(b"into the void\n")
            close_reader()
        finally:
            os.kill(srv.pid, signal.SIGCONT)
        try:
            rc = wait_own_exit(srv, slow(STOP_WAIT))
        finally:
            if c is not None:
                c.close()
        err = srv.stderr()
        assert after_listening(err) == [
            f"peerlogd: output {name}: Broken pipe; shutting down",
            f"peerlogd: output {name}: 4 records not written"], err
        assert rc == 1, err
    finally:
        close_reader()


def expect_closed(sock, what, err):
    """The server closed sock: reading gives EOF or a reset, not a wait."""
    try:
        got = sock.recv(1)
    except ConnectionResetError:
        return
    except socket.timeout:
        raise AssertionError(f"{what} was left open; stderr={err()!r}") from None
    assert got == b"", f"{what} got {got!r}"


def test_output_epipe_closes_every_client_and_the_server_exits(start_server, tmp_path):
    srv, rfd, name, close_reader = start_with_output(start_server, tmp_path, "pipe")
    clients = []
    try:
        for _ in range(3):
            clients.append(tcp_connect(srv.tcp_addr, timeout=slow(WAIT)))
        peers = [peer_of(c) for c in clients]
        buf = bytearray()
        read_fd_until(rfd, buf, lambda b: all(
            f" tcp {p} connect\n".encode() in b for p in peers), "the connects")
        close_reader()
        # The msg record meets the pipe without a reader.
        clients[0].sendall(b"after the reader left\n")
        for p, c in zip(peers, clients):
            expect_closed(c, f"client {p}", srv.stderr)
        rc = wait_own_exit(srv, slow(STOP_WAIT))
        assert rc == 1, srv.stderr()
        # The listener is gone with the server: nothing waits in a queue.
        with pytest.raises(ConnectionRefusedError):
            tcp_connect(srv.tcp_addr).close()
    finally:
        for c in clients:
            c.close()
        close_reader()


def test_output_epipe_while_a_reopen_is_pending_holds_records_for_the_new_fifo(
        start_server, tmp_path):
    srv, rfd, fifo, close_reader = start_with_output(start_server, tmp_path, "fifo")
    rfd2 = None
    c = None
    try:
        buf = bytearray()
        read_fd_until(rfd, buf, lambda b: b"\n" in b, "the start record")
        # The reader goes, and SIGHUP comes before any record meets the old
        # descriptor: the reopen waits for a reader (ENXIO).
        close_reader()
        srv.send_signal(signal.SIGHUP)
        fail_line = (f"peerlogd: reopen {fifo}: No such device or address; "
                     f"retrying every 1s")
        wait_stderr(srv, re.escape(fail_line), "reopen failure line", timeout=slow(WAIT))
        c = tcp_connect(srv.tcp_addr, timeout=slow(WAIT))
        peer = peer_of(c)
        c.sendall(b"held for the next reader\n")
        # The records meet the old FIFO (EPIPE) at once; the server keeps
        # them and stays up for more than a retry.
        deadline_wait = slow(2.0)
        try:
            srv.proc.wait(deadline_wait)
        except subprocess.TimeoutExpired:
            pass
        assert srv.proc.poll() is None, \
            f"server exited (rc={srv.proc.returncode}): {srv.stderr()!r}"
        assert "shutting down" not in srv.stderr(), srv.stderr()
        rfd2 = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
        wait_stderr(srv, re.escape(f"peerlogd: output {fifo}: reopened"),
                    "reopened line", timeout=slow(WAIT))
        out = bytearray()
        read_fd_until(rfd2, out, lambda b: b" msg held for the next reader\n" in b,
                      "the held records", timeout=slow(WAIT))
        rc, err, recs = stop_reading_fd(srv, rfd2, out)
        assert rc == 0, err
        line = "held for the next reader"
        assert recs == [
            f"tcp {peer} connect", f"tcp {peer} msg {line}",
            f"tcp {peer} disconnect reason=shutdown msgs=1 bytes={len(line) + 1}",
            "- - stop signal=SIGTERM"], out
        assert err.count(fail_line) == 1, err
        assert err.count(f"peerlogd: output {fifo}: reopened\n") == 1, err
    finally:
        if c is not None:
            c.close()
        close_reader()
        if rfd2 is not None:
            os.close(rfd2)
