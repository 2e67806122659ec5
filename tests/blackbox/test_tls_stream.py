"""Everything a TCP client gets holds over TLS: framing (LF and octet
counting), escaping, --max-line splitting, unterminated tails, the limits
(--max-clients, --max-per-source, --idle-timeout, --allow), backpressure
from an output that is not read, and graceful shutdown.

Assumptions where the SPEC is silent (see the report):
- TCP and TLS clients share the one --max-clients count;
- a refused client (acl, max-clients, max-per-source) is refused before its
  handshake, with only the reject record, PROTO tls.
"""

import signal
import socket
import time

import pytest

import conftest
from conftest import (PEERLOGD, WAIT, Server, msg_records, parse_kv, peer_of,
                      requires_peerlogd, sanitized, tcp_connect, tls_args,
                      tls_connect, tls_context)
from test_backpressure import (RawOutput, Sender, numbered_lines, records_except_msgs,
                               wait_stalled)
from test_escaping import TEXT_ESCAPES
from tlshelp import (close_notify, expect_closed, refused_attempt, send_close_notify,
                     tls_session, wait_disconnect)

pytestmark = requires_peerlogd


@pytest.fixture(scope="module")
def tls_server(pki, tmp_path_factory):
    if not PEERLOGD:
        pytest.skip("PEERLOGD is not set")
    s = Server(tls_args(pki), tmp_dir=tmp_path_factory.mktemp("tls_stream"))
    yield s
    s.kill()


@pytest.fixture(scope="module")
def tls4_server(pki, tmp_path_factory):
    """--max-line 4."""
    if not PEERLOGD:
        pytest.skip("PEERLOGD is not set")
    s = Server(tls_args(pki, "--max-line", "4"), tmp_dir=tmp_path_factory.mktemp("tls4"))
    yield s
    s.kill()


@pytest.fixture(scope="module")
def octet_server(pki, tmp_path_factory):
    """--framing octet on a TLS listener, --max-line 4."""
    if not PEERLOGD:
        pytest.skip("PEERLOGD is not set")
    s = Server(tls_args(pki, "--framing", "octet", "--max-line", "4"),
               tmp_dir=tmp_path_factory.mktemp("tls_octet"))
    yield s
    s.kill()


def tls_from(src, addr, pki, cert=None, key=None):
    """A TLS client from source address src (127.0.0.2, say) on a port no
    other test used; the handshake is not done yet (do_handshake_on_connect
    off), so that a refusal before it can be seen. Returns (raw socket, ssl
    socket)."""
    for _ in range(100):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind((src, 0))
        port = s.getsockname()[1]
        if port in conftest._USED_PORTS:
            s.close()
            continue
        conftest._USED_PORTS.add(port)
        s.settimeout(WAIT)
        s.connect(addr)
        ctx = tls_context(pki, cert, key)
        return ctx.wrap_socket(s, server_hostname="localhost",
                               do_handshake_on_connect=False)
    raise RuntimeError("no fresh loopback port")


def msgs(recs):
    return [(r[2], r[3]) for r in msg_records(recs)]


# ---- LF framing and escaping ----

def test_crlf_empty_lines_and_unterminated_tail(tls_server, pki):
    data = b"a\r\n\r\n\nb\rc\nlast without lf"
    peer, recs, detail = tls_session(tls_server, pki, data)
    assert recs == [("tls", peer, "connect", detail),
                    ("tls", peer, "msg", "a"), ("tls", peer, "msg", ""),
                    ("tls", peer, "msg", ""), ("tls", peer, "msg", "b\\rc"),
                    ("tls", peer, "msg", "last without lf"),
                    ("tls", peer, "disconnect", f"reason=eof msgs=5 bytes={len(data)}")]


def test_tail_without_close_notify_is_still_a_message(tls_server, pki):
    peer, recs, detail = tls_session(tls_server, pki, b"x\ntail", notify=False)
    assert msgs(recs) == [("msg", "x"), ("msg", "tail")]
    assert recs[-1] in [("tls", peer, "disconnect", f"reason={r} msgs=2 bytes=6")
                        for r in ("eof", "reset")]


