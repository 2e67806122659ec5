"""--reuseport: SO_REUSEPORT on every listening socket, so that several
peerlogd processes share a port and the kernel spreads the connections and
datagrams among them, each process writing its own output."""

import socket

import pytest

from conftest import (peer_of, requires_peerlogd, run_peerlogd, stop_quiet, tcp_connect,
                      tls_connect,
                      udp_send)

pytestmark = requires_peerlogd

CLIENTS = 64


def free_port():
    """A loopback port free for TCP and for UDP now."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
            t.bind(("127.0.0.1", 0))
            port = t.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                try:
                    u.bind(("127.0.0.1", port))
                except OSError:
                    continue
        return port
    raise RuntimeError("no free port for TCP and UDP")


def shared_pair(start_server):
    """Two servers with --reuseport on one TCP and UDP port."""
    port = free_port()
    args = ("--reuseport", "-t", f"127.0.0.1:{port}", "-u", f"127.0.0.1:{port}")
    a = start_server(*args)
    b = start_server(*args)
    for srv in (a, b):
        assert srv.tcp == [f"127.0.0.1:{port}"] and srv.udp == [f"127.0.0.1:{port}"]
    return port, a, b


def messages(srv):
    """The msg records' texts of a server's output."""
    return [r[3] for r in srv.records() if r[2] == "msg"]


def test_two_servers_share_the_tcp_port(start_server):
    port, a, b = shared_pair(start_server)
    sent = []
    for i in range(CLIENTS):
        with tcp_connect(("127.0.0.1", port)) as c:
            text = f"client {i} {peer_of(c)}"
            c.sendall(text.encode() + b"\n")
            sent.append(text)
    a.wait_for(lambda _: len(messages(a)) + len(messages(b)) >= CLIENTS,
               f"{CLIENTS} messages in both outputs")
    got_a, got_b = messages(a), messages(b)
    assert got_a and got_b, "the kernel spreads the connections"
    assert sorted(got_a + got_b) == sorted(sent)
    for srv in (a, b):
        stop_quiet(srv)


def test_two_servers_share_the_udp_port(start_server):
    port, a, b = shared_pair(start_server)
    sent = [f"datagram {i}" for i in range(CLIENTS)]
    for text in sent:
        udp_send(("127.0.0.1", port), text.encode())
    a.wait_for(lambda _: len(messages(a)) + len(messages(b)) >= CLIENTS,
               f"{CLIENTS} datagrams in both outputs")
    got_a, got_b = messages(a), messages(b)
    assert got_a and got_b, "the kernel spreads the senders"
    assert sorted(got_a + got_b) == sorted(sent)
    for srv in (a, b):
        stop_quiet(srv)


@pytest.mark.parametrize("first", [("--reuseport",), ()],
                         ids=["first-with", "first-without"])
def test_a_second_server_without_reuseport_cannot_bind(start_server, first):
    port = free_port()
    addr = f"127.0.0.1:{port}"
    a = start_server(*first, "-t", addr, "-u", addr)
    rc, out, err, _ = run_peerlogd(["-t", addr, "-u", addr, "-o", "/dev/null"])
    assert rc == 2
    assert err == f"peerlogd: bind {addr}: Address already in use\n"
    assert a.proc.poll() is None
    stop_quiet(a)


def test_reuseport_on_one_side_only_cannot_bind(start_server):
    port = free_port()
    addr = f"127.0.0.1:{port}"
    a = start_server("-t", addr, "-u", addr)
    rc, _, err, _ = run_peerlogd(["--reuseport", "-t", addr, "-o", "/dev/null"])
    assert rc == 2
    assert err == f"peerlogd: bind {addr}: Address already in use\n"
    stop_quiet(a)


def test_two_tls_servers_share_the_port(start_server, pki):
    port = free_port()
    args = ("--reuseport", "-T", f"127.0.0.1:{port}", "--cert", pki.server_cert,
            "--key", pki.server_key)
    a = start_server(*args)
    b = start_server(*args)
    assert a.tls == b.tls == [f"127.0.0.1:{port}"]
    sent = []
    for i in range(CLIENTS // 4):
        with tls_connect(("127.0.0.1", port), pki) as c:
            text = f"tls client {i}"
            c.sendall(text.encode() + b"\n")
            sent.append(text)
    a.wait_for(lambda _: len(messages(a)) + len(messages(b)) >= len(sent),
               f"{len(sent)} messages in both outputs")
    assert sorted(messages(a) + messages(b)) == sorted(sent)
    for srv in (a, b):
        stop_quiet(srv)
