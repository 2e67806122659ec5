"""Helpers for the TLS black-box tests (test_tls_*.py): sessions over TLS,
raw ClientHellos, unescaping of record values, external TLS clients.

conftest.py has the pki fixture, tls_args(), tls_context() and
tls_connect()."""

import hashlib
import os
import re
import select
import socket
import ssl
import subprocess
import time

from conftest import (WAIT, peer_of, tcp_connect, tls_connect, tls_context)


def tls_detail(sock):
    """The connect DETAIL a client without a certificate should get: the
    version and cipher as this (OpenSSL) client negotiated them."""
    return f"tls={sock.version()} cipher={sock.cipher()[0]}"


def cert_detail(sock, pki, cert, name):
    """The connect DETAIL of a client presenting cert, whose identity
    (first DNS SAN, else CN) is name, already escaped as the record shows it."""
    return f"{tls_detail(sock)} cn={name} fp={pki.fingerprint(cert)}"


def close_notify(sock):
    """Send close_notify and wait for the server to close (its own
    close_notify or a bare FIN/RST: both end the wait)."""
    try:
        sock.unwrap()
    except (OSError, ssl.SSLError, ValueError):
        pass


def close_without_notify(sock):
    """End the TLS session with a FIN and no close_notify, then wait for the
    server to close."""
    raw = socket.socket(fileno=os.dup(sock.fileno()))
    try:
        raw.shutdown(socket.SHUT_WR)
        raw.settimeout(WAIT)
        try:
            while raw.recv(65536):
                pass
        except OSError:
            pass
    finally:
        raw.close()


def wait_disconnect(srv, peer):
    """Wait for peer's disconnect (text or JSON); return that peer's records."""
    if srv.fmt == "json":
        srv.wait_for(lambda rs: any(r.get("peer") == peer and r.get("event") ==
                                    "disconnect" for r in rs), f"disconnect of {peer}")
        return [r for r in srv.json_records() if r.get("peer") == peer]
    srv.wait_event(peer, "disconnect")
    return srv.of(peer)


def tls_session(srv, pki, data, cert=None, key=None, *, addr=None, notify=True,
                **kw):
    """Connect over TLS (cert/key presented when given), send data (bytes, or
    a list of writes, each its own TLS record(s) a little apart), close
    (with close_notify unless notify=False), wait for the disconnect record.
    Returns (peer, that peer's records, the expected connect DETAIL without
    cn/fp)."""
    with tls_connect(addr or srv.tls_addr, pki, cert, key, **kw) as s:
        peer = peer_of(s)
        detail = tls_detail(s)
        writes = data if isinstance(data, list) else [data]
        for i, chunk in enumerate(writes):
            if i:
                time.sleep(0.02)
            s.sendall(chunk)
        if notify:
            close_notify(s)
        else:
            close_without_notify(s)
    return peer, wait_disconnect(srv, peer), detail


def client_hello(maximum=None, minimum=None, ciphers=None):
    """The bytes of a real ClientHello (one or more TLS records) from
    Python's ssl, made without a network: what a client's first flight is."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if ciphers:
        ctx.set_ciphers(ciphers)
    if minimum:
        ctx.minimum_version = minimum
    if maximum:
        ctx.maximum_version = maximum
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname="localhost")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    hello = out.read()
    assert hello[:1] == b"\x16" and len(hello) > 50, hello
    return hello


def legacy_context(version):
    """A client context that offers only TLS 1.0 or 1.1 (ssl.TLSVersion),
    its security level lowered so that this client is willing to."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    ctx.minimum_version = version
    ctx.maximum_version = version
    return ctx


_UNESC = re.compile(rb"\\(x[0-9a-fA-F]{2}|[\\tnr])")


def unescape(text):
    """A record value (str) back to its bytes: \\\\, \\t, \\r, \\n, \\xHH."""
    def sub(m):
        c = m.group(1)
        if c[:1] == b"x":
            return bytes([int(c[1:], 16)])
        return {b"\\": b"\\", b"t": b"\t", b"n": b"\n", b"r": b"\r"}[c]
    return _UNESC.sub(sub, text.encode())


def tls_reject_error(rec):
    """The error= text (unescaped, str) of a 'reject reason=tls error=...'
    record; asserts the DETAIL is exactly those two key=value words."""
    assert rec[2] == "reject", rec
    m = re.fullmatch(r"reason=tls error=(\S+)", rec[3])
    assert m, f"not 'reason=tls error=TEXT' (one word, spaces escaped): {rec!r}"
    return unescape(m.group(1)).decode("utf-8", "replace")


