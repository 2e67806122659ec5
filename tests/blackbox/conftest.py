"""Fixtures and helpers for the black-box tests of peerlogd.

The server binary comes from the environment variable PEERLOGD; tests of the
server are skipped when it is unset. Every server is started in its own
session, only on 127.0.0.1 / ::1, and killed at teardown if a test left it
running. Every wait is bounded.
"""

import datetime
import functools
import json
import os
import re
import resource
import select
import signal
import socket
import ssl
import struct
import subprocess
import threading
import time

import pytest

import tlsca

PEERLOGD = os.environ.get("PEERLOGD")

# Mark for every server test module: pytestmark = requires_peerlogd
requires_peerlogd = pytest.mark.skipif(
    not PEERLOGD, reason="PEERLOGD (path of the server binary) is not set")

DEFAULT_ARGS = ("-t", "127.0.0.1:0", "-u", "127.0.0.1:0")
VERSION = "0.1.0"

# How long any single wait may take; generous, only hit when something is wrong.
WAIT = 5.0
STOP_WAIT = 10.0

TS_RE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")
REC_RE = re.compile(
    r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z) (tcp|udp|tls|-) (\S+) (\S+)(?: (.*))?")
LISTEN_RE = re.compile(r"peerlogd: listening (tcp|udp|tls) (\S+)")


@functools.lru_cache(maxsize=1 << 16)
def check_ts(ts):
    """Assert ts is RFC 3339 UTC with microseconds and a real date; return it
    as an aware datetime. (Cached: records of one loop pass share their
    timestamp, and some tests parse hundreds of thousands of records.)"""
    assert TS_RE.fullmatch(ts), f"bad timestamp {ts!r}"
    dt = datetime.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ")
    return dt.replace(tzinfo=datetime.timezone.utc)


def parse_text_line(line):
    """Parse one text record (str, no LF) into (ts, tuple).

    The tuple is (proto, peer, event) or (proto, peer, event, detail); detail
    is "" for a record ending in "msg " (an empty message)."""
    m = REC_RE.fullmatch(line)
    assert m, f"not a text record: {line!r}"
    ts, proto, peer, event, detail = m.groups()
    check_ts(ts)
    rec = (proto, peer, event)
    if detail is not None:
        rec += (detail,)
    return ts, rec


def split_lines(data):
    """Complete lines (bytes, LF removed) of data; a partial last line is
    ignored (it is still being written)."""
    parts = data.split(b"\n")
    return parts[:-1]


def parse_kv(detail):
    """"a=1 b=x" -> {"a": "1", "b": "x"}, keeping order."""
    out = {}
    for item in detail.split(" "):
        k, sep, v = item.partition("=")
        assert sep, f"not key=value: {item!r} in {detail!r}"
        out[k] = v
    return out


def sockaddr_str(sa):
    """Socket address tuple -> 'IPV4:PORT' or '[IPV6]:PORT' as in records."""
    host, port = sa[0], sa[1]
    if ":" in host:
        return f"[{host}]:{port}"
    return f"{host}:{port}"


def peer_of(sock):
    """How the server should show this client socket: its local address."""
    return sockaddr_str(sock.getsockname())


def split_addr(text):
    """'127.0.0.1:P' or '[::1]:P' -> (host, port)."""
    host, _, port = text.rpartition(":")
    if host.startswith("["):
        host = host[1:-1]
    return host, int(port)


def have_ipv6():
    """Whether ::1 can be bound here."""
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


needs_ipv6 = pytest.mark.skipif(not have_ipv6(), reason="no IPv6 loopback")


_USED_PORTS = set()


def _fresh_socket(fam, typ):
    """A socket bound to a loopback port no earlier test of this session
    used, TCP or UDP (records name a peer by address and port only), so
    records of one test can never be taken for another's (tests share a
    server, and the kernel reuses ephemeral ports)."""
    held = []
    try:
        for _ in range(100):
            s = socket.socket(fam, typ)
            s.bind(("::1" if fam == socket.AF_INET6 else "127.0.0.1", 0))
            port = s.getsockname()[1]
            if port not in _USED_PORTS:
                _USED_PORTS.add(port)
                return s
            held.append(s)
        raise RuntimeError("no fresh loopback port")
    finally:
        for h in held:
            h.close()


