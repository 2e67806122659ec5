"""Hostile and broken TLS clients: plain text to a TLS port, truncated
ClientHellos, a reset mid-handshake, clients that never finish their
handshake (--handshake-timeout), renegotiation, and closes without
close_notify. Each is survived, logged once, and none of its bytes ever
becomes a msg.

Assumptions where the SPEC is silent (see the report):
- a reset or a close in the middle of the handshake is a failed handshake:
  `reject reason=tls error=...`;
- (the server's choice) a client that connects and closes without sending
  a byte (an L4 health check) is such a reject too, logged once;
- `reject reason=handshake-timeout` has no other word;
- a client still in its handshake holds a --max-clients slot (that is why
  the timeout exists);
- the handshake timeout counts from the accept: bytes that trickle in do not
  restart it.
"""

import re
import socket
import time

import pytest

from conftest import (WAIT, peer_of, requires_peerlogd, reset_close, run_peerlogd,
                      tcp_connect, tcp_session, tls_args, tls_connect)
from tlshelp import (client_hello, close_notify, expect_closed, refused_attempt,
                     s_client, tls_reject_error, tls_session, wait_disconnect)

pytestmark = requires_peerlogd


def hostile_server(start_server, pki, *more):
    """A TLS listener plus a TCP one for anchor sessions."""
    return start_server("-t", "127.0.0.1:0", *tls_args(pki, *more))


def only_reject(srv, peer, reason="tls", error=None):
    """Wait for the peer's reject; after an anchor TCP session, it is still
    the peer's only record. With error, the unescaped error= text is
    exactly that (OpenSSL's reason). Returns the record."""
    rec = srv.wait_event(peer, "reject")
    if reason == "tls":
        got = tls_reject_error(rec)
        if error is not None:
            assert got == error, rec
    else:
        assert rec == ("tls", peer, "reject", f"reason={reason}")
    tcp_session(srv, b"anchor\n")
    assert srv.of(peer) == [rec]
    return rec


def no_msg_contains(srv, needle):
    assert not any(r[2] in ("msg", "msg+") and needle in r[3] for r in srv.records()), \
        f"a msg record holds {needle!r}"


# ---- not TLS at all ----

def test_plain_text_to_a_tls_port_is_rejected_and_never_logged(start_server, pki):
    srv = hostile_server(start_server, pki)
    with tcp_connect(srv.tls_addr) as c:
        peer = peer_of(c)
        c.sendall(b"hello plain text\nsecond plain line\n")
        expect_closed(c)
    rec = only_reject(srv, peer, error="wrong version number")
    assert rec[3] == "reason=tls error=wrong\\x20version\\x20number"
    no_msg_contains(srv, "plain")


def test_http_request_to_a_tls_port_is_rejected(start_server, pki):
    srv = hostile_server(start_server, pki)
    with tcp_connect(srv.tls_addr) as c:
        peer = peer_of(c)
        c.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        expect_closed(c)
    only_reject(srv, peer, error="http request")
    no_msg_contains(srv, "GET")


def test_record_header_with_an_absurd_length_is_rejected(start_server, pki):
    srv = hostile_server(start_server, pki)
    with tcp_connect(srv.tls_addr) as c:
        peer = peer_of(c)
        c.sendall(b"\x16\x03\x01\xff\xff" + b"\x00" * 2000)
        expect_closed(c)
    only_reject(srv, peer, error="packet length too long")


def test_error_text_is_escaped_into_one_word(start_server, pki):
    # A binary, non-TLS opening: whatever OpenSSL says, the DETAIL stays
    # two key=value words without raw spaces or control bytes.
    srv = hostile_server(start_server, pki)
    with tcp_connect(srv.tls_addr) as c:
        peer = peer_of(c)
        c.sendall(bytes(range(256)))
        expect_closed(c)
    rec = only_reject(srv, peer, error="wrong version number")
    assert all(0x21 <= ord(ch) or ch == " " for ch in rec[3])
    assert rec[3].count(" ") == 1


# ---- handshakes cut short ----

