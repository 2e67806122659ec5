"""Publishing to a Redis stream (--redis URL, --redis-key, --redis-maxlen),
against a real redis-server of the test's own (redishelp.RedisServer, the
start_redis fixture), read back with a tiny RESP client, binary-safe.

What the SPEC fixes, asserted exactly:
- one stream entry per record, its fields the JSON record's names in the
  JSON record's order (a file written with -o FILE -f json beside it is the
  reference: same records, same order), numbers in decimal;
- msg the message's bytes exactly as received (no escaping, no U+FFFD, no
  lossy field);
- with --redis and no -o nothing goes to standard output; with both, the
  file has the stream's records;
- a record counts only once Redis confirmed it: SIGSTOP, SIGKILL (with an
  AOF) and SHUTDOWN NOSAVE of Redis mid-load, the connection cut by a relay
  that drops the replies (transactions applied, never confirmed), and Redis
  down at start, end with every line in the stream exactly once, in order
  per client; the outage is said once and its end once; a transaction Redis
  refuses for memory (EXECABORT) while it applies a later one loses nothing
  and adds nothing twice;
- at shutdown up to 10 s for the confirmations, then `output URL: N records
  not written` and exit status 1.
"""

import collections
import re
import signal
import socket
import ssl
import threading
import time

import pytest

import conftest
from conftest import (STOP_WAIT, TS_RE, VERSION, WAIT, group_alive, peer_of,
                      proc_status_kib, requires_peerlogd, run_peerlogd, sanitized,
                      slow, tcp_connect, tls_args, tls_connect, udp_send, wait_stderr)
from proxyhelp import v1
from redishelp import (SEQ_KEY_RE, Relay, entries, free_port, json_as_fields, wait_entry,
                       wait_xlen)

pytestmark = requires_peerlogd

LISTEN = ("-t", "127.0.0.1:0", "-u", "127.0.0.1:0")

STATS_FIELDS = ["ts", "proto", "peer", "event", "clients", "connects", "rejects",
                "tcp_msgs", "tcp_bytes", "udp_msgs", "udp_bytes", "udp_dropped",
                "udp_dropped_acl", "udp_dropped_kernel", "records_lost", "output_bytes",
                "output_errors", "tls_msgs", "tls_bytes"]


# ---- helpers ----

def other_stderr(srv):
    """stderr lines other than the listening ones (a sanitizer build
    reports leaks and errors there too)."""
    return [l for l in srv.stderr().split("\n")
            if l and not l.startswith("peerlogd: listening ")]


def outage_re(url):
    return re.compile(rf"peerlogd: redis {re.escape(url)}: .+; reconnecting every second")


def connected_line(url):
    return f"peerlogd: redis {url}: connected"


def assert_outages(lines, url, n):
    """lines (other_stderr) are exactly n outages, each said once and its
    end said after it."""
    assert len(lines) == 2 * n, lines
    for i in range(n):
        assert outage_re(url).fullmatch(lines[2 * i]), lines
        assert lines[2 * i + 1] == connected_line(url), lines


def stop_ok(srv, timeout=None):
    """SIGTERM: exit 0, nothing on stderr but the listening lines."""
    rc, _, _ = srv.stop(timeout=timeout or slow(STOP_WAIT))
    assert rc == 0 and other_stderr(srv) == [], (rc, srv.stderr())


def no_ts(fields):
    """An entry's fields without its ts (checked as RFC 3339 first)."""
    assert fields[0][0] == "ts" and TS_RE.fullmatch(fields[0][1].decode()), fields
    return fields[1:]


def of_peer(es, peer):
    """The entries of one peer, ts dropped."""
    peer = peer.encode()
    return [no_ts(e) for e in es if dict(e).get("peer") == peer]


def head(proto, peer, event):
    return [("proto", proto.encode()), ("peer", peer.encode()), ("event", event.encode())]


def has(peer, event):
    """A predicate for wait_entry: an entry of peer's event."""
    return lambda e: e.get("peer") == peer.encode() and e.get("event") == event.encode()


def finish(sock):
    """FIN, then wait for the server's close (bounded by the timeout)."""
    sock.shutdown(socket.SHUT_WR)
    try:
        sock.recv(1)
    except OSError:
        pass


