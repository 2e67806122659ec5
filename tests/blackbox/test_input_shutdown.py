"""Shutdown under a connection flood (issue 9, R9): the accept loop that
takes in the connections the kernel completed before SIGTERM is capped, so
clients that keep connecting cannot keep the server from exiting."""

import signal
import subprocess
import sys
import time

from conftest import STOP_WAIT, WAIT, requires_peerlogd, sanitized

pytestmark = requires_peerlogd

# The flooder: non-blocking connects from 127.0.0.2-127.0.0.250 (so source
# ports last), each sending BYTES bytes without a line end and closing, as
# fast as it can until killed or its time is up. With --max-line 1 every byte
# is a record the server writes at shutdown, so each connection costs the
# server far more than it costs the flooder, and the listen queue never
# empties while the flood lasts.
FLOODER = r"""
import errno, socket, sys, time
port, nbytes, seconds = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
data = b"x" * nbytes
end = time.monotonic() + seconds
n = 0
while time.monotonic() < end:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.setblocking(False)
        s.bind(("127.0.0.%d" % (2 + n % 249), 0))
        n += 1
        if s.connect_ex(("127.0.0.1", port)) in (0, errno.EINPROGRESS):
            try:
                s.send(data)
            except OSError:
                pass
    except OSError:
        pass
    finally:
        s.close()
"""


def test_connection_flood_during_shutdown_does_not_keep_the_server_running(
        start_server):
    nbytes = 1000
    srv = start_server("-t", "127.0.0.1:0", "--max-line", "1", "-o", "/dev/null",
                       output="given")
    port = srv.tcp_addr[1]
    # Long enough to outlast any bounded shutdown by far.
    flood_seconds = 4 * STOP_WAIT
    floods = [subprocess.Popen(
        [sys.executable, "-c", FLOODER, str(port), str(nbytes), str(flood_seconds)],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, start_new_session=True) for _ in range(2)]
    try:
        # Let the flood fill the listen queue, then stop the server.
        time.sleep(1.0)
        for f in floods:
            assert f.poll() is None, f.stderr.read().decode()
        srv.send_signal(signal.SIGTERM)
        t0 = time.monotonic()
        limit = 3 * STOP_WAIT if sanitized() else STOP_WAIT
        while srv.proc.poll() is None:
            assert time.monotonic() - t0 < limit, \
                f"peerlogd still running {limit:.0f} s after SIGTERM under a flood"
            time.sleep(0.05)
        # The flood was still on when it exited.
        assert all(f.poll() is None for f in floods)
        assert srv.wait_exit() == 0
    finally:
        for f in floods:
            f.kill()
            f.wait(WAIT)
            f.stderr.close()