def expect_refused(connect):
    """connect() makes a TLS client (tls_connect); the server refuses it,
    during the handshake (TLS 1.2, or a server that fails it outright) or
    right after (TLS 1.3: the server checks a client certificate after the
    client's Finished). Either way the client never gets to send data that
    the server reads: asserts the connection ends without data."""
    try:
        s = connect()
    except (ssl.SSLError, OSError):
        return
    with s:
        try:
            got = s.recv(1)
        except (ssl.SSLError, OSError):
            return
        assert got == b"", f"the server sent data: {got!r}"


def expect_closed(sock):
    """The server closes sock (EOF or reset) within the wait bound; any
    bytes before (a TLS alert, say) are read and dropped."""
    sock.settimeout(WAIT)
    deadline = time.monotonic() + WAIT
    try:
        while sock.recv(65536):
            assert time.monotonic() < deadline, "the server kept sending"
    except ConnectionResetError:
        pass
    except socket.timeout:
        raise AssertionError("the server did not close the connection")


def der_fingerprint(sock):
    """SHA-256 hex of the certificate the server presented on sock."""
    return hashlib.sha256(sock.getpeercert(binary_form=True)).hexdigest()


def find_peer_of_msg(srv, text, proto="tls"):
    """Wait for the msg record whose DETAIL is text; return its peer."""
    recs = srv.wait_for(lambda rs: any(r[0] == proto and r[2] == "msg" and r[3:] == (text,)
                                       for r in rs), f"msg {text!r}")
    return next(r[1] for r in recs if r[0] == proto and r[2] == "msg" and r[3:] == (text,))


class Tool:
    """An external program (openssl s_client, socat) talking to the server,
    its stdin a pipe the test writes, stdout/stderr collected."""

    def __init__(self, argv):
        self.argv = argv
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, start_new_session=True)
        self.out = bytearray()
        self.err = bytearray()

    def write(self, data):
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def read_some(self, wait=0.05):
        fds = [f for f in (self.proc.stdout, self.proc.stderr) if not f.closed]
        ready, _, _ = select.select(fds, [], [], wait)
        for f in ready:
            chunk = os.read(f.fileno(), 65536)
            (self.out if f is self.proc.stdout else self.err).extend(chunk)

    def wait_output(self, needle, what, timeout=WAIT):
        """Wait until needle (bytes) appears on its stdout or stderr."""
        deadline = time.monotonic() + timeout
        while needle not in self.out and needle not in self.err:
            assert time.monotonic() < deadline, \
                f"no {what} from {self.argv[0]}: out={bytes(self.out)!r} err={bytes(self.err)!r}"
            assert self.proc.poll() is None, \
                f"{self.argv[0]} exited ({self.proc.returncode}) before {what}: " \
                f"out={bytes(self.out)!r} err={bytes(self.err)!r}"
            self.read_some()

    def finish(self, timeout=WAIT):
        """Close its stdin and wait for it to end; return its exit status."""
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"{self.argv[0]} did not end: out={bytes(self.out)!r} "
                                 f"err={bytes(self.err)!r}")
        self.out += out
        self.err += err
        return self.proc.returncode

    def kill(self):
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, 9)
            except OSError:
                pass
            self.proc.communicate()


def s_client(addr, pki, cert=None, key=None, *extra):
    """`openssl s_client` to addr verifying the server as localhost against
    the PKI's CA, sending its stdin (no command letters; EOF ends it with
    close_notify)."""
    argv = ["openssl", "s_client", "-connect", f"{addr[0]}:{addr[1]}",
            "-CAfile", pki.ca_cert, "-verify_return_error", "-verify_hostname",
            "localhost", "-servername", "localhost", "-nocommands", "-no_ign_eof"]
    if cert:
        argv += ["-cert", cert, "-key", key]
    return Tool(argv + list(extra))


def refused_attempt(addr, pki, cert=None, key=None, data=b"must never be logged\n",
                    **ctx_kw):
    """A client the server is expected to refuse: connect, try the handshake,
    try to send data, read until the server closes. Returns (peer, whether
    the client's side of the handshake completed). Nothing here fails on a
    refusal: the records say what the server did."""
    ctx = tls_context(pki, cert, key, **ctx_kw)
    raw = tcp_connect(addr)
    peer = peer_of(raw)
    done = False
    try:
        s = ctx.wrap_socket(raw, server_hostname="localhost")
    except (ssl.SSLError, OSError):
        raw.close()
        return peer, done
    done = True
    with s:
        try:
            s.sendall(data)
            while s.recv(65536):
                pass
        except (ssl.SSLError, OSError):
            pass
    return peer, done