@pytest.mark.parametrize("sent,detail", TEXT_ESCAPES,
                         ids=[repr(s)[2:-1] for s, _ in TEXT_ESCAPES])
def test_tls_message_is_escaped(tls_server, pki, sent, detail):
    peer, recs, _ = tls_session(tls_server, pki, sent + b"\n")
    assert recs[1:] == [("tls", peer, "msg", detail),
                        ("tls", peer, "disconnect",
                         f"reason=eof msgs=1 bytes={len(sent) + 1}")]


def test_every_byte_value_over_tls(tls_server, pki):
    line = bytes(range(256)).replace(b"\n", b"")
    peer, recs, _ = tls_session(tls_server, pki, line + b"\n")
    expect = "".join(
        "\\\\" if b == 0x5c else
        "\\t" if b == 0x09 else "\\r" if b == 0x0d else
        chr(b) if 0x20 <= b < 0x7f else f"\\x{b:02x}" for b in line)
    assert recs[1] == ("tls", peer, "msg", expect)


@pytest.mark.parametrize("sent,pieces", [
    (b"abcdefghij\n", [("msg+", "abcd"), ("msg+", "efgh"), ("msg", "ij")]),
    (b"abcd\n", [("msg", "abcd")]),
    (b"abcde\r\n", [("msg+", "abcd"), ("msg", "e")]),
    (b"abcdefgh", [("msg+", "abcd"), ("msg", "efgh")]),
    (b"ab\ncdefghi", [("msg", "ab"), ("msg+", "cdef"), ("msg", "ghi")]),
], ids=["2.5x", "exact", "crlf", "tail-2x", "line-then-tail"])
def test_max_line_splits_over_tls(tls4_server, pki, sent, pieces):
    peer, recs, _ = tls_session(tls4_server, pki, sent)
    assert msgs(recs) == pieces
    assert recs[-1] == ("tls", peer, "disconnect",
                        f"reason=eof msgs={len(pieces)} bytes={len(sent)}")


def test_max_line_split_sent_byte_by_byte(tls4_server, pki):
    sent = b"abcdefghij\nk\n"
    peer, recs, _ = tls_session(tls4_server, pki, [bytes([b]) for b in sent])
    assert msgs(recs) == [("msg+", "abcd"), ("msg+", "efgh"), ("msg", "ij"), ("msg", "k")]


# ---- octet counting ----

def frame(msg):
    return b"%d %s" % (len(msg), msg)


def test_octet_frames_over_tls(octet_server, pki):
    sent = frame(b"hi") + frame(b"a\nb") + frame(b"abcdef") + b"10 abc"
    peer, recs, detail = tls_session(octet_server, pki, sent)
    assert recs == [("tls", peer, "connect", detail),
                    ("tls", peer, "msg", "hi"), ("tls", peer, "msg", "a\\nb"),
                    ("tls", peer, "msg+", "abcd"), ("tls", peer, "msg", "ef"),
                    ("tls", peer, "msg", "abc"),
                    ("tls", peer, "disconnect", f"reason=eof msgs=5 bytes={len(sent)}")]


def test_octet_frames_split_at_every_point(octet_server, pki):
    stream = frame(b"hell") + frame(b"x") + frame(b"a\nb")
    for k in range(1, len(stream)):
        peer, recs, _ = tls_session(octet_server, pki, [stream[:k], stream[k:]])
        assert msgs(recs) == [("msg", "hell"), ("msg", "x"), ("msg", "a\\nb")], \
            f"split at {k}"


