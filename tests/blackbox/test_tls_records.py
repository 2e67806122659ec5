"""TLS listeners (-T/--tls): the listening lines, the records of a TLS
client (PROTO tls, connect after the handshake with tls= and cipher=,
bytes= of the decrypted stream), JSON, the protocol versions, and clients
nobody here wrote (openssl s_client, socat).

Assumptions where the SPEC is silent (see the report):
- a client that ends with close_notify is `disconnect reason=eof`;
- the connect DETAIL has its words in the SPEC's order: tls, cipher, cn, fp;
- in JSON, a client without a certificate has no cn/fp keys at all.
"""

import re
import shutil
import signal

import pytest

from conftest import (PEERLOGD, WAIT, Server, check_ts, msg_records, needs_ipv6,
                      peer_of, requires_peerlogd, split_addr, tcp_session,
                      tls_args, tls_connect)
from tlshelp import (close_notify, find_peer_of_msg, legacy_context, s_client,
                     tls_detail, tls_reject_error, tls_session, Tool, wait_disconnect)

pytestmark = requires_peerlogd


@pytest.fixture(scope="module")
def tls_server(pki, tmp_path_factory):
    """A text server with one TLS listener and no --client-ca."""
    if not PEERLOGD:
        pytest.skip("PEERLOGD is not set")
    s = Server(tls_args(pki), tmp_dir=tmp_path_factory.mktemp("tls"))
    yield s
    s.kill()


@pytest.fixture(scope="module")
def tls_json_server(pki, tmp_path_factory):
    if not PEERLOGD:
        pytest.skip("PEERLOGD is not set")
    s = Server(tls_args(pki), tmp_dir=tmp_path_factory.mktemp("tls_json"), fmt="json")
    yield s
    s.kill()


def without_ts(recs):
    out = []
    for r in recs:
        check_ts(r["ts"])
        out.append({k: v for k, v in r.items() if k != "ts"})
    return out


# ---- listeners ----

def test_tls_listener_alone_prints_one_listening_line(start_server, pki):
    srv = start_server(*tls_args(pki))
    assert srv.listening == [("tls", srv.tls[0])]
    host, port = srv.tls_addr
    assert host == "127.0.0.1" and port > 0
    lines = srv.stderr().split("\n")
    assert f"peerlogd: listening tls 127.0.0.1:{port}" in lines
    # With -T given no default listener is opened: nothing else listens.
    assert [l for l in lines if "listening" in l] == [
        f"peerlogd: listening tls 127.0.0.1:{port}"]
    peer, recs, detail = tls_session(srv, pki, b"hello\n")
    assert recs == [("tls", peer, "connect", detail), ("tls", peer, "msg", "hello"),
                    ("tls", peer, "disconnect", "reason=eof msgs=1 bytes=6")]


def test_long_option_with_equals_and_repeated_listeners(start_server, pki):
    srv = start_server("--tls=127.0.0.1:0", "-T", "127.0.0.1:0", "--cert", pki.server_cert,
                       "--key", pki.server_key)
    assert [p for p, _ in srv.listening] == ["tls", "tls"]
    a1, a2 = (split_addr(a) for a in srv.tls)
    assert a1[1] != a2[1]
    for i, addr in enumerate((a1, a2)):
        peer, recs, detail = tls_session(srv, pki, f"to {i}\n".encode(), addr=addr)
        assert recs == [("tls", peer, "connect", detail), ("tls", peer, "msg", f"to {i}"),
                        ("tls", peer, "disconnect", "reason=eof msgs=1 bytes=5")]


@needs_ipv6
def test_tls_on_ipv6_loopback(start_server, pki):
    srv = start_server(*tls_args(pki, addr="[::1]:0"))
    assert srv.tls[0].startswith("[::1]:")
    peer, recs, detail = tls_session(srv, pki, b"six\n")
    assert peer.startswith("[::1]:")
    assert recs == [("tls", peer, "connect", detail), ("tls", peer, "msg", "six"),
                    ("tls", peer, "disconnect", "reason=eof msgs=1 bytes=4")]


def test_tcp_and_tls_listeners_side_by_side(start_server, pki):
    srv = start_server("-t", "127.0.0.1:0", *tls_args(pki))
    assert sorted(p for p, _ in srv.listening) == ["tcp", "tls"]
    tpeer, trecs = tcp_session(srv, b"plain\n")
    assert trecs == [("tcp", tpeer, "connect"), ("tcp", tpeer, "msg", "plain"),
                     ("tcp", tpeer, "disconnect", "reason=eof msgs=1 bytes=6")]
    peer, recs, detail = tls_session(srv, pki, b"secret\n")
    assert recs == [("tls", peer, "connect", detail), ("tls", peer, "msg", "secret"),
                    ("tls", peer, "disconnect", "reason=eof msgs=1 bytes=7")]


