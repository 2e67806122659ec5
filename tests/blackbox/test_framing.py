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
