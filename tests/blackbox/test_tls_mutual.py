"""Mutual TLS: --client-ca makes a verified client certificate mandatory,
the connect record names it (cn=, fp=), JSON msg records carry cn and fp,
and --client-name permits clients by DNS subjectAltName, by CN when there
is no DNS name, or by a sha256: pin.

Assumptions where the SPEC is silent (see the report):
- cn= is the first DNS subjectAltName when there are several (certname.h
  says so);
- a refused client (reason=tls or client-name) has no other record at all:
  no connect, no disconnect;
- (the server's choice, not the SPEC's) `reject reason=client-name` names
  the refused certificate with the same cn= and fp= as a connect would;
- in JSON, cn is the name itself (JSON-escaped, no \\x20), msg+ records
  carry cn and fp like msg records, and the disconnect may carry them too;
- name matching is ASCII case-insensitive with a trailing dot ignored and
  "*." standing for one leftmost label (certname.h);
- without --client-ca no certificate is asked for, so none is shown.
"""

import hashlib
import re
import ssl

import pytest

from conftest import (check_ts, peer_of, requires_peerlogd, tcp_session, tls_args,
                      tls_connect)
from tlshelp import refused_attempt, tls_reject_error, tls_session

pytestmark = requires_peerlogd


def mtls(start_server, pki, *names, fmt=None):
    """A server with --client-ca (the PKI's CA) and a --client-name per name,
    and a TCP listener for anchor sessions."""
    args = ["-t", "127.0.0.1:0"] + list(tls_args(pki, client_ca=True))
    for n in names:
        args += ["--client-name", n]
    return start_server(*args, fmt=fmt)


def name_reject(pki, cert, shown):
    """The DETAIL of a reject of cert by --client-name."""
    return f"reason=client-name cn={shown} fp={pki.fingerprint(cert)}"


def served(srv, pki, cert, key, name, line=b"hello\n"):
    """The client with cert is served: its records are exactly connect (cn=
    name, escaped as given), the line, disconnect."""
    peer, recs, detail = tls_session(srv, pki, line, cert, key)
    text = line.rstrip(b"\n").decode()
    assert recs == [
        ("tls", peer, "connect", f"{detail} cn={name} fp={pki.fingerprint(cert)}"),
        ("tls", peer, "msg", text),
        ("tls", peer, "disconnect", f"reason=eof msgs=1 bytes={len(line)}")]
    return peer


def refused(srv, pki, cert, key, reason, shown=None, **kw):
    """The client with cert (None: no certificate) is refused: its one
    record is a reject with reason (tls or client-name: then with the
    cn=SHOWN fp= of its certificate); nothing it sent is logged. Returns the
    reject record."""
    peer, _ = refused_attempt(srv.tls_addr, pki, cert, key, **kw)
    rec = srv.wait_event(peer, "reject")
    if reason == "tls":
        tls_reject_error(rec)
    else:
        assert rec == ("tls", peer, "reject", name_reject(pki, cert, shown))
    # An anchor: a TCP client served after the refused one; by then the
    # refused one's records are all written.
    tcp_session(srv, b"anchor\n")
    assert srv.of(peer) == [rec], f"more than the reject for {peer}: {srv.of(peer)!r}"
    assert not any(r[2] in ("msg", "msg+") and "never" in r[3] for r in srv.records())
    return rec


# ---- the identity in the records ----

def test_client_with_a_dns_name_is_named_by_it(start_server, pki):
    srv = mtls(start_server, pki)
    cert, key = pki.client("dns-client", dns=["client.example"], cn="not this")
    served(srv, pki, cert, key, "client.example")


def test_client_without_a_dns_name_is_named_by_its_cn(start_server, pki):
    srv = mtls(start_server, pki)
    cert, key = pki.client("cn-client", cn="cn-client")
    served(srv, pki, cert, key, "cn-client")


def test_first_of_several_dns_names_is_the_identity(start_server, pki):
    srv = mtls(start_server, pki)
    cert, key = pki.client("two-dns", dns=["first.example", "second.example"])
    served(srv, pki, cert, key, "first.example")


