"""The PROXY protocol (--proxy CIDR): headers v1 and v2 built here, on TCP
and TLS listeners, from trusted and untrusted sources.

What the SPEC and the lead's brief fix, asserted exactly:
- the records' PEER is the client the header names; the connect DETAIL ends
  with `via=PROXYADDR` (after tls=/cipher= on TLS; JSON "via");
- v2 LOCAL, v1 UNKNOWN (and a v2 family it does not take, UNSPEC): served
  as the proxy's own address, with no via=;
- the header's bytes are not in bytes=;
- --allow judges the named client (`reject reason=acl`, PEER the client);
- missing, malformed, overlong or too slow: `reject reason=proxy` with
  PEER the proxy's address, the connection closed, no connect, no msg, no
  disconnect; the DETAIL is `reason=proxy error=TEXT` (the server adds the
  parser's phrase as TLS rejects do; the SPEC names only reason=proxy);
- a source outside every --proxy CIDR: its bytes are data.
"""

import itertools
import re
import socket
import ssl
import time

import pytest

from conftest import (PEERLOGD, WAIT, Server, group_alive, needs_ipv6, peer_of,
                      requires_peerlogd, run_peerlogd, tcp_connect, tls_args,
                      tls_context)
from proxyhelp import (LOCAL, PP2_TYPE_ALPN, PP2_TYPE_AUTHORITY, PP2_TYPE_NOOP,
                       TCP4, TCP6, UDP4, UNIX_STREAM, UNSPEC, expect_closed,
                       finish, send_bytewise, tlv, v1, v1_unknown, v2)

pytestmark = requires_peerlogd

TRUST = ("--proxy", "127.0.0.0/8")

# Client ports named in headers: unique within the session, so the records
# of one test never belong to another's peer.
_ports = itertools.count(20001)


def named(host="192.0.2.10"):
    """(host, port, PEER text) of a fresh client for a header to name."""
    port = next(_ports)
    text = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return host, port, text


@pytest.fixture(scope="module")
def psrv(tmp_path_factory):
    """A text server whose TCP listener trusts 127.0.0.0/8."""
    if not PEERLOGD:
        pytest.skip("PEERLOGD is not set")
    s = Server(("-t", "127.0.0.1:0") + TRUST, tmp_dir=tmp_path_factory.mktemp("proxy"))
    yield s
    stop_clean(s)


def stop_clean(srv):
    """SIGTERM a module's server: exit 0 and nothing on stderr but the
    listening lines (a sanitizer build reports leaks and errors there)."""
    try:
        rc, _, err = srv.stop()
        lines = [l for l in err.split("\n") if l and not l.startswith("peerlogd: listening ")]
        assert rc == 0 and lines == [], (rc, err)
    finally:
        srv.kill()


def session(srv, writes, peer, *, addr=None, bytewise=False):
    """Connect to srv's TCP listener (or addr), send writes (a list of
    bytes, each one write), half-close, wait for PEER's disconnect; return
    (the proxy's own address text, PEER's records)."""
    with tcp_connect(addr or srv.tcp_addr) as c:
        via = peer_of(c)
        for i, w in enumerate(writes):
            if i:
                time.sleep(0.02)
            if bytewise:
                send_bytewise(c, w)
            else:
                c.sendall(w)
        finish(c)
    srv.wait_event(peer, "disconnect")
    return via, srv.of(peer)


def expect_reject(srv, writes, *, reason="proxy", close=False, addr=None,
                  wait_close=True):
    """Send writes from a fresh client, expect one `reject reason=REASON`
    record under the client's own address (the proxy) and the connection
    closed; return the proxy's address text."""
    with tcp_connect(addr or srv.tcp_addr) as c:
        via = peer_of(c)
        for w in writes:
            try:
                c.sendall(w)
            except OSError:
                break
        if close:
            c.shutdown(socket.SHUT_WR)
        srv.wait_event(via, "reject")
        if wait_close:
            expect_closed(c)
    assert_reject(srv, "tcp", via, reason)
    return via


# A PROXY reject's DETAIL: reason=proxy and, as for reason=tls, error=TEXT
# (the parser's phrase, escaped like a message: one word).
PROXY_REJECT_RE = re.compile(r"reason=proxy error=\S+")


def assert_reject(srv, proto, peer, reason="proxy"):
    """peer's records are exactly one reject of reason (for proxy: with an
    error= word); return its DETAIL."""
    recs = srv.of(peer)
    assert len(recs) == 1 and recs[0][:3] == (proto, peer, "reject"), recs
    if reason == "proxy":
        assert PROXY_REJECT_RE.fullmatch(recs[0][3]), recs
    else:
        assert recs[0][3] == f"reason={reason}", recs
    return recs[0][3]


def no_records_of(srv, *peers):
    """Nothing was logged under any of peers, and no msg record holds
    'secret' (the data sent after a bad header)."""
    recs = srv.records()
    assert [r for r in recs if r[1] in peers] == []
    assert [r for r in recs if r[2] in ("msg", "msg+") and "secret" in r[3]] == []


# ---- v1 ----

def test_v1_tcp4_exact_records(psrv):
    host, port, peer = named()
    hdr = v1(host, "192.0.2.200", port, 514)
    via, recs = session(psrv, [hdr, b"hello world\r\nbye\n"], peer)
    assert recs == [
        ("tcp", peer, "connect", f"via={via}"),
        ("tcp", peer, "msg", "hello world"),
        ("tcp", peer, "msg", "bye"),
        ("tcp", peer, "disconnect", "reason=eof msgs=2 bytes=17"),
    ]
    assert via.startswith("127.0.0.1:")
    assert psrv.of(via) == []


