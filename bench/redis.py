#!/usr/bin/python3
"""Redis benchmark: peerlogd publishing into a Redis stream, side by side.

In one run, each part against a fresh redis-server on loopback (no
persistence), the same load of C connections x N messages of 100 bytes
(loadgen, every message unique):

  redis-benchmark  the ceiling: redis-benchmark's own pipelined XADD of an
                   entry with peerlogd's fields (ts, proto, peer, event,
                   msg of the same size), C clients, pipeline -P
  peerlogd         loadgen -> peerlogd --redis; done when XLEN holds every
                   record; then every message is checked in the stream
                   exactly once, in order per connection (a Lua script in
                   Redis walks the stream)
  haproxy          the same through HAProxy (mode tcp, send-proxy-v2) and
                   peerlogd --proxy: peerlogd's CPU per message against
                   the direct run
  rsyslog          rsyslog imptcp -> omhiredis; Debian 12's omhiredis
                   (8.2302) has no stream mode, so it pushes each message
                   onto a list (mode "queue", RPUSH), the nearest it does

msgs/s is messages over the time from loadgen's start to the last one
confirmed in Redis; CPU/M is CPU-seconds per million messages of peerlogd
(or rsyslogd) and of redis-server. Parts take turns in a different order
in every run (forward, then backward), and every run starts its own
redis-server.

usage: redis.py --build DIR [--conns 16] [--msgs 1000000] [--runs 1]
                [--parts redis-benchmark,peerlogd,haproxy,rsyslog]
"""

import argparse
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HOST = "127.0.0.1"
SIZE = 100
CLK = os.sysconf("SC_CLK_TCK")
PARTS = ["redis-benchmark", "peerlogd", "haproxy", "rsyslog"]

# Walks the stream (or list) in Redis: every "c=C s=S " message once and
# in order per connection. Returns {messages, duplicates or disorder,
# connections}.
CHECK_LUA = """
local key, kind, conns, per = KEYS[1], ARGV[1], tonumber(ARGV[2]),
    tonumber(ARGV[3])
local nextseq, msgs, bad = {}, 0, 0
local function see(m)
  local c, s = string.match(m, "^c=(%d+) s=(%d+) ")
  if c == nil then return end
  c = tonumber(c); s = tonumber(s)
  if (nextseq[c] or 0) ~= s then bad = bad + 1 end
  nextseq[c] = s + 1
  msgs = msgs + 1
end
if kind == "stream" then
  local from = "-"
  while true do
    local r = redis.call("XRANGE", key, from, "+", "COUNT", 10000)
    if #r == 0 then break end
    for _, e in ipairs(r) do
      local f = e[2]
      for i = 1, #f, 2 do
        if f[i] == "msg" then see(f[i + 1]) end
      end
    end
    from = "(" .. r[#r][1]
  end
else
  local n = redis.call("LLEN", key)
  for i = 0, n - 1, 10000 do
    for _, m in ipairs(redis.call("LRANGE", key, i, i + 9999)) do see(m) end
  end
end
local complete = 0
for c = 0, conns - 1 do
  if nextseq[c] == per then complete = complete + 1 end
end
return {msgs, bad, complete}
"""


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def cpu_s(pid):
    """utime + stime of a live process, in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK


def wait_until(pred, timeout, what, step=0.05):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(step)
    raise RuntimeError(f"timed out: {what}")


def stop(p, timeout=60):
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


class Redis:
    """A fresh redis-server on a free port, and a tiny RESP client."""

    def __init__(self, rd):
        self.port = free_port()
        self.p = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", HOST,
             "--save", "", "--appendonly", "no", "--dir", rd,
             "--logfile", os.path.join(rd, "redis.log")],
            stdout=subprocess.DEVNULL)
        wait_until(self.up, 10, "redis-server start")
        self.sock = socket.create_connection((HOST, self.port))
        self.rf = self.sock.makefile("rb")

    def up(self):
        try:
            socket.create_connection((HOST, self.port)).close()
            return True
        except OSError:
            return False

    def cmd(self, *args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        self.sock.sendall(b"".join(out))
        return self.reply()

    def reply(self):
        line = self.rf.readline().rstrip(b"\r\n")
        t, rest = line[:1], line[1:]
        if t == b"+":
            return rest.decode()
        if t == b"-":
            raise RuntimeError(rest.decode())
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = self.rf.read(n + 2)
            return data[:-2]
        if t == b"*":
            n = int(rest)
            return None if n < 0 else [self.reply() for _ in range(n)]
        raise RuntimeError(f"bad reply {line!r}")

    def close(self):
        self.sock.close()
        stop(self.p)


def loadgen(ctx, port):
    return subprocess.Popen(
        [ctx.loadgen, "-m", "tcp", "-H", HOST, "-p", str(port), "-c",
         str(ctx.conns), "-n", str(ctx.msgs), "-s", str(SIZE), "-T", "600",
         "-W", "30"], stdout=subprocess.DEVNULL)


def check(ctx, r, key, kind):
    got = r.cmd("EVAL", CHECK_LUA, 1, key, kind, ctx.conns, ctx.msgs)
    return dict(messages=got[0], bad=got[1], complete=got[2])


def run_redis_benchmark(ctx, rd):
    r = Redis(rd)
    try:
        total = ctx.conns * ctx.msgs
        cmd = ["redis-benchmark", "-h", HOST, "-p", str(r.port), "-c",
               str(ctx.conns), "-n", str(total), "-P", str(ctx.pipeline),
               "--csv", "XADD", "rb", "*", "ts", "2026-12-02T10:00:00.000000Z",
               "proto", "tcp", "peer", "127.0.0.1:40000", "event", "msg",
               "msg", "c=1 s=1 " + "x" * (SIZE - 9)]
        c0 = cpu_s(r.p.pid)
        t0 = time.monotonic()
        out = subprocess.run(cmd, capture_output=True, text=True,
                             timeout=1800).stdout
        secs = time.monotonic() - t0
        rcpu = cpu_s(r.p.pid) - c0
        rps = float(out.strip().splitlines()[-1].split(",")[1].strip('"'))
        n = r.cmd("XLEN", "rb")
        return dict(rate=rps, secs=secs, redis_cpu_m=rcpu / (n / 1e6),
                    entries=n, ok=n == total)
    finally:
        r.close()


def run_peerlogd(ctx, rd, via_haproxy=False):
    r = Redis(rd)
    procs = []
    try:
        args = [ctx.peerlogd, "-t", f"{HOST}:0", "--redis",
                f"redis://{HOST}:{r.port}", "--redis-key", "bench"]
        if via_haproxy:
            args += ["--proxy", f"{HOST}/32"]
        err = open(os.path.join(rd, "peerlogd.err"), "w+")
        pd = subprocess.Popen(args, stderr=err)
        procs.append(pd)

        def port():
            err.seek(0)
            for line in err.read().splitlines():
                if "listening tcp" in line:
                    return int(line.rsplit(":", 1)[1])
            return None
        wait_until(lambda: port() is not None, 10, "peerlogd start")
        target = port()
        if via_haproxy:
            hp = free_port()
            conf = os.path.join(rd, "haproxy.cfg")
            with open(conf, "w") as f:
                f.write(f"""global
    maxconn 4096