@pytest.mark.parametrize("cn,shown", [
    ("Jane Doe", "Jane\\x20Doe"),
    ("caf\u00e9 \u20ac", "caf\u00e9\\x20\u20ac"),
    ("back\\slash", "back\\\\slash"),
    ("tab\there", "tab\\there"),
    ("a=b,c", "a=b,c"),
    ("ctl\x01\x1b[31m", "ctl\\x01\\x1b[31m"),
    ("c1 \u0085", "c1\\x20\\xc2\\x85"),
], ids=["space", "utf8", "backslash", "tab", "punctuation", "control", "c1-control"])
def test_cn_is_escaped_like_a_message_with_space_as_x20(start_server, pki, cn, shown):
    srv = mtls(start_server, pki)
    cert, key = pki.client(f"esc-{shown}", cn=cn)
    served(srv, pki, cert, key, shown)


def test_rsa_client_key(start_server, pki):
    srv = mtls(start_server, pki)
    cert, key = pki.client("rsa-client", key="rsa")
    served(srv, pki, cert, key, "rsa-client")


@pytest.mark.parametrize("maximum", ["TLSv1_2", "TLSv1_3"])
def test_client_certificate_over_each_version(start_server, pki, maximum):
    srv = mtls(start_server, pki)
    v = getattr(ssl.TLSVersion, maximum)
    cert, key = pki.client("versioned", dns=["versioned.example"])
    peer, recs, detail = tls_session(srv, pki, b"v\n", cert, key, minimum=v, maximum=v)
    assert detail.startswith("tls=" + maximum.replace("_", "."))
    assert recs[0] == ("tls", peer, "connect", f"{detail} cn=versioned.example "
                                               f"fp={pki.fingerprint(cert)}")


def test_fp_is_the_sha256_of_the_der_certificate(start_server, pki):
    srv = mtls(start_server, pki)
    cert, key = pki.client("fp-check")
    with open(cert) as f:
        der = ssl.PEM_cert_to_DER_cert(f.read())
    peer = served(srv, pki, cert, key, "fp-check")
    assert srv.of(peer)[0][3].endswith(" fp=" + hashlib.sha256(der).hexdigest())


def test_without_client_ca_no_certificate_is_asked_for(start_server, pki):
    srv = start_server(*tls_args(pki))
    cert, key = pki.client("unasked", dns=["unasked.example"])
    peer, recs, detail = tls_session(srv, pki, b"x\n", cert, key)
    assert recs == [("tls", peer, "connect", detail), ("tls", peer, "msg", "x"),
                    ("tls", peer, "disconnect", "reason=eof msgs=1 bytes=2")]


def without_ts(recs):
    out = []
    for r in recs:
        check_ts(r["ts"])
        out.append({k: v for k, v in r.items() if k != "ts"})
    return out


def test_json_connect_and_every_msg_carry_cn_and_fp(start_server, pki):
    srv = start_server(*tls_args(pki, "--max-line", "4", client_ca=True), fmt="json")
    cert, key = pki.client("json-client", cn="Jane Doe \"J\"")
    fp = pki.fingerprint(cert)
    peer, recs, detail = tls_session(srv, pki, b"one\nabcdefg\n", cert, key)
    version, cipher = re.fullmatch(r"tls=(\S+) cipher=(\S+)", detail).groups()
    got = without_ts(recs)
    ident = {"cn": 'Jane Doe "J"', "fp": fp}
    head = {"proto": "tls", "peer": peer}
    assert got[:-1] == [
        {**head, "event": "connect", "tls": version, "cipher": cipher, **ident},
        {**head, "event": "msg", "msg": "one", **ident},
        {**head, "event": "msg+", "msg": "abcd", **ident},
        {**head, "event": "msg", "msg": "efg", **ident}]
    last = dict(got[-1])
    # The disconnect may name the client too; if it does, rightly.
    for k, v in ident.items():
        if k in last:
            assert last.pop(k) == v
    assert last == {**head, "event": "disconnect", "reason": "eof", "msgs": 3, "bytes": 12}


def test_json_reject_of_a_refused_name(start_server, pki):
    srv = mtls(start_server, pki, "only.example", fmt="json")
    cert, key = pki.client("json-refused", dns=["other.example"])
    peer, _ = refused_attempt(srv.tls_addr, pki, cert, key)
    recs = srv.wait_for(lambda rs: any(r["peer"] == peer for r in rs), f"records of {peer}")
    mine = [r for r in recs if r["peer"] == peer]
    assert without_ts(mine) == [{"proto": "tls", "peer": peer, "event": "reject",
                                 "reason": "client-name", "cn": "other.example",
                                 "fp": pki.fingerprint(cert)}]


