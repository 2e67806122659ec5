"""The man pages, man/peerlogd.8 and man/peerlog.1 (mdoc): lint-clean under
mandoc -Tlint, rendered by man(1), and not drifting from the programs: the
options that --help lists, that the page documents (its `.It Fl` entries)
and that README.md documents (its option tables) are the same set, for the
server and for the client."""

import os
import re
import subprocess

import pytest

from conftest import PEERLOGD, requires_peerlogd

pytestmark = requires_peerlogd

ROOT = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", ".."))
README = os.path.join(ROOT, "README.md")
PAGES = {"peerlogd": os.path.join(ROOT, "man", "peerlogd.8"),
         "peerlog": os.path.join(ROOT, "man", "peerlog.1")}

# The one kind of mandoc message accepted: each page refers to the other
# (SEE ALSO), which is not installed where the source tree is linted.
XREF_OK = re.compile(
    r"mandoc: \S+: STYLE: referenced manual not found: "
    r"Xr (peerlog 1|peerlogd 8)( \(\d+ times\))?")
# On standard error: the state of the machine's own man page index.
MANDB_NOTE = re.compile(r"mandoc: outdated mandoc\.db lacks .*")


def binary(prog):
    """The program under test: peerlogd is PEERLOGD, peerlog PEERLOG (or
    beside it)."""
    if prog == "peerlogd":
        return PEERLOGD
    return os.environ.get("PEERLOG") or \
        os.path.join(os.path.dirname(PEERLOGD), "peerlog")


def help_options(prog):
    """Options --help lists: '-t', '--tcp', ... Entries start at column 2
    (a short option) or 6 (a long one alone); wrapped text is further in."""
    p = subprocess.run([binary(prog), "--help"], capture_output=True, text=True,
                       timeout=10)
    assert p.returncode == 0
    opts = set()
    for line in p.stdout.splitlines():
        m = re.match(r"^(?:  (-[A-Za-z0-9])(?:, (--[a-z][a-z0-9-]*))?"
                     r"|      (--[a-z][a-z0-9-]*))(?=\s|$)", line)
        if m:
            opts |= {o for o in m.groups() if o}
    return opts


def man_options(prog):
    """Options the page documents: every Fl of its .It lines."""
    opts = set()
    with open(PAGES[prog]) as f:
        for line in f:
            if line.startswith(".It Fl "):
                for flag in re.findall(r"\bFl ((?:\\-|-)?[A-Za-z0-9][A-Za-z0-9-]*)",
                                       line):
                    opts.add("-" + flag.replace("\\-", "-"))
    return opts


def readme_options(prog):
    """Options in README.md's option tables (`| option |` header): those
    under "## peerlog" are the client's, all others the server's."""
    opts = set()
    section = None
    in_table = False
    with open(README) as f:
        for line in f:
            if line.startswith("## "):
                section = line[3:].strip()
            if re.match(r"^\| option \|", line):
                in_table = True
                continue
            if not line.startswith("|"):
                in_table = False
                continue
            if not in_table or line.startswith("|---"):
                continue
            if (section == "peerlog") != (prog == "peerlog"):
                continue
            first = re.split(r"(?<!\\)\|", line)[1]
            for code in re.findall(r"`([^`]*)`", first):
                opts |= set(re.findall(r"(?<![\w-])(--?[A-Za-z0-9][A-Za-z0-9-]*)",
                                       code))
    return opts


@pytest.mark.parametrize("prog", sorted(PAGES))
def test_mandoc_lint_is_clean(prog):
    p = subprocess.run(["mandoc", "-Tlint", "-Wall", PAGES[prog]],
                       capture_output=True, text=True, timeout=30)
    # 0: nothing; 1: style messages only.
    assert p.returncode in (0, 1), p.stdout + p.stderr
    odd = [l for l in p.stdout.splitlines() if not XREF_OK.fullmatch(l)]
    assert odd == []
    odd = [l for l in p.stderr.splitlines() if not MANDB_NOTE.fullmatch(l)]
    assert odd == []


@pytest.mark.parametrize("prog", sorted(PAGES))
def test_man_renders_every_section_and_option(prog):
    env = dict(os.environ, MANWIDTH="80", LC_ALL="C.UTF-8", MANPAGER="cat",
               PAGER="cat")
    p = subprocess.run(["man", "-l", PAGES[prog]], capture_output=True,
                       text=True, timeout=30, env=env)
    assert p.returncode == 0
    assert p.stderr == ""
    text = p.stdout
    assert text.startswith(f"{prog.upper()}(")
    for section in ("NAME", "SYNOPSIS", "DESCRIPTION", "EXIT STATUS",
                    "EXAMPLES", "SEE ALSO"):
        assert f"\n{section}\n" in text
    for opt in sorted(help_options(prog)):
        assert re.search(rf"(?<![\w-]){re.escape(opt)}(?![\w-])", text), opt


@pytest.mark.parametrize("prog", sorted(PAGES))
def test_help_man_and_readme_name_the_same_options(prog):
    helped = help_options(prog)
    assert len(helped) > 8
    drift = {}
    for where, opts in (("man page", man_options(prog)),
                        ("README", readme_options(prog))):
        if opts != helped:
            drift[where] = {"not in --help": sorted(opts - helped),
                            "missing": sorted(helped - opts)}
    assert drift == {}


def test_peerlogd_page_documents_every_record_event_and_reason():
    with open(PAGES["peerlogd"]) as f:
        page = f.read()
    for word in ("connect", "msg", "msg+", "disconnect", "reject", "start",
                 "stop", "stats", "eof", "reset", "timeout", "shutdown",
                 "error", "framing", "acl", "max-clients", "max-per-source",
                 "tls", "client-name", "handshake-timeout", "proxy"):
        assert re.search(rf"\bCm {re.escape(word)}(?: |$)", page, re.M), word
    for name in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES", "NOTIFY_SOCKET",
                 "WATCHDOG_USEC"):
        assert f"Ev {name}" in page
    for sig in ("SIGINT", "SIGTERM", "SIGHUP", "SIGUSR1", "SIGPIPE"):
        assert sig in page
