"""The JSON record format: one object per line, fields in a fixed order."""

import json
import signal

import pytest

from conftest import (VERSION, check_ts, peer_of, requires_peerlogd, tcp_connect,
                      tcp_session, udp_send)

pytestmark = requires_peerlogd


def raw_lines_of(srv, peer):
    """The raw JSON lines (str) of one peer, in order."""
    out = []
    for l in srv.lines():
        text = l.decode("utf-8")
        if json.loads(text)["peer"] == peer:
            out.append(text)
    return out


def expect_raw(line, rest):
    """Assert line is {"ts":"<valid ts>",<rest> exactly."""
    obj = json.loads(line)
    check_ts(obj["ts"])
    assert line == '{"ts":"' + obj["ts"] + '",' + rest


def test_every_line_is_one_json_object(json_server):
    tcp_session(json_server, b"a\nb\n")
    udp_send(json_server.udp_addr, b"u")
    json_server.wait_for(lambda rs: any(r["proto"] == "udp" for r in rs), "udp msg")
    data = json_server.output()
    assert data.endswith(b"\n")
    for line in data.split(b"\n")[:-1]:
        assert isinstance(json.loads(line.decode("utf-8")), dict)


def test_tcp_session_lines_are_exact(json_server):
    peer, recs = tcp_session(json_server, b"hello world\r\nbye\n")
    raw = raw_lines_of(json_server, peer)
    assert len(raw) == 4
    head = f'"proto":"tcp","peer":"{peer}",'
    expect_raw(raw[0], head + '"event":"connect"}')
    expect_raw(raw[1], head + '"event":"msg","msg":"hello world"}')
    expect_raw(raw[2], head + '"event":"msg","msg":"bye"}')
    expect_raw(raw[3], head + '"event":"disconnect","reason":"eof","msgs":2,"bytes":17}')


def test_field_order_is_ts_proto_peer_event_then_detail(json_server):
    peer, recs = tcp_session(json_server, b"m\n")
    assert [list(r) for r in recs] == [
        ["ts", "proto", "peer", "event"],
        ["ts", "proto", "peer", "event", "msg"],
        ["ts", "proto", "peer", "event", "reason", "msgs", "bytes"],
    ]
    assert recs[2]["msgs"] == 1 and recs[2]["bytes"] == 2
    assert type(recs[2]["msgs"]) is int and type(recs[2]["bytes"]) is int


def test_start_and_stop_records_are_exact(json_server):
    rc, recs, _ = json_server.stop()
    assert rc == 0
    raw = [l.decode() for l in json_server.lines()]
    assert len(raw) == 2
    expect_raw(raw[0], '"proto":"-","peer":"-","event":"start",'
               f'"version":"{VERSION}","pid":{json_server.pid}}}')
    expect_raw(raw[1], '"proto":"-","peer":"-","event":"stop","signal":"SIGTERM"}')


def test_stats_record_has_numeric_fields_in_order(json_server):
    # The start record is in the file first: output_bytes is its length.
    json_server.wait_count(1)
    start_len = len(json_server.output())
    json_server.send_signal(signal.SIGUSR1)
    json_server.wait_for(lambda rs: any(r["event"] == "stats" for r in rs), "stats")
    raw = [l.decode() for l in json_server.lines() if b'"stats"' in l]
    expect_raw(raw[0], '"proto":"-","peer":"-","event":"stats","clients":0,'
               '"connects":0,"rejects":0,"tcp_msgs":0,"tcp_bytes":0,"udp_msgs":0,'
               '"udp_bytes":0,"udp_dropped":0,"udp_dropped_acl":0,'
               '"udp_dropped_kernel":0,"records_lost":0,'
               f'"output_bytes":{start_len},"output_errors":0,"tls_msgs":0,'
               '"tls_bytes":0}')


def test_udp_msg_line_is_exact(json_server):
    peer = udp_send(json_server.udp_addr, b"ping\n")
    json_server.wait_for(lambda rs: any(r["peer"] == peer for r in rs), "udp msg")
    raw = raw_lines_of(json_server, peer)
    expect_raw(raw[0], f'"proto":"udp","peer":"{peer}","event":"msg","msg":"ping"}}')


def test_reject_line_is_exact(start_server):
    srv = start_server("-t", "127.0.0.1:0", "--allow", "192.0.2.0/24", fmt="json")
    with tcp_connect(srv.tcp_addr) as c:
        peer = peer_of(c)
        srv.wait_for(lambda rs: any(r["peer"] == peer for r in rs), "reject")
    raw = raw_lines_of(srv, peer)
    assert len(raw) == 1
    expect_raw(raw[0], f'"proto":"tcp","peer":"{peer}","event":"reject","reason":"acl"}}')


