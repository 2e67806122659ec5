"""The text record format: TIMESTAMP PROTO PEER EVENT[ DETAIL]."""

import datetime
import signal
import time

import pytest

from conftest import (VERSION, check_ts, parse_kv, peer_of, requires_peerlogd,
                      tcp_connect, tcp_session, udp_send, udp_socket)

pytestmark = requires_peerlogd


@pytest.mark.parametrize("output", ["file", "stdout"])
def test_tcp_session_gives_connect_msgs_and_disconnect(start_server, output):
    srv = start_server(output=output)
    peer, recs = tcp_session(srv, b"hello world\r\nbye\n")
    assert recs == [
        ("tcp", peer, "connect"),
        ("tcp", peer, "msg", "hello world"),
        ("tcp", peer, "msg", "bye"),
        ("tcp", peer, "disconnect", "reason=eof msgs=2 bytes=17"),
    ]
    rc, all_recs, _ = srv.stop()
    assert rc == 0
    assert all_recs == [("-", "-", "start", f"version={VERSION} pid={srv.pid}")] + \
        recs + [("-", "-", "stop", "signal=SIGTERM")]


def test_udp_datagram_gives_one_msg_record_with_sender_port(server):
    peer = udp_send(server.udp_addr, b"ping")
    server.wait_record(("udp", peer, "msg", "ping"))
    assert server.of(peer) == [("udp", peer, "msg", "ping")]


def test_udp_datagrams_from_one_socket_share_its_peer(server):
    with udp_socket(server.udp_addr) as s:
        peer = peer_of(s)
        for m in (b"one", b"two", b"three"):
            s.sendto(m, server.udp_addr)
        server.wait_for(lambda rs: len([r for r in rs if r[1] == peer]) == 3,
                        "three datagrams")
    assert server.of(peer) == [("udp", peer, "msg", "one"), ("udp", peer, "msg", "two"),
                               ("udp", peer, "msg", "three")]


def test_message_spaces_are_kept_exactly(server):
    peer, recs = tcp_session(server, b"  two  leading and trailing  \n")
    assert recs[1] == ("tcp", peer, "msg", "  two  leading and trailing  ")


def test_record_line_layout_is_exact(server):
    peer, _ = tcp_session(server, b"x y\n")
    lines = [l.decode() for l in server.lines()]
    mine = [l for l in lines if f" {peer} " in l]
    assert [l[27:] for l in mine] == [
        f" tcp {peer} connect",
        f" tcp {peer} msg x y",
        f" tcp {peer} disconnect reason=eof msgs=1 bytes=4",
    ]
    for l in mine:
        check_ts(l[:27])


def test_timestamps_are_utc_now_with_microseconds_and_ordered(server):
    before = datetime.datetime.now(datetime.timezone.utc)
    tcp_session(server, b"a\nb\nc\n")
    after = datetime.datetime.now(datetime.timezone.utc)
    stamps = [check_ts(ts) for ts, _ in server.timed_records()]
    assert stamps == sorted(stamps)
    slack = datetime.timedelta(seconds=2)
    for t in stamps:
        assert before - slack <= t <= after + slack


def test_timestamps_have_distinct_microseconds_over_time(server):
    with tcp_connect(server.tcp_addr) as c:
        peer = peer_of(c)
        c.sendall(b"first\n")
        server.wait_record(("tcp", peer, "msg", "first"))
        time.sleep(0.01)
        c.sendall(b"second\n")
        server.wait_record(("tcp", peer, "msg", "second"))
    timed = dict((r[3], ts) for ts, r in server.timed_records()
                 if r[1] == peer and r[2] == "msg")
    assert check_ts(timed["second"]) - check_ts(timed["first"]) >= \
        datetime.timedelta(milliseconds=10)


def test_sigint_stop_record_names_sigint(server):
    rc, recs, _ = server.stop(signal.SIGINT)
    assert rc == 0
    assert recs[-1] == ("-", "-", "stop", "signal=SIGINT")


def test_stats_record_key_order(server):
    server.send_signal(signal.SIGUSR1)
    recs = server.wait_for(lambda rs: any(r[2] == "stats" for r in rs), "stats")
    st = [r for r in recs if r[2] == "stats"][0]
    assert st[:2] == ("-", "-")
    assert list(parse_kv(st[3])) == ["clients", "connects", "rejects", "tcp_msgs",
                                     "tcp_bytes", "udp_msgs", "udp_bytes",
                                     "udp_dropped", "udp_dropped_acl",
                                     "udp_dropped_kernel", "records_lost",
                                     "output_bytes", "output_errors",
                                     "tls_msgs", "tls_bytes"]


def test_empty_message_record_ends_with_msg_and_a_space(server):
    peer, recs = tcp_session(server, b"\n")
    assert recs[1] == ("tcp", peer, "msg", "")
    raw = [l for l in server.lines() if f" {peer} msg".encode() in l]
    assert raw[0].endswith(f" tcp {peer} msg ".encode())


def test_connect_record_has_no_detail(server):
    with tcp_connect(server.tcp_addr) as c:
        peer = peer_of(c)
        server.wait_record(("tcp", peer, "connect"))
    raw = [l for l in server.lines() if f" {peer} connect".encode() in l]
    assert raw[0].endswith(f" tcp {peer} connect".encode())
