"""A sender nobody here wrote: rsyslog's forwarder (omfwd with its OpenSSL
stream driver) sends to peerlogd over mutual TLS with RFC 6587 octet
counting, as syslog over TLS (RFC 5425) does. rsyslog gets its messages from
util-linux logger over a plain TCP input of its own, on loopback.

rsyslog and rsyslog-openssl are installed by the README's test command
(build.sh): the issue asks for a check against a real forwarder."""

import os
import signal
import socket
import subprocess
import uuid

from conftest import WAIT, tls_args

RSYSLOGD = "/usr/sbin/rsyslogd"


def free_tcp_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_rsyslog(tmp_path, pki, client, port, in_port):
    """rsyslogd in the foreground, forwarding what its TCP input on in_port
    gets to 127.0.0.1:port over TLS (the server verified by name), octet
    counted. Returns the process; the caller stops it by its PID."""
    cert, key = client
    work = tmp_path / "rsyslog"
    work.mkdir()
    conf = work / "rsyslog.conf"
    conf.write_text(f"""\
global(workDirectory="{work}"
       DefaultNetstreamDriver="ossl"
       DefaultNetstreamDriverCAFile="{pki.ca_cert}"
       DefaultNetstreamDriverCertFile="{cert}"
       DefaultNetstreamDriverKeyFile="{key}")
module(load="imtcp")
input(type="imtcp" port="{in_port}" address="127.0.0.1")
action(type="omfwd" target="127.0.0.1" port="{port}" protocol="tcp"
       StreamDriver="ossl" StreamDriverMode="1"
       StreamDriverAuthMode="x509/name" StreamDriverPermittedPeers="localhost"
       TCP_Framing="octet-counted")
""")
    proc = subprocess.Popen(
        [RSYSLOGD, "-n", "-f", str(conf), "-i", str(work / "rsyslogd.pid")],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=open(work / "stderr", "wb"))
    # Ready when its input accepts a connection.
    for _ in range(int(WAIT / 0.05)):
        if proc.poll() is not None:
            raise AssertionError(
                f"rsyslogd exited: {(work / 'stderr').read_text()}")
        try:
            socket.create_connection(("127.0.0.1", in_port), 0.5).close()
            return proc
        except OSError:
            subprocess.run(["sleep", "0.05"])
    proc.kill()
    raise AssertionError("rsyslogd's input never listened")


def stop(proc):
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(WAIT)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()


def test_rsyslog_forwards_over_mutual_tls_with_octet_counting(
        start_server, pki, tmp_path):
    client = pki.client("rsyslog-fwd", dns=["fwd.example"])
    srv = start_server(*tls_args(pki, "--framing", "octet", "--client-name",
                                 "fwd.example", client_ca=True))
    host, port = srv.tls_addr
    in_port = free_tcp_port()
    tag = uuid.uuid4().hex[:8]
    texts = [f"{tag} first message", f"{tag} second, with  two spaces",
             f"{tag} caf\u00e9 \u2014 UTF-8"]
    rs = start_rsyslog(tmp_path, pki, client, port, in_port)
    try:
        for t in texts:
            subprocess.run(["logger", "--tcp", "--server", "127.0.0.1",
                            "--port", str(in_port), "-t", "fwdtest", t],
                           check=True, timeout=WAIT,
                           stdin=subprocess.DEVNULL, capture_output=True)
        recs = srv.wait_for(
            lambda rs: sum(1 for r in rs if r[2] == "msg" and tag in r[3])
            == len(texts), "the forwarded messages")
    finally:
        stop(rs)
    mine = [r for r in recs if r[2] in ("connect", "msg")]
    connect = [r for r in mine if r[2] == "connect"]
    assert len(connect) == 1, recs
    fp = pki.fingerprint(client[0])
    assert connect[0][3].startswith("tls=TLSv1."), connect
    assert connect[0][3].endswith(f" cn=fwd.example fp={fp}"), connect
    peer = connect[0][1]
    msgs = [r for r in mine if r[2] == "msg"]
    assert all(r[1] == peer for r in msgs), msgs
    # Each message whole, in order, one record each (rsyslog adds its own
    # syslog header before the text logger gave it).
    assert [m[3][m[3].index(tag):] for m in msgs] == texts
    assert all(" fwdtest" in m[3] for m in msgs), msgs
    # Stopping rsyslog closed its connection: a disconnect, no framing error.
    disc = srv.wait_event(peer, "disconnect")
    assert disc[3].startswith("reason=eof msgs=3 "), disc
