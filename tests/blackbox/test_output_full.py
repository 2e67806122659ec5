"""The output file only ever holds whole records: a write that stops
part-way (here EFBIG past RLIMIT_FSIZE) is cut back and retried whole
(behaviours O5; issue 9 defect 10)."""

import os
import re
import resource
import signal

from conftest import (STOP_WAIT, VERSION, WAIT, parse_text_line, peer_of,
                      requires_peerlogd, slow, tcp_connect, wait_stderr)

pytestmark = requires_peerlogd

# sh execs the server with SIGXFSZ ignored (an ignored disposition survives
# exec): a write past RLIMIT_FSIZE then fails with EFBIG instead of killing.
IGNORE_XFSZ = ["sh", "-c", 'trap "" XFSZ; exec "$@"', "sh"]

WHOLE = 8   # msg records that fit under the limit
SENT = 12   # msg records made


def line_text(i):
    """The i-th line a client sends (all of the same length)."""
    return f"fill {i:03d} " + "x" * 40


def file_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def whole_records(path):
    """The records of the file at path, which must hold only whole ones."""
    data = file_bytes(path)
    assert data.endswith(b"\n"), f"{path} ends mid-record: ...{data[-80:]!r}"
    return [parse_text_line(l.decode())[1] for l in data.split(b"\n")[:-1]]


def fill_to_the_limit(start_server):
    """A server whose output file reaches RLIMIT_FSIZE in the middle of a
    record, with SENT msg records made of which WHOLE fit. Returns (server,
    client socket, peer, file size when the limit was set, bytes of one msg
    record)."""
    srv = start_server("-t", "127.0.0.1:0", wrapper=IGNORE_XFSZ)
    c = tcp_connect(srv.tcp_addr, timeout=slow(WAIT))
    peer = peer_of(c)
    srv.wait_record(("tcp", peer, "connect"))
    size0 = len(file_bytes(srv.out_path))
    rec_len = len(f"{'x' * 27} tcp {peer} msg {line_text(0)}\n")
    # The limit falls in the middle of record WHOLE + 1.
    limit = size0 + WHOLE * rec_len + rec_len // 2
    resource.prlimit(srv.pid, resource.RLIMIT_FSIZE, (limit, limit))
    c.sendall("".join(line_text(i) + "\n" for i in range(SENT)).encode())
    wait_stderr(srv, re.escape(f"peerlogd: output {srv.out_path}: File too large; "
                               "holding ") + r"\d+ bytes of records, retrying every 1s",
                "file-too-large line", timeout=slow(WAIT))
    return srv, c, peer, size0, rec_len


def test_output_file_at_its_size_limit_ends_with_a_whole_record_at_sigterm(
        start_server):
    srv, c, peer, size0, rec_len = fill_to_the_limit(start_server)
    with c:
        rc, _, err = srv.stop(timeout=slow(STOP_WAIT))
    recs = whole_records(srv.out_path)
    assert recs == [("-", "-", "start", f"version={VERSION} pid={srv.pid}"),
                    ("tcp", peer, "connect")] + [
        ("tcp", peer, "msg", line_text(i)) for i in range(WHOLE)], recs
    assert len(file_bytes(srv.out_path)) == size0 + WHOLE * rec_len
    assert rc == 1, err


def test_output_start_after_a_full_file_begins_a_line(start_server):
    srv, c, peer, _, _ = fill_to_the_limit(start_server)
    with c:
        srv.stop(timeout=slow(STOP_WAIT))
    path = srv.out_path
    nxt = start_server("-t", "127.0.0.1:0", out_path=path)
    start = f" - - start version={VERSION} pid={nxt.pid}\n".encode()
    nxt.wait_for(lambda _: start in file_bytes(path), "the next start record")
    data = file_bytes(path)
    last = data.split(b"\n")[-2]
    assert last.endswith(start[:-1]) and re.fullmatch(
        rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z" + re.escape(start[:-1]), last), \
        f"the start record does not begin a line: {last!r}"
    assert whole_records(path)[-1] == (
        "-", "-", "start", f"version={VERSION} pid={nxt.pid}")
    rc, _, err = nxt.stop()
    assert rc == 0, err


def test_output_rotation_at_the_size_limit_splits_no_record(start_server):
    srv, c, peer, _, _ = fill_to_the_limit(start_server)
    path = srv.out_path
    with c:
        os.rename(path, path + ".1")
        srv.out_path = path + ".1"
        srv.send_signal(signal.SIGHUP)
        srv.out_path = path
        # The held records go to the new file (far below the limit).
        srv.wait_record(("tcp", peer, "msg", line_text(SENT - 1)), timeout=slow(WAIT))
    srv.wait_event(peer, "disconnect", timeout=slow(WAIT))
    rc, _, err = srv.stop(timeout=slow(STOP_WAIT))
    assert rc == 0, err
    old = whole_records(path + ".1")
    new = whole_records(path)
    assert old == [("-", "-", "start", f"version={VERSION} pid={srv.pid}"),
                   ("tcp", peer, "connect")] + [
        ("tcp", peer, "msg", line_text(i)) for i in range(WHOLE)], old
    nbytes = SENT * (len(line_text(0)) + 1)
    assert new == [("tcp", peer, "msg", line_text(i)) for i in range(WHOLE, SENT)] + [
        ("tcp", peer, "disconnect", f"reason=eof msgs={SENT} bytes={nbytes}"),
        ("-", "-", "stop", "signal=SIGTERM")], new
