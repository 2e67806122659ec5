"""peerlogd -c/--config FILE: the options of a file, then the command line's.

The file is really used (its listeners, format and output are what the
server does); the command line wins for single-valued options and adds up
for repeatable ones; an error in the file names FILE:LINE and exits 2 with
nothing left running; a file that cannot be read names its path and why."""

import os
import pwd
import socket
import subprocess

import pytest

from conftest import (PEERLOGD, STOP_WAIT, group_alive, peer_of, requires_peerlogd,
                      run_peerlogd, split_addr, tcp_connect, tcp_session, udp_send)

pytestmark = requires_peerlogd


def write_conf(tmp_path, text, name="peerlogd.conf"):
    """Write text (str or bytes) as a config file; return its path."""
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return str(path)


def test_config_file_sets_listeners_format_and_output(start_server, tmp_path):
    out = str(tmp_path / "from-conf.log")
    conf = write_conf(tmp_path, f"""# peerlogd test configuration
tcp 127.0.0.1:0
udp = 127.0.0.1:0

format = json
output {out}
""")
    srv = start_server("-c", conf, output="given", out_path=out, listen=2)
    srv.fmt = "json"
    assert len(srv.tcp) == 1 and len(srv.udp) == 1
    with tcp_connect(srv.tcp_addr) as c:
        peer = peer_of(c)
        c.sendall(b"hello from tcp\n")
        srv.wait_for(lambda rs: any(r.get("msg") == "hello from tcp" for r in rs),
                     "the tcp message")
    upeer = udp_send(srv.udp_addr, b"hello from udp")
    recs = srv.wait_for(lambda rs: any(r.get("msg") == "hello from udp" for r in rs),
                        "the udp message")
    assert {"proto": "tcp", "peer": peer, "event": "msg",
            "msg": "hello from tcp"}.items() <= next(
                r for r in recs if r.get("msg") == "hello from tcp").items()
    assert next(r for r in recs if r.get("msg") == "hello from udp")["peer"] == upeer
    rc, _, err = srv.stop()
    assert rc == 0
    assert srv.json_records()[-1]["event"] == "stop"


def test_command_line_wins_for_single_valued_options(start_server, tmp_path):
    file_out = str(tmp_path / "file.log")
    argv_out = str(tmp_path / "argv.log")
    conf = write_conf(tmp_path, f"format json\noutput {file_out}\ntcp 127.0.0.1:0\n")
    srv = start_server("-c", conf, "-f", "text", "-o", argv_out, output="given",
                       out_path=argv_out, listen=1)
    peer, recs = tcp_session(srv, b"which output\n")
    assert ("tcp", peer, "msg", "which output") in recs
    srv.stop()
    assert not os.path.exists(file_out)


def test_file_options_stay_when_the_command_line_sets_others(start_server, tmp_path):
    out = str(tmp_path / "out.log")
    conf = write_conf(tmp_path, "format json\ntcp 127.0.0.1:0\n")
    srv = start_server("-c", conf, "-o", out, output="given", out_path=out, listen=1)
    srv.fmt = "json"
    srv.wait_for(lambda rs: rs and rs[0]["event"] == "start", "a JSON start record")


def test_repeatable_listeners_add_up(start_server, tmp_path):
    conf = write_conf(tmp_path, "tcp 127.0.0.1:0\ntcp 127.0.0.1:0\n")
    srv = start_server("-c", conf, "-t", "127.0.0.1:0", listen=3)
    assert len(srv.tcp) == 3 and srv.udp == []
    for addr in srv.tcp:
        peer, recs = tcp_session(srv, b"hi\n", split_addr(addr))
        assert ("tcp", peer, "msg", "hi") in recs


def test_repeatable_allow_adds_up(start_server, tmp_path):
    conf = write_conf(tmp_path, "allow 10.0.0.0/8\ntcp 127.0.0.1:0\n")
    srv = start_server("-c", conf, "--allow", "127.0.0.1", listen=1)
    peer, recs = tcp_session(srv, b"allowed\n")
    assert ("tcp", peer, "msg", "allowed") in recs


def test_file_allow_alone_rejects_loopback(start_server, tmp_path):
    conf = write_conf(tmp_path, "allow 10.0.0.0/8\ntcp 127.0.0.1:0\n")
    srv = start_server("-c", conf, listen=1)
    with tcp_connect(srv.tcp_addr) as c:
        peer = peer_of(c)
    rec = srv.wait_event(peer, "reject")
    assert rec == ("tcp", peer, "reject", "reason=acl")


def test_bom_crlf_quotes_and_comments_are_read(start_server, tmp_path):
    out = str(tmp_path / "with space.log")
    conf = write_conf(tmp_path, (
        "\ufeff# written on Windows\r\n"
        "\r\n"
        "   tcp\t127.0.0.1:0   \r\n"
        f"output = \"{out}\"\r\n"
        "reuseport\r\n").encode())
    srv = start_server("-c", conf, output="given", out_path=out, listen=1)
    peer, recs = tcp_session(srv, b"crlf\n")
    assert ("tcp", peer, "msg", "crlf") in recs


