#!/usr/bin/python3
"""Reproduce a finding of the soak test (docs/reliability.md): with a slow
output, the clients accepted last are never served.

    tests/soak/repro_resume_starvation.py PEERLOGD [CLIENTS] [SECONDS]

Starts peerlogd writing to a named pipe that is read one pipe's worth at a
time between rounds, connects CLIENTS (default 400) clients one after the
other, and has every one of them send lines as fast as the server takes
them for SECONDS (default 15). Prints how many messages the server logged
for each group of 50 clients, in the order they connected; exit status 0
when every client had at least one message logged, 1 otherwise.
"""

import collections
import os
import re
import socket
import subprocess
import sys
import tempfile
import time


def main():
    peerlogd = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 400
    secs = float(sys.argv[3]) if len(sys.argv) > 3 else 15
    d = tempfile.mkdtemp(prefix="peerlog-repro-")
    out = os.path.join(d, "out")
    os.mkfifo(out)
    rfd = os.open(out, os.O_RDONLY | os.O_NONBLOCK)
    srv = subprocess.Popen(
        [peerlogd, "-t", "127.0.0.1:0", "-u", "127.0.0.1:0", "-o", out],
        stderr=subprocess.PIPE, text=True)
    port = int(re.search(r"tcp 127\.0\.0\.1:(\d+)",
                         srv.stderr.readline()).group(1))
    srv.stderr.readline()
    socks = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port))
        s.setblocking(False)
        socks.append(s)
        time.sleep(0.01)  # accepted one by one, in this order
    peers = [b"127.0.0.1:%d" % s.getsockname()[1] for s in socks]
    count = collections.Counter()
    rest = b""
    chunk = (b"y" * 199 + b"\n") * 50
    t0 = time.monotonic()
    while time.monotonic() - t0 < secs:
        for s in socks:
            try:
                s.send(chunk)
            except BlockingIOError:
                pass
        try:
            data = os.read(rfd, 65536)
        except BlockingIOError:
            data = b""
        lines = (rest + data).split(b"\n")
        rest = lines.pop()
        for ln in lines:
            f = ln.split(b" ", 3)
            if len(f) == 4 and f[1] == b"tcp" and f[3].startswith(b"msg "):
                count[f[2]] += 1
        time.sleep(0.005)
    got = [count[p] for p in peers]
    print(f"{n} clients sending for {secs:g} s, output read slowly; "
          f"messages logged per 50 clients, in the order they connected:")
    print([sum(got[i:i + 50]) for i in range(0, n, 50)])
    starved = sum(1 for g in got if g == 0)
    print(f"clients with no message logged: {starved} of {n}")
    for s in socks:
        s.close()
    srv.terminate()
    srv.wait(timeout=60)
    os.close(rfd)
    os.unlink(out)
    os.rmdir(d)
    sys.exit(1 if starved else 0)


if __name__ == "__main__":
    main()
