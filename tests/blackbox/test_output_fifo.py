"""-o FIFO with no reader: start-up does not block, records are held until a
reader opens it (behaviours O2; issue 9 defect 15)."""

import os
import re
import time

from conftest import (stop_reading_fd, VERSION, WAIT, peer_of, read_fd_until,
                      requires_peerlogd, slow, tcp_connect, wait_stderr)

pytestmark = requires_peerlogd


def start_record_len(pid):
    """Bytes of the start record of server pid (timestamp is 27 bytes)."""
    return len(f"{'x' * 27} - - start version={VERSION} pid={pid}\n")


def held_line(fifo, n):
    """The 'output failed' line for a FIFO without a reader, n bytes held."""
    return (f"peerlogd: output {fifo}: No such device or address; holding {n} "
            f"bytes of records, retrying every 1s")


def start_fifo_server(start_server, tmp_path):
    """A server with -o FIFO that nobody has opened; returns (server, FIFO).
    Starting it fails (no listening line in time) while start-up blocks."""
    fifo = str(tmp_path / "out.fifo")
    os.mkfifo(fifo)
    return start_server("-t", "127.0.0.1:0", "-o", fifo, output="given"), fifo


def test_output_fifo_without_reader_does_not_block_startup(start_server, tmp_path):
    srv, fifo = start_fifo_server(start_server, tmp_path)
    # Only the start record was made when the output was found unopenable.
    line = held_line(fifo, start_record_len(srv.pid))
    wait_stderr(srv, re.escape(line), "output failed line", timeout=slow(WAIT))
    # Retried every second, said once.
    time.sleep(slow(2.5))
    assert srv.proc.poll() is None, f"server exited: {srv.stderr()!r}"
    err = srv.stderr()
    assert err.endswith("\n"), err
    # (In either order: the behaviour does not say which comes first.)
    assert sorted(err.split("\n")[:-1]) == sorted(
        [f"peerlogd: listening tcp {srv.tcp[0]}", line]), err


def test_output_fifo_without_reader_gets_the_held_records_once_a_reader_opens(
        start_server, tmp_path):
    srv, fifo = start_fifo_server(start_server, tmp_path)
    rfd = None
    c = None
    try:
        wait_stderr(srv, re.escape(held_line(fifo, start_record_len(srv.pid))),
                    "output failed line", timeout=slow(WAIT))
        # Input is paused: the connection waits in the listen queue.
        c = tcp_connect(srv.tcp_addr, timeout=slow(WAIT))
        peer = peer_of(c)
        line = "sent before any reader"
        c.sendall(f"{line}\n".encode())
        rfd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
        out = bytearray()
        read_fd_until(rfd, out, lambda b: f" msg {line}\n".encode() in b,
                      "the held records", timeout=slow(WAIT))
        wait_stderr(srv, re.escape(f"peerlogd: output {fifo}: writing again"),
                    "writing-again line", timeout=slow(WAIT))
        rc, err, recs = stop_reading_fd(srv, rfd, out)
        assert rc == 0, err
        assert recs == [
            f"- - start version={VERSION} pid={srv.pid}",
            f"tcp {peer} connect", f"tcp {peer} msg {line}",
            f"tcp {peer} disconnect reason=shutdown msgs=1 bytes={len(line) + 1}",
            "- - stop signal=SIGTERM"], out
        assert err.endswith("\n"), err
        assert sorted(err.split("\n")[:-1]) == sorted([
            f"peerlogd: listening tcp {srv.tcp[0]}",
            held_line(fifo, start_record_len(srv.pid)),
            f"peerlogd: output {fifo}: writing again"]), err
        assert err.index("writing again") > err.index("No such device"), err
    finally:
        if c is not None:
            c.close()
        if rfd is not None:
            os.close(rfd)
