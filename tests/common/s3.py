"""An S3-compatible server that CHECKS signatures: LocalStack's S3, in host mode, on loopback.

Why LocalStack: a test that passes with a forged signature proves nothing. moto accepts any URL
carrying ``Signature=`` (tampered and expired ones get 200). LocalStack's S3 validates presigned
SigV4 signatures and their expiry once ``S3_SKIP_SIGNATURE_VALIDATION=0`` is set (tampered ->
403 SignatureDoesNotMatch, expired -> 403 AccessDenied). It needs Python >= 3.13, so it runs
from its own virtualenv, ``.venv-localstack``, which ``make test`` builds from
``tests/requirements-localstack.txt``. Data lives in memory only.

LocalStack serves UNSIGNED requests to anyone who reaches its port, like a bucket policy that
trusts a VPC endpoint: HAProxy must refuse them, and the tests check that it does.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.common.processes import free_port
from tests.common.processes import stop_pid
from tests.common.processes import wait_for

ROOT = Path(__file__).resolve().parents[2]
ACCESS_KEY = "test"
SECRET_KEY = "test"
REGION = "us-east-1"


def localstack_python() -> Path:
    """The LocalStack virtualenv's Python (``$LABELHIVE_LOCALSTACK_VENV`` or ``.venv-localstack``).

    :raise RuntimeError: it is missing or older than 3.13 — loudly, never a skip.
    """
    venv = Path(os.environ.get("LABELHIVE_LOCALSTACK_VENV") or ROOT / ".venv-localstack")
    python = venv / "bin" / "python"
    if not python.exists():
        raise RuntimeError(
            f"LocalStack's virtualenv {venv} is missing: run `make deps` (or `make test`), "
            "which builds it with Python >= 3.13 (e.g. /root/.pyenv/versions/3.13.0/bin/python)"
        )
    version = subprocess.run(
        [str(python), "-c", "import sys, localstack; print(sys.version_info >= (3, 13))"],
        capture_output=True,
        text=True,
        check=False,
    )
    if version.stdout.strip() != "True":
        raise RuntimeError(
            f"{python} is not a Python >= 3.13 with localstack-core installed: "
            f"rebuild it with `make clean deps` ({version.stderr.strip()[-300:]})"
        )
    return python


class LocalStackS3:
    """LocalStack with only S3, signature validation on, bound to 127.0.0.1 on a free port."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        #: the address to bind (the Pod tests use their network's gateway)
        self.host = host
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="labelhive-localstack-"))
        self.log = self.dir / "localstack.log"
        self.proc: subprocess.Popen | None = None

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def env(self) -> dict[str, str]:
        """What the app needs to use this server (boto3's standard credential variables)."""
        return {
            "S3_ENDPOINT_URL": self.endpoint_url,
            "S3_REGION": REGION,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        }

    def start(self) -> None:
        python = localstack_python()
        # no AWS_* or proxy settings of the caller leak into LocalStack
        base = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("AWS_", "LOCALSTACK_")) and k.lower() not in ("http_proxy",)
        }
        env = {
            **base,
            "SERVICES": "s3",
            "EAGER_SERVICE_LOADING": "1",
            # the point of using LocalStack: check SigV4 signatures and presigned expiry
            "S3_SKIP_SIGNATURE_VALIDATION": "0",
            # hypercorn binds exactly GATEWAY_LISTEN (the default server binds every address)
            "GATEWAY_SERVER": "hypercorn",
            "GATEWAY_LISTEN": f"{self.host}:{self.port}",
            "LOCALSTACK_HOST": f"{self.host}:{self.port}",
            "DNS_ADDRESS": "0",
            "DISABLE_EVENTS": "1",
            "SKIP_SSL_CERT_DOWNLOAD": "1",
            "FILESYSTEM_ROOT": str(self.dir / "fs"),
            "PERSISTENCE": "0",
        }
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [str(python), "-m", "localstack.runtime.main"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.dir,
            )
        wait_for(self._ready, 90, "LocalStack S3")

    def _ready(self) -> bool:
        import requests

        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"LocalStack exited: {self.log.read_text()[-3000:]}")
        try:
            health = requests.get(self.endpoint_url + "/_localstack/health", timeout=1)
        except requests.RequestException:
            return False
        return health.ok and health.json().get("services", {}).get("s3") in ("running", "available")

    def client(self) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=REGION,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
        )

    def stop(self) -> None:
        if self.proc is not None:
            stop_pid(self.proc, signal.SIGTERM, timeout=20)
        shutil.rmtree(self.dir, ignore_errors=True)


@contextlib.contextmanager
def localstack_s3() -> Iterator[LocalStackS3]:
    server = LocalStackS3()
    try:
        server.start()
        yield server
    finally:
        server.stop()


def put_objects(client: Any, bucket: str, objects: dict[str, bytes], threads: int = 8) -> None:
    """Upload many small objects in parallel (boto3 clients are thread-safe)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(threads) as pool:
        for future in [
            pool.submit(client.put_object, Bucket=bucket, Key=key, Body=body)
            for key, body in objects.items()
        ]:
            future.result()