def test_v1_tcp6_names_an_ipv6_client_over_ipv4(psrv):
    host, port, peer = named("2001:db8::7")
    hdr = v1(host, "2001:db8::1", port, 514)
    via, recs = session(psrv, [hdr + b"six\n"], peer)
    assert recs == [
        ("tcp", peer, "connect", f"via={via}"),
        ("tcp", peer, "msg", "six"),
        ("tcp", peer, "disconnect", "reason=eof msgs=1 bytes=4"),
    ]


def test_v1_tcp6_ipv4_mapped_client_is_shown_as_ipv4(psrv):
    port = next(_ports)
    hdr = v1("::ffff:192.0.2.33", "::ffff:192.0.2.1", port, 514)
    peer = f"192.0.2.33:{port}"
    via, recs = session(psrv, [hdr + b"m\n"], peer)
    assert recs == [
        ("tcp", peer, "connect", f"via={via}"),
        ("tcp", peer, "msg", "m"),
        ("tcp", peer, "disconnect", "reason=eof msgs=1 bytes=2"),
    ]


def test_v1_bare_lf_ends_the_header(psrv):
    host, port, peer = named()
    hdr = v1(host, "192.0.2.200", port, 514, eol=b"\n")
    via, recs = session(psrv, [hdr + b"lf only\n"], peer)
    assert recs == [
        ("tcp", peer, "connect", f"via={via}"),
        ("tcp", peer, "msg", "lf only"),
        ("tcp", peer, "disconnect", "reason=eof msgs=1 bytes=8"),
    ]


@pytest.mark.parametrize("rest", [b"", b" 192.0.2.1 192.0.2.2 1 2", b" anything at all"])
def test_v1_unknown_is_served_as_the_proxy(psrv, rest):
    with tcp_connect(psrv.tcp_addr) as c:
        me = peer_of(c)
        c.sendall(v1_unknown(rest) + b"check\n")
        finish(c)
    psrv.wait_event(me, "disconnect")
    assert psrv.of(me) == [
        ("tcp", me, "connect"),
        ("tcp", me, "msg", "check"),
        ("tcp", me, "disconnect", "reason=eof msgs=1 bytes=6"),
    ]


def test_v1_unknown_of_107_bytes_is_taken(psrv):
    hdr = v1_unknown(b" " + b"x" * (107 - len(v1_unknown()) - 1))
    assert len(hdr) == 107
    with tcp_connect(psrv.tcp_addr) as c:
        me = peer_of(c)
        c.sendall(hdr + b"edge\n")
        finish(c)
    psrv.wait_event(me, "disconnect")
    assert psrv.of(me) == [
        ("tcp", me, "connect"),
        ("tcp", me, "msg", "edge"),
        ("tcp", me, "disconnect", "reason=eof msgs=1 bytes=5"),
    ]


