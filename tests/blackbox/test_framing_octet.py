"""--framing octet: RFC 6587 octet counting on TCP (LEN SP MSG).

A frame is LEN (1 to 9 decimal digits, the first not 0), one space, then
exactly LEN bytes of message, of any kind: an LF or CR in it is content and
nothing is stripped. A malformed count closes the connection with
reason=framing; at end of stream a frame cut short is a message of what
came and a count cut short is nothing. UDP is unaffected.
"""

import json
import re
import shutil
import signal
import subprocess
import time
import uuid

import pytest

from conftest import (PEERLOGD, WAIT, Server, check_ts, group_alive, msg_records,
                      peer_of, requires_peerlogd, run_peerlogd, tcp_connect,
                      tcp_session, udp_send)

pytestmark = requires_peerlogd

OCTET = ("-t", "127.0.0.1:0", "-u", "127.0.0.1:0", "--framing", "octet")


def frame(msg):
    """One octet-counted frame of msg (bytes)."""
    return b"%d %s" % (len(msg), msg)


def msgs(recs):
    """(event, text) of the msg and msg+ records (text tuples)."""
    return [(r[2], r[3]) for r in msg_records(recs)]


def _module_server(tmp_path_factory, name, *extra, fmt=None):
    """A server with --framing octet shared by a module's tests (each test
    uses its own peers)."""
    if not PEERLOGD:
        pytest.skip("PEERLOGD is not set")
    return Server(OCTET + extra, tmp_dir=tmp_path_factory.mktemp(name), fmt=fmt)


@pytest.fixture(scope="module")
def octet_server(tmp_path_factory):
    """--framing octet, text, the default --max-line."""
    s = _module_server(tmp_path_factory, "octet")
    yield s
    s.kill()


@pytest.fixture(scope="module")
def octet4_server(tmp_path_factory):
    """--framing octet, text, --max-line 4."""
    s = _module_server(tmp_path_factory, "octet4", "--max-line", "4")
    yield s
    s.kill()


@pytest.fixture(scope="module")
def octet_json_server(tmp_path_factory):
    """--framing octet, JSON, --max-line 4."""
    s = _module_server(tmp_path_factory, "octet_json", "--max-line", "4",
                       fmt="json")
    yield s
    s.kill()


def open_session(srv, data):
    """Send data (bytes, or a list of writes) and keep the connection open:
    the server must close it by itself. Wait for the disconnect record, check
    the client reads end of stream, and return (peer, that peer's records)."""
    writes = data if isinstance(data, list) else [data]
    with tcp_connect(srv.tcp_addr) as c:
        peer = peer_of(c)
        for i, chunk in enumerate(writes):
            if i:
                time.sleep(0.02)
            c.sendall(chunk)
        if srv.fmt == "json":
            srv.wait_for(lambda rs: any(r["peer"] == peer and r["event"] == "disconnect"
                                        for r in rs), f"disconnect of {peer}")
        else:
            srv.wait_event(peer, "disconnect")
        try:
            end = c.recv(1)
        except ConnectionResetError:
            end = b""
        assert end == b"", "the server did not close the connection"
    if srv.fmt == "json":
        return peer, [r for r in srv.json_records() if r["peer"] == peer]
    return peer, srv.of(peer)


def without_ts(recs):
    """JSON records with the timestamp checked and dropped, keys in order."""
    out = []
    for r in recs:
        check_ts(r["ts"])
        out.append({k: v for k, v in r.items() if k != "ts"})
    return out


# ---- whole frames ----

def test_one_frame_is_one_msg(octet_server):
    peer, recs = tcp_session(octet_server, frame(b"hello world"))
    assert recs == [("tcp", peer, "connect"), ("tcp", peer, "msg", "hello world"),
                    ("tcp", peer, "disconnect", "reason=eof msgs=1 bytes=14")]


def test_many_frames_in_one_write_are_many_records_in_order(octet_server):
    bodies = [f"message {i}".encode() * (i % 4 + 1) for i in range(50)]
    stream = b"".join(frame(b) for b in bodies)
    peer, recs = tcp_session(octet_server, stream)
    assert msgs(recs) == [("msg", b.decode()) for b in bodies]
    assert recs[-1] == ("tcp", peer, "disconnect",
                        f"reason=eof msgs=50 bytes={len(stream)}")


