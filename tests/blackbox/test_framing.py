"""Framing: TCP lines and UDP datagrams become messages."""

import pytest

from conftest import (msg_records, peer_of, requires_peerlogd, tcp_connect, tcp_session,
                      udp_send)

pytestmark = requires_peerlogd


def msgs(recs):
    """(event, text) of the msg and msg+ records."""
    return [(r[2], r[3]) for r in msg_records(recs)]


def test_lf_ends_a_line(shared_server):
    peer, recs = tcp_session(shared_server, b"one\ntwo\n")
    assert msgs(recs) == [("msg", "one"), ("msg", "two")]


def test_crlf_line_end_is_dropped(shared_server):
    peer, recs = tcp_session(shared_server, b"one\r\ntwo\r\n")
    assert msgs(recs) == [("msg", "one"), ("msg", "two")]


def test_only_one_cr_before_lf_is_dropped(shared_server):
    peer, recs = tcp_session(shared_server, b"two crs\r\r\n")
    assert msgs(recs) == [("msg", "two crs\\r")]


def test_lone_cr_is_kept_as_escaped_cr(shared_server):
    peer, recs = tcp_session(shared_server, b"a\rb\n")
    assert msgs(recs) == [("msg", "a\\rb")]


def test_crlf_split_across_writes_is_still_dropped(shared_server):
    peer, recs = tcp_session(shared_server, [b"split\r", b"\nnext\n"])
    assert msgs(recs) == [("msg", "split"), ("msg", "next")]


def test_line_sent_in_many_small_writes_is_one_record(shared_server):
    peer, recs = tcp_session(shared_server, [b"hel", b"lo", b" wo", b"r", b"ld\n"])
    assert msgs(recs) == [("msg", "hello world")]


def test_many_lines_in_one_write_are_many_records_in_order(shared_server):
    lines = [f"line {i}".encode() for i in range(50)]
    peer, recs = tcp_session(shared_server, b"\n".join(lines) + b"\n")
    assert msgs(recs) == [("msg", l.decode()) for l in lines]
    assert recs[-1] == ("tcp", peer, "disconnect",
                        f"reason=eof msgs=50 bytes={sum(len(l) + 1 for l in lines)}")


def test_unterminated_tail_is_a_message_at_disconnect(shared_server):
    peer, recs = tcp_session(shared_server, b"a\nlast words")
    assert recs == [("tcp", peer, "connect"), ("tcp", peer, "msg", "a"),
                    ("tcp", peer, "msg", "last words"),
                    ("tcp", peer, "disconnect", "reason=eof msgs=2 bytes=12")]


def test_tail_ending_in_cr_keeps_the_cr(shared_server):
    peer, recs = tcp_session(shared_server, b"tail\r")
    assert msgs(recs) == [("msg", "tail\\r")]


def test_no_bytes_gives_no_message(shared_server):
    peer, recs = tcp_session(shared_server, b"")
    assert recs == [("tcp", peer, "connect"),
                    ("tcp", peer, "disconnect", "reason=eof msgs=0 bytes=0")]


def test_empty_line_is_an_empty_message(shared_server):
    peer, recs = tcp_session(shared_server, b"\n\r\nx\n")
    assert msgs(recs) == [("msg", ""), ("msg", ""), ("msg", "x")]
    assert recs[-1][3] == "reason=eof msgs=3 bytes=5"


def test_message_is_logged_before_its_line_ends_only_when_complete(shared_server):
    with tcp_connect(shared_server.tcp_addr) as c:
        peer = peer_of(c)
        c.sendall(b"first\npart")
        shared_server.wait_record(("tcp", peer, "msg", "first"))
        c.sendall(b"ial\n")
        shared_server.wait_record(("tcp", peer, "msg", "partial"))
    assert ("tcp", peer, "msg", "part") not in shared_server.of(peer)


def test_overlong_line_is_split_into_continued_records(start_server):
    srv = start_server("-t", "127.0.0.1:0", "--max-line", "4")
    peer, recs = tcp_session(srv, b"abcdefghij\n")
    assert msgs(recs) == [("msg+", "abcd"), ("msg+", "efgh"), ("msg", "ij")]


def test_line_of_twice_max_line_ends_with_a_plain_msg(start_server):
    srv = start_server("-t", "127.0.0.1:0", "--max-line", "4")
    peer, recs = tcp_session(srv, b"abcdefgh\nz\n")
    assert msgs(recs) == [("msg+", "abcd"), ("msg", "efgh"), ("msg", "z")]


def test_line_of_exactly_max_line_is_one_record(start_server):
    srv = start_server("-t", "127.0.0.1:0", "--max-line", "4")
    peer, recs = tcp_session(srv, b"abcd\nwxyz\r\n")
    assert msgs(recs) == [("msg", "abcd"), ("msg", "wxyz")]