def connect_from(src, addr):
    """A TCP client bound to another loopback source address."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((src, 0))
    s.settimeout(WAIT)
    s.connect(addr)
    return s


def close_tls(s):
    """A TLS close_notify, as far as the server lets it go."""
    try:
        s.unwrap()
    except (OSError, ssl.SSLError, ValueError):
        pass


def msgs_by_peer(es):
    """{peer: [msg bytes in stream order]} of the msg entries."""
    out = collections.defaultdict(list)
    for e in es:
        d = dict(e)
        if d["event"] == b"msg":
            out[d["peer"].decode()].append(d["msg"])
    return out


# ---- every record kind, every field ----

def test_every_record_kind_is_an_entry_with_the_json_records_fields(start_server,
                                                                     start_redis):
    r = start_redis()
    srv = start_server(*LISTEN, "--max-line", "16", "--allow", "127.0.0.1/32",
                       "--redis", r.url, fmt="json")
    with tcp_connect(srv.tcp_addr) as c:
        peer = peer_of(c)
        c.sendall(b"hello\n" + b"A" * 40 + b"\n" + b"tail")
        finish(c)
    wait_entry(r, has(peer, "disconnect"), srv=srv)
    upeer = udp_send(srv.udp_addr, b"udp one\n")
    wait_entry(r, has(upeer, "msg"), srv=srv)
    with connect_from("127.0.0.2", srv.tcp_addr) as x:
        rpeer = peer_of(x)
        wait_entry(r, has(rpeer, "reject"), srv=srv)
    srv.send_signal(signal.SIGUSR1)
    wait_entry(r, lambda e: e["event"] == b"stats", srv=srv)
    stop_ok(srv)

    es = entries(r)
    recs = srv.json_records()
    # The file beside it is the reference: the same records, in the same
    # order, the same fields in the same order, the same values.
    assert es == [json_as_fields(j) for j in recs]
    assert [e[0][0] for e in es] == ["ts"] * len(es)

    assert no_ts(es[0]) == head("-", "-", "start") + [
        ("version", VERSION.encode()), ("pid", str(srv.pid).encode())]
    assert of_peer(es, peer) == [
        head("tcp", peer, "connect"),
        head("tcp", peer, "msg") + [("msg", b"hello")],
        head("tcp", peer, "msg+") + [("msg", b"A" * 16)],
        head("tcp", peer, "msg+") + [("msg", b"A" * 16)],
        head("tcp", peer, "msg") + [("msg", b"A" * 8)],
        head("tcp", peer, "msg") + [("msg", b"tail")],
        head("tcp", peer, "disconnect") + [
            ("reason", b"eof"), ("msgs", b"5"), ("bytes", b"51")],
    ]
    assert of_peer(es, upeer) == [head("udp", upeer, "msg") + [("msg", b"udp one")]]
    assert of_peer(es, rpeer) == [head("tcp", rpeer, "reject") + [("reason", b"acl")]]
    stats = [e for e in es if dict(e)["event"] == b"stats"]
    assert len(stats) == 1
    assert [k for k, _ in stats[0]] == STATS_FIELDS
    st = dict(stats[0])
    assert (st["proto"], st["peer"]) == (b"-", b"-")
    assert {k: st[k] for k in ("clients", "connects", "rejects", "tcp_msgs", "tcp_bytes",
                               "udp_msgs", "records_lost", "output_errors", "tls_msgs")} == {
        "clients": b"0", "connects": b"1", "rejects": b"1", "tcp_msgs": b"5",
        "tcp_bytes": b"51", "udp_msgs": b"1", "records_lost": b"0",
        "output_errors": b"0", "tls_msgs": b"0"}
    assert all(re.fullmatch(rb"\d+", v) for k, v in stats[0][4:]), stats[0]
    assert no_ts(es[-1]) == head("-", "-", "stop") + [("signal", b"SIGTERM")]
    assert len(es) == 1 + 7 + 1 + 1 + 1 + 1


RAW = b"a\xffb\x00c\rd\x1b[31m \xc3( \xe2\x82\xac \xc0\xaf end\\"
RAW_JSON = "a\ufffdb\u0000c\rd\u001b[31m \ufffd( \u20ac \ufffd\ufffd end\\"


def test_msg_is_the_raw_bytes_while_the_json_file_is_lossy(start_server, start_redis):
    r = start_redis()
    srv = start_server(*LISTEN, "--redis", r.url, fmt="json")
    with tcp_connect(srv.tcp_addr) as c:
        peer = peer_of(c)
        c.sendall(RAW + b"\r\n" + RAW + b"\n")
        finish(c)
    wait_entry(r, has(peer, "disconnect"), srv=srv)
    upeer = udp_send(srv.udp_addr, RAW + b"\n")
    wait_entry(r, has(upeer, "msg"), srv=srv)
    stop_ok(srv)

    es = entries(r)
    msg = head("tcp", peer, "msg") + [("msg", RAW)]
    assert of_peer(es, peer)[1:3] == [msg, msg]
    assert of_peer(es, upeer) == [head("udp", upeer, "msg") + [("msg", RAW)]]
    # The JSON file beside it: U+FFFD for every byte that is not UTF-8, and
    # the lossy flag, which the stream entry has no field for.
    js = [j for j in srv.json_records() if j["peer"] in (peer, upeer) and j["event"] == "msg"]
    assert [(j["msg"], j["lossy"], list(j)) for j in js] == \
        [(RAW_JSON, True, ["ts", "proto", "peer", "event", "msg", "lossy"])] * 3


def test_an_empty_message_is_an_empty_msg_field(start_server, start_redis):
    r = start_redis()
    srv = start_server(*LISTEN, "--redis", r.url, output="stdout")
    with tcp_connect(srv.tcp_addr) as c:
        peer = peer_of(c)
        c.sendall(b"\n\r\nx\n")
        finish(c)
    wait_entry(r, has(peer, "disconnect"), srv=srv)
    stop_ok(srv)
    assert [e for e in of_peer(entries(r), peer) if e[2][1] == b"msg"] == [
        head("tcp", peer, "msg") + [("msg", m)] for m in (b"", b"", b"x")]


# ---- outputs: Redis only, Redis and a file ----

def test_redis_alone_writes_nothing_to_stdout(start_server, start_redis):
    r = start_redis()
    srv = start_server(*LISTEN, "--redis", r.url, output="stdout")
    with tcp_connect(srv.tcp_addr) as c:
        peer = peer_of(c)
        c.sendall(b"only in redis\n")
        finish(c)
    wait_entry(r, has(peer, "disconnect"), srv=srv)
    stop_ok(srv)
    assert srv.output() == b""
    assert [dict(e)["event"] for e in entries(r)] == [b"start", b"connect", b"msg", b"disconnect",
                                             b"stop"]


# The text lines of the messages this test sends (the SPEC's escaping).
TEXT_MSGS = {b"plain words": "plain words", b"tab\there": "tab\\there",
             b"bad \xff byte": "bad \\xff byte", b"caf\xc3\xa9": "caf\u00e9",
             b"back\\slash \x1b": "back\\\\slash \\x1b"}


def text_line(fields):
    """The text record of a stream entry (its fields in order)."""
    d = dict(fields)
    words = [d["ts"].decode(), d["proto"].decode(), d["peer"].decode(), d["event"].decode()]
    if "msg" in d:
        words.append(TEXT_MSGS[d["msg"]])
    words += [f"{k}={v.decode()}" for k, v in fields[4:] if k != "msg"]
    return " ".join(words)


def test_text_file_beside_has_the_streams_records(start_server, start_redis):
    r = start_redis()
    srv = start_server(*LISTEN, "--redis", r.url)
    with tcp_connect(srv.tcp_addr) as c:
        peer = peer_of(c)
        c.sendall(b"\n".join(TEXT_MSGS) + b"\n")
        finish(c)
    upeer = udp_send(srv.udp_addr, b"plain words")
    wait_entry(r, has(upeer, "msg"), srv=srv)
    wait_entry(r, has(peer, "disconnect"), srv=srv)
    srv.send_signal(signal.SIGUSR1)
    wait_entry(r, lambda e: e["event"] == b"stats", srv=srv)
    stop_ok(srv)
    es = entries(r)
    assert len(es) == 1 + 1 + len(TEXT_MSGS) + 1 + 1 + 1 + 1
    assert [l.decode() for l in srv.lines()] == [text_line(e) for e in es]


def test_json_file_beside_has_the_streams_records(start_server, start_redis):
    r = start_redis()
    srv = start_server(*LISTEN, "--redis", r.url, fmt="json")
    for i in range(3):
        with tcp_connect(srv.tcp_addr) as c:
            c.sendall(b"".join(b"client %d line %d\n" % (i, n) for n in range(200)))
            finish(c)
    srv.wait_for(lambda rs: sum(j["event"] == "disconnect" for j in rs) == 3,
                 "3 disconnects")
    stop_ok(srv)
    recs = srv.json_records()
    assert len(recs) == 1 + 3 * 202 + 1
    assert entries(r) == [json_as_fields(j) for j in recs]


# ---- --redis-key, --redis-maxlen, the URL forms ----

def seq_last(r, key):
    """The highest record number in a sequence key (a hash of slots 0..15
    to numbers); its fields checked."""
    flat = r("HGETALL", key)
    slots = {flat[i].decode(): flat[i + 1].decode() for i in range(0, len(flat), 2)}
    assert slots and all(re.fullmatch(r"\d+", v) for v in slots.values()), slots
    assert set(slots) <= {str(i) for i in range(16)}, slots
    return max(int(v) for v in slots.values())


def test_redis_key_names_the_stream_and_its_sequence_key(start_server, start_redis):
    r = start_redis()
    srv = start_server(*LISTEN, "--redis", r.url, "--redis-key", "app:logs 1",
                       output="stdout")
    with tcp_connect(srv.tcp_addr) as c:
        c.sendall(b"keyed\n")
        finish(c)
    stop_ok(srv)
    es = entries(r, key="app:logs 1")
    assert [dict(e)["event"] for e in es] == [b"start", b"connect", b"msg", b"disconnect",
                                              b"stop"]
    assert r("EXISTS", "peerlog") == 0
    keys = sorted(k.decode() for k in r("KEYS", "*"))
    assert len(keys) == 2 and keys[0] == "app:logs 1", keys
    # The sequence key: KEY:peerlogd-seq:<16 hex>, a hash whose fields are
    # the slots of the transactions in flight, each the number of the last
    # record of its last transaction (numbered from 1), with an expiry.
    m = SEQ_KEY_RE.fullmatch(keys[1])
    assert m and m.group(1) == "app:logs 1", keys
    assert seq_last(r, keys[1]) == 5
    assert 0 < r("TTL", keys[1]) <= 604800


def test_two_processes_have_sequence_keys_of_their_own(start_server, start_redis):
    r = start_redis()
    srvs = [start_server("-t", "127.0.0.1:0", "--redis", r.url, output="stdout")
            for _ in range(2)]
    for i, srv in enumerate(srvs):
        with tcp_connect(srv.tcp_addr) as c:
            c.sendall(b"from %d\n" % i * (i + 1))
            finish(c)
    for srv in srvs:
        stop_ok(srv)
    seq = sorted(k for k in r("KEYS", "peerlog:*"))
    assert len(seq) == 2
    assert sorted(seq_last(r, k) for k in seq) == [5, 6]
    assert r("XLEN", "peerlog") == 11


def test_maxlen_trims_the_oldest_entries(start_server, start_redis):
    r = start_redis()
    srv = start_server("-t", "127.0.0.1:0", "--redis", r.url, "--redis-maxlen", "100",
                       output="stdout")
    n = 3000
    with tcp_connect(srv.tcp_addr) as c:
        peer = peer_of(c)
        c.sendall(b"".join(b"line %05d\n" % i for i in range(n)))
        finish(c)
    wait_entry(r, has(peer, "disconnect"), srv=srv, timeout=slow(WAIT))
    stop_ok(srv)
    total = 1 + 1 + n + 1 + 1
    es = entries(r)
    # MAXLEN ~ trims whole macro nodes: about 100, never fewer.
    assert 100 <= len(es) < total
    assert len(es) == r("XLEN", "peerlog")
    # What is left is the newest records, in order.
    kept = len(es) - 2
    assert [dict(e)["msg"] for e in es[:-2]] == \
        [b"line %05d" % i for i in range(n - kept, n)]
    assert [dict(e)["event"] for e in es[-2:]] == [b"disconnect", b"stop"]


def test_maxlen_0_never_trims(start_server, start_redis):
    r = start_redis()
    srv = start_server("-t", "127.0.0.1:0", "--redis", r.url, "--redis-maxlen", "0",
                       output="stdout")
    with tcp_connect(srv.tcp_addr) as c:
        c.sendall(b"x\n" * 1000)
        finish(c)
    stop_ok(srv)
    assert r("XLEN", "peerlog") == 1004


def test_unix_socket(start_server, start_redis, tmp_path):
    r = start_redis(port=0, unixsocket=str(tmp_path / "redis.sock"))
    assert r.url == "unix:" + str(tmp_path / "redis.sock")
    srv = start_server("-t", "127.0.0.1:0", "--redis", r.url, output="stdout")
    with tcp_connect(srv.tcp_addr) as c:
        peer = peer_of(c)
        c.sendall(b"over a unix socket\n")
        finish(c)
    stop_ok(srv)
    assert of_peer(entries(r), peer)[1] == head("tcp", peer, "msg") + [
        ("msg", b"over a unix socket")]


@conftest.needs_ipv6
def test_ipv6_address(start_server, start_redis):
    r = start_redis(bind="::1")
    assert r.url.startswith("redis://[::1]:")
    srv = start_server("-t", "127.0.0.1:0", "--redis", r.url, output="stdout")
    stop_ok(srv)
    assert [dict(e)["event"] for e in entries(r)] == [b"start", b"stop"]


def test_database_number_selects_the_database(start_server, start_redis):
    r = start_redis()
    srv = start_server("-t", "127.0.0.1:0", "--redis", r.url + "/3", output="stdout")
    with tcp_connect(srv.tcp_addr) as c:
        peer = peer_of(c)
        c.sendall(b"in db 3\n")
        finish(c)
    stop_ok(srv)
    assert r("DBSIZE") == 0
    assert r("DBSIZE", db=3) == 2  # the stream and the sequence key
    assert of_peer(entries(r, db=3), peer)[1] == head("tcp", peer, "msg") + [
        ("msg", b"in db 3")]


def test_bad_database_number_is_said_and_records_are_held(start_server, start_redis):
    r = start_redis()
    url = r.url + "/99999"
    srv = start_server("-t", "127.0.0.1:0", "--redis", url, output="stdout")
    m = wait_stderr(srv, rf"peerlogd: redis {re.escape(url)}: (.+); reconnecting every second",
                    "the outage")
    assert "DB index is out of range" in m.group(1)
    with tcp_connect(srv.tcp_addr) as c:
        c.sendall(b"held\n")
        # It tries again every second; the outage is said once.
        time.sleep(2.5)
        assert len(other_stderr(srv)) == 1, srv.stderr()
        assert srv.proc.poll() is None
        assert r("INFO", "keyspace").split(b"\r\n")[1:] in ([], [b""])
    srv.kill()


# ---- exactly once under trouble ----

CLIENTS = 8
FIRST, SECOND = 500, 4500  # lines per client before and while Redis is troubled


def line(ci, n):
    return b"c%02d %06d" % (ci, n)


def troubled_load(srv, r, trouble):
    """CLIENTS TCP clients send FIRST numbered lines each; once those are in
    the stream, SECOND more each, and trouble() runs while those flow. Then
    the clients close, everything is waited for and peerlogd stopped
    (exit 0). Returns (entries, peers)."""
    socks = [tcp_connect(srv.tcp_addr, timeout=slow(30)) for _ in range(CLIENTS)]
    try:
        peers = [peer_of(s) for s in socks]
        for ci, s in enumerate(socks):
            s.sendall(b"".join(line(ci, n) + b"\n" for n in range(FIRST)))
        base = 1 + CLIENTS + CLIENTS * FIRST
        wait_xlen(r, base, srv=srv, timeout=slow(10))
        errors = []

        def send(ci, s):
            try:
                s.sendall(b"".join(line(ci, n) + b"\n" for n in range(FIRST, FIRST + SECOND)))
                s.shutdown(socket.SHUT_WR)
            except OSError as e:
                errors.append(e)

        threads = [threading.Thread(target=send, args=(ci, s), daemon=True)
                   for ci, s in enumerate(socks)]
        for t in threads:
            t.start()
        # Trouble while the second half flows.
        wait_xlen(r, base + 2000, srv=srv, timeout=slow(10))
        trouble()
        for t in threads:
            t.join(slow(30))
        assert not errors and not any(t.is_alive() for t in threads), errors
        total = 1 + CLIENTS * (2 + FIRST + SECOND)
        wait_xlen(r, total, srv=srv, timeout=slow(60), what="after the trouble")
    finally:
        for s in socks:
            s.close()
    rc, _, _ = srv.stop(timeout=slow(STOP_WAIT))
    assert rc == 0, srv.stderr()
    return entries(r), peers


def assert_exactly_once(es, peers):
    """Every line once, in order per client; one start, one connect and one
    disconnect per client, one stop, nothing else."""
    counts = collections.Counter((dict(e)["peer"], dict(e).get("msg")) for e in es
                                 if dict(e)["event"] == b"msg")
    dup = [k for k, v in counts.items() if v != 1]
    assert dup == [], f"{len(dup)} lines not exactly once, e.g. {dup[:5]}"
    by = msgs_by_peer(es)
    for ci, p in enumerate(peers):
        want = [line(ci, n) for n in range(FIRST + SECOND)]
        got = by[p]
        assert len(got) == len(want), (p, len(got))
        assert got == want, f"client {ci}: lines out of order or missing"
    events = collections.Counter(dict(e)["event"] for e in es)
    assert events == {b"start": 1, b"stop": 1, b"connect": CLIENTS, b"disconnect": CLIENTS,
                      b"msg": CLIENTS * (FIRST + SECOND)}
    for p in peers:
        mine = of_peer(es, p)
        assert mine[0] == head("tcp", p, "connect")
        assert mine[-1] == head("tcp", p, "disconnect") + [
            ("reason", b"eof"), ("msgs", str(FIRST + SECOND).encode()),
            ("bytes", str((FIRST + SECOND) * 11).encode())]


def test_exactly_once_across_a_sigstop_of_redis(start_server, start_redis):
    r = start_redis()
    srv = start_server("-t", "127.0.0.1:0", "--redis", r.url, output="stdout")

    def trouble():
        r.signal(signal.SIGSTOP)
        try:
            time.sleep(3)
        finally:
            r.signal(signal.SIGCONT)

    es, peers = troubled_load(srv, r, trouble)
    assert_exactly_once(es, peers)
    # A stopped Redis is slow, not gone (README): waited for, no outage.
    assert other_stderr(srv) == []


def test_exactly_once_across_a_sigkill_and_restart_of_redis(start_server, start_redis):
    r = start_redis(aof=True)
    srv = start_server("-t", "127.0.0.1:0", "--redis", r.url, output="stdout")

    def trouble():
        r.kill()
        wait_stderr(srv, outage_re(r.url).pattern, "the outage")
        time.sleep(1.5)
        r.start()

    es, peers = troubled_load(srv, r, trouble)
    assert_exactly_once(es, peers)
    assert_outages(other_stderr(srv), r.url, 1)


def test_exactly_once_across_a_shutdown_nosave_and_restart_of_redis(start_server,
                                                                     start_redis):
    # SHUTDOWN NOSAVE with an AOF (appendfsync always): what Redis confirmed
    # is in the AOF; what it applied and could not confirm is there too, and
    # the sequence key says so.
    r = start_redis(aof=True)
    srv = start_server("-t", "127.0.0.1:0", "--redis", r.url, output="stdout")

    def trouble():
        r.shutdown_nosave()
        wait_stderr(srv, outage_re(r.url).pattern, "the outage")
        time.sleep(1.5)
        r.start()

    es, peers = troubled_load(srv, r, trouble)
    assert_exactly_once(es, peers)
    assert_outages(other_stderr(srv), r.url, 1)


def test_exactly_once_when_the_connection_is_cut_and_its_replies_lost(start_server,
                                                                      start_redis):
    # A relay between peerlogd and Redis passes the transactions on and drops
    # the replies, then closes: Redis applied what peerlogd never saw
    # confirmed. Sent again blindly, those records would be in twice.
    r = start_redis()
    relay = Relay(r.where)
    try:
        srv = start_server("-t", "127.0.0.1:0", "--redis", relay.url, output="stdout")
        es, peers = troubled_load(srv, r, lambda: relay.cut())
        assert relay.cuts == 1 and relay.accepted == 2
    finally:
        relay.close()
    assert_exactly_once(es, peers)
    assert_outages(other_stderr(srv), relay.url, 1)


def used_memory(r):
    """Redis's used_memory, in bytes."""
    for l in r("INFO", "memory").decode().split("\r\n"):
        if l.startswith("used_memory:"):
            return int(l.split(":")[1])
    raise AssertionError("no used_memory in INFO")


