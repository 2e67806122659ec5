"""Escaping in text records: one line per record, no terminal control bytes."""

import pytest

from conftest import requires_peerlogd, tcp_session, udp_send

pytestmark = requires_peerlogd

TEXT_ESCAPES = [
    # (line sent over TCP, detail expected in the msg record)
    (b"plain ascii ~!@#$%^&*()", "plain ascii ~!@#$%^&*()"),
    (b"tab\there", "tab\\there"),
    (b"cr\rhere", "cr\\rhere"),
    (b"nul\x00", "nul\\x00"),
    (b"\x01\x07\x08\x0b\x0c\x1f", "\\x01\\x07\\x08\\x0b\\x0c\\x1f"),
    (b"\x1b[31mred\x1b[0m", "\\x1b[31mred\\x1b[0m"),
    (b"del\x7f", "del\\x7f"),
    (b"back\\slash", "back\\\\slash"),
    (b"looks escaped \\x41", "looks escaped \\\\x41"),
    (b"\xff\xfe", "\\xff\\xfe"),
    (b"hex \xab\xcd", "hex \\xab\\xcd"),
    (b"caf\xc3\xa9", "caf\u00e9"),
    (b"euro \xe2\x82\xac", "euro \u20ac"),
    (b"smile \xf0\x9f\x99\x82", "smile \U0001f642"),
    (b"nbsp \xc2\xa0", "nbsp \u00a0"),
    (b"csi \xc2\x9b", "csi \\xc2\\x9b"),
    (b"c1 first \xc2\x80 last \xc2\x9f", "c1 first \\xc2\\x80 last \\xc2\\x9f"),
    (b"lone continuation \x80", "lone continuation \\x80"),
    (b"truncated \xe2\x82", "truncated \\xe2\\x82"),
    (b"truncated then ascii \xe2\x82x", "truncated then ascii \\xe2\\x82x"),
    (b"overlong \xc0\xaf", "overlong \\xc0\\xaf"),
    (b"overlong3 \xe0\x80\xaf", "overlong3 \\xe0\\x80\\xaf"),
    (b"surrogate \xed\xa0\x80", "surrogate \\xed\\xa0\\x80"),
    (b"too big \xf4\x90\x80\x80", "too big \\xf4\\x90\\x80\\x80"),
    (b"max \xf4\x8f\xbf\xbf", "max \U0010ffff"),
]


@pytest.mark.parametrize("sent,detail", TEXT_ESCAPES,
                         ids=[repr(s)[2:-1] for s, _ in TEXT_ESCAPES])
def test_tcp_message_is_escaped(shared_server, sent, detail):
    peer, recs = tcp_session(shared_server, sent + b"\n")
    assert recs[1] == ("tcp", peer, "msg", detail)


def test_lf_inside_udp_datagram_is_escaped(shared_server):
    peer = udp_send(shared_server.udp_addr, b"line1\nline2\r\nline3")
    shared_server.wait_event(peer, "msg")
    assert shared_server.of(peer) == [("udp", peer, "msg", "line1\\nline2\\r\\nline3")]


def test_every_byte_value_gives_one_clean_line(shared_server):
    everything = bytes(range(256))
    tcp_line = everything.replace(b"\n", b"")
    peer, recs = tcp_session(shared_server, tcp_line + b"\n")
    upeer = udp_send(shared_server.udp_addr, everything + b"\x00")
    shared_server.wait_event(upeer, "msg")
    expect = "".join(
        "\\\\" if b == 0x5c else
        "\\t" if b == 0x09 else "\\r" if b == 0x0d else "\\n" if b == 0x0a else
        chr(b) if 0x20 <= b < 0x7f else f"\\x{b:02x}" for b in everything)
    assert recs[1] == ("tcp", peer, "msg", expect.replace("\\n", "", 1))
    assert shared_server.of(upeer) == [("udp", upeer, "msg", expect + "\\x00")]


def test_no_output_line_holds_a_control_byte(shared_server):
    # Runs after the other tests of this module have filled the output.
    udp_send(shared_server.udp_addr, b"\x1b]0;title\x07\x9b\xc2\x9b\r\n")
    shared_server.wait_count(2)
    data = shared_server.output()
    assert data.endswith(b"\n")
    for line in data.split(b"\n")[:-1]:
        bad = [b for b in line if b < 0x20 or b == 0x7f]
        assert not bad, line
        text = line.decode("utf-8")
        assert not any(0x80 <= ord(ch) <= 0x9f for ch in text), line


def test_escaping_is_reversible_for_a_mixed_message(shared_server):
    sent = b"a\\b\tc\x00d\xc3\xa9e\xffx\\x00"
    peer, recs = tcp_session(shared_server, sent + b"\n")
    detail = recs[1][3]
    out = bytearray()
    i = 0
    while i < len(detail):
        ch = detail[i]
        if ch == "\\":
            nxt = detail[i + 1]
            if nxt == "x":
                out.append(int(detail[i + 2:i + 4], 16))
                i += 4
                continue
            out += {"\\": b"\\", "t": b"\t", "r": b"\r", "n": b"\n"}[nxt]
            i += 2
            continue
        out += ch.encode("utf-8")
        i += 1
    assert bytes(out) == sent