# ---- records ----

def test_connect_comes_after_the_handshake_with_version_and_cipher(tls_server, pki):
    with tls_connect(tls_server.tls_addr, pki) as s:
        peer = peer_of(s)
        # The handshake is done on the client's side; the connect record
        # names what was negotiated.
        rec = tls_server.wait_event(peer, "connect")
        assert rec == ("tls", peer, "connect", tls_detail(s))
        assert s.version() == "TLSv1.3"
        assert re.fullmatch(r"tls=TLSv1\.3 cipher=TLS_[A-Z0-9_]+", rec[3])
        s.sendall(b"x\n")
        close_notify(s)
    recs = wait_disconnect(tls_server, peer)
    assert recs == [rec, ("tls", peer, "msg", "x"),
                    ("tls", peer, "disconnect", "reason=eof msgs=1 bytes=2")]


def test_bytes_counts_the_decrypted_stream(tls_server, pki):
    data = b"one\r\ntwo\n\nthree"
    peer, recs, detail = tls_session(tls_server, pki, data)
    assert recs == [("tls", peer, "connect", detail),
                    ("tls", peer, "msg", "one"), ("tls", peer, "msg", "two"),
                    ("tls", peer, "msg", ""), ("tls", peer, "msg", "three"),
                    ("tls", peer, "disconnect", f"reason=eof msgs=4 bytes={len(data)}")]


def test_many_lines_over_many_tls_records_in_order(tls_server, pki):
    # 2 MB in one sendall: over a hundred 16 KiB TLS records, lines cut
    # across record boundaries.
    lines = [b"%07d " % i + b"y" * (i % 300) for i in range(20000)]
    data = b"\n".join(lines) + b"\n"
    peer, recs, detail = tls_session(tls_server, pki, data)
    assert recs[0] == ("tls", peer, "connect", detail)
    assert [r[3] for r in recs[1:-1]] == [l.decode() for l in lines]
    assert all(r[2] == "msg" for r in recs[1:-1])
    assert recs[-1] == ("tls", peer, "disconnect",
                        f"reason=eof msgs={len(lines)} bytes={len(data)}")


def test_a_line_cut_across_tls_records_is_one_message(tls_server, pki):
    writes = [b"he", b"llo wo", b"rld\r", b"\nnext", b"\n"]
    peer, recs, detail = tls_session(tls_server, pki, writes)
    assert msg_records(recs) == [("tls", peer, "msg", "hello world"),
                                 ("tls", peer, "msg", "next")]
    assert recs[-1] == ("tls", peer, "disconnect", "reason=eof msgs=2 bytes=19")


def test_json_records_of_a_tls_client_without_certificate(tls_json_server, pki):
    peer, recs, detail = tls_session(tls_json_server, pki, b"hi\n\xff\n")
    version, cipher = re.fullmatch(r"tls=(\S+) cipher=(\S+)", detail).groups()
    head = {"proto": "tls", "peer": peer}
    assert without_ts(recs) == [
        {**head, "event": "connect", "tls": version, "cipher": cipher},
        {**head, "event": "msg", "msg": "hi"},
        {**head, "event": "msg", "msg": "\ufffd", "lossy": True},
        {**head, "event": "disconnect", "reason": "eof", "msgs": 2, "bytes": 5}]


# ---- protocol versions ----

@pytest.mark.parametrize("maximum,version", [
    ("TLSv1_2", "TLSv1.2"), ("TLSv1_3", "TLSv1.3")])
def test_tls_1_2_and_1_3_are_served(tls_server, pki, maximum, version):
    import ssl
    v = getattr(ssl.TLSVersion, maximum)
    peer, recs, detail = tls_session(tls_server, pki, b"v\n", minimum=v, maximum=v)
    assert detail.startswith(f"tls={version} cipher=")
    assert recs == [("tls", peer, "connect", detail), ("tls", peer, "msg", "v"),
                    ("tls", peer, "disconnect", "reason=eof msgs=1 bytes=2")]


@pytest.mark.parametrize("name", ["TLSv1", "TLSv1_1"])
def test_tls_1_0_and_1_1_are_refused(start_server, pki, name):
    import ssl
    import warnings
    srv = start_server(*tls_args(pki))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx = legacy_context(getattr(ssl.TLSVersion, name))
    from conftest import tcp_connect
    raw = tcp_connect(srv.tls_addr)
    peer = peer_of(raw)
    with pytest.raises(ssl.SSLError) as exc:
        ctx.wrap_socket(raw, server_hostname="localhost")
    raw.close()
    # The server said why: a protocol_version alert.
    assert "PROTOCOL_VERSION" in str(exc.value) or "protocol version" in str(exc.value)
    rec = srv.wait_event(peer, "reject")
    assert "unsupported protocol" in tls_reject_error(rec)
    assert srv.of(peer) == [rec]
    # The server goes on serving.
    p2, recs, detail = tls_session(srv, pki, b"after\n")
    assert recs[1] == ("tls", p2, "msg", "after")