@pytest.mark.parametrize("sent,before", [
    (b"x", []),
    (b"05 hello", []),
    (b"1234567890 abcdefghij", []),
    (frame(b"ok") + b"\n" + frame(b"no"), ["ok"]),
], ids=["letter", "leading-0", "10-digits", "lf-between"])
def test_octet_bad_count_over_tls_is_reason_framing(octet_server, pki, sent, before):
    with tls_connect(octet_server.tls_addr, pki) as s:
        peer = peer_of(s)
        s.sendall(sent)
        recs = wait_disconnect(octet_server, peer)
        expect_closed(s)
    assert recs[1:] == [("tls", peer, "msg", m) for m in before] + [
        ("tls", peer, "disconnect",
         f"reason=framing msgs={len(before)} bytes={len(sent)}")]


# ---- limits ----

def test_max_clients_counts_tls_clients(start_server, pki):
    srv = start_server(*tls_args(pki, "--max-clients", "2"))
    admitted = [tls_connect(srv.tls_addr, pki) for _ in range(2)]
    try:
        peers = [peer_of(c) for c in admitted]
        for p in peers:
            srv.wait_event(p, "connect")
        rejected = []
        for _ in range(3):
            rp, done = refused_attempt(srv.tls_addr, pki)
            srv.wait_record(("tls", rp, "reject", "reason=max-clients"))
            rejected.append(rp)
        for i, c in enumerate(admitted):
            c.sendall(f"admitted {i}\n".encode())
            close_notify(c)
        for i, p in enumerate(peers):
            recs = wait_disconnect(srv, p)
            assert recs[1:] == [("tls", p, "msg", f"admitted {i}"),
                                ("tls", p, "disconnect", "reason=eof msgs=1 bytes=11")]
        for rp in rejected:
            assert srv.of(rp) == [("tls", rp, "reject", "reason=max-clients")]
        # The slots are free again.
        p3, recs, _ = tls_session(srv, pki, b"later\n")
        assert recs[1] == ("tls", p3, "msg", "later")
    finally:
        for c in admitted:
            c.close()


def test_max_clients_is_one_count_for_tcp_and_tls(start_server, pki):
    srv = start_server("-t", "127.0.0.1:0", *tls_args(pki, "--max-clients", "2"))
    t = tcp_connect(srv.tcp_addr)
    s = tls_connect(srv.tls_addr, pki)
    try:
        srv.wait_event(peer_of(t), "connect")
        srv.wait_event(peer_of(s), "connect")
        rp, _ = refused_attempt(srv.tls_addr, pki)
        srv.wait_record(("tls", rp, "reject", "reason=max-clients"))
        with tcp_connect(srv.tcp_addr) as t2:
            tp2 = peer_of(t2)
            srv.wait_record(("tcp", tp2, "reject", "reason=max-clients"))
    finally:
        t.close()
        s.close()


def test_max_per_source_over_tls(start_server, pki):
    srv = start_server(*tls_args(pki, "--max-per-source", "1"))
    a = tls_connect(srv.tls_addr, pki)
    b = tls_from("127.0.0.2", srv.tls_addr, pki)
    try:
        b.do_handshake()
        pa, pb = peer_of(a), peer_of(b)
        assert pb.startswith("127.0.0.2:")
        srv.wait_event(pa, "connect")
        srv.wait_event(pb, "connect")
        rp, _ = refused_attempt(srv.tls_addr, pki)
        srv.wait_record(("tls", rp, "reject", "reason=max-per-source"))
        assert srv.of(rp) == [("tls", rp, "reject", "reason=max-per-source")]
        b.sendall(b"from two\n")
        srv.wait_record(("tls", pb, "msg", "from two"))
    finally:
        a.close()
        b.close()


def test_idle_timeout_closes_a_silent_tls_client(start_server, pki):
    srv = start_server(*tls_args(pki, "--idle-timeout", "1"))
    talker = tls_connect(srv.tls_addr, pki)
    silent = tls_connect(srv.tls_addr, pki)
    try:
        pt, ps = peer_of(talker), peer_of(silent)
        srv.wait_event(pt, "connect")
        srv.wait_event(ps, "connect")
        sent = 0
        deadline = time.monotonic() + WAIT + 1
        while not any(r[2] == "disconnect" for r in srv.of(ps)):
            talker.sendall(f"tick {sent}\n".encode())
            sent += 1
            assert time.monotonic() < deadline, "the silent client was never closed"
            time.sleep(0.2)
        expect_closed(silent)
        assert srv.of(ps)[1:] == [("tls", ps, "disconnect", "reason=timeout msgs=0 bytes=0")]
        talker.sendall(b"still here\n")
        srv.wait_record(("tls", pt, "msg", "still here"))
        assert [r[2] for r in srv.of(pt)] == ["connect"] + ["msg"] * (sent + 1)
    finally:
        talker.close()
        silent.close()