def test_client_certificate_from_an_intermediate_ca(start_server, pki):
    # The client presents its chain (leaf, intermediate); the server trusts
    # the root only. fp= is the leaf's.
    srv = mtls(start_server, pki)
    inter = pki.intermediate("client intermediate")
    cert, key = inter.client("chained-client", dns=["chained.example"])
    chain = inter.chain(cert)
    peer, recs, detail = tls_session(srv, pki, b"chained\n", chain, key)
    assert recs == [
        ("tls", peer, "connect", f"{detail} cn=chained.example fp={pki.fingerprint(cert)}"),
        ("tls", peer, "msg", "chained"),
        ("tls", peer, "disconnect", "reason=eof msgs=1 bytes=8")]
    # The leaf alone cannot be verified.
    rec = refused(srv, pki, cert, key, "tls")
    assert tls_reject_error(rec) == \
        "certificate verify failed: unable to get local issuer certificate"


# ---- certificates that are refused ----

def test_no_client_certificate_is_rejected(start_server, pki):
    srv = mtls(start_server, pki)
    rec = refused(srv, pki, None, None, "tls")
    assert tls_reject_error(rec) == "peer did not return a certificate"


def test_certificate_of_an_untrusted_ca_is_rejected(start_server, pki):
    srv = mtls(start_server, pki)
    cert, key = pki.other_ca.client("mallory", dns=["client.example"])
    rec = refused(srv, pki, cert, key, "tls")
    assert tls_reject_error(rec) == \
        "certificate verify failed: unable to get local issuer certificate"


def test_self_signed_client_certificate_is_rejected(start_server, pki):
    srv = mtls(start_server, pki)
    rec = refused(srv, pki, pki.other_ca.ca_cert, pki.other_ca.ca_key, "tls")
    assert tls_reject_error(rec) == "certificate verify failed: self-signed certificate"


def test_certificate_not_for_client_use_is_rejected(start_server, pki):
    # extendedKeyUsage serverAuth only: not a client certificate.
    srv = mtls(start_server, pki)
    cert, key = pki.client("server-only", dns=["client.example"], usage="serverAuth")
    rec = refused(srv, pki, cert, key, "tls")
    assert tls_reject_error(rec) == \
        "certificate verify failed: unsuitable certificate purpose"


@pytest.mark.parametrize("when", ["expired", "not_yet_valid"])
def test_certificate_out_of_its_validity_is_rejected(start_server, pki, when):
    srv = mtls(start_server, pki)
    cert, key = getattr(pki, when)(f"{when}-client", dns=["client.example"])
    rec = refused(srv, pki, cert, key, "tls")
    assert tls_reject_error(rec) == "certificate verify failed: " + {
        "expired": "certificate has expired",
        "not_yet_valid": "certificate is not yet valid"}[when]


@pytest.mark.parametrize("maximum", ["TLSv1_2", "TLSv1_3"])
def test_refusals_over_each_version(start_server, pki, maximum):
    v = getattr(ssl.TLSVersion, maximum)
    srv = mtls(start_server, pki, "ok.example")
    refused(srv, pki, None, None, "tls", minimum=v, maximum=v)
    cert, key = pki.client("wrong-name", dns=["wrong.example"])
    refused(srv, pki, cert, key, "client-name", "wrong.example", minimum=v, maximum=v)


# ---- --client-name ----

def test_client_name_permits_a_dns_name_and_refuses_others(start_server, pki):
    srv = mtls(start_server, pki, "alice.example")
    alice = pki.client("alice", dns=["alice.example"])
    bob = pki.client("bob", dns=["bob.example"], cn="alice.example")
    served(srv, pki, *alice, "alice.example")
    refused(srv, pki, *bob, "client-name", "bob.example")


def test_client_name_matches_any_of_the_dns_names(start_server, pki):
    srv = mtls(start_server, pki, "second.example")
    cert, key = pki.client("two-dns", dns=["first.example", "second.example"])
    # Permitted by its second name, still shown by its first.
    served(srv, pki, cert, key, "first.example")


