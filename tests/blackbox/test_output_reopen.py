"""SIGHUP's reopen never blocks the loop, and one that fails is retried every
second until it works, said once each way (behaviours O3; issue 9 defects 2
and 14)."""

import os
import re
import signal
import time

from conftest import (stop_reading_fd, STOP_WAIT, WAIT, peer_of, read_fd_until, requires_peerlogd,
                      slow, tcp_connect, wait_stderr)

pytestmark = requires_peerlogd


def fail_line(path, reason):
    """The line a failed reopen of path prints once."""
    return f"peerlogd: reopen {path}: {reason}; retrying every 1s"


def file_has(path, needle):
    """Whether the file at path holds the bytes needle."""
    with open(path, "rb") as f:
        return needle in f.read()


def rotate_to_fifo(srv):
    """mv the output file away and put a FIFO nobody reads in its place;
    the server then reads back from the moved file. Returns the path."""
    path = srv.out_path
    os.rename(path, path + ".1")
    srv.out_path = path + ".1"
    os.mkfifo(path)
    return path


def test_output_sighup_to_a_fifo_without_reader_does_not_block_the_loop(start_server):
    srv = start_server("-t", "127.0.0.1:0")
    with tcp_connect(srv.tcp_addr, timeout=slow(WAIT)) as c:
        peer = peer_of(c)
        c.sendall(b"before\n")
        srv.wait_record(("tcp", peer, "msg", "before"))
        path = rotate_to_fifo(srv)
        srv.send_signal(signal.SIGHUP)
        # The loop goes on: input is read and logged to the old file.
        c.sendall(b"while the fifo has no reader\n")
        srv.wait_record(("tcp", peer, "msg", "while the fifo has no reader"),
                        timeout=slow(WAIT))
        wait_stderr(srv, re.escape(fail_line(path, "No such device or address")),
                    "reopen failure line", timeout=slow(WAIT))
        # SIGTERM is answered while the reopen is pending.
        rc, recs, err = srv.stop(timeout=slow(STOP_WAIT))
    assert rc == 0, err
    assert recs[-3:] == [
        ("tcp", peer, "msg", "while the fifo has no reader"),
        ("tcp", peer, "disconnect", "reason=shutdown msgs=2 bytes=36"),
        ("-", "-", "stop", "signal=SIGTERM")], recs
    assert err.count(fail_line(path, "No such device or address")) == 1, err


def test_output_reopen_of_a_fifo_goes_to_it_once_a_reader_opens(start_server):
    srv = start_server("-t", "127.0.0.1:0")
    rfd = None
    try:
        with tcp_connect(srv.tcp_addr, timeout=slow(WAIT)) as c:
            peer = peer_of(c)
            c.sendall(b"before\n")
            srv.wait_record(("tcp", peer, "msg", "before"))
            path = rotate_to_fifo(srv)
            srv.send_signal(signal.SIGHUP)
            wait_stderr(srv, re.escape(fail_line(path, "No such device or address")),
                        "reopen failure line", timeout=slow(WAIT))
            rfd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
            wait_stderr(srv, re.escape(f"peerlogd: output {path}: reopened"),
                        "reopened line", timeout=slow(WAIT))
            c.sendall(b"to the fifo\n")
            out = bytearray()
            read_fd_until(rfd, out, lambda b: b" msg to the fifo\n" in b,
                          "the record in the FIFO", timeout=slow(WAIT))
        read_fd_until(rfd, out, lambda b: b" disconnect reason=eof " in b,
                      "the disconnect", timeout=slow(WAIT))
        rc, err, recs = stop_reading_fd(srv, rfd, out)
        assert rc == 0, err
        assert recs == [
            f"tcp {peer} msg to the fifo",
            f"tcp {peer} disconnect reason=eof msgs=2 bytes=19",
            "- - stop signal=SIGTERM"], out
        assert not file_has(srv.out_path, b"to the fifo")
        assert err.count(fail_line(path, "No such device or address")) == 1, err
        assert err.count(f"peerlogd: output {path}: reopened\n") == 1, err
    finally:
        if rfd is not None:
            os.close(rfd)


def wait_file_gets(srv, c, path, word, what):
    """Send lines 'word K' over c, one every 0.2 s, until one is logged in
    the file at path; return the lines sent."""
    sent = []
    deadline = time.monotonic() + slow(WAIT)
    while not (os.path.exists(path) and file_has(path, f" msg {word} ".encode())):
        assert time.monotonic() < deadline, \
            f"{what}: not in {path}; old file {srv.out_path} holds " \
            f"{open(srv.out_path, 'rb').read()[-300:]!r}; stderr={srv.stderr()!r}"
        assert srv.proc.poll() is None, f"server exited: {srv.stderr()!r}"
        sent.append(f"{word} {len(sent)}")
        c.sendall(f"{sent[-1]}\n".encode())
        time.sleep(0.2)
    return sent


def test_output_failed_reopen_is_retried_every_second_and_said_once_each_way(
        start_server, tmp_path):
    d = tmp_path / "logs"
    d.mkdir()
    path = str(d / "out.log")
    srv = start_server("-t", "127.0.0.1:0", "-o", path, output="given", out_path=path)
    gone = fail_line(path, "No such file or directory")
    with tcp_connect(srv.tcp_addr, timeout=slow(WAIT)) as c:
        peer = peer_of(c)
        c.sendall(b"before\n")
        srv.wait_record(("tcp", peer, "msg", "before"))
        # The directory goes away: the reopen cannot create the file.
        os.rename(d, str(d) + ".old")
        old = str(d) + ".old/out.log"
        srv.out_path = old
        srv.send_signal(signal.SIGHUP)
        wait_stderr(srv, re.escape(f"peerlogd: reopen {path}: ") + ".*",
                    "reopen failure line", timeout=slow(WAIT))
        # Records keep going to the old file meanwhile.
        c.sendall(b"while gone 1\n")
        srv.wait_record(("tcp", peer, "msg", "while gone 1"), timeout=slow(WAIT))
        # Another SIGHUP and a few retries with the same error.
        srv.send_signal(signal.SIGHUP)
        time.sleep(slow(2.5))
        c.sendall(b"while gone 2\n")
        srv.wait_record(("tcp", peer, "msg", "while gone 2"), timeout=slow(WAIT))
        # The directory is back: a retry (about 1 s) opens the file, with
        # no further SIGHUP.
        d.mkdir()
        sent = wait_file_gets(srv, c, path, "after", "a record sent after the retry")
    old_recs = srv.records()
    srv.out_path = path
    rc, recs, err = srv.stop(timeout=slow(STOP_WAIT))
    assert rc == 0, err
    assert recs[-1] == ("-", "-", "stop", "signal=SIGTERM")
    # Each record in one file, in order: the old file until the reopen.
    msgs = [r[3] for r in old_recs + recs if r[2] == "msg"]
    assert msgs == ["before", "while gone 1", "while gone 2"] + sent, msgs
    assert ("tcp", peer, "msg", "while gone 2") in old_recs
    assert [l for l in err.split("\n") if " reopen" in l] == [
        gone, f"peerlogd: output {path}: reopened"], err