def test_allow_over_tls(start_server, pki):
    srv = start_server(*tls_args(pki, "--allow", "127.0.0.2/32"))
    # From 127.0.0.1: outside, refused before any handshake.
    rp, done = refused_attempt(srv.tls_addr, pki)
    assert not done
    srv.wait_record(("tls", rp, "reject", "reason=acl"))
    # From 127.0.0.2: inside, served.
    s = tls_from("127.0.0.2", srv.tls_addr, pki)
    with s:
        s.do_handshake()
        peer = peer_of(s)
        s.sendall(b"inside\n")
        close_notify(s)
    recs = wait_disconnect(srv, peer)
    assert recs[1:] == [("tls", peer, "msg", "inside"),
                        ("tls", peer, "disconnect", "reason=eof msgs=1 bytes=7")]
    assert srv.of(rp) == [("tls", rp, "reject", "reason=acl")]


# ---- backpressure ----

def tls_msgs_of(bodies, peer):
    head = f"tls {peer} msg ".encode()
    return [b[len(head):] for b in bodies if b.startswith(head)]


def test_unread_output_pauses_a_tls_client_without_loss(start_server, pki):
    count = 300_000  # 30 MB of lines, far past every buffer on the way
    srv = start_server(*tls_args(pki), output="rawpipe")
    out = RawOutput(srv)
    c = tls_connect(srv.tls_addr, pki)
    peer = peer_of(c)
    sender = Sender(c, count)
    sender.start()
    try:
        peak = wait_stalled(sender, srv)
        assert sender.sent < count * 100
        if not sanitized():
            # Paused: what is held stays bounded (TLS adds its libraries).
            assert peak < 24 * 1024, f"VmRSS {peak} kB with the output not read"
        out.read_until(lambda o: not sender.is_alive(), "the sender to finish",
                       timeout=3 * WAIT)
        assert sender.error is None, sender.error
        # Every line is logged while the client stays open and silent: what
        # OpenSSL had read ahead when input paused is not left waiting for
        # the socket to become readable again.
        last = numbered_lines(count - 1, 1)[:-1]
        out.read_until(lambda o: o.has(f" tls {peer} msg ".encode() + last + b"\n"),
                       "the last line before any close", timeout=2 * WAIT)
        send_close_notify(c)
        out.read_until(lambda o: o.has(f" tls {peer} disconnect ".encode()), "the disconnect")
        srv.send_signal(signal.SIGTERM)
        out.read_until(lambda o: o.eof, "end of output")
        assert srv.wait_exit() == 0
        bodies = out.bodies()
        got = tls_msgs_of(bodies, peer)
        want = numbered_lines(0, count).split(b"\n")[:-1]
        assert len(got) == count
        assert got == want
        recs = records_except_msgs(bodies)
        assert [r for r in recs if r[1] == peer][1:] == [
            ("tls", peer, "disconnect", f"reason=eof msgs={count} bytes={count * 100}")]
    finally:
        c.close()
        sender.join(WAIT)


def test_a_burst_is_logged_whole_while_the_client_stays_open(tls_server, pki):
    # 4 MB in one write and then silence: the last lines come out of what
    # OpenSSL read ahead, with no more bytes on the socket to wake the server.
    lines = [b"%07d " % i + b"z" * 200 for i in range(20000)]
    with tls_connect(tls_server.tls_addr, pki) as s:
        peer = peer_of(s)
        s.sendall(b"\n".join(lines) + b"\n")
        tls_server.wait_record(("tls", peer, "msg", lines[-1].decode()), timeout=3 * WAIT)
        got = [r[3] for r in tls_server.of(peer) if r[2] == "msg"]
        assert got == [l.decode() for l in lines]
        close_notify(s)
    recs = wait_disconnect(tls_server, peer)
    assert recs[-1][3] == f"reason=eof msgs=20000 bytes={sum(len(l) + 1 for l in lines)}"


