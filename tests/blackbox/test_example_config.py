"""etc/peerlogd.conf, the example config installed as
/etc/peerlog/peerlogd.conf: peerlogd starts with it (-c), and it names every
option that --help lists, each once."""

import os
import re

from conftest import (requires_peerlogd, run_peerlogd, peer_of, stop_quiet,
                      tcp_connect)

pytestmark = requires_peerlogd

ROOT = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", ".."))
EXAMPLE = os.path.join(ROOT, "etc", "peerlogd.conf")

# Options that make no sense in a config file.
NOT_IN_CONFIG = {"help", "version", "config"}

# A config line, commented out or not: NAME, then a space, "=" or its end.
LINE_RE = re.compile(r"^#?([a-z][a-z0-9-]*)(?:[ =]|$)")


def help_long_options():
    """The long option names peerlogd --help lists, without --."""
    rc, out, _, _ = run_peerlogd(["--help"])
    assert rc == 0
    return re.findall(r"^(?:  -\w, |      )--([a-z][a-z0-9-]*)", out, re.M)


def example_lines():
    """(name, commented out) for each option line of the example."""
    out = []
    with open(EXAMPLE) as f:
        for line in f:
            m = LINE_RE.match(line.rstrip("\n"))
            if m:
                out.append((m.group(1), line.startswith("#")))
    return out


def test_example_names_every_option_once():
    names = [n for n, _ in example_lines()]
    assert sorted(names) == sorted(set(help_long_options()) - NOT_IN_CONFIG)


def test_example_sets_only_the_service_output():
    active = [l for l in open(EXAMPLE).read().splitlines()
              if l.strip() and not l.startswith("#")]
    assert active == ["output /var/log/peerlog/peerlog.log"]


def test_server_starts_with_the_example_config(start_server):
    """The command line's -t, -u and -o come after the file's lines (its
    output is a directory that does not exist here), and win."""
    srv = start_server("-c", EXAMPLE, "-t", "127.0.0.1:0", "-u", "127.0.0.1:0")
    with tcp_connect(srv.tcp_addr) as c:
        c.sendall(b"configured\n")
        peer = peer_of(c)
    srv.wait_event(peer, "disconnect")
    recs = stop_quiet(srv)
    assert ("tcp", peer, "msg", "configured") in recs
    assert [r[2] for r in recs if r[1] == "-"] == ["start", "stop"]