def test_v1_longest_tcp6_header(psrv):
    port = 65535
    src = "fe80:ffff:ffff:ffff:ffff:ffff:ffff:fff1"
    hdr = v1(src, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", port, 65535)
    assert len(hdr) == 104
    peer = f"[{src}]:{port}"
    via, recs = session(psrv, [hdr + b"long\n"], peer)
    assert recs == [
        ("tcp", peer, "connect", f"via={via}"),
        ("tcp", peer, "msg", "long"),
        ("tcp", peer, "disconnect", "reason=eof msgs=1 bytes=5"),
    ]


def test_v1_header_byte_by_byte_then_data_byte_by_byte(psrv):
    host, port, peer = named()
    via, recs = session(psrv, [v1(host, "192.0.2.200", port, 514), b"slow\nline\n"],
                        peer, bytewise=True)
    assert recs == [
        ("tcp", peer, "connect", f"via={via}"),
        ("tcp", peer, "msg", "slow"),
        ("tcp", peer, "msg", "line"),
        ("tcp", peer, "disconnect", "reason=eof msgs=2 bytes=10"),
    ]


def test_v1_header_split_mid_crlf_and_data_in_the_same_write(psrv):
    host, port, peer = named()
    hdr = v1(host, "192.0.2.200", port, 514)
    via, recs = session(psrv, [hdr[:-1], b"\nfirst\nsec", b"ond\n"], peer)
    assert recs == [
        ("tcp", peer, "connect", f"via={via}"),
        ("tcp", peer, "msg", "first"),
        ("tcp", peer, "msg", "second"),
        ("tcp", peer, "disconnect", "reason=eof msgs=2 bytes=13"),
    ]


def test_header_only_then_eof(psrv):
    host, port, peer = named()
    via, recs = session(psrv, [v1(host, "192.0.2.200", port, 514)], peer)
    assert recs == [
        ("tcp", peer, "connect", f"via={via}"),
        ("tcp", peer, "disconnect", "reason=eof msgs=0 bytes=0"),
    ]


def test_a_second_header_after_the_first_is_data(psrv):
    host, port, peer = named()
    hdr = v1(host, "192.0.2.200", port, 514)
    via, recs = session(psrv, [hdr + hdr], peer)
    assert recs == [
        ("tcp", peer, "connect", f"via={via}"),
        ("tcp", peer, "msg", hdr[:-2].decode()),
        ("tcp", peer, "disconnect", f"reason=eof msgs=1 bytes={len(hdr)}"),
    ]


# ---- v2 ----

def test_v2_tcp4_exact_records(psrv):
    host, port, peer = named()
    via, recs = session(psrv, [v2(host, "192.0.2.200", port, 6514) + b"v2 line\n"], peer)
    assert recs == [
        ("tcp", peer, "connect", f"via={via}"),
        ("tcp", peer, "msg", "v2 line"),
        ("tcp", peer, "disconnect", "reason=eof msgs=1 bytes=8"),
    ]


def test_v2_tcp6(psrv):
    host, port, peer = named("2001:db8::42")
    via, recs = session(psrv, [v2(host, "2001:db8::1", port, 6514), b"x\n"], peer)
    assert recs == [
        ("tcp", peer, "connect", f"via={via}"),
        ("tcp", peer, "msg", "x"),
        ("tcp", peer, "disconnect", "reason=eof msgs=1 bytes=2"),
    ]


def test_v2_tlvs_are_skipped(psrv):
    host, port, peer = named()
    tlvs = (tlv(PP2_TYPE_ALPN, b"syslog") + tlv(PP2_TYPE_AUTHORITY, b"logs.example")
            + tlv(PP2_TYPE_NOOP, b"\x00" * 7) + tlv(0xE0, b"\n\nnot a line\n")
            + tlv(PP2_TYPE_NOOP, b""))
    via, recs = session(psrv, [v2(host, "192.0.2.200", port, 6514, tlvs=tlvs)
                               + b"after tlvs\n"], peer)
    assert recs == [
        ("tcp", peer, "connect", f"via={via}"),
        ("tcp", peer, "msg", "after tlvs"),
        ("tcp", peer, "disconnect", "reason=eof msgs=1 bytes=11"),
    ]


def test_v2_of_the_largest_length_is_taken(psrv):
    host, port, peer = named()
    base = v2(host, "192.0.2.200", port, 6514)
    pad = 2048 - (len(base) - 16) - 3
    hdr = v2(host, "192.0.2.200", port, 6514, tlvs=tlv(PP2_TYPE_NOOP, b"\xff" * pad))
    assert len(hdr) == 16 + 2048
    via, recs = session(psrv, [hdr + b"big\n"], peer)
    assert recs == [
        ("tcp", peer, "connect", f"via={via}"),
        ("tcp", peer, "msg", "big"),
        ("tcp", peer, "disconnect", "reason=eof msgs=1 bytes=4"),
    ]


def test_v2_byte_by_byte(psrv):
    host, port, peer = named("2001:db8::43")
    hdr = v2(host, "2001:db8::1", port, 6514, tlvs=tlv(PP2_TYPE_NOOP, b"ab"))
    via, recs = session(psrv, [hdr + b"one\ntwo"], peer, bytewise=True)
    assert recs == [
        ("tcp", peer, "connect", f"via={via}"),
        ("tcp", peer, "msg", "one"),
        ("tcp", peer, "msg", "two"),
        ("tcp", peer, "disconnect", "reason=eof msgs=2 bytes=7"),
    ]


@pytest.mark.parametrize("hdr", [
    pytest.param(v2(cmd=LOCAL), id="local"),
    pytest.param(v2("192.0.2.1", "192.0.2.2", 1, 2, cmd=LOCAL), id="local-with-addresses"),
    pytest.param(v2(fam=UNSPEC), id="proxy-unspec"),
    pytest.param(v2(fam=UNSPEC, tlvs=tlv(PP2_TYPE_NOOP, b"zz")), id="proxy-unspec-tlv"),
    pytest.param(v2(body=b"\x01" * 12, fam=UDP4), id="proxy-udp4"),
    pytest.param(v2(body=b"/tmp/a".ljust(108, b"\0") + b"/tmp/b".ljust(108, b"\0"),
                    fam=UNIX_STREAM), id="proxy-unix"),
])
def test_v2_local_and_untaken_families_are_served_as_the_proxy(psrv, hdr):
    with tcp_connect(psrv.tcp_addr) as c:
        me = peer_of(c)
        c.sendall(hdr + b"health\n")
        finish(c)
    psrv.wait_event(me, "disconnect")
    assert psrv.of(me) == [
        ("tcp", me, "connect"),
        ("tcp", me, "msg", "health"),
        ("tcp", me, "disconnect", "reason=eof msgs=1 bytes=7"),
    ]


def test_v2_local_then_eof_is_a_quiet_health_check(psrv):
    with tcp_connect(psrv.tcp_addr) as c:
        me = peer_of(c)
        c.sendall(v2(cmd=LOCAL))
        finish(c)
    psrv.wait_event(me, "disconnect")
    assert psrv.of(me) == [
        ("tcp", me, "connect"),
        ("tcp", me, "disconnect", "reason=eof msgs=0 bytes=0"),
    ]


# ---- JSON ----

def test_json_connect_has_via(start_server):
    srv = start_server("-t", "127.0.0.1:0", *TRUST, fmt="json")
    host, port, peer = named("2001:db8::44")
    with tcp_connect(srv.tcp_addr) as c:
        via = peer_of(c)
        c.sendall(v2(host, "2001:db8::1", port, 514) + b"j\n")
        finish(c)
    srv.wait_for(lambda rs: any(r["peer"] == peer and r["event"] == "disconnect"
                                for r in rs), "disconnect")
    recs = [{k: v for k, v in r.items() if k != "ts"} for r in srv.json_records()
            if r["peer"] == peer]
    head = {"proto": "tcp", "peer": peer}
    assert recs[0] == {**head, "event": "connect", "via": via}
    assert list(recs[0]) == ["proto", "peer", "event", "via"]
    assert [(r["event"], r.get("msg")) for r in recs[1:]] == [("msg", "j"),
                                                            ("disconnect", None)]
    assert recs[2]["reason"] == "eof" and recs[2]["msgs"] == 1 and recs[2]["bytes"] == 2
    assert not any(r["peer"] == via for r in srv.json_records())


def test_json_local_has_no_via(start_server):
    srv = start_server("-t", "127.0.0.1:0", *TRUST, fmt="json")
    with tcp_connect(srv.tcp_addr) as c:
        me = peer_of(c)
        c.sendall(v2(cmd=LOCAL))
        finish(c)
    srv.wait_for(lambda rs: any(r["peer"] == me and r["event"] == "disconnect"
                                for r in rs), "disconnect")
    recs = [{k: v for k, v in r.items() if k != "ts"} for r in srv.json_records()
            if r["peer"] == me]
    assert recs == [
        {"proto": "tcp", "peer": me, "event": "connect"},
        {"proto": "tcp", "peer": me, "event": "disconnect", "reason": "eof", "msgs": 0,
         "bytes": 0},
    ]


# ---- IPv6 listener ----

@needs_ipv6
def test_ipv6_proxy_on_an_ipv6_listener(start_server):
    srv = start_server("-t", "[::1]:0", "--proxy", "::1/128")
    host, port, peer = named()
    with tcp_connect(srv.tcp_addr) as c:
        via = peer_of(c)
        c.sendall(v1(host, "192.0.2.200", port, 514) + b"over six\n")
        finish(c)
    srv.wait_event(peer, "disconnect")
    assert via.startswith("[::1]:")
    assert srv.of(peer) == [
        ("tcp", peer, "connect", f"via={via}"),
        ("tcp", peer, "msg", "over six"),
        ("tcp", peer, "disconnect", "reason=eof msgs=1 bytes=9"),
    ]
    host6, port6, peer6 = named("2001:db8::45")
    with tcp_connect(srv.tcp_addr) as c:
        via6 = peer_of(c)
        c.sendall(v2(host6, "2001:db8::1", port6, 514) + b"v2 over six\n")
        finish(c)
    srv.wait_event(peer6, "disconnect")
    assert srv.of(peer6) == [
        ("tcp", peer6, "connect", f"via={via6}"),
        ("tcp", peer6, "msg", "v2 over six"),
        ("tcp", peer6, "disconnect", "reason=eof msgs=1 bytes=12"),
    ]


@needs_ipv6
def test_ipv4_trust_does_not_cover_an_ipv6_source(start_server):
    srv = start_server("-t", "[::1]:0", *TRUST)
    host, port, _ = named()
    hdr = v1(host, "192.0.2.200", port, 514)
    with tcp_connect(srv.tcp_addr) as c:
        me = peer_of(c)
        c.sendall(hdr + b"data\n")
        finish(c)
    srv.wait_event(me, "disconnect")
    assert srv.of(me) == [
        ("tcp", me, "connect"),
        ("tcp", me, "msg", hdr[:-2].decode()),
        ("tcp", me, "msg", "data"),
        ("tcp", me, "disconnect", f"reason=eof msgs=2 bytes={len(hdr) + 5}"),
    ]


# ---- untrusted sources ----

def test_untrusted_source_header_is_data(start_server):
    srv = start_server("-t", "127.0.0.1:0", "--proxy", "10.0.0.0/8")
    host, port, peer = named()
    hdr = v1(host, "192.0.2.200", port, 514)
    with tcp_connect(srv.tcp_addr) as c:
        me = peer_of(c)
        c.sendall(hdr + b"hello\n")
        finish(c)
    srv.wait_event(me, "disconnect")
    assert srv.of(me) == [
        ("tcp", me, "connect"),
        ("tcp", me, "msg", f"PROXY TCP4 {host} 192.0.2.200 {port} 514"),
        ("tcp", me, "msg", "hello"),
        ("tcp", me, "disconnect", f"reason=eof msgs=2 bytes={len(hdr) + 6}"),
    ]
    assert srv.of(peer) == []


def test_untrusted_source_v2_header_is_data(start_server):
    srv = start_server("-t", "127.0.0.1:0", "--proxy", "10.0.0.0/8")
    hdr = v2("192.0.2.9", "192.0.2.200", 0x4142, 0x4344)
    with tcp_connect(srv.tcp_addr) as c:
        me = peer_of(c)
        c.sendall(hdr + b"\nafter\n")
        finish(c)
    srv.wait_event(me, "disconnect")
    # The signature's own LFs frame it: "\r\n", "\r\n", "\0\r\n", "QUIT\n",
    # then the rest of the header up to the LF sent after it.
    rest = "!\\x11\\x00\\x0c\\xc0\\x00\\x02\\t\\xc0\\x00\\x02\\xc8ABCD"
    assert srv.of(me) == [
        ("tcp", me, "connect"),
        ("tcp", me, "msg", ""),
        ("tcp", me, "msg", ""),
        ("tcp", me, "msg", "\\x00"),
        ("tcp", me, "msg", "QUIT"),
        ("tcp", me, "msg", rest),
        ("tcp", me, "msg", "after"),
        ("tcp", me, "disconnect", f"reason=eof msgs=6 bytes={len(hdr) + 7}"),
    ]


def test_untrusted_plain_client_next_to_trusted_list(start_server):
    """Without a header, a source outside the CIDRs is an ordinary client."""
    srv = start_server("-t", "127.0.0.1:0", "--proxy", "10.0.0.0/8", "--proxy",
                       "192.168.0.0/16")
    with tcp_connect(srv.tcp_addr) as c:
        me = peer_of(c)
        c.sendall(b"plain\n")
        finish(c)
    srv.wait_event(me, "disconnect")
    assert srv.of(me) == [("tcp", me, "connect"), ("tcp", me, "msg", "plain"),
                          ("tcp", me, "disconnect", "reason=eof msgs=1 bytes=6")]


def test_one_of_several_cidrs_trusts(start_server):
    srv = start_server("-t", "127.0.0.1:0", "--proxy", "10.0.0.0/8", "--proxy",
                       "127.0.0.1/32")
    host, port, peer = named()
    via, recs = session(srv, [v1(host, "192.0.2.200", port, 514) + b"t\n"], peer)
    assert recs == [("tcp", peer, "connect", f"via={via}"), ("tcp", peer, "msg", "t"),
                    ("tcp", peer, "disconnect", "reason=eof msgs=1 bytes=2")]


# ---- --allow judges the named client ----

def test_allow_is_applied_to_the_named_client(start_server):
    srv = start_server("-t", "127.0.0.1:0", *TRUST, "--allow", "192.0.2.0/24")
    host, port, peer = named("192.0.2.50")
    via, recs = session(srv, [v1(host, "192.0.2.200", port, 514) + b"ok\n"], peer)
    assert recs == [("tcp", peer, "connect", f"via={via}"), ("tcp", peer, "msg", "ok"),
                    ("tcp", peer, "disconnect", "reason=eof msgs=1 bytes=3")]

    bad_port = next(_ports)
    bad = f"198.51.100.9:{bad_port}"
    with tcp_connect(srv.tcp_addr) as c:
        via2 = peer_of(c)
        c.sendall(v1("198.51.100.9", "192.0.2.200", bad_port, 514) + b"secret\n")
        srv.wait_event(bad, "reject")
        expect_closed(c)
    assert srv.of(bad) == [("tcp", bad, "reject", "reason=acl")]
    no_records_of(srv, via, via2)


def test_allow_v2_ipv6_named_client_rejected(start_server):
    srv = start_server("-t", "127.0.0.1:0", *TRUST, "--allow", "127.0.0.0/8")
    host, port, peer = named("2001:db8::46")
    with tcp_connect(srv.tcp_addr) as c:
        via = peer_of(c)
        c.sendall(v2(host, "2001:db8::1", port, 514) + b"secret\n")
        srv.wait_event(peer, "reject")
        expect_closed(c)
    assert srv.of(peer) == [("tcp", peer, "reject", "reason=acl")]
    no_records_of(srv, via)


# ---- rejected headers ----

GOOD = v1("192.0.2.1", "192.0.2.2", 1000, 514)

V1_BAD = {
    "no-header": b"hello secret\n",
    "http": b"GET / HTTP/1.0\r\n\r\nsecret\n",
    "lowercase": b"proxy tcp4 192.0.2.1 192.0.2.2 1000 514\r\nsecret\n",
    "unknown-proto": b"PROXY TCP5 192.0.2.1 192.0.2.2 1000 514\r\nsecret\n",
    "missing-port": b"PROXY TCP4 192.0.2.1 192.0.2.2 1000\r\nsecret\n",
    "extra-field": b"PROXY TCP4 192.0.2.1 192.0.2.2 1000 514 9\r\nsecret\n",
    "bad-address": b"PROXY TCP4 192.0.2.999 192.0.2.2 1000 514\r\nsecret\n",
    "v6-in-tcp4": b"PROXY TCP4 2001:db8::1 2001:db8::2 1000 514\r\nsecret\n",
    "v4-in-tcp6": b"PROXY TCP6 192.0.2.1 192.0.2.2 1000 514\r\nsecret\n",
    "port-too-big": b"PROXY TCP4 192.0.2.1 192.0.2.2 65536 514\r\nsecret\n",
    "port-sign": b"PROXY TCP4 192.0.2.1 192.0.2.2 +1000 514\r\nsecret\n",
    "port-leading-zero": b"PROXY TCP4 192.0.2.1 192.0.2.2 01000 514\r\nsecret\n",
    "port-not-digits": b"PROXY TCP4 192.0.2.1 192.0.2.2 1x00 514\r\nsecret\n",
    "double-space": b"PROXY  TCP4 192.0.2.1 192.0.2.2 1000 514\r\nsecret\n",
    "tab": b"PROXY TCP4\t192.0.2.1 192.0.2.2 1000 514\r\nsecret\n",
    "cr-alone": b"PROXY TCP4 192.0.2.1 192.0.2.2 1000 514\rsecret\n",
    "nul": b"PROXY TCP4 192.0.2.1\x00 192.0.2.2 1000 514\r\nsecret\n",
    "no-space": b"PROXYTCP4 192.0.2.1 192.0.2.2 1000 514\r\nsecret\n",
    "empty-line": b"\r\nsecret\n",
}


@pytest.mark.parametrize("data", list(V1_BAD.values()), ids=list(V1_BAD))
def test_malformed_v1_is_rejected(start_server, data):
    srv = start_server("-t", "127.0.0.1:0", *TRUST)
    expect_reject(srv, [data])
    no_records_of(srv)


def v2_with_byte(i, value, base=None):
    h = bytearray(base or v2("192.0.2.1", "192.0.2.2", 1000, 514))
    h[i] = value
    return bytes(h)


V2_BAD = {
    "signature": v2_with_byte(11, ord("X")) + b"secret\n",
    "signature-start": v2_with_byte(0, ord("\n")) + b"secret\n",
    "version-1": v2("192.0.2.1", "192.0.2.2", 1000, 514, version=1) + b"secret\n",
    "version-3": v2("192.0.2.1", "192.0.2.2", 1000, 514, version=3) + b"secret\n",
    "command-2": v2_with_byte(12, 0x22) + b"secret\n",
    "command-f": v2_with_byte(12, 0x2F) + b"secret\n",
    "tcp4-length-short": v2(body=b"\xc0\x00\x02\x01" * 2, fam=TCP4) + b"secret\n",
    "tcp6-length-short": v2(body=bytes(32), fam=TCP6) + b"secret\n",
    "tcp6-with-tcp4-length": v2("192.0.2.1", "192.0.2.2", 1000, 514, fam=TCP6)
    + b"secret\n",
    "length-over-2048": v2("192.0.2.1", "192.0.2.2", 1000, 514, length=2049),
    "length-65535": v2("192.0.2.1", "192.0.2.2", 1000, 514, length=65535),
}


@pytest.mark.parametrize("data", list(V2_BAD.values()), ids=list(V2_BAD))
def test_malformed_v2_is_rejected(start_server, data):
    """Also the too-long lengths: decided from the length field alone, the
    2049 bytes are never sent (the default --handshake-timeout is 10 s, the
    wait bound shorter)."""
    srv = start_server("-t", "127.0.0.1:0", *TRUST)
    expect_reject(srv, [data])
    no_records_of(srv)


def test_v1_over_107_bytes_without_lf_is_rejected(start_server):
    srv = start_server("-t", "127.0.0.1:0", *TRUST)
    data = b"PROXY UNKNOWN " + b"x" * 94
    assert len(data) == 108
    expect_reject(srv, [data])
    no_records_of(srv)


def test_v1_of_108_bytes_with_crlf_is_rejected(start_server):
    srv = start_server("-t", "127.0.0.1:0", *TRUST)
    data = v1_unknown(b" " + b"x" * (108 - len(v1_unknown()) - 1))
    assert len(data) == 108
    expect_reject(srv, [data + b"secret\n"])
    no_records_of(srv)


def test_v1_long_garbage_bytewise_is_rejected(start_server):
    srv = start_server("-t", "127.0.0.1:0", *TRUST)
    with tcp_connect(srv.tcp_addr) as c:
        via = peer_of(c)
        try:
            send_bytewise(c, b"PROXY TCP4 " + b"1" * 200)
        except OSError:
            pass
        srv.wait_event(via, "reject")
        expect_closed(c)
    assert_reject(srv, "tcp", via)


@pytest.mark.parametrize("part", [
    pytest.param(GOOD[:20], id="v1-half"),
    pytest.param(GOOD[:-1], id="v1-no-lf"),
    pytest.param(v2("192.0.2.1", "192.0.2.2", 1000, 514)[:10], id="v2-signature-half"),
    pytest.param(v2("192.0.2.1", "192.0.2.2", 1000, 514)[:20], id="v2-body-half"),
    pytest.param(b"", id="nothing"),
])
def test_incomplete_header_then_eof_is_rejected(start_server, part):
    srv = start_server("-t", "127.0.0.1:0", *TRUST)
    expect_reject(srv, [part] if part else [], close=True)
    no_records_of(srv)


@pytest.mark.parametrize("part", [
    pytest.param(GOOD[:20], id="v1-half"),
    pytest.param(v2("192.0.2.1", "192.0.2.2", 1000, 514)[:20], id="v2-half"),
    pytest.param(b"", id="silent"),
])
def test_header_not_complete_in_handshake_timeout_is_rejected(start_server, part):
    srv = start_server("-t", "127.0.0.1:0", *TRUST, "--handshake-timeout", "1")
    with tcp_connect(srv.tcp_addr) as c:
        via = peer_of(c)
        if part:
            c.sendall(part)
        srv.wait_event(via, "reject", timeout=WAIT)
        expect_closed(c)
    assert_reject(srv, "tcp", via)


def test_a_slow_header_within_the_timeout_is_taken(start_server):
    """Byte by byte within --handshake-timeout 2: still one header."""
    srv = start_server("-t", "127.0.0.1:0", *TRUST, "--handshake-timeout", "2")
    host, port, peer = named()
    via, recs = session(srv, [v1(host, "192.0.2.200", port, 514), b"z\n"], peer,
                        bytewise=True)
    assert recs == [("tcp", peer, "connect", f"via={via}"), ("tcp", peer, "msg", "z"),
                    ("tcp", peer, "disconnect", "reason=eof msgs=1 bytes=2")]


def test_a_bad_header_does_not_affect_other_clients(start_server):
    srv = start_server("-t", "127.0.0.1:0", *TRUST)
    host, port, peer = named()
    with tcp_connect(srv.tcp_addr) as good:
        good_via = peer_of(good)
        good.sendall(v1(host, "192.0.2.200", port, 514) + b"before\n")
        srv.wait_record(("tcp", peer, "msg", "before"))
        expect_reject(srv, [b"PROXY TCP4 nonsense\r\nsecret\n"])
        good.sendall(b"after\n")
        finish(good)
    srv.wait_event(peer, "disconnect")
    assert srv.of(peer) == [
        ("tcp", peer, "connect", f"via={good_via}"),
        ("tcp", peer, "msg", "before"),
        ("tcp", peer, "msg", "after"),
        ("tcp", peer, "disconnect", "reason=eof msgs=2 bytes=13"),
    ]


# ---- TLS listeners: the header comes before the handshake ----

def tls_over(raw, ctx):
    return ctx.wrap_socket(raw, server_hostname="localhost")


def tls_expected(s, via):
    return f"tls={s.version()} cipher={s.cipher()[0]} via={via}"


def close_tls(s):
    try:
        s.unwrap()
    except (OSError, ssl.SSLError, ValueError):
        pass


@pytest.fixture(scope="module")
def ptls(pki, tmp_path_factory):
    if not PEERLOGD:
        pytest.skip("PEERLOGD is not set")
    s = Server(tls_args(pki, *TRUST), tmp_dir=tmp_path_factory.mktemp("ptls"))
    yield s
    stop_clean(s)


@pytest.mark.parametrize("make", [
    pytest.param(lambda h, p: v1(h, "192.0.2.200", p, 6514), id="v1"),
    pytest.param(lambda h, p: v2(h, "192.0.2.200", p, 6514,
                                 tlvs=tlv(PP2_TYPE_ALPN, b"x")), id="v2"),
])
def test_tls_header_then_handshake(ptls, pki, make):
    host, port, peer = named()
    raw = tcp_connect(ptls.tls_addr)
    via = peer_of(raw)
    raw.sendall(make(host, port))
    with tls_over(raw, tls_context(pki)) as s:
        detail = tls_expected(s, via)
        s.sendall(b"secure one\nsecure two\n")
        close_tls(s)
    ptls.wait_event(peer, "disconnect")
    assert ptls.of(peer) == [
        ("tls", peer, "connect", detail),
        ("tls", peer, "msg", "secure one"),
        ("tls", peer, "msg", "secure two"),
        ("tls", peer, "disconnect", "reason=eof msgs=2 bytes=22"),
    ]
    assert ptls.of(via) == []


def handshake_with_prefix(raw, ctx, prefix):
    """A TLS handshake over raw whose first write is prefix + the
    ClientHello (one segment: the header and the TLS bytes together)."""
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname="localhost")
    first = True
    while True:
        try:
            obj.do_handshake()
            done = True
        except ssl.SSLWantReadError:
            done = False
        data = out.read()
        if first:
            data, first = prefix + data, False
        if data:
            raw.sendall(data)
        if done:
            return obj, inc, out
        chunk = raw.recv(65536)
        assert chunk, "the server closed during the handshake"
        inc.write(chunk)


