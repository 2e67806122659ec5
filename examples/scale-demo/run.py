#!/usr/bin/env python3
"""The scaling topology of docs/scaling.md, on loopback, checked end to end.

Starts a real redis-server, three peerlogd instances (each `--proxy
127.0.0.1/32 -t 127.0.0.1:PORT --redis redis://127.0.0.1:RPORT --redis-key
KEY`) and a real HAProxy in front of them (mode tcp, `send-proxy-v2`,
health checks), sends load through HAProxy from many clients (each its own
TCP connection, every line unique: `client C line L`), reads the stream
with a consumer group (XREADGROUP, XACK) until it holds everything, and
checks:

- every message is in the stream exactly once (no duplicate, none
  missing), and nothing else is there but the clients' connect and
  disconnect records, the health checks and the instances' start and stop;
- each message's `peer` is its client's own address (the client's
  getsockname(), not HAProxy's), and each client's `connect` says `via=`
  the address HAProxy connected from (HAProxy's log names it);
- the three instances each took a share (HAProxy's log says which server
  each client went to);
- each instance exits 0 at SIGTERM (Redis confirmed all it held), and the
  instances' sequence keys add up to the stream's length.

Prints a summary on standard output (progress on standard error) and exits
0 when every check holds, 1 when one fails or the topology cannot be set
up, 2 for bad options. Everything it starts is stopped by its PID at the
end, on failure and on Ctrl-C too; its files are in one temporary
directory, removed at the end (kept on failure, or with --keep or --dir).

Python 3 standard library only; Linux (it reads /proc/net/tcp to see that
HAProxy listens without connecting to it).
"""

import argparse
import errno
import os
import random
import re
import resource
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_BUILD_PEERLOGD = os.path.join(HERE, "..", "..", "build", "src", "peerlogd")
INSTANCES = ("p1", "p2", "p3")
GROUP = "readers"
CONSUMER = "scale-demo"
LISTEN_RE = re.compile(r"peerlogd: listening tcp 127\.0\.0\.1:(\d+)")
MSG_RE = re.compile(rb"client (\d+) line (\d+)")
HAPLOG_RE = re.compile(
    r"scale-demo client=(\S+) server=(\S+) backend_source=(\S+)")
START_WAIT = 10.0  # for one process to be up
STOP_WAIT = 20.0   # peerlogd waits up to 10 s for Redis at shutdown


class DemoError(Exception):
    """The topology could not be set up or run; the message says why."""


class Interrupted(Exception):
    """SIGTERM or SIGHUP arrived (Ctrl-C is KeyboardInterrupt)."""


def say(text):
    """A progress line on standard error."""
    print(f"scale-demo: {text}", file=sys.stderr, flush=True)


# ---- processes ----

