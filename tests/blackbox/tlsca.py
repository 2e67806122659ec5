"""A throwaway PKI for the TLS tests, made with the `openssl` command at test
time (nothing of it is committed; the keys live in pytest's tmp directory).

    pki = PKI(directory)
    pki.ca_cert, pki.ca_key          the trusted CA (ECDSA P-256)
    pki.server_cert, pki.server_key  CN=localhost, SAN DNS:localhost,
                                     IP:127.0.0.1, IP:::1, signed by the CA
    pki.client(name, dns=None, cn=None, ca=None, days=30, key="ec",
               not_before=None, not_after=None) -> (cert_path, key_path)
    pki.other_ca                     an untrusted CA with its own .client()
    pki.fingerprint(cert_path)       64 lowercase hex digits (SHA-256 of DER)

Every certificate is signed with `openssl ca` and explicit start and end
dates (OpenSSL 3.0's `x509 -req` cannot set them), from a minimal
configuration written here, so the system's openssl.cnf plays no part and an
expired or not-yet-valid certificate needs no clock tricks.
"""

import datetime
import os
import secrets
import subprocess

OPENSSL = "openssl"
TIMEOUT = 60

_CNF = """\
# Written by tlsca.py for the tests: a minimal CA and request configuration.
[req]
distinguished_name = req_dn
prompt = no
string_mask = utf8only
utf8 = yes

[req_dn]
CN = unused

[v3_ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash

[ca]
default_ca = tca

[tca]
dir = {dir}
database = $dir/index.txt
new_certs_dir = $dir/newcerts
serial = $dir/serial
default_md = sha256
policy = tca_policy
unique_subject = no
copy_extensions = none
email_in_dn = no
name_opt = utf8
preserve = yes

[tca_policy]
commonName = optional
organizationName = optional
"""


def run_openssl(*args, input=None):
    """Run `openssl ARGS...`; fail with its stderr when it fails; return
    its standard output (bytes)."""
    proc = subprocess.run([OPENSSL] + list(args), input=input,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=TIMEOUT, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)} failed "
                           f"({proc.returncode}): {proc.stderr.decode(errors='replace')}")
    return proc.stdout


def subj_escape(value):
    """A value for `-subj /CN=VALUE`: '/', '+', '=' and '\\' escaped."""
    out = []
    for ch in value:
        if ch in "/+=\\":
            out.append("\\")
        out.append(ch)
    return "".join(out)


def asn1_time(dt):
    """An aware datetime -> the YYYYMMDDHHMMSSZ that `openssl ca` takes."""
    return dt.astimezone(datetime.timezone.utc).strftime("%Y%m%d%H%M%SZ")


def make_key(path, kind="ec"):
    """A new private key at path: ECDSA P-256 ('ec') or RSA 2048 ('rsa')."""
    if kind == "ec":
        opts = ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"]
    elif kind == "rsa":
        opts = ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"]
    else:
        raise ValueError(f"key kind {kind!r}: 'ec' or 'rsa'")
    run_openssl("genpkey", *opts, "-out", path)
    os.chmod(path, 0o600)
    return path


def fingerprint(cert_path):
    """SHA-256 of the certificate's DER, as 64 lowercase hex digits (what
    peerlogd writes as fp=)."""
    out = run_openssl("x509", "-noout", "-fingerprint", "-sha256",
                      "-in", str(cert_path)).decode()
    # "sha256 Fingerprint=AB:CD:..." (the label's case varies by version)
    hexpart = out.strip().split("=", 1)[1].replace(":", "").lower()
    assert len(hexpart) == 64 and all(c in "0123456789abcdef" for c in hexpart), out
    return hexpart