# ---- graceful shutdown ----

def test_shutdown_logs_tls_tails_and_open_clients(start_server, pki):
    srv = start_server(*tls_args(pki))
    a = tls_connect(srv.tls_addr, pki)
    b = tls_connect(srv.tls_addr, pki)
    try:
        pa, pb = peer_of(a), peer_of(b)
        a.sendall(b"one\r\nunfinished tail")
        b.sendall(b"x\n")
        srv.wait_record(("tls", pa, "msg", "one"))
        srv.wait_record(("tls", pb, "msg", "x"))
        rc, recs, _ = srv.stop(signal.SIGTERM)
        assert rc == 0
        assert [r for r in recs if r[1] == pa][1:] == [
            ("tls", pa, "msg", "one"), ("tls", pa, "msg", "unfinished tail"),
            ("tls", pa, "disconnect", "reason=shutdown msgs=2 bytes=20")]
        assert [r for r in recs if r[1] == pb][1:] == [
            ("tls", pb, "msg", "x"),
            ("tls", pb, "disconnect", "reason=shutdown msgs=1 bytes=2")]
        assert recs[-1] == ("-", "-", "stop", "signal=SIGTERM")
        # The server closed both connections.
        for s in (a, b):
            expect_closed(s)
    finally:
        a.close()
        b.close()


def test_shutdown_logs_every_decrypted_byte_of_a_burst(start_server, pki):
    srv = start_server(*tls_args(pki))
    lines = [f"burst line {i:05d}".encode() for i in range(20000)]
    c = tls_connect(srv.tls_addr, pki)
    try:
        peer = peer_of(c)
        c.sendall(b"\n".join(lines) + b"\n")
        srv.wait_record(("tls", peer, "msg", "burst line 00000"))
        rc, recs, _ = srv.stop()
    finally:
        c.close()
    assert rc == 0
    mine = [r for r in recs if r[1] == peer]
    got = [r[3] for r in mine if r[2] == "msg"]
    # Whatever the server had decrypted, it counted and logged; a last line
    # cut short is logged as a tail.
    full = [l.decode() for l in lines]
    n = len(got)
    assert got[:n - 1] == full[:n - 1]
    assert full[n - 1].startswith(got[-1])
    kv = parse_kv(mine[-1][3])
    assert mine[-1][2] == "disconnect" and kv["reason"] == "shutdown"
    assert int(kv["msgs"]) == n
    counted = sum(len(l) + 1 for l in lines[:n - 1]) + len(got[-1])
    assert int(kv["bytes"]) in (counted, counted + 1)
    assert recs[-1] == ("-", "-", "stop", "signal=SIGTERM")


def test_shutdown_with_tls_clients_mid_handshake(start_server, pki):
    # A client in its handshake at shutdown holds nothing up, and (the
    # server's choice, docs/design.md) is closed without a record.
    srv = start_server(*tls_args(pki))
    c = tcp_connect(srv.tls_addr)
    try:
        c.sendall(b"\x16\x03\x01")
        s = tls_connect(srv.tls_addr, pki)
        srv.wait_event(peer_of(s), "connect")
        rc, recs, _ = srv.stop()
        assert rc == 0
        assert recs[-1] == ("-", "-", "stop", "signal=SIGTERM")
        assert [r for r in recs if r[1] == peer_of(s)][-1] == \
            ("tls", peer_of(s), "disconnect", "reason=shutdown msgs=0 bytes=0")
        assert [r for r in recs if r[1] == peer_of(c)] == []
        s.close()
    finally:
        c.close()