@pytest.mark.parametrize("body,text", [
    (b"a\nb\r\nc", "a\\nb\\r\\nc"),
    (b"hello\n", "hello\\n"),
    (b"hello\r\n", "hello\\r\\n"),
    (b"\r", "\\r"),
    (b"\n", "\\n"),
    (b"a\0b\tc", "a\\x00b\\tc"),
    (b"  two spaces ", "  two spaces "),
    (b"12 34", "12 34"),
    ("caf\u00e9 \u20ac".encode(), "caf\u00e9 \u20ac"),
], ids=["lf-crlf-inside", "trailing-lf", "trailing-crlf", "lone-cr", "lone-lf",
        "nul-tab", "spaces", "digits", "utf8"])
def test_frame_bytes_are_all_content(octet_server, body, text):
    peer, recs = tcp_session(octet_server, frame(body))
    assert msgs(recs) == [("msg", text)]
    assert recs[-1][3] == f"reason=eof msgs=1 bytes={len(frame(body))}"


def test_lf_between_lines_does_not_end_a_message(octet_server):
    # Two lines in one frame are one record; the frames after it go on.
    peer, recs = tcp_session(octet_server, frame(b"one\ntwo\n") + frame(b"three"))
    assert msgs(recs) == [("msg", "one\\ntwo\\n"), ("msg", "three")]


def test_nine_digit_count_is_accepted(octet_server):
    # 100000000 bytes are announced, 3 come: at end of stream they are one msg.
    peer, recs = tcp_session(octet_server, b"100000000 abc")
    assert msgs(recs) == [("msg", "abc")]
    assert recs[-1][3] == "reason=eof msgs=1 bytes=13"


# ---- frames split across writes ----

STREAM = frame(b"hello world") + frame(b"x") + frame(b"a\nb")


def test_frames_split_at_every_point_give_the_same_records(octet_server):
    for k in range(1, len(STREAM)):
        peer, recs = tcp_session(octet_server, [STREAM[:k], STREAM[k:]])
        assert msgs(recs) == [("msg", "hello world"), ("msg", "x"), ("msg", "a\\nb")], \
            f"split at {k}"
        assert recs[-1][3] == f"reason=eof msgs=3 bytes={len(STREAM)}"


def test_frames_sent_byte_by_byte_give_the_same_records(octet_server):
    peer, recs = tcp_session(octet_server, [bytes([b]) for b in STREAM])
    assert msgs(recs) == [("msg", "hello world"), ("msg", "x"), ("msg", "a\\nb")]
    assert recs[-1][3] == f"reason=eof msgs=3 bytes={len(STREAM)}"


def test_count_split_inside_its_digits(octet_server):
    peer, recs = tcp_session(octet_server, [b"1", b"1 hello", b" world"])
    assert msgs(recs) == [("msg", "hello world")]


def test_frame_is_logged_once_complete_not_before(octet_server):
    with tcp_connect(octet_server.tcp_addr) as c:
        peer = peer_of(c)
        c.sendall(frame(b"first") + b"7 par")
        octet_server.wait_record(("tcp", peer, "msg", "first"))
        c.sendall(b"tial")
        octet_server.wait_record(("tcp", peer, "msg", "partial"))
        assert msgs(octet_server.of(peer)) == [("msg", "first"), ("msg", "partial")]


# ---- frames longer than --max-line ----

@pytest.mark.parametrize("sent,pieces", [
    (frame(b"abcdefghij"), [("msg+", "abcd"), ("msg+", "efgh"), ("msg", "ij")]),
    (frame(b"abcdefgh"), [("msg+", "abcd"), ("msg", "efgh")]),
    (frame(b"abcde"), [("msg+", "abcd"), ("msg", "e")]),
    (frame(b"abcd"), [("msg", "abcd")]),
    (frame(b"ab\ncdef"), [("msg+", "ab\\nc"), ("msg", "def")]),
    (frame(b"abcd\r\n"), [("msg+", "abcd"), ("msg", "\\r\\n")]),
    (frame(b"abcdefghij") + frame(b"xy"),
     [("msg+", "abcd"), ("msg+", "efgh"), ("msg", "ij"), ("msg", "xy")]),
], ids=["2.5x", "2x", "max+1", "exact", "lf-counts", "crlf-counts", "then-next"])
def test_overlong_frame_is_split_into_continued_records(octet4_server, sent, pieces):
    peer, recs = tcp_session(octet4_server, sent)
    assert msgs(recs) == pieces
    assert recs[-1][3] == f"reason=eof msgs={len(pieces)} bytes={len(sent)}"


