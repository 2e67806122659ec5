"""Start-up errors of the TLS options: exit status 2, one line on standard
error naming the option or the file, nothing left running, no output file.

Assumptions where the SPEC is silent (see the report):
- the certificate, key and CA files are checked before the output is
  opened, like the sockets (docs/design.md: a failed start-up leaves no
  file);
- an encrypted key is an error, never a passphrase prompt.
"""

import socket
import subprocess

import pytest

from conftest import group_alive, requires_peerlogd, run_peerlogd

pytestmark = requires_peerlogd


def fails(args, tmp_path, *names):
    """Run the server with args (and -o FILE); expect exit 2, exactly one
    line on stderr that starts with 'peerlogd: ' and contains one of names,
    nothing on stdout, nothing left running, no output file."""
    out_file = tmp_path / "never.log"
    rc, out, err, pid = run_peerlogd(list(args) + ["-o", str(out_file)])
    assert rc == 2, (rc, err)
    assert err.startswith("peerlogd: ") and err.endswith("\n") and err.count("\n") == 1, err
    assert any(n in err for n in names), f"{err!r} names none of {names!r}"
    assert "listening" not in err
    assert out == ""
    assert not group_alive(pid)
    assert not out_file.exists(), "a failed start-up left the output file"
    return err


def write(tmp_path, name, data):
    p = tmp_path / name
    p.write_bytes(data)
    return str(p)


def test_tls_without_cert_and_key(tmp_path):
    fails(["-T", "127.0.0.1:0"], tmp_path, "--cert")


def test_tls_without_key(tmp_path, pki):
    fails(["-T", "127.0.0.1:0", "--cert", pki.server_cert], tmp_path, "--key")


def test_tls_without_cert(tmp_path, pki):
    fails(["-T", "127.0.0.1:0", "--key", pki.server_key], tmp_path, "--cert")


def test_missing_cert_file(tmp_path, pki):
    missing = str(tmp_path / "no-such-cert.pem")
    fails(["-T", "127.0.0.1:0", "--cert", missing, "--key", pki.server_key],
          tmp_path, missing)


def test_missing_key_file(tmp_path, pki):
    missing = str(tmp_path / "no-such-key.pem")
    fails(["-T", "127.0.0.1:0", "--cert", pki.server_cert, "--key", missing],
          tmp_path, missing)


@pytest.mark.parametrize("data", [b"", b"not a certificate\n",
                                  b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"],
                         ids=["empty", "text", "bad-base64"])
def test_bad_cert_file(tmp_path, pki, data):
    bad = write(tmp_path, "bad-cert.pem", data)
    fails(["-T", "127.0.0.1:0", "--cert", bad, "--key", pki.server_key], tmp_path, bad)


def test_cert_file_holding_only_a_key(tmp_path, pki):
    fails(["-T", "127.0.0.1:0", "--cert", pki.server_key, "--key", pki.server_key],
          tmp_path, pki.server_key, "--cert")


def test_bad_key_file(tmp_path, pki):
    bad = write(tmp_path, "bad-key.pem", b"-----BEGIN PRIVATE KEY-----\nAAAA\n"
                                         b"-----END PRIVATE KEY-----\n")
    fails(["-T", "127.0.0.1:0", "--cert", pki.server_cert, "--key", bad], tmp_path, bad)


def test_key_not_matching_the_cert(tmp_path, pki):
    _, other_key = pki.client("startup-other-key")
    fails(["-T", "127.0.0.1:0", "--cert", pki.server_cert, "--key", other_key],
          tmp_path, other_key, "--key", pki.server_cert)


def test_encrypted_key_is_an_error_not_a_prompt(tmp_path, pki):
    enc = str(tmp_path / "enc.key")
    subprocess.run(["openssl", "pkey", "-in", pki.server_key, "-aes256", "-passout",
                    "pass:secret", "-out", enc], check=True, capture_output=True)
    fails(["-T", "127.0.0.1:0", "--cert", pki.server_cert, "--key", enc], tmp_path,
          enc, "--key")


def test_missing_client_ca_file(tmp_path, pki):
    missing = str(tmp_path / "no-such-ca.pem")
    fails(["-T", "127.0.0.1:0", "--cert", pki.server_cert, "--key", pki.server_key,
           "--client-ca", missing], tmp_path, missing)


def test_bad_client_ca_file(tmp_path, pki):
    bad = write(tmp_path, "bad-ca.pem", b"no CA in here\n")
    fails(["-T", "127.0.0.1:0", "--cert", pki.server_cert, "--key", pki.server_key,
           "--client-ca", bad], tmp_path, bad)


def test_client_name_without_client_ca(tmp_path, pki):
    fails(["-T", "127.0.0.1:0", "--cert", pki.server_cert, "--key", pki.server_key,
           "--client-name", "alice.example"], tmp_path, "--client-name")


@pytest.mark.parametrize("pin", [
    "sha256:",
    "sha256:abc",
    "sha256:" + "0" * 63,
    "sha256:" + "0" * 65,
    "sha256:" + "g" * 64,
    "sha256:" + ":".join(["00"] * 31),
    "sha256:" + "0" * 62 + " 0",
], ids=["empty", "short", "63", "65", "not-hex", "31-pairs", "space"])
def test_bad_sha256_pin(tmp_path, pki, pin):
    fails(["-T", "127.0.0.1:0", "--cert", pki.server_cert, "--key", pki.server_key,
           "--client-ca", pki.ca_cert, "--client-name", pin], tmp_path, "--client-name")


def test_empty_client_name(tmp_path, pki):
    fails(["-T", "127.0.0.1:0", "--cert", pki.server_cert, "--key", pki.server_key,
           "--client-ca", pki.ca_cert, "--client-name", ""], tmp_path, "--client-name")


def test_bad_tls_address(tmp_path, pki):
    fails(["-T", "127.0.0.1:notaport", "--cert", pki.server_cert, "--key", pki.server_key],
          tmp_path, "-T", "--tls", "127.0.0.1:notaport")


def test_tls_address_in_use(tmp_path, pki):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        err = fails(["-T", f"127.0.0.1:{port}", "--cert", pki.server_cert,
                     "--key", pki.server_key], tmp_path, f"127.0.0.1:{port}")
    assert "in use" in err


def test_usage_names_the_tls_options():
    rc, out, err, pid = run_peerlogd(["--help"])
    assert rc == 0
    for opt in ("--tls", "--cert", "--key", "--client-ca", "--client-name",
                "--handshake-timeout"):
        assert opt in out, opt