@pytest.mark.parametrize("sent,pieces", [
    (b"abcde\r\n", [("msg+", "abcd"), ("msg", "e")]),
    (b"abcdefgh\r\n", [("msg+", "abcd"), ("msg", "efgh")]),
    (b"abcd\rx\n", [("msg+", "abcd"), ("msg", "\\rx")]),
], ids=["crlf-after-split", "crlf-at-twice", "cr-is-content"])
def test_crlf_does_not_count_toward_max_line_but_lone_cr_does(start_server, sent,
                                                               pieces):
    srv = start_server("-t", "127.0.0.1:0", "--max-line", "4")
    peer, recs = tcp_session(srv, sent)
    assert msgs(recs) == pieces


def test_overlong_line_sent_slowly_is_split_the_same(start_server):
    srv = start_server("-t", "127.0.0.1:0", "--max-line", "4")
    peer, recs = tcp_session(srv, [b"ab", b"cdef", b"ghi", b"j\n"])
    assert msgs(recs) == [("msg+", "abcd"), ("msg+", "efgh"), ("msg", "ij")]


def test_overlong_unterminated_tail_is_split_at_disconnect(start_server):
    srv = start_server("-t", "127.0.0.1:0", "--max-line", "4")
    peer, recs = tcp_session(srv, b"abcdefghij")
    assert msgs(recs) == [("msg+", "abcd"), ("msg+", "efgh"), ("msg", "ij")]


def test_overlong_tail_ending_in_cr_keeps_the_cr_as_last_piece(start_server):
    srv = start_server("-t", "127.0.0.1:0", "--max-line", "4")
    peer, recs = tcp_session(srv, b"abcd\r")
    assert msgs(recs) == [("msg+", "abcd"), ("msg", "\\r")]


def test_max_line_one_splits_every_byte(start_server):
    srv = start_server("-t", "127.0.0.1:0", "--max-line", "1")
    peer, recs = tcp_session(srv, b"abc\nd\n")
    assert msgs(recs) == [("msg+", "a"), ("msg+", "b"), ("msg", "c"), ("msg", "d")]


def test_split_pieces_rejoin_to_the_exact_line(start_server):
    srv = start_server("-t", "127.0.0.1:0", "--max-line", "100")
    line = bytes(ord("a") + i % 26 for i in range(1050))
    peer, recs = tcp_session(srv, line + b"\r\nafter\n")
    pieces = msgs(recs)
    assert [e for e, _ in pieces] == ["msg+"] * 10 + ["msg", "msg"]
    assert all(len(t) == 100 for _, t in pieces[:10])
    assert "".join(t for _, t in pieces[:11]) == line.decode()
    assert pieces[11] == ("msg", "after")
    assert recs[-1][3].endswith(f" bytes={len(line) + 2 + 6}")


def test_default_max_line_is_8192(start_server):
    srv = start_server("-t", "127.0.0.1:0")
    peer, recs = tcp_session(srv, b"x" * 8192 + b"\n" + b"y" * 8193 + b"\n")
    assert msgs(recs) == [("msg", "x" * 8192), ("msg+", "y" * 8192), ("msg", "y")]


def test_udp_datagram_is_one_message_with_inner_lines_kept(shared_server):
    peer = udp_send(shared_server.udp_addr, b"a\nb\n")
    shared_server.wait_event(peer, "msg")
    assert shared_server.of(peer) == [("udp", peer, "msg", "a\\nb")]


@pytest.mark.parametrize("dgram,text", [
    (b"plain", "plain"),
    (b"lf\n", "lf"),
    (b"crlf\r\n", "crlf"),
    (b"two lf\n\n", "two lf\\n"),
    (b"cr only\r", "cr only\\r"),
    (b"\n", ""),
    (b"\r\n", ""),
    (b"", ""),
], ids=["plain", "lf", "crlf", "two-lf", "cr", "only-lf", "only-crlf", "empty"])
def test_udp_one_trailing_line_end_is_dropped(shared_server, dgram, text):
    peer = udp_send(shared_server.udp_addr, dgram)
    shared_server.wait_event(peer, "msg")
    assert shared_server.of(peer) == [("udp", peer, "msg", text)]


def test_udp_large_datagram_is_one_record(shared_server):
    data = b"u" * 20000
    peer = udp_send(shared_server.udp_addr, data)
    shared_server.wait_event(peer, "msg")
    assert shared_server.of(peer) == [("udp", peer, "msg", data.decode())]


# --max-line cuts an overlong line before a valid UTF-8 character that a cut
# at max_line would split (a piece is then 1 to 3 bytes shorter), so every
# piece stays readable; invalid bytes are still cut at max_line.
UTF8_LINE = "abc€déf😀"  # 14 bytes: the cuts at 4, 8 and 12 fall inside €, é, 😀
UTF8_PIECES = [("msg+", "abc"), ("msg+", "€d"), ("msg+", "éf"), ("msg", "😀")]


@pytest.mark.parametrize("writes", [
    [UTF8_LINE.encode() + b"\n"],
    [b"abc\xe2", b"\x82\xacd\xc3", b"\xa9f\xf0\x9f", b"\x98", b"\x80\n"],
], ids=["one-write", "split-inside-characters"])
def test_max_line_does_not_split_a_utf8_character_text(start_server, writes):
    srv = start_server("-t", "127.0.0.1:0", "--max-line", "4")
    peer, recs = tcp_session(srv, writes)
    assert msgs(recs) == UTF8_PIECES