def test_overlong_frame_sent_slowly_is_split_the_same(octet4_server):
    peer, recs = tcp_session(octet4_server, [b"1", b"0 ab", b"cdefg", b"hij"])
    assert msgs(recs) == [("msg+", "abcd"), ("msg+", "efgh"), ("msg", "ij")]


def test_overlong_frame_is_not_split_inside_a_utf8_character(octet4_server):
    body = "abc\u00e9d\u20acx".encode()  # the cut at 4 would split the e-acute
    peer, recs = tcp_session(octet4_server, frame(body))
    # abc | e-acute d (the euro sign would be cut next) | euro x (4 bytes).
    assert msgs(recs) == [("msg+", "abc"), ("msg+", "\u00e9d"), ("msg", "\u20acx")]


def test_split_pieces_rejoin_to_the_exact_frame(start_server):
    # JSON, so that each piece comes back as the very bytes of the frame.
    srv = start_server(*OCTET, "--max-line", "100", fmt="json")
    body = bytes(range(32, 127)) * 30 + b"\n" + "\u00e9\u20ac".encode() * 50
    peer, recs = tcp_session(srv, frame(body) + frame(b"next"))
    got = [(r["event"], r["msg"].encode()) for r in recs if "msg" in r]
    assert [e for e, _ in got] == ["msg+"] * (len(got) - 2) + ["msg", "msg"]
    assert got[-1] == ("msg", b"next")
    assert b"".join(m for _, m in got[:-1]) == body
    assert not any(r.get("lossy") for r in recs)
    # Every piece is at most --max-line bytes, 1 to 3 shorter only before a
    # character the cut would have split.
    assert all(97 <= len(m) <= 100 for _, m in got[:-2])
    assert len(got[-2][1]) <= 100


# ---- malformed counts ----

@pytest.mark.parametrize("sent,before", [
    (b"x", []),
    (b"hello\n", []),
    (b" 5 hello", []),
    (b"-5 hello", []),
    (b"+5 hello", []),
    (b"0", []),
    (b"0 ", []),
    (b"05 hello", []),
    (b"1234567890 abcdefghij", []),
    (b"5xhello", []),
    (b"5\thello", []),
    (b"5\r\nhello", []),
    (b"\xff", []),
    (frame(b"hello") + b"x12 abc", ["hello"]),
    (frame(b"hello") + b"\n" + frame(b"world"), ["hello"]),
    (frame(b"one") + frame(b"two") + b"02 ab", ["one", "two"]),
], ids=["letter", "a-line", "space-first", "minus", "plus", "lone-0", "zero",
        "leading-0", "10-digits", "no-space", "tab", "crlf", "high-byte",
        "after-a-frame", "lf-between-frames", "leading-0-after-two"])
def test_malformed_count_closes_with_reason_framing(octet_server, sent, before):
    peer, recs = open_session(octet_server, sent)
    assert recs == [("tcp", peer, "connect")] + [
        ("tcp", peer, "msg", m) for m in before] + [
        ("tcp", peer, "disconnect",
         f"reason=framing msgs={len(before)} bytes={len(sent)}")]


def test_malformed_count_in_a_later_write(octet_server):
    peer, recs = open_session(octet_server, [frame(b"ok"), b"x"])
    assert msgs(recs) == [("msg", "ok")]
    assert recs[-1] == ("tcp", peer, "disconnect", "reason=framing msgs=1 bytes=5")


def test_malformed_count_whose_digits_came_first(octet_server):
    # "12" may be a count; "3x" shows it is not.
    peer, recs = open_session(octet_server, [b"12", b"3x"])
    assert recs == [("tcp", peer, "connect"),
                    ("tcp", peer, "disconnect", "reason=framing msgs=0 bytes=4")]