def test_tls_header_and_client_hello_in_one_write(ptls, pki):
    host, port, peer = named("2001:db8::47")
    raw = tcp_connect(ptls.tls_addr)
    with raw:
        via = peer_of(raw)
        obj, inc, out = handshake_with_prefix(
            raw, tls_context(pki), v2(host, "2001:db8::1", port, 6514))
        detail = f"tls={obj.version()} cipher={obj.cipher()[0]} via={via}"
        obj.write(b"in one\n")
        try:
            obj.unwrap()
        except ssl.SSLWantReadError:
            pass
        raw.sendall(out.read())
        raw.shutdown(socket.SHUT_WR)
        ptls.wait_event(peer, "disconnect")
    assert ptls.of(peer) == [
        ("tls", peer, "connect", detail),
        ("tls", peer, "msg", "in one"),
        ("tls", peer, "disconnect", "reason=eof msgs=1 bytes=7"),
    ]


def test_tls_local_header_is_the_proxy_own(ptls, pki):
    raw = tcp_connect(ptls.tls_addr)
    me = peer_of(raw)
    raw.sendall(v2(cmd=LOCAL))
    with tls_over(raw, tls_context(pki)) as s:
        detail = f"tls={s.version()} cipher={s.cipher()[0]}"
        s.sendall(b"hc\n")
        close_tls(s)
    ptls.wait_event(me, "disconnect")
    assert ptls.of(me) == [
        ("tls", me, "connect", detail),
        ("tls", me, "msg", "hc"),
        ("tls", me, "disconnect", "reason=eof msgs=1 bytes=3"),
    ]