def test_long_option_spelling_of_config(start_server, tmp_path):
    conf = write_conf(tmp_path, "tcp 127.0.0.1:0\n")
    srv = start_server(f"--config={conf}", listen=1)
    assert len(srv.tcp) == 1 and srv.udp == []


def check_refused(args, want_err, tmp_path):
    """Run peerlogd expecting exit 2 with exactly one error line, nothing
    left running and no output written."""
    out = tmp_path / "never.log"
    rc, stdout, err, pid = run_peerlogd(list(args) + ["-o", str(out)])
    assert rc == 2, err
    assert err == want_err + "\n"
    assert stdout == ""
    assert not group_alive(pid)
    assert not out.exists()


@pytest.mark.parametrize("text,line,reason", [
    ("tcp 127.0.0.1:0\n\nformat xml\n", 3,
     "--format: unknown format 'xml' (text or json)"),
    ("# c\nbogus 1\n", 2, "unknown option 'bogus'"),
    ("--tcp 1234\n", 1, "unknown option '--tcp' (write the long name without --)"),
    ("tcp 127.0.0.1:0\nconfig other.conf\n", 2,
     "option 'config' cannot be used in a config file"),
    ("help\n", 1, "option 'help' cannot be used in a config file"),
    ("version\n", 1, "option 'version' cannot be used in a config file"),
    ("reuseport yes\n", 1, "option 'reuseport' takes no value"),
    ("output\n", 1, "option 'output' needs a value"),
    ("output \"/tmp/x\n", 1, "unterminated quote"),
    ("tcp 127.0.0.1:99999\n", 1, "--tcp '127.0.0.1:99999': bad port"),
    ("tcp 127.0.0.1:0\ncert /c.pem\n", 2, "--cert needs a --tls listener"),
], ids=["bad-value", "unknown", "dashes", "config", "help", "version",
        "flag-value", "no-value", "quote", "bad-port", "cross-check"])
def test_file_error_names_file_and_line_and_exits_2(tmp_path, text, line, reason):
    conf = write_conf(tmp_path, text)
    check_refused(["-c", conf], f"peerlogd: {conf}:{line}: {reason}", tmp_path)


def test_nul_byte_in_file_is_an_error(tmp_path):
    conf = write_conf(tmp_path, b"tcp 127.0.0.1:0\noutput /tmp/a\0b\n")
    check_refused(["-c", conf], f"peerlogd: {conf}:2: a NUL byte in the line",
                  tmp_path)


def test_file_error_comes_before_a_command_line_override(tmp_path):
    conf = write_conf(tmp_path, "format xml\n")
    check_refused(["-c", conf, "-f", "json"],
                  f"peerlogd: {conf}:1: --format: unknown format 'xml' (text or json)",
                  tmp_path)


def test_command_line_error_has_no_file_line(tmp_path):
    conf = write_conf(tmp_path, "tcp 127.0.0.1:0\n")
    check_refused(["-c", conf, "--max-line", "0"],
                  "peerlogd: --max-line: out of range: '0' (1..16777216)", tmp_path)


def test_missing_config_file_names_path_and_reason(tmp_path):
    conf = str(tmp_path / "nowhere.conf")
    check_refused(["-c", conf],
                  f"peerlogd: --config {conf}: No such file or directory", tmp_path)


def test_config_directory_names_path_and_reason(tmp_path):
    check_refused(["-c", str(tmp_path)],
                  f"peerlogd: --config {tmp_path}: Is a directory", tmp_path)


def test_unreadable_config_file_names_path_and_reason(tmp_path):
    conf = write_conf(tmp_path, "tcp 127.0.0.1:0\n")
    os.chmod(conf, 0)
    out = tmp_path / "never.log"
    kwargs = {}
    if os.geteuid() == 0:
        # Root reads any file: run as nobody, who may not.
        kwargs = {"user": "nobody", "group": pwd.getpwnam("nobody").pw_gid,
                  "extra_groups": []}
    proc = subprocess.run([PEERLOGD, "-c", conf, "-o", str(out)],
                          stdin=subprocess.DEVNULL, capture_output=True,
                          timeout=STOP_WAIT, **kwargs)
    assert proc.returncode == 2
    assert proc.stderr.decode() == f"peerlogd: --config {conf}: Permission denied\n"
    assert not out.exists()


def test_two_config_files_are_an_error(tmp_path):
    a = write_conf(tmp_path, "tcp 127.0.0.1:0\n", "a.conf")
    b = write_conf(tmp_path, "tcp 127.0.0.1:0\n", "b.conf")
    check_refused(["-c", a, "-c", b],
                  "peerlogd: --config: given twice (one config file at most)", tmp_path)


def test_help_does_not_need_the_config_file(tmp_path):
    rc, out, err, _ = run_peerlogd(["-c", str(tmp_path / "nowhere.conf"), "--help"])
    assert (rc, err) == (0, "")
    assert out.startswith("usage: peerlogd")


def test_help_lists_config():
    rc, out, _, _ = run_peerlogd(["--help"])
    assert rc == 0
    assert "  -c, --config FILE " in out
