"""Black-box tests of peerlog --tls.

The servers here are Python's ssl module in a thread (so a test can assert
the exact bytes received, whether the client's close_notify came, the SNI
name and the client certificate) and `openssl s_server`. The certificates
come from the session's throwaway PKI (conftest's pki fixture). Everything
runs on 127.0.0.1 or ::1, every wait is bounded, and every process started
here is killed at the end of its test.
"""

import datetime
import os
import re
import select
import signal
import socket
import ssl
import subprocess
import threading
import time

import pytest

from conftest import tls_args as server_tls_args
from test_client import (PEERLOG, WAIT, Terminal, TcpServer, built_with_asan,
                         have_ipv6, procs, recv_until_eof, run_client,
                         vm_hwm_kib)

pytestmark = pytest.mark.skipif(
    not PEERLOG, reason="PEERLOG (path of the client binary) is not set")

TLS_LINE_RE = re.compile(r"peerlog: tls (\S+):(\d+) -> (\S+):(\d+)")

__all__ = ["procs"]  # the fixture, imported for the tests below


def tls_line(stderr):
    """(local host, local port, remote host, remote port) of the client's
    first line, which must be 'peerlog: tls LOCAL -> REMOTE'."""
    lines = stderr.decode().splitlines()
    assert lines, "no start line"
    m = TLS_LINE_RE.fullmatch(lines[0])
    assert m, f"not a tls start line: {lines[0]!r}"
    return m.group(1), int(m.group(2)), m.group(3), int(m.group(4))


def server_context(cert, key, *, client_ca=None, minimum=None, maximum=None):
    """A server ssl.SSLContext with cert/key; client_ca makes a client
    certificate mandatory and verified against it."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    # Python sets this by default: a TCP close without close_notify would
    # read as a clean end. Cleared, it raises (with no ragged EOFs below).
    ctx.options &= ~ssl.OP_IGNORE_UNEXPECTED_EOF
    ctx.load_cert_chain(cert, key)
    if client_ca is not None:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(cafile=client_ca)
    if minimum is not None:
        ctx.minimum_version = minimum
    if maximum is not None:
        ctx.maximum_version = maximum
    return ctx


class TlsServer(TcpServer):
    """A one-connection TLS server in a thread. handler(conn, self) runs
    once the handshake is done; a handshake that fails is kept in
    self.handshake_error and the handler never runs (self.data stays None).
    A TCP close without close_notify raises in conn.recv (no ragged EOFs).
    Also kept: the SNI names the client sent, the TLS version, the client's
    certificate (getpeercert())."""

    def __init__(self, handler, ctx, host="127.0.0.1", port=0):
        self.ctx = ctx
        self.handshake_error = None
        self.sni = []
        self.version = None
        self.client_cert = None
        ctx.sni_callback = lambda sslobj, name, c: self.sni.append(name)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        # A fixed port may still have a connection in TIME_WAIT from a run
        # before.
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self.sock.bind((host, port))
        except OSError:
            self.sock.close()
            raise
        self.sock.listen(1)
        self.sock.settimeout(WAIT)
        self.port = self.sock.getsockname()[1]
        self.handler = handler
        self.peer = None
        self.data = None
        self.error = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        try:
            conn, self.peer = self.sock.accept()
            conn.settimeout(WAIT)
            try:
                tls = self.ctx.wrap_socket(conn, server_side=True,
                                           suppress_ragged_eofs=False)
            except (ssl.SSLError, OSError) as e:
                self.handshake_error = e
                conn.close()
                return
            with tls:
                self.version = tls.version()
                self.client_cert = tls.getpeercert()
                self.handler(tls, self)
        except Exception as e:  # reported by join()
            self.error = e


@pytest.fixture
def tls_server(pki):
    """Start a TlsServer: tls_server(handler, cert=, key=, host=, **ctx)
    with the PKI's server certificate by default; closed at teardown."""
    made = []

    def start(handler, cert=None, key=None, host="127.0.0.1", **kw):
        ctx = server_context(cert or pki.server_cert, key or pki.server_key,
                             **kw)
        srv = TlsServer(handler, ctx, host)
        made.append(srv)
        return srv

    yield start
    for srv in made:
        srv.close()


def read_all_then(reply=b"", close_notify=True):
    """A handler that reads until the client's close_notify (a TCP close
    without it fails the test), keeps the bytes in srv.data, sends reply,
    and closes with its own close_notify, or without one."""

    def handler(conn, srv):
        srv.data = recv_until_eof(conn)
        if reply:
            conn.sendall(reply)
        if close_notify:
            conn.unwrap()

    return handler