def test_tls_client_hello_without_header_is_rejected_as_proxy(start_server, pki):
    srv = start_server(*tls_args(pki, *TRUST))
    raw = tcp_connect(srv.tls_addr)
    via = peer_of(raw)
    with pytest.raises((ssl.SSLError, OSError)):
        with tls_over(raw, tls_context(pki)) as s:
            s.sendall(b"secret\n")
            s.recv(1)
    raw.close()
    srv.wait_event(via, "reject")
    assert_reject(srv, "tls", via)
    no_records_of(srv)


def test_tls_header_then_no_handshake_times_out(start_server, pki):
    """The header is done; the handshake is not: reason=handshake-timeout,
    under the named client."""
    srv = start_server(*tls_args(pki, *TRUST, "--handshake-timeout", "1"))
    host, port, peer = named()
    with tcp_connect(srv.tls_addr) as c:
        via = peer_of(c)
        c.sendall(v1(host, "192.0.2.200", port, 6514))
        srv.wait_for(lambda rs: any(r[2] == "reject" and r[1] in (peer, via)
                                    for r in rs), "a reject")
        expect_closed(c)
    recs = [r for r in srv.records() if r[1] in (peer, via)]
    assert recs == [("tls", peer, "reject", "reason=handshake-timeout")]


def test_tls_half_header_times_out_as_proxy(start_server, pki):
    srv = start_server(*tls_args(pki, *TRUST, "--handshake-timeout", "1"))
    with tcp_connect(srv.tls_addr) as c:
        via = peer_of(c)
        c.sendall(GOOD[:15])
        srv.wait_event(via, "reject")
        expect_closed(c)
    assert_reject(srv, "tls", via)