def tcp_connect(addr, timeout=WAIT):
    """A TCP client socket connected to addr ((host, port)), with a timeout."""
    fam = socket.AF_INET6 if ":" in addr[0] else socket.AF_INET
    s = _fresh_socket(fam, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(addr)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def reset_close(sock):
    """Close sock with an RST instead of a FIN (SO_LINGER with 0 seconds)."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def udp_socket(addr):
    """A UDP socket bound to an ephemeral loopback port of addr's family."""
    fam = socket.AF_INET6 if ":" in addr[0] else socket.AF_INET
    return _fresh_socket(fam, socket.SOCK_DGRAM)


def udp_send(addr, data):
    """Send one datagram to addr from a fresh socket; return the peer text."""
    with udp_socket(addr) as s:
        s.sendto(data, addr)
        return peer_of(s)


def _addr_host(text):
    """Host part of an ADDR option value, brackets removed ('' for PORT)."""
    if text.startswith("["):
        return text[1:text.index("]")]
    if ":" not in text:
        return ""
    return text.rsplit(":", 1)[0]


def expected_listen_count(args):
    """How many 'listening' lines the server should print for args."""
    n = 0
    it = iter(args)
    for a in it:
        val = None
        if a in ("-t", "-u", "-T", "--tcp", "--udp", "--tls"):
            val = next(it, None)
        elif a.startswith(("--tcp=", "--udp=", "--tls=")):
            val = a.split("=", 1)[1]
        if val is None:
            continue
        host = _addr_host(val)
        if host in ("", "*"):
            n += 2
        elif host.replace(".", "").isdigit() or ":" in host:
            n += 1
        else:
            n += len({ai[4][0] for ai in socket.getaddrinfo(
                host, 0, type=socket.SOCK_STREAM)})
    return n


class Server:
    """A running peerlogd with its output, stderr and listening addresses."""

    def __init__(self, args=DEFAULT_ARGS, *, tmp_dir, output="file", fmt=None,
                 listen=None, out_path=None, nofile=None, wrapper=None,
                 env=None, pass_fds=()):
        self.fmt = fmt or "text"
        argv = [PEERLOGD] + list(args)
        if fmt:
            argv += ["-f", fmt]
        self.out_path = None
        if output == "file":
            self.out_path = out_path or os.path.join(str(tmp_dir), "out.log")
            argv += ["-o", self.out_path]
        elif output == "given":
            # The caller passed -o/--output in args itself.
            self.out_path = out_path
        if wrapper:
            # A command that ends by exec'ing the server (same pid).
            argv = list(wrapper) + argv
        self.argv = argv
        self._cond = threading.Condition()
        self._stdout = bytearray()
        self._stderr = bytearray()
        self._raw_r = None
        stdout = subprocess.PIPE
        if output == "rawpipe":
            # Records go to a pipe we read by hand and can close (no thread).
            self._raw_r, stdout = os.pipe()
        elif output == "rawsocket":
            # The same with a stream socket (socketpair) as standard output.
            a, b = socket.socketpair()
            self._raw_r, stdout = a.detach(), b.detach()
        preexec = None
        if nofile is not None:
            # (soft, hard) RLIMIT_NOFILE for the server, set before exec.
            def preexec(lim=tuple(nofile)):
                resource.setrlimit(resource.RLIMIT_NOFILE, lim)
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=stdout,
            stderr=subprocess.PIPE, start_new_session=True, preexec_fn=preexec,
            env=env, pass_fds=tuple(pass_fds))
        self.pid = self.proc.pid
        self._threads = [
            threading.Thread(target=self._pump, args=(self.proc.stderr, self._stderr),
                             daemon=True),
        ]
        if output in ("rawpipe", "rawsocket"):
            os.close(stdout)
        else:
            self._threads.append(threading.Thread(
                target=self._pump, args=(self.proc.stdout, self._stdout), daemon=True))
        for t in self._threads:
            t.start()
        if listen is None:
            listen = expected_listen_count(args)
        self.listening = self._wait_listening(listen)
        self.tcp = [a for p, a in self.listening if p == "tcp"]
        self.udp = [a for p, a in self.listening if p == "udp"]
        self.tls = [a for p, a in self.listening if p == "tls"]

    def _pump(self, f, buf):
        """Copy a pipe into buf until EOF (a thread per pipe)."""
        while True:
            try:
                chunk = os.read(f.fileno(), 65536)
            except (OSError, ValueError):
                chunk = b""
            with self._cond:
                if not chunk:
                    self._cond.notify_all()
                    return
                buf += chunk
                self._cond.notify_all()

    def close_stdout_reader(self):
        """With output='rawpipe' or 'rawsocket': wait for the start record on the pipe, then
        close the only read end, so the server's next write gets EPIPE."""
        data = b""
        deadline = time.monotonic() + WAIT
        while b"\n" not in data and time.monotonic() < deadline:
            ready, _, _ = select.select([self._raw_r], [], [], 0.05)
            if ready:
                chunk = os.read(self._raw_r, 65536)
                if not chunk:
                    break
                data += chunk
        os.close(self._raw_r)
        self._raw_r = None
        assert b" start version=" in data, f"no start record on stdout: {data!r}"

    def close_raw_fd(self):
        """With output='rawpipe' or 'rawsocket': close the test's end now
        (the reader goes away), whatever was read from it."""
        if self._raw_r is not None:
            os.close(self._raw_r)
            self._raw_r = None

    @property
    def raw_fd(self):
        """With output='rawpipe' or 'rawsocket': the read end of the output pipe, which the
        test reads (or leaves unread) itself."""
        return self._raw_r

    def _wait_listening(self, n):
        """Wait for n 'listening' lines on stderr; return [(proto, addr)]."""
        deadline = time.monotonic() + WAIT
        while True:
            with self._cond:
                text = bytes(self._stderr).decode("utf-8", "replace")
                found = [m.groups() for m in (LISTEN_RE.fullmatch(l)
                                              for l in text.split("\n")[:-1]) if m]
                if len(found) >= n:
                    return found
                left = deadline - time.monotonic()
                if self.proc.poll() is not None or left <= 0:
                    break
                self._cond.wait(min(left, 0.05))
        self.kill()
        raise AssertionError(
            f"peerlogd did not print {n} listening lines: rc={self.proc.returncode} "
            f"stderr={text!r}")

    @property
    def tcp_addr(self):
        """(host, port) of the first TCP listener."""
        return split_addr(self.tcp[0])

    @property
    def udp_addr(self):
        """(host, port) of the first UDP socket."""
        return split_addr(self.udp[0])

    @property
    def tls_addr(self):
        """(host, port) of the first TLS listener."""
        return split_addr(self.tls[0])

    def stderr(self):
        with self._cond:
            return bytes(self._stderr).decode("utf-8", "replace")

    def output(self):
        """All bytes written to the output so far."""
        if self.out_path:
            try:
                with open(self.out_path, "rb") as f:
                    return f.read()
            except FileNotFoundError:
                return b""
        with self._cond:
            return bytes(self._stdout)

    def lines(self):
        """Complete output lines as bytes, without their LF."""
        return split_lines(self.output())

    def timed_records(self):
        """[(ts, record tuple)] for the text format."""
        return [parse_text_line(l.decode("utf-8")) for l in self.lines()]

    def records(self):
        """[record tuple] for the text format (timestamps checked, dropped)."""
        return [r for _, r in self.timed_records()]

    def json_records(self):
        """[dict] for the JSON format, one per line."""
        return [json.loads(l.decode("utf-8")) for l in self.lines()]

    def parsed(self):
        return self.json_records() if self.fmt == "json" else self.records()

    def wait_for(self, pred, what="condition", timeout=WAIT):
        """Poll the output until pred(records) is true; return the records."""
        deadline = time.monotonic() + timeout
        while True:
            recs = self.parsed()
            if pred(recs):
                return recs
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"peerlogd exited (rc={self.proc.returncode}) waiting for {what}; "
                    f"records={recs!r} stderr={self.stderr()!r}")
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"timed out waiting for {what}; records={recs!r} "
                    f"stderr={self.stderr()!r}")
            time.sleep(0.01)

    def wait_record(self, rec, timeout=WAIT):
        """Wait until the exact text record tuple rec is in the output."""
        return self.wait_for(lambda rs: rec in rs, f"record {rec!r}", timeout)

    def wait_count(self, n, timeout=WAIT):
        """Wait until the output holds at least n records."""
        return self.wait_for(lambda rs: len(rs) >= n, f"{n} records", timeout)

    def wait_event(self, peer, event, timeout=WAIT):
        """Wait for a text record of event from peer; return that record."""
        def find(rs):
            return [r for r in rs if r[1] == peer and r[2] == event]
        return find(self.wait_for(lambda rs: find(rs), f"{event} of {peer}",
                                  timeout))[0]

    def of(self, peer):
        """Current text records of one peer."""
        return [r for r in self.records() if r[1] == peer]

    def send_signal(self, sig):
        self.proc.send_signal(sig)

    def wait_exit(self, timeout=STOP_WAIT):
        """Wait for the process to end; return its exit status."""
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"peerlogd did not exit within {timeout} s")
        for t in self._threads:
            t.join(WAIT)
        return rc

    def stop(self, sig=signal.SIGTERM, timeout=STOP_WAIT):
        """Send sig (SIGTERM) and wait; return (exit status, records, stderr)."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        rc = self.wait_exit(timeout)
        return rc, self.parsed(), self.stderr()

    def kill(self):
        """Make sure nothing is left running (teardown)."""
        if self.proc.poll() is None:
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except OSError:
                self.proc.kill()
            try:
                self.proc.wait(STOP_WAIT)
            except subprocess.TimeoutExpired:
                pass
        # The pipes reach EOF once the process is gone; close them after the
        # pump threads are done with them.
        for t in self._threads:
            t.join(WAIT)
        for f in (self.proc.stdout, self.proc.stderr):
            try:
                if f is not None:
                    f.close()
            except OSError:
                pass
        if self._raw_r is not None:
            os.close(self._raw_r)
            self._raw_r = None


def proc_status_kib(pid, key="VmRSS"):
    """A kB field of /proc/PID/status (VmRSS: resident memory)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise AssertionError(f"no {key} in /proc/{pid}/status")


