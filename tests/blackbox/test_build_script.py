"""build.sh: `./build.sh run` leaves standard output to peerlogd alone.

build.sh is copied into a temporary directory next to a stub
build/src/peerlogd, and PATH starts with stub meson, ninja, dpkg-query,
apt-get and sudo that print chatter on standard output: nothing is built or
installed, and the real build directories are not touched.
"""

import os
import shutil
import stat
import subprocess

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD_SH = os.path.join(HERE, "..", "..", "build.sh")

# What the stub peerlogd prints: its own output, the only thing allowed on
# build.sh's standard output.
PEERLOGD_STUB = """#!/bin/sh
echo "peerlogd stub $*"
echo "peerlogd stub stderr" >&2
"""

# Each stub tool prints chatter on standard output and notes its call.
TOOL_STUB = """#!/bin/sh
echo "chatter from {name} $*"
echo "{name} $*" >> "$STUB_LOG"
"""

# dpkg-query reports every package installed unless STUB_MISSING is set.
DPKG_STUB = """#!/bin/sh
echo "dpkg-query $*" >> "$STUB_LOG"
[ -n "${STUB_MISSING:-}" ] && exit 1
printf 'install ok installed'
"""

# sudo runs its arguments (they are stubs too).
SUDO_STUB = """#!/bin/sh
echo "sudo $*" >> "$STUB_LOG"
exec "$@"
"""


def _write_exe(path, text):
    """Write an executable script."""
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR | stat.S_IXGRP)


@pytest.fixture
def tree(tmp_path):
    """A copy of build.sh with a stub peerlogd and stub tools on PATH."""
    src = tmp_path / "src"
    (src / "build" / "src").mkdir(parents=True)
    shutil.copy(BUILD_SH, src / "build.sh")
    _write_exe(src / "build" / "src" / "peerlogd", PEERLOGD_STUB)
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for name in ("meson", "ninja", "apt-get"):
        _write_exe(bindir / name, TOOL_STUB.format(name=name))
    _write_exe(bindir / "dpkg-query", DPKG_STUB)
    _write_exe(bindir / "sudo", SUDO_STUB)
    env = dict(os.environ)
    env["PATH"] = str(bindir) + os.pathsep + env.get("PATH", "/usr/bin:/bin")
    env["STUB_LOG"] = str(tmp_path / "calls.log")
    env.pop("STUB_MISSING", None)
    return src, env, tmp_path / "calls.log"


def _run(src, env, *args):
    """Run the copied build.sh with args; stdout and stderr captured."""
    return subprocess.run(["/bin/sh", str(src / "build.sh"), *args],
        env=env, stdin=subprocess.DEVNULL, capture_output=True, timeout=30)


@pytest.mark.parametrize("configured", [False, True],
    ids=["fresh", "configured"])
def test_run_stdout_is_peerlogd_only(tree, configured):
    """Setup and build chatter goes to stderr; stdout is peerlogd's own."""
    src, env, log = tree
    if configured:
        (src / "build" / "build.ninja").write_text("")
    p = _run(src, env, "run", "--version", "-f", "json")
    assert p.returncode == 0, p.stderr
    assert p.stdout == b"peerlogd stub --version -f json\n"
    assert b"chatter from ninja -C build" in p.stderr
    assert (b"chatter from meson setup build" in p.stderr) == (not configured)
    assert b"peerlogd stub stderr" in p.stderr
    calls = log.read_text()
    assert "apt-get" not in calls and "sudo" not in calls


def test_run_install_chatter_to_stderr(tree):
    """Installing missing packages keeps stdout to peerlogd too."""
    src, env, log = tree
    env["STUB_MISSING"] = "1"
    p = _run(src, env, "run", "--version")
    assert p.returncode == 0, p.stderr
    assert p.stdout == b"peerlogd stub --version\n"
    assert b"build.sh: installing gcc meson" in p.stderr
    assert b"chatter from apt-get update" in p.stderr
    assert b"chatter from apt-get install" in p.stderr
    assert "apt-get install -y -q" in log.read_text()