def test_max_line_does_not_split_a_utf8_character_json(start_server):
    srv = start_server("-t", "127.0.0.1:0", "--max-line", "4", fmt="json")
    peer, recs = tcp_session(srv, UTF8_LINE.encode() + b"\r\n")
    pieces = [r for r in recs if r["event"] in ("msg", "msg+")]
    assert [(r["event"], r["msg"]) for r in pieces] == UTF8_PIECES
    assert not any("lossy" in r for r in pieces)


def test_max_line_tail_is_not_split_inside_a_utf8_character(start_server):
    srv = start_server("-t", "127.0.0.1:0", "--max-line", "4")
    peer, recs = tcp_session(srv, UTF8_LINE.encode())
    assert msgs(recs) == UTF8_PIECES


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_long_utf8_line_split_into_valid_pieces_rejoins(start_server, fmt):
    srv = start_server("-t", "127.0.0.1:0", "--max-line", "100", fmt=fmt)
    line = "x" + "😀é€" * 150  # a cut at every 100th byte would split 9 characters
    data = line.encode()
    # Sent in writes of 37 bytes, so reads end inside characters too.
    peer, recs = tcp_session(srv, [data[i:i + 37] for i in range(0, len(data), 37)]
                             + [b"\n"])
    if fmt == "json":
        pieces = [(r["event"], r["msg"]) for r in recs if r["event"] in ("msg", "msg+")]
        assert not any("lossy" in r for r in recs)
    else:
        pieces = msgs(recs)
    assert "".join(t for _, t in pieces) == line
    assert [e for e, _ in pieces] == ["msg+"] * (len(pieces) - 1) + ["msg"]
    assert not any("\\x" in t for _, t in pieces)
    assert all(97 <= len(t.encode()) <= 100 for _, t in pieces[:-1])
    assert any(len(t.encode()) < 100 for _, t in pieces[:-1])
    if fmt == "json":
        assert (recs[-1]["msgs"], recs[-1]["bytes"]) == (len(pieces), len(data) + 1)
    else:
        assert recs[-1][3] == f"reason=eof msgs={len(pieces)} bytes={len(data) + 1}"


@pytest.mark.parametrize("sent,pieces", [
    (b"abc\xe0\x80\x80d\n", [("msg+", "abc\\xe0"), ("msg", "\\x80\\x80d")]),
    (b"ab\xed\xa0\x80\n", [("msg+", "ab\\xed\\xa0"), ("msg", "\\x80")]),
    (b"abc\xe2\x82\n", [("msg+", "abc\\xe2"), ("msg", "\\x82")]),
    (b"abc\xf0\x9f\x98x\n", [("msg+", "abc\\xf0"), ("msg", "\\x9f\\x98x")]),
    (b"abc\xf0\x9f\x98", [("msg+", "abc\\xf0"), ("msg", "\\x9f\\x98")]),
], ids=["overlong", "surrogate", "cut-short", "bad-4th-byte", "tail-cut-short"])
def test_invalid_utf8_at_the_cut_is_cut_at_max_line(start_server, sent, pieces):
    srv = start_server("-t", "127.0.0.1:0", "--max-line", "4")
    peer, recs = tcp_session(srv, sent)
    assert msgs(recs) == pieces


def test_invalid_utf8_at_the_cut_is_cut_at_max_line_json(start_server):
    srv = start_server("-t", "127.0.0.1:0", "--max-line", "4", fmt="json")
    peer, recs = tcp_session(srv, b"abc\xe0\x80\x80d\n")
    pieces = [r for r in recs if r["event"] in ("msg", "msg+")]
    assert [(r["event"], r["msg"], r.get("lossy")) for r in pieces] == [
        ("msg+", "abc\ufffd", True), ("msg", "\ufffd\ufffdd", True)]


def test_character_longer_than_max_line_is_cut_at_max_line(start_server):
    srv = start_server("-t", "127.0.0.1:0", "--max-line", "3")
    peer, recs = tcp_session(srv, "😀é\n".encode())
    assert msgs(recs) == [("msg+", "\\xf0\\x9f\\x98"), ("msg", "\\x80é")]


def test_utf8_character_at_the_cut_across_reads_does_not_stall(start_server):
    # At the default --max-line a 4-byte character whose lead byte is at
    # max_line - 1 needs max_line + 3 bytes to frame: lines that cross the
    # server's buffer chains must still be framed (an earlier fix spun).
    srv = start_server("-t", "127.0.0.1:0")
    line = "a" * 8191 + "😀" + "b" * 10
    data = b"".join(b"x" * (k % 97) + b"\n" + line.encode() + b"\n" for k in range(200))
    peer, recs = tcp_session(srv, data)
    expect = []
    for k in range(200):
        expect += [("msg", "x" * (k % 97)), ("msg+", "a" * 8191), ("msg", "😀" + "b" * 10)]
    # Compared as (event, length, first and last characters): short diffs.
    def brief(pieces):
        return [(e, len(t), t[:1], t[-1:]) for e, t in pieces]
    assert brief(msgs(recs)) == brief(expect)
    assert msgs(recs) == expect