def tls_args(pki, port, host="127.0.0.1", *more):
    """peerlog's arguments: --tls --ca (the PKI's CA) ... HOST PORT."""
    return ["--tls", "--ca", pki.ca_cert, *more, host, str(port)]


# --- sending, half-close and the server's close -----------------------------

def test_start_line_names_tls_and_both_addresses(tls_server, pki):
    srv = tls_server(read_all_then())
    r = run_client(tls_args(pki, srv.port), b"hi\n")
    srv.join()
    assert r.returncode == 0, r.stderr
    assert tls_line(r.stderr) == ("127.0.0.1", srv.peer[1],
                                  "127.0.0.1", srv.port)
    assert r.stderr.decode().splitlines()[1:] == []
    assert srv.data == b"hi\n"
    assert srv.version == "TLSv1.3"


def test_piped_lines_arrive_exactly_over_tls(tls_server, pki):
    data = (b"hello world\n  two  spaces  \n\ttab and \xc3\xa9\n\nexit\n"
            + b"".join(b"line %05d %s\n" % (i, b"x" * (i % 300))
                       for i in range(20000))
            + b"\x00\xff binary, no newline at the end")
    srv = tls_server(read_all_then())
    r = run_client(tls_args(pki, srv.port), data)
    srv.join()
    assert r.returncode == 0, r.stderr
    assert srv.data == data


def test_regular_file_stdin_arrives_complete_over_tls(tls_server, pki,
                                                      tmp_path):
    path = tmp_path / "input.txt"
    data = b"".join(b"line %06d with some words\n" % i for i in range(100000))
    path.write_bytes(data)
    srv = tls_server(read_all_then())
    with open(path, "rb") as f:
        r = run_client(tls_args(pki, srv.port), stdin=f)
    srv.join()
    assert r.returncode == 0, r.stderr
    assert srv.data == data


def test_empty_input_sends_close_notify_at_once(tls_server, pki):
    srv = tls_server(read_all_then())
    r = run_client(tls_args(pki, srv.port), b"")
    srv.join()
    assert r.returncode == 0, r.stderr
    assert srv.data == b""


def test_end_of_input_sends_close_notify_and_waits_for_the_server(
        tls_server, pki):
    # The server answers only after the client's close_notify (a TCP close
    # without one would raise in recv), so "bye" on stdout proves the client
    # kept reading after it half-closed.
    srv = tls_server(read_all_then(b"bye\n"))
    r = run_client(tls_args(pki, srv.port), b"hello\n")
    srv.join()
    assert srv.data == b"hello\n"
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"bye\n"


def test_server_closing_without_close_notify_after_ours_is_exit_1(
        tls_server, pki):
    # A bare EOF is what a refusal after the handshake (or a truncation)
    # looks like: only the server's close_notify says it took everything.
    srv = tls_server(read_all_then(b"bye\n", close_notify=False))
    r = run_client(tls_args(pki, srv.port), b"hello\n")
    srv.join()
    assert srv.data == b"hello\n"
    assert r.returncode == 1
    assert r.stdout == b"bye\n"
    assert r.stderr.decode().splitlines()[1:] == [
        "peerlog: server closed the connection without close_notify"]


def test_server_bytes_are_written_to_stdout_unchanged(tls_server, pki):
    blob = bytes(range(256)) * 2000 + b"no newline at end \x00"
    srv = tls_server(read_all_then(blob))
    r = run_client(tls_args(pki, srv.port), b"x\n")
    srv.join()
    assert r.returncode == 0, r.stderr
    assert r.stdout == blob


def start_held_client(procs, pki, port, host="127.0.0.1"):
    """peerlog --tls with its standard input a pipe left open."""
    return procs([PEERLOG, *tls_args(pki, port, host)], stdin=subprocess.PIPE,
                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)


@pytest.mark.parametrize("close_notify", [True, False],
                         ids=["close_notify", "tcp-close"])
def test_server_closing_first_exits_1_with_a_message(tls_server, pki, procs,
                                                     close_notify):
    def handler(conn, srv):
        srv.data = conn.recv(100)
        if close_notify:
            try:
                conn.unwrap()  # waits for the client's, which never comes
            except (ssl.SSLError, OSError):
                pass

    srv = tls_server(handler)
    p = start_held_client(procs, pki, srv.port)
    p.stdin.write(b"first\n")
    p.stdin.flush()
    assert p.wait(WAIT) == 1
    srv.join()
    assert srv.data == b"first\n"
    lines = p.stderr.read().decode().splitlines()
    assert lines[1:] == ["peerlog: server closed the connection"]


