"""The tests' own PKI (tlsca.py) and TLS client helper, checked against
`openssl verify` and `openssl s_server`, without peerlogd: a TLS test that
fails should never be the PKI's fault."""

import hashlib
import os
import re
import select
import ssl
import subprocess
import time

import pytest

from conftest import WAIT, tls_connect


def read_until(f, rx, buf):
    """Read the pipe f into buf (bytearray) until rx (bytes regex) matches;
    return the match."""
    deadline = time.monotonic() + WAIT
    while True:
        m = re.search(rx, bytes(buf))
        if m:
            return m
        assert time.monotonic() < deadline, f"no {rx!r} in {bytes(buf)!r}"
        ready, _, _ = select.select([f], [], [], 0.05)
        if ready:
            chunk = os.read(f.fileno(), 65536)
            assert chunk, f"EOF before {rx!r}: {bytes(buf)!r}"
            buf += chunk


def verify(pki, cert, ca=None):
    """(exit status, output) of `openssl verify -CAfile CA CERT`."""
    p = subprocess.run(["openssl", "verify", "-purpose", "any", "-CAfile",
                        ca or pki.ca_cert, cert],
                       capture_output=True, text=True, timeout=WAIT)
    return p.returncode, p.stdout + p.stderr


def subject_and_sans(cert):
    return subprocess.run(
        ["openssl", "x509", "-noout", "-nameopt", "utf8,sep_comma_plus",
         "-subject", "-ext", "subjectAltName", "-in", cert],
        capture_output=True, text=True, timeout=WAIT, check=True).stdout


def test_server_and_client_certificates_verify(pki):
    assert verify(pki, pki.server_cert)[0] == 0
    cert, key = pki.client("tlsca-plain")
    assert verify(pki, cert)[0] == 0
    text = subject_and_sans(pki.server_cert)
    assert "subject=CN=localhost" in text
    assert "DNS:localhost" in text and "IP Address:127.0.0.1" in text
    assert "IP Address:0:0:0:0:0:0:0:1" in text


def test_expired_and_untrusted_are_refused(pki):
    rc, out = verify(pki, pki.expired("tlsca-expired")[0])
    assert rc != 0 and "expired" in out
    rc, out = verify(pki, pki.not_yet_valid("tlsca-future")[0])
    assert rc != 0 and "not yet valid" in out
    rc, out = verify(pki, pki.other_ca.client("tlsca-other")[0])
    assert rc != 0 and "unable to get local issuer" in out
    # The same certificate is fine against its own CA.
    assert verify(pki, pki.other_ca.client("tlsca-other")[0], pki.other_ca.ca_cert)[0] == 0
    assert pki.client("tlsca-other2", ca=pki.other_ca)[0].startswith(pki.other_ca.dir)


def test_names_and_cache(pki):
    cert, _ = pki.client("tlsca-named", dns=["a.example", "b.example"], cn="Jane Doe/ü+=")
    text = subject_and_sans(cert)
    assert "subject=CN=Jane Doe/ü+=" in text
    assert "DNS:a.example, DNS:b.example" in text
    assert pki.client("tlsca-named", dns=["a.example", "b.example"],
                      cn="Jane Doe/ü+=")[0] == cert
    with pytest.raises(ValueError):
        pki.client("tlsca-named")
    rsa_cert, rsa_key = pki.client("tlsca-rsa", key="rsa")
    with open(rsa_key) as f:
        assert "PRIVATE KEY" in f.read()
    no_cn, _ = pki.client("tlsca-nocn", cn="")
    assert "subject=O=peerlog tests" in subject_and_sans(no_cn)


def test_fingerprint_is_sha256_of_der(pki):
    cert, _ = pki.client("tlsca-fp")
    with open(cert) as f:
        der = ssl.PEM_cert_to_DER_cert(f.read())
    assert pki.fingerprint(cert) == hashlib.sha256(der).hexdigest()


def test_tls_connect_against_openssl_s_server(pki, tmp_path):
    """tls_connect verifies the server as 'localhost' and presents a client
    certificate that s_server (-Verify) checks."""
    cert, key = pki.client("tlsca-s_server")
    proc = subprocess.Popen(
        ["openssl", "s_server", "-accept", "127.0.0.1:0", "-naccept", "1",
         "-cert", pki.server_cert, "-key", pki.server_key, "-CAfile", pki.ca_cert,
         "-Verify", "1", "-verify_return_error"],
        # s_server ends at EOF on its standard input: keep it open.
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        start_new_session=True)
    try:
        buf = bytearray()
        port = int(read_until(proc.stdout, rb"ACCEPT 127\.0\.0\.1:(\d+)\n", buf)[1])
        with tls_connect(("127.0.0.1", port), pki, cert, key) as s:
            assert s.version() in ("TLSv1.2", "TLSv1.3")
            s.sendall(b"hello tlsca\n")
            read_until(proc.stdout, rb"hello tlsca\n", buf)
        out, err = proc.communicate(b"", timeout=WAIT)
        assert b"subject=CN = tlsca-s_server" in bytes(buf) + out, (buf, out, err)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