def test_exactly_once_when_redis_refuses_a_transaction_for_memory(start_server,
                                                                  start_redis):
    # Near maxmemory (noeviction) Redis refuses a transaction whose queued
    # XADDs do not fit (EXECABORT) and applies a smaller one pipelined after
    # it. The refused records must not be taken for added: they go again
    # once Redis has room, after the ones it took (none lost, none twice).
    r = start_redis()
    srv = start_server("-t", "127.0.0.1:0", "--redis", r.url, output="stdout")
    big = [b"big %04d " % i + b"x" * 1000 for i in range(200)]
    small = [b"small %04d" % i for i in range(200)]
    with tcp_connect(srv.tcp_addr) as c:
        peer = peer_of(c)
        wait_entry(r, has(peer, "connect"), srv=srv)
        r("CONFIG", "SET", "maxmemory-policy", "noeviction")
        r("CONFIG", "SET", "maxmemory", used_memory(r) + 225 * 1024)
        c.sendall(b"\n".join(big + small) + b"\n")
        wait_stderr(srv, rf"peerlogd: redis {re.escape(r.url)}: EXECABORT .+; "
                         "reconnecting every second", "the refusal")
        time.sleep(2.5)  # tried again, twice, still refused
        r("CONFIG", "SET", "maxmemory", 0)
        finish(c)
    wait_entry(r, has(peer, "disconnect"), srv=srv, timeout=slow(10))
    rc, _, _ = srv.stop(timeout=slow(STOP_WAIT))
    assert rc == 0, srv.stderr()
    lines = other_stderr(srv)
    assert_outages(lines, r.url, len(lines) // 2)
    got = msgs_by_peer(entries(r))[peer]
    counts = collections.Counter(got)
    assert [m for m in big + small if counts[m] != 1] == []
    assert len(got) == len(big + small)


def test_two_outages_are_each_said_once(start_server, start_redis):
    r = start_redis(aof=True)
    srv = start_server("-t", "127.0.0.1:0", "--redis", r.url, output="stdout")
    with tcp_connect(srv.tcp_addr) as c:
        peer = peer_of(c)
        for i in range(2):
            r.kill()
            wait_stderr(srv, outage_re(r.url).pattern, "the outage")
            c.sendall(b"during outage %d\n" % i)
            time.sleep(2.2)  # two or more tries to connect
            r.start()
            wait_entry(r, lambda e: e.get("msg") == b"during outage %d" % i, srv=srv,
                       timeout=slow(WAIT))
        finish(c)
    wait_entry(r, has(peer, "disconnect"), srv=srv)
    rc, _, _ = srv.stop(timeout=slow(STOP_WAIT))
    assert rc == 0, srv.stderr()
    assert_outages(other_stderr(srv), r.url, 2)
    assert [e[3][1] for e in of_peer(entries(r), peer)[1:3]] == [b"during outage 0",
                                                                 b"during outage 1"]


# ---- Redis down at start ----

class Sender(threading.Thread):
    """Sends total bytes of numbered lines of 1024 bytes, counting what the
    kernel took; stop() unblocks it."""

    def __init__(self, sock, total):
        super().__init__(daemon=True)
        self.sock, self.total = sock, total
        self.sent = 0
        self.error = None

    @staticmethod
    def line(n):
        return (b"s%08d " % n).ljust(1023, b"x") + b"\n"

    def run(self):
        n = 0
        try:
            while self.sent < self.total:
                chunk = b"".join(self.line(n + i) for i in range(64))
                self.sock.sendall(chunk)
                n += 64
                self.sent += len(chunk)
        except OSError as e:
            self.error = e

    def stop(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def wait_stalled(sender, timeout):
    """Wait until sender has made no progress for 1 s (or finished)."""
    deadline = time.monotonic() + timeout
    last, since = -1, time.monotonic()
    while time.monotonic() < deadline and sender.is_alive():
        if sender.sent != last:
            last, since = sender.sent, time.monotonic()
        elif time.monotonic() - since >= 1.0:
            return
        time.sleep(0.05)


def test_redis_down_at_start_holds_records_and_pauses_senders(start_server, start_redis):
    port = free_port()
    url = f"redis://127.0.0.1:{port}"
    srv = start_server("-t", "127.0.0.1:0", "--redis", url, output="stdout")
    wait_stderr(srv, outage_re(url).pattern, "the outage")
    total = 48 << 20  # far more than peerlogd holds and the kernel buffers
    sock = tcp_connect(srv.tcp_addr, timeout=slow(60))
    peer = peer_of(sock)
    sender = Sender(sock, total)
    sender.start()
    try:
        wait_stalled(sender, slow(20))
        # The sender is held back by TCP: its data waits in the kernel, not
        # in peerlogd.
        assert sender.is_alive() and sender.sent < total, sender.sent
        if not sanitized():
            assert proc_status_kib(srv.pid) < 32 * 1024
        # Retried every second, said once.
        assert len(other_stderr(srv)) == 1, srv.stderr()
        r = start_redis(port=port)
        sender.join(slow(60))
        assert not sender.is_alive() and sender.error is None, sender.error
        finish(sock)
    finally:
        sender.stop()
        sock.close()
    wait_entry(r, has(peer, "disconnect"), srv=srv, timeout=slow(30))
    rc, out, _ = srv.stop(timeout=slow(STOP_WAIT))
    assert rc == 0 and srv.output() == b""
    assert_outages(other_stderr(srv), url, 1)
    es = entries(r)
    n = total // 1024
    assert [dict(e)["event"] for e in es[:2]] == [b"start", b"connect"]
    assert [dict(e)["msg"] for e in es[2:-2]] == [Sender.line(i)[:-1] for i in range(n)]
    assert of_peer(es[-2:-1], peer) == [head("tcp", peer, "disconnect") + [
        ("reason", b"eof"), ("msgs", str(n).encode()), ("bytes", str(total).encode())]]
    assert no_ts(es[-1]) == head("-", "-", "stop") + [("signal", b"SIGTERM")]


def test_slow_redis_pauses_a_connected_sender_within_the_memory_bound(start_server,
                                                                      start_redis):
    r = start_redis()
    srv = start_server("-t", "127.0.0.1:0", "--redis", r.url, output="stdout")
    total = 48 << 20
    sock = tcp_connect(srv.tcp_addr, timeout=slow(60))
    peer = peer_of(sock)
    wait_entry(r, has(peer, "connect"), srv=srv)
    r.signal(signal.SIGSTOP)
    sender = Sender(sock, total)
    try:
        sender.start()
        wait_stalled(sender, slow(20))
        # peerlogd holds what Redis has not confirmed up to its bound, then
        # stops reading: the rest waits in the kernel, the sender blocks.
        assert sender.is_alive() and sender.sent < total, sender.sent
        if not sanitized():
            assert proc_status_kib(srv.pid) < 32 * 1024
        r.signal(signal.SIGCONT)
        sender.join(slow(60))
        assert not sender.is_alive() and sender.error is None, sender.error
        finish(sock)
    finally:
        r.signal(signal.SIGCONT)
        sender.stop()
        sock.close()
    wait_entry(r, has(peer, "disconnect"), srv=srv, timeout=slow(30))
    stop_ok(srv)
    es = of_peer(entries(r), peer)
    n = total // 1024
    assert [dict(e)["msg"] for e in es[1:-1]] == [Sender.line(i)[:-1] for i in range(n)]
    assert es[-1] == head("tcp", peer, "disconnect") + [
        ("reason", b"eof"), ("msgs", str(n).encode()), ("bytes", str(total).encode())]


# ---- an XADD Redis refuses ----

def test_a_key_of_another_type_is_said_once_and_its_records_lost(start_server,
                                                                 start_redis):
    r = start_redis()
    r("SET", "peerlog", "not a stream")
    srv = start_server("-t", "127.0.0.1:0", "--redis", r.url, output="stdout")
    wait_stderr(srv, rf"peerlogd: redis {re.escape(r.url)}: XADD refused: WRONGTYPE .+",
                "the refusal")
    with tcp_connect(srv.tcp_addr) as c:
        c.sendall(b"one\ntwo\n")
        finish(c)
    rc, _, _ = srv.stop(timeout=slow(STOP_WAIT))
    lines = other_stderr(srv)
    assert rc == 1, srv.stderr()
    assert len(lines) == 2 and lines[0].startswith(f"peerlogd: redis {r.url}: XADD refused: "
                                                   "WRONGTYPE "), lines
    # start, connect, 2 msgs, disconnect, stop: none was added.
    assert lines[1] == f"peerlogd: output {r.url}: 6 records not written"
    assert r("GET", "peerlog") == b"not a stream"


# ---- shutdown ----

def test_redis_down_at_shutdown_reports_the_unconfirmed_and_exits_1(start_server,
                                                                     start_redis):
    r = start_redis(aof=True)
    srv = start_server("-t", "127.0.0.1:0", "--redis", r.url, output="stdout")
    c = tcp_connect(srv.tcp_addr)
    with c:
        wait_xlen(r, 2, srv=srv)  # start, connect: confirmed
        r.kill()
        wait_stderr(srv, outage_re(r.url).pattern, "the outage")
        c.sendall(b"one\ntwo\nthree\nfour\nfive\n")
        c.shutdown(socket.SHUT_WR)
        srv.send_signal(signal.SIGUSR1)  # a stats record, held
        time.sleep(0.3)
        srv.send_signal(signal.SIGTERM)
        rc = srv.wait_exit(slow(STOP_WAIT) + 15)
    r.start()  # its AOF holds what it confirmed
    confirmed = r("XLEN", "peerlog")
    assert confirmed == 2
    # Made: start, connect, 5 msgs, stats, disconnect, stop.
    made = 10
    lines = other_stderr(srv)
    assert rc == 1, srv.stderr()
    assert outage_re(r.url).fullmatch(lines[0]), lines
    assert lines[1:] == [f"peerlogd: output {r.url}: {made - confirmed} records not written"]


def test_redis_slow_at_shutdown_is_waited_for(start_server, start_redis):
    r = start_redis()
    srv = start_server("-t", "127.0.0.1:0", "--redis", r.url, fmt="json")
    wait_xlen(r, 1, srv=srv)  # connected: the start record is in
    r.signal(signal.SIGSTOP)
    try:
        with tcp_connect(srv.tcp_addr) as c:
            peer = peer_of(c)
            c.sendall(b"".join(b"late %d\n" % i for i in range(1000)))
            finish(c)
        srv.wait_for(lambda rs: any(j["peer"] == peer and j["event"] == "disconnect"
                                    for j in rs), "the disconnect in the file")
        srv.send_signal(signal.SIGTERM)
        time.sleep(3)
        assert srv.proc.poll() is None  # still waiting for Redis
    finally:
        r.signal(signal.SIGCONT)
    rc = srv.wait_exit(slow(STOP_WAIT))
    assert rc == 0 and other_stderr(srv) == [], srv.stderr()
    recs = srv.json_records()
    assert len(recs) == 1 + 1 + 1000 + 1 + 1
    assert entries(r) == [json_as_fields(j) for j in recs]


# ---- TLS and PROXY fields ----

def test_tls_entries_carry_cn_and_fp(start_server, start_redis, pki):
    r = start_redis()
    cert, key = pki.client("redis-tls-client", cn="Zo\u00eb client")
    srv = start_server(*tls_args(pki, "--redis", r.url, client_ca=True), fmt="json")
    with tls_connect(srv.tls_addr, pki, cert, key) as s:
        peer = peer_of(s)
        version, cipher = s.version(), s.cipher()[0]
        s.sendall(b"secure \xff\n")
        close_tls(s)
    wait_entry(r, has(peer, "disconnect"), srv=srv)
    stop_ok(srv)
    es = entries(r)
    cn, fp = "Zo\u00eb client".encode(), pki.fingerprint(cert).encode()
    assert of_peer(es, peer) == [
        head("tls", peer, "connect") + [("tls", version.encode()), ("cipher", cipher.encode()),
                                        ("cn", cn), ("fp", fp)],
        head("tls", peer, "msg") + [("msg", b"secure \xff"), ("cn", cn), ("fp", fp)],
        head("tls", peer, "disconnect") + [("reason", b"eof"), ("msgs", b"1"),
                                           ("bytes", b"9")],
    ]
    # The JSON file has the same fields by name, in the same order.
    js = [j for j in srv.json_records() if j["peer"] == peer]
    assert [[k for k, _ in e] for e in es if dict(e).get("peer") == peer.encode()] == \
        [[k for k in j if k != "lossy"] for j in js]
    assert js[1]["cn"] == "Zo\u00eb client" and js[1]["msg"] == "secure \ufffd"


def test_tls_client_without_certificate_has_no_cn_or_fp(start_server, start_redis, pki):
    r = start_redis()
    srv = start_server(*tls_args(pki, "--redis", r.url), output="stdout")
    with tls_connect(srv.tls_addr, pki) as s:
        peer = peer_of(s)
        s.sendall(b"anonymous\n")
        close_tls(s)
    wait_entry(r, has(peer, "disconnect"), srv=srv)
    stop_ok(srv)
    mine = of_peer(entries(r), peer)
    assert [k for k, _ in mine[0]] == ["proto", "peer", "event", "tls", "cipher"]
    assert mine[1] == head("tls", peer, "msg") + [("msg", b"anonymous")]


def test_proxy_connect_entry_has_via(start_server, start_redis):
    r = start_redis()
    srv = start_server("-t", "127.0.0.1:0", "--proxy", "127.0.0.0/8", "--redis", r.url,
                       output="stdout")
    peer = "192.0.2.10:30001"
    with tcp_connect(srv.tcp_addr) as c:
        via = peer_of(c)
        c.sendall(v1("192.0.2.10", "192.0.2.200", 30001, 514) + b"proxied\n")
        finish(c)
    wait_entry(r, has(peer, "disconnect"), srv=srv)
    stop_ok(srv)
    es = entries(r)
    assert of_peer(es, peer) == [
        head("tcp", peer, "connect") + [("via", via.encode())],
        head("tcp", peer, "msg") + [("msg", b"proxied")],
        head("tcp", peer, "disconnect") + [("reason", b"eof"), ("msgs", b"1"),
                                           ("bytes", b"8")],
    ]
    assert of_peer(es, via) == []


# ---- option errors ----

OPTION_ERRORS = [
    (["--redis", "redis://"], "--redis 'redis://': no host"),
    (["--redis", "redis://host:0"], "--redis 'redis://host:0': bad port (1..65535)"),
    (["--redis", "redis://host:65536"], "--redis 'redis://host:65536': bad port (1..65535)"),
    (["--redis", "redis://host:x"], "--redis 'redis://host:x': bad port (1..65535)"),
    (["--redis", "redis://host/x"], "--redis 'redis://host/x': bad database number"),
    (["--redis", "http://x"], "--redis 'http://x': not redis://HOST[:PORT][/DB] or unix:PATH"),
    (["--redis", "unix:"], "--redis 'unix:': no socket path"),
    (["--redis", "redis://user:pw@host"], None),
    (["--redis", "redis://user@host"],
     "--redis 'redis://user@host': user names and passwords are not supported"),
    (["--redis", "redis://[::1"], "--redis 'redis://[::1': no ']' after the IPv6 address"),
    (["--redis", "redis://127.0.0.1", "--redis-key", ""], "--redis-key: empty key"),
    (["--redis-key", "x"], "--redis-key needs --redis"),
    (["--redis-maxlen", "5"], "--redis-maxlen needs --redis"),
    (["--redis", "redis://127.0.0.1", "--redis-maxlen", "-1"], None),
    (["--redis", "redis://127.0.0.1", "--redis-maxlen", "many"], None),
    (["--redis"], None),
]


@pytest.mark.parametrize("args, reason", OPTION_ERRORS,
                         ids=[" ".join(a) for a, _ in OPTION_ERRORS])
def test_option_error_exits_2_with_one_line(args, reason):
    rc, out, err, pid = run_peerlogd(["-t", "127.0.0.1:0"] + args)
    assert rc == 2 and out == ""
    lines = err.split("\n")
    assert len(lines) == 2 and lines[1] == "" and lines[0].startswith("peerlogd: "), err
    if reason is not None:
        assert lines[0] == "peerlogd: " + reason
    else:
        assert "redis" in lines[0], err
    assert not group_alive(pid)


def test_unresolvable_host_exits_2():
    rc, out, err, pid = run_peerlogd(["-t", "127.0.0.1:0", "--redis",
                                      "redis://no-such-host.invalid"])
    assert rc == 2 and out == ""
    assert re.fullmatch(r"peerlogd: --redis redis://no-such-host\.invalid: .+\n", err), err