def test_ten_digits_sent_one_by_one_close_without_a_space(octet_server):
    peer, recs = open_session(octet_server, [bytes([b]) for b in b"1234567890"])
    assert recs == [("tcp", peer, "connect"),
                    ("tcp", peer, "disconnect", "reason=framing msgs=0 bytes=10")]


def test_malformed_count_after_continued_pieces(octet4_server):
    sent = frame(b"abcdefghij") + b"y"
    peer, recs = open_session(octet4_server, sent)
    assert msgs(recs) == [("msg+", "abcd"), ("msg+", "efgh"), ("msg", "ij")]
    assert recs[-1] == ("tcp", peer, "disconnect",
                        f"reason=framing msgs=3 bytes={len(sent)}")


def test_server_goes_on_after_a_framing_close(octet_server):
    open_session(octet_server, b"bad")
    peer, recs = tcp_session(octet_server, frame(b"still here"))
    assert msgs(recs) == [("msg", "still here")]


# ---- end of stream ----

@pytest.mark.parametrize("sent,texts", [
    (b"10 abc", ["abc"]),
    (frame(b"hello") + b"10 abc", ["hello", "abc"]),
    (b"5 ", [""]),
    (b"12", []),
    (b"123456789", []),
    (frame(b"hello") + b"12", ["hello"]),
    (b"5 a\nb\r", ["a\\nb\\r"]),
], ids=["frame-short", "after-a-frame", "no-body", "count-short", "9-digits-short",
        "count-short-after-a-frame", "lf-cr-kept"])
def test_end_of_stream_inside_a_frame(octet_server, sent, texts):
    peer, recs = tcp_session(octet_server, sent)
    assert recs == [("tcp", peer, "connect")] + [
        ("tcp", peer, "msg", t) for t in texts] + [
        ("tcp", peer, "disconnect", f"reason=eof msgs={len(texts)} bytes={len(sent)}")]


def test_end_of_stream_inside_an_overlong_frame(octet4_server):
    peer, recs = tcp_session(octet4_server, b"20 abcdefghij")
    assert msgs(recs) == [("msg+", "abcd"), ("msg+", "efgh"), ("msg", "ij")]
    assert recs[-1][3] == "reason=eof msgs=3 bytes=13"


def test_shutdown_logs_a_frame_cut_short(start_server):
    srv = start_server(*OCTET)
    with tcp_connect(srv.tcp_addr) as c:
        peer = peer_of(c)
        c.sendall(frame(b"ok") + b"10 abc")
        srv.wait_record(("tcp", peer, "msg", "ok"))
        rc, recs, _ = srv.stop(signal.SIGTERM)
    assert rc == 0
    assert [r for r in recs if r[1] == peer] == [
        ("tcp", peer, "connect"), ("tcp", peer, "msg", "ok"), ("tcp", peer, "msg", "abc"),
        ("tcp", peer, "disconnect", "reason=shutdown msgs=2 bytes=10")]


# ---- --framing lf, usage errors, UDP ----

def test_default_framing_is_lf(shared_server):
    peer, recs = tcp_session(shared_server, frame(b"hello") + b"\n2 a\nb")
    assert msgs(recs) == [("msg", "5 hello"), ("msg", "2 a"), ("msg", "b")]


def test_framing_lf_is_line_framing(start_server):
    srv = start_server("-t", "127.0.0.1:0", "--framing", "lf")
    peer, recs = tcp_session(srv, b"a\nb\r\n5 hello")
    assert msgs(recs) == [("msg", "a"), ("msg", "b"), ("msg", "5 hello")]
    assert recs[-1][3] == "reason=eof msgs=3 bytes=12"


def test_unknown_framing_is_a_usage_error():
    rc, out, err, pid = run_peerlogd(["-t", "127.0.0.1:0", "--framing", "xml"])
    assert rc == 2
    assert err == "peerlogd: --framing: unknown framing 'xml' (lf or octet)\n"
    assert out == ""
    assert not group_alive(pid)


@pytest.mark.parametrize("args", [["--framing"], ["--framing="], ["--framing", "OCTET"]],
                         ids=["no-value", "empty", "upper-case"])