def test_continued_piece_has_event_msg_plus(start_server):
    srv = start_server("-t", "127.0.0.1:0", "--max-line", "3", fmt="json")
    peer, recs = tcp_session(srv, b"abcdefg\n")
    assert [(r["event"], r["msg"]) for r in recs if "msg" in r] == [
        ("msg+", "abc"), ("msg+", "def"), ("msg", "g")]


def test_empty_message_is_empty_string(json_server):
    peer, _ = tcp_session(json_server, b"\r\n")
    raw = raw_lines_of(json_server, peer)
    expect_raw(raw[1], f'"proto":"tcp","peer":"{peer}","event":"msg","msg":""}}')


JSON_ESCAPES = [
    # (line sent, raw JSON string body expected)
    (b'say "hi"', r'say \"hi\"'),
    (b"back\\slash", r"back\\slash"),
    (b"tab\there", r"tab\there"),
    (b"cr\rhere", r"cr\rhere"),
    (b"bs\x08ff\x0c", r"bs\bff\f"),
    (b"\x00\x01\x1b\x1f", r"\u0000\u0001\u001b\u001f"),
    (b"del\x7f", r"del\u007f"),
    (b"c1\xc2\x80\xc2\x9b\xc2\x9f", r"c1\u0080\u009b\u009f"),
    (b"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x99\x82", "caf\u00e9 \u20ac \U0001f642"),
    (b"nbsp\xc2\xa0", "nbsp\u00a0"),
]


@pytest.mark.parametrize("sent,body", JSON_ESCAPES, ids=[repr(s) for s, _ in JSON_ESCAPES])
def test_json_string_escapes(shared_json_server, sent, body):
    srv = shared_json_server
    peer, recs = tcp_session(srv, sent + b"\n")
    raw = raw_lines_of(srv, peer)
    expect_raw(raw[1], f'"proto":"tcp","peer":"{peer}","event":"msg","msg":"{body}"}}')
    assert recs[1]["msg"] == sent.decode("utf-8")
    assert "lossy" not in recs[1]


def test_lf_inside_udp_datagram_is_escaped_as_backslash_n(shared_json_server):
    srv = shared_json_server
    peer = udp_send(srv.udp_addr, b"a\nb\n")
    srv.wait_for(lambda rs: any(r["peer"] == peer for r in rs), "udp msg")
    raw = raw_lines_of(srv, peer)
    expect_raw(raw[0], f'"proto":"udp","peer":"{peer}","event":"msg","msg":"a\\nb"}}')


@pytest.mark.parametrize("sent,msg", [
    (b"a\xffb", "a\ufffdb"),
    (b"\xe2\x82", "\ufffd\ufffd"),
    (b"\xc0\xaf", "\ufffd\ufffd"),
    (b"\xed\xa0\x80", "\ufffd\ufffd\ufffd"),
    (b"ok \xc3\xa9 \xfe", "ok \u00e9 \ufffd"),
], ids=["ff", "truncated", "overlong", "surrogate", "mixed"])
def test_invalid_utf8_becomes_replacement_chars_and_lossy(shared_json_server, sent, msg):
    srv = shared_json_server
    peer, recs = tcp_session(srv, sent + b"\n")
    rec = recs[1]
    assert list(rec) == ["ts", "proto", "peer", "event", "msg", "lossy"]
    assert rec["msg"] == msg
    assert rec["lossy"] is True
    raw = raw_lines_of(srv, peer)[1]
    assert raw.endswith(',"lossy":true}')


def test_lossy_applies_only_to_the_record_with_invalid_bytes(shared_json_server):
    srv = shared_json_server
    peer, recs = tcp_session(srv, b"bad\x80\ngood\n")
    assert recs[1]["lossy"] is True
    assert "lossy" not in recs[2] and recs[2]["msg"] == "good"


def test_json_output_is_valid_utf8_for_all_bytes(shared_json_server):
    srv = shared_json_server
    line = bytes(b for b in range(256) if b != 0x0a)
    peer, recs = tcp_session(srv, line + b"\n")
    for raw in srv.lines():
        raw.decode("utf-8")
        assert not any(b < 0x20 for b in raw), raw
    assert recs[1]["lossy"] is True
    assert len(recs[1]["msg"]) == 255
