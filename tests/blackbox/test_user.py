"""peerlogd --user NAME: once the sockets are bound and the output is open,
the server runs as NAME with its groups; an unknown user, or a switch a
non-root process cannot make, is exit 2 before anything is bound.

Switching users needs root: the tests that do are skipped when the suite
runs as another user (a missing privilege, not a missing tool)."""

import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest

from conftest import (PEERLOGD, STOP_WAIT, WAIT, group_alive, requires_peerlogd,
                      run_peerlogd, tcp_session, udp_send, wait_stderr)

pytestmark = requires_peerlogd

needs_root = pytest.mark.skipif(os.geteuid() != 0,
                                reason="switching users needs root")

NOBODY = pwd.getpwnam("nobody")


def proc_ids(pid):
    """{'Uid': [...], 'Gid': [...], 'Groups': [...]} of /proc/PID/status."""
    ids = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("Uid", "Gid", "Groups"):
                ids[key] = [int(x) for x in rest.split()]
    return ids


@pytest.fixture
def shared_dir():
    """A directory outside pytest's root-only tmp tree, that nobody can
    enter (0755), with a subdirectory 'nobody' owned by nobody."""
    d = tempfile.mkdtemp(prefix="peerlogd-user-")
    os.chmod(d, 0o755)
    sub = os.path.join(d, "nobody")
    os.mkdir(sub)
    os.chown(sub, NOBODY.pw_uid, NOBODY.pw_gid)
    yield d
    shutil.rmtree(d)


@needs_root
def test_runs_as_nobody_with_its_groups(start_server):
    srv = start_server("-t", "127.0.0.1:0", "--user", "nobody")
    ids = proc_ids(srv.pid)
    uid, gid = NOBODY.pw_uid, NOBODY.pw_gid
    assert ids["Uid"] == [uid] * 4
    assert ids["Gid"] == [gid] * 4
    assert sorted(ids["Groups"]) == sorted(set(os.getgrouplist("nobody", gid)))
    assert 0 not in ids["Groups"]


@needs_root
def test_output_is_still_written_after_the_drop(start_server):
    # The output is in pytest's tmp tree, which nobody cannot even enter:
    # it was opened as root, before the drop.
    srv = start_server("-t", "127.0.0.1:0", "-u", "127.0.0.1:0", "--user", "nobody")
    assert proc_ids(srv.pid)["Uid"][1] == NOBODY.pw_uid
    peer, recs = tcp_session(srv, b"after the drop\n")
    assert ("tcp", peer, "msg", "after the drop") in recs
    upeer = udp_send(srv.udp_addr, b"udp after the drop")
    srv.wait_record(("udp", upeer, "msg", "udp after the drop"))
    rc, recs, err = srv.stop()
    assert rc == 0
    assert recs[-1] == ("-", "-", "stop", "signal=SIGTERM")
    assert os.stat(srv.out_path).st_uid == 0


def free_low_port():
    """A TCP port below 1024 that is free on 127.0.0.1 now."""
    for port in range(1023, 900, -1):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue
    pytest.fail("no free port below 1024 on 127.0.0.1")


@needs_root
def test_port_below_1024_bound_before_the_drop(start_server):
    port = free_low_port()
    srv = start_server("-t", f"127.0.0.1:{port}", "--user", "nobody")
    assert srv.tcp == [f"127.0.0.1:{port}"]
    assert proc_ids(srv.pid)["Uid"] == [NOBODY.pw_uid] * 4
    peer, recs = tcp_session(srv, b"low port\n")
    assert ("tcp", peer, "msg", "low port") in recs


@needs_root
def test_sighup_reopen_runs_as_the_user(start_server, shared_dir):
    out = os.path.join(shared_dir, "nobody", "peers.log")
    srv = start_server("-t", "127.0.0.1:0", "-o", out, "--user", "nobody",
                       output="given", out_path=out)
    peer, _ = tcp_session(srv, b"before\n")
    os.rename(out, out + ".1")
    srv.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + WAIT
    while not os.path.exists(out):
        assert time.monotonic() < deadline, "SIGHUP made no new file"
        time.sleep(0.01)
    peer, recs = tcp_session(srv, b"after\n")
    assert ("tcp", peer, "msg", "after") in recs
    st = os.stat(out)
    assert (st.st_uid, st.st_gid) == (NOBODY.pw_uid, NOBODY.pw_gid), \
        "the new file was created by the user, not by root"
    assert os.stat(out + ".1").st_uid == 0


