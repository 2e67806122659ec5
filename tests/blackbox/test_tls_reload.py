"""SIGHUP reloads the TLS certificate, key and client CA: new connections
get the new ones, open connections keep working, and a reload that fails
keeps the old ones and says why in one line on standard error.

Assumptions where the SPEC is silent (see the report):
- the line of a failed reload starts with "peerlogd: " and names the file
  that failed (its path);
- a successful reload writes nothing on standard error or in the records.
"""

import os
import shutil
import signal
import subprocess
import time

import pytest

from conftest import (WAIT, peer_of, requires_peerlogd, tls_connect)
from tlshelp import (close_notify, der_fingerprint, refused_attempt, tls_session,
                     wait_disconnect)

pytestmark = requires_peerlogd


class Files:
    """The server's certificate, key and CA as copies the test may replace."""

    def __init__(self, d, pki):
        self.d = d
        self.cert = str(d / "server.pem")
        self.key = str(d / "server.key")
        self.ca = str(d / "client-ca.pem")
        shutil.copyfile(pki.server_cert, self.cert)
        shutil.copyfile(pki.server_key, self.key)
        shutil.copyfile(pki.ca_cert, self.ca)

    def put(self, path, src=None, data=None):
        """Replace path by the file src or by data (bytes), atomically."""
        tmp = path + ".new"
        if src is not None:
            shutil.copyfile(src, tmp)
        else:
            with open(tmp, "wb") as f:
                f.write(data)
        os.replace(tmp, path)

    def args(self, *more, client_ca=False):
        a = ["-T", "127.0.0.1:0", "--cert", self.cert, "--key", self.key]
        if client_ca:
            a += ["--client-ca", self.ca]
        return a + list(more)


@pytest.fixture
def files(tmp_path, pki):
    d = tmp_path / "tlsfiles"
    d.mkdir()
    return Files(d, pki)


def server_fp(srv, pki):
    """The fingerprint of the certificate a new connection gets."""
    with tls_connect(srv.tls_addr, pki) as s:
        fp = der_fingerprint(s)
        close_notify(s)
    return fp


def wait_server_fp(srv, pki, fp, what):
    """Connect again and again (bounded) until the server presents fp."""
    deadline = time.monotonic() + WAIT
    while True:
        got = server_fp(srv, pki)
        if got == fp:
            return
        assert time.monotonic() < deadline, f"the server never presented {what}"
        time.sleep(0.05)


def stderr_lines(srv):
    return [l for l in srv.stderr().split("\n")[:-1] if " listening " not in l]


def wait_new_stderr_line(srv, before, what):
    """Wait for a line on stderr after the first `before` ones (listening
    lines left out); return the new lines."""
    deadline = time.monotonic() + WAIT
    while len(stderr_lines(srv)) <= before:
        assert srv.proc.poll() is None, f"server exited: {srv.stderr()!r}"
        assert time.monotonic() < deadline, f"no line on stderr for {what}: {srv.stderr()!r}"
        time.sleep(0.02)
    return stderr_lines(srv)[before:]


def test_sighup_new_certificate_for_new_connections_open_one_untouched(
        start_server, pki, files):
    srv = start_server(*files.args())
    old_fp = pki.fingerprint(pki.server_cert)
    new_cert, new_key = pki.new_server_cert("rotated-1")
    new_fp = pki.fingerprint(new_cert)
    assert old_fp != new_fp
    opened = tls_connect(srv.tls_addr, pki)
    try:
        assert der_fingerprint(opened) == old_fp
        op = peer_of(opened)
        opened.sendall(b"before the reload\n")
        srv.wait_record(("tls", op, "msg", "before the reload"))
        files.put(files.key, new_key)
        files.put(files.cert, new_cert)
        srv.send_signal(signal.SIGHUP)
        wait_server_fp(srv, pki, new_fp, "the new certificate")
        # The open connection keeps its session.
        opened.sendall(b"after the reload\n")
        srv.wait_record(("tls", op, "msg", "after the reload"))
        close_notify(opened)
        recs = wait_disconnect(srv, op)
        assert recs[1:] == [("tls", op, "msg", "before the reload"),
                            ("tls", op, "msg", "after the reload"),
                            ("tls", op, "disconnect", "reason=eof msgs=2 bytes=35")]
    finally:
        opened.close()
    peer, recs, detail = tls_session(srv, pki, b"new session\n")
    assert recs[1] == ("tls", peer, "msg", "new session")
    assert stderr_lines(srv) == []


@pytest.mark.parametrize("broken", ["garbage-key", "missing-key", "garbage-cert",
                                    "key-of-another-cert", "empty-cert", "encrypted-key"])
