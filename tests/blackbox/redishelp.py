"""A real redis-server for the tests (started on a free loopback port or a
unix socket, stopped by its PID) and a tiny RESP client over a socket, so
replies are read exactly and binary-safe (no redis-cli, no extra packages).

This is test code: it speaks just enough RESP2 for PING, XRANGE, XLEN, GET,
KEYS, TTL, SELECT, SHUTDOWN and the like.
"""

import os
import re
import select
import signal
import socket
import subprocess
import threading
import time

from conftest import WAIT, STOP_WAIT

REDIS_SERVER = "/usr/bin/redis-server"


class RespError(Exception):
    """An error reply (-ERR ...)."""


class Resp:
    """One connection to Redis: resp(*args) sends a command and returns its
    reply: bytes (bulk), str (status), int, list, None (nil), or raises
    RespError for an error reply."""

    def __init__(self, where, timeout=WAIT):
        if isinstance(where, str):
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        else:
            fam = socket.AF_INET6 if ":" in where[0] else socket.AF_INET
            self.sock = socket.socket(fam, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        try:
            self.sock.connect(where)
        except BaseException:
            self.sock.close()
            raise
        self.buf = bytearray()

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, *args):
        """Send one command (a RESP array of bulk strings)."""
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            if isinstance(a, int):
                a = str(a)
            if isinstance(a, str):
                a = a.encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        self.sock.sendall(b"".join(out))

    def _fill(self):
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise ConnectionError("Redis closed the connection")
        self.buf += chunk

    def _line(self):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                line = bytes(self.buf[:i])
                del self.buf[:i + 2]
                return line
            self._fill()

    def _exact(self, n):
        while len(self.buf) < n + 2:
            self._fill()
        data = bytes(self.buf[:n])
        assert self.buf[n:n + 2] == b"\r\n", "bulk string not ended by CRLF"
        del self.buf[:n + 2]
        return data

    def read(self):
        """One reply, parsed; an error reply is returned as a RespError."""
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            return RespError(rest.decode("utf-8", "replace"))
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n)
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self.read() for _ in range(n)]
        raise AssertionError(f"not a RESP reply: {line!r}")

    def __call__(self, *args):
        self.send(*args)
        reply = self.read()
        if isinstance(reply, RespError):
            raise reply
        return reply