def test_tls_untrusted_source_header_breaks_the_handshake(start_server, pki):
    srv = start_server(*tls_args(pki, "--proxy", "10.0.0.0/8"))
    with tcp_connect(srv.tls_addr) as c:
        me = peer_of(c)
        c.sendall(GOOD)
        srv.wait_event(me, "reject")
        expect_closed(c)
    recs = srv.of(me)
    assert len(recs) == 1 and recs[0][:3] == ("tls", me, "reject")
    assert recs[0][3].startswith("reason=tls error=")


def test_tls_json_connect_has_tls_fields_then_via(start_server, pki):
    srv = start_server(*tls_args(pki, *TRUST), fmt="json")
    host, port, peer = named()
    raw = tcp_connect(srv.tls_addr)
    via = peer_of(raw)
    raw.sendall(v1(host, "192.0.2.200", port, 6514))
    with tls_over(raw, tls_context(pki)) as s:
        version, cipher = s.version(), s.cipher()[0]
        s.sendall(b"j\n")
        close_tls(s)
    srv.wait_for(lambda rs: any(r["peer"] == peer and r["event"] == "disconnect"
                                for r in rs), "disconnect")
    recs = [{k: v for k, v in r.items() if k != "ts"} for r in srv.json_records()
            if r["peer"] == peer]
    assert recs[0] == {"proto": "tls", "peer": peer, "event": "connect", "tls": version,
                       "cipher": cipher, "via": via}
    assert list(recs[0]) == ["proto", "peer", "event", "tls", "cipher", "via"]
    assert [(r["event"], r.get("msg")) for r in recs[1:]] == [("msg", "j"),
                                                            ("disconnect", None)]