def test_server_reset_exits_1_with_a_message(tls_server, pki, procs):
    def handler(conn, srv):
        srv.data = conn.recv(100)
        # Linger 0: close sends RST instead of FIN.
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                        b"\x01\x00\x00\x00\x00\x00\x00\x00")

    srv = tls_server(handler)
    p = start_held_client(procs, pki, srv.port)
    p.stdin.write(b"first\n")
    p.stdin.flush()
    assert p.wait(WAIT) == 1
    srv.join()
    lines = p.stderr.read().decode().splitlines()
    assert lines[1:] == ["peerlog: server gone: Connection reset by peer"]


def test_large_file_to_a_slow_tls_server_keeps_client_memory_bounded(
        tls_server, pki, tmp_path, procs):
    path = tmp_path / "big.txt"
    data = b"".join(b"%07d the quick brown fox jumps over the lazy dog\n" % i
                    for i in range(500000))
    path.write_bytes(data)

    def handler(conn, srv):
        # Read nothing at first (a deliberate stall, not a wait for
        # something): the client's queue fills and must stop growing.
        time.sleep(1.0)
        srv.data = recv_until_eof(conn)
        srv.hwm = vm_hwm_kib(srv.client_pid)
        conn.unwrap()

    srv = tls_server(handler)
    with open(path, "rb") as f:
        p = procs([PEERLOG, *tls_args(pki, srv.port)], stdin=f,
                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    srv.client_pid = p.pid
    out, err = p.communicate(timeout=WAIT * 3)
    srv.join()
    assert p.returncode == 0, err
    assert srv.data == data
    if not built_with_asan():
        # The file is ~24 MiB; the client queues at most ~1 MiB of records.
        assert srv.hwm < 20 * 1024, f"client peak RSS {srv.hwm} KiB"


# --- what the server must prove ----------------------------------------------

def assert_refused(r, srv, reason):
    """The client exited 1 with one line after nothing: no start line, the
    reason named; the server's handshake failed and it got no data."""
    assert r.returncode == 1
    assert r.stdout == b""
    assert r.stderr.decode().splitlines() == [reason]
    assert srv.data is None
    assert isinstance(srv.handshake_error, (ssl.SSLError, OSError))


def test_server_certificate_from_another_ca_is_refused(tls_server, pki):
    cert, key = pki.other_ca.sign("rogue-server", cn="localhost",
                                  dns=["localhost"], ips=["127.0.0.1"],
                                  usage="serverAuth")
    srv = tls_server(read_all_then(), cert=cert, key=key)
    r = run_client(tls_args(pki, srv.port), b"secret\n")
    srv.join()
    assert_refused(r, srv, "peerlog: tls: certificate verify failed: "
                   "unable to get local issuer certificate")


def test_wrong_ca_given_is_refused(tls_server, pki):
    srv = tls_server(read_all_then())
    r = run_client(["--tls", "--ca", pki.other_ca.ca_cert, "127.0.0.1",
                    str(srv.port)], b"secret\n")
    srv.join()
    assert_refused(r, srv, "peerlog: tls: certificate verify failed: "
                   "unable to get local issuer certificate")


def test_without_ca_the_system_store_is_used(tls_server, pki):
    # The test CA is in no system store: refused. OpenSSL's default paths
    # honour SSL_CERT_FILE, so naming the test CA there makes it trusted,
    # which shows the client uses the default store without --ca.
    srv = tls_server(read_all_then())
    r = run_client(["--tls", "127.0.0.1", str(srv.port)], b"secret\n")
    srv.join()
    assert_refused(r, srv, "peerlog: tls: certificate verify failed: "
                   "unable to get local issuer certificate")

    srv = tls_server(read_all_then())
    env = dict(os.environ, SSL_CERT_FILE=pki.ca_cert)
    r = subprocess.run([PEERLOG, "--tls", "127.0.0.1", str(srv.port)],
                       input=b"trusted\n", capture_output=True, timeout=WAIT,
                       env=env)
    srv.join()
    assert r.returncode == 0, r.stderr
    assert srv.data == b"trusted\n"


def test_certificate_for_another_name_is_refused_by_ip(tls_server, pki):
    cert, key = pki.sign("other-name", cn="other.example",
                         dns=["other.example"], usage="serverAuth")
    srv = tls_server(read_all_then(), cert=cert, key=key)
    r = run_client(tls_args(pki, srv.port), b"secret\n")
    srv.join()
    assert_refused(r, srv,
                   "peerlog: tls: certificate verify failed: IP address mismatch")


def test_certificate_for_another_name_is_refused_by_name(tls_server, pki):
    cert, key = pki.sign("other-name", cn="other.example",
                         dns=["other.example"], usage="serverAuth")
    srv = tls_server(read_all_then(), cert=cert, key=key)
    r = run_client(["-4", *tls_args(pki, srv.port, "localhost")], b"secret\n")
    srv.join()
    assert_refused(r, srv,
                   "peerlog: tls: certificate verify failed: hostname mismatch")


def test_an_ip_literal_is_checked_against_ip_names_only(tls_server, pki):
    # "127.0.0.1" as a DNS name in the certificate does not name the address.
    cert, key = pki.sign("ip-as-dns", cn="127.0.0.1", dns=["127.0.0.1"],
                         usage="serverAuth")
    srv = tls_server(read_all_then(), cert=cert, key=key)
    r = run_client(tls_args(pki, srv.port), b"secret\n")
    srv.join()
    assert_refused(r, srv,
                   "peerlog: tls: certificate verify failed: IP address mismatch")


def test_a_host_name_is_checked_against_dns_names(tls_server, pki):
    cert, key = pki.sign("ip-only", cn="server", ips=["127.0.0.1"],
                         usage="serverAuth")
    srv = tls_server(read_all_then(), cert=cert, key=key)
    r = run_client(["-4", *tls_args(pki, srv.port, "localhost")], b"secret\n")
    srv.join()
    assert_refused(r, srv,
                   "peerlog: tls: certificate verify failed: hostname mismatch")

    srv = tls_server(read_all_then(), cert=cert, key=key)
    r = run_client(tls_args(pki, srv.port), b"by address\n")
    srv.join()
    assert r.returncode == 0, r.stderr
    assert srv.data == b"by address\n"


def test_expired_server_certificate_is_refused(tls_server, pki):
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    cert, key = pki.sign("expired-server", cn="localhost", dns=["localhost"],
                         ips=["127.0.0.1"], usage="serverAuth",
                         not_before=now - datetime.timedelta(days=30),
                         not_after=now - datetime.timedelta(days=1))
    srv = tls_server(read_all_then(), cert=cert, key=key)
    r = run_client(tls_args(pki, srv.port), b"secret\n")
    srv.join()
    assert_refused(r, srv,
                   "peerlog: tls: certificate verify failed: certificate has expired")


def test_sni_is_the_host_name_and_absent_for_an_address(tls_server, pki):
    srv = tls_server(read_all_then())
    r = run_client(["-4", *tls_args(pki, srv.port, "localhost")], b"named\n")
    srv.join()
    assert r.returncode == 0, r.stderr
    assert srv.sni == ["localhost"]
    assert srv.data == b"named\n"

    srv = tls_server(read_all_then())
    r = run_client(tls_args(pki, srv.port), b"by address\n")
    srv.join()
    assert r.returncode == 0, r.stderr
    assert srv.sni == [None]


def test_tls_1_2_server_is_accepted(tls_server, pki):
    srv = tls_server(read_all_then(), maximum=ssl.TLSVersion.TLSv1_2)
    r = run_client(tls_args(pki, srv.port), b"over 1.2\n")
    srv.join()
    assert r.returncode == 0, r.stderr
    assert srv.version == "TLSv1.2"
    assert srv.data == b"over 1.2\n"


def test_tls_1_1_server_is_refused(procs, pki):
    # Python's ssl will not offer TLS 1.1 here; s_server at security level 0
    # will.
    s = procs(["openssl", "s_server", "-accept", "127.0.0.1:0", "-cert",
               pki.server_cert, "-key", pki.server_key, "-tls1_1", "-cipher",
               "DEFAULT@SECLEVEL=0", "-rev", "-naccept", "1"],
              stdin=subprocess.PIPE, stdout=subprocess.PIPE,
              stderr=subprocess.STDOUT)
    port = s_server_port(s)
    r = run_client(tls_args(pki, port), b"secret\n")
    assert r.returncode == 1
    lines = r.stderr.decode().splitlines()
    assert len(lines) == 1 and lines[0].startswith("peerlog: tls: "), lines
    assert "protocol" in lines[0], lines
    assert r.stdout == b""


def test_a_plain_tcp_server_gets_nothing_but_a_client_hello(pki):
    def handler(conn, srv):
        srv.data = conn.recv(1 << 16)
        conn.sendall(b"this is not TLS\r\n" * 4)
        srv.data += recv_until_eof(conn)

    srv = TcpServer(handler)
    try:
        r = run_client(tls_args(pki, srv.port), b"secret\n")
        srv.join()
    finally:
        srv.close()
    assert r.returncode == 1
    lines = r.stderr.decode().splitlines()
    assert len(lines) == 1 and lines[0].startswith("peerlog: tls: "), lines
    assert srv.data[:1] == b"\x16"  # a handshake record
    assert b"secret" not in srv.data


# --- our certificate -----------------------------------------------------------

def test_client_certificate_is_presented_when_asked(tls_server, pki):
    cert, key = pki.client("client-one", dns=["client-one.example"])
    srv = tls_server(read_all_then(), client_ca=pki.ca_cert)
    r = run_client(tls_args(pki, srv.port, "127.0.0.1", "--cert", cert,
                            "--key", key), b"with a certificate\n")
    srv.join()
    assert r.returncode == 0, r.stderr
    assert srv.data == b"with a certificate\n"
    assert ("commonName", "client-one") in [
        rdn[0] for rdn in srv.client_cert["subject"]]
    assert srv.client_cert["subjectAltName"] == (("DNS", "client-one.example"),)


def test_no_client_certificate_when_one_is_required_exits_1(tls_server, pki,
                                                            procs):
    # TLS 1.3: the client's side of the handshake is done before the server
    # has looked at its (missing) certificate; the refusal comes as an alert.
    srv = tls_server(read_all_then(), client_ca=pki.ca_cert)
    p = start_held_client(procs, pki, srv.port)
    assert p.wait(WAIT) == 1
    srv.join()
    assert srv.data is None
    assert isinstance(srv.handshake_error, ssl.SSLError)
    lines = p.stderr.read().decode().splitlines()
    assert lines[-1] in (
        "peerlog: tls: tlsv13 alert certificate required: SSL alert number 116",
        "peerlog: server gone: Connection reset by peer"), lines


def test_client_certificate_with_openssl_s_server(procs, pki):
    cert, key = pki.client("s-server-client")
    s = procs(["openssl", "s_server", "-accept", "127.0.0.1:0", "-cert",
               pki.server_cert, "-key", pki.server_key, "-Verify", "1",
               "-verify_return_error", "-CAfile", pki.ca_cert, "-rev",
               "-naccept", "1"],
              stdin=subprocess.PIPE, stdout=subprocess.PIPE,
              stderr=subprocess.STDOUT)
    port = s_server_port(s)
    r = run_client(tls_args(pki, port, "127.0.0.1", "--cert", cert, "--key",
                            key), b"hello\nworld\n")
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"olleh\ndlrow\n"  # -rev sends each line reversed
    out, _ = s.communicate(timeout=WAIT)
    # s_server's verify callback: our certificate came and verified.
    assert b"depth=0 CN = s-server-client\nverify return:1\n" in out, out


@pytest.mark.parametrize("which", ["cert", "key", "ca"])
def test_files_that_cannot_be_read_are_exit_2_before_connecting(pki, tmp_path,
                                                                which):
    cert, key = pki.client("file-test")
    missing = str(tmp_path / "missing.pem")
    args = {"cert": ["--ca", pki.ca_cert, "--cert", missing, "--key", key],
            "key": ["--ca", pki.ca_cert, "--cert", cert, "--key", missing],
            "ca": ["--ca", missing, "--cert", cert, "--key", key]}[which]
    # A listener that is never accepted from: no connection may reach it.
    with socket.socket() as lst:
        lst.bind(("127.0.0.1", 0))
        lst.listen(1)
        r = run_client(["--tls", *args, "127.0.0.1",
                        str(lst.getsockname()[1])], b"secret\n")
        lst.setblocking(False)
        with pytest.raises(BlockingIOError):
            lst.accept()
    assert r.returncode == 2
    assert r.stderr.decode().splitlines() == [
        f"peerlog: --{which} {missing}: No such file or directory"]


def test_a_key_that_is_not_the_certificates_is_exit_2(pki):
    cert, _ = pki.client("mismatch-a")
    _, other_key = pki.client("mismatch-b")
    r = run_client(["--tls", "--ca", pki.ca_cert, "--cert", cert, "--key",
                    other_key, "127.0.0.1", "1"], b"secret\n")
    assert r.returncode == 2
    assert r.stderr.decode().splitlines() == [
        f"peerlog: --key {other_key}: key values mismatch"]


def test_a_file_that_is_not_pem_is_exit_2(pki, tmp_path):
    junk = tmp_path / "junk.pem"
    junk.write_bytes(b"not a certificate\n")
    for opt in ("--ca", "--cert"):
        extra = ["--key", pki.server_key] if opt == "--cert" else []
        r = run_client(["--tls", opt, str(junk), *extra, "127.0.0.1", "1"],
                       b"secret\n")
        assert r.returncode == 2, (opt, r.stderr)
        lines = r.stderr.decode().splitlines()
        assert len(lines) == 1 and lines[0].startswith(
            f"peerlog: {opt} {junk}: "), lines


# --- options -------------------------------------------------------------------

@pytest.mark.parametrize("args,reason", [
    (["-u", "--tls"], "peerlog: options -u and --tls cannot be used together"),
    (["--ca", "x.pem"], "peerlog: option --ca needs --tls"),
    (["--cert", "c", "--key", "k"], "peerlog: option --cert needs --tls"),
    (["--tls", "--cert", "c"], "peerlog: option --cert needs --key"),
    (["--tls", "--key", "k"], "peerlog: option --key needs --cert"),
    (["--tls", "--ca="], "peerlog: --ca: empty file name"),
])
def test_tls_usage_errors_exit_2_with_one_line(args, reason):
    r = run_client(args)
    assert r.returncode == 2
    assert r.stdout == b""
    assert r.stderr.decode().splitlines() == [reason]


def test_default_port_is_1236(pki):
    ctx = server_context(pki.server_cert, pki.server_key)
    try:
        srv = TlsServer(read_all_then(), ctx, port=1236)
    except OSError as e:
        pytest.skip(f"port 1236 cannot be had here: {e}")
    try:
        r = run_client(["--tls", "--ca", pki.ca_cert, "127.0.0.1"],
                       b"to 1236\n")
        srv.join()
    finally:
        srv.close()
    assert r.returncode == 0, r.stderr
    assert tls_line(r.stderr)[2:] == ("127.0.0.1", 1236)
    assert srv.data == b"to 1236\n"


@pytest.mark.skipif(not have_ipv6(), reason="no IPv6 loopback")
def test_ipv6_loopback_with_dash_6(tls_server, pki):
    srv = tls_server(read_all_then(), host="::1")
    r = run_client(["-6", *tls_args(pki, srv.port, "::1")], b"over v6\n")
    srv.join()
    assert r.returncode == 0, r.stderr
    assert srv.data == b"over v6\n"
    assert tls_line(r.stderr) == ("[::1]", srv.peer[1], "[::1]", srv.port)
    assert srv.sni == [None]


# --- at a terminal ---------------------------------------------------------------

def test_terminal_prompts_after_the_handshake_and_exit_ends_it(tls_server,
                                                               pki, procs):
    srv = tls_server(read_all_then(b"bye\n"))
    term = Terminal(procs, tls_args(pki, srv.port))
    try:
        term.expect(b"send: ")
        term.type(b"hello world\n")
        term.expect(b"send: ")
        term.type(b"exit\n")
        term.expect(b"bye\r\n")  # the terminal maps LF to CR LF
        assert term.proc.wait(WAIT) == 0
    finally:
        term.close()
    srv.join()
    assert srv.data == b"hello world\n"
    lines = term.proc.stderr.read().decode().splitlines()
    assert len(lines) == 1
    assert tls_line(lines[0].encode())[2:] == ("127.0.0.1", srv.port)


def test_terminal_shows_no_prompt_when_the_server_is_refused(tls_server, pki,
                                                             procs):
    srv = tls_server(read_all_then())
    term = Terminal(procs, ["--tls", "--ca", pki.other_ca.ca_cert,
                            "127.0.0.1", str(srv.port)])
    try:
        assert term.proc.wait(WAIT) == 1
        deadline = time.monotonic() + WAIT
        # Everything the client wrote to the terminal: nothing at all.
        while time.monotonic() < deadline:
            ready, _, _ = select.select([term.master], [], [], 0.1)
            if not ready:
                break
            try:
                chunk = os.read(term.master, 1024)
            except OSError:
                break
            if not chunk:
                break
            term.seen += chunk
        assert b"send: " not in term.seen
    finally:
        term.close()
    srv.join()
    assert srv.data is None


# --- openssl s_server ----------------------------------------------------------

def s_server_port(p):
    """The port of an `openssl s_server -accept 127.0.0.1:0` from its
    'ACCEPT 127.0.0.1:PORT' line (bounded wait)."""
    deadline = time.monotonic() + WAIT
    seen = b""
    while time.monotonic() < deadline:
        m = re.search(rb"ACCEPT 127\.0\.0\.1:(\d+)", seen)
        if m:
            return int(m.group(1))
        ready, _, _ = select.select([p.stdout], [], [], 0.1)
        if ready:
            chunk = os.read(p.stdout.fileno(), 4096)
            if not chunk:
                break
            seen += chunk
    raise AssertionError(f"s_server did not start: {seen!r}")


def test_s_server_killed_mid_way_exits_1(procs, pki):
    s = procs(["openssl", "s_server", "-accept", "127.0.0.1:0", "-cert",
               pki.server_cert, "-key", pki.server_key, "-rev", "-naccept",
               "1"],
              stdin=subprocess.PIPE, stdout=subprocess.PIPE,
              stderr=subprocess.STDOUT)
    port = s_server_port(s)
    p = start_held_client(procs, pki, port)
    p.stdin.write(b"first\n")
    p.stdin.flush()
    # The reversed line back proves the session is up and the line arrived.
    deadline = time.monotonic() + WAIT
    got = b""
    while b"tsrif\n" not in got:
        assert time.monotonic() < deadline, got
        ready, _, _ = select.select([p.stdout], [], [], 0.1)
        if ready:
            got += os.read(p.stdout.fileno(), 4096)
    os.killpg(s.pid, signal.SIGKILL)
    s.wait(WAIT)
    assert p.wait(WAIT) == 1
    lines = p.stderr.read().decode().splitlines()
    assert tls_line(lines[0].encode())[2:] == ("127.0.0.1", port)
    assert lines[1:] in (["peerlog: server closed the connection"],
                         ["peerlog: server gone: Connection reset by peer"])


# --- end to end: peerlog --tls -> peerlogd -T ----------------------------------

CONNECT_DETAIL_RE = re.compile(r"tls=TLSv1\.[23] cipher=[A-Z0-9_-]+")


def peerlogd_tls(start_server, pki, *more, addr="127.0.0.1:0",
                 client_ca=False):
    """peerlogd with one TLS listener (the PKI's server certificate)."""
    return start_server(*server_tls_args(pki, *more, addr=addr,
                                         client_ca=client_ca))


def logged(srv, stderr):
    """The client's peer text (from its start line) and, once its
    disconnect is logged, peerlogd's records of it."""
    host, port, _, _ = tls_line(stderr)
    peer = f"{host}:{port}"
    srv.wait_event(peer, "disconnect")
    return peer, srv.of(peer)


def test_end_to_end_lines_reach_peerlogd_over_tls(start_server, pki):
    srv = peerlogd_tls(start_server, pki)
    _, port = srv.tls_addr
    data = b"hello world\nsecond  line\n"
    r = run_client(tls_args(pki, port), data)
    assert r.returncode == 0, r.stderr
    peer, recs = logged(srv, r.stderr)
    assert [x[2] for x in recs] == ["connect", "msg", "msg", "disconnect"]
    assert CONNECT_DETAIL_RE.fullmatch(recs[0][3]), recs[0]
    assert recs[1:] == [
        ("tls", peer, "msg", "hello world"),
        ("tls", peer, "msg", "second  line"),
        ("tls", peer, "disconnect", f"reason=eof msgs=2 bytes={len(data)}")]


def test_end_to_end_every_line_of_a_large_input_is_logged(start_server, pki,
                                                         tmp_path):
    srv = peerlogd_tls(start_server, pki)
    _, port = srv.tls_addr
    lines = [b"line %06d %s" % (i, b"y" * (i % 200)) for i in range(30000)]
    path = tmp_path / "input.txt"
    path.write_bytes(b"\n".join(lines) + b"\n")
    with open(path, "rb") as f:
        r = run_client(tls_args(pki, port), stdin=f)
    assert r.returncode == 0, r.stderr
    peer, recs = logged(srv, r.stderr)
    assert [x[3] for x in recs if x[2] == "msg"] == [l.decode() for l in lines]
    assert recs[-1] == ("tls", peer, "disconnect",
                        f"reason=eof msgs={len(lines)} "
                        f"bytes={path.stat().st_size}")


def test_end_to_end_mutual_tls_names_the_client(start_server, pki):
    cert, key = pki.client("e2e-client", dns=["e2e-client.example"])
    srv = peerlogd_tls(start_server, pki, client_ca=True)
    _, port = srv.tls_addr
    r = run_client(tls_args(pki, port, "127.0.0.1", "--cert", cert, "--key",
                            key), b"signed\n")
    assert r.returncode == 0, r.stderr
    peer, recs = logged(srv, r.stderr)
    detail = recs[0][3]
    assert recs[0][2] == "connect"
    assert detail.endswith(
        f" cn=e2e-client.example fp={pki.fingerprint(cert)}"), detail
    assert recs[1] == ("tls", peer, "msg", "signed")


def test_end_to_end_no_client_certificate_is_refused_and_nothing_logged(
        start_server, pki):
    srv = peerlogd_tls(start_server, pki, client_ca=True)
    _, port = srv.tls_addr
    r = run_client(tls_args(pki, port), b"unsigned\n")
    assert r.returncode == 1
    lines = r.stderr.decode().splitlines()
    # TLS 1.3: the client's handshake ends before the server's verdict.
    host, cport, _, _ = tls_line(r.stderr)
    assert lines[-1].startswith(("peerlog: tls: ", "peerlog: server ")), lines
    peer = f"{host}:{cport}"
    rec = srv.wait_event(peer, "reject")
    assert rec[3].startswith("reason=tls error="), rec
    assert [x for x in srv.of(peer) if x[2] != "reject"] == []


def test_end_to_end_a_name_not_permitted_is_refused(start_server, pki):
    cert, key = pki.client("e2e-stranger", dns=["stranger.example"])
    srv = peerlogd_tls(start_server, pki, "--client-name", "friend.example",
                       client_ca=True)
    _, port = srv.tls_addr
    r = run_client(tls_args(pki, port, "127.0.0.1", "--cert", cert, "--key",
                            key), b"let me in\n")
    # peerlogd refuses after the handshake with a bare close: never exit 0,
    # however far the client had got (half-closed or not).
    assert r.returncode == 1
    assert r.stderr.decode().splitlines()[-1] in (
        "peerlog: server closed the connection without close_notify",
        "peerlog: server closed the connection",
        "peerlog: server gone: Connection reset by peer",
        "peerlog: server gone: Broken pipe"), r.stderr
    host, cport, _, _ = tls_line(r.stderr)
    peer = f"{host}:{cport}"
    rec = srv.wait_event(peer, "reject")
    assert rec[3].startswith("reason=client-name"), rec
    assert [x for x in srv.of(peer) if x[2] != "reject"] == []


def test_end_to_end_peerlogd_shutting_down_first_exits_1(start_server, pki,
                                                         procs):
    srv = peerlogd_tls(start_server, pki)
    _, port = srv.tls_addr
    p = start_held_client(procs, pki, port)
    p.stdin.write(b"before shutdown\n")
    p.stdin.flush()
    srv.wait_for(lambda rs: any(x[2] == "msg" and x[3] == "before shutdown"
                                for x in rs), "the message")
    rc, recs, _ = srv.stop()
    assert rc == 0
    assert p.wait(WAIT) == 1
    lines = p.stderr.read().decode().splitlines()
    host, cport, _, _ = tls_line(lines[0].encode())
    assert lines[1:] == ["peerlog: server closed the connection"]
    peer = f"{host}:{cport}"
    assert [x for x in recs if x[1] == peer][-1] == (
        "tls", peer, "disconnect", "reason=shutdown msgs=1 bytes=16")


@pytest.mark.skipif(not have_ipv6(), reason="no IPv6 loopback")
def test_end_to_end_over_ipv6(start_server, pki):
    srv = peerlogd_tls(start_server, pki, addr="[::1]:0")
    _, port = srv.tls_addr
    r = run_client(["-6", *tls_args(pki, port, "::1")], b"over v6\n")
    assert r.returncode == 0, r.stderr
    peer, recs = logged(srv, r.stderr)
    assert peer.startswith("[::1]:")
    assert ("tls", peer, "msg", "over v6") in recs


def test_end_to_end_a_refused_server_hears_the_clients_alert(start_server,
                                                            pki):
    # The client checks the chain against another CA: it refuses, and the
    # alert it makes reaches peerlogd, whose reject names it.
    srv = peerlogd_tls(start_server, pki)
    _, port = srv.tls_addr
    r = run_client(["--tls", "--ca", pki.other_ca.ca_cert, "127.0.0.1",
                    str(port)], b"never sent\n")
    assert r.returncode == 1
    assert r.stderr.decode().splitlines()[-1] == (
        "peerlog: tls: certificate verify failed: "
        "unable to get local issuer certificate")
    recs = srv.wait_for(lambda rs: any(x[2] == "reject" for x in rs),
                        "the reject")
    rejects = [x for x in recs if x[2] == "reject"]
    assert [x[3] for x in rejects] == [
        "reason=tls error=tlsv1\\x20alert\\x20unknown\\x20ca"], rejects
    assert not any(x[2] == "msg" for x in recs)
