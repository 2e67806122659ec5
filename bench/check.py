#!/usr/bin/python3
"""Prove what a receiver wrote: every loadgen message once, whole, in order.

loadgen sends "c=CONN s=SEQ " padded with 'x' to SIZE-1 bytes plus LF, so
each message is unique and its length is known. This reads a receiver's
output (peerlogd records, refrecv's "PEER LINE", rsyslog's and syslog-ng's
raw-message files, socat's and ncat's raw byte streams: whatever the prefix
before the payload) and counts, per line:

  ok         one id, header and padding intact, payload ends the line
  merged     two or more ids on one line (clients' bytes interleaved)
  cut        one id, but the header or padding is damaged
  fragments  no id, but a piece of a message (ends in padding, or a bare
             "s=N" word): the other half of a merge or cut
  other      the receiver's own records (connect, disconnect, stats...)

and, over the expected CONNS x MSGS ids:

  lost       never seen, neither whole nor damaged
  damaged    seen only inside merged or cut lines
  dup        occurrences beyond the first
  reordered  an id whose seq is below one already seen on its connection
  bad_id     ids outside the expected range

The rules live here in Python; checkfast (a C build of the same rules, from
bench/checkfast.c) does the work when found, because Python needs about
0.6 us a line and a full benchmark checks over 500 million lines.
--self-test runs both on crafted files and compares them.

usage: check.py [--helper PATH | --python] FILE CONNS MSGS SIZE
       check.py --self-test [--helper PATH]
Prints one JSON object; exit 0 when the output is clean, 1 when not.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

KEYS = ("lines", "other", "ok", "merged", "cut", "fragments", "bad_id",
        "dup", "reordered", "lost", "damaged")
# Counts that must be zero for a clean result.
PROBLEMS = ("merged", "cut", "fragments", "bad_id", "dup", "reordered",
            "lost", "damaged")

_ID = re.compile(rb"c=[0-9]")
_HEADER = re.compile(rb"c=([0-9]{1,19}) s=([0-9]{1,19}) ")
_FRAGMENT = re.compile(rb"(?:^|(?<= ))s=[0-9]+(?: x| ?\Z)")


class _State:
    """Per-id and per-connection bookkeeping for the Python checker."""

    def __init__(self, conns, msgs):
        self.conns, self.msgs = conns, msgs
        self.seen = bytearray(conns * msgs)   # bit 0 intact, bit 1 damaged
        self.count = bytearray(conns * msgs)  # occurrences, saturating
        self.maxseq = [-1] * conns
        self.n = dict.fromkeys(KEYS, 0)

    def note(self, c, s, intact):
        """Record one occurrence of id (c, s)."""
        if c >= self.conns or s >= self.msgs:
            self.n["bad_id"] += 1
            return
        i = c * self.msgs + s
        if self.count[i] > 0:
            self.n["dup"] += 1
        if self.count[i] < 255:
            self.count[i] += 1
        self.seen[i] |= 1 if intact else 2
        if s < self.maxseq[c]:
            self.n["reordered"] += 1
        else:
            self.maxseq[c] = s

    def line(self, line, size):
        """Classify one line (without its LF)."""
        n = self.n
        n["lines"] += 1
        ids = [m.start() for m in _ID.finditer(line)]
        if not ids:
            if line.endswith(b"x") or _FRAGMENT.search(line):
                n["fragments"] += 1
            else:
                n["other"] += 1
            return
        if len(ids) > 1:
            n["merged"] += 1
            for pos in ids:
                m = _HEADER.match(line, pos)
                if m:
                    self.note(int(m.group(1)), int(m.group(2)), False)
            return
        pos = ids[0]
        m = _HEADER.match(line, pos)
        if not m:
            n["cut"] += 1
            return
        rest = line[m.end():]
        whole = (len(line) - pos == size - 1
                 and rest == b"x" * len(rest))
        n["ok" if whole else "cut"] += 1
        self.note(int(m.group(1)), int(m.group(2)), whole)

    def finish(self):
        """Count lost and damaged-only ids; return the counts."""
        self.n["lost"] = self.seen.count(0)
        self.n["damaged"] = self.seen.count(2)
        return self.n


def check_python(path, conns, msgs, size):
    """The reference implementation: slow, plain, the rules in one place."""
    st = _State(conns, msgs)
    with open(path, "rb") as f:
        data = f.read()
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    for line in lines:
        st.line(line, size)
    return st.finish()


def find_helper(explicit=None):
    """checkfast from --helper, $CHECKFAST, or a build dir beside us."""
    cands = [explicit, os.environ.get("CHECKFAST")]
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(here)
    cands += [os.path.join(root, d, "bench", "checkfast")
              for d in ("build", "build-bench")]
    for c in cands:
        if c and os.access(c, os.X_OK):
            return c
    return None


def check(path, conns, msgs, size, helper=None, timeout=600):
    """Counts for one output file, with checkfast when given one."""
    if helper is None:
        return check_python(path, conns, msgs, size)
    out = subprocess.run(
        [helper, path, str(conns), str(msgs), str(size)],
        check=True, capture_output=True, timeout=timeout).stdout
    return json.loads(out)


def clean(counts):
    """True when nothing was lost, duplicated, merged, cut or reordered."""
    return all(counts[k] == 0 for k in PROBLEMS)


def _payload(c, s, size):
    """loadgen's message (c, s) without its LF."""
    head = b"c=%d s=%d " % (c, s)
    return head + b"x" * (size - 1 - len(head))


