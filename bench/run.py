#!/usr/bin/python3
"""Benchmark driver: peerlogd against a bare reference and common peers.

For each scenario and receiver it starts a fresh receiver on free loopback
ports (its own configuration in a temporary directory, in the foreground),
drives it with loadgen, waits until every record is written, and measures:

  msgs/s     messages written intact, divided by the time from loadgen's
             first send to the output file's last write (its mtime)
  CPU/M      receiver CPU-seconds (user+system, all threads, and for socat
             every forked child) per million messages written intact
  peak RSS   VmHWM of the receiver; for socat, parent + largest child
  problems   lost, duplicated, merged, cut, reordered (check.py), worst run
  IDLE       memory per idle connection: the growth of the receiver's
             proportional set size (Pss, summed over its processes) while
             C idle connections are held, divided by the connections held
  TLS        the same over TLS (TLS16, TLS1K, TLSIDLE: handshakes done
             before the load and outside its CPU count), against peerlogd
             over plain TCP under the same load (the receiver peerlogd-tcp)
             and rsyslog's ossl driver; TLSHS: full handshakes (connect,
             handshake, one line, close), CPU per handshake

Three runs each by default; the table shows the median with min-max.
Every receiver starts from the same state. Writing the output into the
page cache is much of every receiver's cost, and on a virtual machine that
hands freed memory back to its host (free page reporting) that cost swings
with what the run before left behind: the same peerlogd run took 2.3-2.5
CPU-s writing to a path the last run had used and deleted, and 3.4-4.0 to
a fresh name. So every run writes to the same path (deleted after the
run; --keep gives each run its own), the driver writes and deletes more
than any receiver will write on the tmpfs /dev/shm before a run with a
large output (--no-prewarm skips it), and receivers take turns in a
different order in every run (forward, then backward).

Before and after a change: --base-build DIR (the meson build dir of an
older commit) adds the receiver peerlogd-base, DIR/src/peerlogd, run side by
side with peerlogd (from --build) in the same run: it takes its turn in the
same alternating order with the same warm-up, against the same reference,
loadgen and checker (all from --build), and gets the same rows, target
ratios to the reference, and a table of peerlogd against peerlogd-base.

Every wait has a timeout and every process started is ended.

usage: run.py --build DIR [--base-build DIR] [--scenarios T1,T16,...,TLS]
              [--receivers ...] [--runs 3] [--runs-for NAME=N,...]
              [--install] [--scale F]
"""

import argparse
import datetime
import glob
import json
import os
import platform
import re
import resource
import selectors
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import check  # noqa: E402

SIZE = 100
HOST = "127.0.0.1"
CLK = os.sysconf("SC_CLK_TCK")

SCENARIOS = {
    "T1": dict(mode="tcp", conns=1, msgs=1_000_000),
    "T16": dict(mode="tcp", conns=16, msgs=100_000),
    "T1L": dict(mode="tcp", conns=1, msgs=10_000_000),
    "T16L": dict(mode="tcp", conns=16, msgs=1_000_000),
    "T1000": dict(mode="tcp", conns=1000, msgs=1000),
    # Two sender processes: one reaches only ~120k datagrams/s here, as
    # each loopback send also pays for the delivery.
    "U50k": dict(mode="udp", conns=4, msgs=100_000, rate=50_000, jobs=2),
    "U100k": dict(mode="udp", conns=4, msgs=100_000, rate=100_000, jobs=2),
    "U200k": dict(mode="udp", conns=4, msgs=100_000, rate=200_000, jobs=2),
    "Umax": dict(mode="udp", conns=4, msgs=100_000, rate=0, jobs=2),
    "IDLE": dict(mode="idle", conns=10_000),
    "CLIENT": dict(mode="client", conns=1, msgs=1_000_000),
    # TLS (ECDSA P-256 server certificate, made per run of the driver):
    # every connection shakes hands before the load starts (-g), and the
    # receiver's CPU is counted from then on.
    "TLS16": dict(mode="tls", conns=16, msgs=1_000_000),
    "TLS1K": dict(mode="tls", conns=1000, msgs=1000),
    "TLSIDLE": dict(mode="tlsidle", conns=10_000),
    # 16 slots, each 1,000 connections in a row: a full handshake (no
    # session resumption), one line, close_notify, the server's close.
    "TLSHS": dict(mode="tlshs", conns=16, msgs=1000),
}
TLS_MODES = ("tls", "tlsidle", "tlshs")
GROUPS = {"UDP": ["U50k", "U100k", "U200k", "Umax"],
          "TLS": ["TLS16", "TLS1K", "TLSIDLE", "TLSHS"],
          "ALL": list(SCENARIOS)}
RECEIVERS = ["peerlogd", "peerlogd-base", "peerlogd-tcp", "peerlogd-rp2",
             "ref", "rsyslog", "syslog-ng", "socat", "ncat"]
# Debian packages that bring each peer.
PACKAGES = {"rsyslog": "rsyslog", "syslog-ng": "syslog-ng-core",
            "socat": "socat", "ncat": "ncat"}
# rsyslog's TLS driver, the module lmnsd_ossl.so (OpenSSL).
RSYSLOG_TLS = "rsyslog-openssl"
CACHE = os.path.expanduser("~/.cache/peerlog-bench")


def log(msg):
    """Progress on standard error, so stdout keeps only the table."""
    print(msg, file=sys.stderr, flush=True)


def kind(mode):
    """How a scenario of this loadgen mode is run and reported: traffic
    (messages checked), idle (memory per connection), hs (handshake
    churn) or client."""
    return {"idle": "idle", "tlsidle": "idle", "tlshs": "hs",
            "client": "client"}.get(mode, "traffic")


# ---------------------------------------------------------------- /proc

def proc_stat(pid):
    """(pgrp, ppid, own ticks, reaped children's ticks) of one process."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        s = f.read()
    rest = s[s.rindex(b")") + 2:].split()
    # rest[i] is field i+3 of proc(5): ppid 4, pgrp 5, utime 14 ... cstime 17
    return (int(rest[2]), int(rest[1]), int(rest[11]) + int(rest[12]),
            int(rest[13]) + int(rest[14]))


def group_pids(pgid):
    """Every live process in process group pgid."""
    pids = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                if proc_stat(int(name))[0] == pgid:
                    pids.append(int(name))
            except (OSError, ValueError, IndexError):
                pass
    return pids


def group_cpu(pgid, multi):
    """CPU-seconds of the group: live members plus what the leader reaped."""
    pids = group_pids(pgid) if multi else [pgid]
    ticks = 0
    for pid in pids:
        try:
            _, _, own, reaped = proc_stat(pid)
        except OSError:
            continue
        ticks += own + (reaped if pid == pgid else 0)
    return ticks / CLK


def status_kib(pid, key):
    """A kB field of /proc/PID/status (VmRSS, VmHWM), 0 if gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def pss_kib(pid):
    """Proportional set size: shared pages split among their sharers."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class MemSampler:
    """Peak memory of a receiver: its own VmHWM, and for a forking one
    the largest child's VmHWM and the peak of the summed RSS."""

    def __init__(self, pgid, multi):
        self.pgid, self.multi = pgid, multi
        self.max_child_hwm = 0
        self.max_sum_rss = 0
        self.next = 0.0

    def sample(self, force=False):
        """Look at the group (at most every 0.25 s unless forced)."""
        if not self.multi:
            return
        now = time.monotonic()
        if not force and now < self.next:
            return
        self.next = now + 0.25
        total = 0
        for pid in group_pids(self.pgid):
            total += status_kib(pid, "VmRSS")
            if pid != self.pgid:
                self.max_child_hwm = max(self.max_child_hwm,
                                         status_kib(pid, "VmHWM"))
        self.max_sum_rss = max(self.max_sum_rss, total)

    def result(self):
        """peak_kib (leader + largest child) and, if forking, the sum."""
        lead = status_kib(self.pgid, "VmHWM")
        r = {"peak_kib": lead + self.max_child_hwm}
        if self.multi:
            r.update(parent_hwm_kib=lead, max_child_hwm_kib=self.max_child_hwm,
                     peak_sum_rss_kib=self.max_sum_rss)
        return r