defaults
    mode tcp
    timeout connect 5s
    timeout client 600s
    timeout server 600s
frontend fe
    bind {HOST}:{hp}
    default_backend be
backend be
    server p1 {HOST}:{target} send-proxy-v2
""")
            h = subprocess.Popen(["haproxy", "-db", "-f", conf],
                                 stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
            procs.append(h)
            wait_until(lambda: _listening(hp), 10, "haproxy start")
            target = hp
        # start + C connects + N*C msgs + C disconnects
        want = 1 + ctx.conns * (ctx.msgs + 2)
        c0, rc0, hc0 = cpu_s(pd.pid), cpu_s(r.p.pid), (
            cpu_s(procs[1].pid) if via_haproxy else 0)
        t0 = time.monotonic()
        lg = loadgen(ctx, target)
        procs.append(lg)
        wait_until(lambda: r.cmd("XLEN", "bench") >= want, 1800,
                   "every record in the stream", 0.02)
        secs = time.monotonic() - t0
        cpu = cpu_s(pd.pid) - c0
        rcpu = cpu_s(r.p.pid) - rc0
        hcpu = (cpu_s(procs[1].pid) - hc0) if via_haproxy else 0
        lg.wait(600)
        total = ctx.conns * ctx.msgs
        chk = check(ctx, r, "bench", "stream")
        stop(pd)
        return dict(rate=total / secs, secs=secs, cpu_m=cpu / (total / 1e6),
                    redis_cpu_m=rcpu / (total / 1e6),
                    haproxy_cpu_m=hcpu / (total / 1e6), exit=pd.returncode,
                    ok=(chk["messages"] == total and chk["bad"] == 0 and
                        chk["complete"] == ctx.conns and pd.returncode == 0),
                    **chk)
    finally:
        for p in reversed(procs):
            stop(p)
        r.close()


def _listening(port):
    try:
        socket.create_connection((HOST, port)).close()
        return True
    except OSError:
        return False


def run_rsyslog(ctx, rd):
    r = Redis(rd)
    p = None
    try:
        port = free_port()
        conf = os.path.join(rd, "rsyslog.conf")
        with open(conf, "w") as f:
            f.write(f"""global(workDirectory="{rd}" maxMessageSize="64k")
