"""The images run as the operator's Pods run them: non-root, read-only root, tmpfs scratch.

The engine is the private ``dockerd`` of :mod:`tests.common.docker`; the images come from
``scripts/build-images`` (``make images``), the HAProxy and Redis ones being the test-only Debian
stand-ins of tests/pods/images/.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from alembic.config import Config
from alembic.script import ScriptDirectory
from docker.models.containers import Container

from labelhive_operator.builders import common
from labelhive_operator.render import render_project
from tests.common.docker import DockerEngine
from tests.common.docker import Images
from tests.common.docker import ensure_images
from tests.common.processes import wait_for

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "operator" / "examples" / "minimal.yaml"
MIGRATIONS = ROOT / "app" / "labelhive" / "migrations"
# the first test may build every image (minutes on a cold cache)
pytestmark = pytest.mark.timeout(1800)


def run(engine: DockerEngine, image: str, args: list[str], **kwargs) -> tuple[int, str]:  # noqa: ANN003
    """Run a container to its end like a Pod's container: read-only root, no network, no caps.

    Return its exit code and output (stdout and stderr); the container is removed.
    """
    options = {
        "read_only": True,
        "network_mode": "none",
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"],
        "tmpfs": {"/tmp": "rw,nosuid,nodev,size=64m"},
        **kwargs,
    }
    container = engine.client.containers.run(image, args, detach=True, **options)
    try:
        status = container.wait(timeout=300)
        return status["StatusCode"], container.logs().decode()
    finally:
        container.remove(force=True)


def test_the_app_image_runs_labelhive_as_10001(
    docker_engine: DockerEngine, pod_images: Images
) -> None:
    config = docker_engine.client.images.get(pod_images.app).attrs["Config"]
    assert config["User"] == f"{common.APP_UID}:{common.APP_UID}"
    assert config["Entrypoint"] == ["labelhive"]
    code, out = run(docker_engine, pod_images.app, ["--help"])
    assert code == 0, out
    assert "Usage: labelhive" in out and "db" in out and "worker" in out


def test_the_app_image_migrates_an_sqlite_file_on_an_empty_dir(
    docker_engine: DockerEngine, pod_images: Images
) -> None:
    # a memory emptyDir as the operator mounts one (writable by the Pod's fsGroup 10001); then
    # `db current` in the same container reads the revision back from the file
    code, out = run(
        docker_engine,
        pod_images.app,
        ["-c", "labelhive db upgrade && labelhive db current && ls -n /var/lib/labelhive"],
        entrypoint=["sh"],
        environment={"DATABASE_URL": "sqlite:////var/lib/labelhive/labelhive.db"},
        tmpfs={
            "/tmp": "rw,size=64m",
            "/var/lib/labelhive": f"rw,size=64m,uid={common.APP_UID},gid={common.APP_UID}",
        },
    )
    assert code == 0, out
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head and head in out.splitlines()
    # the file belongs to the container's user
    (db_line,) = [ln for ln in out.splitlines() if ln.endswith(" labelhive.db")]
    assert db_line.split()[2:4] == [str(common.APP_UID)] * 2


def test_nothing_in_the_app_image_is_writable_by_its_user_outside_tmp(
    docker_engine: DockerEngine, pod_images: Images
) -> None:
    # a writable root here, so only ownership and modes decide what uid 10001 could write; /tmp
    # itself is listed (it is 1777): the proof that the search sees a writable directory
    find = (
        "find / -xdev \\( -path /proc -o -path /sys -o -path /dev -o -path '/tmp/*' \\) -prune"
        " -o -writable -print 2>/dev/null; echo end-of-search"
    )
    code, out = run(docker_engine, pod_images.app, ["-c", find], entrypoint=["sh"], read_only=False)
    assert code == 0 and out.split()[-1] == "end-of-search", out
    # the container runtime's own bind mounts are not part of the image
    found = set(out.split()[:-1]) - {"/etc/hostname", "/etc/hosts", "/etc/resolv.conf"}
    assert found == {"/tmp"}


def test_the_operator_image_renders_the_minimal_example(
    docker_engine: DockerEngine, pod_images: Images
) -> None:
    code, out = run(
        docker_engine,
        pod_images.operator,
        ["render", "-f", "/in/minimal.yaml"],
        volumes={str(EXAMPLE): {"bind": "/in/minimal.yaml", "mode": "ro"}},
    )
    assert code == 0, out
    rendered = [doc for doc in yaml.safe_load_all(out) if doc]
    kinds = {(o["kind"], o["metadata"]["name"]) for o in rendered}
    # what the same code renders here, outside the image
    host = subprocess.run(
        [sys.executable, "-m", "labelhive_operator.cli", "render", "-f", str(EXAMPLE)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert rendered == [doc for doc in yaml.safe_load_all(host.stdout) if doc]
    name = yaml.safe_load(EXAMPLE.read_text())["metadata"]["name"]
    assert ("Deployment", f"{name}-web") in kinds
    assert [n for k, n in kinds if k == "Job" and n.startswith(f"{name}-migrate-")]


def sidecar_env() -> dict[str, str]:
    """The HAProxy sidecar's environment as the operator renders it for the minimal example."""
    body = yaml.safe_load(EXAMPLE.read_text())
    body["metadata"]["uid"] = "00000000-0000-0000-0000-000000000000"
    name = body["metadata"]["name"]
    objs = {(o["kind"], o["metadata"]["name"]): o for o in render_project(body)}
    pod = objs[("Deployment", f"{name}-web")]["spec"]["template"]["spec"]
    (container,) = [c for c in pod["initContainers"] if c["name"] == "haproxy"]
    return {e["name"]: e["value"] for e in container["env"]}


