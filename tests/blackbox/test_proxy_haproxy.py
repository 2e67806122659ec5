"""A real HAProxy (Debian's haproxy, installed by build.sh test) in front
of peerlogd --proxy: mode tcp, `send-proxy` and `send-proxy-v2`, in front
of TCP and TLS listeners (HAProxy passes the TLS bytes through; the Python
client does TLS end to end). peerlogd must log the Python client's own
address and port (its getsockname()) and via= the address of HAProxy's
connection to peerlogd (checked: a socket that the haproxy process holds).
HAProxy's health checks (`check`, which with send-proxy-v2 send a v2 LOCAL
header, and with send-proxy a v1 TCP4 header naming the check connection
itself) must be harmless: connect/disconnect of the proxy's own address,
never a reject. (A check without send-proxy never reaches peerlogd: HAProxy
resets it right after the SYN-ACK.)

Every haproxy runs in the foreground (-db) in its own session, and is
stopped by its PID.
"""

import os
import random
import re
import shutil
import signal
import socket
import subprocess
import time

import pytest

from conftest import (WAIT, peer_of, requires_peerlogd, split_addr,
                      tcp_connect, tls_args, tls_connect)
from proxyhelp import finish, v1, v2

pytestmark = [
    requires_peerlogd,
    pytest.mark.skipif(shutil.which("haproxy") is None,
                       reason="haproxy is not installed (build.sh test installs it)"),
]

HAPROXY = shutil.which("haproxy") or "haproxy"


def free_port():
    """A port free now below the ephemeral range (which clients and port-0
    listeners draw from), for haproxy's frontend. HAProxy is started again
    on another one if it is taken in between (see HAProxy)."""
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        low = int(f.read().split()[0])
    for _ in range(100):
        port = random.randrange(max(1024, low - 12000), low)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise AssertionError("no free port for haproxy")


def listening(pid, port):
    """Whether process pid listens on TCP 127.0.0.1:port (from
    /proc/net/tcp, so the probe itself makes no connection)."""
    want = f"0100007F:{port:04X}"
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if fields[1] == want and fields[3] == "0A" and holds_socket(pid, fields[9]):
                return True
    return False


def tcp_inode(local, remote):
    """The inode of the TCP socket local -> remote ((host, port), IPv4),
    or None."""
    def hexaddr(a):
        return "%08X:%04X" % (int.from_bytes(socket.inet_aton(a[0]), "little"), a[1])
    want_l, want_r = hexaddr(local), hexaddr(remote)
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if fields[1] == want_l and fields[2] == want_r:
                return fields[9]
    return None


def holds_socket(pid, inode):
    """Whether process pid has socket inode open."""
    want = f"socket:[{inode}]"
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in fds:
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") == want:
                return True
        except OSError:
            pass
    return False


