"""A Kubernetes API server for Pods: the operator tests' emulator behind TLS, tokens and RBAC.

:class:`ApiServer` serves :mod:`tests.operator.emulator` (kmock's emulator with the fixes kopf
needs) on an address of the Pod network (the gateway), over HTTPS with a certificate signed by a
CA made for the run (:func:`make_tls`). Every request must carry a bearer token: a token the
test kubelet mounted into a Pod (:meth:`tests.pods.kubelet.Kubelet.identity` names its
ServiceAccount) or the test's own admin token (``kubectl`` as cluster-admin). Requests of a
ServiceAccount are authorized by :mod:`tests.pods.rbac` against the RBAC objects the kubelet was
given (the chart's rendered Roles and bindings); a denied one is answered 403 as the API server
would, and recorded (:attr:`ApiServer.denied`).

What it does not do (kind covers these): admission (no CRD schema or CEL validation, no
defaulting, no Pod Security), controllers (no Deployment, StatefulSet or Job status, no garbage
collection by ownerReferences), signed or expiring tokens, and everything the emulator's own
docstring lists (label selectors, PUT, scale, strategic merge).
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import json
import secrets
import shutil
import socket
import ssl
import tempfile
import threading
from collections.abc import Callable
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp.web
import kubernetes
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from labelhive_operator import k8s
from tests.pods.rbac import attributes
from tests.pods.rbac import authorize

ADMIN = "kubernetes-admin"


@dataclass(frozen=True)
class Tls:
    """A CA and a server certificate it signed (PEM)."""

    ca_pem: bytes
    cert_pem: bytes
    key_pem: bytes


def make_tls(ip: str) -> Tls:
    """A self-signed CA and a server certificate for ``ip`` and the ``kubernetes`` Service's
    names, valid for a day."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "labelhive-test-ca")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    names = ["kubernetes", "kubernetes.default", "kubernetes.default.svc"]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address(ip))] + [x509.DNSName(n) for n in names]
            ),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([x509.ExtendedKeyUsageOID.SERVER_AUTH]), False)
        .sign(ca_key, hashes.SHA256())
    )
    return Tls(
        ca_pem=ca.public_bytes(serialization.Encoding.PEM),
        cert_pem=cert.public_bytes(serialization.Encoding.PEM),
        key_pem=key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )


@dataclass(frozen=True)
class Request:
    """One request as the audit log would show it."""

    user: str
    verb: str
    path: str
    status: int


def _status(code: int, reason: str, message: str) -> aiohttp.web.Response:
    body = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    return aiohttp.web.Response(status=code, text=json.dumps(body), content_type="application/json")


