"""meson install --destdir: the build directory of the binary under test
installs exactly the files a service needs, where its configured prefix,
sysconfdir and systemd say, and never overwrites a config already there.

The build directory is the one holding PEERLOGD; `--no-rebuild` installs
what is built, so the test never runs ninja."""

import json
import os
import re
import subprocess

import pytest

from conftest import PEERLOGD, requires_peerlogd

pytestmark = requires_peerlogd

ROOT = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", ".."))


def build_dir():
    """The meson build directory PEERLOGD was built in."""
    d = os.path.dirname(os.path.abspath(PEERLOGD))
    while d != "/":
        if os.path.isdir(os.path.join(d, "meson-info")):
            return d
        d = os.path.dirname(d)
    raise AssertionError(f"{PEERLOGD} is not in a meson build directory")


def build_options(build):
    """{name: value} of the build's options (meson introspect)."""
    out = subprocess.run(["meson", "introspect", "--buildoptions", build],
                         capture_output=True, text=True, check=True,
                         timeout=60).stdout
    return {o["name"]: o["value"] for o in json.loads(out)}


def under(prefix, d):
    """An install directory option: absolute as it is, else under prefix."""
    return d if os.path.isabs(d) else os.path.join(prefix, d)


def pkg_var(var, *define):
    """A variable of systemd.pc, or None without it."""
    p = subprocess.run(["pkg-config", *define, f"--variable={var}", "systemd"],
                       capture_output=True, text=True, timeout=30)
    return p.stdout.strip() if p.returncode == 0 and p.stdout.strip() else None


def expected_files(opts):
    """{installed path: source file or None} for the build's options."""
    prefix = opts["prefix"]
    sbindir = under(prefix, opts["sbindir"])
    bindir = under(prefix, opts["bindir"])
    mandir = under(prefix, opts["mandir"])
    sysconfdir = under(prefix, opts["sysconfdir"])
    unitdir = opts["systemdsystemunitdir"] or \
        pkg_var("systemdsystemunitdir") or "/lib/systemd/system"
    sysusersdir = opts["sysusersdir"] or \
        pkg_var("sysusersdir", f"--define-variable=prefix={prefix}") or \
        os.path.join(prefix, "lib", "sysusers.d")
    files = {
        os.path.join(sbindir, "peerlogd"): None,
        os.path.join(bindir, "peerlog"): None,
        os.path.join(mandir, "man8", "peerlogd.8"): "man/peerlogd.8",
        os.path.join(mandir, "man1", "peerlog.1"): "man/peerlog.1",
        os.path.join(sysconfdir, "peerlog", "peerlogd.conf"): "etc/peerlogd.conf",
        os.path.join(sysconfdir, "logrotate.d", "peerlogd"): "logrotate/peerlogd",
        os.path.join(sysusersdir, "peerlog.conf"): "systemd/peerlog.sysusers",
        os.path.join(unitdir, "peerlogd.service"): None,
    }
    for name in ("peerlogd.socket", "peerlogd-metrics.socket", "peerlogd-tls.socket"):
        files[os.path.join(unitdir, name)] = "systemd/" + name
    return files, sbindir, sysconfdir


def install(build, destdir):
    p = subprocess.run(["meson", "install", "-C", build, "--no-rebuild",
                        "--quiet", "--destdir", str(destdir)],
                       capture_output=True, text=True, timeout=300,
                       stdin=subprocess.DEVNULL)
    assert p.returncode == 0, p.stdout + p.stderr


def tree(destdir):
    """Every file under destdir, as the absolute path it stands for."""
    out = set()
    for d, _, names in os.walk(destdir):
        for n in names:
            out.add("/" + os.path.relpath(os.path.join(d, n), destdir))
    return out


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """One install into a fresh destdir: (destdir, expected files, sbindir,
    sysconfdir)."""
    build = build_dir()
    destdir = tmp_path_factory.mktemp("destdir")
    install(build, destdir)
    files, sbindir, sysconfdir = expected_files(build_options(build))
    return destdir, files, sbindir, sysconfdir


def test_install_puts_exactly_the_expected_files(installed):
    destdir, files, _, _ = installed
    assert sorted(tree(destdir)) == sorted(files)


def test_installed_data_files_are_the_sources(installed):
    destdir, files, _, _ = installed
    for path, src in files.items():
        if src is None:
            continue
        with open(os.path.join(ROOT, src), "rb") as a, \
                open(str(destdir) + path, "rb") as b:
            assert a.read() == b.read(), path


def test_installed_binaries_run(installed):
    destdir, files, _, _ = installed
    for path in files:
        if os.path.basename(path) in ("peerlogd", "peerlog") and files[path] is None:
            p = subprocess.run([str(destdir) + path, "--version"],
                               capture_output=True, text=True, timeout=10)
            assert (p.returncode, p.stdout) == \
                (0, f"{os.path.basename(path)} 0.1.0\n")


def test_installed_service_runs_the_installed_binary_on_the_installed_config(installed):
    destdir, files, sbindir, sysconfdir = installed
    unit = [p for p in files if p.endswith("/peerlogd.service")][0]
    with open(str(destdir) + unit) as f:
        lines = f.read().splitlines()
    assert f"ExecStart={sbindir}/peerlogd -c {sysconfdir}/peerlog/peerlogd.conf" \
        in lines
    assert not [l for l in lines if re.search(r"@[a-z_]+@", l)]


def test_install_keeps_a_config_already_there(tmp_path):
    build = build_dir()
    _, _, sysconfdir = expected_files(build_options(build))
    conf = tmp_path / sysconfdir.lstrip("/") / "peerlog" / "peerlogd.conf"
    conf.parent.mkdir(parents=True)
    conf.write_text("# the administrator's\ntcp 0.0.0.0:1234\n")
    install(build, tmp_path)
    assert conf.read_text() == "# the administrator's\ntcp 0.0.0.0:1234\n"