class HAProxy:
    """haproxy -f CFG -db: one frontend on a free 127.0.0.1 port, one
    backend server at target with server options opts."""

    def __init__(self, tmp_path, target, opts, name="hap"):
        for attempt in range(5):
            if self._start(tmp_path, target, opts, f"{name}-{attempt}"):
                return
        raise AssertionError(f"haproxy did not listen: {self.log.read_text()!r}")

    def _start(self, tmp_path, target, opts, name):
        """Start haproxy on a free port; False if that port was taken
        meanwhile (haproxy exited saying so)."""
        self.port = free_port()
        self.cfg = tmp_path / f"{name}.cfg"
        self.log = tmp_path / f"{name}.log"
        self.cfg.write_text(
            "global\n"
            "    maxconn 100\n"
            "defaults\n"
            "    mode tcp\n"
            "    timeout connect 5s\n"
            "    timeout client 30s\n"
            "    timeout server 30s\n"
            f"frontend fe\n"
            f"    bind 127.0.0.1:{self.port}\n"
            f"    default_backend be\n"
            f"backend be\n"
            f"    server s1 {target[0]}:{target[1]} {opts}\n")
        self._logf = open(self.log, "wb")
        self.proc = subprocess.Popen(
            [HAPROXY, "-f", str(self.cfg), "-db"], stdin=subprocess.DEVNULL,
            stdout=self._logf, stderr=subprocess.STDOUT, start_new_session=True)
        self.pid = self.proc.pid
        deadline = time.monotonic() + WAIT
        while not listening(self.pid, self.port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                if "Address already in use" in self.log.read_text():
                    return False
                raise AssertionError(f"haproxy did not listen: {self.log.read_text()!r}")
            time.sleep(0.02)
        return True

    @property
    def addr(self):
        return ("127.0.0.1", self.port)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(WAIT)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.proc.wait(WAIT)
        self._logf.close()


@pytest.fixture
def haproxy(tmp_path):
    started = []

    def start(target, opts, name=None):
        h = HAProxy(tmp_path, target, opts, name or f"hap{len(started)}")
        started.append(h)
        return h

    yield start
    for h in started:
        h.stop()


def check_via_is_haproxy(hap, via, srv_addr):
    """via is the address of a socket haproxy holds, connected to srv_addr."""
    host, port = split_addr(via)
    assert host == "127.0.0.1"
    inode = tcp_inode((host, port), srv_addr)
    assert inode is not None, f"no TCP socket {via} -> {srv_addr}"
    assert holds_socket(hap.pid, inode), f"{via} is not haproxy's socket"


# ---- the test's own headers are HAProxy's ----

@pytest.mark.parametrize("opt", ["send-proxy", "send-proxy-v2"])
def test_haproxy_sends_the_headers_these_tests_build(haproxy, opt):
    """A plain listener as the backend: what HAProxy sends is what
    proxyhelp.v1()/v2() build for the same addresses (v2: HAProxy may add
    TLVs after the addresses)."""
    with socket.socket() as lsn:
        lsn.bind(("127.0.0.1", 0))
        lsn.listen(1)
        lsn.settimeout(WAIT)
        hap = haproxy(lsn.getsockname(), opt)
        with tcp_connect(hap.addr) as c:
            cport = c.getsockname()[1]
            c.sendall(b"payload\n")
            conn, _ = lsn.accept()
            with conn:
                conn.settimeout(WAIT)
                got = b""
                while not got.endswith(b"payload\n"):
                    chunk = conn.recv(4096)
                    assert chunk, f"haproxy closed early: {got!r}"
                    got += chunk
    hdr = got[:-len(b"payload\n")]
    if opt == "send-proxy":
        assert hdr == v1("127.0.0.1", "127.0.0.1", cport, hap.port)
    else:
        mine = v2("127.0.0.1", "127.0.0.1", cport, hap.port)
        assert hdr[:14] == mine[:14]
        assert int.from_bytes(hdr[14:16], "big") == len(hdr) - 16 >= 12
        assert hdr[16:28] == mine[16:28]


# ---- peerlogd behind HAProxy ----

@pytest.mark.parametrize("opt", ["send-proxy", "send-proxy-v2"])
def test_tcp_behind_haproxy_logs_the_real_client(start_server, haproxy, opt):
    srv = start_server("-t", "127.0.0.1:0", "--proxy", "127.0.0.1/32")
    hap = haproxy(srv.tcp_addr, opt)
    with tcp_connect(hap.addr) as c:
        peer = peer_of(c)
        c.sendall(b"through haproxy\r\nsecond\n")
        srv.wait_record(("tcp", peer, "msg", "second"))
        connect = srv.of(peer)[0]
        via = re.fullmatch(r"via=(\S+)", connect[3]).group(1)
        check_via_is_haproxy(hap, via, srv.tcp_addr)
        finish(c)
    srv.wait_event(peer, "disconnect")
    assert srv.of(peer) == [
        ("tcp", peer, "connect", f"via={via}"),
        ("tcp", peer, "msg", "through haproxy"),
        ("tcp", peer, "msg", "second"),
        ("tcp", peer, "disconnect", "reason=eof msgs=2 bytes=24"),
    ]
    assert srv.of(via) == []
    assert [r for r in srv.records() if r[2] == "reject"] == []


@pytest.mark.parametrize("opt", ["send-proxy", "send-proxy-v2"])
def test_many_clients_behind_haproxy_each_their_own_peer(start_server, haproxy, opt):
    srv = start_server("-t", "127.0.0.1:0", "--proxy", "127.0.0.0/8", fmt="json")
    hap = haproxy(srv.tcp_addr, opt)
    clients = [tcp_connect(hap.addr) for _ in range(8)]
    try:
        peers = [peer_of(c) for c in clients]
        for i, c in enumerate(clients):
            c.sendall(b"client %d\n" % i)
        for c in clients:
            finish(c)
    finally:
        for c in clients:
            c.close()
    srv.wait_for(lambda rs: sum(r["event"] == "disconnect" for r in rs) >= 8,
                 "8 disconnects")
    recs = srv.json_records()
    vias = set()
    for i, peer in enumerate(peers):
        mine = [{k: v for k, v in r.items() if k != "ts"} for r in recs
                if r["peer"] == peer]
        assert [r["event"] for r in mine] == ["connect", "msg", "disconnect"]
        assert set(mine[0]) == {"proto", "peer", "event", "via"}
        assert mine[0]["proto"] == "tcp"
        assert mine[1]["msg"] == f"client {i}"
        assert (mine[2]["reason"], mine[2]["msgs"], mine[2]["bytes"]) == ("eof", 1, 9)
        vias.add(mine[0]["via"])
    assert len(vias) == 8 and not vias & set(peers)
    assert {r["peer"] for r in recs if r["event"] == "connect"} == set(peers)


def test_tls_behind_haproxy_send_proxy_v2(start_server, haproxy, pki):
    srv = start_server(*tls_args(pki, "--proxy", "127.0.0.1/32"))
    hap = haproxy(srv.tls_addr, "send-proxy-v2")
    with tls_connect(hap.addr, pki) as s:
        peer = peer_of(s)
        tls = f"tls={s.version()} cipher={s.cipher()[0]}"
        s.sendall(b"end to end\n")
        srv.wait_record(("tls", peer, "msg", "end to end"))
        connect = srv.of(peer)[0]
        m = re.fullmatch(re.escape(tls) + r" via=(\S+)", connect[3])
        assert m, connect
        via = m.group(1)
        check_via_is_haproxy(hap, via, srv.tls_addr)
        try:
            s.unwrap()
        except (OSError, ValueError):
            pass
    srv.wait_event(peer, "disconnect")
    assert srv.of(peer) == [
        ("tls", peer, "connect", f"{tls} via={via}"),
        ("tls", peer, "msg", "end to end"),
        ("tls", peer, "disconnect", "reason=eof msgs=1 bytes=11"),
    ]
    assert [r for r in srv.records() if r[2] == "reject"] == []


def test_tls_behind_haproxy_send_proxy_v1_json(start_server, haproxy, pki):
    srv = start_server(*tls_args(pki, "--proxy", "127.0.0.1/32"), fmt="json")
    hap = haproxy(srv.tls_addr, "send-proxy")
    with tls_connect(hap.addr, pki) as s:
        peer = peer_of(s)
        version, cipher = s.version(), s.cipher()[0]
        s.sendall(b"json\n")
        srv.wait_for(lambda rs: any(r["peer"] == peer and r["event"] == "msg"
                                    for r in rs), "the msg")
        try:
            s.unwrap()
        except (OSError, ValueError):
            pass
    srv.wait_for(lambda rs: any(r["peer"] == peer and r["event"] == "disconnect"
                                for r in rs), "the disconnect")
    recs = [{k: v for k, v in r.items() if k != "ts"} for r in srv.json_records()
            if r["peer"] == peer]
    via = recs[0].get("via", "")
    assert recs == [
        {"proto": "tls", "peer": peer, "event": "connect", "tls": version,
         "cipher": cipher, "via": via},
        {"proto": "tls", "peer": peer, "event": "msg", "msg": "json"},
        {"proto": "tls", "peer": peer, "event": "disconnect", "reason": "eof", "msgs": 1,
         "bytes": 5},
    ]
    assert split_addr(via)[0] == "127.0.0.1" and via != peer


@pytest.mark.parametrize("opt", ["send-proxy", "send-proxy-v2"])
def test_health_checks_with_proxy_headers_are_harmless(start_server, haproxy, opt):
    """`check` with send-proxy(-v2) sends a header on each check connection
    (v2 LOCAL; v1 TCP4 naming the check connection itself), nothing else,
    and resets it: peerlogd serves it as the proxy's own address, never a
    reject; real clients still get their own address."""
    srv = start_server("-t", "127.0.0.1:0", "--proxy", "127.0.0.1/32")
    hap = haproxy(srv.tcp_addr, f"{opt} check inter 100ms")

    def checks(rs):
        return [r for r in rs if r[2] == "disconnect"]

    srv.wait_for(lambda rs: len(checks(rs)) >= 3, "3 health checks")
    with tcp_connect(hap.addr) as c:
        peer = peer_of(c)
        c.sendall(b"real\n")
        finish(c)
    srv.wait_event(peer, "disconnect")
    recs = srv.records()
    assert [r for r in recs if r[2] == "reject"] == []
    mine = [r for r in recs if r[1] == peer]
    assert mine[1:] == [("tcp", peer, "msg", "real"),
                        ("tcp", peer, "disconnect", "reason=eof msgs=1 bytes=5")]
    assert re.fullmatch(r"via=127\.0\.0\.1:\d+", mine[0][3])
    others = {}
    for r in recs:
        if r[1] != peer and r[1] != "-":
            others.setdefault(r[1], []).append(r)
    assert len(others) >= 3
    for p, rs in others.items():
        assert split_addr(p)[0] == "127.0.0.1"
        # v2: LOCAL, the proxy's own address and no via=; v1: HAProxy 2.6
        # names the check connection itself (PROXY TCP4 with its own
        # addresses), so the client named and via= are the same address.
        check_connect = (("tcp", p, "connect") if opt == "send-proxy-v2"
                         else ("tcp", p, "connect", f"via={p}"))
        if len(rs) == 2:
            assert rs[0] == check_connect
            assert re.fullmatch(r"reason=(eof|reset) msgs=0 bytes=0", rs[1][3]), rs
        else:
            assert rs == [check_connect], rs  # a check still open
