#!/usr/bin/python3
"""Reproduce a finding of the soak test (docs/reliability.md): --idle-timeout
while the output keeps pausing the server's input.

    tests/soak/repro_idle_timeout_paused.py PEERLOGD [fifo|file] [nobyte] [SEC]

Starts peerlogd with --idle-timeout SEC (default 2), writing to a named pipe
that is read in small slices (fifo, the default) or to a regular file
(file). One client sends one line (nothing with nobyte) and stays silent;
another floods lines for 10 seconds, so that with the pipe the server
pauses and resumes its input all the time. The silent client should be
closed with reason=timeout SEC seconds after its last byte in both cases.
Prints when it was closed and its disconnect record; exit status 0 when
that was after SEC seconds of silence and before 2 × SEC, 1 otherwise.
"""

import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time

FLOOD_SECONDS = 10


def main():
    peerlogd = sys.argv[1]
    words = sys.argv[2:]
    mode = "file" if "file" in words else "fifo"
    secs = [int(w) for w in words if w.isdigit()]
    timeout = secs[0] if secs else 2
    d = tempfile.mkdtemp(prefix="peerlog-repro-")
    out = os.path.join(d, "out")
    if mode == "file":
        open(out, "w").close()
    else:
        os.mkfifo(out)
    rfd = os.open(out, os.O_RDONLY | os.O_NONBLOCK)
    srv = subprocess.Popen(
        [peerlogd, "-t", "127.0.0.1:0", "-u", "127.0.0.1:0", "-o", out,
         "--idle-timeout", str(timeout)], stderr=subprocess.PIPE, text=True)
    port = int(re.search(r"tcp 127\.0\.0\.1:(\d+)",
                         srv.stderr.readline()).group(1))
    srv.stderr.readline()
    log = bytearray()
    done = threading.Event()

    def reader():
        # 16 KiB every 20 ms: slower than the flood, so the pipe fills up
        # and the server pauses its input again and again.
        while not done.is_set():
            try:
                log.extend(os.read(rfd, 16384))
            except BlockingIOError:
                pass
            time.sleep(0.02)

    threading.Thread(target=reader, daemon=True).start()
    silent = socket.create_connection(("127.0.0.1", port))
    if "nobyte" not in words:
        silent.sendall(b"hi\n")
    me = b"127.0.0.1:%d " % silent.getsockname()[1]
    t0 = time.monotonic()
    flood = socket.create_connection(("127.0.0.1", port))
    flood_end = []

    def flooder():
        try:
            while time.monotonic() - t0 < FLOOD_SECONDS:
                flood.sendall((b"x" * 99 + b"\n") * 100)
        except OSError:
            pass
        flood_end.append(time.monotonic())

    ft = threading.Thread(target=flooder)
    ft.start()
    silent.settimeout(FLOOD_SECONDS + 5)
    try:
        silent.recv(1)
        took = time.monotonic() - t0
        print(f"silent client closed after {took:.1f} s "
              f"(--idle-timeout {timeout})")
    except socket.timeout:
        took = None
        print(f"silent client NOT closed after {time.monotonic() - t0:.1f} "
              f"s of silence (--idle-timeout {timeout})")
    ft.join()
    flood.close()
    if took is None:
        silent.settimeout(30)
        try:
            silent.recv(1)
            print(f"closed {time.monotonic() - t0:.1f} s after its last "
                  f"byte, {time.monotonic() - flood_end[0]:.1f} s after the "
                  f"flood stopped")
        except socket.timeout:
            print("still not closed 30 s after the flood stopped")
    silent.close()
    srv.terminate()
    srv.wait(timeout=30)
    done.set()
    time.sleep(0.1)
    while True:
        try:
            b = os.read(rfd, 1 << 20)
        except BlockingIOError:
            break
        if not b:
            break
        log.extend(b)
    os.close(rfd)
    os.unlink(out)
    os.rmdir(d)
    mine = [ln for ln in bytes(log).split(b"\n")
            if me in ln and b" disconnect " in ln]
    print(mine[-1].decode() if mine else "no disconnect record")
    ok = took is not None and timeout - 0.05 <= took < 2 * timeout
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