# ---- --max-per-source counts the named clients, not the proxy ----

def test_max_per_source_counts_the_named_client(start_server):
    """Behind one proxy every connection has the proxy's source; the limit
    is per client the header names (the lead's design: --max-per-source
    judges the named client like --allow)."""
    srv = start_server("-t", "127.0.0.1:0", *TRUST, "--max-per-source", "1")
    a_port, b_port, a2_port = next(_ports), next(_ports), next(_ports)
    a, b, a2 = (f"192.0.2.61:{a_port}", f"192.0.2.62:{b_port}",
                f"192.0.2.61:{a2_port}")
    with tcp_connect(srv.tcp_addr) as ca, tcp_connect(srv.tcp_addr) as cb:
        ca.sendall(v1("192.0.2.61", "192.0.2.200", a_port, 514) + b"a\n")
        cb.sendall(v1("192.0.2.62", "192.0.2.200", b_port, 514) + b"b\n")
        srv.wait_record(("tcp", a, "msg", "a"))
        srv.wait_record(("tcp", b, "msg", "b"))
        with tcp_connect(srv.tcp_addr) as ca2:
            ca2.sendall(v1("192.0.2.61", "192.0.2.200", a2_port, 514) + b"secret\n")
            srv.wait_event(a2, "reject")
            expect_closed(ca2)
        finish(ca)
        finish(cb)
    srv.wait_event(a, "disconnect")
    srv.wait_event(b, "disconnect")
    assert srv.of(a2) == [("tcp", a2, "reject", "reason=max-per-source")]
    assert [r[2] for r in srv.of(a)] == ["connect", "msg", "disconnect"]
    assert [r[2] for r in srv.of(b)] == ["connect", "msg", "disconnect"]
    no_records_of(srv)


