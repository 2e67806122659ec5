"""The systemd units (systemd/): systemd-analyze accepts them and rates the
service's hardening, they say what the README says, and the service's
system call filter lets peerlogd do everything it does in a session.

No systemd runs here as PID 1: `systemd-analyze verify` and `security
--offline=true` read the unit files alone (Debian 12's systemd 252 has
both). The units go to a temporary directory, the service's ExecStart
pointed at the binary under test, with the man page where `verify` looks
for Documentation=man:peerlogd(8)."""

import fcntl
import http.client
import os
import re
import shutil
import signal
import socket
import subprocess

import pytest

from conftest import (PEERLOGD, WAIT, requires_peerlogd, sanitized, slow,
                      tcp_connect, tls_connect, udp_send)

pytestmark = requires_peerlogd

ROOT = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", ".."))
SYSTEMD = os.path.join(ROOT, "systemd")
EXAMPLE_CONF = os.path.join(ROOT, "etc", "peerlogd.conf")
SOCKETS = ("peerlogd.socket", "peerlogd-metrics.socket", "peerlogd-tls.socket")

# What `systemd-analyze security` rated the service when it was written
# (Debian 12, systemd 252); README.md, "Running as a service", quotes it.
EXPOSURE = 1.2


def parse_unit(path):
    """{section: [(key, value)]} of a unit file, repeated keys kept in order."""
    out = {}
    section = None
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line[0] in "#;":
                continue
            if line.startswith("["):
                section = line.strip("[]")
                out.setdefault(section, [])
                continue
            key, _, value = line.partition("=")
            out[section].append((key, value))
    return out


def values(unit, section, key):
    """Every value of key in section, in order."""
    return [v for k, v in unit.get(section, []) if k == key]


def service_text(sbindir, sysconfdir):
    """peerlogd.service as meson makes it from peerlogd.service.in."""
    with open(os.path.join(SYSTEMD, "peerlogd.service.in")) as f:
        text = f.read()
    return text.replace("@sbindir@", sbindir).replace("@sysconfdir@", sysconfdir)


@pytest.fixture
def units(tmp_path):
    """A directory with the four units, ExecStart the binary under test, and
    a MANPATH holding peerlogd(8). Returns (unit dir, environment)."""
    d = tmp_path / "units"
    d.mkdir()
    (d / "peerlogd.service").write_text(
        service_text(os.path.dirname(os.path.abspath(PEERLOGD)), "/etc"))
    for name in SOCKETS:
        shutil.copy(os.path.join(SYSTEMD, name), d / name)
    man8 = tmp_path / "man" / "man8"
    man8.mkdir(parents=True)
    shutil.copy(os.path.join(ROOT, "man", "peerlogd.8"), man8)
    env = dict(os.environ, MANPATH=str(tmp_path / "man"), SYSTEMD_PAGER="",
               SYSTEMD_COLORS="0", LC_ALL="C.UTF-8")
    return d, env


def analyze(env, *args):
    """Run systemd-analyze; (exit status, stdout, stderr)."""
    p = subprocess.run(["systemd-analyze", *args], env=env, capture_output=True,
                       text=True, timeout=60, stdin=subprocess.DEVNULL)
    return p.returncode, p.stdout, p.stderr


def test_verify_accepts_every_unit(units):
    d, env = units
    files = [str(d / n) for n in ("peerlogd.service",) + SOCKETS]
    rc, out, err = analyze(env, "verify", *files)
    assert (rc, out, err) == (0, "", "")


def test_verify_rejects_a_service_whose_binary_is_missing(units):
    """The check above can fail: verify looks at ExecStart's binary."""
    d, env = units
    (d / "peerlogd.service").write_text(
        service_text(str(d / "nowhere"), "/etc"))
    rc, out, err = analyze(env, "verify", str(d / "peerlogd.service"))
    assert rc != 0
    assert "nowhere/peerlogd" in err


def test_security_exposure_is_at_most_the_documented_figure(units):
    d, env = units
    rc, out, err = analyze(env, "security", "--offline=true", "--no-pager",
                           str(d / "peerlogd.service"))
    assert rc == 0, err
    m = re.search(r"Overall exposure level for peerlogd\.service: (\d+\.\d+) (\w+)",
                  out)
    assert m, out
    assert float(m.group(1)) <= EXPOSURE, out
    assert m.group(2) == "OK"
    # The same bound as systemd-analyze itself applies it (tenths).
    rc, _, err = analyze(env, "security", "--offline=true",
                         f"--threshold={round(EXPOSURE * 10)}",
                         str(d / "peerlogd.service"))
    assert rc == 0, err