def test_client_name_matches_the_cn_when_there_is_no_dns_name(start_server, pki):
    srv = mtls(start_server, pki, "plain-cn", "Jane Doe")
    served(srv, pki, *pki.client("plain-cn", cn="plain-cn"), "plain-cn")
    served(srv, pki, *pki.client("esc-Jane\\x20Doe", cn="Jane Doe"), "Jane\\x20Doe")
    refused(srv, pki, *pki.client("other-cn", cn="other-cn"), "client-name", "other-cn")


def test_cn_is_not_matched_when_there_is_a_dns_name(start_server, pki):
    srv = mtls(start_server, pki, "cn-only")
    cert, key = pki.client("cn-and-dns", cn="cn-only", dns=["dns.example"])
    refused(srv, pki, cert, key, "client-name", "dns.example")


def test_several_client_names_each_permit(start_server, pki):
    pin_cert, pin_key = pki.client("pinned-one", dns=["pinned.example"])
    srv = mtls(start_server, pki, "alice.example", "plain-cn",
               "sha256:" + pki.fingerprint(pin_cert))
    served(srv, pki, *pki.client("alice", dns=["alice.example"]), "alice.example")
    served(srv, pki, *pki.client("plain-cn", cn="plain-cn"), "plain-cn")
    served(srv, pki, pin_cert, pin_key, "pinned.example")
    refused(srv, pki, *pki.client("bob", dns=["bob.example"], cn="alice.example"),
            "client-name", "bob.example")


def colons(hexstr):
    return ":".join(hexstr[i:i + 2] for i in range(0, len(hexstr), 2))


@pytest.mark.parametrize("form", ["lower", "upper", "colons", "upper-colons"])
def test_sha256_pin_in_every_form(start_server, pki, form):
    cert, key = pki.client("pin-target", dns=["pin.example"])
    fp = pki.fingerprint(cert)
    text = {"lower": fp, "upper": fp.upper(), "colons": colons(fp),
            "upper-colons": colons(fp.upper())}[form]
    srv = mtls(start_server, pki, "sha256:" + text)
    served(srv, pki, cert, key, "pin.example")
    # Another certificate with the very same names is not the pinned one.
    refused(srv, pki, *pki.client("pin-twin", dns=["pin.example"]), "client-name",
            "pin.example")


def test_pin_is_not_a_name(start_server, pki):
    # A certificate whose name is the pin's text is not permitted by it.
    cert, key = pki.client("pin-target", dns=["pin.example"])
    pin = "sha256:" + pki.fingerprint(cert)
    srv = mtls(start_server, pki, pin)
    # (A CN holds at most 64 characters: the pin's text goes in a DNS SAN.)
    refused(srv, pki, *pki.client("pin-as-name", dns=[pin]), "client-name", pin)


def test_names_match_ignoring_case_and_a_trailing_dot(start_server, pki):
    # certname.h: ASCII case-insensitive, a trailing dot ignored.
    srv = mtls(start_server, pki, "MiXeD.Example.")
    served(srv, pki, *pki.client("mixed", dns=["mixed.example"]), "mixed.example")


def test_wildcard_rule_stands_for_one_leftmost_label(start_server, pki):
    # certname.h: "*." stands for exactly one leftmost label.
    srv = mtls(start_server, pki, "*.wild.example")
    served(srv, pki, *pki.client("wild-a", dns=["a.wild.example"]), "a.wild.example")
    refused(srv, pki, *pki.client("wild-ab", dns=["a.b.wild.example"]), "client-name",
            "a.b.wild.example")
    refused(srv, pki, *pki.client("wild-bare", dns=["wild.example"]), "client-name",
            "wild.example")


def test_refused_client_sends_data_that_is_never_logged(start_server, pki):
    srv = mtls(start_server, pki, "alice.example")
    cert, key = pki.client("bob", dns=["bob.example"], cn="alice.example")
    with tls_connect(srv.tls_addr, pki, cert, key) as s:
        peer = peer_of(s)
        try:
            s.sendall(b"never 1\nnever 2\nnever tail")
        except (ssl.SSLError, OSError):
            pass
        srv.wait_record(("tls", peer, "reject", name_reject(pki, cert, "bob.example")))
        try:
            while s.recv(65536):
                pass
        except (ssl.SSLError, OSError):
            pass
    served(srv, pki, *pki.client("alice", dns=["alice.example"]), "alice.example")
    assert srv.of(peer) == [("tls", peer, "reject", name_reject(pki, cert, "bob.example"))]
    assert not any("never" in " ".join(r) for r in srv.records())