def test_bad_framing_value_is_a_usage_error(args):
    rc, out, err, pid = run_peerlogd(["-t", "127.0.0.1:0"] + args)
    assert rc == 2
    assert err.startswith("peerlogd: ") and "--framing" in err
    assert err.count("\n") == 1
    assert "listening" not in err


def test_usage_names_framing():
    rc, out, err, pid = run_peerlogd(["--help"])
    assert rc == 0
    assert "--framing" in out


@pytest.mark.parametrize("dgram,text", [
    (b"5 hello", "5 hello"),
    (b"hello\n", "hello"),
    (b"x", "x"),
    (b"0", "0"),
], ids=["frame-like", "trailing-lf", "letter", "zero"])
def test_udp_is_unaffected_by_framing(octet_server, dgram, text):
    peer = udp_send(octet_server.udp_addr, dgram)
    octet_server.wait_record(("udp", peer, "msg", text))
    assert [r for r in octet_server.of(peer) if r[0] == "udp"] == [
        ("udp", peer, "msg", text)]


# ---- JSON ----

def test_json_records_of_frames(octet_json_server):
    sent = frame(b"hi") + frame(b"a\nb") + frame(b"abcdef")
    peer, recs = tcp_session(octet_json_server, sent)
    head = {"proto": "tcp", "peer": peer}
    assert without_ts(recs) == [
        {**head, "event": "connect"},
        {**head, "event": "msg", "msg": "hi"},
        {**head, "event": "msg", "msg": "a\nb"},
        {**head, "event": "msg+", "msg": "abcd"},
        {**head, "event": "msg", "msg": "ef"},
        {**head, "event": "disconnect", "reason": "eof", "msgs": 4, "bytes": len(sent)}]


def test_json_framing_disconnect(octet_json_server):
    sent = frame(b"ok") + b"05 hello"
    peer, recs = open_session(octet_json_server, sent)
    head = {"proto": "tcp", "peer": peer}
    assert without_ts(recs) == [
        {**head, "event": "connect"},
        {**head, "event": "msg", "msg": "ok"},
        {**head, "event": "disconnect", "reason": "framing", "msgs": 1,
         "bytes": len(sent)}]
    raw = [l.decode() for l in octet_json_server.lines()
           if json.loads(l)["peer"] == peer][-1]
    assert raw.endswith(',"event":"disconnect","reason":"framing","msgs":1,"bytes":12}')


def test_json_frame_cut_short_at_end_of_stream(octet_json_server):
    peer, recs = tcp_session(octet_json_server, b"9 a\r\n")
    assert [(r["event"], r.get("msg")) for r in recs[1:]] == [
        ("msg", "a\r\n"), ("disconnect", None)]
    assert recs[-1]["reason"] == "eof" and recs[-1]["bytes"] == 5


# ---- a real sender ----

@pytest.mark.skipif(shutil.which("logger") is None,
                    reason="util-linux logger (bsdutils) is not installed")
def test_logger_octet_count_is_one_msg_record(octet_server):
    text = f"peerlog octet test {uuid.uuid4().hex}"
    host, port = octet_server.tcp_addr
    subprocess.run(["logger", "--server", host, "--port", str(port), "--tcp",
                    "--octet-count", text], check=True, timeout=WAIT,
                   stdin=subprocess.DEVNULL, capture_output=True)
    recs = octet_server.wait_for(
        lambda rs: any(r[2] == "msg" and r[3].endswith(text) for r in rs),
        "logger's message")
    peer = next(r[1] for r in recs if r[2] == "msg" and r[3].endswith(text))
    recs = octet_server.wait_for(
        lambda rs: any(r[1] == peer and r[2] == "disconnect" for r in rs),
        "logger's disconnect")
    mine = [r for r in recs if r[1] == peer]
    assert [r[2] for r in mine] == ["connect", "msg", "disconnect"], mine
    line = mine[1][3]
    # The whole RFC 5424 line logger sent: <PRI>1 TIMESTAMP HOST ... MSG,
    # with no line end (octet counting needs none).
    assert re.match(r"<\d{1,3}>1 \S+ ", line), line
    assert line.endswith(" " + text)
    assert "\\" not in line, "nothing in logger's line needs escaping"
    sent = len(line.encode())
    assert mine[2][3] == f"reason=eof msgs=1 bytes={len(str(sent)) + 1 + sent}"