def _self_test(helper):
    """Crafted files with known faults; both checkers must agree exactly."""
    size = 30
    p = _payload
    cases = []
    # 1. peerlogd-style records, clean, two connections interleaved.
    lines = [b"2026-01-01T00:00:00.000000Z - - start version=0.1.0 pid=7"]
    for s in range(3):
        for c in range(2):
            lines.append(b"T tcp 127.0.0.1:%d msg " % (5000 + c) + p(c, s, size))
    lines += [b"T tcp 127.0.0.1:5000 disconnect reason=eof msgs=3 bytes=90",
              b"T - - stats clients=0 connects=2 rejects=0 tcp_msgs=6"
              b" tcp_bytes=180 udp_msgs=0 udp_bytes=0 udp_dropped=0"]
    cases.append(("clean records", lines, 2, 3,
                  dict(lines=9, other=3, ok=6)))
    # 2. Raw stream (ncat/socat) with every kind of fault.
    a, b = p(0, 1, size), p(1, 0, size)
    lines = [p(0, 0, size),
             a[:10] + b,           # merged: 0/1 cut short, then 1/0
             a[10:],               # fragment: the rest of 0/1
             p(0, 3, size),
             p(0, 2, size),        # reordered after 0/3
             p(0, 3, size),        # dup (not reordered: 3 is not below 3)
             p(1, 1, size)[:-4],   # cut: short padding
             b"c=9 s=0 " + b"x" * 21,  # whole, but bad_id (conn 9 of 2)
             b"hello from the receiver"]
    # Never seen: 1/2 and 1/3. Only damaged: 0/1 and 1/0 (merged), 1/1 (cut).
    cases.append(("raw faults", lines, 2, 4,
                  dict(lines=9, other=1, ok=5, merged=1, cut=1, fragments=1,
                       bad_id=1, dup=1, reordered=1, lost=2, damaged=3)))
    # 3. An unterminated last line still counts; an empty file loses all.
    cases.append(("no final LF", [p(0, 0, size), p(0, 1, size)], 1, 2,
                  dict(lines=2, ok=2)))
    cases.append(("empty", [], 1, 3, dict(lost=3)))
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        for name, lines, conns, msgs, want in cases:
            path = os.path.join(tmp, "out")
            data = b"\n".join(lines)
            if name != "no final LF" and lines:
                data += b"\n"
            with open(path, "wb") as f:
                f.write(data)
            expect = dict.fromkeys(KEYS, 0)
            expect.update(want)
            got = {"python": check_python(path, conns, msgs, size)}
            if helper:
                got["checkfast"] = check(path, conns, msgs, size, helper)
            for impl, counts in got.items():
                if counts != expect:
                    failed += 1
                    print(f"FAIL {name} ({impl}): got {counts},"
                          f" want {expect}")
                else:
                    print(f"ok   {name} ({impl})")
    if not helper:
        print("note: checkfast not found; only the Python rules were tested")
    print(f"{failed} failed")
    return 1 if failed else 0


def main(argv=None):
    """Command line: check one file, or run the self-test."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--helper", help="path of the checkfast binary")
    ap.add_argument("--python", action="store_true",
                    help="use the Python rules even when checkfast exists")
    ap.add_argument("--self-test", action="store_true")
    ap.add_argument("file", nargs="?")
    ap.add_argument("conns", nargs="?", type=int)
    ap.add_argument("msgs", nargs="?", type=int)
    ap.add_argument("size", nargs="?", type=int)
    a = ap.parse_args(argv)
    helper = None if a.python else find_helper(a.helper)
    if a.self_test:
        return _self_test(helper)
    if a.size is None:
        ap.error("FILE CONNS MSGS SIZE are required")
    counts = check(a.file, a.conns, a.msgs, a.size, helper)
    print(json.dumps(counts))
    return 0 if clean(counts) else 1


if __name__ == "__main__":
    sys.exit(main())