def busy_ticks():
    """CPU ticks the machine spent in processes (user, nice, system); irq
    and softirq time is left out, as no process is charged for it."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return v[0] + v[1] + v[2]


def own_cpu():
    """CPU-seconds of this driver and every child it has reaped (the
    receivers, loadgen, checkfast; socat's children through socat)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def wait_quiet(limit, step=1.0, busy=0.25):
    """Wait (at most limit seconds) until other work uses less than a
    quarter of the machine; return the busy fraction last seen."""
    end = time.monotonic() + limit
    while True:
        b0 = busy_ticks()
        time.sleep(step)
        frac = (busy_ticks() - b0) / CLK / step / os.cpu_count()
        if frac < busy or time.monotonic() >= end:
            return frac


# ---------------------------------------------------------------- ports

def free_port(kind):
    """A port the kernel just had free on 127.0.0.1 (TCP or UDP)."""
    s = socket.socket(socket.AF_INET,
                      socket.SOCK_STREAM if kind == "tcp" else socket.SOCK_DGRAM)
    try:
        s.bind((HOST, 0))
        return s.getsockname()[1]
    finally:
        s.close()


def is_bound(port, kind):
    """True when something listens (TCP) or is bound (UDP) on the port."""
    want = "0100007F:%04X" % port
    try:
        with open(f"/proc/net/{kind}") as f:
            next(f)
            for line in f:
                parts = line.split()
                if parts[1] == want and (kind == "udp" or parts[3] == "0A"):
                    return True
    except OSError:
        pass
    return False


def wait_until(pred, timeout, what, step=0.05):
    """Poll pred until true; raise TimeoutError naming what after timeout."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(step)
    raise TimeoutError(what)


def raise_nofile():
    """In the child before exec: room for 10,000 idle connections."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (65536, 65536))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


# ---------------------------------------------------------------- receivers

class Running:
    """A started receiver: its process (group leader) and ports."""

    def __init__(self, proc, tcp, udp, multi, errfile):
        self.proc, self.tcp, self.udp = proc, tcp, udp
        self.multi, self.errfile = multi, errfile

    @property
    def pgid(self):
        return self.proc.pid

    def stop(self, timeout=20):
        """SIGTERM the whole group, wait, then SIGKILL what is left."""
        if self.proc.stdin:
            self.proc.stdin.close()
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self.pgid, sig)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                log(f"  receiver {self.pgid} ignored {sig.name}")
                continue
            # Forked children (socat) may outlive the parent briefly.
            try:
                wait_until(lambda: not group_pids(self.pgid), 5 if
                           sig == signal.SIGTERM else 2, "group exit")
                return
            except TimeoutError:
                continue
        try:
            os.killpg(self.pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def died(self):
        """An error text if the receiver exited on its own, else None."""
        rc = self.proc.poll()
        if rc is None:
            return None
        tail = ""
        if self.errfile and os.path.exists(self.errfile):
            with open(self.errfile, errors="replace") as f:
                tail = " ".join(f.read().split())[-200:]
        return f"receiver exited (status {rc}) during the run: {tail}"


def spawn(cmd, rd, stdout=None, env=None, stdin=subprocess.DEVNULL):
    """Start a receiver in its own session (so its group is its own)."""
    err = open(os.path.join(rd, "stderr"), "wb")
    return subprocess.Popen(
        cmd, stdin=stdin, stdout=stdout or err, stderr=err,
        start_new_session=True, preexec_fn=raise_nofile, cwd=rd, env=env)


class Receiver:
    """A kind of receiver: how to find it, configure it and start it."""
    name = "?"
    binary = None
    multi = False       # forks a process per client
    modes = ("tcp", "udp", "idle")

    def __init__(self, ctx):
        self.ctx = ctx

    def load_mode(self, mode):
        """The loadgen mode this receiver is driven with in a scenario."""
        return mode

    def path(self):
        return shutil.which(self.binary) if self.binary else None

    def available(self):
        return self.path() is not None

    def supports(self, mode):
        return mode in self.modes

    def version(self):
        return ""

    def start(self, rd, out, scen):
        raise NotImplementedError


def wait_stderr_ports(proc, rd, prog, timeout=10, want=("tcp", "udp")):
    """Read "PROG: listening tcp 127.0.0.1:PORT" lines from stderr until
    every kind in want is there; return their ports in that order."""
    path = os.path.join(rd, "stderr")
    ports = {}

    def ready():
        if proc.poll() is not None:
            raise RuntimeError(f"{prog} exited: " + open(path).read()[-500:])
        with open(path) as f:
            for m in re.finditer(rf"{prog}: listening (tcp|udp|tls) "
                                 rf"127\.0\.0\.1:(\d+)", f.read()):
                ports[m.group(1)] = int(m.group(2))
        return all(k in ports for k in want)
    wait_until(ready, timeout, f"{prog} start")
    return tuple(ports[k] for k in want)


class Peerlogd(Receiver):
    name = "peerlogd"
    modes = ("tcp", "udp", "idle") + TLS_MODES

    def build_dir(self):
        """The meson build dir its binary comes from."""
        return self.ctx.build

    def path(self):
        if not self.build_dir():
            return None
        p = os.path.join(self.build_dir(), "src", "peerlogd")
        return p if os.access(p, os.X_OK) else None

    def version(self):
        return run_text([self.path(), "-V"])

    def start(self, rd, out, scen):
        if self.load_mode(scen["mode"]) in TLS_MODES:
            # A TLS listener alone (-T opens no default listener); its
            # port is the one Running calls tcp.
            cert, key = tls_files(self.ctx)
            p = spawn([self.path(), "-T", f"{HOST}:0", "--cert", cert,
                       "--key", key, "-o", out], rd)
            (tls,) = wait_stderr_ports(p, rd, "peerlogd", want=("tls",))
            return Running(p, tls, None, False, os.path.join(rd, "stderr"))
        p = spawn([self.path(), "-t", f"{HOST}:0", "-u", f"{HOST}:0",
                   "-o", out], rd)
        tcp, udp = wait_stderr_ports(p, rd, "peerlogd")
        return Running(p, tcp, udp, False, os.path.join(rd, "stderr"))


class PeerlogdBase(Peerlogd):
    """peerlogd built from an older commit (--base-build), for before and
    after; started exactly as peerlogd is."""
    name = "peerlogd-base"

    def build_dir(self):
        return self.ctx.base_build


class PeerlogdTcp(Peerlogd):
    """peerlogd (from --build) over plain TCP under a TLS scenario's load:
    the same connections and messages, in the same run, so TLS's cost is
    peerlogd over TLS against this."""
    name = "peerlogd-tcp"
    modes = ("tls",)

    def load_mode(self, mode):
        return "tcp" if mode == "tls" else mode


class PeerlogdReuseport2(Peerlogd):
    """Two peerlogd processes (from --build) sharing the TCP and UDP ports
    with --reuseport, both appending to the one output file (each write is
    whole records, and appends do not interleave), so the checker sees one
    file; CPU is the two processes' sum. Against peerlogd: what a second
    instance buys."""
    name = "peerlogd-rp2"
    multi = True
    modes = ("tcp", "udp")

    def start(self, rd, out, scen):
        tcp, udp = free_port("tcp"), free_port("udp")
        one = (f'"$0" --reuseport -t {HOST}:{tcp} -u {HOST}:{udp} '
               f'-o "$1"')
        p = start_on_ports(["sh", "-c", f"{one} & {one} & wait",
                            self.path(), out], rd, tcp, udp)
        # Both bound: each says so on the shared stderr.
        wait_until(lambda: open(os.path.join(rd, "stderr")).read().count(
            "listening tcp") == 2, 15, "both peerlogd listening")
        return Running(p, tcp, udp, True, os.path.join(rd, "stderr"))


class Ref(Receiver):
    name = "ref"

    def path(self):
        p = os.path.join(self.ctx.build, "bench", "refrecv")
        return p if os.access(p, os.X_OK) else None

    def version(self):
        return "bench/refrecv.c"

    def start(self, rd, out, scen):
        p = spawn([self.path(), "-t", f"{HOST}:0", "-u", f"{HOST}:0",
                   "-o", out], rd)
        tcp, udp = wait_stderr_ports(p, rd, "refrecv")
        return Running(p, tcp, udp, False, os.path.join(rd, "stderr"))


def start_on_ports(cmd, rd, tcp, udp, stdout=None, env=None, timeout=15,
                   stdin=subprocess.DEVNULL):
    """Start a peer that binds the given ports; wait until they are bound."""
    p = spawn(cmd, rd, stdout=stdout, env=env, stdin=stdin)

    def ready():
        if p.poll() is not None:
            raise RuntimeError(f"{cmd[0]} exited: " + open(
                os.path.join(rd, "stderr"), errors="replace").read()[-800:])
        return ((tcp is None or is_bound(tcp, "tcp")) and
                (udp is None or is_bound(udp, "udp")))
    try:
        wait_until(ready, timeout, f"{cmd[0]} listening")
    except BaseException:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        p.wait(5)
        raise
    return p


# Sessions and connections allowed where a peer has a limit: above IDLE's
# 10,000, so the limit never decides a result.
MAX_SESSIONS = 20000
UDP_RCVBUF = 8 * 1024 * 1024
NCAT_MAX = 1000


class Rsyslog(Receiver):
    name = "rsyslog"
    binary = "rsyslogd"

    def path(self):
        return shutil.which("rsyslogd") or (unpacked("rsyslog") or [None])[0]

    def mod_args(self):
        """-M for an unpacked copy, whose modules are not where it looks."""
        if shutil.which("rsyslogd"):
            return []
        return ["-M", unpacked("rsyslog")[2]]

    def version(self):
        return run_text([self.path(), "-v"] + self.mod_args()).splitlines()[0]

    def tls_module(self):
        """lmnsd_ossl.so (Debian's rsyslog-openssl) where this rsyslogd
        looks for modules, or None."""
        if shutil.which("rsyslogd"):
            dirs = glob.glob("/usr/lib/*/rsyslog")
        else:
            dirs = [(unpacked("rsyslog") or [None, None, ""])[2]]
        for d in dirs:
            p = os.path.join(d, "lmnsd_ossl.so")
            if os.path.exists(p):
                return p
        return None

    def supports(self, mode):
        if mode in TLS_MODES:
            return self.tls_module() is not None
        return mode in self.modes

    def start(self, rd, out, scen):
        tcp, udp = free_port("tcp"), free_port("udp")
        tls = scen["mode"] in TLS_MODES
        if tls:
            # The ossl driver in TLS-only mode, anonymous authentication
            # (no client certificate asked for), the driver's own server
            # certificate: the one peerlogd gets. No UDP input.
            cert, key = tls_files(self.ctx)
            udp = None
            inputs = f"""\
input(type="imtcp" address="{HOST}" port="{tcp}" ruleset="bench"
      streamDriver.name="ossl" streamDriver.mode="1"
      streamDriver.authMode="anon"
      streamDriver.certFile="{cert}" streamDriver.keyFile="{key}")
"""
        else:
            inputs = f"""\
module(load="imudp")
input(type="imtcp" address="{HOST}" port="{tcp}" ruleset="bench")
input(type="imudp" address="{HOST}" port="{udp}" ruleset="bench"
      rcvbufSize="{UDP_RCVBUF}")
"""
        conf = os.path.join(rd, "rsyslog.conf")
        with open(conf, "w") as f:
            f.write(f"""\
global(workDirectory="{rd}" maxMessageSize="64k")
module(load="imtcp" MaxSessions="{MAX_SESSIONS}")
template(name="raw" type="string" string="%rawmsg%\\n")
ruleset(name="bench") {{
  action(type="omfile" file="{out}" template="raw" ioBufferSize="64k")
}}
""" + inputs)
        p = start_on_ports([self.path(), "-n", "-f", conf, "-i",
                            os.path.join(rd, "pid")] + self.mod_args(),
                           rd, tcp, udp)
        return Running(p, tcp, udp, False, os.path.join(rd, "stderr"))


def unpacked(name):
    """(binary, library dir, module dir) of a peer that --install unpacked
    from its .deb because its package conflicts with an installed one."""
    root = os.path.join(CACHE, name)
    if name == "syslog-ng":
        exe = os.path.join(root, "usr", "sbin", "syslog-ng")
        mods = glob.glob(os.path.join(root, "usr", "lib", "syslog-ng",
                                      "[0-9]*"))
        lib = os.path.join(root, "usr", "lib", "syslog-ng")
    else:
        exe = os.path.join(root, "usr", "sbin", "rsyslogd")
        mods = glob.glob(os.path.join(root, "usr", "lib", "*", "rsyslog"))
        lib = None
    if os.access(exe, os.X_OK) and mods:
        return exe, lib, mods[0]
    return None


class SyslogNg(Receiver):
    name = "syslog-ng"
    binary = "syslog-ng"
    # TLS: syslog-ng-core's network() source does it (OpenSSL).
    modes = ("tcp", "udp", "idle") + TLS_MODES

    def path(self):
        return shutil.which("syslog-ng") or (
            unpacked("syslog-ng") or [None])[0]

    def env_args(self):
        """LD_LIBRARY_PATH and --module-path for an unpacked copy."""
        if shutil.which("syslog-ng"):
            return None, []
        exe, lib, mods = unpacked("syslog-ng")
        env = dict(os.environ, LD_LIBRARY_PATH=lib)
        return env, [f"--module-path={mods}"]

    def version(self):
        env, args = self.env_args()
        out = run_text([self.path(), "-V"] + args, env=env)
        m = re.search(r"syslog-ng \d+ \((\d+\.\d+)[.\d]*\)", out)
        return m.group(0) if m else out.splitlines()[0]

    def start(self, rd, out, scen):
        tcp, udp = free_port("tcp"), free_port("udp")
        env, args = self.env_args()
        ver = re.search(r"\((\d+\.\d+)", self.version()).group(1)
        conns = max(scen.get("conns", 1), 10) + 100
        # Flow control, with a window of 10,000 messages per connection and
        # a destination queue that holds every window, so nothing is
        # dropped; 1,000 messages fetched per wake-up (default 10) tripled
        # its single-connection speed in a trial.
        iw = conns * 10000
        if scen["mode"] in TLS_MODES:
            # The same TCP source over TLS: LF framing (transport "tls"),
            # the servers' certificate, no client certificate asked for.
            cert, key = tls_files(self.ctx)
            udp = None
            sources = f"""\
  network(ip("{HOST}") port({tcp}) transport("tls") flags(no-parse)
          tls(key-file("{key}") cert-file("{cert}")
              peer-verify(optional-untrusted))
          max-connections({conns}) listen-backlog(4096)
          log-iw-size({iw}) log-fetch-limit(1000)
          log-msg-size(65536));
"""
        else:
            sources = f"""\
  network(ip("{HOST}") port({tcp}) transport("tcp") flags(no-parse)
          max-connections({conns}) listen-backlog(4096)
          log-iw-size({iw}) log-fetch-limit(1000)
          log-msg-size(65536));
  network(ip("{HOST}") port({udp}) transport("udp") flags(no-parse)
          so-rcvbuf({UDP_RCVBUF}) log-iw-size(100000) log-fetch-limit(1000)
          log-msg-size(65536));
"""
        conf = os.path.join(rd, "syslog-ng.conf")
        with open(conf, "w") as f:
            f.write(f"""\
@version: {ver}
options {{ use-dns(no); dns-cache(no); keep-hostname(yes); stats-freq(0);
          mark-freq(0); log-fifo-size({iw}); }};
source s_net {{
{sources}}};
destination d_file {{ file("{out}" template("${{MSG}}\\n")); }};
log {{ source(s_net); destination(d_file); flags(flow-control); }};
""")
        cmd = [self.path(), "-F", "-f", conf, "--no-caps",
               "-R", os.path.join(rd, "persist"), "-p",
               os.path.join(rd, "pid"), "--control",
               os.path.join(rd, "ctl")] + args
        p = start_on_ports(cmd, rd, tcp, udp, env=env)
        return Running(p, tcp, udp, False, os.path.join(rd, "stderr"))


class Socat(Receiver):
    name = "socat"
    binary = "socat"
    multi = True

    def version(self):
        return run_text([self.path(), "-V"]).splitlines()[1].strip()

    def start(self, rd, out, scen):
        sink = f"OPEN:{out},creat,append"
        if scen["mode"] == "udp":
            udp = free_port("udp")
            # One process reads every datagram; fork here would fork per
            # datagram.
            p = start_on_ports(
                [self.path(), "-u",
                 f"UDP4-RECV:{udp},bind={HOST},rcvbuf={UDP_RCVBUF}", sink],
                rd, None, udp)
            return Running(p, None, udp, True, os.path.join(rd, "stderr"))
        tcp = free_port("tcp")
        # The tutorial's fork per client; a backlog that holds 1,000
        # simultaneous connects (socat's default is 5).
        p = start_on_ports(
            [self.path(), "-u",
             f"TCP4-LISTEN:{tcp},bind={HOST},reuseaddr,fork,backlog=4096",
             sink], rd, tcp, None)
        return Running(p, tcp, None, True, os.path.join(rd, "stderr"))


class Ncat(Receiver):
    name = "ncat"
    binary = "ncat"
    # "UDP mode does not support the -k or --keep-open options".
    modes = ("tcp", "idle")

    def version(self):
        return run_text([self.path(), "--version"]).strip().splitlines()[0]

    def start(self, rd, out, scen):
        tcp = free_port("tcp")
        # Its standard input stays open, as at a terminal: at EOF on it
        # (</dev/null) ncat drops its clients after a few MB. -m: at most
        # 1,000 clients (default 100), as beyond ~1,020 descriptors its
        # select() loop aborts ("Attempt to FD_SET fd 1024").
        with open(out, "ab") as f:
            p = start_on_ports(
                [self.path(), "-l", "-k", "--recv-only", "-m",
                 str(NCAT_MAX), HOST, str(tcp)], rd, tcp, None, stdout=f,
                stdin=subprocess.PIPE)
        return Running(p, tcp, None, False, os.path.join(rd, "stderr"))


RECEIVER_CLASSES = {c.name: c for c in
                    (Peerlogd, PeerlogdBase, PeerlogdTcp, PeerlogdReuseport2,
                     Ref, Rsyslog, SyslogNg, Socat, Ncat)}


def tls_files(ctx):
    """The servers' certificate and key (ECDSA P-256, self-signed, for
    127.0.0.1), made with the openssl command once per run of the driver
    in its temporary directory, which is removed at the end."""
    cert = os.path.join(ctx.tmp, "server-cert.pem")
    key = os.path.join(ctx.tmp, "server-key.pem")
    if not os.path.exists(cert):
        r = subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
             "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out",
             cert, "-days", "2", "-subj", f"/CN={HOST}", "-addext",
             f"subjectAltName=IP:{HOST}"],
            capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise RuntimeError("openssl req: " + r.stderr[-300:])
    return cert, key