module(load="imptcp")
module(load="omhiredis")
main_queue(queue.size="1000000" queue.dequeueBatchSize="1024")
template(name="raw" type="string" string="%rawmsg%")
input(type="imptcp" address="{HOST}" port="{port}" ruleset="bench")
ruleset(name="bench" queue.type="LinkedList" queue.size="1000000"
        queue.dequeueBatchSize="1024") {{
  action(type="omhiredis" server="{HOST}" serverport="{r.port}"
         mode="queue" key="bench" template="raw" userpush="on")
}}
""")
        p = subprocess.Popen(["rsyslogd", "-n", "-f", conf, "-i",
                              os.path.join(rd, "rsyslog.pid")],
                             stdout=subprocess.DEVNULL,
                             stderr=open(os.path.join(rd, "rsyslog.err"),
                                         "w"))
        wait_until(lambda: _listening(port), 15, "rsyslogd start")
        total = ctx.conns * ctx.msgs
        c0, rc0 = cpu_s(p.pid), cpu_s(r.p.pid)
        t0 = time.monotonic()
        lg = loadgen(ctx, port)
        last, last_t = -1, time.monotonic()

        def done():
            nonlocal last, last_t
            n = r.cmd("LLEN", "bench")
            if n != last:
                last, last_t = n, time.monotonic()
            return n >= total or time.monotonic() - last_t > 30
        wait_until(done, 3600, "every message in the list", 0.05)
        secs = last_t - t0
        cpu = cpu_s(p.pid) - c0
        rcpu = cpu_s(r.p.pid) - rc0
        lg.wait(600)
        chk = check(ctx, r, "bench", "list")
        return dict(rate=last / secs, secs=secs, cpu_m=cpu / (total / 1e6),
                    redis_cpu_m=rcpu / (total / 1e6),
                    ok=chk["messages"] == total and chk["bad"] == 0, **chk)
    finally:
        if p is not None:
            stop(p)
        r.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", required=True)
    ap.add_argument("--conns", type=int, default=16)
    ap.add_argument("--msgs", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--pipeline", type=int, default=256,
                    help="redis-benchmark -P (default 256)")
    ap.add_argument("--parts", default=",".join(PARTS))
    ctx = ap.parse_args()
    ctx.peerlogd = os.path.join(ctx.build, "src", "peerlogd")
    ctx.loadgen = os.path.join(ctx.build, "bench", "loadgen")
    parts = ctx.parts.split(",")
    for t in ["redis-server", "redis-benchmark"] + (
            ["haproxy"] if "haproxy" in parts else []) + (
            ["rsyslogd"] if "rsyslog" in parts else []):
        if shutil.which(t) is None:
            sys.exit(f"redis.py: {t} is missing (apt-get install "
                     "redis-server redis-tools haproxy rsyslog-hiredis)")
    runs = {p: [] for p in parts}
    funcs = {"redis-benchmark": run_redis_benchmark,
             "peerlogd": run_peerlogd,
             "haproxy": lambda c, rd: run_peerlogd(c, rd, True),
             "rsyslog": run_rsyslog}
    with tempfile.TemporaryDirectory(prefix="peerlog-redis-") as tmp:
        for i in range(ctx.runs):
            order = parts if i % 2 == 0 else list(reversed(parts))
            for p in order:
                rd = tempfile.mkdtemp(dir=tmp)
                log(f"run {i + 1}: {p}")
                res = funcs[p](ctx, rd)
                log(f"  {res}")
                runs[p].append(res)
    med = {p: statistics.median(x["rate"] for x in runs[p]) for p in parts}
    print(f"# {ctx.conns} connections x {ctx.msgs} messages of {SIZE} "
          f"bytes, {ctx.runs} run(s), median; {platform.node()}, "
          f"{os.cpu_count()} CPUs, {time.strftime('%Y-%m-%d')}")
    print("| part | msgs/s | CPU-s/M (receiver) | CPU-s/M (redis) | "
          "checked |")
    print("|---|---:|---:|---:|---|")
    for p in parts:
        rs = runs[p]
        cm = statistics.median(x.get("cpu_m", 0) for x in rs)
        rm = statistics.median(x["redis_cpu_m"] for x in rs)
        okay = "exactly once" if all(x["ok"] for x in rs) else "FAILED"
        if p == "redis-benchmark":
            okay = "all added" if all(x["ok"] for x in rs) else "FAILED"
        print(f"| {p} | {med[p]:,.0f} | {cm:.2f} | {rm:.2f} | {okay} |")
    if "peerlogd" in med and "redis-benchmark" in med:
        print(f"\npeerlogd / redis-benchmark: "
              f"{med['peerlogd'] / med['redis-benchmark']:.2f}x")
    if "peerlogd" in med and "rsyslog" in med:
        print(f"peerlogd / rsyslog omhiredis: "
              f"{med['peerlogd'] / med['rsyslog']:.2f}x")
    if "peerlogd" in runs and "haproxy" in runs:
        d = statistics.median(x["cpu_m"] for x in runs["peerlogd"])
        h = statistics.median(x["cpu_m"] for x in runs["haproxy"])
        print(f"peerlogd CPU per message through HAProxy / direct: "
              f"{h / d:.2f}")
    bad = [p for p in parts if not all(x["ok"] for x in runs[p])]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