def test_failed_reload_keeps_the_old_files_and_says_why_once(
        start_server, pki, files, broken):
    srv = start_server(*files.args())
    old_fp = pki.fingerprint(pki.server_cert)
    other_cert, other_key = pki.new_server_cert("rotated-2")
    named = files.key
    if broken == "garbage-key":
        files.put(files.key, data=b"-----BEGIN PRIVATE KEY-----\nnot a key\n"
                                  b"-----END PRIVATE KEY-----\n")
    elif broken == "missing-key":
        os.unlink(files.key)
    elif broken == "garbage-cert":
        files.put(files.cert, data=b"this is no certificate\n")
        named = files.cert
    elif broken == "empty-cert":
        files.put(files.cert, data=b"")
        named = files.cert
    elif broken == "encrypted-key":
        # A passphrase is never asked for (a daemon has no one to ask).
        enc = files.key + ".enc"
        subprocess.run(["openssl", "pkey", "-in", files.key, "-aes256", "-passout",
                        "pass:secret", "-out", enc], check=True, capture_output=True)
        files.put(files.key, enc)
    else:
        # A new certificate with the old key: they do not match.
        files.put(files.cert, other_cert)
        named = None
    srv.send_signal(signal.SIGHUP)
    lines = wait_new_stderr_line(srv, 0, "the failed reload")
    # Still serving, with the old certificate.
    assert server_fp(srv, pki) == old_fp
    peer, recs, detail = tls_session(srv, pki, b"still served\n")
    assert recs[1] == ("tls", peer, "msg", "still served")
    lines = stderr_lines(srv)
    assert len(lines) == 1, lines
    assert lines[0].startswith("peerlogd: ")
    if named:
        assert named in lines[0], lines
    else:
        assert files.cert in lines[0] or files.key in lines[0], lines
    assert srv.proc.poll() is None


def test_failed_reload_then_a_good_one(start_server, pki, files):
    srv = start_server(*files.args())
    files.put(files.key, data=b"broken\n")
    srv.send_signal(signal.SIGHUP)
    wait_new_stderr_line(srv, 0, "the failed reload")
    new_cert, new_key = pki.new_server_cert("rotated-3")
    files.put(files.key, new_key)
    files.put(files.cert, new_cert)
    srv.send_signal(signal.SIGHUP)
    wait_server_fp(srv, pki, pki.fingerprint(new_cert), "the new certificate")
    assert len(stderr_lines(srv)) == 1


def test_sighup_reloads_the_client_ca(start_server, pki, files):
    srv = start_server(*files.args(client_ca=True))
    ours = pki.client("reload-ours", dns=["ours.example"])
    theirs = pki.other_ca.client("reload-theirs", dns=["theirs.example"])
    peer, recs, detail = tls_session(srv, pki, b"ours before\n", *ours)
    assert recs[1] == ("tls", peer, "msg", "ours before")
    files.put(files.ca, pki.other_ca.ca_cert)
    srv.send_signal(signal.SIGHUP)
    # Wait until a client of the other CA is served (bounded).
    deadline = time.monotonic() + WAIT
    while True:
        # (At most four tries a second: refusals stay under the rate limit
        # of reject records.)
        p, _ = refused_attempt(srv.tls_addr, pki, *theirs, data=b"theirs after\n")
        recs = srv.wait_for(lambda rs: any(r[1] == p and r[2] in ("disconnect", "reject")
                                           for r in rs), f"the end of {p}")
        if any(r[1] == p and r[2] == "msg" for r in recs):
            break
        assert time.monotonic() < deadline, "the new client CA was never used"
        time.sleep(0.25)
    assert srv.of(p)[0][3].endswith(f" cn=theirs.example fp={pki.fingerprint(theirs[0])}")
    # Our CA's clients are now refused.
    rp, _ = refused_attempt(srv.tls_addr, pki, *ours)
    rec = srv.wait_event(rp, "reject")
    assert rec[3].startswith("reason=tls error=")


def test_failed_ca_reload_keeps_the_old_ca(start_server, pki, files):
    srv = start_server(*files.args(client_ca=True))
    ours = pki.client("reload-ours", dns=["ours.example"])
    files.put(files.ca, data=b"not a CA file\n")
    srv.send_signal(signal.SIGHUP)
    lines = wait_new_stderr_line(srv, 0, "the failed CA reload")
    assert files.ca in lines[0], lines
    peer, recs, detail = tls_session(srv, pki, b"ours still\n", *ours)
    assert recs[1] == ("tls", peer, "msg", "ours still")
    assert len(stderr_lines(srv)) == 1


def test_sighup_still_reopens_the_output(start_server, pki, files):
    srv = start_server(*files.args())
    peer, recs, _ = tls_session(srv, pki, b"into the old file\n")
    rotated = srv.out_path + ".1"
    os.rename(srv.out_path, rotated)
    srv.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + WAIT
    while not os.path.exists(srv.out_path):
        assert time.monotonic() < deadline, "the output was not reopened"
        time.sleep(0.02)
    peer2, recs2, _ = tls_session(srv, pki, b"into the new file\n")
    assert recs2[1] == ("tls", peer2, "msg", "into the new file")
    with open(rotated, "rb") as f:
        assert b"into the old file" in f.read()
