"""PROXY protocol headers (HAProxy's proxy-protocol.txt), built here from
the specification, and helpers for the PROXY black-box tests."""

import ipaddress
import socket
import struct
import time

from conftest import WAIT

V2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"

# v2 command (low nibble of byte 13, version 2 in the high nibble).
LOCAL, PROXY = 0x0, 0x1
# v2 address family and transport (byte 14).
UNSPEC, TCP4, UDP4, TCP6, UNIX_STREAM = 0x00, 0x11, 0x12, 0x21, 0x31

# TLV types.
PP2_TYPE_ALPN, PP2_TYPE_AUTHORITY, PP2_TYPE_NOOP = 0x01, 0x02, 0x04


def v1(src, dst, sport, dport, *, eol=b"\r\n"):
    """'PROXY TCP4|TCP6 SRC DST SPORT DPORT' + eol, the family from src."""
    fam = "TCP6" if ":" in src else "TCP4"
    return f"PROXY {fam} {src} {dst} {sport} {dport}".encode() + eol


def v1_unknown(rest=b"", *, eol=b"\r\n"):
    """'PROXY UNKNOWN' (plus rest, which a receiver ignores) + eol."""
    return b"PROXY UNKNOWN" + rest + eol


def tlv(typ, value):
    return struct.pack("!BH", typ, len(value)) + value


def v2(src=None, dst=None, sport=0, dport=0, *, cmd=PROXY, fam=None, tlvs=b"",
       body=None, version=2, length=None):
    """A v2 header. With src: TCP over IPv4/IPv6 addresses (fam from src
    unless given). body replaces the address block; length replaces the
    length field (to lie about it)."""
    if body is None:
        if src is None:
            body = b""
            fam = UNSPEC if fam is None else fam
        else:
            a, b = ipaddress.ip_address(src), ipaddress.ip_address(dst)
            if fam is None:
                fam = TCP6 if a.version == 6 else TCP4
            body = a.packed + b.packed + struct.pack("!HH", sport, dport)
    body += tlvs
    n = len(body) if length is None else length
    return V2_SIG + bytes([(version << 4) | cmd, fam]) + struct.pack("!H", n) + body


def send_bytewise(sock, data):
    """Send data one byte per write, each its own TCP segment (TCP_NODELAY
    is set by tcp_connect; a short pause lets each one be read alone)."""
    for i in range(len(data)):
        sock.sendall(data[i:i + 1])
        time.sleep(0.002)


def expect_closed(sock, timeout=WAIT):
    """The server closes sock (EOF or reset) within timeout; bytes before
    that are returned."""
    sock.settimeout(timeout)
    got = b""
    deadline = time.monotonic() + timeout
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return got
            got += chunk
            assert time.monotonic() < deadline, "the server kept sending"
    except ConnectionResetError:
        return got
    except socket.timeout:
        raise AssertionError("the server did not close the connection")


def finish(sock):
    """Half-close and wait for the server to close (it read everything)."""
    sock.shutdown(socket.SHUT_WR)
    try:
        sock.recv(1)
    except OSError:
        pass
