"""Binding (issue 9): a bind failure after an earlier address bound (R7), an
IPv4-mapped IPv6 address, and `*:PORT` on a host without IPv6 (R8).

The host without IPv6 is made by an LD_PRELOAD shim (shim/noipv6.c, built
here with cc) under which socket(AF_INET6) fails with EAFNOSUPPORT; the
server then runs in a network namespace of its own (unshare -n), so binding
0.0.0.0 exposes nothing."""

import os
import shutil
import signal
import socket
import subprocess

import pytest

import conftest
from conftest import (WAIT, group_alive, needs_ipv6, requires_peerlogd,
                      run_peerlogd, split_addr, tcp_session)

pytestmark = requires_peerlogd

SHIM_SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "shim",
                        "noipv6.c")


def busy_port():
    """A TCP socket listening on 127.0.0.1 on a port no other test used:
    binding that port again fails with EADDRINUSE."""
    s = conftest._fresh_socket(socket.AF_INET, socket.SOCK_STREAM)
    s.listen(1)
    return s


# R7: a failing bind after one that worked.

def test_bind_failure_after_an_earlier_bind_is_only_the_error_line_and_exit_2(
        tmp_path):
    out = tmp_path / "new.log"
    with busy_port() as b:
        port = b.getsockname()[1]
        rc, stdout, err, pid = run_peerlogd(
            ["-t", "127.0.0.1:0", "-t", f"127.0.0.1:{port}", "-o", str(out)])
    assert rc == 2
    # No "listening" line for the address that did bind: start-up failed.
    assert err == f"peerlogd: bind 127.0.0.1:{port}: Address already in use\n"
    assert stdout == ""
    assert not group_alive(pid)


def test_bind_failure_after_an_earlier_bind_does_not_create_the_output_file(
        tmp_path):
    out = tmp_path / "new.log"
    with busy_port() as b:
        port = b.getsockname()[1]
        rc, _, err, _ = run_peerlogd(
            ["-t", "127.0.0.1:0", "-t", f"127.0.0.1:{port}", "-o", str(out)])
    assert rc == 2, err
    assert not out.exists(), "the -o file was created although start-up failed"
    assert os.listdir(tmp_path) == []


# R8: IPv4-mapped IPv6 addresses.

@needs_ipv6
def test_tcp_on_an_ipv4_mapped_address_listens_on_ipv4_and_logs_a_client(
        start_server):
    srv = start_server("-t", "[::ffff:127.0.0.1]:0", listen=1)
    assert len(srv.listening) == 1
    host, port = split_addr(srv.tcp[0])
    assert host == "127.0.0.1" and port != 0
    peer, recs = tcp_session(srv, b"mapped\n", ("127.0.0.1", port))
    assert peer.startswith("127.0.0.1:")
    assert recs == [("tcp", peer, "connect"), ("tcp", peer, "msg", "mapped"),
                    ("tcp", peer, "disconnect", "reason=eof msgs=1 bytes=7")]
    rc, _, err = srv.stop()
    assert rc == 0
    assert err == f"peerlogd: listening tcp 127.0.0.1:{port}\n"


@needs_ipv6
def test_bind_error_on_an_ipv4_mapped_address_names_the_address_as_typed():
    with busy_port() as b:
        port = b.getsockname()[1]
        rc, stdout, err, pid = run_peerlogd(["-t", f"[::ffff:127.0.0.1]:{port}"])
    assert rc == 2
    assert err == f"peerlogd: bind [::ffff:127.0.0.1]:{port}: Address already in use\n"
    assert stdout == ""
    assert not group_alive(pid)


# R8: *:PORT on a host without IPv6.

@pytest.fixture(scope="module")
def noipv6_shim(tmp_path_factory):
    """Path of the shim, built from shim/noipv6.c."""
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if cc is None:
        pytest.skip("no C compiler to build the no-IPv6 shim")
    so = str(tmp_path_factory.mktemp("shim") / "noipv6.so")
    r = subprocess.run([cc, "-shared", "-fPIC", "-O2", "-o", so, SHIM_SRC],
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr.decode()
    return so


def own_netns_wrapper():
    """A wrapper running the server in a new network namespace (only a
    loopback interface, down), or skip when that cannot be made here."""
    try:
        r = subprocess.run(["unshare", "-n", "true"], stdin=subprocess.DEVNULL,
                           capture_output=True, timeout=WAIT)
    except (OSError, subprocess.TimeoutExpired):
        r = None
    if r is None or r.returncode != 0:
        pytest.skip("cannot make a network namespace here: *:PORT would bind "
                    "0.0.0.0 on the host")
    return ["unshare", "-n", "sh", "-c", 'exec "$@"', "peerlogd"]


@pytest.fixture
def without_ipv6(noipv6_shim, monkeypatch):
    """The environment of a host without IPv6 for the server started next;
    returns the wrapper that puts it in its own network namespace."""
    wrapper = own_netns_wrapper()
    monkeypatch.setenv("LD_PRELOAD", noipv6_shim)
    # A sanitizer build would refuse a library loaded before its runtime.
    asan = os.environ.get("ASAN_OPTIONS", "")
    monkeypatch.setenv("ASAN_OPTIONS",
                       (asan + ":" if asan else "") + "verify_asan_link_order=0")
    return wrapper


@pytest.mark.parametrize("opt,proto", [("-t", "tcp"), ("-u", "udp")])
def test_any_address_without_ipv6_binds_ipv4_alone_and_warns(
        start_server, without_ipv6, opt, proto):
    long = "--tcp" if proto == "tcp" else "--udp"
    srv = start_server(opt, "*:0", listen=1, wrapper=without_ipv6)
    assert len(srv.listening) == 1
    host, port = split_addr(srv.listening[0][1])
    assert (srv.listening[0][0], host) == (proto, "0.0.0.0") and port != 0
    rc, recs, err = srv.stop(signal.SIGTERM)
    assert sorted(err.splitlines()) == sorted([
        f"peerlogd: listening {proto} 0.0.0.0:{port}",
        f"peerlogd: {long} *:0: Address family not supported by protocol; "
        "IPv4 only"])
    # The warning does not change how the run ends.
    assert rc == 0
    assert recs[-1] == ("-", "-", "stop", "signal=SIGTERM")