@pytest.fixture
def service(tmp_path):
    """The service as meson configures it for /usr and /etc, parsed."""
    path = tmp_path / "peerlogd.service"
    path.write_text(service_text("/usr/sbin", "/etc"))
    return parse_unit(path)


def test_service_is_notify_with_watchdog_reload_and_restart(service):
    unit = service
    svc = dict(unit["Service"])
    assert svc["Type"] == "notify"
    assert svc["ExecStart"] == \
        "/usr/sbin/peerlogd -c /etc/peerlog/peerlogd.conf"
    assert svc["ExecReload"] == "/bin/kill -HUP $MAINPID"
    assert int(svc["WatchdogSec"]) > 0
    assert svc["Restart"] == "on-failure"
    assert svc["RestartPreventExitStatus"] == "2"
    assert svc["LogsDirectory"] == "peerlog"
    assert (svc["User"], svc["DynamicUser"]) == ("peerlog", "yes")
    assert values(unit, "Service", "CapabilityBoundingSet") == [""]


@pytest.mark.parametrize("name,listen,fdname", [
    ("peerlogd.socket", [("ListenStream", "127.0.0.1:1234"),
                         ("ListenDatagram", "127.0.0.1:1235")], "plain"),
    ("peerlogd-metrics.socket", [("ListenStream", "127.0.0.1:1237")], "metrics"),
    ("peerlogd-tls.socket", [("ListenStream", "127.0.0.1:1236")], "tls"),
])
def test_socket_listens_on_loopback_with_its_name(name, listen, fdname):
    unit = parse_unit(os.path.join(SYSTEMD, name))
    got = [(k, v) for k, v in unit["Socket"] if k.startswith("Listen")]
    assert got == listen
    assert values(unit, "Socket", "FileDescriptorName") == [fdname]
    assert values(unit, "Socket", "Service") == ["peerlogd.service"]
    assert values(unit, "Install", "WantedBy") == ["sockets.target"]


def expand_syscalls(group, cache={}):
    """The system calls of a systemd syscall group (@name), nested groups
    expanded, as `systemd-analyze syscall-filter` lists them."""
    if group in cache:
        return cache[group]
    out = subprocess.run(["systemd-analyze", "syscall-filter", group],
                         capture_output=True, text=True, timeout=60,
                         check=True).stdout
    calls = set()
    for line in out.splitlines()[1:]:
        word = line.strip()
        if not word or word.startswith("#"):
            continue
        calls |= expand_syscalls(word) if word.startswith("@") else {word}
    cache[group] = calls
    return calls


def allowed_syscalls(unit):
    """What the service's SystemCallFilter= lines allow: the first is an
    allow list; later ones add to it, or with ~ take away from it."""
    allowed = set()
    for i, v in enumerate(values(unit, "Service", "SystemCallFilter")):
        deny = v.startswith("~")
        assert i > 0 or not deny, "the filter is meant to be an allow list"
        names = set()
        for word in v.lstrip("~").split():
            names |= expand_syscalls(word) if word.startswith("@") else {word}
        allowed = allowed - names if deny else allowed | names
    return allowed


STRACE_RE = re.compile(r"^(\d+)\s+(?:<\.\.\. )?([a-z0-9_]+)(?:\(| resumed>)")

EXECVE_RE = re.compile(r'^\d+\s+execve\("([^"]+)",.* = 0$')

# What the service manager hands the service, as the socket units name them.
FDNAMES = ("plain", "plain", "tls", "metrics")


def passed_sockets():
    """Sockets as the units make them: TCP and UDP (peerlogd.socket), TLS,
    metrics; each on a free loopback port."""
    socks = []
    for typ in (socket.SOCK_STREAM, socket.SOCK_DGRAM, socket.SOCK_STREAM,
                socket.SOCK_STREAM):
        s = socket.socket(socket.AF_INET, typ)
        s.bind(("127.0.0.1", 0))
        if typ == socket.SOCK_STREAM:
            s.listen(64)
        socks.append(s)
    return socks


