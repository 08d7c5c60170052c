"""Real services for the tests: free loopback ports, processes started and stopped by PID."""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from collections.abc import Iterator
from pathlib import Path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise TimeoutError(f"{what} did not become ready within {timeout} s")


def port_open(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
        return True
    return False


def stop_pid(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 15) -> None:
    """Stop a process we started, by its PID; kill it if it does not stop in time."""
    if proc.poll() is not None:
        return
    os.kill(proc.pid, sig)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)


def postgres_bin(name: str) -> str:
    found = shutil.which(name) or next(
        iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None
    )
    if not found:
        raise RuntimeError(f"{name} not found: run `make test`, which installs PostgreSQL")
    return found


def _demote() -> tuple[Callable[[], None] | None, int | None, int | None]:
    """PostgreSQL refuses to run as root: run it as the ``postgres`` system user then."""
    if os.geteuid() != 0:
        return None, None, None
    entry = pwd.getpwnam("postgres")

    def preexec() -> None:
        os.setgid(entry.pw_gid)
        os.setuid(entry.pw_uid)

    return preexec, entry.pw_uid, entry.pw_gid


class PostgresServer:
    """A throw-away PostgreSQL cluster on a free loopback port.

    :param host: the address to listen on (the Pod tests use their network's gateway, so that
        containers reach it the way a cluster reaches an external database).
    :param allow_cidr: clients admitted besides loopback (``trust``, like loopback).
    """

    def __init__(self, host: str = "127.0.0.1", allow_cidr: str | None = None) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="labelhive-pg-"))
        self.host = host
        self.allow_cidr = allow_cidr
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.preexec, uid, gid = _demote()
        if uid is not None:
            os.chown(self.dir, uid, gid)
        self.data = self.dir / "data"
        self.log = self.dir / "postgres.log"

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@{self.host}:{self.port}/postgres"

    def url(self, database: str) -> str:
        return f"postgresql://postgres@{self.host}:{self.port}/{database}"

    def start(self) -> None:
        subprocess.run(
            [
                postgres_bin("initdb"),
                "-D",
                str(self.data),
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            preexec_fn=self.preexec,
        )
        if self.allow_cidr:
            with open(self.data / "pg_hba.conf", "a") as hba:
                hba.write(f"host all all {self.allow_cidr} trust\n")
        self.run_server()

    def run_server(self) -> None:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [
                    postgres_bin("postgres"),
                    "-D",
                    str(self.data),
                    "-p",
                    str(self.port),
                    "-c",
                    f"listen_addresses={self.host}",
                    "-c",
                    f"unix_socket_directories={self.dir}",
                    "-c",
                    "max_connections=300",
                    "-c",
                    "fsync=off",
                    "-c",
                    "synchronous_commit=off",
                    "-c",
                    "full_page_writes=off",
                    "-c",
                    "shared_buffers=128MB",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=self.preexec,
            )
        wait_for(self._accepts, 30, "PostgreSQL")

    def _accepts(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"PostgreSQL exited: {self.log.read_text()[-2000:]}")
        import psycopg

        try:
            psycopg.connect(self.admin_url, connect_timeout=1).close()
            return True
        except psycopg.OperationalError:
            return False

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        if self.proc is not None:
            # SIGINT is PostgreSQL's "fast" shutdown
            stop_pid(self.proc, signal.SIGINT)
        shutil.rmtree(self.dir, ignore_errors=True)


@contextlib.contextmanager
def postgres() -> Iterator[PostgresServer]:
    server = PostgresServer()
    try:
        server.start()
        yield server
    finally:
        server.stop()


def labelhive_cli(*args: str, env: dict[str, str], check: bool = True, **kwargs):  # noqa: ANN201
    """Run the ``labelhive`` command line as a user would (a child process)."""
    import sys

    return subprocess.run(
        [sys.executable, "-m", "labelhive.cli", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=check,
        **kwargs,
    )


class LabelhiveServer:
    """``labelhive serve`` (gunicorn) on a free loopback port."""

    def __init__(
        self,
        env: dict[str, str],
        workers: int = 2,
        threads: int = 8,
        extra_args: tuple[str, ...] = (),
        cwd: Path | None = None,
    ) -> None:
        self.env = {**os.environ, **env}
        self.extra_args = extra_args
        self.cwd = cwd
        self.port = free_port()
        self.workers = workers
        self.threads = threads
        self.proc: subprocess.Popen | None = None
        self.log = Path(tempfile.mkstemp(prefix="labelhive-server-", suffix=".log")[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        import sys

        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "labelhive.cli",
                    "serve",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--workers",
                    str(self.workers),
                    "--threads",
                    str(self.threads),
                    *self.extra_args,
                ],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.cwd,
            )
        wait_for(self._healthy, 60, "labelhive serve")

    def _healthy(self) -> bool:
        import urllib.request

        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"labelhive serve exited: {self.log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(self.url + "/healthz", timeout=1) as response:
                return response.status == 200
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc is not None:
            stop_pid(self.proc, signal.SIGTERM, timeout=30)
        self.log.unlink(missing_ok=True)


@contextlib.contextmanager
def labelhive_server(env: dict[str, str], **kwargs) -> Iterator[LabelhiveServer]:  # noqa: ANN003
    server = LabelhiveServer(env, **kwargs)
    try:
        server.start()
        yield server
    finally:
        server.stop()