@needs_root
def test_sighup_reopen_where_the_user_may_not_write_is_retried(start_server,
                                                              shared_dir):
    out = os.path.join(shared_dir, "peers.log")  # a root-owned 0755 directory
    srv = start_server("-t", "127.0.0.1:0", "-o", out, "--user", "nobody",
                       output="given", out_path=out)
    os.rename(out, out + ".1")
    srv.send_signal(signal.SIGHUP)
    wait_stderr(srv, rf"peerlogd: reopen {re.escape(out)}: Permission denied; "
                r"retrying every 1s",
                "the failed reopen")
    srv.out_path = out + ".1"
    peer, recs = tcp_session(srv, b"still logged\n")
    assert ("tcp", peer, "msg", "still logged") in recs


@needs_root
def test_pidfile_the_user_cannot_remove_is_left_and_replaced_next_time(
        start_server, shared_dir):
    pidfile = os.path.join(shared_dir, "peerlogd.pid")  # root's directory
    srv = start_server("-t", "127.0.0.1:0", "--user", "nobody", "--pidfile", pidfile)
    with open(pidfile) as f:
        assert f.read() == f"{srv.pid}\n"
    rc, _, err = srv.stop()
    assert rc == 0
    assert f"peerlogd: --pidfile {pidfile}: not removed: Permission denied" in \
        err.splitlines()
    assert os.path.exists(pidfile)
    again = start_server("-t", "127.0.0.1:0", "--pidfile", pidfile)
    with open(pidfile) as f:
        assert f.read() == f"{again.pid}\n"


@needs_root
def test_pidfile_in_a_directory_of_the_user_is_removed(start_server, shared_dir):
    pidfile = os.path.join(shared_dir, "nobody", "peerlogd.pid")
    srv = start_server("-t", "127.0.0.1:0", "--user", "nobody", "--pidfile", pidfile)
    assert os.path.exists(pidfile)
    rc, _, err = srv.stop()
    assert rc == 0
    assert not os.path.exists(pidfile)
    assert "pidfile" not in err


def test_unknown_user_is_exit_2_before_binding(tmp_path):
    # The port is taken: had peerlogd bound first, the error would be the
    # bind's.
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        out = tmp_path / "out.log"
        rc, _, err, pid = run_peerlogd(["-t", f"127.0.0.1:{port}", "-o", str(out),
                                        "--user", "no-such-user-here"])
    assert rc == 2
    assert err == "peerlogd: --user no-such-user-here: no such user\n"
    assert not group_alive(pid)
    assert not out.exists()


def test_user_from_the_config_file_is_looked_up(tmp_path):
    conf = tmp_path / "peerlogd.conf"
    conf.write_text("tcp 127.0.0.1:0\nuser no-such-user-here\n")
    rc, _, err, _ = run_peerlogd(["-c", str(conf)])
    assert (rc, err) == (2, "peerlogd: --user no-such-user-here: no such user\n")


def run_as_nobody(args):
    """Run peerlogd as nobody (from root) or as ourselves; (rc, stderr)."""
    kwargs = {}
    if os.geteuid() == 0:
        kwargs = {"user": NOBODY.pw_uid, "group": NOBODY.pw_gid, "extra_groups": []}
    proc = subprocess.run([PEERLOGD] + args, stdin=subprocess.DEVNULL,
                          capture_output=True, timeout=STOP_WAIT, cwd="/", **kwargs)
    return proc.returncode, proc.stderr.decode()


def test_not_root_cannot_switch_users():
    rc, err = run_as_nobody(["-t", "127.0.0.1:0", "-o", "-", "--user", "root"])
    uid = NOBODY.pw_uid if os.geteuid() == 0 else os.geteuid()
    assert rc == 2
    assert err == (f"peerlogd: --user root: only root can switch users "
                   f"(running as uid {uid})\n")


@needs_root
def test_not_root_may_name_itself(start_server):
    setpriv = ["setpriv", f"--reuid={NOBODY.pw_uid}", f"--regid={NOBODY.pw_gid}",
               "--clear-groups"]
    srv = start_server("-t", "127.0.0.1:0", "--user", "nobody", output="stdout",
                       wrapper=setpriv)
    assert proc_ids(srv.pid)["Uid"] == [NOBODY.pw_uid] * 4
    peer, recs = tcp_session(srv, b"as myself\n")
    assert ("tcp", peer, "msg", "as myself") in recs
    assert srv.stop()[0] == 0
