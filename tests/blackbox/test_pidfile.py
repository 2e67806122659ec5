"""peerlogd --pidfile PATH: the pid and a LF once ready, removed at exit;
a stale one replaced, a live peerlogd's refused (exit 2) before binding."""

import os
import signal
import socket
import subprocess

import pytest

from conftest import (WAIT, group_alive, peer_of, requires_peerlogd, run_peerlogd,
                      slow, tcp_connect, tcp_session, wait_stderr)

pytestmark = requires_peerlogd


def read(path):
    with open(path) as f:
        return f.read()


def test_pidfile_holds_the_pid_while_running(start_server, tmp_path):
    pidfile = str(tmp_path / "peerlogd.pid")
    srv = start_server("-t", "127.0.0.1:0", "--pidfile", pidfile)
    assert read(pidfile) == f"{srv.pid}\n"
    assert os.stat(pidfile).st_mode & 0o777 == 0o644


def test_pidfile_is_removed_at_sigterm_exit(start_server, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    pidfile = str(run / "peerlogd.pid")
    srv = start_server("-t", "127.0.0.1:0", "--pidfile", pidfile)
    assert os.path.exists(pidfile)
    rc, recs, err = srv.stop()
    assert rc == 0
    assert recs[-1] == ("-", "-", "stop", "signal=SIGTERM")
    assert not os.path.exists(pidfile)
    assert os.listdir(run) == [], "no temporary file left beside it"


def test_pidfile_is_removed_when_the_output_fails(start_server, tmp_path):
    pidfile = str(tmp_path / "peerlogd.pid")
    srv = start_server("-t", "127.0.0.1:0", "--pidfile", pidfile, output="rawpipe")
    assert read(pidfile) == f"{srv.pid}\n"
    srv.close_stdout_reader()
    with tcp_connect(srv.tcp_addr) as c:
        c.sendall(b"into a closed pipe\n")
        assert srv.wait_exit(slow(10)) == 1
    assert not os.path.exists(pidfile)


def test_pidfile_of_a_dead_process_is_replaced(start_server, tmp_path):
    pidfile = str(tmp_path / "peerlogd.pid")
    dead = subprocess.Popen(["true"])
    dead.wait(WAIT)
    with open(pidfile, "w") as f:
        f.write(f"{dead.pid}\n")
    srv = start_server("-t", "127.0.0.1:0", "--pidfile", pidfile)
    assert read(pidfile) == f"{srv.pid}\n"
    assert "peerlogd: listening tcp" in srv.stderr()


def test_pidfile_of_another_program_is_replaced(start_server, tmp_path):
    pidfile = str(tmp_path / "peerlogd.pid")
    other = subprocess.Popen(["sleep", "60"])
    try:
        with open(pidfile, "w") as f:
            f.write(f"{other.pid}\n")
        srv = start_server("-t", "127.0.0.1:0", "--pidfile", pidfile)
        assert read(pidfile) == f"{srv.pid}\n"
        assert other.poll() is None, "the other program is left alone"
    finally:
        other.kill()
        other.wait(WAIT)


def test_empty_pidfile_is_replaced(start_server, tmp_path):
    pidfile = tmp_path / "peerlogd.pid"
    pidfile.write_text("")
    srv = start_server("-t", "127.0.0.1:0", "--pidfile", str(pidfile))
    assert pidfile.read_text() == f"{srv.pid}\n"


def test_live_peerlogd_pidfile_is_refused(start_server, tmp_path):
    pidfile = str(tmp_path / "peerlogd.pid")
    first = start_server("-t", "127.0.0.1:0", "--pidfile", pidfile)
    # A fixed port the second would bind if it got that far: free, so a
    # bind would succeed and show as a listening line.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    rc, out, err, pid = run_peerlogd(["-t", f"127.0.0.1:{port}", "--pidfile", pidfile,
                                      "-o", str(tmp_path / "second.log")])
    assert rc == 2
    assert err == (f"peerlogd: --pidfile {pidfile}: peerlogd is already running "
                   f"as pid {first.pid}\n")
    assert not group_alive(pid)
    assert not (tmp_path / "second.log").exists()
    assert read(pidfile) == f"{first.pid}\n"
    peer, recs = tcp_session(first, b"still here\n")
    assert ("tcp", peer, "msg", "still here") in recs
    assert first.stop()[0] == 0


def test_file_that_is_not_a_pidfile_is_refused_and_kept(tmp_path):
    pidfile = tmp_path / "precious"
    pidfile.write_text("not a pid\n")
    rc, _, err, pid = run_peerlogd(["-t", "127.0.0.1:0", "--pidfile", str(pidfile)])
    assert rc == 2
    assert err == f"peerlogd: --pidfile {pidfile}: not a pid file (left as it is)\n"
    assert pidfile.read_text() == "not a pid\n"


def test_pidfile_in_a_missing_directory_fails_before_binding(tmp_path):
    pidfile = tmp_path / "none" / "peerlogd.pid"
    out = tmp_path / "out.log"
    rc, _, err, pid = run_peerlogd(["-t", "127.0.0.1:0", "--pidfile", str(pidfile),
                                    "-o", str(out)])
    assert rc == 2
    assert err == f"peerlogd: --pidfile {pidfile}: No such file or directory\n"
    assert not out.exists()


def test_pidfile_from_the_config_file(start_server, tmp_path):
    pidfile = str(tmp_path / "peerlogd.pid")
    conf = tmp_path / "peerlogd.conf"
    conf.write_text(f"tcp 127.0.0.1:0\npidfile {pidfile}\n")
    srv = start_server("-c", str(conf), listen=1)
    assert read(pidfile) == f"{srv.pid}\n"
    srv.stop()
    assert not os.path.exists(pidfile)