def proc_cpu_seconds(pid):
    """User plus system CPU time the process has used, in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        # The command name may hold spaces: fields follow the last ')'.
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


_SANITIZED = None


def sanitized():
    """Whether the server binary is built with AddressSanitizer, whose
    shadow memory and quarantine make resident-memory bounds meaningless."""
    global _SANITIZED
    if _SANITIZED is None:
        with open(PEERLOGD, "rb") as f:
            data = f.read()
        _SANITIZED = b"__asan_init" in data or b"libasan" in data
    return _SANITIZED


def slow(seconds):
    """A wait bound, three times longer for a sanitizer build."""
    return seconds * 3 if sanitized() else seconds


def wait_stderr(srv, pattern, what, timeout=WAIT):
    """Wait for a whole stderr line matching the regex pattern; return the
    match. Fails if the server exits first."""
    rx = re.compile(pattern)
    deadline = time.monotonic() + timeout
    while True:
        for line in srv.stderr().split("\n"):
            m = rx.fullmatch(line)
            if m:
                return m
        assert srv.proc.poll() is None, \
            f"server exited (rc={srv.proc.returncode}) before {what}: {srv.stderr()!r}"
        assert time.monotonic() < deadline, f"no {what} on stderr: {srv.stderr()!r}"
        time.sleep(0.02)


def read_fd_until(fd, buf, pred, what, timeout=WAIT):
    """Read fd (a pipe, FIFO or socket) into buf (a bytearray) until
    pred(buf) is true. A FIFO without a writer reads as EOF: that is waited
    out like no data, until the timeout."""
    deadline = time.monotonic() + timeout
    while not pred(buf):
        assert time.monotonic() < deadline, \
            f"timed out reading the output for {what}; read {bytes(buf[-2000:])!r}"
        ready, _, _ = select.select([fd], [], [], 0.05)
        chunk = os.read(fd, 1 << 20) if ready else b""
        if chunk:
            buf += chunk
        elif ready:
            time.sleep(0.02)


def stop_reading_fd(srv, fd, buf):
    """SIGTERM the server, read fd into buf up to the stop record, and
    return (exit status, stderr, the records of buf without timestamps)."""
    srv.send_signal(signal.SIGTERM)
    rc = srv.wait_exit(slow(STOP_WAIT))
    read_fd_until(fd, buf, lambda b: b" - - stop " in b, "the stop record")
    return rc, srv.stderr(), [l[28:].decode() for l in bytes(buf).split(b"\n")[:-1]]


def run_peerlogd(args, timeout=STOP_WAIT):
    """Run peerlogd expecting it to end by itself (errors, -h, -V).

    Returns (exit status, stdout, stderr, pid). It runs in its own session so
    the caller can check nothing of it is left (group_alive)."""
    proc = subprocess.Popen([PEERLOGD] + list(args), stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise AssertionError(f"peerlogd {args!r} did not exit within {timeout} s")
    return proc.returncode, out.decode("utf-8", "replace"), \
        err.decode("utf-8", "replace"), proc.pid


def group_alive(pgid):
    """Whether any process is left in process group pgid."""
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


@pytest.fixture
def start_server(tmp_path):
    """Factory: start_server(*args, output=..., fmt=None, listen=None,
    out_path=None, nofile=None, wrapper=None, env=None, pass_fds=()) -> Server. With no args the
    server gets -t 127.0.0.1:0 -u 127.0.0.1:0. output: 'file' (adds -o FILE),
    'stdout' (a pipe read by a thread), 'given' (args hold -o out_path),
    'rawpipe' or 'rawsocket' (standard output a pipe or a socket the test
    reads itself: see Server.close_stdout_reader and Server.raw_fd). nofile:
    (soft, hard) RLIMIT_NOFILE to start with. wrapper: argv prefix of a
    command that execs the server in the end (unshare ... sh -c 'exec "$@"').
    env: the server's whole environment (default: the tests'); pass_fds:
    descriptors it inherits (subprocess.Popen's)."""
    if not PEERLOGD:
        pytest.skip("PEERLOGD is not set")
    servers = []

    def start(*args, output="file", fmt=None, listen=None, out_path=None,
              nofile=None, wrapper=None, env=None, pass_fds=()):
        n = len(servers)
        d = tmp_path / f"srv{n}"
        d.mkdir()
        s = Server(args or DEFAULT_ARGS, tmp_dir=d, output=output, fmt=fmt,
                   listen=listen, out_path=out_path, nofile=nofile,
                   wrapper=wrapper, env=env, pass_fds=pass_fds)
        servers.append(s)
        return s

    yield start
    for s in servers:
        s.kill()


@pytest.fixture
def server(start_server):
    """A text-format server on 127.0.0.1 (TCP and UDP), records to a file."""
    return start_server()


@pytest.fixture
def json_server(start_server):
    """A JSON-format server on 127.0.0.1 (TCP and UDP), records to a file."""
    return start_server(fmt="json")


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory):
    """One text server for a module whose tests each use their own peers."""
    if not PEERLOGD:
        pytest.skip("PEERLOGD is not set")
    s = Server(DEFAULT_ARGS, tmp_dir=tmp_path_factory.mktemp("shared"))
    yield s
    s.kill()