class CA:
    """A certificate authority in directory d: its key, its self-signed
    certificate, and the certificates it signs (cached by name)."""

    def __init__(self, d, name="peerlog test CA", key="ec"):
        self.dir = str(d)
        os.makedirs(os.path.join(self.dir, "newcerts"), exist_ok=True)
        self.cnf = os.path.join(self.dir, "openssl.cnf")
        with open(self.cnf, "w") as f:
            f.write(_CNF.format(dir=self.dir))
        open(os.path.join(self.dir, "index.txt"), "w").close()
        with open(os.path.join(self.dir, "serial"), "w") as f:
            f.write(secrets.token_hex(8).upper().lstrip("0").rjust(16, "1") + "\n")
        self.name = name
        self.ca_key = make_key(os.path.join(self.dir, "ca.key"), key)
        self.ca_cert = os.path.join(self.dir, "ca.pem")
        run_openssl("req", "-config", self.cnf, "-x509", "-new", "-utf8",
                    "-key", self.ca_key, "-subj", "/CN=" + subj_escape(name),
                    "-days", "3650", "-sha256", "-extensions", "v3_ca",
                    "-set_serial", str(secrets.randbits(62) | 1),
                    "-out", self.ca_cert)
        self._issued = {}

    def sign(self, name, *, cn=None, dns=None, ips=None, days=30, key="ec",
             not_before=None, not_after=None, usage="clientAuth"):
        """A certificate and key signed by this CA, cached by name.

        cn: the subject CN (default name; "" for a subject without a CN, then
        it has O=peerlog tests only). dns, ips: subjectAltName entries (none
        by default). days: validity from an hour ago; not_before/not_after
        (aware datetimes) set the dates outright. usage: the extendedKeyUsage
        (clientAuth, serverAuth) or None for none. Returns (cert, key)."""
        spec = (cn, tuple(dns or ()), tuple(ips or ()), days, key, not_before,
                not_after, usage)
        if name in self._issued:
            got_spec, paths = self._issued[name]
            if got_spec != spec:
                raise ValueError(f"certificate {name!r} was made with other settings")
            return paths
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
        base = os.path.join(self.dir, f"{safe}-{len(self._issued)}")
        key_path = make_key(base + ".key", key)
        csr = base + ".csr"
        cert = base + ".pem"
        cn = name if cn is None else cn
        subj = "/CN=" + subj_escape(cn) if cn != "" else "/O=peerlog tests"
        run_openssl("req", "-config", self.cnf, "-new", "-utf8", "-key", key_path,
                    "-subj", subj, "-out", csr)
        ext = [f"[ext]", "basicConstraints = critical,CA:FALSE",
               "subjectKeyIdentifier = hash", "authorityKeyIdentifier = keyid"]
        if key == "ec":
            ext.append("keyUsage = critical,digitalSignature")
        else:
            ext.append("keyUsage = critical,digitalSignature,keyEncipherment")
        if usage:
            ext.append(f"extendedKeyUsage = {usage}")
        alt = [f"DNS:{d}" for d in (dns or ())] + [f"IP:{i}" for i in (ips or ())]
        if alt:
            ext.append("subjectAltName = " + ",".join(alt))
        extfile = base + ".ext"
        with open(extfile, "w") as f:
            f.write("\n".join(ext) + "\n")
        now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
        start = not_before or now - datetime.timedelta(hours=1)
        end = not_after or now + datetime.timedelta(days=days)
        run_openssl("ca", "-batch", "-config", self.cnf, "-notext", "-utf8",
                    "-cert", self.ca_cert, "-keyfile", self.ca_key,
                    "-in", csr, "-out", cert, "-extfile", extfile,
                    "-extensions", "ext", "-startdate", asn1_time(start),
                    "-enddate", asn1_time(end))
        self._issued[name] = (spec, (cert, key_path))
        return cert, key_path

    def client(self, name, dns=None, cn=None, days=30, key="ec",
               not_before=None, not_after=None, usage="clientAuth"):
        """A client certificate (extendedKeyUsage clientAuth) signed by this
        CA, cached by name: see sign(). Returns (cert_path, key_path)."""
        return self.sign(name, cn=cn, dns=dns, days=days, key=key,
                         not_before=not_before, not_after=not_after, usage=usage)

    def expired(self, name, **kw):
        """A client certificate whose validity ended a day ago."""
        now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
        return self.client(name, not_before=now - datetime.timedelta(days=30),
                           not_after=now - datetime.timedelta(days=1), **kw)

    def not_yet_valid(self, name, **kw):
        """A client certificate whose validity starts in a day."""
        now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
        return self.client(name, not_before=now + datetime.timedelta(days=1),
                           not_after=now + datetime.timedelta(days=30), **kw)

    @staticmethod
    def fingerprint(cert_path):
        return fingerprint(cert_path)


class PKI(CA):
    """The tests' trusted CA with a server certificate for localhost, and an
    untrusted second CA (other_ca)."""

    def __init__(self, d):
        d = str(d)
        super().__init__(os.path.join(d, "ca"), "peerlog test CA")
        self.server_cert, self.server_key = self.sign(
            "server", cn="localhost", dns=["localhost"], ips=["127.0.0.1", "::1"],
            days=365, usage="serverAuth")
        self.other_ca = CA(os.path.join(d, "other_ca"), "peerlog untrusted CA")

    def client(self, name, dns=None, cn=None, ca=None, days=30, key="ec",
               not_before=None, not_after=None, usage="clientAuth"):
        """A client certificate signed by this CA, or by ca (another CA
        object) when given. Returns (cert_path, key_path)."""
        if ca is not None and ca is not self:
            return ca.client(name, dns=dns, cn=cn, days=days, key=key,
                             not_before=not_before, not_after=not_after, usage=usage)
        return super().client(name, dns=dns, cn=cn, days=days, key=key,
                              not_before=not_before, not_after=not_after, usage=usage)

    def new_server_cert(self, name, **kw):
        """Another server certificate for localhost (a rotation target):
        returns (cert, key) with a new key."""
        kw.setdefault("dns", ["localhost"])
        kw.setdefault("ips", ["127.0.0.1", "::1"])
        kw.setdefault("days", 365)
        return self.sign(name, cn="localhost", usage="serverAuth", **kw)