def run_text(cmd, env=None):
    """Output of a short command (versions), or '' if it fails."""
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=10,
                           env=env)
        return (r.stdout + r.stderr).strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""


# ---------------------------------------------------------------- install

def apt(args, timeout=900):
    """apt-get with no prompts; True on success."""
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    log("  apt-get " + " ".join(args))
    r = subprocess.run(["apt-get"] + args, env=env, timeout=timeout,
                       capture_output=True, text=True)
    if r.returncode != 0:
        log(r.stdout[-1500:] + r.stderr[-1500:])
    return r.returncode == 0


def unpack(name, pkg=None):
    """rsyslog and syslog-ng-core conflict (both are a system-log-daemon),
    so the second one is not installed: apt-get fetches its .deb and its
    libraries, and it is unpacked into the cache to run from there. No
    service is ever started, and nothing installed is removed. pkg: a
    package of name's modules (rsyslog-openssl) unpacked over it."""
    extra = pkg is not None
    pkg = pkg or PACKAGES[name]
    deps = []
    out = run_text(["apt-cache", "depends", "--no-recommends",
                    "--no-suggests", "--no-conflicts", "--no-breaks",
                    "--no-replaces", "--no-enhances", pkg])
    for line in out.splitlines():
        m = re.match(r"\s*\|?Depends: ([^<\s]+)$", line)
        if m and m.group(1) != PACKAGES[name]:
            deps.append(m.group(1))
    if deps:
        apt(["install", "-y", "-q", "--no-remove"] + deps)
    dl = os.path.join(CACHE, "deb")
    os.makedirs(dl, exist_ok=True)
    os.chmod(dl, 0o777)  # apt-get download runs as _apt where it can
    r = subprocess.run(["apt-get", "download", pkg], cwd=dl,
                       capture_output=True, text=True, timeout=600)
    debs = sorted(glob.glob(os.path.join(dl, f"{pkg}_*.deb")))
    if r.returncode != 0 or not debs:
        log(r.stderr[-800:])
        return False
    root = os.path.join(CACHE, name)
    if not extra:
        shutil.rmtree(root, ignore_errors=True)
    subprocess.run(["dpkg", "-x", debs[-1], root], check=True, timeout=120)
    return unpacked(name) is not None