@pytest.fixture(scope="module")
def shared_json_server(tmp_path_factory):
    """One JSON server for a module whose tests each use their own peers."""
    if not PEERLOGD:
        pytest.skip("PEERLOGD is not set")
    s = Server(DEFAULT_ARGS, tmp_dir=tmp_path_factory.mktemp("shared_json"),
               fmt="json")
    yield s
    s.kill()


def tcp_session(srv, data, addr=None):
    """Connect to srv (its first TCP listener, or addr), send data (bytes, or
    a list of writes), close with FIN, wait for the disconnect record; return
    (peer, that peer's records)."""
    with tcp_connect(addr or srv.tcp_addr) as c:
        peer = peer_of(c)
        for chunk in (data if isinstance(data, list) else [data]):
            c.sendall(chunk)
            if isinstance(data, list):
                time.sleep(0.02)
        c.shutdown(socket.SHUT_WR)
        # The server closes after EOF; reading EOF here bounds the wait.
        try:
            c.recv(1)
        except OSError:
            pass
    if srv.fmt == "json":
        srv.wait_for(lambda rs: any(r.get("peer") == peer and r.get("event") ==
                                    "disconnect" for r in rs), f"disconnect of {peer}")
        return peer, [r for r in srv.json_records() if r.get("peer") == peer]
    srv.wait_event(peer, "disconnect")
    return peer, srv.of(peer)