def free_port():
    """A loopback TCP port nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    """A redis-server of the test's own, in its own session.

    port: a TCP port on 127.0.0.1 (None: a free one; 0 with unixsocket: no
    TCP at all). aof: --appendonly yes --appendfsync always, so what Redis
    confirmed survives a SIGKILL (the AOF is in dir). databases: how many
    databases it has (Redis's default, 16)."""

    def __init__(self, dir, *, port=None, unixsocket=None, aof=False, bind="127.0.0.1"):
        self.dir = str(dir)
        os.makedirs(self.dir, exist_ok=True)
        self.port = port if port is not None else free_port()
        self.unixsocket = unixsocket
        self.aof = aof
        self.bind = bind
        self.proc = None
        self.starts = 0
        self.start()

    @property
    def where(self):
        """What Resp connects to: the unix socket, or (host, port)."""
        if self.unixsocket and not self.port:
            return self.unixsocket
        return (self.bind, self.port)

    @property
    def url(self):
        """The --redis URL of this server (TCP if it has a port)."""
        if self.unixsocket and not self.port:
            return "unix:" + self.unixsocket
        host = f"[{self.bind}]" if ":" in self.bind else self.bind
        return f"redis://{host}:{self.port}"

    def argv(self):
        a = [REDIS_SERVER, "--port", str(self.port), "--bind", self.bind,
             "--save", "", "--dir", self.dir, "--daemonize", "no",
             "--logfile", "", "--protected-mode", "no"]
        if self.aof:
            a += ["--appendonly", "yes", "--appendfsync", "always"]
        else:
            a += ["--appendonly", "no"]
        if self.unixsocket:
            a += ["--unixsocket", self.unixsocket, "--unixsocketperm", "700"]
        return a

    def start(self):
        """Start (or start again, on the same port and dir) and wait until it
        answers PING with PONG (past loading its AOF)."""
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.starts += 1
        log = open(os.path.join(self.dir, f"redis-{self.starts}.log"), "wb")
        self.proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL, stdout=log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        self.pid = self.proc.pid
        deadline = time.monotonic() + WAIT * 2
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                with Resp(self.where, timeout=1.0) as r:
                    if r("PING") == "PONG":
                        return
            except (OSError, ConnectionError, RespError) as e:
                last = e
            time.sleep(0.02)
        self.kill()
        raise AssertionError(f"redis-server did not come up: {last!r}\n{self.log()}")

    def log(self):
        """What every start of it printed."""
        out = []
        for i in range(1, self.starts + 1):
            try:
                with open(os.path.join(self.dir, f"redis-{i}.log"), "rb") as f:
                    out.append(f.read().decode("utf-8", "replace"))
            except FileNotFoundError:
                pass
        return "\n".join(out)

    def client(self, db=0):
        """A Resp connection, with db selected."""
        r = Resp(self.where)
        if db:
            r("SELECT", db)
        return r

    def __call__(self, *args, db=0):
        """One command on a connection of its own."""
        with self.client(db) as r:
            return r(*args)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig):
        """Send sig to it by its PID."""
        os.kill(self.pid, sig)

    def stop(self):
        """SIGTERM (SIGCONT first, should it be stopped) and wait; SIGKILL if
        it will not go."""
        if self.alive():
            os.kill(self.pid, signal.SIGCONT)
            os.kill(self.pid, signal.SIGTERM)
            try:
                self.proc.wait(STOP_WAIT)
            except subprocess.TimeoutExpired:
                self.kill()

    def kill(self):
        """SIGKILL and wait (no shutdown of its own: what it did not put in
        its AOF is gone)."""
        if self.alive():
            os.kill(self.pid, signal.SIGKILL)
            self.proc.wait(STOP_WAIT)

    def shutdown_nosave(self):
        """SHUTDOWN NOSAVE (Redis closes its clients, fsyncs the AOF if it has
        one, exits): no reply comes, the connection just closes."""
        with self.client() as r:
            r.send("SHUTDOWN", "NOSAVE")
            try:
                reply = r.read()
            except (ConnectionError, OSError):
                reply = None
            assert not isinstance(reply, RespError), reply
        self.proc.wait(STOP_WAIT)


def xrange_all(redis, key="peerlog", db=0, chunk=20000):
    """Every entry of a stream, in order: [(id, [(field, value bytes)])]."""
    out = []
    start = "-"
    with redis.client(db) as r:
        while True:
            got = r("XRANGE", key, start, "+", "COUNT", chunk)
            for eid, flat in got:
                fields = [(flat[i].decode(), flat[i + 1]) for i in range(0, len(flat), 2)]
                out.append((eid.decode(), fields))
            if len(got) < chunk:
                return out
            start = "(" + got[-1][0].decode()


def entries(redis, key="peerlog", db=0):
    """The stream's entries as lists of (field, value bytes), ids dropped."""
    return [f for _, f in xrange_all(redis, key, db)]


def as_dict(fields):
    """An entry's fields as a dict of str -> bytes."""
    return dict(fields)


def json_as_fields(rec):
    """What the stream entry of a JSON record should be: its fields in the
    same order, a string as its UTF-8 bytes, a number in decimal; the JSON
    form's own lossy flag is not a field of the record."""
    out = []
    for k, v in rec.items():
        if k == "lossy":
            continue
        if isinstance(v, bool):
            raise AssertionError(f"unexpected boolean {k!r} in {rec!r}")
        out.append((k, str(v).encode() if isinstance(v, int) else v.encode("utf-8")))
    return out