def test_truncated_client_hello_then_close(start_server, pki):
    srv = hostile_server(start_server, pki)
    hello = client_hello()
    with tcp_connect(srv.tls_addr) as c:
        peer = peer_of(c)
        c.sendall(hello[:len(hello) // 2])
        c.shutdown(socket.SHUT_WR)
        expect_closed(c)
    only_reject(srv, peer, error="unexpected eof while reading")


def test_record_header_only_then_close(start_server, pki):
    srv = hostile_server(start_server, pki)
    with tcp_connect(srv.tls_addr) as c:
        peer = peer_of(c)
        c.sendall(client_hello()[:5])
        c.shutdown(socket.SHUT_WR)
        expect_closed(c)
    only_reject(srv, peer, error="unexpected eof while reading")


def test_reset_in_the_middle_of_the_handshake(start_server, pki):
    srv = hostile_server(start_server, pki)
    hello = client_hello()
    c = tcp_connect(srv.tls_addr)
    peer = peer_of(c)
    c.sendall(hello[:len(hello) - 7])
    # The server has the start of a ClientHello and waits for the rest.
    time.sleep(0.1)  # not for correctness: lets the bytes be read first
    reset_close(c)
    only_reject(srv, peer, error="connection reset")
    # The server goes on: a real client is served.
    peer2, recs, detail = tls_session(srv, pki, b"after reset\n")
    assert recs == [("tls", peer2, "connect", detail), ("tls", peer2, "msg", "after reset"),
                    ("tls", peer2, "disconnect", "reason=eof msgs=1 bytes=12")]


def test_reset_after_the_whole_client_hello(start_server, pki):
    srv = hostile_server(start_server, pki)
    c = tcp_connect(srv.tls_addr)
    peer = peer_of(c)
    c.sendall(client_hello())
    # The server answers (ServerHello and the rest): read some of it.
    assert c.recv(5)[:1] == b"\x16"
    reset_close(c)
    only_reject(srv, peer, error="connection reset")


@pytest.mark.parametrize("how", ["fin", "rst"])
def test_connect_and_close_without_a_byte(start_server, pki, how):
    srv = hostile_server(start_server, pki)
    c = tcp_connect(srv.tls_addr)
    peer = peer_of(c)
    if how == "rst":
        reset_close(c)
    else:
        c.close()
    # The server's choice (the SPEC is silent): such a client is a failed
    # handshake like any other, logged once.
    only_reject(srv, peer, error={"fin": "unexpected eof while reading",
                                  "rst": "connection reset"}[how])


def test_alert_instead_of_a_client_hello(start_server, pki):
    # A client that sends a fatal alert instead of a ClientHello.
    srv = hostile_server(start_server, pki)
    with tcp_connect(srv.tls_addr) as c:
        peer = peer_of(c)
        c.sendall(b"\x15\x03\x03\x00\x02\x02\x28")  # fatal handshake_failure
        expect_closed(c)
    only_reject(srv, peer, error="unexpected message")


# ---- --handshake-timeout ----

def test_silent_client_is_closed_after_the_handshake_timeout(start_server, pki):
    srv = hostile_server(start_server, pki, "--handshake-timeout", "1")
    with tcp_connect(srv.tls_addr, timeout=WAIT) as c:
        peer = peer_of(c)
        srv.wait_record(("tls", peer, "reject", "reason=handshake-timeout"),
                        timeout=WAIT + 1)
        expect_closed(c)
    only_reject(srv, peer, "handshake-timeout")


def test_half_a_client_hello_is_closed_after_the_handshake_timeout(start_server, pki):
    srv = hostile_server(start_server, pki, "--handshake-timeout", "1")
    hello = client_hello()
    with tcp_connect(srv.tls_addr) as c:
        peer = peer_of(c)
        c.sendall(hello[:len(hello) // 2])
        srv.wait_record(("tls", peer, "reject", "reason=handshake-timeout"),
                        timeout=WAIT + 1)
        expect_closed(c)
    only_reject(srv, peer, "handshake-timeout")


def test_trickling_client_hello_does_not_restart_the_timeout(start_server, pki):
    srv = hostile_server(start_server, pki, "--handshake-timeout", "1")
    hello = client_hello()
    with tcp_connect(srv.tls_addr) as c:
        peer = peer_of(c)
        # One byte every 0.1 s: the hello would take far longer than WAIT.
        assert len(hello) * 0.1 > 2 * WAIT
        deadline = time.monotonic() + WAIT + 1
        closed = False
        for b in hello:
            try:
                c.sendall(bytes([b]))
            except OSError:
                closed = True
                break
            if ("tls", peer, "reject", "reason=handshake-timeout") in srv.of(peer):
                closed = True
                break
            assert time.monotonic() < deadline, \
                f"a trickling handshake was never timed out: {srv.of(peer)!r}"
            time.sleep(0.1)
        assert closed
        srv.wait_record(("tls", peer, "reject", "reason=handshake-timeout"))
    only_reject(srv, peer, "handshake-timeout")


def test_handshake_timeout_frees_the_max_clients_slot(start_server, pki):
    srv = start_server(*tls_args(pki, "--handshake-timeout", "1", "--max-clients", "1"))
    silent = tcp_connect(srv.tls_addr)
    try:
        sp = peer_of(silent)
        # The silent client holds the one slot: a real client is refused.
        peer, _ = refused_attempt(srv.tls_addr, pki)
        srv.wait_record(("tls", peer, "reject", "reason=max-clients"))
        assert srv.of(peer) == [("tls", peer, "reject", "reason=max-clients")]
        srv.wait_record(("tls", sp, "reject", "reason=handshake-timeout"),
                        timeout=WAIT + 1)
        expect_closed(silent)
    finally:
        silent.close()
    # The slot is free again.
    p2, recs, detail = tls_session(srv, pki, b"in the freed slot\n")
    assert recs == [("tls", p2, "connect", detail), ("tls", p2, "msg", "in the freed slot"),
                    ("tls", p2, "disconnect", "reason=eof msgs=1 bytes=18")]
    assert srv.of(sp) == [("tls", sp, "reject", "reason=handshake-timeout")]


def test_handshake_timeout_spares_a_client_that_finished(start_server, pki):
    srv = start_server(*tls_args(pki, "--handshake-timeout", "1"))
    done = tls_connect(srv.tls_addr, pki)
    silent = tcp_connect(srv.tls_addr)
    try:
        dp, sp = peer_of(done), peer_of(silent)
        srv.wait_event(dp, "connect")
        # Both came at once; when the silent one is timed out the finished
        # one has been connected as long, and is still served.
        srv.wait_record(("tls", sp, "reject", "reason=handshake-timeout"),
                        timeout=WAIT + 1)
        done.sendall(b"still here\n")
        srv.wait_record(("tls", dp, "msg", "still here"))
        assert [r[2] for r in srv.of(dp)] == ["connect", "msg"]
        close_notify(done)
        recs = wait_disconnect(srv, dp)
        assert recs[-1] == ("tls", dp, "disconnect", "reason=eof msgs=1 bytes=11")
    finally:
        done.close()
        silent.close()


def test_handshake_timeout_usage_errors():
    for bad in ("abc", "-1", "1x", ""):
        rc, out, err, pid = run_peerlogd(["-T", "127.0.0.1:0", "--cert", "/dev/null",
                                          "--key", "/dev/null",
                                          "--handshake-timeout", bad])
        assert rc == 2, (bad, err)
        assert err.count("\n") == 1 and err.startswith("peerlogd: "), err
        assert "--handshake-timeout" in err, err


# ---- renegotiation, key updates ----

def negotiated_cipher(tool):
    m = re.search(rb"New, TLSv1\.[23], Cipher is (\S+)", bytes(tool.out))
    assert m, bytes(tool.out)
    return m.group(1).decode()


def test_tls12_renegotiation_attempt_is_survived(start_server, pki):
    srv = hostile_server(start_server, pki)
    # s_client with its command letters: a line "R" renegotiates.
    tool = s_client(srv.tls_addr, pki, None, None, "-tls1_2", commands=True)
    try:
        tool.write(b"before renegotiation\n")
        recs = srv.wait_for(lambda rs: any(r[2] == "msg" and r[3:] == ("before renegotiation",)
                                           for r in rs), "the first line")
        peer = next(r[1] for r in recs if r[3:] == ("before renegotiation",))
        tool.write(b"R\n")
        tool.wait_output(b"RENEGOTIATING", "the renegotiation")
        try:
            tool.write(b"after renegotiation\n")
        except OSError:
            pass
        tool.finish()
    finally:
        tool.kill()
    recs = wait_disconnect(srv, peer)
    # The server refuses renegotiation (docs/design.md; a no_renegotiation
    # alert), s_client gives up with a fatal alert: the client is logged
    # once, its line before kept, the command line "R" never data, the end
    # an error (or a reset, should the client's close overtake its alert).
    assert recs[:2] == [
        ("tls", peer, "connect", f"tls=TLSv1.2 cipher={negotiated_cipher(tool)}"),
        ("tls", peer, "msg", "before renegotiation")]
    assert recs[2:] in [[("tls", peer, "disconnect", f"reason={r} msgs=1 bytes=21")]
                        for r in ("error", "reset")]
    assert srv.proc.poll() is None
    # The server serves others.
    p2, recs2, detail = tls_session(srv, pki, b"next client\n")
    assert recs2[1] == ("tls", p2, "msg", "next client")


def test_tls13_key_update_is_served(start_server, pki):
    # s_client's "k" sends a TLS 1.3 KeyUpdate: ordinary, and must work.
    srv = hostile_server(start_server, pki)
    tool = s_client(srv.tls_addr, pki, None, None, "-tls1_3", commands=True)
    try:
        tool.write(b"before key update\n")
        recs = srv.wait_for(lambda rs: any(r[3:] == ("before key update",) for r in rs),
                            "the first line")
        peer = next(r[1] for r in recs if r[3:] == ("before key update",))
        tool.write(b"K\n")
        tool.wait_output(b"KEYUPDATE", "the key update")
        tool.write(b"after key update\n")
        srv.wait_record(("tls", peer, "msg", "after key update"))
        rc = tool.finish()
    finally:
        tool.kill()
    assert rc == 0
    recs = wait_disconnect(srv, peer)
    assert [r[2:] for r in recs[1:]] == [
        ("msg", "before key update"), ("msg", "after key update"),
        ("disconnect", "reason=eof msgs=2 bytes=35")]


# ---- ends of a served client ----

def test_close_without_close_notify_loses_nothing(start_server, pki):
    srv = hostile_server(start_server, pki)
    data = b"".join(b"line %d\n" % i for i in range(500)) + b"unterminated tail"
    peer, recs, detail = tls_session(srv, pki, data, notify=False)
    assert recs[0] == ("tls", peer, "connect", detail)
    assert recs[1:-1] == [("tls", peer, "msg", f"line {i}") for i in range(500)] + [
        ("tls", peer, "msg", "unterminated tail")]
    assert recs[-1] in [("tls", peer, "disconnect", f"reason={r} msgs=501 bytes={len(data)}")
                        for r in ("eof", "reset")]


def test_close_notify_is_eof(start_server, pki):
    srv = hostile_server(start_server, pki)
    peer, recs, detail = tls_session(srv, pki, b"a\nb")
    assert recs == [("tls", peer, "connect", detail), ("tls", peer, "msg", "a"),
                    ("tls", peer, "msg", "b"),
                    ("tls", peer, "disconnect", "reason=eof msgs=2 bytes=3")]


def test_reset_after_data_is_reason_reset(start_server, pki):
    srv = hostile_server(start_server, pki)
    s = tls_connect(srv.tls_addr, pki)
    peer = peer_of(s)
    s.sendall(b"logged before the reset\n")
    srv.wait_record(("tls", peer, "msg", "logged before the reset"))
    raw = socket.socket(fileno=s.detach())
    reset_close(raw)
    recs = wait_disconnect(srv, peer)
    assert recs[-1] == ("tls", peer, "disconnect", "reason=reset msgs=1 bytes=24")


def test_garbage_after_the_handshake_is_an_error_not_a_msg(start_server, pki):
    # Bytes that are not a TLS record once the session is up: the session
    # is broken (a bad record MAC or the like); nothing of it is a msg.
    srv = hostile_server(start_server, pki)
    s = tls_connect(srv.tls_addr, pki)
    peer = peer_of(s)
    s.sendall(b"good line\n")
    srv.wait_record(("tls", peer, "msg", "good line"))
    raw = socket.socket(fileno=s.detach())
    with raw:
        raw.sendall(b"\x17\x03\x03\x00\x20" + b"garbage!" * 4 + b"plain garbage\n")
        expect_closed(raw)
    recs = wait_disconnect(srv, peer)
    # Assumed: a session broken by a bad record is reason=error.
    assert recs[1:] == [("tls", peer, "msg", "good line"),
                        ("tls", peer, "disconnect", "reason=error msgs=1 bytes=10")]
    no_msg_contains(srv, "garbage")