def syscalls_after_exec(trace):
    """The system calls of the traced peerlogd: those of its pid and its
    threads from its execve on (the launcher's shell comes before)."""
    used = set()
    started = False
    with open(trace) as f:
        for line in f:
            if not started:
                m = EXECVE_RE.match(line)
                started = bool(m) and m.group(1) == os.path.abspath(PEERLOGD)
                if started:
                    used.add("execve")
                continue
            m = STRACE_RE.match(line)
            if m:
                used.add(m.group(2))
    assert started, "no execve of peerlogd in the trace"
    return used


def test_syscall_filter_allows_a_whole_session(start_server, pki, service, tmp_path):
    """peerlogd under strace -f as the service runs it (-c the example
    config, the test's -o after it): its sockets passed
    (TCP, UDP, TLS, metrics), NOTIFY_SOCKET and WATCHDOG_USEC set; TCP, UDP
    and TLS clients, a scrape, SIGUSR1, SIGHUP (reopen and TLS reload),
    SIGTERM. Every call it makes passes the service's filter (a denied one
    would fail with EPERM under systemd)."""
    if sanitized():
        pytest.skip("a sanitizer build's runtime makes system calls of its own, "
                    "and LeakSanitizer cannot run under ptrace")
    trace = tmp_path / "strace.out"
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify"))
    notify.settimeout(WAIT)
    socks = passed_sockets()
    high = [fcntl.fcntl(s.fileno(), fcntl.F_DUPFD, 50) for s in socks]
    moves = " ".join(f"{3 + i}<&{h} {h}<&-" for i, h in enumerate(high))
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("LISTEN_", "NOTIFY_", "WATCHDOG_"))}
    env.update(LISTEN_FDS=str(len(socks)), LISTEN_FDNAMES=":".join(FDNAMES),
               NOTIFY_SOCKET=str(tmp_path / "notify"), WATCHDOG_USEC="200000")
    wrapper = ["strace", "-f", "-qq", "-o", str(trace),
               "bash", "-c", f'LISTEN_PID=$$ exec "$0" "$@" {moves}']
    try:
        srv = start_server("-c", EXAMPLE_CONF,
                           "--cert", pki.server_cert, "--key", pki.server_key,
                           wrapper=wrapper, env=env, pass_fds=high, listen=3)
    finally:
        for h in high:
            os.close(h)
    assert notify.recv(4096).startswith(b"READY=1")
    start = srv.wait_for(lambda rs: any(r[2] == "start" for r in rs), "start")
    pid = int(re.search(r"pid=(\d+)",
                        [r for r in start if r[2] == "start"][0][3]).group(1))
    with tcp_connect(socks[0].getsockname()) as c:
        c.sendall(b"over tcp\n")
    udp_send(socks[1].getsockname(), b"over udp")
    with tls_connect(socks[2].getsockname(), pki) as t:
        t.sendall(b"over tls\n")
    srv.wait_for(lambda rs: sum(r[2] == "disconnect" for r in rs) == 2 and
                 any(r[2] == "msg" and r[0] == "udp" for r in rs), "three clients")
    conn = http.client.HTTPConnection(*socks[3].getsockname(), timeout=WAIT)
    conn.request("GET", "/metrics")
    resp = conn.getresponse()
    assert resp.status == 200 and b"peerlogd_messages_total" in resp.read()
    conn.close()
    os.kill(pid, signal.SIGUSR1)
    srv.wait_for(lambda rs: any(r[2] == "stats" for r in rs), "stats")
    os.rename(srv.out_path, srv.out_path + ".1")
    os.kill(pid, signal.SIGHUP)
    with tcp_connect(socks[0].getsockname()) as c:
        c.sendall(b"after the reopen\n")
    srv.wait_for(lambda rs: any(r[2] == "disconnect" for r in rs),
                 "a client in the new file")
    for s in socks:
        s.close()
    os.kill(pid, signal.SIGTERM)
    assert srv.wait_exit(slow(WAIT * 4)) == 0
    notify.close()
    used = syscalls_after_exec(trace)
    assert {"accept4", "recvfrom", "write", "sendto"} <= used, sorted(used)
    assert sorted(used - allowed_syscalls(service)) == []