SEQ_KEY_RE = re.compile(r"(.+):peerlogd-seq:[0-9a-f]{16}")


def wait_xlen(redis, n, key="peerlog", db=0, timeout=WAIT, what=None, srv=None):
    """Wait until the stream has at least n entries; return XLEN."""
    deadline = time.monotonic() + timeout
    while True:
        have = redis("XLEN", key, db=db)
        if have >= n:
            return have
        if srv is not None and srv.proc.poll() is not None:
            raise AssertionError(f"peerlogd exited (rc={srv.proc.returncode}) with "
                                 f"{have} of {n} entries: {srv.stderr()!r}")
        assert time.monotonic() < deadline, \
            f"{what or 'the stream'}: {have} entries, not {n}" + \
            (f"; stderr={srv.stderr()!r}" if srv is not None else "")
        time.sleep(0.02)


def wait_entry(redis, pred, key="peerlog", db=0, timeout=WAIT, what="an entry", srv=None):
    """Wait until some entry (a dict of its fields) makes pred true; return
    every entry (lists of fields)."""
    deadline = time.monotonic() + timeout
    while True:
        es = entries(redis, key, db)
        if any(pred(dict(e)) for e in es):
            return es
        if srv is not None and srv.proc.poll() is not None:
            raise AssertionError(f"peerlogd exited (rc={srv.proc.returncode}) before "
                                 f"{what}: {srv.stderr()!r}")
        assert time.monotonic() < deadline, f"no {what} in the stream: {es[-20:]!r}"
        time.sleep(0.02)


class Relay:
    """A TCP relay on 127.0.0.1 in front of a Redis server, so a test can cut
    peerlogd's connection at a moment it chooses: cut() stops passing Redis's
    replies on (they are dropped), lets what peerlogd already sent reach
    Redis and be applied, then closes both sides. Connections made after
    that are relayed as usual. Every thread ends by itself once its sockets
    are closed; close() closes them all."""

    def __init__(self, upstream):
        self.upstream = upstream
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(16)
        self.port = self.lsock.getsockname()[1]
        self.url = f"redis://127.0.0.1:{self.port}"
        self.lock = threading.Lock()
        self.pairs = []  # [client, server, withhold-event]
        self.closed = False
        self.cuts = 0
        self.accepted = 0
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while True:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            try:
                s = socket.create_connection(self.upstream, timeout=WAIT)
            except OSError:
                c.close()
                continue
            pair = [c, s, threading.Event()]
            with self.lock:
                if self.closed:
                    c.close()
                    s.close()
                    return
                self.pairs.append(pair)
                self.accepted += 1
            threading.Thread(target=self._pump, args=(pair,), daemon=True).start()

    def _pump(self, pair):
        c, s, withhold = pair
        try:
            while True:
                # Withheld: Redis's replies are not read, nor passed on.
                watch = [c] if withhold.is_set() else [c, s]
                ready, _, _ = select.select(watch, [], [], 0.05)
                for src in ready:
                    data = src.recv(1 << 16)
                    if not data:
                        return
                    (s if src is c else c).sendall(data)
        except OSError:
            return
        finally:
            for x in (c, s):
                try:
                    x.close()
                except OSError:
                    pass

    def cut(self, settle=0.3):
        """Drop the replies of every relayed connection, let Redis apply
        what it was sent for settle seconds, then close them. Returns how
        many connections were cut."""
        with self.lock:
            pairs, self.pairs = self.pairs, []
        for p in pairs:
            p[2].set()
        time.sleep(settle)
        for c, s, _ in pairs:
            for x in (s, c):
                try:
                    x.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        self.cuts += 1
        return len(pairs)

    def close(self):
        with self.lock:
            self.closed = True
            pairs, self.pairs = self.pairs, []
        self.lsock.close()
        for c, s, _ in pairs:
            for x in (s, c):
                try:
                    x.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        self.thread.join(WAIT)
