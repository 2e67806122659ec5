"""logrotate/peerlogd, the /etc/logrotate.d snippet, run by the real
logrotate against a running peerlogd: rotations during a stream of records
lose none and duplicate none, and after each one the new file gets the new
records.

The snippet is used as shipped except for two lines: its path becomes the
test's output file, and its postrotate signals the test's server by pid
(the shipped one asks systemd, which does not run here)."""

import glob
import gzip
import os
import re
import subprocess
import threading

from conftest import (WAIT, peer_of, requires_peerlogd, slow, stop_quiet,
                      tcp_connect)

pytestmark = requires_peerlogd

ROOT = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", ".."))
SNIPPET = os.path.join(ROOT, "logrotate", "peerlogd")
LOG = "/var/log/peerlog/peerlog.log"


def snippet():
    with open(SNIPPET) as f:
        return f.read()


def rewritten(log_path, pid):
    """The snippet for log_path, its postrotate a kill -HUP of pid."""
    text = snippet()
    assert text.count(LOG) == 1
    text = text.replace(LOG, log_path)
    text, n = re.subn(r"(postrotate\n).*?(\n\s*endscript)",
                      rf"\g<1>\t\tkill -HUP {pid}\g<2>", text, flags=re.S)
    assert n == 1
    return text


def test_snippet_renames_and_signals_never_copies():
    text = snippet()
    words = [l.split()[0] for l in text.splitlines()
             if l.strip() and not l.lstrip().startswith("#")]
    assert "create" in words
    assert "copytruncate" not in words
    assert "delaycompress" in words
    assert "systemctl kill --signal=HUP peerlogd.service" in text


def read_rotated(out_path):
    """Every line of the output and its rotations, oldest first."""
    files = sorted(glob.glob(out_path + ".*"),
                   key=lambda p: -int(p[len(out_path) + 1:].split(".")[0]))
    data = b""
    for p in files + [out_path]:
        opener = gzip.open if p.endswith(".gz") else open
        with opener(p, "rb") as f:
            part = f.read()
        assert part.endswith(b"\n"), f"{p} ends inside a record"
        data += part
    return data.decode().splitlines(), files


def test_rotations_during_a_stream_lose_no_record(start_server, tmp_path):
    srv = start_server()
    conf = tmp_path / "logrotate.conf"
    conf.write_text(rewritten(srv.out_path, srv.pid))
    state = tmp_path / "logrotate.state"
    client = tcp_connect(srv.tcp_addr)
    peer = peer_of(client)
    stop = threading.Event()
    sent = []

    def stream():
        # Lines until told to stop (bounded: at most 200,000).
        i = 0
        while not stop.is_set() and i < 200000:
            client.sendall(b"line %06d\n" % i)
            sent.append(i)
            i += 1
            if i % 50 == 0:
                stop.wait(0.001)

    t = threading.Thread(target=stream, daemon=True)
    t.start()
    try:
        for n in range(3):
            # Records reach the file (the one reopened by the last
            # rotation), then logrotate renames it and signals the server.
            srv.wait_for(lambda rs: len(rs) > 100, f"records before rotation {n + 1}",
                         timeout=slow(WAIT))
            p = subprocess.run(["logrotate", "-f", "-s", str(state), str(conf)],
                               capture_output=True, text=True, timeout=60)
            assert p.returncode == 0, p.stderr
            assert p.stderr == ""
    finally:
        stop.set()
        t.join(WAIT)
    client.close()
    srv.wait_event(peer, "disconnect", timeout=slow(WAIT))
    stop_quiet(srv)
    lines, files = read_rotated(srv.out_path)
    # Three rotations: .1 as it was, .2 and .3 compressed a run later.
    assert [os.path.basename(f)[len(os.path.basename(srv.out_path)):]
            for f in files] == [".3.gz", ".2.gz", ".1"]
    msgs = [l.split(" ", 4)[4] for l in lines if f" {peer} msg " in l]
    assert msgs == ["line %06d" % i for i in sent]


def test_new_file_gets_the_records_after_a_rotation(start_server, tmp_path):
    srv = start_server()
    conf = tmp_path / "logrotate.conf"
    conf.write_text(rewritten(srv.out_path, srv.pid))
    with tcp_connect(srv.tcp_addr) as c:
        c.sendall(b"before\n")
    srv.wait_for(lambda rs: any(r[2:] == ("msg", "before") for r in rs), "before")
    p = subprocess.run(["logrotate", "-f", "-s", str(tmp_path / "state"), str(conf)],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    with open(srv.out_path + ".1", "rb") as f:
        assert b" msg before\n" in f.read()
    with tcp_connect(srv.tcp_addr) as c:
        c.sendall(b"after\n")
        peer = peer_of(c)
    recs = srv.wait_event(peer, "disconnect") and srv.records()
    assert [r[2:] for r in recs if r[1] == peer] == [
        ("connect",), ("msg", "after"), ("disconnect", "reason=eof msgs=1 bytes=6")]
    with open(srv.out_path + ".1", "rb") as f:
        assert b" msg after\n" not in f.read()
    assert os.stat(srv.out_path).st_mode & 0o777 == \
        os.stat(srv.out_path + ".1").st_mode & 0o777
    stop_quiet(srv)
