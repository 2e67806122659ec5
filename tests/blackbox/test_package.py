"""The Debian package (debian/): `dpkg-buildpackage -us -uc -b` builds
peerlog_VERSION_ARCH.deb from a copy of the source tree, lintian finds no
error in it, and `dpkg -i` installs the programs, man pages, units, config,
logrotate snippet and user where the README says; `dpkg --purge` removes
them again.

One build for the module (it takes a while: meson, ninja, the unit tests,
lintian). It runs as root, as CI does (dpkg -i), or through `sudo -n`. It
is its own meson test (suite "package"), run once per `./build.sh test`,
not once per build directory: it builds its own binaries."""

import os
import shutil
import subprocess

import pytest

ROOT = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", ".."))
PACKAGE = "peerlog"

# What the package must hold, beyond its documentation.
FILES = [
    "/usr/sbin/peerlogd",
    "/usr/bin/peerlog",
    "/usr/share/man/man8/peerlogd.8.gz",
    "/usr/share/man/man1/peerlog.1.gz",
    "/etc/peerlog/peerlogd.conf",
    "/etc/logrotate.d/peerlogd",
    "/lib/systemd/system/peerlogd.service",
    "/lib/systemd/system/peerlogd.socket",
    "/lib/systemd/system/peerlogd-metrics.socket",
    "/lib/systemd/system/peerlogd-tls.socket",
    "/usr/lib/sysusers.d/peerlog.conf",
]
UNITS = [f for f in FILES if f.startswith("/lib/systemd/system/")]


def run(*argv, timeout=120, **kw):
    """Run argv; the CompletedProcess (text), never raising on failure."""
    return subprocess.run(list(argv), capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL, **kw)


def as_root(*argv, timeout=300):
    """argv as root: directly when we are, else through sudo -n."""
    prefix = [] if os.geteuid() == 0 else ["sudo", "-n"]
    return run(*prefix, *argv, timeout=timeout)


def source_files():
    """The tree's files: git's tracked and untracked-but-not-ignored ones in
    a checkout, else everything but build directories and caches."""
    p = run("git", "-C", ROOT, "ls-files", "-z", "--cached", "--others",
            "--exclude-standard")
    if p.returncode == 0 and p.stdout:
        return [f for f in p.stdout.split("\0")
                if f and os.path.isfile(os.path.join(ROOT, f))]
    out = []
    for d, dirs, names in os.walk(ROOT):
        rel = os.path.relpath(d, ROOT)
        dirs[:] = [x for x in dirs if not (
            (rel == "." and (x.startswith("build") or x == ".git")) or
            x in ("__pycache__", ".pytest_cache") or
            (rel == "subprojects" and not x.endswith(".wrap")))]
        out += [os.path.normpath(os.path.join(rel, n)) for n in names
                if not n.endswith(".pyc")]
    return out


def changelog_version():
    p = run("dpkg-parsechangelog", "-l", os.path.join(ROOT, "debian", "changelog"),
            "-S", "Version")
    assert p.returncode == 0, p.stderr
    return p.stdout.strip()


def installed_version():
    """The installed version of the package, or None."""
    p = run("dpkg-query", "-W", "-f=${Status} ${Version}", PACKAGE)
    if p.returncode != 0 or not p.stdout.startswith("install ok installed"):
        return None
    return p.stdout.split()[-1]


@pytest.fixture(scope="module")
def deb(tmp_path_factory):
    """Build the package from a copy of the tree; the .deb's path."""
    top = tmp_path_factory.mktemp("package")
    src = top / f"{PACKAGE}-src"
    for f in source_files():
        dst = src / f
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(os.path.join(ROOT, f), dst)
    log = top / "build.log"
    env = dict(os.environ, DEB_BUILD_OPTIONS="parallel=2", LC_ALL="C.UTF-8")
    with open(log, "w") as f:
        p = subprocess.run(["dpkg-buildpackage", "-us", "-uc", "-b"], cwd=src,
                           stdout=f, stderr=subprocess.STDOUT, env=env,
                           stdin=subprocess.DEVNULL, timeout=1200)
    with open(log) as f:
        tail = f.read()[-6000:]
    assert p.returncode == 0, tail
    arch = run("dpkg", "--print-architecture").stdout.strip()
    path = top / f"{PACKAGE}_{changelog_version()}_{arch}.deb"
    assert path.exists(), sorted(os.listdir(top))
    return path