# ---- other clients: openssl s_client, socat ----

def negotiated(tool_out):
    """(version, cipher) from s_client's 'New, TLSv1.3, Cipher is X' line."""
    m = re.search(rb"New, (TLSv1\.[23]), Cipher is (\S+)", tool_out)
    assert m, f"no negotiated line in s_client output {tool_out!r}"
    return m.group(1).decode(), m.group(2).decode()


@pytest.mark.parametrize("extra,version,cipher", [
    ((), "TLSv1.3", None),
    (("-tls1_3", "-ciphersuites", "TLS_CHACHA20_POLY1305_SHA256"), "TLSv1.3",
     "TLS_CHACHA20_POLY1305_SHA256"),
    (("-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256"), "TLSv1.2",
     "ECDHE-ECDSA-AES128-GCM-SHA256"),
], ids=["default", "tls13-chacha", "tls12-aes128"])
def test_openssl_s_client_lines_are_logged(tls_server, pki, extra, version, cipher):
    tag = f"s_client {version} {cipher}"
    tool = s_client(tls_server.tls_addr, pki, None, None, *extra)
    try:
        tool.write(f"{tag} first\n{tag} second\r\n".encode())
        peer = find_peer_of_msg(tls_server, f"{tag} second")
        rc = tool.finish()
    finally:
        tool.kill()
    assert rc == 0, bytes(tool.err)
    got_version, got_cipher = negotiated(bytes(tool.out))
    assert got_version == version
    if cipher:
        assert got_cipher == cipher
    recs = wait_disconnect(tls_server, peer)
    n = len(f"{tag} first\n{tag} second\r\n")
    assert recs == [
        ("tls", peer, "connect", f"tls={version} cipher={got_cipher}"),
        ("tls", peer, "msg", f"{tag} first"), ("tls", peer, "msg", f"{tag} second"),
        ("tls", peer, "disconnect", f"reason=eof msgs=2 bytes={n}")]


def test_openssl_s_client_with_a_client_certificate(start_server, pki):
    cert, key = pki.client("s-client-cert", dns=["s-client.example"])
    srv = start_server(*tls_args(pki, client_ca=True))
    tool = s_client(srv.tls_addr, pki, cert, key)
    try:
        tool.write(b"mutual from s_client\n")
        peer = find_peer_of_msg(srv, "mutual from s_client")
        rc = tool.finish()
    finally:
        tool.kill()
    assert rc == 0, bytes(tool.err)
    version, cipher = negotiated(bytes(tool.out))
    recs = wait_disconnect(srv, peer)
    assert recs == [
        ("tls", peer, "connect", f"tls={version} cipher={cipher} cn=s-client.example "
                                 f"fp={pki.fingerprint(cert)}"),
        ("tls", peer, "msg", "mutual from s_client"),
        ("tls", peer, "disconnect", "reason=eof msgs=1 bytes=21")]


@pytest.mark.skipif(not shutil.which("socat"), reason="socat missing: build.sh installs it")
@pytest.mark.parametrize("mutual", [False, True], ids=["server-auth", "mutual"])
def test_socat_openssl_address(start_server, pki, mutual):
    srv = start_server(*tls_args(pki, client_ca=mutual))
    host, port = srv.tls_addr
    opts = [f"cafile={pki.ca_cert}", "verify=1", "commonname=localhost"]
    if mutual:
        cert, key = pki.client("socat-client")
        opts += [f"cert={cert}", f"key={key}"]
    tool = Tool(["socat", "-t", "2", "STDIO", f"OPENSSL:{host}:{port}," + ",".join(opts)])
    data = b"".join(b"socat line %d\n" % i for i in range(100))
    try:
        tool.write(data)
        peer = find_peer_of_msg(srv, "socat line 99")
        rc = tool.finish()
    finally:
        tool.kill()
    assert rc == 0, bytes(tool.err)
    recs = wait_disconnect(srv, peer)
    connect = recs[0]
    assert connect[:3] == ("tls", peer, "connect")
    if mutual:
        assert connect[3].endswith(f" cn=socat-client fp={pki.fingerprint(cert)}")
    assert re.fullmatch(r"tls=TLSv1\.[23] cipher=\S+" + (r" cn=\S+ fp=[0-9a-f]{64}"
                                                        if mutual else ""), connect[3])
    assert recs[1:-1] == [("tls", peer, "msg", f"socat line {i}") for i in range(100)]
    # socat may end with or without close_notify: eof or reset, never lost data.
    assert recs[-1] in [("tls", peer, "disconnect", f"reason={r} msgs=100 bytes={len(data)}")
                        for r in ("eof", "reset")]
