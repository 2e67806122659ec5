"""examples/scale-demo/run.py, run small with the built peerlogd: a real
redis-server, three peerlogd instances behind a real HAProxy
(send-proxy-v2, health checks), load from many clients through HAProxy,
the stream read with XREADGROUP. The demo checks the stream itself and
exits 0 only when every check holds; these tests assert its exit status
and the numbers of its summary, so a failed check fails them, and that
the demo's checks do fail when the instances log the wrong peers, and
that an interrupted demo leaves nothing running.

Every demo runs in its own session, bounded in time, and is killed (its
process group, and the PIDs it named) if it overstays.
"""

import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import time

import pytest

from conftest import PEERLOGD, WAIT, requires_peerlogd, slow

pytestmark = [
    requires_peerlogd,
    pytest.mark.skipif(shutil.which("haproxy") is None,
                       reason="haproxy is not installed (build.sh test installs it)"),
    pytest.mark.skipif(shutil.which("redis-server") is None,
                       reason="redis-server is not installed (build.sh test installs it)"),
]

DEMO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                    "examples", "scale-demo", "run.py")
PID_RE = re.compile(r"scale-demo: (\S+): .*\(pid (\d+)\)|"
                    r"scale-demo: (redis-server|haproxy) on .*\(pid (\d+)")


def alive(pid):
    """Whether pid is still a process (not a zombie)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def named_pids(stderr):
    """The PIDs the demo said it started, by name."""
    out = {}
    for m in PID_RE.finditer(stderr):
        name, pid = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
        out[name] = int(pid)
    return out


def kill_leftovers(proc, stderr):
    """Teardown: kill the demo's group and whatever it named, if left."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(WAIT)
    for pid in named_pids(stderr).values():
        if alive(pid):
            os.kill(pid, signal.SIGKILL)


def run_demo(tmp_path, *args, peerlogd=PEERLOGD, timeout=None):
    """Run the demo to its end; return (exit status, stdout, stderr)."""
    timeout = timeout or slow(120)
    argv = [sys.executable, DEMO, "--peerlogd", peerlogd,
            "--dir", str(tmp_path / "demo"), "--timeout", str(slow(60))] + list(args)
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        kill_leftovers(proc, err.decode("utf-8", "replace"))
        raise AssertionError(f"the demo did not end within {timeout} s: "
                             f"{out.decode()!r} {err.decode()!r}")
    return proc.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")


def summary(out):
    """The summary's 'name: value' lines as a dict."""
    return dict(l.split(": ", 1) for l in out.split("\n") if ": " in l)


def first_number(text):
    return int(re.match(r"\d+", text).group(0))


def test_every_message_once_with_its_clients_address_through_three_instances(tmp_path):
    rc, out, err = run_demo(tmp_path, "--clients", "20", "--messages", "50")
    assert rc == 0, f"demo failed:\n{out}\n{err}"
    s = summary(out)
    assert s["result"] == "ok"
    assert first_number(s["messages sent"]) == 1000
    assert s["messages in stream"] == "1000"
    assert s["duplicates"] == "0"
    assert s["missing"] == "0"
    assert s["wrong peer"] == "0"
    assert s["wrong via"] == "0"
    m = re.fullmatch(r"p1=(\d+) p2=(\d+) p3=(\d+) \(clients (\d+) (\d+) (\d+)\)",
                     s["per instance"])
    assert m, s["per instance"]
    msgs, clients = list(map(int, m.groups()[:3])), list(map(int, m.groups()[3:]))
    assert sum(msgs) == 1000 and min(msgs) > 0
    assert sum(clients) == 20 and all(n * 50 == k for n, k in zip(clients, msgs))
    entries = first_number(s["stream entries"])
    # 1000 messages, a connect and a disconnect a client, 3 start, 3 stop,
    # and the health checks' connect and disconnect records.
    assert entries >= 1000 + 40 + 6
    assert first_number(s["read by group"]) == entries
    assert "0 pending" in s["read by group"]
    seq = re.fullmatch(r"(\d+) \+ (\d+) \+ (\d+) = (\d+) \(stream length (\d+)\)",
                       s["sequence keys"])
    assert seq and int(seq.group(4)) == int(seq.group(5)) == entries
    assert s["peerlogd exit"] == "p1=0 p2=0 p3=0"
    assert "FAILED" not in out


def test_demo_fails_when_the_instances_log_haproxys_address(tmp_path):
    """A peerlogd run without --proxy (a wrapper drops it): HAProxy's header
    becomes data and every record names HAProxy's connection, so the demo's
    checks must fail it."""
    wrapper = tmp_path / "peerlogd-no-proxy"
    wrapper.write_text(
        "#!/bin/sh\n"
        "skip=\n"
        "for a; do\n"
        "  shift\n"
        "  if [ -n \"$skip\" ]; then skip=; continue; fi\n"
        "  if [ \"$a\" = --proxy ]; then skip=1; continue; fi\n"
        "  set -- \"$@\" \"$a\"\n"
        "done\n"
        f"exec '{PEERLOGD}' \"$@\"\n")
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    rc, out, err = run_demo(tmp_path, "--clients", "6", "--messages", "5",
                            peerlogd=str(wrapper))
    assert rc == 1, f"demo passed without --proxy:\n{out}\n{err}"
    s = summary(out)
    assert s["result"] == "FAILED"
    assert first_number(s["wrong peer"]) > 0
    assert re.search(r"^FAILED: \d+ messages with another peer", out, re.M)


def test_interrupted_demo_stops_everything_it_started(tmp_path):
    """Ctrl-C (SIGINT) while the load goes: exit 1, and redis-server, the
    three instances and haproxy are gone."""
    argv = [sys.executable, DEMO, "--peerlogd", PEERLOGD, "--dir",
            str(tmp_path / "demo"), "--clients", "20", "--messages", "100000"]
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)
    err = ""
    try:
        fd = proc.stderr.fileno()
        os.set_blocking(fd, False)
        deadline = time.monotonic() + slow(30)
        while "scale-demo: sending" not in err:
            assert proc.poll() is None, f"demo ended early: {err!r}"
            assert time.monotonic() < deadline, f"the demo did not start sending: {err!r}"
            try:
                chunk = os.read(fd, 65536)
            except BlockingIOError:
                chunk = b""
            err += chunk.decode("utf-8", "replace")
            time.sleep(0.05)
        pids = named_pids(err)
        assert set(pids) == {"redis-server", "p1", "p2", "p3", "haproxy"}, err
        assert all(alive(p) for p in pids.values())
        proc.send_signal(signal.SIGINT)
        os.set_blocking(fd, True)
        out, rest = proc.communicate(timeout=slow(60))
        err += rest.decode("utf-8", "replace")
        assert proc.returncode == 1, (out, err)
        assert "interrupted" in err
        assert [n for n, p in pids.items() if alive(p)] == []
    finally:
        kill_leftovers(proc, err)