def msg_records(recs):
    """Only the msg and msg+ records (text tuples)."""
    return [r for r in recs if r[2] in ("msg", "msg+")]


@pytest.fixture(scope="session")
def pki(tmp_path_factory):
    """The tests' throwaway PKI (tlsca.PKI): a CA, a server certificate for
    localhost, client certificates made on demand (pki.client(name, ...)),
    an untrusted second CA (pki.other_ca), pki.fingerprint(cert)."""
    return tlsca.PKI(tmp_path_factory.mktemp("pki"))


def tls_args(pki, *more, addr="127.0.0.1:0", client_ca=False):
    """Server arguments for one TLS listener on addr with the PKI's server
    certificate; client_ca=True adds --client-ca with the PKI's CA."""
    args = ["-T", addr, "--cert", pki.server_cert, "--key", pki.server_key]
    if client_ca:
        args += ["--client-ca", pki.ca_cert]
    return tuple(args) + tuple(more)


def tls_context(pki, cert=None, key=None, *, minimum=None, maximum=None,
                ciphers=None, verify=True):
    """A client ssl.SSLContext that verifies the server against pki.ca_cert
    (the name 'localhost'), presenting cert/key when given. minimum/maximum:
    ssl.TLSVersion bounds; ciphers: an OpenSSL cipher string (TLS 1.2 and
    below)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if verify:
        ctx.load_verify_locations(cafile=pki.ca_cert)
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if cert is not None:
        ctx.load_cert_chain(cert, key)
    if ciphers is not None:
        ctx.set_ciphers(ciphers)
    if minimum is not None:
        ctx.minimum_version = minimum
    if maximum is not None:
        ctx.maximum_version = maximum
    return ctx


def tls_connect(addr, pki, cert=None, key=None, *, timeout=WAIT, minimum=None,
                maximum=None, ciphers=None, context=None,
                server_hostname="localhost"):
    """A TLS client (ssl.SSLSocket, handshake done) connected to addr from a
    fresh loopback port, verifying the server against pki.ca_cert and the
    name server_hostname, presenting cert/key when given. With TLS 1.3 a
    client certificate the server refuses is only known at the first read
    (the server checks it after the client's Finished)."""
    ctx = context or tls_context(pki, cert, key, minimum=minimum, maximum=maximum,
                                 ciphers=ciphers)
    raw = tcp_connect(addr, timeout)
    try:
        return ctx.wrap_socket(raw, server_hostname=server_hostname)
    except BaseException:
        raw.close()
        raise


def stop_quiet(srv, allow=()):
    """SIGTERM srv and wait: assert exit status 0 and nothing on stderr but
    the listening lines and lines matching a regex of allow (a sanitizer
    build reports leaks and errors there). Returns the records."""
    rc, recs, err = srv.stop()
    rxs = [re.compile(a) for a in allow]
    extra = [l for l in err.split("\n") if l and not LISTEN_RE.fullmatch(l)
             and not any(rx.fullmatch(l) for rx in rxs)]
    assert rc == 0 and extra == [], (rc, err)
    return recs


@pytest.fixture
def start_redis(tmp_path):
    """Factory: start_redis(port=None, unixsocket=None, aof=False,
    bind='127.0.0.1') -> redishelp.RedisServer, a redis-server of the test's
    own on a free loopback port (or that port, or only a unix socket with
    port=0), its files in a directory of its own; stopped by its PID at
    teardown."""
    import redishelp

    servers = []

    def start(**kw):
        d = tmp_path / f"redis{len(servers)}"
        r = redishelp.RedisServer(d, **kw)
        servers.append(r)
        return r

    yield start
    for r in servers:
        r.stop()