@pytest.mark.parametrize(
    ("config", "valid"),
    [(ROOT / "haproxy" / "haproxy.cfg", True), (ROOT / "pyproject.toml", False)],
    ids=["haproxy.cfg", "not-a-config"],
)
def test_the_haproxy_stand_in_checks_the_sidecar_config_as_99(
    docker_engine: DockerEngine, pod_images: Images, config: Path, valid: bool
) -> None:
    code, out = run(
        docker_engine,
        pod_images.haproxy,
        # the sidecar's args, with -c: the image's entrypoint puts `haproxy` in front
        ["-c", "-f", "/usr/local/etc/haproxy/haproxy.cfg"],
        user=f"{common.HAPROXY_UID}:{common.HAPROXY_UID}",
        environment=sidecar_env(),
        volumes={str(config): {"bind": "/usr/local/etc/haproxy/haproxy.cfg", "mode": "ro"}},
    )
    assert (code == 0) is valid, out
    if valid:
        assert "Configuration file is valid" in out


@pytest.fixture
def redis_container(docker_engine: DockerEngine, pod_images: Images) -> Iterator[Container]:
    container = docker_engine.client.containers.run(
        pod_images.redis,
        ["redis-server", "--appendonly", "yes", "--dir", "/data"],
        detach=True,
        user=f"{common.REDIS_UID}:{common.REDIS_UID}",
        read_only=True,
        network_mode="none",
        cap_drop=["ALL"],
        security_opt=["no-new-privileges"],
        tmpfs={"/data": f"rw,size=64m,uid={common.REDIS_UID}", "/tmp": "rw,size=16m"},
    )
    yield container
    container.remove(force=True)


def test_the_redis_stand_in_serves_as_999_on_a_read_only_root(redis_container: Container) -> None:
    def cli(*args: str) -> str:
        # `sh` and `redis-cli`, as the operator's probes use them
        result = redis_container.exec_run(["sh", "-c", "redis-cli " + " ".join(args)])
        return result.output.decode().strip()

    wait_for(lambda: cli("ping") == "PONG", 30, "the Redis stand-in")
    assert cli("set", "k", "v") == "OK" and cli("get", "k") == "v"
    status = redis_container.exec_run(["cat", "/proc/1/status"]).output.decode()
    uid_line = next(ln for ln in status.splitlines() if ln.startswith("Uid:"))
    assert uid_line.split()[1:] == [str(common.REDIS_UID)] * 4
    # the append-only file lands on the tmpfs /data, the only writable place besides /tmp
    listing = redis_container.exec_run(["ls", "/data"]).output.decode().split()
    assert listing and all(name.startswith("appendonly") for name in listing)


def test_a_second_ensure_images_builds_nothing(
    docker_engine: DockerEngine, pod_images: Images
) -> None:
    again = ensure_images(docker_engine)
    assert again.built == (), again.report
    for tag in (again.app, again.operator, again.haproxy, again.redis):
        assert f"build-images: {tag} up to date" in again.report
    assert (again.app, again.operator) == (pod_images.app, pod_images.operator)