class ApiServer:
    """The emulator served over HTTPS on ``host``; use as a context manager.

    :param host: the address to listen on (the Pod network's gateway).
    :param identity: a Pod token → ``system:serviceaccount:<ns>:<name>`` (None: unknown token).
    :param rbac_objects: the objects whose RBAC kinds authorize ServiceAccount requests.
    :param namespace: the namespace of namespaced RBAC objects that name none.
    :param port: 443, the ``kubernetes`` Service's port, by default: in-cluster clients that
        use ``https://kubernetes.default.svc`` (kopf's ServiceAccount login) dial 443, and the
        test kubelet has no kube-proxy to map a Service port (0: any free port).
    """

    def __init__(
        self,
        host: str,
        identity: Callable[[str], str | None],
        rbac_objects: Callable[[], Iterable[dict[str, Any]]],
        namespace: str,
        port: int = 443,
    ) -> None:
        self.host = host
        self.tls = make_tls(host)
        self.admin_token = secrets.token_urlsafe(32)
        self.requests: list[Request] = []
        self.denied: list[str] = []
        self._identity = identity
        self._rbac_objects = rbac_objects
        self._namespace = namespace
        self._dir = Path(tempfile.mkdtemp(prefix="lh-api-"))
        self.port = port
        self.emu: Any = None

    # -- lifecycle ------------------------------------------------------------------------

    def __enter__(self) -> ApiServer:
        from tests.operator.emulator import start_api

        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="api", daemon=True)
        self._thread.start()
        try:
            self.emu, self._plain = self._run(start_api())
            self.port = self._run(self._serve())
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        async def stop() -> None:
            if getattr(self, "_runner", None) is not None:
                await self._runner.cleanup()
            if getattr(self, "_plain", None) is not None:
                await self._plain.__aexit__(None, None, None)
            if self.emu is not None:
                await self.emu.__aexit__(None, None, None)
            # what is left (connection handlers, the emulator's feeders) ends with the loop
            rest = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in rest:
                task.cancel()
            await asyncio.gather(*rest, return_exceptions=True)

        try:
            self._run(stop())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)
            self._loop.close()
            shutil.rmtree(self._dir, ignore_errors=True)

    def _run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(30)

    async def _serve(self) -> int:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert, key = self._dir / "apiserver.crt", self._dir / "apiserver.key"
        cert.write_bytes(self.tls.cert_pem)
        key.write_bytes(self.tls.key_pem)
        key.chmod(0o600)
        context.load_cert_chain(cert, key)
        # watches never end by themselves: close them at once on exit
        self._runner = aiohttp.web.ServerRunner(
            aiohttp.web.Server(self._handle), shutdown_timeout=1.0
        )
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        site = aiohttp.web.SockSite(self._runner, sock, ssl_context=context)
        await site.start()
        return int(sock.getsockname()[1])

    # -- requests -------------------------------------------------------------------------

    async def _handle(self, request: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse:
        # the scheme is case-insensitive (the Python client sends "bearer")
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        token = token.strip() if scheme.lower() == "bearer" else ""
        user = None
        if token and secrets.compare_digest(token, self.admin_token):
            user = ADMIN
        elif token:
            user = self._identity(token)
        attrs = attributes(request.method, request.path, request.query)
        if user is None:
            self.requests.append(Request("", attrs.verb, request.path_qs, 401))
            return _status(401, "Unauthorized", "Unauthorized")
        if user != ADMIN:
            allowed, why = authorize(user, attrs, list(self._rbac_objects()), self._namespace)
            if not allowed:
                self.requests.append(Request(user, attrs.verb, request.path_qs, 403))
                self.denied.append(why)
                return _status(403, "Forbidden", why)
        self.requests.append(Request(user, attrs.verb, request.path_qs, 200))
        return await self.emu(request)

    # -- the test's side ------------------------------------------------------------------

    def kubeconfig(self) -> Path:
        """A kubeconfig for the admin: this server, its CA and the admin token."""
        path = self._dir / "kubeconfig"
        ca = self._dir / "ca.crt"
        ca.write_bytes(self.tls.ca_pem)
        path.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [
                        {
                            "name": "pods",
                            "cluster": {
                                "server": f"https://{self.host}:{self.port}",
                                "certificate-authority": str(ca),
                            },
                        }
                    ],
                    "users": [{"name": "admin", "user": {"token": self.admin_token}}],
                    "contexts": [{"name": "pods", "context": {"cluster": "pods", "user": "admin"}}],
                    "current-context": "pods",
                }
            )
        )
        path.chmod(0o600)
        return path

    def client(self) -> k8s.Client:
        """The operator's own API client, as the admin (``kubectl``), over TLS."""
        config = kubernetes.client.Configuration()
        kubernetes.config.load_kube_config(
            config_file=str(self.kubeconfig()), client_configuration=config
        )
        return k8s.Client(kubernetes.client.ApiClient(configuration=config))

    def objects(self, plural: str, namespace: str) -> dict[str, dict[str, Any]]:
        """The live objects of one plural in a namespace, by name (read inside the emulator)."""

        async def snap() -> dict[str, dict[str, Any]]:
            async with self.emu._lock:
                return {
                    name: json.loads(json.dumps(obj.raw))
                    for (res, ns, name), obj in self.emu.objects.items()
                    if res.plural == plural and ns == namespace and not obj.deleted
                }

        return self._run(snap())

    def users(self) -> set[str]:
        """Every identity that was served at least once."""
        return {r.user for r in self.requests if r.status == 200}
