"""A private Docker Engine for the tests, started and stopped by PID like the other services.

``dockerd`` runs as a child process with its own socket and exec-root (a short path under /tmp:
a unix socket path is limited to 107 bytes) and a data-root that outlives the run, so images
built once are reused: ``~/.cache/labelhive/dockerd-N`` (``LABELHIVE_CACHE`` moves it). A lock
file per data-root keeps two test runs off the same one; a second concurrent run takes the next
``N``. No bridge, no iptables, no masquerading: the engine never touches the host's network
configuration. Needs root and Debian's ``docker.io`` (``make test`` installs it).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from docker.client import DockerClient
from docker.errors import DockerException

from tests.common.processes import stop_pid
from tests.common.processes import wait_for

ROOT = Path(__file__).resolve().parents[2]
BUILD_IMAGES = ROOT / "scripts" / "build-images"
#: data-roots tried in turn when another test run holds the first
POOL = 4


def cache_dir() -> Path:
    base = os.environ.get("LABELHIVE_CACHE")
    if base:
        return Path(base)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "labelhive"


def _take_data_root() -> tuple[Path, IO[str]]:
    """Return a free data-root and its lock file, held (``flock``) until closed."""
    cache = cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    for n in range(POOL):
        lock = open(cache / f"dockerd-{n}.lock", "w")  # noqa: SIM115 - held for the session
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            continue
        return cache / f"dockerd-{n}", lock
    raise RuntimeError(f"all {POOL} Docker data-roots in {cache} are in use by other test runs")


class DockerEngine:
    """``dockerd`` on a private socket; :attr:`client` is a docker SDK client for it."""

    def __init__(self) -> None:
        self.dockerd = shutil.which("dockerd") or (
            "/usr/sbin/dockerd" if Path("/usr/sbin/dockerd").exists() else None
        )
        if self.dockerd is None:
            raise RuntimeError("dockerd not found: run `make test`, which installs docker.io")
        if os.geteuid() != 0:
            raise RuntimeError("a private Docker Engine needs root: run the tests as root (as CI)")
        self.data_root, self._lock = _take_data_root()
        self.exec_root = Path(tempfile.mkdtemp(prefix="lhd-", dir="/tmp"))
        self.socket = self.exec_root / "docker.sock"
        self.log = self.exec_root / "dockerd.log"
        self.proc: subprocess.Popen | None = None
        self.client: DockerClient | None = None

    @property
    def host(self) -> str:
        """The ``DOCKER_HOST`` value of this engine."""
        return f"unix://{self.socket}"

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [
                    self.dockerd,
                    "--data-root",
                    str(self.data_root),
                    "--exec-root",
                    str(self.exec_root),
                    "--host",
                    self.host,
                    "--pidfile",
                    str(self.exec_root / "docker.pid"),
                    "--iptables=false",
                    "--ip-masq=false",
                    "--bridge=none",
                    # where a system containerd runs (Docker CE hosts), dockerd uses it: keep
                    # this engine's containers out of the system daemon's namespace
                    "--containerd-namespace",
                    "labelhive-test",
                    "--containerd-plugins-namespace",
                    "labelhive-test-plugins",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                # its own session: a Ctrl-C of the test run reaches it only through stop()
                start_new_session=True,
            )
        wait_for(self._answers, 60, "dockerd")

    def _answers(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"dockerd exited: {self.log.read_text()[-3000:]}")
        if not self.socket.exists():
            return False
        try:
            # the client asks the engine's API version when it is made
            client = DockerClient(base_url=self.host, timeout=600)
        except DockerException:
            return False
        if not client.ping():
            client.close()
            return False
        self.client = client
        return True

    def _containerd_pid(self) -> int | None:
        """The containerd dockerd started for itself (it writes the pid under the exec-root)."""
        with contextlib.suppress(OSError, ValueError):
            return int((self.exec_root / "containerd" / "containerd.pid").read_text())
        return None

    def stop(self) -> None:
        """Remove every container, stop dockerd by PID, then its containerd if it lingers."""
        containerd = self._containerd_pid()
        if self.client is not None:
            with contextlib.suppress(DockerException):
                for container in self.client.containers.list(all=True):
                    container.remove(force=True)
            self.client.close()
        if self.proc is not None:
            stop_pid(self.proc, signal.SIGTERM, timeout=30)
        if containerd is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(containerd, signal.SIGTERM)
                wait_for(lambda: not _alive(containerd), 15, "containerd's exit")
        shutil.rmtree(self.exec_root, ignore_errors=True)
        self._lock.close()


def _alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@contextlib.contextmanager
def docker_engine() -> Iterator[DockerEngine]:
    engine = DockerEngine()
    try:
        engine.start()
        yield engine
    finally:
        engine.stop()


@dataclass(frozen=True)
class Images:
    """The tags :func:`ensure_images` built or found, and what the build script reported."""

    app: str
    operator: str
    haproxy: str
    redis: str
    #: the Debian base the stand-ins are built on (it has ``sleep``: the Pods' holder image)
    base: str
    #: the tags scripts/build-images built this time (empty: all were up to date)
    built: tuple[str, ...]
    report: str


def ensure_images(engine: DockerEngine) -> Images:
    """Build (or find up to date) the app, operator, HAProxy and Redis images in ``engine``.

    Through ``scripts/build-images`` with ``DOCKER_HOST`` pointed at the engine, as
    ``make images`` builds them: without a registry, from the Debian base.
    """
    env = {**os.environ, "DOCKER_HOST": engine.host}
    for name in ("BASE", "APP_IMAGE", "OPERATOR_IMAGE", "HAPROXY_TEST_IMAGE", "REDIS_TEST_IMAGE"):
        env.pop(name, None)
    result = subprocess.run(
        [str(BUILD_IMAGES), "app", "operator", "haproxy", "redis"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"scripts/build-images failed:\n{result.stdout}\n{result.stderr[-4000:]}"
        )
    built = []
    for line in result.stdout.splitlines():
        words = line.split()
        if len(words) == 3 and words[0] == "build-images:" and words[2] == "built":
            built.append(words[1])
    version = _version()
    tags = {
        "app": f"ghcr.io/labelhive/labelhive:{version}",
        "operator": f"ghcr.io/labelhive/labelhive-operator:{version}",
        "haproxy": "labelhive-test/haproxy:bookworm",
        "redis": "labelhive-test/redis:bookworm",
        "base": "labelhive/python-base:3.11-bookworm",
    }
    for tag in tags.values():
        engine.client.images.get(tag)  # raises ImageNotFound if the script lied
    return Images(**tags, built=tuple(built), report=result.stdout)


def _version() -> str:
    import tomllib

    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
