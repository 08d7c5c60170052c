"""A real LDAP directory for the sign-in tests: Debian's ``slapd`` on free loopback ports.

A throw-away CA signs the server's certificate (for 127.0.0.1); slapd listens with StartTLS on
``ldap://`` and with TLS on ``ldaps://``, and refuses simple binds without TLS, so a test that
signs in proves the connection was encrypted. The directory is loaded offline with
``slapadd`` before the server starts.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import ipaddress
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.common.processes import free_port
from tests.common.processes import port_open
from tests.common.processes import stop_pid
from tests.common.processes import wait_for

SUFFIX = "dc=example,dc=org"
READER_DN = f"cn=reader,{SUFFIX}"
READER_PASSWORD = "reader-password"
# the tests change group membership as the directory's administrator
ADMIN_DN = f"cn=admin,{SUFFIX}"
ADMIN_PASSWORD = "admin-password"
SLAPD = "/usr/sbin/slapd"
SLAPADD = "/usr/sbin/slapadd"


@dataclasses.dataclass(frozen=True)
class Directory:
    ldap_url: str
    ldaps_url: str
    ca_file: str

    def config(self, url: str, **extra: str) -> dict[str, str]:
        """The app settings for this directory (``url``: one of the two URLs)."""
        return {
            "LDAP_URL": url,
            "LDAP_CA_FILE": self.ca_file,
            "LDAP_BIND_DN": READER_DN,
            "LDAP_BIND_PASSWORD": READER_PASSWORD,
            "LDAP_USER_BASE": f"ou=people,{SUFFIX}",
            "LDAP_GROUP_BASE": f"ou=groups,{SUFFIX}",
            **extra,
        }


def _write_certificates(folder: Path) -> None:
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "LabelHive test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    (folder / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (folder / "server.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "server.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def _config(folder: Path) -> str:
    schema = "/etc/ldap/schema"
    return f"""
include {schema}/core.schema
include {schema}/cosine.schema
include {schema}/inetorgperson.schema
include {schema}/nis.schema
modulepath /usr/lib/ldap
moduleload back_mdb
pidfile {folder}/slapd.pid
TLSCACertificateFile {folder}/ca.pem
TLSCertificateFile {folder}/server.pem
TLSCertificateKeyFile {folder}/server.key
# a password travels only over TLS
security simple_bind=128
database mdb
suffix "{SUFFIX}"
rootdn "{ADMIN_DN}"
rootpw {ADMIN_PASSWORD}
directory {folder}/db
maxsize 10485760
access to attrs=userPassword by anonymous auth by * none
access to * by dn.exact="{READER_DN}" read by self read by * none
"""


def people_ldif(people: dict[str, tuple[str, list[str]]], groups: list[str]) -> str:
    """The directory: ``people`` is ``{uid: (password, [group cn, ...])}``."""
    entries = [
        f"dn: {SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\no: Example\ndc: example",
        f"dn: {READER_DN}\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\n"
        f"cn: reader\nuserPassword: {READER_PASSWORD}",
        f"dn: ou=people,{SUFFIX}\nobjectClass: organizationalUnit\nou: people",
        f"dn: ou=groups,{SUFFIX}\nobjectClass: organizationalUnit\nou: groups",
    ]
    for uid, (password, _groups) in people.items():
        entries.append(
            f"dn: uid={uid},ou=people,{SUFFIX}\nobjectClass: inetOrgPerson\nuid: {uid}\n"
            f"cn: {uid.title()} Example\nsn: Example\nmail: {uid}@example.org\n"
            f"userPassword: {password}"
        )
    for group in groups:
        members = [u for u, (_p, gs) in people.items() if group in gs]
        lines = [f"dn: cn={group},ou=groups,{SUFFIX}", "objectClass: groupOfNames", f"cn: {group}"]
        # groupOfNames needs a member, also once its people have left: the reader stays in
        lines.append(f"member: {READER_DN}")
        lines += [f"member: uid={u},ou=people,{SUFFIX}" for u in members]
        entries.append("\n".join(lines))
    return "\n\n".join(entries) + "\n"


@contextlib.contextmanager
def slapd(people: dict[str, tuple[str, list[str]]], groups: list[str]) -> Iterator[Directory]:
    """Run slapd with ``people`` and ``groups`` (see :func:`people_ldif`) until the block ends."""
    if not Path(SLAPD).exists():
        raise RuntimeError("slapd not found: run `make test`, which installs slapd and ldap-utils")
    folder = Path(tempfile.mkdtemp(prefix="labelhive-slapd-"))
    (folder / "db").mkdir()
    _write_certificates(folder)
    conf = folder / "slapd.conf"
    conf.write_text(_config(folder))
    (folder / "data.ldif").write_text(people_ldif(people, groups))
    subprocess.run(
        [SLAPADD, "-q", "-f", str(conf), "-l", str(folder / "data.ldif")],
        check=True,
        capture_output=True,
    )
    port, tls_port = free_port(), free_port()
    log = open(folder / "slapd.log", "wb")  # noqa: SIM115 (closed below)
    proc = subprocess.Popen(
        [
            SLAPD,
            "-d",
            "0",
            "-f",
            str(conf),
            "-h",
            f"ldap://127.0.0.1:{port}/ ldaps://127.0.0.1:{tls_port}/",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for(
            lambda: proc.poll() is None and port_open(port) and port_open(tls_port), 30, "slapd"
        )
        yield Directory(
            f"ldap://127.0.0.1:{port}", f"ldaps://127.0.0.1:{tls_port}", str(folder / "ca.pem")
        )
    finally:
        stop_pid(proc)
        log.close()
        shutil.rmtree(folder, ignore_errors=True)