class Procs:
    """Every process the demo started, stopped by its PID at the end."""

    def __init__(self):
        self.started = []

    def start(self, name, argv, log_path):
        """Start argv in its own session (a Ctrl-C at the terminal does not
        reach it: the demo stops it), standard output and error to
        log_path; return the Popen."""
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT,
                                    start_new_session=True)
        proc.demo_name = name
        self.started.append(proc)
        return proc

    @staticmethod
    def stop(proc, timeout=STOP_WAIT):
        """SIGTERM proc by its PID, SIGKILL if it is still there after
        timeout; return its exit status (None if it would not die)."""
        if proc.poll() is None:
            try:
                os.kill(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                say(f"{proc.demo_name} (pid {proc.pid}) did not stop within "
                    f"{timeout:.0f} s: SIGKILL")
                try:
                    os.kill(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    return None
        return proc.returncode

    def stop_all(self):
        """Stop whatever is still running, the last started first."""
        for proc in reversed(self.started):
            self.stop(proc)


def free_port():
    """A loopback port free now, below the ephemeral range (where clients
    and HAProxy's own connections take theirs). The caller starts its
    server again on another one if it is taken in between."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    for _ in range(200):
        port = random.randrange(max(1024, low - 12000), low)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise DemoError("no free loopback port")


def read_text(path):
    """A log file's text ('' if there is none yet)."""
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except FileNotFoundError:
        return ""


def tail(path, lines=8):
    """The last lines of a log file, indented, for an error message."""
    text = read_text(path).rstrip("\n").split("\n")[-lines:]
    return "\n".join("    " + line for line in text)


def listening(pid, port):
    """Whether process pid holds a TCP socket listening on
    127.0.0.1:port (from /proc/net/tcp: the probe makes no connection,
    which HAProxy would pass on to an instance)."""
    want = f"0100007F:{port:04X}"
    inodes = set()
    try:
        with open("/proc/net/tcp") as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                if fields[1] == want and fields[3] == "0A":
                    inodes.add(f"socket:[{fields[9]}]")
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in fds:
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") in inodes:
                return True
        except OSError:
            pass
    return False


# ---- a Redis client (RESP2 over a socket) ----

class RedisError(Exception):
    """An error reply from Redis."""


class Redis:
    """A minimal blocking RESP2 client: commands in, replies out (bytes,
    int, list, None; an error reply raises RedisError)."""

    def __init__(self, host, port, timeout=10.0):
        self.sock = socket.create_connection((host, port), timeout)
        self.f = self.sock.makefile("rb")

    def close(self):
        self.f.close()
        self.sock.close()

    def call(self, *args, timeout=None):
        """Send one command and return its reply."""
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            if not isinstance(a, bytes):
                a = str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        if timeout is not None:
            self.sock.settimeout(timeout)
        self.sock.sendall(b"".join(out))
        return self.reply()

    def reply(self):
        """Read one reply."""
        line = self.f.readline()
        if not line.endswith(b"\r\n"):
            raise DemoError("redis closed the connection")
        kind, rest = line[:1], line[1:-2]
        if kind == b"+":
            return rest
        if kind == b"-":
            raise RedisError(rest.decode("utf-8", "replace"))
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = self.f.read(n + 2)
            if len(data) != n + 2:
                raise DemoError("redis closed the connection")
            return data[:-2]
        if kind == b"*":
            n = int(rest)
            if n < 0:
                return None
            return [self.reply() for _ in range(n)]
        raise DemoError(f"not a RESP reply: {line!r}")


# ---- starting the parts ----

def start_redis(procs, args, workdir):
    """redis-server on a free loopback port, no persistence (a throwaway
    demo); return (proc, port) once it answers PING."""
    for attempt in range(5):
        port = free_port()
        log = os.path.join(workdir, f"redis-{attempt}.log")
        proc = procs.start("redis-server", [
            args.redis_server, "--port", str(port), "--bind", "127.0.0.1",
            "--save", "", "--appendonly", "no", "--dir", workdir,
            "--daemonize", "no", "--logfile", ""], log)
        deadline = time.monotonic() + START_WAIT
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                r = Redis("127.0.0.1", port, timeout=1.0)
            except OSError:
                time.sleep(0.05)
                continue
            try:
                if r.call("PING") == b"PONG":
                    return proc, port
            except (OSError, RedisError, DemoError):
                # Still loading, or the port is someone else's.
                time.sleep(0.05)
            finally:
                r.close()
        procs.stop(proc)
        if "Address already in use" not in read_text(log):
            raise DemoError(f"redis-server did not start:\n{tail(log)}")
    raise DemoError("redis-server found no free port in 5 tries")


def start_peerlogd(procs, args, workdir, name, redis_port):
    """One instance: its TCP port is the kernel's pick (-t 127.0.0.1:0),
    read from its 'listening' line; return (proc, port)."""
    log = os.path.join(workdir, f"{name}.log")
    proc = procs.start(name, [
        args.peerlogd, "-t", "127.0.0.1:0", "--proxy", "127.0.0.1/32",
        "--redis", f"redis://127.0.0.1:{redis_port}", "--redis-key", args.key],
        log)
    deadline = time.monotonic() + START_WAIT
    while time.monotonic() < deadline:
        m = LISTEN_RE.search(read_text(log))
        if m:
            return proc, int(m.group(1))
        if proc.poll() is not None:
            break
        time.sleep(0.02)
    raise DemoError(f"{name} ({args.peerlogd}) did not listen "
                    f"(exit status {proc.poll()}):\n{tail(log)}")


def haproxy_config(port, servers, balance, maxconn):
    """HAProxy's configuration: the frontend on port, the instances as
    servers with send-proxy-v2 and health checks, a log line per
    connection on standard output naming the server and the address
    HAProxy connected to it from."""
    lines = [
        "global",
        f"    maxconn {maxconn}",
        "    log stdout format raw local0 info",
        "",
        "defaults",
        "    mode tcp",
        "    log global",
        f"    maxconn {maxconn}",
        "    timeout connect 5s",
        "    timeout client 60s",
        "    timeout server 60s",
        "",
        "frontend logs",
        f"    bind 127.0.0.1:{port}",
        '    log-format "scale-demo client=%ci:%cp server=%s '
        'backend_source=%bi:%bp"',
        "    default_backend peerlogd",
        "",
        "backend peerlogd",
        f"    balance {balance}",
    ]
    for name, sport in servers:
        lines.append(f"    server {name} 127.0.0.1:{sport} send-proxy-v2 "
                     "check inter 1s")
    return "\n".join(lines) + "\n"


def start_haproxy(procs, args, workdir, servers):
    """HAProxy in the foreground (-db) on a free port; return (proc,
    port, log path) once it listens."""
    for attempt in range(5):
        port = free_port()
        cfg = os.path.join(workdir, f"haproxy-{attempt}.cfg")
        log = os.path.join(workdir, f"haproxy-{attempt}.log")
        with open(cfg, "w") as f:
            f.write(haproxy_config(port, servers, args.balance,
                                   args.clients + 100))
        proc = procs.start("haproxy", [args.haproxy, "-f", cfg, "-db"], log)
        deadline = time.monotonic() + START_WAIT
        while time.monotonic() < deadline and proc.poll() is None:
            if listening(proc.pid, port):
                return proc, port, log
            time.sleep(0.02)
        procs.stop(proc)
        if "Address already in use" not in read_text(log):
            raise DemoError(f"haproxy did not listen on 127.0.0.1:{port}:\n"
                            f"{tail(log)}")
    raise DemoError("haproxy found no free port in 5 tries")


# ---- the load ----

class Client:
    """One client: its own TCP connection to HAProxy and its lines."""

    def __init__(self, index, messages):
        self.index = index
        self.data = b"".join(b"client %d line %d\n" % (index, line)
                             for line in range(messages))
        self.sent = 0
        self.peer = None   # "127.0.0.1:PORT", its getsockname()
        self.done = False  # half-closed and saw HAProxy close: all read
        self.error = None
        self.sock = None


def connect_clients(clients, addr):
    """Start every client's connection to addr at once (non-blocking) and
    note its own address: the kernel gives it a port at connect(), so the
    peer is known before any of its records can reach the stream."""
    for c in clients:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        c.sock = s
        err = s.connect_ex(addr)
        if err not in (0, errno.EINPROGRESS):
            c.error = f"connect: {os.strerror(err)}"
            s.close()
            c.sock = None
            continue
        host, port = s.getsockname()
        c.peer = f"{host}:{port}"


def run_clients(clients, deadline):
    """Send each connected client's lines (one loop for all), half-close,
    and wait for the close that says the instance read everything (as
    `peerlog` does). Errors are kept on the clients."""
    sel = selectors.DefaultSelector()
    for c in clients:
        if c.sock is not None:
            sel.register(c.sock, selectors.EVENT_WRITE, c)
    open_n = len(sel.get_map())
    while open_n > 0:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        for key, _ in sel.select(min(left, 1.0)):
            c = key.data
            s = c.sock
            try:
                if c.sent == 0:
                    err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    if err != 0:
                        raise OSError(err, os.strerror(err))
                if c.sent < len(c.data):
                    c.sent += s.send(c.data[c.sent:c.sent + 65536])
                    if c.sent == len(c.data):
                        s.shutdown(socket.SHUT_WR)
                        sel.modify(s, selectors.EVENT_READ, c)
                    continue
                chunk = s.recv(4096)
                if chunk:
                    raise OSError(0, f"unexpected bytes back: {chunk[:40]!r}")
                c.done = True
            except BlockingIOError:
                continue
            except OSError as e:
                c.error = e.strerror or str(e)
            sel.unregister(s)
            s.close()
            open_n -= 1
    for key in list(sel.get_map().values()):
        key.data.error = "timed out"
        sel.unregister(key.fileobj)
        key.fileobj.close()
    sel.close()


# ---- the stream ----

def number(value):
    """A record's decimal field as an int; -1 if it is missing or not one."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return -1


class Tally:
    """What the consumer has read, classified."""

    def __init__(self, clients, messages):
        self.by_peer = {}          # client peer -> client index
        self.clients = clients
        self.messages = messages
        # Times each message was read (client * messages + line), up to 255.
        self.seen = bytearray(clients * messages)
        self.distinct = 0          # messages read at least once
        self.dups = 0              # reads past the first
        self.msgs_of = [0] * clients
        self.connect_via = {}      # client index -> via
        self.disconnects = {}      # client index -> (reason, msgs, bytes)
        self.entries = 0
        self.checks = 0            # health-check connections
        self.check_ends = 0
        self.starts = 0
        self.stops = 0
        self.wrong_peer = []
        self.unexpected = []

    def add(self, fields):
        """Classify one entry (its fields as a dict of bytes)."""
        self.entries += 1
        event = fields.get(b"event")
        peer = fields.get(b"peer", b"").decode("utf-8", "replace")
        if peer == "-" and event in (b"start", b"stop"):
            if event == b"start":
                self.starts += 1
            else:
                self.stops += 1
            return
        if event == b"msg":
            m = MSG_RE.fullmatch(fields.get(b"msg", b""))
            if m is None or int(m.group(1)) >= self.clients or \
                    int(m.group(2)) >= self.messages:
                self.unexpected.append(fields)
                return
            key = (int(m.group(1)), int(m.group(2)))
            i = key[0] * self.messages + key[1]
            if self.seen[i] == 0:
                self.distinct += 1
            else:
                self.dups += 1
            self.seen[i] = min(255, self.seen[i] + 1)
            self.msgs_of[key[0]] += 1
            if self.by_peer.get(peer) != key[0]:
                self.wrong_peer.append((key, peer))
            return
        if event == b"connect":
            if b"via" not in fields:
                # A health check: HAProxy's v2 LOCAL header, its own address.
                if peer.startswith("127.0.0.1:"):
                    self.checks += 1
                else:
                    self.unexpected.append(fields)
                return
            c = self.by_peer.get(peer)
            if c is None or c in self.connect_via:
                self.unexpected.append(fields)
                return
            self.connect_via[c] = fields[b"via"].decode("utf-8", "replace")
            return
        if event == b"disconnect":
            end = (fields.get(b"reason", b"").decode("utf-8", "replace"),
                   number(fields.get(b"msgs")), number(fields.get(b"bytes")))
            if end[1] == 0 and end[2] == 0:
                self.check_ends += 1
                return
            c = self.by_peer.get(peer)
            if c is None or c in self.disconnects:
                self.unexpected.append(fields)
                return
            self.disconnects[c] = end
            return
        self.unexpected.append(fields)

    def progress(self):
        """How many of the clients' messages and disconnects were read."""
        return sum(self.msgs_of) + len(self.disconnects)

    def complete(self):
        """Every client's messages and its disconnect have been read."""
        return self.distinct == self.clients * self.messages and \
            len(self.disconnects) == self.clients


def read_group(r, key, tally, block_ms):
    """One XREADGROUP of new entries (up to 1000), each classified and then
    XACKed; return how many came (0 when none did within block_ms, or at
    once when block_ms is None)."""
    argv = ["XREADGROUP", "GROUP", GROUP, CONSUMER, "COUNT", 1000]
    if block_ms is not None:
        argv += ["BLOCK", block_ms]
    reply = r.call(*argv, "STREAMS", key, ">")
    if not reply:
        return 0
    ids = []
    for _stream, entries in reply:
        for entry_id, flat in entries:
            tally.add(dict(zip(flat[0::2], flat[1::2])))
            ids.append(entry_id)
    if ids:
        r.call("XACK", key, GROUP, *ids)
    return len(ids)


# ---- the demo ----

def parse_args(argv):
    p = argparse.ArgumentParser(
        description="Start redis-server, three peerlogd behind HAProxy "
        "(send-proxy-v2, health checks) publishing into one Redis stream, "
        "send load through HAProxy from many clients, and check that every "
        "message is in the stream exactly once with its client's own "
        "address and that each instance took a share. Exit status 0: every "
        "check holds; 1: one failed, or the topology could not be set up; "
        "2: bad options. Everything started is stopped by its PID at the end.",
        epilog="peerlogd is --peerlogd, else BUILD/src/peerlogd (--build), "
        "else $PEERLOGD, else ../../build/src/peerlogd next to this script "
        "if it is there, else peerlogd on PATH; haproxy and redis-server "
        "come from PATH. See docs/scaling.md.")
    p.add_argument("--clients", type=int, default=100, metavar="N",
                   help="clients, each its own TCP connection (3 to 5000; "
                   "default 100)")
    p.add_argument("--messages", type=int, default=1000, metavar="M",
                   help="lines per client (1 to 1000000; default 1000)")
    p.add_argument("--balance", choices=("roundrobin", "leastconn"),
                   default="roundrobin", help="HAProxy's balance algorithm "
                   "(default roundrobin)")
    p.add_argument("--key", default="peerlog",
                   help="the stream's key, --redis-key (default peerlog)")
    p.add_argument("--peerlogd", metavar="PATH", help="the peerlogd binary")
    p.add_argument("--build", metavar="DIR",
                   help="a meson build directory: DIR/src/peerlogd")
    p.add_argument("--haproxy", default=shutil.which("haproxy"), metavar="PATH",
                   help="the haproxy binary (default: from PATH)")
    p.add_argument("--redis-server", default=shutil.which("redis-server"),
                   metavar="PATH",
                   help="the redis-server binary (default: from PATH)")
    p.add_argument("--timeout", type=float, default=120.0, metavar="SEC",
                   help="longest wait for the load and the stream "
                   "(default 120)")
    p.add_argument("--dir", help="put the files (configs, logs) in DIR "
                   "and keep them, instead of a temporary directory")
    p.add_argument("--keep", action="store_true",
                   help="keep the temporary directory")
    args = p.parse_args(argv)
    if not 3 <= args.clients <= 5000:
        p.error("--clients must be 3 to 5000 (three instances each take a share)")
    if not 1 <= args.messages <= 1000000:
        p.error("--messages must be 1 to 1000000")
    if args.clients * args.messages > 10000000:
        p.error("--clients x --messages must be at most 10000000")
    if args.timeout <= 0:
        p.error("--timeout must be positive")
    if args.peerlogd is None:
        if args.build:
            args.peerlogd = os.path.join(args.build, "src", "peerlogd")
        elif os.environ.get("PEERLOGD"):
            args.peerlogd = os.environ["PEERLOGD"]
        elif os.access(DEFAULT_BUILD_PEERLOGD, os.X_OK):
            args.peerlogd = os.path.normpath(DEFAULT_BUILD_PEERLOGD)
        else:
            args.peerlogd = shutil.which("peerlogd")
    return args


def check_binaries(args):
    """Every binary is there and runnable, else DemoError says which."""
    for what, path, pkg in (("peerlogd", args.peerlogd, "build it: ./build.sh"),
                            ("haproxy", args.haproxy, "apt-get install haproxy"),
                            ("redis-server", args.redis_server,
                             "apt-get install redis-server")):
        if not path or not os.access(path, os.X_OK):
            raise DemoError(f"no {what} binary ({path or 'not on PATH'}; {pkg})")


def raise_nofile(need):
    """Raise the soft descriptor limit towards need (one socket a client)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = need if hard == resource.RLIM_INFINITY else min(need, hard)
    if soft != resource.RLIM_INFINITY and soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def demo(args, workdir, procs):
    """Set up, run and check; return (ok, summary lines)."""
    check_binaries(args)
    raise_nofile(args.clients + 64)
    redis_proc, rport = start_redis(procs, args, workdir)
    say(f"redis-server on 127.0.0.1:{rport} (pid {redis_proc.pid})")
    r = Redis("127.0.0.1", rport)
    # The group first, from the stream's beginning: the consumer sees every
    # entry the instances add, their start records included.
    r.call("XGROUP", "CREATE", args.key, GROUP, "0", "MKSTREAM")

    inst = {}
    for name in INSTANCES:
        proc, port = start_peerlogd(procs, args, workdir, name, rport)
        inst[name] = (proc, port)
        say(f"{name}: peerlogd on 127.0.0.1:{port} (pid {proc.pid})")
    hap, hport, haplog = start_haproxy(
        procs, args, workdir, [(n, inst[n][1]) for n in INSTANCES])
    say(f"haproxy on 127.0.0.1:{hport} (pid {hap.pid}), balance "
        f"{args.balance}, send-proxy-v2, check inter 1s")

    deadline = time.monotonic() + args.timeout
    clients = [Client(i, args.messages) for i in range(args.clients)]
    tally = Tally(args.clients, args.messages)
    t0 = time.monotonic()
    connect_clients(clients, ("127.0.0.1", hport))
    tally.by_peer = {c.peer: c.index for c in clients if c.peer is not None}
    sender = threading.Thread(target=run_clients, args=(clients, deadline),
                              daemon=True)
    say(f"sending {args.clients} clients x {args.messages} lines through "
        "haproxy; reading the stream meanwhile")
    sender.start()
    # The consumer reads while the load goes, until the stream holds every
    # message and every client's disconnect (or none of theirs came for 5 s
    # after the clients were done: some failed).
    t_sent = None
    last_news, progress = time.monotonic(), 0
    while time.monotonic() < deadline:
        read_group(r, args.key, tally, 500)
        if tally.progress() != progress:
            last_news, progress = time.monotonic(), tally.progress()
        if t_sent is None and not sender.is_alive():
            t_sent = time.monotonic() - t0
        if t_sent is not None and (tally.complete() or
                                   time.monotonic() - last_news > 5):
            break
    t_stream = time.monotonic() - t0
    timed_out = time.monotonic() >= deadline
    sender.join(max(0.0, deadline - time.monotonic()) + 1)
    if sender.is_alive():
        raise DemoError("the clients did not finish in time")
    if t_sent is None:
        t_sent = time.monotonic() - t0
    failed = [c for c in clients if not c.done]
    complete = tally.complete()

    # HAProxy logs a connection once it has closed both sides: wait for a
    # line per client, then stop it (no more health checks), then the
    # instances, which must exit 0 (Redis confirmed everything they held).
    def hap_lines():
        return [HAPLOG_RE.search(l) for l in read_text(haplog).split("\n")]

    log_deadline = time.monotonic() + 5
    while time.monotonic() < log_deadline and \
            sum(m is not None for m in hap_lines()) < args.clients:
        time.sleep(0.05)
    procs.stop(hap)
    routes = {}
    for m in hap_lines():
        if m:
            routes[m.group(1)] = (m.group(2), m.group(3))
    exits = {name: procs.stop(inst[name][0]) for name in INSTANCES}

    # The rest of the stream (the stop records, the last checks).
    xlen = r.call("XLEN", args.key)
    while tally.entries < xlen and read_group(r, args.key, tally, None):
        pass
    pending = r.call("XPENDING", args.key, GROUP)[0]
    seq_keys = sorted(r.call("KEYS", f"{args.key}:peerlogd-seq:*"))
    # Each key is a hash of the transactions' slots: the highest is the
    # instance's last record Redis took.
    seqs = [max(int(v) for v in r.call("HVALS", k)) for k in seq_keys]
    r.close()

    # The checks.
    missing = args.clients * args.messages - tally.distinct
    dups = tally.dups
    per = {name: [0, 0] for name in INSTANCES}  # messages, clients
    wrong_via, unrouted, bad_end = [], [], []
    for c in clients:
        route = routes.get(c.peer)
        if route is None or route[0] not in per:
            unrouted.append(c.index)
            continue
        per[route[0]][0] += tally.msgs_of[c.index]
        per[route[0]][1] += 1
        if tally.connect_via.get(c.index) != route[1]:
            wrong_via.append((c.index, tally.connect_via.get(c.index), route[1]))
        if tally.disconnects.get(c.index) != ("eof", args.messages, len(c.data)):
            bad_end.append((c.index, tally.disconnects.get(c.index)))
    problems = []
    if failed:
        problems.append(f"{len(failed)} clients failed, e.g. client "
                        f"{failed[0].index}: {failed[0].error}")
    if not complete:
        problems.append("the stream did not hold every message " + (
            f"within {args.timeout:.0f} s" if timed_out else
            "(none of the clients' records came for 5 s after they were done)"))
    if missing or dups:
        problems.append(f"{missing} messages missing, {dups} duplicates")
    if tally.wrong_peer:
        (c, l), peer = tally.wrong_peer[0]
        problems.append(f"{len(tally.wrong_peer)} messages with another peer, "
                        f"e.g. client {c} line {l} as {peer}, not "
                        f"{clients[c].peer}")
    if tally.unexpected:
        problems.append(f"{len(tally.unexpected)} unexpected entries, e.g. "
                        f"{tally.unexpected[0]!r}")
    if unrouted:
        problems.append(f"{len(unrouted)} clients not in haproxy's log")
    if wrong_via:
        problems.append(f"{len(wrong_via)} connects whose via= is not "
                        f"haproxy's connection, e.g. {wrong_via[0]!r}")
    if bad_end:
        problems.append(f"{len(bad_end)} clients without their disconnect "
                        f"reason=eof msgs={args.messages}, e.g. {bad_end[0]!r}")
    idle = [n for n in INSTANCES if per[n][0] == 0]
    if idle:
        problems.append(f"no messages went through {', '.join(idle)}")
    bad_exit = {n: rc for n, rc in exits.items() if rc != 0}
    if bad_exit:
        problems.append(f"peerlogd exit status not 0: {bad_exit}")
    for name in INSTANCES:
        # Nothing but the listening line: no Redis outage was said, and a
        # sanitizer build's reports would be here.
        said = [l for l in read_text(os.path.join(workdir, f"{name}.log"))
                .split("\n") if l and not LISTEN_RE.fullmatch(l)]
        if said:
            problems.append(f"{name} said on standard error: {said[0]!r}"
                            + (f" (and {len(said) - 1} more lines)"
                               if len(said) > 1 else ""))
    if tally.starts != 3 or tally.stops != 3:
        problems.append(f"{tally.starts} start and {tally.stops} stop records, "
                        "not 3 each")
    if tally.entries != xlen:
        problems.append(f"the group read {tally.entries} entries of {xlen}")
    if pending != 0:
        problems.append(f"{pending} entries read and not acknowledged")
    if len(seqs) != 3 or sum(seqs) != xlen:
        problems.append(f"sequence keys {seqs} do not add up to {xlen}")

    total = args.clients * args.messages
    client_recs = len(tally.connect_via) + len(tally.disconnects)
    lines = [
        f"messages sent: {total} ({args.clients} clients x {args.messages} "
        f"lines, through haproxy 127.0.0.1:{hport}, balance {args.balance})",
        f"stream entries: {xlen} in {args.key} ({sum(tally.msgs_of)} msg, "
        f"{client_recs} client connect/disconnect, "
        f"{tally.checks + tally.check_ends} health-check connect/disconnect, "
        f"{tally.starts + tally.stops} start/stop, {len(tally.unexpected)} "
        "other)",
        f"read by group: {tally.entries} (XREADGROUP {GROUP}, {pending} pending "
        "after XACK)",
        f"messages in stream: {tally.distinct}",
        f"duplicates: {dups}",
        f"missing: {missing}",
        f"wrong peer: {len(tally.wrong_peer)}",
        f"wrong via: {len(wrong_via)}",
        "per instance: " + " ".join(f"{n}={per[n][0]}" for n in INSTANCES) +
        " (clients " + " ".join(str(per[n][1]) for n in INSTANCES) + ")",
        "sequence keys: " + " + ".join(map(str, seqs)) + f" = {sum(seqs)} "
        f"(stream length {xlen})",
        f"peerlogd exit: " + " ".join(f"{n}={exits[n]}" for n in INSTANCES),
        f"seconds: {t_sent:.2f} to send, {t_stream:.2f} until the stream held "
        "everything",
    ]
    for p in problems:
        lines.append(f"FAILED: {p}")
    lines.append("result: " + ("ok" if not problems else "FAILED"))
    return not problems, lines


def on_signal(signum, frame):
    """SIGTERM, SIGHUP: stop like Ctrl-C does."""
    raise Interrupted(signal.Signals(signum).name)


def main(argv=None):
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    if args.dir:
        os.makedirs(args.dir, exist_ok=True)
        workdir = os.path.abspath(args.dir)
    else:
        workdir = tempfile.mkdtemp(prefix="peerlog-scale-demo.")
    procs = Procs()
    ok = False
    try:
        ok, lines = demo(args, workdir, procs)
        print("\n".join(lines), flush=True)
    except DemoError as e:
        print(f"scale-demo: {e}", file=sys.stderr)
    except (KeyboardInterrupt, Interrupted) as e:
        print(f"scale-demo: interrupted ({e or 'SIGINT'}); stopping",
              file=sys.stderr)
    except (OSError, RedisError) as e:
        print(f"scale-demo: {e}", file=sys.stderr)
    finally:
        # Ignore further signals while stopping what was started.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        procs.stop_all()
        if args.dir or args.keep or not ok:
            say(f"files kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