def ensure_tls_peers(ctx, names, scen_names):
    """rsyslog's TLS driver for the TLS scenarios: installed with rsyslog
    (--install), or unpacked over an unpacked rsyslog."""
    if not any(SCENARIOS[s]["mode"] in TLS_MODES for s in scen_names):
        return
    if "rsyslog" not in names:
        return
    r = Rsyslog(ctx)
    if r.tls_module() is None and ctx.install:
        if shutil.which("rsyslogd"):
            apt(["install", "-y", "-q", "--no-remove", RSYSLOG_TLS])
        else:
            unpack("rsyslog", RSYSLOG_TLS)
    if r.tls_module() is None:
        log("rsyslog skips the TLS scenarios: no lmnsd_ossl.so"
            f" (apt-get install {RSYSLOG_TLS}, or --install)")


def ensure_peers(ctx, names):
    """Install missing peers from Debian's packages (with --install, or by
    default when root); return the receivers that can run."""
    ok = []
    updated = False
    for name in names:
        r = RECEIVER_CLASSES[name](ctx)
        if not r.available() and name in PACKAGES and ctx.install:
            if not updated:
                apt(["update", "-q"])
                updated = True
            # --no-remove: never trade one installed peer for another.
            if not apt(["install", "-y", "-q", "--no-remove", PACKAGES[name]]) \
                    and name in ("rsyslog", "syslog-ng"):
                unpack(name)
        if r.available():
            ok.append(name)
        elif isinstance(r, Peerlogd):
            log(f"skipping {name}: no {r.build_dir()}/src/peerlogd")
        else:
            log(f"skipping {name}: not installed"
                + ("" if name not in PACKAGES else
                   f" (apt-get install {PACKAGES[name]}, or --install)"))
    return ok


# ---------------------------------------------------------------- runs

def wait_output(out, expected, quiet, timeout):
    """Wait until the output holds expected lines and stops growing, or
    stops growing for quiet seconds; return (mtime in s, lines, complete)."""
    size, changed, counted, lines = -1, time.monotonic(), 0, 0
    mtime = None
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            st = os.stat(out)
        except FileNotFoundError:
            st = None
        now = time.monotonic()
        if st is not None and st.st_size != size:
            size, changed, mtime = st.st_size, now, st.st_mtime_ns / 1e9
        elif now - changed >= 0.2:
            if st is not None and counted < size:
                with open(out, "rb") as f:
                    f.seek(counted)
                    while counted < size:
                        b = f.read(min(size - counted, 16 << 20))
                        if not b:
                            break
                        lines += b.count(b"\n")
                        counted += len(b)
            if lines >= expected:
                return mtime, lines, True
            if now - changed >= quiet:
                return mtime, lines, False
        time.sleep(0.05)
    return mtime, lines, False


# Bytes of output per message, more than any receiver writes (peerlogd's
# records of 100-byte lines are 152), and the least output worth warming.
WARM_PER_MSG = 170
WARM_MIN = 256 << 20
WARM_DIR = "/dev/shm"