@pytest.fixture(scope="module")
def installed(deb):
    """The package installed (dpkg -i), purged again at the end."""
    p = as_root("dpkg", "-i", str(deb))
    assert p.returncode == 0, p.stdout + p.stderr
    yield deb
    as_root("dpkg", "--purge", PACKAGE)


def test_package_is_named_for_its_version_and_architecture(deb):
    fields = run("dpkg-deb", "-f", str(deb), "Package", "Version",
                 "Architecture").stdout
    assert fields.splitlines() == [
        f"Package: {PACKAGE}", f"Version: {changelog_version()}",
        f"Architecture: {run('dpkg', '--print-architecture').stdout.strip()}"]


def test_package_holds_every_file(deb):
    listing = run("dpkg-deb", "-c", str(deb)).stdout
    paths = {line.split()[-1].lstrip(".") for line in listing.splitlines()}
    assert sorted(set(FILES) - paths) == []


def test_lintian_finds_no_error(deb):
    p = run("lintian", "--fail-on", "error", "--no-tag-display-limit", str(deb),
            timeout=600)
    assert p.returncode == 0, p.stdout + p.stderr
    assert not [l for l in p.stdout.splitlines() if l.startswith("E: ")]


def test_installed_peerlogd_reports_its_version(installed):
    p = run("/usr/sbin/peerlogd", "--version")
    assert (p.returncode, p.stdout) == (0, "peerlogd 0.1.0\n")
    p = run("/usr/bin/peerlog", "--version")
    assert (p.returncode, p.stdout) == (0, "peerlog 0.1.0\n")


def test_installed_files_are_in_place(installed):
    assert installed_version() == changelog_version()
    missing = [f for f in FILES if not os.path.isfile(f)]
    assert missing == []
    owned = run("dpkg", "-L", PACKAGE).stdout.splitlines()
    assert sorted(set(FILES) - set(owned)) == []


def test_installed_config_files_are_conffiles(installed):
    p = run("dpkg-query", "-W", "-f=${Conffiles}", PACKAGE)
    conffiles = [l.split()[0] for l in p.stdout.splitlines() if l.strip()]
    assert sorted(conffiles) == ["/etc/logrotate.d/peerlogd",
                                 "/etc/peerlog/peerlogd.conf"]


def test_installed_man_pages_are_found_by_man(installed):
    for page, path in (("8 peerlogd", "/usr/share/man/man8/peerlogd.8.gz"),
                       ("1 peerlog", "/usr/share/man/man1/peerlog.1.gz")):
        p = run("man", "-w", *page.split())
        assert (p.returncode, p.stdout.strip()) == (0, path)


def test_installed_units_pass_systemd_analyze_verify(installed):
    p = run("systemd-analyze", "verify", *UNITS,
            env=dict(os.environ, SYSTEMD_PAGER=""))
    assert (p.returncode, p.stdout, p.stderr) == (0, "", "")


def test_install_creates_the_system_user_and_enables_the_sockets(installed):
    p = run("getent", "passwd", "peerlog")
    assert p.returncode == 0
    fields = p.stdout.strip().split(":")
    assert int(fields[2]) < 1000, "not a system user"
    assert fields[6] in ("/usr/sbin/nologin", "/sbin/nologin")
    wants = "/etc/systemd/system/sockets.target.wants"
    for unit in ("peerlogd.socket", "peerlogd-metrics.socket"):
        assert os.readlink(os.path.join(wants, unit)) == \
            "/lib/systemd/system/" + unit
    assert not os.path.lexists(os.path.join(wants, "peerlogd-tls.socket"))


def test_purge_removes_every_file(deb):
    # Last in the module (pytest keeps file order): install once more, purge.
    p = as_root("dpkg", "-i", str(deb))
    assert p.returncode == 0, p.stdout + p.stderr
    p = as_root("dpkg", "--purge", PACKAGE)
    assert p.returncode == 0, p.stdout + p.stderr
    assert installed_version() is None
    assert [f for f in FILES if os.path.lexists(f)] == []
    assert not os.path.exists("/etc/peerlog")
    wants = "/etc/systemd/system/sockets.target.wants"
    assert not [u for u in ("peerlogd.socket", "peerlogd-metrics.socket")
                if os.path.lexists(os.path.join(wants, u))]