# ---- the option ----

@pytest.mark.parametrize("value", ["10.0.0.0/33", "not-a-cidr", "::1/129", ""])
def test_bad_proxy_cidr_is_one_error_line_and_exit_2(value):
    rc, out, err, pid = run_peerlogd(["-t", "127.0.0.1:0", "--proxy", value])
    assert rc == 2, (out, err)
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("peerlogd: --proxy"), err
    assert value in lines[0]
    assert not group_alive(pid)


def test_help_names_proxy():
    rc, out, err, _ = run_peerlogd(["--help"])
    assert rc == 0 and "--proxy" in out


def test_json_proxy_reject(start_server):
    srv = start_server("-t", "127.0.0.1:0", *TRUST, fmt="json")
    with tcp_connect(srv.tcp_addr) as c:
        via = peer_of(c)
        c.sendall(b"PROXY TCP4 junk\r\nsecret\n")
        srv.wait_for(lambda rs: any(r["peer"] == via for r in rs), "the reject")
        expect_closed(c)
    recs = [{k: v for k, v in r.items() if k != "ts"} for r in srv.json_records()
            if r["peer"] == via]
    assert len(recs) == 1
    assert list(recs[0]) == ["proto", "peer", "event", "reason", "error"]
    assert recs[0]["event"] == "reject" and recs[0]["reason"] == "proxy"
    assert isinstance(recs[0]["error"], str) and recs[0]["error"]
    assert not any("secret" in r.get("msg", "") for r in srv.json_records())


# ---- the data behind the header is read without a further event ----

@pytest.mark.parametrize("make", [
    pytest.param(lambda h, p: v1(h, "192.0.2.200", p, 514), id="v1"),
    pytest.param(lambda h, p: v2(h, "192.0.2.200", p, 514), id="v2"),
])
@pytest.mark.parametrize("size", [1, 300000])
def test_data_in_the_header_write_is_logged_while_the_client_waits(psrv, make, size):
    """Header and lines in one write, then the client sends nothing more and
    keeps the connection open: every line must be logged (nothing may wait
    for another readable event)."""
    host, port, peer = named()
    lines = [b"%06d " % i + b"w" * 50 for i in range(max(1, size // 58))]
    data = b"\n".join(lines) + b"\n"
    with tcp_connect(psrv.tcp_addr) as c:
        via = peer_of(c)
        c.sendall(make(host, port) + data)
        psrv.wait_for(lambda rs: sum(1 for r in rs if r[1] == peer and r[2] == "msg")
                      >= len(lines), f"{len(lines)} msgs of {peer}")
        finish(c)
    psrv.wait_event(peer, "disconnect")
    recs = psrv.of(peer)
    assert recs[0] == ("tcp", peer, "connect", f"via={via}")
    assert [r[3] for r in recs[1:-1]] == [l.decode() for l in lines]
    assert recs[-1] == ("tcp", peer, "disconnect",
                        f"reason=eof msgs={len(lines)} bytes={len(data)}")


def test_local_header_and_data_in_one_write_while_the_client_waits(psrv):
    with tcp_connect(psrv.tcp_addr) as c:
        me = peer_of(c)
        c.sendall(v2(cmd=LOCAL) + b"waiting\n")
        psrv.wait_record(("tcp", me, "msg", "waiting"))
        finish(c)
    psrv.wait_event(me, "disconnect")


def test_bytewise_header_then_line_while_the_client_waits(psrv):
    host, port, peer = named()
    with tcp_connect(psrv.tcp_addr) as c:
        send_bytewise(c, v1(host, "192.0.2.200", port, 514))
        c.sendall(b"after\n")
        psrv.wait_record(("tcp", peer, "msg", "after"))
        finish(c)
    psrv.wait_event(peer, "disconnect")