def prewarm(nbytes):
    """Write nbytes to a file on tmpfs and delete it, so that every run
    finds memory freed just before it, whatever the run before it wrote
    (see the top of this file). Returns the seconds it took, or 0 when it
    was skipped."""
    if nbytes < WARM_MIN or not os.path.isdir(WARM_DIR):
        return 0.0
    st = os.statvfs(WARM_DIR)
    if st.f_bavail * st.f_frsize < 2 * nbytes:
        return 0.0
    t0 = time.monotonic()
    piece = b"\1" * (64 << 20)
    fd, path = tempfile.mkstemp(dir=WARM_DIR, prefix="peerlog-bench-warm-")
    try:
        with os.fdopen(fd, "wb") as f:
            for _ in range(-(-nbytes // len(piece))):
                f.write(piece)
    finally:
        os.unlink(path)
    return time.monotonic() - t0


def loadgen_cmd(ctx, scen, port, mode=None, gate=False):
    """loadgen's command line for a scenario (mode: the receiver's loadgen
    mode when it is not the scenario's; gate: -g, send when told)."""
    return [ctx.loadgen, "-m", mode or scen["mode"], "-H", HOST,
            "-p", str(port),
            "-c", str(scen["conns"]), "-n", str(scen.get("msgs", 0)),
            "-s", str(SIZE), "-r", str(scen.get("rate", 0)),
            "-j", str(scen.get("jobs", 1)),
            "-T", str(int(ctx.timeout)), "-W", "30"] + (["-g"] if gate
                                                        else [])


def out_path(ctx, rd):
    """Where a run's output goes: one path for every run (see the top of
    this file), or the run's own directory with --keep."""
    return os.path.join(rd if ctx.keep else ctx.tmp, "out.log")


def run_traffic(ctx, recv, scen, rd):
    """One TCP, UDP or TLS run (TLSHS too): load, wait for every record,
    measure, check. In a TLS scenario every connection is up and has shaken
    hands before the receiver's CPU count starts (loadgen -g)."""
    out = out_path(ctx, rd)
    with open(out, "wb"):
        pass    # empty, even after a run that failed before its cleanup
    res = {}
    if ctx.prewarm:
        res["prewarm_s"] = prewarm(
            scen["conns"] * scen["msgs"] * WARM_PER_MSG)
    r = recv.start(rd, out, scen)
    lg = None
    try:
        time.sleep(0.3)
        cpu0 = group_cpu(r.pgid, r.multi)
        mem = MemSampler(r.pgid, r.multi)
        port = r.udp if scen["mode"] == "udp" else r.tcp
        gate = scen["mode"] == "tls"
        lg_out = open(os.path.join(rd, "loadgen.json"), "w+")
        lg_err_path = os.path.join(rd, "loadgen.err")
        lg_err = open(lg_err_path, "wb")
        lg = subprocess.Popen(
            loadgen_cmd(ctx, scen, port, recv.load_mode(scen["mode"]), gate),
            stdout=lg_out, stderr=lg_err,
            stdin=subprocess.PIPE if gate else subprocess.DEVNULL)
        lg_err.close()
        if gate:
            pat = re.compile(rb"loadgen: connected handshakes=(\d+)"
                             rb" failed=(\d+)")
            found = []

            def connected():
                with open(lg_err_path, "rb") as f:
                    m = pat.search(f.read())
                if m:
                    found.append(m)
                return m is not None or lg.poll() is not None
            wait_until(connected, ctx.timeout, "loadgen connecting", 0.02)
            if not found:
                raise RuntimeError("loadgen exited before sending: " + open(
                    lg_err_path, errors="replace").read()[-300:])
            m = found[0]
            cpu_g = group_cpu(r.pgid, r.multi)
            res["connect_cpu_s"] = cpu_g - cpu0
            res["connect_failed_before"] = int(m.group(2))
            cpu0 = cpu_g
            lg.stdin.write(b"\n")
            lg.stdin.close()
        end = time.monotonic() + ctx.timeout + 60
        while lg.poll() is None and time.monotonic() < end:
            mem.sample()
            time.sleep(0.05)
        if lg.poll() is None:
            lg.kill()
            lg.wait(10)
            res["error"] = "loadgen timed out"
        lg_out.seek(0)
        text = lg_out.read()
        lgr = json.loads(text) if text.strip() else {}
        res["loadgen"] = lgr
        with open(lg_err_path, errors="replace") as f:
            err = f.read()
        if err.strip():
            res["loadgen_stderr"] = err[-1000:]
        if lgr.get("seconds"):
            res["sent_rate"] = lgr["sent"] / lgr["seconds"]
        expected = scen["conns"] * scen["msgs"]
        quiet = 2.0
        mtime, lines, complete = wait_output(out, expected, quiet,
                                             ctx.timeout)
        cpu1 = group_cpu(r.pgid, r.multi)
        mem.sample(force=True)
        if r.died():
            res["error"] = r.died()
        res.update(mem.result())
        res["cpu_s"] = cpu1 - cpu0
        res["lines_seen"] = lines
        res["complete"] = complete
        if mtime is not None and lgr.get("t_start"):
            # The mtime clock is coarse (a few ms): no record can be
            # written before the last message was sent.
            done = max(mtime, lgr.get("t_sent", 0))
            res["seconds"] = max(done - lgr["t_start"], 1e-6)
    finally:
        if lg is not None and lg.poll() is None:
            lg.kill()
            lg.wait(10)
        r.stop()
    # What the receiver said (rsyslog's TLS driver names its failures).
    try:
        with open(os.path.join(rd, "stderr"), errors="replace") as f:
            said = f.read().splitlines()
        res["receiver_stderr_lines"] = len(said)
        res["receiver_stderr_tail"] = "\n".join(said[-5:])[-800:]
    except OSError:
        pass
    res["check"] = check.check(out, scen["conns"], scen["msgs"], SIZE,
                               ctx.checkfast)
    ok = res["check"]["ok"]
    res["msgs_per_s"] = ok / res["seconds"] if res.get("seconds") else 0
    res["cpu_per_m"] = res["cpu_s"] / ok * 1e6 if ok else None
    hs = res["loadgen"].get("handshakes")
    if kind(scen["mode"]) == "hs" and hs:
        # The client's rate: every handshake is a connection of its own.
        res["handshakes"] = hs
        # Lines a stalled churn never sent: the checker counts them lost.
        res["unsent"] = max(0, scen["conns"] * scen["msgs"]
                            - res["loadgen"].get("sent", 0))
        res["hs_per_s"] = res["loadgen"].get("handshakes_per_s")
        res["cpu_ms_per_hs"] = res["cpu_s"] / hs * 1e3
    if not ctx.keep:
        os.unlink(out)
    return res


def read_line(stream, timeout):
    """One line of a child's output pipe within timeout, or None."""
    sel = selectors.DefaultSelector()
    sel.register(stream, selectors.EVENT_READ)
    try:
        if sel.select(timeout):
            return stream.readline()
    finally:
        sel.close()
    return None


def accepted(port):
    """Connections to 127.0.0.1:port that a process has accepted: those
    still in the listen queue are established but have no inode yet."""
    want = "0100007F:%04X" % port
    inodes = set()  # a table that changes while read may repeat a line
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            parts = line.split()
            if parts[1] == want and parts[3] == "01" and parts[9] != "0":
                inodes.add(parts[9])
    return len(inodes)


def group_mem(r):
    """Leader RSS, summed Pss, sockets and process count of a receiver."""
    pids = group_pids(r.pgid) if r.multi else [r.pgid]
    return dict(rss_kib=status_kib(r.pgid, "VmRSS"),
                pss_kib=sum(pss_kib(p) for p in pids), procs=len(pids),
                accepted=accepted(r.tcp))


def run_idle(ctx, recv, scen, rd):
    """IDLE, TLSIDLE: hold C connections open without sending (TLS: once
    each has shaken hands); memory per conn."""
    out = os.path.join(rd, "out.log")
    open(out, "ab").close()
    r = recv.start(rd, out, scen)
    res = {}
    lg = None
    try:
        time.sleep(0.5)
        m0 = group_mem(r)
        lg = subprocess.Popen(loadgen_cmd(ctx, scen, r.tcp) + ["-w", "2"],
                              stdout=subprocess.PIPE, text=True,
                              stdin=subprocess.DEVNULL)
        line = read_line(lg.stdout, ctx.timeout)
        m = re.match(r"ready open=(\d+) closed=(\d+) failed=(\d+)", line or "")
        if not m:
            raise RuntimeError(f"loadgen idle: no ready line ({line!r})")
        client_open = int(m.group(1))
        # Let the receiver finish accepting (and forking) before measuring:
        # until it holds every connection the client has, or nothing
        # (accepted, RSS, processes) changed for three seconds (a refused
        # handshake is retried after 1, 2, 4... s).
        prev, same = None, 0
        end = time.monotonic() + 30
        while time.monotonic() < end:
            cur = (accepted(r.tcp), status_kib(r.pgid, "VmRSS"),
                   len(group_pids(r.pgid)) if r.multi else 1)
            if cur[0] >= client_open:
                break
            same = same + 1 if cur == prev else 0
            if same >= 3:
                break
            prev = cur
            time.sleep(1.0)
        time.sleep(0.5)
        m1 = group_mem(r)
        # Held means accepted: a connection waiting in the listen queue
        # looks open to the client but costs the receiver nothing yet.
        held = min(m1["accepted"], client_open)
        if r.died():
            res["error"] = r.died()
        lg.send_signal(signal.SIGTERM)
        rest, _ = lg.communicate(timeout=60)
        res["loadgen"] = json.loads(rest) if rest.strip() else {}
        res.update(held=held, client_open=client_open,
                   closed_by_peer=int(m.group(2)),
                   failed=int(m.group(3)), before=m0, after=m1)
        res["pss_growth_kib"] = m1["pss_kib"] - m0["pss_kib"]
        res["rss_growth_kib"] = m1["rss_kib"] - m0["rss_kib"]
        res["kib_per_conn"] = (res["pss_growth_kib"] / held
                               if held and "error" not in res else None)
    finally:
        if lg is not None and lg.poll() is None:
            lg.kill()
            lg.wait(10)
        r.stop()
    if not ctx.keep:
        os.unlink(out)
    return res


def client_file(ctx, n):
    """The 1,000,000-line file for the client comparison, made once."""
    path = os.path.join(ctx.tmp, f"client-{n}.txt")
    if not os.path.exists(path):
        with open(path, "wb") as f:
            for start in range(0, n, 100_000):
                f.write(b"".join(
                    check._payload(0, s, SIZE) + b"\n"
                    for s in range(start, min(n, start + 100_000))))
    return path


def run_client(ctx, tool, scen, rd):
    """peerlog or ncat --send-only sends the file into refrecv."""
    n = scen["msgs"]
    src = client_file(ctx, n)
    out = os.path.join(rd, "out.log")
    open(out, "ab").close()
    r = Ref(ctx).start(rd, out, scen)
    res = {}
    try:
        time.sleep(0.3)
        if tool == "peerlog":
            cmd = [os.path.join(ctx.build, "src", "peerlog"), HOST,
                   str(r.tcp)]
        else:
            cmd = [shutil.which("ncat"), "--send-only", HOST, str(r.tcp)]
        t0 = time.time()
        with open(src, "rb") as f:
            p = subprocess.run(cmd, stdin=f, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, timeout=ctx.timeout)
        t_exit = time.time()
        mtime, lines, complete = wait_output(out, n, 3.0, ctx.timeout)
        res.update(rc=p.returncode, exit_s=t_exit - t0,
                   seconds=(mtime - t0) if mtime else None,
                   complete=complete, stderr=p.stderr.decode()[-300:])
    finally:
        r.stop()
    res["check"] = check.check(out, 1, n, SIZE, ctx.checkfast)
    secs = max(res["seconds"] or 0, res["exit_s"])
    res["seconds"] = secs
    res["msgs_per_s"] = res["check"]["ok"] / secs if secs else 0
    if not ctx.keep:
        os.unlink(out)
    return res


# ---------------------------------------------------------------- report

def med(vals):
    """(median, min, max) of the non-None values, or None."""
    vals = [v for v in vals if v is not None]
    if not vals:
        return None
    return statistics.median(vals), min(vals), max(vals)


def fmt_rate(v):
    """Messages per second, short."""
    if v >= 1e6:
        return f"{v / 1e6:.2f}M"
    if v >= 1e3:
        return f"{v / 1e3:.0f}k"
    return f"{v:.0f}"


def fmt3(t, f):
    """'median (min-max)' with formatter f."""
    if t is None:
        return "-"
    m, lo, hi = t
    if f(lo) == f(hi):
        return f(m)
    return f"{f(m)} ({f(lo)}–{f(hi)})"


def problems(runs, expected):
    """Faults of the worst run, in words; 'none' when every run was clean."""
    worst = {}
    for run in runs:
        c = dict(run.get("check", {}))
        if run.get("unsent"):
            # Lost means read by the receiver and not logged; what was
            # never sent is said apart.
            c["lost"] = max(0, c.get("lost", 0) - run["unsent"])
            worst["not sent"] = max(worst.get("not sent", 0), run["unsent"])
        for k in check.PROBLEMS:
            worst[k] = max(worst.get(k, 0), c.get(k, 0))
        lg = run.get("loadgen", {})
        for k in ("connect_failed", "handshake_failed", "closed_early",
                  "resets", "unclosed"):
            worst[k] = max(worst.get(k, 0), lg.get(k, 0))
        if lg.get("stalled"):
            # Churn ended early: the receiver finished no connection for
            # 30 s (the lines not sent then count as lost).
            worst["stalled"] = worst.get("stalled", 0) + 1
        if run.get("error"):
            worst["error"] = run["error"]
    words = []
    for k, v in worst.items():
        if k == "error":
            words.append(v)
        elif k == "stalled":
            words.append(f"stalled in {v} of {len(runs)} runs (no"
                         " connection finished for 30 s)")
        elif v:
            pct = f" ({100 * v / expected:.2g}%)" if k in (
                "lost", "damaged", "not sent") and expected else ""
            words.append(f"{k} {v}{pct}")
    return ", ".join(words) or "none"


def summarize(results, scenarios):
    """Aggregate runs per (scenario, receiver)."""
    agg = {}
    for key, runs in results.items():
        scen_name, recv = key.split("/", 1)
        scen = scenarios[scen_name]
        good = [r for r in runs if "error" not in r or r.get("check")]
        a = {"scenario": scen_name, "receiver": recv, "runs": len(runs)}
        # A run is disturbed when other processes took over a tenth of the
        # machine's CPU time while it ran.
        a["disturbed"] = sum(1 for r in runs if disturbed(r))
        if kind(scen["mode"]) == "idle":
            a["kib_per_conn"] = med([r.get("kib_per_conn") for r in good])
            a["held"] = med([r.get("held") for r in good])
            a["pss_growth_mib"] = med([r.get("pss_growth_kib", 0) / 1024
                                       for r in good])
            notes = []
            # The run that held the fewest tells the most.
            for r in sorted(runs, key=lambda r: r.get("held") or 0)[:1]:
                if r.get("error"):
                    notes.append(r["error"])
                elif (r.get("closed_by_peer") or r.get("failed") or
                      r.get("client_open", 0) != r.get("held", 0)):
                    notes.append(f"client side: {r.get('client_open', 0)} open,"
                                 f" {r.get('failed', 0)} connects failed,"
                                 f" {r.get('closed_by_peer', 0)} closed by"
                                 " the receiver")
            a["notes"] = "; ".join(sorted(set(notes))) or "none"
        else:
            expected = scen["conns"] * scen["msgs"]
            a["msgs_per_s"] = med([r.get("msgs_per_s") for r in good])
            a["cpu_per_m"] = med([r.get("cpu_per_m") for r in good])
            a["peak_mib"] = med([r.get("peak_kib", 0) / 1024 for r in good])
            a["peak_sum_mib"] = med([r["peak_sum_rss_kib"] / 1024
                                     for r in good
                                     if "peak_sum_rss_kib" in r])
            a["seconds"] = med([r.get("seconds") for r in good])
            a["sent_rate"] = med([r.get("sent_rate") for r in good])
            a["problems"] = problems(runs, expected)
            lgs = [r.get("loadgen", {}) for r in good]
            a["tls"] = sorted({f"{g['tls']} {g['cipher']}" for g in lgs
                               if g.get("tls")})
            if kind(scen["mode"]) == "hs":
                a["hs_per_s"] = med([r.get("hs_per_s") for r in good])
                a["cpu_ms_per_hs"] = med([r.get("cpu_ms_per_hs")
                                          for r in good])
                a["logged"] = med([r.get("check", {}).get("ok")
                                   for r in good])
                a["expected"] = expected
        agg[key] = a
    return agg


def runs_cell(a):
    """The run count, marked when some runs shared the machine."""
    return f"{a['runs']}" + (f" ({a['disturbed']} disturbed)"
                             if a["disturbed"] else "")


def markdown(agg, order, recv_order, scenarios=None):
    """The results as Markdown tables (scenarios: the counts as run, for
    the titles; SCENARIOS' by default)."""
    scenarios = scenarios or SCENARIOS
    rows = ["| scenario | receiver | msgs/s | CPU-s per 1M msgs | peak RSS MiB"
            " | faults (worst run) | runs |",
            "|---|---|---|---|---|---|---|"]
    idle_head = ["| receiver | connections held | KiB per connection |"
                 " Pss growth MiB | faults | runs |",
                 "|---|---|---|---|---|---|"]
    idles = {}
    hs_head = ["| receiver | handshakes/s | CPU-ms per handshake | lines"
               " logged | peak RSS MiB | faults (worst run) | runs |",
               "|---|---|---|---|---|---|---|"]
    hss = {}
    client = ["| client | seconds to all written | msgs/s | faults (worst"
              " run) | runs |", "|---|---|---|---|---|"]
    for s in order:
        names = recv_order if s != "CLIENT" else ["peerlog", "ncat-send"]
        for rn in names:
            a = agg.get(f"{s}/{rn}")
            if a is None:
                continue
            k = kind(SCENARIOS[s]["mode"])
            if k == "idle":
                idles.setdefault(s, list(idle_head)).append(
                    f"| {rn} | {fmt3(a['held'], lambda v: f'{v:.0f}')}"
                    f" | {fmt3(a['kib_per_conn'], lambda v: f'{v:.2f}')}"
                    f" | {fmt3(a['pss_growth_mib'], lambda v: f'{v:.1f}')}"
                    f" | {a['notes']} | {runs_cell(a)} |")
            elif k == "hs":
                hss.setdefault(s, list(hs_head)).append(
                    f"| {rn} | {fmt3(a['hs_per_s'], lambda v: f'{v:.0f}')}"
                    f" | {fmt3(a['cpu_ms_per_hs'], lambda v: f'{v:.2f}')}"
                    f" | {fmt3(a['logged'], lambda v: f'{v:,.0f}')}"
                    f" of {a['expected']:,}"
                    f" | {fmt3(a['peak_mib'], lambda v: f'{v:.1f}')}"
                    f" | {a['problems']} | {runs_cell(a)} |")
            elif s == "CLIENT":
                client.append(f"| {rn} | {fmt3(a['seconds'], lambda v: f'{v:.2f}')}"
                              f" | {fmt3(a['msgs_per_s'], fmt_rate)}"
                              f" | {a['problems']} | {runs_cell(a)} |")
            else:
                peak = fmt3(a["peak_mib"], lambda v: f"{v:.1f}")
                if a["peak_sum_mib"]:
                    peak += (" (sum of all processes "
                             f"{fmt3(a['peak_sum_mib'], lambda v: f'{v:.0f}')})")
                rate = fmt3(a["msgs_per_s"], fmt_rate)
                if SCENARIOS[s]["mode"] == "udp" and a["sent_rate"]:
                    rate += f" (sent at {fmt3(a['sent_rate'], fmt_rate)})"
                rows.append(f"| {s} | {rn} | {rate}"
                            f" | {fmt3(a['cpu_per_m'], lambda v: f'{v:.2f}')}"
                            f" | {peak} | {a['problems']} | {runs_cell(a)} |")
    parts = []
    negotiated = {}
    for s in order:
        for rn in recv_order:
            for t in agg.get(f"{s}/{rn}", {}).get("tls", []):
                negotiated.setdefault(rn, set()).add(t)
    if any(a["disturbed"] for a in agg.values()):
        parts.append("A run marked disturbed shared the machine: other"
                     " processes used over a tenth of its CPU time meanwhile.")
    if len(rows) > 2:
        parts.append("\n".join(rows))
    for s, rows_ in idles.items():
        tls = " TLS" if scenarios[s]["mode"] == "tlsidle" else ""
        what = " (handshakes done)" if tls else ""
        parts.append(f"{s}: {scenarios[s]['conns']:,} idle{tls}"
                     f" connections{what}\n\n" + "\n".join(rows_))
    for s, rows_ in hss.items():
        sc = scenarios[s]
        total = sc["conns"] * sc["msgs"]
        parts.append(f"{s}: {sc['conns']} at a time, {total:,} full TLS"
                     " handshakes in all (connect, handshake, one line,"
                     " close)\n\n" + "\n".join(rows_))
    if len(client) > 2:
        parts.append("CLIENT: a 1,000,000-line file into refrecv\n\n"
                     + "\n".join(client))
    if negotiated:
        parts.append("TLS as negotiated (loadgen's view): " + "; ".join(
            f"{rn} {', '.join(sorted(t))}" for rn, t in negotiated.items())
            + ".")
    return "\n\n".join(parts)


# The peerlogd builds measured: the one under test and, with --base-build,
# the one before.
BUILDS = ("peerlogd", "peerlogd-base")


def get(agg, s, r, k):
    """The median of measure k of receiver r in scenario s, or None."""
    a = agg.get(f"{s}/{r}")
    return a[k][0] if a and a.get(k) else None


def ref_ratio(agg, s, r):
    """Receiver r's median msgs/s over the reference's in scenario s."""
    p, q = get(agg, s, r, "msgs_per_s"), get(agg, s, "ref", "msgs_per_s")
    return p / q if p and q else None


def build_targets(agg, b):
    """The target rows of one peerlogd build b (peerlogd, peerlogd-base)."""
    rows = []
    for s, want in (("T16L", 0.6), ("T1L", 0.6), ("T1000", 0.8)):
        v = ref_ratio(agg, s, b)
        if v is not None:
            rows.append((f"{s}: {b} msgs/s vs ref", f">= {want}x",
                         f"{v:.2f}x", v >= want))
    for s in ("T16L", "T1L"):
        v = get(agg, s, b, "cpu_per_m")
        if v is not None:
            rows.append((f"{s}: {b} CPU-s per 1M msgs", "<= 0.4",
                         f"{v:.2f}", v <= 0.4))
    a = agg.get(f"U200k/{b}")
    if a:
        # The sender may fall short of 200k/s here: say what was reached.
        sent = a["sent_rate"][0] if a.get("sent_rate") else 0
        clean_ = a["problems"] == "none"
        met = "yes" if clean_ and sent >= 190_000 else (
            f"yes at {fmt_rate(sent)}/s; 200k/s not reached" if clean_
            else False)
        rows.append((f"U200k: {b} UDP loss at 200k/s", "0",
                     f"{a['problems']} (sent at "
                     f"{fmt3(a.get('sent_rate'), fmt_rate)}/s)", met))
    v = get(agg, "IDLE", b, "kib_per_conn")
    if v is not None:
        rows.append((f"IDLE: {b} memory per connection", "<= 1 KiB",
                     f"{v:.2f} KiB", v <= 1.0))
    return rows


def ratio(agg, s, a, b, k="msgs_per_s"):
    """Receiver a's median of measure k over receiver b's in scenario s."""
    p, q = get(agg, s, a, k), get(agg, s, b, k)
    return p / q if p and q else None


def tls_targets(agg, b):
    """The TLS targets (issue 10) of one peerlogd build b."""
    rows = []
    v = ratio(agg, "TLS16", b, "peerlogd-tcp")
    if v is not None:
        rows.append((f"TLS16: {b} over TLS vs peerlogd over TCP (msgs/s)",
                     ">= 0.5x", f"{v:.2f}x", v >= 0.5))
    for s in ("TLS16", "TLS1K"):
        v = ratio(agg, s, b, "rsyslog")
        if v is not None:
            rows.append((f"{s}: {b} vs rsyslog TLS (msgs/s)", ">= 4x",
                         f"{v:.2f}x", v >= 4))
    v = get(agg, "TLS16", b, "cpu_per_m")
    if v is not None:
        rows.append((f"TLS16: {b} CPU-s per 1M msgs", "<= 0.8", f"{v:.2f}",
                     v <= 0.8))
    v = get(agg, "TLSIDLE", b, "kib_per_conn")
    if v is not None:
        rows.append((f"TLSIDLE: {b} memory per connection", "<= 8 KiB",
                     f"{v:.2f} KiB", v <= 8.0))
    v = ratio(agg, "TLSHS", b, "rsyslog", "cpu_ms_per_hs")
    p = get(agg, "TLSHS", b, "cpu_ms_per_hs")
    if p is not None:
        rows.append((f"TLSHS: {b} CPU per handshake vs rsyslog's",
                     "<= 0.5x", f"{p:.2f} ms" + (f", {v:.2f}x" if v else
                                                 " (no rsyslog)"),
                     v is not None and v <= 0.5))
    for s in ("TLS16", "TLS1K", "TLSHS"):
        a = agg.get(f"{s}/{b}")
        if a:
            rows.append((f"{s}: {b} faults (every run)", "none",
                         a["problems"], a["problems"] == "none"))
    return rows


def targets(agg):
    """The issue's targets for each peerlogd build, measured against the
    reference (TLS: against peerlogd over TCP and rsyslog)."""
    rows = []
    for b in BUILDS:
        rows += build_targets(agg, b)
        rows += tls_targets(agg, b)
    p, n = get(agg, "CLIENT", "peerlog", "seconds"), get(
        agg, "CLIENT", "ncat-send", "seconds")
    if p and n:
        pa = agg["CLIENT/peerlog"]["problems"]
        rows.append(("CLIENT: peerlog vs ncat --send-only (time)",
                     "peerlog <= ncat, no loss",
                     f"{p:.2f} s vs {n:.2f} s ({n / p:.2f}x); faults: {pa}",
                     p <= n and pa == "none"))
    if not rows:
        return ""
    out = ["| target | wanted | measured | met? |", "|---|---|---|---|"]
    for what, want, got, met in rows:
        if not isinstance(met, str):
            met = "yes" if met else "NO"
        out.append(f"| {what} | {want} | {got} | {met} |")
    return "\n".join(out)


# What the before/after table compares: (measure key, label, formatter).
COMPARED = {
    "traffic": (("msgs_per_s", "msgs/s", fmt_rate),
                ("cpu_per_m", "CPU-s per 1M msgs", lambda v: f"{v:.2f}"),
                ("peak_mib", "peak RSS MiB", lambda v: f"{v:.1f}")),
    "idle": (("kib_per_conn", "KiB per connection", lambda v: f"{v:.2f}"),
             ("held", "connections held", lambda v: f"{v:.0f}")),
    "hs": (("hs_per_s", "handshakes/s", lambda v: f"{v:.0f}"),
           ("cpu_ms_per_hs", "CPU-ms per handshake", lambda v: f"{v:.2f}"),
           ("peak_mib", "peak RSS MiB", lambda v: f"{v:.1f}")),
}


def pair_ratios(results, s, k):
    """Measure k of peerlogd over peerlogd-base, run by run (run i of
    each took its turn next to the other's run i): (min, max) or None."""
    after = results.get(f"{s}/peerlogd", [])
    before = results.get(f"{s}/peerlogd-base", [])
    k = {"peak_mib": "peak_kib"}.get(k, k)   # a run keeps KiB
    v = [a[k] / b[k] for a, b in zip(after, before)
         if a.get(k) and b.get(k) and "error" not in a and "error" not in b]
    return (min(v), max(v)) if v else None


def ratios(agg, results, order):
    """Per scenario: each build's msgs/s over the reference's, and
    peerlogd's measures over peerlogd-base's (medians over medians)."""
    out = {}
    for s in order:
        r = {}
        for b in BUILDS:
            v = ref_ratio(agg, s, b)
            if v is not None:
                r[f"{b}_vs_ref"] = v
            # TLS: against peerlogd over TCP and rsyslog, same scenario.
            for other, k in (("peerlogd-tcp", "msgs_per_s"),
                             ("rsyslog", "msgs_per_s"),
                             ("rsyslog", "cpu_ms_per_hs")):
                if SCENARIOS[s]["mode"] not in TLS_MODES:
                    continue
                v = ratio(agg, s, b, other, k)
                if v is not None:
                    r[f"{b}_vs_{other}_{k}"] = v
        mode = kind(SCENARIOS[s]["mode"])
        ab = {}
        for k, _, _ in COMPARED.get(mode, ()):
            a, b = get(agg, s, "peerlogd", k), get(agg, s, "peerlogd-base", k)
            if a is not None and b:
                ab[k] = a / b
                pr = pair_ratios(results, s, k)
                if pr:
                    ab[k + "_by_run"] = pr
        if ab:
            r["after_over_before"] = ab
        if r:
            out[s] = r
    return out


def compare(agg, rat, order):
    """peerlogd (after) against peerlogd-base (before), as Markdown."""
    rows = ["| scenario | measure | peerlogd-base (before) | peerlogd (after)"
            " | after/before | run by run |", "|---|---|---|---|---|---|"]
    for s in order:
        ab = rat.get(s, {}).get("after_over_before")
        if not ab:
            continue
        a, b = agg[f"{s}/peerlogd"], agg[f"{s}/peerlogd-base"]
        mode = kind(SCENARIOS[s]["mode"])
        for k, label, f in COMPARED[mode]:
            if k not in ab:
                continue
            pr = ab.get(k + "_by_run")
            by_run = f"{pr[0]:.2f}–{pr[1]:.2f}x" if pr else "-"
            rows.append(f"| {s} | {label} | {fmt3(b[k], f)} | {fmt3(a[k], f)}"
                        f" | {ab[k]:.2f}x | {by_run} |")
            if k == "msgs_per_s" and "peerlogd_vs_ref" in rat[s] \
                    and "peerlogd-base_vs_ref" in rat[s]:
                va, vb = rat[s]["peerlogd_vs_ref"], rat[s][
                    "peerlogd-base_vs_ref"]
                rows.append(f"| {s} | msgs/s vs ref | {vb:.2f}x | {va:.2f}x"
                            f" | {va / vb:.2f}x | - |")
        if mode in ("traffic", "hs"):
            rows.append(f"| {s} | faults (worst run) | {b['problems']}"
                        f" | {a['problems']} | | |")
    if len(rows) == 2:
        return ""
    return ("after/before above 1 is faster for msgs/s, below 1 is leaner for"
            " CPU and memory; run by run: the range of run i of one over run"
            " i of the other.\n\n" + "\n".join(rows))


def build_info(build):
    """A build dir, its source tree and that tree's commit ('+dirty' when
    tracked files differ from it), so a result names what it measured."""
    r = {"dir": build}
    try:
        with open(os.path.join(build, "meson-info", "meson-info.json")) as f:
            src = json.load(f)["directories"]["source"]
    except (OSError, ValueError, KeyError):
        return r
    r["source"] = src
    commit = run_text(["git", "-C", src, "rev-parse", "--short", "HEAD"])
    if re.fullmatch(r"[0-9a-f]{4,40}", commit):
        dirty = run_text(["git", "-C", src, "status", "--porcelain",
                          "--untracked-files=no"])
        r["commit"] = commit + ("+dirty" if dirty else "")
    return r


def machine():
    """What the numbers were measured on."""
    model = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    libevent = run_text(["pkg-config", "--modversion", "libevent"])
    return dict(nproc=os.cpu_count(), cpu=model, kernel=platform.release(),
                libevent=libevent,
                python=platform.python_version())


# ---------------------------------------------------------------- main

def expand(spec, known, groups=None):
    """Comma list with group names expanded, in the canonical order."""
    want = []
    for item in spec.split(","):
        item = item.strip()
        if not item:
            continue
        if groups and item.upper() in groups:
            want += groups[item.upper()]
        elif item in known:
            want.append(item)
        else:
            raise SystemExit(f"run.py: unknown name '{item}'"
                             f" (known: {', '.join(known)})")
    return [k for k in known if k in want]


def report(results, scenarios, info):
    """Summarize, print the tables, targets and the before/after table;
    return them and the ratios."""
    agg = summarize(results, scenarios)
    table = markdown(agg, info["scenario_order"], info["receiver_order"],
                     scenarios)
    tgt = targets(agg)
    rat = ratios(agg, results, info["scenario_order"])
    cmp_ = compare(agg, rat, info["scenario_order"])
    print(table)
    if tgt:
        names = [b for b in BUILDS if b in info["receiver_order"]]
        print(f"\nTargets ({', '.join(names) or 'peerlogd'}):\n\n" + tgt)
    if cmp_:
        print("\nBefore and after (peerlogd vs peerlogd-base):\n\n" + cmp_)
    print(f"\nTotal time: {info['total_s'] / 60:.1f} min")
    return agg, table, tgt, rat, cmp_


def rereport(path):
    """--report: the tables again from a results file, nothing run."""
    with open(path) as f:
        d = json.load(f)
    info = d["info"]
    if "scenario_order" not in info:
        info["scenario_order"] = [s for s in SCENARIOS if s in d["scenarios"]]
        info["receiver_order"] = [r for r in RECEIVERS + ["peerlog",
                                                          "ncat-send"]
                                  if any(k.endswith("/" + r)
                                         for k in d["runs"])]
    report(d["runs"], d["scenarios"], info)
    return 0


def main():
    ap = argparse.ArgumentParser(
        description="peerlog receiver benchmark (loopback only)")
    ap.add_argument("--report", metavar="RESULTS.json",
                    help="print the tables of an earlier run; run nothing")
    ap.add_argument("--build",
                    help="meson build dir with src/peerlogd and bench/")
    ap.add_argument("--scenarios", default="ALL",
                    help="comma list of " + ",".join(SCENARIOS)
                    + ", or UDP / ALL")
    ap.add_argument("--base-build", metavar="DIR",
                    help="meson build dir of an older commit: adds the"
                    " receiver peerlogd-base (DIR/src/peerlogd), run side"
                    " by side with peerlogd for before and after")
    ap.add_argument("--receivers",
                    help="comma list of " + ",".join(RECEIVERS) + " (default"
                    " all; peerlogd-base only with --base-build, which adds"
                    " it)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--runs-for", default="",
                    help="fewer runs for some: NAME=N or NAME:SCEN=N, comma"
                    " separated (e.g. syslog-ng:T16L=1)")
    ap.add_argument("--scale", type=float, default=1.0,
                    help="multiply message counts (quick trials)")
    ap.add_argument("--install", action="store_true",
                    help="apt-get install missing peers (default when root)")
    ap.add_argument("--no-install", action="store_true")
    ap.add_argument("--timeout", type=float, default=300,
                    help="seconds allowed for one run")
    ap.add_argument("--keep", action="store_true",
                    help="keep the temporary directory and outputs")
    ap.add_argument("--results", default=os.path.join(HERE, "results"),
                    help="where the JSON results go")
    ap.add_argument("--no-ninja", action="store_true")
    ap.add_argument("--no-prewarm", dest="prewarm", action="store_false",
                    help="do not write and delete a warm-up file on /dev/shm"
                    " before runs with a large output")
    ap.add_argument("--quiet-wait", type=float, default=120,
                    help="seconds to wait for other load to stop before"
                    " each run (then run anyway, and record it)")
    ap.add_argument("--quiet-budget", type=float, default=300,
                    help="most seconds spent waiting for quiet in all")
    ap.add_argument("--redo-disturbed", type=int, default=0, metavar="N",
                    help="afterwards, run disturbed runs again, up to N"
                    " rounds, keeping the quieter result")
    ctx = ap.parse_args()
    if ctx.report:
        return rereport(ctx.report)
    if not ctx.build:
        ap.error("--build DIR is required")

    ctx.build = os.path.abspath(ctx.build)
    if ctx.base_build:
        ctx.base_build = os.path.abspath(ctx.base_build)
        if ctx.base_build == ctx.build:
            ap.error("--base-build is the same directory as --build")
    if not ctx.no_ninja:
        for d in filter(None, (ctx.build, ctx.base_build)):
            subprocess.run(["ninja", "-C", d], check=True,
                           stdout=subprocess.DEVNULL, timeout=600)
    ctx.loadgen = os.path.join(ctx.build, "bench", "loadgen")
    ctx.checkfast = os.path.join(ctx.build, "bench", "checkfast")
    for p in (ctx.loadgen,):
        if not os.access(p, os.X_OK):
            raise SystemExit(f"run.py: {p} missing: does the top meson.build"
                             " have subdir('bench')?")
    if not os.access(ctx.checkfast, os.X_OK):
        log("checkfast missing: checking in Python (slow)")
        ctx.checkfast = None
    ctx.install = (ctx.install or os.geteuid() == 0) and not ctx.no_install

    scen_names = expand(ctx.scenarios, list(SCENARIOS), GROUPS)
    if ctx.receivers is None:
        ctx.receivers = ",".join(r for r in RECEIVERS
                                 if ctx.base_build or r != "peerlogd-base")
    elif ctx.base_build:
        ctx.receivers += ",peerlogd-base"
    recv_names = expand(ctx.receivers, RECEIVERS)
    if "peerlogd-base" in recv_names and not ctx.base_build:
        ap.error("the receiver peerlogd-base needs --base-build DIR")
    recv_names = ensure_peers(ctx, recv_names)
    ensure_tls_peers(ctx, recv_names, scen_names)
    if ctx.base_build and "peerlogd-base" not in recv_names:
        raise SystemExit(f"run.py: no {ctx.base_build}/src/peerlogd")
    if "CLIENT" in scen_names and not shutil.which("ncat") and ctx.install:
        apt(["install", "-y", "-q", "--no-remove", "ncat"])
    scaled = {}
    for name in scen_names:
        s = dict(SCENARIOS[name])
        if kind(s["mode"]) == "idle":
            s["conns"] = max(1, int(s["conns"] * min(ctx.scale, 1.0)))
        else:
            s["msgs"] = max(1, int(s["msgs"] * ctx.scale))
        scaled[name] = s
    fewer = {}
    for item in filter(None, ctx.runs_for.split(",")):
        k, v = item.split("=")
        fewer[k] = int(v)

    def runs_of(recv, scen):
        return fewer.get(f"{recv}:{scen}", fewer.get(recv, ctx.runs))

    receivers = {n: RECEIVER_CLASSES[n](ctx) for n in recv_names}
    info = dict(machine=machine(),
                versions={n: r.version() for n, r in receivers.items()},
                builds={n: build_info(r.build_dir())
                        for n, r in receivers.items()
                        if isinstance(r, Peerlogd)},
                command=" ".join(sys.argv), scale=ctx.scale,
                loadavg_before=os.getloadavg(),
                started=datetime.datetime.now(datetime.timezone.utc)
                .isoformat(timespec="seconds"))
    for n, b in info["builds"].items():
        log(f"{n}: {b['dir']} ({b.get('commit', 'commit unknown')})")
    if "CLIENT" in scen_names and shutil.which("ncat"):
        info["versions"]["ncat"] = run_text(["ncat", "--version"])
    results = {}
    t_begin = time.monotonic()
    ctx.tmp = tempfile.mkdtemp(prefix="peerlog-bench-")
    try:
        for run in range(ctx.runs):
            for sn in scen_names:
                scen = scaled[sn]
                if sn == "CLIENT":
                    # ncat-send only where ncat is (--install brings it).
                    jobs = [("peerlog", None)] + (
                        [("ncat-send", None)] if shutil.which("ncat")
                        else [])
                else:
                    jobs = [(n, receivers[n]) for n in recv_names
                            if receivers[n].supports(scen["mode"])]
                if run % 2:
                    jobs.reverse()
                for rn, recv in jobs:
                    if run >= runs_of(rn, sn):
                        continue
                    res = one_run(ctx, sn, scen, rn, recv)
                    results.setdefault(f"{sn}/{rn}", []).append(res)
                    log(f"[{sn} {rn} run {run + 1}] " + brief(res))
        if ctx.redo_disturbed:
            redo(ctx, results, scaled, receivers)
    finally:
        if not ctx.keep:
            shutil.rmtree(ctx.tmp, ignore_errors=True)
        else:
            log(f"kept {ctx.tmp}")
    info["total_s"] = time.monotonic() - t_begin
    info["loadavg_after"] = os.getloadavg()
    info["scenario_order"], info["receiver_order"] = scen_names, recv_names
    agg, table, tgt, rat, cmp_ = report(results, scaled, info)
    os.makedirs(ctx.results, exist_ok=True)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    path = os.path.join(ctx.results, f"{stamp}.json")
    with open(path, "w") as f:
        json.dump(dict(info=info, scenarios=scaled, runs=results,
                       summary=agg, markdown=table, targets=tgt,
                       ratios=rat, compare=cmp_), f,
                  indent=1)
    log(f"results: {path}")
    return 0


def one_run(ctx, sn, scen, rn, recv):
    """One run of one scenario on one receiver, after waiting for quiet."""
    rd = tempfile.mkdtemp(dir=ctx.tmp, prefix=f"{sn}-{rn}-")
    # Other work on the machine skews every number: wait for a quiet
    # machine, and measure what else ran.
    w0 = time.monotonic()
    busy_before = wait_quiet(min(ctx.quiet_wait, ctx.quiet_budget))
    ctx.quiet_budget -= time.monotonic() - w0
    t0 = time.monotonic()
    b0, c0 = busy_ticks(), own_cpu()
    try:
        if sn == "CLIENT":
            tool = "peerlog" if rn == "peerlog" else "ncat"
            res = run_client(ctx, tool, scen, rd)
        elif kind(scen["mode"]) == "idle":
            res = run_idle(ctx, recv, scen, rd)
        else:
            res = run_traffic(ctx, recv, scen, rd)
    except (RuntimeError, TimeoutError, OSError,
            subprocess.SubprocessError, ValueError) as e:
        res = {"error": f"{type(e).__name__}: {e}"[:300]}
    res["wall_s"] = time.monotonic() - t0
    res["busy_before"] = busy_before
    res["other_cpu_s"] = max(
        0.0, (busy_ticks() - b0) / CLK - (own_cpu() - c0))
    if not ctx.keep:
        shutil.rmtree(rd, ignore_errors=True)
    return res


def disturbed(res):
    """True when other processes took over a tenth of the machine's CPU
    time during the run."""
    return res.get("other_cpu_s", 0) > 0.1 * res.get("wall_s", 0) * \
        os.cpu_count()


def redo(ctx, results, scaled, receivers):
    """Run each disturbed run again (at most --redo-disturbed rounds),
    keeping the new one when it was quieter."""
    for round_ in range(ctx.redo_disturbed):
        todo = [(key, i) for key, runs in results.items()
                for i, r in enumerate(runs) if disturbed(r)]
        if not todo:
            return
        log(f"redo round {round_ + 1}: {len(todo)} disturbed runs")
        for key, i in todo:
            sn, rn = key.split("/", 1)
            res = one_run(ctx, sn, scaled[sn], rn, receivers.get(rn))
            old = results[key][i]
            if res.get("other_cpu_s", 0) < old.get("other_cpu_s", 0):
                results[key][i] = res
            log(f"[{sn} {rn} redo of run {i + 1}] " + brief(res))


def brief(res):
    """One progress line for a run."""
    if res.get("error") and "check" not in res:
        return "ERROR " + res["error"]
    if "kib_per_conn" in res:
        k = res["kib_per_conn"]
        return (f"held {res['held']} " + f"of {res.get('client_open')} " +
                (f"{k:.2f} KiB/conn" if k is not None else "") +
                f" ({res['wall_s']:.1f}s)")
    c = res.get("check", {})
    bad = {k: c[k] for k in check.PROBLEMS if c.get(k)}
    lg = res.get("loadgen", {})
    bad.update({k: lg[k] for k in ("handshake_failed", "closed_early",
                                   "unclosed", "resets", "stalled")
                if lg.get(k)})
    if "cpu_ms_per_hs" in res:
        return (f"{res.get('hs_per_s') or 0:.0f} handshakes/s"
                f" cpu {res['cpu_ms_per_hs']:.2f} ms each,"
                f" {c.get('ok', 0)} of {lg.get('expected')} lines"
                + (f" {bad}" if bad else " clean")
                + f" ({res['wall_s']:.1f}s)")
    cpu = res.get("cpu_per_m")
    other = res.get("other_cpu_s", 0)
    note = (f" [other load {other:.1f} CPU-s]"
            if other > 0.2 * res.get("wall_s", 1) else "")
    return note + (f"{fmt_rate(res.get('msgs_per_s', 0))} msg/s"
            + (f" cpu {cpu:.2f}s/M" if cpu is not None else "")
            + (f" peak {res['peak_kib'] / 1024:.1f}MiB"
               if "peak_kib" in res else "")
            + (f" {bad}" if bad else " clean")
            + f" ({res['wall_s']:.1f}s)")


if __name__ == "__main__":
    sys.exit(main())
